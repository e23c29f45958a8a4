"""Evaluation metrics of the field: joint and vertex errors, segmentation accuracy and F1.

Conventions
-----------
- 3D inputs are in metres; errors are returned in **millimetres** (``unit_scale=1000``).
- MPJPE: mean per-joint position error after translating both skeletons so that their pelvises
  coincide. On the 14 evaluation joints (LSP order, :data:`decomr.body.JOINTS14_NAMES`) the
  pelvis is the mid-point of the hips: the mean of joints 2 (right hip) and 3 (left hip),
  :data:`LSP14_PELVIS`. On the 24 SMPL joints it is the mean of joints 1 and 2 (left and right
  hip), :data:`SMPL24_PELVIS`; the SMPL "pelvis" joint itself is not used.
- PA-MPJPE: after a per-sample similarity Procrustes alignment of the prediction onto the
  ground truth (rotation, translation and isotropic scale minimising the squared error, the
  closed form of Umeyama 1991, with a reflection excluded).
- PVE (vertex error): mean per-vertex L2 distance after pelvis alignment, each mesh's pelvis
  taken from its own evaluation joints.
- Joints with zero confidence are left out of the means (and of the Procrustes fit).
- Segmentation: per-pixel labels compared to ground-truth labels. Accuracy = correct pixels /
  all pixels. F1 of class c = 2 TP / (2 TP + FP + FN); the reported F1 is the mean over the
  classes (background included), for the two-class foreground problem and for the seven-class
  part problem (background + :data:`PART_NAMES`). Dataset-level numbers sum the confusion
  matrices of all images first (:func:`confusion_matrix`, :func:`segmentation_scores`).

The six parts of the LSP segmentation protocol, defined on the 24 SMPL joints (a vertex or face
belongs to the joint that dominates its skinning weights, ``uvkit.parts``):

=====  ==========  ==========================================================
label  part        SMPL joints
=====  ==========  ==========================================================
0      background  (no body)
1      head        neck, head
2      torso       pelvis, spine1, spine2, spine3, left_collar, right_collar
3      left arm    left shoulder, elbow, wrist, hand
4      right arm   right shoulder, elbow, wrist, hand
5      left leg    left hip, knee, ankle, foot
6      right leg   right hip, knee, ankle, foot
=====  ==========  ==========================================================

"left" is the body's own left.
"""
from __future__ import annotations

from typing import Sequence

import torch

from uvkit.parts import JOINT_NAMES, NUM_JOINTS

__all__ = [
    "LSP14_PELVIS", "SMPL24_PELVIS", "PART_NAMES", "SEGMENTATION_PARTS", "ALIGNMENTS", "check_alignment",
    "part_labels_from_joints", "joint_to_part_table",
    "pelvis", "procrustes_align", "joint_error", "mpjpe", "pa_mpjpe", "vertex_error",
    "confusion_matrix", "segmentation_scores",
]

#: indices of the hips among the 14 LSP-order evaluation joints (right hip, left hip).
LSP14_PELVIS: tuple[int, int] = (2, 3)
#: indices of the hips among the 24 SMPL joints (left hip, right hip).
SMPL24_PELVIS: tuple[int, int] = (1, 2)
#: the alignments :func:`joint_error` and :func:`vertex_error` accept.
ALIGNMENTS: tuple[str, ...] = ("pelvis", "procrustes", "none")

#: the six body parts of the segmentation protocol, labels 1..6 (0 is background).
PART_NAMES: tuple[str, ...] = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")
#: SMPL joints of each part.
SEGMENTATION_PARTS: dict[str, tuple[str, ...]] = {
    "head": ("neck", "head"),
    "torso": ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist", "right_hand"),
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_foot"),
}


