#!/usr/bin/env python
"""L2-regularized logistic regression on an rcv1-shaped sparse set: ricci against scikit-learn and scipy
L-BFGS-B (issue 13, item 4b).

    data       rcv1-shaped synthetic CSR (full: 200,000 x 50,000, 5M nonzeros; quick: 4000 x 2000, 60k):
               :func:`rcv1_like` -- Zipf column frequencies, tf-idf values, rows of unit length, labels from a
               sparse true w plus noise (seeded)
    objective  f(w) = sum_i log(1 + exp(-y_i x_i'w)) + lam/2 ||w||^2 (no intercept), lam = 1
    methods    ricci trust-ncg (Steihaug CG on exact Hessian-vector products, Jacobi-preconditioned by the
               Hessian's diagonal) through the Objective (``minimize(obj, method="trust-ncg")``) and through the
               Hessian operator (``hess=obj.hess_operator``: products X'(s .* (X v)) of the Gram operator);
               ricci newton where the dense n x n Hessian fits (--dense-limit-gb); ricci lbfgs; scipy
               L-BFGS-B on ricci's f and gradient (ftol = 0, gtol = the target); scikit-learn
               LogisticRegression(C = 1/lam, fit_intercept=False) with liblinear, newton-cg, lbfgs and
               newton-cholesky (the last forms the n x n Hessian: run only where it fits)

    python benchmarks/sparse_logistic.py --quick      # seconds
    python benchmarks/sparse_logistic.py              # full size, a few minutes on one core

Target: ||grad f||_inf <= 1e-6 max(1, ||grad f(0)||_inf). ricci and scipy stop on it (their gtol). scikit-learn
minimizes f / m (C = 1/lam and the mean of the losses), so its lbfgs/newton-cg/newton-cholesky get
tol = gtol / m and liblinear (a relative test on the 2-norm) tol = 1e-6; the gradient of f at the answer is
then checked, and a solver that misses is refitted with tol / 10 (at most 3 times): the time reported is that
of the first fit on target. Every solver's whole call is timed (scikit-learn's input checks included); one
thread for every library (threadpoolctl). Times are medians of --repeat repetitions in interleaved rounds.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import math
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from _harness import limit_native_threads, machine
from report import script_main, write_results
from ricci import problems
from ricci.solvers import minimize

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DISTRIBUTIONS = ("ricci", "numpy", "scipy", "scikit-learn", "threadpoolctl")
RTOL = 1e-6
FULL = {"m": 200_000, "n": 50_000, "nnz": 5_000_000}
QUICK = {"m": 4000, "n": 2000, "nnz": 60_000}
PRODUCTS_EXPECTED = 30  # Hessian-vector products of a trust-ncg solve here (11-12 iterations, 2-3 CG steps each)
SKLEARN_SOLVERS = ("liblinear", "newton-cg", "lbfgs", "newton-cholesky")


# ----------------------------------------------------------------------------------------------------------
# The data
# ----------------------------------------------------------------------------------------------------------


def rcv1_like(m: int, n: int, nnz: int, seed: int = 0, zipf: float = 1.1, support: float = 0.02, noise: float = 0.5):
    """An rcv1-shaped binary classification set: (X CSR m x n, y in {-1, +1}, w_true).

    Documents are rows: row lengths log-normal (mean nnz/m), terms drawn with Zipf frequencies
    p_j ~ 1 / j^zipf (Lewis et al., "RCV1", JMLR 2004, report a heavy-tailed term distribution), values
    tf-idf, (1 + log count) log(m / df), and each row scaled to unit Euclidean length, as in rcv1's
    distributed form. Labels y = sign(X w_true - median + noise * std(X w_true) * N(0, 1)) with w_true nonzero on
    a random ``support`` share of the columns (N(0, 1) entries), so the classes are balanced and not separable.
    Duplicate (row, term) draws add up as the term count; the terms per document are scaled once so that the
    number of distinct nonzeros is about ``nnz``.
    """
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, n + 1) ** zipf
    freq = rng.permutation(freq / freq.sum())  # popular terms at random columns
    cdf = np.cumsum(freq)

    def draw(mean):
        lengths = np.maximum(1, np.round(rng.lognormal(np.log(mean) - 0.125, 0.5, m))).astype(np.int64)
        rows = np.repeat(np.arange(m, dtype=np.int64), lengths)
        cols = np.searchsorted(cdf, rng.random(rows.size) * (1 - 1e-12)).astype(np.int64)
        counts = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(m, n))  # duplicates summed
        counts.sum_duplicates()
        return counts, rows.size

    counts, draws = draw(nnz / m)
    if counts.nnz < 0.98 * nnz:  # repeated terms merged: draw again with more terms per document
        counts, _ = draw(nnz / m * draws / counts.nnz)
    df = np.bincount(counts.indices, minlength=n)
    idf = np.log((m + 1) / (df + 1)) + 1.0
    X = counts.copy()
    X.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-300)) @ X)
    w_true = np.zeros(n)
    on = rng.choice(n, max(1, int(support * n)), replace=False)
    w_true[on] = rng.standard_normal(on.size)
    z = X @ w_true
    y = np.where(z - np.median(z) + noise * z.std() * rng.standard_normal(m) > 0, 1.0, -1.0)
    return X, y, w_true


def hand_objective(X, y, lam, w) -> float:
    """f(w) in plain NumPy/scipy (log(1 + exp(t)) = logaddexp(0, t)): the oracle the peers' answers are scored by."""
    return float(np.logaddexp(0.0, -y * (X @ w)).sum() + lam / 2 * (w @ w))


