"""The trust-region driver (Algorithm 4.1 of Nocedal & Wright (2006)), for every trust-region method of
``minimize`` and for Levenberg-Marquardt (``_levenberg_marquardt.py``) on the residual model.

The driver (:func:`trust_region_iterations`) runs: solve the subproblem, evaluate the trial point, compare
the actual with the predicted reduction, update the radius, accept or reject; what differs between the methods
is a *radius rule* object (the initial radius, the ratio rho, its update, the acceptance test, what a
non-finite gradient means, whether every trial is an iteration) and the stopping tests of the iteration
skeleton (``_iteration.py``; ``least_squares`` brings MINPACK's, ``minimize`` the gradient test).
:class:`NocedalWrightRadius` is ``minimize``'s rule, described next.

Each iteration minimizes the quadratic model m(p) = f + g'p + 1/2 p'Bp within ||p|| <= radius (the
*subproblem*, solved by one of the step modules: More-Sorensen, Steihaug-CG, GLTR, dogleg), then compares the
actual reduction with the predicted one, rho = (f(x) - f(x + p)) / (m(0) - m(p)):
rho < 1/4 shrinks the radius to radius / 4, rho > 3/4 with a step on the boundary doubles it (up to
max_trust_radius), and the step is accepted when rho > eta. The gradient and the Hessian are evaluated only at
accepted points (the Hessian lazily, when the subproblem first asks for it). A trial point with a non-finite
value counts as rho = -inf.

Preconditioning (trust-ncg, trust-krylov): with a symmetric positive definite M = diag(m) the region becomes
||p||_M = sqrt(p'Mp) <= radius, and in the variables y = M^(1/2) p the subproblem is the ordinary one for
g_y = M^(-1/2) g and B_y = M^(-1/2) B M^(-1/2); Steihaug-CG on it is preconditioned CG (Section 7.1 of Nocedal
& Wright (2006), "Preconditioning" after Algorithm 7.2; Gould, Lucidi, Roma & Toint (1999) for GLTR). M is the
Jacobi preconditioner: m_i = |B_ii|, raised to at least 1e-4 max_j |B_jj| (M must be positive definite where
B is not, and its condition bounded: a coordinate of zero or negative curvature gets no unbounded stretch),
then divided by the geometric mean of its entries so that radius keeps the units of a Euclidean length (the
region ||p||_M <= radius has the volume of the Euclidean ball). M is taken afresh at every accepted point: a
scaled trust region with uniformly bounded scaling, as Levenberg-Marquardt's D (Conn, Gould & Toint,
"Trust-Region Methods" (2000), treat norms that change from iteration to iteration). The driver measures
steps in the region's norm.

trust-ncg also takes a *lagged factorization* preconditioner: M = (H(x_j) + tau I) / c, the Hessian at an
earlier accepted point x_j made positive definite by Algorithm 3.3 of Nocedal & Wright (2006) and factorized in
its structure (``H.factorize(tau)``), c the geometric mean of its diagonal (the units of radius, as above).
It is kept while the subproblems stay cheap and refactorized at the next accepted point after a subproblem
needed more than REFRESH_AFTER products; Steihaug-CG then runs in its PCG form, applying M as a solve
(``_steihaug.preconditioned_steihaug_cg``). Where the Hessian changes slowly (logistic regression: only the
weights s of X' diag(s) X move) a handful of products per subproblem suffice, whatever the condition of H.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ._arrays import (
    NonFiniteValue,
    all_finite,
    dot,
    max_abs,
    norm,
    overflow_detail,
)
from ._dogleg import dogleg_step
from ._iteration import IterationSkeleton, Run
from ._lanczos import gltr
from ._more_sorensen import more_sorensen
from ._newton_step import shifted_factorization
from ._result import Outcome
from ._steihaug import preconditioned_steihaug_cg, steihaug_cg
from ._user_operators import products_only


@dataclass(frozen=True)
class Step:
    """A subproblem's step p. ``slope`` (g'p), ``multiplier`` (lambda of (B + lambda M) p = -g) and
    ``model_reduction`` (a callable giving m(0) - min m, the model's reduction at its own unconstrained
    minimizer) are given by the subproblems whose radius rule or tests use them (Levenberg-Marquardt's)."""

    step: object
    predicted_decrease: float  # m(0) - m(p)
    hits_boundary: bool
    length: float  # ||p|| in the norm of the region (Euclidean, ||p||_M with a preconditioner M, ||D p|| for LM)
    slope: float | None = None
    multiplier: float | None = None
    model_reduction: Callable | None = None
    region_norm: Callable | None = None  # v -> the region's norm of v (as the subproblem now measures it)
    point: object = None  # the trial point, where the subproblem forms it itself (tron: exactly on the bounds)


class _Model:
    """The quadratic model at x: gradient g, and the operator B, products with B or its diagonal on demand (the
    evaluator's Hessian; a residual model's subproblem asks the evaluator for its curvature operator)."""

    def __init__(self, evaluator, x, g):
        self.evaluator, self.x, self.g = evaluator, x, g
        self.xp = evaluator.xp

    def hessian(self):
        return self.evaluator.checked_hessian(self.x)

    def hessp(self, v):
        return self.evaluator.hess_vec(self.x, v)

    def diagonal(self, required: bool):
        return self.evaluator.hessian_diagonal(self.x, required=required)


def _predicted(xp, g, p, Bp) -> float:
    return -(dot(xp, g, p) + 0.5 * dot(xp, p, Bp))


@dataclass(frozen=True)
class MatrixSubproblem:
    """A subproblem solved on the Hessian matrix B: trust-exact (More-Sorensen) and dogleg.

    ``solve_step(xp, B, g, radius)`` returns a ``SubproblemSolution``; the predicted decrease is
    m(0) - m(p) = -(g'p + 1/2 p'Bp)."""

    solve_step: Callable
    uses_hessian = True

    def solve(self, model: _Model, radius: float) -> Step:
        xp, B, g = model.xp, model.hessian(), model.g
        sol = self.solve_step(xp, B, g, radius)
        return Step(sol.step, _predicted(xp, g, sol.step, B.matvec(sol.step)), sol.hits_boundary,
                    norm(xp, sol.step))


@dataclass(frozen=True)
class ProductSubproblem:
    """A subproblem solved on Hessian-vector products: trust-ncg (Steihaug-CG) and trust-krylov (GLTR).

    ``solve_step(xp, hessp, g, radius, maxiter=)`` returns ``(SubproblemSolution, predicted decrease)``;
    ``maxiter`` caps the products (default n). ``jacobi``: precondition with the Hessian's diagonal (see the
    module docstring; the subproblem is then solved in the variables y = M^(1/2) p), "auto" while the evaluator
    finds the diagonal cheap and the Hessian has one, "required" (a TypeError where it has none), or "off"."""

    solve_step: Callable
    maxiter: int | None = None
    jacobi: str = "off"
    uses_hessian = False

    def solve(self, model: _Model, radius: float) -> Step:
        xp, g = model.xp, model.g
        maxiter = self.maxiter or g.shape[0]
        scaling = None
        if self.jacobi == "required" or self.jacobi == "auto" and model.evaluator.diagonal_is_cheap:
            scaling = jacobi_scaling(xp, model.diagonal(required=self.jacobi == "required"))
        if scaling is None:
            sol, predicted = self.solve_step(xp, model.hessp, g, radius, maxiter=maxiter)
            return Step(sol.step, predicted, sol.hits_boundary, norm(xp, sol.step))
        sol, predicted = self.solve_step(xp, lambda v: scaling * model.hessp(scaling * v), scaling * g, radius,
                                         maxiter=maxiter)  # the model value is the same in either variables
        return Step(scaling * sol.step, predicted, sol.hits_boundary, norm(xp, sol.step))


JACOBI_RANGE = 1e-4
"""The Jacobi preconditioner's entries are at least JACOBI_RANGE times its largest (cond(M) <= 1e4)."""


def jacobi_scaling(xp, diagonal):
    """M^(-1/2) for the Jacobi preconditioner M of the module docstring, or None (no preconditioning) when the
    diagonal is unavailable, zero or not finite."""
    if diagonal is None:
        return None
    magnitude = xp.abs(diagonal)
    top = float(xp.max(magnitude))
    if not (math.isfinite(top) and top > 0.0):
        return None
    m = xp.maximum(magnitude, xp.full_like(magnitude, JACOBI_RANGE * top))
    m = m / xp.exp(xp.mean(xp.log(m)))  # geometric mean 1
    return 1.0 / xp.sqrt(m)


REFRESH_AFTER = 10
"""A lagged factorization preconditioner is renewed after a subproblem that needed more products than this."""


class LaggedFactorization:
    """The state of the lagged factorization preconditioner of one run (see the module docstring): the
    current M^-1 and the products the last subproblem needed."""

    def __init__(self, method: str):
        self.method = method
        self.solve = None
        self.last_products = 0
        self.factorizations = 0

    def inverse(self, model: _Model):
        """``r -> M^-1 r``, refactorized at the model's point when none exists or the last subproblem was
        expensive."""
        if self.solve is None or self.last_products > REFRESH_AFTER:
            xp, H = model.xp, model.hessian()
            if products_only(H):
                raise TypeError(f"method {self.method!r} with preconditioner='factorization' needs a Hessian it can "
                                f"factorize, but the Hessian is {H.name}, known only through products; return an "
                                "array or a structured Operator, or pass preconditioner='none'")
            factorization = shifted_factorization(xp, H, preconditioner=True)
            diagonal = xp.abs(H.diagonal() + factorization.shift)
            c = float(xp.exp(xp.mean(xp.log(xp.maximum(diagonal, xp.full_like(diagonal, 1e-300))))))
            self.solve = lambda r: c * factorization.solve(r)
            self.factorizations += 1
        return self.solve


@dataclass(frozen=True)
class LaggedFactorizationSubproblem:
    """trust-ncg with the lagged factorization preconditioner: preconditioned Steihaug-CG in the M-norm."""

    maxiter: int | None
    state: LaggedFactorization
    uses_hessian = False

    def solve(self, model: _Model, radius: float) -> Step:
        xp, g = model.xp, model.g
        sol, Bp, length = preconditioned_steihaug_cg(xp, model.hessp, g, radius, solve_m=self.state.inverse(model),
                                                     maxiter=self.maxiter or g.shape[0])
        self.state.last_products = sol.factorizations  # CG's count of products
        return Step(sol.step, _predicted(xp, g, sol.step, Bp), sol.hits_boundary, length)


def more_sorensen_subproblem(k_easy: float, maxiter: int | None):
    """trust-exact: the nearly exact solution of More & Sorensen (1983), at most ``maxiter`` (default 25)
    Cholesky-based iterations before the eigendecomposition fallback."""
    return MatrixSubproblem(partial(more_sorensen, k_easy=k_easy, maxiter=25 if maxiter is None else maxiter))


def dogleg_subproblem(beta: float = 1e-3):
    """dogleg: the dogleg path between the Cauchy point and the (safeguarded) Newton point."""
    return MatrixSubproblem(partial(dogleg_step, beta=beta))


def steihaug_subproblem(maxiter: int | None, jacobi: str = "off", *, lagged_factorization: bool = False):
    """trust-ncg: Steihaug's truncated CG (Jacobi-preconditioned with ``jacobi``, or with the lagged
    factorization preconditioner); CG carries B p, so the model value costs no extra product."""
    if lagged_factorization:
        return LaggedFactorizationSubproblem(maxiter, LaggedFactorization("trust-ncg"))

    def solve_step(xp, hessp, g, radius, *, maxiter):
        sol, Bp = steihaug_cg(xp, hessp, g, radius, maxiter=maxiter)
        return sol, _predicted(xp, g, sol.step, Bp)

    return ProductSubproblem(solve_step, maxiter, jacobi)


def lanczos_subproblem(maxiter: int | None, jacobi: str = "off"):
    """trust-krylov: the generalized Lanczos trust-region method (GLTR), Jacobi-preconditioned with ``jacobi``."""
    return ProductSubproblem(gltr, maxiter, jacobi)


@dataclass(frozen=True)
class Trial:
    """What came of one trial step from x (value f): the step, the trial value (None when the trial point was
    not evaluated; inf when not finite), the ratio rho of actual to predicted reduction, the radius after its
    update, and whether the point was accepted (x_new, f_new: the point the iteration continues from)."""

    x: object
    f: float
    step: Step
    f_trial: float | None
    rho: float
    radius: float
    accepted: bool
    x_new: object
    f_new: float


class NocedalWrightRadius:
    """``minimize``'s radius rule (Algorithm 4.1 of Nocedal & Wright (2006), see the module docstring): every
    trial is an iteration; rho < 1/4 shrinks the radius to radius / 4, rho > 3/4 with a step on the boundary
    doubles it (up to ``max_trust_radius``), rho > eta accepts; a trial point whose gradient is not finite is
    rejected. Keeps the count of consecutive non-finite trials of one run (mutable: one per run)."""

    trial_is_iteration = True

    def __init__(self, opts, machine_eps: float):
        self.opts, self.machine_eps = opts, machine_eps
        self.nonfinite_streak = 0

    def initial(self, subproblem, model, f: float) -> float:
        return float(self.opts.initial_trust_radius)

    def stalled(self, xp, x, radius: float):
        """``(outcome, detail)`` once the radius is negligible relative to x, else ``(None, None)``."""
        if radius > self.machine_eps * max(1.0, max_abs(xp, x)):
            return None, None
        if self.nonfinite_streak:
            return Outcome.NON_FINITE, ("f or its gradient was NaN or inf at every trial point until the trust "
                                        "radius became negligible.")
        return Outcome.NO_PROGRESS, None

    def after_solve(self, radius: float, step: Step) -> float:
        return radius

    def evaluates(self, step: Step) -> bool:
        """Whether the trial point is worth evaluating: the model predicts a decrease."""
        return step.predicted_decrease > 0 and math.isfinite(step.predicted_decrease) and math.isfinite(step.length)

    def ratio(self, f: float, f_trial: float, step: Step) -> float:
        if not math.isfinite(f_trial):
            self.nonfinite_streak += 1
            return -math.inf
        self.nonfinite_streak = 0
        # Near the minimizer both reductions sink into the rounding of f; the safeguard of Conn, Gould & Toint
        # (2000), Section 17.4.2, adds delta ~ eps*|f| to both, so that a step predicted and achieved at that
        # level is judged by rho ~ 1, not by noise.
        delta = 10.0 * self.machine_eps * max(1.0, abs(f))
        return (f - f_trial + delta) / (step.predicted_decrease + delta)

    def update(self, radius: float, rho: float | None, step: Step, f: float, f_trial: float | None) -> float:
        if rho is None:  # not evaluated: the step is lost in rounding; shrink and retry
            p_norm = step.length
            return 0.25 * min(radius, p_norm) if p_norm > 0 and math.isfinite(p_norm) else 0.25 * radius
        if rho < 0.25:
            return 0.25 * radius
        if rho > 0.75 and step.hits_boundary:
            return min(2.0 * radius, self.opts.max_trust_radius)
        return radius

    def accepts(self, rho: float | None) -> bool:
        return rho is not None and rho > self.opts.eta

    def nonfinite_gradient(self, radius: float, step: Step):
        """``(stop, radius)`` for an accepted trial whose gradient is not finite: go on, the trial rejected and
        the radius shrunk below the step."""
        self.nonfinite_streak += 1
        return False, 0.25 * min(radius, step.length)


def minimize_trust_region(evaluator, x0, subproblem, opts, *, method: str, callback):
    """Run Algorithm 4.1; returns an OptimizeResult."""
    skeleton = IterationSkeleton(evaluator, x0, opts, method=method, step_label="radius", callback=callback)
    radius_rule = NocedalWrightRadius(opts, skeleton.machine_eps)
    run = trust_region_iterations(skeleton, x0, subproblem, radius_rule)
    return skeleton.result(run.outcome, run.x, run.f, run.g, run.nit, uses_hessian=subproblem.uses_hessian,
                           detail=run.detail)


def trust_region_iterations(skeleton, x0, subproblem, radius_rule):
    """The trust-region iteration on the skeleton's evaluator and tests, with a subproblem and a radius rule
    (:class:`NocedalWrightRadius` for ``minimize``; MINPACK's for Levenberg-Marquardt,
    ``_levenberg_marquardt.py``). Returns a ``_iteration.Run``.

    An iteration is every trial step when ``radius_rule.trial_is_iteration`` (``minimize``: the report, the
    stopping tests and the callback come after every trial), else every accepted step (MINPACK: the report and
    the gradient tests at each new point, the evaluation budget before every trial). A subproblem with an
    ``at_point(model)`` method is told of each new point before it is solved there. The skeleton's tests may
    provide ``before_trial(evaluator)`` and ``after_trial(evaluator, trial)``, each ``(outcome, detail)``."""
    evaluator, xp, tests = skeleton.evaluator, skeleton.xp, skeleton.tests
    before_trial = getattr(tests, "before_trial", None)
    after_trial = getattr(tests, "after_trial", None)
    at_point = getattr(subproblem, "at_point", None)
    x = x0
    f, g, outcome = skeleton.start(x)
    k, detail, fresh, model, radius = 0, None, True, None, None
    while outcome is None:
        if fresh and (model is None or model.x is not x):
            model = _Model(evaluator, x, g)
            if at_point is not None:
                at_point(model)
        if radius is None:
            radius = radius_rule.initial(subproblem, model, f)
        if fresh or radius_rule.trial_is_iteration:
            outcome = skeleton.stop(k, x, f, g, radius)
            if outcome is not None:
                break
        fresh = False
        outcome, detail = radius_rule.stalled(xp, x, radius)
        if outcome is None and before_trial is not None:
            outcome, detail = before_trial(evaluator)
        if outcome is not None:
            break
        try:
            step = subproblem.solve(model, radius)
        except NonFiniteValue as exc:  # the user's Hessian or Hessian-vector product
            outcome, detail = Outcome.NON_FINITE, str(exc)
            break
        except ArithmeticError as exc:  # the subproblem's own arithmetic (SolverOverflow, OverflowError)
            outcome, detail = Outcome.OVERFLOW, overflow_detail(exc)
            break
        radius = radius_rule.after_solve(radius, step)
        if radius_rule.trial_is_iteration:
            k += 1
        accepted, f_trial, rho, x_trial = False, None, None, None
        if radius_rule.evaluates(step):
            x_trial = x + step.step if step.point is None else step.point
            f_trial = evaluator.value(x_trial)
            rho = radius_rule.ratio(f, f_trial, step)
        radius = radius_rule.update(radius, rho, step, f, f_trial)
        x_old, f_old = x, f
        if radius_rule.accepts(rho):
            g_trial = evaluator.gradient(x_trial)
            if all_finite(xp, g_trial):
                x, f, g = x_trial, f_trial, g_trial
                accepted = fresh = True
                if not radius_rule.trial_is_iteration:
                    k += 1
                if at_point is not None:  # the subproblem's scaling follows the new point before the tests
                    model = _Model(evaluator, x, g)
                    at_point(model)
            else:
                stop, radius = radius_rule.nonfinite_gradient(radius, step)
                if stop:
                    outcome, detail = tests.nonfinite_gradient(evaluator)
                    break
        if after_trial is not None:
            outcome, detail = after_trial(evaluator, Trial(x_old, f_old, step, f_trial, -math.inf if rho is None
                                                           else rho, radius, accepted, x, f))
            if outcome is not None:
                break
        if (accepted or radius_rule.trial_is_iteration) and skeleton.callback_stops(
                x, f, g, k, trust_radius=radius, step_accepted=accepted):
            outcome = Outcome.CALLBACK_STOP
    return Run(outcome, x, f, g, k, detail or skeleton.detail)

