"""Left-right symmetry of a template: the mirror plane and a one-to-one mirror permutation.

The permutation pairs each vertex with a vertex near its reflection across the fitted plane:
a minimum-cost one-to-one assignment (a sparse bipartite matching over the nearest neighbours
of each reflected vertex, never a dense V x V cost) on a cost that is symmetric in the pair,
so the assignment is an involution (``mirror[mirror[i]] == i``); vertices near the plane may
stay their own mirror. Real templates are only nearly symmetric (SMPL's: about 3.5 mm mean,
13 mm max mismatch) and their vertices need not be mutual nearest neighbours of each other's
reflections: a one-to-one assignment still pairs them correctly where a nearest-neighbour rule
pairs two vertices with one. A template far from symmetric is refused unless the caller
allows it. Given the faces, the pairing is refined so that the mirror maps one-rings onto
one-rings (noise comparable to the edge length, or a triangulation that is not symmetric).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import igl
import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.sparse.csgraph
import scipy.spatial.distance
from scipy.spatial import cKDTree

from .errors import SymmetryError
from .mesh import grow_region, one_rings, sorted_unique, taubin_smooth, vertex_adjacency
from .tolerances import tol


@dataclass(frozen=True)
class Mirror:
    """A left-right mirror of a template.

    Attributes
    ----------
    permutation : (V,) int64
        ``permutation[i]`` is the mirror vertex of ``i``; an involution.
    normal : (3,) float64
        unit normal of the symmetry plane ``normal . x = offset``.
    offset : float
    mismatch : (V,) float64
        distance between the reflection of vertex ``i`` and vertex ``permutation[i]``, in the
        template's units.
    diagonal : float
        bounding-box diagonal of the template, the scale of the tolerances.
    n_not_mutual : int
        vertices ``i`` whose pair is not a mutual nearest neighbour (the vertex nearest to the
        reflection of ``i`` is not ``permutation[i]``, or the reverse): where a
        nearest-neighbour rule would not be one-to-one.
    seconds : float
        time taken to find (or check) the mirror.
    smooth_asymmetry : float
        median length of the smooth asymmetry taken out before matching
        (:func:`asymmetry_field`), in the template's units; 0 when the template has none (or
        the mirror was given).
    surface_mismatch : (float, float) or None
        mean and largest distance of the vertices' reflections to the surface (the body's own
        asymmetry, whatever its triangulation), in the template's units; None when the mirror
        was given or found without the faces. On a body whose two sides are meshed
        independently (a scan, a remesh) the vertex pairs lie farther apart than this.
    """

    permutation: np.ndarray
    normal: np.ndarray
    offset: float
    mismatch: np.ndarray
    diagonal: float
    n_not_mutual: int = 0
    seconds: float = 0.0
    smooth_asymmetry: float = 0.0
    surface_mismatch: tuple[float, float] | None = None

    @property
    def mean_mismatch(self) -> float:
        return float(self.mismatch.mean())

    @property
    def max_mismatch(self) -> float:
        return float(self.mismatch.max())

    @property
    def n_self(self) -> int:
        """Vertices that are their own mirror (on the symmetry plane)."""
        return int((self.permutation == np.arange(len(self.permutation))).sum())

    def describe(self, unit_mm: float = 1000.0) -> str:
        """One line; ``unit_mm`` converts template units to millimetres (1000 for metres)."""
        smooth = (f", smooth asymmetry taken out (median {self.smooth_asymmetry * unit_mm:.1f} mm)"
                  if self.smooth_asymmetry > 0 else "")
        surface = ""
        if self.surface_mismatch is not None:
            surface = (f", reflections off the surface by mean {self.surface_mismatch[0] * unit_mm:.3f} mm, "
                       f"max {self.surface_mismatch[1] * unit_mm:.3f} mm")
        return (
            f"mirror plane normal {np.round(self.normal, 4).tolist()}, {self.n_self} vertices on the plane, "
            f"mismatch mean {self.mean_mismatch * unit_mm:.3f} mm, max {self.max_mismatch * unit_mm:.3f} mm, "
            f"{self.n_not_mutual} vertices not mutual nearest neighbours{smooth}{surface} ({self.seconds:.2f} s)"
        )

    def stats(self, unit_mm: float = 1000.0) -> dict:
        """The mismatch statistics as JSON-ready numbers (millimetres with ``unit_mm``)."""
        return {
            "mean_mismatch_mm": self.mean_mismatch * unit_mm,
            "max_mismatch_mm": self.max_mismatch * unit_mm,
            "self_vertices": self.n_self,
            "not_mutual_nearest": self.n_not_mutual,
            "smooth_asymmetry_mm": self.smooth_asymmetry * unit_mm,
            "surface_mean_mismatch_mm": None if self.surface_mismatch is None else self.surface_mismatch[0] * unit_mm,
            "surface_max_mismatch_mm": None if self.surface_mismatch is None else self.surface_mismatch[1] * unit_mm,
            "seconds": self.seconds,
        }


def reflect(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Reflect ``points`` (N, 3) across the plane ``normal . x = offset``."""
    distance = points @ normal - offset
    return points - 2.0 * distance[:, None] * normal[None, :]


def median_edge_length(vertices: np.ndarray, faces: np.ndarray) -> float:
    """The median length of the faces' first edges (a length scale of the mesh's sampling)."""
    return float(np.median(np.linalg.norm(vertices[faces[:, 0]] - vertices[faces[:, 1]], axis=1)))


def mirror_plane_x(V: np.ndarray, mirror: np.ndarray) -> float:
    """The x of the mirror plane: the median of the mirror pairs' mid-points."""
    return float(np.median(0.5 * (V[:, 0] + V[mirror, 0])))


def reflected_partners(V: np.ndarray, mirror: np.ndarray, plane_x: float) -> np.ndarray:
    """Each vertex's mirror vertex reflected across x = plane_x: (V, 3) float64."""
    reflected = V[mirror].copy()
    reflected[:, 0] = 2.0 * plane_x - reflected[:, 0]
    return reflected


def average_with_mirror(V: np.ndarray, mirror: np.ndarray, plane_x: float) -> np.ndarray:
    """The mean of each vertex and its reflected mirror vertex: an exactly symmetric shape."""
    return 0.5 * (V + reflected_partners(V, mirror, plane_x))


def _plane_error(vertices: np.ndarray, tree: cKDTree, normal: np.ndarray, offset: float) -> float:
    distance, _ = tree.query(reflect(vertices, normal, offset), workers=-1)
    return float(distance.mean())


#: vertices on which the candidate mirror planes are compared (the refinement uses all).
PLANE_SAMPLE = 2000


