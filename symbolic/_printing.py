"""Printing: matrix notation where the expression has one, Einstein index notation otherwise; LaTeX; a tree repr.

Each is a table with one rule per node type (``MATRIX_RULES``, ``INDEX_RULES``, ``TREE_RULES``); a node type
without a rule raises. Matrix notation for a product (Contract) is found by reading its operands as a graph:
matrices are edges between their two indices, vectors are labels on an index, scalars are factors. Output
indices are the terminals; walking each component from a terminal or a leaf gives a chain
``M1*diag(h)*M2*...``, so ``X_ak s_a X_al`` prints as ``X'*diag(s)*X`` and ``A_ij x_j`` as ``A*x``. A product
whose graph has a node of degree three or more, or operands of order three or more, prints in index
notation: ``T[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]``, summing the indices not on the left. An argument of a
function that has no matrix form is named and defined after the expression (``inv(T1)[i,j], where
T1[i,j] = ...``). The printer only reads expressions: it never builds or simplifies a node.
"""

from __future__ import annotations

import string
from fractions import Fraction

import sympy

from ._functions import X
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var
from ._nodes import Concat, Slice
from ._nodes import ScatterAdd, Take

# precedence levels; an entry-wise product sits just below the matrix product, so that a Hadamard
# product inside a chain of '*' (same precedence in the language) is always parenthesised
SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = range(6)
HADAMARD = PRODUCT - 0.5

OUT_LETTERS = "ijklpqrstuvw"
SUM_LETTERS = "abcdefgh"


class TextStyle:
    latex = False
    times = "*"
    hadamard = ".*"
    power = ".^"
    eye = "eye"

    def transpose(self, s):
        return s + "'"

    def func(self, name, arg):
        return f"{name}({arg})"

    def number(self, c):
        return _fmt_number(c)

    def name(self, n):
        return n

    def index(self, base, idx):
        return f"{base}[{','.join(idx)}]"

    def ones(self, shape):
        return {1: "vector(1)", 2: "matrix(1)"}.get(len(shape), "ones")

    def fill(self, value, shape):
        v = _fmt_number(value)
        return {0: v, 1: f"vector({v})", 2: f"matrix({v})"}.get(len(shape), f"full({v})")

    def frac(self, num, den):
        return f"{num}/{den}"

    def reshape(self, text, shape):
        return f"reshape({text}, {', '.join(_dim_text(d) for d in shape)})"

    def reduction(self, name, short, letter, body):
        """A reduction over the index ``letter``: logsumexp_a(...)."""
        return f"{name}_{letter}({body})"


