"""Machine-learning problems as matrix expressions: logistic and softmax regression, matrix factorization, MLPs.

Every objective is a sum over samples (not a mean), with an L2 penalty lam/2 ||W||^2 on the weights and none
on the intercepts, the convention of scikit-learn's LogisticRegression with C = 1/lam.
"""
from __future__ import annotations

import numpy as np
import ricci.symbolic as rs

from . import _synthetic
from ._problem import Problem, register
from ._validate import (
    binary_labels,
    class_matrix,
    data_matrix,
    nonnegative,
    positive_int,
    real_matrix,
    same_rows,
)

_ML_SOURCE = "ricci.problems (L2-regularized maximum likelihood; see the docstring of {fn})"


def _row_broadcast(b: rs.Expr, rows: str = "m") -> rs.Expr:
    """A bias vector b (k) repeated over the rows of an (m, k) matrix: 1 b'."""
    return rs.outer(rs.ones(rows), b)


# ----------------------------------------------------------------------------------------------------------
# Logistic regression
# ----------------------------------------------------------------------------------------------------------


def logistic_model(intercept: bool = True):
    """The L2-regularized logistic loss in the form loss(output) + penalty, for the generalized Gauss-Newton
    model (``rs.GaussNewton``): ``(loss, (z, output), penalty, wrt)`` with

        loss = sum(softplus(-y .* z)),  output z = X*w + b (or X*w),  penalty = lam/2 w'w,

    z a placeholder vector (m); f = loss(output) + penalty is :func:`logistic_loss_expression`.
    """
    X, y, w, lam = rs.Matrix("X", "m", "n"), rs.Vector("y", "m"), rs.Vector("w", "n"), rs.Scalar("lam")
    z = rs.Vector("z", "m")
    output = X @ w
    wrt = [w]
    if intercept:
        b = rs.Scalar("b")
        output = output + b
        wrt.append(b)
    return rs.sum(rs.softplus(-y * z)), (z, output), lam / 2 * (w @ w), wrt


def logistic_loss_expression(intercept: bool = True):
    """The L2-regularized logistic loss as an expression, and the variables it is minimized over:

        f = sum(softplus(-y .* (X*w + b))) + lam/2 w'w,   wrt = [w, b]   (intercept=True)
        f = sum(softplus(-y .* (X*w))) + lam/2 w'w,       wrt = [w]      (intercept=False)

    with X (m x n), y (m), w (n) and the scalars b and lam: the objective of :func:`logistic_regression`,
    written once (benchmarks/hessian_speed.py differentiates the same expression), as the loss of
    :func:`logistic_model` with its output substituted.
    """
    loss, (z, output), penalty, wrt = logistic_model(intercept)
    return rs.substitute(loss, {z: output}) + penalty, wrt


def logistic_regression(X, y, lam: float = 1e-2, intercept: bool = True, *, name: str = "logistic-regression",
                        source: str | None = None, description: str | None = None) -> Problem:
    """L2-regularized logistic regression:

        f(w, b) = sum_i log(1 + exp(-y_i (x_i' w + b))) + lam/2 ||w||^2,     y_i in {-1, +1}

    (labels in {0, 1} are mapped to {-1, +1}), written ``sum(softplus(-y .* (X*w + b))) + lam/2 w'w``. Its
    gradient is -X' (y .* sigmoid(-y .* z)) + lam w and its Hessian X' diag(s) X + lam I with
    s = sigmoid(z) sigmoid(-z), z = X*w + b (the intercept b adds a border row and column). The intercept
    is not penalized: with C = 1/lam this is scikit-learn's ``LogisticRegression(C=C)`` objective up to the
    factor C. Variables packed as x = (w, b) (or x = w when ``intercept=False``); x0 = 0. The objective is
    an ``rs.GaussNewton`` (loss softplus(-y .* z) of the output z = X*w + b): z is affine in x, so its
    generalized Gauss-Newton matrix ``ggn_operator(x)`` is the Hessian, as a Gram operator plus lam on w.
    """
    X = data_matrix("X", X, 2)
    ypm = binary_labels("y", y)
    same_rows("X", X, "y", ypm)
    lam = nonnegative("lam", lam)
    m, n = X.shape
    loss, output, penalty, wrt = logistic_model(intercept)
    data = {"X": X, "y": ypm, "lam": lam}
    obj = rs.GaussNewton(loss, output, wrt, data, penalty=penalty)
    return Problem(
        name=name, objective=obj, x0=np.zeros(obj.size),
        description=description or f"L2-regularized logistic regression (m = {m}, n = {n}, lam = {lam:g})",
        source=source or _ML_SOURCE.format(fn="logistic_regression"), family="logistic", data=data,
        params={"lam": lam, "intercept": bool(intercept)},
    )


