"""build_uv's second try with the mirror re-paired near the folds of a released symmetric map,
and the map without the mirror averaging made from the solver's map of the symmetric attempt."""
from types import SimpleNamespace

import numpy as np
import pytest

import uvkit.build as build
from uvkit.errors import FoldedMapError


def _released(folded: int):
    return SimpleNamespace(folded=np.arange(folded), stats={"symmetry_released_uv_vertices": folded + 3})


def _run(monkeypatch, folded: int, unfolds: bool = True, release: bool = True, second_unfolds: bool | None = None):
    calls = []
    mirror = SimpleNamespace(permutation=np.arange(10))
    repaired = SimpleNamespace(permutation=np.arange(10)[::-1].copy())
    monkeypatch.setattr(build, "repair_mirror_near", lambda vertices, faces, m, around: repaired)

    def unwrap_with(permutation, release):
        calls.append(permutation.copy())
        works = unfolds if len(calls) == 1 or second_unfolds is None else second_unfolds
        if not works:                               # no released map unfolded (or strict)
            raise FoldedMapError("folded", np.arange(folded), flattened=f"solved {len(calls)}")
        return _released(folded)

    template = SimpleNamespace(vertices=np.zeros((10, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    try:
        result = build._unwrap_repairing_folds(unwrap_with, template, mirror, lambda message: None, release=release)
    except FoldedMapError as error:
        result = error
    return calls, result, mirror, repaired


def test_few_folds_are_built_again_with_the_mirror_re_paired(monkeypatch):
    calls, (unwrap, used, refined), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS)
    assert len(calls) == 2 and np.array_equal(calls[1], repaired.permutation)
    assert used is repaired and refined == 10


def test_folds_all_over_keep_the_first_map_without_re_pairing(monkeypatch):
    calls, (unwrap, used, refined), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS + 1)
    assert len(calls) == 1                          # one solve saved
    assert used is mirror and refined == 0


def test_no_released_map_with_folds_all_over_hands_the_attempt_to_the_plain_map(monkeypatch):
    """No released symmetric map unfolded and its folds are spread wide: no second symmetric
    solve; the error carries the attempt's mirror and its solver's map for the plain map."""
    calls, error, mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS + 1, unfolds=False)
    assert len(calls) == 1
    assert isinstance(error, build._NoSymmetricMap) and error.mirror is mirror and error.flattened == "solved 1"


@pytest.mark.parametrize("folded, release", [(build.REPAIR_MAX_FOLDS, True), (build.REPAIR_MAX_FOLDS + 1, False)])
def test_few_folds_or_strict_symmetry_still_try_again(monkeypatch, folded, release):
    """Few folds (a chain of mid-line pairs one step off), or --strict-symmetry: the map is made
    again with the re-paired mirror; its failure hands on the second attempt's mirror and map."""
    calls, error, mirror, repaired = _run(monkeypatch, folded, unfolds=False, release=release)
    assert len(calls) == 2 and np.array_equal(calls[1], repaired.permutation)
    assert isinstance(error, build._NoSymmetricMap) and error.mirror is repaired and error.flattened == "solved 2"


def test_a_failed_second_try_keeps_the_first_released_map(monkeypatch):
    calls, (unwrap, used, refined), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS, second_unfolds=False)
    assert len(calls) == 2 and used is mirror and refined == 0 and unwrap.folded is not None


def test_the_file_name_is_put_in_front_of_a_carrying_error():
    error = build._NoSymmetricMap("folded", np.arange(3), SimpleNamespace(), "solved")
    named = build._named(error, "body.obj")
    assert isinstance(named, FoldedMapError) and str(named) == "body.obj: folded"
    assert named.flattened == "solved" and np.array_equal(named.vertices, np.arange(3))
