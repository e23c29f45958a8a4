"""Release a trained checkpoint as the project's default model (what ``decomr-predict`` uses
without ``--checkpoint``).

    python tools/release_model.py runs/allround/checkpoints/last.pt \\
        --eval out/eval/allround --curve out/curve/allround/curve.json --commit 75bc647 \\
        [--out assets/models/decomr_open_resnet18.pt] [--started-from previous_card.json]

Writes, atomically:
- the standalone checkpoint (``decomr.checkpoint.standalone_checkpoint``: float16 weights, the UV
  map embedded, the resolved config, no optimizer state) with a ``training`` summary inside;
- ``<out>.json``: the same summary as a model card (config, steps, training time, last logged
  losses, the held-out evaluation and its paired comparison with the mean body, the learning
  curve, the commit that trained it, the file's sha256, and with ``--started-from`` the card of
  the model the run started from).
The summary is read from the run folder (``logs/metrics.jsonl``) and the given evaluation
folders; nothing in it is typed in by hand except ``--commit`` and ``--note``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: a gap between two log lines longer than this is a pause between sittings, not training time.
PAUSE_SECONDS = 600.0


def training_summary(checkpoint: Path) -> dict:
    """Steps, wall time and last logged losses of the run that wrote ``checkpoint``
    (``<run>/checkpoints/<name>.pt``, logs in ``<run>/logs/metrics.jsonl``)."""
    from decomr.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint)
    summary = {"progress": {k: int(v) for k, v in data["progress"].items()},
               "torch_version": str(data.get("torch_version", ""))}
    log = checkpoint.parent.parent / "logs" / "metrics.jsonl"
    if log.is_file():
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        lines = [line for line in lines if line["step"] <= summary["progress"]["global_step"]]
        if lines:
            last = lines[-1]
            summary["logged_steps"] = [lines[0]["step"], last["step"]]
            # training time: the gaps between consecutive log lines, without the pauses between
            # sittings of a resumed run (a gap of more than PAUSE_SECONDS)
            gaps = [b["time"] - a["time"] for a, b in zip(lines[:-1], lines[1:])]
            summary["wall_hours_logged"] = round(sum(g for g in gaps if 0 < g <= PAUSE_SECONDS) / 3600, 3)
            summary["sittings"] = 1 + sum(1 for g in gaps if g > PAUSE_SECONDS)
            summary["last_losses"] = {k.split("/", 1)[1]: round(v, 5) for k, v in last.items()
                                      if k.startswith("loss/")}
            speeds = [line["speed/images_per_s"] for line in lines[-20:] if "speed/images_per_s" in line]
            if speeds:
                summary["images_per_s_recent"] = round(sum(speeds) / len(speeds), 2)
    return summary


def evaluation_summary(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    result = {"data": summary.get("data"), "n_samples": summary["n_samples"]}
    for metric in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm", "fg_f1", "parts_f1"):
        if summary.get(metric, {}).get("mean") is not None:
            result[metric] = round(summary[metric]["mean"], 3)
    comparison = folder / "comparison.json"
    if comparison.is_file():
        content = json.loads(comparison.read_text())
        result["against"] = content["baseline"]
        result["paired"] = {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                            for k, v in content["metrics"].items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint to release (decomr-train)")
    parser.add_argument("--out", default=None, help="output file (default: the released model's path)")
    parser.add_argument("--eval", help="decomr-eval folder of this checkpoint on the held-out set")
    parser.add_argument("--curve", help="curve.json of tools/learning_curve.py for this run")
    parser.add_argument("--commit", required=True, help="the code revision the run trained with")
    parser.add_argument("--note", default="", help="a sentence stored in the model card")
    parser.add_argument("--started-from", default=None, metavar="CARD",
                        help="the model card (.json) of the model whose weights started the run (its "
                             "run.init), stored in the new card as its lineage")
    args = parser.parse_args(argv)

    from decomr.checkpoint import default_model_path, load_checkpoint, standalone_checkpoint
    from uvkit.atomic import file_sha256, write_text

    checkpoint = Path(args.checkpoint)
    out = Path(args.out) if args.out else default_model_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"checkpoint": checkpoint.name, "training": training_summary(checkpoint)}
    if args.eval:
        summary["evaluation"] = evaluation_summary(Path(args.eval))
    if args.curve:
        summary["learning_curve"] = json.loads(Path(args.curve).read_text())["rows"]
    if args.note:
        summary["note"] = args.note
    if args.started_from:
        previous = json.loads(Path(args.started_from).read_text())
        summary["started_from"] = {key: previous[key] for key in
                                   ("file", "sha256", "source_commit", "checkpoint", "training", "evaluation",
                                    "started_from", "note") if key in previous}
    standalone_checkpoint(checkpoint, out, half=True, training=summary, source_commit=args.commit)
    data = load_checkpoint(out)
    card = {"file": out.name, "sha256": file_sha256(out), "bytes": out.stat().st_size,
            "weights_dtype": data["weights_dtype"], "source_commit": args.commit,
            "uv_sha256": data["uv_sha256"], "template_sha256": data["template_sha256"],
            "config": data["config"], **summary}
    write_text(out.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
