"""Procedural closed triangle meshes, left-right symmetric about the x = 0 plane, for tests.

Every builder returns a :class:`SymmetricMesh`: vertices, faces (counter-clockwise seen from
outside), the exact mirror permutation and, for the body-like shapes, a part label per vertex
(SMPL joint ids, see :mod:`uvkit.parts`). Axes follow the template convention: +Y up, +Z front,
+X the body's left. Quads are split into four triangles around a centre vertex so that the
triangulation itself is mirror symmetric (a quad straddling the mid-plane has no symmetric
diagonal).

A few deliberately broken meshes (a hole, two components, a non-manifold edge, a torus) feed
the error paths of the other modules.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh import taubin_smooth
from .parts import MIRROR_JOINTS


@dataclass(frozen=True)
class SymmetricMesh:
    """A triangle mesh with its left-right mirror permutation.

    Attributes
    ----------
    vertices : (V, 3) float64
    faces : (F, 3) int64
        counter-clockwise seen from outside.
    mirror : (V,) int64
        ``vertices[mirror] == vertices * (-1, 1, 1)`` exactly; an involution.
    parts : (V,) int64
        SMPL joint id of each vertex (0, the pelvis, where a shape has no parts).
    """

    vertices: np.ndarray
    faces: np.ndarray
    mirror: np.ndarray
    parts: np.ndarray


def _quads_to_triangles(vertices: np.ndarray, quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each quad into four triangles around a new centre vertex.

    vertices : (V, 3) float64; quads : (Q, 4) int64 (counter-clockwise seen from outside).
    Returns vertices (V + Q, 3) float64 and faces (4 Q, 3) int64.
    """
    centres = vertices[quads].mean(axis=1)
    centre_ids = len(vertices) + np.arange(len(quads), dtype=np.int64)
    faces = []
    for k in range(4):
        faces.append(np.stack([quads[:, k], quads[:, (k + 1) % 4], centre_ids], axis=1))
    faces = np.stack(faces, axis=1).reshape(-1, 3)
    return np.vstack([vertices, centres]), faces.astype(np.int64)


def _mirror_by_coordinates(vertices: np.ndarray, decimals: int = 9) -> np.ndarray:
    """Mirror permutation of an exactly symmetric vertex set (matching x -> -x).

    vertices : (V, 3) float64. Returns (V,) int64. Raises ValueError if a vertex has no mirror.
    """
    key = np.round(vertices, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    reflected = np.round(vertices * np.array([-1.0, 1.0, 1.0]), decimals) + 0.0
    index = {tuple(row): i for i, row in enumerate(key.tolist())}
    try:
        mirror = np.array([index[tuple(row)] for row in reflected.tolist()], dtype=np.int64)
    except KeyError as missing:
        raise ValueError(f"vertex set is not mirror symmetric: no mirror for {missing}") from None
    return mirror


def _symmetrize_positions(vertices: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Make positions exactly mirror symmetric: x(m(i)) = -x(i), y and z equal.

    vertices : (V, 3) float64; mirror : (V,) int64. Returns (V, 3) float64.
    """
    out = np.empty_like(vertices)
    other = vertices[mirror]
    out[:, 0] = (vertices[:, 0] - other[:, 0]) / 2.0
    out[:, 1:] = (vertices[:, 1:] + other[:, 1:]) / 2.0
    return out


def _grid_surface(n_around: int, n_rings: int, ring_point) -> tuple[np.ndarray, np.ndarray]:
    """Quads of a (ring, meridian) grid closed around the meridians. ring_point(r, k) -> xyz."""
    pts = np.array([[ring_point(r, k) for k in range(n_around)] for r in range(n_rings)], dtype=np.float64)
    idx = np.arange(n_rings * n_around, dtype=np.int64).reshape(n_rings, n_around)
    return pts.reshape(-1, 3), idx


def capsule(radius: float = 0.1, length: float = 0.3, n_around: int = 16, n_rings: int = 12,
            center: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> SymmetricMesh:
    """A closed capsule (cylinder with hemispherical caps) along the y axis.

    Parameters
    ----------
    radius, length : float
        cap radius and the length of the cylindrical part (metres).
    n_around : int
        meridians, even (a meridian lies on the mid-plane at the front and at the back).
    n_rings : int
        latitude rings between the two poles, at least 3.
    center : (3,) float
        centre of the capsule; a non-zero x gives a shape that is not symmetric by itself.

    Returns
    -------
    SymmetricMesh with V = 2 + n_rings * n_around * 2 vertices; parts all 0.
    """
    if n_around < 4 or n_around % 2:
        raise ValueError(f"n_around must be even and >= 4, got {n_around}")
    if n_rings < 3:
        raise ValueError(f"n_rings must be >= 3, got {n_rings}")
    # latitude: split rings between the two hemispheres, cylinder joins the equators.
    half = n_rings // 2
    lat_top = np.linspace(0.0, np.pi / 2, half + 1)[1:]                 # from the pole to the equator
    lat_bottom = np.linspace(np.pi / 2, np.pi, n_rings - half + 1)[:-1]
    rings = []
    for phi in lat_top:
        rings.append((radius * np.sin(phi), length / 2 + radius * np.cos(phi)))
    for phi in lat_bottom:
        rings.append((radius * np.sin(phi), -length / 2 + radius * np.cos(phi)))
    theta = 2.0 * np.pi * np.arange(n_around) / n_around    # theta = 0 at the front (+z)

    def ring_point(r, k):
        rho, y = rings[r]
        return (rho * np.sin(theta[k]), y, rho * np.cos(theta[k]))

    pts, idx = _grid_surface(n_around, len(rings), ring_point)
    top = len(pts)
    bottom = top + 1
    vertices = np.vstack([pts, [[0.0, length / 2 + radius, 0.0], [0.0, -length / 2 - radius, 0.0]]])
    quads = []
    for r in range(len(rings) - 1):
        for k in range(n_around):
            k1 = (k + 1) % n_around
            # theta grows from +z towards +x: seen from outside, (r, k) -> (r, k1) -> (r+1, k1)
            quads.append((idx[r, k], idx[r + 1, k], idx[r + 1, k1], idx[r, k1]))
    vertices, faces = _quads_to_triangles(vertices, np.array(quads, dtype=np.int64))
    caps = []
    for k in range(n_around):
        k1 = (k + 1) % n_around
        caps.append((top, idx[0, k], idx[0, k1]))
        caps.append((bottom, idx[-1, k1], idx[-1, k]))
    faces = np.vstack([faces, np.array(caps, dtype=np.int64)])
    vertices = vertices + np.asarray(center, dtype=np.float64)
    faces = _orient_outward(vertices, faces)
    if center[0] != 0.0:
        mirror = np.full(len(vertices), -1, dtype=np.int64)
    else:
        mirror = _mirror_by_coordinates(vertices)
        vertices = _symmetrize_positions(vertices, mirror)
    return SymmetricMesh(vertices, faces, mirror, np.zeros(len(vertices), dtype=np.int64))


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip all faces if the signed volume is negative (consistently oriented input)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    return faces if volume > 0 else faces[:, ::-1].copy()


# --- the stick figure -------------------------------------------------------------------------

#: boxes of the stick figure in grid units (x0, x1, y0, y1, z0, z1); boxes with x0 >= 0 are
#: mirrored, boxes centred on x = 0 are symmetric already. Y up, +z front, feet point forward.
_FIGURE_BOXES = (
    (1, 3, 0, 9, -1, 1),        # left leg
    (1, 3, 0, 1, -1, 3),        # left foot
    (-4, 4, 9, 17, -2, 2),      # torso
    (-1, 1, 17, 18, -1, 1),     # neck
    (-2, 2, 18, 22, -2, 2),     # head
    (4, 12, 14, 16, -1, 1),     # left arm
)
_FIGURE_HEIGHT = 22


def _figure_part(x: float, y: float) -> int:
    """SMPL joint id of a point of the stick figure's left half or mid-plane (grid units)."""
    ax = abs(x)
    if y >= 18:
        return 15                                    # head
    if y >= 17 and ax <= 1:
        return 12                                    # neck
    if ax > 4:                                       # arm
        if ax < 5:
            return 13
        if ax < 8:
            return 16
        if ax < 10.5:
            return 18
        if ax < 11:
            return 20
        return 22
    if y >= 9:                                       # torso
        if y < 11:
            return 0
        if y < 13:
            return 3
        if y < 15:
            return 6
        return 9
    if y >= 6:                                       # leg
        return 1
    if y >= 2:
        return 4
    if y >= 1:
        return 7
    return 10


def stick_figure(subdivisions: int = 1, smoothing: int = 20, height: float = 1.7) -> SymmetricMesh:
    """A body-like closed genus-0 manifold: torso, neck, head, two arms (T-pose), two legs, feet.

    Built as the boundary of a union of voxels (boxes in a grid), so it is one closed
    manifold by construction; quads are split around centre vertices, the surface is rounded
    by Taubin smoothing (uniform weights, mirror-equivariant), then symmetrized exactly.

    Parameters
    ----------
    subdivisions : int
        grid cells per unit; 1 gives about 1.4k vertices, 2 about 5.5k.
    smoothing : int
        Taubin smoothing passes.
    height : float
        body height in metres.

    Returns
    -------
    SymmetricMesh; parts are SMPL joint ids (left = +x: 1, 4, 7, 10, 13, 16, 18, 20, 22).
    """
    s = int(subdivisions)
    if s < 1:
        raise ValueError(f"subdivisions must be >= 1, got {subdivisions}")
    half_width = 13
    nx, ny, nz = 2 * half_width * s, (_FIGURE_HEIGHT + 2) * s, 8 * s
    # cell (i, j, k) covers x in [i/s - 13, ...), y in [j/s - 1, ...), z in [k/s - 4, ...):
    # one empty layer all around
    cx = (np.arange(nx) + 0.5) / s - half_width
    cy = (np.arange(ny) + 0.5) / s - 1
    cz = (np.arange(nz) + 0.5) / s - 4
    X, Y, Z = np.meshgrid(cx, cy, cz, indexing="ij")
    occupied = np.zeros(X.shape, dtype=bool)
    for x0, x1, y0, y1, z0, z1 in _FIGURE_BOXES:
        for sx0, sx1 in ((x0, x1), (-x1, -x0)):
            occupied |= (X > sx0) & (X < sx1) & (Y > y0) & (Y < y1) & (Z > z0) & (Z < z1)
    quads_xyz = _voxel_boundary_quads(occupied)                    # (Q, 4, 3) integer corners
    corners = quads_xyz.reshape(-1, 3)
    unique, inverse = np.unique(corners, axis=0, return_inverse=True)
    quads = inverse.reshape(-1, 4).astype(np.int64)
    vertices = unique.astype(np.float64) / s - np.array([half_width, 1.0, 4.0])
    vertices, faces = _quads_to_triangles(vertices, quads)
    mirror = _mirror_by_coordinates(vertices)
    parts = np.array([_figure_part(x, y) for x, y in vertices[:, :2]], dtype=np.int64)
    right = vertices[:, 0] < 0
    parts[right] = np.asarray(MIRROR_JOINTS, dtype=np.int64)[parts[right]]
    vertices = taubin_smooth(vertices, faces, smoothing)
    vertices = _symmetrize_positions(vertices, mirror)
    vertices = vertices * (height / _FIGURE_HEIGHT)
    return SymmetricMesh(vertices, faces, mirror, parts)


def _voxel_boundary_quads(occupied: np.ndarray) -> np.ndarray:
    """Boundary quads of a voxel set, outward oriented, as integer corner coordinates.

    occupied : (nx, ny, nz) bool (must be False on the outer layer). Returns (Q, 4, 3) int64.
    """
    out = []
    # unit square corners in the two in-plane axes, ordered so that (a, b, normal) is right handed
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    for axis in range(3):
        a, b = (axis + 1) % 3, (axis + 2) % 3
        diff = np.diff(occupied.astype(np.int8), axis=axis)          # +1: empty -> full, -1: full -> empty
        for sign in (-1, 1):
            cells = np.argwhere(diff == sign)                        # face between cell c and c + e_axis
            if len(cells) == 0:
                continue
            base = cells.copy()
            base[:, axis] += 1
            corners = np.repeat(base[:, None, :], 4, axis=1)
            corners[:, :, a] += square[:, 0]
            corners[:, :, b] += square[:, 1]
            # sign -1: full below, empty above -> outward normal +axis (right-handed order)
            if sign == 1:
                corners = corners[:, ::-1]
            out.append(corners)
    return np.concatenate(out).astype(np.int64)


# --- triangulations that are not mirror symmetric -----------------------------------------------

def flip_edges(vertices: np.ndarray, faces: np.ndarray, select: np.ndarray, fraction: float = 0.3,
               seed: int = 0, rounds: int = 3, min_normal_dot: float = 0.5) -> np.ndarray:
    """Flip a random share of the edges between selected vertices (e.g. the body's left side).

    Keeps every vertex and position (so a rig and the vertex mirror stay valid) and changes only
    the triangulation, which is then no longer mirror symmetric. An edge ``a-b`` with faces
    ``(a, b, c)`` and ``(b, a, d)`` becomes ``c-d`` (faces ``(a, d, c)`` and ``(d, b, c)``) only
    if ``c-d`` is not an edge yet, ``a`` and ``b`` keep at least 4 neighbours, and both new
    triangles face the way the old ones did (unit normals' dot product >= ``min_normal_dot``).
    Each round flips a random set of edges that share no face.

    vertices : (V, 3) float64; faces : (F, 3) int64, closed and consistently oriented;
    select : (V,) bool, both ends of a flipped edge must be selected; fraction : share of the
    eligible edges tried per round. Returns (F, 3) int64 faces, in the same face slots.
    """
    rng = np.random.default_rng(seed)
    faces = np.array(faces, dtype=np.int64)
    n = len(vertices)

    def unit_normal(tri):
        nrm = np.cross(vertices[tri[:, 1]] - vertices[tri[:, 0]], vertices[tri[:, 2]] - vertices[tri[:, 0]])
        return nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-300)

    for _ in range(rounds):
        a = faces.ravel()
        b = faces[:, [1, 2, 0]].ravel()
        c = faces[:, [2, 0, 1]].ravel()
        face_of = np.repeat(np.arange(len(faces)), 3)
        key = a * n + b
        order = np.argsort(key)
        twin = order[np.searchsorted(key[order], b * n + a)]
        half = np.flatnonzero((a < b) & select[a] & select[b])
        half = half[rng.random(len(half)) < fraction]
        half = half[rng.permutation(len(half))]
        d = c[twin[half]]
        f1, f2 = face_of[half], face_of[twin[half]]
        edge_code = set((np.minimum(a, b) * n + np.maximum(a, b)).tolist())
        degree = np.bincount(np.minimum(a, b), minlength=n) + np.bincount(np.maximum(a, b), minlength=n)
        new1 = np.stack([a[half], d, c[half]], axis=1)
        new2 = np.stack([d, b[half], c[half]], axis=1)
        old = unit_normal(faces[f1]) + unit_normal(faces[f2])
        old /= np.maximum(np.linalg.norm(old, axis=1, keepdims=True), 1e-300)
        good = (np.sum(unit_normal(new1) * old, axis=1) >= min_normal_dot) & \
               (np.sum(unit_normal(new2) * old, axis=1) >= min_normal_dot)
        used_faces: set[int] = set()
        for k in np.flatnonzero(good):
            code = min(c[half[k]], d[k]) * n + max(c[half[k]], d[k])
            ia, ib = a[half[k]], b[half[k]]
            if code in edge_code or f1[k] in used_faces or f2[k] in used_faces or degree[ia] < 5 or degree[ib] < 5:
                continue
            faces[f1[k]], faces[f2[k]] = new1[k], new2[k]
            edge_code.add(code)
            edge_code.discard(min(ia, ib) * n + max(ia, ib))
            degree[[ia, ib]] -= 1
            degree[[c[half[k]], d[k]]] += 1
            used_faces.update((int(f1[k]), int(f2[k])))
    return faces


# --- bad meshes for error paths -----------------------------------------------------------------

def capsule_with_hole() -> SymmetricMesh:
    """A capsule whose top cap is removed: one boundary loop, not closed."""
    mesh = capsule()
    top = int(np.argmax(mesh.vertices[:, 1]))
    keep = ~np.any(mesh.faces == top, axis=1)
    return _drop_unused(mesh, keep)


def two_capsules() -> SymmetricMesh:
    """Two disjoint capsules, mirror images of each other: two components."""
    left = capsule(center=(0.3, 0.0, 0.0))
    right_vertices = left.vertices * np.array([-1.0, 1.0, 1.0])
    right_faces = left.faces[:, ::-1] + len(left.vertices)
    n = len(left.vertices)
    vertices = np.vstack([left.vertices, right_vertices])
    faces = np.vstack([left.faces, right_faces])
    mirror = np.concatenate([np.arange(n) + n, np.arange(n)]).astype(np.int64)
    return SymmetricMesh(vertices, faces, mirror, np.zeros(2 * n, dtype=np.int64))


def capsule_with_fin() -> SymmetricMesh:
    """A capsule with one extra triangle on a mid-plane edge: a non-manifold edge (3 faces)."""
    mesh = capsule()
    mid = np.flatnonzero(mesh.mirror == np.arange(len(mesh.vertices)))
    edges = np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]])
    on_mid = np.isin(edges, mid).all(axis=1)
    a, b = edges[np.flatnonzero(on_mid)[0]]
    tip = (mesh.vertices[a] + mesh.vertices[b]) / 2 + np.array([0.0, 0.0, -0.2])
    vertices = np.vstack([mesh.vertices, tip])
    faces = np.vstack([mesh.faces, [[a, b, len(mesh.vertices)]]])
    mirror = np.append(mesh.mirror, len(mesh.vertices))
    return SymmetricMesh(vertices, faces.astype(np.int64), mirror, np.append(mesh.parts, 0))


