"""Measures of a UV map: S1 / S2 (the DecoMR paper's Table 1) and distortion.

S1 and S2
---------
``A`` is the all-pairs distance matrix of the mesh graph (vertices and edges of ``faces``):
hop counts by default (``distance="hops"``, unweighted shortest paths; this reproduces the
paper's numbers), or edge-length weighted shortest paths (``distance="geodesic"``).
``B`` holds the Euclidean distances between the vertices' UV positions, one position per
vertex (see :func:`vertex_uv` for the copies of seam vertices).

Both are taken as full V x V matrices: both triangles and the zero diagonal, ``n = V**2``
entries. Then

- ``S1`` = Pearson correlation of the ``n`` pairs ``(A_ij, B_ij)``
  ``= (n S_AB - S_A S_B) / sqrt((n S_AA - S_A**2) (n S_BB - S_B**2))``;
- ``S2`` = cosine similarity ``S_AB / sqrt(S_AA S_BB)``,

with ``S_X`` the sum of all entries of ``X`` and ``S_XY`` the sum of ``X * Y``. Since both
matrices are symmetric with a zero diagonal, this equals the same formulas over one triangle
plus the diagonal counted once per entry (V zeros): the triangle sums double and ``n`` counts
``V**2``, not ``V (V - 1) / 2``.

:func:`s1_s2` is exact (no sampling) and never holds a V x V matrix: it runs a breadth-first
search (or Dijkstra) from blocks of source vertices and accumulates the six sums (integer sums
for hop counts). With a mirror permutation that is an automorphism of the mesh graph, only one
source per mirror orbit is searched: the row of ``mirror[i]`` is the row of ``i`` read through
the mirror, ``d(m(i), j) = d(i, m(j))``; the UV row of ``m(i)`` is computed directly, so the
UV map need not be symmetric (when it is, to 1e-12 of its extent, the UV row is reused too).
Vertices are renumbered in breadth-first order for memory locality. Blocks of sources are
spread over worker processes (a searching thread holds the GIL, threads would not help).
:func:`s1_s2_reference` is the slow dense computation the tests compare against.

Distortion
----------
:func:`distortion` reads the per-face Jacobian of the 3D -> UV map, after scaling the UV map
so that its total area equals the total 3D area; see its docstring for every key.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra, shortest_path

from uvkit.errors import TemplateError, UVMapError, UvkitError, check_choice
from uvkit.mesh import sorted_unique
from uvkit.tolerances import tol

__all__ = [
    "DISTANCES",
    "COPIES",
    "vertex_uv",
    "mesh_graph",
    "graph_distances",
    "s1_s2",
    "s1_s2_reference",
    "face_singular_values",
    "uv_charts",
    "cut_edges",
    "uv_boundary_edges",
    "boundary_self_overlaps",
    "uv_coverage",
    "distortion",
]

#: valid values of the ``distance`` switch.
DISTANCES = ("hops", "geodesic")
#: valid values of the ``copies`` switch of :func:`vertex_uv`.
COPIES = ("first", "mean")

# sources per block of the exact S1/S2 (one task of a worker)
_BLOCK = 64
# rows of UV distances computed at once inside a block
_UV_ROWS = 8


# --------------------------------------------------------------------------------------------
# input checks


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    return check_choice(value, choices, name)


def _check_faces(faces, n_vertices: int, key: str = "faces") -> np.ndarray:
    array = np.asarray(faces)
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
        raise TemplateError(f"'{key}' must have shape (F, 3) with F > 0, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TemplateError(f"'{key}' must hold integer indices, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.min() < 0 or array.max() >= n_vertices:
        raise TemplateError(
            f"'{key}' indexes {int(array.min())}..{int(array.max())} but there are {n_vertices} entries"
        )
    return array


def _check_points(points, dim: int, key: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] == 0:
        raise UvkitError(f"'{key}' must have shape (N, {dim}) with N > 0, got {array.shape}")
    if n is not None and array.shape[0] != n:
        raise UvkitError(f"'{key}' has {array.shape[0]} rows, expected {n}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise UvkitError(f"'{key}' must be real numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise UvkitError(
            f"'{key}' has {int(bad.sum())} rows with NaN or infinite values (first: row {int(np.flatnonzero(bad)[0])})"
        )
    return array


# --------------------------------------------------------------------------------------------
# per-vertex UV


def vertex_uv(vt, ft, vt2v, n_vertices: int, copies: str = "first") -> np.ndarray:
    """One UV position per mesh vertex.

    A seam vertex has several UV copies (rows of ``vt`` with the same ``vt2v``).

    - ``copies="first"``: the copy met first when walking the faces in order and each face's
      corners in order (``ft.ravel()``).
    - ``copies="mean"``: the mean of the distinct copies (every row of ``vt`` that
      ``vt2v`` maps to the vertex), each copy counted once.

    Parameters
    ----------
    vt : (T, 2) float64
    ft : (F, 3) int64
    vt2v : (T,) int64
        mesh vertex of each UV vertex.
    n_vertices : int
    copies : str
        ``"first"`` or ``"mean"``.

    Returns
    -------
    uv : (V, 2) float64
    """
    _check_choice(copies, COPIES, "copies")
    vt = _check_points(vt, 2, "vt")
    ft = _check_faces(ft, len(vt), "ft")
    vt2v = np.asarray(vt2v)
    if vt2v.shape != (len(vt),) or not np.issubdtype(vt2v.dtype, np.integer):
        raise UVMapError(f"'vt2v' must have shape ({len(vt)},) and an integer dtype, got {vt2v.shape} {vt2v.dtype}")
    vt2v = vt2v.astype(np.int64)
    if vt2v.min() < 0 or vt2v.max() >= n_vertices:
        raise UVMapError(f"'vt2v' holds vertices {int(vt2v.min())}..{int(vt2v.max())}, but there are {n_vertices}")
    if copies == "first":
        corners = ft.ravel()
        vertex = vt2v[corners]
        seen = np.zeros(n_vertices, dtype=bool)
        seen[vertex] = True
        if not seen.all():
            raise UVMapError(f"{int((~seen).sum())} mesh vertices have no UV copy in 'ft' (first: {int(np.flatnonzero(~seen)[0])})")
        # first corner of each vertex: reversed assignment keeps the earliest
        first = np.empty(n_vertices, dtype=np.int64)
        first[vertex[::-1]] = corners[::-1]
        return vt[first].copy()
    counts = np.bincount(vt2v, minlength=n_vertices).astype(np.float64)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)
        raise UVMapError(f"{len(missing)} mesh vertices have no UV copy in 'vt2v' (first: {int(missing[0])})")
    out = np.zeros((n_vertices, 2))
    np.add.at(out, vt2v, vt)
    return out / counts[:, None]


# --------------------------------------------------------------------------------------------
# the mesh graph


def mesh_graph(faces, n_vertices: int, vertices=None) -> scipy.sparse.csr_matrix:
    """The vertex-edge graph of a triangle mesh, both directions stored.

    Parameters
    ----------
    faces : (F, 3) int64
    n_vertices : int
    vertices : (V, 3) float64 or None
        when given, edges weigh their 3D length; otherwise 1.

    Returns
    -------
    graph : (V, V) scipy.sparse.csr_matrix of float64, sorted indices
    """
    faces = _check_faces(faces, n_vertices)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    edges = np.unique(edges, axis=0)
    if vertices is None:
        weight = np.ones(len(edges))
    else:
        vertices = _check_points(vertices, 3, "vertices", n_vertices)
        weight = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        if (weight <= 0).any():
            raise TemplateError(f"{int((weight <= 0).sum())} mesh edges have zero length: geodesic distances are undefined")
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    graph = scipy.sparse.csr_matrix((np.concatenate([weight, weight]), (rows, cols)), shape=(n_vertices, n_vertices))
    graph.sort_indices()
    return graph


def _check_connected(graph: scipy.sparse.csr_matrix) -> None:
    n_components, labels = connected_components(graph, directed=False)
    if n_components != 1:
        sizes = np.bincount(labels)
        raise TemplateError(
            f"the mesh graph has {n_components} connected components (sizes {sorted(sizes.tolist(), reverse=True)[:5]}"
            f"{'...' if n_components > 5 else ''}); distances between them are infinite, S1/S2 are undefined "
            "(unused vertices count as components)"
        )


def graph_distances(faces, sources, *, n_vertices: int | None = None, vertices=None,
                    distance: str = "hops") -> np.ndarray:
    """Shortest-path distances on the mesh graph from a few source vertices.

    Parameters
    ----------
    faces : (F, 3) int64
    sources : (K,) int64
    n_vertices : int or None
        defaults to ``len(vertices)`` or ``faces.max() + 1``.
    vertices : (V, 3) float64 or None
        needed for ``distance="geodesic"``.
    distance : str
        ``"hops"`` or ``"geodesic"``.

    Returns
    -------
    distances : (K, V) float64
        hops need a connected graph (else an error); geodesic gives ``inf`` between
        components.
    """
    _check_choice(distance, DISTANCES, "distance")
    if n_vertices is None:
        n_vertices = len(vertices) if vertices is not None else int(np.max(faces)) + 1
    if distance == "geodesic" and vertices is None:
        raise UvkitError("distance='geodesic' needs the mesh vertices")
    graph = mesh_graph(faces, n_vertices, vertices if distance == "geodesic" else None)
    sources = np.asarray(sources, dtype=np.int64).ravel()
    if sources.size and (sources.min() < 0 or sources.max() >= n_vertices):
        raise UvkitError(f"sources must lie in [0, {n_vertices})")
    if distance == "geodesic":
        return dijkstra(graph, directed=True, indices=sources).reshape(len(sources), n_vertices)
    out = np.full((len(sources), n_vertices), np.inf)
    for first in range(0, len(sources), _BLOCK):
        block = sources[first:first + _BLOCK]
        orders, levels = _bfs_levels(graph, block)
        for row, (order, starts) in enumerate(zip(orders, levels)):
            starts = starts[starts < len(order)]
            hops = np.repeat(np.arange(len(starts) + 1, dtype=np.float64), np.diff(np.r_[0, starts, len(order)]))
            out[first + row, order] = hops
    return out


# --------------------------------------------------------------------------------------------
# S1 / S2


def _check_mirror(mirror, graph: scipy.sparse.csr_matrix, distance: str) -> np.ndarray | None:
    """The mirror as an int64 permutation when it may be used, else None (see s1_s2)."""
    if mirror is None:
        return None
    n = graph.shape[0]
    mirror = np.asarray(mirror)
    if mirror.shape != (n,) or not np.issubdtype(mirror.dtype, np.integer):
        raise UvkitError(f"'mirror' must have shape ({n},) and an integer dtype, got {mirror.shape} {mirror.dtype}")
    mirror = mirror.astype(np.int64)
    if (mirror == -1).all():
        return None  # "unknown" in the UV map format: -1 everywhere
    if mirror.min() < 0 or mirror.max() >= n or not np.array_equal(mirror[mirror], np.arange(n)):
        raise UvkitError("'mirror' is not an involutive permutation of the vertices (mirror[mirror[i]] != i)")
    coo = graph.tocoo()
    mapped = scipy.sparse.csr_matrix((coo.data, (mirror[coo.row], mirror[coo.col])), shape=(n, n))
    mapped.sort_indices()
    if not (np.array_equal(mapped.indptr, graph.indptr) and np.array_equal(mapped.indices, graph.indices)):
        raise UvkitError("'mirror' is not a symmetry of the mesh graph: it maps some edge onto a non-edge")
    if distance == "geodesic":
        # the mirrored row is only exact when every edge keeps its length
        if np.abs(mapped.data - graph.data).max() > tol.exact_symmetry * graph.data.max():
            return None
    return mirror


def _bfs_levels(graph, sources) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order from each source and where each hop level starts in it.

    In breadth-first order the level of a node is one more than its predecessor's and the
    levels are contiguous runs. With ``C[q]`` = 1 + the number of children of the first
    q + 1 nodes in that order, level L + 1 starts at position ``C[start(L) - 1]``.
    The graph must be connected (every row reaches all n vertices).

    Returns
    -------
    orders : (K, n) intp
        vertices in breadth-first order from each source (the source first).
    levels : (K, L) int64
        position where hop level 1, 2, ..., L starts in each row; ``n`` past a row's last level.
    """
    n = graph.shape[0]
    k = len(sources)
    orders = np.empty((k, n), dtype=np.intp)
    cumulative = np.empty((k, n), dtype=np.int64)
    for row, source in enumerate(sources):
        order, predecessor = breadth_first_order(graph, int(source), directed=True, return_predecessors=True)
        if len(order) != n:
            raise TemplateError("the mesh graph is not connected: hop counts between its components are infinite")
        predecessor[source] = source  # the root counts as its own child: C[0] >= 1
        np.cumsum(np.bincount(predecessor, minlength=n)[order], out=cumulative[row])
        orders[row] = order
    flat = cumulative.ravel()
    offsets = np.arange(k, dtype=np.int64) * n
    starts = []
    start = np.ones(k, dtype=np.int64)
    while start.min() < n:
        starts.append(start)
        start = flat[offsets + start - 1]
    levels = np.stack(starts, axis=1) if starts else np.full((k, 0), n, dtype=np.int64)
    return orders, levels


