"""Code emission: one rule per node type, turning a scheduled node into lines of array-API code.

``emit(node, target, ctx)`` returns the lines that compute ``node`` into the variable ``target``; operands
are read by their names in ``ctx.names``. The rules use only the standard namespace ``xp`` (and the
``dtype``/``device`` of the inputs), so the generated kernel runs on NumPy, CuPy and array-api-strict alike.
A node type without a rule is a bug in ricci and raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import singledispatch

from . import _functions as F
from ._bounds import nonnegative
from ._dims import dim_hint
from ._lower import Lowering
from ._names import comment
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var

DEFAULT_SIZE_HINT = 1000


@dataclass
class EmitContext:
    """What the rules share while one kernel is generated."""

    names: dict  # node -> the name of its value in the kernel
    dim_code: Callable  # dimension -> Python expression for its size
    shape_code: Callable  # shape -> Python tuple expression
    hints: dict  # dimension name -> typical size, for choosing contraction orders
    helpers: set = field(default_factory=set)  # helper functions the kernel needs (emitted in its header)
    constants: list = field(default_factory=list)  # constant arrays, passed to the kernel as const_0, const_1, ...
    scales: dict = field(default_factory=dict)  # product -> constant factor applied inside it (c * product)

    def constant_name(self, k: int) -> str:
        return f"const_{k}"


def number_code(c) -> str:
    """A coefficient as Python code: ints as they are (up to 2**53, beyond which they are floats, as the
    arithmetic will make them), everything else as a float literal; infinity and NaN, which have no
    literal, as the array API's constants ``xp.inf`` and ``xp.nan`` (builtins could be shadowed)."""
    if isinstance(c, int) and abs(c) <= 2**53:
        return str(c)
    try:
        f = float(c)
    except OverflowError:  # an int beyond the float range
        f = math.inf if c > 0 else -math.inf
    if math.isnan(f):
        return "xp.nan"
    if math.isinf(f):
        return "xp.inf" if f > 0 else "-xp.inf"
    return repr(f)


@singledispatch
def emit(node: Expr, target: str, ctx: EmitContext) -> list[str]:
    """The lines computing ``node`` into ``target``: the rule of its node type."""
    raise NotImplementedError(f"no code-emission rule for node type {type(node).__name__}")


@emit.register
def emit_variable(node: Var, target: str, ctx: EmitContext) -> list[str]:
    """A variable is a parameter of the kernel: nothing to compute."""
    return []


@emit.register
def emit_fill(node: Fill, target: str, ctx: EmitContext) -> list[str]:
    """A constant-filled array of the node's shape."""
    return [f"{target} = xp.full({ctx.shape_code(node.shape)}, {number_code(node.value)}, dtype=dtype, device=device)"]


@emit.register
def emit_const(node: Const, target: str, ctx: EmitContext) -> list[str]:
    """A constant array, passed in once converted to the inputs' library, dtype and device."""
    k = len(ctx.constants)
    ctx.constants.append(node.array)
    return [f"{target} = {ctx.constant_name(k)}  # {comment(node.label)}, shape {node.array.shape}"]


@emit.register
def emit_delta(node: Delta, target: str, ctx: EmitContext) -> list[str]:
    """The identity matrix."""
    return [f"{target} = xp.eye({ctx.dim_code(node.dim)}, dtype=dtype, device=device)"]


@emit.register
def emit_sum(node: Add, target: str, ctx: EmitContext) -> list[str]:
    """sum_k c_k t_k, constant terms as one literal (broadcast by the arithmetic), an array term first.

    A scaled product c * P whose scale the product applied itself (see ``EmitContext.scales``) was computed
    under this node's name already: nothing is left to do.
    """
    if len(node.terms) == 1 and ctx.scales.get(node.terms[0]) is node:
        return []
    parts = []  # (sign, text, is_constant)
    for t, c in zip(node.terms, node.coeffs):
        if isinstance(t, Fill):
            value = c * t.value
            parts.append(("-" if value < 0 else "+", number_code(abs(value)), True))
        elif c == 1 or c == -1:
            parts.append(("+" if c == 1 else "-", ctx.names[t], False))
        else:
            parts.append(("-" if c < 0 else "+", f"{number_code(abs(c))} * {ctx.names[t]}", False))
    parts.sort(key=lambda p: p[2])
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, term, _ in parts[1:]:
        text += f" {sign} {term}"
    return [f"{target} = {text}"]


@emit.register
def emit_elementwise(node: Elementwise, target: str, ctx: EmitContext) -> list[str]:
    """f(u) through the array-API translation of f's sympy expression (stable sigmoid and softplus)."""
    return [f"{target} = {F.to_code(node.fn.expr, ctx.names[node.arg], ctx.helpers)}"]


_MATRIX_FUNCTIONS = {
    Inverse: "xp.linalg.inv({})",
    Det: "xp.linalg.det({})",
    LogDet: "xp.linalg.slogdet({})[1]",  # log|det A| without overflowing det A itself
}


@emit.register(Inverse)
@emit.register(Det)
@emit.register(LogDet)
def emit_matrix_function(node: Expr, target: str, ctx: EmitContext) -> list[str]:
    """inv, det, and log|det| through the array API's linalg extension."""
    return [f"{target} = {_MATRIX_FUNCTIONS[type(node)].format(ctx.names[node.arg])}"]


@emit.register
def emit_reshape(node: Reshape, target: str, ctx: EmitContext) -> list[str]:
    """Row-major reshape (the array API's default order)."""
    return [f"{target} = xp.reshape({ctx.names[node.arg]}, {ctx.shape_code(node.new_shape)})"]


@emit.register
def emit_logsumexp(node: LogSumExp, target: str, ctx: EmitContext) -> list[str]:
    """log sum exp(a) = m + log sum exp(a - m), m the maximum along the axis: no overflow."""
    a, k = ctx.names[node.arg], node.axis
    return [
        f"{target}_max = xp.max({a}, axis={k}, keepdims=True)",
        f"{target} = xp.squeeze({target}_max, axis={k}) + xp.log(xp.sum(xp.exp({a} - {target}_max), axis={k}))",
        f"del {target}_max",
    ]


@emit.register
def emit_product(node: Contract, target: str, ctx: EmitContext) -> list[str]:
    """An Einstein product, lowered by :class:`Lowering` (BLAS calls, broadcasting, diagonals, syrk)."""
    dims = node.index_dims
    lowering = Lowering(
        target,
        dim_code=lambda ix: ctx.dim_code(dims[ix]),
        hint=lambda ix: dim_hint(dims[ix], ctx.hints, DEFAULT_SIZE_HINT),
        helpers=ctx.helpers,
    )
    nonneg = [op.ndim <= 1 and nonnegative(op) for op in node.operands]
    scaled = ctx.scales.get(node)
    scale = number_code(scaled.coeffs[0]) if scaled is not None else None
    return lowering.lower([ctx.names[op] for op in node.operands], list(node.indices), list(node.output), nonneg, scale)
