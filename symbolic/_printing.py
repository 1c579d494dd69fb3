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
from ._nodes import Add, Const, Contract, Delta, Det, Elementwise, Expr, Fill, Inverse, LogDet, Reshape, Var

# precedence levels
SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = range(6)

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

    def sum_over(self, letters, body):
        return f"sum_{{{','.join(letters)}}} {body}"

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

    def sum_over(self, letters, body):
        return f"\\sum_{{{''.join(letters)}}} {body}"

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
        return self.s.name(e.name), ATOM

    def p_Const(self, e: Const):
        return self.s.name(e.label), ATOM

    def p_Fill(self, e: Fill):
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
        dims = ", ".join(str(d) for d in e.new_shape)
        return self.s.func("reshape", f"{self.p(e.arg)[0]}, ({dims})"), ATOM

    def p_Elementwise(self, e: Elementwise):
        arg = self.p(e.arg)
        return self.sympy_to(e.fn.expr, arg), None or self._prec_of(e.fn.expr)

    def _prec_of(self, expr):
        if expr.is_Add:
            return SUM
        if expr.is_Mul:
            return PRODUCT
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
        if matrix is not None:
            return matrix
        return self.index_form(e)

    def matrix_form(self, e: Contract):
        if len(e.output) > 2 or any(op.ndim > 2 for op in e.operands):
            return None
        out = list(e.output)
        scalars, vecs, mats = [], {}, []
        for op, idx in zip(e.operands, e.indices):
            if op.ndim == 0:
                scalars.append(op)
            elif op.ndim == 1 or idx[0] == idx[1]:
                text = self.p(op) if op.ndim == 1 else (self.s.func("diag", self.p(op)[0]), ATOM)
                vecs.setdefault(idx[0], []).append((op, text))
            else:
                mats.append((op, idx))
        degree: dict = {}
        for _, (p, q) in mats:
            degree[p] = degree.get(p, 0) + 1
            degree[q] = degree.get(q, 0) + 1
        if any(d > 2 for d in degree.values()):
            return None
        used = [False] * len(mats)
        components = []  # (kind, text, prec, ends)

        def walk(start):
            """Follow matrices from ``start`` until an output index or a leaf; returns (factors, end)."""
            factors, at = [], start
            while True:
                nxt = None
                for k, (op, (p, q)) in enumerate(mats):
                    if used[k] or at not in (p, q):
                        continue
                    nxt = k
                    break
                if nxt is None:
                    return factors, at
                used[nxt] = True
                op, (p, q) = mats[nxt]
                text = self.p(op)
                factors.append((text, p != at))  # (text, transposed?)
                at = q if p == at else p
                if at in out:
                    return factors, at
                if at in vecs and self._degree_left(at, mats, used) > 0:
                    factors.append(("DIAG", at))

        def chain_text(factors):
            parts = []
            for item in factors:
                if item[0] == "DIAG":
                    parts.append(self.s.func("diag", self.hadamard_text(vecs.pop(item[1]))))
                    continue
                text, trans = item
                t = _wrap(text, POSTFIX)
                parts.append(self.s.transpose(t) if trans else _wrap(text, PRODUCT + 1))
            return self.s.times.join(parts)

        starts = [ix for ix in out] + [ix for ix in degree if degree[ix] == 1 and ix not in out]
        for start in starts:
            while any(not used[k] and start in mats[k][1] for k in range(len(mats))):
                factors, end = walk(start)
                components.append((start, factors, end))
        for k in range(len(mats)):  # cycles: traces
            if not used[k]:
                start = mats[k][1][0]
                factors, end = walk(start)
                components.append((start, factors, end))
        # Build texts per component
        col = {ix: [] for ix in out}  # column-vector pieces indexed by an output index
        matrix_piece = None
        scalar_pieces = [_wrap(self.p(s), PRODUCT) for s in scalars]
        for start, factors, end in components:
            start_out, end_out = start in out, end in out
            if start_out and end_out and start != end:
                text = chain_text(factors)
                if matrix_piece is not None:
                    return None
                matrix_piece = (text, start, end)
            elif start_out or end_out:
                o, leaf = (start, end) if start_out else (end, start)
                if not start_out:
                    factors = [(t, not tr) if t != "DIAG" else (t, tr) for t, tr in reversed(factors)]
                tail = self.hadamard_text(vecs.pop(leaf)) if leaf in vecs else self.s.ones((1,))
                text = chain_text(factors)
                col[o].append(f"{_paren_if(text, self.s)}{self.s.times}{_paren_vec(tail, self.s)}")
            elif start == end:  # cycle: trace
                scalar_pieces.append(self.s.func("tr", chain_text(factors)))
            else:  # path between two summed leaves: u' M v
                head = self.hadamard_text(vecs.pop(start)) if start in vecs else self.s.ones((1,))
                tail = self.hadamard_text(vecs.pop(end)) if end in vecs else self.s.ones((1,))
                scalar_pieces.append(
                    f"{self.s.transpose(_paren_vec(head, self.s))}{self.s.times}{chain_text(factors)}{self.s.times}{_paren_vec(tail, self.s)}"
                )
        # vectors on summed indices with no matrix: inner products / sums
        for ix in list(vecs):
            if ix in out:
                continue
            items = vecs.pop(ix)
            if len(items) == 1:
                scalar_pieces.append(self.s.func("sum", items[0][1][0]))
            else:
                first = _wrap(items[0][1], POSTFIX)
                rest = self.hadamard_text(items[1:])
                scalar_pieces.append(f"{self.s.transpose(first)}{self.s.times}{_paren_vec(rest, self.s)}")
        for ix in out:
            if ix in vecs:
                col[ix].insert(0, self.hadamard_text(vecs.pop(ix)))
        scalar = self.s.times.join(scalar_pieces)
        if len(out) == 0:
            body = scalar or "1"
            return body, PRODUCT if len(scalar_pieces) > 1 or (scalar_pieces and "*" in body) else ATOM
        if len(out) == 1:
            pieces = col[out[0]]
            if not pieces:
                return None
            body = self.s.hadamard.join(self._factor(p) for p in pieces) if len(pieces) > 1 else pieces[0]
            return (f"{scalar}{self.s.times}{_paren_if(body, self.s)}" if scalar else body), PRODUCT
        o1, o2 = out
        if matrix_piece is not None:
            text, a, b = matrix_piece
            if a != o1:
                text = self.s.transpose(f"({text})" if self.s.times in text else text)
            left = col[o1]
            right = col[o2]
            if left:
                text = f"{self.s.func('diag', self.s.hadamard.join(left))}{self.s.times}{text}"
            if right:
                text = f"{text}{self.s.times}{self.s.func('diag', self.s.hadamard.join(right))}"
        else:
            if not col[o1] or not col[o2]:
                return None
            u = self.s.hadamard.join(_paren_if(p, self.s) for p in col[o1])
            v = self.s.hadamard.join(_paren_if(p, self.s) for p in col[o2])
            text = f"{_paren_vec(u, self.s)}{self.s.times}{self.s.transpose(_paren_vec(v, self.s))}"
        return (f"{scalar}{self.s.times}{text}" if scalar else text), PRODUCT

    def _factor(self, text: str) -> str:
        """A piece of a Hadamard product: parenthesised when it is a sum or a matrix product."""
        if self.s.times in text and not self.s.latex or _paren_if(text, self.s) != text:
            return text if (text.startswith("(") and text.endswith(")")) else f"({text})"
        return text

    @staticmethod
    def _degree_left(ix, mats, used):
        return sum(1 for k, (_, idx) in enumerate(mats) if not used[k] and ix in idx)

    def hadamard_text(self, items) -> str:
        texts = [_wrap(t, POWER) for _, t in items]
        return self.s.hadamard.join(texts)

    def index_form(self, e: Contract):
        names = {}
        for k, ix in enumerate(e.output):
            names[ix] = OUT_LETTERS[k % len(OUT_LETTERS)] + ("" if k < len(OUT_LETTERS) else str(k))
        summed = []
        for idx in e.indices:
            for ix in idx:
                if ix not in names:
                    names[ix] = SUM_LETTERS[len(summed) % len(SUM_LETTERS)] + ("" if len(summed) < 8 else str(len(summed)))
                    summed.append(names[ix])
        factors = []
        for op, idx in zip(e.operands, e.indices):
            base = _wrap(self.p(op), ATOM)
            if op.ndim == 0:
                factors.append(base)
            else:
                if isinstance(op, Delta) and not self.s.latex:
                    base = "δ"
                elif isinstance(op, Delta):
                    base = r"\delta"
                factors.append(self.s.index(base, [names[ix] for ix in idx]))
        body = self.s.times.join(factors)
        if summed:
            body = self.s.sum_over(summed, body)
        head = "[" + ",".join(names[ix] for ix in e.output) + "]"
        if self.s.latex:
            return f"\\left[{body}\\right]_{{{''.join(names[ix] for ix in e.output)}}}", ATOM
        return f"({head} {body})", ATOM


