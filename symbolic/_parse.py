"""The matrix language: ``rs.parse("x'*A*x + b'*x + c")``, close to matrixcalculus.org's.

Grammar (precedence from loose to tight; binary operators are left-associative)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '.*' | './') unary)*
    unary   := ('-' | '+') unary | power
    power   := postfix (('^' | '.^') unary)?
    postfix := atom ("'" | '[' item (',' item)* ']')*
    item    := int | int? ':' int? (':' int?)?          (an int may carry a sign: x[-1], x[:-1])
    atom    := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'

``*`` is the matrix product (and scaling by a scalar), ``.*`` ``./`` ``.^`` act entry-wise, ``'`` transposes.
Vectors are columns: ``x'*y`` is the inner product, ``x*y'`` the outer product, ``x'*A`` a row vector.
Shapes come from keyword declarations (``A=("n", "n")``, ``x="n"``, ``c=()``, integers allowed) or else
from the name, as on matrixcalculus.org: a-g scalars, h-z vectors, A-Z matrices. Unknown dimensions are
inferred through the expression by unification (in ``A*x - y`` the rows of A are the length of y), and
``vector(c)``, ``matrix(c)``, ``eye`` take their sizes from where they stand (``vector(c, n)``,
``matrix(c, m, n)`` and ``eye(n)`` give them). Numbers are decimal literals and ``inf``, ``nan`` (unless
declared as variables).

Blocks: ``concat(a, b, ...)`` joins vectors end to end and matrices one above the other, ``hconcat(A, B, ...)``
matrices side by side, ``stack(a, b, ...)`` scalars into a vector or vectors into the rows of a matrix;
subscripts are NumPy's basic indexing with integer bounds: ``x[2:5]``, ``x[-1]``, ``A[:, 1:3]``, ``A[1, :]``
(a row, as a column vector), ``x[0:10:2]``; an indexed or sliced axis needs a known integer size.

Gathers: ``take(U, rows)`` is U's rows at the positions ``rows`` (``take(A, cols, 1)`` its columns), and
``scatter_add(G, rows, m)`` sums G's rows into m positions (``scatter_add(G, cols, n, 1)`` its columns); the
positions are an integer NumPy array declared by keyword, ``rs.parse("take(U, rows)", rows=array)``, which is
how such expressions print (the language has no array literals).

Constraints: a text with a comparison, ``rs.parse("x >= 0")``, ``"sum(x) == 1"``, ``"0 <= x <= 1"``,
``"x'*x <= 1"``, ``"A*x <= b"``, is read as a constraint (a :class:`ParsedConstraint` lo <= c <= hi, entry-wise)
rather than an expression: ``constraint := expr (('<=' | '>=' | '==') expr (('<=' | '>=') expr)?)?`` at the
top level only. A side that is a constant number becomes a bound (``x >= 0``: c = x, lo = 0); otherwise the
sides move to one side (``A*x <= b``: c = A*x - b <= 0). Both sides are typed in one pass, so dimensions
unify across the comparison. ``<``, ``>``, ``=`` and ``!=`` are refused (constraints are closed), as are
chains that make no sense (``x == 1 == 2``, ``1 <= x >= 0``) and a two-sided form whose outer sides are not
numbers (write two constraints). A text without a comparison gives an expression, exactly as before.

Parsing is two passes: a recursive-descent parser builds a small syntax tree with source positions, then a
typing pass unifies dimensions (reporting a conflict with both sizes and the sub-expressions they came from)
and builds the ricci expression. Every error is a :class:`ParseError` with a caret under the offending part
(a ``TypeError`` only for a text that is not a string or a shape of the wrong type): nesting deeper than
:data:`MAX_NESTING`, a matrix power beyond ``MAX_MATRIX_POWER``, a number beyond float64 and a division by
a constant 0 are refused there. Where a name with a default shape takes part in an error, the error says
which declaration would fix it (:attr:`ParseError.defaults`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import _build as B
from ._dims import DimensionError, as_dim, dim_sum, dim_symbol
from ._nodes import Expr, Fill, IndexArray

#: How deeply parentheses, function calls and exponents may nest. The parser and the typing pass recurse
#: once per level (about a dozen Python frames); chains such as ``a + b + ...``, ``- - x`` and repeated
#: transposes are read iteratively and have no limit.
MAX_NESTING = 64
#: Names the language reads as numbers unless a keyword declares them as variables.
NUMBER_NAMES = {"inf": math.inf, "nan": math.nan}
_MAX_DIGITS = 4300  # Python's limit on converting a decimal string to an int (sys.get_int_max_str_digits)
_KINDS_BY_RANK = {0: "scalar", 1: "vector", 2: "matrix"}


@dataclass(frozen=True)
class DefaultShape:
    """A name whose shape came from its first letter, taking part in an error; ``fix``, when not None, is a
    declared shape (dimension names and ints) with which the whole expression parses."""

    name: str
    kind: str  # "scalar", "column vector" or "matrix"
    rule: str  # e.g. "names starting with h-z are vectors"
    fix: tuple | None = None

    def keyword(self) -> str:
        """``fix`` as a keyword argument of rs.parse: ``lam=()``, ``b="n"``, ``X=("m", "n")``."""
        dims = [repr(d) if isinstance(d, str) else str(d) for d in self.fix]
        value = "()" if not dims else dims[0] if len(dims) == 1 else f"({', '.join(dims)})"
        return f"{self.name}={value}"

    def explain(self, declaration: str | None = None) -> str:
        """One sentence: the default, its rule, and (with ``fix``) the ``declaration`` that fixes the error,
        written as the caller's interface declares shapes (by default, the keyword of rs.parse)."""
        said = f"{self.name} is a {self.kind} by default ({self.rule})"
        if self.fix is None:
            return said
        declaration = declaration or f"rs.parse(..., {self.keyword()})"
        return f"{said}; as a {_KINDS_BY_RANK[len(self.fix)]} it fits: declare it with {declaration}"


def default_shape(name: str) -> DefaultShape:
    """The shape the language gives an undeclared ``name``: a-g scalars, h-z vectors, others matrices."""
    first = name[0]
    if "a" <= first <= "g":
        return DefaultShape(name, SCALAR, "names starting with a-g are scalars, h-z vectors, A-Z matrices")
    if "h" <= first <= "z":
        return DefaultShape(name, COL, "names starting with h-z are vectors, a-g scalars, A-Z matrices")
    return DefaultShape(name, MAT, "names starting with A-Z or _ are matrices, a-g scalars, h-z vectors")


