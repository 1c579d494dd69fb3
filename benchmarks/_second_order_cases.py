"""The cases of benchmarks/second_order.py: matrix factorizations and small networks, each with the same
objective written once more in PyTorch for the torch peers (Adam, L-BFGS).

Every case builds a ``ricci.problems.Problem`` (its objective f with exact derivatives, a residual where f is
a sum of squares) and a :class:`TorchObjective`, f on a flat float64 torch vector packed as the Problem's x
(the variables of ``objective.wrt`` in order, each row-major). :func:`check_torch` compares the two at x0 and
at a random point before any torch method runs.

- Matrix factorization (``ricci.problems.matrix_factorization``):
  f(U, V) = 1/2 sum_k (U[rows_k] . V[cols_k] - t_k)^2 + lam/2 (||U||_F^2 + ||V||_F^2), lam = 1e-3, on a planted
  low-rank matrix with noise 0.01 (``problems._synthetic.low_rank``: geometric singular values, condition
  ``cond``) and either uniformly missing entries or the MovieLens-shaped pattern of :func:`movielens_mask`.
- MLPs: ``ricci.problems.mlp`` (tanh, squared loss: it has a residual) on the diabetes data and on the problems'
  synthetic teacher network with two hidden layers; and :func:`softmax_mlp`, a one-hidden-layer tanh network
  with softmax cross-entropy on the digits data, built here with ``ricci.symbolic`` because
  ``problems.mlp`` offers only the squared and logistic losses. Inputs are standardized (zero mean, unit
  variance per column; constant columns are left at 0), the diabetes target too.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import ricci.symbolic as rs
from ricci import problems
from ricci.problems import _synthetic

MF_LAM = 1e-3
MF_NOISE = 0.01


@dataclass(frozen=True)
class TorchObjective:
    """f on a flat torch float64 vector, the same function as the ricci Problem's objective.

    kind: "factorization" (data: rows, cols, t, lam, m, n, r) or "mlp" (data: X, Y, lam, the layer shapes and
    loss "squared" or "softmax"). :meth:`function` returns ``f(x)`` for a torch module (imported by the caller,
    so that ricci never imports torch)."""

    kind: str
    data: dict

    def function(self, torch) -> Callable:
        d = {k: (torch.as_tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                 else torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in self.data.items()}
        if self.kind == "factorization":
            m, n, r, lam = d["m"], d["n"], d["r"], d["lam"]
            rows, cols, t = d["rows"], d["cols"], d["t"]

            def f(x):
                U, V = x[: m * r].reshape(m, r), x[m * r:].reshape(n, r)
                res = (U[rows] * V[cols]).sum(dim=1) - t
                return 0.5 * (res @ res) + lam / 2 * ((U * U).sum() + (V * V).sum())

            return f
        if self.kind == "mlp":
            shapes, lam, X, Y, loss = d["shapes"], d["lam"], d["X"], d["Y"], d["loss"]
            sizes = [int(np.prod(s)) for s in shapes]

            def f(x):
                parts = list(torch.split(x, sizes))
                H, penalty = X, 0.0
                layers = len(shapes) // 2
                for i in range(layers):
                    W = parts[2 * i].reshape(shapes[2 * i])
                    b = parts[2 * i + 1]
                    Z = H @ W + b
                    H = torch.tanh(Z) if i < layers - 1 else Z
                    penalty = penalty + (W * W).sum()
                if loss == "squared":
                    E = H - Y
                    value = 0.5 * (E * E).sum()
                else:
                    value = torch.logsumexp(H, dim=1).sum() - (Y * H).sum()
                return value + lam / 2 * penalty

            return f
        raise ValueError(f"TorchObjective kind must be 'factorization' or 'mlp', got {self.kind!r}")


@dataclass(frozen=True)
class Built:
    """A built case: the ricci problem, the torch objective, and how random starts are drawn."""

    problem: object
    torch_objective: TorchObjective
    start_scale: float  # root-mean-square of the entries of a random start (matches problem.x0's scale)


@dataclass(frozen=True)
class BenchCase:
    key: str                 # short name for --cases
    family: str              # "factorization" or "mlp"
    label: str
    build: Callable          # () -> Built
    multistart: bool         # success rate over --starts random starts (factorizations)


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


def standardize(A) -> np.ndarray:
    """Columns to zero mean and unit variance; a constant column becomes 0."""
    A = np.asarray(A, dtype=np.float64)
    sd = A.std(axis=0)
    return (A - A.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def movielens_mask(users: int = 943, items: int = 1682, ratings: int = 100_000, *, min_per_user: int = 20,
                   seed: int = 0) -> np.ndarray:
    """A 0/1 (users x items) mask with ``ratings`` ones whose row and column counts are skewed like MovieLens-100k.

    MovieLens-100k (Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015) has
    943 users with at least 20 ratings each (median about 65, maximum 737) and 1682 movies whose popularity is
    heavy-tailed (maximum 583 ratings, many with one). Here: each user's count is ``min_per_user`` plus a share
    of the remaining ratings drawn with log-normal weights (sigma = 1), capped at items / 2; the user's items
    are drawn without replacement with probability proportional to a Zipf-like popularity
    (rank + 10)^-1.2 over a random permutation of the items. Seeded; the total is exactly ``ratings``.
    """
    if min(users, items, ratings) < 1 or ratings > users * (items // 2) or users * min_per_user > ratings:
        raise ValueError(f"movielens_mask: need users * min_per_user <= ratings <= users * (items // 2), got users "
                         f"{users}, items {items}, ratings {ratings}, min_per_user {min_per_user}")
    rng = np.random.default_rng([seed, 100])
    cap = items // 2
    weights = rng.lognormal(0.0, 1.0, users)
    counts = np.full(users, min_per_user) + rng.multinomial(ratings - users * min_per_user, weights / weights.sum())
    while counts.max() > cap:  # move any excess to the users with room, keeping the total
        over = counts > cap
        excess = int((counts[over] - cap).sum())
        counts[over] = cap
        room = np.flatnonzero(counts < cap)
        np.add.at(counts, rng.choice(room, excess, replace=True), 1)
    popularity = (np.arange(items) + 10.0) ** -1.2
    popularity = popularity[rng.permutation(items)]
    popularity /= popularity.sum()
    mask = np.zeros((users, items))
    for u in range(users):
        mask[u, rng.choice(items, int(counts[u]), replace=False, p=popularity)] = 1.0
    return mask


# ----------------------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------------------


def factorization(m, n, rank, *, missing=0.0, cond=10.0, mask=None, seed=0) -> Built:
    """Rank-``rank`` factorization of a planted m x n matrix, lam = 1e-3, with uniformly ``missing`` entries
    (``problems._synthetic.low_rank``, as the registered "matrix-factorization" problem) or the given mask."""
    T, uniform = _synthetic.low_rank(m, n, rank, cond=cond, noise=MF_NOISE, missing=missing, seed=seed)
    mask = uniform if mask is None else mask
    p = problems.matrix_factorization(T, rank, mask=mask, lam=MF_LAM, seed=seed)
    rows, cols = np.nonzero(mask)
    torch_obj = TorchObjective("factorization", {"m": m, "n": n, "r": rank, "lam": MF_LAM, "rows": rows,
                                                 "cols": cols, "t": T[rows, cols]})
    return Built(p, torch_obj, float(np.sqrt(np.mean(p.x0 ** 2))))


def movielens_shaped(users=943, items=1682, ratings=100_000, rank=10, min_per_user=20, seed=0) -> Built:
    return factorization(users, items, rank, mask=movielens_mask(users, items, ratings, min_per_user=min_per_user,
                                                                 seed=seed), seed=seed)


def _mlp_torch(p, loss) -> TorchObjective:
    return TorchObjective("mlp", {"X": np.asarray(p.data["X"]), "Y": np.asarray(p.data["Y"]),
                                  "lam": float(p.data["lam"]), "shapes": [tuple(s) for s in p.objective.shapes],
                                  "loss": loss})


def diabetes(rows=None, hidden=16, lam=1e-2, seed=0) -> Built:
    """One-hidden-layer tanh MLP regression on scikit-learn's diabetes data (442 x 10), X and y standardized."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = standardize(X[:rows]), standardize(y[:rows, None])
    p = problems.mlp(X, y, hidden=(hidden,), lam=lam, seed=seed, name="mlp-diabetes",
                     source="scikit-learn load_diabetes (Efron et al., Least Angle Regression, 2004)",
                     description=f"MLP 10 -> {hidden} -> 1 (tanh, squared loss) on diabetes, m = {X.shape[0]}")
    return Built(p, _mlp_torch(p, "squared"), 0.0)


