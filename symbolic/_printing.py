"""Printing: matrix notation where the expression has one, Einstein index notation otherwise; LaTeX; a tree repr.

Matrix notation for a product (Contract) is found by reading its operands as a graph: matrices are edges
between their two indices, vectors are labels on an index, scalars are factors. Output indices are the
terminals; walking each component from a terminal or a leaf gives a chain ``M1*diag(h)*M2*...``, so
``X_ak s_a X_al`` prints as ``X'*diag(s)*X`` and ``A_ij x_j`` as ``A*x``. A product whose graph has a
node of degree three or more, or operands of order three or more, prints in index notation,
``[i,j,k,l] 2*eye[i,k]*(V'*V)[j,l]``-style: ``sum_{a} A[i,a]*B[a,j,k]``.
"""

from __future__ import annotations

from fractions import Fraction

import sympy

from ._functions import X
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, LogSumExp, Reshape, Var

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


def _fmt_number(c) -> str:
    if isinstance(c, Fraction):
        return f"{c.numerator}/{c.denominator}"
    if isinstance(c, float):
        if c.is_integer() and abs(c) < 1e15:
            return str(int(c))
        return repr(c)
    return str(c)


def _wrap(text_prec, level) -> str:
    text, prec = text_prec
    return f"({text})" if prec < level else text


