"""Linear operators that keep the structure of derivatives (issue 10; DESIGN.md, "Derivatives as operators").

The family: :class:`DenseOperator`, :class:`ScaledIdentity`, :class:`DiagonalOperator`, :class:`GramOperator`
(``shift I + A' diag(d) A`` with A dense, scipy.sparse, Dask or an operator), :class:`KroneckerOperator`,
:class:`BlockDiagonalOperator`, :class:`SparseOperator`, :class:`SumOperator`, :class:`BlockOperator`,
:class:`MatvecOperator` (products only), with :class:`ScaledOperator` and :class:`WeightedProductOperator` as
the generic results of ``c * A`` and of the Gram matrix of a block operator, and :class:`CongruenceOperator`
(``J' H J``, the generalized Gauss-Newton matrix; Woodbury for a wide J and a definite H). Every operator has
``matvec`` / ``rmatvec`` (vectors and (n, k) matrices), ``T``, ``diagonal()``, ``to_dense()``, ``norm_estimate()``,
``gram(weights)``, ``nbytes``, ``+`` and scalar ``*``, and square symmetric ones ``factorize(shift)`` /
``solve(b, shift)`` for ``(A + shift I) x = b`` by the cheapest exact method of their structure, raising
:class:`NotPositiveDefinite` when ``A + shift I`` is not positive definite; ``solver(shift, rtol)`` lets a
caller accept an iterative solve to a relative residual where that is cheaper (conjugate gradients on a block
operator's Schur complement, ``_op_schur``). :func:`as_operator` wraps arrays,
scipy.sparse matrices and scipy LinearOperators.

The implementation is split by kind: ``_op_base`` (base class, factorization record, shared factorizations),
``_op_elementary``, ``_op_gram``, ``_op_structured`` (Kronecker, block diagonal), ``_op_congruence`` (J' H J),
``_op_compose`` (sums, multiples, ``+`` rules, sparse assembly, ``as_operator``), ``_op_block`` and ``_op_schur`` (Schur complements
onto a block-diagonal rest, exact and by conjugate gradients).
"""
from ._op_base import Factorization, NotPositiveDefinite, Operator
from ._op_block import BlockOperator, WeightedProductOperator
from ._op_compose import ScaledOperator, SumOperator, as_operator
from ._op_congruence import CongruenceOperator
from ._op_elementary import (
    DenseOperator,
    DiagonalOperator,
    MatvecOperator,
    ScaledIdentity,
    SparseOperator,
)
from ._op_gram import GramOperator
from ._op_structured import BlockDiagonalOperator, KroneckerOperator

__all__ = [
    "BlockDiagonalOperator",
    "BlockOperator",
    "CongruenceOperator",
    "DenseOperator",
    "DiagonalOperator",
    "Factorization",
    "GramOperator",
    "KroneckerOperator",
    "MatvecOperator",
    "NotPositiveDefinite",
    "Operator",
    "ScaledIdentity",
    "ScaledOperator",
    "SparseOperator",
    "SumOperator",
    "WeightedProductOperator",
    "as_operator",
]
