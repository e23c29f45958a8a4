"""tools/learning_curve.py: snapshots found by step, rows read from decomr-eval folders, the table
and the resumable evaluation loop (evaluations already there are not redone)."""
import json
from pathlib import Path

import pytest

from tool_scripts import load_tool



@pytest.fixture(scope="module")
def tool():
    return load_tool("learning_curve")


def _fake_eval(folder: Path, pve: float, paired: float | None = None) -> None:
    folder.mkdir(parents=True)
    metric = lambda v: {"mean": v, "count": 4}  # noqa: E731
    (folder / "summary.json").write_text(json.dumps({"n_samples": 4, "pve_mm": metric(pve),
                                                     "mpjpe_mm": metric(pve - 10), "pa_mpjpe_mm": metric(pve / 2)}))
    if paired is not None:
        (folder / "comparison.json").write_text(json.dumps({"metrics": {"pve_mm": {
            "difference": paired, "sem": 1.5, "n": 4, "better_fraction": 0.75}}}))


def test_snapshots_rows_and_table(tool, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for step in (1500, 500, 1000):
        (run / "checkpoints" / f"step_{step:07d}.pt").write_bytes(b"")
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert [s for s, _ in tool.snapshots(run, 1)] == [500, 1000, 1500]
    assert [s for s, _ in tool.snapshots(run, 1000)] == [1000]
    out = tmp_path / "curve"
    _fake_eval(out / "step_0000500", 300.0, -2.0)
    _fake_eval(out / "step_0001000", 250.0, -52.0)
    _fake_eval(out / "step_0001500", 200.0, -102.0)
    baseline = tmp_path / "mean"
    _fake_eval(baseline, 302.0)
    # every evaluation is already there: the tool only collects (a real evaluation would fail on the empty files)
    assert tool.main([str(run), "--data", "unused", "--compare-to", str(baseline), "--out", str(out)]) == 0
    rows = json.loads((out / "curve.json").read_text())["rows"]
    assert [r["step"] for r in rows] == [500, 1000, 1500]
    assert rows[2]["pve_mm"] == 200.0 and rows[2]["pa_mpjpe_mm"] == 100.0 and rows[2]["pve_vs_baseline_mm"] == -102.0
    text = (out / "curve.md").read_text()
    assert "| mean body | 302.0 |" in text and "| 1500 | 200.0 | 190.0 | 100.0 | -102.0 +- 1.5 | 75% |" in text


def test_no_snapshots_is_an_error(tool, tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    assert tool.main([str(tmp_path), "--data", "x"]) == 2
    assert "run.keep_every" in capsys.readouterr().err


def test_extrapolation_of_a_log_linear_curve(tool):
    rows = [{"step": step, "pve_mm": 400.0 - 100.0 * (len(str(step)) - 3)} for step in (100, 1000, 10000)]
    fit = tool.extrapolate(rows, "pve_mm", 150.0)
    assert abs(fit["slope_per_decade"] + 100.0) < 1e-9 and abs(fit["step"] - 10 ** 4.5) < 1e-3 * 10 ** 4.5
    assert tool.extrapolate(rows, "pve_mm", 150.0, from_step=1000) is None  # two points are not enough
    rising = [dict(r, pve_mm=-r["pve_mm"]) for r in rows]
    assert tool.extrapolate(rising, "pve_mm", 150.0)["step"] is None
