"""Benchmark ``uvkit.symmetry.find_mirror`` on a 20,000-vertex body, clean and noisy.

The body: the open body subdivided once (libigl ``upsample``) and decimated to 40,000 faces
(``uvkit.param.decimate``), so about 20,000 vertices in a triangulation that is not mirror
symmetric; the noisy copy adds independent uniform noise of up to 13 mm per axis to every
vertex (the test template (b)'s noise). For each, the mirror is found from the positions alone
and with the faces (what ``build-uv`` does); the table gives the median wall time of
``--repeats`` runs, the share of edges the mirror maps onto edges, the vertices whose one-ring
it maps in an impossible order (rotation conflicts; 0 is needed for an exactly symmetric flat
map) and the mean / largest mismatch. The target: <= 2 s with the faces; the noisy body is
drawn ``--draws`` times (noise seeds 0, 1, ...), and the verdict counts the draws that meet it.

With ``--baseline REF`` the ``find_mirror`` of git revision REF (``uvkit`` as committed there)
is timed beside the working tree's on every body with the faces, interleaved run by run (who
goes first alternates, so the machine's load affects both alike): the table then adds its
median, the ratio of the medians and whether both give the same permutation.

Usage: python tools/bench_mirror.py [--repeats 3] [--noise-mm 13] [--draws 3] [--baseline REF]
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from git_revision import import_at_revision  # tools/git_revision.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: target wall time of find_mirror with the faces at 20k vertices.
TARGET_SECONDS = 2.0


def body_20k() -> tuple:
    """The 20k-vertex body: (V, 3) float64, (F, 3) int64."""
    import igl
    import numpy as np

    from uvkit.param import decimate
    from uvkit.template import load_template

    body = load_template("open")
    V, F = igl.upsample(np.ascontiguousarray(body.vertices), np.ascontiguousarray(body.faces, dtype=np.int64))
    return decimate(V, F, 40_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per row (the median is printed)")
    parser.add_argument("--noise-mm", type=float, default=13.0, help="noise of the noisy copy, mm per axis")
    parser.add_argument("--draws", type=int, default=3, help="noisy copies, one noise seed each (default 3)")
    parser.add_argument("--baseline", default=None, metavar="REF",
                        help="git revision whose find_mirror is timed alongside, interleaved (with the faces)")
    args = parser.parse_args(argv)

    import numpy as np

    from uvkit.symmetry import consistent_edge_fraction, find_mirror, rotation_conflicts

    V, F = body_20k()
    bodies = [("clean", V)] + [
        (f"noise {args.noise_mm:g} mm" + (f", seed {seed}" if args.draws > 1 else ""),
         V + np.random.default_rng(seed).uniform(-args.noise_mm / 1000, args.noise_mm / 1000, size=V.shape))
        for seed in range(args.draws)]
    scratch = tempfile.TemporaryDirectory() if args.baseline else None
    contenders = {"current": find_mirror}
    if scratch is not None:
        import_at_revision(args.baseline, "uvkit", "baseline_uvkit", Path(scratch.name))
        contenders["baseline"] = importlib.import_module("baseline_uvkit.symmetry").find_mirror
    print(f"body: {len(V)} vertices, {len(F)} faces"
          + (f"; baseline: uvkit at {args.baseline}, interleaved with the faces" if args.baseline else ""))
    extra = " baseline seconds | current / baseline | same permutation |" if args.baseline else ""
    print(f"| body | with faces | seconds (median of {args.repeats}) | edges onto edges | rotation conflicts | "
          f"mismatch mean / max (mm) |{extra}")
    print("|---|---|---|---|---|---|" + ("---|---|---|" if args.baseline else ""))
    met = []
    for label, positions in bodies:
        for faces in (None, F):
            # the baseline only beside the runs that the target is about
            order = list(contenders.items()) if faces is not None else [("current", find_mirror)]
            times: dict[str, list[float]] = {key: [] for key, _ in order}
            results = {}
            for run in range(args.repeats):
                for key, function in (order if run % 2 == 0 else order[::-1]):   # alternate who goes first
                    start = time.perf_counter()
                    results[key] = function(positions, faces=faces, allow_asymmetric=True)
                    times[key].append(time.perf_counter() - start)
            seconds = statistics.median(times["current"])
            if faces is not None:
                met.append(seconds <= TARGET_SECONDS)
            mirror = results["current"]
            p = mirror.permutation
            row = (f"| {label} | {'yes' if faces is not None else 'no'} | {seconds:.2f} | "
                   f"{consistent_edge_fraction(F, p):.3f} | {len(rotation_conflicts(F, p))} | "
                   f"{1000 * mirror.mean_mismatch:.1f} / {1000 * mirror.max_mismatch:.1f} |")
            if args.baseline:
                if "baseline" in times:
                    old = statistics.median(times["baseline"])
                    same = np.array_equal(results["baseline"].permutation, p)
                    row += f" {old:.2f} | {old / seconds:.2f}x | {'yes' if same else 'no'} |"
                else:
                    row += " | | |"
            print(row, flush=True)
    print(f"target: <= {TARGET_SECONDS:g} s with the faces: met on {sum(met)} of {len(met)} bodies"
          + (" (all)" if all(met) else ""))
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
