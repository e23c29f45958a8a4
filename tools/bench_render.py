"""Benchmark decomr.render: IUV + mask + depth (+ parts) of a body at 224 x 224.

Prints frames/s at batch 1, 8 and 32, the memory the batch-32 run took, and the exact float64
reference's speed and agreement on sampled pixels, measured in the same run.

    python tools/bench_render.py [--template assets/open_body.npz] [--size 224] [--threads N]

Without the template file an icosphere of about 10k vertices stands in.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch

from decomr.render import Renderer, WeakPerspectiveCamera, smpl_to_camera_axes
from decomr.render.reference import reference_fragments

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "assets" / "open_body.npz"


def load_mesh(path: Path):
    """(V, 3) float64 vertices (SMPL axes), (F, 3) int64 faces, vt, ft, vertex parts (or None), name."""
    if path.exists():
        data = np.load(path)
        vt = data["vt"] if "vt" in data.files else None
        ft = data["ft"] if "ft" in data.files else None
        parts = data["parts"] if "parts" in data.files else None
        return data["v_template"], data["f"].astype(np.int64), vt, ft, parts, path.name
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=5)
    vertices = np.asarray(sphere.vertices) * [0.3, 0.9, 0.2]
    uv = (vertices[:, :2] - vertices[:, :2].min(0)) / np.ptp(vertices[:, :2], axis=0)
    faces = np.asarray(sphere.faces, dtype=np.int64)
    parts = (np.arange(len(vertices)) % 24).astype(np.int64)
    return vertices, faces, uv, faces, parts, "icosphere (5 subdivisions)"


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--frames", type=int, default=64, help="frames timed per batch size (at least 3 calls)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reference-pixels", type=int, default=400)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    vertices, faces, vt, ft, parts, name = load_mesh(args.template)
    device = torch.device(args.device)
    body = smpl_to_camera_axes(torch.tensor(vertices, dtype=torch.float32))
    low, high = body.amin(0), body.amax(0)
    centre = (low + high) / 2
    scale = 1.8 / float((high - low)[:2].max())
    camera = WeakPerspectiveCamera(torch.tensor([[scale, -float(centre[0]), -float(centre[1])]], device=device))
    if parts is not None:
        renderer = Renderer.from_vertex_parts(faces, args.size, parts, vt=vt, ft=ft)
    else:
        renderer = Renderer(faces, args.size, vt=vt, ft=ft)
    renderer = renderer.to(device)
    print(f"mesh: {name}, {len(vertices)} vertices, {len(faces)} faces; image {args.size} x {args.size}; "
          f"device {device}; torch threads {torch.get_num_threads()}")

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rng = torch.Generator().manual_seed(0)
    for batch in args.batches:
        # Slightly different bodies per sample (small random jitter), as in real batches.
        jitter = 0.002 * torch.randn(batch, *body.shape, generator=rng)
        points = (body[None] + jitter).to(device)
        rss_before = max_rss_mb()
        with torch.no_grad():
            renderer(points, camera)  # warm-up
            sync()
            calls = max(3, args.frames // batch)
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                out = renderer(points, camera)
                sync()
                times.append(time.perf_counter() - start)
        median, best = float(np.median(times)), float(np.min(times))
        coverage = float(out.mask.float().mean())
        print(f"batch {batch:3d}: {batch / median:7.1f} frames/s median, {batch / best:7.1f} best "
              f"({calls} calls); foreground {coverage:.1%}; peak RSS +{max_rss_mb() - rss_before:.0f} MB")

    # The exact reference on sampled pixels of the first frame (half on the body).
    fragments = renderer.rasterize(body[None].to(device), camera)
    mask = fragments.mask[0].cpu().numpy()
    pick = np.random.default_rng(0)
    fg, bg = np.argwhere(mask), np.argwhere(~mask)
    n = args.reference_pixels // 2
    pixels = np.vstack([fg[pick.choice(len(fg), min(n, len(fg)), replace=False)],
                        bg[pick.choice(len(bg), min(n, len(bg)), replace=False)]])
    start = time.perf_counter()
    ref = reference_fragments(body, faces, args.size, camera.to("cpu"), pixels=pixels)
    elapsed = time.perf_counter() - start
    ours = fragments.face_ids[0].cpu().numpy()[pixels[:, 0], pixels[:, 1]]
    agree = float(np.mean(ours == ref.face_ids))
    per_frame = elapsed / len(pixels) * args.size * args.size
    print(f"reference (float64 ray casting): {len(pixels)} pixels in {elapsed:.2f} s -> "
          f"{1.0 / per_frame:.4f} frames/s; face ids agree on {agree:.2%} of those pixels")


if __name__ == "__main__":
    main()
