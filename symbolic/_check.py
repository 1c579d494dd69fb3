"""``rs.check_derivatives``: an expression's derivatives, compiled, against central finite differences."""

from __future__ import annotations

import numbers

import numpy as np

from ._binding import bind_shapes, check_size, convert, is_array
from ._build import as_expr
from ._calculus import derivative_table, resolve_variable, variables
from ._codegen import compile as compile_exprs
from ._dims import DimensionError, plain_shape, plain_ties
from ._fdcheck import DerivativeCheck, finite_difference_check
from ._nodes import ScatterAdd, Take, topological


def check_derivatives(f, wrt=None, order: int = 2, data=None, *, seed=0, directions: int = 2,
                      rtol: float = 1e-5, atol: float = 1e-6, sizes=None) -> DerivativeCheck:
    """Check the derivatives of ``f`` up to ``order`` against central finite differences.

    For each variable x in ``wrt`` (variables or names; default: every variable of f) and k = 1..order,
    f, its derivatives D_k = d^k f / dx^k (as ``rs.derivative`` gives them) are compiled into one function;
    D_k contracted with a random direction v is compared with the central difference
    (D_{k-1}(x + h v) - D_{k-1}(x - h v)) / 2h, h = 1e-6 max(1, max|x|), along ``directions`` directions.
    The error of a comparison is max_i |exact_i - fd_i| / (atol/rtol + |fd_i|), a relative error that is at
    most ``rtol`` exactly when ``numpy.isclose(exact, fd, rtol, atol)`` holds entry-wise.

    ``data`` (name -> NumPy array or number) gives the point for any of f's variables; the others are drawn
    at random: entries in [0.5, 1.5] / (largest axis), the identity added to square matrices (well
    conditioned, so log, sqrt, inv and det are defined), random sizes 2 to 5 for the dimensions the data
    leave open (``sizes`` fixes some). ``seed``: an int or a ``numpy.random.Generator``.

    Returns a :class:`DerivativeCheck`: ``errors[(k, x.name)]`` the worst error, ``passed``, ``sizes``, and a
    short report as ``str()``.
    """
    what = "check_derivatives"
    f = as_expr(f, what)
    if wrt is None:
        wrt = variables(f)
        if not wrt:
            raise ValueError(f"{what}: the expression {f} has no variables to differentiate by")
    else:
        wrt = [resolve_variable(f, x, what) for x in (wrt if isinstance(wrt, (list, tuple)) else [wrt])]
        if not wrt:
            raise ValueError(f"{what}: wrt must name at least one variable")
    if len({v.name for v in wrt}) != len(wrt):
        raise ValueError(f"{what}: a variable appears twice in wrt")
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 1:
        raise ValueError(f"{what}: order must be an int >= 1, got {order!r}")
    if not isinstance(directions, numbers.Integral) or isinstance(directions, bool) or directions < 1:
        raise ValueError(f"{what}: directions must be an int >= 1, got {directions!r}")
    if not _is_real(rtol) or not rtol > 0:
        raise ValueError(f"{what}: rtol must be a finite number > 0, got {rtol!r}")
    if not _is_real(atol) or not atol >= 0:
        raise ValueError(f"{what}: atol must be a finite number >= 0, got {atol!r}")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: seed must be an int or a numpy.random.Generator, got {seed!r}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TypeError(f"{what}: data must be a dict name -> array, got {type(data).__name__}")
    if sizes is not None and not isinstance(sizes, dict):
        raise TypeError(f"{what}: sizes must be a dict name -> int, got {type(sizes).__name__}")

    table = derivative_table(f, wrt, int(order))
    fn = compile_exprs([row[1] for row in table], name="check", variables=[*variables(f), *wrt])
    shapes = {v.name: plain_shape(v.shape) for v in fn.variables}
    unknown = [k for k in data if k not in shapes]
    if unknown:
        raise ValueError(f"{what}: data for {', '.join(map(repr, unknown))}, which the expression does not use "
                         f"(its variables: {', '.join(shapes)})")
    values = {}
    for k, v in data.items():
        label = f"{what}: data {k!r}"
        if is_array(v) and not isinstance(v, np.ndarray):
            try:  # the check runs on the host
                v = np.asarray(v)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"{label}: expected a NumPy array or a number, got {type(v).__name__} "
                                f"({exc})") from None
        values[k] = convert(np, v, np.float64, None, label, finite=True)
    ties = plain_ties(fn.ties)
    bound = {k: check_size(f"{what}: sizes[{k!r}]", v) for k, v in (sizes or {}).items()}
    bind_shapes([(k, shapes[k], v.shape) for k, v in values.items()], bound, dict.fromkeys(bound, "sizes"),
                ties, who=what, mismatch=DimensionError,
                rank_message="{who}: data {name!r} must be a {ndim}-D array of shape {shape}, got shape {got}",
                size_message="{who}: data {name!r} must have shape {shape} = {expected}{where}, got {got}")
    for d, least in _gathered_sizes(f).items():  # a gather's positions must exist in the drawn sizes
        if d not in bound:
            bound[d] = int(rng.integers(least, least + 4))
    names = [row[0] for row in table]

    def evaluate(**arrays):
        return dict(zip(names, fn(**arrays)))

    return finite_difference_check(
        evaluate, shapes, [(row[0], row[2], row[3], row[4]) for row in table[1:]], ties=ties,
        dimensions=fn.dim_names, values=values, sizes=bound, seed=rng, directions=int(directions),
        rtol=float(rtol), atol=float(atol))


def _gathered_sizes(f) -> dict:
    """Dimension name -> the least size it may have: the axis a ``take`` reads from, or the axis a
    ``scatter_add`` writes to, must hold the largest position of its index."""
    least: dict = {}
    for node in topological([f]):
        if isinstance(node, Take):
            d = node.arg.shape[node.axis]
        elif isinstance(node, ScatterAdd):
            d = node.size
        else:
            continue
        for name in ([str(d)] if not isinstance(d, int) and getattr(d, "is_Symbol", False) else []):
            least[name] = max(least.get(name, 1), node.index.bound)
    return least


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and bool(np.isfinite(x))
