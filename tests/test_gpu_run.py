"""tools/gpu_run.sh: every step of the GPU run at its tiny CPU setting (--device cpu --smoke)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_run.sh"


def test_smoke_run_writes_checkpoint_evaluation_and_log(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(["bash", str(SCRIPT), str(out), "--device", "cpu", "--smoke", "--skip-tests"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke"] and summary["device"] == "cpu"
    assert summary["generator"]["samples_per_s"] > 0
    throughput = summary["throughput"]
    assert throughput["fed_by_generator"]["images_per_s"] > 0 and throughput["batch_on_device"]["images_per_s"] > 0
    assert 0 < throughput["model_share_of_step"]
    trained = summary["train"]
    assert trained["steps"] >= 1 and Path(trained["checkpoint"]).is_file()
    assert (out / "train" / "logs" / "metrics.jsonl").exists() or trained["steps"] < 25
    for folder in ("eval", "eval_mean_body"):
        assert (out / folder / "summary.json").is_file()
    assert summary["eval"]["model"]["pve_mm"] > 0 and summary["eval"]["mean_body"]["pve_mm"] > 0
    assert (out / "gpu_run.log").read_text().count("done in") == 1
    table = (out / "summary.md").read_text()
    assert table.startswith("| | value |") and "training img/s" in table and "nan" not in table


def test_usage_and_missing_cuda(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr
    if not torch.cuda.is_available():
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_run.py"), str(tmp_path / "x")], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "--device cpu --smoke" in done.stdout + done.stderr
    else:
        pytest.skip("CUDA present: the refusal without CUDA is not testable here")
