"""Dense linear algebra on any array-API namespace with the ``linalg`` extension.

The standard has ``cholesky``, ``solve`` and ``eigh`` but no triangular solve, so triangular systems use SciPy
on NumPy arrays, cupyx on CuPy arrays and a general ``solve`` elsewhere (correct, only slower).
"""
from __future__ import annotations

from array_api_compat import is_cupy_namespace, is_numpy_namespace


def cholesky(xp, A):
    """Lower Cholesky factor of the symmetric matrix ``A``, or None when ``A`` is not (numerically) positive
    definite. NumPy raises on failure while CuPy returns NaNs; both are reported as None."""
    try:
        L = xp.linalg.cholesky(A)
    except (ValueError, ArithmeticError):  # numpy.linalg.LinAlgError is a ValueError
        return None
    if not bool(xp.all(xp.isfinite(L))):
        return None
    return L


def solve_lower(xp, L, b):
    """Solve ``L y = b`` for lower-triangular ``L``."""
    return _triangular(xp, L, b, lower=True, trans=False)


def solve_lower_transposed(xp, L, b):
    """Solve ``L' y = b`` for lower-triangular ``L``."""
    return _triangular(xp, L, b, lower=True, trans=True)


def cho_solve(xp, L, b):
    """Solve ``(L L') y = b`` given the Cholesky factor ``L``."""
    return solve_lower_transposed(xp, L, solve_lower(xp, L, b))


def _triangular(xp, L, b, *, lower, trans):
    if is_numpy_namespace(xp):
        from scipy.linalg import solve_triangular

        return solve_triangular(L, b, lower=lower, trans=1 if trans else 0, check_finite=False)
    if is_cupy_namespace(xp):
        from cupyx.scipy.linalg import solve_triangular

        return solve_triangular(L, b, lower=lower, trans=1 if trans else 0)
    return xp.linalg.solve(xp.linalg.matrix_transpose(L) if trans else L, b)


def identity(xp, n, like):
    """The n x n identity with ``like``'s dtype and device."""
    from array_api_compat import device

    return xp.eye(n, dtype=like.dtype, device=device(like))


def diagonal(xp, A):
    """The main diagonal of a square matrix."""
    return xp.linalg.diagonal(A) if hasattr(xp.linalg, "diagonal") else xp.sum(A * identity(xp, A.shape[0], A), axis=1)
