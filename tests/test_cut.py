import numpy as np
import pytest

from uvkit import cut, shapes
from uvkit.errors import TemplateError, UvkitError


def _disk_checks(mesh, c):
    n = len(mesh.vertices)
    T = len(c.vt2v)
    assert np.array_equal(c.vt2v[:n], np.arange(n))
    assert np.array_equal(c.vt2v[c.ft], mesh.faces)                 # same faces, same order
    edges = np.unique(np.sort(np.concatenate([c.ft[:, [0, 1]], c.ft[:, [1, 2]], c.ft[:, [2, 0]]]), axis=1), axis=0)
    assert T - len(edges) + len(c.ft) == 1                           # Euler characteristic of a disk
    assert len(cut.boundary_loops(c.ft)) == 1
    # mirror of cut vertices: an involution over the mirrored template vertex
    assert np.array_equal(c.vt_mirror[c.vt_mirror], np.arange(T))
    assert np.array_equal(c.vt2v[c.vt_mirror], mesh.mirror[c.vt2v])
    # seams: a tree, mapped onto itself by the mirror
    seam = {tuple(e) for e in c.seam_edges.tolist()}
    mirrored = {tuple(sorted(e)) for e in mesh.mirror[c.seam_edges].tolist()}
    assert seam == mirrored
    assert len(np.unique(c.seam_edges)) == len(c.seam_edges) + 1


def test_capsule_cut_along_spine():
    mesh = shapes.capsule()
    c = cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts)
    _disk_checks(mesh, c)
    # the spine runs over mid-plane vertices at the back
    ids = np.unique(c.seam_edges)
    assert np.all(mesh.mirror[ids] == ids)
    assert np.all(mesh.vertices[ids, 2] <= 1e-12)


@pytest.mark.parametrize("preset", ["body", "body-neck", "fingers"])
def test_stick_figure_cut_is_one_symmetric_disk(preset):
    mesh = shapes.stick_figure(1)
    c = cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts, seams=preset)
    _disk_checks(mesh, c)
    assert c.seams.name == preset
    assert mesh.parts[c.tips["left_foot"]] == 10 and mesh.parts[c.tips["right_foot"]] == 11
    assert c.tips["right_foot"] == mesh.mirror[c.tips["left_foot"]]


def test_cut_is_deterministic():
    mesh = shapes.stick_figure(1)
    a = cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts)
    b = cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts)
    assert np.array_equal(a.ft, b.ft) and np.array_equal(a.seam_edges, b.seam_edges)


@pytest.mark.parametrize("build, message", [
    (shapes.capsule_with_hole, "not closed"),
    (shapes.two_capsules, "2 connected components"),
    (shapes.capsule_with_fin, "non-manifold"),
    (shapes.torus, "genus 1"),
])
def test_bad_templates_are_refused(build, message):
    mesh = build()
    with pytest.raises(TemplateError, match=message):
        cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, mesh.parts)


def test_nan_and_bad_mirror_are_refused():
    mesh = shapes.capsule()
    v = mesh.vertices.copy()
    v[3] = np.nan
    with pytest.raises(TemplateError, match="NaN"):
        cut.cut_template(v, mesh.faces, mesh.mirror)
    with pytest.raises(cut.CutError, match="involution"):
        cut.cut_template(mesh.vertices, mesh.faces, np.roll(mesh.mirror, 1))


def test_unknown_preset_lists_valid_ones():
    mesh = shapes.capsule()
    with pytest.raises(UvkitError, match="body, body-neck, fingers, full"):
        cut.cut_template(mesh.vertices, mesh.faces, mesh.mirror, seams="everything")
    with pytest.raises(UvkitError, match="valid choices: tip, fingers"):
        cut.seam_config(cut.SeamConfig("mine", hands="palms"))


def _asymmetric_figure(fraction=0.3, seed=2, noise=0.003):
    """The stick figure with a share of its left edges flipped and noise on its left vertices:
    the vertex mirror stays, the faces no longer mirror."""
    mesh = shapes.stick_figure(1)
    left = mesh.vertices[:, 0] > 1e-9
    faces = shapes.flip_edges(mesh.vertices, mesh.faces, left, fraction, seed=seed)
    V = mesh.vertices + np.random.default_rng(seed).uniform(-noise, noise, mesh.vertices.shape) * left[:, None]
    return mesh, V, faces


def test_flip_edges_breaks_face_symmetry_only():
    mesh, V, faces = _asymmetric_figure()
    cut.check_closed_genus0(V, faces)
    assert np.sum(cut.face_mirror(faces, mesh.mirror) < 0) > 100
    assert np.array_equal(np.sort(np.unique(faces)), np.arange(len(V)))


def test_asymmetric_triangulation_is_cut_symmetrically():
    mesh, V, faces = _asymmetric_figure()
    c = cut.cut_template(V, faces, mesh.mirror, mesh.parts)
    T = len(c.vt2v)
    assert np.array_equal(c.vt_mirror[c.vt_mirror], np.arange(T))
    assert np.array_equal(c.vt2v[c.vt_mirror], mesh.mirror[c.vt2v])
    seam = {tuple(e) for e in c.seam_edges.tolist()}
    assert seam == {tuple(sorted(e)) for e in mesh.mirror[c.seam_edges].tolist()}
    # every seam edge is mirror consistent; copies pair up per seam vertex
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    consistent = cut.mirror_consistent_edges(edges, mesh.mirror, len(V))
    assert not consistent.all()
    assert seam <= {tuple(e) for e in edges[consistent].tolist()}
    copies = np.bincount(c.vt2v, minlength=len(V))
    assert np.array_equal(copies, copies[mesh.mirror])
