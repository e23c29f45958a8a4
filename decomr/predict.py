"""Prediction on images: crops, meshes, overlays, IUV pictures, joints and textured meshes.

``decomr-predict --checkpoint CKPT INPUT... --out DIR`` runs a trained model on images, folders
of images or glob patterns. Per image (``<name>`` is the file's stem):

==========================  ===================================================================
file                        content
==========================  ===================================================================
``<name>.obj|ply|glb``      the predicted mesh, camera axes (+x right, +y down, +z away from
                            the camera), metres, the template's vertex order and faces
``<name>_overlay.png``      the mesh rendered over the image at the image's own resolution
``<name>_iuv.png``          the predicted IUV of the crop (R = U, G = V, B = mask; black is
                            background)
``<name>.json``             crop box, cameras (crop and original-image terms), 2D and 3D joints
``<name>_textured.obj``     with ``--texture``: the mesh with UVs, its ``.mtl`` and
                            ``<name>_textured_texture.png`` (the image's pixels moved into UV
                            space through the predicted IUV)
``<name>_front.png``,       with ``--views``: 3D pictures (pyvista offscreen when it can
``<name>_side.png``         render, else the project's renderer)
==========================  ===================================================================

plus ``predictions.json`` listing every input with its status.

Crops. The model sees a square crop resized to its input size S. ``--bbox x,y,w,h`` gives the
person's box (pixels of the original image); otherwise a first pass over the whole image
(padded to a square, resized to S) predicts a mask, whose largest blobs give the person's box.
Either box is enlarged by ``pad`` (1.25: the training crops hold the body with a margin of 15 to
35 %) and squared around its centre; the second pass predicts on that crop. Parts of a crop
outside the image are black. An image whose first-pass mask holds fewer than ``min_pixels``
foreground pixels is reported as "no person found".

Cameras. The model predicts ``(s, tx, ty)`` with ``x = s (X + tx)`` in the crop's normalised
coordinates ([-1, 1] across the crop). For a crop box with corner ``(x0, y0)`` and side ``L``
(original pixels), pixel coordinates in the original image (pixel centres at +0.5) are
``px = a (X + tx')``, ``py = a (Y + ty')`` with ``a = s L / 2`` and
``t' = t + (x0 + L / 2, y0 + L / 2) / a``. A perspective camera with focal length ``f`` pixels
and the principal point at the image centre ``(W / 2, H / 2)`` agrees with it at the body's
depth when the mesh is translated by ``T = (tx' - W / (2 a), ty' - H / (2 a), f / a)``;
``f`` defaults to 5000 pixels per 224 pixels of crop (the field's convention).
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from uvkit.atomic import writable_folder

__all__ = [
    "PredictError", "PredictOptions", "CropBox", "CameraTerms", "Prediction", "ImageResult", "PredictSummary",
    "Predictor", "IMAGE_SUFFIXES", "collect_inputs", "load_image", "crop_image", "whole_image_box",
    "box_from_bbox", "person_box", "camera_terms", "render_overlay", "iuv_picture", "texture_from_iuv",
    "load_model_for_prediction", "resolve_checkpoint", "find_uv_map", "check_device", "run_prediction", "build_parser", "main",
]

log = logging.getLogger(__name__)

#: file suffixes taken from a folder (a file named explicitly is tried whatever its suffix).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: the field's focal length: 5000 pixels for a 224-pixel crop.
DEFAULT_FOCAL_LENGTH = 5000.0
FOCAL_REFERENCE_CROP = 224.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PredictError(ValueError):
    """A prediction that cannot run (bad checkpoint, output folder, option) or an image that
    cannot be read; the message names the file."""


# ---------------------------------------------------------------------------- options
@dataclass
class PredictOptions:
    """What :func:`run_prediction` writes and how it crops.

    Attributes
    ----------
    mesh_format : str
        ``obj``, ``ply`` or ``glb`` (:data:`decomr.meshio.MESH_FORMATS`).
    texture : bool
        also write the textured OBJ + MTL + PNG.
    texture_size : int
        side of the texture image in texels (>= 8).
    views : bool
        also write front and side 3D pictures.
    view_backend : str
        ``auto``, ``pyvista`` or ``renderer`` (:data:`decomr.view.VIEW_BACKENDS`).
    view_size : int
        side of the 3D pictures in pixels.
    bbox : (x, y, w, h) or None
        the person's box in pixels of every image; None: found automatically.
    pad : float
        a box is enlarged by this factor and squared before cropping (>= 1).
    mask_threshold : float
        foreground where the predicted mask probability exceeds it (in (0, 1)).
    min_pixels : int
        fewest foreground pixels of the first pass (on the model's IUV grid) that count as a
        person.
    batch_size : int
        images per forward pass (>= 1).
    focal_length : float
        focal length in pixels per 224 pixels of crop, for the perspective terms of the JSON.
    overlay_alpha : float
        opacity of the mesh in the overlay, in [0, 1].
    """

    mesh_format: str = "obj"
    texture: bool = False
    texture_size: int = 256
    views: bool = False
    view_backend: str = "auto"
    view_size: int = 512
    bbox: tuple[float, float, float, float] | None = None
    pad: float = 1.25
    mask_threshold: float = 0.5
    min_pixels: int = 4
    batch_size: int = 8
    focal_length: float = DEFAULT_FOCAL_LENGTH
    overlay_alpha: float = 0.8

    def __post_init__(self) -> None:
        from decomr.meshio import check_mesh_format
        from decomr.view import check_view_backend

        try:
            self.mesh_format = check_mesh_format(self.mesh_format)
            check_view_backend(self.view_backend)
        except ValueError as error:
            raise PredictError(str(error)) from None
        checks = [
            (self.texture_size >= 8, f"texture_size must be >= 8, got {self.texture_size}"),
            (self.view_size >= 16, f"view_size must be >= 16, got {self.view_size}"),
            (self.pad >= 1.0, f"pad must be >= 1, got {self.pad}"),
            (0.0 < self.mask_threshold < 1.0, f"mask_threshold must be in (0, 1), got {self.mask_threshold}"),
            (self.min_pixels >= 1, f"min_pixels must be >= 1, got {self.min_pixels}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.focal_length > 0, f"focal_length must be > 0, got {self.focal_length}"),
            (0.0 <= self.overlay_alpha <= 1.0, f"overlay_alpha must be in [0, 1], got {self.overlay_alpha}"),
        ]
        for ok, message in checks:
            if not ok:
                raise PredictError(message)
        if self.bbox is not None:
            if len(self.bbox) != 4 or not all(np.isfinite(self.bbox)):
                raise PredictError(f"bbox must be x,y,w,h, got {self.bbox}")
            if self.bbox[2] <= 0 or self.bbox[3] <= 0:
                raise PredictError(f"bbox width and height must be > 0, got {self.bbox}")
            self.bbox = tuple(float(v) for v in self.bbox)  # type: ignore[assignment]


# ---------------------------------------------------------------------------- inputs
def collect_inputs(inputs: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Expand images, folders and glob patterns.

    Parameters
    ----------
    inputs : iterable of str
        files (taken whatever their suffix), folders (their files with a suffix in
        :data:`IMAGE_SUFFIXES`, sorted, not recursive) and glob patterns (``**`` recurses).

    Returns
    -------
    paths : list of Path
        in the order given, duplicates removed.
    unmatched : list of str
        inputs that named nothing (a missing file, an empty folder or pattern).
    """
    paths: list[Path] = []
    seen: set[Path] = set()
    unmatched: list[str] = []

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found = [path]
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True)
                           if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
        else:
            found = []
        if not found:
            unmatched.append(text)
        for item in found:
            add(item)
    return paths, unmatched


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB, EXIF orientation applied.

    Returns
    -------
    image : (H, W, 3) uint8 array

    Raises
    ------
    PredictError
        the file is missing, corrupt, truncated or not an image format Pillow reads.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except FileNotFoundError:
        raise PredictError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise PredictError(f"{path}: not an image, or a format Pillow does not read") from None
    except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data
        raise PredictError(f"{path}: corrupt or unreadable image: {error}") from None
    array = np.asarray(image, dtype=np.uint8)
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise PredictError(f"{path}: image too small ({array.shape[1]} x {array.shape[0]} pixels)")
    return array


