"""``Renderer``: an nn.Module holding a mesh's faces, UV map and face parts as buffers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .cameras import Camera, as_image_size
from .rasterize import Fragments, check_faces, rasterize
from .shading import (DirectionalLight, face_parts_from_vertex_parts, iuv_from_face_uv, render_depth, render_parts,
                      render_rgb)

__all__ = ["Renderer", "RenderOutput"]


@dataclass
class RenderOutput:
    """What ``Renderer.forward`` returns.

    Attributes
    ----------
    fragments : Fragments
        dense (``bary``, ``depth`` images) only when ``forward(..., dense=True)``.
    mask : (B, H, W) bool tensor
    depth : (B, H, W) float tensor (0 on background)
    iuv : (B, 3, H, W) float tensor or None (mask, U, V), when the renderer has a UV map
    parts : (B, H, W) int64 tensor or None (0 background, joint id + 1), when it has face parts
    """

    fragments: Fragments
    mask: torch.Tensor
    depth: torch.Tensor
    iuv: torch.Tensor | None
    parts: torch.Tensor | None


def _as_tensor(array, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array.detach().to(dtype).clone()
    return torch.as_tensor(np.asarray(array), dtype=dtype)


class Renderer(nn.Module):
    """Batched rasterizer for one mesh topology.

    Parameters
    ----------
    faces : (F, 3) int array or tensor
    image_size : int or (H, W)
    vt : (T, 2) float array or tensor, optional
        UV vertices (UV map file convention); needed for IUV and RGB.
    ft : (F, 3) int array or tensor, optional
    face_parts : (F,) int array or tensor, optional
        joint id (0..23) per face; see :meth:`from_vertex_parts` for per-vertex labels.
    cull_backfaces : bool

    Buffers (follow ``.to(device)``): ``faces`` (F, 3) int64, ``vt`` (T, 2) float32,
    ``ft`` (F, 3) int64, ``face_uv`` (F, 3, 2) float32 (``vt[ft]``, the UV per face corner),
    ``face_parts`` (F,) int64 (empty tensors when not given).
    """

    def __init__(self, faces, image_size: int | tuple[int, int], vt=None, ft=None, face_parts=None,
                 cull_backfaces: bool = True) -> None:
        super().__init__()
        faces_t = _as_tensor(faces, torch.int64)
        check_faces(faces_t)
        n_faces = faces_t.shape[0]
        self.image_size = as_image_size(image_size)
        self.cull_backfaces = bool(cull_backfaces)
        if (vt is None) != (ft is None):
            raise ValueError("give both vt and ft, or neither")
        vt_t = torch.zeros(0, 2) if vt is None else _as_tensor(vt, torch.float32)
        ft_t = torch.zeros(0, 3, dtype=torch.int64) if ft is None else _as_tensor(ft, torch.int64)
        if vt is not None:
            if vt_t.ndim != 2 or vt_t.shape[1] != 2:
                raise ValueError(f"vt must be (T, 2), got {tuple(vt_t.shape)}")
            check_faces(ft_t, vt_t.shape[0])
            if ft_t.shape[0] != n_faces:
                raise ValueError(f"ft must be ({n_faces}, 3) like faces, got {tuple(ft_t.shape)}")
        parts_t = torch.zeros(0, dtype=torch.int64) if face_parts is None else _as_tensor(face_parts, torch.int64)
        if face_parts is not None and tuple(parts_t.shape) != (n_faces,):
            raise ValueError(f"face_parts must be ({n_faces},), got {tuple(parts_t.shape)}")
        self.register_buffer("faces", faces_t)
        self.register_buffer("vt", vt_t)
        self.register_buffer("ft", ft_t)
        self.register_buffer("face_uv", vt_t[ft_t] if vt is not None else torch.zeros(0, 3, 2))
        self.register_buffer("face_parts", parts_t)

    @classmethod
    def from_vertex_parts(cls, faces, image_size, vertex_parts, vt=None, ft=None,
                          cull_backfaces: bool = True) -> "Renderer":
        """Like the constructor, with per-vertex joint ids (V,) turned into face parts by majority."""
        faces_t = _as_tensor(faces, torch.int64)
        parts = face_parts_from_vertex_parts(faces_t, _as_tensor(vertex_parts, torch.int64))
        return cls(faces_t, image_size, vt=vt, ft=ft, face_parts=parts, cull_backfaces=cull_backfaces)

    @property
    def has_uv(self) -> bool:
        return self.vt.numel() > 0

    @property
    def has_parts(self) -> bool:
        return self.face_parts.numel() > 0

    def rasterize(self, vertices: torch.Tensor, camera: Camera | None = None, dense: bool = True) -> Fragments:
        """(B, V, 3) float vertices -> Fragments (see :func:`decomr.render.rasterize`)."""
        return rasterize(vertices, self.faces, self.image_size, camera, self.cull_backfaces, dense)

    def iuv(self, fragments: Fragments) -> torch.Tensor:
        """(B, 3, H, W) float IUV image."""
        if not self.has_uv:
            raise ValueError("this Renderer has no UV map: pass vt and ft")
        return iuv_from_face_uv(fragments, self.face_uv)

    def parts(self, fragments: Fragments) -> torch.Tensor:
        """(B, H, W) int64 part labels (0 background, joint id + 1)."""
        if not self.has_parts:
            raise ValueError("this Renderer has no face parts: pass face_parts")
        return render_parts(fragments, self.face_parts)

    def rgb(self, fragments: Fragments, texture: torch.Tensor, light: DirectionalLight | None = None,
            background: float | tuple[float, float, float] = 0.0) -> torch.Tensor:
        """(B, 3, H, W) float shaded image from a (B or 1, 3, Ht, Wt) float UV texture."""
        if not self.has_uv:
            raise ValueError("this Renderer has no UV map: pass vt and ft")
        return render_rgb(fragments, self.faces, texture, self.vt, self.ft, light, background)

    def forward(self, vertices: torch.Tensor, camera: Camera | None = None, dense: bool = False) -> RenderOutput:
        """Rasterize and derive mask, depth, and IUV / parts when available.

        vertices : (B, V, 3) float tensor in the camera convention (``decomr.render.cameras``).
        dense : bool
            also give the fragments their (B, H, W, 3) barycentric image (default: the
            barycentrics at the covered pixels only, ``fragments.hit_bary``; the outputs are
            the same).
        """
        fragments = self.rasterize(vertices, camera, dense=dense)
        return RenderOutput(
            fragments=fragments,
            mask=fragments.mask,
            depth=render_depth(fragments),
            iuv=self.iuv(fragments) if self.has_uv else None,
            parts=self.parts(fragments) if self.has_parts else None,
        )

    def extra_repr(self) -> str:
        return (f"faces={self.faces.shape[0]}, image_size={self.image_size}, uv={self.has_uv}, "
                f"parts={self.has_parts}, cull_backfaces={self.cull_backfaces}")
