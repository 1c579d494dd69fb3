"""Lowering one Einstein product to array-API calls: diagonal extraction, sums, products, BLAS contractions.

The contraction order is chosen at compile time by NumPy's ``einsum_path`` ("optimal" for up to five
operands, "greedy" beyond) on size hints (the known integer sizes, an assumed size for symbolic ones); it is
called on zero-stride arrays of those shapes, so planning allocates nothing. Each pairwise step becomes one
of: an element-wise (broadcasting) multiply when nothing is summed; ``@`` when both sides are vectors or
matrices with one summed index (BLAS gemm/gemv/dot, transposes as views); ``tensordot`` when several indices
are summed and none is shared-and-kept; a batched ``@`` after permute/reshape when some shared indices are
kept (the batch) and others summed. Indices that only one operand carries and nothing needs are summed out
first. All calls are in the array-API standard's main namespace.
"""

from __future__ import annotations

import string

import numpy as np

LETTERS = string.ascii_letters


class Lowering:
    """Emit the code for ``out[output] = sum prod_k ops[k][idx[k]]`` into ``lines``, result in ``target``."""

    def __init__(self, target: str, dim_code, hint, helpers: set):
        self.target = target
        self.dim_code = dim_code  # index -> Python expression for its size
        self.hint = hint  # index -> int size estimate
        self.helpers = helpers
        self.lines: list[str] = []
        self.temps: list[str] = []

    def emit(self, expr: str) -> str:
        """Assign ``expr`` to a fresh intermediate; the last one is renamed to the target in :meth:`lower`."""
        name = f"{self.target}_{len(self.temps)}"
        self.temps.append(name)
        self.lines.append(f"{name} = {expr}")
        return name

    # -- single-operand steps --------------------------------------------------------------------------
    def take_diagonals(self, name: str, idx: list) -> tuple[str, list]:
        """Repeated indices within one operand: a[.., i, .., i, ..] -> a[.., i, ..] (multiply by eye, sum)."""
        while len(set(idx)) != len(idx):
            seen = {}
            for pos, ix in enumerate(idx):
                if ix in seen:
                    first = seen[ix]
                    break
                seen[ix] = pos
            self.helpers.add("_diagonal")
            name = self.emit(f"_diagonal(xp, {name}, {first}, {pos}, {self.dim_code(ix)}, device)")
            idx = [j for k, j in enumerate(idx) if k not in (first, pos)] + [ix]
        return name, idx

    def sum_out(self, name: str, idx: list, needed: set) -> tuple[str, list]:
        drop = [k for k, ix in enumerate(idx) if ix not in needed]
        if not drop:
            return name, idx
        axis = drop[0] if len(drop) == 1 else tuple(drop)
        name = self.emit(f"xp.sum({name}, axis={axis})")
        return name, [ix for k, ix in enumerate(idx) if k not in drop]

    def permute(self, name: str, idx: list, order: list) -> str:
        if idx == order:
            return name
        perm = tuple(idx.index(ix) for ix in order)
        if len(idx) == 2:
            return f"{name}.T" if "(" not in name else f"xp.permute_dims({name}, {perm})"
        return f"xp.permute_dims({name}, {perm})"

    def shape_code(self, idxs) -> str:
        parts = [self.dim_code(ix) for ix in idxs]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def prod_code(self, idxs) -> str:
        return " * ".join(self.dim_code(ix) for ix in idxs) if idxs else "1"

    # -- pairwise step ---------------------------------------------------------------------------------
    def pair(self, a, ia: list, b, ib: list, keep: set, want: list | None = None) -> tuple[str, list]:
        """Combine two operands; ``want`` (the final output order, on the last step) picks which goes left."""
        a, ia = self.sum_out(a, ia, keep | set(ib))
        b, ib = self.sum_out(b, ib, keep | set(ia))
        if self._swap(ia, ib, keep, want):
            a, ia, b, ib = b, ib, a, ia
        shared = [ix for ix in ia if ix in ib]
        batch = [ix for ix in shared if ix in keep]
        summed = [ix for ix in shared if ix not in keep]
        a_free = [ix for ix in ia if ix not in ib]
        b_free = [ix for ix in ib if ix not in ia]
        if not ia or not ib:
            return self.emit(f"{a} * {b}"), ia + ib
        if not summed:  # an outer/Hadamard product: build it in the wanted layout directly
            order = want if want is not None and sorted(want) == sorted(set(ia) | set(ib)) else ia + b_free
            return self.emit(f"{self.broadcast(a, ia, order)} * {self.broadcast(b, ib, order)}"), order
        if not batch:
            if len(summed) == 1 and len(ia) <= 2 and len(ib) <= 2:
                left = self.permute(a, ia, a_free + summed)
                right = self.permute(b, ib, summed + b_free)
                return self.emit(f"{left} @ {right}"), a_free + b_free
            axes = (tuple(ia.index(ix) for ix in summed), tuple(ib.index(ix) for ix in summed))
            return self.emit(f"xp.tensordot({a}, {b}, axes=({list(axes[0])}, {list(axes[1])}))"), a_free + b_free
        # batched matrix product: (B, Fa, C) @ (B, C, Fb)
        left = self.permute(a, ia, batch + a_free + summed)
        right = self.permute(b, ib, batch + summed + b_free)
        batch_shape = [self.dim_code(ix) for ix in batch]
        ls = "(" + ", ".join(batch_shape + [self.prod_code(a_free), self.prod_code(summed)]) + ")"
        rs = "(" + ", ".join(batch_shape + [self.prod_code(summed), self.prod_code(b_free)]) + ")"
        out = batch + a_free + b_free
        return (
            self.emit(f"xp.reshape(xp.reshape({left}, {ls}) @ xp.reshape({right}, {rs}), {self.shape_code(out)})"),
            out,
        )

    @staticmethod
    def _swap(ia, ib, keep, want) -> bool:
        """Put the operand whose free indices lead the wanted output on the left (matrix before vector)."""
        a_free = [ix for ix in ia if ix not in ib]
        b_free = [ix for ix in ib if ix not in ia]
        summed = [ix for ix in ia if ix in ib and ix not in keep]
        if not summed:
            return False
        if want is not None and b_free + a_free == want and a_free + b_free != want:
            return True
        if want is None or a_free + b_free != want:
            return len(ia) < len(ib)
        return False

    def broadcast(self, name: str, idx: list, order: list) -> str:
        """``name`` (indices ``idx``, a subset of ``order``) permuted and reshaped to broadcast against ``order``."""
        present = [ix for ix in order if ix in idx]
        code = self.permute(name, idx, present)
        if present == order[len(order) - len(present):]:
            return code  # the missing axes lead: broadcasting aligns trailing axes already
        shape = "(" + ", ".join(self.dim_code(ix) if ix in idx else "1" for ix in order) + ")"
        return f"xp.reshape({code}, {shape})"

    # -- the whole product -----------------------------------------------------------------------------
    def gram(self, names: list, indices: list, output: list, nonneg: list):
        """X'*diag(s)*X with s >= 0 as Z'*Z, Z = sqrt(s) .* X: a symmetric rank-k update (BLAS syrk), half
        the work of a general product. Applies when two operands are one matrix on (a, k) and (a, l), a
        summed, and every other operand is a non-negative vector on a or a scalar; returns the lines or None.
        """
        if len(output) != 2:
            return None
        mats = [k for k, idx in enumerate(indices) if len(idx) == 2]
        if len(mats) != 2 or names[mats[0]] != names[mats[1]]:
            return None
        (a1, k1), (a2, k2) = indices[mats[0]], indices[mats[1]]
        if a1 != a2 or a1 in output or {k1, k2} != set(output) or k1 == k2:
            return None
        rest = [k for k in range(len(names)) if k not in mats]
        if not rest or any(indices[k] not in ((a1,), ()) for k in rest):
            return None
        vectors = [k for k in rest if indices[k] == (a1,)]
        scalars = [k for k in rest if indices[k] == ()]
        unpaired = list(vectors)
        for k in vectors:  # y .* y is a square: non-negative whatever y is
            twin = next((j for j in unpaired if j != k and names[j] == names[k]), None)
            if k in unpaired and twin is not None:
                unpaired.remove(k)
                unpaired.remove(twin)
        if not vectors or not all(nonneg[k] for k in unpaired):
            return None
        s = names[vectors[0]]
        for k in vectors[1:]:
            s = self.emit(f"{s} * {names[k]}")
        root = self.emit(f"xp.sqrt({s})")
        z = self.emit(f"{names[mats[0]]} * xp.reshape({root}, ({self.dim_code(a1)}, 1))")
        result = self.emit(f"{z}.T @ {z}")  # symmetric: the output order does not matter
        for k in scalars:
            result = self.emit(f"{result} * {names[k]}")
        return self._finish()

    def _finish(self) -> list[str]:
        last_name = self.temps.pop()
        self.lines[-1] = self.target + self.lines[-1][len(last_name):]
        if self.temps:
            self.lines.append("del " + ", ".join(self.temps))
        return self.lines

    def lower(self, names: list, indices: list, output: list, nonneg: list | None = None, scale=None) -> list[str]:
        """``scale``: a constant factor, applied to the smallest operand (not to the large result)."""
        if scale is not None:
            names = list(names)
            k = min(range(len(names)), key=lambda j: _size(indices[j], self.hint))
            names[k] = self.emit(f"-{names[k]}" if scale == "-1" else f"{scale} * {names[k]}")
            if nonneg is not None:
                nonneg = list(nonneg)
                nonneg[k] = nonneg[k] and not scale.startswith("-")
        if nonneg is not None and len(names) >= 3:
            lines = self.gram(names, [tuple(i) for i in indices], list(output), nonneg)
            if lines is not None:
                return lines
        terms = []
        for name, idx in zip(names, indices):
            terms.append(self.take_diagonals(name, list(idx)))
        out = set(output)
        if len(terms) > 2:
            path = self.plan([t[1] for t in terms], output)
        else:
            path = [(0, 1)] if len(terms) == 2 else []
        for n, step in enumerate(path):
            step = sorted(step, reverse=True)
            picked = [terms.pop(k) for k in step]
            picked.reverse()
            rest = {ix for _, idx in terms for ix in idx}
            keep = out | rest
            name, idx = picked[0]
            last = n == len(path) - 1
            for j, (other, oidx) in enumerate(picked[1:], start=2):
                still = {ix for _, later in picked[j:] for ix in later}  # operands of this step not yet folded
                want = list(output) if last and not still else None
                name, idx = self.pair(name, idx, other, oidx, keep | still, want)
            terms.append((name, idx))
        name, idx = terms[0]
        name, idx = self.sum_out(name, idx, out)
        final = self.permute(name, idx, list(output))
        if final != name or not self.lines:
            self.emit(final)
        return self._finish()  # the last intermediate becomes the target; the others die here

    def plan(self, idxs: list, output: list) -> list:
        """The pairwise contraction order: NumPy's ``einsum_path``, or :func:`greedy_path` where the product
        has more distinct indices than ``einsum_path`` has letters (52)."""
        distinct = list(dict.fromkeys(ix for idx in idxs + [output] for ix in idx))
        if len(distinct) > len(LETTERS):
            return greedy_path(idxs, output, self.hint)
        letter = dict(zip(distinct, LETTERS))
        spec = ",".join("".join(letter[ix] for ix in idx) for idx in idxs) + "->" + "".join(letter[ix] for ix in output)
        fakes = [np.broadcast_to(np.zeros(()), tuple(self.hint(ix) for ix in idx)) for idx in idxs]
        path, _ = np.einsum_path(spec, *fakes, optimize="optimal" if len(idxs) <= 5 else "greedy")
        return [tuple(step) for step in path[1:]]


