"""Generated code under hostile input: names, labels, dimensions and numbers into ``rs.Vector``, ``rs.Matrix``,
``rs.Scalar``, ``rs.const``, ``rs.compile`` and ``rs.export`` (issue "Reliability and security", items 2, 3,
4 and 11: a constant's name with a newline ran code at ``rs.compile``; a sympy symbol as a dimension was
pasted into the kernel's signature; a variable named ``t0_0`` overwrote a temporary, 4.72 for 4.30; ``xp``,
``for`` or ``ｘ`` beside ``x`` gave code that did not compile; inf was written as ``inf``; 53 indices ran
out of letters).

Each property: the input is refused where it enters with a ValueError or TypeError, or the generated code
runs and computes what NumPy computes; and nothing a name carries ever runs (a sentinel attribute of
``builtins`` is never set).
"""

import ast
import builtins
import keyword
import math
import unicodedata

import numpy as np
import sympy
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import ricci.symbolic as rs
from ricci.symbolic import _lower, _nodes

FUZZ = settings.get_profile("ricci-fuzz")

SENTINEL = "RICCI_FUZZ_INJECTED"
PAYLOADS = [
    f"a\n    __import__('builtins').{SENTINEL} = 1\n#",
    f"a\r\n    __import__('builtins').{SENTINEL} = 1",
    f"n=__import__('builtins').__setattr__('{SENTINEL}', 1),m",
    f"__import__('builtins').__setattr__('{SENTINEL}', 1)",
    f'x"""\n__import__("builtins").{SENTINEL} = 1\n"""\\',
    f"x\u2028__import__('builtins').{SENTINEL} = 1",
    "x'", "x y", "", "1x", "x-1", "a.b", "a\\", "#", "x\x00",
]
# names the generated code uses for itself, keywords, builtins the code might read, names Python reads as others
INTERNAL = ["t0", "t0_0", "t1", "t1_0", "t1_max", "t2_1", "t10", "xp", "dtype", "device", "c0", "const_0",
            "const_1", "dim_n", "dim_m", "kernel", "_kernel", "_diagonal", "_sigmoid", "_softplus", "_relu",
            "_", "__", "v_x", "v_xp", "v0", "float", "sum", "np", "None_", "x", "ｘ", "ｆｏｒ", "ﬁ", "ℌ", "Ⅸ"]
IDENTIFIERS = st.one_of(  # mostly identifiers, many of them ones the generated code uses itself
    st.sampled_from(INTERNAL + keyword.kwlist + keyword.softkwlist),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,6}\Z"),
    st.text(alphabet="xt0_1ｘｆｏｒmaxdimconstv", min_size=1, max_size=8),
)
HOSTILE = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(alphabet="xt0_ｘ\n\r'\"()=#;\\ \u2028", min_size=1, max_size=8),
    st.text(max_size=6),
)
NAMES = st.one_of(IDENTIFIERS, IDENTIFIERS, HOSTILE)


def nothing_ran():
    ran = hasattr(builtins, SENTINEL)
    if ran:
        delattr(builtins, SENTINEL)
    assert not ran, "code carried by a name ran"


def python_name(name):
    """The name as Python reads it, or None where it is no identifier (what ricci must refuse)."""
    if not isinstance(name, str) or not name.isidentifier():
        return None
    normal = unicodedata.normalize("NFKC", name)
    return normal if normal.isidentifier() else None


def refused(exc, *names):
    """A refusal is right only for a name Python would not read as an identifier."""
    assert isinstance(exc, (ValueError, TypeError))
    assert any(python_name(n) is None for n in names), f"refused valid names {names}: {exc}"