# ----------------------------------------------------------------------------------------------------------
# Softmax (multinomial logistic) regression
# ----------------------------------------------------------------------------------------------------------


def softmax_regression(X, Y, lam: float = 1e-2, intercept: bool = True, *, name: str = "softmax-regression",
                       source: str | None = None, description: str | None = None) -> Problem:
    """Multinomial logistic regression with a weight matrix W (n x k):

        f(W, b) = sum_i [ log sum_c exp(z_ic) - sum_c Y_ic z_ic ] + lam/2 ||W||_F^2,   Z = X W + 1 b'

    Y is one-hot (m x k) or a vector of integer labels. W is a matrix, so its Hessian is the 4th-order
    tensor d2f / dW_jc dW_kd = sum_i x_ij x_ik (P_ic delta_cd - P_ic P_id) + lam delta_jk delta_cd
    (P = softmax(Z) row-wise), which ``Objective`` flattens row-major to an (nk x nk) matrix. The intercept b
    is not penalized; f is invariant to adding a constant to every b_c, so with an intercept the Hessian is
    singular along (0, 1) and the minimizer is unique only up to that shift. The log-sum-exp is ``rs.logsumexp``,
    shifted by the row maximum, so large logits do not overflow. The objective is an ``rs.GaussNewton`` (the
    cross-entropy loss of the logits Z = X W + 1 b'): Z is affine in x, so ``ggn_operator(x)`` is the Hessian,
    composed as J' H_L J + lam I on W with H_L = diag(P) - the per-row blocks p_i p_i'.
    """
    X = data_matrix("X", X, 2)
    Yoh = class_matrix("Y", Y)
    same_rows("X", X, "Y", Yoh)
    lam = nonnegative("lam", lam)
    m, n = X.shape
    k = Yoh.shape[1]
    Xs, Ys, Ws, lams = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Matrix("W", "n", "k"), rs.Scalar("lam")
    output = Xs @ Ws
    wrt = [Ws]
    if intercept:
        b = rs.Vector("b", "k")
        output = output + _row_broadcast(b)
        wrt.append(b)
    Z = rs.Matrix("Z", "m", "k")
    loss = rs.sum(rs.logsumexp(Z, axis=1)) - rs.sum(Ys * Z)
    data = {"X": X, "Y": Yoh, "lam": lam}
    obj = rs.GaussNewton(loss, (Z, output), wrt, data, penalty=lams / 2 * rs.sum(Ws * Ws))
    return Problem(
        name=name, objective=obj, x0=np.zeros(obj.size),
        description=description or f"softmax regression (m = {m}, n = {n}, {k} classes, lam = {lam:g})",
        source=source or _ML_SOURCE.format(fn="softmax_regression"), family="softmax", data=data,
        params={"lam": lam, "intercept": bool(intercept)},
    )


# ----------------------------------------------------------------------------------------------------------
# Matrix factorization
# ----------------------------------------------------------------------------------------------------------


