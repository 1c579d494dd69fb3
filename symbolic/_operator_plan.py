"""Derivative blocks as structured linear operators: a plan read off the expression's structure.

A derivative block ``D[i..., j...]`` (a Hessian block: variable x_a's axes, then x_b's; a Jacobian block: the
residual's axes, then x_b's) is a sum of products in Einstein notation. Its structure is visible in the
products' indices, and each rule of ``TERM_RULES`` turns one shape of product into a plan for an operator of
``ricci.solvers`` that keeps it (the block flattened row-major to (rows, columns), as ``Objective.hess``):

==================  ===========================================================  ======================
rule                the product term (c a coefficient, s scalar operands)          operator
==================  ===========================================================  ======================
``identity``        c s delta[i,k] (every row axis paired with its column axis)   ScaledIdentity
``diagonal``        c u[i] delta[i,k]                                              DiagonalOperator
``selected``        c S1[e,i] S2[e,k] B[e,j,l], S = take(delta, idx) selectors     SparseOperator
``gram``            c sum_a A[a,i] w[a] A[a,k]  (A any product of operands)        GramOperator(A, w)
``block_diagonal``  c delta[i,k] B[i,j,l]  (leading axes paired, B carries them)   BlockDiagonalOperator
``kronecker``       c delta[i,k] B[j,l]  or  c B[i,k] delta[j,l]                  KroneckerOperator
(default)           anything else; and a zero block                                DenseOperator; zero
==================  ===========================================================  ======================

A sum of terms is a :class:`SumPlan` of the terms' plans, with terms of one kind merged (two diagonals are one
diagonal, two sparse terms one sparse matrix; a multiple of the identity becomes the shift of a Gram, a
diagonal, a Kronecker product or a block diagonal); a sum with a term that only a dense array describes is
dense as a whole. Several variables give a :class:`BlockPlan` (:func:`hessian_plan`: the blocks below the
diagonal are the transposes of those above it; :func:`jacobian_plan`: one row of blocks per residual block,
one column per variable). A structured plan is kept only where the arrays it computes have fewer entries than
the dense block (:func:`plan_cost`); otherwise the block is dense (a 10 x 10 Hessian is best held as it is).

Every plan names the arrays it needs as expressions (:func:`plan_arrays`): the weights w, the blocks B, the
scalars; ``_operator_build`` compiles them with f and its gradient into one kernel and builds the operator
from their values. The data's own arrays (the matrix X of a Gram) are used as they are, never copied: a
``scipy.sparse`` X stays sparse inside the GramOperator. The positions of a sparse block come from the
selectors' constant index arrays, so they are computed once, with the plan.

The structure of ``X' diag(s) X + lam I`` is that of Laue, Mitterreiter & Giesen, "Computing Higher Order
Derivatives of Matrix and Tensor Expressions" (NeurIPS 2018), where Hessians are kept as such expressions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import singledispatch

import numpy as np

from ._dims import dim_value
from ._nodes import (
    Add,
    Concat,
    Const,
    Contract,
    Delta,
    Expr,
    Fill,
    Reshape,
    Var,
    add,
    contract,
    fill,
    is_selector,
)

# ------------------------------------------------------------------------------------------------------------
# Plans: frozen records of an operator's kind and the expressions of the arrays it is built from
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """An operator of ``shape`` (rows, columns) to be built from the values of expressions."""

    shape: tuple


@dataclass(frozen=True)
class DensePlan(Plan):
    """The block itself, computed as an array and reshaped to ``shape``."""

    array: Expr


@dataclass(frozen=True)
class ZeroPlan(Plan):
    """A block that is identically zero (two variables that do not interact)."""


@dataclass(frozen=True)
class IdentityPlan(Plan):
    """``scale * I`` (``scale`` a scalar expression)."""

    scale: Expr


@dataclass(frozen=True)
class DiagonalPlan(Plan):
    """``diag(diagonal) + shift I``, the diagonal an expression of the row axes' shape."""

    diagonal: Expr
    shift: Expr | None = None


@dataclass(frozen=True)
class GramPlan(Plan):
    """``A' diag(weights) A + shift I``: ``matrix`` has the shape (a..., i...), flattened to (prod a, prod i);
    ``weights`` (shape (a...)) and ``shift`` (a scalar) may be None (the identity, and no shift)."""

    matrix: Expr
    weights: Expr | None
    shift: Expr | None = None


