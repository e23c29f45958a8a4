"""Atomic file writing: a temporary file in the destination folder, then ``os.replace``.

Nothing half-written is ever left under the final name, on error or on Ctrl-C.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    ``suffix`` defaults to the destination's own suffix, so that writers which choose a format
    from the file name (numpy's ``.npz``, matplotlib's ``.png``) behave as for ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder is not writable: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else ".tmp" + path.suffix, dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def save_npz(path: str | os.PathLike, compressed: bool = True, **arrays) -> None:
    """``numpy.savez[_compressed]`` to ``path`` atomically (``path`` should end in ``.npz``)."""
    import numpy as np

    with atomic_path(path, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (64 hex digits), read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def writable_folder(path: str | os.PathLike, *subfolders: str) -> Path:
    """Create ``path`` (and ``subfolders`` inside it) if needed and prove it can be written to,
    by writing and removing a probe file. Raises ``OSError`` otherwise."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in subfolders:
        (path / name).mkdir(exist_ok=True)
    probe = path / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    return path
