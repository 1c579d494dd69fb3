"""The methods a benchmark compares: ricci's, and the peers' (scipy, scikit-learn, JAX, PyTorch).

Each :class:`Method` of :data:`METHODS` runs one solve of a case's problem against a :class:`Setting` and
reports through the harness's ``Tracker`` (``tracker.check`` at every iterate; it raises StopIteration
once the target gradient norm is met or the time limit has passed). The peers are imported only when
asked for (:func:`load_peers`); a missing one is a note in the report, not an error.

The autodiff peers need the objective written in their own array library: :func:`logistic_loss` is the
logistic loss once for all of them (``ops`` supplies ``sum`` and ``softplus``), used here and by
hessian_speed.py.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from ricci.solvers import METHOD_REGISTRY, minimize

SECOND_ORDER = tuple(name for name, m in METHOD_REGISTRY.items() if m.derivatives != "gradient")
"""ricci's methods that use second derivatives (a Hessian, its products, or the Gauss-Newton J'J)."""


def scalar(v) -> float:
    """A Python float from a 0-d array of any library (NumPy, CuPy, JAX)."""
    return float(v.item()) if hasattr(v, "item") else float(v)


def inf_norm(g) -> float:
    """max_i |g_i| of a vector of any array-API library (0 for an empty vector)."""
    if isinstance(g, np.ndarray):
        xp = np
    else:
        import array_api_compat

        xp = array_api_compat.array_namespace(g)
    return scalar(xp.max(xp.abs(g))) if g.shape[0] else 0.0


def to_numpy(a) -> np.ndarray:
    """A NumPy copy of a NumPy or CuPy array."""
    get = getattr(a, "get", None)
    return get() if callable(get) and not isinstance(a, np.ndarray) else np.asarray(a)


def logistic_loss(w, X, y, lam, b=0.0, *, ops):
    """f(w, b) = sum_i softplus(-y_i (x_i'w + b)) + lam/2 w'w in the array library ``ops`` stands for
    (``ops.sum``, ``ops.softplus``): the objective of ``ricci.problems.logistic_regression`` for autodiff."""
    return ops.sum(ops.softplus(-y * (X @ w + b))) + lam / 2 * (w @ w)


def import_jax():
    """JAX in float64 on the CPU (set before its first computation), or ImportError."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


@dataclass
class Setting:
    """What a method runs against: the problem, its start, the target, the limits and the peers."""

    case: object               # the harness's Case (family, label, time limit, maxiter)
    problem: object            # a ricci.problems.Problem
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


def _tracking_minimize_callback(tr):
    """A ``callback(intermediate_result)`` for ricci's minimize methods: f and ||g||_inf to the tracker."""

    def callback(intermediate_result):
        entered = time.perf_counter()
        tr.check(entered, scalar(intermediate_result["fun"]), inf_norm(intermediate_result["jac"]))

    return callback


def _ricci_minimize(method):
    def run(s: Setting, tr) -> dict:
        maxiter = s.case.maxiter * (100 if method == "lbfgs" else 1)
        res = minimize(s.problem.objective, s.x0, method=method, callback=_tracking_minimize_callback(tr),
                       options={"gtol": s.gtol, "maxiter": maxiter})
        return _counts(res)

    return run


def _ricci_least_squares(method):
    def run(s: Setting, tr) -> dict:
        scale = 2.0 * s.problem.residual_weight   # f = 2 w * cost, grad f = 2 w * J'r

        def callback(intermediate_result):
            entered = time.perf_counter()
            r = intermediate_result
            tr.check(entered, scale * scalar(r["cost"]), scale * scalar(r["optimality"]))

        # tol: the same test on ||grad f||_inf as every other method (Problem.solve turns it into
        # least_squares' optimality_tol and turns scipy's ftol, xtol and gtol tests off)
        res = s.problem.solve(method, x0=s.x0, callback=callback, tol=s.gtol, max_nfev=10 * s.case.maxiter)
        return _counts(res)

    return run


def _ricci_jax_newton(s: Setting, tr) -> dict:
    fun, jac, hess = s.jax_fns
    res = minimize(fun, np.array(s.x0), method="newton", jac=jac, hess=hess, callback=_tracking_minimize_callback(tr),
                   options={"gtol": s.gtol, "maxiter": s.case.maxiter})
    return _counts(res)


def _scipy(method):
    def run(s: Setting, tr) -> dict:
        import scipy.optimize as so

        obj = s.problem.objective

        def callback(intermediate_result):
            entered = time.perf_counter()
            x = intermediate_result["x"]
            tr.check(entered, scalar(intermediate_result["fun"]), inf_norm(obj.jac(x)))

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
    def run(s: Setting, tr) -> dict:
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
        tr.grads.append(inf_norm(g))
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


def method_label(key: str) -> str:
    """The label of a method key in tables and plots."""
    return next(m.label for m in METHODS if m.key == key)


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
        ops = SimpleNamespace(sum=jnp.sum, softplus=jax.nn.softplus)

        def f(x, X, y, lam):
            return logistic_loss(x[:n], X, y, lam, x[n], ops=ops)

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


def check_jax(problem, fns) -> str | None:
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


def load_peers(args) -> tuple:
    """The peer libraries this run can use (``{"jax": module, "sklearn": True}``) and notes on those left out."""
    peers, notes = {}, []
    if args.backend != "numpy":
        notes.append(f"backend {args.backend}: only ricci's own methods run (scipy, scikit-learn and the JAX "
                     "Newton need NumPy arrays); the MGH problems have no data arrays and stay on NumPy, so "
                     "they are skipped")
        return peers, notes
    if "jax" not in args.skip:
        try:
            peers["jax"] = import_jax()
        except ImportError as exc:
            notes.append(f"JAX skipped: not installed ({exc}); `pip install jax` to include the JAX-Hessian Newton")
    if "sklearn" not in args.skip:
        try:
            import sklearn.linear_model  # noqa: F401

            peers["sklearn"] = True
        except ImportError as exc:
            notes.append(f"scikit-learn skipped: not installed ({exc})")
    return peers, notes
