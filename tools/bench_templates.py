"""Benchmark ``uvkit build-uv`` with its defaults on the test templates and the open body.

For every template (the files of tools/make_test_templates.py, written first when missing, and
the rigged open body) it builds the map as ``uvkit build-uv`` would,
then prints one markdown row: vertices, seam edges, flipped triangles, boundary
self-overlaps, symmetry error, S1 / S2 (hop counts, first UV copy of a seam vertex: the
``uvkit compare`` definition), the round trip template -> location map -> vertices at 128 and
256 (mean / max in mm at the body's real size: the detected units are taken into account;
read back as decomr does, without taps from across a cut, ``uvkit.raster.sample_weights``),
the same at 128 with plain bilinear sampling (the DecoMR paper's read-out)
and the wall time of the build, with the targets each row misses.

A template that fails with the defaults where the error advises ``--no-symmetry`` is measured
once more that way (a second row).

``--bad-input`` instead times ``uvkit build-uv`` on broken copies of the open body (twisted so
that no mirror plane exists, far from symmetric, with a hole, lying down, a hand pressed onto a
thigh): each must stop with one error naming the file, within ``BAD_INPUT_SECONDS``, writing
nothing.

Usage: python tools/bench_templates.py [--out out/test_templates] [--only a,b,open] [--json OUT]
       python tools/bench_templates.py --bad-input [--out out/test_templates]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: what each test template of tools/make_test_templates.py is, by letter (its FILE_NAMES).
DESCRIPTIONS = {
    "a": "decimated to ~7k vertices, asymmetric triangulation",
    "b": "(a) with vertex noise up to 13 mm",
    "c": "the open body as a plain OBJ",
    "d": "(a) in cm, Z up, facing -Y",
    "e": "the open body in an A-pose",
    "f": "SMPL-like: almost symmetric triangulation, smooth asymmetry up to 13 mm",
    "g": "(a) with a smooth asymmetry up to 13 mm",
    "h": "short and heavy (1.39 m), in mm",
    "i": "tall and thin (1.99 m)",
    "j": "coarse: decimated to ~3k vertices",
    "k": "quad-dominant (12,822 quads), as modelled",
    "l": "glTF with vertices split along the UV seams, as exported",
    "m": "scan-like: remeshed through its volume (marching cubes), decimated to 18k vertices",
    "n": "(m) made exactly symmetric by uvkit symmetrize",
    "o": "(a) as a mirrored export (triangles wound inward), tilted 7 / 3 / -4 degrees, off the origin",
    "p": "the open body with its arms raised 60 degrees (hands above the head)",
}
#: the targets of the UV map on every template.
TARGETS = {"S1": 0.85, "S2": 0.96, "rt128_mean_mm": 2.5, "rt128_max_mm": 30.0, "seconds": 20.0}
#: the DecoMR paper's map of SMPL, for comparison (Table 1; the released map's round trip).
PAPER_ROW = "| DecoMR paper, SMPL (its released map) | 6890 | | | | | 0.7758 | 0.9458 | | | 1.3 / 38 | | |"


def measure(template_path: str, symmetric: bool = True) -> dict:
    """Build the default map of one template (``symmetric=False``: as ``build-uv
    --no-symmetry`` does) and measure it. Returns a JSON-ready dict."""
    from uvkit import metrics
    from uvkit.build import build_uv, symmetry_error
    from uvkit.compare import lookup_quality
    from uvkit.template import load_template

    template = load_template(template_path)
    start = time.perf_counter()
    uvmap = build_uv(template, symmetric=symmetric, allow_asymmetric=not symmetric)
    seconds = time.perf_counter() - start
    stats = uvmap.meta["stats"]
    frame = uvmap.meta["landmarks"]["frame"]
    uv = metrics.vertex_uv(uvmap.vt, uvmap.ft, uvmap.vt2v, template.n_vertices, copies="first")
    s1, s2 = metrics.s1_s2(template.faces, uv, distance="hops", mirror=template.mirror)
    quality = lookup_quality(uvmap, template, n_poses=0, unit_mm=1000.0 * frame["scale"])
    row = {
        "vertices": template.n_vertices, "seam_edges": stats["n_seam_edges"],
        "flips": stats["flipped_triangles"], "overlaps": stats["boundary_self_overlaps"],
        "symmetry_error": symmetry_error(uvmap), "S1": s1, "S2": s2, "seconds": seconds,
        "coverage": stats["coverage"], "fill_stretch": stats["fill_stretch"],
        "released_uv": stats["symmetry_released_uv_vertices"],
        "symmetry_fallback": uvmap.meta.get("symmetry_fallback"),
        "landmarks": uvmap.meta["landmarks"]["source"], "frame": f"{frame['up']} up, {frame['front']} front, {frame['units']}",
    }
    for resolution in (128, 256):
        if resolution in quality:
            row[f"rt{resolution}_mean_mm"] = quality[resolution]["round_trip_mm"]["mean"]
            row[f"rt{resolution}_max_mm"] = quality[resolution]["round_trip_mm"]["max"]
    if 128 in quality:
        row["rt128_plain_mean_mm"] = quality[128]["round_trip_plain_mm"]["mean"]
        row["rt128_plain_max_mm"] = quality[128]["round_trip_plain_mm"]["max"]
    return row


def misses(row: dict) -> list[str]:
    """The targets a measured row does not meet."""
    out = []
    if row["flips"]:
        out.append("flips")
    if row["overlaps"]:
        out.append("overlaps")
    if row["symmetry_error"] > 1e-6:
        out.append("symmetry")
    for key in ("S1", "S2"):
        if row[key] < TARGETS[key]:
            out.append(key)
    for key in ("rt128_mean_mm", "rt128_max_mm", "seconds"):
        if row.get(key, float("inf")) > TARGETS[key]:
            out.append(key.replace("_mm", "").replace("rt128_", "round trip 128 "))
    return out


def format_row(name: str, row: dict) -> str:
    if "error" in row:
        return f"| {name} | | | | | | | | | | | fails: {row['error']} |"
    cells = [name, str(row["vertices"]), str(row["seam_edges"]), str(row["flips"]), str(row["overlaps"]),
             f"{row['symmetry_error']:.0e}", f"{row['S1']:.3f}", f"{row['S2']:.3f}",
             f"{row['rt128_mean_mm']:.2f} / {row['rt128_max_mm']:.1f}", f"{row['rt256_mean_mm']:.2f} / {row['rt256_max_mm']:.1f}",
             f"{row['rt128_plain_mean_mm']:.2f} / {row['rt128_plain_max_mm']:.1f}",
             f"{row['seconds']:.1f} s"]
    missed = misses(row)
    cells.append("all" if not missed else "misses " + ", ".join(missed))
    return "| " + " | ".join(cells) + " |"


#: the longest a refusal of bad input may take.
BAD_INPUT_SECONDS = 5.0


def bad_input(folder: Path) -> list[dict]:
    """Write the broken copies of the open body into ``folder`` and time build-uv on each."""
    import contextlib
    import io

    import numpy as np
    import trimesh

    from uvkit.cli import main as uvkit_main
    from uvkit.template import load_template

    body = load_template("open")
    V, F = body.vertices, body.faces
    height = np.ptp(V[:, 1])
    twist = np.deg2rad(60.0) * (V[:, 1] - V[:, 1].min()) / height
    cases = {
        "bad_twisted.obj": (np.stack([V[:, 0] * np.cos(twist) + V[:, 2] * np.sin(twist), V[:, 1],
                                      -V[:, 0] * np.sin(twist) + V[:, 2] * np.cos(twist)], axis=1), F),
        "bad_lopsided.obj": (V + np.where(V[:, [0]] > 0.1, [0.0, 0.0, 0.15], 0.0), F),
        "bad_hole.obj": (V, F[1:]),
        "bad_lying.obj": (V @ np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T, F),
        # the left hand's farthest vertex pressed onto the left thigh: the surface touches itself there
        "bad_touching.obj": (V, np.where(F == int(np.argmax(V[:, 0])), int(np.argmin(np.linalg.norm(
            V - [0.12, V[:, 1].min() + 0.45 * height, 0.1], axis=1))), F)),
    }
    rows = []
    for name, (vertices, faces) in cases.items():
        path = folder / name
        trimesh.Trimesh(vertices, faces, process=False).export(path)
        out = folder / f"{path.stem}_uv.npz"
        err = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = uvkit_main(["build-uv", "-t", str(path), "-o", str(out)])
        seconds = time.perf_counter() - start
        message = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
        rows.append({"file": name, "status": status, "seconds": seconds, "error": message,
                     "wrote": out.exists(), "names_file": name in message})
    return rows


HEADER = ("| template | vertices | seam edges | flips | overlaps | symmetry error | S1 | S2 | round trip 128 mean / max (mm) "
          "| round trip 256 mean / max (mm) | plain bilinear 128 mean / max (mm) | time | targets |\n|" + "---|" * 13)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/test_templates", help="folder of the test templates (default out/test_templates)")
    parser.add_argument("--only", help="comma-separated letters and/or 'open' (default: every template and the open body)")
    parser.add_argument("--json", help="also write every number to this JSON file")
    parser.add_argument("--bad-input", action="store_true", help="time the refusal of broken copies of the open body")
    args = parser.parse_args(argv)
    if args.bad_input:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        print("| file | exit status | seconds | names the file | wrote nothing | message |\n|---|---|---|---|---|---|")
        ok = True
        for row in bad_input(folder):
            good = row["status"] != 0 and row["names_file"] and not row["wrote"] and row["seconds"] <= BAD_INPUT_SECONDS
            ok &= good
            print(f"| {row['file']} | {row['status']} | {row['seconds']:.2f} | {row['names_file']} | {not row['wrote']} "
                  f"| {row['error'][:160]} |", flush=True)
        print(f"target: a clear error within {BAD_INPUT_SECONDS:.0f} s, nothing written: {'met' if ok else 'missed'}")
        return 0

    import make_test_templates as maker
    from uvkit.errors import UvkitError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = dict(sorted(maker.FILE_NAMES.items()))
    wanted = args.only.split(",") if args.only else list(files) + ["open"]
    unknown = [key for key in wanted if key != "open" and key not in files]
    if unknown:
        parser.error(f"unknown template(s) {unknown}; valid: {', '.join(files)}, open")
    missing = [key for key in wanted if key != "open" and not (out / files[key]).exists()]
    if missing:
        # (d) is made from (a)
        needed = sorted(set(missing) | ({"a"} if "d" in missing and not (out / files["a"]).exists() else set()))
        maker.main(["--out", str(out), "--only", ",".join(needed)])
    print(HEADER)
    print(PAPER_ROW, flush=True)
    results = {}
    for key in wanted:
        if key == "open":
            label, path = "open body (rigged)", "open"
        else:
            label, path = f"({key}) {files[key]}: {DESCRIPTIONS.get(key, '')}", out / files[key]
            if not path.exists():
                results[key] = {"error": f"{path} is missing"}
                print(format_row(label, results[key]), flush=True)
                continue
        try:
            results[key] = measure(str(path))
        except UvkitError as error:
            results[key] = {"error": str(error)}
        print(format_row(label, results[key]), flush=True)
        if "error" in results[key] and "--no-symmetry" in results[key]["error"]:
            # what the error advises: the map without the exact symmetry
            results[f"{key} --no-symmetry"] = measure(str(path), symmetric=False)
            print(format_row(f"({key}) with --no-symmetry", results[f"{key} --no-symmetry"]), flush=True)
    if args.json:
        from uvkit import atomic

        atomic.write_text(args.json, json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