def _hop_block(graph, sources, partners, uv_c, mirror_uv_c) -> tuple[int, int, float, float]:
    """Sums of A, A**2, A*B and B over the rows of ``sources`` (and of their mirror partners).

    Hop counts from one breadth-first search per source (:func:`_bfs_levels`); the UV
    distance row is summed per run of equal hop count.
    """
    n = graph.shape[0]
    k = len(sources)
    orders, levels = _bfs_levels(graph, sources)
    remaining = n - levels  # (k, L): entries at distance >= L, per row
    steps = np.arange(1, levels.shape[1] + 1, dtype=np.int64)
    factor = np.where(partners >= 0, 2, 1)  # a mirror partner's row has the same hop counts
    sum_a = int((remaining.sum(axis=1) * factor).sum())
    sum_aa = int(((remaining * (2 * steps - 1)).sum(axis=1) * factor).sum())
    # runs of equal hop count along each row: 0, then each level start below n
    bounds = np.concatenate([np.zeros((k, 1), dtype=np.int64), levels], axis=1)
    valid = bounds < n
    hop = np.broadcast_to(np.arange(bounds.shape[1], dtype=np.float64), bounds.shape)
    # with a mirror-symmetric UV map (mirror_uv_c None) a partner's UV row sums like its source's
    weight = np.where((partners >= 0) & (mirror_uv_c is None), 2.0, 1.0)
    sum_ab = 0.0
    sum_b = 0.0
    rows_all = np.arange(k)
    for uv, pick_all in ((uv_c, rows_all), (mirror_uv_c, rows_all[partners >= 0])):
        if uv is None:
            continue
        if uv is mirror_uv_c:
            weight = np.ones(k)
        # a few rows at a time: the (rows, V) temporaries stay in cache
        for first in range(0, len(pick_all), _UV_ROWS):
            pick = pick_all[first:first + _UV_ROWS]
            diff = uv[orders[pick]]
            diff -= uv[sources[pick]][:, None]
            dist = np.abs(diff)
            keep = valid[pick]
            local = (bounds[pick] + np.arange(len(pick), dtype=np.int64)[:, None] * n)[keep]
            runs = np.add.reduceat(dist.ravel(), local)
            runs *= np.repeat(weight[pick], keep.sum(axis=1))
            sum_ab += float(runs @ hop[pick][keep])
            sum_b += float(runs.sum())
    return sum_a, sum_aa, sum_ab, sum_b


