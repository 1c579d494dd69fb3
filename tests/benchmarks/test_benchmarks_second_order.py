"""benchmarks/second_order.py (issue 11's second-order benchmark) on its smallest case, through subprocess: it
runs, writes markdown, JSON and PNGs, the methods meet the target on an easy factorization, and the torch
objective is the ricci objective. No timing assertions: speed claims live in benchmarks/results."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def cases(benchmarks_dir):
    """benchmarks/_second_order_cases.py, loaded by path under a private name (removed afterwards)."""
    name = "_second_order_cases_under_test"
    spec = importlib.util.spec_from_file_location(name, benchmarks_dir / "_second_order_cases.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("with_torch", [True, False])
def test_quick_smallest_case_writes_tables_plots_and_json(benchmarks_dir, tmp_path, with_torch):
    if with_torch:
        pytest.importorskip("torch")
    peers = ["torch-lbfgs", "--adam-lrs", "0.03"] if with_torch else ["--skip-torch"]
    out = subprocess.run(
        [sys.executable, str(benchmarks_dir / "second_order.py"), "--quick", "--cases", "mf-small", "--starts", "1",
         "--time-limit", "3", "--methods", "newton", "lm", "scipy-lbfgsb", *peers,
         "--out", str(tmp_path)], capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    md = sorted(tmp_path.glob("second_order-*-quick.md"))
    js = sorted(tmp_path.glob("second_order-*-quick.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    torch_rows = ("torch L-BFGS", "torch Adam, best lr = 0.03") if with_torch else ()
    for heading in ("## Targets (issue 11)", "ricci newton", "ricci lm", "scipy L-BFGS-B", *torch_rows,
                    "machine:", "no method runs out of memory"):
        assert heading in text, heading
    doc = json.loads(js[0].read_text())
    (case,) = doc["cases"]
    assert case["key"] == "mf-small" and case["starts"] == 1
    assert set(case["methods"]) == {"newton", "lm", "scipy-lbfgsb"} | ({"torch-lbfgs"} if with_torch else set())
    for key in ("newton", "lm", "scipy-lbfgsb"):
        m = case["methods"][key]
        assert [r["status"] for r in m["runs"]] == ["ok"], (key, m["runs"][0]["status"])
        for r in m["runs"]:  # each run stopped at the gradient target, at the best value
            assert r["grad"] <= r["gtol"] * 1.0000001 and r["f"] <= case["f_best"] * (1 + 1e-6)
        assert m["time_to_target"] is not None and m["success"] == 1.0
    if with_torch:
        assert list(case["adam"]) == ["0.03"]
    png = tmp_path / (md[0].stem + "-mf-small.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_usage_errors(benchmarks_dir, tmp_path):
    out = subprocess.run([sys.executable, str(benchmarks_dir / "second_order.py"), "--starts", "0", "--out",
                          str(tmp_path)], capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 2
    assert "--starts must be at least 1" in out.stderr and "Traceback" not in out.stderr


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=st.integers(5, 40), items=st.integers(20, 60), per_user=st.integers(1, 4), extra=st.integers(0, 200),
       seed=st.integers(0, 2 ** 16))
def test_movielens_mask_has_the_asked_counts(cases, users, items, per_user, extra, seed):
    ratings = min(users * per_user + extra, users * (items // 2))
    mask = cases.movielens_mask(users, items, ratings, min_per_user=per_user, seed=seed)
    assert mask.shape == (users, items) and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask.sum() == ratings
    assert mask.sum(axis=1).min() >= per_user and mask.sum(axis=1).max() <= items // 2
    np.testing.assert_array_equal(mask, cases.movielens_mask(users, items, ratings, min_per_user=per_user, seed=seed))


def test_movielens_mask_refuses_impossible_counts(cases):
    with pytest.raises(ValueError, match="min_per_user"):
        cases.movielens_mask(10, 10, 5, min_per_user=1)


def test_torch_objectives_equal_ricci_objectives(cases):
    """The softmax MLP (built in the benchmark with ricci.symbolic), an MLP and a factorization: the torch f and
    gradient equal ricci's (check_torch), and ricci's gradient of the softmax MLP matches finite differences."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4))
    Y = np.eye(3)[rng.integers(0, 3, 20)]
    p = cases.softmax_mlp(X, Y, hidden=5, lam=0.1)
    built = [cases.Built(p, cases._mlp_torch(p, "softmax"), 0.0), cases.factorization(8, 6, 2, missing=0.3),
             cases.synthetic_two_layer(16, 3, (4, 3))]
    for b in built:
        assert cases.check_torch(b.problem, b.torch_objective.function(torch), torch) is None, b.problem.name
    x = np.array(p.x0) + 0.3 * rng.standard_normal(p.n)
    g = np.asarray(p.objective.jac(x))
    h = 1e-6
    fd = np.array([(p.objective.fun(x + h * e) - p.objective.fun(x - h * e)) / (2 * h) for e in np.eye(p.n)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
    # the objective is the cross-entropy of softmax(H W2 + b2) plus the penalty, written out in NumPy
    parts = p.objective.unpack(x)
    W1, b1, W2, b2 = (np.asarray(parts[k]) for k in ("W1", "b1", "W2", "b2"))
    O = np.tanh(X @ W1 + b1) @ W2 + b2
    lse = np.log(np.exp(O - O.max(1, keepdims=True)).sum(1)) + O.max(1)
    expected = (lse - (Y * O).sum(1)).sum() + 0.05 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    assert float(p.objective.fun(x)) == pytest.approx(expected, rel=1e-12)
