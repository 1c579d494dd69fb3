"""The least-squares driver: minimize cost(x) = 1/2 ||r(x)||^2 with the Jacobian J of the residuals.

Both methods use the Gauss-Newton model m(p) = 1/2 ||r + J p||^2, whose gradient at p = 0 is g = J'r and whose
Hessian is J'J:

* ``"lm"`` - Levenberg-Marquardt as a trust region on the scaled step (More, 1978, "The Levenberg-Marquardt
  algorithm: implementation and theory"): minimize m(p) subject to ||D p|| <= radius with D = diag of the
  largest column norms of J seen so far. The subproblem is the trust-region subproblem of the damped normal
  equations (J'J + lambda D^2) p = -J'r, solved by More-Sorensen (the same module as trust-exact) in the
  variables D p; radius updates as in More (1978), Section 3.
* ``"gauss-newton"`` - damped Gauss-Newton: the direction solves (J'J + tau I) p = -J'r with tau from the
  safeguarded Cholesky of Algorithm 3.3 of Nocedal & Wright (2006) (tau = 0 when J has full column rank),
  globalized by Armijo backtracking on the cost.

Termination follows scipy.optimize.least_squares (and MINPACK for "lm"):
* ftol: the relative actual and predicted reductions of the cost are both at most ftol (for "lm" also
  rho <= 2, i.e. the model agreed with the cost);
* xtol: for "lm" radius <= xtol ||D x|| (MINPACK); for "gauss-newton" ||p|| <= xtol (xtol + ||x||) for the
  full Gauss-Newton step p (the ftol test, too, uses the full step's predicted reduction);
* gtol: the largest cosine between a column of J and r is at most gtol (MINPACK), or r = 0.

ricci adds one test of its own (scipy.optimize.least_squares has no such option):
* optimality_tol: the gradient of the cost has max_i |(J'r)_i| <= optimality_tol, the result's ``optimality``;
  the same test as ``minimize``'s gtol, so that one tolerance means one thing for every method.
"""
from __future__ import annotations

import math
import numbers

from array_api_compat import device
from scipy.optimize import OptimizeResult

from ._arrays import all_finite, as_array, copy, dot, eps, max_abs, norm, prepare_x0
from ._callback import wrap_callback
from ._evaluator import FloatingPointGuard
from ._line_search import Ray, backtracking
from ._more_sorensen import more_sorensen
from ._newton_step import NonFiniteHessian, newton_direction
from ._progress import Progress
from ._result import LeastSquaresOutcome as LSO


class _Residuals:
    """Counted calls to the residual function and its Jacobian."""

    def __init__(self, xp, x0, fun, jac, args, kwargs, guard):
        self.xp, self.like, self.n = xp, x0, x0.shape[0]
        self._fun, self._jac, self.args, self.kwargs, self.guard = fun, jac, args, kwargs, guard
        self.nfev = self.njev = 0
        self.m = None
        self._rx = self._r = None

    def residuals(self, x):
        if x is self._rx:
            return self._r
        with self.guard.user():
            raw = self._fun(x, *self.args, **self.kwargs)
        self.nfev += 1
        arr = raw if self.m is not None else self.xp.asarray(raw)
        if self.m is None:
            if arr.ndim != 1:
                raise ValueError(f"fun must return a 1-D array of residuals; got shape {tuple(arr.shape)}")
            self.m = arr.shape[0]
        self._rx, self._r = x, as_array(self.xp, arr, self.like, (self.m,), "fun")
        return self._r

    def jacobian(self, x):
        with self.guard.user():
            raw = self._jac(x, *self.args, **self.kwargs)
        self.njev += 1
        return as_array(self.xp, raw, self.like, (self.m, self.n), "jac")

    def cost(self, x) -> float:
        r = self.residuals(x)
        return 0.5 * dot(self.xp, r, r)

    # the Ray of _line_search expects an evaluator with .value and .xp
    def value(self, x) -> float:
        return self.cost(x)


def _max_cosine(xp, J, r, r_norm) -> float:
    """max_j |J_j' r| / (||J_j|| ||r||) over columns with ||J_j|| > 0 (MINPACK's gtol measure)."""
    if r_norm == 0.0:
        return 0.0
    col = xp.linalg.vector_norm(J, axis=0)
    Jr = xp.linalg.matrix_transpose(J) @ r
    safe = xp.where(col > 0, col, xp.ones_like(col))
    cos = xp.where(col > 0, xp.abs(Jr) / (safe * r_norm), xp.zeros_like(col))
    return float(xp.max(cos))


_EPS64 = 2.220446049250313e-16
_VALID = ("jac", "method", "ftol", "xtol", "gtol", "x_scale", "max_nfev", "verbose", "args", "kwargs",
          "callback", "initial_radius_factor", "optimality_tol")


