"""Bounds lb <= x <= ub for ``least_squares``: the box-constrained Gauss-Newton model in both drivers.

At x the Gauss-Newton model is m(p) = 1/2 ||r + J p||^2 (``_residual_model.py``). With bounds each step
solves that model over the box the bounds leave, lb - x <= p <= ub - x, as a bounded linear least-squares
problem by scipy.optimize.lsq_linear (Stark & Parker's BVLS for a dense J or a small sparse one, its
trust-region reflective method with LSMR for a large sparse J or one known only through products, which stops
at its own tolerance, so those steps are inexact):

* ``"lm"``: Levenberg-Marquardt with a box-shaped trust region, ||D p||_inf <= radius, so that the region and
  the bounds intersect in one box (the l-infinity trust region of bound-constrained Levenberg-Marquardt
  methods: Kanzow, Yamashita & Fukushima (2004), "Levenberg-Marquardt methods with strong local convergence
  properties for solving nonlinear equations with convex constraints", J. Comput. Appl. Math. 172; Conn,
  Gould & Toint (2000), Section 12.3); the radius rule stays MINPACK's (``_levenberg_marquardt.py``), with
  ||.||_inf as the region's norm. D is MINPACK's growing column scaling (1/x_scale when given).
* ``"gauss-newton"``: the bounded Gauss-Newton step (no region) with Armijo backtracking along it; every point
  of the segment [x, x + p] is in the box, since the box is convex.

Termination follows scipy.optimize.least_squares for bounded problems: the gradient test is on the projected
gradient, ||P(x - g) - x||_inf <= gtol with g = J'r in the cost's units (scipy's "dogbox" tests the gradient on
the free variables the same way), and ``optimality`` is that norm; MINPACK's cosine test has no meaning where
a bound stops the descent. ftol and xtol keep their meanings.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import Bounds, lsq_linear
from scipy.sparse.linalg import LinearOperator

from ._arrays import NonFiniteValue, SolverOverflow, all_finite, dot
from ._bounds import projected_gradient_norm
from ._levenberg_marquardt import LevenbergMarquardtSubproblem
from ._op_elementary import DenseOperator, SparseOperator
from ._result import LeastSquaresOutcome as LSO
from ._trust_region import Step
from ._user_operators import dense_form

_LSQ_TOL = 1e-12
_DENSE_COLUMNS, _DENSE_ENTRIES = 1000, 20_000_000  # a sparse J this small is solved dense (BVLS)
_SNAP = 1e-9  # relative distance to a bound below which a "trf" solution is put on it


def least_squares_bounds(bounds, n: int, xp, x0):
    """``(lo, hi)`` float64 arrays of shape (n,) for scipy's least_squares ``bounds``: a 2-tuple ``(lb, ub)`` of
    numbers or arrays of length n (-inf/inf for a free side) or a scipy.optimize.Bounds; None when no side of
    any variable is finite (the unbounded path). x0 outside the box is a ValueError, as in scipy."""
    if isinstance(bounds, Bounds):
        lb, ub = bounds.lb, bounds.ub
    elif isinstance(bounds, (tuple, list)) and len(bounds) == 2:
        lb, ub = bounds
    else:
        raise TypeError("bounds must be a 2-tuple (lb, ub) of numbers or arrays, or a scipy.optimize.Bounds; got "
                        f"{type(bounds).__name__}" + (f" of length {len(bounds)}" if hasattr(bounds, "__len__") else ""))
    sides = []
    for name, side in (("lb", lb), ("ub", ub)):
        try:
            arr = np.asarray(side, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"bounds {name} must be a number or an array of numbers; got "
                            f"{type(side).__name__}") from exc
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise ValueError(f"bounds {name} must be a number or have {n} entries (one per variable); got shape "
                             f"{arr.shape}")
        if np.isnan(arr).any():
            raise ValueError(f"bounds {name} contains NaN; use -inf / inf for a free side")
        sides.append(arr)
    lo, hi = sides
    if np.any(lo > hi):
        k = int(np.argmax(lo > hi))
        raise ValueError(f"each lower bound must be at most its upper bound; got lb[{k}] = {lo[k]} > ub[{k}] = {hi[k]}")
    if not (np.isfinite(lo).any() or np.isfinite(hi).any()):
        return None
    x = np.asarray(x0.get() if hasattr(x0, "get") else x0, dtype=np.float64)
    if np.any(x < lo) or np.any(x > hi):
        k = int(np.argmax((x < lo) | (x > hi)))
        raise ValueError(f"x0 is infeasible: x0[{k}] = {x[k]} is outside [{lo[k]}, {hi[k]}]")
    if not (xp is np or "numpy" in getattr(xp, "__name__", "")):
        raise TypeError(f"least_squares with bounds runs on NumPy arrays (scipy.optimize.lsq_linear); got x0 of "
                        f"{getattr(xp, '__name__', xp)}")
    return lo, hi


def _least_squares_matrix(J, scale):
    """J diag(scale) in a form lsq_linear takes, and the method that suits it: the dense array (BVLS), the
    scipy.sparse matrix or a LinearOperator ("trf" with LSMR)."""
    dense = dense_form(J)
    if dense is not None:
        return np.asarray(dense) * scale[None, :], "bvls"
    if isinstance(J, SparseOperator):
        m, n = J.shape
        if n <= _DENSE_COLUMNS and m * n <= _DENSE_ENTRIES:  # BVLS is exact; trf stops at its own tolerance
            return J.A.toarray() * scale[None, :], "bvls"
        from scipy.sparse import diags_array

        return J.A @ diags_array(scale), "trf"
    if isinstance(J, DenseOperator):
        return np.asarray(J.A) * scale[None, :], "bvls"
    m, n = J.shape
    return LinearOperator((m, n), matvec=lambda v: J.matvec(scale * np.ravel(v)),
                          rmatvec=lambda u: scale * J.rmatvec(np.ravel(u)), dtype=np.float64), "trf"


def bounded_model_step(J, r, lo_p, hi_p, scale):
    """min_p 1/2 ||r + J p||^2 subject to lo_p <= p <= hi_p, solved in q = p / scale; returns p. Variables with
    lo_p == hi_p (fixed, or pinned by a zero-width box) are left out of the solve and get that value."""
    n = lo_p.shape[0]
    free = hi_p > lo_p
    p = np.where(free, 0.0, lo_p)
    if not free.any():
        return p
    A, method = _least_squares_matrix(J, scale)
    b = -np.asarray(r, dtype=np.float64)
    if not free.all():
        fixed = ~free
        if isinstance(A, LinearOperator):
            b = b - A.matvec(np.where(fixed, p / scale, 0.0))
            keep = np.flatnonzero(free)
            full = A
            A = LinearOperator((full.shape[0], keep.size),
                               matvec=lambda v: full.matvec(_scatter(v, keep, n)),
                               rmatvec=lambda u: full.rmatvec(u)[keep], dtype=np.float64)
        else:
            b = b - A[:, fixed] @ (p[fixed] / scale[fixed])
            A = A[:, free]
    lb, ub = lo_p[free] / scale[free], hi_p[free] / scale[free]
    if method == "bvls":  # dense: the box-constrained quadratic 1/2 q'A'Aq - b'Aq by tron on the formed A'A
        q = _box_quadratic(A, b, lb, ub)
        p[free] = q * scale[free]
        return p
    sol = lsq_linear(A, b, bounds=(lb, ub), method=method, tol=_LSQ_TOL,
                     **({"lsq_solver": "lsmr", "lsmr_tol": "auto"} if method == "trf" else {}))
    q = np.clip(sol.x, lb, ub)
    if method == "trf":  # its iterates stay strictly inside the box: put the entries it left next to a bound on it
        near = _SNAP * np.maximum(1.0, np.abs(q))
        q = np.where(q - lb <= near, lb, np.where(ub - q <= near, ub, q))
    if not np.all(np.isfinite(q)):
        raise SolverOverflow("The bounded Gauss-Newton step overflowed.")
    p[free] = q * scale[free]
    return p


def _box_quadratic(A, b, lb, ub):
    """argmin 1/2 ||A q - b||^2 over lb <= q <= ub for a dense A: ``tron`` (Lin & More 1999) on the quadratic
    with the Hessian A'A formed once (its Cholesky-preconditioned CG ends in a few iterations), to a projected
    gradient at rounding level; scipy's BVLS (lsq_linear) where tron does not converge."""
    from ._tron import tron

    H, c = A.T @ A, -(A.T @ b)
    scale = max(1.0, float(np.max(np.abs(c))), float(np.max(np.abs(np.diag(H)))))
    q0 = np.clip(np.zeros_like(lb), lb, ub)
    res = tron(lambda q: (0.5 * (q @ (H @ q)) + c @ q, H @ q + c), q0, jac=True, hess=lambda q: H,
               bounds=Bounds(lb, ub), gtol=1e-13 * scale, maxiter=10 * lb.shape[0] + 100)
    if res.success:
        return np.clip(res.x, lb, ub)
    return np.clip(lsq_linear(A, b, bounds=(lb, ub), method="bvls", tol=_LSQ_TOL).x, lb, ub)


