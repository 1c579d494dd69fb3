"""The model families: derivatives against finite differences (first and second order, along random
directions), the least-squares relation f = c ||r||^2, scikit-learn concordance, validation, generators."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from ricci import problems
from ricci.problems import synthetic

FAMILY_CASES = [
    ("logistic-regression-synthetic", {"m": 40, "n": 5}),
    ("logistic-regression", {}),
    ("softmax-regression", {"m": 30, "n": 4}),
    ("softmax-regression", {"m": 30, "n": 4, "intercept": False, "classes": 4}),
    ("matrix-factorization", {}),
    ("matrix-factorization", {"missing": 0.0, "lam": 0.0}),
    ("mlp", {}),
    ("mlp", {"hidden": (3, 4), "activation": "sigmoid", "m": 16}),
    ("mlp", {"loss": "logistic", "activation": "softplus", "m": 16}),
    ("rosenbrock", {}),
    ("osborne-2", {}),
]


def _directional(fun, x, v, h):
    return (np.asarray(fun(x + h * v)) - np.asarray(fun(x - h * v))) / (2 * h)


@pytest.mark.parametrize("name, params", FAMILY_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FAMILY_CASES)])
def test_objective_derivatives_against_finite_differences(name, params, rng):
    p = problems.get(name, **params)
    obj = p.objective
    x = np.array(p.x0) + 0.1 * rng.standard_normal(p.n)
    v = rng.standard_normal(p.n)
    h = 1e-6
    g, H = np.asarray(obj.jac(x)), np.asarray(obj.hess(x))
    assert H.shape == (p.n, p.n)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10 * np.abs(H).max())
    fd_g = _directional(obj.fun, x, v, h)
    assert fd_g == pytest.approx(g @ v, rel=1e-6, abs=1e-6 * max(1.0, abs(obj.fun(x))))
    fd_H = _directional(obj.jac, x, v, h)
    np.testing.assert_allclose(H @ v, fd_H, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(H @ v).max()))
    np.testing.assert_allclose(np.asarray(obj.hessp(x, v)), H @ v, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(H).max()))
    if p.is_least_squares:
        r, J = np.asarray(p.residual.fun(x)), np.asarray(p.residual.jac(x))
        assert obj.fun(x) == pytest.approx(p.residual_weight * float(r @ r), rel=1e-12)
        np.testing.assert_allclose(J @ v, _directional(p.residual.fun, x, v, h), rtol=1e-5,
                                   atol=1e-6 * max(1.0, np.abs(J @ v).max()))


def test_softmax_weight_hessian_is_fourth_order(rng):
    p = problems.get("softmax-regression", m=20, n=3, classes=3, intercept=False)
    import ricci.symbolic as rs

    W = p.objective.wrt[0]
    H4 = rs.hessian(p.expression, W)
    assert len(H4.shape) == 4  # d2f / dW_jc dW_kd
    x = rng.standard_normal(p.n)
    fn = rs.compile(H4)
    needed = {v.name for v in fn.variables}
    vals = fn(**{k: v for k, v in p.objective.data.items() if k in needed}, W=x.reshape(3, 3))
    H4v = np.asarray(vals[0] if isinstance(vals, (list, tuple)) else vals)
    np.testing.assert_allclose(H4v.reshape(9, 9), np.asarray(p.objective.hess(x)), rtol=1e-12, atol=1e-12)


def test_logistic_matches_scikit_learn():
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    lam = 1e-2
    p = problems.get("logistic-regression", lam=lam)
    res = p.solve("newton", tol=1e-10)
    # scikit-learn minimizes C * sum_i loss_i + 1/2 ||w||^2 with the intercept unpenalized: C = 1 / lam
    clf = sklearn_linear.LogisticRegression(C=1.0 / lam, tol=1e-12, max_iter=20000)
    ds = problems.breast_cancer()
    clf.fit(ds.X, ds.y)
    x_sk = np.concatenate([clf.coef_.ravel(), clf.intercept_])
    f_ours, f_sk = p.objective.fun(res.x), p.objective.fun(x_sk)
    assert abs(f_ours - f_sk) <= 1e-6
    assert f_ours <= f_sk + 1e-12
    np.testing.assert_allclose(np.asarray(res.x), x_sk, atol=1e-3)


def test_logistic_without_intercept_and_label_encodings():
    X, y01 = synthetic.classification(30, 3, seed=1)
    a = problems.logistic_regression(X, y01, lam=0.1, intercept=False)
    b = problems.logistic_regression(X, 2 * y01 - 1, lam=0.1, intercept=False)
    assert a.n == 3
    x = np.array([0.3, -0.2, 0.5])
    assert a.objective.fun(x) == b.objective.fun(x)
    z = X @ x
    yy = 2 * y01 - 1
    assert a.objective.fun(x) == pytest.approx(np.logaddexp(0, -yy * z).sum() + 0.05 * x @ x, rel=1e-13)


@pytest.mark.parametrize("y, match", [
    (np.zeros(10), "single class"),
    (np.arange(10.0), r"\{0, 1\} or \{-1, \+1\}"),
    (np.r_[np.ones(5), np.full(5, np.nan)], "NaN"),
    (np.ones(9), "rows"),
])
def test_logistic_rejects_bad_labels(y, match):
    X = np.random.default_rng(0).standard_normal((10, 2))
    if match == "rows":
        y = np.r_[np.zeros(4), np.ones(5)]
    with pytest.raises(ValueError, match=match):
        problems.logistic_regression(X, y)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"X": np.ones(5)}, ValueError, "2-D"),
    ({"X": "abc"}, TypeError, "numeric"),
    ({"lam": -1.0}, ValueError, "lam"),
    ({"X": np.array([[1.0, np.inf]] * 4)}, ValueError, "NaN or infinite"),
])
def test_bad_inputs_name_the_argument(kwargs, error, match):
    args = {"X": np.ones((4, 2)), "y": np.array([0, 1, 0, 1.0]), "lam": 0.1} | kwargs
    with pytest.raises(error, match=match):
        problems.logistic_regression(**args)


def test_softmax_accepts_integer_labels_and_rejects_bad_targets():
    X, Y = synthetic.classification(30, 3, classes=3, seed=2)
    labels = Y.argmax(axis=1) + 5
    a, b = problems.softmax_regression(X, Y), problems.softmax_regression(X, labels)
    x = np.linspace(-1, 1, a.n)
    assert a.objective.fun(x) == pytest.approx(b.objective.fun(x), rel=1e-14)
    with pytest.raises(ValueError, match="single class"):
        problems.softmax_regression(X, np.zeros(30))
    with pytest.raises(ValueError, match="integers"):
        problems.softmax_regression(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="one-hot"):
        problems.softmax_regression(X, Y * 2)


def test_matrix_factorization_mask_ignores_missing_entries(rng):
    T, mask = synthetic.low_rank(8, 6, 2, missing=0.4, seed=3)
    T_nan = np.where(mask > 0, T, np.nan)
    a = problems.matrix_factorization(T_nan, 2, mask=mask, lam=0.1)
    b = problems.matrix_factorization(np.where(mask > 0, T, 1e3), 2, mask=mask, lam=0.1)
    x = rng.standard_normal(a.n)
    assert a.objective.fun(x) == pytest.approx(b.objective.fun(x), rel=1e-14)
    U, V = x[:16].reshape(8, 2), x[16:].reshape(6, 2)
    expected = 0.5 * np.sum((mask * (U @ V.T - np.where(mask > 0, T, 0))) ** 2) + 0.05 * (np.sum(U**2) + np.sum(V**2))
    assert a.objective.fun(x) == pytest.approx(expected, rel=1e-13)
    with pytest.raises(ValueError, match="rank"):
        problems.matrix_factorization(T, 7)
    with pytest.raises(ValueError, match="0 \\(missing\\) and 1"):
        problems.matrix_factorization(T, 2, mask=mask * 0.5)
    with pytest.raises(ValueError, match="NaN"):
        problems.matrix_factorization(T_nan, 2)


def _factorization_reference(T, mask, lam, x, rank):
    """f, gradient, Hessian and residual Jacobian of 1/2 ||M .* (U V' - T)||^2 + lam/2 (||U||^2 + ||V||^2),
    dense NumPy over all m x n entries (the formulation before the gathers), and the residual
    [r_obs; sqrt(lam) U; sqrt(lam) V] over the observed entries in row-major order."""
    m, n = T.shape
    U, V = x[:m * rank].reshape(m, rank), x[m * rank:].reshape(n, rank)
    M = mask.astype(float)
    E = M * (U @ V.T - np.where(mask, T, 0.0))
    f = 0.5 * np.sum(E**2) + lam / 2 * (np.sum(U**2) + np.sum(V**2))
    g = np.concatenate([(E @ V + lam * U).ravel(), (E.T @ U + lam * V).ravel()])
    I_r = np.eye(rank)
    HUU = np.einsum("ik,il,lj,lp->ijkp", np.eye(m), M, V, V) + lam * np.einsum("ik,jp->ijkp", np.eye(m), I_r)
    HVV = np.einsum("lk,il,ij,ip->ljkp", np.eye(n), M, U, U) + lam * np.einsum("lk,jp->ljkp", np.eye(n), I_r)
    HUV = np.einsum("il,lj,ip->ijlp", M, V, U) + np.einsum("il,jp->ijlp", E, I_r)
    a, b = m * rank, n * rank
    H = np.block([[HUU.reshape(a, a), HUV.reshape(a, b)], [HUV.reshape(a, b).T, HVV.reshape(b, b)]])
    rows, cols = np.nonzero(mask)
    J_obs = np.zeros((len(rows), a + b))
    for k, (i, l) in enumerate(zip(rows, cols)):
        J_obs[k, i * rank:(i + 1) * rank] = V[l]
        J_obs[k, a + l * rank:a + (l + 1) * rank] = U[i]
    J = np.vstack([J_obs, np.sqrt(lam) * np.eye(a + b)])
    return f, g, H, J


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 5), seed=st.integers(0, 2**16), lam=st.sampled_from([0.0, 1e-3, 0.5]))
def test_matrix_factorization_f_g_H_J_at_x0_match_numpy_on_the_observed_entries(m, n, seed, lam):
    """The gathered formulation (take(U, rows), take(V, cols)) has the values of the dense masked one."""
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, min(m, n) + 1))
    mask = rng.random((m, n)) < 0.6
    mask.flat[int(rng.integers(m * n))] = True  # at least one observed entry
    T = np.where(mask, rng.normal(size=(m, n)), np.nan)
    p = problems.matrix_factorization(T, rank, mask=mask.astype(float), lam=lam, seed=seed)
    for x in (np.array(p.x0), rng.normal(size=p.n)):
        f, g, H, J = _factorization_reference(T, mask, lam, x, rank)
        assert p.objective.fun(x) == pytest.approx(f, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(np.asarray(p.objective.jac(x)), g, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(np.asarray(p.objective.hess(x)), H, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(np.asarray(p.residual.jac(x)), J, rtol=1e-12, atol=1e-13)
        r = np.asarray(p.residual.fun(x))
        assert r.shape == (int(mask.sum()) + p.n,) and 0.5 * r @ r == pytest.approx(f, rel=1e-12, abs=1e-14)


def test_matrix_factorization_works_on_the_observed_entries_only():
    """The expression gathers rows of U and V at the observed positions: no m x n array is data or built,
    the gradient is a scatter-add and the Hessian in U block diagonal (one r x r block per row)."""
    from ricci.symbolic._nodes import ScatterAdd, Take, topological

    T, mask = synthetic.low_rank(30, 20, 3, missing=0.9, seed=1)
    p = problems.matrix_factorization(T, 3, mask=mask)
    assert set(p.data) == {"t", "lam"} and p.data["t"].shape == (int(mask.sum()),)
    nodes = topological([p.expression] + p.objective.gradient + [b for row in p.objective.hessian_blocks for b in row])
    assert any(isinstance(e, Take) for e in nodes) and any(isinstance(e, ScatterAdd) for e in nodes)
    assert all(30 * 20 not in (d for d in e.shape if isinstance(d, int)) for e in nodes)
    assert "scatter_add(" in str(p.objective.hessian_blocks[0][0])  # delta[i,k]*scatter_add(...)[i,j,l]


def test_mlp_variables_and_validation():
    X, Y = synthetic.regression(16, 3, outputs=2, seed=4)
    p = problems.mlp(X, Y, hidden=(4, 5))
    assert [v.name for v in p.objective.wrt] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert p.objective.shapes == [(3, 4), (4,), (4, 5), (5,), (5, 2), (2,)]
    with pytest.raises(ValueError, match="one or two"):
        problems.mlp(X, Y, hidden=(2, 2, 2))
    with pytest.raises(ValueError, match="activation"):
        problems.mlp(X, Y, activation="gelu")
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        problems.mlp(X, Y, loss="logistic")


@pytest.mark.parametrize("cond", [1.0, 10.0, 1e4])
def test_generators_have_the_requested_condition_number(cond):
    X = synthetic.conditioned_matrix(50, 6, cond=cond, seed=5)
    s = np.linalg.svd(X, compute_uv=False)
    assert s[0] / s[-1] == pytest.approx(cond, rel=1e-8)
    T, _ = synthetic.low_rank(10, 8, 3, cond=cond, seed=5)
    s = np.linalg.svd(T, compute_uv=False)
    assert s[0] / s[2] == pytest.approx(cond, rel=1e-8) and s[3] < 1e-10 * s[0]
    X1, y1 = synthetic.classification(40, 4, cond=cond, seed=6)
    X2, y2 = synthetic.classification(40, 4, cond=cond, seed=6)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and set(y1) == {0.0, 1.0}
    with pytest.raises(ValueError, match="cond"):
        synthetic.conditioned_matrix(5, 2, cond=0.5)


def test_registry_errors_and_listing():
    assert problems.families() == ["logistic", "softmax", "factorization", "mlp", "mgh"]
    assert "logistic-regression" in problems.names("logistic")
    with pytest.raises(ValueError, match="did you mean 'rosenbrock'"):
        problems.get("rosenbrok")
    with pytest.raises(TypeError, match="no parameter 'bogus'.*lam="):
        problems.get("logistic-regression", bogus=1)
    with pytest.raises(ValueError, match="unknown family"):
        problems.names("nope")
    assert problems.parameters("extended-rosenbrock") == {"n": 10}


def test_embedded_data():
    ds = problems.breast_cancer()
    assert ds.X.shape == (569, 30) and ds.y.shape == (569,)
    assert int(ds.y.sum()) == 212  # malignant
    np.testing.assert_allclose(ds.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.X.std(axis=0), 1, rtol=1e-12)
    raw = problems.breast_cancer(standardize=False)
    assert raw.X[0, 0] == 17.99 and raw.feature_names[0] == "radius_mean" and raw.label_name == "malignant"


def test_cupy_backend_is_a_clear_error_without_cupy():
    p = problems.get("logistic-regression-synthetic", m=20, n=3)
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="CuPy"):
            p.on("cupy")
    with pytest.raises(ValueError, match="numpy' or 'cupy"):
        p.on("torch")
    moved = problems.get("rosenbrock").on("numpy")  # no data arrays: `like=` picks the library
    assert moved.solve(method="trust-exact").success


@pytest.mark.gpu
def test_logistic_on_gpu(cupy):
    p = problems.get("logistic-regression").on("cupy")
    res = p.solve("newton", tol=1e-8)
    assert isinstance(res.x, cupy.ndarray)
    ref = problems.get("logistic-regression").solve("newton", tol=1e-8)
    assert float(p.objective.fun(res.x)) == pytest.approx(ref.fun, rel=1e-10)
