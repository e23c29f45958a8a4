"""``export-uv``: a UV map written onto its template as a textured OBJ / GLB, and read back."""
import json

import numpy as np
import pytest

from uvkit import load_template, metrics
from uvkit.atomic import save_npz
from uvkit.build import build_uv
from uvkit.cli import main
from uvkit.errors import UvkitError
from uvkit.exportuv import checker_image, export_uv
from uvkit.importuv import import_uvmap
from uvkit.shapes import stick_figure


@pytest.fixture(scope="module")
def figure_map(tmp_path_factory):
    mesh = stick_figure()
    path = tmp_path_factory.mktemp("templates") / "stick.npz"
    save_npz(path, v_template=mesh.vertices, f=mesh.faces, parts=mesh.parts, mirror=mesh.mirror)
    template = load_template(path)
    return template, build_uv(template, resolutions=(32,))


def _s1_s2(uvmap, template):
    uv = metrics.vertex_uv(uvmap.vt, uvmap.ft, uvmap.vt2v, template.n_vertices, copies="first")
    return metrics.s1_s2(template.faces, uv, distance="hops")


def test_obj_round_trip_gives_the_same_map(figure_map, tmp_path):
    template, uvmap = figure_map
    written = export_uv(uvmap, template, tmp_path / "body.obj")
    assert written == [tmp_path / "body.obj"]
    back = import_uvmap(template, tmp_path / "body.obj", resolutions=(32,))
    # the same texture coordinate at every face corner (UV vertices may be numbered otherwise)
    np.testing.assert_allclose(back.vt[back.ft], uvmap.vt[uvmap.ft], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(back.vt2v[back.ft], uvmap.vt2v[uvmap.ft])
    assert len(back.vt) == len(uvmap.vt)
    s1, s2 = _s1_s2(uvmap, template)
    t1, t2 = _s1_s2(back, template)
    assert abs(s1 - t1) <= 1e-12 and abs(s2 - t2) <= 1e-12
    np.testing.assert_array_equal(back.tables[32].mask, uvmap.tables[32].mask)


def test_textures_and_glb(figure_map, tmp_path):
    import trimesh
    from PIL import Image

    template, uvmap = figure_map
    written = export_uv(uvmap, template, tmp_path / "body.obj", texture="parts", texture_size=128)
    assert [p.name for p in written] == ["body.obj", "body_parts.png", "body.mtl"]
    assert "map_Kd body_parts.png" in (tmp_path / "body.mtl").read_text()
    assert (tmp_path / "body.obj").read_text().splitlines()[1] == "mtllib body.mtl"
    image = np.asarray(Image.open(tmp_path / "body_parts.png"))
    assert image.shape == (128, 128, 3) and len(np.unique(image.reshape(-1, 3), axis=0)) > 8
    assert checker_image(64).shape == (64, 64, 3)
    written = export_uv(uvmap, template, tmp_path / "body.glb", texture="checker", texture_size=64)
    assert [p.name for p in written] == ["body.glb", "body_checker.png"]
    scene = trimesh.load(tmp_path / "body.glb")
    mesh = list(scene.geometry.values())[0]
    # seam vertices split: one vertex per UV vertex, at its template vertex's position
    assert len(mesh.vertices) == len(uvmap.vt)
    np.testing.assert_allclose(mesh.vertices, template.vertices[uvmap.vt2v], atol=1e-6)
    np.testing.assert_allclose(mesh.visual.uv[:, 1], 1.0 - uvmap.vt[:, 1], atol=1e-6)


def test_glb_with_split_seams_loads_as_the_template_and_imports_the_same_map(figure_map, tmp_path, capsys):
    """The exported .glb repeats every seam vertex; read back as a template its coincident
    vertices are welded, build-uv works on it, and import-uv gives the map back."""
    template, uvmap = figure_map
    export_uv(uvmap, template, tmp_path / "body.glb")
    loaded = load_template(tmp_path / "body.glb")
    assert loaded.report.closed and loaded.n_vertices == template.n_vertices
    assert loaded.report.n_welded == len(uvmap.vt) - template.n_vertices
    assert loaded.vt is not None and len(loaded.vt) == len(uvmap.vt)       # its texture coordinates
    assert main(["info", "-t", str(tmp_path / "body.glb"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["vertices"] == template.n_vertices and info["welded_vertices"] == loaded.report.n_welded
    assert info["closed"]
    rebuilt = build_uv(loaded, resolutions=(32,))
    assert rebuilt.meta["stats"]["flipped_triangles"] == 0
    back = import_uvmap(template, tmp_path / "body.glb", resolutions=(32,))
    np.testing.assert_allclose(back.vt[back.ft], uvmap.vt[uvmap.ft], rtol=0, atol=1e-6)   # float32 in the file
    np.testing.assert_array_equal(back.vt2v[back.ft], uvmap.vt2v[uvmap.ft])
    s1, s2 = _s1_s2(uvmap, template)
    t1, t2 = _s1_s2(back, template)
    assert abs(s1 - t1) <= 1e-3 and abs(s2 - t2) <= 1e-3


def test_bad_requests_are_refused(figure_map, tmp_path):
    template, uvmap = figure_map
    with pytest.raises(UvkitError, match="unsupported mesh type"):
        export_uv(uvmap, template, tmp_path / "body.stl")
    with pytest.raises(UvkitError, match="valid choices: checker, parts"):
        export_uv(uvmap, template, tmp_path / "body.obj", texture="marble")
    with pytest.raises(UvkitError, match="texture_size"):
        export_uv(uvmap, template, tmp_path / "body.obj", texture="checker", texture_size=1)
    other = template.with_vertices(template.vertices * 2.0)
    with pytest.raises(UvkitError, match="another template"):
        export_uv(uvmap, other, tmp_path / "body.obj")
    assert not (tmp_path / "body.obj").exists()


def test_cli_export_then_import(figure_map, tmp_path, capsys):
    template, uvmap = figure_map
    uvmap.save(tmp_path / "map.npz")
    assert main(["export-uv", str(tmp_path / "map.npz"), "-t", template.source, "-o", str(tmp_path / "b.obj"),
                 "--texture", "checker", "--texture-size", "64"]) == 0
    assert "b_checker.png" in capsys.readouterr().out
    assert main(["import-uv", str(tmp_path / "b.obj"), "-t", template.source, "-o", str(tmp_path / "back.npz"),
                 "--resolutions", "32"]) == 0
    assert main(["export-uv", str(tmp_path / "map.npz"), "-t", "open", "-o", str(tmp_path / "c.obj")]) == 2
    assert "map.npz" in capsys.readouterr().err
