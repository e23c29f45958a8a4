"""``build_uv``: a template in, a complete UV map (layout, lookup tables, weight maps) out.

The chain: validate the template (closed, genus 0), its mirror permutation, the symmetric cut
and parameterization (:mod:`uvkit.unwrap`), then the lookup tables (:mod:`uvkit.uvmap`). The
options and every measurement go into the file's provenance (``meta``).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .errors import FoldedMapError, SymmetryError, UvkitError
from .landmarks import Landmarks, template_landmarks
from .layout import FILL_STRETCH
from .layout import symmetry_error as layout_symmetry_error
from .mesh import require_closed_genus0
from .param import libigl_version, validate_solver
from .raster import rasterize, round_trip_error
from .symmetry import repair_mirror_near, template_mirror
from .template import Template
from .unwrap import (
    DEFAULT_AREA_ITERATIONS,
    DEFAULT_DETAIL_SCALE,
    DEFAULT_ITERATIONS,
    DEFAULT_MARGIN,
    DEFAULT_SEAMS,
    DEFAULT_SOLVER,
    DEFAULT_WARMUP,
    parameterize_template,
)
from .uvmap import DEFAULT_RESOLUTIONS, UVMap, build_uvmap


def _named(error: UvkitError, source) -> UvkitError:
    """``error`` with the template's file name in front (unless it is there already)."""
    if str(error).startswith(str(source)):
        return error
    if isinstance(error, FoldedMapError):   # its subclasses here carry more than a message
        return FoldedMapError(f"{source}: {error}", error.vertices, error.flattened)
    return type(error)(f"{source}: {error}")


#: a released symmetric map whose folds cover more template vertices than this is kept as it is
#: (to be compared with the map made without the mirror averaging) instead of being made again
#: with the mirror re-paired near its folds: the re-pairing mends a chain of mid-line pairs one
#: step off (test template (g): folds at 8 vertices, exact after it), and where the folds were
#: spread wider ((b): 154 vertices, (j): 35, the coarse bodies) the map made again was still
#: released and the plain map was kept either way, one solve later.
REPAIR_MAX_FOLDS = 30


#: the end of the error where no symmetric map can be made (build-uv falls back before it shows).
NO_SYMMETRY_HINT = "--no-symmetry builds a map that is not made exactly symmetric"


class _NoSymmetricMap(FoldedMapError):
    """No symmetric map could be kept (not even one released from exact symmetry around its
    folds, with ``release``); ``mirror``: the mirror of the last attempt, whose solver's map
    (``flattened``) the map without the mirror averaging starts from."""

    def __init__(self, message: str, vertices, mirror, flattened) -> None:
        super().__init__(message, vertices, flattened)
        self.mirror = mirror


