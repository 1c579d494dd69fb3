"""Every form of constraint ``minimize`` takes, normalized into one set lo <= c(x) <= hi.

Accepted (as scipy.optimize.minimize takes them, one or a list): ``LinearConstraint(A, lb, ub)``,
``NonlinearConstraint(fun, lb, ub, jac, hess)``, scipy's dicts ``{"type": "eq" | "ineq", "fun", "jac", "args"}``
(``eq``: c(x) = 0, ``ineq``: c(x) >= 0), and any object with ``fun(x)``, ``jac(x)``, ``lo``, ``hi`` and optionally
``hess(x, v)`` and ``is_linear`` (the ``rs.Constraint`` of ricci.symbolic, duck-typed: solvers/ imports nothing
from symbolic/).

Derivatives are exact or absent, never finite differences: a nonlinear constraint needs a callable Jacobian
(``jac="2-point"`` and friends are refused). Its Hessian, ``hess(x, v)`` = sum_i v_i Hess c_i(x) (scipy's
definition), may come as a dense or sparse matrix or an operator, or, from objects that have them (``rs.Constraint``),
as ``hess_operator(x, v)`` (a structured operator) or products ``hessp(x, v, p)``; those two are preferred where the
Hessian is wanted as an operator (:meth:`ConstraintSet.weighted_hessian_operator`). It may also be left out (None,
a scipy ``HessianUpdateStrategy`` such as NonlinearConstraint's default ``BFGS()``, or a dict, which has none); the
set then records it in ``hessian_missing``. The weighted Hessian then leaves that constraint's curvature out,
unless a :class:`ConstraintQuasiNewton` is passed, which approximates it by the constraint's own update strategy
(a copy) or scipy's SR1 (scipy trust-constr's treatment; see that class). A linear constraint's Hessian is zero.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

from ._arrays import as_array

_DICT_KEYS = ("type", "fun", "jac", "args")


@dataclass(frozen=True)
class ConstraintBlock:
    """One constraint as given: lo <= fun(x) <= hi with m values; ``matrix`` for a linear one (c(x) = A x)."""

    label: str
    m: int
    lo: np.ndarray
    hi: np.ndarray
    fun: object
    jac: object
    hess: object  # hess(x, v) or None
    matrix: object = None  # dense xp array A of a LinearConstraint
    linear: bool = False
    hess_operator: object = None  # hess_operator(x, v) -> Operator, where the constraint object has one
    hessp: object = None  # hessp(x, v, p) -> (sum_i v_i Hess c_i(x)) p, where the constraint object has one
    update_strategy: object = None  # the user's scipy HessianUpdateStrategy when that is what hess was


def _host_bounds(value, m, what):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a number or an array of numbers; got {type(value).__name__}") from exc
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    arr = arr.reshape(-1) if arr.size == m else arr
    if arr.shape != (m,):
        raise ValueError(f"{what} must be a number or have {m} entries (one per constraint value); got shape "
                         f"{arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{what} contains NaN; use -inf / inf for a free side")
    return arr


def _check_sides(lo, hi, label):
    bad = np.flatnonzero((lo > hi) | (lo == math.inf) | (hi == -math.inf))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{label}: need lb <= ub with lb < inf and ub > -inf entry-wise; entry {i} has "
                         f"lb = {lo[i]}, ub = {hi[i]}")


def _jacobian(xp, value, like, shape, what):
    """A user-returned Jacobian: a scipy.sparse matrix stays sparse (as CSR, shape checked; NumPy only), anything
    else becomes a dense array of ``like``'s namespace (:func:`_dense`)."""
    import scipy.sparse as sp

    if sp.issparse(value) and is_numpy_namespace(xp):
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{what} must return a matrix of shape {tuple(shape)}; got shape {tuple(value.shape)}")
        return sp.csr_array(value, dtype=like.dtype)
    return _dense(xp, value, like, shape, what)


def _dense(xp, value, like, shape, what):
    """A user-returned matrix (array, scipy.sparse, ricci Operator) as a dense array of ``like``'s namespace."""
    if hasattr(value, "to_dense") and callable(value.to_dense):
        value = value.to_dense()
    elif hasattr(value, "toarray") and callable(value.toarray):
        value = value.toarray()
    arr = as_array(xp, value, like, None, what)
    if arr.ndim == 1 and shape[0] == 1 and arr.shape[0] == shape[1]:
        arr = xp.reshape(arr, (1, shape[1]))
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{what} must return an array of shape {tuple(shape)}; got shape {tuple(arr.shape)}")
    return arr


