"""The objective as the solvers see it: counted, memoized calls to the user's fun / jac / hess / hessp.

The user may pass plain callables (``jac=True``: ``fun`` returns ``(f, g)``), or an object with ``fun``,
``jac``, ``hess``, ``hessp`` (and optionally ``fun_and_jac`` and ``hess_operator``) methods, such as
``ricci.symbolic.Objective``; explicit arguments override the object's methods. Values are memoized on the
identity of the point, so asking twice at the same x costs one call.

The Hessian is an operator (DESIGN.md, "Derivatives as operators"): ``hess`` may return a dense array, a
scipy.sparse matrix, a ricci.solvers Operator or a scipy LinearOperator (see ``_user_operators.py``); an object
with a ``hess_operator(x)`` method is asked for the operator instead of ``hess``. Hessian-vector products come
from ``hessp`` when given, else from the operator's matvec.

The solvers work on ``scale * f`` (and so on ``scale * g``, ``scale * H``) for a power of two ``scale``
chosen at x0 (:func:`._arrays.power_of_two_scale`): 1 for every f and g within 2^+-300 in magnitude; for
f of magnitude 1e150 the factor that brings it down to 2^300, for 1e-150 the one that brings it up to 1, so
that the solver's own products (g'Hg) neither overflow nor underflow.
The scaling is exact (the Hessian operator is scaled as ``scale * H``), and every value handed back to the user
is unscaled (:meth:`Evaluator.user_value`, :meth:`Evaluator.user_array`, :meth:`Evaluator.user_hessian`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ._arrays import as_array, as_scalar, max_abs, power_of_two_scale
from ._op_base import Operator
from ._user_operators import (
    check_finite,
    dense_form,
    derivative_operator,
    diagonal_or_none,
    products_only,
)


@dataclass
class Counts:
    nfev: int = 0
    njev: int = 0
    nhev: int = 0


@dataclass(frozen=True)
class UserFunctions:
    """What the user gave, sorted out: exactly one of ``fun``/``fun_and_jac`` may be None; ``hess`` returns the
    Hessian (an array or an operator) and ``hess_is_operator`` says that it is an object's ``hess_operator``.
    ``expect_hessian``: the object's ``expect_hessian(kind)`` where the Hessian comes from the object, else None
    (see :meth:`announce_hessian`)."""

    fun: object
    jac: object
    fun_and_jac: object
    hess: object
    hessp: object
    hess_is_operator: bool = False
    expect_hessian: object = None

    def announce_hessian(self) -> None:
        """Tell an objective object that the method will ask for its Hessian at every point, x0 included, so that
        an object whose every evaluation costs a pass over its data (a ``ricci.symbolic.Objective`` on Dask
        data) computes f, the gradient and the Hessian together from the first point on: Newton then costs
        one pass at x0 instead of two. Optional: objects without ``expect_hessian`` are not asked."""
        if self.expect_hessian is not None:
            self.expect_hessian("operator" if self.hess_is_operator else "matrix")


def resolve_objective(fun, jac, hess, hessp, *, method: str, needs: str) -> UserFunctions:
    """Sort out what the user gave. ``needs`` is "gradient", "hessian" or "hessian_or_product"."""
    fun_and_jac = expect_hessian = None
    hess_is_operator = False
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
        if hess is None and callable(getattr(obj, "expect_hessian", None)):
            expect_hessian = obj.expect_hessian
        if hess is None and callable(getattr(obj, "hess_operator", None)):
            hess, hess_is_operator = obj.hess_operator, True
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
        raise TypeError(f"hess must be a callable returning the (n, n) Hessian (an array, a scipy.sparse matrix, "
                        f"a ricci.solvers Operator or a scipy LinearOperator); got {type(hess).__name__}")
    if hessp is not None and not callable(hessp):
        raise TypeError(f"hessp must be a callable hessp(x, p, *args); got {type(hessp).__name__}")
    if needs == "hessian" and hess is None:
        raise TypeError(f"method {method!r} needs the Hessian matrix: pass hess=callable(x, *args) returning it "
                        "as an array, a scipy.sparse matrix or a ricci.solvers Operator (or use trust-ncg / "
                        "trust-krylov, which also accept hessp)")
    if needs == "hessian_or_product" and hess is None and hessp is None:
        raise TypeError(f"method {method!r} needs Hessian information: pass hess=callable(x, *args) "
                        "or hessp=callable(x, p, *args)")
    return UserFunctions(fun, jac, fun_and_jac, hess, hessp, hess_is_operator,
                         expect_hessian if hess is not None else None)


def resolve_ggn(fun, ggn, *, method: str, products: bool = False):
    """The callable that returns the generalized Gauss-Newton operator G(x): ``ggn`` when given (a callable
    ``ggn(x, *args)`` returning an array, a scipy.sparse matrix or an Operator), else the ``ggn_operator``
    method of an object passed as fun (``ricci.symbolic.GaussNewton``), or with ``products`` its
    ``ggn_products`` where it has one (G known only through products, the Jacobian never formed); TypeError
    naming what to pass otherwise."""
    if ggn is not None:
        if not callable(ggn):
            raise TypeError(f"ggn must be a callable ggn(x, *args) returning the (n, n) generalized Gauss-Newton "
                            f"matrix (an array, a scipy.sparse matrix or a ricci.solvers Operator); got "
                            f"{type(ggn).__name__}")
        return ggn
    if products and callable(getattr(fun, "ggn_products", None)):
        return fun.ggn_products
    found = getattr(fun, "ggn_operator", None)
    if callable(found):
        return found
    raise TypeError(f"method {method!r} needs the generalized Gauss-Newton matrix G = J' H_L J + H_P: pass "
                    "ggn=callable(x, *args) returning it (an array, a scipy.sparse matrix or a ricci.solvers "
                    "Operator), or as fun an object with a ggn_operator method (ricci.symbolic.GaussNewton); "
                    f"got neither (fun is a {type(fun).__name__})")


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


class ScaledModel:
    """What every model of the function the drivers see shares: the scalar one (:class:`Evaluator`: f, g, H) and
    the residual one (``_residual_model.ResidualEvaluator``: 1/2 ||r||^2, J'r, J'J). Both count the user's
    calls (``counts``), call user code under the caller's floating-point settings (:meth:`call_user`), and
    present ``scale^value_degree * f`` to the drivers for a power of two ``scale`` chosen at x0
    (:meth:`scale_at_start`; see the module docstring), so that :meth:`user_value` and :meth:`user_array` are
    where the drivers' values cross back to the user: the value and the gradient both carry that factor
    (``value_degree`` 1 for the scalar model, which scales f; 2 for the residual model, which scales r). The
    factor is divided out one ``scale`` at a time: scale^2 itself may exceed the float range."""

    value_degree = 1

    def __init__(self, xp, x0, args, guard: FloatingPointGuard, kwargs=None):
        self.xp = xp
        self.like = x0
        self.n = x0.shape[0]
        self.args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        self.kwargs = dict(kwargs or {})
        self.guard = guard
        self.counts = Counts()
        self.scale = 1.0
        self.scale_chosen = False  # set by scale_at_start, which runs once

    def call_user(self, function, *arguments):
        """``function(*arguments, *args, **kwargs)`` under the caller's floating-point settings."""
        with self.guard.user():
            return function(*arguments, *self.args, **self.kwargs)

    def user_value(self, f: float) -> float:
        """A (scaled) value of the solver as the user's f."""
        for _ in range(self.value_degree if self.scale != 1.0 else 0):
            f = f / self.scale
        return f

    def user_array(self, a):
        """A (scaled) gradient of the solver as the user's."""
        if a is None:
            return a
        for _ in range(self.value_degree if self.scale != 1.0 else 0):
            a = a * (1.0 / self.scale)
        return a

    def _scaled(self, value):
        return value if self.scale == 1.0 else value * self.scale


