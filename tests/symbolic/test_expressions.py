"""Building expressions: variables, constants, operators, functions, shape checks and dimension ties."""

import numpy as np
import pytest

import ricci.symbolic as rs


def evaluate(e, **values):
    fn = rs.compile(e)
    return fn(**values)


def test_variables_of_every_order():
    assert rs.Scalar("c").shape == ()
    assert rs.Vector("v", 3).shape == (3,)
    assert [str(d) for d in rs.Matrix("M", "m", 4).shape] == ["m", "4"]
    T = rs.Tensor("T", "m", "n", "p")
    assert T.ndim == 3 and rs.Tensor("T", ("m", "n", "p")) is T
    assert rs.variables(T @ rs.Vector("v", "p") if False else rs.sum(T)) == [T]


@pytest.mark.parametrize("bad", ["2x", "a b", "", 3])
def test_bad_variable_names(bad):
    with pytest.raises(ValueError, match="identifier"):
        rs.Vector(bad, 3)


@pytest.mark.parametrize("bad", [-1, 2.5, None, True])
def test_bad_dimensions(bad):
    with pytest.raises((TypeError, ValueError), match="dimension|size|int"):
        rs.Vector("v", bad)


def test_operators_evaluate_like_numpy(rng):
    A = rs.Matrix("A", 3, 3)
    x = rs.Vector("x", 3)
    c = rs.Scalar("c")
    a, xv, cv = rng.normal(size=(3, 3)), rng.normal(size=3), 0.5
    cases = [
        (A @ x, a @ xv), (x @ A, xv @ a), (x @ x, xv @ xv), (A @ A, a @ a), (A.T, a.T), (x.T, xv),
        (x + 1, xv + 1), (1 - x, 1 - xv), (x * 2, xv * 2), (x / 2, xv / 2), (2 / (x * x + 1), 2 / (xv * xv + 1)),
        (x**3, xv**3), (-x, -xv), (+x, xv), (c * x, cv * xv), (x / c, xv / cv), (c + x, cv + xv), (x - c, xv - cv),
        (A * A, a * a), (A / (A * A + 1), a / (a * a + 1)), (abs(x), np.abs(xv)), (2.0**x, 2.0**xv),
        (rs.sum(A, axis=0), a.sum(0)), (rs.sum(A, axis=-1), a.sum(1)), (rs.sum(A, axis=(0, 1)), a.sum()),
        (rs.trace(A), np.trace(a)), (rs.diag(x), np.diag(xv)), (rs.diag(A), np.diag(a)),
        (rs.outer(x, x), np.outer(xv, xv)), (rs.kron(A, A), np.kron(a, a)), (rs.kron(x, x), np.kron(xv, xv)),
        (rs.einsum("ij,jk->ik", A, A), a @ a), (rs.einsum("ii", A), np.trace(a)), (rs.einsum("ij->", A), a.sum()),
        (rs.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", a, a)),
        (rs.inv(A), np.linalg.inv(a)), (rs.det(A), np.linalg.det(a)), (rs.logdet(A), np.linalg.slogdet(a)[1]),
        (rs.norm1(x), np.abs(xv).sum()), (rs.norm2(x), np.linalg.norm(xv)), (rs.norm2(A), np.linalg.norm(a)),
        (rs.eye(3) @ x, xv), (rs.ones(3) * x, xv), (rs.zeros(3, 3) + A, a), (rs.full(3, 2.0) * x, 2 * xv),
        (rs.transpose(A, (1, 0)), a.T), (a @ x, a @ xv), (xv @ A, xv @ a), (rs.const(a) @ x, a @ xv),
    ]
    for e, want in cases:
        got = evaluate(e, **{v.name: {"A": a, "x": xv, "c": cv}[v.name] for v in rs.variables(e)})
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=str(e))


