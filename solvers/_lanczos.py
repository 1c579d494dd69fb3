"""The generalized Lanczos trust-region method (GLTR; Gould, Lucidi, Roma & Toint, 1999; Section 7.1 of
Nocedal & Wright (2006) sketches it as the Lanczos view of Steihaug-CG).

Lanczos builds an orthonormal basis Q_k of the Krylov space K_k(B, g) with B Q_k = Q_k T_k + beta_k q_{k+1}
e_k', T_k tridiagonal. The subproblem restricted to the space,

    minimize ||g|| e_1'h + 1/2 h'T_k h   subject to  ||h|| <= radius,

is small and is solved by More-Sorensen on the host (the k x k matrix T_k is made of scalars that came back to
the host anyway); p = Q_k h. Unlike Steihaug-CG it does not stop at the first negative curvature or at the
boundary but keeps enlarging the space, so it can follow the boundary to a better point. The residual of the
full problem is known for free, ||(B + lambda I) p + g|| = beta_k |e_k'h|, and the iteration stops when it is
below the forcing term min(0.5, ||g||) ||g|| (the choice that gives quadratic local convergence, Theorem 7.2
of Nocedal & Wright (2006); the extra Lanczos steps buy GLTR its more accurate boundary solutions). The model
value m(p) = ||g|| h_1 + 1/2 h'T_k h costs no Hessian-vector product. The basis is fully re-orthogonalized
(two classical Gram-Schmidt passes), which costs O(nk) per iteration and keeps T_k faithful to B.
"""
from __future__ import annotations

import math

import numpy as np
from array_api_compat import device
from array_api_compat import numpy as host_xp

from ._arrays import NonFiniteValue, SolverOverflow, all_finite, dot, norm
from ._more_sorensen import SubproblemSolution, more_sorensen
from ._operators import DenseOperator


def gltr(xp, hessp, g, radius: float, *, maxiter: int, forcing=None):
    """Returns ``(solution, predicted_decrease)`` where predicted_decrease = -m(p)."""
    gnorm = norm(xp, g)
    tol = min(0.5, gnorm) * gnorm if forcing is None else forcing
    basis = [g * (1.0 / gnorm)]
    alphas, betas = [], []
    h = lam = None
    for k in range(maxiter):
        q = basis[-1]
        w = hessp(q)
        alpha = dot(xp, q, w)
        if not math.isfinite(alpha):
            if not all_finite(xp, w):
                raise NonFiniteValue("A Hessian-vector product has NaN or inf entries.")
            raise SolverOverflow("The Lanczos coefficient q'Bq overflowed.")
        alphas.append(alpha)
        Q = xp.stack(basis, axis=1)
        for _ in range(2):  # w <- (I - Q Q') w, twice for numerical orthogonality
            w = w - Q @ (xp.linalg.matrix_transpose(Q) @ w)
        beta = norm(xp, w)
        T = np.diag(np.asarray(alphas))
        if betas:
            off = np.asarray(betas)
            T = T + np.diag(off, 1) + np.diag(off, -1)
        rhs = np.zeros(k + 1)
        rhs[0] = gnorm
        sol = more_sorensen(host_xp, DenseOperator(T, symmetric=True), host_xp.asarray(rhs), radius, k_easy=1e-8)
        h, lam = np.asarray(sol.step), sol.multiplier
        residual = beta * abs(h[-1])
        if residual <= tol or beta <= 1e-14 * max(gnorm, abs(alpha)) or k + 1 == maxiter or k + 1 == g.shape[0]:
            break
        betas.append(beta)
        basis.append(w * (1.0 / beta))
    model = gnorm * h[0] + 0.5 * float(h @ (T @ h))
    Q = xp.stack(basis, axis=1)
    p = Q @ xp.asarray(h, dtype=g.dtype, device=device(g))
    return SubproblemSolution(p, lam, lam > 0, len(basis)), -model


def smallest_eigenpair(xp, matvec, v0, *, maxiter: int, rtol: float = 1e-3):
    """The smallest eigenvalue of a symmetric B and its unit eigenvector, by Lanczos from ``v0`` with full
    re-orthogonalization (Golub & Van Loan, "Matrix Computations", Section 10.1): the Ritz pair of T_k for its
    smallest eigenvalue, stopped when its residual ``||B u - theta u|| = beta_k |e_k'y|`` is below
    ``rtol * |theta|`` or after ``maxiter`` products. Returns ``(theta, u)``; only the sign of theta and a
    direction of curvature near it are needed by the callers (a negative-curvature direction), so the default
    accuracy is loose."""
    basis = [v0 * (1.0 / norm(xp, v0))]
    alphas, betas = [], []
    for k in range(min(maxiter, v0.shape[0])):
        q = basis[-1]
        w = matvec(q)
        alpha = dot(xp, q, w)
        if not math.isfinite(alpha):
            raise NonFiniteValue("A Hessian-vector product has NaN or inf entries.")
        alphas.append(alpha)
        Q = xp.stack(basis, axis=1)
        for _ in range(2):
            w = w - Q @ (xp.linalg.matrix_transpose(Q) @ w)
        beta = norm(xp, w)
        T = np.diag(np.asarray(alphas)) + np.diag(np.asarray(betas), 1) + np.diag(np.asarray(betas), -1)
        theta, Y = np.linalg.eigh(T)
        y = Y[:, 0]
        if beta * abs(y[-1]) <= rtol * max(abs(theta[0]), 1e-300) or beta <= 1e-14 * max(abs(alpha), 1.0):
            break
        betas.append(beta)
        basis.append(w * (1.0 / beta))
    Q = xp.stack(basis[:len(alphas)], axis=1)
    u = Q @ xp.asarray(y, dtype=v0.dtype, device=device(v0))
    return float(theta[0]), u * (1.0 / norm(xp, u))
