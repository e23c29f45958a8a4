"""The paper's ablation (its Table 5: global+local / global / local, continuous / atlas) at the released model's setting.

    python tools/ablation_allround.py --out runs/ablation_allround --data out/synth/test_allround128 \\
        --mean-body out/eval/allround_mean_body [--seeds 0 1 2] [--variants global+local local global] \\
        [--stage2-steps 500] [--report-only]
    python tools/ablation_allround.py ... --variants global+local global+local@atlas

A variant is what LNet reads, optionally followed by ``@atlas``: the UV map is then the open
body's native atlas (``assets/open_body_native_uv.npz``: per-part charts) instead of the
continuous map of the config. Per training seed and UV map, one stage-1 run (CNet alone,
``configs/cpu_allround.yaml``: people all around, 128 px, 1,000 steps; CNet predicts the IUV of
that map, so each map needs its own), then for every variant a stage-2 run of ``--stage2-steps``
steps started from its map's stage 1 (``run.init_parts=cnet``: CNet and the location offset
shared, LNet fresh), so within a seed the variants of one map differ only in what LNet reads. Each stage-2 run's final snapshot is
scored with ``decomr-eval`` on the held-out people. Everything is resumable: finished runs and
evaluations are skipped, an interrupted run continues with ``run.resume=last``, and a larger
``--stage2-steps`` extends the finished runs. Writes ``OUT/results.json`` and ``OUT/results.md``:
per seed and variant PVE / MPJPE / PA-MPJPE and the paired difference to the mean body; per pair
of variants the paired difference (same held-out people) at every seed +- its standard error over
people, and the mean over seeds +- its standard error over seeds.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")
#: the variants: what LNet reads, and how it starts (``:zero``: its first layer's weights on the
#: global feature start at zero, ``model.global_init=zero``), as config overrides.
VARIANTS = {
    "global+local": ["model.variant=global+local"],
    "local": ["model.variant=local"],
    "global": ["model.variant=global"],
    "global+local:zero": ["model.variant=global+local", "model.global_init=zero"],
}
#: the UV maps a variant may name after ``@`` (none: the config's continuous map), as overrides
#: that apply to both stages.
UV_MAPS = {"atlas": ["model.uv_map=assets/open_body_native_uv.npz"]}


def parse_variant(name: str) -> tuple[str, str | None]:
    """``"global+local@atlas"`` -> ``("global+local", "atlas")``; no ``@``: the config's map (None)."""
    lnet_input, _, uv = name.partition("@")
    if lnet_input not in VARIANTS or (uv and uv not in UV_MAPS):
        raise argparse.ArgumentTypeError(
            f"unknown variant {name!r}: give one of {', '.join(VARIANTS)}, optionally followed by "
            f"@{' or @'.join(UV_MAPS)}")
    return lnet_input, uv or None


def variant_overrides(name: str) -> list[str]:
    lnet_input, uv = parse_variant(name)
    return VARIANTS[lnet_input] + (UV_MAPS[uv] if uv else [])


def stage1_folder(seed_folder: Path, name: str) -> Path:
    uv = parse_variant(name)[1]
    return seed_folder / ("stage1" if uv is None else f"stage1_{uv}")


def folder_name(variant: str) -> str:
    return variant.replace("+", "_").replace(":", "_").replace("@", "_")


def log(text: str) -> None:
    print(text, flush=True)


def _global_step(checkpoint: Path) -> int:
    from decomr.checkpoint import load_checkpoint

    return int(load_checkpoint(checkpoint, map_location="cpu")["progress"]["global_step"])


def _train(config: str, out: Path, overrides: list[str], extra: list[str]) -> None:
    last = out / "checkpoints" / "last.pt"
    argv = [sys.executable, "-m", "decomr.train_cli", "--config", config, "--no-progress", f"run.out_dir={out}",
            "run.log_every=100", "run.checkpoint_every=100"]
    argv += (["run.resume=last", "run.init="] if last.is_file() else []) + overrides + extra
    log("  " + " ".join(argv[2:]))
    subprocess.run(argv, check=True, cwd=ROOT)


def stage1(config: str, out: Path, seed: int, extra: list[str], uv_overrides: list[str] = ()) -> Path:
    done = out / "checkpoints" / "stage1.pt"
    if not done.is_file():
        log(f"seed {seed}: stage 1 -> {out}")
        _train(config, out, ["run.stage=1", f"run.seed={seed}", "run.keep_every=0", *uv_overrides], extra)
    return done


