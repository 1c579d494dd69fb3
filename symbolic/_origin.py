"""Where a derivative came from: the variables of the expressions it was derived from.

``rs.hvp(f, U, dU)`` may not read every variable of f (the factorization's ``2*dU*V'*V`` reads neither T nor
U), yet a caller that evaluates f's derivatives naturally passes all of f's variables. So the public
derivative functions (``rs.grad``, ``rs.jacobian``, ``rs.hessian``, ``rs.derivative``, ``rs.hvp``) record
each result's *origin variables* here, the variables of what was differentiated together with that
expression's own origin variables (so that ``grad(grad(f, x), x)`` accepts f's), and ``rs.compile`` accepts
and ignores those names while a name that no expression knows stays an error.

The record is a weak-keyed table (it dies with the expression, as the normal-form set of ``_simplify``
does), not a field of the node: nodes are interned, so an expression equal to a derivative is that
derivative, and it accepts the same origin variables wherever it was built.
"""

from __future__ import annotations

import threading
import weakref

from ._nodes import Expr

_ORIGINS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # Expr -> frozenset of Var
_LOCK = threading.Lock()  # a WeakKeyDictionary is not safe against writes from several threads


def _leaves(result):
    """The expressions of a result: an expression, or nested tuples and lists of them."""
    if isinstance(result, Expr):
        yield result
    elif isinstance(result, (tuple, list)):
        for item in result:
            yield from _leaves(item)


def remember(result, sources):
    """Record that every expression of ``result`` was derived from ``sources`` (expressions); returns
    ``result``. The origin variables are the sources' variables and their own origin variables."""
    origin = set()
    for s in _leaves(sources):
        origin |= s.variables
        origin |= _ORIGINS.get(s, frozenset())
    with _LOCK:
        for e in _leaves(result):
            _ORIGINS[e] = _ORIGINS.get(e, frozenset()) | origin
    return result


def origin_variables(exprs) -> frozenset:
    """The origin variables recorded for the expressions ``exprs`` (the union; empty when none was
    derived through the public derivative functions)."""
    found = set()
    for e in _leaves(exprs):
        found |= _ORIGINS.get(e, frozenset())
    return frozenset(found)