class Printer:
    def __init__(self, style: TextStyle):
        self.s = style

    # Each method returns (text, precedence).
    def p(self, e: Expr):
        method = getattr(self, "p_" + type(e).__name__)
        return method(e)

    def p_Var(self, e: Var):
        if e.ndim > 2:
            raise NoMatrixForm(e)
        return self.s.name(e.name), ATOM

    def p_Const(self, e: Const):
        if e.ndim > 2:
            raise NoMatrixForm(e)
        return self.s.name(e.label), ATOM

    def p_Fill(self, e: Fill):
        if e.ndim > 2:
            raise NoMatrixForm(e)
        text = self.s.fill(e.value, e.shape)
        neg = not e.shape and str(text).startswith("-")
        return text, (UNARY if neg else ATOM)

    def p_Delta(self, e: Delta):
        return self.s.eye, ATOM

    def p_Inverse(self, e: Inverse):
        if self.s.latex:
            return _wrap(self.p(e.arg), ATOM) + "^{-1}", POSTFIX
        return self.s.func("inv", self.p(e.arg)[0]), ATOM

    def p_Det(self, e: Det):
        return self.s.func("det", self.p(e.arg)[0]), ATOM

    def p_LogDet(self, e: LogDet):
        return self.s.func("logdet", self.p(e.arg)[0]), ATOM

    def p_Reshape(self, e: Reshape):
        raise NoMatrixForm(e)

    def p_LogSumExp(self, e: LogSumExp):
        if e.arg.ndim != 1:
            raise NoMatrixForm(e)
        return self.s.func("logsumexp", self.p(e.arg)[0]), ATOM

    def i_LogSumExp(self, e: LogSumExp, letters, used):
        pool = [ch for ch in SUM_LETTERS if ch not in set(used) | set(letters)]
        a = pool[0] if pool else "z"
        inner = list(letters[:e.axis]) + [a] + list(letters[e.axis:])
        body = self.indexed(e.arg, inner, set(used) | set(letters) | {a})
        return self.s.func("logsumexp_" + a if not self.s.latex else "\\operatorname{lse}_" + a, body[0]), ATOM

    def p_Elementwise(self, e: Elementwise):
        arg = self.p(e.arg)
        return self.sympy_to(e.fn.expr, arg), self._prec_of(e.fn.expr)

    def _prec_of(self, expr):
        if expr.is_Add:
            return SUM
        if expr.is_Mul:
            return HADAMARD
        if expr.is_Pow:
            return POWER
        return ATOM

    def sympy_to(self, expr, arg) -> str:
        s = self.s
        if expr == X:
            return arg[0]
        if expr.is_Number:
            return _fmt_number(int(expr) if expr.is_Integer else float(expr))
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
                return f"{_fmt_number(int(coeff) if coeff.is_Integer else float(coeff))}*{body}"
            return body
        if expr.is_Pow:
            base, ex = expr.base, expr.exp
            b = self.sympy_to(base, arg)
            b = b if (base == X and arg[1] >= ATOM) or base.is_Function else f"({b})"
            if ex == sympy.Rational(1, 2):
                return s.func("sqrt", self.sympy_to(base, arg))
            e = _fmt_number(int(ex) if ex.is_Integer else float(ex))
            if s.latex:
                return f"{b}^{{{e}}}"
            return f"{b}{s.power}{e if not e.startswith('-') else '(' + e + ')'}"
        if expr.is_Function:
            name = {"Abs": "abs", "asin": "arcsin", "acos": "arccos", "atan": "arctan", "absolute": "abs"}.get(
                expr.func.__name__, expr.func.__name__
            )
            return s.func(name, self.sympy_to(expr.args[0], (arg[0], ATOM)) if expr.args[0] != X else arg[0])
        return str(expr).replace("x", arg[0])

    def p_Add(self, e: Add):
        pieces = []
        order = sorted(zip(e.terms, e.coeffs), key=lambda tc: (tc[1] < 0, isinstance(tc[0], Fill), _transposed(tc[0])))
        for t, c in order:
            negative = c < 0
            mag = -c if negative else c
            if isinstance(t, Fill) and not t.shape:
                text = _fmt_number(mag * t.value)
                negative = (mag * t.value < 0) != negative
                text = text.lstrip("-")
            else:
                body = self.p(t)
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

    # -- products ---------------------------------------------------------------------------------------
    def p_Contract(self, e: Contract):
        matrix = self.matrix_form(e)
        if matrix is None:
            raise NoMatrixForm(e)
        return matrix

    def matrix_form(self, e: Contract):
        """Matrix notation for a product, or None.

        The operands are read as a multigraph: matrices are edges between their two indices, vectors are
        labels on an index, scalars are factors. Series-parallel reductions rewrite it until only output
        indices remain: two edges on one index pair become a Hadamard product (A.*B'); a summed index
        between two edges becomes a product (A*diag(h)*B); a summed index at the end of an edge becomes a
        vector (A*h, or A*vector(1) for a row sum); a loop A[i,i] becomes diag(A); a summed index carrying
        only vectors becomes a scalar (x'*y, sum(x)). What is left reads as diag(h1)*M*diag(h2), an outer
        product h1*h2', or a vector; a graph that does not reduce (K4, say) has no matrix form here.
        """
        if len(e.output) > 2 or any(op.ndim > 2 for op in e.operands):
            return None
        S = self.s
        out = list(e.output)
        scalars: list = []
        vecs: dict = {}
        # an edge is [factors, p, q]: a chain of factors (text, prec, transposed, is_diag) from index p to q
        edges: list = []
        for op, idx in zip(e.operands, e.indices):
            t = self.p(op)
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

        changed = True
        while changed:
            changed = False
            # parallel edges: entry-wise product
            for a in range(len(edges)):
                for b in range(a + 1, len(edges)):
                    if {edges[a][1], edges[a][2]} == {edges[b][1], edges[b][2]} and edges[a][1] != edges[a][2]:
                        p, q = edges[a][1], edges[a][2]
                        text, prec = hadamard([render(oriented(edges[a], p)), render(oriented(edges[b], p))])
                        edges[a] = [[(text, prec, False, False)], p, q]
                        del edges[b]
                        changed = True
                        break
                if changed:
                    break
            if changed:
                continue
            degree: dict = {}
            for _, p, q in edges:
                degree[p] = degree.get(p, 0) + 1
                degree[q] = degree.get(q, 0) + 1
            for v, dg in degree.items():  # a summed index between two edges: the matrix product
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
                changed = True
                break
            if changed:
                continue
            for k, (factors, p, q) in enumerate(edges):
                text, prec = render(factors)
                if p == q:  # a loop: the diagonal
                    vecs.setdefault(p, []).append((S.func("diag", text), ATOM))
                    del edges[k]
                    changed = True
                    break
                if p not in out and q not in out and degree[p] == 1 and degree[q] == 1:  # u' * M * v
                    hp, hq = vecs.pop(p, None), vecs.pop(q, None)
                    if hp is None and hq is None:
                        scalars.append((S.func("sum", text), ATOM))
                    else:
                        u = column(hadamard(hp) if hp else (S.ones((1,)), ATOM))
                        v = column(hadamard(hq) if hq else (S.ones((1,)), ATOM))
                        scalars.append(times((S.transpose(u[0]), POSTFIX), (text, prec), v))
                    del edges[k]
                    changed = True
                    break
                for leaf, other in ((q, p), (p, q)):
                    if leaf not in out and degree[leaf] == 1:  # a summed end: multiply by its vectors
                        h = hadamard(vecs.pop(leaf)) if leaf in vecs else (S.ones((1,)), ATOM)
                        vecs.setdefault(other, []).append(times(render(oriented(edges[k], other)), column(h)))
                        del edges[k]
                        changed = True
                        break
                if changed:
                    break
            if changed:
                continue
            for v in list(vecs):  # a summed index with vectors only: a scalar
                if v in out or degree.get(v, 0):
                    continue
                items = vecs.pop(v)
                if len(items) == 1:
                    scalars.append((S.func("sum", items[0][0]), ATOM))
                else:
                    first = S.transpose(_wrap(items[0], POSTFIX))
                    scalars.append(times((first, POSTFIX), column(hadamard(items[1:]))))
                changed = True
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

    # -- index (Einstein) notation ------------------------------------------------------------------------
    def try_matrix(self, e: Expr):
        if e.ndim > 2:
            return None
        try:
            return self.p(e)
        except NoMatrixForm:
            return None

    def indexed(self, e: Expr, letters: list, used: set):
        """``e`` with its free indices named ``letters`` (summed indices get fresh letters not in ``used``)."""
        if isinstance(e, Fill):
            return _fmt_number(e.value), ATOM
        if not letters:
            m = self.try_matrix(e)
            if m is not None:
                return m
        elif not isinstance(e, (Contract, Add, Elementwise)):
            m = self.try_matrix(e)
            if m is not None:
                base = _wrap(m, ATOM) if m[1] < ATOM or self.s.latex and " " in m[0] else m[0]
                if isinstance(e, Delta):
                    base = r"\delta" if self.s.latex else "δ"
                return self.s.index(base, letters), ATOM
        method = getattr(self, "i_" + type(e).__name__, None)
        if method is None:
            base = type(e).__name__.lower()
            return self.s.index(base, letters), ATOM
        return method(e, letters, used)

    def i_Var(self, e, letters, used):
        return self.s.index(self.s.name(e.name), letters), ATOM

    def i_Const(self, e, letters, used):
        return self.s.index(self.s.name(e.label), letters), ATOM

    def i_Fill(self, e, letters, used):
        return _fmt_number(e.value), ATOM

    def i_Add(self, e, letters, used):
        pieces = []
        for t, c in sorted(zip(e.terms, e.coeffs), key=lambda tc: (tc[1] < 0, isinstance(tc[0], Fill))):
            negative = c < 0
            mag = -c if negative else c
            body = self.indexed(t, letters, used)
            text = _wrap(body, PRODUCT) if mag != 1 else _wrap(body, SUM + 1)
            if mag != 1:
                text = f"{self.coeff(mag)}{self.s.times}{text}"
            pieces.append((negative, text))
        out = ("-" if pieces[0][0] else "") + pieces[0][1]
        for negative, text in pieces[1:]:
            out += (" - " if negative else " + ") + text
        return out, SUM

    def i_Elementwise(self, e, letters, used):
        arg = self.indexed(e.arg, letters, used)
        return self.sympy_to(e.fn.expr, arg), self._prec_of(e.fn.expr)

    def i_Contract(self, e: Contract, letters, used):
        names = dict(zip(e.output, letters))
        used = set(used) | set(letters)
        pool = [ch for ch in SUM_LETTERS + "mnopqrstuvwxyz" if ch not in used]
        for idx in e.indices:
            for ix in idx:
                if ix not in names:
                    names[ix] = pool.pop(0) if pool else f"s{ix}"
        used |= set(names.values())
        out = set(e.output)
        # components: operands linked by summed indices
        parent = list(range(len(e.operands)))

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
            groups.setdefault(find(k), []).append(k)
        factors = []
        for members in groups.values():
            ops = [e.operands[k] for k in members]
            idxs = [e.indices[k] for k in members]
            free = [ix for ix in e.output if any(ix in i for i in idxs)]
            text = None
            if len(free) <= 2 and all(op.ndim <= 2 for op in ops) and not (len(members) == 1 and isinstance(ops[0], Delta)):
                from ._simplify import contract

                sub = contract(ops, idxs, tuple(free))
                m = self.try_matrix(sub)
                if m is not None and len(members) > 1:
                    if free:
                        base = m[0] if m[1] >= ATOM and not (self.s.latex and " " in m[0]) else f"({m[0]})"
                        if self.s.latex and base.startswith("("):
                            base = f"\\left{base[:-1]}\\right)"
                        text = self.s.index(base, [names[ix] for ix in free])
                    else:
                        text = _wrap(m, PRODUCT)
            if text is None:
                parts = []
                for op, idx in zip(ops, idxs):
                    if isinstance(op, Fill) and op.value == 1 and len(ops) > 1:
                        continue  # ones only broadcast
                    parts.append(_wrap(self.indexed(op, [names[ix] for ix in idx], used), PRODUCT))
                text = self.s.times.join(parts)
            factors.append(text)
        factors.sort(key=lambda t: (not t.startswith(("δ", "\\delta")), ))
        return self.s.times.join(factors), PRODUCT


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


