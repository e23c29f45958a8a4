"""Benchmark decomr.render: IUV + mask + depth (+ parts) of a body at 224 x 224.

Prints frames/s at batch 1, 8 and 32, the memory the batch-32 run took, and the exact float64
reference's speed and agreement on sampled pixels, measured in the same run. With
``--baseline REF`` the renderer of git revision REF (``decomr/render`` as committed there) is
timed in the same process, interleaved call by call with the working tree's (who goes first
alternates), and the ratio of the medians is printed (the machine's load then affects both
alike).

    python tools/bench_render.py [--template assets/open_body.npz] [--size 224] [--threads N]
    python tools/bench_render.py --threads 2 --baseline 75bc647   # against the renderer before issue 14

Without the template file an icosphere of about 10k vertices stands in.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from decomr.cpu_memory import keep_freed_memory
from decomr.render import Renderer, WeakPerspectiveCamera, smpl_to_camera_axes
from decomr.render.reference import reference_fragments
from git_revision import import_at_revision  # tools/git_revision.py

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "assets" / "open_body.npz"


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


def make_renderer(module, faces, size, vt, ft, parts, device):
    if parts is not None:
        renderer = module.Renderer.from_vertex_parts(faces, size, parts, vt=vt, ft=ft)
    else:
        renderer = module.Renderer(faces, size, vt=vt, ft=ft)
    return renderer.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--frames", type=int, default=64, help="frames timed per batch size (at least 3 calls)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reference-pixels", type=int, default=400)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: the calling thread's CPU time (with --threads 1: the work done, whatever the "
                             "machine's load)")
    parser.add_argument("--baseline", default=None, metavar="REF",
                        help="git revision whose decomr/render is timed alongside, interleaved")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (default: keep freed memory, decomr.cpu_memory)")
    args = parser.parse_args()
    if not args.default_malloc:
        keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and torch.get_num_threads() != 1:
        parser.error("--clock cpu measures the calling thread: use it with --threads 1")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    vertices, faces, vt, ft, parts, name = load_mesh(args.template)
    device = torch.device(args.device)
    body = smpl_to_camera_axes(torch.tensor(vertices, dtype=torch.float32))
    low, high = body.amin(0), body.amax(0)
    centre = (low + high) / 2
    scale = 1.8 / float((high - low)[:2].max())
    camera = WeakPerspectiveCamera(torch.tensor([[scale, -float(centre[0]), -float(centre[1])]], device=device))
    renderer = make_renderer(sys.modules["decomr.render"], faces, args.size, vt, ft, parts, device)
    contenders = {"current": (renderer, camera)}
    scratch = None
    if args.baseline:
        scratch = tempfile.TemporaryDirectory()
        baseline = import_at_revision(args.baseline, "decomr/render", "baseline_render", Path(scratch.name))
        old_camera = baseline.WeakPerspectiveCamera(camera.params)
        contenders["baseline"] = (make_renderer(baseline, faces, args.size, vt, ft, parts, device), old_camera)
    print(f"mesh: {name}, {len(vertices)} vertices, {len(faces)} faces; image {args.size} x {args.size}; "
          f"device {device}; torch threads {torch.get_num_threads()}; {args.clock} clock"
          + (f"; baseline: decomr/render at {args.baseline}" if args.baseline else ""))

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rng = torch.Generator().manual_seed(0)
    summary = {}
    for batch in args.batches:
        # Slightly different bodies per sample (small random jitter), as in real batches.
        jitter = 0.002 * torch.randn(batch, *body.shape, generator=rng)
        points = (body[None] + jitter).to(device)
        rss_before = max_rss_mb()
        times = {key: [] for key in contenders}
        with torch.no_grad():
            for key, (module, cam) in contenders.items():
                module(points, cam)  # warm-up
            sync()
            calls = max(3, args.frames // batch)
            for call in range(calls):
                order = list(contenders.items())
                for key, (module, cam) in (order if call % 2 == 0 else order[::-1]):  # alternate who goes first
                    start = clock()
                    out = module(points, cam)
                    sync()
                    times[key].append(clock() - start)
                    if key == "current":
                        coverage = float(out.mask.float().mean())
        for key, values in times.items():
            median, best = float(np.median(values)), float(np.min(values))
            summary[(key, batch)] = median
            print(f"{key:8s} batch {batch:3d}: {batch / median:7.1f} frames/s median, {batch / best:7.1f} best "
                  f"({calls} calls); foreground {coverage:.1%}; peak RSS +{max_rss_mb() - rss_before:.0f} MB")
        if "baseline" in contenders:
            print(f"         batch {batch:3d}: current / baseline = "
                  f"{summary[('baseline', batch)] / summary[('current', batch)]:.2f}x (ratio of median frames/s)")
    if "baseline" in contenders:
        old_out, new_out = (module(points, cam) for module, cam in (contenders["baseline"], contenders["current"]))
        same = float((old_out.fragments.face_ids == new_out.fragments.face_ids).float().mean())
        print(f"face ids equal to the baseline's on {same:.4%} of the pixels (batch {points.shape[0]})")
    if scratch is not None:
        scratch.cleanup()

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