def test_elementwise_functions_evaluate_like_numpy(rng):
    x = rs.Vector("x", 5)
    xv = rng.uniform(-0.9, 0.9, size=5)
    table = {
        rs.exp: np.exp, rs.log: lambda v: np.log(v + 2), rs.log1p: np.log1p, rs.expm1: np.expm1,
        rs.sqrt: lambda v: np.sqrt(v + 2), rs.sin: np.sin, rs.cos: np.cos, rs.tan: np.tan, rs.arcsin: np.arcsin,
        rs.arccos: np.arccos, rs.arctan: np.arctan, rs.tanh: np.tanh, rs.sigmoid: lambda v: 1 / (1 + np.exp(-v)),
        rs.softplus: lambda v: np.log1p(np.exp(v)), rs.abs: np.abs, rs.sign: np.sign,
        rs.relu: lambda v: np.maximum(v, 0),
    }
    for op, ref in table.items():
        shifted = op in (rs.log, rs.sqrt)
        e = op(x + 2) if shifted else op(x)
        np.testing.assert_allclose(evaluate(e, x=xv), ref(xv), rtol=1e-13, err_msg=op.__name__)


def test_user_defined_elementwise_function(rng):
    swish = rs.elementwise("swish", "x*sigmoid(x)")
    x = rs.Vector("x", 4)
    xv = rng.normal(size=4)
    s = 1 / (1 + np.exp(-xv))
    np.testing.assert_allclose(evaluate(swish(x), x=xv), xv * s)
    np.testing.assert_allclose(evaluate(rs.grad(rs.sum(swish(x)), x), x=xv), s + xv * s * (1 - s), rtol=1e-12)
    assert "swish" in repr(swish)
    cube = rs.elementwise("cube", rs.x_symbol**3)
    np.testing.assert_allclose(evaluate(cube(x), x=xv), xv**3)


def test_user_function_errors():
    with pytest.raises(ValueError, match="cannot parse"):
        rs.elementwise("bad", "x +* 2")
    with pytest.raises(ValueError, match="only the variable x"):
        rs.elementwise("bad", "x*y")
    with pytest.raises(ValueError, match="identifier"):
        rs.elementwise("not a name", "x")
    with pytest.raises(ValueError, match="no array-API translation"):
        rs.elementwise("gamma_fn", "gamma(x)")


def test_shape_mismatch_names_operation_and_both_shapes():
    A = rs.Matrix("A", 3, 4)
    x = rs.Vector("x", 5)
    with pytest.raises(ValueError, match=r"@: shapes \(3, 4\) and \(5,\) do not match"):
        A @ x
    with pytest.raises(ValueError, match=r"\+: shapes \(3, 4\) and \(5,\) do not match"):
        A + x
    with pytest.raises(ValueError, match=r"\*: shapes \(5,\) and \(4,\) do not match"):
        x * rs.Vector("z", 4)
    with pytest.raises(ValueError, match="square"):
        rs.trace(A)
    with pytest.raises(ValueError, match="square"):
        rs.inv(A)
    with pytest.raises(ValueError, match="@: expected vectors or matrices"):
        rs.Tensor("T", 2, 2, 2) @ rs.Vector("v", 2)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        rs.sum(A, axis=2)
    with pytest.raises(ValueError, match="operand 0 has shape"):
        rs.einsum("i,i->", A, x)
    with pytest.raises(ValueError, match="appears in no operand"):
        rs.einsum("i->j", x)
    with pytest.raises(ValueError, match="ellipsis"):
        rs.einsum("...i->i", x)
    with pytest.raises(TypeError, match="constant"):
        x ** rs.Scalar("p")
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError, match="truth value"):
        bool(x)


def test_symbolic_dimensions_unify_or_report_the_conflict():
    A = rs.Matrix("A", "m", "n")
    x = rs.Vector("x", "k")
    e = A @ x  # ties n = k
    assert e.ties.same(rs.Vector("q", "n").shape[0], x.shape[0])
    three = rs.Vector("t", 3)
    four = rs.Vector("f", 4)
    e3 = e + rs.Vector("z", "m") + rs.sum(x * rs.Vector("v", "n"))  # still fine
    ok = rs.sum(x * three)  # k = 3, so n = 3
    with pytest.raises(ValueError, match="dimension conflict"):
        rs.sum(e) * rs.sum(rs.Vector("x", "k") * three) + rs.sum(A @ four)  # n = 4 but k = 3
    with pytest.raises(ValueError, match="dimension conflict"):
        rs.Vector("p", 3) + rs.Vector("q", 4)
    assert ok.shape == () and e3.shape == (A.shape[0],)


