"""Lowering one Einstein product to array-API calls: diagonal extraction, sums, products, BLAS contractions.

The contraction order is chosen at compile time by NumPy's ``einsum_path`` ("optimal" for up to five
operands, "greedy" beyond) on size hints (the known integer sizes, an assumed size for symbolic ones); it is
called on zero-stride arrays of those shapes, so planning allocates nothing. Each pairwise step becomes one
of: an element-wise (broadcasting) multiply when nothing is summed; ``@`` when both sides are vectors or
matrices with one summed index (BLAS gemm/gemv/dot, transposes as views); ``tensordot`` when several indices
are summed and none is shared-and-kept; a batched ``@`` after permute/reshape when some shared indices are
kept (the batch) and others summed. Indices that only one operand carries and nothing needs are summed out
first. All calls are in the array-API standard's main namespace.

Where einsum_path leaves a step of three or more operands (nothing summed), it is split into pairs greedily
(:func:`pairwise`). Symmetric products are computed on their distinct entries: the cube
sum_a w[a] X[a,i] X[a,j] X[a,k] on i <= j <= k (:meth:`Lowering.symmetric_cube`), a repeated operand on
two free indices on j <= k (:meth:`Lowering.symmetric_pairs`). A product sum_a X[a,i] X[a,k] W[a,..] (a
softmax Hessian block) is a set of Gram blocks X' diag(w) X (:meth:`Lowering.gram_blocks`): chosen when the
kernel runs, products with X only for sparse or Dask X (which cannot be indexed by columns), the pairs i <= k
for a dense X. A step whose code an earlier product of the same kernel computed is not computed again
(``memo``: the kernel's shared steps, kept alive by ``_codegen``).
"""

from __future__ import annotations

import math
import re
import string

import numpy as np

LETTERS = string.ascii_letters
# the names the kernel gives its intermediates (``_codegen._INTERNAL``): no input variable is named so
_INTERMEDIATE = re.compile(r"(?:t\d+(?:_\w*)?|pre_\d+)\Z")


