"""The ``uvkit`` command line. Each ``main`` only parses arguments and calls library functions."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__
from .errors import UvkitError


def _progress(message: str) -> None:
    print(f"[uvkit] {message}", file=sys.stderr, flush=True)


def cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    from .landmarks import detail_tips, template_landmarks
    from .mesh import boundary_loops, describe_handles, describe_points
    from .symmetry import template_mirror
    from .template import load_template
    from .unwrap import symmetric_rest_shape

    start = time.perf_counter()
    template = load_template(args.template)
    load_time = time.perf_counter() - start
    holes = sorted((len(loop) for loop in boundary_loops(template.faces)), reverse=True)
    if not args.json:
        # what the file is, before the steps that may stop on it (a template with holes often has no landmarks)
        print(f"{template.source}: {template.report.describe()}")
        print(f"  sha256 {template.sha256}")
        if holes:
            print(f"  holes: {len(holes)} (boundary loops of {_counts(holes)} vertices); build-uv needs a closed "
                  "surface: 'uvkit close-holes' caps them", flush=True)
        if template.report.handles:
            print(f"  handles: near {describe_handles(template.report.handles)} (the file's coordinates, most loops "
                  "first); build-uv needs genus 0", flush=True)
        if template.report.n_pinched:
            near = describe_points(template.report.pinched, template.report.n_pinched > len(template.report.pinched))
            print(f"  touching itself: near {near} (the file's coordinates); build-uv needs one fan of triangles "
                  "at every vertex: pull the parts apart", flush=True)
    mirror = template_mirror(template, allow_asymmetric=args.no_symmetry)
    landmarks = template_landmarks(template, mirror, up=args.up, front=args.front, units=args.units)
    try:
        # on the mirror-symmetric, denoised shape that build-uv routes its seams on
        rest = symmetric_rest_shape(landmarks.vertices, template.faces, mirror.permutation)
        seam_tips = detail_tips(dataclasses.replace(landmarks, vertices=rest), template.faces, mirror.permutation)
    except UvkitError as error:  # reported, not fatal: info describes what it can
        seam_tips = {"error": str(error)}
    unit_mm = 1000.0 * landmarks.frame.scale
    info = {
        "template": template.source,
        "sha256": template.sha256,
        "vertices": template.n_vertices,
        "faces": template.n_faces,
        "closed": template.report.closed,
        "boundary_loops": template.report.n_boundary_loops,
        # vertices round each hole, largest first (build-uv needs none; 'uvkit close-holes' caps them)
        "hole_sizes": holes,
        "genus": template.report.genus,
        # where the handles are: [x, y, z] in the file's coordinates, and how many of the 2 g
        # edges closing a system of loops round them lie there (uvkit.mesh.handle_places)
        "handles": [{"near": list(place), "loop_edges": count} for place, count in template.report.handles],
        # coincident vertices of a mesh file welded (repeated by its exporter at UV seams, hard edges)
        "welded_vertices": template.report.n_welded,
        # triangles of a mesh file left out: with a repeated corner, or the corners of an earlier one
        "collapsed_triangles": template.report.n_collapsed_faces,
        "repeated_triangles": template.report.n_repeated_faces,
        # triangles whose winding was turned (every one: the file was wound inward)
        "rewound_triangles": template.report.n_rewound,
        # vertices where the surface touches itself (several fans), and where the first few are
        "touching_vertices": template.report.n_pinched,
        "touching_near": [list(place) for place in template.report.pinched],
        "rig": template.has_rig,
        "joints": None if template.weights is None else int(template.weights.shape[1]),
        "betas": None if template.shapedirs is None else int(template.shapedirs.shape[2]),
        "native_uv": template.vt is not None,
        "mirror_stored": template.mirror is not None,
        "mirror_mean_mm": mirror.mean_mismatch * unit_mm,
        "mirror_max_mm": mirror.max_mismatch * unit_mm,
        "mirror_self_vertices": mirror.n_self,
        "landmarks": {**landmarks.as_dict(), "seam_tips": seam_tips},
        "load_seconds": load_time,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        rig = f"{info['joints']} joints, {info['betas']} betas" if info["rig"] else "none (a bare mesh)"
        print(f"  rig: {rig}; native UV: {'yes' if info['native_uv'] else 'no'}")
        print(f"  {mirror.describe(unit_mm)} ({'stored' if info['mirror_stored'] else 'found'})")
        for line in landmarks.describe().splitlines():
            print(f"  {line}")
        if "error" in seam_tips:
            print(f"  seam tips: none ({seam_tips['error']})")
        else:
            print("  seam tips (preset 'full'): " + ", ".join(f"{name} {len(ids)}" for name, ids in seam_tips.items()))
        print(f"  loaded in {load_time:.3f} s")
    return 0


def _resolutions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,128,256, got '{text}'") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"resolutions must be integers >= 2, got '{text}'")
    return values


def _detail_scale(text: str):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 1, got '{text}'") from None
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 1, got '{text}'")
    return value


def cmd_import_uv(args: argparse.Namespace) -> int:
    from .importuv import import_uvmap
    from .template import load_template

    _check_output(args.output)
    template = load_template(args.template)
    source = None if args.uv in ("native", None) else args.uv
    uvmap = import_uvmap(template, source, args.resolutions)
    uvmap.save(args.output)
    tables = ", ".join(f"{r}: {uvmap.tables[r].mask.mean():.1%} valid" for r in uvmap.resolutions)
    print(f"wrote {args.output}: {len(uvmap.vt)} UV vertices for {uvmap.n_vertices} vertices ({tables})")
    return 0


def _check_output(path: str) -> None:
    """Fail before any long work when the output file cannot be written."""
    import os
    from pathlib import Path

    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder is not writable: {folder}")


def _uvmap_parts(uvmap, template):
    """Part labels of a template: its rig's, else the ones build-uv found (landmarks, same frame)."""
    if template.parts is not None:
        return template.parts
    return _parts_and_unit(template, uvmap.meta.get("landmarks", {}).get("frame"))[0]


