import numpy as np
import pytest

from uvkit.errors import TemplateError
from uvkit.mesh import boundary_loops, inspect_mesh, require_closed_genus0, weld_coincident

from meshes import icosphere, non_manifold_edge, split_at, torus, two_components, with_hole


def test_closed_sphere_report():
    V, F = icosphere()
    _, _, report = inspect_mesh(V, F)
    assert report.closed and report.genus == 0 and report.euler_characteristic == 2
    assert report.n_edges == 3 * len(F) // 2
    assert report.consistently_oriented
    require_closed_genus0(report)


def test_hole_is_reported_and_refused_where_closed_needed():
    V, F = with_hole(*icosphere())
    _, _, report = inspect_mesh(V, F)
    assert not report.closed and report.n_boundary_loops == 1 and report.genus == 0
    assert len(boundary_loops(F)[0]) == 3
    with pytest.raises(TemplateError, match="hole"):
        require_closed_genus0(report, "holey.obj")


def test_torus_genus():
    _, _, report = inspect_mesh(*torus())
    assert report.closed and report.genus == 1
    with pytest.raises(TemplateError, match="genus 1"):
        require_closed_genus0(report)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda V, F: two_components(V, F), "2 connected components"),
        (lambda V, F: non_manifold_edge(V, F), "not edge-manifold"),
        (lambda V, F: (np.where(np.arange(len(V))[:, None] == 3, np.nan, V), F), "NaN"),
        (lambda V, F: (V, np.hstack([F, F[:, :1]])), "only triangles"),
        (lambda V, F: (V, np.vstack([F, [[0, 1, len(V)]]])), "indexes vertices"),
        (lambda V, F: (V, F + 0.5), "integer"),
        (lambda V, F: (V, np.vstack([F, [[0, 0, 1]]])), "repeated vertex"),
        (lambda V, F: (np.vstack([V, [[9.0, 9.0, 9.0]]]), F), "used by no triangle"),
        (lambda V, F: (V[:, :2], F), r"shape \(V, 3\)"),
    ],
)
def test_bad_meshes_give_one_clear_error(make, message):
    V, F = make(*icosphere())
    with pytest.raises(TemplateError, match=message) as info:
        inspect_mesh(V, F, source="bad.obj")
    assert "bad.obj" in str(info.value)


def test_sorted_unique_is_np_unique():
    from uvkit.mesh import sorted_unique

    rng = np.random.default_rng(0)
    for values in (rng.integers(0, 50, 1000), rng.integers(0, 10**12, 5000), np.array([], dtype=np.int64),
                   np.array([7]), rng.normal(size=100).round(1)):
        np.testing.assert_array_equal(sorted_unique(values), np.unique(values))


def test_weld_coincident_closes_a_mesh_split_at_a_seam():
    V, F = icosphere()
    split_V, split_F = split_at(V, F, V[F].mean(axis=1)[:, 2] > 0.1)
    assert len(boundary_loops(split_F)) > 0      # cut open where the front faces meet the rest
    welded_V, welded_F, index, kept = weld_coincident(split_V, split_F, 1e-9)
    # the copies come after the originals, so the lowest-numbered members give the mesh back
    np.testing.assert_array_equal(welded_V, V)
    np.testing.assert_array_equal(welded_F, F)
    assert kept.all() and len(index) == len(split_V)
    np.testing.assert_array_equal(welded_V[index], split_V)
    assert inspect_mesh(welded_V, welded_F)[2].closed


def test_weld_keeps_vertices_farther_apart_and_drops_collapsed_triangles():
    V, F = icosphere()
    split_V, split_F = split_at(V, F, V[F].mean(axis=1)[:, 2] > 0.1)
    split_V[len(V):] += 1e-6                      # copies 1.7e-6 away: more than the distance
    same_V, same_F, index, kept = weld_coincident(split_V, split_F, 1e-6)
    assert len(same_V) == len(split_V) and np.array_equal(same_F, split_F) and kept.all()
    np.testing.assert_array_equal(index, np.arange(len(split_V)))
    # a sliver whose two corners coincide collapses to a segment and is left out
    sliver_V = np.vstack([V, V[F[0, 0]]])
    sliver_F = np.vstack([F, [[F[0, 0], F[0, 1], len(V)]]])
    welded_V, welded_F, index, kept = weld_coincident(sliver_V, sliver_F, 1e-9)
    assert len(welded_V) == len(V) and index[len(V)] == F[0, 0]
    assert kept.sum() == len(F) and not kept[-1]
    np.testing.assert_array_equal(welded_F, F)


def _sphere_with_handle(place, apart=0.5):
    """A unit sphere with a handle: the triangle nearest ``place`` and one ``apart`` from it
    removed and joined by a tube of six triangles (genus 1)."""
    V, F = icosphere(3, stretch=(1.0, 1.0, 1.0))
    centres = V[F].mean(axis=1)
    order = np.argsort(np.linalg.norm(centres - place, axis=1))
    first = order[0]
    second = next(f for f in order[1:] if np.linalg.norm(centres[f] - centres[first]) > apart)
    a, b = F[first], F[second]
    tube = []
    for i in range(3):
        tube += [[a[(i + 1) % 3], a[i], b[i]], [a[(i + 1) % 3], b[i], b[(i + 1) % 3]]]
    keep = np.ones(len(F), dtype=bool)
    keep[[first, second]] = False
    return V, np.vstack([F[keep], tube])


