"""Evaluation of a mesh regressor: joint, vertex and segmentation metrics; ``decomr-eval``.

:func:`evaluate_model` runs a model over a data loader and scores every sample with
:mod:`decomr.metrics`:

- ``mpjpe_mm`` / ``pa_mpjpe_mm`` on the 14 evaluation joints (LSP order). Predicted joints are
  regressed from the predicted mesh with the template's evaluation regressor
  (``extras["J_regressor_eval"]``, a sparse non-negative regressor; the rig's regressor when the
  template has none). Ground-truth joints are the sample's ``joints3d`` (those 14, with their
  confidences) when ``has_3d``, else the same regressor applied to the ground-truth mesh when
  ``has_smpl``. Pelvis = mid-hips.
- ``pve_mm``: mean per-vertex error after pelvis alignment (each mesh's own mid-hips), for
  samples with ``has_smpl``; ``location_map_mm``: mean L2 over valid texels between the
  predicted location map and the one of the ground-truth mesh (with ``uv_lookup``), after the
  same pelvis alignment.
- Segmentation from the projected mesh: the predicted mesh is rendered with the predicted
  weak-perspective camera at the size of the ground-truth mask; foreground accuracy / F1
  (2 classes) and part accuracy / F1 (7 classes: background + the 6 parts of
  :data:`decomr.metrics.PART_NAMES`) for samples with ``has_iuv``. The summary holds the
  dataset-level numbers (confusion matrices summed over all images, the protocol's) and the
  per-sample ones.

A sample without the needed label has ``None`` for that metric; the summary averages over the
samples that have it and reports how many did.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from decomr.body import JOINTS14_FROM_SMPL
from decomr.metrics import (LSP14_PELVIS, confusion_matrix, joint_error, part_labels_from_joints, pelvis,
                            segmentation_scores, vertex_error)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "normalize_images", "EvaluationResults", "evaluate_model",
           "evaluation_regressor", "METRICS", "MeanBodyModel", "mean_body", "is_synth_folder", "main"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: per-sample metrics, in table order.
METRICS: tuple[str, ...] = ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "location_map_mm", "fg_accuracy", "fg_f1",
                            "parts_accuracy", "parts_f1")


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float images in [0, 1] -> ImageNet-normalised (the model's input)."""
    mean = images.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (images - mean) / std


def evaluation_regressor(body) -> torch.Tensor:
    """(24, V) float32 regressor of evaluation joints: the template's ``J_regressor_eval``, else
    the rig's ``J_regressor``."""
    template = body.template
    extra = template.extras.get("J_regressor_eval") if getattr(template, "extras", None) else None
    if extra is not None:
        return torch.as_tensor(np.asarray(extra, dtype=np.float64), dtype=torch.float32)
    return torch.as_tensor(template.joint_regressor_dense(), dtype=torch.float32)


def _get(output: Any, name: str) -> Any:
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


