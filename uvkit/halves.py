"""A body made exactly symmetric from one of its halves (``uvkit symmetrize``).

A scan, a sculpt or a remesh has sides meshed independently of each other: its vertices have no
mirror partners, so no exactly symmetric UV map of it exists (docs/seams.md, "Sides meshed
independently"). Where a symmetric template is wanted (a UV map exactly symmetric, left-right
flips in training), one half of the body is kept and mirrored: the mesh is cut along its mirror
plane, the kept half's triangles that cross the plane are cut there, and the half is joined to
its reflection along the cut. The result has an exactly mirror-symmetric triangulation and
stores its mirror permutation.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse.csgraph

from .errors import TemplateError
from .mesh import directed_edges, sorted_unique, vertex_adjacency
from .symmetry import mean_edge_lengths, mirror_plane

#: vertices closer to the mirror plane than this share of the mean length of their edges are
#: moved onto it (no slivers between them and the points where edges cross the plane).
SNAP_FRACTION = 0.25


def mirrored_half(vertices: np.ndarray, faces: np.ndarray, normal: np.ndarray, offset: float,
                  side: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The half of a closed mesh on ``side`` (+1 or -1) of the plane ``normal . x = offset``,
    joined to its reflection.

    Vertices within :data:`SNAP_FRACTION` of their mean edge length of the plane are moved onto
    it; triangles on the kept side are kept, triangles crossing the plane are cut at it (one
    new vertex per crossing edge, shared by the two triangles at the edge; a kept quadrilateral
    is split along its shorter diagonal); triangles beyond it are left out. Vertices where the
    surface only touches the plane (an edge moved onto it with a kept triangle on each side, a
    triangle moved into it whole) are moved off it to the kept side instead. The vertices on
    the plane are shared by the two halves; pieces apart from the body (a bump of the kept side
    poking through the plane) are left out. vertices : (V, 3) float64; faces : (F, 3) int64,
    counter-clockwise seen from outside; normal : (3,) unit. Returns
    (U (N, 3) float64, G (M, 3) int64, mirror (N,) int64): the kept half's vertices (the old
    ones first, in their order, then the points where edges cross the plane), then the
    reflections of its vertices off the plane; the faces, the half's then the reflections'
    (orientation reversed, so they face outwards too); the mirror permutation.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    normal = np.asarray(normal, dtype=np.float64)
    raw = side * (vertices @ normal - offset)
    raw = np.where(raw == 0.0, np.finfo(np.float64).tiny, raw)     # a vertex exactly on the plane: kept side
    reach = SNAP_FRACTION * mean_edge_lengths(vertices, faces)
    snap = np.abs(raw) < reach
    while True:
        # where the surface only touches the plane (a kept triangle on each side of an edge
        # moved onto it, or a triangle moved into it whole), the vertices are moved off it to
        # the kept side instead, as far as the snapping reaches (mirrored, such an edge would
        # join four triangles; left where they are, they would make slivers)
        whole = faces[np.all(snap[faces], axis=1)]
        on_kept = faces[np.all(snap[faces] | (raw[faces] > 0), axis=1)]
        pairs = np.sort(directed_edges(on_kept), axis=1)
        pairs = pairs[snap[pairs[:, 0]] & snap[pairs[:, 1]]]
        code, count = np.unique(pairs[:, 0] * len(vertices) + pairs[:, 1], return_counts=True)
        touching = code[count > 1]
        if len(whole) == 0 and len(touching) == 0:
            break
        lifted = np.concatenate([whole.ravel(), touching // len(vertices), touching % len(vertices)])
        snap[lifted] = False
        raw[lifted] = reach[lifted]
    distance = np.where(snap, 0.0, raw)
    # every vertex at its (signed, kept side positive) distance from the plane: unmoved, on the
    # plane, or lifted off it
    points = vertices - (side * (vertices @ normal - offset) - distance)[:, None] * side * normal
    sign = np.sign(distance)
    corner = sign[faces]                                            # (F, 3): +1 kept, 0 on the plane, -1 not
    kept = np.all(corner >= 0, axis=1) & np.any(corner > 0, axis=1)
    crossing = np.any(corner > 0, axis=1) & np.any(corner < 0, axis=1)
    # the points where edges cross the plane, one per edge
    edges = np.sort(directed_edges(faces[crossing]), axis=1)
    cut = edges[sign[edges[:, 0]] * sign[edges[:, 1]] < 0]
    n = len(vertices)
    code = sorted_unique(cut[:, 0] * n + cut[:, 1])
    a, b = code // n, code % n
    t = distance[a] / (distance[a] - distance[b])
    new_points = points[a] + t[:, None] * (points[b] - points[a])
    new_points -= ((new_points @ normal - offset) / (normal @ normal))[:, None] * normal   # on the plane

    def crossing_point(p: int, q: int) -> int:
        key = min(p, q) * n + max(p, q)
        return n + int(np.searchsorted(code, key))

    everything = np.vstack([points, new_points])
    triangles = [faces[kept]]
    pieces = []
    for face in faces[crossing].tolist():
        ring: list[int] = []                                        # the kept polygon, in the face's order
        for k in range(3):
            p, q = face[k], face[(k + 1) % 3]
            if sign[p] >= 0:
                ring.append(p)
            if sign[p] * sign[q] < 0:
                ring.append(crossing_point(p, q))
        if len(ring) == 3:
            pieces.append(ring)
        elif len(ring) == 4:
            if (np.linalg.norm(everything[ring[0]] - everything[ring[2]])
                    <= np.linalg.norm(everything[ring[1]] - everything[ring[3]])):
                pieces += [[ring[0], ring[1], ring[2]], [ring[0], ring[2], ring[3]]]
            else:
                pieces += [[ring[0], ring[1], ring[3]], [ring[1], ring[2], ring[3]]]
    half_faces = np.vstack(triangles + ([np.asarray(pieces, dtype=np.int64)] if pieces else []))
    on_plane = np.concatenate([sign == 0, np.ones(len(new_points), dtype=bool)])
    # the half's vertices, renumbered: the old ones in their order, then the crossing points
    used = np.zeros(len(everything), dtype=bool)
    used[half_faces.ravel()] = True
    order = np.flatnonzero(used)
    number = np.full(len(everything), -1, dtype=np.int64)
    number[order] = np.arange(len(order))
    half = everything[order]
    middle = on_plane[order]
    # the reflections of the off-plane vertices come after the half's
    copy = np.arange(len(order), dtype=np.int64)
    off = np.flatnonzero(~middle)
    copy[off] = len(order) + np.arange(len(off))
    reflected = half[off] - 2.0 * ((half[off] @ normal - offset) / (normal @ normal))[:, None] * normal
    out_vertices = np.vstack([half, reflected])
    first = number[half_faces]
    out_faces = np.vstack([first, copy[first][:, ::-1]])
    mirror = np.concatenate([copy, off])          # a half's vertex <-> its reflection; the plane's alone
    # islands (a bump of the kept side poking through the plane apart from the body, joined to
    # its reflection) are left out: the largest piece, closed under the mirror, is the body
    pieces, label = scipy.sparse.csgraph.connected_components(vertex_adjacency(out_faces, len(out_vertices)),
                                                              directed=False)
    if pieces > 1:
        body = np.argmax(np.bincount(label))
        keep = label == body
        renumber = np.cumsum(keep) - 1
        out_faces = renumber[out_faces[keep[out_faces[:, 0]]]]
        mirror = renumber[mirror[keep]]
        out_vertices = out_vertices[keep]
    return out_vertices, out_faces, mirror


def symmetrized(template: Any, side: float = 1.0) -> tuple[Any, np.ndarray]:
    """``template`` made exactly symmetric from its half on ``side`` of its mirror plane
    (:func:`mirrored_half`; the plane as :func:`uvkit.symmetry.find_mirror` fits it). The
    vertices are new ones (positions, faces and the mirror: a rig is not carried). Returns a
    Template (``source`` kept) and the plane's normal (3,)."""
    from .template import template_from_arrays

    normal, offset = mirror_plane(template.vertices)
    vertices, faces, mirror = mirrored_half(template.vertices, template.faces, normal, offset, side)
    if len(faces) == 0:
        raise TemplateError(f"{template.source}: nothing of the body lies on that side of its mirror plane")
    problem = None
    try:
        result = template_from_arrays({"v_template": vertices, "f": faces, "mirror": mirror}, source=template.source)
    except TemplateError as error:
        problem = str(error).removeprefix(f"{template.source}: ")
    else:
        if not result.report.closed or result.report.genus != 0:
            problem = result.report.describe()
    if problem is not None:
        raise TemplateError(f"{template.source}: its half does not join its reflection into one closed genus-0 "
                            f"surface ({problem}): the surface crosses the mirror plane back and forth along the "
                            "mid-line (vertex noise?)")
    return result, normal


__all__ = ["mirrored_half", "symmetrized", "SNAP_FRACTION"]
