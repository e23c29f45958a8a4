"""3D pictures of a predicted mesh: front and side views as PNG files.

Two back ends:

- ``pyvista``: an offscreen VTK screenshot (smooth shading, specular light), when pyvista is
  installed (``pip install uvkit-decomr[view]``) and can render offscreen here;
- ``renderer``: the project's own PyTorch rasterizer (:mod:`decomr.render`) with Lambert
  shading, which needs no display, no OpenGL and no extra package.

``backend="auto"`` tries pyvista once per process and falls back to the project's renderer when
pyvista is missing or cannot render (no display, no offscreen OpenGL): a missing display never
stops a prediction.

Meshes are in camera axes (+x right, +y down, +z away from the camera, as decomr predicts
them). The front view looks along +z (the camera's own view), the side view looks along -x
(from the person's left when they face the camera), both orthographic, with the body fitted
into the picture.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uvkit.atomic import atomic_path

__all__ = ["VIEWS", "VIEW_BACKENDS", "ViewResult", "check_view_backend", "pyvista_available", "render_views"]

log = logging.getLogger(__name__)

#: the views :func:`render_views` draws, by name: direction the viewer looks along, in camera axes.
VIEWS: dict[str, tuple[float, float, float]] = {"front": (0.0, 0.0, 1.0), "side": (-1.0, 0.0, 0.0)}
#: back ends: ``auto`` (pyvista when it can render, else the project's renderer), ``pyvista``,
#: ``renderer``.
VIEW_BACKENDS: tuple[str, ...] = ("auto", "pyvista", "renderer")
#: the mesh's colour in both back ends (RGB in [0, 1]).
MESH_COLOUR = (0.70, 0.76, 0.86)
#: the picture's background (RGB in [0, 1]).
BACKGROUND = (1.0, 1.0, 1.0)

_PYVISTA_STATE: dict[str, object] = {}


@dataclass
class ViewResult:
    """The pictures written by :func:`render_views`.

    Attributes
    ----------
    paths : dict of str to Path
        view name -> PNG file.
    backend : str
        ``pyvista`` or ``renderer``: what drew them.
    note : str
        why pyvista was not used ("" when it was, or when not asked for).
    """

    paths: dict[str, Path] = field(default_factory=dict)
    backend: str = "renderer"
    note: str = ""


def check_view_backend(name: str) -> str:
    """Return ``name`` if it is one of :data:`VIEW_BACKENDS`, else raise ``ValueError``."""
    if name not in VIEW_BACKENDS:
        raise ValueError(f"unknown view backend {name!r}; valid choices: {', '.join(VIEW_BACKENDS)}")
    return name


def pyvista_available() -> tuple[bool, str]:
    """Whether pyvista is installed and rendered a test picture offscreen (checked once per
    process); the second value says why not."""
    if "ok" not in _PYVISTA_STATE:
        try:
            import pyvista  # noqa: F401
        except ImportError:
            _PYVISTA_STATE.update(ok=False, note="pyvista is not installed (pip install uvkit-decomr[view])")
        else:
            try:
                _pyvista_screenshot(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
                                    np.array([[0, 1, 2]]), VIEWS["front"], 16)
                _PYVISTA_STATE.update(ok=True, note="")
            except Exception as error:  # no display, no offscreen OpenGL, broken VTK build
                _PYVISTA_STATE.update(ok=False, note=f"pyvista cannot render offscreen here: "
                                                     f"{type(error).__name__}: {error}")
    return bool(_PYVISTA_STATE["ok"]), str(_PYVISTA_STATE["note"])


def _view_frame(direction: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal (right, down, forward) axes of a viewer looking along ``direction`` with the
    camera's +y (down) as the picture's down."""
    forward = np.asarray(direction, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    down = np.array([0.0, 1.0, 0.0])
    down = down - forward * (down @ forward)
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    return right, down, forward


def _pyvista_screenshot(vertices: np.ndarray, faces: np.ndarray, direction, size: int) -> np.ndarray:
    """(size, size, 3) uint8 offscreen screenshot of the mesh seen along ``direction``."""
    import pyvista as pv

    cells = np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), np.asarray(faces, dtype=np.int64)]).ravel()
    mesh = pv.PolyData(np.asarray(vertices, dtype=np.float64), cells)
    plotter = pv.Plotter(off_screen=True, window_size=(size, size))
    try:
        plotter.set_background(BACKGROUND)
        plotter.add_mesh(mesh, color=MESH_COLOUR, smooth_shading=True, specular=0.2)
        right, down, forward = _view_frame(direction)
        centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
        extent = float(np.ptp(vertices, axis=0).max()) or 1.0
        plotter.camera.position = tuple(centre - forward * 3.0 * extent)
        plotter.camera.focal_point = tuple(centre)
        plotter.camera.up = tuple(-down)
        plotter.camera.parallel_projection = True
        plotter.reset_camera()
        plotter.camera.parallel_scale = 0.55 * _fit_extent(vertices, right, down)
        image = plotter.screenshot(return_img=True)
    finally:
        plotter.close()
    return np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)


