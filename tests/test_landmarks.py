"""Tips, parts and frame of a body template from its rig or from its geometry alone."""
from dataclasses import replace

import numpy as np
import pytest

from uvkit import load_template
from uvkit.atomic import save_npz
from uvkit.build import build_uv, symmetry_error
from uvkit.errors import TemplateError
from uvkit.landmarks import LandmarkError, TIP_NAMES, extremities, find_landmarks, template_landmarks
from uvkit.parts import MIRROR_JOINTS
from uvkit.shapes import capsule, stick_figure
from uvkit.symmetry import find_mirror
from uvkit.template import template_from_arrays

#: the stick figure's frame turned into a Blender-style file: Z up, facing -Y, in centimetres.
#: rows: file axes in canonical coordinates, so file = canonical @ TO_BLENDER.T
TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@pytest.fixture(scope="module")
def figure():
    return stick_figure()


def _bare(vertices, faces, name="bare.obj"):
    return template_from_arrays({"v_template": vertices, "f": faces}, source=name)


def _landmarks(template, **frame):
    return template_landmarks(template, find_mirror(template.vertices, source=template.source), **frame)


def test_extremities_rank_peaks_by_prominence():
    import scipy.sparse as sp

    # a path graph with values 0 3 1 5 2 4 0: peaks 5 (whole range), 3 (3 - 1) and 4 (4 - 2), ties by vertex id
    values = np.array([0.0, 3.0, 1.0, 5.0, 2.0, 4.0, 0.0])
    i = np.arange(6)
    graph = sp.coo_matrix((np.ones(12), (np.r_[i, i + 1], np.r_[i + 1, i])), shape=(7, 7)).tocsr()
    peaks, prominence = extremities(values, graph)
    assert peaks.tolist() == [3, 1, 5]
    np.testing.assert_allclose(prominence, [5.0, 2.0, 2.0])


def test_stick_figure_tips_and_parts_from_geometry(figure):
    found = _landmarks(_bare(figure.vertices, figure.faces))
    V = figure.vertices
    assert found.source == "geometry" and set(found.tips) == set(TIP_NAMES)
    assert found.frame.is_identity and found.vertices is not None
    assert figure.mirror[found.tips["head"]] == found.tips["head"]
    assert V[found.tips["head"], 1] >= V[:, 1].max() - 0.05
    assert V[found.tips["left_hand"], 0] >= V[:, 0].max() - 0.05 and V[found.tips["right_hand"], 0] <= V[:, 0].min() + 0.05
    for side, sign in (("left", 1), ("right", -1)):
        foot = V[found.tips[f"{side}_foot"]]
        assert foot[1] <= V[:, 1].min() + 0.05 and sign * foot[0] > 0
        assert figure.mirror[found.tips[f"left_{'hand'}"]] == found.tips["right_hand"]
    parts = found.parts
    # exactly mirror symmetric labels
    np.testing.assert_array_equal(parts[figure.mirror], np.asarray(MIRROR_JOINTS)[parts])
    # the coarse groups overlap the figure's own labels (its head is a third larger than a person's)
    groups = {"hand": (20, 21, 22, 23), "foot": (7, 8, 10, 11), "head": (12, 15)}
    for joints in groups.values():
        mine, theirs = np.isin(parts, joints), np.isin(figure.parts, joints)
        assert (mine & theirs).sum() >= 0.5 * theirs.sum()
    assert np.mean(np.isin(parts, (0, 3, 6, 9, 13, 14)) == np.isin(figure.parts, (0, 3, 6, 9, 13, 14))) > 0.7


def test_rig_parts_are_used_when_present(figure):
    rigged = template_from_arrays({"v_template": figure.vertices, "f": figure.faces, "parts": figure.parts}, source="rig.npz")
    found = _landmarks(rigged)
    assert found.source == "rig"
    np.testing.assert_array_equal(found.parts, figure.parts)


