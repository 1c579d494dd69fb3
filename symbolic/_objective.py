"""The bridge to solvers: an expression, the variables to optimise packed into one flat vector, and the data.

``Objective(f, wrt, data)`` compiles f with its gradient, Hessian and Hessian-vector product once and offers
``fun(x)``, ``jac(x)``, ``hess(x)``, ``hessp(x, p)`` and ``fun_and_jac(x)`` on a flat vector x: several
variables are packed in the order given, each flattened row-major, and ``hess`` is the matching square
matrix (block (i, j) is the Hessian block of variables i and j reshaped to (size_i, size_j)). Values at one x
are cached with their intermediates, so a solver asking fun, jac, hess and many hessp at one point pays for
the shared work (X @ w, sigmoid(...)) once: the kernels evaluate x in levels (value, gradient, Hessian, the
curvature that Hessian-vector products read; ``_point``), each from what the earlier ones left with the
point. The cache is kept per thread (``threading.local``), so threads sharing one Objective and evaluating
it at different points never see each other's values. ``rebind(lam=...)`` replaces data values without
differentiating or compiling again; ``with_data`` shares the derivatives (and the kernels where the sizes
agree).
``LeastSquares(r, wrt, data)`` does the same for a residual:
``fun(x)``/``residual(x)`` is the flattened residual, ``jac(x)``/``jacobian(x)`` its (size_r, size_x) Jacobian.

Data arrays may be NumPy or CuPy (any array-API library); x follows them. Dask data (alone or with NumPy) is
computed once per evaluation and x stays NumPy; scipy.sparse data may enter products only (``_data_kinds``).
``hess_operator(x)`` / ``jac_operator(x)`` give the derivatives as structured operators (``_operator_plan``).
"""

from __future__ import annotations

import copy
import math
import threading

from ._binding import (
    bind_shapes,
    check_size,
    convert,
    dimension_names,
    dimension_value,
    host_namespace,
    infer_namespace,
    is_array,
    is_dask,
    is_sparse,
    materialize,
)
from ._build import as_expr, residual_blocks
from ._calculus import hvp_blocks, inner_product, resolve_variable, variables
from ._codegen import compile as compile_exprs
from ._codegen import computed, frontier
from ._dask_sparse import SparseRows
from ._data_kinds import check_host_vector, check_sparse_uses
from ._differentiate import derivative_once
from ._dims import DimensionError, dim_value, plain_shape, plain_ties, shape_str
from ._nodes import Expr, Var
from ._operator_build import OperatorProgram
from ._operator_plan import hessian_plan, jacobian_plan
from ._point import PointPlan, _stage, steady_factors
from ._simplify import add, contract


class _PointCache(threading.local):
    """The last point evaluated by this thread and the values computed there (one instance per thread), and the
    Hessian operator where it does not depend on the point (``Objective.hess_operator``)."""

    x = None
    values: dict = {}  # noqa: RUF012 - replaced, never mutated, before the first store of a thread
    constant_hessian = None


