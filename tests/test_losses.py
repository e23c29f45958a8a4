from types import SimpleNamespace

import numpy as np
import pytest
import torch

from decomr.losses import (
    ConsistencyLoss, DecoMRLoss, IUVLoss, Joints2DLoss, Joints3DLoss, LocationMapLoss, LossTargets, LossTerms,
    LossWeights, TVLoss, consistency_loss, iuv_loss, joints2d_loss, joints3d_loss, location_map_loss, mask_loss,
    normalised_weight_map, project_weak_perspective, tv_loss, uv_loss,
)
from decomr.models import CNetOutput
from decomr.uv import UVLookup, pixel_coordinates
from uvkit.template import template_hash
from uvkit.uvmap import build_uvmap

B, H, R, J = 2, 12, 16, 5


def make_iuv(generator, batch=B, size=H, fraction=0.5):
    """(B, 3, H, W) float64: a random 0/1 mask and random U, V."""
    mask = (torch.rand(batch, 1, size, size, generator=generator, dtype=torch.float64) < fraction).double()
    uv = torch.rand(batch, 2, size, size, generator=generator, dtype=torch.float64)
    return torch.cat([mask, uv], dim=1)


def make_weight_map(generator, size=R):
    """(R, R) float64 weights in {0, 1, 2, 5, 25}: the left quarter invalid."""
    choices = torch.tensor([1.0, 2.0, 5.0, 25.0], dtype=torch.float64)
    weights = choices[torch.randint(0, 4, (size, size), generator=generator)]
    weights[:, : size // 4] = 0.0
    return weights


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


# ------------------------------------------------------------------ zero at the ground truth
def test_losses_vanish_at_the_ground_truth(gen):
    gt_iuv = make_iuv(gen)
    assert iuv_loss(gt_iuv.clone(), gt_iuv) == 0.0
    logits = (2.0 * gt_iuv[:, :1] - 1.0) * 40.0
    assert mask_loss(gt_iuv, gt_iuv, mask_logits=logits) < 1e-15
    gt_map = torch.randn(B, 3, R, R, generator=gen, dtype=torch.float64)
    assert location_map_loss(gt_map.clone(), gt_map, make_weight_map(gen)) == 0.0
    joints = torch.randn(B, J, 3, generator=gen, dtype=torch.float64)
    # root-relative: a translation of the prediction costs nothing
    assert joints3d_loss(joints + torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64), joints) < 1e-15
    gt2d = torch.cat([torch.rand(B, J, 2, generator=gen, dtype=torch.float64), torch.ones(B, J, 1, dtype=torch.float64)], -1)
    assert joints2d_loss(gt2d[..., :2].clone(), gt2d) == 0.0
    assert tv_loss(torch.ones(B, 3, R, R) * torch.tensor([1.0, 2.0, 3.0])[:, None, None]) == 0.0


def consistent_scene(gen, size=H):
    """A linear location map, a camera and a GT IUV that agree: every foreground pixel's
    location-map point projects onto the pixel itself."""
    a, b, depth = 0.8, 0.7, 0.3
    grid = torch.linspace(0.0, 1.0, R, dtype=torch.float64)
    location_map = torch.stack([
        (a * (2.0 * grid - 1.0))[None, :].expand(R, R),
        (b * (2.0 * grid - 1.0))[:, None].expand(R, R),
        torch.full((R, R), depth, dtype=torch.float64),
    ])[None].repeat(B, 1, 1, 1)
    camera = torch.tensor([[1.1, 0.05, -0.02], [0.9, -0.1, 0.03]], dtype=torch.float64)
    xy = pixel_coordinates(size, size, dtype=torch.float64)  # (2, H, W)
    s, t = camera[:, 0, None, None], camera[:, 1:, None, None]
    u = ((xy[0] / s - t[:, 0]) / a + 1.0) / 2.0
    v = ((xy[1] / s - t[:, 1]) / b + 1.0) / 2.0
    mask = (torch.rand(B, size, size, generator=gen) < 0.6).double() * (u > 0) * (u < 1) * (v > 0) * (v < 1)
    return location_map, camera, torch.stack([mask, u, v], dim=1)


