"""Cut a closed genus-0 body template into one topological disk along a symmetric seam tree.

The seam tree is built on one side of the body and mirrored:

1. a *spine* seam on the mid-plane, from the top of the head (or the back of the neck) down
   the back to the crotch, routed over mid-plane vertices only, so it maps onto itself; where
   those leave gaps (a decimated or noisy template) it is routed near the plane and the
   mirror is re-paired around it (:func:`route_spine`);
2. *branches* on the body's left side from the tree to each tip (foot, hand, optionally each
   fingertip and toe), routed as shortest paths whose edge cost grows on front-facing surface
   (seams run over the back and under the arms where they are least visible);
3. the branches' mirror images on the right side.

Branches never touch the mid-plane except where they start, so the union stays a tree, and
cutting a sphere along a tree gives a disk. Tips come from the part labels (SMPL joint ids,
:mod:`uvkit.parts`) and the geodesic distance from the pelvis: a hand's tip is its vertex
farthest from the pelvis; fingertips are the local maxima of that distance on the hand.

The cut itself splits every seam vertex into one copy per wedge of faces between seam edges:
cut vertex ``t < V`` is the first copy of template vertex ``t``, further copies follow,
ordered by template vertex.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .errors import TemplateError, UvkitError
from .mesh import boundary_loops
from .symmetry import mirror_plane_x
from .tolerances import tol


class CutError(UvkitError):
    """The seam tree could not be built on this template (a tip or the mid-plane is missing)."""


@dataclass(frozen=True)
class SeamConfig:
    """Where the seams run.

    Attributes
    ----------
    name : str
        preset name (or a user's label).
    spine_top : str
        ``"head"``: the mid-plane seam starts at the top of the head and opens the head;
        ``"neck"``: it starts at the back of the neck and leaves the head closed.
    hands : str
        ``"tip"``: one branch per hand to its farthest point; ``"fingers"``: to every fingertip.
    feet : str
        ``"tip"``: one branch per foot; ``"toes"``: to every toe.
    front_penalty : float
        extra cost of a seam edge on front-facing surface: cost = length * (1 + p * (1 + n_z) / 2),
        n_z the z component (front) of the unit vertex normal.
    n_fingers, n_toes : int
        tips per hand and per foot when ``hands == "fingers"`` / ``feet == "toes"``.
    """

    name: str = "custom"
    spine_top: str = "head"
    hands: str = "tip"
    feet: str = "tip"
    front_penalty: float = 4.0
    n_fingers: int = 5
    n_toes: int = 5

    def as_dict(self) -> dict:
        return {"name": self.name, "spine_top": self.spine_top, "hands": self.hands,
                "feet": self.feet, "front_penalty": self.front_penalty,
                "n_fingers": self.n_fingers, "n_toes": self.n_toes}


#: named seam presets.
SEAM_PRESETS: dict[str, SeamConfig] = {
    "body": SeamConfig("body"),
    "body-neck": SeamConfig("body-neck", spine_top="neck"),
    "fingers": SeamConfig("fingers", hands="fingers"),
    "full": SeamConfig("full", hands="fingers", feet="toes"),
}
DEFAULT_SEAMS = "fingers"

_SPINE_TOPS = ("head", "neck")
_HANDS = ("tip", "fingers")
_FEET = ("tip", "toes")


def seam_config(seams: str | SeamConfig) -> SeamConfig:
    """A validated :class:`SeamConfig` from a preset name or a config."""
    if isinstance(seams, str):
        if seams not in SEAM_PRESETS:
            raise UvkitError(f"unknown seam preset {seams!r}; valid presets: {', '.join(SEAM_PRESETS)}")
        return SEAM_PRESETS[seams]
    if not isinstance(seams, SeamConfig):
        raise UvkitError(f"seams must be a preset name or a SeamConfig, got {type(seams).__name__}")
    for value, valid, what in ((seams.spine_top, _SPINE_TOPS, "spine_top"), (seams.hands, _HANDS, "hands"),
                               (seams.feet, _FEET, "feet")):
        if value not in valid:
            raise UvkitError(f"unknown {what} {value!r}; valid choices: {', '.join(valid)}")
    if seams.front_penalty < 0:
        raise UvkitError(f"front_penalty must be >= 0, got {seams.front_penalty}")
    return seams


@dataclass
class Cut:
    """A template cut open into one disk.

    Attributes
    ----------
    vt2v : (T,) int64
        template vertex of each cut vertex; ``vt2v[:V] == arange(V)``.
    ft : (F, 3) int64
        cut faces, in the template's face order.
    vt_mirror : (T,) int64
        the mirror copy of each cut vertex (an involution; seam copies map to the mirrored
        vertex's copy on the mirrored side of the seam).
    seam_edges : (E, 2) int64
        template vertex pairs (i < j) of the seam tree, sorted.
    seams : SeamConfig
        the configuration used.
    tips : dict[str, int]
        named tip vertices (template ids) the seams lead to.
    boundary : (B,) int64
        the boundary loop of the cut mesh (cut vertex ids).
    mirror : (V,) int64 or None
        the template's vertex mirror the cut is symmetric under: the given one, or the one
        re-paired around a routed spine (:func:`route_spine`).
    """

    vt2v: np.ndarray
    ft: np.ndarray
    vt_mirror: np.ndarray
    seam_edges: np.ndarray
    seams: SeamConfig
    tips: dict = field(default_factory=dict)
    boundary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mirror: np.ndarray | None = None


# --- mesh topology ------------------------------------------------------------------------------

def _half_edge_twins(F: np.ndarray, n_vertices: int) -> np.ndarray:
    """Twin of each half-edge (f, k): F[f, k] -> F[f, (k+1) % 3]; -1 where none.

    F : (F, 3) int64. Returns (3 F,) int64 indices 3 * g + l.
    """
    a = F.ravel()
    b = F[:, [1, 2, 0]].ravel()
    key = a * n_vertices + b
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    twin_key = b * n_vertices + a
    pos = np.searchsorted(sorted_keys, twin_key)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    found = sorted_keys[pos] == twin_key
    return np.where(found, order[pos], -1)


def check_closed_genus0(V: np.ndarray, F: np.ndarray) -> None:
    """Raise :class:`TemplateError` unless (V, F) is one closed, oriented, manifold genus-0 surface.

    V : (V, 3) float64; F : (F, 3) int64.
    """
    V = np.asarray(V)
    F = np.asarray(F)
    if V.ndim != 2 or V.shape[1] != 3 or len(V) == 0:
        raise TemplateError(f"vertices must be a non-empty (V, 3) array, got shape {V.shape}")
    if F.ndim != 2 or F.shape[1] != 3 or len(F) == 0:
        raise TemplateError(f"faces must be a non-empty (F, 3) array, got shape {F.shape}")
    if not np.all(np.isfinite(V)):
        raise TemplateError(f"{int(np.sum(~np.isfinite(V).all(axis=1)))} vertices have NaN or infinite positions")
    n = len(V)
    if F.min() < 0 or F.max() >= n:
        raise TemplateError(f"face indices must lie in [0, {n}), found [{F.min()}, {F.max()}]")
    if np.any((F[:, 0] == F[:, 1]) | (F[:, 1] == F[:, 2]) | (F[:, 2] == F[:, 0])):
        raise TemplateError("some faces repeat a vertex (degenerate faces)")
    used = np.zeros(n, dtype=bool)
    used[F.ravel()] = True
    if not used.all():
        raise TemplateError(f"{int((~used).sum())} vertices are used by no face")
    undirected = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    _, counts = np.unique(undirected[:, 0] * n + undirected[:, 1], return_counts=True)
    if np.any(counts > 2):
        raise TemplateError(f"the mesh has {int(np.sum(counts > 2))} non-manifold edges (shared by more than two faces)")
    if np.any(counts == 1):
        raise TemplateError(f"the mesh is not closed: {int(np.sum(counts == 1))} boundary edges (holes)")
    twins = _half_edge_twins(F, n)
    if np.any(twins < 0):
        raise TemplateError(f"faces are not consistently oriented ({int(np.sum(twins < 0))} half-edges without an opposite twin)")
    n_components, _ = csgraph.connected_components(_vertex_adjacency(F, n), directed=False)
    if n_components != 1:
        raise TemplateError(f"the mesh has {n_components} connected components; one is required")
    wedges = _corner_wedges(F, n, twins, np.zeros(len(twins), dtype=bool))
    per_vertex = np.bincount(F.ravel()[_first_corner_of_label(wedges)], minlength=n)
    if np.any(per_vertex != 1):
        raise TemplateError(f"{int(np.sum(per_vertex != 1))} vertices are not manifold (their faces form several fans)")
    chi = n - len(counts) + len(F)
    if chi != 2:
        raise TemplateError(f"the mesh has genus {(2 - chi) // 2} (Euler characteristic {chi}); a genus-0 (sphere-like) surface is required")


def _vertex_adjacency(F: np.ndarray, n: int, weights: np.ndarray | None = None) -> sp.csr_matrix:
    i = F[:, [0, 1, 2]].ravel()
    j = F[:, [1, 2, 0]].ravel()
    data = np.ones(len(i)) if weights is None else weights
    return sp.coo_matrix((data, (i, j)), shape=(n, n)).tocsr()


def _corner_wedges(F: np.ndarray, n: int, twins: np.ndarray, cut_half_edge: np.ndarray) -> np.ndarray:
    """Label the corners (3 F) into wedges: corners of one vertex joined across uncut edges.

    Returns (3 F,) int64 component labels.
    """
    h = np.flatnonzero((twins >= 0) & ~cut_half_edge)
    g = twins[h]
    f, k = h // 3, h % 3
    gf, gl = g // 3, g % 3
    # corner of a = F[f, k] in f is h; in g it is (g, l + 1)
    rows = np.concatenate([3 * f + k, 3 * f + (k + 1) % 3])
    cols = np.concatenate([3 * gf + (gl + 1) % 3, 3 * gf + gl])
    m = 3 * len(F)
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m)).tocsr()
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _first_corner_of_label(labels: np.ndarray) -> np.ndarray:
    """Smallest corner index of each label. labels (3 F,) int64 -> (L,) int64."""
    first = np.full(labels.max() + 1, len(labels), dtype=np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    return first


def _unique_edges(F: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


# --- seams --------------------------------------------------------------------------------------

def _vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    n = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    out = np.zeros_like(V)
    for k in range(3):
        np.add.at(out, F[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-300)


def _graph(n: int, edges: np.ndarray, weights: np.ndarray, keep: np.ndarray | None = None) -> sp.csr_matrix:
    if keep is not None:
        edges, weights = edges[keep], weights[keep]
    return sp.coo_matrix((np.concatenate([weights, weights]),
                          (np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]]))),
                         shape=(n, n)).tocsr()


def _trace(predecessors: np.ndarray, target: int) -> list[int]:
    path = [target]
    while predecessors[path[-1]] >= 0:
        path.append(int(predecessors[path[-1]]))
    return path[::-1]


def _local_maxima(dist: np.ndarray, candidates: np.ndarray, adjacency: sp.csr_matrix, count: int,
                  separation: float, length_graph: sp.csr_matrix) -> list[int]:
    """Up to ``count`` local maxima of ``dist`` among ``candidates``, farthest first, at least
    ``separation`` apart geodesically."""
    cand = np.flatnonzero(candidates)
    if len(cand) == 0:
        return []
    neighbour_max = np.full(len(dist), -np.inf)
    coo = adjacency.tocoo()
    np.maximum.at(neighbour_max, coo.row, dist[coo.col])
    maxima = cand[dist[cand] >= neighbour_max[cand]]
    maxima = maxima[np.lexsort((maxima, -dist[maxima]))]
    chosen: list[int] = []
    for v in maxima:
        if len(chosen) == count:
            break
        if chosen:
            d = csgraph.dijkstra(length_graph, indices=int(v), limit=separation)
            if np.any(np.isfinite(d[chosen])):
                continue
        chosen.append(int(v))
    return chosen


def mirror_consistent_edges(edges: np.ndarray, mirror: np.ndarray, n: int) -> np.ndarray:
    """Which edges map onto edges under the vertex mirror.

    edges : (E, 2) int64 unique, sorted pairs; mirror : (V,) int64. Returns (E,) bool. On an
    exactly symmetric triangulation every edge is consistent; where the faces do not mirror
    (a different diagonal on each side) some are not, and a seam must avoid them.
    """
    code = np.sort(edges[:, 0] * n + edges[:, 1])
    mirrored = np.sort(mirror[edges], axis=1)
    mcode = mirrored[:, 0] * n + mirrored[:, 1]
    pos = np.minimum(np.searchsorted(code, mcode), len(code) - 1)
    return code[pos] == mcode


def build_seams(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, parts: np.ndarray,
                seams: str | SeamConfig = DEFAULT_SEAMS) -> tuple[np.ndarray, dict]:
    """The symmetric seam tree of a template (:func:`seam_tree` without the mirror it used).

    V : (V, 3) float64 (+Y up, +Z front, +X the body's left); F : (F, 3) int64; mirror : (V,)
    int64; parts : (V,) int64 SMPL joint ids. Returns seam_edges (E, 2) int64 and the tips
    (dict[str, int]).
    """
    edges, tips, _ = seam_tree(V, F, mirror, parts, seams)
    return edges, tips


def _spine_sides(F: np.ndarray, n: int, path: np.ndarray, adjacency: sp.csr_matrix, rings: int) -> np.ndarray:
    """Which side of the spine path each nearby vertex lies on, from the mesh's topology alone.

    The faces holding a half-edge ``path[k] -> path[k + 1]`` lie on one side of the path (side
    1), those holding ``path[k + 1] -> path[k]`` on the other (side 2). Each interior path
    vertex's fan splits into two wedges at its two path edges; the vertices of the wedges are
    the seeds of each side, and the sides grow ``rings`` rings outwards without crossing the
    path. A vertex is given a side when it is a seed of that side only, or when it is at least
    two rings nearer to that side than to the other (around the path's two ends the sides meet
    and the vertices there stay unlabelled).

    F : (F, 3) int64; path : (P,) int64 vertex ids from top to bottom; adjacency : (V, V)
    vertex graph. Returns (V,) int8: 0 no side (or on the path), 1 or 2.
    """
    twins = _half_edge_twins(F, n)
    a = F.ravel()
    b = F[:, [1, 2, 0]].ravel()
    on_path = np.zeros(n, dtype=bool)
    on_path[path] = True
    step = np.full(n, -1, dtype=np.int64)
    step[path[:-1]] = path[1:]                            # the next path vertex
    back = np.full(n, -1, dtype=np.int64)
    back[path[1:]] = path[:-1]
    cut_half = ((step[a] == b) & (step[a] >= 0)) | ((back[a] == b) & (back[a] >= 0))
    wedge = _corner_wedges(F, n, twins, cut_half)
    forward = np.flatnonzero((step[a] == b) & (step[a] >= 0))      # half-edges path[k] -> path[k+1]
    backward = np.flatnonzero((back[a] == b) & (back[a] >= 0))     # half-edges path[k+1] -> path[k]
    corner_face = np.arange(3 * len(F)) // 3
    seeds = []
    for halves in (forward, backward):
        # wedges of the interior path vertices holding these half-edges (at either end of them)
        corners = np.concatenate([halves, 3 * (halves // 3) + (halves % 3 + 1) % 3])
        interior = np.isin(a[corners], path[SPINE_END_RINGS:len(path) - SPINE_END_RINGS])
        labels = np.unique(wedge[corners[interior]])
        faces = np.unique(corner_face[np.isin(wedge, labels)])
        seed = np.zeros(n, dtype=bool)
        seed[F[faces].ravel()] = True
        seed &= ~on_path
        seeds.append(seed)
    keep = ~on_path
    graph = adjacency[keep][:, keep]
    index = np.flatnonzero(keep)
    distance = []
    for seed in seeds:
        local = np.flatnonzero(seed[index])
        d = np.full(n, np.inf)
        if len(local):
            d[index] = csgraph.dijkstra(graph, unweighted=True, indices=local, min_only=True, limit=rings)
        distance.append(d)
    d1, d2 = distance
    side = np.zeros(n, dtype=np.int8)
    only1 = seeds[0] & ~seeds[1]
    only2 = seeds[1] & ~seeds[0]
    far1 = np.isfinite(d1) & (d1 + 2 <= d2) & ~seeds[1]
    far2 = np.isfinite(d2) & (d2 + 2 <= d1) & ~seeds[0]
    side[only1 | far1] = 1
    side[only2 | far2] = 2
    side[on_path] = 0
    return side


def route_spine(V: np.ndarray, F: np.ndarray, edges: np.ndarray, cost: np.ndarray, mirror: np.ndarray,
                top: int, bottom: int, rings: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A spine seam for a template whose mid-plane vertices do not join into a path.

    Decimation or noise moves vertices off the mid-plane, so the vertices that are their own
    mirror leave gaps along the back. The spine is then routed as the cheapest edge path from
    ``top`` to ``bottom`` whose cost (``cost``: length with the front-facing penalty) grows
    with the squared distance from the mid-plane, in units of the median edge length; its
    vertices are declared their own mirror (they end at u = 0.5 on the chart's border, a few
    millimetres from where they lie), and the mirror is re-assigned around the path so that it
    stays a one-to-one involution: the vertices within ``rings`` rings of the path and their
    partners are paired anew by a minimum-cost assignment on the symmetric pair cost of
    :mod:`uvkit.symmetry`, where a vertex on one side of the path (:func:`_spine_sides`) may
    pair only with a vertex that is not on that side. A vertex beside the path may become its
    own mirror only if it closes a triangle with a path edge; it then joins the path between
    the two (this is how the odd vertex left over where the plane passes between two partners
    is absorbed), and the assignment is repeated with the new path.

    V : (V, 3) float64 (+X the body's left); F : (F, 3) int64; edges : (E, 2) int64 unique
    sorted pairs; cost : (E,) float64; mirror : (V,) int64 involution; top, bottom : vertex ids.
    Returns the path (P,) int64 from top to bottom and the new mirror (V,) int64.
    """
    from scipy.optimize import linear_sum_assignment

    from .symmetry import _pair_cost, _resolve_cycles

    n = len(V)
    mirror = np.asarray(mirror, dtype=np.int64)
    plane_x = mirror_plane_x(V, mirror)
    off = np.abs(V[:, 0] - plane_x)
    lengths = np.linalg.norm(V[edges[:, 0]] - V[edges[:, 1]], axis=1)
    unit = float(np.median(lengths))
    off_edge = 0.5 * (off[edges[:, 0]] + off[edges[:, 1]]) / unit
    weight = cost * (1.0 + SPINE_OFF_PLANE_WEIGHT * off_edge ** 2)
    _, pred = csgraph.dijkstra(_graph(n, edges, weight), indices=top, return_predecessors=True)
    if top != bottom and pred[bottom] < 0:
        raise CutError("no edge path joins the top of the head to the crotch")
    path = np.asarray(_trace(pred, bottom), dtype=np.int64)
    adjacency = _graph(n, edges, np.ones(len(edges)))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    reflected = V.copy()
    reflected[:, 0] = 2.0 * plane_x - V[:, 0]
    third = F[:, [2, 0, 1]].ravel()                   # the vertex opposite half-edge F[f, k] -> F[f, k + 1]
    tail, head = F.ravel(), F[:, [1, 2, 0]].ravel()
    for round_ in range(SPINE_REPAIR_ROUNDS):
        on_path = np.zeros(n, dtype=bool)
        on_path[path] = True
        position = np.full(n, -1, dtype=np.int64)
        position[path] = np.arange(len(path))
        # vertices that close a triangle with a path edge: where they may join the path
        along = (position[tail] >= 0) & (position[head] >= 0) & (np.abs(position[tail] - position[head]) == 1) \
            & ~on_path[third]
        slot = np.full(n, -1, dtype=np.int64)
        ids = np.flatnonzero(along)[::-1]
        slot[third[ids]] = np.minimum(position[tail[ids]], position[head[ids]])
        near = csgraph.dijkstra(adjacency, unweighted=True, indices=path, min_only=True, limit=rings)
        group = np.flatnonzero(np.isfinite(near))
        group = np.unique(np.concatenate([group, mirror[group]]))
        side = _spine_sides(F, n, path, adjacency, rings)
        m = len(group)
        ia, ib = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        pair = _pair_cost(V, reflected, group[ia.ravel()], group[ib.ravel()]).reshape(m, m) / unit
        # how well each pairing agrees with the current pairs of the neighbours (as in find_mirror)
        counts = (adjacency[group] @ adjacency[mirror][:, group]).toarray()
        agree = (counts + counts.T) / np.maximum(degree[group][:, None] + degree[group][None, :], 1.0)
        gp, gs = on_path[group], side[group]
        same = (gs[:, None] == gs[None, :]) & (gs[:, None] > 0) & (ia != ib)
        may_join = slot[group] >= 0
        # a vertex off the path that is not beside it may stay its own mirror only near the plane
        near_plane = (off[group] <= SPINE_SELF_OFF_PLANE * unit) | on_path[group]
        alone = (ia == ib) & (((gs[:, None] > 0) & ~may_join[:, None]) | ((gs[:, None] == 0) & ~near_plane[:, None]))
        path_pair = (gp[:, None] | gp[None, :]) & (ia != ib)            # a path vertex is its own mirror
        forbidden = same | alone | path_pair
        matrix = pair ** 2 + tol.mirror_topology_weight * (1.0 - agree)
        # joining the path costs one squared edge length more than staying alone would
        joins = np.flatnonzero((gs > 0) & may_join)
        matrix[joins, joins] += SPINE_JOIN_COST
        big = float(matrix.sum()) + 1.0
        matrix = np.where(forbidden, big, matrix)
        for _ in range(SPINE_CYCLE_ROUNDS):
            _, columns = linear_sum_assignment(matrix)
            columns = np.asarray(columns, dtype=np.int64)
            resolved = _resolve_cycles(columns, np.diag(matrix).copy(), lambda x, y: matrix[x, y])
            wrong = np.flatnonzero(forbidden[np.arange(m), resolved] | (matrix[np.arange(m), resolved] >= big))
            if len(wrong) == 0:
                break
            # an odd cycle of the assignment whose members may not stay alone: forbid its
            # dearest link and solve again
            for x in wrong:
                cycle = [int(x)]
                while int(columns[cycle[-1]]) != cycle[0] and len(cycle) <= m:
                    cycle.append(int(columns[cycle[-1]]))
                links = np.array([matrix[a, columns[a]] for a in cycle])
                a = cycle[int(np.argmax(links))]
                matrix[a, columns[a]] = matrix[columns[a], a] = big
        columns = resolved
        if np.any(forbidden[np.arange(m), columns]):
            raise CutError("the mirror cannot be re-paired around the spine: a vertex beside it has no partner "
                           "on the other side")
        out = mirror.copy()
        out[group] = group[columns]
        joining = group[(columns == np.arange(m)) & (gs > 0)]
        if len(joining) == 0:
            break
        if round_ == SPINE_REPAIR_ROUNDS - 1:
            raise CutError("re-pairing the mirror around the spine did not settle")
        # the sided vertices left alone join the path between the two ends of their path edge
        order = np.argsort(slot[joining], kind="stable")
        joining = joining[order]
        keep = np.ones(len(joining), dtype=bool)
        keep[1:] = slot[joining][1:] != slot[joining][:-1]         # one vertex per path edge and round
        joining = joining[keep]
        path = np.insert(path, slot[joining] + 1, joining)
    if np.any(out[out] != np.arange(n)):
        raise CutError("re-pairing the mirror around the spine did not give an involution")
    return path, out


#: cost of a vertex beside a routed spine joining it (in squared median edge lengths): the
#: join leaves an ear, a triangle with one face at the joining vertex on one side of the
#: seam, which an exactly symmetric map squeezes; shifting pairs along the spine is preferred.
SPINE_JOIN_COST = 1000.0
#: vertices near a routed spine that are not beside it stay their own mirror only within this
#: distance of the mid-plane (in median edge lengths).
SPINE_SELF_OFF_PLANE = 0.5
#: assignments solved again around a routed spine when one has an odd cycle of vertices
#: that may not stay their own mirror.
SPINE_CYCLE_ROUNDS = 20
#: rounds of re-pairing the mirror around a routed spine (each may add vertices to the path).
SPINE_REPAIR_ROUNDS = 6
#: the first and last path vertices whose wedges do not seed the sides of a routed spine (the
#: sides meet around the path's ends, where the front's mid-plane continues).
SPINE_END_RINGS = 2
#: the spine routed over a mid-plane with gaps: edge cost factor 1 + w (distance from the
#: plane / median edge length) ** 2.
SPINE_OFF_PLANE_WEIGHT = 10.0


def seam_tree(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, parts: np.ndarray,
              seams: str | SeamConfig = DEFAULT_SEAMS) -> tuple[np.ndarray, dict, np.ndarray]:
    """The symmetric seam tree of a template, and the mirror it is symmetric under.

    Parameters
    ----------
    V : (V, 3) float64
        template vertices, +Y up, +Z front, +X the body's left.
    F : (F, 3) int64
    mirror : (V,) int64
        left-right mirror permutation.
    parts : (V,) int64
        SMPL joint id per vertex (all 0 when unknown: the seam is then the spine only).
    seams : str or SeamConfig

    Returns
    -------
    seam_edges : (E, 2) int64
        template vertex pairs (i < j), sorted; a tree, invariant under the returned mirror.
    tips : dict[str, int]
        the tip vertices used.
    mirror : (V,) int64
        the input mirror, or, when the vertices that are their own mirror do not join into a
        path from the head to the crotch, the mirror re-paired around a routed spine
        (:func:`route_spine`).
    """
    config = seam_config(seams)
    n = len(V)
    mirror = np.asarray(mirror, dtype=np.int64)
    edges = _unique_edges(F)
    lengths = np.linalg.norm(V[edges[:, 0]] - V[edges[:, 1]], axis=1)
    normals = _vertex_normals(V, F)
    front = (1.0 + normals[:, 2]) / 2.0
    cost = lengths * (1.0 + config.front_penalty * (front[edges[:, 0]] + front[edges[:, 1]]) / 2.0)
    length_graph = _graph(n, edges, lengths)
    adjacency = _graph(n, edges, np.ones(len(edges)))

    midline = mirror == np.arange(n)
    # the body's left: the member of each pair with the larger x (ties by vertex id), so that
    # the mirror maps the left exactly onto the right even where noise moves a vertex across x = 0
    x, xm = V[:, 0], V[mirror, 0]
    left = ~midline & ((x > xm) | ((x == xm) & (np.arange(n) < mirror)))
    wrong_side = np.mean(x[left] <= 0) if left.any() else 0.0
    if wrong_side > 0.1:
        raise CutError(f"the mirror permutation does not map the body's left (+x) onto its right (-x): "
                       f"{wrong_side:.0%} of the left members of its pairs lie at x <= 0")
    if not midline.any():
        raise CutError("no vertex lies on the mid-plane (mirror(i) == i): a symmetric seam tree needs a mid-plane vertex path")

    pelvis = np.flatnonzero(parts == 0)
    if len(pelvis) == 0:
        pelvis = np.array([int(np.argmin(np.linalg.norm(V - V.mean(axis=0), axis=1)))])
    dist = csgraph.dijkstra(length_graph, indices=pelvis, min_only=True)
    height = float(np.ptp(V[:, 1]))

    tips: dict[str, int] = {}
    # spine: mid-plane path from the top to the crotch
    mid_ids = np.flatnonzero(midline)
    bottom = int(mid_ids[np.lexsort((V[mid_ids, 2], V[mid_ids, 1]))[0]])
    top = None
    if config.spine_top == "head":
        cand = mid_ids[parts[mid_ids] == 15]
        top = int(cand[np.argmax(dist[cand])]) if len(cand) else int(mid_ids[np.argmax(V[mid_ids, 1])])
    else:
        cand = mid_ids[parts[mid_ids] == 12]
        if len(cand) == 0:
            raise CutError("spine_top 'neck' needs mid-plane vertices labelled neck (joint 12)")
        top = int(cand[np.argmin(V[cand, 2])])
    tips["spine_top"], tips["spine_bottom"] = top, bottom
    consistent = mirror_consistent_edges(edges, mirror, n)
    mid_graph = _graph(n, edges, cost, keep=midline[edges[:, 0]] & midline[edges[:, 1]] & consistent)
    _, pred = csgraph.dijkstra(mid_graph, indices=top, return_predecessors=True)
    if top == bottom or pred[bottom] >= 0:
        spine = _trace(pred, bottom)
    else:
        # the mid-plane has gaps: route the spine near the plane and make it the mid-plane
        try:
            path, mirror = route_spine(V, F, edges, cost, mirror, top, bottom)
        except CutError as error:
            raise CutError(f"the mid-plane vertices do not form a connected path from the head to the crotch, "
                           f"and routing the spine over the gaps failed: {error}") from None
        spine = path.tolist()
        midline = mirror == np.arange(n)
        consistent = mirror_consistent_edges(edges, mirror, n)
        xm = V[mirror, 0]
        left = ~midline & ((x > xm) | ((x == xm) & (np.arange(n) < mirror)))
    in_tree = np.zeros(n, dtype=bool)
    in_tree[spine] = True
    tree_edges = [(a, b) for a, b in zip(spine[:-1], spine[1:])]

    # left branches, then their mirror images
    branch_tips: list[tuple[str, int]] = []
    foot = np.flatnonzero(left & (parts == 10)) if np.any(left & (parts == 10)) else np.flatnonzero(left & (parts == 7))
    hand = np.flatnonzero(left & (parts == 22)) if np.any(left & (parts == 22)) else np.flatnonzero(left & (parts == 20))
    separation = 0.006 * height
    if len(foot):
        if config.feet == "toes":
            region = left & (parts == 10)
            toes = _local_maxima(dist, region, adjacency, config.n_toes, separation, length_graph)
            branch_tips += [(f"left_toe{i}", t) for i, t in enumerate(toes)]
        else:
            branch_tips.append(("left_foot", int(foot[np.argmax(dist[foot])])))
    if len(hand):
        if config.hands == "fingers":
            region = left & np.isin(parts, (20, 22))
            fingers = _local_maxima(dist, region, adjacency, config.n_fingers, separation, length_graph)
            branch_tips += [(f"left_finger{i}", t) for i, t in enumerate(fingers)]
        else:
            branch_tips.append(("left_hand", int(hand[np.argmax(dist[hand])])))
    allowed_base = left.copy()
    for name, tip in branch_tips:
        allowed = allowed_base | (in_tree & midline)
        keep = allowed[edges[:, 0]] & allowed[edges[:, 1]] & consistent
        graph = _graph(n, edges, cost, keep=keep)
        sources = np.flatnonzero(in_tree & allowed)
        _, pred, _ = csgraph.dijkstra(graph, indices=sources, min_only=True, return_predecessors=True)
        if not in_tree[tip] and pred[tip] < 0:
            raise CutError(f"no seam path from the tree to {name} on the body's left side")
        path = _trace(pred, tip)
        tree_edges += [(a, b) for a, b in zip(path[:-1], path[1:])]
        in_tree[path] = True
        tips[name] = tip
        tips["right" + name[4:]] = int(mirror[tip])
    e = np.array(tree_edges, dtype=np.int64).reshape(-1, 2)
    side = e[~(midline[e[:, 0]] & midline[e[:, 1]])]
    e = np.vstack([e, mirror[side]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    on_seam = np.zeros(n, dtype=bool)
    on_seam[e.ravel()] = True
    mirror = pair_midplane_faces(V, F, mirror, on_seam)
    # re-pairing around the spine can pair neighbours the wrong way round: untwist (seams kept)
    from .symmetry import resolve_rotation_conflicts

    mirror = resolve_rotation_conflicts(F, mirror, fixed=on_seam)
    return e, tips, mirror


def pair_midplane_faces(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Pair up vertices of triangles whose three corners are all their own mirror.

    In an exactly symmetric map every vertex that is its own mirror lies on the axis u = 0.5,
    so such a triangle (a decimated mesh can have one lying in the mid-plane, e.g. on the nose)
    collapses to a segment. Two of its corners that are not ``fixed`` (seam vertices keep
    their pairs) are paired with each other instead, the pair with the smallest symmetric
    mismatch first; the pair then straddles the axis and the triangle keeps its area.

    V : (V, 3) float64 (+X the body's left); F : (F, 3) int64; mirror : (V,) int64 involution;
    fixed : (V,) bool. Returns (V,) int64, an involution.
    """
    mirror = np.asarray(mirror, dtype=np.int64).copy()
    plane_x = mirror_plane_x(V, mirror)
    for face in F[np.all(mirror[F] == F, axis=1)]:
        if not np.all(mirror[face] == face):
            continue                                      # an earlier pairing already split it
        best, best_cost = None, np.inf
        for a, b in ((face[0], face[1]), (face[1], face[2]), (face[2], face[0])):
            if fixed[a] or fixed[b]:
                continue
            reflected_a = np.array([2.0 * plane_x - V[a, 0], V[a, 1], V[a, 2]])
            reflected_b = np.array([2.0 * plane_x - V[b, 0], V[b, 1], V[b, 2]])
            cost = np.linalg.norm(reflected_a - V[b]) + np.linalg.norm(reflected_b - V[a])
            if cost < best_cost:
                best, best_cost = (a, b), cost
        if best is not None:
            mirror[best[0]], mirror[best[1]] = best[1], best[0]
    return mirror


# --- cutting ------------------------------------------------------------------------------------

def face_mirror(F: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The mirrored face of each face, -1 where the mirror image of a face is not a face.

    F : (F, 3) int64; mirror : (V,) int64 -> (F,) int64.
    """
    n = int(F.max()) + 1
    key = np.sort(F, axis=1)
    code = (key[:, 0] * n + key[:, 1]) * n + key[:, 2]
    mkey = np.sort(mirror[F], axis=1)
    mcode = (mkey[:, 0] * n + mkey[:, 1]) * n + mkey[:, 2]
    order = np.argsort(code, kind="stable")
    pos = np.minimum(np.searchsorted(code[order], mcode), len(F) - 1)
    found = code[order][pos] == mcode
    return np.where(found, order[pos], -1)


def _face_mirror(F: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """:func:`face_mirror`, raising :class:`CutError` if a face has no mirrored face."""
    out = face_mirror(F, mirror)
    if np.any(out < 0):
        raise CutError(f"the mirror permutation is not a symmetry of the triangulation: "
                       f"{int((out < 0).sum())} faces have no mirrored face")
    return out


def _cut_vertex_mirror(F: np.ndarray, mirror: np.ndarray, ft: np.ndarray, vt2v: np.ndarray,
                       cut_half: np.ndarray, twins: np.ndarray) -> np.ndarray:
    """The mirror copy of each cut vertex, from the seam edges alone (faces need not mirror).

    A vertex off the seams has one copy, mirrored onto the one copy of its mirror vertex. A seam
    vertex ``a`` has one copy per wedge of faces between its seam edges; the wedge on the left
    of the seam half-edge ``a -> b`` (the face holding ``a -> b``) maps onto the wedge of
    ``m(a)`` on the right of ``m(a) -> m(b)``, i.e. the one holding the half-edge
    ``m(b) -> m(a)`` (a reflection reverses orientation). Every wedge touches a seam edge, so
    every copy gets a mirror; the result is checked to be one consistent involution.

    F, ft : (F, 3) int64; mirror : (V,) int64; vt2v : (T,) int64; cut_half : (3 F,) bool, the
    half-edges ``F[f, k] -> F[f, (k + 1) % 3]`` on a seam; twins : (3 F,) int64.
    Returns (T,) int64.
    """
    n = len(mirror)
    n_vt = len(vt2v)
    a = F.ravel()
    b = F[:, [1, 2, 0]].ravel()
    key = a * n + b
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]

    def half_edge(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        code = src * n + dst
        pos = np.minimum(np.searchsorted(sorted_key, code), len(sorted_key) - 1)
        if np.any(sorted_key[pos] != code):
            raise CutError("the seam tree is not mirror symmetric: a seam edge's mirror image is not an edge")
        return order[pos]

    corner_vt = ft.ravel()
    seam = np.flatnonzero(cut_half)
    # corner of a at the start of a -> b  ->  corner of m(a) at the end of m(b) -> m(a)
    h = half_edge(mirror[b[seam]], mirror[a[seam]])
    src_start = corner_vt[seam]
    dst_start = corner_vt[3 * (h // 3) + (h % 3 + 1) % 3]
    # corner of b at the end of a -> b  ->  corner of m(b) at the start of m(b) -> m(a)
    src_end = corner_vt[3 * (seam // 3) + (seam % 3 + 1) % 3]
    dst_end = corner_vt[h]
    vt_mirror = np.full(n_vt, -1, dtype=np.int64)
    off_seam = np.ones(n_vt, dtype=bool)
    off_seam[vt2v[np.concatenate([src_start, src_end])]] = False
    off_seam = off_seam & (np.arange(n_vt) < n)
    ids = np.flatnonzero(off_seam)
    vt_mirror[ids] = mirror[ids]
    src = np.concatenate([src_start, src_end])
    dst = np.concatenate([dst_start, dst_end])
    vt_mirror[src] = dst
    if np.any(vt_mirror[src] != dst) or np.any(vt_mirror < 0) or np.any(vt_mirror[vt_mirror] != np.arange(n_vt)) \
            or np.any(vt2v[vt_mirror] != mirror[vt2v]):
        raise CutError("the seam tree is not mirror symmetric: seam copies do not map onto each other")
    return vt_mirror


def cut_along(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, seam_edges: np.ndarray,
              seams: SeamConfig | None = None, tips: dict | None = None) -> Cut:
    """Cut (V, F) open along ``seam_edges``.

    V : (V, 3) float64; F : (F, 3) int64; mirror : (V,) int64; seam_edges : (E, 2) int64.
    Raises :class:`CutError` unless the result is one disk.
    """
    F = np.asarray(F, dtype=np.int64)
    n = len(V)
    twins = _half_edge_twins(F, n)
    a = F.ravel()
    b = F[:, [1, 2, 0]].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    seam_code = np.sort(seam_edges[:, 0] * n + seam_edges[:, 1]) if len(seam_edges) else np.zeros(0, np.int64)
    code = lo * n + hi
    pos = np.minimum(np.searchsorted(seam_code, code), max(len(seam_code) - 1, 0))
    cut_half = (seam_code[pos] == code) if len(seam_code) else np.zeros(len(code), dtype=bool)
    labels = _corner_wedges(F, n, twins, cut_half)
    first = _first_corner_of_label(labels)                 # (L,) smallest corner of each wedge
    wedge_vertex = a[first]
    # first copy of a vertex: its wedge with the smallest first corner
    order = np.lexsort((first, wedge_vertex))
    is_first = np.ones(len(order), dtype=bool)
    is_first[1:] = wedge_vertex[order][1:] != wedge_vertex[order][:-1]
    vt_of_wedge = np.empty(len(first), dtype=np.int64)
    vt_of_wedge[order[is_first]] = wedge_vertex[order[is_first]]
    extra = order[~is_first]
    vt_of_wedge[extra] = n + np.arange(len(extra))
    ft = vt_of_wedge[labels].reshape(-1, 3)
    vt2v = np.concatenate([np.arange(n), wedge_vertex[extra]]).astype(np.int64)

    loops = boundary_loops(ft)
    n_vt = len(vt2v)
    n_edges = len(_unique_edges(ft))
    chi = n_vt - n_edges + len(ft)
    if len(loops) != 1 or chi != 1:
        raise CutError(f"cutting along the seams gave {len(loops)} boundary loops and Euler characteristic {chi}; "
                       "a disk has 1 and 1 (the seam edges must form a tree)")

    vt_mirror = _cut_vertex_mirror(F, mirror, ft, vt2v, cut_half, twins)
    return Cut(vt2v=vt2v, ft=ft, vt_mirror=vt_mirror, seam_edges=np.asarray(seam_edges, dtype=np.int64),
               seams=seams if seams is not None else SeamConfig("custom"), tips=dict(tips or {}),
               boundary=loops[0], mirror=np.asarray(mirror, dtype=np.int64))


def cut_template(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, parts: np.ndarray | None = None,
                 seams: str | SeamConfig = DEFAULT_SEAMS) -> Cut:
    """Check a template, build its symmetric seam tree and cut it into one disk.

    Parameters
    ----------
    V : (V, 3) float64
        vertices, +Y up, +Z front, +X the body's left.
    F : (F, 3) int64
        closed genus-0 triangle mesh.
    mirror : (V,) int64
        left-right mirror permutation (an involution; the faces need not map onto faces).
    parts : (V,) int64, optional
        SMPL joint id per vertex; without it the seam is the mid-plane spine only.
    seams : str or SeamConfig
        a preset name (see ``SEAM_PRESETS``) or a configuration.

    Returns
    -------
    Cut
        ``Cut.mirror`` is the mirror it is symmetric under: ``mirror``, or ``mirror`` re-paired
        around a spine routed over mid-plane gaps.
    """
    config = seam_config(seams)
    V = np.ascontiguousarray(V, dtype=np.float64)
    F = np.ascontiguousarray(F, dtype=np.int64)
    check_closed_genus0(V, F)
    mirror = np.asarray(mirror, dtype=np.int64)
    if mirror.shape != (len(V),) or mirror.min() < 0 or mirror.max() >= len(V) \
            or np.any(mirror[mirror] != np.arange(len(V))):
        raise CutError("mirror must be a (V,) involution of vertex ids")
    parts = np.zeros(len(V), dtype=np.int64) if parts is None else np.asarray(parts, dtype=np.int64)
    if parts.shape != (len(V),):
        raise CutError(f"parts must have shape ({len(V)},), got {parts.shape}")
    seam_edges, tips, mirror = seam_tree(V, F, mirror, parts, config)
    return cut_along(V, F, mirror, seam_edges, seams=config, tips=tips)


__all__ = ["Cut", "CutError", "SeamConfig", "SEAM_PRESETS", "DEFAULT_SEAMS", "seam_config",
           "check_closed_genus0", "build_seams", "seam_tree", "route_spine", "pair_midplane_faces", "cut_along", "cut_template", "boundary_loops",
           "mirror_consistent_edges", "face_mirror"]
