"""Operators from plans: one kernel computes a plan's arrays at a point, a table of rules builds the operator.

:class:`OperatorProgram` holds a plan (``_operator_plan``) and compiles the expressions of the arrays it needs
together with the levels a point must reach first (f and its gradient for a Hessian, the residual for a
Jacobian), from what the point already holds: at a new point one kernel computes f, the gradient and the
arrays; where f and the gradient are known, one kernel computes the arrays from the intermediates their
levels left with the point (``X @ w`` and ``sigmoid(...)`` are not computed again; the levels are those of
``_point``). Dask results are computed in one ``dask.compute`` per kernel call; sparse results stay sparse.

:func:`assemble` is the table, one rule per plan type, that builds the ``ricci.solvers`` operator from the
values: arrays are reshaped to the flattened (rows, columns) layout (row-major, as ``Objective.hess``), the
data's own arrays (a Gram's X, dense, ``scipy.sparse`` or Dask; its transpose as a view) are passed as they
are, and scalars (a scale or a shift) come back to the host as floats.
"""

from __future__ import annotations

import threading
from functools import singledispatch

import numpy as np

from ._binding import is_dask, is_sparse, materialize
from ._codegen import compile as compile_exprs
from ._codegen import frontier
from ._dask_sparse import SparseRows
from ._nodes import Contract, Var
from ._operator_plan import (
    BlockDiagonalPlan,
    BlockPlan,
    DensePlan,
    DiagonalPlan,
    GramPlan,
    IdentityPlan,
    KroneckerPlan,
    Plan,
    SparsePlan,
    SumPlan,
    TransposedPlan,
    ZeroPlan,
    computed,
    plan_arrays,
)


def _solvers():
    """``ricci.solvers`` (imported on first use: symbolic/ builds its operators, solvers/ knows nothing of
    symbolic/, and ``import ricci.symbolic`` does not pay for the solvers)."""
    import ricci.solvers

    return ricci.solvers


class OperatorProgram:
    """A plan, the kernels of its arrays and the operator built from their values (see the module docstring).

    ``levels``: what a point is evaluated to before the operator, in order, each (name, its expressions, the
    intermediates it leaves with the point for later levels): f then the gradient for a Hessian (the levels of
    ``_point.PointPlan``), the residual for a Jacobian. ``kernel(held)`` computes, at a point that holds the
    first ``held`` levels, the remaining levels, their intermediates and the arrays, in one call, reading the
    intermediates the point holds as precomputed inputs (``X @ w``, ``sigmoid(...)`` are not computed again).
    Kernels are compiled on first use.
    """

    def __init__(self, plan: Plan, *, name: str, sizes: dict, symmetric: bool, levels=()):
        self.plan = plan
        self.symmetric = symmetric  # a Hessian's plan (symmetric), or a Jacobian's
        self.levels = [(level, list(outputs), list(exports)) for level, outputs, exports in levels]
        self.arrays = [e for e in computed(plan_arrays(plan)) if _transposed_variable(e) is None]
        self._name, self._sizes = name, dict(sizes)
        self._kernels: dict = {}
        self._lock = threading.Lock()

    def kernel(self, held: int):
        """(kernel, the levels it computes, its exports, its precomputed inputs, their keyword names) for a
        point holding the first ``held`` levels; None where there is nothing to compute."""
        with self._lock:
            if held not in self._kernels:
                self._kernels[held] = self._make(held)
            return self._kernels[held]

    def _make(self, held: int):
        todo = self.levels[held:]
        results = [e for _, outputs, _ in todo for e in outputs] + self.arrays
        if not results:
            return None
        exports = [e for e in dict.fromkeys(e for _, _, ex in todo for e in ex) if e not in set(results)]
        available = [e for _, _, ex in self.levels[:held] for e in ex]
        inputs = tuple(frontier(results + exports, available))
        keys = tuple(f"#{k}" for k in range(len(inputs)))  # not identifiers: no variable or dimension has them
        suffix = "_".join(level for level, _, _ in todo)
        fn = compile_exprs(results + exports, name=self._name + (f"_with_{suffix}" if suffix else ""),
                           sizes=self._sizes, precomputed=dict(zip(keys, inputs)))
        return fn, todo, exports, inputs, keys

    def evaluate(self, held: int, values: dict, point: dict):
        """({level: its results}, {array expression: value}, {exported node: value}) from one kernel call at
        the point given by ``values`` (variable name -> array) and ``point`` (node -> value, the
        intermediates of the first ``held`` levels)."""
        made = self.kernel(held)
        if made is None:
            return {}, {}, {}
        fn, todo, exports, inputs, keys = made
        names = {v.name for v in fn.variables}
        given = {k: v for k, v in values.items() if k in names}
        given.update(zip(keys, (point[node] for node in inputs)))
        given.update((d, self._sizes[d]) for d in fn.dim_names if d in self._sizes and d not in names)
        out = materialize(fn(**given), dense=False, lazy_tail=len(exports))
        levels, k = {}, 0
        for level, outputs, _ in todo:
            levels[level] = out[k:k + len(outputs)]
            k += len(outputs)
        arrays = dict(zip(self.arrays, out[k:k + len(self.arrays)]))
        return levels, arrays, dict(zip(exports, out[k + len(self.arrays):]))

    def operator(self, arrays: dict, values: dict, xp, like):
        """The operator of the plan from the kernel's ``arrays`` and the point's ``values`` (variables)."""

        def value(e):
            hit = arrays.get(e)
            if hit is not None or e in arrays:
                return hit
            var = _transposed_variable(e)
            return values[e.name] if var is None else values[var.name].T

        return _Context(value, xp, like, self.symmetric).build(self.plan, self.symmetric)


