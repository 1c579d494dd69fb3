"""The public derivative functions: grad, jacobian, hessian, derivative of any order, Hessian-vector product."""

from __future__ import annotations

from ._build import as_expr
from ._dims import DimensionError, shape_str
from ._differentiate import check_order, derivative_once
from ._nodes import Add, Expr, Var, add, contract, topological
from ._origin import remember


def variables(e) -> list:
    """The variables of an expression (or of a list of expressions), in order of first appearance."""
    roots = e if isinstance(e, (list, tuple)) else [e]
    found = []
    for node in topological([as_expr(r, "variables") for r in roots]):
        if isinstance(node, Var) and node not in found:
            found.append(node)
    return found


def resolve_variable(f: Expr, x, what: str) -> Var:
    """A variable given as a Var or by its name in ``f``; errors start with ``what`` (the caller's name)."""
    if isinstance(x, Var):
        return x
    if isinstance(x, str):
        matches = [v for v in variables(f) if v.name == x]
        if not matches:
            names = ", ".join(v.name for v in variables(f)) or "none"
            raise ValueError(f"{what}: the expression has no variable named {x!r} (its variables: {names})")
        if len(matches) > 1:
            raise ValueError(f"{what}: several variables are named {x!r} with different shapes")
        return matches[0]
    if isinstance(x, Expr):
        raise TypeError(f"{what}: can differentiate only with respect to a variable, got the expression {x}")
    raise TypeError(f"{what}: expected a variable (rs.Vector(...)) or its name, got {type(x).__name__}")


def variable(e, name) -> Var:
    """The variable of ``e`` called ``name`` (a variable passes through): ``rs.variable(f, "w")``.

    Raises ValueError naming ``e``'s variables when none is called ``name``, and when two of them are
    (with different shapes).
    """
    return resolve_variable(as_expr(e, "variable"), name, "variable")


def derivative_table(f: Expr, wrt, order: int) -> list:
    """[(output name, expression, lower output name, variable name, order)] for f and its derivatives:
    ``("value", f, None, None, 0)``, then for each variable x and k = 1..order the k-th derivative, named
    ``d_x``, ``d2_x``, ..., with the (k-1)-th (``value`` for k = 1) that it differentiates."""
    order = check_order(order, "derivatives")
    rows = [("value", f, None, None, 0)]
    for v in wrt:
        prev, prev_name = f, "value"
        for k in range(1, order + 1):
            d = derivative_once(prev, v)
            name = f"d_{v.name}" if k == 1 else f"d{k}_{v.name}"
            rows.append((name, d, prev_name, v.name, k))
            prev, prev_name = d, name
    return rows


def _is_several(x) -> bool:
    return isinstance(x, (tuple, list))


def derivative(F, x, order: int = 1):
    """The ``order``-th derivative of ``F`` with respect to ``x``.

    Shape ``F.shape + x.shape * order``: ``D[p..., s1..., s2..., ...] = d^k F[p...] / dx[s1...] dx[s2...]...``.
    With a tuple of variables the result is the nested tuple of blocks: ``D[i][j]`` differentiates first
    by ``x[i]``, then by ``x[j]``.
    """
    F = as_expr(F, "derivative")
    order = check_order(order, "derivative")
    if _is_several(x):
        xs = [resolve_variable(F, v, "derivative") for v in x]
        if not xs:
            raise ValueError("derivative: the tuple of variables is empty")
        return remember(_blocks(F, xs, int(order)), [F, xs])
    v = resolve_variable(F, x, "derivative")
    result = F
    for _ in range(int(order)):
        result = derivative_once(result, v)
    return remember(result, [F, v])  # compile accepts F's variables (``_origin``)


def _blocks(F, xs, order):
    if order == 0:
        return F
    return tuple(_blocks(derivative_once(F, v), xs, order - 1) for v in xs)


def jacobian(F, x):
    """dF/dx of shape ``F.shape + x.shape`` (a tuple of blocks for a tuple of variables)."""
    return derivative(F, x, 1)


def _scalar(f, what: str) -> Expr:
    f = as_expr(f, what)
    if f.ndim != 0:
        raise ValueError(f"{what}: expected a scalar expression, got shape {shape_str(f.shape)} (use rs.jacobian)")
    return f


def grad(f, x):
    """The gradient of a scalar ``f``: shape ``x.shape`` (a tuple for a tuple of variables)."""
    return derivative(_scalar(f, "grad"), x, 1)


def hessian(f, x):
    """The Hessian of a scalar ``f``: shape ``x.shape + x.shape``; for variables (x1, x2) the blocks ((H11, H12), (H21, H22))."""
    return derivative(_scalar(f, "hessian"), x, 2)


def hvp(f, x, v):
    """The Hessian-vector product H v as an expression, never forming H: d/dx <grad f, v>.

    ``v`` has the shape of ``x`` (an expression, e.g. ``rs.Vector("v", n)``); for a tuple of variables,
    ``v`` is a tuple of the same length and the result is the tuple of blocks sum_j H_ij v_j.
    """
    f = _scalar(f, "hvp")
    if _is_several(x):
        xs = [resolve_variable(f, xi, "hvp") for xi in x]
        if not _is_several(v) or len(v) != len(xs):
            raise ValueError(f"hvp: with {len(xs)} variables, v must be a tuple of {len(xs)} expressions")
        vs = [_direction(xi, vi) for xi, vi in zip(xs, v)]
    else:
        xs = [resolve_variable(f, x, "hvp")]
        vs = [_direction(xs[0], v)]
    result = remember(hvp_blocks(f, xs, vs), [f, xs, vs])  # compile accepts f's variables (``_origin``)
    return result if _is_several(x) else result[0]


def inner_product(g: Expr, v: Expr) -> Expr:
    """<g, v>, distributed over the terms of g: for a sum g = lam*w - X'(...), the product with v is taken
    term by term, so that differentiating it never contracts a whole Hessian block with v."""
    idx = tuple(range(g.ndim))
    if isinstance(g, Add):
        return add([inner_product(t, v) for t in g.terms], g.coeffs)
    return contract([g, v], [idx, idx], ())


def hvp_blocks(f: Expr, xs, vs) -> tuple:
    """(sum_j H_ij v_j)_i = d/dx_i <grad f, v>, each block an expression that forms no Hessian."""
    inner = add([inner_product(derivative_once(f, xi), vi) for xi, vi in zip(xs, vs)], [1] * len(xs))
    return tuple(derivative_once(inner, xi) for xi in xs)


def _direction(x: Var, v) -> Expr:
    v = as_expr(v, "hvp")
    if v.ndim != x.ndim:
        raise ValueError(f"hvp: v must have the shape of {x.name} {shape_str(x.shape)}, got {shape_str(v.shape)}")
    ties = v.ties.merged(x.ties)
    try:
        for a, b in zip(x.shape, v.shape):
            ties = ties.tie(a, b, "hvp")
    except DimensionError:
        raise DimensionError(
            f"hvp: v must have the shape of {x.name} {shape_str(x.shape)}, got {shape_str(v.shape)}"
        ) from None
    return v
