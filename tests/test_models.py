import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from decomr.models import VARIANTS, CNet, DecoMR, DecoMROutput, LNet, ResNet, load_backbone_weights
from decomr.models.cnet import INITIAL_CAMERA
from decomr.uv import UVLookup
from uvkit.template import template_hash
from uvkit.uvmap import build_uvmap

IMAGE = 64  # input size of the tests: IUV and local features at 16 px


def sheet(n: int = 6):
    """A bent square sheet whose UV map is its own (x, y) layout: (V, 3), (F, 3), (V, 2)."""
    u, v = np.meshgrid(np.linspace(0.05, 0.95, n), np.linspace(0.05, 0.95, n))
    vt = np.stack([u.ravel(), v.ravel()], axis=1)
    vertices = np.stack([vt[:, 0] - 0.5, vt[:, 1] - 0.5, 0.1 * np.sin(3.0 * vt[:, 0])], axis=1)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a = r * n + c
            faces += [[a, a + 1, a + n], [a + 1, a + n + 1, a + n]]
    return vertices, np.array(faces, dtype=np.int64), vt


@pytest.fixture(scope="module")
def lookup():
    vertices, faces, vt = sheet()
    uvmap = build_uvmap(vt, faces, np.arange(len(vertices)), faces, len(vertices), resolutions=(16, 32),
                        meta={"template_sha256": template_hash(vertices, faces), "generator": "test"})
    return UVLookup(uvmap, template=SimpleNamespace(vertices=vertices, faces=faces), resolution=32)


def small_model(lookup, variant="global+local", **kwargs):
    torch.manual_seed(0)
    return DecoMR(lookup, variant=variant, backbone="resnet18", transfer_resolution=32, **kwargs)


@pytest.fixture(scope="module")
def eval_models(lookup):
    """One ResNet-18 model per variant in eval mode, shared by the tests that only run forward."""
    cache = {}

    def get(variant="global+local"):
        if variant not in cache:
            cache[variant] = small_model(lookup, variant).eval()
        return cache[variant]

    return get


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shapes_and_dtypes(eval_models, lookup, variant):
    model = eval_models(variant)
    image = torch.randn(2, 3, IMAGE, IMAGE)
    with torch.no_grad():
        out = model(image)
    assert isinstance(out, DecoMROutput)
    h = IMAGE // 4
    assert out.iuv.shape == (2, 3, h, h) and out.mask_logits.shape == (2, 1, h, h)
    assert out.camera.shape == (2, 3) and out.global_feature.shape == (2, 256)
    assert out.local_features.shape == (2, 64, h, h)
    assert out.location_map.shape == (2, 3, 32, 32)
    assert out.vertices.shape == (2, lookup.n_vertices, 3)
    for tensor in (out.iuv, out.camera, out.global_feature, out.location_map, out.vertices):
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
    assert (out.iuv >= 0).all() and (out.iuv <= 1).all()
    torch.testing.assert_close(torch.sigmoid(out.mask_logits), out.iuv[:, :1])
    # the untrained camera starts near its documented initial value
    torch.testing.assert_close(out.camera, torch.tensor([INITIAL_CAMERA]).expand(2, 3), atol=0.05, rtol=0)
    expected = {"global": None, "local": 64 + 3, "global+local": 64 + 3, "raw-pixels": 3 + 3}[variant]
    if expected is None:
        assert out.uv_features is None
    else:
        assert out.uv_features.shape == (2, expected, 32, 32)
    torch.testing.assert_close(out.vertices, lookup.vertices(out.location_map))


def test_forward_backward_gives_finite_gradients(lookup):
    # speed is measured by tools/bench_models.py, not asserted here
    model = small_model(lookup).train()
    image = torch.randn(2, 3, IMAGE, IMAGE)
    out = model(image)
    loss = out.location_map.square().mean() + out.iuv.mean() + out.camera.square().sum() + out.global_feature.mean()
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


def test_location_map_gradient_reaches_cnet_through_the_transfer(lookup):
    model = small_model(lookup, "local").train()
    out = model(torch.randn(2, 3, IMAGE, IMAGE))
    out.location_map.sum().backward()
    decoder_grad = sum(p.grad.abs().sum() for p in model.cnet.decoder.parameters() if p.grad is not None)
    assert decoder_grad > 0
    # the camera and global heads are not used by the local variant's location map
    assert model.cnet.camera_head.weight.grad is None


