from pathlib import Path
import io

import numpy as np
import pytest
import torch

from decomr.uv import UVLookup, pixel_coordinates
from uvkit.raster import location_map_from_vertices, vertices_from_location_map
from uvkit.uvmap import build_uvmap

from uvfixtures import cylinder, flat_grid

ROOT = Path(__file__).resolve().parents[1]

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.fixture(scope="module")
def tube():
    return cylinder()


@pytest.fixture(scope="module")
def lookup64(tube):
    template, uvmap = tube
    return UVLookup(uvmap, template=template, dtype=torch.float64)


def deformed(template, batch, seed=0):
    """(B, V, 3) float64 tensor: the template plus a smooth random deformation per sample."""
    generator = np.random.default_rng(seed)
    vertices = template.vertices[None] * generator.uniform(0.8, 1.2, size=(batch, 1, 3))
    return torch.as_tensor(vertices + 0.02 * generator.standard_normal((batch,) + template.vertices.shape))


def random_iuv(batch, height, width, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    mask = (torch.rand(batch, 1, height, width, generator=generator) > 0.3).to(dtype)
    uv = torch.rand(batch, 2, height, width, generator=generator, dtype=dtype)
    return torch.cat([mask, uv], dim=1)


# ---------------------------------------------------------------- agreement with uvkit's numpy reference
@pytest.mark.parametrize("resolution", [16, 32])
def test_location_map_equals_numpy_reference(tube, lookup64, resolution):
    template, uvmap = tube
    vertices = deformed(template, 3)
    ours = lookup64.location_map(vertices, resolution)
    assert ours.shape == (3, 3, resolution, resolution) and ours.dtype == torch.float64
    reference = location_map_from_vertices(vertices.numpy(), template.faces, uvmap.tables[resolution])
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), reference, rtol=0, atol=1e-12)
    assert torch.all(ours.permute(0, 2, 3, 1)[:, ~lookup64.mask(resolution)] == 0)


def test_vertices_equal_numpy_reference_and_average_seam_copies(tube, lookup64):
    template, uvmap = tube
    assert lookup64.vertex_counts.max() == 2  # the cut has two UV copies per seam vertex
    generator = torch.Generator().manual_seed(1)
    location_map = torch.randn(2, 3, 32, 32, generator=generator, dtype=torch.float64)
    ours = lookup64.vertices(location_map)
    assert ours.shape == (2, len(template.vertices), 3)
    reference = vertices_from_location_map(location_map.permute(0, 2, 3, 1).numpy(), uvmap.vt, uvmap.vt2v,
                                           len(template.vertices))
    np.testing.assert_allclose(ours.numpy(), reference, rtol=0, atol=1e-12)
    # each sample alone equals the batch
    np.testing.assert_allclose(lookup64.vertices(location_map[1:]).numpy(), reference[1:], rtol=0, atol=1e-12)


def test_round_trip_equals_numpy_reference(tube, lookup64):
    template, uvmap = tube
    vertices = deformed(template, 2, seed=3)
    back = lookup64.vertices(lookup64.location_map(vertices, 32))
    reference = vertices_from_location_map(
        location_map_from_vertices(vertices.numpy(), template.faces, uvmap.tables[32]),
        uvmap.vt, uvmap.vt2v, len(template.vertices))
    np.testing.assert_allclose(back.numpy(), reference, rtol=0, atol=1e-12)
    edge = np.linalg.norm(np.diff(template.vertices[:2], axis=0))
    assert (back - vertices).norm(dim=-1).max() < 0.5 * edge  # a kinked tube: close, not exact


def test_round_trip_of_an_affine_mesh_is_exact():
    template, uvmap = flat_grid()
    lookup = UVLookup(uvmap, template=template, dtype=torch.float64)
    vertices = torch.as_tensor(template.vertices)[None]
    for resolution in (16, 32):
        back = lookup.vertices(lookup.location_map(vertices, resolution))
        assert (back - vertices).abs().max() < 1e-12


def test_float32_lookup_agrees_with_float64(tube, lookup64):
    template, uvmap = tube
    lookup32 = UVLookup(uvmap, template=template)
    vertices = deformed(template, 2)
    location_map = lookup32.location_map(vertices.float())
    assert location_map.dtype == torch.float32 and lookup32.resolution == 32
    assert (location_map.double() - lookup64.location_map(vertices)).abs().max() < 1e-5
    back = lookup32.vertices(location_map)
    assert (back.double() - lookup64.vertices(lookup64.location_map(vertices))).abs().max() < 1e-5


