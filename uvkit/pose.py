"""Linear blend skinning in numpy, to measure UV maps on posed bodies without torch.

The same model as SMPL (and ``decomr.body``, which poses through smplx): shape blend shapes,
pose correctives, joints from the regressor, rotations along the kinematic tree, skinning.
"""
from __future__ import annotations

import numpy as np

from .errors import TemplateError


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Rotation matrices from axis-angle vectors: (..., 3) -> (..., 3, 3)."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    skew = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + sin * skew + (1.0 - cos) * (skew @ skew)


def pose_vertices(template, pose: np.ndarray, betas: np.ndarray | None = None) -> np.ndarray:
    """Pose a template with an SMPL-format rig.

    Parameters
    ----------
    template : uvkit.template.Template
        with weights, kintree_table, J_regressor (and shapedirs when ``betas`` is given).
    pose : (3 J,) float
        axis-angle per joint, root first.
    betas : (K,) float, optional

    Returns
    -------
    vertices : (V, 3) float64
    """
    if not template.has_rig:
        raise TemplateError(f"{template.source}: cannot be posed (no weights, kintree_table or J_regressor)")
    n_joints = template.weights.shape[1]
    pose = np.asarray(pose, dtype=np.float64).reshape(-1, 3)
    if pose.shape[0] != n_joints:
        raise ValueError(f"pose must have {3 * n_joints} values for {n_joints} joints, got {pose.size}")
    shaped = template.vertices.copy()
    if betas is not None:
        betas = np.asarray(betas, dtype=np.float64)
        shaped += template.shapedirs[:, :, : len(betas)] @ betas
    joints = template.J_regressor @ shaped
    rotations = rodrigues(pose)
    if template.posedirs is not None and np.any(template.posedirs):
        feature = (rotations[1:] - np.eye(3)).ravel()
        shaped = shaped + template.posedirs @ feature
    parents = template.kintree_table[0]
    world = np.zeros((n_joints, 4, 4))
    for j in range(n_joints):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j > 0 else 0.0)
        world[j] = local if j == 0 else world[parents[j]] @ local
    # transforms relative to the rest pose
    world[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)
    blended = np.einsum("vj,jab->vab", template.weights, world)
    return np.einsum("vab,vb->va", blended[:, :3, :3], shaped) + blended[:, :3, 3]


def sample_poses(n: int, n_joints: int = 24, scale: float = 0.35, seed: int = 0) -> np.ndarray:
    """``n`` moderate random poses (normal axis-angle, root fixed), for measurements.

    Returns
    -------
    poses : (n, 3 n_joints) float64
    """
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=scale, size=(n, n_joints, 3))
    poses[:, 0] = 0.0
    return poses.reshape(n, -1)
