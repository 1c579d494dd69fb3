"""The trust-region driver (Algorithm 4.1 of Nocedal & Wright (2006)).

Each iteration minimizes the quadratic model m(p) = f + g'p + 1/2 p'Bp within ||p|| <= radius (the
*subproblem*, solved by one of the step modules: More-Sorensen, Steihaug-CG, GLTR, dogleg), then compares the
actual reduction with the predicted one, rho = (f(x) - f(x + p)) / (m(0) - m(p)):
rho < 1/4 shrinks the radius to radius / 4, rho > 3/4 with a step on the boundary doubles it (up to
max_trust_radius), and the step is accepted when rho > eta. The gradient and the Hessian are evaluated only at
accepted points (the Hessian lazily, when the subproblem first asks for it). A trial point with a non-finite
value counts as rho = -inf.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ._arrays import NonFiniteValue, all_finite, dot, max_abs, norm, overflow_detail
from ._dogleg import dogleg_step
from ._iteration import IterationSkeleton
from ._lanczos import gltr
from ._more_sorensen import more_sorensen
from ._result import Outcome
from ._steihaug import steihaug_cg


@dataclass(frozen=True)
class Step:
    step: object
    predicted_decrease: float  # m(0) - m(p)
    hits_boundary: bool


class _Model:
    """The quadratic model at x: gradient g, and B or products with B computed on demand."""

    def __init__(self, evaluator, x, g):
        self.evaluator, self.x, self.g = evaluator, x, g
        self.xp = evaluator.xp

    def hessian(self):
        H = self.evaluator.hessian(self.x)
        if not all_finite(self.xp, H):
            raise NonFiniteValue("The Hessian has NaN or inf entries.")
        return H

    def hessp(self, v):
        return self.evaluator.hess_vec(self.x, v)


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
        return Step(sol.step, _predicted(xp, g, sol.step, B @ sol.step), sol.hits_boundary)


@dataclass(frozen=True)
class ProductSubproblem:
    """A subproblem solved on Hessian-vector products: trust-ncg (Steihaug-CG) and trust-krylov (GLTR).

    ``solve_step(xp, hessp, g, radius, maxiter=)`` returns ``(SubproblemSolution, predicted decrease)``;
    ``maxiter`` caps the products (default n)."""

    solve_step: Callable
    maxiter: int | None = None
    uses_hessian = False

    def solve(self, model: _Model, radius: float) -> Step:
        g = model.g
        sol, predicted = self.solve_step(model.xp, model.hessp, g, radius, maxiter=self.maxiter or g.shape[0])
        return Step(sol.step, predicted, sol.hits_boundary)


def more_sorensen_subproblem(k_easy: float, maxiter: int | None):
    """trust-exact: the nearly exact solution of More & Sorensen (1983), at most ``maxiter`` (default 25)
    Cholesky-based iterations before the eigendecomposition fallback."""
    return MatrixSubproblem(partial(more_sorensen, k_easy=k_easy, maxiter=25 if maxiter is None else maxiter))


def dogleg_subproblem(beta: float = 1e-3):
    """dogleg: the dogleg path between the Cauchy point and the (safeguarded) Newton point."""
    return MatrixSubproblem(partial(dogleg_step, beta=beta))


def steihaug_subproblem(maxiter: int | None):
    """trust-ncg: Steihaug's truncated CG; CG carries B p, so the model value costs no extra product."""

    def solve_step(xp, hessp, g, radius, *, maxiter):
        sol, Bp = steihaug_cg(xp, hessp, g, radius, maxiter=maxiter)
        return sol, _predicted(xp, g, sol.step, Bp)

    return ProductSubproblem(solve_step, maxiter)


def lanczos_subproblem(maxiter: int | None):
    """trust-krylov: the generalized Lanczos trust-region method (GLTR)."""
    return ProductSubproblem(gltr, maxiter)


def minimize_trust_region(evaluator, x0, subproblem, opts, *, method: str, callback):
    """Run Algorithm 4.1; returns an OptimizeResult."""
    xp = evaluator.xp
    skeleton = IterationSkeleton(evaluator, x0, opts, method=method, step_label="radius", callback=callback)
    machine_eps = skeleton.machine_eps
    radius = float(opts.initial_trust_radius)
    x = x0
    f, g, outcome = skeleton.start(x)
    k = 0
    nonfinite_streak = 0
    detail = None
    while outcome is None:
        outcome = skeleton.stop(k, f, g, radius)
        if outcome is not None:
            break
        if radius <= machine_eps * max(1.0, max_abs(xp, x)):
            outcome = Outcome.NON_FINITE if nonfinite_streak else Outcome.NO_PROGRESS
            if nonfinite_streak:
                detail = ("f or its gradient was NaN or inf at every trial point until the trust radius became "
                          "negligible.")
            break
        try:
            step = subproblem.solve(_Model(evaluator, x, g), radius)
        except NonFiniteValue as exc:  # the user's Hessian or Hessian-vector product
            outcome, detail = Outcome.NON_FINITE, str(exc)
            break
        except ArithmeticError as exc:  # the subproblem's own arithmetic (SolverOverflow, OverflowError)
            outcome, detail = Outcome.OVERFLOW, overflow_detail(exc)
            break
        p = step.step
        p_norm = norm(xp, p)
        k += 1
        accepted = False
        if step.predicted_decrease > 0 and math.isfinite(step.predicted_decrease) and math.isfinite(p_norm):
            x_trial = x + p
            f_trial = evaluator.value(x_trial)
            if math.isfinite(f_trial):
                # Near the minimizer both reductions sink into the rounding of f; the safeguard of
                # Conn, Gould & Toint (2000), Section 17.4.2, adds delta ~ eps*|f| to both, so that a
                # step predicted and achieved at that level is judged by rho ~ 1, not by noise.
                delta = 10.0 * machine_eps * max(1.0, abs(f))
                rho = (f - f_trial + delta) / (step.predicted_decrease + delta)
                nonfinite_streak = 0
            else:
                rho = -math.inf
                nonfinite_streak += 1
            if rho < 0.25:
                radius = 0.25 * radius
            elif rho > 0.75 and step.hits_boundary:
                radius = min(2.0 * radius, opts.max_trust_radius)
            if rho > opts.eta:
                g_trial = evaluator.gradient(x_trial)
                if all_finite(xp, g_trial):
                    x, f, g = x_trial, f_trial, g_trial
                    accepted = True
                else:
                    nonfinite_streak += 1
                    radius = 0.25 * min(radius, p_norm)
        else:
            # the model predicts no decrease: the step is lost in rounding; shrink and retry
            radius = 0.25 * min(radius, p_norm) if p_norm > 0 and math.isfinite(p_norm) else 0.25 * radius
        if skeleton.callback_stops(x, f, g, k, trust_radius=radius, step_accepted=accepted):
            outcome = Outcome.CALLBACK_STOP
    return skeleton.result(outcome, x, f, g, k, uses_hessian=subproblem.uses_hessian, detail=detail)
