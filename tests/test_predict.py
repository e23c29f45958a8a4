"""decomr.predict and decomr.view: decomr-predict on synthetic images with a tiny checkpoint made
here, the crop logic on a model stub whose mask is controlled, and bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from decomr import predict, view
from decomr.checkpoint import file_sha256, save_checkpoint
from decomr.config import config_to_dict, load_config
from decomr.predict import (CropBox, Predictor, PredictOptions, PredictError, camera_terms, crop_image, person_box,
                            run_prediction, texture_from_iuv, whole_image_box)
from uvkit.template import assets_dir, load_template

trimesh = pytest.importorskip("trimesh")

INPUT = 64  # the tiny model's input side


# ---------------------------------------------------------------------------- helpers
def make_checkpoint(folder: Path, template_sha256: str | None = None, mask_bias: float = 6.0) -> Path:
    """A ResNet-18 DecoMR on the open body (64 px input), untrained; its mask head's bias is set
    so that it sees a person everywhere (the automatic crop then takes the whole image)."""
    from decomr.models import DecoMR
    from decomr.uv import UVLookup

    folder.mkdir(parents=True, exist_ok=True)
    uv_path = folder / "uv.npz"
    shutil.copy(assets_dir() / "open_body_uv.npz", uv_path)
    config = load_config(None, ["model.backbone=resnet18", "model.template=open", f"model.uv_map={uv_path}",
                                "model.resolution=64", "model.transfer_resolution=16",
                                f"model.input_size={INPUT}", "model.lnet_channels=16"])
    template = load_template("open")
    lookup = UVLookup.load(uv_path, template=template, resolution=64)
    torch.manual_seed(0)
    model = DecoMR(lookup, backbone="resnet18", lnet_channels=16, transfer_resolution=16, location_resolution=64)
    with torch.no_grad():
        model.cnet.mask_head[-1].bias.fill_(mask_bias)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("uv_lookup.")}
    payload = {"model": state, "progress": {"stage": 2, "epoch": 0, "step": 0, "global_step": 0},
               "config": config_to_dict(config), "uv_sha256": file_sha256(uv_path), "uv_map": str(uv_path),
               "template_sha256": template_sha256 or template.sha256}
    return save_checkpoint(folder / "model.pt", payload)


def render_person(height: int, width: int, centre: tuple[float, float], body_px: float) -> np.ndarray:
    """(H, W, 3) uint8: the open body (rest pose, facing the camera), textured by a colour ramp
    in UV space, standing at pixel ``centre`` and ``body_px`` pixels tall, on grey."""
    from decomr.render import Renderer
    from decomr.render.cameras import smpl_to_camera_axes
    from uvkit.uvmap import load_uvmap

    template = load_template("open")
    uvmap = load_uvmap(assets_dir() / "open_body_uv.npz")
    points = smpl_to_camera_axes(torch.as_tensor(template.vertices, dtype=torch.float32))
    low, high = points.min(dim=0).values, points.max(dim=0).values
    scale = body_px / float(high[1] - low[1])
    pixels = (points[:, :2] - 0.5 * (low[:2] + high[:2])) * scale + torch.tensor(centre)
    screen = torch.cat([pixels * torch.tensor([2.0 / width, 2.0 / height]) - 1.0, points[:, 2:]], dim=1)[None]
    renderer = Renderer(template.faces, (height, width), vt=uvmap.vt, ft=uvmap.ft)
    ramp = torch.linspace(0.2, 1.0, 32)
    texture = torch.stack([ramp[None, :].expand(32, 32), ramp[:, None].expand(32, 32),
                           torch.full((32, 32), 0.5)])[None]
    rgb = renderer.rgb(renderer.rasterize(screen), texture, background=0.3)[0]
    return (rgb.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class MaskStub(torch.nn.Module):
    """A model whose mask is the brightness of its (un-normalised) input: bright = person.
    Vertices: a tetrahedron; camera (1, 0, 0)."""

    mean = torch.tensor(predict.IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(predict.IMAGENET_STD).reshape(1, 3, 1, 1)
    vertices = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])

    def forward(self, images):
        rgb = images * self.std + self.mean
        mask = torch.nn.functional.avg_pool2d(rgb.mean(dim=1, keepdim=True), 4)
        iuv = torch.cat([mask, torch.full_like(mask, 0.25), torch.full_like(mask, 0.75)], dim=1)
        batch = len(images)
        return SimpleNamespace(iuv=iuv, camera=torch.tensor([[1.0, 0.0, 0.0]]).expand(batch, 3),
                               vertices=self.vertices.expand(batch, 4, 3))


TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def off_centre_image() -> np.ndarray:
    """120 x 200 black image with a white 40 x 80 'person' in the upper right."""
    image = np.zeros((120, 200, 3), dtype=np.uint8)
    image[20:100, 140:180] = 255
    return image


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(render_person(96, 128, (40.0, 50.0), 80.0)).save(folder / "left.png")
    Image.fromarray(render_person(100, 100, (50.0, 50.0), 90.0)).save(folder / "square.jpg", quality=95)
    return folder


# ---------------------------------------------------------------------------- the CLI end to end
def test_predict_cli_writes_every_output_and_survives_corrupt_images(checkpoint, images, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    shutil.copytree(images, inputs)
    (inputs / "broken.png").write_bytes(b"this is not a png")
    (inputs / "truncated.jpg").write_bytes((images / "square.jpg").read_bytes()[:200])
    out = tmp_path / "out"
    status = predict.main(["--checkpoint", str(checkpoint), str(inputs), "--out", str(out), "--texture",
                           "--views", "--view-backend", "renderer", "--batch-size", "4", "--quiet"])
    err = capsys.readouterr().err
    assert status == 1  # two inputs failed
    assert "broken.png" in err and "truncated.jpg" in err
    faces = len(load_template("open").faces)
    for name, (height, width) in {"left": (96, 128), "square": (100, 100)}.items():
        mesh = trimesh.load(out / f"{name}.obj", process=False, force="mesh")
        assert len(mesh.faces) == faces and len(mesh.vertices) == 13348
        overlay = Image.open(out / f"{name}_overlay.png")
        assert overlay.size == (width, height)
        assert Image.open(out / f"{name}_iuv.png").size == (INPUT, INPUT)
        textured = trimesh.load(out / f"{name}_textured.obj", process=False, force="mesh")
        assert len(textured.faces) == faces
        assert (out / f"{name}_textured.mtl").is_file() and (out / f"{name}_textured_texture.png").is_file()
        assert (out / f"{name}_front.png").is_file() and (out / f"{name}_side.png").is_file()
        record = json.loads((out / f"{name}.json").read_text())
        assert record["image_size"] == {"height": height, "width": width}
        assert record["crop"]["source"] == "auto"
        assert len(record["joints3d"]) == 24 and len(record["joints2d_px"]) == 24
        assert set(record["camera"]) == {"crop", "original", "perspective"}
        # the overlay is the image where the mesh is not: it was drawn at the original size
        original = np.asarray(Image.open(inputs / (name + (".png" if name == "left" else ".jpg"))).convert("RGB"))
        assert np.asarray(overlay).shape == original.shape
    summary = json.loads((out / "predictions.json").read_text())
    statuses = {Path(r["image"]).name: r["status"] for r in summary["results"]}
    assert statuses == {"broken.png": "error", "left.png": "ok", "square.jpg": "ok", "truncated.jpg": "error"}
    assert not list(out.glob(".*"))  # every file written atomically, no temporary left


@pytest.mark.parametrize("mesh_format", ["ply", "glb"])
def test_mesh_formats_reload_with_template_faces(checkpoint, images, tmp_path, mesh_format):
    out = tmp_path / "out"
    status = predict.main(["--checkpoint", str(checkpoint), str(images / "left.png"), "--out", str(out),
                           "--mesh-format", mesh_format, "--bbox", "20,10,40,80", "--quiet"])
    assert status == 0
    mesh = trimesh.load(out / f"left.{mesh_format}", process=False, force="mesh")
    assert len(mesh.faces) == len(load_template("open").faces)
    record = json.loads((out / "left.json").read_text())
    assert record["crop"]["source"] == "bbox"
    assert record["crop"]["side"] == 100 and record["crop"]["x0"] == -10 and record["crop"]["y0"] == 0


# ---------------------------------------------------------------------------- crops and cameras
def test_automatic_crop_finds_an_off_centre_person():
    image = off_centre_image()
    predictor = Predictor(MaskStub(), TETRA_FACES, input_size=128, options=PredictOptions(pad=1.25))
    (box,) = predictor.find_boxes([image])
    cell = 200 / 32  # one IUV pixel of the first pass, in image pixels
    assert abs(box.x0 + box.side / 2 - 160) <= cell and abs(box.y0 + box.side / 2 - 60) <= cell
    assert abs(box.side - 1.25 * 80) <= 2 * cell
    (prediction,) = predictor.predict([image])
    assert prediction.box == box and prediction.box_source == "auto"
    crop = prediction.crop.numpy()
    assert crop[:, 64, 64].min() > 0.99  # the person sits in the middle of the second crop
    assert crop[:, 64, 10].max() < 0.01 and crop[:, 64, 118].max() < 0.01


def test_image_without_person_is_reported(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((50, 70, 3), dtype=np.uint8)).save(folder / "empty.png")
    Image.fromarray(off_centre_image()).save(folder / "person.png")
    predictor = Predictor(MaskStub(), TETRA_FACES, input_size=64, options=PredictOptions(mesh_format="ply"))
    summary = run_prediction(predictor, [str(folder), str(tmp_path / "nothing-*.png")], tmp_path / "out")
    statuses = {Path(r.source).name: r.status for r in summary.results}
    assert statuses == {"nothing-*.png": "error", "empty.png": "no-person", "person.png": "ok"}
    assert not summary.all_ok
    assert (tmp_path / "out" / "person.ply").is_file() and not (tmp_path / "out" / "empty.ply").exists()


def test_person_box_ignores_padding_and_specks():
    box = whole_image_box(40, 80)  # 80 x 80 square, 20 px of padding above and below
    assert box == CropBox(0, -20, 80)
    mask = np.zeros((20, 20))
    mask[:5, :] = 1.0  # padding rows above the image: ignored
    mask[8:12, 2:6] = 1.0  # the person: rows 12..28, columns 8..24 in image pixels
    mask[18, 18] = 1.0  # a speck in padding; and one inside the image
    mask[14, 18] = 1.0
    found = person_box(mask, box, (40, 80), pad=1.0)
    assert found == CropBox(8, 12, 16)
    assert person_box(np.zeros((20, 20)), box, (40, 80)) is None
    assert person_box(mask * 0.4, box, (40, 80), threshold=0.5) is None


def test_camera_terms_map_crop_to_original_pixels():
    box = CropBox(-30, 40, 200)
    camera = np.array([0.8, 0.1, -0.2])
    terms = camera_terms(camera, box, (300, 400), focal_length=5000.0)
    points = np.array([[0.3, -0.5, 0.0], [-0.2, 0.4, 0.0]])
    crop_xy = camera[0] * (points[:, :2] + camera[1:])
    expected = np.array([box.x0, box.y0]) + (crop_xy + 1.0) * box.side / 2.0
    np.testing.assert_allclose(terms.project_pixels(points), expected, atol=1e-9)
    # the pinhole camera agrees at the body's depth (Z = 0)
    t = terms.perspective_translation
    pinhole = terms.focal_length_px * (points[:, :2] + t[:2]) / t[2] + np.array([200.0, 150.0])
    np.testing.assert_allclose(pinhole, expected, atol=1e-6)
    record = terms.to_dict()
    assert record["original"]["scale_px"] == pytest.approx(80.0)


def test_crop_is_black_outside_the_image():
    image = np.full((10, 20, 3), 200, dtype=np.uint8)
    crop = crop_image(image, whole_image_box(10, 20), 20)
    assert crop.shape == (3, 20, 20)
    assert float(crop[:, 0].max()) == 0.0 and float(crop[:, 10].min()) == pytest.approx(200 / 255)


def test_texture_takes_pixel_colours_at_their_uv():
    crop = torch.zeros(3, 16, 16)
    crop[0] = 1.0  # red everywhere
    iuv = torch.zeros(3, 4, 4)
    iuv[0, 1:3, 1:3] = 1.0
    iuv[1, 1:3, 1:3] = 0.25
    iuv[2, 1:3, 1:3] = 0.75
    texture = texture_from_iuv(crop, iuv, resolution=9)
    assert texture.shape == (9, 9, 3)
    assert tuple(texture[6, 2]) == (255, 0, 0)  # v = 0.75 -> row 6, u = 0.25 -> column 2
    assert (texture[..., 0] == 255).all()  # the rest filled from the nearest seen texel
    empty = texture_from_iuv(crop, torch.zeros(3, 4, 4), resolution=4)
    assert (empty == 128).all()


# ---------------------------------------------------------------------------- 3D pictures
def test_views_fall_back_to_the_project_renderer(tmp_path, monkeypatch):
    monkeypatch.setattr(view, "_PYVISTA_STATE", {"ok": False, "note": "no display"})
    vertices = MaskStub.vertices.numpy()
    result = view.render_views(vertices, TETRA_FACES, tmp_path / "tet", size=32)
    assert result.backend == "renderer" and result.note == "no display"
    assert Image.open(result.paths["front"]).size == (32, 32) and result.paths["side"].is_file()
    with pytest.raises(RuntimeError, match="no display"):
        view.render_views(vertices, TETRA_FACES, tmp_path / "tet", backend="pyvista")
    with pytest.raises(ValueError, match="valid choices: auto, pyvista, renderer"):
        view.render_views(vertices, TETRA_FACES, tmp_path / "tet", backend="opengl")


def test_views_with_pyvista_when_it_renders(tmp_path):
    pytest.importorskip("pyvista")
    ok, note = view.pyvista_available()
    if not ok:
        pytest.skip(note)
    result = view.render_views(MaskStub.vertices.numpy(), TETRA_FACES, tmp_path / "tet", size=48, backend="pyvista")
    assert result.backend == "pyvista"
    picture = np.asarray(Image.open(result.paths["side"]))
    assert picture.shape[:2] == (48, 48) and picture.std() > 0  # something was drawn


# ---------------------------------------------------------------------------- bad input
def test_bad_input(checkpoint, images, tmp_path, capsys):
    run = lambda *extra: predict.main(["--checkpoint", str(checkpoint), str(images), "--out",  # noqa: E731
                                       str(tmp_path / "out"), "--quiet", *extra])
    assert predict.main(["--checkpoint", str(tmp_path / "missing.pt"), str(images), "--out", str(tmp_path)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert predict.main(["--checkpoint", str(checkpoint), str(images), "--out", str(blocker / "out")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert run("--device", "tpu") == 2
    assert "valid choices: auto, cpu, cuda" in capsys.readouterr().err
    assert run("--pad", "0.5") == 2
    assert "pad must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("--bbox", "1,2,3")
    with pytest.raises(PredictError, match="bbox width and height"):
        PredictOptions(bbox=(0, 0, 0, 10))
    with pytest.raises(PredictError, match="valid choices: obj, ply, glb"):
        PredictOptions(mesh_format="fbx")


def test_checkpoint_of_another_uv_map_or_template_is_refused(tmp_path, images, capsys):
    other_uv = make_checkpoint(tmp_path / "uv")
    shutil.copy(assets_dir() / "open_body_native_uv.npz", tmp_path / "uv" / "uv.npz")  # the map changed
    assert predict.main(["--checkpoint", str(other_uv), str(images), "--out", str(tmp_path / "o1")]) == 2
    assert "UV map" in capsys.readouterr().err
    native = str(assets_dir() / "open_body_native_uv.npz")
    assert predict.main(["--checkpoint", str(other_uv), str(images), "--out", str(tmp_path / "o1"),
                         "--uv-map", native]) == 2
    assert "another UV map" in capsys.readouterr().err
    other_template = make_checkpoint(tmp_path / "tpl", template_sha256="0" * 64)
    assert predict.main(["--checkpoint", str(other_template), str(images), "--out", str(tmp_path / "o2")]) == 2
    assert "another template" in capsys.readouterr().err


def test_overlay_of_the_true_mesh_covers_the_person():
    """A stub predicting the true mesh and crop camera: the overlay, drawn with the camera mapped
    back to the original image, must cover exactly the rendered person."""
    from decomr.render.cameras import smpl_to_camera_axes

    height, width, centre, body_px = 90, 140, (95.0, 48.0), 70.0
    image = render_person(height, width, centre, body_px)
    person = np.any(image != image[0, 0], axis=-1)  # the corner is background
    template = load_template("open")
    points = smpl_to_camera_axes(torch.as_tensor(template.vertices, dtype=torch.float64))
    low, high = points.min(dim=0).values, points.max(dim=0).values
    vertices = points - 0.5 * (low + high)
    scale = body_px / float(high[1] - low[1])
    options = PredictOptions(bbox=(70.0, 10.0, 50.0, 76.0), pad=1.2, overlay_alpha=1.0)
    box = predict.box_from_bbox(options.bbox, options.pad)
    half = box.side / 2.0
    camera = torch.tensor([[scale / half, (centre[0] - box.x0 - half) / scale, (centre[1] - box.y0 - half) / scale]])

    class TrueMesh(torch.nn.Module):
        def forward(self, images):
            iuv = torch.ones(len(images), 3, images.shape[-2] // 4, images.shape[-1] // 4)
            return SimpleNamespace(iuv=iuv, camera=camera.expand(len(images), 3),
                                   vertices=vertices[None].expand(len(images), -1, -1))

    predictor = Predictor(TrueMesh(), template.faces, input_size=64, options=options)
    (prediction,) = predictor.predict([image])
    overlay = predict.render_overlay(image, prediction.vertices, template.faces, prediction.camera, alpha=1.0)
    covered = np.any(overlay != image, axis=-1)
    iou = (covered & person).sum() / (covered | person).sum()
    assert iou > 0.97