def test_constants_and_numpy_interop(rng):
    a = rng.normal(size=(2, 2))
    x = rs.Vector("x", 2)
    assert (a @ x).shape == (2,)  # ndarray @ Expr defers to the expression
    assert rs.const(3) is rs.const(3.0)  # 3 and 3.0 are one constant
    assert rs.const(3).shape == ()
    assert rs.const(0.5) is not rs.const(0.1)
    with pytest.raises(TypeError):
        rs.const("text")
    with pytest.raises(ZeroDivisionError):
        x / 0


def test_repr_shows_the_tree():
    x = rs.Vector("x", "n")
    A = rs.Matrix("A", "n", "n")
    r = repr(A @ x)
    assert r.startswith("Contract[") and "Var(A, nxn)" in r and "Var(x, n)" in r


# --- cases that once failed ------------------------------------------------------------------------------------


def test_a_function_body_is_parsed_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ValueError, match="only the functions listed below may be called"):
        rs.elementwise("f", f"__import__('os').system('touch {marker}') + x")  # before: ran the command
    assert not marker.exists()
    for body, message in [("x.real", "an attribute"), ("x[0]", "indexing"), ("lambda: x", "a lambda"),
                          ("exp(x, 2)", "exp takes one argument"), ("1e400*x", "not finite"),
                          ("1/0", "division by zero"),
                          ("9**9**9**9", "not a finite real number"), ("exp(" * 200 + "x" + ")" * 200, "cannot parse")]:
        with pytest.raises(ValueError, match=message):
            rs.elementwise("f", body)


def test_a_function_body_means_what_it_says():
    xv = np.array([-2.0, -0.5, 0.25, 1.0, 3.0])
    x = rs.Vector("x", 5)
    cases = {"x^2 + 1": xv**2 + 1, "2*x^-1 + pi": 2 / xv + np.pi, "-x**2": -(xv**2), "sinh(x)/E": np.sinh(xv) / np.e,
             "asin(x/4) - arctan(x)": np.arcsin(xv / 4) - np.arctan(xv), "6.626e-34*x": 6.626e-34 * xv}
    for k, (body, want) in enumerate(cases.items()):
        np.testing.assert_allclose(evaluate(rs.elementwise(f"g{k}", body)(x), x=xv), want, rtol=1e-14, err_msg=body)
    assert rs.elementwise("tiny", "6.626e-34*x").function.expr.args[0] == 6.626e-34  # not rounded to 0


def test_a_function_body_that_is_not_a_string_is_a_sympy_expression_or_a_number():
    x = rs.Vector("x", 3)
    cube = rs.elementwise("cube3", rs.x_symbol**3)
    np.testing.assert_allclose(evaluate(cube(x), x=np.arange(3.0)), np.arange(3.0) ** 3)
    assert rs.elementwise("seven", 7)(x) is rs.full((3,), 7)

    class Sly:
        def __str__(self):
            return "__import__('os').getcwd() or x"

    with pytest.raises(TypeError, match="expected the body"):
        rs.elementwise("sly", Sly())


def test_naming_a_user_function_leaves_other_uses_of_its_formula_alone():
    """Once failed: rs.elementwise("fuzzed", "x^2") made every u.^2 print and parse as fuzzed(u)."""
    u = rs.Vector("u", "n")
    sq = rs.elementwise("sq_user", "x^2")
    assert str(u**2) == "u.^2" and rs.parse("u.^2", u="n") is u**2
    assert sq(u) is not u**2 and sq.function.name == "sq_user"
