"""Writing predicted meshes: OBJ, PLY, GLB, and textured OBJ (+ MTL + PNG).

Every file is written atomically (:func:`uvkit.atomic.atomic_path`): a temporary file beside
the destination, renamed onto it, so a reader never sees half a mesh. Vertices are written in
the given order and never merged, so vertex ``i`` of the file is vertex ``i`` of the template.

UV coordinates: the project's UV maps have ``u`` along image columns and ``v`` along image rows
(texel ``(r, c)`` of an R x R table at ``(c / (R - 1), r / (R - 1))``, docs/formats.md). OBJ
texture coordinates have v growing upwards and sample pixel centres at ``(c + 0.5) / R``, so a
texture image written row by row from a project UV grid is addressed with
``u_obj = (u (R - 1) + 0.5) / R`` and ``v_obj = 1 - (v (R - 1) + 0.5) / R``
(:func:`obj_texture_coordinates`).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uvkit.atomic import atomic_path, write_bytes

__all__ = ["MESH_FORMATS", "MeshFiles", "check_mesh_format", "obj_texture_coordinates", "write_mesh",
           "write_textured_obj"]

#: the mesh formats :func:`write_mesh` writes.
MESH_FORMATS: tuple[str, ...] = ("obj", "ply", "glb")


@dataclass
class MeshFiles:
    """The files one mesh was written to.

    Attributes
    ----------
    mesh : Path
    material : Path or None
        the ``.mtl`` of a textured OBJ.
    texture : Path or None
        the ``.png`` texture of a textured OBJ.
    """

    mesh: Path
    material: Path | None = None
    texture: Path | None = None


def check_mesh_format(name: str) -> str:
    """Return ``name`` lower-cased if it is one of :data:`MESH_FORMATS`, else raise ``ValueError``."""
    value = str(name).lower().lstrip(".")
    if value not in MESH_FORMATS:
        raise ValueError(f"unknown mesh format {name!r}; valid choices: {', '.join(MESH_FORMATS)}")
    return value


def _check_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be (F, 3) integers, got {faces.shape} {faces.dtype}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"faces index vertices 0..{len(vertices) - 1}, got {faces.min()}..{faces.max()}")
    if not np.isfinite(vertices).all():
        raise ValueError("vertices contain NaN or infinite values")
    return vertices, faces.astype(np.int64)


def _rows(array: np.ndarray, prefix: str, fmt: str) -> str:
    """Lines ``prefix v0 v1 ...`` of a 2-D array (fast: one ``savetxt`` call)."""
    buffer = io.StringIO()
    np.savetxt(buffer, array, fmt=fmt, delimiter=" ")
    text = buffer.getvalue()
    if not text:
        return ""
    return "".join(f"{prefix} {line}\n" for line in text.splitlines())


def _obj_text(vertices: np.ndarray, faces: np.ndarray, vt: np.ndarray | None = None,
              ft: np.ndarray | None = None, material: str | None = None) -> str:
    parts = ["# written by decomr\n"]
    if material is not None:
        parts.append(f"mtllib {material}\nusemtl body\n")
    parts.append(_rows(vertices, "v", "%.6f"))
    if vt is not None:
        parts.append(_rows(vt, "vt", "%.6f"))
        corners = np.stack([faces + 1, ft + 1], axis=-1).reshape(len(faces), 6)
        parts.append(_rows(corners, "f", "%d/%d %d/%d %d/%d"))
    else:
        parts.append(_rows(faces + 1, "f", "%d"))
    return "".join(parts)


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray,
               mesh_format: str | None = None) -> MeshFiles:
    """Write a triangle mesh as OBJ, PLY (binary) or GLB.

    Parameters
    ----------
    path : str or PathLike
        destination; its folder must exist.
    vertices : (V, 3) float array
    faces : (F, 3) int array
    mesh_format : str or None
        one of :data:`MESH_FORMATS`; None: from the file's suffix.

    Returns
    -------
    MeshFiles
    """
    path = Path(path)
    mesh_format = check_mesh_format(mesh_format if mesh_format is not None else path.suffix)
    vertices, faces = _check_mesh(vertices, faces)
    if mesh_format == "obj":
        write_bytes(path, _obj_text(vertices, faces).encode("ascii"))
        return MeshFiles(path)
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    data = mesh.export(file_type=mesh_format)
    write_bytes(path, data if isinstance(data, bytes) else str(data).encode("utf-8"))
    return MeshFiles(path)


def obj_texture_coordinates(vt: np.ndarray, texture_size: tuple[int, int]) -> np.ndarray:
    """Project UV coordinates (v along rows, align_corners texels) -> OBJ ``vt`` for a texture
    image of ``texture_size = (H, W)`` pixels written row by row from the project's UV grid.

    vt : (T, 2) float array -> (T, 2) float64 array.
    """
    vt = np.asarray(vt, dtype=np.float64)
    if vt.ndim != 2 or vt.shape[1] != 2:
        raise ValueError(f"vt must be (T, 2), got {vt.shape}")
    height, width = (int(s) for s in texture_size)
    u = (vt[:, 0] * (width - 1) + 0.5) / width
    v = (vt[:, 1] * (height - 1) + 0.5) / height
    return np.stack([u, 1.0 - v], axis=1)


def write_textured_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, vt: np.ndarray,
                       ft: np.ndarray, texture: np.ndarray) -> MeshFiles:
    """Write an OBJ with texture coordinates, its MTL and its PNG texture.

    The files are ``path`` (``.obj``), ``path`` with suffix ``.mtl`` and ``<stem>_texture.png``,
    all in the same folder; the OBJ names the MTL and the MTL the PNG by file name only, so the
    three move together.

    Parameters
    ----------
    path : str or PathLike
        the ``.obj`` destination.
    vertices : (V, 3) float array
    faces : (F, 3) int array
    vt : (T, 2) float array
        UV vertices in the project's convention (v along image rows, docs/formats.md).
    ft : (F, 3) int array
        UV triangle of each face.
    texture : (H, W, 3) uint8 array
        the texture image, row 0 at v = 0 of the project's convention.

    Returns
    -------
    MeshFiles
    """
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".obj":
        raise ValueError(f"{path}: a textured mesh is written as .obj")
    vertices, faces = _check_mesh(vertices, faces)
    vt = np.asarray(vt, dtype=np.float64)
    ft = np.asarray(ft, dtype=np.int64)
    if ft.shape != faces.shape:
        raise ValueError(f"ft must have the faces' shape {faces.shape}, got {ft.shape}")
    if ft.size and (ft.min() < 0 or ft.max() >= len(vt)):
        raise ValueError(f"ft indexes vt 0..{len(vt) - 1}, got {ft.min()}..{ft.max()}")
    texture = np.asarray(texture)
    if texture.ndim != 3 or texture.shape[2] != 3 or texture.dtype != np.uint8:
        raise ValueError(f"texture must be an (H, W, 3) uint8 image, got {texture.shape} {texture.dtype}")
    material = path.with_suffix(".mtl")
    image = path.with_name(f"{path.stem}_texture.png")
    with atomic_path(image) as tmp:
        Image.fromarray(texture).save(tmp, format="PNG")
    mtl = (f"# written by decomr\nnewmtl body\nKa 1.000 1.000 1.000\nKd 1.000 1.000 1.000\n"
           f"Ks 0.000 0.000 0.000\nillum 1\nmap_Kd {image.name}\n")
    write_bytes(material, mtl.encode("ascii"))
    obj_vt = obj_texture_coordinates(vt, texture.shape[:2])
    write_bytes(path, _obj_text(vertices, faces, obj_vt, ft, material=material.name).encode("ascii"))
    return MeshFiles(path, material=material, texture=image)
