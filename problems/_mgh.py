"""The unconstrained test set of More, Garbow & Hillstrom as symbolic residuals.

Source: J. J. More, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained optimization software",
ACM Transactions on Mathematical Software 7(1), 17-41 (1981). Each problem is a system of m residuals
f_1(x), ..., f_m(x) in n unknowns, and the objective is the paper's

    f(x) = sum_i f_i(x)^2

(no factor 1/2: ``Problem.residual_weight`` is 1, so ``least_squares``' cost 1/2 ||r||^2 is f/2). Starting
points are the paper's standard x0; minima are the paper's f* (given there to about six digits) and, where the
paper states one, a minimizer. All 35 problems are here, numbered as in the paper (Section 3).

Each residual is one symbolic vector expression in the unknown ``x = rs.Vector("x", n)``: a component x_j is
the entry ``x[j - 1]``, a run of components a slice (``x[1:]``, every other one ``x[0::2]``), and a residual
assembled from pieces their concatenation (``rs.stack`` for scalars, ``rs.concat`` for vectors), so ricci
derives exact Jacobians and Hessians for every problem with no constant selector or unit vectors.
"""
from __future__ import annotations

import math

import numpy as np
import ricci.symbolic as rs

from ._problem import Problem, register

SOURCE = ("More, Garbow & Hillstrom, 'Testing unconstrained optimization software', "
          "ACM TOMS 7(1):17-41, 1981, problem {number}")


# ----------------------------------------------------------------------------------------------------------
# Building blocks: components, placement, the record
# ----------------------------------------------------------------------------------------------------------


def components(x: rs.Expr, n: int) -> list:
    """The scalars x_1, ..., x_n of a length-n vector expression: its entries x[0], ..., x[n-1]."""
    return [x[j] for j in range(n)]


def stack(parts: list) -> rs.Expr:
    """The vector (p_1, ..., p_m) of scalar expressions."""
    return rs.stack(parts)


def _runs(positions: list) -> list:
    """(first, last) of each maximal run of consecutive positions, in order."""
    runs = []
    for p in positions:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return [tuple(r) for r in runs]


def place(m: int, rows, v: rs.Expr) -> rs.Expr:
    """A length-m vector with the entries of the vector v in the given (distinct) rows and zeros elsewhere:
    zeros and slices of v concatenated, a run of consecutive rows taking one slice."""
    rows = [int(r) for r in rows]
    if len(set(rows)) != len(rows) or any(not 0 <= r < m for r in rows):
        raise ValueError(f"place: rows must be distinct and within 0..{m - 1}, got {rows}")
    order = sorted(range(len(rows)), key=rows.__getitem__)  # entries of v by their row
    pieces, at, k = [], 0, 0
    while k < len(order):
        j = k
        while j + 1 < len(order) and rows[order[j + 1]] == rows[order[j]] + 1 and order[j + 1] == order[j] + 1:
            j += 1
        if rows[order[k]] > at:
            pieces.append(rs.zeros(rows[order[k]] - at))
        pieces.append(v[order[k]:order[j] + 1])
        at, k = rows[order[j]] + 1, j + 1
    if at < m:
        pieces.append(rs.zeros(m - at))
    return rs.concat(pieces)


def select(n: int, cols, x: rs.Expr) -> rs.Expr:
    """The sub-vector (x_c for c in cols) of a length-n vector: one slice where cols step evenly upwards
    (``x[1:n:2]``), else slices of the runs of consecutive columns concatenated."""
    cols = [int(c) for c in cols]
    if not cols or any(not 0 <= c < n for c in cols):
        raise ValueError(f"select: cols must be a non-empty list within 0..{n - 1}, got {cols}")
    steps = {b - a for a, b in zip(cols, cols[1:])}
    if len(steps) <= 1 and min(steps, default=1) >= 1:
        return x[cols[0]:cols[-1] + 1:min(steps, default=1)]
    return rs.concat([x[a:b + 1] for a, b in _runs(cols)])


def _mgh(name, number, n, residual, x0, minimum, minimizer=None, local_minima=(), description="", params=None):
    x = rs.Vector("x", n)
    r = residual(x)
    ls = rs.LeastSquares(r, x)
    obj = rs.Objective(r @ r, x)
    return Problem(
        name=name, objective=obj, x0=np.asarray(x0, dtype=float), description=description,
        source=SOURCE.format(number=number), family="mgh", residual=ls, residual_weight=1.0,
        minimum=minimum, minimizer=minimizer, local_minima=local_minima, params=params or {},
    )


def _check_n(name, n, *, at_least=1, multiple_of=1, at_most=None):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name}: n must be an int, got {type(n).__name__}")
    if n < at_least or n % multiple_of or (at_most is not None and n > at_most):
        rule = f"an integer >= {at_least}"
        if multiple_of > 1:
            rule += f" and a multiple of {multiple_of}"
        if at_most is not None:
            rule += f" and <= {at_most}"
        raise ValueError(f"{name}: n must be {rule}, got {n}")
    return int(n)


