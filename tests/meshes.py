"""Small meshes made in code for the tests (bad ones on purpose too)."""
import numpy as np
import trimesh


def icosphere(subdivisions: int = 2, stretch=(1.0, 1.6, 0.7)):
    """A closed genus-0 ellipsoid, symmetric about x = 0: (V, 3) float64, (F, 3) int64."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    return np.asarray(mesh.vertices) * np.asarray(stretch), np.asarray(mesh.faces, dtype=np.int64)


def lopsided_egg(subdivisions: int = 3, width: float = 1.0):
    """A closed genus-0 blob symmetric about x = 0 only (no other mirror plane)."""
    V, F = icosphere(subdivisions, stretch=(width, 1.6 * width, 0.7 * width))
    x, y, z = V.T
    V = np.stack([x * (1.0 + 0.3 * y / width), y + 0.25 * z**2 / width, z + 0.3 * y**2 / width], axis=1)
    return V, F


def with_hole(vertices, faces):
    return vertices, faces[1:]


def two_components(vertices, faces):
    shifted = vertices + [5.0, 0.0, 0.0]
    return np.vstack([vertices, shifted]), np.vstack([faces, faces + len(vertices)])


def non_manifold_edge(vertices, faces):
    a, b, _ = faces[0]
    apex = len(vertices)
    return np.vstack([vertices, [[0.0, 0.0, 3.0]]]), np.vstack([faces, [[a, b, apex]]])


def torus():
    mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=0.3, major_sections=24, minor_sections=12)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)


def split_at(vertices, faces, chosen):
    """The mesh as an exporter writes it with a UV seam around the ``chosen`` (F,) bool faces:
    their corners that the other faces use too get copies of their own (appended after the
    other vertices), so the surface is cut open where the chosen faces meet the others."""
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    used = np.intersect1d(faces[chosen], faces[~chosen])
    copy = np.arange(len(vertices))
    copy[used] = len(vertices) + np.arange(len(used))
    out = faces.copy()
    out[chosen] = copy[faces[chosen]]
    return np.vstack([vertices, vertices[used]]), out


def quad_ellipsoid(n: int = 4, stretch=(1.0, 1.6, 0.7)):
    """A closed quad mesh: a cube's faces cut into n x n quads, projected onto an ellipsoid.
    Symmetric about x = 0 (with n even no quad straddles the plane). Returns (V, 3) float64
    and (Q, 4) int64 quads, counter-clockwise seen from outside."""
    ticks = np.linspace(-1.0, 1.0, n + 1)
    index: dict[tuple, int] = {}
    points, quads = [], []

    def vertex(p):
        key = tuple(p)
        if key not in index:
            index[key] = len(points)
            points.append(p)
        return index[key]

    for axis in range(3):
        b, c = (axis + 1) % 3, (axis + 2) % 3
        for sign in (1.0, -1.0):
            grid = np.empty((n + 1, n + 1), dtype=np.int64)
            for i, u in enumerate(ticks):
                for j, v in enumerate(ticks):
                    p = [0.0, 0.0, 0.0]
                    p[axis], p[b], p[c] = sign, u, v
                    grid[i, j] = vertex(tuple(p))
            for i in range(n):
                for j in range(n):
                    quad = [grid[i, j], grid[i + 1, j], grid[i + 1, j + 1], grid[i, j + 1]]
                    quads.append(quad if sign > 0 else quad[::-1])
    V = np.asarray(points, dtype=np.float64)
    V = V / np.linalg.norm(V, axis=1, keepdims=True) * np.asarray(stretch)
    return V, np.asarray(quads, dtype=np.int64)
