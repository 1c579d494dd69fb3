"""The matrix language: ``rs.parse("x'*A*x + b'*x + c")``, close to matrixcalculus.org's.

Grammar (precedence from loose to tight; binary operators are left-associative)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '.*' | './') unary)*
    unary   := ('-' | '+') unary | power
    power   := postfix (('^' | '.^') unary)?
    postfix := atom "'"*
    atom    := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'

``*`` is the matrix product (and scaling by a scalar), ``.*`` ``./`` ``.^`` act entry-wise, ``'`` transposes.
Vectors are columns: ``x'*y`` is the inner product, ``x*y'`` the outer product, ``x'*A`` a row vector.
Shapes come from keyword declarations (``A=("n", "n")``, ``x="n"``, ``c=()``, integers allowed) or else
from the name, as on matrixcalculus.org: a-g scalars, h-z vectors, A-Z matrices. Unknown dimensions are
inferred through the expression by unification (in ``A*x - y`` the rows of A are the length of y), and
``vector(c)``, ``matrix(c)``, ``eye`` take their sizes from where they stand.

Parsing is two passes: a Pratt-style parser builds a small syntax tree with source positions, then a typing
pass unifies dimensions (reporting a conflict with both sizes and the sub-expressions they came from) and
builds the ricci expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from . import _build as B
from ._dims import as_dim, dim_symbol
from ._nodes import Expr


class ParseError(ValueError):
    """A syntax error, an unknown name, or a dimension conflict in the matrix language.

    ``str(error)`` shows the input with a caret under ``position``; ``message`` is the one-line reason.
    """

    def __init__(self, message: str, text: str | None = None, position: int = 0):
        self.message, self.text, self.position = message, text, position
        super().__init__(f"{message}\n  {text}\n  {' ' * position}^" if text is not None else message)


# -- lexing ------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\.\*|\./|\.\^|[-+*/^'(),]))"
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


# -- syntax tree -------------------------------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # number, name, call, unary, binary, transpose
    pos: int
    end: int
    value: object = None
    args: list = field(default_factory=list)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.k = 0

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
            raise ParseError(*_caret(self.text, tok.pos, f"expected {what}, found {found}"))
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ParseError(*_caret(self.text, 0, "expected an expression, found nothing"))
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ParseError(*_caret(self.text, tok.pos, f"expected an operator or the end, found {tok.text!r}"))
        return node

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
        tok = self.peek()
        if tok.text in ("-", "+"):
            self.take()
            operand = self.unary()
            return Node("unary", tok.pos, operand.end, tok.text, [operand])
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.peek().text in ("^", ".^"):
            op = self.take()
            exponent = self.unary()
            return Node("binary", base.pos, exponent.end, op.text, [base, exponent])
        return base

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek().text == "'":
            tok = self.take()
            node = Node("transpose", node.pos, tok.pos + 1, None, [node])
        return node

    def atom(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            text = tok.text
            value = int(text) if re.fullmatch(r"\d+", text) else float(text)
            return Node("number", tok.pos, tok.pos + len(text), value)
        if tok.kind == "name":
            self.take()
            if self.peek().text == "(":
                self.take()
                args = [self.expr()]
                while self.peek().text == ",":
                    self.take()
                    args.append(self.expr())
                close = self.expect(")", f"')' to close {tok.text}(")
                return Node("call", tok.pos, close.pos + 1, tok.text, args)
            return Node("name", tok.pos, tok.pos + len(tok.text), tok.text)
        if tok.text == "(":
            self.take()
            inner = self.expr()
            close = self.expect(")", "')'")
            inner.pos, inner.end = tok.pos, close.pos + 1
            return inner
        found = "the end of the input" if tok.kind == "end" else repr(tok.text)
        raise ParseError(*_caret(self.text, tok.pos, f"expected a number, a name or '(', found {found}"))


# -- typing: kinds and dimension unification ------------------------------------------------------------------

SCALAR, COL, ROW, MAT = "scalar", "column vector", "row vector", "matrix"

ELEMENTWISE = ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "exp", "log", "log1p", "expm1", "sqrt", "tanh",
               "sigmoid", "softplus", "abs", "sign", "relu")
REDUCTIONS = ("sum", "tr", "det", "logdet", "norm1", "norm2", "logsumexp")
STRUCTURAL = ("inv", "diag", "vector", "matrix", "kron", "reshape")
FUNCTIONS = ELEMENTWISE + REDUCTIONS + STRUCTURAL


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
        if isinstance(va, _Product) and vb is not None:  # a product's size is checked when it is built
            va = self.value[ra] = vb
        elif isinstance(vb, _Product):
            vb = va if va is not None else vb
        if va is not None and vb is not None and va != vb:
            def src(r):
                o = self.origin[r]
                return f"{self.text[o[0]:o[1]]!r}" if o else "a declaration"
            raise ParseError(*_caret(
                self.text, where.pos,
                f"dimension conflict in {what}: {va} (from {src(ra)}) does not match {vb} (from {src(rb)})",
            ))
        self.parent[rb] = ra
        if va is None:
            self.value[ra] = vb
            self.origin[ra] = self.origin[rb]


@dataclass(frozen=True)
class _Product:
    """The size of a Kronecker product's axis: the product of two dimension variables."""

    left: int
    right: int


