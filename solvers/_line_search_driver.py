"""The line-search driver: x_{k+1} = x_k + alpha_k p_k (Chapter 3 of Nocedal & Wright (2006)).

A *direction rule* supplies p_k (the safeguarded Newton step, or the L-BFGS two-loop recursion) and a first
trial step; a line search (Armijo backtracking or strong Wolfe) supplies alpha_k. The driver owns
non-finite values along the way; the stopping tests (``minimize``'s gtol on the gradient's infinity norm and
iteration limit, or a boundary's own, as least_squares'), callbacks and the report are the shared
:class:`~._iteration.IterationSkeleton`. Damped Gauss-Newton (``_gauss_newton.py``) is a direction rule of this
driver on the residual model.
"""
from __future__ import annotations

import math

from ._arrays import NonFiniteValue, all_finite, dot, max_abs, norm, overflow_detail
from ._iteration import IterationSkeleton, LineStep, Run
from ._line_search import CurvilinearRay, Ray, backtracking, strong_wolfe
from ._newton_step import negative_curvature_direction, newton_direction
from ._result import Outcome


class NewtonDirection:
    """p = -(H + tau I)^{-1} g with tau from Algorithm 3.3 of Nocedal & Wright (2006), H the Hessian operator
    (factorized as its structure allows); first trial alpha = 1. Where tau > 0 (H not positive definite) the
    driver may ask :meth:`negative_curvature` for a direction d with d'Hd < 0 and search the curvilinear path
    x + a^2 p + a d of More & Sorensen (1979) instead of the ray."""

    uses_hessian = True

    def __init__(self, xp, evaluator, beta: float):
        self.xp, self.evaluator, self.beta = xp, evaluator, beta
        self._last = None  # (H, g, p, tau) of the last direction

    def direction(self, x, g):
        H = self.evaluator.checked_hessian(x)
        p, shift = newton_direction(self.xp, H, g, beta=self.beta)
        self._last = (H, g, p, shift)
        return p, 1.0

    def negative_curvature(self):
        """``(d, d'Hd)`` for the last direction when its Hessian was shifted and has a negative eigenvalue
        (``_newton_step.negative_curvature_direction``), else None."""
        H, g, p, shift = self._last
        if shift == 0.0:
            return None
        return negative_curvature_direction(self.xp, H, g, p)

    def update(self, s, y):
        pass


def minimize_line_search(evaluator, x0, rule, opts, *, method: str, line_search: str, callback):
    """Run the line-search iteration; returns an OptimizeResult."""
    skeleton = IterationSkeleton(evaluator, x0, opts, method=method, step_label="step", callback=callback)
    run = line_search_iterations(skeleton, x0, rule, opts, line_search=line_search)
    return skeleton.result(run.outcome, run.x, run.f, run.g, run.nit, uses_hessian=rule.uses_hessian,
                           detail=run.detail)