def _check_m(name, m, n, at_most=None):
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < n or (at_most is not None and m > at_most):
        upper = f" and <= {at_most}" if at_most is not None else ""
        raise ValueError(f"{name}: m must be an integer >= n = {n}{upper}, got {m!r}")
    return int(m)


# ----------------------------------------------------------------------------------------------------------
# Problems 1-19: fixed dimension
# ----------------------------------------------------------------------------------------------------------


@register("rosenbrock", "mgh", "MGH 1: Rosenbrock, n = 2")
def rosenbrock() -> Problem:
    """f_1 = 10 (x_2 - x_1^2), f_2 = 1 - x_1; x0 = (-1.2, 1); f* = 0 at (1, 1)."""
    def r(x):
        x1, x2 = components(x, 2)
        return stack([10 * (x2 - x1**2), 1 - x1])
    return _mgh("rosenbrock", 1, 2, r, [-1.2, 1.0], 0.0, [1.0, 1.0], description="Rosenbrock's banana valley")


@register("freudenstein-roth", "mgh", "MGH 2: Freudenstein and Roth, n = 2")
def freudenstein_roth() -> Problem:
    """f_1 = -13 + x_1 + ((5 - x_2) x_2 - 2) x_2, f_2 = -29 + x_1 + ((x_2 + 1) x_2 - 14) x_2; x0 = (0.5, -2);
    f* = 0 at (5, 4), and a local minimum f = 48.9842... at (11.41..., -0.8968...)."""
    def r(x):
        x1, x2 = components(x, 2)
        return stack([-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2])
    return _mgh("freudenstein-roth", 2, 2, r, [0.5, -2.0], 0.0, [5.0, 4.0],
                local_minima=((48.9842536792400, [11.4127789869021, -0.896805253274477]),),
                description="Freudenstein and Roth: a global and a local minimum")


@register("powell-badly-scaled", "mgh", "MGH 3: Powell badly scaled, n = 2")
def powell_badly_scaled() -> Problem:
    """f_1 = 10^4 x_1 x_2 - 1, f_2 = exp(-x_1) + exp(-x_2) - 1.0001; x0 = (0, 1); f* = 0 at
    (1.098...e-5, 9.106...)."""
    def r(x):
        x1, x2 = components(x, 2)
        return stack([1e4 * x1 * x2 - 1, rs.exp(-x1) + rs.exp(-x2) - 1.0001])
    return _mgh("powell-badly-scaled", 3, 2, r, [0.0, 1.0], 0.0, [1.09815932969e-05, 9.10614673986],
                description="Powell's badly scaled function")


@register("brown-badly-scaled", "mgh", "MGH 4: Brown badly scaled, n = 2")
def brown_badly_scaled() -> Problem:
    """f_1 = x_1 - 10^6, f_2 = x_2 - 2 10^-6, f_3 = x_1 x_2 - 2; x0 = (1, 1); f* = 0 at (10^6, 2 10^-6)."""
    def r(x):
        x1, x2 = components(x, 2)
        return stack([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2])
    return _mgh("brown-badly-scaled", 4, 2, r, [1.0, 1.0], 0.0, [1e6, 2e-6], description="Brown's badly scaled function")


@register("beale", "mgh", "MGH 5: Beale, n = 2")
def beale() -> Problem:
    """f_i = y_i - x_1 (1 - x_2^i), y = (1.5, 2.25, 2.625); x0 = (1, 1); f* = 0 at (3, 0.5)."""
    y = np.array([1.5, 2.25, 2.625])

    def r(x):
        x1, x2 = components(x, 2)
        return rs.const(y) - stack([x1 * (1 - x2**i) for i in (1, 2, 3)])
    return _mgh("beale", 5, 2, r, [1.0, 1.0], 0.0, [3.0, 0.5], description="Beale's function")


@register("jennrich-sampson", "mgh", "MGH 6: Jennrich and Sampson, n = 2, m = 10")
def jennrich_sampson() -> Problem:
    """f_i = 2 + 2i - (exp(i x_1) + exp(i x_2)), i = 1..10; x0 = (0.3, 0.4); f* = 124.362 at
    x_1 = x_2 = 0.2578."""
    i = np.arange(1, 11, dtype=float)

    def r(x):
        x1, x2 = components(x, 2)
        return rs.const(2 + 2 * i) - (rs.exp(x1 * rs.const(i)) + rs.exp(x2 * rs.const(i)))
    return _mgh("jennrich-sampson", 6, 2, r, [0.3, 0.4], 124.362182355, [0.257824532, 0.257824532],
                description="Jennrich and Sampson (m = 10)")