# ----------------------------------------------------------------------------------------------------------
# The methods: each returns (x, counts); the caller times the call
# ----------------------------------------------------------------------------------------------------------


def time_limit(ctx):
    """A callback that stops a solve (StopIteration) once it has run ``ctx["limit"]`` seconds."""
    start = time.perf_counter()

    def callback(*_):
        if time.perf_counter() - start > ctx["limit"]:
            raise StopIteration

    return callback


def ricci_method(method, through):
    def run(ctx):
        obj, x0, gtol = ctx["obj"], ctx["x0"], ctx["gtol"]
        opts = {"gtol": gtol, "maxiter": 100_000}
        stop = time_limit(ctx)
        if through == "objective":
            res = minimize(obj, x0, method=method, options=opts, callback=stop)
        else:  # the Hessian operator: products with the Gram operator X'diag(s)X + lam I
            res = minimize(obj.fun_and_jac, x0, jac=True, hess=obj.hess_operator, method=method, options=opts,
                           callback=stop)
        return res.x, {"nit": res.nit, "nfev": res.nfev, "njev": getattr(res, "njev", None),
                       "nhev": getattr(res, "nhev", None), "message": str(res.message)}
    return run


def scipy_lbfgsb(ctx):
    res = scipy.optimize.minimize(ctx["obj"].fun_and_jac, ctx["x0"], jac=True, method="L-BFGS-B",
                                  options={"gtol": ctx["gtol"], "ftol": 0.0, "maxiter": 100_000, "maxfun": 200_000},
                                  callback=time_limit(ctx))
    return res.x, {"nit": res.nit, "nfev": res.nfev, "njev": res.njev, "nhev": None, "message": str(res.message)}


def sklearn_method(solver):
    def run(ctx, tol):
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0 / ctx["lam"], solver=solver, fit_intercept=False, tol=tol, max_iter=100_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: judged by our gradient test instead
            clf.fit(ctx["X"], ctx["y"])
        return clf.coef_.ravel().copy(), {"nit": int(np.max(clf.n_iter_)), "nfev": None, "njev": None, "nhev": None,
                                          "message": f"tol {tol:.1e}"}
    return run


def sklearn_tol(solver, gtol, m):
    """The first tol tried: the target on scikit-learn's scale (its objective is f / m), or 1e-6 for liblinear's
    relative test."""
    return RTOL if solver == "liblinear" else gtol / m


def methods(n, dense_limit_gb):
    """(key, label, runner, is_sklearn, skip-reason or None)."""
    dense = n * n * 8 / 1e9
    too_big = (f"skipped: the dense {n} x {n} Hessian is {dense:.1f} GB, over --dense-limit-gb {dense_limit_gb:g}"
               if dense > dense_limit_gb else None)
    out = [("ricci-trust-ncg", "ricci trust-ncg (Objective)", ricci_method("trust-ncg", "objective"), False, None),
           ("ricci-trust-ncg-op", "ricci trust-ncg (Hessian operator)", ricci_method("trust-ncg", "operator"), False,
            None),
           ("ricci-newton", "ricci newton (dense Hessian)", ricci_method("newton", "operator"), False, too_big),
           ("ricci-lbfgs", "ricci lbfgs", ricci_method("lbfgs", "objective"), False, None),
           ("scipy-lbfgsb", "scipy L-BFGS-B", scipy_lbfgsb, False, None)]
    for s in SKLEARN_SOLVERS:
        out.append((f"sklearn-{s}", f"scikit-learn {s}", sklearn_method(s), True,
                    too_big if s == "newton-cholesky" else None))
    return out


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def product_times(obj, n, repeat=3):
    """Seconds per Hessian-vector product at one point (median of ``repeat``, f, g and the operator already
    computed there): the Objective's compiled ``hessp`` and the Hessian operator's ``matvec``."""
    rng = np.random.default_rng(1)
    x, v = 0.01 * rng.standard_normal(n), rng.standard_normal(n)
    op = obj.hess_operator(x)
    obj.hessp(x, v)
    out = {}
    for key, fn in (("Objective.hessp", lambda: obj.hessp(x, v)), ("hess_operator(x).matvec", lambda: op.matvec(v))):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            if times[-1] > 2.0:
                break  # slow enough to measure once
        out[key] = statistics.median(times)
    return out


