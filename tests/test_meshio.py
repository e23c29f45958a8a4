"""decomr.meshio: OBJ / PLY / GLB and textured OBJ files re-load with trimesh, vertex order kept."""
from __future__ import annotations

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")

from decomr.meshio import (MESH_FORMATS, check_mesh_format, obj_texture_coordinates, write_mesh,  # noqa: E402
                           write_textured_obj)


def tetrahedron():
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return vertices, faces


@pytest.mark.parametrize("mesh_format", MESH_FORMATS)
def test_mesh_round_trip(tmp_path, mesh_format):
    vertices, faces = tetrahedron()
    written = write_mesh(tmp_path / f"tet.{mesh_format}", vertices, faces)
    mesh = trimesh.load(written.mesh, process=False, force="mesh")
    assert mesh.faces.shape == faces.shape
    np.testing.assert_allclose(mesh.vertices, vertices, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_textured_obj_files_and_uv_convention(tmp_path):
    vertices, faces = tetrahedron()
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    ft = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4], [0, 4, 1]])
    texture = np.zeros((4, 8, 3), dtype=np.uint8)
    files = write_textured_obj(tmp_path / "body.obj", vertices, faces, vt, ft, texture)
    assert files.material.name == "body.mtl" and files.texture.name == "body_texture.png"
    assert "map_Kd body_texture.png" in files.material.read_text()
    text = files.mesh.read_text()
    assert "mtllib body.mtl" in text and "f 1/1 3/2 2/3" in text
    mesh = trimesh.load(files.mesh, process=False, force="mesh")
    assert len(mesh.faces) == len(faces)
    # project v runs down the rows; OBJ v runs up, sampling texel centres
    obj = obj_texture_coordinates(vt, (4, 8))
    np.testing.assert_allclose(obj[0], [0.5 / 8, 1 - 0.5 / 4])
    np.testing.assert_allclose(obj[3], [1 - 0.5 / 8, 0.5 / 4])


def test_bad_input(tmp_path):
    vertices, faces = tetrahedron()
    with pytest.raises(ValueError, match="valid choices: obj, ply, glb"):
        check_mesh_format("stl")
    with pytest.raises(ValueError, match="faces index"):
        write_mesh(tmp_path / "a.obj", vertices, faces + 1)
    with pytest.raises(ValueError, match="NaN"):
        write_mesh(tmp_path / "a.obj", vertices * np.nan, faces)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_mesh(tmp_path / "missing" / "a.obj", vertices, faces)
    with pytest.raises(ValueError, match="uint8"):
        write_textured_obj(tmp_path / "a.obj", vertices, faces, np.zeros((4, 2)), faces, np.zeros((4, 4, 3)))
