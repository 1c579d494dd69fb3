"""Simplification: named rewrite rules, one table per node type, run to a fixpoint on every new node.

Each rule takes a node and returns an equal expression or ``None`` when it does not apply; its docstring
states the identity and why repeated application terminates. The engine (:func:`normalize`) applies the
first rule that fires, checks the result's shape once, centrally, and repeats until no rule fires. Children
are always normal already (nodes are built bottom-up through the constructors of ``_nodes``, which call
this engine, installed there when this module loads), so normalizing a node is a local fixpoint and every
expression the package hands out is in normal form: equal expressions built in different ways end up as
the same interned object. Which nodes are known to be normal is kept in a weak set here, not on the nodes.
"""

from __future__ import annotations

import math
import weakref
from fractions import Fraction

import numpy as np
import sympy

from ._dims import dim_sum, shape_str
from ._functions import X, as_number, exact_number, function_of, recognize
from ._nodes import (
    Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var,
    add, contract, delta, det, elementwise, fill, install_normalizer, logdet, power, reshape, scale,
)
from ._nodes import Concat, Slice, concat, sliced
from ._nodes import ScatterAdd, Take, is_selector, known_size, scatter_add, selector, take


class RuleError(AssertionError):
    """A rewrite rule produced a result of the wrong shape: a bug in ricci, never the user's input."""


# ----------------------------------------------------------------------------------------------------------
# Contract rules
# ----------------------------------------------------------------------------------------------------------


def contract_zero_factor(node: Contract):
    """prod(..., 0, ...) = 0. Terminates: the result is a leaf."""
    if any(isinstance(op, Fill) and op.value == 0 for op in node.operands):
        return fill(0, node.shape)
    return None


def contract_scale_out(node: Contract):
    """prod(..., c*t, ...) = c * prod(..., t, ...), for single-term sums and constant fills c*1.

    Terminates: the number of scaled operands decreases by at least one and never grows.
    """
    factor = 1
    ops = list(node.operands)
    changed = False
    # a real product (a row sum with ones too), not a sum scaled by a number
    products = sum(1 for op in ops if not (isinstance(op, Fill) and op.ndim == 0)) >= 2
    for k, op in enumerate(ops):
        if isinstance(op, Add) and len(op.terms) == 1:
            factor *= op.coeffs[0]
            ops[k] = op.terms[0]
            changed = True
        elif products and isinstance(op, Add) and _leading(op) != 1 and _divides_exactly(op.coeffs, _leading(op)):
            # a sum inside a product is kept with leading coefficient 1: (2c - 2d) x = 2 (c - d) x
            lead = _leading(op)
            factor *= lead
            ops[k] = add(op.terms, [_quotient(c, lead) for c in op.coeffs])
            changed = True
        elif isinstance(op, Fill) and op.value != 1:
            factor *= op.value
            ops[k] = fill(1, op.shape)
            changed = True
    if not changed:
        return None
    return scale(contract(ops, node.indices, node.output), factor)


def _quotient(c, lead):
    if isinstance(c, float) or isinstance(lead, float):
        return c / lead
    return Fraction(c) / Fraction(lead)


def _leading(op: Add):
    """The factor a sum inside a product is normalised by: the size of its first coefficient, with the
    sign of its constant term if it has one (so 1 - s stays 1 - s, and 2 - 2s becomes 2*(1 - s))."""
    size = abs(op.coeffs[0])
    signs = [c for t, c in zip(op.terms, op.coeffs) if isinstance(t, Fill)] or [op.coeffs[0]]
    return size if signs[0] > 0 else -size


def _divides_exactly(coeffs, lead) -> bool:
    """Dividing every coefficient by ``lead`` and multiplying back gives them exactly (no rounding)."""
    return all(_quotient(c, lead) * lead == c for c in coeffs)


def contract_distribute_large_sums(node: Contract):
    """prod(..., (A + B), ...) = prod(..., A, ...) + prod(..., B, ...) when the sum has three or more axes.

    Such a sum arises from differentiating a product that is itself a derivative (the softmax weights'
    derivative carries dz - d(lse)); kept whole it would be materialised as a large tensor and then
    contracted, while each distributed product flattens and is contracted in a cheap order. Sums of
    vectors and matrices are left alone (distributing them only repeats work). Terminates: the number of
    sum operands of three or more axes decreases in every new product.
    """
    for k, op in enumerate(node.operands):
        if isinstance(op, Add) and op.ndim >= 3 and len(op.terms) > 1:
            return _distribute(node, k, op)
    return None


def _distribute(node: Contract, k: int, op: Add):
    """The product ``node`` with its k-th operand, the sum ``op``, distributed: one product per term of op."""
    ops = list(node.operands)
    terms = []
    for t in op.terms:
        ops[k] = t
        terms.append(contract(ops, node.indices, node.output))
    return add(terms, op.coeffs)


#: The most operands a product gets by flattening. Bringing a product of n operands to its canonical form
#: costs O(n^2 log n) (colour refinement, ``_nodes._refined_colors``), so a product that would grow beyond
#: this stays nested, a product of products of at most this many: A^64*A^64*... (16 times) builds in a
#: second instead of a minute. Products that large are rare (the matrix powers of the language stop at 64
#: factors); beyond it, equal products built in different groupings may be different nodes.
MAX_PRODUCT_OPERANDS = 128


def contract_flatten(node: Contract):
    """prod(..., (sum_c prod_k B_k)[I], ...) = sum_c prod(..., prod_k B_k, ...): nested products become one
    (the smaller inner products first, as long as the result has at most MAX_PRODUCT_OPERANDS operands).

    Index names of the inner product are mapped onto the outer indices at its output positions, its summed
    indices get fresh names. Terminates: the number of Contract nodes in the operand list decreases.
    """
    inner = sorted((len(op.operands), k) for k, op in enumerate(node.operands) if isinstance(op, Contract))
    size, chosen = len(node.operands), set()
    for n, k in inner:
        if size + n - 1 <= MAX_PRODUCT_OPERANDS:
            size += n - 1
            chosen.add(k)
    if not chosen:
        return None
    fresh = 1 + max((ix for idx in node.indices for ix in idx), default=-1)
    fresh = max(fresh, 1 + max(node.output, default=-1))
    ops, idxs = [], []
    for k, (op, idx) in enumerate(zip(node.operands, node.indices)):
        if k not in chosen:
            ops.append(op)
            idxs.append(idx)
            continue
        rename = dict(zip(op.output, idx))
        for inner_idx in op.indices:
            for ix in inner_idx:
                if ix not in rename:
                    rename[ix] = fresh
                    fresh += 1
        for inner_op, inner_idx in zip(op.operands, op.indices):
            ops.append(inner_op)
            idxs.append(tuple(rename[ix] for ix in inner_idx))
    return contract(ops, idxs, node.output)