def test_reference_location_map_is_the_template(tube, lookup64):
    template, uvmap = tube
    reference = lookup64.reference_location_map(16)
    assert reference.shape == (1, 3, 16, 16)
    expected = location_map_from_vertices(template.vertices, template.faces, uvmap.tables[16])
    np.testing.assert_allclose(reference[0].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="template"):
        UVLookup(uvmap).reference_location_map()


# ---------------------------------------------------------------- buffers, devices, state_dict
def test_every_table_is_a_buffer_and_the_state_dict_carries_it(tube):
    template, uvmap = tube
    lookup = UVLookup(uvmap, template=template)
    names = dict(lookup.named_buffers())
    for name in ("faces", "vt", "vt2v", "vertex_counts", "vt_mirror", "mirror", "template_vertices", "has_template"):
        assert name in names
    for resolution in (16, 32):
        for kind in ("face", "corners", "bary", "mask", "inside", "weight"):
            assert f"{kind}_{resolution}" in names
    # the read-out taps are derived from the map (not saved: older checkpoints load unchanged)
    assert set(lookup.state_dict()) == {name for name in names if not name.startswith("tap_")}
    assert not [key for key, value in vars(lookup).items() if isinstance(value, torch.Tensor)]

    buffer = io.BytesIO()
    torch.save(lookup.state_dict(), buffer)
    fresh = UVLookup(uvmap)  # no template: the reference map comes from the state_dict
    for name, value in fresh.named_buffers():
        if not name.startswith("tap_"):         # derived from the map at construction
            value.zero_()
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    vertices = deformed(template, 2).float()
    assert torch.equal(fresh.location_map(vertices), lookup.location_map(vertices))
    location_map = lookup.location_map(vertices)
    assert torch.equal(fresh.vertices(location_map), lookup.vertices(location_map))
    assert torch.equal(fresh.reference_location_map(), lookup.reference_location_map())
    assert torch.equal(fresh.weight_map(16), lookup.weight_map(16))


def test_to_dtype_moves_the_floating_tables(tube):
    template, uvmap = tube
    lookup = UVLookup(uvmap, template=template).to(torch.float64)
    assert lookup.bary_32.dtype == torch.float64 and lookup.vt.dtype == torch.float64
    assert lookup.face_32.dtype == torch.int64 and lookup.mask_32.dtype == torch.bool
    assert lookup.reference_location_map().dtype == torch.float64


def test_load_checks_the_template(tube, tmp_path):
    template, uvmap = tube
    path = tmp_path / "tube.npz"
    uvmap.save(path)
    lookup = UVLookup.load(path, template=template, resolution=16)
    assert lookup.resolution == 16 and lookup.resolutions == (16, 32) and lookup.has_template
    assert torch.equal(lookup.face_16, torch.as_tensor(uvmap.tables[16].face, dtype=torch.int64))
    assert UVLookup.load(path, resolutions=[32]).resolutions == (32,)
    by_hash = UVLookup.load(path, template=uvmap.template_sha256)
    assert not by_hash.has_template  # a hash checks the identity; it has no vertices

    other = type(template)(vertices=template.vertices * 1.01, faces=template.faces)
    with pytest.raises(ValueError, match="another template"):
        UVLookup.load(path, template=other)
    with pytest.raises(ValueError, match="another template"):
        UVLookup(uvmap, template=other)
    with pytest.raises(ValueError, match=r"holds lookup tables at \[16, 32\]"):
        UVLookup(uvmap, resolutions=[64])
    with pytest.raises(ValueError, match="resolution 64"):
        UVLookup(uvmap, resolution=64)


# ---------------------------------------------------------------- gradients
def test_gradcheck_location_map_and_vertices():
    template, uvmap = cylinder(n_around=4, n_rings=3, resolutions=(8,))
    lookup = UVLookup(uvmap, template=template, dtype=torch.float64)
    vertices = deformed(template, 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: lookup.location_map(v), (vertices,), eps=1e-6, atol=1e-8)
    location_map = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lookup.vertices, (location_map,), eps=1e-6, atol=1e-8)


def test_gradcheck_transfer_to_uv(lookup64):
    iuv = random_iuv(2, 5, 6)
    features = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: lookup64.transfer_to_uv(f, iuv, resolution=4), (features,),
                                    eps=1e-6, atol=1e-8)


