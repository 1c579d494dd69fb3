"""The cases of benchmarks/constrained.py and their peers' models: CasADi (for IPOPT) and CVXPY.

Three groups:

- ``hs``: the Hock-Schittkowski problems of ``ricci.problems`` from their published starts, with their
  published optima f*. IPOPT gets each one as CasADi SX expressions translated from the same published text
  (``HS_PROBLEMS[k].objective`` / ``.constraints``) by :func:`casadi_from_text`, a whitelisting walk over
  Python's ``ast`` of the text (numbers, x1..xn, + - * / ^, sin cos exp log sqrt): nothing is evaluated.
- ``bounds``: bound-constrained problems of issue 12's speed target, built here (they are benchmark data, not
  library problems): nonnegative least squares 3000 x 400 with singular values geometric from 1 to 1e-3, and
  nonnegative ridge-logistic regression 20000 x 300 (w >= 0).
- ``convex``: the convex constrained problems of ``ricci.problems`` (nnls, portfolio, svm-dual, l1-logistic)
  at sizes where CVXPY needs more than 0.1 s; each has a CasADi model and a CVXPY model of the same f and
  constraints (the L1 logistic regression is given to CVXPY as ``norm1(w)``, whose optimal value is the split
  form's; its answer w maps to p = max(w, 0), q = max(-w, 0)).

A :class:`Built` case carries the ricci Problem, the known optimum where there is one (HS: published; NNLS:
``scipy.optimize.nnls``, an active-set method that ends at the exact solution), and builders of the peers'
models that take the peer's module, so that a missing peer is only a note.
"""
from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import ricci.symbolic as rs
from ricci import problems
from ricci.problems import synthetic

GROUPS = ("hs", "bounds", "convex")


@dataclass(frozen=True)
class Case:
    key: str
    group: str
    label: str
    build: Callable  # () -> Built
    skip: tuple = ()  # (method, why) pairs: methods not run on this case, and why (a note in the results)


@dataclass
class Built:
    problem: object                  # ricci.problems.Problem with bounds and/or constraints
    f_star: float | None = None      # the known optimum (HS: published; NNLS: scipy.optimize.nnls)
    f_star_source: str = ""
    casadi: Callable | None = None   # (casadi) -> (x, f, g, lbg, ubg, hessian) in CasADi symbols; g and hessian
    #                                  may be None (hessian: of f, given where every constraint is linear)
    cvxpy: Callable | None = None    # (cvxpy) -> (problem, to_x) with to_x(): ricci's x from the solved variables


# ----------------------------------------------------------------------------------------------------------
# Hock-Schittkowski: published text -> CasADi expressions
# ----------------------------------------------------------------------------------------------------------

_FUNCTIONS = ("sin", "cos", "exp", "log", "sqrt", "tan", "atan")
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


def casadi_from_text(text: str, x, ca):
    """The scalar expression ``text`` of the Hock-Schittkowski notation (unknowns x1..xn, ``^`` for powers) as
    a CasADi expression in the entries of ``x``. A walk over the syntax tree that accepts numbers, the
    unknowns, + - * / ^, unary minus and the functions in ``_FUNCTIONS``, and refuses anything else."""
    tree = ast.parse(text.replace("^", "**"), mode="eval")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id[:1] == "x" and node.id[1:].isdigit():
            k = int(node.id[1:])
            if not 1 <= k <= x.shape[0]:
                raise ValueError(f"{text!r}: unknown x{k} (the problem has x1..x{x.shape[0]})")
            return x[k - 1]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = walk(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                and len(node.args) == 1 and not node.keywords):
            return getattr(ca, node.func.id)(walk(node.args[0]))
        raise ValueError(f"{text!r}: cannot translate {ast.dump(node)[:60]} to CasADi")

    return walk(tree)


