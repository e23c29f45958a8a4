"""Speed of the DecoMR networks on this machine: forward latency, forward+backward throughput,
and the share of the forward time spent transferring features to UV space.

    python tools/bench_models.py [--backbone resnet18] [--batch 16] [--size 224] [--repeats 3]

Uses the open body's committed continuous UV map. Prints min / median over the repeats.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from decomr.models import DecoMR
from decomr.uv import UVLookup
from uvkit import load_template
from uvkit.template import assets_dir


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--variant", default="global+local")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    template = load_template("open")
    lookup = UVLookup.load(assets_dir() / "open_body_uv.npz", template)
    model = DecoMR(lookup, variant=args.variant, backbone=args.backbone)
    image = torch.rand(args.batch, 3, args.size, args.size)
    print(f"{args.backbone} {args.variant}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
          f"{torch.get_num_threads()} threads, batch {args.batch}, {args.size} px")

    model.eval()
    with torch.no_grad():
        single = timed(lambda: model(image[:1]), args.repeats)
        forward = timed(lambda: model(image), args.repeats)
        cnet_out = model.cnet(image)
        transfer = timed(lambda: lookup.transfer_to_uv(cnet_out.local_features, cnet_out.iuv, model.transfer_resolution), args.repeats)
    print(f"forward, batch 1: {1000 * min(single):.0f} ms (median {1000 * statistics.median(single):.0f})")
    print(f"forward, batch {args.batch}: {args.batch / min(forward):.1f} img/s (median {args.batch / statistics.median(forward):.1f})")
    print(f"transfer to UV: {1000 * min(transfer):.1f} ms = {min(transfer) / min(forward):.1%} of the forward time")

    model.train()

    def step():
        out = model(image)
        (out.location_map.square().mean() + out.iuv.mean()).backward()

    train = timed(step, args.repeats)
    print(f"forward+backward, batch {args.batch}: {args.batch / min(train):.1f} img/s (median {args.batch / statistics.median(train):.1f})")


if __name__ == "__main__":
    main()
