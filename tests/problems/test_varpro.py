"""Variable projection for matrix factorization (problems/_varpro.py).

Oracles: V*(U) against the dense ridge solution of each column; the reduced residual against the problem's own
residual and objective at (U, V*(U)); the RW2 Jacobian P J_U against its defining formula with the dense
Jacobian of the problem's residual, and P (dr*/dU) against central differences of r*(U) (the exact identity
P dr*/dU = P J_U, since P J_V = 0); the solver against the full f's gradient and ricci's newton."""
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.problems import (
    FactorizationData,
    ProjectedJacobian,
    reduced_residual,
    ridge_factor,
    varpro,
)


@functools.cache
def _problem(m, n, rank, missing, lam, seed):
    return problems.get("matrix-factorization", m=m, n=n, rank=rank, missing=missing, lam=lam, seed=seed)


def _case(m, n, rank, missing, lam, seed):
    p = _problem(m, n, rank, missing, lam, seed)
    data = FactorizationData.from_problem(p)
    U = np.random.default_rng(seed + 1).standard_normal((m, rank))
    return p, data, U


def _dense_blocks(p, data, U, V):
    """J_U, J_V (dense, from the problem's own residual Jacobian) and the projector P = I - J_V J_V^+."""
    J = np.asarray(p.residual.jac(data.pack(U, V)))
    mr = data.m * data.rank
    JU, JV = J[:, :mr], J[:, mr:]
    P = np.eye(J.shape[0]) - JV @ np.linalg.pinv(JV)
    return JU, JV, P


cases = {"m": st.integers(3, 8), "n": st.integers(3, 7), "rank": st.integers(1, 3),
         "missing": st.sampled_from([0.0, 0.3, 0.5]), "lam": st.sampled_from([1e-3, 0.1, 1.0]),
         "seed": st.integers(0, 3)}  # few seeds: each problem is compiled once (_problem is cached)


@settings(max_examples=5, deadline=None)
@given(**cases)
def test_ridge_factor_is_the_dense_ridge_solution_and_stationary_in_v(m, n, rank, missing, lam, seed):
    rank = min(rank, m, n)
    p, data, U = _case(m, n, rank, missing, lam, seed)
    V = ridge_factor(data, U).V
    for j in range(n):  # the dense oracle, column by column: min ||U_j v - t_j||^2 + lam ||v||^2
        k = data.cols == j
        A = np.vstack([U[data.rows[k]], np.sqrt(lam) * np.eye(rank)])
        b = np.concatenate([data.t[k], np.zeros(rank)])
        np.testing.assert_allclose(V[j], np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-9, atol=1e-11)
    g = np.asarray(p.objective.jac(data.pack(U, V)))
    assert np.max(np.abs(g[m * rank:])) <= 1e-10 * max(1.0, np.max(np.abs(g)))  # grad_V f(U, V*(U)) = 0


@settings(max_examples=5, deadline=None)
@given(**cases)
def test_reduced_residual_cost_and_gradient_are_those_of_f(m, n, rank, missing, lam, seed):
    rank = min(rank, m, n)
    p, data, U = _case(m, n, rank, missing, lam, seed)
    V = ridge_factor(data, U).V
    x = data.pack(U, V)
    r = reduced_residual(data, U)
    np.testing.assert_allclose(r, np.asarray(p.residual.fun(x)), rtol=1e-12, atol=1e-13)
    assert 0.5 * float(r @ r) == pytest.approx(float(p.objective.fun(x)), rel=1e-12)
    J = ProjectedJacobian(data, U, ridge_factor(data, U))
    g = np.asarray(p.objective.jac(x))
    np.testing.assert_allclose(J.rmatvec(r), g[:m * rank], rtol=1e-9, atol=1e-11)  # J*'r* = grad_U f