def joint_to_part_table() -> torch.Tensor:
    """Segmentation label of each SMPL joint.

    Returns
    -------
    table : (24,) int64 tensor
        ``table[j]`` in 1..6, the part (:data:`PART_NAMES` order + 1) of joint ``j``.
    """
    table = torch.zeros(NUM_JOINTS, dtype=torch.int64)
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    for label, part in enumerate(PART_NAMES, start=1):
        for name in SEGMENTATION_PARTS[part]:
            table[index[name]] = label
    assert bool((table > 0).all()), "every SMPL joint belongs to a part"
    return table


def part_labels_from_joints(labels: torch.Tensor) -> torch.Tensor:
    """Renderer part images (0 background, SMPL joint id + 1) -> segmentation labels 0..6.

    Parameters
    ----------
    labels : (...) int tensor
        0 on background, ``joint + 1`` on the body (``decomr.render.render_parts``).

    Returns
    -------
    parts : (...) int64 tensor in 0..6
    """
    if labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor (0 background, joint id + 1), got {labels.dtype}")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > NUM_JOINTS):
        raise ValueError(f"labels must lie in 0..{NUM_JOINTS} (0 background, joint id + 1), got "
                         f"{int(labels.min())}..{int(labels.max())}")
    table = torch.cat([torch.zeros(1, dtype=torch.int64), joint_to_part_table()]).to(labels.device)
    return table[labels]


# ---------------------------------------------------------------------------- 3D errors
def _check_points(name: str, points: torch.Tensor) -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 3 or points.shape[-1] != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{name} must be a (B, N, 3) float tensor, got {shape}")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got {points.dtype}")


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
    """Validate shapes; return (B, N) float64 weights (1 where no confidence is given)."""
    _check_points("pred", pred)
    _check_points("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must have the same shape")
    if confidence is None:
        return torch.ones(gt.shape[:2], dtype=torch.float64, device=gt.device)
    if not isinstance(confidence, torch.Tensor) or tuple(confidence.shape) != tuple(gt.shape[:2]):
        shape = tuple(confidence.shape) if isinstance(confidence, torch.Tensor) else type(confidence).__name__
        raise ValueError(f"confidence must be a (B, N) = {tuple(gt.shape[:2])} tensor, got {shape}")
    return (confidence > 0).to(torch.float64)


def check_alignment(name: str) -> str:
    """Return ``name`` if it is one of :data:`ALIGNMENTS`, else raise ``ValueError`` listing them."""
    if name not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {name!r}; valid choices: {', '.join(ALIGNMENTS)}")
    return name


def pelvis(joints: torch.Tensor, indices: Sequence[int] = LSP14_PELVIS) -> torch.Tensor:
    """Pelvis as the mean of the given joints (the hips).

    joints : (B, J, 3) float tensor -> (B, 3) tensor.
    """
    _check_points("joints", joints)
    indices = list(indices)
    if not indices or max(indices) >= joints.shape[1] or min(indices) < 0:
        raise ValueError(f"pelvis indices {indices} out of range for {joints.shape[1]} joints")
    return joints[:, indices].mean(dim=1)


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
    """Similarity transform of ``pred`` that best fits ``gt`` per sample (least squares).

    Finds scale c, rotation R (det +1) and translation t minimising
    ``sum_j w_j || c R pred_j + t - gt_j ||^2`` (Umeyama's closed form through an SVD of the
    weighted cross-covariance), computed in float64.

    Parameters
    ----------
    pred, gt : (B, N, 3) float tensors
    confidence : (B, N) tensor, optional
        points with confidence <= 0 do not take part in the fit (at least 3 must).

    Returns
    -------
    aligned : (B, N, 3) tensor, dtype of ``pred``
        ``c R pred + t`` for every point (also those left out of the fit).
    """
    weights = _check_pair(pred, gt, confidence)
    x = pred.detach().to(torch.float64)
    y = gt.detach().to(torch.float64)
    total = weights.sum(dim=1, keepdim=True).clamp(min=1e-12)  # (B, 1)
    w = (weights / total)[..., None]  # (B, N, 1), sums to 1
    mean_x = (w * x).sum(dim=1, keepdim=True)
    mean_y = (w * y).sum(dim=1, keepdim=True)
    xc, yc = x - mean_x, y - mean_y
    var_x = (w * xc.square()).sum(dim=(1, 2))  # (B,)
    covariance = (w * yc).transpose(1, 2) @ xc  # (B, 3, 3): sum_j w_j y_j x_j^T
    u, sigma, vh = torch.linalg.svd(covariance)
    sign = torch.ones_like(sigma)
    sign[:, 2] = torch.sign(torch.linalg.det(u @ vh))
    sign[:, 2] = torch.where(sign[:, 2] == 0, torch.ones_like(sign[:, 2]), sign[:, 2])
    rotation = u @ torch.diag_embed(sign) @ vh
    scale = (sigma * sign).sum(dim=1) / var_x.clamp(min=1e-12)
    aligned = scale[:, None, None] * (x @ rotation.transpose(1, 2))
    aligned = aligned + (mean_y - scale[:, None, None] * (mean_x @ rotation.transpose(1, 2)))
    return aligned.to(pred.dtype)