def _parts_and_unit(template, frame: dict | None = None):
    """Part labels (the rig's, else found from the geometry) and millimetres per template unit.

    ``frame``: the frame a map of this template was built in (its meta), used instead of a new
    detection. A template whose landmarks cannot be found is measured without parts, in metres.
    """
    from .landmarks import template_landmarks

    frame = frame or {}
    try:
        landmarks = template_landmarks(template, up=frame.get("up"), front=frame.get("front"), units=frame.get("units"))
    except UvkitError as error:
        _progress(f"no landmarks ({error}); measuring in metres, without part labels")
        return template.parts, 1000.0
    return landmarks.parts, 1000.0 * landmarks.frame.scale


def cmd_export_uv(args: argparse.Namespace) -> int:
    from .exportuv import export_uv
    from .template import load_template
    from .uvmap import load_uvmap

    _check_output(args.output)
    template = load_template(args.template)
    uvmap = load_uvmap(args.map, template)
    parts = _uvmap_parts(uvmap, template) if args.texture == "parts" else None
    written = export_uv(uvmap, template, args.output, texture=args.texture, parts=parts, texture_size=args.texture_size)
    print(f"wrote {', '.join(map(str, written))}: {template.n_vertices} vertices, {len(uvmap.vt)} texture coordinates")
    return 0


def _counts(values: list[int], most: int = 8) -> str:
    """'163, 163, 18' (the first ``most``, then '...')."""
    return ", ".join(map(str, values[:most])) + (", ..." if len(values) > most else "")


def _write_template(template, output) -> None:
    """Write ``template`` as ``output`` (.npz: every key; .obj: positions and faces, 17 digits), atomically."""
    from . import atomic
    from .exportuv import obj_text
    from .template import save_template_npz

    if output.suffix.lower() == ".npz":
        save_template_npz(template, output)
    else:
        if template.has_rig:
            print("warning: an .obj holds positions and faces only; write .npz to keep the rig", file=sys.stderr)
        atomic.write_text(output, obj_text(template.vertices, template.faces, comment="written by uvkit"))


