"""The committed UV maps of the open body are what the commands make."""
import numpy as np
import pytest

from uvkit import load_template
from uvkit.build import build_uv, symmetry_error
from uvkit.cut import _face_mirror
from uvkit.importuv import import_uvmap
from uvkit.raster import location_map_from_vertices
from uvkit.template import assets_dir
from uvkit.tolerances import tol
from uvkit.uvmap import load_uvmap


@pytest.fixture(scope="module")
def body():
    return load_template("open")


def _beyond_fill_limit(bary: np.ndarray) -> np.ndarray:
    """Texels a committed map filled by extrapolating beyond today's limit: they take the
    claiming vertex's value now (docs/seams.md, "Lookup tables")."""
    return bary.min(axis=-1) < -tol.raster_fill_extrapolation


def _same_arrays(built, committed):
    ours, theirs = built.arrays(), committed.arrays()
    assert set(ours) == set(theirs)
    for key in ours:
        if key.endswith("_bary"):
            beyond = _beyond_fill_limit(theirs[key])
            assert beyond.sum() <= 0.01 * beyond.size
            np.testing.assert_array_equal(np.sort(ours[key][beyond], axis=-1), np.tile([0.0, 0.0, 1.0], (beyond.sum(), 1)))
            np.testing.assert_array_equal(ours[key][~beyond], theirs[key][~beyond], err_msg=key)
        elif key != "meta":
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def _same_map(built, committed):
    """Equal topology and tables; UV coordinates equal up to the drift of another machine or library release.

    The solve is iterative, so other BLAS kernels move coordinates by ~1e-4 of the square (see
    docs/formats.md). A change of the method moves them by far more than the bounds here.
    """
    ours, theirs = built.arrays(), committed.arrays()
    assert set(ours) == set(theirs)
    for key in ("format", "format_version", "ft", "vt2v", "vt_mirror", "mirror", "resolutions"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert np.abs(ours["vt"] - theirs["vt"]).max() <= 1e-3
    for resolution in committed.resolutions:
        a = {name: ours[f"lookup_{resolution}_{name}"] for name in ("face", "bary", "mask", "inside", "weight")}
        b = {name: theirs[f"lookup_{resolution}_{name}"] for name in ("face", "bary", "mask", "inside", "weight")}
        assert np.mean(a["mask"] != b["mask"]) <= 1e-3 and np.mean(a["inside"] != b["inside"]) <= 1e-3
        both = a["mask"] & b["mask"]
        same_face = both & (a["face"] == b["face"])
        assert same_face.sum() >= 0.99 * both.sum()
        beyond = _beyond_fill_limit(b["bary"])        # 2 texels at 64 on the continuous map
        assert beyond.sum() <= 4 and np.all(np.sort(a["bary"][beyond & same_face], axis=-1) == [0.0, 0.0, 1.0])
        same_face &= ~beyond
        # a texel that kept its face moved within it by the coordinate drift over the face's size
        assert np.abs(a["bary"] - b["bary"])[same_face].max() <= 0.25
        np.testing.assert_allclose(a["weight"][same_face], b["weight"][same_face], rtol=1e-2, atol=1e-3)


@pytest.fixture(scope="module")
def committed(body):
    return load_uvmap(assets_dir() / "open_body_uv.npz", body)


@pytest.fixture(scope="module")
def built(body, committed):
    """The committed map predates the fill stretch (the models are trained on it, so it stays):
    its chart is square to 0.7 %, and ``--stretch 1`` makes it."""
    return build_uv(body, resolutions=committed.resolutions, stretch=1.0)


def test_build_uv_reproduces_the_committed_map(body, committed, built):
    _same_map(built, committed)
    parameters = dict(built.meta["parameters"])
    assert parameters.pop("stretch") == 1.0 and "stretch" not in committed.meta["parameters"]
    assert parameters == committed.meta["parameters"]
    assert symmetry_error(committed) <= 1e-6
    stats = committed.meta["stats"]
    assert stats["flipped_triangles"] == 0 and stats["boundary_self_overlaps"] == 0


def test_import_uv_reproduces_the_committed_native_map(body):
    committed = load_uvmap(assets_dir() / "open_body_native_uv.npz", body)
    _same_arrays(import_uvmap(body, resolutions=committed.resolutions), committed)


@pytest.mark.parametrize("which", ["built", "committed"])
def test_lookup_tables_are_mirror_images(body, which, request):
    """Texel (r, c) reads the mirror face of texel (r, R-1-c), so the symmetric body's location map mirrors exactly."""
    uvmap = request.getfixturevalue(which)
    face_mirror = _face_mirror(uvmap.ft, uvmap.vt_mirror)
    vertices = body.vertices
    flip = np.array([-1.0, 1.0, 1.0])
    assert np.abs(vertices[body.mirror] * flip - vertices).max() <= 1e-9
    for resolution, table in uvmap.tables.items():
        mirrored = table.face[:, ::-1]
        np.testing.assert_array_equal(table.mask, table.mask[:, ::-1], err_msg=f"mask {resolution}")
        np.testing.assert_array_equal(table.inside, table.inside[:, ::-1], err_msg=f"inside {resolution}")
        np.testing.assert_array_equal(table.face[table.mask], face_mirror[mirrored[table.mask]],
                                      err_msg=f"face {resolution}")
        location = location_map_from_vertices(vertices, body.faces, table)
        np.testing.assert_allclose(location, location[:, ::-1] * flip, atol=1e-9, err_msg=f"location map {resolution}")