def _fit_extent(vertices: np.ndarray, right: np.ndarray, down: np.ndarray) -> float:
    """The larger of the mesh's width and height in a view (at least a small positive value)."""
    span_x = float(np.ptp(vertices @ right))
    span_y = float(np.ptp(vertices @ down))
    return max(span_x, span_y, 1e-6)


def _renderer_picture(vertices: np.ndarray, faces: np.ndarray, direction, size: int) -> np.ndarray:
    """(size, size, 3) uint8 picture from the project's rasterizer (orthographic, Lambert)."""
    import torch

    from decomr.render.rasterize import rasterize
    from decomr.render.shading import vertex_normals

    right, down, forward = _view_frame(direction)
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    scale = 2.0 / (1.1 * _fit_extent(vertices, right, down))
    local = (vertices - centre) @ np.stack([right, down, forward], axis=1)  # (V, 3) view axes
    screen = np.concatenate([local[:, :2] * scale, local[:, 2:]], axis=1)
    points = torch.as_tensor(screen, dtype=torch.float32)[None]
    faces_t = torch.as_tensor(np.asarray(faces, dtype=np.int64))
    fragments = rasterize(points, faces_t, (size, size), camera=None, cull_backfaces=False)
    normals = vertex_normals(points, faces_t)[0]  # view axes (screen x, y scaled alike: directions kept)
    face_ids = fragments.face_ids[0]
    covered = face_ids >= 0
    corner_normals = normals[faces_t[face_ids.clamp(min=0)]]  # (H, W, 3, 3)
    pixel_normal = (corner_normals * fragments.bary[0][..., None]).sum(dim=2)
    pixel_normal = torch.nn.functional.normalize(pixel_normal, dim=-1)
    light = (0.35 + 0.65 * pixel_normal[..., 2].abs()).clamp(0.0, 1.0)
    colour = torch.tensor(MESH_COLOUR)[None, None] * light[..., None]
    background = torch.tensor(BACKGROUND).expand_as(colour)
    picture = torch.where(covered[..., None], colour, background)
    return (picture.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


def render_views(vertices: np.ndarray, faces: np.ndarray, out_prefix: str | os.PathLike, size: int = 512,
                 backend: str = "auto", views: tuple[str, ...] = ("front", "side")) -> ViewResult:
    """Write front and side pictures of a mesh as ``<out_prefix>_<view>.png``.

    Parameters
    ----------
    vertices : (V, 3) float array
        camera axes (+x right, +y down, +z away from the camera).
    faces : (F, 3) int array
    out_prefix : str or PathLike
        the pictures' path without the ``_<view>.png`` ending; its folder must exist.
    size : int
        picture side in pixels (>= 16).
    backend : str
        one of :data:`VIEW_BACKENDS`. ``pyvista`` raises ``RuntimeError`` when pyvista cannot
        render; ``auto`` falls back to the project's renderer.
    views : tuple of str
        names from :data:`VIEWS`.

    Returns
    -------
    ViewResult
    """
    from PIL import Image

    check_view_backend(backend)
    size = int(size)
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    unknown = [name for name in views if name not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; valid choices: {', '.join(VIEWS)}")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"expected vertices (V, 3) and faces (F, 3), got {vertices.shape} and {faces.shape}")
    note = ""
    use_pyvista = False
    if backend in ("auto", "pyvista"):
        use_pyvista, note = pyvista_available()
        if backend == "pyvista" and not use_pyvista:
            raise RuntimeError(note)
    result = ViewResult(backend="pyvista" if use_pyvista else "renderer", note=note)
    prefix = Path(out_prefix)
    for name in views:
        picture = None
        if use_pyvista:
            try:
                picture = _pyvista_screenshot(vertices, faces, VIEWS[name], size)
            except Exception as error:  # a later failure: fall back for this and later views
                if backend == "pyvista":
                    raise RuntimeError(f"pyvista failed: {type(error).__name__}: {error}") from error
                log.warning("pyvista failed (%s: %s); using the project's renderer", type(error).__name__, error)
                use_pyvista = False
                result.backend = "renderer"
                result.note = f"pyvista failed: {type(error).__name__}: {error}"
        if picture is None:
            picture = _renderer_picture(vertices, faces, VIEWS[name], size)
        path = prefix.with_name(f"{prefix.name}_{name}.png")
        with atomic_path(path) as tmp:
            Image.fromarray(picture).save(tmp, format="PNG")
        result.paths[name] = path
    return result
