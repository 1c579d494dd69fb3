"""Constrained problems: Hock-Schittkowski test problems and convex models with bounds and constraints.

A constrained :class:`Problem` carries ``constraints`` (``rs.Constraint`` records lo <= c(x) <= hi with exact
Jacobians and Hessians of v'c) and ``bounds`` (lo, hi arrays on x). ``scipy_minimize(problem, method)`` solves
one with scipy.optimize.minimize ("trust-constr" with ricci's exact Hessians, or "SLSQP") through
``scipy_bounds`` and ``scipy_constraints``; the constrained methods of ``ricci.solvers`` will consume the same
records.

The Hock-Schittkowski problems are from W. Hock and K. Schittkowski, "Test Examples for Nonlinear Programming
Codes", Lecture Notes in Economics and Mathematical Systems 187, Springer (1981): objective, constraints,
bounds, starting point, optimal value f* and optimal point x* as published (x* rounded as printed there, so
it satisfies the constraints to about 1e-6; HS 11's x* is recomputed, as marked).
Constraints are written as in the book with 1-based unknowns x1..xn (``x3`` is ``x[2]`` of the language), each
an equality ``== 0`` or an inequality ``>= 0``.

The convex models (Boyd & Vandenberghe, "Convex Optimization", 2004): nonnegative least squares
(Section 4.2.5 / Lawson & Hanson 1974), nonnegative matrix factorization (Lee & Seung 2001; nonconvex),
L1-regularized logistic regression in the split form w = p - q with p, q >= 0 (Koh, Kim & Boyd 2007), the
Markowitz mean-variance portfolio on the simplex (Markowitz 1952), and the soft-margin SVM dual (Cortes &
Vapnik 1995): min 1/2 a'Qa - 1'a, y'a = 0, 0 <= a <= C, with Q = diag(y) X X' diag(y).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import ricci.symbolic as rs

from . import _synthetic
from ._problem import Problem, register

_HS_SOURCE = ("W. Hock and K. Schittkowski, Test Examples for Nonlinear Programming Codes, "
              "Lecture Notes in Econ. and Math. Systems 187, Springer (1981), problem {}")

_S2, _S3 = math.sqrt(2.0), math.sqrt(3.0)


@dataclass(frozen=True)
class HockSchittkowski:
    """One Hock-Schittkowski problem as published: text in the matrix language with unknowns x1..xn."""

    number: int
    n: int
    objective: str
    constraints: tuple  # "expr == 0" or "expr >= 0", 1-based unknowns
    x0: tuple
    minimum: float
    minimizer: tuple | None = None
    lower: tuple | None = None  # per-variable lower bounds (None for free), or None for none at all
    upper: tuple | None = None


def _box(n, lo=None, hi=None):
    return (None if lo is None else (lo,) * n), (None if hi is None else (hi,) * n)


_ROSEN = "100*(x2 - x1^2)^2 + (1 - x1)^2"

#: The Hock-Schittkowski problems in this collection, by number.
HS_PROBLEMS = {p.number: p for p in [
    HockSchittkowski(1, 2, _ROSEN, (), (-2, 1), 0.0, (1, 1), (None, -1.5)),
    HockSchittkowski(2, 2, _ROSEN, (), (-2, 1), 0.0504261879, (1.224370749, 1.5), (None, 1.5)),
    HockSchittkowski(3, 2, "x2 + 0.00001*(x2 - x1)^2", (), (10, 1), 0.0, (0, 0), (None, 0)),
    HockSchittkowski(4, 2, "(x1 + 1)^3/3 + x2", (), (1.125, 0.125), 8 / 3, (1, 0), (1, 0)),
    HockSchittkowski(5, 2, "sin(x1 + x2) + (x1 - x2)^2 - 1.5*x1 + 2.5*x2 + 1", (), (0, 0),
                     -_S3 / 2 - math.pi / 3, (0.5 - math.pi / 3, -0.5 - math.pi / 3), (-1.5, -3), (4, 3)),
    HockSchittkowski(6, 2, "(1 - x1)^2", ("10*(x2 - x1^2) == 0",), (-1.2, 1), 0.0, (1, 1)),
    HockSchittkowski(7, 2, "log(1 + x1^2) - x2", ("(1 + x1^2)^2 + x2^2 - 4 == 0",), (2, 2), -_S3, (0, _S3)),
    HockSchittkowski(9, 2, "sin(3.141592653589793*x1/12)*cos(3.141592653589793*x2/16)",
                     ("4*x1 - 3*x2 == 0",), (0, 0), -0.5, (-3, -4)),
    HockSchittkowski(10, 2, "x1 - x2", ("-3*x1^2 + 2*x1*x2 - x2^2 + 1 >= 0",), (-10, 10), -1.0, (0, 1)),
    HockSchittkowski(11, 2, "(x1 - 5)^2 + x2^2 - 25", ("-x1^2 + x2 >= 0",), (4.9, 0.1), -8.498464223,
                     (1.2347727, 1.5246641)),  # x* computed here (SLSQP, KKT-checked): on x2 = x1^2
    HockSchittkowski(12, 2, "0.5*x1^2 + x2^2 - x1*x2 - 7*x1 - 7*x2", ("25 - 4*x1^2 - x2^2 >= 0",), (0, 0),
                     -30.0, (2, 3)),
    HockSchittkowski(14, 2, "(x1 - 2)^2 + (x2 - 1)^2", ("x1 - 2*x2 + 1 == 0", "-x1^2/4 - x2^2 + 1 >= 0"),
                     (2, 2), 9 - 2.875 * math.sqrt(7), ((math.sqrt(7) - 1) / 2, (math.sqrt(7) + 1) / 4)),
    HockSchittkowski(15, 2, _ROSEN, ("x1*x2 - 1 >= 0", "x1 + x2^2 >= 0"), (-2, 1), 306.5, (0.5, 2),
                     None, (0.5, None)),
    HockSchittkowski(16, 2, _ROSEN, ("x1 + x2^2 >= 0", "x1^2 + x2 >= 0"), (-2, 1), 0.25, (0.5, 0.25),
                     (-0.5, None), (0.5, 1)),
    HockSchittkowski(17, 2, _ROSEN, ("x2^2 - x1 >= 0", "x1^2 - x2 >= 0"), (-2, 1), 1.0, (0, 0),
                     (-0.5, None), (0.5, 1)),
    HockSchittkowski(18, 2, "0.01*x1^2 + x2^2", ("x1*x2 - 25 >= 0", "x1^2 + x2^2 - 25 >= 0"), (2, 2), 5.0,
                     (math.sqrt(250), math.sqrt(2.5)), (2, 0), (50, 50)),
    HockSchittkowski(19, 2, "(x1 - 10)^3 + (x2 - 20)^3",
                     ("(x1 - 5)^2 + (x2 - 5)^2 - 100 >= 0", "-(x2 - 5)^2 - (x1 - 6)^2 + 82.81 >= 0"),
                     (20.1, 5.84), -6961.81381, (14.095, 0.8429607892), (13, 0), (100, 100)),
    HockSchittkowski(20, 2, _ROSEN, ("x1 + x2^2 >= 0", "x1^2 + x2 >= 0", "x1^2 + x2^2 - 1 >= 0"), (-2, 1),
                     81.5 - 25 * _S3, (0.5, _S3 / 2), (-0.5, None), (0.5, None)),
    HockSchittkowski(21, 2, "0.01*x1^2 + x2^2 - 100", ("10*x1 - x2 - 10 >= 0",), (-1, -1), -99.96, (2, 0),
                     (2, -50), (50, 50)),
    HockSchittkowski(22, 2, "(x1 - 2)^2 + (x2 - 1)^2", ("-x1 - x2 + 2 >= 0", "-x1^2 + x2 >= 0"), (2, 2), 1.0,
                     (1, 1)),
    HockSchittkowski(23, 2, "x1^2 + x2^2", ("x1 + x2 - 1 >= 0", "x1^2 + x2^2 - 1 >= 0", "9*x1^2 + x2^2 - 9 >= 0",
                                            "x1^2 - x2 >= 0", "x2^2 - x1 >= 0"),
                     (3, 1), 2.0, (1, 1), *_box(2, -50, 50)),
    HockSchittkowski(24, 2, "((x1 - 3)^2 - 9)*x2^3/(27*1.7320508075688772)",
                     ("x1/1.7320508075688772 - x2 >= 0", "x1 + 1.7320508075688772*x2 >= 0",
                      "-x1 - 1.7320508075688772*x2 + 6 >= 0"),
                     (1, 0.5), -1.0, (3, _S3), (0, 0)),
    HockSchittkowski(26, 3, "(x1 - x2)^2 + (x2 - x3)^4", ("(1 + x2^2)*x1 + x3^4 - 3 == 0",), (-2.6, 2, 2), 0.0,
                     (1, 1, 1)),
    HockSchittkowski(27, 3, "0.01*(x1 - 1)^2 + (x2 - x1^2)^2", ("x1 + x3^2 + 1 == 0",), (2, 2, 2), 0.04,
                     (-1, 1, 0)),
    HockSchittkowski(28, 3, "(x1 + x2)^2 + (x2 + x3)^2", ("x1 + 2*x2 + 3*x3 - 1 == 0",), (-4, 1, 1), 0.0,
                     (0.5, -0.5, 0.5)),
    HockSchittkowski(29, 3, "-x1*x2*x3", ("-x1^2 - 2*x2^2 - 4*x3^2 + 48 >= 0",), (1, 1, 1), -16 * _S2,
                     (4, 2 * _S2, 2)),
    HockSchittkowski(30, 3, "x1^2 + x2^2 + x3^2", ("x1^2 + x2^2 - 1 >= 0",), (1, 1, 1), 1.0, (1, 0, 0),
                     (1, -10, -10), (10, 10, 10)),
    HockSchittkowski(31, 3, "9*x1^2 + x2^2 + 9*x3^2", ("x1*x2 - 1 >= 0",), (1, 1, 1), 6.0, (1 / _S3, _S3, 0),
                     (-10, 1, -10), (10, 10, 1)),
    HockSchittkowski(32, 3, "(x1 + 3*x2 + x3)^2 + 4*(x1 - x2)^2",
                     ("6*x2 + 4*x3 - x1^3 - 3 >= 0", "1 - x1 - x2 - x3 == 0"), (0.1, 0.7, 0.2), 1.0, (0, 0, 1),
                     (0, 0, 0)),
    HockSchittkowski(33, 3, "(x1 - 1)*(x1 - 2)*(x1 - 3) + x3",
                     ("x3^2 - x1^2 - x2^2 >= 0", "x1^2 + x2^2 + x3^2 - 4 >= 0"), (0, 0, 3), _S2 - 6,
                     (0, _S2, _S2), (0, 0, 0), (None, None, 5)),
    HockSchittkowski(34, 3, "-x1", ("x2 - exp(x1) >= 0", "x3 - exp(x2) >= 0"), (0, 1.05, 2.9),
                     -math.log(math.log(10)), (math.log(math.log(10)), math.log(10), 10), (0, 0, 0), (100, 100, 10)),
    HockSchittkowski(35, 3, "9 - 8*x1 - 6*x2 - 4*x3 + 2*x1^2 + 2*x2^2 + x3^2 + 2*x1*x2 + 2*x1*x3",
                     ("3 - x1 - x2 - 2*x3 >= 0",), (0.5, 0.5, 0.5), 1 / 9, (4 / 3, 7 / 9, 4 / 9), (0, 0, 0)),
    HockSchittkowski(36, 3, "-x1*x2*x3", ("72 - x1 - 2*x2 - 2*x3 >= 0",), (10, 10, 10), -3300.0, (20, 11, 15),
                     (0, 0, 0), (20, 11, 42)),
    HockSchittkowski(37, 3, "-x1*x2*x3", ("72 - x1 - 2*x2 - 2*x3 >= 0", "x1 + 2*x2 + 2*x3 >= 0"),
                     (10, 10, 10), -3456.0, (24, 12, 12), *_box(3, 0, 42)),
    HockSchittkowski(38, 4, "100*(x2 - x1^2)^2 + (1 - x1)^2 + 90*(x4 - x3^2)^2 + (1 - x3)^2"
                            " + 10.1*((x2 - 1)^2 + (x4 - 1)^2) + 19.8*(x2 - 1)*(x4 - 1)",
                     (), (-3, -1, -3, -1), 0.0, (1, 1, 1, 1), *_box(4, -10, 10)),
    HockSchittkowski(39, 4, "-x1", ("x2 - x1^3 - x3^2 == 0", "x1^2 - x2 - x4^2 == 0"), (2, 2, 2, 2), -1.0,
                     (1, 1, 0, 0)),
    HockSchittkowski(40, 4, "-x1*x2*x3*x4", ("x1^3 + x2^2 - 1 == 0", "x1^2*x4 - x3 == 0", "x4^2 - x2 == 0"),
                     (0.8, 0.8, 0.8, 0.8), -0.25, (2 ** (-1 / 3), 2 ** -0.5, 2 ** (-11 / 12), 2 ** -0.25)),
    HockSchittkowski(41, 4, "2 - x1*x2*x3", ("x1 + 2*x2 + 2*x3 - x4 == 0",), (2, 2, 2, 2), 52 / 27,
                     (2 / 3, 1 / 3, 1 / 3, 2), (0, 0, 0, 0), (1, 1, 1, 2)),
    HockSchittkowski(42, 4, "(x1 - 1)^2 + (x2 - 2)^2 + (x3 - 3)^2 + (x4 - 4)^2",
                     ("x1 - 2 == 0", "x3^2 + x4^2 - 2 == 0"), (1, 1, 1, 1), 28 - 10 * _S2,
                     (2, 2, 0.6 * _S2, 0.8 * _S2)),
    HockSchittkowski(43, 4, "x1^2 + x2^2 + 2*x3^2 + x4^2 - 5*x1 - 5*x2 - 21*x3 + 7*x4",
                     ("8 - x1^2 - x2^2 - x3^2 - x4^2 - x1 + x2 - x3 + x4 >= 0",
                      "10 - x1^2 - 2*x2^2 - x3^2 - 2*x4^2 + x1 + x4 >= 0",
                      "5 - 2*x1^2 - x2^2 - x3^2 - 2*x1 + x2 + x4 >= 0"),
                     (0, 0, 0, 0), -44.0, (0, 1, 2, -1)),
    HockSchittkowski(44, 4, "x1 - x2 - x3 - x1*x3 + x1*x4 + x2*x3 - x2*x4",
                     ("8 - x1 - 2*x2 >= 0", "12 - 4*x1 - x2 >= 0", "12 - 3*x1 - 4*x2 >= 0",
                      "8 - 2*x3 - x4 >= 0", "8 - x3 - 2*x4 >= 0", "5 - x3 - x4 >= 0"),
                     (0, 0, 0, 0), -15.0, (0, 3, 0, 4), (0, 0, 0, 0)),
    HockSchittkowski(45, 5, "2 - x1*x2*x3*x4*x5/120", (), (2, 2, 2, 2, 2), 1.0, (1, 2, 3, 4, 5),
                     (0, 0, 0, 0, 0), (1, 2, 3, 4, 5)),
    HockSchittkowski(46, 5, "(x1 - x2)^2 + (x3 - 1)^2 + (x4 - 1)^4 + (x5 - 1)^6",
                     ("x1^2*x4 + sin(x4 - x5) - 1 == 0", "x2 + x3^4*x4^2 - 2 == 0"),
                     (_S2 / 2, 1.75, 0.5, 2, 2), 0.0, (1, 1, 1, 1, 1)),
    HockSchittkowski(47, 5, "(x1 - x2)^2 + (x2 - x3)^3 + (x3 - x4)^4 + (x4 - x5)^4",
                     ("x1 + x2^2 + x3^3 - 3 == 0", "x2 - x3^2 + x4 - 1 == 0", "x1*x5 - 1 == 0"),
                     (2, _S2, -1, 2 - _S2, 0.5), 0.0, (1, 1, 1, 1, 1)),
    HockSchittkowski(48, 5, "(x1 - 1)^2 + (x2 - x3)^2 + (x4 - x5)^2",
                     ("x1 + x2 + x3 + x4 + x5 - 5 == 0", "x3 - 2*(x4 + x5) + 3 == 0"), (3, 5, -3, 2, -2), 0.0,
                     (1, 1, 1, 1, 1)),
    HockSchittkowski(49, 5, "(x1 - x2)^2 + (x3 - 1)^2 + (x4 - 1)^4 + (x5 - 1)^6",
                     ("x1 + x2 + x3 + 4*x4 - 7 == 0", "x3 + 5*x5 - 6 == 0"), (10, 7, 2, -3, 0.8), 0.0,
                     (1, 1, 1, 1, 1)),
    HockSchittkowski(50, 5, "(x1 - x2)^2 + (x2 - x3)^2 + (x3 - x4)^4 + (x4 - x5)^2",
                     ("x1 + 2*x2 + 3*x3 - 6 == 0", "x2 + 2*x3 + 3*x4 - 6 == 0", "x3 + 2*x4 + 3*x5 - 6 == 0"),
                     (35, -31, 11, 5, -5), 0.0, (1, 1, 1, 1, 1)),
    HockSchittkowski(51, 5, "(x1 - x2)^2 + (x2 + x3 - 2)^2 + (x4 - 1)^2 + (x5 - 1)^2",
                     ("x1 + 3*x2 - 4 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"), (2.5, 0.5, 2, -1, 0.5), 0.0,
                     (1, 1, 1, 1, 1)),
    HockSchittkowski(52, 5, "(4*x1 - x2)^2 + (x2 + x3 - 2)^2 + (x4 - 1)^2 + (x5 - 1)^2",
                     ("x1 + 3*x2 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"), (2, 2, 2, 2, 2), 1859 / 349,
                     tuple(v / 349 for v in (-33, 11, 180, -158, 11))),
    HockSchittkowski(53, 5, "(x1 - x2)^2 + (x2 + x3 - 2)^2 + (x4 - 1)^2 + (x5 - 1)^2",
                     ("x1 + 3*x2 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"), (2, 2, 2, 2, 2), 176 / 43,
                     tuple(v / 43 for v in (-33, 11, 27, -5, 11)), *_box(5, -10, 10)),
    HockSchittkowski(71, 4, "x1*x4*(x1 + x2 + x3) + x3",
                     ("x1*x2*x3*x4 - 25 >= 0", "x1^2 + x2^2 + x3^2 + x4^2 - 40 == 0"), (1, 5, 5, 1), 17.0140173,
                     (1, 4.7429994, 3.8211503, 1.3794082), *_box(4, 1, 5)),
    HockSchittkowski(76, 4, "x1^2 + 0.5*x2^2 + x3^2 + 0.5*x4^2 - x1*x3 + x3*x4 - x1 - 3*x2 + x3 - x4",
                     ("5 - x1 - 2*x2 - x3 - x4 >= 0", "4 - 3*x1 - x2 - 2*x3 + x4 >= 0", "x2 + 4*x3 - 1.5 >= 0"),
                     (0.5, 0.5, 0.5, 0.5), -4.681818181, (0.2727273, 2.090909, 0, 0.5454545), (0, 0, 0, 0)),
    HockSchittkowski(77, 5, "(x1 - 1)^2 + (x1 - x2)^2 + (x3 - 1)^2 + (x4 - 1)^4 + (x5 - 1)^6",
                     ("x1^2*x4 + sin(x4 - x5) - 2*1.4142135623730951 == 0",
                      "x2 + x3^4*x4^2 - 8 - 1.4142135623730951 == 0"),
                     (2, 2, 2, 2, 2), 0.24150513, (1.166172, 1.182111, 1.380257, 1.506036, 0.6109203)),
    HockSchittkowski(78, 5, "x1*x2*x3*x4*x5",
                     ("x1^2 + x2^2 + x3^2 + x4^2 + x5^2 - 10 == 0", "x2*x3 - 5*x4*x5 == 0", "x1^3 + x2^3 + 1 == 0"),
                     (-2, 1.5, 2, -1, -1), -2.91970041, (-1.717143, 1.595709, 1.827247, -0.7636413, -0.7636450)),
    HockSchittkowski(79, 5, "(x1 - 1)^2 + (x1 - x2)^2 + (x2 - x3)^2 + (x3 - x4)^4 + (x4 - x5)^4",
                     ("x1 + x2^2 + x3^3 - 2 - 3*1.4142135623730951 == 0",
                      "x2 - x3^2 + x4 + 2 - 2*1.4142135623730951 == 0", "x1*x5 - 2 == 0"),
                     (2, 2, 2, 2, 2), 0.0787768209, (1.191127, 1.362603, 1.472818, 1.635017, 1.679081)),
    HockSchittkowski(80, 5, "exp(x1*x2*x3*x4*x5)",
                     ("x1^2 + x2^2 + x3^2 + x4^2 + x5^2 - 10 == 0", "x2*x3 - 5*x4*x5 == 0", "x1^3 + x2^3 + 1 == 0"),
                     (-2, 2, 2, -1, -1), 0.0539498478, (-1.717143, 1.595709, 1.827247, -0.7636413, -0.7636450),
                     (-2.3, -2.3, -3.2, -3.2, -3.2), (2.3, 2.3, 3.2, 3.2, 3.2)),
    HockSchittkowski(81, 5, "exp(x1*x2*x3*x4*x5) - 0.5*(x1^3 + x2^3 + 1)^2",
                     ("x1^2 + x2^2 + x3^2 + x4^2 + x5^2 - 10 == 0", "x2*x3 - 5*x4*x5 == 0", "x1^3 + x2^3 + 1 == 0"),
                     (-2, 2, 2, -1, -1), 0.0539498478, (-1.717143, 1.595709, 1.827247, -0.7636413, -0.7636450),
                     (-2.3, -2.3, -3.2, -3.2, -3.2), (2.3, 2.3, 3.2, 3.2, 3.2)),
    HockSchittkowski(100, 7, "(x1 - 10)^2 + 5*(x2 - 12)^2 + x3^4 + 3*(x4 - 11)^2 + 10*x5^6 + 7*x6^2 + x7^4"
                             " - 4*x6*x7 - 10*x6 - 8*x7",
                     ("127 - 2*x1^2 - 3*x2^4 - x3 - 4*x4^2 - 5*x5 >= 0",
                      "282 - 7*x1 - 3*x2 - 10*x3^2 - x4 + x5 >= 0",
                      "196 - 23*x1 - x2^2 - 6*x6^2 + 8*x7 >= 0",
                      "-4*x1^2 - x2^2 + 3*x1*x2 - 2*x3^2 - 5*x6 + 11*x7 >= 0"),
                     (1, 2, 0, 4, 0, 1, 1), 680.6300573,
                     (2.330499, 1.951372, -0.4775414, 4.365726, -0.6244870, 1.038131, 1.594227)),
    HockSchittkowski(113, 10, "x1^2 + x2^2 + x1*x2 - 14*x1 - 16*x2 + (x3 - 10)^2 + 4*(x4 - 5)^2 + (x5 - 3)^2"
                              " + 2*(x6 - 1)^2 + 5*x7^2 + 7*(x8 - 11)^2 + 2*(x9 - 10)^2 + (x10 - 7)^2 + 45",
                     ("105 - 4*x1 - 5*x2 + 3*x7 - 9*x8 >= 0", "-10*x1 + 8*x2 + 17*x7 - 2*x8 >= 0",
                      "8*x1 - 2*x2 - 5*x9 + 2*x10 + 12 >= 0",
                      "-3*(x1 - 2)^2 - 4*(x2 - 3)^2 - 2*x3^2 + 7*x4 + 120 >= 0",
                      "-5*x1^2 - 8*x2 - (x3 - 6)^2 + 2*x4 + 40 >= 0",
                      "-0.5*(x1 - 8)^2 - 2*(x2 - 4)^2 - 3*x5^2 + x6 + 30 >= 0",
                      "-x1^2 - 2*(x2 - 2)^2 + 2*x1*x2 - 14*x5 + 6*x6 >= 0",
                      "3*x1 - 6*x2 - 12*(x9 - 8)^2 + 7*x10 >= 0"),
                     (2, 3, 5, 5, 1, 2, 7, 3, 6, 10), 24.3062091,
                     (2.171996, 2.363683, 8.773926, 5.095984, 0.9906548, 1.430574, 1.321644, 9.828726, 8.280092,
                      8.375927)),
]}

_UNKNOWN = re.compile(r"\bx(\d+)\b")


def _language(text: str, n: int) -> str:
    """The book's unknowns x1..xn as entries x[0]..x[n-1] of the vector x."""
    def entry(m):
        k = int(m.group(1))
        if not 1 <= k <= n:
            raise ValueError(f"x{k} in {text!r}: the problem has unknowns x1..x{n}")
        return f"x[{k - 1}]"
    return _UNKNOWN.sub(entry, text)


