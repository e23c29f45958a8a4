"""build_uv's second try with the mirror re-paired near the folds of a released symmetric map."""
from types import SimpleNamespace

import numpy as np
import pytest

import uvkit.build as build
from uvkit.errors import FoldedMapError


def _released(folded: int):
    return SimpleNamespace(folded=np.arange(folded), stats={"symmetry_released_uv_vertices": folded + 3})


def _run(monkeypatch, folded: int, unfolds: bool = True, release: bool = True):
    calls = []
    mirror = SimpleNamespace(permutation=np.arange(10))
    repaired = SimpleNamespace(permutation=np.arange(10)[::-1].copy())
    monkeypatch.setattr(build, "repair_mirror_near", lambda vertices, faces, m, around: repaired)

    def unwrap_with(permutation, release):
        calls.append(permutation.copy())
        if not unfolds:                             # no released map unfolded (or strict)
            raise FoldedMapError("folded", np.arange(folded))
        return _released(folded)

    template = SimpleNamespace(vertices=np.zeros((10, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    try:
        result = build._unwrap_repairing_folds(unwrap_with, template, mirror, lambda message: None, release=release)
    except FoldedMapError as error:
        result = error
    return calls, result, mirror, repaired


def test_few_folds_are_built_again_with_the_mirror_re_paired(monkeypatch):
    calls, (unwrap, used, refined, plain), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS)
    assert len(calls) == 2 and np.array_equal(calls[1], repaired.permutation)
    assert used is repaired and plain is repaired and refined == 10


def test_folds_all_over_keep_the_first_map_and_hand_the_re_paired_mirror_on(monkeypatch):
    calls, (unwrap, used, refined, plain), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS + 1)
    assert len(calls) == 1                          # one solve saved
    assert used is mirror and refined == 0 and plain is repaired


def test_no_released_map_with_folds_all_over_hands_the_re_paired_mirror_to_the_plain_map(monkeypatch):
    """No released symmetric map unfolded and its folds are spread wide: no second symmetric
    solve; the error carries the re-paired mirror for the plain map."""
    calls, error, mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS + 1, unfolds=False)
    assert len(calls) == 1
    assert isinstance(error, build._WidespreadFolds) and error.plain_mirror is repaired


@pytest.mark.parametrize("folded, release", [(build.REPAIR_MAX_FOLDS, True), (build.REPAIR_MAX_FOLDS + 1, False)])
def test_few_folds_or_strict_symmetry_still_try_again(monkeypatch, folded, release):
    """Few folds (a chain of mid-line pairs one step off), or --strict-symmetry: the map is made
    again with the re-paired mirror, and its failure is a plain FoldedMapError."""
    calls, error, mirror, repaired = _run(monkeypatch, folded, unfolds=False, release=release)
    assert len(calls) == 2 and np.array_equal(calls[1], repaired.permutation)
    assert isinstance(error, FoldedMapError) and not isinstance(error, build._WidespreadFolds)
