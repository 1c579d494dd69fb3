"""Hand-written NumPy residuals of the More-Garbow-Hillstrom problems, written from the paper (ACM TOMS 7(1),
1981, Section 3) with explicit loops and the paper's 1-based formulas, independently of ricci.problems._mgh,
so that the symbolic residuals are checked against a second reading of the paper. A helper module, not a test
module: test_problems_mgh.py reaches it through the ``mgh_reference`` fixture of conftest.py."""
import math

import numpy as np


def rosenbrock(x):
    return [10 * (x[1] - x[0] ** 2), 1 - x[0]]


def freudenstein_roth(x):
    return [-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1], -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]]


def powell_badly_scaled(x):
    return [1e4 * x[0] * x[1] - 1, math.exp(-x[0]) + math.exp(-x[1]) - 1.0001]


def brown_badly_scaled(x):
    return [x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2]


def beale(x):
    y = [1.5, 2.25, 2.625]
    return [y[i - 1] - x[0] * (1 - x[1] ** i) for i in (1, 2, 3)]


def jennrich_sampson(x):
    return [2 + 2 * i - (math.exp(i * x[0]) + math.exp(i * x[1])) for i in range(1, 11)]


def helical_valley(x):
    theta = math.atan(x[1] / x[0]) / (2 * math.pi)
    if x[0] < 0:
        theta += 0.5
    return [10 * (x[2] - 10 * theta), 10 * (math.hypot(x[0], x[1]) - 1), x[2]]


def bard(x):
    y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
    out = []
    for i in range(1, 16):
        u, v = i, 16 - i
        w = min(u, v)
        out.append(y[i - 1] - (x[0] + u / (v * x[1] + w * x[2])))
    return out


def gaussian(x):
    y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
         0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]
    return [x[0] * math.exp(-x[1] * ((8 - i) / 2 - x[2]) ** 2 / 2) - y[i - 1] for i in range(1, 16)]


def meyer(x):
    y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872]
    return [x[0] * math.exp(x[1] / (45 + 5 * i + x[2])) - y[i - 1] for i in range(1, 17)]


def gulf(x, m=99):
    out = []
    for i in range(1, m + 1):
        t = i / 100
        y = 25 + (-50 * math.log(t)) ** (2 / 3)
        out.append(math.exp(-abs(y - x[1]) ** x[2] / x[0]) - t)
    return out


def box_3d(x, m=10):
    out = []
    for i in range(1, m + 1):
        t = 0.1 * i
        out.append(math.exp(-t * x[0]) - math.exp(-t * x[1]) - x[2] * (math.exp(-t) - math.exp(-10 * t)))
    return out


def powell_singular(x):
    return [x[0] + 10 * x[1], math.sqrt(5) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2, math.sqrt(10) * (x[0] - x[3]) ** 2]


def wood(x):
    return [10 * (x[1] - x[0] ** 2), 1 - x[0], math.sqrt(90) * (x[3] - x[2] ** 2), 1 - x[2],
            math.sqrt(10) * (x[1] + x[3] - 2), (x[1] - x[3]) / math.sqrt(10)]


def kowalik_osborne(x):
    y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
    u = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]
    return [y[i] - x[0] * (u[i] ** 2 + u[i] * x[1]) / (u[i] ** 2 + u[i] * x[2] + x[3]) for i in range(11)]


def brown_dennis(x, m=20):
    out = []
    for i in range(1, m + 1):
        t = i / 5
        out.append((x[0] + t * x[1] - math.exp(t)) ** 2 + (x[2] + x[3] * math.sin(t) - math.cos(t)) ** 2)
    return out


def osborne_1(x):
    y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718, 0.685, 0.658,
         0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431,
         0.424, 0.420, 0.414, 0.411, 0.406]
    out = []
    for i in range(1, 34):
        t = 10 * (i - 1)
        out.append(y[i - 1] - (x[0] + x[1] * math.exp(-t * x[3]) + x[2] * math.exp(-t * x[4])))
    return out


def biggs_exp6(x, m=13):
    out = []
    for i in range(1, m + 1):
        t = 0.1 * i
        y = math.exp(-t) - 5 * math.exp(-10 * t) + 3 * math.exp(-4 * t)
        out.append(x[2] * math.exp(-t * x[0]) - x[3] * math.exp(-t * x[1]) + x[5] * math.exp(-t * x[4]) - y)
    return out


OSBORNE2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
              0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
              0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
              0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
              0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]


def osborne_2(x):
    out = []
    for i in range(1, 66):
        t = (i - 1) / 10
        model = (x[0] * math.exp(-t * x[4]) + x[1] * math.exp(-(t - x[8]) ** 2 * x[5])
                 + x[2] * math.exp(-(t - x[9]) ** 2 * x[6]) + x[3] * math.exp(-(t - x[10]) ** 2 * x[7]))
        out.append(OSBORNE2_Y[i - 1] - model)
    return out


