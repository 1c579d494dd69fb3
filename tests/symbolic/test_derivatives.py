"""Every operation, differentiated to second order (third where cheap), against central finite differences."""

import numpy as np
import pytest

import ricci.symbolic as rs

m, n, k = 5, 4, 3
A = rs.Matrix("A", n, n)
B = rs.Matrix("B", n, n)
M = rs.Matrix("M", m, n)
X = rs.Matrix("X", n, n)
x = rs.Vector("x", n)
y = rs.Vector("y", m)
u = rs.Vector("u", n)
c = rs.Scalar("c")
T = rs.Tensor("T", m, n, k)
U = rs.Matrix("U", m, k)
V = rs.Matrix("V", n, k)
swish = rs.elementwise("swish", "x*sigmoid(x)")


def call(fn, values, **extra):
    """Call a compiled function with the entries of ``values`` that it takes."""
    names = {v.name for v in fn.variables}
    return fn(**{k: v for k, v in {**values, **extra}.items() if k in names})


def data(rng):
    Xa = rng.normal(size=(n, n)) + 3 * np.eye(n)  # well conditioned for inv/det
    return dict(
        A=rng.normal(size=(n, n)), B=rng.normal(size=(n, n)), M=rng.normal(size=(m, n)), X=Xa,
        x=rng.normal(size=n) * 0.5, y=rng.normal(size=m), u=rng.normal(size=n), c=0.7,
        T=rng.normal(size=(m, n, k)), U=rng.normal(size=(m, k)), V=rng.normal(size=(n, k)),
    )


# (id, expression, variables to differentiate by)
CASES = [
    ("quadratic form", x @ A @ x, [x, A]),
    ("linear", u @ x + 3.0, [x]),
    ("matvec sum", rs.sum(M @ x), [x, M]),
    ("norm2 squared", rs.norm2(M @ x - y) ** 2, [x, M]),
    ("norm2", rs.norm2(M @ x - y), [x]),
    ("norm1 smooth region", rs.norm1(M @ x - y + 10.0), [x]),
    ("softplus logistic", rs.sum(rs.softplus(-y * (M @ x))) + c / 2 * (x @ x), [x, c, M]),
    ("sigmoid", rs.sum(rs.sigmoid(M @ x)), [x]),
    ("tanh layer", rs.sum(rs.tanh(M @ x + y)), [x, M, y]),
    ("exp log", rs.sum(rs.log(rs.exp(x) + 1.0)), [x]),
    ("log1p expm1", rs.sum(rs.log1p(x * x) + rs.expm1(0.3 * x)), [x]),
    ("sqrt", rs.sum(rs.sqrt(x * x + 1.0)), [x]),
    ("trig", rs.sum(rs.sin(x) * rs.cos(x) + rs.tan(0.2 * x)), [x]),
    ("inverse trig", rs.sum(rs.arcsin(0.3 * rs.tanh(x)) + rs.arccos(0.2 * rs.tanh(x)) + rs.arctan(x)), [x]),
    ("powers", rs.sum(x**3 + (x * x + 1.0) ** -1.5 + (x * x + 2.0) ** 0.5), [x]),
    ("division", rs.sum(x / (x * x + 2.0)) + (u @ x) / (c * c + 1.0), [x, c]),
    ("scalar power base", rs.sum(2.0**x), [x]),
    ("relu smooth region", rs.sum(rs.relu(x + 10.0) * x), [x]),
    ("abs smooth region", rs.sum(rs.abs(x + 10.0) * x), [x]),
    ("sign zero derivative", rs.sum(rs.sign(x + 10.0) * x * x), [x]),
    ("user function", rs.sum(swish(M @ x)), [x]),
    ("trace AXB", rs.trace(A @ X @ B), [X]),
    ("trace X'X", rs.trace(X.T @ X), [X]),
    ("diag", rs.sum(rs.diag(X) * x) + x @ rs.diag(x) @ x, [X, x]),
    ("outer", rs.sum(rs.outer(x, u) * A), [x, A]),
    ("kron vectors", rs.sum(rs.kron(x, u) * rs.kron(u, x)), [x]),
    ("kron matrices", rs.sum(rs.kron(A, X) ** 2), [X]),
    ("kron of products", rs.kron(u, x) @ rs.kron(A @ X, X.T) @ rs.kron(x, u), [X, x]),
    ("reshape", rs.sum(rs.sin(rs.reshape(M, (n, m)) @ y)) + rs.reshape(U, (m * k,)) @ rs.reshape(T, (m * k, n)) @ x,
     [M, U, T, x]),
    ("matrix power", rs.trace(rs.matrix_power(X, 3)) + x @ rs.matrix_power(X, -2) @ u, [X, x]),
    ("einsum", rs.einsum("ijk,jk->", T, rs.outer(x, rs.ones(k))) * 1.0, [T, x]),
    ("tensor contraction", rs.sum(rs.einsum("ijk,j->ik", T, x) ** 2), [T, x]),
    ("inverse", u @ rs.inv(X) @ x, [X, x]),
    ("log det", rs.log(rs.det(X)) * 1.0 + 0 * c, [X]),
    ("logdet", rs.logdet(X), [X]),
    ("det", rs.det(X), [X]),
    ("inv of product", rs.trace(rs.inv(X @ X.T + A @ A.T)), [X]),
    ("matrix factorization", rs.norm2(M - U @ V.T) ** 2, [U, V]),
    ("transpose", rs.sum((X.T @ A) * X), [X]),
    ("scalar variable", rs.exp(c) * c * c + rs.sum(c * x), [c]),
    ("sum over axis", rs.sum(rs.sum(M * M, axis=0) * x), [M, x]),
    ("eye and ones", x @ (rs.eye(n) + rs.ones(n, n)) @ x, [x]),
    ("vector output chain", rs.sum(rs.tanh(M @ rs.tanh(A @ x))), [x, A]),
    ("logsumexp", rs.logsumexp(M @ x), [x, M]),
    ("logsumexp rows", rs.sum(rs.logsumexp(T, axis=1) * rs.tanh(U)), [T, U]),
    ("softmax loss", rs.sum(rs.logsumexp(U @ V.T, axis=1)) - rs.sum(M * (U @ V.T)), [U, V]),
]


