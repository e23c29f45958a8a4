"""The DecoMR losses (FACTS section 1), each a function and an ``nn.Module`` that agree.

``L = L_IUV + L_loc + lambda_con L_con (+ 1e-4 TV)`` with

- ``L_IUV = 0.2 BCE(mask) + 1.0 L1(UV on the ground-truth foreground)`` (:func:`iuv_loss`),
- ``L_loc = L_map + L_J3D + L_J2D`` (:func:`location_map_loss`, :func:`joints3d_loss`,
  :func:`joints2d_loss`),
- ``L_con`` (:func:`consistency_loss`, weight 1), and the small total variation term
  (:func:`tv_loss`, weight 1e-4).

Every loss is a scalar mean over the samples that carry the label (``has_iuv``, ``has_smpl``,
``has_3d``: (B,) bool or 0/1 tensors, None meaning all): a sample without the label contributes
nothing (its ground truth may hold anything, NaN included), and a batch without any labelled
sample gives 0, not NaN. Half-precision inputs (autocast) are computed in float32.

Image convention: the renderer's (``decomr.render.cameras``): normalised crop coordinates in
[-1, 1], +x right, +y down, pixel (row i, column j) of an H x W image centred at
``((2j + 1) / W - 1, (2i + 1) / H - 1)``; points are in camera axes (+y down the image).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from decomr.config import LossWeightsConfig
from decomr.render.cameras import WeakPerspectiveCamera, project
from decomr.uv import pixel_coordinates

__all__ = [
    "project_weak_perspective",
    "mask_loss", "uv_loss", "iuv_loss", "location_map_loss", "joints3d_loss", "joints2d_loss",
    "consistency_loss", "tv_loss",
    "IUVLoss", "LocationMapLoss", "Joints3DLoss", "Joints2DLoss", "ConsistencyLoss", "TVLoss",
    "LossWeights", "LossTargets", "LossTerms", "DecoMRLoss",
]

#: the pelvis is the mid-point of the hips: joints 1 and 2 (left, right hip) in SMPL order.
SMPL_ROOT_INDICES: tuple[int, ...] = (1, 2)


# ---------------------------------------------------------------------------- helpers
def _shape(tensor: Any) -> str:
    return str(tuple(tensor.shape)) if isinstance(tensor, torch.Tensor) else type(tensor).__name__


def _check(name: str, tensor: Any, ndim: int, expected: str, **sizes: int) -> None:
    """Raise ``ValueError`` naming ``expected`` unless ``tensor`` is a floating tensor with
    ``ndim`` dims and the given sizes (``dim0=B``, ``dim1=3``, ...)."""
    ok = isinstance(tensor, torch.Tensor) and tensor.ndim == ndim and tensor.is_floating_point()
    if ok:
        for key, size in sizes.items():
            if tensor.shape[int(key[3:])] != size:
                ok = False
    if not ok:
        dtype = f" {tensor.dtype}" if isinstance(tensor, torch.Tensor) else ""
        raise ValueError(f"{name}: expected a float tensor of shape {expected}, got {_shape(tensor)}{dtype}")


def _float(tensor: torch.Tensor) -> torch.Tensor:
    """Half precision -> float32; float32 and float64 unchanged."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _labels(flag: Any, batch: int, like: torch.Tensor, name: str) -> torch.Tensor:
    """(B,) bool from a has-label flag ((B,) or (B, 1) bool / number tensor, or None = all)."""
    if flag is None:
        return torch.ones(batch, dtype=torch.bool, device=like.device)
    flag = torch.as_tensor(flag, device=like.device)
    if flag.ndim == 2 and flag.shape[1] == 1:
        flag = flag[:, 0]
    if flag.shape != (batch,):
        raise ValueError(f"{name}: expected shape (B,) = ({batch},), got {tuple(flag.shape)}")
    return flag.bool() if flag.dtype == torch.bool else flag > 0.5


