"""Derivatives compiled to structured operators: Objective.hess_operator and LeastSquares.jac_operator.

Oracles: the dense Hessian ``Objective.hess`` and Jacobian ``LeastSquares.jac`` (themselves checked against
finite differences elsewhere), ``Objective.hessp`` for products, and a dense solve for the structured solves.
The structure is asserted by the operator's type and by its memory (``nbytes``) against the dense matrix.
"""

from __future__ import annotations

import numpy as np
import pytest
import ricci.symbolic as rs
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.solvers import (
    BlockDiagonalOperator,
    BlockOperator,
    DenseOperator,
    DiagonalOperator,
    GramOperator,
    KroneckerOperator,
    Operator,
    ScaledIdentity,
    SparseOperator,
)
from ricci.symbolic import _operator_build, _operator_plan


def _agrees(obj, x, rng, *, kind=None):
    """The operator at x equals the dense Hessian (1e-12), its product equals hessp; returns it and the bytes
    it held before these checks (a solve or ``to_dense`` may cache more)."""
    op = obj.hess_operator(x)
    held = op.nbytes
    H = obj.hess(x)
    assert isinstance(op, Operator)
    if kind is not None:
        assert type(op) is kind, f"expected {kind.__name__}, got {type(op).__name__}"
    assert op.shape == H.shape
    scale = max(1.0, float(np.abs(H).max()))
    np.testing.assert_allclose(op.to_dense(), H, rtol=0, atol=1e-12 * scale)
    for _ in range(2):
        p = rng.standard_normal(obj.size)
        np.testing.assert_allclose(op @ p, obj.hessp(x, p), rtol=0, atol=1e-12 * scale * max(1, np.abs(p).sum()))
    return op, held


def _logistic(rng, m, n, intercept):
    X = rng.standard_normal((m, n))
    y = (rng.random(m) > 0.5).astype(float)
    return problems.logistic_regression(X, y, lam=0.3, intercept=intercept).objective, X


# ------------------------------------------------------------------------------------------------------------
# the problems of the library
# ------------------------------------------------------------------------------------------------------------


@settings(max_examples=6)
@given(m=st.integers(5, 25), extra=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_logistic_without_intercept_is_a_gram_plus_shift(m, extra, seed):
    rng = np.random.default_rng(seed)
    n = m + extra  # fewer samples than features: the Gram is smaller than the dense Hessian
    obj, X = _logistic(rng, m, n, intercept=False)
    x = rng.standard_normal(n)
    op, held = _agrees(obj, x, rng, kind=GramOperator)
    assert op.A is obj.data["X"]  # the data matrix itself, not a copy
    assert op.shift == pytest.approx(0.3)
    assert held - X.nbytes <= 8 * m  # no n x n array: X (held anyway) and m weights


def test_logistic_with_intercept_is_a_block_operator_with_a_gram(rng):
    obj, X = _logistic(rng, 30, 200, intercept=True)
    x = rng.standard_normal(201)
    op, held = _agrees(obj, x, rng, kind=BlockOperator)
    assert type(op.blocks[0][0]) is GramOperator
    assert held - X.nbytes < 8 * (30 + 2 * 201 + 1)  # weights, the border row and column, the corner
    g = rng.standard_normal(201)
    np.testing.assert_allclose(op.solve(g), np.linalg.solve(obj.hess(x), g), rtol=1e-9, atol=1e-12)


def test_quadratic_form_is_dense(rng):
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "n", "n")
    obj = rs.Objective(x @ A @ x, x, {"A": rng.standard_normal((6, 6))})
    _agrees(obj, rng.standard_normal(6), rng, kind=DenseOperator)


