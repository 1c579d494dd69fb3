"""The solver benchmark (benchmarks/solvers.py, also ``ricci bench``) on a tiny selection, through subprocess: it
runs, writes its markdown, JSON and PNGs, and every method reaches the target on easy cases. No timing
assertions: speed claims live in benchmarks/results."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")


def _script(benchmarks_dir, *args, timeout=120):
    return subprocess.run([sys.executable, str(benchmarks_dir / "solvers.py"), *args], capture_output=True,
                          text=True, check=False, timeout=timeout)


def test_quick_tiny_run_writes_tables_plots_and_json(benchmarks_dir, tmp_path):
    out = _script(benchmarks_dir, "--quick", "--families", "logistic", "mgh", "--only", "breast", "rosenbrock",
                  "beale", "--skip", "jax", "--out-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    md = sorted(tmp_path.glob("solvers-*-quick.md"))
    js = sorted(tmp_path.glob("solvers-*-quick.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    for heading in ("## Logistic regression", "## More-Garbow-Hillstrom test set", "ricci newton", "scipy L-BFGS-B",
                    "machine:", "numpy"):
        assert heading in text
    doc = json.loads(js[0].read_text())
    assert {c["case"] for c in doc["cases"]} == {"logistic breast-cancer 569x30", "rosenbrock", "extended-rosenbrock",
                                              "beale"}
    for case in doc["cases"]:
        for key in ("newton", "trust-exact", "lbfgs", "scipy-trust-exact"):
            assert case["methods"][key]["time_to_target"] is not None, (case["case"], key)
        if case["case"] != "logistic breast-cancer 569x30":  # sums of squares: lm meets the same target
            assert case["methods"]["lm"]["time_to_target"] is not None, case["case"]
    assert doc["environment"]["versions"]["numpy"]
    assert doc["mgh"]["count"] == 3 and not doc["mgh"]["unsolved"]
    for png in ("logistic", "mgh", "mgh-profile"):
        path = md[0].with_name(md[0].stem + f"-{png}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ricci_bench_runs_the_script_of_the_checkout(benchmarks_dir):
    out = subprocess.run([sys.executable, "-m", "ricci.problems", "bench", "--help"], capture_output=True,
                         text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "benchmarks/solvers.py" in out.stdout and "--quick" in out.stdout and "--backend" in out.stdout


def test_bad_arguments_are_usage_errors(benchmarks_dir, tmp_path):
    out = _script(benchmarks_dir, "--only", "no-such-case", "--families", "mgh", "--out-dir", str(tmp_path))
    assert out.returncode == 2
    assert "error:" in out.stderr and "no-such-case" in out.stderr and "Traceback" not in out.stderr


def test_performance_profile_of_a_known_table(bench):
    # two problems, two solvers: A fastest on p1, B twice slower there; B alone solves p2
    case = [bench.harness.Case("mgh", name, None) for name in ("p1", "p2")]

    def result(c, times):
        r = bench.harness.CaseResult(c, 2, 1e-8, 1.0)
        for key, t in times.items():
            r.runs[key] = [{"time_to_target": t, "wall": t or 1.0, "trace": {}}]
        return r
    res = [result(case[0], {"newton": 1.0, "scipy-trust-exact": 2.0}),
           result(case[1], {"newton": None, "scipy-trust-exact": 3.0})]
    prof = bench.report.performance_profile(res)
    tau, rho = prof["profile"]["tau"], prof["profile"]["rho"]
    assert tau == [1.0, 2.0]
    assert rho["newton"] == [0.5, 0.5] and rho["scipy-trust-exact"] == [0.5, 1.0]
    assert prof["margins"]["newton"] == -0.5
    assert prof["unsolved"] == ["p2"]  # only ricci's methods count for "solved by at least one ricci method"


def test_peers_write_the_logistic_loss_as_ricci_does(bench):
    """The autodiff peers' logistic loss (NumPy ops here) is ricci.problems.logistic_regression's objective."""
    import numpy as np
    from ricci import problems

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.choice([-1.0, 1.0], size=20)
    x = rng.standard_normal(4)
    ops = bench.peers.SimpleNamespace(sum=np.sum, softplus=lambda z: np.logaddexp(0.0, z))
    ours = problems.logistic_regression(X, y, lam=0.3).objective.fun(x)
    assert bench.peers.logistic_loss(x[:3], X, y, 0.3, x[3], ops=ops) == pytest.approx(ours, rel=1e-13)
