"""``decomr-prepare``: ground-truth IUV images of a standard dataset, once per UV map.

For every sample with ``has_smpl`` the body is posed from ``pose``/``shape``, a weak-perspective
camera ``(s, tx, ty)`` is fitted by least squares from the body's 24 joints to the annotated 2D
joints (crop coordinates, visible joints only), and the body is rendered with that camera into
the ``size x size`` crop: mask, U, V (the given UV map) and part labels.

Output folder::

    DIR/manifest.json                     format, version, uv_hash, dataset_sha256, size, counts
    DIR/iuv/<index // 10000>/<index>.npz  mask (S, S) bool, uv (2, S, S) uint16 (value / 65535),
                                          parts (S, S) uint8 (0 background, joint id + 1),
                                          camera (3,) float32 (s, tx, ty)

Every file is written atomically; a run that stops (Ctrl-C, a crash) is resumed by running the
same command again: samples whose file exists are skipped. A folder prepared for another UV
map, annotation file, template or size is refused.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from decomr.data.standard import (MANIFEST, PREPARED_FORMAT, PREPARED_VERSION, check_joint_order, crop_points,
                                  file_sha256, fit_weak_perspective, iuv_hash, load_annotations,
                                  prepared_sample_path, read_prepared_manifest)
from uvkit.atomic import save_npz, write_text

__all__ = ["PrepareReport", "prepare_iuv", "main"]


@dataclass
class PrepareReport:
    """What :func:`prepare_iuv` did.

    Attributes
    ----------
    n_samples : int
        samples in the annotation file.
    written : int
        IUV files written by this run.
    already_done : int
        files found from an earlier run (skipped).
    no_smpl : int
        samples without ``has_smpl`` (no ground-truth body: nothing to render).
    missing_images : list of str
        samples skipped because their image is missing (only when an image root is given).
    fit_failed : list of int
        samples whose camera could not be fitted (fewer than 2 visible joints).
    seconds : float
    """

    n_samples: int = 0
    written: int = 0
    already_done: int = 0
    no_smpl: int = 0
    missing_images: list[str] = field(default_factory=list)
    fit_failed: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _manifest(ann_path: Path, uvmap, template, size: int, joint_order: str) -> dict:
    return {
        "format": PREPARED_FORMAT,
        "format_version": PREPARED_VERSION,
        "dataset": ann_path.name,
        "dataset_sha256": file_sha256(ann_path),
        "uv_hash": iuv_hash(uvmap),
        "uv_template_sha256": uvmap.template_sha256,
        "template_sha256": template.sha256,
        "size": int(size),
        "joint_order": joint_order,
    }


def prepare_iuv(dataset: str | Path, uv: str | Path, out: str | Path, template: str = "open",
                images: str | Path | None = None, size: int = 224, joint_order: str = "smpl",
                batch_size: int = 16, progress: Callable[[int, int], None] | None = None) -> PrepareReport:
    """Render ground-truth IUV images for a standard dataset (module docstring).

    Parameters
    ----------
    dataset : path
        annotation ``.npz`` (``decomr.data.standard``).
    uv : path
        the UV map file (its template must be ``template``).
    out : path
        output folder (created; an existing one must have been prepared with the same inputs).
    template : str
        the body template (``"open"`` or a file: the SMPL model the dataset's pose/shape belong to).
    images : path, optional
        image root: samples whose image is missing are reported and skipped.
    size : int
        crop side in pixels.
    joint_order : str
        ``"smpl"`` or ``"lsp14"``.
    batch_size : int
    progress : callable(done, total), optional
        called after every batch.

    Returns
    -------
    PrepareReport
    """
    from decomr.body import BodyModel
    from decomr.render import Renderer, WeakPerspectiveCamera
    from uvkit.template import load_template
    from uvkit.uvmap import load_uvmap

    started = time.perf_counter()
    check_joint_order(joint_order)
    size = int(size)
    if size <= 0 or batch_size <= 0:
        raise ValueError(f"size and batch_size must be positive, got {size}, {batch_size}")
    ann_path = Path(dataset)
    ann = load_annotations(ann_path, joint_order)
    template_obj = load_template(template) if isinstance(template, (str, Path)) else template
    uvmap = load_uvmap(uv, template=template_obj)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(ann_path, uvmap, template_obj, size, joint_order)
    if (out / MANIFEST).exists():
        previous = read_prepared_manifest(out)
        for key in ("uv_hash", "dataset_sha256", "template_sha256", "size", "joint_order"):
            if previous.get(key) != manifest[key]:
                raise ValueError(f"{out}: already holds IUV prepared with another {key} "
                                 f"({previous.get(key)!r}, now {manifest[key]!r}); use another --out")
    manifest["complete"] = False
    write_text(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))

    report = PrepareReport(n_samples=len(ann))
    todo = []
    for index in range(len(ann)):
        if not ann.has_smpl[index]:
            report.no_smpl += 1
            continue
        if images is not None and not (Path(images) / ann.imgname[index]).is_file():
            report.missing_images.append(str(ann.imgname[index]))
            continue
        if prepared_sample_path(out, index).is_file():
            report.already_done += 1
            continue
        todo.append(index)

    body = BodyModel(template_obj)
    parts = template_obj.parts
    renderer = Renderer.from_vertex_parts(template_obj.faces, size, parts, vt=uvmap.vt, ft=uvmap.ft)
    if progress is not None:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        batch = np.asarray(todo[start:start + batch_size])
        pose = torch.from_numpy(ann.pose[batch]).to(torch.float32)
        betas = torch.from_numpy(ann.betas[batch]).to(torch.float32)
        joints2d = torch.from_numpy(crop_points(ann.joints2d[batch], ann.center[batch], ann.scale[batch]))
        with torch.no_grad():
            posed = body(pose, betas)
            camera, valid = fit_weak_perspective(posed.joints.to(torch.float64), joints2d)
            rendered = renderer(posed.vertices, WeakPerspectiveCamera(camera.to(posed.vertices.dtype)))
        for k, index in enumerate(batch.tolist()):
            if not bool(valid[k]):
                report.fit_failed.append(index)
                continue
            mask = rendered.mask[k].numpy()
            uv_values = rendered.iuv[k, 1:].clamp(0.0, 1.0).numpy()
            path = prepared_sample_path(out, index)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_npz(path, compressed=True,
                     mask=mask.astype(bool),
                     uv=np.where(mask[None], np.round(uv_values * 65535.0), 0).astype(np.uint16),
                     parts=rendered.parts[k].numpy().astype(np.uint8),
                     camera=camera[k].numpy().astype(np.float32))
            report.written += 1
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo))

    report.seconds = time.perf_counter() - started
    manifest.update({
        "complete": True,
        "n_samples": report.n_samples,
        "n_prepared": report.written + report.already_done,
        "n_no_smpl": report.no_smpl,
        "n_missing_images": len(report.missing_images),
        "fit_failed": report.fit_failed,
    })
    write_text(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return report


def _progress_printer(stream=sys.stderr) -> Callable[[int, int], None]:
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        stream.write(f"\rprepared {done}/{total}  {rate:.1f} samples/s  ETA {eta:.0f} s   ")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decomr-prepare", description=(
        "Render ground-truth IUV images (mask, U, V, parts) of a standard .npz dataset for one UV map. "
        "Resumable: run the same command again after an interruption."))
    parser.add_argument("--dataset", required=True, help="annotation .npz (imgname, center, scale, part, pose, shape, ...)")
    parser.add_argument("--uv", required=True, help="UV map file (uvkit build-uv / import-uv)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--images", help="image root: samples with a missing image are reported and skipped")
    parser.add_argument("--template", default="open", help="body template the pose/shape belong to (default: the open body)")
    parser.add_argument("--size", type=int, default=224, help="crop side in pixels (default 224)")
    parser.add_argument("--joint-order", default="smpl", help="joint order of 'part' and 'S': smpl or lsp14")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_joint_order(args.joint_order)
        report = prepare_iuv(args.dataset, args.uv, args.out, template=args.template, images=args.images,
                             size=args.size, joint_order=args.joint_order, batch_size=args.batch_size,
                             progress=None if args.quiet else _progress_printer())
    except (ValueError, FileNotFoundError, PermissionError) as error:
        print(f"decomr-prepare: error: {error}", file=sys.stderr)
        return 2
    summary = asdict(report)
    summary["missing_images"] = len(report.missing_images)
    summary["fit_failed"] = len(report.fit_failed)
    print(json.dumps(summary, indent=1))
    if report.missing_images:
        print(f"decomr-prepare: {len(report.missing_images)} images missing (first: {report.missing_images[0]}); "
              f"those samples were skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
