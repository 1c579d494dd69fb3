"""tron, the projected trust-region Newton method for bound constraints (Lin & More 1999), and the bounds
parsing it shares (``_bounds.standardize_bounds``).

Oracles: scipy.optimize.lsq_linear / nnls for box-constrained least squares, L-BFGS-B for Rosenbrock in a box,
trust-ncg for infinite bounds, and the KKT conditions at every returned point."""
from __future__ import annotations

import math

import numpy as np
import pytest
import ricci.solvers as rsol
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import GramOperator, TronOptions, tron
from ricci.solvers._bounds import active_mask, standardize_bounds


def _least_squares(A, b):
    """f = 1/2 ||Ax - b||^2 with gradient, dense Hessian, Hessian products and the Gram operator."""
    AtA = A.T @ A
    return {"fun": lambda x: 0.5 * float(np.sum((A @ x - b) ** 2)), "jac": lambda x: A.T @ (A @ x - b),
                "hess": lambda x: AtA, "hessp": lambda x, p: AtA @ p, "operator": lambda x: GramOperator(A)}


def _kkt(x, g, lo, hi, tol):
    """First-order conditions of min f over [lo, hi]: x feasible, g_i ~ 0 where free, g_i >= 0 at a lower
    bound, g_i <= 0 at an upper bound (the multiplier signs), and ||P(x - g) - x||_inf <= tol."""
    assert np.all(x >= lo) and np.all(x <= hi)
    at_lower, at_upper = x <= lo, x >= hi
    free = ~at_lower & ~at_upper
    assert np.all(np.abs(g[free]) <= tol)
    assert np.all(g[at_lower & ~at_upper] >= -tol)
    assert np.all(g[at_upper & ~at_lower] <= tol)
    assert np.max(np.abs(np.clip(x - g, lo, hi) - x)) <= tol


@pytest.fixture
def box_ls(rng):
    m, n = 40, 12
    A = rng.standard_normal((m, n)) @ np.diag(np.logspace(-1, 1, n))
    b = 3.0 * rng.standard_normal(m)
    lo = np.where(rng.random(n) < 0.3, -np.inf, -0.2)
    hi = np.where(rng.random(n) < 0.3, np.inf, 0.3)
    return A, b, lo, hi


@pytest.mark.parametrize("form", ["hess", "hessp", "operator"])
def test_box_least_squares_matches_lsq_linear(box_ls, form):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)
    derivatives = {form if form != "operator" else "hess": p[form]}
    res = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], bounds=so.Bounds(lo, hi), tol=1e-10, **derivatives)
    ref = so.lsq_linear(A, b, bounds=(lo, hi), method="bvls", tol=1e-14)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    _kkt(res.x, res.jac, lo, hi, 1e-10)
    assert res.proj_grad_norm <= 1e-10
    np.testing.assert_array_equal(res.active_mask, active_mask(np, res.x, lo, hi))
    assert set(np.unique(res.active_mask)) <= {-1, 0, 1} and np.any(res.active_mask != 0)


def test_nnls_matches_scipy_nnls(rng):
    m, n = 60, 25
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(-3, 0, n)) @ V.T  # ill-conditioned: singular values 1e-3 .. 1
    b = rng.standard_normal(m)
    p = _least_squares(A, b)
    res = tron(p["fun"], np.zeros(n), jac=p["jac"], hess=p["hess"], bounds=[(0, None)] * n, tol=1e-12)
    ref, _ = so.nnls(A, b)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, ref, atol=1e-6 * max(1.0, np.max(ref)))
    assert res.fun <= 0.5 * np.sum((A @ ref - b) ** 2) + 1e-9
    _kkt(res.x, res.jac, np.zeros(n), np.full(n, np.inf), 1e-12)


def test_structured_hessian_switches_to_its_lagged_dense_form():
    # "auto" on a Gram operator preconditions with the diagonal, then, once CG grows expensive on this
    # ill-conditioned NNLS, with the Cholesky factorization of the free block of the operator's dense form
    rng = np.random.default_rng(1)
    m, n = 100, 60
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(-4, 0, n)) @ V.T
    b = rng.standard_normal(m)
    p = _least_squares(A, b)
    ref, _ = so.nnls(A, b)
    runs = {pre: tron(p["fun"], np.zeros(n), jac=p["jac"], hess=p["operator"], bounds=[(0, None)] * n, tol=1e-10,
                      preconditioner=pre) for pre in ("auto", "diagonal")}
    for res in runs.values():
        assert res.success, res.message
        np.testing.assert_allclose(res.x, ref, atol=1e-7 * np.max(ref))
    assert runs["auto"].cg_niter < runs["diagonal"].cg_niter / 3