@dataclass(frozen=True)
class BlockDiagonalPlan(Plan):
    """``count`` diagonal blocks of size ``size``: ``blocks`` of shape (b..., j..., l...) flattened to
    (count, size, size); ``shift`` (a scalar, or None) is added to every block's diagonal."""

    blocks: Expr
    count: int
    size: int
    shift: Expr | None = None


@dataclass(frozen=True, eq=False)
class SparsePlan(Plan):
    """A sparse matrix of ``parts``, each a :class:`SparsePart`; entries at one position add up."""

    parts: tuple

    def layout(self, transposed: bool = False):
        """(order, starts, indices, indptr): the CSR structure of the entries (of the transposed matrix with
        ``transposed``), fixed with the plan and made once: the values of the parts, concatenated and taken
        in ``order``, summed over the runs that begin at ``starts`` (None where no two entries share a
        position), are the CSR data."""
        key = "_layout_t" if transposed else "_layout"
        cached = self.__dict__.get(key)
        if cached is None:
            rows = np.concatenate([p.rows for p in self.parts])
            cols = np.concatenate([p.cols for p in self.parts])
            if transposed:
                rows, cols = cols, rows
            order = np.lexsort((cols, rows))
            rows, cols = rows[order], cols[order]
            first = np.ones(len(rows), dtype=bool)
            first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
            starts = None if first.all() else np.flatnonzero(first)
            height = self.shape[1] if transposed else self.shape[0]
            index = _index_dtype(max(len(order), height, self.shape[0], self.shape[1]))  # the cache is kept
            indptr = np.zeros(height + 1, dtype=index)
            np.cumsum(np.bincount(rows[first], minlength=height), out=indptr[1:])
            cached = (order.astype(index, copy=False), None if starts is None else starts.astype(index, copy=False),
                      cols[first].astype(index, copy=False), indptr)
            object.__setattr__(self, key, cached)  # a cache, not state: the plan's fields do not change
        return cached


def _index_dtype(largest: int):
    """int32 for index arrays whose entries stay below 2^31 (half the memory of the plan's cached structure,
    which lives as long as the compiled objective), else int64."""
    return np.int32 if largest < 2**31 - 1 else np.int64


@dataclass(frozen=True, eq=False)
class SparsePart:
    """Entries ``values.ravel()[k]`` at (``rows[k]``, ``cols[k]``): the positions are fixed when the plan is
    made (they come from the constant index arrays of selectors), only the values change with x."""

    rows: object  # int32 (int64 beyond 2^31) NumPy array
    cols: object
    values: Expr


@dataclass(frozen=True)
class KroneckerPlan(Plan):
    """``left (x) right`` (the Kronecker product of two plans, one an identity with scale 1 and the other dense),
    plus ``shift I``, which is carried by the dense factor: I (x) B + c I = I (x) (B + c I)."""

    left: Plan
    right: Plan
    shift: Expr | None = None


@dataclass(frozen=True)
class SumPlan(Plan):
    """The sum of the ``terms``' operators."""

    terms: tuple


@dataclass(frozen=True)
class TransposedPlan(Plan):
    """The transpose of ``plan``'s operator (a block below the diagonal of a symmetric matrix)."""

    plan: Plan


@dataclass(frozen=True)
class BlockPlan(Plan):
    """A matrix of blocks, ``blocks[i][j]`` a plan of shape (sizes[i], sizes[j]); ``symmetric`` for a
    Hessian's (the blocks below the diagonal transposes of those above)."""

    blocks: tuple
    symmetric: bool = False