def _transposed_variable(e):
    """The variable X when ``e`` is its transpose X' (a Gram of X' needs no kernel: its value is X.T, a view,
    and a sparse X stays sparse), else None."""
    if isinstance(e, Contract) and len(e.operands) == 1 and isinstance(e.operands[0], Var) and e.ndim == 2 \
            and e.indices[0] == tuple(reversed(e.output)):
        return e.operands[0]
    return None


class _Context:
    """What the assembly rules read: ``value(expr)``, the namespace ``xp`` and an array ``like`` (dtype,
    device) of the operator."""

    def __init__(self, value, xp, like, symmetric):
        self.value, self.xp, self.like = value, xp, like
        self.symmetric = symmetric  # whether the block being built is symmetric (a Hessian's diagonal block)
        self.built: dict = {}  # plan -> its operator, so a transposed block reuses the one above the diagonal

    def build(self, plan, symmetric: bool):
        """The operator of ``plan`` (a block that is ``symmetric`` or not), built once per assembly."""
        hit = self.built.get(id(plan))  # the plans live as long as the assembly: their ids stay theirs
        if hit is None:
            outer, self.symmetric = self.symmetric, symmetric
            try:
                hit = self.built[id(plan)] = assemble(plan, self)
            finally:
                self.symmetric = outer
        return hit

    def array(self, e, shape):
        """The value of ``e`` reshaped to ``shape`` (sparse values, always 2-D here, as they are)."""
        v = self.value(e)
        if is_sparse(v):
            return v
        v = self.xp.asarray(v)
        return v if tuple(v.shape) == tuple(shape) else self.xp.reshape(v, shape)

    def scalar(self, e) -> float:
        return float(self.value(e)) if e is not None else 0.0


@singledispatch
def assemble(plan: Plan, ctx: _Context):
    """The operator of ``plan`` (one rule per plan type)."""
    raise NotImplementedError(f"no assembly rule for plan type {type(plan).__name__}")


@assemble.register
def assemble_dense(plan: DensePlan, ctx: _Context):
    """The block as an array: DenseOperator, or SparseOperator where the value is sparse (A + A' of a sparse
    A, or a Jacobian that is the data matrix itself)."""
    ops = _solvers()
    a = ctx.value(plan.array)
    if is_dask(a):  # Dask data itself (the Jacobian X of X @ w - y): products computed as asked, never gathered
        return _lazy_products(ops, a.reshape(plan.shape), ctx.symmetric)
    a = ctx.array(plan.array, plan.shape)
    if is_sparse(a):
        return ops.SparseOperator(a.tocsr(), symmetric=ctx.symmetric)
    return ops.DenseOperator(a, symmetric=ctx.symmetric)