def value_of(build, names):
    """The variables ``build`` makes from ``names``, or None when a name is refused (checked to be right)."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        refused(exc, *names)
        event("a name refused")
        return None


ENTRY_POINTS = ["Scalar", "Vector", "Matrix", "Tensor", "const", "dimension", "sympy dimension", "sizes",
                "compile", "export"]


@settings(FUZZ)
@given(name=NAMES, where=st.sampled_from(ENTRY_POINTS))
def test_every_entry_point_checks_names(name, where):
    """A name into any entry point: refused (a ValueError naming it) exactly when Python would not read it as
    an identifier (or, for a function's name, reads a keyword, or a name starting with '_'); otherwise the
    code runs."""
    x = rs.Vector("x", 3)
    python = python_name(name)
    function_name = where in ("compile", "export")
    valid = python is not None and not (function_name and (keyword.iskeyword(python) or python.startswith("_")))
    build = {
        "Scalar": lambda: rs.compile(rs.Scalar(name) * rs.sum(x)),
        "Vector": lambda: rs.compile(rs.Vector(name, 3) @ x),
        "Matrix": lambda: rs.compile(x @ rs.Matrix(name, 3, 3) @ x),
        "Tensor": lambda: rs.compile(rs.sum(rs.Tensor(name, 3, 3, 3))),
        "const": lambda: rs.compile(rs.const(np.ones(3), name=name) @ x),
        "dimension": lambda: rs.compile(rs.sum(rs.Vector("v", name))),
        "sympy dimension": lambda: rs.compile(rs.sum(rs.Vector("v", sympy.Symbol(name)))),
        "sizes": lambda: rs.compile(rs.sum(rs.Vector("v", "n")), sizes={name: 5}),
        "compile": lambda: rs.compile(x @ x, name=name),
        "export": lambda: rs.export([x @ x], name=name),
    }[where]
    try:
        made = build()
    except ValueError as exc:
        expected = not valid or (where == "export" and "taken" in str(exc)) or "two variables are named 'x'" in str(exc)
        assert expected, f"refused {name!r} in {where}: {exc}"
        return nothing_ran()
    assert valid, f"accepted {name!r} in {where}"
    if isinstance(made, str):
        exec(compile(made, "exported", "exec"), {})
    else:
        ast.parse(made.source)
    nothing_ran()


@settings(FUZZ)
@given(a=IDENTIFIERS, b=IDENTIFIERS, c=NAMES, seed=st.integers(0, 2**16))
def test_variable_names(a, b, c, seed):
    """Any three names for a matrix, a vector and a scalar: refused, two of them Python's one name (refused
    by compile, the shapes differ), or a kernel that computes the value and gradient NumPy computes."""
    made = value_of(lambda: (rs.Matrix(a, "n", "n"), rs.Vector(b, "n"), rs.Scalar(c)), (a, b, c))
    if made is None:
        return nothing_ran()
    A, x, s = made
    assert (A.name, x.name, s.name) == tuple(python_name(n) for n in (a, b, c))
    f = (s * (x @ A @ x) + rs.sum(rs.sigmoid(A @ x)) + rs.trace(A @ A @ A) + rs.sum(rs.logsumexp(A, axis=0))
         + rs.const(np.arange(3.0)) @ rs.diag(A))
    try:
        fn = rs.compile([f, rs.grad(f, x)])
    except ValueError as exc:
        assert len({A.name, x.name, s.name}) < 3 and "two variables are named" in str(exc)
        return nothing_ran()
    rng = np.random.default_rng(seed)
    Av, xv, sv = rng.normal(size=(3, 3)), rng.normal(size=3), float(rng.normal())
    value, grad = fn(**{A.name: Av, x.name: xv, s.name: sv})
    z = Av @ xv
    sig = 1 / (1 + np.exp(-z))
    expected = (sv * xv @ Av @ xv + sig.sum() + np.trace(Av @ Av @ Av) + np.log(np.exp(Av).sum(axis=0)).sum()
                + np.arange(3.0) @ np.diag(Av))
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    np.testing.assert_allclose(grad, sv * (Av + Av.T) @ xv + Av.T @ (sig * (1 - sig)), rtol=1e-10, atol=1e-12)
    ast.parse(fn.source)
    nothing_ran()


@settings(FUZZ)
@given(m=IDENTIFIERS, n=NAMES, as_symbol=st.booleans(), sized=st.booleans())
def test_dimension_names(m, n, as_symbol, sized):
    """Dimension names, as strings or sympy symbols (any name: sympy takes every string), in shapes and in
    ``sizes``: refused, or the kernel's ``dim_<name>`` parameters bind and the value is right."""
    dm, dn = (sympy.Symbol(m), sympy.Symbol(n)) if as_symbol else (m, n)
    made = value_of(lambda: (rs.Matrix("A", dm, dn), rs.Vector("x", dn), rs.Vector("y", dm)), (m, n))
    if made is None:
        return nothing_ran()
    A, x, y = made
    same = python_name(m) == python_name(n)
    sizes = {m: 7} if sized else None
    fn = rs.compile(y @ A @ x + rs.sum(rs.reshape(A, (A.shape[0] * A.shape[1],))), sizes=sizes)
    Av = np.arange(9.0 if same else 12.0).reshape((3, 3) if same else (4, 3)) / 10
    xv, yv = np.ones(3), np.linspace(0, 1, Av.shape[0])
    np.testing.assert_allclose(fn(A=Av, x=xv, y=yv), yv @ Av @ xv + Av.sum())
    assert fn.dim_names == sorted({python_name(m), python_name(n)})
    nothing_ran()


