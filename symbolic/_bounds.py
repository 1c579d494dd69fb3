"""Interval bounds on the entries of an expression, for choosing faster lowerings.

``bounds(e)`` is an interval (lo, hi) that contains every entry of ``e`` for every value of its variables.
The compiler asks one question of it: is a vector non-negative? Then the product X'*diag(s)*X can be
computed as Z'*Z with Z = diag(sqrt(s))*X, a symmetric rank-k update (BLAS syrk) that does half the work of
a general product. The analysis is plain interval arithmetic (Moore, 1966) over the node types, with the
ranges of the named element-wise functions; squares u*u are recognised as non-negative.
"""

from __future__ import annotations

import math
import weakref
from functools import singledispatch

import numpy as np

from ._functions import X
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var
from ._nodes import ScatterAdd, Take
from ._nodes import Concat, Slice

INF = math.inf
ANY = (-INF, INF)

_RANGES = {
    "exp": (0.0, INF), "sigmoid": (0.0, 1.0), "softplus": (0.0, INF), "tanh": (-1.0, 1.0), "abs": (0.0, INF),
    "relu": (0.0, INF), "step": (0.0, 1.0), "sign": (-1.0, 1.0), "sqrt": (0.0, INF), "sin": (-1.0, 1.0),
    "cos": (-1.0, 1.0), "arctan": (-math.pi / 2, math.pi / 2), "arccos": (0.0, math.pi),
    "arcsin": (-math.pi / 2, math.pi / 2),
}


def _mul(a, b):
    products = []
    for x in a:
        for y in b:
            if (x == 0 and math.isinf(y)) or (y == 0 and math.isinf(x)):
                products.append(0.0)
            else:
                products.append(x * y)
    return min(products), max(products)


def _scale(c, a):
    lo, hi = c * a[0], c * a[1]
    return (min(lo, hi), max(lo, hi))


_BOUNDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # node -> interval, for this session


def bounds(e: Expr):
    """An interval containing every entry of ``e`` (memoised per node, weakly)."""
    hit = _BOUNDS.get(e)
    if hit is None:
        hit = _BOUNDS[e] = interval(e)
    return hit


@singledispatch
def interval(e: Expr):
    """The interval rule of ``e``'s node type (one per type; a type without a rule is a bug in ricci)."""
    raise NotImplementedError(f"no interval-bounds rule for node type {type(e).__name__}")


@interval.register
def interval_fill(e: Fill):
    """Every entry is the value."""
    v = float(e.value)
    return (v, v)


@interval.register
def interval_delta(e: Delta):
    """The identity's entries are 0 and 1."""
    return (0.0, 1.0)


@interval.register
def interval_const(e: Const):
    """The array's own minimum and maximum."""
    return (float(e.array.min()), float(e.array.max())) if e.array.size else (0.0, 0.0)


@interval.register
def interval_reshape(e: Reshape):
    """Reshaping moves entries, it does not change them."""
    return bounds(e.arg)


@interval.register
def interval_concat(e: Concat):
    """Every entry is an entry of a part: the union (hull) of the parts' intervals."""
    parts = [bounds(p) for p in e.parts]
    return (min(lo for lo, _ in parts), max(hi for _, hi in parts))


@interval.register
def interval_slice(e: Slice):
    """A slice's entries are some of its argument's: the argument's interval contains them."""
    return bounds(e.arg)


@interval.register
def interval_sum(e: Add):
    """sum_k c_k [lo_k, hi_k] (interval addition and scaling)."""
    lo, hi = 0.0, 0.0
    for t, c in zip(e.terms, e.coeffs):
        a = _scale(float(c), bounds(t))
        lo, hi = lo + a[0], hi + a[1]
    return (lo, hi)


@interval.register
def interval_elementwise(e: Elementwise):
    """The range of a named function; u**p for an even p, or of a non-negative u, is non-negative."""
    fn = e.fn
    if fn.name in _RANGES:
        return _RANGES[fn.name]
    expr = fn.expr
    if expr.is_Pow and expr.base == X and expr.exp.is_Number:
        p = expr.exp
        if p.is_Integer and int(p) % 2 == 0 and p > 0:
            return (0.0, INF)
        if bounds(e.arg)[0] >= 0:
            return (0.0, INF)
    return ANY


@interval.register(Var)
@interval.register(Inverse)
@interval.register(Det)
@interval.register(LogDet)
@interval.register(LogSumExp)
def interval_unknown(e: Expr):
    """Variables and these matrix functions can take any real value."""
    return ANY


@interval.register
def interval_product(e: Contract):
    """Entries are sums of products of operand entries; identical operands on identical indices pair up
    into squares (non-negative)."""
    pending = list(zip(e.operands, e.indices))
    factors = []
    while pending:
        op, idx = pending.pop()
        twin = next((k for k, (o, i) in enumerate(pending) if o is op and i == idx), None)
        if twin is not None:
            pending.pop(twin)
            lo, hi = bounds(op)
            square_hi = max(lo * lo, hi * hi)
            factors.append((0.0, square_hi))
        else:
            factors.append(bounds(op))
    result = (1.0, 1.0)
    for f in factors:
        result = _mul(result, f)
    summed = {ix for idx in e.indices for ix in idx} - set(e.output)
    if summed:  # a sum of such products keeps the sign, not the size
        lo, hi = result
        return (0.0 if lo >= 0 else -INF, 0.0 if hi <= 0 else INF)
    return result


@interval.register
def interval_take(e: Take):
    """A gather's entries are entries of its argument."""
    return bounds(e.arg)


@interval.register
def interval_scatter_add(e: ScatterAdd):
    """Each entry is a sum of c entries of the argument, c from 0 to the most any position repeats: within
    [min(0, c lo), max(0, c hi)] (0 where no position lands)."""
    counts = np.bincount(e.index.array) if len(e.index) else np.zeros(1, dtype=np.int64)
    c = float(counts.max())
    lo, hi = _mul((c, c), bounds(e.arg))
    return (min(0.0, lo), max(0.0, hi))


def nonnegative(e: Expr) -> bool:
    return bounds(e)[0] >= 0

