"""tools/ablation.py's report: paired comparisons per training seed, read from decomr-eval folders."""
import json
from pathlib import Path

import pytest

from tool_scripts import load_tool



@pytest.fixture(scope="module")
def ablation():
    return load_tool("ablation")


def _fake_eval(folder: Path, pve: list[float]) -> None:
    folder.mkdir(parents=True)
    records = [{"dataset": "synthetic", "index": i, "pve_mm": v} for i, v in enumerate(pve)]
    (folder / "per_sample.json").write_text(json.dumps(records))
    metric = {"mean": sum(pve) / len(pve)}
    (folder / "summary.json").write_text(json.dumps({
        "pve_mm": metric, "mpjpe_mm": metric, "pa_mpjpe_mm": metric, "location_map_mm": metric,
        "segmentation": {"fg_f1": 0.5, "parts_f1": 0.25}}))


def test_report_pairs_variants_at_each_seed(ablation, tmp_path):
    args = ablation.parse_args(["--out", str(tmp_path), "--extra-seeds", "1", "--report-only"])
    base = [300.0, 310.0, 320.0, 330.0]
    # continuous 10 mm better than native at seed 0 and 20 mm at seed 1; per-person spread differs
    made = {("global+local", "continuous", 0): [b - 10 + (i % 2) for i, b in enumerate(base)],
            ("global+local", "native", 0): base,
            ("global+local", "continuous", 1): [b - 20 for b in base],
            ("global+local", "native", 1): base,
            ("global", "continuous", 0): [b - 4 for b in base]}
    for (variant, uv, seed), pve in made.items():
        run = {"variant": variant, "uv": uv, "seed": seed,
               "name": f"{variant}:{uv}" + ("" if seed == 0 else f":s{seed}")}
        _fake_eval(ablation.run_dir(tmp_path, run) / "eval", pve)
    _fake_eval(tmp_path / "mean_body", [b + 5 for b in base])

    report = ablation.collect(args, tmp_path)
    assert len(report["variants"]) == 5
    by_label = {c["comparison"]: c for c in report["comparisons"]}
    uv_gap = by_label["continuous - native (global+local)"]
    assert uv_gap["per_seed"][0]["pve_difference_mm"] == pytest.approx(-9.5)
    assert uv_gap["per_seed"][1]["pve_difference_mm"] == pytest.approx(-20.0)
    assert uv_gap["per_seed"][1]["sem"] == pytest.approx(0.0)
    assert uv_gap["mean_over_seeds_mm"] == pytest.approx(-14.75)
    inputs = by_label["global+local - global (continuous)"]
    assert list(inputs["per_seed"]) == [0] and inputs["per_seed"][0]["pve_difference_mm"] == pytest.approx(-5.5)
    # over the two seeds: differences -9.5 and -20, SD 7.42, standard error SD / sqrt(2) = 5.25
    assert uv_gap["se_over_seeds_mm"] == pytest.approx(5.25) and uv_gap["seeds_a_lower"] == 2
    assert inputs["se_over_seeds_mm"] is None and inputs["seeds_a_lower"] == 1
    # per variant over seeds: continuous global+local at 300.25 (mean of 305.5 and 295), SD 7.42
    summary = {(v["variant"], v["uv"]): v for v in report["by_variant"]}
    ours = summary[("global+local", "continuous")]
    assert ours["seeds"] == [0, 1] and ours["pve_mm"] == pytest.approx(300.25)
    assert ours["pve_sd_over_seeds"] == pytest.approx(7.4246, abs=1e-3)
    assert ours["vs_mean_body_mm"] == pytest.approx(-19.75)
    assert summary[("global", "continuous")]["pve_sd_over_seeds"] is None
    # comparisons with a variant that was never run are left out
    assert "global+local - local (continuous)" not in by_label and "continuous - native (global)" not in by_label
    table = ablation.markdown(report)
    assert "| continuous - native (global+local) | -9.5 +- 0.3 | -20.0 +- 0.0 | -14.8 +- 5.2 | 2/2 |" in table
    assert "| global+local | continuous | 2 | 300.2 | 7.4 | -19.8 |" in table
    assert "| mean body (constant) |" in table
