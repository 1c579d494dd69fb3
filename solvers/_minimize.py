"""The public entry point ``minimize``: scipy.optimize.minimize's semantics on ricci's methods.

The methods themselves, one record each, are in ``_methods.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace

from ._methods import METHOD_REGISTRY, get_method
from ._options import CommonOptions


def minimize(fun, x0, args=(), method="newton", jac=None, hess=None, hessp=None, tol=None, callback=None,
             options=None):
    """Minimize a scalar function of one vector with exact derivatives.

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
    solver = method if callable(method) else get_method(method, family="minimize").function
    if options is None:
        kwargs = {}
    elif isinstance(options, Mapping):
        kwargs = dict(options)
    else:
        if not isinstance(options, CommonOptions):
            raise TypeError(f"options must be a mapping or an options dataclass; got {type(options).__name__}")
        return _call_with_dataclass(solver, options, fun, x0, args, jac, hess, hessp, tol, callback)
    return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback, tol=tol, **kwargs)


def _call_with_dataclass(solver, options, fun, x0, args, jac, hess, hessp, tol, callback):
    if tol is not None:
        options = replace(options, gtol=tol)
    want = next((m.options for m in METHOD_REGISTRY.values() if m.function is solver), None)
    if want is not None and type(options) is not want:
        raise TypeError(f"options for {solver.__name__} must be a {want.__name__}; got {type(options).__name__}")
    return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback, **asdict(options))
