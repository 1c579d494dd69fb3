"""The problem record and the registry.

A :class:`Problem` binds a symbolic objective (an ``rs.Objective``: f with its exact gradient, Hessian and
Hessian-vector product, compiled once) and, for sums of squares, the residual (an ``rs.LeastSquares``) to a
starting point, the data, and what is known about the solution. The registry maps a name to the function that
builds the problem, so that tests and benchmarks can sweep ``names() x methods``.
"""
from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import ricci.symbolic as rs
from ricci.solvers import (
    CONSTRAINED_METHODS,
    METHOD_REGISTRY,
    Method,
    get_method,
    minimize,
)

from ._defaults import default_method

ALL_METHODS = tuple(METHOD_REGISTRY)
"""Every method of ``ricci.solvers.METHOD_REGISTRY``: the ``minimize`` methods, then the least-squares ones."""

LEAST_SQUARES_METHODS = tuple(name for name, m in METHOD_REGISTRY.items() if m.family == "least_squares")
"""Methods that use the residual and its Jacobian (``ricci.solvers.least_squares``): lm, gauss-newton."""

GGN_METHODS = tuple(name for name, m in METHOD_REGISTRY.items() if m.derivatives == "ggn")
"""Methods on the generalized Gauss-Newton model (``p.ggn``): ggn, ggn-lm."""

_MINIMIZE_METHODS = tuple(name for name, m in METHOD_REGISTRY.items()
                          if m.family == "minimize" and m.derivatives != "ggn" and name not in CONSTRAINED_METHODS)

BOUND_METHODS = tuple(name for name in ("tron", "auglag", "ipm") if name in CONSTRAINED_METHODS)
"""Methods for problems with bounds only: tron (projected trust-region Newton, Lin & More 1999), auglag, ipm."""

GENERAL_CONSTRAINED_METHODS = tuple(name for name in ("auglag", "ipm") if name in CONSTRAINED_METHODS)
"""Methods for problems with general constraints: auglag (augmented Lagrangian around tron; the default: its
answers sit exactly on the active bounds, and it keeps operators for large problems) and ipm (primal-dual
interior point, IPOPT's design: faster on small and medium problems, see ricci.solvers._interior_point)."""