def test_global_variant_ignores_the_local_features(eval_models, lookup):
    model = eval_models("global")
    image = torch.randn(2, 3, IMAGE, IMAGE)
    with torch.no_grad():
        a = model(image)
        b = model(image, iuv_for_transfer=torch.rand(2, 3, IMAGE // 4, IMAGE // 4))
    torch.testing.assert_close(a.location_map, b.location_map, rtol=0, atol=0)


def test_iuv_for_transfer_decides_where_features_land(eval_models, lookup):
    model = eval_models()
    image = torch.randn(2, 3, IMAGE, IMAGE)
    # a given IUV at the image resolution: one vertical half foreground, u = column, v = row
    iuv = torch.zeros(2, 3, IMAGE, IMAGE, requires_grad=True)
    with torch.no_grad():
        iuv[:, 0, :, : IMAGE // 2] = 1.0
        iuv[:, 1] = torch.linspace(0, 1, IMAGE)[None, :]
        iuv[:, 2] = torch.linspace(0, 1, IMAGE)[:, None]
    out = model(image, iuv_for_transfer=iuv)
    occupancy = out.uv_features[:, -1]
    # 16 x 8 foreground feature pixels, each on its own texel of the left half
    assert occupancy.sum(dim=(1, 2)).tolist() == [128.0, 128.0]
    assert occupancy[:, :, 16:].amax() == 0.0
    out.location_map.sum().backward()
    assert iuv.grad is None  # the texel index is never differentiated
    with torch.no_grad():
        predicted = model(image)
        manual = lookup.transfer_to_uv(predicted.local_features, predicted.iuv, 32)
    torch.testing.assert_close(predicted.uv_features, manual)


def test_raw_pixels_variant_transfers_the_image(eval_models, lookup):
    model = eval_models("raw-pixels")
    image = torch.ones(2, 3, IMAGE, IMAGE) * torch.tensor([0.5, -1.0, 2.0])[:, None, None]
    iuv = torch.ones(2, 3, IMAGE // 4, IMAGE // 4) * torch.tensor([1.0, 0.5, 0.5])[:, None, None]
    with torch.no_grad():
        out = model(image, iuv_for_transfer=iuv)
    colour = out.uv_features[:, :3, 16, 16]  # every pixel lands on the centre texel
    torch.testing.assert_close(colour, torch.tensor([[0.5, -1.0, 2.0]] * 2))


def test_unknown_options_list_the_choices(lookup):
    with pytest.raises(ValueError, match=r"valid choices: global, local, global\+local, raw-pixels"):
        DecoMR(lookup, variant="globallocal", backbone="resnet18")
    with pytest.raises(ValueError, match="valid choices: resnet18, resnet34, resnet50"):
        DecoMR(lookup, backbone="resnet101")
    with pytest.raises(ValueError, match="multiple of 8"):
        DecoMR(lookup, backbone="resnet18", transfer_resolution=36)


def test_bad_inputs_name_the_expected_shape(eval_models, lookup):
    model = eval_models()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) with H and W multiples of 32"):
        model(torch.randn(2, 3, 65, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(2, 1, 64, 64))
    with pytest.raises(ValueError, match=r"iuv_for_transfer must have shape \(B, 3, H, W\) with B = 2"):
        model(torch.randn(2, 3, 64, 64), iuv_for_transfer=torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, T, T\)"):
        LNet(10, 16, 32)(torch.randn(1, 10, 20, 20))


def test_resnet_matches_torchvision_layout():
    # parameter counts and state_dict sizes of torchvision's resnet18/50 (with their fc)
    for name, params, keys in (("resnet18", 11_689_512, 122), ("resnet50", 25_557_032, 320)):
        model = ResNet(name, num_classes=1000)
        assert sum(p.numel() for p in model.parameters()) == params
        assert len(model.state_dict()) == keys
    names = set(ResNet("resnet50").state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight",
                "layer4.2.conv3.weight", "layer4.2.bn3.num_batches_tracked"):
        assert key in names
    names = set(ResNet("resnet18", num_classes=1000).state_dict())
    assert {"layer2.0.downsample.0.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias"} <= names


def test_encoder_feature_sizes():
    features = ResNet("resnet18")(torch.randn(1, 3, 64, 64))
    assert features.stem.shape == (1, 64, 32, 32) and features.layer1.shape == (1, 64, 16, 16)
    assert features.layer4.shape == (1, 512, 2, 2) and features.pooled.shape == (1, 512)


def test_backbone_weights_load_by_name(lookup, tmp_path):
    torch.manual_seed(1)
    source = ResNet("resnet18", num_classes=1000)
    with torch.no_grad():
        source.bn1.running_mean.uniform_()
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(source.state_dict(), path)
    model = small_model(lookup, backbone_weights=path)
    loaded = model.cnet.encoder.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    # wrapped in {"state_dict": ...} with DataParallel's "module." prefix, and without BN counters
    wrapped = {"state_dict": {"module." + k: v for k, v in source.state_dict().items() if "num_batches" not in k}}
    torch.save(wrapped, tmp_path / "wrapped.pth")
    encoder = ResNet("resnet18")
    load_backbone_weights(encoder, tmp_path / "wrapped.pth")
    torch.testing.assert_close(encoder.conv1.weight, source.conv1.weight, rtol=0, atol=0)


def test_backbone_weights_errors(tmp_path):
    resnet34 = tmp_path / "resnet34.pth"
    torch.save(ResNet("resnet34").state_dict(), resnet34)
    with pytest.raises(ValueError, match=r"does not fit a resnet18 backbone: \d+ unexpected keys: layer1\.2\."):
        CNet("resnet18", backbone_weights=resnet34)
    state = ResNet("resnet18").state_dict()
    state["conv1.weight"] = torch.zeros(64, 4, 7, 7)
    del state["layer4.1.bn2.bias"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match=r"1 missing keys: layer4\.1\.bn2\.bias.*shape mismatches: conv1\.weight: "
                                         r"checkpoint \(64, 4, 7, 7\), model \(64, 3, 7, 7\)"):
        CNet("resnet18", backbone_weights=bad)
    not_state = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_state)
    with pytest.raises(ValueError, match="not a state_dict"):
        CNet("resnet18", backbone_weights=not_state)


class _Payload:
    def __reduce__(self):  # what an unsafe load would call
        return (print, ("code ran on load",))


def test_backbone_weights_are_read_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "hostile.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_backbone_weights(ResNet("resnet18"), path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    good = tmp_path / "good.pth"
    torch.save(ResNet("resnet18").state_dict(), good)
    load_backbone_weights(ResNet("resnet18"), good)
    assert calls == [True]


def test_tables_follow_the_model(lookup):
    model = small_model(lookup)
    buffers = dict(model.named_buffers())
    assert "reference_map" in buffers and "uv_lookup.weight_32" in buffers
    assert buffers["reference_map"].shape == (1, 3, 32, 32)
    torch.testing.assert_close(buffers["reference_map"], lookup.reference_location_map(32))
    assert model.to(torch.float64).reference_map.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_on_cuda(lookup):
    model = small_model(lookup).cuda()
    out = model(torch.randn(2, 3, IMAGE, IMAGE, device="cuda"))
    assert out.vertices.device.type == "cuda" and torch.isfinite(out.location_map).all()


def test_lnet_input_blocks_and_a_zero_global_init(lookup):
    """The blocks cover LNet's input channels in order; global_init='zero' starts LNet's first
    layer blind to the global feature (its output does not change when the global feature
    does), and the other weights are those of the default initialisation."""
    from decomr.models.cnet import GLOBAL_CHANNELS

    torch.manual_seed(0)
    default = DecoMR(lookup, variant="global+local", backbone="resnet18", transfer_resolution=16)
    torch.manual_seed(0)
    zero = DecoMR(lookup, variant="global+local", backbone="resnet18", transfer_resolution=16, global_init="zero")
    blocks = zero.lnet_input_blocks()
    assert list(blocks) == ["local features", "pixel x, y, occupancy", "global feature", "reference map"]
    assert blocks["global feature"].stop - blocks["global feature"].start == GLOBAL_CHANNELS
    assert blocks["reference map"].stop == zero.lnet.stem[0].in_channels
    weight, reference = zero.lnet.stem[0].weight, default.lnet.stem[0].weight
    assert torch.count_nonzero(weight[:, blocks["global feature"]]) == 0
    assert torch.count_nonzero(reference[:, blocks["global feature"]]) > 0
    torch.testing.assert_close(weight[:, blocks["local features"]], reference[:, blocks["local features"]])
    x = torch.randn(2, weight.shape[1], 16, 16)
    y = x.clone()
    y[:, blocks["global feature"]] += 5.0
    torch.testing.assert_close(zero.lnet.stem[0](x), zero.lnet.stem[0](y))
    local = DecoMR(lookup, variant="local", backbone="resnet18", transfer_resolution=16, global_init="zero")
    assert "global feature" not in local.lnet_input_blocks()
    with pytest.raises(ValueError, match="global_init"):
        DecoMR(lookup, variant="local", backbone="resnet18", transfer_resolution=16, global_init="small")
