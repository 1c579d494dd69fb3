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

``rs.parse("sum(x) == 1", x="n")`` (or ``parse_constraint``, which insists on a comparison) reads a constraint in
the matrix language (nothing is evaluated as Python) as a ``ParsedConstraint``; ``Constraint(parsed, wrt, data)``
binds it. ``bounds()`` recognizes a constraint that is only bounds on unknowns (x >= 0, 0 <= x <= 1) and
``split_bounds(constraints)`` separates those from the general ones, so that solvers get them as a box.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._codegen import compile as compile_exprs
from ._differentiate import derivative_once
from ._dims import dim_value
from ._nodes import Add, Contract, Delta, Expr, Fill, Var
from ._objective import LeastSquares, Objective, _Bound
from ._parse import ParsedConstraint, ParseError, parse
from ._simplify import contract

#: The data name under which the multipliers v of ``hess(x, v)`` enter the expression sum(v .* c).
MULTIPLIER = "_multiplier"


def parse_constraint(text: str, **shapes) -> ParsedConstraint:
    """Read a constraint, ``"lhs <= rhs"``, ``"lhs >= rhs"``, ``"lhs == rhs"`` or ``"lo <= c <= hi"`` (also
    ``hi >= c >= lo``): :func:`rs.parse` of a text that must hold a comparison (see its rules: a constant
    side is a bound, otherwise c = lhs - rhs compared with 0). Errors are :class:`ParseError` (a ValueError)
    with a caret; a text without a comparison is one too, and a non-string is a TypeError.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_constraint: expected the constraint as a string, got {type(text).__name__}")
    parsed = parse(text, **shapes)
    if not isinstance(parsed, ParsedConstraint):
        raise ParseError(f"constraint {text!r}: expected a comparison <=, >= or == (as in 'sum(x) == 1')",
                         text, len(text))
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
    _jacobian_plan = LeastSquares._jacobian_plan

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

    def bounds(self):
        """This constraint as bounds on x, ``(lo_x, hi_x)`` float64 arrays of length n (-inf / inf where it says
        nothing), when it is one; None otherwise.

        It is one when c is affine and each of its entries reads one unknown: c_i(x) = a_i x_j(i) + b_i with
        a_i != 0 (``x >= 0``, ``0 <= x <= 1``, ``2*W <= 1``, ``x[0] >= 1``), so that lo_i <= c_i <= hi_i is
        (lo_i - b_i) / a_i <= x_j <= (hi_i - b_i) / a_i (sides swapped for a_i < 0; exact up to the rounding of
        that quotient). Bounds have exact, cheap projections, which bound-constrained methods use instead of a
        general constraint. Read from the expression where c is a multiple of a whole variable plus terms free
        of the unknowns (c = a x + b: any size), else from the Jacobian at 0 when m*n is at most 2**20.
        """
        if not self.is_linear:
            return None
        rows = self._bound_rows()
        if rows is None:
            return None
        columns, scale = rows
        zero = self.xp.zeros((self.size,), dtype=self.dtype, device=self.device)
        offset = _host(self.fun(zero))
        lo_c, hi_c = (self.lo - offset) / scale, (self.hi - offset) / scale
        lo_c, hi_c = np.where(scale > 0, lo_c, hi_c), np.where(scale > 0, hi_c, lo_c)
        lo, hi = np.full(self.size, -math.inf), np.full(self.size, math.inf)
        np.maximum.at(lo, columns, lo_c)  # several entries on one unknown: the intersection
        np.minimum.at(hi, columns, hi_c)
        return lo, hi

    def _bound_rows(self):
        """(column j(i), coefficient a_i) for each entry of an affine c whose entries each read one unknown; None
        when some entry reads none or several (see :meth:`bounds`)."""
        nonzero = [k for k, b in enumerate(self.jacobian_blocks) if not _is_zero(b)]
        if len(nonzero) == 1:
            k = nonzero[0]
            scale = _identity_scale(self.jacobian_blocks[k], self.wrt[k])
            if scale is not None and tuple(self.expr.shape) == tuple(self.wrt[k].shape):
                columns = self.offsets[k] + np.arange(self.counts[k])
                return columns, np.full(self.counts[k], float(scale))
        if self.m * self.size > 2**20 or self.m == 0:
            return None
        matrix = _host(self.jac(self.xp.zeros((self.size,), dtype=self.dtype, device=self.device)))
        matrix = matrix.reshape(self.m, self.size)
        if not np.all(np.count_nonzero(matrix, axis=1) == 1):
            return None
        columns = np.argmax(matrix != 0, axis=1)
        return columns, matrix[np.arange(self.m), columns]

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


def _identity_scale(block: Expr, v: Var):
    """a where the Jacobian block dc/dv is a times the identity on v's entries (a nonzero number), else None:
    a scalar Fill for a scalar v, the delta for a vector, a product of one delta per axis pairing output axis k
    with axis k + ndim for a matrix or tensor, each possibly scaled (an Add of one term)."""
    if isinstance(block, Add) and len(block.terms) == 1:
        inner = _identity_scale(block.terms[0], v)
        return None if inner is None else float(block.coeffs[0]) * inner
    if v.ndim == 0:
        return float(block.value) if isinstance(block, Fill) and block.shape == () and block.value != 0 else None
    if v.ndim == 1:
        return 1.0 if isinstance(block, Delta) else None
    if isinstance(block, Contract) and len(block.operands) == v.ndim and \
            all(isinstance(op, Delta) for op in block.operands) and len(block.output) == 2 * v.ndim:
        out = block.output
        pairs = {tuple(sorted((out[k], out[k + v.ndim]))) for k in range(v.ndim)}
        if {tuple(sorted(idx)) for idx in block.indices} == pairs:
            return 1.0
    return None


def _host(a) -> np.ndarray:
    get = getattr(a, "get", None)  # CuPy arrays
    return np.asarray(get() if callable(get) and not isinstance(a, np.ndarray) else a, dtype=np.float64)


def split_bounds(constraints, n: int | None = None):
    """Separate the constraints that are bounds on x (:meth:`Constraint.bounds`) from the others.

    Returns ``(bounds, rest)``: ``bounds`` the intersection ``(lo, hi)`` of every bound form (float64 arrays of
    length n), or None when there is none; ``rest`` the other constraints, in order (linear ones keep
    ``is_linear``). All constraints must pack the same unknowns (one n). An empty intersection (lo_j > hi_j,
    as from x >= 1 and x <= 0) is a ValueError naming the unknown.
    """
    constraints = list(constraints)
    for c in constraints:
        if not isinstance(c, Constraint):
            raise TypeError(f"split_bounds: expected rs.Constraint records, got {type(c).__name__}")
        if n is None:
            n = c.size
        if c.size != n:
            raise ValueError(f"split_bounds: every constraint must act on the same {n} unknowns; {c!r} acts on "
                             f"{c.size}")
    lo = hi = None
    rest = []
    for c in constraints:
        found = c.bounds()
        if found is None:
            rest.append(c)
            continue
        lo = found[0] if lo is None else np.maximum(lo, found[0])
        hi = found[1] if hi is None else np.minimum(hi, found[1])
    if lo is not None:
        empty = np.flatnonzero(lo > hi)
        if empty.size:
            j = int(empty[0])
            raise ValueError(f"the bound constraints leave no feasible value for unknown {j}: they ask for "
                             f"{lo[j]:g} <= x[{j}] <= {hi[j]:g}")
    return (None if lo is None else (lo, hi)), tuple(rest)


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
