"""The user-facing constructors and operators: variables, constants, arithmetic, matrix functions.

Every function checks shapes when the expression is built and raises ``ValueError`` naming the operation
and both shapes; symbolic dimensions are tied (``n`` with ``k``) rather than refused, and a tie between
two different integers is refused (see ``_dims``).
"""

from __future__ import annotations

import math
import numbers
import string

import numpy as np
import sympy

from . import _functions as F
from ._dims import DimensionError, Ties, as_dim, as_shape, merge_all, shape_str
from ._names import identifier
from ._nodes import (
    Contract,
    Expr,
    Var,
    add,
    concat as _concat,
    const as _const,
    contract,
    delta,
    det as _det,
    elementwise as _elementwise,
    fill,
    inverse,
    logdet as _logdet,
    logsumexp as _logsumexp,
    power,
    reshape as _reshape,
    scale,
    sliced as _sliced,
)
from ._nodes import IndexArray, known_size, scatter_add as _scatter_add, take as _take

# ----------------------------------------------------------------------------------------------------------
# Variables and constants
# ----------------------------------------------------------------------------------------------------------


def _check_name(name) -> str:
    """A variable's name as Python reads it (NFKC: ``ｘ`` is ``x``), or a ValueError (see ``_names``)."""
    return identifier(name, "a variable name")


def Scalar(name: str) -> Var:
    """A scalar variable."""
    return Var.make(_check_name(name), ())


def Vector(name: str, n="n") -> Var:
    """A vector variable of length ``n`` (an int or a dimension name)."""
    return Var.make(_check_name(name), (as_dim(n, f"Vector {name!r}"),))


def Matrix(name: str, m="m", n="n") -> Var:
    """A matrix variable of shape (m, n)."""
    return Var.make(_check_name(name), (as_dim(m, f"Matrix {name!r}"), as_dim(n, f"Matrix {name!r}")))