def _scatter(v, keep, n):
    out = np.zeros(n)
    out[keep] = np.ravel(v)
    return out


class BoundedLevenbergMarquardt(LevenbergMarquardtSubproblem):
    """Levenberg-Marquardt's subproblem over the box of the bounds and the l-infinity region ||D p||_inf <= radius
    (module docstring): one bounded linear least-squares solve per trial. ``lo``/``hi`` are the bounds on x."""

    def __init__(self, x_scale, lo, hi):
        super().__init__(x_scale)
        self.lo, self.hi = lo, hi

    def scaled_norm(self, v) -> float:
        """||D v||_inf, the region's norm."""
        return float(np.max(np.abs(self.D * v))) if v.shape[0] else 0.0

    def solve(self, model, radius: float) -> Step:
        point = self._point
        if point is None or point.x is not model.x:
            self.at_point(model)
            point = self._point
        x, D, B = model.x, self.D, point.B
        lo_p = np.maximum(self.lo - x, -radius / D)
        hi_p = np.minimum(self.hi - x, radius / D)
        lo_p, hi_p = np.minimum(lo_p, 0.0), np.maximum(hi_p, 0.0)  # x is in the box: 0 is always feasible
        try:
            p = bounded_model_step(B.J, B.r, lo_p, hi_p, 1.0 / D)
        except NonFiniteValue as exc:
            raise SolverOverflow(str(exc)) from exc
        if not all_finite(np, p):
            raise SolverOverflow("The Levenberg-Marquardt step overflowed.")
        length = self.scaled_norm(p)
        slope = dot(np, model.g, p)
        predicted = -(slope + 0.5 * B.model_curvature(p))
        on_region = length >= radius * (1.0 - 1e-10)
        return Step(p, predicted, on_region, length, slope=slope, multiplier=1.0 if on_region else 0.0,
                    model_reduction=lambda: self._box_reduction(model), region_norm=self.scaled_norm,
                    point=np.clip(x + p, self.lo, self.hi))

    def _box_reduction(self, model) -> float:
        """m(0) - min m over the bounds alone (no region): what the model has left to offer at x."""
        cached = getattr(self._point, "box_reduction", None)
        if cached is None:
            B, x = self._point.B, model.x
            p = bounded_model_step(B.J, B.r, self.lo - x, self.hi - x, 1.0 / self.D)
            cached = max(0.0, -(dot(np, model.g, p) + 0.5 * B.model_curvature(p)))
            self._point.box_reduction = cached
        return cached


