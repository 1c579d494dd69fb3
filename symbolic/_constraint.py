"""Constraints lo <= c(x) <= hi on the flat vector x, with exact derivatives, in scipy's form.

``Constraint(c, wrt, data, lo=..., hi=...)`` binds a constraint expression c (scalar, vector or matrix; its
entries, flattened row-major, are the m constraint values) over the same packing of the variables ``wrt``,
data and sizes as ``Objective`` (the shared machinery is ``_objective._Bound``). Entry i is an equality where
lo_i == hi_i and an inequality otherwise; -inf / inf leave a side free.

Derivatives (Nocedal & Wright (2006), Section 12.3: the Lagrangian's second-order term is sum_i v_i Hess c_i):

* ``fun(x)`` = c(x) flattened (m,), ``jac(x)`` = dc/dx dense (m, n), ``jac_operator(x)`` the same Jacobian as a
  structured ``ricci.solvers`` operator (as ``LeastSquares.jac_operator``: the Jacobian code is shared);
* ``hess(x, v)`` = Hess_x (v'c(x)) = sum_i v_i Hess c_i(x), dense (n, n), and ``hess_operator(x, v)``. The
  symbolic expression sum(v .* c) is differentiated and compiled once, with v a data array (the name
  ``_multiplier``) rebound per call (``Objective.rebind``), so no v costs a new derivative or compilation.

``is_linear`` is read from the expression: c is affine exactly where its second derivative (the derivative of
the Jacobian, hence the Hessian of v'c for every v) simplifies to the zero tensor (the test is structural, so
an affine c written in a way the simplifier cannot reduce is taken as nonlinear; that is safe). ``to_scipy()`` gives ``scipy.optimize.LinearConstraint(A, lo - c(0), hi - c(0))``
for an affine c (c(x) = A x + c(0)) and ``NonlinearConstraint(fun, lo, hi, jac=jac, hess=hess)`` otherwise,
with scipy's convention hess(x, v) = Hessian of v'c(x).

``parse_constraint("sum(x) == 1", x="n")`` reads a constraint in the matrix language: the text is split at its
comparison operators (``<=``, ``>=``, ``==``) and each side is parsed by ``rs.parse`` (nothing is evaluated as
Python); ``"lo <= c <= hi"`` and ``"hi >= c >= lo"`` take constant bounds.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np

from ._codegen import compile as compile_exprs
from ._differentiate import derivative_once
from ._dims import dim_value
from ._nodes import Expr, Fill, Var
from ._objective import LeastSquares, Objective, _Bound
from ._parse import ParseError, parse
from ._simplify import contract

#: The data name under which the multipliers v of ``hess(x, v)`` enter the expression sum(v .* c).
MULTIPLIER = "_multiplier"


@dataclass(frozen=True)
class ParsedConstraint:
    """A constraint read from text: ``lo <= expression <= hi`` (entry-wise; lo == hi for an equality)."""

    expression: Expr
    lo: float
    hi: float
    text: str

    @property
    def is_equality(self) -> bool:
        return self.lo == self.hi


# the comparison operators of the constraint language; '<' or '>' alone, '=' alone, '!=' are refused
_COMPARISON = re.compile(r"<=|>=|==|!=|<|>|=")


def parse_constraint(text: str, **shapes) -> ParsedConstraint:
    """Read ``"lhs <= rhs"``, ``"lhs >= rhs"``, ``"lhs == rhs"`` or ``"lo <= c <= hi"`` (also ``hi >= c >= lo``).

    Each side is parsed by :func:`rs.parse` with the declarations ``shapes``. A one-sided constraint whose one
    side is a constant number keeps the other side as c: ``"x >= 0"`` is c = x with lo = 0, hi = inf;
    otherwise c = lhs - rhs with bounds at 0. In the two-sided form the outer sides must be constant numbers.
    Errors are :class:`ParseError` (a ValueError) naming the text with a caret; a non-string is a TypeError.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_constraint: expected the constraint as a string, got {type(text).__name__}")
    found = list(_COMPARISON.finditer(text))
    for m in found:
        if m.group() not in ("<=", ">=", "=="):
            hint = {"<": "<=", ">": ">=", "=": "==", "!=": "<= or >="}[m.group()]
            raise ParseError(f"constraint {text!r}: the comparison {m.group()!r} is not supported; use {hint} "
                             "(constraints are closed: <=, >= or ==)", text, m.start())
    if not found:
        raise ParseError(f"constraint {text!r}: expected a comparison <=, >= or == (as in 'sum(x) == 1')",
                         text, len(text))
    if len(found) > 2:
        raise ParseError(f"constraint {text!r}: at most two comparisons (lo <= c <= hi), got {len(found)}",
                         text, found[2].start())
    cuts = [0] + [p for m in found for p in (m.start(), m.end())] + [len(text)]
    sides = [_side(text, cuts[2 * k], cuts[2 * k + 1], shapes) for k in range(len(found) + 1)]
    ops = [m.group() for m in found]
    if len(ops) == 2:
        if ops[0] != ops[1] or ops[0] == "==":
            raise ParseError(f"constraint {text!r}: a two-sided constraint reads 'lo <= c <= hi' or "
                             f"'hi >= c >= lo', got {ops[0]!r} then {ops[1]!r}", text, found[1].start())
        outer = [(sides[0], found[0].start()), (sides[2], found[1].end())]
        values = [_number(e, text, pos) for e, pos in outer]
        lo, hi = values if ops[0] == "<=" else values[::-1]
        c = sides[1]
        if not c.variables:
            raise ParseError(f"constraint {text!r}: the middle of 'lo <= c <= hi' has no variable", text,
                             found[0].end())
        return _checked(ParsedConstraint(c, lo, hi, text), found[0].start())
    lhs, rhs = sides
    op = ops[0]
    constant_rhs = _constant(rhs)
    constant_lhs = _constant(lhs)
    if constant_rhs is not None and lhs.variables:
        c, value = lhs, constant_rhs
        lo, hi = {"<=": (-math.inf, value), ">=": (value, math.inf), "==": (value, value)}[op]
    elif constant_lhs is not None and rhs.variables:
        c, value = rhs, constant_lhs  # "0 <= x": the sides swap roles, and so does the operator
        lo, hi = {"<=": (value, math.inf), ">=": (-math.inf, value), "==": (value, value)}[op]
    else:
        try:
            c = lhs - rhs
        except ValueError as exc:  # DimensionError: the sides do not have one shape
            raise ParseError(f"constraint {text!r}: the two sides have different shapes "
                             f"({_shape(lhs)} and {_shape(rhs)})", text, found[0].start()) from exc
        if not c.variables:
            raise ParseError(f"constraint {text!r}: no variable on either side", text, 0)
        lo, hi = {"<=": (-math.inf, 0.0), ">=": (0.0, math.inf), "==": (0.0, 0.0)}[op]
    return _checked(ParsedConstraint(c, lo, hi, text), found[0].start())


