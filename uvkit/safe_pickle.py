"""A restricted unpickler for SMPL-format ``.pkl`` files.

Original SMPL files were pickled by Python 2 with chumpy objects inside. This module reads them
without chumpy and without ever running code that the pickle names: ``find_class`` admits only

- numpy's array and scalar reconstruction helpers and ``numpy.dtype``,
- scipy.sparse matrix and array classes (built with ``__new__`` and filled from their state),
- any ``chumpy.*`` class, replaced by :class:`ChumpyStub` (a plain container of the pickled
  state; the underlying array is read from it afterwards),
- ``copyreg._reconstructor``, ``builtins.object`` and ``_codecs.encode``, which the pickle
  protocol itself uses to build the objects above, and the containers ``set``,
  ``frozenset`` and ``collections.OrderedDict``.

Every other global raises :class:`uvkit.errors.UnsafePickleError` naming it, before anything
is called.
"""
from __future__ import annotations

import codecs
import collections
import copyreg
import io
import pickle
from typing import Any

import numpy as np
import scipy.sparse

from .errors import TemplateError, UnsafePickleError


class ChumpyStub:
    """Stand-in for a chumpy object: keeps the pickled state, runs nothing."""

    chumpy_class = "chumpy object"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __reduce__(self):  # pragma: no cover - never pickled again
        raise TypeError("ChumpyStub objects are not picklable")

    def array(self) -> np.ndarray:
        """The chumpy object's underlying array (its ``x`` attribute)."""
        state = self.__dict__.get("_state")
        if isinstance(state, dict):
            for key in ("x", "_x", "a"):
                value = state.get(key)
                if isinstance(value, np.ndarray):
                    return value
                if isinstance(value, ChumpyStub):
                    return value.array()
        if isinstance(state, np.ndarray):
            return state
        raise TemplateError(
            f"{self.chumpy_class}: no underlying array found in its pickled state "
            f"(keys: {sorted(state) if isinstance(state, dict) else type(state).__name__})"
        )


_chumpy_classes: dict[str, type] = {}


def _chumpy_stub(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _chumpy_classes:
        _chumpy_classes[key] = type(name, (ChumpyStub,), {"chumpy_class": key})
    return _chumpy_classes[key]


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{prefix}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


def _sparse_globals() -> dict[tuple[str, str], Any]:
    allowed = {}
    for fmt in ("csc", "csr", "coo", "lil", "dok", "bsr", "dia"):
        for kind in ("matrix", "array"):
            cls = getattr(scipy.sparse, f"{fmt}_{kind}", None)
            if cls is None:
                continue
            for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse"):
                allowed[(module, cls.__name__)] = cls
    return allowed


_ALLOWED: dict[tuple[str, str], Any] = {
    **_numpy_globals(),
    **_sparse_globals(),
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
    ("_codecs", "encode"): codecs.encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # chumpy objects keep bookkeeping sets in their state
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "frozenset"): frozenset,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside the admitted list (see module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stub(module, name)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': only numpy arrays, scipy.sparse "
                "matrices and chumpy arrays are admitted in a template pickle"
            ) from None


def _to_plain(value: Any) -> Any:
    """Replace chumpy stand-ins by their arrays, recursively through dicts, lists and tuples."""
    if isinstance(value, ChumpyStub):
        return value.array()
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_plain(item) for item in value)
    return value


def loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding='latin1'`` for Python 2
    pickles), then replace chumpy stand-ins by their underlying arrays."""
    unpickler = RestrictedUnpickler(io.BytesIO(data), encoding="latin1")
    return _to_plain(unpickler.load())


def load(path) -> Any:
    """Read and unpickle the file at ``path`` safely (see :func:`loads`).

    Raises
    ------
    UnsafePickleError
        the pickle names a global that is not admitted; the message names it and the file.
    TemplateError
        the file is not a readable pickle.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return loads(data)
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{path}: {error}") from None
    except TemplateError as error:
        raise TemplateError(f"{path}: {error}") from None
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise TemplateError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
