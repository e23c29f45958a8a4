"""Write the test templates of build-uv: bodies as people bring them, none carrying a rig or a mirror.

From the open body (assets/open_body.npz):

- ``a``: decimated by quadric edge collapse to about 7,000 vertices, then 10 % of the edges on
  the body's left flipped in each of 3 rounds (:func:`uvkit.shapes.flip_edges`): an irregular
  triangulation that is not mirror symmetric (about 45 % of the faces have no mirror image),
  while left and right keep matching vertices (within about 18 mm);
- ``b``: (a) with independent uniform noise of up to 13 mm per axis on every vertex;
- ``c``: the open body at full resolution;
- ``d``: the decimated body (template ``a``) in centimetres, Z up and facing -Y (the frame of
  Blender and of the ``anny`` package), as an OBJ;
- ``e``: the open body posed through its rig into an A-pose (both arms lowered 45 degrees at
  the shoulders), as an OBJ;
- ``f``: a stand-in for a user's SMPL file: the open body at full resolution with 0.2 % of the
  edges on its left flipped in each of 3 rounds (a triangulation that is *almost* mirror
  symmetric: 388 of its 26,692 faces have no mirror image; SMPL: 121 of 13,776) and a smooth asymmetry of
  up to 13 mm between the sides (SMPL's vertex asymmetry; :func:`uvkit.shapes.smooth_asymmetry`,
  wavelength 0.4 m), as an OBJ;
- ``g``: the decimated body (a) with the same kind of smooth asymmetry;
- ``h``: a short, heavy body (the open body's shape coefficients 0 and 2 at -3: 1.39 m tall,
  a deeper waist), in millimetres, as an OBJ;
- ``i``: a tall, thin body (the same coefficients at +3: 1.99 m tall), as an OBJ. Every other
  template has the open body's proportions; these two test the landmarks, seams and layout on
  bodies unlike the one they were tuned on;
- ``j``: a coarse body: the open body decimated to about 3,000 vertices (no flips), whose
  left and right vertices no longer match (up to 27 mm apart, as long as many of its edges),
  as an OBJ;
- ``k``: the open body as a quad-dominant mesh, as modellers make bodies: pairs of triangles
  that share an edge merged into quads (the longest shared edges first; the mid-line stays a
  loop of edges, as a mesh modelled with a mirror has it), written as an OBJ with quads (uvkit
  splits each quad at its shorter diagonal, which flips most of the open body's diagonals);
- ``l``: the open body as a glTF binary with its vertices split along the seams of its UV map
  (``assets/open_body_uv.npz``), as exporters write meshes with texture coordinates: the
  surface arrives cut open, in another vertex order, until uvkit welds it;
- ``m``: a scan-like body: the open body remeshed through its volume, as a scanner's or a
  sculpting tool's reconstruction gives it. The inside of the open body (its generalised
  winding number) is sampled on a 5 mm grid set off the mid-plane by a third of a cell, blurred
  with a Gaussian of 1.5 cells (which closes the gaps between the toes and the small cavities of
  the face, as a scan does: without it the surface has handles there), its 0.5 level set is
  extracted by marching cubes (scikit-image), the largest piece kept and decimated to 36,000
  faces (18,002 vertices): a triangulation that shares nothing with the open body's, whose two
  sides have no matching vertices at all, mittens for hands, in an OBJ;
- ``n``: (m) made exactly symmetric by ``uvkit symmetrize`` (its left half joined to its
  reflection), as an .npz with its mirror: what a user with a scan can do to get an exactly
  symmetric map;
- ``o``: the decimated body (a) as a mirrored export writes it (x negated, faces kept: every
  triangle wound inward), tilted by 7, 3 and -4 degrees about its vertical, front and side
  axes and set off the origin, as a scan rarely sits square in its frame, as an OBJ;
- ``p``: the open body with both arms raised 60 degrees above the horizontal through its rig
  (the hands higher than the head), as an OBJ.

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
    "a": "a_decimated.obj",
    "b": "b_decimated_noisy.obj",
    "c": "c_open_body.obj",
    "d": "d_decimated_cm_zup.obj",
    "e": "e_apose.obj",
    "f": "f_smpl_like.obj",
    "g": "g_decimated_smooth_asymmetry.obj",
    "h": "h_short_heavy_mm.obj",
    "i": "i_tall_thin.obj",
    "j": "j_coarse.obj",
    "k": "k_quads.obj",
    "l": "l_split_seams.glb",
    "m": "m_scan_like.obj",
    "n": "n_scan_symmetrized.npz",
    "o": "o_mirrored_export_tilted.obj",
    "p": "p_arms_raised.obj",
}
#: the decimated body (template ``a``) that ``d`` is made from, in the output folder, unless
#: ``FILE_NAMES`` names it.
DECIMATED_NAME = "a_decimated.obj"

#: faces of the decimated body (a): about 7,000 vertices.
DECIMATED_FACES = 14000
#: faces of the coarse body (j): about 3,000 vertices.
COARSE_FACES = 6000
#: share of the left side's edges flipped per round in (a).
FLIP_FRACTION = 0.1
#: largest noise per axis of (b), metres.
NOISE_M = 0.013
#: seed of the flips and of the noise.
SEED = 0

#: canonical (+Y up, +Z front) to a Z-up file facing -Y: file = canonical @ TO_Z_UP.T
TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: A-pose: each upper arm lowered by this angle at its shoulder joint.
A_POSE_DEGREES = 45.0
#: (p): each upper arm raised by this angle at its shoulder joint.
ARMS_RAISED_DEGREES = 60.0
#: (o): tilt about the vertical, front and side axes (degrees), and the offset (metres).
TILT_DEGREES = (7.0, 3.0, -4.0)
TILT_OFFSET_M = (0.3, -0.1, 2.0)
#: share of the left side's edges flipped per round in (f).
SMPL_LIKE_FLIP_FRACTION = 0.002
#: largest asymmetry between the sides of (f) and (g), metres, and its wavelength.
ASYMMETRY_M = 0.013
ASYMMETRY_WAVELENGTH_M = 0.4
#: the open body's shape coefficients of (h) and (i): coefficient 0 sets the height (1.39 m at
#: -3, 1.99 m at +3), coefficient 2 the girth (a deeper, wider waist at -3).
SHORT_HEAVY_BETAS = {0: -3.0, 2: -3.0}
TALL_THIN_BETAS = {0: 3.0, 2: 3.0}
#: the scan-like body (m): grid spacing (metres), blur (grid cells), faces after decimation.
SCAN_SPACING_M = 0.005
SCAN_BLUR_CELLS = 1.5
SCAN_FACES = 36000


def write_obj(path: Path, vertices: np.ndarray, faces, digits: int = 7) -> None:
    """A plain OBJ (positions and faces only), written atomically.

    vertices : (V, 3) float64; faces : (F, 3) int64, or polygons (sequences of vertex ids).
    """
    from uvkit import atomic

    fmt = f"v {{:.{digits}f}} {{:.{digits}f}} {{:.{digits}f}}"
    lines = [fmt.format(*row) for row in np.asarray(vertices, dtype=np.float64).tolist()]
    lines += ["f " + " ".join(str(int(i) + 1) for i in face) for face in (faces.tolist() if isinstance(faces, np.ndarray) else faces)]
    atomic.write_text(path, "\n".join(lines) + "\n")


def decimated_open_body(n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The open body decimated by quadric edge collapse to ``n_faces`` faces: (V, 3) float64
    and (F, 3) int64."""
    from uvkit.param import decimate
    from uvkit.template import load_template

    body = load_template("open")
    return decimate(body.vertices, body.faces, n_faces)


