"""decomr.threads: results in order, exceptions raised to the caller, grad mode carried over,
the caller's torch threads untouched, and no deadlock when the work itself maps in threads."""
import threading

import pytest
import torch

from decomr.threads import map_in_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_results_in_order_from_other_threads(two_threads):
    caller = threading.get_ident()
    out = map_in_threads(lambda x: (x * x, threading.get_ident()), list(range(5)), workers=2)
    assert [value for value, _ in out] == [0, 1, 4, 9, 16]
    assert all(ident != caller for _, ident in out)


def test_one_torch_thread_means_no_other_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        caller = threading.get_ident()
        assert {ident for ident in map_in_threads(lambda _: threading.get_ident(), [0, 1, 2])} == {caller}
    finally:
        torch.set_num_threads(before)


def test_exceptions_reach_the_caller():
    def fail(x):
        if x == 2:
            raise ValueError("item 2")
        return x

    with pytest.raises(ValueError, match="item 2"):
        map_in_threads(fail, [0, 1, 2, 3])


def test_grad_mode_and_torch_threads(two_threads):
    before = torch.get_num_threads()
    with torch.no_grad():
        modes = map_in_threads(lambda _: torch.is_grad_enabled(), [0, 1])
    assert modes == [False, False]
    assert map_in_threads(lambda _: torch.is_grad_enabled(), [0, 1]) == [True, True]
    torch.set_num_threads(4)
    try:
        assert map_in_threads(lambda _: torch.get_num_threads(), [0, 1]) == [2, 2]
        assert torch.get_num_threads() == 4                  # the caller's setting is its own
    finally:
        torch.set_num_threads(before)


def test_nested_maps_run_inline_instead_of_waiting_on_their_own_pool():
    """4 torch threads, 2 outer items: each outer thread has 2 torch threads, so the inner map
    would use the pool of 2 that the outer items occupy."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        nested_maps()
    finally:
        torch.set_num_threads(before)


def nested_maps():
    result = []

    def outer(x):
        return map_in_threads(lambda y: (x, y, threading.get_ident()), [0, 1], workers=2)

    worker = threading.Thread(target=lambda: result.append(map_in_threads(outer, [0, 1], workers=2)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "nested map_in_threads deadlocked"
    (first, second), = result
    assert [(x, y) for x, y, _ in first + second] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # the inner items ran in the outer item's own thread
    assert first[0][2] == first[1][2] and second[0][2] == second[1][2]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_pool(two_threads):
    """Loader workers are forked: the parent's pool threads do not exist in the child."""
    import multiprocessing

    assert map_in_threads(lambda x: x + 1, [1, 2]) == [2, 3]     # the parent's pool exists
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(_square_in_threads, ([3, 4],))
        assert result.get(timeout=60) == [9, 16]


def _square_in_threads(items):
    return map_in_threads(lambda x: x * x, items)