def _keep(tensor: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
    """Zero the samples without a label (their values may be NaN) without a host sync."""
    view = labelled.view(-1, *([1] * (tensor.ndim - 1)))
    return torch.where(view, tensor, torch.zeros((), dtype=tensor.dtype, device=tensor.device))


def _mean_over(per_sample: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_sample`` (B,) over ``counted`` (B,) bool; 0 when nothing is counted."""
    per_sample = torch.where(counted, per_sample, torch.zeros((), dtype=per_sample.dtype, device=per_sample.device))
    return per_sample.sum() / counted.sum().clamp(min=1).to(per_sample.dtype)


def project_weak_perspective(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Weak-perspective projection ``x = s (X + tx)``, ``y = s (Y + ty)`` (the renderer's).

    Parameters
    ----------
    points : (B, N, 3) float tensor
        camera axes (+y down the image).
    camera : (B, 3) float tensor
        (s, tx, ty).

    Returns
    -------
    (B, N, 2) float tensor
        normalised crop coordinates; differentiable in both inputs.
    """
    _check("points", points, 3, "(B, N, 3)", dim2=3)
    _check("camera", camera, 2, f"(B, 3) = ({points.shape[0]}, 3)", dim0=points.shape[0], dim1=3)
    return project(points, WeakPerspectiveCamera(camera))


# ---------------------------------------------------------------------------- IUV
def _check_iuv(pred_iuv: torch.Tensor, gt_iuv: torch.Tensor) -> None:
    _check("pred_iuv", pred_iuv, 4, "(B, 3, H, W)", dim1=3)
    batch, _, height, width = pred_iuv.shape
    _check("gt_iuv", gt_iuv, 4, f"(B, 3, H, W) = ({batch}, 3, {height}, {width}) (the prediction's)",
           dim0=batch, dim1=3, dim2=height, dim3=width)


def mask_loss(pred_iuv: torch.Tensor, gt_iuv: torch.Tensor, has_iuv: Any = None,
              mask_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of the foreground mask, mean over pixels and labelled images.

    Parameters
    ----------
    pred_iuv : (B, 3, H, W) float tensor
        channel 0 the predicted foreground probability.
    gt_iuv : (B, 3, H, W) float tensor
        channel 0 the ground-truth mask (0 or 1).
    has_iuv : (B,) bool tensor, optional
    mask_logits : (B, 1, H, W) float tensor, optional
        the logits of ``pred_iuv[:, 0]``: when given, used instead (numerically safe, and the
        form autocast accepts).

    Returns
    -------
    () float tensor
    """
    _check_iuv(pred_iuv, gt_iuv)
    batch = pred_iuv.shape[0]
    labelled = _labels(has_iuv, batch, pred_iuv, "has_iuv")
    target = _keep(_float(gt_iuv[:, :1]), labelled).clamp(0.0, 1.0)
    if mask_logits is not None:
        _check("mask_logits", mask_logits, 4, f"(B, 1, H, W) = ({batch}, 1, {pred_iuv.shape[2]}, {pred_iuv.shape[3]})",
               dim0=batch, dim1=1, dim2=pred_iuv.shape[2], dim3=pred_iuv.shape[3])
        per_pixel = F.binary_cross_entropy_with_logits(_float(mask_logits), target.to(_float(mask_logits).dtype), reduction="none")
    else:
        device_type = pred_iuv.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            probability = _float(pred_iuv[:, :1])
            per_pixel = F.binary_cross_entropy(probability, target.to(probability.dtype), reduction="none")
    return _mean_over(per_pixel.mean(dim=(1, 2, 3)), labelled)


def uv_loss(pred_iuv: torch.Tensor, gt_iuv: torch.Tensor, has_iuv: Any = None) -> torch.Tensor:
    """L1 of (U, V) on the ground-truth foreground, normalised per image by its foreground
    fraction (the mean over foreground pixels and the 2 channels), then averaged over labelled
    images with some foreground.

    Parameters
    ----------
    pred_iuv, gt_iuv : (B, 3, H, W) float tensors
    has_iuv : (B,) bool tensor, optional

    Returns
    -------
    () float tensor
    """
    _check_iuv(pred_iuv, gt_iuv)
    labelled = _labels(has_iuv, pred_iuv.shape[0], pred_iuv, "has_iuv")
    gt = _keep(_float(gt_iuv), labelled)
    pred = _float(pred_iuv)
    foreground = (gt[:, :1] > 0.5).to(pred.dtype)
    count = foreground.sum(dim=(1, 2, 3))
    per_image = (foreground * (pred[:, 1:] - gt[:, 1:]).abs()).sum(dim=(1, 2, 3)) / (2.0 * count.clamp(min=1.0))
    return _mean_over(per_image, labelled & (count > 0))


def iuv_loss(pred_iuv: torch.Tensor, gt_iuv: torch.Tensor, has_iuv: Any = None,
             mask_logits: torch.Tensor | None = None, mask_weight: float = 0.2,
             uv_weight: float = 1.0) -> torch.Tensor:
    """``mask_weight * mask_loss + uv_weight * uv_loss`` (0.2 and 1.0 in the paper).

    Shapes as :func:`mask_loss`; returns a () float tensor.
    """
    return (mask_weight * mask_loss(pred_iuv, gt_iuv, has_iuv, mask_logits)
            + uv_weight * uv_loss(pred_iuv, gt_iuv, has_iuv))


class IUVLoss(nn.Module):
    """Module form of :func:`iuv_loss`."""

    def __init__(self, mask_weight: float = 0.2, uv_weight: float = 1.0):
        super().__init__()
        self.mask_weight = float(mask_weight)
        self.uv_weight = float(uv_weight)

    def forward(self, pred_iuv, gt_iuv, has_iuv=None, mask_logits=None) -> torch.Tensor:
        return iuv_loss(pred_iuv, gt_iuv, has_iuv, mask_logits, self.mask_weight, self.uv_weight)


# ---------------------------------------------------------------------------- location map
def normalised_weight_map(weight_map: torch.Tensor) -> torch.Tensor:
    """The part weight map restricted to valid texels (weight > 0) and renormalised there to
    mean 1: (R, R) float -> (R, R) float (0 on invalid texels)."""
    _check("weight_map", weight_map, 2, "(R, R)")
    valid = weight_map > 0
    total = torch.where(valid, weight_map, torch.zeros_like(weight_map)).sum()
    if not bool(valid.any()):
        raise ValueError("weight_map has no valid texel (no weight > 0)")
    return torch.where(valid, weight_map * (valid.sum() / total), torch.zeros_like(weight_map))


def location_map_loss(pred_map: torch.Tensor, gt_map: torch.Tensor, weight_map: torch.Tensor,
                      has_smpl: Any = None) -> torch.Tensor:
    """Weighted L1 between location maps on the valid texels.

    ``sum(w |pred - gt|) / (3 N_valid)`` per sample, with ``w`` the part weight map
    renormalised to mean 1 over the valid texels (:func:`normalised_weight_map`), averaged over
    samples with ``has_smpl``.

    Parameters
    ----------
    pred_map : (B, 3, R, R) float tensor
    gt_map : (B, 3, R, R) float tensor
    weight_map : (R, R) float tensor
        the UV map's part weight map (``UVLookup.weight_map(R)``); texels with weight 0 are
        invalid and ignored.
    has_smpl : (B,) bool tensor, optional

    Returns
    -------
    () float tensor
    """
    _check("pred_map", pred_map, 4, "(B, 3, R, R)", dim1=3)
    batch, _, height, width = pred_map.shape
    _check("gt_map", gt_map, 4, f"(B, 3, R, R) = ({batch}, 3, {height}, {width}) (the prediction's)",
           dim0=batch, dim1=3, dim2=height, dim3=width)
    _check("weight_map", weight_map, 2, f"(R, R) = ({height}, {width}) (the location map's)", dim0=height, dim1=width)
    return _weighted_l1(pred_map, gt_map, normalised_weight_map(weight_map), has_smpl)


def _weighted_l1(pred_map, gt_map, weights, has_smpl) -> torch.Tensor:
    labelled = _labels(has_smpl, pred_map.shape[0], pred_map, "has_smpl")
    pred = _float(pred_map)
    gt = _keep(_float(gt_map), labelled)
    weights = weights.to(pred.dtype)
    valid = (weights > 0).sum()
    per_sample = (weights * (pred - gt).abs()).sum(dim=(1, 2, 3)) / (3.0 * valid)
    return _mean_over(per_sample, labelled)


class LocationMapLoss(nn.Module):
    """Module form of :func:`location_map_loss`; the renormalised weight map is a buffer.

    weight_map : (R, R) float tensor (``UVLookup.weight_map(R)``).
    """

    def __init__(self, weight_map: torch.Tensor):
        super().__init__()
        self.register_buffer("weight_map", normalised_weight_map(weight_map.detach().clone()))

    def forward(self, pred_map, gt_map, has_smpl=None) -> torch.Tensor:
        _check("pred_map", pred_map, 4, "(B, 3, R, R)", dim1=3)
        batch, _, height, width = pred_map.shape
        r = tuple(self.weight_map.shape)
        _check("pred_map", pred_map, 4, f"(B, 3, R, R) = (B, 3, {r[0]}, {r[1]}) (the weight map's)", dim2=r[0], dim3=r[1])
        _check("gt_map", gt_map, 4, f"(B, 3, R, R) = ({batch}, 3, {height}, {width}) (the prediction's)",
               dim0=batch, dim1=3, dim2=height, dim3=width)
        return _weighted_l1(pred_map, gt_map, self.weight_map, has_smpl)


# ---------------------------------------------------------------------------- joints
def joints3d_loss(pred_joints: torch.Tensor, gt_joints: torch.Tensor, has_3d: Any = None,
                  root_indices: Sequence[int] = SMPL_ROOT_INDICES) -> torch.Tensor:
    """L1 between root-relative 3D joints.

    Both sets are made relative to their own root, the mean of ``root_indices`` (the pelvis as
    the mid-point of the hips: joints 1 and 2 in SMPL order). With a confidence column in
    ``gt_joints`` each joint's error is weighted by it. Mean over joints and the 3 coordinates,
    then over samples with ``has_3d``.

    Parameters
    ----------
    pred_joints : (B, J, 3) float tensor
    gt_joints : (B, J, 3) or (B, J, 4) float tensor
        metres; column 3 (optional) the confidence in [0, 1].
    has_3d : (B,) bool tensor, optional
    root_indices : sequence of int

    Returns
    -------
    () float tensor
    """
    _check("pred_joints", pred_joints, 3, "(B, J, 3)", dim2=3)
    batch, n_joints, _ = pred_joints.shape
    expected = f"(B, J, 3) or (B, J, 4) = ({batch}, {n_joints}, 3 or 4)"
    _check("gt_joints", gt_joints, 3, expected, dim0=batch, dim1=n_joints)
    if gt_joints.shape[2] not in (3, 4):
        raise ValueError(f"gt_joints: expected a float tensor of shape {expected}, got {_shape(gt_joints)}")
    roots = list(root_indices)
    if not roots or any(not -n_joints <= i < n_joints for i in roots):
        raise ValueError(f"root_indices {roots} must be non-empty indices into {n_joints} joints")
    labelled = _labels(has_3d, batch, pred_joints, "has_3d")
    pred = _float(pred_joints)
    gt = _keep(_float(gt_joints), labelled)
    confidence = gt[..., 3:] if gt.shape[2] == 4 else torch.ones_like(gt[..., :1])
    gt = gt[..., :3]
    pred = pred - pred[:, roots].mean(dim=1, keepdim=True)
    gt = gt - gt[:, roots].mean(dim=1, keepdim=True)
    per_sample = (confidence * (pred - gt).abs()).mean(dim=(1, 2))
    return _mean_over(per_sample, labelled)


class Joints3DLoss(nn.Module):
    """Module form of :func:`joints3d_loss`."""

    def __init__(self, root_indices: Sequence[int] = SMPL_ROOT_INDICES):
        super().__init__()
        self.root_indices = tuple(int(i) for i in root_indices)

    def forward(self, pred_joints, gt_joints, has_3d=None) -> torch.Tensor:
        return joints3d_loss(pred_joints, gt_joints, has_3d, self.root_indices)


def joints2d_loss(pred_joints: torch.Tensor, gt_joints: torch.Tensor) -> torch.Tensor:
    """Squared L2 between 2D joints weighted by visibility: ``mean(vis * (pred - gt)^2)``
    over samples, joints and the 2 coordinates (a joint or sample without a label has
    visibility 0).

    Parameters
    ----------
    pred_joints : (B, J, 2) float tensor
        normalised crop coordinates (:func:`project_weak_perspective` of 3D joints).
    gt_joints : (B, J, 3) float tensor
        (x, y, visibility); visibility in [0, 1].

    Returns
    -------
    () float tensor
    """
    _check("pred_joints", pred_joints, 3, "(B, J, 2)", dim2=2)
    batch, n_joints, _ = pred_joints.shape
    _check("gt_joints", gt_joints, 3, f"(B, J, 3) = ({batch}, {n_joints}, 3) (x, y, visibility)",
           dim0=batch, dim1=n_joints, dim2=3)
    gt = _float(gt_joints)
    visibility = gt[..., 2:].clamp(min=0.0)
    seen = visibility > 0
    target = torch.where(seen, gt[..., :2], torch.zeros((), dtype=gt.dtype, device=gt.device))
    squared = torch.where(seen, (_float(pred_joints) - target).square(), torch.zeros((), dtype=gt.dtype, device=gt.device))
    return (visibility * squared).mean() if gt.numel() else gt.sum()


class Joints2DLoss(nn.Module):
    """Module form of :func:`joints2d_loss`."""

    def forward(self, pred_joints, gt_joints) -> torch.Tensor:
        return joints2d_loss(pred_joints, gt_joints)


# ---------------------------------------------------------------------------- consistency
def consistency_loss(location_map: torch.Tensor, camera: torch.Tensor, gt_iuv: torch.Tensor,
                     has_iuv: Any = None) -> torch.Tensor:
    """Every ground-truth foreground pixel, lifted to the body through the predicted location
    map at its ground-truth (u, v) and projected with the predicted camera, should land on
    itself.

    Per pixel: sample ``location_map`` at ``(u, v)`` (``grid_sample``, bilinear,
    ``align_corners=True``, the texel convention), project with
    :func:`project_weak_perspective`, squared L2 distance (summed over x and y) to the pixel's
    centre in normalised coordinates. Mean over the foreground pixels of each image, then over
    labelled images with some foreground.

    Parameters
    ----------
    location_map : (B, 3, R, R) float tensor
    camera : (B, 3) float tensor
        (s, tx, ty).
    gt_iuv : (B, 3, H, W) float tensor
        ground-truth mask, U, V of the whole crop (any resolution).
    has_iuv : (B,) bool tensor, optional

    Returns
    -------
    () float tensor
    """
    _check("location_map", location_map, 4, "(B, 3, R, R)", dim1=3)
    batch = location_map.shape[0]
    _check("camera", camera, 2, f"(B, 3) = ({batch}, 3)", dim0=batch, dim1=3)
    _check("gt_iuv", gt_iuv, 4, f"(B, 3, H, W) with B = {batch}", dim0=batch, dim1=3)
    labelled = _labels(has_iuv, batch, location_map, "has_iuv")
    maps = _float(location_map)
    gt = _keep(_float(gt_iuv), labelled).to(maps.dtype)
    _, _, height, width = gt.shape
    foreground = gt[:, 0] > 0.5  # (B, H, W)
    grid = (2.0 * gt[:, 1:].clamp(0.0, 1.0) - 1.0).permute(0, 2, 3, 1)  # (B, H, W, 2): x <- u, y <- v
    points = F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=True)
    points = points.reshape(batch, 3, height * width).transpose(1, 2)  # (B, H*W, 3)
    projected = project_weak_perspective(points, _float(camera).to(maps.dtype))  # (B, H*W, 2)
    target = pixel_coordinates(height, width, dtype=maps.dtype, device=maps.device).reshape(2, -1).t()
    squared = (projected - target).square().sum(dim=-1).reshape(batch, height, width)
    squared = torch.where(foreground, squared, torch.zeros((), dtype=squared.dtype, device=squared.device))
    count = foreground.sum(dim=(1, 2))
    per_image = squared.sum(dim=(1, 2)) / count.clamp(min=1).to(squared.dtype)
    return _mean_over(per_image, labelled & (count > 0))


class ConsistencyLoss(nn.Module):
    """Module form of :func:`consistency_loss`."""

    def forward(self, location_map, camera, gt_iuv, has_iuv=None) -> torch.Tensor:
        return consistency_loss(location_map, camera, gt_iuv, has_iuv)


# ---------------------------------------------------------------------------- total variation
def tv_loss(location_map: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Anisotropic total variation: mean |difference| of horizontally and vertically adjacent
    texels (summed over the two directions), over the pairs whose texels are both valid.

    Parameters
    ----------
    location_map : (B, 3, R, R) float tensor
    valid : (R, R) bool tensor, optional
        valid texels (``UVLookup.mask(R)``); all when None.

    Returns
    -------
    () float tensor
        0 for a constant map.
    """
    _check("location_map", location_map, 4, "(B, 3, R, R)", dim1=3)
    maps = _float(location_map)
    height, width = maps.shape[2:]
    if valid is None:
        valid = torch.ones(height, width, dtype=torch.bool, device=maps.device)
    elif not isinstance(valid, torch.Tensor) or tuple(valid.shape) != (height, width):
        raise ValueError(f"valid: expected a bool tensor of shape (R, R) = ({height}, {width}), got {_shape(valid)}")
    valid = valid.bool()
    total = maps.new_zeros(())
    for diff, pair in (
        (maps[..., :, 1:] - maps[..., :, :-1], valid[:, 1:] & valid[:, :-1]),
        (maps[..., 1:, :] - maps[..., :-1, :], valid[1:, :] & valid[:-1, :]),
    ):
        count = pair.sum() * maps.shape[0] * 3
        total = total + (diff.abs() * pair).sum() / count.clamp(min=1).to(maps.dtype)
    return total


class TVLoss(nn.Module):
    """Module form of :func:`tv_loss`; the valid-texel mask (optional) is a buffer."""

    def __init__(self, valid: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("valid", None if valid is None else valid.detach().bool().clone())

    def forward(self, location_map) -> torch.Tensor:
        return tv_loss(location_map, self.valid)


# ---------------------------------------------------------------------------- the total
@dataclass
class LossWeights(LossWeightsConfig):
    """Weights of the terms (the paper's by default; the fields of
    :class:`decomr.config.LossWeightsConfig`). A weight of 0 skips its term."""

    @classmethod
    def stage1(cls, **weights: float) -> "LossWeights":
        """CNet alone (the first training stage): the IUV terms only."""
        return cls(**{**weights, "location_map": 0.0, "joints3d": 0.0, "joints2d": 0.0, "consistency": 0.0, "tv": 0.0})


@dataclass
class LossTargets:
    """Ground truth of a batch; a missing field skips the terms that need it.

    Attributes
    ----------
    iuv : (B, 3, H, W) float tensor, optional
        at the prediction's IUV resolution (the consistency term accepts any).
    has_iuv : (B,) bool tensor, optional
    location_map : (B, 3, R, R) float tensor, optional
        e.g. ``uv_lookup.location_map(gt_vertices)``; computed from ``vertices`` when absent
        and the loss holds a ``uv_lookup``.
    vertices : (B, V, 3) float tensor, optional
    has_smpl : (B,) bool tensor, optional
    joints3d : (B, J, 3 or 4) float tensor, optional
        (x, y, z[, confidence]) in metres, the joint regressor's order.
    has_3d : (B,) bool tensor, optional
    joints2d : (B, J, 3) float tensor, optional
        (x, y, visibility) in normalised crop coordinates.
    """

    iuv: torch.Tensor | None = None
    has_iuv: torch.Tensor | None = None
    location_map: torch.Tensor | None = None
    vertices: torch.Tensor | None = None
    has_smpl: torch.Tensor | None = None
    joints3d: torch.Tensor | None = None
    has_3d: torch.Tensor | None = None
    joints2d: torch.Tensor | None = None


@dataclass
class LossTerms:
    """Each term unweighted ((), float tensor) and ``total``, the weighted sum."""

    mask: torch.Tensor
    uv: torch.Tensor
    location_map: torch.Tensor
    joints3d: torch.Tensor
    joints2d: torch.Tensor
    consistency: torch.Tensor
    tv: torch.Tensor
    total: torch.Tensor

    def as_dict(self) -> dict[str, float]:
        """Every term as a Python float (for logging)."""
        return {f.name: float(getattr(self, f.name).detach()) for f in fields(self)}


class DecoMRLoss(nn.Module):
    """``L = 0.2 BCE + L1_UV + L_map + L_J3D + L_J2D + L_con + 1e-4 TV`` (FACTS section 1).

    Parameters
    ----------
    weight_map : (R, R) float tensor
        the part weight map at the location-map resolution (``uv_lookup.weight_map(R)``);
        its zero texels are the invalid ones (also used to restrict the TV term).
    joint_regressor : (J, V) float tensor, optional
        joints from predicted vertices (the ground truth's joint order); without it the joint
        terms are skipped.
    weights : LossWeights, optional
    root_indices : sequence of int
        the joints whose mean is the pelvis (SMPL: 1 and 2, the hips).
    uv_lookup : decomr.uv.UVLookup, optional
        turns ``targets.vertices`` into ground-truth location maps when
        ``targets.location_map`` is absent.
    """

    def __init__(self, weight_map: torch.Tensor, joint_regressor: torch.Tensor | None = None,
                 weights: LossWeights | None = None, root_indices: Sequence[int] = SMPL_ROOT_INDICES,
                 uv_lookup: nn.Module | None = None):
        super().__init__()
        self.weights = weights or LossWeights()
        self.location_map_loss = LocationMapLoss(weight_map)
        self.tv_loss = TVLoss(weight_map > 0)
        self.joints3d_loss = Joints3DLoss(root_indices)
        if joint_regressor is not None:
            joint_regressor = torch.as_tensor(joint_regressor)
            if joint_regressor.ndim != 2:
                raise ValueError(f"joint_regressor: expected shape (J, V), got {tuple(joint_regressor.shape)}")
            joint_regressor = joint_regressor.detach().clone().to(weight_map.dtype if weight_map.is_floating_point() else torch.float32)
        self.register_buffer("joint_regressor", joint_regressor)
        self.uv_lookup = uv_lookup

    @classmethod
    def from_uv_lookup(cls, uv_lookup: nn.Module, joint_regressor: torch.Tensor | None = None,
                       resolution: int | None = None, **kwargs) -> "DecoMRLoss":
        """The loss for a UV map: its weight map at ``resolution`` (default the lookup's)."""
        return cls(uv_lookup.weight_map(resolution), joint_regressor, uv_lookup=uv_lookup, **kwargs)

    def regress_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) float -> (B, J, 3) float with the joint regressor."""
        if self.joint_regressor is None:
            raise ValueError("this loss has no joint_regressor")
        n = self.joint_regressor.shape[1]
        _check("vertices", vertices, 3, f"(B, V, 3) = (B, {n}, 3)", dim1=n, dim2=3)
        return torch.einsum("jv,bvc->bjc", self.joint_regressor.to(vertices.dtype), vertices)

    def forward(self, output: Any, targets: LossTargets | Mapping[str, Any]) -> LossTerms:
        """Compute every term the output and targets allow.

        Parameters
        ----------
        output : DecoMROutput or CNetOutput
            a CNet output (no ``location_map``) gives the IUV terms only.
        targets : LossTargets or a dict of its fields

        Returns
        -------
        LossTerms
        """
        if not isinstance(targets, LossTargets):
            unknown = set(targets) - {f.name for f in fields(LossTargets)}
            if unknown:
                raise ValueError(f"unknown target keys {sorted(unknown)}; valid keys: "
                                 f"{', '.join(f.name for f in fields(LossTargets))}")
            targets = LossTargets(**targets)
        w = self.weights
        zero = output.iuv.new_zeros((), dtype=_float(output.iuv).dtype)
        terms = dict(mask=zero, uv=zero, location_map=zero, joints3d=zero, joints2d=zero, consistency=zero, tv=zero)
        if targets.iuv is not None:
            if w.mask:
                terms["mask"] = mask_loss(output.iuv, targets.iuv, targets.has_iuv, getattr(output, "mask_logits", None))
            if w.uv:
                terms["uv"] = uv_loss(output.iuv, targets.iuv, targets.has_iuv)
        location_map = getattr(output, "location_map", None)
        if location_map is not None:
            gt_map = targets.location_map
            if gt_map is None and targets.vertices is not None and self.uv_lookup is not None and w.location_map:
                gt_map = self.uv_lookup.location_map(targets.vertices, location_map.shape[-1])
            if gt_map is not None and w.location_map:
                terms["location_map"] = self.location_map_loss(location_map, gt_map, targets.has_smpl)
            if targets.iuv is not None and w.consistency:
                terms["consistency"] = consistency_loss(location_map, output.camera, targets.iuv, targets.has_iuv)
            if w.tv:
                terms["tv"] = self.tv_loss(location_map)
            need_joints = (targets.joints3d is not None and w.joints3d) or (targets.joints2d is not None and w.joints2d)
            if need_joints and self.joint_regressor is not None:
                joints = self.regress_joints(output.vertices)
                if targets.joints3d is not None and w.joints3d:
                    terms["joints3d"] = self.joints3d_loss(joints, targets.joints3d, targets.has_3d)
                if targets.joints2d is not None and w.joints2d:
                    projected = project_weak_perspective(joints, output.camera.to(joints.dtype))
                    terms["joints2d"] = joints2d_loss(projected, targets.joints2d)
        total = sum(getattr(w, name) * value for name, value in terms.items())
        return LossTerms(**terms, total=total)
