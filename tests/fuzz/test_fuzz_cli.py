"""Garbage argument vectors into every ``ricci`` subcommand (solve, problems, diff, bench), in process through
``ricci.problems._cli.main(argv)``.

Each property: the command ends with exit status 0 (a valid command) or 2 (a user error); an error is one line
``ricci: error: ...`` on stderr, never a traceback (issue "Reliability and security", items 9, 12 and 13:
``--tol inf`` reported "converged", ``--param lam=nan`` printed a format error, ``--param n=-----...`` made
``ast.literal_eval`` recurse, broken ``--data`` files ended in tracebacks, ``--expr -sum(x)`` was taken for an
option).
"""

import contextlib
import io
import itertools
import subprocess

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from ricci.problems import _bench, _cli

FUZZ = settings.get_profile("ricci-fuzz")
# A command does real work (listing builds every problem, a solve compiles one): on a loaded 2-core CI machine
# one example took over the profile's 2 s (`ricci problems`), so the CLI properties allow 20 s an example;
# a hang or a blow-up still fails.
CLI_FUZZ = settings(FUZZ, deadline=None if FUZZ.deadline is None else 20_000)
_counter = itertools.count()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Data files, good and malformed, for --data."""
    d = tmp_path_factory.mktemp("fuzz_cli")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(float)
    np.savetxt(d / "good.csv", np.column_stack([X, y]), delimiter=",")
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    np.save(d / "complex.npy", X + 1j)
    (d / "empty.npy").write_bytes(b"")
    (d / "empty.npz").write_bytes(b"")
    (d / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    (d / "huge.svm").write_text("1 99999999999:1\n0 1:2\n")
    (d / "long.csv").write_text("a,b\n" + "1" * 200_000 + ",2\n")
    (d / "text.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"v\x00{'descr': '<U3', 'fortran_order': False, "
                                 b"'shape': (2,), }" + b" " * 58 + b"\n" + b"a\x00\x00\x00" * 6)
    return d


def run_cli(argv):
    """``(exit status, stdout, stderr)`` of ``ricci ARGV`` run in process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = _cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check_cli(argv, valid_codes=(0, 2), *, in_hypothesis=True):
    code, out, err = run_cli(argv)
    if in_hypothesis:  # what the exits were, for --hypothesis-show-statistics
        event(f"exit status {code}" + (f": {err[14:40]}" if code == 2 else ""))
    assert code in valid_codes, (argv, code, err[-500:])
    assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
    if code == 2 and err:
        assert err.startswith("ricci: error: ") and err.count("\n") == 1, (argv, err[-2000:])
    return code, out, err


TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "-", "--", "---", "-" * 5000, "(" * 300, "nan", "inf", "-inf", "1e999", "-1", "0", "1e-3",
                     "8,4", "(8,)", "[1,2]", "٣", "²", "1\u00b2", "x=٣", "\x00", "a\nb", "'", '"', "\\", "true",
                     "None", "__import__('os').system('true')", "n=" + "-" * 5000, "9" * 40]),
)
PROBLEMS = st.sampled_from(["rosenbrock", "extended-rosenbrock", "logistic-regression", "mlp", "matrix-factorization",
                            "softmax-regression", "beale", "no-such-problem", "", "-rosenbrock"])
PARAMS = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["lam", "n", "hidden", "rank", "seed", "m", "classes", "cond",
                                                         "activation", "loss", "intercept", "X", "λ", "1x", ""]),
              st.one_of(TEXT, st.integers(-5, 12).map(str), st.floats(allow_nan=True).map(repr))),
    TEXT,
)


def _solve_tokens(files):
    data = st.sampled_from([str(files / n) for n in ("good.csv", "X.npy", "complex.npy", "empty.npy", "empty.npz",
                                                   "broken.npz", "huge.svm", "long.csv", "text.npy", "missing.csv")]
                           + [f"X={files / 'X.npy'}", f"y={files / 'y.npy'}", f"X={files / 'complex.npy'}",
                              f"X={files / 'empty.npy'}", f"X={files / 'huge.svm'}", f"X={files / 'text.npy'}",
                              "X=", "=x", str(files)])
    option = st.one_of(
        st.tuples(st.just("--param"), PARAMS),
        st.tuples(st.just("--data"), data),
        st.tuples(st.just("--data"), data),  # twice the weight: every malformed file must end in one line
        st.tuples(st.sampled_from(["--tol", "--maxiter", "--label", "--wrt", "--method", "--compare", "--backend",
                                   "--progress", "--expr"]), TEXT),
        st.tuples(st.just("--method"), st.sampled_from(["newton", "trust-exact", "lm", "lbfgs", "dogleg", "bfgs"])),
        st.tuples(st.just("--expr"), st.sampled_from(["-sum(X*w)", "sum(X*w)", "x'*x", "-(", "w'*w - sum(y)",
                                                      "log(det(X))", "sum(" * 70 + "w" + ")" * 70])),
        st.tuples(st.sampled_from(["--tol", "--maxiter"]), st.sampled_from(["inf", "nan", "-1", "0", "1e-300",
                                                                            "1e308", "3", "1.5"])),
        st.tuples(TEXT),
    )
    return st.lists(option, max_size=5).map(lambda opts: [t for o in opts for t in o])


