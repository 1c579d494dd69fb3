"""Regressions: what symbolic matrix calculus often gets wrong, and cases that once failed here."""

import numpy as np

import ricci.symbolic as rs
from ricci.symbolic._nodes import Contract

N, P = 4, 6
A = rs.Matrix("A", P, N)
B = rs.Matrix("B", P, N)
X = rs.Matrix("X", N, N)
x = rs.Vector("x", N)


def values(rng):
    return dict(A=rng.normal(size=(P, N)), B=rng.normal(size=(P, N)), X=rng.normal(size=(N, N)) + 4 * np.eye(N),
                x=rng.normal(size=N))


def test_hessian_of_elementwise_composition_log_1_plus_exp(rng, check_derivatives):
    """1'log(1+exp(Ax)): Hessian A' diag(s(1-s)) A with s = sigmoid(Ax); sympy's matrix calculus has no such form."""
    f = rs.sum(rs.log(1 + rs.exp(A @ x)))
    vals = values(rng)
    check_derivatives(f, x, vals, order=2)
    H = rs.compile(rs.hessian(f, x))(A=vals["A"], x=vals["x"])
    s = 1 / (1 + np.exp(-vals["A"] @ vals["x"]))
    np.testing.assert_allclose(H, vals["A"].T @ np.diag(s * (1 - s)) @ vals["A"], rtol=1e-10)
    h = rs.hessian(f, x)
    assert isinstance(h, Contract) and [op for op in h.operands if op.ndim == 2] == [A, A]


def test_gradient_through_hadamard_product(rng, check_derivatives):
    f = rs.sum((A @ x) * (B @ x))
    assert rs.grad(f, x) is A.T @ (B @ x) + B.T @ (A @ x)
    check_derivatives(f, x, values(rng), order=2)
    check_derivatives(rs.sum(rs.tanh(A @ x) * (B @ x) * (A @ x)), x, values(rng), order=2)


def test_second_derivative_of_inverse(rng, check_derivatives):
    D2 = rs.derivative(rs.inv(X), X, 2)
    assert D2.shape == (N,) * 6
    check_derivatives(rs.inv(X), X, values(rng), order=2)


def test_log_det_second_derivative(rng, check_derivatives):
    vals = values(rng)
    check_derivatives(rs.log(rs.det(X)), X, vals, order=2)
    H = rs.compile(rs.hessian(rs.log(rs.det(X)), X))(X=vals["X"])
    Xi = np.linalg.inv(vals["X"])
    np.testing.assert_allclose(H, -np.einsum("jk,li->ijkl", Xi, Xi), rtol=1e-12)


# --- cases that once failed ----------------------------------------------------------------------------


def test_three_operands_in_one_contraction_step_keep_their_shared_index(rng, check_derivatives):
    """einsum_path may fold three operands at once; the index they share must stay a batch index."""
    f = rs.sum(rs.tanh(A @ x))
    check_derivatives(f, x, values(rng), order=3, rtol=1e-4, atol=1e-5)


def test_integral_float_constants_are_one_object():
    """0.5*1 + 0.5*1 once gave Fill(1.0) while 2*Fill(0.5) gave Fill(1): unequal objects."""
    half = rs.full(3, 0.5)
    assert half + half is 2 * half


def test_single_expression_result_is_not_indexed():
    """compile(expr) once returned result[0], the first entry of the array."""
    v = rs.Vector("v", 3)
    np.testing.assert_allclose(rs.compile(v * 2)(v=np.arange(3.0)), [0, 2, 4])


def test_scalar_one_factor_is_absorbed():
    """d log det X once printed as 1*inv(X)': the factor det^-1 * det = 1 stayed in the product."""
    assert str(rs.grad(rs.log(rs.det(X)), X)) == "inv(X)'"


def test_objective_hessp_never_forms_the_hessian():
    """Once failed: d<grad f, v> with grad f = lam*w - X'(...) contracted the whole Hessian block with v
    (an n x n intermediate, O(m n^2)); distributing <., v> over the sum keeps every product O(m n)."""
    Xd, w, y, lam = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m"), rs.Scalar("lam")
    f = rs.sum(rs.softplus(-y * (Xd @ w))) + lam / 2 * (w @ w)
    obj = rs.Objective(f, wrt=w, data=dict(X=np.ones((5, 3)), y=np.ones(5), lam=0.1))
    src = obj._hvp.source
    assert "eye" not in src and ".T @ X" not in src and "sqrt" not in src, src
    hv = rs.hvp(f, w, rs.Vector("v", "n"))
    assert "eye" not in rs.compile(hv).source


def test_softmax_hessian_does_not_materialise_a_sum_of_4d_tensors(rng, check_derivatives):
    """Once slow: the derivative of the softmax weights carried (dz - d lse) as one (m, k, n, k) sum inside
    a product, built whole and then contracted; large sums inside products are now distributed."""
    from ricci.symbolic._nodes import Add, topological

    Xd, W = rs.Matrix("X", "m", "n"), rs.Matrix("W", "n", "k")
    f = rs.sum(rs.logsumexp(Xd @ W, axis=1))
    H = rs.hessian(f, W)
    assert not any(isinstance(node, Add) and node.ndim >= 3 and node is not H for node in topological([H]))
    check_derivatives(f, W, dict(X=rng.normal(size=(6, 3)), W=rng.normal(size=(3, 4))), order=2)
