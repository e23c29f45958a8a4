import time

import numpy as np
import pytest

from uvkit.errors import UVMapError
from uvkit.raster import (
    bilinear_taps,
    fill_report,
    foreign_taps,
    location_map_from_vertices,
    rasterize,
    round_trip_error,
    sample_weights,
    vertices_from_location_map,
)


def grid(n_cols, n_rows, x0=0.0, x1=1.0, y0=0.0, y1=1.0):
    """A flat triangulated grid: uv (N, 2) float64 and faces (2 (n_cols-1)(n_rows-1), 3) int64."""
    xs, ys = np.meshgrid(np.linspace(x0, x1, n_cols), np.linspace(y0, y1, n_rows))
    uv = np.stack([xs.ravel(), ys.ravel()], axis=1)
    index = np.arange(n_cols * n_rows).reshape(n_rows, n_cols)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.int64)
    return uv, faces


def closed_cylinder(n_around=24, n_height=10):
    """A closed cylinder (tube + two fan caps) with a 3-chart UV map.

    The tube is cut along one vertical line (its seam vertices have two UV copies); each cap
    is its own chart. Returns vertices (V, 3), faces (F, 3), vt (T, 2), ft (F, 3), vt2v (T,).
    """
    angles = 2 * np.pi * np.arange(n_around) / n_around
    heights = np.linspace(0.0, 2.0, n_height)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    vertices = [np.c_[ring, np.full(n_around, h)] for h in heights]
    vertices = np.concatenate(vertices + [[[0, 0, 0.0]], [[0, 0, 2.0]]])
    bottom, top = len(vertices) - 2, len(vertices) - 1
    vid = np.arange(n_height * n_around).reshape(n_height, n_around)

    # tube chart: columns 0..n_around (the last column copies column 0)
    cols = n_around + 1
    tube_uv = np.stack(np.meshgrid(np.linspace(0.05, 0.95, cols), np.linspace(0.35, 0.95, n_height)), -1).reshape(-1, 2)
    tube_v = np.c_[vid, vid[:, :1]].ravel()
    tindex = np.arange(n_height * cols).reshape(n_height, cols)
    faces, ft = [], []
    for r in range(n_height - 1):
        for c in range(n_around):
            quad_t = tindex[r, c], tindex[r, c + 1], tindex[r + 1, c + 1], tindex[r + 1, c]
            for tri in ((0, 1, 2), (0, 2, 3)):
                ft.append([quad_t[i] for i in tri])
                faces.append([tube_v[quad_t[i]] for i in tri])
    vt = [tube_uv]
    vt2v = [tube_v]
    offset = len(tube_uv)
    # caps: a fan around the centre, laid out as discs
    for centre_v, ring_row, centre_uv, flip in ((bottom, 0, (0.25, 0.15), True), (top, n_height - 1, (0.75, 0.15), False)):
        disc = np.asarray(centre_uv) + 0.12 * ring
        vt.append(np.r_[[centre_uv], disc])
        vt2v.append(np.r_[centre_v, vid[ring_row]])
        for c in range(n_around):
            tri_t = [offset, offset + 1 + c, offset + 1 + (c + 1) % n_around]
            if flip:
                tri_t = tri_t[::-1]
            ft.append(tri_t)
            faces.append([np.concatenate(vt2v)[t] for t in tri_t])
        offset += 1 + n_around
    return (vertices, np.asarray(faces, dtype=np.int64), np.concatenate(vt), np.asarray(ft, dtype=np.int64),
            np.concatenate(vt2v).astype(np.int64))


def two_squares(gap_px, resolution=64, n=6):
    """Two flat square charts side by side, ``gap_px`` texels apart, far apart in 3D."""
    size = resolution - 1
    uv_a, f_a = grid(n, n, 5 / size, 20.3 / size, 5 / size, 20 / size)
    uv_b, f_b = grid(n, n, (20.3 + gap_px) / size, (35.3 + gap_px) / size, 5 / size, 20 / size)
    vt = np.r_[uv_a, uv_b]
    ft = np.r_[f_a, f_b + len(uv_a)]
    vertices = np.r_[np.c_[uv_a, np.zeros(len(uv_a))], np.c_[uv_b + [0, 5], np.ones(len(uv_b))]]
    return vertices, ft, vt, ft.copy(), np.arange(len(vt))


def linear_field(vt):
    return np.c_[vt, 0.3 * vt[:, 0] - 0.7 * vt[:, 1] + 0.1]


def test_flat_grid_round_trip_is_exact_for_linear_field():
    vt, ft = grid(17, 13, 0.03, 0.91, 0.1, 0.97)
    vertices = linear_field(vt)
    for resolution in (16, 64, 128):
        table = rasterize(vt, ft, resolution)
        error = round_trip_error(vertices, ft, vt, ft, np.arange(len(vt)), table)
        assert error.max() < 1e-12
        assert table.face.dtype == np.int32 and table.face.shape == (resolution, resolution)
        assert table.bary.shape == (resolution, resolution, 3) and table.bary.dtype == np.float64
        np.testing.assert_array_equal(table.mask, table.face >= 0)
        assert np.all(table.mask[table.inside])
        np.testing.assert_allclose(table.bary[table.mask].sum(axis=1), 1.0, atol=1e-12)
        assert np.all(table.bary[~table.mask] == 0)


