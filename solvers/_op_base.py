"""The operator base class, its factorization record and the helpers every operator shares.

An :class:`Operator` is a linear map R^n -> R^m that keeps the structure of the matrix it stands for (a scaled
identity, a Gram matrix ``A' D A``, a Kronecker product, ...), so that products, diagonals and shifted solves
cost what the structure allows rather than what the dense ``(m, n)`` array would. Subclasses are frozen
dataclasses that implement the two products on ``(n, k)`` matrices (``_matmat`` / ``_rmatmat``), the diagonal,
and, where they have one, a cheaper solve (``_factorize``); the base class validates arguments, handles vectors
and the transposed, scaled and summed operators, and supplies the dense fallbacks.

Shifted solves: ``factorize(shift)`` returns a :class:`Factorization` of ``A + shift I`` by the cheapest exact
method the structure admits, or raises :class:`NotPositiveDefinite`. The dense fallback is a Cholesky
factorization (Algorithm 4.2.1 of Golub & Van Loan, "Matrix Computations", 4th ed., 2013); the sparse one is a
SuperLU factorization with symmetric, diagonal pivoting (see :func:`sparse_spd_solver`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from array_api_compat import (
    array_namespace,
    is_array_api_obj,
    is_cupy_array,
    is_numpy_array,
)

from . import _linalg

NUMPY = array_namespace(np.empty(0))
"""The array-API namespace of NumPy arrays (scipy.sparse operators compute on the host in it)."""


class NotPositiveDefinite(ArithmeticError):
    """``A + shift I`` is not (numerically) positive definite, so the requested factorization does not exist."""


@dataclass(frozen=True, eq=False)
class Factorization:
    """A factorization of ``A + shift I`` (``method`` names how it was obtained) that solves
    ``(A + shift I) x = b`` for ``b`` of shape ``(n,)`` or ``(n, k)``."""

    shift: float
    method: str
    size: int
    xp: object
    _solve_matrix: Callable = None  # (n, k) -> (n, k)

    def solve(self, b):
        b = check_operand(self.xp, b, self.size, f"Factorization({self.method}).solve", "b")
        if b.ndim == 1:
            return self._solve_matrix(b[:, None])[:, 0]
        return self._solve_matrix(b)

    def __repr__(self):
        return f"Factorization(method={self.method!r}, shift={self.shift!r}, size={self.size})"


class Operator:
    """A linear map R^n -> R^m on arrays of one array-API namespace ``xp`` (see the module docstring).

    Subclasses provide ``shape``, ``dtype``, ``xp``, ``symmetric``, ``nbytes``, ``_matmat(V)`` for ``V`` of shape
    ``(n, k)``, ``diagonal()``, and, unless the operator is symmetric, ``_rmatmat(U)`` and ``T``. They may
    override ``to_dense``, ``norm_estimate``, ``gram``, ``_scaled`` and ``_factorize`` with cheaper forms.
    """

    symmetric: bool = False
    __array_ufunc__ = None  # NumPy defers to the operator: ndarray + op and numpy scalar * op call op's methods

    # ---- products ---------------------------------------------------------------------------------------
    def matvec(self, v):
        """``A v`` for ``v`` of shape ``(n,)`` (result ``(m,)``) or ``(n, k)`` (result ``(m, k)``)."""
        v = check_operand(self.xp, v, self.shape[1], f"{self.name}.matvec", "v")
        return self._matmat(v[:, None])[:, 0] if v.ndim == 1 else self._matmat(v)

    def rmatvec(self, u):
        """``A' u`` for ``u`` of shape ``(m,)`` (result ``(n,)``) or ``(m, k)`` (result ``(n, k)``)."""
        u = check_operand(self.xp, u, self.shape[0], f"{self.name}.rmatvec", "u")
        return self._rmatmat(u[:, None])[:, 0] if u.ndim == 1 else self._rmatmat(u)

    def __matmul__(self, v):
        if isinstance(v, Operator):
            raise TypeError(f"{self.name} @ {v.name}: products of two operators are not formed; apply them in "
                            "turn to a vector (A @ (B @ v))")
        return self.matvec(v)

    def __rmatmul__(self, u):
        """``u @ A``: ``A' u`` for a vector u of shape (m,); ``(A' U')'`` for U of shape (k, m)."""
        u = check_operand(self.xp, u if getattr(u, "ndim", 1) == 1 else self.xp.linalg.matrix_transpose(u),
                          self.shape[0], f"u @ {self.name}", "u")
        return self._rmatmat(u[:, None])[:, 0] if u.ndim == 1 else self.xp.linalg.matrix_transpose(self._rmatmat(u))

    def _rmatmat(self, U):
        if self.symmetric:
            return self._matmat(U)
        raise NotImplementedError(f"{self.name} defines no transposed product")  # pragma: no cover

    @property
    def T(self) -> Operator:
        """The transposed operator (the operator itself when symmetric)."""
        if self.symmetric:
            return self
        raise NotImplementedError(f"{self.name} defines no transpose")  # pragma: no cover

    # ---- dense views ------------------------------------------------------------------------------------
    def to_dense(self):
        """The ``(m, n)`` array (default: the product with the identity, i.e. n matrix-vector products)."""
        return self._matmat(_linalg.identity(self.xp, self.shape[1], self._like()))

    def norm_estimate(self) -> float:
        """The Frobenius norm (default: of the dense form; subclasses say when theirs is a bound)."""
        return float(self.xp.linalg.matrix_norm(self.to_dense()))

    # ---- solves -----------------------------------------------------------------------------------------
    def factorize(self, shift: float = 0.0) -> Factorization:
        """A factorization of ``A + shift I`` by the cheapest exact method for this structure.

        Raises TypeError for a non-square or non-symmetric operator, :class:`NotPositiveDefinite` when
        ``A + shift I`` is not (numerically) positive definite."""
        shift = check_shift(shift, self.name)
        if self.shape[0] != self.shape[1]:
            raise TypeError(f"{self.name}.factorize needs a square operator; this one has shape {self.shape}")
        if not self.symmetric:
            raise TypeError(f"{self.name}.factorize needs a symmetric operator (symmetric=True); shifted solves "
                            "use a Cholesky-type factorization")
        return self._factorize(shift)

    def solve(self, b, shift: float = 0.0):
        """``x`` with ``(A + shift I) x = b``; the same as ``factorize(shift).solve(b)``."""
        return self.factorize(shift).solve(b)

    def solver(self, shift: float = 0.0, rtol: float | None = None) -> Factorization:
        """A solver of ``(A + shift I) x = b``. With ``rtol`` None, or for structures without an iterative
        route, :meth:`factorize` (exact; NotPositiveDefinite raised here). With ``rtol`` a caller accepts solves
        to relative residual ``||b - (A + shift I) x|| <= rtol ||b||`` by an iterative method where the
        structure makes that cheaper (a block operator's Schur complement, ``_op_schur``); such a solver's
        ``solve`` may itself raise NotPositiveDefinite, so callers catch it around both calls."""
        return self.factorize(shift)

    def preconditioner(self, shift: float = 0.0) -> Factorization:
        """A solver with a fixed symmetric positive definite approximation M of ``A + shift I``, for
        preconditioning conjugate gradients: :meth:`factorize` (M exact) unless the structure has a much
        cheaper M (a block operator whose exact factorization would form a large Schur complement: the block
        LDL' with the Schur complement's block diagonal, ``BlockOperator.preconditioner``). NotPositiveDefinite
        as :meth:`factorize`."""
        return self.factorize(shift)

    def _factorize(self, shift: float) -> Factorization:
        return dense_factorization(self, shift)

    # ---- structure-keeping algebra -----------------------------------------------------------------------
    def gram(self, weights=None) -> Operator:
        """``A' diag(weights) A`` as an operator that keeps the structure (weights None: the identity)."""
        from ._op_gram import GramOperator  # the Gram operator builds on this module

        return GramOperator(self, weights)

    def __add__(self, other):
        from ._op_compose import add_operators  # sums build on this module

        return add_operators(self, other)

    def __radd__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self  # the start value of Python's sum()
        from ._op_compose import add_operators

        return add_operators(other, self)

    def __sub__(self, other):
        from ._op_compose import add_operators, as_operator

        return add_operators(self, -1.0 * as_operator(other))

    def __mul__(self, c):
        if isinstance(c, Operator) or is_array_api_obj(c) and getattr(c, "ndim", 0) != 0:
            return NotImplemented
        return self._scaled(check_scalar(c, f"{self.name} * c"))

    __rmul__ = __mul__

    def __truediv__(self, c):
        c = check_scalar(c, f"{self.name} / c")
        if c == 0.0:
            raise ZeroDivisionError(f"{self.name} / c: c is zero")
        return self._scaled(1.0 / c)

    def __neg__(self):
        return self._scaled(-1.0)

    def _scaled(self, c: float) -> Operator:
        from ._op_compose import ScaledOperator

        return ScaledOperator(self, c)

    # ---- description ------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def cheaply_invertible(self) -> bool:
        """True when ``A + shift I`` is solved in about the cost of a product (diagonal, block diagonal,
        Kronecker and identity-like operators): such blocks are the ones a Schur complement eliminates."""
        return False

    def _like(self):
        """A 1-element array of the operator's namespace, dtype and device (for identities and zeros)."""
        return self.xp.zeros((1,), dtype=self.dtype)

    def __repr__(self):
        return f"{self.name}(shape={self.shape}, dtype={self.dtype})"


