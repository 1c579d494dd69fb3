"""``ricci bench``: exact second-order methods against quasi-Newton, scipy, scikit-learn and a JAX-Hessian Newton.

The logic of ``benchmarks/solvers.py`` (a thin script calling :func:`main`), kept in the installed package so
that ``ricci bench`` works from any directory. One run times every method on every case, so ratios are fair:

    problems   logistic regression (embedded breast-cancer data; synthetic m = 10,000, n = 100 and 500,
               well conditioned (cond(X) = 10) and badly (cond(X) = 1000)), softmax regression (10 classes),
               matrix factorization with missing entries, a small MLP regression, the More-Garbow-Hillstrom set
    methods    ricci newton, trust-exact, trust-ncg, lbfgs, and lm / gauss-newton on sums of squares;
               scipy BFGS, L-BFGS-B, Newton-CG, trust-exact fed with ricci's derivatives;
               scikit-learn LogisticRegression (newton-cholesky, lbfgs) at the same objective (C = 1/lam);
               ricci's newton driven by JAX autodiff f, gradient and Hessian (jit, float64), so that only the
               source of the derivatives differs from "ricci newton"

What is measured, per (case, method), median over ``--repeat`` repetitions taken in interleaved rounds:

- the *time to target*: wall time until ||grad f(x_k)||_inf <= gtol with the relative target
  gtol = rtol * max(1, ||grad f(x0)||_inf) (rtol = 1e-8), read off a callback at every iterate. The time
  spent inside the callback (for scipy methods it evaluates the gradient, a cache hit on ricci's Objective
  almost always) is subtracted; the callback raises StopIteration once the target is met or the time limit
  passed, so every method stops at the same test. scikit-learn takes no callback: its fit is timed whole
  with ``tol = gtol / m`` (its objective is ours divided by m), and counts as on target if the gradient of
  our objective at its answer meets gtol.
- iterations, evaluations (f / gradient / Hessian as the solver reports them), final ||grad f||_inf and the
  objective gap f - f_ref (f_ref: the known minimum, else the lowest value any method reached).

Setup (ricci: differentiate + compile the Objective; JAX: jit tracing and XLA compilation on a first call) is
reported separately, not in the solve time. Threads: one per library by default (OpenBLAS through threadpoolctl,
XLA through XLA_FLAGS=--xla_cpu_multi_thread_eigen=false, set before JAX is imported).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RTOL = 1e-8
SECOND_ORDER = ("newton", "trust-exact", "trust-ncg", "lm", "gauss-newton")
FAMILIES = ("logistic", "softmax", "factorization", "mlp", "mgh")
FAMILY_TITLES = {"logistic": "Logistic regression", "softmax": "Softmax regression (10 classes)",
                 "factorization": "Matrix factorization with missing entries", "mlp": "MLP regression",
                 "mgh": "More-Garbow-Hillstrom test set"}
TARGET_CASE = "logistic m=10000 n=500 cond=1e3"
TARGET_LBFGSB = 3.0          # ricci newton at least 3x faster than scipy L-BFGS-B
TARGET_SKLEARN = 1.2         # ... and within 1.2x of scikit-learn newton-cholesky
TARGET_JAX = 2.0             # ricci-Hessian Newton at least 2x faster than the JAX-Hessian Newton


# ----------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    family: str
    label: str
    build: Callable            # () -> ricci.problems.Problem
    kind: str = ""             # "logistic" / "softmax": a JAX objective exists; "" otherwise
    time_limit: float = 20.0   # seconds per run before it is stopped (and marked "time limit")
    maxiter: int = 1000        # iterations of second-order methods (first-order: 100 x this)


def _logistic(m, n, cond, lam=1.0, seed=0):
    def build():
        from ricci import problems

        return problems.get("logistic-regression-synthetic", m=m, n=n, cond=cond, lam=lam, seed=seed)

    return build


def _registered(name, **params):
    def build():
        from ricci import problems

        return problems.get(name, **params)

    return build


def cases(quick: bool, families=FAMILIES) -> list:
    """The cases of a run: full sizes, or small ones with ``quick`` (the same families and methods)."""
    from ricci import problems

    out = [Case("logistic", "logistic breast-cancer 569x30", _registered("logistic-regression", lam=1e-2),
                kind="logistic")]
    if quick:
        out += [Case("logistic", "logistic m=2000 n=100 cond=1e3", _logistic(2000, 100, 1e3), kind="logistic",
                     time_limit=5.0),
                Case("softmax", "softmax m=300 n=5 k=10", _registered("softmax-regression", m=300, n=5, classes=10,
                                                                       cond=10.0), kind="softmax", time_limit=5.0),
                Case("factorization", "factorization 30x20 rank 3, 30% missing",
                     _registered("matrix-factorization", m=30, n=20, rank=3, cond=10.0, missing=0.3),
                     time_limit=5.0),
                Case("mlp", "mlp 4-8-1 m=64", _registered("mlp", m=64, n=4, hidden=(8,)), time_limit=5.0)]
    else:
        for n in (100, 500):
            for cond, tag in ((10.0, "10"), (1e3, "1e3")):
                out.append(Case("logistic", f"logistic m=10000 n={n} cond={tag}", _logistic(10000, n, cond),
                                kind="logistic", time_limit=10.0))
        out += [Case("softmax", "softmax m=1000 n=10 k=10", _registered("softmax-regression", m=1000, n=10,
                                                                         classes=10, cond=10.0), kind="softmax"),
                Case("factorization", "factorization 100x80 rank 5, 30% missing",
                     _registered("matrix-factorization", m=100, n=80, rank=5, cond=100.0, missing=0.3)),
                Case("mlp", "mlp 8-16-1 m=500", _registered("mlp", m=500, n=8, hidden=(16,)))]
    out += [Case("mgh", name, _registered(name), time_limit=2.0 if quick else 5.0, maxiter=2000)
            for name in problems.names("mgh")]
    return [c for c in out if c.family in families]


# ----------------------------------------------------------------------------------------------------------
# One timed run
# ----------------------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


class Tracker:
    """Records (time, f, ||grad||_inf) at every iterate; the time spent in here is not counted.

    ``check(f, gnorm)`` raises StopIteration (which ricci's and scipy's solvers treat as "stop now") once the
    target gradient norm is met or the time limit has passed.
    """

    def __init__(self, gtol: float, limit: float):
        self.gtol, self.limit = gtol, limit
        self.t0 = 0.0
        self.overhead = 0.0
        self.times, self.funs, self.grads = [], [], []
        self.timed_out = False

    def start(self, f0: float, g0: float):
        self.times, self.funs, self.grads = [0.0], [f0], [g0]
        self.overhead = 0.0
        self.timed_out = False
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.overhead

    def check(self, entered: float, f: float, gnorm: float):
        self.times.append(entered - self.t0 - self.overhead)
        self.funs.append(float(f))
        self.grads.append(float(gnorm))
        stop = gnorm <= self.gtol
        if self.times[-1] > self.limit:
            self.timed_out = stop = True
        self.overhead += time.perf_counter() - entered
        if stop:
            raise StopIteration

    def time_to_target(self):
        for t, g in zip(self.times, self.grads):
            if g <= self.gtol:
                return t
        return None


def _scalar(v) -> float:
    return float(v.item()) if hasattr(v, "item") else float(v)


def _inf_norm(g) -> float:
    xp = _namespace(g)
    return _scalar(xp.max(xp.abs(g))) if g.shape[0] else 0.0


def _namespace(a):
    if isinstance(a, np.ndarray):
        return np
    import array_api_compat

    return array_api_compat.array_namespace(a)


def _to_numpy(a):
    get = getattr(a, "get", None)
    return get() if callable(get) and not isinstance(a, np.ndarray) else np.asarray(a)


@dataclass
class Setting:
    """What a method runs against: the problem, its start, the target, the limits and the peers."""

    case: Case
    problem: object
    x0: object
    gtol: float
    peers: dict
    jax_fns: object = None     # (fun, jac, hess) on NumPy vectors, for the JAX-Hessian Newton


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    group: str                     # "ricci", "scipy", "sklearn", "jax"
    applies: Callable              # (Setting) -> bool
    run: Callable                  # (Setting, Tracker) -> dict of solver counts and status
    second_order: bool = False
    needs_numpy: bool = True


def _ricci_minimize(method):
    def run(s: Setting, tr: Tracker) -> dict:
        from ricci.solvers import minimize

        def callback(intermediate_result):
            entered = time.perf_counter()
            tr.check(entered, _scalar(intermediate_result["fun"]), _inf_norm(intermediate_result["jac"]))

        maxiter = s.case.maxiter * (100 if method == "lbfgs" else 1)
        res = minimize(s.problem.objective, s.x0, method=method, callback=callback,
                       options={"gtol": s.gtol, "maxiter": maxiter})
        return _counts(res)

    return run


def _ricci_least_squares(method):
    def run(s: Setting, tr: Tracker) -> dict:
        scale = 2.0 * s.problem.residual_weight   # f = 2 w * cost, grad f = 2 w * J'r

        def callback(intermediate_result):
            entered = time.perf_counter()
            r = intermediate_result
            tr.check(entered, scale * _scalar(r["cost"]), scale * _scalar(r["optimality"]))

        # least_squares' own tests (ftol, xtol, and gtol: MINPACK's cosine test, not a gradient norm) are set to
        # machine epsilon, so that the callback's test on ||grad f||_inf is the one that stops the run
        eps = float(np.finfo(np.float64).eps)
        res = s.problem.solve(method, x0=s.x0, callback=callback, ftol=eps, xtol=eps, gtol=eps,
                              max_nfev=10 * s.case.maxiter)
        return _counts(res)

    return run


def _ricci_jax_newton(s: Setting, tr: Tracker) -> dict:
    from ricci.solvers import minimize

    fun, jac, hess = s.jax_fns

    def callback(intermediate_result):
        entered = time.perf_counter()
        tr.check(entered, _scalar(intermediate_result["fun"]), _inf_norm(intermediate_result["jac"]))

    res = minimize(fun, np.array(s.x0), method="newton", jac=jac, hess=hess, callback=callback,
                   options={"gtol": s.gtol, "maxiter": s.case.maxiter})
    return _counts(res)


def _scipy(method):
    def run(s: Setting, tr: Tracker) -> dict:
        import scipy.optimize as so

        obj = s.problem.objective

        def callback(intermediate_result):
            entered = time.perf_counter()
            x = intermediate_result["x"]
            tr.check(entered, _scalar(intermediate_result["fun"]), _inf_norm(obj.jac(x)))

        first = method in ("BFGS", "L-BFGS-B")
        maxiter = s.case.maxiter * (100 if first else 1)
        options = {"maxiter": maxiter}
        kwargs = {}
        if method == "BFGS":
            options.update(gtol=s.gtol, norm=math.inf)
        elif method == "L-BFGS-B":
            # ftol = 0: stop on the gradient alone (the default stops on a relative decrease of f of 2e-9)
            options.update(gtol=s.gtol, ftol=0.0, maxfun=10 * maxiter)
        elif method == "Newton-CG":
            options.update(xtol=1e-14)
            kwargs["hess"] = obj.hess
        elif method == "trust-exact":
            options.update(gtol=s.gtol)
            kwargs["hess"] = obj.hess
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = so.minimize(obj.fun, np.array(s.x0), jac=obj.jac, method=method, callback=callback,
                              options=options, **kwargs)
        return _counts(res)

    return run


def _sklearn(solver):
    def run(s: Setting, tr: Tracker) -> dict:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        p = s.problem
        X = np.asarray(p.data["X"])
        y = (np.asarray(p.data["y"]) > 0).astype(np.float64)
        lam = float(p.params["lam"])
        # scikit-learn minimizes (1/m) sum_i loss_i + 1/(2 C m) ||w||^2 = our f / m with C = 1/lam, and stops
        # when its gradient's largest entry is at most tol: tol = gtol / m is our target.
        clf = LogisticRegression(C=1.0 / lam, solver=solver, tol=s.gtol / X.shape[0], max_iter=100 * s.case.maxiter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(X, y)
            wall = time.perf_counter() - start
        x = np.concatenate([clf.coef_.ravel(), clf.intercept_])
        f, g = p.objective.fun_and_jac(x)
        tr.times.append(wall)
        tr.funs.append(float(f))
        tr.grads.append(_inf_norm(g))
        return {"nit": int(np.max(clf.n_iter_)), "nfev": None, "njev": None, "nhev": None, "status": None,
                "message": "", "x": x}

    return run


def _counts(res) -> dict:
    get = res.get
    return {"nit": get("nit"), "nfev": get("nfev"), "njev": get("njev"), "nhev": get("nhev"),
            "status": None if get("status") is None else int(get("status")),
            "message": " ".join(str(get("message", "")).split()), "x": res.x}


def _is_logistic(s):
    return s.case.family == "logistic" and "sklearn" in s.peers


METHODS = (
    Method("newton", "ricci newton", "ricci", lambda s: True, _ricci_minimize("newton"), True, False),
    Method("trust-exact", "ricci trust-exact", "ricci", lambda s: True, _ricci_minimize("trust-exact"), True, False),
    Method("trust-ncg", "ricci trust-ncg", "ricci", lambda s: True, _ricci_minimize("trust-ncg"), True, False),
    Method("lm", "ricci lm", "ricci", lambda s: s.problem.residual is not None, _ricci_least_squares("lm"),
           True, False),
    Method("gauss-newton", "ricci gauss-newton", "ricci", lambda s: s.problem.residual is not None,
           _ricci_least_squares("gauss-newton"), True, False),
    Method("lbfgs", "ricci lbfgs", "ricci", lambda s: True, _ricci_minimize("lbfgs"), False, False),
    Method("scipy-bfgs", "scipy BFGS", "scipy", lambda s: True, _scipy("BFGS")),
    Method("scipy-lbfgsb", "scipy L-BFGS-B", "scipy", lambda s: True, _scipy("L-BFGS-B")),
    Method("scipy-newton-cg", "scipy Newton-CG", "scipy", lambda s: True, _scipy("Newton-CG"), True),
    Method("scipy-trust-exact", "scipy trust-exact", "scipy", lambda s: True, _scipy("trust-exact"), True),
    Method("sklearn-newton-cholesky", "sklearn newton-cholesky", "sklearn", _is_logistic,
           _sklearn("newton-cholesky"), True),
    Method("sklearn-lbfgs", "sklearn lbfgs", "sklearn", _is_logistic, _sklearn("lbfgs")),
    Method("jax-newton", "newton, JAX Hessian", "jax", lambda s: s.jax_fns is not None, _ricci_jax_newton, True),
)
METHOD_KEYS = tuple(m.key for m in METHODS)


# ----------------------------------------------------------------------------------------------------------
# JAX objectives (the same f as ricci's, checked at two points before use)
# ----------------------------------------------------------------------------------------------------------


def jax_objective(problem, kind: str, jax):
    """(fun, jac, hess) on NumPy vectors computed by JAX autodiff (jit, float64), or None for other kinds.

    fun and jac share one jitted value_and_grad and a one-point cache, as ricci's Objective does, so the
    JAX-Hessian Newton differs from ricci's only in where its derivatives come from.
    """
    jnp = jax.numpy
    d = {k: jnp.asarray(np.asarray(v)) for k, v in problem.data.items()}
    if kind == "logistic":
        n = d["X"].shape[1]

        def f(x, X, y, lam):
            w, b = x[:n], x[n]
            return jnp.sum(jax.nn.softplus(-y * (X @ w + b))) + lam / 2 * (w @ w)

        args = (d["X"], d["y"], d["lam"])
    elif kind == "softmax":
        n, k = d["X"].shape[1], d["Y"].shape[1]
        if [v.name for v in problem.objective.wrt] != ["W", "b"]:
            return None

        def f(x, X, Y, lam):
            W, b = x[: n * k].reshape(n, k), x[n * k:]
            Z = X @ W + b
            return jnp.sum(jax.nn.logsumexp(Z, axis=1) - jnp.sum(Y * Z, axis=1)) + lam / 2 * jnp.sum(W * W)

        args = (d["X"], d["Y"], d["lam"])
    else:
        return None
    value_and_grad = jax.jit(jax.value_and_grad(f))
    hessian = jax.jit(jax.hessian(f))
    cache = {"x": None}

    def fg(x):
        if cache["x"] is None or not np.array_equal(cache["x"], x):
            v, g = value_and_grad(jnp.asarray(x), *args)
            cache.update(x=np.array(x, copy=True), f=float(v), g=np.asarray(g))
        return cache["f"], cache["g"]

    return (lambda x: fg(x)[0], lambda x: fg(x)[1],
            lambda x: np.asarray(hessian(jnp.asarray(x), *args)))


def _check_jax(problem, fns) -> str | None:
    """None when JAX's f, gradient and Hessian match ricci's at x0 and a random point; else the difference."""
    rng = np.random.default_rng(1)
    obj = problem.objective
    for x in (np.array(problem.x0), np.array(problem.x0) + 0.1 * rng.standard_normal(problem.n)):
        ours = (obj.fun(x), np.asarray(obj.jac(x)), np.asarray(obj.hess(x)))
        theirs = (fns[0](x), fns[1](x), fns[2](x))
        for name, a, b in zip(("f", "gradient", "Hessian"), ours, theirs):
            if not np.allclose(a, b, rtol=1e-8, atol=1e-8 * max(1.0, float(np.max(np.abs(a))))):
                return f"JAX {name} differs from ricci's (max |difference| {np.max(np.abs(np.subtract(a, b))):.3g})"
    return None


# ----------------------------------------------------------------------------------------------------------
# Running a case
# ----------------------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: Case
    n: int
    gtol: float
    g0: float
    setup: dict = field(default_factory=dict)              # what -> seconds
    runs: dict = field(default_factory=dict)               # method key -> list of run dicts (one per repetition)
    notes: list = field(default_factory=list)
    f_ref: float | None = None
    f_ref_label: str = ""


def run_case(case: Case, methods, peers: dict, args, log) -> CaseResult:
    start = time.perf_counter()
    problem = case.build()
    setup = {"ricci build (differentiate + compile)": time.perf_counter() - start}
    if args.backend != "numpy":
        problem = problem.on(args.backend)
    obj = problem.objective
    x0 = problem.start()
    start = time.perf_counter()
    obj.hess(x0)
    obj.fun_and_jac(x0)
    setup["ricci first f, gradient, Hessian"] = time.perf_counter() - start
    f0, g = obj.fun_and_jac(x0)
    g0 = _inf_norm(g)
    gtol = RTOL * max(1.0, g0)
    result = CaseResult(case, problem.n, gtol, g0, setup)
    setting = Setting(case, problem, x0, gtol, peers)
    if "jax" in peers and case.kind and args.backend == "numpy":
        fns = jax_objective(problem, case.kind, peers["jax"])
        if fns is not None:
            start = time.perf_counter()
            fns[2](np.array(problem.x0))
            fns[1](np.array(problem.x0))
            setup["JAX first call (trace + XLA compile)"] = time.perf_counter() - start
            bad = _check_jax(problem, fns)
            if bad:
                result.notes.append(f"{case.label}: JAX-Hessian Newton not run: {bad}")
            else:
                setting.jax_fns = fns
    active = [m for m in methods if m.applies(setting) and not (m.needs_numpy and args.backend != "numpy")]
    # on a GPU the first solve of each method pays one-time costs (kernel compilation, solver handles): one
    # untimed round first (rep -1)
    first = -1 if args.backend != "numpy" else 0
    for rep in range(first, args.repeat):
        for m in active:
            obj.fun(x0 + 1.0)  # leave no cached value at x0: every run pays for its first evaluation
            tr = Tracker(gtol, case.time_limit)
            tr.start(float(f0), g0)
            error = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in exp on far trial points
                    counts = m.run(setting, tr)
            except Exception as exc:  # noqa: BLE001 - a failing method is a result, not the end of the benchmark
                counts, error = {"x": None}, f"{type(exc).__name__}: {exc}"
            wall = time.perf_counter() - tr.t0 - tr.overhead
            x = counts.pop("x")
            if x is not None:
                f_end, g_end = obj.fun_and_jac(obj.xp.asarray(_to_numpy(x)) if args.backend != "numpy" else
                                               np.asarray(x))
                f_end, g_end = float(f_end), _inf_norm(g_end)
            else:
                f_end, g_end = math.nan, math.nan
            run = {"time_to_target": tr.time_to_target(), "wall": wall, "f": f_end, "grad": g_end,
                   "timed_out": tr.timed_out, "error": error, **counts,
                   "trace": {"time": tr.times, "fun": tr.funs, "grad_norm": tr.grads}}
            if run["time_to_target"] is None and g_end <= gtol:
                run["time_to_target"] = wall  # the solver stopped on its own test at a point on target
            if rep < 0:
                continue
            result.runs.setdefault(m.key, []).append(run)
            log(f"  {case.label}: {m.label}: rep {rep + 1}: "
                + (f"target in {run['time_to_target']:.4f} s" if run["time_to_target"] is not None
                   else f"target not reached (|g| {g_end:.2e} > {gtol:.2e}" + (", time limit" if tr.timed_out else "")
                   + (f", {error}" if error else "") + ")"))
    finals = [r["f"] for runs in result.runs.values() for r in runs if math.isfinite(r["f"])]
    best = min(finals) if finals else math.nan
    known = [problem.minimum] if problem.minimum is not None else []
    known += [f for f, _ in problem.local_minima]
    close = [c for c in known if best >= c - 1e-9 * max(1.0, abs(c))]
    result.f_ref, result.f_ref_label = (max(close), "known minimum") if close else (best, "best value reached")
    return result


def summary(r: CaseResult, key: str) -> dict | None:
    """The median over repetitions of one method on one case, and the trace of its median repetition."""
    runs = r.runs.get(key)
    if not runs:
        return None
    reached = [x["time_to_target"] for x in runs if x["time_to_target"] is not None]
    ttt = statistics.median(reached) if len(reached) == len(runs) else None
    by_wall = sorted(runs, key=lambda x: x["time_to_target"] if x["time_to_target"] is not None else x["wall"])
    mid = by_wall[len(by_wall) // 2]
    return {"time_to_target": ttt, "reached": len(reached), "repeats": len(runs),
            "wall": statistics.median(x["wall"] for x in runs), "median_run": mid}


# ----------------------------------------------------------------------------------------------------------
# Targets, performance profile
# ----------------------------------------------------------------------------------------------------------


def _ttt(results, label, key):
    for r in results:
        if r.case.label == label:
            s = summary(r, key)
            return s["time_to_target"] if s else None
    return None


def _whole(results, label, key):
    r = next(r for r in results if r.case.label == label)
    return summary(r, key)["wall"]


def _lbfgsb_at_its_best(results) -> str:
    """L-BFGS-B's time to the gradient norm it ends at, against ricci newton's time to the same norm."""
    r = next(r for r in results if r.case.label == TARGET_CASE)
    lb, nt = summary(r, "scipy-lbfgsb")["median_run"]["trace"], summary(r, "newton")["median_run"]["trace"]
    level = min(lb["grad_norm"])
    t_lb = next(t for t, g in zip(lb["time"], lb["grad_norm"]) if g <= level)
    t_nt = next((t for t, g in zip(nt["time"], nt["grad_norm"]) if g <= level), None)
    if not t_nt:
        return f"it stops at ||g|| {level:.2e}"
    return (f"it stops at ||g|| {level:.2e} ({level / r.gtol:.1f}x the target) after {t_lb:.2f} s; ricci newton gets "
            f"there in {t_nt:.3f} s: {t_lb / t_nt:.1f}x")


def targets(results, mgh) -> list:
    """Rows (target, measured, met) for the issue's three targets, where their cases were run."""
    rows = []
    newton = _ttt(results, TARGET_CASE, "newton")
    if newton is not None or any(r.case.label == TARGET_CASE for r in results):
        lb = _ttt(results, TARGET_CASE, "scipy-lbfgsb")
        sk = _ttt(results, TARGET_CASE, "sklearn-newton-cholesky")
        ran_lb = summary(next(r for r in results if r.case.label == TARGET_CASE), "scipy-lbfgsb") is not None
        if ran_lb and newton and lb:
            rows.append((f"{TARGET_CASE}: scipy L-BFGS-B / ricci newton >= {TARGET_LBFGSB:g}",
                         f"{lb / newton:.2f}x", lb / newton >= TARGET_LBFGSB))
        elif ran_lb and newton:
            rows.append((f"{TARGET_CASE}: scipy L-BFGS-B / ricci newton >= {TARGET_LBFGSB:g}",
                         "L-BFGS-B never reaches the target; " + _lbfgsb_at_its_best(results), True))
        if newton and sk:
            whole = _whole(results, TARGET_CASE, "newton")
            rows.append((f"{TARGET_CASE}: ricci newton / sklearn newton-cholesky <= {TARGET_SKLEARN:g}",
                         f"{newton / sk:.2f}x (whole call, with the final Hessian ricci returns: {whole / sk:.2f}x)",
                         newton / sk <= TARGET_SKLEARN))
    for r in results:
        newton, jaxn = _ttt([r], r.case.label, "newton"), _ttt([r], r.case.label, "jax-newton")
        if newton and jaxn:
            rows.append((f"{r.case.label}: JAX-Hessian newton / ricci newton >= {TARGET_JAX:g}",
                         f"{jaxn / newton:.2f}x", jaxn / newton >= TARGET_JAX))
    if mgh:
        prof = mgh["profile"]
        ref = "scipy-trust-exact"
        if ref in prof["rho"]:
            best = mgh["best_second_order"]
            rows.append((f"MGH: profile of ricci's best second-order method ({best}) >= scipy trust-exact's at every tau",
                         f"min margin {mgh['margins'][best]:+.3f}", mgh["margins"][best] >= 0))
        rows.append(("MGH: every problem solved by at least one ricci method",
                     f"{mgh['solved_by_ricci']}/{mgh['count']}" + (f" (unsolved: {', '.join(mgh['unsolved'])})"
                                                                   if mgh["unsolved"] else ""),
                     not mgh["unsolved"]))
    return rows