def contract_eliminate_delta(node: Contract):
    """sum_j d[i, j] T[.., j, ..] = T[.., i, ..]: contracting with the identity renames an index; d[i, i] = 1.

    A delta both of whose indices are output indices stays (it is genuinely part of the result, e.g. the
    Hessian 2*d[i, j] of x'x). Terminates: the number of Delta operands decreases.
    """
    out = set(node.output)
    for k, (op, idx) in enumerate(zip(node.operands, node.indices)):
        if not isinstance(op, Delta):
            continue
        p, q = idx
        rest_ops = node.operands[:k] + node.operands[k + 1:]
        rest_idx = node.indices[:k] + node.indices[k + 1:]
        if p == q:  # trace of the identity: a sum of ones over that index
            return contract(rest_ops + (fill(1, (op.dim,)),), rest_idx + ((p,),), node.output)
        if q in out and p in out:
            # d[p, q] forces p = q: other operands use the earlier output index (x[q] d[p, q] = x[p] d[p, q])
            first, later = sorted((p, q), key=node.output.index)
            if any(later in i for i in rest_idx):
                renamed = tuple(tuple(first if ix == later else ix for ix in i) for i in rest_idx)
                ops = rest_ops + (op,)
                return contract(ops, renamed + (idx,), node.output)
            continue
        old, new = (q, p) if q not in out else (p, q)
        rename = lambda ix: new if ix == old else ix  # noqa: E731
        new_idx = tuple(tuple(rename(ix) for ix in i) for i in rest_idx)
        if not any(new in i for i in new_idx) and new not in out:
            # d[i, j] summed over both indices with nothing else: the trace, n
            return contract(rest_ops + (fill(1, (op.dim,)),), rest_idx + ((new,),), node.output)
        if new in out and not any(new in i for i in new_idx):
            # d[i, j] with i an output index and j summed alone: the row sums of the identity, all ones
            return contract(rest_ops + (fill(1, (op.dim,)),), rest_idx + ((new,),), node.output)
        return contract(rest_ops, new_idx, tuple(rename(ix) for ix in node.output))
    return None


def contract_absorb_ones(node: Contract):
    """prod(..., 1[I], ...) drops the all-ones factor on indices carried by other operands.

    An index only the ones tensor carries is summed (factor: its integer size) unless it is an output index
    (then the ones broadcast, and they stay). Terminates: the ones operands lose axes or disappear.
    """
    for k, (op, idx) in enumerate(zip(node.operands, node.indices)):
        if not (isinstance(op, Fill) and op.value == 1):
            continue
        elsewhere = {ix for j, i in enumerate(node.indices) if j != k for ix in i}
        keep, factor, seen = [], 1, set()
        for ix, d in zip(idx, op.shape):
            if ix in seen or ix in elsewhere:
                seen.add(ix)
                continue
            seen.add(ix)
            if ix in node.output:
                keep.append((ix, d))
            elif isinstance(d, int):
                factor *= d
            else:
                keep.append((ix, d))
        if idx and len(keep) == len(idx):
            continue  # every axis is needed (broadcast over an output index, or a symbolic-size sum)
        rest_ops = node.operands[:k] + node.operands[k + 1:]
        rest_idx = node.indices[:k] + node.indices[k + 1:]
        if keep:
            rest_ops += (fill(1, tuple(d for _, d in keep)),)
            rest_idx += (tuple(ix for ix, _ in keep),)
        return scale(contract(rest_ops, rest_idx, node.output), factor)
    return None


def _power_base(op: Expr):
    """(u, p) with op = u**p for a constant p (p = 1 for a plain operand)."""
    if isinstance(op, Elementwise):
        e = op.fn.expr
        if e.is_Pow and e.base == X and e.exp.is_Number:
            return op.arg, e.exp
    return op, sympy.Integer(1)


def contract_collect_powers(node: Contract):
    """u[I] * u[I]**p = u[I]**(p+1) for operands on identical indices, at least one an explicit power.

    (So 1/det(X) * det(X) = 1, and the derivative of log det X comes out as inv(X)'.) A plain u*u is left
    as a product. Terminates: the number of operands decreases.
    """
    ops, idxs = node.operands, node.indices
    for a in range(len(ops)):
        base_a, pa = _power_base(ops[a])
        for b in range(a + 1, len(ops)):
            if idxs[a] != idxs[b]:
                continue
            base_b, pb = _power_base(ops[b])
            if base_a is not base_b or (pa == 1 and pb == 1):
                continue
            merged = power(base_a, pa + pb)
            rest = [ops[k] for k in range(len(ops)) if k not in (a, b)] + [merged]
            rest_idx = [idxs[k] for k in range(len(ops)) if k not in (a, b)] + [idxs[a]]
            return contract(rest, rest_idx, node.output)
    return None


def contract_cancel_inverse(node: Contract):
    """inv(A)[i, a] A[a, j] = d[i, j] and A[i, a] inv(A)[a, j] = d[i, j], the summed index a carried by
    these two operands only. Terminates: the number of operands decreases."""
    ops, idxs = node.operands, node.indices
    count: dict = {}
    for idx in idxs:
        for ix in idx:
            count[ix] = count.get(ix, 0) + 1
    out = set(node.output)
    for k, op in enumerate(ops):
        if not isinstance(op, Inverse):
            continue
        for j, other in enumerate(ops):
            if other is not op.arg or j == k:
                continue
            (i1, i2), (j1, j2) = idxs[k], idxs[j]
            for inner, left, right in ((i2 == j1, i1, j2), (j2 == i1, j1, i2)):
                a = i2 if inner and i2 == j1 else i1
                if not inner or a in out or count[a] != 2 or left == a or right == a:
                    continue
                rest = [ops[t] for t in range(len(ops)) if t not in (j, k)] + [delta(op.shape[0])]
                rest_idx = [idxs[t] for t in range(len(ops)) if t not in (j, k)] + [(left, right)]
                return contract(rest, rest_idx, node.output)
    return None


def contract_trivial(node: Contract):
    """A product of one operand with its own indices in order is that operand; of none, the scalar 1.

    Terminates: the result has no Contract node on top.
    """
    if not node.operands:
        return fill(1, ())
    if len(node.operands) == 1 and node.indices[0] == node.output:
        return node.operands[0]
    return None


# ----------------------------------------------------------------------------------------------------------
# Add rules
# ----------------------------------------------------------------------------------------------------------


def add_flatten(node: Add):
    """a*(b*x + c*y) + ... = (a*b)*x + (a*c)*y + ...: nested sums become one, where the products a*b, a*c
    are exact (always for ints and fractions; for floats where no rounding happens, so that the normal form
    does not depend on the order the sum was built in: 1e-80*(1e40*y + 1) stays as it is, rather than
    becoming 1e-40*y + 1e-80 and then, inside a product, 1e-80*(9.999999999999999e+39*y + 1)). A scaled
    single term, a*(b*x), is always (a*b)*x. Terminates: nesting depth drops."""
    flatten = [isinstance(t, Add) and (len(t.terms) == 1 or all(_exact_product(c, ci) for ci in t.coeffs))
               for t, c in zip(node.terms, node.coeffs)]
    if not any(flatten):
        return None
    terms, coeffs = [], []
    for t, c, inner in zip(node.terms, node.coeffs, flatten):
        if inner:
            terms.extend(t.terms)
            coeffs.extend(c * ci for ci in t.coeffs)
        else:
            terms.append(t)
            coeffs.append(c)
    return add(terms, coeffs)


def _exact_product(a, b) -> bool:
    """a*b is the exact product of the numbers a and b (ints and fractions always; floats when the product
    rounds to nothing; an infinite or nan factor counts as exact)."""
    if not (isinstance(a, float) or isinstance(b, float)):
        return True
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(a * b)):
        return True
    return Fraction(a * b) == Fraction(a) * Fraction(b)


def add_collect(node: Add):
    """a*x + b*x = (a+b)*x; c1*Fill(v1) + c2*Fill(v2) = (c1 v1 + c2 v2)*ones; terms with coefficient 0 vanish.

    Terminates: the number of terms decreases (or stays, with the constant fills folded into one
    coefficient on the ones, which this rule then leaves alone).
    """
    merged: dict = {}
    constant = 0
    for t, c in zip(node.terms, node.coeffs):
        if isinstance(t, Fill):
            constant += c * t.value
        else:
            merged[t] = merged.get(t, 0) + c
    pairs = [(t, c) for t, c in merged.items() if c != 0]
    if constant != 0:  # the constant is a coefficient on the ones, so that sums scale uniformly
        pairs.append((fill(1, node.shape), constant))
    before = sorted((id(t), str(c)) for t, c in zip(node.terms, node.coeffs))
    if sorted((id(t), str(c)) for t, c in pairs) == before:
        return None
    if not pairs:
        return fill(0, node.shape)
    return add([t for t, _ in pairs], [c for _, c in pairs])


