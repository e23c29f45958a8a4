"""Templates whose mid-plane has gaps or whose vertices are noisy: the mirror and the spine."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from uvkit import cut, param, raster, shapes
from uvkit.symmetry import consistent_edge_fraction, find_mirror, taubin_smooth
from uvkit.tolerances import tol


@pytest.fixture(scope="module")
def decimated_figure():
    """The stick figure decimated by quadric edge collapse: left and right are decimated
    differently, so some mid-plane vertices leave the plane and the ones that are their own
    mirror no longer join into a path along the back."""
    mesh = shapes.stick_figure(1)
    V, F = param.decimate(mesh.vertices, mesh.faces, 1800)
    mirror = find_mirror(V, faces=F).permutation
    parts = mesh.parts[cKDTree(mesh.vertices).query(V)[1]]
    return V, F, mirror, parts


def _mid_plane_path_exists(V, F, mirror, top, bottom):
    n = len(V)
    edges = cut._unique_edges(F)
    mid = mirror == np.arange(n)
    graph = cut._graph(n, edges, np.ones(len(edges)), keep=mid[edges[:, 0]] & mid[edges[:, 1]])
    from scipy.sparse import csgraph

    return np.isfinite(csgraph.dijkstra(graph, indices=top)[bottom])


def test_spine_is_routed_over_mid_plane_gaps(decimated_figure):
    V, F, mirror, parts = decimated_figure
    c = cut.cut_template(V, F, mirror, parts)
    n = len(V)
    # the input mirror leaves gaps: no path over its own mid-plane vertices
    assert not _mid_plane_path_exists(V, F, mirror, c.tips["spine_top"], c.tips["spine_bottom"])
    # the mirror the cut used: an involution, changed only near the spine, with a mid-plane path
    assert np.array_equal(c.mirror[c.mirror], np.arange(n))
    assert 0 < np.sum(c.mirror != mirror) < 0.1 * n
    assert _mid_plane_path_exists(V, F, c.mirror, c.tips["spine_top"], c.tips["spine_bottom"])
    # a disk, symmetric under that mirror, every seam edge mapped onto a seam edge
    T = len(c.vt2v)
    assert np.array_equal(c.vt_mirror[c.vt_mirror], np.arange(T))
    assert np.array_equal(c.vt2v[c.vt_mirror], c.mirror[c.vt2v])
    seam = {tuple(e) for e in c.seam_edges.tolist()}
    assert seam == {tuple(sorted(e)) for e in c.mirror[c.seam_edges].tolist()}
    assert len(np.unique(c.seam_edges)) == len(c.seam_edges) + 1
    # re-paired vertices stay close to their partners' reflections (a few edge lengths)
    edge = np.median(np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1))
    reflected = V[c.mirror] * np.array([-1.0, 1.0, 1.0])
    assert np.linalg.norm(reflected - V, axis=1).max() <= 4 * edge


def test_routed_spine_keeps_the_sides_apart(decimated_figure):
    V, F, mirror, parts = decimated_figure
    c = cut.cut_template(V, F, mirror, parts)
    spine = np.unique(c.seam_edges[(c.mirror[c.seam_edges] == c.seam_edges).all(axis=1)])
    # no vertex next to the spine is its own mirror unless it is on the spine or the front
    neighbours = np.unique(F[np.isin(F, spine).any(axis=1)])
    alone = neighbours[(c.mirror[neighbours] == neighbours) & ~np.isin(neighbours, spine)]
    assert np.all(V[alone, 2] > 0) or len(alone) == 0


def test_triangles_of_three_mid_plane_vertices_are_split():
    # a fan around vertex 0 on the plane x = 0: triangle (0, 1, 2) has three mid-plane corners
    V = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.001, 0.5, 0.5], [1.0, 0.5, 0.0], [-1.0, 0.5, 0.0]])
    F = np.array([[0, 1, 2], [0, 3, 1], [0, 1, 4]])
    mirror = np.array([0, 1, 2, 4, 3])
    out = cut.pair_midplane_faces(V, F, mirror, fixed=np.array([True, False, False, False, False]))
    assert np.array_equal(out[out], np.arange(5))
    assert not np.all(out[F[0]] == F[0])
    assert out[1] == 2 and out[2] == 1 and out[3] == 4


@pytest.mark.parametrize("noise", [0.3, 0.5])
def test_mirror_with_faces_recovers_noisy_pairs(noise):
    mesh = shapes.stick_figure(1)
    V, F = mesh.vertices, mesh.faces
    edge = np.median(np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1))
    noisy = V + np.random.default_rng(0).uniform(-noise * edge, noise * edge, V.shape)
    plain = find_mirror(noisy, allow_asymmetric=True)
    with_faces = find_mirror(noisy, allow_asymmetric=True, faces=F)
    assert np.array_equal(with_faces.permutation[with_faces.permutation], np.arange(len(V)))
    assert consistent_edge_fraction(F, with_faces.permutation) >= consistent_edge_fraction(F, plain.permutation)
    assert np.mean(with_faces.permutation == mesh.mirror) >= 0.99


def test_exact_mirror_is_kept_with_faces():
    mesh = shapes.stick_figure(1)
    mirror = find_mirror(mesh.vertices, faces=mesh.faces)
    assert np.array_equal(mirror.permutation, mesh.mirror)


def test_taubin_smoothing_keeps_size():
    mesh = shapes.stick_figure(1)
    noisy = mesh.vertices + np.random.default_rng(1).normal(0, 0.01, mesh.vertices.shape)
    smooth = taubin_smooth(noisy, mesh.faces, 10)
    assert np.linalg.norm(smooth - mesh.vertices, axis=1).mean() < np.linalg.norm(noisy - mesh.vertices, axis=1).mean()
    assert np.ptp(smooth[:, 1]) > 0.95 * np.ptp(mesh.vertices[:, 1])


def test_fill_never_extrapolates_a_sliver():
    # UV vertex 3 touches only a sliver triangle: its fill texels take its own value
    vt = np.array([[0.2, 0.2], [0.8, 0.2], [0.5, 0.8], [0.5, 0.2 - 1e-7]])
    ft = np.array([[0, 1, 2], [0, 3, 1]])
    table = raster.rasterize(vt, ft, 16)
    filled = table.filled
    assert filled.any()
    assert table.bary[filled].min() >= -tol.raster_fill_extrapolation


def test_fill_of_a_thin_face_takes_the_claiming_vertex_value():
    """A face ten times thinner than the texel's distance from it: extrapolating on it would
    weigh its corners by about +20 / -9.5 (a bend of the surface amplified twenty-fold), so the
    texels UV vertex 3 claims take its own value (the rule that kept a spine-seam sliver from
    putting a texel 30 cm out on test template (g))."""
    vt = np.array([[0.2, 0.2], [0.8, 0.2], [0.5, 0.8], [0.5, 0.2 - 0.05 / 15]])
    ft = np.array([[0, 1, 2], [0, 3, 1]])
    table = raster.rasterize(vt, ft, 16)
    corners = (vt * 15)[ft[1]]
    for row, col in [(2, 7), (2, 8)]:            # vertex 3's two upper taps, outside every face
        weights, _ = raster._barycentric(np.array([[col, row]], dtype=np.float64), corners[None])
        assert weights.min() < -tol.raster_fill_extrapolation            # would be extrapolated
        assert table.filled[row, col] and table.face[row, col] == 1
        np.testing.assert_array_equal(table.bary[row, col], [0.0, 1.0, 0.0])