def _unwrap_repairing_folds(unwrap_with: Callable, template: Template, mirror, say: Callable, release: bool):
    """``unwrap_with(mirror.permutation, release)``; if its exactly symmetric map keeps folds
    that no symmetric placement removes (where the triangulation does not mirror, a chain of
    mid-line pairs found from positions can be one step off), the mirror is re-paired near the
    folds once (:func:`uvkit.symmetry.repair_mirror_near`) and the map made again.

    Without ``release`` folds raise :class:`_NoSymmetricMap` (after the second map). With it the
    maps release the vertices around their folds from exact symmetry
    (:func:`uvkit.layout.release_near_folds`); the second map is kept when it is made (its
    mirror is the better one near the folds: on test template (b) it releases 189 UV vertices
    against 223, its worst symmetry error is 0.061 against 0.32 and its chart covers more of
    the square), the first when it is not. Where the first map's folds cover more than
    :data:`REPAIR_MAX_FOLDS` vertices no second map is made: the first is kept, or, where with
    ``release`` no released map unfolded, :class:`_NoSymmetricMap` is raised (measured on test
    template (m): 889 flipped triangles; the second map, released at 332 UV vertices, was then
    not kept either, and cost a third solve of 18,000 vertices). Returns the unwrap, the
    mirror used and the number of vertices re-paired (0 when the first map is kept); the
    error carries the mirror of the last attempt and its solver's map."""
    hint = NO_SYMMETRY_HINT
    flattened = None
    try:
        first = unwrap_with(mirror.permutation, release)
    except FoldedMapError as error:   # strict, or no released region unfolded the map
        first, around, problem, flattened = None, error.vertices, str(error), error.flattened
    else:
        if first.folded is None:
            return first, mirror, 0
        around = first.folded
        problem = (f"the exactly symmetric map kept folds at {len(around)} vertices (released "
                   f"{first.stats['symmetry_released_uv_vertices']} UV vertices from exact symmetry)")
    if len(around) > REPAIR_MAX_FOLDS and (first is not None or release):
        # folds all over come from noise or triangulations too unlike each other, not from a
        # chain of mid-line pairs one step off: the map made again with the mirror re-paired
        # was never exact on the test templates, and the caller compares this one with the
        # plain map anyway (or, where no released map unfolded, makes the plain map instead)
        say(f"{problem}; too many to build it again with the mirror re-paired near them")
        if first is None:
            raise _NoSymmetricMap(f"{problem}; {hint}", around, mirror, flattened)
        return first, mirror, 0
    repaired = repair_mirror_near(template.vertices, template.faces, mirror, around)
    refined = int(np.sum(repaired.permutation != mirror.permutation))
    if not refined:
        if first is None:
            raise _NoSymmetricMap(f"{problem}; {hint}", around, mirror, flattened)
        return first, mirror, 0
    say(f"{problem}; re-paired {refined} mirror vertices near the folds, building again")
    try:
        second = unwrap_with(repaired.permutation, release)
    except FoldedMapError as again:
        if first is not None:
            return first, mirror, 0
        raise _NoSymmetricMap(f"{again} (after {refined} mirror vertices near the first folds were re-paired); {hint}",
                              again.vertices, repaired, again.flattened) from None
    return second, repaired, refined


#: lookup-table size of the round trip that decides between a symmetric map released from
#: exact symmetry and the map made without the mirror averaging.
FALLBACK_RESOLUTION = 128


def _round_trip(unwrap, vertices: np.ndarray, faces: np.ndarray) -> float:
    """Mean distance of the template's vertices after template -> location map -> vertices
    through the unwrap's chart (lookup table at :data:`FALLBACK_RESOLUTION`, read back without
    taps from across a cut), in the units of ``vertices``."""
    table = rasterize(unwrap.vt, unwrap.ft, FALLBACK_RESOLUTION)
    return float(round_trip_error(vertices, faces, unwrap.vt, unwrap.ft, unwrap.vt2v, table).mean())


def _score(unwrap, vertices: np.ndarray, faces: np.ndarray) -> tuple[int, float]:
    """What decides between a symmetric map and the plain one: boundary overlaps, then the mean
    round trip in mm (:func:`_round_trip`; vertices in metres)."""
    return unwrap.stats["boundary_self_overlaps"], 1000.0 * _round_trip(unwrap, vertices, faces)


def _better_of_plain(unwrap, unwrap_with: Callable, permutation: np.ndarray, vertices: np.ndarray,
                     faces: np.ndarray, say: Callable) -> tuple:
    """A symmetric unwrap that is not exactly symmetric after all (vertices released around
    folds) or whose chart overlaps itself, against the map made without the mirror averaging
    from its solver's map (``unwrap_with(permutation, False, exact=False, start=unwrap.flattened)``,
    ``permutation`` its mirror): the one with fewer boundary overlaps,
    then the smaller mean round trip at :data:`FALLBACK_RESOLUTION`, is returned, with the
    numbers of both when it is the plain one (else None). vertices : the template in the
    canonical frame (metres); faces : (F, 3). docs/uvmaps.md, "Coarse bodies"."""
    released = 0 if unwrap.released is None else len(unwrap.released)
    try:
        plain = unwrap_with(permutation, False, exact=False, start=unwrap.flattened)
    except UvkitError as error:   # the symmetric map stands
        say(f"the map without the mirror averaging could not be made ({error}); keeping the symmetric one")
        return unwrap, None
    scores = [_score(u, vertices, faces) for u in (unwrap, plain)]
    say(f"symmetric map ({released} UV vertices released from exact symmetry): {scores[0][0]} boundary overlaps, "
        f"round trip at {FALLBACK_RESOLUTION} {scores[0][1]:.2f} mm mean; without the mirror averaging: "
        f"{scores[1][0]}, {scores[1][1]:.2f} mm")
    if scores[1] < scores[0]:
        return plain, {"overlaps": [scores[0][0], scores[1][0]], "round_trip_mm": [scores[0][1], scores[1][1]],
                       "released_uv_vertices": released}
    return unwrap, None