class ConstraintSet:
    """The constraints lo <= c(x) <= hi stacked into one vector c of length m (blocks in the order given).

    ``values(x)`` is c(x), ``jacobian(x)`` the (m, n) Jacobian (dense, or scipy.sparse where a block's is),
    ``weighted_hessian(x, w)`` the Hessian of w'c(x) as a dense array and ``weighted_hessian_operator(x, w)`` as
    an operator (constraints whose Hessian was not given are left out or approximated, see the module
    docstring) and ``split(y)`` cuts a length-m vector into one array per constraint as given (scipy's ``v``
    and ``constr``)."""

    def __init__(self, constraints, x0, xp):
        self.xp, self.n = xp, int(x0.shape[0])
        self.blocks = [self._block(c, k, x0) for k, c in enumerate(_as_list(constraints))]
        self.m = sum(b.m for b in self.blocks)
        self.lo = np.concatenate([b.lo for b in self.blocks]) if self.blocks else np.zeros(0)
        self.hi = np.concatenate([b.hi for b in self.blocks]) if self.blocks else np.zeros(0)
        self.equality = self.lo == self.hi
        self.hessian_missing = [b.label for b in self.blocks if b.hess is None and not b.linear]
        self._like = x0

    # -- construction -------------------------------------------------------------------------------------
    def _block(self, c, k, x0) -> ConstraintBlock:
        from scipy.optimize import LinearConstraint, NonlinearConstraint

        label = f"constraints[{k}]"
        if isinstance(c, LinearConstraint):
            return self._linear(c, label, x0)
        if isinstance(c, NonlinearConstraint):
            if not callable(c.jac):
                raise TypeError(f"{label}: NonlinearConstraint needs the exact Jacobian as a callable jac(x); got "
                                 f"jac={c.jac!r} (ricci.solvers uses exact derivatives, no finite differences)")
            # scipy's default hess is a BFGS() instance: like None, it means "not given" (approximated by a copy
            # of that strategy where a ConstraintQuasiNewton is used)
            strategy = c.hess if _is_update_strategy(c.hess) else None
            hess = None if c.hess is None or strategy is not None else c.hess
            if hess is not None and not callable(hess):
                raise ValueError(f"{label}: NonlinearConstraint hess must be a callable hess(x, v) (the Hessian "
                                 f"of v'c(x)), a scipy HessianUpdateStrategy (BFGS(), SR1()) or None; got "
                                 f"{c.hess!r} (no finite differences)")
            block = self._nonlinear(label, c.fun, c.jac, hess, c.lb, c.ub, (), x0)
            return _with(block, update_strategy=strategy)
        if isinstance(c, dict):
            unknown = sorted(set(c) - set(_DICT_KEYS))
            if unknown:
                raise ValueError(f"{label}: unknown keys {unknown} in a constraint dict; valid keys are "
                                 f"{list(_DICT_KEYS)}")
            kind = c.get("type")
            if kind not in ("eq", "ineq"):
                raise ValueError(f"{label}: constraint dict 'type' must be 'eq' or 'ineq'; got {kind!r}")
            if "fun" not in c:
                raise ValueError(f"{label}: constraint dict needs 'fun' (a callable c(x, *args))")
            if not callable(c.get("jac")):
                raise TypeError(f"{label}: constraint dict needs 'jac', the exact Jacobian as a callable "
                                f"jac(x, *args); got {c.get('jac')!r} (no finite differences)")
            args = c.get("args", ())
            args = args if isinstance(args, tuple) else (args,)
            return self._nonlinear(label, c["fun"], c["jac"], None, 0.0, 0.0 if kind == "eq" else math.inf,
                                   args, x0)
        if all(callable(getattr(c, name, None)) for name in ("fun", "jac")) and hasattr(c, "lo") \
                and hasattr(c, "hi"):
            linear = bool(getattr(c, "is_linear", False))
            operator, products = getattr(c, "hess_operator", None), getattr(c, "hessp", None)
            operator, products = (f if callable(f) else None for f in (operator, products))
            hess = getattr(c, "hess", None)
            hess = hess if callable(hess) else operator  # an operator alone: its dense form where one is wanted
            block = self._nonlinear(label, c.fun, c.jac, None if linear else hess, c.lo, c.hi, (), x0)
            if linear:
                return ConstraintBlock(label, block.m, block.lo, block.hi, block.fun, block.jac, None, None, True)
            return _with(block, hess_operator=operator, hessp=products)
        raise TypeError(f"{label} must be a scipy.optimize LinearConstraint or NonlinearConstraint, a dict with "
                        "'type', 'fun' and 'jac', or an object with fun, jac, lo and hi (rs.Constraint); got "
                        f"{type(c).__name__}")

    def _linear(self, c, label, x0) -> ConstraintBlock:
        import scipy.sparse as sp

        xp, n = self.xp, self.n
        A = c.A
        sparse = sp.issparse(A) and is_numpy_namespace(xp)
        A = sp.csr_array(A, dtype=x0.dtype) if sparse else A.toarray() if sp.issparse(A) else np.asarray(
            A, dtype=np.float64)
        if A.ndim == 1:
            A = A.reshape(1, -1)
        if A.ndim != 2 or A.shape[1] != n:
            raise ValueError(f"{label}: LinearConstraint A must have shape (m, {n}) for x0 of length {n}; got "
                             f"shape {A.shape}")
        m = A.shape[0]
        lo, hi = _host_bounds(c.lb, m, f"{label}.lb"), _host_bounds(c.ub, m, f"{label}.ub")
        _check_sides(lo, hi, label)
        matrix = A if sparse else xp.asarray(A, dtype=x0.dtype)
        return ConstraintBlock(label, m, lo, hi, lambda x: matrix @ x, lambda x: matrix, None, matrix, True)

    def _nonlinear(self, label, fun, jac, hess, lb, ub, args, x0) -> ConstraintBlock:
        if not callable(fun):
            raise TypeError(f"{label}: fun must be a callable c(x); got {type(fun).__name__}")
        if hess is not None and not callable(hess):
            raise TypeError(f"{label}: hess must be a callable hess(x, v); got {type(hess).__name__}")
        xp, n = self.xp, self.n
        value = as_array(xp, fun(x0, *args), x0, None, f"{label} fun")
        if value.ndim > 1:
            raise ValueError(f"{label}: fun must return a scalar or a 1-D array; got shape {tuple(value.shape)}")
        m = 1 if value.ndim == 0 else int(value.shape[0])
        _jacobian(xp, jac(x0, *args), x0, (m, n), f"{label} jac")
        lo, hi = _host_bounds(lb, m, f"{label} lower bound"), _host_bounds(ub, m, f"{label} upper bound")
        _check_sides(lo, hi, label)

        def values(x):
            return xp.reshape(as_array(xp, fun(x, *args), x, None, f"{label} fun"), (m,))

        def jacobian(x):
            return _jacobian(xp, jac(x, *args), x, (m, n), f"{label} jac")

        return ConstraintBlock(label, m, lo, hi, values, jacobian, hess)

    # -- evaluation -------------------------------------------------------------------------------------------
    def values(self, x):
        """c(x), all blocks stacked (length m)."""
        xp = self.xp
        if not self.blocks:
            return xp.zeros((0,), dtype=x.dtype)
        return xp.concat([b.fun(x) for b in self.blocks])

    def jacobian(self, x):
        """The (m, n) Jacobian of c at x: dense, or a scipy.sparse CSR array when a block's Jacobian is sparse."""
        import scipy.sparse as sp

        xp = self.xp
        if not self.blocks:
            return xp.zeros((0, self.n), dtype=x.dtype)
        parts = [b.jac(x) for b in self.blocks]
        if any(sp.issparse(p) for p in parts):
            return sp.vstack([sp.csr_array(p) for p in parts], format="csr")
        return xp.concat(parts, axis=0)

    def weighted_hessian(self, x, w, quasi_newton=None):
        """The Hessian of w'c(x) = sum_i w_i Hess c_i(x), dense (n, n); None when no block contributes.

        Blocks without a Hessian are left out, or, given ``quasi_newton`` (a :class:`ConstraintQuasiNewton` of this
        set), contribute their current approximation B_k of the Hessian of w_k'c_k once it has been updated."""
        xp, total = self.xp, None
        for b, start in zip(self.blocks, self._starts):
            if b.hess is not None:
                v = np.asarray(_host(w[start:start + b.m]), dtype=np.float64)
                h = _dense(xp, b.hess(x, v), x, (self.n, self.n), f"{b.label} hess")
                total = h if total is None else total + h
        for B in ([] if quasi_newton is None else quasi_newton.matrices()):
            B = xp.asarray(B, dtype=x.dtype)
            total = B if total is None else total + B
        return total

    def weighted_hessian_operator(self, x, w, quasi_newton=None):
        """The Hessian of w'c(x) as a ricci.solvers operator, None when no block contributes: the sum over the
        blocks of ``hess_operator(x, v)`` where the constraint has one, else a products-only operator of
        ``hessp(x, v, p)``, else the operator of what ``hess(x, v)`` returns (a dense array, a sparse matrix or
        an operator, structure kept); ``quasi_newton`` as for :meth:`weighted_hessian` (its approximations are
        dense (n, n) matrices, as scipy's update strategies keep them)."""
        from ._operators import DenseOperator, MatvecOperator, SumOperator, as_operator

        n, terms = self.n, []
        for b, start in zip(self.blocks, self._starts):
            if b.hess is None:
                continue
            v = np.asarray(_host(w[start:start + b.m]), dtype=np.float64)
            if b.hess_operator is not None:
                term = as_operator(b.hess_operator(x, v))
            elif b.hessp is not None:
                term = MatvecOperator((n, n), functools.partial(_hessp_at, b, x, v, n), symmetric=True,
                                      dtype=x.dtype, like=x)
            else:
                term = _hessian_operator(self.xp, b.hess(x, v), x, n, f"{b.label} hess")
            if tuple(term.shape) != (n, n):
                raise ValueError(f"{b.label} hess_operator must return an operator of shape {(n, n)}; got "
                                 f"shape {tuple(term.shape)}")
            terms.append(term)
        for B in ([] if quasi_newton is None else quasi_newton.matrices()):
            terms.append(DenseOperator(self.xp.asarray(B, dtype=x.dtype), symmetric=True))
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else SumOperator(terms)

    @property
    def _starts(self) -> list:
        """The first row of each block in the stacked c."""
        return [int(k) for k in np.cumsum([0] + [b.m for b in self.blocks])[:-1]]

    def split(self, y) -> list:
        """A length-m vector cut into one array per constraint, in the order given."""
        out, start = [], 0
        for b in self.blocks:
            out.append(y[start:start + b.m])
            start += b.m
        return out

    def violation(self, c) -> np.ndarray:
        """Entry-wise distance of the values c from [lo, hi] (host array)."""
        c = _host(c)
        return np.maximum(np.maximum(self.lo - c, c - self.hi), 0.0)


