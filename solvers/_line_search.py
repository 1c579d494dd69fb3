"""Line searches along a descent direction p from x: phi(alpha) = f(x + alpha p).

* :func:`backtracking` - Armijo backtracking with safeguarded quadratic interpolation (Nocedal & Wright (2006),
  Section 3.5, "Interpolation"): accept the first alpha with ``phi(alpha) <= phi(0) + c1 alpha phi'(0)``.
* :func:`strong_wolfe` - Algorithms 3.5 and 3.6 (zoom) of Nocedal & Wright (2006): find alpha satisfying the
  strong Wolfe conditions ``phi(alpha) <= phi(0) + c1 alpha phi'(0)`` and ``|phi'(alpha)| <= c2 |phi'(0)|``.

:class:`CurvilinearRay` is the path x + t s + sqrt(t) d of a Newton step s and a direction of negative
curvature d (More & Sorensen, 1979), searched by :func:`backtracking`.

A non-finite phi(alpha) or phi'(alpha) is treated as "too far": the step is shortened, never accepted.

Near a minimizer the decrease c1 alpha |phi'(0)| falls below the rounding error of f itself, and the
sufficient-decrease test then rejects good steps at random. Following the "approximate Wolfe" idea of Hager &
Zhang (2005), both searches accept an increase of f up to ``f_noise`` (the driver passes a few ulps of
|f(x)|), so progress continues to be judged by the gradient there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._arrays import dot


class Ray:
    """phi(alpha) = f(x + alpha p) and phi'(alpha) = g(x + alpha p)'p, with the trial points kept."""

    def __init__(self, evaluator, x, p):
        self.evaluator, self.x, self.p = evaluator, x, p
        self._points = {}

    def point(self, alpha):
        if alpha not in self._points:
            self._points = {alpha: self.x + alpha * self.p}  # keep only the latest trial point
        return self._points[alpha]

    def value(self, alpha) -> float:
        return self.evaluator.value(self.point(alpha))

    def slope(self, alpha) -> float:
        g = self.evaluator.gradient(self.point(alpha))
        return dot(self.evaluator.xp, g, self.p)


class CurvilinearRay(Ray):
    """The curvilinear path of More & Sorensen (1979), x(a) = x + a^2 s + a d (s the Newton step, d a direction
    of negative curvature), in the parameter t = a^2: ``point(t) = x + t s + sqrt(t) d``. Their sufficient
    decrease condition f(x(a)) <= f(x) + c1 a^2 (g's + 1/2 d'Hd) is then Armijo's in t with the slope
    ``g's + 1/2 d'Hd``, so :func:`backtracking` searches it unchanged (values only: no slope is defined at 0)."""

    def __init__(self, evaluator, x, s, d):
        super().__init__(evaluator, x, s)
        self.d = d

    def point(self, alpha):
        if alpha not in self._points:
            self._points = {alpha: self.x + alpha * self.p + math.sqrt(alpha) * self.d}
        return self._points[alpha]

    def slope(self, alpha):  # pragma: no cover - the curvilinear search is Armijo's
        raise NotImplementedError("the curvilinear path is searched by backtracking on values")


@dataclass(frozen=True)
class LineSearchResult:
    accepted: bool
    alpha: float
    f: float
    nonfinite: bool  # some trial value was NaN/inf


def backtracking(ray: Ray, f0: float, slope0: float, *, alpha0=1.0, c1=1e-4, max_steps=60,
                 min_alpha=0.0, f_noise=0.0) -> LineSearchResult:
    """Armijo backtracking; the new alpha minimizes the quadratic interpolating phi(0), phi'(0),
    phi(alpha), safeguarded to [0.1 alpha, 0.5 alpha]."""
    alpha, nonfinite = alpha0, False
    for _ in range(max_steps):
        f = ray.value(alpha)
        if math.isfinite(f) and f <= f0 + c1 * alpha * slope0 + f_noise:
            return LineSearchResult(True, alpha, f, nonfinite)
        if not math.isfinite(f):
            nonfinite = True
            alpha *= 0.5
        else:
            denom = 2.0 * (f - f0 - slope0 * alpha)
            trial = -slope0 * alpha * alpha / denom if denom > 0 else 0.5 * alpha
            alpha = min(max(trial, 0.1 * alpha), 0.5 * alpha)
        if alpha <= min_alpha:
            break
    return LineSearchResult(False, alpha, f0, nonfinite)


def strong_wolfe(ray: Ray, f0: float, slope0: float, *, alpha0=1.0, c1=1e-4, c2=0.9, max_steps=40,
                 alpha_max=1e10, min_alpha=0.0, f_noise=0.0) -> LineSearchResult:
    """Algorithm 3.5 (bracketing) with Algorithm 3.6 (zoom) of Nocedal & Wright (2006)."""
    state = _SearchState(ray, f0, slope0, c1, c2, f_noise)
    prev_alpha, prev_f, prev_slope = 0.0, f0, slope0
    alpha = alpha0
    for i in range(max_steps):
        f = state.value(alpha)
        if not math.isfinite(f) or not state.sufficient(alpha, f) or (i > 0 and f >= prev_f):
            return state.zoom(prev_alpha, prev_f, prev_slope, alpha, f, None, max_steps - i - 1, min_alpha)
        s = state.slope(alpha)
        if not math.isfinite(s):
            return state.zoom(prev_alpha, prev_f, prev_slope, alpha, math.inf, None, max_steps - i - 1, min_alpha)
        if abs(s) <= -c2 * slope0:
            return LineSearchResult(True, alpha, f, state.nonfinite)
        if s >= 0:
            return state.zoom(alpha, f, s, prev_alpha, prev_f, prev_slope, max_steps - i - 1, min_alpha)
        prev_alpha, prev_f, prev_slope = alpha, f, s
        if alpha >= alpha_max:
            break
        alpha = min(2.0 * alpha, alpha_max)  # expand until the minimum is bracketed
    return state.best_or_failure()


class _SearchState:
    def __init__(self, ray, f0, slope0, c1, c2, f_noise):
        self.ray, self.f0, self.slope0, self.c1, self.c2 = ray, f0, slope0, c1, c2
        self.f_noise = f_noise
        self.nonfinite = False
        self.best = None  # (alpha, f) of the best point with sufficient decrease

    def value(self, alpha):
        f = self.ray.value(alpha)
        if not math.isfinite(f):
            self.nonfinite = True
        elif self.sufficient(alpha, f) and (self.best is None or f < self.best[1]):
            self.best = (alpha, f)
        return f

    def sufficient(self, alpha, f) -> bool:
        return f <= self.f0 + self.c1 * alpha * self.slope0 + self.f_noise

    def slope(self, alpha):
        s = self.ray.slope(alpha)
        if not math.isfinite(s):
            self.nonfinite = True
        return s

    def best_or_failure(self):
        """A point with sufficient decrease but not the curvature condition is still a usable step."""
        if self.best is not None:
            alpha, f = self.best
            return LineSearchResult(True, alpha, f, self.nonfinite)
        return LineSearchResult(False, 0.0, self.f0, self.nonfinite)

    def zoom(self, lo, f_lo, s_lo, hi, f_hi, s_hi, budget, min_alpha):
        """Algorithm 3.6: shrink [lo, hi] (lo satisfies sufficient decrease and has the lower value)."""
        slope0, c2 = self.slope0, self.c2
        for _ in range(max(budget, 0)):
            alpha = _interpolate(lo, f_lo, s_lo, hi, f_hi, s_hi)
            f = self.value(alpha)
            if not math.isfinite(f) or not self.sufficient(alpha, f) or f >= f_lo + self.f_noise:
                hi, f_hi, s_hi = alpha, f, None
            else:
                s = self.slope(alpha)
                if not math.isfinite(s):
                    hi, f_hi, s_hi = alpha, math.inf, None
                    continue
                if abs(s) <= -c2 * slope0:
                    return LineSearchResult(True, alpha, f, self.nonfinite)
                if s * (hi - lo) >= 0:
                    hi, f_hi, s_hi = lo, f_lo, s_lo
                lo, f_lo, s_lo = alpha, f, s
            if abs(hi - lo) <= 1e-12 * max(abs(lo), abs(hi)) or max(abs(lo), abs(hi)) <= min_alpha:
                break
        return self.best_or_failure()


def _interpolate(lo, f_lo, s_lo, hi, f_hi, s_hi):
    """Minimizer of the cubic (or quadratic) interpolant on [lo, hi], kept 10% away from the ends;
    bisection when the data are not finite."""
    a, b = min(lo, hi), max(lo, hi)
    width = b - a
    guess = None
    d = hi - lo
    if math.isfinite(f_hi) and s_lo is not None and math.isfinite(s_lo):
        if s_hi is not None and math.isfinite(s_hi):  # cubic through (lo, f_lo, s_lo), (hi, f_hi, s_hi)
            d1 = s_lo + s_hi - 3.0 * (f_lo - f_hi) / (lo - hi)
            rad = d1 * d1 - s_lo * s_hi
            if rad >= 0:
                d2 = math.copysign(math.sqrt(rad), hi - lo)
                den = s_hi - s_lo + 2.0 * d2
                if den != 0:
                    guess = hi - (hi - lo) * (s_hi + d2 - d1) / den
        if guess is None:  # quadratic through f_lo, s_lo, f_hi
            den = 2.0 * (f_hi - f_lo - s_lo * d)
            if den > 0:
                guess = lo - s_lo * d * d / den
    if guess is None or not math.isfinite(guess) or not (a + 0.1 * width <= guess <= b - 0.1 * width):
        guess = 0.5 * (lo + hi)
    return guess