class _Reads(dict):
    """The variables' and data's values, recording which names an operator's assembly reads."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


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
        xp, self.dtype, self.device = infer_namespace(data.values(), what, like)
        self.xp = host_namespace(xp)  # x and the results: NumPy for Dask data (data kinds: ``_data_kinds``)
        self.data = {k: convert(xp if is_array(v) else self.xp, v, self.dtype, self.device, f"{what}: data {k!r}",
                                finite=True) for k, v in data.items()}  # numbers stay on the host
        check_sparse_uses(self.expr, {k: f"scipy.sparse {type(data[k]).__name__}" if is_sparse(v) else
                                      "a Dask array of scipy.sparse blocks" for k, v in self.data.items()
                                      if is_sparse(v) or isinstance(v, SparseRows)}, what)
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
        """The flat vector x as a dict name -> array of each variable's shape (views of one copy of x, so that
        no result, such as the gradient x of x'x/2, is the caller's array or a view of it)."""
        x = self.xp.asarray(self._check_x(x), copy=True)
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
        return self._flat_vector(x, self.size, "x", self._packing)

    def _packing(self) -> str:
        return " (packing " + ", ".join(f"{v.name} {s}" for v, s in zip(self.wrt, self.shapes)) + ")"

    def _flat_vector(self, vector, size: int, what: str, note=None):
        """``vector`` as an array of this objective's namespace, checked to be a flat vector of ``size`` on
        the host namespace's terms (``check_host_vector``); ValueError naming ``what`` otherwise (followed by
        ``note()``, which is called only then)."""
        if not hasattr(vector, "shape"):
            vector = self.xp.asarray(vector, dtype=self.dtype, device=self.device)
        check_host_vector(vector, self.xp)
        if len(vector.shape) != 1 or int(vector.shape[0]) != size:
            raise ValueError(f"{what} must be a flat vector of length {size}{note() if note else ''}, got shape "
                             f"{tuple(vector.shape)}")
        return vector

    def _flatten(self, parts):
        flat = [self.xp.reshape(self.xp.asarray(p), (-1,)) for p in parts]
        return self.xp.concat(flat) if len(flat) > 1 else flat[0]

    def _values(self, x) -> dict:
        return {**self.data, **self.unpack(x)}  # unpack copies x: lazy intermediates never read the caller's buffer

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
        if not hasattr(x, "shape"):  # a list or a tuple: compared as the vector it stands for (checked by the caller)
            try:
                x = self.xp.asarray(x, dtype=self.dtype, device=self.device)
            except (TypeError, ValueError):  # not a vector: not this point (the evaluation says what is wrong)
                return False
        if tuple(x.shape) != tuple(cached_x.shape):
            return False
        return bool(self.xp.all(cached_x == x))

    def _store(self, x, values=None, /, **named):
        """Keep ``values`` (a dict; its keys may be expressions, the intermediates of ``_point``) and ``named``
        as values at x, dropping those of another point."""
        values = {**(values or {}), **named}
        point = self._point
        cached_x = point.x
        if cached_x is None or (x is not cached_x and not self._same_point(cached_x, x)):
            point.values = values
            point.x = self.xp.asarray(x, copy=True)
        else:
            point.values.update(values)

    def with_data(self, data=None, *, like=None):
        """The same expression and variables bound to other data (say the same arrays moved to a GPU);
        ``like`` (an array) sets the array library, device and dtype when there are no data arrays."""
        given_data, sizes, given_like = self._given
        return type(self)(self.expr, self.wrt, given_data if data is None else data, sizes=sizes,
                          like=given_like if like is None else like)

    def rebind(self, **values):
        """The same objective with the data ``values`` replaced (``obj.rebind(lam=0.1)``): each must keep its
        shape, so nothing is differentiated or compiled again; the new values are converted and checked
        (finite), the other data are shared, and the point's cached values start afresh."""
        unknown = [k for k in values if k not in self.data]
        if unknown:
            raise ValueError(f"rebind: {', '.join(map(repr, unknown))} is not data of this "
                             f"{type(self).__name__} (its data: {', '.join(sorted(self.data)) or 'none'})")
        what = f"{type(self).__name__}.rebind"
        data = dict(self.data)
        for k, v in values.items():
            if isinstance(v, Expr):
                raise TypeError(f"{what}: {k!r}: expected an array or a number, got an expression")
            old = self.data[k]
            xp = infer_namespace([v], what)[0] if is_array(v) else self.xp  # as the data were converted
            new = convert(xp, v, self.dtype, self.device, f"{what}: {k!r}", finite=True)
            if tuple(new.shape) != tuple(old.shape):
                raise ValueError(f"{what}: {k!r} must keep its shape {tuple(old.shape)}, got {tuple(new.shape)}; "
                                 "use with_data for data of other sizes")
            data[k] = new
        twin = copy.copy(self)
        given_data, sizes, like = self._given
        twin._given = ({**given_data, **values}, sizes, like)
        twin.data = data
        twin._point = _PointCache()
        if any(type(data[k]) is not type(self.data[k]) for k in values):  # another kind (Dask, sparse): the
            for key in [k for k in vars(twin) if k.endswith("_operator_program")]:  # operator plans read it
                del twin.__dict__[key]
        return twin

    def __repr__(self):
        kind = type(self).__name__
        packed = ", ".join(f"{v.name}{s}" for v, s in zip(self.wrt, self.shapes))
        return f"<ricci {kind}: {self.expr}; x = [{packed}] ({self.size} entries)>"


