"""Exception types raised by uvkit. All derive from ``UvkitError`` (a ``ValueError``)."""


class UvkitError(ValueError):
    """Base class of every error uvkit raises on bad input."""


class TemplateError(UvkitError):
    """A template file or array is unreadable, incomplete or not a valid body mesh."""


class UnsafePickleError(TemplateError):
    """A pickle asked for a global that the restricted unpickler does not admit."""


class SymmetryError(UvkitError):
    """A template is too far from left-right symmetric for a mirror permutation."""


class UVMapError(UvkitError):
    """A UV map file is unreadable, of another format version or for another template."""
