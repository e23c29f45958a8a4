"""Images from fragments: IUV, part labels, depth, and Lambert-shaded RGB from a UV texture.

UV conventions are those of the UV map file (docs/formats.md): ``u`` runs along texture
columns, ``v`` along rows, texel (r, c) of an Ht x Wt texture sits at
``(u, v) = (c / (Wt - 1), r / (Ht - 1))`` (``align_corners=True``).

Part labels: 0 is background, a covered pixel holds ``joint id + 1`` (1..24, the SMPL joint
order of ``uvkit.parts.JOINT_NAMES``) of its face.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .rasterize import Fragments, _columns, _kept, check_faces

__all__ = [
    "DirectionalLight",
    "interpolate_face_attributes",
    "render_iuv",
    "iuv_from_face_uv",
    "render_parts",
    "render_depth",
    "render_rgb",
    "vertex_normals",
    "face_parts_from_vertex_parts",
    "face_values_at_hits",
    "iuv_from_hits",
]


@dataclass
class DirectionalLight:
    """Lambert + ambient lighting in camera space.

    Attributes
    ----------
    direction : (3,) sequence of float
        direction the light travels, camera space (default: from the camera into the scene).
    ambient : float
    diffuse : float
        a pixel's colour is ``texture * (ambient + diffuse * max(0, n . -direction))``.
    """

    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    ambient: float = 0.4
    diffuse: float = 0.6


def _check_uv(vt: torch.Tensor, ft: torch.Tensor, n_faces: int | None = None) -> None:
    if not isinstance(vt, torch.Tensor) or vt.ndim != 2 or vt.shape[1] != 2:
        raise ValueError(f"vt must be a (T, 2) float tensor, got {getattr(vt, 'shape', type(vt).__name__)}")
    check_faces(ft, vt.shape[0])
    if n_faces is not None and ft.shape[0] < n_faces:
        raise ValueError(f"ft must be an (F, 3) tensor with one row per mesh face; fragments reference face "
                         f"{n_faces - 1}, ft has {ft.shape[0]} rows")


def interpolate_face_attributes(fragments: Fragments, face_attributes: torch.Tensor) -> torch.Tensor:
    """Blend per-corner attributes with the fragments' barycentrics.

    Parameters
    ----------
    fragments : Fragments
    face_attributes : (F, 3, D) or (B, F, 3, D) float tensor
        one value per face corner.

    Returns
    -------
    (B, H, W, D) float tensor, 0 on background; differentiable in the attributes and the
    barycentrics.
    """
    batch, height, width = fragments.face_ids.shape
    if face_attributes.ndim == 3:
        face_attributes = face_attributes[None]
    if face_attributes.ndim != 4 or face_attributes.shape[2] != 3:
        raise ValueError(f"face_attributes must be (F, 3, D) or (B, F, 3, D), got {tuple(face_attributes.shape)}")
    if face_attributes.shape[0] not in (1, batch):
        raise ValueError(f"face_attributes batch {face_attributes.shape[0]} does not match fragments batch {batch}")
    n_faces, dim = face_attributes.shape[1], face_attributes.shape[3]
    flat_ids = fragments.face_ids.reshape(-1)
    if flat_ids.numel() and int(flat_ids.max()) >= n_faces:
        raise ValueError(f"fragments reference faces beyond the {n_faces} rows of face_attributes")
    # Only covered pixels are blended (bodies cover a small part of a crop); background stays 0.
    hit = fragments.covered()
    face = flat_ids.index_select(0, hit)
    if face_attributes.shape[0] == 1:
        corner_values = face_attributes[0].index_select(0, face)  # (N, 3, D)
    else:
        sample = torch.div(hit, height * width, rounding_mode="floor")
        corner_values = face_attributes.reshape(batch * n_faces, 3, dim).index_select(0, face + sample * n_faces)
    bary = fragments.bary_at(hit).to(corner_values.dtype)
    # Three products instead of a sum over the corner axis (a size-3 reduction is slow on CPU).
    values = (corner_values[:, 0] * bary[:, 0:1] + corner_values[:, 1] * bary[:, 1:2]
              + corner_values[:, 2] * bary[:, 2:3])
    # flat (1-D) writes: index_copy of short rows is many times slower on CPU
    out = torch.zeros(batch * height * width * dim, dtype=values.dtype, device=values.device)
    index = (hit[:, None] * dim + torch.arange(dim, device=hit.device)).view(-1)
    out = out.index_copy(0, index, values.reshape(-1)) if values.requires_grad else \
        out.index_copy_(0, index, values.reshape(-1))
    return out.view(batch, height, width, dim)


def _corner_rows(face_attributes: torch.Tensor) -> torch.Tensor:
    """(F, 3, D) per-corner attributes as contiguous (3 D, F) rows (row ``k D + d``: corner k,
    channel d), so that each row gathers and blends as one contiguous vector.

    Kept between calls (:func:`decomr.render.rasterize._kept`: a renderer passes the same UV
    every frame) for attributes that need no gradient.
    """
    n_faces = face_attributes.shape[0]

    def make() -> torch.Tensor:
        return face_attributes.reshape(n_faces, -1).t().contiguous()

    return make() if face_attributes.requires_grad else _kept(face_attributes, "corner rows", make)


def face_values_at_hits(fragments: Fragments, face_attributes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-corner attributes blended at the covered pixels only.

    face_attributes : (F, 3, D) float tensor. Returns the covered pixels ``hit`` (N,) int64 (flat
    indices into (B, H, W)) and the blended values (N, D): the transpose of a contiguous (D, N)
    tensor (``values.t()`` is contiguous: one row per channel).
    """
    hit = fragments.covered()
    face = fragments.face_ids.reshape(-1).index_select(0, hit)
    n_faces, _, dim = face_attributes.shape
    if face.numel() and int(face.max()) >= n_faces:
        raise ValueError(f"fragments reference faces beyond the {n_faces} rows of the face attributes")
    corner = _columns(_corner_rows(face_attributes), face)        # (3 D, N)
    weights = fragments.bary_at(hit).t().to(corner.dtype)
    if not weights.is_contiguous():
        weights = weights.contiguous()
    # c0 w0 + c1 w1 + c2 w2 per channel, summed in this order (in place on the product, which
    # autograd does not keep)
    values = corner[0:dim] * weights[0]
    values.add_(corner[dim:2 * dim] * weights[1]).add_(corner[2 * dim:] * weights[2])
    return hit, values.t()


