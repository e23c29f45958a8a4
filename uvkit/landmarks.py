"""Body landmarks of a template: the tips (top of the head, hands, feet), a coarse part
labelling and the body frame, from the rig when there is one and from the geometry otherwise.

The seams (:mod:`uvkit.cut`), the texel budget of the head, hands and feet
(:mod:`uvkit.unwrap`), the part weight map (:mod:`uvkit.weights`) and the figures all read one
SMPL joint id per vertex. A template with skinning weights has them (:func:`uvkit.parts.parts_from_weights`);
a bare mesh (an OBJ, PLY or GLB) gets them here, from its shape alone:

1. The *average geodesic distance* (AGD) of every vertex to 32 far-apart sources (edge-length
   shortest paths, on a copy smoothed against vertex noise) is low on the torso and grows
   towards the extremities.
2. Its local maxima, ranked by *prominence* (how far the AGD at the tip stands above the saddle
   where the tip's region joins a higher one; 0-dimensional persistence, computed by a
   union-find sweep from the highest value down), are the tips: on a body in T- or A-pose the
   two feet and the two hands stand far above everything else, then the top of the head;
   fingers, nose or chin are an order of magnitude less prominent.
3. The mirror permutation pairs the tips: hands and feet are two mirror pairs, the head lies on
   the mid-plane; the pair farther from the head (geodesically) is the feet.
4. Parts follow from the geodesic distance to each tip, as fractions of the body's geodesic
   stature (head to feet): a vertex belongs to the limb whose chain it is furthest down,
   measured in that chain's length (hand 22 / wrist 20 / forearm 18 / upper arm 16 / collar 13;
   toes 10 / ankle 7 / shin 4 / thigh 1; head 15 / neck 12); the rest is torso, split by its
   relative distance between head and feet (spine3 9 / spine2 6 / spine1 3 / pelvis 0). The
   fractions were read off the open body's rig. Labels are made exactly mirror symmetric.

The frame (units, up, front: :mod:`uvkit.frame`) is found from the same tips. A shape where no
limbs can be found (a blob, limbs touching the body, no mirror pairs) is refused with an
error naming what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .errors import TemplateError
from .frame import BodyFrame, detect_frame
from .parts import JOINT_NAMES, MIRROR_JOINTS, PART_GROUPS
from .tolerances import tol

#: the five tips every body has.
TIP_NAMES: tuple[str, ...] = ("head", "left_hand", "right_hand", "left_foot", "right_foot")
#: sources of the average geodesic distance (farthest-point sampled).
AGD_SOURCES = 32
#: Taubin smoothing passes before the geodesics of an unrigged template.
SMOOTHING_PASSES = 10
#: resolution of the quantized edge lengths (in mean edge lengths).
QUANTUM = 1e-9
#: the most prominent extremities considered as tips.
EXTREMITY_POOL = 24

#: label chains of the left limbs and the head: (joint id, end of the joint's band as a
#: fraction of the geodesic stature, measured from the tip), tip first. Read off the rig of
#: the open body: each band edge is the distance that best separates the two labels it joins.
HAND_CHAIN: tuple[tuple[int, float], ...] = ((22, 0.087), (20, 0.108), (18, 0.238), (16, 0.382), (13, 0.437))
FOOT_CHAIN: tuple[tuple[int, float], ...] = ((10, 0.082), (7, 0.149), (4, 0.301), (1, 0.516))
HEAD_CHAIN: tuple[tuple[int, float], ...] = ((15, 0.175), (12, 0.205))
#: torso bands by relative position s = d_head / (d_head + d_feet): (joint id, end of band).
TORSO_BANDS: tuple[tuple[int, float], ...] = ((9, 0.268), (6, 0.35), (3, 0.396), (0, 1.0))


class LandmarkError(TemplateError):
    """The template's tips (head, hands, feet) cannot be found."""


