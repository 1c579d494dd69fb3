"""The generalized Gauss-Newton matrix ``J' H J`` as a ``ricci.solvers`` operator that keeps its structure.

For f(x) = L(z(x)) + P(x) with the model output z (Jacobian J = dz/dx) and the loss L (Hessian H = d2L/dz2 at
z(x)), the generalized Gauss-Newton matrix is G = J' H J + d2P/dx2 (Schraudolph, "Fast curvature
matrix-vector products for second-order gradient descent", Neural Computation 14(7), 2002, Sec. 3): the
Hessian of f without the terms sum_i dL/dz_i d2z_i/dx2, positive semidefinite whenever L and P are convex.

:func:`congruence` is a table over the type of H, one rule per structure:

- a diagonal H (an element-wise loss: softplus(z) - y z, squared error) gives the Gram operator ``J' diag(h) J``
  of J's own structure (``J.gram(h)``: a ``GramOperator`` for a dense or sparse J, a block operator of Grams
  for a block J), so shifted solves use Woodbury or the cached Gram as for any Gram matrix;
- any other H (softmax cross-entropy's ``diag(p_i) - p_i p_i'`` per row) gives a :class:`CongruenceOperator`:
  products ``J'(H(J v))`` through the two operators, the dense form ``J'(H J)`` formed from J's dense form
  only when asked (a factorization, the diagonal).

:class:`CongruenceOperator` is ``ricci.solvers``' (``solvers/_op_congruence.py``, with its Woodbury solve).
"""
from __future__ import annotations

from functools import singledispatch

from array_api_compat import device as device_of
from ricci.solvers import CongruenceOperator, DiagonalOperator, Operator, ScaledIdentity


@singledispatch
def congruence(H: Operator, J: Operator) -> Operator:
    """``J' H J`` in the structure the type of H allows (module docstring); the general rule."""
    return CongruenceOperator(J, H)


@congruence.register
def congruence_diagonal(H: DiagonalOperator, J: Operator) -> Operator:
    """J' diag(h) J is the Gram operator of J with weights h."""
    return J.gram(H.d)


@congruence.register
def congruence_scaled_identity(H: ScaledIdentity, J: Operator) -> Operator:
    """J' (c I) J = J' diag(c 1) J, the Gram operator of J with constant weights."""
    return J.gram(J.xp.full((H.n,), H.c, dtype=H.dtype, device=device_of(H.like)))
