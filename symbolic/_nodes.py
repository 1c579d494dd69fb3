"""The expression nodes: a closed, small set of immutable, hash-consed tensor nodes.

Every node is a tensor with a ``shape`` (a tuple of dimensions). The set:

* :class:`Var` — a named variable; :class:`Fill` — a constant-filled tensor (zeros, ones, scalars);
  :class:`Const` — a constant array; :class:`Delta` — the identity matrix (Kronecker delta);
* :class:`Contract` — the one product node, in Einstein notation: ``out[o] = sum_{c} prod_k op_k[idx_k]``;
  matrix product, transpose, outer, Hadamard, trace, diagonal and sums are all this node;
* :class:`Add` — a linear combination ``sum_k coeff_k * term_k`` of terms of one shape;
* :class:`Elementwise` — ``f(arg)`` applied entry-wise, f a sympy-defined scalar function;
* :class:`Inverse`, :class:`Det`, :class:`LogDet` — the matrix functions that are not contractions;
* :class:`Reshape` — row-major reshape (used by the Kronecker product).

Nodes are interned: building a node equal to an existing one returns that object, so equality is identity
and shared subexpressions are one object. Indices of a :class:`Contract` are local names (small ints),
renamed canonically (output indices first, in order; then summed indices by first appearance) and the
operands sorted by a stable structural key, so equal products compare equal. This module only builds and
canonicalizes; the algebraic rewrites live in ``_simplify``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import weakref
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ._dims import Dim, Shape, Ties, merge_all, shape_str
from ._functions import ElementwiseFunction

_TABLE: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _digest(*parts) -> bytes:
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
        h.update(b"\x00")
    return h.digest()


def normalize_number(c):
    """Coefficients are ints, Fractions or floats; integral Fractions become ints."""
    if isinstance(c, bool):
        return int(c)
    if isinstance(c, Fraction):
        return int(c) if c.denominator == 1 else c
    if isinstance(c, numbers.Integral):
        return int(c)
    if isinstance(c, numbers.Real):
        f = float(c)
        if f.is_integer() and abs(f) < 2**53:
            return int(f)  # 2.0 and 2 are one coefficient, so equal expressions stay one object
        if math.isfinite(f):
            exact = Fraction(f)
            if exact.denominator <= 1024 and abs(exact.numerator) < 2**20:
                return exact  # 0.5 and 1/2 likewise (only where the float is exactly that fraction)
        return f
    raise TypeError(f"expected a real number, got {type(c).__name__} {c!r}")


@dataclass(frozen=True, eq=False, repr=False)
class Expr:
    """Base of all nodes. Do not construct directly: use the ``make`` class methods or ``ricci.symbolic``."""

    shape: Shape = field(init=False)

    __array_ufunc__ = None  # make NumPy defer to our reflected operators (ndarray @ Expr)

    # --- populated by _finish -------------------------------------------------------------
    def _finish(self, shape: Shape, ties: Ties, variables: frozenset, skey: bytes):
        object.__setattr__(self, "shape", tuple(shape))
        object.__setattr__(self, "ties", ties)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "skey", skey)
        object.__setattr__(self, "_normal", False)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def children(self) -> tuple:
        return ()

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError("the truth value of a symbolic expression is undefined; compare with `is`")

    def __repr__(self):
        from ._printing import tree_repr

        return tree_repr(self)

    def __str__(self):
        from ._printing import to_str

        return to_str(self)

    def _repr_latex_(self):
        from ._printing import latex

        return "$" + latex(self) + "$"


def _intern(cls, key, build):
    node = _TABLE.get(key)
    if node is None:
        node = build()
        _TABLE[key] = node
    return node


@dataclass(frozen=True, eq=False, repr=False)
class Var(Expr):
    name: str
    declared: Shape

    @classmethod
    def make(cls, name: str, shape: Shape) -> "Var":
        key = (cls, name, shape)

        def build():
            v = cls(name, shape)
            v._finish(shape, Ties.EMPTY, frozenset(), _digest("Var", name, [str(d) for d in shape]))
            object.__setattr__(v, "variables", frozenset((v,)))
            return v

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class Fill(Expr):
    """A tensor of the given shape with every entry equal to ``value`` (a scalar when shape is ())."""

    value: object
    dims: Shape

    @classmethod
    def make(cls, value, shape: Shape) -> "Fill":
        value = normalize_number(value)
        key = (cls, value, type(value) is float, shape)

        def build():
            n = cls(value, shape)
            n._finish(shape, Ties.EMPTY, frozenset(), _digest("Fill", value, [str(d) for d in shape]))
            return n

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class Const(Expr):
    """A constant array (stored as a read-only float64 NumPy copy, moved to the inputs' device at run time)."""

    array: np.ndarray
    label: str

    @classmethod
    def make(cls, array, label: str | None = None) -> "Const":
        arr = np.array(array, dtype=np.float64, copy=True)
        arr.setflags(write=False)
        content = _digest("Const", arr.shape, arr.tobytes())
        label = label or "C_" + content.hex()[:6]
        key = (cls, content, label)

        def build():
            n = cls(arr, label)
            n._finish(arr.shape, Ties.EMPTY, frozenset(), _digest(content, label))
            return n

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class Delta(Expr):
    """The identity matrix of size ``dim`` (the Kronecker delta d[i, j])."""

    dim: Dim

    @classmethod
    def make(cls, dim: Dim) -> "Delta":
        key = (cls, dim)

        def build():
            n = cls(dim)
            n._finish((dim, dim), Ties.EMPTY, frozenset(), _digest("Delta", str(dim)))
            return n

        return _intern(cls, key, build)


def _refined_colors(operands, indices, output) -> list:
    """A key per operand that does not depend on index names: colour refinement (Weisfeiler-Lehman).

    Operands start coloured by their structural key, indices by their output position (or "summed"); each
    round recolours an index by the colours and axes of the operands carrying it, and an operand by the
    colours of its indices, until the partition stops splitting. Equal keys are then truly interchangeable
    in all but highly symmetric products.
    """
    out_pos = {ix: p for p, ix in enumerate(output)}
    every = {ix for idx in indices for ix in idx}
    ix_color = {ix: (0, out_pos[ix]) if ix in out_pos else (1, 0) for ix in every}
    op_color = [(op.skey,) for op in operands]
    classes = -1
    for _ in range(len(operands) + 1):
        occ: dict = {ix: [] for ix in every}
        for k, idx in enumerate(indices):
            for axis, ix in enumerate(idx):
                occ[ix].append((op_color[k], axis))
        new_ix = {ix: (ix_color[ix], tuple(sorted(occ[ix]))) for ix in every}
        new_op = [(op_color[k], tuple(new_ix[ix] for ix in indices[k])) for k in range(len(operands))]
        rank = {c: r for r, c in enumerate(sorted(set(new_op)))}
        rank_ix = {c: r for r, c in enumerate(sorted(set(new_ix.values())))}
        op_color = [(rank[c],) for c in new_op]
        ix_color = {ix: (rank_ix[c],) for ix, c in new_ix.items()}
        count = len(rank) + len(rank_ix)
        if count == classes:
            break
        classes = count
    return [(operands[k].skey, op_color[k]) for k in range(len(operands))]


def _canonical_contract(operands, indices, output):
    """Sort operands by a key independent of index names, then rename indices canonically."""
    keys = _refined_colors(operands, indices, output)
    tiebreak = [()] * len(operands)
    for _ in range(4):  # ties (interchangeable operands) are broken by the canonical names of a first pass
        order = sorted(range(len(operands)), key=lambda k: (keys[k], tiebreak[k]))
        operands, indices = tuple(operands[k] for k in order), tuple(indices[k] for k in order)
        keys = [keys[k] for k in order]
        rename = {ix: p for p, ix in enumerate(output)}
        for idx in indices:
            for ix in idx:
                if ix not in rename:
                    rename[ix] = len(rename)
        indices = tuple(tuple(rename[ix] for ix in idx) for idx in indices)
        output = tuple(rename[ix] for ix in output)
        new_tiebreak = list(indices)
        if new_tiebreak == tiebreak:
            break
        tiebreak = new_tiebreak
    return operands, indices, output


@dataclass(frozen=True, eq=False, repr=False)
class Contract(Expr):
    """``out[output] = sum over the other indices of prod_k operands[k][indices[k]]`` (Einstein notation)."""

    operands: tuple
    indices: tuple
    output: tuple

    def children(self):
        return self.operands

    @classmethod
    def make(cls, operands, indices, output) -> "Contract":
        operands = tuple(operands)
        indices = tuple(tuple(i) for i in indices)
        output = tuple(output)
        if len(operands) != len(indices):
            raise ValueError("contract: one index tuple per operand expected")
        for op, idx in zip(operands, indices):
            if len(idx) != op.ndim:
                raise ValueError(f"contract: operand of shape {shape_str(op.shape)} given indices {idx}")
        if len(set(output)) != len(output):
            raise ValueError(f"contract: repeated output index in {output}")
        carried = {ix for idx in indices for ix in idx}
        for ix in output:
            if ix not in carried:
                raise ValueError(f"contract: output index {ix} appears in no operand")
        operands, indices, output = _canonical_contract(operands, indices, output)
        for _ in range(3):  # the identity is symmetric: d[i, j] = d[j, i]; order its pair and rename again
            if not any(isinstance(op, Delta) and idx[0] > idx[1] for op, idx in zip(operands, indices)):
                break
            indices = tuple(tuple(sorted(idx)) if isinstance(op, Delta) else idx for op, idx in zip(operands, indices))
            operands, indices, output = _canonical_contract(operands, indices, output)
        # each index's dimension (from its first operand); the others carrying it are tied to it
        index_dims: dict = {}
        ties = merge_all(op.ties for op in operands)
        for op, idx in zip(operands, indices):
            for ix, d in zip(idx, op.shape):
                if ix in index_dims:
                    ties = ties.tie(index_dims[ix], d, "a product")
                else:
                    index_dims[ix] = d
        key = (cls, operands, indices, output)

        def build():
            n = cls(operands, indices, output)
            object.__setattr__(n, "index_dims", index_dims)
            shape = tuple(index_dims[ix] for ix in output)
            variables = frozenset().union(*(op.variables for op in operands))
            n._finish(shape, ties, variables, _digest("Contract", [op.skey for op in operands], indices, output))
            return n

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class Add(Expr):
    """``sum_k coeffs[k] * terms[k]``; all terms have the node's shape."""

    terms: tuple
    coeffs: tuple

    def children(self):
        return self.terms

    @classmethod
    def make(cls, terms, coeffs) -> "Add":
        terms = tuple(terms)
        coeffs = tuple(normalize_number(c) for c in coeffs)
        if not terms or len(terms) != len(coeffs):
            raise ValueError("add: one coefficient per term expected, and at least one term")
        shape = terms[0].shape
        ties = merge_all(t.ties for t in terms)
        for t in terms[1:]:
            if len(t.shape) != len(shape):
                raise ValueError(f"add: shapes {shape_str(shape)} and {shape_str(t.shape)} differ")
            for a, b in zip(shape, t.shape):
                ties = ties.tie(a, b, "a sum")
        pairs = sorted(zip(terms, coeffs), key=lambda tc: (tc[0].skey, str(tc[1])))
        terms = tuple(t for t, _ in pairs)
        coeffs = tuple(c for _, c in pairs)
        key = (cls, terms, coeffs, tuple(type(c) is float for c in coeffs))

        def build():
            n = cls(terms, coeffs)
            variables = frozenset().union(*(t.variables for t in terms))
            n._finish(shape, ties, variables, _digest("Add", [t.skey for t in terms], [str(c) for c in coeffs]))
            return n

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class Elementwise(Expr):
    fn: ElementwiseFunction
    arg: Expr

    def children(self):
        return (self.arg,)

    @classmethod
    def make(cls, fn: ElementwiseFunction, arg: Expr) -> "Elementwise":
        key = (cls, fn, arg)

        def build():
            n = cls(fn, arg)
            n._finish(arg.shape, arg.ties, arg.variables, _digest("Elementwise", str(fn.expr), arg.skey))
            return n

        return _intern(cls, key, build)


@dataclass(frozen=True, eq=False, repr=False)
class _SquareMatrixFunction(Expr):
    """A function of one square matrix that is not a contraction; subclasses set ``op`` and ``scalar``."""

    arg: Expr
    op = ""
    scalar = False

    def children(self):
        return (self.arg,)

    @classmethod
    def make(cls, arg: Expr):
        if arg.ndim != 2:
            raise ValueError(f"{cls.op}: expected a square matrix, got shape {shape_str(arg.shape)}")
        ties = arg.ties.tie(arg.shape[0], arg.shape[1], cls.op)

        def build():
            n = cls(arg)
            n._finish(() if cls.scalar else arg.shape, ties, arg.variables, _digest(cls.__name__, arg.skey))
            return n

        return _intern(cls, (cls, arg), build)


@dataclass(frozen=True, eq=False, repr=False)
class Inverse(_SquareMatrixFunction):
    """The matrix inverse."""

    op = "inv"


@dataclass(frozen=True, eq=False, repr=False)
class Det(_SquareMatrixFunction):
    """The determinant (a scalar)."""

    op = "det"
    scalar = True


@dataclass(frozen=True, eq=False, repr=False)
class LogDet(_SquareMatrixFunction):
    """log |det(arg)| (a scalar)."""

    op = "logdet"
    scalar = True


@dataclass(frozen=True, eq=False, repr=False)
class Reshape(Expr):
    """Row-major reshape of ``arg`` to ``new_shape`` (same number of entries)."""

    arg: Expr
    new_shape: Shape

    def children(self):
        return (self.arg,)

    @classmethod
    def make(cls, arg: Expr, new_shape: Shape) -> "Reshape":
        new_shape = tuple(new_shape)

        def build():
            n = cls(arg, new_shape)
            n._finish(new_shape, arg.ties, arg.variables, _digest("Reshape", arg.skey, [str(d) for d in new_shape]))
            return n

        return _intern(cls, (cls, arg, new_shape), build)


@dataclass(frozen=True, eq=False, repr=False)
class LogSumExp(Expr):
    """log(sum(exp(arg), axis)): the reduction of one axis, kept as one node so that it is computed stably
    (max-shifted) and differentiates to the softmax weights."""

    arg: Expr
    axis: int

    def children(self):
        return (self.arg,)

    @classmethod
    def make(cls, arg: Expr, axis: int) -> "LogSumExp":
        if not 0 <= axis < arg.ndim:
            raise ValueError(f"logsumexp: axis {axis} is out of range for shape {shape_str(arg.shape)}")
        shape = arg.shape[:axis] + arg.shape[axis + 1:]

        def build():
            n = cls(arg, axis)
            n._finish(shape, arg.ties, arg.variables, _digest("LogSumExp", arg.skey, axis))
            return n

        return _intern(cls, (cls, arg, axis), build)


NODE_TYPES = (Var, Fill, Const, Delta, Contract, Add, Elementwise, Inverse, Det, LogDet, Reshape, LogSumExp)


def topological(roots, children=None) -> list:
    """All nodes reachable from ``roots``, each once, children before parents (depth-first post-order).

    ``children(node)`` chooses the edges to follow (default: every child).
    """
    children = children or (lambda node: node.children())
    seen: set = set()
    order: list = []
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for c in reversed(children(node)):
            if id(c) not in seen:
                stack.append((c, False))
    return order
