import json
import os
import sys

import numpy as np
import pytest
import scipy.sparse
import trimesh

from uvkit import load_template, save_template_npz, template_hash
from uvkit.errors import TemplateError, UnsafePickleError

from meshes import icosphere, quad_ellipsoid, split_at
from smpl_format import smpl_dict, write_smpl_pickle


def test_smpl_pickle_with_chumpy_and_sparse(tmp_path):
    V, F = icosphere()
    path = tmp_path / "smpl_like.pkl"
    expected = write_smpl_pickle(path, V, F)
    assert "chumpy" not in sys.modules
    template = load_template(path)
    np.testing.assert_array_equal(template.vertices, V)
    np.testing.assert_array_equal(template.faces, F)
    np.testing.assert_allclose(template.shapedirs, expected["shapedirs"])
    assert scipy.sparse.issparse(template.J_regressor)
    np.testing.assert_allclose(template.joint_regressor_dense(), expected["J_regressor"].toarray())
    assert template.kintree_table[0, 0] == -1  # SMPL's 2**32 - 1 root parent
    assert template.parts.shape == (len(V),) and template.parts.max() < 24
    assert template.has_rig and template.extras["bs_style"] == "lbs"


def test_npz_round_trip_keeps_everything(tmp_path):
    V, F = icosphere()
    data = smpl_dict(V, F)
    data["vertex_ids"] = {"nose": 3}
    pkl = tmp_path / "t.pkl"
    write_smpl_pickle(pkl, V, F)
    template = load_template(pkl)
    template.vertex_ids = {"nose": 3}
    out = tmp_path / "t.npz"
    save_template_npz(template, out)
    again = load_template(out)
    assert again.sha256 == template.sha256
    assert again.vertex_ids == {"nose": 3}
    np.testing.assert_allclose(again.joint_regressor_dense(), template.joint_regressor_dense())
    np.testing.assert_array_equal(again.parts, template.parts)
    assert not list(tmp_path.glob("*.tmp*"))


def test_obj_keeps_vertex_order_and_uvs(tmp_path):
    V, F = icosphere(1)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(V))  # a scrambled order that trimesh must not "fix"
    inverse = np.argsort(order)
    V2, F2 = V[order], inverse[F]
    vt = rng.random((len(F) * 3, 2))
    ft = np.arange(len(F) * 3).reshape(-1, 3)
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in V2]
    lines += [f"vt {u:.17g} {v:.17g}" for u, v in vt]
    lines += [f"f {a+1}/{ta+1} {b+1}/{tb+1} {c+1}/{tc+1}" for (a, b, c), (ta, tb, tc) in zip(F2, ft)]
    path = tmp_path / "scrambled.obj"
    path.write_text("\n".join(lines) + "\n")
    template = load_template(path)
    np.testing.assert_array_equal(template.vertices, V2)
    np.testing.assert_array_equal(template.faces, F2)
    np.testing.assert_allclose(template.vt, vt)
    np.testing.assert_array_equal(template.ft, ft)
    assert template.sha256 == template_hash(V2, F2)