def _side(text, start, end, shapes) -> Expr:
    part = text[start:end]
    if not part.strip():
        raise ParseError(f"constraint {text!r}: an empty side", text, start)
    try:
        return parse(part, **shapes)
    except ParseError as exc:  # the caret placed in the whole text
        raise ParseError(f"constraint {text!r}: {exc.message}", text, start + exc.position, exc.defaults) from None


def _constant(e: Expr):
    """The value of a constant scalar side (a number), None for anything else."""
    if isinstance(e, Fill) and e.shape == ():
        return float(e.value)
    return None


def _number(e: Expr, text, pos) -> float:
    value = _constant(e)
    if value is None:
        raise ParseError(f"constraint {text!r}: the bounds of 'lo <= c <= hi' must be numbers, got {e}", text, pos)
    return value


def _shape(e: Expr) -> str:
    return "scalar" if not e.shape else "x".join(map(str, e.shape))


def _checked(parsed: ParsedConstraint, pos: int) -> ParsedConstraint:
    if math.isnan(parsed.lo) or math.isnan(parsed.hi) or parsed.lo > parsed.hi or parsed.lo == math.inf \
            or parsed.hi == -math.inf:
        raise ParseError(f"constraint {parsed.text!r}: no value satisfies lo = {parsed.lo} <= c <= hi = {parsed.hi}",
                         parsed.text, pos)
    return parsed


