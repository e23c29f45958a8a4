"""The body frame of a template: its units, up axis and facing direction.

uvkit works internally in one canonical frame, SMPL's: metres, +Y up, +Z the body's front,
+X the body's left, the mirror plane at x = 0. Templates arrive in other frames (Blender and
the ``anny`` body are Z-up and face -Y; scans come in centimetres or millimetres).
:class:`BodyFrame` maps a template's coordinates into the canonical frame,

    canonical = scale * rotation @ (p - centre),

and :func:`detect_frame` finds it from a few landmarks: the left-right axis is the mirror
plane's normal, the up axis points from the feet to the top of the head, the front is where
the toes point (a foot reaches farther forward than back), and the units follow from the
body's height (a person is 0.5 to 2.5 m tall). Any of them can be given instead. Without a
given up axis the body must stand along the file's +Y or +Z: a body lying down, upside down or
tilted is refused (the error says where its head points).

A frame close to the file's axes (within ``tol.frame_snap_degrees``) is snapped onto them, so
that a Z-up template turned into the canonical frame is an exact axis permutation: the same
body in another frame then gets the same UV map. The left-right axis, the mirror plane's
normal, is snapped only within ``tol.frame_normal_snap_degrees`` (the plane fit's noise): a
body turned about its vertical or tilted sideways in its file is turned back (a lean forward
or back, within the mirror plane, is kept).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TemplateError
from .tolerances import tol

#: scale of each unit to metres.
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}
#: axis names accepted by ``--up`` and ``--front``.
AXIS_NAMES: tuple[str, ...] = ("x", "y", "z", "-x", "-y", "-z")
_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
#: up axes accepted without ``--up``: a body standing in a Y-up or a Z-up file.
UPRIGHT: tuple[str, ...] = ("+y", "+z")


def parse_axis(name: str) -> np.ndarray:
    """The unit vector of an axis name such as ``"z"``, ``"+y"`` or ``"-y"``. Returns (3,) float64."""
    text = str(name).strip().lower()
    sign = -1.0 if text.startswith("-") else 1.0
    key = text.lstrip("+-")
    if key not in _AXES:
        raise TemplateError(f"unknown axis {name!r}; valid axes: {', '.join(AXIS_NAMES)}")
    return sign * np.array(_AXES[key])


def axis_name(vector: np.ndarray) -> str:
    """``"+z"``-style name of an axis-aligned unit vector, else its rounded components."""
    vector = np.asarray(vector, dtype=np.float64)
    k = int(np.argmax(np.abs(vector)))
    if abs(abs(vector[k]) - 1.0) < 1e-12:
        return ("+" if vector[k] > 0 else "-") + "xyz"[k]
    return "(" + ", ".join(f"{x:.3f}" for x in vector) + ")"


def check_units(units: str) -> float:
    """Metres per unit of a unit name (``m``, ``cm``, ``mm``)."""
    if units not in UNITS:
        raise TemplateError(f"unknown units {units!r}; valid units: {', '.join(UNITS)}")
    return UNITS[units]


@dataclass(frozen=True)
class BodyFrame:
    """How a template's coordinates map into the canonical frame.

    Attributes
    ----------
    rotation : (3, 3) float64
        rows: the body's left, up and front directions in file coordinates (a rotation).
    scale : float
        metres per file unit.
    centre : (3,) float64
        a point of the mirror plane (file coordinates); it goes to x = 0.
    units : str
        ``"m"``, ``"cm"`` or ``"mm"``.
    height : float
        the body's extent along its up axis, in metres.
    detected : dict[str, bool]
        for ``"up"``, ``"front"``, ``"units"``: found from the geometry (True) or given (False).
    """

    rotation: np.ndarray
    scale: float
    centre: np.ndarray
    units: str
    height: float
    detected: dict

    @property
    def up(self) -> str:
        return axis_name(self.rotation[1])

    @property
    def front(self) -> str:
        return axis_name(self.rotation[2])

    @property
    def left(self) -> str:
        return axis_name(self.rotation[0])

    @property
    def is_identity(self) -> bool:
        """True when the file is in the canonical frame already (then vertices are not touched)."""
        return bool(np.array_equal(self.rotation, np.eye(3)) and self.scale == 1.0 and not np.any(self.centre))

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        """File coordinates (N, 3) float64 -> canonical coordinates (N, 3) float64.

        The identity frame returns the input array itself, bit for bit.
        """
        points = np.asarray(points, dtype=np.float64)
        if self.is_identity:
            return points
        return np.ascontiguousarray(self.scale * ((points - self.centre) @ self.rotation.T))

    def from_canonical(self, points: np.ndarray) -> np.ndarray:
        """Canonical coordinates (N, 3) float64 -> file coordinates (N, 3) float64."""
        points = np.asarray(points, dtype=np.float64)
        if self.is_identity:
            return points
        return (points / self.scale) @ self.rotation + self.centre

    def describe(self) -> str:
        how = {key: "detected" if value else "given" for key, value in self.detected.items()}
        return (f"up {self.up} ({how['up']}), front {self.front} ({how['front']}), left {self.left}, "
                f"units {self.units} ({how['units']}), height {self.height:.3f} m")

    def as_dict(self) -> dict:
        return {"up": self.up, "front": self.front, "left": self.left, "units": self.units,
                "scale": self.scale, "height_m": self.height, "detected": dict(self.detected),
                "rotation": self.rotation.tolist(), "centre": self.centre.tolist()}


def _snap(vector: np.ndarray, degrees: float | None = None) -> np.ndarray:
    """The nearest signed coordinate axis if within ``degrees`` (default
    ``tol.frame_snap_degrees``), else the unit vector."""
    vector = vector / np.linalg.norm(vector)
    k = int(np.argmax(np.abs(vector)))
    if abs(vector[k]) >= np.cos(np.radians(tol.frame_snap_degrees if degrees is None else degrees)):
        out = np.zeros(3)
        out[k] = np.sign(vector[k])
        return out
    return vector


def detect_frame(vertices: np.ndarray, *, head: int, feet: tuple[int, int], foot_centres: np.ndarray,
                 mirror_normal: np.ndarray, mirror_offset: float, up: str | None = None,
                 front: str | None = None, units: str | None = None, source: str = "template") -> BodyFrame:
    """The body frame from the landmarks (any of up, front, units may be given instead).

    Parameters
    ----------
    vertices : (V, 3) float64
        file coordinates.
    head : int
        the top of the head.
    feet : (2,) int
        the two foot tips (the toes).
    foot_centres : (2, 3) float64
        the centroid of each foot with its ankle, same order as ``feet``.
    mirror_normal : (3,) float64
        unit normal of the mirror plane ``normal . x = mirror_offset``.
    up, front : str, optional
        axis names (``AXIS_NAMES``), e.g. ``"z"`` and ``"-y"`` for a Blender-style file.
    units : str, optional
        ``"m"``, ``"cm"`` or ``"mm"``.
    source : str
        named in errors.

    Raises
    ------
    TemplateError
        a given axis lies in the mirror plane's normal direction, the front cannot be told
        (feet without a forward reach), or the height fits no unit.
    """
    V = np.asarray(vertices, dtype=np.float64)
    normal = np.asarray(mirror_normal, dtype=np.float64)
    # the mirror plane is fitted to the whole body: a normal off the file's axes by more than
    # the fit's noise is a tilted body (a scan set down askew), which the frame then straightens
    normal = _snap(normal / np.linalg.norm(normal), tol.frame_normal_snap_degrees)
    detected = {"up": up is None, "front": front is None, "units": units is None}
    if up is None:
        direction = V[head] - np.asarray(foot_centres).mean(axis=0)
        direction -= (direction @ normal) * normal
        if not np.linalg.norm(direction) > 0:
            raise TemplateError(f"{source}: cannot tell the up axis (the head lies beside the feet); pass --up")
        up_vector = _snap(direction)
        if axis_name(up_vector) not in UPRIGHT:
            raise TemplateError(
                f"{source}: the body is not upright: its head points along {axis_name(up_vector)} of the file "
                f"(lying down, upside down or tilted?); a template stands along +y or +z, or pass --up and --front")
    else:
        up_vector = parse_axis(up)
    if abs(up_vector @ normal) > np.sin(np.radians(tol.frame_snap_degrees)):
        raise TemplateError(f"{source}: the up axis {axis_name(up_vector)} is not perpendicular to the left-right "
                            f"axis {axis_name(normal)} (the mirror plane's normal); check --up")
    up_vector = up_vector - (up_vector @ normal) * normal
    up_vector /= np.linalg.norm(up_vector)
    across = np.cross(normal, up_vector)
    if front is None:
        reach = sum((V[toe] - centre) @ across for toe, centre in zip(feet, foot_centres))
        extent = float(np.ptp(V @ up_vector))
        if abs(reach) < tol.frame_front_reach * extent:
            raise TemplateError(f"{source}: cannot tell the front (the feet reach forward and back alike); pass --front")
        front_vector = np.sign(reach) * across
        if np.all(np.isin(np.abs(normal), (0.0, 1.0))):
            front_vector = _snap(front_vector)  # else: square to the tilted left-right axis
    else:
        front_vector = parse_axis(front)
        limit = np.sin(np.radians(tol.frame_snap_degrees))
        if abs(front_vector @ up_vector) > limit or abs(front_vector @ normal) > limit:
            raise TemplateError(f"{source}: the front axis {front} must be perpendicular to the up axis "
                                f"{axis_name(up_vector)} and the left-right axis {axis_name(normal)}")
        # square to them (the given axis itself unless the body is tilted in its file)
        front_vector = np.sign(front_vector @ across) * across
    left_vector = np.cross(up_vector, front_vector)
    rotation = np.stack([left_vector, up_vector, front_vector])
    if np.all(np.isin(np.abs(rotation), (0.0, 1.0))):
        rotation = np.round(rotation)  # an exact axis permutation
    rotation = rotation + 0.0
    height_units = float(np.ptp(V @ up_vector))
    if units is None:
        fits = [name for name, s in UNITS.items() if tol.body_height_min <= height_units * s <= tol.body_height_max]
        if not fits:
            raise TemplateError(
                f"{source}: a body {height_units:.4g} units tall is {tol.body_height_min}-{tol.body_height_max} m "
                f"tall in none of {', '.join(UNITS)}; pass --units")
        units = fits[0]
    scale = check_units(units)
    offset = float(mirror_offset) if abs(mirror_offset) > tol.frame_centre_fraction * height_units else 0.0
    centre = offset * normal if offset else np.zeros(3)
    return BodyFrame(rotation=rotation, scale=scale, centre=centre + 0.0, units=units,
                     height=height_units * scale, detected=detected)


__all__ = ["BodyFrame", "UNITS", "AXIS_NAMES", "parse_axis", "axis_name", "check_units", "detect_frame"]