def Tensor(name: str, *shape) -> Var:
    """A tensor variable of any order: ``Tensor("T", "m", "n", "p")`` or ``Tensor("T", ("m", "n", "p"))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Var.make(_check_name(name), as_shape(shape, f"Tensor {name!r}"))


def const(value, name: str | None = None) -> Expr:
    """A constant: a Python number (a scalar) or an array (copied; moved to the inputs' device when run).

    ``name`` (an identifier) is the label an array constant prints as; by default one made from its content.
    """
    if name is not None:
        name = identifier(name, "const: the name")
    if isinstance(value, Expr):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return fill(value, ())
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"expected a number, an array or an expression, got {type(value).__name__}") from None
    if arr.ndim == 0:
        return fill(float(arr), ())
    return _const(arr, name)


def eye(n) -> Expr:
    """The n x n identity matrix."""
    return delta(as_dim(n, "eye"))


def ones(*shape) -> Expr:
    """A tensor of ones: ``ones("n")``, ``ones("m", "n")`` or ``ones(("m", "n"))``."""
    return fill(1, _shape_args(shape, "ones"))


def zeros(*shape) -> Expr:
    """A tensor of zeros."""
    return fill(0, _shape_args(shape, "zeros"))


def full(shape, value) -> Expr:
    """A tensor of the given shape with every entry ``value``."""
    return fill(value, as_shape(shape, "full"))


def _shape_args(shape, what):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return as_shape(shape, what)


def as_expr(value, what: str = "operand") -> Expr:
    if isinstance(value, Expr):
        return value
    try:
        return const(value)
    except TypeError:
        raise TypeError(f"{what}: expected an expression, a number or an array, got {type(value).__name__}") from None


# ----------------------------------------------------------------------------------------------------------
# Shape checking
# ----------------------------------------------------------------------------------------------------------


def _unify(a: Expr, b: Expr, pairs, op: str) -> None:
    """Tie the dimension pairs, raising a ValueError that names the operation and both shapes."""
    ties = a.ties.merged(b.ties)
    try:
        for da, db in pairs:
            ties = ties.tie(da, db, op)
    except DimensionError as exc:
        raise DimensionError(f"{op}: shapes {shape_str(a.shape)} and {shape_str(b.shape)} do not match ({exc})") from None


def _same_shape(a: Expr, b: Expr, op: str) -> None:
    if a.ndim != b.ndim:
        raise ValueError(f"{op}: shapes {shape_str(a.shape)} and {shape_str(b.shape)} do not match")
    _unify(a, b, zip(a.shape, b.shape), op)


def _require_square(A: Expr, op: str) -> None:
    if A.ndim != 2:
        raise ValueError(f"{op}: expected a square matrix, got shape {shape_str(A.shape)}")
    try:
        A.ties.tie(A.shape[0], A.shape[1], op)
    except DimensionError:
        raise DimensionError(f"{op}: expected a square matrix, got shape {shape_str(A.shape)}") from None


def _broadcast_scalar(s: Expr, shape) -> Expr:
    """A scalar expression repeated over ``shape``."""
    if not shape:
        return s
    if s.__class__.__name__ == "Fill":
        return fill(s.value, shape)
    idx = tuple(range(len(shape)))
    return contract([s, fill(1, shape)], [(), idx], idx)


def _elementwise_pair(a, b, op: str):
    a, b = as_expr(a, op), as_expr(b, op)
    if a.ndim == 0 and b.ndim > 0:
        return a, b, "scalar-left"
    if b.ndim == 0 and a.ndim > 0:
        return a, b, "scalar-right"
    _same_shape(a, b, op)
    return a, b, "same"


# ----------------------------------------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------------------------------------


def plus(a, b, sign: int = 1) -> Expr:
    """a + sign*b, element-wise, a scalar broadcasting over the other operand."""
    op = "+" if sign == 1 else "-"
    a, b, kind = _elementwise_pair(a, b, op)
    if kind == "scalar-left":
        a = _broadcast_scalar(a, b.shape)
    elif kind == "scalar-right":
        b = _broadcast_scalar(b, a.shape)
    return add([a, b], [1, sign])


def times(a, b) -> Expr:
    """Element-wise (Hadamard) product, a scalar scaling the other operand."""
    a, b, kind = _elementwise_pair(a, b, "*")
    if kind == "scalar-left":
        idx = tuple(range(b.ndim))
        return contract([a, b], [(), idx], idx)
    if kind == "scalar-right":
        idx = tuple(range(a.ndim))
        return contract([a, b], [idx, ()], idx)
    idx = tuple(range(a.ndim))
    return contract([a, b], [idx, idx], idx)


def divide(a, b) -> Expr:
    """Element-wise quotient a / b (b may be a scalar)."""
    a, b = as_expr(a, "/"), as_expr(b, "/")
    return times(a, power(b, -1)) if not _is_number(b) else scale(a, _reciprocal(b.value))


def _is_number(e: Expr) -> bool:
    return e.__class__.__name__ == "Fill" and e.ndim == 0


def _reciprocal(v):
    from fractions import Fraction

    if v == 0:
        raise ZeroDivisionError("division of an expression by the constant 0")
    return Fraction(1, v) if isinstance(v, int) else 1 / v


def pow_(a, p) -> Expr:
    """a ** p element-wise, for a constant exponent p (a number); a constant base b gives b ** a = exp(a log b)."""
    if isinstance(p, Expr):
        if not _is_number(p):
            if isinstance(a, Expr):
                raise TypeError("a ** b: the exponent must be a constant number; for a variable exponent write exp(b * log(a))")
            base = float(a)
            if base <= 0:
                raise ValueError(f"c ** e: the constant base must be positive, got {base}")
            return exp(times(float(np.log(base)), p))
        p = p.value
    if not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"a ** p: expected a constant real exponent, got {type(p).__name__}")
    a = as_expr(a, "**")
    if not isinstance(p, numbers.Rational) and not math.isfinite(p):  # ints, Fractions: finite (may exceed a float)
        raise ValueError(f"a ** p: the exponent must be a finite number, got {p}")
    return power(a, F.exact_number(p))  # the exponent's exact value (never nsimplify's rounding)


def neg(a: Expr) -> Expr:
    return scale(as_expr(a, "-"), -1)


def matmul(a, b) -> Expr:
    """a @ b: matrix-matrix, matrix-vector, vector-matrix, or the vector-vector inner product."""
    a, b = as_expr(a, "@"), as_expr(b, "@")
    if a.ndim == 0 or b.ndim == 0 or a.ndim > 2 or b.ndim > 2:
        raise ValueError(
            f"@: expected vectors or matrices, got shapes {shape_str(a.shape)} and {shape_str(b.shape)}"
            " (use * to scale by a scalar, rs.einsum for higher-order tensors)"
        )
    _unify(a, b, [(a.shape[-1], b.shape[0])], "@")
    if a.ndim == 2 and b.ndim == 2:
        return contract([a, b], [(0, 2), (2, 1)], (0, 1))
    if a.ndim == 2:
        return contract([a, b], [(0, 1), (1,)], (0,))
    if b.ndim == 2:
        return contract([a, b], [(1,), (1, 0)], (0,))
    return contract([a, b], [(0,), (0,)], ())


def transpose(a: Expr, axes=None) -> Expr:
    """Reverse (or permute by ``axes``) the axes of ``a``; a vector's transpose is itself."""
    a = as_expr(a, "transpose")
    r = a.ndim
    if axes is None:
        axes = tuple(reversed(range(r)))
    axes = tuple(axes)
    if sorted(axes) != list(range(r)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {r} axes of shape {shape_str(a.shape)}")
    return contract([a], [tuple(range(r))], axes)


# ----------------------------------------------------------------------------------------------------------
# Reductions and structural functions
# ----------------------------------------------------------------------------------------------------------


def sum(e, axis=None) -> Expr:  # noqa: A001 - mirrors numpy.sum
    """Sum of all entries, or over ``axis`` (an int or a tuple of ints, negative counts from the end)."""
    e = as_expr(e, "sum")
    r = e.ndim
    if axis is None:
        axes = set(range(r))
    else:
        items = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = set()
        for ax in items:
            if not isinstance(ax, numbers.Integral) or isinstance(ax, bool):
                raise TypeError(f"sum: axis must be an int or a tuple of ints, got {ax!r}")
            if not -r <= ax < r:
                raise ValueError(f"sum: axis {ax} is out of range for shape {shape_str(e.shape)}")
            axes.add(ax % r)
    idx = tuple(range(r))
    return contract([e], [idx], tuple(i for i in idx if i not in axes))


def trace(A) -> Expr:
    """tr(A) = sum_i A[i, i] for a square matrix."""
    A = as_expr(A, "trace")
    _require_square(A, "trace")
    return contract([A], [(0, 0)], ())


def diag(e) -> Expr:
    """diag(v): the diagonal matrix with v on its diagonal; diag(M): the diagonal of a square matrix M."""
    e = as_expr(e, "diag")
    if e.ndim == 1:
        return contract([e, delta(e.shape[0])], [(0,), (0, 1)], (0, 1))
    if e.ndim == 2:
        _require_square(e, "diag")
        return contract([e], [(0, 0)], (0,))
    raise ValueError(f"diag: expected a vector or a square matrix, got shape {shape_str(e.shape)}")


def outer(a, b) -> Expr:
    """The outer (tensor) product: out[I, J] = a[I] b[J] for any orders."""
    a, b = as_expr(a, "outer"), as_expr(b, "outer")
    I = tuple(range(a.ndim))
    J = tuple(range(a.ndim, a.ndim + b.ndim))
    return contract([a, b], [I, J], I + J)


def kron(a, b) -> Expr:
    """The Kronecker product of two vectors (length m*p) or two matrices (shape (m*p, n*q))."""
    a, b = as_expr(a, "kron"), as_expr(b, "kron")
    if a.ndim != b.ndim or a.ndim not in (1, 2):
        raise ValueError(f"kron: expected two vectors or two matrices, got shapes {shape_str(a.shape)} and {shape_str(b.shape)}")
    if a.ndim == 1:
        return _reshape(outer(a, b), (a.shape[0] * b.shape[0],))
    blocks = contract([a, b], [(0, 2), (1, 3)], (0, 1, 2, 3))  # out[i, k, j, l] = a[i, j] b[k, l]
    return _reshape(blocks, (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))


def reshape(e, shape) -> Expr:
    """``e`` reshaped row-major (C order, as ``numpy.reshape``) to ``shape``: a tuple of ints, dimension
    names or products of them (``("m*n",)`` is not a name; write ``(m * n,)`` with ``m, n`` from a shape, or
    use ints). The number of entries must agree: integers are checked now, symbolic sizes are tied (and
    checked when the compiled function binds them)."""
    e = as_expr(e, "reshape")
    new_shape = as_shape(shape, "reshape")
    before, after = _prod(e.shape), _prod(new_shape)
    if isinstance(before, int) and isinstance(after, int) and before != after:
        raise ValueError(f"reshape: cannot reshape {shape_str(e.shape)} ({before} entries) to "
                         f"{shape_str(new_shape)} ({after} entries)")
    return _reshape(e, new_shape)


#: The largest |k| of a matrix power A^k. A^k is a product of |k| factors (the simplifier flattens products,
#: so the repeated squares below end up as one k-operand product whose canonical form costs O(k^2 log k)):
#: building A^64 takes 0.02 s, but the gradient has k product-rule terms of k-1 factors (O(k^3 log k):
#: tr(A^64) ~3 s, A^128 ~20 s, A^1000 hours) and a Hessian k^2 terms (O(k^4 log k): sum(A^32*x) ~14 s,
#: sum(A^64*x) ~3 min). 64 keeps parsing instant and first derivatives within seconds.
MAX_MATRIX_POWER = 64


def matrix_power(A, k) -> Expr:
    """A^k = A*A*...*A (k factors) for an integer k with |k| <= MAX_MATRIX_POWER; A^0 = I and A^-k = inv(A)^k.

    Built by repeated squaring (A^13 = A^8 A^4 A: O(log k) products, the squares shared). The exponent must
    be a Python int: a symbolic k has no finite product to build (its derivative d tr(A^k)/dA =
    k*(A^(k-1))' exists in closed form, but A^k itself is not an expression of fixed structure), so ricci
    asks for the number.
    """
    A = as_expr(A, "matrix_power")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"matrix_power: the exponent must be an int, got {type(k).__name__} {k!r}")
    _require_square(A, "matrix_power")
    k = int(k)
    check_matrix_power(k, "matrix_power")
    if k == 0:
        return eye(A.shape[0])
    square = inv(A) if k < 0 else A  # A, A^2, A^4, ... (or the powers of inv(A)); inv(inv(B)) is B
    check_matrix_power(k, "matrix_power", len(square.operands) if isinstance(square, Contract) else 1)
    result = None
    k = abs(k)
    while k:
        if k & 1:
            result = square if result is None else matmul(result, square)
        k >>= 1
        if k:
            square = matmul(square, square)
    return result


def check_matrix_power(k: int, what: str, factors: int = 1) -> None:
    """Refuse a power A^k of more than MAX_MATRIX_POWER factors in all (``factors`` in A, a product itself
    perhaps: (A*B)^40 has 80), with the reason; ``what`` names the caller."""
    if abs(k) * factors > MAX_MATRIX_POWER:
        of = f" of a product of {factors} factors" if factors > 1 else ""
        raise ValueError(f"{what}: the power {k}{of} is too large; ricci builds A^k as a product of |k| factors "
                         f"and allows at most {MAX_MATRIX_POWER} (its derivatives cost O(k^3)); for a high power "
                         "use a factorisation (e.g. A = V*diag(l)*inv(V), A^k = V*diag(l.^k)*inv(V))")


def einsum(spec: str, *operands) -> Expr:
    """Any contraction in NumPy's notation, e.g. ``einsum("ij,jk->ik", A, B)`` or ``einsum("ii", A)``."""
    if not isinstance(spec, str):
        raise TypeError(f"einsum: expected a subscripts string such as 'ij,jk->ik', got {type(spec).__name__}")
    spec = spec.replace(" ", "")
    if "." in spec:
        raise ValueError("einsum: ellipsis ('...') is not supported; name every index")
    if "->" in spec:
        lhs, out = spec.split("->")
    else:
        lhs = spec
        letters = [c for c in lhs if c.isalpha()]
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {spec!r} names {len(inputs)} operands, {len(operands)} given")
    for part in inputs + [out]:
        bad = [c for c in part if c not in string.ascii_letters]
        if bad:
            raise ValueError(f"einsum: index {bad[0]!r} in {spec!r} is not a letter")
    ops = [as_expr(o, "einsum") for o in operands]
    for k, (part, op) in enumerate(zip(inputs, ops)):
        if len(part) != op.ndim:
            raise ValueError(f"einsum: operand {k} has shape {shape_str(op.shape)} but {part!r} names {len(part)} axes")
    if len(set(out)) != len(out):
        raise ValueError(f"einsum: output {out!r} repeats an index")
    seen = {}
    ties = Ties.EMPTY
    for part, op in zip(inputs, ops):
        ties = ties.merged(op.ties)
        for c, d in zip(part, op.shape):
            if c in seen:
                try:
                    ties = ties.tie(seen[c], d, "einsum")
                except DimensionError as exc:
                    raise DimensionError(f"einsum {spec!r}: index {c!r} has sizes {seen[c]} and {d} ({exc})") from None
            else:
                seen[c] = d
    missing = [c for c in out if c not in seen]
    if missing:
        raise ValueError(f"einsum: output index {missing[0]!r} appears in no operand")
    number = {c: k for k, c in enumerate(dict.fromkeys(lhs.replace(",", "")))}
    return contract(ops, [tuple(number[c] for c in part) for part in inputs], tuple(number[c] for c in out))


def inv(A) -> Expr:
    """The matrix inverse."""
    return inverse(_square(A, "inv"))


def det(A) -> Expr:
    """The determinant."""
    return _det(_square(A, "det"))


def logdet(A) -> Expr:
    """log |det A| (the log of the absolute determinant)."""
    return _logdet(_square(A, "logdet"))


def _square(A, what) -> Expr:
    A = as_expr(A, what)
    _require_square(A, what)
    return A


def logsumexp(e, axis=None) -> Expr:
    """log(sum(exp(e))) over all entries (``axis=None``) or one axis, computed stably (shifted by the
    maximum); its gradient is the softmax."""
    e = as_expr(e, "logsumexp")
    if axis is None:
        if e.ndim != 1:
            e = _reshape(e, (_prod(e.shape),)) if e.ndim else _reshape(e, (1,))
        axis = 0
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"logsumexp: axis must be an int or None, got {axis!r}")
    if not -e.ndim <= axis < e.ndim:
        raise ValueError(f"logsumexp: axis {axis} is out of range for shape {shape_str(e.shape)}")
    return _logsumexp(e, int(axis) % e.ndim)


