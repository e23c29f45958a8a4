"""The 24 SMPL joints, their kinematic tree, left-right pairs and body-part groups.

Part labels of a template are joint ids (0..23): each vertex belongs to the joint that
dominates its skinning weights. The loss weight groups follow the DecoMR paper:
torso 1, neck and head 2, arms and legs 5, hands and feet 25.
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = len(JOINT_NAMES)

#: parent of each joint (-1 for the root), the SMPL kinematic tree.
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)


def _mirror_joints() -> tuple[int, ...]:
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    out = []
    for name in JOINT_NAMES:
        if name.startswith("left_"):
            out.append(index["right_" + name[5:]])
        elif name.startswith("right_"):
            out.append(index["left_" + name[6:]])
        else:
            out.append(index[name])
    return tuple(out)


#: the joint each joint becomes under a left-right mirror (an involution).
MIRROR_JOINTS: tuple[int, ...] = _mirror_joints()

#: part groups and their loss weights (DecoMR: torso : neck&head : arms&legs : hands&feet).
PART_GROUPS: dict[str, tuple[tuple[int, ...], float]] = {
    "torso": ((0, 3, 6, 9, 13, 14), 1.0),
    "head": ((12, 15), 2.0),
    "limbs": ((1, 2, 4, 5, 16, 17, 18, 19), 5.0),
    "extremities": ((7, 8, 10, 11, 20, 21, 22, 23), 25.0),
}


def joint_weights() -> np.ndarray:
    """Loss weight of each joint's part group.

    Returns
    -------
    weights : (24,) float64
    """
    out = np.zeros(NUM_JOINTS)
    for joints, weight in PART_GROUPS.values():
        out[list(joints)] = weight
    return out


def parts_from_weights(weights: np.ndarray) -> np.ndarray:
    """Part label of each vertex: the joint with the largest skinning weight.

    Parameters
    ----------
    weights : (V, J) float
        skinning weights.

    Returns
    -------
    parts : (V,) int64
        joint ids; ties go to the lowest joint id.
    """
    return np.asarray(np.argmax(np.asarray(weights), axis=1), dtype=np.int64)
