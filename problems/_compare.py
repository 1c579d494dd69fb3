"""Solving one problem with several methods, recording each run's trace, and the comparison table.

Every run records (wall time, iteration, f, ||grad f||_inf) at the start point and after each iteration
(through the solvers' ``callback(intermediate_result)``), so runs can be compared against time and
against iterations. The final objective and gradient are recomputed from the problem's own objective
after the run (outside the timing), so that every method is measured by the same f, including
Levenberg-Marquardt, whose native cost is 1/2 ||r||^2.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

from ._problem import Problem, method_for


@dataclass
class Run:
    """One method's solve: the solver's result, the trace, and the figures of the comparison table."""

    method: str
    result: object
    wall: float
    fun: float
    grad_norm: float
    iterations: int
    nfev: int
    njev: int
    nhev: int
    success: bool
    message: str
    trace_time: list = field(default_factory=list)
    trace_iter: list = field(default_factory=list)
    trace_fun: list = field(default_factory=list)
    trace_grad: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "method": self.method, "iterations": self.iterations, "fun": self.fun, "grad_norm": self.grad_norm,
            "nfev": self.nfev, "njev": self.njev, "nhev": self.nhev, "time": self.wall,
            "success": self.success, "status": _status(self.result), "message": self.message,
            "trace": {"time": self.trace_time, "iteration": self.trace_iter, "fun": self.trace_fun,
                      "grad_norm": self.trace_grad},
        }


def _status(result):
    s = result.get("status")
    return int(s) if s is not None else None


def _scalar(v) -> float:
    return float(v.item()) if hasattr(v, "item") else float(v)


def _inf_norm(xp, g) -> float:
    return _scalar(xp.max(xp.abs(g))) if g.shape[0] else 0.0


class LiveProgress:
    """Prints one line (iteration, f, ||grad||_inf, elapsed) to a stream while a solve runs.

    ``mode``: "auto" prints to a terminal only (a log or a pipe gets no progress lines), once a solve has run
    for ``after`` seconds, then at most every ``every`` seconds; "always" prints every iteration to any
    stream; "never" prints nothing.
    """

    def __init__(self, mode: str = "auto", stream=None, after: float = 1.0, every: float = 0.5):
        if mode not in ("auto", "always", "never"):
            raise ValueError(f"progress must be 'auto', 'always' or 'never', got {mode!r}")
        self.mode, self.stream, self.after, self.every = mode, stream or sys.stderr, after, every
        self._last = -math.inf

    def start(self):
        self._last = -math.inf

    def update(self, method, k, f, g, elapsed, suffix=""):
        if self.mode == "never":
            return
        if self.mode == "auto" and (elapsed < self.after or elapsed - self._last < self.every
                                    or not _is_terminal(self.stream)):
            return
        self._last = elapsed
        print(f"  {method:<13} iter {k:6d}   f = {f:.10e}   |grad|_inf = {g:.3e}   {elapsed:7.2f} s{suffix}",
              file=self.stream, flush=True)


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def run_method(problem: Problem, method: str, *, tol=None, maxiter=None, progress: LiveProgress | None = None) -> Run:
    """Solve ``problem`` with ``method`` and record the trace. ``tol``: stop at max_i |df/dx_i| <= tol for every
    method (see ``Problem.solve``); ``maxiter``: iterations (residual evaluations for least squares)."""
    record = method_for(problem, method)
    obj = problem.objective
    xp = obj.xp
    x0 = problem.start()
    scale = 2.0 * problem.residual_weight  # f = 2c * cost for least squares: cost = 1/2 ||r||^2
    times, iters, funs, grads = [], [], [], []
    progress = progress or LiveProgress("never")
    progress.start()
    least_squares = record.family == "least_squares"
    clock = {"t0": 0.0}

    def callback(intermediate_result):
        now = time.perf_counter() - clock["t0"]
        r = intermediate_result
        if least_squares:
            f, g = scale * _scalar(r["cost"]), scale * _scalar(r["optimality"])
        else:
            # a constrained method's intermediate result has its KKT residual ("optimality") instead of jac
            f, g = _scalar(r["fun"]), _inf_norm(xp, r["jac"]) if "jac" in r else _scalar(r["optimality"])
        k = int(r.get("nit", len(iters) + 1))
        times.append(now)
        iters.append(k)
        funs.append(f)
        grads.append(g)
        progress.update(method, k, f, g, now)

    options = record.stopping_options(maxiter=maxiter)
    clock["t0"] = time.perf_counter()
    result = problem.solve(record.name, x0=x0, tol=tol, callback=callback, **options)
    wall = time.perf_counter() - clock["t0"]
    # the start point and the final values, measured by the problem's own objective (outside the timing)
    f0, g0 = obj.fun_and_jac(x0)
    times.insert(0, 0.0)
    iters.insert(0, 0)
    funs.insert(0, float(f0))
    grads.insert(0, _inf_norm(xp, g0))
    f, g = obj.fun_and_jac(result.x)
    nit = result.get("nit")
    if nit is None:
        nit = iters[-1] if len(iters) > 1 else 0
    return Run(
        method=method, result=result, wall=wall, fun=float(f), grad_norm=_inf_norm(xp, g), iterations=int(nit),
        nfev=int(result.get("nfev", 0) or 0), njev=int(result.get("njev", 0) or 0),
        nhev=int(result.get("nhev", 0) or 0), success=bool(result.get("success", False)),
        message=str(result.get("message", "")),
        trace_time=times, trace_iter=iters, trace_fun=funs, trace_grad=grads,
    )


def reference_minimum(problem: Problem, runs) -> tuple[float, str]:
    """The value against which the objective gap is measured: the known minimum if there is one and no run
    went below it (a local method may find another known local minimum), else the best value reached. With
    general constraints only the final points that satisfy them (to 1e-6) count: auglag's and ipm's iterates
    may violate them and lie below the constrained minimum."""
    best = min((_best_value(problem, r) for r in runs), default=math.nan)
    if best == math.inf:
        best = math.nan
    candidates = [problem.minimum] if problem.minimum is not None else []
    candidates += [f for f, _ in problem.local_minima]
    close = [c for c in candidates if best >= c - 1e-9 * max(1.0, abs(c))]
    if close:
        return max(close), "known minimum"
    return best, "best value reached"


def _best_value(problem: Problem, run: Run) -> float:
    if not problem.constraints:  # bounds only: every method's iterates lie in the box
        return min(run.trace_fun)
    violation = getattr(run.result, "constr_violation", math.inf)
    return run.fun if math.isfinite(run.fun) and violation <= 1e-6 else math.inf


def table(runs) -> str:
    """The comparison table: method, iterations, objective, gradient norm, evaluations, wall time, status."""
    head = f"{'method':<13} {'iter':>6} {'objective':>22} {'|grad|_inf':>11} {'evals f/g/H':>14} {'time [s]':>9}  status"
    lines = [head, "-" * len(head)]
    for r in runs:
        evals = f"{r.nfev}/{r.njev}/{r.nhev}"
        if r.success:
            status = "converged at x0 (no step taken)" if r.iterations == 0 else "converged"
        else:
            status = _short(r.message)
        lines.append(f"{r.method:<13} {r.iterations:>6d} {r.fun:>22.14e} {r.grad_norm:>11.2e} {evals:>14} "
                     f"{r.wall:>9.3f}  {status}")
    return "\n".join(lines)


def _short(message: str, width: int = 48) -> str:
    message = " ".join(message.split())
    return message if len(message) <= width else message[: width - 3] + "..."
