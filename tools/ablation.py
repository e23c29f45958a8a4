"""The DecoMR paper's ablation (its Table 5) at small scale, on synthetic people.

Variants: what LNet sees ({global, local, global+local}, optionally raw-pixels) x the UV map
({continuous: assets/open_body_uv.npz, native atlas: assets/open_body_native_uv.npz}). Every
variant trains on the same synthetic people (one training seed; the IUV targets rendered with
the variant's UV map), with the same budget (epochs, batch, learning rate, training seed), and
is evaluated on one fixed held-out synthetic test set (seed 1000003, never trained on). The
mean-body baseline (the mean pelvis-aligned training mesh predicted for every image) is scored
on the same test set.

Usage::

    python tools/ablation.py                           # everything, into out/ablation/
    python tools/ablation.py --only global+local:continuous
    python tools/ablation.py --extra-seeds 1           # also repeat every variant with seed 1
    python tools/ablation.py --report-only             # rewrite the table from what is finished

Resumable: the data sets are written once (``decomr-synth`` folders, resumed sample by
sample), a variant whose ``eval/summary.json`` exists is skipped, and an interrupted training
run continues from its ``checkpoints/last.pt``. Writes ``OUT/results.json`` and
``OUT/results.md`` after every variant.

Training runs in a child process (``python -m decomr.train_cli``), one variant at a time, log
in ``OUT/runs/<name>/train.log``; evaluation in this process (``decomr.evaluate``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UV_MAPS = {"continuous": "assets/open_body_uv.npz", "native": "assets/open_body_native_uv.npz"}
VARIANTS = ("global", "local", "global+local")
TEST_SEED = 1000003


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", default="out/ablation", help="output folder (default out/ablation)")
    parser.add_argument("--size", type=int, default=96, help="input crop side, multiple of 32 (default 96)")
    parser.add_argument("--resolution", type=int, default=64, help="location-map resolution (default 64)")
    parser.add_argument("--transfer", type=int, default=24, help="UV transfer grid, multiple of 8 (default 24)")
    parser.add_argument("--lnet-channels", type=int, default=32, help="LNet width (default 32)")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="training and evaluation device: cpu or cuda (default cpu)")
    parser.add_argument("--n-train", type=int, default=1600, help="synthetic training people (default 1600)")
    parser.add_argument("--n-test", type=int, default=96, help="held-out test people (default 96)")
    parser.add_argument("--yaw", default="-45,45", metavar="LOW,HIGH",
                        help="yaw range of the people in degrees, 0 facing the camera (default -45,45, as "
                             "configs/cpu_small.yaml; -180,180: all around)")
    parser.add_argument("--train-seed", type=int, default=0, help="seed of the training people (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="training run seed: init and data order (default 0)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--stage1-epochs", type=int, default=1)
    parser.add_argument("--stage2-epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="loader processes per run (default 1)")
    parser.add_argument("--raw-pixels", action="store_true", help="add the raw-pixels variant (both UV maps)")
    parser.add_argument("--extra-seeds", type=int, default=0,
                        help="repeat every variant with training seeds seed+1.. (the seed-to-seed spread)")
    parser.add_argument("--only", nargs="*", help="run only these VARIANT:UV[:sSEED] names")
    parser.add_argument("--report-only", action="store_true", help="write the table from finished variants, train nothing")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------- data
def make_data(args, out: Path) -> dict[str, Path]:
    """The synthetic folders: one training set per UV map (same people), one test set."""
    import torch

    from decomr.data.poses import PoseConfig
    from decomr.data.shards import ShardSpec, write_shard
    from decomr.data.synth_cli import parse_range
    from decomr.data.synthetic import SyntheticConfig, SyntheticRenderer

    torch.set_num_threads(2)
    yaw = parse_range(args.yaw, "--yaw")
    folders = {}
    wanted = [(f"train_{name}", args.n_train, args.train_seed, path) for name, path in UV_MAPS.items()]
    # the test set needs no IUV for scoring (meshes, masks, parts): one set, rendered with the
    # continuous map's IUV, serves every variant
    wanted.append(("test", args.n_test, TEST_SEED, UV_MAPS["continuous"]))
    for name, n, seed, uv in wanted:
        folder = out / "data" / f"{name}_{args.size}px_n{n}_s{seed}_yaw{yaw[0]:g}to{yaw[1]:g}"
        folders[name] = folder
        if (folder / "shards" / "shard-0000-of-0001.done").exists():
            continue
        started = time.perf_counter()
        config = SyntheticConfig(length=n, seed=seed, size=args.size, pose=PoseConfig(yaw_deg=yaw))
        engine = SyntheticRenderer(config, uvmap=str(ROOT / uv))
        count = write_shard(folder, engine, n, ShardSpec(0, 1), batch_size=16)
        log(f"data {name}: {count} samples rendered in {time.perf_counter() - started:.0f} s -> {folder}")
    return folders


# ---------------------------------------------------------------------------- variants
def variant_list(args) -> list[dict]:
    # the method first, then the ablated inputs; both UV maps of one input side by side, so an
    # interrupted ablation still holds complete pairs
    order = ["global+local", "global", "local"] + (["raw-pixels"] if args.raw_pixels else [])
    runs = [{"variant": v, "uv": uv, "seed": args.seed} for v in order for uv in UV_MAPS]
    for k in range(1, args.extra_seeds + 1):
        runs += [{"variant": v, "uv": uv, "seed": args.seed + k} for v in order for uv in UV_MAPS]
    for run in runs:
        run["name"] = f"{run['variant']}:{run['uv']}" + ("" if run["seed"] == args.seed else f":s{run['seed']}")
    if args.only:
        runs = [r for r in runs if r["name"] in args.only]
    return runs


def run_dir(out: Path, run: dict) -> Path:
    return out / "runs" / run["name"].replace(":", "_").replace("+", "-")


def train_variant(args, run: dict, data: dict[str, Path], folder: Path) -> float:
    """Train one variant in a child process; returns the wall time of this call in seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    overrides = [
        f"model.backbone={args.backbone}", f"model.variant={run['variant']}",
        f"model.uv_map={ROOT / UV_MAPS[run['uv']]}", f"model.resolution={args.resolution}",
        f"model.transfer_resolution={args.transfer}", f"model.input_size={args.size}",
        f"model.lnet_channels={args.lnet_channels}",
        "data.source=shards", f"data.paths=[{data['train_' + run['uv']]}]", f"data.batch_size={args.batch}",
        f"data.workers={args.workers}", "data.augment=false",
        f"optim.lr={args.lr}", f"optim.stage1_epochs={args.stage1_epochs}",
        f"optim.stage2_epochs={args.stage2_epochs}",
        f"run.out_dir={folder}", f"run.seed={run['seed']}", f"run.device={args.device}", "run.log_every=10",
        "run.image_every=0", "run.checkpoint_every=50", "run.tensorboard=false",
    ]
    command = [sys.executable, "-m", "decomr.train_cli", "--no-progress", *overrides]
    if (folder / "checkpoints" / "last.pt").exists():
        command.append("--resume")
    started = time.perf_counter()
    with open(folder / "train.log", "a") as stream:
        stream.write("$ " + " ".join(command) + "\n")
        stream.flush()
        code = subprocess.call(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"{run['name']}: training failed with exit status {code} (see {folder / 'train.log'})")
    return time.perf_counter() - started