def _prod(shape):
    out = 1
    for d in shape:
        out = out * d
    return out


# ----------------------------------------------------------------------------------------------------------
# Gather and scatter by constant integer positions
# ----------------------------------------------------------------------------------------------------------


def index_array(indices, what: str, name=None) -> IndexArray:
    """``indices`` as an :class:`IndexArray`: a 1-D array of non-negative integers (a NumPy array or a list of
    ints), copied; ``name`` (an identifier) is the label it prints as (by default one made from its
    content). An IndexArray passes through (relabelled when ``name`` differs). ``what`` names the caller."""
    if name is not None:
        name = identifier(name, f"{what}: the name")
    if isinstance(indices, IndexArray):
        return indices if name is None or name == indices.label else IndexArray.make(indices.array, name)
    if isinstance(indices, Expr):
        raise TypeError(f"{what}: indices must be a constant integer array (NumPy), got an expression; positions "
                        "are fixed when the expression is built")
    try:
        arr = np.asarray(indices)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: indices must be a 1-D integer array, got {type(indices).__name__}") from None
    if arr.dtype == np.bool_:
        raise TypeError(f"{what}: indices must be integer positions, got a boolean array (for the positions of a "
                        "mask, pass numpy.flatnonzero(mask))")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what}: indices must be an integer array, got dtype {arr.dtype} (convert with "
                        ".astype(int) if the values are whole numbers)")
    if arr.ndim != 1:
        raise ValueError(f"{what}: indices must be a 1-D array, got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{what}: indices must be non-negative positions, got {int(arr.min())} (negative "
                         "positions do not count from the end here)")
    if arr.size and int(arr.max()) >= 2**63:
        raise ValueError(f"{what}: index {int(arr.max())} is beyond the int64 range")
    return IndexArray.make(arr, name)