@register("helical-valley", "mgh", "MGH 7: helical valley, n = 3")
def helical_valley() -> Problem:
    """f_1 = 10 (x_3 - 10 theta(x_1, x_2)), f_2 = 10 (sqrt(x_1^2 + x_2^2) - 1), f_3 = x_3 with
    2 pi theta = arctan(x_2 / x_1) for x_1 > 0 and arctan(x_2 / x_1) + pi for x_1 < 0 (written here as
    arctan(x_2/x_1)/(2 pi) + (1 - sign(x_1))/4); x0 = (-1, 0, 0); f* = 0 at (1, 0, 0)."""
    def r(x):
        x1, x2, x3 = components(x, 3)
        theta = rs.arctan(x2 / x1) / (2 * math.pi) + 0.25 * (1 - rs.sign(x1))
        return stack([10 * (x3 - 10 * theta), 10 * (rs.sqrt(x1**2 + x2**2) - 1), x3])
    return _mgh("helical-valley", 7, 3, r, [-1.0, 0.0, 0.0], 0.0, [1.0, 0.0, 0.0], description="Fletcher and Powell's helical valley")


@register("bard", "mgh", "MGH 8: Bard, n = 3, m = 15")
def bard() -> Problem:
    """f_i = y_i - (x_1 + u_i / (v_i x_2 + w_i x_3)), u_i = i, v_i = 16 - i, w_i = min(u_i, v_i); x0 = (1, 1, 1);
    f* = 8.21487e-3 (and 17.4286 at (0.8406, -inf, -inf))."""
    y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])
    u = np.arange(1, 16, dtype=float)
    v = 16 - u
    w = np.minimum(u, v)

    def r(x):
        x1, x2, x3 = components(x, 3)
        return rs.const(y) - (x1 + rs.const(u) / (x2 * rs.const(v) + x3 * rs.const(w)))
    return _mgh("bard", 8, 3, r, [1.0, 1.0, 1.0], 8.21487730657e-3, [0.0824105597, 1.13303603, 2.34369507],
                local_minima=((17.4286, None),), description="Bard's data fit")


@register("gaussian", "mgh", "MGH 9: Gaussian, n = 3, m = 15")
def gaussian() -> Problem:
    """f_i = x_1 exp(-x_2 (t_i - x_3)^2 / 2) - y_i, t_i = (8 - i)/2; x0 = (0.4, 1, 0); f* = 1.12793e-8."""
    y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                  0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])
    t = (8 - np.arange(1, 16)) / 2.0

    def r(x):
        x1, x2, x3 = components(x, 3)
        d = rs.const(t) - x3
        return x1 * rs.exp(-0.5 * x2 * d**2) - rs.const(y)
    return _mgh("gaussian", 9, 3, r, [0.4, 1.0, 0.0], 1.12793276961e-8, [0.398956137, 1.00001908, 0.0],
                description="Gaussian data fit")


@register("meyer", "mgh", "MGH 10: Meyer, n = 3, m = 16")
def meyer() -> Problem:
    """f_i = x_1 exp(x_2 / (t_i + x_3)) - y_i, t_i = 45 + 5i; x0 = (0.02, 4000, 250); f* = 87.9458."""
    y = np.array([34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744,
                  8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872], dtype=float)
    t = 45 + 5 * np.arange(1, 17, dtype=float)

    def r(x):
        x1, x2, x3 = components(x, 3)
        return x1 * rs.exp(x2 / (rs.const(t) + x3)) - rs.const(y)
    return _mgh("meyer", 10, 3, r, [0.02, 4000.0, 250.0], 87.9458551718, [0.00560963647, 6181.34635, 345.223635],
                description="Meyer's thermistor data fit (badly scaled)")


@register("gulf", "mgh", "MGH 11: Gulf research and development, n = 3")
def gulf(m: int = 99) -> Problem:
    """f_i = exp(-|y_i - x_2|^x_3 / x_1) - t_i, t_i = i/100, y_i = 25 + (-50 ln t_i)^(2/3), 3 <= m <= 99
    (the paper allows m = 100, where y_100 = x_2 at the solution and the derivative of |.|^x_3 is undefined);
    x0 = (5, 2.5, 0.15); f* = 0 at (50, 25, 1.5)."""
    m = _check_m("gulf", m, 3, at_most=99)
    t = np.arange(1, m + 1) / 100.0
    y = 25 + (-50 * np.log(t)) ** (2 / 3)

    def r(x):
        x1, x2, x3 = components(x, 3)
        power = rs.exp(x3 * rs.log(rs.abs(rs.const(y) - x2)))  # |y_i - x_2| ** x_3
        return rs.exp(-power / x1) - rs.const(t)
    return _mgh("gulf", 11, 3, r, [5.0, 2.5, 0.15], 0.0, [50.0, 25.0, 1.5],
                description=f"Gulf research and development function (m = {m})", params={"m": m})