@dataclass
class Typed:
    kind: str
    dims: tuple  # dimension variables: () scalar, (d,) vectors, (r, c) matrix
    build: object  # callable(dim resolver) -> Expr


def parse(text: str, **shapes) -> Expr:
    """Parse the matrix language into an expression (see the module docstring for the language).

    ``shapes`` declares variables: ``A=("n", "n")``, ``x="n"`` or ``x=("n",)``, ``c=()``, with integers
    or dimension names; undeclared names get the default shape of their first letter.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: expected the expression as a string, got {type(text).__name__}")
    tree = _Parser(text).parse()
    return _Typer(text, shapes).finish(tree)


class _Typer:
    POOL = ["n", "m", "k", "p", "q", "r", "s", "t", "u", "v"]

    def __init__(self, text, shapes):
        self.text = text
        self.dims = _Dims(text)
        self.declared = {}
        self.vars: dict = {}
        for name, shape in shapes.items():
            if isinstance(shape, (str, int)):
                shape = (shape,)
            try:
                shape = tuple(shape)
            except TypeError:
                raise TypeError(f"parse: shape of {name!r} must be a tuple of dimensions, got {shape!r}") from None
            if len(shape) > 2:
                raise ValueError(f"parse: {name!r} has {len(shape)} axes; the matrix language has scalars, vectors "
                                 "and matrices (build tensors in Python with rs.Tensor)")
            self.declared[name] = tuple(as_dim(d, f"shape of {name}") for d in shape)
        self.named: dict = {}  # declared dimension -> variable

    def dim_for(self, d, origin) -> int:
        key = str(d)
        if key not in self.named:
            self.named[key] = self.dims.new(d if isinstance(d, int) else key, origin)
        return self.named[key]

    # -- the typing pass ----------------------------------------------------------------------------------
    def finish(self, tree: Node) -> Expr:
        typed = self.visit(tree)
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
            if v is not None:  # a product of dimension names (reshape)
                return v
            if r not in names:
                names[r] = pool[len(names)] if len(names) < len(pool) else f"d{len(names)}"
            return dim_symbol(names[r])

        return typed.build(resolve)

    def err(self, node: Node, message: str):
        raise ParseError(*_caret(self.text, node.pos, message))

    def src(self, node: Node) -> str:
        return self.text[node.pos:node.end]

    def visit(self, node: Node) -> Typed:
        return getattr(self, "v_" + node.kind)(node)

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
        if name not in self.vars:
            if name in self.declared:
                shape = self.declared[name]
                dvars = tuple(self.dim_for(d, (node.pos, node.end)) for d in shape)
            else:
                first = name[0]
                count = 0 if first.islower() and first <= "g" else (1 if first.islower() else 2)
                dvars = tuple(self.dims.new() for _ in range(count))
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
        if t.kind == SCALAR:
            return t
        if t.kind == COL:
            return Typed(ROW, t.dims, t.build)
        if t.kind == ROW:
            return Typed(COL, t.dims, t.build)
        return Typed(MAT, (t.dims[1], t.dims[0]), lambda r: t.build(r).T)

    def same_shape(self, node, a: Typed, b: Typed, what) -> None:
        if a.kind != b.kind:
            self.err(node, f"{what}: a {a.kind} ({self.src(node.args[0])}) and a {b.kind} ({self.src(node.args[1])}) "
                           "cannot be combined entry-wise")
        for x, y in zip(a.dims, b.dims):
            self.dims.unify(x, y, node, what)

    def v_binary(self, node):
        op = node.value
        left_node, right_node = node.args
        a, b = self.visit(left_node), self.visit(right_node)
        if op in ("+", "-"):
            sign = 1 if op == "+" else -1
            if a.kind == SCALAR or b.kind == SCALAR:
                kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            else:
                self.same_shape(node, a, b, f"'{op}'")
                kind, dims = a.kind, a.dims
            return Typed(kind, dims, lambda r: B.plus(a.build(r), b.build(r), sign))
        if op in (".*", "./"):
            if a.kind != SCALAR and b.kind != SCALAR:
                self.same_shape(node, a, b, f"'{op}'")
            kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            fn = B.times if op == ".*" else B.divide
            return Typed(kind, dims, lambda r: fn(a.build(r), b.build(r)))
        if op == ".^":
            if b.kind != SCALAR or right_node.kind not in ("number", "unary"):
                self._constant_exponent(right_node)
            p = self._constant_exponent(right_node)
            return Typed(a.kind, a.dims, lambda r: B.pow_(a.build(r), p))
        if op == "^":
            if a.kind == MAT and right_node.kind != "number" and not self._is_constant(right_node):
                self.err(right_node, f"a matrix power needs a constant integer exponent, got {self.src(right_node)!r}: "
                                     "A^k with a symbolic k is not a product of a known number of factors, so it has "
                                     "no expression in ricci (though d tr(A^k)/dA = k*(A^(k-1))' is known in closed "
                                     "form); write the number, e.g. A^3")
            p = self._constant_exponent(right_node)
            if a.kind == SCALAR:
                return Typed(SCALAR, (), lambda r: B.pow_(a.build(r), p))
            if a.kind != MAT:
                self.err(node, f"'^' needs a scalar or a square matrix, got a {a.kind}; use '.^' for entry-wise powers")
            self.dims.unify(a.dims[0], a.dims[1], node, "'^' (a matrix power needs a square matrix)")
            if p != int(p):
                self.err(right_node, f"a matrix power needs an integer exponent, got {p}")
            return Typed(MAT, a.dims, lambda r: B.matrix_power(a.build(r), int(p)))
        if op == "/":
            if b.kind != SCALAR:
                self.err(node, f"'/' divides by a scalar; {self.src(right_node)} is a {b.kind} "
                               "(use './' entry-wise or inv(...))")
            return Typed(a.kind, a.dims, lambda r: B.divide(a.build(r), b.build(r)))
        # '*': scaling or the matrix product
        if a.kind == SCALAR or b.kind == SCALAR:
            kind, dims = (b.kind, b.dims) if a.kind == SCALAR else (a.kind, a.dims)
            return Typed(kind, dims, lambda r: B.times(a.build(r), b.build(r)))
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
                           f"({self.src(right_node)}){hint}")
        kind, shape = table[(a.kind, b.kind)]
        dims, inner_a, inner_b = shape()
        if inner_a is not None:
            self.dims.unify(inner_a, inner_b, node, f"'*' between {self.src(left_node)} and {self.src(right_node)}")
        if (a.kind, b.kind) == (COL, ROW):
            return Typed(kind, dims, lambda r: B.outer(a.build(r), b.build(r)))
        return Typed(kind, dims, lambda r: B.matmul(a.build(r), b.build(r)))

    def _is_constant(self, node) -> bool:
        try:
            self._constant(node, "")
        except ParseError:
            return False
        return True

    def _constant_exponent(self, node):
        return self._constant(node, "an exponent must be a constant number")

    def _constant(self, node, message):
        """A constant number written as n, -n or n/m (exactly, as a fraction)."""
        if node.kind == "number":
            return node.value
        if node.kind == "unary":
            inner = self._constant(node.args[0], message)
            return -inner if node.value == "-" else inner
        if node.kind == "binary" and node.value == "/":
            a, b = (self._constant(arg, message) for arg in node.args)
            if b == 0:
                self.err(node, "division by zero in a constant")
            if isinstance(a, float) or isinstance(b, float):
                return a / b
            return Fraction(a) / Fraction(b)
        self.err(node, message)

    def v_call(self, node):
        name = node.value
        if name not in FUNCTIONS:
            self.err(node, f"unknown function {name!r}; known functions: {', '.join(sorted(FUNCTIONS))}")
        if name in ("vector", "matrix"):
            self._arity(node, 1)
            c = self._constant(node.args[0], f"{name}(c) needs a constant number c")
            if name == "vector":
                d = self.dims.new()
                return Typed(COL, (d,), lambda r: B.full((r(d),), c))
            d1, d2 = self.dims.new(), self.dims.new()
            return Typed(MAT, (d1, d2), lambda r: B.full((r(d1), r(d2)), c))
        if name == "kron":
            return self._kron(node)
        if name == "reshape":
            return self._reshape(node)
        self._arity(node, 1)
        t = self.visit(node.args[0])
        if name in ELEMENTWISE:
            op = getattr(B, "abs_" if name == "abs" else name)
            return Typed(t.kind, t.dims, lambda r: op(t.build(r)))
        if name == "sum":
            return Typed(SCALAR, (), lambda r: B.sum(t.build(r)))
        if name == "logsumexp":
            if t.kind not in (COL, ROW):
                self.err(node, f"logsumexp needs a vector, got a {t.kind} ({self.src(node.args[0])})")
            return Typed(SCALAR, (), lambda r: B.logsumexp(t.build(r)))
        if name in ("norm1", "norm2"):
            return Typed(SCALAR, (), lambda r: getattr(B, name)(t.build(r)))
        if name in ("tr", "det", "logdet", "inv"):
            if t.kind != MAT:
                self.err(node, f"{name} needs a square matrix, got a {t.kind} ({self.src(node.args[0])})")
            self.dims.unify(t.dims[0], t.dims[1], node, f"{name} (it needs a square matrix)")
            fn = {"tr": B.trace, "det": B.det, "logdet": B.logdet, "inv": B.inv}[name]
            return Typed(MAT if name == "inv" else SCALAR, t.dims if name == "inv" else (), lambda r: fn(t.build(r)))
        # diag
        if t.kind in (COL, ROW):
            return Typed(MAT, (t.dims[0], t.dims[0]), lambda r: B.diag(t.build(r)))
        if t.kind == MAT:
            self.dims.unify(t.dims[0], t.dims[1], node, "diag (it needs a square matrix)")
            return Typed(COL, (t.dims[0],), lambda r: B.diag(t.build(r)))
        self.err(node, "diag needs a vector or a square matrix, got a scalar")

    def _kron(self, node):
        """kron(a, b) of two vectors (length m*p) or two matrices ((m*p) x (n*q))."""
        self._arity(node, 2)
        a, b = (self.visit(arg) for arg in node.args)
        if a.kind != b.kind or a.kind == SCALAR:
            self.err(node, f"kron needs two vectors or two matrices, got a {a.kind} ({self.src(node.args[0])}) "
                           f"and a {b.kind} ({self.src(node.args[1])})")
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
        if node.kind == "binary" and node.value == "*":
            a, b = (self._dimension(arg) for arg in node.args)
            return (dim_symbol(a) if isinstance(a, str) else a) * (dim_symbol(b) if isinstance(b, str) else b)
        self.err(node, f"expected a dimension (an integer, a name such as n, or a product m*n), "
                       f"found {self.src(node)!r}")

    def _arity(self, node, n):
        if len(node.args) != n:
            self.err(node, f"{node.value} takes {n} argument{'s' if n > 1 else ''}, got {len(node.args)}")
