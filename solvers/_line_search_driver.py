"""The line-search driver: x_{k+1} = x_k + alpha_k p_k (Chapter 3 of Nocedal & Wright (2006)).

A *direction rule* supplies p_k (the safeguarded Newton step, or the L-BFGS two-loop recursion) and a first
trial step; a line search (Armijo backtracking or strong Wolfe) supplies alpha_k. The driver owns
non-finite values along the way; the gtol test on the gradient's infinity norm, the iteration limit,
callbacks and the ``disp`` report are the shared :class:`~._iteration.IterationSkeleton`.
"""
from __future__ import annotations

import math

from ._arrays import NonFiniteValue, all_finite, dot, max_abs, norm, overflow_detail
from ._iteration import IterationSkeleton
from ._line_search import Ray, backtracking, strong_wolfe
from ._newton_step import newton_direction
from ._result import Outcome


class NewtonDirection:
    """p = -(H + tau I)^{-1} g with tau from Algorithm 3.3 of Nocedal & Wright (2006), H the Hessian operator
    (factorized as its structure allows); first trial alpha = 1."""

    uses_hessian = True

    def __init__(self, xp, evaluator, beta: float):
        self.xp, self.evaluator, self.beta = xp, evaluator, beta

    def direction(self, x, g):
        H = self.evaluator.checked_hessian(x)
        p, _shift = newton_direction(self.xp, H, g, beta=self.beta)
        return p, 1.0

    def update(self, s, y):
        pass


def minimize_line_search(evaluator, x0, rule, opts, *, method: str, line_search: str, callback):
    """Run the line-search iteration; returns an OptimizeResult."""
    xp = evaluator.xp
    skeleton = IterationSkeleton(evaluator, x0, opts, method=method, step_label="step", callback=callback)
    x = x0
    f, g, outcome = skeleton.start(x)
    k, step_length, detail = 0, None, None
    while outcome is None:
        outcome = skeleton.stop(k, f, g, step_length)
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
        if not (slope < 0 and math.isfinite(slope)):  # cannot happen in exact arithmetic; stay safe
            p, slope = -g, -dot(xp, g, g)
            if not (slope < 0 and math.isfinite(slope)):  # g'g underflowed to 0 (or overflowed): gtol = 0
                outcome = Outcome.NO_PROGRESS
                detail = "The gradient is too small (or too large) for g'g to be represented in floating point."
                break
            alpha0 = min(1.0, 1.0 / math.sqrt(-slope))
        p_norm = norm(xp, p)
        min_alpha = skeleton.machine_eps * (1.0 + max_abs(xp, x)) / max(p_norm, 1e-300)
        ray = Ray(evaluator, x, p)
        f_noise = 8.0 * skeleton.machine_eps * abs(f)
        if line_search == "wolfe":
            ls = strong_wolfe(ray, f, slope, alpha0=alpha0, c1=opts.c1, c2=opts.c2,
                              max_steps=opts.max_line_search, min_alpha=min_alpha, f_noise=f_noise)
        else:
            ls = backtracking(ray, f, slope, alpha0=alpha0, c1=opts.c1, max_steps=opts.max_line_search,
                              min_alpha=min_alpha, f_noise=f_noise)
        if not ls.accepted:
            if ls.nonfinite:
                outcome = Outcome.NON_FINITE
                detail = ("f was NaN or inf at trial points along the last search direction, and no step at "
                          "which it was finite decreased it.")
            else:
                outcome = Outcome.LINE_SEARCH_FAILED
            break
        x_new = ray.point(ls.alpha)
        g_new = evaluator.gradient(x_new)
        if not all_finite(xp, g_new):
            outcome = Outcome.NON_FINITE
            detail = "The gradient had NaN or inf entries at the next point, where f was finite."
            break
        rule.update(x_new - x, g_new - g)
        x, f, g = x_new, ls.f, g_new
        step_length = ls.alpha * p_norm
        k += 1
        if skeleton.callback_stops(x, f, g, k, step_length=step_length):
            outcome = Outcome.CALLBACK_STOP
    return skeleton.result(outcome, x, f, g, k, uses_hessian=rule.uses_hessian, detail=detail)
