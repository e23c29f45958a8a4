"""Poses people actually make: anatomical joint limits, a library of key poses, a sampler.

Conventions (SMPL): a pose is (72,) axis-angle, ``pose[0:3]`` the global orientation, then one
rotation vector per joint in ``uvkit.parts.JOINT_NAMES`` order, each in its parent's frame.
Body axes: +Y up, +Z front (the body looks along +Z), +X the body's left. The open body's rest
pose is a T-pose: arms along +-X, palms down, legs along -Y.

What the signs mean (left side; the right side is its mirror: x kept, y and z negated):

- hips: x < 0 lifts the thigh forward (flexion), z > 0 spreads the left leg (abduction);
- knees: x > 0 bends the knee (the shin swings backwards);
- ankles: x < 0 lifts the toes;
- spine, neck, head: x > 0 bends forward, y turns, z bends sideways;
- shoulders: z < 0 lowers the left arm from the T-pose (-90 deg: hanging), z > 0 raises it;
  y < 0 swings it forward; x twists it about its own axis;
- elbows: y < 0 bends the left elbow (forearm forward in the T-pose's palms-down frame);
- hands (the finger block): z < 0 curls the left fingers.

Limits are a box on each joint's rotation vector (a cheap stand-in for swing-twist cones):
:data:`JOINT_LIMITS` (24, 3, 2) radians. The root's entry is unused: the global orientation is
sampled separately (yaw all around, small pitch and roll).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from uvkit.parts import JOINT_NAMES, MIRROR_JOINTS, NUM_JOINTS, PARENTS

__all__ = [
    "JOINT_LIMITS",
    "KEY_POSES",
    "PoseConfig",
    "PoseSampler",
    "clamp_to_limits",
    "within_limits",
    "global_angles",
    "global_rotations",
    "key_pose",
    "mirror_body_pose",
    "joint_positions",
    "torso_clearance",
]

_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# (x, y, z) ranges in degrees; left side and mid-line joints. Right = mirror of left.
_LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "pelvis": ((-180.0, 180.0), (-180.0, 180.0), (-180.0, 180.0)),  # global: unused
    "left_hip": ((-125.0, 35.0), (-40.0, 40.0), (-25.0, 55.0)),
    "spine1": ((-20.0, 45.0), (-25.0, 25.0), (-20.0, 20.0)),
    "left_knee": ((0.0, 150.0), (-8.0, 8.0), (-8.0, 8.0)),
    "spine2": ((-15.0, 30.0), (-20.0, 20.0), (-15.0, 15.0)),
    "left_ankle": ((-30.0, 50.0), (-20.0, 20.0), (-20.0, 20.0)),
    "spine3": ((-15.0, 30.0), (-20.0, 20.0), (-15.0, 15.0)),
    "left_foot": ((-30.0, 30.0), (-5.0, 5.0), (-10.0, 10.0)),
    "neck": ((-35.0, 45.0), (-50.0, 50.0), (-30.0, 30.0)),
    "left_collar": ((-15.0, 15.0), (-20.0, 15.0), (-15.0, 25.0)),
    "head": ((-30.0, 35.0), (-40.0, 40.0), (-20.0, 20.0)),
    "left_shoulder": ((-100.0, 100.0), (-115.0, 50.0), (-95.0, 100.0)),
    "left_elbow": ((-50.0, 50.0), (-150.0, 0.0), (-15.0, 15.0)),
    "left_wrist": ((-50.0, 50.0), (-35.0, 35.0), (-70.0, 70.0)),
    "left_hand": ((-20.0, 20.0), (-15.0, 15.0), (-80.0, 20.0)),
}


def _limits_table() -> np.ndarray:
    table = np.zeros((NUM_JOINTS, 3, 2))
    for name, ranges in _LIMITS_DEG.items():
        table[_INDEX[name]] = np.radians(np.asarray(ranges))
        if name.startswith("left_"):
            mirrored = np.radians(np.asarray(ranges))
            mirrored[1:] = -mirrored[1:, ::-1]  # y, z: negate and swap the bounds
            table[_INDEX["right_" + name[5:]]] = mirrored
    return table


#: (24, 3, 2) float64: [joint, axis, (low, high)] bounds of each rotation-vector component,
#: radians. Mirror-consistent: right = left with y and z bounds negated and swapped.
JOINT_LIMITS: np.ndarray = _limits_table()
JOINT_LIMITS.setflags(write=False)


def _rotvec(angles_deg, order: str = "xyz") -> np.ndarray:
    """Rotation vector of extrinsic Euler angles in degrees (one axis given: that axis-angle)."""
    return Rotation.from_euler(order, angles_deg, degrees=True).as_rotvec()


def _mirror_entry(rotvec: np.ndarray) -> np.ndarray:
    return rotvec * np.array([1.0, -1.0, -1.0])


def _build(entries: dict[str, object], symmetric: dict[str, object] | None = None) -> np.ndarray:
    """A (72,) pose from {joint: rotvec or ("xyz" Euler degrees, order)}; ``symmetric`` entries
    are given for the left side (or a mid-line joint) and mirrored onto the right."""
    pose = np.zeros((NUM_JOINTS, 3))

    def value(spec) -> np.ndarray:
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
            return _rotvec(spec[0], spec[1])
        return _rotvec(spec)

    for name, spec in (symmetric or {}).items():
        rotvec = value(spec)
        pose[_INDEX[name]] = rotvec
        if name.startswith("left_"):
            pose[_INDEX["right_" + name[5:]]] = _mirror_entry(rotvec)
    for name, spec in entries.items():
        pose[_INDEX[name]] = value(spec)
    return pose.reshape(-1)


_ARMS_DOWN = {"left_collar": (0, 0, -5), "left_shoulder": (0, 0, -72), "left_elbow": (0, -12, 0)}

#: key poses, (72,) axis-angle each, global orientation zero (upright, facing +Z).
KEY_POSES: dict[str, np.ndarray] = {
    "t_pose": _build({}),
    "a_pose": _build({}, {"left_shoulder": (0, 0, -45), "left_elbow": (0, -5, 0)}),
    "standing": _build({}, {**_ARMS_DOWN, "left_hip": (0, 0, 4), "left_ankle": (0, 0, -4)}),
    "walking": _build(
        {"left_hip": (-28, 0, 3), "left_knee": (12, 0, 0), "left_ankle": (-8, 0, 0),
         "right_hip": (15, 0, -3), "right_knee": (30, 0, 0), "right_ankle": (15, 0, 0),
         "left_shoulder": (0, 22, -75), "right_shoulder": (0, 22, 75),
         "left_elbow": (0, -15, 0), "right_elbow": (0, 35, 0), "spine2": (0, 6, 0)},
        {"left_collar": (0, 0, -5)}),
    "running": _build(
        {"left_hip": (-65, 0, 5), "left_knee": (75, 0, 0), "left_ankle": (5, 0, 0),
         "right_hip": (20, 0, -5), "right_knee": (95, 0, 0), "right_ankle": (25, 0, 0),
         "left_shoulder": (0, 35, -70), "right_shoulder": (0, 45, 65),
         "left_elbow": (0, -85, 0), "right_elbow": (0, 95, 0),
         "spine1": (12, 0, 0), "spine2": (5, 10, 0), "neck": (-8, -8, 0)},
        {"left_collar": (0, 0, -5)}),
    "sitting": _build(
        {"spine1": (5, 0, 0)},
        {"left_hip": (-88, 0, 8), "left_knee": (88, 0, 0), "left_ankle": (0, 0, 0),
         "left_collar": (0, 0, -5), "left_shoulder": ((0, -30, -65), "xyz"), "left_elbow": (0, -55, 0)}),
    "reaching_up": _build(
        {"spine2": (-5, 0, 0), "spine3": (-5, 0, 0), "neck": (-20, 0, 0)},
        {"left_collar": (0, 0, 18), "left_shoulder": (0, -10, 75), "left_elbow": (0, -5, 0)}),
    "crouching": _build(
        {"spine1": (25, 0, 0), "spine2": (10, 0, 0), "neck": (-25, 0, 0), "head": (-10, 0, 0)},
        {"left_hip": (-110, 0, 12), "left_knee": (130, 0, 0), "left_ankle": (-20, 0, 0),
         "left_shoulder": ((0, -50, -55), "xyz"), "left_elbow": (0, -40, 0)}),
    "waving": _build(
        {"right_shoulder": ((-80, 0, -15), "xyz"), "right_elbow": (0, 100, 0), "right_wrist": (0, 0, 15),
         "left_shoulder": (0, 0, -72), "left_elbow": (0, -12, 0), "left_collar": (0, 0, -5),
         "right_collar": (0, 0, -10), "head": (0, -10, 5)}),
    "arms_crossed": _build(
        {},
        {"left_collar": (0, 0, -5), "left_shoulder": ((50, -70, -30), "xzy"), "left_elbow": (0, -100, 0)}),
    "hands_on_hips": _build(
        {},
        {"left_collar": (0, 0, -3), "left_shoulder": ((0, 25, -55), "xyz"), "left_elbow": (0, -90, 0),
         "left_wrist": (0, 0, 20)}),
    "pointing": _build(
        {"right_shoulder": (0, 80, 0), "right_elbow": (0, 10, 0), "head": (0, -15, 0), "neck": (0, -10, 0),
         "left_shoulder": (0, 0, -72), "left_elbow": (0, -12, 0), "left_collar": (0, 0, -5)},
        {"left_hip": (0, 0, 5)}),
    "lunge": _build(
        {"left_hip": (-80, 0, 5), "left_knee": (85, 0, 0), "left_ankle": (-5, 0, 0),
         "right_hip": (25, 0, -5), "right_knee": (15, 0, 0), "right_ankle": (20, 0, 0),
         "spine1": (5, 0, 0)},
        {"left_collar": (0, 0, -5), "left_shoulder": (0, 0, -60), "left_elbow": (0, -20, 0)}),
    "bending_over": _build(
        {"spine1": (40, 0, 0), "spine2": (25, 0, 0), "spine3": (20, 0, 0), "neck": (-20, 0, 0)},
        {"left_hip": (-40, 0, 5), "left_knee": (10, 0, 0), "left_shoulder": ((0, -60, -60), "xyz"),
         "left_elbow": (0, -10, 0)}),
    "kneeling": _build(
        {"spine1": (0, 0, 0)},
        {"left_hip": (-5, 0, 8), "left_knee": (120, 0, 0), "left_ankle": (30, 0, 0),
         "left_collar": (0, 0, -5), "left_shoulder": (0, 0, -70), "left_elbow": (0, -25, 0)}),
    "phone_call": _build(
        {"right_shoulder": ((0, -30, 70), "xyz"), "right_elbow": (0, 140, 0), "head": (0, 0, -10),
         "left_shoulder": (0, 0, -72), "left_elbow": (0, -12, 0), "left_collar": (0, 0, -5)},
        {"left_hip": (0, 0, 3)}),
}

#: joints whose rotation comes from the "upper body" key pose when two are combined by halves.
UPPER_BODY: tuple[int, ...] = tuple(_INDEX[n] for n in (
    "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"))


def key_pose(name: str) -> np.ndarray:
    """The (72,) float64 key pose called ``name`` (one of :data:`KEY_POSES`)."""
    if name not in KEY_POSES:
        raise ValueError(f"unknown key pose {name!r}; choose one of {sorted(KEY_POSES)}")
    return KEY_POSES[name].copy()


def clamp_to_limits(pose: np.ndarray) -> np.ndarray:
    """Clamp every joint's rotation vector into :data:`JOINT_LIMITS` (the root is left as is).

    pose : (..., 72) float -> (..., 72) float64
    """
    pose = np.array(pose, dtype=np.float64)
    shaped = pose.reshape(*pose.shape[:-1], NUM_JOINTS, 3)
    body = np.clip(shaped[..., 1:, :], JOINT_LIMITS[1:, :, 0], JOINT_LIMITS[1:, :, 1])
    shaped[..., 1:, :] = body
    return shaped.reshape(pose.shape)


def within_limits(pose: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """Whether each pose's body joints (root excluded) lie within :data:`JOINT_LIMITS`.

    pose : (..., 72) float -> (...,) bool
    """
    shaped = np.asarray(pose, dtype=np.float64).reshape(*np.shape(pose)[:-1], NUM_JOINTS, 3)[..., 1:, :]
    low, high = JOINT_LIMITS[1:, :, 0], JOINT_LIMITS[1:, :, 1]
    return np.all((shaped >= low - tolerance) & (shaped <= high + tolerance), axis=(-1, -2))


def mirror_body_pose(pose: np.ndarray) -> np.ndarray:
    """Left-right mirror of (..., 72) poses (numpy; the same as ``decomr.body.mirror_pose``)."""
    pose = np.asarray(pose, dtype=np.float64)
    shaped = pose.reshape(*pose.shape[:-1], NUM_JOINTS, 3)[..., list(MIRROR_JOINTS), :]
    return (shaped * np.array([1.0, -1.0, -1.0])).reshape(pose.shape)


def global_rotations(pose: np.ndarray) -> np.ndarray:
    """Forward kinematics of rotations: each joint's rotation in the world frame.

    pose : (N, 72) float -> (N, 24, 3, 3) float64
    """
    pose = np.asarray(pose, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    local = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(len(pose), NUM_JOINTS, 3, 3)
    world = np.empty_like(local)
    for joint, parent in enumerate(PARENTS):
        world[:, joint] = local[:, joint] if parent < 0 else world[:, parent] @ local[:, joint]
    return world


def joint_positions(pose: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Forward kinematics of joint positions (root at its rest position).

    pose : (N, 72) float; rest_joints : (24, 3) float -> (N, 24, 3) float64
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    world = global_rotations(pose)
    out = np.empty(world.shape[:2] + (3,))
    for joint, parent in enumerate(PARENTS):
        if parent < 0:
            out[:, joint] = rest[joint]
        else:
            out[:, joint] = out[:, parent] + world[:, parent] @ (rest[joint] - rest[parent])
    return out


def torso_clearance(pose: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Smallest distance (metres) of the wrists, hands and elbows to the spine segment from the
    pelvis to spine3: a cheap proxy of arms passing through the torso.

    pose : (N, 72) float; rest_joints : (24, 3) float -> (N,) float64
    """
    joints = joint_positions(pose, rest_joints)
    a, b = joints[:, 0], joints[:, 9]
    ab = b - a
    out = np.full(len(joints), np.inf)
    for joint in (18, 19, 20, 21, 22, 23):
        ap = joints[:, joint] - a
        t = np.clip(np.einsum("nd,nd->n", ap, ab) / np.maximum(np.einsum("nd,nd->n", ab, ab), 1e-12), 0.0, 1.0)
        out = np.minimum(out, np.linalg.norm(ap - t[:, None] * ab, axis=1))
    return out