@register("box-3d", "mgh", "MGH 12: Box three-dimensional, n = 3")
def box_3d(m: int = 10) -> Problem:
    """f_i = exp(-t_i x_1) - exp(-t_i x_2) - x_3 (exp(-t_i) - exp(-10 t_i)), t_i = i/10; x0 = (0, 10, 20);
    f* = 0 at (1, 10, 1), (10, 1, -1) and wherever x_1 = x_2, x_3 = 0."""
    m = _check_m("box-3d", m, 3)
    t = np.arange(1, m + 1) / 10.0

    def r(x):
        x1, x2, x3 = components(x, 3)
        return rs.exp(-x1 * rs.const(t)) - rs.exp(-x2 * rs.const(t)) - x3 * rs.const(np.exp(-t) - np.exp(-10 * t))
    return _mgh("box-3d", 12, 3, r, [0.0, 10.0, 20.0], 0.0, None,
                description=f"Box's three-dimensional function (m = {m}; minimizers not unique)", params={"m": m})


def _powell_block(x1, x2, x3, x4):
    return [x1 + 10 * x2, math.sqrt(5) * (x3 - x4), (x2 - 2 * x3) ** 2, math.sqrt(10) * (x1 - x4) ** 2]


@register("powell-singular", "mgh", "MGH 13: Powell singular, n = 4")
def powell_singular() -> Problem:
    """f_1 = x_1 + 10 x_2, f_2 = sqrt(5) (x_3 - x_4), f_3 = (x_2 - 2 x_3)^2, f_4 = sqrt(10) (x_1 - x_4)^2;
    x0 = (3, -1, 0, 1); f* = 0 at the origin, where the Hessian is singular."""
    def r(x):
        return stack(_powell_block(*components(x, 4)))
    return _mgh("powell-singular", 13, 4, r, [3.0, -1.0, 0.0, 1.0], 0.0, [0.0] * 4,
                description="Powell's singular function (singular Hessian at the minimizer)")


@register("wood", "mgh", "MGH 14: Wood, n = 4")
def wood() -> Problem:
    """f_1 = 10 (x_2 - x_1^2), f_2 = 1 - x_1, f_3 = sqrt(90) (x_4 - x_3^2), f_4 = 1 - x_3,
    f_5 = sqrt(10) (x_2 + x_4 - 2), f_6 = (x_2 - x_4)/sqrt(10); x0 = (-3, -1, -3, -1); f* = 0 at (1, 1, 1, 1)."""
    def r(x):
        x1, x2, x3, x4 = components(x, 4)
        return stack([10 * (x2 - x1**2), 1 - x1, math.sqrt(90) * (x4 - x3**2), 1 - x3,
                      math.sqrt(10) * (x2 + x4 - 2), (x2 - x4) / math.sqrt(10)])
    return _mgh("wood", 14, 4, r, [-3.0, -1.0, -3.0, -1.0], 0.0, [1.0] * 4, description="Wood's function")


@register("kowalik-osborne", "mgh", "MGH 15: Kowalik and Osborne, n = 4, m = 11")
def kowalik_osborne() -> Problem:
    """f_i = y_i - x_1 (u_i^2 + u_i x_2) / (u_i^2 + u_i x_3 + x_4); x0 = (0.25, 0.39, 0.415, 0.39);
    f* = 3.07505e-4 (and 1.02734e-3 at (inf, -14.07..., -inf, -inf))."""
    y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
    u = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])

    def r(x):
        x1, x2, x3, x4 = components(x, 4)
        U = rs.const(u)
        # u_i^2 + u_i x_2 and u_i^2 + u_i x_3 + x_4, factored: Gauss-Newton's tight-tolerance solve (tol = 1e-10,
        # test_problems_solve) ends on the rounding floor of the cost, where last-bit differences decide it
        return rs.const(y) - x1 * (U * (U + x2)) / (U * (U + x3) + x4)
    return _mgh("kowalik-osborne", 15, 4, r, [0.25, 0.39, 0.415, 0.39], 3.07505603849e-4,
                [0.192806924, 0.191282514, 0.123056483, 0.136062263],
                local_minima=((1.02734e-3, None),), description="Kowalik and Osborne's enzyme reaction fit")


@register("brown-dennis", "mgh", "MGH 16: Brown and Dennis, n = 4, m = 20")
def brown_dennis(m: int = 20) -> Problem:
    """f_i = (x_1 + t_i x_2 - exp(t_i))^2 + (x_3 + x_4 sin t_i - cos t_i)^2, t_i = i/5; x0 = (25, 5, -5, -1);
    f* = 85822.2 for m = 20."""
    m = _check_m("brown-dennis", m, 4)
    t = np.arange(1, m + 1) / 5.0

    def r(x):
        x1, x2, x3, x4 = components(x, 4)
        a = x1 + x2 * rs.const(t) - rs.const(np.exp(t))
        b = x3 + x4 * rs.const(np.sin(t)) - rs.const(np.cos(t))
        return a**2 + b**2
    minimum = 85822.2016263563 if m == 20 else None
    minimizer = [-11.5944399, 13.2036301, -0.403439648, 0.236779176] if m == 20 else None
    return _mgh("brown-dennis", 16, 4, r, [25.0, 5.0, -5.0, -1.0], minimum, minimizer,
                description=f"Brown and Dennis (m = {m})", params={"m": m})


