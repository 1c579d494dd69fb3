"""Bound constraints lo <= x <= hi: parsing of the user's ``bounds`` into two arrays, and the box operations
(projection, projected gradient, active set) the bound-constrained methods share.

``bounds`` takes scipy.optimize.minimize's two forms: a ``scipy.optimize.Bounds`` (``lb``/``ub`` arrays or
scalars, broadcast to n) or a sequence of n ``(lo, hi)`` pairs in which ``None`` means no bound; ``None`` means
no bounds at all. Infinite entries mean no bound.
"""
from __future__ import annotations

import numbers

import numpy as np


def standardize_bounds(bounds, n: int, xp, dtype=None):
    """The box of ``bounds`` as two arrays ``(lo, hi)`` of shape (n,) in namespace ``xp`` (dtype ``dtype``,
    default float64), with -inf/inf where a variable is unbounded.

    Raises TypeError for a ``bounds`` of another kind or non-numeric entries and ValueError for a wrong number
    of bounds, NaN, or a lower bound above its upper bound, each naming what was expected and what came.
    """
    if dtype is None:
        dtype = xp.float64
    if bounds is None:
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    elif _is_scipy_bounds(bounds):
        lo = _broadcast(_numeric(bounds.lb, "Bounds.lb"), n, "Bounds.lb")
        hi = _broadcast(_numeric(bounds.ub, "Bounds.ub"), n, "Bounds.ub")
    elif isinstance(bounds, (str, bytes, dict, numbers.Number)) or not hasattr(bounds, "__len__"):
        raise TypeError(
            "bounds must be None, a scipy.optimize.Bounds or a sequence of (lo, hi) pairs (None for no bound); "
            f"got {type(bounds).__name__}")
    else:
        lo, hi = _from_pairs(bounds, n)
    if np.isnan(lo).any() or np.isnan(hi).any():
        where = np.flatnonzero(np.isnan(lo) | np.isnan(hi))
        raise ValueError(f"bounds must not be NaN (use -inf/inf or None for no bound); got NaN at indices "
                         f"{where[:10].tolist()}")
    crossed = np.flatnonzero(lo > hi)
    if crossed.size:
        i = int(crossed[0])
        raise ValueError(f"each lower bound must be <= its upper bound; got lo[{i}] = {float(lo[i])!r} > hi[{i}] = "
                         f"{float(hi[i])!r} ({crossed.size} such entries)")
    return xp.asarray(lo, dtype=dtype), xp.asarray(hi, dtype=dtype)


def _is_scipy_bounds(bounds) -> bool:
    try:
        from scipy.optimize import Bounds
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return isinstance(bounds, Bounds)


def _numeric(value, what: str):
    try:
        arr = np.asarray(value if not hasattr(value, "get") else value.get())  # CuPy arrays: .get() to host
    except Exception as exc:
        raise TypeError(f"{what} must be a real number or array; got {type(value).__name__}") from exc
    if arr.dtype == object:
        arr = np.where(np.equal(arr, None), np.nan, arr)
    if arr.dtype.kind not in "fiub" and arr.dtype != object:
        raise TypeError(f"{what} must hold real numbers; got dtype {arr.dtype}")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must hold real numbers; got {arr.tolist()!r:.80}") from exc


def _broadcast(arr, n: int, what: str):
    if arr.size == 1 and arr.ndim <= 1:  # a scalar (scipy's Bounds stores one as shape (1,)) applies to all
        return np.full(n, float(arr.reshape(())))
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar or have shape ({n},) (one bound per variable); got shape "
                         f"{arr.shape}")
    return arr.copy()


def _from_pairs(bounds, n: int):
    if len(bounds) != n:
        raise ValueError(f"bounds must hold one (lo, hi) pair per variable, {n} pairs; got {len(bounds)}")
    lo, hi = np.empty(n), np.empty(n)
    for i, pair in enumerate(bounds):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"bounds[{i}] must be a (lo, hi) pair (None for no bound); got {pair!r:.60}")
        lo[i] = _bound_value(pair[0], -np.inf, f"bounds[{i}][0]")
        hi[i] = _bound_value(pair[1], np.inf, f"bounds[{i}][1]")
    return lo, hi


def _bound_value(value, unbounded: float, what: str) -> float:
    if value is None:
        return unbounded
    if isinstance(value, (bool, np.bool_, str, bytes, complex)) or not isinstance(value, (numbers.Real, np.generic)) \
            and getattr(value, "shape", None) != ():
        raise TypeError(f"{what} must be a real number or None; got {type(value).__name__} {value!r:.40}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a real number or None; got {type(value).__name__}") from exc


def project(xp, x, lo, hi):
    """P(x) = min(max(x, lo), hi), the Euclidean projection onto the box."""
    return xp.clip(x, lo, hi)


def projected_gradient(xp, x, g, lo, hi):
    """P(x - g) - x: zero exactly at the first-order (KKT) points of min f over the box; its infinity norm is
    scipy L-BFGS-B's ``pgtol`` measure. Computed as -clip(g, x - hi, x - lo), the same number without the
    cancellation of x - g - x, which would lose a g much smaller than x (and call a far point stationary)."""
    return -xp.clip(g, x - hi, x - lo)


def projected_gradient_norm(xp, x, g, lo, hi) -> float:
    """||P(x - g) - x||_inf (:func:`projected_gradient`) as a host float; 0 for an empty x."""
    step = projected_gradient(xp, x, g, lo, hi)
    return float(xp.max(xp.abs(step))) if step.shape[0] else 0.0


def active_mask(xp, x, lo, hi):
    """-1 where x sits on its lower bound, +1 on its upper bound, 0 elsewhere (a fixed variable, lo == hi,
    counts as lower), as in scipy.optimize.least_squares' ``active_mask``."""
    upper = xp.astype(x >= hi, xp.int64)
    lower = xp.astype(x <= lo, xp.int64)
    return upper - lower * (1 + upper)  # lower wins when lo == hi
