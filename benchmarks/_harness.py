"""The harness of the benchmarks: cases, timed runs, and the record of the machine they ran on.

Shared by both programs here: the environment capture (:func:`machine`, :func:`package_version`,
:func:`git_commit`, :func:`cpu_model`) and the thread settings (:func:`configure_threads`,
:func:`limit_native_threads`) are used by solvers.py and hessian_speed.py alike. The rest runs the solver
benchmark: the cases (:func:`cases`), a :class:`Tracker` per run that reads (time, f, ||grad f||_inf) off a
callback at every iterate with its own time subtracted, and :func:`run_case`, which times every method of
``peers.METHODS`` on a case in interleaved rounds.

What is measured, per (case, method), median over ``--repeat`` repetitions:

- the *time to target*: wall time until ||grad f(x_k)||_inf <= gtol with the relative target
  gtol = RTOL * max(1, ||grad f(x0)||_inf) (RTOL = 1e-8), read off a callback at every iterate. The time
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

import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from peers import Setting, check_jax, inf_norm, jax_objective, to_numpy
from ricci import problems

RTOL = 1e-8
FAMILIES = ("logistic", "softmax", "factorization", "mlp", "mgh")


# ----------------------------------------------------------------------------------------------------------
# The machine, versions and threads
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


def gpu_name(backend):
    """The name of GPU 0 when the backend is CuPy, else None."""
    if backend != "cupy":
        return None
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - a name is nice to have
        return f"unknown ({exc})"


def machine(threads: int, thread_note: str, distributions) -> dict:
    """What a results file records about the run: platform, CPU, Python, thread settings, the versions of
    ``distributions`` (None: not installed) and ricci's git commit."""
    return {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "threads": threads,
        "thread_pools": thread_note, "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": {d: package_version(d) for d in distributions}, "ricci_commit": git_commit(__file__),
    }


def configure_threads(threads: int) -> None:
    """Before JAX is imported: XLA reads its flags when its CPU backend starts (one thread: no Eigen pool)."""
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()


def limit_native_threads(threads: int):
    """Limit the native thread pools (OpenBLAS, OpenMP) through threadpoolctl; returns the limiter (the limit
    holds while it lives) and a note naming the pools, or None and why not."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None, "threadpoolctl not installed: native thread pools left at their defaults"
    limiter = threadpool_limits(limits=threads)
    pools = ", ".join(f"{p['internal_api']} {p.get('version') or ''}: {p['num_threads']}" for p in threadpool_info())
    return limiter, "native pools: " + pools


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


def _registered(name, **params):
    """Build the registered problem ``name`` when the case runs (so that its build time is measured)."""
    return lambda: problems.get(name, **params)


def _logistic(m, n, cond, lam=1.0, seed=0):
    return _registered("logistic-regression-synthetic", m=m, n=n, cond=cond, lam=lam, seed=seed)


def cases(quick: bool, families=FAMILIES) -> list:
    """The cases of a run: full sizes, or small ones with ``quick`` (the same families and methods)."""
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
    """Build the case's problem, then time every method that applies, ``args.repeat`` times in interleaved
    rounds (all methods, then again), each to the target gradient norm RTOL max(1, ||grad f(x0)||_inf)."""
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
    g0 = inf_norm(g)
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
            bad = check_jax(problem, fns)
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
                f_end, g_end = obj.fun_and_jac(obj.xp.asarray(to_numpy(x)) if args.backend != "numpy" else
                                               np.asarray(x))
                f_end, g_end = float(f_end), inf_norm(g_end)
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
