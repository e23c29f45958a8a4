"""Synthetic people made batch-wise on the training device: torch only on the hot path.

:class:`OnDeviceSynthetic` makes whole batches of the samples :mod:`decomr.data.synthetic`
describes (same keys, shapes, dtypes and value ranges) with batched tensor operations on one
device (CPU or CUDA), in the training process: no loader workers, no per-sample numpy.

What is made per batch, and how:

- **poses**: the distribution of :class:`decomr.data.poses.PoseSampler` drawn batch-wise: key
  poses (mirrored at random), blended, combined by halves, noised, clamped to the joint limits;
  arms through the torso are rejected by the same clearance test (a fixed number of candidates
  per sample, the first that passes; the standing pose when none does); global orientation
  ``R_y(yaw) R_x(pitch) R_z(roll)`` turned into camera axes. Betas ~ N(0, std) clipped.
- **posing**: :class:`decomr.body.BodyModel` in float32 on the device.
- **framing**: the person's tight box centred in the square crop, focal length so that the crop
  side is ``pad`` times the box side, a small centre jitter: as in ``SyntheticRenderer``.
- **augmentation** (when given, :class:`decomr.data.augment.AugmentConfig`, the paper's
  distributions): folded into the scene instead of resampling the rendered image. Scale ``k``
  multiplies the focal length; the in-plane rotation turns vertices, joints, the camera
  translation and the global orientation about the optical axis (the image turns about the
  crop centre); the flip mirrors the pose and the texture (``u -> 1 - u``, a left-right
  symmetric UV map only), so the person is the mirror image; the colour scale multiplies the
  finished image. The one visible difference to the per-sample path: a rotated or zoomed-out
  crop shows more background where the per-sample path pads with black.
- **texturing**: a bank of textures painted at start-up by the numpy
  :class:`decomr.data.appearance.TexturePainter` (so both paths paint alike) lives on the
  device with each texel's garment region; per sample a texture is picked, optionally
  mirrored, and varied per region (skin tone and hair brightness scaled, garment colours
  scaled per channel and their channels permuted at random), then sampled bilinearly at the
  covered pixels only.
- **light**: ambient plus one directional light on flat face normals, as the per-sample path.
- **background**: a bank of backgrounds drawn at start-up by
  :class:`decomr.data.appearance.BackgroundSampler` (photographs, shapes, noise, gradients),
  flipped and colour-scaled per sample, and procedural ones made on the device (gradients,
  smooth noise, soft shapes).
- **rendering**: :class:`decomr.render.Renderer` (IUV, mask, parts).

Random draws come from a ``torch.Generator`` on the CPU (small tensors, moved to the device),
so a seed gives identical batches on the CPU, and on CUDA the same draws give the same scenes
up to floating point. :meth:`OnDeviceSynthetic.batch` seeds that generator from
``(seed, epoch, indices)``, one seed per sub-batch (``OnDeviceConfig.sub_batches``, made in
threads on the CPU): a batch is a function of the sampler's index list (resumed runs see the
same data), but, unlike the per-sample path, a sample is not a function of its index alone (the
same index in another list is another person).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uvkit.parts import MIRROR_JOINTS, NUM_JOINTS, PARENTS

from ..render.shading import face_values_at_hits, iuv_from_hits
from ..threads import map_in_threads
from .appearance import HAIR, SHIRT, SHOES, SKIN, TROUSERS, BackgroundSampler, TexturePainter
from .augment import AugmentConfig
from .poses import JOINT_LIMITS, KEY_POSES, UPPER_BODY
from .synthetic import SyntheticConfig, native_uv

__all__ = ["OnDeviceConfig", "OnDeviceSynthetic", "OnDevicePeople", "batch_seed", "quaternion_to_rotvec",
           "rotvec_to_matrix", "BatchedSkinning"]

_REGIONS = 5  # SKIN, HAIR, SHIRT, TROUSERS, SHOES
# the six orders of the colour channels (row 0: unchanged)
_CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
_BACKGROUND_KINDS = ("bank", "gradient", "noise", "shapes")
# joints whose distance to the spine decides whether arms pass through the torso
_CLEARANCE_JOINTS = (18, 19, 20, 21, 22, 23)


@dataclass
class OnDeviceConfig:
    """Settings of the batched generator (beyond :class:`SyntheticConfig`).

    Attributes
    ----------
    texture_bank : int
        textures painted at start-up (each ``3 x R x R`` float32 on the device: 0.75 MB at
        R = 256).
    background_bank : int
        backgrounds drawn at start-up by ``BackgroundSampler`` (uint8 on the device).
    procedural_backgrounds : float
        share of the backgrounds made on the device per batch (gradients, noise, shapes in
        equal parts); the rest come from the bank.
    garment_jitter : float
        garment colours are scaled per channel by a factor in ``1 +- garment_jitter``.
    channel_swap_probability : float
        chance that a garment's colour channels are permuted (a new hue, same pattern).
    skin_jitter : float
        skin tones are scaled by ``1 +- skin_jitter`` (and per channel by a third of it).
    pose_candidates : int
        pose draws per sample for the arm-torso clearance test (the first that passes).
    sub_batches : int
        a batch is made as this many sub-batches, consecutive runs of its indices, each drawn
        from its own seed (:meth:`OnDeviceSynthetic.batch`); on the CPU they are made at the
        same time in as many threads, each with its share of the process's torch threads.
        Torch spreads one operation of these sizes poorly over threads; whole sub-batches in
        threads use the cores better (measured on 2 cores, batch 32 at 224 px: 1.2-1.4x the
        samples/s of one batch on 2 torch threads). It decides which people a batch holds (the
        draws), not what kind of people.
    """

    texture_bank: int = 64
    background_bank: int = 64
    procedural_backgrounds: float = 0.5
    garment_jitter: float = 0.25
    channel_swap_probability: float = 0.5
    skin_jitter: float = 0.08
    pose_candidates: int = 6
    sub_batches: int = 2

    def __post_init__(self) -> None:
        if self.texture_bank < 1 or self.background_bank < 1:
            raise ValueError(f"texture_bank and background_bank must be >= 1, got {self.texture_bank}, "
                             f"{self.background_bank}")
        for name in ("procedural_backgrounds", "channel_swap_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.garment_jitter < 1.0 or not 0.0 <= self.skin_jitter < 1.0:
            raise ValueError("garment_jitter and skin_jitter must be in [0, 1)")
        if self.pose_candidates < 1:
            raise ValueError(f"pose_candidates must be >= 1, got {self.pose_candidates}")
        if self.sub_batches < 1:
            raise ValueError(f"sub_batches must be >= 1, got {self.sub_batches}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_seed(seed: int, epoch: int, indices: Sequence[int]) -> int:
    """A 63-bit seed from ``(seed, epoch, indices)`` (numpy's SeedSequence: well mixed, stable)."""
    words = [int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, len(indices)] + [int(i) & 0xFFFFFFFF for i in indices]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


# ---------------------------------------------------------------------------- rotations
def rotvec_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    angle = rotvec.norm(dim=-1, keepdim=True)
    axis = rotvec / angle.clamp(min=1e-12)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + sin * cross + (1.0 - cos) * (cross @ cross)


def _quaternion_about(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """(N,) angles -> (N, 4) unit quaternions (w, x, y, z) of turns about coordinate ``axis``."""
    half = 0.5 * angle
    out = torch.zeros(*angle.shape, 4, dtype=angle.dtype, device=angle.device)
    out[..., 0] = torch.cos(half)
    out[..., 1 + axis] = torch.sin(half)
    return out


def _quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of (..., 4) quaternions (w, x, y, z): the rotation ``a`` after ``b``."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def quaternion_to_rotvec(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(q[..., :1] < 0, -q, q)
    vector = q[..., 1:]
    norm = vector.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(norm, q[..., :1])
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    factor = torch.where(norm > 1e-7, angle / norm.clamp(min=1e-12), torch.full_like(norm, 2.0))
    return vector * factor


# ---------------------------------------------------------------------------- posing
class BatchedSkinning(nn.Module):
    """Linear blend skinning of an SMPL-format layer, the same vertices and joints as
    :class:`decomr.body.BodyModel` (smplx) with less work per batch: the joints of the shaped
    rest body come from precomputed regressions of the template and of each shape direction,
    and pose correctives are skipped when the template has none (the open body's are zero).

    Parameters
    ----------
    body : decomr.body.BodyModel

    Buffers: ``v_template`` (V, 3), ``shapedirs`` (L, V * 3), ``joint_template`` (24, 3),
    ``joint_dirs`` (L, 24 * 3), ``weights`` (V, 24), ``posedirs`` (207, V * 3) or empty.
    """

    def __init__(self, body: Any) -> None:
        super().__init__()
        layer = body.layer
        self.num_betas = int(body.num_betas)
        v_template = layer.v_template.detach().float()
        shapedirs = layer.shapedirs.detach().float()[..., :self.num_betas]  # (V, 3, L)
        regressor = layer.J_regressor.detach().float()
        n_vertices = v_template.shape[0]
        self.parents = tuple(int(p) for p in layer.parents.tolist())
        self.register_buffer("v_template", v_template)
        self.register_buffer("shapedirs", shapedirs.permute(2, 0, 1).reshape(self.num_betas, n_vertices * 3).contiguous())
        self.register_buffer("joint_template", regressor @ v_template)
        self.register_buffer("joint_dirs", torch.einsum("jv,vcl->ljc", regressor, shapedirs).reshape(self.num_betas, -1))
        self.register_buffer("weights", layer.lbs_weights.detach().float())
        posedirs = layer.posedirs.detach().float()
        self.register_buffer("posedirs", posedirs if bool(posedirs.abs().max() > 0) else posedirs.new_zeros(0, 0))

    def forward(self, pose: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 72) axis-angle pose, (B, L) betas -> vertices (B, V, 3), joints (B, 24, 3)."""
        batch = pose.shape[0]
        n_vertices = self.v_template.shape[0]
        vertices = torch.addmm(self.v_template.view(1, -1), betas, self.shapedirs).view(batch, n_vertices, 3)
        joints = torch.addmm(self.joint_template.view(1, -1), betas, self.joint_dirs).view(batch, NUM_JOINTS, 3)
        local = rotvec_to_matrix(pose.view(batch, NUM_JOINTS, 3))
        if self.posedirs.numel():
            eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
            feature = (local[:, 1:] - eye).reshape(batch, -1)
            vertices = vertices + (feature @ self.posedirs).view(batch, n_vertices, 3)
        rotations: list[torch.Tensor] = [local[:, 0]]
        positions: list[torch.Tensor] = [joints[:, 0]]
        for joint in range(1, NUM_JOINTS):
            parent = self.parents[joint]
            rotations.append(rotations[parent] @ local[:, joint])
            offset = (joints[:, joint] - joints[:, parent])[:, :, None]
            positions.append(positions[parent] + (rotations[parent] @ offset)[:, :, 0])
        world = torch.stack(rotations, dim=1)  # (B, 24, 3, 3)
        posed = torch.stack(positions, dim=1)  # (B, 24, 3)
        # x -> R_j (x - J_j) + posed_j per joint; blended per vertex by the skinning weights
        shift = posed - (world @ joints[..., None])[..., 0]
        transforms = torch.cat([world.reshape(batch, NUM_JOINTS, 9), shift], dim=2)  # (B, 24, 12)
        blended = torch.matmul(self.weights, transforms).permute(2, 0, 1)  # (12, B, V)
        x, y, z = vertices.permute(2, 0, 1)
        # row k of each vertex's 3 x 3 blend times the vertex, plus the blended shift (no tiny bmm)
        out = torch.stack([torch.addcmul(torch.addcmul(torch.addcmul(blended[9 + k], blended[3 * k], x),
                                                       blended[3 * k + 1], y), blended[3 * k + 2], z)
                           for k in range(3)], dim=-1)
        return out, posed


# ---------------------------------------------------------------------------- the generator
class OnDeviceSynthetic(nn.Module):
    """Makes batches of synthetic people on one device (see the module docstring).

    Parameters
    ----------
    config : SyntheticConfig
        size, betas, camera distance, pad, jitter, texture resolution, pose and appearance
        settings, light ranges, seed (the same meaning as for ``SyntheticPeople``).
    uvmap : uvkit.uvmap.UVMap, path, or None
        the UV map of the IUV images (None: the template's native atlas, not symmetric: no flips).
    template : Template or str
    augment : AugmentConfig or None
        the DecoMR augmentation, folded into the scene (module docstring). Flips need a
        left-right symmetric UV map and a template mirror; they are refused otherwise.
    options : OnDeviceConfig
    device : torch.device or str
    body : decomr.body.BodyModel, optional
        reuse a body layer (float32; its template is then used).

    Buffers (follow ``.to(device)``): the pose library and limits, rest joints, the texture
    bank ``textures`` (T * R * R, 3) float32 channel-last with ``regions`` (T * R * R,) uint8,
    the background bank ``backgrounds`` (G, 3, S, S) uint8, mirror permutations.
    """

    def __init__(self, config: SyntheticConfig | None = None, uvmap: Any = None, template: Any = "open",
                 augment: AugmentConfig | None = None, options: OnDeviceConfig | None = None,
                 device: torch.device | str = "cpu", body: Any = None) -> None:
        super().__init__()
        from uvkit.template import Template, load_template
        from uvkit.uvmap import UVMap, load_uvmap

        from ..body import BodyModel
        from ..render import Renderer

        self.config = config or SyntheticConfig()
        self.options = options or OnDeviceConfig()
        self.augment = augment
        if body is not None:
            template = body.template
        elif not isinstance(template, Template):
            template = load_template(template)
        self.template = template
        if template.parts is None:
            raise ValueError(f"{template.source}: the template has no per-vertex 'parts'")
        if uvmap is not None and not isinstance(uvmap, UVMap):
            uvmap = load_uvmap(uvmap, template=template)
        self.uvmap = uvmap
        if uvmap is None:
            vt, ft = native_uv(template)
            self.symmetric = False
        else:
            vt, ft = uvmap.vt, uvmap.ft
            self.symmetric = uvmap.symmetric
        flips = augment is not None and augment.flip_probability > 0
        if flips and (not self.symmetric or template.mirror is None):
            raise ValueError("flip augmentation needs a left-right symmetric UV map (u -> 1 - u) and a template "
                             "mirror: use a symmetric map (uvkit build-uv) or set flip_probability=0")
        size = self.config.size
        self.body = body if body is not None else BodyModel(template, dtype=torch.float32)
        self.skinning = BatchedSkinning(self.body)
        self.renderer = Renderer.from_vertex_parts(template.faces, size, template.parts, vt=vt, ft=ft)

        # poses (body axes), limits, noise scale, rest joints
        with torch.no_grad():
            rest = self.body(torch.zeros(1, 3 * NUM_JOINTS)).joints[0].double()
        pose_cfg = self.config.pose
        names = pose_cfg.key_poses or tuple(KEY_POSES)
        limits = torch.tensor(np.array(JOINT_LIMITS), dtype=torch.float32)
        sigma = pose_cfg.noise * (limits[:, :, 1] - limits[:, :, 0])
        sigma[0] = 0.0
        self.register_buffer("key_poses", torch.as_tensor(np.stack([KEY_POSES[n] for n in names]),
                                                          dtype=torch.float32).view(-1, NUM_JOINTS, 3))
        self.register_buffer("standing", torch.as_tensor(KEY_POSES["standing"], dtype=torch.float32).view(NUM_JOINTS, 3))
        self.register_buffer("limits", limits)
        self.register_buffer("sigma", sigma)
        self.register_buffer("rest_joints", rest.float())
        self.register_buffer("joint_mirror", torch.tensor(MIRROR_JOINTS, dtype=torch.long))
        self.register_buffer("upper_body", torch.tensor(UPPER_BODY, dtype=torch.long))
        self.register_buffer("channel_orders", torch.tensor(_CHANNEL_ORDERS, dtype=torch.long))

        # the texture bank: painted by the numpy painter with each texel's region
        resolution = self.config.texture_resolution
        painter = TexturePainter(template, vt, ft, resolution, self.config.appearance)
        textures, regions = _paint_bank(painter, self.options.texture_bank, self.config.seed)
        self.texture_resolution = resolution
        self.register_buffer("textures", textures.permute(0, 2, 3, 1).reshape(-1, 3).contiguous())
        self.register_buffer("regions", regions.reshape(-1).contiguous())
        # the background bank
        sampler = BackgroundSampler(size, self.config.background)
        rng = np.random.default_rng([int(self.config.seed), 7])
        backgrounds = np.stack([sampler.sample(rng) for _ in range(self.options.background_bank)])
        self.register_buffer("backgrounds", torch.from_numpy(np.round(backgrounds * 255.0).astype(np.uint8)))
        self.to(device)

    @property
    def device(self) -> torch.device:
        return self.key_poses.device

    # ------------------------------------------------------------------ random draws (CPU)
    def _pose(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(count, 24, 3) body-axes body poses (root zero) and (count, 4) camera-axes global
        orientation quaternions, float32 on the CPU."""
        cfg = self.config.pose
        library = self.key_poses.cpu()
        tries = self.options.pose_candidates
        total = tries * count
        g = generator
        keys = torch.randint(len(library), (3, total), generator=g)
        mirror = torch.rand(3, total, generator=g) < cfg.mirror_probability
        blend = torch.rand(total, generator=g) < cfg.blend_probability
        weight = torch.rand(total, generator=g)
        halves = torch.rand(total, generator=g) < cfg.halves_probability
        noise = torch.randn(total, NUM_JOINTS, 3, generator=g)
        drawn = library[keys]  # (3, total, 24, 3)
        mirrored = drawn[:, :, self.joint_mirror.cpu()] * torch.tensor([1.0, -1.0, -1.0])
        drawn = torch.where(mirror[..., None, None], mirrored, drawn)
        first, second, third = drawn
        weight = torch.where(blend, weight, torch.zeros_like(weight))[:, None, None]
        pose = first + weight * (second - first)
        upper = self.upper_body.cpu()
        pose[:, upper] = torch.where(halves[:, None, None], third[:, upper], pose[:, upper])
        pose = pose + noise * self.sigma.cpu()
        limits = self.limits.cpu()
        pose = torch.maximum(torch.minimum(pose, limits[:, :, 1]), limits[:, :, 0])
        pose[:, 0] = 0.0
        # the first candidate whose arms clear the torso; the standing pose when none does
        clear = (_torso_clearance(pose, self.rest_joints.cpu()) >= 0.11).view(tries, count)
        choice = torch.argmax(clear.to(torch.int8), dim=0)
        pose = pose.view(tries, count, NUM_JOINTS, 3)[choice, torch.arange(count)]
        pose = torch.where(clear.any(0)[:, None, None], pose, self.standing.cpu())

        low, high = (float(np.radians(v)) for v in cfg.yaw_deg)
        yaw = low + (high - low) * torch.rand(count, generator=g)
        pitch = (torch.randn(count, generator=g) * cfg.pitch_deg).clamp(-cfg.max_pitch_deg, cfg.max_pitch_deg)
        roll = (torch.randn(count, generator=g) * cfg.roll_deg).clamp(-cfg.max_roll_deg, cfg.max_roll_deg)
        orient = _quaternion_multiply(_quaternion_about(1, yaw), _quaternion_multiply(
            _quaternion_about(0, torch.deg2rad(pitch)), _quaternion_about(2, torch.deg2rad(roll))))
        # camera axes: the 180 degree turn about x first applied to the world
        flip_x = torch.tensor([0.0, 1.0, 0.0, 0.0]).expand(count, 4)
        return pose, _quaternion_multiply(flip_x, orient)

    @torch.no_grad()
    def generate(self, count: int, generator: torch.Generator | None = None,
                 indices: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Make ``count`` samples.

        Parameters
        ----------
        count : int
        generator : torch.Generator on the CPU, optional (default: a fresh one from the seed)
        indices : sequence of int, optional
            stored as the samples' ``index`` (default ``0 .. count - 1``).

        Returns
        -------
        dict of tensors on the device, the keys of :mod:`decomr.data.synthetic` with a leading
        batch axis.
        """
        from ..render import PerspectiveCamera

        cfg, options = self.config, self.options
        g = generator if generator is not None else torch.Generator().manual_seed(int(cfg.seed))
        device, size = self.device, cfg.size
        n = int(count)
        body_pose, orient = self._pose(n, g)
        betas = (torch.randn(n, self.body.num_betas, generator=g) * cfg.betas_std).clamp(-cfg.betas_clip,
                                                                                           cfg.betas_clip)
        distance = cfg.distance[0] + (cfg.distance[1] - cfg.distance[0]) * torch.rand(n, generator=g)
        pad = cfg.pad[0] + (cfg.pad[1] - cfg.pad[0]) * torch.rand(n, generator=g)
        jitter = (2.0 * torch.rand(n, 2, generator=g) - 1.0) * cfg.center_jitter
        # light from the camera's hemisphere (as ``sample_lighting``)
        light_angle = torch.deg2rad(70.0 * torch.rand(n, generator=g))
        azimuth = 2.0 * np.pi * torch.rand(n, generator=g)
        light = torch.stack([torch.sin(light_angle) * torch.cos(azimuth), torch.sin(light_angle) * torch.sin(azimuth),
                             torch.cos(light_angle)], dim=1)
        ambient = cfg.ambient[0] + (cfg.ambient[1] - cfg.ambient[0]) * torch.rand(n, generator=g)
        diffuse = cfg.diffuse[0] + (cfg.diffuse[1] - cfg.diffuse[0]) * torch.rand(n, generator=g)
        # appearance draws
        texture_id = torch.randint(options.texture_bank, (n,), generator=g)
        region_gain, region_order = self._region_colours(n, g)
        background = _BackgroundDraw.draw(n, g, options, size)
        # augmentation draws (the per-sample Augmenter's distributions)
        aug = self.augment
        if aug is not None:
            zoom = (1.0 + aug.scale_std * torch.randn(n, generator=g)).clamp(*aug.scale_range)
            turn = (aug.rotation_std_deg * torch.randn(n, generator=g)).clamp(-aug.rotation_max_deg,
                                                                               aug.rotation_max_deg)
            turn = torch.where(torch.rand(n, generator=g) < aug.rotation_probability, turn, torch.zeros_like(turn))
            flip = torch.rand(n, generator=g) < aug.flip_probability
            low, high = aug.colour_range
            colour = low + (high - low) * torch.rand(n, 3, generator=g)
        else:
            zoom, turn = torch.ones(n), torch.zeros(n)
            flip, colour = torch.zeros(n, dtype=torch.bool), torch.ones(n, 3)

        # the pose in camera axes, mirrored for flipped samples (joints swapped, y and z negated)
        pose = torch.cat([quaternion_to_rotvec(orient)[:, None], body_pose[:, 1:]], dim=1)  # (n, 24, 3)
        mirrored = pose[:, self.joint_mirror.cpu()] * torch.tensor([1.0, -1.0, -1.0])
        pose = torch.where(flip[:, None, None], mirrored, pose).reshape(n, 3 * NUM_JOINTS)

        # ---- on the device from here
        pose_d = pose.to(device)
        vertices, joints = self.skinning(pose_d, betas.to(device))
        translation, focal, low_xy, high_xy, side = _frame(vertices, distance.to(device), pad.to(device),
                                                           jitter.to(device), size)
        # augmentation: rotation about the optical axis, zoom by the focal length
        turn_rad = torch.deg2rad(turn)
        rotation = torch.zeros(n, 3, 3)
        rotation[:, 0, 0] = torch.cos(turn_rad)
        rotation[:, 0, 1] = -torch.sin(turn_rad)
        rotation[:, 1, 0] = torch.sin(turn_rad)
        rotation[:, 1, 1] = torch.cos(turn_rad)
        rotation[:, 2, 2] = 1.0
        rotation_d = rotation.to(device)
        vertices = vertices @ rotation_d.transpose(1, 2)
        joints = joints @ rotation_d.transpose(1, 2)
        translation = (rotation_d @ translation[:, :, None])[:, :, 0]
        box_focal = focal
        focal = focal * zoom.to(device)
        root = _quaternion_multiply(_quaternion_about(2, turn_rad), _axis_angle_quaternion(pose[:, :3]))
        pose[:, :3] = quaternion_to_rotvec(root)
        camera = PerspectiveCamera(focal_length=focal, principal_point=torch.full((n, 2), size / 2.0, device=device),
                                   translation=translation, image_size=size)

        fragments = self.renderer.rasterize(vertices, camera, dense=False)
        hit, uv = face_values_at_hits(fragments, self.renderer.face_uv)
        iuv = iuv_from_hits(hit, uv, n, size, size)
        parts = self.renderer.parts(fragments)
        # the augmentation's colour scale is folded into the background and the lit albedo
        image = self._shade(fragments, hit, uv, texture_id.to(device), flip.to(device), region_gain.to(device),
                            region_order.to(device), light.to(device), ambient.to(device), diffuse.to(device),
                            background, colour)

        joints_xy = camera.transform(joints)[..., :2]
        visible = (joints_xy.abs() <= 1.0).all(-1).to(torch.float32)
        box_low = low_xy * box_focal[:, None] + size / 2.0
        box_high = high_xy * box_focal[:, None] + size / 2.0
        jitter_d = jitter.to(device)
        ones = torch.ones(n, device=device)
        return {
            "image": image,
            "iuv": iuv,
            "mask": fragments.mask.to(torch.float32),
            "parts": parts,
            "joints2d": torch.cat([joints_xy, visible[..., None]], dim=-1),
            "joints3d": torch.cat([joints, torch.ones_like(joints[..., :1])], dim=-1),
            "vertices": vertices,
            "pose": pose.to(device),
            "betas": betas.to(device),
            "camera": torch.cat([focal[:, None], translation], dim=1),
            "camera_weak": torch.stack([2.0 * focal / (size * translation[:, 2]), translation[:, 0],
                                        translation[:, 1]], dim=1),
            "center": 0.5 * (box_low + box_high) + jitter_d * size,
            "scale": pad.to(device) * side * box_focal / 200.0,
            "has_smpl": ones,
            "has_3d": ones.clone(),
            "has_iuv": ones.clone(),
            "index": torch.as_tensor(list(range(n)) if indices is None else [int(i) for i in indices],
                                     dtype=torch.int64, device=device),
        }

    def batch(self, indices: Sequence[int], epoch: int = 0, concurrent: bool = True) -> dict[str, torch.Tensor]:
        """The batch of samples ``indices``: a function of ``(config.seed, epoch, indices)`` and
        ``options.sub_batches``.

        ``indices`` is cut into ``options.sub_batches`` consecutive runs of nearly equal length
        (fewer when there are fewer indices); each run is made by :meth:`generate` from a
        generator seeded with ``batch_seed(config.seed, epoch, run)``, and the results are
        concatenated in order. On the CPU (``concurrent``) the runs are made in threads at the
        same time, the process's torch threads divided among them; made one after the other
        (``concurrent=False``, or on another device) the batch is the same.
        """
        indices = [int(i) for i in indices]
        runs = [run.tolist() for run in np.array_split(np.asarray(indices, dtype=np.int64),
                                                       min(self.options.sub_batches, max(1, len(indices))))]

        def make(run: list[int]) -> dict[str, torch.Tensor]:
            generator = torch.Generator().manual_seed(batch_seed(self.config.seed, epoch, run))
            return self.generate(len(run), generator, indices=run)

        if len(runs) == 1:
            return make(runs[0])
        if concurrent and self.device.type == "cpu":
            parts = map_in_threads(make, runs)
        else:
            parts = [make(run) for run in runs]
        return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}

    #: a sample depends on the other indices of its batch (``decomr.data.shards.write_shard``
    #: then makes fixed batches of consecutive indices, so a resumed or repeated run writes the
    #: same people).
    batch_dependent = True

    def render(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """The batch of samples ``indices`` at epoch 0, on the CPU: what ``decomr-synth
        --ondevice`` writes (the interface of :meth:`decomr.data.SyntheticRenderer.render`)."""
        with torch.no_grad():
            return {key: value.cpu() for key, value in self.batch(indices, 0).items()}

    # ------------------------------------------------------------------ appearance
    def _region_colours(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 5, 3) colour gains and (n, 5) channel orders per garment region."""
        options = self.options
        gain = torch.ones(n, _REGIONS, 3)
        skin = 1.0 + options.skin_jitter * (2.0 * torch.rand(n, 1, generator=g) - 1.0)
        skin_channel = 1.0 + (options.skin_jitter / 3.0) * (2.0 * torch.rand(n, 3, generator=g) - 1.0)
        gain[:, SKIN] = skin * skin_channel
        gain[:, HAIR] = (0.8 + 0.4 * torch.rand(n, 1, generator=g)).expand(n, 3)
        garments = 1.0 + options.garment_jitter * (2.0 * torch.rand(n, 3, 3, generator=g) - 1.0)
        gain[:, [SHIRT, TROUSERS, SHOES]] = garments
        order = torch.zeros(n, _REGIONS, dtype=torch.long)
        swap = torch.rand(n, 3, generator=g) < options.channel_swap_probability
        new_order = torch.randint(1, len(_CHANNEL_ORDERS), (n, 3), generator=g)
        order[:, [SHIRT, TROUSERS, SHOES]] = torch.where(swap, new_order, torch.zeros_like(new_order))
        return gain, order

    def _shade(self, fragments, hit: torch.Tensor, uv: torch.Tensor, texture_id: torch.Tensor, flip: torch.Tensor,
               region_gain: torch.Tensor, region_order: torch.Tensor, light: torch.Tensor, ambient: torch.Tensor,
               diffuse: torch.Tensor, background: "_BackgroundDraw", colour: torch.Tensor) -> torch.Tensor:
        """(n, 3, S, S) image in [0, 1]: the background with the lit, textured body at the covered
        pixels, both times the per-sample channel scale ``colour`` (n, 3) (CPU)."""
        n, size, _ = fragments.face_ids.shape
        n_pixels = size * size
        device = hit.device
        sample = torch.div(hit, n_pixels, rounding_mode="floor")
        pixel = hit - sample * n_pixels
        u, v = uv.unbind(1)
        u = torch.where(flip.index_select(0, sample), 1.0 - u, u)
        albedo, region = self._sample_texture(texture_id.index_select(0, sample), u, v)
        key = sample * _REGIONS + region
        order = self.channel_orders.index_select(0, region_order.reshape(-1).index_select(0, key))
        albedo = albedo.gather(1, order) * region_gain.reshape(-1, 3).index_select(0, key)
        # flat face normals at the covered pixels, Lambert + ambient
        faces = self.renderer.faces
        n_vertices = fragments.camera_vertices.shape[1]
        corner = faces.index_select(0, fragments.face_ids.reshape(-1).index_select(0, hit))
        corner = corner + (sample * n_vertices)[:, None]
        corners = fragments.camera_vertices.reshape(-1, 3).index_select(0, corner.reshape(-1)).reshape(-1, 3, 3)
        normal = F.normalize(torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1),
                             dim=-1, eps=1e-12)
        toward = -light.index_select(0, sample)
        lambert = (normal * toward).sum(-1).clamp_(min=0.0)
        shade = ambient.index_select(0, sample) + diffuse.index_select(0, sample) * lambert
        lit = (albedo * shade[:, None]).clamp_(0.0, 1.0)
        lit = lit.mul_(colour.to(device).index_select(0, sample)).clamp_(0.0, 1.0)
        image = background.render(self.backgrounds, n, size, device, colour).reshape(-1)
        index = (sample * (3 * n_pixels) + pixel)[None] + torch.arange(0, 3 * n_pixels, n_pixels,
                                                                        device=hit.device)[:, None]
        image.index_copy_(0, index.reshape(-1), lit.t().reshape(-1))
        return image.view(n, 3, size, size)

    def _sample_texture(self, texture: torch.Tensor, u: torch.Tensor, v: torch.Tensor):
        """Bilinear albedo (N, 3) and nearest region (N,) of bank textures at (u, v) (UV map
        convention, align_corners=True)."""
        res = self.texture_resolution
        x = u.clamp(0.0, 1.0) * (res - 1)
        y = v.clamp(0.0, 1.0) * (res - 1)
        x0 = x.floor().clamp_(max=res - 2)
        y0 = y.floor().clamp_(max=res - 2)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        base = texture * (res * res) + y0.long() * res + x0.long()
        taps = [self.textures.index_select(0, base + offset) for offset in (0, 1, res, res + 1)]
        top = taps[0] + (taps[1] - taps[0]) * fx
        bottom = taps[2] + (taps[3] - taps[2]) * fx
        albedo = top + (bottom - top) * fy
        nearest = texture * (res * res) + y.round().long() * res + x.round().long()
        region = self.regions.index_select(0, nearest).long()
        return albedo, region

    def extra_repr(self) -> str:
        return (f"size={self.config.size}, textures={self.options.texture_bank}, "
                f"backgrounds={self.options.background_bank}, augment={self.augment is not None}")


def _axis_angle_quaternion(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternions (w, x, y, z)."""
    angle = rotvec.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    factor = torch.where(angle > 1e-7, torch.sin(half) / angle.clamp(min=1e-12), torch.full_like(angle, 0.5))
    return torch.cat([torch.cos(half), rotvec * factor], dim=-1)


def _torso_clearance(pose: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """Smallest distance (metres) of the elbows, wrists and hands to the spine segment from the
    pelvis to spine3 (``decomr.data.poses.torso_clearance``, batched): (N, 24, 3) -> (N,)."""
    local = rotvec_to_matrix(pose)  # (N, 24, 3, 3)
    world: list[torch.Tensor] = [local[:, 0]]
    position: list[torch.Tensor] = [rest[0].expand(len(pose), 3)]
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        world.append(world[parent] @ local[:, joint])
        position.append(position[parent] + world[parent] @ (rest[joint] - rest[parent]))
    a, b = position[0], position[9]
    ab = b - a
    length = (ab * ab).sum(-1).clamp(min=1e-12)
    out = torch.full((len(pose),), float("inf"))
    for joint in _CLEARANCE_JOINTS:
        ap = position[joint] - a
        t = ((ap * ab).sum(-1) / length).clamp(0.0, 1.0)
        out = torch.minimum(out, (ap - t[:, None] * ab).norm(dim=-1))
    return out


def _frame(vertices: torch.Tensor, distance: torch.Tensor, pad: torch.Tensor, jitter: torch.Tensor, size: int):
    """Camera translation (n, 3) and focal (n,) that centre the person's tight box in the crop
    (three fixed-point steps), with the box's tangent-plane corners (n, 2) and side (n,)."""
    n = vertices.shape[0]
    rows = vertices.transpose(1, 2).contiguous()  # (n, 3, V): reductions over contiguous rows
    translation = torch.zeros(n, 3, device=vertices.device)
    translation[:, 2] = distance
    inverse_depth = (rows[:, 2] + distance[:, None]).reciprocal_()  # the depth does not change

    def box() -> tuple[torch.Tensor, torch.Tensor]:
        xy = (rows[:, 0:2] + translation[:, 0:2, None]) * inverse_depth[:, None]
        return xy.amin(2), xy.amax(2)

    for _ in range(3):
        low, high = box()
        translation[:, :2] -= 0.5 * (low + high) * translation[:, 2:3]
    low, high = box()
    side = (high - low).amax(1)
    focal = size / (pad * side)
    translation[:, :2] += jitter * (size / focal)[:, None] * translation[:, 2:3]
    return translation, focal, low, high, side


class _BackgroundDraw:
    """One batch's background choices (CPU draws) and their rendering on the device."""

    def __init__(self, kind: torch.Tensor, bank_id: torch.Tensor, flip: torch.Tensor, gain: torch.Tensor,
                 colours: torch.Tensor, angle: torch.Tensor, noise: list[torch.Tensor], shapes: torch.Tensor):
        self.kind, self.bank_id, self.flip, self.gain = kind, bank_id, flip, gain
        self.colours, self.angle, self.noise, self.shapes = colours, angle, noise, shapes

    @classmethod
    def draw(cls, n: int, g: torch.Generator, options: OnDeviceConfig, size: int) -> "_BackgroundDraw":
        procedural = torch.rand(n, generator=g) < options.procedural_backgrounds
        kind = torch.where(procedural, torch.randint(1, len(_BACKGROUND_KINDS), (n,), generator=g),
                           torch.zeros(n, dtype=torch.long))
        bank_id = torch.randint(options.background_bank, (n,), generator=g)
        flip = torch.rand(n, generator=g) < 0.5
        gain = 0.8 + 0.4 * torch.rand(n, 3, generator=g)
        colours = torch.rand(n, 2, 3, generator=g) * 0.9 + 0.05  # gradient end colours
        angle = 2.0 * np.pi * torch.rand(n, generator=g)
        # smooth noise: a few octaves of Gaussian cells, amplitudes falling off
        noise = [torch.randn(n, 3, cells, cells, generator=g) * (0.5 * 0.55 ** k)
                 for k, cells in enumerate((2, 4, 8, 16, 32))]
        # shapes: up to 6 per image: centre (2), radii (2), colour (3), ellipse?, present?
        shapes = torch.cat([torch.rand(n, 6, 2, generator=g), 0.03 + 0.37 * torch.rand(n, 6, 2, generator=g),
                            torch.rand(n, 6, 3, generator=g) * 0.9 + 0.05,
                            (torch.rand(n, 6, 1, generator=g) < 0.5).float(),
                            (torch.rand(n, 6, 1, generator=g) < 0.6).float()], dim=2)  # (n, 6, 9)
        return cls(kind, bank_id, flip, gain, colours, angle, noise, shapes)

    def render(self, bank: torch.Tensor, n: int, size: int, device: torch.device,
               colour: torch.Tensor | None = None) -> torch.Tensor:
        """(n, 3, S, S) float32 backgrounds in [0, 1] on ``device``, times the per-sample channel
        scale ``colour`` (n, 3) when given (the augmentation's colour scale, folded in here)."""
        image = torch.empty(n, 3, size, size, device=device)
        scale = torch.ones(n, 3) if colour is None else colour.cpu()
        kind = self.kind.tolist()
        for code, name in enumerate(_BACKGROUND_KINDS):
            ids = [i for i, k in enumerate(kind) if k == code]
            if not ids:
                continue
            rows = torch.tensor(ids, dtype=torch.long)
            factor = scale[rows]
            if name == "bank":
                part = bank.index_select(0, self.bank_id[rows].to(device)).to(torch.float32)
                part.mul_((self.gain[rows] * factor / 255.0).to(device)[:, :, None, None]).clamp_(0.0, 1.0)
                flipped = torch.nonzero(self.flip[rows]).squeeze(1).to(device)
                if flipped.numel():
                    part.index_copy_(0, flipped, part.index_select(0, flipped).flip(-1))
            elif name == "gradient":
                colours = (self.colours[rows] * factor[:, None]).clamp(0.0, 1.0)
                part = _gradient(colours.to(device), self.angle[rows].to(device), size)
            else:
                # made at a low resolution (values in [0, 1]) and resized once
                low = 32 if name == "noise" else max(8, size // 4)
                colours = (self.colours[rows] * factor[:, None]).clamp(0.0, 1.0).to(device)
                if name == "noise":
                    small = _smooth_noise([octave[rows].to(device) for octave in self.noise],
                                          self.colours[rows, 0].to(device), low)
                    small.mul_(factor.to(device)[:, :, None, None])
                else:
                    small = _soft_shapes(_gradient(colours, self.angle[rows].to(device), low),
                                         self.shapes[rows].to(device), factor.to(device))
                part = F.interpolate(small.clamp_(0.0, 1.0), size=(size, size), mode="bilinear",
                                     align_corners=False)
            image.index_copy_(0, rows.to(device), part)
        return image


def _gradient(colours: torch.Tensor, angle: torch.Tensor, size: int) -> torch.Tensor:
    """(m, 3, S, S) linear ramps from colours[:, 0] to colours[:, 1] along ``angle``: a sum of a
    row term and a column term (one pass over the image)."""
    grid = (torch.arange(size, device=colours.device, dtype=torch.float32) + 0.5) / size
    along_x = torch.cos(angle)[:, None] * grid  # (m, S)
    along_y = torch.sin(angle)[:, None] * grid
    low_x, low_y = along_x.amin(1, keepdim=True), along_y.amin(1, keepdim=True)
    span = (along_x.amax(1, keepdim=True) - low_x + along_y.amax(1, keepdim=True) - low_y).clamp(min=1e-6)
    start, step = colours[:, 0, :, None], (colours[:, 1] - colours[:, 0])[:, :, None]  # (m, 3, 1)
    rows = start + step * ((along_y - low_y) / span)[:, None]  # (m, 3, S)
    cols = step * ((along_x - low_x) / span)[:, None]
    return rows[..., :, None] + cols[..., None, :]


def _smooth_noise(octaves: list[torch.Tensor], base: torch.Tensor, size: int) -> torch.Tensor:
    """(m, 3, size, size): Gaussian cells of several sizes resized bilinearly and summed, around
    the colour ``base`` (m, 3)."""
    total = sum(F.interpolate(octave, size=(size, size), mode="bilinear", align_corners=False) for octave in octaves)
    return total.mul_(0.25).add_(base[:, :, None, None])


def _soft_shapes(base: torch.Tensor, shapes: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Ellipses and rectangles painted over ``base`` (m, 3, L, L); colours times ``factor``
    (m, 3). shapes : (m, K, 9) centre, radii, colour, ellipse flag, present flag."""
    m, _, low, _ = base.shape
    grid = (torch.arange(low, device=base.device, dtype=torch.float32) + 0.5) / low
    centre, radius = shapes[..., 0:2], shapes[..., 2:4]
    dx = (grid[None, None, None, :] - centre[..., 0, None, None]) / radius[..., 0, None, None]  # (m, K, 1, L)
    dy = (grid[None, None, :, None] - centre[..., 1, None, None]) / radius[..., 1, None, None]  # (m, K, L, 1)
    ellipse = (dx * dx + dy * dy) < 1.0
    box = (dx.abs() < 1.0) & (dy.abs() < 1.0)
    inside = torch.where(shapes[..., 7, None, None] > 0.5, ellipse, box) & (shapes[..., 8, None, None] > 0.5)
    out = base
    for k in range(shapes.shape[1]):
        colour = (shapes[:, k, 4:7] * factor)[:, :, None, None]
        out = torch.where(inside[:, k, None], colour, out)
    return out


def _paint_bank(painter: TexturePainter, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` textures (T, 3, R, R) float32 and their garment regions (T, R, R) uint8.

    The region of each painted texel is the painter's own layout of that texture (its first
    ``regions`` call in ``paint``); texels outside the UV charts take their nearest painted
    texel's region, as the painter spreads its colours.
    """
    from scipy import ndimage

    captured: list[np.ndarray] = []
    original = painter.regions

    def regions(rng: np.random.Generator) -> np.ndarray:
        out = original(rng)
        captured.append(np.asarray(out).copy())
        return out

    valid = painter.valid
    resolution = valid.shape[0]
    flat_valid = np.flatnonzero(valid)
    _, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    nearest = rows * resolution + cols
    textures = np.empty((count, 3, resolution, resolution), dtype=np.float32)
    regions_out = np.empty((count, resolution, resolution), dtype=np.uint8)
    painter.regions = regions  # type: ignore[method-assign]
    try:
        rng = np.random.default_rng([int(seed), 11])
        for k in range(count):
            captured.clear()
            textures[k] = painter.paint(rng)
            full = np.full(valid.size, SKIN, dtype=np.uint8)
            if captured and len(captured[0]) == len(flat_valid):
                full[flat_valid] = captured[0]
            regions_out[k] = full[nearest]
    finally:
        del painter.regions
    return torch.from_numpy(textures), torch.from_numpy(regions_out)


# ---------------------------------------------------------------------------- training source
class OnDevicePeople:
    """A training data source of on-device synthetic people (``data.source: ondevice``).

    Behaves like a map-style dataset for the parts of the trainer that read single samples
    (``len``, ``dataset[i]``, ``set_epoch``), and makes whole batches with :meth:`batches`
    (``makes_batches`` is True): the trainer then iterates over its batch sampler's index
    lists in the training process instead of a DataLoader.

    Parameters
    ----------
    config : SyntheticConfig
        ``length`` is the number of samples per epoch.
    uvmap, template, augment, options, device, body
        see :class:`OnDeviceSynthetic`.
    """

    makes_batches = True

    def __init__(self, config: SyntheticConfig | None = None, uvmap: Any = None, template: Any = "open",
                 augment: AugmentConfig | None = None, options: OnDeviceConfig | None = None,
                 device: torch.device | str = "cpu", body: Any = None) -> None:
        self.config = config or SyntheticConfig()
        self.engine = OnDeviceSynthetic(self.config, uvmap=uvmap, template=template, augment=augment, options=options,
                                        device=device, body=body)
        self.symmetric = self.engine.symmetric
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.config.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Sample ``index`` made alone (the batch ``[index]``; another person than ``index``
        within a longer batch)."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        batch = self.engine.batch([index], self.epoch)
        return {key: value[0] for key, value in batch.items()}

    def batches(self, index_lists: Iterable[Sequence[int]]) -> Iterator[dict[str, torch.Tensor]]:
        """One batch dict (on the device) per index list of ``index_lists`` (a batch sampler)."""
        for indices in index_lists:
            yield self.engine.batch(list(indices), self.epoch)
