"""Element-wise scalar functions, defined once as sympy expressions in one real variable ``x``.

sympy supplies the derivative of any order; this module adds the functions sympy lacks or differentiates in
a way that is wrong for optimisation (``sign`` whose derivative we take as 0 almost everywhere rather than a
Dirac delta) and a printer that turns an expression into array-API code with numerically stable forms:
``sigmoid(x) = 1/(1+exp(-|x|))`` or ``exp(-|x|)/(1+exp(-|x|))`` by the sign of ``x``, and
``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, so neither overflows for margins of +-1000.
"""

from __future__ import annotations

import ast
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p

X = sympy.Symbol("x", real=True)


class sigmoid(sympy.Function):
    """The logistic function 1/(1+exp(-x)); sigmoid' = sigmoid*(1-sigmoid)."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sympy.Rational(1, 2)


class softplus(sympy.Function):
    """log(1+exp(x)); softplus' = sigmoid."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sympy.log(2)


class step(sympy.Function):
    """The Heaviside step (1 for x > 0, else 0); its derivative is 0 almost everywhere."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class sign(sympy.Function):
    """sign(x) in {-1, 0, 1}; its derivative is 0 almost everywhere."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class relu(sympy.Function):
    """max(x, 0); relu' = step."""

    def fdiff(self, argindex=1):
        return step(self.args[0])


class absolute(sympy.Function):
    """|x|; its derivative is sign(x)."""

    def fdiff(self, argindex=1):
        return sign(self.args[0])


#: The functions a user may call inside ``rs.elementwise(name, "...")`` and the sympy functions they denote
#: (the constants pi and E are in ``_CONSTANTS``).
SYMPY_NAMES = {
    "exp": sympy.exp, "log": sympy.log, "log1p": log1p, "expm1": expm1, "sqrt": sympy.sqrt,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "sigmoid": sigmoid, "softplus": softplus,
    "abs": absolute, "sign": sign, "relu": relu, "step": step,
}

# Array-API spelling of each sympy function (all in the standard's main namespace).
_XP_NAMES = {
    sympy.exp: "exp", sympy.log: "log", log1p: "log1p", expm1: "expm1", sympy.sin: "sin", sympy.cos: "cos",
    sympy.tan: "tan", sympy.asin: "asin", sympy.acos: "acos", sympy.atan: "atan", sympy.sinh: "sinh",
    sympy.cosh: "cosh", sympy.tanh: "tanh", absolute: "abs", sign: "sign",
}
# Functions needing a helper defined in the generated module (stable or piecewise forms).
HELPERS = {
    sigmoid: (
        "_sigmoid",
        "def _sigmoid(xp, x):\n"
        "    e = xp.exp(-xp.abs(x))\n"
        "    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))\n",
    ),
    softplus: (
        "_softplus",
        "def _softplus(xp, x):\n"
        "    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))\n",
    ),
    relu: ("_relu", "def _relu(xp, x):\n    return xp.maximum(x, xp.zeros_like(x))\n"),
    step: ("_step", "def _step(xp, x):\n    return xp.astype(x > 0, x.dtype)\n"),
}


class CodegenError(ValueError):
    """An element-wise expression uses something that has no array-API translation."""


def to_code(expr: sympy.Expr, arg: str, helpers: set) -> str:
    """Array-API code for ``expr`` with ``x`` replaced by the array named ``arg``.

    Helper functions needed (stable sigmoid, ...) are added to ``helpers`` by their sympy class.
    """
    return _Printer(arg, helpers).code(expr)


