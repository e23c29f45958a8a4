"""Make a UV map exactly left-right symmetric and lay it out in the unit square.

Conventions of the result (see docs/formats.md):

- the symmetry axis is the line u = 0.5: ``u(t) + u(vt_mirror(t)) = 1`` and
  ``v(t) = v(vt_mirror(t))`` for every UV vertex t (to rounding, far below 1e-6);
- the head is at the top of the image (small v) when part labels are given;
- every UV triangle has positive signed area in the (u, v) plane,
  ``(u1 - u0) (v2 - v0) - (v1 - v0) (u2 - u0) > 0``. Faces are counter-clockwise seen from
  outside the body, so the chart shows the surface as seen from outside in a frame with v
  pointing up; in an image (rows = v, pointing down) it appears mirrored, the body's left
  (+x) then lies at u < 0.5 for a back-cut body;
- the chart fills [margin, 1 - margin]^2, centred: scaled along u and v separately, by at most
  ``stretch`` (default :data:`FILL_STRETCH`) more along one than along the other. A scaling
  along the axes keeps the symmetry and every triangle's share of the chart's area.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import FoldedMapError, UvkitError
from .mesh import grow_region, vertex_adjacency
from .param import signed_areas as _signed_areas
from .tolerances import tol

#: how much more the chart may be scaled along one axis of the unit square than along the other
#: to fill it (a tall, narrow chart is widened): 1 keeps its aspect ratio. Area shares are kept
#: either way; the angles change by at most this factor (docs/uvmaps.md, bodies of other proportions).
FILL_STRETCH = 1.25


@dataclass(frozen=True)
class SymmetryAxis:
    """The fitted symmetry axis of a UV map: points p with p . normal = offset.

    normal : (2,) float64, unit; offset : float; residual : float (RMS distance of the pairs'
    midpoints to the axis, in UV units, before averaging).
    """

    normal: np.ndarray
    offset: float
    residual: float


def fit_symmetry_axis(UV: np.ndarray, vt_mirror: np.ndarray) -> SymmetryAxis:
    """Fit the line that best reflects each UV vertex onto its mirror.

    The differences ``UV[t] - UV[vt_mirror[t]]`` are perpendicular to the axis (the normal is
    their principal direction) and the midpoints lie on it (the offset is their mean
    projection).

    UV : (T, 2) float64; vt_mirror : (T,) int64.
    """
    diff = UV - UV[vt_mirror]
    paired = vt_mirror != np.arange(len(UV))
    if not paired.any():
        raise UvkitError("no UV vertex has a distinct mirror: the symmetry axis is undefined")
    d = diff[paired]
    _, vectors = np.linalg.eigh(d.T @ d)
    normal = vectors[:, -1]
    if normal[0] < 0 or (normal[0] == 0 and normal[1] < 0):
        normal = -normal
    mid = (UV + UV[vt_mirror]) / 2.0 @ normal
    offset = float(mid.mean())
    residual = float(np.sqrt(np.mean((mid - offset) ** 2)))
    return SymmetryAxis(normal, offset, residual)


def _average_mirror(UV: np.ndarray, vt_mirror: np.ndarray) -> np.ndarray:
    """Average each vertex with its mirror's reflection across u = 0 (exactly symmetric)."""
    other = UV[vt_mirror]
    out = np.empty_like(UV)
    out[:, 0] = (UV[:, 0] - other[:, 0]) / 2.0
    out[:, 1] = (UV[:, 1] + other[:, 1]) / 2.0
    return out


def mirror_average(UV: np.ndarray, vt_mirror: np.ndarray) -> np.ndarray:
    """The exactly symmetric map nearest to ``UV``, in its own frame.

    Fits the symmetry axis (:func:`fit_symmetry_axis`), averages each vertex with the
    reflection of its mirror across it, and returns to the input's frame.
    UV : (T, 2) float64; vt_mirror : (T,) int64. Returns (T, 2) float64.
    """
    axis = fit_symmetry_axis(UV, vt_mirror)
    n = axis.normal
    along = np.array([-n[1], n[0]])
    local = np.stack([UV @ n - axis.offset, UV @ along], axis=1)
    sym = _average_mirror(local, vt_mirror)
    return (sym[:, 0:1] + axis.offset) * n[None, :] + sym[:, 1:2] * along[None, :]


