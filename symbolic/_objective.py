"""The bridge to solvers: an expression, the variables to optimise packed into one flat vector, and the data.

``Objective(f, wrt, data)`` compiles f with its gradient, Hessian and Hessian-vector product once and offers
``fun(x)``, ``jac(x)``, ``hess(x)``, ``hessp(x, p)`` and ``fun_and_jac(x)`` on a flat vector x: several
variables are packed in the order given, each flattened row-major, and ``hess`` is the matching square
matrix (block (i, j) is the Hessian block of variables i and j reshaped to (size_i, size_j)). Values computed
together at one x are cached, so a solver asking fun, jac and hess at one point pays for the shared work
(X @ w, sigmoid(...)) once per compiled kernel. The cache is kept per thread (``threading.local``), so
threads sharing one Objective and evaluating it at different points never see each other's values.
``LeastSquares(r, wrt, data)`` does the same for a residual:
``fun(x)``/``residual(x)`` is the flattened residual, ``jac(x)``/``jacobian(x)`` its (size_r, size_x) Jacobian.

Data arrays may be NumPy or CuPy (any array-API library); x follows them.
"""

from __future__ import annotations

import math
import threading

from ._binding import (
    bind_shapes,
    check_size,
    convert,
    dimension_names,
    dimension_value,
    infer_namespace,
)
from ._build import as_expr
from ._calculus import hvp_blocks, resolve_variable, variables
from ._codegen import compile as compile_exprs
from ._differentiate import derivative_once
from ._dims import DimensionError, dim_value, plain_shape, plain_ties, shape_str
from ._nodes import Expr, Var
from ._simplify import add, contract


class _PointCache(threading.local):
    """The last point evaluated by this thread and the values computed there (one instance per thread)."""

    x = None
    values: dict = {}  # noqa: RUF012 - replaced, never mutated, before the first store of a thread


