"""The iteration skeleton that the line-search and the trust-region drivers share.

Both drivers run: evaluate f and g at x0; then, at the top of every iteration, report, stop once
``max_i |g_i| <= gtol`` or after ``maxiter`` iterations (default 200 n, as scipy's trust-region family);
take a step (the part that differs); tell the callback. At the end they return the Hessian at the final
point to the methods that use the matrix, and build scipy's result.
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

    def start(self, x0):
        """``(f, g, outcome)`` at x0; outcome is NON_FINITE when f or g is not finite, else None."""
        f, g = self.evaluator.value_and_gradient(x0)
        finite = math.isfinite(f) and all_finite(self.xp, g)
        return f, g, None if finite else Outcome.NON_FINITE

    def stop(self, k: int, f: float, g, step) -> Outcome | None:
        """Report iteration k and apply the gtol and maxiter tests (None: go on)."""
        gnorm = max_abs(self.xp, g)
        self.progress.iteration(k, f, gnorm, step)
        return stopping_test(gnorm, k, self.gtol, self.maxiter)

    def callback_stops(self, x, f, g, k, **extra) -> bool:
        """Give the user's callback iteration k's point; True when it raised StopIteration."""
        return self._notify is not None and self._notify(x=copy(self.xp, x), fun=f, jac=g, nit=k, **extra)

    def result(self, outcome: Outcome, x, f, g, k: int, *, uses_hessian: bool):
        """scipy's result; methods that use the Hessian matrix get it at x (unless values went non-finite),
        the others whatever matrix was formed there."""
        ev = self.evaluator
        if uses_hessian and outcome is not Outcome.NON_FINITE:
            hess = ev.hessian(x)
        else:
            hess = ev.hessian_if_formed(x)
        self.progress.summary(outcome.message, fun=f, iterations=k, nfev=ev.counts.nfev, njev=ev.counts.njev,
                              nhev=ev.counts.nhev)
        return minimize_result(outcome, x=x, fun=f, jac=g, nit=k, counts=ev.counts, hess=hess)