def stage2(config: str, out: Path, seed: int, variant: str, init: Path, steps: int, every: int,
           extra: list[str]) -> Path:
    snapshot = out / "checkpoints" / f"step_{steps:07d}.pt"
    if snapshot.is_file():
        return snapshot
    last = out / "checkpoints" / "last.pt"
    if last.is_file() and _global_step(last) >= steps:
        raise SystemExit(f"{out} ran past step {steps} without a snapshot there (snapshots every {every} "
                         f"steps)")
    log(f"seed {seed}: stage 2, {variant}, to step {steps} -> {out}")
    overrides = ["run.stage=2", f"run.seed={seed}", *variant_overrides(variant), f"run.max_steps={steps}",
                 f"run.keep_every={every}"]
    if not last.is_file():
        overrides += [f"run.init={init}", "run.init_parts=cnet"]
    _train(config, out, overrides, extra)
    return snapshot


def evaluate(checkpoint: Path, data: str, out: Path, mean_body: str | None) -> Path:
    if not (out / "summary.json").is_file() or (mean_body and not (out / "comparison.json").is_file()):
        argv = [sys.executable, "-m", "decomr.evaluate", "--checkpoint", str(checkpoint), "--data", data,
                "--out", str(out), "--batch-size", "32"]
        if mean_body:
            argv += ["--compare-to", mean_body]
        subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out


