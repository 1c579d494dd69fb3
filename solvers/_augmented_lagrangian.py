"""The augmented Lagrangian method "auglag": general constraints around the bound-constrained Newton method.

Problem: min f(x) subject to lo_c <= c(x) <= hi_c (every constraint, stacked by ``_constraint_set.py``) and
lo <= x <= hi. Inequality rows get slacks s with the same bounds, c_I(x) - s = 0, lo_I <= s <= hi_I (the bound
form of Nocedal & Wright (2006), Section 17.4, eq. 17.50; Conn, Gould & Toint's LANCELOT), so every constraint
is an equality r(x, s) = 0 with r_E = c_E(x) - b and r_I = c_I(x) - s, and the only inequalities are bounds on
z = (x, s). Each outer iteration minimizes over that box

    L_A(z; v, mu) = f(x) + v'r(z) + (mu/2) ||r(z)||^2

with the multiplier estimate v and penalty mu fixed, by ``tron`` (Lin & More 1999) with the exact Hessian

    d2 L_A / dx2  = H_f(x) + sum_i w_i H_ci(x) + mu J'J,     w = v + mu r,
    d2 L_A / dxds = -mu J_I',      d2 L_A / ds2 = mu I,

then updates v <- w, safeguarded to |v_i| <= ``max_multiplier`` (Birgin & Martinez, "Practical Augmented
Lagrangian Methods for Constrained Optimization", SIAM 2014, Algorithm 4.1: ALGENCAN's rule), and raises mu
by ``penalty_increase`` when ||r||_inf did not fall below ``feasibility_decrease`` times its previous value.
Inner tolerances fall by 10 per outer iteration down to gtol; each subproblem starts from the last z and the
last trust radius.

Signs follow scipy's trust-constr: the Lagrangian is f + v'c (+ z'x for the bounds), so at a solution
grad f + J'v + z = 0 with v_i > 0 where c_i is at its upper bound and v_i < 0 at its lower one.

Stops: CONVERGED when the projected gradient of L_A over the box (the KKT residual with multipliers w: the
Lagrangian's stationarity in x, the multipliers' signs through the slacks' bounds) is at most gtol, ||r||_inf at
most ctol (so the violation max(lo_c - c, c - hi_c, 0) is too) and the complementarity of the constraints and
bounds with the multipliers returned (max of w_i (hi_i - c_i) for w_i > 0, |w_i| (c_i - lo_i) for w_i < 0, the same
for the bounds' multipliers; problems/_kkt.py's residual) is at most gtol: ||r|| <= ctol alone leaves w_i r_i at
an active constraint as large as |w_i| ctol, and the objective off by as much (HS 15: 4e-6). While only
complementarity is missing the outer iterations go on (the multiplier update shrinks r) with subproblem
tolerances below gtol (down to gtol / 1000, for |w_i| times the gap of an inactive constraint). INFEASIBLE when
the penalty reaches ``max_penalty`` and the violation still does not shrink, or x is a stationary point of the
infeasibility 1/2 ||r||^2 over the box while mu is large: then 1/2 ||r||^2 is minimized over the box and that
least-infeasible point returned; UNBOUNDED when f falls below ``-unbounded_threshold`` at a point that satisfies
the constraints to ctol; MAX_ITERATIONS; NON_FINITE when a function returns NaN/inf.

The subproblem's Hessian is a dense matrix for small problems with a dense (or sparse) f Hessian, where tron
factorizes it, and an operator otherwise (f's Hessian an operator, or more than ``_DENSE_LIMIT`` unknowns): the
sum of f's operator, the constraints' weighted Hessian operator (each constraint's hess_operator, hessp or hess)
and the Gram operator mu K'K, so that tron runs on products and no (n + n_I)^2 matrix is formed. Missing
second derivatives are approximated as scipy's trust-constr does: f's by BFGS, each constraint's by a copy of
its own ``HessianUpdateStrategy`` or SR1 (``ConstraintQuasiNewton``), updated once per accepted tron step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, OptimizeResult

from ._arrays import as_array, as_scalar, prepare_x0
from ._bounds import projected_gradient_norm, standardize_bounds
from ._callback import wrap_callback
from ._constraint_set import ConstraintQuasiNewton, ConstraintSet, _host
from ._evaluator import Counts, resolve_objective
from ._options import CommonOptions, _require
from ._result import Outcome, with_detail


@dataclass(frozen=True)
class AugmentedLagrangianOptions(CommonOptions):
    """Options of "auglag" (``gtol`` and ``maxiter`` as :class:`CommonOptions`; maxiter counts outer iterations).

    gtol: bound on the KKT residual (projected gradient of the augmented Lagrangian; infinity norm) and on the
        complementarity of the constraints and bounds with the returned multipliers.
    maxiter: outer iterations (default 100).
    ctol: bound on the constraint violation max_i max(lo_i - c_i, c_i - hi_i, 0) (bounds on x always hold).
    inner_maxiter: iteration limit of each bound-constrained subproblem (None: tron's default).
    initial_penalty: mu_0 (None: Birgin & Martinez's 10 max(1, |f(x0)|) / max(1, ||r(x0)||^2 / 2), clipped
        to [1e-8, 10]).
    penalty_increase: factor by which mu grows when the infeasibility did not shrink enough (> 1).
    feasibility_decrease: the fraction by which ||r||_inf must shrink per outer iteration to keep mu (0 < . < 1).
    max_penalty: the largest mu; at it, a violation that no longer shrinks means INFEASIBLE.
    max_multiplier: the safeguard |v_i| <= max_multiplier of the multiplier estimates.
    unbounded_threshold: f below -unbounded_threshold at a feasible point means UNBOUNDED.
    """

    gtol: float = 1e-8
    ctol: float = 1e-8
    inner_maxiter: int | None = None
    initial_penalty: float | None = None
    penalty_increase: float = 10.0
    feasibility_decrease: float = 0.5
    max_penalty: float = 1e12
    max_multiplier: float = 1e20
    unbounded_threshold: float = 1e20

    def validate(self) -> None:
        super().validate()
        _require(_positive(self.ctol), "ctol", "a finite number > 0", self.ctol)
        _require(self.inner_maxiter is None or (isinstance(self.inner_maxiter, int) and self.inner_maxiter >= 1),
                 "inner_maxiter", "an integer >= 1 or None", self.inner_maxiter)
        _require(self.initial_penalty is None or _positive(self.initial_penalty), "initial_penalty",
                 "a finite number > 0 or None", self.initial_penalty)
        _require(_positive(self.penalty_increase) and self.penalty_increase > 1, "penalty_increase",
                 "a finite number > 1", self.penalty_increase)
        _require(_positive(self.feasibility_decrease) and self.feasibility_decrease < 1, "feasibility_decrease",
                 "a number in (0, 1)", self.feasibility_decrease)
        for name in ("max_penalty", "max_multiplier", "unbounded_threshold"):
            _require(_positive(getattr(self, name)), name, "a finite number > 0", getattr(self, name))


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class _Objective:
    """f, its gradient and its Hessian (dense) or Hessian-vector products, from the user's functions. The
    Hessian as the user's hess returned it is kept for the last x, so that deciding its form and using it cost
    one evaluation."""

    quasi_newton = False

    def __init__(self, xp, functions, args, counts: Counts):
        self.xp, self.fn, self.args, self.counts = xp, functions, args, counts
        self._last = None  # (x, what hess(x) returned)

    def value_and_gradient(self, x):
        fn, args = self.fn, self.args
        self.counts.nfev += 1
        self.counts.njev += 1
        if fn.fun_and_jac is not None:
            f, g = fn.fun_and_jac(x, *args)
        else:
            f, g = fn.fun(x, *args), fn.jac(x, *args)
        f = as_scalar(f, "fun")
        g = as_array(self.xp, g, x, (x.shape[0],), "jac")
        return f, g

    @property
    def has_hessian(self) -> bool:
        return self.fn.hess is not None

    def raw_hessian(self, x):
        """What the user's hess returned at x (an array, a sparse matrix or an operator)."""
        last = self._last
        if last is not None and last[0].shape == x.shape and bool(self.xp.all(last[0] == x)):
            return last[1]
        self.counts.nhev += 1
        raw = self.fn.hess(x, *self.args)
        self._last = (self.xp.asarray(x, copy=True), raw)
        return raw

    def is_structured(self, x) -> bool:
        """True when f's Hessian comes as an operator (an object's hess_operator, or hess returning a ricci
        Operator or a scipy LinearOperator): then it is kept one, whatever n."""
        from scipy.sparse.linalg import LinearOperator

        from ._operators import Operator

        return self.fn.hess_is_operator or isinstance(self.raw_hessian(x), (Operator, LinearOperator))

    def hessian(self, x):
        from ._constraint_set import _dense

        return _dense(self.xp, self.raw_hessian(x), x, (x.shape[0], x.shape[0]), "hess")

    def hessian_operator(self, x):
        """f's Hessian as a ricci.solvers Operator, its structure kept (an array becomes a DenseOperator)."""
        from ._operators import as_operator

        return as_operator(self.raw_hessian(x))

    def hessp(self, x, p):
        if self.fn.hessp is None:
            return self.hessian_operator(x) @ p
        self.counts.nhev += 1
        return as_array(self.xp, self.fn.hessp(x, p, *self.args), x, (x.shape[0],), "hessp")


class _QuasiNewtonObjective(_Objective):
    """f given with its gradient only: its Hessian is scipy's ``BFGS()`` approximation (as trust-constr's
    ``ScalarFunction`` keeps one: ``initialize(n, "hess")``, then ``update(x+ - x, g(x+) - g(x))``), fed by the
    model once per point at which the subproblem solver asks for the Hessian (:meth:`update`). BFGS rather
    than SR1: f's Hessian is positive definite near a minimizer, and BFGS keeps the approximation so (it skips
    pairs with y's <= 0). The approximation is a dense (n, n) matrix."""

    quasi_newton = True

    def __init__(self, xp, functions, args, counts: Counts, n: int):
        from scipy.optimize import BFGS

        super().__init__(xp, functions, args, counts)
        self.strategy = BFGS()
        self.strategy.initialize(n, "hess")
        self._x = self._g = None
        self.pairs = 0

    has_hessian = True

    def update(self, x, g) -> None:
        x_h, g_h = _host(x), _host(g)
        if self._x is not None and np.any(x_h != self._x) and np.any(g_h != self._g) \
                and np.all(np.isfinite(g_h)):
            self.strategy.update(x_h - self._x, g_h - self._g)
            self.pairs += 1
        self._x, self._g = x_h, g_h

    def raw_hessian(self, x):
        return self.xp.asarray(self.strategy.get_matrix(), dtype=x.dtype)

    def is_structured(self, x) -> bool:
        return False

    def hessp(self, x, p):
        return self.raw_hessian(x) @ p


class AugmentedLagrangianModel:
    """L_A(z; v, mu) = weight f(x) + v'r(z) + (mu/2) ||r(z)||^2 over z = (x, s) with its gradient and exact
    Hessian (module docstring); ``weight = 0, v = 0, mu = 1`` is the infeasibility 1/2 ||r||^2. An object with
    fun / jac / hess / hessp methods, as ``minimize`` takes; values at the last z are kept for the next call."""

    def __init__(self, xp, objective: _Objective, cset: ConstraintSet, n: int, like, quasi_newton: bool = False):
        self.xp, self.objective, self.cset, self.n = xp, objective, cset, n
        # quasi-Newton approximations of the constraint Hessians not given (else their curvature is left out)
        self.quasi_newton = ConstraintQuasiNewton(cset) if quasi_newton and cset.hessian_missing else None
        self._learned_at = self._structured = None
        self.ineq = xp.asarray(np.flatnonzero(~cset.equality))
        self.n_ineq = int(np.count_nonzero(~cset.equality))
        eq_target = np.where(cset.equality, cset.lo, 0.0)
        self.eq_target = xp.asarray(eq_target, dtype=like.dtype)
        self.eq_mask = xp.asarray(cset.equality.astype(np.float64), dtype=like.dtype)
        self.weight, self.v, self.mu = 1.0, xp.zeros((cset.m,), dtype=like.dtype), 1.0
        self._z = self._point = self._curvature = None

    def set_parameters(self, v, mu, weight=1.0):
        self.v, self.mu, self.weight = v, float(mu), float(weight)
        self._curvature = None

    def point(self, z):
        """f, g, c, J and r at z (computed once per z)."""
        xp = self.xp
        if self._z is not None and self._z.shape == z.shape and bool(xp.all(self._z == z)):
            return self._point
        x = z[:self.n]
        f, g = self.objective.value_and_gradient(x)
        c = self.cset.values(x)
        J = self.cset.jacobian(x)
        target = self.eq_target + (1.0 - self.eq_mask) * self.expand_slack(z[self.n:])
        self._z, self._point = xp.asarray(z, copy=True), (f, g, c, J, c - target)
        self._curvature = None
        return self._point

    def expand_slack(self, s):
        """The slacks s (one per inequality row) placed at their rows of a length-m vector (0 elsewhere)."""
        xp = self.xp
        out = xp.zeros((self.cset.m,), dtype=s.dtype)
        if self.n_ineq:
            out[self.ineq] = s
        return out

    def multipliers(self, z):
        """w = v + mu r(z): the first-order multiplier estimate at z."""
        return self.v + self.mu * self.point(z)[4]

    def learn(self, z):
        """Feed the quasi-Newton approximations (f's, when f has no Hessian; the constraints' without one) the
        point z, once per x. Called where the subproblem solver asks for the Hessian, which tron does once per
        accepted step: each accepted step is one curvature pair, taken with the multipliers w = v + mu r at the
        new point (scipy's convention, ``ConstraintQuasiNewton``). Per accepted step rather than per outer
        iteration: the pairs are many more (an outer iteration takes several steps), and the subproblem's Newton
        model improves within it."""
        if self.quasi_newton is None and not self.objective.quasi_newton:
            return
        xp, x = self.xp, z[:self.n]
        seen = self._learned_at
        if seen is not None and bool(xp.all(seen == x)):
            return
        _, g, _, J, _ = self.point(z)
        if self.quasi_newton is not None:
            self.quasi_newton.update(x, J, self.multipliers(z))
        if self.objective.quasi_newton:
            self.objective.update(x, g)
        self._learned_at = xp.asarray(x, copy=True)

    def structured(self, z) -> bool:
        """Whether the subproblems get the Hessian as an operator (decided at the first call): when f's Hessian
        is an operator (:meth:`_Objective.is_structured`) or there are more than ``_DENSE_LIMIT`` unknowns (x and
        slacks); otherwise (a small problem with a dense or sparse Hessian) the dense matrix, which tron
        factorizes."""
        if self._structured is None:
            self._structured = bool(z.shape[0] > _DENSE_LIMIT or self.weight and self.objective.has_hessian
                                    and self.objective.is_structured(z[:self.n]))
        return self._structured

    def fun(self, z):
        f, _, _, _, r = self.point(z)
        xp = self.xp
        return self.weight * f + float(xp.sum(self.v * r)) + 0.5 * self.mu * float(xp.sum(r * r))

    def jac(self, z):
        xp = self.xp
        _, g, _, J, _ = self.point(z)
        w = self.multipliers(z)
        gx = self.weight * g + J.T @ w if self.cset.m else self.weight * g
        return xp.concat([gx, -xp.take(w, self.ineq)]) if self.n_ineq else gx

    def hess(self, z):
        xp = self.xp
        x = z[:self.n]
        self.learn(z)
        _, _, _, J, _ = self.point(z)
        w = self.multipliers(z)
        J = _densified(J)  # the dense form, for small problems (``_DENSE_LIMIT``)
        Hxx = self.mu * (J.T @ J) if self.cset.m else xp.zeros((self.n, self.n), dtype=z.dtype)
        if self.weight:
            Hxx = Hxx + self.weight * self.objective.hessian(x)
        Hc = self.cset.weighted_hessian(x, w, self.quasi_newton)
        if Hc is not None:
            Hxx = Hxx + Hc
        if not self.n_ineq:
            return Hxx
        JI = xp.take(J, self.ineq, axis=0)
        top = xp.concat([Hxx, -self.mu * JI.T], axis=1)
        bottom = xp.concat([-self.mu * JI, self.mu * xp.eye(self.n_ineq, dtype=z.dtype)], axis=1)
        return xp.concat([top, bottom], axis=0)

    def hess_operator(self, z):
        """The Hessian as an operator that keeps its structure: diag(weight H_f + H_w, 0) + mu K'K with
        K = [J, -E_I] (m x (n + n_I)), E_I placing the slacks at their rows: a sum of a block-diagonal part and a
        Gram operator, H_f the objective's operator, H_w = sum_i w_i H_ci the constraints' operators
        (``ConstraintSet.weighted_hessian_operator``: each constraint's hess_operator, hessp or hess), so that
        no (n + n_I)^2 matrix is formed where f's and the constraints' Hessians are structured."""
        from ._operators import (
            BlockOperator,
            GramOperator,
            ScaledIdentity,
            SumOperator,
        )

        xp, n = self.xp, self.n
        x = z[:n]
        self.learn(z)
        _, _, _, J, _ = self.point(z)
        w = self.multipliers(z)
        terms = []
        if self.weight:
            terms.append(self.objective.hessian_operator(x) if self.objective.has_hessian else _MatvecHessian(
                self, x))
        Hc = self.cset.weighted_hessian_operator(x, w, self.quasi_newton)
        if Hc is not None:
            terms.append(Hc)
        if not terms:
            terms.append(ScaledIdentity(n, 0.0, like=z))
        Hx = terms[0] if len(terms) == 1 else SumOperator(terms)
        if self.weight and len(terms) == 1 and self.weight != 1.0:
            Hx = SumOperator([Hx, ScaledIdentity(n, 0.0, like=z)])  # pragma: no cover - weight is 0 or 1
        if self.n_ineq:
            Hx = BlockOperator([[Hx, None], [None, ScaledIdentity(self.n_ineq, 0.0, like=z)]], symmetric=True)
        if not self.cset.m:
            return Hx
        K = J
        if self.n_ineq and _is_sparse(J):
            import scipy.sparse as sp

            rows = np.flatnonzero(~self.cset.equality)
            E = sp.csr_array((-np.ones(self.n_ineq), (rows, np.arange(self.n_ineq))),
                             shape=(self.cset.m, self.n_ineq))
            K = sp.hstack([J, E], format="csr")
        elif self.n_ineq:
            E = xp.zeros((self.cset.m, self.n_ineq), dtype=z.dtype)
            E[self.ineq, xp.arange(self.n_ineq)] = -1.0
            K = xp.concat([J, E], axis=1)
        return SumOperator([Hx, GramOperator(K, d=xp.full((self.cset.m,), self.mu, dtype=z.dtype))])

    def hessp(self, z, p):
        """The product of the Hessian with p, from f's Hessian-vector product (no n x n matrix of f)."""
        xp, n = self.xp, self.n
        x, px = z[:n], p[:n]
        _, _, _, J, _ = self.point(z)
        w = self.multipliers(z)
        Jp = J @ px - self.expand_slack(p[n:])
        out = self.mu * (J.T @ Jp)
        if self._curvature is None:  # the constraints' curvature at z, once per point and multipliers
            self.learn(z)
            self._curvature = (self.cset.weighted_hessian_operator(x, w, self.quasi_newton),)
        if self.weight:
            out = out + self.weight * self.objective.hessp(x, px)
        Hc = self._curvature[0]
        if Hc is not None:
            out = out + Hc @ px
        if not self.n_ineq:
            return out
        return xp.concat([out, -self.mu * xp.take(Jp, self.ineq)])


def _is_sparse(a) -> bool:
    import scipy.sparse as sp

    return sp.issparse(a)


def _densified(a):
    """A scipy.sparse Jacobian as a dense NumPy array; anything else unchanged."""
    return a.toarray() if _is_sparse(a) else a


def _MatvecHessian(model, x):
    """f's Hessian at x known through hessp only, as a symmetric MatvecOperator."""
    from ._operators import MatvecOperator

    n = model.n
    return MatvecOperator((n, n), lambda p: model.objective.hessp(x, p), symmetric=True, dtype=x.dtype, like=x)


def _inner_solve(model, z, lo_h, hi_h, gtol, maxiter, radius, unbounded_threshold):
    """One bound-constrained subproblem by ``tron`` (Lin & More 1999), warm-started at z with the last radius."""
    from ._tron import (
        tron,  # the bound-constrained Newton method; imported here to keep import order free
    )

    options = {"unbounded_threshold": unbounded_threshold}
    if maxiter is not None:
        options["maxiter"] = maxiter
    if radius is not None:
        options["initial_radius"] = radius
    if not model.objective.has_hessian:
        hess = None  # f known through Hessian-vector products: the subproblem is too
    elif model.structured(z):
        hess = model.hess_operator  # keep f's structure (and never form a large dense matrix)
    else:
        hess = model.hess
    return tron(model.fun, z, jac=model.jac, hess=hess, hessp=None if hess else model.hessp,
                bounds=Bounds(lo_h, hi_h), tol=gtol, **options)


_DENSE_LIMIT = 500  # above this many unknowns (x and slacks) the subproblem's Hessian is an operator


def auglag(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
           constraints=(), **options):
    """Minimize f subject to bounds and general constraints by the augmented Lagrangian method (module
    docstring: bound form with slacks, tron subproblems with exact Hessians, Birgin-Martinez safeguards).

    A scipy custom-method callable: ``scipy.optimize.minimize(f, x0, method=ricci.solvers.auglag, jac=, hess=,
    bounds=, constraints=)``. ``constraints``: LinearConstraint, NonlinearConstraint, scipy's dicts or objects
    with fun/jac/hess(x, v)/lo/hi (``_constraint_set.py``); ``bounds``: scipy.optimize.Bounds, (lo, hi) pairs
    or None. Needs f's exact gradient, and uses its Hessian (``hess``) or Hessian-vector products (``hessp``);
    without either, f's Hessian is approximated by scipy's BFGS updates (``_QuasiNewtonObjective``), and the
    Hessians of constraints given without one by quasi-Newton updates (``ConstraintQuasiNewton``), which the
    result message says.
    Options: :class:`AugmentedLagrangianOptions`. The result has scipy trust-constr's fields: ``v`` (one
    multiplier array per constraint in the order given, then the bounds' when there are bounds), ``constr``
    (the constraint values, then x), ``constr_violation``, ``lagrangian_grad``, ``optimality``, and
    ``penalty`` (the final mu).
    """
    from ._options import parse_options

    opts = parse_options(AugmentedLagrangianOptions, "auglag", options, tol)
    xp, x0 = prepare_x0(x0)
    n = int(x0.shape[0])
    functions = resolve_objective(fun, jac, hess, hessp, method="auglag", needs="gradient")
    lo_x, hi_x = standardize_bounds(bounds, n, xp, x0.dtype)
    lo_x, hi_x = _host(lo_x), _host(hi_x)
    x0 = xp.asarray(np.clip(_host(x0), lo_x, hi_x), dtype=x0.dtype)
    cset = ConstraintSet(constraints, x0, xp)
    counts = Counts()
    if functions.hess is None and functions.hessp is None:  # f's curvature by BFGS (trust-constr's default)
        objective = _QuasiNewtonObjective(xp, functions, args, counts, n)
    else:
        objective = _Objective(xp, functions, args, counts)
    model = AugmentedLagrangianModel(xp, objective, cset, n, x0, quasi_newton=True)
    notify = wrap_callback(callback)
    return _run(xp, model, cset, x0, lo_x, hi_x, bounds is not None, opts, notify, counts)


def _run(xp, model, cset, x0, lo_x, hi_x, has_bounds, opts, notify, counts):
    n, m = model.n, cset.m
    ineq_h = np.flatnonzero(~cset.equality)
    lo_h = np.concatenate([lo_x, cset.lo[ineq_h]])
    hi_h = np.concatenate([hi_x, cset.hi[ineq_h]])
    lo, hi = xp.asarray(lo_h, dtype=x0.dtype), xp.asarray(hi_h, dtype=x0.dtype)
    c0 = _host(cset.values(x0)) if m else np.zeros(0)
    z = xp.asarray(np.concatenate([_host(x0), np.clip(c0[ineq_h], cset.lo[ineq_h], cset.hi[ineq_h])]),
                   dtype=x0.dtype)
    nit = 0
    if not _finite_point(xp, model, z):
        return _result(xp, model, cset, z, lo, hi, has_bounds, Outcome.NON_FINITE,
                       "f, its gradient or a constraint is not finite at x0.", nit, math.nan, counts, opts)
    f0, _, _, _, r0 = model.point(z)
    r0_h = _host(r0)
    mu = opts.initial_penalty
    if mu is None:
        mu = min(10.0, max(1e-8, 10.0 * max(1.0, abs(f0)) / max(1.0, 0.5 * float(r0_h @ r0_h))))
    v = xp.zeros((m,), dtype=x0.dtype)
    maxiter = 100 if opts.maxiter is None else opts.maxiter
    omega = max(opts.gtol, 1e-2)
    radius, previous, outcome, detail, inner = None, math.inf, None, None, None
    previous_z = previous_mu = None
    while True:
        model.set_parameters(v, mu)
        inner = _inner_solve(model, z, lo_h, hi_h, omega, opts.inner_maxiter, radius, opts.unbounded_threshold)
        nit += 1
        z = xp.asarray(inner.x, dtype=x0.dtype)
        radius = _radius(inner)
        if not _finite_point(xp, model, z):
            outcome, detail = Outcome.NON_FINITE, f"The subproblem ended with: {inner.message}"
            break
        f, _, c, _, r = model.point(z)
        w = model.multipliers(z)
        kkt = projected_gradient_norm(xp, z, model.jac(z), lo, hi)
        violation = float(np.max(cset.violation(c))) if m else 0.0
        infeasibility = float(np.max(np.abs(_host(r)))) if m else 0.0
        complementarity = _kkt_multipliers(xp, model, cset, z, lo, hi)[3]
        if opts.disp:
            print(f"auglag {nit:4d}: f = {f: .10e}  violation = {violation:.2e}  kkt = {kkt:.2e}  "
                  f"complementarity = {complementarity:.2e}  mu = {mu:.1e}  inner nit = {inner.get('nit', '?')}")
        if notify is not None and notify(x=z[:n], fun=f, nit=nit, constr_violation=violation, optimality=kkt):
            outcome = Outcome.CALLBACK_STOP
            break
        if violation <= opts.ctol and (f < -opts.unbounded_threshold or inner.outcome is Outcome.UNBOUNDED):
            outcome = Outcome.UNBOUNDED
            break
        first_order = infeasibility <= opts.ctol and kkt <= opts.gtol
        if first_order and complementarity <= opts.gtol:
            outcome = Outcome.CONVERGED
            break
        if nit >= maxiter:
            outcome = Outcome.MAX_ITERATIONS
            break
        if previous_z is not None and bool(xp.all(previous_z == z)) and mu == previous_mu \
                and omega <= opts.gtol and infeasibility <= opts.ctol:
            outcome = Outcome.NO_PROGRESS  # the subproblem cannot move z at the final tolerance any more
            detail = (f"KKT residual {kkt:.2e} (complementarity {complementarity:.2e}) above gtol at a point "
                      f"that satisfies the constraints to {violation:.1e}; the subproblem ended with: "
                      f"{inner.message}")
            break
        previous_z, previous_mu = z, mu
        stalled = infeasibility > opts.feasibility_decrease * previous
        if violation > opts.ctol and (mu >= opts.max_penalty and stalled
                                      or mu >= 1e6 and _stationary_infeasibility(xp, model, z, lo, hi, r)):
            z = _least_infeasible(model, z, lo_h, hi_h, opts)
            least = float(np.max(cset.violation(model.point(z)[2])))
            if least > opts.ctol:
                outcome = Outcome.INFEASIBLE
            else:  # the constraints can be met: what failed is reaching a KKT point, not feasibility
                outcome = Outcome.NO_PROGRESS
                detail = (f"The violation stopped shrinking at penalty mu = {mu:.1e}, yet the constraints can be "
                          f"met: the point returned satisfies them to {least:.1e} but is not a KKT point to gtol.")
            break
        v = xp.clip(w, -opts.max_multiplier, opts.max_multiplier)
        if stalled and infeasibility > opts.ctol:
            mu = min(opts.max_penalty, mu * opts.penalty_increase)
        previous = infeasibility
        if first_order:  # only complementarity is missing: (a) |w_i| |r_i| at an active constraint, which the
            # multiplier update shrinks with r, or (b) |w_i| <= omega times a large gap at an inactive one, which
            # needs a tighter subproblem: below gtol, down to gtol / 1000
            omega = max(1e-3 * opts.gtol, 0.1 * min(omega, opts.gtol))
        else:
            omega = max(opts.gtol, 0.1 * omega)
    return _result(xp, model, cset, z, lo, hi, has_bounds, outcome, detail, nit, mu, counts, opts)


def _radius(inner):
    for key in ("trust_radius", "tr_radius", "radius"):
        if key in inner:
            return float(inner[key])
    return None


def _finite_point(xp, model, z) -> bool:
    if not bool(xp.all(xp.isfinite(z))):
        return False
    f, g, c, _, _ = model.point(z)
    return math.isfinite(f) and bool(xp.all(xp.isfinite(g))) and bool(xp.all(xp.isfinite(c)))


def _stationary_infeasibility(xp, model, z, lo, hi, r) -> bool:
    """True when z is stationary for 1/2 ||r||^2 over the box: the projected gradient of the infeasibility is
    tiny relative to ||r|| (a local minimizer of the violation that is not feasible)."""
    _, _, _, J, _ = model.point(z)
    rx = J.T @ r
    grad = xp.concat([rx, -xp.take(r, model.ineq)]) if model.n_ineq else rx
    scale = float(xp.max(xp.abs(r)))
    return projected_gradient_norm(xp, z, grad, lo, hi) <= 1e-8 * max(1.0, scale)


def _least_infeasible(model, z, lo_h, hi_h, opts):
    """The minimizer of 1/2 ||r||^2 over the box from z (the least-infeasible point), by tron."""
    xp = model.xp
    model.set_parameters(xp.zeros_like(model.v), 1.0, weight=0.0)
    res = _inner_solve(model, z, lo_h, hi_h, 1e-12, opts.inner_maxiter, None, opts.unbounded_threshold)
    out = xp.asarray(res.x, dtype=z.dtype)
    return out if _finite_point(xp, model, out) else z


def _kkt_multipliers(xp, model, cset, z, lo, hi):
    """(w, z_b, grad L, complementarity) at z: the constraints' multipliers w = v + mu r (zero after the
    infeasibility phase, where they are moot), the bounds' z_b = -grad L at an active bound where the side
    allows its sign (scipy trust-constr's convention: z_b < 0 at a lower bound), the Lagrangian's gradient
    grad f + J'w + z_b, and the complementarity residual of problems/_kkt.py with these multipliers: the largest
    y (hi - value) for y > 0 and |y| (value - lo) for y < 0 over the constraint values c and the bounds on x,
    where the side y belongs to is infinite |y| itself (a wrong sign)."""
    n = model.n
    x = z[:n]
    _, g, c, J, _ = model.point(z)
    w = xp.zeros((cset.m,), dtype=z.dtype) if model.weight == 0.0 else model.multipliers(z)
    lagrangian_grad = g + J.T @ w if cset.m else g
    at_lo, at_hi = x <= lo[:n], x >= hi[:n]
    zb = xp.where(at_lo & (lagrangian_grad > 0), -lagrangian_grad, xp.zeros_like(x))
    zb = xp.where(at_hi & (lagrangian_grad < 0), -lagrangian_grad, zb)
    pieces = [(_host(lo[:n]), _host(x), _host(hi[:n]), _host(zb))]
    if cset.m:
        pieces.append((cset.lo, _host(c), cset.hi, _host(w)))
    residual = 0.0
    for low, value, high, y in pieces:
        upper, lower = np.maximum(y, 0.0), np.maximum(-y, 0.0)
        with np.errstate(invalid="ignore"):
            gap_hi = np.where(np.isinf(high), 1.0, np.abs(high - value))
            gap_lo = np.where(np.isinf(low), 1.0, np.abs(value - low))
        residual = max(residual, float(np.max(upper * gap_hi + lower * gap_lo, initial=0.0)))
    return w, zb, lagrangian_grad + zb, residual


def _result(xp, model, cset, z, lo, hi, has_bounds, outcome, detail, nit, mu, counts, opts):
    n = model.n
    x = z[:n]
    f, g, c, _, _ = model.point(z)
    w, zb, lagrangian_grad, complementarity = _kkt_multipliers(xp, model, cset, z, lo, hi)
    violation = float(np.max(cset.violation(c))) if cset.m else 0.0
    if outcome is Outcome.CONVERGED:
        detail = (f"KKT residual {projected_gradient_norm(xp, z, model.jac(z), lo, hi):.2e} <= gtol, "
                  f"complementarity {complementarity:.2e} <= gtol and constraint violation {violation:.2e} <= "
                  "ctol.")
    elif outcome is Outcome.INFEASIBLE:
        detail = f"Least constraint violation found: {violation:.3e} (penalty mu = {mu:.1e})."
    elif outcome is Outcome.UNBOUNDED:
        detail = f"f = {f:.3e} at a point violating the constraints by {violation:.1e}."
    notes = []
    qn = model.quasi_newton
    if qn is not None:
        notes.append("The Hessians of " + ", ".join(f"{label} ({method})" for label, method in
                                                     zip(qn.labels, qn.methods))
                     + f" were not given: their curvature is approximated by quasi-Newton updates ({qn.pairs} "
                     "pairs).")
    elif cset.hessian_missing:
        notes.append("The Hessians of " + ", ".join(cset.hessian_missing) + " were not given: the subproblems "
                     "left their curvature out.")
    if model.objective.quasi_newton:
        notes.append(f"f's Hessian was not given: its curvature is approximated by BFGS updates "
                     f"({model.objective.pairs} pairs).")
    for note in notes:
        detail = note if not detail else f"{detail} {note}"
    v = cset.split(w)
    constr = cset.split(c)
    if has_bounds:
        v, constr = v + [zb], constr + [x]
    res = OptimizeResult(
        x=x, fun=f, jac=g, nit=nit, nfev=counts.nfev, njev=counts.njev, nhev=counts.nhev,
        status=outcome.status, success=outcome.success, message=_message(outcome, detail), outcome=outcome,
        v=v, constr=constr, constr_violation=violation, lagrangian_grad=lagrangian_grad,
        optimality=float(xp.max(xp.abs(lagrangian_grad))), penalty=mu, complementarity=complementarity,
    )
    return res


_CONVERGED_MESSAGE = "Optimization terminated successfully: the KKT conditions hold to gtol and ctol."


def _message(outcome, detail) -> str:
    if outcome is Outcome.CONVERGED:
        return f"{_CONVERGED_MESSAGE} {detail}" if detail else _CONVERGED_MESSAGE
    return with_detail(outcome, detail)
