"""ricci.symbolic: exact derivatives of matrix and tensor expressions, simplified and compiled to array code.

    import ricci.symbolic as rs
    X = rs.Matrix("X", "m", "n"); y = rs.Vector("y", "m"); w = rs.Vector("w", "n"); lam = rs.Scalar("lam")
    f = rs.sum(rs.softplus(-y * (X @ w))) + lam / 2 * (w @ w)
    g = rs.grad(f, w); H = rs.hessian(f, w)        # H prints as X'*diag(...)*X + lam*eye
    fn = rs.compile([f, g, H])                     # shared work (X @ w) computed once
    fval, gval, Hval = fn(X=Xa, y=ya, w=wa, lam=1e-3)

Derivative layout: the axes of the differentiated expression first, then the variable's axes, once per
order (as JAX and NumPy do): the Hessian w.r.t. X (m, n) has shape (m, n, m, n).
Blocks: ``rs.concat([a, b], axis)``, ``rs.stack([a, b], axis)`` and NumPy's basic indexing ``e[1:3]``,
``A[:, 0]``, ``x[::2]`` on any expression; ``rs.LeastSquares([r1, r2], wrt)`` takes residual blocks.
Gathers: ``rs.take(U, rows)`` (rows a constant integer array) and its adjoint ``rs.scatter_add(G, rows, m)``;
derivatives of gathered residuals keep the structure (sparse Jacobians, block-diagonal Hessians).
The method follows Laue, Mitterreiter & Giesen, "Computing Higher Order Derivatives of Matrix and Tensor
Expressions" (NeurIPS 2018).
"""

from . import _simplify  # noqa: F401 - installs the simplifier into the node constructors, before any is built
from ._build import (
    ElementwiseOp,
    Matrix,
    Scalar,
    Tensor,
    Vector,
    abs_ as abs,  # noqa: A001 - the element-wise |x|, named as in NumPy
    arccos,
    arcsin,
    arctan,
    concat,
    const,
    cos,
    det,
    diag,
    einsum,
    elementwise,
    exp,
    expm1,
    eye,
    full,
    inv,
    kron,
    log,
    log1p,
    logdet,
    logsumexp,
    matrix_power,
    norm1,
    norm2,
    ones,
    outer,
    relu,
    reshape,
    scatter_add,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    stack,
    sum,  # noqa: A001 - mirrors numpy.sum
    take,
    tan,
    tanh,
    trace,
    transpose,
    zeros,
)
from ._calculus import derivative, grad, hessian, hvp, jacobian, variable, variables
from ._check import check_derivatives
from ._codegen import CompiledFunction, compile  # noqa: A001
from ._dims import DimensionError
from ._fdcheck import DerivativeCheck
from ._functions import X as x_symbol
from ._nodes import Expr, Var
from ._objective import LeastSquares, Objective
from ._ggn import GaussNewton
from ._substitute import substitute
from ._parse import ParseError, parse
from ._constraint import Constraint, ParsedConstraint, parse_constraint, split_bounds
from ._export import export
from ._printing import index_notation, latex, to_str

__all__ = [
    "CompiledFunction", "DerivativeCheck", "DimensionError", "ElementwiseOp", "Expr", "GaussNewton", "LeastSquares", "Matrix", "Objective", "Scalar",
    "ParseError", "Tensor", "Var", "Vector", "parse",
    "abs", "arccos", "arcsin", "arctan", "check_derivatives", "compile", "const", "cos", "derivative", "det", "diag", "einsum",
    "elementwise", "exp", "expm1", "export", "eye", "full", "grad", "hessian", "hvp", "index_notation", "inv", "jacobian",
    "kron", "latex", "log", "log1p", "logdet", "logsumexp", "matrix_power", "norm1", "norm2", "ones", "outer", "relu", "reshape", "scatter_add", "sigmoid", "sign",
    "sin", "softplus", "sqrt", "substitute", "sum", "take", "tan", "tanh", "to_str", "trace", "transpose", "variable", "variables", "x_symbol",
    "zeros",
    "Constraint", "ParsedConstraint", "parse_constraint", "split_bounds",  # lo <= c(x) <= hi, exact derivatives
    "concat", "stack",  # blocks: rs.concat, rs.stack, and e[a:b] on any expression
]