def run_benchmark(args, log):
    sizes = dict(QUICK if args.quick else FULL)
    for k in ("m", "n", "nnz"):
        if getattr(args, k) is not None:
            sizes[k] = getattr(args, k)
    m, n = sizes["m"], sizes["n"]
    start = time.perf_counter()
    X, y, _ = rcv1_like(m, n, sizes["nnz"], seed=args.seed)
    gen = time.perf_counter() - start
    log(f"data: {m} x {n} CSR, {X.nnz} nonzeros ({gen:.1f} s)")
    start = time.perf_counter()
    problem = problems.logistic_regression(X, y, lam=args.lam, intercept=False)
    build = time.perf_counter() - start
    obj = problem.objective
    x0 = np.zeros(n)
    g0 = float(np.abs(obj.jac(x0)).max())
    gtol = RTOL * max(1.0, g0)
    ctx = {"obj": obj, "x0": x0, "gtol": gtol, "X": X, "y": y, "lam": args.lam, "limit": args.time_limit}
    table = methods(n, args.dense_limit_gb)
    if args.methods:
        table = [t for t in table if t[0] in args.methods]
    products = product_times(obj, n)
    log("one Hessian-vector product: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in products.items()))
    slow = products["Objective.hessp"] * PRODUCTS_EXPECTED
    if slow > args.time_limit:  # measured, not guessed: that many products cannot fit in the time limit
        table = [(k, lab, fn, sk, skip or (f"skipped: one Objective.hessp takes {products['Objective.hessp']:.1f} s, "
                                           f"and about {PRODUCTS_EXPECTED} products ({slow:.0f} s) exceed "
                                           f"--time-limit {args.time_limit:g} s")
                  if k == "ricci-trust-ncg" else skip) for k, lab, fn, sk, skip in table]
    runs = {key: [] for key, *_ in table}
    if any(t[3] and not t[4] for t in table):
        importlib.import_module("sklearn.linear_model")  # imported before the timed fits
    tols = {key: sklearn_tol(key.removeprefix("sklearn-"), gtol, m) for key, _, _, sk, _ in table if sk}
    for rep in range(args.repeat):
        for key, label, runner, is_sklearn, skip in table:
            if skip or (runs[key] and runs[key][0]["wall"] > args.slow_s):
                continue  # skipped, or too slow to repeat: its one run stands
            for attempt in range(4 if is_sklearn else 1):
                obj.fun(x0 + 1.0)  # no cached value at x0: every run pays for its first evaluation
                t0 = time.perf_counter()
                try:
                    x, counts = runner(ctx, tols[key]) if is_sklearn else runner(ctx)
                    error = None
                except MemoryError as exc:
                    x, counts, error = None, {}, f"MemoryError: {exc}"
                wall = time.perf_counter() - t0
                f, g = (obj.fun_and_jac(x) if x is not None else (math.nan, np.full(1, math.nan)))
                gnorm = float(np.abs(g).max())
                run = {"wall": wall, "f": float(f), "grad": gnorm, "on_target": bool(gnorm <= gtol), "error": error,
                       **counts}
                if x is not None:
                    run["x"] = x
                if is_sklearn and not run["on_target"] and error is None and attempt < 3 and rep == 0:
                    log(f"  {label}: |g| {gnorm:.2e} > {gtol:.2e} at tol {tols[key]:.1e}: tol / 10")
                    tols[key] /= 10
                    continue
                break
            runs[key].append(run)
            log(f"  rep {rep + 1}: {label}: {wall:.3f} s, |g|_inf {gnorm:.2e} ({'on' if run['on_target'] else 'OFF'}"
                f" target), f {float(f):.10e}")
    return {"products": products, "sizes": {**sizes, "nnz_actual": int(X.nnz)}, "generate_s": gen, "build_s": build, "g0": g0,
            "gtol": gtol, "table": table, "runs": runs, "tols": tols, "X": X, "y": y}


def summarize(out, lam):
    """Per method: median wall time over the repetitions (None if any missed the target), the last run's f, |g|,
    the agreement with ricci's answer and the hand-written objective at the answer."""
    X, y = out["X"], out["y"]
    ref = next((r[-1]["x"] for k, r in out["runs"].items() if r and r[-1].get("x") is not None
                and r[-1]["on_target"] and k.startswith("ricci")), None)
    rows = {}
    for key, label, _, is_sklearn, skip in out["table"]:
        rs_ = out["runs"][key]
        if skip or not rs_:
            rows[key] = {"label": label, "skip": skip or "not run"}
            continue
        last = rs_[-1]
        x = last.get("x")
        ok = all(r["on_target"] for r in rs_)
        rows[key] = {"label": label, "time": statistics.median(r["wall"] for r in rs_) if ok else None,
                     "walls": [r["wall"] for r in rs_], "f": last["f"], "grad": last["grad"], "nit": last.get("nit"),
                     "nfev": last.get("nfev"), "nhev": last.get("nhev"), "on_target": ok, "error": last["error"],
                     "tol": out["tols"].get(key),
                     "f_hand": hand_objective(X, y, lam, x) if x is not None else None,
                     "dx": (float(np.abs(x - ref).max() / max(1e-300, np.abs(ref).max()))
                            if x is not None and ref is not None else None)}
    return rows


def targets(rows):
    """The issue's sparse targets: ricci <= 0.5 x scipy L-BFGS-B and <= 1 x the fastest scikit-learn solver."""
    lb = rows.get("scipy-lbfgsb", {}).get("time")
    sk = {k: r["time"] for k, r in rows.items() if k.startswith("sklearn") and r.get("time")}
    fastest = min(sk, key=sk.get) if sk else None
    out = []
    for key in ("ricci-trust-ncg", "ricci-trust-ncg-op"):
        t = rows.get(key, {}).get("time")
        if t is None:
            continue
        lab = rows[key]["label"]
        if lb:
            out.append((f"{lab} <= 0.5 x scipy L-BFGS-B", f"{t:.3f} s / {lb:.3f} s = {t / lb:.2f}x", t <= 0.5 * lb))
        if fastest:
            out.append((f"{lab} <= 1 x the fastest scikit-learn ({rows[fastest]['label']})",
                        f"{t:.3f} s / {sk[fastest]:.3f} s = {t / sk[fastest]:.2f}x", t <= sk[fastest]))
    return out


def _fmt(value, spec) -> str:
    return "-" if value is None else format(value, spec)


def markdown(out, rows, env, args, load) -> str:
    s = out["sizes"]
    v = env["versions"]
    today = datetime.date.today().isoformat()
    lines = [f"# Sparse logistic regression, rcv1-shaped, {today}" + (" (quick)" if args.quick else ""), "",
             (f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs; load (uptime) at start: "
             f"`{load[0]}`, at end: `{load[1]}`"),
             f"- threads: {env['threads']} per library ({env['thread_pools']})",
             (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
             f"scipy {v['scipy']}, scikit-learn {v['scikit-learn']}"),
             (f"- data: rcv1_like(m={s['m']}, n={s['n']}, nnz~{s['nnz']}, seed={args.seed}): {s['nnz_actual']} "
             f"nonzeros, CSR, generated in {out['generate_s']:.1f} s; lam = {args.lam:g}, no intercept; ricci build "
             f"(differentiate + compile) {out['build_s']:.3f} s, not in the times"),
             (f"- target: ‖grad f‖∞ <= {RTOL:g} max(1, ‖grad f(0)‖∞) = {out['gtol']:.3e} (‖grad f(0)‖∞ = "
             f"{out['g0']:.3e}); whole-call wall time, median of {args.repeat} repetition(s) in interleaved rounds (a method whose "
             f"first run took over {args.slow_s:g} s: that one run)"),
             f"- command: `{args.command}`", ""]
    rows_t = targets(rows)
    if rows_t:
        lines += ["## Targets (issue 13)", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {mv} | {'yes' if ok else '**no**'} |" for t, mv, ok in rows_t]
        if args.quick:
            lines += ["", "(quick sizes: the targets are stated for 200k x 50k; shown for information)"]
        lines.append("")
    lines += ["## Results", "",
              ("| method | time to target | vs ricci trust-ncg (operator) | iterations | f evals | H evals/products "
              "| final ‖g‖∞ | f | f (hand NumPy) | max|x − x_ricci| / max|x_ricci| | note |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    base = rows.get("ricci-trust-ncg-op", {}).get("time")
    for r in rows.values():
        if "skip" in r:
            lines.append(f"| {r['label']} | - | - | - | - | - | - | - | - | - | {r['skip']} |")
            continue
        t = r["time"]
        note = r["error"] or ("" if r["on_target"] else "**target missed** (time shown: whole call "
                              f"{statistics.median(r['walls']):.3f} s)")
        if r.get("tol") is not None:
            note = (note + "; " if note else "") + f"tol = {r['tol']:.1e}"
        cell = lambda v: "-" if v is None else str(v)
        lines.append(f"| {r['label']} | {'-' if t is None else f'{t:.3f} s'} | "
                     f"{_fmt(t / base if t and base else None, '.2f')}{'x' if t and base else ''} | {cell(r['nit'])} | {cell(r['nfev'])} | "
                     f"{cell(r['nhev'])} | {r['grad']:.2e} | {r['f']:.10e} | "
                     f"{_fmt(r['f_hand'], '.10e')} | {_fmt(r['dx'], '.1e')} | {note} |")
    lines += ["", ("`f` is ricci's objective at each answer and `f (hand NumPy)` the same sum of log(1 + exp(-y x'w)) "
              "+ lam/2 w'w written with numpy.logaddexp: they agree, and every answer on target has ‖grad f‖∞ below "
              "the target of *this* f, so scikit-learn (C = 1/lam, loss scaled by 1/m) solved the same problem."),
              ("`ricci trust-ncg (Objective)` is `minimize(obj, method=\"trust-ncg\")`: the solver evaluates the "
              "Objective's Hessian operator at each point (for the Jacobi diagonal) and takes the Hessian-vector "
              "products from it (its H evals/products count both); `(Hessian operator)` passes "
              "`hess=obj.hess_operator`, whose products are the Gram operator's X'(s .* (X v)) with scipy.sparse "
              "(same iterates, same answer)."), "",
              "One Hessian-vector product at a point whose f, g and operator are already computed (median of 3): "
              + ", ".join(f"`{k}` {v * 1e3:.1f} ms" for k, v in out["products"].items()) + ".",
              f"ricci and scipy runs are stopped by a callback after --time-limit {args.time_limit:g} s."]
    return "\n".join(lines).rstrip() + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (4000 x 2000, 60k nonzeros), seconds")
    p.add_argument("--m", type=int, help="rows (default 200000, quick 4000)")
    p.add_argument("--n", type=int, help="columns (default 50000, quick 2000)")
    p.add_argument("--nnz", type=int, help="nonzeros, about (default 5M, quick 60k)")
    p.add_argument("--lam", type=float, default=1.0, help="L2 weight lam (scikit-learn C = 1/lam); default 1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, help="repetitions (default 3, quick 1)")
    p.add_argument("--threads", type=int, default=1, help="native threads per library (default 1)")
    p.add_argument("--dense-limit-gb", type=float, default=2.0,
                   help="run the methods that form the dense n x n Hessian only below this size (default 2 GB)")
    p.add_argument("--time-limit", type=float, help="seconds per ricci/scipy run before a callback stops it "
                   "(default 300, quick 30)")
    p.add_argument("--slow-s", type=float, default=60.0,
                   help="a method whose first run takes longer is not repeated (default 60 s)")
    p.add_argument("--methods", nargs="+", help="method keys to run (default: all)")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    return p


def run(args, log=None) -> int:
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.time_limit is None:
        args.time_limit = 30.0 if args.quick else 300.0
    if args.repeat < 1 or args.threads < 1:
        raise ValueError(f"--repeat and --threads must be >= 1, got {args.repeat} and {args.threads}")
    _limiter, thread_note = limit_native_threads(args.threads)
    env = machine(args.threads, thread_note, DISTRIBUTIONS)
    load = [uptime()]
    out = run_benchmark(args, log)
    load.append(uptime())
    rows = summarize(out, args.lam)
    text = markdown(out, rows, env, args, load)
    doc = {"date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
           "uptime": load, "sizes": out["sizes"], "lam": args.lam, "seed": args.seed, "rtol": RTOL,
           "gtol": out["gtol"], "grad0": out["g0"], "hessian_vector_product_s": out["products"], "generate_s": out["generate_s"], "build_s": out["build_s"],
           "targets": [{"target": t, "measured": mv, "met": ok} for t, mv, ok in targets(rows)],
           "methods": rows, "runs": {k: [{kk: vv for kk, vv in r.items() if kk != "x"} for r in v]
                                     for k, v in out["runs"].items()}}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"sparse_logistic-{datetime.date.today().isoformat()}" + ("-quick" if args.quick else "")
    write_results(args.out_dir, stem, text, doc, {}, log)
    return 0


def main(argv=None) -> int:
    return script_main("sparse_logistic.py", parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
