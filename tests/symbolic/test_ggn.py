"""The generalized Gauss-Newton model (``rs.GaussNewton``) and substitution (``rs.substitute``).

Oracles: the plain Objective of the composed expression (f and its derivatives), G = J' H_L J + H_P formed
densely from the parts' dense Jacobian and Hessians, the true Hessian where the model is affine or the loss
gradient vanishes, finite differences for the composed function, NumPy for the operator algebra."""
import numpy as np
import pytest
import ricci.symbolic as rs
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import DenseOperator, MatvecOperator, NotPositiveDefinite, minimize
from ricci.symbolic import _ggn as _ggn_module
from ricci.symbolic import _substitute
from ricci.symbolic._ggn_operator import CongruenceOperator, congruence
from ricci.symbolic._nodes import NODE_TYPES

# ------------------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------------------

def _logistic(rng, m, n, lam=0.1):
    X, y, w, b, lams = rs.Matrix("X", "m", "n"), rs.Vector("y", "m"), rs.Vector("w", "n"), rs.Scalar("b"), rs.Scalar("lam")
    z = rs.Vector("z", "m")
    data = {"X": rng.standard_normal((m, n)), "y": np.sign(rng.standard_normal(m)), "lam": lam}
    return rs.GaussNewton(rs.sum(rs.softplus(-y * z)), (z, X @ w + b), [w, b], data, penalty=lams / 2 * (w @ w))


def _softmax(rng, m, n, k, lam=0.1):
    X, Y, W, b, lams = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Matrix("W", "n", "k"), rs.Vector("b", "k"), \
        rs.Scalar("lam")
    Z = rs.Matrix("Z", "m", "k")
    data = {"X": rng.standard_normal((m, n)), "Y": np.eye(k)[rng.integers(0, k, m)], "lam": lam}
    loss = rs.sum(rs.logsumexp(Z, axis=1)) - rs.sum(Y * Z)
    return rs.GaussNewton(loss, (Z, X @ W + rs.outer(rs.ones("m"), b)), [W, b], data, penalty=lams / 2 * rs.sum(W * W))


def _network(m, n, h, k, loss="squared"):
    """A one-hidden-layer tanh network O = tanh(X W1 + 1 b1') W2 with a squared or logistic loss and
    lam/2 ||W1||^2 (W2 and b1 unpenalized: the penalty misses some variables)."""
    X, Y, lams = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Scalar("lam")
    W1, b1, W2 = rs.Matrix("W1", "n", "h"), rs.Vector("b1", "h"), rs.Matrix("W2", "h", "k")
    O = rs.Matrix("O", "m", "k")
    out = rs.tanh(X @ W1 + rs.outer(rs.ones("m"), b1)) @ W2
    L = rs.sum((O - Y) * (O - Y)) / 2 if loss == "squared" else rs.sum(rs.softplus(O)) - rs.sum(Y * O)
    return L, (O, out), [W1, b1, W2], lams / 2 * rs.sum(W1 * W1), {"h": h}


def _mlp(rng, m, n, h, k, loss="squared", lam=0.1, Y=None):
    L, output, wrt, penalty, sizes = _network(m, n, h, k, loss)
    if Y is None:
        Y = rng.standard_normal((m, k)) if loss == "squared" else (rng.random((m, k)) > 0.5).astype(float)
    data = {"X": rng.standard_normal((m, n)), "Y": Y, "lam": lam}
    return rs.GaussNewton(L, output, wrt, data, penalty=penalty, sizes=sizes)


def _dense_ggn(obj, x):
    """J' H_L J + H_P from the parts' dense arrays (the oracle)."""
    J = np.asarray(obj.output.jac(x))
    z = np.asarray(obj.output.fun(x))
    G = J.T @ np.asarray(obj.loss.hess(z)) @ J
    if obj.penalty is not None:
        values = obj.unpack(x)
        Hp = np.asarray(obj.penalty.hess(obj.penalty.pack([values[v.name] for v in obj.penalty.wrt])))
        index = np.concatenate([np.arange(obj.offsets[obj.wrt.index(v)], obj.offsets[obj.wrt.index(v)] + c)
                                for v, c in zip(obj.penalty.wrt, obj.penalty.counts)])
        G[np.ix_(index, index)] += Hp
    return G