def _lazy_products(ops, a, symmetric: bool):
    """A MatvecOperator of the Dask matrix ``a``: each product one ``compute``."""

    def product(m):
        return lambda v: np.asarray(materialize([m @ v], dense=False)[0])

    return ops.MatvecOperator(tuple(a.shape), product(a), product(a.T), a.dtype, matmat=product(a),
                              rmatmat=product(a.T), symmetric=symmetric)


@assemble.register
def assemble_zero(plan: ZeroPlan, ctx: _Context):
    """A zero block: an empty sparse matrix on NumPy, a zero-scaled identity when square, else zeros."""
    ops = _solvers()
    rows, cols = plan.shape
    if rows == cols:
        return ops.ScaledIdentity(rows, 0.0, like=ctx.like)
    if _is_numpy(ctx.xp):
        import scipy.sparse

        return ops.SparseOperator(scipy.sparse.csr_array((rows, cols), dtype=ctx.like.dtype))
    return ops.DenseOperator(ctx.xp.zeros((rows, cols), dtype=ctx.like.dtype))


@assemble.register
def assemble_identity(plan: IdentityPlan, ctx: _Context):
    return _solvers().ScaledIdentity(plan.shape[0], ctx.scalar(plan.scale), like=ctx.like)


@assemble.register
def assemble_diagonal(plan: DiagonalPlan, ctx: _Context):
    d = ctx.array(plan.diagonal, (plan.shape[0],))
    return _solvers().DiagonalOperator(d + ctx.scalar(plan.shift) if plan.shift is not None else d)


@assemble.register
def assemble_gram(plan: GramPlan, ctx: _Context):
    """A' diag(w) A + shift I with A as (rows of the summed indices, columns): a data matrix is passed as it
    is (sparse stays sparse, Dask stays lazy)."""
    n = plan.shape[1]
    a = ctx.value(plan.matrix)
    if isinstance(a, SparseRows):  # Dask of sparse row blocks: products block by block (``_dask_gram``)
        from ._dask_gram import SparseRowsGram

        d = None if plan.weights is None else np.asarray(ctx.array(plan.weights, (a.shape[0],)))
        return SparseRowsGram(a, d, shift=ctx.scalar(plan.shift))
    if len(a.shape) != 2 or a.shape[1] != n:  # A[a..., i...] with several axes (or none) on either side
        a = ctx.xp.reshape(ctx.xp.asarray(a), (-1, n))
    d = None if plan.weights is None else ctx.array(plan.weights, (a.shape[0],))
    return _solvers().GramOperator(a, d, shift=ctx.scalar(plan.shift))


@assemble.register
def assemble_block_diagonal(plan: BlockDiagonalPlan, ctx: _Context):
    """blockdiag(B_1 + shift I, ..., B_b + shift I) from the (b, k, k) stack."""
    xp = ctx.xp
    blocks = ctx.array(plan.blocks, (plan.count, plan.size, plan.size))
    if plan.shift is not None:
        blocks = blocks + ctx.scalar(plan.shift) * xp.eye(plan.size, dtype=blocks.dtype)
    return _solvers().BlockDiagonalOperator(blocks)


@assemble.register
def assemble_sparse(plan: SparsePlan, ctx: _Context, transposed: bool = False):
    """The entries of every part at their positions, summed where they coincide, as a CSR matrix (of the
    transpose with ``transposed``; the structure comes from :meth:`SparsePlan.layout`, made once)."""
    import scipy.sparse

    order, starts, indices, indptr = plan.layout(transposed)
    data = np.concatenate([_host(ctx.array(p.values, (-1,))) for p in plan.parts])[order]
    if starts is not None:
        data = np.add.reduceat(data, starts)
    shape = plan.shape[::-1] if transposed else plan.shape
    matrix = scipy.sparse.csr_array((data, indices, indptr), shape=shape)
    matrix.has_canonical_format = True  # the layout sorts by (row, column) and sums coinciding entries
    if not _is_numpy(ctx.xp):  # the solvers' sparse operator lives on the host: on a GPU the block is dense
        return _solvers().DenseOperator(ctx.xp.asarray(matrix.toarray()), symmetric=ctx.symmetric)
    # handed over without the constructor's copy: it shares the plan's cached indices, which nothing writes
    return _solvers().SparseOperator.adopt(matrix, symmetric=ctx.symmetric)