def performance_profile(results) -> dict | None:
    """Dolan & More (2002), "Benchmarking optimization software with performance profiles", Math. Program. 91:
    r_ps = t_ps / min_s t_ps (infinite when s misses the target on p), rho_s(tau) = |{p : r_ps <= tau}| / |P|.
    """
    mgh = [r for r in results if r.case.family == "mgh"]
    if not mgh:
        return None
    keys = [k for k in METHOD_KEYS if any(k in r.runs for r in mgh)]
    times = {k: [] for k in keys}
    for r in mgh:
        row = {k: (summary(r, k) or {}).get("time_to_target") for k in keys}
        for k in keys:
            times[k].append(math.inf if row[k] is None else row[k])
    T = np.array([times[k] for k in keys])                      # (solvers, problems)
    best = T.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(np.isfinite(best), T / best, math.inf)
    finite = R[np.isfinite(R)]
    taus = np.unique(np.concatenate([[1.0], finite]))
    rho = {k: [(R[i] <= t).mean() for t in taus] for i, k in enumerate(keys)}
    ricci2 = [k for k in SECOND_ORDER if k in rho]
    margins = {k: float(min(np.subtract(rho[k], rho["scipy-trust-exact"]))) if "scipy-trust-exact" in rho else math.nan
               for k in ricci2}
    best_key = max(ricci2, key=lambda k: (margins[k], float(np.trapezoid(rho[k], np.log2(taus)))
                                          if len(taus) > 1 else rho[k][0]))
    ricci_keys = [m.key for m in METHODS if m.group == "ricci" and m.key in keys]
    solved = [np.isfinite(T[[keys.index(k) for k in ricci_keys]]).any(axis=0)]
    unsolved = [r.case.label for r, ok in zip(mgh, solved[0]) if not ok]
    return {"profile": {"tau": taus.tolist(), "rho": {k: list(map(float, v)) for k, v in rho.items()}},
            "margins": margins, "best_second_order": best_key, "count": len(mgh),
            "solved_by_ricci": int(solved[0].sum()), "unsolved": unsolved,
            "solved": {k: int(np.isfinite(T[i]).sum()) for i, k in enumerate(keys)}}


