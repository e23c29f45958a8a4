"""Training augmentation of DecoMR (paper, section 4): scale, rotation, flip, colour.

- scale ``k ~ N(1, 0.25)`` clipped to [0.75, 1.25] (the person appears ``k`` times larger);
- in-plane rotation ``N(0, 30 deg)`` clipped to +-60 deg, with probability 0.4;
- horizontal flip with probability 0.5: columns reversed, U mirrored (``u -> 1 - u`` on the
  body: valid on a left-right symmetric UV map only), left and right joints swapped
  (``uvkit.parts.MIRROR_JOINTS``), the pose mirrored (``decomr.body.mirror_pose``), the vertices
  mirrored (template mirror permutation, x negated), the camera's x translation negated;
- per-channel colour scale in [0.6, 1.4] on the image.

Samples are dicts of the keys of :mod:`decomr.data.synthetic` (single samples, no batch axis);
missing keys are skipped, unknown keys pass through untouched, so the same code serves the
field's datasets. Geometry is kept consistent: a rotation by ``theta`` of the image about its
centre is a rotation of the camera about its optical axis, so 3D joints, vertices, the global
orientation and the camera translation turn by ``R_z(theta)`` (camera axes, +y down) and 2D
joints by the same 2D rotation; a scale ``k`` multiplies 2D joints, the focal length and the
weak-perspective scale. ``center`` and ``scale`` (where the crop came from) are not changed.
Images are resampled bilinearly, IUV, mask and parts by nearest neighbour (U and V are never
blended across a seam). Square crops only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from uvkit.parts import MIRROR_JOINTS

__all__ = ["AugmentConfig", "AugmentParams", "Augmenter", "flip_sample", "rotate_scale_sample", "colour_scale"]

_MIRROR = torch.tensor(MIRROR_JOINTS, dtype=torch.long)
# part labels: 0 background, joint + 1
_MIRROR_LABELS = torch.tensor((0,) + tuple(j + 1 for j in MIRROR_JOINTS), dtype=torch.long)


@dataclass
class AugmentConfig:
    """Augmentation settings (defaults: the DecoMR paper's).

    Attributes
    ----------
    scale_std : float
    scale_range : (float, float)
    rotation_std_deg : float
    rotation_max_deg : float
    rotation_probability : float
    flip_probability : float
    colour_range : (float, float)
        per-channel multiplier range.
    """

    scale_std: float = 0.25
    scale_range: tuple[float, float] = (0.75, 1.25)
    rotation_std_deg: float = 30.0
    rotation_max_deg: float = 60.0
    rotation_probability: float = 0.4
    flip_probability: float = 0.5
    colour_range: tuple[float, float] = (0.6, 1.4)

    def __post_init__(self) -> None:
        for name in ("rotation_probability", "flip_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("scale_range", "colour_range"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must satisfy 0 < low <= high, got {(low, high)}")


@dataclass
class AugmentParams:
    """One draw: ``scale`` k, ``rotation_deg``, ``flip``, ``colour`` (3,) multipliers."""

    scale: float = 1.0
    rotation_deg: float = 0.0
    flip: bool = False
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)


def flip_sample(sample: dict[str, Any], vertex_mirror: torch.Tensor | None = None) -> dict[str, Any]:
    """The horizontally flipped sample (an involution).

    Parameters
    ----------
    sample : dict of tensors (keys of :mod:`decomr.data.synthetic`; any subset)
    vertex_mirror : (V,) int64 tensor or None
        the template's mirror permutation; required when the sample has ``vertices``.

    Returns
    -------
    dict : a new dict; tensors not named below are passed through.
    """
    from ..body import mirror_pose

    out = dict(sample)
    if "image" in sample:
        out["image"] = sample["image"].flip(-1)
    if "iuv" in sample:
        iuv = sample["iuv"].flip(-1)
        mask, u, v = iuv.unbind(0)
        out["iuv"] = torch.stack([mask, torch.where(mask > 0.5, 1.0 - u, u), v])
    if "mask" in sample:
        out["mask"] = sample["mask"].flip(-1)
    if "parts" in sample:
        out["parts"] = _MIRROR_LABELS.to(sample["parts"].device)[sample["parts"].flip(-1).long()].to(sample["parts"].dtype)
    if "joints2d" in sample:
        joints = sample["joints2d"][_MIRROR.to(sample["joints2d"].device)].clone()
        joints[:, 0] = -joints[:, 0]
        out["joints2d"] = joints
    if "joints3d" in sample:
        joints = sample["joints3d"][_MIRROR.to(sample["joints3d"].device)].clone()
        joints[:, 0] = -joints[:, 0]
        out["joints3d"] = joints
    if "vertices" in sample:
        if vertex_mirror is None:
            raise ValueError("flip_sample: the sample has vertices; pass the template's mirror permutation "
                             "(vertex_mirror)")
        vertices = sample["vertices"][vertex_mirror.to(sample["vertices"].device)].clone()
        vertices[:, 0] = -vertices[:, 0]
        out["vertices"] = vertices
    if "pose" in sample:
        out["pose"] = mirror_pose(sample["pose"])
    for key, column in (("camera", 1), ("camera_weak", 1)):
        if key in sample:
            camera = sample[key].clone()
            camera[column] = -camera[column]
            out[key] = camera
    return out


def _rotation_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _sampling_grid(inverse: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(1, S, S, 2) float32 source positions of an S x S crop: ``inverse @ p`` at every pixel
    centre ``p`` (what ``F.affine_grid`` gives with ``align_corners=False`` and no translation,
    built as two outer sums instead of a matrix product per pixel)."""
    centres = torch.arange(size, dtype=torch.float32, device=device).mul_(2.0 / size).add_(1.0 / size - 1.0)
    grid = torch.empty(1, size, size, 2, dtype=torch.float32, device=device)
    for axis in range(2):
        torch.add(centres[None, :] * float(inverse[axis, 0]), centres[:, None] * float(inverse[axis, 1]),
                  out=grid[0, :, :, axis])
    return grid


def rotate_scale_sample(sample: dict[str, Any], scale: float = 1.0, rotation_deg: float = 0.0) -> dict[str, Any]:
    """Zoom by ``scale`` and rotate by ``rotation_deg`` about the crop centre.

    A point at normalised image position ``p`` moves to ``scale * R(theta) p`` with
    ``R(theta) = [[cos, -sin], [sin, cos]]`` in image axes (x right, y down: a positive angle
    turns clockwise on screen). Pixels the source does not cover become 0 (image, IUV, mask,
    parts). 2D joints that leave the crop get visibility 0.

    Parameters
    ----------
    sample : dict of tensors (single sample)
    scale : float > 0
    rotation_deg : float

    Returns
    -------
    dict : a new dict.
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if scale == 1.0 and rotation_deg == 0.0:
        return dict(sample)
    theta = np.radians(rotation_deg)
    rot3 = _rotation_z(theta)
    forward = scale * rot3[:2, :2]  # image position -> augmented position
    inverse = np.linalg.inv(forward)
    out = dict(sample)
    images = [key for key in ("image", "iuv", "mask", "parts") if key in sample]
    if images:
        reference = sample[images[0]]
        height, width = reference.shape[-2:]
        if height != width:
            raise ValueError(f"rotate_scale_sample needs square crops, got {height} x {width}")
        grid = _sampling_grid(inverse, height, reference.device)
        # one resampling per mode: the label-like images (IUV, mask, parts) share one nearest pass
        for mode, keys in (("bilinear", [key for key in images if key == "image"]),
                           ("nearest", [key for key in images if key != "image"])):
            if not keys:
                continue
            stacked = torch.cat([sample[key].reshape(-1, height, width).to(torch.float32) for key in keys])
            warped = F.grid_sample(stacked[None], grid.to(stacked.device), mode=mode, padding_mode="zeros",
                                   align_corners=False)[0]
            start = 0
            for key in keys:
                tensor = sample[key]
                channels = 1 if tensor.ndim == 2 else tensor.shape[0]
                part = warped[start:start + channels].reshape(tensor.shape)
                start += channels
                out[key] = part.to(tensor.dtype) if tensor.dtype.is_floating_point else part.round().to(tensor.dtype)
    if "joints2d" in sample:
        joints = sample["joints2d"].clone()
        matrix = torch.as_tensor(forward, dtype=joints.dtype, device=joints.device)
        joints[:, :2] = joints[:, :2] @ matrix.T
        outside = (joints[:, :2].abs() > 1.0).any(-1)
        joints[:, 2] = torch.where(outside, torch.zeros_like(joints[:, 2]), joints[:, 2])
        out["joints2d"] = joints
    for key in ("joints3d", "vertices"):
        if key in sample:
            points = sample[key].clone()
            matrix = torch.as_tensor(rot3, dtype=points.dtype, device=points.device)
            points[:, :3] = points[:, :3] @ matrix.T
            out[key] = points
    if "pose" in sample:
        pose = sample["pose"].clone()
        glob = Rotation.from_rotvec(pose[:3].detach().cpu().double().numpy())
        pose[:3] = torch.as_tensor((Rotation.from_matrix(rot3) * glob).as_rotvec(), dtype=pose.dtype)
        out["pose"] = pose
    if "camera" in sample:
        camera = sample["camera"].clone()
        camera[0] = camera[0] * scale
        camera[1:4] = camera[1:4] @ torch.as_tensor(rot3, dtype=camera.dtype, device=camera.device).T
        out["camera"] = camera
    if "camera_weak" in sample:
        camera = sample["camera_weak"].clone()
        camera[0] = camera[0] * scale
        camera[1:3] = camera[1:3] @ torch.as_tensor(rot3[:2, :2], dtype=camera.dtype, device=camera.device).T
        out["camera_weak"] = camera
    return out


def colour_scale(sample: dict[str, Any], colour: tuple[float, float, float]) -> dict[str, Any]:
    """Multiply the image's channels by ``colour`` and clamp to [0, 1]."""
    out = dict(sample)
    if "image" in sample:
        factor = torch.as_tensor(colour, dtype=sample["image"].dtype, device=sample["image"].device)
        out["image"] = (sample["image"] * factor[:, None, None]).clamp(0.0, 1.0)
    return out


class Augmenter:
    """Draws and applies DecoMR augmentations.

    Parameters
    ----------
    config : AugmentConfig
    vertex_mirror : (V,) int64 tensor or None
        template mirror permutation (needed to flip samples with vertices).
    symmetric_uv : bool
        the IUV images come from a left-right symmetric UV map. When False, flips are refused
        (``flip_probability`` must be 0) since ``u -> 1 - u`` would be wrong.
    """

    def __init__(self, config: AugmentConfig | None = None, vertex_mirror: Any = None,
                 symmetric_uv: bool = True) -> None:
        self.config = config or AugmentConfig()
        self.vertex_mirror = None if vertex_mirror is None else torch.as_tensor(vertex_mirror, dtype=torch.long)
        if not symmetric_uv and self.config.flip_probability > 0:
            raise ValueError("flip augmentation needs a left-right symmetric UV map (u -> 1 - u); this one is "
                             "not: use a symmetric map (uvkit build-uv) or set flip_probability=0")

    def draw(self, rng: np.random.Generator) -> AugmentParams:
        """One draw of the parameters from ``rng`` (always the same number of draws)."""
        cfg = self.config
        scale = float(np.clip(rng.normal(1.0, cfg.scale_std), *cfg.scale_range))
        rotation = float(np.clip(rng.normal(0.0, cfg.rotation_std_deg), -cfg.rotation_max_deg, cfg.rotation_max_deg))
        rotate = rng.random() < cfg.rotation_probability
        flip = bool(rng.random() < cfg.flip_probability)
        colour = tuple(float(c) for c in rng.uniform(*cfg.colour_range, 3))
        return AugmentParams(scale=scale, rotation_deg=rotation if rotate else 0.0, flip=flip, colour=colour)

    def apply(self, sample: dict[str, Any], params: AugmentParams) -> dict[str, Any]:
        """Flip, then scale and rotate, then colour."""
        if params.flip:
            sample = flip_sample(sample, self.vertex_mirror)
        sample = rotate_scale_sample(sample, params.scale, params.rotation_deg)
        return colour_scale(sample, params.colour)

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return self.apply(sample, self.draw(rng))

