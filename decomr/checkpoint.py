"""Training checkpoints: atomic writes, safe loading, identity checks and RNG states.

A checkpoint is a ``torch.save`` file holding only tensors, plain containers, numbers and
strings, so it loads with ``torch.load(weights_only=True)`` (no code runs on load). Keys:

- ``format`` (``"decomr-checkpoint"``), ``version`` (:data:`CHECKPOINT_VERSION`);
- ``model``: the model's state dict without the UV lookup tables (they come from the UV file);
- ``optimizer``, ``scaler`` (or None), ``progress`` (stage, epoch, step, global_step),
  ``rng`` (:func:`capture_rng_state`), ``metrics`` (last logged losses);
- ``config``: the resolved config as nested dicts;
- ``uv_sha256`` (sha256 of the UV map file's bytes), ``uv_map`` (its path when written),
  ``template_sha256`` (the template the map was built for);
- ``uv_file`` (version 2): the UV map file itself, its bytes as a ``uint8`` tensor, so a
  checkpoint needs nothing beside it: moved to another folder or machine it still loads;
- optional: ``weights_dtype`` (``float16`` in released models, whose weights are stored in half
  precision and loaded as float32), ``training`` (a summary of the run that made it),
  ``source_commit``.

Version 1 checkpoints (the UV map by path only) still load when their UV map file is found
where it was, next to the run, or given with ``--uv``; ``decomr-export --standalone`` rewrites
one as version 2.

Files are written to a temporary file beside the destination and renamed onto it, so a
checkpoint is either the old one or the new one, never half of each.
"""
from __future__ import annotations

import io
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
    "embed_file", "default_model_path", "checkpoint_uv_source", "checkpoint_uvmap", "checkpoint_template", "standalone_checkpoint",
]

CHECKPOINT_FORMAT = "decomr-checkpoint"
CHECKPOINT_VERSION = 2
#: versions this decomr reads (1: the UV map by path only; 2: the UV map file embedded).
READABLE_VERSIONS = (1, 2)
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
    if data.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r}; this decomr reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))} (a newer decomr wrote it?)")
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
#: file name of the released model in the assets folder (``assets/models/``).
DEFAULT_MODEL_NAME = "decomr_open_resnet18.pt"


def default_model_path() -> Path:
    """Path of the model released with the project (``assets/models/decomr_open_resnet18.pt``:
    ResNet-18, the open body, its continuous UV map; see ``assets/models/README.md``), used by
    ``decomr-predict`` and ``decomr-eval`` when no checkpoint is given."""
    from uvkit.template import assets_dir

    return assets_dir() / "models" / DEFAULT_MODEL_NAME


def embed_file(path: str | os.PathLike) -> torch.Tensor:
    """(n,) uint8 tensor: the bytes of a file, to be stored inside a checkpoint."""
    return torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8).clone()


def _embedded_bytes(checkpoint: Mapping[str, Any]) -> bytes | None:
    data = checkpoint.get("uv_file")
    if data is None:
        return None
    return bytes(torch.as_tensor(data, dtype=torch.uint8).numpy().tobytes())


def checkpoint_uv_source(checkpoint: Mapping[str, Any], path: str | os.PathLike,
                         uv_map: str | os.PathLike | None = None) -> tuple[Any, str]:
    """Where a checkpoint's UV map comes from: ``uv_map`` when given (a path), else the file
    embedded in the checkpoint (version 2), else the path recorded at training time (version 1,
    :func:`find_uv_map`).

    Returns
    -------
    source : Path or io.BytesIO
        what :func:`uvkit.uvmap.load_uvmap` and :func:`build_model` read.
    description : str
        for messages: the path, or ``<checkpoint> (embedded UV map)``.

    Raises
    ------
    CheckpointError
        the embedded bytes do not have the recorded hash (a damaged file), or a version-1
        checkpoint's UV map is not found.
    """
    import hashlib

    path = Path(path)
    if uv_map is not None:
        return Path(uv_map), str(uv_map)
    embedded = _embedded_bytes(checkpoint)
    if embedded is not None:
        digest = hashlib.sha256(embedded).hexdigest()
        if digest != str(checkpoint["uv_sha256"]).lower():
            raise CheckpointError(f"{path}: its embedded UV map has sha256 {digest}, the checkpoint records "
                                  f"{checkpoint['uv_sha256']} (damaged file?)")
        return io.BytesIO(embedded), f"{path} (embedded UV map)"
    return find_uv_map(checkpoint, path, None), ""