# ---------------------------------------------------------------------------- crops
@dataclass(frozen=True)
class CropBox:
    """A square crop of an image, in integer pixels; it may extend past the image's borders.

    Attributes
    ----------
    x0, y0 : int
        top-left corner (column, row).
    side : int
        side length (>= 2).
    """

    x0: int
    y0: int
    side: int

    def to_dict(self) -> dict[str, int]:
        return {"x0": self.x0, "y0": self.y0, "side": self.side}


def _square_box(cx: float, cy: float, side: float) -> CropBox:
    side_i = max(2, int(round(side)))
    return CropBox(int(round(cx - side_i / 2.0)), int(round(cy - side_i / 2.0)), side_i)


def whole_image_box(height: int, width: int) -> CropBox:
    """The square holding the whole image, centred on it (the first pass's crop)."""
    side = max(int(height), int(width))
    return CropBox(int((width - side) // 2), int((height - side) // 2), side)


def box_from_bbox(bbox: Sequence[float], pad: float) -> CropBox:
    """The crop of a person's box ``(x, y, w, h)`` (pixels): centred on it, side ``pad * max(w, h)``."""
    x, y, w, h = (float(v) for v in bbox)
    return _square_box(x + w / 2.0, y + h / 2.0, pad * max(w, h))


def crop_image(image: np.ndarray, box: CropBox, size: int) -> torch.Tensor:
    """The square crop ``box`` of an image resized to ``size`` (Pillow bilinear, antialiased).

    Parameters
    ----------
    image : (H, W, 3) uint8 array
    box : CropBox
    size : int

    Returns
    -------
    crop : (3, size, size) float32 tensor in [0, 1]; black outside the image.
    """
    from PIL import Image

    picture = Image.fromarray(image)
    cropped = picture.crop((box.x0, box.y0, box.x0 + box.side, box.y0 + box.side))
    resized = cropped.resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def person_box(mask: np.ndarray, box: CropBox, image_size: tuple[int, int], threshold: float = 0.5,
               pad: float = 1.25, min_pixels: int = 4) -> CropBox | None:
    """The crop around the person seen in a predicted mask.

    Foreground is ``mask > threshold`` on pixels whose centre lies inside the image; of its
    8-connected blobs, those at least a tenth of the largest are kept (stray specks are
    dropped). Their bounding box (in original pixels) is enlarged by ``pad`` and squared.

    Parameters
    ----------
    mask : (h, w) float array
        foreground probability over the crop ``box`` (the model's IUV grid).
    box : CropBox
        the crop the mask was predicted on.
    image_size : (H, W)
        the original image's size.
    threshold, pad, min_pixels :
        as in :class:`PredictOptions`.

    Returns
    -------
    CropBox or None
        None when fewer than ``min_pixels`` foreground pixels remain.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (h, w), got {mask.shape}")
    rows, cols = mask.shape
    height, width = image_size
    step_x = box.side / cols
    step_y = box.side / rows
    centre_x = box.x0 + (np.arange(cols) + 0.5) * step_x
    centre_y = box.y0 + (np.arange(rows) + 0.5) * step_y
    inside = ((centre_y >= 0) & (centre_y < height))[:, None] & ((centre_x >= 0) & (centre_x < width))[None, :]
    foreground = (mask > threshold) & inside
    if foreground.sum() < min_pixels:
        return None
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    kept = np.isin(labels, 1 + np.nonzero(sizes >= 0.1 * sizes.max())[0])
    if kept.sum() < min_pixels:
        return None
    ys, xs = np.nonzero(kept)
    left = box.x0 + xs.min() * step_x
    right = box.x0 + (xs.max() + 1) * step_x
    top = box.y0 + ys.min() * step_y
    bottom = box.y0 + (ys.max() + 1) * step_y
    left, right = max(left, 0.0), min(right, float(width))
    top, bottom = max(top, 0.0), min(bottom, float(height))
    return _square_box((left + right) / 2.0, (top + bottom) / 2.0, pad * max(right - left, bottom - top))


# ---------------------------------------------------------------------------- cameras
@dataclass
class CameraTerms:
    """The predicted camera of one image, in the crop's and in the original image's terms.

    Attributes
    ----------
    crop : (3,) float array
        ``(s, tx, ty)``: ``x = s (X + tx)`` in the crop's normalised coordinates.
    scale_px : float
        ``a = s L / 2``: original-image pixels per metre.
    translation_px : (2,) float array
        ``t'``: ``px = a (X + tx')``, ``py = a (Y + ty')`` (original pixels, centres at +0.5).
    image_size : (H, W)
    focal_length_px : float
        focal length of the perspective terms, original pixels.
    perspective_translation : (3,) float array
        ``T``: the mesh translated by ``T`` and seen by a pinhole camera (``focal_length_px``,
        principal point at the image centre) projects like the weak-perspective camera.
    """

    crop: np.ndarray
    scale_px: float
    translation_px: np.ndarray
    image_size: tuple[int, int]
    focal_length_px: float
    perspective_translation: np.ndarray

    def project_pixels(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-axes points -> (N, 2) original-image pixel coordinates."""
        return self.scale_px * (np.asarray(points)[:, :2] + self.translation_px)

    def to_dict(self) -> dict[str, Any]:
        s, tx, ty = (float(v) for v in self.crop)
        height, width = self.image_size
        return {
            "crop": {"s": s, "tx": tx, "ty": ty,
                     "meaning": "x = s (X + tx), y = s (Y + ty) in the crop's normalised coordinates [-1, 1]"},
            "original": {
                "scale_px": float(self.scale_px),
                "tx": float(self.translation_px[0]), "ty": float(self.translation_px[1]),
                "s_x": float(2.0 * self.scale_px / width), "s_y": float(2.0 * self.scale_px / height),
                "meaning": "px = scale_px (X + tx), py = scale_px (Y + ty) in pixels of the original image "
                           "(pixel centres at +0.5); normalised x = s_x (X + tx) - 1, y = s_y (Y + ty) - 1",
            },
            "perspective": {
                "focal_length_px": float(self.focal_length_px),
                "principal_point_px": [width / 2.0, height / 2.0],
                "translation": [float(v) for v in self.perspective_translation],
                "meaning": "pixel = f (X + T)_xy / (Z + T_z) + principal point, matches the weak-perspective "
                           "camera at the body's depth",
            },
        }


def camera_terms(camera: np.ndarray, box: CropBox, image_size: tuple[int, int],
                 focal_length: float = DEFAULT_FOCAL_LENGTH) -> CameraTerms:
    """Map a crop's weak-perspective camera ``(s, tx, ty)`` to the original image.

    Parameters
    ----------
    camera : (3,) float array
    box : CropBox
    image_size : (H, W)
    focal_length : float
        pixels per 224 pixels of crop (scaled to the crop's side in the original image).

    Returns
    -------
    CameraTerms
    """
    camera = np.asarray(camera, dtype=np.float64)
    s = float(camera[0])
    if abs(s) < 1e-9:
        s = 1e-9 if s >= 0 else -1e-9
    half = box.side / 2.0
    scale = s * half
    translation = camera[1:3] + np.array([box.x0 + half, box.y0 + half]) / scale
    height, width = image_size
    focal = focal_length * box.side / FOCAL_REFERENCE_CROP
    perspective = np.array([translation[0] - width / (2.0 * scale), translation[1] - height / (2.0 * scale),
                            focal / scale])
    return CameraTerms(crop=camera.copy(), scale_px=scale, translation_px=translation, image_size=(height, width),
                       focal_length_px=focal, perspective_translation=perspective)


# ---------------------------------------------------------------------------- pictures
def render_overlay(image: np.ndarray, vertices: np.ndarray, faces: np.ndarray, camera: CameraTerms,
                   alpha: float = 0.8, colour: tuple[float, float, float] = (0.70, 0.76, 0.86)) -> np.ndarray:
    """The mesh, shaded, over the image at the image's resolution.

    Parameters
    ----------
    image : (H, W, 3) uint8 array
    vertices : (V, 3) float array
        camera axes.
    faces : (F, 3) int array
    camera : CameraTerms
    alpha : float
        the mesh's opacity.

    Returns
    -------
    overlay : (H, W, 3) uint8 array
    """
    from decomr.render.rasterize import rasterize
    from decomr.render.shading import vertex_normals

    height, width = image.shape[:2]
    points = torch.as_tensor(np.asarray(vertices), dtype=torch.float32)
    faces_t = torch.as_tensor(np.asarray(faces, dtype=np.int64))
    pixels = torch.as_tensor(camera.project_pixels(vertices), dtype=torch.float32)
    normalised = pixels * torch.tensor([2.0 / width, 2.0 / height]) - 1.0
    screen = torch.cat([normalised, points[:, 2:3]], dim=1)[None]
    fragments = rasterize(screen, faces_t, (height, width), camera=None, cull_backfaces=False)
    covered = fragments.face_ids[0] >= 0
    if not bool(covered.any()):
        return image.copy()
    normals = vertex_normals(points[None], faces_t)[0]
    ids = fragments.face_ids[0][covered]
    pixel_normal = (normals[faces_t[ids]] * fragments.bary[0][covered][..., None]).sum(dim=1)
    light = 0.35 + 0.65 * F.normalize(pixel_normal, dim=-1)[:, 2].abs()
    shaded = torch.tensor(colour)[None] * light[:, None] * 255.0
    out = torch.from_numpy(image.astype(np.float32))
    out[covered] = (1.0 - alpha) * out[covered] + alpha * shaded
    return out.clamp(0, 255).round().to(torch.uint8).numpy()


def iuv_picture(iuv: np.ndarray, size: int, threshold: float = 0.5) -> np.ndarray:
    """The IUV image as a picture: R = U, G = V, B = mask probability on the foreground, black
    on the background, scaled to ``size`` by nearest neighbour.

    iuv : (3, h, w) float array -> (size, size, 3) uint8 array.
    """
    iuv = np.asarray(iuv, dtype=np.float32)
    foreground = iuv[0] > threshold
    picture = np.stack([iuv[1], iuv[2], iuv[0]], axis=-1) * foreground[..., None]
    picture = (np.clip(picture, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    rows = (np.arange(size) * iuv.shape[1] // size).clip(max=iuv.shape[1] - 1)
    cols = (np.arange(size) * iuv.shape[2] // size).clip(max=iuv.shape[2] - 1)
    return picture[rows][:, cols]


def _upsample_iuv(iuv: torch.Tensor, size: int) -> torch.Tensor:
    """(3, h, w) -> (3, size, size): bilinear inside charts, nearest where U or V jumps (seams,
    chart borders), so that no pixel gets a UV blended across a cut."""
    low = iuv[None]
    bilinear = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)[0]
    nearest = F.interpolate(low, size=(size, size), mode="nearest-exact")[0]
    uv = low[:, 1:3]
    spread = (F.max_pool2d(uv, 3, 1, 1) + F.max_pool2d(-uv, 3, 1, 1)).amax(dim=1, keepdim=True)
    background = F.max_pool2d((low[:, :1] <= 0.5).float(), 3, 1, 1)
    unsafe = ((spread > 0.1) | (background > 0)).float()
    unsafe = F.interpolate(unsafe, size=(size, size), mode="nearest-exact")[0, 0] > 0
    return torch.where(unsafe[None], nearest, bilinear)


def texture_from_iuv(crop: torch.Tensor, iuv: torch.Tensor, resolution: int = 256,
                     threshold: float = 0.5) -> np.ndarray:
    """Move a crop's pixels into UV space through its IUV image.

    Each foreground pixel (mask > ``threshold``) lands on texel ``round(uv * (R - 1))`` (the
    project's convention: u along columns, v along rows); colliding pixels are averaged; texels
    no pixel reached (the hidden side of the body) take the colour of the nearest reached texel.

    Parameters
    ----------
    crop : (3, S, S) float tensor in [0, 1]
        the model's input crop.
    iuv : (3, h, w) float tensor
        the predicted IUV of the crop (upsampled to S, see :func:`_upsample_iuv`).
    resolution : int
        R, the texture's side.

    Returns
    -------
    texture : (R, R, 3) uint8 array (row r at v = r / (R - 1)); mid grey when no pixel is
    foreground.
    """
    from scipy import ndimage

    size = crop.shape[-1]
    dense = _upsample_iuv(iuv.float(), size)
    keep = (dense[0] > threshold).reshape(-1).numpy()
    texture = np.full((resolution, resolution, 3), 128, dtype=np.uint8)
    if not keep.any():
        return texture
    uv = dense[1:3].reshape(2, -1).numpy()[:, keep].astype(np.float64).clip(0.0, 1.0)
    texel = np.round(uv * (resolution - 1)).astype(np.int64)
    index = texel[1] * resolution + texel[0]
    colours = crop.reshape(3, -1).numpy()[:, keep].astype(np.float64)
    counts = np.bincount(index, minlength=resolution * resolution)
    sums = np.stack([np.bincount(index, weights=c, minlength=resolution * resolution) for c in colours], axis=1)
    filled = counts > 0
    means = np.zeros_like(sums)
    means[filled] = sums[filled] / counts[filled, None]
    means = means.reshape(resolution, resolution, 3)
    filled = filled.reshape(resolution, resolution)
    _, (near_r, near_c) = ndimage.distance_transform_edt(~filled, return_indices=True)
    means = means[near_r, near_c]
    return (np.clip(means, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------- the model
def _normalize(images: torch.Tensor) -> torch.Tensor:
    mean = images.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (images - mean) / std


def load_model_for_prediction(checkpoint: str | os.PathLike | None, device: str = "cpu", uv_map: str | None = None,
                              template: str | None = None):
    """A trained model in evaluation mode, and its config.

    Parameters
    ----------
    checkpoint : str, PathLike or None
        a ``decomr-train`` checkpoint or a released model; None: the model released with the
        project (:func:`decomr.checkpoint.default_model_path`).
    device : str
    uv_map : str or None
        the UV map file (default: the one embedded in the checkpoint, or for an older
        checkpoint the file where training left it).
    template : str or None
        the body template (default: the one the checkpoint names); checked by hash.

    Returns
    -------
    (model, config)

    Raises
    ------
    PredictError, decomr.checkpoint.CheckpointError
        missing or unreadable checkpoint, a checkpoint of another UV map or template.
    """
    from decomr.checkpoint import load_model

    path = resolve_checkpoint(checkpoint)
    model, config = load_model(path, device=device, uv_map=uv_map, template=template)
    return model.eval(), config


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> Path:
    """``checkpoint`` as a path, or the released model's when None; a missing file is a
    :class:`PredictError` that names it."""
    from decomr.checkpoint import default_model_path

    if checkpoint is None:
        path = default_model_path()
        if not path.is_file():
            raise PredictError(f"no --checkpoint given and the released model is not installed ({path}); "
                               f"give a checkpoint written by decomr-train")
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise PredictError(f"checkpoint not found: {path}")
    return path


def find_uv_map(checkpoint: str | os.PathLike, uv_map: str | None = None) -> Path:
    """The UV map file a version-1 checkpoint was trained with (the same search as
    ``decomr.checkpoint.load_model``): ``uv_map`` when given. Version-2 checkpoints carry their
    map (:func:`decomr.checkpoint.checkpoint_uvmap`)."""
    from decomr import checkpoint as checkpoints

    if uv_map:
        return Path(uv_map)
    return checkpoints.find_uv_map(checkpoints.load_checkpoint(checkpoint), Path(checkpoint), None)


def _template_arrays(checkpoint: Path, uv_map: str | None,
                     template: str | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(joint regressor (J, V) or None, vt (T, 2), ft (F, 3)) of a model's template and UV map."""
    from decomr import checkpoint as checkpoints

    data = checkpoints.load_checkpoint(checkpoint)
    template = checkpoints.checkpoint_template(data, checkpoint, template)
    regressor = template.extras.get("J_regressor_eval") if template.extras else None
    if regressor is None and template.J_regressor is not None:
        regressor = template.joint_regressor_dense()
    uvmap = checkpoints.checkpoint_uvmap(data, checkpoint, uv_map)
    return (None if regressor is None else np.asarray(regressor, dtype=np.float64),
            np.asarray(uvmap.vt, dtype=np.float64), np.asarray(uvmap.ft, dtype=np.int64))


# ---------------------------------------------------------------------------- prediction
@dataclass
class Prediction:
    """One image's prediction.

    Attributes
    ----------
    box : CropBox
        the crop the second pass saw.
    box_source : str
        ``bbox`` (given) or ``auto`` (from the first pass's mask).
    crop : (3, S, S) float tensor
        the crop (in [0, 1]).
    iuv : (3, h, w) float tensor
    camera : CameraTerms
    vertices : (V, 3) float64 array
        camera axes, metres.
    joints3d : (J, 3) float64 array or None
    joints2d : (J, 2) float64 array or None
        original-image pixels.
    mask_fraction : float
        share of the crop's IUV grid predicted foreground.
    """

    box: CropBox
    box_source: str
    crop: torch.Tensor
    iuv: torch.Tensor
    camera: CameraTerms
    vertices: np.ndarray
    joints3d: np.ndarray | None
    joints2d: np.ndarray | None
    mask_fraction: float


class Predictor:
    """Runs a model on whole images: automatic or given crops, two passes, camera mapping.

    Parameters
    ----------
    model : callable
        ``model(images)`` with (B, 3, S, S) ImageNet-normalised images returns an object with
        ``iuv`` (B, 3, h, w), ``camera`` (B, 3) and ``vertices`` (B, V, 3) (a
        :class:`decomr.models.DecoMR` in evaluation mode).
    faces : (F, 3) int array
    input_size : int
        S.
    regressor : (J, V) float array or None
        joints from vertices.
    vt, ft : (T, 2) float and (F, 3) int arrays or None
        the UV map (for textured meshes).
    options : PredictOptions
    device : str
    """

    def __init__(self, model: Callable, faces: np.ndarray, input_size: int, regressor: np.ndarray | None = None,
                 vt: np.ndarray | None = None, ft: np.ndarray | None = None, options: PredictOptions | None = None,
                 device: str = "cpu"):
        self.model = model
        self.faces = np.asarray(faces, dtype=np.int64)
        self.input_size = int(input_size)
        self.regressor = None if regressor is None else np.asarray(regressor, dtype=np.float64)
        self.vt = vt
        self.ft = ft
        self.options = options or PredictOptions()
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike | None, options: PredictOptions | None = None,
                        device: str = "cpu", uv_map: str | None = None, template: str | None = None) -> "Predictor":
        """Load a checkpoint (:func:`load_model_for_prediction`; None: the released model) into a
        predictor."""
        path = resolve_checkpoint(checkpoint)
        model, config = load_model_for_prediction(path, device=device, uv_map=uv_map, template=template)
        regressor, vt, ft = _template_arrays(path, uv_map, template)
        faces = model.uv_lookup.faces.detach().cpu().numpy()
        return cls(model, faces, config.model.input_size, regressor, vt, ft, options, device)

    @torch.no_grad()
    def _forward(self, crops: list[torch.Tensor]):
        images = torch.stack(crops).to(self.device)
        output = self.model(_normalize(images))
        return (output.iuv.detach().float().cpu(), output.camera.detach().double().cpu().numpy(),
                output.vertices.detach().double().cpu().numpy())

    def find_boxes(self, images: Sequence[np.ndarray]) -> list[CropBox | None]:
        """First pass: the person's crop in each whole image (None where no person is found)."""
        opts = self.options
        boxes = [whole_image_box(*image.shape[:2]) for image in images]
        iuv, _, _ = self._forward([crop_image(image, box, self.input_size) for image, box in zip(images, boxes)])
        return [person_box(iuv[k, 0].numpy(), boxes[k], images[k].shape[:2], opts.mask_threshold, opts.pad,
                           opts.min_pixels) for k in range(len(images))]

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction | None]:
        """Predict every image (None where no person is found).

        images : sequence of (H, W, 3) uint8 arrays.
        """
        opts = self.options
        if not images:
            return []
        if opts.bbox is not None:
            boxes: list[CropBox | None] = [box_from_bbox(opts.bbox, opts.pad)] * len(images)
            source = "bbox"
        else:
            boxes = self.find_boxes(images)
            source = "auto"
        chosen = [k for k, box in enumerate(boxes) if box is not None]
        results: list[Prediction | None] = [None] * len(images)
        if not chosen:
            return results
        crops = [crop_image(images[k], boxes[k], self.input_size) for k in chosen]
        iuv, cameras, vertices = self._forward(crops)
        for row, k in enumerate(chosen):
            box = boxes[k]
            terms = camera_terms(cameras[row], box, images[k].shape[:2], opts.focal_length)
            joints3d = joints2d = None
            if self.regressor is not None and self.regressor.shape[1] == vertices.shape[1]:
                joints3d = self.regressor @ vertices[row]
                joints2d = terms.project_pixels(joints3d)
            fraction = float((iuv[row, 0] > opts.mask_threshold).float().mean())
            results[k] = Prediction(box=box, box_source=source, crop=crops[row], iuv=iuv[row], camera=terms,
                                    vertices=vertices[row], joints3d=joints3d, joints2d=joints2d,
                                    mask_fraction=fraction)
        return results

    def write(self, prediction: Prediction, image: np.ndarray, out_dir: Path, name: str,
              source: str = "") -> dict[str, str]:
        """Write one image's files into ``out_dir``; returns kind -> path."""
        from PIL import Image

        from decomr.meshio import write_mesh, write_textured_obj
        from uvkit.atomic import atomic_path, write_text

        opts = self.options
        files: dict[str, str] = {}

        def save_png(path: Path, picture: np.ndarray) -> None:
            with atomic_path(path) as tmp:
                Image.fromarray(picture).save(tmp, format="PNG")

        mesh_path = out_dir / f"{name}.{opts.mesh_format}"
        write_mesh(mesh_path, prediction.vertices, self.faces, opts.mesh_format)
        files["mesh"] = str(mesh_path)
        overlay = render_overlay(image, prediction.vertices, self.faces, prediction.camera, opts.overlay_alpha)
        save_png(out_dir / f"{name}_overlay.png", overlay)
        files["overlay"] = str(out_dir / f"{name}_overlay.png")
        save_png(out_dir / f"{name}_iuv.png", iuv_picture(prediction.iuv.numpy(), self.input_size,
                                                          opts.mask_threshold))
        files["iuv"] = str(out_dir / f"{name}_iuv.png")
        if opts.texture:
            if self.vt is None or self.ft is None:
                raise PredictError("a textured mesh needs the UV map's vt and ft")
            texture = texture_from_iuv(prediction.crop, prediction.iuv, opts.texture_size, opts.mask_threshold)
            written = write_textured_obj(out_dir / f"{name}_textured.obj", prediction.vertices, self.faces,
                                         self.vt, self.ft, texture)
            files.update(textured_mesh=str(written.mesh), material=str(written.material),
                         texture=str(written.texture))
        if opts.views:
            from decomr.view import render_views

            views = render_views(prediction.vertices, self.faces, out_dir / name, size=opts.view_size,
                                 backend=opts.view_backend)
            files.update({f"view_{k}": str(v) for k, v in views.paths.items()})
            files["view_backend"] = views.backend
        from uvkit.parts import JOINT_NAMES

        height, width = image.shape[:2]
        record: dict[str, Any] = {
            "image": source,
            "image_size": {"height": height, "width": width},
            "crop": {**prediction.box.to_dict(), "source": prediction.box_source, "input_size": self.input_size},
            "camera": prediction.camera.to_dict(),
            "mask_fraction": prediction.mask_fraction,
            "mesh_axes": "camera: +x right, +y down, +z away from the camera; metres",
        }
        if prediction.joints3d is not None:
            names = list(JOINT_NAMES) if len(prediction.joints3d) == len(JOINT_NAMES) else None
            record["joint_names"] = names
            record["joints3d"] = np.round(prediction.joints3d, 6).tolist()
            record["joints2d_px"] = np.round(prediction.joints2d, 3).tolist()
        json_path = out_dir / f"{name}.json"
        write_text(json_path, json.dumps(record, indent=1) + "\n")
        files["json"] = str(json_path)
        return files


# ---------------------------------------------------------------------------- a whole run
@dataclass
class ImageResult:
    """What happened to one input: ``status`` is ``ok``, ``no-person`` or ``error``."""

    source: str
    status: str
    message: str = ""
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class PredictSummary:
    """A run's results, one per input (unmatched inputs included), and ``predictions.json``."""

    results: list[ImageResult]
    summary_path: Path | None = None

    @property
    def n_ok(self) -> int:
        return sum(r.status == "ok" for r in self.results)

    @property
    def all_ok(self) -> bool:
        return bool(self.results) and all(r.status == "ok" for r in self.results)


def _prepare_out_dir(path: Path) -> Path:
    try:
        writable_folder(path)
    except OSError as error:
        raise PredictError(f"output directory {path} is not writable: {error.strerror or error}") from None
    return path


def _unique_names(paths: Sequence[Path]) -> list[str]:
    """Output names: the file's stem, with the suffix (then a counter) added on collisions."""
    names: list[str] = []
    used: set[str] = set()
    stems = [p.stem for p in paths]
    for path in paths:
        name = path.stem if stems.count(path.stem) == 1 else f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        base, count = name, 2
        while name in used:
            name, count = f"{base}_{count}", count + 1
        used.add(name)
        names.append(name)
    return names


def check_device(device: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto``; raise :class:`PredictError` otherwise or when
    CUDA is asked for and absent."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        raise PredictError(f"unknown device {device!r}; valid choices: auto, cpu, cuda, cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PredictError(f"device {device!r}: CUDA is not available on this machine")
    return device


def run_prediction(predictor: Predictor, inputs: Sequence[str], out_dir: str | os.PathLike,
                   progress: Callable[[int, int], None] | None = None) -> PredictSummary:
    """Predict every input image and write its files.

    Parameters
    ----------
    predictor : Predictor
    inputs : sequence of str
        images, folders, glob patterns (:func:`collect_inputs`).
    out_dir : str or PathLike
        created when missing.
    progress : callable (done, total) or None

    Returns
    -------
    PredictSummary
        an unreadable image, an image with no person, or a failure while writing is recorded
        per image and the others go on.
    """
    out = _prepare_out_dir(Path(out_dir))
    paths, unmatched = collect_inputs(inputs)
    results: list[ImageResult] = [ImageResult(text, "error", f"{text}: no such file, folder or matching image")
                                  for text in unmatched]
    names = _unique_names(paths)
    total = len(paths)
    done = 0
    if progress:
        progress(0, total)
    size = predictor.options.batch_size
    for start in range(0, total, size):
        chunk = list(zip(paths[start:start + size], names[start:start + size]))
        loaded: list[tuple[Path, str, np.ndarray]] = []
        for path, name in chunk:
            try:
                loaded.append((path, name, load_image(path)))
            except PredictError as error:
                results.append(ImageResult(str(path), "error", str(error)))
        try:
            predictions = predictor.predict([image for _, _, image in loaded])
        except Exception as error:  # one bad batch must not stop the run: retry image by image
            log.warning("batch failed (%s: %s); predicting its images one by one", type(error).__name__, error)
            predictions = []
            for path, _, image in loaded:
                try:
                    predictions.extend(predictor.predict([image]))
                except Exception as single:
                    predictions.append(single)  # type: ignore[arg-type]
        for (path, name, image), prediction in zip(loaded, predictions):
            if isinstance(prediction, Exception):
                results.append(ImageResult(str(path), "error", f"{path}: prediction failed: "
                                           f"{type(prediction).__name__}: {prediction}"))
            elif prediction is None:
                results.append(ImageResult(str(path), "no-person", f"{path}: no person found"))
            else:
                try:
                    files = predictor.write(prediction, image, out, name, source=str(path))
                    results.append(ImageResult(str(path), "ok", "", files))
                except Exception as error:
                    results.append(ImageResult(str(path), "error", f"{path}: writing its outputs failed: "
                                               f"{type(error).__name__}: {error}"))
        done += len(chunk)
        if progress:
            progress(done, total)
    from uvkit.atomic import write_text

    summary_path = out / "predictions.json"
    record = {"n_inputs": len(results), "n_ok": sum(r.status == "ok" for r in results),
              "results": [{"image": r.source, "status": r.status, "message": r.message, "files": r.files}
                          for r in results]}
    write_text(summary_path, json.dumps(record, indent=1) + "\n")
    return PredictSummary(results, summary_path)


# ---------------------------------------------------------------------------- CLI
def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bbox must be x,y,w,h (numbers), got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--bbox must be x,y,w,h (four numbers), got {text!r}")
    return values  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    from decomr.meshio import MESH_FORMATS
    from decomr.view import VIEW_BACKENDS

    parser = argparse.ArgumentParser(prog="decomr-predict", description=(
        "Predict body meshes from images with a trained DecoMR checkpoint. Writes per image the mesh, an "
        "overlay at the image's resolution, the IUV picture and a JSON (cameras, 2D and 3D joints); "
        "optionally a textured mesh and 3D pictures. Exit status 0 only when every image succeeded."))
    parser.add_argument("--checkpoint", help="checkpoint written by decomr-train (default: the model released with "
                        "the project, assets/models/decomr_open_resnet18.pt)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders of images or glob patterns")
    parser.add_argument("--out", required=True, help="output folder (created when missing)")
    parser.add_argument("--bbox", type=_parse_bbox, help="the person's box x,y,w,h in pixels (default: found "
                        "automatically from the model's own mask)")
    parser.add_argument("--pad", type=float, default=1.25, help="crop side / person box side (default 1.25)")
    parser.add_argument("--mesh-format", default="obj", choices=MESH_FORMATS, help="mesh file format (default obj)")
    parser.add_argument("--texture", action="store_true", help="also write a textured OBJ + MTL + PNG")
    parser.add_argument("--texture-size", type=int, default=256, help="texture side in texels (default 256)")
    parser.add_argument("--views", action="store_true", help="also write front and side 3D pictures")
    parser.add_argument("--view-backend", default="auto", choices=VIEW_BACKENDS,
                        help="auto: pyvista offscreen when it can render, else the project's renderer")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--uv-map", "--uv", dest="uv_map", help="the UV map file the model was trained with (default: "
                        "the one embedded in the checkpoint, or for an older checkpoint the path it stores; "
                        "checked by hash)")
    parser.add_argument("--template", help="the body template (default: the one the checkpoint names; checked by hash)")
    parser.add_argument("--focal-length", type=float, default=DEFAULT_FOCAL_LENGTH,
                        help="focal length in pixels per 224 pixels of crop, for the JSON's perspective terms")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _progress_bar(quiet: bool) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    if quiet:
        return (lambda done, total: None), (lambda: None)
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if tqdm is not None:
            if "bar" not in state:
                state["bar"] = tqdm(total=total, unit="image", desc="decomr-predict", file=sys.stderr)
            state["bar"].update(done - state["bar"].n)
        else:
            sys.stderr.write(f"\rpredicted {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def main(argv: list[str] | None = None) -> int:
    """``decomr-predict``: exit status 0 when every image succeeded, 1 when some failed or held
    no person, 2 when the run could not start (bad checkpoint, option or output folder)."""
    from decomr.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        options = PredictOptions(mesh_format=args.mesh_format, texture=args.texture, texture_size=args.texture_size,
                                 views=args.views, view_backend=args.view_backend, bbox=args.bbox, pad=args.pad,
                                 batch_size=args.batch_size, focal_length=args.focal_length)
        device = check_device(args.device)
        _prepare_out_dir(Path(args.out))
        predictor = Predictor.from_checkpoint(args.checkpoint, options, device=device, uv_map=args.uv_map,
                                              template=args.template)
    except (PredictError, CheckpointError, ValueError, FileNotFoundError, PermissionError) as error:
        print(f"decomr-predict: error: {error}", file=sys.stderr)
        return 2
    update, close = _progress_bar(args.quiet)
    try:
        summary = run_prediction(predictor, args.inputs, args.out, progress=update)
    except PredictError as error:
        close()
        print(f"decomr-predict: error: {error}", file=sys.stderr)
        return 2
    close()
    for result in summary.results:
        if result.status != "ok":
            print(f"decomr-predict: {result.status}: {result.message}", file=sys.stderr)
    print(f"{summary.n_ok}/{len(summary.results)} images predicted; outputs in {args.out} "
          f"(list: {summary.summary_path})")
    return 0 if summary.all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