@settings(FUZZ)
@given(label=NAMES, seed=st.integers(0, 2**16))
def test_constant_labels(label, seed):
    """``rs.const(a, name=label)``: refused unless an identifier; a label made inside ricci (unchecked) still
    reaches the kernel only in a one-line comment."""
    x = rs.Vector("x", 3)
    values = np.random.default_rng(seed).normal(size=3)
    c = value_of(lambda: rs.const(values, name=label), (label,))
    for const in ([c] if c is not None else []) + [_nodes.const(values, label)]:
        fn = rs.compile(const @ x + rs.sum(rs.exp(const * x)))
        np.testing.assert_allclose(fn(x=np.ones(3)), values.sum() + np.exp(values).sum(), rtol=1e-12)
        tree = ast.parse(fn.source)
        assert [type(node).__name__ for node in tree.body] == ["FunctionDef"]
        assert sum("# " in line for line in fn.source.splitlines()) == 1  # the one comment, still one line
    nothing_ran()


COEFFICIENTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, math.inf, -math.inf, math.nan, 1e308, 5e-324, -0.0]),
)


def as_float(c):
    try:
        return float(c)
    except OverflowError:
        return math.inf if c > 0 else -math.inf


@settings(FUZZ)
@given(a=COEFFICIENTS, b=COEFFICIENTS, c=COEFFICIENTS)
def test_numbers_in_code(a, b, c):
    """Any coefficient, infinities, NaN and ints beyond the float range included, is written as code that
    computes what NumPy computes from the float64 values."""
    x = rs.Vector("x", 3)
    made = value_of(lambda: a * (x @ x) + b + rs.full(3, c) @ x, ())
    assert made is not None
    xv = np.array([0.5, -1.0, 2.0])
    with np.errstate(all="ignore"):
        expected = as_float(a) * (xv @ xv) + as_float(b) + np.full(3, as_float(c)) @ xv
        fn = rs.compile(made, variables=[x])
        got = fn(x=xv)
    assert "inf" not in fn.source.replace("xp.inf", "")
    # a product of a coefficient and an entry of x beyond the float range (2^1023 * 2) may overflow in one order
    # of summation and not in another (BLAS's dot fuses multiply and add): no value to compare then
    edge = any(abs(as_float(k)) > np.finfo(float).max / 16 for k in (a, c) if math.isfinite(as_float(k)))
    if math.isfinite(expected) and not edge:
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-300)
    elif math.isfinite(expected):  # finite or overflowed to inf, never NaN (nothing here is inf - inf)
        assert not np.isnan(got)
    else:  # inf - inf is nan in any order; inf stays inf where nothing cancels it
        assert np.isnan(got) or got == expected or np.isnan(expected)
    nothing_ran()


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 25))
@given(a=IDENTIFIERS, b=IDENTIFIERS, label=st.one_of(IDENTIFIERS, HOSTILE), fn_name=NAMES,
       seed=st.integers(0, 2**16))