def _weighted_structure(term: Expr, c):
    """A product term split as c * sum_a w[a] S[.., a], or None: the weight w is the product of the operands
    that carry nothing but one summed index a (vectors on a, and scalars), S the product of the others,
    which must carry a. Returned as (S with a as its last output index, the weight as a vector on a, times c).
    S is made with ``Contract.make``: canonical (equal structures are one object), not simplified."""
    if not isinstance(term, Contract):
        return None
    out = set(term.output)
    summed = {idx[0] for idx in term.indices if len(idx) == 1 and idx[0] not in out}
    if len(summed) != 1:
        return None
    (a,) = summed
    weights = [k for k, idx in enumerate(term.indices) if idx in ((a,), ())]
    rest = [k for k in range(len(term.operands)) if k not in weights]
    if not any(a in term.indices[k] for k in rest) or any(_holds_blocks(term.operands[k]) for k in weights):
        return None  # a weight outside every structure is a plain factor; blocks are distributed
    structure = Contract.make([term.operands[k] for k in rest], [term.indices[k] for k in rest],
                              term.output + (a,))
    weight = contract([term.operands[k] for k in weights], [term.indices[k] for k in weights], (a,))
    return structure, scale(weight, c)


def _holds_blocks(e: Expr) -> bool:
    """A concatenation, or a sum with one among its terms (products distribute over these)."""
    return isinstance(e, Concat) or isinstance(e, Add) and any(isinstance(t, Concat) for t in e.terms)


def add_collect_weights(node: Add):
    """c1 * sum_a w1[a] S[.., a] + c2 * sum_a w2[a] S[.., a] = sum_a (c1 w1 + c2 w2)[a] S[.., a]: products
    that share their structure S and differ in the vector (and scalar) weights on one summed index a are
    one product with the weights' sum (distributivity). So the logistic third derivative, two contractions
    over X[a,i] X[a,j] X[a,k] with different weights, is one (X (x) X built once), and
    X'*diag(s1)*X - X'*diag(s2)*X is X'*diag(s1 - s2)*X. Structures compare by identity: ``Contract.make``
    renames indices canonically, so two products with one structure give one object.

    Terminates: the number of terms decreases; the new product's weight is a sum of vectors, which no
    Contract rule distributes again (only sums of three or more axes or holding blocks are distributed, and
    weights holding blocks are not collected).
    """
    groups: dict = {}
    for k, (t, c) in enumerate(zip(node.terms, node.coeffs)):
        split = _weighted_structure(t, c)
        if split is not None:
            groups.setdefault(split[0], []).append((k, split[1]))
    merged = {ks[0][0]: (S, ks) for S, ks in groups.items() if len(ks) > 1}
    if not merged:
        return None
    dropped = {k for _, ks in merged.values() for k, _ in ks}
    terms, coeffs = [], []
    for k, (t, c) in enumerate(zip(node.terms, node.coeffs)):
        if k in merged:
            S, ks = merged[k]
            weight = add([w for _, w in ks], [1] * len(ks))
            a = S.output[-1]
            terms.append(contract(S.operands + (weight,), S.indices + ((a,),), S.output[:-1]))
            coeffs.append(1)
        elif k not in dropped:
            terms.append(t)
            coeffs.append(c)
    return add(terms, coeffs)


def add_trivial(node: Add):
    """1*x = x; c*Fill(v) = Fill(c*v). Terminates: the result has no Add node on top."""
    if len(node.terms) == 1:
        t, c = node.terms[0], node.coeffs[0]
        if c == 1:
            return t
        if isinstance(t, Fill):
            return fill(c * t.value, t.shape)
    return None


# ----------------------------------------------------------------------------------------------------------
# Elementwise rules
# ----------------------------------------------------------------------------------------------------------


def elementwise_constant(node: Elementwise):
    """f(x) = k for all x, or f(Fill(c)) = Fill(f(c)) when f(c) is finite. Terminates: the result is a leaf."""
    e = node.fn.expr
    if not e.has(X):
        return fill(as_number(e), node.shape)
    if isinstance(node.arg, Fill):
        value = node.fn.numeric(float(node.arg.value))
        if math.isfinite(value):
            return fill(_exact_if_integral(value), node.shape)
    return None


def elementwise_identity(node: Elementwise):
    """f = x: f(u) = u. Terminates: removes the node."""
    return node.arg if node.fn.expr == X else None


def elementwise_split_constants(node: Elementwise):
    """(k*g)(u) = k*g(u) and (g + k)(u) = g(u) + k, for numbers k.

    Terminates: the function's expression loses a numeric factor or addend, and these are finitely many.
    """
    e = node.fn.expr
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if coeff != 1:
            return scale(elementwise(function_of(rest), node.arg), as_number(coeff))
    if e.is_Add:
        const, rest = e.as_coeff_Add()
        if const != 0:
            return add([elementwise(function_of(rest), node.arg), fill(as_number(const), node.shape)], [1, 1])
    return None


def elementwise_linear_argument(node: Elementwise):
    """g(a*x + k)(u) = g(a*u + k) for one named function g and numbers a != 0, k (not both a = 1, k = 0), so
    that exp(x/2) applied to u and exp applied to u/2 are one node (the printer writes both as exp((1/2)*u)).

    Terminates: the function's expression becomes g(x), which this rule leaves alone.
    """
    e = node.fn.expr
    if not (e.is_Function and len(e.args) == 1) or e.args[0] == X:
        return None
    arg = e.args[0]
    a = arg.coeff(X)
    k = sympy.expand(arg - a * X)
    if not (a.is_Number and k.is_Number and a != 0) or sympy.expand(arg - (a * X + k)) != 0:
        return None
    inner = scale(node.arg, as_number(a))
    if k != 0:
        inner = add([inner, fill(as_number(k), node.shape)], [1, 1])
    return elementwise(function_of(e.func(X)), inner)


def elementwise_of_power(node: Elementwise):
    """(u**q)**p = u**(p q) for an integer p. Terminates: removes one Elementwise node."""
    e = node.fn.expr
    if not (e.is_Pow and e.base == X and e.exp.is_Integer):
        return None
    inner = node.arg
    if isinstance(inner, Elementwise):
        ie = inner.fn.expr
        if ie.is_Pow and ie.base == X and ie.exp.is_Number:
            return power(inner.arg, ie.exp * e.exp)
    return None