@pytest.mark.parametrize("preconditioner", ["auto", "diagonal", "factorization", "none"])
def test_rosenbrock_in_a_box_matches_lbfgsb(preconditioner):
    n = 6
    lo, hi = np.full(n, -1.5), np.array([0.5, 2.0, 0.3, 2.0, 2.0, 2.0])  # (1, ..., 1) cut off
    x0 = np.full(n, -1.0)
    res = tron(so.rosen, x0, jac=so.rosen_der, hess=so.rosen_hess, bounds=so.Bounds(lo, hi), tol=1e-10,
               preconditioner=preconditioner)
    ref = so.minimize(so.rosen, x0, jac=so.rosen_der, method="L-BFGS-B", bounds=so.Bounds(lo, hi),
                      options={"gtol": 1e-12, "ftol": 0, "maxiter": 10000})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    assert res.fun <= ref.fun + 1e-12
    _kkt(res.x, res.jac, lo, hi, 1e-10)
    assert res.active_mask[0] == 1 and np.all(res.active_mask[1:] == 0)


def test_infinite_bounds_match_unconstrained_trust_ncg(rosenbrock):
    x0 = np.array([-1.2, 1.0])
    res = tron(rosenbrock.fun, x0, jac=rosenbrock.jac, hess=rosenbrock.hess,
               bounds=[(-np.inf, np.inf), (None, None)], tol=1e-10)
    ref = rsol.minimize(rosenbrock.fun, x0, jac=rosenbrock.jac, hess=rosenbrock.hess, method="trust-ncg", tol=1e-10)
    assert res.success and ref.success
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)
    assert list(res.active_mask) == [0, 0]


def test_hess_hessp_and_operator_give_the_same_iterates(box_ls):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)
    paths = {}
    for form in ("hess", "hessp", "operator"):
        seen = []
        derivatives = {form if form != "operator" else "hess": p[form]}
        res = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], bounds=so.Bounds(lo, hi), tol=1e-10,
                   preconditioner="none", callback=lambda x, seen=seen: seen.append(x),
                   **derivatives)
        assert res.success
        paths[form] = (res.nit, np.array(seen))
    assert paths["hess"][0] == paths["hessp"][0] == paths["operator"][0]
    np.testing.assert_allclose(paths["hessp"][1], paths["hess"][1], atol=1e-12)
    np.testing.assert_allclose(paths["operator"][1], paths["hess"][1], atol=1e-12)


def test_scipy_minimize_custom_method(box_ls):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)
    ref = so.lsq_linear(A, b, bounds=(lo, hi), method="bvls", tol=1e-14).x
    x0 = np.zeros(A.shape[1])
    for bounds in (so.Bounds(lo, hi), [(None if math.isinf(a) else a, None if math.isinf(c) else c)
                                       for a, c in zip(lo, hi)]):
        res = so.minimize(p["fun"], x0, method=tron, jac=p["jac"], hess=p["hess"], bounds=bounds, tol=1e-10)
        assert res.success
        np.testing.assert_allclose(res.x, ref, atol=1e-8)


def test_x0_outside_the_box_is_projected_first():
    fun = lambda x: float(np.sum((x - 3.0) ** 2))
    jac = lambda x: 2.0 * (x - 3.0)
    hess = lambda x: 2.0 * np.eye(x.shape[0])
    res = tron(fun, np.array([10.0, -10.0, 0.5]), jac=jac, hess=hess, bounds=[(0, 1), (0, 1), (0, 5)], tol=1e-12)
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, 1.0, 3.0], atol=1e-12)
    assert list(res.active_mask) == [1, 1, 0]


def test_all_variables_fixed():
    calls = []

    def fun(x):
        calls.append(x.copy())
        return float(np.sum(x ** 2))

    res = tron(fun, np.array([5.0, -5.0]), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(2),
               bounds=so.Bounds([1.0, 2.0], [1.0, 2.0]))
    assert res.success and res.nit == 0
    np.testing.assert_array_equal(res.x, [1.0, 2.0])
    assert list(res.active_mask) == [-1, -1]  # lo == hi counts as at the lower bound
    np.testing.assert_array_equal(calls[0], [1.0, 2.0])  # f is never evaluated outside the box