@settings(max_examples=5)
@given(m=st.integers(4, 14), n=st.integers(4, 12), rank=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_factorization_is_block_diagonal_with_a_sparse_coupling(m, n, rank, seed):
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((m, n))
    mask = (rng.random((m, n)) < 0.4).astype(float)
    mask[0, 0] = 1.0
    p = problems.matrix_factorization(T, rank, mask)
    op, held = _agrees(p.objective, p.x0, rng, kind=BlockOperator)
    types = [[type(b) for b in row] for row in op.blocks]
    assert types[0][0] is BlockDiagonalOperator and types[1][1] is BlockDiagonalOperator
    assert types[0][1] is SparseOperator and types[1][0] is SparseOperator
    upper, lower = op.blocks[0][1].A, op.blocks[1][0].A
    assert lower.format == "csc" and np.shares_memory(lower.data, upper.data)  # one orientation held
    size = p.objective.size
    observed = int(mask.sum())
    # blocks m r^2 + n r^2, the coupling r^2 per observed entry (held once): in proportion to the data
    assert held <= 8 * 4 * ((m + n) * rank**2 + observed * rank**2) + 64 * size


def test_factorization_newton_step_through_the_structure(rng):
    T = rng.standard_normal((12, 10))
    mask = (rng.random((12, 10)) < 0.5).astype(float)
    p = problems.matrix_factorization(T, 2, mask, lam=0.5)
    obj = p.objective
    op = obj.hess_operator(p.x0)
    g = obj.jac(p.x0)
    H = obj.hess(p.x0)
    shift = 1.0 + max(0.0, -np.linalg.eigvalsh(H).min())
    np.testing.assert_allclose(op.solve(g, shift=shift), np.linalg.solve(H + shift * np.eye(len(g)), g),
                               rtol=1e-8, atol=1e-10)


def test_softmax_is_dense(rng):
    X = rng.standard_normal((40, 4))
    obj = problems.softmax_regression(X, rng.integers(0, 3, 40)).objective
    _agrees(obj, rng.standard_normal(obj.size), rng, kind=DenseOperator)


def test_mlp_is_dense(rng):
    X = rng.standard_normal((30, 3))
    p = problems.mlp(X, rng.standard_normal((30, 2)), hidden=(4,))
    _agrees(p.objective, p.x0, rng, kind=DenseOperator)


# ------------------------------------------------------------------------------------------------------------
# the rules one by one
# ------------------------------------------------------------------------------------------------------------


def test_diagonal_plus_identity_is_one_diagonal(rng):
    x = rs.Vector("x", "n")
    obj = rs.Objective(2 * rs.sum(x * x) + rs.sum(rs.exp(x)), x, sizes={"n": 7})
    _, held = _agrees(obj, rng.standard_normal(7), rng, kind=DiagonalOperator)
    assert held == 7 * 8


def test_multiple_of_identity(rng):
    x, lam = rs.Vector("x", "n"), rs.Scalar("lam")
    obj = rs.Objective(lam / 2 * (x @ x), x, {"lam": 3.0}, sizes={"n": 9})
    op, _ = _agrees(obj, rng.standard_normal(9), rng, kind=ScaledIdentity)
    assert op.c == 3.0


@pytest.mark.parametrize("n, kind", [(4, KroneckerOperator), (40, BlockDiagonalOperator)])
def test_identity_kronecker_block(rng, n, kind):
    """tr(W B W') has the Hessian I (x) (B + B'): a Kronecker product with the identity, or (when the
    identity is larger than the blocks) the block diagonal of its n copies."""
    W, B, C = rs.Matrix("W", "n", "k"), rs.Matrix("B", "k", "k"), rs.Matrix("C", "n", "k")
    Bv = rng.standard_normal((3, 3))
    obj = rs.Objective(rs.trace(W @ B @ W.T) + rs.sum(C * W), W, {"B": Bv, "C": rng.standard_normal((n, 3))})
    op, _ = _agrees(obj, rng.standard_normal(3 * n), rng, kind=kind)
    np.testing.assert_allclose(op.to_dense(), np.kron(np.eye(n), Bv + Bv.T), atol=1e-13)


def test_kronecker_with_identity_on_the_right(rng):
    """tr(W' A W) over W (n x k) has the Hessian (A + A') (x) I_k."""
    W, A = rs.Matrix("W", "n", "k"), rs.Matrix("A", "n", "n")
    Av = rng.standard_normal((5, 5))
    obj = rs.Objective(rs.trace(W.T @ A @ W), W, {"A": Av}, sizes={"k": 3})
    op, _ = _agrees(obj, rng.standard_normal(15), rng, kind=KroneckerOperator)
    np.testing.assert_allclose(op.to_dense(), np.kron(Av + Av.T, np.eye(3)), atol=1e-13)


def test_small_structured_hessian_stays_dense(rng):
    """A Gram whose weights outnumber the dense Hessian's entries (m = 200 > n^2 = 25) is not worth it."""
    obj, _ = _logistic(rng, 200, 5, intercept=False)
    _agrees(obj, rng.standard_normal(5), rng, kind=DenseOperator)


def test_gram_of_a_product_of_operands(rng):
    """sum_a (X[a,i] z[a])(X[a,k] z[a]) w[a]: the weights and the factors of A are told apart."""
    X, z, w = rs.Matrix("X", "m", "n"), rs.Vector("z", "m"), rs.Vector("w", "n")
    v = X @ w
    obj = rs.Objective(rs.sum(rs.exp(z * v)), w, {"X": rng.standard_normal((6, 20)), "z": rng.standard_normal(6)})
    _agrees(obj, 0.1 * rng.standard_normal(20), rng, kind=GramOperator)


# ------------------------------------------------------------------------------------------------------------
# Jacobians
# ------------------------------------------------------------------------------------------------------------


def test_factorization_jacobian_is_sparse_blocks(rng):
    T = rng.standard_normal((9, 7))
    mask = (rng.random((9, 7)) < 0.4).astype(float)
    p = problems.matrix_factorization(T, 2, mask)
    ls = p.residual
    J = ls.jac_operator(p.x0)
    Jd = ls.jac(p.x0)
    assert type(J) is BlockOperator
    kinds = [[type(b) if b is not None else None for b in row] for row in J.blocks]
    assert kinds[0] == [SparseOperator, SparseOperator]
    assert kinds[1][0] is ScaledIdentity and kinds[2][1] is ScaledIdentity
    assert kinds[1][1] is None and kinds[2][0] is None
    np.testing.assert_allclose(J.to_dense(), Jd, atol=1e-13)
    v, u = rng.standard_normal(Jd.shape[1]), rng.standard_normal(Jd.shape[0])
    np.testing.assert_allclose(J @ v, Jd @ v, atol=1e-12)
    np.testing.assert_allclose(J.rmatvec(u), Jd.T @ u, atol=1e-12)
    observed = int(mask.sum())
    assert J.blocks[0][0].nbytes < 8 * 3 * observed * 2 + 8 * (observed + 1)  # r nonzeros per observed entry
    x = p.x0 + 0.5
    r = ls.fun(x)  # the residual known first: the operator's kernel computes its arrays only
    np.testing.assert_allclose(ls.jac_operator(x).to_dense(), ls.jac(x), atol=1e-13)
    assert ls.fun(x) is r


def test_linear_residual_jacobian_is_the_data(rng):
    X, w, y = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    Xv = rng.standard_normal((8, 3))
    ls = rs.LeastSquares(X @ w - y, w, {"X": Xv, "y": rng.standard_normal(8)})
    J = ls.jac_operator(np.zeros(3))
    assert type(J) is DenseOperator
    np.testing.assert_array_equal(J.to_dense(), Xv)


# ------------------------------------------------------------------------------------------------------------
# one kernel per point; the tables
# ------------------------------------------------------------------------------------------------------------


def test_operator_evaluation_gives_value_and_gradient(rng):
    """hess_operator at a new point computes f and g in its kernel (cached: with Dask data that is one compute
    for all three, see test_data_kinds); they equal those of a fresh objective."""
    obj, _ = _logistic(rng, 10, 30, intercept=True)
    fresh = rs.Objective(obj.expr, obj.wrt, {k: v for k, v in obj.data.items()})
    x = rng.standard_normal(31)
    op = obj.hess_operator(x)
    f, g = obj.fun_and_jac(x)
    assert f == pytest.approx(fresh.fun(x), rel=1e-14)
    np.testing.assert_allclose(g, fresh.jac(x), rtol=1e-13)
    assert obj.hess_operator(x) is op  # cached with the point
    x2 = x + 1.0
    fresh.fun_and_jac(x2)  # value and gradient known first: the operator's kernel computes the arrays only
    np.testing.assert_allclose(fresh.hess_operator(x2).to_dense(), obj.hess(x2), atol=1e-13)


@pytest.mark.parametrize("table", [_operator_plan.plan_arrays, _operator_plan.describe, _operator_build.assemble])
def test_every_plan_type_has_a_rule(table):
    for kind in _operator_plan.PLAN_TYPES:
        assert kind in table.registry, f"{table.__name__} has no rule for {kind.__name__}"
    with pytest.raises(NotImplementedError):
        extra = [None] if table is _operator_build.assemble else []  # assemble also takes its context
        table.dispatch(_operator_plan.Plan)(_operator_plan.Plan((1, 1)), *extra)
