"""The UV map in torch: mesh <-> location map, and image features -> UV space.

:class:`UVLookup` holds one uvkit UV map (docs/formats.md) as registered buffers, so that
``.to(device)``, ``.to(dtype)`` and ``state_dict`` carry every table. Conventions (the UV file's):

- ``u`` runs along columns, ``v`` along rows; texel (row r, column c) of an R x R map sits at
  ``(u, v) = (c / (R - 1), r / (R - 1))``. In the normalised coordinates of ``grid_sample``
  that is ``(x, y) = (2u - 1, 2v - 1)`` with ``align_corners=True``: any other convention
  breaks the mesh -> location map -> mesh round trip.
- A location map is a (B, 3, R, R) tensor (channels first, the layout of torch image tensors);
  uvkit's numpy reference uses (B, R, R, 3).
- Image pixels follow the renderer's convention: pixel (row i, column j) of an H x W image has
  its centre at ``x = (2j + 1) / W - 1``, ``y = (2i + 1) / H - 1`` (align_corners=False).
- An IUV image is (B, 3, H, W): mask (foreground probability or 0/1), U, V in [0, 1].

The map is left-right symmetric when its ``vt_mirror`` is known: ``u(mirror(t)) = 1 - u(t)``
and ``v(mirror(t)) = v(t)``. Then a horizontal image flip is an IUV flip with ``u -> 1 - u``
(:meth:`UVLookup.flip_iuv`) and a mirrored body is a column-reflected location map with the
x coordinate negated (:meth:`UVLookup.flip_location_map`).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uvkit.raster import bilinear_taps, sample_weights
from uvkit.uvmap import UVMap, load_uvmap

__all__ = ["UVLookup", "pixel_coordinates"]

#: the resolution of :meth:`UVLookup.location_map` when the map holds it (the LNet output).
DEFAULT_RESOLUTION = 128
#: the resolution of :meth:`UVLookup.transfer_to_uv` (FACTS: 64 x 64 in the reference model).
TRANSFER_RESOLUTION = 64


def _shape(tensor: Any) -> str:
    return str(tuple(tensor.shape)) if isinstance(tensor, torch.Tensor) else type(tensor).__name__


def _require_tensor(name: str, tensor: Any, expected: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor of shape {expected}, got {type(tensor).__name__}")


def pixel_coordinates(height: int, width: int, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised image coordinates of every pixel centre.

    Parameters
    ----------
    height, width : int
    dtype : torch.dtype
    device : torch.device or str or None

    Returns
    -------
    xy : (2, H, W) tensor of ``dtype``
        channel 0 ``x = (2j + 1) / W - 1`` (column j), channel 1 ``y = (2i + 1) / H - 1``
        (row i); both in (-1, 1).
    """
    x = (2.0 * torch.arange(width, dtype=dtype, device=device) + 1.0) / width - 1.0
    y = (2.0 * torch.arange(height, dtype=dtype, device=device) + 1.0) / height - 1.0
    return torch.stack([x.expand(height, width), y[:, None].expand(height, width)])


