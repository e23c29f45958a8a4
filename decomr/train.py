"""Training DecoMR: stage 1 (CNet alone) and stage 2 (end to end), resumable, on one CPU, one
GPU or many processes under ``torchrun``.

:class:`Trainer` reads a :class:`decomr.config.TrainConfig`, builds the model for the UV map
file and template it names, and trains on a map-style dataset whose samples are dicts
(``image`` (3, H, W) float in [0, 1], ``iuv`` (3, H, W), ``joints2d`` (24, 3), ``joints3d``
(24, 4), ``vertices`` (V, 3), ``has_smpl``, ``has_3d``, ``has_iuv``; a missing label skips its
loss terms; a sample that failed to load may be ``None`` and is skipped and counted).

What the run writes under ``run.out_dir``:

- ``config.yaml``: the resolved config;
- ``checkpoints/last.pt`` (every ``run.checkpoint_every`` steps, at every epoch end and when the
  run stops) and ``checkpoints/stage1.pt`` / ``stage2.pt`` at the end of each stage, each with
  its resolved config beside it (``last.yaml``, ...);
- ``logs/metrics.jsonl``: one JSON object per log step (losses, learning rate, images per
  second, the fraction of time spent waiting for data); ``logs/`` also holds TensorBoard
  events (scalars and image grids) when the ``tensorboard`` package is installed, else PNG
  image grids.

Exact resume: the checkpoint holds the model, the optimizer (and gradient scaler), the
position (stage, epoch, step), and the Python, numpy and torch generator states; the data order
is a function of ``(seed, epoch)`` (:class:`decomr.distributed.ShardedBatchSampler`), so the
resumed run skips the samples already seen and continues as if never stopped (given samples
that are a function of their index and seed, as the project's datasets are).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import math
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from decomr.checkpoint import (CheckpointError, build_model, capture_rng_state, check_identity, embed_file,
                               load_checkpoint, restore_rng_state, save_checkpoint)
from decomr.config import TrainConfig, config_from_dict, config_to_dict, save_config, validate_config
from decomr.distributed import (DistributedContext, ShardedBatchSampler, all_true, epoch_seed, init_distributed,
                                shutdown_distributed)
from uvkit.atomic import writable_folder

__all__ = ["Trainer", "TrainResult", "StepInfo", "StopTraining", "TrainError", "Progress", "train",
           "IMAGENET_MEAN", "IMAGENET_STD", "normalize_image", "collate_samples", "block_centres"]

log = logging.getLogger("decomr.train")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the model-defining config keys a resumed or initialised run must share with its checkpoint.
MODEL_KEYS = ("backbone", "variant", "resolution", "transfer_resolution", "lnet_channels")
#: the keys CNet and the location offset depend on (``run.init_parts=cnet`` leaves LNet fresh).
CNET_KEYS = ("backbone", "resolution")
#: sample keys moved to the device (the rest of a sample is ignored by training).
TENSOR_KEYS = ("image", "iuv", "joints2d", "joints3d", "vertices", "has_smpl", "has_3d", "has_iuv")


def scheduled_lr(optim, done: int, total: int) -> float:
    """The learning rate of a stage's step ``done`` (0-based) of ``total``.

    Constant ``optim.lr`` until ``optim.lr_decay_from`` of the stage, then a cosine decay that
    reaches ``optim.lr * optim.lr_final`` at the stage's last step. A function of the step
    alone: resumed runs follow it exactly.
    """
    last = total - 1
    start = optim.lr_decay_from * last
    if last <= 0 or optim.lr_decay_from >= 1.0 or done <= start:
        return float(optim.lr)
    t = min(1.0, (done - start) / (last - start))
    return float(optim.lr * (optim.lr_final + (1.0 - optim.lr_final) * 0.5 * (1.0 + math.cos(math.pi * t))))


class TrainError(ValueError):
    """A run that cannot start or go on (bad paths, incompatible checkpoint, empty batches)."""


class StopTraining(Exception):
    """Raise from a step callback to stop cleanly after the current step (a checkpoint is
    written; ``--resume`` continues from it)."""


@dataclass
class Progress:
    """Position of the next step: ``stage`` (1 or 2), ``epoch`` and ``step`` within it, and the
    number of steps done so far (``global_step``)."""

    stage: int = 1
    epoch: int = 0
    step: int = 0
    global_step: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"stage": self.stage, "epoch": self.epoch, "step": self.step, "global_step": self.global_step}


@dataclass
class StepInfo:
    """What a step callback sees after each optimiser step."""

    progress: Progress
    total_steps: int
    loss: float
    stage_steps_per_epoch: int
    terms: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """How a run ended.

    Attributes
    ----------
    status : str
        ``finished``, ``max_steps`` (stopped at ``run.max_steps``), ``stopped`` (a callback
        raised :class:`StopTraining`) or ``non-finite`` (a NaN/inf loss; no step was taken with
        it and the last good checkpoint is kept).
    progress : Progress
    last_checkpoint : Path or None
    metrics : dict of str to float
        the last logged scalars.
    skipped_samples : int
        samples that failed to load (``None``) and were skipped.
    """

    status: str
    progress: Progress
    out_dir: Path
    last_checkpoint: Path | None
    metrics: dict[str, float]
    skipped_samples: int = 0


# ---------------------------------------------------------------------------- helpers
def normalize_image(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image - mean) / std


def block_centres(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w): the pixel nearest the centre of each H/h x W/w block (no
    blending across body parts or the silhouette, unlike averaging)."""
    if image.shape[-2:] == (height, width):
        return image
    in_h, in_w = image.shape[-2:]
    rows = ((torch.arange(height, device=image.device) + 0.5) * in_h / height).long().clamp(max=in_h - 1)
    cols = ((torch.arange(width, device=image.device) + 0.5) * in_w / width).long().clamp(max=in_w - 1)
    return image[..., rows, :][..., cols]