def _axis(axis, e: Expr, what: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -e.ndim <= axis < e.ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for shape {shape_str(e.shape)}")
    return int(axis) % e.ndim


def take(A, indices, axis=0, *, name=None) -> Expr:
    """The gather ``out[.., k, ..] = A[.., indices[k], ..]`` along ``axis`` (``numpy.take``): ``indices`` is a
    constant 1-D integer array (repeats allowed), each entry below the axis's size where that size is known
    (a symbolic size is checked when the compiled function binds it). The axis becomes one of length
    len(indices). ``name`` is the label the indices print as (``take(U, rows)``), and the name by which
    ``rs.parse`` reads them back (``rs.parse("take(U, rows)", rows=array)``).

    Its derivative is the gather of the derivative; products of the selectors that derivatives carry
    become gathers and scatters (``rs.scatter_add``) when simplified.
    """
    A = as_expr(A, "take")
    if A.ndim == 0:
        raise ValueError("take: expected a vector, matrix or tensor, got a scalar")
    axis = _axis(axis, A, "take")
    index = index_array(indices, "take", name)
    size = known_size(A.shape[axis], A.ties)
    if size is not None and index.bound > size:
        raise ValueError(f"take: index {index.bound - 1} is out of range for axis {axis} of size {size} (shape "
                         f"{shape_str(A.shape)})")
    return _take(A, index, axis)


def scatter_add(G, indices, size, axis=0, *, name=None) -> Expr:
    """The adjoint of :func:`take`, a segment sum: ``out[.., i, ..] = sum over k with indices[k] = i of
    G[.., k, ..]`` along ``axis``, which has one entry per position (length len(indices)) in G and length
    ``size`` (an int or a dimension name) in the result; positions no k reaches are 0. Repeated positions
    add up (numpy.add.at, without its slowness: a segment sum when compiled)."""
    G = as_expr(G, "scatter_add")
    if G.ndim == 0:
        raise ValueError("scatter_add: expected a vector, matrix or tensor, got a scalar")
    axis = _axis(axis, G, "scatter_add")
    index = index_array(indices, "scatter_add", name)
    size = as_dim(size, "scatter_add: size")
    length = known_size(G.shape[axis], G.ties)
    if length is not None and length != len(index):
        raise ValueError(f"scatter_add: {len(index)} positions for axis {axis} of length {length} (shape "
                         f"{shape_str(G.shape)}); give one position per entry along the axis")
    if isinstance(size, int) and index.bound > size:
        raise ValueError(f"scatter_add: index {index.bound - 1} is out of range for a result axis of size {size}")
    try:
        return _scatter_add(G, index, size, axis)
    except DimensionError as exc:
        raise DimensionError(f"scatter_add: {len(index)} positions for axis {axis} of shape "
                             f"{shape_str(G.shape)} ({exc})") from None


def norm1(e) -> Expr:
    """The entry-wise 1-norm: sum of absolute values."""
    return sum(abs_(e))


def norm2(e) -> Expr:
    """The Euclidean norm of a vector, the Frobenius norm of a matrix or tensor."""
    e = as_expr(e, "norm2")
    idx = tuple(range(e.ndim))
    return sqrt(contract([e, e], [idx, idx], ()))


# ----------------------------------------------------------------------------------------------------------
# Blocks: concatenation, stacking, slicing
# ----------------------------------------------------------------------------------------------------------


def _block_parts(exprs, what: str) -> list:
    """The expressions of a list (or tuple, or other iterable that is not an expression), at least one."""
    if isinstance(exprs, (Expr, str, bytes)) or not hasattr(exprs, "__iter__"):
        raise TypeError(f"{what}: expected a list of expressions, got {type(exprs).__name__}")
    parts = [as_expr(e, f"{what}: part {k}") for k, e in enumerate(exprs)]
    if not parts:
        raise ValueError(f"{what}: expected at least one expression, got none")
    return parts


def _block_axis(axis, ndim: int, what: str, shape) -> int:
    """``axis`` (negative counts from the end) as an index into ``ndim`` axes."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{what}: axis must be an int, got {type(axis).__name__} {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for {shape}")
    return int(axis) % ndim


def _shapes_text(parts) -> str:
    return ", ".join(shape_str(p.shape) for p in parts)


def concat(exprs, axis=0) -> Expr:
    """The concatenation of ``exprs`` along ``axis`` (as ``numpy.concatenate``): vectors end to end, matrices
    one above the other (axis 0) or side by side (axis 1). The parts agree on the other axes; the axis's size
    is the sum of theirs, symbolic sizes included (``m + n``). Scalars have no axis: use :func:`stack`."""
    parts = _block_parts(exprs, "concat")
    for k, p in enumerate(parts):
        if p.ndim == 0:
            raise ValueError(f"concat: part {k} is a scalar (shapes {_shapes_text(parts)}); concatenation joins "
                             "vectors, matrices or tensors along an axis (rs.stack joins scalars into a vector)")
        if p.ndim != parts[0].ndim:
            raise ValueError(f"concat: the parts must have the same number of axes, got shapes {_shapes_text(parts)}")
    axis = _block_axis(axis, parts[0].ndim, "concat", f"parts of shape {shape_str(parts[0].shape)}")
    ties = merge_all(p.ties for p in parts)
    try:
        for p in parts[1:]:
            for k, (a, b) in enumerate(zip(parts[0].shape, p.shape)):
                if k != axis:
                    ties = ties.tie(a, b, "concat")
    except DimensionError:
        raise DimensionError(f"concat: shapes {_shapes_text(parts)} do not agree off axis {axis}") from None
    return _concat(parts, axis)


def stack(exprs, axis=0) -> Expr:
    """``exprs`` of one shape joined along a new axis (as ``numpy.stack``): scalars into a vector, vectors into
    the rows (axis 0) or columns (axis 1) of a matrix. It is the concatenation of the parts reshaped to have
    an axis of size 1 there."""
    parts = _block_parts(exprs, "stack")
    ndim = parts[0].ndim
    try:
        for p in parts[1:]:
            if p.ndim != ndim:
                raise DimensionError("different numbers of axes")
            ties = parts[0].ties.merged(p.ties)
            for a, b in zip(parts[0].shape, p.shape):
                ties = ties.tie(a, b, "stack")
    except DimensionError:
        raise DimensionError(f"stack: the parts must have one shape, got shapes {_shapes_text(parts)}") from None
    axis = _block_axis(axis, ndim + 1, "stack", f"a result with {ndim + 1} axes (parts of shape "
                                                f"{shape_str(parts[0].shape)})")
    return _concat([_reshape(p, p.shape[:axis] + (1,) + p.shape[axis:]) for p in parts], axis)


def residual_blocks(blocks, what: str = "residual blocks") -> Expr:
    """The residual made of ``blocks`` (expressions of any shapes): each flattened row-major, concatenated."""
    parts = _block_parts(blocks, what)
    return _concat([_reshape(p, (_prod(p.shape),)) for p in parts], 0)


def _key_text(item) -> str:
    """One item of a subscript as written: ``2``, ``1:3``, ``::2``, ``...``."""
    if isinstance(item, slice):
        text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
        return text + ("" if item.step is None else f":{item.step}")
    return "..." if item is Ellipsis else repr(item)


def subscript(e: Expr, key) -> Expr:
    """``e[key]`` by NumPy's basic indexing: an int picks one entry of an axis and drops the axis (negative
    counts from the end), ``a:b:s`` a range with a step s >= 1, ``:`` the whole axis, ``...`` the axes not
    written; axes left out at the end are whole. Indexed or sliced axes must have a known integer size and
    the bounds must lie within it (no clamping). Integer arrays are no basic index: gather with rs.take."""
    items = key if isinstance(key, tuple) else (key,)
    written = ", ".join(_key_text(k) for k in items)
    owner = e.name if isinstance(e, Var) else "e"
    where = f"{owner}[{written}] for an expression of shape {shape_str(e.shape)}"
    if len([k for k in items if k is Ellipsis]) > 1:
        raise ValueError(f"{where}: at most one '...' is allowed")
    for k in items:
        if k is None:
            raise TypeError(f"{where}: new axes (None) are not supported; use rs.reshape")
        if k is not Ellipsis and not isinstance(k, slice) and (
                isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral)):
            raise TypeError(f"{where}: expected ints, slices with int bounds or '...', got {type(k).__name__} "
                            f"{k!r} (gather entries by an integer array with rs.take)")
    explicit = [k for k in items if k is not Ellipsis]
    if len(explicit) > e.ndim:
        raise ValueError(f"{where}: too many indices ({len(explicit)}) for {e.ndim} axes")
    at = next((j for j, k in enumerate(items) if k is Ellipsis), None)
    if at is not None:
        items = items[:at] + (slice(None),) * (e.ndim - len(explicit)) + items[at + 1:]
    items = tuple(items) + (slice(None),) * (e.ndim - len(items))
    resolved = []
    for axis, (k, size) in enumerate(zip(items, e.shape)):
        if isinstance(k, slice) and k.start is None and k.stop is None and k.step in (None, 1):
            resolved.append(None)  # the whole axis, whatever its size
            continue
        if not isinstance(size, int):
            raise ValueError(f"{where}: axis {axis} has symbolic size {size}; an indexed or sliced axis needs a "
                             "known integer size (declare it with an int)")
        if isinstance(k, slice):
            for v in (k.start, k.stop, k.step):
                if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)):
                    raise TypeError(f"{where}: slice bounds and steps must be ints, got {type(v).__name__} {v!r}")
            step = 1 if k.step is None else int(k.step)
            if step < 1:
                raise ValueError(f"{where}: the step must be a positive int, got {step}")
            bounds = []
            for v, default in ((k.start, 0), (k.stop, size)):
                v = default if v is None else int(v)
                if not -size <= v <= size:
                    raise ValueError(f"{where}: the bound {v} lies outside axis {axis} of size {size}")
                bounds.append(v + size if v < 0 else v)
            resolved.append((bounds[0], max(bounds[0], bounds[1]), step))
        else:
            v = int(k)
            if not -size <= v < size:
                raise ValueError(f"{where}: index {v} is out of range for axis {axis} of size {size}")
            resolved.append(v + size if v < 0 else v)
    return _sliced(e, resolved)


# ----------------------------------------------------------------------------------------------------------
# Element-wise functions
# ----------------------------------------------------------------------------------------------------------


class ElementwiseOp:
    """A callable building ``f(e)`` for an element-wise function ``f``; ``.function`` is its sympy form."""

    def __init__(self, fn: F.ElementwiseFunction):
        self.function = fn
        self.__name__ = fn.display
        self.__doc__ = f"Element-wise {fn.display}(x) = {fn.expr}; derivatives of any order via sympy."

    def __call__(self, e) -> Expr:
        return _elementwise(self.function, as_expr(e, self.__name__))

    def __repr__(self):
        return f"<element-wise function {self.function.display}: x -> {self.function.expr}>"


def elementwise(name: str, body) -> ElementwiseOp:
    """Define an element-wise function from a sympy expression in ``x``: ``elementwise("swish", "x*sigmoid(x)")``.

    ``body`` is a string (using exp, log, log1p, expm1, sqrt, sin, cos, tan, arcsin, arccos, arctan, sinh,
    cosh, tanh, sigmoid, softplus, abs, sign, relu, step) or a sympy expression in ``rs.x_symbol``. Its
    derivatives of every order come from sympy; the compiled code uses stable forms of sigmoid/softplus.
    A string is read by the formula parser (``_functions.parse_function``), never evaluated as Python.
    """
    name = identifier(name, "elementwise: the name", keywords=False)  # NFKC: 'ｓｑ' and 'sq' are one name
    if isinstance(body, str):
        expr = F.parse_function(body)
    elif isinstance(body, sympy.Expr):
        expr = body
    elif isinstance(body, numbers.Real):
        expr = F.exact_number(body)  # a constant function
    else:
        raise TypeError(f"elementwise: expected the body as a string such as 'x*sigmoid(x)' or a sympy "
                        f"expression in rs.x_symbol, got {type(body).__name__}")
    return ElementwiseOp(F.user_function(name, expr))


exp = ElementwiseOp(F.function_of(F.BUILTIN["exp"]))
log = ElementwiseOp(F.function_of(F.BUILTIN["log"]))
log1p = ElementwiseOp(F.function_of(F.BUILTIN["log1p"]))
expm1 = ElementwiseOp(F.function_of(F.BUILTIN["expm1"]))
sqrt = ElementwiseOp(F.function_of(F.BUILTIN["sqrt"]))
sin = ElementwiseOp(F.function_of(F.BUILTIN["sin"]))
cos = ElementwiseOp(F.function_of(F.BUILTIN["cos"]))
tan = ElementwiseOp(F.function_of(F.BUILTIN["tan"]))
arcsin = ElementwiseOp(F.function_of(F.BUILTIN["arcsin"]))
arccos = ElementwiseOp(F.function_of(F.BUILTIN["arccos"]))
arctan = ElementwiseOp(F.function_of(F.BUILTIN["arctan"]))
tanh = ElementwiseOp(F.function_of(F.BUILTIN["tanh"]))
sigmoid = ElementwiseOp(F.function_of(F.BUILTIN["sigmoid"]))
softplus = ElementwiseOp(F.function_of(F.BUILTIN["softplus"]))
abs_ = ElementwiseOp(F.function_of(F.BUILTIN["abs"]))
sign = ElementwiseOp(F.function_of(F.BUILTIN["sign"]))
relu = ElementwiseOp(F.function_of(F.BUILTIN["relu"]))


# ----------------------------------------------------------------------------------------------------------
# Operators on expressions
# ----------------------------------------------------------------------------------------------------------


def _not_iterable(e):
    raise TypeError(f"an expression of shape {shape_str(e.shape)} is not iterable; index it (e[0], e[1:3])")


def _install_operators():
    E = Expr
    E.__add__ = lambda a, b: plus(a, b)
    E.__radd__ = lambda a, b: plus(b, a)
    E.__sub__ = lambda a, b: plus(a, b, -1)
    E.__rsub__ = lambda a, b: plus(b, a, -1)
    E.__mul__ = lambda a, b: times(a, b)
    E.__rmul__ = lambda a, b: times(b, a)
    E.__truediv__ = lambda a, b: divide(a, b)
    E.__rtruediv__ = lambda a, b: divide(b, a)
    E.__pow__ = lambda a, p: pow_(a, p)
    E.__rpow__ = lambda a, b: pow_(b, a)
    E.__matmul__ = lambda a, b: matmul(a, b)
    E.__rmatmul__ = lambda a, b: matmul(b, a)
    E.__neg__ = lambda a: neg(a)
    E.__pos__ = lambda a: a
    E.__abs__ = lambda a: abs_(a)
    E.T = property(lambda a: transpose(a))
    E.__getitem__ = lambda a, key: subscript(a, key)
    E.__iter__ = _not_iterable


_install_operators()
