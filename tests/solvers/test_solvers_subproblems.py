"""Property-based tests of the step and subproblem modules (hypothesis draws the matrices).

Private modules are imported on purpose: these are unit tests of the pieces the methods are composed of.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace
from array_api_compat import numpy as xnp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import minimize
from ricci.solvers._dogleg import dogleg_step
from ricci.solvers._lanczos import gltr
from ricci.solvers._more_sorensen import more_sorensen
from ricci.solvers._newton_step import newton_direction, shifted_factorization
from ricci.solvers._steihaug import preconditioned_steihaug_cg, steihaug_cg
from ricci.solvers._user_operators import dense_operator

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def symmetric(draw, spd=False, min_n=1, max_n=8):
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    if spd:
        eig = np.exp(rng.uniform(-3, 3, n))
    else:
        eig = rng.uniform(-5, 5, n)
        if draw(st.booleans()):  # repeated and zero eigenvalues
            eig[: n // 2] = eig[0]
    B = (Q * eig) @ Q.T
    return 0.5 * (B + B.T), rng.standard_normal(n), Q, eig


def op(B):
    """The (symmetric) dense operator of B, in B's namespace: what the steps take."""
    return dense_operator(B, symmetric=True)


def model(B, g, p):
    return g @ p + 0.5 * p @ B @ p


@SETTINGS
@given(data=symmetric(spd=True), x_star_scale=st.floats(0.1, 10))
def test_one_newton_step_solves_an_spd_quadratic(data, x_star_scale):
    A, b, _, _ = data
    b = x_star_scale * b
    x_star = np.linalg.solve(A, b)
    res = minimize(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(len(b)), method="newton",
                   jac=lambda x: A @ x - b, hess=lambda x: A, options={"gtol": 1e-8 * max(1.0, np.abs(b).max())})
    assert res.success and res.nit <= 1
    np.testing.assert_allclose(res.x, x_star, rtol=1e-6, atol=1e-8 * np.abs(x_star).max())


@SETTINGS
@given(data=symmetric())
def test_shifted_factorization_gives_descent(data):
    B, g, _, eig = data
    factorization = shifted_factorization(xnp, op(B))
    y = factorization.solve(g)
    np.testing.assert_allclose((B + factorization.shift * np.eye(len(g))) @ y, g,
                               atol=1e-8 * max(1, np.abs(B).max()) * max(1.0, np.abs(y).max()))
    if eig.min() > 1e-6:
        assert factorization.shift == 0.0
    p, _ = newton_direction(xnp, op(B), g)
    assert g @ p < 0


@SETTINGS
@given(data=symmetric(), radius=st.floats(0.01, 10.0))
def test_more_sorensen_satisfies_the_optimality_conditions(data, radius):
    """Theorem 4.1 of Nocedal & Wright (2006): (B + lam I) p = -g, lam (radius - ||p||) = 0,
    B + lam I positive semidefinite; and no random feasible point has a lower model value."""
    B, g, Q, eig = data
    n = len(g)
    sol = more_sorensen(xnp, op(B), g, radius, k_easy=1e-10)
    p, lam = np.asarray(sol.step), sol.multiplier
    scale = max(1.0, np.abs(B).max(), np.abs(g).max())
    assert np.linalg.norm(p) <= radius * (1 + 1e-8)
    assert lam >= 0 and eig.min() + lam >= -1e-8 * scale
    np.testing.assert_allclose((B + lam * np.eye(n)) @ p, -g, atol=1e-6 * scale * max(1.0, radius))
    assert lam * (radius - np.linalg.norm(p)) <= 1e-6 * scale * radius
    rng = np.random.default_rng(0)
    trial = rng.standard_normal((200, n))
    trial *= (radius * rng.uniform(0, 1, (200, 1)) ** (1 / n)) / np.linalg.norm(trial, axis=1, keepdims=True)
    assert model(B, g, p) <= min(model(B, g, t) for t in trial) + 1e-9 * scale * max(1.0, radius) ** 2


def test_more_sorensen_hard_case():
    """g orthogonal to the eigenvector of the most negative eigenvalue (the hard case)."""
    B = np.diag([-2.0, 1.0, 3.0])
    g = np.array([0.0, 1.0, 1.0])
    radius = 2.0
    sol = more_sorensen(xnp, op(B), g, radius)
    p = np.asarray(sol.step)
    assert sol.hard_case and math.isclose(sol.multiplier, 2.0) and math.isclose(np.linalg.norm(p), radius)
    np.testing.assert_allclose(p[1:], [-1.0 / 3.0, -1.0 / 5.0])
    # and with a tiny component along the eigenvector (nearly hard case) the answer is continuous
    near = more_sorensen(xnp, op(B), g + np.array([1e-9, 0, 0]), radius, k_easy=1e-10)
    assert abs(model(B, g, np.asarray(near.step)) - model(B, g, p)) < 1e-6


