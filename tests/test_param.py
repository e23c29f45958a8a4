import numpy as np
import pytest

from uvkit import cut, param, shapes
from uvkit.errors import UvkitError


@pytest.fixture(scope="module")
def figure_disk():
    mesh = shapes.stick_figure(1)
    c = cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts)
    return mesh.vertices[c.vt2v], c.ft, c.boundary


def test_tutte_is_flip_free_and_counter_clockwise(figure_disk):
    V, F, boundary = figure_disk
    UV = param.tutte(V, F, boundary)
    assert len(param.flipped_triangles(UV, F)) == 0
    assert np.all(param.signed_areas(UV, F) > 0)
    # boundary on a circle whose area is the surface area
    radius = np.linalg.norm(UV[boundary], axis=1)
    assert np.allclose(radius, np.sqrt(param.triangle_areas(V, F).sum() / np.pi), rtol=1e-12)


@pytest.mark.parametrize("solver", ["scaf", "slim"])
def test_solvers_reduce_distortion_without_flips(figure_disk, solver):
    V, F, boundary = figure_disk
    UV0 = param.tutte(V, F, boundary)
    UV = param.optimize(V, F, UV0, solver, 10)
    assert UV.shape == UV0.shape and UV.dtype == np.float64
    assert len(param.flipped_triangles(UV, F)) == 0
    assert param.area_distortion(V, F, UV).mean_abs_log < 0.5 * param.area_distortion(V, F, UV0).mean_abs_log
    if solver == "scaf":
        assert param.boundary_self_overlaps(UV, boundary) == 0


def test_equalize_area_improves_and_stays_valid(figure_disk):
    V, F, boundary = figure_disk
    UV = param.optimize(V, F, param.tutte(V, F, boundary), "scaf", 10)
    before = param.area_distortion(V, F, UV)
    out = param.equalize_area(V, F, UV, boundary, iterations=10)
    after = param.area_distortion(V, F, out)
    assert after.mean_abs_log < 0.5 * before.mean_abs_log
    assert after.p5 > before.p5 and after.p95 < before.p95
    assert len(param.flipped_triangles(out, F)) == 0
    assert param.boundary_self_overlaps(out, boundary) == 0
    # strength 0 changes nothing
    assert np.array_equal(param.equalize_area(V, F, UV, boundary, 5, strength=0.0), UV)


def test_area_distortion_of_similar_map_is_zero():
    mesh = shapes.capsule()
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64)
    F = np.array([[0, 1, 2], [0, 2, 3]])
    d = param.area_distortion(V, F, 3.0 * V[:, :2])
    assert d.mean_abs_log == pytest.approx(0.0, abs=1e-12) and d.p5 == pytest.approx(1.0) and d.p95 == pytest.approx(1.0)
    assert len(mesh.vertices) > 0


def test_flips_and_overlaps_are_detected():
    UV = np.array([[0, 0], [1, 0], [0, 1], [1, 1.0]])
    F = np.array([[0, 1, 2], [1, 2, 3]])                  # second triangle is clockwise
    assert list(param.flipped_triangles(UV, F)) == [1]
    # a bow-tie boundary crosses itself
    bow = np.array([[0, 0], [1, 1], [1, 0], [0, 1.0]])
    assert param.boundary_self_overlaps(bow, np.arange(4)) == 1
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]])
    assert param.boundary_self_overlaps(square, np.arange(4)) == 0


def test_unknown_solver_lists_valid_ones(figure_disk):
    V, F, boundary = figure_disk
    with pytest.raises(UvkitError, match="valid solvers: scaf, slim"):
        param.optimize(V, F, param.tutte(V, F, boundary), "arap", 5)
    with pytest.raises(UvkitError, match="strength"):
        param.equalize_area(V, F, param.tutte(V, F, boundary), boundary, 1, strength=2.0)
