"""Levenberg-Marquardt: the subproblem and the radius rule it brings to the trust-region driver
(``_trust_region.trust_region_iterations``), after More (1978), "The Levenberg-Marquardt algorithm:
implementation and theory", and MINPACK's lmder.

The model is the quadratic m(p) = f + g'p + 1/2 p'Bp of a positive semidefinite curvature operator B (the
Gauss-Newton J'J of the residual model, ``_residual_model.GaussNewtonCurvature``, or the generalized
Gauss-Newton G = J' H_L J + H_P of ``minimize(method="ggn-lm")``, ``GeneralizedGaussNewtonCurvature``). The step minimizes m(p)
subject to ||D p|| <= radius, D = diag of the largest column norms sqrt(B_jj) seen so far (More 1978, eq. 6.3;
1/x_scale when the user fixes the scaling; no scaling where B is known only through products, its diagonal
being unknown). In the variables q = D p this is the trust-region subproblem of B_s = D^-1 B D^-1 and
g_s = D^-1 g, i.e. of the damped normal equations (B_s + lambda I) q = -g_s, solved by More-Sorensen in B's
structure (the module of trust-exact), or, for a B known only through products with J, by LSQR on
[J D^-1; sqrt(lambda) I] (``_jacobian.lsqr_trust_region``).

The radius rule is More (1978), Section 3, as MINPACK implements it (:class:`MinpackRadius`): with
rho = actual / predicted reduction, rho <= 1/4 multiplies the radius by mu = 0.1 (trial not finite, or the cost
grew a hundredfold), 0.5 (no decrease, or g'p >= 0), else the minimizer of the quadratic through the cost, the
slope g'p and the trial cost, kept in [0.1, 0.5] (times min(radius, 10 ||D p||)); a step with lambda = 0 or
rho >= 3/4 sets the radius to 2 ||D p||; rho >= 1e-4 accepts. The initial radius is
factor * max(||D x0||, ||r(x0)||) rather than MINPACK's factor * ||D x0|| (tiny for an x0 near, but not at,
0); the first step cuts it to its own length, as in MINPACK. Every accepted step is an iteration; MINPACK's
convergence tests and statuses are the least-squares boundary's (``_least_squares.py``).
"""
from __future__ import annotations

import math

from ._arrays import (
    NonFiniteValue,
    SolverOverflow,
    all_finite,
    dot,
    norm,
    overflow_detail,
)
from ._more_sorensen import more_sorensen
from ._result import Outcome
from ._trust_region import Step


class LevenbergMarquardtSubproblem:
    """The scaled subproblem of the module docstring. ``x_scale`` fixes D = 1/x_scale (None: D from the column
    norms, growing as MINPACK's). Holds the scaling of one run and the model at the current point (mutable:
    one per run); the driver calls :meth:`at_point` at each new point."""

    uses_hessian = False

    def __init__(self, x_scale=None, *, k_easy: float = 0.1):
        self.x_scale, self.k_easy = x_scale, k_easy
        self.D = self.xp = None
        self._point = None

    def at_point(self, model) -> None:
        """Update D with the curvature's column norms at the model's point and form the scaled model there."""
        xp = self.xp = model.xp
        B = model.evaluator.curvature(model.x)
        if self.x_scale is not None:
            if self.D is None:
                self.D = 1.0 / self.x_scale
        else:
            col = B.column_norms()
            if self.D is None:
                self.D = xp.ones_like(model.x) if col is None else xp.where(col > 0, col, xp.ones_like(col))
            elif col is not None:
                self.D = xp.maximum(self.D, col)
        s = 1.0 / self.D
        self._point = _ScaledModel(model.x, B, s, model.g * s)

    def scaled_norm(self, v) -> float:
        """||D v|| with the current D."""
        return norm(self.xp, self.D * v)

    def initial_radius(self, model, factor: float, f: float) -> float:
        """factor * max(||D x0||, ||r(x0)||) (||r|| = sqrt(2 f); for the generalized Gauss-Newton model of an f
        that is not a sum of squares, sqrt(2 max(f, 0))); factor when both are 0."""
        x_scaled_norm = self.scaled_norm(model.x)
        r_norm = math.sqrt(2.0 * max(f, 0.0))
        return factor * max(x_scaled_norm, r_norm) if x_scaled_norm > 0 or r_norm > 0 else factor

    def solve(self, model, radius: float) -> Step:
        xp, point = model.xp, self._point
        if point is None or point.x is not model.x:
            self.at_point(model)
            point = self._point
        if point.Bs is None:  # NaN or inf from a product is the user's operator's: the driver's NON_FINITE
            sol = point.B.trust_region_by_products(point.s, radius, k_easy=self.k_easy)
        else:
            try:
                sol = more_sorensen(xp, point.Bs, point.gs, radius, k_easy=self.k_easy, positive_semidefinite=True)
            except NonFiniteValue as exc:  # B is formed from finite values: inf in it is ricci's overflow
                raise SolverOverflow(overflow_detail(exc)) from exc
        q = sol.step
        p = q / self.D  # p = D^-1 q
        q_norm = norm(xp, q)
        if not (math.isfinite(q_norm) and all_finite(xp, p)):
            raise SolverOverflow("The Levenberg-Marquardt step overflowed.")
        slope = dot(xp, model.g, p)  # g'p = -(p'Bp + lambda ||D p||^2) <= 0
        predicted = -(slope + 0.5 * point.B.model_curvature(p))  # m(0) - m(p)
        return Step(p, predicted, sol.hits_boundary, q_norm, slope=slope, multiplier=sol.multiplier,
                    model_reduction=point.reduction, region_norm=self.scaled_norm)


