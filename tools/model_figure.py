"""The figure of what a model predicts: its mesh over each image (top row) and seen from the front
(bottom row), one column per image.

    python tools/model_figure.py out/synth/test_allround128/samples/00000/0000000[0-4].png photo.png \\
        --out docs/released_model_predictions.png [--checkpoint CKPT] [--size 200]

Runs ``decomr-predict --views`` (the released model without ``--checkpoint``) into a temporary
folder and puts its ``<name>_overlay.png`` and ``<name>_front.png`` side by side, each scaled
to ``--size`` pixels square. Written atomically.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def square(image, size: int):
    """``image`` (a PIL image) letterboxed onto a white ``size`` x ``size`` square."""
    from PIL import Image

    image = image.convert("RGB")
    scale = size / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="the images, one column each")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--checkpoint", help="the model (default: the released one)")
    parser.add_argument("--size", type=int, default=200, help="side of each panel in pixels (default 200)")
    args = parser.parse_args(argv)

    import io

    from PIL import Image

    from decomr.predict import main as predict_main
    from uvkit.atomic import write_bytes

    with tempfile.TemporaryDirectory() as folder:
        command = [*args.images, "--out", folder, "--views", "--quiet"]
        if args.checkpoint:
            command += ["--checkpoint", args.checkpoint]
        if predict_main(command) != 0:
            print("model_figure: decomr-predict failed", file=sys.stderr)
            return 1
        columns = []
        for image in args.images:
            stem = Path(image).stem
            overlay = sorted(Path(folder).rglob(f"{stem}_overlay.png"))
            front = sorted(Path(folder).rglob(f"{stem}_front.png"))
            if not overlay or not front:
                print(f"model_figure: no prediction for {image}", file=sys.stderr)
                return 1
            columns.append((square(Image.open(overlay[0]), args.size), square(Image.open(front[0]), args.size)))
        figure = Image.new("RGB", (args.size * len(columns), 2 * args.size), "white")
        for i, (top, bottom) in enumerate(columns):
            figure.paste(top, (i * args.size, 0))
            figure.paste(bottom, (i * args.size, args.size))
        buffer = io.BytesIO()
        figure.save(buffer, format="PNG", optimize=True)
        write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
