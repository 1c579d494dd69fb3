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

J is an operator (DESIGN.md, "Derivatives as operators"): ``jac`` may return a dense array, a scipy.sparse
matrix, a ricci.solvers Operator or a scipy LinearOperator, and an object with a ``jac_operator(x)`` method is
asked for the operator. The structure decides how the normal equations are solved (``_jacobian.py``): a dense
J forms J'J as before; a structured J keeps them in its structure (``J.gram()``, factorized with the shift);
a J known only through products is solved by LSQR on [J; sqrt(mu) I] (its column norms are then unknown:
x_scale="jac" means no scaling, and MINPACK's gtol cosine test holds only at r = 0).

Termination follows scipy.optimize.least_squares (and MINPACK for "lm"):
* ftol: the relative actual and predicted reductions of the cost are both at most ftol (for "lm" also
  rho <= 2, i.e. the model agreed with the cost);
* xtol: for "lm" radius <= xtol ||D x|| (MINPACK); for "gauss-newton" ||p|| <= xtol (xtol + ||x||) for the
  full Gauss-Newton step p (the ftol test, too, uses the full step's predicted reduction);
* gtol: the largest cosine between a column of J and r is at most gtol (MINPACK), or r = 0.

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
  an x0 near (but not at) 0; the first iteration still cuts it to the first step, as in MINPACK.
* A cost 1/2 ||r||^2 that underflows to 0 counts as r = 0 (the gtol test holds).

Scaling: the driver works on ``scale * r`` and ``scale * J`` for a power of two ``scale`` chosen at x0 (1 unless
r or J is of magnitude beyond 2^+-450; see ``_arrays.power_of_two_scale``), so that 1/2 ||r||^2 and J'J do not
overflow for residuals of 1e200; the scaling is exact and the result is reported in the user's units.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import partial

from array_api_compat import device
from scipy.optimize import OptimizeResult

from ._arrays import (
    NonFiniteValue,
    all_finite,
    as_array,
    copy,
    dot,
    eps,
    max_abs,
    norm,
    overflow_detail,
    power_of_two_scale,
    prepare_x0,
)
from ._callback import wrap_callback
from ._evaluator import FloatingPointGuard
from ._jacobian import (
    column_norms,
    damped_solve,
    is_finite,
    lsqr_trust_region,
    magnitude,
    scaled_gram,
)
from ._line_search import Ray, backtracking
from ._more_sorensen import more_sorensen
from ._newton_step import newton_direction
from ._progress import Progress
from ._result import LeastSquaresOutcome as LSO
from ._result import with_detail
from ._user_operators import dense_form, derivative_operator, products_only


@dataclass(frozen=True)
class Jacobian:
    """The Jacobian at a point: ``op`` the operator the driver computes with (multiplied by the residuals'
    ``scale``), ``user`` what the user's jac returned (the array, or the operator), for the result and the
    callback."""

    op: object
    user: object


class _Residuals:
    """Counted calls to the residual function and its Jacobian, both multiplied by ``scale`` (a power of two,
    1 unless :meth:`set_scale` chose another at x0)."""

    def __init__(self, xp, x0, fun, jac, args, kwargs, guard):
        self.xp, self.like, self.n = xp, x0, x0.shape[0]
        self._fun, self._jac, self.args, self.kwargs, self.guard = fun, jac, args, kwargs, guard
        self.jac_name = "jac_operator" if getattr(jac, "__name__", "") == "jac_operator" else "jac"
        self.nfev = self.njev = 0
        self.m = None
        self._rx = self._r = None
        self.scale = 1.0

    def set_scale(self, magnitude: float) -> float:
        """Work on ``scale * r`` from now on (see the module docstring); returns the factor by which values
        computed so far must be multiplied."""
        scale = power_of_two_scale(magnitude, degree=2)  # r'r, J'r and J'J
        ratio, self.scale = scale / self.scale, scale
        if self._r is not None:
            self._r = self._r * ratio
        return ratio

    def user(self, a):
        """A (scaled) residual vector or Jacobian in the user's units."""
        return a if self.scale == 1.0 else a * (1.0 / self.scale)

    def residuals(self, x):
        if x is self._rx:
            return self._r
        with self.guard.user():
            raw = self._fun(x, *self.args, **self.kwargs)
        self.nfev += 1
        if self.m is None:
            arr = as_array(self.xp, raw, self.like, None, "fun")
            if arr.ndim != 1:
                raise ValueError(f"fun must return a 1-D array of residuals; got shape {tuple(arr.shape)}")
            if arr.shape[0] == 0:
                raise ValueError("fun must return at least one residual; got an empty array")
            self.m = arr.shape[0]
        else:
            arr = as_array(self.xp, raw, self.like, (self.m,), "fun")
        self._rx, self._r = x, arr if self.scale == 1.0 else arr * self.scale
        return self._r

    def jacobian(self, x) -> Jacobian:
        with self.guard.user():
            raw = self._jac(x, *self.args, **self.kwargs)
        self.njev += 1
        op, user = derivative_operator(raw, self.xp, self.like, (self.m, self.n), self.jac_name, symmetric=False)
        return Jacobian(op if self.scale == 1.0 else self.scale * op, user)

    def cost(self, x) -> float:
        r = self.residuals(x)
        return 0.5 * dot(self.xp, r, r)

    # the Ray of _line_search expects an evaluator with .value and .xp
    def value(self, x) -> float:
        return self.cost(x)


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


_EPS64 = 2.220446049250313e-16
_VALID = ("jac", "method", "ftol", "xtol", "gtol", "x_scale", "max_nfev", "verbose", "args", "kwargs",
          "callback", "initial_radius_factor", "optimality_tol")


def least_squares(fun, x0, jac=None, method="lm", ftol=1e-8, xtol=1e-8, gtol=1e-8, x_scale="jac",
                  max_nfev=None, verbose=0, args=(), kwargs=None, callback=None, initial_radius_factor=100.0,
                  optimality_tol=None, **unknown):
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
    if max_nfev is None:
        max_nfev = 100 * n
    elif not (_is_real(max_nfev) and math.isfinite(max_nfev) and float(max_nfev).is_integer() and max_nfev >= 1):
        raise ValueError(f"max_nfev must be a positive integer or None; got {max_nfev!r}")
    max_nfev = int(max_nfev)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    kwargs = dict(kwargs or {})

    with FloatingPointGuard() as guard:
        res = _Residuals(xp, x0, fun, jac, args, kwargs, guard)
        r0 = res.residuals(x0)
        if not all_finite(xp, r0):
            raise ValueError("Residuals are not finite in the initial point x0.")
        J0 = res.jacobian(x0)
        if not is_finite(J0.op):
            raise ValueError("The Jacobian is not finite in the initial point x0.")
        ratio = res.set_scale(max(max_abs(xp, r0), magnitude(J0.op)))
        r0 = res.residuals(x0)
        if ratio != 1.0:
            J0 = Jacobian(ratio * J0.op, J0.user)
        if not math.isfinite(0.5 * norm(xp, r0) ** 2):  # cannot happen after the scaling; kept as a guard
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
        driver = _levenberg_marquardt if method == "lm" else _gauss_newton
        user_notify = wrap_callback(callback)
        iterations = {"nit": 0}

        def notify(**info):  # counts iterations for the result's nit, then calls the user's callback
            iterations["nit"] = info.get("nit", iterations["nit"])
            return user_notify(**info) if user_notify is not None else False

        progress = Progress(verbose == 2, f"least_squares {method}", "radius" if method == "lm" else "step")
        x, r, J, outcome, detail = driver(
            res, x0, r0, J0, ftol=ftol, xtol=xtol, gtol=gtol,
            optimality_tol=-1.0 if optimality_tol is None else float(optimality_tol), max_nfev=max_nfev,
            x_scale=column_scale, factor=float(initial_radius_factor), progress=progress, notify=notify)
        grad = _user_grad(res, J.op.rmatvec(r))
        r, J = res.user(r), J.user
        cost = 0.5 * dot(xp, r, r)
    message = with_detail(outcome, detail)
    if verbose >= 1:
        Progress(True, f"least_squares {method}", "").summary(message, cost=cost, nfev=res.nfev, njev=res.njev)
    return OptimizeResult(x=x, cost=cost, fun=r, jac=J, grad=grad, optimality=max_abs(xp, grad),
                          active_mask=xp.zeros(n, dtype=xp.int32, device=device(x0)),
                          status=outcome.status, nfev=res.nfev, njev=res.njev, nit=iterations["nit"],
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


def _tolerance_outcome(ftol_ok: bool, xtol_ok: bool):
    """The MINPACK status for the ftol / xtol tests (both, one, or None: not converged)."""
    if ftol_ok and xtol_ok:
        return LSO.FTOL_XTOL
    if ftol_ok:
        return LSO.FTOL
    if xtol_ok:
        return LSO.XTOL
    return None


def _user_grad(res, g):
    """grad = J'r in the user's units: the driver's r and J are both multiplied by res.scale."""
    return g if res.scale == 1.0 else g * (1.0 / res.scale) * (1.0 / res.scale)


def _user_cost(res, cost: float) -> float:
    return cost if res.scale == 1.0 else cost / res.scale / res.scale


def _notify(notify, res, x, r, J, cost, nit) -> bool:
    if notify is None:
        return False
    xp = res.xp
    grad = _user_grad(res, J.op.rmatvec(r))
    return notify(x=copy(xp, x), cost=_user_cost(res, cost), fun=res.user(r), jac=J.user, grad=grad,
                  optimality=max_abs(xp, grad), nit=nit)


def _gradient_test(res, J, r, r_norm, *, nit, cost, last, progress, gtol, optimality_tol):
    """The top of an iteration: grad = J'r, the report line, then the tests on the gradient: MINPACK's cosine
    (GTOL, also when r = 0) and ricci's max_i |grad_i| <= optimality_tol (OPTIMALITY; optimality_tol < 0: off).
    Returns ``(grad, outcome, detail)``, outcome None when neither test holds; ``last`` is the report's last
    column."""
    xp = res.xp
    grad = J.op.rmatvec(r)
    scaled_norm = max_abs(xp, grad)
    grad_norm = _user_cost(res, scaled_norm)  # the gradient scales as the cost (inf if only the user's overflows)
    progress.iteration(nit, _user_cost(res, cost), grad_norm, last)
    if not math.isfinite(scaled_norm):
        return grad, LSO.OVERFLOW, "The gradient J'r of the cost overflowed."
    at_start = "It held at the starting point, before any step." if nit == 0 else None
    if r_norm == 0.0 or cost == 0.0 or _max_cosine(xp, J.op, r, r_norm) <= gtol:  # cost 0: r^2 underflowed
        return grad, LSO.GTOL, at_start
    if grad_norm <= optimality_tol:
        if nit == 0:
            at_start = (f"It held at the starting point, before any step: |J'r|_inf = {grad_norm:.3g} <= "
                        f"optimality_tol = {optimality_tol:.3g} (an absolute test: for residuals scaled by a tiny "
                        "factor, lower it or rescale them).")
        return grad, LSO.OPTIMALITY, at_start
    return grad, None, None


def _levenberg_marquardt(res, x, r, J, *, ftol, xtol, gtol, optimality_tol, max_nfev, x_scale, factor, progress,
                         notify):
    """More (1978): trust region in the scaled norm ||D p|| with the More-Sorensen subproblem; the radius
    updates and the convergence tests follow MINPACK's lmder, except that a rejected step that raised the cost
    cannot satisfy ftol or xtol (see the module docstring). Returns ``(x, r, J, outcome, detail)``."""
    xp = res.xp
    dtype_eps = eps(xp, x)
    col = column_norms(J.op) if x_scale is None else None
    if x_scale is not None:
        D = 1.0 / x_scale
    elif col is None:  # a J known only through products: no column norms, no scaling
        D = xp.ones_like(x)
    else:
        D = xp.where(col > 0, col, xp.ones_like(col))
    r_norm = norm(xp, r)
    cost = 0.5 * r_norm * r_norm
    x_scaled_norm = norm(xp, D * x)
    radius = factor * max(x_scaled_norm, r_norm) if x_scaled_norm > 0 or r_norm > 0 else factor
    nit = 0
    first = True
    while True:
        grad, converged, detail = _gradient_test(res, J, r, r_norm, nit=nit, cost=cost, last=radius,
                                                 progress=progress, gtol=gtol, optimality_tol=optimality_tol)
        if converged is not None:
            return x, r, J, converged, detail
        # scaled subproblem in q = D p:  B_s = D^-1 J'J D^-1, g_s = D^-1 J'r; More-Sorensen on B_s kept in J's
        # structure, or LSQR on [J D^-1; sqrt(lambda) I] for a J known only through products (_jacobian.py)
        Jop, s = J.op, 1.0 / D
        gs = grad * s
        if products_only(Jop):
            B = None
            subproblem = partial(lsqr_trust_region, xp, Jop, r, s, k_easy=0.1)
        else:
            B = scaled_gram(Jop, s)
            subproblem = partial(more_sorensen, xp, B, gs, k_easy=0.1, positive_semidefinite=True)
        model_reduction = partial(_full_model_reduction, xp, Jop, r, B, gs)  # of this iteration's model
        # the rounding error of the cost: r is computed from terms of the size of r and of J x, each with a
        # relative error of a few eps, and cost = 1/2 ||r||^2 moves by about ||r|| times that
        r_rounding = 10.0 * dtype_eps * (r_norm + Jop.norm_estimate() * norm(xp, x))
        cost_rounding = r_rounding * (r_norm + 0.5 * r_rounding)
        rose = None  # (rise, model's promise) at the first rejected step below ftol/xtol the model disowns
        full_reduction = None  # the model's reduction at its own minimizer, computed when first needed
        while True:  # MINPACK's inner loop: shrink the radius until a step is accepted
            if res.nfev >= max_nfev:
                return x, r, J, LSO.MAX_NFEV, None
            try:
                sol = subproblem(radius)
            except ArithmeticError as exc:
                return x, r, J, LSO.OVERFLOW, overflow_detail(exc)
            q = sol.step
            p = q / D
            q_norm = norm(xp, q)
            if not (math.isfinite(q_norm) and all_finite(xp, p)):
                return x, r, J, LSO.OVERFLOW, "The Levenberg-Marquardt step overflowed."
            if first:  # on the first iteration the initial radius is adjusted to the first step
                radius = min(radius, q_norm) if q_norm > 0 else radius
                first = False
            Jp = Jop.matvec(p)
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
            ftol_ok = rel_actual <= ftol and rel_predicted <= ftol and rho <= 2.0
            if ftol_ok and sol.multiplier > 0:  # the radius cut the step short: judge the model's own minimizer
                if full_reduction is None:
                    full_reduction = model_reduction()
                ftol_ok = full_reduction <= ftol * cost
            if accepted:
                J_new = res.jacobian(x_new)
                if not is_finite(J_new.op):
                    return x, r, J, LSO.NON_FINITE, ("The Jacobian had NaN or inf entries at the next point, "
                                                     "where the residuals were finite.")
                x, r, J, cost, r_norm = x_new, r_new, J_new, cost_new, r_new_norm
                nit += 1
                col = column_norms(J.op) if x_scale is None else None
                if col is not None:
                    D = xp.maximum(D, col)
                x_scaled_norm = norm(xp, D * x)
            xtol_ok = radius <= xtol * x_scaled_norm
            if (ftol_ok or xtol_ok) and not (accepted and actual > cost_rounding):
                # A rejected step (or one accepted on a decrease within rounding) counts only if the model itself
                # has nothing left to offer: its reduction at its own minimizer is within ftol or the rounding of
                # the cost. Otherwise (a Jacobian that does not match r, a radius shrunk to rounding level) the
                # radius keeps shrinking.
                if full_reduction is None:
                    full_reduction = model_reduction()
                if full_reduction > max(ftol * cost, cost_rounding):
                    ftol_ok = xtol_ok = False
                    if rose is None:
                        rose = (-actual if finite else math.inf, full_reduction)
            converged = _tolerance_outcome(ftol_ok, xtol_ok)
            if converged is not None:
                return x, r, J, converged, None
            # MINPACK's "tolerance too small" tests: no further progress is possible in this precision
            if (rel_actual <= dtype_eps and rel_predicted <= dtype_eps and rho <= 2.0) or \
                    radius <= dtype_eps * x_scaled_norm:
                if rose is None and not accepted:
                    if full_reduction is None:
                        full_reduction = model_reduction()
                    if full_reduction > max(ftol * cost, cost_rounding):
                        rose = (-actual if finite else math.inf, full_reduction)
                return x, r, J, LSO.NO_PROGRESS, _rose_detail(res, rose)
            if accepted:
                if _notify(notify, res, x, r, J, cost, nit):
                    return x, r, J, LSO.CALLBACK_STOP, None
                break


def _full_model_reduction(xp, J, r, B, gs) -> float:
    """m(0) - min_p m(p) = 1/2 gs' B^+ gs for the scaled Gauss-Newton model (B = Js'Js, gs = Js'r): the reduction
    the model promises for its unconstrained minimizer. For a dense B from one eigendecomposition of B;
    otherwise 1/2 ||J p*||^2 for the least-squares solution p* of J p = -r by LSQR (r + J p* is orthogonal to
    the range of J, so 1/2 ||r||^2 - 1/2 ||r + J p*||^2 = 1/2 ||J p*||^2; the column scaling does not change it)."""
    A = None if B is None else dense_form(B)
    if A is None:
        Jp = J.matvec(damped_solve(J, r, 0.0))
        return 0.5 * dot(xp, Jp, Jp)
    B = A
    w, V = xp.linalg.eigh(B)
    c = xp.linalg.matrix_transpose(V) @ gs
    cutoff = B.shape[0] * eps(xp, B) * max(float(xp.max(w)), 0.0)
    keep = w > cutoff
    return 0.5 * float(xp.sum(xp.where(keep, c * c / xp.where(keep, w, xp.ones_like(w)), xp.zeros_like(w))))


def _rose_detail(res, rose) -> str | None:
    if rose is None:
        return None
    change, promised = (_user_cost(res, v) for v in rose)
    how = f"rose by {change:.3g}" if change > 0 else f"changed by {-change:.3g}"
    return (f"The Gauss-Newton model promises a decrease of the cost by {promised:.3g}, yet along its direction "
            f"the cost {how} even for steps below ftol/xtol: the Jacobian may not match the residuals (check it "
            "against finite differences), or r is not smooth at x.")


def _gauss_newton(res, x, r, J, *, ftol, xtol, gtol, optimality_tol, max_nfev, x_scale, factor, progress, notify):
    """Damped Gauss-Newton: safeguarded normal equations + Armijo backtracking on the cost. Returns
    ``(x, r, J, outcome, detail)``."""
    xp = res.xp
    r_norm = norm(xp, r)
    cost = 0.5 * r_norm * r_norm
    nit, step_norm = 0, None
    while True:
        grad, converged, detail = _gradient_test(res, J, r, r_norm, nit=nit, cost=cost, last=step_norm,
                                                 progress=progress, gtol=gtol, optimality_tol=optimality_tol)
        if converged is not None:
            return x, r, J, converged, detail
        if res.nfev >= max_nfev:
            return x, r, J, LSO.MAX_NFEV, None
        Jop = J.op
        try:
            if products_only(Jop):  # the minimum-norm solution of J S q = -r by LSQR: a descent direction
                ps = damped_solve(Jop, r, 0.0, x_scale)
            else:  # the safeguarded normal equations, kept in J's structure (_jacobian.py)
                ps, _ = newton_direction(xp, scaled_gram(Jop, x_scale), grad if x_scale is None else grad * x_scale,
                                         positive_semidefinite=True)
        except NonFiniteValue:  # J is finite, so J'J holding inf means ricci's product overflowed
            return x, r, J, LSO.OVERFLOW, "The Gauss-Newton matrix J'J overflowed."
        except ArithmeticError as exc:
            return x, r, J, LSO.OVERFLOW, overflow_detail(exc)
        p = ps if x_scale is None else ps * x_scale
        slope = dot(xp, grad, p)
        Jp = Jop.matvec(p)
        predicted = -(slope + 0.5 * dot(xp, Jp, Jp))
        ray = Ray(res, x, p)
        p_norm = norm(xp, p)
        ls = backtracking(ray, cost, slope, alpha0=1.0, c1=1e-4,
                          max_steps=max(1, min(60, max_nfev - res.nfev)),
                          min_alpha=eps(xp, x) * (1.0 + max_abs(xp, x)) / max(p_norm, 1e-300))
        if not ls.accepted:
            if res.nfev >= max_nfev:
                return x, r, J, LSO.MAX_NFEV, None
            if ls.nonfinite:
                return x, r, J, LSO.NON_FINITE, ("The residuals were NaN or inf at trial points along the last "
                                                 "Gauss-Newton direction, and no finite trial decreased the cost.")
            return x, r, J, LSO.NO_PROGRESS, None
        x_new = ray.point(ls.alpha)
        r_new = res.residuals(x_new)
        J_new = res.jacobian(x_new)
        if not is_finite(J_new.op):
            return x, r, J, LSO.NON_FINITE, ("The Jacobian had NaN or inf entries at the next point, where the "
                                             "residuals were finite.")
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
            return x, r, J, converged, None
        if _notify(notify, res, x, r, J, cost, nit):
            return x, r, J, LSO.CALLBACK_STOP, None
