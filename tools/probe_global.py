"""What a trained global+local model takes from its global feature and from its local features.

Two measurements on a held-out decomr-synth folder:

1. Scale: LNet's input is the transferred local features (+ pixel x, y, occupancy), the global
   feature tiled over the UV grid, and the reference location map. For each block, the RMS of
   the input and the RMS of its contribution to the first convolution's output (that
   convolution applied to the block alone, the other channels zeroed, no bias).
2. Use: the held-out error when one block is replaced at test time by another person's (the
   batch rolled by one) or by the batch mean. A block the model relies on costs error when it
   is swapped; one it ignores costs nothing.
3. Gradients: the gradient of the vertex error (mean distance of the predicted to the true
   vertices, each mesh centred) with respect to each block of LNet's input, over the first
   ``--gradient-batches`` batches: its RMS per channel, and the first-order share of each block
   in what tells people apart (per person, ``|sum of gradient x (input - batch mean)|`` over the
   block, summed over people, over the same for all blocks: the linearised cost of the
   batch-mean replacement of 2).

    python tools/probe_global.py assets/models/decomr_open_resnet18.pt --data out/synth/test_allround128
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decomr.body import BodyModel  # noqa: E402
from decomr.checkpoint import load_model  # noqa: E402
from decomr.evaluate import _synth_dataset, evaluate_model  # noqa: E402

MODES = ("as trained", "global: another person's", "global: batch mean", "local: another person's",
         "local: batch mean")


def block_gradients(model: torch.nn.Module, loader, conv: torch.nn.Conv2d, blocks: dict, local: int,
                    batches: int) -> dict:
    """Per block of LNet's input: the RMS of d(vertex error)/d(input) per channel over the texels
    that received features, and the block's share of the per-person
    ``|sum(gradient * (input - batch mean))|``."""
    from decomr.evaluate import normalize_images

    if batches <= 0:
        return {}
    captured = {}

    def hook(_module, inputs):
        (x,) = inputs
        leaf = x.detach().requires_grad_(True)
        captured["x"] = leaf
        return (leaf,)

    grad_sq = {name: 0.0 for name in blocks}
    attribution = {name: 0.0 for name in blocks}
    count = 0.0
    handle = conv.register_forward_pre_hook(hook)
    try:
        for index, batch in enumerate(loader):
            if index >= batches:
                break
            output = model(normalize_images(batch["image"].float()))
            truth = batch["vertices"].float()
            predicted = output.vertices - output.vertices.mean(dim=1, keepdim=True)
            error = (predicted - (truth - truth.mean(dim=1, keepdim=True))).norm(dim=-1).mean()
            (gradient,) = torch.autograd.grad(error, captured["x"])
            x = captured["x"].detach()
            weight = (x[:, local - 1:local] > 0).float()
            count += float(weight.sum())
            for name, sl in blocks.items():
                grad_sq[name] += float((gradient[:, sl] ** 2 * weight).sum() / gradient[:, sl].shape[1])
                centred = x[:, sl] - x[:, sl].mean(dim=0, keepdim=True)
                attribution[name] += float((gradient[:, sl] * centred).flatten(1).sum(dim=1).abs().sum())
    finally:
        handle.remove()
    total = max(sum(attribution.values()), 1e-300)
    return {name: {"gradient_rms": (grad_sq[name] / max(count, 1.0)) ** 0.5, "share": attribution[name] / total}
            for name in blocks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a global+local checkpoint")
    parser.add_argument("--data", required=True, help="a decomr-synth folder of held-out people")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N people")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--gradient-batches", type=int, default=4, help="batches for the gradients (0: none)")
    args = parser.parse_args(argv)

    model, _config = load_model(args.checkpoint)
    model.eval()
    if getattr(model, "variant", None) != "global+local":
        raise SystemExit(f"{args.checkpoint}: variant {getattr(model, 'variant', None)!r}, this probe needs global+local")
    local = model.transferred_channels
    blocks = model.lnet_input_blocks()
    conv = model.lnet.stem[0]
    body = BodyModel("open")
    dataset = _synth_dataset(args.data, body, None)
    if args.limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(min(args.limit, len(dataset))))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size)

    state = {"mode": "as trained", "input_sq": {}, "contrib_sq": {}, "count": 0}

    def replace(block: torch.Tensor, how: str) -> torch.Tensor:
        if how == "another person's":
            return block.roll(1, dims=0)
        return block.mean(dim=0, keepdim=True).expand_as(block)

    def pre_hook(_module, inputs):
        (x,) = inputs
        mode = state["mode"]
        if mode == "as trained":
            occupied = x[:, local - 1:local] > 0  # the occupancy channel: texels that received features
            weight = occupied.float()
            for name, sl in blocks.items():
                part = torch.zeros_like(x)
                part[:, sl] = x[:, sl]
                out = torch.nn.functional.conv2d(part, conv.weight, None, conv.stride, conv.padding, conv.dilation,
                                                 conv.groups)
                state["input_sq"][name] = state["input_sq"].get(name, 0.0) + float((x[:, sl] ** 2 * weight).sum() / x[:, sl].shape[1])
                state["contrib_sq"][name] = state["contrib_sq"].get(name, 0.0) + float((out ** 2 * weight).sum() / out.shape[1])
            state["count"] += float(weight.sum())
            return None
        which, how = mode.split(": ")
        x = x.clone()
        sl = blocks["global feature"] if which == "global" else slice(0, local)
        x[:, sl] = replace(x[:, sl], how)
        return (x,)

    handle = conv.register_forward_pre_hook(pre_hook)
    results = {}
    try:
        for mode in MODES:   # evaluate_model runs without autograd
            state["mode"] = mode
            summary = evaluate_model(model, loader, body, uv_lookup=model.uv_lookup).summary
            results[mode] = {key: summary[key]["mean"] for key in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")}
            print(f"{mode:28s} PVE {results[mode]['pve_mm']:6.1f}  MPJPE {results[mode]['mpjpe_mm']:6.1f}  "
                  f"PA-MPJPE {results[mode]['pa_mpjpe_mm']:6.1f} mm", flush=True)
    finally:
        handle.remove()
    gradients = block_gradients(model, loader, conv, blocks, local, args.gradient_batches)
    count = max(state["count"], 1.0)
    scale = {name: {"input_rms": (state["input_sq"][name] / count) ** 0.5,
                    "first_conv_contribution_rms": (state["contrib_sq"][name] / count) ** 0.5} for name in blocks}
    print("\nLNet input blocks, over the texels that received features:")
    print(f"{'block':24s} {'channels':>8s} {'input RMS':>10s} {'contribution to conv 1 (RMS)':>30s}")
    for name, sl in blocks.items():
        channels = len(range(*sl.indices(conv.in_channels)))
        print(f"{name:24s} {channels:8d} {scale[name]['input_rms']:10.3f} {scale[name]['first_conv_contribution_rms']:30.3f}")
    if gradients:
        print(f"\ngradient of the vertex error with respect to each block ({args.gradient_batches} batches):")
        print(f"{'block':24s} {'gradient RMS':>14s} {'share of |gradient x (input - mean)|':>37s}")
        for name in blocks:
            print(f"{name:24s} {gradients[name]['gradient_rms']:14.3e} {gradients[name]['share']:37.3f}")
    if args.json:
        from uvkit.atomic import write_text

        write_text(args.json, json.dumps({"checkpoint": args.checkpoint, "data": args.data, "errors": results,
                                          "scale": scale, "gradients": gradients}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