def checkpoint_uvmap(checkpoint: Mapping[str, Any], path: str | os.PathLike, uv_map: str | os.PathLike | None = None):
    """The :class:`uvkit.uvmap.UVMap` of a checkpoint (see :func:`checkpoint_uv_source`)."""
    from uvkit.uvmap import load_uvmap

    source, description = checkpoint_uv_source(checkpoint, path, uv_map)
    return load_uvmap(source, source=description or None)


def checkpoint_template(checkpoint: Mapping[str, Any], path: str | os.PathLike, template: Any = None):
    """The body template of a checkpoint: ``template`` (a path, a name or a loaded template) when
    given, else the one its config names; either way it must be the one the model was trained
    for (its sha256 is checked).

    Raises
    ------
    CheckpointError
        the template is not found (its name or path is in the message, with the hint to give
        ``--template``) or is another template than the model's.
    """
    from uvkit.template import load_template

    recorded = str(checkpoint["config"]["model"].get("template", "open"))
    if template is None or isinstance(template, (str, os.PathLike)):
        name = recorded if template is None else str(template)
        try:
            template = load_template(name)
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{path}: the model's body template cannot be loaded ({error}); give it with "
                                  f"--template (it must have sha256 {checkpoint['template_sha256']})") from None
    if str(template.sha256).lower() != str(checkpoint["template_sha256"]).lower():
        raise CheckpointError(f"{path} was trained for another template: its template_sha256 is "
                              f"{checkpoint['template_sha256']}, {template.source} has {template.sha256}")
    return template