def _frozen_array(value) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)  # a copy, so the record cannot change behind its back
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Problem:
    """One optimization problem: minimize ``objective`` over the flat vector x, starting from ``x0``.

    Fields:
        name: the registry name (``"logistic-regression"``, ``"rosenbrock"``, ...).
        objective: an ``rs.Objective`` with ``fun``/``jac``/``hess``/``hessp`` on the flat vector x (several
            variables are packed in the order of ``objective.wrt``; ``objective.unpack(x)`` splits them). For
            f = loss(model output) + penalty it is an ``rs.GaussNewton`` (an Objective with ``ggn_operator``,
            ``ggn``, ``ggnp``; see ``ggn``).
        x0: the standard starting point (a read-only float64 NumPy array).
        description: one line saying what the problem is.
        source: where it comes from (paper, data set).
        family: ``"mgh"``, ``"logistic"``, ``"softmax"``, ``"factorization"`` or ``"mlp"``.
        residual: for sums of squares, an ``rs.LeastSquares`` r with ``objective(x) == residual_weight *
            ||r(x)||^2`` (so Levenberg-Marquardt and Gauss-Newton apply); None otherwise.
        residual_weight: 1 for the More-Garbow-Hillstrom problems (the paper's f = sum f_i^2), 1/2 elsewhere
            (the usual 1/2 ||r||^2).
        minimum, minimizer: the known minimum value and a minimizer, where known (None otherwise).
        local_minima: other known local minima as ``(f, x or None)`` pairs that a local method may reach.
        data: the arrays the objective is bound to (read-only mapping), e.g. ``{"X": ..., "y": ..., "lam": ...}``.
        params: the parameters the problem was built with.
        constraints: ``rs.Constraint`` records lo <= c(x) <= hi (each with ``to_scipy()``); () when unconstrained.
        bounds: (lo, hi) arrays of length n (-inf/inf where free) for simple bounds on x, or None.
    """

    name: str
    objective: rs.Objective
    x0: np.ndarray
    description: str
    source: str
    family: str
    residual: rs.LeastSquares | None = None
    residual_weight: float = 0.5
    minimum: float | None = None
    minimizer: np.ndarray | None = None
    local_minima: tuple = ()
    data: Mapping = field(default_factory=dict)
    params: Mapping = field(default_factory=dict)
    constraints: tuple = ()
    bounds: tuple | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "constraints", tuple(self.constraints))
        if self.bounds is not None:  # checked by the constrained builders (problems/_constrained.py)
            set_(self, "bounds", tuple(_frozen_array(b) for b in self.bounds))
        set_(self, "x0", _frozen_array(self.x0))
        if self.x0.ndim != 1 or self.x0.shape[0] != self.objective.size:
            raise ValueError(f"Problem {self.name!r}: x0 must be a flat vector of length {self.objective.size}, "
                             f"got shape {self.x0.shape}")
        if self.minimizer is not None:
            set_(self, "minimizer", _frozen_array(self.minimizer))
        set_(self, "local_minima", tuple((float(f), None if x is None else _frozen_array(x))
                                         for f, x in self.local_minima))
        set_(self, "data", MappingProxyType(dict(self.data)))
        set_(self, "params", MappingProxyType(dict(self.params)))

    # -- what it is ------------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """The number of unknowns (the length of the flat vector x)."""
        return self.objective.size

    @property
    def expression(self) -> rs.Expr:
        """The objective as a symbolic expression (print it for matrix notation)."""
        return self.objective.expr

    @property
    def is_least_squares(self) -> bool:
        return self.residual is not None

    @property
    def ggn(self) -> rs.GaussNewton | None:
        """The objective when it carries the generalized Gauss-Newton model f = loss(z(x)) + penalty (an
        ``rs.GaussNewton``: logistic and softmax regression, MLPs), None otherwise. ``p.ggn.ggn_operator(x)``
        is J' H_loss J + H_penalty as a ``ricci.solvers`` operator, usable as a Hessian model today:
        ``minimize(p.objective.fun, x0, jac=p.objective.jac, hess=p.ggn.ggn_operator, method="newton")``."""
        return self.objective if isinstance(self.objective, rs.GaussNewton) else None

    @property
    def is_constrained(self) -> bool:
        """Whether the problem has constraints or bounds."""
        return bool(self.constraints) or self.bounds is not None

    @property
    def methods(self) -> tuple:
        """The methods that apply: every ``minimize`` method on f's own derivatives, ggn and ggn-lm for
        objectives with the generalized Gauss-Newton model (``ggn``), lm and gauss-newton for sums of squares.
        A constrained problem lists the constrained methods instead: tron and auglag with bounds only (and lm
        and gauss-newton over the box for sums of squares), auglag with constraints (the first is the default)."""
        if self.is_constrained:
            if self.constraints:
                return GENERAL_CONSTRAINED_METHODS
            return BOUND_METHODS + (LEAST_SQUARES_METHODS if self.is_least_squares else ())
        base = (_MINIMIZE_METHODS + (GGN_METHODS if self.ggn is not None else ())
                + (LEAST_SQUARES_METHODS if self.is_least_squares else ()))
        return base + ("varpro",) if self.family == "factorization" else base  # problems/_varpro.py

    def __repr__(self):
        known = f", minimum={self.minimum:.6g}" if self.minimum is not None else ""
        return f"<ricci Problem {self.name!r}: n={self.n}{known}; {self.description}>"

    # -- solving ---------------------------------------------------------------------------------------------
    def start(self):
        """x0 as an array of the objective's library and device (NumPy, or CuPy after ``on("cupy")``)."""
        obj = self.objective
        return obj.xp.asarray(self.x0, dtype=obj.dtype, device=obj.device)

    def solve(self, method: str | None = None, *, x0=None, tol=None, callback=None, **options):
        """Solve with ``ricci.solvers`` and return its result (scipy's OptimizeResult fields).

        ``method`` is one of ``ricci.solvers.METHODS`` (newton, trust-exact, trust-ncg, trust-krylov, dogleg,
        lbfgs), which minimize the objective f with its exact derivatives, ``"ggn"``/``"ggn-lm"`` for
        objectives with the generalized Gauss-Newton model (``p.ggn``), or ``"lm"``/``"gauss-newton"`` for
        problems with a residual (``ricci.solvers.least_squares``; its ``cost`` is 1/2 ||r||^2).

        A constrained problem (``constraints`` or ``bounds``) is solved by ``ricci.solvers.minimize`` with
        ``bounds=`` (a scipy ``Bounds``) and ``constraints=`` (the ``rs.Constraint`` records, with their exact
        Jacobians and Hessians of v'c): method "tron" (the default with bounds only) or "auglag" (the default
        otherwise); ``tol`` is then that method's gtol (the projected gradient for tron, the stationarity of
        the Lagrangian for auglag) and the result carries the multipliers and ``constr_violation``.
        ``method=None`` takes the default: the first of ``methods`` for a constrained problem, otherwise the
        one measured fastest on the problem's family (``problems/_defaults.py``).

        ``tol`` means the same for every method: stop once the gradient of this problem's objective has
        ``max_i |df/dx_i| <= tol``. For the minimize methods that is their ``gtol``. The least-squares methods
        minimize the cost c = 1/2 ||r||^2, and f = 2 w c with w = ``residual_weight``, so grad f = 2 w J'r:
        ``tol`` becomes least_squares' ``optimality_tol = tol / (2 w)``, with scipy's ftol, xtol and gtol
        tests off unless given. Further keyword arguments are the method's options (``maxiter``, ``gtol``,
        ``disp``, ... or, for least squares, ``ftol``, ``xtol``, ``gtol`` -- MINPACK's cosine test --,
        ``max_nfev``); they take precedence over what ``tol`` sets.
        """
        if self.is_constrained:
            return self._solve_constrained(method, x0=x0, tol=tol, callback=callback, **options)
        if method is None:
            method = default_method(self)
        record = method_for(self, method)
        start = self.start() if x0 is None else x0
        if record.name == "varpro":  # variable projection, problems/_varpro.py (tol: the gradient of f)
            return record.function(self, start, tol=tol, callback=callback, **options)
        if record.family == "least_squares":
            scale = 2.0 * self.residual_weight  # f = scale * cost, grad f = scale * J'r
            stopping = record.stopping_options(tol=None if tol is None else tol / scale)
            return record.function(self.residual, start, callback=callback, **{**stopping, **options})
        return minimize(self.objective, start, method=record.name, tol=tol, callback=callback, options=options)

    def _solve_constrained(self, method, *, x0, tol, callback, **options):
        """minimize(f, x0, bounds=, constraints=) with a constrained method (see ``solve``)."""
        from scipy.optimize import Bounds

        record = method_for(self, self.methods[0] if method is None else method)
        start = self.start() if x0 is None else x0
        if record.family == "least_squares":  # bounds only: Gauss-Newton steps over the box (least_squares)
            scale = 2.0 * self.residual_weight
            stopping = record.stopping_options(tol=None if tol is None else tol / scale)
            return record.function(self.residual, start, callback=callback, bounds=self.bounds,
                                   **{**stopping, **options})
        bounds = None if self.bounds is None else Bounds(*self.bounds)
        return minimize(self.objective, start, method=record.name, tol=tol, callback=callback, options=options,
                        bounds=bounds, constraints=list(self.constraints))

    def on(self, backend: str) -> Problem:
        """The same problem with its data on another array library: ``"numpy"`` or ``"cupy"`` (GPU)."""
        xp = _backend(backend)
        like = xp.zeros(0)
        obj = _rebind(self.objective, xp, like)
        res = _rebind(self.residual, xp, like) if self.residual is not None else None
        constraints = tuple(_rebind(c, xp, like) for c in self.constraints)
        return replace(self, objective=obj, residual=res, constraints=constraints)


