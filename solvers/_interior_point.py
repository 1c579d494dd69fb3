"""The primal-dual interior-point method "ipm": IPOPT's filter line-search barrier method.

Wächter & Biegler (2006), "On the implementation of an interior-point filter line-search algorithm for
large-scale nonlinear programming", Math. Program. 106 (referred to as W&B below). Problem: min f(x) subject to
lo_c <= c(x) <= hi_c and lo <= x <= hi. Inequality rows get slacks s (c_I(x) - s = 0, lo_I <= s <= hi_I), so
with z = (x, s) every constraint is an equality r(z) = 0 and the only inequalities are the finite bounds of z,
which enter through the log barrier

    phi_mu(z) = f(x) - mu sum_i log(z_i - lo_i) - mu sum_i log(hi_i - z_i).

Each iteration solves the primal-dual Newton system (W&B eq. 13) with the exact Hessian of the Lagrangian
W = H_f + sum_i y_i H_ci (``ConstraintSet.weighted_hessian``), Sigma = Z_L/(z - lo) + Z_U/(hi - z), A = dr/dz,

    [ W + Sigma + delta_w I      A'       ] [dz]     [grad phi_mu + A'y]
    [ A                     -delta_c I    ] [dy] = - [ r               ],

factored through H = W + Sigma + delta_w I by W's structure (a Gram operator of few rows by Woodbury, sparse
or dense Cholesky) and the m x m Schur complement A H^-1 A' + delta_c I where H is positive definite, else by
``scipy.linalg.ldl`` of the dense matrix (``_KKTSolver``); its inertia is corrected by Algorithm IC of W&B
(Section 3.1: delta_w grows by kappa_w+ until there are N positive and m negative eigenvalues; delta_c =
1e-8 mu^1/4 when the matrix is singular). Steps obey the fraction-to-boundary rule with
tau = max(tau_min, 1 - mu) (eq. 15), the step length is chosen by the backtracking filter line search of W&B
Section 2.3 (switching condition, Armijo on phi_mu for f-type steps, filter augmentation; no second-order
correction), the bound multipliers are kept within kappa_Sigma of mu/(z - lo) (eq. 16), and mu falls by the
monotone rule mu <- max(tol/10, min(kappa_mu mu, mu^theta_mu)) once the barrier error E_mu <= kappa_eps mu
(eq. 7); the filter is reset then. Where the line search fails (step below alpha_min, W&B eq. 23) the
restoration phase is the minimization of 1/2 ||r||^2 over the box by tron (auglag's least-infeasible phase);
if that point violates the constraints the result is INFEASIBLE, else the iteration restarts from it.

Signs follow scipy's trust-constr: grad f + J'v + z_b = 0 with v_i > 0 at an upper side, z_b = Z_U - Z_L.
Stops: CONVERGED when the scaled KKT error E_0 (W&B eq. 5, s_max = 100) <= tol and the constraint violation
<= tol; UNBOUNDED when f < -unbounded_threshold at a point feasible to tol; INFEASIBLE (above); NON_FINITE
when f, its gradient or c is not finite at x0, or the Hessian of the Lagrangian is not finite; MAX_ITERATIONS.

Limits: the constraint Jacobian is dense, and a Lagrangian Hessian that is not positive definite (plus Sigma)
is densified for the LDL' factorization, so this is for n + m up to a few thousand; for larger n a convex
problem with few constraints and a structured f (a Gram Hessian X'DX, a sparse Hessian) stays structured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.optimize import OptimizeResult

from ._arrays import NonFiniteValue, prepare_x0
from ._augmented_lagrangian import (
    AugmentedLagrangianModel,
    _least_infeasible,
    _Objective,
)
from ._bounds import standardize_bounds
from ._callback import wrap_callback
from ._constraint_set import ConstraintSet, _host
from ._evaluator import Counts, resolve_objective
from ._op_base import NUMPY
from ._options import CommonOptions, _require
from ._result import Outcome, with_detail


@dataclass(frozen=True)
class InteriorPointOptions(CommonOptions):
    """Options of "ipm" (names and defaults of IPOPT / W&B Table 1 where they exist).

    gtol: bound on the scaled KKT error E_0 and on the constraint violation (``tol`` sets it).
    maxiter: iteration limit (default 3000, IPOPT's max_iter).
    mu_init: the initial barrier parameter (> 0).
    kappa_mu, theta_mu: monotone barrier update mu <- min(kappa_mu mu, mu^theta_mu); 0 < kappa_mu < 1,
        1 < theta_mu < 2.
    kappa_eps: the barrier subproblem is solved when E_mu <= kappa_eps mu (> 0).
    tau_min: fraction-to-boundary parameter tau = max(tau_min, 1 - mu); 0 < tau_min < 1.
    bound_push, bound_frac: how far x0 and the slacks are moved into the box (IPOPT's kappa_1, kappa_2;
        0 < . < 0.5).
    kappa_sigma: safeguard of the bound multipliers against their primal-dual values mu / (z - lo) (>= 1).
    max_restorations: feasibility restorations allowed before the run ends.
    unbounded_threshold: f below -unbounded_threshold at a feasible point means UNBOUNDED.
    """

    gtol: float = 1e-8
    mu_init: float = 0.1
    kappa_mu: float = 0.2
    theta_mu: float = 1.5
    kappa_eps: float = 10.0
    tau_min: float = 0.99
    bound_push: float = 1e-2
    bound_frac: float = 1e-2
    kappa_sigma: float = 1e10
    max_restorations: int = 5
    unbounded_threshold: float = 1e20

    def validate(self) -> None:
        super().validate()
        _require(_finite(self.gtol) and self.gtol > 0, "gtol", "a finite number > 0", self.gtol)
        _require(_finite(self.mu_init) and self.mu_init > 0, "mu_init", "a finite number > 0", self.mu_init)
        _require(_finite(self.kappa_mu) and 0 < self.kappa_mu < 1, "kappa_mu", "a number in (0, 1)", self.kappa_mu)
        _require(_finite(self.theta_mu) and 1 < self.theta_mu < 2, "theta_mu", "a number in (1, 2)", self.theta_mu)
        _require(_finite(self.kappa_eps) and self.kappa_eps > 0, "kappa_eps", "a finite number > 0",
                 self.kappa_eps)
        _require(_finite(self.tau_min) and 0 < self.tau_min < 1, "tau_min", "a number in (0, 1)", self.tau_min)
        for name in ("bound_push", "bound_frac"):
            value = getattr(self, name)
            _require(_finite(value) and 0 < value < 0.5, name, "a number in (0, 0.5)", value)
        _require(_finite(self.kappa_sigma) and self.kappa_sigma >= 1, "kappa_sigma", "a finite number >= 1",
                 self.kappa_sigma)
        _require(isinstance(self.max_restorations, int) and not isinstance(self.max_restorations, bool)
                 and self.max_restorations >= 0, "max_restorations", "an integer >= 0", self.max_restorations)
        _require(_finite(self.unbounded_threshold) and self.unbounded_threshold > 0, "unbounded_threshold",
                 "a finite number > 0", self.unbounded_threshold)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# W&B Table 1 / Section 3.1 constants not exposed as options
_S_MAX = 100.0
_GAMMA_THETA, _GAMMA_PHI, _DELTA, _S_THETA, _S_PHI, _ETA_PHI, _GAMMA_ALPHA = 1e-5, 1e-8, 1.0, 1.1, 2.3, 1e-8, 0.05
_DELTA_W0, _DELTA_W_MIN, _DELTA_W_MAX, _KAPPA_W_MINUS, _KAPPA_W_PLUS, _KAPPA_W_PLUS_FIRST = (
    1e-4, 1e-20, 1e40, 1.0 / 3.0, 8.0, 100.0)


class _Problem:
    """f, c and their derivatives on the host at z = (x, s): the residual r(z), its Jacobian A, the barrier."""

    def __init__(self, xp, objective: _Objective, cset: ConstraintSet, n: int, like):
        self.xp, self.objective, self.cset, self.n, self.like = xp, objective, cset, n, like
        self.ineq = np.flatnonzero(~cset.equality)
        self.n_ineq = self.ineq.size
        self.eq_target = np.where(cset.equality, cset.lo, 0.0)

    def device(self, x):
        return self.xp.asarray(x, dtype=self.like.dtype)

    def evaluate(self, z):
        """(f, grad f, c, r) at z, host arrays; None where a value is not finite."""
        x = self.device(z[:self.n])
        f, g = self.objective.value_and_gradient(x)
        c = _host(self.cset.values(x)) if self.cset.m else np.zeros(0)
        g = _host(g)
        if not (math.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(c))):
            return None
        r = c - self.eq_target
        r[self.ineq] -= z[self.n:]
        return f, g, c, r

    def jacobian(self, z):
        """A = [J, -E_I] (m x N), dense."""
        J = self.cset.jacobian(self.device(z[:self.n]))
        J = J.toarray() if hasattr(J, "toarray") else _host(J)
        A = np.zeros((self.cset.m, self.n + self.n_ineq))
        A[:, :self.n] = J
        A[self.ineq, self.n + np.arange(self.n_ineq)] = -1.0
        return A

    def lagrangian_hessian(self, z, y):
        """W = H_f(x) + sum_i y_i H_ci(x) (n x n) as a ricci.solvers Operator on the host: f's Hessian with its
        structure kept (a Gram, sparse or dense operator; densified from n products where there are only
        products) plus the constraints' Hessians."""
        from ._operators import DenseOperator, SumOperator, as_operator

        x = self.device(z[:self.n])
        obj = self.objective
        if obj.has_hessian:
            H = obj.hessian_operator(x)
            if H.xp is not NUMPY or not H.symmetric:  # the KKT algebra runs on the host, on a symmetric W
                D = _host(H.to_dense())  # (an array with NaN is not found symmetric: it ends below)
                H = DenseOperator(0.5 * (D + D.T), symmetric=True)
        else:
            eye = np.eye(self.n)
            H = np.column_stack([_host(obj.hessp(x, self.device(eye[:, i]))) for i in range(self.n)])
            H = DenseOperator(0.5 * (H + H.T), symmetric=True)
        if self.cset.m:
            Hc = self.cset.weighted_hessian(x, self.device(y))
            if Hc is not None:
                H = SumOperator([H, as_operator(_host(Hc))])
        return H


def _inertia(D, zero_tol) -> tuple:
    """(positive, negative, zero) eigenvalue counts of the block-diagonal factor D of ``scipy.linalg.ldl``
    (Sylvester's law of inertia); |eigenvalue| <= zero_tol max(1, max |D|) counts as zero."""
    pos = neg = zero = 0
    n, i = D.shape[0], 0
    scale = zero_tol * max(1.0, float(np.max(np.abs(D)))) if n else 0.0
    while i < n:
        if i + 1 < n and D[i + 1, i] != 0.0:
            ev = np.linalg.eigvalsh(D[i:i + 2, i:i + 2])
            i += 2
        else:
            ev = (D[i, i],)
            i += 1
        for e in ev:
            if abs(e) <= scale:
                zero += 1
            elif e > 0:
                pos += 1
            else:
                neg += 1
    return pos, neg, zero


class _KKTSolver:
    """The primal-dual matrix K factored with inertia correction (W&B Algorithm IC); delta_w remembered.

    With H = W + Sigma + delta_w I (W in x, zero in the slacks), K = [H A'; A -delta_c I]. Each trial first
    factors H alone by the cheapest route for W's structure (Woodbury for a Gram of few rows, sparse or dense
    Cholesky). When H is positive definite, K's inertia is (N, 0, 0) plus the inertia of -S with the m x m Schur
    complement S = A H^-1 A' + delta_c I (Haynsworth), so K has the wanted inertia (N, m, 0) iff S is positive
    definite, and S's eigendecomposition solves the reduced system. Only when H is not positive definite (a
    nonconvex Lagrangian) is the dense K factored by ``scipy.linalg.ldl`` and its inertia read from D; either
    way the trial's verdict is the inertia of K, so the correction sequence is W&B's."""

    def __init__(self):
        self.last_delta_w = 0.0

    def factor(self, W, sigma, A, mu):
        """W: the Operator of the Lagrangian's Hessian in x (n x n); sigma: (N,); A: (m, N) dense."""
        delta_w, delta_c, first = 0.0, 0.0, True
        dense = None
        while True:
            shifted_trial = delta_w != 0 or delta_c != 0
            factor, zero = _ReducedKKT.build(W, sigma, A, delta_w, delta_c, 0.0 if shifted_trial else 1e-14)
            if factor is None and not zero:
                if dense is None:
                    dense = _dense_kkt(W, sigma, A)
                    if not np.all(np.isfinite(dense)):  # no shift helps: the caller ends NON_FINITE
                        raise NonFiniteValue("The Hessian of the Lagrangian has NaN or inf entries.")
                # singularity is judged on the uncorrected matrix only: once shifted, a tiny pivot such as
                # -|a|^2 / delta_w is a genuine eigenvalue of the shifted matrix
                factor, zero = _DenseKKT.build(dense, sigma.size, delta_w, delta_c,
                                               0.0 if shifted_trial else 1e-14)
            if factor is not None:
                if delta_w > 0:
                    self.last_delta_w = delta_w
                return factor, delta_w, delta_c
            if zero and delta_c == 0.0 and A.shape[0]:
                delta_c = 1e-8 * mu ** 0.25
            if first:
                delta_w = _DELTA_W0 if self.last_delta_w == 0 else max(_DELTA_W_MIN,
                                                                     _KAPPA_W_MINUS * self.last_delta_w)
                first = False
            else:
                delta_w *= _KAPPA_W_PLUS_FIRST if self.last_delta_w == 0 else _KAPPA_W_PLUS
            if delta_w > _DELTA_W_MAX:
                return None, delta_w, delta_c


def _dense_kkt(W, sigma, A):
    """K without the corrections, dense (N + m square)."""
    N, m, n = sigma.size, A.shape[0], W.shape[0]
    K = np.zeros((N + m, N + m))
    K[:n, :n] = W.to_dense()
    K[np.arange(N), np.arange(N)] += sigma
    K[N:, :N] = A
    K[:N, N:] = A.T
    return K


class _DenseKKT:
    """K factored whole by ``scipy.linalg.ldl`` (Bunch-Kaufman); its inertia from the block-diagonal factor."""

    def __init__(self, lu, d, perm):
        self.lu, self.d, self.perm = lu, d, perm

    @classmethod
    def build(cls, K, N, delta_w, delta_c, zero_tol):
        """(the factor, False) when K + diag(delta_w I_N, -delta_c I_m) has inertia (N, m, 0); else (None,
        whether it is singular)."""
        M = K.copy()
        size = K.shape[0]
        M[np.arange(N), np.arange(N)] += delta_w
        M[np.arange(N, size), np.arange(N, size)] -= delta_c
        lu, d, perm = sla.ldl(M, lower=True)
        pos, neg, zero = _inertia(d, zero_tol)
        if pos == N and neg == size - N and zero == 0:
            return cls(lu, d, perm), False
        return None, zero > 0

    def solve(self, rhs):
        L = self.lu[self.perm]  # triangular after the row permutation
        w = sla.solve_triangular(L, rhs[self.perm], lower=True, unit_diagonal=True)
        w = _solve_block_diagonal(self.d, w)
        out = np.empty_like(rhs)
        out[self.perm] = sla.solve_triangular(L.T, w, lower=False, unit_diagonal=True)
        return out


class _ReducedKKT:
    """K solved through H = W + Sigma + delta_w I (factored by W's structure) and the Schur complement
    S = A H^-1 A' + delta_c I (eigendecomposed, m x m); one step of iterative refinement against K's product."""

    def __init__(self, W, sigma, A, delta_w, delta_c, x_factor, slack_diag, HinvAt, S_vectors, S_values):
        self.W, self.sigma, self.A, self.delta_w, self.delta_c = W, sigma, A, delta_w, delta_c
        self.x_factor, self.slack_diag, self.HinvAt = x_factor, slack_diag, HinvAt
        self.S_vectors, self.S_values = S_vectors, S_values

    @classmethod
    def build(cls, W, sigma, A, delta_w, delta_c, zero_tol):
        """(the factor, False) when H is positive definite and S nonsingular; (None, True) when H is positive
        definite and S singular; (None, False) when H is not positive definite (the inertia is then left to
        the dense factorization)."""
        from ._operators import DiagonalOperator, NotPositiveDefinite, SumOperator

        n, N = W.shape[0], sigma.size
        slack_diag = sigma[n:] + delta_w
        if N > n and not np.min(slack_diag) > 0:
            return None, False
        try:
            x_factor = SumOperator([W, DiagonalOperator(np.asarray(sigma[:n], dtype=np.float64))]).factorize(
                delta_w)
        except NotPositiveDefinite:
            return None, False
        kkt = cls(W, sigma, A, delta_w, delta_c, x_factor, slack_diag, None, None, None)
        m = A.shape[0]
        if not m:
            return kkt, False
        kkt.HinvAt = kkt._h_solve(A.T)
        S = A @ kkt.HinvAt
        if not np.all(np.isfinite(S)):  # a Hessian with NaN: left to the dense factorization's verdict
            return None, False
        values, vectors = np.linalg.eigh(0.5 * (S + S.T))
        values = values + delta_c
        if np.min(values) <= zero_tol * max(1.0, float(np.max(np.abs(values)))):
            return None, True
        kkt.S_vectors, kkt.S_values = vectors, values
        return kkt, False

    def _h_solve(self, V):
        """H^-1 V for V of shape (N,) or (N, k)."""
        n = self.W.shape[0]
        top = np.asarray(self.x_factor.solve(V[:n]))
        bottom = V[n:] / (self.slack_diag if V.ndim == 1 else self.slack_diag[:, None])
        return np.concatenate([top, bottom])

    def _solve_once(self, rhs):
        N = self.sigma.size
        r1, r2 = rhs[:N], rhs[N:]
        u = self._h_solve(r1)
        if not self.A.shape[0]:
            return u
        V = self.S_vectors
        dy = V @ ((V.T @ (self.A @ u - r2)) / self.S_values)
        return np.concatenate([u - self.HinvAt @ dy, dy])

    def _product(self, sol):
        """K (with the corrections) times sol."""
        N, n = self.sigma.size, self.W.shape[0]
        dz, dy = sol[:N], sol[N:]
        top = (self.sigma + self.delta_w) * dz
        top[:n] += np.asarray(self.W.matvec(dz[:n]))
        if self.A.shape[0]:
            top += self.A.T @ dy
            return np.concatenate([top, self.A @ dz - self.delta_c * dy])
        return top

    def solve(self, rhs):
        sol = self._solve_once(rhs)
        return sol + self._solve_once(rhs - self._product(sol))


def _solve_block_diagonal(D, w):
    """D^-1 w for the block-diagonal (1x1 and 2x2 blocks) factor D of ``scipy.linalg.ldl``."""
    out, n, i = np.empty_like(w), D.shape[0], 0
    while i < n:
        if i + 1 < n and D[i + 1, i] != 0.0:
            out[i:i + 2] = np.linalg.solve(D[i:i + 2, i:i + 2], w[i:i + 2])
            i += 2
        else:
            out[i] = w[i] / D[i, i]
            i += 1
    return out


def _push_into_box(v, lo, hi, k1, k2):
    """IPOPT's initial-point rule (W&B Section 3.6): v moved at least p_L, p_U inside [lo, hi]."""
    v = v.copy()
    both = np.isfinite(lo) & np.isfinite(hi)
    width = np.where(both, hi - lo, np.inf)
    p_lo = np.minimum(k1 * np.maximum(1.0, np.abs(lo)), k2 * width)
    p_hi = np.minimum(k1 * np.maximum(1.0, np.abs(hi)), k2 * width)
    fl, fh = np.isfinite(lo), np.isfinite(hi)
    v[fl] = np.maximum(v[fl], lo[fl] + p_lo[fl])
    v[fh] = np.minimum(v[fh], hi[fh] - p_hi[fh])
    return v


def _fraction_to_boundary(v, dv, tau):
    """The largest alpha in (0, 1] with v + alpha dv >= (1 - tau) v, for v > 0 (W&B eq. 15)."""
    neg = dv < 0
    if not np.any(neg):
        return 1.0
    return float(min(1.0, np.min(-tau * v[neg] / dv[neg])))


def ipm(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, tol=None, bounds=None,
        constraints=(), **options):
    """Minimize f subject to bounds and general constraints by IPOPT's primal-dual interior-point filter
    line-search method (module docstring; Wächter & Biegler 2006) with the exact Hessian of the Lagrangian.

    A scipy custom-method callable: ``scipy.optimize.minimize(f, x0, method=ricci.solvers.ipm, jac=, hess=,
    bounds=, constraints=)``; the same constraints and bounds as ``auglag``. Needs f's gradient and its
    Hessian (``hess``) or Hessian-vector products (``hessp``, n of them per iteration). Dense KKT matrix: for
    n + m up to a few thousand. Options: :class:`InteriorPointOptions`. The result has auglag's fields (``v``,
    ``constr``, ``constr_violation``, ``lagrangian_grad``, ``optimality``) and ``mu``, the final barrier
    parameter.
    """
    from ._options import parse_options

    opts = parse_options(InteriorPointOptions, "ipm", options, tol)
    xp, x0 = prepare_x0(x0)
    n = int(x0.shape[0])
    functions = resolve_objective(fun, jac, hess, hessp, method="ipm", needs="hessian_or_product")
    lo_x, hi_x = standardize_bounds(bounds, n, xp, x0.dtype)
    lo_x, hi_x = _host(lo_x), _host(hi_x)
    x0_h = np.clip(_host(x0), lo_x, hi_x)
    cset = ConstraintSet(constraints, xp.asarray(x0_h, dtype=x0.dtype), xp)
    counts = Counts()
    objective = _Objective(xp, functions, args, counts)
    problem = _Problem(xp, objective, cset, n, x0)
    run = _Run(problem, lo_x, hi_x, opts, wrap_callback(callback), counts, bounds is not None)
    return run.solve(x0_h)


class _Run:
    """One solve: the state (z, y, z_L, z_U, mu, filter) and W&B's iteration."""

    def __init__(self, problem, lo_x, hi_x, opts, notify, counts, has_bounds):
        self.p, self.opts, self.notify, self.counts, self.has_bounds = problem, opts, notify, counts, has_bounds
        cset = problem.cset
        self.lo = np.concatenate([lo_x, cset.lo[problem.ineq]])
        self.hi = np.concatenate([hi_x, cset.hi[problem.ineq]])
        self.has_lo, self.has_hi = np.isfinite(self.lo), np.isfinite(self.hi)
        self.N, self.m = self.lo.size, cset.m
        self.kkt = _KKTSolver()
        self.restorations = 0

    # -- barrier quantities --------------------------------------------------------------------------------
    def slack_lo(self, z):
        return np.where(self.has_lo, z - np.where(self.has_lo, self.lo, 0.0), 1.0)

    def slack_hi(self, z):
        return np.where(self.has_hi, np.where(self.has_hi, self.hi, 0.0) - z, 1.0)

    def barrier(self, f, z, mu):
        return f - mu * (np.sum(np.log(self.slack_lo(z)[self.has_lo])) + np.sum(np.log(self.slack_hi(z)[self.has_hi])))

    def grad_barrier(self, g, z, mu):
        gz = np.concatenate([g, np.zeros(self.p.n_ineq)])
        return gz - mu * self.has_lo / self.slack_lo(z) + mu * self.has_hi / self.slack_hi(z)

    def errors(self, g, r, A, z, y, zl, zu, mu):
        """(E_mu, E_0-like pieces): the scaled KKT error of W&B eq. (5) with complementarity target mu."""
        gz = np.concatenate([g, np.zeros(self.p.n_ineq)])
        dual = gz + A.T @ y - zl + zu if self.m else gz - zl + zu
        comp_l = (self.slack_lo(z) * zl - mu)[self.has_lo]
        comp_u = (self.slack_hi(z) * zu - mu)[self.has_hi]
        n_bound = int(self.has_lo.sum() + self.has_hi.sum())
        zsum = float(np.sum(np.abs(zl)) + np.sum(np.abs(zu)))
        s_d = max(_S_MAX, (float(np.sum(np.abs(y))) + zsum) / max(1, self.m + n_bound)) / _S_MAX
        s_c = max(_S_MAX, zsum / max(1, n_bound)) / _S_MAX
        comp = max(np.max(np.abs(comp_l), initial=0.0), np.max(np.abs(comp_u), initial=0.0))
        primal = float(np.max(np.abs(r), initial=0.0))
        return max(float(np.max(np.abs(dual), initial=0.0)) / s_d, primal, comp / s_c)

    # -- the iteration --------------------------------------------------------------------------------------
    def solve(self, x0_h):
        p, opts = self.p, self.opts
        nit, mu = 0, opts.mu_init
        x = _push_into_box(x0_h, self.lo[:p.n], self.hi[:p.n], opts.bound_push, opts.bound_frac)
        first = p.evaluate(np.concatenate([x, np.zeros(p.n_ineq)]))
        if first is None:
            z = np.concatenate([x, np.zeros(p.n_ineq)])
            return self.result(z, np.zeros(self.m), Outcome.NON_FINITE,
                               "f, its gradient or a constraint is not finite at x0.", nit, mu)
        s = _push_into_box(first[2][p.ineq], self.lo[p.n:], self.hi[p.n:], opts.bound_push, opts.bound_frac)
        z = np.concatenate([x, s])
        zl, zu = self.has_lo * 1.0, self.has_hi * 1.0
        point = p.evaluate(z)
        f, g, c, r = point
        A = p.jacobian(z)
        y = self.initial_multipliers(g, A, zl, zu)
        theta0 = float(np.sum(np.abs(r)))
        theta_max, theta_min = 1e4 * max(1.0, theta0), 1e-4 * max(1.0, theta0)
        filt = []
        maxiter = 3000 if opts.maxiter is None else opts.maxiter
        tol = opts.gtol
        outcome = detail = None
        while True:
            violation = float(np.max(p.cset.violation(c), initial=0.0))
            e0 = self.errors(g, r, A, z, y, zl, zu, 0.0)
            if opts.disp:
                print(f"ipm {nit:4d}: f = {f: .10e}  violation = {violation:.2e}  E_0 = {e0:.2e}  mu = {mu:.1e}")
            if nit and self.notify is not None and self.notify(x=p.device(z[:p.n]), fun=f, nit=nit,
                                                               constr_violation=violation, optimality=e0):
                outcome = Outcome.CALLBACK_STOP
                break
            if e0 <= tol and violation <= tol:
                outcome = Outcome.CONVERGED
                break
            if violation <= tol and f < -opts.unbounded_threshold:
                outcome = Outcome.UNBOUNDED
                break
            if nit >= maxiter:
                outcome = Outcome.MAX_ITERATIONS
                break
            # barrier update (W&B eq. 7), possibly several times per iteration
            while mu > tol / 10 and self.errors(g, r, A, z, y, zl, zu, mu) <= opts.kappa_eps * mu:
                mu = max(tol / 10, min(opts.kappa_mu * mu, mu ** opts.theta_mu))
                filt = []
            tau = max(opts.tau_min, 1.0 - mu)
            W = p.lagrangian_hessian(z, y)
            sl, su = self.slack_lo(z), self.slack_hi(z)
            sigma = self.has_lo * zl / sl + self.has_hi * zu / su
            nit += 1
            try:
                factor, _, _ = self.kkt.factor(W, sigma, A, mu)
            except NonFiniteValue as exc:
                outcome, detail = Outcome.NON_FINITE, str(exc)
                break
            if factor is None:
                outcome, detail = Outcome.NO_PROGRESS, "The KKT matrix could not be made nonsingular."
                break
            gphi = self.grad_barrier(g, z, mu)
            rhs = -np.concatenate([gphi + (A.T @ y if self.m else 0.0), r])
            sol = factor.solve(rhs)
            dz, dy = sol[:self.N], sol[self.N:]
            dzl = self.has_lo * (mu / sl - zl - zl / sl * dz)
            dzu = self.has_hi * (mu / su - zu + zu / su * dz)
            alpha_max = min(_fraction_to_boundary(sl[self.has_lo], dz[self.has_lo], tau),
                            _fraction_to_boundary(su[self.has_hi], -dz[self.has_hi], tau))
            alpha_z = min(_fraction_to_boundary(zl[self.has_lo], dzl[self.has_lo], tau),
                          _fraction_to_boundary(zu[self.has_hi], dzu[self.has_hi], tau))
            accepted = self.line_search(z, dz, f, r, gphi, mu, alpha_max, filt, theta_max, theta_min)
            if accepted is None:  # restoration: the least-infeasible point over the box, by tron
                if self.restorations >= opts.max_restorations:
                    outcome = Outcome.LINE_SEARCH_FAILED
                    detail = f"{self.restorations} feasibility restorations did not let the filter accept a step."
                    break
                self.restorations += 1
                z_new, least = self.restore(z)
                if least > tol:
                    z = z_new
                    point = p.evaluate(z)
                    f, g, c, r = point
                    y = np.zeros(self.m)
                    outcome = Outcome.INFEASIBLE
                    detail = f"Least constraint violation found: {least:.3e}."
                    break
                z = z_new
                zl, zu = self.has_lo * np.minimum(1.0, zl), self.has_hi * np.minimum(1.0, zu)
                zl, zu = self.has_lo * np.maximum(zl, mu), self.has_hi * np.maximum(zu, mu)
                point = p.evaluate(z)
                f, g, c, r = point
                A = p.jacobian(z)
                y = self.initial_multipliers(g, A, zl, zu)
                filt = []
                continue
            alpha, z_new, point_new, f_type = accepted
            if not f_type:
                filt.append(((1 - _GAMMA_THETA) * float(np.sum(np.abs(r))),
                             self.barrier(f, z, mu) - _GAMMA_PHI * float(np.sum(np.abs(r)))))
            z, (f, g, c, r) = z_new, point_new
            y = y + alpha * dy
            zl = zl + alpha_z * dzl
            zu = zu + alpha_z * dzu
            # safeguard (W&B eq. 16)
            sl, su = self.slack_lo(z), self.slack_hi(z)
            ks = opts.kappa_sigma
            zl = self.has_lo * np.clip(zl, mu / (ks * sl), ks * mu / sl)
            zu = self.has_hi * np.clip(zu, mu / (ks * su), ks * mu / su)
            A = p.jacobian(z)
        return self.result(z, y, outcome, detail, nit, mu, zl, zu)

    def initial_multipliers(self, g, A, zl, zu):
        """y from the least-squares problem of W&B Section 3.6 (discarded when ||y||_inf > 1e3)."""
        if not self.m:
            return np.zeros(0)
        gz = np.concatenate([g, np.zeros(self.p.n_ineq)]) - zl + zu
        y = np.linalg.lstsq(A.T, -gz, rcond=None)[0]
        return y if np.max(np.abs(y)) <= 1e3 else np.zeros(self.m)

    def line_search(self, z, dz, f, r, gphi, mu, alpha_max, filt, theta_max, theta_min):
        """Backtracking filter line search (W&B Section 2.3, Algorithm A steps A-5.1 to A-5.5 without the
        second-order correction). Returns (alpha, z_trial, point, f_type) or None when alpha < alpha_min."""
        p = self.p
        theta = float(np.sum(np.abs(r)))
        phi = self.barrier(f, z, mu)
        slope = float(gphi @ dz)
        if slope < 0:
            alpha_min = _GAMMA_ALPHA * min(_GAMMA_THETA, _GAMMA_PHI * theta / -slope,
                                           _DELTA * theta ** _S_THETA / (-slope) ** _S_PHI) if theta > theta_min \
                else _GAMMA_ALPHA * _GAMMA_THETA
        else:
            alpha_min = _GAMMA_ALPHA * _GAMMA_THETA
        alpha_min = max(alpha_min, 1e-14 * alpha_max)
        if theta <= 1e-12 and slope < 0:  # feasible: only a tiny step being rejected is a real failure
            alpha_min = min(alpha_min, 1e-12)
        alpha = alpha_max
        while alpha >= alpha_min:
            zt = z + alpha * dz
            point = p.evaluate(zt)
            if point is not None:
                ft, _, _, rt = point
                theta_t = float(np.sum(np.abs(rt)))
                phi_t = self.barrier(ft, zt, mu)
                if math.isfinite(phi_t) and theta_t <= theta_max \
                        and not any(theta_t >= tf and phi_t >= pf for tf, pf in filt):
                    switching = slope < 0 and alpha * (-slope) ** _S_PHI > _DELTA * theta ** _S_THETA
                    if theta <= theta_min and switching:
                        if phi_t <= phi + _ETA_PHI * alpha * slope:
                            return alpha, zt, point, True
                    elif theta_t <= (1 - _GAMMA_THETA) * theta or phi_t <= phi - _GAMMA_PHI * theta:
                        return alpha, zt, point, False
            alpha *= 0.5
        return None

    def restore(self, z):
        """The minimizer of 1/2 ||r||^2 over the box (auglag's least-infeasible phase, tron), pushed inside
        the box; returns it and its constraint violation."""
        p = self.p
        model = AugmentedLagrangianModel(p.xp, p.objective, p.cset, p.n, p.like)
        zd = p.xp.asarray(z, dtype=p.like.dtype)
        out = _host(_least_infeasible(model, zd, self.lo, self.hi, _RestoreOptions(self.opts.unbounded_threshold)))
        least_point = p.evaluate(out)
        least = float(np.max(p.cset.violation(least_point[2]), initial=0.0)) if least_point else math.inf
        inside = _push_into_box(out, self.lo, self.hi, 1e-8, 1e-8)
        return (inside if p.evaluate(inside) is not None else z), least

    def result(self, z, y, outcome, detail, nit, mu, zl=None, zu=None):
        p = self.p
        x = z[:p.n]
        point = p.evaluate(z)
        if point is None:
            f, g, c = math.nan, np.full(p.n, math.nan), np.full(self.m, math.nan)
        else:
            f, g, c, _ = point
        zb = np.zeros(p.n)
        if zl is not None:
            zb = (zu - zl)[:p.n]
        if self.m and point is not None:
            J = p.jacobian(z)[:, :p.n]
            lag = g + J.T @ y + zb
        else:
            lag = g + zb
        violation = float(np.max(p.cset.violation(c), initial=0.0)) if self.m else 0.0
        if outcome is Outcome.CONVERGED:
            detail = f"Scaled KKT error <= gtol and constraint violation {violation:.2e} <= gtol (mu = {mu:.1e})."
        elif outcome is Outcome.UNBOUNDED:
            detail = f"f = {f:.3e} at a point violating the constraints by {violation:.1e}."
        if p.cset.hessian_missing:
            missing = ("The Hessians of " + ", ".join(p.cset.hessian_missing) + " were not given: the KKT matrix "
                       "left their curvature out.")
            detail = missing if not detail else f"{detail} {missing}"
        dev = p.device
        v = [dev(b) for b in p.cset.split(y)]
        constr = [dev(b) for b in p.cset.split(c)]
        if self.has_bounds:
            v, constr = v + [dev(zb)], constr + [dev(x)]
        message = (f"Optimization terminated successfully: the KKT conditions hold to gtol. {detail}"
                   if outcome is Outcome.CONVERGED else with_detail(outcome, detail))
        return OptimizeResult(
            x=dev(x), fun=f, jac=dev(g), nit=nit, nfev=self.counts.nfev, njev=self.counts.njev,
            nhev=self.counts.nhev, status=outcome.status, success=outcome.success, message=message,
            outcome=outcome, v=v, constr=constr, constr_violation=violation, lagrangian_grad=dev(lag),
            optimality=float(np.max(np.abs(lag), initial=0.0)), mu=mu,
        )


@dataclass(frozen=True)
class _RestoreOptions:
    """The two fields of auglag's options that its least-infeasible phase reads."""

    unbounded_threshold: float
    inner_maxiter: int | None = None
