#!/usr/bin/env python
"""Constrained optimization with exact Hessians against scipy, IPOPT and CVXPY (issue 12, item 6).

    cases      the Hock-Schittkowski problems of ricci.problems from their published starts; nonnegative least
               squares 3000 x 400 (singular values 1..1e-3) and nonnegative logistic regression 20000 x 300
               (bounds only); NNLS, a simplex-constrained portfolio, the soft-margin SVM dual and L1 logistic
               regression in split form (convex); see _constrained_cases.py
    methods    ricci.solvers.minimize(..., bounds=, constraints=) with method=None (the method it picks) on the
               problem's Objective and exact constraint derivatives; scipy SLSQP, trust-constr (exact Hessians
               of f and of v'c) and L-BFGS-B (bound-only cases) on the same callables; IPOPT through CasADi
               (exact Hessians: CasADi's AD on HS, the Hessian of f as hess_lag on the data cases); CVXPY's
               default solver (convex cases)

    python benchmarks/constrained.py --quick          # small sizes (the whole HS set), 1-2 minutes
    python benchmarks/constrained.py                  # issue 12's sizes, the numbers of README Results

What is measured, per (case, method) (benchmarks/README.md has the details):

- every iterate of ricci and scipy is read off a callback (f, constraint violation, projected gradient; the
  callback's own time is subtracted), so the *time to target* is the first iterate that meets the case's
  target; IPOPT and CVXPY take no callback here and are timed whole (their time to target is the whole call
  when their answer meets the target);
- targets: HS |f - f*| <= 1e-6 max(1, |f*|) and violation <= 1e-6 (f* published); bound-constrained
  ||P(x - g) - x||_inf <= 1e-8 max(1, ||P(x0 - g0) - x0||_inf); convex |f - f*| <= 1e-8 max(1, |f*|) and
  violation <= 1e-8, f* from scipy.optimize.nnls for NNLS, else the lowest f any method reached at violation
  <= 1e-10;
- iterations as each method counts them, the final f, violation and status.
"""
from __future__ import annotations

import argparse
import datetime
import math
import signal
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from _constrained_cases import CASE_KEYS, GROUPS, cases
from _harness import limit_native_threads, machine
from report import _pyplot, results_stem, script_main, thin_trace, write_run
from ricci import problems

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DISTRIBUTIONS = ("ricci", "numpy", "scipy", "casadi", "cvxpy", "clarabel", "matplotlib", "threadpoolctl")
HS_TOL = 1e-6       # HS: |f - f*| <= HS_TOL max(1, |f*|), violation <= HS_TOL
RTOL = 1e-8         # bounds: projected gradient; convex: f and violation
F_STAR_VIOLATION = 1e-10   # f* unknown: the lowest f at violation <= this (a point infeasible by 1e-8 can
                           # undercut the optimum by about |multiplier| 1e-8)
METHODS = ("ricci", "ipm", "gn", "slsqp", "trust-constr", "lbfgsb", "ipopt", "cvxpy")
LABELS = {"ricci": "ricci (method=None)", "ipm": "ricci ipm", "gn": "ricci gauss-newton (least squares, bounds)", "slsqp": "scipy SLSQP", "trust-constr": "scipy trust-constr",
          "lbfgsb": "scipy L-BFGS-B", "ipopt": "IPOPT (CasADi)", "cvxpy": "CVXPY (default solver)"}
IPM_TOL = 1e-10     # ricci ipm's tol: IPOPT's (ipopt.tol in ipopt_solver)
WHOLE_CALL = ("ipopt", "cvxpy")   # no callback: timed whole
SLSQP_MAX_N = 500                  # larger: SLSQP not run (minutes in one uninterruptible C call at n = 1000)


class TimeLimit(BaseException):
    """Raised by the alarm when a run overstays (a BaseException, so no solver's ``except Exception`` eats it)."""


def _alarm(signum, frame):
    raise TimeLimit


# ----------------------------------------------------------------------------------------------------------
# Measuring a point
# ----------------------------------------------------------------------------------------------------------


class Meter:
    """f, constraint violation and projected gradient of a problem at a point, by ricci's objective and
    constraints (the same yardstick for every method).

    violation: max over constraint values and bounds of max(lo - v, v - hi, 0) (absolute). The projected
    gradient ||P(x - grad f(x)) - x||_inf (P the projection onto the bounds) is computed for bound-only
    problems; it is the first-order measure of Lin & More (1999) and of L-BFGS-B's pgtol."""

    def __init__(self, problem):
        self.problem = problem
        self.lo, self.hi = problem.bounds if problem.bounds is not None else (None, None)
        self.bounds_only = not problem.constraints

    def violation(self, x) -> float:
        worst = 0.0
        for c in self.problem.constraints:
            v = np.asarray(c.fun(x), dtype=float).reshape(-1)
            if v.size:
                worst = max(worst, float(np.max(np.maximum(np.maximum(c.lo - v, v - c.hi), 0.0))))
        if self.lo is not None:
            worst = max(worst, float(np.max(np.maximum(np.maximum(self.lo - x, x - self.hi), 0.0))))
        return worst

    def measure(self, x) -> tuple:
        """(f, violation, projected gradient or nan)."""
        x = np.asarray(x, dtype=float)
        obj = self.problem.objective
        if self.bounds_only:
            f, g = obj.fun_and_jac(x)
            g = np.asarray(g, dtype=float)
            pg = float(np.max(np.abs(np.clip(x - g, self.lo, self.hi) - x))) if x.size else 0.0
        else:
            f, pg = obj.fun(x), math.nan
        return float(f), self.violation(x), pg


