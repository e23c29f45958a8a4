"""tools/ablation_allround.py's report: variants paired on the same people at each seed, and
the mean over seeds with its standard error over seeds."""
import json
import math
from pathlib import Path

import pytest

from tool_scripts import load_tool



@pytest.fixture(scope="module")
def tool():
    return load_tool("ablation_allround")


def _fake_eval(folder: Path, pve: list[float]) -> None:
    folder.mkdir(parents=True)
    records = [{"dataset": None, "index": i, "pve_mm": v, "mpjpe_mm": v - 10, "pa_mpjpe_mm": v / 2}
               for i, v in enumerate(pve)]
    (folder / "per_sample.json").write_text(json.dumps(records))
    summary = {m: {"mean": sum(r[m] for r in records) / len(records)} for m in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")}
    (folder / "summary.json").write_text(json.dumps({"n_samples": len(records), **summary}))


def test_report_pairs_variants_per_seed_and_over_seeds(tool, tmp_path):
    people = [200.0, 250.0, 300.0, 350.0]
    # local is 10 / 20 mm better than global+local at seeds 0 / 1, person by person (with a spread)
    shifts = {("global+local", 0): [0, 0, 0, 0], ("local", 0): [-8, -12, -9, -11],
              ("global+local", 1): [5, 5, 5, 5], ("local", 1): [-15, -15, -14, -16]}
    for (variant, seed), shift in shifts.items():
        _fake_eval(tmp_path / f"seed{seed}" / variant.replace("+", "_") / "eval_0000500",
                   [p + s for p, s in zip(people, shift)])
    result = tool.report(tmp_path, [0, 1, 2], ["global+local", "local", "global"], 500, None)
    assert [(r["variant"], r["seed"]) for r in result["rows"]] == [("global+local", 0), ("global+local", 1),
                                                                    ("local", 0), ("local", 1)]
    (pair,) = result["pairs"]  # global has no results: no pair with it
    assert (pair["a"], pair["b"]) == ("global+local", "local")
    diff0, sem0 = pair["per_seed"]["0"]["pve_mm"]
    assert diff0 == pytest.approx(10.0)
    assert sem0 == pytest.approx(math.sqrt(((8 - 10) ** 2 + 2 ** 2 + 1 + 1) / 3 / 4))
    assert pair["per_seed"]["1"]["pve_mm"][0] == pytest.approx(20.0)
    summary = pair["pve_mm"]
    assert summary["mean"] == pytest.approx(15.0)
    assert summary["sem_over_seeds"] == pytest.approx(5.0)  # SD of (10, 20) / sqrt(2)
    assert summary["seeds_a_lower"] == 0
    assert pair["pa_mpjpe_mm"]["mean"] == pytest.approx(7.5)
    text = (tmp_path / "results.md").read_text()
    assert "| global+local - local | pve | +10.0 +- " in text and "| +15.0 +- 5.0 | 0/2 |" in text
    assert json.loads((tmp_path / "results.json").read_text())["pairs"][0]["pve_mm"]["mean"] == pytest.approx(15.0)


def test_snapshot_interval_is_checked(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(["--stage2-steps", "300", "--report-only"])
    assert "multiple of --snapshot-every (250)" in capsys.readouterr().err


def test_atlas_variants_get_their_map_and_their_own_stage1(tool, tmp_path):
    assert tool.parse_variant("global+local") == ("global+local", None)
    assert tool.parse_variant("local@atlas") == ("local", "atlas")
    overrides = tool.variant_overrides("global+local@atlas")
    assert "model.variant=global+local" in overrides
    assert "model.uv_map=assets/open_body_native_uv.npz" in overrides
    assert not any(o.startswith("model.uv_map=") for o in tool.variant_overrides("global+local"))
    assert tool.stage1_folder(tmp_path, "global+local") == tmp_path / "stage1"
    assert tool.stage1_folder(tmp_path, "local@atlas") == tmp_path / "stage1_atlas"
    assert tool.folder_name("global+local@atlas") == "global_local_atlas"
    assert (tool.ROOT / "assets" / "open_body_native_uv.npz").is_file()


def test_unknown_variant_is_refused_by_name(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(["--variants", "global+local@native", "--report-only"])
    assert "unknown variant 'global+local@native'" in capsys.readouterr().err