def _geodesic_block(graph, sources, partners, uv_c, mirror_uv_c) -> tuple[float, float, float, float]:
    """Sums of A, A**2, A*B and B over the rows of ``sources`` and their mirror partners."""
    dist = dijkstra(graph, directed=True, indices=sources).reshape(len(sources), -1)
    # with a mirror-symmetric UV map (mirror_uv_c None) a partner's row sums like its source's
    weight = np.where((partners >= 0) & (mirror_uv_c is None), 2.0, 1.0)
    sum_a = sum_aa = sum_ab = sum_b = 0.0
    for uv, rows in ((uv_c, np.arange(len(sources))), (mirror_uv_c, np.flatnonzero(partners >= 0))):
        if uv is None or len(rows) == 0:
            continue
        d = dist[rows]
        w = weight[rows] if uv is uv_c else np.ones(len(rows))
        b = np.abs(uv[None, :] - uv[sources[rows]][:, None])
        sum_a += float(d.sum(axis=1) @ w)
        sum_aa += float(np.einsum("ij,ij->i", d, d) @ w)
        sum_ab += float(np.einsum("ij,ij->i", d, b) @ w)
        sum_b += float(b.sum(axis=1) @ w)
    return sum_a, sum_aa, sum_ab, sum_b


# what a worker needs: (distance, graph, sources, partners, uv_c, mirror_uv_c); set by _init_worker
_STATE: tuple | None = None


