"""A batched z-buffer rasterizer in plain PyTorch (CPU and CUDA, no compiled code, no OpenGL).

Algorithm: every face is projected (:mod:`decomr.render.cameras`); one pass over all faces
computes only what decides whether a face can cover a pixel centre at all (its pixel-centre
box and signed area), and back faces and faces whose box holds no pixel centre (most faces of
a body at crop sizes: they fall between pixel centres) are dropped there. The survivors get
their screen-space barycentric planes and depth plane. Faces whose box is at most 2 x 2
pixels are tested on a fixed 2 x 2 window, 3 x 3 and 4 x 4 boxes on fixed windows of their
size (offsets clamped to the box), larger faces have their box's pixels enumerated exactly.
Candidate (face, pixel) pairs go through ``scatter_reduce(amin)`` over a 64-bit key
``(sortable depth bits << 32) | face id``, pairs outside their face pushed beyond the far
depth: the nearest face wins, ties go to the smaller id. Barycentrics and depth of the
winning faces are then evaluated per covered pixel only: from the winners' planes when no
gradient is asked for, else recomputed from the projected vertices (below).

A pixel is covered when its **centre** lies inside a face (edges inclusive). Depth is camera
space z (perspective) or the points' own z (weak perspective / no camera); nearer is smaller.
Perspective barycentrics are perspective-correct (weights of the 3D corners).

Autograd: visibility (which face covers a pixel) is not differentiable. When the vertices (or
the camera) require gradients, the returned barycentrics and depth are recomputed from the
projected vertices with ordinary tensor ops, so they do carry gradients with respect to the
vertices and camera inside a face; nothing differentiates across face edges or the silhouette.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from decomr.threads import map_in_threads  # absolute: tools/bench_render.py loads this package alone

from .cameras import Camera, PerspectiveCamera, as_image_size, transform_points

__all__ = ["Fragments", "rasterize", "check_faces"]

_INT64_MAX = torch.iinfo(torch.int64).max
# Inside test slack on barycentrics: shared edges never open cracks under float32 rounding.
_INSIDE_EPS = 1e-6
# Faces with a doubled pixel area below this are degenerate and skipped.
_MIN_AREA = 1e-10
# Faces per z-buffer pass (several samples of a batch together); see ``rasterize``.
_FACES_PER_PASS = 1 << 18
# The same on CUDA devices: long passes keep the GPU busy (kernel launches dominate short ones);
# a pass of 4M faces holds about 1 GB of temporaries.
_FACES_PER_PASS_CUDA = 1 << 22


@dataclass
class Fragments:
    """Per-pixel rasterization result.

    Attributes
    ----------
    face_ids : (B, H, W) int64 tensor
        covering face per pixel (index into the mesh's faces), -1 on background.
    bary : (B, H, W, 3) float tensor or None
        barycentric weights of the face's three corners (perspective-correct for a
        perspective camera); 0 on background. None when rasterized with ``dense=False``.
    depth : (B, H, W) float tensor or None
        depth of the surface at the pixel centre (smaller is nearer); 0 on background. None
        when rasterized with ``dense=False``.
    mask : (B, H, W) bool tensor
        ``face_ids >= 0``.
    view_vertices : (B, V, 3) float tensor
        the vertices after the camera transform (x, y normalised, depth); what was rasterized.
    camera_vertices : (B, V, 3) float tensor
        the vertices in camera space (used for normals in shading).
    hit : (N,) int64 tensor or None
        flat indices into ``(B, H, W)`` (row-major) of the covered pixels, ascending: what
        the shading functions read instead of searching the mask again (None: derived from
        ``mask`` when needed).
    hit_bary : (N, 3) float tensor or None
        the barycentrics at ``hit`` (what ``bary`` holds there); from ``rasterize``, the
        transpose of a contiguous (3, N) tensor (``hit_bary.t()`` is contiguous).
    hit_depth : (N,) float tensor or None
        the depth at ``hit``.
    """

    face_ids: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    view_vertices: torch.Tensor
    camera_vertices: torch.Tensor
    hit: torch.Tensor | None = None
    hit_bary: torch.Tensor | None = None
    hit_depth: torch.Tensor | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.face_ids.shape[1:3])  # type: ignore[return-value]

    def covered(self) -> torch.Tensor:
        """(N,) int64 flat indices of the covered pixels (``hit``, or found from ``face_ids``)."""
        if self.hit is not None:
            return self.hit
        return torch.nonzero(self.face_ids.reshape(-1) >= 0).squeeze(1)

    def bary_at(self, hit: torch.Tensor) -> torch.Tensor:
        """(N, 3) barycentrics at the covered pixels ``hit`` (from :meth:`covered`)."""
        if self.hit_bary is not None and hit is self.hit:
            return self.hit_bary
        return self.bary.reshape(-1, 3).index_select(0, hit)


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
_FAR_KEY = int(np.float32(_FAR).view(np.int32)) << 32


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


def _candidate_keys(values: torch.Tensor, perspective: bool, face: torch.Tensor) -> torch.Tensor:
    """z-buffer keys of candidate (face, pixel) pairs.

    values : (4, ...) float32, the planes l0, l1, l2 and the linear depth value at each pair;
    face : int64 face ids broadcastable to ``values[0]``. Pairs outside their face get a depth
    beyond ``_FAR`` (see ``_masked_depth``).
    """
    depth = values[3] if not perspective else values[3].clamp(min=1e-30).reciprocal_()  # <= 0 only far outside
    return _keys(_masked_depth(depth, values[0], values[1], values[2]), face)


def _columns(table: torch.Tensor, index: torch.Tensor, rows: tuple[int, ...] | None = None) -> torch.Tensor:
    """``table[rows][:, index]`` of a contiguous (R, N) tensor (all rows by default), as one flat
    gather.

    (``index_select`` along dim 1 goes through a transposed copy on CPU, several times slower;
    int32 indices gather faster than int64 ones where the table is small enough.)
    """
    n_rows, length = table.shape
    dtype = torch.int32 if n_rows * length < 2**31 else torch.int64
    if rows is None:
        starts = torch.arange(0, n_rows * length, length, device=index.device, dtype=dtype)
    else:
        starts = torch.tensor([r * length for r in rows], device=index.device, dtype=dtype)
    flat = starts[:, None] + index.to(dtype)
    return table.reshape(-1).index_select(0, flat.view(-1)).view(len(starts), index.numel())


# Rows of the per-face table of the kept faces (``_FaceTable``).
_PLANE_A, _PLANE_B, _PLANE_C = slice(0, 4), slice(4, 8), slice(8, 12)
_BOX = slice(12, 16)
_CORNER_DEPTH = slice(16, 19)
_ORIGIN = slice(19, 21)  # corner 0 (x, y): barycentrics at the hits are evaluated relative to it
_TABLE_ROWS = 21
# rows read per covered pixel: a1, a2, a_depth, b1, b2, b_depth, corner 0 x, y, corner depths
_HIT_ROWS = (1, 2, 3, 5, 6, 7, 19, 20, 16, 17, 18)


_KEPT: "OrderedDict[tuple, tuple[weakref.ref, torch.Tensor]]" = OrderedDict()
_KEPT_LOCK = threading.Lock()
#: derived tensors kept (the last ones used).
_KEPT_MAX = 16


def _kept(source: torch.Tensor, tag: Any, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``make()``, a tensor derived from ``source``, kept for the next calls with the same tensor.

    A renderer passes the same faces and face attributes every frame, and their transposed
    copies cost a measurable share of a frame: the last few are kept, keyed by the source tensor
    itself (a weak reference: a new tensor at a reused address is not mistaken for it), its
    version (an in-place change is seen) and ``tag`` (what was derived).
    """
    key = (source.data_ptr(), tuple(source.shape), source.dtype, source.device, source._version, tag)
    with _KEPT_LOCK:
        entry = _KEPT.get(key)
        if entry is not None and entry[0]() is source:
            _KEPT.move_to_end(key)
            return entry[1]
    derived = make()
    with _KEPT_LOCK:
        _KEPT[key] = (weakref.ref(source), derived)
        while len(_KEPT) > _KEPT_MAX:
            _KEPT.popitem(last=False)
    return derived


