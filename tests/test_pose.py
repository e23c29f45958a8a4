import numpy as np
import pytest
import torch

from decomr.body import BodyModel
from uvkit import load_template
from uvkit.pose import pose_vertices, rodrigues, sample_poses


def test_rodrigues_is_a_rotation():
    R = rodrigues(np.array([[0.0, 0.0, np.pi / 2], [0.3, -0.2, 0.1], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(R[0] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(R[2], np.eye(3))


def test_numpy_skinning_matches_smplx():
    template = load_template("open")
    body = BodyModel(template, dtype=torch.float64)
    poses = sample_poses(2, seed=1)
    betas = np.array([1.0, -0.5, 0.3])
    ours = np.stack([pose_vertices(template, p, betas) for p in poses])
    theirs = body(torch.as_tensor(poses), torch.as_tensor(betas)[None].repeat(2, 1)).vertices.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)  # smplx offsets angles by 1e-8


def test_bad_pose_size():
    with pytest.raises(ValueError, match="72 values"):
        pose_vertices(load_template("open"), np.zeros(69))
