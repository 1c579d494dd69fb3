"""Negative curvature in Newton's method (the curvilinear search of More & Sorensen, 1979) and in dogleg.

Private modules are imported on purpose: the eigenpair, the direction and the path are unit-tested beside the
behaviour they give the methods (leaving saddle points; second-order necessary conditions at the result).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import numpy as xnp
from ricci.solvers import _newton_step, minimize
from ricci.solvers._lanczos import smallest_eigenpair
from ricci.solvers._line_search import CurvilinearRay, backtracking
from ricci.solvers._user_operators import dense_operator


def saddle(z):
    """f = x^2 - y^2 + y^4: a saddle at 0, minima f = -1/4 at (0, +-1/sqrt 2). From (x, 0) every gradient
    has g_y = 0, so a method that only shifts the Hessian converges to the saddle."""
    return z[0] ** 2 - z[1] ** 2 + z[1] ** 4


def saddle_grad(z):
    return np.array([2 * z[0], -2 * z[1] + 4 * z[1] ** 3])


def saddle_hess(z):
    return np.array([[2.0, 0.0], [0.0, -2.0 + 12 * z[1] ** 2]])


@pytest.mark.parametrize("method", ["newton", "dogleg", "trust-exact"])
def test_hessian_methods_leave_the_saddle_for_the_minimum(method):
    r = minimize(saddle, np.array([0.5, 0.0]), jac=saddle_grad, hess=saddle_hess, method=method, tol=1e-10)
    assert r.success
    np.testing.assert_allclose(r.fun, -0.25, atol=1e-12)
    np.testing.assert_allclose(abs(r.x[1]), 1 / math.sqrt(2), atol=1e-8)
    assert np.linalg.eigvalsh(saddle_hess(r.x))[0] > 0


def test_newton_without_negative_curvature_converges_to_the_saddle():
    """The option off gives the shifted Newton method of Nocedal & Wright (Algorithm 3.3) alone."""
    r = minimize(saddle, np.array([0.5, 0.0]), jac=saddle_grad, hess=saddle_hess, method="newton", tol=1e-10,
                 options={"negative_curvature": False})
    assert r.success and abs(r.x[1]) == 0.0 and abs(r.fun) < 1e-18
    assert np.linalg.eigvalsh(saddle_hess(r.x))[0] == -2.0


def coupled_quartic(n, seed):
    """f = 1/4 sum (x_i^2 - 1)^2 + 1/2 x'Ax - 0.3 ... with a small symmetric coupling A: nonconvex, with
    saddles and local minima; the start 0 makes g = 0 along the symmetric directions only through A."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) * 0.1
    A = 0.5 * (A + A.T)
    b = rng.standard_normal(n) * 0.05

    def f(x):
        return 0.25 * np.sum((x * x - 1.0) ** 2) + 0.5 * x @ A @ x + b @ x

    def g(x):
        return x * (x * x - 1.0) + A @ x + b

    def h(x):
        return np.diag(3 * x * x - 1.0) + A

    return f, g, h


