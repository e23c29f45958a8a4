"""Triangle-mesh checks: array validation, edges, boundary loops, components, genus.

Pure numpy/scipy. Every error names the source (file or array name), the key and the shape.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from .errors import TemplateError


@dataclass(frozen=True)
class MeshReport:
    """Topology summary of a valid triangle mesh."""

    n_vertices: int
    n_faces: int
    n_edges: int
    n_boundary_edges: int
    n_boundary_loops: int
    n_components: int
    euler_characteristic: int
    genus: int
    closed: bool
    consistently_oriented: bool
    #: vertices of the file merged into others at the same position (:func:`weld_coincident`),
    #: and the triangles that collapsed to a segment and were left out.
    n_welded: int = 0
    n_collapsed_faces: int = 0
    #: triangles of the file with the same three corners as an earlier one, left out.
    n_repeated_faces: int = 0
    #: vertices of the file that no triangle used, left out.
    n_unused: int = 0
    #: polygons of the file (quads and larger) split into triangles.
    n_polygons_split: int = 0
    #: triangles whose winding was reversed (:func:`orient_outward`): those wound against their
    #: neighbours, or every one of a closed mesh wound inward.
    n_rewound: int = 0
    #: of a closed mesh of genus > 0: where its handles are (:func:`handle_places`), as
    #: ((x, y, z) in the file's coordinates, loop edges there), the most first.
    handles: tuple = ()
    #: of a closed mesh: the vertices where the surface touches itself (their triangles form
    #: several fans: two parts pressed together at a point), as (x, y, z) in the file's
    #: coordinates, the first few; and how many there are.
    pinched: tuple = ()
    n_pinched: int = 0

    def describe(self) -> str:
        kind = "closed" if self.closed else f"open ({self.n_boundary_loops} boundary loops)"
        welded = ""
        if self.n_welded:
            welded = f"; {self.n_welded} coincident vertices of the file welded"
            if self.n_collapsed_faces:
                welded += f" ({self.n_collapsed_faces} triangles collapsed to a segment and left out)"
        elif self.n_collapsed_faces:
            welded += f"; {_counted(self.n_collapsed_faces, 'triangle')} of the file with a repeated corner left out"
        if self.n_repeated_faces:
            welded += f"; {_counted(self.n_repeated_faces, 'triangle')} repeated in the file left out"
        if self.n_unused:
            welded += f"; {self.n_unused} vertices of the file used by no triangle left out"
        if self.n_polygons_split:
            welded += f"; {self.n_polygons_split} polygons of the file split into triangles"
        if self.n_pinched:
            welded += f"; the surface touches itself at {_counted(self.n_pinched, 'vertex', 'vertices')}"
        if self.n_rewound and self.n_rewound == self.n_faces:
            welded += "; its triangles, wound inward, turned outward"
        elif self.n_rewound:
            welded += f"; {self.n_rewound} triangles wound against their neighbours turned"
        return (
            f"{self.n_vertices} vertices, {self.n_faces} triangles, {kind}, genus {self.genus}, "
            f"{self.n_components} component(s){welded}"
        )


def check_vertices(vertices, source: str = "mesh", key: str = "vertices") -> np.ndarray:
    """Return ``vertices`` as C-contiguous float64, or raise naming the problem.

    Parameters
    ----------
    vertices : (V, 3) float
    """
    array = np.asarray(vertices)
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
        raise TemplateError(f"{source}: '{key}' must have shape (V, 3) with V > 0, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TemplateError(f"{source}: '{key}' must be real numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise TemplateError(
            f"{source}: '{key}' of shape {array.shape} has {int(bad.sum())} vertices with NaN or "
            f"infinite coordinates (first: vertex {first})"
        )
    return array


def check_faces(faces, n_vertices: int, source: str = "mesh", key: str = "faces") -> np.ndarray:
    """Return ``faces`` as C-contiguous int64, or raise naming the problem.

    Parameters
    ----------
    faces : (F, 3) int
        triangles only; every index in ``[0, n_vertices)``; no repeated corner.
    """
    array = np.asarray(faces)
    if array.ndim != 2 or array.shape[0] == 0:
        raise TemplateError(f"{source}: '{key}' must have shape (F, 3) with F > 0, got {array.shape}")
    if array.shape[1] != 3:
        raise TemplateError(
            f"{source}: '{key}' has shape {array.shape}: only triangles are supported "
            "(triangulate the mesh first)"
        )
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise TemplateError(f"{source}: '{key}' must hold integer vertex indices, got non-integer {array.dtype} values")
    elif not np.issubdtype(array.dtype, np.integer):
        raise TemplateError(f"{source}: '{key}' must hold integer vertex indices, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_vertices:
        raise TemplateError(
            f"{source}: '{key}' of shape {array.shape} indexes vertices {low}..{high} but there are "
            f"{n_vertices} vertices"
        )
    degenerate = (array[:, 0] == array[:, 1]) | (array[:, 1] == array[:, 2]) | (array[:, 0] == array[:, 2])
    if degenerate.any():
        first = int(np.flatnonzero(degenerate)[0])
        raise TemplateError(
            f"{source}: '{key}' has {int(degenerate.sum())} triangles with a repeated vertex "
            f"(first: face {first} = {array[first].tolist()})"
        )
    return array


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """Directed half-edges of every face, face-major: ``F[f, k] -> F[f, (k + 1) % 3]``.

    Returns
    -------
    edges : (3F, 2) int64
    """
    return np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)


def _pair_keys(pairs: np.ndarray) -> tuple[np.ndarray, int]:
    """One int64 per vertex pair (fast 1-D ``np.unique`` instead of the slow ``axis=0``)."""
    n = int(pairs.max()) + 1 if len(pairs) else 1
    return pairs[:, 0].astype(np.int64) * n + pairs[:, 1], n


def unique_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges and how many faces use each.

    Returns
    -------
    edges : (E, 2) int64
        sorted vertex pairs, lexicographic order.
    counts : (E,) int64
    """
    keys, n = _pair_keys(np.sort(directed_edges(faces), axis=1))
    unique, counts = np.unique(keys, return_counts=True)
    return np.stack([unique // n, unique % n], axis=1), counts


def adjacency(faces: np.ndarray, n_vertices: int) -> scipy.sparse.csr_matrix:
    """Symmetric vertex adjacency of a triangle mesh (1 on each edge).

    Returns
    -------
    graph : (V, V) scipy.sparse.csr_matrix of int8
    """
    edges, _ = unique_edges(faces)
    data = np.ones(2 * len(edges), dtype=np.int8)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n_vertices, n_vertices))


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of an edge-manifold mesh, each as an ordered vertex array.

    Loops are followed along the faces' orientation and returned in a deterministic order
    (by their smallest vertex id). A boundary vertex touched by two loops (a pinch) makes
    the loops ambiguous: an error is raised then.
    """
    half = directed_edges(faces)
    keys, _ = _pair_keys(np.sort(half, axis=1))
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    border = half[counts[inverse] == 1]
    if len(border) == 0:
        return []
    following: dict[int, int] = {}
    for start, end in border.tolist():
        if start in following:
            raise TemplateError(
                f"mesh boundary is pinched at vertex {start} (two boundary loops touch there)"
            )
        following[start] = end
    loops: list[np.ndarray] = []
    remaining = set(following)
    while remaining:
        first = min(remaining)
        loop = [first]
        remaining.discard(first)
        current = following[first]
        while current != first:
            loop.append(current)
            remaining.discard(current)
            current = following[current]
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def one_rings(faces: np.ndarray, n: int) -> list[list[int] | None]:
    """The counter-clockwise one-ring of every vertex, as seen from outside.

    For a face (a, b, c), b comes right before c around a; each ring starts at the vertex that
    follows its centre in the first face (in file order) that holds it. None for a vertex whose
    fan is not one closed cycle (a boundary or non-manifold vertex, or one in no face).
    faces : (F, 3) int64, consistently oriented; n : number of vertices. Returns a list of n
    lists of vertex ids.
    """
    rings, degree, broken = _fans(faces, n)
    return [None if b else ring[:d].tolist() for b, ring, d in zip(broken.tolist(), rings, degree.tolist())]


def _fans(faces: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-rings of :func:`one_rings` as arrays: rings (n, largest degree) int64 (row v
    holds its first ``degree[v]`` entries), degree (n,) int64, broken (n,) bool (no closed fan)."""
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    # corner 3 f + j: its vertex, the next one around the face and the one after that
    centre = faces.ravel()
    after = faces[:, [1, 2, 0]].ravel()
    before = faces[:, [2, 0, 1]].ravel()
    key = centre * n + after
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    degree = np.bincount(centre, minlength=n)
    broken = degree == 0
    broken[centre[order[1:][sorted_key[1:] == sorted_key[:-1]]]] = True    # an edge twice around it
    # the corner around the same vertex that starts where this one ends
    wanted = centre * n + before
    pos = np.minimum(np.searchsorted(sorted_key, wanted), len(key) - 1)
    found = sorted_key[pos] == wanted
    following = np.where(found, order[pos], 0)
    broken[centre[~found]] = True                         # an open fan
    first = np.zeros(n, dtype=np.int64)
    first[centre[::-1]] = np.arange(len(centre) - 1, -1, -1)
    rings = np.zeros((n, int(degree.max())), dtype=np.int64)
    corner = first
    for step in range(rings.shape[1]):
        walking = step < degree
        rings[walking, step] = after[corner[walking]]
        corner = np.where(walking, following[corner], corner)
        # back at the first corner before every corner was seen: more than one cycle
        broken |= walking & (corner == first) & (step + 1 < degree)
    broken |= corner != first
    return rings, degree, broken


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The faces of a connected, edge-manifold mesh wound consistently, and outward when it is
    closed.

    Exporters and scanners write meshes whose triangles are all wound inward (clockwise seen
    from outside: a mirrored export), or some of them against their neighbours. Two triangles
    that share an edge are consistent when they run along it in opposite directions; the
    triangles are visited breadth-first from the first one, and each one's winding is set
    relative to the triangle it was reached from. A closed mesh whose signed volume is then
    negative is turned outward as a whole. Where no consistent winding exists (a non-orientable
    surface) the faces are returned as they are.

    vertices : (V, 3) float64; faces : (F, 3) int64, one connected component, no edge shared by
    more than two faces. Returns (faces (F, 3) int64, a new array where any face was turned;
    turned (F,) bool: the faces whose winding was reversed).
    """
    n_faces = len(faces)
    turned = np.zeros(n_faces, dtype=bool)
    half = directed_edges(faces)                           # row 3 f + k belongs to face f
    keys, _ = _pair_keys(np.sort(half, axis=1))
    order = np.argsort(keys, kind="stable")
    shared = np.flatnonzero(keys[order[1:]] == keys[order[:-1]])
    first, second = order[shared], order[shared + 1]       # the two half-edges of an inner edge
    clash = half[first, 0] == half[second, 0]              # run the same way: one face must turn
    if clash.any():
        f1, f2 = first // 3, second // 3
        graph = scipy.sparse.coo_matrix((np.ones(len(f1)), (f1, f2)), shape=(n_faces, n_faces)).tocsr()
        visit, parent = scipy.sparse.csgraph.breadth_first_order(graph, 0, directed=False, return_predecessors=True)
        # whether each face's winding differs from the face it was reached from
        pair = np.concatenate([f1 * n_faces + f2, f2 * n_faces + f1])
        differs = np.concatenate([clash, clash])
        pair_order = np.argsort(pair, kind="stable")
        step = np.zeros(n_faces, dtype=bool)
        reached = visit[1:]
        at = pair_order[np.searchsorted(pair[pair_order], parent[reached] * n_faces + reached)]
        step[reached] = differs[at]
        step_list, parent_list, flip = step.tolist(), parent.tolist(), [False] * n_faces
        for f in visit[1:].tolist():
            flip[f] = flip[parent_list[f]] != step_list[f]
        candidate = np.array(flip, dtype=bool)
        wound = np.where(candidate[:, None], faces[:, ::-1], faces)
        # consistent: no directed edge twice (a turned face's rows hold other edges now)
        directed = np.sort(_pair_keys(directed_edges(wound))[0])
        if not np.any(directed[1:] == directed[:-1]):
            faces, turned = wound, candidate
    if 2 * len(shared) == 3 * n_faces:                     # closed: every edge has two faces
        a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
        if float(np.einsum("ij,ij->", a, np.cross(b, c))) < 0.0:
            faces, turned = faces[:, ::-1].copy(), ~turned
    return np.ascontiguousarray(faces), turned


def inspect_mesh(vertices, faces, source: str = "mesh", vertices_key: str = "vertices", faces_key: str = "faces") -> tuple[np.ndarray, np.ndarray, MeshReport]:
    """Validate a triangle mesh and describe its topology.

    Checks: finite positions, integer faces in range, triangles only, no repeated corner,
    every vertex used, edge-manifold (no edge shared by more than two triangles), one connected
    component. A closed or open mesh of any genus passes; the report says which. The faces are
    returned wound consistently, and outward on a closed mesh (:func:`orient_outward`; the
    report counts the triangles turned).

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int

    Returns
    -------
    vertices : (V, 3) float64
    faces : (F, 3) int64
    report : MeshReport

    Raises
    ------
    TemplateError
        naming ``source``, the key and the shape of the offending array.
    """
    vertices = check_vertices(vertices, source, vertices_key)
    faces = check_faces(faces, len(vertices), source, faces_key)
    n_vertices = len(vertices)
    used = np.zeros(n_vertices, dtype=bool)
    used[faces.ravel()] = True
    if not used.all():
        unused = np.flatnonzero(~used)
        raise TemplateError(
            f"{source}: {len(unused)} of {n_vertices} vertices are used by no triangle "
            f"(first: vertex {int(unused[0])}); '{faces_key}' has shape {faces.shape}"
        )
    edges, counts = unique_edges(faces)
    if counts.max() > 2:
        bad = edges[counts > 2]
        raise TemplateError(
            f"{source}: not edge-manifold: {len(bad)} edges are shared by more than two triangles "
            f"(first: vertices {bad[0].tolist()})"
        )
    graph = adjacency(faces, n_vertices)
    n_components, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    if n_components != 1:
        sizes = np.bincount(labels)
        raise TemplateError(
            f"{source}: the mesh has {n_components} connected components (vertex counts "
            f"{sorted(sizes.tolist(), reverse=True)[:5]}); a body template must be one piece "
            "('uvkit largest-piece' keeps the largest)"
        )
    faces, rewound = orient_outward(vertices, faces)
    _, half_counts = np.unique(_pair_keys(directed_edges(faces))[0], return_counts=True)
    oriented = bool(half_counts.max() == 1)
    try:
        loops = boundary_loops(faces)
    except TemplateError as error:
        raise TemplateError(f"{source}: {error}") from None
    n_boundary_edges = int((counts == 1).sum())
    euler = n_vertices - len(edges) + len(faces)
    genus = (2 - euler - len(loops)) // 2
    report = MeshReport(
        n_vertices=n_vertices,
        n_faces=len(faces),
        n_edges=len(edges),
        n_boundary_edges=n_boundary_edges,
        n_boundary_loops=len(loops),
        n_components=1,
        euler_characteristic=int(euler),
        genus=int(genus),
        closed=len(loops) == 0,
        consistently_oriented=oriented,
        n_rewound=int(rewound.sum()),
        handles=(tuple((tuple(float(x) for x in place), count) for place, count in handle_places(vertices, faces))
                 if genus > 0 and not loops else ()),
    )
    if not loops and oriented:
        # on a closed surface a vertex without one closed fan is where two parts touch
        pinched = np.flatnonzero(_fans(faces, n_vertices)[2])
        if len(pinched):
            report = replace(report, n_pinched=len(pinched),
                             pinched=tuple(tuple(float(x) for x in vertices[v]) for v in pinched[:PINCHED_SHOWN]))
    return vertices, faces, report


def weld_coincident(vertices: np.ndarray, faces: np.ndarray, distance: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge the vertices that lie within ``distance`` of each other into one.

    Exported meshes (glTF, PLY, STL, OBJ written vertex by vertex) repeat a vertex wherever its
    texture coordinates or normals differ, so a closed body arrives cut open along its UV
    seams and hard edges. Each group of coincident vertices (joined through chains of pairs
    closer than ``distance``) becomes its lowest-numbered member; the vertices keep the file's
    order otherwise. Triangles that collapse to a segment (or had a repeated corner already)
    are left out, and so is a triangle with the same three corners as an earlier one (in any
    order: an exporter's doubled or two-sided triangle).

    vertices : (V, 3) float64; faces : (F, 3) int64; distance : float >= 0.

    Returns
    -------
    vertices : (V', 3) float64
    faces : (F', 3) int64
        the triangles that did not collapse, renumbered.
    index : (V,) int64
        the new id of every vertex of the input (``vertices[index]`` are the input's
        positions, to within ``distance``).
    kept_faces : (F,) bool
        which input triangles are in ``faces``.
    """
    from scipy.spatial import cKDTree

    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    n = len(vertices)
    pairs = cKDTree(vertices).query_pairs(distance, output_type="ndarray") if n > 1 and distance >= 0 else ()
    keep = np.ones(n, dtype=bool)
    index = np.arange(n, dtype=np.int64)
    if len(pairs):
        graph = scipy.sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
        first = np.full(label.max() + 1, n, dtype=np.int64)
        np.minimum.at(first, label, np.arange(n, dtype=np.int64))
        keep[:] = False
        keep[first] = True
        index = (np.cumsum(keep) - 1)[first[label]]
    renumbered = index[faces]
    kept_faces = ((renumbered[:, 0] != renumbered[:, 1]) & (renumbered[:, 1] != renumbered[:, 2])
                  & (renumbered[:, 2] != renumbered[:, 0]))
    # the same corners as an earlier triangle: sorted rows side by side (a stable sort keeps the
    # earliest first; no key of n ** 3, which would overflow on a large scan)
    corners = np.sort(renumbered, axis=1)
    order = np.flatnonzero(kept_faces)
    order = order[np.lexsort(corners[order].T[::-1])]
    repeated = np.all(corners[order[1:]] == corners[order[:-1]], axis=1)
    kept_faces[order[1:][repeated]] = False
    return vertices[keep], renumbered[kept_faces], index, kept_faces


