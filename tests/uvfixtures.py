"""Small left-right symmetric meshes with UV maps, built in code (no file, no libigl).

Both use SMPL axes: +x is the body's left, so the mirror reflects x; u grows with x, so the
mirror of (u, v) is (1 - u, v). Quads are split along mirrored diagonals, so the triangulation,
and with it every lookup table, is symmetric too.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from uvkit.template import template_hash
from uvkit.uvmap import build_uvmap


def _quads(rows: int, cols: int, vertex_id, mirrored_from: int) -> list[list[int]]:
    """Triangles of a rows x cols grid of quads; quads at column >= mirrored_from use the other diagonal."""
    faces = []
    for i in range(rows):
        for k in range(cols):
            a, b, c, d = vertex_id(i, k), vertex_id(i, k + 1), vertex_id(i + 1, k + 1), vertex_id(i + 1, k)
            if k < mirrored_from:
                faces += [[a, b, c], [a, c, d]]
            else:
                faces += [[a, b, d], [b, c, d]]
    return faces


def _uvmap(vertices, vt, ft, vt2v, vt_mirror, mirror, resolutions, name):
    faces = vt2v[ft]
    template = SimpleNamespace(vertices=vertices, faces=faces)
    uvmap = build_uvmap(vt, ft, vt2v, faces, len(vertices), vt_mirror=vt_mirror, mirror=mirror,
                        resolutions=resolutions,
                        meta={"template_sha256": template_hash(vertices, faces), "template_name": name,
                              "generator": "test"})
    return template, uvmap


def flat_grid(n: int = 7, resolutions=(16, 32)):
    """A flat n x n grid whose positions are an affine function of its UV coordinates.

    The location map is then affine on every valid texel, so the mesh -> location map -> mesh
    round trip is exact. No seam: ``vt2v`` is the identity.

    Returns
    -------
    template : SimpleNamespace with .vertices (n*n, 3) float64 and .faces (F, 3) int64
    uvmap : uvkit.uvmap.UVMap
    """
    t = np.linspace(0.1, 0.9, n)
    v_grid, u_grid = np.meshgrid(t, t, indexing="ij")  # row i: v, column k: u
    vt = np.stack([u_grid.ravel(), v_grid.ravel()], axis=1)
    vertices = np.stack([vt[:, 0] - 0.5, 1.5 * vt[:, 1], 0.2 * vt[:, 1] + 0.1], axis=1)
    ft = np.asarray(_quads(n - 1, n - 1, lambda i, k: i * n + k, (n - 1) // 2), dtype=np.int64)
    vt2v = np.arange(n * n, dtype=np.int64)
    mirror = (np.arange(n)[:, None] * n + (n - 1 - np.arange(n))[None, :]).ravel().astype(np.int64)
    return _uvmap(vertices, vt, ft, vt2v, mirror, mirror, resolutions, "flat-grid")


def cylinder(n_around: int = 8, n_rings: int = 5, resolutions=(16, 32)):
    """An open tube around the y axis, cut along its back (x = 0, z < 0) into one chart.

    The seam's vertices have two UV copies (u = 0.05 and u = 0.95); the radius varies with the
    ring, so the tube is not affine in UV.

    Returns
    -------
    template : SimpleNamespace with .vertices (n_around * n_rings, 3) and .faces (F, 3)
    uvmap : uvkit.uvmap.UVMap
    """
    n = n_around
    theta = -np.pi / 2 + 2 * np.pi * np.arange(n) / n
    vertices = []
    for i in range(n_rings):
        radius = 0.3 + 0.1 * np.sin(1.3 * i)
        for k in range(n):
            vertices.append([radius * np.cos(theta[k]), 0.25 * i, radius * np.sin(theta[k])])
    vertices = np.asarray(vertices)
    vt, vt2v, vt_mirror = [], [], []
    for i in range(n_rings):
        for k in range(n + 1):
            vt.append([0.05 + 0.9 * k / n, 0.05 + 0.9 * i / (n_rings - 1)])
            vt2v.append(i * n + k % n)
            vt_mirror.append(i * (n + 1) + (n - k))
    vt = np.asarray(vt)
    vt2v = np.asarray(vt2v, dtype=np.int64)
    vt_mirror = np.asarray(vt_mirror, dtype=np.int64)
    ft = np.asarray(_quads(n_rings - 1, n, lambda i, k: i * (n + 1) + k, n // 2), dtype=np.int64)
    mirror = np.asarray([i * n + (n - k) % n for i in range(n_rings) for k in range(n)], dtype=np.int64)
    return _uvmap(vertices, vt, ft, vt2v, vt_mirror, mirror, resolutions, "cylinder")
