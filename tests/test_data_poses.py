import numpy as np
import pytest
import torch

from decomr.body import BodyModel, mirror_pose
from decomr.data.poses import (JOINT_LIMITS, KEY_POSES, PoseConfig, PoseSampler, clamp_to_limits, global_angles,
                               global_rotations, joint_positions, key_pose, torso_clearance,
                               within_limits)
from uvkit.parts import JOINT_NAMES, MIRROR_JOINTS

N_SAMPLES = 300


@pytest.fixture(scope="module")
def body():
    return BodyModel("open")


@pytest.fixture(scope="module")
def rest_joints(body):
    with torch.no_grad():
        return body(torch.zeros(1, 72)).joints[0].double().numpy()


@pytest.fixture(scope="module")
def samples(rest_joints):
    return PoseSampler(rest_joints=rest_joints).sample_batch(np.random.default_rng(7), N_SAMPLES)


@pytest.fixture(scope="module")
def joints(samples, body):
    pose = torch.tensor(samples, dtype=torch.float32)
    pose[:, :3] = 0.0  # upright: the checks below are in body axes
    with torch.no_grad():
        return body(pose).joints.double().numpy()


def test_limits_are_mirror_consistent():
    mirrored = JOINT_LIMITS[list(MIRROR_JOINTS)].copy()
    mirrored[:, 1:] = -mirrored[:, 1:, ::-1]
    np.testing.assert_allclose(mirrored, JOINT_LIMITS)
    assert np.all(JOINT_LIMITS[..., 0] <= JOINT_LIMITS[..., 1])


def test_key_poses_within_limits():
    for name, pose in KEY_POSES.items():
        assert within_limits(pose), name
        np.testing.assert_array_equal(clamp_to_limits(pose), pose)
    with pytest.raises(ValueError, match="choose one of"):
        key_pose("moonwalk")
    with pytest.raises(ValueError, match="choose from"):
        PoseConfig(key_poses=("moonwalk",))


def test_samples_within_limits_and_mirror(samples):
    assert samples.shape == (N_SAMPLES, 72)
    assert within_limits(samples).all()
    assert within_limits(mirror_pose(samples)).all()
    assert within_limits(mirror_pose(torch.tensor(samples)).numpy()).all()
    yaw, pitch, roll = global_angles(samples[:, :3]).T
    config = PoseConfig()
    assert np.all(np.abs(np.degrees(pitch)) <= config.max_pitch_deg + 1e-6)
    assert np.all(np.abs(np.degrees(roll)) <= config.max_roll_deg + 1e-6)
    assert np.ptp(yaw) > np.radians(300)  # yaw all around
    # not uniform random rotations: knees bend, never much the wrong way
    knees = samples.reshape(-1, 24, 3)[:, [4, 5], 0]
    assert knees.min() >= 0.0


def test_yaw_range():
    config = PoseConfig(yaw_deg=(-30, 45))
    yaw = np.degrees(global_angles(PoseSampler(config).sample_batch(np.random.default_rng(5), 200)[:, :3])[:, 0])
    assert yaw.min() >= -30 - 1e-6 and yaw.max() <= 45 + 1e-6
    assert yaw.min() < -20 and yaw.max() > 35  # the whole range is used
    # the default range draws the same yaw as before the option existed: uniform in [-pi, pi)
    orient = PoseSampler().global_orient(np.random.default_rng(9))
    np.testing.assert_allclose(global_angles(orient[None])[0, 0], np.random.default_rng(9).uniform(-np.pi, np.pi))
    for bad in [(10, -10), (-200, 0), (0, 181)]:
        with pytest.raises(ValueError, match="yaw_deg"):
            PoseConfig(yaw_deg=bad)


def test_reproducible():
    a = PoseSampler().sample_batch(np.random.default_rng(3), 5)
    b = PoseSampler().sample_batch(np.random.default_rng(3), 5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, PoseSampler().sample_batch(np.random.default_rng(4), 5))


def test_knees_bend_the_right_way(samples, joints):
    body_pose = samples.copy()
    body_pose[:, :3] = 0.0
    rotations = global_rotations(body_pose)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        shin = joints[:, ankle] - joints[:, knee]
        local = np.einsum("nji,nj->ni", rotations[:, hip], shin)  # shin in the thigh's frame
        local /= np.linalg.norm(local, axis=1, keepdims=True)
        # the ankle stays below / behind the knee in the thigh's frame (no hyperextension)
        assert local[:, 2].max() < 0.2, JOINT_NAMES[knee]


def _distance_to_segment(points, a, b):
    ab = b - a
    t = np.clip(np.einsum("nd,nd->n", points - a, ab) / np.einsum("nd,nd->n", ab, ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def test_forward_kinematics_matches_the_body(samples, joints, rest_joints):
    body_pose = samples.copy()
    body_pose[:, :3] = 0.0
    np.testing.assert_allclose(joint_positions(body_pose, rest_joints), joints, atol=2e-4)


def test_wrists_stay_outside_the_torso_core(joints):
    # core: a capsule of radius 8 cm around the spine from the pelvis to spine3
    for wrist in (20, 21):
        distance = _distance_to_segment(joints[:, wrist], joints[:, 0], joints[:, 9])
        assert distance.min() > 0.08, distance.min()


def test_key_poses_clear_the_torso(rest_joints):
    poses = np.stack(list(KEY_POSES.values()))
    assert np.all(torso_clearance(poses, rest_joints) > 0.11), dict(zip(KEY_POSES, torso_clearance(poses, rest_joints)))
