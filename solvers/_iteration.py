"""The iteration skeleton that the line-search and the trust-region drivers share.

Both drivers run: evaluate f and g at x0; then, at the top of every iteration, report, stop once
``max_i |g_i| <= gtol`` or after ``maxiter`` iterations (default 200 n, as scipy's trust-region family);
take a step (the part that differs); tell the callback. At the end they return the Hessian at the final
point to the methods that use the matrix, and build scipy's result.

The drivers see ``scale * f`` for the power of two ``scale`` the evaluator picks at x0 (see
``_evaluator.py``); the skeleton is where values cross back to the user, so it unscales them: the gtol test,
the report, the callback and the result all use the user's f, g and H.
"""
from __future__ import annotations

import math

from ._arrays import all_finite, copy, eps, max_abs
from ._callback import wrap_callback
from ._progress import Progress
from ._result import Outcome, minimize_result, stopping_test


class IterationSkeleton:
    """What a driver needs around its step: the stopping test, the ``disp`` report, the callback and the
    result. ``step_label`` names the last column of the report ("step" length or trust "radius")."""

    def __init__(self, evaluator, x0, opts, *, method: str, step_label: str, callback):
        self.evaluator, self.xp = evaluator, evaluator.xp
        self.gtol = opts.gtol
        self.maxiter = 200 * x0.shape[0] if opts.maxiter is None else int(opts.maxiter)
        self.machine_eps = eps(self.xp, x0)
        self.progress = Progress(opts.disp, method, step_label)
        self._notify = wrap_callback(callback)
        self._detail = None  # what the stopping test found, for the result's message

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
        ev.set_scale(max(abs(f), max_abs(self.xp, g)))
        return ev.value(x0), ev.gradient(x0), None

    def stop(self, k: int, f: float, g, step) -> Outcome | None:
        """Report iteration k and apply the gtol and maxiter tests (None: go on)."""
        ev = self.evaluator
        gnorm = ev.user_value(max_abs(self.xp, g))
        self.progress.iteration(k, ev.user_value(f), gnorm, step)
        outcome = stopping_test(gnorm, k, self.gtol, self.maxiter)
        if outcome is Outcome.CONVERGED and k == 0:
            self._detail = (f"It held at the starting point, before any step: |grad f(x0)|_inf = {gnorm:.3g} "
                            f"<= gtol = {self.gtol:.3g}, with f(x0) = {ev.user_value(f):.6g} (gtol is absolute: "
                            "for an f scaled by a tiny factor, lower gtol or rescale f).")
        return outcome

    def callback_stops(self, x, f, g, k, **extra) -> bool:
        """Give the user's callback iteration k's point; True when it raised StopIteration."""
        ev = self.evaluator
        return self._notify is not None and self._notify(x=copy(self.xp, x), fun=ev.user_value(f),
                                                         jac=ev.user_array(g), nit=k, **extra)

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