def _hs_casadi(number):
    hs = problems.HS_PROBLEMS[number]

    def model(ca):
        x = ca.SX.sym("x", hs.n)
        f = casadi_from_text(hs.objective, x, ca)
        gs, lbg, ubg = [], [], []
        for text in hs.constraints:
            body, _, side = text.rpartition("==") if "==" in text else text.rpartition(">=")
            if side.strip() != "0":
                raise ValueError(f"HS {number}: constraint {text!r} is not 'expr == 0' or 'expr >= 0'")
            gs.append(casadi_from_text(body, x, ca))
            lbg.append(0.0)
            ubg.append(0.0 if "==" in text else math.inf)
        return x, f, (ca.vertcat(*gs) if gs else None), lbg, ubg, None

    return model


def _hs(number):
    def build():
        p = problems.hock_schittkowski(number)
        return Built(p, p.minimum, "published (Hock & Schittkowski 1981)", casadi=_hs_casadi(number))

    return build


# ----------------------------------------------------------------------------------------------------------
# Bound-constrained: NNLS with singular values 1..1e-3, nonnegative logistic regression
# ----------------------------------------------------------------------------------------------------------


def nnls_data(m, n, cond, seed):
    """A = U diag(s) V' with s geometric from 1 to 1/cond, and b = A x_true + 10% noise, x_true half zeros."""
    A = synthetic.conditioned_matrix(m, n, cond, seed) / math.sqrt(m)
    rng = np.random.default_rng([seed, 31])
    x_true = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    clean = A @ x_true
    b = clean + 0.1 * rng.standard_normal(m) * np.linalg.norm(clean) / math.sqrt(m)
    return A, b


def _nnls_casadi(A, b):
    """1/2 x'Qx - c'x + 1/2 b'b with Q = A'A, c = A'b formed once (in the model's build time), the Hessian Q
    given: the form a CasADi user writes for a least-squares QP. (Written as 1/2 ||Ax - b||^2, CasADi's
    Hessian cost n products with A and A' per IPOPT iteration: 9 iterations in 30 s at 3000 x 400.)"""
    def model(ca):
        x = ca.MX.sym("x", A.shape[1])
        Q, c = ca.DM(A.T @ A), ca.DM(A.T @ b)
        return x, 0.5 * ca.bilin(Q, x, x) - ca.dot(c, x) + 0.5 * float(b @ b), None, [], [], Q

    return model


def _nnls_cvxpy(A, b):
    def model(cp):
        x = cp.Variable(A.shape[1])
        prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b)), [x >= 0])
        return prob, lambda: np.asarray(x.value, dtype=float)

    return model


def _nnls_built(p, A, b, label):
    from scipy.optimize import nnls

    x_star, _ = nnls(A, b, maxiter=50 * A.shape[1])
    f_star = 0.5 * float(np.sum((A @ x_star - b) ** 2))
    return Built(p, f_star, "scipy.optimize.nnls (active set, exact)", casadi=_nnls_casadi(A, b),
                 cvxpy=_nnls_cvxpy(A, b))


def nnls_bounds(m, n, cond=1e3, seed=0):
    def build():
        A, b = nnls_data(m, n, cond, seed)
        p = problems.nonnegative_least_squares(A, b, name=f"nnls {m}x{n}",
                                               description=f"nonnegative least squares {m} x {n}, singular "
                                                           f"values 1..{1 / cond:g}", source="benchmark data")
        return _nnls_built(p, A, b, p.name)

    return build


