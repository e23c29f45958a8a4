"""uvkit symmetrize: a body made exactly symmetric from one of its halves."""
import numpy as np
import pytest

from uvkit.build import build_uv, symmetry_error
from uvkit.cli import main
from uvkit.cut import face_mirror
from uvkit.halves import SNAP_FRACTION, mirrored_half, symmetrized
from uvkit.shapes import flip_edges, stick_figure
from uvkit.symmetry import find_mirror, reflect
from uvkit.template import load_template, template_from_arrays

from meshes import lopsided_egg
from tool_scripts import load_tool


def _check_exact(vertices, faces, mirror, normal, offset):
    assert np.array_equal(mirror[mirror], np.arange(len(mirror)))
    np.testing.assert_allclose(reflect(vertices, normal, offset)[mirror], vertices, atol=1e-12)
    assert np.all(face_mirror(faces, mirror) >= 0)                  # every triangle has its mirror image


def test_the_kept_half_joins_its_reflection_exactly():
    """An egg whose triangulation does not mirror (a third of the left side's edges flipped),
    its plane set off x = 0: the result is closed, of genus 0, mirrors vertex for vertex and
    triangle for triangle, and keeps the kept half's surface."""
    V, F = lopsided_egg(3)
    F = flip_edges(V, F, V[:, 0] > 0, 0.3, seed=1)
    V = V + [0.05, 0.0, 0.0]
    normal, offset = np.array([1.0, 0.0, 0.0]), 0.05
    for side in (1.0, -1.0):
        U, G, mirror = mirrored_half(V, F, normal, offset, side)
        template = template_from_arrays({"v_template": U, "f": G, "mirror": mirror}, source="egg.obj")
        assert template.report.closed and template.report.genus == 0
        _check_exact(U, G, mirror, normal, offset)
        # the kept side's vertices beyond the snapping's reach are there, unmoved
        edge = np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1).max()
        far = V[side * (V[:, 0] - 0.05) > SNAP_FRACTION * edge]
        assert np.min(np.linalg.norm(U[:, None] - far[None], axis=2), axis=0).max() == 0.0
        assert np.ptp(U[:, 1]) == pytest.approx(np.ptp(V[:, 1]), rel=0.02)


def test_a_scan_like_body_made_symmetric_maps_exactly_symmetric():
    """The stick figure remeshed through its volume (sides meshed independently: no exactly
    symmetric map of it exists, build-uv keeps a plain one) becomes, from its left half, a body
    whose default map is exactly symmetric, flip-free and without overlaps."""
    pytest.importorskip("skimage")
    figure = stick_figure()
    V, F = load_tool("make_test_templates").scan_like(figure.vertices, figure.faces, spacing=0.04)
    scan = template_from_arrays({"v_template": V, "f": F}, source="scan.obj")
    symmetric, normal = symmetrized(scan)
    assert abs(normal[0]) > 0.999 and symmetric.report.closed and symmetric.report.genus == 0
    found = find_mirror(symmetric.vertices, faces=symmetric.faces)
    assert np.array_equal(found.permutation, symmetric.mirror) and found.max_mismatch < 1e-9
    uvmap = build_uv(symmetric, resolutions=(32,))
    stats = uvmap.meta["stats"]
    assert stats["flipped_triangles"] == 0 and stats["boundary_self_overlaps"] == 0
    assert symmetry_error(uvmap) <= 1e-6 and uvmap.meta["symmetry_fallback"] is None


def test_cli_symmetrize(tmp_path, capsys):
    V, F = lopsided_egg(3)
    F = flip_edges(V, F, V[:, 0] > 0, 0.3, seed=2)
    source = tmp_path / "egg.npz"
    np.savez(source, v_template=V, f=F)
    out = tmp_path / "sym.npz"
    assert main(["symmetrize", str(source), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kept the half at +x of the mirror plane" in printed and "exactly symmetric" in printed
    left = load_template(out)
    assert left.mirror is not None and left.report.closed and left.report.genus == 0
    # the left half is the egg's own: its vertices at x > 0 are the egg's there
    egg_left = V[V[:, 0] > 0.25]
    assert np.min(np.linalg.norm(left.vertices[:, None] - egg_left[None], axis=2), axis=0).max() < 1e-12
    assert main(["symmetrize", str(source), "-o", str(tmp_path / "other.obj"), "--other-half"]) == 0
    assert "kept the half at -x" in capsys.readouterr().out
    right = load_template(tmp_path / "other.obj")
    assert right.n_vertices > 0 and right.report.closed and right.report.genus == 0
    # vertex noise of an edge length: the surface crosses its plane back and forth along the
    # mid-line, and the halves would join with handles: refused, nothing written
    edge = np.median(np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1))
    noisy = V + np.random.default_rng(0).uniform(-edge, edge, V.shape)
    np.savez(tmp_path / "noisy.npz", v_template=noisy, f=F)
    assert main(["symmetrize", str(tmp_path / "noisy.npz"), "-o", str(tmp_path / "noisy_sym.npz")]) == 2
    error = capsys.readouterr().err
    assert "noisy.npz: its half does not join its reflection into one closed genus-0 surface" in error
    assert "genus" in error and not (tmp_path / "noisy_sym.npz").exists()
