"""ricci.problems: ready optimization problems with exact derivatives, data loading, and the ``ricci`` command.

    from ricci import problems
    p = problems.get("logistic-regression")          # the embedded breast-cancer data, standardized
    res = p.solve(method="newton")                     # exact symbolic Hessian
    problems.names()                                   # the registry: MGH test set, logistic, softmax, ...
    p = problems.logistic_regression(X, y, lam=1e-3)   # your data
    X, y = problems.load("data.csv", label="target")   # CSV, .npy/.npz, LIBSVM/svmlight (sparse CSR)
    X, y = problems.load("parts/*.npy", chunks=10**5)  # larger than memory: Dask blocks, read when computed

A :class:`Problem` holds an ``rs.Objective`` (f with exact gradient, Hessian, Hessian-vector product), for sums
of squares an ``rs.LeastSquares`` residual, x0, the data, and the known minimum where known. The
More-Garbow-Hillstrom test set (ACM TOMS 7(1), 1981) is here in full (35 problems) as symbolic residuals.
"""
from . import _constrained, _mgh, _models  # noqa: F401  (they register the problems; names() lists families in a fixed order)
from . import _synthetic as synthetic
from ._constrained import (
    HS_PROBLEMS,
    HockSchittkowski,
    hock_schittkowski,
    nonnegative_least_squares,
    scipy_bounds,
    scipy_constraints,
    scipy_minimize,
)
from ._datasets import breast_cancer
from ._defaults import DEFAULT_METHODS, default_method
from ._kkt import KKTResiduals, estimate_multipliers, kkt_residuals
from ._load import FORMATS, Dataset, QueryIdsIgnored, load
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
from ._svmlight import read_svmlight, save_svmlight
from ._varpro import FactorizationData, ProjectedJacobian, reduced_residual, ridge_factor, varpro

__all__ = [
    "ALL_METHODS", "FORMATS", "LEAST_SQUARES_METHODS", "Dataset", "Problem", "QueryIdsIgnored",
    "breast_cancer", "components", "families", "get", "load", "logistic_loss_expression", "logistic_regression", "matrix_factorization",
    "mlp", "names", "parameters", "place", "read_svmlight", "register", "save_svmlight", "select", "softmax_regression",
    "stack", "synthetic",
    # constrained problems (Hock-Schittkowski, NNLS, NMF, L1 logistic, portfolio, SVM dual) and KKT residuals
    "HS_PROBLEMS", "HockSchittkowski", "KKTResiduals", "estimate_multipliers", "hock_schittkowski", "kkt_residuals",
    "nonnegative_least_squares", "scipy_bounds", "scipy_constraints", "scipy_minimize",
    # variable projection for matrix factorization (_varpro.py)
    "FactorizationData", "ProjectedJacobian", "reduced_residual", "ridge_factor", "varpro",
    # the default method of each family (_defaults.py)
    "DEFAULT_METHODS", "default_method",
]
