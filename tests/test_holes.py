"""``uvkit close-holes``: a template's holes capped so that build-uv can map it."""
import numpy as np
import pytest

from uvkit import load_template
from uvkit.build import build_uv
from uvkit.cli import main
from uvkit.cut import face_mirror
from uvkit.holes import cap_holes, close_holes
from uvkit.mesh import inspect_mesh
from uvkit.shapes import stick_figure
from uvkit.template import save_template_npz, template_from_arrays

from meshes import icosphere, lopsided_egg
from smpl_format import smpl_dict


def _without(vertices, faces, drop):
    """The mesh without the faces ``drop`` (F,) bool and the vertices only they used."""
    kept = faces[~drop]
    used = np.unique(kept)
    index = np.full(len(vertices), -1)
    index[used] = np.arange(len(used))
    return vertices[used], index[kept]


def _holed_sphere():
    """A blob symmetric about x = 0 only, with two holes that mirror each other and one that
    is its own mirror image."""
    V, F = lopsided_egg(3)
    centres = V[F].mean(axis=1)
    middle = V[np.argmax(V[:, 0] + V[:, 2])]
    drop = np.zeros(len(F), dtype=bool)
    for side in (1.0, -1.0):
        drop |= np.linalg.norm(centres - middle * [side, 1.0, 1.0], axis=1) < 0.6
    bottom = V[np.argmin(V[:, 1] + 0.3 * V[:, 2])] * [0.0, 1.0, 1.0]     # and one on the mirror plane
    drop |= np.linalg.norm(centres - bottom, axis=1) < 0.5
    return _without(V, F, drop)


def test_caps_close_the_mesh_keep_its_vertices_and_mirror_each_other():
    V, F = _holed_sphere()
    _, _, report = inspect_mesh(V, F)
    assert report.n_boundary_loops == 3
    F = np.delete(F, np.argmax(V[F].mean(axis=1)[:, 1]), axis=0)     # and a hole of one triangle
    assert inspect_mesh(V, F)[2].n_boundary_loops == 4
    closed_V, closed_F, loops, origin = cap_holes(V, F)
    assert sorted(len(loop) for loop in loops)[0] == 3
    _, _, closed = inspect_mesh(closed_V, closed_F)
    assert closed.closed and closed.genus == 0 and closed.consistently_oriented
    np.testing.assert_array_equal(closed_V[:len(V)], V)          # the template's vertices keep their numbers
    np.testing.assert_array_equal(closed_F[:len(F)], F)
    assert len(origin) == len(closed_V) - len(V) > 2             # rings, not one fan around a centre
    assert np.all((origin[:, 2] > 0) & (origin[:, 2] <= 1))
    # no cap triangle is a sliver: the smallest angle of the new triangles
    corners = closed_V[closed_F[len(F):]]
    edges = [np.linalg.norm(corners[:, (k + 1) % 3] - corners[:, k], axis=1) for k in range(3)]
    area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    assert np.min(2 * area / np.max(edges, axis=0) ** 2) > 0.05
    # the mirrored holes get mirrored caps, the hole on the plane a cap that is its own mirror
    # image (without the extra hole): every vertex has a mirror image, every triangle a mirrored one
    V2, F2, _, _ = cap_holes(*_holed_sphere())
    distance = np.linalg.norm((V2 * [-1.0, 1.0, 1.0])[:, None, :] - V2[None, :, :], axis=2)
    assert distance.min(axis=1).max() < 1e-9
    assert np.all(face_mirror(F2, distance.argmin(axis=1)) >= 0)


def test_a_closed_mesh_is_left_as_it_is():
    V, F = icosphere(2)
    same_V, same_F, loops, origin = cap_holes(V, F)
    assert loops == [] and len(origin) == 0
    assert np.array_equal(same_V, V) and np.array_equal(same_F, F)