def test_some_variables_fixed(box_ls):
    A, b, lo, hi = box_ls
    lo, hi = lo.copy(), hi.copy()
    lo[:3] = hi[:3] = 0.1
    p = _least_squares(A, b)
    res = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), tol=1e-10)
    ref = so.lsq_linear(A[:, 3:], b - A[:, :3] @ lo[:3], bounds=(lo[3:], hi[3:]), method="bvls", tol=1e-14)
    assert res.success
    np.testing.assert_array_equal(res.x[:3], 0.1)
    np.testing.assert_allclose(res.x[3:], ref.x, atol=1e-7)


def test_warm_start_with_initial_radius(box_ls):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)
    first = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), tol=1e-4)
    assert first.tr_radius > 0
    again = tron(p["fun"], first.x, jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), tol=1e-10,
                 initial_radius=first.tr_radius)
    assert again.success and again.nit <= 3
    _kkt(again.x, again.jac, lo, hi, 1e-10)


def test_float32_follows_x0(box_ls):
    A, b, lo, hi = box_ls
    A32, b32 = A.astype(np.float32), b.astype(np.float32)
    AtA = A32.T @ A32
    res = tron(lambda x: 0.5 * float(np.sum((A32 @ x - b32) ** 2)), np.zeros(A.shape[1], np.float32),
               jac=lambda x: A32.T @ (A32 @ x - b32), hess=lambda x: AtA, bounds=so.Bounds(lo, hi), tol=1e-3)
    assert res.x.dtype == np.float32 and res.jac.dtype == np.float32
    ref = so.lsq_linear(A, b, bounds=(lo, hi), method="bvls", tol=1e-14).x
    np.testing.assert_allclose(res.x, ref, atol=1e-3)


def test_array_api_strict():
    xs = pytest.importorskip("array_api_strict")
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
    c = np.array([-4.0, 1.0, -9.0])
    As, cs = xs.asarray(A), xs.asarray(c)
    fun = lambda x: float(0.5 * xs.sum(x * (As @ x)) + xs.sum(cs * x))
    res = tron(fun, xs.asarray([0.0, 0.0, 0.0]), jac=lambda x: As @ x + cs, hess=lambda x: As,
               bounds=[(0, 1), (0, None), (None, 2)], tol=1e-12)
    ref = so.minimize(lambda x: 0.5 * x @ A @ x + c @ x, np.zeros(3), jac=lambda x: A @ x + c, method="L-BFGS-B",
                      bounds=[(0, 1), (0, None), (None, 2)], options={"gtol": 1e-13, "ftol": 0}).x
    assert res.success
    np.testing.assert_allclose(np.asarray(res.x), ref, atol=1e-8)


# --- outcomes ---------------------------------------------------------------------------------------------
def test_nan_beyond_a_region_ends_honestly():
    def fun(x):
        return float(np.sum((x - 5.0) ** 2)) if np.all(x < 2.0) else math.nan

    res = tron(fun, np.zeros(2), jac=lambda x: 2 * (x - 5.0), hess=lambda x: 2 * np.eye(2),
               bounds=[(0, 10), (0, 10)], tol=1e-10, maxiter=200)
    assert not res.success and res.status in (2, 4)
    assert np.all(res.x < 2.0) and math.isfinite(res.fun)


def test_nan_at_x0_is_non_finite():
    res = tron(lambda x: math.nan, np.zeros(2), jac=lambda x: x, hess=lambda x: np.eye(2), bounds=[(0, 1)] * 2)
    assert res.status == rsol.Outcome.NON_FINITE.status and not res.success


def test_unbounded_below_within_the_bounds():
    res = tron(lambda x: -float(np.sum(x)) + 0.5 * float(x[0] ** 2), np.zeros(2),
               jac=lambda x: np.array([x[0] - 1.0, -1.0]), hess=lambda x: np.diag([1.0, 0.0]),
               bounds=[(0, None), (0, None)])
    assert res.status == rsol.Outcome.UNBOUNDED.status and not res.success
    assert res.fun < -1e20 or res.fun == -math.inf


def test_maxiter(box_ls):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)
    res = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), tol=0,
               maxiter=1)
    assert res.status == rsol.Outcome.MAX_ITERATIONS.status and res.nit == 1
    assert np.all(res.x >= lo) and np.all(res.x <= hi)


def test_callback_stop_iteration(box_ls):
    A, b, lo, hi = box_ls
    p = _least_squares(A, b)

    def stop(intermediate_result):
        raise StopIteration

    res = tron(p["fun"], np.zeros(A.shape[1]), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), callback=stop)
    assert res.status == rsol.Outcome.CALLBACK_STOP.status and res.nit == 1


