"""ricci.problems: ready optimization problems with exact derivatives, data loading, and the ``ricci`` command.

    from ricci import problems
    p = problems.get("logistic-regression")          # the embedded breast-cancer data, standardized
    res = p.solve(method="newton")                     # exact symbolic Hessian
    problems.names()                                   # the registry: MGH test set, logistic, softmax, ...
    p = problems.logistic_regression(X, y, lam=1e-3)   # your data
    X, y = problems.load("data.csv", label="target")   # CSV, .npy/.npz, LIBSVM/svmlight

A :class:`Problem` holds an ``rs.Objective`` (f with exact gradient, Hessian, Hessian-vector product), for sums
of squares an ``rs.LeastSquares`` residual, x0, the data, and the known minimum where known. The
More-Garbow-Hillstrom test set (ACM TOMS 7(1), 1981) is here in full (35 problems) as symbolic residuals.
"""
from . import _mgh, _models  # noqa: F401  (they register the problems; names() lists families in a fixed order)
from . import _synthetic as synthetic
from ._datasets import breast_cancer
from ._load import FORMATS, Dataset, load
from ._mgh import components, place, select, stack
from ._models import logistic_loss_expression, logistic_regression, matrix_factorization, mlp, softmax_regression
from ._problem import (
    ALL_METHODS,
    LEAST_SQUARES_METHODS,
    Problem,
    families,
    get,
    names,
    parameters,
    register,
)

__all__ = [
    "ALL_METHODS", "FORMATS", "LEAST_SQUARES_METHODS", "Dataset", "Problem",
    "breast_cancer", "components", "families", "get", "load", "logistic_loss_expression", "logistic_regression", "matrix_factorization",
    "mlp", "names", "parameters", "place", "register", "select", "softmax_regression", "stack", "synthetic",
]