@register("osborne-1", "mgh", "MGH 17: Osborne 1, n = 5, m = 33")
def osborne_1() -> Problem:
    """f_i = y_i - (x_1 + x_2 exp(-t_i x_4) + x_3 exp(-t_i x_5)), t_i = 10 (i - 1);
    x0 = (0.5, 1.5, -1, 0.01, 0.02); f* = 5.46489e-5."""
    y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
                  0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
                  0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])
    t = 10.0 * np.arange(33)

    def r(x):
        x1, x2, x3, x4, x5 = components(x, 5)
        return rs.const(y) - (x1 + x2 * rs.exp(-x4 * rs.const(t)) + x3 * rs.exp(-x5 * rs.const(t)))
    return _mgh("osborne-1", 17, 5, r, [0.5, 1.5, -1.0, 0.01, 0.02], 5.46489469748e-5,
                [0.375410052, 1.93584692, -1.46468705, 0.0128675345, 0.0221226996],
                description="Osborne's exponential fit 1")


@register("biggs-exp6", "mgh", "MGH 18: Biggs EXP6, n = 6, m = 13")
def biggs_exp6(m: int = 13) -> Problem:
    """f_i = x_3 exp(-t_i x_1) - x_4 exp(-t_i x_2) + x_6 exp(-t_i x_5) - y_i, t_i = i/10,
    y_i = exp(-t_i) - 5 exp(-10 t_i) + 3 exp(-4 t_i); x0 = (1, 2, 1, 1, 1, 1); f* = 0 at (1, 10, 1, 5, 4, 3)
    (the paper notes a local minimum f = 5.65565e-3 for m = 13)."""
    m = _check_m("biggs-exp6", m, 6)
    t = np.arange(1, m + 1) / 10.0
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)

    def r(x):
        x1, x2, x3, x4, x5, x6 = components(x, 6)
        T = rs.const(t)
        return x3 * rs.exp(-x1 * T) - x4 * rs.exp(-x2 * T) + x6 * rs.exp(-x5 * T) - rs.const(y)
    local = ((5.65565e-3, None),) if m == 13 else ()
    return _mgh("biggs-exp6", 18, 6, r, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], 0.0, None, local_minima=local,
                description=f"Biggs EXP6 (m = {m}; the zero minimum has several minimizers)", params={"m": m})


_OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
    0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
    0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
    0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
    0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


@register("osborne-2", "mgh", "MGH 19: Osborne 2, n = 11, m = 65")
def osborne_2() -> Problem:
    """f_i = y_i - (x_1 exp(-t_i x_5) + x_2 exp(-(t_i - x_9)^2 x_6) + x_3 exp(-(t_i - x_10)^2 x_7)
    + x_4 exp(-(t_i - x_11)^2 x_8)), t_i = (i - 1)/10; x0 = (1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5);
    f* = 4.01377e-2."""
    t = np.arange(65) / 10.0

    def r(x):
        c = components(x, 11)
        T = rs.const(t)
        model = c[0] * rs.exp(-c[4] * T)
        for amp, width, centre in ((c[1], c[5], c[8]), (c[2], c[6], c[9]), (c[3], c[7], c[10])):
            model = model + amp * rs.exp(-width * (T - centre) ** 2)
        return rs.const(_OSBORNE2_Y) - model
    return _mgh("osborne-2", 19, 11, r, [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5],
                4.01377362935e-2, [1.30997715, 0.431553792, 0.633661699, 0.599430531, 0.754183223, 0.904288581,
                                   1.36581182, 4.82369882, 2.39868487, 4.56887460, 5.67534148],
                description="Osborne's sum of Gaussians fit 2")


# ----------------------------------------------------------------------------------------------------------
# Problems 20-35: variable dimension
# ----------------------------------------------------------------------------------------------------------


_WATSON_MINIMA = {6: 2.28767005355e-3, 9: 1.39976131e-6, 12: 4.72238e-10}


@register("watson", "mgh", "MGH 20: Watson, 2 <= n <= 31, m = 31")
def watson(n: int = 6) -> Problem:
    """f_i = sum_{j=2}^n (j-1) x_j t_i^(j-2) - (sum_{j=1}^n x_j t_i^(j-1))^2 - 1, t_i = i/29 (i = 1..29),
    f_30 = x_1, f_31 = x_2 - x_1^2 - 1; x0 = 0; f* = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9), 4.72238e-10 (n = 12)."""
    n = _check_n("watson", n, at_least=2, at_most=31)
    t = np.arange(1, 30) / 29.0
    j = np.arange(1, n + 1)
    A = np.where(j >= 2, (j - 1) * t[:, None] ** np.maximum(j - 2, 0), 0.0)  # d/dx of the polynomial part
    B = t[:, None] ** (j - 1)

    def r(x):
        x1, x2 = components(x, n)[:2]
        head = rs.const(A) @ x - (rs.const(B) @ x) ** 2 - 1
        return rs.concat([head, rs.stack([x1, x2 - x1**2 - 1])])
    return _mgh("watson", 20, n, r, np.zeros(n), _WATSON_MINIMA.get(n), None,
                description=f"Watson's polynomial fit (n = {n})", params={"n": n})


