"""A UV map written back onto its template as a textured mesh (``uvkit export-uv``).

The OBJ keeps the template's vertices, in its own frame and order, and gives each face corner
its UV vertex (``f v/vt``): a seam vertex has one position and several texture coordinates, so
``uvkit import-uv`` reads the file back onto the template by index and gives the same map.
A glTF binary (``.glb``) has one index per vertex, so there every UV vertex becomes a vertex
(seam vertices split). Texture coordinates follow the OBJ / glTF convention of each format
(OBJ: v grows upwards, ``v_obj = 1 - v``; glTF: v grows downwards like the project's maps).

Optionally a texture image is written beside the mesh and referenced by its material:
``checker`` (a checkerboard: stretch and seams at a glance) or ``parts`` (each texel coloured
by the body part of the face it shows, the colours of the UV figures).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from . import atomic
from .errors import UvkitError, check_choice

#: texture images ``export-uv`` can write.
TEXTURES: tuple[str, ...] = ("checker", "parts")
#: mesh formats by suffix.
EXPORT_SUFFIXES: tuple[str, ...] = (".obj", ".glb")
DEFAULT_TEXTURE_SIZE = 1024


def checker_image(size: int = DEFAULT_TEXTURE_SIZE, squares: int = 16) -> np.ndarray:
    """A checkerboard with a colour ramp across it (so orientation shows).

    Returns (size, size, 3) uint8; row 0 is the top of the image (v = 0 of the project's maps).
    """
    index = (np.arange(size) * squares) // size
    board = (index[:, None] + index[None, :]) % 2
    ramp = np.linspace(0.0, 1.0, size)
    image = np.empty((size, size, 3))
    image[..., 0] = 0.35 + 0.5 * ramp[None, :]
    image[..., 1] = 0.35 + 0.5 * ramp[:, None]
    image[..., 2] = 0.6
    image *= np.where(board, 1.0, 0.55)[..., None]
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def parts_image(vt: np.ndarray, ft: np.ndarray, face_parts: np.ndarray, size: int = DEFAULT_TEXTURE_SIZE) -> np.ndarray:
    """Texels coloured by the body part of the UV face that covers them; white elsewhere.

    vt : (T, 2) float64; ft : (F, 3) int64; face_parts : (F,) int64 SMPL joint ids.
    Returns (size, size, 3) uint8, row r at v = r / (size - 1).
    """
    from .plot import part_colors
    from .raster import rasterize

    table = rasterize(vt, ft, size, fill=True)
    colours = part_colors(np.asarray(face_parts, dtype=np.int64))[:, :3]
    image = np.ones((size, size, 3))
    image[table.mask] = colours[table.face[table.mask]]
    return np.round(image * 255).astype(np.uint8)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def obj_text(vertices: np.ndarray, faces: np.ndarray, vt: np.ndarray | None = None, ft: np.ndarray | None = None,
             material: str | None = None, mtl_name: str | None = None, comment: str = "written by uvkit export-uv") -> str:
    """An OBJ with per-corner texture coordinates (positions and faces only without ``vt``).

    vertices : (V, 3) float64; faces : (F, 3) int64; vt : (T, 2) float64 in the project's
    convention (v along image rows; written as ``1 - v``); ft : (F, 3) int64. Coordinates are
    written with 17 significant digits (they read back bit for bit).
    """
    lines = [f"# {comment}"]
    if mtl_name:
        lines.append(f"mtllib {mtl_name}")
    lines += [f"v {x!r} {y!r} {z!r}" for x, y, z in np.asarray(vertices, dtype=np.float64).tolist()]
    if vt is None:
        lines += [f"f {a} {b} {c}" for a, b, c in (np.asarray(faces, dtype=np.int64) + 1).tolist()]
        return "\n".join(lines) + "\n"
    flipped = np.column_stack([vt[:, 0], 1.0 - vt[:, 1]])
    lines += [f"vt {u!r} {v!r}" for u, v in flipped.tolist()]
    if material:
        lines.append(f"usemtl {material}")
    corners = np.stack([faces + 1, ft + 1], axis=2)  # (F, 3, 2)
    lines += ["f " + " ".join(f"{a}/{b}" for a, b in face) for face in corners.tolist()]
    return "\n".join(lines) + "\n"


def export_uv(uvmap, template, path: str | os.PathLike, *, texture: str | None = None,
              parts: np.ndarray | None = None, texture_size: int = DEFAULT_TEXTURE_SIZE) -> list[Path]:
    """Write ``template`` with ``uvmap`` as its texture coordinates.

    Parameters
    ----------
    uvmap : uvkit.uvmap.UVMap
        a map of this template (checked by its template hash).
    template : uvkit.template.Template
    path : path-like
        ``.obj`` (with a ``.mtl`` when a texture is asked for) or ``.glb``.
    texture : str, optional
        ``"checker"`` or ``"parts"``: also write ``<stem>_<texture>.png`` beside it.
    parts : (V,) int64, optional
        SMPL joint id per vertex for the ``parts`` texture (default ``template.parts``).
    texture_size : int
        side of the texture image in pixels.

    Returns
    -------
    list of Path
        the files written (each atomically).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise UvkitError(f"{path}: unsupported mesh type '{path.suffix}'; use one of {', '.join(EXPORT_SUFFIXES)}")
    if texture is not None:
        check_choice(texture, TEXTURES, "texture")
        if int(texture_size) != texture_size or texture_size < 2:
            raise UvkitError(f"texture_size must be an integer >= 2, got {texture_size}")
    if uvmap.meta.get("template_sha256") not in (None, template.sha256):
        raise UvkitError(f"the UV map belongs to another template than {template.source} (template hash differs)")
    if len(uvmap.ft) != template.n_faces or not np.array_equal(uvmap.vt2v[uvmap.ft], template.faces):
        raise UvkitError(f"the UV map's faces do not match the faces of {template.source}")
    image = None
    if texture == "checker":
        image = checker_image(texture_size)
    elif texture == "parts":
        labels = template.parts if parts is None else np.asarray(parts)
        if labels is None:
            raise UvkitError(f"{template.source}: no part labels for the 'parts' texture")
        from .weights import face_parts

        image = parts_image(uvmap.vt, uvmap.ft, face_parts(template.faces, labels), texture_size)
    written: list[Path] = []
    image_name = f"{path.stem}_{texture}.png" if image is not None else None
    if suffix == ".obj":
        mtl_name = f"{path.stem}.mtl" if image is not None else None
        if image is not None:
            atomic.write_bytes(path.with_name(image_name), _png_bytes(image))
            written.append(path.with_name(image_name))
            material = "uvkit_" + texture
            atomic.write_text(path.with_name(mtl_name),
                              f"newmtl {material}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nillum 1\nmap_Kd {image_name}\n")
            written.append(path.with_name(mtl_name))
        else:
            material = None
        atomic.write_text(path, obj_text(template.vertices, template.faces, uvmap.vt, uvmap.ft, material, mtl_name))
    else:
        atomic.write_bytes(path, _glb_bytes(template, uvmap, image))
        if image is not None:
            atomic.write_bytes(path.with_name(image_name), _png_bytes(image))
            written.append(path.with_name(image_name))
    written.insert(0, path)
    return written


def _glb_bytes(template, uvmap, image: np.ndarray | None) -> bytes:
    """A glTF binary: one vertex per UV vertex (seams split), the texture embedded when given."""
    import trimesh
    from PIL import Image

    vertices = template.vertices[uvmap.vt2v]
    # glTF's texture v grows downwards like the project's; trimesh takes OBJ-style v and flips it
    uv = np.column_stack([uvmap.vt[:, 0], 1.0 - uvmap.vt[:, 1]])
    if image is not None:
        material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(image),
                                                       metallicFactor=0.0, roughnessFactor=1.0)
        visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    else:
        visual = trimesh.visual.TextureVisuals(uv=uv)
    mesh = trimesh.Trimesh(vertices=vertices, faces=uvmap.ft, visual=visual, process=False)
    return mesh.export(file_type="glb")


__all__ = ["export_uv", "obj_text", "checker_image", "parts_image", "TEXTURES", "EXPORT_SUFFIXES"]
