"""Making a mesh file a template: its holes capped (``uvkit close-holes``), its extra pieces
left out (``uvkit largest-piece``), a scan's vertices brought down to what a template needs
(``uvkit decimate``).

Scanned and exported bodies often have holes (the eyes and mouth of a scan, the neck of a head
cut off, the soles of a scan standing on the floor); build-uv needs a closed surface. A loop of
three vertices becomes one triangle; a longer one is filled by rings of new vertices shrinking
towards its centre (:func:`cap_holes`), oriented like the faces around it. The template's own vertices keep their numbers; the new ones come after
them, so maps and regressors made for the template still index its vertices.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from .errors import TemplateError
from .mesh import boundary_loops


#: rings of new vertices in a cap at most (one ring about every two of its loop's edge lengths).
MAX_RINGS = 8


def _strip(outer: np.ndarray, outer_at: np.ndarray, inner: np.ndarray, inner_at: np.ndarray) -> list[list[int]]:
    """Triangles between two closed rings of vertex ids running the same way, each vertex at a
    parameter in [0, 1) along its ring, ascending: the edges of both rings are taken in
    the order of their midpoints, each joined to the other ring's vertex between the edges
    taken before and after it (an order that reads the same backwards, so two rings that
    mirror each other get mirrored strips). Each triangle runs along ``outer`` backwards and
    along ``inner`` forwards, as a cap whose rim runs along the faces around it needs."""
    outer_mid = 0.5 * (outer_at + np.append(outer_at[1:], outer_at[0] + 1.0))
    inner_mid = 0.5 * (inner_at + np.append(inner_at[1:], inner_at[0] + 1.0))
    i = j = 0
    out = []
    while i < len(outer) or j < len(inner):
        if j == len(inner) or (i < len(outer) and outer_mid[i] <= inner_mid[j]):
            out.append([outer[(i + 1) % len(outer)], outer[i], inner[j % len(inner)]])
            i += 1
        else:
            out.append([outer[i % len(outer)], inner[j], inner[(j + 1) % len(inner)]])
            j += 1
    return out


def _rim(points: np.ndarray, arc: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of a closed polyline (L, 3) at arc-length fractions ``where`` (K,) in [0, 1)
    (``arc`` (L + 1,): the fraction at each vertex, 0 to 1), and the vertex nearest to each."""
    segment = np.clip(np.searchsorted(arc, where, side="right") - 1, 0, len(points) - 1)
    blend = ((where - arc[segment]) / np.maximum(arc[segment + 1] - arc[segment], 1e-300))[:, None]
    following = (segment + 1) % len(points)
    on_rim = points[segment] + blend * (points[following] - points[segment])
    return on_rim, np.where(blend[:, 0] < 0.5, segment, following)


