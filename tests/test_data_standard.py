"""decomr.data.standard / prepare / mixture on a tiny dataset rendered from the open body."""
import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest
import torch

from decomr.data.mixture import MixtureDataset, mixture_counts, mixture_sampler
from decomr.data.prepare import main as prepare_main
from decomr.data.prepare import prepare_iuv
from decomr.data.standard import (JOINT_ORDERS, StandardDataset, crop_image, fit_weak_perspective, iuv_hash,
                                  load_annotations, prepared_sample_path)
from decomr.render import Renderer, WeakPerspectiveCamera, project
from fixtures_standard import CROP_SIZE, build_standard_fixture


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_standard_fixture(tmp_path_factory.mktemp("standard"))


@pytest.fixture(scope="module")
def posed(fixture):
    with torch.no_grad():
        return fixture.body(torch.from_numpy(fixture.pose).float(), torch.from_numpy(fixture.betas).float())


@pytest.fixture(scope="module")
def prepared(fixture):
    out = fixture.root / "prepared"
    report = prepare_iuv(fixture.npz, fixture.uv, out, size=CROP_SIZE)
    return out, report


def direct_render(fixture, posed):
    renderer = Renderer.from_vertex_parts(fixture.template.faces, CROP_SIZE, fixture.template.parts,
                                          vt=fixture.uvmap.vt, ft=fixture.uvmap.ft)
    with torch.no_grad():
        return renderer(posed.vertices, WeakPerspectiveCamera(torch.from_numpy(fixture.crop_cameras).float()))


