import matplotlib.image
import numpy as np
import pytest

from uvkit import plot
from uvkit.errors import UvkitError
from uvkit.shapes import capsule
from uvkit.weights import face_parts


@pytest.fixture(scope="module")
def body():
    return capsule(n_around=12, n_rings=8)


def projection(vertices):
    uv = vertices[:, :2] - vertices[:, :2].min(axis=0)
    return 0.05 + 0.9 * uv / uv.max()


def test_palette_shares_mirrored_colours():
    assert len(plot.PART_PALETTE) == 24
    assert plot.PART_PALETTE[16] == plot.PART_PALETTE[17]          # left and right shoulder
    assert plot.PART_PALETTE[0] != plot.PART_PALETTE[15]
    assert plot.part_colors(np.array([1, 2])).shape == (2, 4)
    with pytest.raises(UvkitError, match="24"):
        plot.part_colors(np.array([24]))


def test_uv_layout_png(tmp_path, body):
    uv = projection(body.vertices)
    parts = np.arange(len(body.vertices)) % 24
    path = tmp_path / "layout.png"
    plot.plot_uv_layout(uv, body.faces, path, parts=face_parts(body.faces, parts), title="capsule", size=256)
    assert matplotlib.image.imread(path).shape == (256, 256, 4)
    colours = np.random.default_rng(0).random((len(body.faces), 3))
    plot.plot_uv_layout(uv, body.faces, path, face_colors=colours, seams=np.array([[0, 1], [1, 2]]), size=128)
    assert matplotlib.image.imread(path).shape == (128, 128, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout.png"]   # no temporary file left


def test_uv_layout_bad_input(tmp_path, body):
    uv = projection(body.vertices)
    path = tmp_path / "layout.png"
    with pytest.raises(UvkitError, match="one label per face"):
        plot.plot_uv_layout(uv, body.faces, path, parts=np.zeros(len(body.vertices) + 1, dtype=np.int64))
    with pytest.raises(UvkitError, match="not both"):
        plot.plot_uv_layout(uv, body.faces, path, parts=np.zeros(len(body.faces), dtype=np.int64),
                            face_colors=np.zeros((len(body.faces), 3)))
    with pytest.raises(UvkitError, match="face_colors"):
        plot.plot_uv_layout(uv, body.faces, path, face_colors=np.full((len(body.faces), 3), 2.0))
    with pytest.raises(UvkitError, match="seams"):
        plot.plot_uv_layout(uv, body.faces, path, seams=np.array([[0, len(uv)]]))
    with pytest.raises(UvkitError, match="NaN"):
        plot.plot_uv_layout(np.full_like(uv, np.nan), body.faces, path)
    with pytest.raises(FileNotFoundError):
        plot.plot_uv_layout(uv, body.faces, tmp_path / "missing" / "layout.png")
    assert not path.exists()


def test_distance_matrices_png(tmp_path, body):
    uv = projection(body.vertices)
    scrambled = uv[np.random.default_rng(0).permutation(len(uv))]
    path = tmp_path / "matrices.png"
    sample = plot.plot_distance_matrices(body.faces, {"projection": uv, "scrambled": scrambled}, path,
                                         vertices=body.vertices, parts=body.parts, n_samples=100,
                                         scores={"projection": (0.7, 0.9)}, panel=150)
    image = matplotlib.image.imread(path)
    assert image.shape == (210, 450, 4)
    assert len(sample) == 100 and len(np.unique(sample)) == 100
    # sorted by part, then from the top down
    order = plot.distance_matrix_order(len(uv), vertices=body.vertices, parts=body.parts, n_samples=len(uv))
    keys = np.c_[body.parts[order], -body.vertices[order, 1]]
    assert (np.diff(keys[:, 0]) >= 0).all()
    same_part = np.diff(keys[:, 0]) == 0
    assert (np.diff(keys[:, 1])[same_part] >= 0).all()


def test_distance_matrices_bad_input(tmp_path, body):
    uv = projection(body.vertices)
    path = tmp_path / "matrices.png"
    with pytest.raises(UvkitError, match="non-empty dict"):
        plot.plot_distance_matrices(body.faces, {}, path)
    with pytest.raises(UvkitError, match="one row per vertex"):
        plot.plot_distance_matrices(body.faces, {"a": uv, "b": uv[:-1]}, path)
    with pytest.raises(UvkitError, match="hops, geodesic"):
        plot.plot_distance_matrices(body.faces, {"a": uv}, path, distance="euclid")
    with pytest.raises(UvkitError, match="n_samples"):
        plot.plot_distance_matrices(body.faces, {"a": uv}, path, n_samples=1)
    assert not path.exists()