def _bounds(n, lower, upper):
    if lower is None and upper is None:
        return None
    lo = np.array([-np.inf if v is None else v for v in (lower or (None,) * n)], dtype=float)
    hi = np.array([np.inf if v is None else v for v in (upper or (None,) * n)], dtype=float)
    return lo, hi


def hock_schittkowski(number: int) -> Problem:
    """Hock-Schittkowski problem ``number`` (one of :data:`HS_PROBLEMS`) as a constrained :class:`Problem`: its
    constraints stacked into up to four ``rs.Constraint`` records, nonlinear then linear equalities (lo = hi =
    0), then inequalities (c >= 0), so that scipy gets linear ones as LinearConstraint."""
    if number not in HS_PROBLEMS:
        raise ValueError(f"no Hock-Schittkowski problem {number!r} here; available: {sorted(HS_PROBLEMS)}")
    hs = HS_PROBLEMS[number]
    shapes = {"x": (hs.n,)}
    f = rs.parse(_language(hs.objective, hs.n), **shapes)
    objective = rs.Objective(f, "x")
    parsed = [rs.parse_constraint(_language(t, hs.n), **shapes) for t in hs.constraints]
    groups = {}  # (equality, linear) -> constraints: scipy's SLSQP wants equalities and inequalities apart
    for p in parsed:
        linear = rs.Constraint(p, "x", sizes={}).is_linear  # compiles nothing
        groups.setdefault((p.is_equality, linear), []).append(p)
    constraints = tuple(_stacked(group) for _, group in sorted(groups.items(), key=lambda kv: kv[0], reverse=True))
    kinds = _kinds(hs)
    return Problem(
        name=f"hs{number}", objective=objective, x0=np.array(hs.x0, dtype=float),
        description=f"Hock-Schittkowski {number}: n = {hs.n}, {kinds}", source=_HS_SOURCE.format(number),
        family="hs", minimum=float(hs.minimum),
        minimizer=None if hs.minimizer is None else np.array(hs.minimizer, dtype=float),
        params={"number": number}, constraints=constraints, bounds=_bounds(hs.n, hs.lower, hs.upper),
    )