@dataclass
class EvaluationResults:
    """Per-sample records and the summary of an evaluation.

    Attributes
    ----------
    per_sample : list of dict
        ``index``, ``imgname``, ``dataset`` and every metric of :data:`METRICS` (None where
        the sample lacks the label).
    summary : dict
        ``n_samples``; per metric ``{"mean": float or None, "count": int}``; ``segmentation``:
        dataset-level ``fg_accuracy``, ``fg_f1``, ``parts_accuracy``, ``parts_f1`` and
        ``parts_f1_per_class`` from summed confusion matrices; ``seconds``.
    """

    per_sample: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``per_sample.json`` and ``summary.json`` into ``folder`` (created) atomically."""
        from uvkit.atomic import write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        per_sample = folder / "per_sample.json"
        summary = folder / "summary.json"
        write_text(per_sample, json.dumps(self.per_sample, indent=1))
        write_text(summary, json.dumps(self.summary, indent=1))
        return per_sample, summary

    def table(self) -> str:
        """A plain-text table of the summary."""
        rows = [("metric", "value", "samples")]
        for name in METRICS:
            entry = self.summary.get(name, {})
            value = entry.get("mean")
            rows.append((name, "-" if value is None else f"{value:.2f}" if name.endswith("_mm") else f"{value:.4f}",
                         str(entry.get("count", 0))))
        seg = self.summary.get("segmentation", {})
        for name in ("fg_accuracy", "fg_f1", "parts_accuracy", "parts_f1"):
            value = seg.get(name)
            rows.append((f"{name} (dataset)", "-" if value is None else f"{value:.4f}", str(seg.get("count", 0))))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}" for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)


def _float_or_none(value: torch.Tensor | float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _flags(batch: Mapping[str, Any], key: str, size: int) -> torch.Tensor:
    value = batch.get(key)
    if value is None:
        return torch.zeros(size, dtype=torch.bool)
    return torch.as_tensor(value).reshape(size).bool().cpu()


def evaluate_model(model: torch.nn.Module, dataloader: Iterable[Mapping[str, Any]], body, uv_lookup=None,
                   renderer=None, device: str | torch.device = "cpu",
                   normalize: Callable[[torch.Tensor], torch.Tensor] | None = normalize_images,
                   progress: Callable[[int], None] | None = None) -> EvaluationResults:
    """Score a model on a dataset (module docstring).

    Parameters
    ----------
    model : nn.Module
        ``model(images)`` -> an object (or dict) with ``vertices`` (B, V, 3) and ``camera``
        (B, 3) weak-perspective (s, tx, ty); ``location_map`` (B, 3, R, R) optionally.
    dataloader : iterable of batches (dicts)
        keys: ``image`` (B, 3, H, W) in [0, 1]; optional ``joints3d`` (B, 24, 4), ``has_3d``,
        ``vertices`` (B, V, 3) or ``pose``/``betas``, ``has_smpl``, ``mask`` (B, H, W),
        ``parts`` (B, H, W) (0 background, joint id + 1), ``has_iuv``, ``index``, ``imgname``,
        ``dataset``.
    body : decomr.body.BodyModel
        the template (evaluation regressor, faces and part labels); poses ground truth from
        ``pose``/``betas`` when a batch has no ``vertices``.
    uv_lookup : decomr.uv.UVLookup, optional
        enables ``location_map_mm``.
    renderer : decomr.render.Renderer, optional
        renders predicted meshes for segmentation (must carry face parts); default one built
        from the template at each mask size.
    device : torch device
    normalize : callable or None
        applied to ``image`` before the model (default ImageNet normalisation).
    progress : callable(n_done), optional

    Returns
    -------
    EvaluationResults
    """
    from decomr.render import Renderer, WeakPerspectiveCamera

    started = time.perf_counter()
    device = torch.device(device)
    model = model.to(device).eval()
    regressor = evaluation_regressor(body).to(device)
    template = body.template
    vertex_parts = template.parts
    if vertex_parts is None:
        from uvkit.parts import parts_from_weights
        vertex_parts = parts_from_weights(template.weights)
    renderers: dict[tuple[int, int], Any] = {}
    records: list[dict[str, Any]] = []
    confusion2 = torch.zeros(2, 2, dtype=torch.int64)
    confusion7 = torch.zeros(7, 7, dtype=torch.int64)
    n_segmented = 0
    body = body.to(device)
    j14 = list(JOINTS14_FROM_SMPL)

    with torch.no_grad():
        for batch in dataloader:
            images = batch["image"].to(device)
            size = images.shape[0]
            output = model(normalize(images) if normalize is not None else images)
            pred_vertices = _get(output, "vertices").float()
            camera = _get(output, "camera").float()
            pred_joints = torch.einsum("jv,bvc->bjc", regressor, pred_vertices)[:, j14]
            has_smpl = _flags(batch, "has_smpl", size)
            has_3d = _flags(batch, "has_3d", size)
            has_iuv = _flags(batch, "has_iuv", size)

            # ground-truth meshes
            gt_vertices = batch.get("vertices")
            if gt_vertices is None and has_smpl.any() and batch.get("pose") is not None:
                gt_vertices = body(batch["pose"].to(device).float(), batch["betas"].to(device).float()).vertices
            if gt_vertices is not None:
                gt_vertices = gt_vertices.to(device).float()
            else:
                has_smpl = torch.zeros_like(has_smpl)
            gt_mesh_joints = None if gt_vertices is None else torch.einsum("jv,bvc->bjc", regressor, gt_vertices)[:, j14]

            # joints: annotated 3D joints first, else the ground-truth mesh's
            nan = torch.full((size,), float("nan"), dtype=torch.float64)
            mpjpe_values, pa_values = nan.clone(), nan.clone()
            if batch.get("joints3d") is not None and has_3d.any():
                gt = batch["joints3d"].to(device).float()[:, j14]
                confidence = gt[..., 3] * has_3d.to(device)[:, None]
                usable = (confidence[:, list(LSP14_PELVIS)] > 0).all(dim=1).cpu() & has_3d
                if usable.any():
                    rows = usable.nonzero()[:, 0]
                    mpjpe_values[rows] = joint_error(pred_joints[rows], gt[rows, :, :3], confidence[rows], "pelvis").cpu()
                    pa_values[rows] = joint_error(pred_joints[rows], gt[rows, :, :3], confidence[rows], "procrustes").cpu()
                has_joints = usable
            else:
                has_joints = torch.zeros(size, dtype=torch.bool)
            from_mesh = has_smpl & ~has_joints
            if from_mesh.any():
                rows = from_mesh.nonzero()[:, 0]
                mpjpe_values[rows] = joint_error(pred_joints[rows], gt_mesh_joints[rows], None, "pelvis").cpu()
                pa_values[rows] = joint_error(pred_joints[rows], gt_mesh_joints[rows], None, "procrustes").cpu()

            # vertices and location maps
            pve_values, map_values = nan.clone(), nan.clone()
            if has_smpl.any():
                rows = has_smpl.nonzero()[:, 0]
                pred_root = pelvis(pred_joints[rows])
                gt_root = pelvis(gt_mesh_joints[rows])
                pve_values[rows] = vertex_error(pred_vertices[rows], gt_vertices[rows], pred_root, gt_root).cpu()
                location_map = _get(output, "location_map")
                if uv_lookup is not None and location_map is not None:
                    r = location_map.shape[-1]
                    if r in tuple(uv_lookup.resolutions):
                        valid = uv_lookup.mask(r).to(device)
                        gt_map = uv_lookup.location_map(gt_vertices[rows] - gt_root[:, None], r)
                        pred_map = location_map[rows].float() - pred_root[:, :, None, None]
                        distance = (pred_map - gt_map).norm(dim=1)[:, valid]  # (b, n_valid)
                        map_values[rows] = (distance.mean(dim=1) * 1000.0).double().cpu()

            # segmentation of the projected mesh
            seg = {name: nan.clone() for name in ("fg_accuracy", "fg_f1", "parts_accuracy", "parts_f1")}
            if has_iuv.any() and batch.get("mask") is not None:
                rows = has_iuv.nonzero()[:, 0]
                gt_mask = batch["mask"].to(device)[rows].bool()
                height, width = gt_mask.shape[-2:]
                active = renderer
                if active is None:
                    if (height, width) not in renderers:
                        renderers[(height, width)] = Renderer.from_vertex_parts(
                            template.faces, (height, width), vertex_parts).to(device)
                    active = renderers[(height, width)]
                rendered = active(pred_vertices[rows], WeakPerspectiveCamera(camera[rows]))
                c2 = confusion_matrix(rendered.mask.long(), gt_mask.long(), 2).cpu()
                fg = segmentation_scores(c2)
                confusion2 += c2.sum(dim=0)
                seg["fg_accuracy"][rows] = fg["accuracy"]
                seg["fg_f1"][rows] = fg["f1"]
                if batch.get("parts") is not None and rendered.parts is not None:
                    pred_parts = part_labels_from_joints(rendered.parts)
                    gt_parts = part_labels_from_joints(batch["parts"].to(device)[rows])
                    c7 = confusion_matrix(pred_parts, gt_parts, 7).cpu()
                    parts = segmentation_scores(c7)
                    confusion7 += c7.sum(dim=0)
                    seg["parts_accuracy"][rows] = parts["accuracy"]
                    seg["parts_f1"][rows] = parts["f1"]
                n_segmented += len(rows)

            indices = batch.get("index")
            names = batch.get("imgname")
            datasets = batch.get("dataset")
            for k in range(size):
                record = {
                    "index": int(indices[k]) if indices is not None else len(records),
                    "imgname": None if names is None else str(names[k]),
                    "dataset": None if datasets is None else str(datasets[k]),
                    "mpjpe_mm": _float_or_none(mpjpe_values[k]),
                    "pa_mpjpe_mm": _float_or_none(pa_values[k]),
                    "pve_mm": _float_or_none(pve_values[k]),
                    "location_map_mm": _float_or_none(map_values[k]),
                }
                for name, values in seg.items():
                    record[name] = _float_or_none(values[k])
                records.append(record)
            if progress is not None:
                progress(len(records))

    summary: dict[str, Any] = {"n_samples": len(records)}
    for name in METRICS:
        values = [r[name] for r in records if r[name] is not None]
        summary[name] = {"mean": float(np.mean(values)) if values else None, "count": len(values)}
    segmentation: dict[str, Any] = {"count": n_segmented}
    if n_segmented:
        fg = segmentation_scores(confusion2)
        segmentation.update(fg_accuracy=float(fg["accuracy"]), fg_f1=float(fg["f1"]))
        if int(confusion7.sum()):
            parts = segmentation_scores(confusion7)
            segmentation.update(parts_accuracy=float(parts["accuracy"]), parts_f1=float(parts["f1"]),
                                parts_f1_per_class=[float(v) for v in parts["f1_per_class"]])
    summary["segmentation"] = segmentation
    summary["seconds"] = time.perf_counter() - started
    return EvaluationResults(per_sample=records, summary=summary)


# ---------------------------------------------------------------------------- the mean-body baseline
class MeanBodyModel(torch.nn.Module):
    """The constant predictor: the same mesh (and weak-perspective camera) for every image.

    ``vertices`` (V, 3) metres, ``camera`` (3,) (s, tx, ty). Its output has no location map."""

    def __init__(self, vertices: torch.Tensor, camera: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("mean_vertices", torch.as_tensor(vertices, dtype=torch.float32))
        camera = torch.tensor([1.0, 0.0, 0.0]) if camera is None else torch.as_tensor(camera, dtype=torch.float32)
        self.register_buffer("mean_camera", camera.reshape(3))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        size = images.shape[0]
        return {"vertices": self.mean_vertices.expand(size, -1, -1),
                "camera": self.mean_camera.expand(size, -1)}


def mean_body(dataset: Iterable[Mapping[str, Any]], body, limit: int | None = None) -> MeanBodyModel:
    """The mean-body baseline of a training set.

    Every training mesh (``vertices``, or ``pose``/``betas`` through ``body``) is translated so
    that its pelvis (mid-hips of the evaluation joints, the alignment of the vertex error) is at
    the origin, and the meshes are averaged vertex by vertex, as they are (global orientation
    included: the constant that minimises the squared pelvis-aligned vertex error on the
    training set). The camera is the mean ``camera_weak`` (used only by the segmentation
    metrics). ``limit`` keeps the first N samples.
    """
    regressor = evaluation_regressor(body)
    j14 = list(JOINTS14_FROM_SMPL)
    total: torch.Tensor | None = None
    camera_total = torch.zeros(3, dtype=torch.float64)
    n_cameras = 0
    count = 0
    with torch.no_grad():
        for k, sample in enumerate(dataset):
            if limit is not None and k >= limit:
                break
            if sample is None:
                continue
            vertices = sample.get("vertices")
            if vertices is None:
                if sample.get("pose") is None:
                    continue
                vertices = body(torch.as_tensor(sample["pose"])[None].float(),
                                torch.as_tensor(sample["betas"])[None].float()).vertices[0]
            vertices = torch.as_tensor(vertices, dtype=torch.float64)
            joints = (regressor.double() @ vertices)[j14]
            centred = vertices - pelvis(joints[None])[0]
            total = centred if total is None else total + centred
            count += 1
            if sample.get("camera_weak") is not None:
                camera_total += torch.as_tensor(sample["camera_weak"], dtype=torch.float64)
                n_cameras += 1
    if not count:
        raise ValueError("mean body: the training data holds no mesh (vertices or pose/betas)")
    camera = (camera_total / n_cameras).float() if n_cameras else None
    model = MeanBodyModel((total / count).float(), camera)
    model.n_samples = count
    return model


# ---------------------------------------------------------------------------- CLI
#: the metrics :func:`paired_comparison` compares by default.
COMPARED_METRICS: tuple[str, ...] = ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm")


def read_per_sample(folder: str | Path) -> list[dict[str, Any]]:
    """The per-sample records a ``decomr-eval`` run wrote into ``folder`` (``per_sample.json``)."""
    path = Path(folder) / "per_sample.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per_sample.json (give a folder written by decomr-eval --out)")
    try:
        records = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a decomr-eval per_sample.json ({error})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) and "index" in r for r in records):
        raise ValueError(f"{path}: expected a list of records with an 'index' (written by decomr-eval)")
    return records


def paired_comparison(records: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]],
                      metrics: Sequence[str] = COMPARED_METRICS) -> dict[str, dict[str, Any]]:
    """Compare two evaluations sample by sample on the samples both scored.

    Samples are matched by ``(dataset, index)``. Per metric: ``difference`` (mean of this minus
    the baseline; negative = better, for errors), ``sem`` (its standard error: the spread of the
    per-sample differences / sqrt(n), which removes the spread between people that the two runs
    share), ``n`` and ``better_fraction`` (share of samples with a lower value than the
    baseline). A metric with fewer than 2 matched samples gets None values.
    """
    def key(record):
        return record.get("dataset"), record["index"]

    base = {key(r): r for r in baseline}
    result = {}
    for metric in metrics:
        diffs = [r[metric] - base[key(r)][metric] for r in records
                 if key(r) in base and r.get(metric) is not None and base[key(r)].get(metric) is not None]
        n = len(diffs)
        if n < 2:
            result[metric] = {"difference": None, "sem": None, "n": n, "better_fraction": None}
            continue
        mean = sum(diffs) / n
        sem = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n)
        result[metric] = {"difference": mean, "sem": sem, "n": n, "better_fraction": sum(d < 0 for d in diffs) / n}
    return result


def comparison_table(comparison: Mapping[str, Mapping[str, Any]], name: str = "baseline") -> str:
    """Plain-text lines of a :func:`paired_comparison` result."""
    lines = [f"against {name} (same samples, this minus {name}; negative = lower error):"]
    for metric, entry in comparison.items():
        if entry["difference"] is None:
            lines.append(f"  {metric:12s} -  ({entry['n']} matched samples)")
            continue
        lines.append(f"  {metric:12s} {entry['difference']:+8.2f} +- {entry['sem']:.2f}  over {entry['n']} samples, "
                     f"lower on {100 * entry['better_fraction']:.0f}% of them")
    return "\n".join(lines)


def is_synth_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder written by ``decomr-synth`` (holds ``config-*.json``)."""
    path = Path(path)
    return path.is_dir() and any(path.glob("config-*.json"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decomr-eval", description=(
        "Evaluate a DecoMR checkpoint: MPJPE, PA-MPJPE, vertex error, and segmentation accuracy / F1 "
        "of the projected mesh. Writes per_sample.json and summary.json, prints a table."))
    parser.add_argument("--checkpoint", help="checkpoint written by decomr-train")
    parser.add_argument("--mean-body", metavar="TRAIN_DIR",
                        help="instead of a checkpoint: evaluate the constant prediction of the mean training mesh "
                             "(pelvis-aligned) of this decomr-synth folder (the baseline a model must beat)")
    parser.add_argument("--data", required=True,
                        help="annotation .npz of a standard dataset, or a folder written by decomr-synth")
    parser.add_argument("--images", help="image root of --data (default: the folder of the .npz)")
    parser.add_argument("--prepared", help="folder written by decomr-prepare (ground-truth IUV: segmentation metrics)")
    parser.add_argument("--uv", help="the UV map file --prepared was made for (checked by hash)")
    parser.add_argument("--template", default="open", help="body template of the dataset's pose/shape (default: the open body)")
    parser.add_argument("--joint-order", default="smpl", help="joint order of the annotation file: smpl or lsp14")
    parser.add_argument("--size", type=int, default=None,
                        help="input crop size in pixels (default 224; a decomr-synth folder: its own size)")
    parser.add_argument("--out", required=True, help="output folder for the JSON files")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--limit", type=int, help="evaluate the first N samples only")
    parser.add_argument("--compare-to", metavar="EVAL_DIR",
                        help="the --out folder of another decomr-eval run on the same data (e.g. --mean-body): "
                             "print and write (comparison.json) the paired differences sample by sample")
    return parser


