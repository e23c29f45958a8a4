"""Held-out error against training steps: evaluate a run's weight snapshots (``run.keep_every``).

    python tools/learning_curve.py runs/allround --data out/synth/test_allround128 \\
        --compare-to out/eval/allround_mean_body [--every 1000] [--out out/curve/allround]

For every ``checkpoints/step_<N>.pt`` of the run (every ``--every`` steps), runs ``decomr-eval``
on ``--data`` into ``OUT/step_<N>/`` (skipped when already there, so the tool resumes and can be
run again while training goes on), then writes ``OUT/curve.json`` and ``OUT/curve.md``: steps,
PVE, MPJPE, PA-MPJPE, and the paired difference to ``--compare-to`` (the mean body's evaluation)
with its standard error and the share of people with a lower error. ``--plot`` also draws
``OUT/curve.png``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

STEP = re.compile(r"step_(\d+)\.pt$")


def snapshots(run: Path, every: int) -> list[tuple[int, Path]]:
    """(step, path) of the run's snapshots whose step is a multiple of ``every``, by step."""
    found = []
    for path in (run / "checkpoints").glob("step_*.pt"):
        match = STEP.search(path.name)
        if match and int(match.group(1)) % every == 0:
            found.append((int(match.group(1)), path))
    return sorted(found)


def evaluate(step_path: Path, data: str, out: Path, compare_to: str | None, batch_size: int) -> bool:
    from decomr.evaluate import main as eval_main

    if (out / "summary.json").is_file() and (compare_to is None or (out / "comparison.json").is_file()):
        return True
    argv = ["--checkpoint", str(step_path), "--data", data, "--out", str(out), "--batch-size", str(batch_size)]
    if compare_to:
        argv += ["--compare-to", compare_to]
    return eval_main(argv) == 0


def row(step: int, folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    entry = {"step": step, "n": summary["n_samples"]}
    for metric in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"):
        entry[metric] = summary[metric]["mean"]
    comparison = folder / "comparison.json"
    if comparison.is_file():
        pve = json.loads(comparison.read_text())["metrics"]["pve_mm"]
        entry.update({"pve_vs_baseline_mm": pve["difference"], "pve_vs_baseline_sem": pve["sem"],
                      "lower_than_baseline": pve["better_fraction"]})
    return entry


def table(rows: list[dict], baseline: dict | None) -> str:
    lines = ["| steps | PVE (mm) | MPJPE (mm) | PA-MPJPE (mm) | PVE - mean body, per person (mm) | lower for |",
             "|---|---|---|---|---|---|"]
    if baseline is not None:
        lines.append(f"| mean body | {baseline['pve_mm']['mean']:.1f} | {baseline['mpjpe_mm']['mean']:.1f} | "
                     f"{baseline['pa_mpjpe_mm']['mean']:.1f} | 0 | - |")
    for r in rows:
        paired = (f"{r['pve_vs_baseline_mm']:+.1f} +- {r['pve_vs_baseline_sem']:.1f}"
                  if r.get("pve_vs_baseline_mm") is not None else "-")
        lower = f"{100 * r['lower_than_baseline']:.0f}%" if r.get("lower_than_baseline") is not None else "-"
        lines.append(f"| {r['step']} | {r['pve_mm']:.1f} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | "
                     f"{paired} | {lower} |")
    return "\n".join(lines) + "\n"


def extrapolate(rows: list[dict], metric: str, target: float, from_step: int = 0) -> dict | None:
    """Where a straight line of ``metric`` against log10(steps), fitted by least squares to the
    rows at or after ``from_step``, reaches ``target``: a rough reading of a learning curve that
    still falls (curves flatten, so this tends to be optimistic). Returns the fit (slope per
    tenfold steps, intercept), the rows used and the step (None when the line does not fall)."""
    import math

    points = [(math.log10(r["step"]), r[metric]) for r in rows if r["step"] >= from_step and r["step"] > 0]
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    step = 10 ** ((target - intercept) / slope) if slope < 0 else None
    return {"metric": metric, "target": target, "from_step": from_step, "points": n,
            "slope_per_decade": slope, "intercept": intercept, "step": step}


def plot(rows: list[dict], baseline: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from uvkit.atomic import atomic_path

    figure, axis = plt.subplots(figsize=(6, 4))
    steps = [r["step"] for r in rows]
    for metric, label in (("pve_mm", "PVE"), ("mpjpe_mm", "MPJPE"), ("pa_mpjpe_mm", "PA-MPJPE")):
        line, = axis.plot(steps, [r[metric] for r in rows], marker="o", label=label)
        if baseline is not None:
            axis.axhline(baseline[metric]["mean"], color=line.get_color(), linestyle=":", linewidth=1)
    axis.set_xlabel("training steps (batch 16)")
    axis.set_ylabel("held-out error (mm); dotted: the mean body")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the run folder (holding checkpoints/step_<N>.pt)")
    parser.add_argument("--data", required=True, help="held-out decomr-synth folder")
    parser.add_argument("--compare-to", help="decomr-eval folder of the baseline (the mean body)")
    parser.add_argument("--every", type=int, default=1, help="use snapshots whose step is a multiple of this")
    parser.add_argument("--out", help="output folder (default out/curve/<run name>)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--plot", action="store_true", help="also draw curve.png")
    parser.add_argument("--target", action="append", default=[], metavar="METRIC=MM",
                        help="report where a line in log(steps) fitted to the curve reaches this error, e.g. "
                             "pve_mm=150 (repeatable; rough)")
    parser.add_argument("--fit-from", type=int, default=0, help="fit the line to snapshots from this step on")
    args = parser.parse_args(argv)
    from uvkit.atomic import write_text

    run = Path(args.run)
    out = Path(args.out or Path("out/curve") / run.name)
    found = snapshots(run, max(args.every, 1))
    if not found:
        print(f"learning_curve: no checkpoints/step_<N>.pt in {run} (train with run.keep_every)", file=sys.stderr)
        return 2
    rows = []
    for step, path in found:
        folder = out / f"step_{step:07d}"
        if not evaluate(path, args.data, folder, args.compare_to, args.batch_size):
            print(f"learning_curve: evaluating {path} failed", file=sys.stderr)
            return 1
        rows.append(row(step, folder))
    baseline = None
    if args.compare_to:
        baseline = json.loads((Path(args.compare_to) / "summary.json").read_text())
    fits = []
    for target in args.target:
        metric, _, value = target.partition("=")
        fit = extrapolate(rows, metric, float(value), args.fit_from)
        if fit is not None:
            fits.append(fit)
    lines = []
    for fit in fits:
        where = f"about step {fit['step']:,.0f}" if fit["step"] else "never (the line does not fall)"
        lines.append(f"{fit['metric']}: {fit['slope_per_decade']:+.1f} mm per tenfold steps over {fit['points']} "
                     f"snapshots from step {fit['from_step']}; reaches {fit['target']:g} at {where}")
    write_text(out / "curve.json", json.dumps({"run": str(run), "data": args.data, "baseline": args.compare_to,
                                               "rows": rows, "extrapolations": fits}, indent=1))
    text = table(rows, baseline) + "".join(f"\n{line}\n" for line in lines)
    write_text(out / "curve.md", text)
    if args.plot:
        plot(rows, baseline, out / "curve.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
