"""CuPy in, CuPy out: every method on the GPU, with the result left on the device.

Skipped unless CuPy imports and sees a CUDA device."""
from __future__ import annotations

import numpy as np
import pytest
from ricci.solvers import METHODS, least_squares, minimize


def _cupy():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # ImportError, or a CUDA runtime error without a driver
        return None


cp = _cupy()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(cp is None, reason="needs CuPy and a CUDA device")]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", ["rosenbrock", "extended_rosenbrock_100", "helical_valley", "indefinite_start"])
def test_minimize_on_cupy(name, method, classic_problems):
    p = classic_problems[name]
    x0 = cp.asarray(p.x0, dtype=cp.float64)
    res = minimize(p.fun, x0, method=method, jac=p.jac, hess=p.hess, options={"gtol": 1e-8})
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray) and isinstance(res.jac, cp.ndarray)
    assert p.reached(cp.asnumpy(res.x), res.fun)


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_least_squares_on_cupy(least_squares_problem, method):
    problem = least_squares_problem
    if problem.name == "freudenstein_roth":
        pytest.skip("Gauss-Newton stalls on Freudenstein-Roth (see test_solvers_least_squares.KNOWN_HARD)")
    res = least_squares(problem.residual, cp.asarray(problem.x0, dtype=cp.float64), jac=problem.residual_jac,
                        method=method)
    assert res.success and isinstance(res.x, cp.ndarray)
    assert problem.reached(cp.asnumpy(res.x), 2.0 * res.cost)


def test_float32_on_cupy(classic_problems):
    p = classic_problems["convex_quadratic"]
    res = minimize(p.fun, cp.zeros(p.n, dtype=cp.float32), method="trust-exact", jac=p.jac, hess=p.hess,
                   options={"gtol": 1e-3})
    assert res.success and res.x.dtype == cp.float32
    assert np.allclose(cp.asnumpy(res.x), p.minimizers[0], atol=1e-2)