# ---- validation ---------------------------------------------------------------------------------------------
def check_scalar(c, what: str) -> float:
    """A real, finite Python float from a number or a 0-D array."""
    if isinstance(c, (bool, np.bool_, str, bytes, complex)) or c is None:
        raise TypeError(f"{what}: c must be a real number; got {type(c).__name__}")
    try:
        value = float(c)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: c must be a real number; got {type(c).__name__}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what}: c must be finite; got {value}")
    return value


def check_shift(shift, name: str) -> float:
    return check_scalar(shift, f"{name}.factorize(shift)")


def check_operand(xp, v, size: int, where: str, arg: str):
    """``v`` as an array of namespace ``xp`` with shape ``(size,)`` or ``(size, k)``."""
    if not is_array_api_obj(v) or isinstance(v, np.generic):
        if isinstance(v, (str, bytes)) or v is None:
            raise TypeError(f"{where}: {arg} must be an array of shape ({size},) or ({size}, k); got "
                            f"{type(v).__name__}")
        v = xp.asarray(v)
    elif array_namespace(v) is not xp:
        raise TypeError(f"{where}: {arg} must be an array of the operator's library ({xp.__name__}); got "
                        f"{type(v).__module__}.{type(v).__name__}. Move it first (e.g. cupy.asarray / .get()).")
    if v.ndim not in (1, 2) or v.shape[0] != size:
        raise ValueError(f"{where}: {arg} must have shape ({size},) or ({size}, k); got {tuple(v.shape)}")
    kind = _kind(v.dtype)
    if kind not in "fiu":
        raise TypeError(f"{where}: {arg} must hold real numbers; got dtype {v.dtype}")
    if kind != "f":
        v = xp.astype(v, xp.float64)
    return v