class UVLookup(nn.Module):
    """A UV map's lookup tables as torch buffers.

    Parameters
    ----------
    uvmap : uvkit.uvmap.UVMap
        the map (from ``uvkit.load_uvmap`` or ``uvkit.build_uvmap``).
    template : object with ``.vertices`` (V, 3) and ``.faces`` (F, 3), or None
        the template the map belongs to. When given, its hash must equal the map's
        ``template_sha256`` and its vertices give :meth:`reference_location_map`.
    resolution : int or None
        default resolution of :meth:`location_map` and the table accessors; None: 128 when the
        map holds it, else its largest.
    resolutions : sequence of int or None
        lookup resolutions to keep (None: all the map holds).
    dtype : torch.dtype
        floating dtype of the floating buffers (barycentrics, weight maps, UV coordinates).

    Buffers
    -------
    faces : (F, 3) int64
        template faces.
    vt : (T, 2) float
        UV vertices.
    vt2v : (T,) int64
        template vertex of each UV vertex.
    vertex_counts : (V,) float
        number of UV copies of each vertex (seam vertices have several; at least 1).
    vt_mirror : (T,) int64
        mirror UV vertex (-1 everywhere when the map is not symmetric).
    mirror : (V,) int64
        template mirror permutation (-1 everywhere when unknown).
    template_vertices : (V, 3) float
        rest vertices of the template (zeros when no template was given).
    has_template : () bool
    face_{R} : (R, R) int64
        covering face of each texel, -1 where none.
    corners_{R} : (R, R, 3) int64
        the face's three vertex ids (0 on invalid texels).
    bary_{R} : (R, R, 3) float
        barycentric weights (0 on invalid texels).
    mask_{R} : (R, R) bool
        valid texels (inside a face or filled for a UV vertex).
    inside_{R} : (R, R) bool
        texel centre inside a UV face.
    weight_{R} : (R, R) float
        part weight map of the loss (0 on invalid texels).
    """

    def __init__(self, uvmap: UVMap, template: Any = None, resolution: int | None = None,
                 resolutions: Any = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if not isinstance(uvmap, UVMap):
            raise ValueError(f"uvmap: expected a uvkit.uvmap.UVMap, got {type(uvmap).__name__}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        n_vertices = uvmap.n_vertices
        available = tuple(int(r) for r in uvmap.resolutions)
        if resolutions is None:
            kept = available
        else:
            kept = tuple(sorted({int(r) for r in resolutions}))
            missing = [r for r in kept if r not in available]
            if missing or not kept:
                raise ValueError(f"resolutions {list(kept)}: the UV map holds lookup tables at "
                                 f"{list(available)} only")
        if not kept:
            raise ValueError("the UV map holds no lookup table")
        if resolution is None:
            resolution = DEFAULT_RESOLUTION if DEFAULT_RESOLUTION in kept else kept[-1]
        resolution = int(resolution)
        if resolution not in kept:
            raise ValueError(f"resolution {resolution}: the lookup holds tables at {list(kept)} only")
        self.resolutions: tuple[int, ...] = kept
        self.resolution: int = resolution
        self.n_vertices: int = n_vertices
        self.template_sha256: str = uvmap.template_sha256
        self.meta: dict[str, Any] = dict(uvmap.meta)
        self._symmetric: bool = uvmap.symmetric

        faces = np.asarray(uvmap.vt2v, dtype=np.int64)[np.asarray(uvmap.ft, dtype=np.int64)]
        vertices = np.zeros((n_vertices, 3))
        has_template = template is not None
        if has_template:
            vertices = self._check_template(template, uvmap, faces)

        def buffer(name: str, array: np.ndarray, as_dtype: torch.dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(array)).to(as_dtype))

        counts = np.bincount(uvmap.vt2v, minlength=n_vertices)
        buffer("faces", faces, torch.int64)
        buffer("vt", uvmap.vt, dtype)
        buffer("vt2v", uvmap.vt2v, torch.int64)
        buffer("vertex_counts", np.maximum(counts, 1), dtype)
        buffer("vt_mirror", uvmap.vt_mirror, torch.int64)
        buffer("mirror", uvmap.mirror, torch.int64)
        buffer("template_vertices", vertices, dtype)
        buffer("has_template", np.array(has_template), torch.bool)
        for r in kept:
            table = uvmap.tables[r]
            face = np.asarray(table.face, dtype=np.int64)
            mask = face >= 0
            corners = np.where(mask[..., None], faces[np.maximum(face, 0)], 0)
            bary = np.where(mask[..., None], table.bary, 0.0)
            buffer(f"face_{r}", face, torch.int64)
            buffer(f"corners_{r}", corners, torch.int64)
            buffer(f"bary_{r}", bary, dtype)
            buffer(f"mask_{r}", mask, torch.bool)
            buffer(f"inside_{r}", table.inside, torch.bool)
            buffer(f"weight_{r}", uvmap.weights[r], dtype)
            # the read-out at the UV vertices: bilinear taps without those from across a cut
            # (uvkit.raster.sample_weights); derived from the map, so not part of state_dict
            rows, cols, _ = bilinear_taps(uvmap.vt, r)
            self.register_buffer(f"tap_index_{r}", torch.as_tensor((rows * r + cols).reshape(-1), dtype=torch.int64),
                                 persistent=False)
            self.register_buffer(f"tap_weight_{r}", torch.as_tensor(sample_weights(uvmap.vt, uvmap.ft, table)).to(dtype),
                                 persistent=False)

    @classmethod
    def load(cls, path: str | os.PathLike, template: Any = None, resolution: int | None = None,
             resolutions: Any = None, dtype: torch.dtype = torch.float32) -> "UVLookup":
        """Read a UV map file (``uvkit.load_uvmap``) into a lookup.

        Parameters
        ----------
        path : str or PathLike
            a uvkit UV map ``.npz``.
        template : Template, object with ``.vertices`` and ``.faces``, str (a sha256) or None
            the map must have been built for it (a ``uvkit.errors.UVMapError``, a
            ``ValueError``, names both hashes otherwise). A hash string checks the identity
            only; :meth:`reference_location_map` then needs the vertices.
        resolution, resolutions, dtype :
            as for the constructor.

        Returns
        -------
        UVLookup
        """
        uvmap = load_uvmap(path, template=template)
        with_vertices = template if (template is not None and hasattr(template, "vertices")) else None
        return cls(uvmap, template=with_vertices, resolution=resolution, resolutions=resolutions,
                   dtype=dtype)

    @staticmethod
    def _check_template(template: Any, uvmap: UVMap, faces: np.ndarray) -> np.ndarray:
        from uvkit.template import template_hash

        if not (hasattr(template, "vertices") and hasattr(template, "faces")):
            raise ValueError(f"template: expected an object with .vertices (V, 3) and .faces (F, 3), "
                             f"got {type(template).__name__}")
        vertices = np.asarray(template.vertices, dtype=np.float64)
        template_faces = np.asarray(template.faces, dtype=np.int64)
        if vertices.shape != (uvmap.n_vertices, 3):
            raise ValueError(f"template.vertices: expected (V, 3) = ({uvmap.n_vertices}, 3) for this UV map, "
                             f"got {vertices.shape}")
        sha256 = template_hash(vertices, template_faces)
        if sha256 != uvmap.template_sha256.lower():
            raise ValueError(f"the UV map was built for another template: the map's template_sha256 is "
                             f"{uvmap.template_sha256}, the given template's is {sha256}")
        if not np.array_equal(template_faces, faces):
            raise ValueError(f"the template's faces {template_faces.shape} disagree with the UV map's "
                             f"vt2v[ft] {faces.shape}")
        return vertices

    # ------------------------------------------------------------------ properties and tables
    @property
    def n_uv(self) -> int:
        """T, the number of UV vertices."""
        return int(self.vt.shape[0])

    @property
    def symmetric(self) -> bool:
        """The map is left-right symmetric: its ``vt_mirror`` is known and ``u(mirror(t)) = 1 - u(t)``,
        ``v(mirror(t)) = v(t)`` within ``uvkit.tol.uv_symmetry`` (a map built with
        ``uvkit build-uv --no-symmetry`` has mirror pairs but is not)."""
        return self._symmetric

    def _resolution(self, resolution: int | None) -> int:
        resolution = self.resolution if resolution is None else int(resolution)
        if resolution not in self.resolutions:
            raise ValueError(f"resolution {resolution}: the lookup holds tables at {list(self.resolutions)} only")
        return resolution

    def mask(self, resolution: int | None = None) -> torch.Tensor:
        """(R, R) bool: valid texels of the table at ``resolution`` (default: the lookup's)."""
        return getattr(self, f"mask_{self._resolution(resolution)}")

    def inside(self, resolution: int | None = None) -> torch.Tensor:
        """(R, R) bool: texels whose centre lies inside a UV face."""
        return getattr(self, f"inside_{self._resolution(resolution)}")

    def face(self, resolution: int | None = None) -> torch.Tensor:
        """(R, R) int64: the covering face of each texel, -1 where none."""
        return getattr(self, f"face_{self._resolution(resolution)}")

    def weight_map(self, resolution: int | None = None) -> torch.Tensor:
        """(R, R) float: the part weight map of the location-map loss (0 on invalid texels)."""
        return getattr(self, f"weight_{self._resolution(resolution)}")

    # ------------------------------------------------------------------ mesh <-> location map
    def location_map(self, vertices: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
        """Location map of meshes: per texel the barycentric blend of its face's vertices.

        Parameters
        ----------
        vertices : (B, V, 3) float tensor
            meshes of the template's topology.
        resolution : int or None
            R, one of :attr:`resolutions` (default :attr:`resolution`).

        Returns
        -------
        location_map : (B, 3, R, R) tensor, dtype of ``vertices``
            zero on invalid texels; differentiable with respect to ``vertices``.
        """
        expected = f"(B, V, 3) = (B, {self.n_vertices}, 3)"
        _require_tensor("vertices", vertices, expected)
        if vertices.ndim != 3 or vertices.shape[1:] != (self.n_vertices, 3):
            raise ValueError(f"vertices: expected shape {expected}, got {_shape(vertices)}")
        if not vertices.is_floating_point():
            raise ValueError(f"vertices: expected a floating tensor, got {vertices.dtype}")
        r = self._resolution(resolution)
        corners = getattr(self, f"corners_{r}").reshape(-1)  # (R * R * 3,)
        bary = getattr(self, f"bary_{r}").to(vertices.dtype).reshape(1, r * r, 3, 1)
        mask = getattr(self, f"mask_{r}").reshape(1, r * r, 1)
        gathered = vertices[:, corners].reshape(len(vertices), r * r, 3, 3)  # (B, R*R, corner, xyz)
        blended = (gathered * bary).sum(dim=2)
        blended = torch.where(mask, blended, torch.zeros((), dtype=blended.dtype, device=blended.device))
        return blended.transpose(1, 2).reshape(len(vertices), 3, r, r)

    def sample_uv_vertices(self, location_map: torch.Tensor) -> torch.Tensor:
        """Bilinear sample of a location map at every UV vertex (before seam averaging).

        At a resolution the map holds a table for, a tap that would read a texel from across a
        cut (a fingertip within a texel of the palm across its seam) is left out and the other
        taps renormalised (:func:`uvkit.raster.sample_weights`); at any other size, plain
        bilinear sampling.

        Parameters
        ----------
        location_map : (B, C, H, W) float tensor, H, W >= 2

        Returns
        -------
        samples : (B, T, C) tensor, dtype of ``location_map``
        """
        self._check_map(location_map)
        size = location_map.shape[-1]
        if location_map.shape[-2] == size and size in self.resolutions:
            index = getattr(self, f"tap_index_{size}")
            weight = getattr(self, f"tap_weight_{size}").to(location_map.dtype)
            batch, channels = location_map.shape[:2]
            taps = location_map.reshape(batch, channels, size * size).index_select(2, index)
            samples = (taps.view(batch, channels, self.n_uv, 4) * weight).sum(dim=3)  # (B, C, T)
            return samples.transpose(1, 2)
        grid = (2.0 * self.vt.to(location_map.dtype) - 1.0).expand(len(location_map), 1, self.n_uv, 2)
        samples = F.grid_sample(location_map, grid, mode="bilinear", padding_mode="border",
                                align_corners=True)  # (B, C, 1, T)
        return samples[:, :, 0].transpose(1, 2)

    def vertices(self, location_map: torch.Tensor) -> torch.Tensor:
        """Mesh vertices read from location maps.

        Bilinear sample at every UV vertex (:meth:`sample_uv_vertices`: ``align_corners=True``,
        coordinates clamped to the map, no taps from across a cut at the map's own
        resolutions), then the mean over each vertex's UV copies. Any resolution works: the UV
        vertices are sampled in normalised coordinates.

        Parameters
        ----------
        location_map : (B, C, H, W) float tensor
            normally (B, 3, R, R).

        Returns
        -------
        vertices : (B, V, C) tensor, dtype of ``location_map``
            differentiable with respect to ``location_map``.
        """
        samples = self.sample_uv_vertices(location_map)  # (B, T, C)
        out = samples.new_zeros(samples.shape[0], self.n_vertices, samples.shape[2])
        out = out.index_add(1, self.vt2v, samples)
        return out / self.vertex_counts.to(samples.dtype)[None, :, None]

    def reference_location_map(self, resolution: int | None = None) -> torch.Tensor:
        """Location map of the template's rest vertices (an input of LNet).

        Parameters
        ----------
        resolution : int or None
            one of :attr:`resolutions` (default :attr:`resolution`).

        Returns
        -------
        location_map : (1, 3, R, R) tensor, dtype of the lookup's floating buffers
        """
        if not bool(self.has_template):
            raise ValueError("reference_location_map needs the template's vertices: build the lookup "
                             "with template=<the template> (UVLookup.load(path, template=...))")
        return self.location_map(self.template_vertices[None], resolution)

    # ------------------------------------------------------------------ image features -> UV
    def transfer_to_uv(self, features: torch.Tensor, iuv: torch.Tensor,
                       resolution: int = TRANSFER_RESOLUTION) -> torch.Tensor:
        """Scatter image features into UV space along a predicted (or given) IUV image.

        Every pixel with ``mask > 0.5`` lands on the nearest texel ``round(uv * (R - 1))``
        (``torch.round``: halves to even; U and V clamped to [0, 1]) of an R x R grid; the
        pixel's normalised image coordinates (x, y) are appended to its feature; pixels landing
        on the same texel are averaged; an occupancy channel (1 where any pixel landed) is
        appended last. The texel index is not differentiated: gradients flow to ``features``
        only, never to ``iuv``.

        When the IUV image has another size than the features, it is resampled to the feature
        size by nearest neighbour at the feature pixels' centres (``nearest-exact``), so that U
        and V are never blended across a chart border or seam; the appended (x, y) are the
        feature pixels' centres.

        Parameters
        ----------
        features : (B, C, H, W) float tensor
        iuv : (B, 3, H', W') float tensor
            mask, U, V in [0, 1].
        resolution : int
            R >= 2 (default 64); needs no lookup table.

        Returns
        -------
        uv_features : (B, C + 3, R, R) tensor, dtype of ``features``
            channels: the C averaged features, x, y (averaged), occupancy (0 or 1); zero
            where no pixel landed. Sums are accumulated in float32 for float16 / bfloat16
            features. The result may be a non-contiguous view (rows R * R + 1 apart).
        """
        _require_tensor("features", features, "(B, C, H, W)")
        _require_tensor("iuv", iuv, "(B, 3, H, W)")
        if features.ndim != 4 or not features.is_floating_point():
            raise ValueError(f"features: expected a float tensor of shape (B, C, H, W), got {_shape(features)} "
                             f"{features.dtype}")
        batch, _, height, width = features.shape
        if iuv.ndim != 4 or iuv.shape[0] != batch or iuv.shape[1] != 3:
            raise ValueError(f"iuv: expected shape (B, 3, H, W) with B = {batch} (the features' batch), "
                             f"got {_shape(iuv)}")
        if not iuv.is_floating_point():
            raise ValueError(f"iuv: expected a float tensor (mask, U, V in [0, 1]), got {iuv.dtype}")
        resolution = int(resolution)
        if resolution < 2:
            raise ValueError(f"resolution must be >= 2, got {resolution}")
        iuv = iuv.detach()
        if iuv.shape[2:] != (height, width):
            iuv = F.interpolate(iuv, size=(height, width), mode="nearest-exact")
        n_pixels = height * width
        n_texels = resolution * resolution
        channels = features.shape[1]
        device = features.device
        # sums of half-precision features lose digits: accumulate them in float32
        dtype = torch.float32 if features.dtype in (torch.float16, torch.bfloat16) else features.dtype
        with torch.no_grad():
            uv = iuv[:, 1:3].to(torch.float64).clamp(0.0, 1.0)
            texel = torch.round(uv * (resolution - 1)).to(torch.int64)  # (B, 2, H, W): column, row
            index = (texel[:, 1] * resolution + texel[:, 0]).reshape(batch, 1, n_pixels)
            keep = (iuv[:, :1] > 0.5).reshape(batch, 1, n_pixels)
            # background pixels go to one extra bin past the last texel, dropped at the end
            index = torch.where(keep, index, torch.full_like(index, n_texels))
            counts = torch.zeros(batch, 1, n_texels + 1, dtype=dtype, device=device)
            counts.scatter_add_(2, index, torch.ones(batch, 1, n_pixels, dtype=dtype, device=device))
            xy = pixel_coordinates(height, width, dtype=dtype, device=device).reshape(1, 2, n_pixels)
        # one buffer for every output channel; sums over pixels, then means (memory-bound op:
        # no concatenated copy of the features is made)
        out = torch.zeros(batch, channels + 3, n_texels + 1, dtype=dtype, device=device)
        out[:, :channels].scatter_add_(2, index.expand(-1, channels, -1),
                                       features.reshape(batch, channels, n_pixels).to(dtype))
        out[:, channels:channels + 2].scatter_add_(2, index.expand(-1, 2, -1), xy.expand(batch, -1, -1))
        out[:, :channels + 2] /= counts.clamp(min=1.0)
        out[:, channels + 2:] = (counts > 0).to(dtype)
        # a view without the extra bin: (B, C + 3, R, R), rows of R * R + 1 elements apart
        return out[:, :, :n_texels].unflatten(2, (resolution, resolution)).to(features.dtype)

    # ------------------------------------------------------------------ left-right mirroring
    def _require_symmetric(self, what: str) -> None:
        if not self.symmetric:
            raise ValueError(f"{what} needs a left-right symmetric UV map, and this map's vt_mirror is "
                             f"unknown (-1) or the map is not symmetric about it (built with --no-symmetry): a "
                             f"mirrored body is not u -> 1 - u on it")

    def flip_iuv(self, iuv: torch.Tensor) -> torch.Tensor:
        """IUV image of the horizontally flipped image.

        Columns are reversed and U is mirrored (``u -> 1 - u``) on foreground pixels
        (``mask > 0.5``); background values stay as they were, so the flip is an involution.
        Valid because the map is symmetric: the mirror of the body point at (u, v) sits at
        (1 - u, v).

        Parameters
        ----------
        iuv : (B, 3, H, W) float tensor

        Returns
        -------
        iuv : (B, 3, H, W) tensor
        """
        self._require_symmetric("flip_iuv")
        _require_tensor("iuv", iuv, "(B, 3, H, W)")
        if iuv.ndim != 4 or iuv.shape[1] != 3:
            raise ValueError(f"iuv: expected shape (B, 3, H, W), got {_shape(iuv)}")
        flipped = iuv.flip(-1)
        mask, u, v = flipped.unbind(1)
        u = torch.where(mask > 0.5, 1.0 - u, u)
        return torch.stack([mask, u, v], dim=1)

    def flip_location_map(self, location_map: torch.Tensor) -> torch.Tensor:
        """Location map of the mirrored bodies: columns reversed, x coordinate negated.

        With SMPL axes (+x the body's left), mirroring a body reflects x. On a symmetric map
        texel column c holds the mirror point of column R - 1 - c. Equals
        ``location_map(mirror_vertices(V))`` on texels whose mirror texel has the same face's
        mirror (exactly on a map rasterized symmetric, up to ties otherwise).

        Parameters
        ----------
        location_map : (B, 3, H, W) float tensor

        Returns
        -------
        location_map : (B, 3, H, W) tensor
        """
        self._require_symmetric("flip_location_map")
        if not isinstance(location_map, torch.Tensor) or location_map.ndim != 4 or location_map.shape[1] != 3:
            raise ValueError(f"location_map: expected shape (B, 3, H, W), got {_shape(location_map)}")
        sign = location_map.new_tensor([-1.0, 1.0, 1.0]).reshape(1, 3, 1, 1)
        return location_map.flip(-1) * sign

    def mirror_vertices(self, vertices: torch.Tensor) -> torch.Tensor:
        """Mirrored meshes: vertex i takes the reflected position of vertex mirror(i).

        Parameters
        ----------
        vertices : (B, V, 3) float tensor

        Returns
        -------
        vertices : (B, V, 3) tensor
            ``out[:, i] = vertices[:, mirror[i]] * (-1, 1, 1)``.
        """
        if not bool((self.mirror >= 0).all()):
            raise ValueError("mirror_vertices needs the template's mirror permutation, and this UV map's "
                             "mirror is unknown (-1)")
        expected = f"(B, V, 3) = (B, {self.n_vertices}, 3)"
        _require_tensor("vertices", vertices, expected)
        if vertices.ndim != 3 or vertices.shape[1:] != (self.n_vertices, 3):
            raise ValueError(f"vertices: expected shape {expected}, got {_shape(vertices)}")
        sign = vertices.new_tensor([-1.0, 1.0, 1.0])
        return vertices[:, self.mirror] * sign

    # ------------------------------------------------------------------ helpers
    def _check_map(self, location_map: Any) -> None:
        _require_tensor("location_map", location_map, "(B, C, R, R)")
        if location_map.ndim != 4 or location_map.shape[2] < 2 or location_map.shape[3] < 2:
            raise ValueError(f"location_map: expected shape (B, C, R, R) with R >= 2 (e.g. (B, 3, "
                             f"{self.resolution}, {self.resolution})), got {_shape(location_map)}")
        if not location_map.is_floating_point():
            raise ValueError(f"location_map: expected a floating tensor, got {location_map.dtype}")

    def extra_repr(self) -> str:
        return (f"n_vertices={self.n_vertices}, n_uv={self.n_uv}, n_faces={int(self.faces.shape[0])}, "
                f"resolutions={list(self.resolutions)}, resolution={self.resolution}, "
                f"symmetric={self.symmetric}")