class ParseError(ValueError):
    """A syntax error, an unknown name, or a dimension conflict in the matrix language.

    ``str(error)`` shows the input with a caret under ``position``, then a note for each name with a default
    shape that takes part (``defaults``, :class:`DefaultShape`); ``message`` is the one-line reason.
    """

    def __init__(self, message: str, text: str | None = None, position: int = 0, defaults: tuple = ()):
        self.message, self.text, self.position, self.defaults = message, text, position, tuple(defaults)
        lines = [f"{message}\n  {text}\n  {' ' * position}^" if text is not None else message]
        lines += [f"note: {d.explain()}" for d in self.defaults]
        super().__init__("\n".join(lines))
        self.node = None  # the syntax-tree node it concerns (for the notes on default shapes)


@dataclass(frozen=True)
class ParsedConstraint:
    """A constraint read from text: ``lo <= expression <= hi`` entry-wise (lo == hi for an equality; -inf / inf
    for a free side). ``text`` is what was parsed. ``rs.Constraint(parsed, wrt, data)`` binds it."""

    expression: Expr
    lo: float
    hi: float
    text: str

    @property
    def is_equality(self) -> bool:
        return self.lo == self.hi

    def __str__(self):
        if self.is_equality:
            return f"{self.expression} == {self.lo:g}"
        if self.lo == -math.inf:
            return f"{self.expression} <= {self.hi:g}"
        if self.hi == math.inf:
            return f"{self.expression} >= {self.lo:g}"
        return f"{self.lo:g} <= {self.expression} <= {self.hi:g}"


class _DimensionParseError(ParseError, DimensionError):
    """A size conflict met while building the expression: a ParseError (with its caret) and a DimensionError."""


# -- lexing ------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\.\*|\./|\.\^|<=|>=|==|!=|[-+*/^'(),\[\]:<>=]))"
)


@dataclass
class Token:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ParseError(*_caret(text, start, f"unexpected character {text[start]!r}"))
        kind = m.lastgroup
        out.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


def _caret(text: str, pos: int, message: str):
    return message, text, pos


