"""Names, labels, dimensions and numbers on their way into generated code (``rs.compile``, ``rs.export``).

Every user-given name is checked where it enters (``_names.identifier``); a label reaches a comment only
escaped; the kernel's own names (``xp``, ``t0``, ``dim_n``, ``const_0``, helpers) are out of the reach of
variables' names. Cases that once failed: each test states what happened before.
"""

import ast
import builtins

import numpy as np
import pytest
import sympy

import ricci.symbolic as rs
from ricci.symbolic import _nodes

SENTINEL = "RICCI_INJECTED"

# Strings that would run code if pasted into a line, a comment or a signature of generated source.
PAYLOADS = [
    f"a\n    __import__('builtins').{SENTINEL} = 1\n#",
    f"a\r    __import__('builtins').{SENTINEL} = 1",
    f"n=__import__('builtins').__setattr__('{SENTINEL}', 1),m",
    f"__import__('builtins').__setattr__('{SENTINEL}', 1)",
    f'x"""\n__import__("builtins").{SENTINEL} = 1\n"""',
    "x\u2028y",
    "x y",
    "",
    "1x",
    "x-1",
]


@pytest.fixture(autouse=True)
def no_injection():
    """Nothing that a name or label carries ever runs."""
    yield
    ran = hasattr(builtins, SENTINEL)
    if ran:
        delattr(builtins, SENTINEL)
    assert not ran, "code carried by a name ran"


def test_identifier_check():
    from ricci.symbolic._names import comment, identifier

    for bad in PAYLOADS + [None, 3, "x'", "x\n"]:
        with pytest.raises(ValueError, match="identifier"):
            identifier(bad, "a name")
    assert identifier("ｘ", "a name") == "x"  # fullwidth x: one identifier with x for Python
    assert identifier("ﬁt", "a name") == "fit"  # a ligature
    assert identifier("ｆｏｒ", "a name") == "for"  # a variable may be called for (the kernel renames it)
    for keyword in ("for", "ｆｏｒ", "lambda"):
        with pytest.raises(ValueError, match="keyword"):
            identifier(keyword, "a name", keywords=False)
    for text in PAYLOADS + ["x\x85y", "x\x0cy", "x\x0by", "x\u2029y"]:
        line = f"t0 = const_0  # {comment(text)}, shape (3,)"
        assert len(ast.parse(line).body) == 1 and line.splitlines() == [line]


@pytest.mark.parametrize("label", PAYLOADS)
def test_constant_names_are_identifiers(label):
    """Before: ``rs.const(a, name=...)`` pasted the name after ``#`` in the kernel; a newline in it ran code at
    ``rs.compile`` and when the exported module ran."""
    with pytest.raises(ValueError, match="const: the name must be an identifier"):
        rs.const(np.arange(3.0), name=label)


@pytest.mark.parametrize("label", PAYLOADS)
def test_labels_reach_comments_escaped(label):
    """A label made inside ricci, unchecked, still reaches the kernel's comment only as its repr."""
    x = rs.Vector("x", 3)
    c = _nodes.const(np.arange(3.0), label)
    fn = rs.compile(c @ x)
    assert fn(x=np.ones(3)) == 3.0
    assert repr(label) in fn.source or label == ""


@pytest.mark.parametrize("dim", [
    sympy.Symbol(f"__import__('builtins').__setattr__('{SENTINEL}', 1)"),
    sympy.Symbol(f"n=__import__('builtins').__setattr__('{SENTINEL}', 1),m"),
    sympy.Symbol("n\nm"),
    sympy.Function("system")(sympy.Symbol("n")),
    sympy.Symbol("n") / 2,
    sympy.Symbol("n") ** -1,
])
def test_symbolic_dimensions_are_checked(dim):
    """Before: a sympy symbol's name went into the kernel's signature as ``dim_<name>`` (a SyntaxError at
    best); a function of a symbol went in as its text."""
    with pytest.raises(ValueError, match="dimension"):
        v = rs.Vector("x", dim)
        rs.compile(v @ v)


def test_a_sympy_symbol_is_the_dimension_of_its_name(rng):
    """Before: ``Symbol("n")`` (no assumptions) and the name ``"n"`` were two dimensions both called n, and
    the kernel had two parameters ``dim_n`` (SyntaxError)."""
    n = sympy.Symbol("n")
    x, y = rs.Vector("x", n), rs.Vector("y", "n")
    assert x.shape == y.shape
    A = rs.Matrix("A", 2 * n, sympy.Symbol("ｎ"))  # a product, and a name Python reads as n
    xv, Av = rng.normal(size=3), rng.normal(size=(6, 3))
    out = rs.compile(rs.sum(A @ (x * y)))(x=xv, y=xv, A=Av)
    np.testing.assert_allclose(out, np.sum(Av @ (xv * xv)))


