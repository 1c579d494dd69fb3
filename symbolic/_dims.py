"""Dimensions: integers or symbolic sizes, and the equalities ("ties") that expressions impose on them.

A dimension is an ``int`` or a sympy expression in positive-integer symbols (a plain symbol such as ``n``,
or a product such as ``m*p`` where a Kronecker product needs one). Building ``A @ x`` with ``A`` of shape
``(m, n)`` and ``x`` of shape ``(k,)`` does not fail: it *ties* ``n`` and ``k``. Every expression carries the
equivalence classes of the dimensions tied inside it (:class:`Ties`), so a later conflict (``n`` tied to 3
here and to 4 there) is reported when the expression is built, and the compiled function checks the sizes
it binds from its input arrays against the same classes.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Union

import sympy

from ._names import identifier

Dim = Union[int, sympy.Expr]
Shape = tuple  # tuple[Dim, ...]

_SYMBOLS: dict[str, sympy.Symbol] = {}


def dim_symbol(name: str, what: str = "dimension") -> sympy.Symbol:
    """The one symbol that stands for the dimension called ``name`` (an identifier, taken in the NFKC form
    Python reads it in: the name is written into generated code as ``dim_<name>``)."""
    sym = _SYMBOLS.get(name)
    if sym is None:
        normal = identifier(name, f"{what}: a dimension name")
        sym = _SYMBOLS.get(normal)
        if sym is None:
            sym = _SYMBOLS[normal] = sympy.Symbol(normal, integer=True, positive=True)
        _SYMBOLS[name] = sym
    return sym


def as_dim(d, what: str = "dimension") -> Dim:
    """Convert a user's dimension (``int``, a name, or a sympy expression) into a :data:`Dim`."""
    if isinstance(d, bool):
        raise TypeError(f"{what}: expected a positive int or a dimension name, got {d!r}")
    if isinstance(d, numbers.Integral):
        if d < 0:
            raise ValueError(f"{what}: expected a non-negative size, got {d}")
        return int(d)
    if isinstance(d, str):
        return dim_symbol(d, what)
    if isinstance(d, sympy.Expr):
        if d.is_Integer:
            return as_dim(int(d), what)
        _check_dim_expr(d, what)
        # each symbol becomes the one dimension of its name: a user's Symbol("n") (other assumptions, or a
        # Dummy) is the dimension n, and its name is checked like any other
        return d.xreplace({s: dim_symbol(s.name, what) for s in d.free_symbols})
    raise TypeError(f"{what}: expected a positive int or a dimension name, got {type(d).__name__} {d!r}")


def _check_dim_expr(d: sympy.Expr, what: str) -> None:
    """A symbolic dimension is built from dimension names and integers by +, * and positive integer powers
    (what generated code can compute from the sizes); anything else (a function, a fraction) is refused."""
    if d.is_Integer or isinstance(d, sympy.Symbol):
        return
    if d.is_Add or d.is_Mul or (d.is_Pow and d.exp.is_Integer and d.exp > 0):
        for arg in (d.args if not d.is_Pow else (d.base,)):
            _check_dim_expr(arg, what)
        return
    raise ValueError(f"{what}: a symbolic dimension must be built from dimension names and integers by +, * "
                     f"and positive integer powers, got {d!r}")


def as_shape(shape, what: str = "shape") -> Shape:
    if isinstance(shape, (str, numbers.Integral, sympy.Expr)):
        shape = (shape,)
    try:
        items = tuple(shape)
    except TypeError:
        raise TypeError(f"{what}: expected a tuple of dimensions, got {shape!r}") from None
    return tuple(as_dim(d, what) for d in items)


def dim_str(d: Dim) -> str:
    return str(d)


