"""Every numeric tolerance uvkit uses, in one place (like ``trimesh.tol``)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    #: mean mirror mismatch, as a fraction of the template's bounding-box diagonal, above which
    #: a template is refused as not left-right symmetric (SMPL: ~0.2 % of its width passes).
    mirror_mean_fraction: float = 0.01
    #: the same for the worst vertex.
    mirror_max_fraction: float = 0.05
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


tol = Tolerances()
