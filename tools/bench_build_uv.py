"""Benchmark ``uvkit build-uv`` on the open body against the targets of the UV map.

Builds the open body's map with the default options (or the ones given) and prints: wall time
of the whole build (lookup tables included) and of the bare SCAF solve in the same run, peak
memory, flipped triangles, boundary self-overlaps, symmetry error, coverage, area distortion
(solver -> area step -> final, the last against the template itself), S1/S2 (hop counts, first
UV copy of each seam vertex) and the round trip template -> location map -> vertices at every
resolution, at rest and on posed bodies, with the parts where the worst vertices sit.

Usage: python tools/bench_build_uv.py [--detail-scale S] [--seams NAME] [--no-s1s2] [--json OUT]
"""
from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="open", help="template (default: the open body)")
    parser.add_argument("--detail-scale", type=float, default=None,
                        help="texel-density factor of head, hands and feet (default: uvkit's)")
    parser.add_argument("--seams", default=None, help="seam preset (default: uvkit's)")
    parser.add_argument("--poses", type=int, default=4, help="random posed bodies for the posed round trip")
    parser.add_argument("--no-s1s2", action="store_true", help="skip S1/S2 (the slowest measurement)")
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")
    args = parser.parse_args(argv)

    from uvkit import build, metrics
    from uvkit.compare import lookup_quality
    from uvkit.parts import JOINT_NAMES
    from uvkit.raster import location_map_from_vertices, vertices_from_location_map
    from uvkit.template import load_template

    template = load_template(args.template)
    options = {}
    if args.detail_scale is not None:
        options["detail_scale"] = args.detail_scale
    if options:
        build.parameterize_template = functools.partial(build.parameterize_template, **options)
    kwargs = {"seams": args.seams} if args.seams else {}

    start = time.perf_counter()
    uvmap = build.build_uv(template, **kwargs)
    wall = time.perf_counter() - start
    stats = uvmap.meta["stats"]
    params = uvmap.meta["parameters"]
    report: dict = {
        "template": template.name, "n_vertices": template.n_vertices, "parameters": params,
        "build_seconds": wall, "scaf_solve_seconds": stats["solve_seconds"],
        "lookup_seconds": stats["lookup_seconds"],
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "flipped_triangles": stats["flipped_triangles"], "boundary_self_overlaps": stats["boundary_self_overlaps"],
        "symmetry_error": build.symmetry_error(uvmap), "coverage": stats["coverage"],
        "area_distortion": {k: stats[f"area_distortion_{k}"] for k in ("solver", "equalized", "final")},
    }
    print(f"template {template.name}: {template.n_vertices} vertices; parameters {json.dumps(params)}")
    print(f"build-uv {wall:.2f} s (bare {params['solver']} solve {stats['solve_seconds']:.2f} s, "
          f"lookup tables {stats['lookup_seconds']:.2f} s), peak memory {report['peak_memory_mb']:.0f} MB")
    print(f"flips {report['flipped_triangles']}, overlaps {report['boundary_self_overlaps']}, "
          f"symmetry error {report['symmetry_error']:.2e}, coverage {report['coverage']:.3f}")
    ad = report["area_distortion"]
    print("area distortion mean |log r|: solver {:.3f} -> area step {:.3f} -> final {:.3f} "
          "(final p5 / p95 {:.2f} / {:.2f})".format(ad["solver"]["mean_abs_log"], ad["equalized"]["mean_abs_log"],
                                                     ad["final"]["mean_abs_log"], ad["final"]["p5"], ad["final"]["p95"]))
    sys.stdout.flush()

    if not args.no_s1s2:
        t = time.perf_counter()
        uv = metrics.vertex_uv(uvmap.vt, uvmap.ft, uvmap.vt2v, template.n_vertices, copies="first")
        s1, s2 = metrics.s1_s2(template.faces, uv, distance="hops", mirror=template.mirror)
        report.update(S1=s1, S2=s2)
        print(f"S1 {s1:.4f}, S2 {s2:.4f} (hop counts, first copy; {time.perf_counter() - t:.1f} s)")

    quality = lookup_quality(uvmap, template, n_poses=args.poses)
    groups = {"head": (12, 15), "hands and feet": (7, 8, 10, 11, 20, 21, 22, 23)}
    report["round_trip"] = {}
    for resolution, entry in quality.items():
        rest, posed = entry["round_trip_mm"], entry.get("round_trip_posed_mm")
        table = uvmap.tables[resolution]
        back = vertices_from_location_map(location_map_from_vertices(template.vertices, template.faces, table),
                                          uvmap.vt, uvmap.vt2v, template.n_vertices)
        error = np.linalg.norm(back - template.vertices, axis=1) * 1000.0
        by_group = {}
        if template.parts is not None:
            for name, ids in groups.items():
                by_group[name] = float(error[np.isin(template.parts, ids)].mean())
            by_group["rest of the body"] = float(error[~np.isin(template.parts, sum(groups.values(), ()))].mean())
        worst = [JOINT_NAMES[p] for p in entry.get("worst_parts", [])]
        line = f"[{resolution}] round trip mean / p99 / max {rest['mean']:.2f} / {rest['p99']:.1f} / {rest['max']:.1f} mm"
        if posed:
            line += f"; posed {posed['mean']:.2f} / {posed['p99']:.1f} / {posed['max']:.1f} mm"
        print(line)
        if by_group:
            print("      mean by part: " + ", ".join(f"{k} {v:.2f}" for k, v in by_group.items())
                  + f"; worst vertices on {', '.join(worst)}")
        report["round_trip"][str(resolution)] = {**entry, "by_group_mean_mm": by_group, "worst_part_names": worst}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
