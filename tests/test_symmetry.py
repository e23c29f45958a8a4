import numpy as np
import pytest

from uvkit.errors import SymmetryError
from uvkit.symmetry import find_mirror, reflect

from meshes import icosphere, lopsided_egg


def _is_involution(p):
    return np.array_equal(p[p], np.arange(len(p)))


def test_exact_symmetry_found():
    V, _ = lopsided_egg(3)
    V = V + [0.2, 0.1, 0.0]
    mirror = find_mirror(V)
    assert _is_involution(mirror.permutation)
    assert mirror.max_mismatch < 1e-9
    assert abs(abs(mirror.normal[0]) - 1.0) < 1e-9  # the x = 0.2 plane
    np.testing.assert_allclose(reflect(V, mirror.normal, mirror.offset)[mirror.permutation], V, atol=1e-9)
    assert mirror.n_self > 0


def test_nearly_symmetric_like_smpl_passes():
    """SMPL's template is ~3.5 mm mean / 13 mm max off symmetric on a ~1.75 m body."""
    V, _ = lopsided_egg(4, width=0.87)  # about 1.75 m wide
    noise = np.random.default_rng(0).normal(scale=0.0035, size=V.shape)
    mirror = find_mirror(V + noise)
    assert _is_involution(mirror.permutation)
    assert 0.002 < mirror.mean_mismatch < 0.01
    assert mirror.max_mismatch < 0.03
    assert abs(mirror.normal[0]) > 0.999


def test_one_to_one_where_nearest_neighbour_is_not():
    V, _ = icosphere(3)
    V = V + np.random.default_rng(3).normal(scale=0.01, size=V.shape)
    mirror = find_mirror(V)
    assert len(np.unique(mirror.permutation)) == len(V)
    assert _is_involution(mirror.permutation)


def test_far_from_symmetric_is_refused_unless_allowed():
    V, _ = icosphere(3, stretch=(1.0, 1.7, 0.6))
    V = V.copy()
    V[:, 0] += 0.5 * np.clip(V[:, 1], 0, None) ** 2 * (V[:, 0] > 0)
    V[:, 2] += 0.4 * (V[:, 0] > 0.3)
    with pytest.raises(SymmetryError, match="not left-right symmetric.*--no-symmetry"):
        find_mirror(V, source="lopsided.obj")
    mirror = find_mirror(V, allow_asymmetric=True)
    assert _is_involution(mirror.permutation)


def test_given_permutation_is_checked():
    V, _ = icosphere(2)
    with pytest.raises(SymmetryError, match="not a permutation"):
        find_mirror(V, permutation=np.zeros(len(V), dtype=int))
    p = np.arange(len(V))
    p[[0, 1, 2]] = [1, 2, 0]
    with pytest.raises(SymmetryError, match="not an involution"):
        find_mirror(V, permutation=p)


def test_open_body_with_noise_on_one_side():
    """Independent noise of up to 13 mm per axis on the body's left: pairs stay within the noise."""
    from uvkit import load_template

    body = load_template("open")
    V = body.vertices.copy()
    left = V[:, 0] > 0
    V[left] += np.random.default_rng(0).uniform(-0.013, 0.013, size=(int(left.sum()), 3))
    mirror = find_mirror(V)                            # about 1 s on an idle 2-core machine
    p = mirror.permutation
    assert _is_involution(p) and len(np.unique(p)) == len(p)
    assert mirror.max_mismatch < 0.03                  # the noise alone reaches 22 mm
    # the chosen partner lies near the true one (on the clean body)
    assert np.linalg.norm(body.vertices[p] - body.vertices[body.mirror], axis=1).max() < 0.05
    assert mirror.n_not_mutual > 1000                  # where a nearest-neighbour rule fails
    stats = mirror.stats()
    assert stats["max_mismatch_mm"] < 30 and stats["not_mutual_nearest"] == mirror.n_not_mutual
