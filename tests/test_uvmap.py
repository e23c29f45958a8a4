import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from uvkit.errors import UVMapError
from uvkit.raster import bilinear_taps
from uvkit.uvmap import FORMAT_VERSION, UVMap, build_uvmap, load_uvmap, uvmap_keys


def box_two_charts():
    """A closed box (8 vertices, 12 faces) with a 2-chart UV map.

    Chart 1: the four side faces unrolled into a strip (the vertical seam edge has two UV
    copies of its vertices); chart 2: top and bottom side by side. Returns a template-like
    object (.vertices (8, 3), .faces (12, 3)) and vt (T, 2), ft (12, 3), vt2v (T,), parts (8,).
    """
    vertices = np.array([[x, y, z] for z in (0.0, 1.0) for y in (0.0, 1.0) for x in (0.0, 1.0)])
    ring_bottom = [0, 1, 3, 2]  # around the box at z = 0
    ring_top = [4, 5, 7, 6]
    vt, vt2v, ft, faces = [], [], [], []
    # side strip: 5 columns x 2 rows of UV vertices
    for row, ring in enumerate((ring_bottom, ring_top)):
        for col in range(5):
            vt.append([0.05 + 0.225 * col, 0.4 + 0.5 * row])
            vt2v.append(ring[col % 4])
    for col in range(4):
        a, b, c, d = col, col + 1, 5 + col + 1, 5 + col
        ft += [[a, b, c], [a, c, d]]
    # caps: bottom at u in [0.1, 0.4], top at u in [0.6, 0.9], v in [0.05, 0.3]
    for base, ring, flip in ((0.1, ring_bottom, True), (0.6, ring_top, False)):
        start = len(vt)
        for k, (du, dv) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
            vt.append([base + 0.3 * du, 0.05 + 0.25 * dv])
            vt2v.append(ring[k])
        tris = [[start, start + 1, start + 2], [start, start + 2, start + 3]]
        ft += [t[::-1] for t in tris] if flip else tris
    vt = np.asarray(vt)
    ft = np.asarray(ft, dtype=np.int64)
    vt2v = np.asarray(vt2v, dtype=np.int64)
    faces = vt2v[ft]
    template = SimpleNamespace(vertices=vertices, faces=faces)
    parts = np.array([0, 12, 1, 7, 0, 12, 16, 22], dtype=np.int64)
    return template, vt, ft, vt2v, parts


def template_sha(template):
    from uvkit.template import template_hash

    return template_hash(template.vertices, template.faces)


@pytest.fixture
def built():
    template, vt, ft, vt2v, parts = box_two_charts()
    mirror = np.array([1, 0, 3, 2, 5, 4, 7, 6], dtype=np.int64)
    uvmap = build_uvmap(vt, ft, vt2v, template.faces, 8, parts=parts, mirror=mirror, resolutions=(16, 32),
                        meta={"template_sha256": template_sha(template), "template_name": "box",
                              "generator": "import-uv"})
    return template, uvmap


def test_build_makes_every_table(built):
    template, uvmap = built
    assert uvmap.resolutions == (16, 32)
    assert uvmap.n_vertices == 8 and uvmap.n_faces == 12
    assert np.all(uvmap.vt_mirror == -1)
    for resolution, table in uvmap.tables.items():
        rows, cols, _ = bilinear_taps(uvmap.vt, resolution)
        assert np.all(table.mask[rows, cols])
        weight = uvmap.weights[resolution]
        assert weight.dtype == np.float32 and abs(weight[table.mask].mean() - 1) < 1e-5
    for key in ("uvkit_version", "libigl_version", "numpy_version", "scipy_version", "template_name", "generator"):
        assert key in uvmap.meta


def test_save_load_round_trip(built, tmp_path):
    template, uvmap = built
    path = tmp_path / "box_uv.npz"
    uvmap.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(uvmap_keys([16, 32]))
        assert archive["format_version"].dtype == np.int64
        assert str(archive["format"]) == "uvkit-uvmap"
    for given in (None, template, template_sha(template)):
        loaded = load_uvmap(path, template=given)
        for name in ("vt", "ft", "vt2v", "vt_mirror", "mirror"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(uvmap, name))
            assert getattr(loaded, name).dtype == np.asarray(getattr(uvmap, name)).dtype
        for resolution in (16, 32):
            for name in ("face", "bary", "mask", "inside"):
                a, b = getattr(loaded.tables[resolution], name), getattr(uvmap.tables[resolution], name)
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype
            np.testing.assert_array_equal(loaded.weights[resolution], uvmap.weights[resolution])
        assert loaded.meta == json.loads(json.dumps(uvmap.meta))


def test_build_is_deterministic(built, tmp_path):
    template, uvmap = built
    again = build_uvmap(uvmap.vt, uvmap.ft, uvmap.vt2v, template.faces, 8, parts=None, resolutions=(32, 16),
                        meta=dict(uvmap.meta))
    for resolution in (16, 32):
        np.testing.assert_array_equal(again.tables[resolution].bary, uvmap.tables[resolution].bary)
        np.testing.assert_array_equal(again.tables[resolution].face, uvmap.tables[resolution].face)


def rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(out, **arrays)
    return out


def test_refusals(built, tmp_path):
    template, uvmap = built
    path = tmp_path / "box_uv.npz"
    uvmap.save(path)
    bad = tmp_path / "bad.npz"

    rewrite(path, bad, format_version=np.array(2, dtype=np.int64))
    with pytest.raises(UVMapError, match="format_version.*2"):
        load_uvmap(bad)
    rewrite(path, bad, format=np.array("something-else"))
    with pytest.raises(UVMapError, match="format"):
        load_uvmap(bad)
    rewrite(path, bad, lookup_32_bary=None)
    with pytest.raises(UVMapError, match=r"bad\.npz.*missing key 'lookup_32_bary'"):
        load_uvmap(bad)
    rewrite(path, bad, ft=uvmap.ft[:-1])
    with pytest.raises(UVMapError, match=r"bad\.npz.*'ft'.*\(11, 3\)"):
        load_uvmap(bad)
    rewrite(path, bad, lookup_16_face=np.zeros((16, 15), dtype=np.int32))
    with pytest.raises(UVMapError, match=r"'lookup_16_face'.*\(16, 15\)"):
        load_uvmap(bad)
    rewrite(path, bad, vt2v=uvmap.vt2v.astype(np.int32))
    with pytest.raises(UVMapError, match="'vt2v'.*int32"):
        load_uvmap(bad)
    rewrite(path, bad, vt2v=uvmap.vt2v + 8)
    with pytest.raises(UVMapError, match="'vt2v'.*range|'vt2v'.*values"):
        load_uvmap(bad)
    rewrite(path, bad, meta=np.array("{not json"))
    with pytest.raises(UVMapError, match="'meta'"):
        load_uvmap(bad)
    rewrite(path, bad, vt=np.array([object()], dtype=object))
    with pytest.raises(UVMapError, match="pickle"):
        load_uvmap(bad)


def test_other_template_is_refused(built, tmp_path):
    template, uvmap = built
    path = tmp_path / "box_uv.npz"
    uvmap.save(path)
    other = SimpleNamespace(vertices=template.vertices * 2.0, faces=template.faces)
    with pytest.raises(UVMapError, match=r"box_uv\.npz.*another template") as caught:
        load_uvmap(path, template=other)
    assert template_sha(template) in str(caught.value) and template_sha(other) in str(caught.value)
    with pytest.raises(UVMapError, match="another template"):
        load_uvmap(path, template="0" * 64)


def test_not_an_npz_is_refused(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(UVMapError, match=r"text\.npz"):
        load_uvmap(path)
    with pytest.raises(UVMapError, match="no such file"):
        load_uvmap(tmp_path / "missing.npz")
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros(3))
    with pytest.raises(UVMapError, match=r"plain\.npy"):
        load_uvmap(plain)


def test_build_refuses_inconsistent_input(built):
    template, uvmap = built
    faces = template.faces
    meta = {"template_sha256": template_sha(template), "generator": "import-uv"}
    with pytest.raises(UVMapError, match="vt2v"):
        build_uvmap(uvmap.vt, uvmap.ft, uvmap.vt2v[::-1], faces, 8, meta=meta)
    with pytest.raises(UVMapError, match=r"outside \[0, 1\]"):
        build_uvmap(uvmap.vt + 0.5, uvmap.ft, uvmap.vt2v, faces, 8, meta=meta)
    with pytest.raises(UVMapError, match="template_sha256"):
        build_uvmap(uvmap.vt, uvmap.ft, uvmap.vt2v, faces, 8, meta={"generator": "x"})
    with pytest.raises(UVMapError, match="parts"):
        build_uvmap(uvmap.vt, uvmap.ft, uvmap.vt2v, faces, 8, parts=np.zeros(5, dtype=np.int64), meta=meta)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_save_into_read_only_folder_fails_cleanly(built, tmp_path):
    template, uvmap = built
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            uvmap.save(folder / "uv.npz")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_failed_save_leaves_no_file(built, tmp_path, monkeypatch):
    template, uvmap = built

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(KeyboardInterrupt):
        uvmap.save(tmp_path / "uv.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_broken_map(built, tmp_path):
    template, uvmap = built
    broken = UVMap(vt=uvmap.vt, ft=uvmap.ft[:, :2], vt2v=uvmap.vt2v, vt_mirror=uvmap.vt_mirror,
                   mirror=uvmap.mirror, tables=uvmap.tables, weights=uvmap.weights, meta=uvmap.meta)
    with pytest.raises(UVMapError, match="'ft'"):
        broken.save(tmp_path / "uv.npz")
    assert list(tmp_path.iterdir()) == []
    assert FORMAT_VERSION == 1


def test_save_into_unwritable_folder_is_refused_before_writing(built, tmp_path, monkeypatch):
    # the same refusal as a read-only folder, also when running as root
    template, uvmap = built
    import uvkit.atomic

    monkeypatch.setattr(uvkit.atomic.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(PermissionError, match="not writable"):
        uvmap.save(tmp_path / "uv.npz")
    assert list(tmp_path.iterdir()) == []