@settings(max_examples=5, deadline=None)
@given(**cases)
def test_projected_jacobian_is_p_ju_and_agrees_with_finite_differences(m, n, rank, missing, lam, seed):
    rank = min(rank, m, n)
    p, data, U = _case(m, n, rank, missing, lam, seed)
    J = ProjectedJacobian(data, U, ridge_factor(data, U))
    JU, _, P = _dense_blocks(p, data, U, ridge_factor(data, U).V)
    dense = P @ JU  # the RW2 (Kaufman) Jacobian by its definition
    np.testing.assert_allclose(J.to_dense(), dense, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(J.gram().to_dense(), dense.T @ dense, rtol=1e-9, atol=1e-10)
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((J.shape[0], 2))
    np.testing.assert_allclose(J.rmatvec(Y), dense.T @ Y, rtol=1e-9, atol=1e-10)
    assert J.norm_estimate() == pytest.approx(np.linalg.norm(dense), rel=1e-9)
    # P (dr*/dU) d = J* d for the exact derivative of r*, here by central differences of r*(U)
    d = rng.standard_normal(U.shape)
    h = 1e-5
    fd = (reduced_residual(data, U + h * d) - reduced_residual(data, U - h * d)) / (2 * h)
    np.testing.assert_allclose(P @ fd, J.matvec(d.ravel()), rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


@settings(max_examples=4, deadline=None)
@given(**cases)
def test_reduced_gram_operator_matches_the_dense_gram_with_column_scaling(m, n, rank, missing, lam, seed):
    """The large-size Gram (products, block-Jacobi CG solves) against the dense Gram of the scaled J* D."""
    rank = min(rank, m, n)
    _, data, U = _case(m, n, rank, missing, lam, seed)
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.5, 2.0, m * rank)
    dense = ProjectedJacobian(data, U, ridge_factor(data, U), scale=s)
    iterative = ProjectedJacobian(data, U, ridge_factor(data, U), scale=s, dense_gram=False)
    Js = ProjectedJacobian(data, U, ridge_factor(data, U)).to_dense() * s[None, :]
    np.testing.assert_allclose(dense.to_dense(), Js, rtol=1e-10, atol=1e-12)
    G = Js.T @ Js
    np.testing.assert_allclose(dense.gram().to_dense(), G, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(iterative.gram().to_dense(), G, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(iterative.gram().diagonal(), np.diag(G), rtol=1e-10, atol=1e-12)
    b = rng.standard_normal(m * rank)
    for shift in (0.0, 0.5):
        x = iterative.gram().solve(b, shift)
        np.testing.assert_allclose((G + shift * np.eye(m * rank)) @ x, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())


def test_without_penalty_the_gauge_directions_are_the_null_space_of_the_jacobian():
    """lam = 0: r*(U A) = r*(U), so J* (U E) = 0 for every r x r matrix E (module docstring, gauge freedom)."""
    _, data, U = _case(9, 8, 2, 0.0, 0.0, 4)
    J = ProjectedJacobian(data, U, ridge_factor(data, U))
    E = np.random.default_rng(0).standard_normal((2, 2))
    assert np.max(np.abs(J.matvec((U @ E).ravel()))) <= 1e-10 * np.linalg.norm(U @ E)
    A = np.eye(2) + 0.3 * E
    np.testing.assert_allclose(reduced_residual(data, U @ A), reduced_residual(data, U), atol=1e-10)


@pytest.mark.parametrize("seed, dense_gram_limit", [(0, 10**6), (1, 10**6), (2, 0)])  # dense Gram; CG solves
def test_varpro_reaches_a_stationary_point_of_f_and_agrees_with_newton(seed, dense_gram_limit):
    p = problems.get("matrix-factorization", m=15, n=12, rank=2, missing=0.3, seed=seed)
    res = varpro(p, tol=1e-8, dense_gram_limit=dense_gram_limit)
    g = np.asarray(p.objective.jac(res.x))
    assert res.success and np.max(np.abs(g)) <= 1e-8
    np.testing.assert_allclose(res.jac, g, atol=1e-12)
    assert res.fun == pytest.approx(float(p.objective.fun(res.x)), rel=1e-14)
    newton = p.solve("newton", tol=1e-8)
    assert newton.success and res.fun == pytest.approx(newton.fun, rel=1e-8)
    # the same minimum: U V' agrees (U and V are fixed only up to the orthogonal gauge U Q, V Q)
    (U1, V1), (U2, V2) = (FactorizationData.from_problem(p).unpack(x) for x in (res.x, newton.x))
    np.testing.assert_allclose(U1 @ V1.T, U2 @ V2.T, atol=1e-6)


def test_problem_solve_and_method_list():
    p = problems.get("matrix-factorization")
    assert "varpro" in p.methods
    res = p.solve("varpro", tol=1e-9)
    assert res.success and np.max(np.abs(res.jac)) <= 1e-9 and res.x.shape == p.x0.shape
    assert res.nit >= 1 and res.nfev >= res.nit and "variable projection" in res.message
    logistic = problems.get("logistic-regression")
    assert "varpro" not in logistic.methods
    with pytest.raises(ValueError, match="matrix-factorization problems"):
        logistic.solve("varpro")


def test_bad_input_is_refused_with_what_was_expected():
    p, data, U = _case(6, 5, 2, 0.0, 1e-3, 0)
    with pytest.raises(ValueError, match=r"U must have shape \(6, 2\)"):
        ridge_factor(data, U[:, :1])
    with pytest.raises(ValueError, match="packed"):
        varpro(p, np.zeros(3))
    with pytest.raises(ValueError, match="tol must be"):
        varpro(p, tol=-1.0)
    with pytest.raises(TypeError, match="integer"):
        FactorizationData.make(np.array([0.5]), np.array([0]), np.array([1.0]), (2, 2), 1, 0.0)
    # lam = 0 and a column with fewer observed entries than the rank: V*(U) is not unique
    rows, cols = np.array([0, 1, 0]), np.array([0, 0, 1])
    sparse = FactorizationData.make(rows, cols, np.ones(3), (2, 2), 2, 0.0)
    with pytest.raises(ValueError, match="not unique"):
        ridge_factor(sparse, np.eye(2))
