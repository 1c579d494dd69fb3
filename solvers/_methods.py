"""Every method of ricci.solvers, once: a :class:`Method` record per method, and the registry of them.

Each ``minimize`` method is a composition of a driver and a step (STYLE.md, "solvers as compositions"):

    newton        line-search driver + safeguarded Newton step (Algorithm 3.3 of Nocedal & Wright (2006))
    lbfgs         line-search driver (strong Wolfe) + L-BFGS two-loop recursion (Algorithm 7.4)
    trust-exact   trust-region driver + More-Sorensen (Algorithm 4.3)
    trust-ncg     trust-region driver + Steihaug-CG (Algorithm 7.2)
    trust-krylov  trust-region driver + GLTR (generalized Lanczos)
    dogleg        trust-region driver + dogleg (Section 4.1)
    ggn           line-search driver (Armijo) + damped Gauss-Newton direction on G = J' H_L J + H_P
    ggn-lm        trust-region driver + Levenberg-Marquardt subproblem on G and MINPACK's radius rule

and a callable with the signature scipy.optimize.minimize expects of a custom ``method``, so
``scipy.optimize.minimize(f, x0, method=ricci.solvers.trust_exact, jac=..., hess=...)`` works. The
``least_squares`` methods minimize the cost 1/2 ||r(x)||^2 from the residual r and its Jacobian J, through the
residual model (``_residual_model.py``) on the same drivers, with scipy's tests and statuses at their boundary
(``_least_squares.py``):

    lm            trust-region driver + Levenberg-Marquardt subproblem and MINPACK's radius rule (More 1978)
    gauss-newton  line-search driver (Armijo) + damped Gauss-Newton direction (Algorithm 3.3 on J'J)

The registry says which methods exist, which family each belongs to (and so which problems it applies to:
least-squares methods need residuals), what derivatives it uses, and how to ask it to stop at a gradient
tolerance (:meth:`Method.stopping_options`): ``minimize`` and the ``ricci`` command read it from here.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from types import MappingProxyType

from ._arrays import eps, prepare_x0
from ._augmented_lagrangian import AugmentedLagrangianOptions, auglag
from ._evaluator import Evaluator, FloatingPointGuard, resolve_ggn, resolve_objective
from ._gauss_newton import GaussNewtonDirection
from ._interior_point import InteriorPointOptions, ipm
from ._iteration import IterationSkeleton
from ._lbfgs import LbfgsDirection
from ._least_squares import least_squares
from ._levenberg_marquardt import LevenbergMarquardtSubproblem, MinpackRadius
from ._line_search_driver import NewtonDirection, minimize_line_search
from ._options import (
    GaussNewtonModelOptions,
    GaussNewtonTrustOptions,
    KrylovOptions,
    LbfgsOptions,
    NewtonOptions,
    TrustExactOptions,
    TrustRegionOptions,
    parse_options,
)
from ._residual_model import GeneralizedGaussNewtonEvaluator
from ._tron import TronOptions, tron
from ._trust_region import (
    dogleg_subproblem,
    lanczos_subproblem,
    minimize_trust_region,
    more_sorensen_subproblem,
    steihaug_subproblem,
    trust_region_iterations,
)

FAMILIES = ("minimize", "least_squares")
DERIVATIVES = ("gradient", "hessian", "hessian_or_product", "jacobian", "ggn")


@dataclass(frozen=True)
class Method:
    """One method of ricci.solvers.

    name: the name ``minimize(method=...)``, ``least_squares(method=...)`` and ``ricci solve --method`` take.
    family: "minimize" (a scalar f with gradient g; any problem) or "least_squares" (residuals r with Jacobian J,
        minimizing the cost 1/2 ||r||^2; only problems that are sums of squares).
    function: the callable that runs it: for "minimize", the scipy custom-method callable
        ``function(fun, x0, args=(), jac=, hess=, hessp=, callback=, tol=, **options)``; for "least_squares",
        ``function(fun, x0, jac=, **options)`` (``least_squares`` with this method).
    derivatives: what it uses besides f: "gradient" (g only), "hessian" (the matrix H), "hessian_or_product"
        (H or Hessian-vector products hessp), "jacobian" (J of the residuals), "ggn" (the generalized
        Gauss-Newton matrix G = J' H_L J + H_P of f = L(z(x)) + P(x), from ``ggn=`` or ``fun.ggn_operator``).
    options: the frozen dataclass of its options (``minimize`` family), None for keyword options.
    description: one line.
    """

    name: str
    family: str
    function: Callable
    derivatives: str
    options: type | None
    description: str

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"Method {self.name!r}: family must be one of {FAMILIES}; got {self.family!r}")
        if self.derivatives not in DERIVATIVES:
            raise ValueError(f"Method {self.name!r}: derivatives must be one of {DERIVATIVES}; "
                             f"got {self.derivatives!r}")

    @property
    def uses_hessian(self) -> bool:
        """True when the method uses second derivatives of f (the matrix, or products with it)."""
        return self.derivatives in ("hessian", "hessian_or_product")

    @property
    def accepts_hessp(self) -> bool:
        """True when Hessian-vector products alone suffice (no n x n matrix is needed)."""
        return self.derivatives == "hessian_or_product"

    def stopping_options(self, tol: float | None = None, maxiter: int | None = None) -> dict:
        """The options that make this method stop once ``max_i |grad_i| <= tol`` (grad: the gradient of what
        the method minimizes, f for "minimize", the cost 1/2 ||r||^2 with gradient J'r for "least_squares") and
        after ``maxiter`` iterations.

        minimize: ``gtol=tol, maxiter=maxiter``. least_squares: ``optimality_tol=tol`` with scipy's ftol,
        xtol and gtol tests off (None), so that the gradient alone decides, and ``max_nfev=maxiter``
        (least_squares limits residual evaluations, not iterations). None leaves the method's default.
        """
        out = {}
        if self.family == "minimize":
            if tol is not None:
                out["gtol"] = float(tol)
            if maxiter is not None:
                out["maxiter"] = int(maxiter)
        else:
            if tol is not None:
                out.update(optimality_tol=float(tol), ftol=None, xtol=None, gtol=None)
            if maxiter is not None:
                out["max_nfev"] = max(1, int(maxiter))
        return out


def _check_unconstrained(method, bounds, constraints):
    if bounds is not None:
        raise ValueError(f"method {method!r} is for unconstrained problems; got bounds={bounds!r}. The methods "
                         "that take bounds are 'tron' (bounds only) and 'auglag' (bounds and constraints), or "
                         "method=None to choose")
    if constraints:
        raise ValueError(f"method {method!r} is for unconstrained problems; got constraints={constraints!r}. The "
                         "method that takes constraints is 'auglag' (or method=None to choose)")


def _minimize_method(name, derivatives, options_cls, run, description, doc) -> Method:
    """The record of a ``minimize`` method whose iteration is ``run(xp, evaluator, x0, opts, callback)``.

    The callable checks and sorts out the arguments as scipy's methods do (no bounds or constraints, options
    by name or as ``options_cls``, ``tol`` as gtol), then runs the iteration with NumPy's floating-point
    warnings confined to the user's code."""

    def function(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
                 constraints=(), **options):
        _check_unconstrained(name, bounds, constraints)
        opts = parse_options(options_cls, name, options, tol)
        xp, x0 = prepare_x0(x0)
        if derivatives == "gradient":  # second derivatives are ignored, not checked
            hess = hessp = None
        functions = resolve_objective(fun, jac, hess, hessp, method=name, needs=derivatives)
        if derivatives == "hessian":  # newton, trust-exact, dogleg: the Hessian at every point, x0 included
            functions.announce_hessian()
        with FloatingPointGuard() as guard:
            ev = Evaluator(xp, x0, functions, args, guard, method=name, factorizes=derivatives == "hessian")
            return run(xp, ev, x0, opts, callback)

    function.__name__ = function.__qualname__ = name.replace("-", "_")
    function.__doc__ = doc
    return Method(name, "minimize", function, derivatives, options_cls, description)


NEWTON = _minimize_method(
    "newton", "hessian", NewtonOptions,
    lambda xp, ev, x0, o, callback: minimize_line_search(
        ev, x0, NewtonDirection(xp, ev, o.shift_beta), o, method="newton", line_search=o.line_search,
        callback=callback),
    "Newton's method: safeguarded Cholesky step, Armijo or strong Wolfe line search",
    """Newton's method with a line search and a safeguarded Cholesky factorization.

    The direction solves (H + tau I) p = -g with tau = 0 when H is positive definite and tau raised by
    Algorithm 3.3 of Nocedal & Wright (2006) otherwise, so it is a descent direction even for indefinite or
    singular H. The step length comes from Armijo backtracking (``line_search="armijo"``, first trial 1) or
    the strong Wolfe search of Algorithms 3.5-3.6 (``line_search="wolfe"``). Options: :class:`NewtonOptions`.
    """,
)
TRUST_EXACT = _minimize_method(
    "trust-exact", "hessian", TrustExactOptions,
    lambda xp, ev, x0, o, callback: minimize_trust_region(
        ev, x0, more_sorensen_subproblem(o.k_easy, o.subproblem_maxiter), o, method="trust-exact",
        callback=callback),
    "trust region, nearly exact subproblem (More-Sorensen, hard case included)",
    """Trust region with the nearly exact subproblem solution of More & Sorensen (1983), Algorithm 4.3 of
    Nocedal & Wright (2006), hard case included (eigendecomposition fallback). The Hessian is evaluated only at
    accepted points. Options: :class:`TrustExactOptions`.""",
)
def _jacobi(option: str, ev: Evaluator, method: str) -> str:
    """How a Krylov method preconditions with the Hessian's diagonal (:class:`KrylovOptions`): "auto" (where
    the operator has a diagonal), "required" or "off"."""
    if option == "factorization" and method != "trust-ncg":
        raise ValueError(f"option 'preconditioner' of method {method!r} must be 'auto', 'diagonal' or 'none'; "
                         "got 'factorization' (the lagged factorization preconditioner is trust-ncg's)")
    if option in ("diagonal", "factorization") and not ev.has_hessian:
        raise TypeError(f"method {method!r} with preconditioner={option!r} needs the Hessian: pass "
                        "hess=callable(x, *args) (an array or a ricci.solvers Operator) or an object with a "
                        "hess_operator method; only hessp was given")
    if option == "auto":
        return "auto" if ev.diagonal_is_cheap else "off"
    return "required" if option == "diagonal" else "off"


TRUST_NCG = _minimize_method(
    "trust-ncg", "hessian_or_product", KrylovOptions,
    lambda xp, ev, x0, o, callback: minimize_trust_region(
        ev, x0, steihaug_subproblem(o.subproblem_maxiter, _jacobi(o.preconditioner, ev, "trust-ncg"),
                                    lagged_factorization=o.preconditioner == "factorization"), o,
        method="trust-ncg", callback=callback),
    "trust region, Steihaug's truncated CG on Hessian-vector products (Jacobi-preconditioned)",
    """Trust region with Steihaug's truncated CG (Algorithm 7.2 of Nocedal & Wright (2006)) on Hessian-vector
    products (``hessp``, or products with the Hessian operator ``hess`` returns), preconditioned with the
    Hessian's diagonal where it comes for free (option ``preconditioner``). Options: :class:`KrylovOptions`.""",
)
TRUST_KRYLOV = _minimize_method(
    "trust-krylov", "hessian_or_product", KrylovOptions,
    lambda xp, ev, x0, o, callback: minimize_trust_region(
        ev, x0, lanczos_subproblem(o.subproblem_maxiter, _jacobi(o.preconditioner, ev, "trust-krylov")), o,
        method="trust-krylov", callback=callback),
    "trust region, generalized Lanczos (GLTR) on Hessian-vector products (Jacobi-preconditioned)",
    """Trust region with the generalized Lanczos method GLTR (Gould, Lucidi, Roma & Toint, 1999) on
    Hessian-vector products, preconditioned with the Hessian's diagonal where it comes for free (option
    ``preconditioner``). Options: :class:`KrylovOptions`.""",
)
DOGLEG = _minimize_method(
    "dogleg", "hessian", TrustRegionOptions,
    lambda xp, ev, x0, o, callback: minimize_trust_region(
        ev, x0, dogleg_subproblem(), o, method="dogleg", callback=callback),
    "trust region, dogleg path between the Cauchy and the Newton point",
    """Trust region with the dogleg step (Section 4.1 of Nocedal & Wright (2006)), meant for positive definite
    Hessians; an indefinite Hessian falls back to a shifted Newton point (Algorithm 3.3) and the Cauchy step.
    Options: :class:`TrustRegionOptions`.""",
)
LBFGS = _minimize_method(
    "lbfgs", "gradient", LbfgsOptions,
    lambda xp, ev, x0, o, callback: minimize_line_search(
        ev, x0, LbfgsDirection(xp, o.maxcor, eps(xp, x0)), o, method="lbfgs", line_search="wolfe",
        callback=callback),
    "limited-memory BFGS with a strong Wolfe line search (quasi-Newton baseline)",
    """Limited-memory BFGS (Algorithm 7.5 of Nocedal & Wright (2006)) with a strong Wolfe line search.

    The quasi-Newton baseline that runs on the same arrays as the second-order methods (NumPy, CuPy, ...);
    hess and hessp are ignored. Options: :class:`LbfgsOptions`.""",
)
def _ggn_method(name, options_cls, run, description, doc) -> Method:
    """The record of a ``minimize`` method on the generalized Gauss-Newton model, whose iteration is
    ``run(xp, evaluator, x0, opts, callback)``. The callable takes the model as ``ggn=callable(x, *args)`` or
    from an object with a ``ggn_operator`` method passed as fun (``_evaluator.resolve_ggn``; with the option
    ``hessian_free`` its ``ggn_products``); hess and hessp are ignored."""

    def function(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
                 constraints=(), ggn=None, **options):
        _check_unconstrained(name, bounds, constraints)
        opts = parse_options(options_cls, name, options, tol)
        xp, x0 = prepare_x0(x0)
        free = opts.hessian_free
        if free is None:  # the model's preference (GaussNewton: a large output Jacobian computed per point)
            free = ggn is None and getattr(fun, "prefers_products", False) is True
        model = resolve_ggn(fun, ggn, method=name, products=free)
        functions = replace(resolve_objective(fun, jac, None, None, method=name, needs="gradient"),
                            hess=model, hessp=None, hess_is_operator=True)
        with FloatingPointGuard() as guard:
            ev = GeneralizedGaussNewtonEvaluator(xp, x0, functions, args, guard, method=name,
                                                 factorizes=opts.hessian_free is False)
            ev.hessian_source = "ggn"
            ev.hessian_free, ev.cg_rtol, ev.cg_maxiter = free, opts.cg_rtol, opts.cg_maxiter
            return run(xp, ev, x0, opts, callback)

    function.__name__ = function.__qualname__ = name.replace("-", "_")
    function.__doc__ = doc
    return Method(name, "minimize", function, "ggn", options_cls, description)


def _ggn_lm_run(xp, ev, x0, opts, callback):
    skeleton = IterationSkeleton(ev, x0, opts, method="ggn-lm", step_label="radius", callback=callback)
    radius_rule = MinpackRadius(_MINPACK_FACTOR, stall_eps=skeleton.machine_eps)
    run = trust_region_iterations(skeleton, x0, LevenbergMarquardtSubproblem(None), radius_rule)
    return skeleton.result(run.outcome, run.x, run.f, run.g, run.nit, uses_hessian=False, detail=run.detail)


_MINPACK_FACTOR = 100.0  # MINPACK's default initial radius factor (lmder's "factor")

GGN = _ggn_method(
    "ggn", GaussNewtonModelOptions,
    lambda xp, ev, x0, o, callback: minimize_line_search(
        ev, x0, GaussNewtonDirection(xp, ev), o, method="ggn", line_search=o.line_search, callback=callback),
    "generalized Gauss-Newton: damped G = J' H_L J + H_P direction, Armijo or strong Wolfe line search",
    """Generalized Gauss-Newton with a line search, for f(x) = L(z(x)) + P(x) with L and P convex.

    The curvature is G = J' H_L J + H_P (J the Jacobian of z, H_L the Hessian of the loss in z, H_P the
    penalty's), positive semidefinite where L and P are convex (Schraudolph 2002, "Fast curvature matrix-vector
    products for second-order gradient descent"; Martens 2020, "New insights and perspectives on the natural
    gradient method", Section 8). The direction solves (G + tau I) p = -g with the safeguarded shift tau of
    Algorithm 3.3 of Nocedal & Wright (2006) (tau = 0 when G is positive definite), the step length comes
    from Armijo backtracking (first trial 1) or the strong Wolfe search (``line_search``): the damped
    Gauss-Newton method of least_squares' ``"gauss-newton"`` with G in place of J'J. Where z is affine in x,
    G is the Hessian and the iterates are Newton's.

    Hessian-free (option ``hessian_free``; by default where the model prefers it, a network whose output
    Jacobian would be large): G is used only through products J'(H_L (J v)) + H_P v and the direction is the
    truncated conjugate-gradient solution of G p = -g to the relative residual ``cg_rtol`` (Martens, "Deep
    learning via Hessian-free optimization", ICML 2010; Nocedal & Wright (2006), Algorithm 7.1), then searched
    as above. On the softmax MLP of scikit-learn's digits (1210 weights, 1797 rows) forming G costs 1.8 s per
    point and a product 0.9 ms.

    The model comes from ``ggn=callable(x, *args)`` (an array, a scipy.sparse matrix or a ricci.solvers
    Operator that allows factorizations; one known only through products with ``hessian_free``) or from an
    object passed as fun with a ``ggn_operator`` method (``ricci.symbolic.GaussNewton``; its
    ``ggn_products`` when Hessian-free). Stops when ``max_i |g_i| <= gtol`` or after ``maxiter`` iterations.
    Options: :class:`GaussNewtonModelOptions` (Newton's, ``shift_beta`` unused: the shift is that of a
    semidefinite G; and the Hessian-free ones).
    """,
)
GGN_LM = _ggn_method(
    "ggn-lm", GaussNewtonTrustOptions, _ggn_lm_run,
    "generalized Gauss-Newton with Levenberg-Marquardt damping: scaled trust region on G (More 1978)",
    """Generalized Gauss-Newton with Levenberg-Marquardt damping, for f(x) = L(z(x)) + P(x).

    The model m(p) = f + g'p + 1/2 p'Gp of G = J' H_L J + H_P (Schraudolph 2002; Martens 2020, "New insights
    and perspectives on the natural gradient method", Sections 8 and 10, for G with Levenberg-Marquardt
    damping) is minimized subject to ||D p|| <= radius, i.e. (G_s + lambda I) q = -g_s with G_s = D^-1 G D^-1,
    by More-Sorensen; D = diag(sqrt(G_jj)), each entry the largest seen so far (MINPACK's column norms, which
    they are for G = J'J), and the radius rule is More's (1978, "The Levenberg-Marquardt algorithm:
    implementation and theory", Section 3; MINPACK's lmder, initial radius factor 100): the method of
    least_squares' ``"lm"`` with G in place of J'J. Every accepted step is an iteration. Hessian-free (option
    ``hessian_free``, as for ``"ggn"``): D = I and the subproblem is solved by Steihaug's truncated conjugate
    gradients on G within the radius (Nocedal & Wright (2006), Algorithm 7.2).

    The model comes from ``ggn=callable(x, *args)`` or an object with a ``ggn_operator`` method, as for
    ``"ggn"``. Stops when ``max_i |g_i| <= gtol`` or after ``maxiter`` iterations. Options:
    :class:`GaussNewtonTrustOptions`.
    """,
)
LM = Method("lm", "least_squares", partial(least_squares, method="lm"), "jacobian", None,
            "Levenberg-Marquardt on the residuals: trust region in a scaled norm (More 1978, MINPACK's tests)")
GAUSS_NEWTON = Method("gauss-newton", "least_squares", partial(least_squares, method="gauss-newton"), "jacobian",
                      None, "damped Gauss-Newton on the residuals: safeguarded normal equations, Armijo search")

TRON = Method("tron", "minimize", tron, "hessian_or_product", TronOptions,
              "projected trust-region Newton for bounds (Lin & More 1999): Cauchy point, CG on the free variables")
AUGLAG = Method("auglag", "minimize", auglag, "hessian_or_product", AugmentedLagrangianOptions,
                "augmented Lagrangian (bound form with slacks) around tron, exact Hessians; general constraints")
IPM = Method("ipm", "minimize", ipm, "hessian_or_product", InteriorPointOptions,
             "primal-dual interior point, filter line search (Waechter & Biegler 2006), structured KKT; constraints")

METHOD_REGISTRY: Mapping[str, Method] = MappingProxyType(
    {m.name: m for m in (NEWTON, TRUST_EXACT, TRUST_NCG, TRUST_KRYLOV, DOGLEG, LBFGS, GGN, GGN_LM, TRON, AUGLAG,
                          IPM, LM, GAUSS_NEWTON)})
"""Every method by name, ``minimize`` family first, in the order ``ricci solve --help`` lists them."""

CONSTRAINED_METHOD_NAMES = ("tron", "auglag", "ipm")
"""The ``minimize`` methods that take bounds ("tron") or bounds and constraints ("auglag")."""

CONSTRAINED_METHODS = {name: m.function for name, m in METHOD_REGISTRY.items() if name in CONSTRAINED_METHOD_NAMES}
"""The constrained ``minimize`` methods: name -> scipy-compatible callable (bounds=, constraints=)."""

METHODS = {name: m.function for name, m in METHOD_REGISTRY.items()
           if m.family == "minimize" and m.derivatives != "ggn" and name not in CONSTRAINED_METHOD_NAMES}
"""The ``minimize`` methods on f's own derivatives (fun, jac, hess, hessp): name -> scipy-compatible callable
(what ``minimize(method=name)`` runs), the constrained ones ("tron", "auglag") left out: they are in
:data:`CONSTRAINED_METHODS`. The generalized Gauss-Newton methods, which need a model beside them
(``ggn=``), are in :data:`GGN_METHODS`."""

GGN_METHODS = {name: m.function for name, m in METHOD_REGISTRY.items() if m.derivatives == "ggn"}
"""The ``minimize`` methods on the generalized Gauss-Newton model: "ggn" and "ggn-lm"."""

newton, trust_exact, trust_ncg = NEWTON.function, TRUST_EXACT.function, TRUST_NCG.function
trust_krylov, dogleg, lbfgs = TRUST_KRYLOV.function, DOGLEG.function, LBFGS.function
ggn, ggn_lm = GGN.function, GGN_LM.function


def normalize_method_name(name) -> str:
    """scipy's spellings: case-insensitive, "_" for "-" ("TRUST_EXACT" is "trust-exact")."""
    return str(name).lower().replace("_", "-")


def get_method(name: str, family: str | None = None) -> Method:
    """The record of method ``name`` (any spelling :func:`normalize_method_name` accepts), optionally required
    to belong to ``family``; ValueError listing the valid names otherwise."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)} or None; got {family!r}")
    valid = [n for n, m in METHOD_REGISTRY.items() if family is None or m.family == family]
    key = normalize_method_name(name)
    record = METHOD_REGISTRY.get(key)
    if record is not None and record.name in valid:
        return record
    if record is not None:
        raise ValueError(f"method {name!r} is a {record.family} method, not a {family} one; valid methods for "
                         f"{family} are: {', '.join(valid)}")
    close = difflib.get_close_matches(key, valid, n=2)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"unknown method {name!r}; valid methods are: {', '.join(valid)}{hint}")
