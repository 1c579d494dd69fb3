"""Fixtures for tests/benchmarks: the benchmark harness of the repository's benchmarks/ folder, which is not
part of the installed package.

benchmarks/*.py import each other by their top-level names (``from peers import ...``), as scripts run from
that folder do. The ``bench`` fixture loads them by path with importlib, in dependency order, under those
names in ``sys.modules`` for the session, and removes them afterwards; nothing is added to sys.path.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MODULES = ("peers", "_harness", "report")  # each imports only those before it


@pytest.fixture(scope="session")
def benchmarks_dir():
    """The benchmarks/ folder of this checkout."""
    if not (BENCHMARKS / "solvers.py").is_file():
        pytest.skip("benchmarks/ is not beside the tests (not a source checkout)")
    return BENCHMARKS


@pytest.fixture(scope="session")
def bench(benchmarks_dir):
    """The harness modules: ``bench.peers``, ``bench.harness``, ``bench.report``."""
    if any(name in sys.modules for name in MODULES):
        pytest.fail(f"a module named one of {MODULES} is already imported; the benchmarks' would shadow it")
    loaded = {}
    try:
        for name in MODULES:
            spec = importlib.util.spec_from_file_location(name, benchmarks_dir / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            loaded[name] = module
        yield SimpleNamespace(peers=loaded["peers"], harness=loaded["_harness"], report=loaded["report"])
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)
