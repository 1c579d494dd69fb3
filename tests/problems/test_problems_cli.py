"""The ``ricci`` command through subprocess (``python -m ricci.problems``), and its error paths in process."""
import json
import subprocess
import sys

import numpy as np
import pytest
import ricci.symbolic as rs
from ricci import problems
from ricci.problems import _cli

needs_parser = pytest.mark.skipif(not hasattr(rs, "parse"), reason="parser lands with the matrix-language issue")


def _ricci(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "ricci.problems", *args], capture_output=True, text=True, check=False,
                          timeout=timeout)


def test_main_job_compares_three_methods():
    out = _ricci()  # no arguments: ricci solve logistic-regression
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "breast-cancer" in lines[0]
    rows = {ln.split()[0]: ln.split() for ln in lines if ln.split() and ln.split()[0] in ("newton", "trust-exact", "lbfgs")}
    assert set(rows) == {"newton", "trust-exact", "lbfgs"}
    fvals = [float(r[2]) for r in rows.values()]
    assert max(fvals) - min(fvals) < 1e-6
    assert int(rows["newton"][1]) < int(rows["lbfgs"][1])  # exact Hessian: far fewer iterations
    assert all(r[-1] == "converged" for r in rows.values())
    assert out.stderr == ""


def test_plot_and_json(tmp_path):
    png, js = tmp_path / "conv.png", tmp_path / "runs.json"
    out = _ricci("solve", "rosenbrock", "--compare", "newton,trust-ncg,lm", "--plot", str(png), "--json", str(js),
                 "--progress", "always")
    assert out.returncode == 0, out.stderr
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(js.read_text())
    assert doc["problem"] == "rosenbrock" and doc["known_minimum"] == 0.0
    assert [r["method"] for r in doc["runs"]] == ["newton", "trust-ncg", "lm"]
    for r in doc["runs"]:
        assert r["success"] and r["fun"] < 1e-12
        tr = r["trace"]
        assert len(tr["time"]) == len(tr["fun"]) == len(tr["grad_norm"]) == len(tr["iteration"]) >= 2
        assert tr["iteration"][0] == 0 and tr["time"] == sorted(tr["time"])
    assert "iter" in out.stderr and "|grad|_inf" in out.stderr  # live progress lines


def test_tol_bounds_the_gradient_norm_for_every_method(tmp_path):
    """--tol is |grad f|_inf <= TOL for lm and gauss-newton as for newton (on a problem whose f is 1/2 ||r||^2
    plus a penalty): a loose and a tight TOL are both met, and the loose one stops every method earlier."""
    runs = {}
    for tol in (1e-3, 1e-10):
        js = tmp_path / f"runs-{tol:g}.json"
        assert _cli.main(["solve", "matrix-factorization", "--compare", "lm,gauss-newton,newton", "--tol", str(tol),
                          "--json", str(js), "--progress", "never"]) == 0
        runs[tol] = {r["method"]: r for r in json.loads(js.read_text())["runs"]}
        assert list(runs[tol]) == ["lm", "gauss-newton", "newton"]
        for r in runs[tol].values():
            assert r["success"] and r["grad_norm"] <= tol, (tol, r["method"], r["grad_norm"], r["message"])
    for method in ("lm", "gauss-newton", "newton"):
        assert runs[1e-3][method]["iterations"] < runs[1e-10][method]["iterations"], method


def test_bench_outside_a_checkout_says_how_to_get_it(monkeypatch, capsys):
    from ricci.problems import _bench

    monkeypatch.setattr(_bench, "benchmark_script", lambda: None)
    with pytest.raises(SystemExit) as exc:
        _cli.main(["bench", "--quick"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ricci: error: ricci bench runs benchmarks/solvers.py of a source checkout")
    assert "python benchmarks/solvers.py" in err and err.count("\n") == 1


def test_problems_listing():
    out = _ricci("problems", "--family", "logistic")
    assert out.returncode == 0, out.stderr
    assert "logistic-regression " in out.stdout and "2 problems" in out.stdout


def test_data_file(tmp_path):
    X, y = problems.synthetic.classification(60, 3, seed=3)
    lines = ["a,b,c,label"] + [",".join(f"{v:.17g}" for v in row) + f",{int(t)}" for row, t in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines))
    out = _ricci("solve", "logistic-regression", "--data", str(tmp_path / "d.csv"), "--label", "label",
                 "--param", "lam=0.5", "--method", "trust-exact")
    assert out.returncode == 0, out.stderr
    assert "m = 60, n = 3, lam = 0.5" in out.stdout and "converged" in out.stdout


@needs_parser
def test_expr_with_data_files(tmp_path):
    X, y01 = problems.synthetic.classification(50, 4, seed=4)
    y = 2 * y01 - 1
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    js = tmp_path / "e.json"
    out = _ricci("solve", "--expr", "sum(log(1+exp(-y.*(X*w)))) + 0.5*lam*w'*w", "--data", f"X={tmp_path / 'X.npy'}",
                 "--data", f"y={tmp_path / 'y.npy'}", "--param", "lam=0.01", "--wrt", "w", "--json", str(js))
    assert out.returncode == 0, out.stderr
    doc = json.loads(js.read_text())
    ref = problems.logistic_regression(X, y, lam=0.01, intercept=False).solve("newton", tol=1e-10)
    for r in doc["runs"]:
        assert r["fun"] == pytest.approx(ref.fun, rel=1e-9)


def test_error_exits_2_with_one_line():
    out = _ricci("solve", "no-such-problem")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("ricci: error: unknown problem")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("argv, match", [
    (["solve"], "give a problem NAME"),
    (["solve", "rosenbrock", "--method", "bfgs"], "unknown method 'bfgs'"),
    (["solve", "logistic-regression", "--method", "lm"], "no residual"),
    (["solve", "rosenbrock", "--method", "newton", "--compare", "lm"], "not both"),
    (["solve", "rosenbrock", "--data", "x.csv"], "takes no data file"),
    (["solve", "rosenbrock", "--param", "n=3"], "no parameter 'n'"),
    (["solve", "rosenbrock", "--param", "n"], "NAME=VALUE"),
    (["solve", "rosenbrock", "--tol", "-1"], "--tol must be > 0"),
    (["solve", "logistic-regression", "--data", "/nonexistent/d.csv"], "no such data file"),
    (["solve", "rosenbrock", "--backend", "cupy"], "no data arrays|CuPy"),
    (["solve", "rosenbrock", "--bogus"], "unrecognized arguments: --bogus"),
    (["solve", "--expr", "x'*x"], "--wrt|parser"),
    (["frobnicate"], "invalid choice"),
])
def test_error_paths(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ricci: error: ") and err.count("\n") == 1
    import re

    assert re.search(match, err), err


def test_broken_data_file_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b\n1,0\n2\n")
    with pytest.raises(SystemExit) as exc:
        _cli.main(["solve", "logistic-regression", "--data", str(tmp_path / "bad.csv")])
    assert exc.value.code == 2
    assert "ragged" in capsys.readouterr().err


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.main(["solve", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "ricci solve logistic-regression" in text and "--expr" in text


def test_in_process_solve_and_registration(tmp_path, capsys):
    assert _cli.main(["solve", "extended-rosenbrock", "--param", "n=4", "--compare", "trust-exact,lm",
                      "--maxiter", "200", "--progress", "never"]) == 0
    out = capsys.readouterr().out
    assert "trust-exact" in out and "lm" in out and "known minimum" in out
    parser = _cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"solve", "problems", "bench"} <= set(sub.choices)