@dataclass
class Landmarks:
    """What uvkit found on a body template.

    Attributes
    ----------
    tips : dict[str, int]
        vertex id of ``TIP_NAMES``: the top of the head, the hand and foot tips.
    parts : (V,) int64
        SMPL joint id per vertex (:mod:`uvkit.parts`), from the rig or from the geometry.
    frame : BodyFrame
        units, up and front of the file (:mod:`uvkit.frame`).
    source : str
        ``"rig"`` or ``"geometry"``.
    vertices : (V, 3) float64
        the template in the canonical frame (metres, +Y up, +Z front, +X left).
    prominence : dict[str, float]
        geometric tips only: each tip's prominence as a fraction of the geodesic diameter.
    """

    tips: dict
    parts: np.ndarray
    frame: BodyFrame
    source: str
    vertices: np.ndarray
    prominence: dict = field(default_factory=dict)

    def part_counts(self) -> dict[str, int]:
        """Vertices per part group (``uvkit.parts.PART_GROUPS``)."""
        return {name: int(np.isin(self.parts, joints).sum()) for name, (joints, _) in PART_GROUPS.items()}

    def describe(self) -> str:
        """A few lines for ``uvkit info``."""
        lines = [f"landmarks from the {self.source}: " + ", ".join(
            f"{name} {vertex}" + (f" (prominence {self.prominence[name]:.2f})" if name in self.prominence else "")
            for name, vertex in self.tips.items())]
        lines.append("frame: " + self.frame.describe())
        counts = self.part_counts()
        lines.append("parts: " + ", ".join(f"{name} {count}" for name, count in counts.items()) + " vertices")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """JSON-ready summary (no per-vertex arrays)."""
        return {"source": self.source, "tips": {k: int(v) for k, v in self.tips.items()},
                "prominence": {k: float(v) for k, v in self.prominence.items()},
                "frame": self.frame.as_dict(), "part_vertices": self.part_counts()}


# --- geodesic tools ----------------------------------------------------------------------------

def edge_graph(V: np.ndarray, F: np.ndarray, quantize: bool = False) -> sp.csr_matrix:
    """Symmetric (V, V) csr matrix of edge lengths. V : (V, 3) float64; F : (F, 3) int64.

    ``quantize``: lengths in units of the mean edge length, rounded to ``QUANTUM``, so that the
    same body in another frame or unit (whose lengths differ in the last bits) gives the same
    graph, and ties between mirror-image paths are broken the same way.
    """
    edges = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    length = np.linalg.norm(V[edges[:, 0]] - V[edges[:, 1]], axis=1)
    if quantize:
        length = np.maximum(np.round(length / length.mean() / QUANTUM) * QUANTUM, QUANTUM)
    n = len(V)
    return sp.coo_matrix((np.concatenate([length, length]),
                          (np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]]))),
                         shape=(n, n)).tocsr()


def smoothed_positions(V: np.ndarray, F: np.ndarray, passes: int = SMOOTHING_PASSES) -> np.ndarray:
    """Taubin smoothing with uniform weights (no shrinking): vertex noise out, limbs kept.

    V : (V, 3) float64; F : (F, 3) int64. Returns (V, 3) float64.
    """
    n = len(V)
    i = F[:, [0, 1, 2, 1, 2, 0]].ravel()
    j = F[:, [1, 2, 0, 0, 1, 2]].ravel()
    adjacency = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    adjacency.data[:] = 1.0
    average = sp.diags(1.0 / np.asarray(adjacency.sum(axis=1)).ravel()) @ adjacency
    out = np.array(V, dtype=np.float64)
    for _ in range(passes):
        for factor in (0.5, -0.53):
            out = out + factor * (average @ out - out)
    return out


def average_geodesic_distance(graph: sp.csr_matrix, n_sources: int = AGD_SOURCES) -> tuple[np.ndarray, float]:
    """Mean geodesic distance to ``n_sources`` farthest-point sampled vertices.

    Returns ``agd`` (V,) float64 and the largest geodesic distance met (a diameter estimate).
    """
    n = graph.shape[0]
    first = csgraph.dijkstra(graph, indices=0)
    source = int(np.argmax(first))
    nearest = np.full(n, np.inf)
    total = np.zeros(n)
    diameter = 0.0
    for _ in range(min(n_sources, n)):
        distance = csgraph.dijkstra(graph, indices=source)
        diameter = max(diameter, float(distance.max()))
        total += distance
        nearest = np.minimum(nearest, distance)
        source = int(np.argmax(nearest))
    return total / min(n_sources, n), diameter


