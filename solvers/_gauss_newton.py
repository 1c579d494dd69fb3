"""The damped Gauss-Newton direction: a direction rule of the line-search driver (``_line_search_driver.py``)
on a model with a positive semidefinite curvature operator B (the Gauss-Newton J'J of the residual model, or
the generalized Gauss-Newton G = J' H_L J + H_P of ``minimize(method="ggn")``).

The direction solves (B_s + tau I) q = -g_s in the variables p = S q (S = diag(s) the column scaling,
x_scale; the identity by default), B_s = S B S and g_s = S g, with tau from the safeguarded Cholesky of
Algorithm 3.3 of Nocedal & Wright (2006) (tau = 0 when B is positive definite, i.e. J has full column rank),
B_s factorized in its structure (``_newton_step.newton_direction``); where the structure offers an iterative
solve (conjugate gradients on a block operator's Schur complement, ``_op_schur``) it runs to the relative
residual GAUSS_NEWTON_RTOL, not to the 1e-10 of a Newton step. Where B is known only through products
with J, q is the minimum-norm solution of J S q = -r by LSQR (``_jacobian.damped_solve``), a descent direction.
The first trial step is alpha = 1, the full Gauss-Newton step; Armijo backtracking on the cost globalizes it
(Nocedal & Wright (2006), Section 10.3).

The rule records ``model_decrease`` = m(0) - m(p) = -(g'p + 1/2 p'Bp) for the full step, which the
least-squares boundary's ftol test judges (``_least_squares.py``).
"""
from __future__ import annotations

from ._arrays import NonFiniteValue, SolverOverflow, dot
from ._newton_step import newton_direction

#: The relative residual of the Gauss-Newton step's iterative solves. Measured on the 600 x 500 rank-8
#: factorization of benchmarks/_second_order_cases.py (Schur-complement PCG, the problem's start and three
#: random ones): 1e-10 took 9-23 iterations and 2.5-6.0 s, 1e-4 the same 9-23 iterations and 1.9-3.8 s. On the
#: random starts 1e-5 took 17-25 iterations (3.4-4.1 s), 1e-3 18-22 (2.6-3.6 s, but one run ended at |g| 3e-8
#: relative), 1e-2 37-104. Looser solves cost more iterations than they
#: save (a forcing sequence min(0.5, sqrt(|g|/|g0|)) took 35-62 iterations and twice the time).
GAUSS_NEWTON_RTOL = 1e-4


class GaussNewtonDirection:
    """p = -S (B_s + tau I)^{-1} g_s from the evaluator's curvature operator at x (see the module docstring);
    ``column_scale`` is s (None: the identity)."""

    uses_hessian = False

    def __init__(self, xp, evaluator, column_scale=None):
        self.xp, self.evaluator, self.column_scale = xp, evaluator, column_scale
        self.model_decrease = None

    def direction(self, x, g):
        xp, s = self.xp, self.column_scale
        B = self.evaluator.curvature(x)
        if B.products_only:  # NaN or inf from a product is the user's model's: the driver's NON_FINITE
            q = B.minimizer_by_products(s)
        else:
            try:
                q, _shift = newton_direction(xp, B.scaled(s), g if s is None else g * s, positive_semidefinite=True,
                                              rtol=GAUSS_NEWTON_RTOL)
            except NonFiniteValue as exc:  # B is formed from a finite J: inf in it means the product overflowed
                raise SolverOverflow("The Gauss-Newton matrix J'J overflowed.") from exc
        p = q if s is None else q * s
        self.model_decrease = -(dot(xp, g, p) + 0.5 * B.model_curvature(p))
        return p, 1.0

    def update(self, s, y):
        pass
