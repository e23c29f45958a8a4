"""ONNX Runtime (CPU) latency against eager PyTorch for DecoMR, batch 1.

Builds untrained models on the open body's UV map (latency does not depend on the weights),
exports each with decomr.export, checks the outputs agree, and prints per backbone the median
latency of both and their ratio. Both run on the same number of threads (ONNX Runtime with its
default session settings otherwise), in blocks taken in turns (``--repeats`` eager runs, as
many ONNX Runtime runs, ..., ``--rounds`` times), so that a busy machine slows both alike.

    python tools/bench_onnx.py                       # resnet18 and resnet50, 224 px
    python tools/bench_onnx.py --backbones resnet18 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def blockwise_median_ms(runs, repeats: int, warmup: int, rounds: int = 3) -> list[float]:
    """Median milliseconds of each callable over ``rounds`` rounds; in each round every callable
    runs ``repeats`` times in a block (after ``warmup`` untimed runs), the blocks in turns, so
    that a change of machine load affects all alike. Blocks rather than alternating single runs:
    ONNX Runtime's worker threads spin for a while after each run (its default), which would
    slow a PyTorch run started right after it."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, record in zip(runs, times):
            for _ in range(warmup):
                run()
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                record.append(time.perf_counter() - start)
            time.sleep(0.2)  # let spinning workers go idle before the next block
    return [1000.0 * statistics.median(record) for record in times]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--size", type=int, default=224, help="input side in pixels (default 224)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before each block (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="blocks of --repeats runs per runtime (default 3)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads for both runtimes (default: torch's)")
    parser.add_argument("--uv-map", default=None, help="UV map file (default: the open body's)")
    args = parser.parse_args(argv)
    try:
        import onnxruntime as ort
    except ImportError:
        print("bench_onnx: onnxruntime is not installed: pip install uvkit-decomr[onnx]", file=sys.stderr)
        return 2
    from decomr.evaluate import normalize_images
    from decomr.export import export_onnx
    from decomr.models import DecoMR
    from decomr.uv import UVLookup
    from uvkit.template import assets_dir, load_template

    torch.set_num_threads(args.threads)
    template = load_template("open")
    uv_path = args.uv_map or str(assets_dir() / "open_body_uv.npz")
    lookup = UVLookup.load(uv_path, template=template, resolution=128)
    image = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} threads, batch 1, "
          f"{args.size} px, median of {args.rounds} blocks x {args.repeats} runs")
    print(f"{'backbone':10s} {'eager ms':>9s} {'onnx ms':>9s} {'speed-up':>9s} {'max |dv| m':>11s}")
    with tempfile.TemporaryDirectory() as folder:
        for backbone in args.backbones:
            torch.manual_seed(0)
            model = DecoMR(lookup, backbone=backbone).eval()
            normalised = normalize_images(image)

            def eager() -> None:
                with torch.inference_mode():
                    model(normalised)

            path = Path(folder) / f"{backbone}.onnx"
            result = export_onnx(model, path, args.size, verify=True)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {"image": image.numpy().astype(np.float32)}
            eager_ms, onnx_ms = blockwise_median_ms([eager, lambda: session.run(None, feed)], args.repeats,
                                                    args.warmup, args.rounds)
            print(f"{backbone:10s} {eager_ms:9.1f} {onnx_ms:9.1f} {eager_ms / onnx_ms:8.2f}x "
                  f"{result.max_abs_diff['vertices']:11.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