def nonnegative_logistic(m, n, lam=1.0, cond=10.0, seed=0):
    """min sum softplus(-s .* (X w)) + lam/2 w'w subject to w >= 0, s = 2y - 1 (seeded synthetic data)."""
    def build():
        X, y = synthetic.classification(m, n, 2, cond=cond, seed=seed)
        s = 2.0 * y - 1.0
        f = rs.parse("sum(softplus(-s .* (X*w))) + lam/2*(w'*w)", X=("m", "n"), s="m", w="n", lam=())
        data = {"X": X, "s": s, "lam": lam}
        p = problems.Problem(name=f"nonnegative logistic {m}x{n}", objective=rs.Objective(f, "w", data),
                             x0=np.zeros(n), description=f"nonnegative ridge-logistic regression {m} x {n}, "
                                                         f"lam = {lam:g}", source="benchmark data (seeded)",
                             family="constrained", data=data, bounds=(np.zeros(n), np.full(n, np.inf)))

        def model(ca):
            w = ca.MX.sym("w", n)
            z = -ca.DM(s) * ca.mtimes(ca.DM(X), w)
            return (w, ca.sum1(ca.log1p(ca.exp(z))) + lam / 2 * ca.sumsqr(w), None, [], [],
                    _logistic_hessian(ca, X, z) + lam * ca.DM.eye(n))

        def cvx(cp):
            w = cp.Variable(n)
            obj = cp.sum(cp.logistic(-cp.multiply(s, X @ w))) + lam / 2 * cp.sum_squares(w)
            return cp.Problem(cp.Minimize(obj), [w >= 0]), lambda: np.asarray(w.value, dtype=float)

        return Built(p, casadi=model, cvxpy=cvx)

    return build


def _logistic_hessian(ca, X, z):
    """X' diag(sigmoid(z) (1 - sigmoid(z))) X in CasADi symbols: the Hessian of sum softplus(z), z = -s .* (X w)
    (s = +-1), w.r.t. w. Handed to IPOPT as ``hess_lag``: CasADi's own Hessian of a dense model is built by
    coloring its sparsity, which took minutes at these sizes."""
    sigma = 1.0 / (1.0 + ca.exp(-z))
    d = sigma * (1.0 - sigma)
    Xd = ca.DM(X)
    return ca.mtimes(Xd.T, ca.repmat(d, 1, X.shape[1]) * Xd)


# ----------------------------------------------------------------------------------------------------------
# Convex constrained problems of ricci.problems, with their CasADi and CVXPY models
# ----------------------------------------------------------------------------------------------------------


def convex_nnls(m, n, cond, seed=0):
    def build():
        p = problems.get("nnls", m=m, n=n, cond=cond, seed=seed)
        return _nnls_built(p, np.asarray(p.data["A"]), np.asarray(p.data["b"]), p.name)

    return build


def convex_portfolio(n, factors, gamma=0.5, seed=0):
    def build():
        p = problems.get("portfolio", n=n, factors=factors, gamma=gamma, seed=seed)
        S, mu = np.asarray(p.data["S"]), np.asarray(p.data["mu"])

        def model(ca):
            w = ca.MX.sym("w", n)
            return (w, ca.bilin(ca.DM(S), w, w) - gamma * ca.dot(ca.DM(mu), w), ca.sum1(w), [1.0], [1.0],
                    ca.DM(2.0 * S))

        def cvx(cp):
            w = cp.Variable(n)
            prob = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(S)) - gamma * mu @ w), [cp.sum(w) == 1, w >= 0])
            return prob, lambda: np.asarray(w.value, dtype=float)

        return Built(p, casadi=model, cvxpy=cvx)

    return build


def convex_svm_dual(m, n, C=1.0, seed=0):
    def build():
        p = problems.get("svm-dual", m=m, n=n, C=C, seed=seed)
        X, y = np.asarray(p.data["X"]), np.asarray(p.data["y"])

        def model(ca):
            # 1/2 a'Qa with Q = diag(y) X X' diag(y) formed once (in the model's build time): written as
            # 1/2 ||X'(y .* a)||^2, building the nlpsol took 4.5 s at m = 200 and over 5 minutes at m = 1000
            # (CasADi's star coloring of the Hessian's sparsity)
            a = ca.MX.sym("a", m)
            Z = y[:, None] * X
            Q = ca.DM(Z @ Z.T)
            return a, 0.5 * ca.bilin(Q, a, a) - ca.sum1(a), ca.dot(ca.DM(y), a), [0.0], [0.0], Q

        def cvx(cp):
            a = cp.Variable(m)
            obj = 0.5 * cp.sum_squares(X.T @ cp.multiply(y, a)) - cp.sum(a)
            prob = cp.Problem(cp.Minimize(obj), [y @ a == 0, a >= 0, a <= C])
            return prob, lambda: np.asarray(a.value, dtype=float)

        return Built(p, casadi=model, cvxpy=cvx)

    return build