def evaluate_checkpoint(checkpoint: Path, test: Path, out: Path, body, device: str = "cpu") -> dict:
    import torch

    from decomr.checkpoint import load_model
    from decomr.data.shards import SyntheticShards
    from decomr.evaluate import evaluate_model

    model, _ = load_model(checkpoint, device=device)
    loader = torch.utils.data.DataLoader(SyntheticShards(test, body=body), batch_size=16)
    results = evaluate_model(model, loader, body, uv_lookup=model.uv_lookup, device=device)
    results.summary["checkpoint"] = str(checkpoint)
    results.write(out)
    return results.summary


def evaluate_mean_body(data: dict[str, Path], out: Path, body) -> dict:
    import torch

    from decomr.data.shards import SyntheticShards
    from decomr.evaluate import evaluate_model, mean_body

    summary_path = out / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    model = mean_body(SyntheticShards(data["train_continuous"], body=body), body)
    loader = torch.utils.data.DataLoader(SyntheticShards(data["test"], body=body), batch_size=16)
    results = evaluate_model(model, loader, body, device="cpu")
    results.summary["mean_of"] = f"{model.n_samples} training meshes of {data['train_continuous']}"
    results.write(out)
    return results.summary


# ---------------------------------------------------------------------------- report
def _sem(out: Path, metric: str) -> float | None:
    """Standard error of the test-set mean (per-sample spread / sqrt(n))."""
    path = out / "per_sample.json"
    if not path.exists():
        return None
    values = [r[metric] for r in json.loads(path.read_text()) if r.get(metric) is not None]
    sd = _spread(values)[1]
    return None if sd is None else sd / math.sqrt(len(values))