def matrix_factorization(T, rank: int, mask=None, lam: float = 1e-3, *, seed: int = 0,
                         name: str = "matrix-factorization", source: str | None = None,
                         description: str | None = None) -> Problem:
    """Low-rank factorization T ~ U V' over the observed entries (mask 1) with U (m x r), V (n x r):

        f(U, V) = 1/2 sum_k (U[rows[k], :] V[cols[k], :]' - t[k])^2 + lam/2 (||U||_F^2 + ||V||_F^2)
                = 1/2 ||M .* (U V' - T)||_F^2 + lam/2 (||U||_F^2 + ||V||_F^2)

    where (rows[k], cols[k]) are the observed positions (numpy.nonzero(mask), row-major) and t[k] the
    observed values: the expression gathers U's and V's rows with ``rs.take`` and never forms an m x n
    array, so its gradient is a scatter-add, its Hessian block diagonal per row of U and of V plus a
    coupling block with one r x r block per observed entry, and the residual's Jacobian sparse (r nonzeros
    per observed entry and factor), all visible in the expression tree. For Gauss-Newton and
    Levenberg-Marquardt, the residual whose half squared norm is f has three blocks, [r_obs, sqrt(lam) U,
    sqrt(lam) V] with r_obs[k] = U[rows[k], :] V[cols[k], :]' - t[k]. Missing entries of T (mask 0) do not
    enter f; their values in T are ignored. The minimizer is never unique (U Q, V Q for orthogonal Q leave
    U V' unchanged when lam = 0, and the penalty only fixes the balance); with a full mask every local
    minimum is global (Baldi & Hornik, 1989). x0 is seeded Gaussian (U = V = 0 is a saddle point) scaled to
    the magnitude of T. ``data`` holds t (the observed values) and lam.
    """
    if mask is None:
        T = real_matrix("T", T, 2)
        M = np.ones_like(T)
    else:
        M = real_matrix("mask", mask, 2)
        if not np.isin(M, (0.0, 1.0)).all():
            raise ValueError("mask must hold 0 (missing) and 1 (observed) only")
        if not M.any():
            raise ValueError("mask hides every entry of T; nothing to fit")
        raw = np.asarray(T, dtype=np.float64) if not isinstance(T, (str, bytes)) else T
        if getattr(raw, "shape", None) != M.shape:
            raise ValueError(f"mask must have the shape of T {getattr(raw, 'shape', None)}, got {M.shape}")
        T = real_matrix("T (observed entries)", np.where(M > 0, raw, 0.0), 2)  # missing entries may be NaN
    m, n = T.shape
    rank = positive_int("rank", rank)
    if rank > min(m, n):
        raise ValueError(f"rank must be at most min(m, n) = {min(m, n)}, got {rank}")
    lam = nonnegative("lam", lam)
    rows, cols = np.nonzero(M)
    observed = len(rows)
    ts, lams = rs.Vector("t", observed), rs.Scalar("lam")
    U, V = rs.Matrix("U", "m", "r"), rs.Matrix("V", "n", "r")
    r_obs = rs.sum(rs.take(U, rows, name="rows") * rs.take(V, cols, name="cols"), axis=1) - ts
    f = rs.sum(r_obs * r_obs) / 2 + lams / 2 * (rs.sum(U * U) + rs.sum(V * V))
    root = rs.sqrt(lams)
    data = {"t": T[rows, cols], "lam": lam}
    sizes = {"m": m, "n": n, "r": rank}
    obj = rs.Objective(f, [U, V], data, sizes=sizes)
    ls = rs.LeastSquares([r_obs, root * U, root * V], [U, V], data, sizes=sizes)
    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.sqrt((T[M > 0] ** 2).mean()) / np.sqrt(rank)) if (T[M > 0] != 0).any() else 1.0
    x0 = scale * rng.standard_normal(obj.size)
    return Problem(
        name=name, objective=obj, x0=x0, residual=ls, residual_weight=0.5,
        description=description or (f"rank-{rank} matrix factorization of a {m} x {n} matrix "
                                    f"({observed} of {m * n} entries observed, lam = {lam:g})"),
        source=source or _ML_SOURCE.format(fn="matrix_factorization"), family="factorization", data=data,
        params={"rank": rank, "lam": lam, "seed": seed},
    )


# ----------------------------------------------------------------------------------------------------------
# Multilayer perceptron
# ----------------------------------------------------------------------------------------------------------

ACTIVATIONS = {"tanh": rs.tanh, "sigmoid": rs.sigmoid, "softplus": rs.softplus}
LOSSES = ("squared", "logistic")


