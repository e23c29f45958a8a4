"""CPU memory reuse for batch loops: keep large freed blocks in the process heap.

glibc returns large freed blocks (``mmap``-ed, or the heap top above the trim threshold) to the
operating system, so each batch's fresh tensors of the same sizes fault in new zeroed pages:
on a 2-core machine that is 15-20% of a batch of synthetic people or of a render (measured,
``docs/results.md``). :func:`keep_freed_memory` raises glibc's mmap threshold to its maximum
(32 MiB on 64-bit systems) and the trim threshold, so blocks of that size are reused; the
process keeps its peak heap. Called explicitly by the command-line tools that loop over
batches (never on import); it does nothing outside glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # glibc's ceiling: 32 MiB on 64-bit


def keep_freed_memory(trim_bytes: int = 1 << 30) -> bool:
    """Set glibc's mmap threshold to its maximum and the trim threshold to ``trim_bytes``.

    Returns True when both were set (glibc on Linux), False otherwise (nothing changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_bytes)))