# --- interface and errors ----------------------------------------------------------------------------------
def test_registry_and_options():
    method = rsol.get_method("tron")
    assert method.function is tron and method.options is TronOptions and method.accepts_hessp
    assert rsol.CONSTRAINED_METHODS["tron"] is tron and "tron" not in rsol.METHODS
    with pytest.raises(TypeError, match="unknown option"):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hess=so.rosen_hess, radius=1.0)
    with pytest.raises(ValueError, match="preconditioner"):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hess=so.rosen_hess, preconditioner="ilu")
    with pytest.raises(TypeError, match="needs the Hessian"):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hessp=so.rosen_hess_prod, preconditioner="factorization")
    with pytest.raises(TypeError, match="Hessian information"):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der)


def test_constraints_are_refused_naming_auglag():
    con = so.LinearConstraint(np.ones((1, 2)), 0, 1)
    with pytest.raises(ValueError, match="auglag"):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hess=so.rosen_hess, constraints=[con])


@pytest.mark.parametrize("bounds, error, match", [
    ([(0, 1)], ValueError, "2 pairs; got 1"),
    ([(2, 1), (0, 1)], ValueError, "lower bound must be <= its upper bound"),
    ([(math.nan, 1), (0, 1)], ValueError, "NaN"),
    ("0, 1", TypeError, "got str"),
    (3.0, TypeError, "got float"),
    ([(0, "1"), (0, 1)], TypeError, r"bounds\[0\]\[1\] must be a real number"),
    ([(0, 1, 2), (0, 1)], TypeError, r"bounds\[0\] must be a \(lo, hi\) pair"),
    (so.Bounds([0, 0, 0], [1, 1, 1]), ValueError, r"shape \(2,\)"),
])
def test_bad_bounds(bounds, error, match):
    with pytest.raises(error, match=match):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hess=so.rosen_hess, bounds=bounds)


def test_standardize_bounds_forms():
    lo, hi = standardize_bounds(None, 2, np)
    assert np.all(lo == -np.inf) and np.all(hi == np.inf)
    lo, hi = standardize_bounds(so.Bounds(0, [1, np.inf]), 2, np, dtype=np.float32)
    assert lo.dtype == np.float32 and list(lo) == [0, 0] and list(hi) == [1, np.inf]
    lo, hi = standardize_bounds([(None, 1), (np.float32(-2), None)], 2, np)
    assert list(lo) == [-np.inf, -2] and list(hi) == [1, np.inf]


# --- property: random convex box QPs --------------------------------------------------------------------
@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), extra_rows=st.integers(0, 6))
def test_random_box_least_squares_match_lsq_linear(seed, n, extra_rows):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n + extra_rows, n))
    b = 2.0 * rng.standard_normal(n + extra_rows)
    lo = np.where(rng.random(n) < 0.25, -np.inf, -rng.random(n))
    hi = np.where(rng.random(n) < 0.25, np.inf, rng.random(n))
    p = _least_squares(A, b)
    res = tron(p["fun"], rng.standard_normal(n), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi), tol=1e-11)
    ref = so.lsq_linear(A, b, bounds=(lo, hi), method="bvls", tol=1e-14)
    assert res.success, res.message
    assert res.fun <= 0.5 * np.sum((A @ ref.x - b) ** 2) + 1e-9 * max(1.0, abs(res.fun))
    _kkt(res.x, res.jac, lo, hi, 1e-9)


# --- options that shape the iteration ---------------------------------------------------------------------
@pytest.fixture
def ill_box_ls(rng):
    """Box least squares with singular values over three decades, solved without a preconditioner, so that CG
    needs many iterations (what cg_maxiter and cg_rtol change)."""
    m, n = 120, 40
    A = rng.standard_normal((m, n)) @ np.diag(np.logspace(-2, 1, n))
    b = 3.0 * rng.standard_normal(m)
    lo = np.where(rng.random(n) < 0.3, -np.inf, -0.2)
    hi = np.where(rng.random(n) < 0.3, np.inf, 0.3)
    p = _least_squares(A, b)
    return lambda **options: tron(p["fun"], np.zeros(n), jac=p["jac"], hess=p["hess"], bounds=so.Bounds(lo, hi),
                                  preconditioner="none", **options)


def test_cg_maxiter_caps_the_conjugate_gradient_iterations_of_each_subproblem(ill_box_ls):
    free = ill_box_ls(tol=1e-10)
    assert free.success and free.cg_niter > free.nfev  # many CG iterations per subproblem without the cap
    capped = ill_box_ls(tol=0, maxiter=30, cg_maxiter=1)
    assert capped.nit == 30 and capped.cg_niter <= capped.nfev - 1  # one subproblem per trial point, one CG each