def _keep_sides(UV: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray, gap: float,
                sides: np.ndarray | None = None) -> np.ndarray:
    """Keep every UV vertex on its own half of the chart, at least ``gap`` from the axis u = 0.

    The vertices that are not their own mirror fall into connected pieces, joined by the edges
    that do not link a vertex to its mirror nor, where ``sides`` is given, a vertex of the
    body's left to one of its right: where the faces do not mirror, triangles along the
    mid-line link a left vertex to a right one that is not its mirror, and without that rule
    the two halves would join into one piece. Each piece lies on one side of the axis, the side
    where most of its area lies. Where a solver pressed the two lips of a mid-plane seam
    together, averaging can push a lip across the axis, so that the boundary crosses itself:
    such vertices are moved back to ``gap`` from the axis (the repair of flips follows).
    UV : (T, 2) float64 with the axis at u = 0; sides : (T,) float64, optional, +1 / -1 for
    the body's left / right, 0 where unknown. Returns (T, 2) float64, still symmetric.
    """
    from scipy.sparse import csgraph

    n = len(UV)
    paired = vt_mirror != np.arange(n)
    e = np.concatenate([ft[:, [0, 1]], ft[:, [1, 2]], ft[:, [2, 0]]])
    keep = paired[e[:, 0]] & paired[e[:, 1]] & (vt_mirror[e[:, 0]] != e[:, 1])
    if sides is not None:
        # a UV copy of a vertex on the mid-plane (a lip of a seam there: its side is 0) belongs
        # to the side of most of its neighbours, less those of its mirror copy (so that the two
        # copies take opposite sides); left unknown, one such copy that touches both halves
        # (where a mid-plane seam ends at the crotch) joins them into one piece
        sides = np.asarray(sides, dtype=np.float64)
        vote = np.zeros(n)
        np.add.at(vote, e[keep, 0], sides[e[keep, 1]])
        sides = np.where(sides == 0, np.sign(vote - vote[vt_mirror]), sides)
        a, b = sides[e[:, 0]], sides[e[:, 1]]
        keep &= (a * b > 0) | ((a == 0) & (b == 0))
    e = e[keep]
    graph = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=False)
    side = np.sign(np.bincount(labels, weights=UV[:, 0], minlength=labels.max() + 1))[labels]
    wrong = paired & (side * UV[:, 0] < gap)
    if not wrong.any():
        return UV
    out = UV.copy()
    out[wrong, 0] = side[wrong] * gap
    return _average_mirror(out, vt_mirror)