def synthetic_two_layer(m=500, n=8, hidden=(16, 8), seed=0) -> Built:
    """The problems' synthetic teacher-network MLP with two hidden layers (``problems.get("mlp", ...)``)."""
    p = problems.get("mlp", m=m, n=n, hidden=hidden, seed=seed)
    return Built(p, _mlp_torch(p, "squared"), 0.0)


def softmax_mlp(X, Y, hidden=16, lam=1e-1, seed=0, name="mlp-softmax", source="", description="") -> object:
    """A one-hidden-layer tanh network with softmax cross-entropy, as a ricci Problem:

        H = tanh(X W1 + 1 b1'),  O = H W2 + 1 b2',
        f = sum_i [ log sum_c exp(O_ic) - sum_c Y_ic O_ic ] + lam/2 (||W1||_F^2 + ||W2||_F^2)

    (Bishop, "Pattern Recognition and Machine Learning", 2006, sections 4.3.4 and 5.2). The loss is written in a
    placeholder O, so the objective is an ``rs.GaussNewton`` whose generalized Gauss-Newton matrix is
    J_O' H_loss J_O + lam I on the weights (Schraudolph 2002), like ``problems.mlp``'s; biases are not
    penalized; x0: LeCun-initialized weights (variance 1 / fan-in, seeded), biases 0.
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    m, n = X.shape
    k = Y.shape[1]
    Xs, Ys, lams = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Scalar("lam")
    W1, b1 = rs.Matrix("W1", "n", "h"), rs.Vector("b1", "h")
    W2, b2 = rs.Matrix("W2", "h", "k"), rs.Vector("b2", "k")
    H = rs.tanh(Xs @ W1 + rs.outer(rs.ones("m"), b1))
    out = H @ W2 + rs.outer(rs.ones("m"), b2)
    O = rs.Matrix("O", "m", "k")
    loss = rs.sum(rs.logsumexp(O, axis=1)) - rs.sum(Ys * O)
    data = {"X": X, "Y": Y, "lam": float(lam)}
    obj = rs.GaussNewton(loss, (O, out), [W1, b1, W2, b2], data,
                         penalty=lams / 2 * (rs.sum(W1 * W1) + rs.sum(W2 * W2)), sizes={"h": int(hidden)})
    rng = np.random.default_rng(seed)
    x0 = np.concatenate([rng.standard_normal(s).ravel() / np.sqrt(s[0]) if v.name.startswith("W")
                         else np.zeros(int(np.prod(s))) for v, s in zip(obj.wrt, obj.shapes)])
    return problems.Problem(name=name, objective=obj, x0=x0, family="mlp", data=data,
                            description=description or f"softmax MLP {n} -> {hidden} -> {k} (tanh), m = {m}",
                            source=source or "benchmarks/_second_order_cases.py softmax_mlp",
                            params={"hidden": (int(hidden),), "lam": float(lam), "seed": seed})


def digits(rows=None, hidden=16, lam=1e-1, seed=0) -> Built:
    """Softmax-MLP classification of scikit-learn's digits (1797 x 64, 10 classes), X standardized."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = standardize(X[:rows]), y[:rows]
    p = softmax_mlp(X, np.eye(10)[y], hidden=hidden, lam=lam, seed=seed, name="mlp-softmax-digits",
                    source="scikit-learn load_digits (UCI optical recognition of handwritten digits)",
                    description=f"softmax MLP 64 -> {hidden} -> 10 (tanh, cross-entropy) on digits, m = {X.shape[0]}")
    return Built(p, _mlp_torch(p, "softmax"), 0.0)


