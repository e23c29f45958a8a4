"""decomr.data.ondevice: batched synthetic people give the same kind of samples as the
per-sample path (keys, shapes, dtypes, ranges), IUV consistent with the mesh and camera (against
the float64 ray caster), joints inside their crops, identical batches for a seed, exact flips."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from decomr.body import BodyModel
from decomr.data.augment import AugmentConfig
from decomr.data.ondevice import (BatchedSkinning, OnDeviceConfig, OnDevicePeople, OnDeviceSynthetic, batch_seed,
                                  quaternion_to_rotvec, rotvec_to_matrix)
from decomr.data.poses import within_limits
from decomr.data.synthetic import SyntheticConfig, SyntheticRenderer
from decomr.render import PerspectiveCamera
from decomr.render.reference import reference_fragments
from test_data_helpers import open_template, projection_uvmap

SIZE = 64
OPTIONS = OnDeviceConfig(texture_bank=3, background_bank=3)


def config(**kw):
    return SyntheticConfig(size=SIZE, length=40, seed=5, texture_resolution=32, **kw)


@pytest.fixture(scope="module")
def body():
    return BodyModel(open_template())


@pytest.fixture(scope="module")
def engine(body):
    return OnDeviceSynthetic(config(), uvmap=projection_uvmap(), body=body, augment=AugmentConfig(), options=OPTIONS)


@pytest.fixture(scope="module")
def plain(body):
    """No augmentation: people framed exactly as the per-sample path frames them."""
    return OnDeviceSynthetic(config(), uvmap=projection_uvmap(), body=body, options=OPTIONS)


def test_same_keys_shapes_and_dtypes_as_the_per_sample_path(engine, body):
    ours = engine.batch([0, 1, 2])
    theirs = SyntheticRenderer(config(), uvmap=projection_uvmap(), body=body).render([0, 1, 2])
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].shape == value.shape, key
        assert ours[key].dtype == value.dtype, key


def test_value_ranges_and_label_consistency(engine):
    batch = engine.batch(list(range(8)))
    image, iuv, mask, parts = batch["image"], batch["iuv"], batch["mask"], batch["parts"]
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert float(iuv.min()) >= 0.0 and float(iuv.max()) <= 1.0
    on = mask > 0
    assert torch.equal(on, iuv[:, 0] > 0.5) and torch.equal(on, parts > 0)
    assert int(parts.max()) <= 24 and torch.all(iuv[:, 1:][~on[:, None].expand(-1, 2, -1, -1)] == 0)
    assert float(batch["betas"].abs().max()) <= 2.5
    assert torch.all(batch["scale"] > 0) and torch.all(batch["has_iuv"] == 1)
    assert batch["index"].tolist() == list(range(8))
    # every sample shows a person of a sensible size, and the image is not blank
    coverage = mask.mean((1, 2))
    assert torch.all(coverage > 0.02) and torch.all(coverage < 0.8)
    assert float(image.std()) > 0.05
    # the weak-perspective camera is the perspective one's at the person's depth
    focal, tz = batch["camera"][:, 0], batch["camera"][:, 3]
    torch.testing.assert_close(batch["camera_weak"][:, 0], 2.0 * focal / (SIZE * tz))
    # body poses stay within the joint limits (mirroring and rotation change the root only)
    assert np.all(within_limits(batch["pose"].double().numpy(), tolerance=1e-4))


def test_joints_project_inside_their_crops(plain, engine):
    batch = plain.batch(list(range(8)))
    camera = PerspectiveCamera(focal_length=batch["camera"][:, 0], principal_point=torch.full((8, 2), SIZE / 2.0),
                               translation=batch["camera"][:, 1:], image_size=SIZE)
    xy = camera.transform(batch["joints3d"][..., :3])[..., :2]
    torch.testing.assert_close(xy, batch["joints2d"][..., :2], atol=1e-5, rtol=0)
    assert float(batch["joints2d"][..., :2].abs().max()) < 1.0 and torch.all(batch["joints2d"][..., 2] == 1)
    # the box centre sits near the crop centre (the per-sample path's framing)
    assert float((batch["center"] - SIZE / 2).abs().max()) < 0.05 * SIZE
    # augmented: visibility says exactly which joints are inside the crop
    augmented = engine.batch(list(range(8)))
    inside = (augmented["joints2d"][..., :2].abs() <= 1.0).all(-1).float()
    assert torch.equal(inside, augmented["joints2d"][..., 2])


def test_iuv_agrees_with_ray_casting_through_mesh_and_camera(plain):
    batch = plain.batch([3, 4])
    uvmap = projection_uvmap()
    faces = open_template().faces
    vt, ft = uvmap.vt, uvmap.ft
    pick = np.random.default_rng(0)
    for k in range(2):
        camera = PerspectiveCamera(focal_length=batch["camera"][k:k + 1, 0],
                                   principal_point=torch.full((1, 2), SIZE / 2.0),
                                   translation=batch["camera"][k:k + 1, 1:], image_size=SIZE)
        mask = batch["mask"][k].numpy() > 0
        fg, bg = np.argwhere(mask), np.argwhere(~mask)
        pixels = np.vstack([fg[pick.choice(len(fg), 120, replace=False)], bg[pick.choice(len(bg), 40, replace=False)]])
        ref = reference_fragments(batch["vertices"][k], faces, SIZE, camera, pixels=pixels)
        assert np.mean((ref.face_ids >= 0) == mask[pixels[:, 0], pixels[:, 1]]) >= 0.97
        interior = (ref.face_ids >= 0) & (ref.bary.min(1) > 1e-3)
        assert interior.sum() > 80
        expected = np.einsum("nk,nkd->nd", ref.bary[interior], vt[ft[ref.face_ids[interior]]])
        got = batch["iuv"][k, 1:].numpy()[:, pixels[interior, 0], pixels[interior, 1]].T
        close = np.abs(got - expected).max(1) < 2e-3
        assert close.mean() >= 0.995, close.mean()


def test_a_seed_gives_identical_batches(engine):
    first = engine.batch([5, 9, 11], epoch=2)
    again = engine.batch([5, 9, 11], epoch=2)
    for key in first:
        assert torch.equal(first[key], again[key]), key
    other = engine.batch([5, 9, 11], epoch=3)
    assert not torch.equal(first["image"], other["image"])
    assert batch_seed(0, 1, [1, 2]) != batch_seed(0, 1, [2, 1])


def test_sub_batches_are_seeded_runs_made_alike_in_threads_or_in_turn(engine):
    """options.sub_batches = 2 (OPTIONS): [0, 1, 2, 3, 4] is made as [0, 1, 2] and [3, 4], each
    from its own seed; the threads on the CPU give exactly what one run after the other gives."""
    assert engine.options.sub_batches == 2
    indices = [0, 1, 2, 3, 4]
    together = engine.batch(indices, epoch=1)
    in_turn = engine.batch(indices, epoch=1, concurrent=False)
    for key in together:
        assert torch.equal(together[key], in_turn[key]), key
    for run, rows in (([0, 1, 2], slice(0, 3)), ([3, 4], slice(3, 5))):
        alone = engine.generate(len(run), torch.Generator().manual_seed(batch_seed(engine.config.seed, 1, run)),
                                indices=run)
        for key in together:
            assert torch.equal(together[key][rows], alone[key]), key
    assert together["index"].tolist() == indices
    # the two runs are different people, not one draw repeated
    assert not torch.equal(together["pose"][0], together["pose"][3])
    with pytest.raises(ValueError, match="sub_batches"):
        OnDeviceConfig(sub_batches=0)


def test_flip_makes_the_mirror_image(body):
    """Flip on (p = 1) and off (p = 0) consume the same draws: the flipped person is the mirror
    image (mask mirrored, U mirrored, part labels swapped) when nothing else moves."""
    still = dict(scale_range=(1.0, 1.0), rotation_probability=0.0, colour_range=(1.0, 1.0))
    make = lambda p: OnDeviceSynthetic(config(center_jitter=0.0), uvmap=projection_uvmap(), body=body,  # noqa: E731
                                       options=OPTIONS, augment=AugmentConfig(flip_probability=p, **still))
    plain, flipped = make(0.0).batch([1, 2]), make(1.0).batch([1, 2])
    mirrored_mask = plain["mask"].flip(-1)
    assert float((flipped["mask"] == mirrored_mask).float().mean()) >= 0.99
    both = (flipped["mask"] > 0) & (mirrored_mask > 0)
    u_flipped, u_plain = flipped["iuv"][:, 1][both], 1.0 - plain["iuv"][:, 1].flip(-1)[both]
    assert float(((u_flipped - u_plain).abs() < 0.02).float().mean()) >= 0.97
    from decomr.data.augment import _MIRROR_LABELS

    labels = _MIRROR_LABELS[plain["parts"].flip(-1)]
    assert float((flipped["parts"][both] == labels[both]).float().mean()) >= 0.97
    torch.testing.assert_close(flipped["joints2d"][:, :, 0].abs().sort(1).values,
                               plain["joints2d"][:, :, 0].abs().sort(1).values, atol=2e-3, rtol=0)


def test_flips_refused_without_a_symmetric_map(body):
    with pytest.raises(ValueError, match="symmetric"):
        OnDeviceSynthetic(config(), uvmap=None, body=body, augment=AugmentConfig(), options=OPTIONS)
    with pytest.raises(ValueError, match="texture_bank"):
        OnDeviceConfig(texture_bank=0)


def test_batched_skinning_equals_the_body_layer(body):
    skinning = BatchedSkinning(body)
    generator = torch.Generator().manual_seed(0)
    pose = 0.4 * torch.randn(3, 72, generator=generator)
    betas = torch.randn(3, 10, generator=generator)
    with torch.no_grad():
        expected = body(pose, betas)
        vertices, joints = skinning(pose, betas)
    torch.testing.assert_close(vertices, expected.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(joints, expected.joints, atol=1e-5, rtol=0)


def test_rotation_helpers_match_scipy():
    rng = np.random.default_rng(1)
    rotations = Rotation.random(50, random_state=3)
    quat = rotations.as_quat()  # x, y, z, w
    ours = quaternion_to_rotvec(torch.tensor(np.column_stack([quat[:, 3], quat[:, :3]])))
    np.testing.assert_allclose(Rotation.from_rotvec(ours.numpy()).as_matrix(), rotations.as_matrix(), atol=1e-9)
    assert float(ours.norm(dim=1).max()) <= np.pi + 1e-9
    near_pi = torch.tensor([[1e-9, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)  # pi about x, identity
    np.testing.assert_allclose(quaternion_to_rotvec(near_pi).numpy(), [[np.pi, 0, 0], [0, 0, 0]], atol=1e-7)
    rotvec = rng.normal(size=(20, 3))
    np.testing.assert_allclose(rotvec_to_matrix(torch.tensor(rotvec)).numpy(),
                               Rotation.from_rotvec(rotvec).as_matrix(), atol=1e-9)


def test_training_source_wrapper(body):
    people = OnDevicePeople(config(), uvmap=projection_uvmap(), body=body, augment=AugmentConfig(), options=OPTIONS)
    assert len(people) == 40 and people.makes_batches
    sample = people[7]
    assert sample["image"].shape == (3, SIZE, SIZE) and int(sample["index"]) == 7
    batches = list(people.batches([[0, 1], [2, 3, 4]]))
    assert [len(b["image"]) for b in batches] == [2, 3]
    with pytest.raises(IndexError):
        people[40]


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA not available"))])
def test_on_cuda_the_same_scenes_as_on_the_cpu(body, device):
    """The draws come from a CPU generator: CUDA renders the same people up to float rounding."""
    cpu = OnDeviceSynthetic(config(), uvmap=projection_uvmap(), body=body, augment=AugmentConfig(), options=OPTIONS)
    gpu = OnDeviceSynthetic(config(), uvmap=projection_uvmap(), template=open_template(), augment=AugmentConfig(),
                            options=OPTIONS, device=device)
    ours, theirs = gpu.batch([0, 1, 2, 3]), cpu.batch([0, 1, 2, 3])
    assert all(value.device.type == "cuda" for value in ours.values())
    assert float((ours["mask"].cpu() == theirs["mask"]).float().mean()) >= 0.99
    torch.testing.assert_close(ours["joints3d"].cpu(), theirs["joints3d"], atol=1e-4, rtol=0)
    torch.testing.assert_close(ours["camera"].cpu(), theirs["camera"], atol=1e-3, rtol=1e-4)
    assert float((ours["image"].cpu() - theirs["image"]).abs().mean()) < 0.02


def test_written_shards_are_made_in_fixed_batches_and_resume_to_the_same_people(plain, tmp_path):
    from decomr.data.shards import SyntheticShards, parse_shard, sample_paths, write_shard

    first, second = tmp_path / "first", tmp_path / "second"
    assert write_shard(first, plain, 5, parse_shard("0/1"), batch_size=2) == 5
    # an interrupted run: samples 1 (of the batch [0, 1]) and 4 (the batch [4]) missing
    assert write_shard(second, plain, 5, parse_shard("0/1"), batch_size=2) == 5
    for index in (1, 4):
        for path in sample_paths(second, index):
            path.unlink()
    next((second / "shards").glob("*.done")).unlink()
    assert write_shard(second, plain, 5, parse_shard("0/1"), batch_size=2) == 2
    a, b = SyntheticShards(first), SyntheticShards(second)
    assert a.indices.tolist() == b.indices.tolist() == [0, 1, 2, 3, 4]
    for index in range(5):
        assert torch.equal(a[index]["image"], b[index]["image"]) and torch.equal(a[index]["pose"], b[index]["pose"])
    # a sample is the one its fixed batch makes
    expected = plain.render([0, 1])
    assert torch.allclose(a[1]["pose"], expected["pose"][1]) and not torch.allclose(a[0]["pose"], a[1]["pose"])
    # the batch size decides the people, so it is part of the folder's settings
    with pytest.raises(ValueError, match="other settings"):
        write_shard(first, plain, 5, parse_shard("0/1"), batch_size=3)


def test_synth_cli_ondevice(tmp_path):
    from decomr.data.shards import SyntheticShards
    from decomr.data.synth_cli import main as synth_main

    uv = tmp_path / "uv.npz"
    projection_uvmap().save(uv)
    out = tmp_path / "out"
    assert synth_main(["--out", str(out), "--n", "3", "--seed", "2", "--size", "32", "--uv", str(uv), "--ondevice",
                       "--batch", "2", "--no-progress"]) == 0
    data = SyntheticShards(out)
    assert data.indices.tolist() == [0, 1, 2] and tuple(data[2]["image"].shape) == (3, 32, 32)
    import json

    settings = json.loads(next(out.glob("config-*.json")).read_text())
    assert settings["engine"] == "ondevice" and settings["batch_size"] == 2
