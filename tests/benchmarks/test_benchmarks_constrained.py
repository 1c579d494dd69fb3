"""benchmarks/constrained.py (issue 12's constrained benchmark) on a tiny selection, through subprocess: it runs,
writes markdown, JSON and PNGs with the rows of every group; and its pieces: the CasADi translation of the
Hock-Schittkowski text equals ricci's problem, refuses what is not arithmetic, and the measures (violation,
projected gradient) are what they claim. No timing assertions: speed claims live in benchmarks/results."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from ricci import problems

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def cases(bench, benchmarks_dir):
    """benchmarks/_constrained_cases.py and constrained.py, loaded by path under their names (removed after)."""
    loaded = {}
    try:
        for name in ("_constrained_cases", "constrained"):
            spec = importlib.util.spec_from_file_location(name, benchmarks_dir / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses look their module up here
            spec.loader.exec_module(module)
            loaded[name] = module
        yield loaded["_constrained_cases"], loaded["constrained"]
    finally:
        for name in ("_constrained_cases", "constrained"):
            sys.modules.pop(name, None)


def _ricci_constrained():
    import inspect

    from ricci.solvers import minimize

    return "bounds" in inspect.signature(minimize).parameters


def test_quick_tiny_run_writes_tables_plots_and_json(benchmarks_dir, tmp_path):
    out = subprocess.run(
        [sys.executable, str(benchmarks_dir / "constrained.py"), "--quick", "--cases", "hs71", "nnls-bounds", "portfolio",
         "--methods", "ricci", "slsqp", "lbfgsb", "ipopt", "cvxpy", "--time-limit", "20", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    md = sorted(tmp_path.glob("constrained-*-quick.md"))
    js = sorted(tmp_path.glob("constrained-*-quick.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    peers = {"ipopt": importlib.util.find_spec("casadi"), "cvxpy": importlib.util.find_spec("cvxpy"),
             "ricci": _ricci_constrained()}
    rows = ["## Targets (issue 12)", "## Hock-Schittkowski problems", "## Bound-constrained problems",
            "## Convex constrained problems", "| hs71 |", "| NNLS 300x40, s in [1e-3, 1] | scipy L-BFGS-B",
            "| portfolio 50 assets | scipy SLSQP", "machine:", "command:"]
    rows += ["IPOPT (CasADi)"] * bool(peers["ipopt"]) + ["| portfolio 50 assets | CVXPY"] * bool(peers["cvxpy"])
    rows += ["| NNLS 300x40, s in [1e-3, 1] | ricci", "HS: ricci solves every problem"] * bool(peers["ricci"])
    for row in rows:
        assert row in text, row
    doc = json.loads(js[0].read_text())
    got = {c["key"]: c for c in doc["cases"]}
    assert set(got) == {"hs71", "nnls-bounds", "portfolio"}
    assert got["hs71"]["methods"]["slsqp"]["solved"] and "hs71" in doc["hs_solved"]["slsqp"]  # from the published x0
    if peers["ricci"]:  # ricci's Newton steps are counted (the distinct points of its Hessian calls)
        assert got["portfolio"]["methods"]["ricci"]["runs"][0]["extra"]["newton_steps"] >= 1
    nnls = got["nnls-bounds"]
    assert nnls["methods"]["lbfgsb"]["time_to_target"] is not None  # it stops at the projected-gradient target
    assert nnls["pg_target"] == pytest.approx(1e-8 * max(1.0, nnls["pg0"]))
    assert "lbfgsb" not in got["portfolio"]["methods"]                # not a bound-only problem
    if peers["cvxpy"]:
        run = got["portfolio"]["methods"]["cvxpy"]["runs"][0]
        assert run["extra"]["solver"] and run["violation"] <= 1e-6
    for group in ("bounds", "convex"):
        png = md[0].with_name(md[0].stem + f"-{group}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trust_constr_run_on_hs71_reaches_the_published_optimum(cases):
    """The trust-constr runner (left out of the subprocess run, where it is the slowest) in process: one run on
    HS 71 traced at every iterate, ending at f* within the HS target."""
    cc, bench = cases
    built = cc._hs(71)()
    ctx = bench.Context("hs", 20.0, float("nan"))
    meter = bench.Meter(built.problem)
    run = bench.one_run("trust-constr", built, ctx, meter, "HS 71", lambda msg: None)
    assert run["trace"]["time"] and run["nit"] >= 1
    assert abs(run["f"] - built.f_star) <= 1e-6 * abs(built.f_star) and run["violation"] <= 1e-6


@pytest.mark.parametrize(("args", "message"), [(["--repeat", "0"], "--repeat must be at least 1"),
                                                (["--cases", "hs999"], "--cases: unknown ['hs999']"),
                                                (["--time-limit", "-1"], "--time-limit must be positive")])
def test_bad_arguments_are_usage_errors(cases, tmp_path, capsys, args, message):
    _, bench = cases
    with pytest.raises(SystemExit) as exit_:
        bench.main([*args, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing run, nothing written


def test_casadi_models_of_the_hs_text_equal_ricci_problems(cases):
    """The CasADi objective and constraints translated from the published text agree with ricci's problem at
    random points (constraint values compared as sorted multisets: ricci groups them by kind)."""
    ca = pytest.importorskip("casadi")
    cc, _ = cases
    rng = np.random.default_rng(0)
    for number in cc.hs_numbers():
        p = cc._hs(number)().problem
        x, f, g, lbg, ubg, hessian = cc._hs_casadi(number)(ca)
        assert hessian is None  # CasADi's own AD
        fn = ca.Function("f", [x], [f] + ([g] if g is not None else []))
        for _ in range(2):
            point = np.array(p.x0) + 0.3 * rng.standard_normal(p.n)
            values = fn(point)
            values = values if isinstance(values, (list, tuple)) else [values]
            assert float(values[0]) == pytest.approx(float(p.objective.fun(point)), rel=1e-12, abs=1e-12), number
            if g is not None:
                ours = np.sort(np.array(values[1]).ravel())
                theirs = np.sort(np.concatenate([np.asarray(c.fun(point)).ravel() for c in p.constraints]))
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=f"hs{number}")
                assert sorted(zip(lbg, ubg)) == sorted(zip(np.concatenate([c.lo for c in p.constraints]),
                                                           np.concatenate([c.hi for c in p.constraints])))


def test_casadi_models_of_the_data_cases_equal_ricci_problems(cases):
    """Every bound-constrained and convex case at its quick size: the CasADi f, constraint and the Hessian handed
    to IPOPT as hess_lag equal ricci's f, constraint and Hessian at a random point (the constraints are linear, so
    the Hessian of the Lagrangian is sigma H_f)."""
    ca = pytest.importorskip("casadi")
    cc, _ = cases
    rng = np.random.default_rng(1)
    for case in (c for c in cc.cases(quick=True) if c.group != "hs"):
        built = case.build()
        p = built.problem
        x, f, g, lbg, ubg, hessian = built.casadi(ca)
        point = np.abs(np.array(p.x0) + 0.1 * rng.standard_normal(p.n))
        outs = ca.Function("m", [x], [f, hessian] + ([g] if g is not None else []))(point)
        assert float(outs[0]) == pytest.approx(float(p.objective.fun(point)), rel=1e-10), case.key
        np.testing.assert_allclose(np.array(outs[1]), np.asarray(p.objective.hess(point)), rtol=1e-9, atol=1e-9,
                                   err_msg=case.key)
        if g is not None:
            (c,) = p.constraints
            assert float(outs[2]) == pytest.approx(float(np.asarray(c.fun(point)).ravel()[0]), rel=1e-12)
            assert (lbg, ubg) == ([c.lo[0]], [c.hi[0]])


@pytest.mark.parametrize("text", ["__import__('os')", "x1.real", "x3 + 1", "open(x1)", "sin(x1, x2)", "x1 if x2 else 1",
                                  "'a'", "lambda: 1"])
def test_casadi_translation_refuses_what_is_not_arithmetic(cases, text):
    ca = pytest.importorskip("casadi")
    cc, _ = cases
    with pytest.raises((ValueError, SyntaxError)):
        cc.casadi_from_text(text, ca.SX.sym("x", 2), ca)


def test_meter_violation_and_projected_gradient(cases):
    """Violation and ||P(x - g) - x||_inf on NNLS (bounds only) and on HS 71 (bounds and constraints), against
    the same quantities written out in NumPy."""
    _, bench = cases
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = np.array([1.0, -1.0, 2.0])
    p = problems.nonnegative_least_squares(A, b)
    meter = bench.Meter(p)
    x = np.array([-0.5, 0.25])
    f, v, pg = meter.measure(x)
    g = A.T @ (A @ x - b)
    assert f == pytest.approx(0.5 * np.sum((A @ x - b) ** 2))
    assert v == pytest.approx(0.5)
    assert pg == pytest.approx(np.max(np.abs(np.maximum(x - g, 0.0) - x)))
    hs = problems.hock_schittkowski(71)
    meter = bench.Meter(hs)
    x = np.array([1.0, 5.0, 5.0, 0.5])   # x4 below its bound 1 by 0.5; c1 = 12.5 - 25 < 0; c2 = 51.25 - 40
    _, v, pg = meter.measure(x)
    assert np.isnan(pg) and v == pytest.approx(12.5)
