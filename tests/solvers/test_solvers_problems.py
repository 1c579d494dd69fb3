"""The hand-written derivatives of the test problems against finite differences along random directions
(first and second order), on both namespaces, so that the solver tests rest on correct derivatives."""
from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace


def test_derivatives_match_finite_differences(classic_problem, make_array, rng, to_numpy):
    problem = classic_problem
    x0 = np.asarray(problem.x0) + 0.1 * rng.standard_normal(problem.n)
    x = make_array(x0)
    xp = array_namespace(x)
    g = to_numpy(problem.jac(x))
    H = np.asarray(problem.hess(x))
    assert H.shape == (problem.n, problem.n)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * max(1.0, np.abs(H).max()))
    for _ in range(3):
        d = rng.standard_normal(problem.n)
        d /= np.linalg.norm(d)
        h = 1e-6 * max(1.0, np.linalg.norm(x0))
        fp, fm = float(problem.fun(make_array(x0 + h * d))), float(problem.fun(make_array(x0 - h * d)))
        scale = max(1.0, abs(float(problem.fun(x))))
        rounding = 1e-15 * scale / h  # cancellation in f(x + hd) - f(x - hd)
        assert abs((fp - fm) / (2 * h) - g @ d) <= 1e-6 * max(1.0, abs(g @ d)) + rounding
        gp, gm = to_numpy(problem.jac(make_array(x0 + h * d))), to_numpy(problem.jac(make_array(x0 - h * d)))
        np.testing.assert_allclose((gp - gm) / (2 * h), H @ d, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(H).max()))
    assert array_namespace(problem.jac(x)) is xp


def test_residual_jacobians_match_finite_differences(least_squares_problem, rng):
    problem = least_squares_problem
    x0 = np.asarray(problem.x0) + 0.1 * rng.standard_normal(problem.n)
    J = np.asarray(problem.residual_jac(x0))
    d = rng.standard_normal(problem.n)
    h = 1e-6 * max(1.0, np.linalg.norm(x0))
    fd = (np.asarray(problem.residual(x0 + h * d)) - np.asarray(problem.residual(x0 - h * d))) / (2 * h)
    np.testing.assert_allclose(fd, J @ d, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(J).max()))