def test_more_sorensen_zero_gradient_indefinite():
    B = np.diag([1.0, -1.0])
    sol = more_sorensen(xnp, op(B), np.zeros(2), 0.5)
    p = np.asarray(sol.step)
    assert math.isclose(np.linalg.norm(p), 0.5) and model(B, np.zeros(2), p) < 0


def test_more_sorensen_iteration_cap_falls_back_to_the_eigendecomposition():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6))
    B, g = M + M.T, rng.standard_normal(6)
    capped = more_sorensen(xnp, op(B), g, 0.7, k_easy=1e-12, maxiter=1)
    exact = more_sorensen(xnp, op(B), g, 0.7, k_easy=1e-12)
    assert capped.factorizations <= 1
    np.testing.assert_allclose(np.asarray(capped.step), np.asarray(exact.step), atol=1e-8)


@SETTINGS
@given(data=symmetric(), radius=st.floats(0.01, 10.0))
def test_steihaug_stays_inside_and_beats_the_cauchy_point(data, radius):
    """Steihaug-CG's step is feasible, its carried B p is exact, and it reduces the model at least as much as
    the Cauchy point (Theorem 7.3 of Nocedal & Wright (2006))."""
    B, g, _, _ = data
    sol, Bp = steihaug_cg(xnp, lambda v: B @ v, g, radius, maxiter=len(g))
    p = np.asarray(sol.step)
    scale = max(1.0, np.abs(B).max())
    assert np.linalg.norm(p) <= radius * (1 + 1e-10)
    np.testing.assert_allclose(np.asarray(Bp), B @ p, atol=1e-9 * scale * max(1.0, radius))
    gBg = g @ B @ g
    gn = np.linalg.norm(g)
    tau = 1.0 if gBg <= 0 else min(1.0, gn**3 / (radius * gBg))
    cauchy = -tau * radius / gn * g
    assert model(B, g, p) <= model(B, g, cauchy) + 1e-10 * scale * max(1.0, radius) ** 2