def shape_str(shape: Shape) -> str:
    inner = ", ".join(dim_str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def dim_value(d: Dim, sizes: dict) -> int:
    """The integer size of ``d`` once the symbols in ``sizes`` (name -> int) are bound."""
    if isinstance(d, int):
        return d
    value = d.subs({dim_symbol(k): v for k, v in sizes.items()})
    if not value.is_Integer:
        missing = sorted(str(s) for s in value.free_symbols)
        raise ValueError(f"dimension {d} is not determined by the inputs (unbound: {', '.join(missing)})")
    return int(value)


def plain_dim(d: Dim):
    """``d`` as plain data for :mod:`._binding` (which must not need sympy): an ``int``, a name, a tuple of
    plain dimensions standing for their product (``m*p`` is ``("m", "p")``, ``m**2`` is ``("m", "m")``), or a
    list of plain dimensions standing for their sum (a concatenation's ``m + n`` is ``["m", "n"]``,
    ``m + 2*n`` is ``["m", (2, "n")]``)."""
    if isinstance(d, int):
        return d
    if d.is_Integer:
        return int(d)
    if d.is_Symbol:
        return str(d)
    if d.is_Add:
        return sorted((plain_dim(term) for term in d.args), key=repr)
    factors = []
    for base, exp in d.as_powers_dict().items():
        if not (exp.is_Integer and exp > 0) or not (base.is_Symbol or base.is_Integer or base.is_Add):
            raise ValueError(f"dimension {d} is not built from dimension names and integers by + and *")
        factors += [int(base) if base.is_Integer else plain_dim(base) if base.is_Add else str(base)] * int(exp)
    return tuple(sorted(factors, key=lambda f: (0 if isinstance(f, int) else 1 if isinstance(f, str) else 2, str(f))))


def dim_sum(dims) -> Dim:
    """The sum of dimensions (an ``int`` when they all are): the size of a concatenation's axis."""
    total = 0
    for d in dims:
        total = total + d
    return int(total) if isinstance(total, int) or total.is_Integer else total


def plain_shape(shape: Shape) -> tuple:
    """A shape as plain data (see :func:`plain_dim`)."""
    return tuple(plain_dim(d) for d in shape)


def plain_ties(ties: "Ties") -> tuple:
    """The tie classes as plain data (see :func:`plain_dim`), in a fixed order."""
    classes = [tuple(sorted((plain_dim(d) for d in c), key=repr)) for c in ties.classes]
    return tuple(sorted(classes, key=repr))


def dim_hint(d: Dim, hints: dict, default: int) -> int:
    """A size for cost estimates at compile time: bound where a hint is given, ``default`` otherwise."""
    if isinstance(d, int):
        return d
    return int(d.subs({s: hints.get(str(s), default) for s in d.free_symbols}))


class DimensionError(ValueError):
    """Two sizes that an expression requires to be equal are not."""


class Ties:
    """Immutable equivalence classes of dimensions (a persistent union-find over a few elements).

    ``classes`` is a frozenset of frozensets, each holding two or more dimensions known to be equal.
    Merging is linear in the number of tied dimensions, which is small (the distinct sizes of a model).
    """

    __slots__ = ("classes",)

    EMPTY: "Ties"

    def __init__(self, classes: frozenset = frozenset()):
        self.classes = classes

    def class_of(self, d: Dim) -> frozenset:
        for c in self.classes:
            if d in c:
                return c
        return frozenset((d,))

    def merged(self, other: "Ties") -> "Ties":
        if not other.classes or other.classes is self.classes:
            return self
        if not self.classes:
            return other
        result = self
        for c in other.classes:
            items = iter(c)
            first = next(items)
            for d in items:
                result = result.tie(first, d, "")
        return result

    def tie(self, a: Dim, b: Dim, context: str) -> "Ties":
        """These ties plus ``a == b``; raises :class:`DimensionError` if that equates two different integers."""
        if a == b:
            return self
        ca, cb = self.class_of(a), self.class_of(b)
        if ca is cb or ca == cb:
            return self
        ints = {d for d in ca | cb if isinstance(d, int)}
        if len(ints) > 1:
            where = f" in {context}" if context else ""
            raise DimensionError(
                f"dimension conflict{where}: {a} (= {_describe(ca)}) cannot equal {b} (= {_describe(cb)})"
            )
        classes = {c for c in self.classes if c is not ca and c is not cb and c != ca and c != cb}
        classes.add(ca | cb)
        return Ties(frozenset(classes))

    def same(self, a: Dim, b: Dim) -> bool:
        return a == b or b in self.class_of(a)

    def __eq__(self, other):
        return isinstance(other, Ties) and self.classes == other.classes

    def __hash__(self):
        return hash(self.classes)

    def __repr__(self):
        return "Ties(" + ", ".join("=".join(sorted(map(str, c))) for c in self.classes) + ")"


Ties.EMPTY = Ties()


def _describe(c: frozenset) -> str:
    return " = ".join(sorted(map(str, c)))


def merge_all(ties: Iterable[Ties]) -> Ties:
    result = Ties.EMPTY
    for t in ties:
        result = result.merged(t)
    return result
