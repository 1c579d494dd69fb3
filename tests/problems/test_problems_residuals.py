"""Residual forms and the generalized Gauss-Newton form of the problem library.

Squared-loss MLPs have a residual [O - Y, sqrt(lam) W_1, ..., sqrt(lam) W_L] with f = 1/2 ||r||^2 exactly,
its Jacobian (dense and as an operator) agrees with finite differences, and lm / gauss-newton reach a
stationary point; the other families keep what they had; logistic, softmax and MLP problems carry the GGN."""
import numpy as np
import pytest
import ricci.symbolic as rs
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems


def _teacher_problem(m, n, hidden, lam, seed):
    """A squared-loss MLP whose targets a network of the same shape produces (at x_teacher), and x_teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    blank = problems.mlp(X, np.zeros((m, 1)), hidden=hidden, lam=lam, seed=seed)
    x_teacher = rng.standard_normal(blank.n)
    Y = np.asarray(blank.residual.fun(x_teacher))[:m].reshape(m, 1)  # the first block is O - 0
    return problems.mlp(X, Y, hidden=hidden, lam=lam, seed=seed), x_teacher


@settings(max_examples=4)
@given(m=st.integers(2, 9), n=st.integers(1, 3), hidden=st.sampled_from([(2,), (3,), (2, 2), (3, 2)]),
       lam=st.sampled_from([0.0, 1e-3, 0.5]), seed=st.integers(0, 2**16))
def test_mlp_residual_is_the_objective_and_its_jacobian_agrees_with_finite_differences(m, n, hidden, lam, seed):
    rng = np.random.default_rng(seed)
    p = problems.mlp(rng.standard_normal((m, n)), rng.standard_normal((m, 2)), hidden=hidden, lam=lam, seed=seed)
    assert p.is_least_squares and p.residual_weight == 0.5 and {"lm", "gauss-newton"} <= set(p.methods)
    x, v = rng.standard_normal(p.n), rng.standard_normal(p.n)
    r = np.asarray(p.residual.fun(x))
    weights = sum(np.sum(w * w) for name, w in p.objective.unpack(x).items() if name.startswith("W"))
    n_weights = sum(c for v, c in zip(p.objective.wrt, p.objective.counts) if v.name.startswith("W"))
    assert r.shape == (2 * m + n_weights,)  # [O - Y (m x 2), sqrt(lam) W_1, ..., sqrt(lam) W_L] flattened
    assert p.objective.fun(x) == pytest.approx(0.5 * float(r @ r), rel=1e-12, abs=1e-14)
    fit = r[:2 * m]
    assert p.objective.fun(x) == pytest.approx(0.5 * float(fit @ fit) + lam / 2 * weights, rel=1e-12, abs=1e-14)
    J = np.asarray(p.residual.jac(x))
    h = 1e-6
    fd = (np.asarray(p.residual.fun(x + h * v)) - np.asarray(p.residual.fun(x - h * v))) / (2 * h)
    np.testing.assert_allclose(J @ v, fd, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(fd).max()))
    op = p.residual.jac_operator(x)
    np.testing.assert_allclose(np.asarray(op.to_dense()), J, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(op.rmatvec(r)), J.T @ r, rtol=1e-12, atol=1e-13)
    # grad f = J' r (f = 1/2 ||r||^2)
    np.testing.assert_allclose(np.asarray(p.objective.jac(x)), J.T @ r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hidden", [(3,), (3, 2)], ids=["one-hidden-layer", "two-hidden-layers"])
@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_lm_and_gauss_newton_train_squared_loss_mlps(method, hidden):
    """From a seeded start near a teacher network (targets it made, lam = 0, more samples than weights), both
    least-squares methods reach a stationary point of f, |grad f|_inf <= 1e-8, at the zero residual, in the
    few iterations of their quadratic convergence there. (With lam > 0 the minimum has a nonzero residual and
    convergence is linear: scipy's MINPACK lm needs 70 evaluations on the same net with lam = 1e-3.)"""
    p, x_teacher = _teacher_problem(30, 2, hidden, 0.0, seed=3)
    x0 = x_teacher + 0.02 * np.random.default_rng(8).standard_normal(p.n)
    res = p.solve(method, x0=x0, tol=1e-8, max_nfev=30)
    assert res.success, res.message
    assert np.abs(np.asarray(p.objective.jac(res.x))).max() <= 1e-8
    assert p.objective.fun(res.x) <= 1e-14


def test_mlp_jacobian_operator_kinds():
    """One hidden layer: the plan finds too little structure and J is one dense matrix; two hidden layers: a
    BlockOperator (one column block per variable, the sqrt(lam) W blocks kept as scaled identities)."""
    from ricci.solvers import BlockOperator, DenseOperator

    one, _ = _teacher_problem(12, 2, (3,), 1e-3, seed=1)
    assert isinstance(one.residual.jac_operator(one.x0), DenseOperator)
    two, _ = _teacher_problem(12, 2, (3, 2), 1e-3, seed=1)
    J = two.residual.jac_operator(two.x0)
    assert isinstance(J, BlockOperator)
    assert J.nbytes < J.shape[0] * J.shape[1] * 8


def test_the_other_families_keep_their_residuals_and_forms():
    for name in problems.names("mgh"):
        p = problems.get(name)
        assert p.is_least_squares and p.residual_weight == 1.0 and p.ggn is None, name
    fact = problems.get("matrix-factorization")
    assert fact.is_least_squares and fact.residual_weight == 0.5 and fact.ggn is None
    for name, params in [("logistic-regression-synthetic", {"m": 20, "n": 3}), ("softmax-regression", {"m": 20}),
                         ("mlp", {"loss": "logistic", "m": 12})]:
        p = problems.get(name, **params)
        assert not p.is_least_squares and isinstance(p.ggn, rs.GaussNewton) and p.ggn is p.objective, name
        with pytest.raises(ValueError, match="no residual"):
            p.solve("lm")
    squared = problems.get("mlp", m=12)
    assert squared.is_least_squares and isinstance(squared.ggn, rs.GaussNewton)


@pytest.mark.parametrize("name, params", [("logistic-regression-synthetic", {"m": 30, "n": 4}),
                                          ("softmax-regression", {"m": 25, "n": 3}),
                                          ("mlp", {"m": 10}), ("mlp", {"m": 10, "loss": "logistic"})])
def test_problem_ggn_is_j_h_j_and_the_hessian_where_the_model_is_affine(name, params, rng):
    p = problems.get(name, **params)
    obj = p.ggn
    x = np.array(p.x0) + 0.3 * rng.standard_normal(p.n)
    J = np.asarray(obj.output.jac(x))
    HL = np.asarray(obj.loss.hess(obj.output.fun(x)))
    lam = p.params["lam"]
    penalty = np.concatenate([np.full(c, lam if v.name.upper().startswith("W") else 0.0)
                              for v, c in zip(obj.wrt, obj.counts)])
    G = np.asarray(obj.ggn(x))
    np.testing.assert_allclose(G, J.T @ HL @ J + np.diag(penalty), rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * np.abs(G).max()
    if p.family in ("logistic", "softmax"):
        np.testing.assert_allclose(G, np.asarray(obj.hess(x)), rtol=1e-10, atol=1e-12)
    assert isinstance(p.on("numpy").ggn, rs.GaussNewton)
