"""benchmarks/dask_scale.py and benchmarks/sparse_logistic.py (issue 13, item 4) on tiny sizes: the scripts run
through subprocess, write markdown and JSON, and ricci and the peers reach the same answer of the same objective;
the data generators make what they promise. No timing assertions: speed claims live in benchmarks/results."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")


def _load(benchmarks_dir, name):
    """A benchmark script loaded by path under a private name (it imports the harness that ``bench`` provides)."""
    spec = importlib.util.spec_from_file_location(f"_{name}_under_test", benchmarks_dir / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sparse_bench(bench, benchmarks_dir):
    return _load(benchmarks_dir, "sparse_logistic")


@pytest.fixture(scope="module")
def dask_bench(bench, benchmarks_dir):
    pytest.importorskip("dask.array")
    return _load(benchmarks_dir, "dask_scale")


def _run(benchmarks_dir, script, *argv, timeout=120):
    out = subprocess.run([sys.executable, str(benchmarks_dir / script), *argv], capture_output=True, text=True,
                         check=False, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


# ----------------------------------------------------------------------------------------------------------
# sparse_logistic.py
# ----------------------------------------------------------------------------------------------------------


def test_rcv1_like_has_the_asked_shape_and_structure(sparse_bench):
    X, y, w = sparse_bench.rcv1_like(3000, 800, 30_000, seed=3)
    assert X.format == "csr" and X.shape == (3000, 800)
    assert 0.9 * 30_000 <= X.nnz <= 1.1 * 30_000
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)  # unit rows
    assert (X.data > 0).all()
    df = np.sort(X.getnnz(axis=0))[::-1]
    assert df[0] > 50 * np.median(df)  # heavy-tailed (Zipf) term frequencies
    assert set(np.unique(y)) == {-1.0, 1.0} and 0.35 < (y > 0).mean() < 0.65
    assert np.count_nonzero(w) == 16
    X2, y2, _ = sparse_bench.rcv1_like(3000, 800, 30_000, seed=3)
    assert (X2 != X).nnz == 0 and (y2 == y).all()  # seeded


def test_sparse_quick_run_writes_results_and_the_answers_agree(benchmarks_dir, tmp_path):
    methods = ["ricci-trust-ncg", "ricci-trust-ncg-op", "scipy-lbfgsb", "sklearn-lbfgs", "sklearn-newton-cg",
               "sklearn-liblinear"]
    _run(benchmarks_dir, "sparse_logistic.py", "--quick", "--m", "600", "--n", "300", "--nnz", "6000",
         "--methods", *methods, "--out-dir", str(tmp_path))
    md = tmp_path.glob("sparse_logistic-*-quick.md")
    text = next(md).read_text()
    for heading in ("## Targets (issue 13)", "## Results", "ricci trust-ncg (Objective)", "scikit-learn liblinear",
                    "scipy L-BFGS-B", "machine:", "load (uptime)"):
        assert heading in text, heading
    doc = json.loads(next(tmp_path.glob("sparse_logistic-*-quick.json")).read_text())
    rows = doc["methods"]
    assert set(rows) == set(methods)
    f_ref = rows["ricci-trust-ncg"]["f"]
    for key, r in rows.items():
        assert r["on_target"] and r["grad"] <= doc["gtol"], (key, r["grad"], doc["gtol"])
        # every peer minimized ricci's f: the same value, and the hand-written NumPy objective agrees
        assert abs(r["f"] - f_ref) <= 1e-9 * abs(f_ref), key
        assert abs(r["f_hand"] - r["f"]) <= 1e-12 * abs(r["f"]), key
        assert r["dx"] is not None and r["dx"] < 1e-3, (key, r["dx"])
    assert rows["ricci-trust-ncg-op"]["dx"] < 1e-10  # the same iterates through the Hessian operator
    assert set(doc["hessian_vector_product_s"]) == {"Objective.hessp", "hess_operator(x).matvec"}


def test_sparse_bad_arguments_are_usage_errors(benchmarks_dir):
    out = subprocess.run([sys.executable, str(benchmarks_dir / "sparse_logistic.py"), "--repeat", "0"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 2 and "--repeat and --threads must be >= 1" in out.stderr


# ----------------------------------------------------------------------------------------------------------
# dask_scale.py
# ----------------------------------------------------------------------------------------------------------


def test_dask_blocks_are_seeded_and_the_file_holds_them(dask_bench, tmp_path):
    logs = []
    path, _, reused = dask_bench.ensure_data(tmp_path, 2500, 1000, 7, logs.append)
    assert not reused and path.exists()
    on_disk = np.load(path)
    np.testing.assert_array_equal(on_disk, dask_bench.table_rows(7, 2500, 1000))
    np.testing.assert_array_equal(on_disk[1000:2000], dask_bench.block(7, 1, 1000))
    assert set(np.unique(on_disk[:, -1])) == {0.0, 1.0}
    assert dask_bench.ensure_data(tmp_path, 2500, 1000, 7, logs.append)[2]  # the second call reuses the file


def test_dask_quick_run_writes_results_and_matches_numpy(benchmarks_dir, tmp_path):
    pytest.importorskip("dask_ml")  # the peer (bench extra); without it the peer row has no result to compare
    _run(benchmarks_dir, "dask_scale.py", "--quick", "--rows", "20000", "--chunk", "5000", "--gen-rows", "10000",
         "--agree-rows", "10000", "--skip", "dask-ml-lbfgs", "dask-ml-admm", "--scale-workers", "1",
         "--scale-rows", "5000", "--data-dir", str(tmp_path / "data"), "--out-dir", str(tmp_path), timeout=600)
    text = next(tmp_path.glob("dask_scale-*-quick.md")).read_text()
    for heading in ("## Targets (issue 13)", "## Solvers", "## Agreement with an in-memory NumPy solve",
                    "## Weak scaling on a distributed.LocalCluster", "ricci newton", "dask-ml newton"):
        assert heading in text, heading
    doc = json.loads(next(tmp_path.glob("dask_scale-*-quick.json")).read_text())
    ricci, peer = doc["solvers"]["ricci-newton"], doc["solvers"]["dask-ml-newton"]
    assert ricci["on_target"] and peer["on_target"]
    np.testing.assert_allclose(peer["x"], ricci["x"], rtol=1e-6, atol=1e-8)  # the same objective (lam = 0)
    assert abs(peer["f"] - ricci["f"]) <= 1e-10 * abs(ricci["f"])
    assert ricci["computes"] <= 3 * (ricci["nit"] + 1) and ricci["blocks"] == 4
    assert doc["agreement"]["rel_diff"] <= 1e-8
    (one,) = doc["scaling"]
    assert one["workers"] == 1 and one["on_target"]
    assert not list((tmp_path / "data").glob("*.npy"))  # the generated file is removed without --keep-data
