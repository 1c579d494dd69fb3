"""Differentiation: one named rule per node type, each producing a new (normalized) expression.

``d(e, x)`` is the derivative of ``e`` (shape P) with respect to the variable ``x`` (shape S), an
expression of shape P + S with ``D[p..., s...] = d e[p...] / d x[s...]``. Rules use Einstein notation:
the new axes of ``x`` get fresh index names J. Higher orders are repeated differentiation, so the result of
order k has shape P + S + ... + S (k times), the layout of JAX and NumPy.
"""

from __future__ import annotations

import numbers
from functools import singledispatch

import sympy

from ._functions import BUILTIN, X, as_number, function_of
from ._nodes import (
    Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var,
    add, contract, delta, elementwise, fill, inverse, power, reshape, scale,
)
from ._nodes import Concat, Slice, concat, sliced
from ._nodes import ScatterAdd, Take, scatter_add, take


#: The highest derivative order ricci builds. The k-th derivative is k differentiations, each of which can
#: multiply the number of terms (log det X: order 8 takes seconds, order 9 minutes; a product of k factors
#: has k!/(k-j)! terms at order j), and has shape P + S*k; 16 is far beyond any use in optimisation and
#: refuses an order such as 10**20 at once rather than never finishing.
MAX_ORDER = 16


def check_order(order, what: str) -> int:
    """``order`` as an int in 0..MAX_ORDER, or a ValueError naming ``what`` (the caller) and the bound."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise ValueError(f"{what}: order must be a non-negative int, got {order!r}")
    if order > MAX_ORDER:
        raise ValueError(f"{what}: order {order} is too high; ricci builds derivatives up to order {MAX_ORDER} "
                         "(each order differentiates the previous one, and their size can grow factorially)")
    return int(order)


def _fresh(n: int, start: int) -> tuple:
    return tuple(range(start, start + n))


def _zero(e: Expr, x: Var) -> Expr:
    return fill(0, e.shape + x.shape)


def derivative_once(e: Expr, x: Var, memo: dict | None = None) -> Expr:
    """d e / d x, an expression of shape ``e.shape + x.shape`` (memoised over the shared DAG)."""
    if memo is None:
        memo = {}
    if x not in e.variables:
        return _zero(e, x)
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = _rule(e, x, memo)
    return hit


@singledispatch
def _rule(e: Expr, x: Var, memo: dict) -> Expr:
    raise NotImplementedError(f"no derivative rule for {type(e).__name__}")


@_rule.register
def derivative_variable(e: Var, x: Var, memo) -> Expr:
    """d x[i...] / d x[j...] = prod_k delta[i_k, j_k] (the identity of shape S + S)."""
    r = len(x.shape)
    if r == 0:
        return fill(1, ())
    return contract([delta(d) for d in x.shape], [(k, r + k) for k in range(r)], tuple(range(2 * r)))


@_rule.register(Fill)
@_rule.register(Const)
@_rule.register(Delta)
def derivative_constant(e: Expr, x: Var, memo) -> Expr:
    """d c / d x = 0."""
    return _zero(e, x)


@_rule.register
def derivative_product(e: Contract, x: Var, memo) -> Expr:
    """Product rule: d prod_k A_k = sum_k (prod_{l != k} A_l) * d A_k, each d A_k carrying the new indices J."""
    start = 1 + max([ix for idx in e.indices for ix in idx] + [-1])
    J = _fresh(x.ndim, start)
    terms = []
    for k, op in enumerate(e.operands):
        if x not in op.variables:
            continue
        ops = list(e.operands)
        ops[k] = derivative_once(op, x, memo)
        idxs = list(e.indices)
        idxs[k] = e.indices[k] + J
        terms.append(contract(ops, idxs, e.output + J))
    return add(terms, [1] * len(terms))


@_rule.register
def derivative_sum(e: Add, x: Var, memo) -> Expr:
    """d (sum_k c_k A_k) = sum_k c_k d A_k."""
    return add([derivative_once(t, x, memo) for t in e.terms], e.coeffs)


@_rule.register
def derivative_elementwise(e: Elementwise, x: Var, memo) -> Expr:
    """Chain rule: d f(u)[I] / d x[J] = f'(u)[I] * d u[I] / d x[J]."""
    I = tuple(range(e.ndim))
    J = _fresh(x.ndim, e.ndim)
    du = derivative_once(e.arg, x, memo)
    return contract([lift(e.fn.derivative().expr, e.arg), du], [I, I + J], I + J)