class Trace:
    """(time, f, violation, projected gradient) at every iterate a callback reports; time in here not counted.
    Raises StopIteration past the time limit."""

    def __init__(self, meter: Meter, limit: float):
        self.meter, self.limit = meter, limit
        self.times, self.funs, self.viols, self.pgs = [], [], [], []
        self.overhead = 0.0
        self.timed_out = False
        self.t0 = time.perf_counter()

    def record(self, x):
        entered = time.perf_counter()
        f, v, pg = self.meter.measure(x)
        self.times.append(entered - self.t0 - self.overhead)
        self.funs.append(f)
        self.viols.append(v)
        self.pgs.append(pg)
        self.overhead += time.perf_counter() - entered
        if self.times[-1] > self.limit:
            self.timed_out = True
            raise StopIteration

    def callback(self):
        def callback(intermediate_result):   # the name asks scipy (and ricci) for the OptimizeResult form
            self.record(getattr(intermediate_result, "x", intermediate_result))

        return callback

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.overhead


# ----------------------------------------------------------------------------------------------------------
# Methods: run(built, ctx, trace) -> {"x", "nit", "status", "extra"}
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Context:
    group: str
    limit: float
    pg_target: float
    casadi: object = None
    cvxpy: object = None
    solvers: dict = field(default_factory=dict)   # key -> a built peer (CasADi nlpsol), made once per case
    setup: dict = field(default_factory=dict)     # what -> seconds


def applies(key, built, ctx) -> bool:
    p = built.problem
    if key == "lbfgsb":
        return not p.constraints and ctx.group != "hs"
    if key == "slsqp":  # its dense least-squares subproblem costs O(n^3) in C, where no time limit reaches it
        return p.n <= SLSQP_MAX_N
    if key == "ipopt":
        return ctx.casadi is not None and built.casadi is not None
    if key == "gn":  # least_squares over the box: sums of squares with bounds only
        return p.residual is not None and not p.constraints and p.bounds is not None
    if key == "cvxpy":
        return ctx.cvxpy is not None and built.cvxpy is not None and ctx.group == "convex"
    return True


class HessianPoints:
    """The problem's Objective with a count of the distinct points at which a Hessian (matrix, operator or
    Hessian-vector product) was asked for: ricci's Newton steps, however many CG products each takes (the
    solvers' ``nhev`` counts products). Everything else is forwarded unchanged."""

    def __init__(self, objective):
        self._objective = objective
        self._last = None
        self.points = 0

    def _at(self, x):
        if self._last is None or self._last.shape != np.shape(x) or not np.array_equal(self._last, x):
            self._last = np.array(x, copy=True)
            self.points += 1

    def fun(self, x):
        return self._objective.fun(x)

    def jac(self, x):
        return self._objective.jac(x)

    def fun_and_jac(self, x):
        return self._objective.fun_and_jac(x)

    def hess(self, x):
        self._at(x)
        return self._objective.hess(x)

    def hess_operator(self, x):
        self._at(x)
        return self._objective.hess_operator(x)

    def hessp(self, x, p):
        self._at(x)
        return self._objective.hessp(x, p)


def run_ricci(built, ctx, tr, method=None):
    from ricci.solvers import minimize

    p = built.problem
    objective = HessianPoints(p.objective)
    # bounds only: tron stops at the projected-gradient target; else auglag's defaults (KKT residual and
    # violation 1e-8)
    # ipm: IPOPT's test (scaled KKT error) at the tolerance IPOPT runs with below, 1e-10, whatever the case (a
    # projected-gradient target is not a bound on that error)
    tol = IPM_TOL if method == "ipm" else ctx.pg_target if math.isfinite(ctx.pg_target) else None
    res = minimize(objective, np.array(p.x0, dtype=float), method=method, bounds=problems.scipy_bounds(p),
                   constraints=problems.scipy_constraints(p), tol=tol, callback=tr.callback())
    extra = {k: res.get(k) for k in ("method", "nfev", "njev", "nhev", "cg_niter", "constr_violation", "penalty")
             if res.get(k) is not None}
    extra["newton_steps"] = objective.points
    return {"x": res.x, "nit": res.get("nit"), "status": _status(res), "extra": extra}


def run_gauss_newton(built, ctx, tr):
    """``Problem.solve("gauss-newton")``: least_squares over the box, stopped at the projected-gradient target
    (f = 1/2 ||r||^2 here, so the cost's gradient is f's)."""
    p = built.problem
    tol = ctx.pg_target if math.isfinite(ctx.pg_target) else 1e-8
    res = p.solve("gauss-newton", x0=np.array(p.x0, dtype=float), tol=tol, callback=tr.callback())
    return {"x": res.x, "nit": res.get("nit"), "status": _status(res),
            "extra": {"nfev": res.get("nfev"), "njev": res.get("njev"), "newton_steps": res.get("njev")}}


def _status(res) -> str:
    return f"{res.get('status')}: " + " ".join(str(res.get("message", "")).split())[:100]


def run_scipy(method):
    def run(built, ctx, tr):
        from scipy.optimize import minimize

        p = built.problem
        obj = p.objective
        hessian = method == "trust-constr"
        if method == "SLSQP":
            options = {"maxiter": 2000 if ctx.group == "hs" else 100000, "ftol": 1e-12}
        elif method == "trust-constr":
            options = {"maxiter": 5000 if ctx.group == "hs" else 100000, "gtol": 1e-12, "xtol": 1e-14,
                       "barrier_tol": 1e-12}
        else:  # L-BFGS-B stops on the projected gradient alone (ftol = 0), at the target
            options = {"maxiter": 1000000, "maxfun": 2000000, "ftol": 0.0, "gtol": ctx.pg_target}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(obj.fun_and_jac, np.array(p.x0, dtype=float), jac=True,
                           hess=obj.hess if hessian else None, method=method, bounds=problems.scipy_bounds(p),
                           constraints=problems.scipy_constraints(p, hessian=hessian), callback=tr.callback(),
                           options=options)
        extra = {k: res.get(k) for k in ("nfev", "njev", "nhev", "cg_niter") if res.get(k) is not None}
        return {"x": res.x, "nit": res.get("nit"), "status": _status(res), "extra": extra}

    return run


def ipopt_solver(built, ctx):
    """IPOPT through CasADi on the case's CasADi model (exact Hessian of the Lagrangian by CasADi's AD),
    built once per case (the build time is setup, not solve time)."""
    if "ipopt" not in ctx.solvers:
        ca = ctx.casadi
        start = time.perf_counter()
        x, f, g, lbg, ubg, hessian = built.casadi(ca)
        nlp = {"x": x, "f": f} if g is None else {"x": x, "f": f, "g": g}
        extra = {}
        if hessian is not None:  # the Hessian of the Lagrangian sigma H_f (every constraint linear) as hess_lag
            sigma, lam_g = ca.MX.sym("lam_f"), ca.MX.sym("lam_g", 0 if g is None else g.shape[0])
            extra["hess_lag"] = ca.Function("hess_lag", [x, ca.MX.sym("p", 0), sigma, lam_g],
                                            [ca.triu(sigma * hessian)], ["x", "p", "lam_f", "lam_g"],
                                            ["triu_hess_gamma_x_x"])
        # no bound relaxation and a tight constraint tolerance: IPOPT's answer is feasible to about 1e-10
        # (by default it relaxes bounds by 1e-8 and accepts violations of 1e-4)
        opts = {"print_time": 0, "ipopt.print_level": 0, "ipopt.sb": "yes", "ipopt.tol": 1e-10,
                "ipopt.constr_viol_tol": 1e-10, "ipopt.bound_relax_factor": 0.0,
                "ipopt.honor_original_bounds": "yes", "ipopt.max_iter": 3000, "ipopt.max_wall_time": ctx.limit,
                **extra}
        solver = ca.nlpsol("ipopt", "ipopt", nlp, opts)
        ctx.solvers["ipopt"] = (solver, lbg, ubg)
        ctx.setup["CasADi model + nlpsol"] = time.perf_counter() - start
    return ctx.solvers["ipopt"]


def run_ipopt(built, ctx, tr):
    solver, lbg, ubg = ipopt_solver(built, ctx)
    p = built.problem
    n = p.n
    lo, hi = p.bounds if p.bounds is not None else (np.full(n, -np.inf), np.full(n, np.inf))
    kw = {"x0": np.array(p.x0, dtype=float), "lbx": lo, "ubx": hi}
    if lbg:
        kw.update(lbg=np.array(lbg), ubg=np.array(ubg))
    out = solver(**kw)
    stats = solver.stats()
    return {"x": np.array(out["x"], dtype=float).reshape(-1), "nit": stats.get("iter_count"),
            "status": str(stats.get("return_status")), "extra": {}}