# ----------------------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------------------


def _label(key):
    return next(m.label for m in METHODS if m.key == key)


def plot_family(results, family, path) -> None:
    """Gradient norm (infinity norm) against wall time, one panel per case, the median repetition per method."""
    from ._plot import require_matplotlib

    plt = require_matplotlib()
    rs = [r for r in results if r.case.family == family]
    cols = min(3, len(rs))
    rows = math.ceil(len(rs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False, constrained_layout=True)
    for ax, r in zip(axes.flat, rs):
        for i, key in enumerate(METHOD_KEYS):
            s = summary(r, key)
            if s is None:
                continue
            tr = s["median_run"]["trace"]
            t = [max(v, 1e-5) for v in tr["time"]]
            g = [max(v, 1e-300) for v in tr["grad_norm"]]
            style = "-" if key in SECOND_ORDER or key == "jax-newton" or "newton" in key else "--"
            ax.loglog(t, g, style, marker="o", markersize=2, linewidth=1.1, label=_label(key),
                      color=plt.cm.tab20(i % 20))
        ax.axhline(r.gtol, color="k", linewidth=0.8, linestyle=":")
        ax.set_title(r.case.label, fontsize=9)
        ax.set_xlabel("wall time [s]")
        ax.set_ylabel("||grad f||_inf")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(rs):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(5, len(handles)),
               fontsize=8)
    fig.suptitle(f"{FAMILY_TITLES[family]}: gradient norm against wall time (dotted: the target)")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_profile(mgh, path) -> None:
    from ._plot import require_matplotlib

    plt = require_matplotlib()
    taus = np.array(mgh["profile"]["tau"])
    fig, ax = plt.subplots(figsize=(8, 5.2), constrained_layout=True)
    for i, (key, rho) in enumerate(mgh["profile"]["rho"].items()):
        ax.step(np.log2(taus), rho, where="post", label=_label(key), color=plt.cm.tab20(METHOD_KEYS.index(key) % 20),
                linewidth=2.2 if key in (mgh["best_second_order"], "scipy-trust-exact") else 1.1,
                linestyle="-" if key in SECOND_ORDER or "newton" in key or "exact" in key else "--")
    ax.set_xlabel("log2(tau): within a factor tau of the fastest method")
    ax.set_ylabel("fraction of problems solved")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Dolan-More performance profile, time to ||grad f||_inf <= {RTOL:g} max(1, ||grad f(x0)||_inf), "
                 f"{mgh['count']} MGH problems", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------------


