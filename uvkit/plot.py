"""Figures of UV maps: the layout (the DecoMR paper's Figure 3) and distance matrices (Figure 4).

matplotlib with the Agg canvas only: nothing opens a window, and importing this module does
not touch pyplot's global state. PNG files are written atomically.
"""
from __future__ import annotations

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from uvkit.atomic import atomic_path
from uvkit.errors import UvkitError
from uvkit.metrics import _check_faces, _check_points, graph_distances, uv_boundary_edges
from uvkit.parts import MIRROR_JOINTS, NUM_JOINTS

__all__ = ["PART_PALETTE", "part_colors", "plot_uv_layout", "distance_matrix_order", "plot_distance_matrices"]

#: one colour per SMPL joint id (0..23); a left part and its right mirror share a colour.
PART_PALETTE: tuple[str, ...] = tuple(
    {
        0: "#8c6d31", 1: "#1f77b4", 3: "#bd9e39", 4: "#17becf", 6: "#e7ba52", 7: "#9467bd",
        9: "#e7cb94", 10: "#c5b0d5", 12: "#d62728", 13: "#ad494a", 15: "#ff9896", 16: "#2ca02c",
        18: "#98df8a", 20: "#ff7f0e", 22: "#ffbb78",
    }[min(joint, MIRROR_JOINTS[joint])]
    for joint in range(NUM_JOINTS)
)

_DPI = 100


def part_colors(parts) -> np.ndarray:
    """RGBA colour of each part label.

    Parameters
    ----------
    parts : (N,) int64
        SMPL joint ids in [0, 24).

    Returns
    -------
    colors : (N, 4) float64
    """
    from matplotlib.colors import to_rgba_array

    parts = np.asarray(parts)
    if parts.ndim != 1 or not np.issubdtype(parts.dtype, np.integer):
        raise UvkitError(f"'parts' must have shape (N,) and an integer dtype, got {parts.shape} {parts.dtype}")
    if parts.size and (parts.min() < 0 or parts.max() >= NUM_JOINTS):
        raise UvkitError(f"'parts' must lie in [0, {NUM_JOINTS}), got [{parts.min()}, {parts.max()}]")
    return to_rgba_array(list(PART_PALETTE))[parts]


def _save(figure: Figure, path: str | os.PathLike) -> None:
    FigureCanvasAgg(figure)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        figure.savefig(tmp, format="png", dpi=_DPI)


def plot_uv_layout(vt, ft, path: str | os.PathLike, *, parts=None, face_colors=None, seams=None,
                   title: str | None = None, size: int = 1024, marked=None, marked_label: str = "marked") -> None:
    """Draw a UV layout on the unit square and write it as a PNG.

    Parameters
    ----------
    vt : (T, 2) float64
    ft : (F, 3) int64
    path : str or PathLike
        output ``.png``, written atomically.
    parts : (F,) int64 or None
        SMPL joint id of each face (see ``uvkit.weights.face_parts``); coloured with
        :data:`PART_PALETTE`.
    face_colors : (F, 3) or (F, 4) float or None
        explicit RGB(A) colours in [0, 1]; exclusive with ``parts``. Neither: light grey.
    seams : (S, 2) int64 or None
        UV edges (pairs of ``vt`` rows) drawn as dark lines; default the chart borders
        (:func:`uvkit.metrics.uv_boundary_edges`), which are the seams.
    title : str or None
    size : int
        image width and height in pixels.
    marked : (M,) int or None
        UV vertices drawn as dots (e.g. those build-uv released from exact symmetry), with
        ``marked_label`` and their number in a legend.
    """
    vt = _check_points(vt, 2, "vt")
    ft = _check_faces(ft, len(vt), "ft")
    size = int(size)
    if size < 64:
        raise UvkitError(f"size must be at least 64 pixels, got {size}")
    if parts is not None and face_colors is not None:
        raise UvkitError("give either 'parts' or 'face_colors', not both")
    if parts is not None:
        parts = np.asarray(parts)
        if parts.shape != (len(ft),):
            raise UvkitError(f"'parts' must hold one label per face: shape ({len(ft)},), got {parts.shape}")
        colors = part_colors(parts)
    elif face_colors is not None:
        colors = np.asarray(face_colors, dtype=np.float64)
        if colors.ndim != 2 or colors.shape[0] != len(ft) or colors.shape[1] not in (3, 4):
            raise UvkitError(f"'face_colors' must have shape ({len(ft)}, 3) or ({len(ft)}, 4), got {colors.shape}")
        if not np.isfinite(colors).all() or colors.min() < 0 or colors.max() > 1:
            raise UvkitError("'face_colors' must be finite and within [0, 1]")
    else:
        colors = np.tile([0.82, 0.82, 0.82, 1.0], (len(ft), 1))
    if seams is None:
        seams = uv_boundary_edges(ft)
    else:
        seams = np.asarray(seams)
        if seams.ndim != 2 or seams.shape[1] != 2 or not np.issubdtype(seams.dtype, np.integer):
            raise UvkitError(f"'seams' must have shape (S, 2) and an integer dtype, got {seams.shape} {seams.dtype}")
        if seams.size and (seams.min() < 0 or seams.max() >= len(vt)):
            raise UvkitError(f"'seams' must index vt rows in [0, {len(vt)})")

    figure = Figure(figsize=(size / _DPI, size / _DPI), dpi=_DPI)
    axes = figure.add_axes((0.04, 0.04, 0.92, 0.92 if title is None else 0.88))
    axes.add_collection(PolyCollection(vt[ft], facecolors=colors, edgecolors="none", linewidths=0))
    if len(seams):
        axes.add_collection(LineCollection(vt[seams], colors="#202020", linewidths=max(0.5, size / 1600)))
    axes.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="#909090", linewidth=0.8)
    if marked is not None and len(marked):
        marked = np.asarray(marked)
        if marked.ndim != 1 or not np.issubdtype(marked.dtype, np.integer) or marked.min() < 0 or marked.max() >= len(vt):
            raise UvkitError(f"'marked' must be a 1-d array of vt rows in [0, {len(vt)})")
        axes.scatter(vt[marked, 0], vt[marked, 1], s=max(2.0, size / 256), c="#e0002a", linewidths=0,
                     label=f"{marked_label} ({len(marked)})", zorder=3)
        axes.legend(loc="lower center", fontsize=8, frameon=False)
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(1.01, -0.01)  # v runs down the image rows, as in a location map
    axes.set_aspect("equal")
    axes.set_xlabel("u")
    axes.set_ylabel("v")
    if title:
        axes.set_title(title)
    _save(figure, path)


