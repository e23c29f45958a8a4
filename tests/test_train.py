"""decomr.train: short CPU runs on a tiny template and random samples (seconds each)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from decomr.checkpoint import CheckpointError, load_checkpoint
from decomr.config import TrainConfig, load_config
from decomr.train import StopTraining, Trainer, TrainError, block_centres, collate_samples, scheduled_lr, train
from uvfixtures import cylinder
from uvkit.template import save_template_npz, template_from_arrays

IMAGE = 64


def make_assets(folder: Path, resolutions=(16, 32), uv_name: str = "uv.npz") -> tuple[Path, Path]:
    """A tube template with a 24-joint regressor, and its UV map, written under ``folder``."""
    template, uvmap = cylinder(n_around=8, n_rings=5, resolutions=resolutions)
    n_vertices = len(template.vertices)
    rng = np.random.default_rng(0)
    regressor = rng.random((24, n_vertices))
    regressor /= regressor.sum(axis=1, keepdims=True)
    arrays = {"v_template": template.vertices, "f": template.faces, "J_regressor": regressor}
    template_path = folder / "tube.npz"
    if not template_path.exists():
        save_template_npz(template_from_arrays(arrays, source="tube"), template_path)
    uv_path = folder / uv_name
    uvmap.save(uv_path)
    return template_path, uv_path


class TinyPeople(Dataset):
    """Random samples with the training keys; sample i is a function of (seed, i) only."""

    def __init__(self, template_path: Path, length: int = 8, size: int = IMAGE, seed: int = 0):
        data = np.load(template_path)
        self.vertices = torch.as_tensor(data["v_template"], dtype=torch.float32)
        self.length = length
        self.size = size
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(self.seed * 10_000 + int(index))
        size = self.size
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        centre = torch.rand(2, generator=generator) * 0.4 - 0.2
        mask = (((xx - centre[0]) / 0.4) ** 2 + ((yy - centre[1]) / 0.8) ** 2 < 1).float()
        uv = torch.rand(2, size, size, generator=generator) * mask
        return {
            "image": torch.rand(3, size, size, generator=generator),
            "iuv": torch.cat([mask[None], uv]),
            "joints2d": torch.cat([torch.rand(24, 2, generator=generator) * 2 - 1, torch.ones(24, 1)], dim=1),
            "joints3d": torch.cat([torch.randn(24, 3, generator=generator) * 0.3, torch.ones(24, 1)], dim=1),
            "vertices": self.vertices + 0.01 * torch.randn(self.vertices.shape, generator=generator),
            "has_smpl": torch.tensor(True),
            "has_3d": torch.tensor(True),
            "has_iuv": torch.tensor(True),
        }


def tiny_config(folder: Path, out: str = "run", **sections) -> TrainConfig:
    template_path, uv_path = make_assets(folder)
    overrides = [
        "model.backbone=resnet18", f"model.template={template_path}", f"model.uv_map={uv_path}",
        "model.resolution=32", "model.transfer_resolution=16", f"model.input_size={IMAGE}", "model.lnet_channels=16",
        "data.batch_size=2", "data.workers=0", "optim.stage1_epochs=1", "optim.stage2_epochs=1",
        f"run.out_dir={folder / out}", "run.device=cpu", "run.log_every=1", "run.image_every=0",
        "run.checkpoint_every=0", "run.deterministic=true", "run.tensorboard=false",
    ]
    overrides += [f"{k}={v}" for k, v in sections.items()]
    return load_config(None, overrides)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train")


def test_helpers():
    iuv = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
    assert block_centres(iuv, 2, 2)[0, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]
    batch = collate_samples([{"a": torch.ones(2)}, None, {"a": torch.zeros(2)}])
    assert batch["skipped"] == 1 and batch["a"].shape == (2, 2)


def test_short_run_writes_checkpoints_config_and_logs(folder):
    config = tiny_config(folder, "short", **{"run.image_every": 1, "run.tensorboard": "true", "run.keep_every": 2})
    dataset = TinyPeople(Path(config.model.template), length=4)
    result = train(config, dataset)
    out = Path(config.run.out_dir)
    assert result.status == "finished" and result.progress.global_step == 4
    for name in ("last", "stage1", "stage2", "step_0000002", "step_0000004"):
        assert (out / "checkpoints" / f"{name}.pt").is_file()
        assert load_config(out / "checkpoints" / f"{name}.yaml") == config  # resolved config beside it
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*.pt")) == ["step_0000002.pt", "step_0000004.pt"]
    assert load_checkpoint(out / "checkpoints" / "step_0000002.pt")["progress"]["global_step"] == 2
    assert load_config(out / "config.yaml") == config
    checkpoint = load_checkpoint(out / "checkpoints" / "stage2.pt")  # weights_only=True inside
    assert checkpoint["progress"]["global_step"] == 4 and len(checkpoint["uv_sha256"]) == 64
    assert not any(k.startswith("uv_lookup.") for k in checkpoint["model"])
    lines = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["loss/location_map"] == 0.0 and lines[-1]["loss/location_map"] > 0.0  # stage 1, then 2
    assert all(math.isfinite(line["loss/total"]) and 0 <= line["speed/data_wait_fraction"] <= 1 for line in lines)
    assert list((out / "logs").glob("events.out.tfevents.*"))  # scalars and image grids


def test_image_grid_has_every_panel(folder):
    config = tiny_config(folder, "grid")
    dataset = TinyPeople(Path(config.model.template), length=2)
    trainer = Trainer(config, dataset)
    batch = {k: torch.stack([dataset[i][k] for i in range(2)]) for k in ("image", "iuv")}
    with torch.no_grad():
        output = trainer.model.eval()(torch.zeros(2, 3, IMAGE, IMAGE))
    grid = trainer.image_grid(batch, output)
    trainer.logger.close()
    # input, predicted IUV, true IUV, location map, mesh overlay (the renderer is present)
    assert grid.shape == (3, 2 * IMAGE, 5 * IMAGE)
    assert float(grid.min()) >= 0 and float(grid.max()) <= 1


def test_resume_is_exact(folder):
    """Stopped in stage 1 (by a callback), again in stage 2 (max_steps), resumed twice: the same
    weights, bit for bit, as one uninterrupted run (the learning rate decaying in both stages)."""
    sections = {"optim.stage2_epochs": 2, "optim.lr_decay_from": 0.25}
    config = tiny_config(folder, "whole", **sections)
    dataset = TinyPeople(Path(config.model.template), length=4)  # 2 steps per epoch, 6 in all
    whole = train(config, dataset)
    assert whole.status == "finished" and whole.progress.global_step == 6

    def stop_at(step):
        def callback(info):
            if info.progress.global_step == step:
                raise StopTraining
        return callback

    config = tiny_config(folder, "pieces", **sections)
    first = train(config, dataset, callbacks=[stop_at(1)])
    assert first.status == "stopped" and first.progress.global_step == 1
    config = tiny_config(folder, "pieces", **sections, **{"run.resume": "last", "run.max_steps": 5})
    second = train(config, dataset)
    assert second.status == "max_steps" and second.progress.as_dict() == {"stage": 2, "epoch": 1, "step": 1,
                                                                            "global_step": 5}
    config = tiny_config(folder, "pieces", **sections, **{"run.resume": "last"})
    third = train(config, dataset)
    assert third.status == "finished" and third.progress.global_step == 6
    again = train(config, dataset)  # resuming a finished run does nothing
    assert again.status == "finished" and again.progress.global_step == 6

    a = weights(folder / "whole" / "checkpoints" / "stage2.pt")
    b = weights(folder / "pieces" / "checkpoints" / "stage2.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    stage1_a = weights(folder / "whole" / "checkpoints" / "stage1.pt")
    assert any(not torch.equal(stage1_a[k], a[k]) for k in a if k.startswith("lnet."))  # stage 2 trained LNet


def test_learning_rate_schedule():
    constant = load_config(None, ["optim.lr=0.001"]).optim
    assert [scheduled_lr(constant, k, 10) for k in (0, 5, 9)] == [0.001] * 3
    decay = load_config(None, ["optim.lr=0.001", "optim.lr_decay_from=0.5", "optim.lr_final=0.1"]).optim
    lrs = [scheduled_lr(decay, k, 11) for k in range(11)]
    assert lrs[:6] == [0.001] * 6                       # constant up to half of the stage
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:]))  # then strictly decreasing
    assert lrs[-1] == pytest.approx(1e-4)              # to lr * lr_final at the last step
    assert scheduled_lr(decay, 8, 11) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.6)))
    for bad in (["optim.lr_decay_from=1.5"], ["optim.lr_final=0"]):
        with pytest.raises(ValueError, match=bad[0].split("=")[0]):
            load_config(None, bad)


class NaNAfter(TinyPeople):
    """Samples turn NaN after ``good`` reads (workers=0 only)."""

    def __init__(self, *args, good: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.good = good
        self.reads = 0

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        self.reads += 1
        if self.reads > self.good:
            sample["image"] = torch.full_like(sample["image"], float("nan"))
        return sample


def test_nan_loss_stops_with_last_good_checkpoint(folder):
    # the mean-location initialisation would read samples too: the read count must be the steps'
    config = tiny_config(folder, "nan", **{"optim.stage1_epochs": 3, "run.checkpoint_every": 2,
                                           "optim.mean_location_samples": 0})
    dataset = NaNAfter(Path(config.model.template), length=4, good=6)  # steps 1-3 good, step 4 NaN
    result = train(config, dataset)
    assert result.status == "non-finite" and result.progress.global_step == 3
    checkpoint = load_checkpoint(Path(config.run.out_dir) / "checkpoints" / "last.pt")
    assert checkpoint["progress"]["global_step"] == 2  # the last good one, not overwritten
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())


def test_checkpoint_of_another_uv_map_is_refused(folder):
    config = tiny_config(folder, "other_uv", **{"run.max_steps": 1})
    dataset = TinyPeople(Path(config.model.template), length=4)
    train(config, dataset)
    _, other = make_assets(folder, resolutions=(8, 16, 32), uv_name="uv_other.npz")
    config = tiny_config(folder, "other_uv", **{"run.resume": "last", "model.uv_map": str(other)})
    with pytest.raises(CheckpointError, match="another UV map"):
        Trainer(config, dataset)


def test_corrupt_checkpoint_is_refused(folder):
    config = tiny_config(folder, "corrupt", **{"run.max_steps": 1})
    dataset = TinyPeople(Path(config.model.template), length=4)
    train(config, dataset)
    last = Path(config.run.out_dir) / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    config = tiny_config(folder, "corrupt", **{"run.resume": "last"})
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Trainer(config, dataset)
    last.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Trainer(config, dataset)
    torch.save({"weights": torch.zeros(2)}, last)
    with pytest.raises(CheckpointError, match="not a decomr training checkpoint"):
        Trainer(config, dataset)


def test_output_directory_not_writable(folder):
    blocker = folder / "a_file"
    blocker.write_text("")
    config = tiny_config(folder, "a_file/run")
    with pytest.raises(TrainError, match="not writable"):
        Trainer(config, TinyPeople(Path(config.model.template), length=4))


def test_missing_uv_file_and_small_dataset(folder):
    config = tiny_config(folder, "missing", **{"model.uv_map": str(folder / "nope.npz")})
    with pytest.raises(TrainError, match="no such file"):
        Trainer(config, TinyPeople(Path(config.model.template), length=4))
    config = tiny_config(folder, "small", **{"data.batch_size": 8})
    with pytest.raises(TrainError, match="fewer than one global batch"):
        Trainer(config, TinyPeople(Path(config.model.template), length=4))


def test_cli_errors(capsys):
    from decomr.train_cli import main

    assert main(["run.amp=fp8"]) == 2
    assert "valid choices: off, bf16, fp16" in capsys.readouterr().err
    assert main(["model.nope=1"]) == 2
    assert "valid keys under model" in capsys.readouterr().err
    assert main(["--print-config", "--stage", "1", "model.backbone=resnet18"]) == 0
    out = capsys.readouterr().out
    assert "stage: '1'" in out and "backbone: resnet18" in out


def test_a_new_run_starts_at_the_mean_location_map(folder):
    config = tiny_config(folder, "offset", **{"run.max_steps": 1, "optim.mean_location_samples": 4})
    dataset = TinyPeople(Path(config.model.template), length=4)
    trainer = Trainer(config, dataset)
    lookup = trainer.uv_lookup
    resolution = trainer.model.location_resolution
    expected = torch.stack([lookup.location_map(dataset[i]["vertices"][None], resolution)[0] for i in range(4)]).mean(0)
    torch.testing.assert_close(trainer.model.location_offset[0], expected)
    trainer.model.eval()
    with torch.no_grad():  # an untrained LNet adds little: the prediction starts near the mean
        out = trainer.model(dataset[0]["image"][None])
    assert (out.location_map - trainer.model.location_offset).abs().mean() < (out.location_map.abs().mean())


def test_stage2_of_another_variant_starts_from_a_stage1_cnet(folder):
    """run.init_parts=cnet: CNet and the location offset from a global+local stage-1 run, LNet of
    the local variant fresh; run.init_parts=all refuses the other network."""
    config = tiny_config(folder, "stage1_for_variants", **{"run.stage": "1"})
    dataset = TinyPeople(Path(config.model.template), length=4)
    assert train(config, dataset).status == "finished"
    stage1 = Path(config.run.out_dir) / "checkpoints" / "stage1.pt"
    source = weights(stage1)
    assert source["location_offset"].abs().sum() > 0  # a stage-1 run starts the offset at the mean too
    with torch.no_grad():  # a recognisable offset, to see that it is carried over
        source_offset = torch.full_like(source["location_offset"], 0.25)
    checkpoint = load_checkpoint(stage1)
    checkpoint["model"]["location_offset"] = source_offset
    torch.save(checkpoint, folder / "stage1_offset.pt")

    common = {"run.stage": "2", "run.init": str(folder / "stage1_offset.pt"), "model.variant": "local"}
    with pytest.raises(CheckpointError, match="model.variant: checkpoint 'global\\+local', this run 'local'"):
        Trainer(tiny_config(folder, "local_all", **common), dataset)
    trainer = Trainer(tiny_config(folder, "local_cnet", **common, **{"run.init_parts": "cnet"}), dataset)
    state = trainer.model.state_dict()
    cnet_keys = [k for k in source if k.startswith("cnet.")]
    assert cnet_keys and all(torch.equal(state[k], source[k]) for k in cnet_keys)
    assert torch.equal(state["location_offset"], source_offset)
    lnet_shapes = {k: tuple(v.shape) for k, v in source.items() if k.startswith("lnet.")}
    assert any(lnet_shapes[k] != tuple(state[k].shape) for k in lnet_shapes)  # LNet reads fewer channels
    result = trainer.run()
    assert result.status == "finished" and result.progress.stage == 2
    # the same config resumed: its own checkpoint's weights, run.init ignored
    finished = weights(Path(trainer.config.run.out_dir) / "checkpoints" / "last.pt")
    resumed = Trainer(tiny_config(folder, "local_cnet", **common, **{"run.init_parts": "cnet", "run.resume": "last"}),
                      dataset)
    state = resumed.model.state_dict()
    assert all(torch.equal(state[k], finished[k]) for k in finished)
    assert resumed.progress.global_step == result.progress.global_step


def test_load_model_gives_the_trained_network(folder):
    from decomr.checkpoint import load_model

    config = tiny_config(folder, "for_inference", **{"run.max_steps": 2})
    dataset = TinyPeople(Path(config.model.template), length=4)
    trainer = Trainer(config, dataset)
    trainer.run()
    checkpoint = Path(config.run.out_dir) / "checkpoints" / "last.pt"
    model, loaded_config = load_model(checkpoint)
    assert loaded_config == config and not model.training
    image = dataset[0]["image"][None]
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(image).vertices, trainer.model(image).vertices)
    _, other = make_assets(folder, resolutions=(8, 16, 32), uv_name="uv_for_inference.npz")
    with pytest.raises(CheckpointError, match="another UV map"):
        load_model(checkpoint, uv_map=other)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(checkpoint, uv_map=folder / "missing.npz")


def test_on_the_fly_synthetic_people_take_the_yaw_range(tmp_path):
    from decomr.train import build_dataset
    from uvkit.template import assets_dir, load_template

    config = load_config(None, ["data.source=synthetic", "data.samples_per_epoch=4", "data.yaw=[-30,30]",
                                "data.augment=false", "model.input_size=64",
                                f"model.uv_map={assets_dir() / 'open_body_uv.npz'}", f"run.out_dir={tmp_path}"])
    dataset = build_dataset(config, load_template("open"), seed=3)
    assert len(dataset) == 4
    assert dataset.engine.config.pose.yaw_deg == (-30.0, 30.0)
    assert dataset.new_people  # the default: every epoch new people
    config.data.new_people = False
    assert not build_dataset(config, load_template("open"), seed=3).new_people


@pytest.mark.parametrize("cues", [True, False])
def test_on_the_fly_synthetic_people_take_the_appearance_switch(tmp_path, cues):
    from decomr.train import build_dataset
    from uvkit.template import assets_dir, load_template

    config = load_config(None, ["data.source=synthetic", "data.samples_per_epoch=4", f"data.front_back_cues={cues}",
                                "data.augment=false", "model.input_size=64",
                                f"model.uv_map={assets_dir() / 'open_body_uv.npz'}", f"run.out_dir={tmp_path}"])
    dataset = build_dataset(config, load_template("open"), seed=3)
    assert dataset.engine.config.appearance.front_back_cues is cues
    assert dataset.engine.painter.config.front_back_cues is cues


def test_release_tool_writes_a_standalone_model_and_its_card(folder, tmp_path):
    """tools/release_model.py: float16 weights that load without the run folder, a card with the
    run's summary and, with --started-from, the card of the model the run started from."""
    from decomr.checkpoint import load_model
    from tool_scripts import load_tool

    config = tiny_config(folder, "to_release")
    dataset = TinyPeople(Path(config.model.template), length=4)
    assert train(config, dataset).status == "finished"
    checkpoint = Path(config.run.out_dir) / "checkpoints" / "last.pt"
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"file": "old.pt", "sha256": "ab" * 32, "source_commit": "abc1234",
                                    "training": {"progress": {"global_step": 7}}, "config": {"not": "kept"}}))
    out = tmp_path / "released" / "model.pt"
    release = load_tool("release_model")
    assert release.main([str(checkpoint), "--out", str(out), "--commit", "def5678", "--note", "a test",
                         "--started-from", str(previous)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["weights_dtype"] == "float16" and card["source_commit"] == "def5678" and card["note"] == "a test"
    assert card["training"]["progress"]["global_step"] == 4
    assert card["started_from"] == {"file": "old.pt", "sha256": "ab" * 32, "source_commit": "abc1234",
                                    "training": {"progress": {"global_step": 7}}}
    released, _ = load_model(out)
    trained, _ = load_model(checkpoint)
    image = dataset[0]["image"][None]
    with torch.no_grad():
        torch.testing.assert_close(released(image).vertices, trained(image).vertices, atol=1e-2, rtol=0)
