"""The generalized Gauss-Newton methods of minimize: "ggn" (line search) and "ggn-lm" (Levenberg-Marquardt).

References: newton on logistic regression (z affine in x, so G is the Hessian), least_squares "lm" on the
residual form of a squared-loss MLP (G = J'J of the stacked residuals, the same D and radius rule), dense
algebra for the curvature interface.
"""
import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems, solvers
from ricci.solvers import METHOD_REGISTRY, minimize
from ricci.solvers._residual_model import GeneralizedGaussNewtonCurvature
from ricci.solvers._user_operators import dense_operator


def _iterates(run):
    xs = []
    run(lambda intermediate_result: xs.append(np.array(intermediate_result.x, copy=True)))
    return xs


def test_registry_lists_the_ggn_methods():
    for name, function in (("ggn", solvers.ggn), ("ggn-lm", solvers.ggn_lm)):
        record = METHOD_REGISTRY[name]
        assert record.family == "minimize" and record.derivatives == "ggn"
        assert record.function is function
        assert "Schraudolph" in function.__doc__ and "Martens" in function.__doc__


def test_ggn_takes_newtons_iterates_on_logistic_regression():
    p = problems.get("logistic-regression")
    x0 = p.start()
    newton = _iterates(lambda cb: minimize(p.objective, x0, method="newton", tol=1e-10, callback=cb))
    ggn = _iterates(lambda cb: minimize(p.objective, x0, method="ggn", tol=1e-10, callback=cb))
    assert len(ggn) == len(newton) >= 5
    for a, b in zip(ggn, newton):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_ggn_lm_follows_lm_on_the_residual_form_of_a_squared_loss_mlp():
    """f = 1/2 ||r||^2 exactly (residual_weight 1/2), G = J'J, D = the column norms of J in both, the same
    initial radius and radius rule: the iterates agree until rounding (G is formed as J_O'J_O + lam I, J'J from
    the stacked J) is amplified by the nonconvex problem; both end at stationary points."""
    p = problems.get("mlp")
    assert p.residual_weight == 0.5
    x0 = p.start()
    ggn_lm = _iterates(lambda cb: minimize(p.objective, x0, method="ggn-lm", tol=1e-8, callback=cb))
    lm = _iterates(lambda cb: solvers.least_squares(p.residual.fun, x0, jac=p.residual.jac, method="lm",
                                                    ftol=None, xtol=None, gtol=None, optimality_tol=1e-8,
                                                    callback=cb))
    for a, b in zip(ggn_lm[:25], lm[:25]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
    for x in (ggn_lm[-1], lm[-1]):
        assert np.max(np.abs(p.objective.jac(x))) <= 1e-6


@pytest.mark.parametrize("name", ["logistic-regression", "softmax-regression"])
@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_ggn_methods_converge_on_convex_problems(name, method):
    p = problems.get(name)
    res = p.solve(method, tol=1e-8)
    assert res.success and res.status == 0
    assert np.max(np.abs(p.objective.jac(res.x))) <= 1e-8
    assert res.nhev >= 1


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_ggn_methods_reach_a_stationary_point_of_a_logistic_loss_mlp(method):
    p = problems.get("mlp", loss="logistic")
    assert method in p.methods
    res = p.solve(method, tol=1e-6, maxiter=1000)
    assert res.success
    g = p.objective.jac(res.x)
    assert np.max(np.abs(g)) <= 1e-6
    assert p.objective.fun(res.x) < p.objective.fun(p.start())


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_without_a_model_is_a_type_error_naming_what_to_pass(method):
    f = lambda x: float(x @ x)
    g = lambda x: 2.0 * x
    with pytest.raises(TypeError, match="ggn=callable.*ggn_operator"):
        minimize(f, np.ones(3), method=method, jac=g)
    with pytest.raises(TypeError, match="ggn must be a callable"):
        minimize(f, np.ones(3), method=method, jac=g, options={"ggn": np.eye(3)})


def test_ggn_given_as_a_callable_and_problems_without_the_model_refuse_it():
    A = np.diag([1.0, 10.0, 100.0])
    res = minimize(lambda x: 0.5 * float(x @ A @ x) + float(np.sum(x)), np.ones(3), method="ggn",
                   jac=lambda x: A @ x + 1.0, options={"ggn": lambda x: A}, tol=1e-12)
    np.testing.assert_allclose(res.x, -1.0 / np.diag(A), rtol=1e-12)
    assert res.nit == 1
    p = problems.get("rosenbrock")
    assert "ggn" not in p.methods and "ggn-lm" not in p.methods
    with pytest.raises(ValueError, match="generalized Gauss-Newton"):
        p.solve("ggn")


def test_scipy_custom_method_callable():
    p = problems.get("logistic-regression")
    obj = p.objective
    res = scipy.optimize.minimize(obj.fun, p.start(), jac=obj.jac, method=solvers.ggn_lm,
                                  options={"ggn": obj.ggn_operator, "gtol": 1e-9})
    assert res.success
    assert np.max(np.abs(obj.jac(res.x))) <= 1e-9


def test_cli_lists_and_runs_ggn(capsys):
    from ricci.problems._cli import main

    main(["solve", "logistic-regression", "--method", "ggn"])
    out = capsys.readouterr().out
    assert "ggn" in out


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), rank=st.integers(0, 6), seed=st.integers(0, 2**31 - 1))
def test_curvature_interface_matches_dense_algebra(n, rank, seed):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((min(rank, n), n))
    G = B.T @ B + (1e-3 if rank == 0 else 0.0) * np.eye(n)
    s = rng.uniform(0.5, 2.0, n)
    g = G @ rng.standard_normal(n)  # in the range of G
    p = rng.standard_normal(n)
    curv = GeneralizedGaussNewtonCurvature(dense_operator(G, symmetric=True))
    Gs = s[:, None] * G * s[None, :]
    np.testing.assert_allclose(curv.scaled(s).to_dense(), Gs, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(curv.column_norms(), np.sqrt(np.diag(G)), rtol=1e-14)
    np.testing.assert_allclose(curv.model_curvature(p), p @ G @ p, rtol=1e-10, atol=1e-12)
    gs = s * g
    expected = 0.5 * gs @ np.linalg.pinv(Gs, rcond=1e-10, hermitian=True) @ gs
    np.testing.assert_allclose(curv.minimizer_reduction(gs, curv.scaled(s)), expected, rtol=1e-6, atol=1e-10)


# ------------------------------------------------------------------------------------------------------------
# Hessian-free: G only through products, steps by conjugate gradients
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_hessian_free_methods_reach_a_stationary_point_of_a_logistic_loss_mlp(method):
    p = problems.get("mlp", loss="logistic")
    obj = p.objective
    formed = []
    original = obj.ggn_operator
    obj.ggn_operator = lambda x: formed.append(1) or original(x)  # the structured G must never be formed
    try:
        res = minimize(obj, p.start(), method=method, tol=1e-6, options={"hessian_free": True, "maxiter": 3000})
    finally:
        del obj.ggn_operator
    assert res.success and not formed
    assert np.max(np.abs(obj.jac(res.x))) <= 1e-6
    assert obj.fun(res.x) < obj.fun(p.start())


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_hessian_free_on_logistic_regression_converges_as_newton(method):
    p = problems.get("logistic-regression")
    res = minimize(p.objective, p.start(), method=method, tol=1e-8,
                   options={"hessian_free": True, "cg_rtol": 1e-6})
    ref = minimize(p.objective, p.start(), method="newton", tol=1e-10)
    assert res.success and res.nit <= 20  # superlinear with CG solved to 1e-6: a handful of Newton-like steps
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-7)


