"""The public helpers rs.variable and rs.check_derivatives, the one binding module, and their standalone use."""

import ast
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest
import ricci.symbolic as rs
from ricci.symbolic import _binding, _check, _dask_sparse, _fdcheck

x = rs.Vector("x", "n")
A = rs.Matrix("A", "n", "n")
X = rs.Matrix("X", "m", "n")
y = rs.Vector("y", "m")
LOGISTIC = rs.sum(rs.softplus(-y * (X @ x))) + 0.5 * (x @ x)


# --- rs.variable ---------------------------------------------------------------------------------------------


def test_variable_finds_a_variable_by_name_and_passes_variables_through():
    f = x @ A @ x
    assert rs.variable(f, "x") is x and rs.variable(f, "A") is A and rs.variable(f, x) is x
    B = rs.variable(rs.parse("x'*B*x"), "B")
    assert B.name == "B" and B.ndim == 2


def test_variable_errors_name_what_came():
    f = x @ A @ x
    with pytest.raises(ValueError, match=r"no variable named 'z' \(its variables: x, A\)"):
        rs.variable(f, "z")
    with pytest.raises(TypeError, match="variable .* or its name, got int"):
        rs.variable(f, 3)
    with pytest.raises(TypeError, match="only with respect to a variable"):
        rs.variable(f, A @ x)


# --- rs.check_derivatives ------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [
    LOGISTIC,
    rs.logdet(A),
    rs.sum(rs.inv(A) @ x),
    rs.norm2(X - rs.Matrix("U", "m", "k") @ rs.Matrix("V", "n", "k").T) ** 2,
    rs.sum(rs.kron(rs.Vector("a", "m"), rs.Vector("b", "p")) * rs.Vector("z", "q")),  # ties q = m*p
])
def test_right_derivatives_pass_on_random_data(f):
    result = rs.check_derivatives(f, order=2)
    assert result.passed, str(result)
    assert set(result.errors) == {(k, v.name) for v in rs.variables(f) for k in (1, 2)}
    assert all(s >= 2 for s in result.sizes.values())
    assert "OK" in str(result) and "relative error" in str(result)


def test_third_order_and_a_subset_of_variables():
    result = rs.check_derivatives(LOGISTIC, wrt="x", order=3, rtol=1e-4, atol=1e-5)
    assert result.passed and set(result.errors) == {(1, "x"), (2, "x"), (3, "x")}


def _wrong_at(order, factor):
    """derivative_table with the derivative of the given order scaled by ``factor`` (a wrong derivative)."""
    table = _check.derivative_table

    def wrong(f, wrt, k):
        return [(name, e * factor if o == order else e, lower, var, o) for name, e, lower, var, o in table(f, wrt, k)]

    return wrong


@pytest.mark.parametrize("order", [1, 2])
def test_a_wrong_derivative_is_caught(order, monkeypatch):
    monkeypatch.setattr(_check, "derivative_table", _wrong_at(order, 1.001))
    result = rs.check_derivatives(LOGISTIC, wrt=x, order=2)
    assert not result.passed
    assert result.errors[(order, "x")] > 1e-4  # a 0.1 % error is seen
    if order == 2:
        assert result.errors[(1, "x")] < 1e-6  # the gradient, left alone, passes
    assert "MISMATCH" in str(result)


def test_the_fixture_fails_a_test_on_a_wrong_derivative(check_derivatives, rng, monkeypatch):
    monkeypatch.setattr(_check, "derivative_table", _wrong_at(2, 0.99))
    with pytest.raises(AssertionError, match="disagree with finite differences"):
        check_derivatives(LOGISTIC, x, dict(X=rng.normal(size=(6, 3)), y=rng.normal(size=6), x=rng.normal(size=3)))


