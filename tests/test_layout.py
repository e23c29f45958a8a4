import numpy as np
import pytest

from uvkit import layout, param, shapes, unwrap
from uvkit.errors import UvkitError


@pytest.fixture(scope="module")
def figure():
    return shapes.stick_figure(1)


@pytest.fixture(scope="module")
def figure_map(figure):
    return unwrap.parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts,
                                        iterations=10, warmup=10)


def test_map_is_exactly_symmetric_valid_and_packed(figure, figure_map):
    r = figure_map
    vt, m = r.vt, r.vt_mirror
    assert np.abs(vt[:, 0] + vt[m, 0] - 1.0).max() <= 1e-12
    assert np.abs(vt[:, 1] - vt[m, 1]).max() <= 1e-12
    assert r.stats["symmetry_error"] <= 1e-6
    assert np.all(param.signed_areas(vt, r.ft) > 0)                   # counter-clockwise, no flips
    assert r.stats["flipped_triangles"] == 0 and r.stats["boundary_self_overlaps"] == 0
    assert vt.min() >= 0.02 - 1e-12 and vt.max() <= 0.98 + 1e-12
    assert np.isclose(vt[:, 0].min() + vt[:, 0].max(), 1.0)            # axis at u = 0.5
    # the chart fills the square along both axes unless the stretch between them is at its limit
    stretch = r.stats["fill_stretch"]
    assert 1.0 / layout.FILL_STRETCH <= stretch <= layout.FILL_STRETCH
    if 1.0 / layout.FILL_STRETCH < stretch < layout.FILL_STRETCH:
        np.testing.assert_allclose(np.ptp(vt, axis=0), [0.96, 0.96])
    assert 0.3 < r.stats["coverage"] < 1.0
    # head at the top (small v), feet at the bottom
    parts = figure.parts[r.vt2v]
    assert vt[parts == 15, 1].mean() < vt[np.isin(parts, (10, 11)), 1].mean()
    # the area step did its job
    assert r.stats["area_distortion_final"]["mean_abs_log"] < r.stats["area_distortion_solver"]["mean_abs_log"]


def test_pipeline_is_deterministic(figure, figure_map):
    again = unwrap.parameterize_template(figure.vertices, figure.faces, figure.mirror, figure.parts,
                                         iterations=10, warmup=10)
    assert np.array_equal(again.vt, figure_map.vt) and np.array_equal(again.ft, figure_map.ft)


def test_capsule_unwraps_with_slim():
    mesh = shapes.capsule()
    r = unwrap.parameterize_template(mesh.vertices, mesh.faces, mesh.mirror, solver="slim", iterations=10)
    assert r.stats["flipped_triangles"] == 0 and r.stats["symmetry_error"] <= 1e-6
    assert r.params["solver"] == "slim"


def test_fit_axis_recovers_a_rotated_reflection():
    rng = np.random.default_rng(0)
    half = rng.random((20, 2)) + [0.1, 0.0]
    pts = np.vstack([half, half * [-1, 1]])
    mirror = np.concatenate([np.arange(20) + 20, np.arange(20)])
    angle = 0.3
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    axis = layout.fit_symmetry_axis(pts @ rot.T + [2.0, -1.0], mirror)
    assert abs(abs(axis.normal @ rot[:, 0]) - 1.0) < 1e-12
    assert axis.residual < 1e-12