def joint_error(pred: torch.Tensor, gt: torch.Tensor, confidence: torch.Tensor | None = None,
                align: str = "pelvis", pelvis_indices: Sequence[int] = LSP14_PELVIS,
                unit_scale: float = 1000.0) -> torch.Tensor:
    """Mean per-point L2 error per sample.

    Parameters
    ----------
    pred, gt : (B, N, 3) float tensors, metres
    confidence : (B, N) tensor, optional
        points with confidence <= 0 are left out (a sample with none gives NaN).
    align : str
        ``"pelvis"`` (translate so that the pelvises coincide, the pelvis being the mean of
        ``pelvis_indices`` of each set), ``"procrustes"`` (similarity Procrustes) or ``"none"``.
    pelvis_indices : sequence of int
        default :data:`LSP14_PELVIS` (the hips of the 14 LSP-order joints).
    unit_scale : float
        factor applied to the result (1000: metres -> millimetres).

    Returns
    -------
    error : (B,) float64 tensor (millimetres by default)
    """
    check_alignment(align)
    weights = _check_pair(pred, gt, confidence)
    x = pred.detach().to(torch.float64)
    y = gt.detach().to(torch.float64)
    if align == "pelvis":
        x = x - pelvis(x, pelvis_indices)[:, None]
        y = y - pelvis(y, pelvis_indices)[:, None]
    elif align == "procrustes":
        x = procrustes_align(x, y, weights)
    distance = (x - y).norm(dim=-1)  # (B, N)
    count = weights.sum(dim=1)
    mean = (distance * weights).sum(dim=1) / count
    mean = torch.where(count > 0, mean, torch.full_like(mean, float("nan")))
    return mean * unit_scale


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, confidence: torch.Tensor | None = None,
          pelvis_indices: Sequence[int] = LSP14_PELVIS) -> torch.Tensor:
    """MPJPE in millimetres after pelvis (mid-hip) alignment: (B, J, 3) metres x 2 -> (B,) float64."""
    return joint_error(pred, gt, confidence, "pelvis", pelvis_indices)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
    """MPJPE in millimetres after similarity Procrustes alignment: (B, J, 3) x 2 -> (B,) float64."""
    return joint_error(pred, gt, confidence, "procrustes")


