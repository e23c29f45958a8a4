import numpy as np
import pytest
import torch

from decomr.body import JOINTS14_FROM_SMPL, BodyModel, mirror_pose
from uvkit import load_template, template_from_arrays

from meshes import icosphere
from smpl_format import smpl_dict


@pytest.fixture(scope="module")
def open_body():
    return BodyModel("open")


def test_body_from_a_rig_made_in_code(capsys):
    V, F = icosphere(2)
    template = template_from_arrays(smpl_dict(V, F), source="made-in-code")
    body = BodyModel(template)
    assert capsys.readouterr().out == ""  # smplx's "fewer than 300 shape coefficients" print is kept off
    out = body(torch.zeros(2, 72))
    assert out.vertices.shape == (2, len(V), 3) and out.joints.shape == (2, 24, 3)
    assert out.landmarks.shape == (2, 0, 3)  # no landmarks named
    np.testing.assert_allclose(out.vertices[0].numpy(), V, atol=1e-5)
    with pytest.raises(ValueError, match=r"pose must have shape \(B, 72\)"):
        body(torch.zeros(2, 69))


def test_rest_pose_reproduces_the_template(open_body):
    out = open_body(torch.zeros(1, 72))
    np.testing.assert_allclose(out.vertices[0].numpy(), open_body.template.vertices, atol=1e-5)
    assert out.joints14.shape == (1, 14, 3)
    assert len(open_body.landmark_names) == 21 and out.landmarks.shape == (1, 21, 3)


def test_raising_the_left_arm_moves_the_left_wrist_up(open_body):
    pose = torch.zeros(2, 72)
    pose[1, 16 * 3 + 2] = 0.8  # left shoulder about +z (SMPL axes: +x left, +y up)
    out = open_body(pose)
    left_wrist, right_wrist = 20, 21
    rise = out.joints[1, left_wrist, 1] - out.joints[0, left_wrist, 1]
    assert rise > 0.15  # metres
    assert torch.allclose(out.joints[1, right_wrist], out.joints[0, right_wrist], atol=1e-6)


def test_mirrored_pose_gives_the_mirrored_mesh(open_body):
    template = open_body.template
    assert template.mirror is not None
    generator = torch.Generator().manual_seed(0)
    pose = 0.4 * torch.randn(3, 72, generator=generator)
    out = open_body(pose)
    mirrored = open_body(mirror_pose(pose))
    reflected = out.vertices * torch.tensor([-1.0, 1.0, 1.0])
    error = (mirrored.vertices[:, torch.as_tensor(template.mirror)] - reflected).norm(dim=-1)
    assert error.max() < 1e-3  # 1 mm: the template, weights and regressor are symmetric


def test_first_beta_changes_height_monotonically(open_body):
    betas = torch.zeros(5, open_body.num_betas)
    betas[:, 0] = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    vertices = open_body(torch.zeros(5, 72), betas).vertices
    height = (vertices[..., 1].max(dim=1).values - vertices[..., 1].min(dim=1).values).numpy()
    steps = np.diff(height)
    assert np.all(steps > 0.01) or np.all(steps < -0.01), height


def test_joints14_are_the_documented_subset(open_body):
    out = open_body(torch.zeros(1, 72))
    np.testing.assert_array_equal(out.joints14.numpy(), out.joints[:, list(JOINTS14_FROM_SMPL)].numpy())
