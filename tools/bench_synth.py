"""Benchmark synthetic people end to end: pose, texture, background, render, crop, augment.

Prints samples/s of ``SyntheticPeople`` with augmentation, through a DataLoader with
``--workers`` worker processes (one torch thread each) and batches of ``--batch``.

    python tools/bench_synth.py [--uv UV.npz] [--size 224] [--workers 2] [--batch 16] [--samples 256]

Without ``--uv`` the template's native atlas is rendered. Flips are on only for a left-right
symmetric UV map (``uvkit import-uv native`` writes one that is not: flips are then off).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from decomr.data import AugmentConfig, SyntheticConfig, SyntheticPeople
from uvkit.uvmap import load_uvmap


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=None)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    uvmap = load_uvmap(args.uv) if args.uv else None
    symmetric = uvmap is not None and bool(np.all(uvmap.vt_mirror >= 0))
    augment = AugmentConfig() if symmetric else AugmentConfig(flip_probability=0.0)
    dataset = SyntheticPeople(SyntheticConfig(size=args.size, length=args.samples + 4 * args.batch),
                              uvmap=args.uv, augment=augment)
    loader = DataLoader(dataset, batch_size=args.batch, num_workers=args.workers, worker_init_fn=_one_thread,
                        persistent_workers=args.workers > 0)
    iterator = iter(loader)
    for _ in range(min(2, max(args.workers, 1))):  # warm up: workers start, first batches
        next(iterator)
    count, start = 0, time.perf_counter()
    while count < args.samples:
        count += len(next(iterator)["image"])
    elapsed = time.perf_counter() - start
    flips = "on" if symmetric else "off"
    print(f"synthetic people, {args.size} px, batch {args.batch}, {args.workers} workers, flips {flips}: "
          f"{count / elapsed:.1f} samples/s ({1000 * elapsed / count:.1f} ms/sample, {count} samples)")


if __name__ == "__main__":
    main()