@pytest.mark.parametrize("name,f,wrt", CASES, ids=[c[0] for c in CASES])
def test_first_and_second_derivatives(name, f, wrt, rng, check_derivatives):
    values = data(rng)
    for var in wrt:
        check_derivatives(f, var, values, order=2)


THIRD = [
    ("quadratic form", x @ A @ x, x),
    ("logistic", rs.sum(rs.softplus(-y * (M @ x))), x),
    ("log det", rs.logdet(X), X),
    ("tanh", rs.sum(rs.tanh(M @ x)), x),
    ("inverse", u @ rs.inv(X) @ x, X),
]


@pytest.mark.parametrize("name,f,var", THIRD, ids=[t[0] for t in THIRD])
def test_third_derivative(name, f, var, rng, check_derivatives):
    check_derivatives(f, var, data(rng), order=3, rtol=1e-4, atol=1e-5)


VECTOR_VALUED = [
    ("matvec", A @ x, [x, A]),
    ("elementwise", rs.tanh(M @ x) * y, [x, M]),
    ("inverse", rs.inv(X), [X]),
    ("matrix product", X @ A @ X, [X]),
    ("outer", rs.outer(x, x), [x]),
    ("tensor", rs.einsum("ijk,j->ik", T, rs.exp(x)), [x, T]),
]


@pytest.mark.parametrize("name,F,wrt", VECTOR_VALUED, ids=[t[0] for t in VECTOR_VALUED])
def test_jacobians_of_tensor_valued_expressions(name, F, wrt, rng, check_derivatives):
    values = data(rng)
    for var in wrt:
        check_derivatives(F, var, values, order=2)


def test_layout_of_derivatives_follows_numpy_and_jax():
    W = rs.Matrix("W", "p", "q")
    f = rs.sum(rs.exp(W))
    assert rs.grad(f, W).shape == W.shape
    assert rs.hessian(f, W).shape == W.shape + W.shape
    F = rs.exp(W) @ rs.Vector("z", "q")
    assert rs.jacobian(F, W).shape == (rs.Vector("z", "p").shape[0],) + W.shape
    assert rs.derivative(F, W, 3).shape == F.shape + W.shape * 3