def mlp(X, Y, hidden=(16,), activation: str = "tanh", loss: str = "squared", lam: float = 1e-3, *, seed: int = 0,
        name: str = "mlp", source: str | None = None, description: str | None = None) -> Problem:
    """A fully connected network with one or two hidden layers, trained on the whole batch:

        H_1 = a(X W_1 + 1 b_1'),  [H_2 = a(H_1 W_2 + 1 b_2'),]  O = H_L W_out + 1 b_out'
        squared:  f = 1/2 ||O - Y||_F^2 + lam/2 sum ||W_l||_F^2
        logistic: f = sum(softplus(O) - Y .* O) + lam/2 sum ||W_l||_F^2     (Y in {0, 1}: cross-entropy of sigmoid(O))

    with a = tanh, sigmoid or softplus. Weights and biases are separate variables (W1, b1, W2, b2[, W3, b3]),
    packed in that order; biases are not penalized. Y is (m x k), or a vector for one output. x0: weights
    Gaussian with variance 1/fan_in (LeCun initialization, seeded), biases 0. The problem is nonconvex.

    The objective is an ``rs.GaussNewton``: the loss written in a placeholder O for the output, so
    ``objective.ggn_operator(x)`` is the generalized Gauss-Newton matrix J_O' H_loss J_O + lam I on the
    weights (H_loss = I for the squared loss, diag(sigmoid(O) (1 - sigmoid(O))) for the logistic loss;
    Schraudolph 2002). With the squared loss the problem also has a residual, the blocks
    [O - Y, sqrt(lam) W_1, ..., sqrt(lam) W_L] with f = 1/2 ||r||^2, so Gauss-Newton and Levenberg-Marquardt
    apply (``solve("lm")``).
    """
    X = real_matrix("X", X, 2)
    Y = real_matrix("Y", Y, (1, 2))
    if Y.ndim == 1:
        Y = Y[:, None]
    same_rows("X", X, "Y", Y)
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, (tuple, list)) or len(hidden) not in (1, 2):
        raise ValueError(f"hidden must be one or two layer widths such as (16,) or (16, 8), got {hidden!r}")
    hidden = tuple(positive_int("hidden width", h) for h in hidden)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got {loss!r}")
    if loss == "logistic" and not np.isin(Y, (0.0, 1.0)).all():
        raise ValueError("loss='logistic' needs targets Y in {0, 1}")
    lam = nonnegative("lam", lam)
    act = ACTIVATIONS[activation]
    m, n = X.shape
    k = Y.shape[1]
    Xs, Ys, lams = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Scalar("lam")
    widths = ("n",) + tuple(f"h{i + 1}" for i in range(len(hidden))) + ("k",)
    layers, wrt = [], []
    H = Xs
    for i in range(len(widths) - 1):
        W = rs.Matrix(f"W{i + 1}", widths[i], widths[i + 1])
        b = rs.Vector(f"b{i + 1}", widths[i + 1])
        layers.append(W)
        wrt += [W, b]
        Z = H @ W + _row_broadcast(b)
        H = act(Z) if i < len(widths) - 2 else Z
    out = H
    penalty = lams / 2 * sum((rs.sum(W * W) for W in layers[1:]), start=rs.sum(layers[0] * layers[0]))
    O = rs.Matrix("O", "m", "k")  # the placeholder for the network's output in the loss
    if loss == "squared":
        loss_expr = rs.sum((O - Ys) * (O - Ys)) / 2
    else:
        loss_expr = rs.sum(rs.softplus(O)) - rs.sum(Ys * O)
    data = {"X": X, "Y": Y, "lam": lam}
    sizes = {f"h{i + 1}": h for i, h in enumerate(hidden)}
    obj = rs.GaussNewton(loss_expr, (O, out), wrt, data, penalty=penalty, sizes=sizes)
    residual = None
    if loss == "squared":  # f = 1/2 ||[O - Y, sqrt(lam) W_1, ..., sqrt(lam) W_L]||^2
        root = rs.sqrt(lams)
        residual = rs.LeastSquares([out - Ys] + [root * W for W in layers], wrt, data, sizes=sizes)
    rng = np.random.default_rng(seed)
    parts = []
    for v, shape in zip(obj.wrt, obj.shapes):
        if v.name.startswith("W"):
            parts.append(rng.standard_normal(shape).ravel() / np.sqrt(shape[0]))
        else:
            parts.append(np.zeros(int(np.prod(shape))))
    arch = " -> ".join(str(w) for w in (n, *hidden, k))
    return Problem(
        name=name, objective=obj, x0=np.concatenate(parts), residual=residual, residual_weight=0.5,
        description=description or f"MLP {arch} ({activation}, {loss} loss, m = {m}, lam = {lam:g})",
        source=source or _ML_SOURCE.format(fn="mlp"), family="mlp", data=data,
        params={"hidden": hidden, "activation": activation, "loss": loss, "lam": lam, "seed": seed},
    )


