import numpy as np
import pytest

from uvkit import metrics
from uvkit.errors import TemplateError, UvkitError, UVMapError
from uvkit.shapes import capsule, stick_figure

EXACT = 1e-9


@pytest.fixture(scope="module")
def figure():
    return stick_figure(1)


@pytest.fixture(scope="module")
def small():
    return capsule(n_around=12, n_rings=8)


def front_projection(vertices):
    """(V, 2) UV: x and y of the vertices, scaled into [0, 1]."""
    uv = vertices[:, :2] - vertices[:, :2].min(axis=0)
    return uv / uv.max()


def developable_strip(nx=12, ny=5, step=0.1):
    """A strip of flat triangles folded along its y-edges (isometric to a flat grid), and its unfolding."""
    angles = np.cumsum(np.r_[0.0, np.linspace(0.0, 0.6, nx - 1)])
    polyline = np.cumsum(np.c_[np.cos(angles), np.sin(angles)] * step, axis=0) - [step, 0.0]
    arc = np.arange(nx) * step
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    vertices = np.c_[polyline[ix.ravel(), 0], iy.ravel() * step, polyline[ix.ravel(), 1]]
    flat = np.c_[arc[ix.ravel()], iy.ravel() * step]
    index = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    faces = np.r_[np.c_[a, b, c], np.c_[a, c, d]].astype(np.int64)
    return vertices, faces, flat


# ------------------------------------------------------------------ S1 / S2


@pytest.mark.parametrize("distance", ["hops", "geodesic"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_blockwise_equals_dense_reference(figure, distance, symmetric):
    rng = np.random.default_rng(1)
    uv = front_projection(figure.vertices)               # mirror-symmetric: u + u[mirror] constant
    assert metrics._uv_mirror_symmetric(uv, figure.mirror)
    if not symmetric:
        uv = uv + 0.05 * rng.random((len(figure.vertices), 2))
    expected = metrics.s1_s2_reference(figure.faces, uv, vertices=figure.vertices, distance=distance)
    for mirror, workers, block in ((None, 1, 64), (figure.mirror, 1, 7), (figure.mirror, 2, 100)):
        got = metrics.s1_s2(figure.faces, uv, vertices=figure.vertices, distance=distance, mirror=mirror,
                            workers=workers, block=block)
        np.testing.assert_allclose(got, expected, rtol=0, atol=EXACT)


def test_hop_and_geodesic_differ(figure):
    uv = front_projection(figure.vertices)
    hops = metrics.s1_s2(figure.faces, uv, workers=1)
    geodesic = metrics.s1_s2(figure.faces, uv, vertices=figure.vertices, distance="geodesic", workers=1)
    assert abs(hops[0] - geodesic[0]) > 1e-3


def test_proportional_matrices_give_one():
    # one triangle: every hop distance is 1, an equilateral UV triangle has equal sides
    faces = np.array([[0, 1, 2]])
    uv = 0.3 * np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    s1, s2 = metrics.s1_s2(faces, uv, workers=1)
    assert s1 == pytest.approx(1.0, abs=EXACT) and s2 == pytest.approx(1.0, abs=EXACT)
    assert metrics.s1_s2_reference(faces, uv) == pytest.approx((1.0, 1.0), abs=EXACT)


def test_scrambled_chart_scores_lower(figure):
    uv = front_projection(figure.vertices)
    good = metrics.s1_s2(figure.faces, uv, mirror=figure.mirror, workers=1)
    arm = np.flatnonzero(np.isin(figure.parts, [16, 18, 20, 22]))
    scrambled = uv.copy()
    scrambled[arm] = uv[np.random.default_rng(0).permutation(arm)]
    scrambled[arm, 0] = 1.0 - scrambled[arm, 0]  # and the chart moved across the layout
    bad = metrics.s1_s2(figure.faces, scrambled, mirror=figure.mirror, workers=1)
    assert bad[0] < good[0] - 0.05 and bad[1] < good[1] - 0.01


def test_mirror_does_not_need_a_symmetric_map(small):
    uv = np.random.default_rng(3).random((len(small.vertices), 2))
    with_mirror = metrics.s1_s2(small.faces, uv, mirror=small.mirror, workers=1)
    np.testing.assert_allclose(with_mirror, metrics.s1_s2_reference(small.faces, uv), atol=EXACT)


def test_unknown_mirror_is_ignored(small):
    uv = front_projection(small.vertices)
    unknown = np.full(len(uv), -1)
    assert metrics.s1_s2(small.faces, uv, mirror=unknown, workers=1) == pytest.approx(
        metrics.s1_s2(small.faces, uv, workers=1), abs=EXACT)


def test_progress_is_reported(small):
    calls = []
    metrics.s1_s2(small.faces, front_projection(small.vertices), workers=1, block=50,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] == len(calls) > 1


def test_s1_s2_bad_input(small):
    uv = front_projection(small.vertices)
    with pytest.raises(UvkitError, match="hops, geodesic"):
        metrics.s1_s2(small.faces, uv, distance="euclid")
    with pytest.raises(UvkitError, match="needs the mesh vertices"):
        metrics.s1_s2(small.faces, uv, distance="geodesic")
    bad = uv.copy()
    bad[3, 1] = np.nan
    with pytest.raises(UvkitError, match="NaN"):
        metrics.s1_s2(small.faces, bad)
    with pytest.raises(UvkitError, match="shape"):
        metrics.s1_s2(small.faces, uv[:, :1])
    with pytest.raises(TemplateError, match="indexes"):
        metrics.s1_s2(small.faces, uv[:-5])
    with pytest.raises(TemplateError, match="connected components"):
        metrics.s1_s2(np.r_[small.faces, small.faces + len(uv)], np.r_[uv, uv + 1.0])
    with pytest.raises(UvkitError, match="involutive"):
        metrics.s1_s2(small.faces, uv, mirror=np.roll(np.arange(len(uv)), 1))
    swap = np.arange(len(uv))
    swap[[0, 5]] = [5, 0]
    with pytest.raises(UvkitError, match="symmetry of the mesh graph"):
        metrics.s1_s2(small.faces, uv, mirror=swap)
    with pytest.raises(UvkitError, match="equal"):
        metrics.s1_s2(small.faces, np.zeros_like(uv))
    with pytest.raises(UvkitError, match="workers"):
        metrics.s1_s2(small.faces, uv, workers=0)


def test_vertex_uv_copies():
    # a square of two faces cut along its diagonal 0-2: vertices 0 and 2 have two copies each
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.2, 0.0], [1.0, 0.8], [0.0, 1.0]])
    vt2v = np.array([0, 1, 2, 0, 2, 3])
    ft = np.array([[0, 1, 2], [3, 4, 5]])
    first = metrics.vertex_uv(vt, ft, vt2v, 4, copies="first")
    np.testing.assert_array_equal(first, vt[[0, 1, 2, 5]])
    mean = metrics.vertex_uv(vt, ft, vt2v, 4, copies="mean")
    np.testing.assert_allclose(mean, [[0.1, 0.0], [1.0, 0.0], [1.0, 0.9], [0.0, 1.0]])
    with pytest.raises(UvkitError, match="first, mean"):
        metrics.vertex_uv(vt, ft, vt2v, 4, copies="last")
    with pytest.raises(UVMapError, match="no UV copy"):
        metrics.vertex_uv(vt, ft, vt2v, 5)
    with pytest.raises(UVMapError, match="vt2v"):
        metrics.vertex_uv(vt, ft, vt2v[:-1], 4)