def global_angles(global_orient: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) radians of global orientations ``R = R_y(yaw) R_x(pitch) R_z(roll)``.

    global_orient : (N, 3) float rotation vectors -> (N, 3) float64
    """
    return Rotation.from_rotvec(np.asarray(global_orient, dtype=np.float64).reshape(-1, 3)).as_euler("YXZ")


@dataclass
class PoseConfig:
    """Pose sampler settings.

    Attributes
    ----------
    key_poses : tuple of str
        names from :data:`KEY_POSES` to draw from (empty: all).
    blend_probability : float
        chance of blending two key poses (weight uniform in [0, 1]) instead of taking one.
    halves_probability : float
        chance of taking the upper body (:data:`UPPER_BODY`) from another key pose.
    mirror_probability : float
        chance of mirroring the key poses left-right (asymmetric poses both ways round).
    noise : float
        per-joint Gaussian noise, standard deviation as a fraction of each limit range.
    yaw_deg : (float, float)
        range of the global yaw in degrees, drawn uniformly (0 faces the camera; the default
        (-180, 180) is all around).
    pitch_deg, roll_deg : float
        standard deviations of the global pitch and roll.
    max_pitch_deg, max_roll_deg : float
        clip of the global pitch and roll.
    """

    key_poses: tuple[str, ...] = ()
    blend_probability: float = 0.6
    halves_probability: float = 0.3
    mirror_probability: float = 0.5
    noise: float = 0.07
    yaw_deg: tuple[float, float] = (-180.0, 180.0)
    pitch_deg: float = 8.0
    roll_deg: float = 5.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 15.0

    def __post_init__(self) -> None:
        unknown = [name for name in self.key_poses if name not in KEY_POSES]
        if unknown:
            raise ValueError(f"unknown key poses {unknown}; choose from {sorted(KEY_POSES)}")
        for name in ("blend_probability", "halves_probability", "mirror_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.noise < 0 or self.pitch_deg < 0 or self.roll_deg < 0:
            raise ValueError("noise, pitch_deg and roll_deg must be >= 0")
        low, high = (float(value) for value in self.yaw_deg)
        if not -180.0 <= low <= high <= 180.0:
            raise ValueError(f"yaw_deg must be a range -180 <= low <= high <= 180, got {tuple(self.yaw_deg)}")
        self.yaw_deg = (low, high)


@dataclass
class PoseSampler:
    """Draws plausible poses: key poses blended, perturbed and clamped to the joint limits.

    ``sample(rng)`` gives one (72,) float64 pose in body axes (+Y up); its global orientation
    is ``R_y(yaw) R_x(pitch) R_z(roll)`` with yaw uniform in ``config.yaw_deg`` (all around by
    default).

    Attributes
    ----------
    config : PoseConfig
    rest_joints : (24, 3) float or None
        the body's rest joints. When given, a draw whose elbows, wrists or hands come closer
        than ``clearance`` to the spine (:func:`torso_clearance`) is redrawn (at most
        ``max_tries`` times, then the standing key pose is used).
    clearance : float
        metres.
    max_tries : int
    """

    config: PoseConfig = field(default_factory=PoseConfig)
    rest_joints: np.ndarray | None = None
    clearance: float = 0.11
    max_tries: int = 20

    def __post_init__(self) -> None:
        names = self.config.key_poses or tuple(KEY_POSES)
        self._names = tuple(names)
        self._library = np.stack([KEY_POSES[name] for name in self._names])  # (P, 72)
        self._sigma = self.config.noise * (JOINT_LIMITS[:, :, 1] - JOINT_LIMITS[:, :, 0])  # (24, 3)
        self._sigma[0] = 0.0

    @property
    def key_pose_names(self) -> tuple[str, ...]:
        return self._names

    def _draw_key(self, rng: np.random.Generator) -> np.ndarray:
        pose = self._library[rng.integers(len(self._library))]
        if rng.random() < self.config.mirror_probability:
            pose = mirror_body_pose(pose)
        return pose

    def body_pose(self, rng: np.random.Generator) -> np.ndarray:
        """(72,) float64 body pose (root zero): key poses, blended, noised, clamped, and (with
        ``rest_joints``) arms kept out of the torso."""
        if self.rest_joints is None:
            return self._draw_body_pose(rng)
        for _ in range(max(1, self.max_tries)):
            pose = self._draw_body_pose(rng)
            if torso_clearance(pose[None], self.rest_joints)[0] >= self.clearance:
                return pose
        return KEY_POSES["standing"].copy()

    def _draw_body_pose(self, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        pose = self._draw_key(rng)
        if rng.random() < cfg.blend_probability:
            weight = rng.random()
            pose = (1.0 - weight) * pose + weight * self._draw_key(rng)
        if rng.random() < cfg.halves_probability:
            other = self._draw_key(rng).reshape(NUM_JOINTS, 3)
            pose = pose.reshape(NUM_JOINTS, 3).copy()
            pose[list(UPPER_BODY)] = other[list(UPPER_BODY)]
            pose = pose.reshape(-1)
        noise = rng.standard_normal((NUM_JOINTS, 3)) * self._sigma
        pose = pose + noise.reshape(-1)
        pose = clamp_to_limits(pose)
        pose[:3] = 0.0
        return pose

    def global_orient(self, rng: np.random.Generator) -> np.ndarray:
        """(3,) float64 rotation vector: yaw uniform in ``config.yaw_deg``, small clipped pitch
        and roll."""
        cfg = self.config
        yaw = rng.uniform(*np.radians(cfg.yaw_deg))
        pitch = np.clip(rng.normal(0.0, cfg.pitch_deg), -cfg.max_pitch_deg, cfg.max_pitch_deg)
        roll = np.clip(rng.normal(0.0, cfg.roll_deg), -cfg.max_roll_deg, cfg.max_roll_deg)
        return Rotation.from_euler("YXZ", [yaw, np.radians(pitch), np.radians(roll)]).as_rotvec()

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One (72,) float64 pose with its global orientation."""
        pose = self.body_pose(rng)
        pose[:3] = self.global_orient(rng)
        return pose

    def sample_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, 72) float64 poses drawn one after the other from ``rng``."""
        return np.stack([self.sample(rng) for _ in range(int(n))]) if n else np.zeros((0, 72))