# ----------------------------------------------------------------------------------------------------------
# Registered instances
# ----------------------------------------------------------------------------------------------------------


@register("logistic-regression", "logistic", "L2 logistic regression on the embedded breast-cancer data (569 x 30)")
def _logistic_default(lam: float = 1e-2, intercept: bool = True, X=None, y=None) -> Problem:
    """The main job's problem: the Wisconsin diagnostic breast-cancer data, standardized (or your X, y)."""
    from ._datasets import breast_cancer

    if (X is None) != (y is None):
        raise ValueError("logistic-regression: pass both X and y, or neither (for the embedded data)")
    if X is None:
        ds = breast_cancer()
        return logistic_regression(ds.X, ds.y, lam=lam, intercept=intercept, source=ds.source,
                                   description=f"L2-regularized logistic regression, breast-cancer data "
                                               f"(569 x 30, standardized), lam = {lam:g}")
    return logistic_regression(X, y, lam=lam, intercept=intercept)


@register("logistic-regression-synthetic", "logistic", "L2 logistic regression on seeded data of given condition")
def _logistic_synthetic(m: int = 200, n: int = 10, cond: float = 10.0, lam: float = 1e-2, seed: int = 0) -> Problem:
    X, y = _synthetic.classification(m, n, 2, cond=cond, seed=seed)
    p = logistic_regression(X, y, lam=lam, name="logistic-regression-synthetic",
                            source="ricci.problems synthetic classification data (seeded)")
    return _with_params(p, m=m, n=n, cond=cond, seed=seed)


@register("softmax-regression", "softmax", "softmax regression on seeded 3-class data (4th-order Hessian in W)")
def _softmax_synthetic(m: int = 150, n: int = 5, classes: int = 3, cond: float = 10.0, lam: float = 1e-2,
                       intercept: bool = True, seed: int = 0) -> Problem:
    X, Y = _synthetic.classification(m, n, classes, cond=cond, seed=seed)
    if classes == 2:
        Y = np.eye(2)[Y.astype(int)]
    p = softmax_regression(X, Y, lam=lam, intercept=intercept,
                           source="ricci.problems synthetic classification data (seeded)")
    return _with_params(p, m=m, n=n, classes=classes, cond=cond, seed=seed)


@register("matrix-factorization", "factorization", "rank-2 factorization of a seeded 12 x 10 matrix, 30% missing")
def _factorization_synthetic(m: int = 12, n: int = 10, rank: int = 2, cond: float = 10.0, missing: float = 0.3,
                             noise: float = 0.01, lam: float = 1e-3, seed: int = 0) -> Problem:
    T, mask = _synthetic.low_rank(m, n, rank, cond=cond, noise=noise, missing=missing, seed=seed)
    p = matrix_factorization(T, rank, mask=mask, lam=lam, seed=seed,
                             source="ricci.problems synthetic low-rank matrix (seeded)")
    return _with_params(p, m=m, n=n, cond=cond, missing=missing, noise=noise)


@register("mlp", "mlp", "MLP 4 -> 5 -> 1 (tanh) fitting a seeded teacher network")
def _mlp_synthetic(m: int = 32, n: int = 4, hidden=(5,), activation: str = "tanh", loss: str = "squared",
                   cond: float = 10.0, lam: float = 1e-2, seed: int = 0) -> Problem:
    X, Y = _synthetic.regression(m, n, 1, cond=cond, seed=seed)
    if loss == "logistic":
        Y = (Y > np.median(Y)).astype(float)
    p = mlp(X, Y, hidden=hidden, activation=activation, loss=loss, lam=lam, seed=seed,
            source="ricci.problems synthetic teacher network (seeded)")
    return _with_params(p, m=m, n=n, cond=cond)


def _with_params(p: Problem, **extra) -> Problem:
    from dataclasses import replace

    return replace(p, params={**p.params, **extra})