# ------------------------------------------------------------------ distortion


def test_isometric_strip_has_no_distortion():
    vertices, faces, flat = developable_strip()
    report = metrics.distortion(vertices, faces, 0.05 + 0.5 * flat, faces)  # any global scale
    assert report["area_distortion"] < 1e-12
    assert abs(report["area_ratio_p5"] - 1) < 1e-12 and abs(report["area_ratio_p95"] - 1) < 1e-12
    assert abs(report["angle_distortion"] - 1) < 1e-9 and abs(report["angle_distortion_max"] - 1) < 1e-9
    assert abs(report["symmetric_dirichlet"] - 4) < 1e-9
    assert report["flipped_faces"] == 0 and report["charts"] == 1 and report["seam_length"] == 0.0
    assert report["boundary_self_overlaps"] == 0
    assert report["uv_scale"] == pytest.approx(2.0, rel=1e-12)
    # the UV rectangle is 0.55 x 0.2 of the unit square
    assert report["coverage"] == pytest.approx(0.55 * 0.2, abs=2e-3)


def test_stretch_and_shear_are_measured():
    vertices, faces, flat = developable_strip()
    stretched = flat * [2.0, 1.0]                       # s1 / s2 = 2 everywhere, area uniform
    report = metrics.distortion(vertices, faces, stretched, faces)
    assert report["angle_distortion"] == pytest.approx(2.0, rel=1e-9)
    assert report["area_distortion"] < 1e-12
    expected = (2.0 + 0.5 + 0.5 + 2.0)                  # s = (sqrt 2, 1/sqrt 2) after normalising
    assert report["symmetric_dirichlet"] == pytest.approx(expected, rel=1e-9)
    sigma, sign = metrics.face_singular_values(vertices, faces, stretched, faces)
    np.testing.assert_allclose(sigma, np.tile([np.sqrt(2), 1 / np.sqrt(2)], (len(faces), 1)), rtol=1e-9)
    assert (sign == 1).all()


