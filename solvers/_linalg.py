"""Dense linear algebra on any array-API namespace with the ``linalg`` extension.

The standard has ``cholesky``, ``solve`` and ``eigh`` but no triangular solve, so triangular systems use SciPy
on NumPy arrays and cupyx on CuPy arrays; elsewhere a system with ``L L'`` is handed to the general ``solve``
with the product formed (one O(n^3) solve; general solvers can be very slow on triangular input).
"""
from __future__ import annotations

import math

from array_api_compat import is_cupy_namespace, is_numpy_namespace


def cholesky(xp, A):
    """Lower Cholesky factor of the symmetric matrix ``A``, or None when ``A`` is not (numerically) positive
    definite. NumPy raises on failure; CuPy is made to raise (otherwise it returns a partial factor); a factor
    with NaN or inf entries also counts as failure."""
    try:
        if is_cupy_namespace(xp):  # CuPy reports a failed factorization only when asked to
            import cupyx

            with cupyx.errstate(linalg="raise"):
                L = xp.linalg.cholesky(A)
        else:
            L = xp.linalg.cholesky(A)
    except (ValueError, ArithmeticError):  # numpy.linalg.LinAlgError is a ValueError
        return None
    if not bool(xp.all(xp.isfinite(L))):
        return None
    return L


def cho_solve(xp, L, b):
    """Solve ``(L L') y = b`` given the Cholesky factor ``L``."""
    solve_triangular = _triangular_solver(xp)
    if solve_triangular is None:
        return xp.linalg.solve(L @ xp.linalg.matrix_transpose(L), b)
    return solve_triangular(L, solve_triangular(L, b, lower=True), lower=True, trans=1)


def inverse_factor_norm(xp, L, b) -> float:
    """``||L^{-1} b||`` (equivalently sqrt(b' (L L')^{-1} b))."""
    solve_triangular = _triangular_solver(xp)
    if solve_triangular is None:
        return math.sqrt(max(float(xp.sum(b * xp.linalg.solve(L @ xp.linalg.matrix_transpose(L), b))), 0.0))
    return float(xp.linalg.vector_norm(solve_triangular(L, b, lower=True)))


def _triangular_solver(xp):
    if is_numpy_namespace(xp):
        from scipy.linalg import solve_triangular

        return lambda L, b, lower, trans=0: solve_triangular(L, b, lower=lower, trans=trans, check_finite=False)
    if is_cupy_namespace(xp):
        from cupyx.scipy.linalg import solve_triangular

        return solve_triangular
    return None


def identity(xp, n, like):
    """The n x n identity with ``like``'s dtype and device."""
    from array_api_compat import device

    return xp.eye(n, dtype=like.dtype, device=device(like))


def diagonal(xp, A):
    """The main diagonal of a square matrix."""
    return xp.linalg.diagonal(A) if hasattr(xp.linalg, "diagonal") else xp.sum(A * identity(xp, A.shape[0], A), axis=1)