class ConstraintQuasiNewton:
    """Quasi-Newton approximations of the constraint Hessians that were not given, as scipy's trust-constr makes
    them (``scipy.optimize._differentiable_functions.VectorFunction`` with a ``HessianUpdateStrategy``).

    One strategy per block in ``hessian_missing``: a copy of the user's (NonlinearConstraint(hess=BFGS()) or
    SR1(): never the caller's instance, which scipy would change), else scipy's ``SR1()``, since the Hessian of
    v'c is indefinite in general (BFGS would skip every update with negative curvature). Each is initialized
    with ``initialize(n, "hess")`` and, at a new point x+ with multipliers w, updated with scipy's pair

        delta_x = x+ - x,    delta_grad = J_k(x+)' w_k - J_k(x)' w_k

    (the change of the gradient of w_k'c_k along the step, the current multipliers at both ends), so that B_k
    approximates Hess(w_k'c_k) = sum_i w_ki Hess c_ki itself; the weighted Hessian adds B_k as it is. A block
    contributes nothing until its first update (scipy starts from the identity, which for a constraint that is
    in fact linear, given as a dict without Hessian, would add curvature that is not there; scipy's first update
    scales the identity by y'y / |y's|, Nocedal & Wright (2006), eq. 6.20). A zero delta_grad (a linear block)
    is no update (scipy warns and skips it). Who calls :meth:`update` decides when: the augmented Lagrangian
    method does once per point at which its subproblem solver asks for the Hessian (each accepted step)."""

    def __init__(self, cset: ConstraintSet):
        from scipy.optimize import SR1

        self.n, self.entries = cset.n, []
        for b, start in zip(cset.blocks, cset._starts):
            if b.hess is None and not b.linear:
                strategy = copy.deepcopy(b.update_strategy) if b.update_strategy is not None else SR1()
                strategy.initialize(cset.n, "hess")
                self.entries.append(_QuasiNewtonEntry(b.label, start, b.m, strategy))
        self._x = None
        self.pairs = 0  # curvature pairs used, over all blocks

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def labels(self) -> list:
        return [e.label for e in self.entries]

    @property
    def methods(self) -> list:
        """The name of each block's strategy ("SR1", "BFGS", ...), in the order of ``labels``."""
        return [type(e.strategy).__name__ for e in self.entries]

    def update(self, x, J, w) -> None:
        """Record the curvature between the last point and x (``J``: the stacked (m, n) Jacobian at x, dense or
        scipy.sparse; ``w``: the multipliers, length m). The first call only stores the point."""
        x_h = _host(x)
        w_h = _host(w)
        rows = [_host_rows(J, e.start, e.m) for e in self.entries]
        if self._x is not None:
            delta_x = x_h - self._x
            if np.any(delta_x != 0.0):
                for e, J_k in zip(self.entries, rows):
                    w_k = w_h[e.start:e.start + e.m]
                    delta_grad = np.asarray(J_k.T @ w_k - e.jacobian.T @ w_k, dtype=np.float64).reshape(-1)
                    if np.all(np.isfinite(delta_grad)) and np.any(delta_grad != 0.0):
                        e.strategy.update(delta_x, delta_grad)
                        e.updates += 1
                        self.pairs += 1
        self._x = x_h
        for e, J_k in zip(self.entries, rows):
            e.jacobian = J_k

    def matrices(self) -> list:
        """B_k (dense (n, n) host arrays) of the blocks updated at least once."""
        return [e.strategy.get_matrix() for e in self.entries if e.updates]