@register("extended-rosenbrock", "mgh", "MGH 21: extended Rosenbrock, n even")
def extended_rosenbrock(n: int = 10) -> Problem:
    """f_{2i-1} = 10 (x_{2i} - x_{2i-1}^2), f_{2i} = 1 - x_{2i-1}; x0 = (-1.2, 1, ..., -1.2, 1); f* = 0 at ones."""
    n = _check_n("extended-rosenbrock", n, at_least=2, multiple_of=2)

    def r(x):
        odd, even = x[0::2], x[1::2]  # x_{2i-1}, x_{2i}
        return rs.reshape(rs.stack([10 * (even - odd**2), 1 - odd], axis=1), (n,))  # f_{2i-1}, f_{2i} in turn
    return _mgh("extended-rosenbrock", 21, n, r, np.tile([-1.2, 1.0], n // 2), 0.0, np.ones(n),
                description=f"extended Rosenbrock (n = {n})", params={"n": n})


@register("extended-powell", "mgh", "MGH 22: extended Powell singular, n a multiple of 4")
def extended_powell(n: int = 8) -> Problem:
    """Powell's singular function on each block of four: f_{4i-3} = x_{4i-3} + 10 x_{4i-2},
    f_{4i-2} = sqrt(5) (x_{4i-1} - x_{4i}), f_{4i-1} = (x_{4i-2} - 2 x_{4i-1})^2, f_{4i} = sqrt(10) (x_{4i-3} - x_{4i})^2;
    x0 = (3, -1, 0, 1, ...); f* = 0 at the origin (singular Hessian)."""
    n = _check_n("extended-powell", n, at_least=4, multiple_of=4)

    def r(x):
        a, b, c, d = (x[k::4] for k in range(4))
        return rs.reshape(rs.stack(_powell_block(a, b, c, d), axis=1), (n,))  # f_{4i-3}, ..., f_{4i} in turn
    return _mgh("extended-powell", 22, n, r, np.tile([3.0, -1.0, 0.0, 1.0], n // 4), 0.0, np.zeros(n),
                description=f"extended Powell singular (n = {n}; singular Hessian at the minimizer)", params={"n": n})


@register("penalty-1", "mgh", "MGH 23: penalty function I")
def penalty_1(n: int = 4) -> Problem:
    """f_i = sqrt(1e-5) (x_i - 1), i = 1..n, f_{n+1} = sum x_j^2 - 1/4; x0_j = j; f* = 2.24997e-5 (n = 4),
    7.08765e-5 (n = 10)."""
    n = _check_n("penalty-1", n)
    minima = {4: 2.24997831e-5, 10: 7.08765146e-5}

    def r(x):
        return rs.concat([math.sqrt(1e-5) * (x - 1), rs.stack([x @ x - 0.25])])
    return _mgh("penalty-1", 23, n, r, np.arange(1.0, n + 1), minima.get(n), None,
                description=f"penalty function I (n = {n})", params={"n": n})


@register("penalty-2", "mgh", "MGH 24: penalty function II")
def penalty_2(n: int = 4) -> Problem:
    """f_1 = x_1 - 0.2; f_i = sqrt(a) (exp(x_i/10) + exp(x_{i-1}/10) - y_i), 2 <= i <= n;
    f_i = sqrt(a) (exp(x_{i-n+1}/10) - exp(-1/10)), n < i < 2n; f_2n = sum_j (n - j + 1) x_j^2 - 1;
    a = 1e-5, y_i = exp(i/10) + exp((i-1)/10); x0 = 1/2; f* = 9.37629e-6 (n = 4), 2.93660e-4 (n = 10)."""
    n = _check_n("penalty-2", n, at_least=2)
    minima = {4: 9.37629300e-6, 10: 2.93660498e-4}
    sa = math.sqrt(1e-5)
    i = np.arange(2, n + 1)
    y = np.exp(i / 10) + np.exp((i - 1) / 10)
    weights = np.arange(n, 0, -1, dtype=float)

    def r(x):
        e = rs.exp(x / 10)
        upper = e[1:] + e[:-1] - rs.const(y)
        lower = e[1:] - math.exp(-0.1)
        last = x @ (rs.const(weights) * x) - 1
        return rs.concat([rs.stack([x[0] - 0.2]), sa * upper, sa * lower, rs.stack([last])])
    return _mgh("penalty-2", 24, n, r, np.full(n, 0.5), minima.get(n), None,
                description=f"penalty function II (n = {n})", params={"n": n})


@register("variably-dimensioned", "mgh", "MGH 25: variably dimensioned")
def variably_dimensioned(n: int = 8) -> Problem:
    """f_i = x_i - 1 (i = 1..n), f_{n+1} = sum_j j (x_j - 1), f_{n+2} = (sum_j j (x_j - 1))^2; x0_j = 1 - j/n;
    f* = 0 at ones."""
    n = _check_n("variably-dimensioned", n)
    j = np.arange(1.0, n + 1)

    def r(x):
        s = rs.const(j) @ (x - 1)
        return rs.concat([x - 1, rs.stack([s, s**2])])
    return _mgh("variably-dimensioned", 25, n, r, 1 - j / n, 0.0, np.ones(n),
                description=f"variably dimensioned function (n = {n})", params={"n": n})


@register("trigonometric", "mgh", "MGH 26: trigonometric")
def trigonometric(n: int = 5) -> Problem:
    """f_i = n - sum_j cos x_j + i (1 - cos x_i) - sin x_i; x0 = 1/n; f* = 0 (local minima exist for
    some n)."""
    n = _check_n("trigonometric", n)
    i = np.arange(1.0, n + 1)

    def r(x):
        return n - rs.sum(rs.cos(x)) + rs.const(i) * (1 - rs.cos(x)) - rs.sin(x)
    return _mgh("trigonometric", 26, n, r, np.full(n, 1.0 / n), 0.0, None,
                description=f"trigonometric function (n = {n})", params={"n": n})


@register("brown-almost-linear", "mgh", "MGH 27: Brown almost-linear")
def brown_almost_linear(n: int = 5) -> Problem:
    """f_i = x_i + sum_j x_j - (n + 1), 1 <= i < n, f_n = prod_j x_j - 1; x0 = 1/2; f* = 0 at
    (a, ..., a, a^(1-n)) with n a^n - (n+1) a^(n-1) + 1 = 0 (a = 1 among them), and f = 1 at (0, ..., 0, n + 1)."""
    n = _check_n("brown-almost-linear", n, at_least=2)

    def r(x):
        xs = components(x, n)
        prod = xs[0]
        for c in xs[1:]:
            prod = prod * c
        linear = x[:n - 1] + rs.sum(x) - (n + 1)
        return rs.concat([linear, rs.stack([prod - 1])])
    return _mgh("brown-almost-linear", 27, n, r, np.full(n, 0.5), 0.0, None,
                local_minima=((1.0, np.r_[np.zeros(n - 1), n + 1.0]),),
                description=f"Brown's almost-linear function (n = {n})", params={"n": n})


def _grid(n):
    h = 1.0 / (n + 1)
    t = h * np.arange(1, n + 1)
    return h, t


@register("discrete-boundary-value", "mgh", "MGH 28: discrete boundary value")
def discrete_boundary_value(n: int = 10) -> Problem:
    """f_i = 2 x_i - x_{i-1} - x_{i+1} + h^2 (x_i + t_i + 1)^3 / 2, h = 1/(n+1), t_i = i h, x_0 = x_{n+1} = 0;
    x0_j = t_j (t_j - 1); f* = 0."""
    n = _check_n("discrete-boundary-value", n)
    h, t = _grid(n)
    T = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)

    def r(x):
        return rs.const(T) @ x + (h * h / 2) * (x + rs.const(t + 1)) ** 3
    return _mgh("discrete-boundary-value", 28, n, r, t * (t - 1), 0.0, None,
                description=f"discrete boundary value problem (n = {n})", params={"n": n})


@register("discrete-integral-equation", "mgh", "MGH 29: discrete integral equation")
def discrete_integral_equation(n: int = 10) -> Problem:
    """f_i = x_i + h [(1 - t_i) sum_{j<=i} t_j (x_j + t_j + 1)^3 + t_i sum_{j>i} (1 - t_j)(x_j + t_j + 1)^3] / 2,
    h = 1/(n+1), t_i = i h; x0_j = t_j (t_j - 1); f* = 0."""
    n = _check_n("discrete-integral-equation", n)
    h, t = _grid(n)
    lower = np.tril(np.outer(1 - t, t))
    upper = np.triu(np.outer(t, 1 - t), k=1)
    K = (h / 2) * (lower + upper)

    def r(x):
        return x + rs.const(K) @ (x + rs.const(t + 1)) ** 3
    return _mgh("discrete-integral-equation", 29, n, r, t * (t - 1), 0.0, None,
                description=f"discrete integral equation (n = {n})", params={"n": n})


@register("broyden-tridiagonal", "mgh", "MGH 30: Broyden tridiagonal")
def broyden_tridiagonal(n: int = 10) -> Problem:
    """f_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1, x_0 = x_{n+1} = 0; x0 = -1; f* = 0."""
    n = _check_n("broyden-tridiagonal", n)
    N = np.eye(n, k=-1) + 2 * np.eye(n, k=1)

    def r(x):
        return (3 - 2 * x) * x - rs.const(N) @ x + 1
    return _mgh("broyden-tridiagonal", 30, n, r, -np.ones(n), 0.0, None,
                description=f"Broyden tridiagonal function (n = {n})", params={"n": n})


@register("broyden-banded", "mgh", "MGH 31: Broyden banded")
def broyden_banded(n: int = 10) -> Problem:
    """f_i = x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j), J_i = {j != i : max(1, i-5) <= j <= min(n, i+1)};
    x0 = -1; f* = 0."""
    n = _check_n("broyden-banded", n)
    idx = np.arange(n)
    band = ((idx[None, :] >= idx[:, None] - 5) & (idx[None, :] <= idx[:, None] + 1)
            & (idx[None, :] != idx[:, None])).astype(float)

    def r(x):
        return x * (2 + 5 * x**2) + 1 - rs.const(band) @ (x * (1 + x))
    return _mgh("broyden-banded", 31, n, r, -np.ones(n), 0.0, None,
                description=f"Broyden banded function (n = {n})", params={"n": n})


@register("linear-full-rank", "mgh", "MGH 32: linear function, full rank")
def linear_full_rank(n: int = 5, m: int = 10) -> Problem:
    """f_i = x_i - (2/m) sum_j x_j - 1 (i <= n), f_i = -(2/m) sum_j x_j - 1 (i > n); x0 = 1; f* = m - n at
    x = -1."""
    n = _check_n("linear-full-rank", n)
    m = _check_m("linear-full-rank", m, n)
    A = np.eye(m, n) - 2.0 / m

    def r(x):
        return rs.const(A) @ x - 1
    return _mgh("linear-full-rank", 32, n, r, np.ones(n), float(m - n), -np.ones(n),
                description=f"linear function, full rank (n = {n}, m = {m})", params={"n": n, "m": m})


@register("linear-rank-1", "mgh", "MGH 33: linear function, rank 1")
def linear_rank_1(n: int = 5, m: int = 10) -> Problem:
    """f_i = i (sum_j j x_j) - 1; x0 = 1; f* = m (m - 1) / (2 (2m + 1)) wherever sum_j j x_j = 3 / (2m + 1)."""
    n = _check_n("linear-rank-1", n)
    m = _check_m("linear-rank-1", m, n)
    A = np.outer(np.arange(1.0, m + 1), np.arange(1.0, n + 1))

    def r(x):
        return rs.const(A) @ x - 1
    return _mgh("linear-rank-1", 33, n, r, np.ones(n), m * (m - 1) / (2 * (2 * m + 1)), None,
                description=f"linear function, rank 1 (n = {n}, m = {m}; minimizers not unique)",
                params={"n": n, "m": m})


@register("linear-rank-1-zero", "mgh", "MGH 34: linear function, rank 1 with zero columns and rows")
def linear_rank_1_zero(n: int = 5, m: int = 10) -> Problem:
    """f_1 = -1, f_i = (i - 1) (sum_{j=2}^{n-1} j x_j) - 1 (2 <= i <= m-1), f_m = -1; x0 = 1;
    f* = (m^2 + 3m - 6) / (2 (2m - 3))."""
    n = _check_n("linear-rank-1-zero", n, at_least=3)
    m = _check_m("linear-rank-1-zero", m, n)
    rows = np.r_[0.0, np.arange(1.0, m - 1), 0.0]
    cols = np.r_[0.0, np.arange(2.0, n), 0.0]
    A = np.outer(rows, cols)

    def r(x):
        return rs.const(A) @ x - 1
    return _mgh("linear-rank-1-zero", 34, n, r, np.ones(n), (m * m + 3 * m - 6) / (2 * (2 * m - 3)), None,
                description=f"linear function, rank 1 with zero columns and rows (n = {n}, m = {m})",
                params={"n": n, "m": m})


_CHEBYQUAD_MINIMA = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.0, 7: 0.0, 8: 3.51687e-3, 9: 0.0, 10: 6.50395e-3}