def elementwise_fuse(node: Elementwise):
    """f(c + a*g(u)) = h(u) with h = f(c + a*g(x)), when that composition simplifies (exp(log x) = x) or is a
    known unstable form with a stable name (log(1 + exp(x)) = softplus(x)).

    Compositions that do not simplify stay two nodes, so that g(u) remains shared. Terminates: removes an
    Elementwise node.
    """
    inner, a, c0 = node.arg, 1, 0
    if isinstance(inner, Add) and len(inner.terms) <= 2:
        fills = [(t, k) for t, k in zip(inner.terms, inner.coeffs) if isinstance(t, Fill)]
        others = [(t, k) for t, k in zip(inner.terms, inner.coeffs) if not isinstance(t, Fill)]
        if len(others) != 1 or len(fills) > 1:
            return None
        inner, a = others[0]
        c0 = fills[0][1] * fills[0][0].value if fills else 0
    if not isinstance(inner, Elementwise) or any(isinstance(v, float) and not math.isfinite(v) for v in (a, c0)):
        return None
    g = inner.fn.expr
    # the constants keep their exact values (nsimplify would round 6.626e-34 to 0 and 0.333333333333333 to 1/3)
    composed = node.fn.expr.subs(X, exact_number(a) * g + exact_number(c0))
    fused = recognize(composed)
    if fused == node.fn.expr.subs(X, g) and (a != 1 or c0 != 0):
        # the affine part vanished by a symmetry (cos(-u) = cos(u), abs(-u) = abs(u)): f(g(u)) without it is
        # the canonical form, the one its printed text parses back to
        return elementwise(node.fn, inner)
    naive = sympy.count_ops(node.fn.expr) + sympy.count_ops(g) + (a != 1) + (c0 != 0)
    if fused == composed and sympy.count_ops(fused) >= naive:
        return None
    return elementwise(function_of(fused), inner.arg)


def _exact_if_integral(v: float):
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else v


# ----------------------------------------------------------------------------------------------------------
# Matrix-function and reshape rules
# ----------------------------------------------------------------------------------------------------------


def inverse_of_inverse(node: Inverse):
    """inv(inv(A)) = A. Terminates: removes two nodes."""
    return node.arg.arg if isinstance(node.arg, Inverse) else None


def det_of_inverse(node: Det):
    """det(inv(A)) = 1/det(A). Terminates: removes the Inverse node."""
    return power(det(node.arg.arg), -1) if isinstance(node.arg, Inverse) else None


def logdet_of_inverse(node: LogDet):
    """log|det(inv(A))| = -log|det(A)|. Terminates: removes the Inverse node."""
    return scale(logdet(node.arg.arg), -1) if isinstance(node.arg, Inverse) else None


def reshape_trivial(node: Reshape):
    """reshape(a, shape(a)) = a; reshape(reshape(a, s1), s2) = reshape(a, s2); reshape(Fill) = Fill.

    Terminates: removes a Reshape node.
    """
    a = node.arg
    if a.shape == node.new_shape:
        return a
    if isinstance(a, Reshape):
        return reshape(a.arg, node.new_shape)
    if isinstance(a, Fill):
        return fill(a.value, node.new_shape)
    return None


# ----------------------------------------------------------------------------------------------------------
# Gather and scatter rules (Take, ScatterAdd, and products holding selectors S = take(delta(n), index, 0)).
# S[k, i] = [index[k] = i]: each row k has its one 1 at column index[k]. Products with S are rewritten into
# gathers (take) and scatters (scatter_add) of the other operands, so that a sparse Jacobian reads
# S[k, i] * B~[k, j] and a Hessian delta[i, i'] * scatter_add(W)[i, j, j'] (block diagonal) in the tree.
# ----------------------------------------------------------------------------------------------------------


def take_of_fill(node: Take):
    """take(c * ones) = c * ones of the result's shape. Terminates: the result is a leaf."""
    return fill(node.arg.value, node.shape) if isinstance(node.arg, Fill) else None


def take_identity(node: Take):
    """take(A, [0, 1, ..., n-1]) = A along an axis of size n. Terminates: removes the Take node."""
    size = known_size(node.arg.shape[node.axis], node.arg.ties)
    if size is None or len(node.index) != size or not np.array_equal(node.index.array, np.arange(size)):
        return None
    return node.arg


def take_delta_columns(node: Take):
    """take(delta(n), index, 1)[i, k] = delta[i, index[k]] = S[k, i]: the selector, transposed (so every
    selector is taken along axis 0). Terminates: the result's Take is along axis 0, which this rule leaves."""
    if not (isinstance(node.arg, Delta) and node.axis == 1):
        return None
    return contract([selector(node.index, node.arg.dim)], [(1, 0)], (0, 1))


def take_of_sum(node: Take):
    """take(sum_t c_t A_t) = sum_t c_t take(A_t): a gather is linear. Terminates: the Take moves below the
    Add, a smaller argument."""
    if not isinstance(node.arg, Add):
        return None
    return add([take(t, node.index, node.axis) for t in node.arg.terms], node.arg.coeffs)


def take_into_product(node: Take):
    """take(prod_t A_t[I_t])[.., k, ..] = prod_t take(A_t)[I_t]: every operand carrying the gathered output
    index i (once each) is gathered along its own axis for i (out[.., k, ..] reads the product at
    i = index[k], and only the carriers of i depend on it). Applied where it costs no more than gathering
    the product: when nothing is summed (a Hadamard, outer or broadcasting product) or when the carriers
    are deltas and fills, so that take(delta[i, i'] delta[j, j']) (the derivative of take(U)) becomes
    S[k, i'] delta[j, j']. Terminates: the Take moves onto operands, which are smaller than the product.
    """
    prod = node.arg
    if not isinstance(prod, Contract):
        return None
    ix = prod.output[node.axis]
    carriers = [k for k, idx in enumerate(prod.indices) if ix in idx]
    if any(prod.indices[k].count(ix) != 1 for k in carriers):
        return None
    summed = {i for idx in prod.indices for i in idx} - set(prod.output)
    if summed and not all(isinstance(prod.operands[k], (Delta, Fill)) for k in carriers):
        return None
    ops = [take(op, node.index, prod.indices[k].index(ix)) if k in carriers else op
           for k, op in enumerate(prod.operands)]
    return contract(ops, prod.indices, prod.output)


def scatter_of_zero(node: ScatterAdd):
    """scatter_add(0) = 0. Terminates: the result is a leaf."""
    return fill(0, node.shape) if isinstance(node.arg, Fill) and node.arg.value == 0 else None


def scatter_identity(node: ScatterAdd):
    """scatter_add(G, [0, 1, ..., n-1], n) = G. Terminates: removes the ScatterAdd node."""
    size = known_size(node.size, node.ties)
    if size is None or len(node.index) != size or not np.array_equal(node.index.array, np.arange(size)):
        return None
    return node.arg


def scatter_of_sum(node: ScatterAdd):
    """scatter_add(sum_t c_t G_t) = sum_t c_t scatter_add(G_t): a scatter is linear. Terminates: the
    ScatterAdd moves below the Add, a smaller argument."""
    if not isinstance(node.arg, Add):
        return None
    return add([scatter_add(t, node.index, node.size, node.axis) for t in node.arg.terms], node.arg.coeffs)


def scatter_of_selector_product(node: ScatterAdd):
    """scatter_add(prod(S2[k, i2], ...))[.., i, ..] = sum_k S[k, i] S2[k, i2] ... (S = the selector of this
    scatter's index): a scatter of a product that holds another selector on the scattered index k is the
    product of both selectors, summed over k. Written so, it is computed as one segment sum over the pairs
    (index[k], index2[k]) (``_gather``), never materialising the argument (k x n2 x ...), and the
    Hessian's coupling block reads sum_k S[k, i] S2[k, i2] W[k, j, j2] (k nonzero r x r blocks).
    Terminates: the ScatterAdd node disappears; ``contract_scatter_selector`` does not re-form it while
    another selector carries k.
    """
    prod = node.arg
    if not isinstance(prod, Contract):
        return None
    k = prod.output[node.axis]
    if not any(is_selector(op) and idx[0] == k and idx[1] != k for op, idx in zip(prod.operands, prod.indices)):
        return None
    fresh = 1 + max([ix for idx in prod.indices for ix in idx] + list(prod.output))
    output = prod.output[:node.axis] + (fresh,) + prod.output[node.axis + 1:]
    return contract((selector(node.index, node.size),) + prod.operands, ((k, fresh),) + prod.indices, output)


