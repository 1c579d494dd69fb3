"""Element-wise scalar functions, defined once as sympy expressions in one real variable ``x``.

sympy supplies the derivative of any order; this module adds the functions sympy lacks or differentiates in
a way that is wrong for optimisation (``sign`` whose derivative we take as 0 almost everywhere rather than a
Dirac delta) and a printer that turns an expression into array-API code with numerically stable forms:
``sigmoid(x) = 1/(1+exp(-|x|))`` or ``exp(-|x|)/(1+exp(-|x|))`` by the sign of ``x``, and
``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, so neither overflows for margins of +-1000.
"""

from __future__ import annotations

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


#: The names a user may use inside ``rs.elementwise(name, "...")`` and the functions they denote.
SYMPY_NAMES = {
    "exp": sympy.exp, "log": sympy.log, "log1p": log1p, "expm1": expm1, "sqrt": sympy.sqrt,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "sigmoid": sigmoid, "softplus": softplus,
    "abs": absolute, "sign": sign, "relu": relu, "step": step, "pi": sympy.pi, "E": sympy.E,
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
    expr = _canonical(sympy.sympify(expr))
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
    """Give the function ``expr`` (in ``x``) the display name ``name``."""
    expr = _canonical(sympy.sympify(expr))
    existing = _FUNCTIONS.get(expr)
    if existing is not None and existing.name is None:
        _FUNCTIONS.pop(expr)
    _NAMED[expr] = name
    return function_of(expr)


def parse_function(text: str) -> sympy.Expr:
    """Parse a user's function body such as ``"x*sigmoid(x)"`` into a sympy expression in ``x``."""
    if not isinstance(text, str):
        raise TypeError(f"expected the function body as a string in x, got {type(text).__name__}")
    try:
        expr = sympy.sympify(text, locals={**SYMPY_NAMES, "x": X})
    except (sympy.SympifyError, SyntaxError, TypeError) as exc:
        raise ValueError(f"cannot parse element-wise function {text!r}: {exc}") from None
    return expr


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
    """A sympy number as a Python int, Fraction (rationals, exactly) or float."""
    e = sympy.sympify(e)
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    return float(e)


def power(p) -> ElementwiseFunction:
    p = sympy.nsimplify(p) if isinstance(p, float) and float(p).is_integer() else sympy.sympify(p)
    return function_of(X**p)


BUILTIN = {
    "exp": sympy.exp(X), "log": sympy.log(X), "log1p": log1p(X), "expm1": expm1(X), "sqrt": sympy.sqrt(X),
    "sin": sympy.sin(X), "cos": sympy.cos(X), "tan": sympy.tan(X), "arcsin": sympy.asin(X),
    "arccos": sympy.acos(X), "arctan": sympy.atan(X), "tanh": sympy.tanh(X), "sigmoid": sigmoid(X),
    "softplus": softplus(X), "abs": absolute(X), "sign": sign(X), "relu": relu(X), "step": step(X),
}
for _name, _expr in BUILTIN.items():
    register(_name, _expr)

