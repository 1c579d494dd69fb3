"""tron: the projected trust-region Newton method for bound constraints, min f(x) subject to lo <= x <= hi
(Lin & More, "Newton's method for large bound-constrained optimization problems", SIAM J. Optim. 9, 1999; the
method of their TRON code and of LIBLINEAR).

The trust-region driver (``_trust_region.trust_region_iterations``) runs it with three pieces of this file:

- :class:`ProjectedNewtonSubproblem`, the step. On the model q(s) = g's + 1/2 s'Hs at x, with P the projection
  onto the box:
  1. *Generalized Cauchy point* (Section 2 of the paper): s(t) = P(x - t g) - x for the first t of the sequence
     t_0 * 10^j or t_0 * 10^-j (t_0: the last run's t) with the sufficient decrease q(s(t)) <= mu0 g's(t) and
     ||s(t)|| <= radius; extrapolation by 10 while both hold (up to the last breakpoint), else backtracking by
     1/10 until they do.
  2. *Subspace minimization* (Section 3): with the variables at a bound fixed, Steihaug-CG on the free ones
     in the region ||d||_M <= radius centred at the current point (as TRON's ``dspcg``), preconditioned by M:
     the Cholesky factorization of the free block of a dense Hessian (TRON's incomplete Cholesky, complete),
     the Hessian's diagonal on the free variables (Jacobi) for an operator, or the factorization of the free
     block of the operator's dense form at an earlier point once Jacobi-preconditioned CG grows expensive (the
     lagged factorization of ``_trust_region.py``, restricted to the face); a tall Gram Hessian X' D X of at
     most ``DENSE_GRAM_LIMIT`` columns is formed once per subproblem and every product of the step taken from
     it. Then a *projected search* x+ = P(x_c + a d), a = min(1, last breakpoint), halved down to the first
     breakpoint, with q(x+) - q(x_c) <= mu0 grad q(x_c)'(x+ - x_c). While the search
     activates new bounds and CG ended inside the region, the free set shrinks and CG runs again (at most
     once per face: each pass fixes at least one more variable).
  The trial point is P(...) itself (``Step.point``): exactly on the bounds, never x + s with its rounding.
- :class:`TronRadius`, the radius rule: the first radius is ||P(x0 - g0) - x0|| (or ``initial_radius``), and
  the update is TRON's (Lin & More, Section 2; LIBLINEAR's ``tron.cpp``): with rho = ared / pred and the
  minimizer alpha of the quadratic interpolating f along s, rho < eta0 shrinks to min(alpha ||s||, radius / 2),
  rho < 1/4 to max(radius / 4, min(alpha ||s||, radius / 2)), rho < 3/4 to max(radius / 4, min(alpha ||s||,
  4 radius)), else max(radius, min(alpha ||s||, 4 radius)). The step is accepted when rho > eta.
- :class:`ProjectedGradientTests`, the stopping tests: converged once ||P(x - g) - x||_inf <= gtol (scipy
  L-BFGS-B's ``pgtol``), ``maxiter``, and UNBOUNDED when f reaches -inf or falls below -unbounded_threshold.

The subproblem's CG forcing term is eta_k = min(cg_rtol, sqrt(||Pg_k|| / ||Pg_0||)) relative to the free
gradient (superlinear local convergence, as eq. 7.3 of Nocedal & Wright (2006) for the unconstrained case).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._arrays import (
    NonFiniteValue,
    SolverOverflow,
    all_finite,
    dot,
    max_abs,
    norm,
    prepare_x0,
)
from ._bounds import (
    active_mask,
    projected_gradient,
    projected_gradient_norm,
    standardize_bounds,
)
from ._evaluator import Evaluator, FloatingPointGuard, resolve_objective
from ._iteration import IterationSkeleton
from ._newton_step import shifted_factorization
from ._options import CommonOptions, _is_integer, _is_real, _require, parse_options
from ._result import Outcome, stopping_test
from ._steihaug import preconditioned_steihaug_cg, steihaug_cg
from ._trust_region import (
    NocedalWrightRadius,
    Step,
    jacobi_scaling,
    trust_region_iterations,
)
from ._user_operators import dense_form, dense_operator, products_only

MU0 = 0.01
"""Sufficient-decrease constant of the Cauchy point and of the projected search (TRON's mu0)."""
MAX_SEARCH = 60
"""Trials a Cauchy or projected search may take before it gives up."""
DENSIFY_AFTER = 40
"""With preconditioner "auto", a structured Hessian operator (Jacobi-preconditioned) is replaced in the
preconditioner by its dense form, kept while cheap ("lagged"), after a subproblem that needed more than
max(DENSIFY_AFTER, n / 10) CG iterations (forming the dense form of a Gram X' D X costs about n / 2 products)."""
DENSE_LIMIT = 5000
"""... if n is at most DENSE_LIMIT (its dense form then takes at most 200 MB in float64)."""
REFRESH_AFTER = 10
"""The lagged dense form is formed anew at the next subproblem after one that needed more CG iterations."""
DENSE_GRAM_LIMIT = 1000
"""With preconditioner "auto", a Hessian that is a Gram operator X' D X (plus diagonal or identity terms) of
dense or Dask data with n at most this is formed densely at every subproblem ("dense"): one BLAS-3 product
(one pass over Dask data) replaces the 10-100 Hessian-vector products of a subproblem (each a pass over X),
and CG is preconditioned by the factorization of the free block. Measured: NNLS 3000 x 400 (73 products per
subproblem) and nonnegative logistic regression 20000 x 300 (15) both get faster."""


@dataclass(frozen=True)
class TronOptions(CommonOptions):
    """Options of "tron" (``gtol``: bound on the projected gradient ``||P(x - g) - x||_inf``; ``maxiter``,
    ``disp`` as :class:`CommonOptions`).

    initial_radius: the first trust radius; None: ||P(x0 - g0) - x0|| (a warm start passes the last run's
        ``tr_radius``).
    max_trust_radius: the radius never exceeds it (default: no limit, as TRON).
    eta: a step is accepted when actual/predicted reduction exceeds eta (TRON's eta0 = 1e-4), 0 <= eta < 1/4.
    cg_maxiter: conjugate-gradient iterations per subproblem, over all faces (default n).
    cg_rtol: the largest relative residual at which CG stops (the forcing term eta_k <= cg_rtol), in (0, 1).
    preconditioner: "diagonal" preconditions CG with the Hessian's diagonal on the free variables (Jacobi);
        "factorization" with the Cholesky factorization of the free block of a dense Hessian (TRON's incomplete
        Cholesky, complete); "none" does not; "auto" (default) takes "factorization" for a dense Hessian,
        "diagonal" for an operator that has a diagonal (and its dense form at an earlier point, refreshed
        when CG grows expensive, once CG needs many iterations: ``DENSIFY_AFTER``), "none" with hessp only;
        a Gram operator X' D X of dense or Dask data with n <= ``DENSE_GRAM_LIMIT`` is formed densely at each
        subproblem and used as a dense Hessian, and an object's own dense Hessian of that size is used whole
        even where the object also has hessp.
    unbounded_threshold: f below -unbounded_threshold at a feasible point ends the run as UNBOUNDED.
    """

    initial_radius: float | None = None
    max_trust_radius: float = math.inf
    eta: float = 1e-4
    cg_maxiter: int | None = None
    cg_rtol: float = 0.1
    preconditioner: str = "auto"
    unbounded_threshold: float = 1e20

    def validate(self) -> None:
        super().validate()
        if self.initial_radius is not None:
            _require(_is_real(self.initial_radius) and math.isfinite(self.initial_radius)
                     and self.initial_radius > 0, "initial_radius", "a finite number > 0 or None",
                     self.initial_radius)
        _require(_is_real(self.max_trust_radius) and self.max_trust_radius > 0
                 and self.max_trust_radius >= (self.initial_radius or 0), "max_trust_radius",
                 "a number > 0 and >= initial_radius", self.max_trust_radius)
        _require(_is_real(self.eta) and 0 <= self.eta < 0.25, "eta", "a number in [0, 0.25)", self.eta)
        if self.cg_maxiter is not None:
            _require(_is_integer(self.cg_maxiter) and self.cg_maxiter >= 1, "cg_maxiter", "an integer >= 1 or None",
                     self.cg_maxiter)
        _require(_is_real(self.cg_rtol) and 0 < self.cg_rtol < 1, "cg_rtol", "a number in (0, 1)", self.cg_rtol)
        _require(self.preconditioner in ("auto", "diagonal", "factorization", "none"), "preconditioner",
                 "'auto', 'diagonal', 'factorization' or 'none'", self.preconditioner, numeric=False)
        _require(_is_real(self.unbounded_threshold) and self.unbounded_threshold > 0, "unbounded_threshold",
                 "a number > 0", self.unbounded_threshold)


@dataclass(frozen=True)
class ProjectedGradientTests:
    """tron's stopping tests (module docstring); the skeleton reports :meth:`measure` in place of |g|_inf."""

    gtol: float
    maxiter: int
    lo: object
    hi: object
    unbounded_threshold: float

    def measure(self, evaluator, x, g) -> float:
        """||P(x - g) - x||_inf for the user's g (the solver's g carries the evaluator's scale)."""
        return projected_gradient_norm(evaluator.xp, x, evaluator.user_array(g), self.lo, self.hi)

    def at_top(self, evaluator, k: int, x, f: float, g):
        outcome = stopping_test(self.measure(evaluator, x, g), k, self.gtol, self.maxiter)
        if outcome is None and evaluator.user_value(f) < -self.unbounded_threshold:
            return Outcome.UNBOUNDED, f"f = {evaluator.user_value(f):.6g} at a point within the bounds."
        return outcome, None

    def after_trial(self, evaluator, trial):
        if trial.f_trial == -math.inf:
            return Outcome.UNBOUNDED, "f = -inf at a trial point within the bounds (the last finite point is returned)."
        return None, None

    def nonfinite_gradient(self, evaluator):
        return Outcome.NON_FINITE, "The gradient had NaN or inf entries at the next point, where f was finite."


class TronRadius(NocedalWrightRadius):
    """TRON's radius rule (module docstring) on the driver's ratio rho (with its rounding safeguard) and the
    first radius from the projected gradient; acceptance, stalling and non-finite trials as
    :class:`NocedalWrightRadius`. ``radius`` is the latest radius (the result's ``tr_radius``)."""

    SIGMA1, SIGMA2, SIGMA3 = 0.25, 0.5, 4.0

    def __init__(self, opts, machine_eps: float, lo, hi):
        super().__init__(opts, machine_eps)
        self.lo, self.hi = lo, hi
        self.radius = None
        self.first_update = True

    def initial(self, subproblem, model, f: float) -> float:
        radius = self.opts.initial_radius
        if radius is None:
            xp, ev = model.xp, model.evaluator
            radius = norm(xp, projected_gradient(xp, model.x, ev.user_array(model.g), self.lo, self.hi))
            if not (math.isfinite(radius) and radius > 0):
                radius = 1.0
        self.radius = min(float(radius), self.opts.max_trust_radius)
        return self.radius

    def update(self, radius: float, rho: float | None, step: Step, f: float, f_trial: float | None) -> float:
        snorm = step.length
        if self.first_update and rho is not None:  # TRON: the first step also bounds the radius
            radius = min(radius, snorm)
        self.first_update = False
        if rho is None or not math.isfinite(rho):
            radius = super().update(radius, rho, step, f, f_trial) if rho is None else 0.25 * min(radius, snorm)
        else:
            # alpha minimizes the quadratic through f(x), slope g's and f(x + s) along s (TRON's sigma3 if convex)
            curvature = f_trial - f - step.slope
            alpha = self.SIGMA3 if curvature <= 0 else max(self.SIGMA1, -0.5 * step.slope / curvature)
            s1, s2, s3 = self.SIGMA1, self.SIGMA2, self.SIGMA3
            if rho < self.opts.eta:
                radius = min(alpha * snorm, s2 * radius)
            elif rho < 0.25:
                radius = max(s1 * radius, min(alpha * snorm, s2 * radius))
            elif rho < 0.75:
                radius = max(s1 * radius, min(alpha * snorm, s3 * radius))
            else:
                radius = max(radius, min(alpha * snorm, s3 * radius))
                if step.hits_boundary:  # CG stopped on the region's boundary (a bent step may be shorter)
                    radius = max(radius, 2.0 * self.radius)
        self.radius = min(radius, self.opts.max_trust_radius)
        return self.radius


def _breakpoints(xp, x, d, lo, hi) -> tuple[float, float]:
    """The smallest and the largest t > 0 at which a variable of x + t d reaches a bound (inf: none does, or
    one moves without bound)."""
    inf = xp.full_like(x, math.inf)
    t = xp.where(d > 0, (hi - x) / xp.where(d > 0, d, 1.0), xp.where(d < 0, (lo - x) / xp.where(d < 0, d, -1.0), inf))
    moving = d != 0
    t_min = float(xp.min(t))
    t_max = float(xp.max(xp.where(moving, t, xp.zeros_like(t)))) if bool(xp.any(moving)) else 0.0
    return t_min, t_max


class ProjectedNewtonSubproblem:
    """The step of tron: generalized Cauchy point, then preconditioned Steihaug-CG on the free variables with
    projected searches (module docstring). Mutable: keeps the Cauchy step length t between iterations, and the
    first projected gradient norm (the forcing term's reference); one per run."""

    uses_hessian = False

    def __init__(self, lo, hi, opts, mode: str):
        self.lo, self.hi = lo, hi
        self.cg_maxiter, self.cg_rtol, self.mode = opts.cg_maxiter, opts.cg_rtol, mode
        self.t = 1.0
        self.pg0 = None
        self.cg_iterations = 0  # over the run
        self.last_cg = self._cg_start = 0  # the last subproblem's CG iterations
        self.auto = mode == "auto"
        self.lagged = None  # the dense form of the Hessian at an earlier point (mode "lagged")
        self._dense = self._hessp = None  # this subproblem's dense Hessian and its products (mode "dense")

    def solve(self, model, radius: float) -> Step:
        xp, x, g = model.xp, model.x, model.g
        lo, hi = self.lo, self.hi
        self._dense = self._hessp = None
        mode = self._mode(model)
        if mode in ("dense", "factorization"):  # this point's Hessian as a matrix: every product of the step
            # from it (the objective's own product may cost a pass over its data: Dask)
            H = model.hessian()
            self._dense = dense = H.to_dense() if mode == "dense" else dense_form(H)
            if dense is not None:
                self._hessp = lambda v: dense @ v
        pg = norm(xp, projected_gradient(xp, x, g, lo, hi))
        if self.pg0 is None:
            self.pg0 = pg
        forcing_ratio = min(self.cg_rtol, math.sqrt(pg / self.pg0)) if self.pg0 > 0 else self.cg_rtol
        xc, Hs = self._cauchy_point(xp, model, x, g, radius)
        xc, Hs, cg_hit = self._subspace(xp, model, mode, x, g, xc, Hs, radius, forcing_ratio)
        s = xc - x
        gs, sHs = dot(xp, g, s), dot(xp, s, Hs)
        if not (math.isfinite(gs) and math.isfinite(sHs)):
            _check_product(xp, Hs)
        length = norm(xp, s)
        return Step(s, -(gs + 0.5 * sHs), cg_hit or length >= radius, length, slope=gs, point=xc)

    def _model_change(self, xp, model, s, g):
        """(H s, g's + 1/2 s'Hs)."""
        Hs = (self._hessp or model.hessp)(s)
        q = dot(xp, g, s) + 0.5 * dot(xp, s, Hs)
        if not math.isfinite(q):
            _check_product(xp, Hs)
        return Hs, q

    def _cauchy_point(self, xp, model, x, g, radius: float):
        """The generalized Cauchy point x_c = P(x - t g) (module docstring, step 1) and H (x_c - x)."""
        lo, hi = self.lo, self.hi

        def trial(t):
            xc = xp.clip(x - t * g, lo, hi)
            s = xc - x
            Hs, q = self._model_change(xp, model, s, g)
            return xc, Hs, q <= MU0 * dot(xp, g, s) and norm(xp, s) <= radius

        t = self.t
        xc, Hs, ok = trial(t)
        if not ok:
            for _ in range(MAX_SEARCH):
                t *= 0.1
                xc, Hs, ok = trial(t)
                if ok:
                    break
        else:
            t_max = _breakpoints(xp, x, -g, lo, hi)[1]
            unbounded = bool(xp.any(((g < 0) & (hi == math.inf)) | ((g > 0) & (lo == -math.inf))))
            for _ in range(MAX_SEARCH):
                if not unbounded and t > t_max:
                    break
                bigger = trial(10.0 * t)
                if not bigger[2]:
                    break
                t, (xc, Hs, ok) = 10.0 * t, bigger
        self.t = t
        return xc, Hs

    def _subspace(self, xp, model, *args):
        try:
            return self._faces(xp, model, *args)
        finally:  # what this subproblem's CG cost decides the next one's preconditioner (see _mode)
            self.last_cg = self.cg_iterations - self._cg_start

    def _faces(self, xp, model, mode: str, x, g, xc, Hs, radius: float, forcing_ratio: float):
        """Subspace minimization from the Cauchy point (module docstring, step 2); returns (x+, H (x+ - x), whether
        CG stopped on the region's boundary)."""
        lo, hi = self.lo, self.hi
        budget = self.cg_maxiter or x.shape[0]
        diagonal = dense = products = None  # mode: this subproblem's preconditioner (``_mode``, chosen in solve)
        if mode in ("dense", "factorization"):
            dense = self._dense
        elif mode == "lagged":
            if self.lagged is None or self.last_cg > REFRESH_AFTER:
                self.lagged = model.hessian().to_dense()
            dense, products = self.lagged, model.hessp
        elif mode != "off":
            diagonal = model.diagonal(required=mode == "required")
        self._cg_start = self.cg_iterations
        for _face in range(x.shape[0]):
            free = (xc > lo) & (xc < hi)
            if not bool(xp.any(free)) or budget <= 0:
                return xc, Hs, False
            mask = xp.astype(free, x.dtype)
            gq = g + Hs  # the gradient of q at x_c
            if dense is not None:
                sol, d = self._factorization_cg(xp, dense, free, g, gq, radius, budget, forcing_ratio, products)
            else:
                D = mask if diagonal is None else self._jacobi(xp, diagonal, free, mask)
                tol = forcing_ratio * norm(xp, D * g)
                sol, _ = steihaug_cg(xp, lambda v, D=D: D * model.hessp(D * v), D * gq, radius, maxiter=budget,
                                     forcing=tol)
                d = D * sol.step
            budget -= sol.factorizations
            self.cg_iterations += sol.factorizations
            if max_abs(xp, d) == 0.0:
                return xc, Hs, sol.hits_boundary
            xc_next, Hsa, new_bounds = self._projected_search(xp, model, xc, d, gq)
            xc, Hs = xc_next, Hs + Hsa
            if sol.hits_boundary or not new_bounds:
                return xc, Hs, sol.hits_boundary
            gq = g + Hs  # CG was cut short by a bound: go on in the smaller face unless q is stationary on this one
            pgq = xp.where(xc <= lo, xp.minimum(gq, 0.0), xp.where(xc >= hi, xp.maximum(gq, 0.0), gq)) * mask
            if norm(xp, pgq) <= forcing_ratio * norm(xp, g * mask):
                return xc, Hs, False
        return xc, Hs, False

    def _mode(self, model) -> str:
        """The preconditioner: "auto" is decided at the first subproblem by the Hessian's structure (a dense
        Hessian without hessp: "factorization" of its free block; an operator: "diagonal" where it has one;
        hessp, or a dense Hessian beside it, found only at its first evaluation: "off")."""
        if self.mode == "auto":
            ev = model.evaluator
            if not ev.diagonal_is_cheap:
                self.mode = "off"
            elif dense_form(model.hessian()) is not None:  # an object's own small dense Hessian: used whole
                small = ev.hessian_source == "hess_operator" and model.g.shape[0] <= DENSE_GRAM_LIMIT
                self.mode = "factorization" if ev.diagonal_is_cheap or small else "off"
            elif model.g.shape[0] <= DENSE_GRAM_LIMIT and _gram_of_data(model.hessian()):
                self.mode = "dense"
            else:
                self.mode = "diagonal"
        elif (self.auto and self.mode == "diagonal" and self.last_cg > max(DENSIFY_AFTER, model.g.shape[0] // 10)
              and model.g.shape[0] <= DENSE_LIMIT and not products_only(model.hessian())):
            self.mode = "lagged"
        return self.mode

    @staticmethod
    def _factorization_cg(xp, H, free, g, gq, radius: float, budget: int, forcing_ratio: float, products=None):
        """Steihaug-CG on the free block H_FF of a dense Hessian, preconditioned by M = (H_FF + tau I) / c, the
        Cholesky factorization of Algorithm 3.3 of Nocedal & Wright (2006) (``_newton_step``), c the geometric
        mean of its diagonal (so that the radius keeps the units of a length): TRON's incomplete Cholesky
        preconditioner of the free block, complete. CG then ends in one step where H_FF is positive definite and
        the step fits the region ||d||_M <= radius. ``products``: the current Hessian's products where H is the
        dense form at an earlier point (mode "lagged"); None: H is current. Returns (CG's solution, d on all
        variables)."""
        index = xp.nonzero(free)[0]
        block = xp.take(xp.take(H, index, axis=0), index, axis=1)
        factorization = shifted_factorization(xp, dense_operator(block, symmetric=True), preconditioner=True)
        diagonal = xp.abs(xp.linalg.diagonal(block) + factorization.shift)
        c = float(xp.exp(xp.mean(xp.log(xp.maximum(diagonal, xp.full_like(diagonal, 1e-300))))))
        solve_m = lambda r: c * factorization.solve(r)
        g_free, gq_free = xp.take(g, index), xp.take(gq, index)
        tol = forcing_ratio * math.sqrt(max(dot(xp, g_free, solve_m(g_free)), 0.0))
        def scatter(v):
            full = xp.zeros_like(g)
            full[free] = v  # boolean-mask assignment (the array API has no integer-array setitem)
            return full

        hessp = (lambda v: block @ v) if products is None else (lambda v: xp.take(products(scatter(v)), index))
        sol, _, _ = preconditioned_steihaug_cg(xp, hessp, gq_free, radius, solve_m=solve_m, maxiter=budget,
                                               forcing=tol)
        return sol, scatter(sol.step)

    @staticmethod
    def _jacobi(xp, diagonal, free, mask):
        """M^(-1/2) of the Jacobi preconditioner on the free variables (``_trust_region.jacobi_scaling``), zero on
        the fixed ones."""
        scaling = jacobi_scaling(xp, diagonal[free])
        if scaling is None:
            return mask
        D = xp.zeros_like(mask)
        D[free] = scaling
        return D

    def _projected_search(self, xp, model, xc, d, gq):
        """x+ = P(x_c + a d) for a = 1, 1/2, ... with q(x+) - q(x_c) <= mu0 gq'(x+ - x_c), a no smaller than the
        first breakpoint (where the path leaves the straight segment). Returns (x+, H (x+ - x_c), whether a
        bound became active)."""
        lo, hi = self.lo, self.hi
        t_min, t_max = _breakpoints(xp, xc, d, lo, hi)
        if t_min >= 1.0:  # CG's point lies in the box: its decrease is CG's
            x_next = xp.clip(xc + d, lo, hi)
            return x_next, (self._hessp or model.hessp)(x_next - xc), t_min == 1.0
        # beyond the last breakpoint the path stands still: start there when it comes before a = 1 (a step
        # of CG to a far region boundary along zero curvature would otherwise take dozens of halvings to
        # come back to the box's scale)
        a = min(1.0, t_max) if t_max > 0 else 1.0
        for _ in range(MAX_SEARCH):
            x_next = xp.clip(xc + a * d, lo, hi)
            sa = x_next - xc
            Hsa, q = self._model_change(xp, model, sa, gq)
            if q <= MU0 * dot(xp, gq, sa) or a <= t_min:
                return x_next, Hsa, True
            a = max(0.5 * a, t_min)
        return x_next, Hsa, True


def _gram_of_data(op) -> bool:
    """Whether ``op`` is a Gram operator X' D X of dense or Dask data X with at least as many rows as columns,
    alone or plus diagonal or identity terms (``DENSE_GRAM_LIMIT``): forming it is one BLAS-3 product, where
    each product with it reads X twice (a wide X has cheaper products than the n x n matrix)."""
    from ._operators import DiagonalOperator, GramOperator, ScaledIdentity, SumOperator

    terms = op.terms if isinstance(op, SumOperator) else (op,)
    grams = [t for t in terms if isinstance(t, GramOperator)]
    return (len(grams) == 1 and grams[0].kind in ("dense", "dask") and grams[0].A.shape[0] >= grams[0].A.shape[1]
            and all(isinstance(t, (GramOperator, DiagonalOperator, ScaledIdentity)) for t in terms))


def _check_product(xp, Hv):
    if not all_finite(xp, Hv):
        raise NonFiniteValue("A Hessian-vector product has NaN or inf entries.")
    raise SolverOverflow("The model value of a tron step overflowed.")


def _preconditioner_mode(option: str, ev: Evaluator) -> str:
    """"auto", "required" (the diagonal), "factorization" or "off" for :class:`ProjectedNewtonSubproblem` from the
    ``preconditioner`` option."""
    if option in ("diagonal", "factorization"):
        if not ev.has_hessian:
            raise TypeError(f"method 'tron' with preconditioner={option!r} needs the Hessian: pass "
                            "hess=callable(x, *args) (an array or a ricci.solvers Operator); only hessp was given")
        return "required" if option == "diagonal" else "factorization"
    if option == "auto" and ev.diagonal_is_cheap:
        return "auto"
    return "off"


def tron(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None, constraints=(),
         **options):
    """Minimize f(x) subject to lo <= x <= hi by the projected trust-region Newton method of Lin & More (1999)
    (module docstring), with the exact Hessian (``hess``: an array or an operator) or its products (``hessp``).

    A scipy custom-method callable: ``scipy.optimize.minimize(f, x0, method=ricci.solvers.tron, jac=, hess=,
    bounds=Bounds(lo, hi))``. ``bounds``: a scipy.optimize.Bounds, a sequence of (lo, hi) pairs (None: no
    bound) or None. x0 is projected onto the box first (as L-BFGS-B does). Options: :class:`TronOptions`;
    ``tol`` sets gtol, the bound on ``||P(x - g) - x||_inf``. The result adds to scipy's fields
    ``active_mask`` (-1 at a lower bound, +1 at an upper bound, 0 free, as scipy.optimize.least_squares),
    ``proj_grad_norm`` (``||P(x - g) - x||_inf`` at x) and ``tr_radius`` (the last trust radius).
    """
    if constraints:
        raise ValueError(f"method 'tron' takes bounds only; got constraints={constraints!r:.80}. For general "
                         "constraints use method 'auglag' (or method=None to choose)")
    opts = parse_options(TronOptions, "tron", options, tol)
    xp, x0 = prepare_x0(x0)
    lo, hi = standardize_bounds(bounds, x0.shape[0], xp, dtype=x0.dtype)
    x0 = xp.clip(x0, lo, hi)
    functions = resolve_objective(fun, jac, hess, hessp, method="tron", needs="hessian_or_product")
    with FloatingPointGuard() as guard:
        ev = Evaluator(xp, x0, functions, args, guard, method="tron")
        return _run(xp, ev, x0, lo, hi, opts, callback)


def _run(xp, ev, x0, lo, hi, opts, callback):
    maxiter = 200 * x0.shape[0] if opts.maxiter is None else int(opts.maxiter)
    tests = ProjectedGradientTests(opts.gtol, maxiter, lo, hi, opts.unbounded_threshold)
    skeleton = IterationSkeleton(ev, x0, method="tron", step_label="radius", callback=callback, tests=tests,
                                 disp=opts.disp)
    radius_rule = TronRadius(opts, skeleton.machine_eps, lo, hi)
    subproblem = ProjectedNewtonSubproblem(lo, hi, opts, _preconditioner_mode(opts.preconditioner, ev))
    run = trust_region_iterations(skeleton, x0, subproblem, radius_rule)
    res = skeleton.result(run.outcome, run.x, run.f, run.g, run.nit, uses_hessian=False, detail=run.detail)
    pg = projected_gradient_norm(xp, run.x, res.jac, lo, hi) if all_finite(xp, res.jac) else math.nan
    if run.outcome is Outcome.CONVERGED:
        res.message = _CONVERGED_MESSAGE if not run.detail else f"{_CONVERGED_MESSAGE} {run.detail}"
    res.update(active_mask=active_mask(xp, run.x, lo, hi), proj_grad_norm=pg, tr_radius=radius_rule.radius,
               cg_niter=subproblem.cg_iterations)
    return res


_CONVERGED_MESSAGE = ("Optimization terminated successfully: the projected gradient's infinity norm "
                      "||P(x - g) - x||_inf is at most gtol.")