def _selectors(node: Contract) -> list:
    """(position, k, i) of every selector operand S[k, i] with k != i."""
    return [(s, idx[0], idx[1]) for s, (op, idx) in enumerate(zip(node.operands, node.indices))
            if is_selector(op) and idx[0] != idx[1]]


def contract_merge_selectors(node: Contract):
    """S[k, i] S[k, i'] = S[k, i] delta[i, i'] for two selectors of one index array sharing k (both are 1
    exactly where i = index[k] = i'), and S[k, i] S[k, i] = S[k, i] (0/1 entries). So the Hessian
    sum_k S[k, i] S[k, i'] W[k, j, j'] becomes delta[i, i'] scatter_add(W)[i, j, j']: block diagonal.
    Terminates: the number of selectors decreases.
    """
    found = _selectors(node)
    for a, (sa, ka, ia) in enumerate(found):
        for sb, kb, ib in found[a + 1:]:
            A, B = node.operands[sa], node.operands[sb]
            if ka != kb or A.index.digest != B.index.digest or A.arg is not B.arg:
                continue
            ops = list(node.operands)
            idxs = list(node.indices)
            if ia == ib:
                del ops[sb], idxs[sb]
            else:
                ops[sb], idxs[sb] = A.arg, (ia, ib)
            return contract(ops, idxs, node.output)
    return None


def contract_gather_through_selector(node: Contract):
    """S[k, i] B[.., i, ..] = S[k, i] take(B, index)[.., k, ..] (S is 0 unless i = index[k]): each other
    operand carrying i (once, and not k) is gathered; then sum_i S[k, i] = 1 drops S where it alone still
    carries a summed i. So sum_i S[k, i] A[i, j] = take(A)[k, j], a gather. Deltas and other selectors on i
    are left (S[k, i] S2[k2, i] is a k x k2 pattern a gather would make dense).
    Terminates: the operands carrying a selector's i other than itself become fewer, then the selector goes.
    """
    out = set(node.output)
    for s, k, i in _selectors(node):
        S = node.operands[s]
        ops, idxs, changed = list(node.operands), list(node.indices), False
        for j, (op, idx) in enumerate(zip(node.operands, node.indices)):
            if j == s or i not in idx or k in idx or idx.count(i) != 1 or isinstance(op, Delta) or is_selector(op):
                continue
            ops[j] = take(op, S.index, idx.index(i))
            idxs[j] = tuple(k if ix == i else ix for ix in idx)
            changed = True
        if i not in out and not any(i in idx for j, idx in enumerate(idxs) if j != s):
            ops[s], idxs[s] = fill(1, (S.shape[0],)), (k,)  # sum_i S[k, i] = 1
            changed = True
        if changed:
            return contract(ops, idxs, node.output)
    return None


def contract_scatter_selector(node: Contract):
    """sum_k S[k, i] G_1[k, ..] ... G_p[k, ..] = scatter_add(prod_q G_q)[i, ..] when k is summed and the
    operands G_q carrying k carry neither i nor a selector: they are multiplied (keeping k and the indices
    needed outside) and summed into the positions index[k]; operands carrying i but not k stay factors
    outside (delta[i, i'] scatter_add(W)[i, j, j']). With no G_q, it is the count of each position,
    scatter_add(ones). Terminates: the number of selectors decreases.
    """
    out = set(node.output)
    for s, k, i in _selectors(node):
        if k in out:
            continue
        S = node.operands[s]
        group = [j for j, idx in enumerate(node.indices) if j != s and k in idx]
        if any(is_selector(node.operands[j]) or i in node.indices[j] for j in group):
            continue
        rest = [j for j in range(len(node.operands)) if j != s and j not in group]
        needed = out | {ix for j in rest for ix in node.indices[j]}
        kept = [ix for j in group for ix in node.indices[j] if ix != k and ix in needed]
        sub_out = (k,) + tuple(dict.fromkeys(kept))
        if group:
            sub = contract([node.operands[j] for j in group], [node.indices[j] for j in group], sub_out)
        else:
            sub = fill(1, (S.shape[0],))
        scattered = scatter_add(sub, S.index, S.arg.dim, 0)
        ops = [node.operands[j] for j in rest] + [scattered]
        idxs = [node.indices[j] for j in rest] + [(i,) + sub_out[1:]]
        return contract(ops, idxs, node.output)
    return None


# ----------------------------------------------------------------------------------------------------------
# Block rules (Concat, Slice, and products holding concatenations). Slices move towards the leaves (into
# products, concatenations, other slices); a slice of the identity becomes blocks of zeros and identities;
# a product with a concatenation along one of its indices becomes the concatenation (an output index) or the
# sum (a summed index) of the block products. So the derivative of x[1:] - x[:-1] contracted with a vector u
# is [0 | u] - [u | 0], two shifted copies, never a dense selector matrix.
# ----------------------------------------------------------------------------------------------------------


def _range_of(item, size):
    """A Slice item on an axis of ``size`` as (start, stop, step) (the whole axis for None)."""
    return (0, size, 1) if item is None else item


def _range_count(start, stop, step) -> int:
    return len(range(start, stop, step))


def _compose_item(outer, inner):
    """The item of ``a`` picked by ``outer`` applied to ``a[inner]`` on one axis (``inner`` not an int)."""
    if inner is None or outer is None:
        return outer if inner is None else inner
    start, _, step = inner
    if isinstance(outer, int):
        return start + step * outer
    count = _range_count(*outer)
    if count == 0:
        return (0, 0, 1)
    first = start + step * outer[0]
    return (first, first + step * outer[2] * (count - 1) + 1, step * outer[2])


def slice_whole(node: Slice):
    """a[:, ..., :] = a. Terminates: removes the Slice node."""
    return node.arg if all(item is None for item in node.items) else None


def slice_empty(node: Slice):
    """A slice with an empty range has no entries: it is the zero fill of its shape (so empty blocks vanish
    from concatenations). Terminates: the result is a leaf."""
    if any(isinstance(item, tuple) and item[0] == item[1] for item in node.items):
        return fill(0, node.shape)
    return None


def slice_of_fill(node: Slice):
    """(c * ones)[items] = c * ones of the sliced shape. Terminates: the result is a leaf."""
    return fill(node.arg.value, node.shape) if isinstance(node.arg, Fill) else None


def slice_of_slice(node: Slice):
    """a[r][q] = a[r o q]: items compose, a range (s, _, t) picking entry k as s + t*k and the range
    (c, d, u) as (s + t*c, ..., t*u). Terminates: removes one Slice node."""
    inner = node.arg
    if not isinstance(inner, Slice):
        return None
    outer = iter(node.items)
    items = [item if isinstance(item, int) else _compose_item(next(outer), item) for item in inner.items]
    return sliced(inner.arg, items)


def _identity(n: int) -> Expr:
    """The n x n identity, as ones for n = 1 (a Delta of size 1 is the number 1)."""
    return fill(1, (1, 1)) if n == 1 else delta(n)


def _unit_vector(n: int, k: int) -> Expr:
    """e_k of length n as blocks: [0 (k) | 1 | 0 (n - k - 1)]."""
    return concat([fill(0, (k,)), fill(1, (1,)), fill(0, (n - k - 1,))], 0)