def test_user_data_fixes_the_point_and_the_sizes(rng):
    data = dict(X=rng.normal(size=(7, 3)), y=np.sign(rng.normal(size=7)))
    result = rs.check_derivatives(LOGISTIC, wrt="x", data=data, seed=1)  # x drawn, of length n = 3
    assert result.passed and result.sizes == {"m": 7, "n": 3}
    data["x"] = np.full(3, 1e3)  # huge margins: the stable forms keep every derivative finite
    assert rs.check_derivatives(LOGISTIC, wrt="x", data=data).passed
    ints = rs.check_derivatives(x @ A @ x, wrt=x, data=dict(A=np.arange(9).reshape(3, 3), x=[1, 2, 3]))
    assert ints.passed and ints.sizes == {"n": 3}


def test_the_seed_makes_the_check_reproducible():
    a = rs.check_derivatives(LOGISTIC, seed=3)
    b = rs.check_derivatives(LOGISTIC, seed=np.random.default_rng(3))
    assert a.errors == b.errors and a.sizes == b.sizes


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(order=0), ValueError, "order must be an int >= 1, got 0"),
    (dict(order=True), ValueError, "order must be an int"),
    (dict(wrt="q"), ValueError, "no variable named 'q'"),
    (dict(wrt=[]), ValueError, "wrt must name at least one variable"),
    (dict(wrt=["x", x]), ValueError, "appears twice"),
    (dict(data=[1, 2]), TypeError, "data must be a dict"),
    (dict(data={"Z": np.ones(2)}), ValueError, "data for 'Z', which the expression does not use"),
    (dict(data={"X": np.ones((3, 2)), "x": np.ones(3)}), ValueError,
     r"data 'x' must have shape \(n,\) = \(2,\) \(n = 2 from X\), got \(3,\)"),
    (dict(data={"X": np.ones(3)}), ValueError, r"data 'X' must be a 2-D array of shape \(m, n\), got shape \(3,\)"),
    (dict(data={"x": np.array([1.0, np.nan])}), ValueError, "data 'x' contains NaN or infinite values"),
    (dict(data={"x": np.ones(2, dtype=complex)}), TypeError, "complex arrays are not supported"),
    (dict(data={"x": "abc"}), TypeError, "data 'x': expected a real number or array, got str"),
    (dict(data={"x": True}), TypeError, "data 'x': expected a number or an array, got bool"),
    (dict(seed="abc"), TypeError, "seed must be an int or a numpy.random.Generator"),
    (dict(rtol=0.0), ValueError, "rtol must be a finite number > 0"),
    (dict(atol=-1.0), ValueError, "atol must be a finite number >= 0"),
    (dict(directions=0), ValueError, "directions must be an int >= 1"),
    (dict(sizes={"n": -1}), ValueError, r"sizes\['n'\] must be a non-negative int, got -1"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        rs.check_derivatives(LOGISTIC, **kwargs)


def test_an_expression_without_variables_is_refused():
    with pytest.raises(ValueError, match="has no variables"):
        rs.check_derivatives(rs.const(np.ones(2)) @ rs.const(np.ones(2)))
    with pytest.raises(TypeError):
        rs.check_derivatives("x'*x")


def test_the_checker_core_flags_wrong_shapes_and_nan():
    values = {"x": np.array([1.0, 2.0])}

    def evaluate(x):
        return {"value": np.sum(x**3), "d_x": 3 * x**2, "bad": np.ones(3), "nan": np.full(2, np.nan)}

    shapes = {"x": ("n",)}
    result = _fdcheck.finite_difference_check(evaluate, shapes, [("d_x", "value", "x", 1)], values=values)
    assert result.passed and result.errors[(1, "x")] < 1e-8
    for out in ("bad", "nan"):
        result = _fdcheck.finite_difference_check(evaluate, shapes, [(out, "value", "x", 1)], values=values)
        assert not result.passed and not result.errors[(1, "x")] < 1


# --- the compiled function's public description of its kernel ---------------------------------------------


def test_parameters_and_constants_describe_the_kernel(rng):
    C = rng.normal(size=(3, 3))
    v = rs.Vector("v", 3)
    fn = rs.compile([v @ rs.const(C, "C") @ v + rs.sum(rs.exp(X @ rs.Vector("w", "n")))])
    kinds = [kind for kind, _ in fn.parameters]
    assert kinds[:3] == ["namespace", "dtype", "device"] and kinds.count("constant") == len(fn.constants) == 1
    assert [k for kind, k in fn.parameters if kind == "dimension"] == fn.dim_names
    assert [k for kind, k in fn.parameters if kind == "variable"] == [u.name for u in fn.variables]
    assert len(inspect.signature(fn._kernel).parameters) == len(fn.parameters)
    np.testing.assert_array_equal(fn.constants[0], C)
    with pytest.raises(ValueError):
        fn.constants[0][0, 0] = 1.0  # read-only
    with pytest.raises(AttributeError):
        fn.constants = ()


def test_sizes_of_dimensions_no_shape_determines_are_passed_by_keyword():
    k = rs.Vector("z", "k")
    fn = rs.compile(rs.ones("p") * rs.sum(k))
    with pytest.raises(ValueError, match="dimension p is not determined .* pass it as p=<int>"):
        fn(z=np.ones(2))
    np.testing.assert_array_equal(fn(z=np.ones(2), p=3), [2.0, 2.0, 2.0])
    result = rs.check_derivatives(rs.sum(rs.ones("p") * rs.sum(rs.exp(k))), sizes={"p": 4})
    assert result.passed and result.sizes["p"] == 4
    with pytest.raises(ValueError, match="the size k must be a non-negative int"):
        fn(z=np.ones(2), k=-1)


# --- one implementation, embedded in exported modules ---------------------------------------------------------


@pytest.mark.parametrize("module", [_binding, _dask_sparse, _fdcheck])
def test_the_embedded_modules_import_only_numpy_and_each_other(module):
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 or node.module in {"_binding", "_dask_sparse"}, ast.dump(node)
            assert node.level or node.module.split(".")[0] in sys.stdlib_module_names, ast.dump(node)
        elif isinstance(node, ast.Import):
            allowed = sys.stdlib_module_names | {"numpy", "array_api_compat"}
            if node not in tree.body:  # inside a function: run only when the data are already scipy.sparse
                allowed = allowed | {"scipy"}
            assert all(a.name.split(".")[0] in allowed for a in node.names), ast.dump(node)


def test_exported_module_works_without_array_api_compat(tmp_path, rng):
    source = rs.export(x @ A @ x + rs.sum(rs.exp(x)), order=2, name="q")
    assert "def convert(" in source and "class Binding" in source and "def finite_difference_check(" in source
    path = tmp_path / "exported.py"
    path.write_text(source)
    script = ("import sys, runpy; sys.modules['array_api_compat'] = None; "
              f"runpy.run_path({str(path)!r}, run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout + run.stderr


def test_exported_function_binds_like_the_compiled_one(rng):
    ns = {}
    exec(compile(rs.export([LOGISTIC], name="loss"), "exported", "exec"), ns)
    vals = dict(X=rng.normal(size=(5, 3)), y=rng.normal(size=5), x=rng.normal(size=3))
    np.testing.assert_allclose(ns["loss"](**vals)["out0"], rs.compile(LOGISTIC)(**vals), rtol=1e-14)
    for bad in [dict(vals, x=np.ones(4)), dict(vals, x=np.ones(3, dtype=complex)), {"X": vals["X"]},
                dict(vals, bogus=1.0)]:
        with pytest.raises((ValueError, TypeError)) as theirs:
            ns["loss"](**bad)
        with pytest.raises(type(theirs.value)) as ours:
            rs.compile(LOGISTIC)(**bad)
        assert str(ours.value).split(":", 1)[1] == str(theirs.value).split(":", 1)[1]


def test_export_refuses_names_taken_by_the_module():
    for name in ["Binding", "convert", "np", "OUTPUTS", "_kernel", "for"]:
        with pytest.raises(ValueError, match="name"):
            rs.export(x @ x, name=name)
