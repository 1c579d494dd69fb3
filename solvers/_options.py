"""Options of the methods as frozen dataclasses.

A user passes either a mapping (``options={"gtol": 1e-8}``), keyword arguments (the scipy custom-method path),
or an instance of the method's dataclass. Unknown names raise TypeError listing the valid ones; values out of
range raise ValueError.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CommonOptions:
    """Options every method understands.

    gtol: stop when the gradient's infinity norm ``max_i |g_i|`` is at most gtol (a finite number >= 0; 0
        turns the test off, as in scipy, and the run ends by maxiter or when no progress is possible).
    maxiter: iteration limit (default 200 * n, as scipy's trust-region family).
    disp: print one line per iteration and a final summary to stdout.
    """

    gtol: float = 1e-5
    maxiter: int | None = None
    disp: bool = False

    def validate(self) -> None:
        _require(_is_real(self.gtol) and math.isfinite(self.gtol) and self.gtol >= 0, "gtol",
                 "a finite number >= 0", self.gtol)
        if self.maxiter is not None:
            _require(_is_integer(self.maxiter) and self.maxiter >= 0, "maxiter",
                     "a non-negative integer or None", self.maxiter)


@dataclass(frozen=True)
class NewtonOptions(CommonOptions):
    """Newton's method with a line search.

    line_search: "armijo" (backtracking, the default) or "wolfe" (strong Wolfe conditions).
    c1, c2: sufficient-decrease and curvature constants, 0 < c1 < c2 < 1.
    max_line_search: trial steps allowed per line search.
    shift_beta: the beta of Algorithm 3.3 of Nocedal & Wright (2006), relative to the Hessian's scale.
    negative_curvature: where the Hessian is indefinite, combine the shifted Newton step s with a direction of
        negative curvature d (its smallest eigenvector) on the curvilinear path x + a^2 s + a d of More &
        Sorensen (1979), searched by Armijo backtracking whatever ``line_search``, where d promises more than
        s (1/2 |d'Hd| >= |g's|: near saddle points); so Newton leaves saddle points instead of converging to
        them. False: only the shifted step (Newton's method of Nocedal & Wright, Algorithm 3.3). Unused by ggn
        (its matrix is semidefinite).
    """

    line_search: str = "armijo"
    c1: float = 1e-4
    c2: float = 0.9
    max_line_search: int = 60
    shift_beta: float = 1e-3
    negative_curvature: bool = True

    def validate(self) -> None:
        super().validate()
        _require(self.line_search in ("armijo", "wolfe"), "line_search", "'armijo' or 'wolfe'", self.line_search,
                 numeric=False)
        _validate_wolfe(self.c1, self.c2, self.max_line_search)
        _require(_is_real(self.shift_beta) and math.isfinite(self.shift_beta) and self.shift_beta > 0,
                 "shift_beta", "a finite number > 0", self.shift_beta)
        if not isinstance(self.negative_curvature, bool):
            raise TypeError(f"option 'negative_curvature' must be True or False; got {self.negative_curvature!r}")


@dataclass(frozen=True)
class LbfgsOptions(CommonOptions):
    """Limited-memory BFGS with a strong Wolfe line search.

    maxcor: number of stored correction pairs (s, y).
    """

    maxcor: int = 10
    c1: float = 1e-4
    c2: float = 0.9
    max_line_search: int = 40

    def validate(self) -> None:
        super().validate()
        _require(_is_integer(self.maxcor) and self.maxcor >= 1, "maxcor", "an integer >= 1", self.maxcor)
        _validate_wolfe(self.c1, self.c2, self.max_line_search)


@dataclass(frozen=True)
class TrustRegionOptions(CommonOptions):
    """Trust-region methods (dogleg; trust-ncg and trust-krylov add :class:`KrylovOptions`).

    initial_trust_radius, max_trust_radius: the radius starts at the first and never exceeds the second.
    eta: a step is accepted when actual/predicted reduction exceeds eta (0 <= eta < 0.25).
    subproblem_maxiter: cap on the inner iterations of the subproblem solver (default: n for CG/Lanczos).
    """

    initial_trust_radius: float = 1.0
    max_trust_radius: float = 1000.0
    eta: float = 0.15
    subproblem_maxiter: int | None = None

    def validate(self) -> None:
        super().validate()
        _require(_is_real(self.initial_trust_radius) and math.isfinite(self.initial_trust_radius)
                 and self.initial_trust_radius > 0, "initial_trust_radius", "a finite number > 0",
                 self.initial_trust_radius)
        _require(_is_real(self.max_trust_radius) and self.max_trust_radius >= self.initial_trust_radius,
                 "max_trust_radius", f"a number >= initial_trust_radius ({self.initial_trust_radius})",
                 self.max_trust_radius)
        _require(_is_real(self.eta) and 0 <= self.eta < 0.25, "eta", "a number in [0, 0.25)", self.eta)
        if self.subproblem_maxiter is not None:
            _require(_is_integer(self.subproblem_maxiter) and self.subproblem_maxiter >= 1,
                     "subproblem_maxiter", "an integer >= 1 or None", self.subproblem_maxiter)


PRECONDITIONERS = ("auto", "diagonal", "factorization", "none")


@dataclass(frozen=True)
class KrylovOptions(TrustRegionOptions):
    """trust-ncg and trust-krylov: the subproblem solved by Krylov iterations on Hessian-vector products.

    preconditioner: "diagonal" preconditions them with the Hessian's diagonal (Jacobi; the trust region is then
        measured in the matching norm, see ``_trust_region.py``), "none" does not, and "auto" (the default)
        chooses "diagonal" when the diagonal comes for free: when the Hessian is an operator the products use
        anyway (``hess`` without ``hessp``, or an object's ``hess_operator`` that is not a dense matrix), "none"
        when only ``hessp`` is given or a dense Hessian would be evaluated just for its diagonal (``hess``
        beside ``hessp``, or a ``hess_operator`` found dense at the first iteration). trust-ncg also takes
        "factorization": the Hessian at an earlier point, factorized in its structure and renewed when the
        subproblems grow expensive (see ``_trust_region.py``); it needs a Hessian that can be factorized.
    """

    preconditioner: str = "auto"

    def validate(self) -> None:
        super().validate()
        _require(self.preconditioner in PRECONDITIONERS, "preconditioner",
                 " or ".join(map(repr, PRECONDITIONERS)), self.preconditioner, numeric=False)


@dataclass(frozen=True)
class TrustExactOptions(TrustRegionOptions):
    """trust-exact: More-Sorensen subproblem.

    k_easy: relative accuracy | ||p|| - radius | <= k_easy * radius of a boundary solution.
    subproblem_maxiter: Cholesky-based iterations before the eigendecomposition fallback (default 25).
    """

    k_easy: float = 0.1

    def validate(self) -> None:
        super().validate()
        _require(_is_real(self.k_easy) and 0 < self.k_easy < 1, "k_easy", "a number in (0, 1)", self.k_easy)


def _validate_hessian_free(opts) -> None:
    if opts.hessian_free is not None and not isinstance(opts.hessian_free, bool):
        raise TypeError(f"option 'hessian_free' must be True, False or None; got {opts.hessian_free!r}")
    _require(_is_real(opts.cg_rtol) and 0 < opts.cg_rtol < 1, "cg_rtol", "a number in (0, 1)", opts.cg_rtol)
    if opts.cg_maxiter is not None:
        _require(_is_integer(opts.cg_maxiter) and opts.cg_maxiter >= 1, "cg_maxiter", "an integer >= 1 or None",
                 opts.cg_maxiter)


_HESSIAN_FREE_DOC = """
    hessian_free: use G only through products G v = J'(H_L (J v)) + H_P v, the output's Jacobian never
        formed (Martens, "Deep learning via Hessian-free optimization", ICML 2010): the step comes from
        conjugate gradients on G (Steihaug's, truncated at the radius, for ggn-lm). None (the default) follows
        the model (``ricci.symbolic.GaussNewton.prefers_products``: output Jacobian blocks computed per point of
        more than 2^22 entries, no Dask data); True and False force it. A ``ggn`` callable that returns an
        operator known only through products needs True or None.
    cg_rtol: the conjugate gradients stop at the relative residual ||G q + g|| <= cg_rtol ||g|| (hessian_free).
    cg_maxiter: and after at most this many products (None: min(n, 250)).
"""


@dataclass(frozen=True)
class GaussNewtonTrustOptions(CommonOptions):
    __doc__ = """ggn-lm: the options of :class:`CommonOptions` and""" + _HESSIAN_FREE_DOC

    hessian_free: bool | None = None
    cg_rtol: float = 0.1
    cg_maxiter: int | None = None

    def validate(self) -> None:
        super().validate()
        _validate_hessian_free(self)


@dataclass(frozen=True)
class GaussNewtonModelOptions(GaussNewtonTrustOptions, NewtonOptions):
    __doc__ = ("""ggn: the options of :class:`NewtonOptions` (``shift_beta`` and ``negative_curvature`` unused: G is
    semidefinite) and""" + _HESSIAN_FREE_DOC)


def parse_options(cls, method: str, options, tol=None):
    """Build ``cls`` from a mapping or an instance; ``tol`` sets gtol unless gtol is given (scipy semantics)."""
    if tol is not None and not (_is_real(tol) and math.isfinite(tol) and tol >= 0):
        raise (ValueError if _is_real(tol) else TypeError)(f"tol must be a finite number >= 0 or None (it sets gtol, the bound on the gradient's "
                         f"infinity norm); got {tol!r}")
    if isinstance(options, CommonOptions):
        if type(options) is not cls:
            raise TypeError(f"options for method {method!r} must be a {cls.__name__} or a mapping; "
                            f"got a {type(options).__name__}")
        opts = options
        if tol is not None:
            from dataclasses import replace

            opts = replace(opts, gtol=tol)
    else:
        given = dict(options or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                            f"valid options are: {', '.join(valid)}")
        if tol is not None:
            given.setdefault("gtol", tol)
        opts = cls(**given)
    opts.validate()
    return opts


def _validate_wolfe(c1, c2, max_line_search):
    _require(_is_real(c1) and 0 < c1 < 0.5, "c1", "a number in (0, 0.5)", c1)
    _require(_is_real(c2) and c1 < c2 < 1, "c2", f"a number in (c1={c1}, 1)", c2)
    _require(_is_integer(max_line_search) and max_line_search >= 1, "max_line_search",
             "an integer >= 1", max_line_search)


def _is_real(value) -> bool:
    """A real number (Python or NumPy), not a bool and not a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value) -> bool:
    """An integer, or a float with an integral finite value (scipy accepts maxiter=100.0)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()


def _require(ok, name, expected, got, numeric=True):
    """ValueError for a value out of range; TypeError for a numeric option given something not a number."""
    if not ok:
        error = TypeError if numeric and not _is_real(got) else ValueError
        raise error(f"option {name!r} must be {expected}; got {got!r}")
