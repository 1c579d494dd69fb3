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
    Convergence: ``max_i |g_i| <= gtol`` (infinity norm; default 1e-5).
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
