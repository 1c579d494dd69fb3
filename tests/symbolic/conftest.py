"""Finite-difference oracles for symbolic derivatives: the fixtures run ``rs.check_derivatives``.

``check_derivatives(f, x, values, order=2, rtol=, atol=, directions=)`` compiles f and its derivatives up to
``order`` w.r.t. the variable x and compares each, along random directions, with central differences of the
one below it, at ``values`` (a dict that may hold more arrays than f uses); it fails the test with the report.
"""

from __future__ import annotations

import numpy as np
import pytest

import ricci.symbolic as rs


class DerivativeChecker:
    def __init__(self, rng):
        self.rng = rng

    def __call__(self, f, x, values, order=2, rtol=1e-5, atol=1e-6, directions=2):
        """Check d^k f / dx^k for k = 1..order against finite differences of the (k-1)-th derivative."""
        names = {v.name for v in rs.variables(f)} | {x.name}
        data = {k: v for k, v in values.items() if k in names}
        result = rs.check_derivatives(f, wrt=x, order=order, data=data, seed=self.rng, directions=directions,
                                      rtol=rtol, atol=atol)
        assert result.passed, f"derivatives of {f} w.r.t. {x.name} disagree with finite differences:\n{result}"
        return result


@pytest.fixture
def check_derivatives(rng):
    return DerivativeChecker(rng)


@pytest.fixture(scope="session")
def session_checker():
    """A checker with its own seeded generator, for hypothesis tests (which forbid function-scoped fixtures)."""
    return DerivativeChecker(np.random.default_rng(7))