def _transposed(t) -> bool:
    return isinstance(t, Contract) and len(t.operands) == 1


def _paren_if(text: str, style) -> str:
    if any(ch in text for ch in " +-") and not (text.startswith("(") and text.endswith(")")):
        return f"({text})"
    return text


def _paren_vec(text: str, style) -> str:
    return f"({text})" if (style.hadamard.strip() in text or " " in text) and not text.startswith("(") else text


def to_str(e: Expr) -> str:
    """Matrix notation where the expression has one, index notation for the parts that do not."""
    return Printer(TextStyle()).p(e)[0]


def latex(e: Expr) -> str:
    """LaTeX for the expression (matrix notation with ^\\top, \\odot, \\operatorname{diag}; index form otherwise)."""
    return Printer(LatexStyle()).p(e)[0]


def index_notation(e: Expr, name: str = "T") -> str:
    """``name[i,j,...] = ...`` in Einstein notation (for results of order 3 and more)."""
    text = to_str(e)
    idx = ",".join(OUT_LETTERS[k] for k in range(e.ndim))
    if isinstance(e, Contract) and text.startswith("(["):
        head, _, body = text[1:-1].partition("] ")
        return f"{name}[{head[1:]}] = {body}"
    return f"{name}[{idx}] = ({text})[{idx}]" if e.ndim else f"{name} = {text}"


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
