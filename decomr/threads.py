"""Coarse-grained parallel work on the CPU: whole pieces of a batch in threads.

On a few CPU cores torch spreads one operation of a batch's size poorly over its threads (many
operations here are below its grain size, or too short to pay for waking the other threads), so
independent pieces of work (sub-batches of people, groups of samples to rasterize) are made at
the same time in threads, each running torch with its share of the process's threads. Torch
releases the interpreter lock inside its operations, so the pieces run in parallel. The number
of torch threads is a per-thread setting: the pool's threads change theirs only.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch

__all__ = ["thread_pool", "map_in_threads"]

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_INSIDE = threading.local()                                # set in the pools' threads while they work


def _forget_pools_in_child() -> None:
    """A forked child (a loader worker) has none of its parent's threads: it makes its own pools
    rather than queue work for threads that exist only in the parent."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


def thread_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads (made once, idle between uses)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="decomr")
        return pool


def map_in_threads(function: Callable[..., Any], items: Sequence[Any], workers: int | None = None) -> list[Any]:
    """``[function(item) for item in items]``, computed in ``workers`` threads (default: one per
    item), each running torch with ``torch.get_num_threads() // workers`` threads (at least 1),
    under the calling thread's grad mode. Exceptions are raised here; the order is kept.

    No more threads than the calling thread's torch threads: with one torch thread (a loader
    worker, or a process limited on purpose) the items are computed in the calling thread, one
    after the other. So are they when called from inside such a thread (a sub-batch that
    rasterizes its samples in groups): a pool's threads never wait for work queued behind
    themselves.
    """
    workers = min(len(items), workers or len(items), torch.get_num_threads())
    if workers <= 1 or getattr(_INSIDE, "active", False):
        return [function(item) for item in items]
    threads = max(1, torch.get_num_threads() // workers)
    grad = torch.is_grad_enabled()

    def run(item: Any) -> Any:
        torch.set_num_threads(threads)
        _INSIDE.active = True
        try:
            with torch.set_grad_enabled(grad):
                return function(item)
        finally:
            _INSIDE.active = False

    return list(thread_pool(workers).map(run, items))
