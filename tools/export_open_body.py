#!/usr/bin/env python
"""Export the open body (the ``anny`` package, topology ``anny-noeyes-notongue``) as an
SMPL-format template: ``assets/open_body.npz``.

What it does, step by step:

1. builds the anny model (first build of a configuration takes about a minute and fills
   ``ANNY_CACHE_DIR``);
2. samples adult phenotypes from anny's own WHO-calibrated shape distribution (morphological
   age uniform in [--min-age, --max-age] years, gender uniform), a training set and a held-out
   set, all from one seed;
3. re-bakes every sample from anny's A-pose into a T-pose with anny's own 104-bone skinning
   (upper arms and forearms turned to the horizontal, per sample), turns it into SMPL axes
   (+Y up, +Z front, +X the body's left), puts its pelvis joint at the origin and makes it
   exactly left-right symmetric;
4. merges the 104 bones into the 24 SMPL joints (weights and joint positions);
5. PCA of the training shapes -> ``v_template`` (population mean) and ``shapedirs`` scaled so
   that betas are N(0, 1) over the population;
6. fits two joint regressors (an accurate signed one, local ridge; a sparse non-negative one for
   evaluation joints on predicted meshes), checks both on the held-out shapes;
7. mirror permutation, mirror-consistent part labels, smplx landmark vertices, native UV atlas;
8. writes the npz atomically; ``--verify`` then poses the result through smplx and compares it
   with anny's own skinning.

Run it twice with the same options: the arrays are identical.
Needs the ``export`` extra (``pip install .[export]``: anny) and, for ``--verify``, smplx.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from uvkit.atomic import save_npz  # noqa: E402
from uvkit.parts import JOINT_NAMES, MIRROR_JOINTS, PARENTS  # noqa: E402

TOPOLOGY = "anny-noeyes-notongue"
RIG = "anny"

#: anny axes (Z up, -Y front, +X the body's left) -> SMPL axes (Y up, +Z front, +X left).
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: the left-right reflection in both frames.
REFLECT_X = np.diag([-1.0, 1.0, 1.0])


def _side_groups(side: str) -> dict[str, list[str]]:
    """anny bones of each lateral SMPL joint on one side ("L" or "R"); the first bone's head
    is the joint, except for the feet and hands (mean of knuckle heads, see ``_joint_spec``)."""
    s = "." + side
    toes = [f"toe{t}-{k}{s}" for t in range(1, 6) for k in range(1, 4) if not (t == 1 and k == 3)]
    return {
        "hip": ["upperleg01" + s, "upperleg02" + s],
        "knee": ["lowerleg01" + s, "lowerleg02" + s],
        "ankle": ["foot" + s],
        "foot": toes,
        "collar": ["clavicle" + s, "shoulder01" + s],
        "shoulder": ["upperarm01" + s, "upperarm02" + s],
        "elbow": ["lowerarm01" + s, "lowerarm02" + s],
        "wrist": ["wrist" + s] + [f"metacarpal{k}{s}" for k in range(1, 5)]
        + [f"finger1-{k}{s}" for k in range(1, 4)],
        "hand": [f"finger{f}-{k}{s}" for f in range(2, 6) for k in range(1, 4)],
    }


def bone_groups() -> dict[str, list[str]]:
    """The anny bones merged into each of the 24 SMPL joints (JOINT_NAMES order)."""
    central = {
        "pelvis": ["root", "pelvis.L", "pelvis.R", "spine05", "spine04"],
        "spine1": ["spine03"],
        "spine2": ["spine02"],
        "spine3": ["spine01"],
        "neck": ["neck01", "neck02", "neck03"],
        "head": ["head", "eye.L", "eye.R"],
    }
    left, right = _side_groups("L"), _side_groups("R")
    out = {}
    for name in JOINT_NAMES:
        if name.startswith("left_"):
            out[name] = left[name[5:]]
        elif name.startswith("right_"):
            out[name] = right[name[6:]]
        else:
            out[name] = central[name]
    return out


def _joint_spec(bone_labels: list[str]) -> list[list[int]]:
    """For each SMPL joint, the bones whose heads are averaged into its rest position."""
    groups = bone_groups()
    spec = []
    for name in JOINT_NAMES:
        if name.endswith("_foot"):
            side = "L" if name.startswith("left") else "R"
            heads = [f"toe{t}-1.{side}" for t in range(1, 6)]
        elif name.endswith("_hand"):
            side = "L" if name.startswith("left") else "R"
            heads = [f"finger{f}-1.{side}" for f in range(2, 6)]
        else:
            heads = [groups[name][0]]
        spec.append([bone_labels.index(b) for b in heads])
    return spec


def _bone_mirror(bone_labels: list[str]) -> np.ndarray:
    out = []
    for label in bone_labels:
        if label.endswith(".L"):
            label = label[:-2] + ".R"
        elif label.endswith(".R"):
            label = label[:-2] + ".L"
        out.append(bone_labels.index(label))
    return np.asarray(out, dtype=np.int64)


def _descendants(parents: list[int], root: int) -> np.ndarray:
    inside = np.zeros(len(parents), dtype=bool)
    inside[root] = True
    for k in range(len(parents)):  # anny lists parents before children
        if parents[k] >= 0 and inside[parents[k]]:
            inside[k] = True
    return inside


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) smallest rotation taking unit vectors ``a`` (..., 3) to ``b`` (3,)."""
    b = np.broadcast_to(b, a.shape)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    axis = axis / np.maximum(sin, 1e-300)[..., None]
    kx = np.zeros(a.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2] = -axis[..., 2], axis[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = axis[..., 2], -axis[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -axis[..., 1], axis[..., 0]
    eye = np.broadcast_to(np.eye(3), kx.shape)
    return eye + sin[..., None, None] * kx + (1.0 - cos)[..., None, None] * (kx @ kx)


class OpenBodySource:
    """The anny model and what the export needs from it, as float64 numpy arrays."""

    def __init__(self) -> None:
        import anny
        import torch

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        self.torch = torch
        self.anny_version = anny.__version__
        self.model = anny.Anny(rig=RIG, topology=TOPOLOGY, skinning_method="lbs")
        m = self.model
        self.bone_labels = list(m.bone_labels)
        self.bone_parents = [int(p) for p in m.bone_parents]
        self.faces = m.faces.cpu().numpy().astype(np.int64)
        vt = m.texture_coordinates.cpu().numpy().astype(np.float64)
        ft = m.face_texture_coordinate_indices.cpu().numpy().astype(np.int64)
        # the removed eyes and tongue leave UV vertices no face uses: keep the used ones, in order
        used = np.unique(ft)
        remap = np.full(len(vt), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        self.vt, self.ft = vt[used], remap[ft]
        self.bone_weights = m.dense_vertex_bone_weights.cpu().numpy().astype(np.float64)

    def sample_phenotypes(self, count: int, min_age: float, max_age: float, seed: int) -> np.ndarray:
        """(count, P) phenotype values (``self.model.phenotype_labels`` order)."""
        from anny.shape_distribution import SimpleShapeDistribution

        torch = self.torch
        torch.manual_seed(seed)
        ages = torch.distributions.Uniform(
            torch.tensor(float(min_age), dtype=torch.float64), torch.tensor(float(max_age), dtype=torch.float64))
        dist = SimpleShapeDistribution(self.model, morphological_age_distribution=ages)
        _, kwargs = dist.sample(count)
        return np.stack([kwargs[k].cpu().numpy() for k in self.model.phenotype_labels], axis=1).astype(np.float64)

    def rest(self, phenotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A-pose rest vertices (B, V, 3) and bone heads (B, 104, 3) in anny axes."""
        torch, m = self.torch, self.model
        with torch.no_grad():
            ph = torch.as_tensor(phenotypes, dtype=m.dtype)
            local = torch.zeros(ph.shape[0], len(m.local_change_labels), dtype=m.dtype)
            facial = torch.zeros(ph.shape[0], len(m.facial_action_labels), dtype=m.dtype)
            coeffs = m._get_phenotype_blendshape_coefficients(ph, local, facial)
            rest = m.get_rest_model(coeffs)
        return rest["rest_vertices"].cpu().numpy(), rest["rest_bone_heads"].cpu().numpy()

    def skin(self, vertices: np.ndarray, transforms: np.ndarray) -> np.ndarray:
        """anny's own linear blend skinning: (B, V, 3) rest vertices, (B, 104, 4, 4) bone transforms."""
        from anny.skinning.skinning import dense_linear_blend_skinning

        torch = self.torch
        with torch.no_grad():
            out = dense_linear_blend_skinning(
                torch.as_tensor(vertices), self.model.dense_vertex_bone_weights, torch.as_tensor(transforms))
        return out.cpu().numpy()


def tpose_transforms(heads: np.ndarray, bone_labels: list[str], parents: list[int]) -> np.ndarray:
    """(B, 104, 4, 4) bone transforms (anny axes) that turn each arm to the horizontal.

    The upper arm (shoulder joint -> elbow joint) is turned about the shoulder joint onto +-X,
    then the forearm (elbow joint -> wrist joint) about the elbow joint onto +-X; each with the
    smallest rotation, so the arm keeps its twist. Everything else stays.
    """
    batch = heads.shape[0]
    out = np.broadcast_to(np.eye(4), (batch, len(bone_labels), 4, 4)).copy()
    for side, direction in (("L", np.array([1.0, 0.0, 0.0])), ("R", np.array([-1.0, 0.0, 0.0]))):
        upper = bone_labels.index("upperarm01." + side)
        lower = bone_labels.index("lowerarm01." + side)
        wrist = bone_labels.index("wrist." + side)
        s, e, w = heads[:, upper], heads[:, lower], heads[:, wrist]
        d1 = (e - s) / np.linalg.norm(e - s, axis=-1, keepdims=True)
        r1 = _rotation_between(d1, direction)
        w1 = s + np.einsum("bij,bj->bi", r1, w - s)
        e1 = s + np.einsum("bij,bj->bi", r1, e - s)
        r2 = _rotation_between((w1 - e1) / np.linalg.norm(w1 - e1, axis=-1, keepdims=True), direction)
        t1 = np.broadcast_to(np.eye(4), (batch, 4, 4)).copy()
        t1[:, :3, :3] = r1
        t1[:, :3, 3] = s - np.einsum("bij,bj->bi", r1, s)
        t2 = np.broadcast_to(np.eye(4), (batch, 4, 4)).copy()
        t2[:, :3, :3] = r2
        t2[:, :3, 3] = e1 - np.einsum("bij,bj->bi", r2, e1)
        arm = _descendants(parents, upper)
        forearm = _descendants(parents, lower)
        out[:, arm & ~forearm] = t1[:, None]
        out[:, forearm] = (t2 @ t1)[:, None]
    return out


def _apply(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", transforms[..., :3, :3], points) + transforms[..., :3, 3]


class Sampler:
    """Shapes in SMPL axes, T-pose, pelvis at the origin, exactly symmetric."""

    def __init__(self, source: OpenBodySource, mirror: np.ndarray) -> None:
        self.source = source
        self.mirror = mirror
        self.joint_spec = _joint_spec(source.bone_labels)
        self.joint_mirror = np.asarray(MIRROR_JOINTS)

    def shapes(self, phenotypes: np.ndarray, chunk: int = 50) -> tuple[np.ndarray, np.ndarray, dict]:
        """(B, V, 3) vertices, (B, 24, 3) joints and re-bake statistics."""
        src = self.source
        vs, js, angles = [], [], []
        for start in range(0, len(phenotypes), chunk):
            verts, heads = src.rest(phenotypes[start:start + chunk])
            transforms = tpose_transforms(heads, src.bone_labels, src.bone_parents)
            posed = src.skin(verts, transforms)
            posed_heads = _apply(transforms, heads)
            joints = np.stack([posed_heads[:, ids].mean(axis=1) for ids in self.joint_spec], axis=1)
            pelvis = joints[:, :1]
            verts_smpl = (posed - pelvis) @ ANNY_TO_SMPL.T
            joints_smpl = (joints - pelvis) @ ANNY_TO_SMPL.T
            vs.append(self.symmetrize_vertices(verts_smpl))
            js.append(0.5 * (joints_smpl + joints_smpl[:, self.joint_mirror] @ REFLECT_X))
            upper = src.bone_labels.index("upperarm01.L")
            lower = src.bone_labels.index("lowerarm01.L")
            wrist = src.bone_labels.index("wrist.L")
            a1 = heads[:, lower] - heads[:, upper]
            a2 = heads[:, wrist] - heads[:, lower]
            angles.append(np.stack([
                np.degrees(np.arctan2(-a1[:, 2], np.hypot(a1[:, 0], a1[:, 1]))),
                np.degrees(np.arccos(np.sum(a1 * a2, -1) / np.linalg.norm(a1, axis=-1) / np.linalg.norm(a2, axis=-1))),
            ], axis=1))
        angles = np.concatenate(angles)
        stats = {"shoulder_deg": (float(angles[:, 0].min()), float(angles[:, 0].max())),
                 "elbow_deg": (float(angles[:, 1].min()), float(angles[:, 1].max()))}
        return np.concatenate(vs), np.concatenate(js), stats

    def symmetrize_vertices(self, verts: np.ndarray) -> np.ndarray:
        return 0.5 * (verts + verts[..., self.mirror, :] @ REFLECT_X)


# ---------------------------------------------------------------------------------------------
# rig pieces


def merged_weights(bone_weights: np.ndarray, bone_labels: list[str]) -> np.ndarray:
    """(V, 24) SMPL skinning weights: per-vertex bone weights summed over each joint's bones."""
    groups = bone_groups()
    owner = np.full(len(bone_labels), -1)
    for j, name in enumerate(JOINT_NAMES):
        for bone in groups[name]:
            if owner[bone_labels.index(bone)] != -1:
                raise RuntimeError(f"bone {bone} is in two groups")
            owner[bone_labels.index(bone)] = j
    missing = [bone_labels[k] for k in np.flatnonzero(owner < 0)]
    if missing:
        raise RuntimeError(f"bones in no group: {missing}")
    out = np.zeros((bone_weights.shape[0], len(JOINT_NAMES)))
    for k, j in enumerate(owner):
        out[:, j] += bone_weights[:, k]
    return out / out.sum(axis=1, keepdims=True)


def symmetric_parts(weights: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Argmax part labels with parts[mirror[i]] == MIRROR_JOINTS[parts[i]] exactly.

    A vertex on the mid-plane (its own mirror) takes the strongest central joint; a mirror pair
    takes the label of its lower-index vertex, mirrored for the other one.
    """
    joint_mirror = np.asarray(MIRROR_JOINTS)
    central = np.flatnonzero(joint_mirror == np.arange(len(joint_mirror)))
    parts = np.argmax(weights, axis=1).astype(np.int64)
    self_mirrored = mirror == np.arange(len(mirror))
    parts[self_mirrored] = central[np.argmax(weights[self_mirrored][:, central], axis=1)]
    lower = np.flatnonzero(mirror > np.arange(len(mirror)))
    parts[mirror[lower]] = joint_mirror[parts[lower]]
    return parts


def pca_shapes(train: np.ndarray, components: int, up_index: tuple[int, int]):
    """Mean (V, 3), shapedirs (V, 3, K) scaled by each component's standard deviation,
    explained variance ratios (K,). Signs: component 0 makes the body taller (stature between
    the vertices ``up_index``), every other one has its largest Y loading positive."""
    count, nv, _ = train.shape
    flat = train.reshape(count, -1)
    mean = flat.mean(axis=0)
    _, sing, vt = np.linalg.svd(flat - mean, full_matrices=False)
    std = sing / np.sqrt(count - 1)
    ratio = sing ** 2 / np.sum(sing ** 2)
    dirs = vt[:components].reshape(components, nv, 3)
    top, bottom = up_index
    for k in range(components):
        if k == 0:
            sign = np.sign(dirs[k, top, 1] - dirs[k, bottom, 1])
        else:
            ys = dirs[k, :, 1]
            sign = np.sign(ys[np.argmax(np.abs(ys))])
        dirs[k] *= sign if sign != 0 else 1.0
    shapedirs = np.ascontiguousarray(np.transpose(dirs * std[:components, None, None], (1, 2, 0)))
    return mean.reshape(nv, 3), shapedirs, ratio[:components]


def _nearest(vertices: np.ndarray, point: np.ndarray, count: int) -> np.ndarray:
    order = np.argsort(np.linalg.norm(vertices - point, axis=1), kind="stable")
    return np.sort(order[:count])


def fit_local_ridge(verts: np.ndarray, joints: np.ndarray, template_joints: np.ndarray,
                    template: np.ndarray, support: int, ridge: float) -> np.ndarray:
    """(24, V) signed regressor: per joint, ridge regression over its ``support`` nearest
    template vertices, rows summing to 1 exactly (translation equivariant)."""
    count, nv, _ = verts.shape
    out = np.zeros((joints.shape[1], nv))
    for j in range(joints.shape[1]):
        idx = _nearest(template, template_joints[j], support)
        x = np.transpose(verts[:, idx, :], (1, 0, 2)).reshape(len(idx), -1)  # (S, 3B)
        y = joints[:, j, :].reshape(-1)
        mean = x.mean(axis=0)
        xc = x - mean
        yc = y - mean
        # dual form, (3B, 3B) system
        gram = xc.T @ xc
        alpha = np.linalg.solve(gram + ridge * np.eye(len(gram)), yc)
        out[j, idx] = 1.0 / len(idx) + xc @ alpha
    return out


def fit_sparse_nonneg(verts: np.ndarray, joints: np.ndarray, template_joints: np.ndarray,
                      template: np.ndarray, support: int) -> np.ndarray:
    """(24, V) non-negative regressor, rows summing to 1 (a heavy constraint row, then exact
    renormalisation), each joint from its ``support`` nearest template vertices."""
    from scipy.optimize import nnls

    count, nv, _ = verts.shape
    out = np.zeros((joints.shape[1], nv))
    for j in range(joints.shape[1]):
        idx = _nearest(template, template_joints[j], support)
        x = np.transpose(verts[:, idx, :], (0, 2, 1)).reshape(-1, len(idx))  # (3B, S)
        y = joints[:, j, :].reshape(-1)
        heavy = 10.0 * np.sqrt(len(y))
        a = np.vstack([x, heavy * np.ones((1, len(idx)))])
        b = np.concatenate([y, [heavy]])
        coef, _ = nnls(a, b, maxiter=50 * len(idx))
        coef[coef < 1e-6] = 0.0
        out[j, idx] = coef / coef.sum()
    return out


def symmetrize_regressor(reg: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    joint_mirror = np.asarray(MIRROR_JOINTS)
    mirrored = np.zeros_like(reg)
    mirrored[np.ix_(joint_mirror, mirror)] = reg
    return 0.5 * (reg + mirrored)


def joint_errors(reg: np.ndarray, verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(B, 24) distances in metres between regressed and true joints."""
    return np.linalg.norm(np.einsum("jv,bvc->bjc", reg, verts) - joints, axis=-1)


# ---------------------------------------------------------------------------------------------
# landmarks


def landmarks(template: np.ndarray, source: OpenBodySource, rest_heads: np.ndarray,
              mirror: np.ndarray, parts: np.ndarray) -> dict[str, int]:
    """smplx's extra landmark vertices, picked geometrically on the T-pose template (SMPL axes).

    - nose: the most frontal (+Z) mid-plane vertex of the head part;
    - eyes: the head vertex nearest to the front pole of anny's eye bone (its head pushed
      forward to the skin along +Z: the closest vertex to the line through the eye centre);
    - ears: the most lateral head vertex at eye height +- 4 cm;
    - toes: the most frontal vertex dominated by the big toe's / little toe's bones;
    - heel: the most backward (-Z) vertex dominated by the foot bone, among the lowest 3 cm;
    - fingertips: the vertex dominated by the last phalanx that lies furthest along that bone.
    Right-side landmarks are the mirror vertices of the left ones.
    """
    labels = source.bone_labels
    dominant = np.argmax(source.bone_weights, axis=1)
    head_part = JOINT_NAMES.index("head")
    out: dict[str, int] = {}
    head = np.flatnonzero(parts == head_part)
    mid = head[mirror[head] == head]
    out["nose"] = int(mid[np.argmax(template[mid, 2])])

    eye_centre = rest_heads[labels.index("eye.L")]
    lateral = np.hypot(template[head, 0] - eye_centre[0], template[head, 1] - eye_centre[1])
    front = head[(lateral < 0.012) & (template[head, 2] > eye_centre[2])]
    leye = int(front[np.argmax(template[front, 2])]) if len(front) else int(
        head[np.argmin(np.linalg.norm(template[head] - eye_centre, axis=1))])
    out["leye"] = leye
    band = head[np.abs(template[head, 1] - eye_centre[1]) < 0.04]
    out["lear"] = int(band[np.argmax(template[band, 0])])

    def by_bones(names: list[str]) -> np.ndarray:
        ids = [labels.index(n) for n in names]
        return np.flatnonzero(np.isin(dominant, ids))

    big = by_bones(["toe1-1.L", "toe1-2.L"])
    small = by_bones(["toe5-1.L", "toe5-2.L", "toe5-3.L"])
    out["LBigToe"] = int(big[np.argmax(template[big, 2])])
    out["LSmallToe"] = int(small[np.argmax(template[small, 2])])
    foot = by_bones(["foot.L"])
    low = foot[template[foot, 1] < template[foot, 1].min() + 0.03]
    out["LHeel"] = int(low[np.argmin(template[low, 2])])

    tips = {"lthumb": "finger1-3.L", "lindex": "finger2-3.L", "lmiddle": "finger3-3.L",
            "lring": "finger4-3.L", "lpinky": "finger5-3.L"}
    for name, bone in tips.items():
        k = labels.index(bone)
        ids = np.flatnonzero(dominant == k)
        start = rest_heads[k]
        direction = rest_heads[k] - rest_heads[source.bone_parents[k]]
        direction /= np.linalg.norm(direction)
        out[name] = int(ids[np.argmax((template[ids] - start) @ direction)])

    pairs = {"leye": "reye", "lear": "rear", "LBigToe": "RBigToe", "LSmallToe": "RSmallToe",
             "LHeel": "RHeel", "lthumb": "rthumb", "lindex": "rindex", "lmiddle": "rmiddle",
             "lring": "rring", "lpinky": "rpinky"}
    for left, right in pairs.items():
        out[right] = int(mirror[out[left]])
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces the arrays (every option spelled out; an absolute
    output path is reduced to its file name so that no machine's folders are recorded)."""
    out = args.out if not os.path.isabs(args.out) else os.path.basename(args.out)
    options = ["--out", out, "--samples", args.samples, "--heldout", args.heldout, "--seed", args.seed,
               "--min-age", f"{args.min_age:g}", "--max-age", f"{args.max_age:g}",
               "--components", args.components, "--ridge", f"{args.ridge:g}",
               "--ridge-support", args.ridge_support, "--eval-support", args.eval_support]
    return "python tools/export_open_body.py " + " ".join(shlex.quote(str(o)) for o in options)


def export(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    print(f"building anny ({RIG}, {TOPOLOGY}) ...", flush=True)
    source = OpenBodySource()
    nv, nb = source.bone_weights.shape
    print(f"  {nv} vertices, {len(source.faces)} faces, {nb} bones, anny {source.anny_version} "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)

    print("mirror permutation ...", flush=True)
    import torch
    from anny.utils.mesh_utils import get_symmetric_vertex_indices

    default_verts, _ = source.rest(np.full((1, len(source.model.phenotype_labels)), 0.5))
    mirror = get_symmetric_vertex_indices(torch.as_tensor(default_verts[0]), 0, 1e-4).numpy().astype(np.int64)
    if not np.array_equal(mirror[mirror], np.arange(nv)):
        raise RuntimeError("anny's mirror map is not an involution")

    print(f"sampling {args.samples} + {args.heldout} adult phenotypes (seed {args.seed}) ...", flush=True)
    phen = source.sample_phenotypes(args.samples + args.heldout, args.min_age, args.max_age, args.seed)
    sampler = Sampler(source, mirror)
    t1 = time.perf_counter()
    verts, joints, tstats = sampler.shapes(phen)
    print(f"  re-baked to T-pose in {time.perf_counter() - t1:.1f} s; A-pose shoulder below horizontal "
          f"{tstats['shoulder_deg'][0]:.1f}..{tstats['shoulder_deg'][1]:.1f} deg, elbow bend "
          f"{tstats['elbow_deg'][0]:.1f}..{tstats['elbow_deg'][1]:.1f} deg", flush=True)
    train_v, test_v = verts[:args.samples], verts[args.samples:]
    train_j, test_j = joints[:args.samples], joints[args.samples:]
    stature = verts[:, :, 1].max(axis=1) - verts[:, :, 1].min(axis=1)
    print(f"  stature (T-pose) {stature.min():.3f}..{stature.max():.3f} m, mean {stature.mean():.3f}", flush=True)

    print(f"PCA, {args.components} components ...", flush=True)
    rough_mean = train_v.mean(axis=0)
    up = (int(np.argmax(rough_mean[:, 1])), int(np.argmin(rough_mean[:, 1])))
    v_template, shapedirs, ratio = pca_shapes(train_v, args.components, up)
    basis = shapedirs.reshape(-1, args.components)
    betas_test = np.linalg.lstsq(basis, (test_v - v_template).reshape(len(test_v), -1).T, rcond=None)[0].T
    recon = v_template + np.einsum("vck,bk->bvc", shapedirs, betas_test)
    recon_err = np.linalg.norm(recon - test_v, axis=-1)
    j_template = train_j.mean(axis=0)  # where each regressor looks for its vertices

    print("joint regressors ...", flush=True)
    regressor = fit_local_ridge(train_v, train_j, j_template, v_template, args.ridge_support, args.ridge)
    regressor = symmetrize_regressor(regressor, mirror)
    regressor /= regressor.sum(axis=1, keepdims=True)
    regressor_eval = fit_sparse_nonneg(train_v, train_j, j_template, v_template, args.eval_support)
    regressor_eval = symmetrize_regressor(regressor_eval, mirror)
    err_rig = joint_errors(regressor, test_v, test_j)
    err_eval = joint_errors(regressor_eval, test_v, test_j)

    weights = merged_weights(source.bone_weights, source.bone_labels)
    weights = 0.5 * (weights + weights[mirror][:, np.asarray(MIRROR_JOINTS)])
    parts = symmetric_parts(weights, mirror)

    faces = source.faces
    tri = v_template[faces]
    volume = np.sum(np.einsum("fi,fi->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))) / 6.0
    if volume <= 0:
        faces = faces[:, ::-1].copy()
        volume = -volume
    mirror_mismatch = np.linalg.norm(v_template[mirror] @ REFLECT_X - v_template, axis=1).max()

    # landmark picking needs the default-phenotype bone heads in the same frame
    _, heads_default = source.rest(np.full((1, len(source.model.phenotype_labels)), 0.5))
    tf = tpose_transforms(heads_default, source.bone_labels, source.bone_parents)
    heads_t = _apply(tf, heads_default)[0]
    pelvis = np.mean(heads_t[_joint_spec(source.bone_labels)[0]], axis=0)
    heads_smpl = (heads_t - pelvis) @ ANNY_TO_SMPL.T
    vertex_ids = landmarks(v_template, source, heads_smpl, mirror, parts)

    kintree = np.stack([np.asarray(PARENTS, dtype=np.int64), np.arange(len(PARENTS), dtype=np.int64)])
    meta = {
        "name": "open_body",
        "source": f"anny {source.anny_version} (code Apache-2.0, body data CC0 from MakeHuman)",
        "rig": RIG,
        "topology": TOPOLOGY,
        "axes": "SMPL: +Y up, +Z front, +X the body's left; metres",
        "rest_pose": "T-pose: anny's A-pose re-baked per phenotype (upper arms and forearms horizontal)",
        "origin": "pelvis joint of v_template at (0, 0, 0)",
        "population": f"adults: anny SimpleShapeDistribution, morphological age uniform in "
                      f"[{args.min_age:g}, {args.max_age:g}] years, gender uniform in [0, 1]",
        "samples": args.samples, "heldout": args.heldout, "seed": args.seed,
        "v_template": "population mean",
        "shapedirs": "PCA components times their standard deviation: betas ~ N(0, 1)",
        "explained_variance": [round(float(r), 6) for r in ratio],
        "J_regressor": f"signed local ridge ({args.ridge_support} nearest vertices per joint, "
                       f"ridge {args.ridge:g}), rows sum to 1",
        "J_regressor_eval": f"non-negative least squares ({args.eval_support} nearest vertices per joint), "
                            "rows sum to 1",
        "posedirs": "zeros: pose correctives are not modelled",
        "command": _command(args),
    }
    arrays = dict(
        v_template=np.ascontiguousarray(v_template, dtype=np.float64),
        f=np.ascontiguousarray(faces, dtype=np.int64),
        weights=np.ascontiguousarray(weights, dtype=np.float64),
        kintree_table=kintree,
        J_regressor=np.ascontiguousarray(regressor, dtype=np.float64),
        J_regressor_eval=np.ascontiguousarray(regressor_eval, dtype=np.float64),
        shapedirs=np.ascontiguousarray(shapedirs, dtype=np.float64),
        posedirs=np.zeros((nv, 3, 207), dtype=np.float64),
        vt=np.ascontiguousarray(source.vt, dtype=np.float64),
        ft=np.ascontiguousarray(source.ft if faces is source.faces else source.ft[:, ::-1], dtype=np.int64),
        mirror=mirror,
        parts=parts,
        vertex_ids=np.array(json.dumps(vertex_ids, sort_keys=True)),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_npz(args.out, **arrays)
    elapsed = time.perf_counter() - t0

    mm = 1000.0
    report = {
        "export_s": elapsed,
        "size_bytes": os.path.getsize(args.out),
        "signed_volume_m3": volume,
        "mirror_mismatch_mm": mirror_mismatch * mm,
        "explained_variance_cum": np.cumsum(ratio).tolist(),
        "heldout_recon_mean_mm": recon_err.mean() * mm,
        "heldout_recon_max_mm": recon_err.max() * mm,
        "heldout_betas_std": betas_test.std(axis=0).tolist(),
        "J_regressor_heldout_mean_mm": err_rig.mean() * mm,
        "J_regressor_heldout_max_mm": err_rig.max() * mm,
        "J_regressor_eval_heldout_mean_mm": err_eval.mean() * mm,
        "J_regressor_eval_heldout_max_mm": err_eval.max() * mm,
        "J_regressor_eval_nonzeros_per_joint": float((regressor_eval > 0).sum(axis=1).mean()),
        "stature_range_m": [float(stature.min()), float(stature.max())],
        "vertex_ids": vertex_ids,
    }
    print(json.dumps(report, indent=1), flush=True)
    print(f"wrote {args.out} ({report['size_bytes'] / 1e6:.2f} MB) in {elapsed:.1f} s", flush=True)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        pass

    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Population, regressors and what is not modelled: assets/README.md and the "
               "file's own `meta` entry. anny's cache folder: ANNY_CACHE_DIR.",
        formatter_class=Formatter)
    parser.add_argument("--out", default="assets/open_body.npz", help="output .npz")
    parser.add_argument("--samples", type=int, default=300, help="training phenotypes (PCA, regressors)")
    parser.add_argument("--heldout", type=int, default=100, help="held-out phenotypes (reported errors)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the phenotype sampling")
    parser.add_argument("--min-age", type=float, default=18.0, help="youngest sampled age, years")
    parser.add_argument("--max-age", type=float, default=80.0, help="oldest sampled age, years")
    parser.add_argument("--components", type=int, default=10, help="shape components (betas)")
    parser.add_argument("--ridge", type=float, default=1e-5, help="ridge of the signed joint regressor")
    parser.add_argument("--ridge-support", type=int, default=800,
                        help="vertices per joint of the signed joint regressor")
    parser.add_argument("--eval-support", type=int, default=600,
                        help="candidate vertices per joint of the non-negative regressor")
    parser.add_argument("--verify", action="store_true",
                        help="after writing, pose the file through smplx and compare with anny's skinning")
    args = parser.parse_args(argv)
    if args.samples < args.components + 1 or args.heldout < 1:
        parser.error("--samples must exceed --components, --heldout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    export(args)
    if args.verify:
        verify(args.out)
    return 0


def _mirror_pose(pose: np.ndarray) -> np.ndarray:
    """(B, 24, 3) axis-angle pose of the mirrored body: swap left/right joints, negate Y and Z."""
    out = pose[:, np.asarray(MIRROR_JOINTS)].copy()
    out[..., 1:] *= -1.0
    return out


def verify(path: str, seed: int = 1) -> dict:
    """Pose the exported file through smplx.SMPL and compare with anny's own skinning."""
    import smplx
    import torch
    from smplx.lbs import batch_rigid_transform, batch_rodrigues

    t0 = time.perf_counter()
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    load_s = time.perf_counter() - t0
    vertex_ids = json.loads(str(arrays["vertex_ids"]))
    struct = argparse.Namespace(**{k: arrays[k] for k in (
        "v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")})

    def layer(v_template=None):
        return smplx.SMPL(model_path=None, data_struct=struct, vertex_ids=vertex_ids, num_betas=10,
                          dtype=torch.float64, v_template=None if v_template is None else torch.as_tensor(v_template))

    def run(body, pose, betas=None):
        pose = torch.as_tensor(pose, dtype=torch.float64).reshape(len(pose), -1)
        kwargs = {} if betas is None else {"betas": torch.as_tensor(betas, dtype=torch.float64)}
        with torch.no_grad():
            out = body(global_orient=pose[:, :3], body_pose=pose[:, 3:], **kwargs)
        return out.vertices.numpy(), out.joints.numpy()

    body = layer()
    report: dict = {"load_s": load_s}
    rest_v, rest_j = run(body, np.zeros((1, 24, 3)))
    report["rest_vertices_equal_template_mm"] = 1e3 * np.abs(rest_v[0] - arrays["v_template"]).max()
    report["smplx_joints"] = int(rest_j.shape[1])

    # raising the left arm: left_shoulder about +Z (SMPL axes) lifts the left wrist
    pose = np.zeros((1, 24, 3))
    pose[0, JOINT_NAMES.index("left_shoulder"), 2] = np.radians(60.0)
    _, joints = run(body, pose)
    wrist = JOINT_NAMES.index("left_wrist")
    report["left_arm_raise_wrist_dy_m"] = float(joints[0, wrist, 1] - rest_j[0, wrist, 1])

    # a mirrored pose gives the mirrored mesh
    rng = np.random.default_rng(seed)
    poses = rng.normal(0.0, 0.35, size=(4, 24, 3))
    verts, _ = run(body, poses)
    verts_m, _ = run(body, _mirror_pose(poses))
    mirror = arrays["mirror"]
    report["mirrored_pose_max_mm"] = 1e3 * np.abs(verts_m - verts[:, mirror] @ REFLECT_X).max()

    # betas: stature along the first component
    betas = np.zeros((7, 10))
    betas[:, 0] = np.arange(-3, 4)
    verts_b, _ = run(body, np.zeros((7, 24, 3)), betas)
    stature = verts_b[..., 1].max(axis=1) - verts_b[..., 1].min(axis=1)
    report["stature_beta0_-3..3_m"] = [round(float(s), 4) for s in stature]
    report["stature_monotonic"] = bool(np.all(np.diff(stature) > 0))

    # smplx versus anny's own 104-bone skinning on held-out adults
    source = OpenBodySource()
    mirror_anny = mirror
    sampler = Sampler(source, mirror_anny)
    meta = json.loads(str(arrays["meta"]))
    ages = [float(a) for a in meta["population"].split("[")[1].split("]")[0].split(",")]
    phen = source.sample_phenotypes(4, ages[0], ages[1], seed + 1000)  # adults unseen by the export
    errors_body, errors_all, finger_toe, skin_only, skin_only_mean = [], [], [], [], []
    labels = source.bone_labels
    groups = bone_groups()
    owner = np.zeros(len(labels), dtype=np.int64)
    for j, name in enumerate(JOINT_NAMES):
        for bone in groups[name]:
            owner[labels.index(bone)] = j
    extremity_bones = [labels.index(b) for name in ("left_hand", "right_hand", "left_foot", "right_foot")
                       for b in groups[name]]
    extremity = source.bone_weights[:, extremity_bones].sum(axis=1) > 1e-3
    parents = torch.as_tensor(np.asarray(PARENTS))
    for i in range(len(phen)):
        verts_t, joints_t, _ = sampler.shapes(phen[i:i + 1])
        a_verts, a_heads = source.rest(phen[i:i + 1])
        tf = tpose_transforms(a_heads, labels, source.bone_parents)
        pelvis = _apply(tf, a_heads)[0][_joint_spec(labels)[0]].mean(axis=0)
        to_smpl = np.eye(4)
        to_smpl[:3, :3] = ANNY_TO_SMPL
        to_smpl[:3, 3] = -ANNY_TO_SMPL @ pelvis
        body_i = layer(verts_t[0])
        pose_i = rng.normal(0.0, 0.3, size=(2, 24, 3))
        smplx_v, _ = run(body_i, pose_i)
        rot = batch_rodrigues(torch.as_tensor(pose_i.reshape(-1, 3))).reshape(2, 24, 3, 3)
        _, rel = batch_rigid_transform(rot, torch.as_tensor(joints_t).expand(2, -1, -1).contiguous(), parents,
                                       dtype=torch.float64)
        rel = rel.numpy()  # (2, 24, 4, 4), rest T-pose (SMPL axes) -> posed
        bone_tf = rel[:, owner] @ to_smpl @ tf[0]
        anny_v = source.skin(np.repeat(a_verts, 2, axis=0), bone_tf)
        # the same 24 transforms through the merged weights (what smplx does, with the true joints)
        blend = np.einsum("vj,bjik->bvik", arrays["weights"], rel[:, :, :3, :])
        merged_v = np.einsum("bvik,vk->bvi", blend[..., :3], verts_t[0]) + blend[..., 3]
        skin_only.append(np.linalg.norm(anny_v - merged_v, axis=-1).max())
        skin_only_mean.append(np.linalg.norm(anny_v - merged_v, axis=-1).mean())
        err = np.linalg.norm(anny_v - smplx_v, axis=-1)
        errors_body.append(err[:, ~extremity].max())
        errors_all.append(err.mean())
        finger_toe.append(err[:, extremity].max())
    report["merged_weights_vs_anny_mean_mm"] = 1e3 * float(np.mean(skin_only_mean))
    report["merged_weights_vs_anny_max_mm"] = 1e3 * float(np.max(skin_only))
    report["vs_anny_mean_mm"] = 1e3 * float(np.mean(errors_all))
    report["vs_anny_max_mm_outside_fingers_toes"] = 1e3 * float(np.max(errors_body))
    report["vs_anny_max_mm_fingers_toes"] = 1e3 * float(np.max(finger_toe))
    print(json.dumps(report, indent=1), flush=True)
    return report


if __name__ == "__main__":
    sys.exit(main())