@SETTINGS
@given(data=symmetric(), radius=st.floats(0.01, 10.0), seed=st.integers(0, 2**32 - 1))
def test_preconditioned_steihaug_stays_in_the_m_region(data, radius, seed):
    """PCG-form Steihaug with an SPD M: the step lies in ||p||_M <= radius, the reported length is ||p||_M, the
    carried B p is exact and the model decreases; with M = I it is Steihaug-CG itself."""
    B, g, _, _ = data
    n = len(g)
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    M = (Q * np.exp(rng.uniform(-2, 2, n))) @ Q.T
    sol, Bp, length = preconditioned_steihaug_cg(xnp, lambda v: B @ v, g, radius,
                                                 solve_m=lambda r: np.linalg.solve(M, r), maxiter=n)
    p = np.asarray(sol.step)
    scale = max(1.0, np.abs(B).max())
    assert math.sqrt(p @ M @ p) <= radius * (1 + 1e-8)
    assert length == pytest.approx(math.sqrt(p @ M @ p), rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(np.asarray(Bp), B @ p, atol=1e-9 * scale * max(1.0, radius))
    assert model(B, g, p) <= 1e-12 * scale
    plain, _ = steihaug_cg(xnp, lambda v: B @ v, g, radius, maxiter=n)
    same, _, _ = preconditioned_steihaug_cg(xnp, lambda v: B @ v, g, radius, solve_m=lambda r: r, maxiter=n)
    np.testing.assert_allclose(np.asarray(same.step), np.asarray(plain.step), atol=1e-8 * max(1.0, radius))


def test_preconditioned_steihaug_with_m_equal_b_needs_one_product():
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    B = (Q * np.geomspace(1e-3, 1e3, 30)) @ Q.T
    g = rng.standard_normal(30)
    sol, _, _ = preconditioned_steihaug_cg(xnp, lambda v: B @ v, g, 1e9, solve_m=lambda r: np.linalg.solve(B, r),
                                           maxiter=30)
    assert sol.factorizations == 1 and not sol.hits_boundary
    np.testing.assert_allclose(np.asarray(sol.step), -np.linalg.solve(B, g), rtol=1e-8)


@SETTINGS
@given(data=symmetric(), radius=st.floats(0.01, 10.0))
def test_gltr_model_value_and_accuracy(data, radius):
    """GLTR's predicted decrease is exact for its step, it is never worse than Steihaug's, and run to the full
    dimension it matches More-Sorensen whenever g has a component along the lowest eigenvector."""
    B, g, Q, eig = data
    n = len(g)
    sol, predicted = gltr(xnp, lambda v: B @ v, g, radius, maxiter=n, forcing=1e-12)
    p = np.asarray(sol.step)
    scale = max(1.0, np.abs(B).max(), np.abs(g).max())
    assert np.linalg.norm(p) <= radius * (1 + 1e-8)
    assert math.isclose(-model(B, g, p), predicted, rel_tol=1e-7, abs_tol=1e-9 * scale * max(1.0, radius) ** 2)
    steihaug, _ = steihaug_cg(xnp, lambda v: B @ v, g, radius, maxiter=n)
    assert model(B, g, p) <= model(B, g, np.asarray(steihaug.step)) + 1e-8 * scale * max(1.0, radius) ** 2
    lowest = np.abs(Q.T @ g)[np.argmin(eig)]
    if lowest > 1e-3 * np.linalg.norm(g) and len(set(np.round(eig, 8))) == n:
        exact = more_sorensen(xnp, op(B), g, radius, k_easy=1e-10)
        assert model(B, g, p) <= model(B, g, np.asarray(exact.step)) + 1e-6 * scale * max(1.0, radius) ** 2


@SETTINGS
@given(data=symmetric(), radius=st.floats(0.01, 10.0))
def test_dogleg_is_feasible_and_decreases_the_model(data, radius):
    B, g, _, _ = data
    sol = dogleg_step(xnp, op(B), g, radius)
    p = np.asarray(sol.step)
    assert np.linalg.norm(p) <= radius * (1 + 1e-10)
    assert model(B, g, p) < 0


@SETTINGS
@given(data=symmetric(spd=True), radius=st.floats(0.01, 10.0))
def test_dogleg_on_spd_matches_the_dogleg_path(data, radius):
    """For positive definite B: the Newton point when it is inside, else a point on the boundary whose model
    value lies between the Cauchy point's and the exact solution's (Section 4.1 of Nocedal & Wright)."""
    B, g, _, _ = data
    p = np.asarray(dogleg_step(xnp, op(B), g, radius).step)
    newton = -np.linalg.solve(B, g)
    if np.linalg.norm(newton) <= radius:
        np.testing.assert_allclose(p, newton, rtol=1e-8, atol=1e-10)
    else:
        assert math.isclose(np.linalg.norm(p), radius, rel_tol=1e-9)
        exact = np.asarray(more_sorensen(xnp, op(B), g, radius, k_easy=1e-10).step)
        assert model(B, g, exact) <= model(B, g, p) + 1e-9 * max(1.0, np.abs(B).max()) * max(1, radius) ** 2


@pytest.mark.parametrize("radius", [0.1, 1.0, 100.0])
def test_subproblems_on_array_api_strict(radius):
    import array_api_strict as xs

    rng = np.random.default_rng(7)
    M = rng.standard_normal((5, 5))
    Bn, gn = M + M.T, rng.standard_normal(5)
    B, g = xs.asarray(Bn), xs.asarray(gn)
    ref = np.asarray(more_sorensen(xnp, op(Bn), gn, radius, k_easy=1e-10).step)
    for step in (more_sorensen(xs, op(B), g, radius, k_easy=1e-10).step, dogleg_step(xs, op(B), g, radius).step,
                 steihaug_cg(xs, lambda v: B @ v, g, radius, maxiter=5)[0].step,
                 gltr(xs, lambda v: B @ v, g, radius, maxiter=5)[0].step):
        assert array_namespace(step) is xs and step.shape == (5,)
    np.testing.assert_allclose(np.asarray(more_sorensen(xs, op(B), g, radius, k_easy=1e-10).step), ref, atol=1e-10)


def test_boundary_roots_of_a_ray(rng):
    """||p + tau d|| = radius at both roots, tau_- <= 0 <= tau_+ from inside the region, and no cancellation
    when the roots differ by many orders of magnitude."""
    from ricci.solvers._boundary import boundary_roots

    for _ in range(20):
        p, d = 0.1 * rng.standard_normal(4), rng.standard_normal(4)
        radius = 1.0 + rng.random()
        lo, hi = boundary_roots(xnp, p, d, radius)
        assert lo <= 0.0 <= hi
        for tau in (lo, hi):
            assert np.linalg.norm(p + tau * d) == pytest.approx(radius, rel=1e-12)
    p, d = np.array([1.0 - 1e-12, 0.0]), np.array([1e6, 0.0])  # p just inside, a long d: a tiny positive root
    lo, hi = boundary_roots(xnp, p, d, 1.0)
    assert hi == pytest.approx(1e-18, rel=1e-3) and lo == pytest.approx(-2e-6, rel=1e-9)
