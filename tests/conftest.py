"""Shared test settings: float64 everywhere, seeded randomness, a hypothesis profile sized for CI."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture
def rng():
    """A seeded generator, so that every failure reproduces."""
    return np.random.default_rng(20181203)


@pytest.fixture
def cupy():
    """CuPy with a usable GPU, or skip the test (CI has no GPU; tests using this carry the `gpu` marker)."""
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # CUDA driver missing or broken: not this machine's job
        pytest.skip(f"CUDA unavailable: {exc}")
    return cp


@pytest.fixture
def computes():
    """A counter of Dask computations: ``with computes() as count: ...; count.n`` (skips without dask)."""
    dask = pytest.importorskip("dask")

    class Count(dask.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.n = 0

        def _start(self, dsk):
            self.n += 1

    return Count


@pytest.fixture
def dask_synchronous():
    """Dask's single-threaded scheduler for the test: the same graphs and results, less overhead per computation
    of tiny blocks (skips without dask)."""
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield
