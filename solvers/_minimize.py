"""The public entry point ``minimize``: scipy.optimize.minimize's semantics on ricci's methods.

The methods themselves, one record each, are in ``_methods.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace

from array_api_compat import array_namespace

from ._bounds import standardize_bounds
from ._methods import METHOD_REGISTRY, get_method
from ._options import CommonOptions


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, tol=None, callback=None,
             options=None, *, bounds=None, constraints=()):
    """Minimize a scalar function of one vector with exact derivatives, optionally subject to bounds and
    constraints.

    ``bounds``: scipy.optimize.Bounds or a sequence of (lo, hi) pairs (None for a free side). ``constraints``:
    one or a list of scipy.optimize.LinearConstraint, NonlinearConstraint (callable jac; hess(x, v) the Hessian
    of v'c(x)), scipy's dicts {'type': 'eq' | 'ineq', 'fun', 'jac', 'args'} or objects with fun/jac/hess(x, v)/
    lo/hi such as ``rs.Constraint``. ``method=None`` chooses "newton" without bounds and constraints, "tron"
    (Lin & More's projected trust-region Newton method) with bounds only, and "auglag" (augmented Lagrangian
    around tron) otherwise; the unconstrained methods refuse bounds and constraints with a ValueError.
    Constrained results add scipy trust-constr's fields (``v``, ``constr``, ``constr_violation``,
    ``lagrangian_grad``, ``optimality``).

    Positional order: the first seven parameters are scipy's; ``tol, callback, options`` keep the places they
    had in ricci before bounds and constraints existed, so ``bounds`` and ``constraints`` are keyword-only (a
    call written with scipy's positional order passes bounds where tol is and fails with a TypeError saying so).

    Semantics and result fields follow scipy.optimize.minimize: the result has x, fun, jac, hess (for the
    Hessian-matrix methods: the Hessian at x), nit, nfev, njev, nhev, status, success, message, and
    ``outcome`` (the :class:`Outcome` member). ``fun`` may be an object with fun/jac/hess/hessp methods;
    ``jac=True`` means fun returns (f, g). ``method`` is one of ``METHODS`` or a callable with the same
    signature as the methods. ``options`` is a mapping or the method's options dataclass; ``tol`` sets gtol.
    Convergence: ``max_i |g_i| <= gtol`` (infinity norm; default 1e-5; a finite number >= 0, 0 turning the
    test off as in scipy). When the test already holds at x0 the message says so: gtol is absolute, so an f
    scaled by 1e-150 "converges" at x0 unless gtol is scaled with it.

    x0 must be float32 or float64 (float16 and longer floats are refused with a TypeError: the dense linear
    algebra exists for those two only). fun must return a real number and jac, hess, hessp real arrays of
    the right shape; complex, text or None values are a TypeError naming the function, never cast. Values of
    any magnitude are handled: the methods work on f times an exact power of two chosen at x0, so f scaled by
    1e+-300 takes the steps of the unscaled f (see ``_evaluator.py``); a stop caused by ricci's own arithmetic
    overflowing is ``Outcome.OVERFLOW`` (status 5), one caused by the user's NaN or inf ``Outcome.NON_FINITE``
    (status 4), and the message says which value it was.
    """
    if tol is not None and not isinstance(tol, (int, float)) and _looks_like_bounds(tol):
        raise TypeError("tol must be a number or None; got what looks like bounds. In ricci.solvers.minimize "
                        "bounds and constraints are keyword-only: pass bounds=... and constraints=...")
    constrained = _has_constraints(constraints)
    if method is None:
        method = "auglag" if constrained else "tron" if bounds is not None else "newton"
    solver = method if callable(method) else get_method(method, family="minimize").function
    extra = {}  # only when given, so that callables written before bounds existed keep working
    if bounds is not None:
        extra["bounds"] = bounds
    if constrained:
        extra["constraints"] = constraints
    if options is None:
        kwargs = {}
    elif isinstance(options, Mapping):
        kwargs = dict(options)
    else:
        if not isinstance(options, CommonOptions):
            raise TypeError(f"options must be a mapping or an options dataclass; got {type(options).__name__}")
        res = _call_with_dataclass(solver, options, fun, x0, args, jac, hess, hessp, tol, callback, extra)
        return _with_bound_fields(res, bounds) if bounds is not None and not constrained else res
    res = solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback, tol=tol, **extra,
                 **kwargs)
    return _with_bound_fields(res, bounds) if bounds is not None and not constrained else res


def _with_bound_fields(res, bounds):
    """trust-constr's fields for a bounds-only result that lacks them: ``constr`` ([x]), ``constr_violation``
    (how far x lies outside the box) and ``v`` ([z], z_i = -g_i where x_i is at a bound and g pushes out of
    the box, else 0: grad f + z = 0 on the active set, z < 0 at a lower bound, as trust-constr reports)."""
    if "constr_violation" in res or "x" not in res or "jac" not in res:
        return res
    x, g = res.x, res.jac
    xp = array_namespace(x)
    lo, hi = standardize_bounds(bounds, x.shape[0], xp, x.dtype)
    outside = xp.maximum(xp.maximum(lo - x, x - hi), xp.zeros_like(x))
    zero = xp.zeros_like(x)
    z = xp.where((x <= lo) & (g > 0), -g, zero)
    z = xp.where((x >= hi) & (g < 0), -g, z)
    res.update(constr=[x], constr_violation=float(xp.max(outside)), v=[z], lagrangian_grad=g + z,
               optimality=float(xp.max(xp.abs(g + z))))
    return res


def _has_constraints(constraints) -> bool:
    """False for None and empty sequences (scipy's "no constraints"), True for anything else."""
    if constraints is None:
        return False
    if isinstance(constraints, (list, tuple)):
        return len(constraints) > 0
    return True


def _looks_like_bounds(value) -> bool:
    from scipy.optimize import Bounds

    return isinstance(value, (Bounds, list, tuple))


def _call_with_dataclass(solver, options, fun, x0, args, jac, hess, hessp, tol, callback, extra):
    if tol is not None:
        options = replace(options, gtol=tol)
    want = next((m.options for m in METHOD_REGISTRY.values() if m.function is solver), None)
    if want is not None and type(options) is not want:
        raise TypeError(f"options for {solver.__name__} must be a {want.__name__}; got {type(options).__name__}")
    return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback, **extra,
                  **asdict(options))
