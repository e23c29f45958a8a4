"""Benchmark synthetic people end to end: pose, texture, background, render, crop, augment.

Two paths, measured in the same run, round by round in turn (the machine's load then affects
both alike), and their ratio:

- ``per-sample``: ``SyntheticPeople`` with augmentation through a DataLoader with ``--workers``
  worker processes (one torch thread each), the project's original path;
- ``on-device``: ``OnDeviceSynthetic`` making whole batches in this process with
  ``--threads`` torch threads on ``--device`` (no workers); on the CPU each batch is made as
  ``--sub-batches`` sub-batches in as many threads, the torch threads shared among them.

    python tools/bench_synth.py [--uv UV.npz] [--size 224] [--workers 2] [--threads 2] [--batch 32]
                                [--samples 256] [--rounds 3] [--device cpu] [--only on-device]
                                [--sub-batches 2]
    python tools/bench_synth.py --uv UV.npz --clock cpu     # CPU seconds per sample of each path

``--clock cpu`` runs both paths in this process on one thread (the per-sample path as one loader
worker runs it: ``SyntheticPeople.__getitems__``; the sub-batches one after the other) and
times the thread's CPU time: the work per
sample of each implementation, whatever else the machine is doing.

Without ``--uv`` the template's native atlas is rendered. Flips are on only for a left-right
symmetric UV map (``uvkit import-uv native`` writes one that is not: flips are then off).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from decomr.cpu_memory import keep_freed_memory
from decomr.data import AugmentConfig, SyntheticConfig, SyntheticPeople
from decomr.data.ondevice import OnDeviceConfig, OnDeviceSynthetic
from uvkit.uvmap import load_uvmap

PATHS = ("per-sample", "on-device")


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def per_sample_rate(dataset: SyntheticPeople, batch: int, workers: int, samples: int) -> float:
    """samples/s of the DataLoader path (workers started and warmed up outside the timing)."""
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, worker_init_fn=_one_thread,
                        shuffle=True, generator=torch.Generator().manual_seed(int(time.time())))
    iterator = iter(loader)
    for _ in range(max(1, workers)):  # warm up: workers start, first batches
        next(iterator)
    count, start = 0, time.perf_counter()
    while count < samples:
        count += len(next(iterator)["image"])
    elapsed = time.perf_counter() - start
    del iterator  # the workers stop: nothing runs in the background of the next measurement
    return count / elapsed


def on_device_rate(engine: OnDeviceSynthetic, batch: int, samples: int, first: int,
                   clock=time.perf_counter) -> float:
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    concurrent = clock is time.perf_counter  # a CPU clock times this thread only: no sub-batch threads
    engine.batch(list(range(first, first + batch)), concurrent=concurrent)  # warm up
    sync()
    count, start = 0, clock()
    while count < samples:
        out = engine.batch(list(range(first + count, first + count + batch)), concurrent=concurrent)
        count += len(out["image"])
    sync()
    return count / (clock() - start)


def per_sample_cpu_rate(dataset: SyntheticPeople, batch: int, samples: int, first: int) -> float:
    """samples per CPU second of the per-sample path's work, in this thread."""
    dataset.__getitems__(list(range(first, first + batch)))  # warm up
    count, start = 0, time.thread_time()
    while count < samples:
        count += len(dataset.__getitems__(list(range(first + count, first + count + batch))))
    return count / (time.thread_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=None)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2, help="loader workers of the per-sample path")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the on-device path")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=256, help="samples timed per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="device of the on-device path")
    parser.add_argument("--sub-batches", type=int, default=OnDeviceConfig.sub_batches,
                        help="on-device: sub-batches per batch, made in as many threads on the CPU")
    parser.add_argument("--only", choices=PATHS, default=None, help="measure one path only")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: both paths in this thread, timed by its CPU time (samples per CPU second)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (default: keep freed memory, decomr.cpu_memory)")
    args = parser.parse_args()
    if not args.default_malloc:
        keep_freed_memory()  # inherited by the loader workers
    uvmap = load_uvmap(args.uv) if args.uv else None
    symmetric = uvmap is not None and bool(np.all(uvmap.vt_mirror >= 0))
    augment = AugmentConfig() if symmetric else AugmentConfig(flip_probability=0.0)
    config = SyntheticConfig(size=args.size, length=100 * args.samples + 8 * args.batch)
    paths = [args.only] if args.only else list(PATHS)
    dataset = SyntheticPeople(config, uvmap=uvmap, augment=augment) if "per-sample" in paths else None
    engine = None
    if "on-device" in paths:
        start = time.perf_counter()
        engine = OnDeviceSynthetic(config, uvmap=uvmap, template="open" if dataset is None else dataset.engine.template,
                                   augment=augment, device=args.device,
                                   options=OnDeviceConfig(sub_batches=args.sub_batches))
        print(f"on-device generator ready in {time.perf_counter() - start:.1f} s "
              f"({engine.options.texture_bank} textures, {engine.options.background_bank} backgrounds)")
    flips = "on" if symmetric else "off"
    if args.clock == "cpu":
        torch.set_num_threads(1)
        print(f"synthetic people, {args.size} px, batch {args.batch}, flips {flips}; both paths in one thread, "
              f"CPU clock (samples per CPU second)")
    else:
        print(f"synthetic people, {args.size} px, batch {args.batch}, flips {flips}; per-sample: {args.workers} "
              f"workers x 1 thread; on-device: {args.threads} threads on {args.device}, {args.sub_batches} sub-batches")
    rates: dict[str, list[float]] = {path: [] for path in paths}
    for round_id in range(args.rounds):
        for path in paths:
            first = round_id * (args.samples + args.batch)
            if args.clock == "cpu":
                rate = (per_sample_cpu_rate(dataset, args.batch, args.samples, first) if path == "per-sample"
                        else on_device_rate(engine, args.batch, args.samples, first, time.thread_time))
            elif path == "per-sample":
                rate = per_sample_rate(dataset, args.batch, args.workers, args.samples)
            else:
                torch.set_num_threads(args.threads)
                rate = on_device_rate(engine, args.batch, args.samples, first=round_id * (args.samples + args.batch))
            rates[path].append(rate)
            print(f"round {round_id + 1}: {path:10s} {rate:7.1f} samples/s ({1000.0 / rate:.1f} ms/sample)")
    for path, values in rates.items():
        print(f"{path:10s}: median {np.median(values):.1f}, best {np.max(values):.1f}, worst {np.min(values):.1f} "
              f"samples/s over {len(values)} rounds")
    if len(paths) == 2:
        ratios = [b / a for a, b in zip(rates["per-sample"], rates["on-device"])]
        print(f"on-device / per-sample: median {np.median(ratios):.2f}x (rounds: "
              + ", ".join(f"{r:.2f}" for r in ratios) + ")")


if __name__ == "__main__":
    main()
