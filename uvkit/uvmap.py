"""The UV map file (docs/formats.md, format version 1): build, save, load and check.

A :class:`UVMap` holds the UV layout of a template (``vt``, ``ft``, ``vt2v``), its mirror
maps, one lookup table and one part weight map per resolution, and provenance (``meta``).
``build_uvmap`` makes one from any UV layout (one chart or many); ``UVMap.save`` writes it
atomically; ``load_uvmap`` reads it back without pickle and checks everything it reads.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from uvkit.atomic import save_npz
from uvkit.errors import UVMapError
from uvkit.raster import LookupTable, rasterize
from uvkit.tolerances import tol
from uvkit.weights import part_weight_map

__all__ = ["FORMAT", "FORMAT_VERSION", "UVMap", "build_uvmap", "load_uvmap", "uvmap_keys"]

FORMAT = "uvkit-uvmap"
FORMAT_VERSION = 1
DEFAULT_RESOLUTIONS = (64, 128, 256)
_TABLE_FIELDS = ("face", "bary", "mask", "inside", "weight")
_TABLE_DTYPES = {"face": np.int32, "bary": np.float64, "mask": np.bool_, "inside": np.bool_, "weight": np.float32}


@dataclass
class UVMap:
    """A UV map of one template, with its lookup tables.

    Attributes
    ----------
    vt : (T, 2) float64
        UV vertices in [0, 1]^2.
    ft : (F, 3) int64
        UV face of each template face (template face order).
    vt2v : (T,) int64
        template vertex of each UV vertex.
    vt_mirror : (T,) int64
        mirror UV vertex of each UV vertex; -1 everywhere when the map is not symmetric.
    mirror : (V,) int64
        the template's mirror permutation; -1 everywhere when unknown.
    tables : dict int -> LookupTable
        lookup table per resolution R.
    weights : dict int -> (R, R) float32
        part weight map per resolution R.
    meta : dict
        provenance; holds at least format_version, template_sha256, template_name,
        n_vertices, n_faces, generator, uvkit_version, libigl_version, numpy_version, scipy_version.
    """

    vt: np.ndarray
    ft: np.ndarray
    vt2v: np.ndarray
    vt_mirror: np.ndarray
    mirror: np.ndarray
    tables: dict[int, LookupTable]
    weights: dict[int, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(sorted(self.tables))

    @property
    def n_vertices(self) -> int:
        return int(self.meta["n_vertices"])

    @property
    def n_faces(self) -> int:
        return int(self.meta["n_faces"])

    @property
    def template_sha256(self) -> str:
        return str(self.meta["template_sha256"])

    @property
    def symmetric(self) -> bool:
        """Left-right symmetric: every UV vertex has a mirror (``vt_mirror >= 0``) and
        ``u(mirror(t)) = 1 - u(t)``, ``v(mirror(t)) = v(t)`` within ``tol.uv_symmetry`` (a map
        built with ``build-uv --no-symmetry`` has mirror pairs but is not symmetric about them)."""
        from uvkit.layout import symmetry_error

        mirror = np.asarray(self.vt_mirror, dtype=np.int64)
        if len(mirror) != len(self.vt) or not len(mirror) or np.any(mirror < 0):
            return False
        return symmetry_error(np.asarray(self.vt, dtype=np.float64), mirror) <= tol.uv_symmetry

    def arrays(self) -> dict[str, np.ndarray]:
        """Every key of the file, as written (see docs/formats.md)."""
        out: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "vt": np.ascontiguousarray(self.vt, dtype=np.float64),
            "ft": np.ascontiguousarray(self.ft, dtype=np.int64),
            "vt2v": np.ascontiguousarray(self.vt2v, dtype=np.int64),
            "vt_mirror": np.ascontiguousarray(self.vt_mirror, dtype=np.int64),
            "mirror": np.ascontiguousarray(self.mirror, dtype=np.int64),
            "resolutions": np.array(self.resolutions, dtype=np.int64),
        }
        for resolution in self.resolutions:
            table = self.tables[resolution]
            if resolution not in self.weights:
                raise UVMapError(f"UV map has a lookup table at {resolution} but no weight map")
            values = {"face": table.face, "bary": table.bary, "mask": table.mask, "inside": table.inside,
                      "weight": self.weights[resolution]}
            for name in _TABLE_FIELDS:
                out[f"lookup_{resolution}_{name}"] = np.ascontiguousarray(values[name], dtype=_TABLE_DTYPES[name])
        meta = dict(self.meta)
        meta["format_version"] = FORMAT_VERSION
        out["meta"] = np.array(json.dumps(meta, sort_keys=True, default=_json_default))
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the map to ``path`` (``.npz``) atomically, after checking it."""
        arrays = self.arrays()
        _check_arrays(arrays, f"UV map for {path}")
        save_npz(path, compressed=True, **arrays)