@assemble.register
def assemble_kronecker(plan: KroneckerPlan, ctx: _Context):
    """I (x) B as a block diagonal of b copies of B (a broadcast view, no copies) when that is smaller than
    the b x b identity, otherwise as a KroneckerOperator; B (x) I as a KroneckerOperator. A shift is added
    to B: I (x) B + c I = I (x) (B + c I)."""
    ops, xp = _solvers(), ctx.xp
    identity_left = isinstance(plan.left, IdentityPlan)
    inner = plan.right if identity_left else plan.left
    outer = plan.left if identity_left else plan.right
    B = ctx.array(inner.array, inner.shape)
    b, k = outer.shape[0], inner.shape[0]
    if is_sparse(B):  # sparse data in a Jacobian (X (x) I of X W): the Kronecker product's own CSR, nnz(X) b
        import scipy.sparse

        identity = scipy.sparse.identity(b, dtype=B.dtype, format="csr")
        K = scipy.sparse.kron(identity, B) if identity_left else scipy.sparse.kron(B, identity)
        return ops.SparseOperator(K.tocsr(), symmetric=ctx.symmetric)
    if plan.shift is not None:
        B = B + ctx.scalar(plan.shift) * xp.eye(inner.shape[0], dtype=B.dtype)
    if identity_left and b > k * k and inner.shape[0] == inner.shape[1]:
        return ops.BlockDiagonalOperator(xp.broadcast_to(B, (b, k, inner.shape[1])))
    identity = xp.eye(b, dtype=B.dtype)
    return ops.KroneckerOperator(identity, B) if identity_left else ops.KroneckerOperator(B, identity)


@assemble.register
def assemble_sum(plan: SumPlan, ctx: _Context):
    return _solvers().SumOperator([ctx.build(t, ctx.symmetric) for t in plan.terms])


@assemble.register
def assemble_transposed(plan: TransposedPlan, ctx: _Context):
    if isinstance(plan.plan, SparsePlan) and not ctx.symmetric:  # straight into CSR, not CSC converted
        return assemble_sparse(plan.plan, ctx, transposed=True)
    return ctx.build(plan.plan, ctx.symmetric).T


@assemble.register
def assemble_blocks(plan: BlockPlan, ctx: _Context):
    """A BlockOperator (zero blocks are None); one DenseOperator when every block is dense (then nothing is
    gained by blocks). The blocks below the diagonal of a symmetric plan are the transposed views of those
    above (a sparse coupling is held once, in one orientation)."""
    ops = _solvers()
    zero_row = [all(isinstance(b, ZeroPlan) for b in row) for row in plan.blocks]
    zero_col = [all(isinstance(row[j], ZeroPlan) for row in plan.blocks) for j in range(len(plan.blocks[0]))]
    # a zero block is None, except where its whole block row or column is zero (BlockOperator needs its size)
    rows = []
    for i, row in enumerate(plan.blocks):
        built = []
        for j, b in enumerate(row):
            if isinstance(b, ZeroPlan) and not (zero_row[i] or zero_col[j]):
                built.append(None)
            elif plan.symmetric and j < i and isinstance(b, TransposedPlan) and b.plan is plan.blocks[j][i]:
                built.append(rows[j][i].T)  # one orientation of a coupling is held, the other is its view
            else:
                built.append(ctx.build(b, plan.symmetric and i == j))
        rows.append(built)
    if all(op is None or isinstance(op, ops.DenseOperator) for row in rows for op in row):
        xp = ctx.xp
        dense = [[xp.zeros(b.shape, dtype=ctx.like.dtype) if op is None else op.to_dense()
                  for b, op in zip(brow, row)] for brow, row in zip(plan.blocks, rows)]
        return ops.DenseOperator(xp.concat([xp.concat(row, axis=1) for row in dense], axis=0),
                                 symmetric=plan.symmetric or None)
    return ops.BlockOperator(rows, symmetric=plan.symmetric or None)


def _host(v):
    """A device array (CuPy) as a NumPy array; NumPy arrays as they are."""
    return v.get() if hasattr(v, "get") and not isinstance(v, np.ndarray) else np.asarray(v)


def _is_numpy(xp) -> bool:
    return xp is np or getattr(xp, "__name__", "") == "array_api_compat.numpy"
