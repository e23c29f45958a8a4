"""Synthetic people rendered on the fly: the project's default training and test data.

Sample ``i`` of ``SyntheticPeople(config)`` depends only on ``(config.seed, i)`` (its numpy
generator is ``default_rng([seed, i])``), never on the worker, the batch or the order in which
samples are drawn. One sample:

- a pose from :class:`decomr.data.poses.PoseSampler` (yaw all around), betas ~ N(0, 1) clipped
  to +-``betas_clip``;
- the body posed by :class:`decomr.body.BodyModel` in camera axes (the pose's global
  orientation includes the 180 degree turn about x that the field's datasets store, so
  ``BodyModel(pose, betas)`` gives the sample's vertices directly), pelvis at the origin;
- a perspective camera at a sampled distance, translated so that the person's tight box is
  centred in the square crop (up to ``center_jitter``), focal length chosen so that the crop
  side is ``pad`` times the box side (the field's crops: ``scale = box side / 200``);
- rendered with :mod:`decomr.render`: IUV, mask, parts, and an RGB image from a texture painted
  in UV space (:mod:`decomr.data.appearance`), lit by ambient + one directional light, over a
  procedural or photographic background.

Sample dict (torch tensors, float32 unless said otherwise):

==============  ============  =================================================================
key             shape         meaning
==============  ============  =================================================================
image           (3, S, S)     RGB in [0, 1]
iuv             (3, S, S)     mask, U, V (UV map convention), 0 on background
mask            (S, S)        1 on the body
parts           (S, S) int64  0 background, SMPL joint id + 1
joints2d        (24, 3)       x, y normalised to [-1, 1] over the crop, visibility (in the crop)
joints3d        (24, 4)       camera axes (+x right, +y down, +z away), metres, pelvis at the
                              origin; confidence 1
vertices        (V, 3)        same frame as joints3d
pose            (72,)         axis-angle, camera-axes global orientation
betas           (10,)
camera          (4,)          focal length (crop pixels), translation tx, ty, tz (metres):
                              pixel = f (X + t)_xy / (X + t)_z + S / 2
camera_weak     (3,)          (s, tx, ty) with x = s (X + tx): ``s = 2 f / (S tz)``
center          (2,)          bbox centre, crop pixels (column, row)
scale           ()            bbox side / 200 (crop pixels)
has_smpl        ()            1
has_3d          ()            1
has_iuv         ()            1
index           () int64      the sample's index
==============  ============  =================================================================
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from .appearance import (AppearanceConfig, BackgroundConfig, BackgroundSampler, Lighting, TexturePainter,
                         sample_lighting)
from .poses import PoseConfig, PoseSampler

__all__ = ["SyntheticConfig", "SyntheticPeople", "SyntheticRenderer", "body_to_camera_pose", "sample_rng",
           "native_uv"]

#: the 180 degree turn about x that brings SMPL axes (+Y up) into camera axes (+y down).
_FLIP_X = np.diag([1.0, -1.0, -1.0])


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of sample ``index``: ``default_rng([seed, index, stream])``."""
    return np.random.default_rng([int(seed), int(index), int(stream)])


def body_to_camera_pose(pose: np.ndarray) -> np.ndarray:
    """Turn a body-axes pose (+Y up) into camera axes: global orientation ``R_x(pi) R``.

    pose : (..., 72) float -> (..., 72) float64
    """
    pose = np.array(pose, dtype=np.float64)
    flat = pose.reshape(-1, 72)
    rotation = Rotation.from_matrix(_FLIP_X @ Rotation.from_rotvec(flat[:, :3]).as_matrix())
    flat[:, :3] = rotation.as_rotvec()
    return flat.reshape(pose.shape)


def native_uv(template: Any) -> tuple[np.ndarray, np.ndarray]:
    """The template's native atlas in the UV map convention (v grows with rows): (vt, ft)."""
    if template.vt is None or template.ft is None:
        raise ValueError(f"{template.source}: the template has no native UV atlas; give a UV map file")
    vt = np.asarray(template.vt, dtype=np.float64).copy()
    vt[:, 1] = 1.0 - vt[:, 1]
    return vt, np.asarray(template.ft, dtype=np.int64)