def test_samples_have_the_documented_keys_and_crop_coordinates(fixture, posed):
    dataset = StandardDataset(fixture.npz, fixture.images, body=fixture.body, uv_lookup=fixture.lookup, size=CROP_SIZE)
    assert len(dataset) == 4 and dataset.missing == []
    sample = dataset[1]
    assert sample["image"].shape == (3, CROP_SIZE, CROP_SIZE) and sample["image"].dtype == torch.float32
    assert sample["joints2d"].shape == (24, 3) and sample["joints3d"].shape == (24, 4)
    assert sample["vertices"].shape == (fixture.template.n_vertices, 3)
    assert bool(sample["has_smpl"]) and bool(sample["has_3d"]) and not bool(sample["has_iuv"])
    assert sample["imgname"] == fixture.imgname[1]
    cameras = WeakPerspectiveCamera(torch.from_numpy(fixture.crop_cameras).float())
    expected = project(posed.joints, cameras)
    got = torch.stack([dataset[k]["joints2d"][:, :2] for k in range(4)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_location_map_is_the_lookup_of_the_posed_body(fixture, posed):
    dataset = StandardDataset(fixture.npz, fixture.images, body=fixture.body, uv_lookup=fixture.lookup, size=CROP_SIZE)
    for k in (0, 3):
        sample = dataset[k]
        torch.testing.assert_close(sample["vertices"], posed.vertices[k])
        torch.testing.assert_close(sample["location_map"], fixture.lookup.location_map(posed.vertices[k:k + 1])[0])


def test_cropped_image_shows_the_body_where_the_crop_camera_renders_it(fixture, posed):
    dataset = StandardDataset(fixture.npz, fixture.images, size=CROP_SIZE)
    rendered = direct_render(fixture, posed)
    for k in range(4):
        seen = dataset[k]["image"][0] > 0.5  # the fixture's image red channel is the mask
        truth = rendered.mask[k]
        iou = (seen & truth).sum() / (seen | truth).sum()
        assert iou > 0.65, (k, float(iou))  # sample 3 is tiny (box 200 px over a 96 px image)


@pytest.mark.parametrize("side, size", [(40.0, 40), (30.0, 64), (90.0, 16)])
def test_crop_image_samples_the_box_exactly_on_a_linear_ramp(side, size):
    height, width = 120, 100
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                                indexing="ij")
    image = torch.stack([0.3 * cols + 0.1 * rows, rows])  # values at integer pixel centres
    center = (47.5, 60.25)
    crop = crop_image(image, center, side / 200.0, size)
    steps = (2.0 * torch.arange(size, dtype=torch.float64) + 1.0) / size - 1.0
    xs = center[0] + steps * side / 2
    ys = center[1] + steps * side / 2
    expected = torch.stack([0.3 * xs[None, :] + 0.1 * ys[:, None], ys[:, None].expand(size, size)])
    torch.testing.assert_close(crop, expected, atol=1e-9, rtol=0)


def test_crop_image_identity_and_outside_is_black():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(crop_image(image, (15.5, 15.5), 32 / 200, 32), image, atol=1e-6, rtol=0)
    far = crop_image(image, (500.0, 500.0), 0.1, 8)
    assert far.shape == (3, 8, 8) and float(far.abs().max()) == 0.0
    labels = torch.randint(0, 7, (1, 32, 32), generator=torch.Generator().manual_seed(1)).float()
    nearest = crop_image(labels, (10.0, 12.0), 0.07, 20, mode="nearest")
    assert set(nearest.unique().tolist()) <= set(range(7))
    with pytest.raises(ValueError, match="bilinear, nearest"):
        crop_image(image, (0, 0), 1.0, 8, mode="bicubic")


def test_camera_fit_recovers_the_crop_cameras(fixture, posed):
    dataset = StandardDataset(fixture.npz, fixture.images, size=CROP_SIZE)
    joints2d = torch.stack([dataset[k]["joints2d"] for k in range(4)]).double()
    camera, valid = fit_weak_perspective(posed.joints.double(), joints2d)
    assert valid.all()
    np.testing.assert_allclose(camera.numpy(), fixture.crop_cameras, atol=1e-6)
    joints2d[0, 1:, 2] = 0  # one visible joint: no camera
    camera, valid = fit_weak_perspective(posed.joints.double(), joints2d)
    assert valid.tolist() == [False, True, True, True] and camera[0].abs().sum() == 0


def test_prepared_iuv_matches_direct_rendering(fixture, posed, prepared):
    out, report = prepared
    assert report.written == 4 and report.fit_failed == [] and report.missing_images == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["uv_hash"] == iuv_hash(fixture.uvmap) and manifest["size"] == CROP_SIZE
    dataset = StandardDataset(fixture.npz, fixture.images, prepared=out, uvmap=fixture.uv, size=CROP_SIZE)
    rendered = direct_render(fixture, posed)
    for k in range(4):
        sample = dataset[k]
        assert bool(sample["has_iuv"])
        assert torch.equal(sample["mask"], rendered.mask[k].float())
        assert torch.equal(sample["parts"], rendered.parts[k])
        close = ((sample["iuv"] - rendered.iuv[k]).abs() < 1e-4).all(dim=0)
        assert close.float().mean() > 0.995  # a pixel on a chart border may pick the neighbour face
        np.testing.assert_allclose(sample["camera_weak"].numpy(), fixture.crop_cameras[k], atol=1e-5)
    assert not list(out.rglob(".*"))  # no temporary file left


def test_prepare_resumes_and_refuses_another_uv_map(fixture, prepared, tmp_path):
    out, _ = prepared
    again = prepare_iuv(fixture.npz, fixture.uv, out, size=CROP_SIZE)
    assert again.written == 0 and again.already_done == 4
    prepared_sample_path(out, 2).unlink()  # as if interrupted before sample 2
    resumed = prepare_iuv(fixture.npz, fixture.uv, out, size=CROP_SIZE)
    assert resumed.written == 1 and resumed.already_done == 3
    other = dataclasses.replace(fixture.uvmap, vt=fixture.uvmap.vt * 0.5 + 0.25)
    other_path = tmp_path / "other_uv.npz"
    other.save(other_path)
    with pytest.raises(ValueError, match="another UV map"):
        StandardDataset(fixture.npz, fixture.images, prepared=out, uvmap=other, size=CROP_SIZE)
    with pytest.raises(ValueError, match="another uv_hash"):
        prepare_iuv(fixture.npz, other_path, out, size=CROP_SIZE)
    with pytest.raises(ValueError, match="size"):
        StandardDataset(fixture.npz, fixture.images, prepared=out, uvmap=fixture.uv, size=32)
    with pytest.raises(ValueError, match="needs the UV map"):
        StandardDataset(fixture.npz, fixture.images, prepared=out, size=CROP_SIZE)


def test_missing_images_are_reported_and_skipped(fixture, tmp_path, caplog):
    images = tmp_path / "images"
    shutil.copytree(fixture.images, images)
    (images / fixture.imgname[1]).unlink()
    with caplog.at_level(logging.WARNING):
        dataset = StandardDataset(fixture.npz, images, size=CROP_SIZE)
    assert len(dataset) == 3 and len(dataset.missing) == 1 and fixture.imgname[1] in dataset.missing[0]
    assert "1 of 4 images missing" in caplog.text
    assert [dataset[k]["index"] for k in range(3)] == [0, 2, 3]
    report = prepare_iuv(fixture.npz, fixture.uv, tmp_path / "prep", images=images, size=CROP_SIZE)
    assert report.written == 3 and report.missing_images == [fixture.imgname[1]]


def test_bad_annotation_files_name_the_file_and_key(fixture, tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ValueError, match="corrupt.npz"):
        load_annotations(corrupt)
    with np.load(fixture.npz) as archive:
        arrays = dict(archive)
    for key in ("center", "part"):
        partial = {k: v for k, v in arrays.items() if k != key}
        path = tmp_path / f"no_{key}.npz"
        np.savez(path, **partial)
        with pytest.raises(ValueError, match=f"no_{key}.npz: missing key '{key}'"):
            load_annotations(path)
    bad = dict(arrays, center=arrays["center"][:, :1])
    np.savez(tmp_path / "bad_shape.npz", **bad)
    with pytest.raises(ValueError, match=r"'center' must have shape \(4, 2\)"):
        load_annotations(tmp_path / "bad_shape.npz")
    np.savez(tmp_path / "half_smpl.npz", **{k: v for k, v in arrays.items() if k != "shape"})
    with pytest.raises(ValueError, match="missing key 'shape'"):
        load_annotations(tmp_path / "half_smpl.npz")
    with pytest.raises(ValueError, match="valid choices: " + ", ".join(JOINT_ORDERS)):
        load_annotations(fixture.npz, joint_order="coco")
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_annotations(tmp_path / "nothing.npz")


def test_lsp14_joint_order_fills_the_smpl_slots(fixture, tmp_path):
    from decomr.body import JOINTS14_FROM_SMPL

    with np.load(fixture.npz) as archive:
        arrays = dict(archive)
    arrays["part"] = arrays["part"][:, list(JOINTS14_FROM_SMPL)]
    arrays.pop("S")
    path = tmp_path / "lsp.npz"
    np.savez(path, **arrays)
    lsp = load_annotations(path, joint_order="lsp14")
    smpl = load_annotations(fixture.npz)
    np.testing.assert_array_equal(lsp.joints2d[:, list(JOINTS14_FROM_SMPL)], smpl.joints2d[:, list(JOINTS14_FROM_SMPL)])
    others = [j for j in range(24) if j not in JOINTS14_FROM_SMPL]
    assert (lsp.joints2d[:, others, 2] == 0).all() and not lsp.has_3d.any()


def test_prepare_cli(fixture, tmp_path, capsys):
    code = prepare_main(["--dataset", str(fixture.npz), "--uv", str(fixture.uv), "--out", str(tmp_path / "p"),
                         "--images", str(fixture.images), "--size", str(CROP_SIZE), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0 and json.loads(printed[printed.index("{"):])["written"] == 4
    code = prepare_main(["--dataset", str(tmp_path / "none.npz"), "--uv", str(fixture.uv), "--out", str(tmp_path / "q")])
    assert code == 2 and "none.npz" in capsys.readouterr().err
    code = prepare_main(["--dataset", str(fixture.npz), "--uv", str(fixture.uv), "--out", str(tmp_path / "r"),
                         "--joint-order", "h36m"])
    assert code == 2 and "valid choices" in capsys.readouterr().err


class Numbers(torch.utils.data.Dataset):
    def __init__(self, name, n):
        self.name, self.n = name, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"value": torch.tensor(i), "name": self.name}


def test_mixture_proportions_and_epochs():
    first, second = Numbers("a", 50), Numbers("b", 7)
    mixture = MixtureDataset([first, second], [0.7, 0.3], length=100, seed=0)
    owners = [mixture[i]["dataset_index"] for i in range(100)]
    assert owners.count(0) == 70 and owners.count(1) == 30
    values_b = [mixture[i]["value"].item() for i in range(100) if owners[i] == 1]
    assert set(values_b) == set(range(7))  # the small dataset wraps around
    values_a = [mixture[i]["value"].item() for i in range(100) if owners[i] == 0]
    assert len(set(values_a)) == 50
    order = [mixture[i]["value"].item() for i in range(100)]
    mixture.set_epoch(1)
    assert [mixture[i]["value"].item() for i in range(100)] != order
    mixture.set_epoch(0)
    assert [mixture[i]["value"].item() for i in range(100)] == order
    assert MixtureDataset([first, second], [0.7, 0.3]).length == 72  # 50 / 0.7 rounded up
    batch = next(iter(torch.utils.data.DataLoader(mixture, batch_size=10)))
    assert batch["value"].shape == (10,)
    assert mixture_counts([1, 1, 1], 10).tolist() in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    with pytest.raises(ValueError, match="2 proportions"):
        MixtureDataset([first, second], [1.0])
    with pytest.raises(KeyError, match="image"):
        MixtureDataset([first], [1.0], keys=["image"])[0]


def test_mixture_sampler_draws_the_proportions():
    first, second = Numbers("a", 50), Numbers("b", 7)
    sampler = mixture_sampler([first, second], [0.7, 0.3], 4000, generator=torch.Generator().manual_seed(0))
    drawn = np.array(list(sampler))
    assert abs((drawn < 50).mean() - 0.7) < 0.03