def cap_holes(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Cap every boundary loop of a mesh.

    A loop of three vertices becomes one triangle. A longer loop of L vertices gets R - 1 rings
    of new vertices (R = the loop's mean distance to its centre over two of its mean edge
    lengths, 1 to :data:`MAX_RINGS`), ring k the loop drawn k / R of the way to the centre with
    about L (1 - k / R) vertices evenly spaced along it from the rim point farthest from the
    centre (a choice from the geometry: the caps of two holes that mirror each other mirror
    each other too), then the centre (the mean of the loop's edge midpoints,
    weighted by their lengths); the rings are joined by strips of triangles and the innermost
    by a fan, so a large hole (a sole) is not closed by slivers.

    vertices : (V, 3) float64; faces : (F, 3) int64, consistently oriented.

    Returns
    -------
    vertices : (V + K, 3) float64
        the input's, then the new ones.
    faces : (F + C, 3) int64
        the input's, then the caps, oriented like the faces around them.
    loops : list of (L,) int64
        the boundary loops (:func:`uvkit.mesh.boundary_loops`), in the order they were capped.
    origin : (K, 3) float64
        for each new vertex: its loop's index in ``loops``, the loop vertex nearest to where it
        was drawn from on the rim (position in the loop) and how far towards the centre (0 to
        1; the centre: 1).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    loops = boundary_loops(faces)
    added: list[np.ndarray] = []
    origin: list[tuple[float, float, float]] = []
    caps: list[list[int]] = []
    n = len(vertices)
    for number, loop in enumerate(loops):
        if len(loop) == 3:
            caps.append(loop[::-1].tolist())          # the rim runs along the faces: the cap against it
            continue
        points = vertices[loop]
        following = np.roll(points, -1, axis=0)
        lengths = np.linalg.norm(following - points, axis=1)
        centre = (lengths[:, None] * 0.5 * (points + following)).sum(axis=0) / max(float(lengths.sum()), 1e-300)
        distance = np.linalg.norm(points - centre, axis=1)
        rings = int(np.clip(round(float(distance.mean()) / max(2.0 * float(lengths.mean()), 1e-300)), 1, MAX_RINGS))
        # the rings start at the rim point farthest from the centre and are spaced evenly by
        # arc length: a choice from the geometry, so the caps of two holes that mirror each other
        # mirror each other too. Where two vertices are farthest alike (a loop that is its own
        # mirror image) the start is halfway between them along the rim, on the mirror plane.
        arc = np.concatenate([[0.0], np.cumsum(lengths)]) / max(float(lengths.sum()), 1e-300)
        ties = np.flatnonzero(distance >= distance.max() * (1.0 - 1e-9))
        origin_at = arc[ties[0]]
        if len(ties) > 1:
            gap = arc[ties[1]] - arc[ties[0]]
            origin_at = (arc[ties[0]] + gap / 2.0) if gap <= 0.5 else (arc[ties[1]] + (1.0 - gap) / 2.0)
        origin_at %= 1.0
        shifted = (arc[:-1] - origin_at) % 1.0
        order = np.argsort(shifted, kind="stable")
        outer, outer_at = loop[order], shifted[order]

        for k in range(1, rings):
            t = k / rings
            count = max(3, int(round(len(loop) * (1.0 - t))))
            at = np.arange(count) / count
            on_rim, nearest = _rim(points, arc, (origin_at + at) % 1.0)
            ids = n + sum(len(a) for a in added) + np.arange(count)
            added.append(on_rim + t * (centre - on_rim))
            origin += [(number, float(p), t) for p in nearest]
            caps += _strip(outer, outer_at, ids, at)
            outer, outer_at = ids, at
        centre_id = n + sum(len(a) for a in added)
        added.append(centre[None, :])
        origin.append((number, 0.0, 1.0))
        caps += [[outer[(i + 1) % len(outer)], outer[i], centre_id] for i in range(len(outer))]
    if not loops:
        return vertices, faces, loops, np.zeros((0, 3))
    new_vertices = np.vstack([vertices] + added) if added else vertices
    return new_vertices, np.vstack([faces, np.asarray(caps, dtype=np.int64)]), loops, np.asarray(origin).reshape(-1, 3)


def close_holes(template: Any) -> tuple[Any, list[np.ndarray]]:
    """``template`` (:class:`uvkit.template.Template`) with its holes capped (:func:`cap_holes`).

    The per-vertex data of a new vertex goes from that of the loop vertex it was drawn from to
    the loop's mean as the vertex goes to the centre: skinning weights (renormalised), blend
    shapes; its part label is that loop vertex's; the joint regressor gets zero columns (the
    joints stay what the template's vertices give). A native UV atlas and a stored mirror are
    not carried over (the caps have no texture coordinates; the mirror is
    found again). Returns the new template (validated again) and the loops capped.
    """
    from .template import template_from_arrays

    vertices, faces, loops, origin = cap_holes(template.vertices, template.faces)
    if not loops:
        return template, loops
    loop_of, position, towards = origin[:, 0].astype(np.int64), origin[:, 1].astype(np.int64), origin[:, 2]
    drawn_from = np.array([loops[a][b] for a, b in zip(loop_of, position)], dtype=np.int64)   # template vertices

    def extended(rows: np.ndarray | None) -> np.ndarray | None:
        if rows is None or len(origin) == 0:
            return rows
        # drawn from a loop vertex towards the mean of the loop, as the position is
        mean = np.stack([rows[loop].mean(axis=0) for loop in loops])[loop_of]
        start = rows[drawn_from]
        shape = (-1,) + (1,) * (rows.ndim - 1)
        return np.concatenate([rows, (1.0 - towards.reshape(shape)) * start + towards.reshape(shape) * mean], axis=0)

    arrays: dict[str, Any] = {"v_template": vertices, "f": faces}
    if template.weights is not None:
        weights = extended(template.weights)
        new = weights[template.n_vertices:]
        new /= np.maximum(new.sum(axis=1, keepdims=True), 1e-300)
        arrays["weights"] = weights
    for key in ("shapedirs", "posedirs"):
        if getattr(template, key) is not None:
            arrays[key] = extended(getattr(template, key))
    if template.kintree_table is not None:
        arrays["kintree_table"] = template.kintree_table
    if template.J_regressor is not None:
        regressor = template.J_regressor
        zeros = scipy.sparse.csr_matrix((regressor.shape[0], len(origin)))
        arrays["J_regressor"] = (scipy.sparse.hstack([regressor, zeros]).tocsr() if scipy.sparse.issparse(regressor)
                                 else np.hstack([regressor, zeros.toarray()]))
    if template.parts is not None and template.weights is None:
        arrays["parts"] = np.concatenate([template.parts, template.parts[drawn_from]]).astype(np.int64)
    if template.vertex_ids:
        arrays["vertex_ids"] = dict(template.vertex_ids)
    try:
        closed = template_from_arrays(arrays, source=template.source, name=template.name)
    except TemplateError as error:
        raise TemplateError(f"{template.source}: capping its {len(loops)} hole(s) did not give a valid mesh: {error}") from None
    return closed, loops


def largest_piece(data: dict[str, Any], source: str) -> tuple[dict[str, Any], list[int], list[int]]:
    """The arrays of a template file (:func:`uvkit.template.read_template_arrays`) cut down to
    its largest connected piece, for a body that carries other pieces (SMPL-X and FLAME carry
    their eyeballs as separate closed meshes; a character may carry teeth or a tongue).

    The kept vertices and faces keep their order (renumbered without the gaps); skinning
    weights, blend shapes, part labels and the joint regressor's columns follow the vertices,
    texture coordinates the faces; landmarks (``vertex_ids``) on a removed piece and a stored
    mirror that pairs across pieces are dropped. Other keys are kept as they are.

    Returns the new arrays, the vertex counts of the removed pieces (largest first) and the
    joints whose regressor weighed vertices of a removed piece (they move).
    """
    from .mesh import vertex_adjacency

    vertices = np.asarray(data["v_template"], dtype=np.float64)
    faces = np.asarray(data["f"]).astype(np.int64)
    n = len(vertices)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0 or faces.min() < 0 or faces.max() >= n:
        raise TemplateError(f"{source}: 'f' must be (F, 3) vertex indices in [0, {n})")
    _, label = scipy.sparse.csgraph.connected_components(vertex_adjacency(faces, n), directed=False)
    sizes = np.bincount(label)
    keep = label == int(np.argmax(sizes))
    index = np.cumsum(keep) - 1
    kept_faces = keep[faces[:, 0]]
    out = dict(data)
    out["v_template"], out["f"] = vertices[keep], index[faces[kept_faces]]
    for key in ("weights", "shapedirs", "parts"):
        if data.get(key) is not None:
            out[key] = np.asarray(data[key])[keep]
    if data.get("posedirs") is not None:
        posedirs = np.asarray(data["posedirs"])
        if posedirs.ndim == 2:                          # smplx's (P, V * 3) layout
            posedirs = posedirs.reshape(-1, n, 3).transpose(1, 2, 0)
        out["posedirs"] = posedirs[keep]
    moved: list[int] = []
    if data.get("J_regressor") is not None:
        regressor = data["J_regressor"]
        regressor = scipy.sparse.csr_matrix(regressor) if scipy.sparse.issparse(regressor) else np.asarray(regressor)
        lost = np.asarray(abs(regressor[:, ~keep]).sum(axis=1)).ravel()
        moved = np.flatnonzero(lost > 0).tolist()
        out["J_regressor"] = regressor[:, keep]
    if data.get("ft") is not None and np.shape(data["ft"]) == faces.shape:
        out["ft"] = np.asarray(data["ft"])[kept_faces]
    if data.get("mirror") is not None:
        mirror = np.asarray(data["mirror"]).astype(np.int64)
        out.pop("mirror")
        if mirror.shape == (n,) and np.all(keep[mirror[keep]]):
            out["mirror"] = index[mirror[keep]]
    if data.get("vertex_ids"):
        out["vertex_ids"] = {name: int(index[i]) for name, i in dict(data["vertex_ids"]).items() if 0 <= int(i) < n and keep[int(i)]}
    return out, sorted((int(x) for x in np.delete(sizes, np.argmax(sizes))), reverse=True), moved


#: vertices ``uvkit decimate`` keeps by default: more than any location map of the method
#: resolves (a 128 x 128 map holds about 6,000 texels on a body), a build-uv in under a minute.
DECIMATE_VERTICES = 20_000


def decimated(template: Any, n_vertices: int = DECIMATE_VERTICES) -> Any:
    """``template`` brought down to about ``n_vertices`` vertices by quadric edge collapse
    (libigl's ``qslim``, :func:`uvkit.param.decimate`): a closed genus-0 surface of ``V``
    vertices has ``2 V - 4`` triangles. The vertices are new ones (positions, faces only: a rig
    is not carried); a template that has no more vertices is returned as it is.
    Returns a Template (``source`` kept).
    """
    from .param import decimate
    from .template import template_from_arrays

    if n_vertices < 4:
        raise TemplateError(f"{template.source}: cannot decimate to {n_vertices} vertices (a closed surface needs 4)")
    if template.n_vertices <= n_vertices:
        return template
    vertices, faces = decimate(template.vertices, template.faces, 2 * int(n_vertices) - 4)
    return template_from_arrays({"v_template": vertices, "f": faces}, source=template.source)


__all__ = ["cap_holes", "close_holes", "largest_piece", "decimated", "DECIMATE_VERTICES"]
