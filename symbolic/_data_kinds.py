"""Which uses of a variable sparse data allows: products only.

A ``scipy.sparse`` matrix X is useful where it enters an objective through products, ``X @ w``, ``X' v`` and
``X' diag(s) X``: the generated code computes those with sparse matrix products, and a Gram operator of the
Hessian keeps X as it is. Anything that reads X entry by entry (``log(X)``, ``X + A``, ``X .* A``, its
diagonal, ``inv(X)``) would either destroy the sparsity (exp(0) = 1) or need a dense copy, so it is refused
when the objective is built, with the variable and the use named. The rule, on the expression DAG: every node
that reads X directly is a product (:class:`Contract`) in which X has two distinct indices and no other factor
carries both of them (a product with X, not an entry-wise product with a matrix of X's shape). Derivatives
keep this form (the derivative of a product is a product of the same factors), so checking f suffices.
"""

from __future__ import annotations

import numpy as np

from ._binding import is_dask
from ._nodes import Add, Contract, Elementwise, Expr, Var, topological

SPARSE_RULE = "only products X@w, X'v, X'diag(s)X may use sparse data"


def _use(parent: Expr, x: Var) -> str | None:
    """How ``parent`` uses the variable ``x`` when that is not as a product factor (None when it is)."""
    name = x.name
    if isinstance(parent, Contract):
        factors = list(zip(parent.operands, parent.indices))
        for k, (op, idx) in enumerate(factors):
            if op is not x:
                continue
            if len(set(idx)) != len(idx):
                return f"a product reads its diagonal ({name}[i,i])"
            if any(set(idx) <= set(j) for m, (_, j) in enumerate(factors) if m != k):
                return f"an entry-wise product {name} .* (a matrix of its shape) uses it element-wise"
        return None
    if isinstance(parent, Elementwise):
        return f"{parent.fn.display}({name}) uses it element-wise"
    if isinstance(parent, Add):
        return f"a sum {name} + ... uses it element-wise"
    return f"{type(parent).__name__.lower()}({name}) reads it entry by entry"


def check_sparse_uses(expr: Expr, sparse: dict, who: str) -> None:
    """Raise ValueError unless every variable named in ``sparse`` (name -> a description of the data, such as
    ``"scipy.sparse csr_matrix"``) enters ``expr`` through products only (see the module docstring)."""
    if not sparse:
        return
    for node in topological([expr]):
        for child in node.children():
            if isinstance(child, Var) and child.name in sparse:
                use = _use(node, child)
                if use is not None:
                    raise ValueError(f"{who}: {child.name} is sparse ({sparse[child.name]}) but {use}; "
                                     f"{SPARSE_RULE} (pass {child.name} as a dense array otherwise)")


def check_host_vector(x, xp, label: str = "x") -> None:
    """Raise TypeError unless ``x`` (an array) belongs to ``xp``, the namespace in which the solver holds its
    vector: NumPy for NumPy, scipy.sparse or Dask data (the driver holds x, the cluster the data), CuPy for CuPy
    data. A Dask x, or a CuPy x with data on the host (or the reverse), would move data between devices or
    build a graph per iteration; the message names both libraries and the fix."""
    if isinstance(x, np.ndarray) and getattr(xp, "__name__", "").endswith("numpy"):
        return  # the common case, kept cheap
    if is_dask(x):
        raise TypeError(f"{label}: got a Dask array; x stays a NumPy (or CuPy) vector where the solver runs, "
                        f"the data may be Dask (pass {label}.compute())")
    try:
        import array_api_compat

        other = array_api_compat.array_namespace(x)
    except (ImportError, TypeError):
        return  # not an array of an array-API library: the conversion names what came
    if other is not xp:
        got, want = _library(other), _library(xp)
        raise TypeError(f"{label}: got an array of {got}, but the data are arrays of {want}, so x must be of "
                        f"{want} too: move x to the data's device ({want}.asarray(...); cupy.asnumpy for a CuPy "
                        f"x) or the data to x's")


def _library(xp) -> str:
    """The array library of an array-API namespace, as users name it (numpy, cupy, torch)."""
    name = getattr(xp, "__name__", str(xp))
    return name.removeprefix("array_api_compat.").split(".")[0]