def uvmap_keys(resolutions: tuple[int, ...] | list[int]) -> list[str]:
    """Every key a UV map file with these lookup resolutions holds, in writing order."""
    keys = ["format", "format_version", "vt", "ft", "vt2v", "vt_mirror", "mirror", "resolutions"]
    for resolution in resolutions:
        keys += [f"lookup_{int(resolution)}_{name}" for name in _TABLE_FIELDS]
    return keys + ["meta"]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"meta value of type {type(value).__name__} is not JSON serialisable")


def _versions() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    import uvkit

    return {
        "uvkit_version": str(getattr(uvkit, "__version__", "unknown")),
        "libigl_version": version("libigl"),
        "numpy_version": np.__version__,
        "scipy_version": version("scipy"),
    }


def _describe(array: np.ndarray) -> str:
    return f"{tuple(array.shape)} {array.dtype}"


def _expect(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: Any, source: str,
            shape_text: str) -> np.ndarray:
    if key not in arrays:
        raise UVMapError(f"{source}: missing key '{key}'")
    array = arrays[key]
    if tuple(array.shape) != tuple(shape) or array.dtype != np.dtype(dtype):
        raise UVMapError(f"{source}: key '{key}' must be {shape_text} {np.dtype(dtype)} "
                         f"(= {tuple(shape)}), got {_describe(array)}")
    return array


def _expect_range(array: np.ndarray, low: int, high: int, key: str, source: str) -> None:
    if array.size and (array.min() < low or array.max() >= high):
        raise UVMapError(f"{source}: key '{key}' of shape {tuple(array.shape)} must hold values in "
                         f"[{low}, {high}), got [{array.min()}, {array.max()}]")


def _scalar_text(arrays: dict[str, np.ndarray], key: str, source: str) -> str:
    if key not in arrays:
        raise UVMapError(f"{source}: missing key '{key}'")
    array = arrays[key]
    if array.shape != () or array.dtype.kind != "U":
        raise UVMapError(f"{source}: key '{key}' must be a 0-d str, got {_describe(array)}")
    return str(array[()])