def watson(x):
    n = len(x)
    out = []
    for i in range(1, 30):
        t = i / 29
        s1 = sum((j - 1) * x[j - 1] * t ** (j - 2) for j in range(2, n + 1))
        s2 = sum(x[j - 1] * t ** (j - 1) for j in range(1, n + 1))
        out.append(s1 - s2 ** 2 - 1)
    return out + [x[0], x[1] - x[0] ** 2 - 1]


def extended_rosenbrock(x):
    out = []
    for i in range(len(x) // 2):
        out += [10 * (x[2 * i + 1] - x[2 * i] ** 2), 1 - x[2 * i]]
    return out


def extended_powell(x):
    out = []
    for i in range(len(x) // 4):
        out += powell_singular(x[4 * i: 4 * i + 4])
    return out


def penalty_1(x):
    return [math.sqrt(1e-5) * (xi - 1) for xi in x] + [sum(xi * xi for xi in x) - 0.25]


def penalty_2(x):
    n = len(x)
    a = 1e-5
    out = [x[0] - 0.2]
    for i in range(2, n + 1):
        y = math.exp(i / 10) + math.exp((i - 1) / 10)
        out.append(math.sqrt(a) * (math.exp(x[i - 1] / 10) + math.exp(x[i - 2] / 10) - y))
    for i in range(n + 1, 2 * n):
        out.append(math.sqrt(a) * (math.exp(x[i - n] / 10) - math.exp(-1 / 10)))
    out.append(sum((n - j + 1) * x[j - 1] ** 2 for j in range(1, n + 1)) - 1)
    return out


def variably_dimensioned(x):
    n = len(x)
    s = sum(j * (x[j - 1] - 1) for j in range(1, n + 1))
    return [xi - 1 for xi in x] + [s, s * s]


def trigonometric(x):
    n = len(x)
    c = sum(math.cos(xj) for xj in x)
    return [n - c + i * (1 - math.cos(x[i - 1])) - math.sin(x[i - 1]) for i in range(1, n + 1)]


def brown_almost_linear(x):
    n = len(x)
    s = sum(x)
    return [x[i] + s - (n + 1) for i in range(n - 1)] + [math.prod(x) - 1]


def discrete_boundary_value(x):
    n = len(x)
    h = 1 / (n + 1)
    xx = [0.0] + list(x) + [0.0]
    return [2 * xx[i] - xx[i - 1] - xx[i + 1] + h * h * (xx[i] + i * h + 1) ** 3 / 2 for i in range(1, n + 1)]


def discrete_integral_equation(x):
    n = len(x)
    h = 1 / (n + 1)
    t = [j * h for j in range(1, n + 1)]
    out = []
    for i in range(1, n + 1):
        s1 = sum(t[j - 1] * (x[j - 1] + t[j - 1] + 1) ** 3 for j in range(1, i + 1))
        s2 = sum((1 - t[j - 1]) * (x[j - 1] + t[j - 1] + 1) ** 3 for j in range(i + 1, n + 1))
        out.append(x[i - 1] + h * ((1 - t[i - 1]) * s1 + t[i - 1] * s2) / 2)
    return out


def broyden_tridiagonal(x):
    n = len(x)
    xx = [0.0] + list(x) + [0.0]
    return [(3 - 2 * xx[i]) * xx[i] - xx[i - 1] - 2 * xx[i + 1] + 1 for i in range(1, n + 1)]


def broyden_banded(x):
    n = len(x)
    out = []
    for i in range(1, n + 1):
        s = sum(x[j - 1] * (1 + x[j - 1]) for j in range(max(1, i - 5), min(n, i + 1) + 1) if j != i)
        out.append(x[i - 1] * (2 + 5 * x[i - 1] ** 2) + 1 - s)
    return out


def linear_full_rank(x, m=10):
    n = len(x)
    s = sum(x)
    return [x[i] - 2 * s / m - 1 for i in range(n)] + [-2 * s / m - 1 for _ in range(n, m)]


def linear_rank_1(x, m=10):
    s = sum(j * x[j - 1] for j in range(1, len(x) + 1))
    return [i * s - 1 for i in range(1, m + 1)]


def linear_rank_1_zero(x, m=10):
    n = len(x)
    s = sum(j * x[j - 1] for j in range(2, n))
    return [-1.0] + [(i - 1) * s - 1 for i in range(2, m)] + [-1.0]


def chebyquad(x):
    n = len(x)
    out = []
    for i in range(1, n + 1):
        mean = sum(math.cos(i * math.acos(2 * xj - 1)) for xj in x) / n  # T_i(y) = cos(i arccos y) on [-1, 1]
        integral = -1 / (i * i - 1) if i % 2 == 0 else 0.0
        out.append(mean - integral)
    return out


REFERENCE = {name.replace("_", "-"): fn for name, fn in list(globals().items())
             if callable(fn) and not name.startswith("_") and fn.__module__ == __name__}

def residual(name, x):
    return np.array(REFERENCE[name](list(np.asarray(x, dtype=float))), dtype=float)