def collate_samples(samples: Sequence[Any]) -> dict[str, Any]:
    """``default_collate`` of the samples that loaded; ``batch["skipped"]`` counts the ``None``s."""
    kept = [s for s in samples if s is not None]
    skipped = len(samples) - len(kept)
    if not kept:
        return {"skipped": skipped}
    batch = default_collate(kept)
    batch["skipped"] = skipped
    return batch


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % (1 << 32)
    np.random.seed(seed)
    random.seed(seed)


def _leave_signals_to_the_trainer(init: Callable[[int], None], worker_id: int) -> None:
    """A loader worker's start: Ctrl-C and SIGTERM are ignored, then ``init`` runs.

    A signal sent to the whole process group (Ctrl-C in a terminal, ``kill -- -PGID``, a job
    scheduler's SIGTERM) would otherwise kill the workers mid-batch and end the run with a
    DataLoader error before the training process could finish its step and write ``last.pt``.
    Workers still end with the training process (the loader's watchdog) and with SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    init(worker_id)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def _prepare_out_dir(path: Path) -> Path:
    """Create ``path`` and check that files can be written there (raise :class:`TrainError`)."""
    try:
        writable_folder(path, "checkpoints", "logs")
    except OSError as error:
        raise TrainError(f"output directory {path} is not writable: {error.strerror or error}") from None
    return path


def _resolve_path(text: str, out_dir: Path) -> Path:
    return out_dir / "checkpoints" / "last.pt" if text == "last" else Path(text)


# ---------------------------------------------------------------------------- logging
class RunLogger:
    """Scalars as JSON lines (always) and TensorBoard events (when available); image grids to
    TensorBoard or PNG files. Inactive on ranks other than 0."""

    def __init__(self, log_dir: Path, active: bool, tensorboard: bool):
        self.log_dir = log_dir
        self.active = active
        self.writer = None
        self._jsonl = None
        if not active:
            return
        self._jsonl = open(log_dir / "metrics.jsonl", "a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.warning("tensorboard is not installed: scalars go to logs/metrics.jsonl, images to PNG files")
            else:
                self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if not self.active:
            return
        self._jsonl.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        """grid : (3, H, W) float in [0, 1]."""
        if not self.active:
            return
        if self.writer is not None:
            self.writer.add_image(tag, grid, step)
            return
        try:
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover
            return
        folder = self.log_dir / "images"
        folder.mkdir(exist_ok=True)
        plt.imsave(folder / f"{tag.replace('/', '_')}_{step:08d}.png", grid.permute(1, 2, 0).clamp(0, 1).numpy())

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# ---------------------------------------------------------------------------- the step
class _TrainStep(nn.Module):
    """Forward and loss in one module, so that DistributedDataParallel wraps both."""

    def __init__(self, model: nn.Module, loss: nn.Module, stage: int, transfer_iuv: str):
        super().__init__()
        self.model = model
        self.loss = loss
        self.stage = stage
        self.transfer_iuv = transfer_iuv

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
        from decomr.losses import LossTargets

        image = normalize_image(batch["image"])
        if self.stage == 1:
            output = self.model.cnet(image)
        else:
            transfer = batch.get("iuv") if self.transfer_iuv == "ground-truth" else None
            output = self.model(image, transfer)
        height, width = output.iuv.shape[-2:]
        targets = LossTargets(
            iuv=None if "iuv" not in batch else block_centres(batch["iuv"], height, width),
            has_iuv=batch.get("has_iuv"),
            vertices=batch.get("vertices"),
            has_smpl=batch.get("has_smpl") if "vertices" in batch else None,
            joints3d=batch.get("joints3d"),
            has_3d=batch.get("has_3d") if "joints3d" in batch else None,
            joints2d=batch.get("joints2d"),
        )
        terms = self.loss(output, targets)
        parts = {name: getattr(terms, name) for name in ("mask", "uv", "location_map", "joints3d", "joints2d",
                                                          "consistency", "tv")}
        # the output goes back detached: DDP must find only the loss in what forward returns
        detached = dataclasses.replace(output, **{f.name: getattr(output, f.name).detach()
                                                  for f in dataclasses.fields(output)
                                                  if isinstance(getattr(output, f.name), torch.Tensor)})
        return terms.total, parts, detached


# ---------------------------------------------------------------------------- datasets
def build_dataset(config: TrainConfig, template: Any, seed: int, symmetric_uv: bool = True,
                  device: torch.device | str = "cpu") -> Dataset:
    """The training dataset ``config.data`` names (:mod:`decomr.data`).

    - ``synthetic``: :class:`decomr.data.SyntheticPeople` with ``data.samples_per_epoch``
      samples rendered on the fly at ``model.input_size`` with the UV map ``model.uv_map``;
    - ``ondevice``: :class:`decomr.data.ondevice.OnDevicePeople`, the same kind of people made
      batch-wise on ``device`` in the training process;
    - ``shards``: :class:`decomr.data.SyntheticShards` per folder of ``data.paths``;
    - ``datasets``: :class:`decomr.data.standard.StandardDataset` per annotation file of
      ``data.paths`` (images under ``data.image_roots``, IUV from ``data.prepared``).

    Several sources are mixed by ``data.proportions`` (:class:`decomr.data.mixture.MixtureDataset`)
    or, without proportions, concatenated. ``data.augment`` applies the DecoMR augmentation
    (drawn from (seed, index, epoch), so resumed runs see the same augmentations); the
    horizontal flip needs a left-right symmetric UV map and is left out (with a warning) when
    ``symmetric_uv`` is false.
    """
    from torch.utils.data import ConcatDataset

    from decomr import data as data_module
    from decomr.data.mixture import MixtureDataset
    from decomr.data.appearance import AppearanceConfig
    from decomr.data.poses import PoseConfig

    d, m = config.data, config.model
    augment = data_module.AugmentConfig() if d.augment else None
    if augment is not None and not symmetric_uv:
        log.warning("the UV map is not left-right symmetric: augmentation without the horizontal flip")
        augment = data_module.AugmentConfig(flip_probability=0.0)
    if d.source in ("synthetic", "ondevice"):
        synthetic = data_module.SyntheticConfig(length=d.samples_per_epoch or 10000, seed=seed, size=m.input_size,
                                                pose=PoseConfig(yaw_deg=tuple(d.yaw)),
                                                appearance=AppearanceConfig(front_back_cues=d.front_back_cues))
        try:
            if d.source == "ondevice":
                from decomr.data.ondevice import OnDeviceConfig, OnDevicePeople

                options = OnDeviceConfig(texture_bank=d.texture_bank, background_bank=d.background_bank,
                                         sub_batches=d.sub_batches)
                return OnDevicePeople(synthetic, uvmap=m.uv_map, template=template, augment=augment, options=options,
                                      device=device)
            return data_module.SyntheticPeople(synthetic, uvmap=m.uv_map, template=template, augment=augment,
                                               new_people=d.new_people)
        except ValueError as error:
            raise TrainError(f"synthetic data: {error}") from None
    parts: list[Dataset] = []
    if d.source == "shards":
        for path in d.paths:
            try:
                parts.append(data_module.SyntheticShards(path, augment=augment))
            except (OSError, ValueError) as error:
                raise TrainError(f"data.paths: {error}") from None
    else:
        from decomr.body import BodyModel
        from decomr.data.standard import StandardDataset

        if len(d.image_roots) != len(d.paths):
            raise TrainError(f"data.image_roots: give one image folder per annotation file ({len(d.paths)})")
        body = BodyModel(template)
        for k, path in enumerate(d.paths):
            prepared = d.prepared[k] if d.prepared else None
            try:
                parts.append(StandardDataset(path, d.image_roots[k], body=body, prepared=prepared,
                                             uvmap=m.uv_map if prepared else None, size=m.input_size))
            except (OSError, ValueError, KeyError) as error:
                raise TrainError(f"data.paths[{k}] {path}: {error}") from None
    if len(parts) == 1 and not d.proportions:
        return parts[0]
    if d.proportions:
        return MixtureDataset(parts, d.proportions, length=d.samples_per_epoch or None, seed=seed, keys=TENSOR_KEYS)
    return ConcatDataset(parts)


# ---------------------------------------------------------------------------- the trainer
class Trainer:
    """One training run (one process of it under ``torchrun``).

    Parameters
    ----------
    config : TrainConfig
    dataset : torch Dataset, optional
        map-style, samples as described in the module docstring; default: built from
        ``config.data``.
    context : DistributedContext, optional
        default: :func:`decomr.distributed.init_distributed` (joins the torchrun group).

    After construction :attr:`progress` is the position the run starts from (restored from
    ``run.resume``) and :attr:`total_steps` the number of steps of the whole run.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset | None = None,
                 context: DistributedContext | None = None):
        from decomr.losses import DecoMRLoss
        from uvkit.template import load_template

        validate_config(config)
        self.config = config
        run = config.run
        self._owns_context = context is None
        self.context = context or init_distributed(run.device)
        self.device = self.context.device
        self.out_dir = Path(run.out_dir)
        if self.context.is_main:
            _prepare_out_dir(self.out_dir)
        self._barrier()
        if config.data.batch_size % self.context.world_size:
            raise TrainError(f"data.batch_size {config.data.batch_size} (the global batch) must be a multiple of "
                             f"the number of processes {self.context.world_size}")
        if run.deterministic:
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        _seed_everything(run.seed)

        m = config.model
        if not m.uv_map:
            raise TrainError("model.uv_map is not set: give the UV map file (uvkit build-uv / uvkit import-uv)")
        uv_path = Path(m.uv_map)
        if not uv_path.is_file():
            raise TrainError(f"model.uv_map: no such file {uv_path}")
        self.template = load_template(m.template)
        self.model, self.uv_sha256 = build_model(m, self.template, uv_path)
        self.uv_file = embed_file(uv_path)  # checkpoints carry their UV map
        self.uv_lookup = self.model.uv_lookup
        self.template_sha256 = self.uv_lookup.template_sha256
        regressor = None
        if self.template.J_regressor is not None:
            regressor = torch.as_tensor(self.template.joint_regressor_dense(), dtype=torch.float32)
        else:
            log.warning("the template has no joint regressor: the 3D and 2D joint losses are skipped")
        self.loss = DecoMRLoss.from_uv_lookup(self.uv_lookup, regressor, resolution=m.resolution)
        self.model.to(self.device)
        self.loss.to(self.device)

        self.dataset = dataset if dataset is not None else build_dataset(config, self.template, run.seed,
                                                                          self.uv_lookup.symmetric, self.device)
        length = len(self.dataset)
        try:
            self.sampler = ShardedBatchSampler(length, config.data.batch_size, seed=run.seed,
                                               rank=self.context.rank, world_size=self.context.world_size)
        except ValueError as error:
            raise TrainError(str(error)) from None
        self.stages = {"1": [1], "2": [2], "both": [1, 2]}[run.stage]
        self.epochs = {1: config.optim.stage1_epochs, 2: config.optim.stage2_epochs}
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.total_steps = sum(self.epochs[s] for s in self.stages) * self.steps_per_epoch
        if run.max_steps:
            self.total_steps = min(self.total_steps, run.max_steps)
        self.amp_dtype = None
        if self.device.type == "cuda" and run.amp != "off":
            self.amp_dtype = torch.bfloat16 if run.amp == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.progress = Progress(stage=self.stages[0])
        self._resume_optimizer: dict | None = None
        self._resume_rng: dict | None = None
        self.metrics: dict[str, float] = {}
        self.skipped_samples = 0
        self.last_checkpoint: Path | None = None
        if run.init and not run.resume:  # a resumed run restores its own weights
            self._load_weights(_resolve_path(run.init, self.out_dir), init=True)
        if run.resume:
            self._load_weights(_resolve_path(run.resume, self.out_dir), init=False)
        elif not run.init and config.optim.mean_location_samples > 0:
            # stage 1 alone too: its checkpoint then starts a stage-2 run (run.init) at the mean
            self._init_location_offset(config.optim.mean_location_samples)
        self.logger = RunLogger(self.out_dir / "logs", self.context.is_main, run.tensorboard)
        if self.context.is_main:
            save_config(config, self.out_dir / "config.yaml")
        self._renderer = None
        self._overlay_ok = True

    def _init_location_offset(self, count: int) -> None:
        """Start the model's location offset at the mean ground-truth location map of the first
        ``count`` training samples (the same on every rank: no randomness is drawn)."""
        total, seen = None, 0
        with torch.no_grad():
            for index in range(min(count, len(self.dataset))):
                sample = self.dataset[index]
                if sample is None or sample.get("vertices") is None:
                    continue
                vertices = torch.as_tensor(sample["vertices"], dtype=torch.float32)[None].to(self.device)
                location_map = self.uv_lookup.location_map(vertices, self.model.location_resolution)[0]
                total = location_map if total is None else total + location_map
                seen += 1
        if not seen:
            log.warning("no training sample carries vertices: the location offset stays zero")
            return
        self.model.set_location_offset(total / seen)
        log.info("location offset: the mean ground-truth location map of %d training samples", seen)

    # ------------------------------------------------------------------ checkpoints
    def _barrier(self) -> None:
        if self.context.distributed:
            torch.distributed.barrier()

    def _sync_buffers(self) -> None:
        """Copy rank 0's learned buffers (normalisation running statistics) to every rank."""
        if not self.context.distributed:
            return
        for name, buffer in self.model.named_buffers():
            if name.startswith("uv_lookup.") or name == "reference_map":
                continue
            if self.context.backend == "nccl":
                torch.distributed.broadcast(buffer, src=0)
            else:
                staged = buffer.detach().cpu()
                torch.distributed.broadcast(staged, src=0)
                buffer.copy_(staged)

    def _model_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() if v.device.type == "cpu" else v.detach().cpu()
                for k, v in self.model.state_dict().items() if not k.startswith("uv_lookup.")}

    def _check_model_config(self, saved: dict, source: Path, keys: Sequence[str] = MODEL_KEYS) -> None:
        saved_model = saved.get("model", {}) if isinstance(saved, dict) else {}
        mine = config_to_dict(self.config)["model"]
        diffs = [f"model.{k}: checkpoint {saved_model.get(k)!r}, this run {mine[k]!r}"
                 for k in keys if k in saved_model and saved_model.get(k) != mine[k]]
        if diffs:
            raise CheckpointError(f"{source} holds another network: " + "; ".join(diffs))

    def _load_weights(self, path: Path, init: bool) -> None:
        checkpoint = load_checkpoint(path, map_location="cpu")
        check_identity(checkpoint, self.uv_sha256, self.template_sha256, source=str(path), uv_map=self.config.model.uv_map)
        cnet_only = init and self.config.run.init_parts == "cnet"
        self._check_model_config(checkpoint["config"], path, CNET_KEYS if cnet_only else MODEL_KEYS)
        state = checkpoint["model"]
        if cnet_only:
            state = {k: v for k, v in state.items() if k.startswith("cnet.") or k == "location_offset"}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("uv_lookup.") and not (cnet_only and k.startswith("lnet."))]
        if missing or unexpected:
            raise CheckpointError(f"{path}: the weights do not fit this model (missing {missing[:5]}, "
                                  f"unexpected {list(unexpected)[:5]})")
        if init:
            log.info("initialised %s from %s", "CNet and the location offset" if cnet_only else "the weights", path)
            return
        progress = Progress(**{k: int(v) for k, v in checkpoint["progress"].items()})
        if progress.stage not in self.stages:
            raise TrainError(f"{path} stopped in stage {progress.stage}, but run.stage={self.config.run.stage}; "
                             f"to start stage 2 from a stage-1 checkpoint use run.init")
        self.progress = progress
        if checkpoint.get("optimizer_stage") == progress.stage:
            self._resume_optimizer = checkpoint.get("optimizer")
            if self.scaler is not None and checkpoint.get("scaler"):
                self.scaler.load_state_dict(checkpoint["scaler"])
        self._resume_rng = checkpoint.get("rng")
        self.metrics = {k: float(v) for k, v in (checkpoint.get("metrics") or {}).items()}
        self.skipped_samples = int(checkpoint.get("skipped_samples", 0))
        log.info("resuming from %s at stage %d, epoch %d, step %d (%d steps done)", path, progress.stage,
                 progress.epoch, progress.step, progress.global_step)

    def save(self, name: str, optimizer: torch.optim.Optimizer | None, stage: int) -> Path | None:
        """Write ``checkpoints/<name>.pt`` and ``<name>.yaml`` (rank 0 only) atomically.

        Every rank calls it (the model's running statistics are first taken from rank 0)."""
        self._sync_buffers()
        if not self.context.is_main:
            return None
        folder = self.out_dir / "checkpoints"
        payload = {
            "model": self._model_state(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "optimizer_stage": stage if optimizer is not None else 0,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "progress": self.progress.as_dict(),
            "rng": capture_rng_state(),
            "config": config_to_dict(self.config),
            "metrics": dict(self.metrics),
            "skipped_samples": self.skipped_samples,
            "uv_sha256": self.uv_sha256,
            "uv_map": str(self.config.model.uv_map),
            "uv_file": self.uv_file,
            "template_sha256": self.template_sha256,
            "torch_version": str(torch.__version__),
        }
        path = save_checkpoint(folder / f"{name}.pt", payload)
        save_config(self.config, folder / f"{name}.yaml")
        if name == "last":
            self.last_checkpoint = path
        return path

    # ------------------------------------------------------------------ one stage
    def _set_trainable(self, stage: int) -> list[nn.Parameter]:
        for parameter in self.model.parameters():
            parameter.requires_grad_(stage == 2)
        for parameter in self.model.cnet.parameters():
            parameter.requires_grad_(True)
        return [p for p in self.model.parameters() if p.requires_grad]

    def _loss_weights(self, stage: int):
        from decomr.losses import LossWeights

        w = self.config.optim.loss
        weights = dataclasses.asdict(w)
        return LossWeights.stage1(**weights) if stage == 1 else LossWeights(**weights)

    def _loader(self, epoch_id: int, start_step: int) -> Iterable[dict[str, Any]]:
        self.sampler.set_epoch(epoch_id, start_step)
        if hasattr(self.dataset, "set_epoch"):  # augmentation stream of the epoch
            self.dataset.set_epoch(epoch_id)
        if getattr(self.dataset, "makes_batches", False):  # batches made in this process, on the device
            return self.dataset.batches(self.sampler)
        generator = torch.Generator().manual_seed(epoch_seed(self.config.run.seed, epoch_id) + self.context.rank)
        workers = self.config.data.workers
        return DataLoader(self.dataset, batch_sampler=self.sampler, num_workers=workers, collate_fn=collate_samples,
                          pin_memory=self.device.type == "cuda", generator=generator,
                          worker_init_fn=functools.partial(_leave_signals_to_the_trainer,
                                                           getattr(self.dataset, "worker_init_fn", _seed_worker)),
                          prefetch_factor=4 if workers else None, persistent_workers=False)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        moved = {}
        for key in TENSOR_KEYS:
            value = batch.get(key)
            if isinstance(value, torch.Tensor):
                moved[key] = value.to(self.device, non_blocking=True)
                if moved[key].is_floating_point() and key not in ("has_smpl", "has_3d", "has_iuv"):
                    moved[key] = moved[key].float()
        if "image" not in moved:
            raise TrainError("a training sample has no 'image' tensor")
        return moved

    def run(self, callbacks: Iterable[Callable[[StepInfo], None]] = ()) -> TrainResult:
        """Train until the end of the last stage, ``run.max_steps``, a :class:`StopTraining`
        from a callback, or a non-finite loss. Returns a :class:`TrainResult`."""
        callbacks = list(callbacks)
        status = "finished"
        try:
            if self._resume_rng is not None:
                restore_rng_state(self._resume_rng)
                self._resume_rng = None
            last = self.stages[-1]
            if self.progress.stage == last and self.progress.epoch >= self.epochs[last] and self.progress.step == 0:
                log.info("the run is already complete (%d steps)", self.progress.global_step)
                return self._result("finished")
            for stage in self.stages:
                if stage < self.progress.stage:
                    continue
                status = self._run_stage(stage, callbacks)
                if status != "finished":
                    break
        finally:
            self.logger.close()
            self._barrier()
        return self._result(status)

    def _result(self, status: str) -> TrainResult:
        last = self.out_dir / "checkpoints" / "last.pt"
        return TrainResult(status=status, progress=self.progress, out_dir=self.out_dir,
                           last_checkpoint=self.last_checkpoint or (last if last.exists() else None),
                           metrics=dict(self.metrics), skipped_samples=self.skipped_samples)

    def close(self) -> None:
        """Leave the process group if this trainer joined it."""
        if self._owns_context:
            shutdown_distributed(self.context)

    def _run_stage(self, stage: int, callbacks: list) -> str:
        run = self.config.run
        optim = self.config.optim
        if self.progress.stage != stage:
            self.progress = Progress(stage=stage, epoch=0, step=0, global_step=self.progress.global_step)
        epochs = self.epochs[stage]
        parameters = self._set_trainable(stage)
        self.loss.weights = self._loss_weights(stage)
        self.model.train()
        optimizer = torch.optim.Adam(parameters, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
        if self._resume_optimizer is not None:
            optimizer.load_state_dict(self._resume_optimizer)
            self._resume_optimizer = None
        step_module: nn.Module = _TrainStep(self.model, self.loss, stage, self.config.model.transfer_iuv)
        if self.context.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # buffers are synchronised at checkpoints (_sync_buffers), not at every step: the UV
            # lookup tables are buffers too, and constant
            # stage 1 trains the IUV branch only: the camera and global-feature heads get no gradient
            unused = stage == 1 or self.config.model.variant != "global+local"
            sync = ({"forward_sync_buffers": False}
                    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                    else {"broadcast_buffers": False})
            step_module = DistributedDataParallel(step_module, device_ids=ids, find_unused_parameters=unused, **sync)
        log.info("stage %d: %s, %d epochs of %d steps, global batch %d on %d process(es)", stage,
                 "CNet alone" if stage == 1 else "end to end", epochs, self.steps_per_epoch,
                 self.config.data.batch_size, self.context.world_size)
        running = torch.zeros(8, device=self.device)
        running_count = 0
        wait_time = 0.0
        busy_time = 0.0
        samples_seen = 0
        names = ("total", "mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv")
        while self.progress.epoch < epochs:
            epoch_id = stage * 100_000 + self.progress.epoch
            loader = self._loader(epoch_id, self.progress.step)
            tick = time.perf_counter()
            for raw in loader:
                fetched = time.perf_counter()
                wait_time += fetched - tick
                skipped = int(raw.get("skipped", 0))
                self.skipped_samples += skipped
                if skipped:
                    log.warning("skipped %d sample(s) that failed to load (%d so far)", skipped, self.skipped_samples)
                batch = self._to_device(raw)
                with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    total, parts, output = step_module(batch)
                finite = bool(torch.isfinite(total.detach()).item())
                if not all_true(finite, self.context):
                    log.error("non-finite loss at stage %d, epoch %d, step %d (%d steps done): stopping; "
                              "the last good checkpoint is kept (%s)", stage, self.progress.epoch, self.progress.step,
                              self.progress.global_step, self.last_checkpoint or "none written yet")
                    self.metrics = {**self.metrics, "loss/total": float("nan")}
                    return "non-finite"
                optimizer.zero_grad(set_to_none=True)
                lr = scheduled_lr(optim, self.progress.epoch * self.steps_per_epoch + self.progress.step,
                                  epochs * self.steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if self.scaler is not None:
                    self.scaler.scale(total).backward()
                    if optim.grad_clip:
                        self.scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(parameters, optim.grad_clip)
                    self.scaler.step(optimizer)
                    self.scaler.update()
                else:
                    total.backward()
                    if optim.grad_clip:
                        torch.nn.utils.clip_grad_norm_(parameters, optim.grad_clip)
                    optimizer.step()
                values = torch.stack([total.detach().float()] + [parts[n].detach().float() for n in names[1:]])
                running += values
                running_count += 1
                samples_seen += batch["image"].shape[0]
                self.progress.step += 1
                self.progress.global_step += 1
                done = time.perf_counter()
                busy_time += done - fetched
                step = self.progress.global_step
                terms: dict[str, float] = {}
                if step % run.log_every == 0:
                    terms = self._log_scalars(running / running_count, names, optimizer, samples_seen, wait_time,
                                              busy_time, stage)
                    running.zero_()
                    running_count = 0
                    wait_time = busy_time = 0.0
                    samples_seen = 0
                if run.image_every and step % run.image_every == 0 and self.context.is_main:
                    self._log_images(batch, output, stage, step)
                if self.progress.step == self.steps_per_epoch:
                    self.progress.epoch += 1
                    self.progress.step = 0
                info = StepInfo(progress=self.progress, total_steps=self.total_steps, loss=float(values[0]),
                                stage_steps_per_epoch=self.steps_per_epoch, terms=terms)
                stop = None
                try:
                    for callback in callbacks:
                        callback(info)
                except StopTraining:
                    stop = "stopped"
                if run.max_steps and step >= run.max_steps:
                    stop = stop or "max_steps"
                # the end of a stage is saved after the loop (stage checkpoint, then ``last``)
                at_epoch_end = self.progress.step == 0 and self.progress.epoch < epochs
                if run.keep_every and step % run.keep_every == 0:
                    self.save(f"step_{step:07d}", None, stage)
                if stop or at_epoch_end or (run.checkpoint_every and step % run.checkpoint_every == 0):
                    self.save("last", optimizer, stage)
                if stop:
                    log.info("stopped (%s) after %d steps; resume with run.resume=last", stop, step)
                    return stop
                tick = time.perf_counter()
        self._finish_stage(stage, optimizer)
        return "finished"

    def _finish_stage(self, stage: int, optimizer) -> None:
        """Write ``stage<N>`` (weights, no optimizer state), then ``last``: pointing at the next
        stage when there is one, else at the end of this one (with the optimizer state)."""
        if self.epochs[stage]:
            self.save(f"stage{stage}", None, stage)
        later = [s for s in self.stages if s > stage]
        if later:
            self.progress = Progress(stage=later[0], epoch=0, step=0, global_step=self.progress.global_step)
            self.save("last", None, later[0])
        elif self.epochs[stage]:
            self.save("last", optimizer, stage)

    # ------------------------------------------------------------------ logging
    def _log_scalars(self, means: torch.Tensor, names, optimizer, samples: int, wait: float, busy: float,
                     stage: int) -> dict[str, float]:
        stats = torch.cat([means.float(), torch.tensor([samples, wait, busy], dtype=torch.float32,
                                                        device=means.device)])
        if self.context.distributed:
            reduce_on = stats if self.context.backend == "nccl" else stats.cpu()
            torch.distributed.all_reduce(reduce_on)
            stats = reduce_on / self.context.world_size
            stats[len(names)] *= self.context.world_size  # samples add up over ranks
        stats = stats.cpu().tolist()
        values = {f"loss/{n}": v for n, v in zip(names, stats)}
        samples, wait, busy = stats[len(names):]
        elapsed = wait + busy
        values["lr"] = float(optimizer.param_groups[0]["lr"])
        values["stage"] = float(stage)
        values["speed/images_per_s"] = samples / elapsed if elapsed > 0 else 0.0
        values["speed/data_wait_fraction"] = wait / elapsed if elapsed > 0 else 0.0
        self.metrics = values
        step = self.progress.global_step
        self.logger.scalars(values, step)
        if self.context.is_main:
            log.info("step %d/%d stage %d epoch %d: loss %.4f (%s), %.1f img/s, %.0f%% waiting for data", step,
                     self.total_steps, stage, self.progress.epoch, values["loss/total"],
                     ", ".join(f"{n} {values['loss/' + n]:.4f}" for n in names[1:] if values["loss/" + n]),
                     values["speed/images_per_s"], 100 * values["speed/data_wait_fraction"])
        return values

    @torch.no_grad()
    def _log_images(self, batch: dict[str, torch.Tensor], output: Any, stage: int, step: int, count: int = 4) -> None:
        grid = self.image_grid(batch, output, count)
        self.logger.image("train/samples", grid, step)

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor], output: Any, count: int = 4) -> torch.Tensor:
        """(3, n H, k W) float in [0, 1]: per sample the input, the predicted and true IUV, the
        predicted location map and (when the renderer works) the predicted mesh over the input."""
        image = batch["image"][:count].detach().float().clamp(0, 1)
        n, _, height, width = image.shape

        def fit(tensor: torch.Tensor) -> torch.Tensor:
            return F.interpolate(tensor.detach().float(), size=(height, width), mode="nearest").clamp(0, 1)

        columns = [image, fit(output.iuv[:count])]
        if "iuv" in batch:
            columns.append(fit(batch["iuv"][:count]))
        location_map = getattr(output, "location_map", None)
        if location_map is not None:
            maps = location_map[:count].detach().float()
            valid = self.uv_lookup.mask(maps.shape[-1]).to(maps.device)
            flat = maps[:, :, valid]
            low = flat.amin(dim=2)[..., None, None]
            high = flat.amax(dim=2)[..., None, None]
            shown = ((maps - low) / (high - low).clamp(min=1e-6)) * valid
            columns.append(fit(shown))
            overlay = self._overlay(image, output, count)
            if overlay is not None:
                columns.append(overlay)
        rows = torch.cat(columns, dim=3)  # (n, 3, H, k W)
        return torch.cat(list(rows), dim=1).cpu()

    def _overlay(self, image: torch.Tensor, output: Any, count: int) -> torch.Tensor | None:
        """The predicted mesh's silhouette tinted over the input (None when rendering fails)."""
        if not self._overlay_ok:
            return None
        try:
            from decomr.render import Renderer, WeakPerspectiveCamera

            if self._renderer is None:
                self._renderer = Renderer(self.uv_lookup.faces, tuple(image.shape[-2:])).to(image.device)
            rendered = self._renderer(output.vertices[:count].detach().float(),
                                      WeakPerspectiveCamera(output.camera[:count].detach().float()))
            mask = rendered.mask.float().reshape(image.shape[0], 1, *image.shape[-2:])
            tint = torch.tensor([1.0, 0.3, 0.2], device=image.device).view(1, 3, 1, 1)
            return image * (1 - 0.5 * mask) + 0.5 * mask * tint
        except Exception as error:  # the overlay is optional: never stop training for it
            log.warning("mesh overlay disabled: %s: %s", type(error).__name__, error)
            self._overlay_ok = False
            return None


def train(config: TrainConfig, dataset: Dataset | None = None,
          callbacks: Iterable[Callable[[StepInfo], None]] = (), context: DistributedContext | None = None) -> TrainResult:
    """Build a :class:`Trainer` and run it (one call; see the class for the details)."""
    trainer = Trainer(config, dataset=dataset, context=context)
    try:
        return trainer.run(callbacks)
    finally:
        trainer.close()


def config_from_checkpoint(path: str | os.PathLike) -> TrainConfig:
    """The resolved config stored in a checkpoint."""
    return config_from_dict(load_checkpoint(path)["config"])