def _one_sided_near_overlaps(local: np.ndarray, sym: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray,
                             loop: np.ndarray) -> np.ndarray:
    """Where averaging made the chart's boundary cross itself, take one half's shape instead.

    The solver's map does not overlap itself, so neither does one half of it nor that half's
    mirror image; the average of two slightly different halves can (fingers that nearly touch,
    the lips of a seam near the axis). Around the crossing boundary edges each mirror pair
    takes the solver's position of its member with the smaller u (and the reflection of it),
    blending back into the average over as many rings again; the neighbourhood grows (2, 4,
    8, 16 rings) until no boundary edges cross. Exactly symmetric; the untangling step then
    repairs the triangles this flips on the other half.

    local : (T, 2) float64, the solver's map (without overlaps) in the frame of ``sym``, the
    axis at u = 0; sym : (T, 2) float64, the symmetric map; ft : (F, 3) int64; vt_mirror : (T,) int64; loop : (B,) int64 boundary
    loop. Returns (T, 2) float64 (``sym`` itself when nothing crosses or nothing helps).
    """
    from scipy.sparse import csgraph

    from .param import overlapping_boundary_edges

    crossing = overlapping_boundary_edges(sym, loop)
    if len(crossing) == 0:
        return sym
    n = len(sym)
    ids = np.arange(n)
    seeds = np.unique(loop[np.concatenate([crossing.ravel(), (crossing.ravel() + 1) % len(loop)])])
    seeds = np.unique(np.concatenate([seeds, vt_mirror[seeds]]))
    i = ft[:, [0, 1, 2]].ravel()
    j = ft[:, [1, 2, 0]].ravel()
    graph = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    hops = csgraph.dijkstra(graph, directed=False, unweighted=True, indices=seeds, min_only=True, limit=64)
    primary = (local[:, 0] < local[vt_mirror, 0]) | ((local[:, 0] == local[vt_mirror, 0]) & (ids <= vt_mirror))
    for rings in (2, 4, 8, 16):
        share = np.clip(1.0 - (hops - rings) / (rings + 1), 0.0, 1.0)
        share = np.where(np.isfinite(hops), share, 0.0)
        share = np.maximum(share, share[vt_mirror])
        blend = share[:, None] * local + (1.0 - share[:, None]) * sym
        trial = sym.copy()
        lead = primary & (vt_mirror != ids)
        trial[lead] = blend[lead]
        trial[vt_mirror[lead]] = blend[lead] * np.array([-1.0, 1.0])
        if len(overlapping_boundary_edges(trial, loop)) == 0:
            return trial
    return sym


