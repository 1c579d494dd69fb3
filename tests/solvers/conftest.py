"""Fixtures for tests/solvers: seeded randomness, the array namespaces every solver must run on, and the classic
test problems with hand-written derivatives.

The problems live in classic_problems.py, a helper module (not a test module) loaded here by its path, so
that no test imports another module of this folder and nothing is added to sys.path. A test asks for them
by fixture name:

    classic_problem         the test runs once per problem (parametrized, id = the problem's name)
    least_squares_problem   once per problem that also has residuals and their Jacobian
    classic_problems        all of them, by name (e.g. classic_problems["convex_quadratic"])
    rosenbrock              Rosenbrock's function (fun, jac, hess, x0), the interface tests' workhorse
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


def _load_helper(filename: str):
    """A helper module beside this file, loaded by path under a name no other module uses."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"ricci_tests_solvers_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_classic = _load_helper("classic_problems.py")


def pytest_generate_tests(metafunc):
    """``classic_problem`` and ``least_squares_problem`` parametrize a test over the problems."""
    parametrized = {"classic_problem": _classic.PROBLEMS, "least_squares_problem": _classic.LEAST_SQUARES}
    for fixture, problems in parametrized.items():
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, problems, ids=[p.name for p in problems])


@pytest.fixture
def classic_problems():
    """Every classic problem by name."""
    return _classic.BY_NAME


@pytest.fixture
def rosenbrock():
    """Rosenbrock's function 100 (x2 - x1^2)^2 + (1 - x1)^2 with fun, jac, hess, hessp and x0 = (-1.2, 1)."""
    return _classic.BY_NAME["rosenbrock"]


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


@pytest.fixture
def to_numpy():
    """``to_numpy(x)``: a NumPy copy of a vector of any namespace under test (array-api-strict refuses the
    implicit conversion, so it is read entry by entry)."""
    return _classic.to_numpy
