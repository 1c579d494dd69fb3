"""The objective as the solvers see it: counted, memoized calls to the user's fun / jac / hess / hessp.

The user may pass plain callables (``jac=True``: ``fun`` returns ``(f, g)``), or an object with ``fun``,
``jac``, ``hess``, ``hessp`` (and optionally ``fun_and_jac``) methods, such as ``ricci.symbolic.Objective``;
explicit arguments override the object's methods. Values are memoized on the identity of the point, so
asking twice at the same x costs one call.

The solvers work on ``scale * f`` (and so on ``scale * g``, ``scale * H``) for a power of two ``scale``
chosen at x0 (:func:`._arrays.power_of_two_scale`): 1 for every f and g within 2^+-300 in magnitude; for
f of magnitude 1e150 the factor that brings it down to 2^300, for 1e-150 the one that brings it up to 1, so
that the solver's own products (g'Hg) neither overflow nor underflow.
The scaling is exact, and every value handed back to the user is unscaled (:meth:`Evaluator.user_value`,
:meth:`Evaluator.user_array`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ._arrays import as_array, as_scalar, power_of_two_scale


@dataclass
class Counts:
    nfev: int = 0
    njev: int = 0
    nhev: int = 0


def resolve_objective(fun, jac, hess, hessp, *, method: str, needs: str):
    """Sort out what the user gave. ``needs`` is "gradient", "hessian" or "hessian_or_product".

    Returns ``(fun, jac, fun_and_jac, hess, hessp)``; exactly one of ``fun``/``fun_and_jac`` may be None.
    """
    fun_and_jac = None
    if not callable(fun) or (callable(getattr(fun, "fun", None)) and callable(getattr(fun, "jac", None))):
        obj = fun
        if not callable(getattr(obj, "fun", None)):
            raise TypeError(f"fun must be callable or an object with fun/jac/hess/hessp methods; "
                            f"got {type(obj).__name__}")
        fun = obj.fun
        if jac is None:
            jac = getattr(obj, "jac", None)
            fun_and_jac = getattr(obj, "fun_and_jac", None)
            if not callable(fun_and_jac):
                fun_and_jac = None
        hess = hess if hess is not None else getattr(obj, "hess", None)
        hessp = hessp if hessp is not None else getattr(obj, "hessp", None)
    if jac is True:
        fun_and_jac, fun, jac = fun, None, None
    elif jac is None or jac is False:
        if fun_and_jac is None:
            raise TypeError(
                f"method {method!r} needs the exact gradient: pass jac=callable(x, *args), or jac=True when "
                "fun returns (f, g), or an object with fun and jac methods"
            )
    elif not callable(jac):
        raise TypeError(f"jac must be a callable, True or None; got {jac!r} (finite differences are not "
                        "supported: ricci.solvers uses exact derivatives)")
    if hess is not None and not callable(hess):
        raise TypeError(f"hess must be a callable returning the (n, n) Hessian; got {type(hess).__name__}")
    if hessp is not None and not callable(hessp):
        raise TypeError(f"hessp must be a callable hessp(x, p, *args); got {type(hessp).__name__}")
    if needs == "hessian" and hess is None:
        raise TypeError(f"method {method!r} needs the Hessian matrix: pass hess=callable(x, *args) "
                        "(or use trust-ncg / trust-krylov, which also accept hessp)")
    if needs == "hessian_or_product" and hess is None and hessp is None:
        raise TypeError(f"method {method!r} needs Hessian information: pass hess=callable(x, *args) "
                        "or hessp=callable(x, p, *args)")
    return fun, jac, fun_and_jac, hess, hessp


class FloatingPointGuard:
    """NumPy floating-point warnings are silenced in the solver's own arithmetic (it checks finiteness
    explicitly) and restored to the caller's settings around calls into user code."""

    def __init__(self):
        self.user_settings = np.geterr()
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self._stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"))
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def user(self):
        return np.errstate(**self.user_settings)


