"""Threads against one Objective / LeastSquares: the point cache is per thread, so every thread gets the values
of its own points, whatever the interleaving (issue "Reliability and security", item 7: two threads calling
``obj.fun`` at different points got each other's values, 151 wrong of 4,000)."""

import sys
import threading

import numpy as np
import pytest
import ricci.symbolic as rs
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import minimize

FUZZ = settings.get_profile("ricci-fuzz")

X = rs.Matrix("X", "m", "n")
w = rs.Vector("w", "n")
F = rs.sum(rs.softplus(X @ w)) + 0.5 * (w @ w)
R = X @ w - rs.Vector("y", "m")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    Xa = rng.standard_normal((30, 4))
    obj = rs.Objective(F, w, {"X": Xa})
    ls = rs.LeastSquares(R, w, {"X": Xa, "y": rng.standard_normal(30)})

    def exact(x):  # NumPy reference of f, its gradient and the residual
        z = Xa @ x
        return (float(np.sum(np.logaddexp(0.0, z)) + 0.5 * x @ x), Xa.T @ (1 / (1 + np.exp(-z))) + x,
                z - ls.data["y"])

    return obj, ls, exact


@pytest.fixture
def fast_switching():
    """Switch threads every microsecond, so that check-then-store sequences interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _hammer(problem, points, calls_per_thread):
    """Each thread evaluates fun, jac, fun_and_jac, hess and the residual at its own points, in turns, and
    records every value that differs from the NumPy reference."""
    obj, ls, exact = problem
    wrong, errors = [], []
    barrier = threading.Barrier(len(points))

    def work(x_list):
        try:
            barrier.wait()
            for k in range(calls_per_thread):
                x = x_list[k % len(x_list)]
                f, g, r = exact(x)
                which = k % 5
                if which == 0:
                    ok = np.isclose(obj.fun(x), f, rtol=1e-12)
                elif which == 1:
                    ok = np.allclose(obj.jac(x), g, rtol=1e-12)
                elif which == 2:
                    fv, gv = obj.fun_and_jac(x)
                    ok = np.isclose(fv, f, rtol=1e-12) and np.allclose(gv, g, rtol=1e-12)
                elif which == 3:
                    ok = obj.hess(x).shape == (4, 4) and np.isclose(obj.fun(x), f, rtol=1e-12)
                else:
                    ok = np.allclose(ls.fun(x), r, rtol=1e-12, atol=1e-12)
                if not ok:
                    wrong.append((which, k))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(pts,)) for pts in points]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return wrong


def test_two_threads_at_different_points_get_their_own_values(problem, fast_switching):
    """The case of the issue: two threads, 2,000 calls each, each at its own point."""
    rng = np.random.default_rng(0)
    points = [[rng.standard_normal(4)], [rng.standard_normal(4)]]
    wrong = _hammer(problem, points, 2000)
    assert not wrong, f"{len(wrong)} of 4000 values belonged to the other thread's point"


@settings(FUZZ, max_examples=max(FUZZ.max_examples // 8, 4))
@given(threads=st.integers(2, 6), points_per_thread=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       shared=st.booleans())
def test_many_threads_any_points(problem, threads, points_per_thread, seed, shared):
    """Any number of threads, each cycling over a few points; ``shared``: all threads use the same points
    (cache hits across threads must still be right)."""
    rng = np.random.default_rng(seed)
    base = [rng.standard_normal(4) for _ in range(points_per_thread)]
    points = [[p.copy() for p in base] if shared else [rng.standard_normal(4) for _ in range(points_per_thread)]
              for _ in range(threads)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        wrong = _hammer(problem, points, 150)
    finally:
        sys.setswitchinterval(old)
    assert not wrong


def test_solvers_in_threads_share_one_objective(problem):
    """Whole solves from different starting points, in parallel on one Objective, each reach the optimum with
    the evaluation counts of a solve alone."""
    obj, _, _ = problem
    starts = [np.full(4, s) for s in (-3.0, -1.0, 0.5, 2.0)]
    alone = [minimize(obj, x0, method="trust-exact", options={"gtol": 1e-10}) for x0 in starts]
    results = [None] * len(starts)

    def solve(i):
        results[i] = minimize(obj, starts[i], method="trust-exact", options={"gtol": 1e-10})

    threads = [threading.Thread(target=solve, args=(i,)) for i in range(len(starts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res, ref in zip(results, alone):
        assert res.success and np.allclose(res.x, ref.x, atol=1e-8) and res.nfev == ref.nfev