def _plain_instead(unwrap_with: Callable, failed: _NoSymmetricMap, vertices: np.ndarray, faces: np.ndarray,
                   say: Callable) -> tuple:
    """The map made without the mirror averaging where no symmetric map could be made at all
    (``failed``: why, the mirror of the last attempt and its solver's map, which it starts
    from). Returns it and the record of the fallback (as :func:`_better_of_plain`'s, the
    symmetric map's numbers None)."""
    reason = str(failed).removesuffix("; " + NO_SYMMETRY_HINT)
    plain = unwrap_with(failed.mirror.permutation, False, exact=False, start=failed.flattened)
    overlaps, round_trip = _score(plain, vertices, faces)
    say(f"no symmetric map ({reason}); the map without the mirror averaging: {overlaps} boundary overlaps, "
        f"round trip at {FALLBACK_RESOLUTION} {round_trip:.2f} mm mean")
    return plain, {"overlaps": [None, overlaps], "round_trip_mm": [None, round_trip], "released_uv_vertices": None,
                   "no_symmetric_map": reason}


def build_uv(
    template: Template,
    *,
    seams: str = DEFAULT_SEAMS,
    solver: str = DEFAULT_SOLVER,
    iterations: int = DEFAULT_ITERATIONS,
    warmup: int = DEFAULT_WARMUP,
    area_iterations: int = DEFAULT_AREA_ITERATIONS,
    margin: float = DEFAULT_MARGIN,
    stretch: float = FILL_STRETCH,
    detail_scale: str | float = DEFAULT_DETAIL_SCALE,
    resolutions: tuple[int, ...] = DEFAULT_RESOLUTIONS,
    allow_asymmetric: bool = False,
    symmetric: bool = True,
    strict_symmetry: bool = False,
    up: str | None = None,
    front: str | None = None,
    units: str | None = None,
    landmarks: Landmarks | None = None,
    progress: Callable[[str], None] | None = None,
) -> UVMap:
    """Build the continuous, left-right symmetric UV map of ``template``.

    Parameters
    ----------
    template : Template
        closed, genus 0, left-right symmetric (within ``uvkit.tol``) triangle mesh.
    seams, solver, iterations, warmup, area_iterations, margin, stretch, detail_scale
        see :func:`uvkit.unwrap.parameterize_template`.
    resolutions : tuple of int
        lookup-table sizes.
    allow_asymmetric : bool
        accept a template far from symmetric (its best mirror matching is used).
    symmetric : bool
        True (default): the map is exactly symmetric with respect to the mirror. False: the
        seams are still mirrored, but the solver's map is not averaged with its mirror image
        (no folds from that; the symmetry error is measured in ``meta['stats']``). For a
        template whose two sides no exactly symmetric flat map can draw, e.g. vertex noise as
        large as its edges (``uvkit build-uv --no-symmetry``).
    strict_symmetry : bool
        False (default): where the exactly symmetric map keeps folds after the mirror was
        re-paired near them, the vertices around those folds are released from exact symmetry
        (the rest stays exact; ``meta['stats']`` counts them and measures their error, and the
        map is then not ``symmetric``). True: stop with FoldedMapError instead.
    up, front, units : str, optional
        the file's up and front axes (``"y"``, ``"z"``, ``"-y"``, ...) and units (``"m"``,
        ``"cm"``, ``"mm"``); detected when not given (:mod:`uvkit.frame`). The map is built in
        the canonical frame, so the same body in another frame gets the same map.
    landmarks : Landmarks, optional
        tips, parts and frame already found (:func:`uvkit.landmarks.template_landmarks`);
        found here otherwise: from the rig's part labels when the template has them, from the
        geometry when it is a bare mesh.
    progress : callable(str), optional

    Returns
    -------
    UVMap
        ``meta`` holds the template hash, every option, the statistics and the timings.
    """
    say = progress or (lambda message: None)
    validate_solver(solver)
    start = time.perf_counter()
    require_closed_genus0(template.report, template.source)
    mirror = template_mirror(template, allow_asymmetric=allow_asymmetric)
    if landmarks is None:
        landmarks = template_landmarks(template, mirror, up=up, front=front, units=units)
    say(f"template {template.name}: {template.report.describe()}; {mirror.describe(1000.0 * landmarks.frame.scale)}")
    for line in landmarks.describe().splitlines():
        say(line)
    def unwrap_with(permutation: np.ndarray, release: bool, exact: bool = symmetric, start=None):
        return parameterize_template(
            landmarks.vertices, template.faces, permutation, landmarks.parts,
            seams=seams, solver=solver, iterations=iterations, warmup=warmup,
            area_iterations=area_iterations, margin=margin, stretch=stretch, detail_scale=detail_scale, symmetric=exact,
            release=release, start=start, progress=say,
        )

    fallback: dict | None = None
    try:
        try:
            unwrap, mirror, refined = _unwrap_repairing_folds(unwrap_with, template, mirror, say,
                                                              release=symmetric and not strict_symmetry)
        except _NoSymmetricMap as error:
            if not symmetric or strict_symmetry:
                raise
            # not even a map released from exact symmetry around its folds unfolds (sides meshed
            # independently, as a scan's): the map made without the mirror averaging, reported
            unwrap, fallback = _plain_instead(unwrap_with, error, landmarks.vertices, template.faces, say)
            # the mirror of the last attempt: re-paired near the first folds, or the one found
            refined = int(np.sum(error.mirror.permutation != mirror.permutation))
            mirror = error.mirror
        else:
            if symmetric and not strict_symmetry and (unwrap.stats["boundary_self_overlaps"]
                                                      or unwrap.released is not None):
                unwrap, fallback = _better_of_plain(unwrap, unwrap_with, mirror.permutation, landmarks.vertices,
                                                    template.faces, say)
    except UvkitError as error:
        raise _named(error, template.source) from None
    table_start = time.perf_counter()
    meta = {
        "template_sha256": template.sha256,
        "template_name": template.name,
        "generator": "build-uv",
        "parameters": unwrap.params,
        "stats": unwrap.stats,
        "mirror_mean_mismatch": mirror.mean_mismatch,
        "mirror_max_mismatch": mirror.max_mismatch,
        "mirror": mirror.stats(),
        # vertices re-paired after a first layout left folds (repair_mirror_near)
        "mirror_refined_vertices": refined,
        # UV vertices released from exact symmetry around folds (see strict_symmetry), ascending
        "symmetry_released_uv": [] if unwrap.released is None else unwrap.released.tolist(),
        # when the symmetric map was not exactly symmetric (or overlapped itself) and the map
        # made without the mirror averaging was kept instead: both maps' boundary overlaps and
        # mean round trips (mm, lookup table at FALLBACK_RESOLUTION); where no symmetric map
        # could be made at all, the symmetric map's numbers are None and "no_symmetric_map"
        # says why; None otherwise
        "symmetry_fallback": fallback,
        "seam_edges": int(len(unwrap.cut.seam_edges)),
        # vertices whose mirror partner changed so that a spine could run over mid-plane gaps
        "mirror_repaired_vertices": int(np.sum(unwrap.cut.mirror != mirror.permutation)),
        "landmarks": landmarks.as_dict(),
        "libigl_version": libigl_version(),
    }
    uvmap = build_uvmap(
        unwrap.vt, unwrap.ft, unwrap.vt2v, template.faces, template.n_vertices,
        parts=landmarks.parts, vt_mirror=unwrap.vt_mirror, mirror=unwrap.cut.mirror,
        resolutions=tuple(resolutions), meta=meta,
    )
    say(f"lookup tables {', '.join(map(str, resolutions))} in {time.perf_counter() - table_start:.2f} s")
    uvmap.meta.setdefault("stats", {})["lookup_seconds"] = time.perf_counter() - table_start
    uvmap.meta["stats"]["total_seconds"] = time.perf_counter() - start
    return uvmap


def symmetry_error(uvmap: UVMap) -> float:
    """max over UV vertices of |u + u(mirror) - 1| and |v - v(mirror)|; inf without a mirror."""
    if (uvmap.vt_mirror < 0).any():
        return float("inf")
    return layout_symmetry_error(uvmap.vt, uvmap.vt_mirror)


__all__ = ["build_uv", "symmetry_error", "SymmetryError"]