def extremities(values: np.ndarray, graph: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a vertex function with their prominence (0-dimensional persistence).

    Vertices are added from the highest value down; a new vertex joins its added neighbours'
    regions, and where two regions meet, the one with the lower maximum ends: its prominence is
    its maximum minus the value at the meeting vertex. The global maximum gets the whole range.

    values : (V,) float64; graph : (V, V) sparse adjacency.
    Returns vertices (K,) int64 and prominence (K,) float64, most prominent first.
    """
    n = len(values)
    order = np.lexsort((np.arange(n), -values))
    parent = np.arange(n)
    top = np.arange(n)
    added = np.zeros(n, dtype=bool)
    indptr, indices = graph.indptr, graph.indices
    peaks: dict[int, float] = {}

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for v in order.tolist():
        added[v] = True
        roots = {find(u) for u in indices[indptr[v]:indptr[v + 1]].tolist() if added[u]}
        if not roots:
            continue
        ranked = sorted(roots, key=lambda r: (-values[top[r]], top[r]))
        keep = ranked[0]
        parent[v] = keep
        for other in ranked[1:]:
            peaks[int(top[other])] = float(values[top[other]] - values[v])
            parent[other] = keep
    summit = int(order[0])
    peaks[summit] = float(values.max() - values.min())
    vertices = np.array(sorted(peaks, key=lambda p: (-peaks[p], p)), dtype=np.int64)
    return vertices, np.array([peaks[int(p)] for p in vertices])


# --- tips --------------------------------------------------------------------------------------

def _geometric_tips(V: np.ndarray, graph: sp.csr_matrix, mirror: np.ndarray, source: str) -> dict:
    """Head, the hand pair and the foot pair from geodesic extremities (sides not yet named)."""
    agd, diameter = average_geodesic_distance(graph)
    peaks, prominence = extremities(agd, graph)
    prominence = prominence / diameter
    pool = [(int(p), float(q)) for p, q in zip(peaks, prominence) if q >= tol.head_prominence][:EXTREMITY_POOL]
    pool_ids = np.array([p for p, _ in pool], dtype=np.int64)
    strength = dict(pool)
    # hands and feet are extremities off the mid-plane with a mirror twin among the extremities
    self_symmetric = [p for p, _ in pool if np.linalg.norm(V[p] - V[mirror[p]]) <= tol.tip_on_midplane * diameter]
    pairs: dict[tuple[int, int], float] = {}
    for p, q in pool:
        if p in self_symmetric or len(pool_ids) < 2:
            continue
        # the twin: the most prominent extremity near the mirror image (on a noisy surface the
        # nearest one may be a finger or toe of the twin limb)
        gap = np.linalg.norm(V[pool_ids] - V[mirror[p]], axis=1)
        near = [int(c) for c in pool_ids[gap <= tol.tip_twin_radius * diameter] if c != p and c not in self_symmetric]
        if near:
            twin = max(near, key=lambda c: (strength[c], -c))
            pairs[tuple(sorted((p, twin)))] = min(q, strength[twin])
    # a limb pair's tips are far apart along the surface (the path runs through the torso)
    limbs = sorted(pairs.items(), key=lambda item: -item[1])
    limbs = [pair for pair, q in limbs if q >= tol.limb_prominence
             and csgraph.dijkstra(graph, indices=pair[0])[pair[1]] >= tol.limb_pair_distance * diameter][:2]
    found = ", ".join(f"{p} ({q:.3f})" for p, q in pool[:8]) or "none"
    if len(limbs) < 2:
        raise LandmarkError(
            f"{source}: no limbs found: {len(limbs)} of the 2 mirror pairs of extremities a body needs (hands, feet) "
            f"stand out (prominence >= {tol.limb_prominence} of the geodesic diameter; extremities found: {found}). "
            "A template without a rig must be a body standing in a T- or A-pose with the arms and legs apart, "
            "left-right symmetric; a blob, or limbs touching the body or each other, give no tips")
    # the head: the most prominent other extremity, away from the hands and feet and near the
    # mid-plane (a flat-topped head has its extremities at the corners), moved onto the plane
    limb_tips = sum(map(list, limbs), [])
    from_limbs = csgraph.dijkstra(graph, indices=limb_tips, min_only=True)
    heads = [p for p, _ in pool if p not in limb_tips and from_limbs[p] > tol.head_limb_distance * diameter
             and np.linalg.norm(V[p] - V[mirror[p]]) <= tol.head_near_plane * diameter]
    if not heads:
        raise LandmarkError(
            f"{source}: no head found: no extremity near the mid-plane stands out (prominence >= {tol.head_prominence} "
            f"of the geodesic diameter; extremities found: {found})")
    head = heads[0]
    on_plane = np.flatnonzero(mirror == np.arange(len(mirror)))
    if head not in on_plane and len(on_plane):
        near = csgraph.dijkstra(graph, indices=head)[on_plane]
        head = int(on_plane[np.lexsort((on_plane, -agd[on_plane], near))[0]])
    from_head = csgraph.dijkstra(graph, indices=head)
    limbs.sort(key=lambda pair: from_head[list(pair)].mean())
    return {"head": head, "hands": limbs[0], "feet": limbs[1], "diameter": diameter,
            "prominence": {"head": strength[heads[0]], "hands": pairs[limbs[0]], "feet": pairs[limbs[1]]}}


def _rig_tips(graph: sp.csr_matrix, parts: np.ndarray, source: str) -> dict:
    """Named tips from part labels: the farthest vertex of each part from the pelvis."""
    pelvis = np.flatnonzero(parts == 0)
    if len(pelvis) == 0:
        raise LandmarkError(f"{source}: the part labels have no pelvis (joint 0)")
    distance = csgraph.dijkstra(graph, indices=pelvis, min_only=True)
    tips = {}
    for name, joints in (("head", (15,)), ("left_hand", (22, 20)), ("right_hand", (23, 21)),
                         ("left_foot", (10, 7)), ("right_foot", (11, 8))):
        ids = np.array([], dtype=np.int64)
        for joint in joints:
            ids = np.flatnonzero(parts == joint)
            if len(ids):
                break
        if len(ids) == 0:
            raise LandmarkError(f"{source}: the part labels have no {name.replace('_', ' ')} "
                                f"({' or '.join(JOINT_NAMES[j] for j in joints)})")
        tips[name] = int(ids[np.argmax(distance[ids])])
    return tips


# --- parts -------------------------------------------------------------------------------------

def _chain_labels(distance: np.ndarray, chain) -> np.ndarray:
    ends = np.array([end for _, end in chain])
    joints = np.array([joint for joint, _ in chain])
    return joints[np.minimum(np.searchsorted(ends, distance, side="right"), len(joints) - 1)]


def geometric_parts(graph: sp.csr_matrix, canonical: np.ndarray, mirror: np.ndarray, tips: dict) -> np.ndarray:
    """SMPL joint id per vertex from the geodesic distances to the five tips.

    graph : (V, V) edge-length graph; canonical : (V, 3) float64 (+X left); mirror : (V,) int64;
    tips : dict with ``TIP_NAMES``. Returns (V,) int64, exactly mirror symmetric.
    """
    names = list(TIP_NAMES)
    distance = csgraph.dijkstra(graph, indices=[tips[name] for name in names])
    stature = 0.5 * (distance[0, tips["left_foot"]] + distance[0, tips["right_foot"]])
    d = dict(zip(names, distance / stature))
    chains = [("head", HEAD_CHAIN, None), ("left_hand", HAND_CHAIN, False), ("right_hand", HAND_CHAIN, True),
              ("left_foot", FOOT_CHAIN, False), ("right_foot", FOOT_CHAIN, True)]
    progress = np.stack([d[name] / chain[-1][1] for name, chain, _ in chains])
    best = np.argmin(progress, axis=0)
    feet = np.minimum(d["left_foot"], d["right_foot"])
    relative = d["head"] / np.maximum(d["head"] + feet, 1e-300)
    torso = _chain_labels(relative, TORSO_BANDS)
    parts = torso.copy()
    mirror_joints = np.asarray(MIRROR_JOINTS)
    for k, (name, chain, right) in enumerate(chains):
        mine = (best == k) & (progress[k] < 1.0)
        labels = _chain_labels(d[name][mine], chain)
        parts[mine] = mirror_joints[labels] if right else labels
    # exact mirror symmetry: the left side and the mid-plane decide, the right side follows
    n = len(parts)
    ids = np.arange(n)
    on_plane = mirror == ids
    lateral = mirror_joints[parts] != parts
    parts[on_plane & lateral] = torso[on_plane & lateral]
    # one vertex of each pair decides: the one farther to the left (both may lie on one side
    # of the plane where the vertex sets are not exactly symmetric)
    x = canonical[:, 0]
    primary = (x > x[mirror]) | ((x == x[mirror]) & (ids <= mirror))
    out = parts.copy()
    out[~primary] = mirror_joints[parts[mirror[~primary]]]
    return out.astype(np.int64)


# --- the entry points --------------------------------------------------------------------------

def find_landmarks(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray, mirror_normal: np.ndarray,
                   mirror_offset: float, parts: np.ndarray | None = None, *, up: str | None = None,
                   front: str | None = None, units: str | None = None, source: str = "template") -> Landmarks:
    """Tips, parts and frame of a body template.

    Parameters
    ----------
    vertices : (V, 3) float64
        file coordinates.
    faces : (F, 3) int64
        a closed connected triangle mesh.
    mirror : (V,) int64
        the left-right mirror permutation (an involution).
    mirror_normal : (3,) float64
        unit normal of the mirror plane ``normal . x = mirror_offset``.
    mirror_offset : float
    parts : (V,) int64, optional
        SMPL joint ids from a rig; without them the tips and parts come from the geometry.
    up, front, units : str, optional
        override the detected frame (``uvkit.frame.AXIS_NAMES``, ``uvkit.frame.UNITS``).
    source : str
        named in errors.

    Raises
    ------
    LandmarkError
        no limbs or no head found (a message names what is missing and ``source``).
    TemplateError
        the frame cannot be told (see :func:`uvkit.frame.detect_frame`).
    """
    V = np.ascontiguousarray(vertices, dtype=np.float64)
    F = np.ascontiguousarray(faces, dtype=np.int64)
    mirror = np.asarray(mirror, dtype=np.int64)
    prominence: dict[str, float] = {}
    if parts is not None:
        parts = np.asarray(parts, dtype=np.int64)
        graph = edge_graph(V, F)
        tips = _rig_tips(graph, parts, source)
        feet = (tips["left_foot"], tips["right_foot"])
        foot_centres = np.stack([V[np.isin(parts, (7, 10))].mean(axis=0), V[np.isin(parts, (8, 11))].mean(axis=0)])
    else:
        # geodesics on a smoothed copy: vertex noise would lengthen the paths through finely
        # meshed regions (face, fingers) more than through coarse ones
        smooth = smoothed_positions(V, F)
        graph = edge_graph(smooth, F, quantize=True)
        unit = float(edge_graph(smooth, F).data.mean())
        found = _geometric_tips(smooth / unit, graph, mirror, source)
        feet = found["feet"]
        distance = csgraph.dijkstra(graph, indices=list(feet) + [found["head"]])
        stature = distance[2, list(feet)].mean()
        ankle = FOOT_CHAIN[1][1] * stature
        foot_centres = np.stack([V[distance[k] <= ankle].mean(axis=0) for k in range(2)])
        tips = {"head": found["head"]}
        prominence = {"head": found["prominence"]["head"]}
    frame = detect_frame(V, head=tips["head"], feet=feet, foot_centres=foot_centres, mirror_normal=mirror_normal,
                         mirror_offset=mirror_offset, up=up, front=front, units=units, source=source)
    canonical = frame.to_canonical(V)
    if parts is None:
        for kind, side in (("hands", "hand"), ("feet", "foot")):
            a, b = found[kind]
            if canonical[a, 0] < canonical[b, 0]:
                a, b = b, a
            # one side decides, the other is its mirror image
            tips[f"left_{side}"], tips[f"right_{side}"] = a, int(mirror[a])
            prominence[f"left_{side}"] = prominence[f"right_{side}"] = found["prominence"][kind]
        tips = {name: int(tips[name]) for name in TIP_NAMES}
        parts = geometric_parts(graph, canonical, mirror, tips)
        source_name = "geometry"
    else:
        source_name = "rig"
    return Landmarks(tips=tips, parts=parts, frame=frame, source=source_name, vertices=canonical,
                     prominence=prominence)


def template_landmarks(template, mirror=None, *, allow_asymmetric: bool = False, up: str | None = None,
                       front: str | None = None, units: str | None = None) -> Landmarks:
    """:func:`find_landmarks` of a :class:`uvkit.template.Template`: the rig's parts when it has
    them, the geometry otherwise.

    mirror : uvkit.symmetry.Mirror, optional (found when not given).
    """
    if mirror is None:
        from .symmetry import template_mirror

        mirror = template_mirror(template, allow_asymmetric=allow_asymmetric)
    return find_landmarks(template.vertices, template.faces, mirror.permutation, mirror.normal, mirror.offset,
                          template.parts, up=up, front=front, units=units, source=template.source)


def detail_tips(landmarks: Landmarks, faces: np.ndarray, mirror: np.ndarray, seams: str = "full") -> dict[str, list[int]]:
    """The tips the seams of ``seams`` lead to (:func:`uvkit.cut.build_seams`), grouped:
    ``spine`` (top, bottom), ``fingers``, ``toes``, ``hands``, ``feet``; vertex ids.

    faces : (F, 3) int64; mirror : (V,) int64.
    """
    from .cut import build_seams

    _, tips = build_seams(landmarks.vertices, np.asarray(faces, dtype=np.int64), np.asarray(mirror, dtype=np.int64),
                          landmarks.parts, seams)
    groups: dict[str, list[int]] = {"spine": [], "fingers": [], "toes": [], "hands": [], "feet": []}
    for name, vertex in tips.items():
        key = ("spine" if name.startswith("spine") else "fingers" if "finger" in name else "toes" if "toe" in name
               else "hands" if "hand" in name else "feet")
        groups[key].append(int(vertex))
    return {key: value for key, value in groups.items() if value}


__all__ = ["Landmarks", "LandmarkError", "TIP_NAMES", "find_landmarks", "template_landmarks", "detail_tips",
           "geometric_parts", "extremities", "average_geodesic_distance", "edge_graph"]