def _kind(dtype) -> str:
    """NumPy's one-letter kind of a NumPy or CuPy dtype ("?" for other libraries' dtypes)."""
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "?"


def as_float_array(a, where: str, arg: str, ndim: int):
    """A NumPy or CuPy array of ``ndim`` dimensions and a real floating dtype (integers become float64;
    Python sequences become NumPy float64). Returns ``(xp, array)``."""
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{where}: {arg} must be a {ndim}-D NumPy or CuPy array; got {type(a).__name__}")
    if not (is_numpy_array(a) or is_cupy_array(a)):
        if is_array_api_obj(a):
            raise TypeError(f"{where}: {arg} must be a NumPy or CuPy array; got {type(a).__module__}."
                            f"{type(a).__name__}")
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: {arg} must be a {ndim}-D array; got {type(a).__name__} ({exc})") from None
    if isinstance(a, np.generic) or type(a) is not np.ndarray and is_numpy_array(a):
        a = np.asarray(a)  # NumPy scalars and np.matrix become plain arrays
    xp = array_namespace(a)
    if a.ndim != ndim:
        raise ValueError(f"{where}: {arg} must be {ndim}-D; got shape {tuple(a.shape)}")
    kind = np.dtype(a.dtype).kind
    if kind in "iu":
        a = xp.astype(a, xp.float64)
    elif kind != "f":
        raise TypeError(f"{where}: {arg} must hold real numbers (float32 or float64); got dtype {a.dtype}")
    elif a.dtype != xp.float32 and a.dtype != xp.float64:
        raise TypeError(f"{where}: {arg} has dtype {a.dtype}; operators compute in float32 or float64")
    return xp, a


def result_dtype(*dtypes):
    """The floating dtype of products of arrays of these dtypes (float64 unless all are float32)."""
    return np.result_type(*dtypes)


def symmetry_tolerance(xp, dtype) -> float:
    """Relative asymmetry accepted as rounding when ``symmetric`` is detected: sqrt(eps) of the dtype, so that
    Hessians assembled in floating point (whose two triangles are computed by different contractions) count
    as symmetric, while any matrix meant to be non-symmetric is far beyond it. Cholesky-type factorizations read
    one triangle only."""
    return math.sqrt(float(xp.finfo(dtype).eps))


