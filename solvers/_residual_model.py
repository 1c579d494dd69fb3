"""The residual model of the function: f(x) = 1/2 ||r(x)||^2 from the residuals r and their Jacobian J.

The drivers see it through the interface of the scalar model (``_evaluator.Evaluator``), with which it shares
its base (``_evaluator.ScaledModel``: counts, calls into user code, the power-of-two scaling and the
conversions back to the user's units):

* value ``f = 1/2 r'r``, gradient ``g = J'r``;
* curvature: the Gauss-Newton operator ``B = J'J`` (Nocedal & Wright (2006), Section 10.3), kept in J's
  structure (:class:`GaussNewtonCurvature`, after ``_jacobian.py``); the Levenberg-Marquardt and Gauss-Newton
  steps ask it for what they need (the column-scaled B, its diagonal, ``p'Bp``, the minimizer of the model) and
  never for r or J themselves, so that another curvature operator takes its place: the generalized
  Gauss-Newton G = J' H_L J + H_P of ``minimize(method="ggn" / "ggn-lm")`` (:class:`GeneralizedGaussNewtonCurvature`,
  on the scalar model :class:`GeneralizedGaussNewtonEvaluator`).

J is an operator (DESIGN.md, "Derivatives as operators"): ``jac`` may return a dense array, a scipy.sparse
matrix, a ricci.solvers Operator or a scipy LinearOperator (``_user_operators.derivative_operator``).

Scaling: the model works on ``s r`` and ``s J`` for a power of two ``s = scale`` chosen at x0 from the
magnitudes of r and J (:func:`._arrays.power_of_two_scale` with degree 2: r'r, J'r and J'J are the highest
products), so the value and the gradient carry s^2 (``value_degree = 2``); the shared
:meth:`ResidualEvaluator.user_value` and ``user_array`` divide it out (by s twice: s^2 may exceed the float
range), and :meth:`ResidualEvaluator.user_residuals` divides residuals by s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._arrays import all_finite, as_array, dot, eps, max_abs, norm, power_of_two_scale
from ._evaluator import Evaluator, ScaledModel
from ._jacobian import (
    ScaledGram,
    column_norms,
    damped_solve,
    is_finite,
    lsqr_trust_region,
    magnitude,
    scaled_gram,
)
from ._op_block import DENSE_BYTES
from ._steihaug import steihaug_cg, truncated_cg
from ._user_operators import (
    dense_form,
    dense_operator,
    derivative_operator,
    diagonal_or_none,
    products_only,
)


@dataclass(frozen=True)
class Jacobian:
    """The Jacobian at a point: ``op`` the operator the solver computes with (multiplied by the residuals'
    scale), ``user`` what the user's jac returned (the array, or the operator), for the result and callbacks;
    ``r`` the (scaled) residuals at the same point."""

    op: object
    user: object
    r: object


@dataclass(frozen=True)
class GaussNewtonCurvature:
    """The curvature of the Gauss-Newton model m(p) = 1/2 ||r + J p||^2 at a point: B = J'J as an operator in
    J's structure, with the column scalings S = diag(s) the least-squares steps use (B_s = S B S).

    Where B is known only through products with J (a scipy LinearOperator J), solves with B + mu I are the
    damped least-squares problems of [J S; sqrt(mu) I] by LSQR, which need r as well (``_jacobian.py``)."""

    J: object
    r: object

    @property
    def xp(self):
        return self.J.xp

    @property
    def products_only(self) -> bool:
        """True when B can be applied only through products with J (no factorization, no diagonal)."""
        return products_only(self.J)

    def scaled(self, s=None):
        """The operator B_s = S J'J S with shifted solves (None when :attr:`products_only`)."""
        return None if self.products_only else scaled_gram(self.J, s)

    def column_norms(self):
        """sqrt(diag(B)), the column norms of J (None when :attr:`products_only`)."""
        return column_norms(self.J)

    def model_curvature(self, p) -> float:
        """p'Bp = ||J p||^2."""
        Jp = self.J.matvec(p)
        return dot(self.xp, Jp, Jp)

    def norm_estimate(self) -> float:
        """An estimate of ||J|| (the size of the terms of J x, for the rounding error of the cost)."""
        return self.J.norm_estimate()

    def trust_region_by_products(self, s, radius: float, *, k_easy: float):
        """min_q m(S q) subject to ||q|| <= radius by LSQR on [J S; sqrt(mu) I] (More 1978, Section 3)."""
        return lsqr_trust_region(self.xp, self.J, self.r, s, radius, k_easy=k_easy)

    def minimizer_by_products(self, s=None):
        """The minimum-norm minimizer q of m(S q) by LSQR: the Gauss-Newton step in the variables q."""
        return damped_solve(self.J, self.r, 0.0, s)

    def minimizer_reduction(self, gs, Bs) -> float:
        """m(0) - min_p m(p) = 1/2 gs' Bs^+ gs for the scaled model (Bs = S B S, gs = S g): the reduction the
        model promises at its unconstrained minimizer. For a dense Bs from one eigendecomposition (eigenvalues
        below n eps max(w) count as zero); otherwise 1/2 ||J p*||^2 for the least-squares solution p* of
        J p = -r by LSQR (r + J p* is orthogonal to the range of J, so 1/2 ||r||^2 - 1/2 ||r + J p*||^2 =
        1/2 ||J p*||^2; the column scaling does not change it)."""
        xp = self.xp
        A = None if Bs is None else dense_form(Bs)
        if A is None:
            return 0.5 * self.model_curvature(damped_solve(self.J, self.r, 0.0))
        return _pseudo_inverse_reduction(xp, A, gs)


