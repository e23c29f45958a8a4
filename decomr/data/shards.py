"""Synthetic people on disk: sharded writing (K machines, no coordination) and reading.

Layout of an output folder ``DIR``::

    DIR/config-<hash>.json          the generation settings (identical for every shard)
    DIR/samples/00000/00000042.png  the RGB image of sample 42 (8-bit)
    DIR/samples/00000/00000042.npz  everything else of sample 42 (below); written last
    DIR/shards/shard-0003-of-0008.done   a finished shard

Shard ``i`` of ``K`` renders the indices ``i, i + K, i + 2K, ...`` below ``n``: shards never
overlap, and since sample ``j`` depends only on ``(seed, j)`` the union is the same for any K.
A sample's files are each written atomically, the ``.npz`` after the ``.png``, so a killed run
resumes where it stopped (finished shards are skipped, finished samples too).

Per-sample ``.npz`` keys: ``iuv_uv`` (2, S, S) uint16 (U, V times 65535), ``parts`` (S, S)
uint8 (0 background, joint + 1; the mask is ``parts > 0``), ``joints2d`` (24, 3), ``joints3d``
(24, 4), ``pose`` (72,), ``betas`` (10,), ``camera`` (4,), ``camera_weak`` (3,), ``center``
(2,), ``scale`` (), all float32, ``index`` () int64, and ``vertices`` (V, 3) float32 when
written with ``store_vertices`` (else :class:`SyntheticShards` recomputes them from pose and
betas through the body layer).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from uvkit.atomic import atomic_path, save_npz, write_text

__all__ = ["ShardSpec", "parse_shard", "shard_indices", "write_shard", "SyntheticShards", "sample_paths"]

_FORMAT = "decomr-synth"
_FORMAT_VERSION = 1
_PER_FOLDER = 1000


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard must be i/K with 0 <= i < K, got {self.index}/{self.count}")


def parse_shard(text: str) -> ShardSpec:
    """``"i/K"`` -> ShardSpec."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/K (e.g. 0/4), got {text!r}") from None
    return ShardSpec(index, count)


def shard_indices(n: int, shard: ShardSpec) -> np.ndarray:
    """(M,) int64 indices of a shard: ``shard.index, shard.index + K, ...`` below ``n``."""
    return np.arange(shard.index, int(n), shard.count, dtype=np.int64)


def sample_paths(root: str | os.PathLike, index: int) -> tuple[Path, Path]:
    """(png, npz) paths of sample ``index`` under ``root``."""
    folder = Path(root) / "samples" / f"{index // _PER_FOLDER:05d}"
    return folder / f"{index:08d}.png", folder / f"{index:08d}.npz"


def _settings(engine: Any, n: int, store_vertices: bool) -> dict[str, Any]:
    uvmap = engine.uvmap
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "n": int(n),
        "config": asdict(engine.config),
        "template_sha256": engine.template.sha256,
        "uv": "native" if uvmap is None else uvmap.meta.get("template_sha256", "") + ":" + _uv_digest(uvmap),
        "symmetric_uv": bool(engine.symmetric),
        "store_vertices": bool(store_vertices),
    }


def _batch_settings(engine: Any, batch_size: int) -> dict[str, Any]:
    """What else decides the samples of an engine whose samples depend on their batch (the
    on-device generator: its options and the batch size); nothing for the per-sample one, so
    its folders keep their settings."""
    if not getattr(engine, "batch_dependent", False):
        return {}
    return {"engine": "ondevice", "ondevice": engine.options.to_dict(), "batch_size": int(batch_size)}


