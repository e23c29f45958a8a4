"""The whole cut -> parameterize -> symmetrize -> pack chain on a stick figure made in code."""
import numpy as np
import pytest

from uvkit import param, shapes
from uvkit.errors import UvkitError
from uvkit.layout import symmetry_error
from uvkit.raster import location_map_from_vertices, vertices_from_location_map
from uvkit.unwrap import DEFAULT_DETAIL_SCALE, DETAIL_GROUPS, enlarge_details, parameterize_template
from uvkit.uvmap import build_uvmap

#: round-trip bound on the stick figure (1.7 m tall, 1298 vertices, coarse) at 128^2: measured
#: 2.5 mm mean / 103 mm max with the default options (the worst vertices sit where a thin limb's
#: few texels straddle a seam).
ROUND_TRIP_MEAN_M = 0.004
ROUND_TRIP_MAX_M = 0.15


@pytest.fixture(scope="module")
def figure():
    return shapes.stick_figure(1)


@pytest.fixture(scope="module")
def unwrapped(figure):
    return parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts)


def _head_share(V, F, unwrap, parts):
    head = np.isin(parts[F[:, 0]], DETAIL_GROUPS[0])
    uv_area = param.triangle_areas(unwrap.vt, unwrap.ft)
    return uv_area[head].sum() / uv_area.sum()


def test_one_disk_no_flips_exact_symmetry(figure, unwrapped):
    u = unwrapped
    n_faces = len(u.ft)
    edges = np.sort(np.concatenate([u.ft[:, [0, 1]], u.ft[:, [1, 2]], u.ft[:, [2, 0]]]), axis=1)
    n_edges = len(np.unique(edges[:, 0] * len(u.vt) + edges[:, 1]))
    assert len(u.vt) - n_edges + n_faces == 1                     # Euler characteristic of a disk
    assert len(u.cut.boundary) > 0
    assert u.vt.shape == (len(u.vt2v), 2) and u.vt.dtype == np.float64
    assert np.all(u.vt >= 0.0) and np.all(u.vt <= 1.0)
    assert len(param.flipped_triangles(u.vt, u.ft)) == 0 and np.all(param.signed_areas(u.vt, u.ft) > 0)
    assert u.stats["flipped_triangles"] == 0 and u.stats["boundary_self_overlaps"] == 0
    assert symmetry_error(u.vt, u.vt_mirror) <= 1e-12
    assert np.array_equal(u.vt2v[u.ft], figure.faces)
    assert u.params["detail_scale"] == DEFAULT_DETAIL_SCALE
    assert len(u.stats["detail_scales"]) == len(DETAIL_GROUPS)


def test_round_trip_within_bound(figure, unwrapped):
    u = unwrapped
    m = build_uvmap(u.vt, u.ft, u.vt2v, figure.faces, len(figure.vertices), parts=figure.parts,
                    vt_mirror=u.vt_mirror, mirror=figure.mirror, resolutions=(128,),
                    meta={"template_sha256": "test", "generator": "test"})
    location = location_map_from_vertices(figure.vertices, figure.faces, m.tables[128])
    back = vertices_from_location_map(location, m.vt, m.vt2v, len(figure.vertices))
    error = np.linalg.norm(back - figure.vertices, axis=1)
    assert error.mean() < ROUND_TRIP_MEAN_M and error.max() < ROUND_TRIP_MAX_M


def test_deterministic(figure, unwrapped):
    again = parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts)
    assert np.array_equal(again.vt, unwrapped.vt) and np.array_equal(again.ft, unwrapped.ft)


