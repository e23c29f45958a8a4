"""Checkpoints that stand alone: the UV map embedded (version 2), moved checkpoints still load,
hash checks of the UV map and template, older versions, released float16 models, and resume
after kill -9."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from decomr import checkpoint as checkpoints
from decomr.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint, standalone_checkpoint
from uvkit.template import assets_dir

from test_predict import INPUT, make_checkpoint


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    """A checkpoint that stores its UV map by path (as version 1 did), the map beside it."""
    return make_checkpoint(tmp_path_factory.mktemp("original"), mask_bias=0.0)


def _outputs(model) -> dict[str, torch.Tensor]:
    image = torch.rand(2, 3, INPUT, INPUT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(image)
    return {"iuv": out.iuv, "camera": out.camera, "vertices": out.vertices}


def test_a_standalone_checkpoint_loads_from_anywhere(original, tmp_path):
    reference = _outputs(load_model(original)[0])
    moved = tmp_path / "elsewhere" / "model.pt"
    moved.parent.mkdir()
    standalone_checkpoint(original, moved)
    data = load_checkpoint(moved)
    assert data["version"] == 2 and data["uv_file"].dtype == torch.uint8 and data["optimizer"] is None
    assert data["uv_map"] == "uv.npz"  # a name, no folder of the machine that wrote it
    # the UV map file the checkpoint was trained with is gone: the embedded copy serves
    hidden = original.parent / "uv.npz"
    hidden.rename(original.parent / "uv.hidden")
    try:
        with pytest.raises(CheckpointError, match="decomr-export --standalone"):
            load_model(original)  # the path-only checkpoint cannot find its map ...
        model, config = load_model(moved)  # ... the standalone one can
    finally:
        (original.parent / "uv.hidden").rename(hidden)
    for name, value in _outputs(model).items():
        assert torch.equal(value, reference[name]), name
    assert config.model.input_size == INPUT


def test_a_half_precision_release_is_half_the_size_and_close(original, tmp_path):
    full = standalone_checkpoint(original, tmp_path / "full.pt")
    half = standalone_checkpoint(original, tmp_path / "half.pt", half=True, training={"steps": 7},
                                 source_commit="abc123")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    data = load_checkpoint(half)
    assert data["weights_dtype"] == "float16" and data["training"] == {"steps": 7}
    assert data["source_commit"] == "abc123"
    assert all(v.dtype != torch.float32 for v in data["model"].values())
    model = load_model(half)[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    reference = _outputs(load_model(full)[0])
    for name, value in _outputs(model).items():
        scale = float(reference[name].abs().max()) + 1e-6
        assert float((value - reference[name]).abs().max()) < 0.02 * scale, name


def test_a_damaged_embedded_map_is_refused(original, tmp_path):
    path = standalone_checkpoint(original, tmp_path / "model.pt")
    data = load_checkpoint(path)
    data["uv_file"][1000] ^= 0xFF
    save_checkpoint(tmp_path / "damaged.pt", {k: v for k, v in data.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="damaged"):
        load_model(tmp_path / "damaged.pt")


def test_the_template_is_checked_when_given(original, tmp_path):
    from template_helpers import other_template_file

    path = standalone_checkpoint(original, tmp_path / "model.pt")
    assert load_model(path, template="open")[0] is not None
    with pytest.raises(CheckpointError, match="another template"):
        load_model(path, template=other_template_file(tmp_path))
    with pytest.raises(CheckpointError, match="give it with --template"):
        load_model(path, template=str(tmp_path / "missing.npz"))


def test_older_and_newer_versions(original, tmp_path):
    data = load_checkpoint(original)
    body = {k: v for k, v in data.items() if k not in ("format", "version")}
    # version 1 (what earlier releases wrote): still read, the map found by path
    old = tmp_path / "v1.pt"
    torch.save({"format": checkpoints.CHECKPOINT_FORMAT, "version": 1, **body}, old)
    assert load_model(old)[0] is not None
    future = tmp_path / "v9.pt"
    torch.save({"format": checkpoints.CHECKPOINT_FORMAT, "version": 9, **body}, future)
    with pytest.raises(CheckpointError, match="version 9; this decomr reads versions 1, 2"):
        load_checkpoint(future)


def test_export_cli_writes_a_standalone_model(original, tmp_path, capsys):
    from decomr import export

    out = tmp_path / "release.pt"
    assert export.main(["--checkpoint", str(original), "--standalone", str(out), "--half"]) == 0
    assert "UV map embedded, float16 weights" in capsys.readouterr().out
    assert load_checkpoint(out)["weights_dtype"] == "float16"
    with pytest.raises(SystemExit):
        export.main(["--checkpoint", str(original)])  # nothing asked for
    assert export.main(["--checkpoint", str(original), "--standalone", str(tmp_path / "x.onnx")]) == 2
    assert "must end in .pt" in capsys.readouterr().err


def test_predict_without_checkpoint_names_the_missing_release(tmp_path, monkeypatch, capsys):
    from decomr import predict

    monkeypatch.setattr(checkpoints, "default_model_path", lambda: tmp_path / "none.pt")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    assert predict.main([str(image), "--out", str(tmp_path / "out")]) == 2
    assert "released model is not installed" in capsys.readouterr().err


# ---------------------------------------------------------------------------- kill -9 and resume
def _train_command(out: Path, data: Path, *extra: str) -> list[str]:
    overrides = [
        "model.backbone=resnet18", "model.template=open", f"model.uv_map={assets_dir() / 'open_body_uv.npz'}",
        "model.resolution=64", "model.transfer_resolution=8", "model.input_size=32", "model.lnet_channels=8",
        "data.source=shards", f"data.paths=[{data}]", "data.batch_size=2", "data.workers=0", "data.augment=false",
        "optim.stage1_epochs=1", "optim.stage2_epochs=3", "optim.mean_location_samples=2",
        f"run.out_dir={out}", "run.device=cpu", "run.log_every=1", "run.image_every=0", "run.checkpoint_every=1",
        "run.deterministic=true", "run.tensorboard=false", *extra,
    ]
    code = "import sys; from decomr.train_cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "--no-progress", *overrides]


def _step_of(path: Path) -> int:
    try:
        return int(load_checkpoint(path)["progress"]["global_step"])
    except (CheckpointError, KeyError):
        return -1


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_minus_nine_then_resume_reaches_identical_weights(tmp_path):
    from decomr.data.synth_cli import main as synth_main

    data = tmp_path / "people"
    assert synth_main(["--out", str(data), "--n", "8", "--seed", "3", "--size", "32", "--uv",
                       str(assets_dir() / "open_body_uv.npz"), "--no-progress"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(_train_command(whole, data), check=True, env=env, capture_output=True, timeout=600)
    total = _step_of(whole / "checkpoints" / "last.pt")
    assert total == 16

    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(killed, data), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None and _step_of(last) < 7:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    stopped_at = _step_of(last)
    assert 7 <= stopped_at < total
    subprocess.run(_train_command(killed, data, "run.resume=last"), check=True, env=env, capture_output=True,
                   timeout=600)
    assert _step_of(last) == total
    a = load_checkpoint(whole / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(last)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_ctrl_c_finishes_the_step_and_writes_the_checkpoint(tmp_path):
    """Ctrl-C during training: the step in progress ends, last.pt holds it, exit status 130."""
    from decomr.data.synth_cli import main as synth_main

    data = tmp_path / "people"
    assert synth_main(["--out", str(data), "--n", "8", "--seed", "3", "--size", "32", "--uv",
                       str(assets_dir() / "open_body_uv.npz"), "--no-progress"]) == 0
    out = tmp_path / "run"
    command = _train_command(out, data, "run.checkpoint_every=0")   # only the stop writes a checkpoint mid-stage
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    log = out / "logs" / "metrics.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None and not (
            log.is_file() and '"stage": 2' in log.read_text()):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-2000:]
    assert "SIGINT: stopping after this step" in err and "resume with run.resume=last" in err
    step = _step_of(out / "checkpoints" / "last.pt")
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert step == max(logged) and step < 16      # the last step done is in the checkpoint, mid-run


# ---------------------------------------------------------------------------- the released model
def test_the_released_model_stands_alone(tmp_path, capsys):
    """The committed default model: its card matches the file, it loads from any folder in float32,
    and decomr-predict uses it without --checkpoint."""
    import json

    import numpy as np
    from PIL import Image

    from decomr import predict
    from uvkit.atomic import file_sha256

    from test_predict import render_person

    path = checkpoints.default_model_path()
    assert path.is_file(), f"the released model is missing: {path}"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == file_sha256(path) and card["bytes"] == path.stat().st_size
    assert path.stat().st_size <= 40 * 2**20 and card["weights_dtype"] == "float16"
    assert card["source_commit"] and card["training"]["progress"]["global_step"] > 0
    moved = tmp_path / "somewhere" / "model.pt"
    moved.parent.mkdir()
    shutil.copy(path, moved)
    model, config = load_model(moved)
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    assert config.model.backbone == card["config"]["model"]["backbone"]
    image = tmp_path / "person.png"
    Image.fromarray(render_person(160, 120, (60.0, 80.0), 140.0)).save(image)
    assert predict.main([str(image), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    vertices = np.asarray([line.split()[1:] for line in (tmp_path / "out" / "person.obj").read_text().splitlines()
                           if line.startswith("v ")], dtype=float)
    assert vertices.shape == (model.uv_lookup.n_vertices, 3) and np.isfinite(vertices).all()


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups")
def test_sigterm_to_the_process_group_spares_the_loader_workers(tmp_path):
    """SIGTERM to the whole process group (a job scheduler, ``kill -- -PGID``), loader workers
    running: the training process still finishes its step and writes last.pt (exit status 143)
    instead of dying of a DataLoader error."""
    from decomr.data.synth_cli import main as synth_main

    data = tmp_path / "people"
    assert synth_main(["--out", str(data), "--n", "8", "--seed", "3", "--size", "32", "--uv",
                       str(assets_dir() / "open_body_uv.npz"), "--no-progress"]) == 0
    out = tmp_path / "run"
    command = _train_command(out, data, "run.checkpoint_every=0", "data.workers=1")
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    log = out / "logs" / "metrics.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None and not (
            log.is_file() and '"stage": 2' in log.read_text()):
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "SIGTERM: stopping after this step" in err and "DataLoader worker" not in err
    step = _step_of(out / "checkpoints" / "last.pt")
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert step == max(logged) and step < 16