def _render(e: Expr, style, name: str) -> str:
    printer = Printer(style)
    if e.ndim <= 2:
        m = printer.try_matrix(e)
        if m is not None:
            return m[0]
    letters = _letters(e.ndim)
    body = printer.indexed(e, letters, set())[0]
    head = style.index(style.name(name), letters) if letters else style.name(name)
    return f"{head} = {body}"


def to_str(e: Expr) -> str:
    """Matrix notation in the language ``rs.parse`` reads, where the expression has one; otherwise Einstein
    index notation ``T[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]`` (indices not on the left are summed)."""
    return _render(e, TextStyle(), "T")


def latex(e: Expr) -> str:
    """LaTeX: matrix notation with ^\\top, \\odot, \\operatorname{diag}, or index notation with subscripts."""
    text = _render(e, LatexStyle(), "T")
    return text.split(" = ", 1)[1] if text.startswith("T_{") else text


def index_notation(e: Expr, name: str = "T", latex: bool = False) -> str:
    """``name[i,j,...] = ...`` in Einstein notation, whatever the order of the expression."""
    style = LatexStyle() if latex else TextStyle()
    printer = Printer(style)
    letters = _letters(e.ndim)
    body = printer.indexed(e, letters, set())[0]
    head = style.index(style.name(name), letters) if letters else style.name(name)
    return f"{head} = {body}"


