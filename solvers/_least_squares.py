"""The least-squares boundary: scipy.optimize.least_squares' interface, tests and statuses on ricci's drivers.

Both methods minimize the cost f(x) = 1/2 ||r(x)||^2 through the residual model (``_residual_model.py``):
value 1/2 ||r||^2, gradient g = J'r and the Gauss-Newton curvature J'J of the model m(p) = 1/2 ||r + J p||^2,
presented to the drivers as the scalar model of ``minimize`` is, with the same iteration skeleton (report,
callback, counts; ``_iteration.py``):

* ``"lm"`` - Levenberg-Marquardt: the trust-region driver (``_trust_region.py``) with the scaled subproblem
  min m(p) subject to ||D p|| <= radius and MINPACK's radius rule (``_levenberg_marquardt.py``; More, 1978,
  "The Levenberg-Marquardt algorithm: implementation and theory");
* ``"gauss-newton"`` - damped Gauss-Newton: the line-search driver (``_line_search_driver.py``) with the
  direction (J'J + tau I) p = -J'r, tau from Algorithm 3.3 of Nocedal & Wright (2006) (``_gauss_newton.py``),
  and Armijo backtracking on the cost (a strict test: no allowance for the rounding of f).

J is an operator (DESIGN.md, "Derivatives as operators"): ``jac`` may return a dense array, a scipy.sparse
matrix, a ricci.solvers Operator or a scipy LinearOperator, and an object with a ``jac_operator(x)`` method is
asked for the operator. The structure decides how the normal equations are solved (``_jacobian.py``): a dense
J forms J'J as before; a structured J keeps them in its structure (``J.gram()``, factorized with the shift);
a J known only through products is solved by LSQR on [J; sqrt(mu) I] (its column norms are then unknown:
x_scale="jac" means no scaling, and MINPACK's gtol cosine test holds only at r = 0).

Termination (:class:`LeastSquaresTests`, given to the drivers) follows scipy.optimize.least_squares (and
MINPACK for "lm"):
* ftol: the relative actual and predicted reductions of the cost are both at most ftol (for "lm" also
  rho <= 2, i.e. the model agreed with the cost);
* xtol: for "lm" radius <= xtol ||D x|| (MINPACK); for "gauss-newton" ||p|| <= xtol (xtol + ||x||) for the
  full Gauss-Newton step p (the ftol test, too, uses the full step's predicted reduction);
* gtol: the largest cosine between a column of J and r is at most gtol (MINPACK), or r = 0;
* max_nfev: the budget of residual evaluations (status 0).

ricci adds one test of its own (scipy.optimize.least_squares has no such option):
* optimality_tol: the gradient of the cost has max_i |(J'r)_i| <= optimality_tol, the result's ``optimality``;
  the same test as ``minimize``'s gtol, so that one tolerance means one thing for every method.

Where ricci departs from MINPACK (and so from scipy's "lm"), so that ``success`` means a test truly held:

* MINPACK's ftol test compares the predicted reduction of the trial step with the cost; when the trust
  radius cuts the step short (lambda > 0) a tiny radius makes that reduction tiny whatever the gradient (from
  x0 = 1e-20 * e_3 the initial radius factor * ||D x0|| is 1e-18, and MINPACK reports "ftol satisfied" at x0
  with optimality 2.7). Here such a step passes the ftol test only if the model's reduction at its own
  minimizer, 1/2 g_s' B_s^+ g_s, is also at most ftol times the cost.
* MINPACK applies its ftol and xtol tests after every trial step, accepted or not, so a Jacobian that does
  not match the residuals (a wrong sign, say) shrinks the radius through rejected steps until "xtol is
  satisfied", and the solve reports success at x0. Here a rejected step (or one accepted on a decrease within
  rounding) may end the solve by ftol or xtol
  only if the model has nothing left to offer: its reduction at its own minimizer, 1/2 g_s' B_s^+ g_s, is at
  most ftol times the cost or within the cost's rounding error (estimated from ||r|| and ||J|| ||x||, the
  sizes of the terms r is computed from). Otherwise the radius keeps shrinking and the solve ends without
  success (NO_PROGRESS, the message saying what the model promised) unless a step is accepted. A correct
  Jacobian of a smooth r does not stop there: for small enough steps the first-order model is accurate and
  a step is taken.
* The initial radius is factor * max(||D x0||, ||r(x0)||) rather than factor * ||D x0||, which is tiny for
  an x0 near (but not at) 0; the first iteration still cuts it to the first step, as in MINPACK (the radius
  rule is in ``_levenberg_marquardt.py``).
* A cost 1/2 ||r||^2 that underflows to 0 counts as r = 0 (the gtol test holds).

Scaling: the drivers work on ``s * r`` and ``s * J`` for a power of two ``s`` chosen at x0 (1 unless r or J is
of magnitude beyond 2^+-450; see ``_arrays.power_of_two_scale`` and ``_residual_model.py``), so that
1/2 ||r||^2 and J'J do not overflow for residuals of 1e200; the scaling is exact and the result is reported in
the user's units.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from array_api_compat import device
from scipy.optimize import OptimizeResult

from ._arrays import all_finite, as_array, dot, eps, max_abs, norm, prepare_x0
from ._bounds import active_mask, projected_gradient_norm
from ._evaluator import FloatingPointGuard
from ._gauss_newton import GaussNewtonDirection
from ._iteration import IterationSkeleton
from ._jacobian import column_norms, is_finite
from ._least_squares_bounds import (
    BoundedGaussNewtonDirection,
    BoundedLevenbergMarquardt,
    bounded_tests,
    least_squares_bounds,
)
from ._levenberg_marquardt import LevenbergMarquardtSubproblem, MinpackRadius
from ._line_search_driver import line_search_iterations
from ._progress import Progress
from ._residual_model import ResidualEvaluator
from ._result import LeastSquaresOutcome as LSO
from ._result import Outcome, with_detail
from ._trust_region import trust_region_iterations

_EPS64 = 2.220446049250313e-16
_VALID = ("jac", "method", "ftol", "xtol", "gtol", "x_scale", "max_nfev", "verbose", "args", "kwargs",
          "callback", "initial_radius_factor", "optimality_tol", "bounds")


def least_squares(fun, x0, jac=None, method="lm", ftol=1e-8, xtol=1e-8, gtol=1e-8, x_scale="jac",
                  max_nfev=None, verbose=0, args=(), kwargs=None, callback=None, initial_radius_factor=100.0,
                  optimality_tol=None, bounds=None, **unknown):
    """Solve min_x 1/2 ||r(x)||^2 by Levenberg-Marquardt (``method="lm"``) or damped Gauss-Newton
    (``method="gauss-newton"``); see the module docstring for the mathematics and the sources.

    ``fun(x, *args, **kwargs)`` returns the m residuals, ``jac(x, *args, **kwargs)`` their (m, n) Jacobian (a
    dense array, a scipy.sparse matrix, a ricci.solvers Operator or a scipy LinearOperator; the result's ``jac``
    is what it returned); ``fun`` may instead be an object with ``residual`` and ``jacobian`` methods (and a
    ``jac_operator`` method, asked instead of ``jacobian`` when present). The result has the fields of
    scipy.optimize.least_squares: x, cost, fun, jac, grad, optimality (infinity norm of grad), active_mask,
    status, nfev, njev, message, success. ``callback`` follows scipy (``callback(intermediate_result)`` or
    ``callback(x)``; StopIteration stops with status -2). ``verbose``: 0 silent, 1 summary, 2 every iteration.
    x0 must be float32 or float64 (float16 is refused: the linear algebra exists for those two only).

    ``bounds``: scipy's ``(lb, ub)`` (numbers or arrays of length n, -inf/inf for a free side) or a
    scipy.optimize.Bounds; x0 must lie in the box (else ValueError, as scipy). Both methods then take
    Gauss-Newton steps over the box (``_least_squares_bounds.py``; NumPy arrays only), the gradient tests
    (gtol, optimality_tol) apply to the projected gradient ||P(x - g) - x||_inf, and ``active_mask`` marks the
    variables on a bound (-1 lower, +1 upper).

    ftol, xtol and gtol have scipy's meanings (gtol is MINPACK's cosine test, not a gradient norm; None or 0
    turns a test off; each must be a finite number >= 0, and one of them at least machine epsilon unless
    optimality_tol is given). ``optimality_tol`` is ricci's own (scipy has none): stop with status 5 once the
    gradient of the cost, g = J'r, has ``max_i |g_i| <= optimality_tol`` -- the gtol of ``minimize``. Default
    None (off); otherwise a finite number > 0. ``success`` is True only when a convergence test held at a
    point the iteration accepted (see the module docstring for where this departs from MINPACK).
    """
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(map(repr, sorted(unknown)))} for least_squares; "
                        f"valid options are: {', '.join(_VALID)}")
    if callable(getattr(fun, "residual", None)) and callable(getattr(fun, "jacobian", None)):
        obj = fun
        fun = obj.residual
        if jac is None:
            jac = getattr(obj, "jac_operator", None)
            jac = jac if callable(jac) else getattr(obj, "jacobian", None)
    if not callable(fun):
        raise TypeError(f"fun must be callable or an object with residual/jacobian methods; got {type(fun).__name__}")
    if not callable(jac):
        raise TypeError("least_squares needs the exact Jacobian: pass jac=callable(x, *args, **kwargs) returning "
                        f"the (m, n) matrix; got {jac!r}")
    if method not in ("lm", "gauss-newton"):
        raise ValueError(f"method must be 'lm' or 'gauss-newton'; got {method!r}")
    ftol, xtol, gtol = (_tolerance(name, value) for name, value in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)))
    if optimality_tol is not None:
        if not _is_real(optimality_tol):
            raise TypeError(f"optimality_tol must be a number > 0 or None; got {optimality_tol!r}")
        if not (math.isfinite(optimality_tol) and optimality_tol > 0):
            raise ValueError(f"optimality_tol must be a number > 0 or None, and finite; got {optimality_tol!r}")
    if max(ftol, xtol, gtol) < _EPS64 and optimality_tol is None:
        raise ValueError(f"at least one of ftol, xtol, gtol must be >= {_EPS64:.2e} (machine epsilon), "
                         "or optimality_tol given")
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    if not (_is_real(initial_radius_factor) and math.isfinite(initial_radius_factor)
            and initial_radius_factor > 0):
        raise ValueError(f"initial_radius_factor must be a finite number > 0; got {initial_radius_factor!r}")
    xp, x0 = prepare_x0(x0)
    n = x0.shape[0]
    box = None if bounds is None else least_squares_bounds(bounds, n, xp, x0)
    if max_nfev is None:
        max_nfev = 100 * n
    elif not (_is_real(max_nfev) and math.isfinite(max_nfev) and float(max_nfev).is_integer() and max_nfev >= 1):
        raise ValueError(f"max_nfev must be a positive integer or None; got {max_nfev!r}")
    max_nfev = int(max_nfev)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    kwargs = dict(kwargs or {})

    with FloatingPointGuard() as guard:
        jac_name = "jac_operator" if getattr(jac, "__name__", "") == "jac_operator" else "jac"
        res = ResidualEvaluator(xp, x0, fun, jac, args, kwargs, guard, jac_name=jac_name)
        if not all_finite(xp, res.residuals(x0)):
            raise ValueError("Residuals are not finite in the initial point x0.")
        if not is_finite(res.jacobian(x0).op):
            raise ValueError("The Jacobian is not finite in the initial point x0.")
        res.scale_at_start(x0, None, None)  # before J'r is formed, which could overflow unscaled
        if not math.isfinite(res.value(x0)):  # cannot happen after the scaling; kept as a guard
            raise ValueError("The cost 1/2 ||r||^2 overflows at the initial point x0; rescale the residuals.")
        if isinstance(x_scale, str):
            if x_scale != "jac":
                raise ValueError(f"x_scale must be 'jac', a positive number or array; got {x_scale!r}")
            column_scale = None
        else:
            column_scale = as_array(xp, xp.asarray(x_scale, dtype=x0.dtype) * xp.ones_like(x0), x0, (n,),
                                    "x_scale")
            if not bool(xp.all(column_scale > 0)) or not all_finite(xp, column_scale):
                raise ValueError("x_scale entries must be finite and positive")
        settings = {"method": method, "ftol": ftol, "xtol": xtol, "gtol": gtol,
                    "optimality_tol": -1.0 if optimality_tol is None else float(optimality_tol),
                    "max_nfev": max_nfev, "machine_eps": eps(xp, x0)}
        tests = LeastSquaresTests(**settings) if box is None else _BOUNDED_TESTS(lo=box[0], hi=box[1], **settings)
        skeleton = IterationSkeleton(res, x0, method=f"least_squares {method}",
                                     step_label="radius" if method == "lm" else "step", callback=callback,
                                     tests=tests, disp=verbose == 2)
        if method == "lm":
            subproblem = (LevenbergMarquardtSubproblem(column_scale) if box is None
                          else BoundedLevenbergMarquardt(column_scale, *box))
            run = trust_region_iterations(skeleton, x0, subproblem, MinpackRadius(float(initial_radius_factor)))
        else:
            direction = (GaussNewtonDirection(xp, res, column_scale) if box is None
                         else BoundedGaussNewtonDirection(res, column_scale, *box))
            run = line_search_iterations(skeleton, x0, direction, _GAUSS_NEWTON_LINE_SEARCH, line_search="armijo",
                                         f_noise_ulps=0.0)
        outcome = _DRIVER_OUTCOMES.get(run.outcome, run.outcome)
        x = run.x
        grad = res.user_array(run.g)
        r, J = res.user_residuals(res.residuals(x)), res.jacobian(x).user
        cost = 0.5 * dot(xp, r, r)
    message = with_detail(outcome, run.detail)
    if verbose >= 1:
        Progress(True, f"least_squares {method}", "").summary(message, cost=cost, nfev=res.nfev, njev=res.njev)
    if box is None:
        optimality, active = max_abs(xp, grad), xp.zeros(n, dtype=xp.int32, device=device(x0))
    else:
        optimality = projected_gradient_norm(xp, x, grad, *box)
        active = xp.astype(active_mask(xp, x, *box), xp.int32)
    return OptimizeResult(x=x, cost=cost, fun=r, jac=J, grad=grad, optimality=optimality,
                          active_mask=active,
                          status=outcome.status, nfev=res.nfev, njev=res.njev, nit=run.nit,
                          message=message, success=outcome.success, outcome=outcome)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _tolerance(name: str, value) -> float:
    """ftol, xtol or gtol as scipy takes them: None (the test off, as 0) or a finite number >= 0."""
    if value is None:
        return 0.0
    if not _is_real(value):
        raise TypeError(f"{name} must be a number >= 0 or None; got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0 or None (None or 0 turns the test off); got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _LineSearchSettings:
    """Gauss-Newton's Armijo backtracking: c1 and at most max_line_search trial points (fewer when the budget
    max_nfev is nearly spent)."""

    c1: float = 1e-4
    c2: float = 0.9  # unused by backtracking
    max_line_search: int = 60


_GAUSS_NEWTON_LINE_SEARCH = _LineSearchSettings()

# the drivers' own outcomes (failures of their arithmetic, or the user's StopIteration) as scipy numbers them
_DRIVER_OUTCOMES = {
    Outcome.NON_FINITE: LSO.NON_FINITE,
    Outcome.OVERFLOW: LSO.OVERFLOW,
    Outcome.CALLBACK_STOP: LSO.CALLBACK_STOP,
    Outcome.NO_PROGRESS: LSO.NO_PROGRESS,
    Outcome.LINE_SEARCH_FAILED: LSO.NO_PROGRESS,
}


def _tolerance_outcome(ftol_ok: bool, xtol_ok: bool):
    """The MINPACK status for the ftol / xtol tests (both, one, or None: not converged)."""
    if ftol_ok and xtol_ok:
        return LSO.FTOL_XTOL
    if ftol_ok:
        return LSO.FTOL
    if xtol_ok:
        return LSO.XTOL
    return None


def _max_cosine(xp, J, r, r_norm) -> float:
    """max_j |J_j' r| / (||J_j|| ||r||) over columns with ||J_j|| > 0 (MINPACK's gtol measure); 1 (the test
    fails) for a J known only through products, whose column norms are unknown, unless r = 0."""
    if r_norm == 0.0:
        return 0.0
    col = column_norms(J)
    if col is None:
        return 1.0
    Jr = J.rmatvec(r)
    safe = xp.where(col > 0, col, xp.ones_like(col))
    cos = xp.where(col > 0, xp.abs(Jr) / (safe * r_norm), xp.zeros_like(col))
    return float(xp.max(cos))


class LeastSquaresTests:
    """scipy.optimize.least_squares' tests and statuses (see the module docstring), handed to the drivers
    through the iteration skeleton. ``optimality_tol < 0`` turns ricci's own test off. Keeps what MINPACK's
    tests remember at the current point (the rounding error of the cost, the first step the model disowned):
    mutable, one per run."""

    def __init__(self, *, method: str, ftol: float, xtol: float, gtol: float, optimality_tol: float,
                 max_nfev: int, machine_eps: float):
        self.method, self.ftol, self.xtol, self.gtol = method, ftol, xtol, gtol
        self.optimality_tol, self.max_nfev, self.machine_eps = optimality_tol, max_nfev, machine_eps
        self._cost_rounding = 0.0
        self._rose = None  # (rise, model's promise) at the first rejected step below ftol/xtol the model disowns

    # ---- both methods ------------------------------------------------------------------------------------
    def at_top(self, res, k: int, x, f: float, g):
        """At each accepted point: MINPACK's cosine (GTOL, also when r = 0), ricci's max_i |g_i| <=
        optimality_tol (OPTIMALITY), then the evaluation budget (MAX_NFEV)."""
        xp = res.xp
        scaled_norm = max_abs(xp, g)
        grad_norm = res.user_value(scaled_norm)  # the gradient scales as the cost (inf if only the user's overflows)
        if not math.isfinite(scaled_norm):
            return LSO.OVERFLOW, "The gradient J'r of the cost overflowed."
        r = res.residuals(x)
        J = res.jacobian(x).op
        r_norm = norm(xp, r)
        at_start = "It held at the starting point, before any step." if k == 0 else None
        if r_norm == 0.0 or f == 0.0 or _max_cosine(xp, J, r, r_norm) <= self.gtol:  # f 0: r^2 underflowed
            return LSO.GTOL, at_start
        if grad_norm <= self.optimality_tol:
            if k == 0:
                at_start = (f"It held at the starting point, before any step: |J'r|_inf = {grad_norm:.3g} <= "
                            f"optimality_tol = {self.optimality_tol:.3g} (an absolute test: for residuals scaled by "
                            "a tiny factor, lower it or rescale them).")
            return LSO.OPTIMALITY, at_start
        if self.method == "lm":  # what after_trial remembers at this point
            # the rounding error of the cost: r is computed from terms of the size of r and of J x, each with a
            # relative error of a few eps, and cost = 1/2 ||r||^2 moves by about ||r|| times that
            r_rounding = 10.0 * self.machine_eps * (r_norm + J.norm_estimate() * norm(xp, x))
            self._cost_rounding = r_rounding * (r_norm + 0.5 * r_rounding)
            self._rose = None
        return self.before_trial(res)

    def before_trial(self, res):
        """The budget: MAX_NFEV once max_nfev residual evaluations are spent."""
        return (LSO.MAX_NFEV, None) if res.nfev >= self.max_nfev else (None, None)

    def nonfinite_gradient(self, res):
        return LSO.NON_FINITE, "The Jacobian had NaN or inf entries at the next point, where the residuals were finite."

    # ---- Gauss-Newton on the line-search driver ----------------------------------------------------------
    def line_search_steps(self, res, max_steps: int) -> int:
        return max(1, min(max_steps, self.max_nfev - res.nfev))

    def line_search_failed(self, res, nonfinite: bool):
        if res.nfev >= self.max_nfev:
            return LSO.MAX_NFEV, None
        if nonfinite:
            return LSO.NON_FINITE, ("The residuals were NaN or inf at trial points along the last Gauss-Newton "
                                    "direction, and no finite trial decreased the cost.")
        return LSO.NO_PROGRESS, None

    def after_step(self, res, step):
        """ftol and xtol on the full Gauss-Newton step p: a step cut short by the line search means the model is
        poor (e.g. J nearly rank-deficient), not that the iteration has converged."""
        cost = step.f
        actual = cost - step.f_new
        ftol_ok = abs(actual) <= self.ftol * cost and step.model_decrease <= self.ftol * cost
        xtol_ok = step.p_norm <= self.xtol * (self.xtol + norm(res.xp, step.x))
        return _tolerance_outcome(ftol_ok, xtol_ok), None

    # ---- Levenberg-Marquardt on the trust-region driver --------------------------------------------------
    def after_trial(self, res, trial):
        """MINPACK's tests after every trial step, accepted or not, with ricci's departures (module docstring):
        ftol, xtol, and "no further progress in this precision"."""
        step, ftol, eps = trial.step, self.ftol, self.machine_eps
        cost, cost_now = trial.f, trial.f_new  # before the trial; at the point the iteration continues from
        finite = math.isfinite(trial.f_trial)
        actual = cost - trial.f_trial
        rel_actual = abs(actual) / cost if finite else math.inf
        rel_predicted = step.predicted_decrease / cost
        ftol_ok = rel_actual <= ftol and rel_predicted <= ftol and trial.rho <= 2.0
        if ftol_ok and step.multiplier > 0:  # the radius cut the step short: judge the model's own minimizer
            ftol_ok = step.model_reduction() <= ftol * cost
        x_scaled_norm = step.region_norm(trial.x_new)
        xtol_ok = trial.radius <= self.xtol * x_scaled_norm

        def model_disowns() -> bool:  # the model still promises more than ftol or the cost's rounding
            return step.model_reduction() > max(ftol * cost_now, self._cost_rounding)

        # A rejected step (or one accepted on a decrease within rounding) counts only if the model itself has
        # nothing left to offer: its reduction at its own minimizer is within ftol or the rounding of the cost.
        # Otherwise (a Jacobian that does not match r, a radius shrunk to rounding level) the radius keeps
        # shrinking.
        if (ftol_ok or xtol_ok) and not (trial.accepted and actual > self._cost_rounding) and model_disowns():
            ftol_ok = xtol_ok = False
            if self._rose is None:
                self._rose = (-actual if finite else math.inf, step.model_reduction())
        converged = _tolerance_outcome(ftol_ok, xtol_ok)
        if converged is not None:
            return converged, None
        # MINPACK's "tolerance too small" tests: no further progress is possible in this precision
        if (rel_actual <= eps and rel_predicted <= eps and trial.rho <= 2.0) or trial.radius <= eps * x_scaled_norm:
            if self._rose is None and not trial.accepted and model_disowns():
                self._rose = (-actual if finite else math.inf, step.model_reduction())
            return LSO.NO_PROGRESS, _rose_detail(res, self._rose)
        return None, None


def _rose_detail(res, rose) -> str | None:
    if rose is None:
        return None
    change, promised = (res.user_value(v) for v in rose)
    how = f"rose by {change:.3g}" if change > 0 else f"changed by {-change:.3g}"
    return (f"The Gauss-Newton model promises a decrease of the cost by {promised:.3g}, yet along its direction "
            f"the cost {how} even for steps below ftol/xtol: the Jacobian may not match the residuals (check it "
            "against finite differences), or r is not smooth at x.")


_BOUNDED_TESTS = bounded_tests(LeastSquaresTests)
