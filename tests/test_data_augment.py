import numpy as np
import pytest
import torch

from decomr.body import mirror_pose
from decomr.data.augment import AugmentConfig, Augmenter, flip_sample, rotate_scale_sample
from decomr.data.synthetic import SyntheticConfig, SyntheticPeople
from decomr.render import PerspectiveCamera
from test_data_helpers import open_template, projection_uvmap

SIZE = 96


@pytest.fixture(scope="module")
def dataset():
    return SyntheticPeople(SyntheticConfig(size=SIZE, length=8, seed=11, texture_resolution=32),
                           uvmap=projection_uvmap(), template=open_template())


def _camera(sample):
    return PerspectiveCamera(focal_length=sample["camera"][:1], principal_point=torch.full((1, 2), SIZE / 2),
                             translation=sample["camera"][None, 1:], image_size=SIZE)


def _mirror(dataset):
    return torch.as_tensor(open_template().mirror)


def test_flip_twice_is_identity(dataset):
    sample = dataset[0]
    twice = flip_sample(flip_sample(sample, _mirror(dataset)), _mirror(dataset))
    for key, value in sample.items():
        torch.testing.assert_close(twice[key], value, atol=1e-6, rtol=0, msg=key)
    once = flip_sample(sample, _mirror(dataset))
    assert not torch.equal(once["iuv"], sample["iuv"])


def test_flip_equals_rendering_the_mirrored_body(dataset):
    """Tolerance: at most 0.5% of the pixels change mask; U and V within 1e-3 on 99% of the pixels
    both call foreground (where LBS makes surfaces touch, the z-buffer's tie break by face id picks
    another face in the mirrored mesh: measured 0.3-0.6% of pixels, also on a real unwrap at 224 px)."""
    engine = dataset.engine
    for index in (1, 2):
        sample = dataset[index]
        flipped = flip_sample(sample, _mirror(dataset))
        pose = mirror_pose(sample["pose"])[None]
        with torch.no_grad():
            vertices = engine.body(pose.double(), sample["betas"][None].double()).vertices.float()
        torch.testing.assert_close(vertices[0], flipped["vertices"], atol=1e-5, rtol=0)
        camera = _camera(flipped)
        fragments = engine.renderer.rasterize(vertices, camera)
        iuv = engine.renderer.iuv(fragments)[0]
        parts = engine.renderer.parts(fragments)[0]
        mask_changed = (iuv[0] != flipped["iuv"][0]).float().mean()
        assert mask_changed <= 0.005
        both = (iuv[0] > 0.5) & (flipped["iuv"][0] > 0.5)
        close = ((iuv[1:] - flipped["iuv"][1:]).abs().amax(0) < 1e-3)[both].float().mean()
        assert close >= 0.99
        assert (parts == flipped["parts"])[both].float().mean() >= 0.99
        xy = camera.transform(flipped["joints3d"][None, :, :3])[0, :, :2]
        torch.testing.assert_close(xy, flipped["joints2d"][:, :2], atol=1e-5, rtol=0)


def test_rotation_and_scale_keep_joints_and_image_consistent(dataset):
    engine = dataset.engine
    sample = dataset[3]
    out = rotate_scale_sample(sample, scale=0.8, rotation_deg=35.0)
    camera = _camera(out)
    # 2D joints = projection of the rotated 3D joints with the zoomed camera
    xy = camera.transform(out["joints3d"][None, :, :3])[0, :, :2]
    torch.testing.assert_close(xy, out["joints2d"][:, :2], atol=1e-5, rtol=0)
    # the pose still gives the vertices
    with torch.no_grad():
        vertices = engine.body(out["pose"][None].double(), out["betas"][None].double()).vertices.float()[0]
    torch.testing.assert_close(vertices, out["vertices"], atol=1e-5, rtol=0)
    # the warped mask is (up to resampling) the render of the augmented body with the new camera
    mask = engine.renderer.rasterize(vertices[None], camera).mask[0]
    warped = out["mask"] > 0.5
    iou = (mask & warped).sum() / (mask | warped).sum()
    assert iou > 0.9
    # visibility drops for joints that leave the crop
    big = rotate_scale_sample(sample, scale=3.0)
    outside = (big["joints2d"][:, :2].abs() > 1).any(-1)
    assert outside.any() and torch.all(big["joints2d"][outside, 2] == 0)


def test_augmenter_draws(dataset):
    augmenter = Augmenter(AugmentConfig(), vertex_mirror=_mirror(dataset))
    rng = np.random.default_rng(0)
    draws = [augmenter.draw(rng) for _ in range(400)]
    scales = np.array([d.scale for d in draws])
    rotations = np.array([d.rotation_deg for d in draws])
    assert scales.min() >= 0.75 and scales.max() <= 1.25
    assert np.abs(rotations).max() <= 60 and 0.3 < np.mean(rotations != 0) < 0.5
    assert 0.4 < np.mean([d.flip for d in draws]) < 0.6
    colours = np.array([d.colour for d in draws])
    assert colours.min() >= 0.6 and colours.max() <= 1.4
    sample = augmenter(dataset[4], np.random.default_rng(1))
    assert sample["image"].shape == (3, SIZE, SIZE) and float(sample["image"].max()) <= 1.0
    with pytest.raises(ValueError, match="symmetric"):
        Augmenter(AugmentConfig(), symmetric_uv=False)
    with pytest.raises(ValueError, match="rotation_probability"):
        AugmentConfig(rotation_probability=2.0)


def test_dataset_augmentation_is_reproducible():
    kwargs = dict(uvmap=projection_uvmap(), template=open_template(), augment=AugmentConfig())
    cfg = SyntheticConfig(size=32, length=4, seed=2, texture_resolution=16)
    a, b = SyntheticPeople(cfg, **kwargs), SyntheticPeople(cfg, **kwargs)
    torch.testing.assert_close(a[1]["image"], b[1]["image"])
    a.set_epoch(1)
    assert not torch.equal(a[1]["image"], b[1]["image"])
