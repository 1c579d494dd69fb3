"""Dask's distributed scheduler: logistic regression on Dask X solved by Newton through a ``LocalCluster`` of
two worker processes gives the in-memory NumPy solution (issue 13: whatever scheduler is active is used).

Oracle: the same problem solved on NumPy arrays. The cluster is started once for the module, with timeouts
on the client and on closing, no dashboard, quiet logs, and worker processes started by 'spawn' (a fork of
a process that already runs threads, as pytest with Dask's thread pool does, can deadlock in the child).
"""

import logging

import numpy as np
import pytest
from ricci import problems

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn",
                          "distributed.scheduler.work-stealing": False}):
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster, timeout=60) as c:
                c.wait_for_workers(2, timeout=60)
                yield c
        finally:
            cluster.close(timeout=30)


def test_newton_on_a_local_cluster_gives_the_numpy_solution(rng, client):
    m, n = 300, 6
    X = rng.standard_normal((m, n))
    y = (X @ rng.standard_normal(n) + 0.5 * rng.standard_normal(m) > 0).astype(float)
    reference = problems.logistic_regression(X, y, lam=1.0).solve("newton", tol=1e-10)
    lazy_X = client.persist(da.from_array(X, chunks=(100, n)))  # three blocks, held by the two workers
    p = problems.logistic_regression(lazy_X, da.from_array(y, chunks=100), lam=1.0)
    result = p.solve("newton", tol=1e-10)
    assert result.success
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)
    assert result.nit == reference.nit
    workers = client.has_what()
    assert len(workers) == 2 and all(keys for keys in workers.values())  # both processes hold blocks


def test_chunked_svmlight_on_a_local_cluster_gives_the_csr_solution(rng, client, tmp_path):
    """svmlight blocks parsed by the worker processes from the file (the graph holds its name and byte
    ranges), products on the sparse blocks there, the in-memory CSR solution on the driver."""
    import scipy.sparse as sp

    X = sp.random_array((150, 5), density=0.5, format="csr", random_state=rng)
    y = (X @ np.arange(1.0, 6.0) > 0).astype(float)
    problems.save_svmlight(tmp_path / "f.svm", X, y)
    reference = problems.logistic_regression(X, y, lam=0.1).solve("newton", tol=1e-10)
    ds = problems.load(tmp_path / "f.svm", chunks=50)
    result = problems.logistic_regression(ds.X, ds.y, lam=0.1).solve("newton", tol=1e-10)
    assert result.success and result.nit == reference.nit
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-9)