def torus(major: float = 0.3, minor: float = 0.1, n_around: int = 24, n_tube: int = 12) -> SymmetricMesh:
    """A torus around the y axis (genus 1), symmetric about x = 0."""
    if n_around % 2:
        raise ValueError(f"n_around must be even, got {n_around}")
    phi = 2.0 * np.pi * np.arange(n_around) / n_around
    psi = 2.0 * np.pi * np.arange(n_tube) / n_tube

    def point(r, k):
        rho = major + minor * np.cos(psi[r])
        return (rho * np.sin(phi[k]), minor * np.sin(psi[r]), rho * np.cos(phi[k]))

    pts, idx = _grid_surface(n_around, n_tube, point)
    quads = []
    for r in range(n_tube):
        r1 = (r + 1) % n_tube
        for k in range(n_around):
            k1 = (k + 1) % n_around
            quads.append((idx[r, k], idx[r, k1], idx[r1, k1], idx[r1, k]))
    vertices, faces = _quads_to_triangles(pts, np.array(quads, dtype=np.int64))
    faces = _orient_outward_torus(vertices, faces, major)
    mirror = _mirror_by_coordinates(vertices)
    vertices = _symmetrize_positions(vertices, mirror)
    return SymmetricMesh(vertices, faces, mirror, np.zeros(len(vertices), dtype=np.int64))


