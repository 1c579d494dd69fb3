"""Sparse matrices whose every row lies in one block of columns, and the block forms of their Gram products.

A matrix factorization's residual Jacobian has this shape in each block column: the row of the residual
u_i'v_j - t_k is v_j' on the r columns of u_i and u_i' on the r columns of v_j, and nothing else. Read in
blocks of k columns (k = r), such a matrix A (m x b k) is the dense rows ``values`` (m, k) with the block
``block`` (m,) each row lies in, and everything the Gauss-Newton step needs from it is a sum over rows:

* the diagonal blocks of A' diag(w) A: ``G_t = sum_{rows i in block t} w_i a_i a_i'``, a batched outer
  product and a segmented sum (:meth:`RowBlocks.gram`), where scipy's general sparse product A'WA builds
  and sorts the same entries by column and then has them scattered into blocks;
* the diagonal blocks of the Schur complement S = A_R - C'(B + sI)^-1 C of the Gram matrix
  [[B, C], [C', A_R]] of [L R] (B = L'WL, C = L'WR, A_R = R'WR): where no two rows share both their block t
  in L and their block j in R (one residual per observed entry), C_tj = w_i l_i r_i' is of rank one and
  ``C_tj'(B_t + sI)^-1 C_tj = w_i^2 (l_i'(B_t + sI)^-1 l_i) r_i r_i'``, so that S's diagonal blocks are
  ``A_jj + sI - sum_{rows i in block j} w_i^2 s_i r_i r_i'`` with the scalars s_i = l_i'(B_t + sI)^-1 l_i
  (:func:`schur_diagonal`): k^2 flops per row, where the block form of C costs k^3 per nonzero block and
  needs C formed first (a sparse product with k^2 entries per row).

The row layout depends on the pattern alone and is made once per pattern (``_op_pattern``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _op_pattern

#: Rows per batched product: the temporaries stay in proportion to a chunk (k^2 entries per row).
_CHUNK = 1 << 12


@dataclass(frozen=True, eq=False)
class _RowLayout:
    """Where the stored entries of an (m, b k) CSR pattern go in the (m, k) rows: ``flat`` (``unique``: no two
    share a place), each row's ``block`` (0 for an empty row), ``filled`` the non-empty rows, and
    ``segments``, the indptr of the (b, m) CSC matrix with one entry per filled row (in its block's row), whose
    product with the rows' outer products sums them by block."""

    k: int
    count: int
    flat: np.ndarray
    unique: bool
    block: np.ndarray
    filled: np.ndarray
    segments: np.ndarray


@dataclass(frozen=True, eq=False)
class RowBlocks:
    """A sparse (m, count k) matrix whose rows each lie in one block of k columns: ``values`` (m, k) and the
    pattern's :class:`_RowLayout` (``block`` of each row)."""

    values: np.ndarray
    layout: _RowLayout

    k = property(lambda self: self.layout.k)
    count = property(lambda self: self.layout.count)
    block = property(lambda self: self.layout.block)
    filled = property(lambda self: self.layout.filled)

    @classmethod
    def of(cls, matrix, k: int | None = None, max_block: int = 64) -> RowBlocks | None:
        """The row form of the real scipy.sparse ``matrix`` in blocks of ``k`` columns, or with k None the
        smallest k <= max_block (a divisor of the column count giving at least two blocks) in which it has
        one; None where there is none (a row crosses a block boundary) or the matrix stores no entry."""
        import scipy.sparse as sp

        matrix = sp.csr_array(matrix)
        if matrix.nnz == 0 or matrix.dtype.kind != "f":
            return None
        plan = _op_pattern.layout("row blocks", (k, max_block), matrix, lambda M: _row_layout(M, k, max_block))
        if plan is None:
            return None
        values = _op_pattern.scatter(matrix.shape[0] * plan.k, plan.flat, matrix.data, plan.unique)
        return cls(values.reshape(-1, plan.k), plan)

    def gram(self, weights=None):
        """The (count, k, k) diagonal blocks of A' diag(weights) A (weights None: the identity): the rows'
        outer products summed by block, one sparse product per chunk of rows."""
        import scipy.sparse as sp

        layout, (m, k) = self.layout, self.values.shape
        block, filled, indptr = layout.block[layout.filled], layout.filled, layout.segments
        w = np.ones(block.size, dtype=self.values.dtype) if weights is None else np.asarray(weights)[filled]
        out = np.zeros((layout.count, k * k), dtype=np.result_type(self.values.dtype, w.dtype))
        for lo in range(0, m, _CHUNK):
            hi = min(lo + _CHUNK, m)
            first, last = indptr[lo], indptr[hi]
            sums = sp.csc_array((w[first:last], block[first:last], indptr[lo:hi + 1] - first),
                                shape=(layout.count, hi - lo))
            a = self.values[lo:hi]
            out += sums @ np.einsum("ki,kj->kij", a, a).reshape(hi - lo, k * k)
        return out.reshape(-1, k, k)


def _row_layout(matrix, k: int | None, max_block: int) -> _RowLayout | None:
    """The :class:`_RowLayout` of a CSR pattern for block size k (None: the smallest that fits; see
    :meth:`RowBlocks.of`), or None."""
    m, n = matrix.shape
    indptr, indices = matrix.indptr, matrix.indices
    filled = np.diff(indptr) > 0
    first = indptr[:-1][filled]
    low = np.minimum.reduceat(indices, first)  # the segments of the filled rows, in order, cover every entry
    high = np.maximum.reduceat(indices, first)
    spread = int((high - low).max()) + 1
    sizes = [k] if k is not None else range(spread, min(max_block, n // 2) + 1)
    for size in sizes:
        if size >= spread and n % size == 0 and np.array_equal(low // size, high // size):
            break
    else:
        return None
    block = np.zeros(m, dtype=np.int64)
    block[filled] = low // size
    flat = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr)) * size + indices % size
    segments = np.concatenate(([0], np.cumsum(filled)))
    return _RowLayout(size, n // size, flat, _op_pattern.all_distinct(flat, m * size), block, filled, segments)


def distinct_pairs(left: RowBlocks, right: RowBlocks) -> bool:
    """Whether no two rows filled in both ``left`` and ``right`` lie in the same pair of blocks."""
    both = left.filled & right.filled
    return _op_pattern.all_distinct(left.block[both] * right.count + right.block[both], left.count * right.count)


def schur_diagonal(left: RowBlocks, w, right: RowBlocks, inverse, A_blocks, shift: float):
    """The (right.count, q, q) diagonal blocks of ``S = A + sI - C'(B + sI)^-1 C`` for C = L' diag(w) R, L and R
    row forms (``left``, ``right``) with distinct pairs of blocks (:func:`distinct_pairs`), ``inverse`` the
    (left.count, p, p) stack of (B_t + sI)^-1 and ``A_blocks`` A's diagonal blocks (module docstring)."""
    rows = np.flatnonzero(left.filled & right.filled)
    s = np.zeros(left.values.shape[0], dtype=np.result_type(left.values.dtype, inverse.dtype))
    for lo in range(0, rows.size, _CHUNK):
        part = rows[lo:lo + _CHUNK]
        a = left.values[part]
        s[part] = np.einsum("ki,kij,kj->k", a, inverse[left.block[part]], a, optimize=True)
    if w is not None:
        s *= w * w
    out = np.asarray(A_blocks, dtype=np.result_type(A_blocks.dtype, s.dtype)) - right.gram(s)
    if shift:
        out += shift * np.eye(out.shape[1])
    return out
