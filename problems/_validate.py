"""Checks of user arrays and parameters at the public entry points (ValueError/TypeError naming what came)."""
from __future__ import annotations

import numbers

import numpy as np


def real_matrix(name: str, value, ndim: int | tuple = 2) -> np.ndarray:
    """``value`` as a finite float64 array of the given number of dimensions (one of them, for a tuple)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(_to_host(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got a complex array")
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at index {where})")
    return arr


def data_matrix(name: str, value, ndim: int | tuple = 2):
    """A feature matrix as :func:`real_matrix` makes it, except that ``scipy.sparse`` matrices stay sparse
    (``scipy.sparse.csr_array`` of float64, finite: checked on the stored values) and Dask arrays stay lazy
    (cast to float64 by block; their finiteness is checked where they are computed, nothing is computed
    here). For data used through products only, such as X in ``X @ w`` (see symbolic/_data_kinds.py)."""
    if _is_sparse(value):
        import scipy.sparse as sp

        if 2 not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise ValueError(f"{name} must be a {ndim}-D array, got a sparse matrix of shape {value.shape}")
        if value.dtype.kind == "c":
            raise TypeError(f"{name} must be real, got a complex sparse matrix")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric sparse matrix, got dtype {value.dtype}")
        arr = sp.csr_array(value, dtype=np.float64)
        if 0 in arr.shape:
            raise ValueError(f"{name} is empty (shape {arr.shape})")
        if not np.isfinite(arr.data).all():
            raise ValueError(f"{name} contains NaN or infinite values (among its stored entries)")
        return arr
    if _is_dask(value):
        allowed = ndim if isinstance(ndim, tuple) else (ndim,)
        if value.dtype.kind == "c":
            raise TypeError(f"{name} must be real, got a complex Dask array")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric array, got a Dask array of dtype {value.dtype}")
        if value.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array, got a Dask array of shape {value.shape}")
        if any(isinstance(s, float) for s in value.shape):
            raise ValueError(f"{name}: a Dask array of unknown shape {value.shape}; call compute_chunk_sizes() first")
        if value.size == 0:
            raise ValueError(f"{name} is empty (shape {value.shape})")
        return value.astype(np.float64)
    return real_matrix(name, value, ndim)


def _is_sparse(value) -> bool:
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "nnz")


def _is_dask(value) -> bool:
    return type(value).__module__.startswith("dask.") and hasattr(value, "chunks") and hasattr(value, "dtype")


def _distinct(y) -> np.ndarray:
    """The sorted distinct values of a vector, as a NumPy array (for Dask, one computation of them)."""
    values = np.unique(y)
    return np.asarray(values.compute()) if _is_dask(values) else values


def _to_host(value):
    get = getattr(value, "get", None)  # CuPy
    if callable(get) and type(value).__module__.startswith("cupy"):
        return get()
    return value


def nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def same_rows(xname, X, yname, y):
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{xname} has {X.shape[0]} rows but {yname} has {y.shape[0]}; they must match (one per sample)")


def binary_labels(name: str, y) -> np.ndarray:
    """Labels in {0, 1} or {-1, +1} as a float vector in {-1, +1}; both classes must appear. A Dask vector
    stays lazy (its distinct values are computed once, a small reduction)."""
    y = data_matrix(name, y, 1) if _is_dask(y) else real_matrix(name, y, 1)
    values = _distinct(y)
    if _is_dask(y) and not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if len(values) < 2:
        raise ValueError(f"{name} has a single class ({values[0]:g}); a classifier needs two")
    if set(values) <= {0.0, 1.0}:
        return np.where(y > 0, 1.0, -1.0)
    if set(values) <= {-1.0, 1.0}:
        return y if _is_dask(y) else y.copy()
    shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
    raise ValueError(f"{name} must hold labels in {{0, 1}} or {{-1, +1}}, got the values {{{shown}}}")


def class_matrix(name: str, Y) -> np.ndarray:
    """Class targets as an (m, k) matrix of probability rows: a one-hot matrix as is, or integer labels
    (a vector) encoded one-hot over their sorted distinct values. At least two classes must appear. A Dask
    vector of labels stays lazy: its distinct values are computed (a small reduction) and the one-hot matrix
    is built by blocks."""
    if _is_dask(Y) and Y.ndim == 1:
        Y = data_matrix(name, Y, 1)
        values = _distinct(Y)
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if not np.all(values == np.round(values)):
            raise ValueError(f"{name}: class labels must be integers, got non-integer values such as "
                             f"{values[values != np.round(values)][0]:g}")
        if len(values) < 2:
            raise ValueError(f"{name} has a single class ({values[0]:g}); a classifier needs at least two")
        return (Y[:, None] == values[None, :]).astype(np.float64)
    if _is_dask(Y):
        import dask

        Y = data_matrix(name, Y, 2)
        if Y.shape[1] < 2:
            raise ValueError(f"{name} must have one column per class (at least 2), got shape {Y.shape}")
        low, off, counts = dask.compute(Y.min(), abs(Y.sum(axis=1) - 1.0).max(), Y.sum(axis=0))  # small results
        if not (np.isfinite(off) and low >= 0 and off <= 1e-8):
            raise ValueError(f"{name} must be one-hot (or probability) rows: non-negative, each row summing to 1")
        if np.count_nonzero(counts) < 2:
            raise ValueError(f"{name} has a single class; a classifier needs at least two")
        return Y
    Y = real_matrix(name, Y, (1, 2))
    if Y.ndim == 1:
        values, codes = np.unique(Y, return_inverse=True)
        if not np.all(values == np.round(values)):
            raise ValueError(f"{name}: class labels must be integers, got non-integer values such as "
                             f"{values[values != np.round(values)][0]:g}")
        if len(values) < 2:
            raise ValueError(f"{name} has a single class ({values[0]:g}); a classifier needs at least two")
        return np.eye(len(values))[codes]
    if Y.shape[1] < 2:
        raise ValueError(f"{name} must have one column per class (at least 2), got shape {Y.shape}")
    if (Y < 0).any() or not np.allclose(Y.sum(axis=1), 1.0):
        raise ValueError(f"{name} must be one-hot (or probability) rows: non-negative, each row summing to 1")
    if np.count_nonzero(Y.sum(axis=0)) < 2:
        raise ValueError(f"{name} has a single class; a classifier needs at least two")
    return Y


def positive_int(name: str, value, at_least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < at_least:
        raise ValueError(f"{name} must be an integer >= {at_least}, got {value!r}")
    return int(value)
