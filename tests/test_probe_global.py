"""tools/probe_global.py on the released model: every test-time replacement is applied and scored,
and the scale table covers every block of LNet's input."""
import json
from pathlib import Path

import pytest

from tool_scripts import load_tool

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "models" / "decomr_open_resnet18.pt"


@pytest.mark.skipif(not MODEL.is_file(), reason="the released model is not installed")
def test_probe_of_the_released_model(tmp_path, capsys):
    from decomr.data.synth_cli import main as synth_main

    tool = load_tool("probe_global")
    data = tmp_path / "people"
    assert synth_main(["--out", str(data), "--n", "8", "--seed", "1000003", "--size", "128", "--uv",
                       str(ROOT / "assets" / "open_body_uv.npz"), "--no-progress"]) == 0
    out = tmp_path / "probe.json"
    assert tool.main([str(MODEL), "--data", str(data), "--batch-size", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    errors = result["errors"]
    assert list(errors) == list(tool.MODES)
    trained = errors["as trained"]["pve_mm"]
    assert 0 < trained < 1000
    # the model reads its local features: another person's cost more error than its own (and the
    # replacement really reached LNet, or every row would equal the first)
    assert errors["local: another person's"]["pve_mm"] > trained + 20
    assert errors["global: batch mean"]["pve_mm"] != trained
    scale = result["scale"]
    assert set(scale) == {"local features", "pixel x, y, occupancy", "global feature", "reference map"}
    assert all(v["input_rms"] > 0 and v["first_conv_contribution_rms"] > 0 for v in scale.values())
    assert "global feature" in capsys.readouterr().out
    gradients = result["gradients"]
    assert set(gradients) == set(scale)
    assert abs(sum(g["share"] for g in gradients.values()) - 1.0) < 1e-9
    assert all(g["gradient_rms"] > 0 for g in gradients.values())
    # both feature blocks move the error; the reference map is the same for everyone (no share)
    assert gradients["local features"]["share"] > 0.1 and gradients["global feature"]["share"] > 0.1
    assert gradients["reference map"]["share"] < 1e-6
