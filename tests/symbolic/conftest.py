"""Finite-difference oracles for symbolic derivatives.

``check_derivatives(f, x, data)`` compiles f and its first and second derivatives w.r.t. the variable x and
compares them, along random directions, with central differences of the compiled lower-order function.
"""

from __future__ import annotations

import numpy as np
import pytest

import ricci.symbolic as rs


def contract_direction(D, v):
    """sum over the trailing v.ndim axes of D times v (a directional derivative)."""
    if v.ndim == 0:
        return D * v
    return np.tensordot(D, v, axes=v.ndim)


def fd_directional(fun, x0, v, h=None):
    """Central difference of fun along v at x0, with a step scaled to x0."""
    scale = max(1.0, float(np.max(np.abs(x0)))) if np.size(x0) else 1.0
    h = h or 1e-6 * scale
    return (np.asarray(fun(x0 + h * v)) - np.asarray(fun(x0 - h * v))) / (2 * h)


def only(fn, values, sizes=None):
    """The entries of ``values`` that the compiled function takes (and the sizes of its other dimensions)."""
    names = {v.name for v in fn.variables}
    picked = {k: v for k, v in values.items() if k in names}
    for d in fn.dim_names:
        if d not in names and sizes and d in sizes:
            picked[d] = sizes[d]
    return picked


def sizes_of(f, values):
    """Dimension name -> size, read off the arrays given for f's variables."""
    sizes = {}
    for v in rs.variables(f):
        for d, s in zip(v.shape, np.shape(values[v.name])):
            if not isinstance(d, int) and d.is_Symbol:
                sizes[str(d)] = s
    return sizes


class DerivativeChecker:
    def __init__(self, rng):
        self.rng = rng

    def __call__(self, f, x, values, order=2, rtol=1e-5, atol=1e-6, directions=2):
        """Check d^k f / dx^k for k = 1..order against finite differences of the (k-1)-th derivative."""
        name = x.name
        exprs = [rs.derivative(f, x, k) for k in range(order + 1)]
        fn = rs.compile(exprs)
        base = dict(values)
        sizes = sizes_of(f, base)
        results = fn(**only(fn, base, sizes))
        for k in range(1, order + 1):
            Dk = np.asarray(results[k])
            assert Dk.shape == tuple(np.shape(results[k - 1])) + np.shape(base[name])
            lower = rs.compile(exprs[k - 1])

            def fun(xv, lower=lower):
                return lower(**only(lower, {**base, name: xv}, sizes))

            for _ in range(directions):
                v = self.rng.normal(size=np.shape(base[name]))
                want = fd_directional(fun, np.asarray(base[name], dtype=float), v)
                got = contract_direction(Dk, v)
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"order {k} w.r.t. {name}")
        return results


@pytest.fixture
def check_derivatives(rng):
    return DerivativeChecker(rng)


@pytest.fixture(scope="session")
def session_checker():
    """A checker with its own seeded generator, for hypothesis tests (which forbid function-scoped fixtures)."""
    return DerivativeChecker(np.random.default_rng(7))