def test_close_holes_carries_the_rig_over():
    V, F = _holed_sphere()
    template = template_from_arrays(smpl_dict(V, F), source="holed.pkl")
    closed, loops = close_holes(template)
    n = closed.n_vertices
    assert len(loops) == 3 and n > template.n_vertices and closed.report.closed
    assert closed.weights.shape == (n, 24) and np.allclose(closed.weights.sum(axis=1), 1.0)
    np.testing.assert_array_equal(closed.weights[:len(V)], template.weights)
    assert closed.shapedirs.shape == (n, 3, template.shapedirs.shape[2])
    assert closed.J_regressor.shape == (24, n)
    # the joints are what the template's own vertices give
    np.testing.assert_allclose(closed.joint_regressor_dense() @ closed.vertices,
                               template.joint_regressor_dense() @ template.vertices)
    assert closed.parts.shape == (n,)


def test_cli_closes_a_body_that_build_uv_then_maps(tmp_path, capsys):
    mesh = stick_figure()
    centres = mesh.vertices[mesh.faces].mean(axis=1)
    top = centres[:, 1].max()
    V, F = _without(mesh.vertices, mesh.faces, centres[:, 1] > top - 0.03)     # the top of the head cut off
    path = tmp_path / "open_head.obj"
    path.write_text("".join(f"v {x:.9f} {y:.9f} {z:.9f}\n" for x, y, z in V)
                    + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in F))
    main(["info", "-t", str(path)])               # (its head cut off, it has no head to find: exit 2)
    assert "holes: 1 (boundary loops of" in capsys.readouterr().out
    assert main(["build-uv", "-t", str(path), "-o", str(tmp_path / "x.npz")]) == 2
    assert "uvkit close-holes" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    assert main(["close-holes", str(path), "-o", str(tmp_path / "closed.obj")]) == 0
    out = capsys.readouterr().out
    assert "capped 1 hole(s)" in out and "closed, genus 0" in out
    closed = load_template(tmp_path / "closed.obj")
    np.testing.assert_allclose(closed.vertices[:len(V)], V, atol=1e-8)
    uvmap = build_uv(closed, resolutions=(32,))
    assert uvmap.meta["stats"]["flipped_triangles"] == 0
    # an .npz keeps what the file had; other suffixes are refused
    save_template_npz(template_from_arrays(smpl_dict(V, F), source="holed"), tmp_path / "holed.npz")
    assert main(["close-holes", str(tmp_path / "holed.npz"), "-o", str(tmp_path / "closed.npz")]) == 0
    assert load_template(tmp_path / "closed.npz").has_rig
    assert main(["close-holes", str(path), "-o", str(tmp_path / "closed.ply")]) == 2
    assert "write the template as .obj or .npz" in capsys.readouterr().err


def test_largest_piece_keeps_the_body_and_its_rig(tmp_path, capsys):
    """A body carrying other pieces (SMPL-X and FLAME carry their eyeballs): the largest is
    kept, in the file's order, with the rows of its vertices."""
    from smpl_format import write_smpl_pickle

    mesh = stick_figure()
    eye_V, eye_F = icosphere(1, stretch=(0.01, 0.01, 0.01))
    eye_V = eye_V + mesh.vertices[np.argmax(mesh.vertices[:, 1])] + [0.02, -0.05, 0.05]
    V = np.vstack([eye_V, mesh.vertices])                     # the eyeball first: the body is renumbered
    F = np.vstack([eye_F, mesh.faces + len(eye_V)])
    rig = write_smpl_pickle(tmp_path / "with_eye.pkl", V, F)
    assert main(["build-uv", "-t", str(tmp_path / "with_eye.pkl"), "-o", str(tmp_path / "x.npz")]) == 2
    assert "'uvkit largest-piece' keeps the largest" in capsys.readouterr().err
    assert main(["largest-piece", str(tmp_path / "with_eye.pkl"), "-o", str(tmp_path / "body.npz")]) == 0
    captured = capsys.readouterr()
    assert f"left out 1 piece(s) of {len(eye_V)} vertices" in captured.out
    body = load_template(tmp_path / "body.npz")
    np.testing.assert_array_equal(body.vertices, mesh.vertices)
    np.testing.assert_array_equal(body.faces, mesh.faces)
    assert body.has_rig
    np.testing.assert_allclose(body.weights, rig["weights"][len(eye_V):])
    np.testing.assert_allclose(body.shapedirs, rig["shapedirs"][len(eye_V):])
    np.testing.assert_allclose(body.joint_regressor_dense(), rig["J_regressor"].toarray()[:, len(eye_V):])
    moved = np.flatnonzero(rig["J_regressor"].toarray()[:, :len(eye_V)].sum(axis=1) > 0).tolist()
    assert moved and f"joint(s) {moved} weighed vertices of the removed pieces" in captured.err
    assert main(["largest-piece", str(tmp_path / "with_eye.pkl"), "-o", str(tmp_path / "body.obj")]) == 0
    assert "write .npz to keep the rig" in capsys.readouterr().err
    uvmap = build_uv(load_template(tmp_path / "body.obj"), resolutions=(32,))
    assert uvmap.meta["stats"]["flipped_triangles"] == 0
    # a largest piece that is still not what build-uv needs (a hole) is written with a warning
    import trimesh

    trimesh.Trimesh(np.vstack([eye_V, mesh.vertices]), np.vstack([eye_F, mesh.faces[1:] + len(eye_V)]),
                    process=False).export(tmp_path / "holed_with_eye.obj")
    assert main(["largest-piece", str(tmp_path / "holed_with_eye.obj"), "-o", str(tmp_path / "holed.obj")]) == 0
    captured = capsys.readouterr()
    assert "warning: the result is" in captured.err and "open (1 boundary loops)" in captured.err
    assert "'uvkit close-holes' caps its holes" in captured.err
    assert (tmp_path / "holed.obj").is_file() and "wrote" in captured.out


