"""Variable projection for matrix factorization: V eliminated exactly, Levenberg-Marquardt on U.

The factorization objective (``matrix_factorization`` in ``_models.py``)

    f(U, V) = 1/2 sum_k (u_{i_k}' v_{j_k} - t_k)^2 + lam/2 (||U||_F^2 + ||V||_F^2),

over the observed positions (i_k, j_k), U (m x r) with rows u_i, V (n x r) with rows v_j, is a separable
least-squares problem: for fixed U the residual r(U, V) = [u_{i_k}' v_{j_k} - t_k; sqrt(lam) U; sqrt(lam) V]
is linear in V, and V*(U) = argmin_V f(U, V) decouples into n ridge problems, one per column j of T:

    (U_j' U_j + lam I) v_j = U_j' t_j,     U_j = the rows u_i with (i, j) observed, t_j their values,

solved here by a batched r x r Cholesky factorization over all j at once. Variable projection (Golub &
Pereyra, SIAM J. Numer. Anal. 10, 1973) minimizes the reduced cost f*(U) = f(U, V*(U)) = 1/2 ||r*(U)||^2 with
r*(U) = r(U, V*(U)). Write J_U, J_V for the blocks of the Jacobian of r at (U, V*(U)) and
P = I - J_V (J_V'J_V)^-1 J_V' for the projector onto the orthogonal complement of range(J_V). Then

    dr*/dU = P J_U - J_V (J_V'J_V)^-1 (dJ_V/dU)' r*                                (Golub & Pereyra)

and this module uses the second approximation of Ruhe & Wedin ("Algorithms for separable nonlinear least
squares problems", SIAM Review 22, 1980), RW2, also called Kaufman's (BIT 15, 1975):

    J* = P J_U        (the "projected" Jacobian; ``ProjectedJacobian``).

Why RW2: (1) its gradient is exact: J_V' r* = 0 is the stationarity of V*, so P r* = r* and
J*' r* = J_U' r* = (the U part of grad f at (U, V*)) = grad f*(U); the dropped term only changes the
curvature model, by a term proportional to r* (it vanishes for exact fits, and Ruhe & Wedin show RW2 keeps the
Gauss-Newton rate of the full Jacobian). (2) Its Gauss-Newton matrix J*'J* = J_U'J_U - J_U'J_V (J_V'J_V)^-1
J_V'J_U is exactly the Schur complement onto U of the full problem's Gauss-Newton matrix, so a damped step on
the reduced problem is the full Gauss-Newton step with V eliminated and the damping on U only -- the reading
of Hong & Fitzgibbon (ICCV 2015, "Secrets of matrix factorization") and Hong, Zach & Fitzgibbon (CVPR 2017,
"Revisiting the variable projection method for separable nonlinear least squares problems"), who find the
damped RW2 ("Kaufman") step as reliable as the full one at lower cost. (3) The property P dr*/dU = J* gives
an exact check against finite differences of r* (tests/problems/test_varpro.py).

The reduced problem is solved by ``ricci.solvers.least_squares(method="lm")``: J* is a ricci Operator with
products through the sparse structure (O(#obs r) each) and, while m r is at most ``dense_gram_limit``, its Gram
J*'J* formed densely (m r x m r, the form Hong & Fitzgibbon use), so the damped normal equations are solved by
Cholesky; beyond that limit the Gram is an operator (``ReducedGram``) whose shifted solves are conjugate
gradients preconditioned by its exact r x r diagonal blocks, so nothing of size (m r)^2 is formed.

Gauge freedom: f is invariant under U -> U A, V -> V A^-T only when lam = 0 (then r*(U A) = r*(U), J* has an
r^2-dimensional null space {U E}, and the Levenberg-Marquardt damping alone keeps the steps bounded; V*(U) also
needs every column of T to have at least r observed entries on linearly independent rows). With lam > 0 the
penalty fixes the balance and removes the invariance (except orthogonal U Q, V Q, which LM handles as above).

Arrays are NumPy: the segment sums use scipy.sparse incidence matrices.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import ricci.symbolic as rs
import scipy.sparse as sp
from array_api_compat import array_namespace
from ricci.solvers import (
    DenseOperator,
    Factorization,
    MatvecOperator,
    Method,
    NotPositiveDefinite,
    Operator,
    least_squares,
)
from ricci.solvers._jacobian import scale_columns
from scipy.optimize import OptimizeResult

_NUMPY = array_namespace(np.empty(0))

DENSE_GRAM_LIMIT = 3000
"""Largest m r for which the reduced Gauss-Newton matrix (m r x m r) is formed densely."""


# ---- the data of a factorization ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FactorizationData:
    """The observed entries t_k = T[rows[k], cols[k]] of an m x n matrix, the rank r and the penalty lam, with
    the incidence matrices that sum over the entries of one row (``by_row``, m x K) or one column (``by_col``,
    n x K) of T."""

    rows: np.ndarray
    cols: np.ndarray
    t: np.ndarray
    m: int
    n: int
    rank: int
    lam: float
    by_row: sp.csr_array
    by_col: sp.csr_array

    @classmethod
    def make(cls, rows, cols, t, shape, rank: int, lam: float) -> FactorizationData:
        rows, cols = (np.asarray(a) for a in (rows, cols))
        for name, a in (("rows", rows), ("cols", cols)):
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be a 1-D integer array; got dtype {a.dtype}, shape {a.shape}")
        t = np.asarray(t, dtype=np.float64)
        if not (rows.shape == cols.shape == t.shape):
            raise ValueError(f"rows, cols and t must have one entry per observation; got shapes {rows.shape}, "
                             f"{cols.shape}, {t.shape}")
        m, n = (int(s) for s in shape)
        if rows.size == 0 or rows.min() < 0 or cols.min() < 0 or rows.max() >= m or cols.max() >= n:
            raise ValueError(f"rows and cols must be positions in a {m} x {n} matrix (and at least one)")
        if not (isinstance(rank, (int, np.integer)) and 1 <= rank <= min(m, n)):
            raise ValueError(f"rank must be an integer in 1..{min(m, n)}; got {rank!r}")
        if not (math.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0; got {lam!r}")
        K = rows.size
        ones, ks = np.ones(K), np.arange(K)
        by_row = sp.csr_array((ones, (rows, ks)), shape=(m, K))
        by_col = sp.csr_array((ones, (cols, ks)), shape=(n, K))
        return cls(rows.astype(np.int64), cols.astype(np.int64), t, m, n, int(rank), float(lam), by_row, by_col)

    @classmethod
    def from_problem(cls, problem) -> FactorizationData:
        """The data of a ``matrix_factorization`` problem: the observed positions are read from the gathers
        ``take(U, rows)`` and ``take(V, cols)`` of its expression, t and lam from ``problem.data``."""
        if getattr(problem, "family", None) != "factorization":
            raise ValueError(f"variable projection is for matrix-factorization problems; got family "
                             f"{getattr(problem, 'family', None)!r} ({getattr(problem, 'name', problem)!r})")
        gathers = _gathers(problem.objective.expr)
        if set(gathers) != {"U", "V"}:
            raise ValueError(f"{problem.name!r}: expected the gathers take(U, rows) and take(V, cols) in f; found "
                             f"gathers of {sorted(gathers) or 'no variable'}")
        parts = problem.objective.unpack(np.asarray(problem.x0))  # the packing's shapes, sizes bound
        if set(parts) != {"U", "V"} or list(parts) != ["U", "V"]:
            raise ValueError(f"{problem.name!r}: expected the variables U, V (in that order); got {list(parts)}")
        (m, r), (n, _) = parts["U"].shape, parts["V"].shape
        return cls.make(gathers["U"], gathers["V"], np.asarray(problem.data["t"]), (m, n), int(r),
                        float(problem.data["lam"]))

    @property
    def size(self) -> int:
        """The length of the packed x = [U.ravel(), V.ravel()]."""
        return (self.m + self.n) * self.rank

    def pack(self, U, V) -> np.ndarray:
        return np.concatenate([np.ravel(U), np.ravel(V)])

    def unpack(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.size,):
            raise ValueError(f"x must be the packed [U.ravel(), V.ravel()] of length {self.size}; got shape "
                             f"{x.shape}")
        mr = self.m * self.rank
        return x[:mr].reshape(self.m, self.rank), x[mr:].reshape(self.n, self.rank)

    # -- f and its gradient, for checks and results ------------------------------------------------------------
    def observed_residual(self, U, V):
        return np.einsum("kr,kr->k", U[self.rows], V[self.cols]) - self.t

    def value(self, U, V) -> float:
        """f(U, V) (the problem's objective)."""
        e = self.observed_residual(U, V)
        return 0.5 * float(e @ e) + 0.5 * self.lam * float(np.sum(U * U) + np.sum(V * V))

    def gradient(self, U, V):
        """(df/dU, df/dV): J_U'r and J_V'r, segment sums of e_k v_{j_k} and e_k u_{i_k}."""
        e = self.observed_residual(U, V)
        gU = self.by_row @ (e[:, None] * V[self.cols]) + self.lam * U
        gV = self.by_col @ (e[:, None] * U[self.rows]) + self.lam * V
        return gU, gV


def _gathers(expr) -> dict:
    """{variable name: index array} of the gathers take(variable, index) along axis 0 in ``expr``."""
    found, seen, stack = {}, set(), [expr]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        index, arg = getattr(e, "index", None), getattr(e, "arg", None)
        if type(e).__name__ == "Take" and isinstance(arg, rs.Var) and e.axis == 0:
            found[arg.name] = np.asarray(index.array)
        stack.extend(e.children())
    return found


# ---- V*(U): n ridge problems by one batched Cholesky --------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RidgeSolution:
    """V*(U) with the Cholesky factors L_j of G_j = U_j'U_j + lam I (n x r x r) and G_j^-1."""

    V: np.ndarray
    chol: np.ndarray
    inverse: np.ndarray


def ridge_factor(data: FactorizationData, U) -> RidgeSolution:
    """V*(U): v_j = (U_j'U_j + lam I)^-1 U_j't_j for every column j at once (Golub & Van Loan, Algorithm
    4.2.1, batched over j). ValueError when some G_j is singular (possible only with lam = 0)."""
    U = np.asarray(U, dtype=np.float64)
    r = data.rank
    if U.shape != (data.m, r):
        raise ValueError(f"U must have shape ({data.m}, {r}); got {U.shape}")
    Uk = U[data.rows]
    G = (data.by_col @ (Uk[:, :, None] * Uk[:, None, :]).reshape(-1, r * r)).reshape(data.n, r, r)
    G = G + data.lam * np.eye(r)
    b = data.by_col @ (Uk * data.t[:, None])
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        raise ValueError("V*(U) is not unique: some U_j'U_j + lam I is singular (lam = 0 and a column of T with "
                         "fewer than rank observed entries on independent rows of U); use lam > 0") from None
    Linv = np.linalg.inv(L)
    Ginv = np.swapaxes(Linv, 1, 2) @ Linv
    V = np.einsum("jab,jb->ja", Ginv, b)
    return RidgeSolution(V, L, Ginv)


# ---- the reduced residual and its RW2 Jacobian ----------------------------------------------------------------
def reduced_residual(data: FactorizationData, U, V=None):
    """r*(U) = [u_{i_k}'v*_{j_k} - t_k; sqrt(lam) vec U; sqrt(lam) vec V*] (V* = V*(U) unless given)."""
    if V is None:
        V = ridge_factor(data, U).V
    c = math.sqrt(data.lam)
    return np.concatenate([data.observed_residual(U, V), c * np.ravel(U), c * np.ravel(V)])


@dataclass(frozen=True, eq=False, repr=False)
class ProjectedJacobian(Operator):
    """J* = P J_U, the RW2 (Kaufman) Jacobian of r*(U) at U (module docstring), as an operator: products
    through the observed entries, and its Gram J*'J* = J_U'J_U - B'G^-1 B (B = J_V'J_U, block (j, i) = u_i v_j'
    per observed (i, j); G = J_V'J_V block diagonal) formed densely (m r x m r) when ``dense_gram``, else a
    :class:`ReducedGram`. ``scale`` holds Levenberg-Marquardt's column scaling (the operator is then J* S). The
    Gram is computed on first use and cached on the instance (the operator stands for one fixed U)."""

    data: FactorizationData
    U: np.ndarray
    ridge: RidgeSolution
    scale: np.ndarray | None = None  # J* diag(scale): Levenberg-Marquardt's column scaling
    dense_gram: bool = True  # False: the Gram is ReducedGram (products, block-Jacobi PCG solves)
    unscaled_gram: np.ndarray | None = None  # J_U'P J_U when already formed (kept by the column-scaling rule)

    shape = property(lambda self: (self.data.rows.size + self.data.size, self.data.m * self.data.rank))
    dtype = property(lambda self: np.dtype(np.float64))
    xp = property(lambda self: _NUMPY)
    nbytes = property(lambda self: self.U.nbytes + self.ridge.V.nbytes + self.ridge.inverse.nbytes)

    # J_U D and J_V'(.) / J_V(.) on k columns at once; D is (m r, k)
    def _split(self, Y):
        d = self.data
        K, mr = d.rows.size, d.m * d.rank
        return Y[:K], Y[K:K + mr], Y[K + mr:]

    def _project_coefficients(self, obs, vpen):
        """z = G^-1 J_V'[obs; 0; vpen] per column block: (n, r, k)."""
        d, r = self.data, self.data.rank
        k = obs.shape[1]
        Uk = self.U[d.rows]
        w = (d.by_col @ (Uk[:, :, None] * obs[:, None, :]).reshape(-1, r * k)).reshape(d.n, r, k)
        if vpen is not None:
            w = w + math.sqrt(d.lam) * vpen.reshape(d.n, r, k)
        return self.ridge.inverse @ w

    def _apply_JV(self, z):
        """J_V z as (obs part, V-penalty part)."""
        d = self.data
        obs = np.einsum("kr,krc->kc", self.U[d.rows], z[d.cols])
        return obs, math.sqrt(d.lam) * z.reshape(d.n * d.rank, -1)

    def _matmat(self, D):
        d, r = self.data, self.data.rank
        k = D.shape[1]
        if self.scale is not None:
            D = self.scale[:, None] * D
        D3 = D.reshape(d.m, r, k)
        y = np.einsum("kr,krc->kc", self.ridge.V[d.cols], D3[d.rows])  # J_U D, observed rows
        z = self._project_coefficients(y, None)  # J_U D has no V-penalty rows
        obs, vpen = self._apply_JV(z)
        return np.concatenate([y - obs, math.sqrt(d.lam) * D, -vpen], axis=0)

    def _rmatmat(self, Y):
        d, r = self.data, self.data.rank
        k = Y.shape[1]
        obs, upen, vpen = self._split(Y)
        z = self._project_coefficients(obs, vpen)
        obs = obs - self._apply_JV(z)[0]  # P Y (its V-penalty part is not read by J_U')
        Vk = self.ridge.V[d.cols]
        out = (d.by_row @ (Vk[:, :, None] * obs[:, None, :]).reshape(-1, r * k)).reshape(d.m * r, k)
        out = out + math.sqrt(d.lam) * upen
        return out if self.scale is None else self.scale[:, None] * out

    @property
    def T(self):
        return MatvecOperator(self.shape[::-1], self.rmatvec, self.matvec, matmat=self._rmatmat,
                              rmatmat=self._matmat)

    def diagonal(self):
        raise TypeError("ProjectedJacobian is rectangular; its diagonal is not used (ask gram().diagonal())")

    def norm_estimate(self) -> float:
        """||J*||_F = sqrt(trace(J*'J*)), from the Gram's diagonal."""
        return math.sqrt(max(float(np.sum(self.gram().diagonal())), 0.0))

    def gram(self, weights=None) -> Operator:
        if weights is not None:
            return super().gram(weights)
        cached = self.__dict__.get("_gram")
        if cached is None:
            if self.dense_gram:
                S = self.unscaled_gram_array()
                if self.scale is not None:
                    S = self.scale[:, None] * S * self.scale[None, :]
                cached = DenseOperator(S, symmetric=True)
            else:
                cached = ReducedGram(self)
            object.__setattr__(self, "_gram", cached)
        return cached

    def diagonal_blocks(self):
        """The r x r diagonal blocks of J*'J* (one per row of U, with the column scaling): block i is
        sum_{j: (i, j) observed} (1 - u_i'G_j^-1 u_i) v_j v_j' + lam I, since block (i, i) of B'G^-1B is
        sum_j (u_i'G_j^-1 u_i) v_j v_j'."""
        d, r = self.data, self.data.rank
        Vk, Uk = self.ridge.V[d.cols], self.U[d.rows]
        c = np.einsum("ka,kab,kb->k", Uk, self.ridge.inverse[d.cols], Uk)
        outer = ((1.0 - c)[:, None, None] * Vk[:, :, None] * Vk[:, None, :]).reshape(-1, r * r)
        blocks = (d.by_row @ outer).reshape(d.m, r, r) + d.lam * np.eye(r)
        if self.scale is not None:
            s = self.scale.reshape(d.m, r)
            blocks = s[:, :, None] * blocks * s[:, None, :]
        return blocks

    def unscaled_gram_array(self):
        """J_U'P J_U (m r x m r), formed once per operator (and shared with its column-scaled copies)."""
        if self.unscaled_gram is None:
            object.__setattr__(self, "unscaled_gram", self._gram_array())
        return self.unscaled_gram

    def _gram_array(self):
        d, r = self.data, self.data.rank
        m, n = d.m, d.n
        Vk = self.ridge.V[d.cols]
        # J_U'J_U: block diagonal, sum over row i's entries of v_j v_j', plus lam I
        blocks = (d.by_row @ (Vk[:, :, None] * Vk[:, None, :]).reshape(-1, r * r)).reshape(m, r, r)
        blocks = blocks + d.lam * np.eye(r)
        # B'G^-1B = W'W with W[(j, a), (i, b)] = (L_j^-1 u_i)_a v_{j, b} for observed (i, j)
        Linv = np.linalg.inv(self.ridge.chol)
        q = np.einsum("kab,kb->ka", Linv[d.cols], self.U[d.rows])
        W = np.zeros((n, r, m, r))
        W[d.cols, :, d.rows, :] = q[:, :, None] * Vk[:, None, :]  # advanced indices first: (k, a, b)
        W = W.reshape(n * r, m * r)
        S = -(W.T @ W)
        idx = np.arange(m)
        S4 = S.reshape(m, r, m, r)
        S4[idx, :, idx, :] += blocks
        return S4.reshape(m * r, m * r)


@dataclass(frozen=True, eq=False, repr=False)
class ReducedGram(Operator):
    """J*'J* (m r x m r) through products with J* and J*', for m r beyond the dense limit. Shifted solves
    ``(J*'J* + shift I) x = b`` by conjugate gradients preconditioned with the exact r x r diagonal blocks
    (block Jacobi; Algorithm 5.3 of Nocedal & Wright, 2006): ``solver(shift, rtol)`` to relative residual rtol,
    ``factorize(shift)`` to 1e-12. J*'J* is positive definite for lam > 0 (its U-penalty rows give
    ||J* d||^2 >= lam ||D d||^2), so negative curvature met by CG means shift < -lambda_min only with lam = 0."""

    jacobian: ProjectedJacobian
    symmetric = True

    shape = property(lambda self: (self.jacobian.shape[1],) * 2)
    dtype = property(lambda self: np.dtype(np.float64))
    xp = property(lambda self: _NUMPY)
    nbytes = property(lambda self: self.jacobian.nbytes)

    def _matmat(self, V):
        return self.jacobian._rmatmat(self.jacobian._matmat(V))

    def diagonal(self):
        return np.einsum("iaa->ia", self.jacobian.diagonal_blocks()).reshape(-1)

    def norm_estimate(self) -> float:
        """A bound: ||A||_F <= trace(A) for a positive semidefinite A."""
        return float(np.sum(self.diagonal()))

    def _factorize(self, shift):
        return self.solver(shift, rtol=1e-12)

    def solver(self, shift: float = 0.0, rtol: float | None = None) -> Factorization:
        shift = float(shift)
        blocks = self.jacobian.diagonal_blocks() + shift * np.eye(self.jacobian.data.rank)
        try:
            inverse = np.linalg.inv(np.linalg.cholesky(blocks))
        except np.linalg.LinAlgError:
            raise NotPositiveDefinite(f"a diagonal block of J*'J* + {shift:g} I is not positive definite") from None
        inverse = np.swapaxes(inverse, 1, 2) @ inverse
        tol = 1e-12 if rtol is None else float(rtol)

        def precondition(R):
            m, r = inverse.shape[:2]
            return (inverse @ R.reshape(m, r, -1)).reshape(R.shape)

        def solve(B):
            return np.stack([_pcg(lambda v: self._matmat(v[:, None])[:, 0] + shift * v, precondition, b, tol)
                             for b in B.T], axis=1)

        return Factorization(shift, "block-jacobi-pcg", self.shape[0], _NUMPY, solve)


def _pcg(apply, precondition, b, rtol, maxiter=None):
    """Preconditioned conjugate gradients for a symmetric positive definite A (Nocedal & Wright, Algorithm 5.3):
    x with ||b - A x|| <= rtol ||b||; NotPositiveDefinite if a direction of non-positive curvature appears."""
    x = np.zeros_like(b)
    res = b.copy()
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return x
    z = precondition(res[:, None])[:, 0]
    p = z.copy()
    rz = float(res @ z)
    for _ in range(maxiter or 10 * b.size):
        Ap = apply(p)
        curvature = float(p @ Ap)
        if curvature <= 0.0:
            raise NotPositiveDefinite("conjugate gradients met non-positive curvature in J*'J* + shift I")
        alpha = rz / curvature
        x += alpha * p
        res -= alpha * Ap
        if float(np.linalg.norm(res)) <= rtol * bnorm:
            break
        z = precondition(res[:, None])[:, 0]
        rz, rz_old = float(res @ z), rz
        p = z + (rz / rz_old) * p
    return x


# ricci.solvers' table of column-scaling rules (_jacobian.scale_columns) gets one for ProjectedJacobian, so that
# Levenberg-Marquardt's scaling stays in the operator and its Gram rather than in a generic scaled Gram.
@scale_columns.register
def _(J: ProjectedJacobian, s):  # the column scaling stays in the operator (and in its Gram's structure)
    return replace(J, scale=np.asarray(s) if J.scale is None else J.scale * np.asarray(s),
                   unscaled_gram=J.unscaled_gram_array() if J.dense_gram else None)


@dataclass(frozen=True, eq=False)
class ReducedProblem:
    """min_U 1/2 ||r*(U)||^2 for ``least_squares``: ``residual(u)`` and ``jac_operator(u)`` (RW2) on the flat
    u = U.ravel(). ``dense_gram_limit``: the largest m r for which J* offers its dense Gram; above it, the
    Gram is a ``ReducedGram`` (block-Jacobi preconditioned CG solves)."""

    data: FactorizationData
    dense_gram_limit: int = DENSE_GRAM_LIMIT

    def _U(self, u):
        return np.asarray(u, dtype=np.float64).reshape(self.data.m, self.data.rank)

    def residual(self, u):
        return reduced_residual(self.data, self._U(u))

    def jac_operator(self, u):
        U = self._U(u)
        dense = self.data.m * self.data.rank <= self.dense_gram_limit
        return ProjectedJacobian(self.data, U, ridge_factor(self.data, U), dense_gram=dense)

    jacobian = jac_operator

    def full_point(self, u) -> np.ndarray:
        """x = [U.ravel(), V*(U).ravel()], packed as the problem packs it."""
        U = self._U(u)
        return self.data.pack(U, ridge_factor(self.data, U).V)


# ---- the solver ------------------------------------------------------------------------------------------------
def varpro(problem, x0=None, *, tol=None, callback=None, maxiter=None, dense_gram_limit=DENSE_GRAM_LIMIT,
           **options):
    """Minimize a matrix-factorization problem's f by variable projection: V = V*(U) eliminated exactly, and
    Levenberg-Marquardt (``ricci.solvers.least_squares(method="lm")``) on the reduced residual r*(U) with its
    RW2 Jacobian (module docstring). Only U of ``x0`` (default ``problem.x0``) is used: V starts at V*(U0).

    ``tol`` (default 1e-5, the gtol of ``minimize``) is the stopping test of every ricci method: max_i |df/dx_i|
    <= tol for the full f at x = [U, V*(U)] (its V part vanishes there, its U part is the reduced gradient).
    ``maxiter`` bounds the residual evaluations (``max_nfev``); further options go to ``least_squares``.
    Returns a scipy OptimizeResult: x (packed as the problem packs it), fun = f(x), jac = grad f(x), success
    (|jac|_inf <= tol), nit (accepted steps), nfev, njev, message, status, and ``reduced`` (the least-squares
    result on U).
    """
    data = problem if isinstance(problem, FactorizationData) else FactorizationData.from_problem(problem)
    if isinstance(problem, FactorizationData) and x0 is None:
        raise ValueError("x0 is needed when the data is given without its problem")
    start = problem.x0 if x0 is None else x0
    if hasattr(start, "get") and not isinstance(start, np.ndarray):
        start = start.get()  # a CuPy vector: variable projection runs on the host
    U0, _ = data.unpack(start)
    if tol is None:
        tol = 1e-5
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0; got {tol!r}")
    if not (isinstance(dense_gram_limit, int) and dense_gram_limit >= 0):
        raise ValueError(f"dense_gram_limit must be an integer >= 0; got {dense_gram_limit!r}")
    reduced = ReducedProblem(data, dense_gram_limit)
    stopping = {"optimality_tol": float(tol), "ftol": None, "xtol": None, "gtol": None}
    if maxiter is not None:
        stopping["max_nfev"] = max(1, int(maxiter))
    started = time.perf_counter()
    res = least_squares(reduced, U0.ravel(), method="lm", callback=callback, **{**stopping, **options})
    U = np.asarray(res.x).reshape(data.m, data.rank)
    V = ridge_factor(data, U).V
    gU, gV = data.gradient(U, V)
    g = data.pack(gU, gV)
    gmax = float(np.max(np.abs(g)))
    success = gmax <= tol
    message = (f"variable projection: |grad f|_inf = {gmax:.3g} {'<=' if success else '>'} tol = {tol:g}; "
               f"reduced problem: {res.message}")
    return OptimizeResult(x=data.pack(U, V), fun=data.value(U, V), jac=g, success=bool(success),
                          status=int(res.status), message=message, nit=int(getattr(res, "nit", res.njev)),
                          nfev=int(res.nfev), njev=int(res.njev), time=time.perf_counter() - started,
                          reduced=res, method="varpro")


VARPRO = Method(
    name="varpro", family="least_squares", function=varpro, derivatives="jacobian", options=None,
    description="variable projection: V*(U) by ridge solves, Levenberg-Marquardt on U (RW2 Jacobian); "
                "matrix-factorization problems only")
"""The record ``Problem.solve``, ``method_for`` and ``ricci solve --method varpro`` use (not in
``ricci.solvers.METHOD_REGISTRY``: it needs a factorization problem, not a residual function). Its family is
"least_squares": its callback reports the reduced cost f(U, V*(U)) and the reduced gradient's norm."""


def varpro_method(problem) -> Method:
    """The ``VARPRO`` record if ``problem`` is a matrix factorization; ValueError listing its methods otherwise."""
    if getattr(problem, "family", None) != "factorization":
        raise ValueError(f"method 'varpro' is for matrix-factorization problems; {problem.name!r} is of family "
                         f"{problem.family!r}. Valid methods for it: {', '.join(problem.methods)}")
    return VARPRO
