"""The painted people: front-back cues (face, hairline, shoes, clothing fronts), determinism,
configuration checks."""
import numpy as np
import pytest

from decomr.data.appearance import HAIR, SKIN, AppearanceConfig, TexturePainter
from uvkit.uvmap import load_uvmap
from test_data_helpers import open_template

ASSET = "assets/open_body_uv.npz"


@pytest.fixture(scope="module")
def painters():
    template = open_template()
    uvmap = load_uvmap(ASSET, template=template)
    with_cues = TexturePainter(template, uvmap.vt, uvmap.ft, 256)
    without = TexturePainter(template, uvmap.vt, uvmap.ft, 256, AppearanceConfig(front_back_cues=False))
    return with_cues, without


def _front_and_back_of_head(painter):
    layout = painter._layout
    x, y, z = painter._xyz
    head = painter._part_is["head"]
    s, nose = layout.s, layout.nose
    # the face below the hairline (around the eyes and mouth) and the back of the head at the same heights
    band = (y > nose[1] - 0.3 * s) & (y < nose[1] + 0.3 * s)
    face = head & band & (z > nose[2] - 0.35 * s) & (np.abs(x) < 0.35 * s)
    back = head & band & (z < layout.head_joint[2] - 0.3 * s)
    assert face.sum() > 20 and back.sum() > 20
    return face, back


def test_hair_covers_the_back_of_the_head_not_the_face(painters):
    painter, _ = painters
    face, back = _front_and_back_of_head(painter)
    rng = np.random.default_rng(0)
    face_hair, back_hair = [], []
    for _ in range(40):
        regions = painter.regions(rng)
        face_hair.append(np.mean(regions[face] == HAIR))
        back_hair.append(np.mean(regions[back] == HAIR))
    face_hair, back_hair = np.array(face_hair), np.array(back_hair)
    assert face_hair.max() < 0.05  # the face itself is never under hair
    assert np.mean(back_hair > 0.5) > 0.6  # most people have hair behind at face height
    assert np.all(back_hair >= face_hair)


def test_the_face_has_eyes_and_a_mouth(painters):
    painter, plain = painters
    layout = painter._layout
    fx, fy = layout.face_x, layout.face_y
    # texels at the eye centres and at the mouth, in face coordinates (scale s from the nose tip)
    eyes = np.flatnonzero((np.abs(np.abs(fx) - 0.21) < 0.03) & (np.abs(fy - 0.24) < 0.02))
    cheeks = np.flatnonzero((np.abs(np.abs(fx) - 0.3) < 0.03) & (np.abs(fy + 0.05) < 0.03))
    mouth = np.flatnonzero((np.abs(fx) < 0.08) & (np.abs(fy + 0.245) < 0.012))
    assert len(eyes) and len(cheeks) and len(mouth)
    texture_of = lambda p, seed: p._flat(p.paint(np.random.default_rng(seed)))  # noqa: E731
    contrast, contrast_plain = [], []
    for seed in range(12):
        for p, out in ((painter, contrast), (plain, contrast_plain)):
            flat = texture_of(p, seed)
            face = layout.face
            eye_colour = flat[:, face[eyes]].mean(1)
            cheek_colour = flat[:, face[cheeks]].mean(1)
            mouth_colour = flat[:, face[mouth]].mean(1)
            out.append((np.abs(eye_colour - cheek_colour).sum(), np.abs(mouth_colour - cheek_colour).sum()))
    contrast, contrast_plain = np.array(contrast), np.array(contrast_plain)
    assert np.median(contrast[:, 0]) > 0.15 and np.median(contrast[:, 1]) > 0.05
    assert np.median(contrast_plain[:, 0]) < 0.05  # without the cues the face is plain skin


def test_shoes_differ_front_and_back(painters):
    painter, _ = painters
    layout = painter._layout
    x, y, z = painter._xyz
    feet = painter._part_is["feet"]
    reach = layout.toe_z - layout.ankle[2]
    toe = feet & (z > layout.ankle[2] + 0.8 * reach) & (y > layout.sole_y + 0.026)
    heel = feet & (z < layout.ankle[2] - 0.03) & (y > layout.sole_y + 0.026)
    assert toe.sum() > 5 and heel.sum() > 5
    differ = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        flat = painter._flat(painter.paint(rng))
        differ += np.abs(flat[:, toe].mean(1) - flat[:, heel].mean(1)).sum() > 0.05
    assert differ >= 14


def test_painting_is_a_function_of_the_generator(painters):
    painter, _ = painters
    a = painter.paint(np.random.default_rng(5))
    b = painter.paint(np.random.default_rng(5))
    assert a.dtype == np.float32 and a.shape == (3, 256, 256)
    assert np.array_equal(a, b) and 0.0 <= a.min() and a.max() <= 1.0
    assert not np.array_equal(a, painter.paint(np.random.default_rng(6)))


def test_skin_tones_span_light_to_dark(painters):
    painter, _ = painters
    rng = np.random.default_rng(1)
    luminance = np.array([painter.skin_colour(rng) @ [0.3, 0.59, 0.11] for _ in range(400)])
    assert luminance.min() < 0.25 and luminance.max() > 0.8


@pytest.mark.parametrize("field", ["beard_probability", "glasses_probability", "long_hair_probability"])
def test_bad_probabilities_are_refused(field):
    with pytest.raises(ValueError, match=field):
        AppearanceConfig(**{field: 1.5})


def test_regions_keep_skin_on_the_face(painters):
    painter, _ = painters
    face, _ = _front_and_back_of_head(painter)
    rng = np.random.default_rng(3)
    assert np.mean([np.mean(painter.regions(rng)[face] == SKIN) for _ in range(10)]) > 0.95
