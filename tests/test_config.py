"""decomr.config: defaults, YAML, overrides, validation with the valid choices listed."""
from __future__ import annotations

import pytest

from decomr.config import (ConfigError, TrainConfig, apply_overrides, config_from_dict, config_to_dict, load_config,
                           save_config)


def test_defaults_follow_the_paper():
    config = load_config()
    assert config.optim.lr == 2.5e-4 and config.optim.stage1_epochs == 5 and config.optim.stage2_epochs == 30
    assert config.model.backbone == "resnet50" and config.model.variant == "global+local"
    assert config.optim.loss.mask == 0.2 and config.optim.loss.tv == 1e-4
    assert config.data.batch_size == 128


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  backbone: resnet18\nrun:\n  seed: 3\n  amp: 'off'\ndata:\n  paths: [a, b]\n")
    config = load_config(path, ["run.seed=5", "model.lnet_channels=32", "optim.loss.tv=0",
                                "data.proportions=0.7,0.3", "run.deterministic=yes", "data.source=datasets"])
    assert config.model.backbone == "resnet18" and config.run.seed == 5 and config.run.amp == "off"
    assert config.model.lnet_channels == 32 and config.optim.loss.tv == 0.0
    assert config.data.paths == ["a", "b"] and config.data.proportions == [0.7, 0.3]
    assert config.run.deterministic is True
    apply_overrides(config, ["model.lnet_channels=none"])
    assert config.model.lnet_channels is None


def test_round_trip_through_yaml(tmp_path):
    config = load_config(None, ["model.backbone=resnet34", "run.stage=2", "optim.betas=[0.5, 0.9]"])
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize("override, message", [
    ("model.backbone=resnet101", "valid choices: resnet18, resnet34, resnet50"),
    ("model.variant=both", "valid choices: global, local, global+local, raw-pixels"),
    ("run.amp=fp8", "valid choices: off, bf16, fp16"),
    ("run.stage=3", "valid choices: 1, 2, both"),
    ("data.source=web", "valid choices: synthetic, ondevice, shards, datasets"),
    ("run.device=tpu", "valid choices: auto, cpu, cuda, cuda:N"),
    ("model.input_size=100", "multiple of 32"),
    ("run.seed=abc", "expected an integer"),
    ("run.deterministic=maybe", "expected a boolean"),
    ("optim.lr=-1", "optim.lr must be > 0"),
    ("model.colour=red", "unknown config key 'model.colour'; valid keys under model: model.backbone"),
    ("modle.backbone=resnet18", "valid keys: model, data, optim, run"),
    ("optim.loss=1", "is a section"),
    ("run.seed", "expected key.sub=value"),
    ("data.yaw=[10,-10]", "with -180 <= low <= high <= 180"),
    ("data.yaw=[0]", "data.yaw must be"),
])
def test_bad_overrides_name_the_valid_choices(override, message):
    with pytest.raises(ConfigError, match=message.replace("+", r"\+").replace("(", r"\(")):
        load_config(None, [override])


def test_bad_yaml_files(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  backbone: resnet18\n  wings: 2\n")
    with pytest.raises(ConfigError, match="unknown key.*model.wings.*valid keys: model.backbone"):
        load_config(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)
    path.write_text("data:\n  source: shards\n")
    with pytest.raises(ConfigError, match="needs at least one path"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    assert isinstance(load_config(None), TrainConfig)
