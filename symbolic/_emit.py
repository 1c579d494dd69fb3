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
from ._gather import (
    SEGMENT_SUM_HELPER, SPREAD_ROWS_HELPER, applied_selectors, index_name, lower_selector_product, range_check,
)
from ._lower import Lowering
from ._names import comment
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var
from ._nodes import Concat, Slice
from ._nodes import ScatterAdd, Take, is_selector

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
    indices: dict = field(default_factory=dict)  # content digest of an IndexArray -> its constant's name
    checked: set = field(default_factory=set)  # (digest, dimension): positions checked against that size
    products: dict = field(default_factory=dict)  # code of a product's step -> its intermediate (``Lowering.memo``)
    reused: set = field(default_factory=set)  # intermediates of earlier products the current node reads

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


def reads(node: Expr) -> tuple:
    """The children whose values the code of ``node`` reads, which the kernel must compute first: all of
    them, except that a selector take(delta(n), index, 0) reads only its positions (the n x n identity is
    never formed), and a product that applies its selectors as scatters and masks (``_gather``) reads only
    its other operands (the k x n 0/1 matrices are never formed)."""
    if is_selector(node) or isinstance(node, Slice) and isinstance(node.arg, Delta):
        return ()  # a slice of the identity compares positions (``emit_slice``): no n x n identity either
    if isinstance(node, Contract):
        applied = {s for s, _, _ in applied_selectors(node)}
        if applied:
            return tuple(op for s, op in enumerate(node.operands) if s not in applied)
    return node.children()


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


def _subscript_code(items) -> str:
    """Slice items as a Python subscript: ``:``, ``2``, ``1:3``, ``0:9:2`` (basic indexing of the array API)."""
    parts = []
    for item in items:
        if item is None:
            parts.append(":")
        elif isinstance(item, int):
            parts.append(str(item))
        else:
            start, stop, step = item
            parts.append(f"{start}:{stop}" + (f":{step}" if step != 1 else ""))
    return ", ".join(parts)


@emit.register
def emit_concat(node: Concat, target: str, ctx: EmitContext) -> list[str]:
    """The parts joined along the axis (``xp.concat``)."""
    parts = ", ".join(ctx.names[p] for p in node.parts)
    return [f"{target} = xp.concat([{parts}], axis={node.axis})"]


@emit.register
def emit_slice(node: Slice, target: str, ctx: EmitContext) -> list[str]:
    """Basic indexing (a view where the library makes one): ``a[1:3, :]``, ``x[2]``. A slice of the identity
    that stays one (a strided selector I[0::2, :]) is built by comparing the positions its items pick, so
    the n x n identity is never formed."""
    if isinstance(node.arg, Delta):
        return [f"{target} = {_selector_code(node.items, ctx.dim_code(node.arg.dim))}"]
    return [f"{target} = {ctx.names[node.arg]}[{_subscript_code(node.items)}]"]


def _selector_code(items, n: str) -> str:
    """I[items] as code: the positions picked on each axis, compared (rows against columns)."""
    def positions(item) -> str:
        if isinstance(item, int):
            return str(item)
        start, stop, step = (0, n, 1) if item is None else item
        return f"xp.arange({start}, {stop}, {step}, device=device)"
    p, q = (positions(item) for item in items)
    kept = [item for item in items if not isinstance(item, int)]
    if len(kept) == 2:
        p, q = f"xp.reshape({p}, (-1, 1))", f"xp.reshape({q}, (1, -1))"
    return f"xp.astype({p} == {q}, dtype)"


@emit.register
def emit_product(node: Contract, target: str, ctx: EmitContext) -> list[str]:
    """An Einstein product, lowered by :class:`Lowering` (BLAS calls, broadcasting, diagonals, syrk)."""
    dims = node.index_dims
    lowering = Lowering(
        target,
        dim_code=lambda ix: ctx.dim_code(dims[ix]),
        hint=lambda ix: dim_hint(dims[ix], ctx.hints, DEFAULT_SIZE_HINT),
        helpers=ctx.helpers,
        memo=ctx.products,
        reused=ctx.reused,
    )
    nonneg = [op.ndim <= 1 and nonnegative(op) for op in node.operands]
    scaled = ctx.scales.get(node)
    scale = number_code(scaled.coeffs[0]) if scaled is not None else None
    if any(is_selector(op) for op in node.operands):  # gathers and scatters instead of 0/1 matrices
        lines = lower_selector_product(node, target, ctx, lowering.hint, scale)
        if lines is not None:
            return lines
    return lowering.lower([ctx.names[op] for op in node.operands], list(node.indices), list(node.output), nonneg, scale)


# The segment sum and the spread are helpers in the kernel's header, which takes its helpers from the table
# of ``_functions`` (``HELPERS``: key -> (name, source)): they are registered there once, here.
F.HELPERS.setdefault("_segment_sum", ("_segment_sum", SEGMENT_SUM_HELPER))
F.HELPERS.setdefault("_spread_rows", ("_spread_rows", SPREAD_ROWS_HELPER))


@emit.register
def emit_take(node: Take, target: str, ctx: EmitContext) -> list[str]:
    """A gather, ``xp.take`` along the axis; a selector take(delta(n), index, 0) (left in a product that
    needs it whole) as its 0/1 matrix [index[k] = i], compared directly (never an n x n identity)."""
    index = index_name(node.index, ctx)
    lines = range_check(node.index, node.arg.shape[node.axis], ctx, "take")
    if is_selector(node):
        n, k = ctx.dim_code(node.arg.dim), len(node.index)
        cols = f"xp.reshape(xp.arange({n}, device=device), (1, {n}))"
        return lines + [f"{target} = xp.astype(xp.reshape({index}, ({k}, 1)) == {cols}, dtype)"]
    return lines + [f"{target} = xp.take({ctx.names[node.arg]}, {index}, axis={node.axis})"]


@emit.register
def emit_scatter_add(node: ScatterAdd, target: str, ctx: EmitContext) -> list[str]:
    """A segment sum along the axis (``_segment_sum``: bincount on NumPy and CuPy, one-hot blocks
    elsewhere), the axis moved to the front and back."""
    ctx.helpers.add("_segment_sum")
    index = index_name(node.index, ctx)
    lines = range_check(node.index, node.size, ctx, "scatter_add")
    arg, axis, r = ctx.names[node.arg], node.axis, node.ndim
    order = (axis,) + tuple(a for a in range(r) if a != axis)
    front = arg if axis == 0 else f"xp.permute_dims({arg}, {order})"
    call = f"_segment_sum(xp, {front}, {index}, {ctx.dim_code(node.size)}, device)"
    if axis == 0:
        return lines + [f"{target} = {call}"]
    back = tuple(order.index(a) for a in range(r))
    return lines + [f"{target} = xp.permute_dims({call}, {back})"]
