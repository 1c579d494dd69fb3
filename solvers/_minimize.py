"""The public entry points: ``minimize`` and one scipy-compatible callable per method.

Each method is a composition of a driver and a step (STYLE.md, "solvers as compositions"):

    newton        line-search driver + safeguarded Newton step (Algorithm 3.3 of Nocedal & Wright (2006))
    lbfgs         line-search driver (strong Wolfe) + L-BFGS two-loop recursion (Algorithm 7.4)
    trust-exact   trust-region driver + More-Sorensen (Algorithm 4.3)
    trust-ncg     trust-region driver + Steihaug-CG (Algorithm 7.2)
    trust-krylov  trust-region driver + GLTR (generalized Lanczos)
    dogleg        trust-region driver + dogleg (Section 4.1)

The callables have the signature scipy.optimize.minimize expects of a custom ``method``, so
``scipy.optimize.minimize(f, x0, method=ricci.solvers.trust_exact, jac=..., hess=...)`` works.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace

from ._arrays import eps, prepare_x0
from ._evaluator import Evaluator, FloatingPointGuard, resolve_objective
from ._lbfgs import LbfgsDirection
from ._line_search_driver import NewtonDirection, minimize_line_search
from ._options import CommonOptions, LbfgsOptions, NewtonOptions, TrustExactOptions, TrustRegionOptions, parse_options
from ._trust_region import (
    DoglegSubproblem,
    LanczosSubproblem,
    MoreSorensenSubproblem,
    SteihaugSubproblem,
    minimize_trust_region,
)


def _check_unsupported(method, bounds, constraints):
    if bounds is not None:
        raise ValueError(f"method {method!r} is for unconstrained problems; got bounds={bounds!r}")
    if constraints:
        raise ValueError(f"method {method!r} is for unconstrained problems; got constraints={constraints!r}")


def _setup(method, fun, x0, jac, hess, hessp, needs):
    xp, x0 = prepare_x0(x0)
    fun, jac, fun_and_jac, hess, hessp = resolve_objective(fun, jac, hess, hessp, method=method, needs=needs)
    return xp, x0, fun, jac, fun_and_jac, hess, hessp


def newton(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
           constraints=(), **options):
    """Newton's method with a line search and a safeguarded Cholesky factorization.

    The direction solves (H + tau I) p = -g with tau = 0 when H is positive definite and tau raised by
    Algorithm 3.3 of Nocedal & Wright (2006) otherwise, so it is a descent direction even for indefinite or
    singular H. The step length comes from Armijo backtracking (``line_search="armijo"``, first trial 1) or
    the strong Wolfe search of Algorithms 3.5-3.6 (``line_search="wolfe"``). Options: :class:`NewtonOptions`.
    """
    _check_unsupported("newton", bounds, constraints)
    opts = parse_options(NewtonOptions, "newton", options, tol)
    xp, x0, fun, jac, fun_and_jac, hess, hessp = _setup("newton", fun, x0, jac, hess, hessp, "hessian")
    with FloatingPointGuard() as guard:
        ev = Evaluator(xp, x0, fun, jac, fun_and_jac, hess, None, args, guard)
        rule = NewtonDirection(xp, ev, opts.shift_beta)
        return minimize_line_search(ev, x0, rule, opts, method="newton", line_search=opts.line_search,
                                    callback=callback)


def lbfgs(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
          constraints=(), **options):
    """Limited-memory BFGS (Algorithm 7.5 of Nocedal & Wright (2006)) with a strong Wolfe line search.

    The quasi-Newton baseline that runs on the same arrays as the second-order methods (NumPy, CuPy, ...);
    hess and hessp are ignored. Options: :class:`LbfgsOptions`.
    """
    _check_unsupported("lbfgs", bounds, constraints)
    opts = parse_options(LbfgsOptions, "lbfgs", options, tol)
    xp, x0, fun, jac, fun_and_jac, _, _ = _setup("lbfgs", fun, x0, jac, None, None, "gradient")
    with FloatingPointGuard() as guard:
        ev = Evaluator(xp, x0, fun, jac, fun_and_jac, None, None, args, guard)
        rule = LbfgsDirection(xp, opts.maxcor, eps(xp, x0))
        return minimize_line_search(ev, x0, rule, opts, method="lbfgs", line_search="wolfe", callback=callback)


def _trust_region_method(name, options_cls, needs, make_subproblem, doc):
    def method(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
               constraints=(), **options):
        _check_unsupported(name, bounds, constraints)
        opts = parse_options(options_cls, name, options, tol)
        xp, x0, fun, jac, fun_and_jac, hess, hessp = _setup(name, fun, x0, jac, hess, hessp, needs)
        with FloatingPointGuard() as guard:
            ev = Evaluator(xp, x0, fun, jac, fun_and_jac, hess, hessp, args, guard)
            return minimize_trust_region(ev, x0, make_subproblem(opts), opts, method=name, callback=callback)

    method.__name__ = method.__qualname__ = name.replace("-", "_")
    method.__doc__ = doc
    return method


trust_exact = _trust_region_method(
    "trust-exact", TrustExactOptions, "hessian",
    lambda o: MoreSorensenSubproblem(o.k_easy, o.subproblem_maxiter),
    """Trust region with the nearly exact subproblem solution of More & Sorensen (1983), Algorithm 4.3 of
    Nocedal & Wright (2006), hard case included (eigendecomposition fallback). The Hessian is evaluated only at
    accepted points. Options: :class:`TrustExactOptions`.""",
)
trust_ncg = _trust_region_method(
    "trust-ncg", TrustRegionOptions, "hessian_or_product",
    lambda o: SteihaugSubproblem(o.subproblem_maxiter),
    """Trust region with Steihaug's truncated CG (Algorithm 7.2 of Nocedal & Wright (2006)) on Hessian-vector
    products (``hessp``, or products with ``hess``). Options: :class:`TrustRegionOptions`.""",
)
trust_krylov = _trust_region_method(
    "trust-krylov", TrustRegionOptions, "hessian_or_product",
    lambda o: LanczosSubproblem(o.subproblem_maxiter),
    """Trust region with the generalized Lanczos method GLTR (Gould, Lucidi, Roma & Toint, 1999) on
    Hessian-vector products. Options: :class:`TrustRegionOptions`.""",
)
dogleg = _trust_region_method(
    "dogleg", TrustRegionOptions, "hessian",
    lambda o: DoglegSubproblem(),
    """Trust region with the dogleg step (Section 4.1 of Nocedal & Wright (2006)), meant for positive definite
    Hessians; an indefinite Hessian falls back to a shifted Newton point (Algorithm 3.3) and the Cauchy step.
    Options: :class:`TrustRegionOptions`.""",
)

METHODS = {
    "newton": newton,
    "trust-exact": trust_exact,
    "trust-ncg": trust_ncg,
    "trust-krylov": trust_krylov,
    "dogleg": dogleg,
    "lbfgs": lbfgs,
}


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
    if callable(method):
        solver = method
    else:
        key = str(method).lower().replace("_", "-")
        if key not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid methods are: {', '.join(METHODS)}")
        solver = METHODS[key]
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
    expected = {newton: NewtonOptions, lbfgs: LbfgsOptions, trust_exact: TrustExactOptions,
                trust_ncg: TrustRegionOptions, trust_krylov: TrustRegionOptions, dogleg: TrustRegionOptions}
    want = expected.get(solver)
    if want is not None and type(options) is not want:
        raise TypeError(f"options for {solver.__name__} must be a {want.__name__}; got {type(options).__name__}")
    return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback, **asdict(options))