def _check_ggn(obj, x, rng):
    G = np.asarray(obj.ggn(x))
    ref = _dense_ggn(obj, x)
    scale = max(1.0, np.abs(ref).max())
    np.testing.assert_allclose(G, ref, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(G, G.T, rtol=0, atol=1e-12 * scale)
    op = obj.ggn_operator(x)
    v = rng.standard_normal(obj.size)
    np.testing.assert_allclose(np.asarray(obj.ggnp(x, v)), ref @ v, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(np.asarray(op.diagonal()), np.diag(ref), rtol=1e-10, atol=1e-12 * scale)
    return G


# ------------------------------------------------------------------------------------------------------------
# f, g, H and Hv are those of the plain Objective of the composed expression
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [lambda r: _logistic(r, 9, 3), lambda r: _softmax(r, 8, 3, 4),
                                   lambda r: _mlp(r, 7, 2, 3, 2), lambda r: _mlp(r, 7, 2, 3, 1, "logistic")],
                         ids=["logistic", "softmax", "mlp-squared", "mlp-logistic"])
def test_objective_is_the_plain_objective_of_the_composed_expression(build, rng):
    obj = build(rng)
    f = rs.substitute(obj.loss_expr, {obj.placeholder: obj.model}) + obj.penalty_expr
    assert obj.expr is f  # one canonical node: the composed expression is the one a user would write
    plain = rs.Objective(f, obj.wrt, obj.data, sizes=obj.sizes)
    x, v = rng.standard_normal(obj.size), rng.standard_normal(obj.size)
    assert obj.fun(x) == pytest.approx(plain.fun(x), rel=1e-14)
    np.testing.assert_allclose(obj.jac(x), plain.jac(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(obj.hess(x), plain.hess(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(obj.hessp(x, v), plain.hessp(x, v), rtol=1e-12, atol=1e-12)
    h = 1e-6  # and f itself against finite differences of the loss at the output
    fd = (obj.fun(x + h * v) - obj.fun(x - h * v)) / (2 * h)
    assert fd == pytest.approx(float(obj.jac(x) @ v), rel=1e-6, abs=1e-7)


# ------------------------------------------------------------------------------------------------------------
# G = J' H_L J + H_P
# ------------------------------------------------------------------------------------------------------------

@settings(max_examples=4)
@given(m=st.integers(1, 9), n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_logistic_ggn_is_the_hessian_as_a_gram_operator(m, n, seed):
    rng = np.random.default_rng(seed)
    obj = _logistic(rng, m, n)
    x = rng.standard_normal(obj.size)
    G = _check_ggn(obj, x, rng)
    np.testing.assert_allclose(G, obj.hess(x), rtol=1e-10, atol=1e-12)  # z is affine in x: G is the Hessian


def test_ggn_structure_follows_the_loss_hessian(rng):
    """An element-wise loss (diagonal H_L) gives J's Gram operator, softmax cross-entropy a congruence; the
    penalty lam/2 ||w||^2 is a diagonal (zero on the intercept)."""
    op = _logistic(rng, 9, 3).ggn_operator(rng.standard_normal(4))
    kinds = {type(t).__name__: t for t in op.terms}
    assert set(kinds) == {"GramOperator", "DiagonalOperator"}
    np.testing.assert_allclose(kinds["DiagonalOperator"].diagonal(), [0.1, 0.1, 0.1, 0.0])
    op = _softmax(rng, 8, 3, 4).ggn_operator(rng.standard_normal(16))
    assert {type(t).__name__ for t in op.terms} == {"CongruenceOperator", "DiagonalOperator"}


@settings(max_examples=4)
@given(m=st.integers(1, 8), n=st.integers(1, 3), k=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_softmax_ggn_is_the_hessian(m, n, k, seed):
    rng = np.random.default_rng(seed)
    obj = _softmax(rng, m, n, k)
    x = rng.standard_normal(obj.size)
    G = _check_ggn(obj, x, rng)
    np.testing.assert_allclose(G, obj.hess(x), rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(G).min() >= -1e-12 * max(1.0, np.abs(G).max())  # PSD


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_mlp_ggn_is_symmetric_psd_and_differs_from_the_indefinite_hessian(loss, rng):
    obj = _mlp(rng, 10, 3, 4, 2, loss)
    x = rng.standard_normal(obj.size)
    G = _check_ggn(obj, x, rng)
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * np.abs(G).max()
    H = np.asarray(obj.hess(x))
    assert np.abs(G - H).max() > 1e-3 * np.abs(H).max()  # the dropped term sum_i dL/dz_i d2z_i/dx2 is not 0


def test_mlp_ggn_equals_the_hessian_where_the_residual_vanishes(rng):
    """Squared loss at zero residual (targets made by the network itself at x): dL/dO = 0, so G = H."""
    m, n, h, k = 9, 2, 3, 2
    teacher = _mlp(rng, m, n, h, k, Y=np.zeros((m, k)))
    x = rng.standard_normal(teacher.size)
    Y = np.asarray(teacher.output.fun(x)).reshape(m, k)
    obj = teacher.with_data({**teacher.data, "Y": Y})
    assert isinstance(obj, rs.GaussNewton) and obj.fun(x) == pytest.approx(float(obj.penalty.fun(
        obj.penalty.pack([obj.unpack(x)["W1"]]))), rel=1e-12)
    G = _check_ggn(obj, x, rng)
    np.testing.assert_allclose(G, obj.hess(x), rtol=1e-9, atol=1e-11 * np.abs(G).max())


def test_ggn_operator_solves_with_shifts_and_reports_indefiniteness(rng):
    obj = _mlp(rng, 6, 2, 3, 1, "logistic", lam=0.0)
    x = rng.standard_normal(obj.size)
    op, G = obj.ggn_operator(x), np.asarray(obj.ggn(x))
    b = rng.standard_normal(obj.size)
    for shift in (1e-2, 1.0):
        np.testing.assert_allclose(op.solve(b, shift=shift), np.linalg.solve(G + shift * np.eye(obj.size), b),
                                   rtol=1e-8, atol=1e-10)
    assert obj.ggn_operator(x) is op  # kept with the point


def test_congruence_operator_against_numpy(rng):
    m, n = 7, 4
    J = rng.standard_normal((m, n))
    A = rng.standard_normal((m, m))
    H = A @ A.T
    op = congruence(DenseOperator(H, symmetric=True), DenseOperator(J))
    assert isinstance(op, CongruenceOperator) and op.shape == (n, n) and op.symmetric
    G = J.T @ H @ J
    V = rng.standard_normal((n, 3))
    np.testing.assert_allclose(op.matvec(V), G @ V, rtol=1e-12)
    np.testing.assert_allclose(op.rmatvec(V[:, 0]), G @ V[:, 0], rtol=1e-12)
    np.testing.assert_allclose(op.to_dense(), G, rtol=1e-12)
    np.testing.assert_allclose(op.diagonal(), np.diag(G), rtol=1e-12)
    np.testing.assert_allclose(op.solve(V[:, 0], shift=0.5), np.linalg.solve(G + 0.5 * np.eye(n), V[:, 0]), rtol=1e-9)
    indefinite = congruence(DenseOperator(-H, symmetric=True), DenseOperator(J))
    with pytest.raises(NotPositiveDefinite):
        indefinite.factorize(0.0)
    with pytest.raises(ValueError, match="symmetric"):
        CongruenceOperator(DenseOperator(J), DenseOperator(A + 3 * np.eye(m), symmetric=False))
    with pytest.raises(ValueError, match="square with J's 7 rows"):
        CongruenceOperator(DenseOperator(J), DenseOperator(np.eye(5), symmetric=True))
    with pytest.raises(TypeError, match="Operator"):
        CongruenceOperator(J, DenseOperator(H, symmetric=True))


# ------------------------------------------------------------------------------------------------------------
# usable as a Hessian model today
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, gtol", [("newton", 1e-8), ("trust-exact", 1e-6)])
def test_minimize_with_the_ggn_as_hessian_reaches_a_stationary_point(method, gtol):
    """The GGN is not the Hessian away from zero loss gradient, so convergence is linear: trust-exact needs
    about 300 iterations to 1e-6 here (16 with the exact Hessian), Newton's line search 46 to 1e-8."""
    from ricci import problems

    p = problems.get("mlp", loss="logistic", m=16, lam=0.1)  # 4 -> 5 -> 1, tanh, seeded data and start
    obj, x0 = p.objective, np.array(p.x0)
    res = minimize(obj.fun, x0, jac=obj.jac, hess=obj.ggn_operator, method=method,
                   options={"gtol": gtol, "maxiter": 500})
    assert res.success, res.message
    assert np.abs(np.asarray(obj.jac(res.x))).max() <= gtol
    assert obj.fun(res.x) < obj.fun(x0)


def test_minimize_with_the_ggn_on_logistic_regression_is_newton(rng):
    obj = _logistic(rng, 40, 5, lam=0.1)
    with_ggn = minimize(obj.fun, np.zeros(obj.size), jac=obj.jac, hess=obj.ggn_operator, method="newton",
                        options={"gtol": 1e-10})
    with_hess = minimize(obj.fun, np.zeros(obj.size), jac=obj.jac, hess=obj.hess, method="newton",
                         options={"gtol": 1e-10})
    assert with_ggn.success and with_ggn.nit == with_hess.nit
    np.testing.assert_allclose(with_ggn.x, with_hess.x, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------------------------------------------------
# binding, validation
# ------------------------------------------------------------------------------------------------------------

def test_rebind_and_with_data_keep_the_model(rng):
    obj = _mlp(rng, 6, 2, 3, 1, lam=0.1)
    x = rng.standard_normal(obj.size)
    heavier = obj.rebind(lam=2.0)
    assert isinstance(heavier, rs.GaussNewton)
    d = np.zeros(obj.size)
    d[:obj.counts[0]] = 1.9  # the penalty's Hessian lam I lies on W1 only
    np.testing.assert_allclose(heavier.ggn(x) - obj.ggn(x), np.diag(d), atol=1e-12)
    moved = obj.with_data()
    assert isinstance(moved, rs.GaussNewton)
    np.testing.assert_allclose(moved.ggn(x), obj.ggn(x), rtol=1e-14)


def test_gauss_newton_validation(rng):
    z, y, w, X = rs.Vector("z", "m"), rs.Vector("y", "m"), rs.Vector("w", "n"), rs.Matrix("X", "m", "n")
    data = {"X": rng.standard_normal((4, 2)), "y": np.ones(4)}
    loss = rs.sum(rs.softplus(-y * z))
    with pytest.raises(TypeError, match="pair"):
        rs.GaussNewton(loss, X @ w, w, data)
    with pytest.raises(ValueError, match="no variable named 'q'"):
        rs.GaussNewton(loss, ("q", X @ w), w, data)
    with pytest.raises(ValueError, match="does not appear in the loss"):
        rs.GaussNewton(loss, (rs.Vector("u", "m"), X @ w), w, data)
    with pytest.raises(ValueError, match="same number of axes"):
        rs.GaussNewton(loss, (z, rs.outer(X @ w, w)), w, data)
    with pytest.raises(ValueError, match="loss must be a scalar"):
        rs.GaussNewton(-y * z, (z, X @ w), w, data)
    with pytest.raises(ValueError, match="penalty must be a scalar"):
        rs.GaussNewton(loss, (z, X @ w), w, data, penalty=w)
    with pytest.raises(ValueError, match="cannot be optimised"):
        rs.GaussNewton(loss, (z, X @ w), [w, z], data)
    with pytest.raises(ValueError, match="cannot be data"):
        rs.GaussNewton(loss, (z, X @ w), w, {**data, "z": np.ones(4)})
    with pytest.raises(ValueError, match="uses the placeholder"):
        rs.GaussNewton(loss, (z, X @ w), w, data, penalty=z @ z)
    short = rs.Vector("s", "p")  # a placeholder whose size the loss's data fix at 3, against 4 outputs
    with pytest.raises(ValueError, match="dimension mismatch.*m = 4.*p = 3"):
        rs.GaussNewton(rs.sum(rs.softplus(-rs.Vector("t", "p") * short)), (short, X @ w), w,
                       {"X": data["X"], "t": np.ones(3)})


# ------------------------------------------------------------------------------------------------------------
# substitution
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("node_type", NODE_TYPES, ids=lambda t: t.__name__)
def test_substitution_has_a_rule_for_every_node_type(node_type):
    assert _substitute._rule.dispatch(node_type) is not _substitute._rule.registry[object]


def test_substitution_composes_every_kind_of_node(rng):
    """e[Z := g] evaluates to e at Z = g(values), for an expression using most node kinds."""
    Z, A, x = rs.Matrix("Z", 3, 3), rs.Matrix("A", 3, 3), rs.Vector("x", 3)
    e = (rs.sum(rs.logsumexp(Z, axis=1)) + rs.logdet(Z @ Z.T + rs.eye(3)) + rs.trace(rs.inv(Z + 4 * rs.eye(3)))
         + rs.det(Z) + rs.sum(rs.reshape(Z, (9,)) * rs.reshape(A, (9,))) + rs.sum(rs.concat([Z, A], 0))
         + rs.sum(Z[1:, :2]) + rs.sum(rs.take(Z, np.array([2, 0]))) + rs.sum(rs.scatter_add(Z, np.array([1, 1, 0]), 2)))
    g = A * rs.outer(x, x) + rs.eye(3)
    composed = rs.substitute(e, {Z: g})
    assert Z not in composed.variables and rs.substitute(e, {}) is e
    Aa, xa = rng.standard_normal((3, 3)), rng.standard_normal(3)
    Za = Aa * np.outer(xa, xa) + np.eye(3)
    left = rs.compile(composed)(A=Aa, x=xa)
    right = rs.compile(e)(A=Aa, Z=Za)
    assert float(left) == pytest.approx(float(right), rel=1e-12)
    with pytest.raises(TypeError, match="must be a variable"):
        rs.substitute(e, {"Z": g})
    with pytest.raises(ValueError, match="axes"):
        rs.substitute(e, {Z: x})
    with pytest.raises(TypeError, match="mapping"):
        rs.substitute(e, [(Z, g)])


# ------------------------------------------------------------------------------------------------------------
# G through products (Hessian-free): J v and J'u from the output's derivatives, never J itself
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [lambda r: _logistic(r, 9, 3), lambda r: _softmax(r, 8, 3, 4),
                                   lambda r: _mlp(r, 7, 2, 3, 2), lambda r: _mlp(r, 7, 2, 3, 1, "logistic")],
                         ids=["logistic", "softmax", "mlp-squared", "mlp-logistic"])
def test_ggn_products_equal_the_dense_ggn(build, rng):
    obj = build(rng)
    x = rng.standard_normal(obj.size)
    G = _dense_ggn(obj, x)
    op = obj.ggn_products(x)
    assert isinstance(op, MatvecOperator) and op.symmetric
    scale = max(1.0, np.abs(G).max())
    for _ in range(3):
        v = rng.standard_normal(obj.size)
        np.testing.assert_allclose(op.matvec(v), G @ v, rtol=1e-10, atol=1e-12 * scale * np.abs(v).sum())
    np.testing.assert_allclose(op.to_dense(), G, rtol=1e-10, atol=1e-12 * scale)


def test_prefers_products_follows_the_size_of_the_computed_jacobian(rng, monkeypatch):
    assert _mlp(rng, 7, 2, 3, 2).prefers_products is False  # a 14 x 15 Jacobian: far below 2^22 entries
    monkeypatch.setattr(_ggn_module, "HESSIAN_FREE_ENTRIES", 0)
    assert _mlp(rng, 7, 2, 3, 2).prefers_products is True
    # a linear model's Jacobian is the data X as given: nothing to form, its G is the Gram X' diag(s) X
    assert _logistic(rng, 9, 3).prefers_products is False