def _init_worker(state: tuple | None) -> None:
    global _STATE
    _STATE = state


def _run_chunk(chunk: tuple[int, int]) -> tuple:
    """S1/S2 sums over the sources ``sources[chunk[0]:chunk[1]]`` of the current state."""
    distance, graph, sources, partners, uv_c, mirror_uv_c = _STATE
    part = slice(*chunk)
    kernel = _hop_block if distance == "hops" else _geodesic_block
    return kernel(graph, sources[part], partners[part], uv_c, mirror_uv_c)


def _pool_context():
    """``fork`` where it is the platform's safe default (Linux): workers start in milliseconds
    and inherit the graph; elsewhere ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _uv_mirror_symmetric(uv: np.ndarray, mirror: np.ndarray) -> bool:
    """Whether the mirror maps the UV layout onto itself by a reflection across a vertical or
    horizontal line (``u + u[mirror]`` constant and ``v == v[mirror]``, or the same with u and
    v exchanged), to 1e-12 of the layout's extent; UV distances are then mirror-invariant."""
    extent = float(np.ptp(uv, axis=0).max())
    limit = tol.exact_symmetry * max(extent, np.finfo(float).tiny)
    for across, along in ((0, 1), (1, 0)):
        total = uv[:, across] + uv[mirror, across]
        if np.ptp(total) <= limit and np.abs(uv[:, along] - uv[mirror, along]).max() <= limit:
            return True
    return False


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


def _scores(n_entries: int, sum_a, sum_aa, sum_ab: float, sum_b: float, sum_bb: float) -> tuple[float, float]:
    n = n_entries
    var_a = n * sum_aa - sum_a * sum_a  # exact for integer sums
    var_b = n * sum_bb - sum_b * sum_b
    if var_a <= 0:
        raise UvkitError("the mesh distances are all equal: S1 is undefined")
    if var_b <= 0 or sum_bb <= 0:
        raise UvkitError("the UV distances are all equal (every vertex at one UV point): S1/S2 are undefined")
    s1 = (n * sum_ab - float(sum_a) * sum_b) / np.sqrt(float(var_a) * var_b)
    s2 = sum_ab / np.sqrt(float(sum_aa) * sum_bb)
    return float(s1), float(s2)