class Lowering:
    """Emit the code for ``out[output] = sum prod_k ops[k][idx[k]]`` into ``lines``, result in ``target``."""

    def __init__(self, target: str, dim_code, hint, helpers: set, memo: dict | None = None, reused: set | None = None):
        self.target = target
        # steps shared by the kernel's products: code -> the intermediate holding it (``_codegen`` keeps a reused
        # one alive until its last use); the names of those this product reads are added to ``reused``
        self.memo = memo
        self.reused = reused
        self.pair_dims: dict = {}  # a pair index made here (``symmetric_pairs``) -> (size code, size hint)
        self.dim_code = lambda ix: self.pair_dims[ix][0] if ix in self.pair_dims else dim_code(ix)
        self.hint = lambda ix: self.pair_dims[ix][1] if ix in self.pair_dims else hint(ix)
        self.helpers = helpers
        self.lines: list[str] = []
        self.temps: list[str] = []

    def emit(self, expr: str) -> str:
        """Assign ``expr`` to a fresh intermediate (the last one is renamed to the target in :meth:`_finish`),
        or return the intermediate of an earlier product of the kernel that computed the same code (names in
        a kernel are assigned once, so the same code reads the same values: X (x) X is built once)."""
        hit = self.memo.get(expr) if self.memo is not None else None
        if hit is not None:
            if self.reused is not None and hit not in self.temps:
                self.reused.add(hit)
            return hit
        name = f"{self.target}_{len(self.temps)}"
        self.temps.append(name)
        self.lines.append(f"{name} = {expr}")
        if self.memo is not None:
            self.memo[expr] = name
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
        return self._finish(result)

    def _finish(self, result: str) -> list[str]:
        """The lines, ending with the value ``result`` (an intermediate's name, or code) in the target: the
        last intermediate is renamed to it; the others die here."""
        if self.temps and result == self.temps[-1] and self.lines[-1].startswith(result + " = "):
            self.temps.pop()
            self.lines[-1] = self.target + self.lines[-1][len(result):]
            if self.memo is not None:  # the target's lifetime is the node's, not a shared step's
                for code in [c for c, n in self.memo.items() if n == result]:
                    del self.memo[code]
        else:
            self.lines.append(f"{self.target} = {result}")
        if self.temps:
            self.lines.append("del " + ", ".join(self.temps))
        return self.lines

    def lower(self, names: list, indices: list, output: list, nonneg: list | None = None, scale=None) -> list[str]:
        """``scale``: a constant factor, applied to the smallest operand (not to the large result)."""
        cube = self.symmetric_cube(names, indices, output, scale)
        if cube is not None:
            return self._finish(cube)
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
        streamed = self.gram_vector(names, [tuple(i) for i in indices], list(output))
        if streamed is not None:
            return self._finish(streamed)
        name, idx = (self.gram_blocks(names, indices, output) or self.symmetric_pairs(names, indices, output)
                     or self.contract(names, indices, output))
        return self._finish(self.permute(name, idx, list(output)))

    #: The entries of a matrix from which :meth:`gram_vector` streams it in blocks (16 MiB of float64): smaller
    #: ones stay in the cache between the two products anyway.
    STREAMED_ENTRIES = 2**21

    def gram_vector(self, names: list, indices: list, output: list):
        """X'(w .* (X v)) = sum_a X[a,i] w[a] X[a,j] v[j] (w a product of vectors on a and scalars), the
        product of a Gram matrix with a vector, for a large X: in blocks of rows that fit the cache,
        X_B'(w_B .* (X_B v)) summed over the blocks, so X is read from memory once, not twice (the logistic
        Hessian-vector product is this, and memory-bound). Returns the code of the result, or None."""
        if len(output) != 1 or len(names) < 3:
            return None
        mats = [k for k, idx in enumerate(indices) if len(idx) == 2]
        if len(mats) != 2 or names[mats[0]] != names[mats[1]]:
            return None
        (a, i), (a2, j) = indices[mats[0]], indices[mats[1]]
        if a != a2 or a in output:
            return None
        if output != [i]:
            (a, j), (a2, i) = (a, i), (a2, j)
            if output != [i]:
                return None
        rest = [k for k in range(len(names)) if k not in mats]
        direction = [k for k in rest if indices[k] == (j,)]
        weights = [k for k in rest if indices[k] in ((a,), ())]
        if i == j or len(direction) != 1 or len(direction) + len(weights) != len(rest):
            return None
        if self.hint(a) * self.hint(i) < self.STREAMED_ENTRIES:
            return None
        w = None
        for k in weights:
            w = names[k] if w is None else self.emit(f"{w} * {names[k]}")
        if w is not None and not any(indices[k] for k in weights):  # scalars only: scale the direction
            v, w = self.emit(f"{names[direction[0]]} * {w}"), None
        else:
            v = names[direction[0]]
        self.helpers.add("_gram_vector")  # blocks of 2**16 entries (512 KiB): in a core's L2 cache
        return f"_gram_vector(xp, {names[mats[0]]}, {w or 'None'}, {v}, {self.STREAMED_ENTRIES // 32})"

    def symmetric_cube(self, names: list, indices: list, output: list, scale=None):
        """T[i,j,k] = sum_a w[a] X[a,i] X[a,j] X[a,k] (w a product of vectors on a and scalars; X[i,a] alike)
        is symmetric in all three indices: only the entries i <= j <= k are computed, a sixth of the
        products, by one matrix product per j, (X[j:, a] .* X[j, a]) @ (w .* X)[a, :j+1] on a transposed copy
        of X (rows j..n-1 of the block: k; columns: i <= j), and the tensor is read back at the sorted
        (i, j, k). The logistic loss's third derivative has this form. Returns the code of the result (all
        orders of the output are one tensor) or None where it does not apply."""
        if len(output) != 3 or len(set(output)) != 3:
            return None
        cube = [m for m, idx in enumerate(indices) if len(idx) == 2 and len(set(idx) & set(output)) == 1]
        if len(cube) != 3 or len({names[m] for m in cube}) != 1:
            return None
        shared = [[ix for ix in indices[m] if ix not in output] for m in cube]
        if any(len(sh) != 1 for sh in shared) or len({sh[0] for sh in shared}) != 1:
            return None
        a = shared[0][0]
        axis = indices[cube[0]].index(a)
        if any(indices[m].index(a) != axis for m in cube) or {indices[m][1 - axis] for m in cube} != set(output):
            return None
        rest = [m for m in range(len(names)) if m not in cube]
        if any(tuple(indices[m]) not in ((a,), ()) for m in rest):
            return None
        x, j0 = names[cube[0]], indices[cube[0]][1 - axis]
        n, size = self.dim_code(j0), self.dim_code(a)
        weight = None
        for factor in [names[m] for m in rest] + ([scale] if scale is not None else []):
            if weight is None:  # the product of the vectors on a, scalars and the scale
                weight = factor
            else:
                weight = self.emit(f"-{weight}" if factor == "-1" else f"{weight} * {factor}")
        rows = self.permute(x, [a, j0] if axis == 0 else [j0, a], [a, j0])  # X[a, j] as an (m, n) array
        z = rows if weight is None else self.emit(
            f"{rows} * xp.reshape({weight}, ({size}, 1))" if any(indices[m] for m in rest) else f"{rows} * {weight}")
        xt = x if axis == 1 else self.emit(  # X[j, a], rows contiguous (reshaping a transpose copies it)
            f"xp.reshape(xp.reshape(xp.permute_dims({x}, (1, 0)), (-1,)), ({n}, {size}))")
        self.helpers.add("_cube_positions")
        # block j: (X[j:, a] .* X[j, a]) @ Z[a, :j+1], the factor X[j, a] on the smaller side (columns of Z
        # while j < n/2); _j: a name of the kernel's own form (``_codegen._INTERNAL``), which no variable keeps
        flat = self.emit(
            f"xp.concat([xp.reshape({xt}[_j:, :] @ ({z}[:, :_j + 1] * xp.reshape({xt}[_j, :], ({size}, 1))), (-1,)) "
            f"for _j in range({n} // 2)] + [xp.reshape(({xt}[_j:, :] * {xt}[_j, :]) @ {z}[:, :_j + 1], (-1,)) "
            f"for _j in range({n} // 2, {n})])")
        return f"xp.reshape(xp.take({flat}, _cube_positions(xp, {n}, device), axis=0), ({n}, {n}, {n}))"

    def gram_blocks(self, names: list, indices: list, output: list):
        """G[i,k,J] = sum_a X[a,i] X[a,k] W[a,J], W the product of the operands that carry a (J: their other
        indices), times the operands that do not: the Gram blocks X' diag(W[:, c]) X, one per column c of W.
        A softmax Hessian block is this with W[a,j,l] = p[a,j] p[a,l] (and p[a,j] delta[j,l]). The generated
        ``_gram_blocks`` reads X only through products for sparse or Dask X (one X' diag(w) X per column:
        sparse stays sparse, Dask reduces over its blocks of rows), and for a dense X forms the pairs
        X[a,i] X[a,k], i <= k, once per kernel (:meth:`symmetric_pairs`' saving). W is paired likewise where
        it is one operand twice (p[a,j] p[a,l] on j <= l: a quarter of the products in all). Applies when X
        (2-D) appears twice with a shared summed index a and its other indices i != k are outputs carried by
        no other operand; returns (name, indices) of the result, or None."""
        if len(output) < 3:
            return None
        found = [c for k1 in range(len(names)) for k2 in range(k1 + 1, len(names))
                 for c in [self._gram_pair(names, indices, output, k1, k2)] if c is not None]
        if not found:
            return None
        # X' diag(p_j p_l) X rather than p' diag(X_i X_k) p: a kernel's input (the data; intermediates have
        # names of the kernel's own form, ``_codegen._INTERNAL``) on the Gram side, then the larger dimension
        k1, k2, a, i, k = min(found, key=lambda c: (_INTERMEDIATE.match(names[c[0]]) is not None, -self.hint(c[3])))
        rest = [m for m in range(len(names)) if m not in (k1, k2)]
        weights = [m for m in rest if a in indices[m]]
        others = [m for m in rest if a not in indices[m]]
        needed = set(output) | {ix for m in others for ix in indices[m]}
        carried = list(dict.fromkeys(ix for m in weights for ix in indices[m] if ix != a and ix in needed))
        w, J, read = self._weights([names[m] for m in weights], [tuple(indices[m]) for m in weights], a, carried)
        x = self.permute(names[k1], list(indices[k1]), [a, i])
        self.helpers.update({"_symmetric_pairs", "_products_only", "_gram_blocks"})
        positions = self.emit(f"_symmetric_pairs(xp, {self.dim_code(i)}, device)")
        pairs = self.emit(f"None if _products_only({x}) else "
                          f"xp.take({x}, {positions}[0], axis=1) * xp.take({x}, {positions}[1], axis=1)")
        G = self.emit(f"_gram_blocks(xp, {x}, {w}, {pairs}, {positions}[2])")
        if read is not None:  # W was paired: back to (j, l) from the pairs j <= l
            j, l = J
            G = self.emit(f"xp.take({G}, {read}[2], axis=2)")
            G = self.emit(f"xp.reshape({G}, {self.shape_code([i, k, j, l])})")
            J = [j, l]
        elif len(J) != 1:
            G = self.emit(f"xp.reshape({G}, {self.shape_code([i, k] + J)})")
        if not others:
            return G, [i, k] + J
        return self.contract([G] + [names[m] for m in others], [(i, k, *J)] + [tuple(indices[m]) for m in others],
                             output)

    @staticmethod
    def _gram_pair(names, indices, output, k1, k2):
        """(k1, k2, a, i, k) where operands k1 and k2 are one matrix X[a,i], X[a,k] as :meth:`gram_blocks`
        needs (and some operand other than X carries a); None otherwise."""
        ia, ib = tuple(indices[k1]), tuple(indices[k2])
        if names[k1] != names[k2] or len(ia) != 2 or len(ib) != 2 or len(set(ia)) < 2 or len(set(ib)) < 2:
            return None
        axis = next((p for p in (0, 1) if ia[p] == ib[p]), None)
        if axis is None or ia[1 - axis] == ib[1 - axis]:
            return None
        a, i, k = ia[axis], ia[1 - axis], ib[1 - axis]
        rest = [m for m in range(len(names)) if m not in (k1, k2)]
        if a in output or i not in output or k not in output or any({i, k} & set(indices[m]) for m in rest):
            return None
        if not any(a in indices[m] for m in rest):
            return None
        return k1, k2, a, i, k

    def _weights(self, names, indices, a, carried):
        """W[a, c] for :meth:`gram_blocks`: the product of the operands on a, with c the flattened indices
        ``carried``; one operand twice on (a, j), (a, l) is paired to the columns j <= l. Returns (code of W,
        the indices c stands for, the pairs' helper result where W is paired else None)."""
        if (len(names) == 2 and names[0] == names[1] and len(carried) == 2
                and all(len(idx) == 2 and len(set(idx)) == 2 for idx in indices)):
            p = indices[0].index(a)
            if indices[1].index(a) == p and {indices[0][1 - p], indices[1][1 - p]} == set(carried):
                j, l = indices[0][1 - p], indices[1][1 - p]
                pairs = self.emit(f"_symmetric_pairs(xp, {self.dim_code(j)}, device)")
                P = self.permute(names[0], list(indices[0]), [a, j])
                w = self.emit(f"xp.take({P}, {pairs}[0], axis=1) * xp.take({P}, {pairs}[1], axis=1)")
                return w, [j, l], pairs
        name, idx = self.contract(list(names), list(indices), [a] + carried)
        w = self.permute(name, idx, [a] + carried)
        if len(carried) != 1:
            w = f"xp.reshape({w}, ({self.dim_code(a)}, {self.prod_code(carried)}))"
        return self.emit(w) if w != name else w, carried, None

    def symmetric_pairs(self, names: list, indices: list, output: list):
        """One operand twice, A[.., j, ..] A[.., k, ..] (the same axis), with j and k output indices that no
        other operand carries: the result is symmetric in (j, k), so the pair is built for j <= k only, as
        one operand P[.., q, ..] on a pair index q of n(n+1)/2 entries, the rest is contracted with q in place
        of (j, k), and the result is read back at q(min(j, k), max(j, k)). sum_a w[a] Y[a,i] X[a,j] X[a,k]
        forms half of X[a,j] X[a,k] and does half of the product with w .* Y; a softmax Hessian block
        p[a,j] p[a,l] X[a,i] X[a,k] pairs both (a quarter). Applies to
        results of three or more axes: for a matrix (X'*diag(s)*X) the BLAS product of X with s .* X is
        faster than forming pairs. Returns (name, indices) of the result, or None where it does not apply.
        """
        if len(output) < 3:
            return None
        for k1 in range(len(names)):
            for k2 in range(k1 + 1, len(names)):
                ia, ib = list(indices[k1]), list(indices[k2])
                if names[k1] != names[k2] or len(ia) != len(ib) or len(set(ia)) < len(ia) or len(set(ib)) < len(ib):
                    continue
                differ = [p for p in range(len(ia)) if ia[p] != ib[p]]
                if len(differ) != 1:
                    continue
                p = differ[0]
                j, k = ia[p], ib[p]
                others = {ix for m, idx in enumerate(indices) if m not in (k1, k2) for ix in idx}
                if j not in output or k not in output or j in others or k in others or j in ib or k in ia:
                    continue
                return self._paired(names, indices, output, k1, k2, p)
        return None

    def _paired(self, names, indices, output, k1, k2, p):
        j, k = indices[k1][p], indices[k2][p]
        n, size = self.dim_code(j), self.hint(j)
        q = -1 - len(self.pair_dims)  # a new index: a product's own are non-negative ints
        self.pair_dims[q] = (f"({n} * ({n} + 1) // 2)", size * (size + 1) // 2)
        self.helpers.add("_symmetric_pairs")
        pairs = self.emit(f"_symmetric_pairs(xp, {n}, device)")
        a = names[k1]
        pair = self.emit(f"xp.take({a}, {pairs}[0], axis={p}) * xp.take({a}, {pairs}[1], axis={p})")
        rest = [m for m in range(len(names)) if m not in (k1, k2)]
        idx_q = tuple(q if ix == j else ix for ix in indices[k1])
        sub_names = [names[m] for m in rest] + [pair]
        sub_indices = [tuple(indices[m]) for m in rest] + [idx_q]
        sub_output = [q if ix == j else ix for ix in output if ix != k]
        name, idx = (self.symmetric_pairs(sub_names, sub_indices, sub_output)
                     or self.contract(sub_names, sub_indices, sub_output))
        axis = idx.index(q)
        unpaired = idx[:axis] + [j, k] + idx[axis + 1:]
        read = self.emit(f"xp.take({name}, {pairs}[2], axis={axis})")  # q(min(j, k), max(j, k)) for all (j, k)
        return self.emit(f"xp.reshape({read}, {self.shape_code(unpaired)})"), unpaired

    def contract(self, names: list, indices: list, output: list) -> tuple[str, list]:
        """The product contracted pairwise in the planned order: (name, indices), the indices those of
        ``output`` in some order."""
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
        return self.sum_out(name, idx, out)

    def plan(self, idxs: list, output: list) -> list:
        """The pairwise contraction order: NumPy's ``einsum_path``, or :func:`greedy_path` where the product
        has more distinct indices than ``einsum_path`` has letters (52)."""
        distinct = list(dict.fromkeys(ix for idx in idxs + [output] for ix in idx))
        if len(distinct) > len(LETTERS):
            return greedy_path(idxs, output, self.hint)
        letter = dict(zip(distinct, LETTERS))
        spec = ",".join("".join(letter[ix] for ix in idx) for idx in idxs) + "->" + "".join(letter[ix] for ix in output)
        fakes = [np.broadcast_to(np.zeros(()), tuple(self.hint(ix) for ix in idx)) for idx in idxs]
        # no limit on the intermediates' size: einsum_path's default (the largest operand) turns a product such
        # as p[a,j] p[a,l] X[a,i] X[a,k] into one four-operand step, folded in the worst order
        limit = float(max(2**62, *(math.prod(f.shape) for f in fakes)))
        path, _ = np.einsum_path(spec, *fakes, optimize=("optimal" if len(idxs) <= 5 else "greedy", limit))
        return pairwise([tuple(step) for step in path[1:]], idxs, output, self.hint)


def pairwise(path: list, idxs: list, output: list, hint) -> list:
    """``path`` with every step of three or more operands (einsum_path makes one where nothing is summed, e.g.
    t[a,h] X[a,n] W[k,h] -> [a,k,n,h]) split into pairs in :func:`greedy_path`'s order, which builds the
    small t .* W first and the large outer product once; the list of terms after each original step is as
    before (the others in order, the step's result last)."""
    current = [(k, tuple(idx)) for k, idx in enumerate(idxs)]  # (id, indices) of the terms at each point
    fresh = len(current)
    out = []
    for step in path:
        if len(step) <= 2:
            out.append(step)
            merged = tuple(dict.fromkeys(ix for p in step for ix in current[p][1]))
            current = [t for p, t in enumerate(current) if p not in step] + [(fresh, merged)]
            fresh += 1
            continue
        members = [current[p] for p in step]
        others = [t for p, t in enumerate(current) if p not in step]
        needed = set(output) | {ix for _, idx in others for ix in idx}
        carried = list(dict.fromkeys(ix for _, idx in members for ix in idx))
        for i, j in greedy_path([idx for _, idx in members], [ix for ix in carried if ix in needed], hint):
            a, b = members[i], members[j]
            pa, pb = current.index(a), current.index(b)
            out.append((pa, pb))
            joined = (fresh, tuple(dict.fromkeys(a[1] + b[1])))
            fresh += 1
            current = [t for t in current if t is not a and t is not b] + [joined]
            members = [t for t in members if t is not a and t is not b] + [joined]
    return out


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


SYMMETRIC_PAIRS_HELPER = (
    "def _symmetric_pairs(xp, n, device, _made={}):\n"
    "    # the pairs j <= k of range(n), row by row (first and second members), and for every (j, k) the\n"
    "    # position of (min(j, k), max(j, k)) among them; made once per size, library and device, on the host\n"
    "    # (positions are static: NumPy builds them) and moved to xp's device, except for Dask, which selects\n"
    "    # with host positions (a lazy index has unknown length, and Dask cannot slice by one)\n"
    "    key = (id(xp), n, str(device))\n"
    "    if key not in _made:\n"
    "        import numpy\n"
    "        first, second = numpy.triu_indices(n)\n"
    "        r = numpy.arange(n)\n"
    "        low, high = numpy.minimum.outer(r, r), numpy.maximum.outer(r, r)\n"
    "        position = numpy.reshape(low * n - low * (low - 1) // 2 + (high - low), (-1,))\n"
    "        made = tuple(numpy.asarray(p, dtype=numpy.int64) for p in (first, second, position))\n"
    "        if not getattr(xp, '__name__', '').endswith('dask.array'):\n"
    "            made = tuple(xp.asarray(p, device=device) for p in made)\n"
    "        _made[key] = made\n"
    "    return _made[key]\n"
)


PRODUCTS_ONLY_HELPER = (
    "def _products_only(a):\n"
    "    # sparse (scipy.sparse, cupyx) or Dask data, read through products only (Lowering.gram_blocks)\n"
    "    return hasattr(a, 'tocsr') or hasattr(a, '__dask_graph__') or hasattr(a, 'row_chunks')\n"
)


GRAM_BLOCKS_HELPER = (
    "def _gram_blocks(xp, a, w, pairs, positions):\n"
    "    # G[j, k, c] = sum_r a[r, j] a[r, k] w[r, c]: from the column pairs a[:, j] .* a[:, k], j <= k, of a\n"
    "    # dense a (one product pairs' @ w, read back at (min(j, k), max(j, k)): ``positions``), else, pairs\n"
    "    # None, one Gram product a' diag(w[:, c]) a per column c (sparse a: scipy.sparse or cupyx; Dask a: a\n"
    "    # reduction over its blocks of rows)\n"
    "    n, c = a.shape[1], w.shape[1]\n"
    "    if pairs is not None:\n"
    "        return xp.reshape(xp.take(pairs.T @ w, positions, axis=0), (n, n, c))\n"
    "    if hasattr(w, 'row_chunks'):  # w Dask of sparse row blocks (so is a, a product with it): G = w' (a .* a)\n"
    "        outer = xp.reshape(a[:, :, None] * a[:, None, :], (a.shape[0], n * n))  # in one pass, not c\n"
    "        return xp.permute_dims(xp.reshape(w.T @ outer, (c, n, n)), (1, 2, 0))\n"
    "    blocks = []\n"
    "    for col in range(c):\n"
    "        weight = xp.reshape(w[:, col], (-1, 1))\n"
    "        block = a.T @ (a.multiply(weight) if hasattr(a, 'tocsr') else a * weight)\n"
    "        blocks.append(block.toarray() if hasattr(block, 'toarray') else block)\n"
    "    return xp.stack(blocks, axis=2)\n"
)


GRAM_VECTOR_HELPER = (
    "def _gram_vector(xp, x, w, v, entries):\n"
    "    # x'(w .* (x v)) over blocks of about `entries` entries of x's rows, each block read once from memory\n"
    "    if hasattr(x, 'tocsr') or hasattr(x, 'dask') or hasattr(x, 'row_chunks'):  # sparse or Dask x: two whole\n"
    "        u = x @ v  # products (a row slice of a sparse matrix is a new matrix, one per row when x is wide;\n"
    "        # Dask, also of sparse blocks, has its own blocks)\n"
    "        return x.T @ (u if w is None else w * u)\n"
    "    rows = max(1, entries // max(1, x.shape[1]))\n"
    "    out = None\n"
    "    for start in range(0, x.shape[0], rows):\n"
    "        stop = min(start + rows, x.shape[0])  # the array API leaves stops beyond the end unspecified\n"
    "        block = x[start:stop, :]\n"
    "        u = block @ v\n"
    "        part = block.T @ (u if w is None else w[start:stop] * u)\n"
    "        out = part if out is None else out + part\n"
    "    return out\n"
)


CUBE_POSITIONS_HELPER = (
    "def _cube_positions(xp, n, device, _made={}):\n"
    "    # for every (i, j, k), row by row, the position of its sorted (a <= b <= c) among the blocks that\n"
    "    # Lowering.symmetric_cube concatenates: block b holds (c, a) for c = b..n-1, a = 0..b, row-major,\n"
    "    # after sum_{t<b} (t+1)(n-t) entries of the blocks before it; made once per size, library and device\n"
    "    key = (id(xp), n, str(device))\n"
    "    if key not in _made:\n"
    "        r = xp.arange(n, dtype=xp.int64, device=device)\n"
    "        i, j, k = xp.reshape(r, (n, 1, 1)), xp.reshape(r, (1, n, 1)), xp.reshape(r, (1, 1, n))\n"
    "        a, c = xp.minimum(xp.minimum(i, j), k), xp.maximum(xp.maximum(i, j), k)\n"
    "        b = i + j + k - a - c\n"
    "        start = n * b * (b - 1) // 2 + n * b - (b - 1) * b * (2 * b - 1) // 6 - b * (b - 1) // 2\n"
    "        _made[key] = xp.reshape(start + (c - b) * (b + 1) + a, (-1,))\n"
    "    return _made[key]\n"
)


DIAGONAL_HELPER = (
    "def _diagonal(xp, a, ax1, ax2, n, device):\n"
    "    # a[.., i, .., i, ..] -> a[.., .., i]: move both axes last, keep the diagonal, sum it out\n"
    "    rest = [k for k in range(a.ndim) if k not in (ax1, ax2)]\n"
    "    a = xp.permute_dims(a, tuple(rest) + (ax1, ax2))\n"
    "    return xp.sum(a * xp.eye(n, dtype=a.dtype, device=device), axis=-1)\n"
)
