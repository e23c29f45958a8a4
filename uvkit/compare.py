"""Side-by-side measurement of UV maps of one template (``uvkit compare``).

For each map: S1 / S2 (hop counts or geodesic), distortion, and the quality of its lookup
tables (valid texels, vertices sharing a texel, round trip template -> location map ->
vertices, also on posed bodies when the template has a rig).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import metrics
from .pose import pose_vertices, sample_poses
from .raster import location_map_from_vertices, sample_weights, vertices_from_location_map
from .template import Template
from .uvmap import UVMap


def _stats_mm(error: np.ndarray, unit_mm: float) -> dict[str, float]:
    error = np.asarray(error) * unit_mm
    return {"mean": float(error.mean()), "p99": float(np.percentile(error, 99)), "max": float(error.max())}


def shared_texel_fraction(uv: np.ndarray, resolution: int) -> float:
    """Fraction of vertices whose nearest texel is also the nearest texel of another vertex.

    uv : (V, 2) float64 (one position per vertex)
    """
    texel = np.rint(np.clip(uv, 0.0, 1.0) * (resolution - 1)).astype(np.int64)
    keys = texel[:, 1] * resolution + texel[:, 0]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).mean())


def lookup_quality(uvmap: UVMap, template: Template, n_poses: int = 4, unit_mm: float = 1000.0) -> dict[int, dict[str, Any]]:
    """Per resolution: valid texels, shared texels, round-trip error (mm) at rest and posed.

    The round trip is vertices -> location map -> vertices with the map's tables (the numpy
    reference functions), read back with the weights of :func:`uvkit.raster.sample_weights`
    (bilinear without taps from across a cut, what decomr does); ``round_trip_plain_mm`` is
    the same with plain bilinear sampling (the DecoMR paper's read-out). ``n_poses`` random
    moderate poses (fixed seed) are measured too when the template has a rig.
    """
    bodies = [template.vertices]
    if n_poses and template.has_rig:
        bodies += [pose_vertices(template, pose) for pose in sample_poses(n_poses, template.weights.shape[1])]
    uv = metrics.vertex_uv(uvmap.vt, uvmap.ft, uvmap.vt2v, template.n_vertices, copies="first")
    out: dict[int, dict[str, Any]] = {}
    for resolution in uvmap.resolutions:
        table = uvmap.tables[resolution]
        weights = sample_weights(uvmap.vt, uvmap.ft, table)
        errors, plain = [], None
        for vertices in bodies:
            location_map = location_map_from_vertices(vertices, template.faces, table)
            back = vertices_from_location_map(location_map, uvmap.vt, uvmap.vt2v, template.n_vertices, weights=weights)
            errors.append(np.linalg.norm(back - vertices, axis=1))
            if plain is None:
                back = vertices_from_location_map(location_map, uvmap.vt, uvmap.vt2v, template.n_vertices)
                plain = np.linalg.norm(back - vertices, axis=1)
        rest = errors[0]
        worst = np.argsort(rest)[::-1][:5]
        entry = {
            "valid_texels": float(table.mask.mean()),
            "inside_texels": float(table.inside.mean()),
            "shared_texel_vertices": shared_texel_fraction(uv, resolution),
            "round_trip_mm": _stats_mm(rest, unit_mm),
            "round_trip_plain_mm": _stats_mm(plain, unit_mm),
            "worst_vertices": worst.tolist(),
        }
        if template.parts is not None:
            entry["worst_parts"] = template.parts[worst].tolist()
        if len(errors) > 1:
            entry["round_trip_posed_mm"] = _stats_mm(np.concatenate(errors[1:]), unit_mm)
        out[resolution] = entry
    return out


def _symmetry_error(uvmap: UVMap) -> float | None:
    from .build import symmetry_error

    error = symmetry_error(uvmap)
    return error if np.isfinite(error) else None


def measure_map(uvmap: UVMap, template: Template, distance: str = "hops", copies: str = "first",
                n_poses: int = 4, workers: int | None = None,
                progress: Callable[[str], None] | None = None, unit_mm: float = 1000.0) -> dict[str, Any]:
    """Every metric of one map, as a JSON-ready dict; ``unit_mm``: millimetres per template unit."""
    say = progress or (lambda message: None)
    uv = metrics.vertex_uv(uvmap.vt, uvmap.ft, uvmap.vt2v, template.n_vertices, copies=copies)
    mirror = template.mirror
    say(f"S1/S2 ({distance}) over {template.n_vertices} vertices")
    s1, s2 = metrics.s1_s2(template.faces, uv, vertices=template.vertices, distance=distance, mirror=mirror, workers=workers)
    say("distortion")
    result: dict[str, Any] = {
        "S1": s1,
        "S2": s2,
        "distance": distance,
        "copies": copies,
        "uv_vertices": int(len(uvmap.vt)),
        "generator": uvmap.meta.get("generator"),
        "symmetric": bool(uvmap.symmetric),
        # max |u(t) + u(m(t)) - 1|, |v(t) - v(m(t))|; None for a map without mirror pairs
        "symmetry_error": _symmetry_error(uvmap),
        # UV vertices build-uv released from exact symmetry around folds (0 for any other map)
        "released_uv_vertices": int(uvmap.meta.get("stats", {}).get("symmetry_released_uv_vertices", 0)),
        # build-uv kept the map made without the mirror averaging over its symmetric map
        # (which released vertices or overlapped itself); False for any other map
        "made_without_averaging": bool(uvmap.meta.get("symmetry_fallback")),
        "distortion": metrics.distortion(template.vertices, template.faces, uvmap.vt, uvmap.ft),
    }
    say("lookup tables")
    result["lookup"] = {str(r): v for r, v in lookup_quality(uvmap, template, n_poses, unit_mm).items()}
    return result


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One text table, a column per map."""
    names = list(results)
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, getter: Callable[[dict], Any], fmt: str = "{:.4f}") -> None:
        values = []
        for name in names:
            try:
                value = getter(results[name])
                values.append(fmt.format(value) if value is not None else "-")
            except (KeyError, TypeError):
                values.append("-")
        rows.append((label, values))

    add("S1", lambda r: r["S1"])
    add("S2", lambda r: r["S2"])
    add("UV vertices", lambda r: r["uv_vertices"], "{:d}")
    add("symmetric", lambda r: "yes" if r["symmetric"] else "no", "{}")
    add("symmetry error", lambda r: r["symmetry_error"], "{:.2e}")
    add("UV vertices released from symmetry", lambda r: r["released_uv_vertices"], "{:d}")
    add("kept without the mirror averaging", lambda r: "yes" if r["made_without_averaging"] else "no", "{}")
    first = results[names[0]]
    for key in first.get("distortion", {}):
        value = first["distortion"][key]
        if isinstance(value, (int, float)):
            add(key, lambda r, k=key: r["distortion"][k], "{:d}" if isinstance(value, int) else "{:.4g}")
    for resolution in first.get("lookup", {}):
        add(f"[{resolution}] valid texels", lambda r, s=resolution: r["lookup"][s]["valid_texels"], "{:.1%}")
        add(f"[{resolution}] shared-texel vertices", lambda r, s=resolution: r["lookup"][s]["shared_texel_vertices"], "{:.1%}")
        for kind, name in (("round_trip_mm", ""), ("round_trip_posed_mm", "posed "), ("round_trip_plain_mm", "plain bilinear ")):
            for stat in ("mean", "p99", "max"):
                label = f"[{resolution}] {name}round trip {stat} (mm)"
                add(label, lambda r, s=resolution, k=kind, t=stat: r["lookup"][s][k][t], "{:.2f}")
    width = max(len(label) for label, _ in rows)
    columns = [max(len(name), *(len(values[i]) for _, values in rows)) for i, name in enumerate(names)]
    lines = [" " * width + "  " + "  ".join(name.rjust(w) for name, w in zip(names, columns))]
    for label, values in rows:
        lines.append(label.ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in zip(values, columns)))
    return "\n".join(lines)