@pytest.mark.parametrize("suffix", [".ply", ".glb", ".off"])
def test_other_mesh_files_keep_order(tmp_path, suffix):
    V, F = icosphere(1)
    order = np.random.default_rng(2).permutation(len(V))
    V2, F2 = V[order], np.argsort(order)[F]
    path = tmp_path / f"mesh{suffix}"
    trimesh.Trimesh(V2, F2, process=False).export(path)
    template = load_template(path)
    np.testing.assert_allclose(template.vertices, V2, atol=1e-6)
    np.testing.assert_array_equal(template.faces, F2)


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb", ".stl"])
def test_mesh_files_split_at_seams_are_welded(tmp_path, suffix):
    """Exporters repeat a vertex wherever its texture coordinates or normals differ: the
    template is the closed surface again, and says which file vertex became which."""
    V, F = icosphere(2)
    split_V, split_F = split_at(V, F, V[F].mean(axis=1)[:, 0] > 0.2)
    path = tmp_path / f"split{suffix}"
    if suffix == ".obj":
        path.write_text("".join(f"v {x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in split_V)
                        + "".join(f"f {a+1} {b+1} {c+1}\n" for a, b, c in split_F))
    else:
        trimesh.Trimesh(split_V, split_F, process=False).export(path)
    template = load_template(path)
    # the same triangles at the same corners; an STL stores three vertices per triangle, so
    # there the vertices are numbered in order of first use
    np.testing.assert_allclose(template.vertices[template.faces], V[F], atol=1e-6)
    assert template.n_vertices == len(V) and template.report.closed
    file_vertices = split_V if suffix != ".stl" else split_V[split_F.ravel()]
    if suffix != ".stl":
        np.testing.assert_allclose(template.vertices, V, atol=1e-6)
        np.testing.assert_array_equal(template.faces, F)
    welded = len(file_vertices) - len(V)
    assert template.report.n_welded == welded
    assert f"{welded} coincident vertices of the file welded" in template.report.describe()
    np.testing.assert_allclose(template.vertices[template.file_vertex_index], file_vertices, atol=1e-6)
    # a file without repeated vertices is taken as it is
    whole = tmp_path / f"whole{suffix}"
    trimesh.Trimesh(V, F, process=False).export(whole)
    plain = load_template(whole)
    assert len(plain.vertices) == len(V)
    assert (plain.file_vertex_index is None) == (suffix != ".stl") and plain.report.n_welded == (0 if suffix != ".stl" else 3 * len(F) - len(V))


def test_vertices_no_triangle_uses_are_left_out_of_a_mesh_file(tmp_path):
    """Stray points of a scan, vertices an editor left behind: a mesh file's vertices that no
    triangle uses are left out (an .npz's vertex order is kept and they are refused there:
    tests/test_mesh.py); the others keep their order, and the report and
    ``file_vertex_index`` (-1 for those left out) say so, welding or not."""
    V, F = icosphere(2)
    stray = np.array([[5.0, 5.0, 5.0], [6.0, 6.0, 6.0]])
    file_V = np.vstack([V[:3], stray[:1], V[3:], stray[1:]])          # file vertices 3 and -1 unused
    renumber = np.concatenate([np.arange(3), np.arange(4, len(V) + 1)])
    path = tmp_path / "stray.obj"
    path.write_text("".join(f"v {x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in file_V)
                    + "".join(f"f {a+1} {b+1} {c+1}\n" for a, b, c in renumber[F]))
    template = load_template(path)
    np.testing.assert_allclose(template.vertices, V, atol=1e-12)
    np.testing.assert_array_equal(template.faces, F)
    assert template.report.n_unused == 2 and template.report.n_welded == 0 and template.report.closed
    assert "2 vertices of the file used by no triangle left out" in template.report.describe()
    index = template.file_vertex_index
    assert index[3] == -1 and index[-1] == -1
    used = index >= 0
    np.testing.assert_allclose(template.vertices[index[used]], file_V[used], atol=1e-12)


def _textured_obj(path, V, vt, polygons):
    """An OBJ of vertices ``V`` with one texture coordinate each (``vt``), corners ``i/i``."""
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in V] + [f"vt {u:.17g} {v:.17g}" for u, v in vt]
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in polygon) for polygon in polygons]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_obj_quads_are_split_into_mirrored_triangles(tmp_path):
    """A quad mesh (what body models are usually modelled as): each quad becomes two triangles
    along its shorter diagonal, so quads that mirror each other give triangles that do too;
    the vertices and the texture coordinates of the corners are kept."""
    from uvkit.cut import face_mirror

    V, Q = quad_ellipsoid(4)
    vt = V[:, :2] * 0.25 + 0.5                    # a texture coordinate per vertex, for the corners
    template = load_template(_textured_obj(tmp_path / "quads.obj", V, vt, Q))
    np.testing.assert_array_equal(template.vertices, V)
    assert template.n_faces == 2 * len(Q) and template.report.closed and template.report.genus == 0
    assert template.report.consistently_oriented and template.report.n_polygons_split == len(Q)
    assert f"{len(Q)} polygons of the file split into triangles" in template.report.describe()
    np.testing.assert_allclose(template.vt[template.ft], vt[template.faces])
    # each quad's two triangles, in file order, cover it along a diagonal
    for k in (0, len(Q) // 2, len(Q) - 1):
        corners = set(template.faces[2 * k].tolist()) | set(template.faces[2 * k + 1].tolist())
        assert corners == set(Q[k].tolist())
    mirror = np.array([int(np.flatnonzero(np.all(V == [-x, y, z], axis=1))[0]) for x, y, z in V])
    assert np.all(face_mirror(template.faces, mirror) >= 0)
    # a fan from each quad's first corner would not mirror
    fan = np.vstack([Q[:, [0, 1, 2]], Q[:, [0, 2, 3]]])
    assert np.any(face_mirror(fan, mirror) < 0)
    # larger polygons: a pentagonal prism (two pentagons, five quads) becomes 16 triangles
    angles = 2 * np.pi * np.arange(5) / 5
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    prism = np.vstack([np.c_[ring, np.zeros(5)], np.c_[ring, np.ones(5)]])
    polygons = [[4, 3, 2, 1, 0], [5, 6, 7, 8, 9]] + [[i, (i + 1) % 5, 5 + (i + 1) % 5, 5 + i] for i in range(5)]
    (tmp_path / "prism.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in prism)
                                        + "".join("f " + " ".join(str(i + 1) for i in p) + "\n" for p in polygons))
    solid = load_template(tmp_path / "prism.obj")
    assert solid.n_faces == 16 and solid.report.closed and solid.report.consistently_oriented
    assert solid.report.n_polygons_split == 7
    (tmp_path / "line.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2\n")
    with pytest.raises(TemplateError, match="line.obj:4: a face with 2 corners; a face needs at least 3"):
        load_template(tmp_path / "line.obj")


def test_a_scene_of_several_meshes_is_refused_naming_them(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.icosphere(), geom_name="body")
    scene.add_geometry(trimesh.creation.box(), geom_name="eye")
    scene.export(tmp_path / "character.glb")
    with pytest.raises(TemplateError, match=r"character.glb: holds 2 meshes \('body' 642 vertices, 'eye' 8 vertices\)"):
        load_template(tmp_path / "character.glb")


def test_hash_is_the_same_across_formats(tmp_path):
    V, F = icosphere(1)
    pkl = tmp_path / "a.pkl"
    write_smpl_pickle(pkl, V, F)
    obj = tmp_path / "a.obj"
    obj.write_text("".join(f"v {x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in V) + "".join(f"f {a+1} {b+1} {c+1}\n" for a, b, c in F))
    assert load_template(pkl).sha256 == load_template(obj).sha256 == template_hash(V, F)


def test_bad_files(tmp_path):
    with pytest.raises(TemplateError, match="no such file"):
        load_template(tmp_path / "missing.pkl")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(TemplateError, match="unsupported template type '.txt'"):
        load_template(tmp_path / "x.txt")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(TemplateError, match="junk.npz: not a readable .npz"):
        load_template(tmp_path / "junk.npz")
    np.savez(tmp_path / "nof.npz", v_template=np.zeros((3, 3)))
    with pytest.raises(TemplateError, match="nof.npz: missing key 'f'"):
        load_template(tmp_path / "nof.npz")
    V, F = icosphere(1)
    np.savez(tmp_path / "obj.npz", v_template=V, f=F, extra=np.array([{"a": 1}], dtype=object))
    with pytest.raises(TemplateError, match="Python objects"):
        load_template(tmp_path / "obj.npz")
    np.savez(tmp_path / "w.npz", v_template=V, f=F, weights=np.ones((len(V) - 1, 24)))
    with pytest.raises(TemplateError, match=r"'weights' must have shape \(%d, \*\), got \(%d, 24\)" % (len(V), len(V) - 1)):
        load_template(tmp_path / "w.npz")
    bad_mirror = np.arange(len(V))
    bad_mirror[[0, 1, 2]] = [1, 2, 0]
    np.savez(tmp_path / "m.npz", v_template=V, f=F, mirror=bad_mirror)
    with pytest.raises(TemplateError, match="'mirror' is not an involutive permutation"):
        load_template(tmp_path / "m.npz")


def test_hostile_template_pickle(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "smpl.pkl"
    path.write_bytes(pickle.dumps({"v_template": Payload(), "f": np.zeros((1, 3))}, protocol=2))
    with pytest.raises(UnsafePickleError, match="smpl.pkl"):
        load_template(path)
    assert not (tmp_path / "ran").exists()


def test_triangles_turned_outward_keep_their_texture_corners(tmp_path):
    """An OBJ whose triangles (and texture triangles with them) are all wound inward is loaded
    wound outward; each corner keeps its texture coordinate."""
    V, F = icosphere(2)
    vt = V[:, :2] * 0.25 + 0.5
    template = load_template(_textured_obj(tmp_path / "inward.obj", V, vt, F[:, ::-1]))
    np.testing.assert_array_equal(template.faces, F)
    assert template.report.n_rewound == len(F) and "turned outward" in template.report.describe()
    np.testing.assert_array_equal(template.ft, F)                # the texture triangles turned alike
    np.testing.assert_allclose(template.vt[template.ft], vt[template.faces])


def test_build_uv_on_a_body_wound_inward_is_the_same_map(tmp_path):
    """A mirrored export of a body (every triangle wound inward) gets the map of the body."""
    from uvkit.atomic import save_npz
    from uvkit.build import build_uv
    from uvkit.shapes import stick_figure

    figure = stick_figure(1)
    maps = []
    for name, faces in (("outward", figure.faces), ("inward", figure.faces[:, ::-1])):
        save_npz(tmp_path / f"{name}.npz", v_template=figure.vertices, f=faces, parts=figure.parts)
        maps.append(build_uv(load_template(tmp_path / f"{name}.npz"), resolutions=(32,)))
    np.testing.assert_array_equal(maps[1].vt, maps[0].vt)
    np.testing.assert_array_equal(maps[1].ft, maps[0].ft)


def test_triangles_repeated_or_with_a_repeated_corner_are_left_out(tmp_path):
    """An exporter's doubled triangles (the same corners, in the same or the other order) and a
    triangle with a repeated corner are left out of a mesh file, with their texture triangles;
    the report counts them."""
    V, F = icosphere(2)
    vt = V[:, :2] * 0.25 + 0.5
    messy = np.vstack([F, F[:3], F[3:5, ::-1], [[F[0, 0], F[0, 0], F[0, 1]]]])
    template = load_template(_textured_obj(tmp_path / "messy.obj", V, vt, messy))
    np.testing.assert_array_equal(template.faces, F)
    np.testing.assert_array_equal(template.vertices, V)
    np.testing.assert_array_equal(template.ft, F)
    assert template.report.n_repeated_faces == 5 and template.report.n_collapsed_faces == 1
    described = template.report.describe()
    assert "5 triangles repeated in the file left out" in described
    assert "1 triangle of the file with a repeated corner left out" in described