def _load_model(path: str):
    try:
        from decomr.checkpoint import load_model
    except ImportError:
        raise ValueError("this installation has no decomr.checkpoint.load_model: cannot build a model from "
                         f"{path}") from None
    return load_model(path)


def _synth_dataset(path: str, body, size: int | None):
    """A decomr-synth folder as an evaluation dataset (no augmentation)."""
    from decomr.data.shards import SyntheticShards

    dataset = SyntheticShards(path, body=body)
    if body.template.sha256 != dataset.settings.get("template_sha256"):
        raise ValueError(f"{path} was rendered from another template than the one given (--template)")
    stored = int(dataset.settings["config"]["size"])
    if size is not None and size != stored:
        raise ValueError(f"--size {size}: the samples of {path} are {stored} x {stored} pixels")
    return dataset


def main(argv: list[str] | None = None) -> int:
    from decomr.body import BodyModel
    from decomr.data.standard import StandardDataset, check_joint_order

    args = build_parser().parse_args(argv)
    try:
        if (args.checkpoint is None) == (args.mean_body is None):
            raise ValueError("give exactly one of --checkpoint and --mean-body")
        check_joint_order(args.joint_order)
        if args.prepared and not args.uv:
            raise ValueError("--prepared needs --uv (the UV map the IUV images were prepared for)")
        body = BodyModel(args.template)
        if args.checkpoint is not None:
            model, _config = _load_model(args.checkpoint)
        else:
            if not is_synth_folder(args.mean_body):
                raise ValueError(f"--mean-body {args.mean_body}: not a decomr-synth folder")
            model = mean_body(_synth_dataset(args.mean_body, body, None), body)
        uv_lookup = getattr(model, "uv_lookup", None)
        if uv_lookup is not None and str(uv_lookup.template_sha256).lower() != body.template.sha256:
            raise ValueError(f"the checkpoint's UV map belongs to another template than {args.template} "
                             f"(template_sha256 {uv_lookup.template_sha256[:12]}... vs {body.template.sha256[:12]}...)")
        baseline = read_per_sample(args.compare_to) if args.compare_to else None
        n_missing = 0
        if is_synth_folder(args.data):
            dataset = _synth_dataset(args.data, body, args.size)
        else:
            images = args.images or str(Path(args.data).parent)
            dataset = StandardDataset(args.data, images, body=body, prepared=args.prepared, uvmap=args.uv,
                                      size=args.size or 224, joint_order=args.joint_order)
            n_missing = len(dataset.missing)
            if dataset.missing:
                print(f"decomr-eval: {len(dataset.missing)} images missing (first: {dataset.missing[0]}); "
                      f"those samples are skipped", file=sys.stderr)
        if args.limit is not None:
            dataset = torch.utils.data.Subset(dataset, range(min(args.limit, len(dataset))))
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
        total = len(dataset)

        def show(done: int) -> None:
            sys.stderr.write(f"\revaluated {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        results = evaluate_model(model, loader, body, uv_lookup=uv_lookup, device=args.device, progress=show)
        results.summary.update({"checkpoint": None if args.checkpoint is None else str(args.checkpoint),
                                "mean_body": None if args.mean_body is None else str(args.mean_body),
                                "data": str(args.data), "n_missing_images": n_missing})
        results.write(args.out)
        comparison = None
        if baseline is not None:
            from uvkit.atomic import write_text

            comparison = paired_comparison(results.per_sample, baseline)
            write_text(Path(args.out) / "comparison.json",
                       json.dumps({"baseline": str(args.compare_to), "metrics": comparison}, indent=1))
    except (ValueError, FileNotFoundError, PermissionError) as error:
        print(f"decomr-eval: error: {error}", file=sys.stderr)
        return 2
    print(results.table())
    if comparison is not None:
        print(comparison_table(comparison, str(args.compare_to)))
    print(f"wrote {Path(args.out) / 'per_sample.json'} and {Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