class _Bound:
    """Shared machinery: variables to pack, data to bind, sizes, packing and unpacking, the namespace."""

    def __init__(self, expr, wrt, data, sizes, what, like=None):
        self.expr = as_expr(expr, what)
        data = dict(data or {})
        self._given = (data, sizes, like)
        wrt_items = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
        if not wrt_items:
            raise ValueError(f"{what}: wrt must name at least one variable")
        self.wrt = [resolve_variable(self.expr, v, what) for v in wrt_items]
        if len(set(self.wrt)) != len(self.wrt):
            raise ValueError(f"{what}: a variable appears twice in wrt")
        names = {v.name for v in self.wrt}
        all_vars = variables(self.expr)
        needed = [v for v in all_vars if v.name not in names]
        missing = [v for v in needed if v.name not in data]
        if missing:
            raise ValueError(
                f"{what}: missing data for " + ", ".join(f"{v.name} {shape_str(v.shape)}" for v in missing)
                + "; pass data={" + ", ".join(f"'{v.name}': array" for v in missing) + "}"
            )
        known = {v.name for v in all_vars}
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ValueError(
                f"{what}: data for {', '.join(map(repr, unknown))}, which the expression does not use "
                f"(its variables: {', '.join(sorted(known))})"
            )
        overlap = [k for k in data if k in names]
        if overlap:
            raise ValueError(f"{what}: {', '.join(overlap)} is optimised (in wrt) and cannot also be data")
        for k, v in data.items():
            if isinstance(v, Expr):
                raise TypeError(f"{what}: data {k!r}: expected an array or a number, got an expression")
        self.xp, self.dtype, self.device = infer_namespace(data.values(), what, like)
        self.data = {k: convert(self.xp, v, self.dtype, self.device, f"{what}: data {k!r}", finite=True)
                     for k, v in data.items()}
        self.sizes = self._bind_sizes(needed, dict(sizes or {}), what)
        self.shapes = [tuple(dim_value(d, self.sizes) for d in v.shape) for v in self.wrt]
        self.counts = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.counts[:k]) for k in range(len(self.counts))]
        self.size = sum(self.counts)
        self._point = _PointCache()

    def _bind_sizes(self, needed, sizes, what) -> dict:
        """Dimension name -> size, from ``sizes`` and the data's shapes (see :func:`._binding.bind_shapes`);
        every dimension of the optimised variables must end up bound."""
        bound = {k: check_size(f"{what}: sizes[{k!r}]", v) for k, v in sizes.items()}
        bind_shapes(
            [(v.name, plain_shape(v.shape), self.data[v.name].shape) for v in needed], bound,
            dict.fromkeys(bound, "sizes"), plain_ties(self.expr.ties), who=what, mismatch=DimensionError,
            rank_message="{who}: data {name!r} must be a {ndim}-D array of shape {shape}, got shape {got}",
            size_message="{who}: data {name!r} must have shape {shape} = {expected}{where}, got {got}",
        )
        for v in self.wrt:
            free = sorted({n for d in plain_shape(v.shape) if dimension_value(d, bound) is None
                           for n in dimension_names(d) if n not in bound})
            if free:
                raise ValueError(
                    f"{what}: the size of {v.name} {shape_str(v.shape)} is not determined by the data; "
                    f"pass sizes={{{', '.join(repr(s) + ': ...' for s in free)}}}"
                )
        return bound

    # -- packing -----------------------------------------------------------------------------------------
    def unpack(self, x) -> dict:
        """The flat vector x as a dict name -> array of each variable's shape."""
        x = self._check_x(x)
        out = {}
        for v, shape, off, cnt in zip(self.wrt, self.shapes, self.offsets, self.counts):
            out[v.name] = self.xp.reshape(x[off:off + cnt], shape)
        return out

    def pack(self, values) -> object:
        """One flat vector from a dict name -> array (or a list in wrt order)."""
        if isinstance(values, dict):
            missing = [v.name for v in self.wrt if v.name not in values]
            if missing:
                raise ValueError(f"pack: missing {', '.join(missing)}")
            items = [values[v.name] for v in self.wrt]
        else:
            items = list(values)
            if len(items) != len(self.wrt):
                raise ValueError(f"pack: expected {len(self.wrt)} arrays (for {', '.join(v.name for v in self.wrt)}), "
                                 f"got {len(items)}")
        parts = []
        for v, shape, item in zip(self.wrt, self.shapes, items):
            arr = self.xp.asarray(item, dtype=self.dtype, device=self.device)
            if tuple(arr.shape) != shape:
                raise ValueError(f"pack: {v.name} must have shape {shape}, got {tuple(arr.shape)}")
            parts.append(self.xp.reshape(arr, (-1,)))
        return self.xp.concat(parts) if len(parts) > 1 else parts[0]

    def _check_x(self, x):
        if not hasattr(x, "shape"):
            x = self.xp.asarray(x, dtype=self.dtype, device=self.device)
        if len(x.shape) != 1 or int(x.shape[0]) != self.size:
            raise ValueError(
                f"x must be a flat vector of length {self.size} (packing "
                + ", ".join(f"{v.name} {s}" for v, s in zip(self.wrt, self.shapes)) + f"), got shape {tuple(x.shape)}"
            )
        return x

    def _values(self, x) -> dict:
        return {**self.data, **self.unpack(x)}

    # -- caching -----------------------------------------------------------------------------------------
    # Values at the last point, per thread: each thread reads and replaces only its own _PointCache, so a check
    # followed by a store cannot interleave with another thread's store (threading.local, no lock on the path).
    def _cached(self, x, key):
        point = self._point
        cached_x = point.x
        if cached_x is None or x is not cached_x and not self._same_point(cached_x, x):
            return None
        return point.values.get(key)

    def _same_point(self, cached_x, x) -> bool:
        if getattr(x, "shape", None) != cached_x.shape:  # also a list or a tuple: not the cached array
            return False
        return bool(self.xp.all(cached_x == x))

    def _store(self, x, **values):
        point = self._point
        cached_x = point.x
        if cached_x is None or (x is not cached_x and not self._same_point(cached_x, x)):
            point.values = dict(values)
            point.x = self.xp.asarray(x, copy=True)
        else:
            point.values.update(values)

    def with_data(self, data=None, *, like=None):
        """The same expression and variables bound to other data (say the same arrays moved to a GPU);
        ``like`` (an array) sets the array library, device and dtype when there are no data arrays."""
        given_data, sizes, given_like = self._given
        return type(self)(self.expr, self.wrt, given_data if data is None else data, sizes=sizes,
                          like=given_like if like is None else like)

    def __repr__(self):
        kind = type(self).__name__
        packed = ", ".join(f"{v.name}{s}" for v, s in zip(self.wrt, self.shapes))
        return f"<ricci {kind}: {self.expr}; x = [{packed}] ({self.size} entries)>"