# ------------------------------------------------------------------------------------------------------------
# The recognizer
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    """One product ``coeff * prod operands[k][indices[k]]`` of a block, its output split into the row axes
    ``row`` and the column axes ``col``; ``paired[k]`` is the position of the operand delta[row[k], col[k]]
    for each axis k with one (an identity along that axis), ``scalars`` the operands without axes."""

    coeff: object
    operands: tuple
    indices: tuple
    row: tuple
    col: tuple
    dims: dict  # index -> dimension
    paired: dict
    scalars: tuple

    @classmethod
    def of(cls, coeff, node: Expr, p: int) -> _Term | None:
        if isinstance(node, Delta) and p == 1:
            node = Contract.make([node], [(0, 1)], (0, 1))
        if not isinstance(node, Contract):
            return None
        row, col = tuple(node.output[:p]), tuple(node.output[p:])
        paired = {}
        for pos, (op, idx) in enumerate(zip(node.operands, node.indices)):
            if isinstance(op, Delta) and len(set(idx)) == 2:
                for a, b in (idx, idx[::-1]):
                    if a in row and b in col and row.index(a) == col.index(b) and row.index(a) not in paired:
                        paired[row.index(a)] = pos
                        break
        scalars = tuple(k for k, op in enumerate(node.operands) if op.ndim == 0)
        return cls(coeff, node.operands, node.indices, row, col, dict(node.index_dims), paired, scalars)

    def others(self, skip=()) -> list:
        """(operand, indices) of the operands that are neither paired deltas nor scalars (nor in ``skip``)."""
        drop = set(self.paired.values()) | set(self.scalars) | set(skip)
        return [(op, idx) for k, (op, idx) in enumerate(zip(self.operands, self.indices)) if k not in drop]

    def scalar_parts(self) -> list:
        return [(self.operands[k], ()) for k in self.scalars]

    def product(self, parts, output, renamed=None) -> Expr:
        """``coeff * contract(parts)`` onto ``output`` (indices renamed by ``renamed``); output indices that
        no part carries are broadcast (a factor of ones)."""
        renamed = renamed or {}
        parts = [(op, tuple(renamed.get(ix, ix) for ix in idx)) for op, idx in parts]
        carried = {ix for _, idx in parts for ix in idx}
        for ix in output:
            if ix not in carried:
                parts.append((fill(1, (self.dims[ix],)), (ix,)))
        if not parts:
            return fill(self.coeff, ())
        core = contract([op for op, _ in parts], [idx for _, idx in parts], tuple(output))
        return core if self.coeff == 1 else add([core], [self.coeff])


def _size(shape, sizes) -> int:
    return math.prod(dim_value(d, sizes) for d in shape)


def term_identity(t: _Term, sizes, shape):
    """c s delta[i1,k1] ... delta[ip,kp] = (c s) I: every row axis paired with its column axis."""
    if len(t.row) != len(t.col) or len(t.paired) != len(t.row) or t.others():
        return None
    return IdentityPlan(shape, t.product(t.scalar_parts(), ()))


def term_diagonal(t: _Term, sizes, shape):
    """c u[i] delta[i,k] = diag(c u): every row axis paired; the other operands give the diagonal."""
    if len(t.row) != len(t.col) or len(t.paired) != len(t.row) or not t.others():
        return None
    renamed = dict(zip(t.col, t.row))
    return DiagonalPlan(shape, t.product(t.others() + t.scalar_parts(), t.row, renamed))


def term_gram(t: _Term, sizes, shape):
    """c sum_a A[a,i] w[a] A[a,k] = A' diag(c w) A, A[a,i] = prod (operands carrying row axes) and the same
    product on the column axes (the operands split into a row group, a column group and weights on the shared
    summed indices a, and the two groups build one tensor A)."""
    if t.paired or len(t.row) != len(t.col) or not t.row:
        return None
    rows, cols = set(t.row), set(t.col)
    row_group, col_group, weights = [], [], []
    for op, idx in t.others():
        touches_row, touches_col = bool(rows & set(idx)), bool(cols & set(idx))
        if touches_row and touches_col:
            return None
        (row_group if touches_row else col_group if touches_col else weights).append((op, idx))
    outs = rows | cols
    in_row = list(dict.fromkeys(ix for _, idx in row_group for ix in idx if ix not in outs))
    in_col = {ix for _, idx in col_group for ix in idx if ix not in outs}
    shared = [ix for ix in in_row if ix in in_col]
    if not row_group or not col_group or {ix for _, i in row_group for ix in i} & rows != rows \
            or {ix for _, i in col_group for ix in i} & cols != cols:
        return None
    private = (set(in_row) | in_col) - set(shared)
    if any(ix in private for _, idx in weights for ix in idx):
        return None
    a_row = contract([op for op, _ in row_group], [idx for _, idx in row_group], tuple(shared) + t.row)
    a_col = contract([op for op, _ in col_group], [idx for _, idx in col_group], tuple(shared) + t.col)
    if a_row is not a_col:
        return None
    parts = weights + t.scalar_parts()
    w = None if not parts and t.coeff == 1 else t.product(parts, tuple(shared))
    return GramPlan(shape, a_row, w)