def _stacked(parsed: list) -> rs.Constraint:
    """One ``rs.Constraint`` for several parsed scalar constraints (their expressions stacked into a vector)."""
    c = parsed[0].expression if len(parsed) == 1 else rs.stack([p.expression for p in parsed])
    return rs.Constraint(c, "x", lo=[p.lo for p in parsed], hi=[p.hi for p in parsed])


def _kinds(hs: HockSchittkowski) -> str:
    eq = sum(t.endswith("== 0") for t in hs.constraints)
    parts = [f"{eq} equalities"] if eq else []
    if len(hs.constraints) - eq:
        parts.append(f"{len(hs.constraints) - eq} inequalities")
    if hs.lower is not None or hs.upper is not None:
        parts.append("bounds")
    return ", ".join(parts) or "unconstrained"


def _register_hs(number):
    hs = HS_PROBLEMS[number]
    register(f"hs{number}", "hs", f"Hock-Schittkowski {number}: n = {hs.n}, {_kinds(hs)}", constrained=True)(
        lambda: hock_schittkowski(number))


for _number in HS_PROBLEMS:
    _register_hs(_number)


# ----------------------------------------------------------------------------------------------------------
# Convex (and one nonconvex) models with bounds and constraints
# ----------------------------------------------------------------------------------------------------------