def test_flipped_faces_are_counted():
    vertices, faces, flat = developable_strip()
    folded = flat.copy()
    folded[5 * 5 + 2] += [0.25, 0.0]                    # an interior vertex pushed past its ring
    report = metrics.distortion(vertices, faces, folded, faces)
    assert report["flipped_faces"] > 0
    mirrored = flat * [-1.0, 1.0]                       # a mirrored chart is not a flip
    report = metrics.distortion(vertices, faces, mirrored, faces)
    assert report["flipped_faces"] == 0 and report["mirrored_charts"] == 0


def test_charts_seams_and_overlaps():
    vertices, faces, flat = developable_strip(nx=12, ny=5, step=0.1)
    # cut the strip along the grid line x = 5: the right half gets its own UV copies
    ny = 5
    right_faces = flat[faces].mean(axis=1)[:, 0] > 0.5
    copies = np.arange(5 * ny, 6 * ny)                  # column x = 5
    vt = np.r_[flat, flat[copies]]
    ft = faces.copy()
    remap = {int(v): len(flat) + i for i, v in enumerate(copies)}
    for f in np.flatnonzero(right_faces):
        ft[f] = [remap.get(int(v), int(v)) for v in ft[f]]
    apart = vt.copy()
    apart[ft[right_faces].ravel()] += [0.3, 0.0]
    report = metrics.distortion(vertices, faces, apart * 0.5, ft)
    assert report["charts"] == 2
    assert report["seam_length"] == pytest.approx(0.4, rel=1e-12)   # 4 edges of length 0.1
    assert len(metrics.cut_edges(faces, ft)) == ny - 1
    assert report["boundary_self_overlaps"] == 0
    overlapping = vt.copy()
    overlapping[ft[right_faces].ravel()] -= [0.2, 0.0]              # right half over the left half
    assert metrics.boundary_self_overlaps(overlapping * 0.5, ft) > 0
    n_charts, face_chart = metrics.uv_charts(ft)
    assert n_charts == 2 and face_chart[0] == 0


def test_coverage_of_the_unit_square():
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert metrics.uv_coverage(vt, np.array([[0, 1, 2], [0, 2, 3]]), 64) == 1.0
    half = metrics.uv_coverage(vt, np.array([[0, 1, 2]]), 256)
    assert half == pytest.approx(0.5, abs=1 / 256)
    twice = metrics.uv_coverage(vt, np.array([[0, 1, 2], [0, 1, 2]]), 256)
    assert twice == half                                # a union, not a sum


def test_distortion_bad_input():
    vertices, faces, flat = developable_strip()
    with pytest.raises(UVMapError, match="one UV face per mesh face"):
        metrics.distortion(vertices, faces, flat, faces[:-1])
    bad = flat.copy()
    bad[0, 0] = np.inf
    with pytest.raises(UvkitError, match="NaN or infinite"):
        metrics.distortion(vertices, faces, bad, faces)
    with pytest.raises(UVMapError, match="degenerate"):
        metrics.distortion(vertices, faces, np.zeros_like(flat), faces)
    with pytest.raises(TemplateError, match="indexes"):
        metrics.distortion(vertices, faces, flat[:10], faces)
    with pytest.raises(UvkitError, match="resolution"):
        metrics.uv_coverage(flat, faces, 0)


def test_graph_distances_match_scipy(figure):
    from scipy.sparse.csgraph import shortest_path

    sources = np.arange(0, len(figure.vertices), 37)
    graph = metrics.mesh_graph(figure.faces, len(figure.vertices))
    hops = metrics.graph_distances(figure.faces, sources, n_vertices=len(figure.vertices))
    np.testing.assert_array_equal(hops, shortest_path(graph, unweighted=True, indices=sources))
    weighted = metrics.mesh_graph(figure.faces, len(figure.vertices), figure.vertices)
    geodesic = metrics.graph_distances(figure.faces, sources, vertices=figure.vertices, distance="geodesic")
    np.testing.assert_allclose(geodesic, shortest_path(weighted, indices=sources), rtol=1e-12)
    with pytest.raises(UvkitError, match="sources"):
        metrics.graph_distances(figure.faces, [len(figure.vertices)], n_vertices=len(figure.vertices))
