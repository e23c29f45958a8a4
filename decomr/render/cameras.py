"""Cameras and the one image convention shared by rendering and 2D-joint projection.

Image convention
----------------
- Camera space is the usual one of SMPL-based codes (OpenCV axes): +x right, +y **down**,
  +z forward (away from the camera). Nearer points have smaller depth z.
- Normalised image coordinates (x, y) run over [-1, 1] x [-1, 1] across the whole image:
  (-1, -1) is the top-left **corner** of the top-left pixel, (1, 1) the bottom-right corner of
  the bottom-right pixel (``align_corners=False`` in ``grid_sample`` terms). Pixel (row i,
  column j) of an H x W image has its centre at ``x = (2 j + 1) / W - 1``,
  ``y = (2 i + 1) / H - 1``. Continuous pixel coordinates are ``px = (x + 1) W / 2``,
  ``py = (y + 1) H / 2``, so the centre of pixel (i, j) is at ``(j + 0.5, i + 0.5)``.
- Body templates are Y-up (SMPL axes: +Y up, +Z front). No camera flips axes: a body in its
  rest frame is brought into camera space by a 180 degree turn about x (``smpl_to_camera_axes``,
  i.e. a global orientation of ``(pi, 0, 0)`` as SMPL-based datasets store it). It then stands
  upright in the image and faces the camera, which looks along +z.

:func:`project` is exactly the projection the rasterizer uses, so 2D joints and rendered pixels
agree.

Cameras
-------
- :class:`WeakPerspectiveCamera` (the DecoMR camera, ``(s, tx, ty)``):
  ``x = s (X + tx)``, ``y = s (Y + ty)``, depth ``Z`` (normalised crop coordinates).
- :class:`PerspectiveCamera`: ``X_c = R X + t``; ``px = fx X_c / Z_c + cx``,
  ``py = fy Y_c / Z_c + cy`` in continuous pixel coordinates (principal point ``(W/2, H/2)`` is
  the image centre; OpenCV intrinsics, whose pixel centres sit at integers, need ``+0.5`` on
  ``cx, cy``); depth ``Z_c``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = [
    "WeakPerspectiveCamera",
    "PerspectiveCamera",
    "Camera",
    "project",
    "transform_points",
    "pixel_centers",
    "ndc_to_pixel",
    "pixel_to_ndc",
    "smpl_to_camera_axes",
    "as_image_size",
]


def as_image_size(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """``int`` or ``(H, W)`` -> ``(H, W)`` of positive ints."""
    if isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}")
    return size  # type: ignore[return-value]


def _check_points(points: torch.Tensor, name: str = "points") -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 3 or points.shape[-1] != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{name} must be a (B, N, 3) float tensor, got {shape}")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be a floating point tensor, got {points.dtype}")


def _batch_of(tensor: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """Broadcast a camera parameter with leading dim 1 or B to B."""
    if tensor.shape[0] not in (1, batch):
        raise ValueError(f"camera {name} has batch {tensor.shape[0]}, points have batch {batch}")
    return tensor.expand(batch, *tensor.shape[1:])


@dataclass
class WeakPerspectiveCamera:
    """The DecoMR weak-perspective camera.

    Attributes
    ----------
    params : (B, 3) float tensor
        ``(s, tx, ty)`` per sample (B may be 1 to share one camera).
        ``x = s (X + tx)``, ``y = s (Y + ty)`` in normalised image coordinates; depth is ``Z``.
    """

    params: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.params, torch.Tensor) or self.params.ndim != 2 or self.params.shape[1] != 3:
            shape = tuple(self.params.shape) if isinstance(self.params, torch.Tensor) else type(self.params).__name__
            raise ValueError(f"WeakPerspectiveCamera params must be a (B, 3) tensor (s, tx, ty), got {shape}")

    is_perspective = False

    def transform(self, points: torch.Tensor, image_size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, N, 3) points -> (B, N, 3) (x, y normalised, depth); differentiable."""
        _check_points(points)
        params = _batch_of(self.params.to(points), points.shape[0], "params")
        scale = params[:, None, 0:1]
        xy = scale * (points[..., :2] + params[:, None, 1:3])
        return torch.cat([xy, points[..., 2:3]], dim=-1)

    def to(self, *args, **kwargs) -> "WeakPerspectiveCamera":
        return replace(self, params=self.params.to(*args, **kwargs))