def _clip(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[:width] + "..."


# -- syntax tree -------------------------------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # number, name, call, unary, binary, transpose
    pos: int
    end: int
    value: object = None
    args: list = field(default_factory=list)


LEFT_ASSOCIATIVE = ("+", "-", "*", "/", ".*", "./")
COMPARISONS = ("<=", ">=", "==")
#: comparisons the language refuses, with the one to write instead (constraints are closed sets)
REFUSED_COMPARISONS = {"<": "<=", ">": ">=", "=": "==", "!=": "two constraints, <= and >="}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.k = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.toks[self.k]

    def take(self) -> Token:
        tok = self.toks[self.k]
        self.k += 1
        return tok

    def expect(self, text: str, what: str) -> Token:
        tok = self.peek()
        if tok.text != text:
            found = "the end of the input" if tok.kind == "end" else repr(tok.text)
            if tok.text in COMPARISONS or tok.text in REFUSED_COMPARISONS:
                found += " (a comparison stands only at the top level of a constraint, as in 'x'*x <= 1')"
            raise ParseError(*_caret(self.text, tok.pos, f"expected {what}, found {found}"))
        return self.take()

    def nested(self, tok: Token, parse):
        """``parse()`` one level deeper (inside parentheses, a call or an exponent), at most MAX_NESTING."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ParseError(*_caret(self.text, tok.pos, f"the expression nests parentheses, function calls and "
                                                         f"exponents more than {MAX_NESTING} deep"))
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ParseError(*_caret(self.text, 0, "expected an expression, found nothing"))
        node = self.constraint()
        tok = self.peek()
        if tok.kind != "end":
            if tok.text in COMPARISONS or tok.text in REFUSED_COMPARISONS:
                raise ParseError(*_caret(self.text, tok.pos, f"a comparison ({tok.text!r}) stands only at the top "
                                                             "level of a constraint, as in 'x'*x <= 1'"))
            raise ParseError(*_caret(self.text, tok.pos, f"expected an operator or the end, found {tok.text!r}"))
        return node

    def constraint(self) -> Node:
        """expr, or expr cmp expr, or expr cmp expr cmp expr (a "compare" node; value: the operators)."""
        sides, ops = [self.expr()], []
        while self.peek().text in COMPARISONS or self.peek().text in REFUSED_COMPARISONS:
            op = self.take()
            if op.text in REFUSED_COMPARISONS:
                raise ParseError(*_caret(self.text, op.pos, f"the comparison {op.text!r} is not supported; use "
                                                            f"{REFUSED_COMPARISONS[op.text]} (constraints are "
                                                            "closed: <=, >= or ==)"))
            if len(ops) == 2:
                raise ParseError(*_caret(self.text, op.pos, "at most two comparisons in a constraint "
                                                            "(lo <= c <= hi)"))
            nxt = self.peek()
            if nxt.kind == "end" or nxt.text in COMPARISONS or nxt.text in REFUSED_COMPARISONS:
                raise ParseError(*_caret(self.text, nxt.pos, f"an empty side: expected an expression after "
                                                             f"{op.text!r}"))
            ops.append(op)
            sides.append(self.expr())
        if not ops:
            return sides[0]
        if len(ops) == 2 and (ops[0].text != ops[1].text or ops[0].text == "=="):
            raise ParseError(*_caret(self.text, ops[1].pos, f"a two-sided constraint reads 'lo <= c <= hi' or "
                                                            f"'hi >= c >= lo', got {ops[0].text!r} then "
                                                            f"{ops[1].text!r}"))
        return Node("compare", sides[0].pos, sides[-1].end, tuple((op.text, op.pos) for op in ops), sides)

    def left_associative(self, operators: tuple, operand) -> Node:
        """operand (op operand)*, grouped from the left: a - b - c = (a - b) - c."""
        left = operand()
        while self.peek().text in operators:
            op = self.take()
            right = operand()
            left = Node("binary", left.pos, right.end, op.text, [left, right])
        return left

    def expr(self) -> Node:
        return self.left_associative(("+", "-"), self.term)

    def term(self) -> Node:
        return self.left_associative(("*", "/", ".*", "./"), self.unary)

    def unary(self) -> Node:
        """Signs are collected in a loop (``- - x`` is one node, with the sign of their product)."""
        signs = []
        while self.peek().text in ("-", "+"):
            signs.append(self.take())
        operand = self.power()
        if not signs:
            return operand
        negative = sum(tok.text == "-" for tok in signs) % 2
        return Node("unary", signs[0].pos, operand.end, "-" if negative else "+", [operand])

    def power(self) -> Node:
        base = self.postfix()
        if self.peek().text in ("^", ".^"):
            op = self.take()
            exponent = self.nested(op, self.unary)
            return Node("binary", base.pos, exponent.end, op.text, [base, exponent])
        return base

    def postfix(self) -> Node:
        """atom ("'" | subscript)*, read in a loop: a run of primes is one transpose node whose value is their
        number modulo 2 (A'' is A); a subscript ``[items]`` is an index node (at most MAX_NESTING of them in
        one chain, since the typing pass recurses through each)."""
        node = self.atom()
        subscripts = 0
        while self.peek().text in ("'", "["):
            if self.peek().text == "[":
                subscripts += 1
                if subscripts > MAX_NESTING:
                    raise ParseError(*_caret(self.text, self.peek().pos,
                                             f"more than {MAX_NESTING} subscripts in a row"))
                node = self.subscript(node)
                continue
            primes, end = 0, node.end
            while self.peek().text == "'":
                end = self.take().pos + 1
                primes += 1
            node = Node("transpose", node.pos, end, primes % 2, [node])
        return node

    def subscript(self, base: Node) -> Node:
        """``base[item, ...]``: an index node whose value is the items (ints and Python slices)."""
        self.take()  # '['
        items = [self.subscript_item()]
        while self.peek().text == ",":
            self.take()
            items.append(self.subscript_item())
        close = self.expect("]", "',' or ']' in the subscript")
        return Node("index", base.pos, close.pos + 1, tuple(items), [base])

    def subscript_item(self):
        """An int (an entry) or ``start:stop:step`` with each part optional (a range, as a Python slice)."""
        start = self.subscript_int()
        if self.peek().text != ":":
            if start is None:
                tok = self.peek()
                found = "the end of the input" if tok.kind == "end" else repr(tok.text)
                raise ParseError(*_caret(self.text, tok.pos, f"expected an integer or a range a:b in the subscript, "
                                                             f"found {found}"))
            return start
        self.take()
        stop = self.subscript_int()
        step = None
        if self.peek().text == ":":
            self.take()
            step = self.subscript_int()
        return slice(start, stop, step)

    def subscript_int(self):
        """An integer, with an optional sign, in a subscript; None where none is written."""
        tok = self.peek()
        sign = 1
        if tok.text in ("-", "+"):
            sign = -1 if self.take().text == "-" else 1
            tok = self.peek()
        elif tok.kind != "number":
            return None
        if tok.kind != "number" or not re.fullmatch(r"\d+", tok.text):
            found = "the end of the input" if tok.kind == "end" else repr(tok.text)
            raise ParseError(*_caret(self.text, tok.pos, f"a subscript takes integers, found {found}"))
        return sign * self.number(self.take())

    def atom(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            return Node("number", tok.pos, tok.pos + len(tok.text), self.number(tok))
        if tok.kind == "name":
            self.take()
            if self.peek().text == "(":
                self.take()
                args = [self.nested(tok, self.expr)]
                while self.peek().text == ",":
                    self.take()
                    args.append(self.nested(tok, self.expr))
                close = self.expect(")", f"')' to close {tok.text}(")
                return Node("call", tok.pos, close.pos + 1, tok.text, args)
            return Node("name", tok.pos, tok.pos + len(tok.text), tok.text)
        if tok.text == "(":
            self.take()
            inner = self.nested(tok, self.expr)
            close = self.expect(")", "')'")
            inner.pos, inner.end = tok.pos, close.pos + 1
            return inner
        found = "the end of the input" if tok.kind == "end" else repr(tok.text)
        raise ParseError(*_caret(self.text, tok.pos, f"expected a number, a name or '(', found {found}"))

    def number(self, tok: Token):
        """An int for digits alone (exactly), else a float, which must be finite (1e400 is refused)."""
        text = tok.text
        if re.fullmatch(r"\d+", text):
            if len(text.lstrip("0")) > _MAX_DIGITS:
                raise ParseError(*_caret(self.text, tok.pos, f"the integer {_clip(text)} has {len(text)} digits; "
                                                             f"at most {_MAX_DIGITS} are read"))
            return int(text)
        value = float(text)
        if math.isinf(value):
            raise ParseError(*_caret(self.text, tok.pos, f"the number {_clip(text)} is beyond the float64 range "
                                                         "(about 1.8e308); write inf for infinity"))
        return value


def _constant_value(e: Expr):
    """The value of a constant scalar side (a number, as a float), None for anything else."""
    if isinstance(e, Fill) and e.shape == ():
        return float(e.value)
    return None


# -- typing: kinds and dimension unification ------------------------------------------------------------------

SCALAR, COL, ROW, MAT = "scalar", "column vector", "row vector", "matrix"

ELEMENTWISE = ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "exp", "log", "log1p", "expm1", "sqrt", "tanh",
               "sigmoid", "softplus", "abs", "sign", "relu")
REDUCTIONS = ("sum", "tr", "det", "logdet", "norm1", "norm2", "logsumexp")
STRUCTURAL = ("inv", "diag", "vector", "matrix", "kron", "reshape", "concat", "hconcat", "stack", "eye")
GATHERS = ("take", "scatter_add")  # by the positions of an index array declared by keyword
FUNCTIONS = ELEMENTWISE + REDUCTIONS + STRUCTURAL + GATHERS


def _located(error: ParseError, node: Node) -> ParseError:
    error.node = node
    return error


class _Dims:
    """Union-find over dimension variables; a class may be bound to an int or to a declared name."""

    def __init__(self, text):
        self.text = text
        self.parent: list[int] = []
        self.value: list = []  # int, str (declared name) or None
        self.origin: list = []  # (pos, end) of the sub-expression that fixed it

    def new(self, value=None, origin=None) -> int:
        self.parent.append(len(self.parent))
        self.value.append(value)
        self.origin.append(origin)
        return len(self.parent) - 1

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def unify(self, a: int, b: int, where: Node, what: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        va, vb = self.value[ra], self.value[rb]
        if isinstance(va, _DERIVED) and vb is not None:  # a derived size is checked when it is built
            va = self.value[ra] = vb
        elif isinstance(vb, _DERIVED):
            vb = va if va is not None else vb
        if va is not None and vb is not None and va != vb:
            def src(r):
                o = self.origin[r]
                return f"{self.text[o[0]:o[1]]!r}" if o else "a declaration"
            raise _located(ParseError(*_caret(
                self.text, where.pos,
                f"dimension conflict in {what}: {va} (from {src(ra)}) does not match {vb} (from {src(rb)})",
            )), where)
        self.parent[rb] = ra
        if va is None:
            self.value[ra] = vb
            self.origin[ra] = self.origin[rb]


@dataclass(frozen=True)
class _Product:
    """The size of a Kronecker product's axis: the product of two dimension variables."""

    left: int
    right: int


@dataclass(frozen=True)
class _Sum:
    """The size of a concatenation's axis: the sum of the parts' dimension variables."""

    parts: tuple


@dataclass(frozen=True)
class _Sliced:
    """The size of a sliced axis: the length of the range ``item`` (a Python slice) of the dimension variable
    ``base``, known once ``base`` is an integer."""

    base: int
    item: slice


_DERIVED = (_Product, _Sum, _Sliced)


@dataclass
class Typed:
    kind: str
    dims: tuple  # dimension variables: () scalar, (d,) vectors, (r, c) matrix
    build: object  # callable(dim resolver) -> Expr


def parse(text: str, **shapes) -> Expr | ParsedConstraint:
    """Parse the matrix language into an expression, or a text with a comparison (``"x >= 0"``,
    ``"sum(x) == 1"``, ``"0 <= x <= 1"``, ``"A*x <= b"``) into a :class:`ParsedConstraint` lo <= c <= hi (see
    the module docstring for the language and the constraint rules).

    ``shapes`` declares variables: ``A=("n", "n")``, ``x="n"`` or ``x=("n",)``, ``c=()``, with integers
    or dimension names; undeclared names get the default shape of their first letter. An integer NumPy
    array declares an index array of that name, the positions of ``take`` and ``scatter_add``. Raises
    :class:`ParseError` (a ValueError) for any text that is not an expression of the language, and a
    TypeError for a ``text`` that is not a string or a shape that is not a tuple of dimensions.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: expected the expression as a string, got {type(text).__name__}")
    typer = _Typer(text, shapes)
    try:
        return typer.finish(_Parser(text).parse())
    except RecursionError:  # a backstop: MAX_NESTING keeps the recursion well within Python's limit
        raise ParseError(*_caret(text, 0, "the expression is nested too deeply")) from None
    except ParseError as exc:
        if exc.node is None or exc.defaults:
            raise
        defaults = _default_shapes_in(exc.node, typer, shapes)
        if not defaults:
            raise
        error = type(exc)(exc.message, exc.text, exc.position, defaults)
        error.node = exc.node
        raise error from None


def _typed_with(text: str, shapes: dict, free: dict, within: Node) -> "_Typer | None":
    """The typing pass (its variables' shapes) where, with these shapes (``free``: name -> rank of a shape
    with undeclared dimensions), the sub-expression spanning ``within`` types without error; else None."""
    typer = _Typer(text, shapes, free)
    try:
        typer.visit(_Parser(text).parse()).build(typer.resolver())
    except ParseError as exc:
        # typing goes from left to right, each operator after its operands: an error further right, or in an
        # operation containing ``within``, comes after ``within`` typed
        n = exc.node
        after = n is not None and (n.pos >= within.end or (
            n.pos <= within.pos and n.end >= within.end and (n.pos, n.end) != (within.pos, within.end)))
        return typer if after else None
    except RecursionError:
        return None
    return typer


def _default_shapes_in(node: Node, typer: "_Typer", shapes: dict) -> list:
    """The :class:`DefaultShape` of each name of the sub-expression ``node`` that got its shape from its first
    letter and with another shape (its ``fix``) lets that sub-expression type: the default shape is then a
    cause of the error. At most four names are tried, each as a scalar, a vector and a matrix."""
    names: list = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.kind == "name" and n.value in typer.defaulted and n.value not in names:
            names.append(n.value)
        stack.extend(reversed(n.args))
    found = []
    for name in names[:4]:
        default = default_shape(name)
        for rank in (0, 1, 2):
            if rank == len(typer.vars[name]):
                continue
            trial = _typed_with(typer.text, shapes, {name: rank}, node)
            if trial is not None:
                found.append(DefaultShape(name, default.kind, default.rule, trial.shape_of(name)))
                break
    return found


class _Typer:
    POOL = ["n", "m", "k", "p", "q", "r", "s", "t", "u", "v"]

    def __init__(self, text, shapes, free=None):
        self.text = text
        self.dims = _Dims(text)
        self.declared = {}
        self.free = dict(free or {})  # name -> rank, of undeclared dimensions (to try another shape)
        self.vars: dict = {}
        self.defaulted: set = set()  # names whose shape came from their first letter
        self.index_arrays: dict = {}  # name -> IndexArray, for take and scatter_add
        for name, shape in shapes.items():
            if name in self.free:
                continue
            if isinstance(shape, np.ndarray) and shape.dtype.kind in "iub":  # positions, not a shape
                try:
                    self.index_arrays[name] = B.index_array(shape, f"parse: index array {name!r}", name)
                except ValueError as exc:
                    raise ParseError(str(exc)) from None
                continue
            if isinstance(shape, (str, int)):
                shape = (shape,)
            try:
                shape = tuple(shape)
            except TypeError:
                raise TypeError(f"parse: shape of {name!r} must be a tuple of dimensions, got {shape!r}") from None
            if len(shape) > 2:
                raise ParseError(f"parse: {name!r} has {len(shape)} axes; the matrix language has scalars, vectors "
                                 "and matrices (build tensors in Python with rs.Tensor)")
            try:
                self.declared[name] = tuple(as_dim(d, f"parse: shape of {name}") for d in shape)
            except ValueError as exc:
                raise ParseError(str(exc)) from None
        self.named: dict = {}  # declared dimension -> variable

    def dim_for(self, d, origin) -> int:
        key = str(d)
        if key not in self.named:
            self.named[key] = self.dims.new(d if isinstance(d, int) else key, origin)
        return self.named[key]

    # -- the typing pass ----------------------------------------------------------------------------------
    def finish(self, tree: Node) -> Expr:
        typed = self.visit(tree)
        return typed.build(self.resolver())

    def shape_of(self, name: str) -> tuple:
        """The shape of the variable ``name`` as a declaration writes it (ints and dimension names)."""
        resolve = self.resolver()
        return tuple(d if isinstance(d, int) else str(d) for d in map(resolve, self.vars[name]))

    def resolver(self):
        """The function from a dimension variable to its size: an int, a declared name, a product, or a name
        from POOL for each class still unknown."""
        used = {str(d) for shape in self.declared.values() for d in shape}
        pool = [p for p in self.POOL if p not in used]
        names: dict = {}

        def resolve(var: int):
            r = self.dims.find(var)
            v = self.dims.value[r]
            if isinstance(v, int):
                return v
            if isinstance(v, str):
                return dim_symbol(v)
            if isinstance(v, _Product):  # the size of a Kronecker product
                return resolve(v.left) * resolve(v.right)
            if isinstance(v, _Sum):  # the size of a concatenation
                return dim_sum(resolve(part) for part in v.parts)
            if isinstance(v, _Sliced):  # a sliced axis (of an integer size; else building it is refused)
                base = resolve(v.base)
                return len(range(*v.item.indices(base))) if isinstance(base, int) else base
            if v is not None:  # a product of dimension names (reshape)
                return v
            if r not in names:
                names[r] = pool[len(names)] if len(names) < len(pool) else f"d{len(names)}"
            return dim_symbol(names[r])

        return resolve

    def err(self, node: Node, message: str, shape: bool = False):
        """Raise a ParseError at ``node``; ``shape``: the error is about shapes, so a name's default shape may
        be its cause (see :func:`_default_shapes_in`)."""
        error = ParseError(*_caret(self.text, node.pos, message))
        raise _located(error, node) if shape else error

    def src(self, node: Node) -> str:
        return self.text[node.pos:node.end]

    def visit(self, node: Node) -> Typed:
        if node.kind == "binary" and node.value in LEFT_ASSOCIATIVE:
            return self.v_chain(node)
        t = getattr(self, "v_" + node.kind)(node)
        build = t.build
        return Typed(t.kind, t.dims, lambda r: self.located(node, build, r))

    def located(self, node: Node, build, r) -> Expr:
        """``build(r)``, an error from the constructors becoming a ParseError with a caret under ``node``."""
        try:
            return build(r)
        except ParseError:
            raise
        except ZeroDivisionError:
            error = ParseError(*_caret(self.text, node.pos, f"division by zero in {_clip(self.src(node), 60)!r} "
                                                            "(its divisor is the constant 0)"))
        except DimensionError as exc:
            error = _located(_DimensionParseError(*_caret(self.text, node.pos, str(exc))), node)
        except (ValueError, ArithmeticError) as exc:
            error = ParseError(*_caret(self.text, node.pos, str(exc)))
        raise error from None

    def v_chain(self, node: Node) -> Typed:
        """A left-associative chain a op b op c ... (its tree leans left, as deep as the chain is long), typed
        and built in a loop rather than by recursion."""
        spine = []
        while node.kind == "binary" and node.value in LEFT_ASSOCIATIVE:
            spine.append(node)
            node = node.args[0]
        first = self.visit(node)
        steps = []
        kind, dims = first.kind, first.dims
        for op_node in reversed(spine):
            left = Typed(kind, dims, None)
            right = self.visit(op_node.args[1])
            kind, dims, combine = self.binary(op_node, left, right)
            steps.append((op_node, combine, right))

        def build(r):
            e = first.build(r)
            for op_node, combine, right in steps:
                e = self.located(op_node, lambda r, e=e, right=right, combine=combine: combine(e, right.build(r)), r)
            return e

        return Typed(kind, dims, build)

    def v_compare(self, node):
        """A constraint: the sides typed in this one pass (adjacent sides of one shape, or one a scalar, as for
        '+'), built into a :class:`ParsedConstraint` (see the module docstring)."""
        sides = [self.visit(arg) for arg in node.args]
        ops = [op for op, _ in node.value]
        for k, (op, pos) in enumerate(node.value):
            a, b = sides[k], sides[k + 1]
            span = Node("compare", node.args[k].pos, node.args[k + 1].end, node.value[k:k + 1], node.args[k:k + 2])
            if a.kind == SCALAR or b.kind == SCALAR:
                continue
            if a.kind != b.kind:
                error = ParseError(*_caret(self.text, pos, f"{op!r} compares a {a.kind} "
                                                           f"({self.src(node.args[k])}) with a {b.kind} "
                                                           f"({self.src(node.args[k + 1])}); the sides need one shape "
                                                           "(or one a scalar)"))
                raise _located(error, span)
            for x, y in zip(a.dims, b.dims):
                self.dims.unify(x, y, span, f"{op!r} (its sides have one shape)")

        def build(r):
            return self._constraint(node, [t.build(r) for t in sides], ops)

        return Typed(SCALAR, (), build)

    def _constraint(self, node, exprs: list, ops: list) -> ParsedConstraint:
        """lo <= c <= hi from the built sides: a constant scalar side is a bound, else c = lhs - rhs."""
        values = [_constant_value(e) for e in exprs]
        if len(ops) == 2:
            for k in (0, 2):
                if values[k] is None:
                    self.err(node.args[k], f"the outer sides of 'lo <= c <= hi' must be numbers, got "
                                           f"{self.src(node.args[k])!r}; write two constraints instead (as in "
                                           f"'{self.src(node.args[k])} {ops[0]} c' and 'c {ops[1]} ...')")
            lo, hi = (values[0], values[2]) if ops[0] == "<=" else (values[2], values[0])
            c = exprs[1]
            if not c.variables:
                self.err(node.args[1], "the middle of 'lo <= c <= hi' has no variable")
        else:
            (lhs, rhs), op = exprs, ops[0]
            if values[1] is not None and lhs.variables:
                c, value = lhs, values[1]
                lo, hi = {"<=": (-math.inf, value), ">=": (value, math.inf), "==": (value, value)}[op]
            elif values[0] is not None and rhs.variables:  # "0 <= x": the sides swap roles, and so does the operator
                c, value = rhs, values[0]
                lo, hi = {"<=": (value, math.inf), ">=": (-math.inf, value), "==": (value, value)}[op]
            else:
                c = B.plus(lhs, rhs, -1)
                if not c.variables:
                    self.err(node, "no variable on either side of the comparison")
                lo, hi = {"<=": (-math.inf, 0.0), ">=": (0.0, math.inf), "==": (0.0, 0.0)}[op]
        if math.isnan(lo) or math.isnan(hi) or lo > hi or lo == math.inf or hi == -math.inf:
            raise ParseError(*_caret(self.text, node.value[0][1], f"no value satisfies lo = {lo} <= c <= hi = {hi}"))
        return ParsedConstraint(c, lo, hi, self.text)

    def v_number(self, node):
        value = node.value
        return Typed(SCALAR, (), lambda r: B.const(value))

    def v_name(self, node):
        name = node.value
        if name == "eye":
            d = self.dims.new()
            return Typed(MAT, (d, d), lambda r: B.eye(r(d)))
        if name in FUNCTIONS:
            self.err(node, f"{name} is a function: write {name}(...)")
        if name in self.index_arrays:
            self.err(node, f"{name} is an index array: it stands only for the positions in take(A, {name}) and "
                           f"scatter_add(G, {name}, m)")
        if name in NUMBER_NAMES and name not in self.declared and name not in self.free:
            value = NUMBER_NAMES[name]
            return Typed(SCALAR, (), lambda r: B.const(value))
        if name not in self.vars:
            if name in self.declared:
                shape = self.declared[name]
                dvars = tuple(self.dim_for(d, (node.pos, node.end)) for d in shape)
            elif name in self.free:
                dvars = tuple(self.dims.new() for _ in range(self.free[name]))
            else:
                rank = {SCALAR: 0, COL: 1, MAT: 2}[default_shape(name).kind]
                dvars = tuple(self.dims.new() for _ in range(rank))
                self.defaulted.add(name)
            self.vars[name] = dvars
        dvars = self.vars[name]
        kind = {0: SCALAR, 1: COL, 2: MAT}[len(dvars)]

        def build(r, name=name, dvars=dvars):
            shape = tuple(r(d) for d in dvars)
            return {0: B.Scalar, 1: B.Vector, 2: B.Matrix}[len(shape)](name, *shape)

        return Typed(kind, dvars, build)

    def v_unary(self, node):
        t = self.visit(node.args[0])
        if node.value == "+":
            return t
        return Typed(t.kind, t.dims, lambda r: -t.build(r))

    def v_transpose(self, node):
        t = self.visit(node.args[0])
        if node.value == 0 or t.kind == SCALAR:  # an even number of primes, or a scalar
            return t
        if t.kind == COL:
            return Typed(ROW, t.dims, t.build)
        if t.kind == ROW:
            return Typed(COL, t.dims, t.build)
        return Typed(MAT, (t.dims[1], t.dims[0]), lambda r: t.build(r).T)

    def same_shape(self, node, a: Typed, b: Typed, what) -> None:
        if a.kind != b.kind:
            self.err(node, f"{what}: a {a.kind} ({self.src(node.args[0])}) and a {b.kind} ({self.src(node.args[1])}) "
                           "cannot be combined entry-wise", shape=True)
        for x, y in zip(a.dims, b.dims):
            self.dims.unify(x, y, node, what)

    def v_binary(self, node):
        """'^' and '.^' (the left-associative operators are chains, :meth:`v_chain`)."""
        a, b = self.visit(node.args[0]), self.visit(node.args[1])
        kind, dims, combine = self.binary(node, a, b)
        return Typed(kind, dims, lambda r: combine(a.build(r), b.build(r)))

    def binary(self, node, a: Typed, b: Typed):
        """The kind and dimensions of ``a op b`` and the function of the two built operands that builds it."""
        op = node.value
        left_node, right_node = node.args
        if op in ("+", "-"):
            sign = 1 if op == "+" else -1
            if a.kind == SCALAR or b.kind == SCALAR:
                kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            else:
                self.same_shape(node, a, b, f"'{op}'")
                kind, dims = a.kind, a.dims
            return kind, dims, lambda ea, eb: B.plus(ea, eb, sign)
        if op in (".*", "./"):
            if a.kind != SCALAR and b.kind != SCALAR:
                self.same_shape(node, a, b, f"'{op}'")
            kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            return kind, dims, B.times if op == ".*" else B.divide
        if op == ".^":
            p = self._finite_exponent(right_node)
            return a.kind, a.dims, lambda ea, eb: B.pow_(ea, p)
        if op == "^":
            if a.kind == MAT and right_node.kind != "number" and not self._is_constant(right_node):
                self.err(right_node, f"a matrix power needs a constant integer exponent, got {self.src(right_node)!r}: "
                                     "A^k with a symbolic k is not a product of a known number of factors, so it has "
                                     "no expression in ricci (though d tr(A^k)/dA = k*(A^(k-1))' is known in closed "
                                     "form); write the number, e.g. A^3")
            p = self._finite_exponent(right_node)
            if a.kind == SCALAR:
                return SCALAR, (), lambda ea, eb: B.pow_(ea, p)
            if a.kind != MAT:
                self.err(node, f"'^' needs a scalar or a square matrix, got a {a.kind}; use '.^' for entry-wise powers",
                         shape=True)
            self.dims.unify(a.dims[0], a.dims[1], node, "'^' (a matrix power needs a square matrix)")
            if p != int(p):
                self.err(right_node, f"a matrix power needs an integer exponent, got {p}")
            try:
                B.check_matrix_power(int(p), "'^'")
            except ValueError as exc:
                self.err(right_node, str(exc))
            return MAT, a.dims, lambda ea, eb: B.matrix_power(ea, int(p))
        if op == "/":
            if b.kind != SCALAR:
                self.err(node, f"'/' divides by a scalar; {self.src(right_node)} is a {b.kind} "
                               "(use './' entry-wise or inv(...))", shape=True)
            return a.kind, a.dims, B.divide
        # '*': scaling or the matrix product
        if a.kind == SCALAR or b.kind == SCALAR:
            kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            return kind, dims, B.times
        table = {
            (ROW, COL): (SCALAR, lambda: ((), a.dims[0], b.dims[0])),
            (COL, ROW): (MAT, lambda: ((a.dims[0], b.dims[0]), None, None)),
            (MAT, COL): (COL, lambda: ((a.dims[0],), a.dims[1], b.dims[0])),
            (ROW, MAT): (ROW, lambda: ((b.dims[1],), a.dims[0], b.dims[0])),
            (MAT, MAT): (MAT, lambda: ((a.dims[0], b.dims[1]), a.dims[1], b.dims[0])),
        }
        if (a.kind, b.kind) not in table:
            hint = " (transpose one of them: x'*y is the inner product, x*y' the outer product)" \
                if a.kind in (COL, ROW) and b.kind in (COL, ROW) else ""
            self.err(node, f"'*': cannot multiply a {a.kind} ({self.src(left_node)}) by a {b.kind} "
                           f"({self.src(right_node)}){hint}", shape=True)
        kind, shape = table[(a.kind, b.kind)]
        dims, inner_a, inner_b = shape()
        if inner_a is not None:
            self.dims.unify(inner_a, inner_b, node, f"'*' between {self.src(left_node)} and {self.src(right_node)}")
        if (a.kind, b.kind) == (COL, ROW):
            return kind, dims, B.outer
        return kind, dims, B.matmul

    def _is_constant(self, node) -> bool:
        try:
            self._constant(node, "")
        except ParseError:
            return False
        return True

    def _finite_exponent(self, node):
        p = self._constant(node, "an exponent must be a constant number")
        if isinstance(p, float) and not math.isfinite(p):
            self.err(node, f"an exponent must be a finite number, got {p}")
        return p

    def _constant(self, node, message):
        """A constant number written as n, -n, inf, nan or n/m (exactly, as a fraction)."""
        if node.kind == "number":
            return node.value
        if node.kind == "name" and node.value in NUMBER_NAMES and node.value not in self.declared \
                and node.value not in self.free:
            return NUMBER_NAMES[node.value]
        if node.kind == "unary":
            inner = self._constant(node.args[0], message)
            return -inner if node.value == "-" else inner
        if node.kind == "binary" and node.value == "/":
            chain = []  # a / b / c ... leans left: walk it in a loop
            while node.kind == "binary" and node.value == "/":
                chain.append(node)
                node = node.args[0]
            value = self._constant(node, message)
            for div in reversed(chain):
                b = self._constant(div.args[1], message)
                if b == 0:
                    self.err(div, "division by zero in a constant")
                if isinstance(value, float) or isinstance(b, float):
                    value = value / b
                else:
                    value = Fraction(value) / Fraction(b)
            return value
        self.err(node, message)

    def v_call(self, node):
        name = node.value
        if name not in FUNCTIONS:
            self.err(node, f"unknown function {name!r}; known functions: {', '.join(sorted(FUNCTIONS))}")
        if name in ("vector", "matrix"):
            return self._fill(node)
        if name in ("concat", "hconcat", "stack"):
            return self._blocks(node)
        if name == "eye":  # eye(n): the identity with its size (a bare eye takes it from where it stands)
            self._arity(node, 1)
            d, origin = self._dimension(node.args[0]), (node.args[0].pos, node.args[0].end)
            dim = self.dim_for(d, origin) if isinstance(d, (int, str)) else self.dims.new(d, origin)
            return Typed(MAT, (dim, dim), lambda r: B.eye(r(dim)))
        if name == "kron":
            return self._kron(node)
        if name == "reshape":
            return self._reshape(node)
        if name in GATHERS:
            return self._gather(node)
        self._arity(node, 1)
        t = self.visit(node.args[0])
        if name in ELEMENTWISE:
            op = getattr(B, "abs_" if name == "abs" else name)
            return Typed(t.kind, t.dims, lambda r: op(t.build(r)))
        if name == "sum":
            return Typed(SCALAR, (), lambda r: B.sum(t.build(r)))
        if name == "logsumexp":
            if t.kind not in (COL, ROW):
                self.err(node, f"logsumexp needs a vector, got a {t.kind} ({self.src(node.args[0])})", shape=True)
            return Typed(SCALAR, (), lambda r: B.logsumexp(t.build(r)))
        if name in ("norm1", "norm2"):
            return Typed(SCALAR, (), lambda r: getattr(B, name)(t.build(r)))
        if name in ("tr", "det", "logdet", "inv"):
            if t.kind != MAT:
                self.err(node, f"{name} needs a square matrix, got a {t.kind} ({self.src(node.args[0])})", shape=True)
            self.dims.unify(t.dims[0], t.dims[1], node, f"{name} (it needs a square matrix)")
            fn = {"tr": B.trace, "det": B.det, "logdet": B.logdet, "inv": B.inv}[name]
            return Typed(MAT if name == "inv" else SCALAR, t.dims if name == "inv" else (), lambda r: fn(t.build(r)))
        # diag
        if t.kind in (COL, ROW):
            return Typed(MAT, (t.dims[0], t.dims[0]), lambda r: B.diag(t.build(r)))
        if t.kind == MAT:
            self.dims.unify(t.dims[0], t.dims[1], node, "diag (it needs a square matrix)")
            return Typed(COL, (t.dims[0],), lambda r: B.diag(t.build(r)))
        self.err(node, "diag needs a vector or a square matrix, got a scalar", shape=True)

    def _fill(self, node):
        """vector(c) and matrix(c), sized by where they stand, or vector(c, n) and matrix(c, m, n)."""
        name = node.value
        rank = 1 if name == "vector" else 2
        if len(node.args) not in (1, 1 + rank):
            sizes = "n" if rank == 1 else "m, n"
            self.err(node, f"{name} takes a constant and, optionally, its size: {name}(c) or {name}(c, {sizes}); "
                           f"got {len(node.args)} argument(s)")
        c = self._constant(node.args[0], f"{name}(c) needs a constant number c")
        dims = []
        for arg in node.args[1:]:
            d, origin = self._dimension(arg), (arg.pos, arg.end)
            dims.append(self.dim_for(d, origin) if isinstance(d, (int, str)) else self.dims.new(d, origin))
        dims = tuple(dims) or tuple(self.dims.new() for _ in range(rank))
        return Typed(COL if rank == 1 else MAT, dims, lambda r: B.full(tuple(r(d) for d in dims), c))

    def _blocks(self, node):
        """concat(a, b, ...) (vectors end to end, matrices one above the other), hconcat(A, B, ...) (matrices
        side by side), stack(a, b, ...) (scalars into a vector, vectors into the rows of a matrix)."""
        name = node.value
        parts = [self.visit(arg) for arg in node.args]
        kinds = {p.kind for p in parts}
        listed = ", ".join(f"a {p.kind} ({self.src(a)})" for p, a in zip(parts, node.args))
        origin = (node.pos, node.end)
        if len(kinds) != 1:
            self.err(node, f"{name} needs parts of one kind, got {listed}", shape=True)
        kind = parts[0].kind
        if name == "stack":
            if kind == MAT:
                self.err(node, f"stack joins scalars or vectors (the language has no tensors of order 3), got {listed}",
                         shape=True)
            for p in parts[1:]:
                for a, b in zip(parts[0].dims, p.dims):
                    self.dims.unify(a, b, node, "stack (its parts have one shape)")
            count = self.dims.new(len(parts), origin)
            dims = (count,) + parts[0].dims
            return Typed(COL if kind == SCALAR else MAT, dims, lambda r: B.stack([p.build(r) for p in parts]))
        if kind == SCALAR or (name == "hconcat" and kind != MAT):
            what = "matrices" if name == "hconcat" else "vectors or matrices"
            hint = " (stack(a, b) joins scalars)" if kind == SCALAR else ""
            self.err(node, f"{name} joins {what}, got {listed}{hint}", shape=True)
        axis = 1 if name == "hconcat" else 0
        if kind == MAT:
            for p in parts[1:]:
                self.dims.unify(parts[0].dims[1 - axis], p.dims[1 - axis], node,
                                f"{name} (its parts have the same number of {'rows' if axis else 'columns'})")
        total = self.dims.new(_Sum(tuple(p.dims[axis] for p in parts)), origin)
        dims = list(parts[0].dims)
        dims[axis] = total
        return Typed(kind, tuple(dims), lambda r: B.concat([p.build(r) for p in parts], axis))

    def v_index(self, node):
        """x[2:5], A[:, 1:3], A[1, :], x[2]: one item per axis; a matrix's row or column is a column vector."""
        t = self.visit(node.args[0])
        items = node.value
        if t.kind == SCALAR:
            self.err(node, f"{self.src(node.args[0])} is a scalar: it has no entries to index", shape=True)
        if len(items) != len(t.dims):
            self.err(node, f"a {t.kind} takes {len(t.dims)} subscript{'s' if len(t.dims) > 1 else ''} "
                           f"(x[2:5], A[1:3, :]), got {len(items)}", shape=True)
        dims = []
        for item, d in zip(items, t.dims):
            if isinstance(item, slice):
                whole = item.start is None and item.stop is None and item.step in (None, 1)
                dims.append(d if whole else self.dims.new(_Sliced(d, item), (node.pos, node.end)))
        kind = {0: SCALAR, 1: ROW if t.kind == ROW else COL, 2: MAT}[len(dims)]
        key = items if len(items) > 1 else items[0]
        return Typed(kind, tuple(dims), lambda r: t.build(r)[key])

    def _kron(self, node):
        """kron(a, b) of two vectors (length m*p) or two matrices ((m*p) x (n*q))."""
        self._arity(node, 2)
        a, b = (self.visit(arg) for arg in node.args)
        if a.kind != b.kind or a.kind == SCALAR:
            self.err(node, f"kron needs two vectors or two matrices, got a {a.kind} ({self.src(node.args[0])}) "
                           f"and a {b.kind} ({self.src(node.args[1])})", shape=True)
        dims = tuple(self.dims.new(_Product(x, y), (node.pos, node.end)) for x, y in zip(a.dims, b.dims))
        return Typed(a.kind, dims, lambda r: B.kron(a.build(r), b.build(r)))

    def _reshape(self, node):
        """reshape(e, d1) or reshape(e, d1, d2): row-major, to a vector or a matrix; each d an integer, a
        dimension name or a product of them (m*n)."""
        if len(node.args) not in (2, 3):
            self.err(node, f"reshape takes an expression and one or two dimensions (reshape(A, m*n), "
                           f"reshape(x, m, n)), got {len(node.args)} argument(s)")
        t = self.visit(node.args[0])
        dims = []
        for arg in node.args[1:]:
            d = self._dimension(arg)
            origin = (arg.pos, arg.end)
            dims.append(self.dim_for(d, origin) if isinstance(d, (int, str)) else self.dims.new(d, origin))
        kind = COL if len(dims) == 1 else MAT

        def build(r):
            return B.reshape(t.build(r), tuple(r(d) for d in dims))

        return Typed(kind, dims, build)

    def _dimension(self, node):
        """A dimension written in the language: an integer, a name, or a product of them."""
        if node.kind == "number" and isinstance(node.value, int):
            return node.value
        if node.kind == "name":
            if node.value in FUNCTIONS or node.value == "eye":
                self.err(node, f"expected a dimension (an integer or a name such as n), found {node.value!r}")
            return node.value
        if node.kind == "binary" and node.value in ("*", "+"):
            op, chain = node.value, []  # m * n * ... (or m + n + ...) leans left: walk it in a loop
            while node.kind == "binary" and node.value == op:
                chain.append(node)
                node = node.args[0]
            size = self._dimension(node)
            size = dim_symbol(size) if isinstance(size, str) else size
            for step in reversed(chain):
                d = self._dimension(step.args[1])
                d = dim_symbol(d) if isinstance(d, str) else d
                size = size * d if op == "*" else size + d
            return size
        self.err(node, f"expected a dimension (an integer, a name such as n, a product m*n or a sum m + n), "
                       f"found {self.src(node)!r}")

    def _index(self, node) -> "IndexArray":
        """The declared index array a name stands for (the positions argument of take and scatter_add)."""
        if node.kind != "name" or node.value not in self.index_arrays:
            self.err(node, f"expected the name of an index array declared by keyword, as in rs.parse(\"take(U, "
                           f"rows)\", rows=numpy.array([...])), found {self.src(node)!r}")
        return self.index_arrays[node.value]

    def _gather_axis(self, node, arg_node, t: Typed) -> int:
        """The axis argument of take/scatter_add: 0 (rows, the default) or 1 (a matrix's columns)."""
        if arg_node is None:
            return 0
        if arg_node.kind != "number" or arg_node.value not in (0, 1) or isinstance(arg_node.value, float):
            self.err(arg_node, f"the axis of {node.value} is 0 (rows) or 1 (columns), got {self.src(arg_node)!r}")
        if arg_node.value == 1 and t.kind != MAT:
            self.err(arg_node, f"axis 1 needs a matrix, got a {t.kind}", shape=True)
        return arg_node.value

    def _gather(self, node):
        """take(A, rows[, axis]): A's rows (or, with axis 1, columns) at the positions rows; scatter_add(G,
        rows, m[, axis]): their sums into m positions. ``rows`` is an index array passed by keyword."""
        name = node.value
        low, high = (2, 3) if name == "take" else (3, 4)
        if not low <= len(node.args) <= high:
            usage = "take(A, rows) or take(A, cols, 1)" if name == "take" else \
                "scatter_add(G, rows, m) or scatter_add(G, cols, n, 1)"
            self.err(node, f"{name} takes {low} or {high} arguments ({usage}), got {len(node.args)}")
        t = self.visit(node.args[0])
        if t.kind == SCALAR:
            self.err(node, f"{name} needs a vector or a matrix, got a scalar ({self.src(node.args[0])})", shape=True)
        index = self._index(node.args[1])
        axis = self._gather_axis(node, node.args[low] if len(node.args) > low else None, t)
        count = self.dim_for(len(index), (node.args[1].pos, node.args[1].end))
        dims = list(t.dims)
        if name == "take":
            dims[axis] = count
            return Typed(t.kind, tuple(dims), lambda r: B.take(t.build(r), index, axis))
        self.dims.unify(dims[axis], count, node, "scatter_add (one position per entry along the axis)")
        arg = node.args[2]
        d = self._dimension(arg)
        origin = (arg.pos, arg.end)
        size = self.dim_for(d, origin) if isinstance(d, (int, str)) else self.dims.new(d, origin)
        dims[axis] = size
        return Typed(t.kind, tuple(dims), lambda r: B.scatter_add(t.build(r), index, r(size), axis))

    def _arity(self, node, n):
        if len(node.args) != n:
            self.err(node, f"{node.value} takes {n} argument{'s' if n > 1 else ''}, got {len(node.args)}")
