"""``decomr-synth``: write synthetic people to disk, one shard per machine.

    decomr-synth --out DIR --n N --seed S --shard i/K [--size 224] [--uv FILE] [--batch 16]
                 [--yaw LOW,HIGH] [--store-vertices] [--threads T]

Shard ``i`` of ``K`` renders samples ``i, i + K, ...`` below N; run the K commands on K machines
(or one after the other) into the same folder, in any order; a killed run is resumed by running
the same command again. Read the result with ``decomr.data.SyntheticShards(DIR)``.

The fixed held-out test set of the project is one command (seed 1000003 is kept for testing
only, never for training):

    decomr-synth --out data/synth_test --n 2000 --seed 1000003 --shard 0/1 --uv UV.npz

``--ondevice`` makes the people with the batched generator that ``data.source: ondevice``
trains on (``decomr.data.ondevice``; faster on a CPU with ``--threads 2`` or more: 1,024
people at 128 px on 2 cores in 20 s against 34 s): the same kind of people, other draws.
Its samples depend on the batch they are made in, so a shard is made in fixed batches of
``--batch`` consecutive indices (a resumed run writes the same people) and ``--batch`` is
part of the folder's settings.
"""
from __future__ import annotations

import argparse
import sys

#: seed of the project's held-out synthetic test set (documented above; never train on it).
TEST_SEED = 1000003


def parse_range(text: str, name: str) -> tuple[float, float]:
    """``"LOW,HIGH"`` -> (LOW, HIGH) floats; ``ValueError`` naming the option otherwise."""
    parts = str(text).split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"{name} must be two numbers LOW,HIGH, got {text!r}") from None
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decomr-synth", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--n", type=int, required=True, help="samples in the whole data set (all shards)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard", default="0/1", help="i/K: this machine's shard (default 0/1)")
    parser.add_argument("--size", type=int, default=224, help="crop side in pixels")
    parser.add_argument("--uv", default=None, help="UV map file (uvkit build-uv); default: the native atlas")
    parser.add_argument("--template", default="open", help="body template (default: the open body)")
    parser.add_argument("--batch", type=int, default=16, help="samples rendered together")
    parser.add_argument("--yaw", default="-180,180", metavar="LOW,HIGH",
                        help="range of the body's yaw in degrees, 0 facing the camera (default -180,180: all around; "
                             "write --yaw=-30,30 when LOW is negative)")
    parser.add_argument("--plain-appearance", action="store_true",
                        help="paint people without the front-back cues (faces, hairlines, shoe toes, clothing "
                             "fronts): the earlier look, for measuring what the cues are worth")
    parser.add_argument("--ondevice", action="store_true",
                        help="make the people with the batched generator of data.source ondevice (faster; samples "
                             "depend on --batch, which is then part of the folder's settings)")
    parser.add_argument("--store-vertices", action="store_true", help="also store (V, 3) vertices per sample")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from .poses import PoseConfig
    from .shards import parse_shard, shard_indices, write_shard
    from .synthetic import SyntheticConfig, SyntheticRenderer

    try:
        shard = parse_shard(args.shard)
        if args.n < 0:
            raise ValueError(f"--n must be >= 0, got {args.n}")
        torch.set_num_threads(max(1, args.threads))
        from .appearance import AppearanceConfig

        config = SyntheticConfig(length=args.n, seed=args.seed, size=args.size,
                                 pose=PoseConfig(yaw_deg=parse_range(args.yaw, "--yaw")),
                                 appearance=AppearanceConfig(front_back_cues=not args.plain_appearance))
        if args.ondevice:
            from .ondevice import OnDeviceSynthetic

            engine = OnDeviceSynthetic(config, uvmap=args.uv, template=args.template)
        else:
            engine = SyntheticRenderer(config, uvmap=args.uv, template=args.template)
    except (ValueError, OSError) as error:
        print(f"decomr-synth: error: {error}", file=sys.stderr)
        return 2
    total = len(shard_indices(args.n, shard))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"shard {shard.index}/{shard.count}", unit="sample")

    def progress(finished: int) -> None:
        if bar is not None:
            bar.update(finished - bar.n)

    try:
        rendered = write_shard(args.out, engine, args.n, shard, batch_size=args.batch,
                               store_vertices=args.store_vertices, progress=progress)
    except (ValueError, OSError) as error:
        print(f"decomr-synth: error: {error}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(f"shard {shard.index}/{shard.count}: {rendered} rendered, {total - rendered} already there, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
