"""The primal-dual interior-point method "ipm" (Wächter & Biegler 2006): published HS optima, scipy's LP and
NNLS solvers, an equality-constrained QP's exact KKT solution, KKT residuals at every returned point, honest
INFEASIBLE / UNBOUNDED ends, scipy's custom-method path and option validation."""
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.solvers import InteriorPointOptions, ipm

# equality, inequality, bounds, nonconvex (HS numbering; all reach their published global optimum)
HS = ["hs6", "hs7", "hs14", "hs15", "hs19", "hs21", "hs29", "hs35", "hs39", "hs43", "hs71", "hs76", "hs78",
      "hs100", "hs113"]


def _solve(p, **options):
    o = p.objective
    return ipm(o.fun, np.array(p.x0, dtype=float), jac=o.jac, hess=o.hess, bounds=problems.scipy_bounds(p),
               constraints=problems.scipy_constraints(p), **options)


def _kkt(p, res):
    blocks = res.v[:len(p.constraints)]
    zb = res.v[len(p.constraints)] if p.bounds is not None else None
    return problems.kkt_residuals(p, res.x, blocks, zb)


@pytest.mark.parametrize("name", HS)
def test_hock_schittkowski_optimum_and_kkt(name):
    p = problems.get(name)
    res = _solve(p)
    assert res.success, res.message
    assert abs(res.fun - p.minimum) <= 1e-6 * max(1.0, abs(p.minimum))
    assert res.constr_violation <= 1e-8
    kkt = _kkt(p, res)
    assert kkt.worst <= 1e-5 * max(1.0, abs(p.minimum)), kkt


def _quadratic(Q, q):
    return (lambda x: 0.5 * x @ Q @ x + q @ x, lambda x: Q @ x + q, lambda x: Q)


def test_linear_program_matches_linprog():
    rng = np.random.default_rng(0)
    n, m = 8, 5
    A = rng.standard_normal((m, n))
    b = A @ rng.uniform(0.5, 1.5, n) + 1.0
    c = rng.standard_normal(n)
    ref = so.linprog(c, A_ub=A, b_ub=b, bounds=[(0, 3)] * n, method="highs")
    res = ipm(lambda x: c @ x, np.zeros(n), jac=lambda x: c, hess=lambda x: np.zeros((n, n)),
              bounds=so.Bounds(0, 3), constraints=[so.LinearConstraint(A, -np.inf, b)])
    assert res.success, res.message
    assert res.fun == pytest.approx(ref.fun, abs=1e-7)
    # scipy's sign convention: v >= 0 on upper sides, equal to HiGHS's marginals (which are <= 0) negated
    np.testing.assert_allclose(res.v[0], -ref.ineqlin.marginals, atol=1e-6)


def test_equality_qp_exact_kkt_solution():
    rng = np.random.default_rng(1)
    n, m = 6, 2
    M = rng.standard_normal((n, n))
    Q, q = M @ M.T + np.eye(n), rng.standard_normal(n)
    A, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    K = np.block([[Q, A.T], [A, np.zeros((m, m))]])
    sol = np.linalg.solve(K, np.concatenate([-q, b]))
    f, g, h = _quadratic(Q, q)
    res = ipm(f, np.zeros(n), jac=g, hess=h, constraints=[so.LinearConstraint(A, b, b)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, sol[:n], atol=1e-8)
    np.testing.assert_allclose(res.v[0], sol[n:], atol=1e-7)  # grad f + A'v = 0


def test_nnls_matches_scipy():
    rng = np.random.default_rng(2)
    A, b = rng.standard_normal((30, 10)), rng.standard_normal(30)
    ref, _ = so.nnls(A, b)
    f, g, h = _quadratic(A.T @ A, -A.T @ b)
    res = ipm(f, np.ones(10), jac=g, hess=h, bounds=so.Bounds(0, np.inf))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, ref, atol=1e-7)
    assert np.all(res.v[0] <= 1e-12)  # lower bounds: z <= 0 (scipy's sign)
    np.testing.assert_allclose(res.lagrangian_grad, 0, atol=1e-7)


def test_infeasible_ends_infeasible_at_least_violation():
    # x1 + x2 >= 3 and x1 + x2 <= 1: the least violation is 1 (at x1 + x2 = 2)
    A = np.array([[1.0, 1.0]])
    res = ipm(lambda x: x @ x, np.zeros(2), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(2),
              constraints=[so.LinearConstraint(A, 3, np.inf), so.LinearConstraint(A, -np.inf, 1)])
    assert res.status == 6 and not res.success, res.message
    assert res.constr_violation == pytest.approx(1.0, abs=1e-4)