def cases(quick: bool) -> list:
    """The benchmark's cases: full sizes, or small ones with ``quick`` (the same kinds)."""
    if quick:
        return [
            BenchCase("mf-small", "factorization", "factorization 30x20 rank 3, 30% missing",
                      lambda: factorization(30, 20, 3, missing=0.3, cond=100.0), True),
            BenchCase("mf-sparse", "factorization", "factorization 120x100 rank 4, 90% missing",
                      lambda: factorization(120, 100, 4, missing=0.9), True),
            BenchCase("mf-movielens", "factorization", "MovieLens-shaped 150x250, 6000 entries, rank 5",
                      lambda: movielens_shaped(150, 250, 6000, rank=5, min_per_user=10), True),
            BenchCase("mlp-diabetes", "mlp", "MLP diabetes 10-8-1 (150 rows)", lambda: diabetes(150, hidden=8), False),
            BenchCase("mlp-digits", "mlp", "softmax MLP digits 64-8-10 (300 rows)", lambda: digits(300, hidden=8),
                      False),
            BenchCase("mlp-two-layer", "mlp", "MLP synthetic 4-6-4-1 m=64", lambda: synthetic_two_layer(64, 4, (6, 4)),
                      False),
        ]
    return [
        BenchCase("mf-small", "factorization", "factorization 100x80 rank 5, 30% missing",
                  lambda: factorization(100, 80, 5, missing=0.3, cond=100.0), True),
        BenchCase("mf-sparse", "factorization", "factorization 600x500 rank 8, 90% missing",
                  lambda: factorization(600, 500, 8, missing=0.9), True),
        BenchCase("mf-movielens", "factorization", "MovieLens-shaped 943x1682, 100k entries, rank 10",
                  lambda: movielens_shaped(), True),
        BenchCase("mlp-diabetes", "mlp", "MLP diabetes 10-16-1 (442 rows)", lambda: diabetes(), False),
        BenchCase("mlp-digits", "mlp", "softmax MLP digits 64-16-10 (1797 rows)", lambda: digits(), False),
        BenchCase("mlp-two-layer", "mlp", "MLP synthetic 8-16-8-1 m=500", lambda: synthetic_two_layer(), False),
    ]


CASE_KEYS = ("mf-small", "mf-sparse", "mf-movielens", "mlp-diabetes", "mlp-digits", "mlp-two-layer")


def check_torch(problem, f_torch, torch) -> str | None:
    """None when the torch objective's f and gradient match ricci's at x0 and at a random point; else what differs."""
    rng = np.random.default_rng(1)
    obj = problem.objective
    x0 = np.array(problem.x0)
    for x in (x0, x0 + 0.1 * rng.standard_normal(problem.n)):
        f, g = obj.fun_and_jac(x)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        ft = f_torch(xt)
        ft.backward()
        for name, a, b in (("f", np.asarray(f), ft.detach().numpy()), ("gradient", np.asarray(g), xt.grad.numpy())):
            if not np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(a))))):
                return f"torch {name} differs from ricci's (max |difference| {np.max(np.abs(a - b)):.3g})"
    return None
