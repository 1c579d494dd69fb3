"""The matrix language and element-wise formulas under hostile and careless input: random text and random
token streams into ``rs.parse``, hostile formulas into ``rs.elementwise``, and the round trip
``rs.parse(str(e)) is e`` (issue "Reliability and security", items 1, 10, 11 and 14).

Before: ``rs.elementwise("f", "__import__('os').system(...) + x")`` ran the command (sympify evaluates
Python); 170 nested parentheses raised RecursionError, ``0/0`` ZeroDivisionError, ``A^1e400`` OverflowError;
``A^1e20`` never finished; ``sign(inf*eye)'`` printed ``inf``, which parsed back as a vector. Now every text
gives an expression or a ParseError (DimensionError for a size conflict) within the deadline, a formula is
parsed, never run, and what the printer writes parses back to the same node.
"""

import builtins
import functools
import math
import os
import tempfile
from fractions import Fraction

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import ricci.symbolic as rs
from ricci.symbolic._nodes import topological
from ricci.symbolic._parse import FUNCTIONS, MAX_NESTING

FUZZ = settings.get_profile("ricci-fuzz")


def parse_outcome(text, **shapes):
    """rs.parse(text), which must return an expression or raise a ParseError or DimensionError (ValueErrors
    with a message), never anything else."""
    try:
        e = rs.parse(text, **shapes)
    except (rs.ParseError, rs.DimensionError) as exc:
        assert str(exc).strip(), "an error without a message"
        event(f"refused: {type(exc).__name__}")
        return None
    assert isinstance(e, (rs.Expr, rs.ParsedConstraint))  # a comparison reads as a constraint
    event("parsed")
    return e


# -- random text and random token streams -------------------------------------------------------------------

NAMES = ["x", "y", "z", "w", "A", "B", "M", "X", "a", "c", "lam", "eye", "inf", "nan", "n", "_q", "sum"]
NUMBERS = ["0", "1", "2", "0.5", "3", "1e-3", "6.626e-34", "1e400", "64", "65", "1e20", "007", "2.", ".5",
           "9" * 30, "1" + "0" * 5000]
OPERATORS = ["+", "-", "*", "/", "^", ".*", "./", ".^", "'", "(", ")", ",", "(", ")", "-", "^"]
CALLS = [f + "(" for f in FUNCTIONS]
TOKENS = NAMES + NUMBERS + OPERATORS + CALLS + list(FUNCTIONS[:4])
LANGUAGE_CHARACTERS = "xyzAXac ()+-*/^.',0123456789eE_"

TOKEN_STREAMS = st.tuples(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from([" ", ""])).map(
    lambda t: t[1].join(t[0]))
SHAPES = st.dictionaries(st.sampled_from(["x", "A", "a", "lam", "inf", "w", "X"]),
                         st.sampled_from([(), "n", 3, ("n", "n"), (2, 3), ("m",), (3, 3), 0]), max_size=3)


@settings(FUZZ)
@given(text=st.one_of(st.text(alphabet=LANGUAGE_CHARACTERS, max_size=40), st.text(max_size=30)))
def test_random_text_parses_or_is_refused_with_a_parse_error(text):
    parse_outcome(text)


@settings(FUZZ)
@given(text=TOKEN_STREAMS)
def test_random_token_streams_parse_or_are_refused_with_a_parse_error(text):
    parse_outcome(text)


@settings(FUZZ)
@given(text=TOKEN_STREAMS, shapes=SHAPES)
def test_random_token_streams_with_declared_shapes(text, shapes):
    parse_outcome(text, **shapes)


NESTINGS = {  # (before, after) the innermost "x", repeated
    "parentheses": ("(", ")"), "calls": ("exp(", ")"), "signs": ("-", ""), "exponents": ("2^", ""),
    "transposes": ("", "'"), "sums": ("", "+x"), "quotients": ("", "/2"), "mixed": ("-(exp(", "')+1)"),
}