def _orient_outward_torus(vertices: np.ndarray, faces: np.ndarray, major: float) -> np.ndarray:
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    centre = (a + b + c) / 3
    ring = centre.copy()
    ring[:, 1] = 0.0
    ring *= major / np.linalg.norm(ring, axis=1, keepdims=True)
    outward = np.einsum("ij,ij->i", normal, centre - ring).sum()
    return faces if outward > 0 else faces[:, ::-1].copy()


def _drop_unused(mesh: SymmetricMesh, keep_faces: np.ndarray) -> SymmetricMesh:
    faces = mesh.faces[keep_faces]
    used = np.unique(faces)
    new_id = np.full(len(mesh.vertices), -1, dtype=np.int64)
    new_id[used] = np.arange(len(used))
    mirror = new_id[mesh.mirror[used]]
    return SymmetricMesh(mesh.vertices[used], new_id[faces], mirror, mesh.parts[used])


def smooth_asymmetry(vertices: np.ndarray, largest: float, wavelength: float, seed: int = 0,
                     waves: int = 8) -> np.ndarray:
    """A smooth displacement that makes a left-right symmetric body smoothly asymmetric, as a
    fitted or scanned template (SMPL's) is: the two sides differ by a slowly varying offset.

    The displacement is a sum of ``waves`` plane waves (random directions and phases, period
    ``wavelength``) in space, not mirrored, scaled so that the largest asymmetry it causes,
    ``|d(p) - M d(M p)|`` over the vertices (``M``: the reflection x -> -x), is ``largest``.

    vertices : (V, 3) float64, symmetric about x = 0. Returns (V, 3) float64, the displacement.
    """
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(waves, 3))
    directions *= (2.0 * np.pi / wavelength) / np.linalg.norm(directions, axis=1, keepdims=True)
    phases = rng.uniform(0.0, 2.0 * np.pi, waves)
    amplitudes = rng.normal(size=(waves, 3))
    flip = np.array([-1.0, 1.0, 1.0])

    def field(points):
        return np.sin(points @ directions.T + phases) @ amplitudes

    displacement = field(vertices)
    asymmetry = np.linalg.norm(displacement - field(vertices * flip) * flip, axis=1).max()
    return displacement * (largest / max(asymmetry, 1e-300))