class LatexStyle(TextStyle):
    latex = True
    times = " "
    hadamard = r" \odot "
    power = "^"
    eye = "I"

    def transpose(self, s):
        if ("^" in s or " " in s or "\\" in s) and not _enclosed(s):
            s = f"\\left({s}\\right)"
        return s + r"^\top"

    def func(self, name, arg):
        known = {"exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "det"}
        op = f"\\{name}" if name in known else f"\\operatorname{{{name}}}"
        return f"{op}\\left({arg}\\right)"

    def name(self, n):
        if len(n) > 1 and not n[1:].isdigit():
            head, _, tail = n.partition("_")
            return f"\\mathrm{{{head}}}" + (f"_{{{tail}}}" if tail else "")
        if len(n) > 1:
            return f"{n[0]}_{{{n[1:]}}}"
        return n

    def index(self, base, idx):
        return f"{base}_{{{''.join(idx)}}}"

    def ones(self, shape):
        return r"\mathbf{1}"

    def fill(self, value, shape):
        v = _fmt_number(value)
        return v if not shape else (r"\mathbf{0}" if value == 0 else f"{v} \\mathbf{{1}}")

    def frac(self, num, den):
        return f"\\frac{{{num}}}{{{den}}}"

    def reshape(self, text, shape):
        dims = ", ".join(_dim_text(d).replace("*", " ") for d in shape)
        return f"\\operatorname{{reshape}}\\left({text}, {dims}\\right)"

    def reduction(self, name, short, letter, body):
        return f"\\operatorname{{{short}}}_{{{letter}}}\\left({body}\\right)"


def _fmt_number(c) -> str:
    if isinstance(c, Fraction):
        return f"{c.numerator}/{c.denominator}"
    if isinstance(c, float):
        if c.is_integer() and abs(c) < 1e15:
            return str(int(c))
        return repr(c)
    return str(c)


def _sympy_number(num, grouped: bool = False) -> str:
    """A sympy number as the language writes it: 3, 0.25, 1e-34, and a rational exactly as p/q, in
    parentheses where it stands inside a product or a power (``grouped``)."""
    if num.is_Integer:
        return str(int(num))
    if num.is_Rational:
        text = f"{int(num.p)}/{int(num.q)}"
        return f"({text})" if grouped else text
    return _fmt_number(float(num))


def _dim_text(d) -> str:
    """A dimension as the language writes it: 3, n, m*p."""
    return str(d)


def _wrap(text_prec, level) -> str:
    text, prec = text_prec
    return f"({text})" if prec < level else text


class Printer:
    """Renders one expression; ``where`` collects the definitions of sub-expressions named in index notation.

    Two tables drive it, one rule per node type each: :data:`MATRIX_RULES` (matrix notation; a rule raises
    :class:`NoMatrixForm` where the node has none) and :data:`INDEX_RULES` (Einstein index notation, which
    every node has). The printer only reads expressions; it never builds or simplifies one.
    """

    def __init__(self, style: TextStyle, taken=()):
        self.s = style
        self.where: list[str] = []
        self._named: dict = {}
        self._taken = set(taken)

    # -- dispatch -------------------------------------------------------------------------------------------
    def matrix(self, e: Expr):
        """(text, precedence) in matrix notation; raises NoMatrixForm."""
        return _rule(MATRIX_RULES, e, "matrix notation")(self, e)

    def try_matrix(self, e: Expr):
        if e.ndim > 2:
            return None
        try:
            return self.matrix(e)
        except NoMatrixForm:
            return None

    def indexed(self, e: Expr, letters: list, used: set):
        """``e`` with its free indices named ``letters`` (summed indices get fresh letters not in ``used``)."""
        return _rule(INDEX_RULES, e, "index notation")(self, e, letters, used)

    # -- shared pieces ----------------------------------------------------------------------------------------
    def whole(self, e: Expr, letters: list):
        """``e`` in matrix notation, indexed as a whole (``(A*B)[i,j]``), or None without a matrix form."""
        m = self.try_matrix(e)
        if m is None:
            return None
        if not letters:
            return m
        base = _wrap(m, ATOM) if m[1] < ATOM or self.s.latex and " " in m[0] else m[0]
        if self.s.latex and base.startswith("(") and base.endswith(")"):
            base = f"\\left{base[:-1]}\\right)"
        return self.s.index(base, letters), ATOM

    def named(self, e: Expr) -> str:
        """A name for ``e``, defined in index notation in ``where`` (for arguments without a matrix form)."""
        if e in self._named:
            return self._named[e]
        k = 1
        while f"T{k}" in self._taken:
            k += 1
        name = f"T{k}"
        self._taken.add(name)
        self._named[e] = name
        letters = _letters(e.ndim)
        head = self.s.index(self.s.name(name), letters) if letters else self.s.name(name)
        self.where.append(f"{head} = {self.indexed(e, letters, set(letters))[0]}")
        return self.s.name(name)

    def argument(self, e: Expr) -> str:
        """An argument of a function: matrix notation where it has one, else a named sub-expression."""
        m = self.try_matrix(e)
        return m[0] if m is not None else self.named(e)

    def sum_text(self, e: Add, render, constants_as_numbers: bool = False):
        """sum_k c_k t_k with ``render(t)`` for each term: positive terms first, constants last, '-' for
        negative coefficients, the coefficient in front (c*t). A scalar constant prints as one number, and
        so does every constant with ``constants_as_numbers`` (index notation, where entries are scalars)."""
        pieces = []
        order = sorted(zip(e.terms, e.coeffs), key=lambda tc: (tc[1] < 0, isinstance(tc[0], Fill), _transposed(tc[0])))
        for t, c in order:
            negative = c < 0
            mag = -c if negative else c
            if isinstance(t, Fill) and (not t.shape or constants_as_numbers):
                value = mag * t.value  # a constant prints as one number (in index notation, whatever its shape)
                negative = (value < 0) != negative
                text = _fmt_number(abs(value))
            else:
                body = render(t)
                text = _wrap(body, PRODUCT) if mag != 1 else _wrap(body, SUM + 1)
                if mag != 1:
                    text = f"{self.coeff(mag)}{self.s.times if not self.s.latex else ' '}{text}"
            pieces.append((negative, text))
        out = ("-" if pieces[0][0] else "") + pieces[0][1]
        for negative, text in pieces[1:]:
            out += (" - " if negative else " + ") + text
        return out, SUM

    def coeff(self, c) -> str:
        if isinstance(c, Fraction) and self.s.latex:
            return self.s.frac(c.numerator, c.denominator)
        text = _fmt_number(c)
        return f"({text})" if "/" in text and not self.s.latex else text

    def function_text(self, e: Elementwise, arg):
        return self.sympy_to(e.fn.expr, arg), _prec_of(e.fn.expr)

    def sympy_to(self, expr, arg) -> str:
        """The element-wise function ``expr`` (sympy, in x) applied to ``arg`` = (text, precedence)."""
        s = self.s
        if expr == X:
            return arg[0]
        if expr.is_Number:
            return _sympy_number(expr)
        if expr.is_Add:
            parts = []
            for k, t in enumerate(sympy.Add.make_args(expr)):
                text = self.sympy_to(t, arg)
                if k and text.startswith("-"):
                    parts.append(" - " + text[1:])
                elif k:
                    parts.append(" + " + text)
                else:
                    parts.append(text)
            return "".join(parts)
        if expr.is_Mul:
            coeff, rest = expr.as_coeff_Mul()
            factors = []
            for f in sympy.Mul.make_args(rest):
                t = self.sympy_to(f, arg)
                factors.append(f"({t})" if f.is_Add else t)
            body = s.hadamard.join(factors)
            if coeff == -1:
                return "-" + body
            if coeff != 1:
                return f"{_sympy_number(coeff, grouped=True)}*{body}"
            return body
        if expr.is_Pow:
            base, ex = expr.base, expr.exp
            b = self.sympy_to(base, arg)
            b = b if (base == X and arg[1] >= ATOM) or base.is_Function else f"({b})"
            if ex == sympy.Rational(1, 2):
                return s.func("sqrt", self.sympy_to(base, arg))
            e = _sympy_number(ex, grouped=not s.latex)
            if s.latex:
                return f"{b}^{{{e}}}"
            return f"{b}{s.power}{e if not e.startswith('-') else '(' + e + ')'}"
        if expr.is_Function:
            name = {"Abs": "abs", "asin": "arcsin", "acos": "arccos", "atan": "arctan", "absolute": "abs"}.get(
                expr.func.__name__, expr.func.__name__
            )
            return s.func(name, self.sympy_to(expr.args[0], arg))  # the call's parentheses group its argument
        return str(expr).replace("x", arg[0])

    # -- products in matrix notation --------------------------------------------------------------------------
    def matrix_form(self, operands, indices, output):
        """Matrix notation for the product ``out[output] = sum prod_k operands[k][indices[k]]``, or None.

        The operands are read as a multigraph: matrices are edges between their two indices, vectors are
        labels on an index, scalars are factors. Series-parallel reductions rewrite it until only output
        indices remain: two edges on one index pair become a Hadamard product (A.*B'); a summed index
        between two edges becomes a product (A*diag(h)*B); a summed index at the end of an edge becomes a
        vector (A*h, or A*vector(1) for a row sum); a loop A[i,i] becomes diag(A); a summed index carrying
        only vectors becomes a scalar (x'*y, sum(x)). What is left reads as diag(h1)*M*diag(h2), an outer
        product h1*h2', or a vector; a graph that does not reduce (K4, say) has no matrix form here.
        """
        if len(output) > 2 or any(op.ndim > 2 for op in operands):
            return None
        S = self.s
        out = list(output)
        scalars: list = []
        vecs: dict = {}
        # an edge is [factors, p, q]: a chain of factors (text, prec, transposed, is_diag) from index p to q
        edges: list = []
        for op, idx in zip(operands, indices):
            t = self.matrix(op)
            if op.ndim == 0:
                scalars.append(t)
            elif op.ndim == 1:
                vecs.setdefault(idx[0], []).append(t)
            elif idx[0] == idx[1]:
                vecs.setdefault(idx[0], []).append((S.func("diag", t[0]), ATOM))
            else:
                edges.append([[(t[0], t[1], False, False)], idx[0], idx[1]])

        def reverse(factors):
            return [(t, pr, tr if dg else not tr, dg) for t, pr, tr, dg in reversed(factors)]

        def oriented(edge, frm):
            """The chain read from index ``frm``: its factors, reversed and transposed when needed."""
            factors, p, q = edge
            return factors if p == frm else reverse(factors)

        def render(factors):
            if len(factors) == 1 and not factors[0][2]:
                return factors[0][0], factors[0][1]
            parts = []
            for t, pr, tr, dg in factors:
                if tr:
                    parts.append(S.transpose(_wrap((t, pr), POSTFIX)))
                else:
                    parts.append(_wrap((t, pr), PRODUCT + 1) if not dg else t)
            return S.times.join(parts), (PRODUCT if len(parts) > 1 else POSTFIX)

        def hadamard(items):
            if len(items) == 1:
                return items[0]
            return S.hadamard.join(self._factor(_wrap(t, POWER)) for t in items), HADAMARD

        def times(*parts):
            return S.times.join(_wrap(t, PRODUCT) for t in parts), PRODUCT

        def column(t):
            """A vector as a column operand of a product: parenthesised unless atomic."""
            return (_paren_vec(t[0], S), ATOM)

        def merge_parallel() -> bool:
            """Two edges on one index pair: their entry-wise product."""
            for a in range(len(edges)):
                for b in range(a + 1, len(edges)):
                    if {edges[a][1], edges[a][2]} == {edges[b][1], edges[b][2]} and edges[a][1] != edges[a][2]:
                        p, q = edges[a][1], edges[a][2]
                        text, prec = hadamard([render(oriented(edges[a], p)), render(oriented(edges[b], p))])
                        edges[a] = [[(text, prec, False, False)], p, q]
                        del edges[b]
                        return True
            return False

        def degrees() -> dict:
            degree: dict = {}
            for _, p, q in edges:
                degree[p] = degree.get(p, 0) + 1
                degree[q] = degree.get(q, 0) + 1
            return degree

        def chain() -> bool:
            """A summed index between two edges: the matrix product (with diag(h) for its vectors h)."""
            for v, dg in degrees().items():
                if v in out or dg != 2:
                    continue
                k1, k2 = [k for k, ed in enumerate(edges) if v in (ed[1], ed[2])]
                u = edges[k1][1] if edges[k1][2] == v else edges[k1][2]
                w = edges[k2][1] if edges[k2][2] == v else edges[k2][2]
                left = oriented(edges[k1], u)
                right = oriented(edges[k2], v)
                middle = [(S.func("diag", hadamard(vecs.pop(v))[0]), ATOM, False, True)] if v in vecs else []
                for k in sorted((k1, k2), reverse=True):
                    del edges[k]
                edges.append([left + middle + right, u, w])
                return True
            return False

        def close_edge() -> bool:
            """A loop becomes diag(M); an edge with both ends summed a scalar u'*M*v; an edge with one end
            summed a vector M*h on its other end."""
            degree = degrees()
            for k, (factors, p, q) in enumerate(edges):
                text, prec = render(factors)
                if p == q:
                    vecs.setdefault(p, []).append((S.func("diag", text), ATOM))
                    del edges[k]
                    return True
                if p not in out and q not in out and degree[p] == 1 and degree[q] == 1:
                    hp, hq = vecs.pop(p, None), vecs.pop(q, None)
                    if hp is None and hq is None:
                        scalars.append((S.func("sum", text), ATOM))
                    else:
                        u = column(hadamard(hp) if hp else (S.ones((1,)), ATOM))
                        v = column(hadamard(hq) if hq else (S.ones((1,)), ATOM))
                        scalars.append(times((S.transpose(u[0]), POSTFIX), (text, prec), v))
                    del edges[k]
                    return True
                for leaf, other in ((q, p), (p, q)):
                    if leaf not in out and degree[leaf] == 1:
                        h = hadamard(vecs.pop(leaf)) if leaf in vecs else (S.ones((1,)), ATOM)
                        vecs.setdefault(other, []).append(times(render(oriented(edges[k], other)), column(h)))
                        del edges[k]
                        return True
            return False

        def inner_products() -> bool:
            """A summed index that carries vectors only: the scalar sum(h) or h1'*h2."""
            degree = degrees()
            for v in list(vecs):
                if v in out or degree.get(v, 0):
                    continue
                items = vecs.pop(v)
                if len(items) == 1:
                    scalars.append((S.func("sum", items[0][0]), ATOM))
                else:
                    first = S.transpose(_wrap(items[0], POSTFIX))
                    scalars.append(times((first, POSTFIX), column(hadamard(items[1:]))))
                return True
            return False

        while merge_parallel() or chain() or close_edge() or inner_products():
            pass  # each step removes an edge or a vector label: finitely many
        if any(p not in out or q not in out for _, p, q in edges):
            return None
        if any(v not in out for v in vecs):
            return None
        scalar = S.times.join(_wrap(t, PRODUCT) for t in scalars)

        def with_scalar(body):
            if not scalar:
                return body
            return f"{scalar}{S.times}{_wrap(body, PRODUCT)}", PRODUCT

        if not out:
            if not scalars:
                return "1", ATOM
            return (scalar, PRODUCT if len(scalars) > 1 else scalars[0][1])
        if len(out) == 1:
            o = out[0]
            if o not in vecs:
                return None
            return with_scalar(hadamard(vecs[o]))
        o1, o2 = out
        if edges:
            (edge,) = edges  # parallel edges were merged
            body = render(oriented(edge, o1))
            if body[0] == S.eye and (o1 in vecs or o2 in vecs):  # diag(h) is h on the identity
                both = vecs.get(o1, []) + vecs.get(o2, [])
                return with_scalar((S.func("diag", hadamard(both)[0]), ATOM))
            parts = []
            if o1 in vecs:
                parts.append((S.func("diag", hadamard(vecs[o1])[0]), ATOM))
            parts.append(body)
            if o2 in vecs:
                parts.append((S.func("diag", hadamard(vecs[o2])[0]), ATOM))
            return with_scalar(times(*parts) if len(parts) > 1 else body)
        if o1 not in vecs or o2 not in vecs:
            return None
        u, v = hadamard(vecs[o1]), hadamard(vecs[o2])
        return with_scalar((f"{column(u)[0]}{S.times}{S.transpose(column(v)[0])}", PRODUCT))

    def _factor(self, text: str) -> str:
        """A piece of a Hadamard product: parenthesised unless it is one atom."""
        if _balanced(text):
            return text
        return f"\\left({text}\\right)" if self.s.latex else f"({text})"


def _rule(table: dict, e: Expr, what: str):
    rule = table.get(type(e))
    if rule is None:
        raise NotImplementedError(f"no {what} rule for node type {type(e).__name__}")
    return rule


def _prec_of(expr):
    if expr.is_Add:
        return SUM
    if expr.is_Mul:
        return HADAMARD
    if expr.is_Pow:
        return POWER
    return ATOM


# ----------------------------------------------------------------------------------------------------------
# Matrix notation: one rule per node type, (printer, node) -> (text, precedence); NoMatrixForm where none.
# ----------------------------------------------------------------------------------------------------------


def matrix_variable(pr: Printer, e: Var):
    """A scalar, vector or matrix variable by its name."""
    if e.ndim > 2:
        raise NoMatrixForm(e)
    return pr.s.name(e.name), ATOM


def matrix_constant(pr: Printer, e: Const):
    """A constant array by its label (the language has no array literals)."""
    if e.ndim > 2:
        raise NoMatrixForm(e)
    return pr.s.name(e.label), ATOM


def matrix_fill(pr: Printer, e: Fill):
    """c, vector(c) or matrix(c)."""
    if e.ndim > 2:
        raise NoMatrixForm(e)
    text = pr.s.fill(e.value, e.shape)
    neg = not e.shape and str(text).startswith("-")
    return text, (UNARY if neg else ATOM)


def matrix_identity(pr: Printer, e: Delta):
    return pr.s.eye, ATOM


def matrix_product(pr: Printer, e: Contract):
    """A chain of matrix products, transposes, diag(.), Hadamard and outer products (see matrix_form)."""
    m = pr.matrix_form(e.operands, e.indices, e.output)
    if m is None:
        raise NoMatrixForm(e)
    return m


def matrix_sum(pr: Printer, e: Add):
    return pr.sum_text(e, pr.matrix)


def matrix_elementwise(pr: Printer, e: Elementwise):
    return pr.function_text(e, pr.matrix(e.arg))


def matrix_inverse(pr: Printer, e: Inverse):
    """inv(A), A^{-1} in LaTeX."""
    if pr.s.latex:
        return _wrap(pr.matrix(e.arg), ATOM) + "^{-1}", POSTFIX
    return pr.s.func("inv", pr.matrix(e.arg)[0]), ATOM


def matrix_scalar_function(pr: Printer, e):
    """det(A), logdet(A)."""
    return pr.s.func(e.op, pr.matrix(e.arg)[0]), ATOM


def matrix_reshape(pr: Printer, e: Reshape):
    """kron(A, B) where the reshape is a Kronecker product; reshape(A, m*n) for other reshapes of matrices
    and vectors that have a matrix form."""
    factors = kron_factors(e)
    if factors is not None:
        a, b = (pr.matrix_form(*f) for f in factors)
        if a is not None and b is not None:
            if pr.s.latex:
                return f"{_wrap(a, POSTFIX)} \\otimes {_wrap(b, POSTFIX)}", PRODUCT
            return pr.s.func("kron", f"{a[0]}, {b[0]}"), ATOM
    if e.arg.ndim > 2 or e.ndim > 2:
        raise NoMatrixForm(e)
    return pr.s.reshape(pr.matrix(e.arg)[0], e.new_shape), ATOM


def matrix_logsumexp(pr: Printer, e: LogSumExp):
    """logsumexp(x) of a vector; other axes have no matrix form."""
    if e.arg.ndim != 1:
        raise NoMatrixForm(e)
    return pr.s.func("logsumexp", pr.matrix(e.arg)[0]), ATOM


def _gather_args(pr: Printer, e, first: str, *more) -> str:
    """The arguments of take(...) and scatter_add(...): the operand, the label of the indices (which rs.parse
    reads back when the array is passed under that name: rs.parse("take(U, rows)", rows=array); the language
    has no array literals, as for constants), more, and the axis where it is not 0."""
    items = [first, pr.s.name(e.index.label), *more] + ([str(e.axis)] if e.axis else [])
    return ", ".join(items)


def matrix_take(pr: Printer, e: Take):
    """take(A, rows), or take(A, cols, 1) along the columns, for vectors and matrices."""
    if e.ndim > 2 or e.arg.ndim > 2:
        raise NoMatrixForm(e)
    return pr.s.func("take", _gather_args(pr, e, pr.matrix(e.arg)[0])), ATOM


def matrix_scatter_add(pr: Printer, e: ScatterAdd):
    """scatter_add(G, rows, m), or scatter_add(G, cols, n, 1) along the columns, for vectors and matrices."""
    if e.ndim > 2 or e.arg.ndim > 2:
        raise NoMatrixForm(e)
    return pr.s.func("scatter_add", _gather_args(pr, e, pr.matrix(e.arg)[0], _dim_text(e.size))), ATOM


def _items_text(items, sep: str = ", ") -> str:
    """Slice items as written in a subscript: ``:``, ``2``, ``1:3``, ``0:9:2``."""
    def one(item):
        if item is None:
            return ":"
        if isinstance(item, int):
            return str(item)
        start, stop, step = item
        return f"{start}:{stop}" + (f":{step}" if step != 1 else "")
    return sep.join(one(item) for item in items)


def _block_part(pr: Printer, part: Expr) -> str:
    """A part of a concatenation: a fill with its sizes (``vector(0, 3)``, ``matrix(1, m, 2)``, which the
    language reads back; a bare ``vector(0)`` takes its size from where it stands, which a concatenation does
    not fix), anything else in matrix notation (or named, in index notation)."""
    if isinstance(part, Fill):
        return _sized_fill(pr, part.value, part.shape)
    if isinstance(part, Var):
        return pr.s.name(part.name)
    return pr.argument(part)


def _sized_fill(pr: Printer, value, shape) -> str:
    """A fill with its sizes: ``c``, ``vector(c, n)``, ``matrix(c, m, n)`` (in LaTeX as any fill)."""
    if pr.s.latex or not shape or len(shape) > 2:
        return pr.s.fill(value, shape)
    kind = "vector" if len(shape) == 1 else "matrix"
    return f"{kind}({', '.join([_fmt_number(value)] + [_dim_text(d) for d in shape])})"


def _stacked_rows(pr: Printer, e: Concat):
    """The rows of a concatenation that is a stack, as text: each part a scalar or a vector given a leading
    axis of size 1 (a reshape, or a fill of that shape); None for other concatenations."""
    if e.axis != 0 or e.ndim > 2:
        return None
    for p in e.parts:
        reshaped = isinstance(p, Reshape) and p.arg.ndim == e.ndim - 1 and \
            tuple(p.new_shape) == (1,) + tuple(p.arg.shape)
        if not (reshaped or isinstance(p, Fill) and p.shape[0] == 1):
            return None
    return [_sized_fill(pr, p.value, p.shape[1:]) if isinstance(p, Fill) else pr.matrix(p.arg)[0] for p in e.parts]


def matrix_concat(pr: Printer, e: Concat):
    """concat(a, b) (vectors end to end, matrices one above the other), hconcat(A, B) (side by side), and
    stack(a, b) where the parts are scalars or vectors given a leading axis (rows); fills with their sizes."""
    if e.ndim > 2:
        raise NoMatrixForm(e)
    rows = _stacked_rows(pr, e)
    if rows is not None:
        return pr.s.func("stack", ", ".join(rows)), ATOM
    parts = [_sized_fill(pr, p.value, p.shape) if isinstance(p, Fill) else pr.matrix(p)[0] for p in e.parts]
    return pr.s.func("concat" if e.axis == 0 else "hconcat", ", ".join(parts)), ATOM


def matrix_slice(pr: Printer, e: Slice):
    """x[2:5], A[:, 1:3], A[1, :], x[2]: the argument (parenthesised unless an atom) with its items."""
    if e.arg.ndim > 2:
        raise NoMatrixForm(e)
    if isinstance(e.arg, Delta):  # a strided selector: the identity with its size (eye takes it from context)
        n = _dim_text(e.arg.dim)
        return (f"I_{{{n}}}" if pr.s.latex else pr.s.func("eye", n)) + f"[{_items_text(e.items)}]", POSTFIX
    text, prec = pr.matrix(e.arg)
    base = text if prec >= ATOM else f"\\left({text}\\right)" if pr.s.latex else f"({text})"
    return f"{base}[{_items_text(e.items)}]", POSTFIX


MATRIX_RULES = {
    Var: matrix_variable,
    Const: matrix_constant,
    Fill: matrix_fill,
    Delta: matrix_identity,
    Contract: matrix_product,
    Add: matrix_sum,
    Elementwise: matrix_elementwise,
    Inverse: matrix_inverse,
    Det: matrix_scalar_function,
    LogDet: matrix_scalar_function,
    Reshape: matrix_reshape,
    LogSumExp: matrix_logsumexp,
    Concat: matrix_concat,
    Slice: matrix_slice,
    Take: matrix_take,
    ScatterAdd: matrix_scatter_add,
}


def kron_factors(e: Reshape):
    """The two factors of a Kronecker product, each as (operands, indices, output) of a product, or None.

    kron(a, b) is the reshape of a[i] b[k] to (m*p,); kron(A, B) the reshape of A[i, j] B[k, l], laid out as
    [i, k, j, l], to (m*p, n*q). The factors may be products themselves (kron(A'*A, B)): the operands of the
    product split into two groups that share no index, one carrying i (and j), the other k (and l).
    """
    arg = e.arg
    if not isinstance(arg, Contract) or e.ndim not in (1, 2) or len(arg.output) != 2 * e.ndim:
        return None
    out = arg.output
    firsts = {out[0], out[2]} if e.ndim == 2 else {out[0]}
    group = {k for k, idx in enumerate(arg.indices) if firsts & set(idx)}
    grown = True
    while grown:  # close the group under shared indices
        carried = {ix for k in group for ix in arg.indices[k]}
        more = {k for k, idx in enumerate(arg.indices) if k not in group and carried & set(idx)}
        group |= more
        grown = bool(more)
    rest = [k for k in range(len(arg.operands)) if k not in group]
    factors = []
    for members, wanted in ((sorted(group), [ix for ix in out if ix in firsts]),
                            (rest, [ix for ix in out if ix not in firsts])):
        carried = {ix for k in members for ix in arg.indices[k]}
        if not members or set(wanted) != carried & set(out):
            return None
        factors.append(([arg.operands[k] for k in members], [arg.indices[k] for k in members], wanted))
    return factors


# ----------------------------------------------------------------------------------------------------------
# Index notation: one rule per node type, (printer, node, letters, used) -> (text, precedence).
# ----------------------------------------------------------------------------------------------------------


def index_variable(pr: Printer, e: Var, letters, used):
    return (pr.s.index(pr.s.name(e.name), letters) if letters else pr.s.name(e.name)), ATOM


def index_constant(pr: Printer, e: Const, letters, used):
    return (pr.s.index(pr.s.name(e.label), letters) if letters else pr.s.name(e.label)), ATOM


def index_fill(pr: Printer, e: Fill, letters, used):
    """Every entry is the value."""
    text = _fmt_number(e.value)
    return text, (UNARY if text.startswith("-") else ATOM)


def index_identity(pr: Printer, e: Delta, letters, used):
    return pr.s.index(r"\delta" if pr.s.latex else "δ", letters), ATOM


def index_sum(pr: Printer, e: Add, letters, used):
    whole = pr.whole(e, letters) if not letters else None  # a scalar prints in matrix notation where it can
    return whole or pr.sum_text(e, lambda t: pr.indexed(t, letters, used), constants_as_numbers=True)


def index_elementwise(pr: Printer, e: Elementwise, letters, used):
    whole = pr.whole(e, letters) if not letters else None
    return whole or pr.function_text(e, pr.indexed(e.arg, letters, used))


def index_product(pr: Printer, e: Contract, letters, used):
    """Factors grouped by the summed indices that link them; a group with a matrix form prints as one
    indexed factor ((V'*V)[j,l]), the others factor by factor; all-ones factors (broadcasts) are left out."""
    if not letters:
        m = pr.try_matrix(e)
        if m is not None:
            return m
    names = dict(zip(e.output, letters))
    used = set(used) | set(letters)
    pool = [ch for ch in SUM_LETTERS + "mnopqrstuvwxyz" if ch not in used]
    for idx in e.indices:
        for ix in idx:
            if ix not in names:
                names[ix] = pool.pop(0) if pool else f"s{ix}"
    used |= set(names.values())
    out = set(e.output)
    parent = list(range(len(e.operands)))  # components: operands linked by summed indices

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    owner: dict = {}
    for k, idx in enumerate(e.indices):
        for ix in idx:
            if ix in out:
                continue
            if ix in owner:
                parent[find(k)] = find(owner[ix])
            else:
                owner[ix] = k
    groups: dict = {}
    for k in range(len(e.operands)):
        if isinstance(e.operands[k], Fill) and e.operands[k].value == 1:
            continue  # ones only broadcast
        groups.setdefault(find(k), []).append(k)
    factors = []
    for members in groups.values():
        ops = [e.operands[k] for k in members]
        idxs = [e.indices[k] for k in members]
        free = [ix for ix in e.output if any(ix in i for i in idxs)]
        text = None
        if len(members) > 1 and len(free) <= 2 and all(op.ndim <= 2 for op in ops):
            try:
                m = pr.matrix_form(ops, idxs, free)
            except NoMatrixForm:
                m = None
            if m is not None:
                if free:
                    base = m[0] if m[1] >= ATOM and not (pr.s.latex and " " in m[0]) else f"({m[0]})"
                    if pr.s.latex and base.startswith("("):
                        base = f"\\left{base[:-1]}\\right)"
                    text = pr.s.index(base, [names[ix] for ix in free])
                else:
                    text = _wrap(m, PRODUCT)
        if text is None:
            text = pr.s.times.join(_wrap(pr.indexed(op, [names[ix] for ix in idx], used), PRODUCT)
                                   for op, idx in zip(ops, idxs))
        factors.append(text)
    if not factors:
        return "1", ATOM
    factors.sort(key=lambda t: not t.startswith(("δ", "\\delta")))
    return pr.s.times.join(factors), (PRODUCT if len(factors) > 1 else ATOM)


def index_matrix_function(pr: Printer, e, letters, used):
    """inv(A)[i,j], det(A), logdet(A), kron(A, B)[i,j]; an argument without a matrix form is named and
    defined after the expression (``where T1[a,b] = ...``)."""
    whole = pr.whole(e, letters)
    if whole is not None:
        return whole
    if isinstance(e, Reshape):
        text = pr.s.reshape(pr.named(e.arg), e.new_shape)
    else:
        text = pr.s.func(e.op, pr.named(e.arg))
    return (pr.s.index(text, letters) if letters else text), ATOM


def index_logsumexp(pr: Printer, e: LogSumExp, letters, used):
    """logsumexp_a(z[i,a]): the reduction over the axis named by its subscript letter."""
    whole = pr.whole(e, letters)
    if whole is not None:
        return whole
    pool = [ch for ch in SUM_LETTERS if ch not in set(used) | set(letters)]
    a = pool[0] if pool else "z"
    inner = list(letters[:e.axis]) + [a] + list(letters[e.axis:])
    body = pr.indexed(e.arg, inner, set(used) | set(letters) | {a})
    return pr.s.reduction("logsumexp", "lse", a, body[0]), ATOM


def index_take(pr: Printer, e: Take, letters, used):
    """A[rows[k],j]: the argument indexed at the gathered position along the taken axis."""
    inner = list(letters)
    inner[e.axis] = pr.s.index(pr.s.name(e.index.label), [letters[e.axis]])
    return pr.indexed(e.arg, inner, set(used) | set(letters))


def index_scatter_add(pr: Printer, e: ScatterAdd, letters, used):
    """scatter_add(G, rows, m)[i,j]; an argument without a matrix form is named and defined after the
    expression (``where T1[k,j,l] = ...``)."""
    whole = pr.whole(e, letters)
    if whole is not None:
        return whole
    text = pr.s.func("scatter_add", _gather_args(pr, e, pr.named(e.arg), _dim_text(e.size)))
    return (pr.s.index(text, letters) if letters else text), ATOM


def _position(letter: str, start: int, step: int, latex: bool) -> str:
    """The index of an argument's axis that a range (start, _, step) of a slice reads at the result's index
    ``letter``: ``i``, ``i+2``, ``2*i+1`` (braced in LaTeX, where subscripts are not separated)."""
    text = (f"{step}*{letter}" if step != 1 else letter) + (f"+{start}" if start else "")
    return f"{{{text}}}" if latex and text != letter else text


def index_slice(pr: Printer, e: Slice, letters, used):
    """x[i+2], A[1,j], x[2*i+1]: the argument indexed at the positions the items pick (a matrix form such
    as x[2] where the result is a scalar)."""
    whole = pr.whole(e, letters) if not letters else None
    if whole is not None:
        return whole
    inner, given = [], iter(letters)
    for item in e.items:
        if isinstance(item, int):
            inner.append(str(item))
        elif item is None:
            inner.append(next(given))
        else:
            inner.append(_position(next(given), item[0], item[2], pr.s.latex))
    return pr.indexed(e.arg, inner, set(used) | set(letters))


def index_concat(pr: Printer, e: Concat, letters, used):
    """concat(A, B)[i,j] in matrix notation where it has one; else concat(T1, T2; axis 2)[i,j,k] with the
    parts named (defined after the expression)."""
    whole = pr.whole(e, letters)
    if whole is not None:
        return whole
    parts = ", ".join(_block_part(pr, p) for p in e.parts)
    text = pr.s.func("concat", f"{parts}; axis {e.axis}")
    return (pr.s.index(text, letters) if letters else text), ATOM


INDEX_RULES = {
    Var: index_variable,
    Const: index_constant,
    Fill: index_fill,
    Delta: index_identity,
    Contract: index_product,
    Add: index_sum,
    Elementwise: index_elementwise,
    Inverse: index_matrix_function,
    Det: index_matrix_function,
    LogDet: index_matrix_function,
    Reshape: index_matrix_function,
    LogSumExp: index_logsumexp,
    Concat: index_concat,
    Slice: index_slice,
    Take: index_take,
    ScatterAdd: index_scatter_add,
}


class NoMatrixForm(Exception):
    """Raised inside the matrix-notation printer when a node has no matrix form."""


def _enclosed(text: str) -> bool:
    """True when ``text`` is one parenthesised group, "(...)" or "\\left(...\\right)"."""
    for open_, close in (("(", ")"), ("\\left(", "\\right)")):
        if text.startswith(open_) and text.endswith(close):
            depth = 0
            for k, ch in enumerate(text):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0 and k < len(text) - 1:
                    break
            else:
                return True
    return False


def _balanced(text: str) -> bool:
    """True when ``text`` is one atom: no top-level operator outside parentheses."""
    depth = 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in "+-*/ ." and k > 0:
            return False
    return True


def _transposed(t) -> bool:
    return isinstance(t, Contract) and len(t.operands) == 1


def _paren_vec(text: str, style) -> str:
    """A vector operand of a product or a transpose: parenthesised unless it is one atom."""
    if _balanced(text) or _enclosed(text):
        return text
    if style.latex:
        return f"\\left({text}\\right)"
    return f"({text})"


def _letters(n: int) -> list:
    return [OUT_LETTERS[k] if k < len(OUT_LETTERS) else f"i{k}" for k in range(n)]


def _render(e: Expr, style, name: str, matrix_first: bool = True) -> str:
    """Matrix notation where ``e`` has one (and ``matrix_first``); else ``name[i,j] = ...`` in index notation,
    followed by the definitions of named sub-expressions (``where T1[i,j,k,l] = ...``)."""
    printer = Printer(style, taken={v.name for v in e.variables} | {name})
    if matrix_first:
        m = printer.try_matrix(e)
        if m is not None:
            return m[0]
    letters = _letters(e.ndim)
    body = printer.indexed(e, letters, set())[0]
    head = style.index(style.name(name), letters) if letters else style.name(name)
    text = f"{head} = {body}"
    if printer.where:
        text += (r", \text{where } " if style.latex else ", where ") + "; ".join(printer.where)
    return text


def to_str(e: Expr) -> str:
    """Matrix notation in the language ``rs.parse`` reads, where the expression has one (``rs.parse(str(e))``
    gives ``e`` back); otherwise Einstein index notation ``T[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]`` (indices not
    on the left are summed), which is for reading: the language does not parse it."""
    return _render(e, TextStyle(), "T")


def latex(e: Expr) -> str:
    """LaTeX: matrix notation with ^\\top, \\odot, \\operatorname{diag}, or index notation with subscripts."""
    text = _render(e, LatexStyle(), "T")
    return text.split(" = ", 1)[1] if text.startswith("T_{") else text


def index_notation(e: Expr, name: str = "T", latex: bool = False) -> str:
    """``name[i,j,...] = ...`` in Einstein notation, whatever the order of the expression."""
    return _render(e, LatexStyle() if latex else TextStyle(), name, matrix_first=False)


# ----------------------------------------------------------------------------------------------------------
# The debugging repr: one rule per node type, (node, children text) -> text.
# ----------------------------------------------------------------------------------------------------------


def _spec(e: Contract) -> str:
    return ",".join("".join(_letter(i) for i in idx) for idx in e.indices) + "->" + "".join(_letter(i) for i in e.output)


TREE_RULES = {
    Var: lambda e, kids: f"Var({e.name}{_shape(e)})",
    Fill: lambda e, kids: f"Fill({_fmt_number(e.value)}{_shape(e)})",
    Const: lambda e, kids: f"Const({e.label}{_shape(e)})",
    Delta: lambda e, kids: f"Delta({e.dim})",
    Contract: lambda e, kids: f"Contract[{_spec(e)}]({kids})",
    Add: lambda e, kids: f"Add[{', '.join(_fmt_number(c) for c in e.coeffs)}]({kids})",
    Elementwise: lambda e, kids: f"Elementwise[{e.fn.display}]({kids})",
    Inverse: lambda e, kids: f"Inverse({kids})",
    Det: lambda e, kids: f"Det({kids})",
    LogDet: lambda e, kids: f"LogDet({kids})",
    Reshape: lambda e, kids: f"Reshape[{', '.join(_dim_text(d) for d in e.new_shape)}]({kids})",
    LogSumExp: lambda e, kids: f"LogSumExp[axis={e.axis}]({kids})",
    Concat: lambda e, kids: f"Concat[axis={e.axis}]({kids})",
    Slice: lambda e, kids: f"Slice[{_items_text(e.items)}]({kids})",
    Take: lambda e, kids: f"Take[{e.index.label}, axis={e.axis}]({kids})",
    ScatterAdd: lambda e, kids: f"ScatterAdd[{e.index.label} -> {_dim_text(e.size)}, axis={e.axis}]({kids})",
}


def tree_repr(e: Expr, depth: int = 0, limit: int = 6) -> str:
    """A compact one-line tree of the node types, for debugging."""
    rule = _rule(TREE_RULES, e, "tree repr")
    if depth >= limit and e.children():
        return f"{type(e).__name__}(...)"
    return rule(e, ", ".join(tree_repr(c, depth + 1, limit) for c in e.children()))


def _letter(i: int) -> str:
    letters = string.ascii_lowercase + string.ascii_uppercase
    return letters[i] if i < len(letters) else f"<{i}>"


def _shape(e) -> str:
    return "" if not e.shape else ", " + "x".join(str(d) for d in e.shape)


Expr.__repr__ = tree_repr
Expr.__str__ = to_str
Expr._repr_latex_ = lambda e: "$" + latex(e) + "$"