def _nonnegative(n):
    return np.zeros(n), np.full(n, np.inf)


def nonnegative_least_squares(A, b, *, name="nnls", description=None, source="your data") -> Problem:
    """min 1/2 ||A x - b||^2 subject to x >= 0 (Lawson & Hanson, "Solving Least Squares Problems", 1974)."""
    A, b = np.asarray(A, dtype=float), np.asarray(b, dtype=float)
    if A.ndim != 2 or b.shape != (A.shape[0],):
        raise ValueError(f"nnls: A must be a matrix and b a vector of its row count, got shapes {A.shape}, {b.shape}")
    x = rs.Vector("x", "n")
    r = rs.Matrix("A", "m", "n") @ x - rs.Vector("b", "m")
    residual = rs.LeastSquares(r, x, {"A": A, "b": b})
    m, n = A.shape
    return Problem(name=name, objective=residual.objective(0.5), x0=np.zeros(n),
                   description=description or f"nonnegative least squares, {m} x {n}", source=source,
                   family="constrained", residual=residual, residual_weight=0.5, data={"A": A, "b": b},
                   bounds=_nonnegative(n))


def _nnls_data(m, n, cond, seed):
    A = _synthetic.conditioned_matrix(m, n, cond, seed)
    rng = np.random.default_rng([seed, 7])
    x_true = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    b = A @ x_true + 0.1 * rng.standard_normal(m) * np.linalg.norm(A @ x_true) / math.sqrt(m)
    return A, b