def run_cvxpy(built, ctx, tr):
    cp = ctx.cvxpy
    prob, to_x = built.cvxpy(cp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve()
    st = prob.solver_stats
    x = to_x() if prob.status in ("optimal", "optimal_inaccurate") else None
    return {"x": x, "nit": getattr(st, "num_iters", None), "status": f"{prob.status} ({st.solver_name})",
            "extra": {"solver": st.solver_name, "solver_time": getattr(st, "solve_time", None)}}


RUNNERS = {"ricci": run_ricci, "ipm": partial(run_ricci, method="ipm"), "gn": run_gauss_newton, "slsqp": run_scipy("SLSQP"), "trust-constr": run_scipy("trust-constr"),
           "lbfgsb": run_scipy("L-BFGS-B"), "ipopt": run_ipopt, "cvxpy": run_cvxpy}


# ----------------------------------------------------------------------------------------------------------
# Running a case
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: object
    n: int
    m: int                                     # constraint values (bounds apart)
    f_star: float | None
    f_star_source: str
    pg0: float = math.nan
    pg_target: float = math.nan
    setup: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)   # method -> list of run dicts (one per repetition)
    notes: list = field(default_factory=list)


def one_run(key, built, ctx, meter, log_label, log) -> dict:
    tr = Trace(meter, ctx.limit)
    status, out = None, {"x": None, "nit": None, "status": "", "extra": {}}
    signal.setitimer(signal.ITIMER_REAL, 1.5 * ctx.limit + 5.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            tr.t0 = time.perf_counter()
            out = RUNNERS[key](built, ctx, tr)
    except TimeLimit:
        status = "time limit (alarm)"
    except Exception as exc:  # noqa: BLE001 - a failing method is a result
        status = f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    wall = tr.elapsed()
    x = out.get("x")
    f = v = pg = math.nan
    if x is not None:
        x = np.asarray(x, dtype=float)
        if x.shape == (built.problem.n,) and np.all(np.isfinite(x)):
            f, v, pg = meter.measure(x)
    if status is None:
        status = "time limit" if tr.timed_out else (out.get("status") or "ok")
    run = {"f": f, "violation": v, "pg": pg, "nit": out.get("nit"), "wall": wall, "status": status,
           "extra": out.get("extra", {}), "whole_call": key in WHOLE_CALL,
           "trace": {"time": tr.times, "fun": tr.funs, "violation": tr.viols, "pg": tr.pgs}}
    log(f"  {log_label}: {LABELS[key]}: f {f:.12g}, viol {v:.1e}, pg {pg:.1e}, nit {run['nit']}, {wall:.3f} s, "
        f"{status}")
    return run


def run_case(case, args, peers, log) -> Outcome:
    start = time.perf_counter()
    built = case.build()
    p = built.problem
    build_s = time.perf_counter() - start
    meter = Meter(p)
    x0 = np.array(p.x0, dtype=float)
    start = time.perf_counter()
    meter.measure(x0)
    p.objective.hess(x0)
    first_s = time.perf_counter() - start
    o = Outcome(case, p.n, sum(c.m for c in p.constraints), built.f_star, built.f_star_source,
                setup={"ricci build": build_s, "ricci first f/g/H": first_s})
    if meter.bounds_only:
        o.pg0 = meter.measure(x0)[2]
        o.pg_target = RTOL * max(1.0, o.pg0)
    ctx = Context(case.group, args.time_limit, o.pg_target, casadi=peers.get("casadi"), cvxpy=peers.get("cvxpy"))
    keys = [k for k in args.methods if applies(k, built, ctx)]
    for key, why in case.skip:
        if key in keys:
            keys.remove(key)
            o.notes.append(f"{case.label}: {LABELS[key]} not run: {why}")
    if "ipopt" in keys:
        try:
            ipopt_solver(built, ctx)
        except Exception as exc:  # noqa: BLE001 - a model CasADi cannot take is a note
            o.notes.append(f"{case.label}: IPOPT not run: {type(exc).__name__}: {exc}")
            keys.remove("ipopt")
    repeat = 1 if case.group == "hs" else args.repeat
    for rep in range(repeat):
        for key in keys:
            if rep and o.runs[key][0]["status"].startswith(("time limit", "error")):
                continue  # a run that hit the limit or failed is not repeated
            o.runs.setdefault(key, []).append(one_run(key, built, ctx, meter, f"{case.label} rep {rep + 1}", log))
    o.setup.update(ctx.setup)
    if o.f_star is None:  # without a known optimum: the lowest f any method reached at a (nearly) feasible point
        for vtol in (F_STAR_VIOLATION, RTOL):
            feasible = [r["f"] for runs in o.runs.values() for r in runs
                        if math.isfinite(r["f"]) and r["violation"] <= vtol]
            if feasible:
                o.f_star, o.f_star_source = min(feasible), f"lowest f any method reached at violation <= {vtol:g}"
                break
    return o


# ----------------------------------------------------------------------------------------------------------
# Targets and summaries
# ----------------------------------------------------------------------------------------------------------


def on_target(o: Outcome, f, v, pg) -> bool:
    if o.case.group == "bounds":
        return pg <= o.pg_target
    if o.f_star is None or not (math.isfinite(f) and math.isfinite(v)):
        return False
    tol = HS_TOL if o.case.group == "hs" else RTOL
    return abs(f - o.f_star) <= tol * max(1.0, abs(o.f_star)) and v <= tol


def time_to_target(o: Outcome, run) -> float | None:
    """The first traced iterate on target, else the whole call if the answer is on target, else None."""
    tr = run["trace"]
    for t, f, v, pg in zip(tr["time"], tr["fun"], tr["violation"], tr["pg"]):
        if on_target(o, f, v, pg):
            return t
    return run["wall"] if on_target(o, run["f"], run["violation"], run["pg"]) else None


def summary(o: Outcome, key) -> dict | None:
    """Median over repetitions: time to target (only if every repetition reached it), whole call; the median
    repetition's run."""
    runs = o.runs.get(key)
    if not runs:
        return None
    ttts = [time_to_target(o, r) for r in runs]
    walls = [r["wall"] for r in runs]
    ordered = sorted(range(len(runs)), key=lambda i: walls[i])
    return {"time_to_target": statistics.median(ttts) if all(t is not None for t in ttts) else None,
            "wall": statistics.median(walls), "run": runs[ordered[len(ordered) // 2]],
            "solved": on_target(o, runs[0]["f"], runs[0]["violation"], runs[0]["pg"]), "repeats": len(runs)}


def hs_solved(outcomes) -> dict:
    """method -> sorted list of HS problems solved (final point on target)."""
    out = {}
    for o in outcomes:
        if o.case.group != "hs":
            continue
        for key in o.runs:
            if summary(o, key)["solved"]:
                out.setdefault(key, []).append(o.case.key)
    return out


def _bounds_target(o: Outcome, key: str) -> tuple:
    """The bound-constrained speed target for ricci's method ``key`` on case ``o``: (target, measured, met)."""
    s, ref = summary(o, key), summary(o, "lbfgsb")
    label = (f"{o.case.label}: ricci{'' if key == 'ricci' else ' gauss-newton'} >= 5x faster than L-BFGS-B to "
             "the projected gradient target")
    t = s and s["time_to_target"]
    tr = ref and ref["time_to_target"]
    if not s:
        return label, "ricci not run", False
    if t is None:
        return label, "ricci did not reach the target", False
    if tr is None:
        bound = ref["wall"] if ref else math.nan
        return label, f"ricci {t:.3f} s; L-BFGS-B did not reach the target in {bound:.2f} s", bound >= 5 * t
    return label, f"{tr:.3f} s / {t:.3f} s = {tr / t:.1f}x", tr >= 5 * t


def targets(outcomes) -> list:
    """(target, measured, met) rows for issue 12's targets, over the cases that ran."""
    rows = []
    hs = [o for o in outcomes if o.case.group == "hs"]
    solved = hs_solved(outcomes) if hs else {}
    peers = set(solved.get("slsqp", [])) | set(solved.get("trust-constr", []))
    for key, name in (("ricci", "ricci"), ("ipm", "ricci ipm")):
        if hs and any(key in o.runs for o in hs):
            ours = set(solved.get(key, []))
            missed = [o.case.key for o in hs if o.case.key in peers and o.case.key not in ours]
            rows.append((f"HS: {name} solves every problem SLSQP or trust-constr solves",
                         f"{name} {len(ours)}/{len(hs)}, SLSQP or trust-constr {len(peers)}/{len(hs)}; missed: "
                         + (", ".join(missed) or "none"), not missed))
    for o in outcomes:
        if o.case.group != "bounds":
            continue
        for key in ("ricci", "gn"):
            if key == "gn" and not summary(o, "gn"):
                continue
            rows.append(_bounds_target(o, key))
    for o in outcomes:
        if o.case.group != "convex":
            continue
        for key in ("ricci", "ipm"):
            if key == "ipm" and not summary(o, "ipm"):
                continue
            rows.extend(_convex_targets(o, key))
    return rows


def _convex_targets(o: Outcome, key: str) -> list:
    """The two convex-case targets (faster than CVXPY; Newton steps within 2x IPOPT's iterations) for ricci's
    method ``key`` (``ricci``: method=None; ``ipm``) on case ``o``: [(target, measured, met), ...]."""
    rows = []
    name = "ricci" if key == "ricci" else "ricci ipm"
    s, cv, ip = summary(o, key), summary(o, "cvxpy"), summary(o, "ipopt")
    label = f"{o.case.label}: {name} faster than CVXPY at equal accuracy"
    if not s or not cv:
        rows.append((label, f"{name} or CVXPY not run", False))
    else:
        cr = cv["run"]
        acc = _accuracy(o, cr)
        if s["time_to_target"] is None:
            rows.append((label, f"{name} did not reach the target", False))
        else:
            # both whole calls; CVXPY's accuracy shown (its defaults may stop short of 1e-8)
            rows.append((label, (f"{name} {s['wall']:.3f} s (whole call) vs CVXPY {cv['wall']:.3f} s "
                                 f"({cr['extra'].get('solver')}; {acc}) = {cv['wall'] / s['wall']:.1f}x"),
                         s["wall"] < cv["wall"]))
    # an IPOPT iteration is one Newton step on the KKT system with one Hessian; ricci's Newton steps are the
    # points where it asked for a Hessian (auglag's nit counts outer iterations, each of several Newton
    # steps; nhev counts Hessian-vector products)
    label = f"{o.case.label}: {name}'s Newton steps within 2x IPOPT's iterations"
    newton = s["run"]["extra"].get("newton_steps", s["run"]["nit"]) if s else None
    if not s or not ip or newton is None or ip["run"]["nit"] is None:
        rows.append((label, f"{name} or IPOPT not run (or no iteration count)", False))
    else:
        b = ip["run"]["nit"]
        on = _accuracy(o, ip["run"])
        outer = f" (outer {s['run']['nit']})" if key == "ricci" else ""
        rows.append((label, f"{newton}{outer} vs {b} (IPOPT: {on})", newton <= 2 * b))
    return rows


def _accuracy(o, run) -> str:
    if not math.isfinite(run["f"]) or o.f_star is None:
        return "no answer"
    gap = abs(run["f"] - o.f_star) / max(1.0, abs(o.f_star))
    return f"rel. gap {gap:.0e}, viol {run['violation']:.0e}" + ("" if on_target(o, run["f"], run["violation"],
                                                                              run["pg"]) else ", off target")


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


def _s(t) -> str:
    return "-" if t is None else (f"{t:.4f}" if t < 10 else f"{t:.1f}")


def hs_tables(outcomes) -> list:
    hs = [o for o in outcomes if o.case.group == "hs"]
    keys = [k for k in METHODS if any(k in o.runs for o in hs)]
    solved = hs_solved(outcomes)
    lines = ["| method | solved | median time to target over solved (ms) | median iterations over solved |",
             "|---|---:|---:|---:|"]
    for k in keys:
        got = [summary(o, k) for o in hs if k in o.runs and summary(o, k)["solved"]]
        times = [s["time_to_target"] for s in got if s["time_to_target"] is not None]
        its = [s["run"]["nit"] for s in got if s["run"]["nit"] is not None]
        lines.append(f"| {LABELS[k]} | {len(solved.get(k, []))}/{len(hs)} | "
                     f"{statistics.median(times) * 1e3 if times else math.nan:.2f} | "
                     f"{statistics.median(its) if its else math.nan:g} |")
    ricci = set(solved.get("ricci", []))
    if "ricci" in keys:
        for peer in ("slsqp", "trust-constr", "ipopt"):
            missed = [o.case.key for o in hs if o.case.key in solved.get(peer, []) and o.case.key not in ricci]
            lines.append("")
            lines.append(f"Solved by {LABELS[peer]} but not by ricci: {', '.join(missed) or 'none'}.")
        only = [o.case.key for o in hs if o.case.key in ricci
                and not any(o.case.key in solved.get(k, []) for k in keys if k != "ricci")]
        lines += ["", f"Solved by ricci only: {', '.join(only) or 'none'}."]
    lines += ["", ("Per problem: iterations, time to target in ms, ✗ = final point not within the HS target "
                   "(f, violation at the end in the JSON)."), "",
              "| problem | n | constraints | f* | " + " | ".join(LABELS[k] for k in keys) + " |",
              "|---|---:|---:|---:|" + "---|" * len(keys)]
    for o in hs:
        cells = []
        for k in keys:
            s = summary(o, k)
            if s is None:
                cells.append("-")
                continue
            r = s["run"]
            t = s["time_to_target"]
            mark = "" if s["solved"] else "✗ "
            cells.append(f"{mark}{r['nit'] if r['nit'] is not None else '-'} it"
                         + (f", {t * 1e3:.1f}" if t is not None and s["solved"] else
                            f", f {r['f']:.4g}" if math.isfinite(r["f"]) else f", {r['status'][:30]}"))
        lines.append(f"| {o.case.key} | {o.n} | {o.m} | {o.f_star:.6g} | " + " | ".join(cells) + " |")
    return lines


def data_table(outcomes, group) -> list:
    ref_key = "lbfgsb" if group == "bounds" else "cvxpy"
    ref_name = "L-BFGS-B" if group == "bounds" else "CVXPY"
    lines = [(f"| case | method | time to target [s] | {ref_name} / this | whole call [s] | iterations | f − f* "
              "| violation | ‖P(x−g)−x‖∞ | status |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for o in outcomes:
        if o.case.group != group:
            continue
        ref = summary(o, ref_key)
        for k in METHODS:
            s = summary(o, k)
            if s is None:
                continue
            r = s["run"]
            t = s["time_to_target"]
            if group == "convex" and ref:  # CVXPY is timed whole: compare whole calls
                ratio = f"{ref['wall'] / s['wall']:.2f}x"
            elif ref and ref["time_to_target"] and t:
                ratio = f"{ref['time_to_target'] / t:.2f}x"
            else:
                ratio = "-"
            gap = r["f"] - o.f_star if o.f_star is not None and math.isfinite(r["f"]) else math.nan
            rep = f" ({s['repeats']}x)" if s["repeats"] > 1 else ""
            lines.append(f"| {o.case.label} | {LABELS[k]}{' †' if k in WHOLE_CALL else ''} | {_s(t)} | {ratio} "
                         f"| {_s(s['wall'])}{rep} | {r['nit'] if r['nit'] is not None else '-'} | {gap:.1e} "
                         f"| {r['violation']:.1e} | {r['pg']:.1e} | {r['status'][:60]} |")
    lines += ["", "† no callback: time to target is the whole call when the answer is on target."]
    return lines


def plot_group(outcomes, group, path) -> None:
    """Per case: the target measure (projected gradient for bounds, |f - f*| for convex) against wall time,
    every traced method; whole-call methods as one point at their end."""
    plt = _pyplot()
    os_ = [o for o in outcomes if o.case.group == group]
    fig, axes = plt.subplots(1, len(os_), figsize=(4.2 * len(os_), 3.8), constrained_layout=True, squeeze=False)
    for ax, o in zip(axes[0], os_):
        for k in (k for k in METHODS if k in o.runs):
            r = summary(o, k)["run"]
            tr = r["trace"]
            if group == "bounds":
                ys, end = tr["pg"], r["pg"]
            else:
                ys = [abs(f - o.f_star) + v if o.f_star is not None else math.nan
                      for f, v in zip(tr["fun"], tr["violation"])]
                end = abs(r["f"] - o.f_star) + r["violation"] if o.f_star is not None else math.nan
            color = plt.cm.tab10(METHODS.index(k))   # one color per method in every panel
            ts = [max(t, 1e-5) for t in tr["time"]] + [max(r["wall"], 1e-5)]
            ys = [max(y, 1e-17) for y in list(ys) + [end]]
            ax.loglog(ts, ys, "-" if tr["time"] else "o", color=color, label=LABELS[k], linewidth=1.1)
        ax.axhline(o.pg_target if group == "bounds" else RTOL * max(1.0, abs(o.f_star or 1.0)), color="k",
                   linestyle=":", linewidth=0.8)
        ax.set_title(o.case.label, fontsize=9)
        ax.set_xlabel("wall time [s]")
        ax.set_ylabel("‖P(x−g)−x‖∞" if group == "bounds" else "|f − f*| + violation")
        ax.grid(True, which="both", alpha=0.3)
    handles = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="outside right center", fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(outcomes, env, args, paths, notes) -> str:
    v = env["versions"]
    lines = [
        f"# Constrained optimization: ricci against scipy, IPOPT and CVXPY, {datetime.date.today().isoformat()}"
        + (" (quick)" if args.quick else ""), "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs (shared: timings are noisy)",
        f"- threads: {env['threads']} ({env['thread_pools']})",
        (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
         f"scipy {v['scipy']}, casadi {v['casadi']} (IPOPT, MUMPS), cvxpy {v['cvxpy']}, clarabel {v['clarabel']}"),
        (f"- targets: HS |f − f*| <= {HS_TOL:g} max(1, |f*|) and violation <= {HS_TOL:g}; bound-constrained "
         f"‖P(x − g) − x‖∞ <= {RTOL:g} max(1, ‖P(x0 − g0) − x0‖∞); convex |f − f*| <= {RTOL:g} max(1, |f*|) and "
         f"violation <= {RTOL:g}; time limit {args.time_limit:g} s per run; median of {args.repeat} "
         "repetition(s) (HS: 1); float64"),
        f"- command: `{args.command}`", "",
        ("ricci: `ricci.solvers.minimize(problem.objective, x0, method=None, bounds=, constraints=)` with the "
         "problem's exact derivatives. scipy SLSQP (ftol 1e-12), trust-constr (exact Hessians; gtol 1e-12) and "
         "L-BFGS-B (ftol 0, gtol = the projected-gradient target) get ricci's f and gradient. IPOPT (tol 1e-10) "
         "gets the same problem written in CasADi symbols, exact Hessian by CasADi. CVXPY: `prob.solve()`, "
         "default solver. Time to target: the first iterate on target (callback time subtracted); IPOPT and "
         "CVXPY are timed whole. Setup (ricci: differentiate + compile; CasADi: model + nlpsol) is not counted; "
         "CVXPY's canonicalization is (it is part of every `solve`)."),
    ]
    rows = targets(outcomes)
    lines += ["", "## Targets (issue 12)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    if args.quick:
        lines += ["", "(--quick: small sizes; the speed targets are meant for the full sizes.)"]
    titles = {"hs": "Hock-Schittkowski problems", "bounds": "Bound-constrained problems",
              "convex": "Convex constrained problems"}
    for group in GROUPS:
        if not any(o.case.group == group for o in outcomes):
            continue
        lines += ["", f"## {titles[group]}", ""]
        if group in paths:
            lines += [f"![{group}]({paths[group].name})", ""]
        lines += hs_tables(outcomes) if group == "hs" else data_table(outcomes, group)
        if group != "hs":
            lines += [""] + [f"- {o.case.label}: n = {o.n}, constraint values {o.m}; f* = {o.f_star:.12g} "
                             f"({o.f_star_source})" + (f"; projected-gradient target {o.pg_target:.2e}"
                                                       if group == "bounds" else "")
                             for o in outcomes if o.case.group == group and o.f_star is not None]
    lines += ["", "## Setup (s, not in the times above)", "", "| case | ricci build | ricci first f/g/H | CasADi model + nlpsol |",
              "|---|---:|---:|---:|"]
    for o in outcomes:
        if o.case.group == "hs":
            continue
        s = o.setup
        lines.append(f"| {o.case.label} | {s['ricci build']:.3f} | {s['ricci first f/g/H']:.3f} | "
                     + (f"{s['CasADi model + nlpsol']:.3f}" if "CasADi model + nlpsol" in s else "-") + " |")
    allnotes = list(notes) + [n for o in outcomes for n in o.notes]
    if allnotes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in allnotes]
    return "\n".join(lines).rstrip() + "\n"


def as_json(outcomes, env, args, notes) -> dict:
    def doc(run):
        return {**run, "trace": thin_trace(run["trace"])}

    return {"date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
            "settings": {"quick": args.quick, "repeat": args.repeat, "time_limit": args.time_limit,
                         "hs_tol": HS_TOL, "rtol": RTOL},
            "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(outcomes)],
            "hs_solved": hs_solved(outcomes),
            "notes": notes + [n for o in outcomes for n in o.notes],
            "cases": [{"case": o.case.label, "key": o.case.key, "group": o.case.group, "n": o.n, "m": o.m,
                       "f_star": o.f_star, "f_star_source": o.f_star_source, "pg0": o.pg0, "pg_target": o.pg_target,
                       "setup_s": o.setup,
                       "methods": {k: {"time_to_target": summary(o, k)["time_to_target"],
                                       "wall": summary(o, k)["wall"], "solved": summary(o, k)["solved"],
                                       "runs": [doc(r) for r in runs]} for k, runs in o.runs.items()}}
                      for o in outcomes]}


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/constrained.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition, 10 s per run")
    p.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS), help="which groups of cases")
    p.add_argument("--cases", nargs="+", default=None,
                   help="only these case keys (hs<N>, " + ", ".join(k for k in CASE_KEYS if not k.startswith("hs"))
                        + ")")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="which methods")
    p.add_argument("--repeat", type=int, default=None, help="repetitions of the data cases (default 3, quick 1)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per run (default 60, quick 10)")
    p.add_argument("--threads", type=int, default=1, help="native threads (BLAS) for every library (default 1)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--suffix", default="", help="appended to the results' file names (e.g. -ipm)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the results (default %(default)s)")
    return p


def load_peers(methods, notes) -> dict:
    peers = {}
    for name, key in (("casadi", "ipopt"), ("cvxpy", "cvxpy")):
        if key not in methods:
            continue
        try:
            peers[name] = __import__(name)
        except ImportError as exc:
            notes.append(f"{LABELS[key]} skipped: {name} not installed ({exc}); pip install {name}")
    if "ricci" in methods:
        import inspect

        from ricci.solvers import minimize

        if "bounds" not in inspect.signature(minimize).parameters:
            methods.remove("ricci")
            notes.append("ricci not run: this ricci.solvers.minimize takes no bounds/constraints yet")
    return peers


def run(args, log=None) -> int:
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    args.repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    args.time_limit = args.time_limit if args.time_limit is not None else (10.0 if args.quick else 60.0)
    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be positive, got {args.time_limit}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    todo = [c for c in cases(args.quick) if c.group in args.groups and (args.cases is None or c.key in args.cases)]
    if args.cases is not None:
        unknown = sorted(set(args.cases) - set(CASE_KEYS))
        if unknown:
            raise ValueError(f"--cases: unknown {unknown}; the cases are {list(CASE_KEYS)}")
    if not todo:
        raise ValueError("no case selected (check --groups and --cases)")
    notes = []
    args.methods = list(dict.fromkeys(args.methods))
    peers = load_peers(args.methods, notes)
    _limiter, thread_note = limit_native_threads(args.threads)
    env = machine(args.threads, thread_note, DISTRIBUTIONS)
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    outcomes = []
    for case in todo:
        log(case.label)
        outcomes.append(run_case(case, args, peers, log))
    plots = [(group, partial(plot_group, outcomes, group)) for group in ("bounds", "convex")
             if any(o.case.group == group for o in outcomes)]
    return write_run(args.out, results_stem("constrained", args.quick) + args.suffix, args.no_plots, plots,
                     lambda paths: (markdown(outcomes, env, args, paths, notes), as_json(outcomes, env, args, notes)),
                     started, notes, log)


def main(argv=None) -> int:
    return script_main("constrained.py", parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
