"""ricci.solvers: exact second-order minimization on any array-API library (NumPy, CuPy, ...).

``minimize`` and ``least_squares`` follow scipy.optimize's semantics and result fields; each method is also a
callable usable as a scipy custom method, e.g.
``scipy.optimize.minimize(f, x0, method=ricci.solvers.trust_exact, jac=g, hess=H)``.
Arrays stay in the namespace (and on the device) of x0; only scalars come back to the host.

The methods are listed once, in ``METHOD_REGISTRY`` (name -> :class:`Method`: family, callable, derivatives
used, options, description); ``METHODS`` maps the ``minimize`` methods' names to their callables.
"""
from ._least_squares import least_squares
from ._methods import (
    METHOD_REGISTRY,
    METHODS,
    Method,
    dogleg,
    get_method,
    lbfgs,
    newton,
    trust_exact,
    trust_krylov,
    trust_ncg,
)
from ._minimize import minimize
from ._options import LbfgsOptions, NewtonOptions, TrustExactOptions, TrustRegionOptions
from ._result import LeastSquaresOutcome, Outcome

__all__ = [
    "METHODS",
    "METHOD_REGISTRY",
    "LbfgsOptions",
    "LeastSquaresOutcome",
    "Method",
    "NewtonOptions",
    "Outcome",
    "TrustExactOptions",
    "TrustRegionOptions",
    "dogleg",
    "get_method",
    "lbfgs",
    "least_squares",
    "minimize",
    "newton",
    "trust_exact",
    "trust_krylov",
    "trust_ncg",
]
