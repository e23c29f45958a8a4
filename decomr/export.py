"""ONNX export of a trained model: image -> IUV, camera, location map, vertices.

``decomr-export --checkpoint CKPT --onnx OUT.onnx`` writes a graph with

==================  ======================  ===================================================
name                shape                   meaning
==================  ======================  ===================================================
``image`` (input)   (B, 3, S, S) float32    RGB in [0, 1] (the ImageNet normalisation is inside
                                            the graph); S = the model's input size, B dynamic
``iuv``             (B, 3, S/4, S/4)        mask probability, U, V
``camera``          (B, 3)                  weak-perspective (s, tx, ty) of the crop
``location_map``    (B, 3, R, R)            metres, camera axes
``vertices``        (B, V, 3)               the mesh, the template's vertex order
==================  ======================  ===================================================

Two operations of the eager model do not go through ``torch.onnx.export`` (TorchScript
exporter, opset 17) as written: the seam averaging of :meth:`decomr.uv.UVLookup.vertices` uses
``index_add`` with repeated indices, which the exporter refuses, and the feature transfer
writes into slices of a buffer in place. :class:`ExportableDecoMR` computes the same values
with export-friendly operations, used only for export and tested against the eager model:

- transfer: one out-of-place ``scatter_add`` of [features, x, y, 1] into a (B, C + 3, R^2 + 1)
  buffer (ONNX ``ScatterElements`` with ``reduction="add"``), then means and occupancy;
- seam averaging: a fixed (V, K) table of each vertex's UV copies (K = the most copies of any
  vertex, padded with weight 0) gathered and summed: no scatter at all.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ExportError", "ExportableDecoMR", "ExportResult", "transfer_to_uv_exportable", "export_onnx",
           "onnx_parity", "build_parser", "main", "DEFAULT_OPSET", "OUTPUT_NAMES"]

#: the lowest opset with ScatterElements(reduction="add") and GridSample is 16; 17 is used.
DEFAULT_OPSET = 17
OUTPUT_NAMES: tuple[str, ...] = ("iuv", "camera", "location_map", "vertices")
_EXTRA_HINT = "install the extra: pip install uvkit-decomr[onnx] (onnx, onnxruntime)"


class ExportError(ValueError):
    """An export that cannot run (missing package, bad option, unwritable output)."""


def transfer_to_uv_exportable(features: torch.Tensor, iuv: torch.Tensor, resolution: int) -> torch.Tensor:
    """Export-friendly equivalent of :meth:`decomr.uv.UVLookup.transfer_to_uv`.

    Same rule (pixels with mask > 0.5 land on texel ``round(uv * (R - 1))``, features and the
    pixel's (x, y) averaged, an occupancy channel last) with out-of-place ops only. The IUV
    image must have the features' size.

    Parameters
    ----------
    features : (B, C, H, W) float tensor
    iuv : (B, 3, H, W) float tensor
    resolution : int
        R.

    Returns
    -------
    uv_features : (B, C + 3, R, R) tensor, dtype of ``features``
    """
    batch, channels, height, width = features.shape
    n_pixels = height * width
    n_texels = resolution * resolution
    uv = iuv[:, 1:3].to(torch.float64).clamp(0.0, 1.0)
    texel = torch.round(uv * (resolution - 1)).to(torch.int64)
    index = (texel[:, 1] * resolution + texel[:, 0]).reshape(batch, 1, n_pixels)
    keep = (iuv[:, :1] > 0.5).reshape(batch, 1, n_pixels)
    index = torch.where(keep, index, torch.full_like(index, n_texels))
    x = (2.0 * torch.arange(width, dtype=features.dtype, device=features.device) + 1.0) / width - 1.0
    y = (2.0 * torch.arange(height, dtype=features.dtype, device=features.device) + 1.0) / height - 1.0
    xy = torch.stack([x[None, :].expand(height, width), y[:, None].expand(height, width)]).reshape(1, 2, n_pixels)
    ones = torch.ones_like(features[:, :1]).reshape(batch, 1, n_pixels)
    source = torch.cat([features.reshape(batch, channels, n_pixels), xy.expand(batch, -1, -1), ones], dim=1)
    sums = source.new_zeros((batch, channels + 3, n_texels + 1))
    sums = sums.scatter_add(2, index.expand(-1, channels + 3, -1), source)
    counts = sums[:, channels + 2:channels + 3]
    means = sums[:, :channels + 2] / counts.clamp(min=1.0)
    occupancy = (counts > 0).to(features.dtype)
    out = torch.cat([means, occupancy], dim=1)[:, :, :n_texels]
    return out.reshape(batch, channels + 3, resolution, resolution)


class ExportableDecoMR(nn.Module):
    """A trained :class:`decomr.models.DecoMR` with export-friendly transfer and read-out.

    Parameters
    ----------
    model : decomr.models.DecoMR
        in evaluation mode (its weights are shared, not copied).

    ``forward(image)`` takes (B, 3, S, S) RGB in [0, 1] and returns the tuple
    ``(iuv, camera, location_map, vertices)`` (see the module docstring).

    Buffers
    -------
    mean, std : (1, 3, 1, 1) float
        ImageNet normalisation.
    copy_index : (V * K,) int64
        the UV copies of each vertex, K per vertex (padded with the first copy).
    copy_weight : (V, K, 1) float
        1 / (number of copies) on real copies, 0 on padding.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        from decomr.evaluate import IMAGENET_MEAN, IMAGENET_STD

        self.model = model
        lookup = model.uv_lookup
        vt2v = lookup.vt2v.detach().cpu().numpy()
        n_vertices = int(lookup.n_vertices)
        counts = np.bincount(vt2v, minlength=n_vertices)
        if (counts == 0).any():
            raise ExportError(f"{int((counts == 0).sum())} template vertices have no UV vertex: the map cannot "
                              f"give them positions")
        width = int(counts.max())
        order = np.argsort(vt2v, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(width)[None, :]
        position = np.minimum(starts[:, None] + slot, starts[:, None] + counts[:, None] - 1)
        table = order[position]  # (V, K) UV vertex ids, padded with repeats of the last copy
        weight = np.where(slot < counts[:, None], 1.0 / counts[:, None], 0.0)
        dtype = lookup.vt.dtype
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=dtype).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=dtype).reshape(1, 3, 1, 1))
        self.register_buffer("copy_index", torch.as_tensor(table.reshape(-1), dtype=torch.int64))
        self.register_buffer("copy_weight", torch.as_tensor(weight[..., None], dtype=dtype))
        self.n_vertices = n_vertices
        self.copies = width

    def vertices(self, location_map: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) -> (B, V, 3): bilinear read-out at the UV vertices (as
        :meth:`decomr.uv.UVLookup.sample_uv_vertices`), seam copies averaged."""
        batch = location_map.shape[0]
        samples = self.model.uv_lookup.sample_uv_vertices(location_map)  # (B, T, 3)
        copies = samples[:, self.copy_index].reshape(batch, self.n_vertices, self.copies, 3)
        return (copies * self.copy_weight.to(samples.dtype)).sum(dim=2)

    def forward(self, image: torch.Tensor):
        model = self.model
        normalised = (image - self.mean) / self.std
        cnet = model.cnet(normalised)
        batch = image.shape[0]
        size = model.transfer_resolution
        inputs = []
        if model.variant in ("local", "global+local"):
            inputs.append(transfer_to_uv_exportable(cnet.local_features, cnet.iuv.detach(), size))
        elif model.variant == "raw-pixels":
            pixels = F.adaptive_avg_pool2d(normalised, cnet.local_features.shape[-2:])
            inputs.append(transfer_to_uv_exportable(pixels, cnet.iuv.detach(), size))
        if model.uses_global:
            inputs.append(cnet.global_feature[:, :, None, None].expand(-1, -1, size, size))
        inputs.append(model.reference_map.to(cnet.local_features.dtype).expand(batch, -1, -1, -1))
        location_map = model.lnet(torch.cat(inputs, dim=1)) + model.location_offset
        return cnet.iuv, cnet.camera, location_map, self.vertices(location_map)


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and measured.

    Attributes
    ----------
    path : Path
    opset : int
    input_size : int
    seconds : float
        export time.
    max_abs_diff : dict of str to float
        ONNX Runtime against eager PyTorch per output, on one random image (empty when not
        verified).
    """

    path: Path
    opset: int
    input_size: int
    seconds: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)


