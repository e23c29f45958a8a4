"""The committed open body asset: an SMPL-format template like a user's SMPL file."""
import json

import numpy as np
import pytest

from uvkit import find_mirror, load_template, open_body_path
from uvkit.parts import MIRROR_JOINTS, NUM_JOINTS, PARENTS


@pytest.fixture(scope="module")
def body():
    return load_template("open")


def test_topology_and_size(body):
    assert body.n_vertices == 13348 and body.n_faces == 26692
    assert body.report.closed and body.report.genus == 0 and body.report.consistently_oriented
    assert open_body_path().stat().st_size < 10 * 2**20


def test_outward_orientation_and_axes(body):
    V, F = body.vertices, body.faces
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6 > 0  # counter-clockwise from outside
    extent = np.ptp(V, axis=0)
    assert 1.3 < extent[1] < 2.2  # metres, Y up
    assert extent[0] > extent[1]  # T-pose: arm span wider than stature


def test_rig(body):
    assert body.has_rig
    np.testing.assert_allclose(body.weights.sum(axis=1), 1.0, atol=1e-9)
    assert (body.weights >= -1e-12).all()
    np.testing.assert_array_equal(body.kintree_table[0, 1:], PARENTS[1:])
    assert body.shapedirs.shape == (13348, 3, 10) and body.posedirs.shape == (13348, 3, 207)
    joints = body.joint_regressor_dense() @ body.vertices
    np.testing.assert_allclose(joints[0], 0.0, atol=1e-6)  # pelvis at the origin
    assert joints[15, 1] > joints[12, 1] > joints[0, 1] > joints[4, 1] > joints[7, 1]  # head..ankle
    assert joints[16, 0] > 0 > joints[17, 0]  # +x is the body's left


def test_mirror_is_exact_and_consistent(body):
    mirror = body.mirror
    np.testing.assert_array_equal(mirror[mirror], np.arange(body.n_vertices))
    found = find_mirror(body.vertices, mirror)
    assert found.max_mismatch < 1e-5 and abs(found.normal[0]) > 1 - 1e-9
    np.testing.assert_array_equal(body.parts[mirror], np.asarray(MIRROR_JOINTS)[body.parts])
    swapped = body.weights[:, list(MIRROR_JOINTS)]
    np.testing.assert_allclose(body.weights[mirror], swapped, atol=1e-9)
    # the same permutation is found from geometry alone
    np.testing.assert_array_equal(find_mirror(body.vertices).permutation, mirror)


def test_landmarks_and_native_uv(body):
    assert len(body.vertex_ids) == 21
    assert body.vt is not None and body.ft.shape == body.faces.shape
    meta = json.loads(str(body.extras["meta"]))
    assert "anny" in json.dumps(meta).lower()
    assert body.extras["J_regressor_eval"].shape == (NUM_JOINTS, 13348)
    assert (body.extras["J_regressor_eval"] >= 0).all()
