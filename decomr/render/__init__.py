"""Batched z-buffer rendering in plain PyTorch: face ids, barycentrics, depth, IUV, parts, RGB.

No compiled extension and no OpenGL: runs wherever torch runs (CPU, CUDA). The image and
camera conventions, shared with 2D-joint projection, are documented in
:mod:`decomr.render.cameras`; :func:`project` is exactly the rasterizer's projection.
"""
from .cameras import (Camera, PerspectiveCamera, WeakPerspectiveCamera, ndc_to_pixel, pixel_centers, pixel_to_ndc,
                      project, smpl_to_camera_axes, transform_points)
from .rasterize import Fragments, rasterize
from .renderer import Renderer, RenderOutput
from .shading import (DirectionalLight, face_parts_from_vertex_parts, interpolate_face_attributes, iuv_from_face_uv,
                      render_depth, render_iuv, render_parts, render_rgb, vertex_normals)

__all__ = [
    "Camera", "WeakPerspectiveCamera", "PerspectiveCamera", "project", "transform_points",
    "pixel_centers", "ndc_to_pixel", "pixel_to_ndc", "smpl_to_camera_axes",
    "Fragments", "rasterize",
    "Renderer", "RenderOutput",
    "DirectionalLight", "interpolate_face_attributes", "render_iuv", "iuv_from_face_uv", "render_parts",
    "render_depth", "render_rgb", "vertex_normals", "face_parts_from_vertex_parts",
]