def test_a_plain_map_starts_from_the_symmetric_attempt(figure, unwrapped):
    """The map without the mirror averaging made from the solver's map of a symmetric attempt
    keeps its cut and solves on the template's own (here: lopsided) shape: flip-free, no
    overlaps, and closer in area to that shape than the symmetric map it started from."""
    lopsided = figure.vertices * np.where(figure.vertices[:, :1] > 0, [1.0, 1.03, 1.0], [1.0, 1.0, 1.0])
    plain = parameterize_template(lopsided, figure.faces, figure.mirror, figure.parts, symmetric=False,
                                  start=unwrapped.flattened)
    assert plain.stats["solved_from_earlier_map"] and not plain.stats["symmetric"]
    assert np.array_equal(plain.cut.seam_edges, unwrapped.cut.seam_edges) and np.array_equal(plain.ft, unwrapped.ft)
    assert plain.stats["flipped_triangles"] == 0 and plain.stats["boundary_self_overlaps"] == 0
    distortion = [param.area_distortion(lopsided[u.vt2v], u.ft, u.vt).mean_abs_log for u in (plain, unwrapped)]
    assert distortion[0] < distortion[1]
    assert unwrapped.stats["solved_from_earlier_map"] is False
    with pytest.raises(UvkitError, match="symmetric=False"):
        parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts, start=unwrapped.flattened)
    other = shapes.stick_figure(2)
    with pytest.raises(UvkitError, match="not one of this template"):
        parameterize_template(other.vertices, other.faces, other.mirror, other.parts, symmetric=False,
                              start=unwrapped.flattened)


def test_detail_scale_gives_the_head_more_texels(figure, unwrapped):
    plain = parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts, detail_scale=1.0)
    scaled = parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts, detail_scale=2.0)
    assert len(param.flipped_triangles(plain.vt, plain.ft)) == 0
    share_plain = _head_share(figure.vertices, figure.faces, plain, figure.parts)
    share_scaled = _head_share(figure.vertices, figure.faces, scaled, figure.parts)
    assert share_scaled > 2.0 * share_plain


def test_enlarge_details_scales_groups_and_keeps_symmetry(figure):
    V, F, parts = figure.vertices, figure.faces, figure.parts
    assert np.array_equal(enlarge_details(V, F, parts, 1.0), V)
    out = enlarge_details(V, F, parts, 2.0)
    head = np.flatnonzero(np.isin(parts, DETAIL_GROUPS[0]))
    a, b = head[0], head[-1]
    assert np.linalg.norm(out[a] - out[b]) == pytest.approx(2.0 * np.linalg.norm(V[a] - V[b]), rel=1e-12)
    torso = np.flatnonzero(parts == 0)
    far = torso[np.argmin(V[torso, 1])]
    assert np.array_equal(out[far], V[far])                        # outside every ramp: unchanged
    assert np.allclose(out[figure.mirror] * (-1, 1, 1), out, atol=1e-12)
    with pytest.raises(UvkitError, match="detail_scale"):
        enlarge_details(V, F, parts, 0.0)


def test_asymmetric_triangulation_gives_an_exactly_symmetric_flip_free_map():
    """Faces that do not mirror (30 % of the left edges flipped, 3 mm noise on the left)."""
    mesh = shapes.stick_figure(1)
    left = mesh.vertices[:, 0] > 1e-9
    faces = shapes.flip_edges(mesh.vertices, mesh.faces, left, 0.3, seed=1)
    V = mesh.vertices + np.random.default_rng(1).uniform(-0.003, 0.003, mesh.vertices.shape) * left[:, None]
    u = parameterize_template(V, faces, mesh.mirror, mesh.parts)
    assert u.stats["symmetric_relax_rounds"] > 0
    assert len(param.flipped_triangles(u.vt, u.ft)) == 0 and np.all(param.signed_areas(u.vt, u.ft) > 0)
    assert u.stats["boundary_self_overlaps"] == 0
    assert symmetry_error(u.vt, u.vt_mirror) <= 1e-12
    assert np.array_equal(u.vt2v[u.ft], faces)


def test_zero_area_faces_are_opened_for_the_flattening():
    """Collinear corners (exported and decimated meshes have them) would leave the solver with
    an undefined Jacobian: the shape to flatten opens them up and stays mirror symmetric."""
    from uvkit.param import triangle_areas
    from uvkit.shapes import stick_figure
    from uvkit.unwrap import DEGENERATE_AREA, open_degenerate_faces

    figure = stick_figure(1)
    V, F, mirror = figure.vertices.copy(), figure.faces, figure.mirror
    assert open_degenerate_faces(V, F, mirror) is V                 # nothing to do
    f = int(np.argmax(V[F].mean(axis=1)[:, 0]))                       # a face far on the left
    a, b, c = F[f]
    V[c] = 0.5 * (V[a] + V[b])                                        # its corner c onto the edge ab
    V[mirror[c]] = V[c] * [-1.0, 1.0, 1.0]                            # and the same on the right
    floor = DEGENERATE_AREA * np.median(triangle_areas(V, F))
    assert np.sum(triangle_areas(V, F) <= floor) >= 2
    opened = open_degenerate_faces(V, F, mirror)
    assert np.all(triangle_areas(opened, F) > floor)
    np.testing.assert_allclose(opened[mirror] * [-1.0, 1.0, 1.0], opened, atol=1e-12)
    assert np.linalg.norm(opened - V, axis=1).max() < 0.5 * np.ptp(V[F[f]], axis=0).max()   # a local change
    result = parameterize_template(V, F, mirror, figure.parts, iterations=5, warmup=5)
    assert result.stats["flipped_triangles"] == 0 and np.all(np.isfinite(result.vt))