def _fit_plane(vertices: np.ndarray, tree: cKDTree) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Best symmetry plane: try coordinate and principal axes, then refine from matched pairs.

    tree : KD-tree of ``vertices``. Returns (normal (3,), offset, distance (V,), nearest (V,)):
    the plane ``normal . x = offset`` and, for each vertex's reflection across it, the distance
    to the nearest vertex and that vertex's id.
    """
    centre = vertices.mean(axis=0)
    _, _, axes = np.linalg.svd(vertices - centre, full_matrices=False)
    candidates = [np.eye(3)[k] for k in range(3)] + [axes[k] for k in range(3)]
    # the axes are told apart on an evenly spread subset of at most PLANE_SAMPLE vertices
    sample = vertices[::max(1, len(vertices) // PLANE_SAMPLE)]
    errors = [_plane_error(sample, tree, n, float(n @ centre)) for n in candidates]
    normal = candidates[int(np.argmin(errors))].astype(np.float64)
    offset = float(normal @ centre)
    # each plane's query gives both its error and the matches the next plane is fitted to
    distance, match = tree.query(reflect(vertices, normal, offset), workers=-1)
    for _ in range(5):
        delta = vertices - vertices[match]
        if not np.any(delta):
            break
        _, _, vh = np.linalg.svd(delta, full_matrices=False)
        new_normal = vh[0] * np.sign(vh[0] @ normal or 1.0)
        midpoints = 0.5 * (vertices + vertices[match])
        new_offset = float(np.median(midpoints @ new_normal))
        new_distance, new_match = tree.query(reflect(vertices, new_normal, new_offset), workers=-1)
        if new_distance.mean() >= distance.mean():
            break
        normal, offset, distance, match = new_normal, new_offset, new_distance, new_match
    # a canonical sign: the normal's largest component positive (the same plane, the same
    # reflections)
    if normal[np.argmax(np.abs(normal))] < 0:
        normal, offset = -normal, -offset
    return normal, offset, distance, match


def _pair_cost(vertices: np.ndarray, reflected: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Symmetric cost of pairing ``a[k]`` with ``b[k]``: ``(|R p_a - p_b| + |R p_b - p_a|) / 2``.

    Equal for (a, b) and (b, a), so an optimal assignment is an involution wherever the optimum
    is unique. For ``a == b`` it is ``|R p_a - p_a|``, twice the distance to the plane: only
    vertices near the plane stay alone. vertices, reflected : (V, 3) float64; a, b : (N,) int64.
    """
    return 0.5 * (np.linalg.norm(reflected[a] - vertices[b], axis=1) + np.linalg.norm(reflected[b] - vertices[a], axis=1))


def _mutual_nearest_rounds(vertices: np.ndarray, reflected: np.ndarray, max_rounds: int = 100) -> np.ndarray:
    """Pair vertices by rounds of mutual nearest neighbours among the vertices still unpaired.

    Each round pairs every free ``i`` and ``j`` whose reflections are each other's nearest free
    vertex (``i == j``: a vertex on the plane). Cheap (one KD-tree per round, a few rounds for
    most vertices) and right wherever the template is close to symmetric; the late rounds can
    pair vertices far apart, which :func:`_refine` then repairs. Returns (V,) int64, -1 for the
    vertices left unpaired when a round pairs nothing.
    """
    n = len(vertices)
    permutation = np.full(n, -1, dtype=np.int64)
    free = np.arange(n, dtype=np.int64)
    for _ in range(max_rounds):
        if len(free) == 0:
            break
        _, nearest = cKDTree(vertices[free]).query(reflected[free], workers=-1)
        mutual = nearest[nearest] == np.arange(len(free))
        if not mutual.any():
            break
        permutation[free[mutual]] = free[nearest[mutual]]
        free = free[~mutual]
    return permutation


def _global_assignment(vertices: np.ndarray, reflected: np.ndarray, current: np.ndarray, scale: float,
                       unit: float = tol.mirror_cost_unit) -> np.ndarray:
    """Minimum-cost one-to-one assignment over candidate pairs (a sparse bipartite matching).

    Candidates of ``i``: the ``tol.mirror_candidates`` vertices nearest to its reflection, taken
    both ways, ``i`` itself and its ``current`` partner (so the current pairing stays feasible
    and the optimum is never worse). Cost: the squared symmetric pair cost (it spreads a
    mismatch over many pairs rather than leave one pair far apart), rounded to integers in
    units of ``unit * scale`` (integer costs keep the solver from cycling on ties; a coarser
    unit solves faster). Vertices whose current pair is exact keep it. Never a dense V x V cost.

    current : (V,) int64 involution. Returns (V,) int64 (not yet an involution where the
    optimum is tied: see :func:`_resolve_cycles`).
    """
    n = len(vertices)
    ids = np.arange(n, dtype=np.int64)
    exact = _pair_cost(vertices, reflected, ids, current) <= tol.mirror_exact * scale
    free = np.flatnonzero(~exact)
    if len(free) == 0:
        return current
    m = len(free)
    local, index, own, k = _candidates(vertices, reflected, free, n)
    partner = local[current[free]]
    rows = np.concatenate([np.repeat(own, k), index.ravel(), own, own, partner])
    cols = np.concatenate([index.ravel(), np.repeat(own, k), own, partner, own])
    code = sorted_unique(rows * m + cols)
    rows, cols = code // m, code % m
    cost = np.rint((_pair_cost(vertices, reflected, free[rows], free[cols]) / (unit * scale)) ** 2)
    graph = scipy.sparse.csr_matrix((cost + 1.0, (rows, cols)), shape=(m, m))
    _, columns = scipy.sparse.csgraph.min_weight_full_bipartite_matching(graph)
    out = current.copy()
    out[free] = free[np.asarray(columns, dtype=np.int64)]
    return out


def _chunks(points: np.ndarray, size: int) -> list[np.ndarray]:
    """Split row ids of ``points`` (N, 3) into spatially compact chunks of at most ``size`` rows
    by recursive median splits along the widest axis. Returns a list of (n_i,) int64 arrays."""
    out: list[np.ndarray] = []
    stack = [np.arange(len(points), dtype=np.int64)]
    while stack:
        ids = stack.pop()
        if len(ids) <= size:
            out.append(ids)
            continue
        axis = int(np.argmax(np.ptp(points[ids], axis=0)))
        order = ids[np.argsort(points[ids, axis], kind="stable")]
        half = len(order) // 2
        stack += [order[half:], order[:half]]
    return out


