"""Seeded synthetic data for each family, with a condition-number knob.

The knob sets the spread of singular values of the design (features) matrix or of the planted low-rank
matrix: they are spaced geometrically between 1 and 1/cond, so that cond(X) = cond exactly (for
m >= n) and the Hessian of a least-squares or logistic loss has a condition number that grows like cond^2.
Construction: X = U diag(s) V' with U, V Haar-random orthonormal factors (QR of Gaussian matrices with the
sign fix of Mezzadri, "How to generate random matrices from the classical compact groups", Notices AMS 2007).
"""
from __future__ import annotations

import numpy as np


def _check_int(name, value, at_least=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < at_least:
        raise ValueError(f"{name} must be an integer >= {at_least}, got {value!r}")
    return int(value)


def _check_cond(cond):
    if isinstance(cond, bool) or not isinstance(cond, (int, float, np.floating, np.integer)) or not cond >= 1:
        raise ValueError(f"cond must be a number >= 1 (the ratio of largest to smallest singular value), got {cond!r}")
    return float(cond)


def _orthonormal(rng, rows, cols):
    """A Haar-distributed rows x cols matrix with orthonormal columns (rows >= cols)."""
    Q, R = np.linalg.qr(rng.standard_normal((rows, cols)))
    return Q * np.sign(np.diag(R))


def conditioned_matrix(m: int, n: int, cond: float = 10.0, seed: int = 0) -> np.ndarray:
    """An m x n matrix U diag(s) V' with singular values s geometric from sqrt(m) down to sqrt(m)/cond.

    The scale sqrt(m) gives columns of unit root-mean-square norm when cond = 1, like standardized features.
    """
    m, n, cond = _check_int("m", m), _check_int("n", n), _check_cond(cond)
    rng = np.random.default_rng(seed)
    k = min(m, n)
    s = np.sqrt(m) * np.geomspace(1.0, 1.0 / cond, k)
    return (_orthonormal(rng, m, k) * s) @ _orthonormal(rng, n, k).T


def classification(m: int = 200, n: int = 10, classes: int = 2, cond: float = 10.0, noise: float = 1.0,
                   seed: int = 0):
    """Features X (m x n, condition number ``cond``) and labels from a planted linear model.

    Two classes: y in {0, 1} with P(y = 1 | x) = sigmoid(x'w / noise) for a planted unit vector w.
    More classes: one-hot Y (m x classes) drawn from softmax(x'W / noise). Both classes (all classes) are
    guaranteed to appear. Returns (X, y) or (X, Y).
    """
    m, n = _check_int("m", m, 2), _check_int("n", n)
    classes = _check_int("classes", classes, 2)
    if not noise > 0:
        raise ValueError(f"noise must be > 0, got {noise!r}")
    X = conditioned_matrix(m, n, cond, seed)
    rng = np.random.default_rng([seed, 1])
    W = rng.standard_normal((n, classes))
    W /= np.linalg.norm(W, axis=0)
    Z = 2.0 * X @ W / noise
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    u = rng.random((m, 1))
    labels = np.minimum((u > np.cumsum(P, axis=1)).sum(axis=1), classes - 1)
    labels[:classes] = np.arange(classes)  # every class present
    if classes == 2:
        return X, labels.astype(np.float64)
    return X, np.eye(classes)[labels]


def low_rank(m: int = 20, n: int = 15, rank: int = 3, cond: float = 10.0, noise: float = 0.0,
             missing: float = 0.0, seed: int = 0):
    """A matrix T = A diag(s) B' + noise of the given rank with s geometric from 1 to 1/cond, and a mask.

    ``missing`` is the fraction of entries hidden (mask 0); every row and column keeps at least one observed
    entry. Returns (T, mask) with mask a 0/1 float array.
    """
    m, n, rank = _check_int("m", m), _check_int("n", n), _check_int("rank", rank)
    if rank > min(m, n):
        raise ValueError(f"rank must be at most min(m, n) = {min(m, n)}, got {rank}")
    if not 0 <= missing < 1:
        raise ValueError(f"missing must be a fraction in [0, 1), got {missing!r}")
    cond = _check_cond(cond)
    rng = np.random.default_rng(seed)
    s = np.geomspace(1.0, 1.0 / cond, rank) * np.sqrt(m * n / rank)  # entries of root-mean-square <= 1
    T = (_orthonormal(rng, m, rank) * s) @ _orthonormal(rng, n, rank).T
    T = T + noise * rng.standard_normal((m, n))
    mask = (rng.random((m, n)) >= missing).astype(np.float64)
    mask[np.arange(m), rng.integers(0, n, m)] = 1.0
    mask[rng.integers(0, m, n), np.arange(n)] = 1.0
    return T, mask


def regression(m: int = 64, n: int = 4, outputs: int = 1, cond: float = 10.0, noise: float = 0.05,
               hidden: int = 4, seed: int = 0):
    """Inputs X (m x n, condition number ``cond``) and targets Y (m x outputs) from a planted one-hidden-layer
    tanh network plus Gaussian noise: Y = tanh(X A) B + noise, the teacher of an MLP student."""
    m, n = _check_int("m", m), _check_int("n", n)
    outputs, hidden = _check_int("outputs", outputs), _check_int("hidden", hidden)
    X = conditioned_matrix(m, n, cond, seed)
    rng = np.random.default_rng([seed, 2])
    A = rng.standard_normal((n, hidden)) / np.sqrt(n)
    B = rng.standard_normal((hidden, outputs)) / np.sqrt(hidden)
    Y = np.tanh(X @ A) @ B + noise * rng.standard_normal((m, outputs))
    return X, Y
