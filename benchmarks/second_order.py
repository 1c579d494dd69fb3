#!/usr/bin/env python
"""Does exact second order train small networks and fit factorizations faster, in wall-clock time, than
quasi-Newton and first-order methods? (issue 11, item 5)

    cases      matrix factorization 100 x 80 rank 5 30% missing, 600 x 500 rank 8 90% missing, a
               MovieLens-100k-shaped synthetic set (943 x 1682, 100k entries, rank 10); MLPs on scikit-learn's
               diabetes (regression, squared loss) and digits (softmax cross-entropy), and a synthetic
               two-layer net (see _second_order_cases.py)
    methods    every ricci method the problem lists (``Problem.methods``, read at run time, less trust-krylov
               and dogleg unless --methods names them); scipy L-BFGS-B, BFGS and Newton-CG on ricci's
               derivatives (Newton-CG through Hessian-vector products); PyTorch Adam (learning rates 1e-3,
               3e-3, 1e-2, 3e-2, the best reported) and PyTorch L-BFGS (strong Wolfe), float64, at the same f

    python benchmarks/second_order.py --quick                 # small sizes, 5 starts, about 2 minutes
    python benchmarks/second_order.py --cases mf-small mlp-diabetes mlp-digits mlp-two-layer
    python benchmarks/second_order.py                         # everything, 50 starts (hours at full size)

What is measured, per (case, method) (benchmarks/README.md has the details):

- target: ||grad f||_inf <= 1e-7 max(1, ||grad f(x0)||_inf) at a point with f - f_best <= 1e-6 |f_best|,
  f_best the lowest f any method reached on the case (any start). The time is read off a callback at every
  iterate with the callback's own time subtracted (benchmarks/_harness.Tracker); every method stops at the
  gradient test or at the per-run time limit.
- factorizations: the success rate over ``--starts`` random starts (start 1 is the problem's x0), the share of
  runs ending within 1e-6 relative of f_best; the time to target is the median over the starts that reach it.
  Starts are interleaved: every method from start 1, then every method from start 2, ...
- Adam: the time to the target *loss* f <= f2 (1 + 1e-4), f2 the lowest f the second-order methods reached
  from the same start (Adam runs from the first start only); a learning rate that never gets there is
  reported at its own plateau (the first time within 1e-4 relative of its own lowest f).
- a run that raises MemoryError (the process's address space is limited, --memory-gb) is "out of memory";
  one that does not return within 1.5x the time limit is stopped by an alarm ("time limit").
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import resource
import signal
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _harness import Tracker, configure_threads, limit_native_threads, machine
from _second_order_cases import CASE_KEYS, cases, check_torch
from peers import Setting, _scipy, inf_norm, scalar
from report import _pyplot, results_stem, script_main, thin_trace, write_run
from ricci import problems
from ricci.solvers import METHOD_REGISTRY

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DISTRIBUTIONS = ("ricci", "numpy", "scipy", "sympy", "scikit-learn", "torch", "matplotlib", "threadpoolctl")
GTOL_RTOL = 1e-7          # ||grad f||_inf <= GTOL_RTOL max(1, ||grad f(x0)||_inf)
F_RTOL = 1e-6             # f - f_best <= F_RTOL |f_best|: at the best value (target and success rate)
ADAM_RTOL = 1e-4          # Adam's target loss: f <= f2 (1 + ADAM_RTOL)
ADAM_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
LEFT_OUT = ("trust-krylov", "dogleg")   # trust-region variants; dogleg needs a positive definite Hessian
MAXITER = 2000            # second-order methods; first-order ones get 100x
QN_PEERS = ("scipy-lbfgsb", "scipy-bfgs")
WARM_UP_S = 0.2           # untimed run per method and case before the timed ones (one-time costs)


class TimeLimit(BaseException):
    """Raised by the alarm when a run overstays (a BaseException, so no solver's ``except Exception`` eats it)."""


def _alarm(signum, frame):
    raise TimeLimit


@dataclass(frozen=True)
class Spec:
    """One method of the comparison: ``run(ctx, x0, tracker) -> {"x": ..., "nit": ...}``."""

    key: str
    label: str
    group: str          # "ricci", "scipy", "torch"
    second_order: bool
    run: object
    gn_lm: bool = False  # counts as "ricci's Gauss-Newton / Levenberg-Marquardt" for the first target


@dataclass
class Context:
    problem: object
    gtol: float
    limit: float
    f_torch: object = None
    torch: object = None
    loss_target: float | None = None


@dataclass
class CaseOutcome:
    case: object
    n: int
    starts: int
    build_s: float
    default_method: str | None
    warm_up_s: float = 0.0
    specs: list = field(default_factory=list)    # the Spec of every method run (Adam apart)
    runs: dict = field(default_factory=dict)     # key -> list of run dicts (one per start)
    adam: dict = field(default_factory=dict)     # lr -> run dict
    notes: list = field(default_factory=list)
    f_best: float = math.nan
    loss_target: float | None = None


# ----------------------------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------------------------


def _ricci(name):
    record = METHOD_REGISTRY.get(name)
    family = getattr(record, "family", "")
    first_order = getattr(record, "derivatives", "") == "gradient"

    def run(ctx, x0, tr):
        p = ctx.problem
        obj = p.objective
        scale = 2.0 * p.residual_weight   # least squares: f = scale * cost, grad f = scale * J'r

        def callback(intermediate_result):  # the name asks for the OptimizeResult form, as in scipy
            entered = time.perf_counter()
            r = intermediate_result
            if "cost" in r and "optimality" in r:   # least squares: fun is the residual, jac its Jacobian
                f, g = scale * scalar(r["cost"]), scale * scalar(r["optimality"])
            elif "fun" in r and r.get("jac") is not None:
                f, g = scalar(r["fun"]), inf_norm(r["jac"])
            else:  # a method reporting only x: evaluate (its time is the callback's, not counted)
                fv, gv = obj.fun_and_jac(np.asarray(r["x"]))
                f, g = float(fv), inf_norm(gv)
            tr.check(entered, f, g)

        options = {}
        if family == "minimize":
            options["maxiter"] = MAXITER * (100 if first_order else 1)
        elif family == "least_squares":
            options["max_nfev"] = 10 * MAXITER
        res = p.solve(name, x0=x0, tol=ctx.gtol, callback=callback, **options)
        return {"x": res.x, "nit": res.get("nit"), "message": " ".join(str(res.get("message", "")).split())}

    return run


def _scipy_peer(method):
    scipy_run = _scipy(method)   # benchmarks/peers.py's runner (BFGS, L-BFGS-B)

    def run(ctx, x0, tr):
        setting = Setting(SimpleNamespace(maxiter=MAXITER), ctx.problem, x0, ctx.gtol, {})
        out = scipy_run(setting, tr)
        return {"x": out["x"], "nit": out["nit"], "message": out["message"]}

    return run


def _scipy_newton_cg(ctx, x0, tr):
    """scipy Newton-CG on ricci's f, gradient and Hessian-vector products (no dense Hessian is formed)."""
    import scipy.optimize as so

    obj = ctx.problem.objective

    def callback(intermediate_result):
        entered = time.perf_counter()
        tr.check(entered, scalar(intermediate_result["fun"]), inf_norm(obj.jac(intermediate_result["x"])))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = so.minimize(obj.fun, np.array(x0), jac=obj.jac, hessp=obj.hessp, method="Newton-CG",
                          callback=callback, options={"maxiter": MAXITER, "xtol": 1e-14})
    return {"x": res.x, "nit": res.get("nit"), "message": str(res.get("message", ""))}


def _torch_lbfgs(ctx, x0, tr):
    """torch.optim.LBFGS with the strong Wolfe line search; every closure evaluation is traced (line-search
    trial points included), and it stops at the same gradient test (tolerance_grad = gtol, on max |g_i|)."""
    torch = ctx.torch
    x = torch.tensor(np.array(x0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=100 * MAXITER, max_eval=125 * MAXITER, tolerance_grad=ctx.gtol,
                            tolerance_change=0.0, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ctx.f_torch(x)
        loss.backward()
        entered = time.perf_counter()
        tr.check(entered, loss.item(), x.grad.abs().max().item())
        return loss

    try:
        opt.step(closure)
    except StopIteration:
        pass
    return {"x": x.detach().numpy().copy(), "nit": opt.state[x].get("n_iter"), "message": ""}


def _torch_adam(lr):
    def run(ctx, x0, tr):
        torch = ctx.torch
        x = torch.tensor(np.array(x0), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([x], lr=lr)
        it = 0
        while it < 100 * 100 * MAXITER:
            opt.zero_grad()
            loss = ctx.f_torch(x)
            loss.backward()
            entered = time.perf_counter()
            f = loss.item()
            try:
                tr.check(entered, f, x.grad.abs().max().item())
            except StopIteration:
                break
            if ctx.loss_target is not None and f <= ctx.loss_target:
                break
            opt.step()
            it += 1
        return {"x": x.detach().numpy().copy(), "nit": it, "message": ""}

    return run


def warm_torch(torch) -> float:
    """One step of Adam and of L-BFGS on a toy problem, so that torch's one-time work on a first optimizer step
    (lazy imports, about 2 s) is not charged to the first timed run; returns its seconds."""
    start = time.perf_counter()
    for make in (lambda p: torch.optim.Adam([p], lr=1e-3),
                 lambda p: torch.optim.LBFGS([p], max_iter=2, line_search_fn="strong_wolfe")):
        p = torch.ones(3, dtype=torch.float64, requires_grad=True)
        opt = make(p)

        def closure(p=p, opt=opt):
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        opt.step(closure)
    return time.perf_counter() - start


def ricci_specs(problem, wanted) -> list:
    """ricci's methods for a problem, as the problem lists them (``Problem.methods``) at run time."""
    out = []
    for name in problem.methods:
        if (wanted is None and name in LEFT_OUT) or (wanted is not None and name not in wanted):
            continue
        record = METHOD_REGISTRY.get(name)
        second = getattr(record, "derivatives", "hessian") != "gradient"
        gn_lm = getattr(record, "family", "") == "least_squares" or any(
            t in name for t in ("gauss", "ggn", "lm", "varpro", "levenberg"))
        out.append(Spec(name, f"ricci {name}", "ricci", second, _ricci(name), gn_lm))
    return out


PEER_SPECS = (
    Spec("scipy-lbfgsb", "scipy L-BFGS-B", "scipy", False, _scipy_peer("L-BFGS-B")),
    Spec("scipy-bfgs", "scipy BFGS", "scipy", False, _scipy_peer("BFGS")),
    Spec("scipy-newton-cg", "scipy Newton-CG", "scipy", True, _scipy_newton_cg),
    Spec("torch-lbfgs", "torch L-BFGS", "torch", False, _torch_lbfgs),
)


def default_method(problem) -> str | None:
    """The method ``Problem.solve()`` uses without one: ``problems.default_method(problem)`` where it exists,
    else the default of ``solve``'s ``method`` parameter."""
    fn = getattr(problems, "default_method", None)
    if callable(fn):
        return fn(problem)
    import inspect

    default = inspect.signature(type(problem).solve).parameters["method"].default
    return default if isinstance(default, str) else None


# ----------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------


def _one_run(spec, ctx, x0, log_label, log):
    """One solve: traced, time-limited by the tracker and (as a last resort) by an alarm; MemoryError caught."""
    obj = ctx.problem.objective
    f0, g0 = obj.fun_and_jac(x0)
    obj.fun(x0 + 1.0)   # leave no cached value at x0: every run pays for its first evaluation
    tr = Tracker(ctx.gtol, ctx.limit)
    tr.start(float(f0), inf_norm(g0))
    status, out = "ok", {"x": None, "nit": None, "message": ""}
    signal.setitimer(signal.ITIMER_REAL, 1.5 * ctx.limit + 2.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = spec.run(ctx, x0, tr)
    except MemoryError:
        status = "out of memory"
    except TimeLimit:
        status, tr.timed_out = "time limit (alarm)", True
    except Exception as exc:  # noqa: BLE001 - a failing method is a result
        status = f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    wall = time.perf_counter() - tr.t0 - tr.overhead
    if tr.timed_out and status == "ok":
        status = "time limit"
    x = out.get("x")
    f, g = math.nan, math.nan
    if x is not None:
        fv, gv = obj.fun_and_jac(np.asarray(x, dtype=np.float64))
        f, g = float(fv), inf_norm(gv)
    run = {"status": status, "f": f, "grad": g, "nit": out.get("nit"), "wall": wall, "gtol": ctx.gtol,
           "message": out.get("message", ""), "trace": {"time": tr.times, "fun": tr.funs, "grad_norm": tr.grads}}
    log(f"  {log_label}: {spec.label}: {status}, f {f:.10g}, |g| {g:.2e} (gtol {ctx.gtol:.1e}), {wall:.3f} s")
    return run


def random_starts(problem, count, scale) -> list:
    """Start 1: the problem's x0; then seeded Gaussian starts of the same root-mean-square size."""
    x0 = np.array(problem.x0)
    rms = scale or float(np.sqrt(np.mean(x0 ** 2)))
    return [x0] + [rms * np.random.default_rng([k, 7]).standard_normal(problem.n) for k in range(1, count)]


def run_case(case, args, torch, log) -> CaseOutcome:
    started = time.perf_counter()
    built = case.build()
    p = built.problem
    outcome = CaseOutcome(case, p.n, args.starts if case.multistart else 1, time.perf_counter() - started,
                          default_method(p))
    specs = ricci_specs(p, args.methods)
    specs += [s for s in PEER_SPECS if args.methods is None or s.key in args.methods]
    f_torch = None
    if torch is not None:
        f_torch = built.torch_objective.function(torch)
        bad = check_torch(p, f_torch, torch)
        if bad:
            outcome.notes.append(f"{case.label}: torch methods not run: {bad}")
            f_torch = None
    if f_torch is None:
        specs = [s for s in specs if s.group != "torch"]
    outcome.specs = specs
    obj = p.objective
    x0s = random_starts(p, outcome.starts, built.start_scale)
    # one untimed run per method (to its first iterate past WARM_UP_S): one-time costs such as compiling a
    # derivative on its first call (hessp: ~0.7 s) or torch's first step are not charged to start 1
    warm = Context(p, GTOL_RTOL * max(1.0, inf_norm(obj.jac(x0s[0]))), WARM_UP_S, f_torch, torch)
    started = time.perf_counter()
    for spec in specs:
        _one_run(spec, warm, x0s[0], "", lambda msg: None)
    outcome.warm_up_s = time.perf_counter() - started
    for k, x0 in enumerate(x0s):
        g0 = inf_norm(obj.jac(x0))
        ctx = Context(p, GTOL_RTOL * max(1.0, g0), args.time_limit, f_torch, torch)
        for spec in specs:
            outcome.runs.setdefault(spec.key, []).append(_one_run(spec, ctx, x0, f"{case.key} start {k + 1}", log))
        if k == 0 and f_torch is not None and not args.no_adam:
            second = [r[0]["f"] for key, r in outcome.runs.items()
                      if _spec(outcome, key).second_order and math.isfinite(r[0]["f"])]
            if second:
                f2 = min(second)
                ctx.loss_target = outcome.loss_target = f2 + ADAM_RTOL * abs(f2)
            adam_ctx = replace(ctx, limit=args.adam_time_limit or args.time_limit)
            for lr in args.adam_lrs:
                spec = Spec(f"torch-adam-{lr:g}", f"torch Adam lr={lr:g}", "torch", False, _torch_adam(lr))
                outcome.adam[lr] = _one_run(spec, adam_ctx, x0, f"{case.key} start 1", log)
    finals = [r["f"] for runs in [*outcome.runs.values(), list(outcome.adam.values())] for r in runs
              if math.isfinite(r["f"])]
    outcome.f_best = min(finals) if finals else math.nan
    return outcome


def _spec(outcome, key):
    return next(s for s in outcome.specs if s.key == key)


# ----------------------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------------------


def at_best(f, f_best) -> bool:
    return math.isfinite(f) and f - f_best <= F_RTOL * abs(f_best)


def time_to_target(run, f_best):
    """The first traced time with ||g||_inf <= gtol and f within F_RTOL of f_best (None: never)."""
    for t, f, g in zip(run["trace"]["time"], run["trace"]["fun"], run["trace"]["grad_norm"]):
        if g <= run["gtol"] and at_best(f, f_best):
            return t
    return None


def time_to_loss(run, level):
    """The first traced time with f <= level (None: never)."""
    if level is None:
        return None
    return next((t for t, f in zip(run["trace"]["time"], run["trace"]["fun"]) if f <= level), None)


def summarize(o: CaseOutcome, key: str) -> dict:
    runs = o.runs[key]
    ttts = [time_to_target(r, o.f_best) for r in runs]
    reached = [t for t in ttts if t is not None]
    fs = [r["f"] for r in runs if math.isfinite(r["f"])]
    its = [r["nit"] for r in runs if r["nit"] is not None]
    statuses = sorted({r["status"] for r in runs if r["status"] != "ok"})
    return {"time_to_target": statistics.median(reached) if reached else None, "reached": len(reached),
            "runs": len(runs), "f": statistics.median(fs) if fs else math.nan,
            "nit": statistics.median(its) if its else None,
            "success": sum(at_best(r["f"], o.f_best) for r in runs) / len(runs),
            "statuses": statuses, "oom": any(r["status"] == "out of memory" for r in runs)}


def adam_summary(o: CaseOutcome) -> dict | None:
    """The best learning rate: the fastest to the target loss, else the lowest final f (at its plateau time)."""
    if not o.adam:
        return None
    rows = {}
    for lr, run in o.adam.items():
        t = time_to_loss(run, o.loss_target)
        own = min(run["trace"]["fun"])
        rows[lr] = {"lr": lr, "time_to_loss": t, "f": run["f"], "nit": run["nit"], "status": run["status"],
                    "plateau": time_to_loss(run, own + ADAM_RTOL * abs(own)), "run": run}
    hit = [r for r in rows.values() if r["time_to_loss"] is not None]
    best = min(hit, key=lambda r: r["time_to_loss"]) if hit else min(rows.values(), key=lambda r: r["f"])
    return {"best": best, "all": rows}


def qn_time(o: CaseOutcome):
    ts = [summarize(o, k)["time_to_target"] for k in QN_PEERS if k in o.runs]
    ts = [t for t in ts if t is not None]
    return min(ts) if ts else None


def _s(t):
    return "—" if t is None else f"{t:.3f}" if t < 10 else f"{t:.1f}"


def case_table(o: CaseOutcome) -> list:
    qn = qn_time(o)
    lines = [(f"### {o.case.label} (n = {o.n}, {o.starts} start{'s' if o.starts > 1 else ''}, "
              f"f_best = {o.f_best:.10g})"), "",
             ("| method | time to target [s] | / faster of scipy L-BFGS-B, BFGS | f (median) | iterations (median) | "
              "reached target | success rate | notes |"), "|---|---:|---:|---:|---:|---:|---:|---|"]
    for spec in o.specs:
        s = summarize(o, spec.key)
        t = s["time_to_target"]
        ratio = "—" if t is None or qn is None else f"{t / qn:.2f}"
        note = ", ".join(s["statuses"])
        if spec.key == o.default_method:
            note = ("default; " + note) if note else "default"
        nit = "—" if s["nit"] is None else f"{s['nit']:g}"
        lines.append(f"| {spec.label} | {_s(t)} | {ratio} | {s['f']:.8g} | {nit} | {s['reached']}/{s['runs']} | "
                     f"{100 * s['success']:.0f}% | {note} |")
    a = adam_summary(o)
    if a:
        b = a["best"]
        t = b["time_to_loss"]
        shown = f"{_s(t)} †" if t is not None else f"not reached (plateau {_s(b['plateau'])})"
        lines.append(f"| torch Adam, best lr = {b['lr']:g} | {shown} | — | {b['f']:.8g} | {b['nit']} | start 1 | "
                     f"{'—'} | " + "; ".join(f"lr {lr:g}: {_s(r['time_to_loss'])} s, f {r['f']:.6g}"
                                              + (f" ({r['status']})" if r["status"] != "ok" else "")
                                              for lr, r in a["all"].items()) + " |")
    lines.append("")
    if o.loss_target is not None and a:
        lines.append(f"† Adam: time to the target loss f <= {o.loss_target:.8g} (the lowest f of the second-order "
                     f"methods from start 1, + {ADAM_RTOL:g} relative).")
    return lines


def targets(outcomes) -> list:
    """(target, measured, met) rows for the issue's four targets, over the cases that ran."""
    rows = []
    for o in outcomes:
        gn = [summarize(o, s.key)["time_to_target"] for s in o.specs if s.gn_lm]
        gn = [t for t in gn if t is not None]
        qn = qn_time(o)
        names = ", ".join(s.key for s in o.specs if s.gn_lm) or "none applies"
        if not any(s.gn_lm for s in o.specs):
            rows.append((f"{o.case.label}: faster of ricci GN/LM <= 0.5x faster of scipy L-BFGS-B/BFGS",
                         "no Gauss-Newton / Levenberg-Marquardt method applies (no residual)", False))
            continue
        t = min(gn) if gn else None
        if t is None:
            measured, met = f"ricci GN/LM ({names}) never reached the target", False
        elif qn is None:  # the peers' time exceeds their whole run: a lower bound
            bound = min(statistics.median(r["wall"] for r in o.runs[k]) for k in QN_PEERS if k in o.runs)
            measured = (f"GN/LM {t:.3f} s; neither scipy quasi-Newton method reached the target (their time > "
                        f"{bound:.1f} s)")
            met = t <= 0.5 * bound
        else:
            measured, met = f"{t:.3f} s / {qn:.3f} s = {t / qn:.2f}x", t <= 0.5 * qn
        rows.append((f"{o.case.label}: faster of ricci GN/LM ({names}) <= 0.5x faster of scipy L-BFGS-B/BFGS",
                     measured, met))
    for o in outcomes:
        if o.case.family != "factorization":
            continue
        dm = o.default_method
        if dm not in o.runs:
            rows.append((f"{o.case.label}: default method success >= 90% and >= every peer",
                         f"default method {dm!r} was not run", False))
            continue
        own = summarize(o, dm)["success"]
        peers = {s.key: summarize(o, s.key)["success"] for s in o.specs if s.group != "ricci"}
        worst = max(peers.values(), default=0.0)
        shown = ", ".join(f"{k} {100 * v:.0f}%" for k, v in peers.items())
        label = f"{o.case.label}: success of the default method ({dm}) over {o.starts} starts >= 90% and >= every peer"
        rows.append((label, f"{100 * own:.0f}%; peers: {shown}", own >= 0.9 and own >= worst))
    for o in outcomes:
        if o.case.key != "mlp-digits":
            continue
        a = adam_summary(o)
        ricci2 = [time_to_loss(o.runs[s.key][0], o.loss_target) for s in o.specs
                  if s.group == "ricci" and s.second_order]
        ricci2 = [t for t in ricci2 if t is not None]
        t = min(ricci2) if ricci2 else None
        ta = a["best"]["time_to_loss"] if a else None
        if a is None:
            measured, met = "not measured (Adam did not run)", False
        elif t is None:
            measured, met = (f"no ricci second-order method reached the target loss {o.loss_target:.8g} "
                             f"(Adam's best lr {a['best']['lr']:g}: "
                             + (f"{ta:.3f} s)" if ta is not None else "not either)")), False
        elif ta is None:  # Adam's time exceeds its whole run: a lower bound
            bound = a["best"]["run"]["wall"]
            measured = (f"ricci {t:.3f} s; Adam (best lr {a['best']['lr']:g}) did not reach the target loss in its "
                        f"{bound:.1f} s run (ended at f = {a['best']['f']:.6g})")
            met = t <= 0.5 * bound
        else:
            measured, met = f"{t:.3f} s / {ta:.3f} s = {t / ta:.2f}x (lr {a['best']['lr']:g})", t <= 0.5 * ta
        if a is not None:  # the other reading: the loss Adam itself reaches (its best lr's lowest f)
            own = min(a["best"]["run"]["trace"]["fun"])
            level = own + ADAM_RTOL * abs(own)
            mine = [t for t in (time_to_loss(o.runs[s.key][0], level) for s in o.specs
                                if s.group == "ricci" and s.second_order) if t is not None]
            t_adam = time_to_loss(a["best"]["run"], level)
            if mine and t_adam:
                measured += (f"; to Adam's own lowest loss {own:.6g} (+{ADAM_RTOL:g}): ricci {min(mine):.3f} s against "
                             f"Adam {t_adam:.3f} s = {min(mine) / t_adam:.2f}x")
        rows.append((f"{o.case.label}: fastest ricci second-order method to the target loss <= 0.5x Adam's best lr",
                     measured, met))
    ooms = [f"{o.case.key}: {k}" for o in outcomes for k, runs in o.runs.items()
            if any(r["status"] == "out of memory" for r in runs)]
    ooms += [f"{o.case.key}: Adam lr {lr:g}" for o in outcomes for lr, r in o.adam.items()
             if r["status"] == "out of memory"]
    rows.append(("no method runs out of memory", ", ".join(ooms) if ooms else "none did", not ooms))
    return rows


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


def plot_case(o: CaseOutcome, path) -> None:
    """f - f_best and ||grad f||_inf against wall time (log-log), the first start of every method."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    series = [(s.label, o.runs[s.key][0], "-" if s.second_order else "--") for s in o.specs]
    a = adam_summary(o)
    if a:
        series.append((f"torch Adam lr={a['best']['lr']:g}", a["best"]["run"], ":"))
    for i, (label, run, style) in enumerate(series):
        tr = run["trace"]
        t = [max(v, 1e-5) for v in tr["time"]]
        gap = [max(f - o.f_best, 1e-16) for f in tr["fun"]]
        g = [max(v, 1e-300) for v in tr["grad_norm"]]
        color = plt.cm.tab20(i % 20)
        axes[0].loglog(t, gap, style, linewidth=1.1, color=color, label=label)
        axes[1].loglog(t, g, style, linewidth=1.1, color=color)
    axes[1].axhline(o.runs[o.specs[0].key][0]["gtol"], color="k", linewidth=0.8, linestyle=":")
    for ax, ylabel in zip(axes, ("f - f_best", "||grad f||_inf")):
        ax.set_xlabel("wall time [s]")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(loc="outside right center", fontsize=7)
    fig.suptitle(f"{o.case.label}: start 1 (dotted line: the gradient target)", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(outcomes, env, args, paths, notes) -> str:
    v = env["versions"]
    lines = [
        f"# Second order against quasi-Newton and first order, {datetime.date.today().isoformat()}"
        + (" (quick)" if args.quick else ""), "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs (shared: timings are noisy)",
        f"- threads: {env['threads']} per library ({env['thread_pools']}; torch.set_num_threads({env['threads']}))",
        (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
         f"scipy {v['scipy']}, torch {v['torch']}, scikit-learn {v['scikit-learn']}, matplotlib {v['matplotlib']}"),
        (f"- target: ‖grad f‖∞ <= {GTOL_RTOL:g} max(1, ‖grad f(x0)‖∞) at f - f_best <= {F_RTOL:g} |f_best| "
         f"(f_best: the lowest f any method reached); success: final f within {F_RTOL:g} relative of f_best; "
         f"time limit {args.time_limit:g} s per run"
         + (f" (Adam: {args.adam_time_limit:g} s)" if args.adam_time_limit else "") + "; float64"),
        f"- command: `{args.command}`", "",
        ("Time to target: median over the starts that reach it (callback time subtracted; setup, i.e. ricci's "
         f"differentiate + compile and one untimed warm-up run per method to its first iterate past {WARM_UP_S:g} s, "
         "excluded). `/ faster of scipy`: that time over the faster of scipy L-BFGS-B and "
         "BFGS (< 1: faster than both). Factorization starts: start 1 is the problem's x0, the others seeded "
         "Gaussian of the same size; Adam runs from start 1 only. torch L-BFGS's trace has every closure "
         "evaluation, line-search trial points included."),
    ]
    rows = targets(outcomes)
    lines += ["", "## Targets (issue 11)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    if args.quick:
        lines += ["", "(--quick: small sizes and few starts; the targets are meant for the full sizes.)"]
    for o in outcomes:
        lines += ["", f"## {o.case.label}", ""]
        if o.case.key in paths:
            lines += [f"![{o.case.key}]({paths[o.case.key].name})", ""]
        lines += case_table(o)
    lines += ["", "## Setup (not in the times above)", "",
              "| case | n | build (differentiate + compile) [s] | warm-up runs [s] | default method |",
              "|---|---:|---:|---:|---|"]
    lines += [f"| {o.case.label} | {o.n} | {o.build_s:.2f} | {o.warm_up_s:.2f} | {o.default_method} |"
              for o in outcomes]
    allnotes = list(notes) + [n for o in outcomes for n in o.notes]
    if allnotes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in allnotes]
    return "\n".join(lines).rstrip() + "\n"


def as_json(outcomes, env, args, notes) -> dict:
    def doc(run):
        return {**run, "trace": thin_trace(run["trace"])}

    return {"date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
            "settings": {"quick": args.quick, "starts": args.starts, "time_limit": args.time_limit,
                         "adam_time_limit": args.adam_time_limit, "gtol_rtol": GTOL_RTOL, "f_rtol": F_RTOL, "adam_rtol": ADAM_RTOL},
            "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(outcomes)],
            "notes": notes + [n for o in outcomes for n in o.notes],
            "cases": [{"case": o.case.label, "key": o.case.key, "n": o.n, "starts": o.starts, "f_best": o.f_best,
                       "loss_target": o.loss_target, "default_method": o.default_method, "build_s": o.build_s,
                       "methods": {k: {**summarize(o, k), "runs": [doc(r) for r in runs]} for k, runs in o.runs.items()},
                       "adam": {f"{lr:g}": doc(r) for lr, r in o.adam.items()}} for o in outcomes]}


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/second_order.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 5 starts, 3 s per run")
    p.add_argument("--cases", nargs="+", choices=CASE_KEYS, default=list(CASE_KEYS), help="which cases")
    p.add_argument("--starts", type=int, default=None, help="random starts per factorization (default 50, quick 5)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per run (default 60, quick 3)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="only these method keys (ricci names, scipy-lbfgsb, scipy-bfgs, scipy-newton-cg, torch-lbfgs)")
    p.add_argument("--adam-lrs", nargs="+", type=float, default=list(ADAM_LRS),
                   help="Adam's learning rates (default %(default)s)")
    p.add_argument("--adam-time-limit", type=float, default=None,
                   help="seconds per Adam run (default: --time-limit); a longer run bounds Adam's time better")
    p.add_argument("--no-adam", action="store_true", help="leave out the Adam sweep")
    p.add_argument("--skip-torch", action="store_true", help="leave out the torch peers")
    p.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    p.add_argument("--memory-gb", type=float, default=None,
                   help="address-space limit of the process, so that a method runs into MemoryError instead of "
                        "the machine's OOM killer (default: 70%% of physical memory, at most 16)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the results (default %(default)s)")
    return p


def _limit_memory(gb):
    if gb is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        except (ValueError, OSError):
            total = 16.0
        gb = min(16.0, 0.7 * total)
    if not gb > 0:
        raise ValueError(f"--memory-gb must be positive, got {gb}")
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(gb * 2 ** 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return f"address space limited to {limit / 2 ** 30:.1f} GiB (a bigger allocation is a MemoryError)"


def run(args, log=None) -> int:
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    args.starts = args.starts if args.starts is not None else (5 if args.quick else 50)
    args.time_limit = args.time_limit if args.time_limit is not None else (3.0 if args.quick else 60.0)
    if args.starts < 1:
        raise ValueError(f"--starts must be at least 1, got {args.starts}")
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be positive, got {args.time_limit}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.adam_time_limit is not None and not args.adam_time_limit > 0:
        raise ValueError(f"--adam-time-limit must be positive, got {args.adam_time_limit}")
    if not all(lr > 0 for lr in args.adam_lrs):
        raise ValueError(f"--adam-lrs must be positive, got {args.adam_lrs}")
    configure_threads(args.threads)
    notes = []
    torch = None
    if not args.skip_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            notes.append(f"torch warm-up (first optimizer steps, not timed): {warm_torch(torch):.2f} s")
        except ImportError as exc:
            notes.append(f"torch peers skipped: not installed ({exc}); pip install torch")
    _limiter, thread_note = limit_native_threads(args.threads)
    env = machine(args.threads, thread_note, DISTRIBUTIONS)
    notes.append(_limit_memory(args.memory_gb))
    signal.signal(signal.SIGALRM, _alarm)
    todo = [c for c in cases(args.quick) if c.key in args.cases]
    started = time.perf_counter()
    outcomes = []
    for case in todo:
        log(case.label)
        outcomes.append(run_case(case, args, torch, log))
    plots = [(o.case.key, partial(plot_case, o)) for o in outcomes]
    return write_run(args.out, results_stem("second_order", args.quick), args.no_plots, plots,
                     lambda paths: (markdown(outcomes, env, args, paths, notes), as_json(outcomes, env, args, notes)),
                     started, notes, log)


def main(argv=None) -> int:
    return script_main("second_order.py", parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