def tree_repr(e: Expr, depth: int = 0, limit: int = 6) -> str:
    """A compact one-line tree of the node types, for debugging."""
    t = type(e).__name__
    if isinstance(e, Var):
        return f"Var({e.name}{_shape(e)})"
    if isinstance(e, Fill):
        return f"Fill({_fmt_number(e.value)}{_shape(e)})"
    if isinstance(e, Const):
        return f"Const({e.label}{_shape(e)})"
    if isinstance(e, Delta):
        return f"Delta({e.dim})"
    if depth >= limit:
        return f"{t}(...)"
    kids = ", ".join(tree_repr(c, depth + 1, limit) for c in e.children())
    if isinstance(e, Contract):
        spec = ",".join("".join(_letter(i) for i in idx) for idx in e.indices) + "->" + "".join(_letter(i) for i in e.output)
        return f"Contract[{spec}]({kids})"
    if isinstance(e, Add):
        return f"Add[{', '.join(_fmt_number(c) for c in e.coeffs)}]({kids})"
    if isinstance(e, Elementwise):
        return f"Elementwise[{e.fn.display}]({kids})"
    return f"{t}({kids})"


def _letter(i: int) -> str:
    import string

    letters = string.ascii_lowercase + string.ascii_uppercase
    return letters[i] if i < len(letters) else f"<{i}>"


def _shape(e) -> str:
    return "" if not e.shape else ", " + "x".join(str(d) for d in e.shape)