# ---------------------------------------------------------------- transfer to UV
def test_transfer_lands_where_the_iuv_says(lookup64):
    height, width, resolution = 4, 5, 8
    iuv = torch.zeros(1, 3, height, width, dtype=torch.float64)
    features = torch.arange(2 * height * width, dtype=torch.float64).reshape(1, 2, height, width)
    # pixel (row, col) -> (u, v); texel = round(uv * 7)
    hits = {(0, 0): (0.0, 0.0), (1, 2): (1.0, 3 / 7), (2, 4): (0.49, 0.99), (3, 1): (0.47, 1.02)}
    for (row, col), (u, v) in hits.items():
        iuv[0, :, row, col] = torch.tensor([1.0, u, v])
    iuv[0, 1:, 0, 1] = torch.tensor([0.5, 0.5])  # background pixel (mask 0): ignored
    out = lookup64.transfer_to_uv(features, iuv, resolution=resolution)
    assert out.shape == (1, 2 + 3, resolution, resolution)
    xy = pixel_coordinates(height, width, dtype=torch.float64)
    occupied = {(0, 0): [(0, 0)], (3, 7): [(1, 2)], (7, 3): [(2, 4), (3, 1)]}  # (texel row, col): pixels
    for (texel_row, texel_col), pixels in occupied.items():
        expected = torch.stack([torch.cat([features[0, :, r, c], xy[:, r, c]]) for r, c in pixels]).mean(0)
        assert torch.allclose(out[0, :4, texel_row, texel_col], expected, rtol=0, atol=1e-12)
        assert out[0, 4, texel_row, texel_col] == 1
    assert out[0, 4].sum() == len(occupied)
    assert out[0, :, out[0, 4] == 0].abs().max() == 0
    # the pixel-centre convention of the renderer
    assert torch.allclose(xy[:, 2, 4], torch.tensor([9 / 5 - 1, 5 / 4 - 1], dtype=torch.float64))


def test_transfer_of_half_precision_features_accumulates_in_float32(lookup64):
    iuv = random_iuv(1, 16, 16, seed=2, dtype=torch.float32)
    iuv[:, 1:] = 0.5  # every foreground pixel on one texel: 180-odd summands
    features = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(0)).bfloat16()
    out = lookup64.transfer_to_uv(features, iuv, resolution=4)
    assert out.dtype == torch.bfloat16
    reference = lookup64.transfer_to_uv(features.float(), iuv, resolution=4)
    assert torch.equal(out, reference.bfloat16())


def test_transfer_resamples_a_larger_iuv_to_the_feature_size(lookup64):
    iuv = random_iuv(2, 6, 7, seed=4)
    features = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    larger = iuv.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # the same IUV at 12 x 14
    assert torch.equal(lookup64.transfer_to_uv(features, larger, 16), lookup64.transfer_to_uv(features, iuv, 16))


def test_flipping_the_image_mirrors_the_transfer(lookup64):
    iuv = random_iuv(2, 9, 11, seed=5)
    features = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    out = lookup64.transfer_to_uv(features, iuv, resolution=16)
    flipped = lookup64.transfer_to_uv(features.flip(-1), lookup64.flip_iuv(iuv), resolution=16)
    expected = out.flip(-1)
    expected[:, 3] = -expected[:, 3]  # the x channel
    assert torch.allclose(flipped, expected, rtol=0, atol=1e-12)
    assert torch.equal(lookup64.flip_iuv(lookup64.flip_iuv(iuv)), iuv)


def test_flip_location_map_is_the_mirrored_body(tube, lookup64):
    template, _ = tube
    vertices = deformed(template, 2, seed=7)
    mirrored = lookup64.location_map(lookup64.mirror_vertices(vertices))
    flipped = lookup64.flip_location_map(lookup64.location_map(vertices))
    inside = lookup64.inside()  # filled texels may break ties differently on the two sides
    assert torch.equal(lookup64.mask(), lookup64.mask().flip(-1))
    assert (mirrored - flipped)[:, :, inside].abs().max() < 1e-12


def test_flips_need_a_symmetric_map(tube):
    template, uvmap = tube
    plain = build_uvmap(uvmap.vt, uvmap.ft, uvmap.vt2v, template.faces, len(template.vertices),
                        resolutions=(8,), meta=dict(uvmap.meta))
    lookup = UVLookup(plain)
    assert not lookup.symmetric
    with pytest.raises(ValueError, match="symmetric"):
        lookup.flip_iuv(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="mirror"):
        lookup.mirror_vertices(torch.zeros(1, len(template.vertices), 3))


