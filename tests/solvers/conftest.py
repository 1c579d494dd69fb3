"""Fixtures for tests/solvers: seeded randomness and the array namespaces every solver must run on."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # solvers_problems.py


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _numpy(values, dtype="float64"):
    return np.asarray(values, dtype=dtype)


def _strict(values, dtype="float64"):
    import array_api_strict as xs

    return xs.asarray(np.asarray(values, dtype=dtype).tolist(), dtype=getattr(xs, dtype))


NAMESPACES = {"numpy": _numpy, "array_api_strict": _strict}


@pytest.fixture(params=sorted(NAMESPACES))
def make_array(request):
    """``make_array(values, dtype="float64")`` builds x0 in each namespace under test."""
    return NAMESPACES[request.param]


def to_numpy(x):
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):  # array-api-strict may refuse implicit conversion
        return np.asarray([float(x[i]) for i in range(x.shape[0])])
