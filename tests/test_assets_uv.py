"""The committed UV maps of the open body are what the commands make."""
import numpy as np
import pytest

from uvkit import load_template
from uvkit.build import build_uv, symmetry_error
from uvkit.importuv import import_uvmap
from uvkit.template import assets_dir
from uvkit.uvmap import load_uvmap


@pytest.fixture(scope="module")
def body():
    return load_template("open")


def _same_arrays(built, committed):
    ours, theirs = built.arrays(), committed.arrays()
    assert set(ours) == set(theirs)
    for key in ours:
        if key != "meta":
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_build_uv_reproduces_the_committed_map(body):
    committed = load_uvmap(assets_dir() / "open_body_uv.npz", body)
    built = build_uv(body, resolutions=committed.resolutions)
    _same_arrays(built, committed)
    assert built.meta["parameters"] == committed.meta["parameters"]
    assert symmetry_error(committed) <= 1e-6
    stats = committed.meta["stats"]
    assert stats["flipped_triangles"] == 0 and stats["boundary_self_overlaps"] == 0


def test_import_uv_reproduces_the_committed_native_map(body):
    committed = load_uvmap(assets_dir() / "open_body_native_uv.npz", body)
    _same_arrays(import_uvmap(body, resolutions=committed.resolutions), committed)
