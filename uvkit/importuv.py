"""Existing UV maps into the project's UV file: an OBJ's ``vt`` lines, or a template's native atlas.

Multi-chart maps are fine. OBJ files and template ``vt`` keys follow the OBJ convention (v grows
upwards, image row 0 at v = 1); the project's UV maps put v along image rows (docs/formats.md),
so imported maps are read with ``v -> 1 - v``. The UV vertices are re-indexed so that each one belongs to exactly
one template vertex (``vt2v``): an artist map that shares one ``vt`` between several mesh
vertices gets a copy per vertex. Vertex order is matched to the template by position when
every vertex of the file lies on one of the template's (a file written with its seams split,
or in another vertex order), else by index when the vertex counts agree; anything that cannot
be matched is refused.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from .errors import UVMapError
from .template import Template, read_template_arrays


def split_shared_uvs(faces: np.ndarray, vt: np.ndarray, ft: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-index a UV map so that every UV vertex belongs to one mesh vertex.

    Parameters
    ----------
    faces : (F, 3) int64
        template faces.
    vt : (T0, 2) float64
    ft : (F, 3) int64

    Returns
    -------
    vt : (T, 2) float64
        used UV vertices, one per distinct (mesh vertex, UV vertex) corner pair, in order of
        first use (face order, corner order).
    ft : (F, 3) int64
    vt2v : (T,) int64
    """
    pairs = np.stack([faces.ravel(), ft.ravel()], axis=1)
    _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # number UV vertices by first use
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_ft = rank[inverse.ravel()].reshape(ft.shape)
    used = pairs[first[order]]
    return np.asarray(vt, dtype=np.float64)[used[:, 1]], new_ft.astype(np.int64), used[:, 0].astype(np.int64)


def _match_faces(template_faces: np.ndarray, faces: np.ndarray, ft: np.ndarray, source: str) -> np.ndarray:
    """Reorder (and rotate the corners of) ``ft`` from ``faces``' order to the template's."""
    if np.array_equal(template_faces, faces):
        return ft
    key = {tuple(sorted(face)): i for i, face in enumerate(faces.tolist())}
    out = np.empty_like(template_faces)
    for f, face in enumerate(template_faces.tolist()):
        i = key.get(tuple(sorted(face)))
        if i is None:
            raise UVMapError(f"{source}: template face {f} {face} has no counterpart among the file's faces")
        corner = {v: t for v, t in zip(faces[i].tolist(), ft[i].tolist())}
        out[f] = [corner[v] for v in face]
    return out


def uv_from_arrays(template: Template, positions: np.ndarray, faces: np.ndarray, vt: np.ndarray, ft: np.ndarray,
                   source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match a UV-mapped mesh to ``template`` and return ``(vt, ft, vt2v)`` in template terms.

    Parameters
    ----------
    positions : (V0, 3) float64
        the file's vertices.
    faces : (F0, 3) int64
    vt : (T0, 2) float64
    ft : (F0, 3) int64
    """
    faces = np.asarray(faces, dtype=np.int64)
    ft = np.asarray(ft, dtype=np.int64)
    if len(faces) != template.n_faces:
        raise UVMapError(f"{source}: has {len(faces)} faces but the template {template.source} has {template.n_faces}")
    diagonal = float(np.linalg.norm(np.ptp(template.vertices, axis=0)))
    positions = np.asarray(positions, dtype=np.float64)
    same_count = len(positions) == template.n_vertices
    distance, remap = cKDTree(template.vertices).query(positions)
    if same_count and (distance.max() > 1e-6 * diagonal or np.all(
            np.linalg.norm(positions - template.vertices, axis=1) <= 1e-6 * diagonal)):
        # by index: the same vertices in place, or the same count in another shape or pose
        remap = np.arange(len(positions))
    elif not same_count:   # by position (else: the same vertices in another order, e.g. seams welded back)
        if distance.max() > 1e-6 * diagonal:
            raise UVMapError(
                f"{source}: {len(positions)} vertices where the template has {template.n_vertices}, and "
                f"{int((distance > 1e-6 * diagonal).sum())} of them lie on no template vertex: cannot match vertex order"
            )
    ft = _match_faces(template.faces, remap[faces], ft, source)
    vt = np.asarray(vt, dtype=np.float64)
    if vt.ndim != 2 or vt.shape[1] < 2:
        raise UVMapError(f"{source}: 'vt' must have shape (T, 2), got {vt.shape}")
    return split_shared_uvs(template.faces, obj_to_image_uv(vt[:, :2]), ft)


def obj_to_image_uv(vt: np.ndarray) -> np.ndarray:
    """OBJ texture coordinates (v up) to the project's (v along image rows): ``(u, 1 - v)``."""
    vt = np.array(vt, dtype=np.float64)
    vt[:, 1] = 1.0 - vt[:, 1]
    return vt


def uv_from_template(template: Template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The template's own native atlas (``vt``/``ft`` keys) as ``(vt, ft, vt2v)``."""
    if template.vt is None or template.ft is None:
        raise UVMapError(f"{template.source}: the template has no native UV ('vt'/'ft' keys)")
    return split_shared_uvs(template.faces, obj_to_image_uv(template.vt), template.ft)


def uv_from_file(path: str | Path, template: Template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vt, ft, vt2v)`` from a UV-mapped file (an OBJ with ``vt`` lines, or an npz/pkl template
    with ``vt``/``ft``), matched to ``template``."""
    data = read_template_arrays(path)
    if data.get("vt") is None or data.get("ft") is None:
        raise UVMapError(f"{path}: has no texture coordinates (no 'vt' lines / keys)")
    return uv_from_arrays(template, np.asarray(data["v_template"], dtype=np.float64), np.asarray(data["f"]), data["vt"], data["ft"], str(path))


def import_uvmap(template: Template, source: str | Path | None = None, resolutions=None):
    """A :class:`uvkit.uvmap.UVMap` from an existing UV map.

    Parameters
    ----------
    template : Template
    source : path or None
        a UV-mapped OBJ (or template file with ``vt``/``ft``); ``None`` takes the template's own
        native atlas.
    resolutions : sequence of int, optional
        lookup-table sizes (default 64, 128, 256).
    """
    from .uvmap import DEFAULT_RESOLUTIONS, build_uvmap

    if source is None:
        vt, ft, vt2v = uv_from_template(template)
        origin = f"native UV of {Path(template.source).name}"
    else:
        vt, ft, vt2v = uv_from_file(source, template)
        origin = Path(source).name
    low, high = vt.min(axis=0), vt.max(axis=0)
    if (low < 0).any() or (high > 1).any():
        raise UVMapError(
            f"{source or template.source}: texture coordinates span {low.round(4).tolist()}..{high.round(4).tolist()}; "
            "only maps inside the unit square are supported"
        )
    mirror = template.mirror
    meta = {
        "template_sha256": template.sha256,
        "template_name": template.name,
        "generator": "import-uv",
        "source": origin,
    }
    return build_uvmap(
        vt, ft, vt2v, template.faces, template.n_vertices, parts=template.parts, mirror=mirror,
        resolutions=tuple(resolutions or DEFAULT_RESOLUTIONS), meta=meta,
    )