class Objective(_Bound):
    """A scalar objective f over the flat vector packing ``wrt``, with exact derivatives (see module docs)."""

    def __init__(self, f, wrt, data=None, *, sizes=None, like=None, _derived=None):
        super().__init__(f, wrt, data, sizes, "Objective", like)
        if self.expr.ndim != 0:
            raise ValueError(f"Objective: f must be a scalar expression, got shape {shape_str(self.expr.shape)}")
        f = self.expr
        if _derived is not None and _derived.expr is f and _derived.wrt == self.wrt:  # with_data: no new derivatives
            self.gradient, self.hessian_blocks = _derived.gradient, _derived.hessian_blocks
            self.directions, self.hvp_blocks = _derived.directions, _derived.hvp_blocks
        else:
            self.gradient = [derivative_once(f, v) for v in self.wrt]
            self.hessian_blocks = [[derivative_once(g, v) for v in self.wrt] for g in self.gradient]
            self.directions = [Var.make(f"_dir_{v.name}", v.shape) for v in self.wrt]
            self.hvp_blocks = list(hvp_blocks(f, self.wrt, self.directions))
        if _derived is not None and _derived.expr is f and _derived.wrt == self.wrt and _derived.sizes == self.sizes:
            self._plan = _derived._plan  # the kernels depend on the sizes (contraction orders), not on values
        else:
            blocks = [b for row in self.hessian_blocks for b in row]
            self._plan = PointPlan(f, self.gradient, blocks, self.hvp_blocks, self.directions, dict(self.sizes))

    def with_data(self, data=None, *, like=None):
        """The same objective bound to other data (say the same arrays moved to a GPU): the derivatives are
        shared, and the compiled kernels too where the sizes are the same (see also ``rebind``)."""
        given_data, sizes, given_like = self._given
        return Objective(self.expr, self.wrt, given_data if data is None else data, sizes=sizes,
                         like=given_like if like is None else like, _derived=self)

    def _call(self, fn, values, lazy_tail=0):
        names = {v.name for v in fn.variables} | set(fn.precomputed)
        given = {k: v for k, v in values.items() if k in names}
        # sizes no input's shape fixes (a Hessian lam*I reads no array of size n); Dask results computed once
        given.update((d, self.sizes[d]) for d in fn.dim_names if d in self.sizes and d not in names)
        return materialize(fn(**given), lazy_tail=lazy_tail)

    # -- evaluation at a point, in the levels of ``_point.PointPlan``: value, gradient, then the Hessian or
    #    the curvature that Hessian-vector products read. A request runs one kernel from what the point holds
    #    to what is asked; the intermediates it leaves (X @ w, sigmoid(...)) are kept with the point, so they
    #    are computed once per point ----------------------------------------------------------------------
    def _level(self, x):
        """How far the point x has been evaluated by these kernels: None, "value" or "gradient" (f and g
        known from elsewhere, ``hess_operator``, do not count: the intermediates are not there)."""
        if self._cached(x, "gradient stage") is not None:
            return "gradient"
        return "value" if self._cached(x, "value stage") is not None else None

    def _evaluate(self, x, goals, extra=None) -> dict:
        """Run the kernel for ``goals`` (levels, in order) at x from what the point holds; store the results
        (f, g, H, the curvature) and the intermediates with the point; returns {goal: results}."""
        start = self._level(x)
        held = {None: (), "value": ("value",), "gradient": ("value", "gradient")}[start]
        goals = tuple(g for g in goals if g not in held)
        stage = self._plan.kernel(start, goals)
        values = self._values(x)
        if extra:
            values.update(extra)
        if stage.inputs:
            point = self._point.values
            values.update(zip(stage.keys, (point[node] for node in stage.inputs)))
        results, keep = stage.split(self._call(stage.kernel, values, len(stage.exports)))
        if "value" in results:
            keep["f"], keep["value stage"] = float(results["value"][0]), True
        if "gradient" in results:
            keep["g"], keep["gradient stage"] = self._flatten(results["gradient"]), True
        if "hessian" in results:
            keep["H"] = self._assemble(results["hessian"])
        if "curvature" in results:
            keep.update(zip(self._plan.outputs["curvature"], results["curvature"]))
            keep["curvature stage"] = True
        self._store(x, keep)
        return results

    # the kernels of the usual requests, by their former names (compiled on first use)
    _f = property(lambda self: self._plan.kernel(None, ("value",)).kernel)
    _fg = property(lambda self: self._plan.kernel(None, ("value", "gradient")).kernel)
    _h = property(lambda self: self._plan.kernel("gradient", ("hessian",)).kernel)
    _hvp = property(lambda self: self._plan.kernel("gradient", ("product",)).kernel)

    def _gradient_stage(self, x) -> None:
        """Evaluate x up to the gradient with these kernels, where that has not happened (f and g known
        from elsewhere leave no intermediates)."""
        if self._level(x) != "gradient":
            self._evaluate(x, ("value", "gradient"))

    def fun(self, x):
        """f(x) as a Python float."""
        hit = self._cached(x, "f")
        if hit is None:
            if not self._speculate(x):
                self._evaluate(x, ("value", "gradient") if self._one_pass else ("value",))
            hit = self._cached(x, "f")
        return hit

    @property
    def _one_pass(self) -> bool:
        """With Dask data a point costs a pass over the data whatever it computes, so f is computed with the
        gradient in one pass (a line search's accepted trial point then needs no second pass for g)."""
        return any(is_dask(v) for v in self.data.values())

    def expect_hessian(self, kind: str = "operator") -> None:
        """Say that the Hessian will be asked for at every point from now on, as a ``"matrix"`` (``hess``) or an
        ``"operator"`` (``hess_operator``): with Dask data every new point, the first included, then computes f,
        the gradient and the Hessian in one pass over the data (see ``_speculate``). ricci.solvers' Newton,
        trust-exact and dogleg call it; with in-memory data it changes nothing."""
        if kind not in ("matrix", "operator"):
            raise ValueError(f"expect_hessian: kind must be 'matrix' or 'operator'; got {kind!r}")
        self._hessian_asked = kind

    def _speculate(self, x) -> bool:
        """With Dask data, once the solver has asked for the Hessian (as a matrix or an operator), a new point
        computes it together with f and g: the pass over the data costs the same, and an accepted trial point
        then needs no second pass (Newton: one pass an iteration instead of two). True when it did."""
        wants = self.__dict__.get("_hessian_asked")
        if wants is None or not self._one_pass or (wants == "operator" and self._point.constant_hessian is not None):
            return False
        if wants == "operator":
            self.hess_operator(x)
        else:
            self.hess(x)
        return True

    def fun_and_jac(self, x):
        """(f(x), gradient) computed together (the gradient reuses what f computed at x)."""
        f, g = self._cached(x, "f"), self._cached(x, "g")
        if f is None or g is None:
            if f is not None or not self._speculate(x):
                self._evaluate(x, ("value", "gradient"))
            f, g = self._cached(x, "f"), self._cached(x, "g")
        return f, g

    def jac(self, x):
        """The gradient as a flat vector (the variables' gradients packed in wrt order)."""
        return self.fun_and_jac(x)[1]

    def hess(self, x):
        """The Hessian as a (size, size) matrix (with f and the gradient where x is new, in one kernel)."""
        self._hessian_asked = "matrix"
        hit = self._cached(x, "H")
        if hit is None:
            self._evaluate(x, ("value", "gradient", "hessian"))
            hit = self._cached(x, "H")
        return hit

    def hessp(self, x, p):
        """The Hessian-vector product H(x) p, from the symbolic product (the Hessian is never formed). What
        no direction changes (sigmoid(...) for the logistic loss) is computed once per point, with f and
        the gradient where x is new, and kept: each further product at x costs only the part that reads p."""
        p = self.xp.asarray(self._check_x(p), copy=True)  # a result may be p itself (f = x'x/2): never the caller's
        directions = {d.name: self.xp.reshape(p[off:off + cnt], shape)
                      for d, shape, off, cnt in zip(self.directions, self.shapes, self.offsets, self.counts)}
        if self._cached(x, "curvature stage") is not None and self._level(x) == "gradient":
            goals = ("product",)
        else:
            goals = ("value", "gradient", "curvature", "product")
        return self._flatten(self._evaluate(x, goals, directions)["product"])

    def __call__(self, x):
        return self.fun(x)

    # -- the Hessian as a structured operator (OPS: _operator_plan reads the structure, _operator_build
    #    compiles and assembles) -------------------------------------------------------------------------
    def hess_operator(self, x):
        """The Hessian at x as a linear operator of ``ricci.solvers`` that keeps its structure: the logistic
        Hessian ``X' diag(s) X + lam I`` is a ``GramOperator`` (X as given: dense, scipy.sparse or Dask), a
        factorization's a ``BlockOperator`` of block diagonals and a sparse coupling, a Hessian without
        structure a ``DenseOperator`` (see ``ricci.symbolic._operator_plan`` for the rules). Nothing of the
        dense Hessian's size is formed for the structured parts; ``hess_operator(x).to_dense()`` equals
        ``hess(x)``. At a point where nothing is known yet one kernel computes f, the gradient and the
        operator's arrays (f and the gradient are kept: ``fun_and_jac(x)`` then costs nothing); where f and
        the gradient are known, the arrays are computed from their intermediates."""
        self._hessian_asked = "operator"
        constant = self._point.constant_hessian
        if constant is not None:  # read from the data alone: the same operator (and its caches) at every x
            self._check_x(x)
            return constant
        hit = self._cached(x, "H_operator")
        if hit is not None:
            return hit
        program = self._hessian_program()
        held = {None: 0, "value": 1, "gradient": 2}[self._level(x)]
        values = self._values(x)
        levels, arrays, keep = program.evaluate(held, values, self._point.values)
        reads = _Reads(values)
        operator = program.operator(arrays, reads, self.xp, self.xp.zeros((1,), dtype=self.dtype))
        if not program.arrays and reads.read.isdisjoint(v.name for v in self.wrt):
            # a Hessian of the data alone (least squares, a quadratic): kept, so that a Gram it forms or a
            # factorization it caches serves every later point
            self._point.constant_hessian = operator
        if "value" in levels:
            keep["f"], keep["value level"] = float(levels["value"][0]), True
        if "gradient" in levels:
            keep["g"], keep["gradient level"] = self._flatten(levels["gradient"]), True
        self._store(x, keep, H_operator=operator)
        return operator

    def _hessian_program(self) -> OperatorProgram:
        """The Hessian's plan and kernels, made on first use (the recognizer and compilation cost nothing
        for users who never ask for the operator)."""
        program = self.__dict__.get("_hessian_operator_program")
        if program is None:
            lazy = {k: len(v.row_chunks) if isinstance(v, SparseRows) else 1 for k, v in self.data.items()
                    if is_dask(v)}  # Dask data (of sparse blocks: a dense block per block of rows, _operator_plan)
            plan = hessian_plan(self.hessian_blocks, self.sizes, [v.ndim for v in self.wrt], lazy)
            point = self._plan  # the levels of one evaluation point (``_point.PointPlan``)
            levels = [(level, point.outputs[level], point.exports[level]) for level in ("value", "gradient")]
            program = OperatorProgram(plan, name="objective_hess_operator", sizes=self.sizes, symmetric=True,
                                      levels=levels)
            self._hessian_operator_program = program
        return program

    def _assemble(self, blocks):
        k = len(self.wrt)
        rows = []
        for i in range(k):
            row = [self.xp.reshape(self.xp.asarray(blocks[i * k + j]), (self.counts[i], self.counts[j])) for j in range(k)]
            rows.append(self.xp.concat(row, axis=1) if k > 1 else row[0])
        return self.xp.concat(rows, axis=0) if k > 1 else rows[0]