def decimated_body() -> tuple[np.ndarray, np.ndarray]:
    """Template (a) as arrays: (V, 3) float64 and (F, 3) int64."""
    from uvkit.shapes import flip_edges

    V, F = decimated_open_body(DECIMATED_FACES)
    return V, flip_edges(V, F, V[:, 0] > 0, FLIP_FRACTION, seed=SEED)


def template_a(out: Path) -> Path:
    """(a): the decimated body with a triangulation that is not mirror symmetric."""
    V, F = decimated_body()
    path = out / FILE_NAMES["a"]
    write_obj(path, V, F)
    return path


def template_b(out: Path) -> Path:
    """(b): (a) with independent noise of up to 13 mm per axis on every vertex."""
    V, F = decimated_body()
    noisy = V + np.random.default_rng(SEED).uniform(-NOISE_M, NOISE_M, size=V.shape)
    path = out / FILE_NAMES["b"]
    write_obj(path, noisy, F)
    return path


def template_c(out: Path) -> Path:
    """(c): the open body as a plain OBJ at full resolution."""
    from uvkit.template import load_template

    body = load_template("open")
    path = out / FILE_NAMES["c"]
    write_obj(path, body.vertices, body.faces)
    return path


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


def template_f(out: Path) -> Path:
    """(f): the open body with an almost symmetric triangulation and a smooth asymmetry (SMPL-like)."""
    from uvkit.shapes import flip_edges, smooth_asymmetry
    from uvkit.template import load_template

    body = load_template("open")
    V = body.vertices
    F = flip_edges(V, body.faces, V[:, 0] > 0, SMPL_LIKE_FLIP_FRACTION, seed=SEED)
    path = out / FILE_NAMES["f"]
    write_obj(path, V + smooth_asymmetry(V, ASYMMETRY_M, ASYMMETRY_WAVELENGTH_M, seed=SEED), F)
    return path


