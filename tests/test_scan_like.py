"""Bodies whose two sides are meshed independently, as a scan or a remesh gives them: the stick
figure remeshed through its volume (tools/make_test_templates.py ``scan_like``, the recipe of
test template (m)). Its surface is symmetric within a few millimetres, its vertices are not:
one side has more of them here and there, so no one-to-one pairing keeps every pair close."""
import numpy as np
import pytest

import uvkit.symmetry as symmetry
from uvkit.build import build_uv
from uvkit.errors import SymmetryError
from uvkit.shapes import stick_figure
from uvkit.symmetry import find_mirror
from uvkit.template import template_from_arrays

from tool_scripts import load_tool

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def figure():
    return stick_figure()


def _remeshed(figure, spacing: float):
    return load_tool("make_test_templates").scan_like(figure.vertices, figure.faces, spacing=spacing)


def test_remesh_shares_nothing_with_the_figure(figure):
    import trimesh

    V, F = _remeshed(figure, 0.04)
    mesh = trimesh.Trimesh(V, F, process=False)
    assert mesh.is_watertight and mesh.euler_number == 2 and mesh.volume > 0   # closed, genus 0, outward
    original = trimesh.Trimesh(figure.vertices, figure.faces, process=False)
    # the blur of 1.5 cells (6 cm here) thins the figure's limbs
    assert mesh.volume == pytest.approx(original.volume, rel=0.35)
    # no vertex of one side has its exact reflection among the vertices
    reflected = V * [-1.0, 1.0, 1.0]
    distance = np.min(np.linalg.norm(reflected[:, None] - V[None], axis=2), axis=1)
    assert np.median(distance) > 1e-3


def test_sides_meshed_differently_are_judged_by_their_surfaces(figure):
    """With the faces, symmetry is judged by how far each reflection lies from the surface,
    not by the vertex pairs (which a differently meshed side cannot keep close): the remeshed
    figure is accepted, its pairs lying several times farther apart than its surfaces. A body
    whose surfaces differ is still refused, before any pairing is searched."""
    V, F = _remeshed(figure, 0.04)
    mirror = find_mirror(V, faces=F, source="scan.obj")
    mean, largest = mirror.surface_mismatch
    assert largest < 0.02 * mirror.diagonal and mean < 0.005 * mirror.diagonal
    assert mirror.max_mismatch > 3.0 * largest
    assert "reflections off the surface by mean" in mirror.describe()
    assert mirror.stats()["surface_max_mismatch_mm"] == pytest.approx(1000.0 * largest)
    lopsided = V.copy()
    lopsided[:, 2] += 0.3 * (lopsided[:, 0] > 0.3)              # the left arm moved 30 cm forward
    with pytest.raises(SymmetryError, match="mean at least .* reflection is that far from the surface"):
        find_mirror(lopsided, faces=F, source="lopsided.obj")


def test_leftover_walks_do_not_add_their_shifts_up(figure, monkeypatch):
    """The vertices one side has in excess are walked to the mid-plane, each walk shifting the
    pairs along its path by an edge; later walks go around earlier paths, so that no pair ends
    farther off than the pairing before the walks had one (on this figure, walks sharing one
    corridor once shifted pairs by 32 cm)."""
    V, F = _remeshed(figure, 0.02)
    seen = {}
    real = symmetry.settle_leftovers

    def recording(vertices, faces, permutation, normal, offset, off_plane=None):
        seen["before"], seen["plane"] = permutation.copy(), (normal, offset)
        seen["after"] = real(vertices, faces, permutation, normal, offset, off_plane)
        return seen["after"]

    monkeypatch.setattr(symmetry, "settle_leftovers", recording)
    find_mirror(V, faces=F, allow_asymmetric=True)
    reflected = symmetry.reflect(V, *seen["plane"])
    before = np.linalg.norm(reflected - V[seen["before"]], axis=1)
    after = np.linalg.norm(reflected - V[seen["after"]], axis=1)
    assert np.any(seen["after"] != seen["before"])              # walks were made
    assert after.max() <= before.max()


def test_build_uv_on_a_body_meshed_differently_on_its_sides(figure):
    """The default build of the remeshed figure: flip-free, without overlaps; where the
    symmetric map cannot honour the pairs, the plain map is kept and recorded."""
    V, F = _remeshed(figure, 0.04)
    uvmap = build_uv(template_from_arrays({"v_template": V, "f": F}, source="scan.obj"), resolutions=(32,))
    stats = uvmap.meta["stats"]
    assert stats["flipped_triangles"] == 0 and stats["boundary_self_overlaps"] == 0
    assert uvmap.meta["landmarks"]["source"] == "geometry"
    fallback = uvmap.meta["symmetry_fallback"]
    assert fallback is not None and fallback["overlaps"][1] == 0 and not uvmap.symmetric