def test_symmetrize_repairs_a_fold():
    # a fan of 4 triangles around a centre whose mirror pairs disagree strongly
    UV = np.array([[0.0, 0.0], [-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    F = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])
    mirror = np.array([0, 2, 1, 4, 3])
    UV[0] = [0.9, 0.0]                                                  # centre pushed to the right
    out = layout.symmetrize_and_pack(UV, F, mirror, margin=0.1)
    assert np.all(param.signed_areas(out.vt, F) > 0)
    assert out.symmetry_error <= 1e-12


def test_not_symmetric_only_turns_and_packs():
    """symmetric=False: the map is a similarity transform of the solver's with stretch 1 (no
    averaging, so the fold of the fan above stays out), inside the square, its symmetry error
    reported."""
    UV = np.array([[0.9, 0.0], [-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    F = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])
    mirror = np.array([0, 2, 1, 4, 3])
    out = layout.symmetrize_and_pack(UV, F, mirror, margin=0.1, symmetric=False, stretch=1.0)
    before = np.linalg.norm(UV[:, None] - UV[None], axis=-1)
    after = np.linalg.norm(out.vt[:, None] - out.vt[None], axis=-1)
    ratio = after[before > 0] / before[before > 0]
    assert np.ptp(ratio) < 1e-12
    assert np.all(param.signed_areas(out.vt, F) > 0)
    assert out.vt.min() >= 0.1 - 1e-12 and out.vt.max() <= 0.9 + 1e-12
    assert out.symmetry_error == pytest.approx(layout.symmetry_error(out.vt, mirror)) and out.symmetry_error > 0.1


def _symmetric_grid(width: float, height: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3 x 5 grid of points on a width x height rectangle centred on u = 0, triangulated
    symmetrically (counter-clockwise), with its mirror (u -> -u)."""
    us, vs = np.array([-0.5, 0.0, 0.5]) * width, np.linspace(0.0, height, 5)
    UV = np.array([[u, v] for v in vs for u in us])
    F = []
    for r in range(4):
        for c in range(2):
            a, b, d, e = 3 * r + c, 3 * r + c + 1, 3 * r + c + 3, 3 * r + c + 4
            F += [[a, b, e], [a, e, d]] if c == 0 else [[a, b, d], [b, e, d]]
    mirror = np.array([3 * (i // 3) + 2 - i % 3 for i in range(len(UV))])
    return UV, np.array(F), mirror


@pytest.mark.parametrize("symmetric", [True, False])
def test_a_tall_chart_is_widened_to_fill_the_square_by_at_most_the_stretch(symmetric):
    """The pack scales u and v separately, by at most ``stretch`` more along one: a chart 4 times
    taller than wide gets 1.25 x its width (not 4 x), one 1.1 times taller fills the square;
    the mirror symmetry and every triangle's share of the area are kept."""
    UV, F, mirror = _symmetric_grid(1.0, 4.0)
    shares = param.signed_areas(UV, F) / param.signed_areas(UV, F).sum()
    out = layout.symmetrize_and_pack(UV, F, mirror, margin=0.02, symmetric=symmetric)
    width, height = np.ptp(out.vt, axis=0)
    assert height == pytest.approx(0.96) and width == pytest.approx(0.96 / 4.0 * layout.FILL_STRETCH)
    assert out.symmetry_error <= 1e-12
    np.testing.assert_allclose(param.signed_areas(out.vt, F) / out.coverage, shares, rtol=1e-12)
    kept = layout.symmetrize_and_pack(UV, F, mirror, margin=0.02, symmetric=symmetric, stretch=1.0).vt
    assert np.ptp(kept[:, 0]) == pytest.approx(0.24)                  # aspect ratio kept
    UV, F, mirror = _symmetric_grid(1.0, 1.1)
    full = layout.symmetrize_and_pack(UV, F, mirror, margin=0.02, symmetric=symmetric).vt
    np.testing.assert_allclose(np.ptp(full, axis=0), [0.96, 0.96])
    np.testing.assert_allclose([full.min(), full.max()], [0.02, 0.98])


def test_bad_layout_arguments(figure):
    with pytest.raises(UvkitError, match="margin"):
        layout.symmetrize_and_pack(np.zeros((3, 2)), np.array([[0, 1, 2]]), np.arange(3), margin=0.6)
    with pytest.raises(UvkitError, match="stretch"):
        layout.symmetrize_and_pack(np.zeros((3, 2)), np.array([[0, 1, 2]]), np.arange(3), stretch=0.9)
    with pytest.raises(UvkitError, match="involution"):
        layout.symmetrize_and_pack(np.zeros((3, 2)), np.array([[0, 1, 2]]), np.array([1, 1, 2]))
    with pytest.raises(UvkitError, match="valid solvers"):
        unwrap.parameterize_template(figure.vertices, figure.faces, figure.mirror, solver="lscm")


def test_triangles_across_the_axis_do_not_join_the_halves():
    """A chart whose faces do not mirror: along the axis, diagonals link a left vertex to a right
    one that is not its mirror. Told which vertices are on the body's left and right, the
    halves stay apart: the chart keeps its width (a 6 x 4 grid packed with its aspect ratio
    kept stays 1.25 times as wide as high), exactly symmetric, without flips."""
    xs = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    ys = np.arange(5.0)
    X, Y = np.meshgrid(xs, ys)                                  # vertex id = row * 6 + column
    UV = np.stack([X.ravel(), Y.ravel()], axis=1)
    mirror = (np.arange(30) // 6) * 6 + 5 - np.arange(30) % 6
    faces = []
    for r in range(4):
        for c in range(5):
            a, b, d, e = r * 6 + c, r * 6 + c + 1, (r + 1) * 6 + c, (r + 1) * 6 + c + 1
            faces += [[a, b, e], [a, e, d]]                     # the same diagonal everywhere: not mirror symmetric
    ft = np.array(faces)
    UV = UV + np.random.default_rng(0).normal(0, 0.05, UV.shape)  # the solver's halves differ a little
    assert np.all(param.signed_areas(UV, ft) > 0)
    sides = np.sign(X.ravel())                                  # the body's left and right
    narrow = layout.symmetrize_and_pack(UV, ft, mirror, margin=0.0, stretch=1.0).vt   # without them, one piece
    assert np.ptp(narrow[:, 0]) / np.ptp(narrow[:, 1]) < 0.7
    vt = layout.symmetrize_and_pack(UV, ft, mirror, margin=0.0, sides=sides, stretch=1.0).vt
    assert np.abs(vt[:, 0] + vt[mirror, 0] - 1.0).max() <= 1e-12 and np.abs(vt[:, 1] - vt[mirror, 1]).max() <= 1e-12
    assert np.all(param.signed_areas(vt, ft) > 0)
    width, height = np.ptp(vt, axis=0)
    assert width / height == pytest.approx(1.25, rel=0.05)


def test_a_vertex_of_unknown_side_touching_both_halves_does_not_join_them():
    """The copies of a mid-plane vertex on a seam along the mid-line (its lips) are each other's
    mirror but on neither side of the body (their side is 0); at the seam's end one copy can
    touch both halves (measured on a coarse body: the chart squeezed to half its width, the
    lips crossed at the crotch). Such a copy takes the side of most of its neighbours, its
    mirror copy the other: the chart keeps its width, exactly symmetric, without flips."""
    xs = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    X, Y = np.meshgrid(xs, np.arange(5.0))
    UV = np.stack([X.ravel(), Y.ravel()], axis=1)
    mirror = (np.arange(30) // 6) * 6 + 5 - np.arange(30) % 6
    ft = np.array([f for r in range(4) for c in range(5)
                   for f in ([r * 6 + c, r * 6 + c + 1, (r + 1) * 6 + c + 1], [r * 6 + c, (r + 1) * 6 + c + 1, (r + 1) * 6 + c])])
    UV = UV + np.random.default_rng(1).normal(0, 0.05, UV.shape)
    assert np.all(param.signed_areas(UV, ft) > 0)
    sides = np.sign(X.ravel())
    lips = np.array([2 * 6 + 2, 2 * 6 + 3])                     # row 2, the columns beside the axis
    sides[lips] = 0.0
    # the left copy is joined to a right vertex by a diagonal: it touches both halves
    assert np.any((ft == lips[0]).any(axis=1) & (sides[ft] > 0).any(axis=1))
    vt = layout.symmetrize_and_pack(UV, ft, mirror, margin=0.0, sides=sides, stretch=1.0).vt
    assert np.abs(vt[:, 0] + vt[mirror, 0] - 1.0).max() <= 1e-12 and np.abs(vt[:, 1] - vt[mirror, 1]).max() <= 1e-12
    assert np.all(param.signed_areas(vt, ft) > 0)
    width, height = np.ptp(vt, axis=0)
    assert width / height == pytest.approx(1.25, rel=0.05)
    assert np.all((vt[:, 0] - 0.5) * X.ravel() > 0)             # every vertex on its own half


def test_release_near_folds_keeps_the_rest_exact():
    """A symmetric grid whose mirror swaps the partners of two neighbours: no exactly symmetric
    map without folds exists (FoldedMapError); with ``release`` the vertices around the fold
    are released from symmetry (the swapped ones among them, the set mirror-closed and small),
    the map has no flips and is exactly symmetric everywhere else."""
    from uvkit.errors import FoldedMapError

    n = 12
    X, Y = np.meshgrid(np.linspace(-1.0, 1.0, n), np.linspace(0.0, 2.0, n))
    UV = np.stack([X.ravel(), Y.ravel()], axis=1)
    ids = np.arange(n * n).reshape(n, n)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, cc, d = ids[r, c], ids[r, c + 1], ids[r + 1, c + 1], ids[r + 1, c]
            # diagonals mirror each other across the middle column gap
            faces += [[a, b, cc], [a, cc, d]] if (c < n // 2 - 1) ^ (r % 2 == 0) else [[a, b, d], [b, cc, d]]
    F = np.array(faces)
    wrong = param.signed_areas(UV, F) < 0
    F[wrong] = F[wrong][:, ::-1]
    mirror = ids[:, ::-1].ravel().copy()
    p, q = ids[5, 8], ids[5, 9]
    mp, mq = mirror[p], mirror[q]
    mirror[p], mirror[q], mirror[mp], mirror[mq] = mq, mp, q, p
    with pytest.raises(FoldedMapError):
        layout.symmetrize_and_pack(UV, F, mirror)
    out = layout.symmetrize_and_pack(UV, F, mirror, release=True)
    released = out.released
    assert released[[p, q, mp, mq]].all() and np.array_equal(released, released[mirror])
    assert released.sum() <= 16
    assert np.all(param.signed_areas(out.vt, F) > 0)
    off = np.maximum(np.abs(out.vt[:, 0] + out.vt[mirror, 0] - 1.0), np.abs(out.vt[:, 1] - out.vt[mirror, 1]))
    assert off[~released].max() <= 1e-12 and off[released].max() > 1e-3
    assert out.symmetry_error == pytest.approx(off.max())
    # without folds nothing is released
    assert layout.symmetrize_and_pack(UV, F, ids[:, ::-1].ravel(), release=True).released is None