def vertex_error(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, pred_pelvis: torch.Tensor | None = None,
                 gt_pelvis: torch.Tensor | None = None, align: str = "pelvis",
                 unit_scale: float = 1000.0) -> torch.Tensor:
    """PVE: mean per-vertex L2 error per sample, in millimetres.

    Parameters
    ----------
    pred_vertices, gt_vertices : (B, V, 3) float tensors, metres
    pred_pelvis, gt_pelvis : (B, 3) float tensors
        each mesh's pelvis (mean of its hips, from its own evaluation joints); needed for
        ``align="pelvis"``.
    align : str
        ``"pelvis"``, ``"procrustes"`` (on the vertices) or ``"none"``.

    Returns
    -------
    error : (B,) float64 tensor
    """
    check_alignment(align)
    _check_pair(pred_vertices, gt_vertices, None)
    x = pred_vertices.detach().to(torch.float64)
    y = gt_vertices.detach().to(torch.float64)
    if align == "pelvis":
        for name, value in (("pred_pelvis", pred_pelvis), ("gt_pelvis", gt_pelvis)):
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != (x.shape[0], 3):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"{name} must be a (B, 3) = ({x.shape[0]}, 3) tensor for align='pelvis', got {shape}")
        x = x - pred_pelvis.detach().to(torch.float64)[:, None]
        y = y - gt_pelvis.detach().to(torch.float64)[:, None]
    elif align == "procrustes":
        x = procrustes_align(x, y)
    return (x - y).norm(dim=-1).mean(dim=1) * unit_scale


# ---------------------------------------------------------------------------- segmentation
def confusion_matrix(pred: torch.Tensor, gt: torch.Tensor, num_classes: int,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image confusion matrices of label images.

    Parameters
    ----------
    pred, gt : (B, H, W) int tensors
        labels in ``0..num_classes - 1``.
    num_classes : int
        2 (background / foreground) or 7 (background + 6 parts), or any other count.
    valid : (B, H, W) bool tensor, optional
        pixels to count (default all).

    Returns
    -------
    confusion : (B, C, C) int64 tensor
        ``confusion[b, g, p]`` counts pixels of true class g predicted as p.
    """
    for name, labels in (("pred", pred), ("gt", gt)):
        if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.is_floating_point():
            shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(f"{name} must be a (B, H, W) integer tensor, got {shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} label images must have the same shape")
    num_classes = int(num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    for name, labels in (("pred", pred), ("gt", gt)):
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    batch = pred.shape[0]
    index = gt.long() * num_classes + pred.long()
    ones = torch.ones_like(index)
    if valid is not None:
        if not isinstance(valid, torch.Tensor) or valid.shape != pred.shape:
            raise ValueError(f"valid must be a {tuple(pred.shape)} bool tensor")
        ones = valid.to(torch.int64)
    out = torch.zeros(batch, num_classes * num_classes, dtype=torch.int64, device=pred.device)
    out.scatter_add_(1, index.reshape(batch, -1), ones.reshape(batch, -1))
    return out.reshape(batch, num_classes, num_classes)


def segmentation_scores(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """Accuracy and mean F1 from confusion matrices.

    Parameters
    ----------
    confusion : (C, C) or (B, C, C) int tensor
        from :func:`confusion_matrix` (sum over the batch for dataset-level scores).

    Returns
    -------
    dict with
        ``accuracy`` : () or (B,) float64, correct pixels / all pixels;
        ``f1`` : () or (B,) float64, mean over classes of ``2 TP / (2 TP + FP + FN)``; a class
        absent from both prediction and ground truth counts as F1 = 1 (nothing to get wrong);
        ``f1_per_class`` : (C,) or (B, C) float64.
    """
    if not isinstance(confusion, torch.Tensor) or confusion.ndim not in (2, 3) or confusion.shape[-1] != confusion.shape[-2]:
        shape = tuple(confusion.shape) if isinstance(confusion, torch.Tensor) else type(confusion).__name__
        raise ValueError(f"confusion must be a (C, C) or (B, C, C) tensor, got {shape}")
    matrix = confusion.to(torch.float64)
    tp = torch.diagonal(matrix, dim1=-2, dim2=-1)
    fp = matrix.sum(dim=-2) - tp  # predicted as c, truly another class
    fn = matrix.sum(dim=-1) - tp
    denominator = 2 * tp + fp + fn
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.ones_like(tp))
    total = matrix.sum(dim=(-2, -1))
    accuracy = tp.sum(dim=-1) / total.clamp(min=1)
    return {"accuracy": accuracy, "f1": f1.mean(dim=-1), "f1_per_class": f1}
