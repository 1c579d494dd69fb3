"""The residual model (value 1/2 ||r||^2, gradient J'r, Gauss-Newton curvature J'J) and the sharing it makes
real: least_squares runs on minimize's evaluator base, iteration skeleton and drivers.

References: finite differences for the derivatives, dense J'J for the structured and matvec-only forms, and
minimize's own reports and callbacks for the conventions least_squares now shares."""
from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import numpy as xnp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import least_squares, minimize
from ricci.solvers._evaluator import Evaluator, FloatingPointGuard, ScaledModel
from ricci.solvers._gauss_newton import GaussNewtonDirection
from ricci.solvers._iteration import IterationSkeleton
from ricci.solvers._levenberg_marquardt import LevenbergMarquardtSubproblem
from ricci.solvers._residual_model import ResidualEvaluator
from ricci.solvers._trust_region import _Model
from scipy.sparse.linalg import aslinearoperator


def _problem(seed: int, m: int = 7, n: int = 4):
    """r(x) = A x + b + 0.1 sin(x)_(first n rows): smooth, with a full-rank Jacobian A + 0.1 diag(cos x)."""
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((m, n)), rng.standard_normal(m)

    def fun(x):
        r = A @ x + b
        r[:n] += 0.1 * np.sin(x)
        return r

    def jac(x):
        J = A.copy()
        J[:n] += 0.1 * np.diag(np.cos(x))
        return J

    return fun, jac, rng.standard_normal(n)


def _evaluator(fun, jac, x0, guard):
    return ResidualEvaluator(xnp, x0, fun, jac, (), {}, guard)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), exponent=st.sampled_from([0, 300, 600, -600, -1000]))
def test_value_gradient_and_curvature_against_references(seed, exponent):
    """f = 1/2 ||r||^2, g = J'r (central differences of f), B = J'J (dense reference, scaled columns, diagonal),
    all in the scaled units the drivers see and back in the user's units, for r scaled by 2^exponent: the
    power-of-two scale is exact."""
    fun0, jac0, x = _problem(seed)
    c = math.ldexp(1.0, exponent)

    def fun(x):
        return c * fun0(x)

    def jac(x):
        return c * jac0(x)

    with FloatingPointGuard() as guard:
        ev = _evaluator(fun, jac, x, guard)
        ev.scale_at_start(x, None, None)
        s = ev.scale
        assert math.frexp(s)[0] == 0.5 and ev.value_degree == 2  # a power of two; the value carries s^2
        assert (s == 1.0) == (abs(exponent) <= 400)  # 1 for magnitudes within 2^+-450
        r0, J0 = fun0(x), jac0(x)  # the unscaled problem: c s r0 is what the drivers see
        f = ev.value(x)
        assert f == pytest.approx(0.5 * (c * s) ** 2 * (r0 @ r0), rel=1e-14)
        g = ev.gradient(x)
        np.testing.assert_allclose(g, (c * s) ** 2 * J0.T @ r0, rtol=1e-12, atol=1e-300)
        # back in the user's units (overflowing to inf, or underflowing to 0, only where c^2 itself does)
        assert ev.user_value(f) == pytest.approx(0.5 * c * c * (r0 @ r0), rel=1e-14)
        np.testing.assert_allclose(ev.user_array(g), c * c * (J0.T @ r0), rtol=1e-12)
        np.testing.assert_allclose(ev.user_residuals(ev.residuals(x)), c * r0, rtol=1e-15)
        # the gradient is the derivative of the value (finite differences on the unscaled problem's cost)
        h, d = 1e-6, np.random.default_rng(seed).standard_normal(x.shape[0])
        fd = (0.5 * fun0(x + h * d) @ fun0(x + h * d) - 0.5 * fun0(x - h * d) @ fun0(x - h * d)) / (2 * h)
        assert g @ d / (c * s) ** 2 == pytest.approx(fd, rel=1e-6, abs=1e-9)
        B = ev.curvature(x)
        dense = (c * s) ** 2 * J0.T @ J0
        scales = np.linspace(0.5, 2.0, x.shape[0])
        np.testing.assert_allclose(B.scaled(scales).to_dense(), scales[:, None] * dense * scales, rtol=1e-12)
        np.testing.assert_allclose(B.column_norms(), np.sqrt(np.diag(dense)), rtol=1e-12)
        assert B.model_curvature(d) == pytest.approx(d @ dense @ d, rel=1e-12)
        assert ev.counts.nfev == 1 and ev.counts.njev == 1  # memoized at x


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), rank_deficient=st.booleans())
def test_model_reduction_dense_and_by_products(seed, rank_deficient):
    """m(0) - min m = 1/2 g' B^+ g: from the eigendecomposition of a dense B, and by LSQR for a J known only
    through products; both against a least-squares reference."""
    rng = np.random.default_rng(seed)
    m, n = 8, 5
    J = rng.standard_normal((m, n))
    if rank_deficient:
        J[:, -1] = J[:, 0]
    r = rng.standard_normal(m)
    p_star = np.linalg.lstsq(J, -r, rcond=None)[0]
    reference = 0.5 * (J @ p_star) @ (J @ p_star)
    for jac in (lambda x: J, lambda x: aslinearoperator(J)):
        with FloatingPointGuard() as guard:
            ev = _evaluator(lambda x: r, jac, np.zeros(n), guard)
            x = np.zeros(n)
            B = ev.curvature(x)
            g = ev.gradient(x)
            assert B.minimizer_reduction(g, B.scaled()) == pytest.approx(reference, rel=1e-6, abs=1e-10)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), radius=st.floats(1e-3, 1e2))
