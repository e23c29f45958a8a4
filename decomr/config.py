"""The training configuration: typed dataclasses, a YAML file and ``key.sub=value`` overrides.

One config system for every decomr command. A :class:`TrainConfig` has four sections:

- ``model``: backbone, variant, template, UV map file, resolutions, input size;
- ``data``: source (synthetic people, shard folders, standard datasets with proportions),
  workers, global batch size;
- ``optim``: Adam learning rate, epochs per stage, loss weights;
- ``run``: output folder, seed, device, autocast, stage, logging and checkpoint intervals,
  resume.

Precedence: defaults < YAML file < command-line overrides. Every value is checked at once
(:func:`validate_config`): an unknown key or a bad value raises :class:`ConfigError`, whose
message lists the valid keys or choices. The resolved config is written as YAML beside every
checkpoint (:func:`save_config`) and read back with :func:`load_config`.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

__all__ = [
    "ConfigError", "ModelConfig", "DataConfig", "LossWeightsConfig", "OptimConfig", "RunConfig", "TrainConfig",
    "DATA_SOURCES", "AMP_MODES", "STAGES", "INIT_PARTS", "TRANSFER_IUV",
    "config_to_dict", "config_from_dict", "apply_overrides", "load_config", "save_config", "validate_config",
    "config_to_yaml",
]

#: where training samples come from.
DATA_SOURCES: tuple[str, ...] = ("synthetic", "ondevice", "shards", "datasets")
#: autocast precision (CUDA only; ignored on CPU).
AMP_MODES: tuple[str, ...] = ("off", "bf16", "fp16")
#: which training stages one call runs: CNet alone, end to end, or one then the other.
STAGES: tuple[str, ...] = ("1", "2", "both")
#: what ``run.init`` loads from its checkpoint: every weight, or CNet and the location offset.
INIT_PARTS: tuple[str, ...] = ("all", "cnet")
#: which IUV image decides where features land in UV space during training.
TRANSFER_IUV: tuple[str, ...] = ("predicted", "ground-truth")


class ConfigError(ValueError):
    """A config key or value that is not valid; the message lists what is."""


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": tuple(values)}


def _backbones() -> tuple[str, ...]:
    from decomr.models.resnet import BACKBONES
    return tuple(BACKBONES)


def _variants() -> tuple[str, ...]:
    from decomr.models.decomr import VARIANTS
    return tuple(VARIANTS)


def _global_inits() -> tuple[str, ...]:
    from decomr.models.decomr import GLOBAL_INITS
    return tuple(GLOBAL_INITS)


@dataclass
class ModelConfig:
    """The network and the UV map it predicts in.

    Attributes
    ----------
    backbone : str
        ``resnet18``, ``resnet34`` or ``resnet50`` (the paper's).
    variant : str
        what LNet sees: ``global+local`` (the method), ``global``, ``local``, ``raw-pixels``.
    template : str
        ``open`` (the open body) or an SMPL-format template file.
    uv_map : str
        the UV map file (``uvkit build-uv`` / ``uvkit import-uv``) built for ``template``.
    resolution : int
        location-map resolution R (the UV file must hold a table at R).
    transfer_resolution : int
        UV grid the local features are transferred to (multiple of 8).
    input_size : int
        square input crop in pixels (multiple of 32).
    lnet_channels : int or None
        LNet width (None: the model's default for the backbone).
    backbone_weights : str or None
        a local torchvision-format ImageNet checkpoint for the encoder.
    transfer_iuv : str
        ``predicted`` or ``ground-truth``: the IUV image used for the transfer in training.
    global_init : str
        ``default`` or ``zero``: the initial weights of LNet's first layer on the global feature
        (``zero``: LNet starts from the local features alone; an initialisation only, so
        checkpoints of either load the same way).
    """

    backbone: str = field(default="resnet50", metadata={"choices": _backbones})
    variant: str = field(default="global+local", metadata={"choices": _variants})
    template: str = "open"
    uv_map: str = ""
    resolution: int = 128
    transfer_resolution: int = 64
    input_size: int = 224
    lnet_channels: int | None = None
    backbone_weights: str | None = None
    transfer_iuv: str = field(default="predicted", metadata=_choices(*TRANSFER_IUV))
    global_init: str = field(default="default", metadata={"choices": _global_inits})


@dataclass
class DataConfig:
    """Training samples.

    Attributes
    ----------
    source : str
        ``synthetic`` (people rendered on the fly from the open body, per sample in loader
        workers), ``ondevice`` (the same kind of people made batch-wise on the training device
        in the training process, :mod:`decomr.data.ondevice`; ``data.workers`` unused),
        ``shards`` (folders written by ``decomr-synth``) or ``datasets`` (the field's ``.npz``
        annotation files).
    paths : list of str
        shard folders or dataset ``.npz`` files (unused for ``synthetic``).
    image_roots : list of str
        image folder of each dataset file (``datasets`` only; one per path).
    prepared : list of str
        ``decomr-prepare`` folder (ground-truth IUV) of each dataset file (``datasets`` only;
        empty: no IUV labels).
    proportions : list of float
        sampling share of each dataset (``datasets``; empty: by size).
    samples_per_epoch : int
        samples in one epoch of on-the-fly synthetic data (and of a dataset mixture; 0: the
        total size of the datasets).
    new_people : bool
        ``synthetic``: every epoch draws people no other epoch draws (default; a long run cannot
        learn its training people by heart); false: the same ``samples_per_epoch`` people every
        epoch. (``ondevice`` always draws new people per epoch.)
    batch_size : int
        the global batch, split evenly across the processes of a distributed run.
    workers : int
        DataLoader worker processes per training process.
    augment : bool
        scale, rotation, flip and colour augmentation (FACTS section 1).
    yaw : list of float
        ``[low, high]`` yaw range of on-the-fly synthetic people in degrees, 0 facing the camera
        (``synthetic`` and ``ondevice``; default all around; shard folders carry their own
        range, set by ``decomr-synth --yaw``).
    texture_bank, background_bank : int
        ``ondevice``: textures painted and backgrounds drawn at start-up, varied per sample.
    sub_batches : int
        ``ondevice``: each batch is made as this many sub-batches, in as many threads on the CPU
        (:class:`decomr.data.ondevice.OnDeviceConfig`); it decides which people are drawn.
    front_back_cues : bool
        paint on-the-fly synthetic people with what tells their front from their back (faces,
        hairlines, shoe toes, clothing fronts; :class:`decomr.data.appearance.AppearanceConfig`);
        false gives the earlier front-back symmetric look (to measure what the cues are worth).
    """

    source: str = field(default="synthetic", metadata=_choices(*DATA_SOURCES))
    paths: list[str] = field(default_factory=list)
    image_roots: list[str] = field(default_factory=list)
    prepared: list[str] = field(default_factory=list)
    proportions: list[float] = field(default_factory=list)
    samples_per_epoch: int = 10000
    new_people: bool = True
    batch_size: int = 128
    workers: int = 4
    augment: bool = True
    yaw: list[float] = field(default_factory=lambda: [-180.0, 180.0])
    texture_bank: int = 64
    background_bank: int = 64
    sub_batches: int = 2
    front_back_cues: bool = True


@dataclass
class LossWeightsConfig:
    """Weights of the loss terms of stage 2 (the paper's by default); stage 1 uses ``mask`` and
    ``uv`` only. A weight of 0 skips its term."""

    mask: float = 0.2
    uv: float = 1.0
    location_map: float = 1.0
    joints3d: float = 1.0
    joints2d: float = 1.0
    consistency: float = 1.0
    tv: float = 1e-4


@dataclass
class OptimConfig:
    """Adam; by default no schedule (the paper's recipe), optionally a cosine decay at the end.

    Attributes
    ----------
    lr : float
    betas : list of float
        Adam's (beta1, beta2).
    weight_decay : float
    stage1_epochs : int
        epochs of stage 1 (CNet alone).
    stage2_epochs : int
        epochs of stage 2 (end to end).
    grad_clip : float
        clip the global gradient norm to this value (0: off).
    lr_decay_from : float
        fraction of each stage's steps after which the learning rate decays (cosine) to
        ``lr * lr_final`` at the stage's end; 1 (default): constant. A pure function of the
        step, so a resumed run follows the same schedule, and it may be switched on when
        resuming a run that was started without it.
    lr_final : float
        the learning rate at the end of a decaying stage, as a fraction of ``lr``.
    mean_location_samples : int
        a new run starts the model's location offset at the mean ground-truth location map of
        this many training samples (the first ones), so that the untrained network predicts
        the mean body (0: start from zero).
    loss : LossWeightsConfig
    """

    lr: float = 2.5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    stage1_epochs: int = 5
    stage2_epochs: int = 30
    grad_clip: float = 0.0
    lr_decay_from: float = 1.0
    lr_final: float = 0.1
    mean_location_samples: int = 128
    loss: LossWeightsConfig = field(default_factory=LossWeightsConfig)


@dataclass
class RunConfig:
    """Where and how the run goes.

    Attributes
    ----------
    out_dir : str
        everything the run writes: ``config.yaml``, ``checkpoints/``, ``logs/``.
    seed : int
        seeds the weights, the data order and the synthetic data.
    device : str
        ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; under ``torchrun``
        each process takes ``cuda:LOCAL_RANK``.
    amp : str
        autocast precision on CUDA: ``bf16``, ``fp16`` (with a gradient scaler) or ``off``;
        CPU runs always use float32.
    stage : str
        ``1`` (CNet alone), ``2`` (end to end) or ``both``.
    log_every : int
        steps between scalar log lines.
    image_every : int
        steps between image grids (0: never).
    checkpoint_every : int
        steps between checkpoints (0: at the end of each epoch and stage only).
    keep_every : int
        steps between kept weight snapshots ``checkpoints/step_<N>.pt`` (no optimizer state;
        for learning curves, :mod:`tools.learning_curve`; 0: none).
    max_steps : int
        stop (with a checkpoint) after this many steps in total (0: no limit).
    resume : str
        ``""`` (fresh run), ``last`` (``out_dir/checkpoints/last.pt``) or a checkpoint file:
        continue exactly where that run stopped.
    init : str
        a checkpoint whose model weights start this run (e.g. stage 1's for a stage-2 run);
        optimizer and progress start fresh. Ignored when ``resume`` is given (the resumed
        checkpoint holds the weights), so a config with ``init`` is resumed as it is.
    init_parts : str
        what ``init`` loads: ``all`` (every weight; the network must be the same) or ``cnet``
        (CNet and the location offset; LNet starts fresh, so stage 2 of any LNet input variant
        can start from one stage-1 run, as the ablation does).
    deterministic : bool
        ``torch.use_deterministic_algorithms`` (slower; exact reruns on one machine).
    tensorboard : bool
        write TensorBoard events when the ``tensorboard`` package is installed (scalars are
        always written as JSON lines too).
    """

    out_dir: str = "runs/decomr"
    seed: int = 0
    device: str = "auto"
    amp: str = field(default="bf16", metadata=_choices(*AMP_MODES))
    stage: str = field(default="both", metadata=_choices(*STAGES))
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 1000
    keep_every: int = 0
    max_steps: int = 0
    resume: str = ""
    init: str = ""
    init_parts: str = field(default="all", metadata=_choices(*INIT_PARTS))
    deterministic: bool = False
    tensorboard: bool = True


@dataclass
class TrainConfig:
    """The whole training configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


# ---------------------------------------------------------------------------- conversion
def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as nested plain dicts, lists and scalars (YAML- and checkpoint-safe)."""
    return dataclasses.asdict(config)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def _coerce(value: Any, kind: Any, key: str, from_text: bool) -> Any:
    """``value`` as ``kind`` (int, float, bool, str, ``X | None``, ``list[X]``)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~", "")):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, key, from_text)
    if origin is list:
        inner = args[0] if args else str
        if isinstance(value, str) and from_text:
            text = value.strip()
            if text.startswith("["):
                value = yaml.safe_load(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of {_type_name(inner)}, got {value!r}")
        return [_coerce(item, inner, key, from_text) for item in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected a boolean (true/false), got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported field type {kind}")  # pragma: no cover


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = prefix or "the config"
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)} in {where}; "
                          f"valid keys: {', '.join(prefix + n for n in names)}")
    values = {}
    for name in names:
        if name not in data:
            continue
        kind = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, data[name] if data[name] is not None else {}, key + ".")
        else:
            values[name] = _coerce(data[name], kind, key, from_text=False)
    return cls(**values)


def config_from_dict(data: Mapping[str, Any] | None) -> TrainConfig:
    """A validated :class:`TrainConfig` from nested dicts (missing keys take their defaults).

    Raises :class:`ConfigError` on an unknown key (listing the valid ones), a value of the
    wrong type, or an invalid value (listing the valid choices).
    """
    config = _build(TrainConfig, data or {}, "")
    validate_config(config)
    return config


def _field_path(config: Any, key: str) -> tuple[Any, dataclasses.Field, Any]:
    """(owner dataclass instance, field, type) of a dotted ``key``."""
    parts = key.split(".")
    owner = config
    for depth, part in enumerate(parts):
        names = {f.name: f for f in fields(owner)}
        prefix = ".".join(parts[:depth])
        if part not in names:
            valid = ", ".join((prefix + "." if prefix else "") + n for n in names)
            raise ConfigError(f"unknown config key {key!r}; valid keys{' under ' + prefix if prefix else ''}: {valid}")
        kind = _hints(type(owner))[part]
        if depth == len(parts) - 1:
            return owner, names[part], kind
        if not dataclasses.is_dataclass(kind):
            raise ConfigError(f"unknown config key {key!r}: {'.'.join(parts[:depth + 1])} is a value, not a section")
        owner = getattr(owner, part)
    raise ConfigError(f"empty config key {key!r}")  # pragma: no cover


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply ``key.sub=value`` strings in order (in place) and validate; returns ``config``.

    Values are read as the field's type: ``run.seed=3``, ``run.amp=off``,
    ``model.lnet_channels=none``, ``data.paths=a,b`` or ``data.paths=[a, b]``,
    ``run.deterministic=true``.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value (e.g. run.seed=1)")
        key, text = item.split("=", 1)
        key = key.strip()
        owner, spec, kind = _field_path(config, key)
        if dataclasses.is_dataclass(kind):
            raise ConfigError(f"{key} is a section; set one of its keys: "
                              f"{', '.join(key + '.' + f.name for f in fields(kind))}")
        setattr(owner, spec.name, _coerce(text, kind, key, from_text=True))
    validate_config(config)
    return config


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file ``path`` (if given), then ``overrides``; validated."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from error
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from error
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping of sections (model, data, optim, run)")
    try:
        config = _build(TrainConfig, data, "")
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}" if path is not None else str(error)) from None
    return apply_overrides(config, overrides)


def config_to_yaml(config: TrainConfig) -> str:
    """The config as YAML text (sections in declaration order)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML, atomically."""
    from uvkit.atomic import write_text

    write_text(path, config_to_yaml(config))


# ---------------------------------------------------------------------------- validation
def _check_choices(config: Any, prefix: str) -> None:
    for spec in fields(config):
        value = getattr(config, spec.name)
        if dataclasses.is_dataclass(value):
            _check_choices(value, prefix + spec.name + ".")
            continue
        choices = spec.metadata.get("choices")
        if choices is None:
            continue
        choices = tuple(choices() if callable(choices) else choices)
        if value not in choices:
            raise ConfigError(f"{prefix}{spec.name}: unknown value {value!r}; valid choices: {', '.join(choices)}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate_config(config: TrainConfig) -> TrainConfig:
    """Check every value; raise :class:`ConfigError` naming the key and what is valid."""
    _check_choices(config, "")
    m, d, o, r = config.model, config.data, config.optim, config.run
    _require(m.resolution >= 8, f"model.resolution must be >= 8, got {m.resolution}")
    _require(m.transfer_resolution >= 8 and m.transfer_resolution % 8 == 0,
             f"model.transfer_resolution must be a positive multiple of 8, got {m.transfer_resolution}")
    _require(m.input_size >= 32 and m.input_size % 32 == 0,
             f"model.input_size must be a positive multiple of 32, got {m.input_size}")
    _require(m.lnet_channels is None or m.lnet_channels > 0, f"model.lnet_channels must be > 0, got {m.lnet_channels}")
    _require(bool(m.template), "model.template must be 'open' or a template file")
    _require(d.batch_size >= 1, f"data.batch_size must be >= 1, got {d.batch_size}")
    _require(d.workers >= 0, f"data.workers must be >= 0, got {d.workers}")
    _require(d.texture_bank >= 1 and d.background_bank >= 1,
             f"data.texture_bank and data.background_bank must be >= 1, got {d.texture_bank}, {d.background_bank}")
    _require(d.sub_batches >= 1, f"data.sub_batches must be >= 1, got {d.sub_batches}")
    _require(d.samples_per_epoch >= 0, f"data.samples_per_epoch must be >= 0, got {d.samples_per_epoch}")
    _require(len(d.yaw) == 2 and -180.0 <= d.yaw[0] <= d.yaw[1] <= 180.0,
             f"data.yaw must be [low, high] with -180 <= low <= high <= 180 (degrees), got {d.yaw}")
    if d.source in ("shards", "datasets"):
        _require(bool(d.paths), f"data.paths: data.source={d.source} needs at least one path")
    if d.proportions:
        _require(len(d.proportions) == len(d.paths),
                 f"data.proportions has {len(d.proportions)} values for {len(d.paths)} data.paths")
        _require(all(p >= 0 for p in d.proportions) and sum(d.proportions) > 0,
                 f"data.proportions must be >= 0 with a positive sum, got {d.proportions}")
    if d.prepared:
        _require(len(d.prepared) == len(d.paths),
                 f"data.prepared has {len(d.prepared)} values for {len(d.paths)} data.paths")
    if d.image_roots:
        _require(len(d.image_roots) == len(d.paths),
                 f"data.image_roots has {len(d.image_roots)} values for {len(d.paths)} data.paths")
    _require(o.lr > 0, f"optim.lr must be > 0, got {o.lr}")
    _require(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
             f"optim.betas must be two numbers in [0, 1), got {o.betas}")
    _require(o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    _require(0.0 <= o.lr_decay_from <= 1.0, f"optim.lr_decay_from must lie in [0, 1], got {o.lr_decay_from}")
    _require(0.0 < o.lr_final <= 1.0, f"optim.lr_final must lie in (0, 1], got {o.lr_final}")
    _require(o.stage1_epochs >= 0 and o.stage2_epochs >= 0,
             f"optim.stage1_epochs and optim.stage2_epochs must be >= 0, got {o.stage1_epochs}, {o.stage2_epochs}")
    _require(o.grad_clip >= 0, f"optim.grad_clip must be >= 0 (0: off), got {o.grad_clip}")
    for spec in fields(o.loss):
        value = getattr(o.loss, spec.name)
        _require(value >= 0, f"optim.loss.{spec.name} must be >= 0, got {value}")
    device = r.device
    _require(device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit()),
             f"run.device: unknown value {device!r}; valid choices: auto, cpu, cuda, cuda:N")
    for name in ("log_every", "image_every", "checkpoint_every", "keep_every", "max_steps"):
        value = getattr(r, name)
        _require(value >= 0, f"run.{name} must be >= 0, got {value}")
    _require(r.log_every >= 1, f"run.log_every must be >= 1, got {r.log_every}")
    _require(bool(r.out_dir), "run.out_dir must not be empty")
    return config