def test_inside_texels_match_brute_force():
    rng = np.random.default_rng(3)
    vt, ft = grid(7, 6, 0.1, 0.9, 0.05, 0.8)
    vt = vt + rng.normal(scale=0.01, size=vt.shape)
    resolution = 41
    table = rasterize(vt, ft, resolution, fill=False)
    pix = vt * (resolution - 1)
    for r in range(resolution):
        for c in range(resolution):
            best, best_score = -1, -np.inf
            for f, tri in enumerate(ft):
                a, b, d = pix[tri]
                m = np.array([[b[0] - a[0], d[0] - a[0]], [b[1] - a[1], d[1] - a[1]]])
                l1, l2 = np.linalg.solve(m, np.array([c, r]) - a)
                score = min(1 - l1 - l2, l1, l2)
                if score >= -1e-9 and score > best_score + 1e-12:
                    best, best_score = f, score
            assert table.face[r, c] == best
    assert not np.any(table.filled)


def test_shared_edges_and_grid_aligned_vertices_are_deterministic():
    # UV vertices exactly on texel centres: every texel on a shared edge is claimed once
    resolution = 33
    vt, ft = grid(9, 9, 0.0, 1.0, 0.0, 1.0)
    table = rasterize(vt, ft, resolution)
    assert table.inside.all()
    again = rasterize(vt.copy(), ft.copy(), resolution)
    np.testing.assert_array_equal(table.face, again.face)
    np.testing.assert_array_equal(table.bary, again.bary)
    # reversed orientation gives the same coverage
    flipped = rasterize(vt, ft[:, ::-1], resolution)
    assert flipped.inside.all()


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_bilinear_taps_of_every_uv_vertex_are_valid(resolution):
    vertices, faces, vt, ft, vt2v = closed_cylinder()
    table = rasterize(vt, ft, resolution)
    rows, cols, weights = bilinear_taps(vt, resolution)
    assert np.all(table.mask[rows, cols])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert table.filled.any()


def test_fill_uses_a_face_incident_to_the_claiming_uv_vertex():
    vertices, faces, vt, ft, vt2v = closed_cylinder()
    resolution = 64
    table = rasterize(vt, ft, resolution)
    rows, cols, weights = bilinear_taps(vt, resolution)
    texel = rows * resolution + cols
    for r, c in zip(*np.nonzero(table.filled)):
        claims = np.nonzero(texel == r * resolution + c)
        claimants = claims[0]
        assert len(claimants) > 0  # filled only for some UV vertex
        # the winner is the largest bilinear weight, then the lowest UV vertex index
        w = weights[claims]
        winner = claimants[np.lexsort((claimants, -w))[0]]
        assert winner in ft[table.face[r, c]]


def test_closed_cylinder_round_trip_is_small_and_respects_seams():
    vertices, faces, vt, ft, vt2v = closed_cylinder(32, 12)
    # the tube's 3D seam must never be read across: the two copies of a seam vertex agree
    errors = {}
    for resolution in (64, 128, 256):
        table = rasterize(vt, ft, resolution)
        errors[resolution] = round_trip_error(vertices, faces, vt, ft, vt2v, table)
        report = fill_report(vt, ft, table)
        assert report["invalid"] == 0 and report["foreign_inside"] == 0 and report["foreign_filled"] == 0
    # the cylinder has radius 1: a chord error, bounded by the curvature over a texel
    assert errors[64].max() < 0.01
    assert errors[256].max() < errors[64].max()
    # seam vertices: both copies are read, so the error stays of the same small order
    assert errors[128].mean() < 2e-3


def test_no_fill_leaves_border_taps_invalid():
    vertices, faces, vt, ft, vt2v = closed_cylinder()
    table = rasterize(vt, ft, 64, fill=False)
    report = fill_report(vt, ft, table)
    assert report["invalid"] > 0
    assert not table.filled.any()