def least_squares(fun, x0, jac=None, method="lm", ftol=1e-8, xtol=1e-8, gtol=1e-8, x_scale="jac",
                  max_nfev=None, verbose=0, args=(), kwargs=None, callback=None, initial_radius_factor=100.0,
                  optimality_tol=None, **unknown):
    """Solve min_x 1/2 ||r(x)||^2 by Levenberg-Marquardt (``method="lm"``) or damped Gauss-Newton
    (``method="gauss-newton"``); see the module docstring for the mathematics and the sources.

    ``fun(x, *args, **kwargs)`` returns the m residuals, ``jac(x, *args, **kwargs)`` their (m, n) Jacobian;
    ``fun`` may instead be an object with ``residual`` and ``jacobian`` methods. The result has the fields of
    scipy.optimize.least_squares: x, cost, fun, jac, grad, optimality (infinity norm of grad), active_mask,
    status, nfev, njev, message, success. ``callback`` follows scipy (``callback(intermediate_result)`` or
    ``callback(x)``; StopIteration stops with status -2). ``verbose``: 0 silent, 1 summary, 2 every iteration.

    ftol, xtol and gtol have scipy's meanings (gtol is MINPACK's cosine test, not a gradient norm; None turns
    a test off). ``optimality_tol`` is ricci's own (scipy has none): stop with status 5 once the gradient of
    the cost, g = J'r, has ``max_i |g_i| <= optimality_tol`` -- the gtol of ``minimize``. Default None (off).
    """
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(map(repr, sorted(unknown)))} for least_squares; "
                        f"valid options are: {', '.join(_VALID)}")
    if callable(getattr(fun, "residual", None)) and callable(getattr(fun, "jacobian", None)):
        obj = fun
        fun = obj.residual
        if jac is None:
            jac = getattr(obj, "jacobian", None)
    if not callable(fun):
        raise TypeError(f"fun must be callable or an object with residual/jacobian methods; got {type(fun).__name__}")
    if not callable(jac):
        raise TypeError("least_squares needs the exact Jacobian: pass jac=callable(x, *args, **kwargs) returning "
                        f"the (m, n) matrix; got {jac!r}")
    if method not in ("lm", "gauss-newton"):
        raise ValueError(f"method must be 'lm' or 'gauss-newton'; got {method!r}")
    for name, value in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        if value is None:
            value = 0.0
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0 or None; got {value!r}")
    ftol, xtol, gtol = (0.0 if t is None else float(t) for t in (ftol, xtol, gtol))
    if optimality_tol is not None and not (isinstance(optimality_tol, numbers.Real) and optimality_tol > 0):
        raise ValueError(f"optimality_tol must be a number > 0 or None; got {optimality_tol!r}")
    if max(ftol, xtol, gtol) < _EPS64 and optimality_tol is None:
        raise ValueError(f"at least one of ftol, xtol, gtol must be >= {_EPS64:.2e} (machine epsilon), "
                         "or optimality_tol given")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    if not initial_radius_factor > 0:
        raise ValueError(f"initial_radius_factor must be > 0; got {initial_radius_factor!r}")
    xp, x0 = prepare_x0(x0)
    n = x0.shape[0]
    if max_nfev is None:
        max_nfev = 100 * n
    elif not (int(max_nfev) == max_nfev and max_nfev >= 1):
        raise ValueError(f"max_nfev must be a positive integer or None; got {max_nfev!r}")
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    kwargs = dict(kwargs or {})

    with FloatingPointGuard() as guard:
        res = _Residuals(xp, x0, fun, jac, args, kwargs, guard)
        r0 = res.residuals(x0)
        if not all_finite(xp, r0):
            raise ValueError("Residuals are not finite in the initial point x0.")
        J0 = res.jacobian(x0)
        if not all_finite(xp, J0):
            raise ValueError("The Jacobian is not finite in the initial point x0.")
        if isinstance(x_scale, str):
            if x_scale != "jac":
                raise ValueError(f"x_scale must be 'jac', a positive number or array; got {x_scale!r}")
            scale = None
        else:
            scale = as_array(xp, xp.asarray(x_scale, dtype=x0.dtype) * xp.ones_like(x0), x0, (n,), "x_scale")
            if not bool(xp.all(scale > 0)):
                raise ValueError("x_scale entries must be positive")
        driver = _levenberg_marquardt if method == "lm" else _gauss_newton
        user_notify = wrap_callback(callback)
        iterations = {"nit": 0}

        def notify(**info):  # counts iterations for the result's nit, then calls the user's callback
            iterations["nit"] = info.get("nit", iterations["nit"])
            return user_notify(**info) if user_notify is not None else False

        progress = Progress(verbose == 2, f"least_squares {method}", "radius" if method == "lm" else "step")
        x, r, J, outcome = driver(res, x0, r0, J0, ftol=ftol, xtol=xtol, gtol=gtol,
                                  optimality_tol=-1.0 if optimality_tol is None else float(optimality_tol),
                                  max_nfev=max_nfev,
                                  scale=scale, factor=float(initial_radius_factor), progress=progress,
                                  notify=notify)
    cost = 0.5 * dot(xp, r, r)
    grad = xp.linalg.matrix_transpose(J) @ r
    if verbose >= 1:
        Progress(True, f"least_squares {method}", "").summary(
            outcome.message, cost=cost, nfev=res.nfev, njev=res.njev)
    return OptimizeResult(x=x, cost=cost, fun=r, jac=J, grad=grad, optimality=max_abs(xp, grad),
                          active_mask=xp.zeros(n, dtype=xp.int32, device=device(x0)),
                          status=outcome.status, nfev=res.nfev, njev=res.njev, nit=iterations["nit"],
                          message=outcome.message,
                          success=outcome.success, outcome=outcome)