def _mean_sem(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def _pm(value: float, sem: float | None) -> str:
    return f"{value:+.1f}" + ("" if sem is None else f" +- {sem:.1f}")


def report(out: Path, seeds: list[int], variants: list[str], steps: int, mean_body: str | None) -> dict:
    from decomr.evaluate import paired_comparison, read_per_sample

    folders = {(s, v): out / f"seed{s}" / folder_name(v) / f"eval_{steps:07d}" for s in seeds for v in variants}
    have = {k: f for k, f in folders.items() if (f / "summary.json").is_file()}
    rows = []
    for (seed, variant), folder in sorted(have.items(), key=lambda item: (variants.index(item[0][1]), item[0][0])):
        summary = json.loads((folder / "summary.json").read_text())
        row = {"seed": seed, "variant": variant, "n": summary["n_samples"],
               **{m: summary[m]["mean"] for m in METRICS}}
        if (folder / "comparison.json").is_file():
            pve = json.loads((folder / "comparison.json").read_text())["metrics"]["pve_mm"]
            row.update(pve_vs_mean_body=pve["difference"], pve_vs_mean_body_sem=pve["sem"])
        rows.append(row)
    pairs = []
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            per_seed = {}
            for seed in seeds:
                if (seed, a) in have and (seed, b) in have:
                    compared = paired_comparison(read_per_sample(have[seed, a]), read_per_sample(have[seed, b]))
                    per_seed[seed] = {m: (compared[m]["difference"], compared[m]["sem"]) for m in METRICS}
            if not per_seed:
                continue
            entry = {"a": a, "b": b, "per_seed": {str(s): v for s, v in per_seed.items()}}
            for metric in METRICS:
                mean, sem = _mean_sem([v[metric][0] for v in per_seed.values()])
                entry[metric] = {"mean": mean, "sem_over_seeds": sem,
                                 "seeds_a_lower": sum(v[metric][0] < 0 for v in per_seed.values())}
            pairs.append(entry)
    result = {"stage2_steps": steps, "seeds": seeds, "variants": variants, "mean_body": mean_body,
              "rows": rows, "pairs": pairs}

    stage1_steps = sorted({_global_step(p) for p in out.glob("seed*/stage1*/checkpoints/stage1.pt")})
    result["stage1_steps"] = stage1_steps
    lines = [f"stage 2: {steps} steps after a stage 1 of {'/'.join(map(str, stage1_steps)) or '?'} steps "
             f"(shared by the variants of a seed and UV map)", "",
             "| LNet input | seed | PVE (mm) | MPJPE (mm) | PA-MPJPE (mm) | PVE - mean body (mm) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        versus = (_pm(row["pve_vs_mean_body"], row["pve_vs_mean_body_sem"])
                  if "pve_vs_mean_body" in row else "-")
        lines.append(f"| {row['variant']} | {row['seed']} | {row['pve_mm']:.1f} | {row['mpjpe_mm']:.1f} | "
                     f"{row['pa_mpjpe_mm']:.1f} | {versus} |")
    lines += ["", "| LNet input | seeds | mean PVE (mm) | SD over seeds (mm) | mean PA-MPJPE (mm) |",
              "|---|---|---|---|---|"]
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        if mine:
            pve = [r["pve_mm"] for r in mine]
            mean = sum(pve) / len(pve)
            sd = math.sqrt(sum((v - mean) ** 2 for v in pve) / (len(pve) - 1)) if len(pve) > 1 else float("nan")
            pa = sum(r["pa_mpjpe_mm"] for r in mine) / len(mine)
            lines.append(f"| {variant} | {len(mine)} | {mean:.1f} | {sd:.1f} | {pa:.1f} |")
    lines += ["", "| A - B (same people) | metric | " + " | ".join(f"seed {s}" for s in seeds)
              + " | mean over seeds | seeds with A lower |", "|---|---|" + "---|" * len(seeds) + "---|---|"]
    for pair in pairs:
        for metric in ("pve_mm", "pa_mpjpe_mm"):
            cells = []
            for seed in seeds:
                value = pair["per_seed"].get(str(seed))
                cells.append("-" if value is None else _pm(*value[metric]))
            summary = pair[metric]
            lines.append(f"| {pair['a']} - {pair['b']} | {metric[:-3]} | " + " | ".join(cells)
                         + f" | {_pm(summary['mean'], summary['sem_over_seeds'])} | "
                         f"{summary['seeds_a_lower']}/{len(pair['per_seed'])} |")
    from uvkit.atomic import write_text

    write_text(out / "results.json", json.dumps(result, indent=1))
    write_text(out / "results.md", "\n".join(lines) + "\n")
    log("\n".join(lines))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablation_allround", help="folder of the runs and the results")
    parser.add_argument("--data", default="out/synth/test_allround128", help="held-out decomr-synth folder")
    parser.add_argument("--mean-body", help="decomr-eval folder of the mean body (paired baseline)")
    parser.add_argument("--config", default="configs/cpu_allround.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    def variant(name: str) -> str:
        parse_variant(name)
        return name

    parser.add_argument("--variants", nargs="+", type=variant, default=["global+local", "local", "global"],
                        help=f"what LNet reads ({', '.join(VARIANTS)}), each optionally followed by "
                             f"@{' or @'.join(UV_MAPS)} for that UV map (default: the config's)")
    parser.add_argument("--stage2-steps", type=int, default=500,
                        help="stage-2 steps per variant (a multiple of --snapshot-every)")
    parser.add_argument("--snapshot-every", type=int, default=250, help="stage-2 weight snapshots every N steps")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="further config overrides for every run (e.g. data.samples_per_epoch=...)")
    parser.add_argument("--train-only", nargs="+", type=variant, default=None, metavar="VARIANT",
                        help="train (and score) only these of --variants now; the report still covers all")
    parser.add_argument("--report-only", action="store_true", help="only write the tables from what is done")
    args = parser.parse_args(argv)
    if args.snapshot_every <= 0 or args.stage2_steps <= 0 or args.stage2_steps % args.snapshot_every:
        parser.error(f"--stage2-steps must be a positive multiple of --snapshot-every ({args.snapshot_every}), "
                     f"got {args.stage2_steps}")
    out = Path(args.out)
    if not args.report_only:
        if not (Path(args.data) / "samples").is_dir() and not any(Path(args.data).glob("config-*.json")):
            parser.error(f"--data {args.data}: not a decomr-synth folder")
        train_now = args.train_only or args.variants
        for seed in args.seeds:
            for variant in train_now:
                uv = parse_variant(variant)[1]
                init = stage1(args.config, stage1_folder(out / f"seed{seed}", variant), seed, args.set,
                              UV_MAPS[uv] if uv else [])
                run = out / f"seed{seed}" / folder_name(variant)
                snapshot = stage2(args.config, run, seed, variant, init, args.stage2_steps, args.snapshot_every,
                                  args.set)
                evaluate(snapshot, args.data, run / f"eval_{args.stage2_steps:07d}", args.mean_body)
                log(f"seed {seed}: {variant} scored")
    report(out, args.seeds, args.variants, args.stage2_steps, args.mean_body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