def test_unbounded_ends_unbounded():
    res = ipm(lambda x: -x[0] - x[1], np.zeros(2), jac=lambda x: -np.ones(2), hess=lambda x: np.zeros((2, 2)),
              constraints=[so.LinearConstraint([[1.0, -1.0]], -1, 1)], unbounded_threshold=1e6)
    assert res.status == 7, res.message
    assert res.fun < -1e6 and res.constr_violation <= 1e-8


def test_scipy_minimize_custom_method():
    p = problems.get("hs71")
    o = p.objective
    res = so.minimize(o.fun, np.array(p.x0, dtype=float), method=ipm, jac=o.jac, hess=o.hess,
                      bounds=problems.scipy_bounds(p), constraints=problems.scipy_constraints(p),
                      options={"maxiter": 100})
    assert res.success and res.fun == pytest.approx(p.minimum, rel=1e-7)


def test_minimize_by_name():
    from ricci.solvers import minimize

    p = problems.get("hs35")
    res = minimize(p.objective, np.array(p.x0, dtype=float), method="ipm", bounds=problems.scipy_bounds(p),
                   constraints=problems.scipy_constraints(p))
    assert res.success and res.fun == pytest.approx(p.minimum, rel=1e-7)


def test_hessian_vector_products_only():
    p = problems.get("hs71")
    o = p.objective
    res = ipm(o.fun, np.array(p.x0, dtype=float), jac=o.jac, hessp=o.hessp, bounds=problems.scipy_bounds(p),
              constraints=problems.scipy_constraints(p))
    assert res.success and res.fun == pytest.approx(p.minimum, rel=1e-7)


def test_max_iterations_is_honest():
    res = _solve(problems.get("hs71"), maxiter=2)
    assert res.status == 1 and res.nit == 2 and not res.success


@pytest.mark.parametrize("option, value", [("kappa_mu", 1.5), ("theta_mu", 2.5), ("tau_min", 0.0),
                                           ("mu_init", -1.0), ("bound_push", 0.7), ("kappa_sigma", 0.5),
                                           ("max_restorations", -1), ("gtol", 0.0)])
def test_bad_options_raise(option, value):
    with pytest.raises(ValueError, match=option):
        _solve(problems.get("hs71"), **{option: value})


def test_unknown_option_raises():
    with pytest.raises(TypeError):
        _solve(problems.get("hs71"), not_an_option=1)


def test_options_dataclass_defaults_are_ipopts():
    o = InteriorPointOptions()
    assert (o.kappa_mu, o.theta_mu, o.kappa_eps, o.tau_min, o.kappa_sigma) == (0.2, 1.5, 10.0, 0.99, 1e10)


# -- the KKT system: reduced (H by its structure, Schur complement in the constraints) against dense --------

def _kkt_matrix(W, sigma, A, delta_w=0.0, delta_c=0.0):
    from ricci.solvers._interior_point import _dense_kkt

    K = _dense_kkt(W, sigma, A)
    N = sigma.size
    K[np.arange(N), np.arange(N)] += delta_w
    K[np.arange(N, K.shape[0]), np.arange(N, K.shape[0])] -= delta_c
    return K


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), ineq=st.integers(0, 4), m_eq=st.integers(0, 3), rank=st.integers(0, 4),
       seed=st.integers(0, 2**31))
def test_reduced_kkt_solve_equals_the_dense_solve(n, ineq, m_eq, rank, seed):
    """A Gram Hessian (Woodbury route) plus barrier diagonal, slacks for the inequality rows: the reduced
    solve equals numpy's solve of the assembled K, and the inertia is the wanted one."""
    from ricci.solvers import GramOperator
    from ricci.solvers._interior_point import _KKTSolver, _ReducedKKT

    rng = np.random.default_rng(seed)
    m = m_eq + ineq
    W = GramOperator(rng.standard_normal((rank, n)))
    sigma = rng.uniform(0.1, 10.0, n + ineq)
    J = rng.standard_normal((m, n))
    A = np.zeros((m, n + ineq))
    A[:, :n] = J
    A[m_eq + np.arange(ineq), n + np.arange(ineq)] = -1.0
    factor, delta_w, delta_c = _KKTSolver().factor(W, sigma, A, mu=0.1)
    K = _kkt_matrix(W, sigma, A, delta_w, delta_c)
    rhs = rng.standard_normal(K.shape[0])
    if np.linalg.matrix_rank(J) == m:
        assert isinstance(factor, _ReducedKKT) and delta_w == 0.0 and delta_c == 0.0
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(K, rhs), rtol=1e-8, atol=1e-10)
    eig = np.linalg.eigvalsh(K)
    assert (eig > 0).sum() == n + ineq and (eig < 0).sum() == m