INTERNAL = ["t0", "t0_0", "t1", "t1_max", "t2_1", "xp", "dtype", "device", "c0", "const_0", "dim_n", "kernel",
            "_diagonal", "_sigmoid", "_softplus", "_", "v_x", "for", "lambda", "float", "sum", "np", "ｆｏｒ"]


def test_a_variable_named_like_a_temporary_overwrote_it(rng):
    """Before: with B named ``t0_0`` the kernel's first intermediate overwrote B: 4.72 for 4.30."""
    A, B, C = (rs.Matrix(n, 3, 3) for n in ("A", "t0_0", "C"))
    a, b, c = (rng.normal(size=(3, 3)) for _ in range(3))
    np.testing.assert_allclose(rs.compile(rs.trace(A @ B @ C @ B))(A=a, t0_0=b, C=c), np.trace(a @ b @ c @ b))


@pytest.mark.parametrize("name", INTERNAL)
def test_variables_named_like_the_kernels_own_names(name, rng):
    """Before: ``xp``, ``dtype``, ``device``, ``const_0``, ``dim_n`` duplicated a parameter (SyntaxError), the
    temporaries' names overwrote values; now such a variable is renamed in the kernel (``v_xp``)."""
    X = rs.Matrix(name, "n", "n")
    y = rs.Vector("y", "n")
    f = (rs.trace(X @ X @ X) + rs.sum(rs.sigmoid(X @ y)) + rs.sum(rs.logsumexp(X, axis=0))
         + rs.const(np.arange(3.0)) @ rs.diag(X) + rs.sum(rs.softplus(y)))
    fn = rs.compile([f, rs.grad(f, y)])
    Xv, yv = rng.normal(size=(3, 3)), rng.normal(size=3)
    value, grad = fn(**{X.name: Xv, "y": yv})
    s = 1 / (1 + np.exp(-Xv @ yv))
    expected = (np.trace(Xv @ Xv @ Xv) + s.sum() + np.log(np.exp(Xv).sum(axis=0)).sum() + np.arange(3.0) @ np.diag(Xv)
                + np.log1p(np.exp(yv)).sum())
    np.testing.assert_allclose(value, expected)
    np.testing.assert_allclose(grad, Xv.T @ (s * (1 - s)) + 1 / (1 + np.exp(-yv)))
    signature = next(line for line in fn.source.splitlines() if line.startswith("def kernel("))
    assert (f"v_{X.name}," in signature) == (X.name not in ("c0", "kernel", "float", "sum", "np", "v_x")), signature


def test_ordinary_names_are_kept():
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "m", "n")
    src = rs.compile(rs.sum(rs.exp(A @ x))).source
    assert src.startswith("def kernel(xp, dtype, device, dim_m, dim_n, A, x):") and "renamed" not in src


def test_names_python_reads_as_one_are_one_variable():
    """Before: ``ｘ`` and ``x`` were two variables, two parameters that Python reads as one (SyntaxError)."""
    assert rs.Vector("ｘ", 3) is rs.Vector("x", 3)
    with pytest.raises(ValueError, match="two variables are named 'x'"):
        rs.compile(rs.Vector("ｘ", 3) @ rs.Matrix("x", 3, 3) @ rs.Vector("y", 3))


def test_compiled_function_names():
    """Before: a name Python normalizes (``ｆ``) compiled into ``def f`` and was then not found (KeyError); a
    helper's name made the kernel replace its own helper."""
    x = rs.Vector("x", 3)
    assert rs.compile(rs.sum(rs.sigmoid(x)), name="ｆ").name == "f"
    for bad in ["_sigmoid", "for", "a b", "f\n"]:
        with pytest.raises(ValueError, match="compile: name"):
            rs.compile(rs.sum(rs.sigmoid(x)), name=bad)


@pytest.mark.parametrize("build,expected", [
    (lambda x: 1e400 * (x @ x), np.inf),
    (lambda x: -np.inf * (x @ x), -np.inf),
    (lambda x: x @ x + np.inf, np.inf),
    (lambda x: rs.sum(rs.full(3, np.nan) * x), np.nan),
    (lambda x: 10**400 * (x @ x), np.inf),  # an int beyond the float range
    (lambda x: 2**60 * (x @ x) + 2**70, 3.0 * 2**60 + 2**70),
])
def test_infinite_nan_and_huge_constants(build, expected):
    """Before: inf and nan were written as ``inf``/``nan`` into the kernel (NameError when called,
    ``rs.compile(rs.parse("1e400*x'*x"))``); an int beyond the float range overflowed when called."""
    x = rs.Vector("x", 3)
    fn = rs.compile(build(x))
    np.testing.assert_equal(fn(x=np.ones(3)), expected)
    assert "inf" not in fn.source.replace("xp.inf", "")