def test_cg_rtol_is_the_forcing_term_of_the_newton_step(ill_box_ls):
    loose, tight = ill_box_ls(tol=0, maxiter=1, cg_rtol=0.9), ill_box_ls(tol=0, maxiter=1, cg_rtol=1e-6)
    assert loose.cg_niter < tight.cg_niter


def test_max_trust_radius_caps_the_radius(ill_box_ls):
    free, capped = ill_box_ls(tol=1e-10), ill_box_ls(tol=1e-10, max_trust_radius=0.05)
    assert free.success and capped.success
    assert capped.tr_radius <= 0.05 < free.tr_radius
    assert capped.nit > free.nit
    np.testing.assert_allclose(capped.x, free.x, atol=1e-8)


def test_unbounded_threshold_decides_when_f_is_unbounded_below():
    def run(**options):
        return tron(lambda x: -float(np.sum(x)) + 0.5 * float(x[0] ** 2), np.zeros(2),
                    jac=lambda x: np.array([x[0] - 1.0, -1.0]), hess=lambda x: np.diag([1.0, 0.0]),
                    bounds=[(0, None), (0, None)], **options)

    early, default = run(unbounded_threshold=1e3), run()
    assert early.status == default.status == rsol.Outcome.UNBOUNDED.status
    assert -1e20 < early.fun < -1e3 and early.nit < default.nit


@pytest.mark.parametrize("option, value", [("eta", 0.25), ("eta", -0.1), ("cg_rtol", 1.0), ("cg_rtol", 0.0),
                                           ("max_trust_radius", 0.0), ("cg_maxiter", 0),
                                           ("unbounded_threshold", 0.0)])
def test_options_out_of_range_are_refused(option, value):
    with pytest.raises(ValueError, match=option):
        tron(so.rosen, np.zeros(2), jac=so.rosen_der, hess=so.rosen_hess, **{option: value})


def test_projected_search_starts_at_the_last_breakpoint():
    """A CG step along (near) zero curvature to a far region boundary: every a beyond the last breakpoint
    gives the same projected point. The search starts there and halves within the box's scale, so it ends
    with the sufficient decrease q(x+) - q(x_c) <= mu0 gq'(x+ - x_c); halving from a = 1 ran out of its 60
    halvings above the last breakpoint and returned the fully projected point, where q had increased."""
    from types import SimpleNamespace

    from ricci.solvers._op_base import NUMPY
    from ricci.solvers._tron import MU0, ProjectedNewtonSubproblem

    H = np.diag([100.0, 0.0])
    lo, hi = np.zeros(2), np.ones(2)
    sub = ProjectedNewtonSubproblem(lo, hi, TronOptions(), "off")
    products = []
    model = SimpleNamespace(hessp=lambda v: products.append(v) or H @ v)
    xc, d, gq = np.array([0.5, 1.0 - 1e-6]), 1e30 * np.ones(2), -np.ones(2)
    x_next, Hs, new_bounds = sub._projected_search(NUMPY, model, xc, d, gq)
    s = x_next - xc
    assert gq @ s + 0.5 * s @ H @ s <= MU0 * (gq @ s) < 0
    assert new_bounds and x_next[1] == 1.0 and 0 < s[0] < 0.05
    np.testing.assert_allclose(Hs, H @ s)
    assert len(products) <= 8  # a handful of halvings from the last breakpoint, not 60 from a = 1


def test_small_gram_hessian_is_formed_once_per_subproblem():
    """A Gram operator of dense data with few columns (DENSE_GRAM_LIMIT): "auto" forms it once per subproblem
    and takes every product from that matrix (one Hessian evaluation per iteration instead of dozens of
    products through X), reaching scipy's NNLS answer as the Jacobi-preconditioned products do."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((300, 40)) @ np.diag(np.logspace(0, -2, 40))
    b = rng.standard_normal(300)
    ls = _least_squares(A, b)
    kw = {"jac": ls["jac"], "hess": ls["operator"], "bounds": so.Bounds(0, np.inf), "tol": 1e-10}
    dense = tron(ls["fun"], np.zeros(40), **kw)
    products = tron(ls["fun"], np.zeros(40), preconditioner="diagonal", **kw)
    ref = so.nnls(A, b)[0]
    assert dense.success and products.success
    np.testing.assert_allclose(dense.x, ref, atol=1e-8)
    np.testing.assert_allclose(products.x, ref, atol=1e-8)
    assert dense.nhev <= dense.nit + 1 < products.nhev