@dataclass
class _QuasiNewtonEntry:
    label: str
    start: int
    m: int
    strategy: object
    updates: int = 0
    jacobian: object = None  # J_k at the last point (host)


def _host_rows(J, start, m):
    """Rows start:start+m of a stacked Jacobian on the host (dense NumPy, or scipy.sparse kept sparse)."""
    import scipy.sparse as sp

    rows = J[start:start + m]
    return sp.csr_array(rows) if sp.issparse(rows) else _host(rows)


def _hessp_at(block, x, v, n, p):
    """(sum_i v_i Hess c_i(x)) p from a constraint's ``hessp(x, v, p)``, checked."""
    return as_array(array_namespace(x), block.hessp(x, v, p), x, (n,), f"{block.label} hessp")


def _hessian_operator(xp, value, like, n, what):
    """What a constraint's hess returned as an operator: an Operator or scipy LinearOperator as it is, a sparse
    matrix as a SparseOperator, anything else as the dense operator of :func:`_dense`."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import LinearOperator

    from ._operators import DenseOperator, Operator, as_operator

    if isinstance(value, (Operator, LinearOperator)) or (sp.issparse(value) and is_numpy_namespace(xp)):
        return as_operator(value)
    return DenseOperator(_dense(xp, value, like, (n, n), what), symmetric=True)


def _with(block: ConstraintBlock, **fields) -> ConstraintBlock:
    from dataclasses import replace

    return replace(block, **fields)


def _as_list(constraints) -> list:
    if constraints is None:
        return []
    if isinstance(constraints, dict) or not isinstance(constraints, (list, tuple)):
        return [constraints]
    return list(constraints)


def _is_update_strategy(hess) -> bool:
    from scipy.optimize import HessianUpdateStrategy

    return isinstance(hess, HessianUpdateStrategy)


def _host(a) -> np.ndarray:
    get = getattr(a, "get", None)  # CuPy
    if callable(get) and not isinstance(a, np.ndarray):
        a = get()
    return np.asarray(a, dtype=np.float64)