@register("nnls", "constrained", "nonnegative least squares, seeded ill-conditioned 3000 x 400 (cond 1e4)",
          constrained=True)
def _nnls(m: int = 3000, n: int = 400, cond: float = 1e4, seed: int = 0) -> Problem:
    A, b = _nnls_data(m, n, cond, seed)
    p = nonnegative_least_squares(A, b, name="nnls", source="ricci.problems synthetic (seeded)",
                                  description=f"nonnegative least squares, {m} x {n}, cond(A) = {cond:g}")
    return _params(p, m=m, n=n, cond=cond, seed=seed)


@register("nnls-small", "constrained", "nonnegative least squares, seeded 30 x 10", constrained=True)
def _nnls_small(m: int = 30, n: int = 10, cond: float = 100.0, seed: int = 0) -> Problem:
    A, b = _nnls_data(m, n, cond, seed)
    p = nonnegative_least_squares(A, b, name="nnls-small", source="ricci.problems synthetic (seeded)",
                                  description=f"nonnegative least squares, {m} x {n}, cond(A) = {cond:g}")
    return _params(p, m=m, n=n, cond=cond, seed=seed)


@register("nmf", "constrained", "nonnegative factorization W H of a seeded nonnegative 12 x 10 matrix, rank 2",
          constrained=True)