def test_decimate_brings_a_mesh_down_and_keeps_it_closed(tmp_path, capsys):
    """`uvkit decimate`: a closed genus-0 surface of about the vertices asked for (2 V - 4
    triangles), close to the original; a mesh already small enough is written unchanged; a
    rigged template is decimated without its rig, with a warning."""
    import trimesh

    from uvkit.holes import decimated

    figure = stick_figure(2)
    source = tmp_path / "figure.obj"
    trimesh.Trimesh(figure.vertices, figure.faces, process=False).export(source)
    out = tmp_path / "small.obj"
    assert main(["decimate", str(source), "-o", str(out), "--vertices", "1500"]) == 0
    assert f"{len(figure.vertices)} -> 1500 vertices" in capsys.readouterr().out
    small = load_template(out)
    assert small.n_vertices == 1500 and small.n_faces == 2 * 1500 - 4
    assert small.report.closed and small.report.genus == 0
    # every new vertex lies near the original surface
    import igl

    squared = igl.point_mesh_squared_distance(small.vertices, figure.vertices, figure.faces.astype(np.int64))[0]
    assert np.sqrt(squared.max()) < 0.02 * np.ptp(figure.vertices[:, 1])
    assert decimated(small, 5000) is small
    assert main(["decimate", str(out), "-o", str(tmp_path / "same.obj"), "--vertices", "5000"]) == 0
    assert "written unchanged" in capsys.readouterr().out
    assert main(["decimate", "open", "-o", str(tmp_path / "open.npz"), "--vertices", "3000"]) == 0
    assert "the rig is not carried over" in capsys.readouterr().err
    assert not load_template(tmp_path / "open.npz").has_rig
    assert main(["decimate", str(source), "-o", str(tmp_path / "none.obj"), "--vertices", "3"]) == 2
    assert "cannot decimate to 3 vertices" in capsys.readouterr().err and not (tmp_path / "none.obj").exists()


def test_build_uv_suggests_decimate_for_a_large_template(tmp_path, monkeypatch, capsys):
    import uvkit.cli as cli

    monkeypatch.setattr(cli, "LARGE_TEMPLATE", 100)
    mesh = stick_figure(1)
    path = tmp_path / "figure.npz"
    save_template_npz(template_from_arrays({"v_template": mesh.vertices, "f": mesh.faces}, source="figure"), path)
    assert main(["build-uv", "-t", str(path), "-o", str(tmp_path / "map.npz"), "--resolutions", "32"]) == 0
    warning = capsys.readouterr().err
    assert f"warning: {len(mesh.vertices)} vertices: build-uv takes minutes" in warning
    assert f"'uvkit decimate {path} -o smaller.obj'" in warning
