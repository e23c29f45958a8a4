"""Write the test templates of build-uv: bodies as people bring them, none carrying a rig or a mirror.

From the open body (assets/open_body.npz):

- ``d``: the decimated body (template ``a``) in centimetres, Z up and facing -Y (the frame of
  Blender and of the ``anny`` package), as an OBJ;
- ``e``: the open body posed through its rig into an A-pose (both arms lowered 45 degrees at
  the shoulders), as an OBJ.

Each template has its own function; the files are outputs, not committed (the largest is
about 1 MB). Usage:

    python tools/make_test_templates.py --out out/test_templates [--only d,e]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: file names of the templates, by letter.
FILE_NAMES = {
    "d": "d_decimated_cm_zup.obj",
    "e": "e_apose.obj",
}
#: the decimated body (template ``a``) that ``d`` is made from, in the output folder, unless
#: ``FILE_NAMES`` names it.
DECIMATED_NAME = "a_decimated.obj"

#: canonical (+Y up, +Z front) to a Z-up file facing -Y: file = canonical @ TO_Z_UP.T
TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: A-pose: each upper arm lowered by this angle at its shoulder joint.
A_POSE_DEGREES = 45.0


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray, digits: int = 7) -> None:
    """A plain OBJ (positions and triangles only), written atomically.

    vertices : (V, 3) float64; faces : (F, 3) int64.
    """
    from uvkit import atomic

    fmt = f"v {{:.{digits}f}} {{:.{digits}f}} {{:.{digits}f}}"
    lines = [fmt.format(*row) for row in np.asarray(vertices, dtype=np.float64).tolist()]
    lines += [f"f {a} {b} {c}" for a, b, c in (np.asarray(faces, dtype=np.int64) + 1).tolist()]
    atomic.write_text(path, "\n".join(lines) + "\n")


def template_d(out: Path) -> Path:
    """(d): the decimated body ``a`` in centimetres, Z up, facing -Y."""
    from uvkit.template import read_template_arrays

    source = out / FILE_NAMES.get("a", DECIMATED_NAME)
    if not source.exists():
        raise FileNotFoundError(f"{source}: template (d) is made from the decimated body (a); write (a) first")
    data = read_template_arrays(source)
    vertices = np.asarray(data["v_template"], dtype=np.float64) @ TO_Z_UP.T * 100.0
    path = out / FILE_NAMES["d"]
    write_obj(path, vertices, data["f"], digits=5)
    return path


def a_pose(template, degrees: float = A_POSE_DEGREES) -> np.ndarray:
    """The template's vertices with both upper arms lowered by ``degrees`` (rotation about the
    front axis at the shoulder joints, SMPL joints 16 and 17). Returns (V, 3) float64."""
    from uvkit.parts import JOINT_NAMES
    from uvkit.pose import pose_vertices

    pose = np.zeros((template.weights.shape[1], 3))
    angle = np.radians(degrees)
    pose[JOINT_NAMES.index("left_shoulder")] = (0.0, 0.0, -angle)   # +x arm turns towards -y
    pose[JOINT_NAMES.index("right_shoulder")] = (0.0, 0.0, angle)
    return pose_vertices(template, pose.ravel())


def template_e(out: Path) -> Path:
    """(e): the open body in an A-pose, posed through its rig, without the rig."""
    from uvkit.template import load_template

    body = load_template("open")
    path = out / FILE_NAMES["e"]
    write_obj(path, a_pose(body), body.faces)
    return path


#: the function writing each template, by letter.
TEMPLATES = {
    "d": template_d,
    "e": template_e,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/test_templates", help="output folder (default out/test_templates)")
    parser.add_argument("--only", help=f"comma-separated letters among {','.join(TEMPLATES)} (default: all)")
    args = parser.parse_args(argv)
    letters = args.only.split(",") if args.only else list(TEMPLATES)
    unknown = [x for x in letters if x not in TEMPLATES]
    if unknown:
        parser.error(f"unknown template(s) {unknown}; valid: {', '.join(TEMPLATES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for letter in sorted(letters):
        path = TEMPLATES[letter](out)
        print(f"({letter}) wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