def lift(expr, u: Expr) -> Expr:
    """The element-wise function ``expr`` (sympy, in x) of ``u`` as nodes: sums, Hadamard products, powers
    and applications ``g(u)`` of named functions.

    So sigmoid' = sigmoid*(1 - sigmoid) reuses the node sigmoid(u) that f already computed, and prints as
    ``sigmoid(z).*(1 - sigmoid(z))``. Sub-expressions applying a function to anything but x itself stay
    one opaque element-wise node.
    """
    if expr == X:
        return u
    if not expr.has(X):
        return fill(as_number(expr), u.shape)
    if expr.is_Add:
        coeff, rest = expr.as_coeff_Add()
        terms = [lift(t, u) for t in sympy.Add.make_args(rest)]
        coeffs = [1] * len(terms)
        if coeff != 0:
            terms.append(fill(as_number(coeff), u.shape))
            coeffs.append(1)
        return add(terms, coeffs)
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        factors = [lift(f, u) for f in sympy.Mul.make_args(rest)]
        I = tuple(range(u.ndim))
        product = factors[0] if len(factors) == 1 else contract(factors, [I] * len(factors), I)
        return scale(product, as_number(coeff))
    if expr.is_Pow and expr.exp.is_Number:
        return power(lift(expr.base, u), expr.exp)
    return elementwise(function_of(expr) if expr.args != (X,) else function_of(expr), u)


@_rule.register
def derivative_inverse(e: Inverse, x: Var, memo) -> Expr:
    """d inv(A)[i, j] = -inv(A)[i, a] dA[a, b] inv(A)[b, j] (Matrix Cookbook eq. 59)."""
    i, j, a, b = 0, 1, 2, 3
    J = _fresh(x.ndim, 4)
    dA = derivative_once(e.arg, x, memo)
    return scale(contract([e, dA, e], [(i, a), (a, b) + J, (b, j)], (i, j) + J), -1)


@_rule.register
def derivative_det(e: Det, x: Var, memo) -> Expr:
    """d det(A) = det(A) tr(inv(A) dA) (Jacobi's formula; Matrix Cookbook eq. 46)."""
    a, b = 0, 1
    J = _fresh(x.ndim, 2)
    dA = derivative_once(e.arg, x, memo)
    return contract([e, inverse(e.arg), dA], [(), (b, a), (a, b) + J], J)


@_rule.register
def derivative_logdet(e: LogDet, x: Var, memo) -> Expr:
    """d log|det(A)| = tr(inv(A) dA) (Matrix Cookbook eq. 50)."""
    a, b = 0, 1
    J = _fresh(x.ndim, 2)
    dA = derivative_once(e.arg, x, memo)
    return contract([inverse(e.arg), dA], [(b, a), (a, b) + J], J)


@_rule.register
def derivative_logsumexp(e: LogSumExp, x: Var, memo) -> Expr:
    """d log sum_a exp(z[.., a, ..]) = sum_a softmax(z)[.., a, ..] dz[.., a, ..], softmax = exp(z - lse)."""
    r = e.arg.ndim
    I = tuple(range(r))
    kept = tuple(i for i in I if i != e.axis)
    broadcast = contract([e, fill(1, (e.arg.shape[e.axis],))], [kept, (e.axis,)], I)
    weights = elementwise(function_of(BUILTIN["exp"]), add([e.arg, broadcast], [1, -1]))
    J = _fresh(x.ndim, r)
    return contract([weights, derivative_once(e.arg, x, memo)], [I, I + J], kept + J)


@_rule.register
def derivative_reshape(e: Reshape, x: Var, memo) -> Expr:
    """d reshape(a, P') = reshape(d a, P' + S): reshaping acts on the leading (expression) axes only."""
    return reshape(derivative_once(e.arg, x, memo), e.new_shape + x.shape)


@_rule.register
def derivative_concat(e: Concat, x: Var, memo) -> Expr:
    """d [a | b] = [da | db] along the same axis (the variable's axes follow the expression's, so the axis
    keeps its position); a part that does not depend on x contributes a zero block."""
    return concat([derivative_once(p, x, memo) for p in e.parts], e.axis)


@_rule.register
def derivative_slice(e: Slice, x: Var, memo) -> Expr:
    """d a[items] = (d a)[items, :, ..., :]: slicing picks entries of a, and the variable's axes stay whole."""
    return sliced(derivative_once(e.arg, x, memo), e.items + (None,) * x.ndim)


@_rule.register
def derivative_take(e: Take, x: Var, memo) -> Expr:
    """d take(A, index, axis) = take(dA, index, axis): a gather is linear, and it acts on A's axes, which
    lead dA's (so d take(U)/dU = take(delta[i, i'] delta[j, j']) = S[k, i'] delta[j, j'], a selector)."""
    return take(derivative_once(e.arg, x, memo), e.index, e.axis)


@_rule.register
def derivative_scatter_add(e: ScatterAdd, x: Var, memo) -> Expr:
    """d scatter_add(G, index, size, axis) = scatter_add(dG, index, size, axis): a scatter is linear."""
    return scatter_add(derivative_once(e.arg, x, memo), e.index, e.size, e.axis)