@dataclass
class PerspectiveCamera:
    """A pinhole camera in pixel units.

    Attributes
    ----------
    focal_length : (B,) or (B, 2) float tensor
        pixels; ``(fx, fy)`` when two values.
    principal_point : (B, 2) float tensor
        ``(cx, cy)`` in continuous pixel coordinates (image centre ``(W / 2, H / 2)``).
    translation : (B, 3) float tensor
        ``t`` in ``X_c = R X + t``.
    image_size : (H, W)
        the image the pixel units refer to.
    rotation : (B, 3, 3) float tensor or None
        ``R``; identity when None.
    znear : float
        faces with a corner at depth ``<= znear`` are not rasterized (no clipping).
    """

    focal_length: torch.Tensor
    principal_point: torch.Tensor
    translation: torch.Tensor
    image_size: tuple[int, int]
    rotation: torch.Tensor | None = None
    znear: float = 1e-3

    is_perspective = True

    def __post_init__(self) -> None:
        self.image_size = as_image_size(self.image_size)
        f = self.focal_length
        if not isinstance(f, torch.Tensor) or not (f.ndim == 1 or (f.ndim == 2 and f.shape[1] == 2)):
            raise ValueError(f"focal_length must be a (B,) or (B, 2) tensor, got {getattr(f, 'shape', f)}")
        p = self.principal_point
        if not isinstance(p, torch.Tensor) or p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"principal_point must be a (B, 2) tensor, got {getattr(p, 'shape', p)}")
        t = self.translation
        if not isinstance(t, torch.Tensor) or t.ndim != 2 or t.shape[1] != 3:
            raise ValueError(f"translation must be a (B, 3) tensor, got {getattr(t, 'shape', t)}")
        r = self.rotation
        if r is not None and (not isinstance(r, torch.Tensor) or r.ndim != 3 or r.shape[1:] != (3, 3)):
            raise ValueError(f"rotation must be a (B, 3, 3) tensor or None, got {getattr(r, 'shape', r)}")

    @classmethod
    def from_weak_perspective(cls, camera: WeakPerspectiveCamera, focal_length: float,
                              image_size: int | tuple[int, int]) -> "PerspectiveCamera":
        """The perspective camera that matches a weak-perspective one at depth Z = 0.

        ``t = (tx, ty, 2 f / (W s))`` with the principal point at the image centre: the common
        conversion of SMPL-based codes (square images assumed for an exact match).
        """
        height, width = as_image_size(image_size)
        s, tx, ty = camera.params.unbind(-1)
        tz = 2.0 * focal_length / (width * s)
        batch = camera.params.shape[0]
        like = camera.params
        return cls(
            focal_length=torch.full((batch,), float(focal_length), dtype=like.dtype, device=like.device),
            principal_point=torch.tensor([[width / 2.0, height / 2.0]], dtype=like.dtype,
                                         device=like.device).expand(batch, 2),
            translation=torch.stack([tx, ty, tz], dim=-1),
            image_size=(height, width),
        )

    def camera_space(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) points -> (B, N, 3) ``R X + t``."""
        _check_points(points)
        batch = points.shape[0]
        if self.rotation is not None:
            rotation = _batch_of(self.rotation.to(points), batch, "rotation")
            points = points @ rotation.transpose(1, 2)
        return points + _batch_of(self.translation.to(points), batch, "translation")[:, None]

    def transform(self, points: torch.Tensor, image_size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, N, 3) points -> (B, N, 3) (x, y normalised, depth ``Z_c``); differentiable.

        ``image_size`` must equal the camera's own when given (pixel units refer to it).
        """
        if image_size is not None and as_image_size(image_size) != self.image_size:
            raise ValueError(f"PerspectiveCamera was made for image size {self.image_size}, "
                             f"asked to render {as_image_size(image_size)}")
        cam = self.camera_space(points)
        batch = points.shape[0]
        focal = _batch_of(self.focal_length.to(points), batch, "focal_length")
        focal = focal[:, None, None] if focal.ndim == 1 else focal[:, None, :]
        centre = _batch_of(self.principal_point.to(points), batch, "principal_point")[:, None]
        depth = cam[..., 2:3]
        # Points behind the camera get a finite (meaningless) position; faces touching them are
        # dropped by the rasterizer through znear.
        safe = torch.where(depth.abs() > 1e-12, depth, torch.full_like(depth, 1e-12))
        pixel = focal * cam[..., :2] / safe + centre
        height, width = self.image_size
        scale = torch.tensor([2.0 / width, 2.0 / height], dtype=points.dtype, device=points.device)
        return torch.cat([pixel * scale - 1.0, depth], dim=-1)

    def to(self, *args, **kwargs) -> "PerspectiveCamera":
        move = lambda t: None if t is None else t.to(*args, **kwargs)  # noqa: E731
        return replace(self, focal_length=move(self.focal_length), principal_point=move(self.principal_point),
                       translation=move(self.translation), rotation=move(self.rotation))


