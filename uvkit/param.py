"""Parameterize a disk-topology mesh into the plane: Tutte start, SCAF or SLIM, area equalising.

This is the only module of uvkit that calls libigl (``import igl``): the bindings' API drifted
between releases (libigl 2.6.3 is pinned), so every call sits here behind plain numpy
functions.

Solvers
-------
``"scaf"`` (default, as in DecoMR): Simplicial Complex Augmentation Framework, libigl's
``igl.triangle.scaf_*``. It meshes a scaffold around the chart with Shewchuk's *Triangle*,
whose licence restricts commercial use: users who need a permissive stack choose ``"slim"``.
SCAF keeps the chart free of boundary self-overlaps.
``"slim"``: Scalable Locally Injective Maps (``igl.slim_*``): no flips, but the boundary may
overlap itself (check :func:`boundary_self_overlaps`).

Both minimise the symmetric Dirichlet energy from a flip-free Tutte embedding. No libigl
energy preserves area, so :func:`equalize_area` (the project's own) then moves vertices so
that each triangle's share of the UV area approaches its share of the surface area.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import UvkitError, check_choice

#: valid solver names.
SOLVERS = ("scaf", "slim")


def validate_solver(solver: str) -> str:
    """Return ``solver`` or raise :class:`UvkitError` listing the valid names."""
    return check_choice(solver, SOLVERS, "solver", listed="solvers")


def libigl_version() -> str:
    """Installed libigl version string (the bindings have no ``igl.__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("libigl")
    except PackageNotFoundError:
        return "unknown"


def decimate(V: np.ndarray, F: np.ndarray, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge-collapse decimation (libigl's ``qslim``) down to ``n_faces`` triangles.

    Used to make test templates with a coarser, irregular triangulation. V : (V, 3) float64;
    F : (F, 3) int64. Returns (U, G): (U, 3) float64 and (n_faces, 3) int64; a closed manifold
    input stays closed and manifold.
    """
    import igl

    V = np.ascontiguousarray(V, dtype=np.float64)
    F = np.ascontiguousarray(F, dtype=np.int64)
    U, G, _, _ = igl.qslim(V, F, int(n_faces))
    return np.ascontiguousarray(U, dtype=np.float64), np.ascontiguousarray(G, dtype=np.int64)


# --- geometry helpers ---------------------------------------------------------------------------

def triangle_areas(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Unsigned area of each triangle. V : (V, 2|3) float64; F : (F, 3) int64 -> (F,) float64."""
    if V.shape[1] == 2:
        return np.abs(signed_areas(V, F))
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def signed_areas(UV: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Signed area of each UV triangle (positive: counter-clockwise in the (u, v) plane).

    UV : (V, 2) float64; F : (F, 3) int64 -> (F,) float64.
    """
    # gathered one coordinate at a time (4x faster than whole rows, the same numbers)
    u, v = UV[:, 0], UV[:, 1]
    corners = F.T
    au, bu, cu = u[corners[0]], u[corners[1]], u[corners[2]]
    av, bv, cv = v[corners[0]], v[corners[1]], v[corners[2]]
    return 0.5 * ((bu - au) * (cv - av) - (bv - av) * (cu - au))


def flipped_triangles(UV: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Indices of UV triangles whose orientation disagrees with the majority, or degenerate.

    UV : (V, 2) float64; F : (F, 3) int64 -> (K,) int64.
    """
    import igl

    UV = np.ascontiguousarray(UV, dtype=np.float64)
    F = np.ascontiguousarray(F, dtype=np.int64)
    flipped = np.asarray(igl.flipped_triangles(UV, F), dtype=np.int64).ravel()
    area = signed_areas(UV, F)
    sign = 1.0 if area.sum() >= 0 else -1.0
    # igl reports the minority orientation; degenerate triangles count as flipped too
    degenerate = np.flatnonzero(sign * area <= 0)
    return np.union1d(flipped, degenerate).astype(np.int64)


def boundary_self_overlaps(UV: np.ndarray, loop: np.ndarray) -> int:
    """Number of pairs of non-adjacent boundary edges that intersect (touching counts).

    UV : (V, 2) float64; loop : (B,) int64 boundary loop. A flip-free disk map whose boundary
    does not cross itself is one-to-one.
    """
    return len(overlapping_boundary_edges(UV, loop))


def overlapping_boundary_edges(UV: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """Pairs (i, j), i < j, of positions in ``loop`` whose boundary edges intersect.

    Edge i runs from ``loop[i]`` to ``loop[(i + 1) % B]``. UV : (V, 2) float64;
    loop : (B,) int64. Returns (K, 2) int64.
    """
    p = UV[loop]
    q = UV[np.roll(loop, -1)]
    nb = len(loop)
    lo = np.minimum(p, q)
    hi = np.maximum(p, q)
    order = np.argsort(lo[:, 0], kind="stable")           # sweep on u
    sorted_lo = lo[order, 0]
    pairs = []
    for pos in range(nb):
        i = order[pos]
        end = np.searchsorted(sorted_lo, hi[i, 0], side="right")
        js = order[pos + 1:end]
        if len(js) == 0:
            continue
        js = js[(lo[js, 1] <= hi[i, 1]) & (hi[js, 1] >= lo[i, 1])]
        js = js[(js != (i + 1) % nb) & (js != (i - 1) % nb)]
        if len(js) == 0:
            continue
        hit = js[_segments_intersect(p[i], q[i], p[js], q[js])]
        pairs += [(min(i, j), max(i, j)) for j in hit.tolist()]
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def _segments_intersect(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Proper or touching intersection of segment ab with each segment c[k] d[k]."""
    def orient(p, q, r):
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
    o1 = orient(a, b, c)
    o2 = orient(a, b, d)
    o3 = orient(c, d, a)
    o4 = orient(c, d, b)
    return (o1 * o2 <= 0) & (o3 * o4 <= 0)


@dataclass(frozen=True)
class AreaDistortion:
    """Area distortion of a UV map: r_f = (uv area share) / (surface area share) per face.

    mean_abs_log : float
        surface-area-weighted mean of |log r_f|.
    p5, p95 : float
        5th and 95th percentiles of r_f, surface-area weighted.
    """

    mean_abs_log: float
    p5: float
    p95: float

    def as_dict(self) -> dict:
        return {"mean_abs_log": self.mean_abs_log, "p5": self.p5, "p95": self.p95}


def area_distortion(V: np.ndarray, F: np.ndarray, UV: np.ndarray) -> AreaDistortion:
    """Area distortion of a UV map.

    V : (V, 3) float64; F : (F, 3) int64; UV : (V, 2) float64 (same vertex ids as V).
    """
    a3 = triangle_areas(V, F)
    a2 = np.abs(signed_areas(UV, F))
    w = a3 / a3.sum()
    ratio = (a2 / a2.sum()) / np.maximum(w, 1e-300)
    log_r = np.log(np.maximum(ratio, 1e-300))
    order = np.argsort(ratio)
    cdf = np.cumsum(w[order])
    p5 = float(ratio[order][min(np.searchsorted(cdf, 0.05), len(order) - 1)])
    p95 = float(ratio[order][min(np.searchsorted(cdf, 0.95), len(order) - 1)])
    return AreaDistortion(float(np.sum(w * np.abs(log_r))), p5, p95)


# --- Tutte --------------------------------------------------------------------------------------

def tutte(V: np.ndarray, F: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Tutte embedding: uniform weights, boundary on a circle spaced by arc length.

    The circle's area equals the surface area (the scale SCAF and SLIM expect). Flip-free for
    a disk (Tutte's theorem). Faces come out counter-clockwise.

    Parameters
    ----------
    V : (V, 3) float64
    F : (F, 3) int64, one disk
    boundary : (B,) int64, its boundary loop

    Returns
    -------
    UV : (V, 2) float64
    """
    n = len(V)
    seg = np.linalg.norm(V[np.roll(boundary, -1)] - V[boundary], axis=1)
    angle = 2.0 * np.pi * np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()
    radius = np.sqrt(triangle_areas(V, F).sum() / np.pi)
    bc = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    i = F[:, [0, 1, 2, 1, 2, 0]].ravel()
    j = F[:, [1, 2, 0, 0, 1, 2]].ravel()
    adjacency = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    adjacency.data[:] = 1.0
    laplacian = sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    is_b = np.zeros(n, dtype=bool)
    is_b[boundary] = True
    inner = np.flatnonzero(~is_b)
    UV = np.zeros((n, 2))
    UV[boundary] = bc
    if len(inner):
        A = laplacian[inner][:, inner].tocsc()
        rhs = -laplacian[inner][:, boundary] @ bc
        solve = spla.factorized(A)
        UV[inner, 0] = solve(np.ascontiguousarray(rhs[:, 0]))
        UV[inner, 1] = solve(np.ascontiguousarray(rhs[:, 1]))
    if signed_areas(UV, F).sum() < 0:
        UV[:, 1] *= -1.0
    return UV


# --- SCAF / SLIM --------------------------------------------------------------------------------

def _energy():
    import igl

    return igl.MappingEnergyType.SYMMETRIC_DIRICHLET


def scaf(V: np.ndarray, F: np.ndarray, UV0: np.ndarray, iterations: int) -> np.ndarray:
    """SCAF iterations (symmetric Dirichlet, free boundary, no overlaps) from a flip-free start.

    Uses libigl's bindings of Shewchuk's *Triangle* (licence: no commercial use without
    permission from its author); choose :func:`slim` for a permissive stack.

    V : (V, 3) float64; F : (F, 3) int64; UV0 : (V, 2) float64. Returns UV : (V, 2) float64.
    """
    import igl.triangle

    data = igl.triangle.SCAFData()
    b = np.zeros(0, dtype=np.int32)
    bc = np.zeros((0, 2), dtype=np.float64, order="F")
    igl.triangle.scaf_precompute(np.asfortranarray(V, dtype=np.float64), np.asfortranarray(F, dtype=np.int32),
                                 np.asfortranarray(UV0, dtype=np.float64), _energy(), b, bc, 0.0, data)
    if iterations <= 0:
        return np.array(UV0, dtype=np.float64)
    UV = igl.triangle.scaf_solve(int(iterations), data)
    return np.ascontiguousarray(np.asarray(UV)[: len(V), :2], dtype=np.float64)


def slim(V: np.ndarray, F: np.ndarray, UV0: np.ndarray, iterations: int,
         targets: np.ndarray | None = None, weight: float = 0.0) -> np.ndarray:
    """SLIM iterations (symmetric Dirichlet, free boundary) from a flip-free start.

    V : (V, 3) float64; F : (F, 3) int64; UV0 : (V, 2) float64. Returns UV : (V, 2) float64.
    The boundary may overlap itself: check with :func:`boundary_self_overlaps`.
    ``targets`` : (V, 2) float64, optional, soft positional constraints on every vertex with
    ``weight`` (libigl's ``soft_p``): the map moves towards them without flipping a triangle.
    """
    import igl

    if targets is None:
        b = np.zeros(0, dtype=np.int32)
        bc = np.zeros((0, 2), dtype=np.float64, order="F")
        weight = 0.0
    else:
        b = np.arange(len(UV0), dtype=np.int32)
        bc = np.asfortranarray(targets, dtype=np.float64)
    data = igl.slim_precompute(np.asfortranarray(V, dtype=np.float64), np.asfortranarray(F, dtype=np.int32),
                               np.asfortranarray(UV0, dtype=np.float64), _energy(), b, bc, float(weight))
    if iterations <= 0:
        return np.array(UV0, dtype=np.float64)
    UV = igl.slim_solve(data, int(iterations))
    return np.ascontiguousarray(np.asarray(UV)[:, :2], dtype=np.float64)


def optimize(V: np.ndarray, F: np.ndarray, UV0: np.ndarray, solver: str = "scaf", iterations: int = 30) -> np.ndarray:
    """Run ``solver`` (``"scaf"`` or ``"slim"``) for ``iterations`` from UV0 : (V, 2) float64."""
    validate_solver(solver)
    if iterations < 0:
        raise UvkitError(f"iterations must be >= 0, got {iterations}")
    return (scaf if solver == "scaf" else slim)(V, F, UV0, iterations)


# --- area equalising ----------------------------------------------------------------------------

def _local_frames(V: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-face inverse edge matrices in an orthonormal frame of the face, and face areas.

    Returns P_inv : (F, 2, 2) float64 with J_f = [uv1 - uv0, uv2 - uv0] @ P_inv[f], and
    areas : (F,) float64.
    """
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    e1, e2 = b - a, c - a
    normal = np.cross(e1, e2)
    double_area = np.linalg.norm(normal, axis=1)
    x = e1 / np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-300)
    y = np.cross(normal / np.maximum(double_area[:, None], 1e-300), x)
    P = np.empty((len(F), 2, 2))
    P[:, 0, 0] = np.einsum("ij,ij->i", e1, x)
    P[:, 1, 0] = np.einsum("ij,ij->i", e1, y)
    P[:, 0, 1] = np.einsum("ij,ij->i", e2, x)
    P[:, 1, 1] = np.einsum("ij,ij->i", e2, y)
    return np.linalg.inv(P), 0.5 * double_area


def jacobians(V: np.ndarray, F: np.ndarray, UV: np.ndarray) -> np.ndarray:
    """Jacobian of the map surface -> UV on each face, in a local orthonormal face frame.

    V : (V, 3) float64; F : (F, 3) int64; UV : (V, 2) float64 -> (F, 2, 2) float64.
    """
    P_inv, _ = _local_frames(V, F)
    Q = np.stack([UV[F[:, 1]] - UV[F[:, 0]], UV[F[:, 2]] - UV[F[:, 0]]], axis=2)
    return Q @ P_inv


def _flip_times(UV: np.ndarray, F: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Per face, the smallest t > 0 at which UV + t D degenerates the triangle (inf if never).

    The signed area along the step is a quadratic in t; its smallest positive root.
    UV, D : (V, 2) float64; F : (F, 3) int64 -> (F,) float64.
    """
    a, b, c = UV[F[:, 0]], UV[F[:, 1]], UV[F[:, 2]]
    da, db, dc = D[F[:, 0]], D[F[:, 1]], D[F[:, 2]]
    e1, e2, f1, f2 = b - a, c - a, db - da, dc - da

    def cross(p, q):
        return p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]

    A = cross(e1, e2)
    B = cross(e1, f2) + cross(f1, e2)
    C = cross(f1, f2)
    t = np.full(len(F), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = B * B - 4.0 * A * C
        quadratic = (np.abs(C) > 1e-300) & (disc >= 0)
        root = np.sqrt(np.where(quadratic, disc, 0.0))
        for r in ((-B - root) / (2.0 * C), (-B + root) / (2.0 * C)):
            ok = quadratic & (r > 0)
            t[ok] = np.minimum(t[ok], r[ok])
        linear = (np.abs(C) <= 1e-300) & (B != 0)
        r = -A / B
        ok = linear & (r > 0)
        t[ok] = np.minimum(t[ok], r[ok])
    return t


def equalize_area(V: np.ndarray, F: np.ndarray, UV: np.ndarray, boundary: np.ndarray,
                  iterations: int = 10, strength: float = 1.0) -> np.ndarray:
    """Move UV vertices so that UV area follows surface area (the project's own step).

    A local-global iteration (like ARAP, with another local target): the local step keeps each
    face's current Jacobian J_f (so its angles) and rescales it uniformly to a target area,
    T_f = J_f * sqrt(det_target / det J_f); the global step finds the UV map whose Jacobians are
    closest to the targets in the surface-area weighted least-squares sense (a Poisson solve
    with the surface's cotangent Laplacian, factorised once). The target area ratio of a face
    is ``r0 ** (1 - strength)`` of its starting ratio r0 (1: full equalisation, 0: none).
    Where a full step would flip a triangle within twice its length (exact, per-face
    quadratic), or make the boundary run into itself, the step is damped to zero around those
    spots (linear ramp, growing radius); the step taken is at most half the flip time.

    Parameters
    ----------
    V : (V, 3) float64
    F : (F, 3) int64
    UV : (V, 2) float64
        flip-free, counter-clockwise.
    boundary : (B,) int64
        boundary loop, for the overlap guard.
    iterations : int
    strength : float in [0, 1]

    Returns
    -------
    UV : (V, 2) float64, flip-free, with no more boundary self-overlaps than the input.
    """
    if not 0.0 <= strength <= 1.0:
        raise UvkitError(f"strength must lie in [0, 1], got {strength}")
    n, nf = len(UV), len(F)
    UV = np.array(UV, dtype=np.float64)
    if iterations <= 0 or strength == 0.0:
        return UV
    P_inv, a3 = _local_frames(V, F)
    P_inv_t = np.transpose(P_inv, (0, 2, 1))
    rows, cols, vals = [], [], []
    for k in range(2):
        r = 2 * np.arange(nf) + k
        rows += [r, r, r]
        cols += [F[:, 1], F[:, 2], F[:, 0]]
        vals += [P_inv_t[:, k, 0], P_inv_t[:, k, 1], -(P_inv_t[:, k, 0] + P_inv_t[:, k, 1])]
    G = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(2 * nf, n)).tocsr()
    GtW = (G.T @ sp.diags(np.repeat(a3, 2))).tocsr()
    K = (GtW @ G).tocsc()
    solve = spla.factorized((K + 1e-9 * K.diagonal().mean() * sp.identity(n)).tocsc())

    det0 = np.linalg.det(jacobians(V, F, UV))
    scale = det0 @ a3 / a3.sum()
    target = scale * (det0 / scale) ** (1.0 - strength)
    overlaps = boundary_self_overlaps(UV, boundary)
    diameter = float(np.ptp(UV, axis=0).max())
    for _ in range(iterations):
        J = jacobians(V, F, UV)
        det = np.linalg.det(J)
        T = J * np.sqrt(target / det)[:, None, None]
        new = np.stack([solve(GtW @ T[:, 0, :].reshape(-1)), solve(GtW @ T[:, 1, :].reshape(-1))], axis=1)
        new += (UV - new).mean(axis=0)
        D0 = new - UV
        # damp the step around trouble spots: triangles that a full step would flip, and boundary
        # parts that would run into each other
        trouble = np.zeros((0, 2))
        radius = 0.01 * diameter
        for _ in range(8):
            D = D0 * _damping(UV, trouble, radius)[:, None]
            flip_time = _flip_times(UV, F, D)
            collapsing = flip_time < 2.0
            trial = UV + min(1.0, 0.5 * float(flip_time.min())) * D
            hits = overlapping_boundary_edges(trial, boundary)
            if not collapsing.any() and len(hits) <= overlaps:
                break
            centres = UV[F[collapsing]].mean(axis=1)
            trouble = np.vstack([trouble, centres, UV[boundary[np.unique(hits)]]])
            radius *= 1.5
        else:
            break
        UV = trial
    return UV


def _damping(UV: np.ndarray, contacts: np.ndarray, radius: float) -> np.ndarray:
    """Per-vertex factor in [0, 1]: 0 at a trouble point, rising linearly to 1 at ``radius``."""
    if len(contacts) == 0:
        return np.ones(len(UV))
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(contacts).query(UV)
    return np.clip(distance / radius, 0.0, 1.0)


__all__ = ["SOLVERS", "validate_solver", "libigl_version", "tutte", "scaf", "slim", "optimize",
           "equalize_area", "area_distortion", "AreaDistortion", "flipped_triangles",
           "boundary_self_overlaps", "overlapping_boundary_edges", "signed_areas", "triangle_areas", "jacobians"]
