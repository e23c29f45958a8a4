"""Every numeric tolerance uvkit uses, in one place (like ``trimesh.tol``)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    #: mean mirror mismatch, as a fraction of the template's bounding-box diagonal, above which
    #: a template is refused as not left-right symmetric (SMPL: ~0.2 % of its width passes).
    mirror_mean_fraction: float = 0.01
    #: the same for the worst vertex.
    mirror_max_fraction: float = 0.05
    #: candidate partners per vertex of the mirror assignment: the nearest neighbours of its
    #: reflection (taken both ways, plus the vertex itself and its first partner).
    mirror_candidates: int = 12
    #: unit of the mirror assignment's integer costs, as a fraction of the bounding-box diagonal.
    mirror_cost_unit: float = 1e-4
    #: the same where a template is so noisy that only its Taubin-smoothed positions are
    #: matched (noise above twice ``mirror_noise_fraction``): the topological refinement
    #: re-assigns the pairs after it, and the coarser unit solves faster.
    mirror_smooth_cost_unit: float = 1e-3
    #: largest group of vertices re-assigned at once after the global assignment (dense).
    mirror_group_size: int = 400
    #: a mirror pair is re-assigned when its mismatch exceeds this multiple of the median.
    mirror_outlier: float = 2.5
    #: vertices nearest to a suspect pair (and to its reflection) re-assigned with it in the
    #: first pass; the neighbourhood doubles each pass.
    mirror_neighbourhood: int = 4
    #: passes of that local re-assignment.
    mirror_refine_passes: int = 4
    #: vertex noise (median distance of a reflected vertex to the nearest vertex) above this
    #: fraction of the median edge length makes the mirror finder match Taubin-smoothed
    #: positions too (it keeps the better match); above twice it, the smoothed positions only.
    mirror_noise_fraction: float = 0.1
    #: Taubin smoothing iterations for that match.
    mirror_smoothing_iterations: int = 40
    #: Taubin smoothing iterations of the rest shape a noisy template is flattened as.
    rest_smoothing_iterations: int = 10
    #: smooth asymmetry (a body whose two sides differ by a slowly varying offset, as a scanned
    #: or fitted template such as SMPL does) is fitted to the distances of the reflections to
    #: the surface with Gaussian weights of this width, as a fraction of the bounding-box
    #: diagonal (symmetry.asymmetry_field)...
    mirror_field_sigma: float = 0.02
    #: ...but at least this many median edge lengths...
    mirror_field_edges: float = 4.0
    #: ...over at most this many sample vertices...
    mirror_field_samples: int = 3000
    #: ...in this many rounds...
    mirror_field_rounds: int = 8
    #: ...with this weight on the point offsets against the normal distances;
    mirror_field_tangential: float = 0.1
    #: the reflections are moved by the field when, after one round, its median length exceeds
    #: this fraction of the median edge length...
    mirror_field_min: float = 0.02
    #: ...and it explains at least this share of the squared normal distances.
    mirror_field_explained: float = 0.5
    #: rounds of the mirror's topological refinement (one-rings mapped onto one-rings).
    mirror_topology_rounds: int = 6
    #: weight of a pair's disagreement with its neighbours' pairs (0: all agree, 1: none), in
    #: units of the squared pair mismatch over the median edge length.
    mirror_topology_weight: float = 4.0
    #: unit of that refinement's integer costs.
    mirror_topology_cost_unit: float = 1e-3
    #: a mirror mismatch below this fraction of the bounding-box diagonal counts as exact (never
    #: re-assigned).
    mirror_exact: float = 1e-6
    #: vertices of a mesh file closer than this fraction of its bounding-box diagonal are one
    #: vertex that the exporter repeated (at UV seams and hard edges) and are welded (2 um on a
    #: body; float32 rounding of a copy is about 1e-7 of the coordinate).
    weld_fraction: float = 1e-6
    #: required symmetry of a symmetrised UV map: |u(i) + u(mirror(i)) - 1| and |v(i) - v(mirror(i))|.
    uv_symmetry: float = 1e-6
    #: relative difference under which two edge lengths or two UV layouts count as exactly
    #: mirror-symmetric, so that S1/S2 may reuse a mirrored row (the result stays exact).
    exact_symmetry: float = 1e-12
    #: relative twice-area below which a triangle counts as degenerate.
    degenerate_area: float = 1e-14
    #: a texel centre counts as inside a UV face when its smallest barycentric weight is at
    #: least -raster_inside (texels on shared edges then go to the most interior face).
    raster_inside: float = 1e-9
    #: a filled texel whose barycentric weights on its least extrapolated incident face fall
    #: below minus this value takes the claiming vertex's value instead: a face thinner than
    #: an eighth of the texel's distance extrapolates the surface's bend (and its own
    #: rounding) that many times over; on test template (g) a sliver at the spine seam put a
    #: texel 30 cm out (a 45 mm round trip at 128; docs/seams.md). Was 50 (the committed
    #: open-body maps fill down to about -27).
    raster_fill_extrapolation: float = 8.0
    #: a detected up, front or left-right axis within this angle (degrees) of a coordinate axis
    #: is snapped onto it (templates are axis-aligned; snapping makes the frame change exact).
    frame_snap_degrees: float = 20.0
    #: the same for the left-right axis (the mirror plane's normal, fitted to the whole body):
    #: beyond this the body is taken as turned or tilted in its file, and turned back (the
    #: test templates' normals lie within 0.07 degrees of their axis, noisy ones included).
    frame_normal_snap_degrees: float = 1.0
    #: the feet must reach forward past their centres by this fraction of the body's height in
    #: total for the front to be told from the geometry.
    frame_front_reach: float = 0.01
    #: a mirror plane this close to the origin (fraction of the height) is taken to pass through it.
    frame_centre_fraction: float = 1e-9
    #: the height of a person in metres: decides the units (m, cm, mm) of a template.
    body_height_min: float = 0.5
    body_height_max: float = 2.5
    #: geodesic extremities of an unrigged body: the least prominence (average geodesic distance
    #: above the saddle where the tip's region joins the rest, as a fraction of the geodesic
    #: diameter) of a hand or foot, and of the head.
    limb_prominence: float = 0.15
    head_prominence: float = 0.03
    #: the two hands (and the two feet) are at least this far apart along the surface, as a
    #: fraction of the geodesic diameter (about 0.9 for the hands, 0.5-0.6 for the feet).
    limb_pair_distance: float = 0.3
    #: a tip lies on the mid-plane when its mirror vertex is this close (fraction of the diameter).
    tip_on_midplane: float = 0.02
    #: a limb tip's twin lies within this distance of the tip's mirror image (fraction of the
    #: diameter); the head lies at least head_limb_distance from every limb tip (along the
    #: surface) and within head_near_plane of its own mirror image.
    tip_twin_radius: float = 0.05
    head_limb_distance: float = 0.2
    head_near_plane: float = 0.1


tol = Tolerances()
