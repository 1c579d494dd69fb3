"""The iteration skeleton that the line-search and the trust-region drivers share, for ``minimize`` and for
``least_squares`` alike.

Every driver runs: evaluate f and g at x0 (the model, scalar or residual, then picks its power-of-two scale);
then, at the top of every iteration, report and apply the stopping tests; take a step (the part that differs);
apply the tests that judge the step; tell the callback. The drivers see ``scale * f`` (see ``_evaluator.py``
and ``_residual_model.py``); the skeleton is where values cross back to the user, so it unscales them: the
report, the callback and the result all use the user's f and g.

The tests are an object of their own, so that each boundary keeps its semantics and its statuses:
:class:`GradientTests` are ``minimize``'s (``max_i |g_i| <= gtol``, ``maxiter``; ``Outcome``), and
``_least_squares.LeastSquaresTests`` are scipy.optimize.least_squares' (ftol, xtol, MINPACK's gtol cosine,
optimality_tol, max_nfev; ``LeastSquaresOutcome``). The drivers only pass on the outcome a test returns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._arrays import all_finite, copy, eps, max_abs
from ._callback import wrap_callback
from ._progress import Progress
from ._result import Outcome, minimize_result, stopping_test


@dataclass(frozen=True)
class Run:
    """Where a driver stopped: the outcome (a member of the tests' outcome type, or :class:`Outcome` for the
    driver's own failures), what it found (``detail``), and the last accepted point with its value, gradient and
    iteration count."""

    outcome: object
    x: object
    f: float
    g: object
    nit: int
    detail: str | None


@dataclass(frozen=True)
class LineStep:
    """A step the line-search driver took, for the tests that judge it: from x (value f) along the direction p
    (norm p_norm) with step length alpha to x_new (value f_new); ``model_decrease`` is m(0) - m(p) of the rule's
    model for the full step p, where the rule computes it (else None)."""

    x: object
    f: float
    p: object
    p_norm: float
    alpha: float
    x_new: object
    f_new: float
    model_decrease: float | None


@dataclass(frozen=True)
class GradientTests:
    """``minimize``'s tests: converged once ``max_i |g_i| <= gtol`` (the user's g), and at most ``maxiter``
    iterations."""

    gtol: float
    maxiter: int

    def at_top(self, evaluator, k: int, x, f: float, g):
        """``(outcome, detail)`` at the top of iteration k (outcome None: go on)."""
        gnorm = evaluator.user_value(max_abs(evaluator.xp, g))
        outcome = stopping_test(gnorm, k, self.gtol, self.maxiter)
        detail = None
        if outcome is Outcome.CONVERGED and k == 0:
            detail = (f"It held at the starting point, before any step: |grad f(x0)|_inf = {gnorm:.3g} "
                      f"<= gtol = {self.gtol:.3g}, with f(x0) = {evaluator.user_value(f):.6g} (gtol is absolute: "
                      "for an f scaled by a tiny factor, lower gtol or rescale f).")
        return outcome, detail

    def line_search_steps(self, evaluator, max_steps: int) -> int:
        """How many trial points the next line search may evaluate."""
        return max_steps

    def after_step(self, evaluator, step: LineStep):
        """``(outcome, detail)`` for an accepted line-search step (``minimize`` judges only the gradient)."""
        return None, None

    def line_search_failed(self, evaluator, nonfinite: bool):
        """``(outcome, detail)`` when the line search found no acceptable step."""
        if nonfinite:
            return Outcome.NON_FINITE, ("f was NaN or inf at trial points along the last search direction, and no "
                                        "step at which it was finite decreased it.")
        return Outcome.LINE_SEARCH_FAILED, None

    def nonfinite_gradient(self, evaluator):
        """``(outcome, detail)`` for a gradient with NaN or inf entries at the next point of a line search."""
        return Outcome.NON_FINITE, "The gradient had NaN or inf entries at the next point, where f was finite."


class IterationSkeleton:
    """What a driver needs around its step: the stopping tests, the report, the callback and the result.
    ``step_label`` names the last column of the report ("step" length or trust "radius"). ``opts`` gives
    ``gtol``, ``maxiter`` and ``disp`` for ``minimize``; a boundary with tests of its own passes ``tests`` and
    ``disp`` instead."""

    def __init__(self, evaluator, x0, opts=None, *, method: str, step_label: str, callback, tests=None,
                 disp: bool | None = None):
        self.evaluator, self.xp = evaluator, evaluator.xp
        if tests is None:
            tests = GradientTests(opts.gtol, 200 * x0.shape[0] if opts.maxiter is None else int(opts.maxiter))
        self.tests = tests
        self.machine_eps = eps(self.xp, x0)
        self.progress = Progress(opts.disp if disp is None else disp, method, step_label)
        self._notify = wrap_callback(callback)
        self._detail = None  # what the stopping test found, for the result's message

    @property
    def detail(self) -> str | None:
        return self._detail

    def start(self, x0):
        """``(f, g, outcome)`` at x0 (scaled as the evaluator chooses from them); outcome is NON_FINITE when
        f or g is not finite, else None."""
        ev = self.evaluator
        f, g = ev.value_and_gradient(x0)
        if not math.isfinite(f):
            self._detail = f"f(x0) = {f} is not finite: nothing to minimize from there."
            return f, g, Outcome.NON_FINITE
        if not all_finite(self.xp, g):
            self._detail = "The gradient at x0 has NaN or inf entries."
            return f, g, Outcome.NON_FINITE
        if not ev.scale_chosen:
            ev.scale_at_start(x0, f, g)
        return ev.value(x0), ev.gradient(x0), None

    def stop(self, k: int, x, f: float, g, step):
        """Report iteration k and apply the tests at the top of an iteration (None: go on)."""
        ev = self.evaluator
        measure = getattr(self.tests, "measure", None)  # what the tests judge, if not |g|_inf (tron: |P(x - g) - x|)
        gnorm = ev.user_value(max_abs(self.xp, g)) if measure is None else measure(ev, x, g)
        self.progress.iteration(k, ev.user_value(f), gnorm, step)
        outcome, detail = self.tests.at_top(ev, k, x, f, g)
        if outcome is not None:
            self._detail = detail
        return outcome

    def callback_stops(self, x, f, g, k, **extra) -> bool:
        """Give the user's callback iteration k's point, with the fields the evaluator's boundary names (scipy's
        minimize: fun, jac; least_squares: cost, fun, jac, grad, optimality); True when it raised StopIteration."""
        ev = self.evaluator
        return self._notify is not None and self._notify(x=copy(self.xp, x), **ev.callback_fields(x, f, g), nit=k,
                                                         **extra)

    def result(self, outcome: Outcome, x, f, g, k: int, *, uses_hessian: bool, detail: str | None = None):
        """scipy's result; methods that use the Hessian matrix get it at x (unless values went non-finite),
        the others whatever Hessian was formed there (an array, or the operator the user's hess returned). ``detail`` (what stopped the run) extends the message."""
        ev = self.evaluator
        if uses_hessian and outcome is not Outcome.NON_FINITE:
            ev.hessian(x)
        hess = ev.user_hessian(x)  # as the user's hess returned it: an array, or an operator
        f, g = ev.user_value(f), ev.user_array(g)
        detail = detail or self._detail
        self.progress.summary(outcome.message if not detail else f"{outcome.message} {detail}", fun=f,
                              iterations=k, nfev=ev.counts.nfev, njev=ev.counts.njev, nhev=ev.counts.nhev)
        return minimize_result(outcome, x=x, fun=f, jac=g, nit=k, counts=ev.counts, hess=hess, detail=detail)
