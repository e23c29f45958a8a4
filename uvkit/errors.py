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


def check_choice(value: str, choices, what: str, error: type[Exception] = UvkitError, listed: str = "choices") -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``error`` naming ``what`` and
    listing the valid ``choices`` (the message reads "valid <listed>: a, b")."""
    if value not in choices:
        raise error(f"unknown {what} {value!r}; valid {listed}: {', '.join(map(str, choices))}")
    return value


class FoldedMapError(UvkitError):
    """The symmetric UV map keeps folded triangles. ``vertices`` holds the corners of the
    triangles that folded when the map was made symmetric (before the flip repair spread them):
    UV vertex ids where the layout raises it, template vertex ids once
    :func:`uvkit.unwrap.parameterize_template` has passed it on; ``flattened``: there, the
    solver's map before it was made symmetric (:class:`uvkit.unwrap.Flattened`), from which a
    map without the mirror averaging can start."""

    def __init__(self, message: str, vertices=(), flattened=None) -> None:
        super().__init__(message)
        self.vertices = vertices
        self.flattened = flattened