def _check_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """Check every key of a UV map file; return its parsed meta."""
    fmt = _scalar_text(arrays, "format", source)
    if fmt != FORMAT:
        raise UVMapError(f"{source}: key 'format' is '{fmt}', expected '{FORMAT}' (not a uvkit UV map)")
    if "format_version" not in arrays:
        raise UVMapError(f"{source}: missing key 'format_version'")
    version = arrays["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise UVMapError(f"{source}: key 'format_version' must be a 0-d int64, got {_describe(version)}")
    if int(version) != FORMAT_VERSION:
        raise UVMapError(f"{source}: key 'format_version' is {int(version)}; this uvkit reads version "
                         f"{FORMAT_VERSION} only: rebuild the map with this uvkit")
    try:
        meta = json.loads(_scalar_text(arrays, "meta", source))
    except json.JSONDecodeError as error:
        raise UVMapError(f"{source}: key 'meta' is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise UVMapError(f"{source}: key 'meta' must hold a JSON object")
    for name in ("n_vertices", "n_faces", "template_sha256"):
        if name not in meta:
            raise UVMapError(f"{source}: key 'meta' lacks '{name}'")
    if meta.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise UVMapError(f"{source}: meta format_version {meta.get('format_version')} disagrees with "
                         f"key 'format_version' {FORMAT_VERSION}")
    n_vertices, n_faces = meta["n_vertices"], meta["n_faces"]
    if not (isinstance(n_vertices, int) and isinstance(n_faces, int) and n_vertices > 0 and n_faces > 0):
        raise UVMapError(f"{source}: meta n_vertices / n_faces must be positive integers, got "
                         f"{n_vertices!r} / {n_faces!r}")

    if "vt" not in arrays:
        raise UVMapError(f"{source}: missing key 'vt'")
    n_uv = arrays["vt"].shape[0] if arrays["vt"].ndim == 2 else -1
    vt = _expect(arrays, "vt", (max(n_uv, 0), 2), np.float64, source, "(T, 2)")
    if not np.all(np.isfinite(vt)):
        raise UVMapError(f"{source}: key 'vt' of shape {vt.shape} holds non-finite values")
    ft = _expect(arrays, "ft", (n_faces, 3), np.int64, source, "(F, 3) with F = n_faces")
    _expect_range(ft, 0, n_uv, "ft", source)
    vt2v = _expect(arrays, "vt2v", (n_uv,), np.int64, source, "(T,)")
    _expect_range(vt2v, 0, n_vertices, "vt2v", source)
    vt_mirror = _expect(arrays, "vt_mirror", (n_uv,), np.int64, source, "(T,)")
    _expect_range(vt_mirror, -1, n_uv, "vt_mirror", source)
    mirror = _expect(arrays, "mirror", (n_vertices,), np.int64, source, "(V,) with V = n_vertices")
    _expect_range(mirror, -1, n_vertices, "mirror", source)
    if "resolutions" not in arrays:
        raise UVMapError(f"{source}: missing key 'resolutions'")
    resolutions = arrays["resolutions"]
    if resolutions.ndim != 1 or resolutions.dtype != np.int64:
        raise UVMapError(f"{source}: key 'resolutions' must be (K,) int64, got {_describe(resolutions)}")
    if np.any(resolutions < 2) or len(np.unique(resolutions)) != len(resolutions):
        raise UVMapError(f"{source}: key 'resolutions' must hold distinct sizes >= 2, got {resolutions.tolist()}")
    for resolution in resolutions.tolist():
        square = (resolution, resolution)
        text = f"(R, R) with R = {resolution}"
        face = _expect(arrays, f"lookup_{resolution}_face", square, np.int32, source, text)
        _expect_range(face, -1, n_faces, f"lookup_{resolution}_face", source)
        _expect(arrays, f"lookup_{resolution}_bary", square + (3,), np.float64, source,
                f"(R, R, 3) with R = {resolution}")
        mask = _expect(arrays, f"lookup_{resolution}_mask", square, np.bool_, source, text)
        inside = _expect(arrays, f"lookup_{resolution}_inside", square, np.bool_, source, text)
        _expect(arrays, f"lookup_{resolution}_weight", square, np.float32, source, text)
        if not np.array_equal(mask, face >= 0):
            raise UVMapError(f"{source}: key 'lookup_{resolution}_mask' {square} disagrees with "
                             f"'lookup_{resolution}_face' >= 0")
        if np.any(inside & ~mask):
            raise UVMapError(f"{source}: key 'lookup_{resolution}_inside' {square} marks texels that "
                             f"'lookup_{resolution}_mask' does not")
    return meta


def _template_identity(template: Any) -> tuple[str, np.ndarray | None]:
    """(sha256, faces or None) of a template object or a hash string."""
    if isinstance(template, str):
        return template.lower(), None
    if hasattr(template, "vertices") and hasattr(template, "faces"):
        from uvkit.template import template_hash

        faces = np.asarray(template.faces, dtype=np.int64)
        return template_hash(np.asarray(template.vertices, dtype=np.float64), faces), faces
    if hasattr(template, "sha256"):
        return str(template.sha256).lower(), None
    raise UVMapError(f"template must be a hash string or have .vertices and .faces, got {type(template).__name__}")


def _check_template(meta: dict[str, Any], ft: np.ndarray, vt2v: np.ndarray, template: Any, source: str) -> None:
    sha256, faces = _template_identity(template)
    stored = str(meta["template_sha256"]).lower()
    if sha256 != stored:
        raise UVMapError(f"{source} was built for another template: the map's template_sha256 is {stored}, "
                         f"the given template's is {sha256}")
    if faces is not None and not np.array_equal(vt2v[ft], faces):
        raise UVMapError(f"{source}: vt2v[ft] {ft.shape} disagrees with the template's faces {faces.shape}")


def load_uvmap(path: str | os.PathLike, template: Any = None, source: str | None = None) -> UVMap:
    """Read and check a UV map file.

    Parameters
    ----------
    path : str, PathLike or binary file object
        a ``.npz`` written by :meth:`UVMap.save` (or its bytes, e.g. an ``io.BytesIO``).
    template : Template, object with ``.vertices`` (V, 3) and ``.faces`` (F, 3), str, or None
        when given (a template or its sha256), the map must have been built for it.
    source : str, optional
        the name messages give the map (default: ``path``).

    Returns
    -------
    UVMap

    Raises
    ------
    UVMapError
        unreadable file, another format or version, a missing key, a wrong shape, dtype or
        index range, or another template; the message names the file and the key.
    """
    source = source or str(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise UVMapError(f"{source}: not a .npz archive (a single array of shape {np.shape(archive)})")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise UVMapError(f"{source}: no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise UVMapError(f"{source}: not a readable .npz UV map ({error})") from None
    except ValueError as error:
        raise UVMapError(f"{source}: not a UV map .npz (it holds objects that need pickle, or is "
                         f"corrupt: {error})") from None
    if not arrays:
        raise UVMapError(f"{source}: an empty .npz, not a UV map")
    meta = _check_arrays(arrays, source)
    if template is not None:
        _check_template(meta, arrays["ft"], arrays["vt2v"], template, source)
    tables, weights = {}, {}
    for resolution in arrays["resolutions"].tolist():
        tables[resolution] = LookupTable(
            face=arrays[f"lookup_{resolution}_face"],
            bary=arrays[f"lookup_{resolution}_bary"],
            mask=arrays[f"lookup_{resolution}_mask"],
            inside=arrays[f"lookup_{resolution}_inside"],
        )
        weights[resolution] = arrays[f"lookup_{resolution}_weight"]
    return UVMap(vt=arrays["vt"], ft=arrays["ft"], vt2v=arrays["vt2v"], vt_mirror=arrays["vt_mirror"],
                 mirror=arrays["mirror"], tables=tables, weights=weights, meta=meta)


def build_uvmap(vt: np.ndarray, ft: np.ndarray, vt2v: np.ndarray, faces: np.ndarray, n_vertices: int,
                parts: np.ndarray | None = None, vt_mirror: np.ndarray | None = None,
                mirror: np.ndarray | None = None, resolutions: tuple[int, ...] = DEFAULT_RESOLUTIONS,
                meta: dict[str, Any] | None = None) -> UVMap:
    """Make a UV map: check the layout, rasterize every lookup table and weight map.

    Parameters
    ----------
    vt : (T, 2) float64
        UV vertices in [0, 1]^2; any number of charts.
    ft : (F, 3) int64
        UV faces in template face order.
    vt2v : (T,) int64
        template vertex of each UV vertex; ``vt2v[ft] == faces``.
    faces : (F, 3) int64
        template faces.
    n_vertices : int
        V, the template's vertex count.
    parts : (V,) int64 or None
        joint id per vertex for the part weight map; None gives uniform weights.
    vt_mirror : (T,) int64 or None
        mirror UV vertex of each UV vertex (None: not symmetric, stored as -1).
    mirror : (V,) int64 or None
        the template's mirror permutation (None: unknown, stored as -1).
    resolutions : sequence of int
        lookup table sizes.
    meta : dict
        provenance; must hold ``template_sha256`` and ``generator``. ``format_version``,
        ``n_vertices``, ``n_faces`` and missing library versions are filled in.

    Returns
    -------
    UVMap
    """
    source = "build_uvmap"
    vt = np.ascontiguousarray(vt, dtype=np.float64)
    ft = np.ascontiguousarray(ft, dtype=np.int64)
    vt2v = np.ascontiguousarray(vt2v, dtype=np.int64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    n_vertices = int(n_vertices)
    if vt.ndim != 2 or vt.shape[1] != 2:
        raise UVMapError(f"{source}: vt must be (T, 2) float64, got shape {vt.shape}")
    if not np.all(np.isfinite(vt)):
        raise UVMapError(f"{source}: vt holds non-finite values")
    outside = np.sum(np.any((vt < 0.0) | (vt > 1.0), axis=1))
    if outside:
        raise UVMapError(f"{source}: {outside} of {len(vt)} UV vertices lie outside [0, 1]^2 "
                         f"(range {vt.min(axis=0).tolist()} .. {vt.max(axis=0).tolist()})")
    if faces.ndim != 2 or faces.shape[1] != 3 or ft.shape != faces.shape:
        raise UVMapError(f"{source}: ft {ft.shape} and faces {faces.shape} must both be (F, 3)")
    if vt2v.shape != (len(vt),):
        raise UVMapError(f"{source}: vt2v must be (T,) = ({len(vt)},), got {vt2v.shape}")
    _expect_range(ft, 0, len(vt), "ft", source)
    _expect_range(vt2v, 0, n_vertices, "vt2v", source)
    _expect_range(faces, 0, n_vertices, "faces", source)
    if not np.array_equal(vt2v[ft], faces):
        bad = int(np.sum(np.any(vt2v[ft] != faces, axis=1)))
        raise UVMapError(f"{source}: vt2v[ft] differs from faces on {bad} of {len(faces)} faces")
    vt_mirror = np.full(len(vt), -1, dtype=np.int64) if vt_mirror is None else np.asarray(vt_mirror, dtype=np.int64)
    mirror = np.full(n_vertices, -1, dtype=np.int64) if mirror is None else np.asarray(mirror, dtype=np.int64)
    if vt_mirror.shape != (len(vt),):
        raise UVMapError(f"{source}: vt_mirror must be (T,) = ({len(vt)},), got {vt_mirror.shape}")
    if mirror.shape != (n_vertices,):
        raise UVMapError(f"{source}: mirror must be (V,) = ({n_vertices},), got {mirror.shape}")
    if parts is not None:
        parts = np.asarray(parts)
        if parts.shape != (n_vertices,):
            raise UVMapError(f"{source}: parts must be (V,) = ({n_vertices},), got {parts.shape}")
    meta = dict(meta or {})
    for name in ("template_sha256", "generator"):
        if name not in meta:
            raise UVMapError(f"{source}: meta must hold '{name}'")
    meta.setdefault("template_name", "")
    for name, value in _versions().items():
        meta.setdefault(name, value)
    meta.update(format_version=FORMAT_VERSION, n_vertices=n_vertices, n_faces=len(faces))
    resolutions = tuple(sorted({int(r) for r in resolutions}))
    if not resolutions or resolutions[0] < 2:
        raise UVMapError(f"{source}: resolutions must be sizes >= 2, got {list(resolutions)}")
    tables = {r: rasterize(vt, ft, r) for r in resolutions}
    weights = {r: part_weight_map(tables[r], faces, parts) for r in resolutions}
    return UVMap(vt=vt, ft=ft, vt2v=vt2v, vt_mirror=vt_mirror, mirror=mirror, tables=tables,
                 weights=weights, meta=meta)
