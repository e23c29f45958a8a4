"""The field's standard datasets: one ``.npz`` of annotations per split plus an image folder.

Annotation file (docs/datasets.md)
----------------------------------
=============  =============  ===========================================================
key            shape, dtype   meaning
=============  =============  ===========================================================
``imgname``    (N,) str       image path, relative to the image root
``center``     (N, 2) float   person box centre (x, y) in pixels of the original image
``scale``      (N,) float     box side / 200 (pixels)
``part``       (N, 24, 3)     2D joints (x, y) in pixels + visibility (0 or 1)
``S``          (N, 24, 4)     optional: 3D joints, metres, camera frame + confidence
``pose``       (N, 72)        optional: SMPL-format pose (axis-angle, camera frame)
``shape``      (N, 10)        optional: betas
``has_smpl``   (N,)           optional: 1 where pose/shape are valid (default: 1 when
                              ``pose`` is present)
``gender``     (N,) str       optional; read and ignored (the body layer is neutral)
=============  =============  ===========================================================

Joints are in the 24-joint SMPL order by default (``joint_order="smpl"``). Files whose first 14
joints are in the LSP order (``joint_order="lsp14"``, the usual ordering of the field's
preprocessed files) are mapped onto the SMPL slots of :data:`decomr.body.JOINTS14_FROM_SMPL`
(LSP neck -> SMPL neck, LSP head top -> SMPL head: an approximation); the other SMPL joints
then get visibility 0.

Pixel and crop convention
-------------------------
Annotation pixel coordinates put the centre of pixel (row i, column j) at ``(j, i)`` (integer
centres, as OpenCV and the field's files). The crop is the axis-aligned square of side
``200 * scale`` centred at ``center``, resampled to ``size x size`` pixels. A point ``p``
(pixels) maps to the normalised crop coordinates of the renderer (``decomr.render.cameras``)

    ``n = (p - center) / (100 * scale)``,

so the box edges are -1 and +1 and crop pixel (i, j) has its centre at
``((2j + 1) / size - 1, (2i + 1) / size - 1)``. Areas outside the image are black. When the box
is at least twice the crop size, the image is box-filtered by the integer factor
``floor(side / size)`` before bilinear resampling (no aliasing).

Ground truth from the body
--------------------------
With ``has_smpl``, ``vertices`` are the body layer's mesh for ``pose``/``shape`` (no
translation; the pose's global orientation is the camera-frame one, so the mesh is in camera
axes like the model's output), and ``location_map`` is ``uv_lookup.location_map(vertices)``.
Ground-truth IUV, mask, parts and the weak-perspective camera (``camera_weak``) come from a folder written by
``decomr-prepare`` (:mod:`decomr.data.prepare`), checked against the UV map by hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from decomr.body import JOINTS14_FROM_SMPL
from uvkit.parts import NUM_JOINTS
from uvkit.atomic import file_sha256
from uvkit.errors import check_choice

__all__ = [
    "JOINT_ORDERS", "REQUIRED_KEYS", "PREPARED_FORMAT", "PREPARED_VERSION", "MANIFEST", "check_joint_order",
    "Annotations", "load_annotations", "crop_points", "crop_image", "load_image",
    "fit_weak_perspective", "iuv_hash", "file_sha256", "prepared_sample_path", "read_prepared_manifest",
    "load_prepared_sample", "StandardDataset",
]

logger = logging.getLogger(__name__)

#: the joint orders an annotation file may use.
JOINT_ORDERS: tuple[str, ...] = ("smpl", "lsp14")
#: keys every annotation file must hold.
REQUIRED_KEYS: tuple[str, ...] = ("imgname", "center", "scale", "part")
#: the ``format`` of a prepared-IUV folder's manifest.
PREPARED_FORMAT = "decomr-prepared-iuv"
PREPARED_VERSION = 1
#: name of the manifest file in a prepared folder.
MANIFEST = "manifest.json"


def check_joint_order(name: str) -> str:
    """Return ``name`` if it is one of :data:`JOINT_ORDERS`, else raise listing the choices."""
    return check_choice(name, JOINT_ORDERS, "joint_order", ValueError)


# ---------------------------------------------------------------------------- annotations
@dataclass
class Annotations:
    """One annotation file, validated and converted to SMPL joint order.

    Attributes
    ----------
    path : str
    imgname : (N,) str array
    center : (N, 2) float64, pixels (integer pixel centres)
    scale : (N,) float64, box side / 200
    joints2d : (N, 24, 3) float64, pixels + visibility, SMPL order
    joints3d : (N, 24, 4) float64, metres + confidence, SMPL order (zeros when absent)
    pose : (N, 72) float64 (zeros when absent)
    betas : (N, 10) float64 (zeros when absent)
    has_smpl : (N,) bool
    has_3d : (N,) bool
    """

    path: str
    imgname: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    joints2d: np.ndarray
    joints3d: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    has_smpl: np.ndarray
    has_3d: np.ndarray

    def __len__(self) -> int:
        return len(self.imgname)


def _to_smpl_order(array: np.ndarray, order: str, key: str, source: str) -> np.ndarray:
    """(N, J, C) joints of the file -> (N, 24, C) in SMPL order (last channel = confidence)."""
    if order == "smpl":
        if array.shape[1] != NUM_JOINTS:
            raise ValueError(f"{source}: '{key}' has {array.shape[1]} joints; joint_order='smpl' needs {NUM_JOINTS}")
        return array
    if array.shape[1] < 14:
        raise ValueError(f"{source}: '{key}' has {array.shape[1]} joints; joint_order='lsp14' needs at least 14")
    out = np.zeros((array.shape[0], NUM_JOINTS, array.shape[2]))
    out[:, list(JOINTS14_FROM_SMPL)] = array[:, :14]
    return out


def load_annotations(path: str | os.PathLike, joint_order: str = "smpl") -> Annotations:
    """Read and check an annotation ``.npz`` (module docstring).

    Raises
    ------
    ValueError
        unreadable or corrupt file, a missing key (named, with the file), a wrong shape, or
        arrays of different lengths.
    """
    check_joint_order(joint_order)
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such annotation file") from None
    except (zipfile.BadZipFile, OSError, EOFError, AttributeError) as error:
        raise ValueError(f"{source}: not a readable .npz annotation file ({error})") from None
    except ValueError as error:
        raise ValueError(f"{source}: corrupt .npz, or it holds Python objects that need pickle "
                         f"(refused): {error}") from None
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise ValueError(f"{source}: missing key '{key}' (an annotation file needs "
                             f"{', '.join(REQUIRED_KEYS)}; it has {', '.join(sorted(arrays)) or 'nothing'})")
    imgname = np.asarray(arrays["imgname"])
    if imgname.ndim != 1 or imgname.dtype.kind not in "US":
        raise ValueError(f"{source}: 'imgname' must be an (N,) string array, got {imgname.shape} {imgname.dtype}")
    imgname = imgname.astype(str)
    n = len(imgname)

    def numeric(key: str, shape: tuple, required: bool = True) -> np.ndarray | None:
        if key not in arrays:
            if required:
                raise ValueError(f"{source}: missing key '{key}'")
            return None
        value = np.asarray(arrays[key])
        if value.dtype.kind not in "fiub":
            raise ValueError(f"{source}: '{key}' must be numeric, got {value.dtype}")
        expected = (n,) + shape
        ok = value.shape[:1] == (n,) and len(value.shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected[1:], value.shape[1:]))
        if not ok:
            text = "(" + ", ".join("J" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"{source}: '{key}' must have shape {text} for N = {n} images, got {value.shape}")
        return value.astype(np.float64)

    center = numeric("center", (2,))
    scale = numeric("scale", ())
    if not (scale > 0).all():
        bad = int(np.flatnonzero(~(scale > 0))[0])
        raise ValueError(f"{source}: 'scale' must be positive, sample {bad} has {scale[bad]}")
    part = _to_smpl_order(numeric("part", (None, 3)), joint_order, "part", source)
    s3d = numeric("S", (None, 4), required=False)
    joints3d = np.zeros((n, NUM_JOINTS, 4)) if s3d is None else _to_smpl_order(s3d, joint_order, "S", source)
    pose = numeric("pose", (72,), required=False)
    betas = numeric("shape", (10,), required=False)
    if (pose is None) != (betas is None):
        missing = "shape" if betas is None else "pose"
        raise ValueError(f"{source}: missing key '{missing}' ('pose' and 'shape' come together)")
    if "has_smpl" in arrays:
        has_smpl = numeric("has_smpl", ()) > 0
        if pose is None and has_smpl.any():
            raise ValueError(f"{source}: 'has_smpl' is set but the keys 'pose' and 'shape' are missing")
    else:
        has_smpl = np.full(n, pose is not None)
    has_3d = np.zeros(n, bool) if s3d is None else (joints3d[..., 3] > 0).any(axis=1)
    return Annotations(
        path=source, imgname=imgname, center=center, scale=scale, joints2d=part, joints3d=joints3d,
        pose=np.zeros((n, 72)) if pose is None else pose,
        betas=np.zeros((n, 10)) if betas is None else betas,
        has_smpl=has_smpl, has_3d=has_3d,
    )


# ---------------------------------------------------------------------------- cropping
def crop_points(points: np.ndarray | torch.Tensor, center, scale) -> np.ndarray | torch.Tensor:
    """Pixels -> normalised crop coordinates: ``n = (p - center) / (100 scale)``.

    points : (..., N, 2+) array or tensor (extra channels, e.g. visibility, are kept);
    center : (..., 2); scale : (...). Returns the same type and shape.
    """
    if isinstance(points, torch.Tensor):
        center = torch.as_tensor(center, dtype=points.dtype, device=points.device)
        scale = torch.as_tensor(scale, dtype=points.dtype, device=points.device)
        out = points.clone()
    else:
        points = np.asarray(points, dtype=np.float64)
        center = np.asarray(center, dtype=np.float64)
        scale = np.asarray(scale, dtype=np.float64)
        out = points.copy()
    out[..., :2] = (points[..., :2] - center[..., None, :]) / (100.0 * scale[..., None, None])
    return out


def crop_image(image: torch.Tensor, center, scale: float, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Crop the square box of side ``200 scale`` around ``center`` and resample it.

    Parameters
    ----------
    image : (C, H, W) float tensor
    center : (2,) (x, y) pixels, integer pixel centres
    scale : float
        box side / 200.
    size : int
        output side in pixels.
    mode : str
        ``"bilinear"`` (images; box-filtered first when shrinking by 2 or more) or ``"nearest"``
        (label images: no value is ever blended).

    Returns
    -------
    crop : (C, size, size) tensor, dtype of ``image``; zero outside the image.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"unknown mode {mode!r}; valid choices: bilinear, nearest")
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or not image.is_floating_point():
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) float tensor, got {shape}")
    size = int(size)
    if size <= 0 or not scale > 0:
        raise ValueError(f"size and scale must be positive, got size {size}, scale {scale}")
    cx, cy = float(center[0]), float(center[1])
    half = 100.0 * float(scale)
    factor = max(1, int(math.floor(2.0 * half / size))) if mode == "bilinear" else 1
    _, height, width = image.shape
    # cut the box (plus a margin, aligned to the filter factor) out of the image first
    x0 = max(0, factor * int(math.floor((cx - half - 2 * factor) / factor)))
    y0 = max(0, factor * int(math.floor((cy - half - 2 * factor) / factor)))
    x1 = min(width, int(math.ceil(cx + half + 2 * factor + 1)))
    y1 = min(height, int(math.ceil(cy + half + 2 * factor + 1)))
    if x1 <= x0 or y1 <= y0:
        return image.new_zeros(image.shape[0], size, size)
    region = image[:, y0:y1, x0:x1]
    if factor > 1:
        region = F.avg_pool2d(region[None], factor, stride=factor)[0]
        if region.shape[1] == 0 or region.shape[2] == 0:
            return image.new_zeros(image.shape[0], size, size)
    region_h, region_w = region.shape[1:]
    steps = (2.0 * torch.arange(size, dtype=torch.float64) + 1.0) / size - 1.0  # crop pixel centres
    # continuous pixel coordinate (pixel edges at integers) of each crop pixel centre, in the region
    xs = (cx + steps * half + 0.5 - x0) / factor
    ys = (cy + steps * half + 0.5 - y0) / factor
    gx = 2.0 * xs / region_w - 1.0
    gy = 2.0 * ys / region_h - 1.0
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None].to(image.dtype)
    out = F.grid_sample(region[None], grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out[0]


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as a (3, H, W) float32 tensor in [0, 1] (RGB).

    Raises ``ValueError`` naming the file when it cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as handle:
            array = np.asarray(handle.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32) / 255.0


# ---------------------------------------------------------------------------- camera fit
def fit_weak_perspective(joints3d: torch.Tensor, joints2d: torch.Tensor, min_joints: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares weak-perspective camera from 3D joints to 2D joints.

    Minimises ``sum_j v_j || s (X_j + t) - x_j ||^2`` over ``(s, tx, ty)``: linear in
    ``(s, s tx, s ty)``, solved per sample in float64.

    Parameters
    ----------
    joints3d : (B, J, 3) float tensor
        camera-axis joints (x right, y down).
    joints2d : (B, J, 3) float tensor
        normalised crop coordinates + visibility.
    min_joints : int
        fewer visible joints than this (or a non-positive scale) make the fit invalid.

    Returns
    -------
    camera : (B, 3) float tensor (s, tx, ty), dtype of ``joints3d``; zeros where invalid
    valid : (B,) bool tensor
    """
    if joints3d.ndim != 3 or joints3d.shape[-1] != 3:
        raise ValueError(f"joints3d must be (B, J, 3), got {tuple(joints3d.shape)}")
    if joints2d.shape != joints3d.shape[:2] + (3,):
        raise ValueError(f"joints2d must be (B, J, 3) = {tuple(joints3d.shape[:2]) + (3,)}, got {tuple(joints2d.shape)}")
    X = joints3d.detach().to(torch.float64)
    x = joints2d[..., :2].detach().to(torch.float64)
    w = (joints2d[..., 2].detach() > 0).to(torch.float64)  # (B, J)
    count = w.sum(dim=1)
    # normal equations of rows [X, 1, 0] -> x and [Y, 0, 1] -> y
    sw = count
    a = torch.zeros(X.shape[0], 3, 3, dtype=torch.float64, device=X.device)
    a[:, 0, 0] = (w * (X[..., 0] ** 2 + X[..., 1] ** 2)).sum(1)
    a[:, 0, 1] = a[:, 1, 0] = (w * X[..., 0]).sum(1)
    a[:, 0, 2] = a[:, 2, 0] = (w * X[..., 1]).sum(1)
    a[:, 1, 1] = sw
    a[:, 2, 2] = sw
    b = torch.stack([(w * (X[..., 0] * x[..., 0] + X[..., 1] * x[..., 1])).sum(1),
                     (w * x[..., 0]).sum(1), (w * x[..., 1]).sum(1)], dim=1)
    ok = count >= max(2, int(min_joints))
    eye = torch.eye(3, dtype=torch.float64, device=X.device)
    solution = torch.linalg.solve(torch.where(ok[:, None, None], a, eye), b[..., None])[..., 0]
    s = solution[:, 0]
    ok = ok & (s > 1e-8) & torch.isfinite(solution).all(dim=1)
    safe_s = torch.where(ok, s, torch.ones_like(s))
    camera = torch.stack([s, solution[:, 1] / safe_s, solution[:, 2] / safe_s], dim=1)
    camera = torch.where(ok[:, None], camera, torch.zeros_like(camera))
    return camera.to(joints3d.dtype), ok