Camera = WeakPerspectiveCamera | PerspectiveCamera


def transform_points(points: torch.Tensor, camera: Camera | None,
                     image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, N, 3) points -> (B, N, 3) (x, y normalised, depth) as the rasterizer sees them.

    ``camera=None`` means the points already are (x normalised, y normalised, depth).
    """
    _check_points(points)
    if camera is None:
        return points
    if not isinstance(camera, (WeakPerspectiveCamera, PerspectiveCamera)):
        raise TypeError(f"camera must be a WeakPerspectiveCamera, a PerspectiveCamera or None, "
                        f"got {type(camera).__name__}")
    return camera.transform(points, image_size)


def project(points: torch.Tensor, camera: Camera | None) -> torch.Tensor:
    """Project points to normalised image coordinates, exactly as the rasterizer does.

    Parameters
    ----------
    points : (B, N, 3) float tensor
        camera-convention points (for example 3D joints).
    camera : WeakPerspectiveCamera, PerspectiveCamera or None

    Returns
    -------
    (B, N, 2) float tensor
        (x, y) in [-1, 1] over the image (module docstring); differentiable.
    """
    return transform_points(points, camera)[..., :2]


def ndc_to_pixel(xy: torch.Tensor, image_size: int | tuple[int, int]) -> torch.Tensor:
    """(..., 2) normalised (x, y) -> (..., 2) continuous pixel (column, row); pixel centres at +0.5."""
    height, width = as_image_size(image_size)
    scale = torch.tensor([width / 2.0, height / 2.0], dtype=xy.dtype, device=xy.device)
    return (xy + 1.0) * scale


def pixel_to_ndc(pixel: torch.Tensor, image_size: int | tuple[int, int]) -> torch.Tensor:
    """(..., 2) continuous pixel (column, row) -> (..., 2) normalised (x, y)."""
    height, width = as_image_size(image_size)
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=pixel.dtype, device=pixel.device)
    return pixel * scale - 1.0


def pixel_centers(image_size: int | tuple[int, int], dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """(H, W, 2) normalised (x, y) of every pixel centre: ``((2 j + 1) / W - 1, (2 i + 1) / H - 1)``."""
    height, width = as_image_size(image_size)
    x = (2.0 * torch.arange(width, dtype=dtype, device=device) + 1.0) / width - 1.0
    y = (2.0 * torch.arange(height, dtype=dtype, device=device) + 1.0) / height - 1.0
    return torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)


def smpl_to_camera_axes(points: torch.Tensor) -> torch.Tensor:
    """Turn Y-up SMPL-axis points 180 degrees about x: ``(X, Y, Z) -> (X, -Y, -Z)``.

    A rest-pose body (+Y up, facing +Z) then stands upright in the image and faces the camera.
    points : (..., 3) float tensor -> (..., 3) float tensor.
    """
    if points.shape[-1] != 3:
        raise ValueError(f"points must be (..., 3), got {tuple(points.shape)}")
    sign = torch.tensor([1.0, -1.0, -1.0], dtype=points.dtype, device=points.device)
    return points * sign
