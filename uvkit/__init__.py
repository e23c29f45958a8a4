"""uvkit: continuous, left-right symmetric UV maps for body templates, and their measurement.

Pure numpy / scipy / libigl / trimesh; never imports torch.
"""
from .errors import SymmetryError, TemplateError, UnsafePickleError, UVMapError, UvkitError
from .mesh import MeshReport, inspect_mesh
from .symmetry import Mirror, find_mirror, template_mirror
from .template import (
    Template,
    load_template,
    open_body_path,
    save_template_npz,
    template_from_arrays,
    template_hash,
)
from .tolerances import Tolerances, tol

__version__ = "0.1.0"

__all__ = [
    "Mirror",
    "MeshReport",
    "SymmetryError",
    "Template",
    "TemplateError",
    "Tolerances",
    "UVMapError",
    "UnsafePickleError",
    "UvkitError",
    "find_mirror",
    "inspect_mesh",
    "load_template",
    "open_body_path",
    "save_template_npz",
    "template_from_arrays",
    "template_hash",
    "template_mirror",
    "tol",
    "__version__",
]