def _nmf(m: int = 12, n: int = 10, rank: int = 2, seed: int = 0) -> Problem:
    """min 1/2 ||W H - T||_F^2 over W (m x r) >= 0, H (r x n) >= 0 (Lee & Seung 2001); nonconvex."""
    rng = np.random.default_rng([seed, 11])
    T = rng.random((m, rank)) @ rng.random((rank, n)) + 0.01 * rng.random((m, n))
    W, H = rs.Matrix("W", "m", "r"), rs.Matrix("H", "r", "n")
    residual = rs.LeastSquares(W @ H - rs.Matrix("T", "m", "n"), [W, H], {"T": T}, sizes={"r": rank})
    size = (m + n) * rank
    x0 = np.full(size, math.sqrt(T.mean() / rank))
    x0 = x0 * (1 + 0.1 * np.random.default_rng([seed, 12]).random(size))
    p = Problem(name="nmf", objective=residual.objective(0.5), x0=x0,
                description=f"nonnegative matrix factorization, {m} x {n}, rank {rank}",
                source="Lee & Seung, Algorithms for non-negative matrix factorization, NIPS 2001; seeded data",
                family="constrained", residual=residual, data={"T": T}, bounds=_nonnegative(size))
    return _params(p, m=m, n=n, rank=rank, seed=seed)