class _Printer:
    def __init__(self, arg: str, helpers: set):
        self.arg = arg
        self.helpers = helpers

    def code(self, e) -> str:
        if e == X:
            return self.arg
        if e.is_Number or e in (sympy.pi, sympy.E):
            return repr(float(e)) if not e.is_Integer else str(int(e))
        if e.is_Add:
            parts = [self.code(a) for a in sympy.Add.make_args(e)]
            return "(" + " + ".join(parts) + ")"
        if e.is_Mul:
            num, den = [], []
            for f in sympy.Mul.make_args(e):
                if f.is_Pow and f.exp.is_Number and f.exp < 0:
                    den.append(self.code(sympy.Pow(f.base, -f.exp)))
                elif f.is_Rational and not f.is_Integer and f.p == 1:
                    den.append(str(int(f.q)))
                else:
                    num.append(self.code(f))
            text = " * ".join(num) if num else "1"
            if den:
                text += " / " + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
            return "(" + text + ")"
        if e.is_Pow:
            base, ex = e.base, e.exp
            if ex == sympy.Rational(1, 2):
                return f"xp.sqrt({self.code(base)})"
            if ex == -1:
                return f"(1 / {self.code(base)})"
            if ex == 2:
                b = self.code(base)
                return f"({b} * {b})" if b.isidentifier() else f"({b} ** 2)"
            if base == sympy.E:
                return f"xp.exp({self.code(ex)})"
            if ex.is_Number:
                return f"({self.code(base)} ** {self.code(ex)})"
            return f"xp.pow({self.code(base)}, {self.code(ex)})"
        func = e.func
        if func in _XP_NAMES:
            return f"xp.{_XP_NAMES[func]}({self.code(e.args[0])})"
        if func in HELPERS:
            self.helpers.add(func)
            return f"{HELPERS[func][0]}(xp, {self.code(e.args[0])})"
        raise CodegenError(f"no array-API translation for {e} (in an element-wise function)")


@dataclass(frozen=True, eq=False)
class ElementwiseFunction:
    """f: R -> R as a sympy expression in ``x``; interned, so equal functions are one object."""

    expr: sympy.Expr
    name: str | None  # a registered name whose expression this is, e.g. "tanh"

    @property
    def display(self) -> str:
        return self.name if self.name else str(self.expr)

    def derivative(self) -> "ElementwiseFunction":
        """f' (interned functions live for the session, and so does this table of their derivatives)."""
        d = _DERIVATIVES.get(self)
        if d is None:
            d = _DERIVATIVES[self] = function_of(sympy.diff(self.expr, X))
        return d

    def numeric(self, value: float) -> float:
        """f(value) evaluated in float64 through the same generated code (used for constant folding)."""
        helpers: set = set()
        src = to_code(self.expr, "v", helpers)
        ns = {"xp": np}
        for h in helpers:
            exec(HELPERS[h][1], ns)
        with np.errstate(all="ignore"):
            return float(eval(src, ns, {"v": np.float64(value)}))

    def __repr__(self):
        return f"ElementwiseFunction({self.display})"


_FUNCTIONS: dict = {}
_DERIVATIVES: dict = {}  # function -> its derivative
_NAMED: dict = {}  # sympy expr -> user-visible name


def _canonical(expr):
    """Use this module's non-smooth functions, whose derivatives are the a.e. ones (sign' = 0, not a Dirac)."""
    if expr.has(sympy.Abs, sympy.sign, sympy.Heaviside):
        expr = expr.replace(sympy.Abs, absolute).replace(sympy.sign, sign).replace(sympy.Heaviside, step)
    return expr


def function_of(expr) -> ElementwiseFunction:
    """The interned element-wise function for the sympy expression ``expr`` in ``x``."""
    expr = _canonical(sympy.sympify(expr, strict=True))
    fn = _FUNCTIONS.get(expr)
    if fn is None:
        extra = expr.free_symbols - {X}
        if extra:
            raise ValueError(
                f"an element-wise function may use only the variable x, got {expr} with {sorted(map(str, extra))}"
            )
        fn = ElementwiseFunction(expr, _NAMED.get(expr))
        to_code(expr, "x", set())  # fail early if it cannot be compiled
        _FUNCTIONS[expr] = fn
    return fn


def register(name: str, expr) -> ElementwiseFunction:
    """Give the function ``expr`` (in ``x``) the display name ``name`` everywhere: for the built-in functions
    (tanh, sigmoid, ...), registered once when this module loads."""
    expr = _canonical(sympy.sympify(expr, strict=True))
    existing = _FUNCTIONS.get(expr)
    if existing is not None and existing.name is None:
        _FUNCTIONS.pop(expr)
    _NAMED[expr] = name
    return function_of(expr)


_USER: dict = {}  # (expr, name) -> a user's named function


def user_function(name: str, expr) -> ElementwiseFunction:
    """A user's function ``name`` for ``expr``: its own object, so that naming it leaves every other use of
    the same formula as it was (``rs.elementwise("sq", "x^2")`` does not make ``u.^2`` print as ``sq(u)``)."""
    fn = function_of(expr)  # validates the formula, and shares its derivatives' table entry
    key = (fn.expr, name)
    named = _USER.get(key)
    if named is None:
        named = _USER[key] = ElementwiseFunction(fn.expr, name)
    return named


