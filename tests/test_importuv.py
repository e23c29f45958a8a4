import numpy as np
import pytest

from uvkit import load_template
from uvkit.errors import UVMapError
from uvkit.importuv import import_uvmap, split_shared_uvs
from uvkit.uvmap import load_uvmap

from meshes import icosphere


def _write_obj(path, V, F, vt, ft):
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in V]
    lines += [f"vt {u:.17g} {v:.17g}" for u, v in vt]
    lines += [f"f {a+1}/{ta+1} {b+1}/{tb+1} {c+1}/{tc+1}" for (a, b, c), (ta, tb, tc) in zip(F, ft)]
    path.write_text("\n".join(lines) + "\n")


def _sphere_template(tmp_path):
    V, F = icosphere(2)
    path = tmp_path / "sphere.obj"
    path.write_text("".join(f"v {x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in V) + "".join(f"f {a+1} {b+1} {c+1}\n" for a, b, c in F))
    return load_template(path)


def _per_face_atlas(n_faces):
    """One tiny triangle chart per face, packed on a grid: a multi-chart map made in code."""
    side = int(np.ceil(np.sqrt(n_faces)))
    cell = 1.0 / side
    rows, cols = np.divmod(np.arange(n_faces), side)
    corners = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]) * cell
    vt = (np.stack([cols, rows], axis=1)[:, None, :] * cell + corners[None]).reshape(-1, 2)
    return vt, np.arange(3 * n_faces).reshape(-1, 3)


def test_split_shared_uvs_gives_one_vertex_per_copy():
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    ft = np.array([[0, 1, 2], [0, 2, 2]])  # vt 2 shared by vertices 2 and 3
    new_vt, new_ft, vt2v = split_shared_uvs(faces, vt, ft)
    np.testing.assert_array_equal(vt2v[new_ft], faces)
    assert len(new_vt) == 4


def test_multi_chart_obj_import_round_trips(tmp_path):
    template = _sphere_template(tmp_path)
    vt, ft = _per_face_atlas(template.n_faces)
    obj = tmp_path / "atlas.obj"
    _write_obj(obj, template.vertices, template.faces, vt, ft)
    uvmap = import_uvmap(template, obj, resolutions=(64,))
    np.testing.assert_array_equal(uvmap.vt2v[uvmap.ft], template.faces)
    np.testing.assert_allclose(uvmap.vt[uvmap.ft[0]][:, 1], 1.0 - vt[ft[0]][:, 1])  # v flipped to image rows
    out = tmp_path / "atlas.npz"
    uvmap.save(out)
    again = load_uvmap(out, template)
    np.testing.assert_array_equal(again.ft, uvmap.ft)
    assert again.meta["generator"] == "import-uv" and again.meta["source"] == "atlas.obj"


def test_face_order_and_vertex_split_are_matched(tmp_path):
    template = _sphere_template(tmp_path)
    vt, ft = _per_face_atlas(template.n_faces)
    # the same UV mesh written with faces shuffled and rotated, vertices split per corner
    order = np.random.default_rng(0).permutation(template.n_faces)
    faces = np.roll(template.faces[order], 1, axis=1)
    ft_file = np.roll(ft[order], 1, axis=1)
    V_split = template.vertices[faces.ravel()]
    obj = tmp_path / "split.obj"
    _write_obj(obj, V_split, np.arange(3 * template.n_faces).reshape(-1, 3), vt, ft_file)
    uvmap = import_uvmap(template, obj, resolutions=(32,))
    reference = import_uvmap(template, _write(tmp_path, template, vt, ft), resolutions=(32,))
    np.testing.assert_allclose(uvmap.vt[uvmap.ft], reference.vt[reference.ft])


def _write(tmp_path, template, vt, ft):
    obj = tmp_path / "plain.obj"
    _write_obj(obj, template.vertices, template.faces, vt, ft)
    return obj


def test_unmatched_files_are_refused(tmp_path):
    template = _sphere_template(tmp_path)
    vt, ft = _per_face_atlas(template.n_faces)
    obj = tmp_path / "other.obj"
    _write_obj(obj, template.vertices[:-3] * 2.0, template.faces[:-10] % (template.n_vertices - 3), vt, ft[:-10])
    with pytest.raises(UVMapError, match="other.obj: has .* faces but the template"):
        import_uvmap(template, obj)
    moved = tmp_path / "moved.obj"
    V = np.vstack([template.vertices * 1.5, [[9.0, 9.0, 9.0]]])
    faces = template.faces.copy()
    faces[0, 0] = len(V) - 1                # a vertex more, used (one no triangle used would be left out)
    _write_obj(moved, V, faces, vt, ft)
    with pytest.raises(UVMapError, match="lie on no template vertex"):
        import_uvmap(template, moved)
    plain = tmp_path / "nouv.obj"
    plain.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in template.vertices) + "".join(f"f {a+1} {b+1} {c+1}\n" for a, b, c in template.faces))
    with pytest.raises(UVMapError, match="no texture coordinates"):
        import_uvmap(template, plain)
    with pytest.raises(UVMapError, match="no native UV"):
        import_uvmap(template)


def test_native_atlas_of_the_open_body():
    body = load_template("open")
    uvmap = import_uvmap(body, resolutions=(64,))
    assert len(uvmap.vt) == 14485
    np.testing.assert_array_equal(uvmap.vt2v[uvmap.ft], body.faces)
    assert 0.5 < uvmap.tables[64].mask.mean() < 0.95
