"""build_uv's second try with the mirror re-paired near the folds of a released symmetric map."""
from types import SimpleNamespace

import numpy as np

import uvkit.build as build


def _released(folded: int):
    return SimpleNamespace(folded=np.arange(folded), stats={"symmetry_released_uv_vertices": folded + 3})


def _run(monkeypatch, folded: int):
    calls = []
    mirror = SimpleNamespace(permutation=np.arange(10))
    repaired = SimpleNamespace(permutation=np.arange(10)[::-1].copy())
    monkeypatch.setattr(build, "repair_mirror_near", lambda vertices, faces, m, around: repaired)

    def unwrap_with(permutation, release):
        calls.append(permutation.copy())
        return _released(folded)

    template = SimpleNamespace(vertices=np.zeros((10, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    result = build._unwrap_repairing_folds(unwrap_with, template, mirror, lambda message: None, release=True)
    return calls, result, mirror, repaired


def test_few_folds_are_built_again_with_the_mirror_re_paired(monkeypatch):
    calls, (unwrap, used, refined, plain), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS)
    assert len(calls) == 2 and np.array_equal(calls[1], repaired.permutation)
    assert used is repaired and plain is repaired and refined == 10


def test_folds_all_over_keep_the_first_map_and_hand_the_re_paired_mirror_on(monkeypatch):
    calls, (unwrap, used, refined, plain), mirror, repaired = _run(monkeypatch, build.REPAIR_MAX_FOLDS + 1)
    assert len(calls) == 1                          # one solve saved
    assert used is mirror and refined == 0 and plain is repaired