def test_consistency_vanishes_when_the_map_explains_every_pixel(gen):
    location_map, camera, gt_iuv = consistent_scene(gen)
    assert gt_iuv[:, 0].sum() > 20
    assert consistency_loss(location_map, camera, gt_iuv) < 1e-20
    shifted = camera + torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64)
    # a shift of tx by 0.1 moves every projection by s * 0.1 along x
    expected = (camera[:, 0] * 0.1).square().mean()
    torch.testing.assert_close(consistency_loss(location_map, shifted, gt_iuv), expected, rtol=1e-9, atol=0)


def test_project_weak_perspective_formula(gen):
    points = torch.randn(B, J, 3, generator=gen)
    camera = torch.tensor([[0.9, 0.1, -0.2], [1.2, 0.0, 0.3]])
    expected = camera[:, None, :1] * (points[..., :2] + camera[:, None, 1:])
    torch.testing.assert_close(project_weak_perspective(points, camera), expected)


# ------------------------------------------------------------------ values
def test_uv_loss_is_normalised_per_image_by_foreground(gen):
    gt = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    gt[0, 0, :1] = 1.0  # 4 foreground pixels
    gt[1, 0] = 1.0  # 16 foreground pixels
    pred = gt.clone()
    pred[:, 1:] += 0.25  # every pixel off by 0.25 in U and V
    torch.testing.assert_close(uv_loss(pred, gt), torch.tensor(0.25, dtype=torch.float64))
    mask_only = gt.clone()
    mask_only[:, 0] = 0.5
    torch.testing.assert_close(mask_loss(mask_only, gt), torch.tensor(np.log(2.0), dtype=torch.float64))