@register("l1-logistic", "constrained", "L1 logistic regression as w = p - q, p, q >= 0 (seeded 200 x 10)",
          constrained=True)
def _l1_logistic(m: int = 200, n: int = 10, cond: float = 10.0, lam: float = 1.0, seed: int = 0) -> Problem:
    """min sum softplus(-s .* (X (p - q))) + lam sum(p + q), p, q >= 0, s = 2y - 1 (Koh, Kim & Boyd 2007)."""
    X, y = _synthetic.classification(m, n, 2, cond=cond, seed=seed)
    s = 2.0 * y - 1.0
    f = rs.parse("sum(softplus(-s .* (X*(p - q)))) + lam*sum(p + q)", X=("m", "n"), s="m", p="n", q="n", lam=())
    data = {"X": X, "s": s, "lam": lam}
    obj = rs.Objective(f, ["p", "q"], data)
    p = Problem(name="l1-logistic", objective=obj, x0=np.full(2 * n, 0.1),
                description=f"L1-regularized logistic regression (split form), {m} x {n}, lam = {lam:g}",
                source="Koh, Kim & Boyd, An interior-point method for large-scale l1-regularized logistic "
                       "regression, JMLR 8 (2007); seeded data", family="constrained", data=data,
                bounds=_nonnegative(2 * n))
    return _params(p, m=m, n=n, cond=cond, lam=lam, seed=seed)


