"""The geometry of ``uvkit build-uv``: cut, parameterize, equalise area, symmetrize, pack.

:func:`parameterize_template` runs the whole chain on arrays and returns the UV map with the
statistics the command reports (flips, boundary overlaps, area distortion before and after the
area step, coverage, symmetry error, timings). Deterministic: the same input and options give
identical arrays.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import param
from .cut import DEFAULT_SEAMS, Cut, SeamConfig, cut_template, seam_config
from .errors import FoldedMapError, UvkitError
from .layout import FILL_STRETCH, check_pack_options, symmetrize_and_pack, vertex_symmetry_error
from .mesh import neighbour_mean, taubin_smooth, vertex_adjacency
from .symmetry import average_with_mirror, median_edge_length, mirror_plane_x, reflected_partners

#: defaults chosen on the open body (docs/seams.md).
DEFAULT_SOLVER = "scaf"
DEFAULT_WARMUP = 20
DEFAULT_ITERATIONS = 20
#: solver iterations of a map without the mirror averaging made from the map of a symmetric
#: attempt (``parameterize_template``'s ``start``). Measured on the test templates that fall
#: back to such a map: on (m) 10 give the round trip of a full solve (0.79 against 0.78 mm at
#: 128), 5 do not (1.05 mm).
RESTART_ITERATIONS = 10
DEFAULT_AREA_ITERATIONS = 10
DEFAULT_AREA_STRENGTH = 1.0
DEFAULT_MARGIN = 0.02
#: linear texel-density factor of the detail parts (head, hands, feet): 1 preserves area;
#: ``"auto"`` follows the mesh's vertex density (:func:`auto_detail_scales`).
DEFAULT_DETAIL_SCALE = "auto"
#: ``"auto"``: scale = (median face area of the rest / of the group) ** (DETAIL_EXPONENT / 2),
#: clipped to [1, DETAIL_MAX_SCALE].
DETAIL_EXPONENT = 1.0
DETAIL_MAX_SCALE = 3.0
#: SMPL joint ids of the detail parts, grouped (each group is enlarged about its own centroid).
DETAIL_GROUPS: tuple[tuple[int, ...], ...] = ((15,), (20, 22), (21, 23), (7, 10), (8, 11))
#: length of the transition from scale 1 to the detail scale, as a fraction of the template's height.
DETAIL_RAMP = 0.04


@dataclass
class Flattened:
    """The solver's map of a cut template (area equalised), before it is made symmetric and
    packed: ``cut`` (:class:`uvkit.cut.Cut`) and ``uv`` ((T, 2) float64, flip-free, one row per
    UV vertex of the cut). A map without the mirror averaging can start from it
    (:func:`parameterize_template`'s ``start``) instead of cutting and solving again."""

    cut: Cut
    uv: np.ndarray


@dataclass
class Unwrap:
    """A symmetric UV map of a template.

    Attributes
    ----------
    vt : (T, 2) float64
        UV vertices in [0, 1]^2.
    ft : (F, 3) int64
        UV triangle of each template face.
    vt2v : (T,) int64
        template vertex of each UV vertex.
    vt_mirror : (T,) int64
        mirror UV vertex of each UV vertex.
    cut : Cut
        the seams (``cut.seam_edges`` (E, 2) int64 template vertex pairs, ``cut.tips``).
    params : dict
        the options used (JSON-serialisable).
    stats : dict
        measurements (JSON-serialisable floats and ints).
    folded : (K,) int64 or None
        when vertices were released from exact symmetry (``release``): the template vertices
        at the corners of the triangles that stayed folded in the exactly symmetric map.
    released : (R,) int64 or None
        then: the UV vertices released (ascending).
    flattened : Flattened or None
        the solver's map before the symmetrization and packing.
    """

    vt: np.ndarray
    ft: np.ndarray
    vt2v: np.ndarray
    vt_mirror: np.ndarray
    cut: Cut
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    folded: np.ndarray | None = None
    released: np.ndarray | None = None
    flattened: Flattened | None = None


def parameterize_template(
    V: np.ndarray,
    F: np.ndarray,
    mirror: np.ndarray,
    parts: np.ndarray | None = None,
    *,
    seams: str | SeamConfig = DEFAULT_SEAMS,
    solver: str = DEFAULT_SOLVER,
    iterations: int = DEFAULT_ITERATIONS,
    warmup: int = DEFAULT_WARMUP,
    area_iterations: int = DEFAULT_AREA_ITERATIONS,
    area_strength: float = DEFAULT_AREA_STRENGTH,
    margin: float = DEFAULT_MARGIN,
    stretch: float = FILL_STRETCH,
    detail_scale: float | str = DEFAULT_DETAIL_SCALE,
    symmetric: bool = True,
    release: bool = False,
    start: Flattened | None = None,
    progress: Callable[[str], None] | None = None,
) -> Unwrap:
    """Cut a closed genus-0 template open and map it to a symmetric chart in the unit square.

    Steps: symmetric seam tree and cut (:mod:`uvkit.cut`); the rest shape to flatten, with the
    head, hands and feet enlarged by ``detail_scale`` (:func:`enlarge_details`); Tutte embedding; ``warmup`` SLIM
    iterations (cheap, they grow the squeezed limbs); ``iterations`` of ``solver`` (SCAF starts
    from the warm-up only if its boundary does not overlap itself, else from Tutte); area
    equalising (:func:`uvkit.param.equalize_area`); symmetrize and pack (:mod:`uvkit.layout`).

    Parameters
    ----------
    V : (V, 3) float64
        template vertices (+Y up, +Z front, +X the body's left).
    F : (F, 3) int64
        closed genus-0 manifold.
    mirror : (V,) int64
        left-right mirror permutation.
    parts : (V,) int64, optional
        SMPL joint id per vertex: places the seams' tips and puts the head at the top.
    seams : str or SeamConfig
        preset name (``uvkit.cut.SEAM_PRESETS``) or configuration.
    solver : str
        ``"scaf"`` (default; uses Shewchuk's Triangle, not for commercial use) or ``"slim"``.
    iterations, warmup : int
        solver iterations and SLIM warm-up iterations.
    area_iterations : int
        iterations of the area-equalising step (0 disables it).
    area_strength : float
        in [0, 1]: 1 equalises fully, 0 keeps the solver's areas.
    margin : float
        empty border of the unit square.
    stretch : float
        >= 1: the chart fills the square, scaled along u and v by factors that differ by at
        most this much (area shares and symmetry are kept; 1 keeps its aspect ratio).
    detail_scale : float or "auto"
        linear texel-density factor of the head, hands and feet relative to the rest of the
        body (:func:`enlarge_details`; needs ``parts``). 1 preserves area as the DecoMR paper
        asks; ``"auto"`` (default) derives one factor per group from the mesh's vertex density
        (:func:`auto_detail_scales`: about 3 on the open body, whose face and hands are meshed
        finely; 1 on a uniformly meshed template). docs/seams.md has the measured trade-off.
    symmetric : bool
        True (default): the map is made exactly symmetric (``u(m(t)) = 1 - u(t)``,
        ``v(m(t)) = v(t)``). False: the seams are still mirrored, but the template itself is
        flattened and the solver's map is only turned and packed (no averaging with its mirror
        image, so no folds from it); its symmetry error is measured in ``stats``.
    release : bool
        where the exactly symmetric map keeps folds that no symmetric placement removes,
        release the vertices around them from exact symmetry
        (:func:`uvkit.layout.release_near_folds`) instead of raising FoldedMapError;
        ``stats`` counts them (``symmetry_released_vertices``) and measures their error.
    start : Flattened, optional
        only with ``symmetric=False``: the map of an earlier call (symmetric, same template and
        options) that could not be kept symmetric. Its cut is kept and the solver runs
        :data:`RESTART_ITERATIONS` iterations (at most ``iterations``) from its map on the
        template's own shape, with neither Tutte start nor warm-up (SCAF restarts from Tutte if
        that map's boundary overlaps itself).
    progress : callable(str), optional
        receives one line per finished step.

    Returns
    -------
    Unwrap
    """
    param.validate_solver(solver)
    config = seam_config(seams)
    for name, value in (("iterations", iterations), ("warmup", warmup), ("area_iterations", area_iterations)):
        if int(value) != value or value < 0:
            raise UvkitError(f"{name} must be a non-negative integer, got {value}")
    check_pack_options(margin, stretch)     # here before the long solve
    say = progress if progress is not None else (lambda message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> float:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        return timings[name]

    V = np.ascontiguousarray(V, dtype=np.float64)
    F = np.ascontiguousarray(F, dtype=np.int64)
    if start is not None and symmetric:
        raise UvkitError("a map made from an earlier one (start) is not made symmetric: pass symmetric=False")
    # the seams are routed on the mirror-symmetric, denoised shape: on the template itself, vertex
    # noise comparable to the edges bends the seam paths of the two sides differently
    rest = symmetric_rest_shape(V, F, mirror) if symmetric else V
    if start is None:
        cut = cut_template(rest, F, mirror, parts, config)
        say(f"cut: {len(cut.seam_edges)} seam edges, {len(cut.vt2v)} UV vertices ({lap('cut'):.2f} s)")
    else:
        cut = start.cut
        if len(start.uv) != len(cut.vt2v) or cut.ft.shape != F.shape or not np.array_equal(cut.vt2v[cut.ft], F):
            raise UvkitError(f"the map to start from ({len(start.uv)} UV vertices, a cut of {len(cut.ft)} faces) is "
                             f"not one of this template ({len(V)} vertices, {len(F)} faces)")
    scales = [1.0] * len(DETAIL_GROUPS)
    if parts is not None:
        scales = auto_detail_scales(V, F, parts) if detail_scale == "auto" else [float(detail_scale)] * len(DETAIL_GROUPS)
    elif detail_scale != "auto" and not float(detail_scale) > 0:
        raise UvkitError(f"detail_scale must be > 0 or 'auto', got {detail_scale}")
    if symmetric and not np.array_equal(cut.mirror, mirror):
        rest = symmetric_rest_shape(V, F, cut.mirror)
    rest = open_degenerate_faces(rest, F, cut.mirror)
    Vs = enlarge_details(rest, F, parts, scales) if any(x != 1.0 for x in scales) else rest
    Vc = Vs[cut.vt2v]
    ft = cut.ft
    restarted = start is not None and (solver == "slim" or param.boundary_self_overlaps(start.uv, cut.boundary) == 0)
    if restarted:
        UV = param.optimize(Vc, ft, start.uv, solver, min(iterations, RESTART_ITERATIONS))
        say(f"{solver}: {min(iterations, RESTART_ITERATIONS)} iterations from the earlier map ({lap('solve'):.2f} s)")
    else:
        UV = param.tutte(Vc, ft, cut.boundary)
        say(f"tutte ({lap('tutte'):.2f} s)")
        initial = UV
        if warmup:
            warm = param.slim(Vc, ft, UV, warmup)
            if solver == "slim" or param.boundary_self_overlaps(warm, cut.boundary) == 0:
                initial = warm
            say(f"warm-up: {warmup} SLIM iterations ({lap('warmup'):.2f} s)")
        UV = param.optimize(Vc, ft, initial, solver, iterations)
        say(f"{solver}: {iterations} iterations ({lap('solve'):.2f} s)")
    before = param.area_distortion(Vc, ft, UV)
    UV = param.equalize_area(Vc, ft, UV, cut.boundary, area_iterations, area_strength)
    after = param.area_distortion(Vc, ft, UV)
    say(f"area: mean |log ratio| {before.mean_abs_log:.3f} -> {after.mean_abs_log:.3f} ({lap('area'):.2f} s)")
    solved = UV
    UV, relax_rounds = _relax_towards_symmetry(Vc, ft, UV, cut) if symmetric else (UV, 0)
    if relax_rounds:
        say(f"symmetric relaxation: {relax_rounds} rounds ({lap('relax'):.2f} s)")
    up = None
    if parts is not None:
        up = np.isin(np.asarray(parts)[cut.vt2v], (12, 15))
    # which side of the body each UV vertex is on: the chart's halves must not join across the mid-line
    sides = np.sign(V[:, 0] - V[cut.mirror, 0])[cut.vt2v]
    try:
        layout = symmetrize_and_pack(UV, ft, cut.vt_mirror, up=up, margin=margin, stretch=stretch, boundary=cut.boundary,
                                     reference=solved if relax_rounds else None, sides=sides, symmetric=symmetric,
                                     release=release)
    except FoldedMapError as error:   # its UV vertices, as template vertices
        raise FoldedMapError(str(error), np.unique(cut.vt2v[error.vertices]), Flattened(cut, solved)) from None
    flips = len(param.flipped_triangles(layout.vt, ft))
    overlaps = param.boundary_self_overlaps(layout.vt, cut.boundary)
    final = param.area_distortion(V[cut.vt2v], ft, layout.vt)
    say(f"layout: coverage {layout.coverage:.3f} (scale along u / along v {layout.fill_stretch:.3f}), {flips} flips, "
        f"{overlaps} overlaps ({lap('layout'):.2f} s)")
    if flips:
        raise UvkitError(f"the UV map has {flips} flipped triangles")
    released = layout.released if layout.released is not None else np.zeros(len(cut.vt2v), dtype=bool)
    if released.any():
        off = vertex_symmetry_error(layout.vt, cut.vt_mirror)[released]
        say(f"symmetry: released {int(released.sum())} of {len(released)} UV vertices around folds no symmetric "
            f"placement removes; their symmetry error median {np.median(off):.2g}, max {off.max():.2g} (UV units)")
    stats = {
        "n_uv_vertices": int(len(cut.vt2v)),
        "n_seam_edges": int(len(cut.seam_edges)),
        "flipped_triangles": int(flips),
        "boundary_self_overlaps": int(overlaps),
        "area_distortion_solver": before.as_dict(),
        "area_distortion_equalized": after.as_dict(),
        "area_distortion_final": final.as_dict(),  # against the template itself, detail scale included
        "coverage": layout.coverage,
        "fill_stretch": layout.fill_stretch,  # scale along u / along v of the pack (1: aspect ratio kept)
        "symmetric": bool(symmetric),
        "symmetry_error": layout.symmetry_error,
        # UV vertices (and template vertices) released from exact symmetry around folds; the
        # median of their symmetry error (UV units): 0 / 0 / 0 when the map is exactly symmetric
        "symmetry_released_uv_vertices": int(released.sum()),
        "symmetry_released_vertices": int(len(np.unique(cut.vt2v[released]))),
        "symmetry_error_released_median": float(np.median(off)) if released.any() else 0.0,
        "symmetry_axis_residual": layout.axis.residual,
        "symmetry_averaging_shift": layout.averaging_shift,
        "flip_repair_rounds": layout.repair_rounds,
        "symmetric_relax_rounds": int(relax_rounds),
        # solved from the map of an earlier (symmetric) attempt: its cut, RESTART_ITERATIONS
        "solved_from_earlier_map": bool(restarted),
        "detail_scales": [float(x) for x in scales],
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "solve_seconds": round(timings["solve"], 4),
        "total_seconds": round(sum(timings.values()), 4),
    }
    params = {"seams": config.as_dict(), "solver": solver, "iterations": int(iterations), "warmup": int(warmup),
              "area_iterations": int(area_iterations), "area_strength": float(area_strength), "margin": float(margin),
              "stretch": float(stretch),
              "detail_scale": detail_scale if detail_scale == "auto" else float(detail_scale)}
    folded = None if layout.folded is None else np.unique(cut.vt2v[layout.folded])
    return Unwrap(layout.vt, ft, cut.vt2v, cut.vt_mirror, cut, params, stats, folded,
                  None if layout.released is None else np.flatnonzero(layout.released), Flattened(cut, solved))


__all__ = ["Unwrap", "Flattened", "parameterize_template", "DEFAULT_SOLVER", "DEFAULT_ITERATIONS", "DEFAULT_WARMUP",
           "DEFAULT_AREA_ITERATIONS", "DEFAULT_AREA_STRENGTH", "DEFAULT_MARGIN", "DEFAULT_DETAIL_SCALE",
           "enlarge_details", "auto_detail_scales", "symmetric_rest_shape", "mismatch_roughness", "open_degenerate_faces"]


#: rounds of SLIM pulled towards the mirror average when the faces do not mirror.
SYMMETRIC_RELAX_ROUNDS = 4
SYMMETRIC_RELAX_ITERATIONS = 5
SYMMETRIC_RELAX_WEIGHT = 1e5


def _relax_towards_symmetry(Vc: np.ndarray, ft: np.ndarray, UV: np.ndarray, cut: Cut) -> tuple[np.ndarray, int]:
    """Bring a map of a triangulation that is not mirror symmetric close to its mirror image.

    Where the faces do not mirror, the two halves of the chart come out of the solver a little
    different, and averaging them (:func:`uvkit.layout.symmetrize_and_pack`) can flip thin
    triangles or push the two lips of a seam across each other. While the plain average has
    flips or boundary self-overlaps, a few SLIM iterations run with every vertex softly held
    at the average (SLIM never flips a triangle), which shrinks the asymmetry. The rounds stop
    when one leaves the average with as many flips and overlaps as before: on the test
    templates the count stayed put or grew after the first round (32, 119, 34, 21 and 193
    flips) but on one (1 flip, gone in the fourth round), and the untangling of the layout
    gave the same maps without those rounds. An exactly symmetric triangulation is returned
    untouched. Vc : (T, 3) float64; ft : (F, 3) int64; UV : (T, 2) float64. Returns the map
    and the rounds used.
    """
    from .cut import face_mirror
    from .layout import mirror_average

    if np.all(face_mirror(ft, cut.vt_mirror) >= 0):
        return UV, 0
    previous = None
    for rounds in range(SYMMETRIC_RELAX_ROUNDS + 1):
        target = mirror_average(UV, cut.vt_mirror)
        trouble = len(param.flipped_triangles(target, ft)) + param.boundary_self_overlaps(target, cut.boundary)
        if trouble == 0:
            return UV, rounds
        if rounds == SYMMETRIC_RELAX_ROUNDS or (previous is not None and trouble >= previous):
            break
        previous = trouble
        UV = param.slim(Vc, ft, UV, SYMMETRIC_RELAX_ITERATIONS, target, SYMMETRIC_RELAX_WEIGHT)
    return UV, rounds


def mismatch_roughness(mismatch: np.ndarray, F: np.ndarray) -> float:
    """How rough a mirror mismatch field is: the median over vertices of the distance of a
    vertex's mismatch vector from the mean of its neighbours'. Vertex noise gives about the
    noise itself (0.8 median edges on test template (b)); a smooth offset between the sides
    almost nothing (0.015 median edges on (f) and (g), whose offsets reach 0.4-0.9 median
    edges).

    mismatch : (V, 3) float64 (a reflected partner minus the vertex); F : (F, 3) int64.
    """
    return float(np.median(np.linalg.norm(mismatch - neighbour_mean(F, len(mismatch))(mismatch), axis=1)))


def symmetric_rest_shape(V: np.ndarray, F: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The shape the parameterization flattens: the template made exactly mirror symmetric.

    Each vertex moves to the mean of its position and its mirror vertex's reflected position
    (across the plane x = c, c the median of the pairs' mid-points), so both halves of the
    chart flatten the same geometry and differ only where the triangulation does; a vertex
    that is its own mirror moves onto the plane. Where the mismatch is vertex noise comparable
    to the edges (:func:`mismatch_roughness` above ``tol.mirror_noise_fraction`` of the median
    edge length) the result is smoothed too (``tol.rest_smoothing_iterations`` Taubin steps). A
    smooth asymmetry (an offset between the sides that varies slowly over the body, however
    large) is not noise: its average is already a smooth body, and smoothing would only drag
    the vertices along the surface and distort the triangles the map should keep. The template
    itself is unchanged: this shape only guides the flattening. An exactly symmetric template
    is returned as it is.

    V : (V, 3) float64 (+X the body's left); F : (F, 3) int64; mirror : (V,) int64 involution.
    Returns (V, 3) float64.
    """
    from .tolerances import tol

    plane_x = mirror_plane_x(V, mirror)
    reflected = reflected_partners(V, mirror, plane_x)
    mismatch = np.linalg.norm(reflected - V, axis=1)
    if mismatch.max() <= tol.mirror_exact * float(np.ptp(V, axis=0).max()):
        return V
    rest = 0.5 * (V + reflected)
    if mismatch_roughness(reflected - V, F) > tol.mirror_noise_fraction * median_edge_length(V, F):
        rest = taubin_smooth(rest, F, tol.rest_smoothing_iterations)
        # smoothing an asymmetric triangulation is not exactly symmetric: average again
        rest = average_with_mirror(rest, mirror, plane_x)
    return rest


#: a face of the shape to flatten whose area is below this fraction of the median is opened.
DEGENERATE_AREA = 1e-4


def open_degenerate_faces(V: np.ndarray, F: np.ndarray, mirror: np.ndarray, rounds: int = 20) -> np.ndarray:
    """The shape to flatten with its zero-area faces opened up.

    Exported and decimated meshes can hold faces whose corners are collinear (zero area): no
    solver can map them (their Jacobian is undefined). In rounds, the corners of every face
    below ``DEGENERATE_AREA`` of the median area move half-way to the mean of their neighbours
    (which pulls a corner off the line its neighbours span), and the shape is made mirror
    symmetric again. The template itself is unchanged. V : (V, 3) float64; F : (F, 3) int64;
    mirror : (V,) int64. Returns (V, 3) float64 (``V`` itself when no face is degenerate).
    Raises UvkitError if faces stay degenerate (a face whose three corners coincide).
    """
    from .param import triangle_areas

    area = triangle_areas(V, F)
    floor = DEGENERATE_AREA * float(np.median(area))
    if not np.any(area <= floor):
        return V
    adjacency = vertex_adjacency(F, len(V))
    degree = np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1.0)
    plane_x = mirror_plane_x(V, mirror)
    out = V.copy()
    for _ in range(rounds):
        bad = area <= floor
        if not bad.any():
            return out
        corners = np.zeros(len(V), dtype=bool)
        corners[F[bad].ravel()] = True
        corners |= corners[mirror]
        mean = (adjacency @ out) / degree[:, None]
        out[corners] = 0.5 * (out[corners] + mean[corners])
        out = average_with_mirror(out, mirror, plane_x)
        area = triangle_areas(out, F)
    if np.any(area <= floor):
        raise UvkitError(f"{int(np.sum(area <= floor))} faces of the template have no area and could not be "
                         "opened up for the flattening")
    return out


def auto_detail_scales(V: np.ndarray, F: np.ndarray, parts: np.ndarray,
                       groups: tuple[tuple[int, ...], ...] = DETAIL_GROUPS) -> list[float]:
    """Texel-density factor of each detail group from how finely it is meshed.

    scale = (median face area outside every group / median face area of the group)
    ** (DETAIL_EXPONENT / 2), clipped to [1, DETAIL_MAX_SCALE]: texel density partly follows
    vertex density. V : (V, 3) float64; F : (F, 3) int64; parts : (V,) int64 -> list of float.
    """
    from .param import triangle_areas

    area = triangle_areas(V, F)
    face_part = np.asarray(parts)[F[:, 0]]
    rest = ~np.isin(face_part, sum(groups, ()))
    if not rest.any():
        return [1.0] * len(groups)
    reference = float(np.median(area[rest]))
    out = []
    for group in groups:
        mine = np.isin(face_part, group)
        ratio = reference / float(np.median(area[mine])) if mine.any() else 1.0
        out.append(float(np.clip(ratio ** (DETAIL_EXPONENT / 2.0), 1.0, DETAIL_MAX_SCALE)))
    # a group and its mirror image get the same factor (their mean)
    from .parts import MIRROR_JOINTS

    keys = [tuple(sorted(g)) for g in groups]
    for i, group in enumerate(groups):
        twin = tuple(sorted(MIRROR_JOINTS[j] for j in group))
        if twin in keys and keys.index(twin) > i:
            j = keys.index(twin)
            out[i] = out[j] = 0.5 * (out[i] + out[j])
    return out


def enlarge_details(V: np.ndarray, F: np.ndarray, parts: np.ndarray, scale,
                    groups: tuple[tuple[int, ...], ...] = DETAIL_GROUPS, ramp: float = DETAIL_RAMP) -> np.ndarray:
    """The template with its detail parts enlarged, the rest shape the parameterization flattens.

    Each group of parts (by default the head, each hand, each foot) is scaled by ``scale``
    about its centroid; outside the group the scaling fades out linearly with the geodesic
    distance (along edges) to the group, over ``ramp`` times the template's height. Flattening
    this shape instead of the template gives the detail parts ``scale ** 2`` times the UV area
    per unit of surface area of the rest of the body (more texels where the mesh is dense and
    the features small) at the price of stretch in the transition bands. Exactly
    mirror-symmetric groups give a mirror-symmetric result.

    V : (V, 3) float64; F : (F, 3) int64; parts : (V,) int64 SMPL joint ids; scale : float > 0,
    or one per group. Returns (V, 3) float64.
    """
    from scipy.sparse import csgraph
    import scipy.sparse as sp

    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(groups),))
    if not np.all(scales > 0):
        raise UvkitError(f"detail_scale must be > 0, got {scale}")
    parts = np.asarray(parts)
    edges = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    length = np.linalg.norm(V[edges[:, 0]] - V[edges[:, 1]], axis=1)
    graph = sp.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(len(V), len(V))).tocsr()
    width = ramp * float(np.ptp(V, axis=0).max())
    out = V.copy()
    for group, factor in zip(groups, scales):
        if factor == 1.0:
            continue
        inside = np.flatnonzero(np.isin(parts, group))
        if len(inside) == 0:
            continue
        centre = V[inside].mean(axis=0)
        distance = csgraph.dijkstra(graph, directed=False, indices=inside, min_only=True, limit=width)
        weight = np.clip(1.0 - distance / width, 0.0, 1.0) if width > 0 else (distance == 0).astype(float)
        out += (factor - 1.0) * weight[:, None] * (V - centre)
    return out