def test_nonfinite_constant_arrays_export():
    """Before: a constant array holding inf was written as ``[inf, ...]`` into the exported module (a
    NameError when the module was imported)."""
    x = rs.Vector("x", 3)
    bound = np.array([np.inf, -np.inf, np.nan])
    text = rs.export([rs.const(bound, name="bound") * x, 1e400 * (x @ x)], name="g")
    ns = {}
    exec(compile(text, "exported", "exec"), ns)
    out = ns["g"](x=np.array([0.5, 1.0, 2.0]))
    np.testing.assert_equal(out["out0"], bound)
    assert out["out1"] == np.inf


def test_a_product_of_more_than_52_indices(rng):
    """Before: ``x'*A^60*x`` (61 indices) ran out of einsum letters planning its order (IndexError)."""
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "n", "n")
    fn = rs.compile(x @ rs.matrix_power(A, 60) @ x)
    xv, Av = rng.normal(size=4), rng.normal(size=(4, 4)) / 3
    np.testing.assert_allclose(fn(x=xv, A=Av), xv @ np.linalg.matrix_power(Av, 60) @ xv, rtol=1e-10)
    assert fn.source.count("@") == 61  # a chain of matrix-vector products, never matrix-matrix ones
    assert "A @ A" not in fn.source


@pytest.mark.parametrize("value,got", [(None, "None"), ("1.5", "str '1.5'"), ([1.0, None, 3.0], "list"),
                                       (object(), "object"), ({"a": 1}, "dict")])
def test_values_that_are_not_numbers(value, got):
    """Before: ``fn(X=None)`` was a shape error (for a scalar: NaN, silently), ``"1.5"`` was 1.5, a list
    holding None was NaN there."""
    X, s = rs.Matrix("X", 3, 3), rs.Scalar("s")
    fn = rs.compile(s * rs.trace(X))
    with pytest.raises(TypeError, match=rf"^X: expected an array of shape \(3, 3\), got {got}"):
        fn(X=value, s=1.0)
    with pytest.raises(TypeError, match=rf"^s: expected a number, got {got}"):
        fn(X=np.eye(3), s=value)


def test_exported_module_with_hostile_labels_and_internal_names(rng):
    """The export writes labels only into its docstring and comments, escaped; variables named like the
    kernel's internals run."""
    xp_, t0 = rs.Vector("xp", "n"), rs.Matrix("t0", "n", "n")
    label = f'c"""\n__import__("builtins").{SENTINEL} = 1\n"""\\'
    f = xp_ @ t0 @ xp_ + _nodes.const(np.ones(3), label) @ xp_
    text = rs.export(f, order=2, name="f")
    ns = {}
    exec(compile(text, "exported", "exec"), ns)
    xv, Tv = rng.normal(size=3), rng.normal(size=(3, 3))
    out = ns["f"](xp=xv, t0=Tv)
    np.testing.assert_allclose(out["value"], xv @ Tv @ xv + xv.sum())
    np.testing.assert_allclose(out["d2_xp"], Tv + Tv.T)
    with pytest.raises(ValueError, match="export: name"):
        rs.export(f, name="ｆｏｒ")


def test_elementwise_names_are_read_as_python_reads_them():
    """A function's name is NFKC-normalised like every other name: 'ｓｑ' (fullwidth) is 'sq'; keywords and
    non-identifiers are refused with the name in the message."""
    wide, plain = rs.elementwise("ｓｑ", "x^2"), rs.elementwise("sq", "x^2")
    assert wide.function is plain.function
    x = rs.Vector("x", 3)
    assert rs.sum(wide(x)) is rs.sum(plain(x))
    for bad in ("lambda", "ｆｏｒ", "two words", "", "x\n", 3):
        with pytest.raises(ValueError, match="elementwise: the name"):
            rs.elementwise(bad, "x")


def test_no_private_constructor_sympifies_text(capsys):
    """``_nodes.power`` read its exponent with a non-strict sympify, which evaluates a string as Python; the
    public ``x ** "..."`` refused text before reaching it, but no path may run text."""
    x = rs.Vector("x", 3)
    with pytest.raises(Exception) as info:
        _nodes.power(x, "__import__('builtins').print('RAN')")
    assert not isinstance(info.value, AssertionError)
    assert "RAN" not in capsys.readouterr().out