def _face_columns(faces: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``faces`` (F, 3) as contiguous (3, F) columns of ``dtype``, kept for the next frames
    (:func:`_kept`; transposing an (F, 3) int64 tensor on the CPU takes torch about 0.4 ms at
    F = 27k, 5 % of a frame at batch 1)."""
    return _kept(faces, ("columns", dtype), lambda: torch.stack(faces.unbind(1)).to(dtype))


def _visible_faces(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, perspective: bool,
                   cull_backfaces: bool, znear: float | None, zbuffer: torch.Tensor):
    """The z-buffer pass over some samples.

    screen : (B, V, 3) float32 (px, py, depth); faces : (F, 3) int64; zbuffer : (B * H * W,)
    int64, overwritten: it returns as the face ids.

    Returns
    -------
    face_ids : (B * H * W,) int64, -1 on background (``zbuffer`` itself)
    hit : (N,) int64 flat indices of the covered pixels (ascending)
    winner : (N,) int64 column of each covered pixel's face in ``table``
    table : (21, K) float32 rows of the kept faces: barycentric and depth planes a (4), b (4),
        c (4) in ``l = a px + b py + c`` (pixel centres at integers), the pixel box (column,
        row, width - 1, height - 1), the linear depth value at the corners (3), corner 0 (x, y)

    The pass over all faces is kept to what decides whether a face can cover a pixel centre at
    all (corner gathers, pixel box, signed area): at the usual sizes most faces are back faces
    or fall between pixel centres, and only the survivors get planes and candidate pixels.
    Coordinates are shifted by half a pixel so that pixel centres sit at integers.
    """
    device = screen.device
    batch, n_vertices, _ = screen.shape
    n_faces = faces.shape[0]
    n_all = batch * n_faces
    x = screen[..., 0] - 0.5
    y = screen[..., 1] - 0.5
    if perspective:
        z_cam = screen[..., 2]
        depth = z_cam.clamp(min=znear).reciprocal_()  # 1 / z is linear in screen space
        # a corner at or before the near plane makes its face's box and area NaN: never kept
        x.masked_fill_(z_cam <= znear, float("nan"))
    else:
        z = screen[..., 2].contiguous()
        depth = z - (z.amin(1, keepdim=True) - 1.0)  # positive, so float bits sort like the floats
    index_dtype = torch.int32 if batch * n_vertices < 2**31 else torch.int64
    corner_index = torch.empty(3, batch, n_faces, dtype=index_dtype, device=device)
    sample_offset = torch.arange(0, batch * n_vertices, n_vertices, device=device, dtype=index_dtype)
    torch.add(_face_columns(faces, index_dtype)[:, None, :], sample_offset[None, :, None], out=corner_index)
    corner_index = corner_index.view(3, n_all)
    # Per-face table, rows: corner x (3), corner y (3), pixel box column, row (first pixel
    # centre inside the face's bounding box), width - 1, height - 1 (negative: empty), area.
    table = torch.empty(11, n_all, device=device)
    torch.index_select(x.reshape(-1), 0, corner_index.view(-1), out=table[0:3].view(-1))
    torch.index_select(y.reshape(-1), 0, corner_index.view(-1), out=table[3:6].view(-1))
    xy = table[0:6].view(2, 3, n_all)
    low, extent, area = table[6:8], table[8:10], table[10]
    torch.minimum(torch.minimum(xy[:, 0], xy[:, 1]), xy[:, 2], out=low).ceil_().clamp_(min=0)
    torch.maximum(torch.maximum(xy[:, 0], xy[:, 1]), xy[:, 2], out=extent).floor_()
    extent[0].clamp_(max=width - 1.0)
    extent[1].clamp_(max=height - 1.0)
    extent.sub_(low)
    (x0, x1, x2), (y0, y1, y2) = table[0:3], table[3:6]
    torch.mul(x1 - x0, y2 - y0, out=area).sub_((x2 - x0).mul_(y1 - y0))
    # Seen from the front, a counter-clockwise face has a negative doubled area in (px, py)
    # because +y points down the image and the camera looks along +z. Kept: facing the camera
    # (or, unculled, not degenerate) with a pixel centre in its box.
    facing = area.neg() if cull_backfaces else area.abs()
    score = torch.minimum(torch.minimum(extent[0], extent[1]), facing.sub_(_MIN_AREA))
    kept = torch.nonzero(score >= 0).squeeze(1)

    zbuffer.fill_(_INT64_MAX)
    # kept faces grouped by the larger side of their pixel box (the splat window they take),
    # so that each group is one contiguous block of the per-face table
    largest = _columns(extent, kept).amax(0)
    groups = [torch.nonzero(chosen).squeeze(1) for chosen in
              (largest <= 1, largest == 2, largest == 3, largest > 3)]
    sizes = [int(ids.numel()) for ids in groups]
    kept = kept.index_select(0, torch.cat(groups))
    count = kept.numel()
    per_face = torch.empty(_TABLE_ROWS, count, device=device)
    if count:
        chosen = _columns(table, kept)
        per_face[_BOX] = chosen[6:10]
        per_face[_ORIGIN] = chosen[0:6:3]
        per_face[_CORNER_DEPTH] = depth.reshape(-1).index_select(0, _columns(corner_index, kept).view(-1)).view(3, count)
        _planes(per_face, chosen[0:6], chosen[10])
        sample = torch.div(kept, n_faces, rounding_mode="floor")
        face = kept - sample * n_faces
        _splat_faces(zbuffer, per_face, face, sample, sizes, height, width, perspective)
    # Low 32 bits hold the face id; keys at or beyond _FAR (and the empty key) are background.
    hit = torch.nonzero(zbuffer < _FAR_KEY).squeeze(1)
    face_hit = zbuffer.index_select(0, hit) & 0xFFFFFFFF
    face_ids = zbuffer.fill_(-1).index_copy_(0, hit, face_hit)
    # column of each winner in ``per_face``: a slot per face of the pass
    if count:
        slot = torch.empty(n_all, dtype=torch.int64, device=device)
        slot.index_copy_(0, kept, torch.arange(count, device=device))
        winner = slot.index_select(0, face_hit + torch.div(hit, height * width, rounding_mode="floor") * n_faces)
    else:
        winner = torch.zeros_like(hit)
    return face_ids, hit, winner, per_face


def _planes(table: torch.Tensor, corners: torch.Tensor, area: torch.Tensor) -> None:
    """Fill the barycentric planes ``l_k = a_k px + b_k py + c_k`` (the edge through corners
    k + 1, k + 2, cyclic, over the doubled area) and the depth plane ``sum_k l_k z_k``.

    table : (21, K) rows of ``_visible_faces``; corners : (6, K) corner x (3), y (3).
    """
    count = corners.shape[1]
    corner_x, corner_y = corners[0:3], corners[3:6]
    x_next, x_prev = corner_x.roll(-1, 0), corner_x.roll(1, 0)
    y_next, y_prev = corner_y.roll(-1, 0), corner_y.roll(1, 0)
    inverse = area.reciprocal_()
    corner_depth = table[_CORNER_DEPTH]
    for plane, value in zip(table[0:12].view(3, 4, count),
                            (y_next - y_prev, x_prev - x_next, (x_next * y_prev).sub_(x_prev * y_next))):
        torch.mul(value, inverse, out=plane[:3])
        weighted = plane[:3] * corner_depth
        torch.add(weighted[0], weighted[1], out=plane[3]).add_(weighted[2])


def _splat_faces(zbuffer: torch.Tensor, table: torch.Tensor, face: torch.Tensor, sample: torch.Tensor,
                 sizes: list[int], height: int, width: int, perspective: bool) -> None:
    """Write the keys of the candidate (face, pixel) pairs of the kept faces into ``zbuffer``.

    table : (21, K) float32 rows of ``_visible_faces``; face, sample : (K,) int64; sizes : the
    number of faces whose box's larger side is at most 2, 3, 4 pixels and more, in this order
    (contiguous blocks of the table).
    """
    start = 0
    # Small and medium faces: a fixed window of n x n pixels from the box's top-left pixel,
    # offsets clamped to the box (repeated pixels give the same key: harmless to amin).
    # Large faces: every pixel of the box, enumerated exactly.
    for window, size in zip((2, 3, 4, 0), sizes):
        stop = start + size
        if size:
            block = table[:16, start:stop]
            if window:
                _splat_window(zbuffer, block, face[start:stop], sample[start:stop], window, height, width, perspective)
            else:
                _splat_enumerated(zbuffer, block, face[start:stop], sample[start:stop], height, width, perspective)
        start = stop


def _splat_window(zbuffer: torch.Tensor, per_face: torch.Tensor, face: torch.Tensor, sample: torch.Tensor,
                  window: int, height: int, width: int, perspective: bool) -> None:
    """Candidates of a window x window block of pixels per face (see ``_splat_faces``).

    per_face : (16, K) float32 planes and pixel boxes; face, sample : (K,) int64.
    """
    steps = torch.arange(window, dtype=per_face.dtype, device=per_face.device)
    col, row, box_w, box_h = per_face[12:16]
    # window pixel k = (i, j) row-major: column offset j, row offset i, clamped to the box
    step_j = torch.minimum(steps.repeat(window)[:, None], box_w)  # (window^2, K)
    step_i = torch.minimum(steps.repeat_interleave(window)[:, None], box_h)
    px, py = step_j.add_(col), step_i.add_(row)
    values = torch.addcmul(per_face[8:12, None], per_face[0:4, None], px)  # (4 planes, window^2, K)
    values.addcmul_(per_face[4:8, None], py)
    key = _candidate_keys(values, perspective, face)
    # pixel index computed in floating point, exact below 2**24 (float32) or 2**53 (float64)
    if zbuffer.numel() <= 2**24:
        first = (sample * (height * width)).to(torch.float32)
        pixel = torch.addcmul(px.add_(first), py, torch.tensor(float(width), device=px.device)).long()
    else:
        first = (sample * (height * width)).to(torch.float64)
        pixel = torch.addcmul(px.double().add_(first), py.double(),
                              torch.tensor(float(width), dtype=torch.float64, device=px.device)).long()
    zbuffer.scatter_reduce_(0, pixel.view(-1), key.view(-1), reduce="amin", include_self=True)


def _splat_enumerated(zbuffer: torch.Tensor, per_face: torch.Tensor, face: torch.Tensor, sample: torch.Tensor,
                      height: int, width: int, perspective: bool) -> None:
    """Candidates of every pixel of each face's box (see ``_splat_faces``).

    per_face : (16, K) float32 planes and pixel boxes; face, sample : (K,) int64.
    """
    device = per_face.device
    col, row, box_w, box_h = per_face[12:16].long()
    box_cols = box_w + 1
    counts = box_cols * (box_h + 1)
    owner = torch.repeat_interleave(torch.arange(face.numel(), device=device), counts)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.arange(owner.numel(), device=device) - starts.index_select(0, owner)
    cols_per = box_cols.index_select(0, owner)
    # Division in float64 (exact for the integers involved; int64 division is slow on CPU).
    row_in_box = torch.floor(offset.double().add_(0.5).div_(cols_per.double())).long()
    rows = row.index_select(0, owner) + row_in_box
    cols = col.index_select(0, owner) + (offset - row_in_box * cols_per)
    planes = _columns(per_face[:12].contiguous(), owner)
    values = torch.addcmul(planes[8:12], planes[0:4], cols.to(planes.dtype))
    values.addcmul_(planes[4:8], rows.to(planes.dtype))
    key = _candidate_keys(values, perspective, face.index_select(0, owner))
    pixel = (sample.index_select(0, owner) * height + rows) * width + cols
    zbuffer.scatter_reduce_(0, pixel, key, reduce="amin", include_self=True)


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, image_size: int | tuple[int, int],
              camera: Camera | None = None, cull_backfaces: bool = True, dense: bool = True) -> Fragments:
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
    dense : bool
        also write the (B, H, W, 3) barycentric and (B, H, W) depth images; False leaves them
        None (the values at the covered pixels are in ``hit_bary``, ``hit_depth``).

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

    # Samples go through in groups of about _FACES_PER_PASS faces: fewer, longer passes spend
    # less on per-op overhead, while the memory of one pass stays bounded (tens of MB on a CPU,
    # where passes that fit the caches are also the fastest).
    per_pass = _FACES_PER_PASS_CUDA if vertices.device.type == "cuda" else _FACES_PER_PASS
    group = max(1, per_pass // max(n_faces, 1))
    # On a CPU with several torch threads the groups are rasterized at the same time, one per
    # thread (decomr.threads: most operations of a pass are too small for torch to spread them
    # well); a batch that fits one pass is split so that every thread has samples. Not for a
    # single sample (cutting its faces into runs in threads measured slower: the interpreter's
    # lock is then the limit), nor when gradients are asked for.
    threads = torch.get_num_threads() if vertices.device.type == "cpu" and not screen.requires_grad else 1
    if threads > 1 and batch > 1:
        # as many groups as a multiple of the threads, of equal sizes (32 samples of 9 per pass
        # on 2 threads: 4 groups of 8, not 9, 9, 9, 5)
        n_groups = -(-batch // group)
        n_groups = -(-n_groups // threads) * threads
        group = -(-batch // n_groups)
    znear = camera.znear if perspective else None
    n_pixels = height * width
    face_ids = torch.empty(batch * n_pixels, dtype=torch.int64, device=view.device)
    starts = list(range(0, batch, group))

    def run(start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        stop = min(batch, start + group)
        hit, bary_hit, depth_hit = _rasterize_group(screen[start:stop], faces, height, width, perspective,
                                                    cull_backfaces, znear, face_ids[start * n_pixels:stop * n_pixels])
        return (hit + start * n_pixels if start else hit), bary_hit, depth_hit

    pieces = map_in_threads(run, starts, threads)  # in this thread when threads or starts are 1
    hits, bary_hits, depth_hits = (list(values) for values in zip(*pieces))
    hit = torch.cat(hits) if len(hits) > 1 else hits[0]
    # (N, 3) as the transpose of (3, N) rows: the shading reads one corner's weights at a time
    bary_hit = (torch.cat(bary_hits, dim=1) if len(hits) > 1 else bary_hits[0]).t()
    depth_hit = torch.cat(depth_hits) if len(hits) > 1 else depth_hits[0]
    face_ids = face_ids.view(batch, height, width)
    if not dense:
        return Fragments(face_ids=face_ids, bary=None, depth=None, mask=face_ids >= 0, view_vertices=view,
                         camera_vertices=camera_vertices, hit=hit, hit_bary=bary_hit, hit_depth=depth_hit)
    bary = torch.zeros(batch * n_pixels * 3, dtype=screen.dtype, device=screen.device)
    depth = torch.zeros(batch * n_pixels, dtype=screen.dtype, device=screen.device)
    # flat (1-D) writes: index_copy of rows of 3 is many times slower on CPU
    bary_index = (hit[:, None] * 3 + torch.arange(3, device=hit.device)).view(-1)
    if bary_hit.requires_grad or depth_hit.requires_grad:
        bary = bary.index_copy(0, bary_index, bary_hit.reshape(-1))
        depth = depth.index_copy(0, hit, depth_hit)
    else:  # in place: no second copy of the images
        bary.index_copy_(0, bary_index, bary_hit.reshape(-1))
        depth.index_copy_(0, hit, depth_hit)
    return Fragments(
        face_ids=face_ids,
        bary=bary.view(batch, height, width, 3),
        depth=depth.view(batch, height, width),
        mask=face_ids >= 0,
        view_vertices=view,
        camera_vertices=camera_vertices,
        hit=hit,
        hit_bary=bary_hit,
        hit_depth=depth_hit,
    )


def _rasterize_group(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, perspective: bool,
                     cull_backfaces: bool, znear: float | None, face_ids: torch.Tensor):
    """Fragments of some samples, at their covered pixels only.

    screen : (b, V, 3) float tensor (px, py, depth), differentiable; face_ids : (b * H * W,)
    int64, filled with the face ids (-1 on background).

    Returns the covered pixels ``hit`` (N,) int64 (flat, ascending), their barycentrics as (3,
    N) rows (one per corner) and depth (N,), in ``screen``'s dtype.
    """
    batch, n_vertices, _ = screen.shape
    with torch.no_grad():
        face_ids, hit, winner, table = _visible_faces(screen.detach().to(torch.float32), faces, height, width,
                                                      perspective, cull_backfaces, znear, face_ids)
    n_pixels = height * width
    hit_batch = torch.div(hit, n_pixels, rounding_mode="floor")
    hit_pixel = hit - hit_batch * n_pixels
    if not screen.requires_grad and screen.dtype == torch.float32:
        # the winners' planes at the pixel centres (integers in plane coordinates), relative to
        # corner 0 of the face: small offsets keep float32 exact to ~1e-7 of the face's size
        planes = _columns(table, winner, _HIT_ROWS)  # (11, N)
        px = torch.remainder(hit_pixel, width).to(torch.float32)
        py = torch.div(hit_pixel, width, rounding_mode="floor").to(torch.float32)
        values = torch.addcmul(planes[0:3] * px.sub_(planes[6]), planes[3:6], py.sub_(planes[7]))  # l1, l2, depth - d0
        corner_depth = planes[8:11]
        bary_hit = torch.empty(3, hit.numel(), device=hit.device)
        bary_hit[1:3] = values[0:2]
        torch.sub(1.0, values[0], out=bary_hit[0]).sub_(values[1])
        if perspective:
            weighted = bary_hit.mul_(corner_depth)  # l_k / z_k
            inverse_depth = weighted[0] + weighted[1] + weighted[2]
            bary_hit = weighted.div_(inverse_depth)
            depth_hit = inverse_depth.reciprocal_()
        else:
            depth_hit = values[2].add_(corner_depth[0]).add_(_depth_origin(screen, hit_batch))
        return hit, bary_hit, depth_hit

    # Barycentrics and depth of the winners recomputed with differentiable ops.
    flat_ids = face_ids.index_select(0, hit)
    corners = faces.index_select(0, flat_ids) + (hit_batch * n_vertices)[:, None]
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
    return hit, bary_hit.t(), depth_hit


def _depth_origin(screen: torch.Tensor, hit_batch: torch.Tensor) -> torch.Tensor:
    """The per-sample shift ``_visible_faces`` took off weak-perspective depths, at the hits."""
    return (screen[..., 2].contiguous().amin(1) - 1.0).index_select(0, hit_batch)
