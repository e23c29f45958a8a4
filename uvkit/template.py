"""Body templates: loading SMPL ``.pkl``, ``.npz`` and mesh files, validation, hashing.

A :class:`Template` is a triangle mesh with, optionally, an SMPL-format rig (skinning weights,
kinematic tree, joint regressor, blend shapes), a native UV atlas, a mirror permutation and
per-vertex part labels. ``load_template("open")`` gives the project's open body.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from . import safe_pickle
from .errors import TemplateError
from .mesh import MeshReport, check_faces, check_vertices, inspect_mesh, weld_coincident
from .parts import parts_from_weights

#: names that :func:`load_template` resolves to a committed asset.
OPEN_BODY_NAMES = ("open", "open_body", "open-body")

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")
TEMPLATE_SUFFIXES = (".pkl", ".npz") + MESH_SUFFIXES

_RIG_KEYS = ("weights", "kintree_table", "J_regressor", "shapedirs", "posedirs")


def assets_dir() -> Path:
    """The folder holding the project's committed assets.

    ``UVKIT_ASSETS`` overrides it; by default it is ``assets/`` beside the package folder
    (the source checkout, installed in editable mode).
    """
    env = os.environ.get("UVKIT_ASSETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "assets"


def open_body_path() -> Path:
    """Path of the open body template (``assets/open_body.npz``)."""
    return assets_dir() / "open_body.npz"


def template_hash(vertices: np.ndarray, faces: np.ndarray) -> str:
    """SHA-256 identifying a template's geometry and topology (docs/formats.md).

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int

    Returns
    -------
    digest : str
        64 hex digits.
    """
    digest = hashlib.sha256(b"uvkit-template-v1")
    digest.update(np.ascontiguousarray(faces, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(vertices, dtype="<f8").tobytes())
    return digest.hexdigest()


@dataclass
class Template:
    """A body template.

    Attributes
    ----------
    vertices : (V, 3) float64
        rest-pose positions (metres for SMPL-format bodies).
    faces : (F, 3) int64
    name : str
        a short name (file stem, or ``open_body``).
    source : str
        where it was loaded from.
    report : MeshReport
        topology summary.
    weights : (V, J) float64 or None
    kintree_table : (2, J) int64 or None
    J_regressor : (J, V) float64 scipy.sparse.csr_matrix or ndarray, or None
    shapedirs : (V, 3, K) float64 or None
    posedirs : (V, 3, P) float64 or None
    vt : (T, 2) float64 or None
        native UV atlas.
    ft : (F, 3) int64 or None
    mirror : (V,) int64 or None
        stored left-right mirror permutation, if the file has one.
    parts : (V,) int64 or None
        SMPL joint id per vertex; derived from ``weights`` when the file has none.
    vertex_ids : dict[str, int]
        landmarks for smplx.
    file_vertex_index : (V_file,) int64 or None
        for a mesh file whose exporter repeated vertices (at UV seams, hard edges): the template
        vertex each vertex of the file became once coincident ones were welded
        (``vertices[file_vertex_index]`` are the file's positions), -1 for a vertex no triangle
        used (left out); None when the template's vertices are the file's.
    extras : dict[str, numpy.ndarray]
        other keys of the file, kept unchanged.
    """

    vertices: np.ndarray
    faces: np.ndarray
    name: str
    source: str
    report: MeshReport
    weights: np.ndarray | None = None
    kintree_table: np.ndarray | None = None
    J_regressor: Any = None
    shapedirs: np.ndarray | None = None
    posedirs: np.ndarray | None = None
    vt: np.ndarray | None = None
    ft: np.ndarray | None = None
    mirror: np.ndarray | None = None
    parts: np.ndarray | None = None
    vertex_ids: dict[str, int] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    file_vertex_index: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def sha256(self) -> str:
        """:func:`template_hash` of this template."""
        return template_hash(self.vertices, self.faces)

    @property
    def has_rig(self) -> bool:
        """True when the template can be posed (weights, kinematic tree, joint regressor)."""
        return self.weights is not None and self.kintree_table is not None and self.J_regressor is not None

    def joint_regressor_dense(self) -> np.ndarray:
        """``J_regressor`` as a dense (J, V) float64 array."""
        if self.J_regressor is None:
            raise TemplateError(f"{self.source}: the template has no 'J_regressor'")
        if scipy.sparse.issparse(self.J_regressor):
            return np.asarray(self.J_regressor.toarray(), dtype=np.float64)
        return np.asarray(self.J_regressor, dtype=np.float64)

    def as_smpl_dict(self) -> dict[str, Any]:
        """The SMPL keys as a dict of arrays (posedirs zero-filled when absent), for smplx."""
        if not self.has_rig or self.shapedirs is None:
            missing = [k for k in _RIG_KEYS[:-1] if getattr(self, k) is None]
            raise TemplateError(f"{self.source}: cannot be posed, missing key(s) {missing}")
        n_joints = self.weights.shape[1]
        posedirs = self.posedirs
        if posedirs is None:
            posedirs = np.zeros((self.n_vertices, 3, 9 * (n_joints - 1)))
        out = {
            "v_template": self.vertices,
            "f": self.faces,
            "weights": self.weights,
            "kintree_table": self.kintree_table,
            "J_regressor": self.joint_regressor_dense(),
            "shapedirs": self.shapedirs,
            "posedirs": posedirs,
        }
        return out

    def with_vertices(self, vertices: np.ndarray) -> "Template":
        """A copy with other rest positions (same topology and rig)."""
        return replace(self, vertices=np.ascontiguousarray(vertices, dtype=np.float64))


def _read_npz(path: Path) -> dict[str, Any]:
    if not zipfile.is_zipfile(path):
        raise TemplateError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {key: data[key] for key in data.files}
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise TemplateError(f"{path}: holds Python objects; only plain arrays are accepted") from None
        raise TemplateError(f"{path}: not a readable .npz file ({error})") from None
    except Exception as error:
        raise TemplateError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None
    if "vertex_ids" in out:
        out["vertex_ids"] = json.loads(str(out["vertex_ids"]))
    return out


def _read_obj(path: Path) -> dict[str, Any]:
    """Positions, triangles and vt/ft of an OBJ, in file order (polygons split into triangles,
    :func:`_triangulate`).

    A small reader of our own: trimesh splits vertices at UV seams when an OBJ has ``vt``
    lines, which would renumber the vertices that UV maps and regressors refer to.
    """
    positions: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[list[int]] = []
    face_uvs: list[list[int]] = []
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            tag = parts[0]
            try:
                if tag == "v":
                    positions.append([float(x) for x in parts[1:4]])
                    if len(positions[-1]) != 3:
                        raise ValueError("a vertex needs 3 coordinates")
                elif tag == "vt":
                    uvs.append([float(x) for x in parts[1:3]])
                    if len(uvs[-1]) != 2:
                        raise ValueError("a texture vertex needs 2 coordinates")
                elif tag == "f":
                    corners = [corner.split("/") for corner in parts[1:]]
                    if len(corners) < 3:
                        raise TemplateError(f"{path}:{number}: a face with {len(corners)} corners; a face needs at least 3")
                    index = [int(c[0]) for c in corners]
                    faces.append([i - 1 if i > 0 else len(positions) + i for i in index])
                    if all(len(c) > 1 and c[1] for c in corners):
                        t = [int(c[1]) for c in corners]
                        face_uvs.append([i - 1 if i > 0 else len(uvs) + i for i in t])
            except ValueError as error:
                raise TemplateError(f"{path}:{number}: cannot parse '{line.strip()}' ({error})") from None
    if not positions or not faces:
        raise TemplateError(f"{path}: no vertices or no faces found")
    if uvs and face_uvs and len(face_uvs) != len(faces):
        raise TemplateError(f"{path}: {len(faces) - len(face_uvs)} faces have no texture coordinates")
    split = sum(len(face) > 3 for face in faces)
    if split:
        faces, face_uvs = _triangulate(faces, face_uvs if face_uvs else None, positions, path)
    out: dict[str, Any] = {"v_template": np.asarray(positions), "f": np.asarray(faces, dtype=np.int64)}
    if split:
        out["polygons_split"] = split
    if uvs and face_uvs:
        out["vt"] = np.asarray(uvs)
        out["ft"] = np.asarray(face_uvs, dtype=np.int64)
    return out


def _triangulate(faces: list[list[int]], face_uvs: list[list[int]] | None, positions: list[list[float]],
                 path: Path) -> tuple[list[list[int]], list[list[int]]]:
    """Polygons of an OBJ split into triangles (quads into two), keeping their orientation and
    their place in the file's order.

    Each step cuts off the corner whose neighbours are nearest to each other (for a quad: the
    shorter diagonal), a choice made from the geometry alone, so that a body whose quads mirror
    each other gets triangles that mirror each other too (up to exact ties). A cut that folds
    the polygon (an ear turning against its normal: the short diagonal of a quad that is not
    convex) is taken only when every cut does, and a cut along an existing edge of the mesh
    (which would give an edge three triangles) only when every cut is one. ``face_uvs`` (one
    per face, or None) are split at the same corners. Returns the triangles and their UV faces.
    """
    points = np.asarray(positions, dtype=np.float64)
    for k, face in enumerate(faces):
        if max(face) >= len(points) or min(face) < 0:
            raise TemplateError(f"{path}: face {k} indexes vertices {min(face)}..{max(face)} but there are {len(points)} vertices")
    # the mesh's edges: a cut along one of them would make an edge of three triangles
    edges = {(min(a, b), max(a, b)) for face in faces for a, b in zip(face, face[1:] + face[:1])}
    sizes = np.array([len(face) for face in faces])
    pieces: list[list[list[int]]] = [[list(range(3))] if size == 3 else [] for size in sizes]   # corner triples

    # quads, all at once: the cut (1, 3) (ears 0 and 2) or (0, 2) (ears 1 and 3)
    quads = np.flatnonzero(sizes == 4)
    if len(quads):
        q = np.array([faces[k] for k in quads.tolist()], dtype=np.int64)
        corner = points[q]
        normal = np.cross(corner, np.roll(corner, -1, axis=1)).sum(axis=1)
        turns = np.einsum("qkc,qc->qk", np.cross(corner - np.roll(corner, 1, axis=1), np.roll(corner, -1, axis=1) - corner), normal)
        keys = []
        for a, b, ears in ((1, 3, (0, 2)), (0, 2, (1, 3))):
            known = np.array([(min(x, y), max(x, y)) in edges for x, y in q[:, [a, b]].tolist()])
            folds = np.minimum(turns[:, ears[0]], turns[:, ears[1]]) <= 0
            keys.append((known, folds, np.linalg.norm(corner[:, a] - corner[:, b], axis=1)))
        (known13, folds13, gap13), (known02, folds02, gap02) = keys
        # the first ear by (is an edge, folds, length, corner): a tie goes to the cut (1, 3)
        cut13 = (known13 < known02) | ((known13 == known02) & ((folds13 < folds02) | ((folds13 == folds02) & (gap13 <= gap02))))
        for k, across in zip(quads.tolist(), cut13.tolist()):
            pieces[k] = [[3, 0, 1], [1, 2, 3]] if across else [[0, 1, 2], [0, 2, 3]]
            edges.add(tuple(sorted((faces[k][1], faces[k][3]) if across else (faces[k][0], faces[k][2]))))

    for k in np.flatnonzero(sizes > 4).tolist():
        face, corners = faces[k], list(range(sizes[k]))
        while len(corners) > 3:
            n = len(corners)
            ring = points[[face[c] for c in corners]]
            # the polygon's normal (Newell's), against which an ear that folds back is told
            normal = np.cross(ring, np.roll(ring, -1, axis=0)).sum(axis=0)
            turns = np.cross(ring - np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0) - ring) @ normal
            cuts = [(face[corners[i - 1]], face[corners[(i + 1) % n]]) for i in range(n)]
            gaps = [float(np.linalg.norm(points[a] - points[b])) for a, b in cuts]
            # the shortest cut that neither folds nor is an edge already (the least bad otherwise)
            i = min(range(n), key=lambda j: ((min(cuts[j]), max(cuts[j])) in edges, turns[j] <= 0, gaps[j]))
            edges.add((min(cuts[i]), max(cuts[i])))
            pieces[k].append([corners[i - 1], corners[i], corners[(i + 1) % n]])
            del corners[i]
        pieces[k].append(corners)
    triangles = [[face[c] for c in piece] for face, split in zip(faces, pieces) for piece in split]
    uv_triangles = [] if face_uvs is None else [[uvs[c] for c in piece] for uvs, split in zip(face_uvs, pieces) for piece in split]
    return triangles, uv_triangles


def _read_mesh(path: Path) -> dict[str, Any]:
    import trimesh

    try:
        loaded = trimesh.load(path, process=False, maintain_order=True)
    except Exception as error:
        raise TemplateError(f"{path}: cannot read the mesh ({type(error).__name__}: {error})") from None
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.geometry.values())
        if len(geometries) != 1:
            sizes = ", ".join(f"'{name}' {len(getattr(mesh, 'vertices', ()))} vertices"
                              for name, mesh in sorted(loaded.geometry.items(), key=lambda item: -len(getattr(item[1], "vertices", ())))[:6])
            raise TemplateError(f"{path}: holds {len(geometries)} meshes ({sizes}); a template must be exactly one: "
                                "export the body alone")
        loaded = geometries[0]
    if not isinstance(loaded, trimesh.Trimesh):
        raise TemplateError(f"{path}: is not a triangle mesh (got {type(loaded).__name__})")
    out = {"v_template": np.asarray(loaded.vertices), "f": np.asarray(loaded.faces)}
    uv = getattr(loaded.visual, "uv", None)
    if uv is not None and np.shape(uv) == (len(out["v_template"]), 2):
        # texture coordinates per vertex (OBJ-style v, as trimesh gives them): the native UV map
        out["vt"], out["ft"] = np.asarray(uv, dtype=np.float64), out["f"]
    return out


def _welded(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A mesh file's arrays with its coincident vertices welded (:func:`uvkit.mesh.weld_coincident`
    within ``tol.weld_fraction`` of the bounding-box diagonal) and its vertices that no triangle
    uses (a scan's stray points, what an editor leaves behind) left out. When any were, the
    arrays get ``file_vertex_index`` (the template vertex each vertex of the file became, -1 for
    one left out), ``collapsed_faces`` (triangles left out for a repeated corner),
    ``repeated_faces`` (triangles with the corners of an earlier one, left out) and
    ``unused_vertices``; ``ft`` loses the same triangles. Malformed arrays are returned as they
    are, for the validation to name."""
    from .tolerances import tol

    try:
        vertices = check_vertices(data["v_template"], str(path), "v_template")
        faces = np.asarray(data["f"])
    except (TemplateError, KeyError):
        return data
    if (faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0 or not np.issubdtype(faces.dtype, np.integer)
            or faces.min() < 0 or faces.max() >= len(vertices)):
        return data
    faces = faces.astype(np.int64)
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    welded, kept_faces_of, index, kept = weld_coincident(vertices, faces, tol.weld_fraction * diagonal)
    used = np.zeros(len(welded), dtype=bool)
    used[kept_faces_of.ravel()] = True
    if len(welded) == len(vertices) and used.all() and kept.all():
        return data
    renumbered = index[faces]
    collapsed = int(np.sum((renumbered[:, 0] == renumbered[:, 1]) | (renumbered[:, 1] == renumbered[:, 2])
                           | (renumbered[:, 2] == renumbered[:, 0])))
    if not used.all():
        renumber = np.where(used, np.cumsum(used) - 1, -1)
        welded, kept_faces_of, index = welded[used], renumber[kept_faces_of], renumber[index]
    out = {**data, "v_template": welded, "f": kept_faces_of, "file_vertex_index": index,
           "collapsed_faces": collapsed, "repeated_faces": int(np.sum(~kept)) - collapsed,
           "unused_vertices": int(np.sum(index < 0))}
    if data.get("ft") is not None and np.shape(data["ft"]) == faces.shape:
        out["ft"] = np.asarray(data["ft"])[kept]
    return out


def read_template_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """The raw arrays of a template file, by its suffix (no validation)."""
    path = Path(path)
    if not path.exists():
        raise TemplateError(f"{path}: no such file")
    if path.is_dir():
        raise TemplateError(f"{path}: is a folder, not a template file")
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        data = safe_pickle.load(path)
        if not isinstance(data, dict):
            raise TemplateError(f"{path}: the pickle holds a {type(data).__name__}, not a dict of SMPL keys")
        return data
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in MESH_SUFFIXES:
        return _welded(_read_obj(path) if suffix == ".obj" else _read_mesh(path), path)
    raise TemplateError(f"{path}: unsupported template type '{suffix}'; use one of {', '.join(TEMPLATE_SUFFIXES)}")


def _float_array(data: dict, key: str, source: str, shape: tuple) -> np.ndarray | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if scipy.sparse.issparse(value):
        value = value.toarray()
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number):
        raise TemplateError(f"{source}: '{key}' must be numeric, got dtype {array.dtype}")
    expected = tuple(shape)
    if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
        wanted = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise TemplateError(f"{source}: '{key}' must have shape {wanted}, got {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise TemplateError(f"{source}: '{key}' of shape {array.shape} holds NaN or infinite values")
    return array


def template_from_arrays(data: dict[str, Any], source: str = "template", name: str | None = None) -> Template:
    """Validate a dict of SMPL keys (``v_template`` and ``f`` at least) into a :class:`Template`.

    Raises
    ------
    TemplateError
        naming ``source``, the key and the shape of anything malformed.
    """
    for key in ("v_template", "f"):
        if key not in data:
            raise TemplateError(f"{source}: missing key '{key}' (keys found: {sorted(map(str, data))})")
    faces_raw = data["f"]
    vertices, faces, report = inspect_mesh(data["v_template"], faces_raw, source, "v_template", "f")
    n_vertices = len(vertices)
    weights = _float_array(data, "weights", source, (n_vertices, None))
    n_joints = None if weights is None else weights.shape[1]
    kintree = data.get("kintree_table")
    if kintree is not None:
        kintree = np.asarray(kintree)
        if kintree.ndim != 2 or kintree.shape[0] != 2 or (n_joints is not None and kintree.shape[1] != n_joints):
            raise TemplateError(f"{source}: 'kintree_table' must have shape (2, {n_joints or 'J'}), got {kintree.shape}")
        kintree = kintree.astype(np.int64)
        kintree[kintree >= 2**31] = -1  # SMPL stores the root's parent as 2**32 - 1
    regressor = data.get("J_regressor")
    if regressor is not None:
        if scipy.sparse.issparse(regressor):
            regressor = scipy.sparse.csr_matrix(regressor, dtype=np.float64)
        else:
            regressor = _float_array(data, "J_regressor", source, (n_joints, n_vertices))
        if regressor.shape[1] != n_vertices or (n_joints is not None and regressor.shape[0] != n_joints):
            raise TemplateError(f"{source}: 'J_regressor' must have shape ({n_joints or 'J'}, {n_vertices}), got {regressor.shape}")
    shapedirs = _float_array(data, "shapedirs", source, (n_vertices, 3, None))
    posedirs = data.get("posedirs")
    if posedirs is not None and np.ndim(posedirs) == 2:  # smplx's (P, V*3) layout
        posedirs = np.asarray(posedirs).reshape(-1, n_vertices, 3).transpose(1, 2, 0)
        data = {**data, "posedirs": posedirs}
    posedirs = _float_array(data, "posedirs", source, (n_vertices, 3, None))
    vt = _float_array(data, "vt", source, (None, 2))
    ft = None
    if data.get("ft") is not None:
        if vt is None:
            raise TemplateError(f"{source}: has 'ft' but no 'vt'")
        ft = check_faces(data["ft"], len(vt), source, "ft")
        if ft.shape != faces.shape:
            raise TemplateError(f"{source}: 'ft' must have the shape of 'f' {faces.shape}, got {ft.shape}")
        if report.n_rewound:
            # the texture triangles turn with the triangles the validation turned (corner for corner)
            turned = np.any(faces != check_faces(faces_raw, n_vertices, source, "f"), axis=1)
            ft = np.ascontiguousarray(np.where(turned[:, None], ft[:, ::-1], ft))
    mirror = data.get("mirror")
    if mirror is not None:
        mirror = np.asarray(mirror)
        if mirror.shape != (n_vertices,) or not np.issubdtype(mirror.dtype, np.integer):
            raise TemplateError(f"{source}: 'mirror' must be ({n_vertices},) integers, got {mirror.shape} {mirror.dtype}")
        mirror = mirror.astype(np.int64)
        if mirror.min() < 0 or mirror.max() >= n_vertices or not np.array_equal(mirror[mirror], np.arange(n_vertices)):
            raise TemplateError(f"{source}: 'mirror' is not an involutive permutation of the {n_vertices} vertices")
    parts = data.get("parts")
    if parts is not None:
        parts = np.asarray(parts)
        if parts.shape != (n_vertices,) or not np.issubdtype(parts.dtype, np.integer):
            raise TemplateError(f"{source}: 'parts' must be ({n_vertices},) integers, got {parts.shape} {parts.dtype}")
        parts = parts.astype(np.int64)
    elif weights is not None:
        parts = parts_from_weights(weights)
    vertex_ids = data.get("vertex_ids") or {}
    if not isinstance(vertex_ids, dict):
        raise TemplateError(f"{source}: 'vertex_ids' must be a mapping of names to vertex indices")
    vertex_ids = {str(k): int(v) for k, v in vertex_ids.items()}
    bad_ids = {k: v for k, v in vertex_ids.items() if not 0 <= v < n_vertices}
    if bad_ids:
        raise TemplateError(f"{source}: 'vertex_ids' out of range for {n_vertices} vertices: {bad_ids}")
    known = {"v_template", "f", "weights", "kintree_table", "J_regressor", "shapedirs", "posedirs", "vt", "ft", "mirror", "parts",
             "vertex_ids", "file_vertex_index", "collapsed_faces", "repeated_faces", "polygons_split",
             "unused_vertices"}
    extras = {k: v for k, v in data.items() if k not in known}
    if data.get("polygons_split"):
        report = replace(report, n_polygons_split=int(data["polygons_split"]))
    file_vertex_index = data.get("file_vertex_index")
    if file_vertex_index is not None:
        file_vertex_index = np.asarray(file_vertex_index, dtype=np.int64)
        unused = int(data.get("unused_vertices", 0))
        report = replace(report, n_welded=len(file_vertex_index) - n_vertices - unused,
                         n_collapsed_faces=int(data.get("collapsed_faces", 0)),
                         n_repeated_faces=int(data.get("repeated_faces", 0)), n_unused=unused)
    return Template(
        vertices=vertices,
        faces=faces,
        name=name or Path(source).stem,
        source=str(source),
        report=report,
        weights=weights,
        kintree_table=kintree,
        J_regressor=regressor,
        shapedirs=shapedirs,
        posedirs=posedirs,
        vt=vt,
        ft=ft,
        mirror=mirror,
        parts=parts,
        vertex_ids=vertex_ids,
        extras=extras,
        file_vertex_index=file_vertex_index,
    )


def load_template(path: str | os.PathLike = "open") -> Template:
    """Load and validate a body template.

    Parameters
    ----------
    path : str or path-like
        an SMPL-format ``.pkl`` (read without chumpy, through a restricted unpickler), an
        ``.npz`` with the same keys, a mesh file (``.obj``, ``.ply``, ``.glb``, ``.off``,
        ``.stl``; vertex order kept as in the file), or ``"open"`` for the project's open body.

    Raises
    ------
    TemplateError
        the file is missing, unreadable or not a valid template; the message names the file,
        the key and the shape.
    """
    name = None
    if str(path) in OPEN_BODY_NAMES:
        path, name = open_body_path(), "open_body"
        if not path.exists():
            raise TemplateError(f"the open body asset is missing: {path} (run tools/export_open_body.py)")
    data = read_template_arrays(path)
    return template_from_arrays(data, source=str(path), name=name)


def save_template_npz(template: Template, path: str | os.PathLike) -> None:
    """Write ``template`` as an SMPL-format ``.npz`` (docs/formats.md), atomically."""
    from .atomic import save_npz

    arrays: dict[str, Any] = {"v_template": template.vertices, "f": template.faces}
    for key in ("weights", "kintree_table", "shapedirs", "posedirs", "vt", "ft", "mirror", "parts"):
        value = getattr(template, key)
        if value is not None:
            arrays[key] = value
    if template.J_regressor is not None:
        arrays["J_regressor"] = template.joint_regressor_dense()
    if template.vertex_ids:
        arrays["vertex_ids"] = np.array(json.dumps(template.vertex_ids, sort_keys=True))
    for key, value in template.extras.items():
        value = value.toarray() if scipy.sparse.issparse(value) else value
        if isinstance(value, (np.ndarray, str, int, float)) and np.asarray(value).dtype != object:
            arrays[key] = np.asarray(value)  # other Python objects of a pickle are not carried over
    save_npz(path, **arrays)
