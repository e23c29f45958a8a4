"""decomr.export: the export-friendly path equals the eager model; ONNX parity; the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr import export
from decomr.evaluate import normalize_images
from decomr.export import ExportableDecoMR, transfer_to_uv_exportable


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from test_predict import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("ckpt"), mask_bias=0.0)


@pytest.fixture(scope="module")
def model(checkpoint):
    from decomr.predict import load_model_for_prediction

    return load_model_for_prediction(checkpoint)[0]


def test_exportable_transfer_equals_the_eager_one():
    lookup_transfer = pytest.importorskip("decomr.uv").UVLookup.transfer_to_uv
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 5, 12, 12, generator=generator)
    iuv = torch.rand(2, 3, 12, 12, generator=generator)
    iuv[:, 1:] = torch.round(iuv[:, 1:] * 7) / 7  # many pixels collide on one texel
    ours = transfer_to_uv_exportable(features, iuv, 8)
    theirs = lookup_transfer(None, features, iuv, 8)  # the method does not read the lookup's tables
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_exportable_model_equals_the_eager_model(model):
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    wrapper = ExportableDecoMR(model).eval()
    with torch.no_grad():
        iuv, camera, location_map, vertices = wrapper(image)
        eager = model(normalize_images(image))
    assert (eager.iuv[:, 0] > 0.5).any(), "the test needs some foreground to exercise the transfer"
    torch.testing.assert_close(iuv, eager.iuv, atol=1e-6, rtol=0)
    torch.testing.assert_close(camera, eager.camera, atol=1e-6, rtol=0)
    torch.testing.assert_close(location_map, eager.location_map, atol=1e-6, rtol=0)
    torch.testing.assert_close(vertices, eager.vertices, atol=1e-6, rtol=0)
    assert wrapper.copies >= 2  # the open body's map has seam vertices with several UV copies


def test_onnx_parity_with_pytorch(model, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    result = export.export_onnx(model, tmp_path / "model.onnx", input_size=64)
    assert result.max_abs_diff["vertices"] <= 1e-4
    # a batch of 3 (the batch axis is dynamic)
    image = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    iuv, camera, location_map, vertices = session.run(None, {"image": image.numpy()})
    with torch.no_grad():
        eager = model(normalize_images(image))
    assert vertices.shape == (3, 13348, 3) and iuv.shape == (3, 3, 16, 16)
    assert np.abs(vertices - eager.vertices.numpy()).max() <= 1e-4
    assert np.abs(camera - eager.camera.numpy()).max() <= 1e-4


def test_export_cli(checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "model.onnx"
    assert export.main(["--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    assert out.is_file() and "ONNX Runtime vs PyTorch" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*"))


def test_export_bad_input(checkpoint, tmp_path, capsys, model):
    assert export.main(["--checkpoint", str(tmp_path / "missing.pt"), "--onnx", str(tmp_path / "a.onnx"),
                        "--no-verify"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert export.main(["--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "a.txt"), "--no-verify"]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert export.main(["--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "no" / "a.onnx"),
                        "--no-verify"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(export.ExportError, match="opset must be >= 16"):
        export.export_onnx(model, tmp_path / "a.onnx", 64, opset=13)


def test_missing_packages_name_the_extra(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(export.ExportError, match=r"uvkit-decomr\[onnx\]"):
        export.export_onnx(model, tmp_path / "a.onnx", 64)
    assert export.main(["--checkpoint", "x.pt", "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert "onnx is not installed" in capsys.readouterr().err
