import numpy as np
import pytest

from uvkit import shapes


def _euler(mesh):
    F = mesh.faces
    edges = np.unique(np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1), axis=0)
    return len(mesh.vertices) - len(edges) + len(F)


@pytest.mark.parametrize("build", [shapes.capsule, lambda: shapes.stick_figure(1), shapes.torus, shapes.two_capsules])
def test_mirror_is_exact_involution(build):
    mesh = build()
    n = len(mesh.vertices)
    assert mesh.vertices.dtype == np.float64 and mesh.faces.dtype == np.int64 and mesh.mirror.dtype == np.int64
    assert np.array_equal(mesh.mirror[mesh.mirror], np.arange(n))
    assert np.array_equal(mesh.vertices[mesh.mirror], mesh.vertices * np.array([-1.0, 1.0, 1.0]))


def test_closed_shapes_have_expected_topology():
    assert _euler(shapes.capsule()) == 2
    assert _euler(shapes.stick_figure(1)) == 2
    assert _euler(shapes.torus()) == 0
    assert _euler(shapes.two_capsules()) == 4
    assert _euler(shapes.capsule_with_hole()) == 1


def test_stick_figure_is_body_like():
    mesh = shapes.stick_figure(1, height=1.7)
    assert 1000 < len(mesh.vertices) < 3000
    assert np.ptp(mesh.vertices[:, 1]) == pytest.approx(1.7, rel=0.05)
    assert set(np.unique(mesh.parts)) == set(range(24))
    # left (+x) labels mirror onto right labels
    from uvkit.parts import MIRROR_JOINTS
    assert np.array_equal(np.asarray(MIRROR_JOINTS)[mesh.parts], mesh.parts[mesh.mirror])
    # outward orientation: positive volume
    v, f = mesh.vertices, mesh.faces
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6
    assert volume > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        shapes.capsule(n_around=7)
    with pytest.raises(ValueError, match="subdivisions"):
        shapes.stick_figure(0)
