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
from .errors import UvkitError
from .layout import symmetrize_and_pack

#: defaults chosen on the open body (docs/seams.md).
DEFAULT_SOLVER = "scaf"
DEFAULT_WARMUP = 20
DEFAULT_ITERATIONS = 20
DEFAULT_AREA_ITERATIONS = 10
DEFAULT_AREA_STRENGTH = 1.0
DEFAULT_MARGIN = 0.02


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
    """

    vt: np.ndarray
    ft: np.ndarray
    vt2v: np.ndarray
    vt_mirror: np.ndarray
    cut: Cut
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


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
    progress: Callable[[str], None] | None = None,
) -> Unwrap:
    """Cut a closed genus-0 template open and map it to a symmetric chart in the unit square.

    Steps: symmetric seam tree and cut (:mod:`uvkit.cut`); Tutte embedding; ``warmup`` SLIM
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
    cut = cut_template(V, F, mirror, parts, config)
    say(f"cut: {len(cut.seam_edges)} seam edges, {len(cut.vt2v)} UV vertices ({lap('cut'):.2f} s)")
    Vc = V[cut.vt2v]
    ft = cut.ft
    UV = param.tutte(Vc, ft, cut.boundary)
    say(f"tutte ({lap('tutte'):.2f} s)")
    start = UV
    if warmup:
        warm = param.slim(Vc, ft, UV, warmup)
        if solver == "slim" or param.boundary_self_overlaps(warm, cut.boundary) == 0:
            start = warm
        say(f"warm-up: {warmup} SLIM iterations ({lap('warmup'):.2f} s)")
    UV = param.optimize(Vc, ft, start, solver, iterations)
    say(f"{solver}: {iterations} iterations ({lap('solve'):.2f} s)")
    before = param.area_distortion(Vc, ft, UV)
    UV = param.equalize_area(Vc, ft, UV, cut.boundary, area_iterations, area_strength)
    after = param.area_distortion(Vc, ft, UV)
    say(f"area: mean |log ratio| {before.mean_abs_log:.3f} -> {after.mean_abs_log:.3f} ({lap('area'):.2f} s)")
    up = None
    if parts is not None:
        up = np.isin(np.asarray(parts)[cut.vt2v], (12, 15))
    layout = symmetrize_and_pack(UV, ft, cut.vt_mirror, up=up, margin=margin)
    flips = len(param.flipped_triangles(layout.vt, ft))
    overlaps = param.boundary_self_overlaps(layout.vt, cut.boundary)
    final = param.area_distortion(Vc, ft, layout.vt)
    say(f"layout: coverage {layout.coverage:.3f}, {flips} flips, {overlaps} overlaps ({lap('layout'):.2f} s)")
    if flips:
        raise UvkitError(f"the UV map has {flips} flipped triangles")
    stats = {
        "n_uv_vertices": int(len(cut.vt2v)),
        "n_seam_edges": int(len(cut.seam_edges)),
        "flipped_triangles": int(flips),
        "boundary_self_overlaps": int(overlaps),
        "area_distortion_solver": before.as_dict(),
        "area_distortion_equalized": after.as_dict(),
        "area_distortion_final": final.as_dict(),
        "coverage": layout.coverage,
        "symmetry_error": layout.symmetry_error,
        "symmetry_axis_residual": layout.axis.residual,
        "symmetry_averaging_shift": layout.averaging_shift,
        "flip_repair_rounds": layout.repair_rounds,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "solve_seconds": round(timings["solve"], 4),
        "total_seconds": round(sum(timings.values()), 4),
    }
    params = {"seams": config.as_dict(), "solver": solver, "iterations": int(iterations), "warmup": int(warmup),
              "area_iterations": int(area_iterations), "area_strength": float(area_strength), "margin": float(margin)}
    return Unwrap(layout.vt, ft, cut.vt2v, cut.vt_mirror, cut, params, stats)


__all__ = ["Unwrap", "parameterize_template", "DEFAULT_SOLVER", "DEFAULT_ITERATIONS", "DEFAULT_WARMUP",
           "DEFAULT_AREA_ITERATIONS", "DEFAULT_AREA_STRENGTH", "DEFAULT_MARGIN"]