def is_symmetric_dense(xp, A) -> bool:
    """Whether the square (or stacked square) array ``A`` equals its transpose up to rounding:
    max |A - A'| <= symmetry_tolerance * max |A|."""
    if A.shape[-1] != A.shape[-2]:
        return False
    if math.prod(A.shape) == 0:
        return True
    largest = float(xp.max(xp.abs(A)))
    asym = float(xp.max(xp.abs(A - xp.linalg.matrix_transpose(A))))
    return asym <= symmetry_tolerance(xp, A.dtype) * largest


def nbytes_of(a) -> int:
    """Bytes held by a NumPy/CuPy array or a scipy.sparse matrix (0 for None)."""
    if a is None:
        return 0
    if hasattr(a, "indptr"):
        return int(a.data.nbytes + a.indices.nbytes + a.indptr.nbytes)
    if hasattr(a, "offsets"):  # dia format
        return int(a.data.nbytes + a.offsets.nbytes)
    if hasattr(a, "row") and hasattr(a, "col"):  # coo format
        return int(a.data.nbytes + a.row.nbytes + a.col.nbytes)
    return int(a.nbytes)


# ---- factorizations -----------------------------------------------------------------------------------------
def cholesky_solver(xp, M, what: str):
    """A solver for ``M y = b`` (b of shape ``(n, k)``) from the Cholesky factor of the symmetric array ``M``,
    or NotPositiveDefinite (``what`` describes ``M`` in the message)."""
    L = _linalg.cholesky(xp, M)
    if L is None:
        raise NotPositiveDefinite(f"{what} is not positive definite (its Cholesky factorization failed)")
    return lambda B: _linalg.cho_solve(xp, L, B)


def shifted(xp, M, shift):
    """``M + diag(shift)`` for a square array ``M`` and a scalar or vector shift (a new array)."""
    n = M.shape[0]
    if isinstance(shift, float):
        return M + shift * _linalg.identity(xp, n, M) if shift != 0.0 else M
    out = xp.asarray(M, copy=True)
    idx = xp.arange(n)
    out[idx, idx] = out[idx, idx] + shift  # NumPy and CuPy index assignment
    return out


def dense_factorization(op: Operator, shift: float, method: str = "dense-cholesky") -> Factorization:
    """The dense fallback: Cholesky of ``op.to_dense() + shift I`` (O(n^3) time, O(n^2) memory)."""
    xp = op.xp
    solve = cholesky_solver(xp, shifted(xp, op.to_dense(), shift), f"{op.name} + {shift:g}*I")
    return Factorization(shift, method, op.shape[0], xp, solve)


def sparse_spd_solver(M, what: str):
    """A solver for ``M y = b`` with the symmetric scipy.sparse matrix ``M``, or NotPositiveDefinite.

    SuperLU (Li, "An overview of SuperLU", ACM TOMS 31, 2005) with a symmetric fill-reducing ordering
    (``permc_spec="MMD_AT_PLUS_A"``, ``SymmetricMode``) and ``diag_pivot_thresh=0``, so that every nonzero
    diagonal entry is accepted as pivot: the factorization is then ``P M P' = L U`` with unit lower ``L`` and
    ``U = D L'``, i.e. the LDL' factorization without pivoting, which exists with all ``D_ii > 0`` iff ``M`` is
    positive definite (Golub & Van Loan 2013, Sec. 4.1.2 and Theorem 4.2.7; SuperLU's positive row and column
    equilibration does not change the signs of the pivots). An off-diagonal pivot (the row permutation differs
    from the column permutation) only happens at a zero diagonal pivot and so also means "not positive
    definite"; an exactly singular matrix is reported the same way."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = M.shape[0]
    try:
        lu = splu(sp.csc_array(M), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise NotPositiveDefinite(f"{what} is not positive definite ({exc})") from None
    pivots = lu.U.diagonal()
    if n and (not np.array_equal(lu.perm_r, lu.perm_c) or not bool(np.all(pivots > 0))
              or not bool(np.all(np.isfinite(pivots)))):
        raise NotPositiveDefinite(f"{what} is not positive definite (a pivot of its symmetric LDL' "
                                  "factorization is not positive)")
    return lambda B: lu.solve(np.asarray(B, dtype=np.float64))
