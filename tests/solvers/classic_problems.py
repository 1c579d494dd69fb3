"""Classic unconstrained test problems with hand-written exact derivatives (More, Garbow & Hillstrom, 1981,
"Testing unconstrained optimization software", ACM TOMS 7(1); numbers below are theirs).

Every function is written once against the array-API namespace of its argument, so the same problem runs on
NumPy and on array-api-strict arrays. The derivatives are checked against finite differences in
test_solvers_problems.py, so a typo here cannot pass as a solver bug. A helper module, not a test module:
tests reach it through the fixtures of conftest.py, which loads it by path.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace


def _vec(xp, entries, like):
    return xp.stack([e if hasattr(e, "shape") else xp.asarray(e, dtype=like.dtype) for e in entries])


def _mat(xp, rows, like):
    return xp.stack([_vec(xp, row, like) for row in rows])


@dataclass(frozen=True)
class Problem:
    name: str
    x0: tuple
    fun: Callable
    jac: Callable
    hess: Callable
    minimizers: tuple  # known minimizers (any one may be reached); empty: check f only
    f_min: tuple  # objective values at acceptable minima
    x_tol: float = 1e-5  # relative distance to a minimizer
    f_tol: float = 1e-10  # absolute tolerance on f - f_min
    residual: Callable | None = None  # for least-squares problems: f = sum(residual**2)
    residual_jac: Callable | None = None
    notes: str = ""

    @property
    def n(self):
        return len(self.x0)

    def hessp(self, x, p):
        return self.hess(x) @ p

    @property
    def derivatives(self) -> dict:
        """``jac=`` and ``hess=`` for ``minimize(problem.fun, x0, **problem.derivatives)``."""
        return {"jac": self.jac, "hess": self.hess}

    def reached(self, x, f) -> bool:
        fx = float(f)
        if not any(abs(fx - fm) <= self.f_tol * max(1.0, abs(fm)) for fm in self.f_min):
            return False
        if not self.minimizers:
            return True
        xn = np.asarray(to_numpy(x), dtype=np.float64)
        return any(np.linalg.norm(xn - np.asarray(m)) <= self.x_tol * max(1.0, np.linalg.norm(m))
                   for m in self.minimizers)


def to_numpy(x):
    """A NumPy copy of a vector of NumPy or array-api-strict."""
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):  # array-api-strict may refuse implicit conversion
        return np.asarray([float(x[i]) for i in range(x.shape[0])])


def sum_of_squares(residual, residual_jac):
    """f = sum r_i^2 with g = 2 J'r and H = 2 (J'J + sum r_i Hess r_i) built by the caller."""

    def fun(x):
        r = residual(x)
        xp = array_namespace(r)
        return xp.sum(r * r)

    def jac(x):
        r, J = residual(x), residual_jac(x)
        xp = array_namespace(r)
        return 2.0 * (xp.linalg.matrix_transpose(J) @ r)

    return fun, jac


# --- Rosenbrock (MGH 1) ---------------------------------------------------------------------------
def rosen_r(x):
    xp = array_namespace(x)
    return _vec(xp, [10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]], x)


def rosen_J(x):
    xp = array_namespace(x)
    return _mat(xp, [[-20.0 * x[0], 10.0], [-1.0, 0.0]], x)


def rosen(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


def rosen_g(x):
    xp = array_namespace(x)
    return _vec(xp, [-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)], x)


def rosen_h(x):
    xp = array_namespace(x)
    return _mat(xp, [[1200.0 * x[0] ** 2 - 400.0 * x[1] + 2.0, -400.0 * x[0]], [-400.0 * x[0], 200.0]], x)


# --- Extended Rosenbrock (MGH 21), n even ---------------------------------------------------------
def _interleave(xp, a, b):
    return xp.reshape(xp.stack([a, b], axis=1), (-1,))


def xrosen(x):
    xp = array_namespace(x)
    odd, even = x[0::2], x[1::2]
    return xp.sum(100.0 * (even - odd**2) ** 2 + (1.0 - odd) ** 2)


def xrosen_g(x):
    xp = array_namespace(x)
    odd, even = x[0::2], x[1::2]
    return _interleave(xp, -400.0 * odd * (even - odd**2) - 2.0 * (1.0 - odd), 200.0 * (even - odd**2))


def xrosen_h(x):
    xp = array_namespace(x)
    n = x.shape[0]
    odd, even = x[0::2], x[1::2]
    diag = _interleave(xp, 1200.0 * odd**2 - 400.0 * even + 2.0, 200.0 * xp.ones_like(even))
    off = _interleave(xp, -400.0 * odd, xp.zeros_like(odd))  # entry (i, i+1) for even i
    eye = xp.eye(n, dtype=x.dtype)
    upper = xp.eye(n, k=1, dtype=x.dtype) * off[:, None]
    return eye * diag[None, :] + upper + xp.linalg.matrix_transpose(upper)


def xrosen_r(x):
    xp = array_namespace(x)
    odd, even = x[0::2], x[1::2]
    return _interleave(xp, 10.0 * (even - odd**2), 1.0 - odd)


def xrosen_J(x):
    xp = array_namespace(x)
    n = x.shape[0]
    odd = x[0::2]
    # row 2i: d/dx_{2i} = -20 x_{2i}, d/dx_{2i+1} = 10 ; row 2i+1: d/dx_{2i} = -1
    diag = _interleave(xp, -20.0 * odd, xp.zeros_like(odd))
    upper_vals = _interleave(xp, 10.0 * xp.ones_like(odd), xp.zeros_like(odd))
    lower_vals = _interleave(xp, -1.0 * xp.ones_like(odd), xp.zeros_like(odd))
    eye = xp.eye(n, dtype=x.dtype)
    return (eye * diag[None, :] + xp.eye(n, k=1, dtype=x.dtype) * upper_vals[:, None]
            + xp.eye(n, k=-1, dtype=x.dtype) * lower_vals[None, :])


# --- Powell singular (MGH 13) ---------------------------------------------------------------------
def powell_r(x):
    xp = array_namespace(x)
    return _vec(xp, [x[0] + 10.0 * x[1], math.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2.0 * x[2]) ** 2,
                     math.sqrt(10.0) * (x[0] - x[3]) ** 2], x)


def powell_J(x):
    xp = array_namespace(x)
    s5, s10 = math.sqrt(5.0), math.sqrt(10.0)
    a, b = x[1] - 2.0 * x[2], x[0] - x[3]
    return _mat(xp, [[1.0, 10.0, 0.0, 0.0], [0.0, 0.0, s5, -s5], [0.0, 2.0 * a, -4.0 * a, 0.0],
                     [2.0 * s10 * b, 0.0, 0.0, -2.0 * s10 * b]], x)


def powell_h(x):
    xp = array_namespace(x)
    a, b = x[1] - 2.0 * x[2], x[0] - x[3]
    A, B = 12.0 * a**2, 120.0 * b**2  # second derivatives of a^4 and 10 b^4
    return _mat(xp, [[2.0 + B, 20.0, 0.0, -B],
                     [20.0, 200.0 + A, -2.0 * A, 0.0],
                     [0.0, -2.0 * A, 10.0 + 4.0 * A, -10.0],
                     [-B, 0.0, -10.0, 10.0 + B]], x)


# --- Beale (MGH 5) --------------------------------------------------------------------------------
_BEALE_Y = (1.5, 2.25, 2.625)


def beale_r(x):
    xp = array_namespace(x)
    return _vec(xp, [y - x[0] * (1.0 - x[1] ** i) for i, y in enumerate(_BEALE_Y, start=1)], x)


def beale_J(x):
    xp = array_namespace(x)
    return _mat(xp, [[-(1.0 - x[1] ** i), i * x[0] * x[1] ** (i - 1)] for i in (1, 2, 3)], x)


def beale_h(x):
    xp = array_namespace(x)
    r, J = beale_r(x), beale_J(x)
    # Hessians of r_i: d2/dx1dx2 = i x2^(i-1), d2/dx2^2 = i (i-1) x1 x2^(i-2), d2/dx1^2 = 0
    second = 0.0
    terms = []
    for i in (1, 2, 3):
        ri = r[i - 1]
        h12 = i * x[1] ** (i - 1)
        h22 = i * (i - 1) * x[0] * x[1] ** (i - 2) if i >= 2 else 0.0 * x[0]
        terms.append((ri, h12, h22))
    s12 = sum(ri * h12 for ri, h12, _ in terms)
    s22 = sum(ri * h22 for ri, _, h22 in terms)
    second = _mat(xp, [[0.0 * x[0], s12], [s12, s22]], x)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + second)


# --- Brown badly scaled (MGH 4) -------------------------------------------------------------------
def brown_r(x):
    xp = array_namespace(x)
    return _vec(xp, [x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0], x)


def brown_J(x):
    xp = array_namespace(x)
    return _mat(xp, [[1.0, 0.0], [0.0, 1.0], [x[1], x[0]]], x)


def brown_h(x):
    xp = array_namespace(x)
    J, r = brown_J(x), brown_r(x)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + _mat(xp, [[0.0, r[2]], [r[2], 0.0]], x))


# --- Helical valley (MGH 7) -----------------------------------------------------------------------
def _theta(x):
    t = math.atan(float(x[1]) / float(x[0])) / (2.0 * math.pi) if float(x[0]) != 0 else 0.25
    return t + 0.5 if float(x[0]) < 0 else t


def helical_r(x):
    xp = array_namespace(x)
    r = xp.sqrt(x[0] ** 2 + x[1] ** 2)
    return _vec(xp, [10.0 * (x[2] - 10.0 * _theta(x)), 10.0 * (r - 1.0), x[2]], x)


def helical_J(x):
    xp = array_namespace(x)
    r2 = x[0] ** 2 + x[1] ** 2
    r = xp.sqrt(r2)
    t1, t2 = -x[1] / (2.0 * math.pi * r2), x[0] / (2.0 * math.pi * r2)
    return _mat(xp, [[-100.0 * t1, -100.0 * t2, 10.0], [10.0 * x[0] / r, 10.0 * x[1] / r, 0.0],
                     [0.0, 0.0, 1.0]], x)


def helical_h(x):
    xp = array_namespace(x)
    J, res = helical_J(x), helical_r(x)
    x1, x2 = x[0], x[1]
    r2 = x1**2 + x2**2
    r = xp.sqrt(r2)
    pi = math.pi
    # Hessian of theta
    t11, t12, t22 = x1 * x2 / (pi * r2**2), (x2**2 - x1**2) / (2 * pi * r2**2), -x1 * x2 / (pi * r2**2)
    # Hessian of r
    q11, q12, q22 = x2**2 / r**3, -x1 * x2 / r**3, x1**2 / r**3
    u, v = res[0], res[1]  # u = 10 (x3 - 10 theta), v = 10 (r - 1)
    # sum_i r_i Hess(r_i): Hess(u) = -100 Hess(theta), Hess(v) = 10 Hess(r)
    s11 = -100.0 * u * t11 + 10.0 * v * q11
    s12 = -100.0 * u * t12 + 10.0 * v * q12
    s22 = -100.0 * u * t22 + 10.0 * v * q22
    z = 0.0 * x1
    second = _mat(xp, [[s11, s12, z], [s12, s22, z], [z, z, z]], x)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + second)


# --- Wood (MGH 14) --------------------------------------------------------------------------------
def wood_r(x):
    xp = array_namespace(x)
    s90, s10, s01 = math.sqrt(90.0), math.sqrt(10.0), math.sqrt(0.1)
    return _vec(xp, [10.0 * (x[1] - x[0] ** 2), 1.0 - x[0], s90 * (x[3] - x[2] ** 2), 1.0 - x[2],
                     s10 * (x[1] + x[3] - 2.0), s01 * (x[1] - x[3])], x)


def wood_J(x):
    xp = array_namespace(x)
    s90, s10, s01 = math.sqrt(90.0), math.sqrt(10.0), math.sqrt(0.1)
    return _mat(xp, [[-20.0 * x[0], 10.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0],
                     [0.0, 0.0, -2.0 * s90 * x[2], s90], [0.0, 0.0, -1.0, 0.0],
                     [0.0, s10, 0.0, s10], [0.0, s01, 0.0, -s01]], x)


def wood_h(x):
    xp = array_namespace(x)
    J, r = wood_J(x), wood_r(x)
    z = 0.0 * x[0]
    s90 = math.sqrt(90.0)
    second = _mat(xp, [[-20.0 * r[0], z, z, z], [z, z, z, z], [z, z, -2.0 * s90 * r[2], z], [z, z, z, z]], x)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + second)


# --- Freudenstein and Roth (MGH 2) ----------------------------------------------------------------
def froth_r(x):
    xp = array_namespace(x)
    a, b = x[0], x[1]
    return _vec(xp, [-13.0 + a + ((5.0 - b) * b - 2.0) * b, -29.0 + a + ((b + 1.0) * b - 14.0) * b], x)


def froth_J(x):
    xp = array_namespace(x)
    b = x[1]
    return _mat(xp, [[1.0, 10.0 * b - 3.0 * b**2 - 2.0], [1.0, 3.0 * b**2 + 2.0 * b - 14.0]], x)


def froth_h(x):
    xp = array_namespace(x)
    J, r = froth_J(x), froth_r(x)
    b = x[1]
    z = 0.0 * b
    s22 = r[0] * (10.0 - 6.0 * b) + r[1] * (6.0 * b + 2.0)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + _mat(xp, [[z, z], [z, s22]], x))


# --- Box three-dimensional (MGH 12), m = 10 -------------------------------------------------------
_BOX_T = tuple(0.1 * i for i in range(1, 11))


def box_r(x):
    xp = array_namespace(x)
    t = xp.asarray(_BOX_T, dtype=x.dtype)
    return xp.exp(-t * x[0]) - xp.exp(-t * x[1]) - x[2] * (xp.exp(-t) - xp.exp(-10.0 * t))


def box_J(x):
    xp = array_namespace(x)
    t = xp.asarray(_BOX_T, dtype=x.dtype)
    return xp.stack([-t * xp.exp(-t * x[0]), t * xp.exp(-t * x[1]), -(xp.exp(-t) - xp.exp(-10.0 * t))], axis=1)


def box_h(x):
    xp = array_namespace(x)
    t = xp.asarray(_BOX_T, dtype=x.dtype)
    r, J = box_r(x), box_J(x)
    z = 0.0 * x[0]
    s11 = xp.sum(r * t * t * xp.exp(-t * x[0]))
    s22 = xp.sum(-r * t * t * xp.exp(-t * x[1]))
    second = _mat(xp, [[s11, z, z], [z, s22, z], [z, z, z]], x)
    return 2.0 * (xp.linalg.matrix_transpose(J) @ J + second)


# --- a convex quadratic and a double well (indefinite Hessian at the start) ------------------------
_rng = np.random.default_rng(20240601)
_M = _rng.standard_normal((8, 8))
QUAD_A = _M @ _M.T + 0.5 * np.eye(8)
QUAD_B = _rng.standard_normal(8)
QUAD_XSTAR = np.linalg.solve(QUAD_A, QUAD_B)


def quad(x):
    xp = array_namespace(x)
    A, b = xp.asarray(QUAD_A, dtype=x.dtype), xp.asarray(QUAD_B, dtype=x.dtype)
    return 0.5 * xp.sum(x * (A @ x)) - xp.sum(b * x)


def quad_g(x):
    xp = array_namespace(x)
    return xp.asarray(QUAD_A, dtype=x.dtype) @ x - xp.asarray(QUAD_B, dtype=x.dtype)


def quad_h(x):
    xp = array_namespace(x)
    return xp.asarray(QUAD_A, dtype=x.dtype)


def well(x):  # (x1^2 - 1)^2 + (x2 - x1)^2: minima (1, 1) and (-1, -1); H_11 < 0 near x1 = 0
    return (x[0] ** 2 - 1.0) ** 2 + (x[1] - x[0]) ** 2


def well_g(x):
    xp = array_namespace(x)
    return _vec(xp, [4.0 * x[0] * (x[0] ** 2 - 1.0) - 2.0 * (x[1] - x[0]), 2.0 * (x[1] - x[0])], x)


def well_h(x):
    xp = array_namespace(x)
    return _mat(xp, [[12.0 * x[0] ** 2 - 4.0 + 2.0, -2.0], [-2.0, 2.0]], x)


def _ls_problem(name, x0, r, J, h, minimizers, f_min, **kw):
    fun, jac = sum_of_squares(r, J)
    return Problem(name, tuple(x0), fun, jac, h, tuple(minimizers), tuple(f_min), residual=r, residual_jac=J,
                   **kw)


PROBLEMS = (
    _ls_problem("rosenbrock", (-1.2, 1.0), rosen_r, rosen_J, rosen_h, [(1.0, 1.0)], [0.0]),
    _ls_problem("extended_rosenbrock_100", (-1.2, 1.0) * 50, xrosen_r, xrosen_J, xrosen_h, [(1.0,) * 100], [0.0]),
    _ls_problem("powell_singular", (3.0, -1.0, 0.0, 1.0), powell_r, powell_J, powell_h, [(0.0,) * 4], [0.0],
                x_tol=1e-2, notes="singular Hessian at the solution: linear convergence"),
    _ls_problem("beale", (1.0, 1.0), beale_r, beale_J, beale_h, [(3.0, 0.5)], [0.0]),
    _ls_problem("brown_badly_scaled", (1.0, 1.0), brown_r, brown_J, brown_h, [(1e6, 2e-6)], [0.0], x_tol=1e-8),
    _ls_problem("helical_valley", (-1.0, 0.0, 0.0), helical_r, helical_J, helical_h, [(1.0, 0.0, 0.0)], [0.0]),
    _ls_problem("wood", (-3.0, -1.0, -3.0, -1.0), wood_r, wood_J, wood_h, [(1.0,) * 4], [0.0]),
    _ls_problem("freudenstein_roth", (0.5, -2.0), froth_r, froth_J, froth_h,
                [(5.0, 4.0), (11.41277899, -0.89680525)], [0.0, 48.98425367924], x_tol=1e-6,
                notes="from the standard start many methods reach the local minimum f = 48.98"),
    _ls_problem("box_3d", (0.0, 10.0, 20.0), box_r, box_J, box_h, [], [0.0],
                notes="minimizers (1, 10, 1), (10, 1, -1) and the line x1 = x2, x3 = 0"),
    Problem("convex_quadratic", (0.0,) * 8, quad, quad_g, quad_h, (tuple(QUAD_XSTAR),),
            (float(-0.5 * QUAD_B @ QUAD_XSTAR),), f_tol=1e-10),
    Problem("indefinite_start", (0.05, -0.3), well, well_g, well_h, ((1.0, 1.0), (-1.0, -1.0)), (0.0,)),
)

# The Rosenbrock-based problems share the hand-written function/gradient/Hessian with the residual form;
# override with the direct formulas so that both codings are exercised.
PROBLEMS = tuple(
    Problem(p.name, p.x0, rosen, rosen_g, rosen_h, p.minimizers, p.f_min, p.x_tol, p.f_tol, p.residual,
            p.residual_jac, p.notes) if p.name == "rosenbrock"
    else Problem(p.name, p.x0, xrosen, xrosen_g, xrosen_h, p.minimizers, p.f_min, p.x_tol, p.f_tol, p.residual,
                 p.residual_jac, p.notes) if p.name == "extended_rosenbrock_100"
    else p
    for p in PROBLEMS
)
BY_NAME = {p.name: p for p in PROBLEMS}
LEAST_SQUARES = tuple(p for p in PROBLEMS if p.residual is not None)