# ---------------------------------------------------------------- bad input
def test_bad_shapes_name_the_expected_shape(lookup64):
    with pytest.raises(ValueError, match=r"\(B, V, 3\) = \(B, 40, 3\)"):
        lookup64.location_map(torch.zeros(2, 39, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(B, V, 3\)"):
        lookup64.location_map(torch.zeros(40, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="resolution 64"):
        lookup64.location_map(torch.zeros(1, 40, 3, dtype=torch.float64), 64)
    with pytest.raises(ValueError, match=r"\(B, C, R, R\)"):
        lookup64.vertices(torch.zeros(3, 32, 32, dtype=torch.float64))
    with pytest.raises(ValueError, match="floating"):
        lookup64.vertices(torch.zeros(1, 3, 32, 32, dtype=torch.int64))
    features = torch.zeros(2, 4, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) with B = 2"):
        lookup64.transfer_to_uv(features, torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) with B = 2"):
        lookup64.transfer_to_uv(features, torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        lookup64.transfer_to_uv(torch.zeros(4, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"resolution must be >= 2"):
        lookup64.transfer_to_uv(features, torch.zeros(2, 3, 8, 8), resolution=1)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        lookup64.flip_iuv(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        lookup64.flip_location_map(torch.zeros(1, 4, 4))


# ---------------------------------------------------------------- CUDA
@cuda
def test_cuda_matches_cpu(tube, lookup64):
    template, _ = tube
    device_lookup = UVLookup(tube[1], template=template, dtype=torch.float64).to("cuda")
    assert device_lookup.bary_32.is_cuda and device_lookup.corners_32.is_cuda
    vertices = deformed(template, 2)
    location_map = device_lookup.location_map(vertices.cuda())
    assert torch.allclose(location_map.cpu(), lookup64.location_map(vertices), rtol=0, atol=1e-12)
    assert torch.allclose(device_lookup.vertices(location_map).cpu(),
                          lookup64.vertices(lookup64.location_map(vertices)), rtol=0, atol=1e-12)
    iuv = random_iuv(2, 9, 11)
    features = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    assert torch.allclose(device_lookup.transfer_to_uv(features.cuda(), iuv.cuda()).cpu(),
                          lookup64.transfer_to_uv(features, iuv), rtol=0, atol=1e-12)
    assert device_lookup.reference_location_map().is_cuda


def test_vertices_read_no_taps_from_across_a_cut():
    """At a resolution the map holds, the read-out at the UV vertices uses
    uvkit.raster.sample_weights (the open body's map has foreign taps at 64: a fingertip
    within a texel of the palm); at another size plain bilinear sampling (grid_sample)."""
    from uvkit.raster import bilinear_taps, foreign_taps, sample_weights, vertices_from_location_map
    from uvkit.uvmap import load_uvmap

    uvmap = load_uvmap(ROOT / "assets" / "open_body_uv.npz")
    lookup = UVLookup(uvmap, resolutions=(64,), resolution=64, dtype=torch.float64)
    table = uvmap.tables[64]
    foreign, _ = foreign_taps(uvmap.vt, uvmap.ft, table)
    assert foreign.sum() > 100
    rng = np.random.default_rng(0)
    location_map = rng.normal(size=(2, 64, 64, 3))
    torch_map = torch.as_tensor(location_map, dtype=torch.float64).permute(0, 3, 1, 2)
    ours = lookup.vertices(torch_map).numpy()
    weights = sample_weights(uvmap.vt, uvmap.ft, table)
    np.testing.assert_allclose(ours, vertices_from_location_map(location_map, uvmap.vt, uvmap.vt2v, uvmap.n_vertices,
                                                                weights=weights), atol=1e-10)
    plain = vertices_from_location_map(location_map, uvmap.vt, uvmap.vt2v, uvmap.n_vertices)
    assert np.abs(ours - plain).max() > 0.1
    # another size: grid_sample, plain bilinear
    other = rng.normal(size=(1, 48, 48, 3))
    got = lookup.vertices(torch.as_tensor(other).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(got, vertices_from_location_map(other, uvmap.vt, uvmap.vt2v, uvmap.n_vertices), atol=1e-10)
    _, _, bilinear = bilinear_taps(uvmap.vt, 64)
    assert np.abs(weights - bilinear).max() > 0.1


def test_a_map_with_mirror_pairs_but_not_symmetric_is_not_symmetric(tube):
    """A map built with --no-symmetry keeps vt_mirror but is not symmetric about it: neither
    uvkit nor the lookup treats it as symmetric (no flip augmentation, no flip_iuv)."""
    import dataclasses

    _, uvmap = tube
    assert uvmap.symmetric and UVLookup(uvmap).symmetric
    vt = uvmap.vt.copy()
    vt[0, 0] += 1e-3
    bent = dataclasses.replace(uvmap, vt=vt)
    assert (bent.vt_mirror >= 0).all() and not bent.symmetric
    lookup = UVLookup(bent)
    assert not lookup.symmetric
    with pytest.raises(ValueError, match="not symmetric"):
        lookup.flip_iuv(torch.zeros(1, 3, 8, 8))