def test_hessian_layout_entry(rng):
    """H[i, j, k, l] = d2 f / dX[i, j] dX[k, l] for f = sum(X**2 * C) with C asymmetric -> 2*C[i,j] d_ik d_jl."""
    Xv = rs.Matrix("X", 2, 3)
    C = rng.normal(size=(2, 3))
    H = rs.compile(rs.hessian(rs.sum(Xv**3 * rs.const(C)), Xv))(X=np.ones((2, 3)))
    expected = np.zeros((2, 3, 2, 3))
    for i in range(2):
        for j in range(3):
            expected[i, j, i, j] = 6 * C[i, j]
    np.testing.assert_allclose(H, expected)


def test_hvp_equals_hessian_times_vector(rng):
    v = rs.Vector("v", n)
    f = rs.sum(rs.softplus(-y * (M @ x))) + rs.sum(rs.tanh(A @ x) ** 2)
    vv = rng.normal(size=n)
    Hv, H = call(rs.compile([rs.hvp(f, x, v), rs.hessian(f, x)]), data(rng), v=vv)
    np.testing.assert_allclose(Hv, H @ vv, rtol=1e-12, atol=1e-12)


def test_hvp_never_forms_the_hessian():
    """The logistic H v is X'(s .* (X v)): no n x n intermediate in the expression."""
    Xd = rs.Matrix("X", "m", "n")
    w = rs.Vector("w", "n")
    v = rs.Vector("v", "n")
    yy = rs.Vector("y", "m")
    f = rs.sum(rs.softplus(-yy * (Xd @ w)))
    hv = rs.hvp(f, w, v)
    from ricci.symbolic._nodes import topological

    for node in topological([hv]):
        assert node.ndim <= 2
        assert not (node.ndim == 2 and node.shape[0] == node.shape[1]), f"n x n intermediate {node!r}"
    fn = rs.compile(hv, sizes={"m": 10000, "n": 100})
    assert "X @ v" in fn.source or "v @ X.T" in fn.source


def test_several_variables_give_blocks(rng):
    f = rs.sum(rs.tanh(M @ x + y)) + c * (x @ x)
    g = rs.grad(f, (x, c))
    H = rs.hessian(f, (x, c))
    assert isinstance(g, tuple) and len(g) == 2 and g[0].shape == x.shape and g[1].shape == ()
    assert H[0][1].shape == x.shape and H[1][0].shape == x.shape and H[1][1].shape == ()
    vals = data(rng)
    Hxc, Hcx = call(rs.compile([H[0][1], H[1][0]]), vals)
    np.testing.assert_allclose(Hxc, 2 * vals["x"])
    np.testing.assert_allclose(Hcx, 2 * vals["x"])
    v1, v2 = rs.Vector("v1", n), rs.Scalar("v2")
    hv = rs.hvp(f, (x, c), (v1, v2))
    a, b = rng.normal(size=n), 0.3
    Hv = call(rs.compile(list(hv)), vals, v1=a, v2=b)
    Hxx = call(rs.compile(H[0][0]), vals)
    np.testing.assert_allclose(Hv[0], Hxx @ a + Hxc * b, rtol=1e-12)
    np.testing.assert_allclose(Hv[1], Hcx @ a, rtol=1e-12)


def test_derivative_by_name_and_order_zero():
    f = x @ A @ x
    assert rs.grad(f, "x") is rs.grad(f, x)
    assert rs.derivative(f, x, 0) is f
    with pytest.raises(ValueError, match="no variable named 'z'.*A, x|no variable named 'z'.*x, A"):
        rs.grad(f, "z")


def test_derivative_with_respect_to_absent_variable_is_zero():
    g = rs.grad(x @ x, c)
    assert g.shape == () and rs.variables(g) == []
    assert float(rs.compile(g)()) == 0.0
    G = rs.jacobian(A @ x, u)
    assert G.shape == (n, n)
    np.testing.assert_array_equal(rs.compile(G)(), np.zeros((n, n)))


def test_derivative_errors():
    with pytest.raises(ValueError, match="scalar expression.*jacobian"):
        rs.grad(A @ x, x)
    with pytest.raises(ValueError, match="scalar"):
        rs.hessian(A @ x, x)
    with pytest.raises(TypeError, match="variable"):
        rs.grad(x @ x, A @ x)
    with pytest.raises(ValueError, match="order"):
        rs.derivative(x @ x, x, -1)
    with pytest.raises(ValueError, match="shape of x"):
        rs.hvp(x @ x, x, rs.Vector("v", m) @ rs.ones(m, m))
