"""A batched z-buffer rasterizer in plain PyTorch (CPU and CUDA, no compiled code, no OpenGL).

Algorithm: every face is projected (:mod:`decomr.render.cameras`), back faces are culled, and
each face's screen-space barycentric planes and depth plane are precomputed. Faces whose
pixel-centre box is at most 2 x 2 pixels are tested on a fixed 2 x 2 window; larger faces
have their box's pixels enumerated exactly. Candidate (face, pixel) pairs that pass the
inside test go through one ``scatter_reduce(amin)`` over a 64-bit key
``(sortable depth bits << 32) | face id``: the nearest face wins, ties go to the smaller id.
Barycentrics and depth of the winning faces are then recomputed per pixel.

A pixel is covered when its **centre** lies inside a face (edges inclusive). Depth is camera
space z (perspective) or the points' own z (weak perspective / no camera); nearer is smaller.
Perspective barycentrics are perspective-correct (weights of the 3D corners).

Autograd: visibility (which face covers a pixel) is not differentiable. The returned
barycentrics and depth are recomputed from the projected vertices with ordinary tensor ops, so
they do carry gradients with respect to the vertices and camera inside a face; nothing
differentiates across face edges or the silhouette.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .cameras import Camera, PerspectiveCamera, as_image_size, transform_points

__all__ = ["Fragments", "rasterize", "check_faces"]

_INT64_MAX = torch.iinfo(torch.int64).max
# Inside test slack on barycentrics: shared edges never open cracks under float32 rounding.
_INSIDE_EPS = 1e-6
# Faces with a doubled pixel area below this are degenerate and skipped.
_MIN_AREA = 1e-10
# Faces per z-buffer pass (several samples of a batch together); see ``rasterize``.
_FACES_PER_PASS = 65536


@dataclass
class Fragments:
    """Per-pixel rasterization result.

    Attributes
    ----------
    face_ids : (B, H, W) int64 tensor
        covering face per pixel (index into the mesh's faces), -1 on background.
    bary : (B, H, W, 3) float tensor
        barycentric weights of the face's three corners (perspective-correct for a
        perspective camera); 0 on background.
    depth : (B, H, W) float tensor
        depth of the surface at the pixel centre (smaller is nearer); 0 on background.
    mask : (B, H, W) bool tensor
        ``face_ids >= 0``.
    view_vertices : (B, V, 3) float tensor
        the vertices after the camera transform (x, y normalised, depth); what was rasterized.
    camera_vertices : (B, V, 3) float tensor
        the vertices in camera space (used for normals in shading).
    """

    face_ids: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    view_vertices: torch.Tensor
    camera_vertices: torch.Tensor

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.face_ids.shape[1:3])  # type: ignore[return-value]


def check_faces(faces: torch.Tensor, n_vertices: int | None = None) -> None:
    """Raise ValueError unless ``faces`` is an (F, 3) integer tensor indexing ``n_vertices``."""
    if not isinstance(faces, torch.Tensor) or faces.ndim != 2 or faces.shape[1] != 3:
        shape = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"faces must be an (F, 3) int64 tensor, got {shape}")
    if faces.is_floating_point() or faces.dtype == torch.bool:
        raise ValueError(f"faces must be an (F, 3) integer tensor, got dtype {faces.dtype}")
    if n_vertices is not None and faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= n_vertices):
        raise ValueError(f"faces index vertices outside [0, {n_vertices})")


# Depth offset that marks a candidate pixel outside its face (see ``_masked_depth``); keys at or
# beyond ``_FAR`` are background. Scene depths must stay below 1e18.
_OUTSIDE_PENALTY = 1e30
_FAR = 1e20


def _masked_depth(depth: torch.Tensor, l0: torch.Tensor, l1: torch.Tensor, l2: torch.Tensor) -> torch.Tensor:
    """Depth of inside candidates; outside ones pushed beyond ``_FAR``.

    ``depth + 1e30 * relu(-(min(l) + eps))``: float ops only (no ``where``, no bool tensors,
    which are several times slower on CPU). A candidate outside by less than 1e-10 in
    barycentric terms counts as inside (it lies on the edge to float precision).
    """
    smallest = torch.minimum(torch.minimum(l0, l1), l2).add_(_INSIDE_EPS).clamp_(max=0.0)
    return depth.sub(smallest, alpha=_OUTSIDE_PENALTY)


def _keys(depth: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """(depth bits << 32) | face; ``depth`` float32 >= 0, ``face`` int64 in [0, 2**31)."""
    return (depth.contiguous().view(torch.int32).to(torch.int64) << 32) | face


def _planes(x0, x1, x2, y0, y1, y2, z0, z1, z2):
    """Per face, the linear planes ``a px + b py + c`` of l0, l1, l2 and of ``z``.

    All inputs (K,) float32 corner pixel positions and depth values (z, or 1 / z for a
    perspective camera: what is linear in screen space). Returns four (a, b, c) triples.
    """
    inv = 1.0 / ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
    planes = []
    for xa, ya, xb, yb in ((x1, y1, x2, y2), (x2, y2, x0, y0), (x0, y0, x1, y1)):
        planes.append(((ya - yb) * inv, (xb - xa) * inv, (xa * yb - xb * ya) * inv))
    (a0, b0, c0), (a1, b1, c1), (a2, b2, c2) = planes
    planes.append((a0 * z0 + a1 * z1 + a2 * z2, b0 * z0 + b1 * z1 + b2 * z2, c0 * z0 + c1 * z1 + c2 * z2))
    return planes


def _visible_faces(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                   perspective: bool, cull_backfaces: bool, znear: float | None) -> torch.Tensor:
    """The z-buffer pass: (B, H, W) int64 face id per pixel, -1 on background.

    screen : (B, V, 3) float32 (px, py, depth). Every per-face quantity is a contiguous vector
    so that the pass over all faces is a short chain of elementwise ops.
    """
    device = screen.device
    batch, n_vertices, _ = screen.shape
    n_faces = faces.shape[0]
    depth = screen[..., 2]
    if perspective:
        depth = 1.0 / depth.clamp(min=znear)  # interpolated linearly in screen space
    else:
        depth = depth - depth.amin() + 1.0  # positive, so float bits sort like the floats
    sample_offset = torch.arange(batch, device=device) * n_vertices
    corner_index = (faces.t()[:, None, :] + sample_offset[None, :, None]).reshape(-1)
    tri = torch.stack([values.reshape(-1).index_select(0, corner_index)
                       for values in (screen[..., 0], screen[..., 1], depth)]).reshape(9, batch * n_faces)
    x0, x1, x2, y0, y1, y2 = tri[:6]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    # Seen from the front, a counter-clockwise face has a negative doubled area in (px, py)
    # because +y points down the image and the camera looks along +z.
    keep = (area < -_MIN_AREA) if cull_backfaces else (area.abs() > _MIN_AREA)
    if perspective:
        z_cam = screen[..., 2].reshape(-1).index_select(0, corner_index).reshape(3, -1)
        keep &= z_cam.amin(0) > znear
    kept = torch.nonzero(keep).squeeze(1)
    tri = tri.index_select(1, kept)
    x0, x1, x2, y0, y1, y2 = tri[:6]
    # Pixel boxes: rows / columns whose centres (i + 0.5) lie within the face's bounding box.
    j0 = torch.ceil(torch.minimum(torch.minimum(x0, x1), x2) - 0.5).clamp_(min=0)
    j1 = torch.floor(torch.maximum(torch.maximum(x0, x1), x2) - 0.5).clamp_(max=width - 1)
    i0 = torch.ceil(torch.minimum(torch.minimum(y0, y1), y2) - 0.5).clamp_(min=0)
    i1 = torch.floor(torch.maximum(torch.maximum(y0, y1), y2) - 0.5).clamp_(max=height - 1)
    box_w = j1 - j0
    box_h = i1 - i0
    # Boxes off the image or between pixel centres are empty (negative extent).
    small = (torch.maximum(box_w, box_h) <= 1) & (torch.minimum(box_w, box_h) >= 0)
    large = (torch.maximum(box_w, box_h) > 1) & (torch.minimum(box_w, box_h) >= 0)

    zbuffer = torch.full((batch * height * width,), _INT64_MAX, dtype=torch.int64, device=device)
    per_face = torch.cat([tri, torch.stack([j0, i0, box_w, box_h])])  # (13, K)

    # Small faces: a fixed 2 x 2 window at the box's top-left pixel centre; a 1-pixel-wide box
    # repeats its pixel (duplicates give the same key, harmless to amin).
    ids = torch.nonzero(small).squeeze(1)
    if ids.numel():
        sel = per_face.index_select(1, ids)
        col, row, dj, di = sel[9:]
        planes = _planes(*sel[:9])
        pxc = col + 0.5
        pyc = row + 0.5
        values = []
        for a, b, c in planes:
            v00 = a * pxc + b * pyc + c
            v01 = v00 + a * dj
            v10 = v00 + b * di
            values.append(torch.stack([v00, v01, v10, v01 + b * di], dim=1))  # (K, 4)
        face = kept.index_select(0, ids)
        sample = face // n_faces
        base = ((sample * height + row.long()) * width + col.long())
        step_j = dj.long()
        step_i = di.long() * width
        pixel = torch.stack([base, base + step_j, base + step_i, base + step_i + step_j], dim=1)
        d = values[3] if not perspective else 1.0 / values[3].clamp(min=1e-30)  # <= 0 only far outside
        key = _keys(_masked_depth(d, *values[:3]), (face - sample * n_faces)[:, None])
        zbuffer.scatter_reduce_(0, pixel.reshape(-1), key.reshape(-1), reduce="amin", include_self=True)

    # Large faces: every pixel of the box, enumerated exactly.
    ids = torch.nonzero(large).squeeze(1)
    if ids.numel():
        sel = per_face.index_select(1, ids)
        col, row, dj, di = sel[9:].long()
        box_cols = dj + 1
        counts = box_cols * (di + 1)
        owner = torch.repeat_interleave(torch.arange(ids.numel(), device=device), counts)
        starts = torch.cumsum(counts, 0) - counts
        offset = torch.arange(owner.numel(), device=device) - starts.index_select(0, owner)
        cols_per = box_cols.index_select(0, owner)
        # Division in float64 (exact for the integers involved; int64 division is slow on CPU).
        row_in_box = torch.floor(offset.double().add_(0.5).div_(cols_per.double())).long()
        rows = row.index_select(0, owner) + row_in_box
        cols = col.index_select(0, owner) + (offset - row_in_box * cols_per)
        planes = _planes(*sel[:9].index_select(1, owner))
        px = cols.to(torch.float32) + 0.5
        py = rows.to(torch.float32) + 0.5
        values = [a * px + b * py + c for a, b, c in planes]
        face = kept.index_select(0, ids).index_select(0, owner)
        sample = face // n_faces
        d = values[3] if not perspective else 1.0 / values[3].clamp(min=1e-30)  # <= 0 only far outside
        key = _keys(_masked_depth(d, *values[:3]), face - sample * n_faces)
        pixel = (sample * height + rows) * width + cols
        zbuffer.scatter_reduce_(0, pixel, key, reduce="amin", include_self=True)

    # Low 32 bits hold the face id; keys at or beyond _FAR (and the empty key) are background.
    far_key = int(_keys(torch.tensor([_FAR], dtype=torch.float32), torch.zeros(1, dtype=torch.int64)))
    background = (zbuffer >= far_key).to(torch.int64)
    face_ids = (zbuffer & 0xFFFFFFFF) * (1 - background) - background
    return face_ids.reshape(batch, height, width)

def rasterize(vertices: torch.Tensor, faces: torch.Tensor, image_size: int | tuple[int, int],
              camera: Camera | None = None, cull_backfaces: bool = True) -> Fragments:
    """Rasterize a batch of meshes sharing one face list.

    Parameters
    ----------
    vertices : (B, V, 3) float tensor
        camera-convention points (``decomr.render.cameras``); with ``camera=None`` they already
        are (x normalised, y normalised, depth).
    faces : (F, 3) int64 tensor
        counter-clockwise seen from outside (the template convention).
    image_size : int or (H, W)
    camera : WeakPerspectiveCamera, PerspectiveCamera or None
    cull_backfaces : bool
        skip faces seen from behind (right for closed meshes; turn off for open surfaces).

    Returns
    -------
    Fragments
    """
    height, width = as_image_size(image_size)
    if not isinstance(vertices, torch.Tensor) or vertices.ndim != 3 or vertices.shape[-1] != 3:
        shape = tuple(vertices.shape) if isinstance(vertices, torch.Tensor) else type(vertices).__name__
        raise ValueError(f"vertices must be a (B, V, 3) float tensor, got {shape}")
    if not vertices.is_floating_point():
        raise ValueError(f"vertices must be a floating point tensor, got {vertices.dtype}")
    check_faces(faces)
    faces = faces.to(device=vertices.device, dtype=torch.int64)
    batch, n_vertices, _ = vertices.shape
    n_faces = faces.shape[0]
    if n_faces >= 2**31 - 1:
        raise ValueError(f"at most 2**31 - 2 faces are supported, got {n_faces}")
    perspective = isinstance(camera, PerspectiveCamera)

    camera_vertices = camera.camera_space(vertices) if perspective else vertices
    view = transform_points(vertices, camera, (height, width))
    pixel_scale = torch.tensor([width / 2.0, height / 2.0, 1.0], dtype=view.dtype, device=view.device)
    pixel_offset = torch.tensor([1.0, 1.0, 0.0], dtype=view.dtype, device=view.device)
    screen = (view + pixel_offset) * pixel_scale  # (B, V, 3): px, py, depth

    # Samples go through in groups of about _FACES_PER_PASS faces: the per-face and per-pixel
    # vectors then stay cache-sized, which is faster on CPU than one huge pass.
    group = max(1, _FACES_PER_PASS // max(n_faces, 1))
    znear = camera.znear if perspective else None
    parts = [_rasterize_group(screen[start:start + group], faces, height, width, perspective, cull_backfaces, znear)
             for start in range(0, batch, group)]
    face_ids, bary, depth = (torch.cat(items) if len(parts) > 1 else items[0] for items in zip(*parts))
    return Fragments(
        face_ids=face_ids,
        bary=bary,
        depth=depth,
        mask=face_ids >= 0,
        view_vertices=view,
        camera_vertices=camera_vertices,
    )


def _rasterize_group(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, perspective: bool,
                     cull_backfaces: bool, znear: float | None):
    """Fragments of some samples: face ids (b, H, W), barycentrics (b, H, W, 3), depth (b, H, W).

    screen : (b, V, 3) float tensor (px, py, depth), differentiable.
    """
    batch, n_vertices, _ = screen.shape
    with torch.no_grad():
        face_ids = _visible_faces(screen.detach().to(torch.float32), faces, height, width, perspective,
                                  cull_backfaces, znear)

    # Barycentrics and depth of the winners, recomputed with differentiable ops.
    flat_ids = face_ids.reshape(-1)
    hit = torch.nonzero(flat_ids >= 0).squeeze(1)
    hit_batch = hit // (height * width)
    hit_pixel = hit - hit_batch * (height * width)
    corners = faces.index_select(0, flat_ids.index_select(0, hit)) + (hit_batch * n_vertices)[:, None]
    tri = screen.reshape(batch * n_vertices, 3).index_select(0, corners.reshape(-1)).reshape(-1, 3, 3)
    px = (hit_pixel % width).to(screen.dtype) + 0.5
    py = (hit_pixel // width).to(screen.dtype) + 0.5
    x, y, z = tri.unbind(-1)
    x0, x1, x2 = x.unbind(-1)
    y0, y1, y2 = y.unbind(-1)
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    l0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area
    l1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) / area
    screen_bary = torch.stack([l0, l1, 1.0 - l0 - l1], dim=-1)
    if perspective:
        weighted = screen_bary / z
        inverse_depth = weighted[:, 0] + weighted[:, 1] + weighted[:, 2]  # (sum(-1) is slow over 3)
        bary_hit = weighted / inverse_depth[:, None]
        depth_hit = 1.0 / inverse_depth
    else:
        bary_hit = screen_bary
        depth_hit = l0 * z[:, 0] + l1 * z[:, 1] + (1.0 - l0 - l1) * z[:, 2]

    n_pixels = batch * height * width
    bary = torch.zeros(n_pixels, 3, dtype=screen.dtype, device=screen.device).index_copy(0, hit, bary_hit)
    depth = torch.zeros(n_pixels, dtype=screen.dtype, device=screen.device).index_copy(0, hit, depth_hit)
    return face_ids, bary.reshape(batch, height, width, 3), depth.reshape(batch, height, width)