def test_the_model_chooses_hessian_free_and_options_override_it(monkeypatch):
    from ricci.symbolic import _ggn as ggn_module

    monkeypatch.setattr(ggn_module, "HESSIAN_FREE_ENTRIES", 0)
    p = problems.get("mlp", loss="logistic")
    obj = p.objective
    assert obj.prefers_products
    calls = {"operator": 0, "products": 0}
    for name in calls:
        method = getattr(obj, f"ggn_{name}")
        setattr(obj, f"ggn_{name}", lambda x, _m=method, _n=name: calls.__setitem__(_n, calls[_n] + 1) or _m(x))
    minimize(obj, p.start(), method="ggn", options={"maxiter": 3})
    assert calls == {"operator": 0, "products": 3}
    minimize(obj, p.start(), method="ggn", options={"maxiter": 3, "hessian_free": False})
    assert calls == {"operator": 3, "products": 3}


def test_a_products_only_ggn_callable_runs_hessian_free_and_false_refuses_it():
    A = np.diag([1.0, 10.0, 100.0])
    f = lambda x: 0.5 * float(x @ A @ x) + float(np.sum(x))
    g = lambda x: A @ x + 1.0
    G = lambda x: solvers.MatvecOperator((3, 3), lambda v: A @ v, symmetric=True)
    for options in ({}, {"hessian_free": True}):
        res = minimize(f, np.ones(3), method="ggn", jac=g, tol=1e-10, options={"ggn": G, "cg_rtol": 1e-12, **options})
        np.testing.assert_allclose(res.x, -1.0 / np.diag(A), rtol=1e-10)
    with pytest.raises(TypeError, match="known only through products"):
        minimize(f, np.ones(3), method="ggn", jac=g, options={"ggn": G, "hessian_free": False})


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_hessian_free_options_are_validated(method):
    p = problems.get("logistic-regression")
    with pytest.raises(TypeError, match="hessian_free.*True, False or None"):
        minimize(p.objective, p.start(), method=method, options={"hessian_free": "yes"})
    with pytest.raises(ValueError, match=r"cg_rtol.*\(0, 1\)"):
        minimize(p.objective, p.start(), method=method, options={"cg_rtol": 0.0})
    with pytest.raises(ValueError, match="cg_maxiter.*integer >= 1"):
        minimize(p.objective, p.start(), method=method, options={"cg_maxiter": 0})


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), seed=st.integers(0, 2**31 - 1), rtol=st.sampled_from([1e-1, 1e-4, 1e-8]))
def test_products_only_curvature_solves_by_conjugate_gradients(n, seed, rtol):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n + 2, n))
    G = B.T @ B + 1e-2 * np.eye(n)
    g = rng.standard_normal(n)
    s = rng.uniform(0.5, 2.0, n)
    op = solvers.MatvecOperator((n, n), lambda v: G @ v, symmetric=True)
    curv = GeneralizedGaussNewtonCurvature(op, g, True, rtol, 50)  # beyond n products: rounding
    assert curv.products_only and curv.scaled(s) is None and curv.column_norms() is None
    Gs, gs = s[:, None] * G * s[None, :], s * g
    q = curv.minimizer_by_products(s)
    assert np.linalg.norm(Gs @ q + gs) <= rtol * np.linalg.norm(gs) * (1 + 1e-8) + 1e-14
    assert q @ gs < 0  # a descent direction
    radius = 0.5 * np.linalg.norm(np.linalg.solve(Gs, gs))
    step = curv.trust_region_by_products(s, radius, k_easy=0.1).step
    assert np.linalg.norm(step) <= radius * (1 + 1e-12) and step @ gs < 0
    np.testing.assert_allclose(curv.minimizer_reduction(gs, None), 0.5 * g @ np.linalg.solve(G, g), rtol=1e-6)
    # a structured G used by products all the same (the option hessian_free=True)
    dense = GeneralizedGaussNewtonCurvature(dense_operator(G, symmetric=True), g, True, rtol, None)
    assert dense.products_only and dense.scaled() is None


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_a_hessian_free_product_with_nan_ends_non_finite_at_the_best_point(method):
    A = np.diag([1.0, 10.0, 100.0])
    f = lambda x: 0.5 * float(x @ A @ x) + float(np.sum(x))
    g = lambda x: A @ x + 1.0
    G = lambda x: solvers.MatvecOperator((3, 3), lambda v: np.full(3, np.nan), symmetric=True)
    res = minimize(f, np.ones(3), method=method, jac=g, options={"ggn": G})
    assert not res.success and res.status == solvers.Outcome.NON_FINITE.status
    assert "NaN or inf" in res.message
    np.testing.assert_array_equal(res.x, np.ones(3))


def test_cg_maxiter_caps_the_products_of_each_hessian_free_direction():
    """Each ggn direction costs at most cg_maxiter products for its CG and one for the model's decrease."""
    A = np.diag([1.0, 3.0, 10.0, 30.0])
    f = lambda x: 0.5 * float(x @ A @ x) + float(np.sum(x))
    g = lambda x: A @ x + 1.0
    for cap in (1, 3):
        products = []
        G = lambda x, _seen=products: solvers.MatvecOperator((4, 4), lambda v: _seen.append(1) or A @ v,
                                                             symmetric=True)
        minimize(f, np.ones(4), method="ggn", jac=g, options={"ggn": G, "maxiter": 2, "cg_maxiter": cap,
                                                                "cg_rtol": 1e-14})
        assert len(products) == 2 * (cap + 1)