class BoundedGaussNewtonDirection:
    """The bounded Gauss-Newton step p (min 1/2 ||r + J p||^2 over lo - x <= p <= hi - x) as the line-search
    driver's direction, with the first trial alpha = 1; ``model_decrease`` = m(0) - m(p) for the ftol test."""

    uses_hessian = False

    def __init__(self, evaluator, column_scale, lo, hi):
        self.evaluator, self.column_scale, self.lo, self.hi = evaluator, column_scale, lo, hi
        self.model_decrease = None

    def direction(self, x, g):
        B = self.evaluator.curvature(x)
        scale = np.ones_like(x) if self.column_scale is None else np.asarray(self.column_scale)
        p = bounded_model_step(B.J, B.r, self.lo - x, self.hi - x, scale)
        self.model_decrease = -(dot(np, g, p) + 0.5 * B.model_curvature(p))
        return p, 1.0

    def update(self, s, y):
        pass


def bounded_tests(tests_class):
    """The least-squares tests with the gradient test on the projected gradient (module docstring)."""

    class BoundedLeastSquaresTests(tests_class):
        def __init__(self, *, lo, hi, **kwargs):
            super().__init__(**kwargs)
            self.lo, self.hi = lo, hi

        def at_top(self, res, k: int, x, f: float, g):
            scaled = projected_gradient_norm(np, np.asarray(x), np.asarray(g), self.lo, self.hi)
            if not math.isfinite(scaled):
                return LSO.OVERFLOW, "The gradient J'r of the cost overflowed."
            pg = res.user_value(scaled)
            at_start = "It held at the starting point, before any step." if k == 0 else None
            if f == 0.0 or pg <= self.gtol:
                return LSO.GTOL, at_start
            if pg <= self.optimality_tol:
                return LSO.OPTIMALITY, at_start
            if self.method == "lm":  # the rounding error of the cost, as the unbounded tests keep it
                r_norm = float(np.linalg.norm(res.residuals(x)))
                J = res.jacobian(x).op
                r_rounding = 10.0 * self.machine_eps * (r_norm + J.norm_estimate() * float(np.linalg.norm(x)))
                self._cost_rounding = r_rounding * (r_norm + 0.5 * r_rounding)
                self._rose = None
            return self.before_trial(res)

    return BoundedLeastSquaresTests