def term_selected(t: _Term, sizes, shape):
    """c sum_e S1[e,i] S2[e,k] B[e,j,l] with selectors S[e,i] = [idx[e] = i] (``take(delta, idx)``): a sparse
    matrix with the entries B[e,j,l] at row (idx1[e], j), column (idx2[e], l), one block per e. Every output
    index is e itself, selected by one selector, or free (carried by B; free indices tied by a delta d[j,l]
    are enumerated once). The positions depend only on the index arrays, so they are computed here, once."""
    factors = list(zip(t.operands, t.indices))
    selectors = [(op, idx) for op, idx in factors if is_selector(op)]
    if not selectors or len({idx[0] for _, idx in selectors}) != 1:
        return None
    e = selectors[0][1][0]
    output = t.row + t.col
    selected = {}
    for op, (_, o) in selectors:
        if o not in output or o in selected or o == e:
            return None
        selected[o] = op.index.array
    rest = [(op, idx) for op, idx in factors if not is_selector(op)]
    if any(ix in selected for _, idx in rest for ix in idx):
        return None
    free = [ix for ix in output if ix != e and ix not in selected]
    rep = {ix: ix for ix in free}  # free indices tied by deltas d[j, l] share one representative

    def find(ix):
        while rep[ix] != ix:
            ix = rep[ix]
        return ix

    kept = []
    for op, idx in rest:
        if isinstance(op, Delta) and len(set(idx)) == 2 and all(ix in rep for ix in idx):
            rep[find(idx[1])] = find(idx[0])
        else:
            kept.append((op, idx))
    reps = list(dict.fromkeys(find(ix) for ix in free))
    values = t.product(kept, (e,) + tuple(reps))
    count = len(selectors[0][0].index)
    extent = [dim_value(t.dims[ix], sizes) for ix in reps]
    grid = (count,) + tuple(extent)

    def coordinates(ix):
        if ix == e:
            axis, values_ = 0, np.arange(count)
        elif ix in selected:
            axis, values_ = 0, selected[ix]
        else:
            axis = 1 + reps.index(find(ix))
            values_ = np.arange(extent[axis - 1])
        shape_ = [1] * len(grid)
        shape_[axis] = len(values_)
        return np.broadcast_to(values_.reshape(shape_), grid).ravel()

    def flat(axes):
        if not axes:
            return np.zeros(math.prod(grid), dtype=np.int32)
        dims = [dim_value(t.dims[ix], sizes) for ix in axes]
        return np.ravel_multi_index([coordinates(ix) for ix in axes], dims).astype(_index_dtype(math.prod(dims)))

    return SparsePlan(shape, (SparsePart(flat(t.row), flat(t.col), values),))