def test_frame_is_detected_in_another_frame_and_units(figure):
    moved = figure.vertices @ TO_BLENDER.T * 100.0 + np.array([0.0, 3.0, 12.0])
    found = _landmarks(_bare(moved, figure.faces))
    frame = found.frame
    assert (frame.up, frame.front, frame.left, frame.units) == ("+z", "-y", "+x", "cm")
    assert all(frame.detected.values())
    # canonical coordinates: the original up to the translation along up and front
    shift = found.vertices - figure.vertices
    np.testing.assert_allclose(shift - shift.mean(axis=0), 0.0, atol=1e-9)
    assert abs(shift.mean(axis=0)[0]) < 1e-9
    np.testing.assert_allclose(frame.from_canonical(found.vertices), moved, atol=1e-9)
    # the same body in millimetres and facing +x, Y up
    turn = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    other = _landmarks(_bare(figure.vertices @ turn.T * 1000.0, figure.faces)).frame
    assert (other.up, other.front, other.units) == ("+y", "+x", "mm")


def test_a_body_turned_or_tilted_sideways_in_its_file_is_turned_back(figure):
    """Turned 7 degrees about its vertical and tilted 3 degrees sideways (a scan set down
    askew): the frame's left-right axis is the mirror plane's normal itself, so the canonical
    body is the original one again, up to a translation; a body square in its file keeps an
    exact axis permutation."""
    from scipy.spatial.transform import Rotation

    turn = Rotation.from_euler("YZ", [7.0, 3.0], degrees=True).as_matrix()
    askew = figure.vertices @ turn.T + np.array([0.3, -0.1, 2.0])
    found = _landmarks(_bare(askew, figure.faces))
    frame = found.frame
    np.testing.assert_allclose(frame.rotation @ frame.rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(frame.rotation, turn.T, atol=1e-6)
    shift = found.vertices - figure.vertices
    np.testing.assert_allclose(shift - shift.mean(axis=0), 0.0, atol=1e-6)
    assert abs(shift.mean(axis=0)[0]) < 1e-6                   # the mirror plane at x = 0
    given = _landmarks(_bare(askew, figure.faces), up="y", front="z").frame
    np.testing.assert_allclose(given.rotation, frame.rotation, atol=1e-12)
    assert np.array_equal(_landmarks(_bare(figure.vertices, figure.faces)).frame.rotation, np.eye(3))


def test_given_frame_overrides_and_bad_frames_are_refused(figure):
    moved = figure.vertices @ TO_BLENDER.T
    template = _bare(moved, figure.faces, "moved.obj")
    given = _landmarks(template, up="z", front="-y", units="m").frame
    assert (given.up, given.front, given.units) == ("+z", "-y", "m") and not any(given.detected.values())
    with pytest.raises(TemplateError, match="moved.obj.*not perpendicular"):
        _landmarks(template, up="x")
    with pytest.raises(TemplateError, match="unknown axis"):
        _landmarks(template, up="w")
    giant = _bare(figure.vertices * 10.0, figure.faces, "giant.obj")
    with pytest.raises(TemplateError, match="giant.obj.*pass --units"):
        _landmarks(giant)
    assert _landmarks(giant, units="cm").frame.height == pytest.approx(0.17, rel=0.05)


def test_a_body_lying_down_is_refused_unless_its_axes_are_given(figure):
    # head along +x: lying on its side
    turn = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    lying = _bare(figure.vertices @ turn.T, figure.faces, "lying.obj")
    with pytest.raises(TemplateError, match=r"lying.obj: the body is not upright: its head points along \+x"):
        _landmarks(lying)
    assert _landmarks(lying, up="x", front="z").frame.left == "-y"
    upside_down = _bare(figure.vertices * np.array([1.0, -1.0, -1.0]), figure.faces, "upside_down.obj")
    with pytest.raises(TemplateError, match="upside_down.obj: the body is not upright"):
        _landmarks(upside_down)


def test_no_limbs_is_a_clear_error():
    blob = capsule(radius=0.3, length=1.0)
    template = _bare(blob.vertices, blob.faces, "blob.obj")
    with pytest.raises(LandmarkError, match="blob.obj: no limbs found"):
        _landmarks(template)
    with pytest.raises(LandmarkError, match="blob.obj: no limbs found"):
        build_uv(template, resolutions=(16,))


def test_limbs_touching_the_body_are_refused(figure):
    # arms folded down along the torso, merged into it: no hands stand out
    V = figure.vertices.copy()
    arm = np.abs(V[:, 0]) > 4 * 1.7 / 22
    V[arm, 0] = np.sign(V[arm, 0]) * 4 * 1.7 / 22
    with pytest.raises(LandmarkError, match="folded.obj: no limbs found: 1 of the 2"):
        _landmarks(_bare(V, figure.faces, "folded.obj"))


def test_rotated_scaled_copy_gets_the_same_map(figure, tmp_path):
    plain = _bare(figure.vertices, figure.faces, "plain.obj")
    moved = _bare(figure.vertices @ TO_BLENDER.T * 100.0, figure.faces, "moved.obj")
    a = build_uv(plain, resolutions=(32,))
    b = build_uv(moved, resolutions=(32,))
    assert b.meta["landmarks"]["frame"]["up"] == "+z" and b.meta["landmarks"]["frame"]["units"] == "cm"
    np.testing.assert_array_equal(a.ft, b.ft)
    np.testing.assert_array_equal(a.vt2v, b.vt2v)
    # the iterative solve sees coordinates 100x larger in another order of axes: it rounds
    # differently, by a few millionths of the unit square
    np.testing.assert_allclose(a.vt, b.vt, atol=1e-5)
    assert symmetry_error(b) <= 1e-6 and b.meta["stats"]["flipped_triangles"] == 0
    # given instead of detected: the same map
    c = build_uv(moved, resolutions=(32,), up="z", front="-y", units="cm")
    np.testing.assert_allclose(c.vt, b.vt, atol=1e-12)


def test_unrigged_map_opens_the_limbs(figure):
    bare = build_uv(_bare(figure.vertices, figure.faces), resolutions=(32,))
    rigged = build_uv(template_from_arrays({"v_template": figure.vertices, "f": figure.faces, "parts": figure.parts},
                                           source="rig.npz"), resolutions=(32,))
    assert bare.meta["landmarks"]["source"] == "geometry"
    # seams to the hands and feet, not the spine alone
    assert bare.meta["seam_edges"] >= 0.8 * rigged.meta["seam_edges"]


def test_open_body_without_its_rig_finds_the_rig_tips():
    body = load_template("open")
    bare = replace(body, weights=None, kintree_table=None, J_regressor=None, shapedirs=None, posedirs=None,
                   parts=None, mirror=None)
    mirror = find_mirror(body.vertices, body.mirror)
    geometric = find_landmarks(bare.vertices, bare.faces, mirror.permutation, mirror.normal, mirror.offset)
    rig = find_landmarks(body.vertices, body.faces, mirror.permutation, mirror.normal, mirror.offset, body.parts)
    for name in TIP_NAMES:
        assert np.linalg.norm(body.vertices[geometric.tips[name]] - body.vertices[rig.tips[name]]) < 0.05, name
    assert np.mean(geometric.parts == body.parts) > 0.75
    for joints in ((20, 22), (7, 10), (15,)):
        mine, theirs = np.isin(geometric.parts, joints), np.isin(body.parts, joints)
        assert (mine & theirs).sum() >= 0.8 * theirs.sum() and mine.sum() <= 1.2 * theirs.sum()


def test_cli_info_reports_landmarks(figure, tmp_path, capsys):
    import json

    from uvkit.cli import main

    path = tmp_path / "bare.npz"
    save_npz(path, v_template=figure.vertices @ TO_BLENDER.T * 100.0, f=figure.faces)
    assert main(["info", "-t", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    found = info["landmarks"]
    assert found["source"] == "geometry" and set(found["tips"]) == set(TIP_NAMES)
    assert (found["frame"]["up"], found["frame"]["front"], found["frame"]["units"]) == ("+z", "-y", "cm")
    assert len(found["seam_tips"]["fingers"]) >= 2
    assert main(["info", "-t", str(path)]) == 0
    text = capsys.readouterr().out
    assert "landmarks from the geometry" in text and "up +z (detected)" in text
    out = tmp_path / "map.npz"
    assert main(["build-uv", "-t", str(path), "-o", str(out), "--resolutions", "32", "--up", "z", "--front=-y",
                 "--units", "cm"]) == 0
    # compare measures at the body's real size: millimetres, not centimetres read as metres
    assert main(["compare", str(out), "-t", str(path), "--out", str(tmp_path / "report"), "--poses", "0"]) == 0
    report = json.loads((tmp_path / "report" / "compare.json").read_text())
    assert 1.0 < report["maps"]["map"]["lookup"]["32"]["round_trip_mm"]["mean"] < 100.0


def _tool():
    from tool_scripts import load_tool

    return load_tool("make_test_templates")


def test_cli_info_finds_seam_tips_on_a_noisy_body(tmp_path, capsys):
    """Test template (b), vertex noise as large as its head's and hands' edges: info reports
    the toes and fingertips of the 'full' seams, found on the mirror-symmetric rest shape
    that build-uv routes its seams on (on the noisy positions the toes have no seam path)."""
    import json

    from uvkit.cli import main

    path = _tool().template_b(tmp_path)
    assert main(["info", "-t", str(path), "--json"]) == 0
    tips = json.loads(capsys.readouterr().out)["landmarks"]["seam_tips"]
    assert "error" not in tips, tips
    assert len(tips["fingers"]) == 10 and len(tips["toes"]) == 10 and len(tips["spine"]) == 2


def test_test_templates_d_and_e(figure, tmp_path):
    tool = _tool()
    # (d) from a stand-in for the decimated body: centimetres, Z up, facing -Y
    tool.write_obj(tmp_path / tool.FILE_NAMES.get("a", tool.DECIMATED_NAME), figure.vertices, figure.faces)
    d = load_template(tool.template_d(tmp_path))
    assert np.ptp(d.vertices[:, 2]) == pytest.approx(100.0 * np.ptp(figure.vertices[:, 1]), rel=1e-6)
    frame = _landmarks(d).frame
    assert (frame.up, frame.front, frame.units) == ("+z", "-y", "cm")
    # (e): the open body's arms lowered 45 degrees; the geometry still gives its tips and frame
    body = load_template("open")
    posed = tool.a_pose(body)
    regressor = body.joint_regressor_dense()
    before, after = regressor @ body.vertices, regressor @ posed
    for joints, sign in (((16, 20), 1.0), ((17, 21), -1.0)):   # shoulder -> wrist, left and right
        arm = after[joints[1]] - after[joints[0]]
        # joints regressed from the skinned surface: within 2 degrees of the rotation
        assert np.degrees(np.arctan2(-arm[1], sign * arm[0])) == pytest.approx(45.0, abs=2.0)
        assert abs(before[joints[1], 1] - before[joints[0], 1]) < 1e-3   # it was a T-pose
    mirror = find_mirror(posed)
    found = find_landmarks(posed, body.faces, mirror.permutation, mirror.normal, mirror.offset)
    assert (found.frame.up, found.frame.front) == ("+y", "+z")
    assert np.linalg.norm(posed[found.tips["left_hand"]] - posed[8758]) < 0.05


def test_noisy_open_body_keeps_its_tips():
    # independent noise of up to 13 mm per axis on every vertex: fingers and toes crumple, the
    # limbs still stand out and pair up through the (given) mirror
    body = load_template("open")
    noisy = body.vertices + np.random.default_rng(0).uniform(-0.013, 0.013, body.vertices.shape)
    mirror = find_mirror(noisy, body.mirror)
    found = find_landmarks(noisy, body.faces, mirror.permutation, mirror.normal, mirror.offset)
    rig = find_landmarks(body.vertices, body.faces, mirror.permutation, mirror.normal, mirror.offset, body.parts)
    for name in TIP_NAMES:
        assert np.linalg.norm(body.vertices[found.tips[name]] - body.vertices[rig.tips[name]]) < 0.08, name
    assert (found.frame.up, found.frame.front, found.frame.units) == ("+y", "+z", "m")
    # labels stay exactly mirror symmetric although mirror pairs no longer mirror exactly
    np.testing.assert_array_equal(found.parts[body.mirror], np.asarray(MIRROR_JOINTS)[found.parts])
    assert np.mean(found.parts == body.parts) > 0.7


def test_same_map_in_another_frame_on_an_asymmetric_triangulation(figure):
    from uvkit.shapes import flip_edges

    faces = flip_edges(figure.vertices, figure.faces, figure.vertices[:, 0] > 0, 0.1, seed=0)
    assert not np.array_equal(faces, figure.faces)
    plain = build_uv(_bare(figure.vertices, faces, "plain.obj"), resolutions=(32,))
    moved = build_uv(_bare(figure.vertices @ TO_BLENDER.T * 1000.0, faces, "moved.obj"), resolutions=(32,))
    assert moved.meta["landmarks"]["frame"]["units"] == "mm"
    np.testing.assert_array_equal(plain.ft, moved.ft)
    np.testing.assert_allclose(plain.vt, moved.vt, atol=1e-6)
    assert symmetry_error(moved) <= 1e-6