def test_fill_report_counts_charts_packed_too_close():
    vertices, faces, vt, ft, vt2v = two_squares(gap_px=3.0)
    table = rasterize(vt, ft, 64)
    report = fill_report(vt, ft, table)
    assert report["foreign_inside"] == 0 and report["foreign_filled"] == 0 and report["invalid"] == 0
    # charts far enough apart and linear: exact
    assert round_trip_error(vertices, faces, vt, ft, vt2v, table).max() < 1e-12

    # gap under a texel: one empty column claimed by both charts
    vertices, faces, vt, ft, vt2v = two_squares(gap_px=1.4)
    table = rasterize(vt, ft, 64)
    report = fill_report(vt, ft, table)
    assert report["foreign_filled"] > 0 and report["foreign_inside"] == 0
    error = round_trip_error(vertices, faces, vt, ft, vt2v, table, local=False)
    assert error.max() > 0.01  # plain bilinear: the losing chart's border reads the other chart
    # sample_weights leave the foreign taps out: only the renormalisation's small error is left
    local = round_trip_error(vertices, faces, vt, ft, vt2v, table)
    assert local.max() < 0.5 * error.max()
    foreign, invalid = foreign_taps(vt, ft, table)
    weights = sample_weights(vt, ft, table)
    assert not invalid.any() and np.all(weights[foreign] == 0) and np.allclose(weights.sum(axis=1), 1.0)
    _, _, bilinear = bilinear_taps(vt, 64)
    clean = ~foreign.any(axis=1)
    np.testing.assert_array_equal(weights[clean], bilinear[clean])

    # the other chart's face covers the tapped column: nothing a fill can do, but the weights
    # leave it out
    vertices, faces, vt, ft, vt2v = two_squares(gap_px=0.7)
    table = rasterize(vt, ft, 64)
    assert fill_report(vt, ft, table)["foreign_inside"] > 0
    assert (round_trip_error(vertices, faces, vt, ft, vt2v, table).max()
            < 0.5 * round_trip_error(vertices, faces, vt, ft, vt2v, table, local=False).max())


def test_batch_equals_loop():
    vertices, faces, vt, ft, vt2v = closed_cylinder()
    table = rasterize(vt, ft, 32)
    rng = np.random.default_rng(0)
    batch = vertices[None] + rng.normal(scale=0.05, size=(3,) + vertices.shape)
    maps = location_map_from_vertices(batch, faces, table)
    assert maps.shape == (3, 32, 32, 3)
    back = vertices_from_location_map(maps, vt, vt2v, len(vertices))
    assert back.shape == (3, len(vertices), 3)
    for i in range(3):
        single = location_map_from_vertices(batch[i], faces, table)
        np.testing.assert_allclose(maps[i], single, rtol=0, atol=1e-14)
        np.testing.assert_allclose(back[i], vertices_from_location_map(single, vt, vt2v, len(vertices)),
                                   rtol=0, atol=1e-14)
    assert np.all(maps[:, ~table.mask] == 0)


def test_vertices_from_location_map_is_bilinear_with_align_corners():
    resolution = 5
    rows, cols = np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="ij")
    location_map = np.stack([cols, rows, cols * rows], axis=-1).astype(np.float64)
    vt = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [0.3, 0.7], [1.0, 0.0]])
    out = vertices_from_location_map(location_map, vt, np.arange(5), 6)
    x, y = vt[:, 0] * 4, vt[:, 1] * 4
    np.testing.assert_allclose(out[:5, 0], x, atol=1e-12)
    np.testing.assert_allclose(out[:5, 1], y, atol=1e-12)
    np.testing.assert_allclose(out[:5, 2], x * y, atol=1e-12)  # bilinear reproduces xy exactly
    assert np.all(out[5] == 0)  # a vertex without UV copy reads 0
    # copies of one vertex are averaged
    averaged = vertices_from_location_map(location_map, vt[:2], np.array([0, 0]), 1)
    np.testing.assert_allclose(averaged[0], [2.0, 2.0, 8.0])


def test_bad_input_is_refused():
    vt, ft = grid(3, 3)
    with pytest.raises(UVMapError, match="vt"):
        rasterize(vt[:, :1], ft, 8)
    with pytest.raises(UVMapError, match="ft"):
        rasterize(vt, ft + 100, 8)
    with pytest.raises(UVMapError, match="resolution"):
        rasterize(vt, ft, 1)
    bad = vt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(UVMapError, match="non-finite"):
        rasterize(bad, ft, 8)
    table = rasterize(vt, ft, 8)
    with pytest.raises(UVMapError, match=r"vertices have shape \(1, 4, 3\)"):
        location_map_from_vertices(np.zeros((4, 3)), ft, table)
    with pytest.raises(UVMapError, match="vt2v"):
        vertices_from_location_map(np.zeros((8, 8, 3)), vt, np.arange(len(vt) - 1), len(vt))
    with pytest.raises(UVMapError, match="location_map"):
        vertices_from_location_map(np.zeros((8, 7, 3)), vt, np.arange(len(vt)), len(vt))


def test_degenerate_uv_faces_are_skipped():
    vt, ft = grid(4, 4, 0.1, 0.9, 0.1, 0.9)
    vt = np.r_[vt, [[0.5, 0.5]]]
    ft = np.r_[ft, [[len(vt) - 1, len(vt) - 1, len(vt) - 1]]]
    table = rasterize(vt, ft, 32)
    assert not np.any(table.face == len(ft) - 1)
    assert np.all(np.isfinite(table.bary))


@pytest.mark.slow
def test_rasterize_256_of_26k_faces_is_fast():
    vt, ft = grid(116, 116, 0.01, 0.99, 0.01, 0.99)
    assert len(ft) > 26000
    rasterize(vt, ft, 64)
    start = time.perf_counter()
    table = rasterize(vt, ft, 256)
    elapsed = time.perf_counter() - start
    assert table.inside.sum() > 0.9 * 256 * 256
    assert elapsed < 1.0, f"rasterize took {elapsed:.3f} s"
