"""Schur complements onto the rest of a block operator whose eliminated part is block diagonal.

The setting (a factorization's Hessian, or its Gauss-Newton matrix J'J; a bundle adjustment's normal
equations have the same shape)::

    M + sI = [[B + sI, C ], [C', A + sI]],   B = diag(B_1, ..., B_b) with p x p blocks,  C sparse (b p, n),

with S = A + sI - C'(B + sI)^-1 C the Schur complement onto the rest (n unknowns). M + sI is positive definite
iff B + sI and S are (Zhang, ed., "The Schur Complement and Its Applications", Springer 2005, Theorem 1.12).
C is read in blocks of p rows by q columns (:class:`BlockCoupling`), q the block size of A's block-diagonal
form (q = 1 for a diagonal A), so that everything below costs in proportion to C's nonzero blocks:

* :func:`schur_complement` forms S exactly, in a block layout (n/q, n/q, q, q): block row t of C touching the
  block columns J_t contributes ``C_t' (B_t + sI)^-1 C_t``, a (|J_t| q)^2 dense product (one BLAS-3 call),
  subtracted from S's blocks J_t x J_t by one fancy-indexed update of whole q x q blocks.
* :func:`schur_diagonal_blocks` gives only S's q x q diagonal blocks (``A_jj + sI - sum_t C_tj'(B_t+sI)^-1
  C_tj``, one batched product over the nonzero blocks of C): the block-Jacobi preconditioner.
* :func:`iterative_schur_factorization` solves with M + sI without forming S: preconditioned conjugate
  gradients (Algorithm 5.3 of Nocedal & Wright, "Numerical Optimization", 2nd ed., 2006) on S x = c with
  products ``S v = A v + s v - C'((B + sI)^-1 (C v))`` through the sparse C, preconditioned by the inverses
  of S's diagonal blocks; back-substitution gives the other unknowns. This is the method Ceres Solver calls
  ITERATIVE_SCHUR with its SCHUR_JACOBI preconditioner (Agarwal, Snavely, Seitz & Szeliski, "Bundle
  adjustment in the large", ECCV 2010). Positive definiteness is tested exactly where it is cheap (every
  B_t + sI and every diagonal block of S, principal submatrices of M + sI, must be positive definite) and
  otherwise along the Krylov space of the right-hand side: a direction d with d'Sd <= 0 met by CG is a
  NotPositiveDefinite at solve time (the test of Algorithm 7.1 of Nocedal & Wright (2006)); an indefinite S
  whose negative eigenvectors that space never reaches goes unseen, and the returned x then still solves the
  system to the requested relative residual.

Which of the two a solve uses is :func:`prefer_iterative`'s rule (measured on matrix factorization,
benchmarks/factorization_scale.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _op_pattern
from ._op_base import NUMPY, Factorization, NotPositiveDefinite

#: The exact route is used while the Schur complement has at most this many unknowns (there a solve is
#: exact at little cost). Measured on one core, first Newton step of rank-8 factorizations (1.2 n x n, 90%
#: missing), exact Schur vs PCG to 1e-10: 800 unknowns 0.050 s vs 0.032 s; 1600: 0.49 vs 0.066 s;
#: 2400: 0.75 vs 0.075 s; 1600 at 50% missing: 1.89 vs 0.099 s; 4000 (600 x 500): 2.9 vs 0.17 s.
ITERATIVE_ABOVE = 600
#: :func:`schur_complement` forms C'(B + sI)^-1 C by one dense GEMM when more than this fraction of C's blocks
#: are nonzero (and C fits in DENSE_COUPLING_BYTES as a dense array): the blockwise updates cost one scattered
#: write per entry of each (|J_t| q)^2 product, about density^2 * 100 / q times the GEMM's time per row block,
#: so the crossover lies near density 0.25 for q = 5..8 (measured at 100 x 80, rank 5, 70% observed: 74 ms
#: blockwise against about 6 ms by GEMM, one core).
DENSE_COUPLING = 0.25
DENSE_COUPLING_BYTES = 64 << 20
#: The iteration cap of the conjugate gradients, as a multiple of sqrt(n) plus a floor; reaching it makes the
#: solve fall back to the exact Schur complement (PCG converging this slowly has no speed advantage left).
PCG_ITERATIONS = (20.0, 200)


@dataclass(frozen=True, eq=False)
class BlockCoupling:
    """A sparse (b p, n) matrix C by its nonzero p x q blocks: ``values`` (N, p, q), the block row ``rows`` (N,)
    and block column ``cols`` (N,) of each, sorted by block row, ``starts`` (b + 1,) the first block of each
    block row. Products go through the blocks (one batched product and one segmented sum each), so C is held
    once, in this form."""

    values: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    starts: np.ndarray
    p: int
    q: int
    n: int
    by_column: np.ndarray = None  # the blocks' order sorted by block column, and where each column starts
    column_starts: np.ndarray = None

    def __post_init__(self):
        if self.by_column is None:
            order, starts = _column_order(self.cols, self.n // self.q)
            object.__setattr__(self, "by_column", order)
            object.__setattr__(self, "column_starts", starts)

    @classmethod
    def of(cls, C, p: int, q: int) -> BlockCoupling:
        """The block form of the scipy.sparse matrix C (shape (b p, n) with n divisible by q). Where each
        stored entry goes, and which blocks exist, depends on C's pattern alone: that layout is made once per
        pattern (``_op_pattern``), so that a coupling with the same nonzeros at the next iterate costs one
        scatter of its values."""
        import scipy.sparse as sp

        C = sp.csr_array(C)
        plan = _op_pattern.layout("block coupling", (p, q), C, lambda M: _coupling_layout(M, p, q))
        values = _op_pattern.scatter(plan.count * p * q, plan.flat, C.data, plan.unique).reshape(-1, p, q)
        return cls(values, plan.rows, plan.cols, plan.starts, p, q, C.shape[1], plan.by_column, plan.column_starts)

    def bsr(self):
        """C as a scipy.sparse BSR array of p x q blocks sharing ``values`` (its products are about 1.6x faster
        than CSR's for 8 x 8 blocks: one index per block, not per entry)."""
        import scipy.sparse as sp

        return sp.bsr_array((self.values, self.cols, self.starts), shape=((self.starts.size - 1) * self.p, self.n))

    def matvec(self, v):
        """C v for v of shape (n,)."""
        products = np.einsum("npq,nq->np", self.values, v.reshape(-1, self.q)[self.cols])
        return _segment_sums(products, self.starts, self.p).reshape(-1)

    def rmatvec(self, u):
        """C' u for u of shape (b p,)."""
        products = np.einsum("npq,np->nq", self.values, u.reshape(-1, self.p)[self.rows])
        return _segment_sums(products[self.by_column], self.column_starts, self.q).reshape(-1)


@dataclass(frozen=True, eq=False)
class _CouplingLayout:
    """Where the stored entries of a (b p, n) CSR pattern go in its block form: ``flat`` the position of each
    in the (count, p, q) values (``unique``: no two share one), and the blocks' ``rows``, ``cols``,
    ``starts``, ``by_column`` and ``column_starts`` as in :class:`BlockCoupling`."""

    count: int
    flat: np.ndarray
    unique: bool
    rows: np.ndarray
    cols: np.ndarray
    starts: np.ndarray
    by_column: np.ndarray
    column_starts: np.ndarray


def _coupling_layout(C, p: int, q: int) -> _CouplingLayout:
    """The :class:`_CouplingLayout` of the CSR C's pattern (its values are not read)."""
    b = C.shape[0] // p
    indptr, indices = C.indptr, C.indices
    width = -(-C.shape[1] // q)  # block columns
    counts, lines = np.diff(indptr), np.arange(C.shape[0])
    # int32 arithmetic on the nonzeros where every index fits (half the memory traffic of int64)
    itype = np.int32 if max(b * width, C.nnz * p * q, C.shape[1]) < 2**31 - 1 else np.int64
    column = indices.astype(itype, copy=False)
    key = np.repeat((lines // p * width).astype(itype), counts) + column // q  # by block row, then column
    if b * width <= _op_pattern.MARK_LIMIT:  # mark the nonzero blocks on the (block rows x columns) grid
        mark = np.zeros(b * width, dtype=bool)
        mark[key] = True
        keys = np.flatnonzero(mark)
        where = (np.cumsum(mark, dtype=itype) - 1)[key]
    else:
        keys, where = np.unique(key, return_inverse=True)
        where = where.reshape(-1)
    local = np.repeat((lines % p).astype(itype), counts)
    flat = (where.astype(np.int64) * p + local) * q + column % q  # one flat index per stored entry
    rows, cols = keys // width, keys % width
    return _CouplingLayout(keys.size, flat, _op_pattern.all_distinct(flat, keys.size * p * q), rows, cols,
                           np.searchsorted(rows, np.arange(b + 1)), *_column_order(cols, C.shape[1] // q))


def _column_order(cols, columns: int):
    """The blocks' order sorted by block column (stable) and where each of the ``columns`` block columns
    starts in it (:class:`BlockCoupling`'s ``by_column`` and ``column_starts``)."""
    order = np.argsort(cols, kind="stable")
    return order, np.searchsorted(cols[order], np.arange(columns + 1))


def _segment_sums(rows, starts, width):
    """Sums of ``rows[starts[i]:starts[i + 1]]`` for each i (zero for empty segments), shape (len(starts)-1, width)."""
    out = np.zeros((starts.size - 1, width), dtype=rows.dtype)
    present = starts[:-1] < starts[1:]
    if rows.shape[0]:
        out[present] = np.add.reduceat(rows, starts[:-1][present], axis=0)
    return out


def inverse_factors(blocks, shift: float, what: str):
    """``L_t^-1`` for the Cholesky factors L_t of a (b, p, p) stack ``B_t + shift I`` (so that
    ``(B_t + shift I)^-1 = L_t^-T L_t^-1``), each checked positive definite by its factor."""
    p = blocks.shape[1]
    M = blocks + shift * np.eye(p) if shift else blocks
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        raise NotPositiveDefinite(f"{what} is not positive definite: the Cholesky factorization of one of its "
                                  f"{blocks.shape[0]} diagonal blocks failed") from None
    if not np.all(np.isfinite(L)):
        raise NotPositiveDefinite(f"{what} is not positive definite (a diagonal block's factor is not finite)")
    return np.linalg.inv(L)


def block_inverses(blocks, shift: float, what: str):
    """``(B_t + shift I)^-1`` for a (b, p, p) stack, each checked positive definite by its Cholesky factor."""
    Linv = inverse_factors(blocks, shift, what)
    return np.swapaxes(Linv, 1, 2) @ Linv


def schur_complement(coupling: BlockCoupling, inverse, A_blocks, A_dense, shift: float):
    """S = A + sI - C'(B + sI)^-1 C as a dense (n, n) array (module docstring). A is given either as its
    (n/q, q, q) diagonal blocks ``A_blocks`` (A block diagonal) or densely as ``A_dense``."""
    q, n = coupling.q, coupling.n
    nb = n // q
    values, cols, starts = coupling.values, coupling.cols, coupling.starts
    b = starts.size - 1
    if values.shape[0] > DENSE_COUPLING * b * nb and b * coupling.p * n * values.itemsize <= DENSE_COUPLING_BYTES:
        return dense_schur_complement(coupling.bsr().toarray(), inverse, A_blocks, A_dense, shift)
    # block layout (n/q, n/q, q, q): each update writes whole contiguous q x q blocks (1.5-2x faster than
    # updating S's own layout in place, measured at 600 x 500, rank 8); one transposing copy at the end
    out = np.zeros((nb, nb, q, q), dtype=np.result_type(values.dtype, inverse.dtype))
    for t in range(starts.size - 1):
        lo, hi = starts[t], starts[t + 1]
        if lo == hi:
            continue
        k = hi - lo
        W = inverse[t] @ values[lo:hi]  # (B_t + sI)^-1 C_tl for the blocks of row t
        left = np.swapaxes(values[lo:hi], 1, 2).reshape(k * q, -1)  # rows (j, a): C_tj[:, a]
        right = np.swapaxes(W, 0, 1).reshape(-1, k * q)  # columns (l, b): W_tl[:, b]
        P = (left @ right).reshape(k, q, k, q).transpose(0, 2, 1, 3)  # P[j, l] = C_tj' (B_t + sI)^-1 C_tl
        J = cols[lo:hi]
        out[J[:, None], J[None, :]] -= P
    if A_blocks is not None:
        diag = np.arange(nb)
        out[diag, diag] += A_blocks
    S = out.transpose(0, 2, 1, 3).reshape(n, n)
    del out
    if A_dense is not None:
        S += A_dense
    if shift:
        S[np.diag_indices(n)] += shift
    return S


def full_coupling(C) -> bool:
    """Whether the scipy.sparse coupling C is full enough for :func:`dense_schur_complement` (more than
    ``DENSE_COUPLING`` of its entries nonzero, so at least that fraction of its blocks) and fits in
    ``DENSE_COUPLING_BYTES`` as a dense array: then its block form (:class:`BlockCoupling`) is not needed."""
    size = C.shape[0] * C.shape[1]
    return C.nnz > DENSE_COUPLING * size and size * C.dtype.itemsize <= DENSE_COUPLING_BYTES


def dense_schur_complement(C, inverse, A_blocks, A_dense, shift: float, *, factors=None):
    """:func:`schur_complement` for a dense coupling C (b p, n): (B + sI)^-1 C by one batched product, C' times
    it by one GEMM; or, given ``factors`` = :func:`inverse_factors` instead of ``inverse``, Y = L^-1 C by one
    batched product and C'(B + sI)^-1 C = Y'Y by one symmetric rank-k update (half a GEMM's work)."""
    b, p = (inverse if factors is None else factors).shape[:2]
    n = C.shape[1]
    if factors is None:
        W = (inverse @ C.reshape(b, p, n)).reshape(b * p, n)
        S = -(C.T @ W)
        S = 0.5 * (S + S.T)  # symmetric in exact arithmetic; Cholesky reads one triangle
    else:
        Y = (factors @ C.reshape(b, p, n)).reshape(b * p, n)
        S = -(Y.T @ Y)  # NumPy takes A'A as one syrk, symmetric to the last bit
    if A_blocks is not None:
        nb, q = A_blocks.shape[0], A_blocks.shape[1]
        blocks = S.reshape(nb, q, nb, q)
        diag = np.arange(nb)
        blocks[diag, :, diag, :] += A_blocks
    if A_dense is not None:
        S += A_dense
    if shift:
        S[np.diag_indices(n)] += shift
    return S


def cholesky_in_place(S, what: str):
    """A solver for ``S y = b`` from the Cholesky factor of the symmetric NumPy array S, which this call
    overwrites (LAPACK's potrf in place on S's transpose, reading S's lower triangle), or NotPositiveDefinite."""
    from scipy.linalg import cho_factor, cho_solve

    try:  # S' is S and Fortran-ordered, so LAPACK factors it in place: the upper factor U of S = U'U
        factor = cho_factor(S.T, lower=False, overwrite_a=True, check_finite=False)
    except np.linalg.LinAlgError:
        raise NotPositiveDefinite(f"{what} is not positive definite (its Cholesky factorization failed)") from None
    if not np.all(np.isfinite(np.diagonal(factor[0]))):
        raise NotPositiveDefinite(f"{what} is not positive definite (its Cholesky factor is not finite)")
    return lambda B: cho_solve(factor, B, check_finite=False)


def schur_diagonal_blocks(coupling: BlockCoupling, inverse, A_blocks, shift: float):
    """The (n/q, q, q) diagonal blocks of S: ``A_jj + sI - sum_t C_tj' (B_t + sI)^-1 C_tj``."""
    q = coupling.q
    nb = coupling.n // q
    values, order = coupling.values, coupling.by_column
    dtype = np.result_type(A_blocks.dtype, values.dtype)
    products = np.empty((values.shape[0], q, q), dtype=dtype)  # C_tj'(B_t + sI)^-1 C_tj, by block column
    chunk = 1 << 14  # blocks per batched product: the temporaries in proportion to a chunk, not to C
    for lo in range(0, values.shape[0], chunk):
        index = order[lo:lo + chunk]
        part = values[index]
        products[lo:lo + chunk] = np.swapaxes(part, 1, 2) @ (inverse[coupling.rows[index]] @ part)
    out = np.array(A_blocks, dtype=dtype, copy=True)
    present = coupling.column_starts[:-1] < coupling.column_starts[1:]
    if values.shape[0]:
        out[present] -= np.add.reduceat(products, coupling.column_starts[:-1][present], axis=0)
    if shift:
        out += shift * np.eye(q)
    return out.reshape(nb, q, q)


def prefer_iterative(rest_size: int) -> bool:
    """The rule choosing PCG on S over its exact factorization, for callers that accept a solve to a relative
    residual: S larger than ITERATIVE_ABOVE unknowns (its Cholesky costs n^3/3 flops and its formation one
    dense product per block row, while a PCG iteration costs two products with the sparse C)."""
    return rest_size > ITERATIVE_ABOVE


def iterative_schur_factorization(B_blocks, A_operator, A_blocks, shift: float, diagonal_blocks, products, *,
                                  rtol: float, size: int, exact, what: str) -> Factorization:
    """A Factorization of ``[[B, C], [C', A]] + shift I`` (B = diag(B_blocks) first, then A with the (n/q, q, q)
    diagonal blocks ``A_blocks``) whose solve runs PCG on the Schur complement to ``||c - S x|| <= rtol ||c||``
    for the reduced right-hand side c (the other block's equations then hold exactly; module docstring).
    ``diagonal_blocks(inverse, shift)``: S's diagonal blocks given the stack of (B_t + shift I)^-1
    (:func:`schur_diagonal_blocks` of a :class:`BlockCoupling`, or ``_op_rowblock.schur_diagonal``);
    ``products``: ``(v -> C v, u -> C' u)``. ``what`` names ``M + sI`` in messages. ``exact()`` returns the
    exact Factorization, used when PCG reaches its iteration cap. NotPositiveDefinite comes from this call (a
    block of B + sI or of S's block diagonal) or from solve (negative curvature met by CG)."""
    inverse = block_inverses(B_blocks, shift, f"{what}: its eliminated block diagonal")
    diagonal = diagonal_blocks(inverse, shift)
    preconditioner = block_inverses(diagonal, 0.0, f"{what}: the diagonal blocks of its Schur complement")
    b, p = B_blocks.shape[0], B_blocks.shape[1]
    n_e, q = b * p, A_blocks.shape[1]
    n = A_blocks.shape[0] * q
    c_matvec, c_rmatvec = products
    cap = int(PCG_ITERATIONS[0] * math.sqrt(n)) + PCG_ITERATIONS[1]
    fallback = []

    def solve_b(v):
        return (inverse @ v.reshape(b, p, 1)).reshape(n_e)

    def schur_product(v):
        return A_operator.matvec(v) + shift * v - c_rmatvec(solve_b(c_matvec(v)))

    def precondition(r):
        return (preconditioner @ r.reshape(-1, q, 1)).reshape(n)

    def pcg(c):
        """Algorithm 5.3 of Nocedal & Wright (2006) from x = 0 (residual r = S x - c), with the test for
        non-positive curvature; None at the iteration cap."""
        x = np.zeros_like(c)
        r = -c
        target = rtol * float(np.linalg.norm(c))
        if target == 0.0:
            return x
        y = precondition(r)
        d = -y
        ry = float(r @ y)
        for _ in range(cap):
            Sd = schur_product(d)
            curvature = float(d @ Sd)
            if not curvature > 0.0:
                raise NotPositiveDefinite(f"{what} is not positive definite: conjugate gradients on its Schur "
                                          "complement met a direction of non-positive curvature")
            alpha = ry / curvature
            x += alpha * d
            r += alpha * Sd
            if float(np.linalg.norm(r)) <= target:
                return x
            y = precondition(r)
            ry_next = float(r @ y)
            d = -y + (ry_next / ry) * d
            ry = ry_next
        return None

    def solve(Bm):
        columns = []
        for k in range(Bm.shape[1]):
            rhs = np.asarray(Bm[:, k])
            xr = pcg(rhs[n_e:] - c_rmatvec(solve_b(rhs[:n_e])))
            if xr is None:  # too slow to converge: the exact Schur complement
                if not fallback:
                    fallback.append(exact())
                columns.append(fallback[0].solve(rhs))
                continue
            columns.append(np.concatenate([solve_b(rhs[:n_e] - c_matvec(xr)), xr]))
        return np.stack(columns, axis=1)

    return Factorization(shift, "iterative-schur", size, NUMPY, solve)
