"""The part weight map: per-texel loss weight of the body part a texel shows.

DecoMR weights its location-map loss by body part, torso : neck and head : arms and legs :
hands and feet = 1 : 2 : 5 : 25 (``uvkit.parts.PART_GROUPS``), restricted to valid texels and
renormalised to mean 1 over them.
"""
from __future__ import annotations

import numpy as np

from uvkit.errors import UVMapError
from uvkit.parts import NUM_JOINTS, joint_weights
from uvkit.raster import LookupTable

__all__ = ["face_parts", "part_weight_map"]


def face_parts(faces: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Part label of each face: the label most of its corners carry.

    Parameters
    ----------
    faces : (F, 3) int64
    parts : (V,) int64
        joint id (0..23) of each vertex.

    Returns
    -------
    face_parts : (F,) int64
        the label two or three corners share; when all three differ, the first corner's.
    """
    faces = np.asarray(faces, dtype=np.int64)
    parts = np.asarray(parts)
    if parts.ndim != 1 or not np.issubdtype(parts.dtype, np.integer):
        raise UVMapError(f"parts: expected (V,) int64, got shape {parts.shape} {parts.dtype}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise UVMapError(f"faces: expected (F, 3) int64, got shape {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(parts)):
        raise UVMapError(f"faces: vertex indices must lie in [0, {len(parts)}) for parts of shape {parts.shape}")
    if parts.size and (parts.min() < 0 or parts.max() >= NUM_JOINTS):
        raise UVMapError(f"parts: labels must lie in [0, {NUM_JOINTS}), got [{parts.min()}, {parts.max()}]")
    corner = parts.astype(np.int64)[faces]  # (F, 3)
    out = corner[:, 0].copy()
    second_third = (corner[:, 1] == corner[:, 2]) & (corner[:, 0] != corner[:, 1])
    out[second_third] = corner[second_third, 1]
    return out


def part_weight_map(table: LookupTable, faces: np.ndarray, parts: np.ndarray | None) -> np.ndarray:
    """Loss weight of every texel of a lookup table.

    Parameters
    ----------
    table : LookupTable
    faces : (F, 3) int64
        template faces (the order of the table's face indices).
    parts : (V,) int64 or None
        joint id of each vertex; None gives weight 1 on every valid texel.

    Returns
    -------
    weight : (R, R) float32
        the part group weight of each valid texel's face, scaled so that the mean over valid
        texels is 1; 0 on invalid texels (all 0 when no texel is valid).
    """
    mask = table.mask
    out = np.zeros(mask.shape, dtype=np.float64)
    if parts is None:
        out[mask] = 1.0
    else:
        per_face = joint_weights()[face_parts(faces, parts)]
        face = table.face[mask].astype(np.int64)
        if face.size and face.max() >= len(per_face):
            raise UVMapError(f"lookup table refers to face {face.max()}, faces has shape {np.shape(faces)}")
        out[mask] = per_face[face]
    if mask.any():
        out[mask] /= out[mask].mean()
    return out.astype(np.float32)