def test_levenberg_marquardt_step_from_the_curvature_operator(seed, radius):
    """The LM subproblem's step stays in ||D p|| <= radius (within k_easy), its predicted decrease is
    -(g'p + 1/2 p'J'Jp) and its slope g'p, for a dense J (More-Sorensen with D the column norms) and a matvec-only
    one (LSQR, D = I)."""
    fun, jac, x = _problem(seed)
    for as_operator in (False, True):
        with FloatingPointGuard() as guard:
            ev = _evaluator(fun, (lambda y: aslinearoperator(jac(y))) if as_operator else jac, x, guard)
            g = ev.gradient(x)
            sub = LevenbergMarquardtSubproblem()
            step = sub.solve(_Model(ev, x, g), radius)
            J = jac(x)
            D = np.ones_like(x) if as_operator else np.linalg.norm(J, axis=0)
            p = np.asarray(step.step)
            assert np.linalg.norm(D * p) <= radius * (1 + 0.1) + 1e-12
            assert step.length == pytest.approx(np.linalg.norm(D * p), rel=1e-12)
            assert step.slope == pytest.approx(g @ p, rel=1e-12, abs=1e-14)
            assert step.predicted_decrease == pytest.approx(-(g @ p + 0.5 * p @ J.T @ J @ p), rel=1e-10, abs=1e-14)
            assert step.predicted_decrease >= 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), scaled=st.booleans())
def test_gauss_newton_direction_is_the_least_squares_step(seed, scaled):
    """For a full-rank J the damped Gauss-Newton direction is the least-squares solution of J p = -r (tau = 0,
    whatever the column scaling), and the rule records the model's decrease for it."""
    fun, jac, x = _problem(seed)
    s = np.linspace(0.5, 3.0, x.shape[0]) if scaled else None
    with FloatingPointGuard() as guard:
        ev = _evaluator(fun, jac, x, guard)
        rule = GaussNewtonDirection(xnp, ev, s)
        p, alpha0 = rule.direction(x, ev.gradient(x))
    J, r = jac(x), fun(x)
    reference = np.linalg.lstsq(J, -r, rcond=None)[0]
    np.testing.assert_allclose(p, reference, rtol=1e-8, atol=1e-12)
    assert alpha0 == 1.0
    assert rule.model_decrease == pytest.approx(0.5 * (J @ p) @ (J @ p), rel=1e-8)


def test_both_models_share_the_base():
    """One base for the scalar and the residual model: counts, user calls, scaling conversions."""
    assert issubclass(ResidualEvaluator, ScaledModel) and issubclass(Evaluator, ScaledModel)
    shared = ("call_user", "user_value", "user_array")
    for name in shared:
        assert getattr(ResidualEvaluator, name) is getattr(ScaledModel, name) is getattr(Evaluator, name)


def _rosenbrock_residuals():
    def fun(x):
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    def jac(x):
        return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])

    return fun, jac, np.array([-1.2, 1.0])


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_least_squares_reports_through_the_skeleton(method, monkeypatch, capsys):
    """least_squares and minimize go through the one IterationSkeleton: every reported iteration is a call of
    its stop (and the callback's nit is that iteration), and the report has the same columns."""
    fun, jac, x0 = _rosenbrock_residuals()
    stops = {"least_squares": [], "minimize": []}
    original = IterationSkeleton.stop
    family = ["least_squares"]

    def spy(self, k, x, f, g, step):
        stops[family[0]].append(k)
        return original(self, k, x, f, g, step)

    monkeypatch.setattr(IterationSkeleton, "stop", spy)
    seen = []
    res = least_squares(fun, x0, jac=jac, method=method, verbose=2,
                        callback=lambda intermediate_result: seen.append(intermediate_result))
    ls_report = capsys.readouterr().out.splitlines()
    assert res.success
    # one report (and stop test) per accepted point, x0 included, the last unless ftol/xtol ended the run there;
    # the callback sees each of those points after x0, with its iteration number
    reports = stops["least_squares"]
    assert reports == list(range(len(reports))) and len(reports) in (res.nit, res.nit + 1)
    assert [s.nit for s in seen] == reports[1:]
    for s in seen:
        assert {"x", "cost", "fun", "jac", "grad", "optimality", "nit"} <= set(s)
        np.testing.assert_allclose(s.grad, s.jac.T @ s.fun, rtol=1e-12)
        assert s.cost == pytest.approx(0.5 * s.fun @ s.fun, rel=1e-15) and s.optimality == np.abs(s.grad).max()
    family[0] = "minimize"

    def f(x):
        r = fun(x)
        return 0.5 * r @ r

    minimize(f, x0, method="trust-exact" if method == "lm" else "newton", jac=lambda x: jac(x).T @ fun(x),
             hess=lambda x: jac(x).T @ jac(x), options={"disp": True})
    min_report = capsys.readouterr().out.splitlines()
    assert stops["minimize"] and stops["minimize"][0] == 0
    assert ls_report[1] == min_report[1]  # the same columns: iter, f, |g|_inf, step or radius, time
    assert ls_report[0] == f"ricci.solvers least_squares {method}"


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_scaled_residuals_take_the_same_steps(method):
    """Residuals times 2^600 overflow 1/2 ||r||^2 unscaled; the residual model's power-of-two scale makes the
    solve take exactly the unscaled problem's steps (same x, same counts, residuals times 2^600)."""
    fun, jac, x0 = _rosenbrock_residuals()
    c = math.ldexp(1.0, 600)
    plain = least_squares(fun, x0, jac=jac, method=method)
    big = least_squares(lambda x: c * fun(x), x0, jac=lambda x: c * jac(x), method=method)
    assert big.status == plain.status and big.nfev == plain.nfev and big.njev == plain.njev and big.nit == plain.nit
    np.testing.assert_array_equal(big.x, plain.x)
    np.testing.assert_array_equal(big.fun, c * plain.fun)
