"""Benchmark: exact S1/S2 against scipy's all-pairs unweighted shortest paths on the same mesh.

Meshes:

- ``capsule-6890``: a closed surface of revolution built in code with exactly 6890 vertices
  (the SMPL vertex count): 123 rings of 56 vertices plus two poles, a body-like silhouette
  (head, neck, shoulders, waist, legs) 1.7 m tall, triangulated symmetrically about x = 0, so
  its mirror permutation is exact. Its UV is a cylindrical projection (angle, height).
- ``capsule-13314``: the same with 208 rings of 64 (13314 vertices), the open body's size,
  with ``--large``.
- ``open-body``: the open body template (``assets/open_body.npz``, keys ``v_template``, ``f``,
  ``mirror``, ``vt``/``ft``) with its native UV atlas, first copy of each seam vertex; skipped
  when the file is absent.

In one run, per mesh: our exact S1/S2 (hop counts, mirror, ``--workers``), then right after
it ``scipy.sparse.csgraph.shortest_path(G, unweighted=True)`` alone, timed inside a child
process; prints both times and their ratio. Peak memory is the peak resident set size
(``resource.getrusage(...).ru_maxrss``) of this process (the baselines, which hold a dense
V x V float64 matrix, 1.4 GB for the open body, run in children and never count), and of the
largest worker process (``RUSAGE_CHILDREN``, printed only until the first baseline child
has run, which would dominate it); both include the interpreter and the loaded libraries.
The open body comes first.

Usage::

    python tools/bench_s1s2.py [--template assets/open_body.npz] [--workers N] [--large] [--skip-scipy]
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import shortest_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvkit.metrics import mesh_graph, s1_s2, vertex_uv  # noqa: E402


def body_capsule(rings: int = 123, around: int = 56) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A closed body-like surface of revolution with ``rings * around + 2`` vertices.

    The defaults give exactly 6890 vertices; ``around`` must be a multiple of 4.

    Returns
    -------
    vertices : (V, 3) float64
    faces : (2 V - 4, 3) int64
    mirror : (V,) int64
        exact x -> -x mirror permutation (an automorphism of the mesh graph).
    uv : (V, 2) float64
        cylindrical projection.
    """
    if around % 4:
        raise ValueError(f"around must be a multiple of 4, got {around}")
    height = 1.7
    t = (np.arange(rings) + 1.0) / (rings + 1)                      # 0 at the feet, 1 at the top
    # silhouette radius along the height: legs, hips, waist, chest, shoulders, neck, head
    knots_t = [0.0, 0.05, 0.25, 0.45, 0.52, 0.6, 0.72, 0.8, 0.84, 0.87, 0.93, 1.0]
    knots_r = [0.0, 0.12, 0.1, 0.17, 0.14, 0.15, 0.19, 0.2, 0.06, 0.09, 0.1, 0.0]
    radius = np.interp(t, knots_t, knots_r) + 0.02 * np.sin(np.pi * t)
    angle = 2.0 * np.pi * np.arange(around) / around
    x = radius[:, None] * np.cos(angle)[None, :]
    z = 0.6 * radius[:, None] * np.sin(angle)[None, :]
    y = np.broadcast_to(height * t[:, None], x.shape)
    vertices = np.concatenate([[[0.0, 0.0, 0.0]], np.stack([x, y, z], axis=2).reshape(-1, 3), [[0.0, height, 0.0]]])
    n = len(vertices)

    def ring_vertex(ring, k):
        return 1 + ring * around + np.mod(k, around)

    k = np.arange(around)
    faces = [np.stack([np.zeros(around, dtype=np.int64), ring_vertex(0, k + 1), ring_vertex(0, k)], axis=1),
             np.stack([np.full(around, n - 1), ring_vertex(rings - 1, k), ring_vertex(rings - 1, k + 1)], axis=1)]
    ring, k = np.meshgrid(np.arange(rings - 1), np.arange(around), indexing="ij")
    ring, k = ring.ravel(), k.ravel()
    a, b = ring_vertex(ring, k), ring_vertex(ring, k + 1)
    c, d = ring_vertex(ring + 1, k + 1), ring_vertex(ring + 1, k)
    # the quad diagonal flips with the side of the mirror plane, so the triangulation is symmetric
    right = np.cos(2.0 * np.pi * (k + 0.5) / around) > 0
    first = np.where(right[:, None], np.stack([a, b, c], 1), np.stack([a, b, d], 1))
    second = np.where(right[:, None], np.stack([a, c, d], 1), np.stack([b, c, d], 1))
    faces += [first, second]
    faces = np.concatenate(faces).astype(np.int64)
    ring, k = np.meshgrid(np.arange(rings), np.arange(around), indexing="ij")
    mirror = np.concatenate([[0], ring_vertex(ring, around // 2 - k).ravel(), [n - 1]]).astype(np.int64)
    u = np.concatenate([[0.5], np.tile(np.arange(around) / around, rings), [0.5]])
    v = np.concatenate([[0.0], np.repeat(t, around), [1.0]])
    return vertices, faces, mirror, np.stack([u, v], axis=1)


def _peak_mb() -> tuple[float, float]:
    """Peak RSS of this process and of its largest finished child, in MB (Linux: KiB units)."""
    scale = 1.0 / 1024.0 if sys.platform.startswith("linux") else 1.0 / 2**20
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return own, children


def _scipy_child(faces: np.ndarray, n_vertices: int, connection) -> None:
    graph = mesh_graph(faces, n_vertices)
    start = time.perf_counter()
    distances = shortest_path(graph, unweighted=True)
    connection.send(time.perf_counter() - start)
    del distances


def run_scipy(faces: np.ndarray, n_vertices: int) -> float:
    """Seconds of scipy's all-pairs unweighted shortest paths, timed in a child process so that
    its V x V matrix never counts in this process's peak memory."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_scipy_child, args=(faces, n_vertices, sender))
    child.start()
    seconds = receiver.recv()
    child.join()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=str(Path(__file__).resolve().parents[1] / "assets" / "open_body.npz"),
                        help="open body template .npz (skipped when absent)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    parser.add_argument("--skip-scipy", action="store_true", help="time only uvkit")
    parser.add_argument("--large", action="store_true", help="also the 13314-vertex capsule")
    parser.add_argument("--only", choices=("capsule", "open-body"), default=None)
    args = parser.parse_args(argv)

    meshes = []
    if args.only in (None, "open-body"):
        path = Path(args.template)
        if not path.is_file():
            print(f"open-body: {path} not found, skipped")
        else:
            with np.load(path, allow_pickle=False) as data:
                faces = np.asarray(data["f"], dtype=np.int64)
                n = len(data["v_template"])
                mirror = np.asarray(data["mirror"], dtype=np.int64) if "mirror" in data else None
                has_uv = "vt" in data and "ft" in data
                if has_uv:
                    vt = np.asarray(data["vt"], dtype=np.float64)
                    ft = np.asarray(data["ft"], dtype=np.int64)
            if not has_uv:
                print(f"open-body: {path} has no native UV (vt/ft), skipped")
            else:
                vt2v = np.zeros(len(vt), dtype=np.int64)
                vt2v[ft.ravel()] = faces.ravel()
                uv = vertex_uv(vt, ft, vt2v, n, copies="first")
                meshes.append(("open-body (native atlas)", faces, uv, mirror))
    if args.only in (None, "capsule"):
        _, faces, mirror, uv = body_capsule()
        meshes.append(("capsule-6890", faces, uv, mirror))
        if args.large:
            _, faces, mirror, uv = body_capsule(208, 64)
            meshes.append(("capsule-13314", faces, uv, mirror))
    # per mesh: uvkit, then the baseline right after it (the machine's load changes)
    baseline_ran = False
    for name, faces, uv, mirror in meshes:
        start = time.perf_counter()
        s1, s2 = s1_s2(faces, uv, mirror=mirror, workers=args.workers)
        seconds = time.perf_counter() - start
        own, children = _peak_mb()
        print(f"{name}: {len(uv)} vertices, {len(faces)} faces: S1 {s1:.4f}  S2 {s2:.4f}  (hop counts, exact)")
        workers = "" if baseline_ran else f", largest worker {children:.0f} MB"
        print(f"  uvkit s1_s2: {seconds:.2f} s  (workers={args.workers or 'all'}, "
              f"mirror={'yes' if mirror is not None else 'no'}); peak RSS: this process {own:.0f} MB{workers}")
        if args.skip_scipy:
            continue
        baseline = run_scipy(faces, len(uv))
        baseline_ran = True
        print(f"  scipy shortest_path(unweighted=True), all pairs: {baseline:.2f} s; "
              f"ratio uvkit / scipy {seconds / baseline:.3f} (target <= 0.35)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