def test_seams_do_not_follow_the_noise_that_the_mirror_average_removes():
    """The seams are routed on the symmetric, denoised shape, not on the noisy template: two
    draws of noise that cancels in the mirror average (each pair moved in opposite directions
    along y and z, as large as half an edge) give the same seam tree."""
    from uvkit.cut import cut_template
    from uvkit.symmetry import median_edge_length
    from uvkit.unwrap import symmetric_rest_shape

    mesh = shapes.stick_figure(1)
    left = mesh.vertices[:, 0] > 1e-9
    faces = shapes.flip_edges(mesh.vertices, mesh.faces, left, 0.3, seed=1)
    edge = median_edge_length(mesh.vertices, faces)
    seams, direct = [], []
    for seed in (1, 2):
        noise = np.random.default_rng(seed).uniform(-0.5 * edge, 0.5 * edge, mesh.vertices.shape)
        noise[:, 0] = 0.0
        noise = 0.5 * (noise - noise[mesh.mirror])            # d(m(i)) = -d(i): cancels in the average
        V = mesh.vertices + noise
        assert np.abs(symmetric_rest_shape(V, faces, mesh.mirror) - symmetric_rest_shape(
            mesh.vertices + 2.0 * noise, faces, mesh.mirror)).max() < 1e-12
        u = parameterize_template(V, faces, mesh.mirror, mesh.parts, iterations=5, warmup=5)
        assert u.stats["flipped_triangles"] == 0
        seams.append({tuple(e) for e in np.sort(u.cut.seam_edges, axis=1).tolist()})
        direct.append({tuple(e) for e in np.sort(cut_template(V, faces, mesh.mirror, mesh.parts).seam_edges,
                                                 axis=1).tolist()})
    assert seams[0] == seams[1]
    assert direct[0] != direct[1]          # routed on the noisy positions, the seams would differ


def test_rest_shape_smooths_noise_but_not_a_smooth_asymmetry():
    """The rest shape is Taubin-smoothed only where the mirror mismatch is noise: an offset
    between the sides as large as half an edge but slowly varying is averaged out and nothing
    else (smoothing it would drag vertices along the surface and distort the triangles the
    map should keep: test template (g)'s round trip went from 1.9 to 3.1 mm); noise of the same
    size is smoothed."""
    from uvkit.symmetry import median_edge_length, mirror_plane_x, reflected_partners
    from uvkit.unwrap import mismatch_roughness, symmetric_rest_shape

    mesh = shapes.stick_figure(1)
    left = mesh.vertices[:, 0] > 1e-9
    faces = shapes.flip_edges(mesh.vertices, mesh.faces, left, 0.3, seed=1)
    edge = median_edge_length(mesh.vertices, faces)
    height = float(np.ptp(mesh.vertices[:, 1]))
    smooth = mesh.vertices + shapes.smooth_asymmetry(mesh.vertices, edge, height, seed=2)
    noisy = mesh.vertices + np.random.default_rng(2).uniform(-0.5 * edge, 0.5 * edge, mesh.vertices.shape)
    for V, is_noise in ((smooth, False), (noisy, True)):
        reflected = reflected_partners(V, mesh.mirror, mirror_plane_x(V, mesh.mirror))
        assert np.median(np.linalg.norm(reflected - V, axis=1)) > 0.2 * edge
        rough = mismatch_roughness(reflected - V, faces)
        assert (rough > 0.2 * edge) if is_noise else (rough < 0.05 * edge)
        moved = np.abs(symmetric_rest_shape(V, faces, mesh.mirror) - 0.5 * (V + reflected)).max()
        assert (moved > 0.05 * edge) if is_noise else (moved < 1e-12)