def test_location_map_weights_are_renormalised(gen):
    weights = make_weight_map(gen)
    normalised = normalised_weight_map(weights)
    valid = weights > 0
    torch.testing.assert_close(normalised[valid].mean(), torch.tensor(1.0, dtype=torch.float64))
    assert (normalised[~valid] == 0).all()
    pred, gt = torch.randn(2, B, 3, R, R, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(location_map_loss(pred, gt, weights), location_map_loss(pred, gt, 7.0 * weights))
    # invalid texels cost nothing; with uniform weights it is the mean L1 over valid texels
    pred2 = pred.clone()
    pred2[..., ~valid] += 100.0
    torch.testing.assert_close(location_map_loss(pred2, gt, weights), location_map_loss(pred, gt, weights))
    uniform = valid.double()
    expected = (pred - gt).abs()[..., valid].mean()
    torch.testing.assert_close(location_map_loss(pred, gt, uniform), expected)
    with pytest.raises(ValueError, match="no valid texel"):
        location_map_loss(pred, gt, torch.zeros(R, R, dtype=torch.float64))


def test_joint_losses_values(gen):
    pred = torch.zeros(1, 3, 3, dtype=torch.float64)
    gt = torch.zeros(1, 3, 4, dtype=torch.float64)
    gt[0, 0, :3] = torch.tensor([0.3, 0.0, 0.0])
    gt[0, :, 3] = torch.tensor([1.0, 1.0, 1.0])
    # roots 1 and 2 at the origin: only joint 0 is off, by 0.3 in x -> 0.3 / 9
    torch.testing.assert_close(joints3d_loss(pred, gt, root_indices=(1, 2)), torch.tensor(0.3 / 9, dtype=torch.float64))
    gt[0, 0, 3] = 0.0  # confidence 0 -> nothing
    assert joints3d_loss(pred, gt, root_indices=(1, 2)) == 0.0
    gt2d = torch.tensor([[[0.5, 0.0, 1.0], [9.0, 9.0, 0.0]]], dtype=torch.float64)
    torch.testing.assert_close(joints2d_loss(torch.zeros(1, 2, 2, dtype=torch.float64), gt2d),
                               torch.tensor(0.25 / 4, dtype=torch.float64))


def test_tv_loss_counts_valid_pairs_only():
    location_map = torch.zeros(1, 3, 4, 4)
    location_map[..., 3] = 1.0  # a step between columns 2 and 3
    valid = torch.ones(4, 4, dtype=torch.bool)
    torch.testing.assert_close(tv_loss(location_map, valid), torch.tensor(4.0 * 3 / (12 * 3)))
    valid[:, 3] = False
    assert tv_loss(location_map, valid) == 0.0


# ------------------------------------------------------------------ gradients
def test_gradients_in_float64(gen):
    gt_iuv = make_iuv(gen, size=6)
    weights = make_weight_map(gen, 8)
    pred_iuv = torch.rand(B, 3, 6, 6, generator=gen, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    logits = torch.randn(B, 1, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, l: iuv_loss(p, gt_iuv, mask_logits=l), (pred_iuv, logits))
    assert torch.autograd.gradcheck(lambda p: mask_loss(p, gt_iuv), (pred_iuv,))
    pred_map, gt_map = torch.randn(2, B, 3, 8, 8, generator=gen, dtype=torch.float64)
    pred_map.requires_grad_()
    assert torch.autograd.gradcheck(lambda m: location_map_loss(m, gt_map, weights), (pred_map,))
    assert torch.autograd.gradcheck(lambda m: tv_loss(m, weights > 0), (pred_map,))
    joints, gt3 = torch.randn(2, B, J, 3, generator=gen, dtype=torch.float64)
    joints.requires_grad_()
    assert torch.autograd.gradcheck(lambda j: joints3d_loss(j, gt3), (joints,))
    camera = torch.tensor([[1.0, 0.1, 0.0], [0.8, 0.0, -0.1]], dtype=torch.float64, requires_grad=True)
    gt2d = torch.cat([torch.randn(B, J, 2, generator=gen, dtype=torch.float64),
                      torch.rand(B, J, 1, generator=gen, dtype=torch.float64)], -1)
    assert torch.autograd.gradcheck(lambda j, c: joints2d_loss(project_weak_perspective(j, c), gt2d), (joints, camera))
    assert torch.autograd.gradcheck(lambda m, c: consistency_loss(m, c, gt_iuv), (pred_map, camera))


# ------------------------------------------------------------------ masking of unlabelled samples
def test_unlabelled_samples_contribute_nothing(gen):
    has = torch.tensor([True, False])
    nan = float("nan")
    gt_iuv = make_iuv(gen)
    gt_iuv[1] = nan
    pred_iuv = torch.rand(B, 3, H, H, generator=gen, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    gt_map = torch.randn(B, 3, R, R, generator=gen, dtype=torch.float64)
    gt_map[1] = nan
    pred_map = torch.randn(B, 3, R, R, generator=gen, dtype=torch.float64, requires_grad=True)
    gt3 = torch.randn(B, J, 4, generator=gen, dtype=torch.float64)
    gt3[1] = nan
    joints = torch.randn(B, J, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    camera = torch.tensor([[1.0, 0.1, 0.0], [0.8, 0.0, -0.1]], dtype=torch.float64, requires_grad=True)
    weights = make_weight_map(gen)
    cases = [
        (lambda: iuv_loss(pred_iuv, gt_iuv, has), lambda: iuv_loss(pred_iuv[:1], gt_iuv[:1]), pred_iuv),
        (lambda: location_map_loss(pred_map, gt_map, weights, has),
         lambda: location_map_loss(pred_map[:1], gt_map[:1], weights), pred_map),
        (lambda: joints3d_loss(joints, gt3, has), lambda: joints3d_loss(joints[:1], gt3[:1]), joints),
        (lambda: consistency_loss(pred_map, camera, gt_iuv, has),
         lambda: consistency_loss(pred_map[:1], camera[:1], gt_iuv[:1]), pred_map),
    ]
    for masked, alone, leaf in cases:
        value = masked()
        torch.testing.assert_close(value, alone())
        (grad,) = torch.autograd.grad(value, leaf)
        assert torch.isfinite(grad).all() and (grad[1] == 0).all()
    none = torch.tensor([0.0, 0.0])
    for value in (iuv_loss(pred_iuv, gt_iuv, none), location_map_loss(pred_map, gt_map, weights, none),
                  joints3d_loss(joints, gt3, none), consistency_loss(pred_map, camera, gt_iuv, none)):
        assert value == 0.0 and not torch.isnan(value)
        assert value.requires_grad
    # 2D joints: visibility 0 masks a joint, NaN coordinates included
    gt2d = torch.randn(B, J, 3, generator=gen, dtype=torch.float64)
    gt2d[..., 2] = 1.0
    gt2d[1, :, :2] = nan
    gt2d[1, :, 2] = 0.0
    pred2d = torch.randn(B, J, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    value = joints2d_loss(pred2d, gt2d)
    torch.testing.assert_close(value, joints2d_loss(pred2d[:1], gt2d[:1]) / 2)
    (grad,) = torch.autograd.grad(value, pred2d)
    assert torch.isfinite(grad).all() and (grad[1] == 0).all()


def test_images_without_foreground_are_skipped(gen):
    gt_iuv = make_iuv(gen)
    gt_iuv[1, 0] = 0.0
    pred = torch.rand(B, 3, H, H, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(uv_loss(pred, gt_iuv), uv_loss(pred[:1], gt_iuv[:1]))
    gt_iuv[0, 0] = 0.0
    assert uv_loss(pred, gt_iuv) == 0.0


# ------------------------------------------------------------------ function == module
def test_modules_agree_with_functions(gen):
    has = torch.tensor([1.0, 0.0])
    gt_iuv, pred_iuv = make_iuv(gen), torch.rand(B, 3, H, H, generator=gen, dtype=torch.float64)
    logits = torch.randn(B, 1, H, H, generator=gen, dtype=torch.float64)
    weights = make_weight_map(gen)
    pred_map, gt_map = torch.randn(2, B, 3, R, R, generator=gen, dtype=torch.float64)
    joints, gt3 = torch.randn(2, B, J, 3, generator=gen, dtype=torch.float64)
    gt2d = torch.rand(B, J, 3, generator=gen, dtype=torch.float64)
    camera = torch.tensor([[1.0, 0.1, 0.0], [0.8, 0.0, -0.1]], dtype=torch.float64)
    pairs = [
        (IUVLoss(0.3, 2.0)(pred_iuv, gt_iuv, has, logits), iuv_loss(pred_iuv, gt_iuv, has, logits, 0.3, 2.0)),
        (LocationMapLoss(weights)(pred_map, gt_map, has), location_map_loss(pred_map, gt_map, weights, has)),
        (Joints3DLoss((0,))(joints, gt3, has), joints3d_loss(joints, gt3, has, (0,))),
        (Joints2DLoss()(joints[..., :2], gt2d), joints2d_loss(joints[..., :2], gt2d)),
        (ConsistencyLoss()(pred_map, camera, gt_iuv, has), consistency_loss(pred_map, camera, gt_iuv, has)),
        (TVLoss(weights > 0)(pred_map), tv_loss(pred_map, weights > 0)),
        (TVLoss()(pred_map), tv_loss(pred_map)),
    ]
    for module_value, function_value in pairs:
        torch.testing.assert_close(module_value, function_value, rtol=1e-12, atol=0)
    module = LocationMapLoss(weights.float())
    assert "weight_map" in dict(module.named_buffers())
    assert module.to(torch.float64).weight_map.dtype == torch.float64


# ------------------------------------------------------------------ bad input
def test_wrong_shapes_name_the_expected_shape(gen):
    iuv = make_iuv(gen)
    with pytest.raises(ValueError, match=r"gt_iuv: expected a float tensor of shape \(B, 3, H, W\) = \(2, 3, 12, 12\)"):
        iuv_loss(iuv, iuv[:, :, :6])
    with pytest.raises(ValueError, match=r"pred_iuv: expected a float tensor of shape \(B, 3, H, W\)"):
        iuv_loss(iuv[:, :2], iuv)
    with pytest.raises(ValueError, match=r"has_iuv: expected shape \(B,\) = \(2,\)"):
        iuv_loss(iuv, iuv, torch.ones(3))
    maps = torch.randn(B, 3, R, R)
    with pytest.raises(ValueError, match=r"weight_map: expected a float tensor of shape \(R, R\) = \(16, 16\)"):
        location_map_loss(maps, maps, torch.ones(8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, R, R\) = \(B, 3, 8, 8\) \(the weight map's\)"):
        LocationMapLoss(torch.ones(8, 8))(maps, maps)
    with pytest.raises(ValueError, match=r"gt_joints: expected a float tensor of shape \(B, J, 3\) or \(B, J, 4\)"):
        joints3d_loss(torch.zeros(B, J, 3), torch.zeros(B, J, 2))
    with pytest.raises(ValueError, match=r"gt_joints: expected a float tensor of shape \(B, J, 3\) = \(2, 5, 3\)"):
        joints2d_loss(torch.zeros(B, J, 2), torch.zeros(B, J, 2))
    with pytest.raises(ValueError, match=r"camera: expected a float tensor of shape \(B, 3\) = \(2, 3\)"):
        consistency_loss(maps, torch.zeros(B, 2), iuv.float())
    with pytest.raises(ValueError, match=r"points: expected a float tensor of shape \(B, N, 3\)"):
        project_weak_perspective(torch.zeros(B, J, 2), torch.zeros(B, 3))
    with pytest.raises(ValueError, match="root_indices"):
        joints3d_loss(torch.zeros(B, J, 3), torch.zeros(B, J, 3), root_indices=(J,))
    with pytest.raises(ValueError, match=r"valid: expected a bool tensor of shape \(R, R\) = \(16, 16\)"):
        tv_loss(maps, torch.ones(4, 4, dtype=torch.bool))


def test_half_precision_is_computed_in_float32(gen):
    iuv = make_iuv(gen).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = mask_loss(iuv.bfloat16().clamp(0.1, 0.9), iuv)
    assert value.dtype == torch.float32 and torch.isfinite(value)


# ------------------------------------------------------------------ the total
def sheet_lookup(n=5):
    u, v = np.meshgrid(np.linspace(0.05, 0.95, n), np.linspace(0.05, 0.95, n))
    vt = np.stack([u.ravel(), v.ravel()], axis=1)
    vertices = np.stack([vt[:, 0] - 0.5, vt[:, 1] - 0.5, 0.1 * np.cos(3.0 * vt[:, 1])], axis=1)
    faces = np.array([[r * n + c, r * n + c + 1, r * n + c + n] for r in range(n - 1) for c in range(n - 1)]
                     + [[r * n + c + 1, r * n + c + n + 1, r * n + c + n] for r in range(n - 1) for c in range(n - 1)])
    uvmap = build_uvmap(vt, faces, np.arange(len(vertices)), faces, len(vertices), resolutions=(R,),
                        meta={"template_sha256": template_hash(vertices, faces), "generator": "test"})
    return UVLookup(uvmap, template=SimpleNamespace(vertices=vertices, faces=faces), dtype=torch.float64)


def test_decomr_loss_combines_the_terms(gen):
    lookup = sheet_lookup()
    n_vertices = lookup.n_vertices
    regressor = torch.rand(J, n_vertices, generator=gen, dtype=torch.float64)
    regressor /= regressor.sum(dim=1, keepdim=True)
    criterion = DecoMRLoss.from_uv_lookup(lookup, regressor, root_indices=(0, 1))
    gt_vertices = torch.randn(B, n_vertices, 3, generator=gen, dtype=torch.float64) * 0.1
    gt_map = lookup.location_map(gt_vertices)
    camera = torch.tensor([[1.0, 0.1, 0.0], [0.8, 0.0, -0.1]], dtype=torch.float64)
    gt_iuv = make_iuv(gen)
    gt_joints = torch.einsum("jv,bvc->bjc", regressor, lookup.vertices(gt_map))
    targets = dict(iuv=gt_iuv, has_iuv=torch.ones(B), vertices=gt_vertices, has_smpl=torch.ones(B),
                   joints3d=gt_joints, has_3d=torch.ones(B),
                   joints2d=torch.cat([project_weak_perspective(gt_joints, camera), torch.ones(B, J, 1, dtype=torch.float64)], -1))
    location_map = gt_map.clone().requires_grad_()
    output = SimpleNamespace(iuv=gt_iuv.clone(), mask_logits=None, camera=camera, location_map=location_map,
                             vertices=lookup.vertices(location_map))
    terms = criterion(output, targets)
    assert isinstance(terms, LossTerms)
    for name in ("mask", "uv", "location_map", "joints3d", "joints2d"):
        assert abs(float(getattr(terms, name).detach())) < 1e-12, name
    assert terms.consistency > 0 and terms.tv > 0
    weights = LossWeights()
    torch.testing.assert_close(terms.total, terms.consistency + weights.tv * terms.tv)
    terms.total.backward()
    assert torch.isfinite(location_map.grad).all()
    assert set(terms.as_dict()) == {"mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv", "total"}
    # the location-map term equals the function with the lookup's weight map
    moved = SimpleNamespace(**{**vars(output), "location_map": gt_map + 0.01, "vertices": lookup.vertices(gt_map + 0.01)})
    torch.testing.assert_close(criterion(moved, targets).location_map,
                               location_map_loss(gt_map + 0.01, gt_map, lookup.weight_map(R)))
    # stage 1: a CNet output and the IUV terms only
    stage1 = DecoMRLoss(lookup.weight_map(R), weights=LossWeights.stage1())
    pred = make_iuv(gen).clamp(0.1, 0.9)
    cnet_output = CNetOutput(iuv=pred, mask_logits=torch.logit(pred[:, :1]), local_features=pred,
                             global_feature=torch.zeros(B, 256), camera=camera)
    terms = stage1(cnet_output, LossTargets(iuv=gt_iuv))
    torch.testing.assert_close(terms.total, iuv_loss(pred, gt_iuv))
    with pytest.raises(ValueError, match="unknown target keys.*valid keys: iuv, has_iuv"):
        stage1(cnet_output, {"iuvs": gt_iuv})


def test_decomr_loss_on_the_model_output(gen):
    from decomr.models import DecoMR

    lookup = sheet_lookup().float()
    torch.manual_seed(0)
    model = DecoMR(lookup, backbone="resnet18", transfer_resolution=16, lnet_channels=16)
    regressor = torch.full((J, lookup.n_vertices), 1.0 / lookup.n_vertices)
    criterion = DecoMRLoss.from_uv_lookup(lookup, regressor, root_indices=(0,))
    output = model(torch.randn(B, 3, 64, 64))
    gt_iuv = make_iuv(gen, size=16).float()
    targets = LossTargets(iuv=gt_iuv, location_map=torch.zeros(B, 3, R, R), has_smpl=torch.tensor([1, 0]),
                          joints3d=torch.zeros(B, J, 4), has_3d=torch.zeros(B), joints2d=torch.zeros(B, J, 3))
    terms = criterion(output, targets)
    terms.total.backward()
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.as_dict().values())
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