#: The constants a function body may name.
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
#: How deeply a function body may nest (parentheses, calls, operators); deeper is refused, not a RecursionError.
MAX_FORMULA_DEPTH = 100
#: An integer power of an integer constant is computed exactly up to this many bits, in floating point beyond.
_EXACT_POWER_BITS = 4096


def parse_function(text: str) -> sympy.Expr:
    """Parse a user's function body such as ``"x*sigmoid(x)"`` into a sympy expression in ``x``.

    The body is read by a parser of the formula language only, never evaluated: numbers, ``x``, the
    constants ``pi`` and ``E``, ``+ - * / ** ^``, parentheses and calls of one argument to the functions of
    :data:`SYMPY_NAMES`. Python's ``ast`` module tokenizes and parses (``mode="eval"``), and the sympy
    expression is built from the tree here, node by node, from a whitelist of node types; anything else
    (attributes, subscripts, keywords, other names, lambdas, strings, ...) is a ValueError naming it.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the function body as a string in x, got {type(text).__name__}")
    # '^' is the power, binding as tightly as '**' (in Python it is a loose exclusive or: x^2 + 1 = x^(2+1))
    source = text.strip().replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse element-wise function {_clip(text)}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, 5000-digit literals, deep nesting
        raise ValueError(f"cannot parse element-wise function {_clip(text)}: {exc}") from None
    try:
        expr = _Formula(text, source).build(tree.body, 0)
    except (ArithmeticError, RecursionError) as exc:  # e.g. a 4000-digit integer that no float holds
        raise ValueError(f"cannot parse element-wise function {_clip(text)}: {exc}") from None
    undefined = [str(u) for u in (sympy.zoo, sympy.oo, sympy.nan, sympy.I) if expr.has(u)]
    if undefined:
        raise ValueError(f"element-wise function {_clip(text)} is {expr}, which is not a finite real function "
                         f"(it has {', '.join(undefined)})")
    return expr


def _clip(text: str, width: int = 80) -> str:
    return repr(text) if len(text) <= width else repr(text[:width]) + f" (and {len(text) - width} more characters)"


class _Formula:
    """The sympy expression of a parsed function body (see :func:`parse_function`)."""

    BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.BitXor: "^"}

    def __init__(self, text: str, source: str):
        self.text, self.source = text, source

    def fail(self, node, what: str):
        part = ast.get_source_segment(self.source, node) or type(node).__name__
        raise ValueError(f"cannot parse element-wise function {_clip(self.text)}: {what} (in {_clip(part, 40)}); "
                         "a body is written with numbers, x, pi, E, + - * / ** ^, parentheses and the functions "
                         f"{', '.join(sorted(SYMPY_NAMES))}")

    def build(self, node, depth: int) -> sympy.Expr:
        if depth > MAX_FORMULA_DEPTH:
            self.fail(node, f"it nests more than {MAX_FORMULA_DEPTH} deep")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(node, f"a {type(value).__name__} constant is not a number")
            if isinstance(value, float) and not math.isfinite(value):
                self.fail(node, "the number is not finite")
            return exact_number(value)
        if isinstance(node, ast.Name):
            if node.id == "x":
                return X
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if node.id in SYMPY_NAMES:
                self.fail(node, f"{node.id} is a function: write {node.id}(x)")
            self.fail(node, f"unknown name {node.id!r}: a body may use only the variable x (and the constants pi, E)")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in self.BINARY:
            a, b = self.build(node.left, depth + 1), self.build(node.right, depth + 1)
            op = self.BINARY[type(node.op)]
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                if b.is_zero:
                    self.fail(node, "division by zero")
                return a / b
            return self.power(node, a, b)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name is None:
                self.fail(node, "only the functions listed below may be called, by name")
            if name not in SYMPY_NAMES:
                self.fail(node, f"unknown function {name!r} (ricci has no array-API translation for it)")
            if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                self.fail(node, f"{name} takes one argument")
            return SYMPY_NAMES[name](self.build(node.args[0], depth + 1))
        self.fail(node, f"{_describe(node)} is not part of the formula language")

    def power(self, node, base, exponent) -> sympy.Expr:
        """base ** exponent; for two numbers, exactly only where the result is a modest number (sympy would
        otherwise compute 9**9**9 digit by digit), in float64 beyond."""
        if base.is_Number and exponent.is_Number:
            if base.is_zero and exponent.is_negative:
                self.fail(node, "division by zero")
            if base.is_Integer and exponent.is_Integer and abs(int(exponent)) * max(int(base).bit_length(), 1) \
                    <= _EXACT_POWER_BITS:
                return base**exponent
            try:
                value = float(base) ** float(exponent)
            except (OverflowError, ZeroDivisionError):  # a float overflows, or a huge int is no float
                value = math.inf
            if isinstance(value, complex) or not math.isfinite(value):
                self.fail(node, "the power of these constants is not a finite real number")
            return exact_number(value)
        return base**exponent


_PYTHON_SYNTAX = {
    ast.Mod: "the operator %", ast.FloorDiv: "the operator //", ast.MatMult: "the operator @",
    ast.BitOr: "the operator |", ast.BitAnd: "the operator &", ast.LShift: "the operator <<",
    ast.RShift: "the operator >>", ast.Not: "the operator not", ast.Invert: "the operator ~",
    ast.Attribute: "an attribute", ast.Subscript: "indexing", ast.Lambda: "a lambda", ast.IfExp: "a conditional",
    ast.Compare: "a comparison", ast.BoolOp: "and/or",
}


def _describe(node) -> str:
    key = type(node.op) if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node)
    return _PYTHON_SYNTAX.get(key, f"Python's {type(node).__name__} syntax")


def exact_number(value) -> sympy.Expr:
    """A Python number (int, Fraction or float) as the sympy number of exactly its value.

    Integers and fractions are exact rationals; a float that is exactly a small fraction (0.5, 0.25; the
    rule ``_nodes.normalize_number`` uses for coefficients) becomes that rational, any other float a
    53-bit sympy Float holding the same double: never ``nsimplify``, which rounds 6.626e-34 to 0 and
    0.333333333333333 to 1/3.
    """
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, bool):
        return sympy.Integer(int(value))
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    value = float(value)
    if not math.isfinite(value):
        return {math.inf: sympy.oo, -math.inf: -sympy.oo}.get(value, sympy.nan)
    if value.is_integer() and abs(value) < 2**53:
        return sympy.Integer(int(value))
    fraction = Fraction(value)
    if fraction.denominator <= 1024 and abs(fraction.numerator) < 2**20:
        return sympy.Rational(fraction.numerator, fraction.denominator)
    return sympy.Float(value, precision=53)


_A = sympy.Wild("a")
_RECOGNIZE = [
    (sympy.log(sympy.exp(_A) + 1), softplus(_A)),
    (log1p(sympy.exp(_A)), softplus(_A)),
    (1 / (1 + sympy.exp(-_A)), sigmoid(_A)),
    (sympy.exp(_A) / (1 + sympy.exp(_A)), sigmoid(_A)),
    (sympy.log(sigmoid(_A)), -softplus(-_A)),
]


def recognize(expr):
    """Rewrite known unstable compositions into the stable named functions: log(1+exp(a)) -> softplus(a),
    1/(1+exp(-a)) -> sigmoid(a), log(sigmoid(a)) -> -softplus(-a)."""
    for pattern, replacement in _RECOGNIZE:
        expr = expr.replace(pattern, replacement)
    return expr


def as_number(e):
    """A sympy number as a Python int, Fraction (rationals, exactly) or float (nan for an undefined value)."""
    e = sympy.sympify(e, strict=True)
    if e is sympy.zoo or e is sympy.nan:
        return math.nan
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    return float(e)


def power(p) -> ElementwiseFunction:
    """x ** p for a constant number p, kept exactly (see :func:`exact_number`)."""
    return function_of(X**exact_number(p))


BUILTIN = {
    "exp": sympy.exp(X), "log": sympy.log(X), "log1p": log1p(X), "expm1": expm1(X), "sqrt": sympy.sqrt(X),
    "sin": sympy.sin(X), "cos": sympy.cos(X), "tan": sympy.tan(X), "arcsin": sympy.asin(X),
    "arccos": sympy.acos(X), "arctan": sympy.atan(X), "tanh": sympy.tanh(X), "sigmoid": sigmoid(X),
    "softplus": softplus(X), "abs": absolute(X), "sign": sign(X), "relu": relu(X), "step": step(X),
}
for _name, _expr in BUILTIN.items():
    register(_name, _expr)

