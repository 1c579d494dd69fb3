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
* :class:`Take` — a gather along an axis by a constant integer :class:`IndexArray`; :class:`ScatterAdd` —
  its adjoint, the segment sum (a sparse Jacobian's selectors and block-diagonal Hessians are these);
* :class:`Concat` — concatenation along an axis; :class:`Slice` — basic indexing (ranges and integer indices).

Nodes are interned: building a node equal to an existing one returns that object, so equality is identity
and shared subexpressions are one object. Indices of a :class:`Contract` are local names (small ints),
renamed canonically (output indices first, in order; then summed indices by first appearance) and the
operands sorted by a stable structural key, so equal products compare equal. This module builds and
canonicalizes, and holds the constructors (``contract``, ``add``, ...) the package builds nodes with; the
algebraic rewrites that bring a new node to normal form live in ``_simplify``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import weakref
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy

from ._dims import Dim, Shape, Ties, dim_sum, merge_all, shape_str
from ._functions import X, ElementwiseFunction, function_of

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
    """Base of all nodes. Do not construct directly: use the constructors below (``contract``, ``add``, ...),
    the ``make`` class methods (no simplification), or ``ricci.symbolic``.

    Every node carries, set once at construction: ``shape``; ``ties``, the dimension equalities it imposes;
    ``var_set``, the variables it depends on (read through ``variables``); ``skey``, a structural digest
    that orders operands canonically.
    """

    shape: Shape = field(kw_only=True)
    ties: Ties = field(kw_only=True)
    var_set: frozenset = field(kw_only=True)
    skey: bytes = field(kw_only=True)

    __array_ufunc__ = None  # make NumPy defer to our reflected operators (ndarray @ Expr)

    @property
    def variables(self) -> frozenset:
        """The variables this expression depends on."""
        return self.var_set

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

    # __repr__ (a tree), __str__ (the matrix language) and _repr_latex_ are installed by ``_printing``.


def _interned(key, build):
    """The node stored under ``key``, built (by ``build()``) and stored on first use."""
    node = _TABLE.get(key)
    if node is None:
        node = build()
        _TABLE[key] = node
    return node


def _derived(shape, ties, var_set, *digest_parts) -> dict:
    """The fields every node sets at construction (see :class:`Expr`)."""
    return dict(shape=tuple(shape), ties=ties, var_set=var_set, skey=_digest(*digest_parts))


def _dims_key(shape) -> list:
    return [str(d) for d in shape]


@dataclass(frozen=True, eq=False, repr=False)
class Var(Expr):
    name: str
    declared: Shape

    @property
    def variables(self) -> frozenset:
        return frozenset((self,))

    @classmethod
    def make(cls, name: str, shape: Shape) -> "Var":
        return _interned((cls, name, shape), lambda: cls(
            name, shape, **_derived(shape, Ties.EMPTY, frozenset(), "Var", name, _dims_key(shape))))


@dataclass(frozen=True, eq=False, repr=False)
class Fill(Expr):
    """A tensor of the given shape with every entry equal to ``value`` (a scalar when shape is ())."""

    value: object
    dims: Shape

    @classmethod
    def make(cls, value, shape: Shape) -> "Fill":
        value = normalize_number(value)
        return _interned((cls, value, type(value) is float, shape), lambda: cls(
            value, shape, **_derived(shape, Ties.EMPTY, frozenset(), "Fill", value, _dims_key(shape))))


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
        return _interned((cls, content, label), lambda: cls(
            arr, label, **_derived(arr.shape, Ties.EMPTY, frozenset(), content, label)))


@dataclass(frozen=True, eq=False, repr=False)
class Delta(Expr):
    """The identity matrix of size ``dim`` (the Kronecker delta d[i, j])."""

    dim: Dim

    @classmethod
    def make(cls, dim: Dim) -> "Delta":
        return _interned((cls, dim), lambda: cls(
            dim, **_derived((dim, dim), Ties.EMPTY, frozenset(), "Delta", str(dim))))


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
    """``out[output] = sum over the other indices of prod_k operands[k][indices[k]]`` (Einstein notation).

    ``index_dims`` maps each index to its dimension (from the first operand carrying it).
    """

    operands: tuple
    indices: tuple
    output: tuple
    index_dims: dict = field(kw_only=True)

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

        def build():
            shape = tuple(index_dims[ix] for ix in output)
            var_set = frozenset().union(*(op.variables for op in operands))
            return cls(operands, indices, output, index_dims=index_dims, **_derived(
                shape, ties, var_set, "Contract", [op.skey for op in operands], indices, output))

        return _interned((cls, operands, indices, output), build)


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

        def build():
            var_set = frozenset().union(*(t.variables for t in terms))
            return cls(terms, coeffs, **_derived(
                shape, ties, var_set, "Add", [t.skey for t in terms], [str(c) for c in coeffs]))

        return _interned((cls, terms, coeffs, tuple(type(c) is float for c in coeffs)), build)


@dataclass(frozen=True, eq=False, repr=False)
class _OfOneArgument(Expr):
    """A node computed from one argument ``arg``; its ties and variables are the argument's."""

    arg: Expr

    def children(self):
        return (self.arg,)

    @classmethod
    def _of(cls, arg: Expr, params: tuple, shape, ties, digest_parts: tuple) -> "Expr":
        """The interned node ``cls(arg, *params)`` of the given shape (``ties`` default to the argument's)."""
        return _interned((cls, arg) + params, lambda: cls(arg, *params, **_derived(
            shape, arg.ties if ties is None else ties, arg.variables, *digest_parts)))


@dataclass(frozen=True, eq=False, repr=False)
class Elementwise(_OfOneArgument):
    """``fn(arg)`` entry by entry, ``fn`` a scalar function."""

    fn: ElementwiseFunction

    @classmethod
    def make(cls, fn: ElementwiseFunction, arg: Expr) -> "Elementwise":
        return cls._of(arg, (fn,), arg.shape, None, ("Elementwise", str(fn.expr), arg.skey))


@dataclass(frozen=True, eq=False, repr=False)
class _SquareMatrixFunction(_OfOneArgument):
    """A function of one square matrix that is not a contraction; subclasses set ``op`` and ``scalar``."""

    op = ""
    scalar = False

    @classmethod
    def make(cls, arg: Expr):
        if arg.ndim != 2:
            raise ValueError(f"{cls.op}: expected a square matrix, got shape {shape_str(arg.shape)}")
        ties = arg.ties.tie(arg.shape[0], arg.shape[1], cls.op)
        return cls._of(arg, (), () if cls.scalar else arg.shape, ties, (cls.__name__, arg.skey))


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
class Reshape(_OfOneArgument):
    """Row-major reshape of ``arg`` to ``new_shape`` (same number of entries)."""

    new_shape: Shape

    @classmethod
    def make(cls, arg: Expr, new_shape: Shape) -> "Reshape":
        new_shape = tuple(new_shape)
        before, after = math.prod(arg.shape), math.prod(new_shape)
        ties = None if sympy.expand(before - after) == 0 else arg.ties.tie(before, after, "a reshape")
        return cls._of(arg, (new_shape,), new_shape, ties, ("Reshape", arg.skey, _dims_key(new_shape)))


@dataclass(frozen=True, eq=False, repr=False)
class LogSumExp(_OfOneArgument):
    """log(sum(exp(arg), axis)): the reduction of one axis, kept as one node so that it is computed stably
    (max-shifted) and differentiates to the softmax weights."""

    axis: int

    @classmethod
    def make(cls, arg: Expr, axis: int) -> "LogSumExp":
        if not 0 <= axis < arg.ndim:
            raise ValueError(f"logsumexp: axis {axis} is out of range for shape {shape_str(arg.shape)}")
        return cls._of(arg, (axis,), arg.shape[:axis] + arg.shape[axis + 1:], None, ("LogSumExp", arg.skey, axis))


@dataclass(frozen=True, repr=False)
class IndexArray:
    """A constant 1-D array of non-negative integer positions, for :class:`Take` and :class:`ScatterAdd`.

    Not a node: a parameter of one (as ``axis`` is). ``array`` is a read-only int64 NumPy copy; ``label`` (an
    identifier) is what it prints as (``take(U, rows)``); ``digest`` identifies the content, and two index
    arrays are equal when label and content are. ``bound`` is max + 1 (0 when empty): the smallest axis size
    the positions fit in. Build it through ``IndexArray.make``, which trusts its input (``_build`` validates).
    """

    array: np.ndarray = field(compare=False)
    label: str
    digest: bytes
    bound: int

    @classmethod
    def make(cls, positions, label: str | None = None) -> "IndexArray":
        arr = np.array(positions, dtype=np.int64, copy=True).reshape(-1)
        arr.setflags(write=False)
        digest = _digest("IndexArray", arr.shape, arr.tobytes())
        return cls(arr, label or "idx_" + digest.hex()[:6], digest, int(arr.max()) + 1 if arr.size else 0)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __repr__(self):
        return f"IndexArray({self.label}, {len(self)} positions < {self.bound})"


def known_size(d: Dim, ties: Ties) -> int | None:
    """The integer size of ``d``: itself, or the integer it is tied to; None while it is symbolic."""
    if isinstance(d, int):
        return d
    return next((c for c in ties.class_of(d) if isinstance(c, int)), None)


@dataclass(frozen=True, eq=False, repr=False)
class Take(_OfOneArgument):
    """The gather ``out[.., k, ..] = arg[.., index[k], ..]`` along ``axis``: that axis becomes one of length
    len(index) (an integer dimension). ``take(delta(n), index, 0)`` is the selector S[k, i] = [index[k] = i],
    the 0/1 matrix whose products the simplifier turns into gathers and scatters (``_simplify``)."""

    index: IndexArray
    axis: int

    @classmethod
    def make(cls, arg: Expr, index: IndexArray, axis: int) -> "Take":
        if not 0 <= axis < arg.ndim:
            raise ValueError(f"take: axis {axis} is out of range for shape {shape_str(arg.shape)}")
        size = known_size(arg.shape[axis], arg.ties)
        if size is not None and index.bound > size:
            raise ValueError(f"take: index {index.label} holds position {index.bound - 1}, out of range for axis "
                             f"{axis} of size {size}")
        shape = arg.shape[:axis] + (len(index),) + arg.shape[axis + 1:]
        return cls._of(arg, (index, axis), shape, None, ("Take", arg.skey, index.digest, index.label, axis))


@dataclass(frozen=True, eq=False, repr=False)
class ScatterAdd(_OfOneArgument):
    """The adjoint of :class:`Take`: ``out[.., i, ..] = sum over k with index[k] = i of arg[.., k, ..]`` along
    ``axis``, which has length len(index) in ``arg`` and ``size`` in the result (a segment sum; positions
    that no k reaches are 0). <scatter_add(G), A> = <G, take(A)> for every A of the result's shape."""

    index: IndexArray
    size: Dim
    axis: int

    @classmethod
    def make(cls, arg: Expr, index: IndexArray, size: Dim, axis: int) -> "ScatterAdd":
        if not 0 <= axis < arg.ndim:
            raise ValueError(f"scatter_add: axis {axis} is out of range for shape {shape_str(arg.shape)}")
        ties = arg.ties.tie(arg.shape[axis], len(index), "scatter_add (one position per entry along the axis)")
        known = known_size(size, ties)
        if known is not None and index.bound > known:
            raise ValueError(f"scatter_add: index {index.label} holds position {index.bound - 1}, out of range for "
                             f"a result axis of size {known}")
        shape = arg.shape[:axis] + (size,) + arg.shape[axis + 1:]
        return cls._of(arg, (index, size, axis), shape, ties,
                       ("ScatterAdd", arg.skey, index.digest, index.label, str(size), axis))


def is_selector(e: Expr) -> bool:
    """True for a selector ``take(delta(n), index, 0)``: S[k, i] = 1 where index[k] = i, else 0."""
    return isinstance(e, Take) and e.axis == 0 and isinstance(e.arg, Delta)


@dataclass(frozen=True, eq=False, repr=False)
class Concat(Expr):
    """The concatenation ``[parts[0] | parts[1] | ...]`` along ``axis`` (``numpy.concatenate``): the parts
    agree on every other axis, and the size of ``axis`` is the sum of theirs (``m + n`` for symbolic sizes)."""

    parts: tuple
    axis: int

    def children(self):
        return self.parts

    @classmethod
    def make(cls, parts, axis: int) -> "Concat":
        parts = tuple(parts)
        if not parts:
            raise ValueError("concat: expected at least one part")
        first = parts[0]
        if not 0 <= axis < first.ndim:
            raise ValueError(f"concat: axis {axis} is out of range for parts of shape {shape_str(first.shape)}")
        ties = merge_all(p.ties for p in parts)
        for p in parts[1:]:
            if p.ndim != first.ndim:
                raise ValueError(f"concat: parts of shapes {shape_str(first.shape)} and {shape_str(p.shape)} "
                                 "have different numbers of axes")
            for k, (a, b) in enumerate(zip(first.shape, p.shape)):
                if k != axis:
                    ties = ties.tie(a, b, "a concatenation")

        def build():
            shape = first.shape[:axis] + (dim_sum(p.shape[axis] for p in parts),) + first.shape[axis + 1:]
            var_set = frozenset().union(*(p.variables for p in parts))
            return cls(parts, axis, **_derived(shape, ties, var_set, "Concat", [p.skey for p in parts], axis))

        return _interned((cls, parts, axis), build)


def _slice_item(item, size: Dim, shape: Shape):
    """One item of a :class:`Slice` in canonical form, and the size it leaves (None for a dropped axis)."""
    if item is None:
        return None, size
    if not isinstance(size, int):
        raise ValueError(f"slice: an axis of symbolic size {size} (in shape {shape_str(shape)}) cannot be sliced; "
                         "slicing needs an axis of known integer size")
    if isinstance(item, int):
        if not 0 <= item < size:
            raise ValueError(f"slice: index {item} is out of range for an axis of size {size} "
                             f"(shape {shape_str(shape)})")
        return item, None
    start, stop, step = item
    if step < 1 or not 0 <= start <= size or not 0 <= stop <= size:
        raise ValueError(f"slice: range {start}:{stop}:{step} is not within an axis of size {size} "
                         f"(shape {shape_str(shape)}) with a positive step")
    count = len(range(start, stop, step))
    if count == size and step == 1:
        return None, size
    if count == 0:
        return (0, 0, 1), 0
    if count == 1:
        return (start, start + 1, 1), 1
    return (start, start + (count - 1) * step + 1, step), count


@dataclass(frozen=True, eq=False, repr=False)
class Slice(_OfOneArgument):
    """Basic indexing ``arg[items]`` (as NumPy's), one item per axis of ``arg``: ``None`` (the whole axis), an
    ``int`` k (entry k; the axis is dropped), or a range ``(start, stop, step)`` (entries start, start + step,
    ... below stop; 0 <= start <= stop <= size, step >= 1). An axis that is indexed or sliced has a known
    integer size. Items are canonical (see ``_slice_item``): a range stops just after its last entry, an empty
    range is (0, 0, 1), a single entry has step 1, and the whole axis in steps of 1 is None."""

    items: tuple

    @classmethod
    def make(cls, arg: Expr, items) -> "Slice":
        items = tuple(items)
        if len(items) != arg.ndim:
            raise ValueError(f"slice: {len(items)} items for an expression of shape {shape_str(arg.shape)}")
        canonical, shape = [], []
        for item, size in zip(items, arg.shape):
            c, left = _slice_item(item, size, arg.shape)
            canonical.append(c)
            if left is not None:
                shape.append(left)
        canonical = tuple(canonical)
        return cls._of(arg, (canonical,), tuple(shape), None, ("Slice", arg.skey, repr(canonical)))

    def kept_axes(self) -> list:
        """The axes of ``arg`` that remain in the result (those not indexed by an int), in order."""
        return [k for k, item in enumerate(self.items) if not isinstance(item, int)]


NODE_TYPES = (Var, Fill, Const, Delta, Contract, Add, Elementwise, Inverse, Det, LogDet, Reshape, LogSumExp,
              Take, ScatterAdd, Concat, Slice)


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


# ----------------------------------------------------------------------------------------------------------
# Constructors: the way the rest of the package builds nodes. Each builds the interned node and brings it to
# normal form with the simplifier's rules, so every expression handed out is normal and equal expressions
# built in different ways are one object. The simplifier (``_simplify``) imports this module and installs its
# engine here when it loads; this module never imports it (no import cycle).
# ----------------------------------------------------------------------------------------------------------

_normalizer = None


def install_normalizer(normalize) -> None:
    """Called once by ``_simplify``: ``normalize(node)`` returns the normal form of a freshly made node."""
    global _normalizer
    _normalizer = normalize


def _normal(node: Expr) -> Expr:
    if _normalizer is None:
        raise RuntimeError("ricci.symbolic._simplify is not loaded; import ricci.symbolic to build expressions")
    return _normalizer(node)


def var(name, shape) -> Expr:
    return _normal(Var.make(name, tuple(shape)))


def fill(value, shape) -> Expr:
    return _normal(Fill.make(value, tuple(shape)))


def const(array, label=None) -> Expr:
    return _normal(Const.make(array, label))


def delta(dim) -> Expr:
    return _normal(Delta.make(dim))


def contract(operands, indices, output) -> Expr:
    return _normal(Contract.make(operands, indices, output))


def add(terms, coeffs) -> Expr:
    return _normal(Add.make(terms, coeffs))


def scale(e: Expr, c) -> Expr:
    """c * e (e itself when c is 1)."""
    if c == 1:
        return e
    return add([e], [c])


def elementwise(fn: ElementwiseFunction, arg: Expr) -> Expr:
    return _normal(Elementwise.make(fn, arg))


def power(arg: Expr, p) -> Expr:
    """arg .^ p entry by entry, for a constant p (ones for p = 0)."""
    p = sympy.sympify(p, strict=True)  # a number; never text (sympify evaluates strings as Python)
    if p == 0:
        return fill(1, arg.shape)
    return elementwise(function_of(X**p), arg)


def inverse(arg: Expr) -> Expr:
    return _normal(Inverse.make(arg))


def det(arg: Expr) -> Expr:
    return _normal(Det.make(arg))


def logdet(arg: Expr) -> Expr:
    return _normal(LogDet.make(arg))


def reshape(arg: Expr, new_shape) -> Expr:
    return _normal(Reshape.make(arg, tuple(new_shape)))


def logsumexp(arg: Expr, axis: int) -> Expr:
    return _normal(LogSumExp.make(arg, axis))


def take(arg: Expr, index: IndexArray, axis: int) -> Expr:
    """The gather ``arg[.., index[k], ..]`` along ``axis`` (see :class:`Take`)."""
    return _normal(Take.make(arg, index, axis))


def scatter_add(arg: Expr, index: IndexArray, size: Dim, axis: int) -> Expr:
    """The segment sum of ``arg`` along ``axis`` into ``size`` positions (see :class:`ScatterAdd`)."""
    return _normal(ScatterAdd.make(arg, index, size, axis))


def selector(index: IndexArray, n: Dim) -> Expr:
    """S[k, i] = [index[k] = i], of shape (len(index), n): ``take(delta(n), index, 0)``."""
    return take(delta(n), index, 0)


def concat(parts, axis: int) -> Expr:
    return _normal(Concat.make(parts, axis))


def sliced(arg: Expr, items) -> Expr:
    """``arg[items]`` (see :class:`Slice` for the items)."""
    return _normal(Slice.make(arg, items))