@register("chebyquad", "mgh", "MGH 35: Chebyquad")
def chebyquad(n: int = 5, m: int | None = None) -> Problem:
    """f_i = (1/n) sum_j T_i(x_j) - integral_0^1 T_i, with T_i the Chebyshev polynomial shifted to [0, 1]
    (T_i(2x - 1)); the integral is 0 for odd i and -1/(i^2 - 1) for even i; x0_j = j/(n+1); for m = n,
    f* = 0 (1 <= n <= 7, n = 9), 3.51687e-3 (n = 8), 6.50395e-3 (n = 10)."""
    n = _check_n("chebyquad", n)
    m = n if m is None else _check_m("chebyquad", m, n)
    i = np.arange(1, m + 1)
    integral = np.where(i % 2 == 0, -1.0 / (i.astype(float) ** 2 - 1 + (i % 2)), 0.0)

    def r(x):
        y = 2 * x - 1
        prev, cur = rs.ones(n), y
        means = [rs.sum(cur) / n]
        for _ in range(2, m + 1):
            prev, cur = cur, 2 * y * cur - prev
            means.append(rs.sum(cur) / n)
        return stack(means) - rs.const(integral)
    minimum = _CHEBYQUAD_MINIMA.get(n) if m == n else None
    return _mgh("chebyquad", 35, n, r, np.arange(1, n + 1) / (n + 1.0), minimum, None,
                description=f"Chebyquad (n = {n}, m = {m})", params={"n": n, "m": m})