def distance_matrix_order(n_vertices: int, *, vertices=None, parts=None, n_samples: int = 1000) -> np.ndarray:
    """A fixed vertex subsample in a readable order: by part, then by height.

    Vertices are sorted by part label (when given), then by height (``y``, when vertices are
    given), then by index; ``n_samples`` of them are taken at evenly spaced ranks.

    Parameters
    ----------
    n_vertices : int
    vertices : (V, 3) float64 or None
    parts : (V,) int64 or None
    n_samples : int

    Returns
    -------
    sample : (min(n_samples, V),) int64
        vertex ids in plotting order.
    """
    keys = [np.arange(n_vertices)]
    if vertices is not None:
        vertices = _check_points(vertices, 3, "vertices", n_vertices)
        keys.append(-vertices[:, 1])
    if parts is not None:
        parts = np.asarray(parts)
        if parts.shape != (n_vertices,) or not np.issubdtype(parts.dtype, np.integer):
            raise UvkitError(f"'parts' must have shape ({n_vertices},) and an integer dtype, got {parts.shape} {parts.dtype}")
        keys.append(parts)
    order = np.lexsort(keys)
    n_samples = int(n_samples)
    if n_samples < 2:
        raise UvkitError(f"n_samples must be at least 2, got {n_samples}")
    if n_samples >= n_vertices:
        return order.astype(np.int64)
    ranks = np.round(np.linspace(0, n_vertices - 1, n_samples)).astype(np.int64)
    return order[ranks].astype(np.int64)


def plot_distance_matrices(faces, uvs: dict, path: str | os.PathLike, *, vertices=None, parts=None,
                           n_samples: int = 1000, distance: str = "hops", scores: dict | None = None,
                           panel: int = 400) -> np.ndarray:
    """The mesh distance matrix and each map's UV distance matrix, side by side, as a PNG.

    All matrices use the same vertex subsample in the same order
    (:func:`distance_matrix_order`); each is divided by its maximum so it spans [0, 1].

    Parameters
    ----------
    faces : (F, 3) int64
    uvs : dict name -> (V, 2) float64
        per-vertex UV of each map (:func:`uvkit.metrics.vertex_uv`), at least one.
    path : str or PathLike
        output ``.png``, written atomically.
    vertices : (V, 3) float64 or None
        for the ordering by height, and needed for ``distance="geodesic"``.
    parts : (V,) int64 or None
        for the ordering by part.
    n_samples : int
    distance : str
        ``"hops"`` or ``"geodesic"``.
    scores : dict name -> (S1, S2) or None
        printed under the map's panel.
    panel : int
        width and height of one panel in pixels.

    Returns
    -------
    sample : (N,) int64
        the plotted vertices, in order.
    """
    if not isinstance(uvs, dict) or not uvs:
        raise UvkitError("'uvs' must be a non-empty dict: map name -> (V, 2) per-vertex UV")
    names = list(uvs)
    arrays = [_check_points(uvs[name], 2, f"uvs[{name!r}]") for name in names]
    n_vertices = len(arrays[0])
    for name, array in zip(names, arrays):
        if len(array) != n_vertices:
            raise UvkitError(f"uvs[{name!r}] has {len(array)} rows, uvs[{names[0]!r}] {n_vertices}: one row per vertex")
    faces = _check_faces(faces, n_vertices)
    panel = int(panel)
    if panel < 64:
        raise UvkitError(f"panel must be at least 64 pixels, got {panel}")
    sample = distance_matrix_order(n_vertices, vertices=vertices, parts=parts, n_samples=n_samples)
    mesh = graph_distances(faces, sample, n_vertices=n_vertices, vertices=vertices, distance=distance)[:, sample]
    if not np.isfinite(mesh).all():
        raise UvkitError("the mesh graph is not connected: its distance matrix has infinite entries")
    matrices = [mesh]
    for array in arrays:
        points = array[sample]
        matrices.append(np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)))
    titles = [f"mesh ({'hop count' if distance == 'hops' else 'geodesic'})"] + names
    scores = scores or {}
    count = len(matrices)
    figure = Figure(figsize=(count * panel / _DPI, (panel + 60) / _DPI), dpi=_DPI)
    for index, (matrix, title) in enumerate(zip(matrices, titles)):
        peak = matrix.max()
        normalised = matrix / peak if peak > 0 else matrix
        axes = figure.add_axes((index / count + 0.01, 0.1, 1.0 / count - 0.02, 0.8))
        axes.imshow(normalised, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(title, fontsize=10)
        if title in scores:
            s1, s2 = scores[title]
            axes.set_xlabel(f"S1 {s1:.3f}  S2 {s2:.3f}", fontsize=9)
    _save(figure, path)
    return sample