def s1_s2(faces, uv, *, vertices=None, distance: str = "hops", mirror=None, workers: int | None = None,
          block: int = _BLOCK, progress: Callable[[int, int], None] | None = None) -> tuple[float, float]:
    """Exact S1 (Pearson) and S2 (cosine) of the mesh distance matrix and the UV distance matrix.

    See the module docstring for the definition: full V x V matrices, diagonal included.

    Parameters
    ----------
    faces : (F, 3) int64
        the mesh; its graph must be connected and use every vertex.
    uv : (V, 2) float64
        one UV position per vertex (:func:`vertex_uv`).
    vertices : (V, 3) float64 or None
        needed for ``distance="geodesic"``.
    distance : str
        ``"hops"`` (default; unweighted shortest paths, the paper's numbers) or ``"geodesic"``
        (shortest paths weighted by 3D edge length).
    mirror : (V,) int64 or None
        left-right mirror permutation of the mesh; halves the searches. It must be an
        involution and map edges onto edges (else an error). ``-1`` everywhere means unknown.
        For ``"geodesic"`` it is used only when every edge keeps its length within 1e-12
        relative (otherwise ignored, the result stays exact).
    workers : int or None
        worker processes (``fork`` on Linux, ``spawn`` elsewhere); default all usable CPUs.
        1 runs in the calling process. The result does not depend on it.
    block : int
        sources per task.
    progress : callable(done, total) or None
        called after each block of sources.

    Returns
    -------
    s1, s2 : float
    """
    _check_choice(distance, DISTANCES, "distance")
    uv = _check_points(uv, 2, "uv")
    n = len(uv)
    if n < 2:
        raise UvkitError("S1/S2 need at least two vertices")
    if distance == "geodesic" and vertices is None:
        raise UvkitError("distance='geodesic' needs the mesh vertices")
    if vertices is not None:
        vertices = _check_points(vertices, 3, "vertices", n)
    graph = mesh_graph(faces, n, vertices if distance == "geodesic" else None)
    _check_connected(graph)
    mirror = _check_mirror(mirror, graph, distance)
    block = int(block)
    if block < 1:
        raise UvkitError(f"block must be >= 1, got {block}")

    # renumber the vertices in breadth-first order: the searches then touch memory in order
    # (about 25% faster on an arbitrarily numbered mesh); the sums do not depend on numbering
    order = breadth_first_order(graph, 0, directed=True, return_predecessors=False)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    graph = graph[order][:, order].tocsr()
    graph.sort_indices()
    uv = uv[order]
    if mirror is not None:
        mirror = rank[mirror[order]]
    uv_c = uv[:, 0] + 1j * uv[:, 1]  # complex UV: abs() of a difference is the distance
    ids = np.arange(n, dtype=np.int64)
    if mirror is None:
        sources = ids
        partners = np.full(n, -1, dtype=np.int64)
        mirror_uv_c = None
    else:
        sources = ids[ids <= mirror]
        partners = np.where(mirror[sources] != sources, mirror[sources], -1)
        # None: the UV map is mirror-symmetric, a partner's UV row is its source's, permuted
        mirror_uv_c = None if _uv_mirror_symmetric(uv, mirror) else uv_c[mirror]
    chunks = [(start, min(start + block, len(sources))) for start in range(0, len(sources), block)]
    state = (distance, graph, sources, partners, uv_c, mirror_uv_c)
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        raise UvkitError(f"workers must be >= 1, got {workers}")
    workers = min(workers, len(chunks))
    results = []
    if workers == 1:
        _init_worker(state)
        try:
            for done, chunk in enumerate(chunks, 1):
                results.append(_run_chunk(chunk))
                if progress is not None:
                    progress(done, len(chunks))
        finally:
            _init_worker(None)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_init_worker,
                                 initargs=(state,)) as pool:
            for done, result in enumerate(pool.map(_run_chunk, chunks), 1):
                results.append(result)
                if progress is not None:
                    progress(done, len(chunks))
    # fixed summation order: the result does not depend on the number of workers
    sum_a = sum(r[0] for r in results)
    sum_aa = sum(r[1] for r in results)
    sum_ab = float(np.sum([r[2] for r in results]))
    sum_b = float(np.sum([r[3] for r in results]))
    centred = uv - uv.mean(axis=0)
    sum_bb = 2.0 * n * float(np.einsum("ij,ij->", centred, centred))  # sum_ij |uv_i - uv_j|^2
    return _scores(n * n, sum_a, sum_aa, sum_ab, sum_b, sum_bb)


def s1_s2_reference(faces, uv, *, vertices=None, distance: str = "hops") -> tuple[float, float]:
    """S1 / S2 from the two dense V x V matrices (slow; for tests on small meshes).

    Parameters and returns as :func:`s1_s2`.
    """
    _check_choice(distance, DISTANCES, "distance")
    uv = _check_points(uv, 2, "uv")
    n = len(uv)
    if distance == "geodesic" and vertices is None:
        raise UvkitError("distance='geodesic' needs the mesh vertices")
    graph = mesh_graph(faces, n, vertices if distance == "geodesic" else None)
    _check_connected(graph)
    a = shortest_path(graph, directed=False, unweighted=(distance == "hops")).ravel()
    b = np.sqrt(((uv[:, None, :] - uv[None, :, :]) ** 2).sum(axis=2)).ravel()
    s1 = np.corrcoef(a, b)[0, 1]
    s2 = (a @ b) / np.sqrt((a @ a) * (b @ b))
    return float(s1), float(s2)


# --------------------------------------------------------------------------------------------
# distortion


def _check_uv_mesh(vertices, faces, vt, ft) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    vertices = _check_points(vertices, 3, "vertices")
    faces = _check_faces(faces, len(vertices), "faces")
    vt = _check_points(vt, 2, "vt")
    ft = _check_faces(ft, len(vt), "ft")
    if ft.shape != faces.shape:
        raise UVMapError(f"'ft' has {len(ft)} faces but the mesh has {len(faces)}: one UV face per mesh face is needed")
    return vertices, faces, vt, ft