def _require(module: str):
    """Import ``module`` or raise :class:`ExportError` naming the extra to install."""
    try:
        return __import__(module)
    except ImportError:
        raise ExportError(f"{module} is not installed: {_EXTRA_HINT}") from None


def export_onnx(model: nn.Module, path: str | os.PathLike, input_size: int, opset: int = DEFAULT_OPSET,
                verify: bool = True) -> ExportResult:
    """Export a DecoMR model to ONNX (atomic write), optionally checking it with ONNX Runtime.

    Parameters
    ----------
    model : decomr.models.DecoMR
        moved to the CPU and put in evaluation mode.
    path : str or PathLike
        the ``.onnx`` destination (its folder must exist and be writable).
    input_size : int
        S, the square input side (a multiple of 32).
    opset : int
        >= 16 (ScatterElements with reduction, GridSample).
    verify : bool
        run the file with ONNX Runtime on one random image and record the largest absolute
        differences against eager PyTorch.

    Returns
    -------
    ExportResult
    """
    from uvkit.atomic import atomic_path

    if opset < 16:
        raise ExportError(f"opset must be >= 16 (ScatterElements reduction, GridSample), got {opset}")
    if input_size < 32 or input_size % 32:
        raise ExportError(f"input_size must be a positive multiple of 32, got {input_size}")
    _require("onnx")  # torch.onnx.export writes the file through the onnx package
    path = Path(path)
    model = model.cpu().eval()
    wrapper = ExportableDecoMR(model).eval()
    example = torch.rand(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    import warnings

    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (example,), str(tmp), opset_version=opset, dynamo=False,
                          input_names=["image"], output_names=list(OUTPUT_NAMES),
                          dynamic_axes={name: {0: "batch"} for name in ("image",) + OUTPUT_NAMES})
    seconds = time.perf_counter() - start
    result = ExportResult(path=path, opset=opset, input_size=input_size, seconds=seconds)
    if verify:
        result.max_abs_diff = onnx_parity(model, path, example)
    return result