def test_export(a, b, label, fn_name, seed):
    """``rs.export`` with hostile variable names, a hostile label (made inside ricci, unchecked) and a hostile
    function name: refused, or a module whose function computes the value and derivatives NumPy computes."""
    made = value_of(lambda: (rs.Matrix(a, "n", "n"), rs.Vector(b, "n")), (a, b))
    if made is None:
        return nothing_ran()
    A, x = made
    assume(A.name != x.name)
    values = np.random.default_rng(seed).normal(size=3)
    f = x @ A @ x + _nodes.const(values, label) @ x + rs.sum(rs.softplus(x))
    try:
        text = rs.export(f, wrt=[x], order=2, name=fn_name)
    except ValueError as exc:
        event("the function's name refused")
        name = python_name(fn_name)
        assert name is None or keyword.iskeyword(name) or name.startswith("_") or "taken" in str(exc), exc
        return nothing_ran()
    ns = {}
    exec(compile(text, "exported", "exec"), ns)
    Av, xv = np.random.default_rng(seed + 1).normal(size=(3, 3)), np.random.default_rng(seed + 2).normal(size=3)
    out = ns[python_name(fn_name)](**{A.name: Av, x.name: xv})
    s = 1 / (1 + np.exp(-xv))
    np.testing.assert_allclose(out["value"], xv @ Av @ xv + values @ xv + np.logaddexp(0, xv).sum(), rtol=1e-10)
    np.testing.assert_allclose(out[f"d_{x.name}"], (Av + Av.T) @ xv + values + s, rtol=1e-10)
    np.testing.assert_allclose(out[f"d2_{x.name}"], Av + Av.T + np.diag(s * (1 - s)), rtol=1e-10, atol=1e-12)
    nothing_ran()


@st.composite
def contractions(draw):
    """An Einstein product of 2-7 operands over up to 9 indices (sizes 1-3), as index lists and an output."""
    n_ix = draw(st.integers(1, 9))
    sizes = draw(st.lists(st.integers(1, 3), min_size=n_ix, max_size=n_ix))
    ops = draw(st.lists(st.lists(st.integers(0, n_ix - 1), min_size=0, max_size=3, unique=True),
                        min_size=2, max_size=7))
    used = sorted({ix for op in ops for ix in op})
    output = draw(st.lists(st.sampled_from(used), unique=True, max_size=3)) if used else []
    return ops, output, sizes


@settings(FUZZ)
@given(case=contractions(), seed=st.integers(0, 2**16))
def test_greedy_contraction_order(case, seed):
    """The order planned without einsum's letters (for more than 52 indices) is a valid pairwise order:
    contracting along it, keeping what a later operand or the output needs, gives np.einsum's result."""
    ops, output, sizes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=[sizes[ix] for ix in op]) for op in ops]
    path = _lower.greedy_path(ops, output, lambda ix: sizes[ix])
    terms = list(zip(arrays, [list(op) for op in ops]))
    for i, j in path:
        assert i < j < len(terms)
        (a, ia), (b, ib) = terms[i], terms[j]
        rest = {ix for k, (_, idx) in enumerate(terms) if k not in (i, j) for ix in idx} | set(output)
        kept = [ix for ix in dict.fromkeys(ia + ib) if ix in rest]
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [(np.einsum(a, ia, b, ib, kept), kept)]
    assert len(terms) == 1
    (result, idx), = terms
    np.testing.assert_allclose(np.einsum(result, idx, output), np.einsum(*[v for pair in zip(arrays, ops)
                                                                          for v in pair], output), atol=1e-12)


@settings(FUZZ, max_examples=3)
@given(k=st.integers(52, 64), seed=st.integers(0, 2**16))
def test_long_chains_compile(k, seed):
    """``x'*A^k*x`` with k >= 52 (k + 1 indices): planned greedily, a chain of matrix-vector products."""
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "n", "n")
    rng = np.random.default_rng(seed)
    Av, xv = rng.normal(size=(3, 3)) / 2, rng.normal(size=3)
    got = rs.compile(x @ rs.matrix_power(A, k) @ x)(x=xv, A=Av)
    np.testing.assert_allclose(got, xv @ np.linalg.matrix_power(Av, k) @ xv, rtol=1e-9, atol=1e-300)