def package_version(dist):
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(where=None):
    """The short commit (``+dirty`` with uncommitted changes) of the checkout holding ``where`` (default: this
    file), or None outside a git checkout."""
    here = Path(where or __file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    """The CPU's model name (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpu_name(backend):
    if backend != "cupy":
        return None
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - a name is nice to have
        return f"unknown ({exc})"


def environment(args, thread_note) -> dict:
    dists = ("ricci", "numpy", "scipy", "sympy", "scikit-learn", "jax", "jaxlib", "matplotlib", "cupy-cuda12x")
    return {
        "platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "threads": args.threads, "thread_pools": thread_note,
        "xla_flags": os.environ.get("XLA_FLAGS", ""), "backend": args.backend, "gpu": _gpu_name(args.backend),
        "versions": {d: package_version(d) for d in dists}, "ricci_commit": git_commit(),
    }


def _s(seconds):
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _evals(run):
    parts = [run.get(k) for k in ("nfev", "njev", "nhev")]
    return "/".join("-" if p is None else str(p) for p in parts)


def _status(run, gtol):
    if run["error"]:
        return "error: " + run["error"][:60]
    if run["time_to_target"] is not None:
        return "target"
    if run["timed_out"]:
        return "time limit"
    msg = run.get("message") or ""
    status = run.get("status")
    return f"missed (status {status}: {msg[:50]})" if status is not None else "missed"


def family_table(results, family) -> list:
    rs = [r for r in results if r.case.family == family]
    lines = [("| case | method | time to target | vs ricci newton | whole call | iterations | evals f/g/H | final ‖g‖∞ "
              "| f − f_ref | outcome |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        base = (summary(r, "newton") or {}).get("time_to_target")
        for key in METHOD_KEYS:
            s = summary(r, key)
            if s is None:
                continue
            run = s["median_run"]
            ttt = s["time_to_target"]
            ratio = f"{ttt / base:.2f}x" if ttt and base else "-"
            gap = run["f"] - r.f_ref if math.isfinite(run["f"]) and math.isfinite(r.f_ref) else math.nan
            outcome = _status(run, r.gtol) if s["reached"] in (0, s["repeats"]) else f"target in {s['reached']}/{s['repeats']} runs"
            lines.append(f"| {r.case.label} | {_label(key)} | {_s(ttt)} | {ratio} | {_s(s['wall'])} "
                         f"| {run['nit'] if run['nit'] is not None else '-'} "
                         f"| {_evals(run)} | {run['grad']:.1e} | {gap:.1e} | {outcome} |")
    return lines


def mgh_tables(results, mgh) -> list:
    rs = [r for r in results if r.case.family == "mgh"]
    keys = [k for k in METHOD_KEYS if any(k in r.runs for r in rs)]
    short = {k: _label(k).replace("ricci ", "").replace("scipy ", "sp ") for k in keys}
    lines = [("Time to target in ms (median); `-`: target not reached (time limit, iteration limit, or stopped "
              "without progress); **bold**: fastest."), "",
             "| problem | n | " + " | ".join(short[k] for k in keys) + " |",
             "|---|---:|" + "---:|" * len(keys)]
    for r in rs:
        t = {k: (summary(r, k) or {}).get("time_to_target") for k in keys}
        best = min((v for v in t.values() if v is not None), default=None)
        cells = []
        for k in keys:
            v = t[k]
            cell = "-" if v is None else f"{v * 1e3:.2f}"
            cells.append(f"**{cell}**" if v is not None and v == best else cell)
        lines.append(f"| {r.case.label} | {r.n} | " + " | ".join(cells) + " |")
    lines += ["", "| method | problems solved | median time to target over solved (ms) | profile rho(1) | rho(4) |",
              "|---|---:|---:|---:|---:|"]
    taus = np.array(mgh["profile"]["tau"])
    for k in keys:
        rho = mgh["profile"]["rho"][k]
        solved = [summary(r, k)["time_to_target"] for r in rs if summary(r, k) and summary(r, k)["time_to_target"]]
        at4 = rho[int(np.searchsorted(taus, 4.0, side="right")) - 1]
        lines.append(f"| {_label(k)} | {mgh['solved'][k]}/{mgh['count']} | "
                     f"{statistics.median(solved) * 1e3 if solved else math.nan:.2f} | {rho[0]:.2f} | {at4:.2f} |")
    return lines


def markdown(results, env, args, mgh, paths, notes) -> str:
    v = env["versions"]
    today = datetime.date.today().isoformat()
    dev = f"; GPU: {env['gpu']}" if env.get("gpu") else ""
    lines = [
        f"# Solvers benchmark, {today}" + (" (quick)" if args.quick else "") + (f", backend {args.backend}" if args.backend != "numpy" else ""),
        "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs{dev}",
        f"- threads: {env['threads']} per library ({env['thread_pools']}; XLA_FLAGS='{env['xla_flags']}')",
        (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
         f"scipy {v['scipy']}, scikit-learn {v['scikit-learn']}, jax {v['jax']}, matplotlib {v['matplotlib']}"
         + (f", cupy {v['cupy-cuda12x']}" if args.backend == "cupy" else "")),
        (f"- target: ‖grad f‖∞ <= {RTOL:g} max(1, ‖grad f(x0)‖∞); median of {args.repeat} repetition(s) in "
         f"interleaved rounds; float64; time limit per run {'/'.join(sorted({f'{c.time_limit:g}' for c in (r.case for r in results)}))} s"),
        f"- command: `{args.command}`",
        "",
        ("Time to target excludes setup (ricci: differentiate + compile; JAX: trace + compile), listed at the end. "
         "`vs ricci newton`: time / ricci newton's time on the same case (> 1: ricci newton is faster). "
         "`whole call`: the solver call's wall time, including any work after the last iterate (ricci's "
         "newton and trust-region drivers evaluate the Hessian at the final point to return it). "
         "`f − f_ref`: gap to the known minimum, else to the lowest value any method reached. "
         "Evaluations are as each solver counts them (`-`: not reported)."),
    ]
    rows = targets(results, mgh) if not args.quick else []
    if rows:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    elif args.quick:
        lines += ["", "Targets apply to the full sizes; not checked with --quick."]
    for fam in FAMILIES:
        if not any(r.case.family == fam for r in results):
            continue
        lines += ["", f"## {FAMILY_TITLES[fam]}", ""]
        if fam in paths:
            lines += [f"![{fam}]({paths[fam].name})", ""]
        if fam == "mgh" and mgh:
            if "profile" in paths:
                lines += [f"![performance profile]({paths['profile'].name})", ""]
            lines += mgh_tables(results, mgh)
        else:
            lines += family_table(results, fam)
    lines += ["", "## Setup times (s, not in the times above)", "",
              "| case | n | gtol | ricci build | ricci first f/g/H | JAX first call |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.case.family == "mgh":
            continue
        s = r.setup
        cells = [s.get("ricci build (differentiate + compile)"), s.get("ricci first f, gradient, Hessian"),
                 s.get("JAX first call (trace + XLA compile)")]
        lines.append(f"| {r.case.label} | {r.n} | {r.gtol:.2e} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    allnotes = list(notes) + [n for r in results for n in r.notes]
    if allnotes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in allnotes]
    return "\n".join(lines).rstrip() + "\n"


def thin_trace(trace: dict, points: int = 100) -> dict:
    """At most ``points`` entries of a trace (evenly spaced, first and last kept), to keep the JSON small."""
    n = len(trace.get("time", ()))
    if n <= points:
        return trace
    keep = sorted(set(np.linspace(0, n - 1, points).round().astype(int).tolist()))
    return {k: [v[i] for i in keep] for k, v in trace.items()}


def as_json(results, env, args, mgh, notes) -> dict:
    def run_doc(run):
        return {**run, "trace": thin_trace(run.get("trace") or {})}

    return {
        "date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
        "settings": {"quick": args.quick, "repeat": args.repeat, "rtol": RTOL, "backend": args.backend},
        "notes": notes + [n for r in results for n in r.notes],
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in (targets(results, mgh) if not args.quick else [])],
        "mgh": mgh,
        "cases": [{"case": r.case.label, "family": r.case.family, "n": r.n, "gtol": r.gtol, "grad0": r.g0,
                   "setup_s": r.setup, "f_ref": r.f_ref, "f_ref_label": r.f_ref_label,
                   "methods": {k: {"time_to_target": (summary(r, k) or {}).get("time_to_target"),
                                   "runs": [run_doc(x) for x in runs]} for k, runs in r.runs.items()}}
                  for r in results],
    }


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


# ----------------------------------------------------------------------------------------------------------
# Threads and peers
# ----------------------------------------------------------------------------------------------------------


def configure_threads(threads: int) -> None:
    """Before JAX is imported: XLA reads its flags when its CPU backend starts."""
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()


def load_peers(args) -> tuple:
    peers, notes = {}, []
    if args.backend != "numpy":
        notes.append(f"backend {args.backend}: only ricci's own methods run (scipy, scikit-learn and the JAX "
                     "Newton need NumPy arrays); the MGH problems have no data arrays and stay on NumPy, so "
                     "they are skipped")
        return peers, notes
    if "jax" not in args.skip:
        try:
            import jax

            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            peers["jax"] = jax
        except ImportError as exc:
            notes.append(f"JAX skipped: not installed ({exc}); `pip install jax` to include the JAX-Hessian Newton")
    if "sklearn" not in args.skip:
        try:
            import sklearn.linear_model  # noqa: F401

            peers["sklearn"] = True
        except ImportError as exc:
            notes.append(f"scikit-learn skipped: not installed ({exc})")
    return peers, notes


def limit_native_threads(threads: int):
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None, "threadpoolctl not installed: native thread pools left at their defaults"
    limiter = threadpool_limits(limits=threads)
    pools = ", ".join(f"{p['internal_api']} {p.get('version') or ''}: {p['num_threads']}" for p in threadpool_info())
    return limiter, "native pools: " + pools


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------

EPILOG = """examples:
  ricci bench --quick                     small sizes, one repetition (under 2 minutes on 2 cores)
  ricci bench                             full sizes, 3 repetitions (under 30 minutes on 2 cores)
  ricci bench --families logistic mgh --repeat 5
  ricci bench --backend cupy              ricci's methods on the GPU (CuPy), data problems only
  python benchmarks/solvers.py --quick    the same, from a checkout
"""


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    p.add_argument("--repeat", type=int, default=None, help="repetitions per method and case (default 3, quick 1)")
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES), help="which families to run")
    p.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                   help="only cases whose label contains one of these texts (e.g. breast rosenbrock)")
    p.add_argument("--methods", nargs="+", choices=METHOD_KEYS, default=None, help="which methods (default all)")
    p.add_argument("--skip", nargs="+", choices=("jax", "sklearn"), default=[], help="leave out a peer library")
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"), help="array library (cupy: GPU)")
    p.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--out-dir", type=Path, default=None,
                   help="folder for the results (default: benchmarks/results of the checkout, else ./bench-results)")


def default_out_dir() -> Path:
    """benchmarks/results next to the installed package when it runs from a checkout, else ./bench-results."""
    root = Path(__file__).resolve().parent.parent
    if (root / "benchmarks").is_dir() and (root / "pyproject.toml").is_file():
        return root / "benchmarks" / "results"
    return Path.cwd() / "bench-results"


def run(args, log=None) -> int:
    """Run the benchmark for parsed arguments; write markdown, JSON and PNGs; return an exit status."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if not hasattr(args, "command"):
        args.command = "ricci bench " + " ".join(sys.argv[2:])
    configure_threads(args.threads)
    families = [f for f in args.families if not (args.backend != "numpy" and f == "mgh")]
    peers, notes = load_peers(args)
    _limiter, thread_note = limit_native_threads(args.threads)  # the limit holds while _limiter lives
    env = environment(args, thread_note)
    todo = cases(args.quick, families)
    if args.only:
        todo = [c for c in todo if any(t.lower() in c.label.lower() for t in args.only)]
        if not todo:
            raise ValueError(f"--only {' '.join(args.only)} matches no case")
    methods = [m for m in METHODS if args.methods is None or m.key in args.methods]
    started = time.perf_counter()
    results = []
    for case in todo:
        log(f"{case.label}")
        results.append(run_case(case, methods, peers, args, log))
    mgh = performance_profile(results) if any(r.case.family == "mgh" for r in results) else None
    out = args.out_dir or default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"solvers-{datetime.date.today().isoformat()}" + ("-quick" if args.quick else "") + (
        f"-{args.backend}" if args.backend != "numpy" else "")
    paths = {}
    if not args.no_plots:
        try:
            for fam in FAMILIES:
                if any(r.case.family == fam for r in results):
                    paths[fam] = out / f"{stem}-{fam}.png"
                    plot_family(results, fam, paths[fam])
            if mgh and len(mgh["profile"]["rho"]) > 1:
                paths["profile"] = out / f"{stem}-mgh-profile.png"
                plot_profile(mgh, paths["profile"])
        except ImportError as exc:
            notes.append(f"plots skipped: {exc}")
            paths = {}
    notes.append(f"whole run: {time.perf_counter() - started:.0f} s")
    text = markdown(results, env, args, mgh, paths, notes)
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(text, encoding="utf-8")
    js.write_text(json.dumps(as_json(results, env, args, mgh, notes), separators=(",", ":"), default=_json_default) + "\n",
                  encoding="utf-8")
    print(text)
    log(f"wrote {md}, {js}" + "".join(f", {p}" for p in paths.values()))
    return 0


def register(sub) -> None:
    """Add ``ricci bench`` to the ``ricci`` command's subparsers."""
    p = sub.add_parser("bench", help="benchmark the solvers against scipy, scikit-learn and a JAX-Hessian Newton",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    args.command = "ricci bench " + " ".join(sys.argv[2:])
    return run(args)


def main(argv=None) -> int:
    """Entry point of ``benchmarks/solvers.py``."""
    p = argparse.ArgumentParser(prog="benchmarks/solvers.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    args.command = "python benchmarks/solvers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except ValueError as exc:
        p.error(str(exc))
    return 2