@dataclass
class SyntheticConfig:
    """Synthetic people settings.

    Attributes
    ----------
    length : int
        number of samples of the dataset.
    seed : int
    size : int
        S, side of the square crop in pixels.
    betas_std, betas_clip : float
        betas ~ N(0, betas_std^2), clipped to +-betas_clip.
    distance : (float, float)
        camera distance range, metres (uniform); sets the strength of perspective.
    pad : (float, float)
        crop side / tight box side (uniform).
    center_jitter : float
        the box centre moves by up to this fraction of the crop side (uniform per axis).
    texture_resolution : int
        side of the painted UV textures.
    pose : PoseConfig
    appearance : AppearanceConfig
    background : BackgroundConfig
    ambient, diffuse : (float, float)
        ranges of the light's ambient and diffuse terms.
    """

    length: int = 10000
    seed: int = 0
    size: int = 224
    betas_std: float = 1.0
    betas_clip: float = 2.5
    distance: tuple[float, float] = (2.5, 8.0)
    pad: tuple[float, float] = (1.15, 1.35)
    center_jitter: float = 0.03
    texture_resolution: int = 256
    pose: PoseConfig = field(default_factory=PoseConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    ambient: tuple[float, float] = (0.3, 0.6)
    diffuse: tuple[float, float] = (0.3, 0.8)

    def __post_init__(self) -> None:
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {self.length}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        for name in ("distance", "pad", "ambient", "diffuse"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")
        if self.pad[0] < 1.0:
            raise ValueError(f"pad must be >= 1 (the crop holds the whole box), got {self.pad}")
        if self.distance[0] < 1.0:
            raise ValueError(f"distance must be >= 1 m, got {self.distance}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Draw:
    """One sample's random draws (numpy)."""

    pose: np.ndarray       # (72,) camera axes
    betas: np.ndarray      # (10,)
    distance: float
    pad: float
    jitter: np.ndarray     # (2,)
    light: Lighting
    texture: np.ndarray    # (3, R, R) float32
    background: np.ndarray  # (3, S, S) float32


class SyntheticRenderer:
    """Poses, paints and renders batches of synthetic people (the engine of the datasets).

    Parameters
    ----------
    config : SyntheticConfig
    uvmap : uvkit.uvmap.UVMap, path, or None
        the UV map whose IUV images to render (None: the template's native atlas, which is not
        left-right symmetric: flips are then refused by the augmentation).
    template : Template or str
        the body (default: the open body).
    body : decomr.body.BodyModel, optional
        reuse an existing body layer (its template is then used).
    """

    def __init__(self, config: SyntheticConfig | None = None, uvmap: Any = None, template: Any = "open",
                 body: Any = None) -> None:
        from uvkit.template import Template, load_template
        from uvkit.uvmap import UVMap, load_uvmap

        from ..body import BodyModel
        from ..render import Renderer

        self.config = config or SyntheticConfig()
        if body is not None:
            template = body.template
        elif not isinstance(template, Template):
            template = load_template(template)
        self.template = template
        # float64 posing, rounded to float32: results do not depend on the batch's composition
        self.body = body if body is not None else BodyModel(template, dtype=torch.float64)
        if uvmap is not None and not isinstance(uvmap, UVMap):
            uvmap = load_uvmap(uvmap, template=template)
        self.uvmap = uvmap
        if uvmap is None:
            vt, ft = native_uv(template)
            self.symmetric = False
            self.uv_name = "native"
        else:
            vt, ft = uvmap.vt, uvmap.ft
            self.symmetric = uvmap.symmetric
            self.uv_name = str(uvmap.meta.get("generator", "uvmap"))
        if template.parts is None:
            raise ValueError(f"{template.source}: the template has no per-vertex 'parts'")
        size = self.config.size
        self.renderer = Renderer.from_vertex_parts(template.faces, size, template.parts, vt=vt, ft=ft)
        self.painter = TexturePainter(template, vt, ft, self.config.texture_resolution, self.config.appearance)
        self.backgrounds = BackgroundSampler(size, self.config.background)
        with torch.no_grad():
            rest_joints = self.body(torch.zeros(1, 72, dtype=torch.float64)).joints[0].double().numpy()
        self.poses = PoseSampler(self.config.pose, rest_joints=rest_joints)
        self.mirror = None if template.mirror is None else torch.as_tensor(template.mirror, dtype=torch.long)

    # ------------------------------------------------------------------ random draws
    def draw(self, index: int) -> _Draw:
        """All random choices of sample ``index`` (a function of ``(seed, index)`` only)."""
        cfg = self.config
        rng = sample_rng(cfg.seed, index)
        pose = body_to_camera_pose(self.poses.sample(rng))
        betas = np.clip(rng.normal(0.0, cfg.betas_std, self.body.num_betas), -cfg.betas_clip, cfg.betas_clip)
        distance = rng.uniform(*cfg.distance)
        pad = rng.uniform(*cfg.pad)
        jitter = rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2)
        light = sample_lighting(rng, cfg.ambient, cfg.diffuse)
        texture = self.painter.paint(rng)
        background = self.backgrounds.sample(rng)
        return _Draw(pose, betas, float(distance), float(pad), jitter, light, texture, background)

    # ------------------------------------------------------------------ rendering
    @torch.no_grad()
    def render(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Render samples ``indices`` as one batch.

        Returns
        -------
        dict of batched tensors, the keys of the module table with a leading batch axis B.
        """
        from ..render import PerspectiveCamera

        indices = [int(i) for i in indices]
        draws = [self.draw(i) for i in indices]
        batch, size = len(draws), self.config.size
        pose = torch.tensor(np.stack([d.pose for d in draws]), dtype=torch.float32)
        betas = torch.tensor(np.stack([d.betas for d in draws]), dtype=torch.float32)
        output = self.body(pose.double(), betas.double())
        vertices, joints = output.vertices.float(), output.joints.float()

        # translation: centre the tight box of the projected vertices (three fixed-point steps)
        distance = torch.tensor([d.distance for d in draws], dtype=torch.float32)
        translation = torch.zeros(batch, 3)
        translation[:, 2] = distance
        for _ in range(3):
            points = vertices + translation[:, None]
            xy = points[..., :2] / points[..., 2:3]
            low, high = xy.amin(1), xy.amax(1)
            translation[:, :2] -= 0.5 * (low + high) * translation[:, 2:3]
        points = vertices + translation[:, None]
        xy = points[..., :2] / points[..., 2:3]
        low, high = xy.amin(1), xy.amax(1)
        side = (high - low).amax(1)  # tangent units
        pad = torch.tensor([d.pad for d in draws], dtype=torch.float32)
        focal = size / (pad * side)
        jitter = torch.tensor(np.stack([d.jitter for d in draws]), dtype=torch.float32)
        # move the person by jitter * S pixels: a shift of the tangent-plane position
        translation[:, :2] += jitter * (size / focal)[:, None] * translation[:, 2:3]
        camera = PerspectiveCamera(focal_length=focal, principal_point=torch.full((batch, 2), size / 2.0),
                                   translation=translation, image_size=size)

        fragments = self.renderer.rasterize(vertices, camera)
        iuv = self.renderer.iuv(fragments)
        parts = self.renderer.parts(fragments)
        mask = fragments.mask

        # shading: per-sample directional light on flat face normals (faces are about a pixel
        # wide at these sizes); the albedo is read at the IUV image's (u, v). Normals and light
        # are computed at covered pixels only.
        textures = torch.from_numpy(np.stack([d.texture for d in draws]))
        grid = iuv[:, 1:3].permute(0, 2, 3, 1) * 2.0 - 1.0
        albedo = F.grid_sample(textures, grid, mode="bilinear", padding_mode="border", align_corners=True)
        n_pixels = size * size
        flat_ids = fragments.face_ids.reshape(-1)
        hit = torch.nonzero(flat_ids >= 0).squeeze(1)  # (N,) index into (B, S, S)
        sample = torch.div(hit, n_pixels, rounding_mode="floor")
        n_vertices = vertices.shape[1]
        corner_index = self.renderer.faces.index_select(0, flat_ids.index_select(0, hit))
        corner_index += (sample * n_vertices)[:, None]
        corners = fragments.camera_vertices.reshape(-1, 3).index_select(0, corner_index.reshape(-1)).reshape(-1, 3, 3)
        pixel_normals = F.normalize(torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1),
                                    dim=-1, eps=1e-12)  # (N, 3)
        light_dir = torch.tensor([d.light.direction for d in draws], dtype=torch.float32)
        ambient = torch.tensor([d.light.ambient for d in draws], dtype=torch.float32)
        diffuse = torch.tensor([d.light.diffuse for d in draws], dtype=torch.float32)
        toward_light = -light_dir.index_select(0, sample)
        lambert = (pixel_normals[:, 0] * toward_light[:, 0] + pixel_normals[:, 1] * toward_light[:, 1]
                   + pixel_normals[:, 2] * toward_light[:, 2]).clamp_(min=0.0)
        shade = ambient.index_select(0, sample) + diffuse.index_select(0, sample) * lambert  # (N,)
        # the image: the background, with the shaded albedo written at covered pixels
        image = torch.from_numpy(np.stack([d.background for d in draws])).reshape(batch, 3, n_pixels)
        pixel = hit - sample * n_pixels
        channel_index = (sample * (3 * n_pixels) + pixel)[None] + torch.arange(0, 3 * n_pixels, n_pixels)[:, None]
        lit = albedo.reshape(-1).index_select(0, channel_index.reshape(-1)).reshape(3, -1) * shade
        image.reshape(-1).index_copy_(0, channel_index.reshape(-1), lit.clamp_(0.0, 1.0).reshape(-1))
        image = image.reshape(batch, 3, size, size).clamp_(0.0, 1.0)

        # joints and box
        joints_xy = camera.transform(joints)[..., :2]
        visible = (joints_xy.abs() <= 1.0).all(-1).to(torch.float32)
        joints2d = torch.cat([joints_xy, visible[..., None]], dim=-1)
        joints3d = torch.cat([joints, torch.ones_like(joints[..., :1])], dim=-1)
        box_low = low * focal[:, None] + size / 2.0
        box_high = high * focal[:, None] + size / 2.0
        center = 0.5 * (box_low + box_high) + jitter * size
        scale = pad * side * focal / 200.0
        camera_vector = torch.cat([focal[:, None], translation], dim=1)
        camera_weak = torch.stack([2.0 * focal / (size * translation[:, 2]), translation[:, 0], translation[:, 1]], 1)
        ones = torch.ones(batch)
        return {
            "image": image,
            "iuv": iuv.contiguous(),
            "mask": mask.to(torch.float32),
            "parts": parts,
            "joints2d": joints2d,
            "joints3d": joints3d,
            "vertices": vertices,
            "pose": pose,
            "betas": betas,
            "camera": camera_vector,
            "camera_weak": camera_weak,
            "center": center,
            "scale": scale,
            "has_smpl": ones,
            "has_3d": ones.clone(),
            "has_iuv": ones.clone(),
            "index": torch.tensor(indices, dtype=torch.int64),
        }


def unbatch(batch: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Split a dict of batched tensors into a list of per-sample dicts (views)."""
    size = len(next(iter(batch.values())))
    return [{key: value[i] for key, value in batch.items()} for i in range(size)]


class SyntheticPeople(Dataset):
    """On-the-fly synthetic people (sample ``i`` depends only on ``(config.seed, i)``).

    Parameters
    ----------
    config : SyntheticConfig
    uvmap : UVMap, path or None
        see :class:`SyntheticRenderer`.
    template : Template or str
    augment : decomr.data.augment.AugmentConfig or None
        when given, each sample is augmented with a generator of ``(seed, index, epoch)``
        (:meth:`set_epoch`), so augmentations change between epochs and stay reproducible.
    body : BodyModel, optional
    new_people : bool
        False (default): sample ``i`` is person ``i`` in every epoch. True: epoch ``e``
        (:meth:`set_epoch`) draws people never drawn in another epoch: its sample ``i`` is person
        ``e * len(self) + i`` of the seed's stream (epoch 0: person ``i``, as without). A training
        run then sees ``len(self)`` new people per epoch instead of the same ones again, so it
        cannot learn them by heart; runs stay reproducible (the people are a function of
        ``(seed, epoch, i)``).

    ``DataLoader`` fetches whole batches through ``__getitems__`` (one batched render per
    batch); worker processes need nothing else (no per-worker seeding: nothing random is drawn
    outside ``sample_rng``).
    """

    def __init__(self, config: SyntheticConfig | None = None, uvmap: Any = None, template: Any = "open",
                 augment: Any = None, body: Any = None, new_people: bool = False) -> None:
        self.config = config or SyntheticConfig()
        self.engine = SyntheticRenderer(self.config, uvmap=uvmap, template=template, body=body)
        self.new_people = bool(new_people)
        self.augmenter = None
        if augment is not None:
            from .augment import Augmenter

            self.augmenter = Augmenter(augment, vertex_mirror=self.engine.mirror,
                                       symmetric_uv=self.engine.symmetric)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (and, with ``new_people``, the people)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def person(self, index: int) -> int:
        """The person (index into the seed's stream) that sample ``index`` of this epoch shows."""
        index = self._check(index)
        return self.epoch * len(self) + index if self.new_people else index

    def __len__(self) -> int:
        return self.config.length

    def _check(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        return index

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        samples = unbatch(self.engine.render([self.person(i) for i in indices]))
        if self.augmenter is not None:
            samples = [self.augmenter(sample, sample_rng(self.config.seed, int(sample["index"]), 1 + self.epoch))
                       for sample in samples]
        return samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])[0]

