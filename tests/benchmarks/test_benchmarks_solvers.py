"""``ricci bench`` (problems/_bench.py, also benchmarks/solvers.py) through subprocess on a tiny selection: it runs,
writes its markdown, JSON and PNGs, and every method reaches the target on easy cases. No timing assertions:
speed claims live in benchmarks/results."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ricci.problems import _bench

pytest.importorskip("matplotlib")


def _bench_cmd(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "ricci.problems", "bench", *args], capture_output=True, text=True,
                          check=False, timeout=timeout)


def test_quick_tiny_run_writes_tables_plots_and_json(tmp_path):
    out = _bench_cmd("--quick", "--families", "logistic", "mgh", "--only", "breast", "rosenbrock", "beale",
                     "--skip", "jax", "--out-dir", str(tmp_path))
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
    assert doc["environment"]["versions"]["numpy"]
    assert doc["mgh"]["count"] == 3 and not doc["mgh"]["unsolved"]
    for png in ("logistic", "mgh", "mgh-profile"):
        path = md[0].with_name(md[0].stem + f"-{png}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_script_in_checkout_has_the_same_options():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "solvers.py"
    if not script.exists():
        pytest.skip("not a checkout")
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=False,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--quick" in out.stdout and "--backend" in out.stdout


def test_bad_arguments_are_one_line_errors(tmp_path):
    out = _bench_cmd("--only", "no-such-case", "--families", "mgh", "--out-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().startswith("ricci: error:") and "no-such-case" in out.stderr


def test_performance_profile_of_a_known_table():
    # two problems, two solvers: A fastest on p1, B twice slower there; B alone solves p2
    case = [_bench.Case("mgh", name, None) for name in ("p1", "p2")]

    def result(c, times):
        r = _bench.CaseResult(c, 2, 1e-8, 1.0)
        for key, t in times.items():
            r.runs[key] = [{"time_to_target": t, "wall": t or 1.0, "trace": {}}]
        return r
    res = [result(case[0], {"newton": 1.0, "scipy-trust-exact": 2.0}),
           result(case[1], {"newton": None, "scipy-trust-exact": 3.0})]
    prof = _bench.performance_profile(res)
    tau, rho = prof["profile"]["tau"], prof["profile"]["rho"]
    assert tau == [1.0, 2.0]
    assert rho["newton"] == [0.5, 0.5] and rho["scipy-trust-exact"] == [0.5, 1.0]
    assert prof["margins"]["newton"] == -0.5
    assert prof["unsolved"] == ["p2"]  # only ricci's methods count for "solved by at least one ricci method"
