"""The default method of each problem family: what ``Problem.solve()`` and ``ricci solve NAME`` use when no
method is named.

Each family lists methods in order of preference; a problem takes the first one it supports
(``Problem.methods``: an MLP with a softmax loss has no residual, so no lm or gauss-newton). The order is what
measured fastest to ``max_i |df/dx_i| <= 1e-8 max(1, |grad f(x0)|_inf)`` at the lowest objective any method
found, on every registered problem at its default parameters and on the quick cases of
``benchmarks/_second_order_cases.py``: every method of ``Problem.methods`` through ``Problem.solve(method,
tol=...)``, as ``ricci solve NAME --compare all`` runs them (numbers below). Constrained problems are not here:
their methods are tron and auglag (``Problem.methods``).

Measured 2026-11-28 on the shared 2-core machine (one BLAS thread; 10 s limit per run; timings noisy, the
ranking is what counts):

* logistic: newton. Breast cancer (n = 31): newton 0.11 s, dogleg 0.09 s, trust-exact 0.16 s, lbfgs 1.3 s;
  synthetic (n = 11): newton 0.046 s, trust-exact 0.054 s, lbfgs 0.14 s; at n = 500 (README Results) newton
  0.33 s against trust-exact 0.51 s and lbfgs 2.4 s. Newton and dogleg tie on the small ones; Newton scales.
* softmax: newton. Iris (n = 18): dogleg 0.071 s, newton 0.077 s, trust-exact 0.095 s, lbfgs 0.32 s; on the
  digits softmax of the solvers benchmark newton 67 ms against lbfgs 111 ms.
* factorization: varpro, then gauss-newton (varpro exists for factorizations only). 100 x 80 rank 5 (n = 900,
  benchmark) varpro 4.1 s to target, 3 of 3 starts at the best value, the only ricci method faster than scipy
  L-BFGS-B (8.0 s); quick cases: 30 x 20 (n = 150) varpro 0.92 s, gauss-newton 2.3 s, trust-ncg 2.6 s, lbfgs
  4.8 s; MovieLens-shaped 150 x 250 (n = 2000) varpro 7.9 s, gauss-newton 8.8 s, nothing else in 10 s;
  120 x 100 with 90% missing (n = 880) gauss-newton 3.2 s, trust-ncg 4.3 s, varpro 5.2 s; registry default
  (n = 44) gauss-newton 0.14 s,
  lm 0.41 s, varpro 0.53 s. Varpro wins the larger and harder cases and finds the best value most often.
  Above ``VARPRO_MAX_N`` unknowns gauss-newton instead (measured 2026-11-29, benchmarks/results/
  second_order-2026-11-29-large.md, one start, 60 s limit): 600 x 500 rank 8 with 90% missing (n = 8800)
  gauss-newton 6.0 s, lm 17.2 s, scipy L-BFGS-B 4.7 s, varpro not in 60 s; MovieLens-shaped 943 x 1682 rank
  10 (n = 26250) gauss-newton 31.4 s, lm, varpro and L-BFGS-B not in 60 s. Varpro's reduced problem is
  dense in the m r unknowns of U (a 4800 x 4800 and a 9430 x 9430 matrix there). Below it varpro stays: on
  100 x 80 (n = 900) all of varpro, gauss-newton and lm reach the best value from 50 of 50 starts
  (second_order-2026-11-29-mf50.md; gauss-newton 0.73 s, varpro 1.20 s), on the MovieLens-shaped 150 x 250
  (n = 2000) varpro from 5 of 5 starts, gauss-newton from 2 (second_order-2026-11-29-quick run, 3 s limit).
  Over 50 random starts at the end of 2026-11-29 (J'J's blocks summed from the Jacobian's rows) gauss-newton
  reached the best value from all 50 at 600 x 500 (1.49 s against L-BFGS-B's 1.26 s, also 50 of 50;
  second_order-2026-11-29-mf-sparse50-d.md) and on the MovieLens-shaped 943 x 1682 (12.6 s against 25.7 s,
  both 50 of 50; second_order-2026-11-29-movielens50.md).
* mlp: trust-exact. The only method to reach the target at the best objective on both the diabetes net
  (n = 97: trust-exact 1.7 s; dogleg 0.66 s, newton 2.1 s but at higher local minima) and the two-layer net
  (n = 63: trust-exact 6.2 s, dogleg 7.3 s, everything else not in 10 s); on the 64-8-10 softmax digits net
  (n = 610) only lbfgs reached the target (6.5 s); the registry's 31-weight net: gauss-newton 1.7 s, newton
  1.8 s, trust-exact 4.4 s. A network whose output Jacobian has blocks computed per point of more than 2^22
  entries (``GaussNewton.prefers_products``) takes Hessian-free ggn instead: on the 64-16-10 softmax digits
  net (n = 1210, a 17970 x 1210 Jacobian) newton and trust-exact did not finish one iteration in 15 s, while
  ggn by conjugate gradients on G reached Adam's lowest loss in 3.8 s against Adam's 27.1 s (measured
  2026-11-29, benchmarks/results/second_order-2026-11-29-digits.md).
* mgh (More, Garbow & Hillstrom, all sums of squares): lm. Of the 35 at their standard starts lm solves 32
  (misses: powell-singular, extended-powell, variably-dimensioned), as lbfgs does, trust-exact 30, newton 28,
  gauss-newton 27; median time on the 28 that lm, lbfgs and trust-exact all solve: lm 0.11 s, trust-exact
  0.12 s, lbfgs 0.16 s. gauss-newton is fastest where it converges (14 of 35) but fails on 8.
"""
from __future__ import annotations

DEFAULT_METHODS = {
    "logistic": ("newton",),
    "softmax": ("newton",),
    "factorization": ("varpro", "gauss-newton"),
    "mlp": ("ggn", "trust-exact"),
    "mgh": ("lm", "trust-exact"),
}
"""family -> methods in order of preference (see the module docstring for the measurements)."""

VARPRO_MAX_N = 4000
"""Factorizations with more unknowns than this skip varpro for the next method (module docstring)."""

FALLBACK_METHOD = "trust-exact"
"""The default of a family not in :data:`DEFAULT_METHODS` (a family registered later, or an objective from
an expression): the nearly exact trust region, which needs nothing beyond f's derivatives."""


def default_method(problem) -> str:
    """The method ``Problem.solve()`` uses for an unconstrained ``problem`` when none is named: the first of its
    family's :data:`DEFAULT_METHODS` that the problem supports (varpro only up to :data:`VARPRO_MAX_N`
    unknowns; ggn only for an objective that prefers G by products, ``GaussNewton.prefers_products``), else
    :data:`FALLBACK_METHOD`."""
    for method in DEFAULT_METHODS.get(problem.family, ()):
        if method == "varpro" and getattr(problem, "n", 0) > VARPRO_MAX_N:
            continue
        if method == "ggn" and getattr(getattr(problem, "objective", None), "prefers_products", False) is not True:
            continue  # Hessian-free ggn for networks whose output Jacobian is large; below, the exact Hessian
        if method in problem.methods:
            return method
    return FALLBACK_METHOD