def line_search_iterations(skeleton, x0, rule, opts, *, line_search: str, f_noise_ulps: float = 8.0) -> Run:
    """The iteration itself, on the skeleton's evaluator and tests (``minimize``'s, or a boundary's own).

    ``opts`` gives c1, c2 and max_line_search, and ``negative_curvature`` where the rule offers directions of
    negative curvature (``rule.negative_curvature()``): when one exists the step is searched by Armijo
    backtracking along the curvilinear path x + t p + sqrt(t) d of More & Sorensen (1979) (``CurvilinearRay``),
    whose sufficient decrease uses the slope g'p + 1/2 d'Hd; ``f_noise_ulps``: the line searches accept an
    increase of f up to that many ulps of |f| (see ``_line_search.py``; 0 for a strict Armijo test)."""
    evaluator, xp, tests = skeleton.evaluator, skeleton.xp, skeleton.tests
    curvature = getattr(opts, "negative_curvature", False) and hasattr(rule, "negative_curvature")
    x = x0
    f, g, outcome = skeleton.start(x)
    k, step_length, detail = 0, None, None
    while outcome is None:
        outcome = skeleton.stop(k, x, f, g, step_length)
        if outcome is not None:
            break
        try:
            p, alpha0 = rule.direction(x, g)
        except NonFiniteValue as exc:
            outcome, detail = Outcome.NON_FINITE, str(exc)
            break
        except ArithmeticError as exc:  # SolverOverflow, or OverflowError on host floats
            outcome, detail = Outcome.OVERFLOW, overflow_detail(exc)
            break
        slope = dot(xp, g, p)
        newton_step = True
        if not (slope < 0 and math.isfinite(slope)):  # cannot happen in exact arithmetic; stay safe
            p, slope, newton_step = -g, -dot(xp, g, g), False
            if not (slope < 0 and math.isfinite(slope)):  # g'g underflowed to 0 (or overflowed): gtol = 0
                outcome = Outcome.NO_PROGRESS
                detail = "The gradient is too small (or too large) for g'g to be represented in floating point."
                break
            alpha0 = min(1.0, 1.0 / math.sqrt(-slope))
        pair = None
        if curvature and newton_step:  # d goes with the rule's own step, not with the fallback -g
            try:
                pair = rule.negative_curvature()
            except NonFiniteValue as exc:
                outcome, detail = Outcome.NON_FINITE, str(exc)
                break
            except ArithmeticError as exc:
                outcome, detail = Outcome.OVERFLOW, overflow_detail(exc)
                break
        p_norm = norm(xp, p)
        f_noise = f_noise_ulps * skeleton.machine_eps * abs(f)
        max_steps = tests.line_search_steps(evaluator, opts.max_line_search)
        if pair is not None:  # the curvilinear search of More & Sorensen (1979)
            d, dHd = pair
            path_norm = p_norm + norm(xp, d)
            min_alpha = (skeleton.machine_eps * (1.0 + max_abs(xp, x)) / path_norm) ** 2
            ray = CurvilinearRay(evaluator, x, p, d)
            ls = backtracking(ray, f, slope + 0.5 * dHd, alpha0=1.0, c1=opts.c1, max_steps=max_steps,
                              min_alpha=min_alpha, f_noise=f_noise)
        else:
            min_alpha = skeleton.machine_eps * (1.0 + max_abs(xp, x)) / max(p_norm, 1e-300)
            ray = Ray(evaluator, x, p)
            if line_search == "wolfe":
                ls = strong_wolfe(ray, f, slope, alpha0=alpha0, c1=opts.c1, c2=opts.c2,
                                  max_steps=max_steps, min_alpha=min_alpha, f_noise=f_noise)
            else:
                ls = backtracking(ray, f, slope, alpha0=alpha0, c1=opts.c1, max_steps=max_steps,
                                  min_alpha=min_alpha, f_noise=f_noise)
        if not ls.accepted:
            outcome, detail = tests.line_search_failed(evaluator, ls.nonfinite)
            break
        x_new = ray.point(ls.alpha)
        g_new = evaluator.gradient(x_new)
        if not all_finite(xp, g_new):
            outcome, detail = tests.nonfinite_gradient(evaluator)
            break
        rule.update(x_new - x, g_new - g)
        if pair is not None:  # report the chord of the curvilinear step
            p = x_new - x
            p_norm = norm(xp, p)
            step = LineStep(x, f, p, p_norm, 1.0, x_new, ls.f, None)
            step_length = p_norm
        else:
            step = LineStep(x, f, p, p_norm, ls.alpha, x_new, ls.f, getattr(rule, "model_decrease", None))
            step_length = ls.alpha * p_norm
        x, f, g = x_new, ls.f, g_new
        k += 1
        outcome, detail = tests.after_step(evaluator, step)
        if outcome is None and skeleton.callback_stops(x, f, g, k, step_length=step_length):
            outcome = Outcome.CALLBACK_STOP
    return Run(outcome, x, f, g, k, detail or skeleton.detail)