def convex_l1_logistic(m, n, lam=1.0, cond=10.0, seed=0):
    def build():
        p = problems.get("l1-logistic", m=m, n=n, cond=cond, lam=lam, seed=seed)
        X, s = np.asarray(p.data["X"]), np.asarray(p.data["s"])

        def model(ca):
            pq = ca.MX.sym("pq", 2 * n)
            w = pq[:n] - pq[n:]
            z = -ca.DM(s) * ca.mtimes(ca.DM(X), w)
            H = _logistic_hessian(ca, X, z)
            return (pq, ca.sum1(ca.log1p(ca.exp(z))) + lam * ca.sum1(pq), None, [], [],
                    ca.blockcat([[H, -H], [-H, H]]))

        def cvx(cp):
            w = cp.Variable(n)
            obj = cp.sum(cp.logistic(-cp.multiply(s, X @ w))) + lam * cp.norm1(w)
            prob = cp.Problem(cp.Minimize(obj))

            def to_x():
                v = np.asarray(w.value, dtype=float)
                return np.concatenate([np.maximum(v, 0.0), np.maximum(-v, 0.0)])

            return prob, to_x

        return Built(p, casadi=model, cvxpy=cvx)

    return build


# ----------------------------------------------------------------------------------------------------------
# The case list
# ----------------------------------------------------------------------------------------------------------


def hs_numbers() -> list:
    return sorted(problems.HS_PROBLEMS)


def cases(quick: bool) -> list:
    """Every case of a run: the whole HS set, the two bound-constrained problems and the four convex ones at
    full size, or small sizes with ``quick`` (the same methods)."""
    out = [Case(f"hs{k}", "hs", f"HS {k}", _hs(k)) for k in hs_numbers()]
    if quick:
        out += [Case("nnls-bounds", "bounds", "NNLS 300x40, s in [1e-3, 1]", nnls_bounds(300, 40)),
                Case("nonneg-logistic", "bounds", "nonneg. logistic 2000x30", nonnegative_logistic(2000, 30)),
                Case("nnls", "convex", "NNLS 300x40, cond 1e4", convex_nnls(300, 40, 1e4)),
                Case("portfolio", "convex", "portfolio 50 assets", convex_portfolio(50, 3)),
                Case("svm-dual", "convex", "SVM dual 200x5", convex_svm_dual(200, 5)),
                Case("l1-logistic", "convex", "L1 logistic 500x20", convex_l1_logistic(500, 20))]
    else:
        out += [Case("nnls-bounds", "bounds", "NNLS 3000x400, s in [1e-3, 1]", nnls_bounds(3000, 400)),
                Case("nonneg-logistic", "bounds", "nonneg. logistic 20000x300",
                     nonnegative_logistic(20000, 300),
                     skip=(("ipopt", ("CasADi's dense products are plain loops: its first Hessian X'DX at "
                                      "20000 x 300 took over 70 s")),)),
                Case("nnls", "convex", "NNLS 3000x400, cond 1e4", convex_nnls(3000, 400, 1e4)),
                Case("portfolio", "convex", "portfolio 500 assets, 10 factors", convex_portfolio(500, 10)),
                Case("svm-dual", "convex", "SVM dual 1000x20", convex_svm_dual(1000, 20)),
                Case("l1-logistic", "convex", "L1 logistic 2000x100", convex_l1_logistic(2000, 100))]
    return out


CASE_KEYS = tuple(c.key for c in cases(quick=True))
