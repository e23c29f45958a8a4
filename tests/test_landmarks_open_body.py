"""The open body without its rig (a plain mesh): its map is as good as the rigged one."""
from dataclasses import replace

import pytest

from uvkit import load_template
from uvkit.build import build_uv, symmetry_error
from uvkit.compare import lookup_quality
from uvkit.template import assets_dir
from uvkit.uvmap import load_uvmap


@pytest.fixture(scope="module")
def body():
    return load_template("open")


@pytest.fixture(scope="module")
def bare_map(body):
    bare = replace(body, weights=None, kintree_table=None, J_regressor=None, shapedirs=None, posedirs=None,
                   parts=None, mirror=None, vt=None, ft=None)
    return bare, build_uv(bare, resolutions=(128,))


def test_unrigged_open_body_map_meets_the_targets(body, bare_map):
    bare, uvmap = bare_map
    stats = uvmap.meta["stats"]
    assert uvmap.meta["landmarks"]["source"] == "geometry"
    assert stats["flipped_triangles"] == 0 and stats["boundary_self_overlaps"] == 0
    assert symmetry_error(uvmap) <= 1e-6
    # the head, hands and feet get the rig's texel budget
    rigged = load_uvmap(assets_dir() / "open_body_uv.npz", body)
    assert stats["detail_scales"] == rigged.meta["stats"]["detail_scales"]
    assert abs(stats["n_seam_edges"] - rigged.meta["stats"]["n_seam_edges"]) <= 0.05 * rigged.meta["stats"]["n_seam_edges"]
    rest = lookup_quality(uvmap, bare, n_poses=0)[128]["round_trip_mm"]
    assert rest["mean"] <= 2.5 and rest["max"] <= 30.0
    reference = lookup_quality(rigged, body, n_poses=0)[128]["round_trip_mm"]
    assert rest["mean"] <= 1.15 * reference["mean"]