def slice_of_delta(node: Slice):
    """Slices of the identity I (n x n) as blocks: I[k, l] = [k = l]; I[k, :] = I[:, k] = e_k = [0 | 1 | 0];
    I[a:b, :] = [0 | I_(b-a) | 0] (side by side); I[:, a:b] = [0; I_(b-a); 0] (one above the other); items on
    both axes slice one of these blocks again. Ranges with a step above 1 stay (a strided selector).
    Terminates: the Delta becomes fills, smaller deltas and concatenations of them."""
    if not isinstance(node.arg, Delta):
        return None
    p, q = node.items
    if any(isinstance(item, tuple) and item[2] != 1 for item in (p, q)):
        return None
    n = node.arg.dim
    if isinstance(p, int) and isinstance(q, int):
        return fill(int(p == q), ())
    if q is None and isinstance(p, int) or p is None and isinstance(q, int):
        return _unit_vector(n, p if q is None else q)
    if q is None:
        a, b, _ = p
        return concat([fill(0, (b - a, a)), _identity(b - a), fill(0, (b - a, n - b))], 1)
    if p is None:
        a, b, _ = q
        return concat([fill(0, (a, b - a)), _identity(b - a), fill(0, (n - b, b - a))], 0)
    rows = sliced(node.arg, (p, None))  # blocks, which the item of the second axis then slices
    return sliced(rows, ((None, q) if not isinstance(p, int) else (q,)))


def _output_axis(items, axis: int) -> int:
    """The axis of a slice's result that axis ``axis`` of its argument becomes (ints drop axes before it)."""
    return sum(1 for item in items[:axis] if not isinstance(item, int))