def onnx_parity(model: nn.Module, path: str | os.PathLike, image: torch.Tensor) -> dict[str, float]:
    """Largest absolute difference per output between ONNX Runtime (CPU) and the eager model.

    image : (B, 3, S, S) float tensor in [0, 1]. Returns output name -> float.
    """
    from decomr.evaluate import normalize_images

    ort = _require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_outputs = session.run(list(OUTPUT_NAMES), {"image": image.numpy().astype(np.float32)})
    with torch.no_grad():
        eager = model.cpu().eval()(normalize_images(image))
    reference = {"iuv": eager.iuv, "camera": eager.camera, "location_map": eager.location_map,
                 "vertices": eager.vertices}
    return {name: float(np.abs(value - reference[name].numpy()).max()) for name, value in zip(OUTPUT_NAMES, onnx_outputs)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decomr-export", description=(
        "Export a DecoMR checkpoint to ONNX: image (B, 3, S, S) RGB in [0, 1] -> iuv, camera, location_map, "
        "vertices (checked with ONNX Runtime against PyTorch unless --no-verify); and/or rewrite it as a "
        "standalone checkpoint (--standalone: its UV map embedded, no optimizer state; --half: float16 weights) "
        "that loads from any folder."))
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by decomr-train")
    parser.add_argument("--onnx", help="output .onnx file")
    parser.add_argument("--standalone", metavar="OUT.pt", help="output standalone checkpoint")
    parser.add_argument("--half", action="store_true", help="with --standalone: store the weights in float16")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (>= 16, default {DEFAULT_OPSET})")
    parser.add_argument("--uv-map", "--uv", dest="uv_map", help="the UV map file the model was trained with, when it moved")
    parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime parity check")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``decomr-export``: exit status 0 on success, 2 on an error (message on stderr)."""
    from decomr.checkpoint import CheckpointError
    from decomr.predict import PredictError, load_model_for_prediction

    from decomr.checkpoint import standalone_checkpoint

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.onnx and not args.standalone:
        parser.error("give --onnx OUT.onnx, --standalone OUT.pt or both")
    if args.half and not args.standalone:
        parser.error("--half goes with --standalone")
    result = None
    try:
        for name in ("onnx", "standalone"):
            target = getattr(args, name)
            if target and str(Path(target).parent) and not Path(target).parent.is_dir():
                raise ExportError(f"output folder does not exist: {Path(target).parent}")
        if args.standalone:
            if Path(args.standalone).suffix.lower() != ".pt":
                raise ExportError(f"{args.standalone}: the standalone checkpoint must end in .pt")
            load_model_for_prediction(args.checkpoint, device="cpu", uv_map=args.uv_map)  # it must load first
            written = standalone_checkpoint(args.checkpoint, args.standalone, uv_map=args.uv_map, half=args.half)
            size = written.stat().st_size / 2**20
            print(f"wrote {written} ({size:.1f} MB, UV map embedded, {'float16' if args.half else 'float32'} weights)")
        if args.onnx:
            _require("onnx")
            if not args.no_verify:
                _require("onnxruntime")
            out = Path(args.onnx)
            if out.suffix.lower() != ".onnx":
                raise ExportError(f"{out}: the output file must end in .onnx")
            model, config = load_model_for_prediction(args.checkpoint, device="cpu", uv_map=args.uv_map)
            result = export_onnx(model, out, config.model.input_size, opset=args.opset, verify=not args.no_verify)
    except (ExportError, PredictError, CheckpointError, ValueError, FileNotFoundError, PermissionError) as error:
        print(f"decomr-export: error: {error}", file=sys.stderr)
        return 2
    if result is None:
        return 0
    print(f"wrote {result.path} (opset {result.opset}, input {result.input_size} px, {result.seconds:.1f} s)")
    if result.max_abs_diff:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in result.max_abs_diff.items())
        print(f"ONNX Runtime vs PyTorch, max |difference|: {diffs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