def test_rank_deficient_constraints_get_delta_c_through_the_schur_complement():
    """Two equal equality rows: S is singular, so the factorization adds delta_c = 1e-8 mu^(1/4), as the
    dense inertia test of W&B Algorithm IC does."""
    from ricci.solvers import DenseOperator
    from ricci.solvers._interior_point import _KKTSolver

    W = DenseOperator(np.eye(3), symmetric=True)
    A = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]])
    factor, delta_w, delta_c = _KKTSolver().factor(W, np.ones(3), A, mu=1e-4)
    assert delta_c == pytest.approx(1e-8 * 1e-4 ** 0.25)
    K = _kkt_matrix(W, np.ones(3), A, delta_w, delta_c)
    rhs = np.arange(5.0)
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(K, rhs), rtol=1e-6)


def test_indefinite_hessian_positive_on_the_constraints_null_space_needs_no_shift():
    """W = diag(-1, 1) with the constraint x1 = 0: H is not positive definite, but K has the wanted inertia,
    so the dense LDL' route takes it without a shift (Cholesky of H alone would have asked for one)."""
    from ricci.solvers import DenseOperator
    from ricci.solvers._interior_point import _DenseKKT, _KKTSolver

    W = DenseOperator(np.diag([-1.0, 1.0]), symmetric=True)
    A = np.array([[1.0, 0.0]])
    factor, delta_w, delta_c = _KKTSolver().factor(W, np.zeros(2), A, mu=0.1)
    assert isinstance(factor, _DenseKKT) and delta_w == 0.0 and delta_c == 0.0
    rhs = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(_kkt_matrix(W, np.zeros(2), A), rhs))


def test_gram_hessian_operator_takes_the_same_path_as_the_dense_hessian():
    """The SVM dual's Hessian comes as a Gram operator (Woodbury route): the iterates and the answer equal
    those of the same problem with its Hessian densified (the LDL'/Cholesky route)."""
    p = problems.get("svm-dual", m=80, n=4)
    o = p.objective
    assert type(o.hess_operator(p.x0)).__name__ == "GramOperator"
    x0 = np.array(p.x0, dtype=float)
    kw = {"bounds": problems.scipy_bounds(p), "constraints": problems.scipy_constraints(p)}
    structured = ipm(o, x0, **kw)
    dense = ipm(o.fun, x0, jac=o.jac, hess=lambda x: np.asarray(o.hess(x)), **kw)
    assert structured.success and dense.success
    assert structured.nit == dense.nit
    np.testing.assert_allclose(structured.x, dense.x, atol=1e-9)
    assert structured.fun == pytest.approx(dense.fun, rel=1e-12)


def test_large_svm_dual_never_forms_the_dense_kkt_matrix(monkeypatch):
    """A Gram Hessian plus the barrier's diagonal is positive definite at every iterate, so the 2001 x 2001 KKT
    matrix is never assembled: each step costs a Woodbury solve with the 5 x 5 inner matrix."""
    import ricci.solvers._interior_point as ip

    def refuse(*args):
        raise AssertionError("the dense KKT matrix was formed")

    monkeypatch.setattr(ip, "_dense_kkt", refuse)
    p = problems.get("svm-dual", m=2000, n=5)
    res = ipm(p.objective, np.array(p.x0, dtype=float), bounds=problems.scipy_bounds(p),
              constraints=problems.scipy_constraints(p))
    assert res.success, res.message
    kkt = _kkt(p, res)
    assert kkt.worst <= 1e-6 * max(1.0, abs(res.fun)), kkt


def test_hessian_with_nan_ends_with_an_honest_status():
    """A Hessian that is NaN while f and its gradient are finite: the solve ends NON_FINITE at the last point,
    saying so, instead of raising from inside scipy's LDL' factorization."""
    def hess(x):
        return np.full((2, 2), np.nan) if x[0] > 0.3 else np.eye(2)

    res = ipm(lambda x: 0.5 * x @ x, np.array([0.9, 0.1]), jac=lambda x: x, hess=hess,
              constraints=[so.LinearConstraint(np.ones((1, 2)), 1.0, 1.0)])
    assert not res.success and res.outcome.name == "NON_FINITE", res.message
    assert "Hessian of the Lagrangian has NaN" in res.message
    np.testing.assert_allclose(res.x, [0.9, 0.1])