def term_block_diagonal(t: _Term, sizes, shape):
    """c delta[i,k] B[i,j,l] = blockdiag(c B[1], ..., c B[m]): the leading row axes paired with their column
    axes, the other operands carrying them (blocks of the trailing axes, one per entry of the leading ones)."""
    lead = _leading_pairs(t)
    if not lead or lead == len(t.row) or shape[0] != shape[1]:
        return None
    renamed = {t.col[k]: t.row[k] for k in range(lead)}
    rest = t.others(skip=[t.paired[k] for k in range(lead)]) + t.scalar_parts()
    carried = {renamed.get(ix, ix) for _, idx in rest for ix in idx}
    if not any(t.row[k] in carried for k in range(lead)):
        return None
    blocks = t.product(rest, t.row + t.col[lead:], renamed)
    count = _size([t.dims[ix] for ix in t.row[:lead]], sizes)
    return BlockDiagonalPlan(shape, blocks, count, shape[0] // max(count, 1))


def term_kronecker(t: _Term, sizes, shape):
    """c delta[i,k] B[j,l] = I (x) (c B) (leading axes paired, B free of them), and c B[i,k] delta[j,l] =
    (c B) (x) I (trailing axes paired); row-major flattening makes the leading axes the outer factor. B may
    be rectangular (a Jacobian block: d(X W)/dW = X (x) I for the rows of Z = X W), the identity is square."""
    p = len(t.row)
    lead = _leading_pairs(t)
    trail = 0 if p != len(t.col) else next(
        (u for u in range(p, 0, -1) if all(k in t.paired for k in range(p - u, p))), 0)
    for outer, span in (("identity", lead), ("dense", trail)):
        if not span or span == p:
            continue
        axes = range(span) if outer == "identity" else range(p - span, p)
        renamed = {t.col[k]: t.row[k] for k in axes}
        rest = t.others(skip=[t.paired[k] for k in axes]) + t.scalar_parts()
        carried = {renamed.get(ix, ix) for _, idx in rest for ix in idx}
        if any(t.row[k] in carried for k in axes):
            continue
        keep = [k for k in range(p) if k not in axes]
        inner = t.product(rest, tuple(t.row[k] for k in keep) + tuple(t.col[k] for k in keep), renamed)
        n_id = _size([t.dims[t.row[k]] for k in axes], sizes)
        identity = IdentityPlan((n_id, n_id), fill(1, ()))
        dense = DensePlan((shape[0] // max(n_id, 1), shape[1] // max(n_id, 1)), inner)
        left, right = (identity, dense) if outer == "identity" else (dense, identity)
        return KroneckerPlan(shape, left, right)
    return None


def _leading_pairs(t: _Term) -> int:
    if len(t.row) != len(t.col):
        return 0
    return next((k for k in range(len(t.row)) if k not in t.paired), len(t.row))


TERM_RULES = (
    ("identity", term_identity),
    ("diagonal", term_diagonal),
    ("selected", term_selected),
    ("gram", term_gram),
    ("block_diagonal", term_block_diagonal),
    ("kronecker", term_kronecker),
)
"""The rules for one product term, tried in order; the first that applies gives the term's plan, and a term
that none fits is dense (the default)."""


def _term_plan(coeff, node: Expr, p: int, sizes, shape) -> Plan | None:
    if isinstance(node, Fill) and node.value == 0:
        return ZeroPlan(shape)
    term = _Term.of(coeff, node, p)
    if term is None:
        return None
    for _, rule in TERM_RULES:
        plan = rule(term, sizes, shape)
        if plan is not None:
            return plan
    return None


def block_plan(block: Expr, p: int, sizes: dict, lazy=frozenset()) -> Plan:
    """The plan of one derivative block whose first ``p`` axes are the rows (``sizes``: dimension name ->
    int, for flattening and for the cost comparison with the dense block)."""
    rows, cols = _size(block.shape[:p], sizes), _size(block.shape[p:], sizes)
    shape = (rows, cols)
    terms = list(zip(block.coeffs, block.terms)) if isinstance(block, Add) else [(1, block)]
    plans = []
    for coeff, node in terms:
        plan = _term_plan(coeff, node, p, sizes, shape)
        if plan is None:
            return DensePlan(shape, block)
        if not isinstance(plan, ZeroPlan):
            plans.append(plan)
    if not plans:
        return ZeroPlan(shape)
    plan = merge_terms(shape, plans)
    return plan if plan_cost(plan, sizes, lazy) < rows * cols * _partials(lazy) else DensePlan(shape, block)


def merge_terms(shape, plans: list) -> Plan:
    """One plan for a sum of term plans: like terms merged (their arrays added), a multiple of the identity
    absorbed as a shift where a Gram or a block diagonal can carry it."""
    merged: list = []
    for plan in plans:
        for k, other in enumerate(merged):
            joined = _merge_pair(other, plan)
            if joined is not None:
                merged[k] = joined
                break
        else:
            merged.append(plan)
    identities = [p for p in merged if isinstance(p, IdentityPlan)]
    if identities and len(merged) > 1:
        (ident,) = identities  # like terms were merged: at most one identity is left
        for k, p in enumerate(merged):
            if isinstance(p, _SHIFTABLE) and p.shift is None:
                merged[k] = replace(p, shift=ident.scale)
                merged.remove(ident)
                break
    return merged[0] if len(merged) == 1 else SumPlan(shape, tuple(merged))


_SHIFTABLE = (GramPlan, BlockDiagonalPlan, DiagonalPlan, KroneckerPlan)  # plans that carry a multiple of I


def _plus(a: Expr, b: Expr) -> Expr:
    return add([a, b], [1, 1])


def _merge_pair(a: Plan, b: Plan) -> Plan | None:
    """a + b as one plan of the same kind (None when they are not alike)."""
    if type(a) is not type(b):
        return None
    if isinstance(a, SparsePlan):
        return SparsePlan(a.shape, a.parts + b.parts)
    if isinstance(a, IdentityPlan):
        return IdentityPlan(a.shape, _plus(a.scale, b.scale))
    if isinstance(a, DiagonalPlan):
        return DiagonalPlan(a.shape, _plus(a.diagonal, b.diagonal))
    if isinstance(a, BlockDiagonalPlan) and (a.count, a.size) == (b.count, b.size) and a.blocks.shape == b.blocks.shape:
        return BlockDiagonalPlan(a.shape, _plus(a.blocks, b.blocks), a.count, a.size)
    if isinstance(a, GramPlan) and a.matrix is b.matrix and a.weights is not None and b.weights is not None:
        return GramPlan(a.shape, a.matrix, _plus(a.weights, b.weights))
    if isinstance(a, KroneckerPlan) and type(a.left) is type(b.left) and a.left.shape == b.left.shape:
        if isinstance(a.left, IdentityPlan) and a.right.array.shape == b.right.array.shape:
            return KroneckerPlan(a.shape, a.left, DensePlan(a.right.shape, _plus(a.right.array, b.right.array)))
        if isinstance(a.right, IdentityPlan) and a.left.array.shape == b.left.array.shape:
            return KroneckerPlan(a.shape, DensePlan(a.left.shape, _plus(a.left.array, b.left.array)), a.right)
    return None


def hessian_plan(blocks, sizes: dict, ranks, lazy=frozenset()) -> Plan:
    """The plan of a Hessian given as blocks ``blocks[a][b]`` (variable a's axes, then b's; ``ranks[a]`` the
    number of axes of variable a): one block's plan, or a :class:`BlockPlan` whose blocks below the diagonal
    are the transposes of those above (the Hessian of a twice continuously differentiable f is symmetric).
    Where the structured blocks save less than half of the dense matrix's entries, every block is dense
    (and the operator one dense matrix). ``lazy``: names of variables held as Dask arrays (see
    :func:`plan_cost`; a dict name -> blocks of rows for Dask data of sparse blocks, see :func:`_partials`)."""
    k = len(blocks)
    if k == 1:
        return block_plan(blocks[0][0], ranks[0], sizes, lazy)
    upper = {(a, b): block_plan(blocks[a][b], ranks[a], sizes, lazy) for a in range(k) for b in range(a, k)}
    plan = _symmetric_blocks(upper, k)
    total = plan.shape[0]
    if 2 * plan_cost(plan, sizes, lazy) >= total * total * _partials(lazy):
        dense = {}
        for (a, b), p in upper.items():
            dense[a, b] = p if isinstance(p, ZeroPlan) else DensePlan(p.shape, blocks[a][b])
        plan = _symmetric_blocks(dense, k)
    return plan


def dense_entries(plan: Plan, *, computed_only: bool = False) -> int:
    """How many entries the plan's dense blocks hold in all (what forming its operator writes densely); with
    ``computed_only`` only blocks computed at each point count, not those that are a data array or a constant
    as given (the X of a linear model's Jacobian costs nothing to form)."""
    if isinstance(plan, DensePlan):
        if computed_only and isinstance(plan.array, (Var, Fill, Const)):
            return 0
        return int(plan.shape[0]) * int(plan.shape[1])
    if isinstance(plan, BlockPlan):
        return sum(dense_entries(b, computed_only=computed_only) for row in plan.blocks for b in row
                   if b is not None)
    if isinstance(plan, SumPlan):
        return sum(dense_entries(t, computed_only=computed_only) for t in plan.terms)
    if isinstance(plan, TransposedPlan):
        return dense_entries(plan.plan, computed_only=computed_only)
    if isinstance(plan, KroneckerPlan):
        return dense_entries(plan.left, computed_only=computed_only) + dense_entries(plan.right,
                                                                                    computed_only=computed_only)
    return 0


def jacobian_plan(blocks, sizes: dict, rank: int) -> Plan:
    """The plan of a Jacobian given as one block per variable (``blocks[b]`` = dr/dx_b, the residual's
    ``rank`` axes first). A residual made of blocks (a concatenation along its first axis) gives a grid of
    blocks, one row per residual block and one column per variable, so a block that is a multiple of the
    identity (sqrt(lam) U) or zero stays so. Where the structure saves less than half of the dense
    matrix's entries, the Jacobian is dense."""
    columns = [_stacked(J, rank, sizes) for J in blocks]
    splits = {tuple(p.shape[0] for p in col) for col in columns}
    if len(splits) == 1:
        grid = tuple(tuple(col[r] for col in columns) for r in range(len(columns[0])))
    else:  # the variables' Jacobians split the residual differently: one column of blocks each
        grid = (tuple(col[0] if len(col) == 1 else _vertical(col) for col in columns),)
    if len(grid) == 1 and len(grid[0]) == 1:
        plan = grid[0][0]
    else:
        plan = BlockPlan((sum(row[0].shape[0] for row in grid), sum(p.shape[1] for p in grid[0])), grid)
    rows, cols = plan.shape
    if 2 * plan_cost(plan, sizes) >= rows * cols and not all(isinstance(p, ZeroPlan) for p in _leaves(plan)):
        dense = [DensePlan((rows, p.shape[1]), J) for J, p in zip(blocks, grid[0])]
        plan = dense[0] if len(dense) == 1 else BlockPlan((rows, cols), (tuple(dense),))
    return plan


def _stacked(J: Expr, rank: int, sizes) -> list:
    """The plans of the parts of J along its first axis (one part unless J is a concatenation there)."""
    q = J.ndim - rank
    if isinstance(J, Concat) and J.axis == 0 and rank == 1:
        return [p for part in J.parts for p in _stacked(part, rank, sizes)]
    if isinstance(J, Reshape) and J.arg.ndim >= q and tuple(J.new_shape[rank:]) == tuple(J.arg.shape[J.arg.ndim - q:]):
        rows = _size(J.new_shape[:rank], sizes)
        inner = _stacked(J.arg, J.arg.ndim - q, sizes)
        if len(inner) == 1 and inner[0].shape[0] == rows:
            return inner  # a reshape that only merges the residual's axes: row-major flattening is unchanged
    return [block_plan(J, rank, sizes)]


def _vertical(parts) -> BlockPlan:
    return BlockPlan((sum(p.shape[0] for p in parts), parts[0].shape[1]), tuple((p,) for p in parts))


def _leaves(plan):
    if isinstance(plan, BlockPlan):
        return [leaf for row in plan.blocks for b in row for leaf in _leaves(b)]
    return [plan]


def _symmetric_blocks(upper: dict, k: int) -> BlockPlan:
    rows = []
    for a in range(k):
        row = []
        for b in range(k):
            if b >= a:
                row.append(upper[a, b])
            else:
                up = upper[b, a]
                shape = (up.shape[1], up.shape[0])
                row.append(ZeroPlan(shape) if isinstance(up, ZeroPlan) else TransposedPlan(shape, up))
        rows.append(tuple(row))
    total = sum(row[0].shape[0] for row in rows)
    return BlockPlan((total, total), tuple(rows), symmetric=True)


# ------------------------------------------------------------------------------------------------------------
# Tables over plans: the arrays a plan needs, its cost, its operator
# ------------------------------------------------------------------------------------------------------------


@singledispatch
def plan_arrays(plan: Plan) -> list:
    """The expressions whose values the plan's operator is built from."""
    raise NotImplementedError(f"no array rule for plan type {type(plan).__name__}")


@plan_arrays.register
def _(plan: DensePlan):
    return [plan.array]


@plan_arrays.register
def _(plan: ZeroPlan):
    return []


@plan_arrays.register
def _(plan: IdentityPlan):
    return [plan.scale]


@plan_arrays.register
def _(plan: DiagonalPlan):
    return [e for e in (plan.diagonal, plan.shift) if e is not None]


@plan_arrays.register
def _(plan: GramPlan):
    return [e for e in (plan.matrix, plan.weights, plan.shift) if e is not None]


@plan_arrays.register
def _(plan: BlockDiagonalPlan):
    return [e for e in (plan.blocks, plan.shift) if e is not None]


@plan_arrays.register
def _(plan: SparsePlan):
    return [part.values for part in plan.parts]


@plan_arrays.register
def _(plan: KroneckerPlan):
    return plan_arrays(plan.left) + plan_arrays(plan.right) + ([plan.shift] if plan.shift is not None else [])


@plan_arrays.register
def _(plan: SumPlan):
    return [e for term in plan.terms for e in plan_arrays(term)]


@plan_arrays.register
def _(plan: TransposedPlan):
    return plan_arrays(plan.plan)


@plan_arrays.register
def _(plan: BlockPlan):
    return [e for row in plan.blocks for b in row for e in plan_arrays(b)]


def computed(exprs) -> list:
    """The expressions among ``exprs`` that a kernel must compute (not variables, which are given), once each."""
    return list(dict.fromkeys(e for e in exprs if not isinstance(e, Var)))


def _partials(lazy) -> int:
    """How many copies of a dense block one pass over the ``lazy`` data forms: one per block of rows for
    Dask data of sparse blocks (``lazy`` a dict name -> that number; each block's X_b' D X_b is dense before
    the blocks' sum), else 1."""
    return max(lazy.values(), default=1) if isinstance(lazy, dict) else 1


def plan_cost(plan: Plan, sizes: dict, lazy=frozenset()) -> int:
    """The entries of the arrays the plan computes (variables, such as a data matrix, are held already), and
    of the ``lazy`` variables it keeps (names of Dask data: each product with them is a pass over the data,
    so a Gram of Dask X is worth it only where the dense block would be larger than X)."""
    arrays = plan_arrays(plan)
    held = [e for e in dict.fromkeys(arrays) if isinstance(e, Var) and e.name in lazy]
    return sum(_size(e.shape, sizes) for e in computed(arrays) + held)


PLAN_TYPES = (DensePlan, ZeroPlan, IdentityPlan, DiagonalPlan, GramPlan, BlockDiagonalPlan, SparsePlan, KroneckerPlan,
              SumPlan,
              TransposedPlan, BlockPlan)


@singledispatch
def describe(plan: Plan) -> str:
    """The plan in a line: ``Gram(X, w) + lam*I``-like, for reprs and messages."""
    raise NotImplementedError(f"no description rule for plan type {type(plan).__name__}")


@describe.register
def _(plan: DensePlan):
    return f"Dense{plan.shape}"


@describe.register
def _(plan: ZeroPlan):
    return f"Zero{plan.shape}"


@describe.register
def _(plan: IdentityPlan):
    return f"ScaledIdentity({plan.shape[0]})"


@describe.register
def _(plan: DiagonalPlan):
    return f"Diagonal({plan.shape[0]})"


@describe.register
def _(plan: GramPlan):
    shift = " + shift" if plan.shift is not None else ""
    name = plan.matrix.name if isinstance(plan.matrix, Var) else "A"
    return f"Gram({name}{', weights' if plan.weights is not None else ''}{shift})"


@describe.register
def _(plan: BlockDiagonalPlan):
    return f"BlockDiagonal({plan.count} x {plan.size}x{plan.size})"


@describe.register
def _(plan: SparsePlan):
    return f"Sparse({plan.shape[0]}x{plan.shape[1]}, {sum(len(p.rows) for p in plan.parts)} entries)"


@describe.register
def _(plan: KroneckerPlan):
    return f"Kronecker({describe(plan.left)}, {describe(plan.right)})"


@describe.register
def _(plan: SumPlan):
    return " + ".join(describe(t) for t in plan.terms)


@describe.register
def _(plan: TransposedPlan):
    return f"({describe(plan.plan)})'"


@describe.register
def _(plan: BlockPlan):
    return "[" + "; ".join(", ".join(describe(b) for b in row) for row in plan.blocks) + "]"