def template_g(out: Path) -> Path:
    """(g): the decimated body (a) with a smooth asymmetry of up to 13 mm."""
    from uvkit.shapes import smooth_asymmetry

    V, F = decimated_body()
    path = out / FILE_NAMES["g"]
    write_obj(path, V + smooth_asymmetry(V, ASYMMETRY_M, ASYMMETRY_WAVELENGTH_M, seed=SEED), F)
    return path


def shaped_body(betas: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The open body with the shape coefficients ``betas`` ({index: value}, the others 0), at
    rest: (V, 3) float64 and (F, 3) int64."""
    from uvkit.template import open_body_path, read_template_arrays

    data = read_template_arrays(open_body_path())
    shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
    coefficients = np.zeros(shapedirs.shape[2])
    for index, value in betas.items():
        coefficients[index] = value
    return np.asarray(data["v_template"], dtype=np.float64) + shapedirs @ coefficients, data["f"]


def template_h(out: Path) -> Path:
    """(h): a short, heavy body in millimetres."""
    V, F = shaped_body(SHORT_HEAVY_BETAS)
    path = out / FILE_NAMES["h"]
    write_obj(path, V * 1000.0, F, digits=3)
    return path


def template_i(out: Path) -> Path:
    """(i): a tall, thin body."""
    V, F = shaped_body(TALL_THIN_BETAS)
    path = out / FILE_NAMES["i"]
    write_obj(path, V, F)
    return path


def template_j(out: Path) -> Path:
    """(j): the open body decimated to about 3,000 vertices."""
    V, F = decimated_open_body(COARSE_FACES)
    path = out / FILE_NAMES["j"]
    write_obj(path, V, F)
    return path


def quad_dominant(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray) -> list[list[int]]:
    """Triangles merged pairwise into quads: the pairs across the longest shared edges first
    (ties in edge order), never across an edge whose two ends are their own mirror (the
    mid-line stays a loop of edges). Returns the polygons (quads, then the triangles left
    over), counter-clockwise like the triangles."""
    n_faces = len(faces)
    half = np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)   # F[f, k] -> F[f, k + 1]
    key = np.sort(half, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    same = np.flatnonzero(np.all(key[order[1:]] == key[order[:-1]], axis=1))
    first, second = order[same], order[same + 1]                   # the two half-edges of an edge
    a, b = key[first, 0], key[first, 1]
    inner = ~((mirror[a] == a) & (mirror[b] == b))
    first, second, a, b = first[inner], second[inner], a[inner], b[inner]
    length = np.linalg.norm(vertices[a] - vertices[b], axis=1)
    free = np.ones(n_faces, dtype=bool)
    polygons = []
    for e in np.argsort(-length, kind="stable").tolist():
        f, g = int(first[e]) // 3, int(second[e]) // 3
        if not (free[f] and free[g]):
            continue
        free[f] = free[g] = False
        k = int(first[e]) % 3                                        # f's corners k, k + 1 are the edge
        p, q, r = (int(faces[f, (k + i) % 3]) for i in range(3))
        o = int(next(v for v in faces[g].tolist() if v not in (p, q)))
        polygons.append([p, o, q, r])
    return polygons + faces[free].tolist()


def template_k(out: Path) -> Path:
    """(k): the open body as a quad-dominant OBJ."""
    from uvkit.template import load_template

    body = load_template("open")
    path = out / FILE_NAMES["k"]
    write_obj(path, body.vertices, quad_dominant(body.vertices, body.faces, body.mirror))
    return path


def template_l(out: Path) -> Path:
    """(l): the open body as a .glb with its vertices split along the seams of its UV map."""
    from uvkit.exportuv import export_uv
    from uvkit.template import assets_dir, load_template
    from uvkit.uvmap import load_uvmap

    body = load_template("open")
    path = out / FILE_NAMES["l"]
    export_uv(load_uvmap(assets_dir() / "open_body_uv.npz", template=body), body, path)
    return path


def scan_like(vertices: np.ndarray, faces: np.ndarray, spacing: float = SCAN_SPACING_M,
              blur: float = SCAN_BLUR_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """A closed mesh remeshed through its volume: the 0.5 level set of its generalised winding
    number (clipped to [0, 1]), sampled on a grid of ``spacing`` set off the plane x = 0 by a
    third of a cell and blurred by a Gaussian of ``blur`` cells, by marching cubes; the largest
    piece. Returns (V, 3) float64 and (F, 3) int64, counter-clockwise seen from outside."""
    import igl
    import scipy.ndimage
    import trimesh
    from skimage.measure import marching_cubes

    low = vertices.min(axis=0) - 4.0 * spacing
    low[0] += spacing / 3.0                  # no grid plane on the mid-plane: no mirrored cells
    shape = np.ceil((vertices.max(axis=0) + 4.0 * spacing - low) / spacing).astype(int) + 1
    axes = [low[k] + spacing * np.arange(shape[k]) for k in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = np.clip(igl.fast_winding_number(vertices, faces, points), 0.0, 1.0).reshape(shape)
    level, triangles, _, _ = marching_cubes(scipy.ndimage.gaussian_filter(inside, blur), 0.5,
                                            spacing=(spacing,) * 3)
    # marching cubes orders the corners clockwise seen from the higher values (inside)
    mesh = trimesh.Trimesh(level + low, triangles[:, ::-1], process=True)
    largest = max(mesh.split(only_watertight=False), key=lambda piece: len(piece.vertices))
    return np.asarray(largest.vertices, dtype=np.float64), np.asarray(largest.faces, dtype=np.int64)


def template_m(out: Path) -> Path:
    """(m): the open body remeshed through its volume and decimated, like a scan."""
    from uvkit.param import decimate
    from uvkit.template import load_template

    body = load_template("open")
    V, F = decimate(*scan_like(body.vertices, body.faces), SCAN_FACES)
    path = out / FILE_NAMES["m"]
    write_obj(path, V, F)
    return path


def template_n(out: Path) -> Path:
    """(n): (m) made exactly symmetric from its left half (written first when missing)."""
    from uvkit.halves import symmetrized
    from uvkit.template import load_template, save_template_npz

    scan = out / FILE_NAMES["m"]
    if not scan.exists():
        template_m(out)
    path = out / FILE_NAMES["n"]
    save_template_npz(symmetrized(load_template(scan))[0], path)
    return path


def tilt(vertices: np.ndarray, degrees=TILT_DEGREES, offset=TILT_OFFSET_M) -> np.ndarray:
    """``vertices`` turned by ``degrees`` about y (vertical), z (front) and x (side), in that
    order of application from the right, then moved by ``offset``. Returns (V, 3) float64."""
    from scipy.spatial.transform import Rotation

    turn = Rotation.from_euler("YZX", degrees, degrees=True).as_matrix()
    return np.asarray(vertices, dtype=np.float64) @ turn.T + np.asarray(offset)


def template_o(out: Path) -> Path:
    """(o): the decimated body as a mirrored export (every triangle wound inward), tilted and
    set off the origin."""
    V, F = decimated_body()
    path = out / FILE_NAMES["o"]
    write_obj(path, tilt(V * [-1.0, 1.0, 1.0]), F)
    return path


def template_p(out: Path) -> Path:
    """(p): the open body with its arms raised above the horizontal, without the rig."""
    from uvkit.template import load_template

    body = load_template("open")
    path = out / FILE_NAMES["p"]
    write_obj(path, a_pose(body, -ARMS_RAISED_DEGREES), body.faces)
    return path


#: the function writing each template, by letter.
TEMPLATES = {
    "a": template_a,
    "b": template_b,
    "c": template_c,
    "d": template_d,
    "e": template_e,
    "f": template_f,
    "g": template_g,
    "h": template_h,
    "i": template_i,
    "j": template_j,
    "k": template_k,
    "l": template_l,
    "m": template_m,
    "n": template_n,
    "o": template_o,
    "p": template_p,
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
