"""An exact, slow reference for the rasterizer: float64 ray casting in numpy.

For every requested pixel centre a ray is cast (along +z for a weak-perspective camera, from
the camera centre for a perspective one) and intersected with every triangle
(Moller-Trumbore); the nearest hit gives the face, the depth and the (perspective-correct)
barycentrics. No culling: on a closed mesh seen from outside the nearest hit is a front face.
Used by the tests and by ``tools/bench_render.py``; far too slow for real rendering.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .cameras import Camera, PerspectiveCamera, WeakPerspectiveCamera, as_image_size

__all__ = ["ReferenceFragments", "ray_cast", "reference_fragments"]


@dataclass
class ReferenceFragments:
    """Reference result at N pixels.

    Attributes
    ----------
    rows, cols : (N,) int64
    face_ids : (N,) int64, -1 on a miss
    depth : (N,) float64 (0 on a miss)
    bary : (N, 3) float64 (0 on a miss)
    """

    rows: np.ndarray
    cols: np.ndarray
    face_ids: np.ndarray
    depth: np.ndarray
    bary: np.ndarray


def ray_cast(origins: np.ndarray, directions: np.ndarray, triangles: np.ndarray, chunk: int = 64):
    """Nearest hit of each ray with any triangle.

    origins, directions : (R, 3) float64; triangles : (F, 3, 3) float64.
    Returns face (R,) int64 (-1 on a miss), t (R,) float64 (inf on a miss), bary (R, 3) float64.
    """
    a = triangles[:, 0]
    e1 = triangles[:, 1] - a
    e2 = triangles[:, 2] - a
    n_rays = len(origins)
    face = np.full(n_rays, -1, dtype=np.int64)
    t_best = np.full(n_rays, np.inf)
    bary = np.zeros((n_rays, 3))
    for start in range(0, n_rays, chunk):
        o = origins[start:start + chunk]
        d = directions[start:start + chunk]
        p = np.cross(d[:, None], e2[None])  # (r, F, 3)
        det = np.einsum("rfk,fk->rf", p, e1)
        ok = np.abs(det) > 1e-14
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = o[:, None] - a[None]
        u = np.einsum("rfk,rfk->rf", s, p) * inv
        q = np.cross(s, e1[None])
        v = np.einsum("rk,rfk->rf", d, q) * inv
        t = np.einsum("fk,rfk->rf", e2, q) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        t = np.where(hit, t, np.inf)
        best = np.argmin(t, axis=1)
        rows = np.arange(len(o))
        found = np.isfinite(t[rows, best])
        idx = start + rows[found]
        face[idx] = best[found]
        t_best[idx] = t[rows, best][found]
        ub, vb = u[rows, best][found], v[rows, best][found]
        bary[idx] = np.column_stack([1.0 - ub - vb, ub, vb])
    return face, t_best, bary


def reference_fragments(vertices, faces, image_size: int | tuple[int, int], camera: Camera | None = None,
                        pixels: np.ndarray | None = None, sample: int = 0) -> ReferenceFragments:
    """Exact fragments of one mesh at some pixel centres.

    Parameters
    ----------
    vertices : (V, 3) float array or tensor (one mesh, camera convention)
    faces : (F, 3) int array or tensor
    image_size : int or (H, W)
    camera : WeakPerspectiveCamera, PerspectiveCamera or None
        a batched camera; entry ``sample`` is used.
    pixels : (N, 2) int array of (row, col), optional
        default: every pixel, row-major.
    """
    height, width = as_image_size(image_size)
    V = (vertices.detach().cpu().numpy() if isinstance(vertices, torch.Tensor) else np.asarray(vertices))
    V = V.astype(np.float64)
    Fc = faces.cpu().numpy() if isinstance(faces, torch.Tensor) else np.asarray(faces)
    if pixels is None:
        rr, cc = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        pixels = np.column_stack([rr.ravel(), cc.ravel()])
    rows, cols = pixels[:, 0].astype(np.int64), pixels[:, 1].astype(np.int64)
    x = (2.0 * cols + 1.0) / width - 1.0
    y = (2.0 * rows + 1.0) / height - 1.0

    def entry(tensor):
        array = tensor.detach().cpu().double().numpy()
        return array[min(sample, len(array) - 1)]

    if isinstance(camera, PerspectiveCamera):
        rotation = np.eye(3) if camera.rotation is None else entry(camera.rotation)
        V = V @ rotation.T + entry(camera.translation)
        focal = np.broadcast_to(entry(camera.focal_length), (2,))
        centre = entry(camera.principal_point)
        px, py = (x + 1.0) * width / 2.0, (y + 1.0) * height / 2.0
        directions = np.column_stack([(px - centre[0]) / focal[0], (py - centre[1]) / focal[1], np.ones_like(px)])
        origins = np.zeros_like(directions)
        face, t, bary = ray_cast(origins, directions, V[Fc])
        depth = t
    else:
        if isinstance(camera, WeakPerspectiveCamera):
            s, tx, ty = entry(camera.params)
        elif camera is None:
            s, tx, ty = 1.0, 0.0, 0.0
        else:
            raise TypeError(f"camera must be a WeakPerspectiveCamera, a PerspectiveCamera or None, "
                            f"got {type(camera).__name__}")
        start = V[:, 2].min() - 1.0
        origins = np.column_stack([x / s - tx, y / s - ty, np.full(len(x), start)])
        directions = np.tile([0.0, 0.0, 1.0], (len(x), 1))
        face, t, bary = ray_cast(origins, directions, V[Fc])
        depth = start + t
    depth = np.where(face >= 0, depth, 0.0)
    return ReferenceFragments(rows=rows, cols=cols, face_ids=face, depth=depth, bary=bary)