class LeastSquares(_Bound):
    """A residual r (any shape) over the flat vector packing ``wrt``: ``fun``/``residual`` and ``jac``/``jacobian``.

    ``objective()`` gives the matching ``Objective`` for 0.5 * ||r||^2, for Newton-type methods. ``r`` may be
    a list of residual blocks ``[r1, r2, ...]`` (any shapes): the residual is their flattened concatenation,
    its Jacobian the blocks' Jacobians one above the other.
    """

    def __init__(self, r, wrt, data=None, *, sizes=None, like=None):
        if isinstance(r, (list, tuple)):
            r = residual_blocks(r, "LeastSquares: the residual blocks")
        super().__init__(r, wrt, data, sizes, "LeastSquares", like)
        self.jacobian_blocks = [derivative_once(self.expr, v) for v in self.wrt]
        hint = dict(self.sizes)
        self._r = compile_exprs([self.expr], name="residual", sizes=hint)
        self._j = compile_exprs(self.jacobian_blocks, name="residual_jacobian", sizes=hint)
        self.residual_shape = tuple(dim_value(d, self.sizes) for d in self.expr.shape)
        self.residual_size = math.prod(self.residual_shape)

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
        if hit is None and any(is_sparse(v) for v in self.data.values()):
            # products of sparse data with the identity (X (x) I of X W) have no dense kernel: the structured
            # Jacobian, densified (this dense form is the contract of jac)
            hit = self.xp.asarray(self.jac_operator(x).to_dense())
            self._store(x, J=hit)
        elif hit is None:
            blocks = Objective._call(self, self._j, self._values(x))
            cols = [self.xp.reshape(self.xp.asarray(b), (self.residual_size, c)) for b, c in zip(blocks, self.counts)]
            hit = self.xp.concat(cols, axis=1) if len(cols) > 1 else cols[0]
            self._store(x, J=hit)
        return hit

    jacobian = jac

    def jac_operator(self, x):
        """The Jacobian at x as a linear operator of ``ricci.solvers`` that keeps its structure: per-entry
        residuals (gathers ``take(U, rows)``) give a ``SparseOperator`` with only the nonzeros, residual
        blocks (``[r_obs, sqrt(lam) U, sqrt(lam) V]``) a ``BlockOperator`` whose identity and zero blocks
        stay so, a residual ``X @ w - y`` with sparse X the ``SparseOperator`` of X itself; otherwise a
        ``DenseOperator``. ``jac_operator(x).to_dense()`` equals ``jac(x)``. The residual is computed by the
        same kernel when it is not known at x yet (and kept)."""
        hit = self._cached(x, "J_operator")
        if hit is not None:
            return hit
        program = self.__dict__.get("_jacobian_operator_program")
        if program is None:
            program = OperatorProgram(self._jacobian_plan(), name="residual_jacobian_operator", sizes=self.sizes,
                                      symmetric=False, levels=[("residual", [self.expr], [])])
            self._jacobian_operator_program = program
        values = self._values(x)
        levels, arrays, _ = program.evaluate(int(self._cached(x, "r") is not None), values, {})
        operator = program.operator(arrays, values, self.xp, self.xp.zeros((1,), dtype=self.dtype))
        if "residual" in levels:
            self._store(x, r=self.xp.reshape(self.xp.asarray(levels["residual"][0]), (-1,)), J_operator=operator)
        else:
            self._store(x, J_operator=operator)
        return operator

    def _jacobian_plan(self):
        """The Jacobian's structure as ``_operator_plan`` reads it off the expression (made once): what
        ``jac_operator`` builds at each point, and what ``GaussNewton.prefers_products`` measures."""
        plan = self.__dict__.get("_jacobian_plan_made")
        if plan is None:
            plan = self._jacobian_plan_made = jacobian_plan(self.jacobian_blocks, self.sizes, self.expr.ndim)
        return plan

    # -- products with the Jacobian, the Jacobian never formed ------------------------------------------------
    def _product_stages(self):
        """{"jvp": (tangents, stages), "vjp": (cotangent, stages)}, made on first use; stages is ``(at the
        point, per product)``. J'u is the gradient of the scalar <r, U> (reverse mode, as f's gradient), and
        J v the derivative in U of <J'U, V>, which is linear in U: differentiating it gives the forward-mode
        expression (the directional derivatives of r's intermediates along V), as the Hessian-vector product
        is made from <grad f, v>. Each is split as the Hessian-vector product is (``_point``; Pearlmutter
        1994): what no direction changes (tanh(X W1 + 1 b1') and its derivative) is computed once per point
        and kept with it, each product computes only what the direction reaches."""
        stages = self.__dict__.get("_product_stages_made")
        if stages is None:
            idx = tuple(range(self.expr.ndim))
            cotangent = Var.make("_jacobian_cotangent", self.expr.shape)
            pairing = contract([self.expr, cotangent], [idx, idx], ())
            transposed = [derivative_once(pairing, v) for v in self.wrt]
            tangents = [Var.make(f"_jacobian_tangent_{v.name}", v.shape) for v in self.wrt]
            inner = add([inner_product(t, d) for t, d in zip(transposed, tangents)], [1] * len(tangents))
            forward = [derivative_once(inner, cotangent)]
            stages = {}
            for key, results, moving in (("jvp", forward, tangents), ("vjp", transposed, [cotangent])):
                moving = frozenset(moving)
                substitute = steady_factors(results, moving)
                steady = [n for n in computed(results, substitute=substitute) if moving.isdisjoint(n.variables)]
                reads = frontier(results, steady, substitute)
                at_point = _stage(f"residual_{key}_point", reads, [], [], self.sizes) if reads else None
                product = _stage(f"residual_{key}", results, [], reads, self.sizes, substitute=substitute)
                stages[key] = (at_point, product)
            stages = {"jvp": (tangents, stages["jvp"]), "vjp": (cotangent, stages["vjp"])}
            self._product_stages_made = stages
        return stages

    def _product(self, key: str, x, moving: dict):
        """Run the product stage ``key`` at x with the direction values ``moving``, computing the per-point
        intermediates first where x is new (kept with the point, as r(x) is)."""
        at_point, product = self._product_stages()[key][1]
        values = self._values(x)
        if at_point is not None:
            held = self._cached(x, f"{key} point")
            if held is None:
                held = Objective._call(self, at_point.kernel, values)
                self._store(x, {f"{key} point": held})
            values.update(zip(product.keys, held))
        values.update(moving)
        return Objective._call(self, product.kernel, values)

    def jvp(self, x, v):
        """The product J(x) v (flattened, of the residual's size) for v of the size of x, through the forward
        derivative of the residual's expression: J is never formed (one pass of the residual's arithmetic
        and its directional derivative)."""
        v = self._flat_vector(v, self.size, "jvp: v")
        tangents = self._product_stages()["jvp"][0]
        moving = {t.name: self.xp.reshape(v[off:off + cnt], shape)
                  for t, shape, off, cnt in zip(tangents, self.shapes, self.offsets, self.counts)}
        (out,) = self._product("jvp", self._check_x(x), moving)
        return self.xp.reshape(self.xp.asarray(out), (-1,))

    def vjp(self, x, u):
        """The product J(x)' u (of the size of x) for u of the residual's size, through the reverse derivative
        of <r(x), u>: J is never formed (the cost of one gradient)."""
        u = self._flat_vector(u, self.residual_size, "vjp: u")
        cotangent = self._product_stages()["vjp"][0]
        return self._flatten(self._product("vjp", self._check_x(x),
                                                  {cotangent.name: self.xp.reshape(u, self.residual_shape)}))

    def jac_products(self, x):
        """J(x) as a ``ricci.solvers.MatvecOperator``: products ``J v`` (:meth:`jvp`) and ``J' u``
        (:meth:`vjp`) at x, nothing formed, for solvers that need only products (LSQR, conjugate gradients on
        J'J). x is copied: later changes to the caller's array do not move the operator."""
        from ricci.solvers import MatvecOperator

        x = self.xp.asarray(self._check_x(x), copy=True)
        return MatvecOperator((self.residual_size, self.size), lambda v: self.jvp(x, v), lambda u: self.vjp(x, u),
                              dtype=self.dtype, like=self.xp.zeros((1,), dtype=self.dtype, device=self.device))

    def __call__(self, x):
        return self.fun(x)

    def objective(self, weight=0.5) -> Objective:
        """weight * sum(r**2) as an Objective over the same variables and data (weight 0.5 matches
        scipy.optimize.least_squares' cost; More, Garbow & Hillstrom's f is weight 1)."""
        idx = tuple(range(self.expr.ndim))
        squares = add([contract([self.expr, self.expr], [idx, idx], ())], [weight])
        data, sizes, like = self._given
        return Objective(squares, self.wrt, data, sizes=sizes, like=like)