@settings(CLI_FUZZ)
@given(data=st.data())
def test_solve_garbage(files, data):
    argv = ["solve"]
    if data.draw(st.integers(0, 3)):  # mostly a problem name, so that the options get checked
        argv.append(data.draw(PROBLEMS))
    argv += data.draw(_solve_tokens(files))
    # whatever came before, a command that does get to solve stays short: few iterations, no live progress
    argv += ["--maxiter", "3", "--progress", "never"]
    if data.draw(st.booleans()):
        argv += ["--json", str(files / f"runs{next(_counter)}.json")]
    check_cli(argv)


@settings(CLI_FUZZ, max_examples=FUZZ.max_examples // 2)
@given(argv=st.lists(st.one_of(TEXT, st.sampled_from(["--family", "mgh", "logistic", "-h", "--bogus"])), max_size=4))
def test_problems_garbage(argv):
    code, out, _err = check_cli(["problems", *argv])
    if code == 0 and "-h" not in argv and "--help" not in argv:
        assert "problems; `ricci solve NAME` solves one" in out


EXPRESSIONS = st.one_of(
    TEXT,
    st.sampled_from(["x'*A*x", "sum(log(exp(-y.*(X*w)) + vector(1)))", "tr(A*X*B)", "log(det(X))", "x", "-x'*x",
                     "norm2(X - U*V')^2", "x'*", "((x)", "sum(" * 80 + "x" + ")" * 80, "x .^ 1e999", "inv(x)",
                     "det(x)", "1/0", "a*" * 200 + "a"]),
)


@settings(CLI_FUZZ, max_examples=FUZZ.max_examples * 2 // 3)
@given(expr=EXPRESSIONS, options=st.lists(st.one_of(
    st.tuples(st.sampled_from(["--wrt", "--shape", "--order"]), TEXT),
    st.tuples(st.just("--shape"), st.sampled_from(["A=n,n", "x=n", "c=", "x=٣", "x=²", "x=3", "A=2,3", "=n", "x"])),
    st.tuples(st.just("--order"), st.sampled_from(["0", "1", "2", "3", "-1", "99999", "1e3"])),
    st.tuples(st.sampled_from(["--hessian", "--hvp", "--latex", "--export", "-h", "--bogus"])),
), max_size=3))
def test_diff_garbage(expr, options):
    check_cli(["diff", expr, *[t for o in options for t in o]])


@settings(CLI_FUZZ, max_examples=FUZZ.max_examples // 2)
@given(argv=st.lists(TEXT, max_size=5))
def test_bench_passes_every_argument_through(monkeypatch_module, argv):
    """``ricci bench ARGS`` runs ``benchmarks/solvers.py ARGS`` of the checkout (patched here: the benchmark
    itself is not run): every argument, options and garbage alike, reaches it unchanged, and its exit status
    is the command's."""
    calls = []
    monkeypatch_module.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    code, _, _ = check_cli(["bench", *argv])
    if _bench.benchmark_script() is not None:
        assert code == 0 and calls[-1][2:] == list(argv)


def test_bench_outside_a_checkout_is_one_line(monkeypatch):
    monkeypatch.setattr(_bench, "benchmark_script", lambda: None)
    code, _, err = check_cli(["bench", "--quick"], in_hypothesis=False)
    assert code == 2 and "source checkout" in err


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@settings(CLI_FUZZ, max_examples=FUZZ.max_examples // 2)
@given(argv=st.lists(TEXT, max_size=4))
def test_top_level_garbage(argv):
    if argv and argv[0] in ("bench",):
        return
    check_cli(argv)


@pytest.mark.parametrize("argv", [
    ["solve", "rosenbrock", "--tol", "inf"], ["solve", "rosenbrock", "--tol", "nan"],
    ["solve", "logistic-regression", "--param", "lam=nan"],
    ["solve", "extended-rosenbrock", "--param", "n=" + "-" * 5000],
    ["solve", "extended-rosenbrock", "--param", "n=1000000000000", "--maxiter", "2"],
    ["solve", "--expr", "sum(" * 5000 + "x" + ")" * 5000, "--wrt", "x"],
])
def test_known_bad_commands_exit_2(argv):
    _code, out, _ = check_cli(argv, valid_codes=(2,), in_hypothesis=False)
    assert "converged" not in out