class _ScaledModel:
    """The scaled model at one point; B_s and the reduction at the model's own minimizer are computed once, when
    first asked for."""

    def __init__(self, x, B, s, gs):
        self.x, self.B, self.s, self.gs = x, B, s, gs
        self._Bs = None
        self._reduction = None

    @property
    def Bs(self):
        """B_s = S B S in B's structure, formed when first needed (None where B is known only by products)."""
        if self._Bs is None and not self.B.products_only:
            self._Bs = self.B.scaled(self.s)
        return self._Bs

    def reduction(self) -> float:
        """m(0) - min m = 1/2 g_s' B_s^+ g_s (``GaussNewtonCurvature.minimizer_reduction``)."""
        if self._reduction is None:
            self._reduction = self.B.minimizer_reduction(self.gs, self.Bs)
        return self._reduction


class MinpackRadius:
    """The radius rule of the module docstring (More 1978, Section 3; MINPACK's lmder). Each accepted step is an
    iteration. ``factor``: the initial radius factor. Mutable: one per run (the first step cuts the radius)."""

    trial_is_iteration = False

    def __init__(self, factor: float, *, stall_eps: float | None = None):
        self.factor, self.stall_eps = factor, stall_eps
        self._first = True
        self._region_norm = None

    def initial(self, subproblem, model, f: float) -> float:
        self._region_norm = subproblem.scaled_norm
        return subproblem.initial_radius(model, self.factor, f)

    def stalled(self, xp, x, radius: float):
        """MINPACK's "no further progress" tests are least_squares' boundary's (``stall_eps`` None); for
        ``minimize``'s tests (``stall_eps`` the machine epsilon) NO_PROGRESS once radius <= stall_eps *
        max(1, ||D x||), MINPACK's xtol test at the rounding level (the radius can only shrink from there)."""
        if self.stall_eps is None or radius > self.stall_eps * max(1.0, self._region_norm(x)):
            return None, None
        return Outcome.NO_PROGRESS, None

    def after_solve(self, radius: float, step: Step) -> float:
        if self._first:  # on the first iteration the initial radius is adjusted to the first step
            self._first = False
            if step.length > 0:
                return min(radius, step.length)
        return radius

    def evaluates(self, step: Step) -> bool:
        return True

    def ratio(self, f: float, f_trial: float, step: Step) -> float:
        predicted = step.predicted_decrease
        return (f - f_trial) / predicted if (predicted > 0 and math.isfinite(f_trial)) else -math.inf

    def update(self, radius: float, rho: float, step: Step, f: float, f_trial: float) -> float:
        q_norm = step.length
        if rho <= 0.25:
            actual = f - f_trial
            if not math.isfinite(f_trial) or f_trial >= 100.0 * f:
                mu = 0.1
            elif actual >= 0 or step.slope >= 0:
                mu = 0.5
            else:  # minimizer of the quadratic through the cost, the slope and the trial cost (MINPACK's temp)
                mu = min(max(0.5 * step.slope / (step.slope + actual), 0.1), 0.5)
            return mu * min(radius, 10.0 * q_norm) if q_norm > 0 else mu * radius
        if step.multiplier == 0.0 or rho >= 0.75:
            return 2.0 * q_norm
        return radius

    def accepts(self, rho: float) -> bool:
        return rho >= 1e-4

    def nonfinite_gradient(self, radius: float, step: Step):
        """A Jacobian with NaN or inf at an accepted point stops the run (MINPACK has no way around it)."""
        return True, radius