def _rewrite_job(args: argparse.Namespace):
    """The template a rewriting command reads (``args.template``) and the path it writes
    (``args.output``, checked first: .obj or .npz, writable)."""
    from .template import load_template

    output = _template_output(args.output)
    return load_template(args.template), output


def _warn_rig_dropped(template) -> None:
    if template.has_rig:
        print("warning: the rig is not carried over (the vertices are new ones); this is for meshes, not rigged "
              "templates", file=sys.stderr)


def _write_result(template, output) -> None:
    """Write a repaired template (:func:`_write_template`) and say what it is, with a warning
    when it is still not what build-uv needs (closed, genus 0)."""
    if not template.report.closed or template.report.genus != 0:
        hint = "; 'uvkit close-holes' caps its holes" if not template.report.closed else ""
        print(f"warning: the result is {template.report.describe()}{hint}", file=sys.stderr)
    _write_template(template, output)
    print(f"wrote {output}: {template.report.describe()}")


def _template_output(path: str):
    from pathlib import Path

    output = Path(path)
    if output.suffix.lower() not in (".obj", ".npz"):
        raise UvkitError(f"{output}: write the template as .obj or .npz")
    _check_output(path)
    return output


def cmd_largest_piece(args: argparse.Namespace) -> int:
    from .holes import largest_piece
    from .template import OPEN_BODY_NAMES, open_body_path, read_template_arrays, template_from_arrays

    output = _template_output(args.output)
    data = read_template_arrays(open_body_path() if args.template in OPEN_BODY_NAMES else args.template)
    kept, removed, moved = largest_piece(data, args.template)
    template = template_from_arrays(kept, source=args.template)
    if removed:
        print(f"{args.template}: kept the largest piece ({template.n_vertices} vertices, numbered in the file's order "
              f"without the others); left out {len(removed)} piece(s) of {_counts(removed)} vertices")
    else:
        print(f"{args.template}: one piece; written unchanged")
    if moved:
        print(f"warning: the joint regressor of joint(s) {moved} weighed vertices of the removed pieces: those joints move",
              file=sys.stderr)
    _write_result(template, output)
    return 0


def cmd_close_holes(args: argparse.Namespace) -> int:
    from .holes import close_holes

    template, output = _rewrite_job(args)
    closed, loops = close_holes(template)
    if loops:
        sizes = sorted((len(loop) for loop in loops), reverse=True)
        print(f"{template.source}: capped {len(loops)} hole(s) (boundary loops of {_counts(sizes)} vertices): "
              f"{closed.n_vertices - template.n_vertices} new vertices (numbered after the template's "
              f"{template.n_vertices}), {closed.n_faces - template.n_faces} new triangles")
    else:
        print(f"{template.source}: no holes; written unchanged")
    _write_result(closed, output)
    return 0


def cmd_decimate(args: argparse.Namespace) -> int:
    from .holes import decimated

    template, output = _rewrite_job(args)
    start = time.perf_counter()
    smaller = decimated(template, args.vertices)
    if smaller is template:
        print(f"{template.source}: {template.n_vertices} vertices, not more than {args.vertices}; written unchanged")
    else:
        print(f"{template.source}: {template.n_vertices} -> {smaller.n_vertices} vertices, {template.n_faces} -> "
              f"{smaller.n_faces} triangles by quadric edge collapse ({time.perf_counter() - start:.1f} s)")
        _warn_rig_dropped(template)
    _write_result(smaller, output)
    return 0


