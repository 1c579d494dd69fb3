"""ricci.solvers: exact second-order minimization on any array-API library (NumPy, CuPy, ...).

``minimize`` and ``least_squares`` follow scipy.optimize's semantics and result fields; each method is also a
callable usable as a scipy custom method, e.g.
``scipy.optimize.minimize(f, x0, method=ricci.solvers.trust_exact, jac=g, hess=H)``.
Arrays stay in the namespace (and on the device) of x0; only scalars come back to the host.
``minimize(..., bounds=, constraints=)`` takes scipy's bounds and constraints: ``tron`` (projected trust-region
Newton, bounds only) and ``auglag`` (augmented Lagrangian around tron, general constraints) are the methods that
take them (``CONSTRAINED_METHODS``), chosen by ``method=None``.

The methods are listed once, in ``METHOD_REGISTRY`` (name -> :class:`Method`: family, callable, derivatives
used, options, description); ``METHODS`` maps the ``minimize`` methods' names to their callables.

Derivatives may keep their structure as linear operators (``ricci.solvers`` owns the family; see
``_operators.py``): ``DenseOperator``, ``ScaledIdentity``, ``DiagonalOperator``, ``GramOperator``
(``shift I + A' diag(d) A``), ``KroneckerOperator``, ``BlockDiagonalOperator``, ``SparseOperator``, ``SumOperator``,
``BlockOperator``, ``MatvecOperator`` (products only; wraps a scipy LinearOperator), ``ScaledOperator``,
``WeightedProductOperator``, ``CongruenceOperator`` (``J' H J``, the generalized Gauss-Newton matrix), all
subclasses of ``Operator``, with ``as_operator`` to wrap arrays, scipy.sparse
matrices and LinearOperators. ``op.factorize(shift)`` / ``op.solve(b, shift)`` solve ``(A + shift I) x = b`` by
the cheapest exact method of the structure and raise ``NotPositiveDefinite`` otherwise; ``Factorization`` is
the reusable result.
"""
from ._augmented_lagrangian import AugmentedLagrangianOptions
from ._interior_point import InteriorPointOptions
from ._least_squares import least_squares
from ._methods import (
    CONSTRAINED_METHODS,
    GGN_METHODS,
    METHOD_REGISTRY,
    METHODS,
    Method,
    auglag,
    dogleg,
    get_method,
    ggn,
    ggn_lm,
    ipm,
    lbfgs,
    newton,
    trust_exact,
    trust_krylov,
    trust_ncg,
)
from ._minimize import minimize
from ._operators import (
    BlockDiagonalOperator,
    BlockOperator,
    CongruenceOperator,
    DenseOperator,
    DiagonalOperator,
    Factorization,
    GramOperator,
    KroneckerOperator,
    MatvecOperator,
    NotPositiveDefinite,
    Operator,
    ScaledIdentity,
    ScaledOperator,
    SparseOperator,
    SumOperator,
    WeightedProductOperator,
    as_operator,
)
from ._options import (
    KrylovOptions,
    LbfgsOptions,
    NewtonOptions,
    TrustExactOptions,
    TrustRegionOptions,
)
from ._result import LeastSquaresOutcome, Outcome
from ._tron import TronOptions, tron

__all__ = [
    "CONSTRAINED_METHODS",
    "GGN_METHODS",
    "METHODS",
    "METHOD_REGISTRY",
    "AugmentedLagrangianOptions",
    "BlockDiagonalOperator",
    "BlockOperator",
    "CongruenceOperator",
    "DenseOperator",
    "DiagonalOperator",
    "Factorization",
    "GramOperator",
    "InteriorPointOptions",
    "KroneckerOperator",
    "KrylovOptions",
    "LbfgsOptions",
    "LeastSquaresOutcome",
    "MatvecOperator",
    "Method",
    "NewtonOptions",
    "NotPositiveDefinite",
    "Operator",
    "Outcome",
    "ScaledIdentity",
    "ScaledOperator",
    "SparseOperator",
    "SumOperator",
    "TronOptions",
    "TrustExactOptions",
    "TrustRegionOptions",
    "WeightedProductOperator",
    "as_operator",
    "auglag",
    "dogleg",
    "get_method",
    "ggn",
    "ggn_lm",
    "ipm",
    "lbfgs",
    "least_squares",
    "minimize",
    "newton",
    "tron",
    "trust_exact",
    "trust_krylov",
    "trust_ncg",
]
