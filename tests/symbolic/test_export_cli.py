"""Code export (run in a subprocess, its self-check passing) and the `ricci diff` command line."""

import os
import subprocess
import sys

import numpy as np
import pytest

import ricci.symbolic as rs

CLI = [sys.executable, "-c", "import sys; from ricci.problems._cli import main; sys.exit(main())"]


def ricci(*args, timeout=120):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "error"})


@pytest.mark.parametrize("text,shapes,order", [
    ("x'*A*x", {}, 2),
    ("sum(log(exp(-y.*(X*w)) + vector(1)))", {}, 2),
    ("log(det(X))", {}, 2),
    ("norm2(X - U*V')^2", {}, 2),
    ("sum(tanh(W*x + b))", {"b": "m"}, 3),
])
def test_exported_module_runs_standalone_and_checks_itself(text, shapes, order, tmp_path):
    f = rs.parse(text, **shapes)
    source = rs.export(f, order=order, name="objective")
    path = tmp_path / "exported.py"
    path.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK" in run.stdout and "relative error" in run.stdout
    assert "ricci" not in source.split('"""', 2)[2].replace("ricci)", "")  # no import of ricci


def test_exported_function_matches_compiled(tmp_path, rng):
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "n", "n")
    f = x @ A @ x + rs.sum(rs.exp(x))
    ns = {}
    exec(compile(rs.export(f, wrt=[x], order=2, name="q"), "exported", "exec"), ns)
    xv, Av = rng.normal(size=4), rng.normal(size=(4, 4))
    out = ns["q"](x=xv, A=Av)
    assert set(out) == {"value", "d_x", "d2_x"}
    np.testing.assert_allclose(out["d2_x"], Av + Av.T + np.diag(np.exp(xv)))
    with pytest.raises(ValueError, match=r"x: expected shape \(n,\) = \(3,\) \(n = 3 from A\), got \(4,\)"):
        ns["q"](x=xv, A=np.ones((3, 3)))  # the compiled function's binding and its message


def test_export_of_a_list_and_errors():
    x = rs.Vector("x", "n")
    text = rs.export([x @ x, 2 * x])
    assert "OUTPUTS = ['out0', 'out1']" in text
    with pytest.raises(ValueError, match="identifier"):
        rs.export(x @ x, name="not ok")
    with pytest.raises(ValueError, match="order"):
        rs.export(x @ x, order=-1)


def test_cli_diff_prints_matrix_notation():
    run = ricci("diff", "x'*A*x", "--wrt", "x", "--hessian")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["f = x'*A*x", "df/dx = A*x + A'*x", "d2f/dx2 = A + A'"]


def test_cli_diff_without_wrt_differentiates_every_variable():
    run = ricci("diff", "x'*A*x")
    assert "df/dx = " in run.stdout and "df/dA = x*x'" in run.stdout


def test_cli_diff_index_notation_latex_hvp_and_check():
    run = ricci("diff", "norm2(X - U*V')^2", "--wrt", "U", "--hessian")
    assert "D[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]" in run.stdout
    run = ricci("diff", "log(det(X))", "--latex")
    assert r"\left(X^{-1}\right)^\top" in run.stdout
    run = ricci("diff", "x'*A*x", "--wrt", "x", "--hvp")
    assert "H_x v = " in run.stdout and run.returncode == 0
    run = ricci("diff", "sum(log(exp(-y.*(X*w)) + vector(1)))", "--wrt", "w", "--hessian", "--check")
    assert run.returncode == 0 and "OK" in run.stdout and "X'*diag(" in run.stdout


def test_cli_diff_export_writes_a_module(tmp_path):
    run = ricci("diff", "tr(A*X*B)", "--wrt", "X", "--export")
    assert run.returncode == 0
    path = tmp_path / "m.py"
    path.write_text(run.stdout)
    assert subprocess.run([sys.executable, str(path)], capture_output=True, timeout=120).returncode == 0


@pytest.mark.parametrize("args,message", [
    (["diff", "x'*A*"], "cannot parse the expression: expected a number, a name or '\\(', found the end"),
    (["diff", "foo(x)"], "unknown function 'foo'"),
    (["diff", "x'*A*x", "--wrt", "z"], "no variable named 'z'"),
    (["diff", "A*x", "--hessian"], "needs a scalar expression"),
    (["diff", "x'*x", "--shape", "x"], "--shape expects NAME=DIMS"),
    (["diff", "x'*x", "--order", "0"], "--order must be at least 1"),
    (["diff"], "required: expr"),
])
def test_cli_diff_errors_exit_2_with_one_line(args, message):
    run = ricci(*args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ricci: error:"), run.stderr
    assert __import__("re").search(message, lines[0]), lines[0]


def test_cli_help_shows_examples():
    run = ricci("diff", "--help")
    assert run.returncode == 0 and "examples:" in run.stdout and "--hessian" in run.stdout