def cmd_symmetrize(args: argparse.Namespace) -> int:
    import numpy as np

    from .halves import symmetrized

    template, output = _rewrite_job(args)
    start = time.perf_counter()
    side = -1.0 if args.other_half else 1.0
    symmetric, normal = symmetrized(template, side)
    largest = int(np.argmax(np.abs(normal)))
    axis = "xyz"[largest]
    sign = "+" if side * normal[largest] > 0 else "-"
    print(f"{template.source}: kept the half at {sign}{axis} of the mirror plane (normal {np.round(normal, 4).tolist()}) "
          f"and joined it to its reflection: {template.n_vertices} -> {symmetric.n_vertices} vertices, exactly "
          f"symmetric ({time.perf_counter() - start:.1f} s)")
    _warn_rig_dropped(template)
    if output.suffix.lower() != ".npz":
        print("note: an .obj does not store the mirror; build-uv finds it again (exact: the triangulation mirrors)")
    _write_result(symmetric, output)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import atomic, metrics
    from .compare import format_table, measure_map
    from .plot import plot_distance_matrices, plot_uv_layout
    from .template import load_template
    from .uvmap import load_uvmap

    template = load_template(args.template)
    names = args.names.split(",") if args.names else [Path(p).stem for p in args.maps]
    if len(names) != len(args.maps) or len(set(names)) != len(names):
        raise UvkitError(f"--names must give {len(args.maps)} distinct names, got {names}")
    maps = {name: load_uvmap(path, template) for name, path in zip(names, args.maps)}
    built = [m.meta["landmarks"]["frame"] for m in maps.values() if "landmarks" in m.meta]
    parts, unit_mm = _parts_and_unit(template, built[0] if built else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, uvmap in maps.items():
        _progress(f"measuring {name}")
        start = time.perf_counter()
        results[name] = measure_map(uvmap, template, distance=args.distance, copies=args.copies,
                                    n_poses=args.poses, progress=_progress, unit_mm=unit_mm)
        results[name]["source"] = str(Path(args.maps[names.index(name)]).name)
        results[name]["seconds"] = time.perf_counter() - start
    table = format_table(results)
    print(table)
    report = {"template": template.source, "template_sha256": template.sha256, "maps": results}
    atomic.write_text(out / "compare.json", json.dumps(report, indent=2) + "\n")
    atomic.write_text(out / "compare.txt", table + "\n")
    from .weights import face_parts

    for name, uvmap in maps.items():
        plot_uv_layout(uvmap.vt, uvmap.ft, out / f"uv_{name}.png", parts=None if parts is None else face_parts(template.faces, parts), title=f"{name} ({results[name]['S1']:.3f} / {results[name]['S2']:.3f})")
    uvs = {name: metrics.vertex_uv(m.vt, m.ft, m.vt2v, template.n_vertices, copies=args.copies) for name, m in maps.items()}
    plot_distance_matrices(template.faces, uvs, out / "distance_matrices.png", vertices=template.vertices,
                           parts=parts, distance=args.distance,
                           scores={name: (r["S1"], r["S2"]) for name, r in results.items()})
    print(f"wrote {out / 'compare.json'}, {out / 'compare.txt'}, {out / 'distance_matrices.png'} and {len(maps)} UV layout figures")
    return 0


#: build-uv suggests ``uvkit decimate`` above this many vertices.
LARGE_TEMPLATE = 50_000


def cmd_build_uv(args: argparse.Namespace) -> int:
    from .build import build_uv, symmetry_error
    from .holes import DECIMATE_VERTICES
    from .template import load_template

    _check_output(args.output)
    start = time.perf_counter()
    template = load_template(args.template)
    _progress(f"loaded {template.source} ({template.n_vertices} vertices) in {time.perf_counter() - start:.2f} s")
    if template.n_vertices > LARGE_TEMPLATE:
        print(f"warning: {template.n_vertices} vertices: build-uv takes minutes at this size (6 minutes for a "
              f"94,000-vertex scan on 2 cores); 'uvkit decimate {args.template} -o smaller.obj' makes a copy of "
              f"{DECIMATE_VERTICES} vertices", file=sys.stderr)
    uvmap = build_uv(
        template,
        seams=args.seams,
        solver=args.solver,
        iterations=args.iterations,
        warmup=args.warmup,
        area_iterations=args.area_iterations,
        margin=args.margin,
        stretch=args.stretch,
        detail_scale=args.detail_scale,
        resolutions=args.resolutions,
        allow_asymmetric=args.no_symmetry,
        symmetric=not args.no_symmetry,
        strict_symmetry=args.strict_symmetry,
        up=args.up,
        front=args.front,
        units=args.units,
        progress=_progress,
    )
    uvmap.save(args.output)
    stats = uvmap.meta.get("stats", {})
    print(
        f"wrote {args.output}: {len(uvmap.vt)} UV vertices, {stats.get('flipped_triangles')} flipped triangles, "
        f"{stats.get('boundary_self_overlaps')} boundary self-overlaps, symmetry error {symmetry_error(uvmap):.2e}, "
        f"coverage {stats.get('coverage', float('nan')):.1%}, {time.perf_counter() - start:.1f} s"
    )
    if stats.get("symmetry_released_uv_vertices"):
        print(f"warning: exactly symmetric except at {stats['symmetry_released_uv_vertices']} of {len(uvmap.vt)} UV "
              f"vertices ({stats['symmetry_released_vertices']} template vertices) around folds that no symmetric "
              f"placement removes (their symmetry error: median {stats['symmetry_error_released_median']:.1e}); "
              "the map counts as not symmetric (no left-right flips in training); --strict-symmetry stops instead")
    fallback = uvmap.meta.get("symmetry_fallback")
    if fallback and fallback.get("no_symmetric_map"):
        print(f"warning: no exactly symmetric map could be made for this template ({fallback['no_symmetric_map']}); "
              f"the map made without the mirror averaging (as with --no-symmetry) was kept "
              f"({fallback['overlaps'][1]} overlaps, {fallback['round_trip_mm'][1]:.2f} mm at 128): symmetry error "
              f"{symmetry_error(uvmap):.2g}, it counts as not symmetric (no left-right flips in training); "
              "--strict-symmetry stops instead")
    elif fallback:
        released = fallback["released_uv_vertices"]
        why = (f"no exactly symmetric map without folds exists for this template (the symmetric one released "
               f"{released} UV vertices from exact symmetry and had" if released else
               "the exactly symmetric map's chart overlapped itself (it had")
        print(f"warning: {why} {fallback['overlaps'][0]} boundary overlaps, round trip "
              f"{fallback['round_trip_mm'][0]:.2f} mm at 128); the map made without the mirror averaging (as with "
              f"--no-symmetry) is better ({fallback['overlaps'][1]} overlaps, {fallback['round_trip_mm'][1]:.2f} mm) "
              f"and was kept: symmetry error {symmetry_error(uvmap):.2g}, it counts as not symmetric (no left-right "
              "flips in training); --strict-symmetry never falls back")
    if fallback or stats.get("symmetry_released_uv_vertices"):
        print(f"hint: 'uvkit symmetrize {args.template} -o symmetric.npz' makes the body exactly symmetric from one "
              "of its halves (new vertices), and its map then can be")
    if args.figure:
        from .plot import plot_uv_layout

        from .weights import face_parts

        plot_uv_layout(uvmap.vt, uvmap.ft, args.figure, parts=face_parts(template.faces, _uvmap_parts(uvmap, template)),
                       title=f"{template.name}: continuous UV ({args.seams}, {args.solver})",
                       marked=uvmap.meta.get("symmetry_released_uv"), marked_label="released from exact symmetry")
        print(f"wrote {args.figure}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uvkit",
        description=(
            "Continuous, left-right symmetric UV maps for body templates. A template is an "
            "SMPL-format .pkl (read safely, without chumpy), an .npz with the same keys, a mesh "
            "file (.obj/.ply/.glb/.off/.stl), or 'open' for the project's open body."
        ),
    )
    parser.add_argument("--version", action="version", version=f"uvkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    info = sub.add_parser("info", help="validate a template and report its topology and symmetry")
    info.add_argument("--template", "-t", default="open", help="template file, or 'open' (default)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--no-symmetry", action="store_true", help="accept a template far from left-right symmetric")
    _frame_options(info)
    info.set_defaults(func=cmd_info)

    from .cut import SEAM_PRESETS
    from .param import SOLVERS
    from .layout import FILL_STRETCH
    from .unwrap import DEFAULT_AREA_ITERATIONS, DEFAULT_ITERATIONS, DEFAULT_MARGIN, DEFAULT_SEAMS, DEFAULT_SOLVER, DEFAULT_WARMUP

    build = sub.add_parser(
        "build-uv",
        help="build the continuous, left-right symmetric UV map of a template",
        description=(
            "Cut the template into one disk along a left-right symmetric seam tree, map it to the "
            "plane (Tutte start, SLIM warm-up, SCAF or SLIM, then an area-equalising step), make the "
            "map exactly symmetric, pack it so that it fills the unit square and rasterize the lookup tables. "
            "The template must be closed, genus 0 and (nearly) left-right symmetric."
        ),
        epilog="SCAF wraps Shewchuk's Triangle, whose licence restricts commercial use; use --solver slim to avoid it.",
    )
    build.add_argument("--template", "-t", default="open", help="template file (SMPL .pkl, .npz, .obj, ...), or 'open' (default)")
    build.add_argument("-o", "--output", required=True, help="the UV map file to write (.npz)")
    build.add_argument("--seams", choices=sorted(SEAM_PRESETS), default=DEFAULT_SEAMS, help=f"seam preset (default {DEFAULT_SEAMS}; see docs/seams.md)")
    build.add_argument("--solver", choices=list(SOLVERS), default=DEFAULT_SOLVER, help=f"parameterization solver (default {DEFAULT_SOLVER})")
    build.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help=f"solver iterations (default {DEFAULT_ITERATIONS})")
    build.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help=f"SLIM warm-up iterations (default {DEFAULT_WARMUP})")
    build.add_argument("--area-iterations", type=int, default=DEFAULT_AREA_ITERATIONS, help=f"area-equalising iterations, 0 disables (default {DEFAULT_AREA_ITERATIONS})")
    build.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help=f"empty border of the unit square (default {DEFAULT_MARGIN})")
    build.add_argument(
        "--stretch", type=float, default=FILL_STRETCH,
        help=(f"the chart fills the square, scaled along u and v by factors that differ by at most this much "
              f"(default {FILL_STRETCH}: a tall, narrow body gets up to 25%% more texels across; area shares and "
              "symmetry are kept, angles change by that factor; 1 keeps the aspect ratio)"),
    )
    build.add_argument(
        "--detail-scale", type=_detail_scale, default="auto",
        help=(
            "texel budget of the head, hands and feet: they are enlarged by this factor in length "
            "before flattening ('auto' (default): by how much finer they are meshed than the rest, "
            "at most 3; 1: strictly area-preserving, as in the paper; see docs/seams.md)"
        ),
    )
    build.add_argument("--resolutions", type=_resolutions, default=(64, 128, 256), help="lookup-table sizes (default 64,128,256)")
    build.add_argument("--figure", help="also write the UV layout figure (PNG), faces coloured by body part")
    build.add_argument("--no-symmetry", action="store_true",
                       help="accept a template far from left-right symmetric, and do not make the map "
                            "symmetric anywhere (the seams are still mirrored; the symmetry error is reported). A "
                            "merely noisy or coarse template needs no flag: where an exactly symmetric map keeps "
                            "folds, the default releases the vertices around them from symmetry, makes this map "
                            "too, keeps the one that gives the body back better, and reports it")
    build.add_argument("--strict-symmetry", action="store_true",
                       help="stop with an error where the exactly symmetric map keeps folds after the mirror was "
                            "re-paired near them (default: release the vertices around those folds from exact "
                            "symmetry, keep the rest exact, report how many, and keep the map made as with "
                            "--no-symmetry instead when it overlaps itself less or gives the body back better)")
    _frame_options(build)
    build.set_defaults(func=cmd_build_uv)

    comp = sub.add_parser(
        "compare",
        help="measure UV maps of one template side by side: S1/S2, distortion, lookup round trip, figures",
        description=(
            "Measure UV map files of the same template: S1 (correlation) and S2 (cosine similarity) "
            "of the mesh distance matrix and the UV distance matrix (the DecoMR paper's Table 1), "
            "distortion, and the lookup tables' quality (valid texels, shared texels, round trip "
            "template -> location map -> vertices at rest and posed). Prints one table (a column per "
            "map) and writes compare.json, compare.txt, the distance-matrix figure and a UV layout "
            "figure per map into --out."
        ),
    )
    comp.add_argument("maps", nargs="+", help="UV map files (.npz) made by build-uv or import-uv")
    comp.add_argument("--template", "-t", default="open", help="the template they belong to, or 'open' (default)")
    comp.add_argument("--out", default="out/compare", help="folder for the report and figures (default out/compare)")
    comp.add_argument("--names", help="comma-separated column names (default: file stems)")
    comp.add_argument("--distance", choices=["hops", "geodesic"], default="hops", help="mesh distance: hop counts (default, the paper's numbers) or edge-length geodesics")
    comp.add_argument("--copies", choices=["first", "mean"], default="first", help="UV position of a seam vertex: first copy in face order (default) or mean of copies")
    comp.add_argument("--poses", type=int, default=4, help="random posed bodies for the posed round trip (default 4; 0 skips)")
    comp.set_defaults(func=cmd_compare)

    imp = sub.add_parser(
        "import-uv",
        help="turn an existing UV map (an OBJ with vt lines, or the template's native atlas) into a UV map file",
        description=(
            "Import an existing UV map: an OBJ with texture coordinates whose vertices are the "
            "template's (matched by index when the counts agree, else by position), or the "
            "template's own native atlas ('native'). Multi-chart maps are fine; the same lookup "
            "tables as build-uv are made."
        ),
    )
    imp.add_argument("uv", nargs="?", default="native", help="UV-mapped OBJ, or 'native' (default)")
    imp.add_argument("--template", "-t", default="open", help="template file, or 'open' (default)")
    imp.add_argument("-o", "--output", required=True, help="the UV map file to write (.npz)")
    imp.add_argument("--resolutions", type=_resolutions, default=(64, 128, 256), help="lookup-table sizes (default 64,128,256)")
    imp.set_defaults(func=cmd_import_uv)

    from .exportuv import DEFAULT_TEXTURE_SIZE, TEXTURES

    exp = sub.add_parser(
        "export-uv",
        help="write the template with a UV map as texture coordinates (.obj or .glb), to open in Blender or MeshLab",
        description=(
            "Write the template with the UV map as its texture coordinates. The OBJ keeps the "
            "template's vertices in their order and frame (a seam vertex gets one texture "
            "coordinate per side: 'f v/vt'), so 'uvkit import-uv' reads it back to the same map; "
            "the .glb splits the seam vertices. Texture coordinates follow each format's convention "
            "(OBJ: v grows upwards, written as 1 - v). --texture adds an image beside the mesh, "
            "referenced by its material: a checkerboard, or the body parts in the colours of the "
            "UV figures."
        ),
    )
    exp.add_argument("map", help="the UV map file (.npz) made by build-uv or import-uv")
    exp.add_argument("--template", "-t", default="open", help="the template it belongs to, or 'open' (default)")
    exp.add_argument("-o", "--output", required=True, help="the mesh to write: .obj (plus .mtl with a texture) or .glb")
    exp.add_argument("--texture", choices=list(TEXTURES), help="also write a texture image <stem>_<texture>.png")
    exp.add_argument("--texture-size", type=int, default=DEFAULT_TEXTURE_SIZE, help=f"texture image side in pixels (default {DEFAULT_TEXTURE_SIZE})")
    exp.set_defaults(func=cmd_export_uv)

    _template_command(
        sub, "close-holes", cmd_close_holes,
        "cap the holes of a template (a scan's eyes, a cut-off neck) so that build-uv can map it",
        "Cap every hole (boundary loop) of a template: a loop of three vertices becomes a triangle, a "
        "longer one is filled by rings of new vertices shrinking to its centre (holes that mirror each "
        "other get caps that mirror each other). The template's vertices keep their numbers; the new "
        "ones come after them (an .npz keeps the rig: a new vertex takes the weights and blend shapes "
        "of the rim point it was drawn from, blended towards its loop's mean).",
        "the template with holes (mesh file, .npz or .pkl)")
    _template_command(
        sub, "largest-piece", cmd_largest_piece,
        "keep a template's largest connected piece (SMPL-X and FLAME carry their eyeballs as separate pieces)",
        "Keep the largest connected piece of a template and leave out the others (eyeballs, teeth). The "
        "kept vertices keep the file's order, renumbered without the others; an .npz keeps the rig rows "
        "of the kept vertices (the joints whose regressor used a removed piece are named).",
        "the template of several pieces (mesh file, .npz or .pkl)")
    from .holes import DECIMATE_VERTICES

    decimate = _template_command(
        sub, "decimate", cmd_decimate,
        "bring a scan down to a template's size (about 20,000 vertices) before build-uv",
        "Reduce a mesh to about --vertices vertices by quadric edge collapse (libigl's qslim), keeping it "
        "closed. A scan or a sculpt of 100,000 vertices and more takes build-uv many minutes (its mirror, "
        "SLIM and SCAF grow faster than the vertex count) for detail no location map resolves. "
        "The vertices are new ones: positions and faces are written, not a rig.",
        "the mesh to decimate (mesh file, .npz or .pkl)")
    decimate.add_argument("--vertices", type=int, default=DECIMATE_VERTICES,
                          help=f"vertices to keep (default {DECIMATE_VERTICES})")
    symmetrize = _template_command(
        sub, "symmetrize", cmd_symmetrize,
        "make a body exactly symmetric from one of its halves (a scan, so that its UV map can be symmetric)",
        "Cut a body along its mirror plane, keep one half (by default the one the plane's normal points to: "
        "+x, the body's left, for a body facing +z with y up) and join it to its reflection. A scan or a "
        "remesh has sides meshed independently, so no exactly symmetric UV map of it exists; the result "
        "has a mirror-symmetric triangulation, and an .npz stores its mirror. The vertices are new ones "
        "(no rig is carried); a noisy surface that crosses the plane back and forth is refused.",
        "the body to symmetrize (mesh file, .npz or .pkl)")
    symmetrize.add_argument("--other-half", action="store_true", help="keep the half on the other side of the plane")
    return parser


def _template_command(sub, name: str, func, help_text: str, description: str, template_help: str):
    """A command that reads a template and writes another one (-o .obj or .npz); returns its parser."""
    command = sub.add_parser(name, help=help_text, description=description)
    command.add_argument("template", help=template_help)
    command.add_argument("-o", "--output", required=True, help="the template to write: .obj or .npz")
    command.set_defaults(func=func)
    return command


def _frame_options(parser: argparse.ArgumentParser) -> None:
    from .frame import AXIS_NAMES, UNITS

    parser.add_argument("--up", choices=list(AXIS_NAMES), help="the template's up axis (default: detected, from the feet to the head)")
    parser.add_argument("--front", choices=list(AXIS_NAMES), help="the direction the body faces (default: detected, where the toes point); a negative axis is written --front=-y")
    parser.add_argument("--units", choices=list(UNITS), help="the template's units (default: detected from the body's height, 0.5-2.5 m)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UvkitError, FileNotFoundError, PermissionError) as error:
        print(f"uvkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"uvkit {args.command}: interrupted; nothing half-written was left", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of the output went away (``uvkit info | head``): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