def _tolerance_outcome(ftol_ok: bool, xtol_ok: bool):
    """The MINPACK status for the ftol / xtol tests (both, one, or None: not converged)."""
    if ftol_ok and xtol_ok:
        return LSO.FTOL_XTOL
    if ftol_ok:
        return LSO.FTOL
    if xtol_ok:
        return LSO.XTOL
    return None


def _notify(notify, xp, x, r, J, cost, nit) -> bool:
    if notify is None:
        return False
    grad = xp.linalg.matrix_transpose(J) @ r
    return notify(x=copy(xp, x), cost=cost, fun=r, jac=J, grad=grad, optimality=max_abs(xp, grad), nit=nit)


def _gradient_test(xp, J, r, r_norm, *, nit, cost, last, progress, gtol, optimality_tol):
    """The top of an iteration: grad = J'r, the report line, then the tests on the gradient: MINPACK's cosine
    (GTOL, also when r = 0) and ricci's max_i |grad_i| <= optimality_tol (OPTIMALITY; optimality_tol < 0: off).
    Returns ``(grad, outcome)``, outcome None when neither test holds; ``last`` is the report's last column."""
    grad = xp.linalg.matrix_transpose(J) @ r
    grad_norm = max_abs(xp, grad)
    progress.iteration(nit, cost, grad_norm, last)
    if r_norm == 0.0 or _max_cosine(xp, J, r, r_norm) <= gtol:
        return grad, LSO.GTOL
    if grad_norm <= optimality_tol:
        return grad, LSO.OPTIMALITY
    return grad, None


def _levenberg_marquardt(res, x, r, J, *, ftol, xtol, gtol, optimality_tol, max_nfev, scale, factor, progress,
                         notify):
    """More (1978): trust region in the scaled norm ||D p|| with the More-Sorensen subproblem; the radius
    updates and the convergence tests follow MINPACK's lmder."""
    xp = res.xp
    dtype_eps = eps(xp, x)
    if scale is None:
        col = xp.linalg.vector_norm(J, axis=0)
        D = xp.where(col > 0, col, xp.ones_like(col))
    else:
        D = 1.0 / scale
    r_norm = norm(xp, r)
    cost = 0.5 * r_norm * r_norm
    x_scaled_norm = norm(xp, D * x)
    radius = factor * x_scaled_norm if x_scaled_norm > 0 else factor
    nit = 0
    first = True
    while True:
        grad, converged = _gradient_test(xp, J, r, r_norm, nit=nit, cost=cost, last=radius, progress=progress,
                                         gtol=gtol, optimality_tol=optimality_tol)
        if converged is not None:
            return x, r, J, converged
        # scaled subproblem in q = D p:  B_s = D^-1 J'J D^-1, g_s = D^-1 J'r
        Js = J / D
        B = xp.linalg.matrix_transpose(Js) @ Js
        gs = grad / D
        while True:  # MINPACK's inner loop: shrink the radius until a step is accepted
            if res.nfev >= max_nfev:
                return x, r, J, LSO.MAX_NFEV
            sol = more_sorensen(xp, B, gs, radius, k_easy=0.1)
            q = sol.step
            p = q / D
            q_norm = norm(xp, q)
            if first:  # on the first iteration the initial radius is adjusted to the first step
                radius = min(radius, q_norm) if q_norm > 0 else radius
                first = False
            Jp = J @ p
            slope = dot(xp, grad, p)  # g'p = -(||Jp||^2 + lambda ||Dp||^2) <= 0
            predicted = -(slope + 0.5 * dot(xp, Jp, Jp))  # cost - m(p)
            x_new = x + p
            r_new = res.residuals(x_new)
            r_new_norm = norm(xp, r_new)
            finite = math.isfinite(r_new_norm)
            cost_new = 0.5 * r_new_norm * r_new_norm if finite else math.inf
            actual = cost - cost_new
            rho = actual / predicted if (predicted > 0 and finite) else -math.inf
            if rho <= 0.25:
                if not finite or cost_new >= 100.0 * cost:
                    mu = 0.1
                elif actual >= 0 or slope >= 0:
                    mu = 0.5
                else:  # minimizer of the quadratic through cost, slope, cost_new (MINPACK's temp)
                    mu = min(max(0.5 * slope / (slope + actual), 0.1), 0.5)
                radius = mu * min(radius, 10.0 * q_norm) if q_norm > 0 else mu * radius
            elif sol.multiplier == 0.0 or rho >= 0.75:
                radius = 2.0 * q_norm
            accepted = rho >= 1e-4
            rel_actual = abs(actual) / cost if finite else math.inf
            rel_predicted = predicted / cost
            if accepted:
                J_new = res.jacobian(x_new)
                if not all_finite(xp, J_new):
                    return x, r, J, LSO.NON_FINITE
                x, r, J, cost, r_norm = x_new, r_new, J_new, cost_new, r_new_norm
                nit += 1
                if scale is None:
                    D = xp.maximum(D, xp.linalg.vector_norm(J, axis=0))
                x_scaled_norm = norm(xp, D * x)
            ftol_ok = rel_actual <= ftol and rel_predicted <= ftol and rho <= 2.0
            xtol_ok = radius <= xtol * x_scaled_norm
            converged = _tolerance_outcome(ftol_ok, xtol_ok)
            if converged is not None:
                return x, r, J, converged
            # MINPACK's "tolerance too small" tests: no further progress is possible in this precision
            if (rel_actual <= dtype_eps and rel_predicted <= dtype_eps and rho <= 2.0) or \
                    radius <= dtype_eps * x_scaled_norm:
                return x, r, J, LSO.NO_PROGRESS
            if accepted:
                if _notify(notify, xp, x, r, J, cost, nit):
                    return x, r, J, LSO.CALLBACK_STOP
                break