def _double_area_2d(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed twice-area of 2D triangles; points (N, 2) float64, triangles (F, 3) int64 -> (F,)."""
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def face_singular_values(vertices, faces, vt, ft, *, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Singular values of each face's Jacobian of the 3D -> UV map.

    The Jacobian maps the face's own 2D frame (first edge along x) onto its UV triangle.

    Parameters
    ----------
    vertices : (V, 3) float64
    faces : (F, 3) int64
    vt : (T, 2) float64
    ft : (F, 3) int64
        UV face of each mesh face (same order).
    normalize : bool
        scale the UV map so that its total (unsigned) area equals the total 3D area first.

    Returns
    -------
    sigma : (F, 2) float64
        ``sigma[:, 0] >= sigma[:, 1] >= 0``; NaN on faces of zero 3D area.
    sign : (F,) float64
        sign of the Jacobian's determinant (+1 or -1; 0 on a zero-area UV face): the UV
        orientation of the face relative to its 3D orientation.
    """
    vertices, faces, vt, ft = _check_uv_mesh(vertices, faces, vt, ft)
    return _singular_values(vertices, faces, vt, ft, normalize)


def _singular_values(vertices, faces, vt, ft, normalize):
    p0, p1, p2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    e1, e2 = p1 - p0, p2 - p0
    a = np.linalg.norm(e1, axis=1)                      # local frame: p1 = (a, 0), p2 = (b, c)
    cross = np.linalg.norm(np.cross(e1, e2), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.einsum("ij,ij->i", e1, e2) / a
        c = cross / a
    q0, q1, q2 = vt[ft[:, 0]], vt[ft[:, 1]], vt[ft[:, 2]]
    scale = 1.0
    if normalize:
        uv_area = np.abs(_double_area_2d(vt, ft)).sum()
        if uv_area <= 0:
            raise UVMapError("every UV triangle has zero area: the UV map is degenerate")
        scale = np.sqrt(cross.sum() / uv_area)
    u1, u2 = (q1 - q0) * scale, (q2 - q0) * scale
    # J = [u1 u2] @ inv([[a, b], [0, c]]), inv = [[1/a, -b/(a c)], [0, 1/c]]
    with np.errstate(invalid="ignore", divide="ignore"):
        j00 = u1[:, 0] / a
        j10 = u1[:, 1] / a
        j01 = (u2[:, 0] - b * j00) / c
        j11 = (u2[:, 1] - b * j10) / c
    # closed-form 2 x 2 SVD
    e = (j00 + j11) / 2
    f = (j00 - j11) / 2
    g = (j10 + j01) / 2
    h = (j10 - j01) / 2
    q = np.hypot(e, h)
    r = np.hypot(f, g)
    sigma = np.stack([q + r, np.abs(q - r)], axis=1)
    det = j00 * j11 - j01 * j10
    sigma[~(cross > 0)] = np.nan
    return sigma, np.sign(np.nan_to_num(det))


def uv_charts(ft, n_uv: int | None = None) -> tuple[int, np.ndarray]:
    """Connected components of the UV mesh (faces sharing a UV vertex are connected).

    Parameters
    ----------
    ft : (F, 3) int64
    n_uv : int or None
        number of UV vertices; defaults to ``ft.max() + 1``.

    Returns
    -------
    n_charts : int
    face_chart : (F,) int64
        chart of each face, numbered 0..n_charts-1 in order of first face.
    """
    ft = np.asarray(ft, dtype=np.int64)
    n_uv = int(ft.max()) + 1 if n_uv is None else int(n_uv)
    ft = _check_faces(ft, n_uv, "ft")
    rows = np.concatenate([ft[:, 0], ft[:, 1]])
    cols = np.concatenate([ft[:, 1], ft[:, 2]])
    graph = scipy.sparse.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n_uv, n_uv))
    _, labels = connected_components(graph, directed=False)
    face_label = labels[ft[:, 0]]
    _, first, renumbered = np.unique(face_label, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return len(first), rank[renumbered.ravel()]


def cut_edges(faces, ft) -> np.ndarray:
    """Mesh edges cut by the UV map: two incident faces that do not share both UV vertices.

    Parameters
    ----------
    faces : (F, 3) int64
    ft : (F, 3) int64

    Returns
    -------
    edges : (C, 2) int64
        mesh vertex pairs (sorted), each cut edge once; mesh border edges are not cuts.
    """
    faces = np.asarray(faces, dtype=np.int64)
    ft = np.asarray(ft, dtype=np.int64)
    if faces.shape != ft.shape or faces.ndim != 2 or faces.shape[1] != 3:
        raise UVMapError(f"'faces' {faces.shape} and 'ft' {ft.shape} must both have shape (F, 3)")
    mesh_half = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2), axis=1)
    # the UV corners in the order of the sorted mesh corners
    uv_half = np.stack([ft, np.roll(ft, -1, axis=1)], axis=2).reshape(-1, 2)
    swapped = np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)
    swap = swapped[:, 0] > swapped[:, 1]
    uv_half[swap] = uv_half[swap][:, ::-1]
    n_uv = int(ft.max()) + 1
    uv_key = uv_half[:, 0] * n_uv + uv_half[:, 1]
    n_v = int(faces.max()) + 1
    mesh_key = mesh_half[:, 0] * n_v + mesh_half[:, 1]
    order = np.lexsort((uv_key, mesh_key))
    mesh_key, uv_key = mesh_key[order], uv_key[order]
    starts = np.flatnonzero(np.r_[True, mesh_key[1:] != mesh_key[:-1]])
    counts = np.diff(np.r_[starts, len(mesh_key)])
    differs = np.minimum.reduceat(uv_key, starts) != np.maximum.reduceat(uv_key, starts)
    cut = differs & (counts >= 2)
    keys = mesh_key[starts[cut]]
    return np.stack([keys // n_v, keys % n_v], axis=1)


def uv_boundary_edges(ft) -> np.ndarray:
    """UV edges used by exactly one UV face (the chart borders).

    Parameters
    ----------
    ft : (F, 3) int64

    Returns
    -------
    edges : (B, 2) int64
        UV vertex pairs in the face's corner order.
    """
    ft = np.asarray(ft, dtype=np.int64)
    half = np.stack([ft, np.roll(ft, -1, axis=1)], axis=2).reshape(-1, 2)
    key = np.sort(half, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return half[counts[inverse.ravel()] == 1]


def _pairs_within_groups(keys: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of ``items`` that share a key: (first, second) arrays of item values."""
    order = np.argsort(keys, kind="stable")
    keys, items = keys[order], items[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    position = np.arange(len(keys))
    group_end = np.repeat(starts + sizes, sizes)
    partners = group_end - position - 1                 # later members of the same group
    total = int(partners.sum())
    if total == 0:
        return np.zeros(0, dtype=items.dtype), np.zeros(0, dtype=items.dtype)
    first = np.repeat(position, partners)
    offsets = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    second = first + 1 + offsets
    return items[first], items[second]


def boundary_self_overlaps(vt, ft) -> int:
    """Pairs of UV border segments that intersect (touching counts) without sharing a UV vertex.

    Candidate pairs come from a uniform grid (cell ~ twice the mean segment length); each
    pair is then tested exactly with orientation signs (float64).

    Parameters
    ----------
    vt : (T, 2) float64
    ft : (F, 3) int64

    Returns
    -------
    count : int
    """
    vt = _check_points(vt, 2, "vt")
    ft = _check_faces(ft, len(vt), "ft")
    edges = uv_boundary_edges(ft)
    if len(edges) < 2:
        return 0
    p, q = vt[edges[:, 0]], vt[edges[:, 1]]
    low, high = np.minimum(p, q), np.maximum(p, q)
    extent = float((high.max(axis=0) - low.min(axis=0)).max())
    length = np.linalg.norm(q - p, axis=1)
    cell = max(2.0 * float(length.mean()), extent / 4096.0, np.finfo(float).tiny)
    origin = low.min(axis=0)
    cell_low = np.floor((low - origin) / cell).astype(np.int64)
    cell_high = np.floor((high - origin) / cell).astype(np.int64)
    span = cell_high - cell_low + 1
    per_segment = span[:, 0] * span[:, 1]
    segment = np.repeat(np.arange(len(edges)), per_segment)
    local = np.arange(len(segment)) - np.repeat(np.cumsum(per_segment) - per_segment, per_segment)
    cx = cell_low[segment, 0] + local % span[segment, 0]
    cy = cell_low[segment, 1] + local // span[segment, 0]
    width = int(cell_high[:, 0].max()) + 2
    first, second = _pairs_within_groups(cy * width + cx, segment)
    a, b = np.minimum(first, second), np.maximum(first, second)
    pair = sorted_unique(a * len(edges) + b)
    a, b = pair // len(edges), pair % len(edges)
    ea, eb = edges[a], edges[b]
    shares = (ea[:, :1] == eb).any(axis=1) | (ea[:, 1:] == eb).any(axis=1)
    a, b = a[~shares], b[~shares]
    boxes = (low[a] <= high[b]).all(axis=1) & (low[b] <= high[a]).all(axis=1)
    a, b = a[boxes], b[boxes]

    def orient(o, x, y):
        return (x[:, 0] - o[:, 0]) * (y[:, 1] - o[:, 1]) - (x[:, 1] - o[:, 1]) * (y[:, 0] - o[:, 0])

    d1 = orient(p[b], q[b], p[a])
    d2 = orient(p[b], q[b], q[a])
    d3 = orient(p[a], q[a], p[b])
    d4 = orient(p[a], q[a], q[b])
    # with the boxes overlapping, this also decides the collinear case
    return int(((d1 * d2 <= 0) & (d3 * d4 <= 0)).sum())


def uv_coverage(vt, ft, resolution: int = 1024) -> float:
    """Fraction of the unit square covered by UV triangles, by rasterization.

    The unit square is split into ``resolution**2`` pixels; a pixel counts when its centre
    ``((i + 0.5) / R, (j + 0.5) / R)`` lies in (or on the border of) at least one UV triangle
    of non-zero area. Overlapping triangles count once (a union); parts outside the square
    are ignored.

    Parameters
    ----------
    vt : (T, 2) float64
    ft : (F, 3) int64
    resolution : int

    Returns
    -------
    coverage : float
        in [0, 1].
    """
    vt = _check_points(vt, 2, "vt")
    ft = _check_faces(ft, len(vt), "ft")
    resolution = int(resolution)
    if resolution < 1:
        raise UvkitError(f"resolution must be >= 1, got {resolution}")
    covered = np.zeros(resolution * resolution, dtype=bool)
    pts = vt * resolution - 0.5                         # pixel centres at integer coordinates
    corners = pts[ft]                                   # (F, 3, 2)
    area = _double_area_2d(pts, ft)
    keep = np.abs(area) > tol.degenerate_area * resolution * resolution
    corners, area = corners[keep], area[keep]
    low = np.clip(np.ceil(corners.min(axis=1)), 0, resolution).astype(np.int64)
    high = np.clip(np.floor(corners.max(axis=1)), -1, resolution - 1).astype(np.int64)
    span = np.maximum(high - low + 1, 0)
    count = span[:, 0] * span[:, 1]
    budget = 1 << 22
    start = 0
    cumulative = np.cumsum(count)
    while start < len(count):
        stop = max(int(np.searchsorted(cumulative, (cumulative[start - 1] if start else 0) + budget)), start + 1)
        tri = np.repeat(np.arange(start, stop), count[start:stop])
        local = np.arange(len(tri)) - np.repeat(np.cumsum(count[start:stop]) - count[start:stop], count[start:stop])
        x = low[tri, 0] + local % np.maximum(span[tri, 0], 1)
        y = low[tri, 1] + local // np.maximum(span[tri, 0], 1)
        c = corners[tri]
        sign = np.sign(area[tri])
        inside = np.ones(len(tri), dtype=bool)
        for i in range(3):
            o, d = c[:, i], c[:, (i + 1) % 3]
            edge = (d[:, 0] - o[:, 0]) * (y - o[:, 1]) - (d[:, 1] - o[:, 1]) * (x - o[:, 0])
            inside &= edge * sign >= 0
        covered[y[inside] * resolution + x[inside]] = True
        start = stop
    return float(covered.mean())


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Inverted weighted CDF: the smallest value whose cumulative weight reaches q."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    return float(values[order][min(index, len(values) - 1)])


def distortion(vertices, faces, vt, ft, *, coverage_resolution: int = 1024) -> dict[str, float | int]:
    """Distortion and layout measures of a UV map.

    Singular values ``s1 >= s2`` of each face's Jacobian (:func:`face_singular_values`) after
    scaling the UV map so that its total area equals the total 3D area. Averages are weighted
    by 3D face area and skip faces of zero 3D or zero UV area (counted apart).

    Parameters
    ----------
    vertices : (V, 3) float64
    faces : (F, 3) int64
    vt : (T, 2) float64
    ft : (F, 3) int64
    coverage_resolution : int
        raster size of :func:`uv_coverage`.

    Returns
    -------
    report : dict
        - ``area_distortion``: mean ``|log(s1 s2)|`` (0 for an area-preserving map);
        - ``area_ratio_p5``, ``area_ratio_p95``: 5th / 95th area-weighted percentile of
          ``s1 s2`` (inverted weighted CDF, no interpolation);
        - ``angle_distortion``: mean ``s1 / s2`` (1 for a conformal map);
          ``angle_distortion_max``: its maximum;
        - ``symmetric_dirichlet``: mean ``s1**2 + s2**2 + s1**-2 + s2**-2`` (4 for an isometry);
        - ``flipped_faces``: faces whose UV orientation opposes the dominant (by area)
          orientation of their chart; ``mirrored_charts``: charts whose dominant orientation
          opposes the map's;
        - ``degenerate_uv_faces``, ``degenerate_3d_faces``: faces of zero UV / 3D area;
        - ``charts``: connected components of the UV mesh;
        - ``seam_length``: total 3D length of the cut edges (:func:`cut_edges`), in the
          units of ``vertices``;
        - ``boundary_self_overlaps``: :func:`boundary_self_overlaps`;
        - ``coverage``: :func:`uv_coverage`;
        - ``uv_scale``: the factor applied to the UV map for the singular values.
    """
    vertices, faces, vt, ft = _check_uv_mesh(vertices, faces, vt, ft)
    sigma, sign = _singular_values(vertices, faces, vt, ft, True)
    area3d = 0.5 * np.linalg.norm(np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                                           vertices[faces[:, 2]] - vertices[faces[:, 0]]), axis=1)
    uv_signed = 0.5 * _double_area_2d(vt, ft)
    degenerate_3d = ~(area3d > 0)
    degenerate_uv = (np.abs(uv_signed) <= tol.degenerate_area * max(float(np.abs(uv_signed).max()), np.finfo(float).tiny)) & ~degenerate_3d
    good = ~degenerate_3d & ~degenerate_uv & np.isfinite(sigma).all(axis=1) & (sigma[:, 1] > 0)
    if not good.any():
        raise UVMapError("no face has non-zero area both in 3D and in UV: distortion is undefined")
    s1, s2, w = sigma[good, 0], sigma[good, 1], area3d[good]
    ratio = s1 * s2
    n_charts, chart = uv_charts(ft, len(vt))
    chart_area = np.bincount(chart, weights=uv_signed, minlength=n_charts)
    chart_sign = np.where(chart_area >= 0, 1.0, -1.0)
    face_uv_sign = np.sign(uv_signed)
    flipped = (face_uv_sign != 0) & (face_uv_sign != chart_sign[chart])
    overall = 1.0 if uv_signed.sum() >= 0 else -1.0
    cut = cut_edges(faces, ft)
    seam = float(np.linalg.norm(vertices[cut[:, 0]] - vertices[cut[:, 1]], axis=1).sum()) if len(cut) else 0.0
    uv_area = np.abs(uv_signed).sum()
    return {
        "area_distortion": float(np.average(np.abs(np.log(ratio)), weights=w)),
        "area_ratio_p5": _weighted_quantile(ratio, w, 0.05),
        "area_ratio_p95": _weighted_quantile(ratio, w, 0.95),
        "angle_distortion": float(np.average(s1 / s2, weights=w)),
        "angle_distortion_max": float((s1 / s2).max()),
        "symmetric_dirichlet": float(np.average(s1**2 + s2**2 + s1**-2 + s2**-2, weights=w)),
        "flipped_faces": int(flipped.sum()),
        "mirrored_charts": int((chart_sign != overall).sum()),
        "degenerate_uv_faces": int(degenerate_uv.sum()),
        "degenerate_3d_faces": int(degenerate_3d.sum()),
        "charts": int(n_charts),
        "seam_length": seam,
        "boundary_self_overlaps": boundary_self_overlaps(vt, ft),
        "coverage": uv_coverage(vt, ft, coverage_resolution),
        "uv_scale": float(np.sqrt(area3d.sum() / uv_area)),
    }