def _pseudo_inverse_reduction(xp, A, gs) -> float:
    """1/2 gs' A^+ gs for a dense symmetric positive semidefinite A, from one eigendecomposition (eigenvalues
    below n eps max(w) count as zero)."""
    w, V = xp.linalg.eigh(A)
    c = xp.linalg.matrix_transpose(V) @ gs
    cutoff = A.shape[0] * eps(xp, A) * max(float(xp.max(w)), 0.0)
    keep = w > cutoff
    return 0.5 * float(xp.sum(xp.where(keep, c * c / xp.where(keep, w, xp.ones_like(w)), xp.zeros_like(w))))


@dataclass(frozen=True)
class GeneralizedGaussNewtonCurvature:
    """The curvature of the generalized Gauss-Newton model m(p) = f + g'p + 1/2 p'Gp at a point, G = J' H_L J
    + H_P an operator (Schraudolph 2002, "Fast curvature matrix-vector products for second-order gradient
    descent"; Martens 2020, "New insights and perspectives on the natural gradient method", Section 8),
    with the interface of :class:`GaussNewtonCurvature` so that the damped Gauss-Newton direction and the
    Levenberg-Marquardt subproblem run on it unchanged: ``scaled(s)`` = S G S, column norms sqrt(diag G)
    (for G = J'J these are J's column norms), ``model_curvature(p)`` = p'Gp and the reduction at the model's
    minimizer 1/2 g_s' G_s^+ g_s.

    ``by_products`` (the methods' ``hessian_free``; always for a G known only through products): G is used
    only through products, and the steps come from conjugate gradients on it (Martens, "Deep learning via
    Hessian-free optimization", ICML 2010): the Gauss-Newton direction by truncated CG to the relative
    residual ``cg_rtol`` (:meth:`minimizer_by_products`), Levenberg-Marquardt's trust-region step by
    Steihaug's CG (:meth:`trust_region_by_products`); ``g`` is the gradient at the point, which they need."""

    G: object
    g: object = None
    by_products: bool = False
    cg_rtol: float = 0.1
    cg_maxiter: int | None = None

    @property
    def xp(self):
        return self.G.xp

    @property
    def products_only(self) -> bool:
        return self.by_products or products_only(self.G)

    def scaled(self, s=None):
        """S G S (S = diag(s); s None: G itself) as an operator with shifted solves: dense when G is dense or
        small (``_op_block.DENSE_BYTES``), else in G's structure (``_jacobian.ScaledGram``); None when
        :attr:`products_only`."""
        if self.products_only:
            return None
        A = dense_form(self.G)
        n = self.G.shape[0]
        if A is None and n * n * self.G.xp.empty(0, dtype=self.G.dtype).itemsize <= DENSE_BYTES:
            A = self.G.to_dense()  # a small structured G (a sum, a congruence) densifies once, as J'J does
        if A is not None:
            return dense_operator(A if s is None else s[:, None] * A * s[None, :], symmetric=True)
        return self.G if s is None else ScaledGram(self.G, s)

    def column_norms(self):
        """sqrt(max(diag G, 0)) (None where G is used only through products)."""
        d = None if self.by_products else diagonal_or_none(self.G)
        if d is None:
            return None
        return self.xp.sqrt(self.xp.maximum(d, self.xp.zeros_like(d)))

    def model_curvature(self, p) -> float:
        """p'Gp."""
        return dot(self.xp, p, self.G.matvec(p))

    def norm_estimate(self) -> float:
        return self.G.norm_estimate()

    def _scaled_product(self, s):
        G = self.G
        return G.matvec if s is None else (lambda v: s * G.matvec(s * v))

    def _maxiter(self) -> int:
        return self.cg_maxiter or min(self.G.shape[0], HESSIAN_FREE_MAXITER)

    def minimizer_by_products(self, s=None):
        """The Gauss-Newton step q of ``G_s q = -g_s`` (G_s = S G S, g_s = S g) by truncated conjugate gradients
        (``_steihaug.truncated_cg``) to the relative residual cg_rtol: a descent direction for the model."""
        gs = self.g if s is None else s * self.g
        q, _ = truncated_cg(self.xp, self._scaled_product(s), -gs, rtol=self.cg_rtol, maxiter=self._maxiter())
        return q

    def trust_region_by_products(self, s, radius: float, *, k_easy: float):
        """min_q m(S q) subject to ||q|| <= radius by Steihaug's CG on G_s (Algorithm 7.2 of Nocedal & Wright
        (2006)), stopped at the relative residual cg_rtol inside the region."""
        xp = self.xp
        gs = self.g if s is None else s * self.g
        sol, _ = steihaug_cg(xp, self._scaled_product(s), gs, radius, maxiter=self._maxiter(),
                             forcing=self.cg_rtol * norm(xp, gs))
        return sol

    def minimizer_reduction(self, gs, Bs) -> float:
        """m(0) - min m = 1/2 gs' Bs^+ gs: by one eigendecomposition for a dense Bs, by a solve with Bs (an
        exact solve where Bs is positive definite; a small relative shift where the factorization fails), or,
        where G is used only through products (Bs None), from conjugate gradients on G to 1e-8 relative (the
        reduction does not depend on the scaling: gs' Bs^-1 gs = g' G^-1 g)."""
        xp = self.xp
        if Bs is None:
            q, _ = truncated_cg(xp, self.G.matvec, self.g, rtol=1e-8, maxiter=self.G.shape[0])
            return 0.5 * dot(xp, self.g, q)
        A = dense_form(Bs)
        if A is not None:
            return _pseudo_inverse_reduction(xp, A, gs)
        try:
            q = Bs.solve(gs)
        except ArithmeticError:
            q = Bs.solve(gs, shift=eps(xp, gs) * max(Bs.norm_estimate(), 1e-300))
        return 0.5 * dot(xp, gs, q)