class Evaluator(ScaledModel):
    """Counted, memoized evaluations at points of one namespace, dtype and shape.

    ``factorizes`` says that the method factorizes the Hessian (Newton, trust-exact, dogleg): a Hessian known
    only through products is then refused with a TypeError naming ``method`` and what to pass instead."""

    def __init__(self, xp, x0, functions: UserFunctions, args, guard: FloatingPointGuard, *, method: str = "",
                 factorizes: bool = False):
        super().__init__(xp, x0, args, guard)
        self._fun, self._jac, self._fun_and_jac = functions.fun, functions.jac, functions.fun_and_jac
        self._hess, self._hessp = functions.hess, functions.hessp
        self.method, self.factorizes = method, factorizes
        self.hessian_source = "hess_operator" if functions.hess_is_operator else "hess"
        self._fx = self._f = None
        self._gx = self._g = None
        self._hx = self._h = self._h_user = None
        self._h_raw = None  # (the operator hess returned, the scale then): the same object again is not rescaled
        self._h_checked = False
        # the Hessian's diagonal comes for free where the operator is what the methods use anyway: from hess
        # when there is no hessp (products are then the operator's), or from an object's hess_operator unless it
        # turns out dense while hessp gives the products (found at its first evaluation, see hessian())
        self.has_hessian = functions.hess is not None
        self.diagonal_is_cheap = self.has_hessian and (functions.hess_is_operator or functions.hessp is None)

    def scale_at_start(self, x0, f: float, g) -> None:
        """Choose the scale from f(x0) and g(x0) (both finite)."""
        self.set_scale(max(abs(f), max_abs(self.xp, g)))
        self.scale_chosen = True

    def callback_fields(self, x, f: float, g) -> dict:
        """What scipy's minimize hands a callback besides x and nit: the user's f and gradient."""
        return {"fun": self.user_value(f), "jac": self.user_array(g)}

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
            self._h = ratio * self._h

    def value(self, x) -> float:
        if x is self._fx:
            return self._f
        if self._fun is None or (self._fun_and_jac is not None and self._jac is None):
            self._both(x)
        else:
            raw = self.call_user(self._fun, x)
            self.counts.nfev += 1
            self._fx, self._f = x, self._scaled(as_scalar(raw, "fun"))
        return self._f

    def gradient(self, x):
        if x is self._gx:
            return self._g
        if self._jac is None:
            self._both(x)
        else:
            raw = self.call_user(self._jac, x)
            self.counts.njev += 1
            self._gx, self._g = x, self._scaled(as_array(self.xp, raw, self.like, (self.n,), "jac"))
        return self._g

    def value_and_gradient(self, x):
        if x is not self._fx and x is not self._gx and self._fun_and_jac is not None:
            self._both(x)
        return self.value(x), self.gradient(x)

    def _both(self, x):
        out = self.call_user(self._fun_and_jac, x)
        try:
            f, g = out
        except (TypeError, ValueError) as exc:
            raise TypeError("with jac=True, fun must return a pair (f, g)") from exc
        self.counts.nfev += 1
        self.counts.njev += 1
        self._fx, self._f = x, self._scaled(as_scalar(f, "fun"))
        self._gx, self._g = x, self._scaled(as_array(self.xp, g, self.like, (self.n,), "jac"))

    def hessian(self, x):
        """The (scaled) Hessian operator at x (see the module docstring for what ``hess`` may return)."""
        if x is self._hx:
            return self._h
        raw = self.call_user(self._hess, x)
        self.counts.nhev += 1
        last = self._h_raw
        if last is not None and raw is last[0] and self.scale == last[1]:  # the very operator again (a Hessian
            self._hx = x  # that does not depend on x): its scaled form, with the caches it has built, serves
            return self._h
        op, user_form = derivative_operator(raw, self.xp, self.like, (self.n, self.n), self.hessian_source,
                                            symmetric=True)
        if self.factorizes and products_only(op):
            raise TypeError(
                f"method {self.method!r} factorizes the Hessian (H + tau I), but {self.hessian_source} returned "
                f"{op.name}, which is known only through products: return an array, a scipy.sparse matrix or a "
                "structured ricci.solvers Operator, or use method='trust-ncg' or 'trust-krylov', which need only "
                "Hessian-vector products")
        if self._hessp is not None and dense_form(op) is not None:
            self.diagonal_is_cheap = False  # a dense Hessian beside hessp: its diagonal costs a whole evaluation
        self._hx, self._h, self._h_user, self._h_checked = x, self._scaled(op), user_form, False
        self._h_raw = (raw, self.scale) if isinstance(raw, Operator) else None
        return self._h

    def checked_hessian(self, x):
        """The Hessian operator at x; NonFiniteValue when it visibly holds NaN or inf
        (:func:`._user_operators.check_finite`)."""
        H = self.hessian(x)
        if not self._h_checked:
            check_finite(H, "Hessian")
            self._h_checked = True
        return H

    def hessian_diagonal(self, x, *, required: bool = False):
        """The diagonal of the (scaled) Hessian at x; None when the operator has none (known only through
        products), or a TypeError naming the method when ``required``."""
        H = self.hessian(x)
        diagonal = diagonal_or_none(H)
        if diagonal is None and required:
            raise TypeError(f"method {self.method!r} with preconditioner='diagonal' needs the Hessian's diagonal, "
                            f"but {self.hessian_source} returned {H.name}, which is known only through products; "
                            "return an array or a structured Operator, or pass preconditioner='none'")
        return diagonal

    def user_hessian(self, x):
        """The Hessian at x as the user returned it (the array, or the operator), if evaluated there; else None."""
        return self._h_user if x is self._hx else None

    def hess_vec(self, x, p):
        """H(x) p: the user's hessp when given, else the product with the (memoized) Hessian operator. An
        object's ``hess_operator`` already evaluated at x (for the Jacobi preconditioner's diagonal) serves the
        products itself where it is structured: its arrays (a Gram's X and weights) are computed, while the
        object's ``hessp`` would compute them anew for every product (sparse logistic regression 200k x 50k:
        23 ms against 35 ms a product). Such a product counts in ``nhev`` as a ``hessp`` call does."""
        if self._hessp is not None:
            self.counts.nhev += 1
            evaluated = (self.hessian_source == "hess_operator" and x is self._hx and not products_only(self._h)
                         and dense_form(self._h) is None)
            if not evaluated:
                raw = self.call_user(self._hessp, x, p)
                return self._scaled(as_array(self.xp, raw, self.like, (self.n,), "hessp"))
        Hp = self.hessian(x).matvec(p)  # the memoized operator is scaled already
        return Hp if Hp.dtype == p.dtype else self.xp.astype(Hp, p.dtype)