def _untangle(UV: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray, floor: float,
              max_rounds: int = 1000, free: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Unflip the triangles of a symmetric map by small symmetric moves of their corners.

    Averaging a map with its mirror image flips thin triangles where the triangulation is not
    mirror symmetric (a quad split by one diagonal on the left and the other on the right,
    non-convex in the chart). Each round moves the corners of every triangle whose signed
    area is below ``floor`` by the least move that brings its area to ``10 floor`` (a
    Gauss-Newton step on the area), averages the moves of shared corners, makes the move field
    mirror symmetric (so the map stays exactly symmetric) and halves it until the total
    shortfall ``sum(max(0, floor - area))`` drops. UV : (T, 2) float64 with the axis at u = 0.
    With ``free`` ((T,) bool) only those vertices move, each on its own (the move field is not
    made symmetric: see :func:`release_near_folds`). Returns the map and the rounds used
    (``max_rounds`` if triangles remain below ``floor``).
    """
    n = len(UV)
    for rounds in range(max_rounds):
        area = _signed_areas(UV, ft)
        bad = np.flatnonzero(area < floor)
        if len(bad) == 0:
            return UV, rounds
        shortfall = np.sum(np.maximum(0.0, floor - area))
        a, b, c = UV[ft[bad, 0]], UV[ft[bad, 1]], UV[ft[bad, 2]]
        grad = 0.5 * np.stack([np.stack([b[:, 1] - c[:, 1], c[:, 0] - b[:, 0]], axis=1),
                               np.stack([c[:, 1] - a[:, 1], a[:, 0] - c[:, 0]], axis=1),
                               np.stack([a[:, 1] - b[:, 1], b[:, 0] - a[:, 0]], axis=1)], axis=1)   # (B, 3, 2)
        if free is not None:
            grad = grad * free[ft[bad]][:, :, None]
        norm2 = np.maximum(np.sum(grad ** 2, axis=(1, 2)), 1e-300)
        step = grad * ((10.0 * floor - area[bad]) / norm2)[:, None, None]
        move = np.zeros_like(UV)
        count = np.zeros(n)
        for k in range(3):
            np.add.at(move, ft[bad, k], step[:, k])
            np.add.at(count, ft[bad, k], 1.0)
        move /= np.maximum(count, 1.0)[:, None]
        if free is None:
            other = move[vt_mirror]
            move = np.stack([(move[:, 0] - other[:, 0]) / 2.0, (move[:, 1] + other[:, 1]) / 2.0], axis=1)
        scale = 1.0
        for _ in range(12):
            trial = UV + scale * move
            if np.sum(np.maximum(0.0, floor - _signed_areas(trial, ft))) < shortfall:
                UV = trial
                break
            scale /= 2.0
        else:
            relaxed = None if free is not None else _relax_around(UV, ft, vt_mirror, bad, floor, shortfall)
            if relaxed is None:
                break
            UV = relaxed
    return UV, max_rounds


def _relax_around(UV: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray, bad: np.ndarray, floor: float,
                  shortfall: float, max_rings: int = 6, iterations: int = 30) -> np.ndarray | None:
    """Where corner moves stall: relax a growing neighbourhood of the bad triangles.

    The vertices within ``r`` rings of the bad triangles (r = 1 .. ``max_rings``; the chart's
    boundary stays fixed) move towards the mean of their neighbours for ``iterations``
    symmetric Jacobi steps; the first ``r`` that lowers the area shortfall wins. Returns the
    map, or None if no neighbourhood helps.
    """
    n = len(UV)
    adjacency = vertex_adjacency(ft, n)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    edges = np.sort(np.concatenate([ft[:, [0, 1]], ft[:, [1, 2]], ft[:, [2, 0]]]), axis=1)
    _, first, counts = np.unique(edges[:, 0] * n + edges[:, 1], return_index=True, return_counts=True)
    on_boundary = np.zeros(n, dtype=bool)
    on_boundary[edges[first[counts == 1]].ravel()] = True
    region = np.zeros(n, dtype=bool)
    region[ft[bad].ravel()] = True
    for _ in range(max_rings):
        region = grow_region(adjacency, region)
        region |= region[vt_mirror]
        free = region & ~on_boundary & ~on_boundary[vt_mirror]
        trial = UV.copy()
        for _ in range(iterations):
            mean = (adjacency @ trial) / degree[:, None]
            trial[free] = mean[free]
            trial = _average_mirror(trial, vt_mirror)
        if np.sum(np.maximum(0.0, floor - _signed_areas(trial, ft))) < shortfall:
            return trial
    return None


def release_near_folds(local: np.ndarray, sym: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray,
                       folded: np.ndarray, loop: np.ndarray | None = None,
                       max_rounds: int = 8) -> tuple[np.ndarray, np.ndarray] | None:
    """A flip-free map, exactly symmetric except near the folds that no symmetric placement removes.

    Where a mirror pairs vertices that a flat symmetric map cannot place (a pair one edge off
    its true partner, as vertex noise larger than the edges makes), the symmetric map folds.
    The corners of the folded triangles and their mirrors are released from symmetry: they
    take the flip-free map ``local`` plus the harmonic field (uniform weights) that meets
    ``sym - local`` on the rest of the map, so the map stays continuous and equal to ``sym``,
    exactly symmetric, everywhere else; the triangles still folded are unflipped by moving the
    released vertices alone (:func:`_untangle` with ``free``). Where triangles stay folded, or
    boundary edges cross that did not in ``sym`` (with ``loop``), the region grows by the
    one-ring of those places and its mirror, and the release is made again, up to
    ``max_rounds`` times.

    local : (T, 2) float64, flip-free, in the frame of ``sym`` (axis u = 0); sym : (T, 2)
    float64, exactly symmetric; ft : (F, 3) int64; vt_mirror : (T,) int64; folded : (K,) int64
    faces folded in ``sym``. Returns the map and the (T,) bool released vertices, or None.
    """
    from scipy.sparse.linalg import splu

    from .param import overlapping_boundary_edges

    n = len(sym)
    adjacency = vertex_adjacency(ft, n)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    laplacian = (sp.diags(degree) - adjacency).tocsr()
    floor = 1e-4 * float(np.median(np.abs(_signed_areas(sym, ft))))
    crossings = len(overlapping_boundary_edges(sym, loop)) if loop is not None else 0
    region = np.zeros(n, dtype=bool)
    region[ft[folded].ravel()] = True
    region |= region[vt_mirror]
    for _ in range(max_rounds):
        inner, outer = np.flatnonzero(region), np.flatnonzero(~region)
        if len(outer) == 0:
            return None
        rows = laplacian[inner]
        correction = splu(rows[:, inner].tocsc()).solve(-(rows[:, outer] @ (sym - local)[outer]))
        trial = sym.copy()
        trial[inner] = local[inner] + correction
        trial, _ = _untangle(trial, ft, vt_mirror, floor, free=region)
        trouble = np.zeros(n, dtype=bool)
        trouble[ft[_signed_areas(trial, ft) <= 0].ravel()] = True
        if loop is not None:
            crossing = overlapping_boundary_edges(trial, loop)
            if len(crossing) > crossings:
                trouble[loop[np.concatenate([crossing.ravel(), (crossing.ravel() + 1) % len(loop)])]] = True
        if not trouble.any():
            return trial, region
        grown = region | grow_region(adjacency, trouble)
        grown |= grown[vt_mirror]
        if np.array_equal(grown, region):
            return None                   # the same region would give the same map again
        region = grown
    return None


def _repair_flips(UV: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray, max_rounds: int = 50) -> tuple[np.ndarray, int]:
    """Remove flipped triangles of a symmetric map by local smoothing, keeping it symmetric.

    Each round moves the corners of flipped (or degenerate) triangles, and their one-ring, to
    the mean of their neighbours (uniform Laplacian smoothing: it untangles small folds), then
    re-averages mirrored pairs. Returns the map and the number of rounds used.
    """
    n = len(UV)
    adjacency = vertex_adjacency(ft, n)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    for rounds in range(max_rounds):
        bad = np.flatnonzero(_signed_areas(UV, ft) <= 0)
        if len(bad) == 0:
            return UV, rounds
        region = np.zeros(n, dtype=bool)
        region[ft[bad].ravel()] = True
        region = grow_region(adjacency, region)
        region |= region[vt_mirror]
        mean = (adjacency @ UV) / degree[:, None]
        UV = UV.copy()
        UV[region] = mean[region]
        UV = _average_mirror(UV, vt_mirror)
    raise FoldedMapError(f"symmetrizing the UV map left {int(np.sum(_signed_areas(UV, ft) <= 0))} flipped triangles "
                     f"after {max_rounds} repair rounds: the two halves of the mesh are triangulated too differently "
                     "(or are too noisy) for an exactly symmetric map without flips (docs/seams.md, 'Limits found')")


@dataclass
class Layout:
    """A symmetric UV map in the unit square.

    vt : (T, 2) float64; coverage : float (UV area / unit square); symmetry_error : float
    (max over t of |u(t) + u(m(t)) - 1| and |v(t) - v(m(t))|); axis : SymmetryAxis fitted
    before averaging; averaging_shift : float (largest move of a vertex by the averaging, in
    final UV units); repair_rounds : int (flip repair rounds used, 0 if none was needed);
    released : (T,) bool or None (UV vertices released from exact symmetry around folds that
    no symmetric placement removes, :func:`release_near_folds`; None when none was);
    folded : (K,) int64 or None (with ``released``: the corners of the triangles that stayed
    folded in the exactly symmetric map); fill_stretch : float (the scale along u over the
    scale along v with which the chart was packed; 1: its aspect ratio kept).
    """

    vt: np.ndarray
    coverage: float
    symmetry_error: float
    axis: SymmetryAxis
    averaging_shift: float
    repair_rounds: int
    released: np.ndarray | None = None
    folded: np.ndarray | None = None
    fill_stretch: float = 1.0


def check_pack_options(margin: float, stretch: float) -> None:
    """UvkitError unless ``margin`` lies in [0, 0.5) and ``stretch`` >= 1 (the options of
    :func:`symmetrize_and_pack`; also checked before the solve that precedes it)."""
    if not 0.0 <= margin < 0.5:
        raise UvkitError(f"margin must lie in [0, 0.5), got {margin}")
    if not stretch >= 1.0:
        raise UvkitError(f"stretch must be >= 1, got {stretch}")


def symmetrize_and_pack(UV: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray,
                        up: np.ndarray | None = None, margin: float = 0.02,
                        boundary: np.ndarray | None = None, reference: np.ndarray | None = None,
                        sides: np.ndarray | None = None, symmetric: bool = True, release: bool = False,
                        stretch: float = FILL_STRETCH) -> Layout:
    """Symmetrize a UV map about a fitted axis and pack it into the unit square.

    Parameters
    ----------
    UV : (T, 2) float64
        a flip-free, counter-clockwise (positive signed areas) UV map.
    ft : (F, 3) int64
    vt_mirror : (T,) int64
        mirror of each UV vertex (an involution).
    up : (T,) bool, optional
        UV vertices that must end at the top (small v), e.g. the head; the chart is turned by
        180 degrees if their mean v is below the mean of all vertices.
    margin : float
        empty border on each side, in [0, 0.5).
    boundary : (B,) int64, optional
        the chart's boundary loop: where averaging makes it cross itself, one half's shape is
        taken around the crossing (:func:`_one_sided_near_overlaps`).
    reference : (T, 2) float64, optional
        a map without boundary overlaps in the frame of ``UV`` (the solver's map before ``UV``
        was relaxed towards symmetry): the half taken comes from it.
    sides : (T,) float64, optional
        +1 / -1 for UV vertices on the body's left / right (the sign of ``x(i) - x(m(i))`` on
        the template), 0 where unknown: needed where the faces do not mirror, so that
        triangles across the mid-line do not join the chart's halves (:func:`_keep_sides`).
    symmetric : bool
        False: the map is only turned (axis vertical, head up) and packed, not averaged with its
        mirror image; its symmetry error is measured, not enforced (``uvkit build-uv
        --no-symmetry``, for a template whose two sides no exactly symmetric flat map can draw).
    release : bool
        where the symmetric map keeps folds that the repair cannot remove, release the
        vertices around them from exact symmetry (:func:`release_near_folds`) instead of
        raising FoldedMapError; the layout's ``released`` says which.
    stretch : float
        >= 1: the chart is scaled to fill the square along u and v separately, by at most this
        factor more along one than the other (1: its aspect ratio is kept).

    Returns
    -------
    Layout
    """
    check_pack_options(margin, stretch)
    UV = np.asarray(UV, dtype=np.float64)
    vt_mirror = np.asarray(vt_mirror, dtype=np.int64)
    if np.any(vt_mirror[vt_mirror] != np.arange(len(UV))):
        raise UvkitError("vt_mirror must be an involution of UV vertex ids")
    axis = fit_symmetry_axis(UV, vt_mirror)
    n = axis.normal
    along = np.array([-n[1], n[0]])
    # rotation (determinant +1) taking the axis normal to +u: orientation is kept
    local = np.stack([UV @ n - axis.offset, UV @ along], axis=1)
    flipped_up = up is not None and np.any(up) and local[up, 1].mean() > local[:, 1].mean()
    if flipped_up:
        local = -local
    if not symmetric:
        return _pack(local, ft, vt_mirror, margin, stretch, axis, None, 0, enforce=False)
    sym = _average_mirror(local, vt_mirror)
    moved = sym - local
    sym = _keep_sides(sym, ft, vt_mirror, 1e-4 * np.ptp(sym, axis=0).max(), sides)
    if boundary is not None:
        source = local
        if reference is not None:
            source = np.stack([reference @ n - axis.offset, reference @ along], axis=1)
            if flipped_up:
                source = -source
        sym = _one_sided_near_overlaps(source, sym, ft, vt_mirror, boundary)
    rounds = 0
    if np.any(_signed_areas(sym, ft) <= 0):
        # a floor far below any real triangle: 1e-4 of the median area
        floor = 1e-4 * float(np.median(np.abs(_signed_areas(sym, ft))))
        sym, rounds = _untangle(sym, ft, vt_mirror, floor)
    folded = _signed_areas(sym, ft) <= 0
    if np.any(folded):
        try:
            sym, more = _repair_flips(sym, ft, vt_mirror)
        except FoldedMapError as error:   # where the folds were before the repair spread them
            released = release_near_folds(local, sym, ft, vt_mirror, np.flatnonzero(folded),
                                          boundary) if release else None
            if released is None:
                raise FoldedMapError(str(error), np.unique(ft[folded])) from None
            layout = _pack(released[0], ft, vt_mirror, margin, stretch, axis, moved, rounds, enforce=False)
            layout.released, layout.folded = released[1], np.unique(ft[folded])
            return layout
        rounds += more
    return _pack(sym, ft, vt_mirror, margin, stretch, axis, moved, rounds, enforce=True)


def _pack(sym: np.ndarray, ft: np.ndarray, vt_mirror: np.ndarray, margin: float, stretch: float,
          axis: SymmetryAxis, moved: np.ndarray | None, rounds: int, enforce: bool) -> Layout:
    """Scale and move a chart whose symmetry axis is u = 0 into the unit square (axis at
    u = 0.5, ``margin`` left on every side), filling it along u and v with scales that differ
    by at most the factor ``stretch``; ``moved`` (T, 2): the averaging's displacements in the
    chart's frame (None: not averaged). With ``enforce`` the symmetry error must be within
    ``tol.uv_symmetry``."""
    room = 1.0 - 2.0 * margin
    v_min, v_max = sym[:, 1].min(), sym[:, 1].max()
    fit = room / np.array([2.0 * np.abs(sym[:, 0]).max(), v_max - v_min])
    scale = np.minimum(fit, fit.min() * stretch)
    vt = np.empty_like(sym)
    vt[:, 0] = 0.5 + scale[0] * sym[:, 0]
    vt[:, 1] = margin + (room - scale[1] * (v_max - v_min)) / 2.0 + scale[1] * (sym[:, 1] - v_min)
    error = symmetry_error(vt, vt_mirror)
    if enforce and error > tol.uv_symmetry:
        raise UvkitError(f"symmetrized UV map is off by {error:.3g} (> {tol.uv_symmetry})")
    coverage = float(_signed_areas(vt, ft).sum())
    shift = 0.0 if moved is None else float(np.linalg.norm(moved * scale, axis=1).max())
    return Layout(vt, coverage, error, axis, shift, rounds, fill_stretch=float(scale[0] / scale[1]))


def vertex_symmetry_error(vt: np.ndarray, vt_mirror: np.ndarray) -> np.ndarray:
    """(T,) max of |u(t) + u(m(t)) - 1| and |v(t) - v(m(t))| per UV vertex. vt : (T, 2);
    vt_mirror : (T,)."""
    other = vt[vt_mirror]
    return np.maximum(np.abs(vt[:, 0] + other[:, 0] - 1.0), np.abs(vt[:, 1] - other[:, 1]))


def symmetry_error(vt: np.ndarray, vt_mirror: np.ndarray) -> float:
    """max over t of |u(t) + u(m(t)) - 1| and |v(t) - v(m(t))|. vt : (T, 2); vt_mirror : (T,)."""
    return float(vertex_symmetry_error(vt, vt_mirror).max())


__all__ = ["SymmetryAxis", "fit_symmetry_axis", "Layout", "check_pack_options", "symmetrize_and_pack", "symmetry_error", "vertex_symmetry_error",
           "mirror_average"]
