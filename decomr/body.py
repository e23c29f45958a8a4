"""The body layer: an SMPL-format template (a user's SMPL or the open body) posed by smplx.

``BodyModel(template)`` builds ``smplx.SMPL`` from memory (no file of smplx's own layout is
needed) and returns vertices and joints for a batch of pose (72 axis-angle values: the global
orientation then 23 body joints, SMPL order) and shape (betas) parameters.

Joint sets (documented order):

- ``joints`` (B, 24, 3): the SMPL joints, ``uvkit.parts.JOINT_NAMES`` order.
- ``joints14`` (B, 14, 3): the evaluation set of the field (LSP order) derived from them:
  right ankle, right knee, right hip, left hip, left knee, left ankle, right wrist,
  right elbow, right shoulder, left shoulder, left elbow, left wrist, neck, head.
- ``landmarks`` (B, L, 3): the template's ``vertex_ids`` vertices (smplx's extra keypoints:
  nose, eyes, ears, toes, heels, fingertips) when the template names them.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from uvkit.parts import JOINT_NAMES, NUM_JOINTS
from uvkit.template import Template, load_template

#: indices into the 24 SMPL joints of the 14 evaluation joints (LSP order).
JOINTS14_FROM_SMPL: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15)
JOINTS14_NAMES: tuple[str, ...] = tuple(JOINT_NAMES[i] for i in JOINTS14_FROM_SMPL)

#: the landmark names smplx's SMPL layer reads from ``vertex_ids``, in its order.
SMPLX_LANDMARKS: tuple[str, ...] = (
    "nose", "reye", "leye", "rear", "lear",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    "lthumb", "lindex", "lmiddle", "lring", "lpinky",
    "rthumb", "rindex", "rmiddle", "rring", "rpinky",
)


@dataclass
class BodyOutput:
    """Posed bodies.

    Attributes
    ----------
    vertices : (B, V, 3) tensor
    joints : (B, 24, 3) tensor
    landmarks : (B, L, 3) tensor (L = 0 when the template names no landmarks)
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks: torch.Tensor

    @property
    def joints14(self) -> torch.Tensor:
        """(B, 14, 3) evaluation joints, LSP order."""
        return self.joints[:, list(JOINTS14_FROM_SMPL)]


class _NoLandmarks(nn.Module):
    """Replaces smplx's vertex-joint selector for templates without named landmarks."""

    def forward(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        return joints


class BodyModel(nn.Module):
    """SMPL-format body layer built from a :class:`uvkit.template.Template` in memory.

    Parameters
    ----------
    template : Template or str
        a loaded template, a template file, or ``"open"`` (the open body).
    num_betas : int, optional
        shape components to use (default: all the template has; smplx uses at most 10 for
        an SMPL layer).
    dtype : torch.dtype
    """

    def __init__(self, template: Template | str = "open", num_betas: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        import smplx

        if not isinstance(template, Template):
            template = load_template(template)
        if not template.has_rig or template.shapedirs is None:
            raise ValueError(f"{template.source}: the template has no SMPL rig (weights, kintree_table, J_regressor, shapedirs)")
        if template.weights.shape[1] != NUM_JOINTS:
            raise ValueError(f"{template.source}: 'weights' has {template.weights.shape[1]} joints; an SMPL rig has {NUM_JOINTS}")
        self.template = template
        arrays = template.as_smpl_dict()
        available = min(arrays["shapedirs"].shape[2], 10)
        num_betas = available if num_betas is None else int(num_betas)
        if not 0 < num_betas <= available:
            raise ValueError(f"num_betas must be in 1..{available} for {template.source}, got {num_betas}")
        landmark_names = [name for name in SMPLX_LANDMARKS if name in template.vertex_ids]
        has_all = len(landmark_names) == len(SMPLX_LANDMARKS)
        self.landmark_names = tuple(landmark_names) if has_all else ()
        # smplx prints a warning whenever a model has fewer than 300 shape components (SMPL
        # files have 10); it says nothing about this template, so it is kept off the output
        with contextlib.redirect_stdout(io.StringIO()):
            layer = smplx.SMPL(
                model_path="",
                data_struct=SimpleNamespace(**arrays),
                num_betas=num_betas,
                vertex_ids=template.vertex_ids if has_all else {name: 0 for name in SMPLX_LANDMARKS},
                create_betas=False,
                create_global_orient=False,
                create_body_pose=False,
                create_transl=False,
                dtype=dtype,
            )
        if not has_all:
            layer.vertex_joint_selector = _NoLandmarks()
        self.layer = layer
        self.num_betas = num_betas
        self.register_buffer("faces", torch.as_tensor(template.faces, dtype=torch.long), persistent=False)

    @property
    def n_vertices(self) -> int:
        return self.template.n_vertices

    def forward(self, pose: torch.Tensor, betas: torch.Tensor | None = None, transl: torch.Tensor | None = None) -> BodyOutput:
        """Pose a batch of bodies.

        Parameters
        ----------
        pose : (B, 72) tensor
            axis-angle; ``pose[:, :3]`` the global orientation, then 23 joints in SMPL order.
        betas : (B, K) tensor, optional
            zeros when omitted; K <= ``num_betas``.
        transl : (B, 3) tensor, optional
        """
        if pose.ndim != 2 or pose.shape[1] != 3 * NUM_JOINTS:
            raise ValueError(f"pose must have shape (B, {3 * NUM_JOINTS}), got {tuple(pose.shape)}")
        batch = pose.shape[0]
        dtype = self.layer.v_template.dtype
        pose = pose.to(dtype)
        if betas is None:
            betas = pose.new_zeros(batch, self.num_betas)
        if betas.shape[1] < self.num_betas:
            betas = torch.cat([betas, betas.new_zeros(batch, self.num_betas - betas.shape[1])], dim=1)
        elif betas.shape[1] > self.num_betas:
            raise ValueError(f"betas has {betas.shape[1]} components; this body layer uses {self.num_betas}")
        output = self.layer(
            betas=betas.to(dtype),
            global_orient=pose[:, :3],
            body_pose=pose[:, 3:],
            transl=None if transl is None else transl.to(dtype),
        )
        joints = output.joints
        return BodyOutput(vertices=output.vertices, joints=joints[:, :NUM_JOINTS], landmarks=joints[:, NUM_JOINTS:])

    def regress_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """The 24 joints regressed from given meshes with the template's regressor: (B, V, 3) -> (B, 24, 3)."""
        return torch.einsum("jv,bvc->bjc", self.layer.J_regressor.to(vertices.dtype), vertices)


def mirror_pose(pose: np.ndarray | torch.Tensor):
    """The left-right mirrored pose: swap left and right joints, negate the y and z axis-angle
    components (a reflection across the x = 0 plane of SMPL axes).

    pose : (..., 72) -> (..., 72)
    """
    from uvkit.parts import MIRROR_JOINTS

    if isinstance(pose, torch.Tensor):
        shaped = pose.reshape(*pose.shape[:-1], NUM_JOINTS, 3)[..., list(MIRROR_JOINTS), :]
        sign = torch.tensor([1.0, -1.0, -1.0], dtype=pose.dtype, device=pose.device)
        return (shaped * sign).reshape(pose.shape)
    pose = np.asarray(pose)
    shaped = pose.reshape(*pose.shape[:-1], NUM_JOINTS, 3)[..., list(MIRROR_JOINTS), :]
    return (shaped * np.array([1.0, -1.0, -1.0])).reshape(pose.shape)
