"""What synthetic people look like: skin and clothing painted in UV space, backgrounds, light.

Textures are painted per texel of a UV map from two things known for every texel: its body part
(the SMPL joint of the covering face, from the template's per-vertex ``parts``) and its position
on the rest (T-pose) body. Garment borders are cut on the rest body (a sleeve ends at a distance
along the arm, trousers at a height on the leg) and patterns are functions of the rest position
(stripes along the body's height, smooth 3D noise), so both are continuous across UV seams.

Backgrounds are procedural (gradients, smooth noise, random shapes) and, when scikit-image is
installed, random crops of its bundled sample photographs (those without people). Lighting is
ambient plus one directional light, drawn per sample.

Everything is numpy, seeded by the caller's ``numpy.random.Generator``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "AppearanceConfig",
    "TexturePainter",
    "BackgroundConfig",
    "BackgroundSampler",
    "Lighting",
    "sample_lighting",
    "photo_names",
    "SKIN_TONES",
    "BACKGROUND_KINDS",
]

#: sRGB skin tones in [0, 1], light to dark (jittered per sample).
SKIN_TONES: np.ndarray = np.array([
    [0.98, 0.87, 0.80], [0.96, 0.82, 0.72], [0.93, 0.76, 0.64], [0.87, 0.68, 0.55], [0.80, 0.60, 0.46],
    [0.70, 0.51, 0.37], [0.58, 0.40, 0.28], [0.45, 0.30, 0.21], [0.33, 0.22, 0.15], [0.24, 0.16, 0.11],
])
_HAIR = np.array([
    [0.05, 0.04, 0.04], [0.17, 0.11, 0.07], [0.33, 0.21, 0.12], [0.62, 0.48, 0.30],
    [0.85, 0.72, 0.48], [0.55, 0.23, 0.10], [0.60, 0.60, 0.60], [0.85, 0.85, 0.85],
])

_TORSO = (0, 3, 6, 9, 13, 14)
_HEAD = (12, 15)
_ARMS = (16, 17, 18, 19, 20, 21, 22, 23)
_LEGS = (1, 2, 4, 5)
_FEET = (7, 8, 10, 11)

#: region ids of :meth:`TexturePainter.regions`.
SKIN, HAIR, SHIRT, TROUSERS, SHOES = 0, 1, 2, 3, 4

_WAVES = 24  # plane waves in a painter's noise bank

PATTERNS = ("solid", "stripes", "noise", "checks")
BACKGROUND_KINDS = ("gradient", "noise", "shapes", "photo")

# sample photographs of scikit-image without people in them
_PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "coins", "moon",
           "page", "grass", "gravel", "brick", "text", "clock", "retina", "colorwheel")


@dataclass
class AppearanceConfig:
    """Clothing and skin settings.

    Attributes
    ----------
    pattern_weights : dict str -> float
        relative chances of the garment patterns ``solid``, ``stripes``, ``noise``, ``checks``.
    bald_probability, barefoot_probability, shirtless_probability : float
    skin_jitter : float
        standard deviation of the per-channel skin tone jitter.
    front_back_cues : bool
        paint what tells a person's front from their back, as on real people: a face (eyes,
        brows, mouth, nostrils, shaded ears), a hairline higher at the front than at the back,
        shoes with toe caps, soles and laces, shirts with chest prints and button plackets,
        trousers with a fly in front and pockets behind. Off: the earlier front-back symmetric
        look (kept to measure what the cues are worth).
    long_hair_probability, beard_probability, glasses_probability, print_probability, buttons_probability,
    back_pockets_probability : float
        chances of the optional details (with ``front_back_cues``).
    """

    pattern_weights: dict[str, float] = field(default_factory=lambda: {"solid": 0.45, "stripes": 0.2,
                                                                        "noise": 0.25, "checks": 0.1})
    bald_probability: float = 0.1
    barefoot_probability: float = 0.1
    shirtless_probability: float = 0.05
    skin_jitter: float = 0.03
    front_back_cues: bool = True
    long_hair_probability: float = 0.3
    beard_probability: float = 0.15
    glasses_probability: float = 0.12
    print_probability: float = 0.5
    buttons_probability: float = 0.3
    back_pockets_probability: float = 0.6

    def __post_init__(self) -> None:
        unknown = [name for name in self.pattern_weights if name not in PATTERNS]
        if unknown:
            raise ValueError(f"unknown patterns {unknown}; choose from {list(PATTERNS)}")
        if sum(self.pattern_weights.values()) <= 0 or min(self.pattern_weights.values()) < 0:
            raise ValueError("pattern_weights must be >= 0 with a positive sum")
        for name in ("bald", "barefoot", "shirtless", "long_hair", "beard", "glasses", "print", "buttons",
                     "back_pockets"):
            value = getattr(self, f"{name}_probability")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}_probability must be in [0, 1], got {value}")


def _rest_joints(template: Any) -> np.ndarray:
    return template.joint_regressor_dense() @ np.asarray(template.vertices, dtype=np.float64)


class TexturePainter:
    """Paints (3, R, R) float32 UV textures of clothed people for one template and UV map.

    Parameters
    ----------
    template : uvkit.template.Template
        with ``parts`` (V,) and a joint regressor; rest pose a T-pose in SMPL axes.
    vt : (T, 2) float
        UV vertices of the map the renderer uses (UV map file convention).
    ft : (F, 3) int
        its UV faces (template face order).
    resolution : int
        texture size R.
    config : AppearanceConfig

    Attributes
    ----------
    part : (R, R) int64
        SMPL joint id of each texel (empty texels take their nearest painted texel's).
    position : (R, R, 3) float64
        rest-pose position of each texel, metres.
    valid : (R, R) bool
        texel covered by a UV face (or filled for bilinear taps).
    """

    def __init__(self, template: Any, vt: np.ndarray, ft: np.ndarray, resolution: int = 256,
                 config: AppearanceConfig | None = None) -> None:
        from uvkit.raster import rasterize

        self.config = config or AppearanceConfig()
        if template.parts is None:
            raise ValueError(f"{template.source}: the template has no per-vertex 'parts' to paint by")
        resolution = int(resolution)
        if resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {resolution}")
        self.resolution = resolution
        faces = np.asarray(template.faces, dtype=np.int64)
        vertices = np.asarray(template.vertices, dtype=np.float64)
        parts = np.asarray(template.parts, dtype=np.int64)
        table = rasterize(np.asarray(vt, dtype=np.float64), np.asarray(ft, dtype=np.int64), resolution)
        valid = table.face >= 0
        face = np.maximum(table.face, 0)
        corners = faces[face]  # (R, R, 3)
        position = np.einsum("rck,rckd->rcd", table.bary, vertices[corners])
        corner_parts = parts[corners]
        a, b, c = corner_parts[..., 0], corner_parts[..., 1], corner_parts[..., 2]
        part = np.where((b == c) & (a != b), b, a)
        # empty texels copy their nearest valid texel (bilinear sampling at chart borders):
        # painting works on the valid texels only, then ``self._gather`` spreads them out
        if not valid.any():
            raise ValueError("the UV map covers no texel at this resolution")
        _, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
        flat_valid = np.flatnonzero(valid)
        compact = np.full(valid.size, -1, dtype=np.int64)
        compact[flat_valid] = np.arange(len(flat_valid))
        self._gather = compact[rows.ravel() * resolution + cols.ravel()]  # (R * R,) -> valid texel
        self.valid = valid
        self.part = part[rows, cols]
        self.position = position[rows, cols]
        self._position = position.reshape(-1, 3)[flat_valid].astype(np.float32)  # (N, 3)
        # the same, one contiguous row per axis (x, y, z): what the per-sample tests read
        self._xyz = np.ascontiguousarray(self._position.T)  # (3, N)
        self._abs_x = np.abs(self._xyz[0])
        self._part = part.reshape(-1)[flat_valid]
        self.joints = _rest_joints(template)
        head = vertices[parts == 15]
        self.head_top = float(head[:, 1].max()) if len(head) else float(self.joints[15, 1] + 0.1)
        self._part_is = {name: np.isin(self._part, ids) for name, ids in
                         (("torso", _TORSO), ("head", _HEAD), ("arms", _ARMS), ("legs", _LEGS), ("feet", _FEET))}
        probabilities = np.array([self.config.pattern_weights.get(name, 0.0) for name in PATTERNS])
        self._pattern_p = probabilities / probabilities.sum()
        # a fixed bank of plane waves on the rest body; per-sample noise mixes them at random
        bank = np.random.default_rng(12345)
        directions = bank.normal(size=(_WAVES, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self._wave_scale = np.geomspace(0.04, 0.5, _WAVES)  # wavelength, metres
        frequencies = 2 * np.pi / self._wave_scale
        phases = bank.uniform(0, 2 * np.pi, _WAVES)
        # one contiguous row per wave: a sample's noise mixes a few rows
        self._waves = np.ascontiguousarray(np.sin(
            self._position @ (directions * frequencies[:, None]).T.astype(np.float32)
            + phases.astype(np.float32)).astype(np.float32).T)  # (W, N)
        self._layout = _FrontBackLayout(self, vertices, parts)

    def _flat(self, texture: np.ndarray) -> np.ndarray:
        """(3, N) float32: a painted (3, R, R) texture at the valid texels (``regions`` order)."""
        return texture.reshape(3, -1)[:, np.flatnonzero(self.valid)]

    # ------------------------------------------------------------------ regions
    def regions(self, rng: np.random.Generator) -> np.ndarray:
        """Draw a garment layout: (N,) int64 region id (SKIN, HAIR, SHIRT, TROUSERS, SHOES) of each
        valid texel (``valid`` in row-major order)."""
        cfg = self.config
        j = self.joints
        x, y, z = self._xyz
        ax = self._abs_x
        out = np.full(self._part.shape, SKIN, dtype=np.int64)
        is_ = self._part_is
        waist = j[0, 1] + rng.uniform(0.0, 1.0) * (j[3, 1] - j[0, 1])
        # shirt
        if rng.random() >= cfg.shirtless_probability:
            shoulder_x, elbow_x, wrist_x = abs(j[16, 0]), abs(j[18, 0]), abs(j[20, 0])
            sleeve = rng.choice(["none", "short", "long"], p=[0.15, 0.45, 0.4])
            sleeve_x = {"none": shoulder_x - 0.01,
                        "short": shoulder_x + rng.uniform(0.3, 0.8) * (elbow_x - shoulder_x),
                        "long": wrist_x - rng.uniform(0.0, 0.04)}[str(sleeve)]
            neckline = j[12, 1] - rng.uniform(0.0, 0.08)
            shirt = (is_["torso"] & (y > waist)) | (is_["arms"] & (ax < sleeve_x)) | (is_["torso"] & (ax > shoulder_x - 0.05))
            shirt &= ~((y > neckline) & (z > j[12, 2] - 0.02) & (ax < 0.09))
            out[shirt] = SHIRT
        # trousers
        hip_y, knee_y, ankle_y = j[1, 1], j[4, 1], j[7, 1]
        length = rng.choice(["shorts", "knee", "long"], p=[0.25, 0.15, 0.6])
        hem = {"shorts": knee_y + rng.uniform(0.1, 0.6) * (hip_y - knee_y),
               "knee": knee_y + rng.uniform(-0.05, 0.05),
               "long": ankle_y + rng.uniform(0.0, 0.06)}[str(length)]
        trousers = ((is_["torso"] & (y <= waist)) | (is_["legs"] & (y > hem))) & (out != SHIRT)
        out[trousers] = TROUSERS
        # shoes
        if rng.random() >= cfg.barefoot_probability:
            top = ankle_y + rng.uniform(-0.02, 0.12)
            out[is_["feet"] | ((is_["legs"]) & (y < top))] = SHOES
        # hair
        if rng.random() >= cfg.bald_probability:
            head_y, head_z = j[15, 1], j[15, 2]
            if cfg.front_back_cues:
                out[self._layout.hair(rng, out)] = HAIR
            else:
                cap = self.head_top - rng.uniform(0.05, 0.11)
                back = head_y - rng.uniform(0.0, 0.12)
                hair = is_["head"] & ((y > cap) | ((z < head_z - 0.01) & (y > back)))
                out[hair] = HAIR
        return out

    # ------------------------------------------------------------------ colours and patterns
    def _noise(self, rng: np.random.Generator, scale: float, octaves: int = 6) -> np.ndarray:
        """Smooth noise on the rest body, about [-1, 1]: ``octaves`` random waves of the bank with
        wavelengths near ``scale`` metres. Returns (N,) float32."""
        near = np.argsort(np.abs(np.log(self._wave_scale / scale)))[: max(2 * octaves, 4)]
        chosen = rng.choice(near, size=min(octaves, len(near)), replace=False)
        signs = rng.choice([-1.0, 1.0], size=len(chosen)).astype(np.float32)
        signs *= np.float32(np.sqrt(2.0 / len(chosen)))
        return signs @ self._waves[chosen]

    def _garment(self, rng: np.random.Generator, where: np.ndarray | None = None) -> np.ndarray:
        """(3, n) float32 colour of one garment on the valid texels ``where`` (indices; all when
        None). The random draws do not depend on ``where``."""
        base = _random_colour(rng)
        second = _random_colour(rng)
        pattern = PATTERNS[rng.choice(len(PATTERNS), p=self._pattern_p)]
        xyz = self._xyz if where is None else self._xyz[:, where]
        y = xyz[1]
        if pattern == "solid":
            weight = None
        elif pattern == "stripes":
            period = rng.uniform(0.02, 0.12)
            phase, threshold = rng.uniform(0, 2 * np.pi), rng.uniform(-0.5, 0.5)
            weight = (np.sin(y * np.float32(2 * np.pi / period) + np.float32(phase)) > threshold).astype(np.float32)
        elif pattern == "noise":
            noise = self._noise(rng, rng.uniform(0.05, 0.4))
            noise = noise if where is None else noise[where]
            weight = np.clip(noise * np.float32(0.5) + np.float32(0.5), 0.0, 1.0)
        else:  # checks
            period = rng.uniform(0.04, 0.15)
            s1 = np.sin(y * np.float32(2 * np.pi / period)) > 0
            s2 = np.sin((xyz[0] + xyz[2]) * np.float32(2 * np.pi / period)) > 0
            weight = (s1 ^ s2).astype(np.float32)
        base = base.astype(np.float32)[:, None]
        if weight is None:
            colour = np.repeat(base, y.shape[0], axis=1)
        else:
            colour = base + (second.astype(np.float32)[:, None] - base) * weight
        # fabric shading: faint low-frequency variation
        shading = self._noise(rng, 0.3, octaves=3)
        shading = shading if where is None else shading[where]
        colour *= shading * np.float32(0.06) + np.float32(1.0)
        return colour

    def skin_colour(self, rng: np.random.Generator) -> np.ndarray:
        """(3,) float64 skin tone: a palette entry blended with its neighbour, jittered."""
        k = rng.integers(len(SKIN_TONES) - 1)
        t = rng.random()
        tone = (1 - t) * SKIN_TONES[k] + t * SKIN_TONES[k + 1]
        return np.clip(tone + rng.normal(0.0, self.config.skin_jitter, 3), 0.0, 1.0)

    def paint(self, rng: np.random.Generator) -> np.ndarray:
        """One clothed person's texture.

        Returns
        -------
        texture : (3, R, R) float32 in [0, 1]
            row = v, column = u (UV map convention).
        """
        regions = self.regions(rng)
        skin = self.skin_colour(rng).astype(np.float32)
        # channel-major (3, N): every region writes whole rows at its texels
        texture = skin[:, None] * (self._noise(rng, 0.2, octaves=3) * np.float32(0.03) + np.float32(1.0))
        hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)
        texture[:, regions == HAIR] = hair.astype(np.float32)[:, None]
        for region in (SHIRT, TROUSERS):
            where = np.flatnonzero(regions == region)
            if len(where):
                texture[:, where] = self._garment(rng, where)
        shoes = _random_colour(rng) * rng.uniform(0.3, 1.0)
        texture[:, regions == SHOES] = shoes.astype(np.float32)[:, None]
        if self.config.front_back_cues:
            self._layout.paint(rng, texture, regions, skin, hair.astype(np.float32), shoes.astype(np.float32))
        np.clip(texture, 0.0, 1.0, out=texture)
        return np.take(texture, self._gather, axis=1).reshape(3, self.resolution, self.resolution)


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """(n,) bool: points inside the axis-aligned ellipse centred at (cx, cy) with semi-axes ax, ay."""
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _blend(texture: np.ndarray, where: np.ndarray, colour: np.ndarray, amount: float = 1.0) -> None:
    """Mix ``colour`` (3,) into ``texture`` (3, N) at the valid texels ``where`` (indices)."""
    if len(where):
        texture[:, where] += np.float32(amount) * (colour.astype(np.float32)[:, None] - texture[:, where])


class _FrontBackLayout:
    """Where the front-back cues of a person go on the rest body, and how they are painted.

    Everything is placed from the template's own geometry (SMPL axes: +y up, +z the front, +x
    the body's left), so it works for any body in that frame: the face is laid out around the
    nose tip (the frontmost head vertex) and scaled by the distance from the nose tip to the top
    of the head (``s``; 0.15 m on the open body); shoes from the foot joints and the lowest and
    frontmost foot texels; clothing details from the joints. Painting works on the valid texels
    of :class:`TexturePainter` (``(3, N)`` channel-major textures).
    """

    def __init__(self, painter: "TexturePainter", vertices: np.ndarray, parts: np.ndarray) -> None:
        self.config = painter.config
        x, y, z = painter._xyz
        j = painter.joints
        head = vertices[np.isin(parts, _HEAD)]
        if len(head):
            nose = head[np.argmax(head[:, 2])]
        else:  # no head part: place the face in front of the head joint
            nose = j[15] + np.array([0.0, 0.0, 0.1])
        s = max(painter.head_top - float(nose[1]), 1e-3)
        self.nose, self.s = nose, s
        self.head_joint = j[15]
        self.neck = j[12]
        # face texels: head part, in front (the face mask in the frontal projection x, y)
        is_head = painter._part_is["head"]
        self.head = np.flatnonzero(is_head)
        self.face = np.flatnonzero(is_head & (z > nose[2] - 0.55 * s))
        self.face_x = (x[self.face] - nose[0]) / s
        self.face_y = (y[self.face] - nose[1]) / s
        # ears: the sides of the head around the height of the eyes, near the head joint's depth
        ears = is_head & (np.abs(x) > nose[0] + 0.48 * s) & (y > nose[1] - 0.1 * s) & (y < nose[1] + 0.35 * s)
        ears &= np.abs(z - self.head_joint[2]) < 0.3 * s
        self.ears = np.flatnonzero(ears)
        # shoes
        is_feet = painter._part_is["feet"]
        feet_y = y[is_feet]
        self.sole_y = float(feet_y.min()) if len(feet_y) else float(j[10, 1])
        feet_z = z[is_feet]
        self.toe_z = float(feet_z.max()) if len(feet_z) else float(j[10, 2] + 0.1)
        self.ankle = j[7]
        self.foot_x = np.abs(j[[10, 11], 0]).mean()
        # torso landmarks
        self.chest = j[9]
        self.pelvis = j[0]
        self.hip_y = j[1, 1]
        self.x, self.y, self.z, self.part_is = x, y, z, painter._part_is

    # ------------------------------------------------------------------ hair
    def hair(self, rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
        """(N,) bool hair texels: a hairline above the forehead in front, down to the nape (or, for
        long hair, the shoulders) behind."""
        x, y, z, s, nose = self.x, self.y, self.z, self.s, self.nose
        is_head = self.part_is["head"]
        front = nose[1] + rng.uniform(0.52, 0.75) * s  # the hairline over the forehead
        nape = nose[1] - rng.uniform(0.1, 0.6) * s  # how low it reaches behind
        # from front to back the hairline drops: a blend over the head's depth
        t = np.clip((nose[2] - 0.2 * s - z) / (0.8 * s), 0.0, 1.0)
        line = (1 - t) * front + t * nape
        hair = is_head & (y > line)
        if rng.random() < 0.4:  # a fringe covering part of the forehead
            hair |= is_head & (z > nose[2] - 0.55 * s) & (y > nose[1] + rng.uniform(0.45, 0.55) * s)
        if rng.random() < 0.25:  # side parts: hair over the temples, in front of the ears
            hair |= is_head & (np.abs(x) > 0.4 * s) & (y > nose[1] + 0.2 * s)
        if rng.random() < self.config.long_hair_probability:  # long hair: over the nape and upper back
            drop = rng.uniform(0.05, 0.25)
            width = rng.uniform(0.07, 0.13)
            neck_y, neck_z = self.neck[1], self.neck[2]
            behind = (z < neck_z + 0.01) & (np.abs(x) < width) & (y > neck_y - drop)
            behind &= self.part_is["torso"] | self.part_is["head"]
            hair |= behind
            hair |= is_head & (np.abs(x) > 0.45 * s) & (z < nose[2] - 0.3 * s)  # over the ears
        return hair

    # ------------------------------------------------------------------ painting
    def paint(self, rng: np.random.Generator, texture: np.ndarray, regions: np.ndarray, skin: np.ndarray,
              hair: np.ndarray, shoes: np.ndarray) -> None:
        """Paint the face, shoe and clothing details onto ``texture`` (3, N) in place."""
        self._face(rng, texture, regions, skin, hair)
        self._shoes(rng, texture, regions, shoes)
        self._clothes(rng, texture, regions)

    def _face(self, rng, texture, regions, skin, hair) -> None:
        fx, fy = self.face_x, self.face_y
        bare = regions[self.face] == SKIN
        face = self.face
        dark = np.array([0.08, 0.06, 0.05], dtype=np.float32)
        # ears: shaded skin (their folds)
        if len(self.ears):
            ears = self.ears[regions[self.ears] == SKIN]
            _blend(texture, ears, skin * 0.72)
        eye_x = rng.uniform(0.19, 0.23)
        eye_y = rng.uniform(0.21, 0.27)
        gaze = rng.uniform(-0.02, 0.02, 2)
        iris_colour = np.array([[0.25, 0.15, 0.08], [0.12, 0.08, 0.05], [0.25, 0.4, 0.55], [0.3, 0.4, 0.25]])[
            rng.integers(4)]
        for side in (-1.0, 1.0):
            cx = side * eye_x
            white = bare & _ellipse(fx, fy, cx, eye_y, 0.095, 0.045)
            _blend(texture, face[white], np.array([0.92, 0.9, 0.88]))
            iris = bare & _ellipse(fx, fy, cx + gaze[0], eye_y + gaze[1], 0.045, 0.045)
            _blend(texture, face[iris], iris_colour)
            pupil = bare & _ellipse(fx, fy, cx + gaze[0], eye_y + gaze[1], 0.02, 0.02)
            _blend(texture, face[pupil], dark)
            # brow: a band above the eye, the colour of the hair
            brow = _ellipse(fx, fy, cx, eye_y + rng.uniform(0.16, 0.2), 0.13, 0.03)
            _blend(texture, face[brow & (regions[face] != HAIR)], hair * 0.9)
            # the socket's shade around the eye
            socket = bare & _ellipse(fx, fy, cx, eye_y, 0.14, 0.08) & ~white
            _blend(texture, face[socket], skin * 0.82)
            # nostril
            nostril = bare & _ellipse(fx, fy, side * 0.05, -0.07, 0.028, 0.018)
            _blend(texture, face[nostril], skin * 0.45)
        # mouth: lips darker and redder than the skin
        mouth_y = -rng.uniform(0.22, 0.27)
        lips = bare & _ellipse(fx, fy, 0.0, mouth_y, rng.uniform(0.15, 0.2), 0.05)
        lip_colour = np.clip(skin * np.array([0.85, 0.55, 0.55]) + np.array([0.08, 0.0, 0.0]), 0.0, 1.0)
        _blend(texture, face[lips], lip_colour)
        line = bare & _ellipse(fx, fy, 0.0, mouth_y, 0.16, 0.012)
        _blend(texture, face[line], skin * 0.35)
        # facial hair
        if rng.random() < self.config.beard_probability:
            beard = (fy < -rng.uniform(0.05, 0.15)) & (np.abs(fx) < 0.45) & ~lips
            if rng.random() < 0.5:  # moustache only
                beard &= (fy > mouth_y - 0.0) & (np.abs(fx) < 0.2)
            _blend(texture, face[beard], hair, 0.9)
        # glasses: dark rims around the eyes and a bridge
        if rng.random() < self.config.glasses_probability:
            radius = rng.uniform(0.12, 0.16)
            frame = np.array([0.05, 0.05, 0.05]) if rng.random() < 0.7 else np.array(_random_colour(rng)) * 0.6
            for side in (-1.0, 1.0):
                d = np.hypot(fx - side * eye_x, (fy - eye_y) * 1.3)
                _blend(texture, face[(d > radius) & (d < radius + 0.035)], frame)
            bridge = (np.abs(fx) < eye_x - radius) & (np.abs(fy - eye_y - 0.02) < 0.02)
            _blend(texture, face[bridge], frame)

    def _shoes(self, rng, texture, regions, shoes) -> None:
        where = np.flatnonzero(regions == SHOES)
        if not len(where):
            return
        x, y, z = self.x[where], self.y[where], self.z[where]
        # sole: a band at the ground, white, black or gum
        sole_colour = np.array([[0.92, 0.92, 0.9], [0.08, 0.08, 0.08], [0.55, 0.4, 0.25]])[rng.integers(3)]
        sole = y < self.sole_y + rng.uniform(0.012, 0.025)
        _blend(texture, where[sole], sole_colour)
        # toe cap: the front of the shoe, a lighter, darker or contrasting shade
        reach = self.toe_z - self.ankle[2]
        toe = (z > self.ankle[2] + rng.uniform(0.6, 0.75) * reach) & ~sole
        toe_colour = shoes * rng.uniform(0.5, 0.8) if rng.random() < 0.5 else _random_colour(rng)
        _blend(texture, where[toe], np.asarray(toe_colour))
        # laces: stripes across the top of the foot, in front of the ankle
        top = (z > self.ankle[2] + 0.2 * reach) & (z < self.ankle[2] + 0.7 * reach)
        top &= np.abs(np.abs(x) - self.foot_x) < 0.018
        top &= y > self.sole_y + 0.035
        laces = top & (np.sin(z * (2 * np.pi / 0.018)) > 0.2)
        lace_colour = np.array([0.9, 0.9, 0.9]) if rng.random() < 0.6 else shoes * 0.4
        _blend(texture, where[laces], lace_colour)
        # heel counter: the back of the shoe
        heel = (z < self.ankle[2] - 0.02) & ~sole
        _blend(texture, where[heel], shoes * rng.uniform(0.6, 1.3))

    def _clothes(self, rng, texture, regions) -> None:
        x, y, z = self.x, self.y, self.z
        shirt = np.flatnonzero(regions == SHIRT)
        if len(shirt):
            sx, sy, sz = x[shirt], y[shirt], z[shirt]
            front = sz > self.chest[2] + 0.02
            if rng.random() < self.config.print_probability:  # a print on the chest
                cx = 0.0 if rng.random() < 0.7 else rng.choice([-1.0, 1.0]) * rng.uniform(0.06, 0.1)
                cy = self.chest[1] + rng.uniform(-0.06, 0.06)
                size = rng.uniform(0.04, 0.11) if cx == 0.0 else rng.uniform(0.02, 0.04)
                shape = rng.integers(4)
                if shape == 0:
                    mark = _ellipse(sx, sy, cx, cy, size, size)
                elif shape == 1:
                    mark = (np.abs(sx - cx) < size) & (np.abs(sy - cy) < size * rng.uniform(0.4, 1.0))
                elif shape == 2:  # a band across the front
                    mark = np.abs(sy - cy) < size * 0.3
                else:  # lettering: short dashes on one line
                    mark = (np.abs(sx - cx) < size * 1.4) & (np.abs(sy - cy) < size * 0.25)
                    mark &= np.sin((sx - cx) * (2 * np.pi / (size * 0.5))) > -0.2
                _blend(texture, shirt[front & mark], _random_colour(rng))
            if rng.random() < self.config.buttons_probability:  # a button placket down the front
                placket = front & (np.abs(sx) < 0.008)
                colour = texture[:, shirt[placket]].mean(axis=1) * 0.7 if placket.any() else np.zeros(3)
                _blend(texture, shirt[placket], colour)
                buttons = front & (np.abs(sx) < 0.007) & (np.sin(sy * (2 * np.pi / 0.07)) > 0.8)
                _blend(texture, shirt[buttons], np.array([0.85, 0.85, 0.8]) if rng.random() < 0.5 else np.zeros(3))
            # collar: a band at the neckline, darker at the front
            collar = (sy > self.neck[1] - 0.07) & front & (np.abs(sx) < 0.1)
            if rng.random() < 0.5:
                _blend(texture, shirt[collar], texture[:, shirt[collar]].mean(axis=1) * 0.6
                       if collar.any() else np.zeros(3), 0.8)
        trousers = np.flatnonzero(regions == TROUSERS)
        if len(trousers):
            tx, ty, tz = x[trousers], y[trousers], z[trousers]
            base = texture[:, trousers].mean(axis=1)
            # the fly: a seam down the front centre
            fly = (np.abs(tx) < 0.006) & (tz > self.pelvis[2]) & (ty > self.hip_y - 0.12)
            _blend(texture, trousers[fly], base * 0.55)
            # front pockets: slanted openings at the hips
            opening = np.abs((np.abs(tx) - 0.1) - (ty - self.hip_y) * 0.6) < 0.008
            opening &= (tz > self.pelvis[2]) & (ty > self.hip_y - 0.03) & (ty < self.hip_y + 0.09)
            _blend(texture, trousers[opening], base * 0.5)
            if rng.random() < self.config.back_pockets_probability:  # back pockets: patches on the seat
                pocket = (np.abs(np.abs(tx) - 0.08) < 0.05) & (ty < self.hip_y + 0.02) & (ty > self.hip_y - 0.1)
                pocket &= tz < self.pelvis[2] - 0.04
                edge = pocket & ~((np.abs(np.abs(tx) - 0.08) < 0.042) & (ty < self.hip_y + 0.012)
                                  & (ty > self.hip_y - 0.092))
                _blend(texture, trousers[edge], base * 0.5)
                _blend(texture, trousers[pocket & ~edge], base * 0.85)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) float64 clothing colour: random hue, mostly muted, sometimes dark or bright."""
    hue = rng.random()
    saturation = rng.beta(1.5, 2.0)
    value = rng.beta(2.0, 1.5)
    return _hsv_to_rgb(hue, saturation, value)


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# ---------------------------------------------------------------------- backgrounds
@dataclass
class BackgroundConfig:
    """Background settings.

    Attributes
    ----------
    kinds : dict str -> float
        relative chances of ``gradient``, ``noise``, ``shapes`` and ``photo`` (photos need
        scikit-image; without it their share goes to the procedural kinds).
    max_shapes : int
        at most this many random rectangles / ellipses on a ``shapes`` background.
    """

    kinds: dict[str, float] = field(default_factory=lambda: {"gradient": 0.2, "noise": 0.25, "shapes": 0.25,
                                                              "photo": 0.3})
    max_shapes: int = 12

    def __post_init__(self) -> None:
        unknown = [name for name in self.kinds if name not in BACKGROUND_KINDS]
        if unknown:
            raise ValueError(f"unknown background kinds {unknown}; choose from {list(BACKGROUND_KINDS)}")
        if sum(self.kinds.values()) <= 0 or min(self.kinds.values()) < 0:
            raise ValueError("background kinds need weights >= 0 with a positive sum")


_PHOTO_CACHE: dict[str, np.ndarray] = {}


def photo_names() -> tuple[str, ...]:
    """Names of the sample photographs available (empty without scikit-image)."""
    _load_photos()
    return tuple(sorted(_PHOTO_CACHE))


def _load_photos() -> dict[str, np.ndarray]:
    if _PHOTO_CACHE:
        return _PHOTO_CACHE
    try:
        import skimage.data as sample_data
    except ImportError:
        return _PHOTO_CACHE
    for name in _PHOTOS:
        try:
            image = np.asarray(getattr(sample_data, name)())
        except Exception:  # a photo missing from this scikit-image (needs a download): skip it
            continue
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3]
        if image.dtype != np.uint8:
            image = np.clip(image / max(float(image.max()), 1e-12) * 255.0, 0, 255).astype(np.uint8)
        _PHOTO_CACHE[name] = np.ascontiguousarray(image)
    return _PHOTO_CACHE


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """(3, h, w) float -> (3, size, size) float32, bilinear (antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    shrink = tensor.shape[-1] > size or tensor.shape[-2] > size
    out = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    return out[0].numpy()


class BackgroundSampler:
    """Draws (3, S, S) float32 backgrounds in [0, 1].

    Parameters
    ----------
    size : int
        S.
    config : BackgroundConfig
    """

    def __init__(self, size: int, config: BackgroundConfig | None = None) -> None:
        self.size = int(size)
        if self.size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        self.config = config or BackgroundConfig()
        kinds = dict(self.config.kinds)
        self.photos = _load_photos() if kinds.get("photo", 0.0) > 0 else {}
        if not self.photos:
            kinds.pop("photo", None)
        if sum(kinds.values()) <= 0:
            kinds = {"gradient": 1.0, "noise": 1.0, "shapes": 1.0}
        self._kinds = tuple(kinds)
        weights = np.array([kinds[k] for k in self._kinds], dtype=float)
        self._p = weights / weights.sum()
        self._photo_names = tuple(sorted(self.photos))
        grid = (np.arange(self.size) + 0.5) / self.size
        self._x, self._y = np.meshgrid(grid, grid)
        self._grid = grid.astype(np.float32)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One background: (3, S, S) float32 in [0, 1]."""
        kind = self._kinds[rng.choice(len(self._kinds), p=self._p)]
        image = getattr(self, f"_{kind}")(rng)  # (3, S, S) float32, channel-major throughout
        return np.clip(image, 0.0, 1.0, out=image)

    def _gradient(self, rng: np.random.Generator) -> np.ndarray:
        a, b = _random_colour(rng), _random_colour(rng)
        angle = rng.uniform(0, 2 * np.pi)
        # t = cos x + sin y, rescaled to [0, 1] over the image (a separable ramp)
        along_x = np.float32(np.cos(angle)) * self._grid
        along_y = np.float32(np.sin(angle)) * self._grid
        low = along_x.min() + along_y.min()
        span = max(float(along_x.max() + along_y.max() - low), 1e-9)
        t = (along_y[:, None] + (along_x - low)[None, :]) * np.float32(1.0 / span)  # (S, S)
        a32, step = a.astype(np.float32), (b - a).astype(np.float32)
        return a32[:, None, None] + step[:, None, None] * t[None]

    def _noise(self, rng: np.random.Generator) -> np.ndarray:
        low = max(2, min(self.size, 64))  # octaves summed at low resolution, one final resize
        image = np.zeros((3, low, low), dtype=np.float32)
        base = _random_colour(rng)
        amplitude = 0.5
        for cells in (2, 4, 8, 16, 32):
            if cells > low:
                break
            coarse = rng.normal(0.0, 1.0, (cells, cells, 3)) * rng.uniform(0.3, 1.0, 3)
            image += np.float32(amplitude) * _resize(coarse.transpose(2, 0, 1), low)
            amplitude *= rng.uniform(0.4, 0.7)
        out = _resize(image, self.size)
        out *= np.float32(0.25)
        out += base.astype(np.float32)[:, None, None]
        return out

    def _shapes(self, rng: np.random.Generator) -> np.ndarray:
        image = self._gradient(rng)
        size = self.size
        for _ in range(rng.integers(1, self.config.max_shapes + 1)):
            cx, cy = rng.random(2)
            rx, ry = rng.uniform(0.03, 0.4, 2)
            colour = _random_colour(rng).astype(np.float32)
            ellipse = rng.random() >= 0.5
            # only the shape's bounding box of pixels is tested
            c0, c1 = int(max(0, np.floor((cx - rx) * size))), int(min(size, np.ceil((cx + rx) * size)))
            r0, r1 = int(max(0, np.floor((cy - ry) * size))), int(min(size, np.ceil((cy + ry) * size)))
            if c0 >= c1 or r0 >= r1:
                continue
            x, y = self._x[r0:r1, c0:c1], self._y[r0:r1, c0:c1]
            if ellipse:
                inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1.0
            else:
                inside = (np.abs(x - cx) < rx) & (np.abs(y - cy) < ry)
            box = image[:, r0:r1, c0:c1]
            box[:, inside] = colour[:, None]
        return image

    def _photo(self, rng: np.random.Generator) -> np.ndarray:
        photo = self.photos[self._photo_names[rng.integers(len(self._photo_names))]]
        height, width = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(height, width))
        side = max(side, 2)
        top = rng.integers(0, height - side + 1)
        left = rng.integers(0, width - side + 1)
        crop = photo[top:top + side, left:left + side].transpose(2, 0, 1).astype(np.float32)
        crop *= np.float32(1.0 / 255.0)
        image = _resize(crop, self.size)
        if rng.random() < 0.5:
            image = image[:, :, ::-1]
        return image * rng.uniform(0.7, 1.2, 3).astype(np.float32)[:, None, None]


# ---------------------------------------------------------------------- lighting
@dataclass
class Lighting:
    """Ambient plus one directional light (camera axes: +x right, +y down, +z away from the camera).

    Attributes
    ----------
    direction : (3,) float
        unit vector the light travels along.
    ambient, diffuse : float
        a pixel's colour is ``albedo * (ambient + diffuse * max(0, n . -direction))``.
    """

    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    ambient: float = 0.45
    diffuse: float = 0.6


def sample_lighting(rng: np.random.Generator, ambient: tuple[float, float] = (0.3, 0.6),
                    diffuse: tuple[float, float] = (0.3, 0.8), max_angle_deg: float = 70.0) -> Lighting:
    """A random light from the camera's hemisphere, at most ``max_angle_deg`` off the view axis."""
    angle = np.radians(rng.uniform(0.0, max_angle_deg))
    azimuth = rng.uniform(0.0, 2 * np.pi)
    direction = (np.sin(angle) * np.cos(azimuth), np.sin(angle) * np.sin(azimuth), np.cos(angle))
    return Lighting(direction=tuple(float(d) for d in direction), ambient=float(rng.uniform(*ambient)),
                    diffuse=float(rng.uniform(*diffuse)))