def method_for(problem: Problem, method: str) -> Method:
    """The ``ricci.solvers`` record of ``method`` if it applies to ``problem`` (least-squares methods need a
    residual); ValueError listing the methods that apply otherwise."""
    if method == "varpro":  # factorization problems only (problems/_varpro.py)
        from ._varpro import varpro_method
        return varpro_method(problem)
    try:
        record = get_method(method)
    except ValueError:
        raise ValueError(f"unknown method {method!r}; valid methods for {problem.name!r} are: "
                         f"{', '.join(problem.methods)}") from None
    if problem.is_constrained and record.name not in problem.methods:
        what = "constraints" if problem.constraints else "bounds"
        raise ValueError(f"method {method!r} does not take {what}; {problem.name!r} has them. The methods that "
                         f"can solve it: {', '.join(problem.methods)}")
    if record.derivatives == "ggn" and problem.ggn is None:
        raise ValueError(f"method {method!r} needs the generalized Gauss-Newton model (an rs.GaussNewton "
                         f"objective); {problem.name!r} has none. Valid methods for it: "
                         f"{', '.join(problem.methods)}")
    if record.family == "least_squares" and problem.residual is None:
        raise ValueError(f"method {method!r} needs a sum-of-squares problem; {problem.name!r} has no residual. "
                         f"Valid methods for it: {', '.join(problem.methods)}")
    return record


