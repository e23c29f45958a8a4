"""The ``uvkit`` command line. Each ``main`` only parses arguments and calls library functions."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__
from .errors import UvkitError


def _progress(message: str) -> None:
    print(f"[uvkit] {message}", file=sys.stderr, flush=True)


def cmd_info(args: argparse.Namespace) -> int:
    from .symmetry import template_mirror
    from .template import load_template

    start = time.perf_counter()
    template = load_template(args.template)
    load_time = time.perf_counter() - start
    mirror = template_mirror(template, allow_asymmetric=args.no_symmetry)
    info = {
        "template": template.source,
        "sha256": template.sha256,
        "vertices": template.n_vertices,
        "faces": template.n_faces,
        "closed": template.report.closed,
        "boundary_loops": template.report.n_boundary_loops,
        "genus": template.report.genus,
        "rig": template.has_rig,
        "joints": None if template.weights is None else int(template.weights.shape[1]),
        "betas": None if template.shapedirs is None else int(template.shapedirs.shape[2]),
        "native_uv": template.vt is not None,
        "mirror_stored": template.mirror is not None,
        "mirror_mean_mm": mirror.mean_mismatch * 1000.0,
        "mirror_max_mm": mirror.max_mismatch * 1000.0,
        "mirror_self_vertices": mirror.n_self,
        "load_seconds": load_time,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{template.source}: {template.report.describe()}")
        print(f"  sha256 {template.sha256}")
        print(f"  rig: {info['rig']} ({info['joints']} joints, {info['betas']} betas); native UV: {info['native_uv']}")
        print(f"  {mirror.describe()} ({'stored' if info['mirror_stored'] else 'found'})")
        print(f"  loaded in {load_time:.3f} s")
    return 0


def _resolutions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,128,256, got '{text}'") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"resolutions must be integers >= 2, got '{text}'")
    return values


def cmd_import_uv(args: argparse.Namespace) -> int:
    from .importuv import import_uvmap
    from .template import load_template

    template = load_template(args.template)
    source = None if args.uv in ("native", None) else args.uv
    uvmap = import_uvmap(template, source, args.resolutions)
    uvmap.save(args.output)
    tables = ", ".join(f"{r}: {uvmap.tables[r].mask.mean():.1%} valid" for r in uvmap.resolutions)
    print(f"wrote {args.output}: {len(uvmap.vt)} UV vertices for {uvmap.n_vertices} vertices ({tables})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uvkit",
        description=(
            "Continuous, left-right symmetric UV maps for body templates. A template is an "
            "SMPL-format .pkl (read safely, without chumpy), an .npz with the same keys, a mesh "
            "file (.obj/.ply/.glb/.off/.stl), or 'open' for the project's open body."
        ),
    )
    parser.add_argument("--version", action="version", version=f"uvkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    info = sub.add_parser("info", help="validate a template and report its topology and symmetry")
    info.add_argument("--template", "-t", default="open", help="template file, or 'open' (default)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--no-symmetry", action="store_true", help="accept a template far from left-right symmetric")
    info.set_defaults(func=cmd_info)

    imp = sub.add_parser(
        "import-uv",
        help="turn an existing UV map (an OBJ with vt lines, or the template's native atlas) into a UV map file",
        description=(
            "Import an existing UV map: an OBJ with texture coordinates whose vertices are the "
            "template's (matched by index when the counts agree, else by position), or the "
            "template's own native atlas ('native'). Multi-chart maps are fine; the same lookup "
            "tables as build-uv are made."
        ),
    )
    imp.add_argument("uv", nargs="?", default="native", help="UV-mapped OBJ, or 'native' (default)")
    imp.add_argument("--template", "-t", default="open", help="template file, or 'open' (default)")
    imp.add_argument("-o", "--output", required=True, help="the UV map file to write (.npz)")
    imp.add_argument("--resolutions", type=_resolutions, default=(64, 128, 256), help="lookup-table sizes (default 64,128,256)")
    imp.set_defaults(func=cmd_import_uv)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UvkitError, FileNotFoundError, PermissionError) as error:
        print(f"uvkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"uvkit {args.command}: interrupted; nothing half-written was left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
