"""Every method on every classic problem, on NumPy and on array-api-strict arrays: each reaches a known
minimizer, and the result lives in the namespace (and dtype) of x0."""
from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace
from ricci.solvers import METHODS, minimize

GTOL = 1e-8


def method_options(problem, method):
    opts = {"gtol": GTOL}
    if method in ("trust-exact", "trust-ncg", "trust-krylov", "dogleg") and problem.name == "brown_badly_scaled":
        # the minimizer is 1e6 away from x0; with scipy's default max_trust_radius = 1000 every trust-region
        # method needs > 1000 iterations to walk there (scipy's as well), so the radius cap is raised
        opts["max_trust_radius"] = 1e8
    return opts


def solve(problem, method, x0):
    kwargs = {"jac": problem.jac}
    if method != "lbfgs":
        kwargs["hess"] = problem.hess
    return minimize(problem.fun, x0, method=method, options=method_options(problem, method), **kwargs)


@pytest.mark.parametrize("method", list(METHODS))
def test_reaches_known_minimizer(classic_problem, method, make_array):
    problem = classic_problem
    x0 = make_array(problem.x0)
    res = solve(problem, method, x0)
    assert res.success, res.message
    assert res.status == 0
    assert problem.reached(res.x, res.fun), (res.x, res.fun)
    assert array_namespace(res.x) is array_namespace(x0)
    assert array_namespace(res.jac) is array_namespace(x0)
    assert res.x.dtype == x0.dtype and res.x.shape == x0.shape
    assert float(np.max(np.abs(np.asarray(res.jac)))) <= GTOL
    assert res.nit >= 0 and res.nfev >= 1 and res.njev >= 1
    if method in ("newton", "trust-exact", "dogleg"):
        assert res.hess.shape == (problem.n, problem.n) and res.nhev >= 1


@pytest.mark.parametrize("method", ["trust-ncg", "trust-krylov"])
def test_hessian_vector_products_only(classic_problem, method):
    """trust-ncg / trust-krylov on hessp alone (no Hessian matrix is ever formed)."""
    problem = classic_problem
    res = minimize(problem.fun, np.asarray(problem.x0), method=method, jac=problem.jac, hessp=problem.hessp,
                   options=method_options(problem, method))
    assert res.success, res.message
    assert problem.reached(res.x, res.fun)
    assert "hess" not in res


@pytest.mark.parametrize("method", list(METHODS))
def test_float32_stays_float32(method, make_array, classic_problems):
    problem = classic_problems["convex_quadratic"]
    x0 = make_array(problem.x0, dtype="float32")
    res = minimize(problem.fun, x0, method=method, jac=problem.jac, hess=problem.hess, options={"gtol": 1e-3})
    assert res.success, res.message
    assert res.x.dtype == x0.dtype and res.jac.dtype == x0.dtype
    assert array_namespace(res.x) is array_namespace(x0)
    xstar = np.asarray(problem.minimizers[0])
    assert np.linalg.norm(np.asarray(res.x, dtype=np.float64) - xstar) <= 1e-2 * np.linalg.norm(xstar)


@pytest.mark.parametrize("line_search", ["armijo", "wolfe"])
def test_newton_line_searches(classic_problem, line_search):
    problem = classic_problem
    res = minimize(problem.fun, np.asarray(problem.x0), method="newton", jac=problem.jac, hess=problem.hess,
                   options={"gtol": GTOL, "line_search": line_search})
    assert res.success, res.message
    assert problem.reached(res.x, res.fun)