def slice_of_concat(node: Slice):
    """[p_1 | ... | p_k][items] = [p_j[items_j] for the parts p_j that the item on the concatenation axis
    meets], each sliced by the part of that range falling in it (an index falls in one part: the result is
    that part's slice); the items on the other axes apply to every part. Terminates: the Slice moves below
    the Concat onto smaller parts."""
    c = node.arg
    if not isinstance(c, Concat):
        return None
    item = node.items[c.axis]
    if item is None:
        return concat([sliced(p, node.items) for p in c.parts], _output_axis(node.items, c.axis))
    sizes = [p.shape[c.axis] for p in c.parts]
    if not all(isinstance(s, int) for s in sizes):
        return None
    pieces, offset = [], 0
    for part, size in zip(c.parts, sizes):
        items = list(node.items)
        if isinstance(item, int):
            if offset <= item < offset + size:
                items[c.axis] = item - offset
                return sliced(part, items)
        else:
            start, stop, step = item
            end = min(stop, offset + size)
            first = start if start >= offset else start + step * -((start - offset) // step)
            if first < end:
                items[c.axis] = (first - offset, end - offset, step)
                pieces.append(sliced(part, items))
        offset += size
    return concat(pieces, _output_axis(node.items, c.axis))


def slice_of_sum(node: Slice):
    """(sum_k c_k t_k)[items] = sum_k c_k t_k[items]: a slice is linear, and each term's slice then moves on
    towards its leaves (the derivative of e[1:] for an element-wise e is the slice of a scaled product).
    Terminates: the Slice moves below the Add onto its terms."""
    if not isinstance(node.arg, Add):
        return None
    return add([sliced(t, node.items) for t in node.arg.terms], node.arg.coeffs)


def slice_of_unit_axes(node: Slice):
    """reshape(a, shape of a with axes of size 1 inserted)[.., 0, ..] = a[..]: an entry of an axis that a
    reshape only inserted (stack([r, s])'s parts, and their derivatives) is the argument itself.
    Terminates: removes the Reshape node."""
    r = node.arg
    if not isinstance(r, Reshape):
        return None
    kept = [k for k, item in enumerate(node.items) if not (isinstance(item, int) and r.new_shape[k] == 1)]
    if len(kept) == len(node.items) or [r.new_shape[k] for k in kept] != list(r.arg.shape):
        return None
    return sliced(r.arg, [node.items[k] for k in kept])


def slice_of_product(node: Slice):
    """(prod_t A_t[I_t])[items] = prod_t A_t[items on the output indices in I_t]: an output index restricted to
    a range (or to one entry) restricts every operand carrying it, on each axis carrying it; summed indices
    stay whole. So (A*B)[1:3, :] = A[1:3, :]*B and (A')[:, 2] = A[2, :]. Applies where every such axis has
    an integer size. Terminates: the Slice moves below the Contract onto its operands."""
    prod = node.arg
    if not isinstance(prod, Contract):
        return None
    chosen = dict(zip(prod.output, node.items))
    ops, idxs = [], []
    for op, idx in zip(prod.operands, prod.indices):
        items = [chosen.get(ix) for ix in idx]
        if any(item is not None and not isinstance(d, int) for item, d in zip(items, op.shape)):
            return None
        ops.append(sliced(op, items) if any(item is not None for item in items) else op)
        idxs.append(tuple(ix for ix, item in zip(idx, items) if not isinstance(item, int)))
    output = tuple(ix for ix in prod.output if not isinstance(chosen[ix], int))
    return contract(ops, idxs, output)


def reshape_unit_index(node: Reshape):
    """reshape(a[.., k, ..], shape with 1 for k) = a[.., k:k+1, ..]: giving the axes that integer indices
    dropped back a size of 1 is slicing a range of one entry (so stack([x[0], x[1]]) is x[0:2]).
    Terminates: removes the Reshape node."""
    s = node.arg
    if not isinstance(s, Slice) or not any(isinstance(item, int) for item in s.items):
        return None
    kept = iter(s.shape)
    unit = tuple(1 if isinstance(item, int) else next(kept) for item in s.items)
    if tuple(node.new_shape) != unit:
        return None
    return sliced(s.arg, [(item, item + 1, 1) if isinstance(item, int) else item for item in s.items])


def add_blockwise(node: Add):
    """a [p_1 | p_2] + b [q_1 | q_2] = [a p_1 + b q_1 | a p_2 + b q_2] for concatenations along one axis on the
    same blocks (those of other terms stay as they are). Terminates: the number of terms decreases."""
    groups: dict = {}
    for k, t in enumerate(node.terms):
        if isinstance(t, Concat):
            key = (t.axis, tuple(str(p.shape[t.axis]) for p in t.parts))
            groups.setdefault(key, []).append(k)
    for (axis, _), members in groups.items():
        if len(members) < 2:
            continue
        first = node.terms[members[0]]
        blocks = [add([node.terms[k].parts[j] for k in members], [node.coeffs[k] for k in members])
                  for j in range(len(first.parts))]
        rest = [k for k in range(len(node.terms)) if k not in members]
        return add([concat(blocks, axis)] + [node.terms[k] for k in rest], [1] + [node.coeffs[k] for k in rest])
    return None


def concat_single(node: Concat):
    """[p] = p. Terminates: removes the Concat node."""
    return node.parts[0] if len(node.parts) == 1 else None


def concat_flatten(node: Concat):
    """[a | [b | c] | d] = [a | b | c | d] along one axis. Terminates: the nesting depth drops."""
    if not any(isinstance(p, Concat) and p.axis == node.axis for p in node.parts):
        return None
    parts = []
    for p in node.parts:
        parts.extend(p.parts if isinstance(p, Concat) and p.axis == node.axis else (p,))
    return concat(parts, node.axis)


def concat_drop_empty(node: Concat):
    """Parts without entries along the axis (size 0) add nothing: [a | (empty) | b] = [a | b].
    Terminates: the number of parts decreases."""
    kept = [p for p in node.parts if not (isinstance(p.shape[node.axis], int) and p.shape[node.axis] == 0)]
    if len(kept) == len(node.parts):
        return None
    return concat(kept, node.axis) if kept else fill(0, node.shape)


def concat_fills(node: Concat):
    """[c*ones(m) | c*ones(n)] = c*ones(m + n): neighbouring fills of one value merge (so a concatenation of
    zeros is zeros). Terminates: the number of parts decreases."""
    parts = list(node.parts)
    for k in range(len(parts) - 1):
        a, b = parts[k], parts[k + 1]
        if isinstance(a, Fill) and isinstance(b, Fill) and a.value == b.value and type(a.value) is type(b.value):
            shape = a.shape[:node.axis] + (dim_sum((a.shape[node.axis], b.shape[node.axis])),) + a.shape[node.axis + 1:]
            parts[k:k + 2] = [fill(a.value, shape)]
            return concat(parts, node.axis)
    return None


def _joined(a: Slice, b: Slice, axis: int):
    """The one Slice equal to [a | b] along ``axis`` (of the result), or None."""
    if a.arg is not b.arg or a.kept_axes() != b.kept_axes():
        return None
    k = a.kept_axes()[axis]
    if any(x != y for j, (x, y) in enumerate(zip(a.items, b.items)) if j != k):
        return None
    size = a.arg.shape[k]
    (s1, e1, t1), (s2, e2, t2) = _range_of(a.items[k], size), _range_of(b.items[k], size)
    n1, n2 = _range_count(s1, e1, t1), _range_count(s2, e2, t2)
    step = s2 - (e1 - 1)  # from a's last entry to b's first
    if step < 1 or (n1 > 1 and t1 != step) or (n2 > 1 and t2 != step):
        return None
    items = list(a.items)
    items[k] = (s1, e2, step)
    return sliced(a.arg, items)


def concat_adjacent_slices(node: Concat):
    """[a[.., r, ..] | a[.., q, ..]] = a[.., r + q, ..] when the range q continues r (its first entry one step
    after r's last) and the other items agree: concat(x[0:2], x[2:5]) = x[0:5]. Terminates: the number of
    parts decreases."""
    parts = list(node.parts)
    for k in range(len(parts) - 1):
        a, b = parts[k], parts[k + 1]
        if isinstance(a, Slice) and isinstance(b, Slice):
            joined = _joined(a, b, node.axis)
            if joined is not None:
                parts[k:k + 2] = [joined]
                return concat(parts, node.axis)
    return None


def _cut(op: Expr, axis: int, sizes: list, j: int):
    """Block j of ``op`` along ``axis`` for the blocks ``sizes``: a part of a concatenation on the same blocks,
    a fill of the block's size, or a slice (integer sizes); None where none of these applies."""
    if isinstance(op, Concat) and op.axis == axis and [p.shape[axis] for p in op.parts] == sizes:
        return op.parts[j]
    if isinstance(op, Fill):
        return fill(op.value, op.shape[:axis] + (sizes[j],) + op.shape[axis + 1:])
    if all(isinstance(s, int) for s in sizes) and isinstance(op.shape[axis], int):
        offset = sum(sizes[:j])
        items = [None] * op.ndim
        items[axis] = (offset, offset + sizes[j], 1)
        return sliced(op, items)
    return None


def _has_identity_block(e: Expr) -> bool:
    """Whether ``e`` holds an identity block: an identity, a scaled or diagonal one (a product with an identity
    operand, diag(h)), or a sum or concatenation holding one (a slice of the identity, I[a:b, :] = [0 | I | 0],
    and what products make of it)."""
    if isinstance(e, Delta):
        return True
    if isinstance(e, Contract):
        return any(isinstance(op, Delta) for op in e.operands)
    if isinstance(e, (Concat, Add)):
        return any(_has_identity_block(p) for p in e.children())
    return False


def _splits(node: Contract, k: int, op: Concat) -> bool:
    """Whether the product ``node`` is split at its operand k, the concatenation ``op``: always along a summed
    index (a sum of smaller products costs no more); along an output index where op holds an identity block
    (the product then places blocks instead of multiplying by a selector: [0 | I | 0]' u = [0; u; 0]) or
    where op is the only operand (a transpose of blocks is the blocks transposed). Other products along an
    output index stay whole: splitting them would copy every other operand into each block's product (the
    Hessian of a function of entries x[j] would become a concatenation of n^2 products)."""
    ix = node.indices[k][op.axis]
    return ix not in node.output or len(node.operands) == 1 or _has_identity_block(op)


def contract_split_concat(node: Contract):
    """Block products: a product with a concatenation [p_1 | ... | p_k] along its index i is the concatenation
    (i an output index) or the sum (i summed) of the k products with p_j in its place and every other axis
    carrying i cut to block j: sum_i [p_1 | p_2][i] A[i] = sum p_1 A[:s_1] + sum p_2 A[s_1:]. A cut is a slice
    (integer sizes), or, for symbolic sizes, the part of a concatenation on the same blocks or a smaller
    fill; where an axis cannot be cut the rule does not apply. Applies where ``_splits`` says so.
    Terminates: each new product carries fewer concatenation boundaries along i (a cut keeps only those
    inside its block)."""
    for k, op in enumerate(node.operands):
        if not isinstance(op, Concat) or not _splits(node, k, op):
            continue
        ix = node.indices[k][op.axis]
        sizes = [p.shape[op.axis] for p in op.parts]
        blocks = []
        for j, part in enumerate(op.parts):
            ops = []
            for m, (other, idx) in enumerate(zip(node.operands, node.indices)):
                piece = part if m == k else other
                for axis, name in enumerate(idx):
                    if name == ix and not (m == k and axis == op.axis) and piece is not None:
                        piece = _cut(piece, axis, sizes, j)
                ops.append(piece)
            if any(piece is None for piece in ops):
                break
            blocks.append(contract(ops, node.indices, node.output))
        else:
            if ix in node.output:
                return concat(blocks, node.output.index(ix))
            return add(blocks, [1] * len(blocks))
    return None


def _merged_groups(old_shape, new_shape):
    """The axes of ``old_shape`` that each axis of ``new_shape`` merges (consecutive runs, row-major), or None
    where the reshape is not such a merge."""
    groups, k = [], 0
    for d in new_shape:
        group, size = [], 1
        while k < len(old_shape) and (not group or sympy.expand(size - d) != 0):
            group.append(k)
            size = size * old_shape[k]
            k += 1
        if sympy.expand(size - d) != 0:
            return None
        groups.append(tuple(group))
    return groups if k == len(old_shape) else None


def contract_unmerge_reshaped_blocks(node: Contract):
    """sum_a reshape(A, (p*q, ..))[a, ..] reshape(B, (p*q, ..))[a, ..] = sum_{b,c} A[b, c, ..] B[b, c, ..] for a
    summed index a that every operand carrying it merges from the same axes (p, q) by a reshape, where one of
    them reshapes a concatenation along one of those axes: the blocks (interleaved residuals,
    reshape(stack([u, v], axis=1), (2k,))) become visible to the block products, instead of a merged tensor.
    Terminates: the number of merged axes among the operands decreases."""
    summed = {ix for idx in node.indices for ix in idx} - set(node.output)
    fresh = 1 + max((ix for idx in node.indices for ix in idx), default=-1)
    for ix in sorted(summed):
        carriers = [k for k, idx in enumerate(node.indices) if ix in idx]
        plans, concat_inside = [], False
        for k in carriers:
            op, idx = node.operands[k], node.indices[k]
            groups = _merged_groups(op.arg.shape, op.new_shape) if isinstance(op, Reshape) else None
            if groups is None or idx.count(ix) != 1:
                break
            group = groups[idx.index(ix)]
            plans.append((k, idx.index(ix), [op.arg.shape[j] for j in group]))
            concat_inside |= isinstance(op.arg, Concat) and op.arg.axis in group
        else:
            sizes = plans[0][2]
            same = all(len(p[2]) == len(sizes) and all(sympy.expand(a - b) == 0 for a, b in zip(p[2], sizes))
                       for p in plans)
            if not concat_inside or len(sizes) < 2 or not same:
                continue
            names = tuple(range(fresh, fresh + len(sizes)))
            ops, idxs = list(node.operands), list(node.indices)
            for k, pos, group_sizes in plans:
                op = node.operands[k]
                ops[k] = reshape(op.arg, op.new_shape[:pos] + tuple(group_sizes) + op.new_shape[pos + 1:])
                idxs[k] = node.indices[k][:pos] + names + node.indices[k][pos + 1:]
            return contract(ops, idxs, node.output)
    return None


def contract_unit_index(node: Contract):
    """sum_c A[.., c, ..] B[c] over an index c of size 1 = A[.., 0, ..] B[0]: a sum over one entry is that
    entry, each operand carrying c indexed at 0 there (so the block 1 of a unit vector e_k = [0 | 1 | 0]
    picks the entry k of what it multiplies). Terminates: the number of indices decreases."""
    summed = {ix for idx in node.indices for ix in idx} - set(node.output)
    for ix in sorted(summed):
        if any(d != 1 for op, idx in zip(node.operands, node.indices) for i, d in zip(idx, op.shape) if i == ix):
            continue
        ops = [sliced(op, [0 if i == ix else None for i in idx]) if ix in idx else op
               for op, idx in zip(node.operands, node.indices)]
        idxs = [tuple(i for i in idx if i != ix) for idx in node.indices]
        return contract(ops, idxs, node.output)
    return None


def contract_distribute_block_sums(node: Contract):
    """prod(..., (A + B), ...) = prod(..., A, ...) + prod(..., B, ...) when a term of the sum is a
    concatenation that the block products (contract_split_concat) split, so that they apply to it: the
    derivative of x[1:] - x[:-1] is a sum of two block selectors, and its product with u is [0 | u] - [u | 0]
    rather than a dense matrix. Terminates: the number of sum operands holding a concatenation decreases."""
    for k, op in enumerate(node.operands):
        if isinstance(op, Add) and len(op.terms) > 1 and any(
                isinstance(t, Concat) and _splits(node, k, t) for t in op.terms):
            return _distribute(node, k, op)
    return None


def contract_absorb_into_scatter(node: Contract):
    """scatter_add(G)[.., i, ..] B[i, ..] = scatter_add(G[.., k, ..] take(B)[k, ..])[.., i, ..] (each position
    i sums the G[k] with index[k] = i, and B[i] = take(B)[k] for those k), for an operand B that carries i
    once and no index the scatter lacks, so that indices summed between them are summed before the
    scatter: the Hessian-vector product delta[i, i'] scatter_add(V~ V~')[i, j, j'] dU[i', j'] becomes
    scatter_add(V~[k, j] (V~[k, :] take(dU)[k, :])), k x r work instead of k x r x r. Where nothing outside
    needs i, the scatter is summed over all positions: a plain sum over k. Terminates: the product loses
    an operand.
    """
    for p, (P, idx_p) in enumerate(zip(node.operands, node.indices)):
        if not isinstance(P, ScatterAdd) or len(set(idx_p)) != len(idx_p):
            continue
        i = idx_p[P.axis]
        for b, (B, idx_b) in enumerate(zip(node.operands, node.indices)):
            if b == p or i not in idx_b or idx_b.count(i) != 1 or not set(idx_b) <= set(idx_p):
                continue
            if isinstance(B, (Delta, Fill, ScatterAdd)) or is_selector(B):
                continue
            rest = [j for j in range(len(node.operands)) if j not in (p, b)]
            needed = set(node.output) | {ix for j in rest for ix in node.indices[j]}
            k = 1 + max([ix for idx in node.indices for ix in idx] + list(node.output))
            inner_idx = tuple(k if ix == i else ix for ix in idx_p)
            taken = take(B, P.index, idx_b.index(i))
            kept = tuple(ix for ix in inner_idx if ix == k or ix in needed)
            if i in needed:
                inner = contract([P.arg, taken], [inner_idx, tuple(k if ix == i else ix for ix in idx_b)], kept)
                new = scatter_add(inner, P.index, P.size, kept.index(k))
                new_idx = tuple(i if ix == k else ix for ix in kept)
            else:
                kept = tuple(ix for ix in kept if ix != k)
                new = contract([P.arg, taken], [inner_idx, tuple(k if ix == i else ix for ix in idx_b)], kept)
                new_idx = kept
            ops = [node.operands[j] for j in rest] + [new]
            idxs = [node.indices[j] for j in rest] + [new_idx]
            return contract(ops, idxs, node.output)
    return None


RULES = {
    Var: (),
    Fill: (),
    Const: (),
    Delta: (),
    Contract: (
        contract_zero_factor,
        contract_trivial,
        contract_scale_out,
        contract_distribute_large_sums,
        contract_flatten,
        contract_eliminate_delta,
        contract_absorb_ones,
        contract_collect_powers,
        contract_cancel_inverse,
        contract_unit_index,
        contract_unmerge_reshaped_blocks,
        contract_distribute_block_sums,
        contract_split_concat,
        contract_merge_selectors,
        contract_gather_through_selector,
        contract_scatter_selector,
        contract_absorb_into_scatter,
    ),
    Add: (add_flatten, add_collect, add_collect_weights, add_trivial, add_blockwise),
    Elementwise: (
        elementwise_constant,
        elementwise_identity,
        elementwise_split_constants,
        elementwise_linear_argument,
        elementwise_of_power,
        elementwise_fuse,
    ),
    Inverse: (inverse_of_inverse,),
    Det: (det_of_inverse,),
    LogDet: (logdet_of_inverse,),
    Reshape: (reshape_trivial, reshape_unit_index),
    LogSumExp: (),
    Concat: (concat_single, concat_flatten, concat_drop_empty, concat_fills, concat_adjacent_slices),
    Slice: (slice_whole, slice_empty, slice_of_fill, slice_of_slice, slice_of_delta, slice_of_concat,
            slice_of_unit_axes, slice_of_product, slice_of_sum),
    Take: (take_of_fill, take_identity, take_delta_columns, take_of_sum, take_into_product),
    ScatterAdd: (scatter_of_zero, scatter_identity, scatter_of_sum, scatter_of_selector_product),
}
"""The rules of each node type, tried in order (a leaf or a node without rules has an empty tuple)."""

def _check(rule, before: Expr, after: Expr) -> None:
    ok = len(before.shape) == len(after.shape) and all(
        a == b or after.ties.merged(before.ties).same(a, b) for a, b in zip(before.shape, after.shape)
    )
    if not ok:
        raise RuleError(
            f"rule {rule.__name__} changed shape {shape_str(before.shape)} to {shape_str(after.shape)}"
        )


_NORMAL: "weakref.WeakSet" = weakref.WeakSet()  # nodes known to be in normal form


def normalize(node: Expr) -> Expr:
    """Apply the rules of ``node``'s type until none fires; the result is recorded as normal."""
    current = node
    while current not in _NORMAL:
        try:
            rules = RULES[type(current)]
        except KeyError:
            raise TypeError(f"no simplification rules for node type {type(current).__name__}") from None
        for rule in rules:
            new = rule(current)
            if new is not None and new is not current:
                _check(rule, current, new)
                current = new
                break
        else:
            _NORMAL.add(current)
    return current


install_normalizer(normalize)