class Objective(_Bound):
    """A scalar objective f over the flat vector packing ``wrt``, with exact derivatives (see module docs)."""

    def __init__(self, f, wrt, data=None, *, sizes=None, like=None):
        super().__init__(f, wrt, data, sizes, "Objective", like)
        if self.expr.ndim != 0:
            raise ValueError(f"Objective: f must be a scalar expression, got shape {shape_str(self.expr.shape)}")
        f = self.expr
        hint = dict(self.sizes)
        self.gradient = [derivative_once(f, v) for v in self.wrt]
        self.hessian_blocks = [[derivative_once(g, v) for v in self.wrt] for g in self.gradient]
        self.directions = [Var.make(f"_dir_{v.name}", v.shape) for v in self.wrt]
        self.hvp_blocks = list(hvp_blocks(f, self.wrt, self.directions))
        blocks = [b for row in self.hessian_blocks for b in row]
        self._f = compile_exprs([f], name="objective_f", sizes=hint)
        self._fg = compile_exprs([f] + self.gradient, name="objective_f_grad", sizes=hint)
        self._h = compile_exprs(blocks, name="objective_hess", sizes=hint)
        self._hvp = compile_exprs(self.hvp_blocks, name="objective_hvp", sizes=hint)

    def _call(self, fn, values):
        names = {v.name for v in fn.variables}
        return fn(**{k: v for k, v in values.items() if k in names})

    def fun(self, x):
        """f(x) as a Python float."""
        hit = self._cached(x, "f")
        if hit is None:
            (f,) = self._call(self._f, self._values(x))
            hit = float(f)
            self._store(x, f=hit)
        return hit

    def fun_and_jac(self, x):
        """(f(x), gradient) computed together."""
        f, g = self._cached(x, "f"), self._cached(x, "g")
        if f is None or g is None:
            out = self._call(self._fg, self._values(x))
            f, g = float(out[0]), self._flatten(out[1:])
            self._store(x, f=f, g=g)
        return f, g

    def jac(self, x):
        """The gradient as a flat vector (the variables' gradients packed in wrt order)."""
        return self.fun_and_jac(x)[1]

    def hess(self, x):
        """The Hessian as a (size, size) matrix."""
        hit = self._cached(x, "H")
        if hit is None:
            blocks = self._call(self._h, self._values(x))
            hit = self._assemble(blocks)
            self._store(x, H=hit)
        return hit

    def hessp(self, x, p):
        """The Hessian-vector product H(x) p, from the symbolic product (the Hessian is never formed)."""
        p = self._check_x(p)
        values = self._values(x)
        for d, shape, off, cnt in zip(self.directions, self.shapes, self.offsets, self.counts):
            values[d.name] = self.xp.reshape(p[off:off + cnt], shape)
        return self._flatten(self._call(self._hvp, values))

    def __call__(self, x):
        return self.fun(x)

    def _flatten(self, parts):
        flat = [self.xp.reshape(self.xp.asarray(p), (-1,)) for p in parts]
        return self.xp.concat(flat) if len(flat) > 1 else flat[0]

    def _assemble(self, blocks):
        k = len(self.wrt)
        rows = []
        for i in range(k):
            row = [self.xp.reshape(self.xp.asarray(blocks[i * k + j]), (self.counts[i], self.counts[j])) for j in range(k)]
            rows.append(self.xp.concat(row, axis=1) if k > 1 else row[0])
        return self.xp.concat(rows, axis=0) if k > 1 else rows[0]


class LeastSquares(_Bound):
    """A residual r (any shape) over the flat vector packing ``wrt``: ``fun``/``residual`` and ``jac``/``jacobian``.

    ``objective()`` gives the matching ``Objective`` for 0.5 * ||r||^2, for Newton-type methods.
    """

    def __init__(self, r, wrt, data=None, *, sizes=None, like=None):
        super().__init__(r, wrt, data, sizes, "LeastSquares", like)
        self.jacobian_blocks = [derivative_once(self.expr, v) for v in self.wrt]
        hint = dict(self.sizes)
        self._r = compile_exprs([self.expr], name="residual", sizes=hint)
        self._j = compile_exprs(self.jacobian_blocks, name="residual_jacobian", sizes=hint)
        self.residual_size = math.prod(dim_value(d, self.sizes) for d in self.expr.shape) if self.expr.shape else 1

    def fun(self, x):
        """The residual, flattened."""
        hit = self._cached(x, "r")
        if hit is None:
            (r,) = Objective._call(self, self._r, self._values(x))
            hit = self.xp.reshape(self.xp.asarray(r), (-1,))
            self._store(x, r=hit)
        return hit

    residual = fun

    def jac(self, x):
        """The Jacobian of the flattened residual, shape (residual size, size of x)."""
        hit = self._cached(x, "J")
        if hit is None:
            blocks = Objective._call(self, self._j, self._values(x))
            cols = [self.xp.reshape(self.xp.asarray(b), (self.residual_size, c)) for b, c in zip(blocks, self.counts)]
            hit = self.xp.concat(cols, axis=1) if len(cols) > 1 else cols[0]
            self._store(x, J=hit)
        return hit

    jacobian = jac

    def __call__(self, x):
        return self.fun(x)

    def objective(self, weight=0.5) -> Objective:
        """weight * sum(r**2) as an Objective over the same variables and data (weight 0.5 matches
        scipy.optimize.least_squares' cost; More, Garbow & Hillstrom's f is weight 1)."""
        idx = tuple(range(self.expr.ndim))
        squares = add([contract([self.expr, self.expr], [idx, idx], ())], [weight])
        data, sizes, like = self._given
        return Objective(squares, self.wrt, data, sizes=sizes, like=like)