def _gauss_newton(res, x, r, J, *, ftol, xtol, gtol, optimality_tol, max_nfev, scale, factor, progress, notify):
    """Damped Gauss-Newton: safeguarded normal equations + Armijo backtracking on the cost."""
    xp = res.xp
    r_norm = norm(xp, r)
    cost = 0.5 * r_norm * r_norm
    nit, step_norm = 0, None
    while True:
        grad, converged = _gradient_test(xp, J, r, r_norm, nit=nit, cost=cost, last=step_norm, progress=progress,
                                         gtol=gtol, optimality_tol=optimality_tol)
        if converged is not None:
            return x, r, J, converged
        if res.nfev >= max_nfev:
            return x, r, J, LSO.MAX_NFEV
        Js = J if scale is None else J * scale
        try:
            ps, _ = newton_direction(xp, xp.linalg.matrix_transpose(Js) @ Js,
                                     grad if scale is None else grad * scale)
        except NonFiniteHessian:
            return x, r, J, LSO.NON_FINITE
        p = ps if scale is None else ps * scale
        slope = dot(xp, grad, p)
        Jp = J @ p
        predicted = -(slope + 0.5 * dot(xp, Jp, Jp))
        ray = Ray(res, x, p)
        p_norm = norm(xp, p)
        ls = backtracking(ray, cost, slope, alpha0=1.0, c1=1e-4,
                          max_steps=max(1, min(60, max_nfev - res.nfev)),
                          min_alpha=eps(xp, x) * (1.0 + max_abs(xp, x)) / max(p_norm, 1e-300))
        if not ls.accepted:
            if res.nfev >= max_nfev:
                return x, r, J, LSO.MAX_NFEV
            return x, r, J, LSO.NON_FINITE if ls.nonfinite else LSO.NO_PROGRESS
        x_new = ray.point(ls.alpha)
        r_new = res.residuals(x_new)
        J_new = res.jacobian(x_new)
        if not all_finite(xp, J_new):
            return x, r, J, LSO.NON_FINITE
        actual = cost - ls.f
        step_norm = ls.alpha * p_norm
        x_norm = norm(xp, x)
        # The tests judge the full Gauss-Newton step: a step cut short by the line search means the model is
        # poor (e.g. J nearly rank-deficient), not that the iteration has converged.
        ftol_ok = abs(actual) <= ftol * cost and predicted <= ftol * cost
        xtol_ok = p_norm <= xtol * (xtol + x_norm)
        x, r, J, cost, r_norm = x_new, r_new, J_new, ls.f, norm(xp, r_new)
        nit += 1
        converged = _tolerance_outcome(ftol_ok, xtol_ok)
        if converged is not None:
            return x, r, J, converged
        if _notify(notify, xp, x, r, J, cost, nit):
            return x, r, J, LSO.CALLBACK_STOP
