"""Outcomes of a solve and the scipy-compatible result objects.

Inside the solvers an outcome is an :class:`Outcome` member that carries its own message; scipy's integer
``status`` is read off the member only when the :class:`scipy.optimize.OptimizeResult` is built.
"""
from __future__ import annotations

from enum import Enum

from scipy.optimize import OptimizeResult


class _StatusMessage(Enum):
    """An outcome whose members are ``(status, message)``: scipy's integer status and the result's message."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


class Outcome(_StatusMessage):
    """Why ``minimize`` stopped. ``status`` is the integer reported in the result, ``success`` is True only
    for :attr:`CONVERGED`. The result's ``message`` is the member's message, followed by what this run found
    where there is more to say (which value was not finite, or that the gradient test held at x0)."""

    CONVERGED = (0, "Optimization terminated successfully: the gradient's infinity norm is at most gtol.")
    MAX_ITERATIONS = (1, "Maximum number of iterations has been exceeded.")
    NO_PROGRESS = (
        2,
        ("No further progress is possible at this floating-point precision: the trust radius or step became "
         "negligible relative to x before the gradient reached gtol."),
    )
    LINE_SEARCH_FAILED = (
        3,
        "The line search found no step satisfying its conditions; the last accepted point is returned.",
    )
    NON_FINITE = (
        4,
        ("Stopped at a non-finite value (NaN or inf) returned by the objective, its gradient or its Hessian; "
         "the best point with finite values is returned."),
    )
    OVERFLOW = (
        5,
        ("Stopped because ricci's own arithmetic overflowed although the objective's values were finite "
         "(f, x or the Hessian are scaled too far apart for floating point: rescale them); the best point is "
         "returned."),
    )
    INFEASIBLE = (
        6,
        ("The constraints could not be satisfied: the violation stopped shrinking at the largest penalty (or at "
         "a stationary point of the violation); the least-infeasible point found is returned."),
    )
    UNBOUNDED = (7, "The objective is unbounded below on the feasible set (f fell below -unbounded_threshold).")
    CALLBACK_STOP = (99, "`callback` raised StopIteration.")

    @property
    def success(self) -> bool:
        return self is Outcome.CONVERGED


class LeastSquaresOutcome(_StatusMessage):
    """Why ``least_squares`` stopped, numbered as scipy.optimize.least_squares numbers its ``status``
    (negative: failure, 0: evaluation budget, positive: a convergence test held), plus outcomes of our own:
    -3 non-finite, -4 no progress, -5 overflow in ricci's arithmetic, and 5 for ricci's ``optimality_tol``
    test (scipy has no such option)."""

    OVERFLOW = (
        -5,
        ("Stopped because ricci's own arithmetic overflowed although the residuals and the Jacobian were finite "
         "(r, J or x are scaled too far apart for floating point: rescale them); the best point is returned."),
    )
    NO_PROGRESS = (-4, ("No step reduced the cost although no convergence test held: the trust radius or the line "
                        "search step became negligible; the best point found is returned."))
    NON_FINITE = (
        -3,
        ("Stopped at a non-finite value (NaN or inf) of the residuals or the Jacobian; "
         "the best point with finite values is returned."),
    )
    CALLBACK_STOP = (-2, "Stopped because `callback` function raised `StopIteration`.")
    MAX_NFEV = (0, "The maximum number of function evaluations is exceeded.")
    GTOL = (1, "`gtol` termination condition is satisfied.")
    FTOL = (2, "`ftol` termination condition is satisfied.")
    XTOL = (3, "`xtol` termination condition is satisfied.")
    FTOL_XTOL = (4, "Both `ftol` and `xtol` termination conditions are satisfied.")
    OPTIMALITY = (5, ("`optimality_tol` termination condition is satisfied: the infinity norm of the gradient "
                      "J'r of the cost is at most optimality_tol."))

    @property
    def success(self) -> bool:
        return self.status > 0


def with_detail(outcome: _StatusMessage, detail: str | None) -> str:
    """The outcome's message, followed by ``detail`` (what this run found), if any."""
    return outcome.message if not detail else f"{outcome.message} {detail}"


def minimize_result(outcome: Outcome, *, x, fun, jac, nit, counts, hess=None, extra=None,
                    detail: str | None = None) -> OptimizeResult:
    """The scipy boundary: an :class:`OptimizeResult` with scipy's field names; ``detail`` is appended to the
    outcome's message."""
    res = OptimizeResult(
        x=x,
        fun=fun,
        jac=jac,
        nit=nit,
        nfev=counts.nfev,
        njev=counts.njev,
        nhev=counts.nhev,
        status=outcome.status,
        success=outcome.success,
        message=with_detail(outcome, detail),
        outcome=outcome,
    )
    if hess is not None:
        res["hess"] = hess
    if extra:
        res.update(extra)
    return res


def stopping_test(gnorm: float, k: int, gtol: float, maxiter: int):
    """The drivers' common test at the top of an iteration: CONVERGED once max|g_i| <= gtol,
    MAX_ITERATIONS after ``maxiter`` iterations, else None (go on)."""
    if gnorm <= gtol:
        return Outcome.CONVERGED
    if k >= maxiter:
        return Outcome.MAX_ITERATIONS
    return None
