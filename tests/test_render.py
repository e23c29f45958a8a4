"""decomr.render: the rasterizer against an exact float64 ray caster, cameras, IUV, parts, RGB."""
import importlib

import numpy as np
import pytest
import torch
import trimesh

from decomr.render import (DirectionalLight, PerspectiveCamera, Renderer, WeakPerspectiveCamera,
                           face_parts_from_vertex_parts, pixel_centers, project, rasterize, render_iuv,
                           render_parts, render_rgb, smpl_to_camera_axes)
from decomr.render.reference import ray_cast, reference_fragments

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="CUDA not available"))]

# Pixels whose reference hit has a barycentric below this are "on a triangle edge".
EDGE_BARY = 1e-3
MIN_AGREEMENT = 0.995


# --------------------------------------------------------------------------------------------
# scenes and the exact reference
# --------------------------------------------------------------------------------------------
def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A rotated ellipsoid and a box partly in front of it: (V, 3) float64, (F, 3) int64, closed."""
    sphere = trimesh.creation.icosphere(subdivisions=2)
    v1 = np.asarray(sphere.vertices) * [0.8, 0.6, 0.5] @ _rotation(seed).T
    box = trimesh.creation.box(extents=[0.5, 0.35, 0.4])
    v2 = np.asarray(box.vertices) @ _rotation(seed + 1).T + [0.35, 0.25, -0.6]
    f1 = np.asarray(sphere.faces, dtype=np.int64)
    f2 = np.asarray(box.faces, dtype=np.int64) + len(v1)
    return np.vstack([v1, v2]), np.vstack([f1, f2])


def reference(vertices, faces, size, camera):
    """The exact reference as (H, W) face ids, (H, W) depth, (H, W, 3) barycentrics."""
    ref = reference_fragments(vertices, faces, size, camera)
    return ref.face_ids.reshape(size, size), ref.depth.reshape(size, size), ref.bary.reshape(size, size, 3)


def compare(fragments, face_ref, depth_ref, bary_ref):
    face = fragments.face_ids[0].cpu().numpy()
    mask_ref = face_ref >= 0
    mask_agree = np.mean((face >= 0) == mask_ref)
    assert mask_agree >= MIN_AGREEMENT, mask_agree
    interior = mask_ref & (bary_ref.min(-1) > EDGE_BARY)
    assert interior.sum() > 200  # the scene covers the image well enough to mean something
    agree = face[interior] == face_ref[interior]
    assert agree.mean() >= MIN_AGREEMENT, agree.mean()
    both = interior & (face == face_ref)
    depth = fragments.depth[0].cpu().double().numpy()
    bary = fragments.bary[0].cpu().double().numpy()
    np.testing.assert_allclose(depth[both], depth_ref[both], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(bary[both], bary_ref[both], atol=2e-4)
    assert np.all(face[~(face >= 0)] == -1)
    assert np.all(bary[face < 0] == 0) and np.all(depth[face < 0] == 0)


def test_reference_ray_cast_on_one_triangle():
    triangle = np.array([[[0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 1.0, 3.0]]])
    origins = np.array([[0.25, 0.25, 0.0], [0.9, 0.9, 0.0]])
    face, t, bary = ray_cast(origins, np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), triangle)
    assert face.tolist() == [0, -1] and np.isinf(t[1])
    np.testing.assert_allclose(bary[0], [0.5, 0.25, 0.25], atol=1e-12)
    np.testing.assert_allclose(t[0], 2.25, atol=1e-12)


# --------------------------------------------------------------------------------------------
# the rasterizer against the reference
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_weak_perspective_matches_ray_casting(device, seed):
    vertices, faces = scene(seed)
    size, params = 64, (0.9, 0.05, -0.1)
    camera = WeakPerspectiveCamera(torch.tensor([params], device=device))
    fragments = rasterize(torch.tensor(vertices[None], dtype=torch.float32, device=device),
                          torch.tensor(faces, device=device), size, camera)
    compare(fragments, *reference(vertices, faces, size, camera))


@pytest.mark.parametrize("device", DEVICES)
def test_perspective_matches_ray_casting(device):
    vertices, faces = scene(2)
    size, focal, centre = 64, 70.0, np.array([30.0, 35.0])
    rotation = _rotation(5)
    translation = np.array([0.1, -0.05, 2.5])
    camera = PerspectiveCamera(
        focal_length=torch.tensor([focal], device=device),
        principal_point=torch.tensor(centre[None], dtype=torch.float32, device=device),
        translation=torch.tensor(translation[None], dtype=torch.float32, device=device),
        rotation=torch.tensor(rotation[None], dtype=torch.float32, device=device),
        image_size=size,
    )
    fragments = rasterize(torch.tensor(vertices[None], dtype=torch.float32, device=device),
                          torch.tensor(faces, device=device), size, camera)
    compare(fragments, *reference(vertices, faces, size, camera))


def test_negative_depths_and_no_culling_on_open_surface():
    """Weak perspective with z < 0 everywhere; an open surface seen from behind needs cull off."""
    vertices, faces = scene(3)
    vertices = vertices - [0.0, 0.0, 5.0]
    size, params = 48, (1.0, 0.0, 0.0)
    camera = WeakPerspectiveCamera(torch.tensor([params]))
    fragments = rasterize(torch.tensor(vertices[None]), torch.tensor(faces), size, camera)
    compare(fragments, *reference(vertices, faces, size, camera))
    # Reversed winding turns the far side into front faces: culling then shows the inside.
    flipped = torch.tensor(faces[:, ::-1].copy())
    inside = rasterize(torch.tensor(vertices[None]), flipped, size, camera)
    assert torch.equal(inside.mask, fragments.mask)
    assert torch.all(inside.depth[inside.mask] > fragments.depth[fragments.mask])
    # Without culling the nearest surface wins whatever the winding.
    kept = rasterize(torch.tensor(vertices[None]), flipped, size, camera, cull_backfaces=False)
    assert (kept.face_ids == fragments.face_ids).float().mean() >= MIN_AGREEMENT


@pytest.mark.parametrize("threads", [1, 3])
def test_batch_equals_single_renders(monkeypatch, threads):
    """Samples of a batch render as they would alone, also when split into several passes, and
    with several torch threads (the passes then run in threads of their own)."""
    rasterize_module = importlib.import_module("decomr.render.rasterize")
    monkeypatch.setattr(rasterize_module, "_FACES_PER_PASS", 700)  # 2 samples per pass
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batch_equals_single_renders()
    finally:
        torch.set_num_threads(before)


def batch_equals_single_renders():
    vertices = []
    for seed in range(5):
        v, faces = scene(seed)
        vertices.append(v)
    batch = torch.tensor(np.stack(vertices), dtype=torch.float32)
    faces_t = torch.tensor(faces)
    camera = WeakPerspectiveCamera(torch.tensor([[0.9, 0.0, 0.0]]))
    together = rasterize(batch, faces_t, 40, camera)
    for i in range(len(vertices)):
        alone = rasterize(batch[i:i + 1], faces_t, 40, camera)
        assert torch.equal(together.face_ids[i], alone.face_ids[0])
        torch.testing.assert_close(together.bary[i], alone.bary[0])
        torch.testing.assert_close(together.depth[i], alone.depth[0])


def test_faces_at_or_before_the_near_plane_are_skipped():
    """A perspective face with a corner at depth <= znear is not drawn; the others are."""
    size = 32
    camera = PerspectiveCamera(torch.tensor([20.0]), torch.tensor([[size / 2, size / 2]]), torch.zeros(1, 3), size)
    # two faces side by side, facing the camera; the right one has a corner behind the camera
    vertices = torch.tensor([[[-0.8, -0.6, 2.0], [-0.1, -0.6, 2.0], [-0.4, 0.6, 2.0],
                              [0.1, -0.6, 2.0], [0.8, -0.6, -1.0], [0.4, 0.6, 2.0]]])
    faces = torch.tensor([[0, 2, 1], [3, 5, 4]])
    fragments = rasterize(vertices, faces, size, camera, cull_backfaces=False)
    drawn = set(fragments.face_ids[fragments.mask].tolist())
    assert drawn == {0}
    assert int(fragments.mask.sum()) > 10


def test_large_faces_are_enumerated_exactly():
    """Two triangles covering most of the image: every covered pixel is found."""
    vertices = torch.tensor([[[-0.9, -0.8, 1.0], [0.9, -0.9, 1.0], [0.8, 0.9, 1.0], [-0.85, 0.7, 2.0]]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # counter-clockwise seen from the camera side
    fragments = rasterize(vertices, faces, 32)
    compare(fragments, *reference(vertices[0], faces, 32, None))


# --------------------------------------------------------------------------------------------
# cameras and the shared image convention
# --------------------------------------------------------------------------------------------
def test_projected_vertex_lands_on_a_face_of_that_vertex():
    sphere = trimesh.creation.icosphere(subdivisions=1)
    vertices = torch.tensor(np.asarray(sphere.vertices) @ _rotation(7).T, dtype=torch.float32)[None]
    faces = torch.tensor(np.asarray(sphere.faces, dtype=np.int64))
    size = 96
    camera = WeakPerspectiveCamera(torch.tensor([[0.8, 0.1, -0.05]]))
    fragments = rasterize(vertices, faces, size, camera)
    xy = project(vertices, camera)[0]
    pixel = torch.floor((xy + 1.0) * size / 2.0).long()  # (column, row)
    facing = vertices[0, :, 2] < -0.5  # normals of a unit sphere: well toward the camera (-z)
    assert facing.sum() >= 5
    for vertex in torch.nonzero(facing).squeeze(1).tolist():
        col, row = pixel[vertex].tolist()
        face = int(fragments.face_ids[0, row, col])
        assert vertex in faces[face].tolist()


def test_pixel_centre_convention():
    centres = pixel_centers((2, 4))
    assert centres.shape == (2, 4, 2)
    torch.testing.assert_close(centres[0, 0], torch.tensor([-0.75, -0.5]))
    torch.testing.assert_close(centres[1, 3], torch.tensor([0.75, 0.5]))
    # A point projected to a pixel centre is covered by a face containing it: a tiny square
    # around the centre of pixel (row 1, col 2) of a 4 x 4 image, facing the camera.
    x, y = pixel_centers(4)[1, 2].tolist()
    quad = torch.tensor([[[x - 0.1, y - 0.1, 0.0], [x + 0.1, y - 0.1, 0.0], [x + 0.1, y + 0.1, 0.0],
                          [x - 0.1, y + 0.1, 0.0]]])
    fragments = rasterize(quad, torch.tensor([[0, 2, 1], [0, 3, 2]]), 4)
    assert torch.nonzero(fragments.mask[0]).tolist() == [[1, 2]]


def test_smpl_axes_stand_upright():
    """A Y-up body turned by smpl_to_camera_axes has its head at the top of the image, facing us."""
    head = torch.tensor([[[0.0, 1.7, 0.0], [0.0, 0.0, 0.0], [0.0, 0.9, 0.2]]])  # top, feet, nose (+Z front)
    points = smpl_to_camera_axes(head)
    xy = project(points, WeakPerspectiveCamera(torch.tensor([[1.0, 0.0, -0.85]])))
    assert xy[0, 0, 1] < xy[0, 1, 1]  # head above feet: smaller y is higher
    assert points[0, 2, 2] < points[0, 1, 2]  # the nose is nearer the camera than the body axis


def test_perspective_from_weak_perspective_agrees_at_zero_depth():
    weak = WeakPerspectiveCamera(torch.tensor([[0.9, 0.1, -0.2], [1.1, -0.3, 0.05]]))
    points = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(0))
    points[..., 2] = 0.0
    perspective = PerspectiveCamera.from_weak_perspective(weak, focal_length=5000.0, image_size=224)
    torch.testing.assert_close(project(points, perspective), project(points, weak), atol=1e-5, rtol=0)


def test_project_is_differentiable():
    points = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    params = torch.tensor([[0.9, 0.1, 0.2]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, c: project(p, WeakPerspectiveCamera(c)), (points, params))


# --------------------------------------------------------------------------------------------
# IUV, parts, RGB, the Renderer module
# --------------------------------------------------------------------------------------------
def grid_plane(n: int = 6):
    """An n x n grid on z = 0 over [-0.8, 0.8]^2 with UV = affine in (X, Y); faces CCW from -z."""
    ticks = np.linspace(-0.8, 0.8, n)
    X, Y = np.meshgrid(ticks, ticks, indexing="xy")
    vertices = np.column_stack([X.ravel(), Y.ravel(), np.zeros(n * n)])
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            faces += [[a, e, b], [a, d, e]]
    vt = np.column_stack([0.1 + 0.5 * (X.ravel() + 0.8), 0.2 + 0.4 * (Y.ravel() + 0.8)])
    return vertices, np.asarray(faces, dtype=np.int64), vt


def expected_uv(points):
    return np.column_stack([0.1 + 0.5 * (points[:, 0] + 0.8), 0.2 + 0.4 * (points[:, 1] + 0.8)])


def test_iuv_weak_perspective_gives_known_uv():
    vertices, faces, vt = grid_plane()
    size = 40
    params = (1.1, 0.05, -0.02)
    camera = WeakPerspectiveCamera(torch.tensor([params]))
    fragments = rasterize(torch.tensor(vertices[None]), torch.tensor(faces), size, camera, cull_backfaces=False)
    iuv = render_iuv(fragments, torch.tensor(vt), torch.tensor(faces))
    assert iuv.shape == (1, 3, size, size) and iuv.dtype == torch.float64
    mask = fragments.mask[0].numpy()
    assert mask.mean() > 0.5
    centres = pixel_centers(size, dtype=torch.float64).numpy()[mask]
    s, tx, ty = params
    points = np.column_stack([centres[:, 0] / s - tx, centres[:, 1] / s - ty])
    got = iuv[0, 1:].permute(1, 2, 0).numpy()[mask]
    np.testing.assert_allclose(got, expected_uv(points), atol=1e-6)
    np.testing.assert_array_equal(iuv[0, 0].numpy(), mask.astype(float))
    assert np.all(iuv[0, 1:].numpy()[:, ~mask] == 0)


def test_iuv_perspective_is_perspective_correct():
    vertices, faces, vt = grid_plane()
    rotation = _rotation(11)
    rotation = rotation if (rotation @ [0, 0, 1])[2] > 0.3 else _rotation(12)
    tilt = np.array([[1, 0, 0], [0, np.cos(0.9), -np.sin(0.9)], [0, np.sin(0.9), np.cos(0.9)]])  # 52 degrees
    size, focal = 48, 40.0
    camera = PerspectiveCamera(torch.tensor([focal], dtype=torch.float64),
                               torch.tensor([[size / 2, size / 2]], dtype=torch.float64),
                               torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64), size,
                               rotation=torch.tensor(tilt[None]))
    fragments = rasterize(torch.tensor(vertices[None]), torch.tensor(faces), size, camera, cull_backfaces=False)
    iuv = render_iuv(fragments, torch.tensor(vt), torch.tensor(faces))
    mask = fragments.mask[0].numpy()
    assert mask.mean() > 0.2
    # Ray through each covered pixel centre meets the plane R (X, Y, 0) + t: solve for (X, Y).
    pixels = (pixel_centers(size, dtype=torch.float64).numpy()[mask] + 1.0) * size / 2.0
    directions = np.column_stack([(pixels - size / 2) / focal, np.ones(len(pixels))])
    normal = tilt[:, 2]
    origin = np.array([0.0, 0.0, 2.0])
    depth = (normal @ origin) / (directions @ normal)
    hits = directions * depth[:, None] - origin
    plane_points = hits @ tilt  # R^T (hit - t)
    got = iuv[0, 1:].permute(1, 2, 0).numpy()[mask]
    np.testing.assert_allclose(got, expected_uv(plane_points), atol=1e-6)
    np.testing.assert_allclose(fragments.depth[0].numpy()[mask], depth * directions[:, 2], rtol=1e-9)


def test_parts_and_face_parts_from_vertex_parts():
    vertices, faces = scene(0)
    faces_t = torch.tensor(faces)
    vertex_parts = torch.zeros(len(vertices), dtype=torch.int64)
    vertex_parts[162:] = 23  # the box
    face_parts = face_parts_from_vertex_parts(faces_t, vertex_parts)
    assert face_parts.shape == (len(faces),)
    assert torch.all(face_parts[:320] == 0) and torch.all(face_parts[320:] == 23)
    assert face_parts_from_vertex_parts(torch.tensor([[0, 1, 2]]), torch.tensor([4, 7, 7])).tolist() == [7]
    assert face_parts_from_vertex_parts(torch.tensor([[0, 1, 2]]), torch.tensor([4, 5, 6])).tolist() == [4]
    fragments = rasterize(torch.tensor(vertices[None]), faces_t, 32, WeakPerspectiveCamera(torch.tensor([[0.9, 0, 0]])))
    labels = render_parts(fragments, face_parts)
    assert labels.dtype == torch.int64 and labels.shape == (1, 32, 32)
    assert torch.equal(labels == 0, ~fragments.mask)
    on_box = fragments.face_ids >= 320
    assert torch.all(labels[on_box] == 24) and torch.all(labels[fragments.mask & ~on_box] == 1)
    assert on_box.any()


def test_rgb_lambert_and_texture_lookup():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices = torch.tensor(np.asarray(sphere.vertices), dtype=torch.float32)[None]
    faces = torch.tensor(np.asarray(sphere.faces, dtype=np.int64))
    vt = torch.rand(vertices.shape[1], 2, generator=torch.Generator().manual_seed(0))
    fragments = rasterize(vertices, faces, 33, WeakPerspectiveCamera(torch.tensor([[0.9, 0.0, 0.0]])))
    # Constant texture, light from the camera: the centre (normal toward the camera) is brightest.
    texture = torch.full((1, 3, 8, 8), 0.5)
    light = DirectionalLight(ambient=0.3, diffuse=0.7)
    rgb = render_rgb(fragments, faces, texture, vt, faces, light, background=1.0)
    assert rgb.shape == (1, 3, 33, 33)
    torch.testing.assert_close(rgb[0, :, 16, 16], torch.full((3,), 0.5), atol=0.01, rtol=0)
    assert torch.all(rgb[0][:, ~fragments.mask[0]] == 1.0)
    assert torch.all(rgb[0][:, fragments.mask[0]] >= 0.5 * 0.3 - 1e-6)
    assert rgb[0, 0, 16, 16] > rgb[0, 0, 16, 3]  # the rim is darker
    # No diffuse term: the colour is the texture at the pixel's UV (texture red = u).
    ramp = torch.linspace(0, 1, 16).expand(16, 16)
    texture = torch.stack([ramp, ramp.t(), torch.zeros(16, 16)])[None]
    flat = render_rgb(fragments, faces, texture, vt, faces, DirectionalLight(ambient=1.0, diffuse=0.0))
    iuv = render_iuv(fragments, vt, faces)
    torch.testing.assert_close(flat[0, :2], iuv[0, 1:], atol=1e-5, rtol=0)


def test_renderer_module_buffers_and_gradients():
    vertices, faces, vt = grid_plane()
    face_parts = np.arange(len(faces)) % 24
    renderer = Renderer(faces, (20, 24), vt=vt, ft=faces, face_parts=face_parts, cull_backfaces=False)
    assert set(renderer.state_dict()) == {"faces", "vt", "ft", "face_uv", "face_parts"}
    assert all(buffer.device.type == "cpu" for buffer in renderer.buffers())
    moved = renderer.to(torch.float64)
    assert moved.faces.dtype == torch.int64  # integer buffers keep their dtype
    points = torch.tensor(vertices[None], dtype=torch.float32, requires_grad=True)
    out = renderer(points, WeakPerspectiveCamera(torch.tensor([[1.0, 0.0, 0.0]])))
    assert out.iuv.shape == (1, 3, 20, 24) and out.parts.shape == (1, 20, 24) and out.depth.shape == (1, 20, 24)
    assert out.mask.dtype == torch.bool and out.fragments.face_ids.dtype == torch.int64
    out.iuv[:, 1:].sum().backward()  # barycentrics carry gradients to the vertices
    assert torch.isfinite(points.grad).all() and points.grad.abs().sum() > 0
    bare = Renderer(faces, 16)
    with pytest.raises(ValueError, match="no UV map"):
        bare.iuv(bare.rasterize(points.detach()))
    assert bare(points.detach()).iuv is None


@pytest.mark.parametrize("device", DEVICES)
def test_renderer_on_device(device):
    vertices, faces = scene(4)
    renderer = Renderer(faces, 32, vt=np.random.default_rng(0).random((len(vertices), 2)), ft=faces).to(device)
    assert renderer.faces.device.type == device
    out = renderer(torch.tensor(vertices[None], dtype=torch.float32, device=device),
                   WeakPerspectiveCamera(torch.tensor([[0.9, 0.0, 0.0]], device=device)))
    reference = Renderer(faces, 32)(torch.tensor(vertices[None], dtype=torch.float32),
                                    WeakPerspectiveCamera(torch.tensor([[0.9, 0.0, 0.0]])))
    assert (out.fragments.face_ids.cpu() == reference.fragments.face_ids).float().mean() >= MIN_AGREEMENT


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
def test_bad_input_names_the_expected_shape():
    vertices, faces = scene(0)
    v = torch.tensor(vertices, dtype=torch.float32)
    f = torch.tensor(faces)
    with pytest.raises(ValueError, match=r"\(B, V, 3\)"):
        rasterize(v, f, 16)
    with pytest.raises(ValueError, match=r"\(F, 3\)"):
        rasterize(v[None], f[:, :2], 16)
    with pytest.raises(ValueError, match="integer"):
        rasterize(v[None], f.float(), 16)
    with pytest.raises(ValueError, match="image_size"):
        rasterize(v[None], f, (16, 0))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        WeakPerspectiveCamera(torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="batch"):
        project(v[None].expand(3, -1, -1), WeakPerspectiveCamera(torch.ones(2, 3)))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        PerspectiveCamera(torch.ones(1), torch.ones(2), torch.zeros(1, 3), 16)
    camera = PerspectiveCamera(torch.ones(1), torch.ones(1, 2), torch.zeros(1, 3), 16)
    with pytest.raises(ValueError, match="image size"):
        rasterize(v[None], f, 32, camera)
    with pytest.raises(TypeError, match="camera"):
        project(v[None], "weak")
    fragments = rasterize(v[None], f, 16)
    with pytest.raises(ValueError, match=r"\(B or 1, 3, Ht, Wt\)"):
        render_rgb(fragments, f, torch.ones(3, 8, 8), torch.zeros(len(vertices), 2), f)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        render_iuv(fragments, torch.zeros(len(vertices), 3), f)
    with pytest.raises(ValueError, match=r"\(F,\)"):
        render_parts(fragments, torch.zeros(len(faces), 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="ft must be"):
        Renderer(faces, 16, vt=np.zeros((len(vertices), 2)), ft=faces[:5])
    with pytest.raises(ValueError, match="both vt and ft"):
        Renderer(faces, 16, vt=np.zeros((len(vertices), 2)))


def test_face_columns_follow_in_place_changes_and_new_tensors():
    """The rasterizer keeps the transposed faces between frames; a change must not go unseen."""
    from decomr.render.rasterize import _face_columns

    faces = torch.tensor([[0, 1, 2], [2, 3, 0]])
    assert torch.equal(_face_columns(faces, torch.int32), faces.t().to(torch.int32))
    faces[1] = torch.tensor([3, 2, 1])                   # in place: a new version
    assert torch.equal(_face_columns(faces, torch.int32), faces.t().to(torch.int32))
    other = faces.flip(1).contiguous()
    assert torch.equal(_face_columns(other, torch.int64), other.t())