@pytest.mark.parametrize("method", ["newton", "dogleg", "trust-exact"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_second_order_necessary_conditions_at_the_result(method, seed):
    f, g, h = coupled_quartic(6, seed)
    x0 = np.full(6, 1e-3)  # near the local maximum / saddle region at 0, where H ~ -I
    r = minimize(f, x0, jac=g, hess=h, method=method, tol=1e-9)
    assert r.success and np.max(np.abs(g(r.x))) <= 1e-9
    assert np.linalg.eigvalsh(h(r.x))[0] >= -1e-6
    assert r.fun < f(x0)


def test_newton_leaves_a_saddle_with_a_multidimensional_unstable_space():
    """f = 1/4 sum (x_i^2 - 1)^2 from (0.5, 0, 0, 0): g stays 0 in the last three coordinates, so the shifted
    method ends at a saddle with three eigenvalues -1; with negative curvature every coordinate reaches +-1."""
    f = lambda x: 0.25 * np.sum((x * x - 1.0) ** 2)
    g = lambda x: x * (x * x - 1.0)
    h = lambda x: np.diag(3 * x * x - 1.0)
    x0 = np.array([0.5, 0.0, 0.0, 0.0])
    off = minimize(f, x0, jac=g, hess=h, method="newton", tol=1e-10, options={"negative_curvature": False})
    on = minimize(f, x0, jac=g, hess=h, method="newton", tol=1e-10)
    np.testing.assert_allclose(np.linalg.eigvalsh(h(off.x)), [-1, -1, -1, 2], atol=1e-8)
    np.testing.assert_allclose(np.abs(on.x), 1.0, atol=1e-8)
    assert abs(on.fun) < 1e-15 < off.fun


def test_smallest_eigenpair_by_lanczos_agrees_with_eigh():
    rng = np.random.default_rng(3)
    n = 40
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.concatenate([[-3.0], rng.uniform(1, 5, n - 1)])
    B = (Q * eig) @ Q.T
    theta, u = smallest_eigenpair(xnp, lambda v: B @ v, rng.standard_normal(n), maxiter=n, rtol=1e-10)
    np.testing.assert_allclose(theta, -3.0, rtol=1e-9)
    np.testing.assert_allclose(abs(u @ Q[:, 0]), 1.0, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(u), 1.0)


@pytest.mark.parametrize("dense_limit", [600, 0])  # one LAPACK eigenpair, then Lanczos on products
def test_negative_curvature_direction(monkeypatch, dense_limit):
    monkeypatch.setattr(_newton_step, "DENSE_EIGH_MAX", dense_limit)
    rng = np.random.default_rng(4)
    n = 12
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.linspace(-2.0, 4.0, n)
    B = (Q * eig) @ Q.T
    g = 1e-3 * rng.standard_normal(n)  # near a saddle: the Newton step's decrease |g's| is small
    s = -np.linalg.solve(B + 2.5 * np.eye(n), g)
    d, dHd = _newton_step.negative_curvature_direction(xnp, dense_operator(B, symmetric=True), g, s)
    np.testing.assert_allclose(dHd, d @ B @ d, rtol=1e-6)
    assert dHd < 0 and g @ d <= 0
    scale = np.linalg.norm(B) / math.sqrt(n)
    np.testing.assert_allclose(np.linalg.norm(d), 2.0 / scale, rtol=1e-6)
    if dense_limit:  # the exact eigenvector
        np.testing.assert_allclose(abs(d @ Q[:, 0]) / np.linalg.norm(d), 1.0, atol=1e-10)
    # far from a saddle the Newton step's first-order decrease dominates: no direction
    assert _newton_step.negative_curvature_direction(xnp, dense_operator(B, symmetric=True), 1e3 * g, 1e3 * s) is None
    # positive definite: no direction
    assert _newton_step.negative_curvature_direction(xnp, dense_operator(B + 3 * np.eye(n), symmetric=True),
                                                     g, s) is None


def test_curvilinear_path_and_its_armijo_search():
    class Ev:
        xp = xnp

        def value(self, x):
            return saddle(x)

    x, s, d = np.array([0.5, 0.0]), np.array([-0.25, 0.0]), np.array([0.0, 1.0])
    ray = CurvilinearRay(Ev(), x, s, d)
    np.testing.assert_allclose(ray.point(0.25), x + 0.25 * s + 0.5 * d)
    slope = saddle_grad(x) @ s + 0.5 * (d @ saddle_hess(x) @ d)
    ls = backtracking(ray, saddle(x), slope)
    assert ls.accepted and ls.f <= saddle(x) + 1e-4 * ls.alpha * slope


def test_float32_follows_x0():
    r = minimize(saddle, np.array([0.5, 0.0], dtype=np.float32), jac=saddle_grad, hess=saddle_hess,
                 method="newton", tol=1e-4)
    assert r.x.dtype == np.float32 and abs(abs(r.x[1]) - 1 / math.sqrt(2)) < 1e-3


def test_the_option_is_a_bool():
    with pytest.raises(TypeError, match="negative_curvature"):
        minimize(saddle, np.array([0.5, 0.0]), jac=saddle_grad, hess=saddle_hess, method="newton",
                 options={"negative_curvature": "yes"})


def test_steihaug_follows_negative_curvature_met_at_the_first_iteration_to_the_boundary():
    """g'Bg < 0: the first CG direction -g (-M^-1 g preconditioned) has negative curvature, and the step runs
    along it to the boundary of the region (in the M-norm with a preconditioner)."""
    from ricci.solvers._steihaug import preconditioned_steihaug_cg, steihaug_cg

    B = np.diag([-1.0, 2.0, 3.0])
    g = np.array([1.0, 0.1, 0.1])
    sol, Bp = steihaug_cg(xnp, lambda v: B @ v, g, 0.7, maxiter=3)
    assert sol.hits_boundary and sol.factorizations == 1
    np.testing.assert_allclose(sol.step, -0.7 * g / np.linalg.norm(g))
    np.testing.assert_allclose(Bp, B @ sol.step)
    m = np.array([4.0, 1.0, 0.5])  # M = diag(m)
    sol, Bp, length = preconditioned_steihaug_cg(xnp, lambda v: B @ v, g, 0.7, solve_m=lambda r: r / m,
                                                 maxiter=3)
    direction = -g / m
    assert sol.hits_boundary and sol.factorizations == 1 and length == 0.7
    np.testing.assert_allclose(sol.step, 0.7 * direction / math.sqrt(direction @ (m * direction)))


def test_gltr_reaches_the_boundary_along_negative_curvature_in_its_krylov_space():
    """With g off the negative eigenvector's orthogonal complement, GLTR's Krylov space holds the negative
    curvature and, run to a tight forcing term, its step is the global solution of the subproblem."""
    from ricci.solvers._lanczos import gltr
    from ricci.solvers._more_sorensen import more_sorensen

    B = np.diag([-1.0, 2.0, 3.0])
    g = np.array([0.1, 1.0, 1.0])
    sol, predicted = gltr(xnp, lambda v: B @ v, g, 2.0, maxiter=3, forcing=1e-12)
    exact = more_sorensen(xnp, dense_operator(B, symmetric=True), g, 2.0, k_easy=1e-12)
    np.testing.assert_allclose(np.linalg.norm(sol.step), 2.0, rtol=1e-8)
    np.testing.assert_allclose(sol.step, exact.step, atol=1e-6)
    np.testing.assert_allclose(predicted, -(g @ sol.step + 0.5 * sol.step @ B @ sol.step), rtol=1e-10)
