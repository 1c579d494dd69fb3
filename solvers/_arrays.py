"""Array-namespace plumbing shared by every solver.

Everything array-library specific is confined here and in `_linalg.py`: the drivers and the step modules work
on arrays of the namespace returned by :func:`array_api_compat.array_namespace` and bring only Python floats back
to the host (for control flow and printing).
"""
from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj


def prepare_x0(x0, name: str = "x0"):
    """Validate the starting point and return ``(xp, x0)``.

    A Python sequence is converted with NumPy (integers become float64, as in scipy); an array keeps its own
    namespace and dtype. The array must be 1-D, non-empty and of a real floating dtype.
    """
    if is_array_api_obj(x0) and not isinstance(x0, np.generic):
        x = x0
    else:
        try:
            x = np.asarray(x0)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be a 1-D floating-point array; got {type(x0).__name__}") from exc
        if x.dtype.kind in "iu" and not isinstance(x0, np.ndarray):
            x = x.astype(np.float64)
    xp = array_namespace(x)
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of shape (n,); got an array of shape {tuple(x.shape)}. "
            "Flatten several variables into one vector (reshape(-1)) and reshape inside fun."
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"{name} must have a real floating dtype (float32 or float64); got dtype {x.dtype}. "
            f"Convert it first, e.g. xp.astype({name}, xp.float64)."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one entry; got shape {tuple(x.shape)}")
    return xp, x


def as_scalar(value, what: str) -> float:
    """The user's objective value as a Python float (a 0-D or size-1 array is accepted)."""
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) != ():
        size = math.prod(shape)
        if size != 1:
            raise ValueError(f"{what} must return a scalar; got an array of shape {tuple(shape)}")
        value = array_namespace(value).reshape(value, ())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must return a real scalar; got {type(value).__name__}") from exc


def as_array(xp, value, like, shape, what: str):
    """Coerce a user-returned array into ``like``'s namespace and dtype and check its shape."""
    arr = value if (is_array_api_obj(value) and array_namespace(value) is xp) else xp.asarray(value)
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{what} must return an array of shape {tuple(shape)}; got shape {tuple(arr.shape)}")
    if arr.dtype != like.dtype:
        arr = xp.astype(arr, like.dtype)
    return arr


def copy(xp, x):
    """A defensive copy handed to user callbacks."""
    return xp.asarray(x, copy=True)


def dot(xp, a, b) -> float:
    """<a, b> as a host float."""
    return float(xp.sum(a * b))


def norm(xp, v) -> float:
    """Euclidean norm as a host float."""
    return float(xp.linalg.vector_norm(v))


def max_abs(xp, v) -> float:
    """Infinity norm (largest absolute entry) as a host float; NaN if any entry is NaN."""
    return float(xp.max(xp.abs(v)))


def all_finite(xp, v) -> bool:
    """True when every entry is finite (one scalar comes back to the host)."""
    return bool(xp.all(xp.isfinite(v)))


def eps(xp, x) -> float:
    """Machine epsilon of x's dtype."""
    return float(xp.finfo(x.dtype).eps)
