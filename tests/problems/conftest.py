"""Fixtures for tests/problems: the hand-written NumPy reading of the More-Garbow-Hillstrom paper
(mgh_reference.py, a helper module loaded here by its path: no test imports another module of this folder)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mgh_reference():
    """The module with ``REFERENCE`` (name -> residual function of a list x) and ``residual(name, x)``."""
    path = Path(__file__).with_name("mgh_reference.py")
    spec = importlib.util.spec_from_file_location("ricci_tests_problems_mgh_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