#: handle_places: loop tips closer than this share of the bounding-box diagonal are one place.
HANDLE_CLUSTER_FRACTION = 0.03


def handle_places(vertices: np.ndarray, faces: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Where the handles of a closed mesh of genus > 0 are (toes or fingers fused into loops,
    a scan's nostrils and ears), to tell a user where to mend it.

    A greedy system of loops (Erickson and Whittlesey): a shortest-path tree from the top
    vertex, then a spanning tree of the faces across the other edges, the longest loops first;
    the ``2 g`` edges in neither close the loops, each made of the two tree paths to its ends,
    and each such edge lies on the far side of its loop, at the handle it goes round or
    through (a short handle gives its two loops' edges at one place, a long one may give one
    at each end). Those edges' midpoints are grouped (closer than
    :data:`HANDLE_CLUSTER_FRACTION` of the bounding-box diagonal). vertices : (V, 3) float64;
    faces : (F, 3) int64, closed and connected. Returns [(place (3,) float64, loop edges
    there)], the most first; ``2 g`` loop edges in all.
    """
    from scipy.spatial import cKDTree

    n = len(vertices)
    pairs = np.sort(directed_edges(faces), axis=1)               # side k of face f at 3 f + k
    keys, inverse = np.unique(pairs[:, 0] * n + pairs[:, 1], return_inverse=True)
    a, b = keys // n, keys % n
    length = np.linalg.norm(vertices[a] - vertices[b], axis=1)
    graph = scipy.sparse.coo_matrix((np.maximum(length, 1e-300), (a, b)), shape=(n, n)).tocsr()
    root = int(np.argmax(vertices[:, 1]))
    distance, parent = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=root, return_predecessors=True)
    child = np.flatnonzero(parent >= 0)
    in_tree = np.zeros(len(keys), dtype=bool)
    in_tree[np.searchsorted(keys, np.minimum(child, parent[child]) * n + np.maximum(child, parent[child]))] = True
    # the two faces at each edge, and the loop each other edge closes
    order = np.argsort(inverse, kind="stable")
    face = np.arange(len(inverse)) // 3
    first, second, edge = face[order[0::2]], face[order[1::2]], inverse[order[0::2]]
    cross = ~in_tree[edge]
    loop = distance[a[edge]] + distance[b[edge]] + length[edge]
    weight = loop.max() + 1.0 - loop[cross]                       # longest loops first
    dual = scipy.sparse.coo_matrix((weight, (first[cross], second[cross])), shape=(len(faces),) * 2)
    spanning = scipy.sparse.csgraph.minimum_spanning_tree(dual).tocoo()
    taken = set(zip(np.minimum(spanning.row, spanning.col).tolist(), np.maximum(spanning.row, spanning.col).tolist()))
    closing = [e for e, f, g in zip(edge[cross].tolist(), first[cross].tolist(), second[cross].tolist())
               if (min(f, g), max(f, g)) not in taken]
    if not closing:
        return []
    tips = 0.5 * (vertices[a[closing]] + vertices[b[closing]])
    reach = HANDLE_CLUSTER_FRACTION * float(np.linalg.norm(np.ptp(vertices, axis=0)))
    near = cKDTree(tips).query_pairs(reach, output_type="ndarray")
    _, label = scipy.sparse.csgraph.connected_components(
        scipy.sparse.coo_matrix((np.ones(len(near)), (near[:, 0], near[:, 1])), shape=(len(tips),) * 2), directed=False)
    places = [(tips[label == k].mean(axis=0), int(np.sum(label == k))) for k in range(label.max() + 1)]
    return sorted(places, key=lambda place: -place[1])


def describe_points(points, more: bool = False) -> str:
    """'(x, y, z), (x, y, z)' of a sequence of points (3 significant digits), then ', ...' when
    ``more`` were left out."""
    return ", ".join(f"({', '.join(f'{x:.3g}' for x in point)})" for point in points) + (", ..." if more else "")


def describe_handles(handles: tuple, most: int | None = None) -> str:
    """'(x, y, z), (x, y, z)' of :attr:`MeshReport.handles` (the first ``most``, then '...')."""
    return describe_points([place for place, _ in handles[:most]], most is not None and len(handles) > most)


#: pinched vertices whose positions a report keeps (and an error names).
PINCHED_SHOWN = 6


def _counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 vertex', '2 vertices': ``count`` with its noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def require_closed_genus0(report: MeshReport, source: str = "mesh") -> None:
    """Raise unless the mesh is closed, genus 0, without vertices where it touches itself, and
    consistently oriented (a sphere)."""
    if not report.closed:
        raise TemplateError(
            f"{source}: the template has {report.n_boundary_loops} hole(s) "
            f"({report.n_boundary_edges} boundary edges); a closed surface is required "
            "('uvkit close-holes' caps them)"
        )
    if report.n_pinched:
        near = describe_points(report.pinched, report.n_pinched > len(report.pinched))
        where = _counted(report.n_pinched, "vertex", "vertices")
        raise TemplateError(
            f"{source}: the surface touches itself at {where} (their triangles form "
            f"several fans): near {near} (the file's coordinates; parts pressed together, such as "
            "fingers or thighs: pull them apart); a surface with one fan of triangles at every vertex is required"
        )
    if report.genus != 0:
        where = ""
        if report.handles:
            where = (f": near {describe_handles(report.handles, 6)} (the file's coordinates; toes or "
                     "fingers fused into loops, a scan's ears or nostrils: cut them apart or fill them in)")
        raise TemplateError(
            f"{source}: the template has genus {report.genus} (handles){where}; a genus-0 surface "
            "(topologically a sphere) is required"
        )
    if not report.consistently_oriented:
        raise TemplateError(f"{source}: the triangles are not consistently oriented")


def vertex_adjacency(faces: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
    """Binary, symmetric vertex adjacency (n, n) of a triangle mesh.

    faces : (F, 3) int64 (triangles of a mesh or of a UV map); n : number of vertices.
    """
    faces = np.asarray(faces, dtype=np.int64)
    i = faces[:, [0, 1, 2, 1, 2, 0]].ravel()
    j = faces[:, [1, 2, 0, 0, 1, 2]].ravel()
    adjacency = scipy.sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    adjacency.data[:] = 1.0
    return adjacency


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-d array, by a sort (what ``np.unique(values)`` returns).

    For large integer arrays (edge or pair codes) this is many times faster than
    ``np.unique`` of numpy 2.4, whose value-only path hashes (measured: 0.013 s against 0.64 s
    for 600,000 int64 codes)."""
    values = np.sort(np.ravel(values))
    if len(values) == 0:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def grow_region(adjacency: scipy.sparse.csr_matrix, region: np.ndarray, rings: int = 1) -> np.ndarray:
    """``region`` (V,) bool grown by ``rings`` rings of neighbours along ``adjacency`` (from
    :func:`vertex_adjacency`). Returns a new (V,) bool array."""
    region = np.asarray(region, dtype=bool).copy()
    for _ in range(rings):
        region |= (adjacency @ region.astype(float)) > 0
    return region


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int, lam: float = 0.5,
                  mu: float = -0.53) -> np.ndarray:
    """Taubin's low-pass smoothing (uniform weights): removes vertex noise without shrinking.

    vertices : (V, 3) float64; faces : (F, 3) int64. Returns (V, 3) float64.
    """
    mean = neighbour_mean(faces, len(vertices))
    out = np.array(vertices, dtype=np.float64)
    for _ in range(iterations):
        for factor in (lam, mu):
            out = out + factor * (mean(out) - out)
    return out


def neighbour_mean(faces: np.ndarray, n: int):
    """The uniform neighbour mean of per-vertex rows: ``neighbour_mean(F, n)(X)`` is, for each of
    the ``n`` vertices, the mean of its neighbours' rows of X (N, ...) (0 for a vertex in no
    face). faces : (F, 3) int64. Returns a function of X."""
    adjacency = vertex_adjacency(faces, n)
    degree = np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1.0)[:, None]
    return lambda values: (adjacency @ values) / degree