def greedy_path(idxs: list, output: list, hint) -> list:
    """A pairwise contraction order in ``einsum_path``'s form (each step: the positions of the two operands
    taken from the current list; their product is appended at its end), chosen greedily: at each step the
    pair whose product is smallest relative to the two operands (size(product) - size(a) - size(b), the
    rule of opt_einsum's and NumPy's "greedy"), among pairs that share an index while any do. No limit on
    the number of indices; O(n^3) pair evaluations for n operands, for the long chains (``x'*A^60*x``)
    that need it.
    """
    terms = [tuple(dict.fromkeys(idx)) for idx in idxs]
    count: dict = {}  # index -> how many terms (and the output) carry it
    for idx in terms + [tuple(output)]:
        for ix in idx:
            count[ix] = count.get(ix, 0) + 1
    sizes = {ix: hint(ix) for ix in count}  # asked once each: a hint may be a sympy substitution
    hint = sizes.__getitem__
    path = []
    while len(terms) > 1:
        best = None
        for i in range(len(terms)):
            for j in range(i + 1, len(terms)):
                a, b = terms[i], terms[j]
                shares = any(ix in b for ix in a)
                kept = tuple(ix for ix in dict.fromkeys(a + b) if count[ix] > (ix in a) + (ix in b))
                cost = _size(kept, hint) - _size(a, hint) - _size(b, hint)
                key = (not shares, cost, _size(kept, hint), i, j)
                if best is None or key < best[0]:
                    best = (key, i, j, kept)
        _, i, j, kept = best
        for ix in terms[i] + terms[j]:
            count[ix] -= 1
        for ix in kept:
            count[ix] += 1
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [kept]
        path.append((i, j))
    return path


def _size(idx, hint) -> int:
    size = 1
    for ix in idx:
        size *= hint(ix)
    return size


DIAGONAL_HELPER = (
    "def _diagonal(xp, a, ax1, ax2, n, device):\n"
    "    # a[.., i, .., i, ..] -> a[.., .., i]: move both axes last, keep the diagonal, sum it out\n"
    "    rest = [k for k in range(a.ndim) if k not in (ax1, ax2)]\n"
    "    a = xp.permute_dims(a, tuple(rest) + (ax1, ax2))\n"
    "    return xp.sum(a * xp.eye(n, dtype=a.dtype, device=device), axis=-1)\n"
)
