"""Training checkpoints: atomic writes, safe loading, identity checks and RNG states.

A checkpoint is a ``torch.save`` file holding only tensors, plain containers, numbers and
strings, so it loads with ``torch.load(weights_only=True)`` (no code runs on load). Keys:

- ``format`` (``"decomr-checkpoint"``), ``version`` (:data:`CHECKPOINT_VERSION`);
- ``model``: the model's state dict without the UV lookup tables (they come from the UV file);
- ``optimizer``, ``scaler`` (or None), ``progress`` (stage, epoch, step, global_step),
  ``rng`` (:func:`capture_rng_state`), ``metrics`` (last logged losses);
- ``config``: the resolved config as nested dicts;
- ``uv_sha256`` (sha256 of the UV map file's bytes), ``uv_map`` (its path when written),
  ``template_sha256`` (the template the map was built for).

Files are written to a temporary file beside the destination and renamed onto it, so a
checkpoint is either the old one or the new one, never half of each.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from uvkit.atomic import file_sha256

__all__ = [
    "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError",
    "save_checkpoint", "load_checkpoint", "check_identity", "file_sha256",
    "capture_rng_state", "restore_rng_state", "build_model", "find_uv_map", "load_model",
]

CHECKPOINT_FORMAT = "decomr-checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED = ("model", "progress", "config", "uv_sha256", "template_sha256")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that belongs to another UV map or template."""




def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (plus ``format`` and ``version``) to ``path`` atomically.

    Raises ``FileNotFoundError`` / ``PermissionError`` when the folder is missing or not
    writable.
    """
    from uvkit.atomic import atomic_path

    path = Path(path)
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its layout.

    Raises
    ------
    CheckpointError
        missing file, not a torch file (truncated, corrupt, another format), or not a decomr
        checkpoint; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated file?): "
                              f"{type(error).__name__}: {reason[:200]}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a decomr training checkpoint (no format={CHECKPOINT_FORMAT!r})")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r}; this decomr reads "
                              f"version {CHECKPOINT_VERSION}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks key(s) {missing}")
    return data


def check_identity(checkpoint: Mapping[str, Any], uv_sha256: str, template_sha256: str,
                   source: str = "checkpoint", uv_map: str = "") -> None:
    """Raise :class:`CheckpointError` unless the checkpoint was trained with this UV map file
    and template (the message names both hashes)."""
    theirs = str(checkpoint.get("template_sha256", ""))
    if theirs.lower() != template_sha256.lower():
        raise CheckpointError(f"{source} was trained for another template: its template_sha256 is {theirs}, "
                              f"this run's is {template_sha256}")
    theirs = str(checkpoint.get("uv_sha256", ""))
    if theirs.lower() != uv_sha256.lower():
        was = checkpoint.get("uv_map") or "?"
        raise CheckpointError(f"{source} was trained with another UV map: {was} (sha256 {theirs}); "
                              f"this run uses {uv_map or 'a UV map'} (sha256 {uv_sha256})")


# ---------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and every CUDA device) generator states, as tensors, lists
    and numbers (loadable with ``weights_only=True``)."""
    version, internal, gauss_next = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": int(version), "internal": [int(x) for x in internal], "gauss_next": gauss_next},
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(x) for x in py["internal"]), py["gauss_next"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], np.asarray(nps["keys"].numpy(), dtype=np.uint32), int(nps["position"]),
                         int(nps["has_gauss"]), float(nps["cached"])))
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in cuda])


# ---------------------------------------------------------------------------- models
def build_model(model_config: Any, template: Any = None, uv_map: str | os.PathLike | None = None):
    """The network a :class:`decomr.config.ModelConfig` describes, with its UV lookup.

    Parameters
    ----------
    model_config : decomr.config.ModelConfig
    template : uvkit.template.Template, optional
        loaded from ``model_config.template`` when omitted.
    uv_map : path, optional
        the UV map file; ``model_config.uv_map`` when omitted.

    Returns
    -------
    model : decomr.models.DecoMR
    uv_sha256 : str
        sha256 of the UV map file's bytes (what checkpoints record).
    """
    from uvkit import load_template

    from decomr.models import DecoMR
    from decomr.uv import UVLookup

    if template is None:
        template = load_template(model_config.template)
    path = Path(uv_map if uv_map is not None else model_config.uv_map)
    if not str(path) or not path.is_file():
        raise CheckpointError(f"UV map file not found: {path} (give it with --uv)")
    lookup = UVLookup.load(path, template=template, resolution=model_config.resolution)
    model = DecoMR(lookup, variant=model_config.variant, backbone=model_config.backbone,
                   backbone_weights=model_config.backbone_weights, lnet_channels=model_config.lnet_channels,
                   transfer_resolution=model_config.transfer_resolution, location_resolution=model_config.resolution)
    return model, file_sha256(path)


def find_uv_map(checkpoint: Mapping[str, Any], path: Path, uv_map: str | os.PathLike | None) -> Path:
    """The UV map file of a checkpoint: ``uv_map`` if given, else the path recorded at training
    time, as written or relative to the run folder (``<run>/checkpoints/<name>.pt``)."""
    if uv_map is not None:
        return Path(uv_map)
    recorded = Path(str(checkpoint.get("uv_map") or checkpoint["config"]["model"]["uv_map"]))
    for candidate in (recorded, path.parent.parent / recorded, path.parent.parent / recorded.name, path.parent / recorded.name):
        if candidate.is_file() and file_sha256(candidate) == checkpoint["uv_sha256"]:
            return candidate
    raise CheckpointError(
        f"{path}: its UV map {recorded} (sha256 {checkpoint['uv_sha256']}) is not found; give the file with --uv"
    )


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", uv_map: str | os.PathLike | None = None):
    """A trained model, ready for inference (eval mode), from a ``decomr-train`` checkpoint.

    Parameters
    ----------
    path : path
        the checkpoint.
    device : str or torch.device
    uv_map : path, optional
        its UV map file, when it is not where training left it.

    Returns
    -------
    model : decomr.models.DecoMR
        in eval mode; ``model.uv_lookup`` is its UV lookup.
    config : decomr.config.TrainConfig

    Raises
    ------
    CheckpointError
        the checkpoint is unreadable, or belongs to another UV map or template.
    """
    from uvkit import load_template

    from decomr.config import config_from_dict

    path = Path(path)
    checkpoint = load_checkpoint(path)
    config = config_from_dict(checkpoint["config"])
    uv_path = find_uv_map(checkpoint, path, uv_map)
    template = load_template(config.model.template)
    model, uv_sha256 = build_model(config.model, template, uv_path)
    check_identity(checkpoint, uv_sha256, template.sha256, source=str(path), uv_map=str(uv_path))
    missing, unexpected = model.load_state_dict(checkpoint["model"], strict=False)
    missing = [key for key in missing if not key.startswith("uv_lookup.")]
    if missing or unexpected:
        raise CheckpointError(f"{path}: the weights do not fit the model its config describes "
                              f"(missing {missing[:5]}, unexpected {list(unexpected)[:5]})")
    return model.to(device).eval(), config