def _backend(backend: str):
    if backend == "numpy":
        return np
    if backend == "cupy":
        try:
            import cupy
        except ImportError:
            raise ValueError("backend 'cupy' needs CuPy: pip install 'ricci[gpu]'") from None
        return cupy
    raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend!r}")


def _rebind(bound, xp, like):
    moved = {k: xp.asarray(_to_numpy(v)) for k, v in bound.data.items()}
    return bound.with_data(moved, like=like)


def _to_numpy(a):
    get = getattr(a, "get", None)  # CuPy arrays
    return get() if callable(get) and not isinstance(a, np.ndarray) else np.asarray(a)


# ----------------------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str
    family: str
    build: Callable[..., Problem]
    summary: str
    constrained: bool = False


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, family: str, summary: str, constrained: bool = False):
    """Decorator: add a problem builder to the registry under ``name`` (called with the user's parameters)."""

    def deco(build):
        if name in _REGISTRY:
            raise ValueError(f"problem {name!r} is registered twice")
        _REGISTRY[name] = _Entry(name, family, build, summary, constrained)
        return build

    return deco


def names(family: str | None = None, *, constrained: bool | None = False) -> list[str]:
    """The registered problem names (in registration order), optionally of one family. Without a family, the
    unconstrained problems (``constrained=True``: those with constraints or bounds; None: all)."""
    every = families(constrained=None)
    if family is not None and family not in every:
        raise ValueError(f"unknown family {family!r}; valid families are: {', '.join(every)}")
    return [e.name for fam in every for e in _REGISTRY.values() if e.family == fam and (
        fam == family if family is not None else constrained is None or e.constrained == constrained)]


_FAMILY_ORDER = ("logistic", "softmax", "factorization", "mlp", "mgh")


def families(*, constrained: bool | None = False) -> list[str]:
    """The problem families: logistic, softmax, factorization, mlp, mgh (then any registered later); with
    ``constrained=True`` those of constrained problems (hs, constrained), with None all."""
    present = list(dict.fromkeys(e.family for e in _REGISTRY.values()
                                 if constrained is None or e.constrained == constrained))
    return sorted(present, key=lambda f: _FAMILY_ORDER.index(f) if f in _FAMILY_ORDER else len(_FAMILY_ORDER))


def entry(name: str) -> _Entry:
    """The registry entry (builder, family, one-line summary) of a name; ValueError naming close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown problem {name!r}{hint} (`ricci problems` lists all {len(_REGISTRY)})") from None


def parameters(name: str) -> dict:
    """The parameters a registered problem accepts, with their defaults."""
    sig = inspect.signature(entry(name).build)
    return {k: p.default for k, p in sig.parameters.items()}


def get(name: str, **params) -> Problem:
    """Build the registered problem ``name`` with the given parameters (see ``parameters(name)``)."""
    e = entry(name)
    valid = parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        raise TypeError(f"problem {name!r} has no parameter {', '.join(map(repr, unknown))}; its parameters: {listed}")
    return e.build(**{k: _typed_parameter(name, k, v, valid[k]) for k, v in params.items()})


def _typed_parameter(problem: str, key: str, value, default):
    """``value`` checked against the type of the parameter's default: a bool for a bool, an integer for an int
    (an integral float such as 1e2 is taken as 100), a finite number for a float, text for text. Anything else
    is a TypeError (ValueError for a non-finite number) naming the parameter, before the builder sees it."""
    def refuse(expected, error=TypeError):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise error(f"problem {problem!r}: parameter {key} must be {expected}, got {shown}")

    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            refuse("True or False")
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if is_number and math.isfinite(value) and float(value).is_integer():
            return int(value)
        refuse("an integer")
    if isinstance(default, float):
        if not is_number:
            refuse("a number")
        if not math.isfinite(value):
            refuse("a finite number", ValueError)
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        refuse("text such as " + repr(default))
    return value
