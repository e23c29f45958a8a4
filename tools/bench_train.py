"""Training throughput: images per second and the fraction of time spent waiting for data.

CPU (always): the ResNet-18 model, stage 2 (end to end, every loss), batch 16, 224 px, on
synthetic people rendered on the fly (``decomr.data.SyntheticPeople``) with ``--workers``
loader processes, on people made batch-wise in the training process
(``data.source=ondevice``), and on samples held in memory (the model alone).
CUDA (when available): stage 2 of the ResNet-50 model at batch 128 with bf16 autocast, on
samples held in memory and on the on-the-fly data.

Usage::

    python tools/bench_train.py --uv open_uv.npz            # the UV map of the open body
    python tools/bench_train.py --uv open_uv.npz --steps 10 --workers 2

Prints one line per measurement and a JSON summary (``--json FILE`` also writes it).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decomr.config import load_config  # noqa: E402
from decomr.cpu_memory import keep_freed_memory  # noqa: E402
from decomr.train import Trainer  # noqa: E402


class InMemory(Dataset):
    """``count`` samples of another dataset rendered once, served by index modulo ``count``."""

    def __init__(self, dataset: Dataset, count: int, length: int):
        getitems = getattr(dataset, "__getitems__", None)
        self.samples = getitems(list(range(count))) if getitems else [dataset[i] for i in range(count)]
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.samples[index % len(self.samples)]


def measure(uv: str, backbone: str, batch: int, size: int, steps: int, warmup: int, workers: int, device: str,
            amp: str, in_memory: bool, out: Path, source: str = "synthetic") -> dict:
    """Run ``warmup + steps`` stage-2 steps; return images/s and the data-wait fraction of the
    timed steps. ``source``: ``synthetic`` (loader workers) or ``ondevice`` (batches made in
    the training process; their making counts as waiting for data)."""
    total = warmup + steps
    config = load_config(None, [
        f"model.uv_map={uv}", f"model.backbone={backbone}", f"model.input_size={size}", f"data.source={source}",
        "optim.mean_location_samples=0",
        f"data.batch_size={batch}", f"data.workers={0 if in_memory or source == 'ondevice' else workers}",
        f"data.samples_per_epoch={batch * total}", "optim.stage1_epochs=0", "optim.stage2_epochs=1",
        "run.stage=2", f"run.device={device}", f"run.amp={amp}", "run.log_every=1", "run.image_every=0",
        "run.checkpoint_every=0", f"run.max_steps={total}", "run.tensorboard=false", f"run.out_dir={out}",
    ])
    dataset = None
    if in_memory:
        from decomr.train import build_dataset
        from decomr.uv import UVLookup
        from uvkit.template import load_template

        template = load_template(config.model.template)
        symmetric = UVLookup.load(uv, template=template).symmetric
        dataset = InMemory(build_dataset(config, template, 0, symmetric), min(batch, 32), batch * total)
    trainer = Trainer(config, dataset)
    trainer.save = lambda *args, **kwargs: None  # time the steps, not the checkpoint writes
    records = []
    trainer.run([lambda info: records.append(dict(info.terms))])
    trainer.close()
    timed = records[warmup:]
    seconds = [batch / r["speed/images_per_s"] for r in timed]
    waits = [s * r["speed/data_wait_fraction"] for s, r in zip(seconds, timed)]
    return {"images_per_s": batch * len(timed) / sum(seconds), "data_wait_fraction": sum(waits) / sum(seconds),
            "seconds_per_step": sum(seconds) / len(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv", required=True, help="UV map file of the open body (uvkit build-uv / import-uv)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="loader processes for the on-the-fly data")
    parser.add_argument("--gpu-batch", type=int, default=128)
    parser.add_argument("--sources", nargs="+", default=["synthetic", "ondevice"], choices=["synthetic", "ondevice"],
                        help="on-the-fly data to measure besides the in-memory samples")
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (default: keep freed memory, decomr.cpu_memory)")
    args = parser.parse_args(argv)
    if not args.default_malloc:
        keep_freed_memory()
    logging.basicConfig(level=logging.WARNING)
    summary: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as folder:
        rows = [("cpu_resnet18_synthetic", False, "synthetic"), ("cpu_resnet18_ondevice", False, "ondevice"),
                ("cpu_resnet18_in_memory", True, "synthetic")]
        for name, in_memory, source in [row for row in rows if row[2] in args.sources or row[1]]:
            result = measure(args.uv, "resnet18", args.batch, args.size, args.steps, args.warmup, args.workers,
                             "cpu", "off", in_memory, Path(folder) / name, source)
            summary[name] = result
            print(f"{name}: batch {args.batch} at {args.size} px: {result['images_per_s']:.2f} img/s, "
                  f"{result['seconds_per_step']:.2f} s/step, {100 * result['data_wait_fraction']:.0f}% waiting for data",
                  flush=True)
        if torch.cuda.is_available():
            summary["gpu"] = torch.cuda.get_device_name()
            rows = [("cuda_resnet50_bf16_in_memory", True, "synthetic"),
                    ("cuda_resnet50_bf16_synthetic", False, "synthetic"),
                    ("cuda_resnet50_bf16_ondevice", False, "ondevice")]
            for name, in_memory, source in [row for row in rows if row[2] in args.sources or row[1]]:
                result = measure(args.uv, "resnet50", args.gpu_batch, args.size, args.steps, args.warmup,
                                 args.workers, "cuda", "bf16", in_memory, Path(folder) / name, source)
                summary[name] = result
                print(f"{name}: batch {args.gpu_batch}: {result['images_per_s']:.1f} img/s, "
                      f"{100 * result['data_wait_fraction']:.0f}% waiting for data", flush=True)
        else:
            print("CUDA not available: GPU measurement skipped", flush=True)
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