@settings(FUZZ, max_examples=30)
@given(kind=st.sampled_from(sorted(NESTINGS)), depth=st.integers(0, 400))
def test_deep_nesting_is_refused_with_a_parse_error_not_a_recursion_error(kind, depth):
    before, after = NESTINGS[kind]
    e = parse_outcome(before * depth + "x" + after * depth)
    if kind in ("signs", "transposes", "sums", "quotients"):  # read in a loop: no limit
        assert e is not None
    elif depth <= MAX_NESTING // 2 and kind != "exponents":  # an exponent must be a number: 2^(2^x) is refused
        assert e is not None


def test_nesting_at_the_limit_parses_prints_and_differentiates():
    x = rs.Vector("x", "n")
    for before, after, levels in [("(", ")", 1), ("exp(", ")", 1), ("-(exp(", "')+1)", 2)]:
        reps = MAX_NESTING // levels
        e = rs.parse(before * reps + "x" + after * reps)
        assert str(e) and rs.jacobian(e, x) is not None
    with pytest.raises(rs.ParseError, match=f"more than {MAX_NESTING} deep"):
        rs.parse("(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1))


def test_long_chains_have_no_limit():
    assert rs.parse(" + ".join(["x"] * 3000)) is 3000 * rs.Vector("x", "n")
    assert rs.parse("-" * 3001 + "x") is -rs.Vector("x", "n")
    assert rs.parse("A" + "'" * 3001) is rs.parse("A'") and rs.parse("A" + "'" * 3000) is rs.parse("A")
    assert rs.parse("a^(" + "/".join(["2"] * 2000) + ")") is not None


# -- element-wise formulas: parsed, never run --------------------------------------------------------------

SENTINEL = "RICCI_FUZZ_FORMULA_RAN"
MARKER = os.path.join(tempfile.gettempdir(), f"ricci-fuzz-formula-{os.getpid()}")
PAYLOADS = [
    f"__import__('os').system('touch {MARKER}') + x",
    f"__import__('builtins').__setattr__('{SENTINEL}', 1) or x",
    f"(lambda: __import__('builtins').__setattr__('{SENTINEL}', 1))() + x",
    f"exp(__import__('os').system('touch {MARKER}'))",
    f"x + eval(\"__import__('builtins').__setattr__('{SENTINEL}', 1)\")",
    f"x + exec(\"import builtins; builtins.{SENTINEL} = 1\")",
    f"open('{MARKER}', 'w').write('x') * x",
    "x.__class__.__mro__[1].__subclasses__()",
    f"getattr(__builtins__, 'setattr')(__builtins__, '{SENTINEL}', 1)",
    f"[builtins for builtins in [__import__('builtins')] if setattr(builtins, '{SENTINEL}', 1)] and x",
    f"x; __import__('builtins').{SENTINEL} = 1",
    f"x\n__import__('builtins').{SENTINEL} = 1",
    f"x # __import__('builtins').{SENTINEL} = 1",
    f"sin(x, __import__('builtins').__setattr__('{SENTINEL}', 1))",
    f"sin(x=__import__('builtins').__setattr__('{SENTINEL}', 1))",
    "Symbol('y') + x", "Integer(2)**x", "9**9**9**9*x", "2**10**10 + x", "x**2**-1e400", "1e400*x", "x/0",
    "x/(x - x)", "0**-1", "(-8)**0.5", "Abs(x)", "Max(x, 0)", "pi*x + E", "x^2", "x**-1", "1j*x", "True*x",
    "'x'", "x if x else 1", "x @ x", "x % 2", "~x", "not x", "x < 1", "(x := 1)", "f'{x}'", "x\x00",
    "(" * 500 + "x" + ")" * 500, "-" * 5000 + "x", "exp(" * 120 + "x" + ")" * 120, "1" * 5000 + "*x",
]
FORMULA_TOKENS = ["x", "exp", "log", "sigmoid", "relu", "abs", "pi", "E", "2", "0.5", "1e-300", "1e300", "(",
                  ")", "+", "-", "*", "/", "**", "^", ",", ".", "__import__", "'os'", "system", "lambda", ":",
                  "[", "]", "=", "__class__", "builtins", "eval", "y", " "]


def nothing_ran():
    ran = hasattr(builtins, SENTINEL)
    if ran:
        delattr(builtins, SENTINEL)
    created = os.path.exists(MARKER)
    if created:
        os.remove(MARKER)
    assert not ran and not created, "a formula ran as Python"


@settings(FUZZ)
@given(body=st.one_of(st.sampled_from(PAYLOADS),
                      st.lists(st.sampled_from(FORMULA_TOKENS), max_size=20).map("".join),
                      st.text(max_size=30)))
def test_hostile_formulas_are_parsed_never_run(body):
    try:
        op = rs.elementwise("fuzzed", body)
    except ValueError as exc:
        assert "element-wise function" in str(exc) or "array-API" in str(exc), str(exc)
        event("refused")
    else:
        assert isinstance(op, rs.ElementwiseOp)
        event("defined")
    finally:
        nothing_ran()


def test_every_payload_is_refused_and_none_runs():
    for body in PAYLOADS:
        if body.startswith("x #") or body in ("pi*x + E", "x^2", "x**-1"):
            rs.elementwise("fuzzed", body)  # a comment is no code; the others are formulas
        else:
            with pytest.raises(ValueError, match="element-wise function"):
                rs.elementwise("fuzzed", body)
        nothing_ran()


def test_a_body_that_is_not_a_string_is_never_read_as_text():
    class Sly:
        def __str__(self):
            return f"__import__('builtins').__setattr__('{SENTINEL}', 1) or x"

    for body in (Sly(), [rs.x_symbol], {"x": 1}, b"x"):
        with pytest.raises(TypeError, match="expected the body"):
            rs.elementwise("fuzzed", body)
        nothing_ran()


# -- the round trip: what the printer writes parses back to the same node -------------------------------------

A, B, M = rs.Matrix("A", "n", "n"), rs.Matrix("B", "n", "n"), rs.Matrix("M", "m", "n")
x, y, z = rs.Vector("x", "n"), rs.Vector("y", "n"), rs.Vector("z", "m")
c, d = rs.Scalar("c"), rs.Scalar("d")
DECLARED = dict(A=("n", "n"), B=("n", "n"), M=("m", "n"), x="n", y="n", z="m", c=(), d=())

# inf and nan are numbers of the language, but sums and products of them are not canonical (inf*2 is inf,
# nan is not nan): their round trips are the cases at the end. Exponents with a denominator other than a power
# of 2 print as a float (1/3 as 0.3333333333333333) and come back as that float: a known printer issue, ibid.
CONSTANTS = [2, 3, -1, 0.5, Fraction(1, 3), 0.1, 1e-40, 6.626e-34, 1e300, 2**70, 0]
EXPONENTS = [2, 3, -1, -2, 0.5, 1.5, -0.25]
ELEMENTWISE = [rs.exp, rs.log, rs.log1p, rs.expm1, rs.sqrt, rs.sin, rs.cos, rs.tan, rs.arcsin, rs.arccos,
               rs.arctan, rs.tanh, rs.sigmoid, rs.softplus, rs.abs, rs.sign, rs.relu]


def built(f, *operands):
    """st.builds(f, ...), leaving out what Python refuses to build (a division by a constant 0)."""
    def safely(*args):
        try:
            return f(*args)
        except ZeroDivisionError:
            return None
    return st.builds(safely, *operands).filter(lambda e: e is not None)


@functools.lru_cache(maxsize=None)
def language(kind, depth):
    """Random expressions built only from what the language can write (n-vectors, n x n matrices, scalars,
    with M (m x n) and z (m) reached through products)."""
    number = st.sampled_from(CONSTANTS)
    leaves = {
        "scalar": st.one_of(st.sampled_from([c, d]), number.map(rs.const)),
        "vector": st.one_of(st.sampled_from([x, y]), number.map(lambda v: rs.full(("n",), v))),
        "matrix": st.one_of(st.sampled_from([A, B, rs.eye("n")]), number.map(lambda v: rs.full(("n", "n"), v))),
    }[kind]
    if depth == 0:
        return leaves
    sub = functools.partial(language, depth=depth - 1)
    fn = st.sampled_from(ELEMENTWISE)
    p = st.sampled_from(EXPONENTS)
    options = {
        "scalar": [st.builds(lambda a, b: a @ b, sub("vector"), sub("vector")), st.builds(rs.trace, sub("matrix")),
                   st.builds(rs.sum, st.one_of(sub("vector"), sub("matrix"))),
                   st.builds(lambda a, b: a * b, sub("scalar"), sub("scalar")),
                   st.builds(lambda a, b: a - b, sub("scalar"), sub("scalar")),
                   built(lambda a, b: a / b, sub("scalar"), sub("scalar")),
                   st.builds(rs.det, sub("matrix")), st.builds(rs.logdet, sub("matrix")),
                   st.builds(lambda f, a: f(a), fn, sub("scalar")), st.builds(rs.norm2, sub("vector")),
                   st.builds(rs.norm1, sub("vector")), st.builds(rs.logsumexp, sub("vector")),
                   st.builds(lambda a, q: a**q, sub("scalar"), p),
                   st.builds(lambda a, m, b: a @ m @ b, sub("vector"), sub("matrix"), sub("vector"))],
        "vector": [st.builds(lambda m, v: m @ v, sub("matrix"), sub("vector")),
                   st.builds(lambda a, b: a + b, sub("vector"), sub("vector")),
                   st.builds(lambda a, b: a * b, sub("vector"), sub("vector")),
                   built(lambda a, b: a / b, sub("vector"), sub("vector")),
                   st.builds(lambda s, v: s * v, sub("scalar"), sub("vector")),
                   st.builds(lambda f, a: f(a), fn, sub("vector")), st.builds(rs.diag, sub("matrix")),
                   st.builds(lambda v, m: v @ m, sub("vector"), sub("matrix")),
                   st.builds(lambda a, q: a**q, sub("vector"), p),
                   st.builds(lambda v: M.T @ (z * rs.tanh(M @ v)), sub("vector"))],
        "matrix": [st.builds(lambda a, b: a @ b, sub("matrix"), sub("matrix")),
                   st.builds(lambda a, b: a - b, sub("matrix"), sub("matrix")),
                   st.builds(rs.outer, sub("vector"), sub("vector")), st.builds(rs.diag, sub("vector")),
                   st.builds(lambda a: a.T, sub("matrix")), st.builds(rs.inv, sub("matrix")),
                   st.builds(lambda a, b: a * b, sub("matrix"), sub("matrix")),
                   built(lambda a, s: a / s, sub("matrix"), sub("scalar")),
                   st.builds(rs.matrix_power, sub("matrix"), st.sampled_from([-2, -1, 0, 2, 3])),
                   st.builds(lambda a, q: a**q, sub("matrix"), p),
                   st.builds(lambda f, a: f(a), fn, sub("matrix")),
                   st.builds(lambda v: M.T @ rs.diag(rs.exp(M @ v)) @ M, sub("vector"))],
    }[kind]
    return st.one_of([leaves] + options)


def has_fresh_dimension(e) -> bool:
    """True when parsing had to invent a dimension (a constant whose size no operand fixes)."""
    return any(str(s) not in ("n", "m") for node in topological([e]) for dim in node.shape
               if not isinstance(dim, int) for s in dim.free_symbols)


@settings(FUZZ)
@given(e=st.sampled_from(["scalar", "vector", "matrix"]).flatmap(lambda k: language(k, 3)))
def test_what_the_printer_writes_parses_back_to_the_same_node(e):
    text = str(e)
    assume("[" not in text)  # index notation is for reading, not parsing
    assume("inf" not in text and "nan" not in text)  # an overflow: inf*2 is inf, nan is not nan (cases below)
    back = rs.parse(text, **DECLARED)
    if back is not e and has_fresh_dimension(back):
        event("a constant took a fresh size")
        return  # vector(c), matrix(c) and eye take their size from context, which a product may not give
    if back is not e and str(back) == text and has_repeated_operands(e):
        event("known: a product with interchangeable operands (KNOWN case 1)")
        return  # two canonical forms, one text; kept visible as the strict xfail known-1 below
    assert back is e, f"{text!r} parsed back as {str(back)!r}"


def has_repeated_operands(e) -> bool:
    """Whether some product in e holds one operand more than once (x'*B*B*x has B twice): such a product
    can have two canonical forms (KNOWN case 1); found again by the long profile."""
    seen, stack = set(), [e]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        operands = getattr(node, "operands", None)
        if operands is not None and len(set(map(id, operands))) < len(operands):
            return True
        stack.extend(node.children())
    return False


# -- cases that once failed, and the known ones that still do ----------------------------------------------------


def test_inf_and_nan_are_numbers_unless_declared():
    assert rs.parse("inf") is rs.const(math.inf) and rs.parse("-inf*x") is -math.inf * x
    assert math.isnan(rs.parse("nan").value)
    for e in (rs.parse("sign(inf*eye)'", **DECLARED), rs.full(("n",), math.inf) + x, rs.const(-math.inf) * A):
        assert rs.parse(str(e), **DECLARED) is e, str(e)  # before: inf read back as a vector
    assert rs.parse("inf", inf="n") is rs.Vector("inf", "n")  # a declared name is a variable
    with pytest.raises(rs.ParseError, match="finite"):
        rs.parse("c^inf", **DECLARED)


def test_a_float_sum_has_one_normal_form_whatever_order_built_it():
    u = 1e40 * y + rs.full(("n",), 1)
    e = 1e-40 * (1e-40 * rs.outer(u, y))  # before: came back as 9.999999999999998e-81*(9.999999999999999e+39*y + ...)
    assert rs.parse(str(e), **DECLARED) is e, str(e)
    ones, M1 = rs.full(("n",), 1), rs.full(("n", "n"), 1)
    assert 2 * ((B - 0.5 * M1) @ ones) is (2 * (B - 0.5 * M1)) @ ones  # before: two nodes (a row sum is a product)


def test_a_function_of_a_scaled_argument_is_one_node():
    assert rs.sqrt(rs.exp(x)) is rs.exp(x / 2) is rs.exp(0.5 * x)  # before: exp(x/2) applied to x, and exp to x/2
    e = rs.exp(0.5 * (M.T @ (rs.tanh(M @ x) * z)))
    assert rs.parse(str(e), **DECLARED) is e


KNOWN = [  # (expression, why its text does not parse back to it): for the printer, the simplifier, _nodes
    (lambda: rs.parse("(matrix(2)^3+matrix(2)^3)'"),
     "printer: 16*sum(vector(1))*(matrix(1)'*vector(1))*vector(1)' loses the sizes the fills share"),
    (lambda: (rs.full(("n",), 1) @ A @ x) * (rs.full(("n",), 1) @ A @ x),
     "_nodes: a product with interchangeable operands (x twice, A twice) has two canonical forms"),
    (lambda: 2 * ((Fraction(1, 3) * rs.sum(x) * rs.full(("n",), 1) + 0.1 * rs.full(("n",), 1)) @ A
                  @ rs.full(("n",), 1)),
     "simplifier: 2*(S*v) keeps 2 outside, (2*S)*v multiplies it into S, when S cannot be scaled to lead 1"),
    (lambda: rs.parse("nan*x", **DECLARED), "nan is not nan: each nan coefficient is a new number"),
]


FIXED = [  # cases that once failed: the printer wrote another value, or a rational as a float
    (lambda: x ** Fraction(1, 3), "x.^(1/3)"),
    (lambda: rs.exp(2 / (d - c)), "exp(2*(d - c).^(-1))"),
    # cos(-u) fused into one function cos(1/x) printed as the chain it parses back to only without the minus
    (lambda: rs.cos(-(x ** -1)), "cos(x.^(-1))"),
    (lambda: rs.cos(-rs.exp(x)), "cos(exp(x))"),
]


@pytest.mark.parametrize("build, text", FIXED, ids=[f"fixed-{k}" for k in range(len(FIXED))])
def test_cases_that_once_failed_round_trip(build, text):
    e = build()
    assert str(e) == text
    assert rs.parse(text, **DECLARED) is e


@pytest.mark.parametrize("build, why", KNOWN, ids=[f"known-{k}" for k in range(len(KNOWN))])
def test_known_round_trip_failures(build, why):
    e = build()
    back = rs.parse(str(e), **DECLARED)
    if back is not e:
        pytest.xfail(why)
    pytest.fail(f"{str(e)!r} now parses back to itself: move it out of KNOWN ({why})")
