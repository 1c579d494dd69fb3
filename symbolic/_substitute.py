"""Substitution: an expression with some of its variables replaced by expressions, ``e[Z := g]``.

A table of rules, one per node type: a leaf is kept (a variable is replaced when it is one of the given ones),
an inner node is built again from its substituted children through the same canonicalizing constructor that
made it, so the result is simplified exactly as if it had been written with ``g`` in place of ``Z`` from the
start. Subexpressions that contain none of the replaced variables are returned as they are (the same
objects), and each node of the DAG is substituted once (a memo), so the cost is linear in the nodes that do.

Used by :class:`ricci.symbolic.GaussNewton` to compose a loss written in a placeholder for the model output
with the output's expression: f(x) = L(z(x)) is ``substitute(L, {Z: z})``.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatch

from ._build import as_expr
from ._dims import shape_str
from ._nodes import (
    Add,
    Concat,
    Const,
    Contract,
    Delta,
    Det,
    Elementwise,
    Expr,
    Fill,
    Inverse,
    LogDet,
    LogSumExp,
    Reshape,
    ScatterAdd,
    Slice,
    Take,
    Var,
    add,
    concat,
    contract,
    det,
    elementwise,
    inverse,
    logdet,
    logsumexp,
    reshape,
    scatter_add,
    sliced,
    take,
)


def substitute(e, replacements: Mapping) -> Expr:
    """``e`` with every variable ``Z`` of ``replacements`` (a mapping ``{Z: g}``; Z a variable, g an expression
    or a number) replaced by ``g``: ``rs.substitute(rs.sum(rs.softplus(z)), {z: X @ w})`` is
    ``sum(softplus(X*w))``. Each ``g`` must have as many axes as its ``Z``; sizes named differently are tied
    where the result is bound to data, as for any expression.

    Raises TypeError when a key is not a variable, ValueError when a replacement has the wrong number of axes.
    """
    e = as_expr(e, "substitute")
    if not isinstance(replacements, Mapping):
        raise TypeError(f"substitute: replacements must be a mapping {{variable: expression}}, got "
                        f"{type(replacements).__name__}")
    table = {}
    for z, g in replacements.items():
        if not isinstance(z, Var):
            raise TypeError(f"substitute: each key must be a variable (rs.Matrix(...), ...), got {type(z).__name__}")
        g = as_expr(g, f"substitute: the replacement of {z.name}")
        if g.ndim != z.ndim:
            raise ValueError(f"substitute: {z.name} {shape_str(z.shape)} has {z.ndim} axes but its replacement "
                             f"has shape {shape_str(g.shape)}")
        table[z] = g
    if not table:
        return e
    return _substitute(e, table, {})


def _substitute(e: Expr, table: dict, memo: dict) -> Expr:
    if not any(z in e.variables for z in table):
        return e
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = _rule(e, table, memo)
    return hit


def _each(children, table, memo) -> list:
    return [_substitute(c, table, memo) for c in children]


@singledispatch
def _rule(e: Expr, table: dict, memo: dict) -> Expr:
    raise NotImplementedError(f"no substitution rule for {type(e).__name__}")


@_rule.register
def substitute_variable(e: Var, table, memo) -> Expr:
    """Z[Z := g] = g; any other variable is itself."""
    return table.get(e, e)


@_rule.register(Fill)
@_rule.register(Const)
@_rule.register(Delta)
def substitute_constant(e: Expr, table, memo) -> Expr:
    """c[Z := g] = c (never reached: a constant contains no variable)."""
    return e


@_rule.register
def substitute_product(e: Contract, table, memo) -> Expr:
    """(prod_k A_k)[Z := g] = prod_k A_k[Z := g], with the same indices."""
    return contract(_each(e.operands, table, memo), e.indices, e.output)


@_rule.register
def substitute_sum(e: Add, table, memo) -> Expr:
    """(sum_k c_k A_k)[Z := g] = sum_k c_k A_k[Z := g]."""
    return add(_each(e.terms, table, memo), e.coeffs)


@_rule.register
def substitute_elementwise(e: Elementwise, table, memo) -> Expr:
    """f(A)[Z := g] = f(A[Z := g])."""
    return elementwise(e.fn, _substitute(e.arg, table, memo))


@_rule.register
def substitute_inverse(e: Inverse, table, memo) -> Expr:
    """inv(A)[Z := g] = inv(A[Z := g])."""
    return inverse(_substitute(e.arg, table, memo))


@_rule.register
def substitute_det(e: Det, table, memo) -> Expr:
    """det(A)[Z := g] = det(A[Z := g])."""
    return det(_substitute(e.arg, table, memo))


@_rule.register
def substitute_logdet(e: LogDet, table, memo) -> Expr:
    """logdet(A)[Z := g] = logdet(A[Z := g])."""
    return logdet(_substitute(e.arg, table, memo))


@_rule.register
def substitute_reshape(e: Reshape, table, memo) -> Expr:
    """reshape(A, s)[Z := g] = reshape(A[Z := g], s)."""
    return reshape(_substitute(e.arg, table, memo), e.new_shape)


@_rule.register
def substitute_logsumexp(e: LogSumExp, table, memo) -> Expr:
    """logsumexp(A, axis)[Z := g] = logsumexp(A[Z := g], axis)."""
    return logsumexp(_substitute(e.arg, table, memo), e.axis)


@_rule.register
def substitute_take(e: Take, table, memo) -> Expr:
    """take(A, index, axis)[Z := g] = take(A[Z := g], index, axis)."""
    return take(_substitute(e.arg, table, memo), e.index, e.axis)


@_rule.register
def substitute_scatter_add(e: ScatterAdd, table, memo) -> Expr:
    """scatter_add(A, index, size, axis)[Z := g] = scatter_add(A[Z := g], index, size, axis)."""
    return scatter_add(_substitute(e.arg, table, memo), e.index, e.size, e.axis)


@_rule.register
def substitute_concat(e: Concat, table, memo) -> Expr:
    """[A_1 | A_2 | ...][Z := g] = [A_1[Z := g] | A_2[Z := g] | ...] along the same axis."""
    return concat(_each(e.parts, table, memo), e.axis)


@_rule.register
def substitute_slice(e: Slice, table, memo) -> Expr:
    """A[items][Z := g] = A[Z := g][items]."""
    return sliced(_substitute(e.arg, table, memo), e.items)