def iuv_from_hits(hit: torch.Tensor, uv: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """(B, 3, H, W) IUV image from (N, 2) ``uv`` at the covered pixels ``hit`` (flat indices
    into (B, H, W)): mask 1 and (u, v) there, 0 elsewhere."""
    n_pixels = height * width
    channel0 = hit + torch.div(hit, n_pixels, rounding_mode="floor") * (2 * n_pixels)
    iuv = torch.zeros(batch * 3 * n_pixels, dtype=uv.dtype, device=uv.device)
    iuv.index_fill_(0, channel0, 1.0)
    if uv.requires_grad:
        index = (channel0[:, None] + torch.tensor([n_pixels, 2 * n_pixels], device=hit.device)).view(-1)
        iuv = iuv.index_copy(0, index, uv.reshape(-1))
    else:  # in place, one channel at a time (rows of uv.t(): contiguous for face_values_at_hits' values)
        u, v = uv.t()
        iuv.index_copy_(0, channel0 + n_pixels, u)
        iuv.index_copy_(0, channel0 + 2 * n_pixels, v)
    return iuv.view(batch, 3, height, width)


def render_iuv(fragments: Fragments, vt: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """The IUV image: mask, U, V.

    Parameters
    ----------
    fragments : Fragments
    vt : (T, 2) float tensor
        UV vertices in [0, 1]^2 (UV map file convention).
    ft : (F, 3) int64 tensor
        UV triangle of each mesh face.

    Returns
    -------
    (B, 3, H, W) float tensor
        channel 0 the mask (1 on the body), channels 1, 2 the interpolated (u, v); all 0 on
        background.
    """
    _check_uv(vt, ft)
    return iuv_from_face_uv(fragments, vt[ft.long()])


def iuv_from_face_uv(fragments: Fragments, face_uv: torch.Tensor) -> torch.Tensor:
    """:func:`render_iuv` with the UV of every face corner given, (F, 3, 2) float tensor."""
    batch, height, width = fragments.face_ids.shape
    if face_uv.ndim != 3 or face_uv.shape[1:] != (3, 2):
        raise ValueError(f"face_uv must be (F, 3, 2), got {tuple(face_uv.shape)}")
    dtype = fragments.hit_bary.dtype if fragments.bary is None else fragments.bary.dtype
    hit, uv = face_values_at_hits(fragments, face_uv.to(dtype))  # (N, 2)
    return iuv_from_hits(hit, uv, batch, height, width)


def render_parts(fragments: Fragments, face_parts: torch.Tensor) -> torch.Tensor:
    """Part label image.

    Parameters
    ----------
    fragments : Fragments
    face_parts : (F,) int64 tensor
        joint id (0..23) of each face.

    Returns
    -------
    (B, H, W) int64 tensor: 0 on background, ``face_parts[face] + 1`` on the body.
    """
    if not isinstance(face_parts, torch.Tensor) or face_parts.ndim != 1 or face_parts.is_floating_point():
        raise ValueError(f"face_parts must be an (F,) int64 tensor, got {getattr(face_parts, 'shape', face_parts)}")
    hit = fragments.covered()
    labels = face_parts.long().index_select(0, fragments.face_ids.reshape(-1).index_select(0, hit)) + 1
    out = torch.zeros(fragments.face_ids.numel(), dtype=torch.int64, device=labels.device)
    return out.index_copy_(0, hit, labels).view(fragments.face_ids.shape)


def render_depth(fragments: Fragments, background: float = 0.0) -> torch.Tensor:
    """(B, H, W) float depth image (smaller is nearer) with ``background`` off the body."""
    depth = fragments.depth
    if depth is None:  # rasterized with dense=False: the depth at the covered pixels
        values = fragments.hit_depth
        flat = torch.full((fragments.face_ids.numel(),), float(background), dtype=values.dtype, device=values.device)
        flat = flat.index_copy(0, fragments.hit, values) if values.requires_grad else \
            flat.index_copy_(0, fragments.hit, values)
        return flat.view(fragments.face_ids.shape)
    if background == 0.0:
        return depth  # already 0 off the body
    return torch.where(fragments.mask, depth, torch.full_like(depth, background))


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals.

    vertices : (B, V, 3) float tensor; faces : (F, 3) int64 (counter-clockwise seen from outside).
    Returns (B, V, 3) float tensor (outward for a closed mesh); differentiable.
    """
    corners = vertices[:, faces.long()]  # (B, F, 3, 3)
    face_normals = torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals = normals.index_add(1, faces[:, k].long(), face_normals)
    return F.normalize(normals, dim=-1, eps=1e-12)


def render_rgb(fragments: Fragments, faces: torch.Tensor, texture: torch.Tensor, vt: torch.Tensor,
               ft: torch.Tensor, light: DirectionalLight | None = None,
               background: float | tuple[float, float, float] = 0.0) -> torch.Tensor:
    """Shaded RGB sampled from a UV texture.

    Parameters
    ----------
    fragments : Fragments
        its ``camera_vertices`` give the smooth (vertex) normals.
    faces : (F, 3) int64 tensor
    texture : (B or 1, 3, Ht, Wt) float tensor
        in the UV map convention (row = v, column = u, align_corners=True).
    vt : (T, 2) float tensor; ft : (F, 3) int64 tensor
    light : DirectionalLight, optional
    background : float or RGB triple

    Returns
    -------
    (B, 3, H, W) float tensor; differentiable in the texture (and, inside faces, the vertices).
    """
    batch, height, width = fragments.face_ids.shape
    if not isinstance(texture, torch.Tensor) or texture.ndim != 4 or texture.shape[1] != 3 \
            or texture.shape[0] not in (1, batch):
        raise ValueError(f"texture must be a (B or 1, 3, Ht, Wt) float tensor with B = {batch}, "
                         f"got {getattr(texture, 'shape', type(texture).__name__)}")
    check_faces(faces)
    _check_uv(vt, ft)
    light = light or DirectionalLight()
    dtype = fragments.bary.dtype
    uv = interpolate_face_attributes(fragments, vt.to(dtype)[ft.long()])  # (B, H, W, 2)
    grid = uv * 2.0 - 1.0
    texture = texture.to(dtype).expand(batch, -1, -1, -1)
    colour = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=True)

    normals = vertex_normals(fragments.camera_vertices.to(dtype), faces)
    pixel_normals = interpolate_face_attributes(fragments, normals[:, faces.long()])  # (B, H, W, 3)
    pixel_normals = F.normalize(pixel_normals, dim=-1, eps=1e-12)
    direction = torch.as_tensor(light.direction, dtype=dtype, device=uv.device)
    direction = direction / direction.norm().clamp(min=1e-12)
    lambert = (pixel_normals @ -direction).clamp(min=0.0)
    shade = (light.ambient + light.diffuse * lambert)[:, None]  # (B, 1, H, W)
    mask = fragments.mask[:, None].to(dtype)
    fill = torch.as_tensor(background, dtype=dtype, device=uv.device).reshape(-1)
    fill = fill.expand(3).reshape(1, 3, 1, 1) if fill.numel() in (1, 3) else None
    if fill is None:
        raise ValueError(f"background must be a float or an RGB triple, got {background!r}")
    return colour * shade * mask + fill * (1.0 - mask)


def face_parts_from_vertex_parts(faces: torch.Tensor, vertex_parts: torch.Tensor) -> torch.Tensor:
    """Part of each face from per-vertex parts: the majority of its corners, else corner 0's.

    faces : (F, 3) int64; vertex_parts : (V,) int64 joint ids. Returns (F,) int64.
    """
    check_faces(faces)
    if vertex_parts.ndim != 1:
        raise ValueError(f"vertex_parts must be a (V,) int64 tensor, got {tuple(vertex_parts.shape)}")
    corner = vertex_parts.long()[faces.long()]  # (F, 3)
    a, b, c = corner.unbind(-1)
    return torch.where((b == c) & (a != b), b, a)