class Constraint(_Bound):
    """lo <= c(x) <= hi over the flat vector packing ``wrt`` (see the module docstring).

    ``c`` is an expression (or a :class:`ParsedConstraint`, which brings its lo and hi); ``lo`` and ``hi`` are
    numbers or arrays of c's shape (or flat of its size), -inf / inf for a free side; at least one must be
    given for an expression. ``data``, ``sizes`` and ``like`` are as for ``Objective``.
    """

    def __init__(self, c, wrt, data=None, *, lo=None, hi=None, sizes=None, like=None):
        if isinstance(c, ParsedConstraint):
            if lo is not None or hi is not None:
                raise ValueError(f"Constraint: {c.text!r} brings its own bounds; do not pass lo or hi as well")
            c, lo, hi = c.expression, c.lo, c.hi
        elif lo is None and hi is None:
            raise ValueError("Constraint: pass lo and/or hi (lo <= c(x) <= hi; lo == hi for an equality)")
        super().__init__(c, wrt, data, sizes, "Constraint", like)
        c = self.expr
        if any(v.name == MULTIPLIER for v in c.variables):
            raise ValueError(f"Constraint: the name {MULTIPLIER!r} is reserved for the multipliers of hess(x, v); "
                             "rename that variable")
        shape = tuple(dim_value(d, self.sizes) for d in c.shape)
        self.residual_size = math.prod(shape)  # named as LeastSquares', whose fun/jac/jac_operator are shared
        self.lo = _bounds_array("lo", -math.inf if lo is None else lo, self.residual_size, shape)
        self.hi = _bounds_array("hi", math.inf if hi is None else hi, self.residual_size, shape)
        bad = np.flatnonzero(~(self.lo <= self.hi) | (self.lo == math.inf) | (self.hi == -math.inf))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"Constraint: need lo <= hi with lo < inf and hi > -inf entry-wise; entry {i} has "
                             f"lo = {self.lo[i]}, hi = {self.hi[i]}")
        self.jacobian_blocks = [derivative_once(c, v) for v in self.wrt]
        # c is affine where every second derivative simplifies to the zero tensor
        self.is_linear = all(_is_zero(derivative_once(b, v)) for b in self.jacobian_blocks for v in self.wrt)

    # compiled on first use (a problem set builds many constraints; most never evaluate every derivative)
    @functools.cached_property
    def _r(self):
        return compile_exprs([self.expr], name="constraint", sizes=dict(self.sizes))

    @functools.cached_property
    def _j(self):
        return compile_exprs(self.jacobian_blocks, name="constraint_jacobian", sizes=dict(self.sizes))

    @functools.cached_property
    def _weighted(self) -> Objective:
        """v'c(x) as an Objective, v the data array ``_multiplier`` of c's shape: its Hessian is the constraint
        part of the Lagrangian's."""
        c = self.expr
        multiplier = Var.make(MULTIPLIER, c.shape)
        idx = tuple(range(c.ndim))
        given, sizes, like = self._given
        data = {**given, MULTIPLIER: self.xp.zeros(tuple(dim_value(d, self.sizes) for d in c.shape),
                                                   dtype=self.dtype, device=self.device)}
        return Objective(contract([multiplier, c], [idx, idx], ()), self.wrt, data, sizes=sizes, like=like)

    def rebind(self, **values):
        """The same constraint with data ``values`` replaced (as ``Objective.rebind``: nothing is compiled again)."""
        twin = super().rebind(**values)
        if "_weighted" in self.__dict__:
            twin._weighted = self._weighted.rebind(**values)
        return twin

    def with_data(self, data=None, *, like=None):
        """The same constraint and bounds on other data (say the same arrays moved to a GPU)."""
        given, sizes, given_like = self._given
        return Constraint(self.expr, self.wrt, given if data is None else data, lo=self.lo, hi=self.hi, sizes=sizes,
                          like=given_like if like is None else like)

    # c(x), its Jacobian and the Jacobian operator: the code of LeastSquares (self._r, self._j, the blocks)
    fun = LeastSquares.fun
    jac = LeastSquares.jac
    jac_operator = LeastSquares.jac_operator

    @property
    def m(self) -> int:
        """The number of constraint values (entries of c)."""
        return self.residual_size

    @property
    def is_equality(self) -> np.ndarray:
        """Which entries are equalities (lo == hi), a boolean array of length m."""
        return self.lo == self.hi

    def _weighted_at(self, v) -> Objective:
        """The objective v'c(x) with the multipliers v (length m) bound: nothing is compiled again."""
        shape = self._weighted.data[MULTIPLIER].shape
        v = np.asarray(v, dtype=np.float64) if not hasattr(v, "shape") else v
        if tuple(v.shape) not in ((self.m,), tuple(shape)):
            raise ValueError(f"Constraint: v must be a vector of length {self.m} (one multiplier per constraint "
                             f"value), got shape {tuple(v.shape)}")
        return self._weighted.rebind(**{MULTIPLIER: self.xp.reshape(self.xp.asarray(v), shape)})

    def hess(self, x, v):
        """sum_i v_i Hess c_i(x) = the Hessian of v'c(x), dense (n, n) (scipy's NonlinearConstraint hess)."""
        return self._weighted_at(v).hess(x)

    def hess_operator(self, x, v):
        """The Hessian of v'c(x) as a structured ``ricci.solvers`` operator (as ``Objective.hess_operator``)."""
        self._weighted._hessian_program()  # made once on the unbound objective, shared by every rebinding
        return self._weighted_at(v).hess_operator(x)

    def hessp(self, x, v, p):
        """The product (sum_i v_i Hess c_i(x)) p, without forming the Hessian."""
        return self._weighted_at(v).hessp(x, p)

    def violation(self, x) -> float:
        """max_i of how far c_i(x) lies outside [lo_i, hi_i] (0 when x is feasible)."""
        c = np.asarray(self.fun(x), dtype=np.float64)
        if c.size == 0:
            return 0.0
        return float(np.max(np.maximum(np.maximum(self.lo - c, c - self.hi), 0.0)))

    def to_scipy(self, hessian: bool = True):
        """``LinearConstraint(A, lo - c(0), hi - c(0))`` for an affine c, else ``NonlinearConstraint(fun, lo, hi,
        jac=jac, hess=hess)`` (``hessian=False`` leaves scipy's default, for methods such as SLSQP that read no
        constraint Hessian and warn when given one). The callables return NumPy arrays (data on another library:
        ``with_data``)."""
        from scipy.optimize import LinearConstraint, NonlinearConstraint

        if self.is_linear:
            zero = self.xp.zeros((self.size,), dtype=self.dtype, device=self.device)
            offset = np.asarray(self.fun(zero), dtype=np.float64)
            matrix = np.asarray(self.jac(zero), dtype=np.float64)
            return LinearConstraint(matrix, self.lo - offset, self.hi - offset)
        if not hessian:
            return NonlinearConstraint(self.fun, self.lo, self.hi, jac=self.jac)
        return NonlinearConstraint(self.fun, self.lo, self.hi, jac=self.jac, hess=self.hess)

    def __repr__(self):
        kind = "linear" if self.is_linear else "nonlinear"
        return (f"<ricci Constraint ({kind}, m={self.m}): {_range(self.lo)} <= {self.expr} <= {_range(self.hi)}; "
                f"x has {self.size} entries>")


def _is_zero(e: Expr) -> bool:
    return isinstance(e, Fill) and e.value == 0


def _range(a: np.ndarray) -> str:
    return f"{a[0]:g}" if a.size and np.all(a == a[0]) else "[...]"


def _bounds_array(name, value, m, shape) -> np.ndarray:
    """lo or hi as a read-only float64 array of length m: a number, or an array of c's shape or of length m."""
    if isinstance(value, Expr):
        raise TypeError(f"Constraint: {name} must be a number or an array, got an expression")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"Constraint: {name} must be a number or an array, got {type(value).__name__}") from None
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    elif arr.shape == tuple(shape) or arr.shape == (m,):
        arr = arr.reshape(m)
    else:
        raise ValueError(f"Constraint: {name} must be a number or an array of shape {tuple(shape)} (or length {m}), "
                         f"got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"Constraint: {name} contains NaN")
    arr.setflags(write=False)
    return arr