def paired_difference(a: Path, b: Path, metric: str = "pve_mm") -> tuple[float, float, int] | None:
    """Mean of (a - b) over the test people both evaluated (``decomr-eval`` output folders), its
    standard error and the count: the comparison of two runs on the same people
    (:func:`decomr.evaluate.paired_comparison`); None when either is missing."""
    from decomr.evaluate import paired_comparison, read_per_sample

    try:
        entry = paired_comparison(read_per_sample(a), read_per_sample(b), (metric,))[metric]
    except (OSError, ValueError):
        return None
    return None if entry["difference"] is None else (entry["difference"], entry["sem"], entry["n"])


def collect(args, out: Path) -> dict:
    rows = []
    for run in variant_list(argparse.Namespace(**{**vars(args), "only": None})):
        folder = run_dir(out, run)
        summary_path = folder / "eval" / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
        rows.append({**run, **{m: summary[m]["mean"] for m in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm", "location_map_mm")},
                     "pve_sem": _sem(folder / "eval", "pve_mm"),
                     "fg_f1": summary["segmentation"].get("fg_f1"), "parts_f1": summary["segmentation"].get("parts_f1"),
                     "train_seconds": meta.get("train_seconds"), "steps": meta.get("steps"),
                     "vs_mean_body": paired_difference(folder / "eval", out / "mean_body")})
    baseline = None
    base_path = out / "mean_body" / "summary.json"
    if base_path.exists():
        s = json.loads(base_path.read_text())
        baseline = {m: s[m]["mean"] for m in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")}
        baseline.update(pve_sem=_sem(out / "mean_body", "pve_mm"), fg_f1=s["segmentation"].get("fg_f1"),
                        parts_f1=s["segmentation"].get("parts_f1"))
    comparisons = [_comparison(out, rows, label, a, b) for label, a, b in _claims(rows)]
    by_variant = _by_variant(rows)
    settings = {k: v for k, v in vars(args).items() if k not in ("only", "report_only")}
    settings["test_seed"] = TEST_SEED
    return {"settings": settings, "mean_body": baseline, "variants": rows, "by_variant": by_variant,
            "comparisons": comparisons}


def _claims(rows: list[dict]) -> list[tuple[str, dict, dict]]:
    """The paper's claims as (label, what A is, what B is), A - B compared at every training seed."""
    present = {(r["variant"], r["uv"]) for r in rows}
    claims = []
    for variant in ("global+local", "global", "local", "raw-pixels"):
        claims.append((f"continuous - native ({variant})", {"variant": variant, "uv": "continuous"},
                       {"variant": variant, "uv": "native"}))
    for uv in UV_MAPS:
        for other in ("global", "local"):
            claims.append((f"global+local - {other} ({uv})", {"variant": "global+local", "uv": uv},
                           {"variant": other, "uv": uv}))
    return [c for c in claims if (c[1]["variant"], c[1]["uv"]) in present and (c[2]["variant"], c[2]["uv"]) in present]


def _spread(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None below two values)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _comparison(out: Path, rows: list[dict], label: str, a: dict, b: dict) -> dict:
    """Paired PVE differences of A - B on the same test people, one per training seed that has both;
    their mean over seeds, its standard error over seeds (the seed-to-seed spread / sqrt(seeds))
    and how many seeds have A below B."""
    def find(spec: dict, seed: int) -> dict | None:
        want = {"seed": seed, **spec}
        return next((r for r in rows if all(r[k] == v for k, v in want.items())), None)

    per_seed = {}
    for seed in sorted({r["seed"] for r in rows}):
        ra, rb = find(a, seed), find(b, seed)
        if ra is None or rb is None:
            continue
        d = paired_difference(run_dir(out, ra) / "eval", run_dir(out, rb) / "eval")
        if d is not None:
            per_seed[seed] = {"pve_difference_mm": d[0], "sem": d[1], "n": d[2]}
    values = [v["pve_difference_mm"] for v in per_seed.values()]
    mean, sd = _spread(values)
    return {"comparison": label, "per_seed": per_seed, "mean_over_seeds_mm": mean,
            "se_over_seeds_mm": None if sd is None else sd / math.sqrt(len(values)),
            "seeds_a_lower": sum(v < 0 for v in values)}


def _by_variant(rows: list[dict]) -> list[dict]:
    """Per variant over its training seeds: mean PVE, the seed-to-seed standard deviation, and the
    mean paired difference to the mean body."""
    summary = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        for uv in UV_MAPS:
            mine = [r for r in rows if (r["variant"], r["uv"]) == (variant, uv)]
            if not mine:
                continue
            mean, sd = _spread([r["pve_mm"] for r in mine])
            gaps = [r["vs_mean_body"][0] for r in mine if r.get("vs_mean_body")]
            summary.append({"variant": variant, "uv": uv, "seeds": [r["seed"] for r in mine], "pve_mm": mean,
                            "pve_sd_over_seeds": sd, "vs_mean_body_mm": _spread(gaps)[0]})
    return summary


def markdown(report: dict) -> str:
    def f(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    def paired(d):
        return "-" if d is None else f"{d[0]:+.1f} +- {d[1]:.1f}"

    lines = ["| LNet input | UV map | seed | PVE (mm) | PVE - mean body (mm) | MPJPE (mm) | PA-MPJPE (mm) | "
             "location map (mm) | fg F1 | parts F1 | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["variants"]:
        pve = f(r["pve_mm"]) + ("" if r["pve_sem"] is None else f" +- {r['pve_sem']:.1f}")
        lines.append(f"| {r['variant']} | {r['uv']} | {r['seed']} | {pve} | {paired(r.get('vs_mean_body'))} | "
                     f"{f(r['mpjpe_mm'])} | {f(r['pa_mpjpe_mm'])} | "
                     f"{f(r['location_map_mm'])} | {f(r['fg_f1'], 3)} | {f(r['parts_f1'], 3)} | {f(r['train_seconds'], 0)} |")
    b = report["mean_body"]
    if b:
        pve = f(b["pve_mm"]) + ("" if b["pve_sem"] is None else f" +- {b['pve_sem']:.1f}")
        lines.append(f"| mean body (constant) | - | - | {pve} | 0 | {f(b['mpjpe_mm'])} | {f(b['pa_mpjpe_mm'])} | - | "
                     f"{f(b['fg_f1'], 3)} | {f(b['parts_f1'], 3)} | - |")
    lines.append("")
    lines.append("PVE +- the standard error of the test-set mean (per-sample spread / sqrt(n)); "
                 "PVE - mean body: the paired difference on the same test people +- its standard error.")
    by_variant = [v for v in report["by_variant"] if len(v["seeds"]) > 1]
    if by_variant:
        lines += ["", "| LNet input | UV map | seeds | mean PVE over seeds (mm) | SD over seeds (mm) | "
                  "mean PVE - mean body (mm) |", "|---|---|---|---|---|---|"]
        for v in by_variant:
            lines.append(f"| {v['variant']} | {v['uv']} | {len(v['seeds'])} | {f(v['pve_mm'])} | "
                         f"{f(v['pve_sd_over_seeds'])} | {'-' if v['vs_mean_body_mm'] is None else format(v['vs_mean_body_mm'], '+.1f')} |")
    comparisons = [c for c in report.get("comparisons", []) if c["per_seed"]]
    if comparisons:
        seeds = sorted({int(s) for c in comparisons for s in c["per_seed"]})
        lines += ["", "| paired comparison (PVE A - B, same test people, mm) | "
                  + " | ".join(f"seed {s}" for s in seeds) + " | mean over seeds | seeds with A lower |",
                  "|---|" + "---|" * (len(seeds) + 2)]
        for c in comparisons:
            cells = []
            for s in seeds:
                d = c["per_seed"].get(s, c["per_seed"].get(str(s)))
                cells.append("-" if d is None else f"{d['pve_difference_mm']:+.1f} +- {d['sem']:.1f}")
            mean = "-" if c["mean_over_seeds_mm"] is None else f"{c['mean_over_seeds_mm']:+.1f}"
            if c["se_over_seeds_mm"] is not None:
                mean += f" +- {c['se_over_seeds_mm']:.1f}"
            lines.append(f"| {c['comparison']} | " + " | ".join(cells) + f" | {mean} | "
                         f"{c['seeds_a_lower']}/{len(c['per_seed'])} |")
        lines.append("")
        lines.append(f"n = {comparisons[0]['per_seed'][next(iter(comparisons[0]['per_seed']))]['n']} test people; "
                     "per seed: +- the standard error of the paired mean over test people (it does not include "
                     "the training-seed spread); mean over seeds: +- its standard error over seeds (the "
                     "seed-to-seed standard deviation / sqrt(seeds)), which does.")
    return "\n".join(lines) + "\n"


def write_report(args, out: Path) -> None:
    from uvkit.atomic import write_text

    report = collect(args, out)
    write_text(out / "results.json", json.dumps(report, indent=1))
    write_text(out / "results.md", markdown(report))


# ---------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        write_report(args, out)
        print((out / "results.md").read_text())
        return 0
    os.chdir(ROOT)
    from decomr.body import BodyModel
    from uvkit.atomic import write_text

    data = make_data(args, out)
    body = BodyModel("open")
    evaluate_mean_body(data, out / "mean_body", body)
    write_report(args, out)
    for run in variant_list(args):
        folder = run_dir(out, run)
        if (folder / "eval" / "summary.json").exists():
            log(f"{run['name']}: finished earlier, skipped")
            continue
        log(f"{run['name']}: training")
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"train_seconds": 0.0}
        meta["train_seconds"] = meta.get("train_seconds", 0.0) + train_variant(args, run, data, folder)
        checkpoint = folder / "checkpoints" / "stage2.pt"
        if not checkpoint.exists():
            raise RuntimeError(f"{run['name']}: no stage2.pt after training (see {folder / 'train.log'})")
        import torch

        meta["steps"] = int(torch.load(checkpoint, weights_only=True, map_location="cpu")["progress"]["global_step"])
        write_text(meta_path, json.dumps(meta))
        log(f"{run['name']}: trained in {meta['train_seconds']:.0f} s ({meta['steps']} steps); evaluating")
        summary = evaluate_checkpoint(checkpoint, data["test"], folder / "eval", body, args.device)
        log(f"{run['name']}: PVE {summary['pve_mm']['mean']:.1f} mm, MPJPE {summary['mpjpe_mm']['mean']:.1f} mm")
        write_report(args, out)
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
