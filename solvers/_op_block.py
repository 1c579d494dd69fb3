"""Block operators ``[[A_11, ..., A_1k], ..., [A_k1, ..., A_kk]]`` and the weighted products ``L' diag(w) R``
that appear in the Gram matrix of a block operator.

Shifted solves of a symmetric block operator (``BlockOperator._factorize``):

1. Schur complement. A set E of diagonal blocks that are cheap to invert (diagonal, scaled identity, block
   diagonal, Kronecker; a zero block with a positive shift) and not coupled to each other is eliminated, the
   largest first. With R the remaining blocks, ``M + sI = [[A_EE + sI, A_ER], [A_RE, A_RR + sI]]`` is positive
   definite iff ``A_EE + sI`` and the Schur complement ``S = A_RR + sI - A_RE (A_EE + sI)^-1 A_ER`` are
   (Zhang, ed., "The Schur Complement and Its Applications", Springer 2005, Theorem 1.12). S is formed densely
   (it is the small part) from products with identity columns, a few columns at a time, and factorized by
   Cholesky; a solve is two solves with the eliminated blocks and one with S (Golub & Van Loan 2013, Sec. 3.2.10).
   Eliminating the cheaply invertible block in whichever corner it is keeps S the size of the rest. One block
   diagonal eliminated onto a block-diagonal (or diagonal) rest through a sparse coupling, the shape of a
   factorization's Hessian and of its Gauss-Newton matrix J'J + D, forms S block row by block row in
   :mod:`._op_schur`; :meth:`BlockOperator.solver` with a tolerance solves that case by conjugate gradients
   on S instead, without forming it (Ceres Solver's ITERATIVE_SCHUR; the side with fewer blocks eliminated,
   ITERATIVE_FEWER_BLOCKS_RATIO), and :meth:`BlockOperator.preconditioner` gives the block elimination
   with S replaced by its block diagonal (a preconditioner for trust-ncg). Where the coupling is the Gram
   block L' diag(w) R of sparse matrices whose rows each lie in one block (a factorization's Jacobian), S's
   diagonal blocks and the block-diagonal forms of L'WL and R'WR are summed from the rows (``_op_rowblock``)
   and the coupling itself is never formed.
2. Every block has a scipy.sparse form: the sparse symmetric LDL' of the assembled matrix.
3. Otherwise the dense fallback (Cholesky of ``to_dense() + sI``).

A block operator whose dense form is small (``DENSE_BYTES``) is densified once and takes the dense route
throughout (products, Gram, solves): many small blocks cost more in bookkeeping than one BLAS call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import singledispatch

import numpy as np

from . import _linalg, _op_pattern
from ._op_base import (
    NUMPY,
    Factorization,
    NotPositiveDefinite,
    Operator,
    check_scalar,
    check_shift,
    cholesky_solver,
    dense_factorization,
    nbytes_of,
    sparse_spd_solver,
)
from ._op_compose import SumOperator, as_operator, host_sparse
from ._op_elementary import DiagonalOperator, ScaledIdentity, SparseOperator, _set
from ._op_gram import GramOperator, _sparse_diag
from ._op_rowblock import RowBlocks, distinct_pairs, schur_diagonal
from ._op_schur import (
    BlockCoupling,
    block_inverses,
    cholesky_in_place,
    dense_schur_complement,
    full_coupling,
    inverse_factors,
    iterative_schur_factorization,
    prefer_iterative,
    schur_complement,
    schur_diagonal_blocks,
)
from ._op_structured import BlockDiagonalOperator

_CHUNK_ENTRIES = 1 << 22  # entries of the dense column chunks used to form a Schur complement (32 MiB in float64)


def _offsets(sizes):
    out = [0]
    for size in sizes:
        out.append(out[-1] + size)
    return out


@dataclass(frozen=True, eq=False)
class _SchurSetting:
    """A block diagonal (b, p, p) eliminated onto a rest with (n/q, q, q) diagonal blocks through the coupling
    block ``owner.blocks[E][R]`` of the BlockOperator ``owner``. Its scipy.sparse form :attr:`C` and block form
    :attr:`coupling` are made on first use and kept in the owner's cache (the diagonal blocks of the Schur
    complement by row forms and PCG's products through the coupling's factors need neither). ``rows``: the
    coupling L' diag(w) R as ``(left, w, right)`` row forms (``_op_rowblock``) where L and R have them with
    distinct pairs of blocks, else None."""

    B_blocks: object
    A_blocks: object
    owner: object
    E: int
    R: int
    rows: tuple | None

    @property
    def C(self):
        key = ("coupling", self.E, self.R)
        if key not in self.owner._cache:  # BlockCoupling.of makes its own canonical copy
            self.owner._cache[key] = self.owner._host_sparse_part([self.E], [self.R])
        return self.owner._cache[key]

    @property
    def coupling(self) -> BlockCoupling:
        key = ("block coupling", self.E, self.R, self.B_blocks.shape[1], self.A_blocks.shape[1])
        if key not in self.owner._cache:
            self.owner._cache[key] = BlockCoupling.of(self.C, self.B_blocks.shape[1], self.A_blocks.shape[1])
        return self.owner._cache[key]

    def diagonal_blocks(self, inverse, shift: float):
        """The diagonal blocks of the Schur complement, ``inverse`` the stack of (B_t + shift I)^-1."""
        if self.rows is not None:
            left, w, right = self.rows
            return schur_diagonal(left, w, right, inverse, self.A_blocks, shift)
        return schur_diagonal_blocks(self.coupling, inverse, self.A_blocks, shift)


def _diagonal_blocks(form):
    """The (n/q, q, q) NumPy stack of a block-diagonal, diagonal or scaled-identity operator, else None."""
    if isinstance(form, BlockDiagonalOperator) and form.xp is NUMPY and form.symmetric:
        return np.asarray(form.blocks)
    if isinstance(form, DiagonalOperator) and form.xp is NUMPY:
        return np.asarray(form.d)[:, None, None]
    if isinstance(form, ScaledIdentity) and form.xp is NUMPY:
        return np.full((form.n, 1, 1), form.c)
    return None


#: Operators of at most this size are factorized densely: one Cholesky of a 500 x 500 matrix takes a few ms,
#: while a Schur complement over many small blocks pays per block (a 12 x 10 factorization's trust-exact solve
#: took 35 s through the Schur path with threaded BLAS, 13 s densely).
DENSE_BELOW = 512
#: A block operator whose dense form holds at most this many bytes is densified once (cached) and then behaves
#: as that array: products are one BLAS call, its Gram is the dense ``A' W A``, solves a dense Cholesky. A
#: two-hidden-layer MLP's 70 x 47 residual Jacobian (``problems.get("mlp", hidden=(5, 3))``) is a grid of 6
#: block columns of nested blocks; Levenberg-Marquardt through the structure took 683 s for 1473 evaluations
#: on a loaded 2-core VM (each factorization rebuilt J'J from thousands of small products), through the dense
#: route 6.7 s for 909, the same iterates as with the dense Jacobian. 4 MiB is a few ms of BLAS for any
#: product or Gram, and far below the structures that matter (a 600 x 500 factorization's J is 2.7 GB dense).
DENSE_BYTES = 4 << 20
#: On the iterative Schur route of :meth:`BlockOperator.solver` with two block-diagonal sides, the side with
#: fewer blocks (in a factorization, the side observed more often per block) is eliminated and CG runs on the
#: other, where the other side has at least this many times as many blocks; otherwise the larger side is
#: eliminated, as on the exact route (whose S is then smaller). A PCG iteration costs the same either way
#: (four products with J's blocks); the block-Jacobi preconditioner does better with the sparsely observed
#: blocks kept in S. Measured with Gauss-Newton from random starts (benchmarks/second_order.py, one core):
#: MovieLens-shaped 943 x 1682 rank 10 (943 user blocks with at least 20 ratings each, 1682 item blocks, some
#: rated once; ratio 1.78), 3 starts, 36.5 s in all eliminating the users against 48.9 s eliminating the items
#: (76 against 127 CG iterations per step on one start), and over 50 starts 12.6 s median, 0.49x L-BFGS-B;
#: 600 x 500 rank 8, 90% missing (600 and 500 blocks, ratio 1.2), the two choices level in time (6 starts,
#: 9.8 s against 9.4 s in all; 44 against 48 iterations per step) but over 50 starts eliminating the 500
#: blocks reached the best value from 48 (1.06x L-BFGS-B), eliminating the 600 from 50 (1.18x).
ITERATIVE_FEWER_BLOCKS_RATIO = 1.5
#: An assembled block operator with more nonzeros than this fraction of its entries is factorized densely:
#: a sparse LDL' of a 900 x 900 matrix this full took 0.4 s (a Gauss-Newton step of a 100 x 80 factorization),
#: a dense Cholesky 0.01 s.
SPARSE_FILL = 0.05


@dataclass(frozen=True, eq=False, repr=False, init=False)
class BlockOperator(Operator):
    """A k x k (or k x l) grid of operators (arrays are converted with :func:`as_operator`; None is a zero
    block). Blocks in one block row share their number of rows, blocks in one block column their number of
    columns. ``symmetric`` None: detected (aligned partition, symmetric diagonal blocks, and each off-diagonal
    pair ``A_ji = A_ij'`` checked on one random pair of vectors). Solves: see the module docstring."""

    blocks: tuple
    row_sizes: tuple
    col_sizes: tuple
    symmetric: bool

    def __init__(self, blocks, symmetric=None):
        if not isinstance(blocks, (list, tuple)) or not blocks or not all(isinstance(r, (list, tuple)) for r in blocks):
            raise TypeError(f"BlockOperator: blocks must be a non-empty list of lists of operators; got "
                            f"{type(blocks).__name__}")
        width = len(blocks[0])
        if width == 0 or any(len(row) != width for row in blocks):
            raise ValueError(f"BlockOperator: every block row needs the same, non-zero number of blocks; got rows "
                             f"of lengths {[len(row) for row in blocks]}")
        grid = tuple(tuple(None if b is None else as_operator(b) for b in row) for row in blocks)
        rows = [self._size(grid, i, None, 0) for i in range(len(grid))]
        cols = [self._size(grid, None, j, 1) for j in range(width)]
        present = [b for row in grid for b in row if b is not None]
        for b in present[1:]:
            if b.xp is not present[0].xp:
                raise TypeError(f"BlockOperator: blocks compute on different libraries ({present[0].xp.__name__}, "
                                f"{b.xp.__name__})")
        _set(self, blocks=grid, row_sizes=tuple(rows), col_sizes=tuple(cols), symmetric=False,
             _cache={})  # structure read once and reused by every shift: block-diagonal forms, block couplings
        if symmetric is None:
            symmetric = self._detect_symmetric()
        elif symmetric and rows != cols:
            raise ValueError(f"BlockOperator: symmetric=True needs square diagonal blocks; row sizes {rows}, "
                             f"column sizes {cols}")
        _set(self, symmetric=bool(symmetric))

    @staticmethod
    def _size(grid, i, j, axis):
        cells = [(i, c) for c in range(len(grid[0]))] if j is None else [(r, j) for r in range(len(grid))]
        sizes = {(r, c): grid[r][c].shape[axis] for r, c in cells if grid[r][c] is not None}
        what = f"block row {i}" if j is None else f"block column {j}"
        if not sizes:
            raise ValueError(f"BlockOperator: {what} has only None blocks, so its size is unknown")
        (first, size), *others = sizes.items()
        for cell, other in others:
            if other != size:
                dim = "rows" if axis == 0 else "columns"
                raise ValueError(f"BlockOperator: in {what}, block {cell} has {other} {dim} but block {first} has "
                                 f"{size}")
        return size

    shape = property(lambda self: (sum(self.row_sizes), sum(self.col_sizes)))
    xp = property(lambda self: next(b for row in self.blocks for b in row if b is not None).xp)
    dtype = property(lambda self: np.result_type(*(b.dtype for row in self.blocks for b in row if b is not None)))
    @property
    def nbytes(self):
        """Bytes held by the blocks, each sparse matrix's arrays once (a block below the diagonal is often the
        transposed view of the one above, sharing its arrays), plus the cached dense form of a small one."""
        seen, total = set(), nbytes_of(self._cache.get("dense"))
        for b in (b for row in self.blocks for b in row if b is not None):
            data = getattr(getattr(b, "A", None), "data", None) if isinstance(b, SparseOperator) else None
            if data is not None:
                address = data.__array_interface__["data"][0]  # a view's data is a new array on the same buffer
                if address in seen:
                    continue
                seen.add(address)
            total += b.nbytes
        return total

    def _detect_symmetric(self) -> bool:
        k = len(self.blocks)
        if self.row_sizes != self.col_sizes:
            return False
        rng = np.random.default_rng(0)
        for i in range(k):
            if self.blocks[i][i] is not None and not self.blocks[i][i].symmetric:
                return False
            for j in range(i + 1, k):
                upper, lower = self.blocks[i][j], self.blocks[j][i]
                if upper is None and lower is None:
                    continue
                if upper is None or lower is None:
                    return False
                u = self.xp.asarray(rng.standard_normal((self.row_sizes[i], 1)))
                v = self.xp.asarray(rng.standard_normal((self.row_sizes[j], 1)))
                uv, vu = upper._matmat(v), lower._matmat(u)  # u' A_ij v against v' A_ji u
                left, right = float(self.xp.sum(u * uv)), float(self.xp.sum(v * vu))
                scale = float(self.xp.linalg.vector_norm(u)) * float(self.xp.linalg.vector_norm(uv)) + float(
                    self.xp.linalg.vector_norm(v)) * float(self.xp.linalg.vector_norm(vu))
                if abs(left - right) > 1e-8 * scale:
                    return False
        return True

    # ---- products over a subset of the blocks ------------------------------------------------------------
    def _apply(self, rows, cols, pieces, k, transpose=False):
        """``{i: sum_j A_ij pieces[j]}`` for i in rows and j in cols (pieces[j] of shape (n_j, k)); with
        ``transpose``, ``{i: sum_j A_ji' pieces[j]}``."""
        out = {}
        for i in rows:
            if transpose:
                terms = [self.blocks[j][i]._rmatmat(pieces[j]) for j in cols if self.blocks[j][i] is not None]
            else:
                terms = [self.blocks[i][j]._matmat(pieces[j]) for j in cols if self.blocks[i][j] is not None]
            size = self.col_sizes[i] if transpose else self.row_sizes[i]
            out[i] = sum(terms[1:]) + terms[0] if terms else self.xp.zeros((size, k), dtype=self.dtype)
        return out

    def _split(self, V, sizes):
        offsets = _offsets(sizes)
        return {j: V[offsets[j]:offsets[j + 1]] for j in range(len(sizes))}

    def _join(self, parts, count):
        return self.xp.concat([parts[i] for i in range(count)], axis=0)

    # ---- the dense route of small block operators (DENSE_BYTES) ---------------------------------------------
    @property
    def small(self) -> bool:
        """Whether the dense form holds at most ``DENSE_BYTES`` bytes: such an operator densifies once and uses
        the dense route (products, Gram, solves), whose one BLAS call beats many products with small blocks."""
        return self.shape[0] * self.shape[1] * np.dtype(self.dtype).itemsize <= DENSE_BYTES

    def dense_array(self):
        """The dense form, assembled once and cached (the operator is immutable; do not write into it)."""
        if "dense" not in self._cache:
            self._cache["dense"] = self._assemble()
        return self._cache["dense"]

    def _matmat(self, V):
        if self.small:
            return self.dense_array() @ V
        k = len(self.blocks)
        pieces = self._split(V, self.col_sizes)
        return self._join(self._apply(range(k), range(len(self.col_sizes)), pieces, V.shape[1]), k)

    def _rmatmat(self, U):
        if self.small:
            return self.xp.linalg.matrix_transpose(self.dense_array()) @ U
        width = len(self.col_sizes)
        pieces = self._split(U, self.row_sizes)
        return self._join(self._apply(range(width), range(len(self.row_sizes)), pieces, U.shape[1], True), width)

    @property
    def T(self):
        if self.symmetric:
            return self
        grid = [[None if b is None else b.T for b in column] for column in zip(*self.blocks)]
        return BlockOperator(grid, False)

    def diagonal(self):
        """The diagonal blocks' diagonals when the partition is aligned; otherwise from ``to_dense()``."""
        if self.row_sizes != self.col_sizes or self.small:
            return self.xp.linalg.diagonal(self.to_dense())
        parts = [self.xp.zeros((size,), dtype=self.dtype) if self.blocks[i][i] is None
                 else self.blocks[i][i].diagonal() for i, size in enumerate(self.row_sizes)]
        return self.xp.concat(parts)

    def to_dense(self):
        """The dense form: cached for a small operator (:attr:`small`), assembled on each call otherwise."""
        return self.dense_array() if self.small else self._assemble()

    def _assemble(self):
        xp = self.xp
        rows = [xp.concat([xp.zeros((m, n), dtype=self.dtype) if b is None else xp.asarray(
                               b._assemble() if isinstance(b, BlockOperator) else b.to_dense())
                           for b, n in zip(row, self.col_sizes)], axis=1)
                for row, m in zip(self.blocks, self.row_sizes)]
        return xp.concat(rows, axis=0)

    def norm_estimate(self) -> float:
        """sqrt(sum of the blocks' estimates squared): exact when theirs are."""
        return math.sqrt(sum(b.norm_estimate() ** 2 for row in self.blocks for b in row if b is not None))

    def _scaled(self, c):
        return BlockOperator([[None if b is None else b._scaled(c) for b in row] for row in self.blocks],
                             self.symmetric)

    def gram(self, weights=None):
        """``J' W J`` block by block: diagonal blocks ``sum_r A_rj' W_r A_rj`` as Gram operators of the blocks
        (block structure kept), off-diagonal blocks ``sum_r A_ri' W_r A_rj`` as weighted products. A small
        operator (:attr:`small`) gives the dense ``A' W A`` instead."""
        if self.small:
            from ._op_elementary import DenseOperator, _weights

            A = self.dense_array()
            At = self.xp.linalg.matrix_transpose(A)
            if weights is not None:
                A = _weights(self.xp, weights, self.shape[0], "BlockOperator.gram")[:, None] * A
            return DenseOperator(At @ A, True)
        w = None
        if weights is not None:
            from ._op_elementary import _weights

            w = self._split(_weights(self.xp, weights, self.shape[0], "BlockOperator.gram"), self.row_sizes)
        width = len(self.col_sizes)
        grid = []
        for i in range(width):
            row = []
            for j in range(width):
                terms = [self.blocks[r][i].gram(None if w is None else w[r]) if i == j else
                         WeightedProductOperator(self.blocks[r][i], None if w is None else w[r], self.blocks[r][j])
                         for r in range(len(self.blocks))
                         if self.blocks[r][i] is not None and self.blocks[r][j] is not None]
                row.append(None if not terms else terms[0] if len(terms) == 1 else SumOperator(terms))
            grid.append(row)
        for i in range(width):  # a column that meets no other column still needs its diagonal block
            if grid[i][i] is None:
                grid[i][i] = ScaledIdentity(self.col_sizes[i], 0.0, self._like())
        return BlockOperator(grid, True)

    # ---- solves ------------------------------------------------------------------------------------------
    def _cheap_forms(self, shift):
        """{i: an operator for diagonal block i that is cheap to invert}: the block itself when cheaply
        invertible, its block-diagonal form when it is a sparse matrix with that pattern, ``0 I`` for a zero
        block when the shift is positive."""
        forms = {}
        for i, size in enumerate(self.row_sizes):
            block = self.blocks[i][i]
            if block is None:
                if shift > 0:
                    forms[i] = ScaledIdentity(size, 0.0, self._like())
            elif block.cheaply_invertible:
                forms[i] = block
            else:
                key = ("pattern", i)
                if key not in self._cache:
                    self._cache[key] = block_diagonal_form(block)
                if self._cache[key] is not None:
                    forms[i] = self._cache[key]
        return forms

    def _eliminable(self, forms):
        """Indices of uncoupled, cheaply invertible diagonal blocks, the largest first (module docstring)."""
        chosen = []
        for i in sorted(forms, key=lambda i: -self.row_sizes[i]):
            if all(self.blocks[i][j] is None and self.blocks[j][i] is None for j in chosen):
                chosen.append(i)
        return sorted(chosen)

    def _factorize(self, shift):
        if self.shape[0] <= DENSE_BELOW or self.small:  # the structure's bookkeeping costs more (DENSE_BYTES)
            return dense_factorization(self, shift, "cholesky")
        forms = self._cheap_forms(shift)
        eliminated = self._eliminable(forms)
        if eliminated:
            rest = [i for i in range(len(self.blocks)) if i not in eliminated]
            return self._schur(shift, eliminated, rest, forms)
        if self.xp is NUMPY:
            everything = range(len(self.blocks))
            matrix = self._host_sparse_part(everything, everything)
            if matrix is not None and matrix.nnz <= SPARSE_FILL * self.shape[0] ** 2:
                import scipy.sparse as sp

                M = matrix + shift * sp.identity(self.shape[0], format="csr") if shift else matrix
                solve = sparse_spd_solver(M, f"BlockOperator + {shift:g}*I")
                return Factorization(shift, "sparse-ldl", self.shape[0], NUMPY, solve)
        return dense_factorization(self, shift, "dense-fallback")

    def solver(self, shift: float = 0.0, rtol: float | None = None) -> Factorization:
        """A solver of ``(A + shift I) x = b``: :meth:`factorize` when ``rtol`` is None; otherwise, for a block
        diagonal eliminated onto a block-diagonal rest of more than ``_op_schur.ITERATIVE_ABOVE`` unknowns, the
        preconditioned conjugate gradients on the Schur complement to relative residual ``rtol``
        (:func:`._op_schur.iterative_schur_factorization`), whose ``solve`` may raise NotPositiveDefinite."""
        if rtol is None:
            return self.factorize(shift)
        rtol = check_scalar(rtol, f"{self.name}.solver(rtol)")
        if not 0.0 < rtol < 1.0:
            raise ValueError(f"{self.name}.solver: rtol must lie in (0, 1); got {rtol}")
        shift = check_shift(shift, self.name)
        route = self._iterative_route(shift, fewer_blocks=True)
        if route is None:
            return self.factorize(shift)
        E, R, forms, setting = route
        upper, lower = self.blocks[E[0]][R[0]], self.blocks[R[0]][E[0]]
        # products with the coupling: a sparse block as BSR of the block form (shares its values); any other
        # (the Gram's J_U' W J_V of a least-squares problem) through its own factors, cheaper than the product
        matvec = setting.coupling.bsr().__matmul__ if isinstance(upper, SparseOperator) else upper.matvec
        factorization = iterative_schur_factorization(
            setting.B_blocks, forms[R[0]], setting.A_blocks, shift, setting.diagonal_blocks,
            (matvec, lower.matvec), rtol=rtol, size=self.shape[0], exact=lambda: self.factorize(shift),
            what=f"BlockOperator + {shift:g}*I")
        if E[0] == 0:
            return factorization
        n_r = self.row_sizes[0]  # the eliminated block is the second: reorder to (eliminated, rest) and back

        def solve(B):
            X = factorization._solve_matrix(np.concatenate([B[n_r:], B[:n_r]], axis=0))
            return np.concatenate([X[X.shape[0] - n_r:], X[:X.shape[0] - n_r]], axis=0)

        return Factorization(shift, factorization.method, self.shape[0], NUMPY, solve)

    def preconditioner(self, shift: float = 0.0) -> Factorization:
        """:meth:`factorize`, except where :meth:`solver` with a tolerance would take the iterative Schur route
        (the exact Schur complement would be a large dense matrix): there ``M = L diag(B + sI, S_hat) L'`` with
        ``L = [[I, 0], [C'(B + sI)^-1, I]]`` and S_hat the block diagonal of the Schur complement S, i.e. the
        exact block elimination with S replaced by its block-Jacobi approximation (the preconditioner of
        ``_op_schur``'s conjugate gradients; Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed., 2003,
        Sec. 10.1 and 10.5 for block-Jacobi and block-LU preconditioners). M is symmetric positive definite
        when B + sI and S_hat are (checked by their Cholesky factors: NotPositiveDefinite otherwise); applying
        M^-1 costs two batched solves with the blocks of B + sI, one with those of S_hat and one product with
        each of C and C'. Memory: the blocks of B and S_hat, never S (4000 x 4000, 128 MB, for a 600 x 500
        factorization of rank 8)."""
        shift = check_shift(shift, self.name)
        route = self._iterative_route(shift)
        if route is None:
            return self.factorize(shift)
        E, R, _forms, setting = route
        what = f"BlockOperator + {shift:g}*I"
        inverse = block_inverses(setting.B_blocks, shift, f"{what}: its eliminated block diagonal")
        diagonal = setting.diagonal_blocks(inverse, shift)
        approximate = block_inverses(diagonal, 0.0, f"{what}: the diagonal blocks of its Schur complement")
        b, p = setting.B_blocks.shape[0], setting.B_blocks.shape[1]
        n_e, q = b * p, setting.A_blocks.shape[1]
        upper, lower = self.blocks[E[0]][R[0]], self.blocks[R[0]][E[0]]
        first = E[0] == 0

        def solve(Bm):
            B_e, B_r = (Bm[:n_e], Bm[n_e:]) if first else (Bm[Bm.shape[0] - n_e:], Bm[:Bm.shape[0] - n_e])
            k = Bm.shape[1]
            x_e = (inverse @ B_e.T.reshape(k, b, p, 1)).reshape(k, n_e).T
            c = B_r - lower._matmat(x_e)
            x_r = (approximate @ c.T.reshape(k, -1, q, 1)).reshape(k, -1).T
            x_e = (inverse @ (B_e - upper._matmat(x_r)).T.reshape(k, b, p, 1)).reshape(k, n_e).T
            return np.concatenate([x_e, x_r] if first else [x_r, x_e], axis=0)

        return Factorization(shift, "block-jacobi-schur", self.shape[0], NUMPY, solve)

    def _iterative_route(self, shift, fewer_blocks: bool = False):
        """``(E, R, forms, setting)`` where a solve with a tolerance takes the iterative Schur route, else None.
        ``fewer_blocks``: eliminate the side with fewer blocks where both are block diagonal (PCG's choice,
        ITERATIVE_FEWER_BLOCKS_RATIO), else the larger side."""
        if (self.xp is not NUMPY or not self.symmetric or self.shape[0] <= DENSE_BELOW or self.small
                or self.shape[0] != self.shape[1] or len(self.blocks) != 2):
            return None
        forms = self._cheap_forms(shift)
        eliminated = self._eliminable(forms)
        if len(eliminated) != 1:
            return None
        E, R = eliminated, [1 - eliminated[0]]
        if not prefer_iterative(self.row_sizes[R[0]]):  # the exact Schur complement is small: no iterations
            return None
        other = forms.get(R[0])
        if (fewer_blocks and isinstance(other, BlockDiagonalOperator) and isinstance(forms[E[0]], BlockDiagonalOperator)
                and ITERATIVE_FEWER_BLOCKS_RATIO * other.blocks.shape[0] <= forms[E[0]].blocks.shape[0]):
            E, R = R, E  # CG on the side with many more blocks (ITERATIVE_FEWER_BLOCKS_RATIO)
        setting = self._schur_setting(E, R, forms)
        if setting is None:
            return None
        return E, R, forms, setting

    def _schur_setting(self, E, R, forms):
        """The one-block-diagonal-onto-block-diagonal setting of :mod:`._op_schur` (NumPy, symmetric, one
        eliminated block diagonal E with p x p blocks, one rest R whose form is block diagonal with q x q
        blocks, or diagonal, and a sparse coupling), with the coupling's block form cached; None otherwise."""
        if not self.symmetric or len(E) != 1 or len(R) != 1 or not isinstance(forms.get(E[0]), BlockDiagonalOperator):
            return None
        B_blocks = np.asarray(forms[E[0]].blocks)
        A_blocks = _diagonal_blocks(forms.get(R[0]))
        if A_blocks is None or B_blocks.shape[1] != B_blocks.shape[2]:
            return None
        rows = self._coupling_rows(E[0], R[0], B_blocks.shape, A_blocks.shape)
        setting = _SchurSetting(B_blocks, A_blocks, self, E[0], R[0], rows)
        if rows is None and setting.C is None:
            return None
        return setting

    def _coupling_rows(self, e: int, r: int, B_shape, A_shape):
        """The coupling block ``L' diag(w) R`` (e, r) of a Gram matrix as ``(left, w, right)`` row forms in
        blocks of B's and A's block sizes, where L and R are NumPy sparse matrices that have them and no two
        rows share their pair of blocks (``_op_rowblock.schur_diagonal``); None otherwise. Kept in the cache."""
        key = ("coupling rows", e, r, B_shape[1], A_shape[1])
        if key not in self._cache:
            found = None
            upper = self.blocks[e][r]
            if (isinstance(upper, WeightedProductOperator) and isinstance(upper.left, SparseOperator)
                    and isinstance(upper.right, SparseOperator) and upper.xp is NUMPY):
                left = RowBlocks.of(upper.left.A, B_shape[1])
                right = None if left is None else RowBlocks.of(upper.right.A, A_shape[1])
                if (right is not None and left.count == B_shape[0] and right.count == A_shape[0]
                        and distinct_pairs(left, right)):
                    found = (left, None if upper.w is None else np.asarray(upper.w), right)
            self._cache[key] = found
        return self._cache[key]

    def _host_sparse_part(self, rows, cols):
        """The blocks (rows x cols) assembled as one scipy.sparse CSR array, or None if one has no sparse form."""
        import scipy.sparse as sp

        if len(rows) == 1 and len(cols) == 1 and self.blocks[rows[0]][cols[0]] is not None:
            return host_sparse(self.blocks[rows[0]][cols[0]])  # one block: its own form, not a copy
        parts = []
        for i in rows:
            row = []
            for j in cols:
                block = self.blocks[i][j]
                part = sp.csr_array((self.row_sizes[i], self.col_sizes[j])) if block is None else host_sparse(block)
                if part is None:
                    return None
                row.append(part)
            parts.append(row)
        return sp.bmat(parts, format="csr")

    def _dense_part(self, rows, cols):
        xp = self.xp
        return xp.concat([xp.concat([xp.zeros((self.row_sizes[i], self.col_sizes[j]), dtype=self.dtype)
                                     if self.blocks[i][j] is None else xp.asarray(self.blocks[i][j].to_dense())
                                     for j in cols], axis=1) for i in rows], axis=0)

    def _block_factor(self, i, shift, forms):
        try:
            return forms[i]._factorize(shift)._solve_matrix
        except NotPositiveDefinite as exc:
            raise NotPositiveDefinite(f"BlockOperator + {shift:g}*I: diagonal block {i}: {exc}") from None

    def _schur(self, shift, E, R, forms):
        xp = self.xp
        solvers = {i: self._block_factor(i, shift, forms) for i in E}
        S_solve = None
        if R:
            S = self._schur_complement_sparse(shift, E, R, forms)
            if S is None:
                S = self._schur_complement(shift, E, R, solvers)
            what = f"the Schur complement of BlockOperator + {shift:g}*I"
            S_solve = cholesky_in_place(S, what) if xp is NUMPY else cholesky_solver(xp, S, what)
        sizes, r_offsets = self.row_sizes, _offsets([self.row_sizes[j] for j in R])

        def solve(B):
            k = B.shape[1]
            b = self._split(B, sizes)
            x = {i: solvers[i](b[i]) for i in E}
            if R:
                coupled = self._apply(R, E, x, k)
                x_rest = S_solve(xp.concat([b[j] - coupled[j] for j in R], axis=0))
                for t, j in enumerate(R):
                    x[j] = x_rest[r_offsets[t]:r_offsets[t + 1]]
                back = self._apply(E, R, x, k)
                x.update({i: solvers[i](b[i] - back[i]) for i in E})
            return self._join(x, len(sizes))

        return Factorization(shift, "schur" if R else "block-diagonal", self.shape[0], xp, solve)

    def _finish_schur(self, S, shift):
        xp = self.xp
        S = 0.5 * (S + xp.linalg.matrix_transpose(S))
        return S + shift * _linalg.identity(xp, S.shape[0], S) if shift else S

    def _schur_complement_sparse(self, shift, E, R, forms):
        """S through sparse products, when the eliminated blocks have sparse explicit inverses (diagonal, block
        diagonal) and the coupling blocks sparse forms: ``A_RR + sI - A_RE (A_EE + sI)^-1 A_ER`` with the
        product ``A_RE ((A_EE + sI)^-1 A_ER)`` formed sparse and only S itself dense (one block diagonal
        eliminated onto a block-diagonal rest: block by block, :func:`._op_schur.schur_complement`). None
        otherwise."""
        if self.xp is not NUMPY:
            return None
        setting = self._schur_setting(E, R, forms)
        if setting is not None:
            what = f"BlockOperator + {shift:g}*I: diagonal block {E[0]}"
            if full_coupling(setting.C):
                factors = inverse_factors(setting.B_blocks, shift, what)
                return dense_schur_complement(setting.C.toarray(), None, setting.A_blocks, None, shift,
                                              factors=factors)
            inverse = block_inverses(setting.B_blocks, shift, what)
            return schur_complement(setting.coupling, inverse, setting.A_blocks, None, shift)
        coupling = self._host_sparse_part(E, R)
        if coupling is None:
            return None
        if self.symmetric and len(E) == 1 and isinstance(forms[E[0]], BlockDiagonalOperator):
            correction = _block_rows_correction(np.asarray(forms[E[0]].blocks), shift, coupling)
            return self._finish_schur(self._dense_part(R, R) - correction, shift)
        inverses = [sparse_inverse(forms[i], shift) for i in E]
        if any(inverse is None for inverse in inverses):
            return None
        coupling_t = self._host_sparse_part(R, E)
        if coupling_t is None:
            return None
        import scipy.sparse as sp

        correction = coupling_t @ (sp.block_diag(inverses, format="csr") @ coupling)
        return self._finish_schur(self._dense_part(R, R) - correction.toarray(), shift)

    def _schur_complement(self, shift, E, R, solvers):
        """``S = A_RR + sI - A_RE (A_EE + sI)^-1 A_ER``, formed from chunks of identity columns (any blocks)."""
        xp = self.xp
        n_rest = sum(self.row_sizes[j] for j in R)
        eye = _linalg.identity(xp, n_rest, self._like())
        n_elim = sum(self.row_sizes[i] for i in E)
        chunk = max(1, _CHUNK_ENTRIES // max(1, n_elim + n_rest))
        r_offsets = _offsets([self.row_sizes[j] for j in R])
        columns = []
        for start in range(0, n_rest, chunk):
            block = eye[:, start:start + chunk]
            width = block.shape[1]
            pieces = {j: block[r_offsets[t]:r_offsets[t + 1]] for t, j in enumerate(R)}
            coupling = self._apply(E, R, pieces, width)
            inverse = {i: solvers[i](coupling[i]) for i in E}
            direct, correction = self._apply(R, R, pieces, width), self._apply(R, E, inverse, width)
            columns.append(xp.concat([direct[j] - correction[j] for j in R], axis=0))
        return self._finish_schur(xp.concat(columns, axis=1), shift)


def _block_rows_correction(blocks, shift, coupling, *, batch_entries: int = 1 << 23):
    """``C' (D + sI)^-1 C`` as a dense array, for D = diag(B_1, ..., B_b) with p x p blocks and a sparse C whose
    block row t (rows t p .. t p + p - 1) touches few columns: block row by block row, the small dense product
    ``C_t' (B_t + sI)^-1 C_t`` on the columns C_t touches, the products summed into the result by one
    ``bincount`` per batch of about ``batch_entries`` entries (fancy-indexed additions cost 3x more). For a
    factorization's Hessian (a row of U sees the columns of the V rows observed in it) this replaces scipy's
    general sparse product ``C' (D^-1 C)``, which spent 6.4 s of 8 at 600 x 500, rank 8."""
    b, p, _ = blocks.shape
    inverse = np.linalg.inv(blocks + shift * np.eye(p)) if shift else np.linalg.inv(blocks)
    C = coupling.tocsr()
    n = C.shape[1]
    dtype = np.result_type(blocks.dtype, C.dtype)
    out = np.zeros(n * n, dtype=dtype)
    indptr, indices, data = C.indptr, C.indices, C.data
    positions, values, pending = [], [], 0

    def flush():
        out[:] += np.bincount(np.concatenate(positions), weights=np.concatenate(values), minlength=n * n)
        positions.clear()
        values.clear()

    for t in range(b):
        lo, hi = indptr[t * p], indptr[(t + 1) * p]
        if lo == hi:
            continue
        cols = np.unique(indices[lo:hi])
        Ct = np.zeros((p, cols.size), dtype=dtype)
        local_rows = np.repeat(np.arange(p), np.diff(indptr[t * p:(t + 1) * p + 1]))
        Ct[local_rows, np.searchsorted(cols, indices[lo:hi])] = data[lo:hi]
        positions.append((cols[:, None] * n + cols[None, :]).ravel())
        values.append((Ct.T @ (inverse[t] @ Ct)).ravel())
        pending += cols.size * cols.size
        if pending >= batch_entries:
            flush()
            pending = 0
    if positions:
        flush()
    return out.reshape(n, n)


_MAX_PATTERN_BLOCK = 64  # the largest block size looked for in a sparse matrix's block-diagonal pattern


def block_diagonal_form(op, max_block: int = _MAX_PATTERN_BLOCK):
    """A :class:`BlockDiagonalOperator` equal to the symmetric sparse operator ``op`` (a SparseOperator or a
    Gram operator of a sparse matrix) when its nonzeros lie in diagonal blocks of one size k <= max_block
    (every nonzero (i, j) has i // k == j // k; the smallest such k with at least two blocks), else None. This
    is how the Gram matrix J_U'J_U of a factorization's Jacobian, and J_U'J_U + D of Levenberg-Marquardt's
    scaled normal equations (a sum with a sparse form), are recognised as block diagonal."""
    if op.xp is not NUMPY or not op.symmetric or not isinstance(op, (SparseOperator, GramOperator, SumOperator)):
        return None
    by_rows = _row_gram_form(op, max_block)
    if by_rows is not None:
        return by_rows
    matrix = host_sparse(op)  # None for a dense Gram or a sum with a term that has no sparse form
    if matrix is None:
        return None
    import scipy.sparse as sp

    matrix = sp.csr_array(matrix)
    plan = _op_pattern.layout("block diagonal", (max_block,), matrix, lambda M: _block_diagonal_layout(M, max_block))
    if plan is None:
        return None
    k, flat, unique = plan
    n = matrix.shape[0]
    blocks = _op_pattern.scatter(n * k, flat, matrix.data, unique).reshape(n // k, k, k)
    return BlockDiagonalOperator(blocks, True)


def _row_gram_form(op, max_block: int):
    """:func:`block_diagonal_form` of a Gram operator A' diag(d) A + cI of a NumPy sparse A whose rows each
    lie in one block of k columns, plus any scaled identities and diagonals: its blocks summed from A's rows
    (``_op_rowblock``) instead of from the sparse product A'DA. None for any other operator."""
    terms = op.terms if isinstance(op, SumOperator) else (op,)
    grams = [t for t in terms if isinstance(t, GramOperator)]
    if (len(grams) != 1 or grams[0].kind != "sparse"
            or not all(t is grams[0] or isinstance(t, (ScaledIdentity, DiagonalOperator)) for t in terms)):
        return None
    gram = grams[0]
    rows = RowBlocks.of(gram.A, None, max_block)
    if rows is None or rows.count < 2:
        return None
    blocks = rows.gram(gram.d)
    k = rows.k
    diagonal = np.zeros(op.shape[0], dtype=blocks.dtype) + gram.shift
    for t in terms:
        if isinstance(t, ScaledIdentity):
            diagonal += t.c
        elif isinstance(t, DiagonalOperator):
            diagonal = diagonal + np.asarray(t.d)
    blocks = blocks.astype(np.result_type(blocks.dtype, diagonal.dtype), copy=False)
    blocks += diagonal.reshape(-1, k)[:, :, None] * np.eye(k)
    return BlockDiagonalOperator(blocks, True)


def _block_diagonal_layout(matrix, max_block: int):
    """``(k, flat, unique)`` for a CSR pattern that lies in diagonal k x k blocks (:func:`block_diagonal_form`):
    ``flat`` the position of each stored entry in the (n/k, k, k) stack, ``unique`` whether no two share one;
    None for another pattern."""
    n = matrix.shape[0]
    rows = np.repeat(np.arange(n, dtype=matrix.indices.dtype), np.diff(matrix.indptr))
    cols = matrix.indices
    spread = int(np.abs(rows - cols).max()) + 1 if matrix.nnz else 1
    for k in range(spread, min(max_block, n // 2) + 1):
        if n % k == 0 and np.array_equal(rows // k, cols // k):
            flat = rows.astype(np.int64) * k + cols % k  # ((row // k) k + row % k) k + col % k
            return k, flat, _op_pattern.all_distinct(flat, n * k)
    return None


@singledispatch
def sparse_inverse(op, shift: float):
    """``(op + shift I)^-1`` as a scipy.sparse matrix where it is as sparse as op (diagonal, block diagonal),
    else None. Called after op's factorization succeeded, so op + shift I is positive definite."""
    return


@sparse_inverse.register
def _(op: DiagonalOperator, shift: float):
    return _sparse_diag(1.0 / (op.d + shift)).tocsr() if op.xp is NUMPY else None


@sparse_inverse.register
def _(op: ScaledIdentity, shift: float):
    import scipy.sparse as sp

    return sp.identity(op.n, format="csr") / (op.c + shift) if op.xp is NUMPY else None


@sparse_inverse.register
def _(op: BlockDiagonalOperator, shift: float):
    import scipy.sparse as sp

    if op.xp is not NUMPY:
        return None
    b, p, _ = op.blocks.shape
    inverse = np.linalg.inv(op.blocks + shift * np.eye(p))
    return sp.bsr_array((inverse, np.arange(b), np.arange(b + 1)), shape=(b * p, b * p)).tocsr()


#: WeightedProductOperator makes CSR copies of its sparse factors at this product (the first ones go through
#: the factors as they are).
CSR_AFTER = 3


@dataclass(frozen=True, eq=False, repr=False)
class WeightedProductOperator(Operator):
    """``L' diag(w) R`` for operators L (m, p) and R (m, q) and weights w of shape (m,) (None: identity): the
    off-diagonal blocks of the Gram matrix of a block operator. Products through L and R; its diagonal and
    dense form come from ``L'(w R_dense)``."""

    left: Operator
    w: object
    right: Operator
    _cache: dict = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self):
        if self.left.shape[0] != self.right.shape[0]:
            raise ValueError(f"WeightedProductOperator: L and R need the same number of rows; got {self.left.shape}"
                             f" and {self.right.shape}")

    def _csr_factors(self):
        """``(L', R, R', L)`` as scipy.sparse CSR arrays where L and R are NumPy SparseOperators, made at the
        third product (from then on each product is two CSR products, 2-3x faster than a transposed CSR's CSC
        product on the Gram blocks of a 600 x 500 factorization's Jacobian; the two products of an exact Schur
        solve do not repay the copies), else None."""
        if "csr" not in self._cache:
            self._cache["products"] = self._cache.get("products", 0) + 1
            if self._cache["products"] < CSR_AFTER:
                return None
            factors = None
            if (self.xp is NUMPY and isinstance(self.left, SparseOperator)
                    and isinstance(self.right, SparseOperator)):
                L, R = self.left.A.tocsr(), self.right.A.tocsr()
                factors = (self.left.transposed_csr(), R, self.right.transposed_csr(), L)
            self._cache["csr"] = factors
        return self._cache["csr"]

    def _through(self, first_t, second, V):
        """``first_t (w (second V))`` with 1-D products for a single column."""
        single = V.shape[1] == 1
        inner = second @ (V[:, 0] if single else V)
        if self.w is not None:
            inner = self.w * inner if single else self.w[:, None] * inner
        out = first_t @ inner
        return out[:, None] if single else out

    symmetric = property(lambda self: self.left is self.right)
    shape = property(lambda self: (self.left.shape[1], self.right.shape[1]))
    dtype = property(lambda self: np.result_type(self.left.dtype, self.right.dtype))
    xp = property(lambda self: self.left.xp)
    nbytes = property(lambda self: self.left.nbytes + self.right.nbytes + sum(
        m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (self._cache.get("csr") or ())))

    def _weigh(self, M):
        return M if self.w is None else self.w[:, None] * M

    def _matmat(self, V):
        factors = self._csr_factors()
        if factors is not None:
            return self._through(factors[0], factors[1], V)
        return self.left._rmatmat(self._weigh(self.right._matmat(V)))

    def _rmatmat(self, U):
        factors = self._csr_factors()
        if factors is not None:
            return self._through(factors[2], factors[3], U)
        return self.right._rmatmat(self._weigh(self.left._matmat(U)))

    @property
    def T(self):
        return WeightedProductOperator(self.right, self.w, self.left)

    def diagonal(self):
        return self.xp.linalg.diagonal(self.to_dense())

    def to_dense(self):
        return self.left._rmatmat(self._weigh(self.xp.asarray(self.right.to_dense())))

    def norm_estimate(self) -> float:
        """Exact from the sparse product where L and R have sparse forms; otherwise the bound
        ``||L' W R||_F <= ||L||_F max|w| ||R||_F`` (never the dense form, which has n^2 entries)."""
        matrix = host_sparse(self)
        if matrix is not None:
            return float(np.linalg.norm(matrix.data))
        largest = 1.0 if self.w is None else float(self.xp.max(self.xp.abs(self.w)))
        return self.left.norm_estimate() * largest * self.right.norm_estimate()


@host_sparse.register
def _(op: BlockOperator):
    import scipy.sparse as sp

    if op.xp is not NUMPY:
        return None
    parts = [[None if b is None else host_sparse(b) for b in row] for row in op.blocks]
    if any(p is None and b is not None for row, prow in zip(op.blocks, parts) for b, p in zip(row, prow)):
        return None
    return sp.bmat(parts, format="csr")


@host_sparse.register
def _(op: WeightedProductOperator):
    left, right = host_sparse(op.left), host_sparse(op.right)
    if left is None or right is None:
        return None
    # L' as CSR first: CSR times CSR is CSR, where L' (CSC) times R converted R and then the larger product
    return left.T.tocsr() @ (right if op.w is None else _sparse_diag(op.w) @ right).tocsr()