def _uv_digest(uvmap: Any) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(uvmap.vt, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(uvmap.ft, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def _config_path(root: Path, settings: dict[str, Any]) -> Path:
    text = json.dumps(settings, sort_keys=True, default=str)
    return root / f"config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"


def _png_bytes(image: torch.Tensor) -> bytes:
    from PIL import Image

    array = (image.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _write_sample(root: Path, sample: dict[str, torch.Tensor], store_vertices: bool) -> None:
    index = int(sample["index"])
    png, npz = sample_paths(root, index)
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        tmp.write_bytes(_png_bytes(sample["image"]))
    arrays = {
        "iuv_uv": np.round(sample["iuv"][1:].clamp(0, 1).numpy() * 65535.0).astype(np.uint16),
        "parts": sample["parts"].numpy().astype(np.uint8),
        "index": np.int64(index),
    }
    for key in ("joints2d", "joints3d", "pose", "betas", "camera", "camera_weak", "center", "scale"):
        arrays[key] = sample[key].numpy().astype(np.float32)
    if store_vertices:
        arrays["vertices"] = sample["vertices"].numpy().astype(np.float32)
    save_npz(npz, **arrays)


def write_shard(root: str | os.PathLike, engine: Any, n: int, shard: ShardSpec, batch_size: int = 16,
                store_vertices: bool = False, progress: Callable[[int], None] | None = None) -> int:
    """Render and write one shard; resumable.

    Parameters
    ----------
    root : path
        output folder (created).
    engine : decomr.data.synthetic.SyntheticRenderer
    n : int
        total number of samples of the data set (over all shards).
    shard : ShardSpec
    batch_size : int
        samples rendered together. An engine whose samples depend on the other samples of their
        batch (``engine.batch_dependent``, the on-device generator) renders fixed batches of
        ``batch_size`` consecutive indices of the shard (a batch with samples missing is made
        whole again and only those are written), so that a resumed run writes the same samples;
        the batch size is then part of the folder's settings.
    store_vertices : bool
        also store (V, 3) vertices per sample (large; otherwise recomputed on reading).
    progress : callable(int) or None
        called with the number of samples finished after each batch (resumed ones included).

    Returns
    -------
    int : samples rendered by this call (0 when the shard was already complete).

    Raises
    ------
    ValueError : the folder holds data generated with other settings.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise PermissionError(f"output folder is not writable: {root}")
    batch_size = max(1, int(batch_size))
    settings = {**_settings(engine, n, store_vertices), **_batch_settings(engine, batch_size)}
    config_path = _config_path(root, settings)
    others = [p.name for p in root.glob("config-*.json") if p != config_path]
    if others:
        raise ValueError(f"{root} holds synthetic data generated with other settings ({', '.join(others)}); "
                         f"use another --out folder or the same settings")
    if not config_path.exists():
        write_text(config_path, json.dumps(settings, indent=1, sort_keys=True, default=str))
    done = root / "shards" / f"shard-{shard.index:04d}-of-{shard.count:04d}.done"
    indices = shard_indices(n, shard)
    if done.exists():
        if progress is not None:
            progress(len(indices))
        return 0
    todo = [int(i) for i in indices if not sample_paths(root, int(i))[1].exists()]
    finished = len(indices) - len(todo)
    if progress is not None:
        progress(finished)
    from .synthetic import unbatch

    if getattr(engine, "batch_dependent", False):
        # fixed batches of consecutive indices of the shard, made whole, their missing samples written
        missing = set(todo)
        blocks = [[int(i) for i in indices[start:start + batch_size]] for start in range(0, len(indices), batch_size)]
        chunks = [(block, [i for i in block if i in missing]) for block in blocks]
        chunks = [(block, wanted) for block, wanted in chunks if wanted]
    else:
        chunks = [(todo[start:start + batch_size],) * 2 for start in range(0, len(todo), batch_size)]
    for block, wanted in chunks:
        keep = set(wanted)
        for sample in unbatch(engine.render(block)):
            if int(sample["index"]) in keep:
                _write_sample(root, sample, store_vertices)
        finished += len(wanted)
        if progress is not None:
            progress(finished)
    done.parent.mkdir(parents=True, exist_ok=True)
    write_text(done, json.dumps({"shard": f"{shard.index}/{shard.count}", "samples": len(indices)}))
    return len(todo)


class SyntheticShards(Dataset):
    """Reads synthetic people written by :func:`write_shard` (any number of shards).

    Samples are ordered by their index; only complete samples (``.npz`` present) are listed.
    Items have the keys of :mod:`decomr.data.synthetic`; ``vertices`` come from the file or, when
    not stored, from the body layer (``body``, default the open body).

    Parameters
    ----------
    root : path
    body : decomr.body.BodyModel or None
        used only when the files hold no vertices (built lazily).
    augment : AugmentConfig or None
        augmentation drawn from ``(seed, index, epoch)`` like :class:`SyntheticPeople`.
    with_vertices : bool
        include ``vertices`` in the items.
    """

    def __init__(self, root: str | os.PathLike, body: Any = None, augment: Any = None,
                 with_vertices: bool = True) -> None:
        self.root = Path(root)
        configs = sorted(self.root.glob("config-*.json"))
        if not configs:
            raise FileNotFoundError(f"{self.root}: no config-*.json: not a decomr-synth folder")
        if len(configs) > 1:
            raise ValueError(f"{self.root}: several generation settings in one folder: {[c.name for c in configs]}")
        self.settings = json.loads(configs[0].read_text())
        if self.settings.get("format") != _FORMAT or self.settings.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{configs[0]}: not a {_FORMAT} v{_FORMAT_VERSION} folder")
        files = sorted((self.root / "samples").glob("*/*.npz"))
        self.indices = np.array(sorted(int(f.stem) for f in files), dtype=np.int64)
        self.seed = int(self.settings["config"]["seed"])
        self.with_vertices = bool(with_vertices)
        self._body = body
        self.augmenter = None
        if augment is not None:
            from .augment import Augmenter

            mirror = self._get_body().template.mirror
            self.augmenter = Augmenter(augment, vertex_mirror=None if mirror is None else torch.as_tensor(mirror),
                                       symmetric_uv=bool(self.settings.get("symmetric_uv")))
        self.epoch = 0

    def _get_body(self) -> Any:
        if self._body is None:
            from ..body import BodyModel

            self._body = BodyModel("open")
            if self._body.template.sha256 != self.settings.get("template_sha256"):
                raise ValueError(f"{self.root}: written for template {self.settings.get('template_sha256')}, "
                                 f"the open body is {self._body.template.sha256}: pass body=")
        return self._body

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, index: int) -> dict[str, torch.Tensor]:
        """Sample ``index`` (the data set's own index, not the position in this list)."""
        from PIL import Image

        png, npz = sample_paths(self.root, int(index))
        try:
            with np.load(npz) as data:
                arrays = {key: data[key] for key in data.files}
            image = np.asarray(Image.open(png).convert("RGB"))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"synthetic sample {index} under {self.root} is unreadable: {error}") from error
        parts = torch.from_numpy(arrays.pop("parts").astype(np.int64))
        mask = (parts > 0).to(torch.float32)
        uv = torch.from_numpy(arrays.pop("iuv_uv").astype(np.float32) / 65535.0)
        sample = {
            "image": torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous(),
            "iuv": torch.cat([mask[None], uv * mask]),
            "mask": mask,
            "parts": parts,
        }
        for key in ("joints2d", "joints3d", "pose", "betas", "camera", "camera_weak", "center", "scale"):
            sample[key] = torch.from_numpy(np.asarray(arrays[key], dtype=np.float32))
        if self.with_vertices:
            if "vertices" in arrays:
                sample["vertices"] = torch.from_numpy(arrays["vertices"])
            else:
                with torch.no_grad():
                    output = self._get_body()(sample["pose"][None], sample["betas"][None])
                sample["vertices"] = output.vertices[0]
        for key in ("has_smpl", "has_3d", "has_iuv"):
            sample[key] = torch.tensor(1.0)
        sample["index"] = torch.tensor(int(index), dtype=torch.int64)
        return sample

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        index = int(self.indices[position])
        sample = self.read(index)
        if self.augmenter is not None:
            from .synthetic import sample_rng

            sample = self.augmenter(sample, sample_rng(self.seed, index, 1 + self.epoch))
        return sample

    def subset_indices(self) -> Sequence[int]:
        return self.indices.tolist()