# ---------------------------------------------------------------------------- prepared IUV
def iuv_hash(uvmap: Any) -> str:
    """Identity of a UV map for prepared IUV images: SHA-256 of its template hash, ``vt``
    (float64) and ``ft`` (int64). Two maps with the same hash give the same IUV images.

    uvmap : uvkit.uvmap.UVMap or a path to a UV map file.
    """
    from uvkit.uvmap import UVMap, load_uvmap

    if not isinstance(uvmap, UVMap):
        uvmap = load_uvmap(uvmap)
    digest = hashlib.sha256(b"decomr-iuv-v1")
    digest.update(str(uvmap.template_sha256).lower().encode())
    digest.update(np.ascontiguousarray(uvmap.vt, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(uvmap.ft, dtype="<i8").tobytes())
    return digest.hexdigest()




def prepared_sample_path(folder: str | os.PathLike, index: int) -> Path:
    """File of sample ``index`` in a prepared folder: ``iuv/<index // 10000>/<index>.npz``."""
    return Path(folder) / "iuv" / f"{index // 10000:04d}" / f"{index:08d}.npz"


def read_prepared_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a prepared folder, checked for format and version."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no manifest; is {folder} a folder written by decomr-prepare?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: corrupt manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PREPARED_FORMAT:
        raise ValueError(f"{path}: not a {PREPARED_FORMAT} manifest")
    if manifest.get("format_version") != PREPARED_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')}, this code reads {PREPARED_VERSION}")
    for key in ("uv_hash", "size", "dataset_sha256", "template_sha256"):
        if key not in manifest:
            raise ValueError(f"{path}: manifest misses the key '{key}'")
    return manifest


def load_prepared_sample(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """One prepared sample: ``iuv`` (3, S, S) float32, ``mask`` (S, S) float32 (0 or 1),
    ``parts`` (S, S) int64 (0 background, joint id + 1), ``camera_weak`` (3,) float32 (s, tx, ty)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            mask = archive["mask"]
            uv = archive["uv"]
            parts = archive["parts"]
            camera = archive["camera"]
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: corrupt prepared IUV file ({error}); delete it and run decomr-prepare again") from None
    mask_t = torch.from_numpy(mask.astype(bool))
    uv_t = torch.from_numpy(uv.astype(np.float32)) / 65535.0
    uv_t = uv_t * mask_t[None]
    iuv = torch.cat([mask_t[None].to(torch.float32), uv_t], dim=0)
    return {"iuv": iuv, "mask": mask_t.to(torch.float32), "parts": torch.from_numpy(parts.astype(np.int64)),
            "camera_weak": torch.from_numpy(camera.astype(np.float32))}


# ---------------------------------------------------------------------------- dataset
class StandardDataset(torch.utils.data.Dataset):
    """A standard annotation ``.npz`` with its images, as training / evaluation samples.

    Parameters
    ----------
    annotations : path or Annotations
    image_root : path
        folder the ``imgname`` entries are relative to.
    body : decomr.body.BodyModel, optional
        gives ``vertices`` (and, with ``uv_lookup``, ``location_map``) for samples with
        ``has_smpl``; without it they are zeros.
    uv_lookup : decomr.uv.UVLookup, optional
        adds ``location_map`` (3, R, R) at its default resolution.
    prepared : path, optional
        a folder written by ``decomr-prepare``: adds ``iuv``, ``mask``, ``parts``, ``camera``.
    uvmap : uvkit.uvmap.UVMap or path, optional
        required with ``prepared``: the folder must have been prepared for this UV map (hash),
        for this annotation file (SHA-256) and at ``size``; otherwise ``ValueError``.
    size : int
        crop side in pixels (224).
    joint_order : str
        ``"smpl"`` or ``"lsp14"`` (module docstring).
    check_images : bool
        look for every image at construction: missing ones are reported (``missing``, a log
        warning with the count) and their samples skipped, not a crash.
    name : str, optional
        dataset name in every sample (default the annotation file's stem).

    Each sample is a dict: ``image`` (3, S, S) float32 in [0, 1]; ``joints2d`` (24, 3) crop
    coordinates + visibility; ``joints3d`` (24, 4) metres + confidence; ``pose`` (72);
    ``betas`` (10); ``vertices`` (V, 3) (with ``body``); ``location_map`` (with ``uv_lookup``);
    ``iuv`` (3, S, S), ``mask`` (S, S) float 0/1, ``parts`` (S, S) int64 (0 background, joint
    id + 1), ``camera_weak`` (3) fitted (s, tx, ty) (zeros and ``has_iuv`` 0 when not
    prepared); ``center`` (2), ``scale`` (); ``has_smpl``, ``has_3d``, ``has_iuv`` float 0/1;
    ``index`` int64 (position in the file); ``imgname``; ``dataset``. Keys and dtypes follow
    the synthetic samples (``decomr.data.synthetic``), which also carry a perspective
    ``camera``; :class:`decomr.data.mixture.MixtureDataset` with ``keys=`` mixes the two.
    """

    def __init__(self, annotations, image_root, body=None, uv_lookup=None, prepared=None, uvmap=None,
                 size: int = 224, joint_order: str = "smpl", check_images: bool = True,
                 name: str | None = None) -> None:
        super().__init__()
        if not isinstance(annotations, Annotations):
            annotations = load_annotations(annotations, joint_order)
        self.annotations = annotations
        self.image_root = Path(image_root)
        self.body = body
        self.uv_lookup = uv_lookup
        self.size = int(size)
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.name = name or Path(annotations.path).stem
        if uv_lookup is not None and body is None:
            raise ValueError("uv_lookup needs body: location maps are made from the body's vertices")
        if body is not None and uv_lookup is not None and body.n_vertices != uv_lookup.n_vertices:
            raise ValueError(f"the body has {body.n_vertices} vertices, the UV lookup {uv_lookup.n_vertices}")
        self.prepared = None if prepared is None else Path(prepared)
        if self.prepared is not None:
            self._check_prepared(uvmap)
        indices = np.arange(len(annotations))
        self.missing: list[str] = []
        if check_images:
            exists = np.array([(self.image_root / name_).is_file() for name_ in annotations.imgname], dtype=bool)
            self.missing = [str(self.image_root / n_) for n_ in annotations.imgname[~exists]]
            indices = indices[exists]
            if self.missing:
                logger.warning("%s: %d of %d images missing under %s; their samples are skipped (first: %s)",
                               annotations.path, len(self.missing), len(annotations), self.image_root, self.missing[0])
        self.indices = indices

    def _check_prepared(self, uvmap) -> None:
        manifest = read_prepared_manifest(self.prepared)
        if uvmap is None:
            raise ValueError(f"{self.prepared}: prepared IUV needs the UV map it was made for (pass uvmap= / --uv)")
        expected = iuv_hash(uvmap)
        if manifest["uv_hash"] != expected:
            raise ValueError(f"{self.prepared}: prepared for another UV map (uv_hash {manifest['uv_hash'][:12]}..., "
                             f"the given map has {expected[:12]}...); run decomr-prepare for this UV map")
        digest = file_sha256(self.annotations.path)
        if manifest["dataset_sha256"] != digest:
            raise ValueError(f"{self.prepared}: prepared for another annotation file than {self.annotations.path} "
                             f"(dataset_sha256 differs)")
        if int(manifest["size"]) != self.size:
            raise ValueError(f"{self.prepared}: prepared at size {manifest['size']}, the dataset crops to {self.size}")
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = int(self.indices[item])
        ann = self.annotations
        center = ann.center[index]
        scale = float(ann.scale[index])
        image = load_image(self.image_root / ann.imgname[index])
        sample: dict[str, Any] = {
            "image": crop_image(image, center, scale, self.size),
            "joints2d": torch.from_numpy(crop_points(ann.joints2d[index], center, scale)).to(torch.float32),
            "joints3d": torch.from_numpy(ann.joints3d[index]).to(torch.float32),
            "pose": torch.from_numpy(ann.pose[index]).to(torch.float32),
            "betas": torch.from_numpy(ann.betas[index]).to(torch.float32),
            "center": torch.from_numpy(center).to(torch.float32),
            "scale": torch.tensor(scale, dtype=torch.float32),
            "has_smpl": torch.tensor(float(ann.has_smpl[index])),
            "has_3d": torch.tensor(float(ann.has_3d[index])),
            "index": torch.tensor(index, dtype=torch.int64),
            "imgname": str(ann.imgname[index]),
            "dataset": self.name,
        }
        if self.body is not None:
            if ann.has_smpl[index]:
                with torch.no_grad():
                    vertices = self.body(sample["pose"][None], sample["betas"][None]).vertices
                vertices = vertices.to(torch.float32)
            else:
                vertices = torch.zeros(1, self.body.n_vertices, 3)
            sample["vertices"] = vertices[0]
            if self.uv_lookup is not None:
                with torch.no_grad():
                    location_map = self.uv_lookup.location_map(vertices.to(self.uv_lookup.vt.dtype))
                sample["location_map"] = location_map[0].to(torch.float32)
        size = self.size
        prepared_file = None if self.prepared is None else prepared_sample_path(self.prepared, index)
        if prepared_file is not None and prepared_file.is_file():
            sample.update(load_prepared_sample(prepared_file))
            sample["has_iuv"] = torch.tensor(1.0)
        else:
            sample.update({"iuv": torch.zeros(3, size, size), "mask": torch.zeros(size, size),
                           "parts": torch.zeros(size, size, dtype=torch.int64), "camera_weak": torch.zeros(3),
                           "has_iuv": torch.tensor(0.0)})
        return sample