class Evaluator:
    """Counted, memoized evaluations at points of one namespace, dtype and shape."""

    def __init__(self, xp, x0, fun, jac, fun_and_jac, hess, hessp, args, guard: FloatingPointGuard):
        self.xp = xp
        self.like = x0
        self.n = x0.shape[0]
        self._fun, self._jac, self._fun_and_jac = fun, jac, fun_and_jac
        self._hess, self._hessp = hess, hessp
        self.args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        self.guard = guard
        self.counts = Counts()
        self._fx = self._f = None
        self._gx = self._g = None
        self._hx = self._h = None
        self.scale = 1.0

    def set_scale(self, magnitude: float) -> None:
        """Work on ``scale * f`` from now on, ``scale`` the power of two of :func:`power_of_two_scale`
        (values already memoized are rescaled)."""
        scale = power_of_two_scale(magnitude, degree=3)  # g'Hg is the highest product the methods form
        ratio = scale / self.scale
        if ratio == 1.0:
            return
        self.scale = scale
        if self._f is not None:
            self._f = self._f * ratio
        if self._g is not None:
            self._g = self._g * ratio
        if self._h is not None:
            self._h = self._h * ratio

    def user_value(self, f: float) -> float:
        """A (scaled) value of the solver as the user's f."""
        return f if self.scale == 1.0 else f / self.scale

    def user_array(self, a):
        """A (scaled) gradient or Hessian of the solver as the user's."""
        return a if self.scale == 1.0 or a is None else a * (1.0 / self.scale)

    def _scaled(self, value):
        return value if self.scale == 1.0 else value * self.scale

    def value(self, x) -> float:
        if x is self._fx:
            return self._f
        if self._fun is None or (self._fun_and_jac is not None and self._jac is None):
            self._both(x)
        else:
            with self.guard.user():
                raw = self._fun(x, *self.args)
            self.counts.nfev += 1
            self._fx, self._f = x, self._scaled(as_scalar(raw, "fun"))
        return self._f

    def gradient(self, x):
        if x is self._gx:
            return self._g
        if self._jac is None:
            self._both(x)
        else:
            with self.guard.user():
                raw = self._jac(x, *self.args)
            self.counts.njev += 1
            self._gx, self._g = x, self._scaled(as_array(self.xp, raw, self.like, (self.n,), "jac"))
        return self._g

    def value_and_gradient(self, x):
        if x is not self._fx and x is not self._gx and self._fun_and_jac is not None:
            self._both(x)
        return self.value(x), self.gradient(x)

    def _both(self, x):
        with self.guard.user():
            out = self._fun_and_jac(x, *self.args)
        try:
            f, g = out
        except (TypeError, ValueError) as exc:
            raise TypeError("with jac=True, fun must return a pair (f, g)") from exc
        self.counts.nfev += 1
        self.counts.njev += 1
        self._fx, self._f = x, self._scaled(as_scalar(f, "fun"))
        self._gx, self._g = x, self._scaled(as_array(self.xp, g, self.like, (self.n,), "jac"))

    def hessian(self, x):
        if x is self._hx:
            return self._h
        with self.guard.user():
            raw = self._hess(x, *self.args)
        self.counts.nhev += 1
        self._hx, self._h = x, self._scaled(as_array(self.xp, raw, self.like, (self.n, self.n), "hess"))
        return self._h

    def hessian_if_formed(self, x):
        """The Hessian at x if it has been evaluated there, else None."""
        return self._h if x is self._hx else None

    def hess_vec(self, x, p):
        """H(x) p: the user's hessp when given, else a product with the (memoized) Hessian matrix."""
        if self._hessp is not None:
            with self.guard.user():
                raw = self._hessp(x, p, *self.args)
            self.counts.nhev += 1
            return self._scaled(as_array(self.xp, raw, self.like, (self.n,), "hessp"))
        return self.hessian(x) @ p  # the memoized Hessian is scaled already