def test_handles_are_found_where_they_are():
    """The edges closing a greedy system of loops lie at the handles: on a sphere with a handle
    on top, both lie within the handle's span of it; on the torus, the two loops' edges are
    reported and the error names the places."""
    from uvkit.mesh import handle_places

    top = np.array([0.0, 1.0, 0.0])
    V, F = _sphere_with_handle(top)
    _, _, report = inspect_mesh(V, F)
    assert report.genus == 1 and sum(count for _, count in report.handles) == 2
    for place, _ in report.handles:
        assert np.linalg.norm(np.asarray(place) - top) < 0.6
    side = np.array([1.0, 0.0, 0.0])
    assert all(np.linalg.norm(place - side) < 0.6 for place, _ in handle_places(*_sphere_with_handle(side)))
    with pytest.raises(TemplateError, match=r"genus 1 \(handles\): near \(.*\) \(the file's coordinates"):
        require_closed_genus0(report, "mug.obj")
    _, _, ring = inspect_mesh(*torus())
    assert sum(count for _, count in ring.handles) == 2
    _, _, ball = inspect_mesh(*icosphere(2))
    assert ball.handles == ()


def test_triangles_wound_inward_or_against_their_neighbours_are_turned():
    """A mirrored export (every triangle wound inward) and a mesh with some triangles wound
    against their neighbours come back wound as the original, outward; the report counts the
    triangles turned."""
    V, F = icosphere(2)
    _, same, report = inspect_mesh(V, F)
    assert np.array_equal(same, F) and report.n_rewound == 0
    _, outward, report = inspect_mesh(V, F[:, ::-1])
    assert np.array_equal(outward, F) and report.n_rewound == len(F) and report.consistently_oriented
    assert "wound inward, turned outward" in report.describe()
    flip = np.random.default_rng(0).random(len(F)) < 0.2
    for mixed in (np.where(flip[:, None], F[:, ::-1], F), np.where(flip[:, None], F, F[:, ::-1])):
        _, fixed, report = inspect_mesh(V, mixed)
        assert np.array_equal(fixed, F) and report.consistently_oriented
        assert report.n_rewound == int(np.sum(np.any(mixed != F, axis=1)))
        assert f"{report.n_rewound} triangles wound against their neighbours turned" in report.describe()


def test_an_open_mesh_is_wound_consistently_but_not_turned_as_a_whole():
    V, F = with_hole(*icosphere(2))
    _, kept, report = inspect_mesh(V, F[:, ::-1])
    assert np.array_equal(kept, F[:, ::-1]) and report.n_rewound == 0     # no inside to tell outward by
    G = F.copy()
    G[5] = G[5, ::-1]
    _, fixed, report = inspect_mesh(V, G)
    assert report.consistently_oriented and report.n_rewound == 1 and np.array_equal(fixed, F)


def test_a_moebius_strip_is_left_as_it_is():
    """No consistent winding exists: the faces come back unchanged, reported as not oriented."""
    n = 8
    top, bottom = np.arange(n), np.arange(n) + n
    angle = 2 * np.pi * np.arange(n) / n
    V = np.concatenate([np.stack([np.cos(angle), np.sin(angle), 0.2 * np.cos(angle / 2)], axis=1),
                        np.stack([np.cos(angle), np.sin(angle), -0.2 * np.cos(angle / 2)], axis=1)])
    F = []
    for i in range(n):
        j = (i + 1) % n
        a, b = top[i], bottom[i]
        c, d = (top[j], bottom[j]) if j else (bottom[0], top[0])    # the half twist
        F += [[a, b, c], [c, b, d]]
    F = np.array(F, dtype=np.int64)
    from uvkit.mesh import orient_outward

    kept, turned = orient_outward(V, F)
    assert np.array_equal(kept, F) and not turned.any()


def test_a_surface_touching_itself_is_reported_and_refused_where_it_touches():
    """Two vertices of a sphere glued into one (parts pressed together at a point): the vertex's
    triangles form two fans; the report counts it and keeps its place, and a closed genus-0
    surface is refused naming it (Euler's formula alone took the result for genus 0)."""
    V, F = icosphere(2)
    far = int(np.argmax(np.linalg.norm(V - V[0], axis=1)))
    glued = np.where(F == far, 0, F)
    keep = np.setdiff1d(np.arange(len(V)), [far])
    renumber = np.full(len(V), -1)
    renumber[keep] = np.arange(len(keep))
    _, _, report = inspect_mesh(V[keep], renumber[glued])
    assert report.closed and report.genus == 0 and report.n_pinched == 1
    np.testing.assert_allclose(report.pinched[0], V[0])
    assert "the surface touches itself at 1 vertex" in report.describe()
    with pytest.raises(TemplateError, match=r"pinched.obj: the surface touches itself at 1 vertex .*near \("):
        require_closed_genus0(report, "pinched.obj")
    _, _, fine = inspect_mesh(V, F)
    assert fine.n_pinched == 0 and fine.pinched == ()