def build_model(model_config: Any, template: Any = None, uv_map: str | os.PathLike | None = None):
    """The network a :class:`decomr.config.ModelConfig` describes, with its UV lookup.

    Parameters
    ----------
    model_config : decomr.config.ModelConfig
    template : uvkit.template.Template, optional
        loaded from ``model_config.template`` when omitted.
    uv_map : path or io.BytesIO, optional
        the UV map file (or its bytes, :func:`checkpoint_uv_source`); ``model_config.uv_map``
        when omitted.

    Returns
    -------
    model : decomr.models.DecoMR
    uv_sha256 : str
        sha256 of the UV map file's bytes (what checkpoints record).
    """
    import hashlib

    from uvkit import load_template

    from decomr.models import DecoMR
    from decomr.uv import UVLookup

    if template is None:
        template = load_template(model_config.template)
    if isinstance(uv_map, io.BytesIO):
        source, digest = uv_map, hashlib.sha256(uv_map.getvalue()).hexdigest()
    else:
        source = Path(uv_map if uv_map is not None else model_config.uv_map)
        if not str(source) or not source.is_file():
            raise CheckpointError(f"UV map file not found: {source} (give it with --uv)")
        digest = file_sha256(source)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    lookup = UVLookup.load(source, template=template, resolution=model_config.resolution)
    model = DecoMR(lookup, variant=model_config.variant, backbone=model_config.backbone,
                   backbone_weights=model_config.backbone_weights, lnet_channels=model_config.lnet_channels,
                   transfer_resolution=model_config.transfer_resolution, location_resolution=model_config.resolution,
                   global_init=model_config.global_init)
    return model, digest


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
        f"{path}: its UV map {recorded} (sha256 {checkpoint['uv_sha256']}) is not found; give the file with --uv "
        f"(a version-1 checkpoint stores its UV map by path; 'decomr-export --standalone' embeds it)"
    )


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", uv_map: str | os.PathLike | None = None,
               template: Any = None):
    """A trained model, ready for inference (eval mode), from a ``decomr-train`` checkpoint or a
    released model (:func:`standalone_checkpoint`).

    Parameters
    ----------
    path : path
        the checkpoint.
    device : str or torch.device
    uv_map : path, optional
        its UV map file; by default the one embedded in the checkpoint (version 2), or, for a
        version-1 checkpoint, the file where training left it.
    template : path, name or Template, optional
        the body template; by default the one the checkpoint's config names. Checked against
        the checkpoint's template hash either way.

    Returns
    -------
    model : decomr.models.DecoMR
        in eval mode, float32; ``model.uv_lookup`` is its UV lookup.
    config : decomr.config.TrainConfig

    Raises
    ------
    CheckpointError
        the checkpoint is unreadable, or belongs to another UV map or template.
    """
    from decomr.config import config_from_dict

    path = Path(path)
    checkpoint = load_checkpoint(path)
    config = config_from_dict(checkpoint["config"])
    source, description = checkpoint_uv_source(checkpoint, path, uv_map)
    template = checkpoint_template(checkpoint, path, template)
    model, uv_sha256 = build_model(config.model, template, source)
    check_identity(checkpoint, uv_sha256, template.sha256, source=str(path), uv_map=description or str(source))
    weights = {k: v.float() if torch.is_floating_point(v) else v for k, v in checkpoint["model"].items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [key for key in missing if not key.startswith("uv_lookup.")]
    if missing or unexpected:
        raise CheckpointError(f"{path}: the weights do not fit the model its config describes "
                              f"(missing {missing[:5]}, unexpected {list(unexpected)[:5]})")
    return model.to(device).eval(), config


def standalone_checkpoint(path: str | os.PathLike, out: str | os.PathLike, uv_map: str | os.PathLike | None = None,
                          half: bool = False, training: Mapping[str, Any] | None = None,
                          source_commit: str | None = None) -> Path:
    """Rewrite a checkpoint (version 1 or 2) as a standalone inference checkpoint: the UV map
    embedded, no optimizer or RNG state; optionally the weights in float16 (a released model).

    Parameters
    ----------
    path, out : paths
        the checkpoint read and the file written (atomically).
    uv_map : path, optional
        the UV map file of a version-1 checkpoint whose file moved.
    half : bool
        store floating-point weights as float16 (half the size; loaded back as float32).
    training : mapping, optional
        a summary of the training run (steps, time, last losses, evaluation), stored as is.
    source_commit : str, optional
        the revision of the code that trained it.

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path)
    source, description = checkpoint_uv_source(checkpoint, path, uv_map)
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    if digest != str(checkpoint["uv_sha256"]).lower():
        raise CheckpointError(f"{path} was trained with another UV map (sha256 {checkpoint['uv_sha256']}); "
                              f"{description or source} has sha256 {digest}")
    weights = {k: (v.half() if half and torch.is_floating_point(v) else v).contiguous()
               for k, v in checkpoint["model"].items()}
    payload = {
        "model": weights,
        "optimizer": None,
        "optimizer_stage": 0,
        "scaler": None,
        "progress": checkpoint["progress"],
        "config": checkpoint["config"],
        "metrics": checkpoint.get("metrics") or {},
        "uv_sha256": checkpoint["uv_sha256"],
        "uv_map": Path(str(checkpoint.get("uv_map") or "")).name,
        "uv_file": torch.frombuffer(bytearray(data), dtype=torch.uint8).clone(),
        "template_sha256": checkpoint["template_sha256"],
        "torch_version": str(checkpoint.get("torch_version", torch.__version__)),
        "weights_dtype": "float16" if half else "float32",
    }
    if training is not None:
        payload["training"] = dict(training)
    if source_commit:
        payload["source_commit"] = str(source_commit)
    return save_checkpoint(out, payload)
