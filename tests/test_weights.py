import numpy as np
import pytest

from uvkit.errors import UVMapError
from uvkit.parts import PART_GROUPS
from uvkit.raster import rasterize
from uvkit.weights import face_parts, part_weight_map


def quad_strip(n_quads=4):
    """A flat strip of ``n_quads`` unit quads along u, each quad its own part group.

    Returns vt (N, 2) float64, ft (2 n_quads, 3) int64, parts (N,) int64: vertex column q
    carries a joint of group q (PART_GROUPS order), so the faces show all four groups.
    """
    xs = np.linspace(0.1, 0.9, n_quads + 1)
    vt = np.r_[np.c_[xs, np.full(n_quads + 1, 0.3)], np.c_[xs, np.full(n_quads + 1, 0.7)]]
    ft = []
    top = n_quads + 1
    for q in range(n_quads):
        ft += [[q, q + 1, top + q + 1], [q, top + q + 1, top + q]]
    joints = [group[0][0] for group in PART_GROUPS.values()]
    column_part = np.array(joints + [joints[-1]])
    parts = np.r_[column_part, column_part]
    return vt, np.asarray(ft, dtype=np.int64), parts


def test_face_parts_majority_then_first_corner():
    faces = np.array([[0, 1, 2], [0, 1, 3], [3, 1, 2], [2, 3, 0], [2, 0, 0]])
    parts = np.array([7, 7, 3, 5])
    np.testing.assert_array_equal(face_parts(faces, parts), [7, 7, 5, 3, 7])
    # all three differ: the first corner's
    np.testing.assert_array_equal(face_parts(np.array([[3, 2, 0], [2, 0, 3]]), parts), [5, 3])


def test_weight_map_group_ratios_and_mean():
    vt, ft, parts = quad_strip()
    labels = face_parts(ft, parts)
    table = rasterize(vt, ft, 64)
    weight = part_weight_map(table, ft, parts)
    assert weight.dtype == np.float32 and weight.shape == (64, 64)
    assert np.all(weight[~table.mask] == 0)
    assert abs(weight[table.mask].mean() - 1.0) < 1e-5
    group_weight = {joints[0]: w for joints, w in PART_GROUPS.values()}
    face_weight = np.array([group_weight[j] if j in group_weight else np.nan for j in labels])
    texel_face = table.face[table.mask]
    scale = weight[table.mask] / face_weight[texel_face]
    np.testing.assert_allclose(scale, scale[0], rtol=1e-6)  # one common factor
    seen = sorted({float(w) for w in np.round(weight[table.mask] / scale[0], 4)})
    assert seen == [1.0, 2.0, 5.0, 25.0]


def test_weight_map_without_parts_is_uniform():
    vt, ft, parts = quad_strip()
    table = rasterize(vt, ft, 32)
    weight = part_weight_map(table, ft, None)
    assert np.all(weight[table.mask] == 1.0) and np.all(weight[~table.mask] == 0)


def test_bad_parts_are_refused():
    vt, ft, parts = quad_strip()
    table = rasterize(vt, ft, 16)
    with pytest.raises(UVMapError, match="parts"):
        part_weight_map(table, ft, parts + 30)
    with pytest.raises(UVMapError, match="parts"):
        part_weight_map(table, ft, parts.astype(float))
    with pytest.raises(UVMapError, match="faces"):
        part_weight_map(table, ft, parts[:3])