@register("portfolio", "constrained", "mean-variance portfolio on the simplex, seeded 20 assets", constrained=True)
def _portfolio(n: int = 20, factors: int = 3, gamma: float = 0.5, seed: int = 0) -> Problem:
    """min w'Sw - gamma mu'w subject to sum(w) = 1, w >= 0 (Markowitz 1952); S = F F' + diag(d) from a seeded
    factor model."""
    rng = np.random.default_rng([seed, 21])
    F = 0.2 * rng.standard_normal((n, factors))
    S = F @ F.T + np.diag(0.01 + 0.05 * rng.random(n))
    mu = 0.05 + 0.1 * rng.random(n)
    f = rs.parse("w'*S*w - gamma*mu'*w", w="n", S=("n", "n"), mu="n", gamma=())
    data = {"S": S, "mu": mu, "gamma": gamma}
    budget = rs.Constraint(rs.parse_constraint("sum(w) == 1", w="n"), "w", sizes={"n": n})
    p = Problem(name="portfolio", objective=rs.Objective(f, "w", data), x0=np.full(n, 1.0 / n),
                description=f"mean-variance portfolio, {n} assets, gamma = {gamma:g}",
                source="Markowitz, Portfolio selection, J. Finance 7 (1952); seeded factor model",
                family="constrained", data=data, constraints=(budget,), bounds=_nonnegative(n))
    return _params(p, n=n, factors=factors, gamma=gamma, seed=seed)


@register("svm-dual", "constrained", "soft-margin SVM dual, seeded 60 x 5, C = 1", constrained=True)
def _svm_dual(m: int = 60, n: int = 5, C: float = 1.0, seed: int = 0) -> Problem:
    """min 1/2 a'Qa - sum(a), y'a = 0, 0 <= a <= C, Q = diag(y) X X' diag(y) (Cortes & Vapnik 1995): the
    quadratic form is written ||X'(y .* a)||^2 / 2, so Q (m x m) is never formed."""
    X, labels = _synthetic.classification(m, n, 2, cond=3.0, seed=seed)
    y = 2.0 * labels - 1.0
    f = rs.parse("0.5*(X'*(y .* a))'*(X'*(y .* a)) - sum(a)", X=("m", "n"), y="m", a="m")
    data = {"X": X, "y": y}
    balance = rs.Constraint(rs.parse_constraint("y'*a == 0", y="m", a="m"), "a", {"y": y})
    p = Problem(name="svm-dual", objective=rs.Objective(f, "a", data), x0=np.zeros(m),
                description=f"soft-margin SVM dual, {m} points in {n} dimensions, C = {C:g}",
                source="Cortes & Vapnik, Support-vector networks, Machine Learning 20 (1995); seeded data",
                family="constrained", data=data, constraints=(balance,), bounds=(np.zeros(m), np.full(m, C)))
    return _params(p, m=m, n=n, C=C, seed=seed)


def _params(p: Problem, **params) -> Problem:
    from dataclasses import replace

    return replace(p, params={**p.params, **params})


# ----------------------------------------------------------------------------------------------------------
# scipy's form
# ----------------------------------------------------------------------------------------------------------

def scipy_bounds(problem: Problem):
    """The problem's bounds as ``scipy.optimize.Bounds`` (None when it has none)."""
    from scipy.optimize import Bounds

    return None if problem.bounds is None else Bounds(*problem.bounds)


def scipy_constraints(problem: Problem, hessian: bool = True) -> list:
    """The problem's constraints as scipy LinearConstraint / NonlinearConstraint objects (``to_scipy``; with
    ``hessian=False`` no constraint Hessian, for SLSQP and COBYLA, which warn when given one)."""
    return [c.to_scipy(hessian) for c in problem.constraints]


def scipy_minimize(problem: Problem, method: str = "trust-constr", x0=None, **options):
    """scipy.optimize.minimize on the problem with ricci's exact gradient (and, for trust-constr, the exact
    Hessians of f and of v'c); ``options`` go to scipy's ``options``."""
    from scipy.optimize import minimize

    obj = problem.objective
    start = np.array(problem.x0 if x0 is None else x0, dtype=float)
    hess = obj.hess if method == "trust-constr" else None
    return minimize(obj.fun_and_jac, start, jac=True, hess=hess, method=method, bounds=scipy_bounds(problem),
                    constraints=scipy_constraints(problem, hessian=hess is not None), options=options)