def _group_assignment(vertices: np.ndarray, reflected: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Optimal one-to-one, involutive re-assignment of the vertices of ``group`` among themselves.

    Dense cost over the group (it is small): the squared symmetric pair cost, which spreads a
    mismatch over many pairs rather than leave one pair far apart; solved by
    ``scipy.optimize.linear_sum_assignment``, then made an involution (:func:`_resolve_cycles`).
    group : (M,) int64. Returns (M,) int64: the new partner of each member (template ids).
    """
    # [a, b] = |R p_a - p_b|: the pair cost is the mean of it and its transpose
    distance = scipy.spatial.distance.cdist(reflected[group], vertices[group])
    cost = (0.5 * (distance + distance.T)) ** 2
    _, columns = scipy.optimize.linear_sum_assignment(cost)
    columns = _resolve_cycles(np.asarray(columns, dtype=np.int64), np.sqrt(np.diag(cost)),
                              lambda x, y: np.sqrt(cost[x, y]))
    return group[columns]


def _refine(vertices: np.ndarray, reflected: np.ndarray, permutation: np.ndarray, scale: float,
            normal: np.ndarray, offset: float) -> np.ndarray:
    """Repair the pairs whose mismatch stands out, by optimal assignments in their neighbourhood.

    A pair is *suspect* when its mismatch exceeds ``tol.mirror_outlier`` times the median
    mismatch (and ``tol.mirror_exact`` times ``scale``, the bounding-box diagonal). Each pass gathers the
    suspects, the vertices nearest to them and to their reflections, and the partners of all
    of these, and re-assigns that group optimally (:func:`_group_assignment`); the neighbourhood
    doubles while suspects remain. permutation : (V,) int64 with -1 for unpaired vertices
    (they become their own mirror first). The groups are re-assigned in chunks of at most
    ``tol.mirror_group_size`` vertices, split by position folded across the plane ``normal . x =
    offset``. Returns (V,) int64, an involution.
    """
    n = len(vertices)
    ids = np.arange(n, dtype=np.int64)
    permutation = np.where(permutation < 0, ids, permutation).astype(np.int64)
    tree = cKDTree(vertices)
    k = tol.mirror_neighbourhood
    for _ in range(tol.mirror_refine_passes):
        mismatch = np.linalg.norm(reflected - vertices[permutation], axis=1)
        threshold = max(tol.mirror_outlier * float(np.median(mismatch)), tol.mirror_exact * scale)
        suspect = np.flatnonzero(mismatch > threshold)
        if len(suspect) == 0:
            break
        kk = min(k, n)
        _, near_self = tree.query(vertices[suspect], k=kk)
        _, near_mirror = tree.query(reflected[suspect], k=kk)
        members = np.unique(np.concatenate([suspect, np.ravel(near_self), np.ravel(near_mirror)]))
        members = np.unique(np.concatenate([members, permutation[members]]))
        # chunks closed under the current pairing: split the pairs by a mirror-invariant position
        lead = members[members <= permutation[members]]
        folded = np.where((vertices @ normal - offset >= 0)[:, None], vertices, reflected)
        invariant = 0.5 * (folded[lead] + folded[permutation[lead]])
        changed = False
        for chunk in _chunks(invariant, tol.mirror_group_size // 2):
            group = np.unique(np.concatenate([lead[chunk], permutation[lead[chunk]]]))
            partners = _group_assignment(vertices, reflected, group)
            before = np.sum(_pair_cost(vertices, reflected, group, permutation[group]) ** 2)
            after = np.sum(_pair_cost(vertices, reflected, group, partners) ** 2)
            if after < before:
                permutation[group] = partners
                changed = True
        if not changed:
            break
        k *= 2
    return permutation


def _resolve_cycles(permutation: np.ndarray, self_cost: np.ndarray, pair_cost) -> np.ndarray:
    """Turn a permutation into an involution along its own cycles.

    A symmetric cost makes the optimal assignment an involution unless the optimum is tied: a
    cycle ``a -> b -> c -> a`` then costs as much as its reverse. Each cycle longer than two is
    split into pairs of consecutive members; of the possible splits (two for an even cycle, one
    per member left alone for an odd one, that member then its own mirror) the cheapest is kept.

    permutation : (V,) int64; self_cost : (V,) float64; pair_cost(a, b) -> (N,) float64 for
    arrays a, b. Returns (V,) int64, an involution.
    """
    n = len(permutation)
    out = permutation.copy()
    seen = np.zeros(n, dtype=bool)
    seen[permutation[permutation] == np.arange(n)] = True
    for start in np.flatnonzero(~seen):
        if seen[start]:
            continue
        cycle = [int(start)]
        while int(permutation[cycle[-1]]) != cycle[0]:
            cycle.append(int(permutation[cycle[-1]]))
        seen[cycle] = True
        cycle = np.asarray(cycle, dtype=np.int64)
        m = len(cycle)
        link = pair_cost(cycle, np.roll(cycle, -1))      # cost of (cycle[i], cycle[i + 1])
        best, best_pairs, best_alone = np.inf, None, -1
        for shift in range(m if m % 2 else 2):
            order = np.roll(cycle, -shift)
            links = np.roll(link, -shift)
            paired = order[: m - m % 2]
            total = links[0: m - m % 2: 2].sum() + (self_cost[order[-1]] if m % 2 else 0.0)
            if total < best:
                best, best_pairs = total, paired.reshape(-1, 2)
                best_alone = int(order[-1]) if m % 2 else -1
        out[best_pairs[:, 0]], out[best_pairs[:, 1]] = best_pairs[:, 1], best_pairs[:, 0]
        if best_alone >= 0:
            out[best_alone] = best_alone
    return out


def _geometric_mirror(vertices: np.ndarray, reflected: np.ndarray, diagonal: float, normal: np.ndarray,
                      offset: float, unit: float = tol.mirror_cost_unit, refine: bool = True) -> np.ndarray:
    """The mirror from positions alone: mutual nearest neighbours, the sparse global assignment
    (integer costs in ``unit`` of the diagonal), ties split, outliers re-assigned (unless not
    ``refine``). vertices, reflected : (V, 3) float64. Returns (V,) int64."""
    n = len(vertices)
    permutation = _mutual_nearest_rounds(vertices, reflected)
    permutation = np.where(permutation < 0, np.arange(n), permutation)
    permutation = _global_assignment(vertices, reflected, permutation, diagonal, unit)
    permutation = _resolve_cycles(permutation, _pair_cost(vertices, reflected, np.arange(n), np.arange(n)),
                                  lambda a, b: _pair_cost(vertices, reflected, a, b))
    return _refine(vertices, reflected, permutation, diagonal, normal, offset) if refine else permutation


def mean_edge_lengths(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V,) float64: the mean length of the edges at each vertex (0 for a vertex in no face)."""
    faces = np.asarray(faces, dtype=np.int64)
    a, b = faces.ravel(), faces[:, [1, 2, 0]].ravel()
    length = np.linalg.norm(vertices[a] - vertices[b], axis=1)
    n = len(vertices)
    total = np.bincount(a, length, n) + np.bincount(b, length, n)
    count = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    return total / np.maximum(count, 1)


def mirror_plane(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """The best symmetry plane of a body, ``normal . x = offset``, as :func:`find_mirror` fits
    it (coordinate and principal axes tried, then refined from matched points), without the
    pairing. vertices : (V, 3) float64. Returns (normal (3,) unit, offset)."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    normal, offset, _, _ = _fit_plane(vertices, cKDTree(vertices))
    return normal, offset


def asymmetry_field(vertices: np.ndarray, reflected: np.ndarray, faces: np.ndarray, diagonal: float,
                    at_least: float = 0.0) -> np.ndarray | None:
    """The smooth part of a body's asymmetry: by how much each vertex's reflection misses the
    surface where its partner is, as a field that varies slowly over the body.

    A fitted or scanned template (SMPL is one) is not noisy but *smoothly* asymmetric: its two
    sides differ by an offset of up to about 1 % of its height that changes slowly over the
    body. Where its edges are shorter than that offset (a face, fingers), the nearest vertex to
    a reflection is often the wrong one, and the offset to it says little. The distance from the
    reflection to the surface along the surface's normal does not depend on the edge lengths, so
    the field is fitted, like a non-rigid ICP, to those normal distances: at each vertex, the
    offset ``g`` minimising ``sum_j w_j ((n_j . g - d_j)^2 + mu |g - t_j|^2)`` over
    ``tol.mirror_field_samples`` sample vertices ``j`` (evenly spread by index), with ``d_j`` the
    normal distance and ``t_j`` the offset of sample ``j``'s reflection to its nearest vertex
    ``n_j`` that vertex's normal, ``w_j`` Gaussian weights of width ``tol.mirror_field_sigma``
    of ``diagonal`` (at least ``tol.mirror_field_edges`` median edge lengths) and
    ``mu = tol.mirror_field_tangential`` (the normals of a neighbourhood pin the offset; the
    point offsets only steady it where they all point one way). The fit is
    repeated ``tol.mirror_field_rounds`` times, each from the reflections moved by the field so
    far. Measured on the open body made smoothly asymmetric (offsets to 13 mm, median 5 mm,
    against 1-3 mm edges in the face): median error of the field 0.6-1 mm after 8 rounds, and
    the mirror matched on ``reflected - field`` is the true one (hundreds of wrong pairs without).

    vertices, reflected : (V, 3) float64; faces : (F, 3) int64; at_least : when positive, give
    up (return None) after the first round if the median length of the field at the samples is
    below this, or the field explains less than ``tol.mirror_field_explained`` of the samples'
    squared normal distances (measured after one round: 0.78-0.88 on smoothly asymmetric
    bodies, 0.04-0.10 on noisy or clean ones), so that a body without smooth asymmetry costs
    one round on the samples. Returns (V, 3) float64 (zeros where no sample is within reach), or
    None.
    """
    n = len(vertices)
    normals = np.nan_to_num(igl.per_vertex_normals(vertices, np.asarray(faces, dtype=np.int64)))
    sample = np.unique(np.linspace(0, n - 1, min(n, tol.mirror_field_samples)).astype(np.int64))
    # wide enough to hold many samples on a coarse mesh too
    sigma = max(tol.mirror_field_sigma * diagonal, tol.mirror_field_edges * median_edge_length(vertices, faces))
    tree = cKDTree(vertices)
    sample_tree = cKDTree(vertices[sample])
    mu = tol.mirror_field_tangential

    def weights_at(points: np.ndarray) -> scipy.sparse.csr_matrix:
        near = cKDTree(points).sparse_distance_matrix(sample_tree, 2.0 * sigma, output_type="ndarray")
        return scipy.sparse.csr_matrix((np.exp(-0.5 * (near["v"] / sigma) ** 2), (near["i"], near["j"])),
                                       shape=(len(points), len(sample)))

    def step(weights: scipy.sparse.csr_matrix, rounds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        # the fit of each round's terms at the weights' rows, summed over the rounds: one pass
        # over the weights for them all
        k = len(rounds)
        outer = weights @ np.hstack([terms[0] for terms in rounds])           # (N, 9 k)
        rhs = weights @ np.hstack([terms[1] for terms in rounds])             # (N, 3 k)
        out = np.zeros((weights.shape[0], 3))
        reached = np.diff(weights.indptr) > 0
        solved = np.linalg.solve(outer[reached].reshape(-1, k, 3, 3), rhs[reached].reshape(-1, k, 3, 1))
        out[reached] = solved[..., 0].sum(axis=1)
        return out

    # the rounds run on the samples alone; each round's terms are kept to give the field at
    # every vertex at the end (the same weighted fits, evaluated there)
    at_samples = weights_at(vertices[sample])
    field = np.zeros((len(sample), 3))
    rounds = []
    for round_ in range(tol.mirror_field_rounds):
        moved = reflected[sample] - field
        nearest = tree.query(moved)[1]
        normal = normals[nearest]
        offset = moved - vertices[nearest]
        distance = np.einsum("ij,ij->i", normal, offset)
        terms = ((normal[:, :, None] * normal[:, None, :] + mu * np.eye(3)).reshape(-1, 9),
                 normal * distance[:, None] + mu * offset)
        rounds.append(terms)
        field += step(at_samples, [terms])
        if round_ == 0 and at_least > 0:
            # a smooth asymmetry explains most of the normal distances; noise, little of them
            residual = distance - np.einsum("ij,ij->i", normal, field)
            explained = 1.0 - np.sum(residual ** 2) / max(float(np.sum(distance ** 2)), 1e-300)
            if float(np.median(np.linalg.norm(field, axis=1))) < at_least or explained < tol.mirror_field_explained:
                return None
    return step(weights_at(vertices), rounds)


def _compensated(vertices: np.ndarray, reflected: np.ndarray, faces: np.ndarray, diagonal: float) -> np.ndarray:
    """``reflected`` less the :func:`asymmetry_field` where the body is smoothly asymmetric (see
    its ``at_least``: here ``tol.mirror_field_min`` median edge lengths), else ``reflected``
    itself."""
    field = asymmetry_field(vertices, reflected, faces, diagonal,
                            at_least=tol.mirror_field_min * median_edge_length(vertices, faces))
    return reflected if field is None else reflected - field


def _candidates(vertices: np.ndarray, reflected: np.ndarray, free: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Candidate partners among the ``free`` vertices: the ``k`` nearest free vertices of each
    free vertex's reflection. Returns (local (n,) int64: index into ``free`` or -1, index (m, k)
    int64: candidates as indices into ``free``, own (m,) int64 = arange(m), k)."""
    m = len(free)
    local = np.full(n, -1, dtype=np.int64)
    local[free] = np.arange(m)
    k = min(tol.mirror_candidates, m)
    # several neighbours per point: worth all the process's cores (scipy splits the points among them)
    _, index = cKDTree(vertices[free]).query(reflected[free], k=k, workers=-1)
    return local, np.asarray(index, dtype=np.int64).reshape(m, k), np.arange(m, dtype=np.int64), k


def _edge_codes(faces: np.ndarray, n: int) -> np.ndarray:
    """The mesh's edges as sorted unique codes ``a * n + b`` (a < b). faces : (F, 3) int64."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return sorted_unique(e[:, 0] * n + e[:, 1])


def _consistent_share(code: np.ndarray, permutation: np.ndarray) -> float:
    """:func:`consistent_edge_fraction` on edge codes from :func:`_edge_codes`."""
    n = len(permutation)
    a, b = permutation[code // n], permutation[code % n]
    mirrored = np.minimum(a, b) * n + np.maximum(a, b)
    pos = np.minimum(np.searchsorted(code, mirrored), len(code) - 1)
    return float(np.mean(code[pos] == mirrored))


def consistent_edge_fraction(faces: np.ndarray, permutation: np.ndarray) -> float:
    """Share of the mesh's edges whose mirror image ``(m(a), m(b))`` is an edge too.

    faces : (F, 3) int64; permutation : (V,) int64. 1 on an exactly symmetric triangulation.
    """
    return _consistent_share(_edge_codes(np.asarray(faces, dtype=np.int64), len(permutation)), permutation)


def _agreement(adjacency: scipy.sparse.csr_matrix, permutation: np.ndarray, rows: np.ndarray,
               cols: np.ndarray) -> np.ndarray:
    """How well pairing ``rows[k]`` with ``cols[k]`` agrees with the pairing of their neighbours.

    ``(#{u in N(i): m(u) in N(j)} + #{u in N(j): m(u) in N(i)}) / (deg i + deg j)``: 1 when the
    mirror maps the one-ring of ``i`` onto the one-ring of ``j`` (and the reverse), 0 when no
    neighbour agrees. Symmetric in the pair. adjacency : (V, V) binary; permutation : (V,)
    int64; rows, cols : (N,) int64. Returns (N,) float64.
    """
    needed = sorted_unique(np.concatenate([rows, cols]))
    at = np.searchsorted(needed, np.concatenate([rows, cols]))
    # [k, j] = #{u in N(needed[k]): m(u) in N(j)}: only the rows asked for
    counts = (adjacency[needed] @ adjacency[permutation]).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    forward = np.asarray(counts[at[:len(rows)], cols]).ravel()
    backward = np.asarray(counts[at[len(rows):], rows]).ravel()
    return (forward + backward) / np.maximum(degree[rows] + degree[cols], 1.0)


def _topology_rounds(vertices: np.ndarray, reflected: np.ndarray, faces: np.ndarray, current: np.ndarray,
                     scale: float) -> np.ndarray:
    """Re-pair vertices so that the mirror maps neighbourhoods onto neighbourhoods.

    Where vertex noise is comparable to the edge length, the nearest reflection is often a
    neighbour of the right partner, and few edges then map onto edges. Each round solves the
    sparse one-to-one assignment of :func:`_global_assignment` on the cost
    ``(pair cost / median edge length) ** 2 + tol.mirror_topology_weight * (1 - agreement)``
    (:func:`_agreement` under the current mirror), candidates the ``tol.mirror_candidates``
    nearest reflections both ways plus the vertex itself and its current partner; vertices
    whose current pair is exact keep it. The first round re-assigns every other vertex within
    one ring of a pair whose one-rings do not map onto each other; a pair's
    cost changes only when a neighbour of one of its members changed partner, so each later
    round re-assigns only the vertices within two rings of the last round's changes (and their
    partners: the set stays closed under the pairing, so the current pairs keep it feasible),
    the others keep their pairs. Rounds stop when the share of edges that map onto edges stops
    growing; the best mirror seen is returned.

    vertices, reflected : (V, 3) float64; faces : (F, 3) int64; current : (V,) int64
    involution; scale : bounding-box diagonal. Returns (V,) int64, an involution.
    """
    n = len(vertices)
    ids = np.arange(n, dtype=np.int64)
    adjacency = vertex_adjacency(faces, n)
    unit = median_edge_length(vertices, faces)
    exact = _pair_cost(vertices, reflected, ids, current) <= tol.mirror_exact * scale
    free = np.flatnonzero(~exact)
    edges = _edge_codes(faces, n)
    best, best_score = current, _consistent_share(edges, current)
    if len(free) == 0 or unit <= 0:
        return current
    m = len(free)
    local, index, own, k = _candidates(vertices, reflected, free, n)
    base_code = sorted_unique(np.concatenate([np.repeat(own, k) * m + index.ravel(), index.ravel() * m + np.repeat(own, k),
                                          own * m + own]))
    base_geometric = (_pair_cost(vertices, reflected, free[base_code // m], free[base_code % m]) / unit) ** 2
    # the vertices re-assigned this round; in the first, those within one ring of a pair whose
    # one-rings the mirror does not map onto each other (and their partners): a pair whose
    # one-rings map, among such pairs only, has nothing to gain
    active = grow_region(adjacency, _agreement(adjacency, current, ids, current) < 1.0, 1)
    active |= active[current]
    if not active[free].any():
        return current                                    # every one-ring maps already
    for _ in range(tol.mirror_topology_rounds):
        partner = local[current[free]]
        extra = sorted_unique(np.concatenate([own * m + partner, partner * m + own]))
        pos = np.minimum(np.searchsorted(base_code, extra), len(base_code) - 1)
        extra = extra[base_code[pos] != extra]
        extra_geometric = (_pair_cost(vertices, reflected, free[extra // m], free[extra % m]) / unit) ** 2
        code = np.concatenate([base_code, extra])
        keep = active[free[code // m]] & active[free[code % m]]
        order = np.argsort(code[keep], kind="stable")
        code, geometric = code[keep][order], np.concatenate([base_geometric, extra_geometric])[keep][order]
        rows, cols = code // m, code % m
        cost = geometric + tol.mirror_topology_weight * (1.0 - _agreement(adjacency, current, free[rows], free[cols]))
        # the assignment over the active vertices only (local ids renumbered)
        members = np.flatnonzero(active[free])
        renumber = np.full(m, -1, dtype=np.int64)
        renumber[members] = np.arange(len(members))
        weights = np.rint(cost / tol.mirror_topology_cost_unit) + 1.0
        graph = scipy.sparse.csr_matrix((weights, (renumber[rows], renumber[cols])), shape=(len(members),) * 2)
        _, columns = scipy.sparse.csgraph.min_weight_full_bipartite_matching(graph)
        proposal = current.copy()
        proposal[free[members]] = free[members[np.asarray(columns, dtype=np.int64)]]
        def pair_cost(a: np.ndarray, b: np.ndarray, code=code, cost=cost) -> np.ndarray:
            key = local[np.asarray(a)] * m + local[np.asarray(b)]
            pos = np.minimum(np.searchsorted(code, key), len(code) - 1)
            return np.where(code[pos] == key, cost[pos], np.inf)

        self_cost = np.full(n, np.inf)
        self_cost[free] = pair_cost(free, free)
        proposal = _resolve_cycles(proposal, self_cost, pair_cost)
        score = _consistent_share(edges, proposal)
        if score <= best_score:
            break
        changed = proposal != current
        best, best_score, current = proposal, score, proposal
        active = grow_region(adjacency, changed, 2)
        active |= active[current]
    return best


#: settle_leftovers: an edge at a vertex that earlier walks moved counts as this many times
#: longer per such walk (and per end).
SETTLE_DETOUR = 10.0


def settle_leftovers(vertices: np.ndarray, faces: np.ndarray, permutation: np.ndarray, normal: np.ndarray,
                     offset: float, off_plane: np.ndarray | None = None) -> np.ndarray:
    """Move vertices left without a partner far from the mid-plane onto it, by a chain of re-pairings.

    Where one side of a body has more vertices than the other (a decimated or re-meshed body), a
    one-to-one pairing leaves some vertex as its own mirror, possibly far from the plane (an
    exactly symmetric map would pull it onto the axis). For each such vertex (more than half a
    median edge, and half its own mean edge length, from the plane) the shortest edge path on
    its own side of the body, over vertices paired across the plane, to one within half a
    median edge of the plane is found
    (Dijkstra, edge lengths); along the path
    each vertex takes the partner of the next one, and the last, near the plane, becomes its own
    mirror. Each pair moves by about one edge; the surplus ends where the plane is. Later walks
    go around the earlier ones' paths where they can (:data:`SETTLE_DETOUR`), so that shifts do
    not add up along one corridor.

    vertices : (V, 3) float64; faces : (F, 3) int64; permutation : (V,) int64 involution;
    normal, offset : the mirror plane; off_plane : (V,) float64, optional: how far each vertex is
    from being its own mirror (default: its distance to the plane; :func:`find_mirror` also
    takes half the distance to its reflection compensated by :func:`asymmetry_field`, so that
    the mid-line of a smoothly asymmetric body, bent off the plane, counts as on it). Returns
    (V,) int64, an involution.
    """
    n = len(vertices)
    ids = np.arange(n)
    distance = vertices @ normal - offset
    off_plane = np.abs(distance) if off_plane is None else np.asarray(off_plane, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    edge = median_edge_length(vertices, faces)
    # far by its own edges too: a mid-line vertex among long edges may sit a little off
    own_edge = np.maximum(edge, mean_edge_lengths(vertices, faces))
    far = np.flatnonzero((permutation == ids) & (off_plane > 0.5 * own_edge))
    if len(far) == 0:
        return permutation
    m = permutation.copy()
    # the half-edges as one CSR structure, made once: each start's walk masks it (an edge it may
    # not take gets an infinite length) instead of building a graph of its own
    code = sorted_unique(faces.ravel() * n + faces[:, [1, 2, 0]].ravel())
    a, b = code // n, code % n
    length = np.linalg.norm(vertices[a] - vertices[b], axis=1)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=n))])
    near = off_plane <= 0.5 * edge
    # how often each vertex (or its partner) was on an earlier walk's path: walks crossing such
    # vertices add their shifts up (on a remeshed body, whose sides differ in vertex count all
    # along the mid-line, dozens of walks took one corridor and shifted pairs there by 30 cm),
    # so their edges count as SETTLE_DETOUR times longer per earlier walk
    moved = np.zeros(n)
    for start in far:
        side = np.sign(distance[start])
        paired = m != ids
        # walk on the start's side, over vertices whose partner is on the other side
        usable = (side * distance > 0) & paired & (np.sign(distance[m]) != side)
        targets = np.flatnonzero(usable & near)
        usable[start] = True
        weights = np.where(usable[a] & usable[b], length * (1.0 + SETTLE_DETOUR * (moved[a] + moved[b])), np.inf)
        graph = scipy.sparse.csr_matrix((weights, b, indptr), shape=(n, n))
        # the search stops at a few times the distance to the plane first (the nearest target is
        # the same whenever it lies within the limit: distances and predecessors there do not
        # depend on it), and covers the whole side only if no target lies that near
        for limit in (4.0 * (off_plane[start] + edge), np.inf):
            dist, pred = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=start, return_predecessors=True,
                                                       limit=limit)
            reachable = targets[np.isfinite(dist[targets])]
            if len(reachable):
                break
        if len(reachable) == 0:
            continue
        end = int(reachable[np.argmin(dist[reachable])])
        path = [end]
        while path[-1] != start:
            path.append(int(pred[path[-1]]))
        path = path[::-1]                                  # start ... end
        partners = [int(m[v]) for v in path[1:]]
        for v, w in zip(path[:-1], partners):
            m[v], m[w] = w, v
        m[path[-1]] = path[-1]
        moved[path] += 1.0
        moved[partners] += 1.0
    return m


def _rotation_conflict(rings: list, permutation: list, a: int, members: list[set] | None = None) -> float:
    """0 when the mirror maps the one-ring of ``m(a)`` onto that of ``a`` in a compatible order.

    A mirror reverses orientation: the one-ring of ``m(a)``, mapped by the mirror and read
    backwards, must list the neighbours that both rings share in the same cyclic order as the
    one-ring of ``a``, else no exactly symmetric flat map of the two triangulations can exist
    (the order of the neighbours around a vertex is the same in every flip-free embedding).
    Returns 1 for such a conflict, plus 0.01 per neighbour the two rings do not share (a
    preference for pairings that map edges onto edges). permutation : a list (scalar reads are
    the hot path); members : the rings as sets, optional (made here when not given).
    """
    ring, other = rings[a], rings[permutation[a]]
    if ring is None or other is None:
        return 0.0
    inside = set(ring) if members is None else members[a]
    second = [y for x in reversed(other) if (y := permutation[x]) in inside]   # shared, mapped order
    cost = 0.01 * (len(ring) + len(other) - 2 * len(second))
    if len(second) >= 3:
        if len(second) == len(ring):
            first = ring                                  # every neighbour shared
        else:
            shared = set(second)
            first = [x for x in ring if x in shared]
        k = second.index(first[0])
        if second[k:] + second[:k] != first:
            cost += 1.0
    return cost


def rotation_conflicts(faces: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Vertices whose one-ring the mirror does not map onto its partner's in a compatible order.

    See :func:`_rotation_conflict`. faces : (F, 3) int64; permutation : (V,) int64 involution.
    Returns the sorted vertex ids (int64); empty for any mirror of an exactly symmetric
    triangulation.
    """
    rings = one_rings(faces, len(permutation))
    m = np.asarray(permutation, dtype=np.int64).tolist()
    return np.array([a for a in range(len(m)) if _rotation_conflict(rings, m, a) >= 1.0],
                    dtype=np.int64)


def _not_mutual(nearest: np.ndarray, permutation: np.ndarray) -> int:
    """How many vertices are not paired with the mutual nearest neighbour of their reflection
    (``nearest`` (V,) int: the vertex nearest to each vertex's reflection)."""
    mutual = (nearest == permutation) & (nearest[permutation] == np.arange(len(permutation)))
    return int((~mutual).sum())


def refine_midline_pairs(positions: np.ndarray, reflected: np.ndarray, faces: np.ndarray, permutation: np.ndarray,
                         off_plane: np.ndarray, region: np.ndarray | None = None, max_sweeps: int = 10) -> np.ndarray:
    """Re-pair vertices near the mid-plane where a shifted chain of pairs breaks the topology.

    Near the mid-plane a vertex's partner and the partners of its neighbours are all close to
    it, and a mirror found from positions can pair a chain of mid-line vertices one step off
    (measured on a decimated body with smooth asymmetry: 7 vertices along the head's mid-line,
    after which no exactly symmetric flip-free map exists). For each vertex within one median
    edge of the plane (``off_plane``) at a face that does not mirror, the re-pairings of its
    pair with one other pair or self-paired vertex near its reflection are tried (the two pairs
    {a, b}, {c, d} become {a, c}, {b, d} or {a, d}, {b, c}; a self-paired vertex may take one
    member of a pair, leaving the other as its own mirror); a move is kept when it maps more
    edges onto edges and its gain outweighs the change of the pairs' summed reflection distance
    in median edges. Sweeps stop when no move helps.

    positions, reflected : (V, 3) what the pairing was matched on (the reflection of each
    position, smooth asymmetry taken out); faces : (F, 3); permutation : (V,) involution;
    off_plane : (V,) distance of each vertex from being its own mirror; region : (V,) bool,
    optional: only these vertices start moves. Returns (V,) int64.
    """
    from .cut import face_mirror

    faces = np.asarray(faces, dtype=np.int64)
    permutation = np.array(permutation, dtype=np.int64)
    n = len(permutation)
    mirrored = face_mirror(faces, permutation) >= 0
    if np.all(mirrored):
        return permutation
    edge = max(median_edge_length(positions, faces), 1e-300)
    candidates = np.zeros(n, dtype=bool)
    candidates[faces[~mirrored].ravel()] = True
    candidates &= off_plane < edge
    if region is not None:
        candidates &= region
    if not np.any(candidates):
        return permutation
    adjacency = vertex_adjacency(faces, n).tocsr()
    neighbours = [adjacency.indices[adjacency.indptr[i]:adjacency.indptr[i + 1]].tolist() for i in range(n)]
    edges = set(_edge_codes(faces, n).tolist())
    mismatch = np.linalg.norm(reflected - positions[permutation], axis=1)
    limit = max(2.0 * edge, 1.5 * float(np.quantile(mismatch, 0.99)))
    tree = cKDTree(positions)
    # plain Python lists: the search below is scalar work
    points, images, far = positions.tolist(), reflected.tolist(), (off_plane > 0.5 * limit).tolist()
    perm = permutation.tolist()

    def distance(x: int, y: int) -> float:
        return math.dist(images[x], points[y])

    def mapped_edges(p: list, moved: set) -> int:
        seen, count = set(), 0
        for i in moved:
            for k in neighbours[i]:
                code = i * n + k if i < k else k * n + i
                if code in seen:
                    continue
                seen.add(code)
                x, y = p[i], p[k]
                count += (x * n + y if x < y else y * n + x) in edges
        return count

    def apply(p: list, option: tuple) -> None:
        for x, y in option:
            p[x], p[y] = y, x

    nearby = tree.query_ball_point(reflected[candidates], limit)
    for _ in range(max_sweeps):
        changed = False
        for u, around in zip(np.flatnonzero(candidates).tolist(), nearby):
            a, b = u, perm[u]
            best, best_value = None, 0.0
            for c in around:
                d = perm[c]
                if c == a or c == b:
                    continue
                if a != b and c != d:
                    options = [((a, c), (b, d)), ((a, d), (b, c))]
                elif a != b:
                    options = [((a, c), (b, b)), ((b, c), (a, a))]
                elif c != d:
                    options = [((a, c), (d, d)), ((a, d), (c, c))]
                else:
                    options = [((a, c),)]
                moved = {a, b, c, d}
                before = mapped_edges(perm, moved)
                old = sum(distance(x, perm[x]) for x in moved)
                undo = ((a, b), (c, d))
                for option in options:
                    if any((x == y and far[x]) or (x != y and max(distance(x, y), distance(y, x)) > limit)
                           for x, y in option):
                        continue
                    apply(perm, option)
                    gain = mapped_edges(perm, moved) - before
                    value = gain - (sum(distance(x, perm[x]) for x in moved) - old) / edge
                    apply(perm, undo)
                    if gain > 0 and value > best_value:
                        best, best_value = option, value
            if best is not None:
                apply(perm, best)
                changed = True
        if not changed:
            break
    return np.asarray(perm, dtype=np.int64)


def repair_mirror_near(vertices: np.ndarray, faces: np.ndarray, mirror: Mirror, around: np.ndarray,
                       rings: int = 3) -> Mirror:
    """The mirror re-paired near ``around`` (template vertex ids, e.g. the corners of the
    triangles that a symmetric map could not unfold) by :func:`refine_midline_pairs`, within
    ``rings`` rings of them; the plane and the smooth asymmetry are those of ``mirror``.
    Returns a new :class:`Mirror` (the same permutation if no move helps)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    n = len(vertices)
    reflected = reflect(vertices, mirror.normal, mirror.offset)
    images = reflected
    off_plane = np.abs(vertices @ mirror.normal - mirror.offset)
    if mirror.smooth_asymmetry > 0:
        images = _compensated(vertices, reflected, faces, mirror.diagonal)
        off_plane = np.minimum(off_plane, 0.5 * np.linalg.norm(images - vertices, axis=1))
    region = np.zeros(n, dtype=bool)
    region[np.asarray(around, dtype=np.int64)] = True
    region = grow_region(vertex_adjacency(faces, n), region, rings)
    region |= region[mirror.permutation]
    permutation = refine_midline_pairs(vertices, images, faces, mirror.permutation, off_plane, region)
    return replace(mirror, permutation=permutation, mismatch=np.linalg.norm(reflected - vertices[permutation], axis=1),
                   n_not_mutual=_not_mutual(cKDTree(vertices).query(reflected)[1], permutation))


def resolve_rotation_conflicts(faces: np.ndarray, permutation: np.ndarray, fixed: np.ndarray | None = None,
                               max_rounds: int = 20) -> np.ndarray:
    """Re-pair vertices around rotation conflicts (:func:`rotation_conflicts`).

    Where the triangulation does not mirror and vertex noise is comparable to the edge length,
    a mirror found from positions can pair two neighbours the wrong way round: the one-rings
    then map onto each other in an order that no flip-free symmetric map can draw. Around every
    conflicting vertex, swapping the partners of two adjacent vertices p, q (``m(p) <-> m(q)``,
    an involution again) is tried; the swap that most lowers the conflicts of the vertices it
    touches is kept. Rounds stop when no conflict is left or no swap helps. Vertices that are
    their own mirror or ``fixed`` (and their partners) keep their pairs.

    faces : (F, 3) int64; permutation : (V,) int64 involution; fixed : (V,) bool, optional.
    Returns (V,) int64, an involution (``permutation`` itself when there is no conflict).
    """
    faces = np.asarray(faces, dtype=np.int64)
    n = len(permutation)
    permutation = np.asarray(permutation, dtype=np.int64)
    from .cut import face_mirror

    mirrored = face_mirror(faces, permutation) >= 0
    if np.all(mirrored):
        return permutation                                # an exactly symmetric triangulation
    # a vertex whose faces, and its partner's, all map onto faces has no conflict: only the
    # vertices at a face that does not mirror (and their partners) are scanned first
    unmirrored = np.zeros(n, dtype=bool)
    unmirrored[faces[~mirrored].ravel()] = True
    unmirrored |= unmirrored[permutation]
    locked = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool).copy()
    locked |= permutation == np.arange(n)
    locked |= locked[permutation]
    locked = locked.tolist()
    m = permutation.tolist()                              # a list: scalar reads are the hot path
    rings = one_rings(faces, n)
    neighbours = [set(r) if r is not None else set() for r in rings]
    known: dict[int, float] = {}                          # conflict of a vertex under the current m

    def conflict(v: int) -> float:
        value = known.get(v)
        if value is None:
            value = known[v] = _rotation_conflict(rings, m, v, neighbours)
        return value

    def touched(swapped) -> set:
        # the conflict of v depends on m(v) and on m over the one-ring of m(v): a swap of the
        # partners of ``swapped`` (closed under m) changes it for v in ``swapped`` and for the
        # partners of their neighbours only
        out = set(swapped)
        for v in swapped:
            out.update(m[w] for w in neighbours[v])
        return out

    candidates = np.flatnonzero(unmirrored).tolist()
    for _ in range(max_rounds):
        # only a vertex touched by a swap of the last round can have changed
        bad = sorted(a for a in candidates if conflict(a) >= 1.0)
        if not bad:
            break
        swaps = 0
        changed: set = set()
        for x in bad:
            if conflict(x) < 1.0:
                continue                                  # an earlier swap resolved it
            best, best_gain = None, 0.0
            for p in {x} | neighbours[x]:
                if locked[p]:
                    continue
                for q in neighbours[p]:
                    mp, mq = m[p], m[q]
                    if locked[q] or q == mp or mq == p:
                        continue
                    # the vertices in conflict now first: they are the likeliest to stay so
                    around = sorted(touched((p, q, mp, mq)), key=conflict, reverse=True)
                    # the swap must bring the conflicts below this to beat the best so far; the
                    # terms are >= 0, so the sum stops as soon as it cannot
                    bound = sum(known[v] for v in around) - best_gain - 1e-9
                    if bound <= 0.0:
                        continue
                    m[p], m[q], m[mp], m[mq] = mq, mp, q, p
                    after = 0.0
                    for v in around:
                        after += _rotation_conflict(rings, m, v, neighbours)
                        if after >= bound:
                            break
                    m[p], m[q], m[mp], m[mq] = mp, mq, p, q
                    if after < bound:
                        best, best_gain = (p, q), bound + best_gain + 1e-9 - after
            if best is not None:
                p, q = best
                mp, mq = m[p], m[q]
                around = touched((p, q, mp, mq))
                m[p], m[q], m[mp], m[mq] = mq, mp, q, p
                for v in around:
                    known.pop(v, None)
                changed |= around
                swaps += 1
        if swaps == 0:
            break
        candidates = set(bad) | changed
    return np.asarray(m, dtype=np.int64)


def find_mirror(
    vertices: np.ndarray,
    permutation: np.ndarray | None = None,
    allow_asymmetric: bool = False,
    source: str = "template",
    faces: np.ndarray | None = None,
) -> Mirror:
    """Find (or check) the left-right mirror permutation of a template.

    Parameters
    ----------
    vertices : (V, 3) float64
    permutation : (V,) int, optional
        a known mirror permutation (e.g. stored in the template file): only the plane is fitted
        and the mismatch measured.
    allow_asymmetric : bool
        return the best permutation even when the template is far from symmetric.
    source : str
        named in error messages.
    faces : (F, 3) int, optional
        the triangles: when given, the pairing is refined so that the mirror maps one-rings
        onto one-rings where noise or an asymmetric triangulation leaves it ambiguous
        (:func:`_topology_rounds`); it is kept only if more edges then map onto edges.

    Raises
    ------
    SymmetryError
        the mean mismatch exceeds ``tol.mirror_mean_fraction`` or the largest exceeds
        ``tol.mirror_max_fraction`` of the bounding-box diagonal (unless ``allow_asymmetric``).
    """
    start = time.perf_counter()
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    n = len(vertices)
    diagonal = float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0)))
    tree = cKDTree(vertices)
    normal, offset, nearest_distance, nearest = _fit_plane(vertices, tree)
    reflected = reflect(vertices, normal, offset)
    smooth_asymmetry = 0.0
    surface = None
    if permutation is None and faces is not None:
        # how far the reflected surface is from the surface: the body's asymmetry, whatever its
        # triangulation (on a remeshed body the vertex pairs cannot be as close)
        faces = np.asarray(faces, dtype=np.int64)
        surface = np.sqrt(igl.point_mesh_squared_distance(reflected, vertices, faces)[0])
    if permutation is None and not allow_asymmetric:
        # no pairing can match a reflection closer than the surface (or the vertex) nearest to
        # it, so these distances bound the mismatch of any mirror from below: a template that
        # is refused anyway is refused here, before the pairing is searched (bad input fails fast)
        bound = nearest_distance if surface is None else surface
        _refuse_if_far(source, float(bound.mean()), float(bound.max()), diagonal, lower_bound=True,
                       to_surface=surface is not None)
    if permutation is None:
        positions, positions_reflected = vertices, reflected
        noise = 0.0
        asymmetric = False
        if faces is not None:
            # smooth asymmetry taken out first (the reflections moved by the fitted field), so
            # that it is not mistaken for noise
            positions_reflected = _compensated(vertices, reflected, faces, diagonal)
            asymmetric = positions_reflected is not reflected
            if asymmetric:
                smooth_asymmetry = float(np.median(np.linalg.norm(reflected - positions_reflected, axis=1)))
            # vertex noise, from the distance of each reflection to the nearest vertex (a cheap
            # lower bound of the pairs' mismatch), in median edge lengths
            to_nearest = tree.query(positions_reflected, workers=-1)[0] if asymmetric else nearest_distance
            noise = float(np.median(to_nearest)) / max(median_edge_length(vertices, faces), 1e-300)
        smoothed = noise > 2.0 * tol.mirror_noise_fraction
        if smoothed:
            # clearly noisy: the smoothed surfaces match better (measured: 0.80 against 0.17 of
            # the edges mapped onto edges on the noisy 20k body), the raw match is skipped
            positions = taubin_smooth(vertices, faces, tol.mirror_smoothing_iterations)
            positions_reflected = reflect(positions, normal, offset)
            if asymmetric:
                positions_reflected = _compensated(positions, positions_reflected, faces, diagonal)
        # where the smoothed positions alone are matched, the topological rounds re-assign every
        # pair after it: neither the finer cost unit nor the repair of outliers pays there
        permutation = _geometric_mirror(positions, positions_reflected, diagonal, normal, offset,
                                        tol.mirror_smooth_cost_unit if smoothed else tol.mirror_cost_unit,
                                        refine=not smoothed)
        # with the faces, the surfaces have passed (a template refused for them was refused
        # above, before any pairing) and the pairing is refined, not refused for its mismatch
        if faces is not None:
            if tol.mirror_noise_fraction < noise <= 2.0 * tol.mirror_noise_fraction:
                # noise comparable to the edges: match the smoothed surfaces as well, keep the better
                smooth = taubin_smooth(vertices, faces, tol.mirror_smoothing_iterations)
                smooth_reflected = reflect(smooth, normal, offset)
                if asymmetric:
                    smooth_reflected = _compensated(smooth, smooth_reflected, faces, diagonal)
                other = _geometric_mirror(smooth, smooth_reflected, diagonal, normal, offset)
                if consistent_edge_fraction(faces, other) > consistent_edge_fraction(faces, permutation):
                    permutation, positions, positions_reflected = other, smooth, smooth_reflected
            permutation = _topology_rounds(positions, positions_reflected, faces, permutation, diagonal)
            # how far each vertex is from being its own mirror: by the plane, and (on a smoothly
            # asymmetric body, whose mid-line the asymmetry bends off the plane) by its compensated
            # reflection; a vertex without partner is far by both
            off_plane = (np.minimum(np.abs(vertices @ normal - offset),
                                    0.5 * np.linalg.norm(positions_reflected - positions, axis=1))
                         if asymmetric else None)
            permutation = settle_leftovers(vertices, faces, permutation, normal, offset, off_plane)
            permutation = resolve_rotation_conflicts(faces, permutation)
    else:
        permutation = np.asarray(permutation, dtype=np.int64)
        if permutation.shape != (n,) or not np.array_equal(np.sort(permutation), np.arange(n)):
            raise SymmetryError(f"{source}: the given mirror is not a permutation of {n} vertices")
    if not np.array_equal(permutation[permutation], np.arange(n)):
        raise SymmetryError(f"{source}: the mirror permutation is not an involution")
    mismatch = np.linalg.norm(reflected - vertices[permutation], axis=1)
    mirror = Mirror(permutation, normal, offset, mismatch, diagonal, _not_mutual(nearest, permutation),
                    time.perf_counter() - start, smooth_asymmetry,
                    None if surface is None else (float(surface.mean()), float(surface.max())))
    if not allow_asymmetric and surface is None:
        # a given mirror, or one found from positions alone, is judged by its pairs; with the
        # faces the body was judged by its surface above: a symmetric body whose sides are meshed
        # differently (a scan) is kept, its map then made as symmetric as its pairs allow
        _refuse_if_far(source, mirror.mean_mismatch, mirror.max_mismatch, diagonal)
    return mirror


def _refuse_if_far(source: str, mean: float, largest: float, diagonal: float, lower_bound: bool = False,
                   to_surface: bool = False) -> None:
    """Raise SymmetryError if a mirror mismatch of this ``mean`` and ``largest`` exceeds
    ``tol.mirror_mean_fraction`` / ``tol.mirror_max_fraction`` of the bounding-box ``diagonal``
    (``lower_bound``: the values bound every pairing's mismatch from below: distances of the
    reflections to the nearest vertex, or to the surface with ``to_surface``)."""
    if mean <= tol.mirror_mean_fraction * diagonal and largest <= tol.mirror_max_fraction * diagonal:
        return
    least = "at least " if lower_bound else ""
    raise SymmetryError(
        f"{source}: not left-right symmetric: mirror mismatch mean {least}{mean:.4g}, "
        f"max {least}{largest:.4g} (template units) exceeds {tol.mirror_mean_fraction:.0%} / "
        f"{tol.mirror_max_fraction:.0%} of the bounding-box diagonal {diagonal:.4g}"
        + (f" (each vertex's reflection is that far from the {'surface' if to_surface else 'nearest vertex'})"
           if lower_bound else "")
        + "; pass allow_asymmetric (--no-symmetry) to build a map without the symmetry step"
    )


def template_mirror(template, allow_asymmetric: bool = False) -> Mirror:
    """The mirror of a :class:`uvkit.template.Template`: its stored permutation, else a new one."""
    return find_mirror(template.vertices, template.mirror, allow_asymmetric, template.source, template.faces)