#: The default cap on the conjugate-gradient products of one Hessian-free step (``cg_maxiter`` None: the
#: smaller of n and this).
HESSIAN_FREE_MAXITER = 250


class ResidualEvaluator(ScaledModel):
    """Counted, memoized calls to the residual function and its Jacobian, presented to the drivers as the
    value 1/2 ||r||^2, the gradient J'r and the Gauss-Newton curvature (see the module docstring).

    ``counts.nfev`` counts residual evaluations, ``counts.njev`` Jacobian evaluations (``counts.nhev`` stays 0).
    The residuals are memoized at the last two points asked for and at the last two points where the Jacobian
    was evaluated (the accepted points, which a line search's trials must not evict), the Jacobian at the
    last two points, the gradient at the last one."""

    value_degree = 2  # the value 1/2 r'r and the gradient J'r carry scale^2

    def __init__(self, xp, x0, fun, jac, args, kwargs, guard, *, jac_name: str = "jac"):
        super().__init__(xp, x0, args, guard, kwargs)
        self._fun, self._jac, self.jac_name = fun, jac, jac_name
        self.m = None
        self._r_memo = []  # [(x, r)], the latest last
        self._J_memo = []  # [(x, Jacobian)], the latest last
        self._gx = self._g = None

    @property
    def nfev(self) -> int:
        return self.counts.nfev

    @property
    def njev(self) -> int:
        return self.counts.njev

    # ---- scaling -------------------------------------------------------------------------------------------
    def scale_at_start(self, x0, f: float, g) -> None:
        """Choose the scale from the magnitudes of r(x0) and J(x0) (both evaluated and finite); f and g are not
        needed (and may be None: the boundary chooses the scale before J'r is formed, which could overflow)."""
        self.set_scale(max(max_abs(self.xp, self.residuals(x0)), magnitude(self.jacobian(x0).op)))
        self.scale_chosen = True

    def set_scale(self, magnitude_of_r_and_J: float) -> None:
        """Work on ``s r`` and ``s J`` from now on (memoized values are rescaled); the value and the gradient
        then carry s^2."""
        s = power_of_two_scale(magnitude_of_r_and_J, degree=2)  # r'r, J'r and J'J
        ratio = s / self.scale
        if ratio == 1.0:
            return
        self.scale = s
        self._r_memo = [(x, r * ratio) for x, r in self._r_memo]
        self._J_memo = [(x, Jacobian(ratio * J.op, J.user, J.r * ratio)) for x, J in self._J_memo]
        if self._g is not None:
            self._g = self._g * (ratio * ratio)

    def user_residuals(self, r):
        """(Scaled) residuals in the user's units."""
        return r if self.scale == 1.0 else r * (1.0 / self.scale)

    def callback_fields(self, x, f: float, g) -> dict:
        """What scipy's least_squares hands a callback besides x and nit: cost, fun (the residuals), jac (as the
        user's jac returned it), grad and optimality, in the user's units (cost = 1/2 r'r of the user's r, as in
        the result)."""
        grad, r = self.user_array(g), self.user_residuals(self.residuals(x))
        return {"cost": 0.5 * dot(self.xp, r, r), "fun": r, "jac": self.jacobian(x).user, "grad": grad,
                "optimality": max_abs(self.xp, grad)}

    # ---- evaluations ---------------------------------------------------------------------------------------
    def residuals(self, x):
        for point, r in self._r_memo:
            if point is x:
                return r
        for point, J in self._J_memo:  # the points where J was evaluated keep their residuals
            if point is x:
                return J.r
        raw = self.call_user(self._fun, x)
        self.counts.nfev += 1
        if self.m is None:
            arr = as_array(self.xp, raw, self.like, None, "fun")
            if arr.ndim != 1:
                raise ValueError(f"fun must return a 1-D array of residuals; got shape {tuple(arr.shape)}")
            if arr.shape[0] == 0:
                raise ValueError("fun must return at least one residual; got an empty array")
            self.m = arr.shape[0]
        else:
            arr = as_array(self.xp, raw, self.like, (self.m,), "fun")
        r = arr if self.scale == 1.0 else arr * self.scale
        self._r_memo = [*self._r_memo[-1:], (x, r)]
        return r

    def jacobian(self, x) -> Jacobian:
        for point, J in self._J_memo:
            if point is x:
                return J
        self.residuals(x)  # J's shape is (m, n)
        raw = self.call_user(self._jac, x)
        self.counts.njev += 1
        op, user = derivative_operator(raw, self.xp, self.like, (self.m, self.n), self.jac_name, symmetric=False)
        J = Jacobian(op if self.scale == 1.0 else self.scale * op, user, self.residuals(x))
        self._J_memo = [*self._J_memo[-1:], (x, J)]
        return J

    def value(self, x) -> float:
        """1/2 ||r(x)||^2 (scaled); inf where r is not finite."""
        r_norm = norm(self.xp, self.residuals(x))
        return 0.5 * r_norm * r_norm if math.isfinite(r_norm) else math.inf

    def gradient(self, x):
        """J(x)'r(x) (scaled); NaN entries throughout where J is not finite (a non-finite gradient for the
        drivers, whatever r is)."""
        if x is self._gx:
            return self._g
        J = self.jacobian(x)
        if is_finite(J.op):
            g = J.op.rmatvec(self.residuals(x))
        else:
            g = self.xp.full_like(x, float("nan"))
        self._gx, self._g = x, g
        return g

    def value_and_gradient(self, x):
        return self.value(x), self.gradient(x)

    def curvature(self, x) -> GaussNewtonCurvature:
        """The Gauss-Newton curvature B = J'J at x (scaled as the value)."""
        return GaussNewtonCurvature(self.jacobian(x).op, self.residuals(x))

    def finite_residuals(self, x) -> bool:
        return all_finite(self.xp, self.residuals(x))


class GeneralizedGaussNewtonEvaluator(Evaluator):
    """The scalar model of ``minimize`` (value and gradient of f) whose curvature is the generalized
    Gauss-Newton operator G(x) from the user's ``ggn`` (or an object's ``ggn_operator``), evaluated, counted
    (``nhev``) and scaled as the Hessian is; the Gauss-Newton steps see it as a
    :class:`GeneralizedGaussNewtonCurvature`."""

    #: Set by the method from its options: G used only through products (``hessian_free``), and the CG settings.
    hessian_free = False
    cg_rtol = 0.1
    cg_maxiter = None

    def curvature(self, x) -> GeneralizedGaussNewtonCurvature:
        """G at x (scaled as the value), checked for NaN and inf where it is a matrix; with the gradient at x
        and the method's Hessian-free settings."""
        G = self.hessian(x) if self.hessian_free else self.checked_hessian(x)
        return GeneralizedGaussNewtonCurvature(G, self.gradient(x), self.hessian_free, self.cg_rtol,
                                               self.cg_maxiter)
