#!/usr/bin/env python
"""Logistic regression on Dask data larger than the memory the solve may use: ricci's Newton against dask-ml
(dask-glm) Newton, L-BFGS and ADMM, agreement with an in-memory NumPy solve, and weak scaling on a
``distributed.LocalCluster`` (issue 13, items 4a and 4c).

    data       24,000,000 x 25 float64 (4.8 GB; quick: 400,000 x 25) plus the 0/1 label column, generated block
               by block with a seeded generator (:func:`block`) and written once to a .npy file (--data-dir,
               default /tmp/ricci-bench; reused when present), then read lazily:
               ``problems.load(path, label=-1, chunks=C)`` memory-maps it in Dask blocks of C rows
    objective  f(w, b) = sum_i log(1 + exp(-y_i (x_i'w + b))), lam = 0 (see "Why lam = 0" below)
    solvers    ricci ``minimize(problem.objective, x0, method="newton")`` on the Dask data (x on the driver);
               dask-ml ``LogisticRegression(solver=..., C=inf, fit_intercept=True,
               solver_kwargs={"normalize": False})`` with newton (tol 1e-8 on the coefficient change),
               lbfgs (pgtol = our gradient target) and admm (abstol = reltol = 1e-10, --admm-iters iterations)
    memory     every solver runs in its own process (threaded Dask scheduler, one BLAS thread per task); the
               report gives its peak resident memory (VmHWM), including the memory-mapped pages it touched
    passes     one pass = ``(X.T @ X).compute()`` on the same Dask array in the same process (timed after one
               warm-up pass that brings the file into the page cache); ricci's Newton iteration time / pass
               time and Dask computations per iteration are reported
    agreement  ricci Newton on the first --agree-rows rows (1M) as a Dask array and as a NumPy array, both to
               ||g||_inf <= 1e-10 max(1, ||g(0)||_inf): max |x_dask - x_numpy| / max |x_numpy| <= 1e-8
    scaling    ricci Newton on a LocalCluster with 1, 2, 4 worker processes (threads_per_worker=1), 2M rows per
               worker generated and persisted on the workers: time per Newton iteration

    python benchmarks/dask_scale.py --quick        # 400k rows, about a minute
    python benchmarks/dask_scale.py                # 24M rows: writes 5 GB to --data-dir, 15-30 minutes

Target: ||grad f||_inf <= 1e-8 max(1, ||grad f(0)||_inf) of ricci's f; every peer's answer is scored by it (one
untimed computation). Why lam = 0: dask-glm's newton ignores the penalty (dask-ml drops ``lamduh`` for it), so
the one objective all four solve is the unpenalized likelihood; with C = inf dask-glm's lbfgs and admm add
lamduh = 1/C = 0 times their L2 term (sum beta^2 / 2, the intercept included). dask-glm's ``normalize`` is
switched off (it would cost the peers a pass for the column means and deviations; the unpenalized optimum does
not depend on it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _harness import limit_native_threads, machine
from report import script_main, write_results

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DISTRIBUTIONS = ("ricci", "numpy", "scipy", "dask", "distributed", "dask-ml", "dask-glm", "threadpoolctl")
N_FEATURES = 25
RTOL = 1e-8
AGREE_RTOL = 1e-10
FULL = {"rows": 24_000_000, "chunk": 500_000, "gen_rows": 1_000_000, "agree_rows": 1_000_000,
        "scale_rows": 2_000_000, "peer_limit": 900.0, "admm_iters": 1}
QUICK = {"rows": 400_000, "chunk": 50_000, "gen_rows": 100_000, "agree_rows": 100_000, "scale_rows": 100_000,
         "peer_limit": 120.0, "admm_iters": 2}
PEERS = ("dask-ml-newton", "dask-ml-lbfgs", "dask-ml-admm")
LABELS = {"ricci-newton": "ricci newton", "dask-ml-newton": "dask-ml newton", "dask-ml-lbfgs": "dask-ml lbfgs",
          "dask-ml-admm": "dask-ml admm"}


# ----------------------------------------------------------------------------------------------------------
# The data: seeded blocks, the same whether written to the file or made in memory
# ----------------------------------------------------------------------------------------------------------


def model(seed: int, n: int = N_FEATURES):
    """The column scales and the true (w, b) of the generator (seeded)."""
    rng = np.random.default_rng([seed, 2**31])
    scales = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    w = rng.standard_normal(n) / np.sqrt(n) * 1.5 / scales
    return scales, w, 0.25


def block(seed: int, index: int, rows: int, n: int = N_FEATURES) -> np.ndarray:
    """Block ``index`` of the table [X y]: rows of N(0, diag(scales^2)) features and labels y ~
    Bernoulli(sigmoid(x'w + b)) in {0, 1}; generated from the seed (seed, index), so any block can be remade
    alone."""
    scales, w, b = model(seed, n)
    rng = np.random.default_rng([seed, index])
    out = np.empty((rows, n + 1))
    out[:, :n] = rng.standard_normal((rows, n)) * scales
    p = 0.5 * (1 + np.tanh(0.5 * (out[:, :n] @ w + b)))
    out[:, n] = rng.random(rows) < p
    return out


def table_rows(seed: int, rows: int, gen_rows: int, n: int = N_FEATURES) -> np.ndarray:
    """The first ``rows`` rows of the table, in memory."""
    blocks = [block(seed, i, gen_rows, n) for i in range(math.ceil(rows / gen_rows))]
    return np.concatenate(blocks)[:rows]


def ensure_data(data_dir: Path, rows: int, gen_rows: int, seed: int, log) -> tuple:
    """The .npy file of the table (rows x 26), written block by block through a memory map unless a file of that
    name and shape exists; returns (path, seconds spent writing, reused?)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"dask_scale-{rows}x{N_FEATURES}-seed{seed}-gen{gen_rows}.npy"
    if path.exists():
        try:
            shape = np.load(path, mmap_mode="r").shape
        except (OSError, ValueError):
            shape = None
        if shape == (rows, N_FEATURES + 1):
            log(f"data: reusing {path}")
            return path, 0.0, True
    start = time.perf_counter()
    part = path.with_suffix(".part.npy")
    out = np.lib.format.open_memmap(part, mode="w+", dtype=np.float64, shape=(rows, N_FEATURES + 1))
    for i in range(math.ceil(rows / gen_rows)):
        lo = i * gen_rows
        out[lo:lo + gen_rows] = block(seed, i, gen_rows)[:rows - lo]
    out.flush()
    del out
    part.rename(path)
    spent = time.perf_counter() - start
    log(f"data: wrote {path} ({rows * (N_FEATURES + 1) * 8 / 1e9:.1f} GB) in {spent:.1f} s")
    return path, spent, False


# ----------------------------------------------------------------------------------------------------------
# Child processes: one solver, the agreement check, one cluster size
# ----------------------------------------------------------------------------------------------------------


def peak_rss_gb() -> float:
    """The process's peak resident set size (VmHWM, Linux), else getrusage's maxrss, in GB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


class computes:
    """Counts Dask computations on the local schedulers (a dask callback): ``with computes() as c: ...; c.n``."""

    def __enter__(self):
        from dask.callbacks import Callback

        outer = self

        class _Count(Callback):
            def _start(self, dsk):
                outer.n += 1

        self.n = 0
        self._cb = _Count()
        self._cb.__enter__()
        return self

    def __exit__(self, *exc):
        self._cb.__exit__(*exc)


def pass_time(X, repeat: int = 2) -> list:
    """Wall times of ``(X.T @ X).compute()``, ``repeat`` times (the first also warms the page cache)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        (X.T @ X).compute()
        times.append(time.perf_counter() - start)
    return times


def newton(obj, x0, gtol):
    """ricci's Newton on ``obj`` to ||g||_inf <= gtol: (result, wall seconds)."""
    from ricci.solvers import minimize

    start = time.perf_counter()
    res = minimize(obj, x0, method="newton", options={"gtol": gtol, "maxiter": 200})
    return res, time.perf_counter() - start


def score(obj, x) -> dict:
    f, g = obj.fun_and_jac(np.asarray(x, dtype=np.float64))
    return {"f": float(f), "grad": float(np.abs(g).max())}


def child_solve(args) -> dict:
    """One solver on the file's data, in this process: pass times, the solve, its answer scored by ricci's f."""
    import dask
    from ricci import problems

    ds = problems.load(str(args.data), label=-1, chunks=args.chunk)
    X, y01 = ds.X, ds.y
    problem = problems.logistic_regression(X, y01, lam=0.0)
    obj = problem.objective
    x0 = np.zeros(obj.size)
    passes = pass_time(X)
    out = {"solver": args.child, "passes_s": passes, "blocks": len(X.chunks[0]), "chunk": args.chunk}
    gtol = args.gtol
    if gtol is None:
        g0 = float(np.abs(obj.jac(x0)).max())
        gtol = RTOL * max(1.0, g0)
        out["grad0"] = g0
    out["gtol"] = gtol
    if args.child == "ricci-newton":
        with computes() as count:
            res, wall = newton(obj, x0, gtol)
        x = res.x
        out.update(wall=wall, nit=int(res.nit), nfev=int(res.nfev), nhev=int(getattr(res, "nhev", -1)),
                   computes=count.n, message=str(res.message))
    else:
        from dask_ml.linear_model import LogisticRegression

        solver = args.child.removeprefix("dask-ml-")
        kw = {"newton": {"tol": 1e-8, "max_iter": 200},
              "lbfgs": {"tol": gtol, "max_iter": 10_000},
              "admm": {"max_iter": args.admm_iters}}[solver]
        skw = {"normalize": False, **({"abstol": 1e-10, "reltol": 1e-10} if solver == "admm" else {})}
        clf = LogisticRegression(solver=solver, C=math.inf, fit_intercept=True, solver_kwargs=skw, **kw)
        with computes() as count, dask.config.set({"optimization.fuse.ave-width": 0}):
            start = time.perf_counter()
            clf.fit(X, y01)
            wall = time.perf_counter() - start
        x = np.append(np.asarray(clf.coef_, dtype=np.float64).ravel(), float(clf.intercept_))
        out.update(wall=wall, nit=None, computes=count.n, settings={**kw, "solver_kwargs": skw})
    out.update(score(obj, x))
    out["on_target"] = out["grad"] <= gtol
    out["x"] = x.tolist()
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def child_agree(args) -> dict:
    """ricci Newton on the first ``agree_rows`` rows as Dask (blocks of ``chunk`` rows) and as NumPy arrays."""
    import dask.array as da
    from ricci import problems

    table = table_rows(args.seed, args.agree_rows, args.gen_rows)
    X, y = table[:, :N_FEATURES], table[:, N_FEATURES]
    dense = problems.logistic_regression(X, y, lam=0.0).objective
    x0 = np.zeros(dense.size)
    gtol = AGREE_RTOL * max(1.0, float(np.abs(dense.jac(x0)).max()))
    ref, t_np = newton(dense, x0, gtol)
    chunk = min(args.chunk, args.agree_rows)
    lazy = problems.logistic_regression(da.from_array(X, chunks=(chunk, -1)), da.from_array(y, chunks=chunk),
                                        lam=0.0).objective
    got, t_da = newton(lazy, x0, gtol)
    return {"rows": args.agree_rows, "chunk": chunk, "gtol": gtol, "numpy_s": t_np, "dask_s": t_da,
            "numpy_nit": int(ref.nit), "dask_nit": int(got.nit),
            "grad_numpy": score(dense, ref.x)["grad"], "grad_dask": score(dense, got.x)["grad"],
            "rel_diff": float(np.abs(got.x - ref.x).max() / np.abs(ref.x).max())}


def child_scale(args) -> dict:
    """ricci Newton on a LocalCluster of ``workers`` processes with ``scale_rows`` rows per worker, generated
    and persisted on the workers (blocks of ``chunk`` rows)."""
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait
    from ricci import problems

    workers = args.workers
    chunk = min(args.chunk, args.scale_rows)
    nblocks = workers * math.ceil(args.scale_rows / chunk)
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster, Client(cluster) as client:
        started = time.perf_counter() - start
        parts = [da.from_delayed(dask.delayed(block)(args.seed, 10_000 + i, chunk), shape=(chunk, N_FEATURES + 1),
                                 dtype=np.float64) for i in range(nblocks)]
        table = da.concatenate(parts)
        X, y = client.persist([table[:, :N_FEATURES], table[:, N_FEATURES]])
        wait([X, y])
        problem = problems.logistic_regression(X, y, lam=0.0)
        obj = problem.objective
        x0 = np.zeros(obj.size)
        passes = pass_time(X)
        gtol = RTOL * max(1.0, float(np.abs(obj.jac(x0)).max()))
        obj.fun(x0 + 1.0)
        res, wall = newton(obj, x0, gtol)
        grad = score(obj, res.x)["grad"]
    return {"workers": workers, "rows": nblocks * chunk, "rows_per_worker": nblocks * chunk // workers,
            "chunk": chunk, "cluster_start_s": started, "passes_s": passes, "wall": wall, "nit": int(res.nit),
            "per_iteration_s": wall / max(1, int(res.nit)), "grad": grad, "gtol": gtol, "on_target": grad <= gtol}


def child_main(args) -> int:
    _limiter, _ = limit_native_threads(1)  # Dask runs blocks in parallel; BLAS inside a block on one thread
    import dask

    if args.child != "scale":
        dask.config.set(scheduler="threads", num_workers=args.dask_threads)
    run = {"agree": child_agree, "scale": child_scale}.get(args.child, child_solve)
    print("RESULT " + json.dumps(run(args)), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------------------
# The parent: data, children, report
# ----------------------------------------------------------------------------------------------------------


def spawn(args, extra: list, limit: float, log) -> dict:
    """Run this script as a child with ``--child ...``; its RESULT line as a dict, or an error record."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *extra, "--seed", str(args.seed),
           "--chunk", str(args.chunk), "--gen-rows", str(args.gen_rows), "--dask-threads", str(args.dask_threads)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"time limit: no answer within {limit:g} s", "wall": time.perf_counter() - start}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    log(f"  child {' '.join(extra)} failed (exit {proc.returncode}): {tail}")
    return {"error": f"exit {proc.returncode}: {tail[-300:]}", "wall": time.perf_counter() - start}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def targets(doc) -> list:
    rows = []
    agree = doc.get("agreement") or {}
    if "rel_diff" in agree:
        rows.append(("Dask solution = in-memory NumPy solution to 1e-8",
                     f"max|x_dask - x_numpy| / max|x_numpy| = {agree['rel_diff']:.1e} ({agree['rows']} rows)",
                     agree["rel_diff"] <= 1e-8))
    r = doc["solvers"].get("ricci-newton", {})
    if r.get("nit"):
        pass_s = min(r["passes_s"][1:] or r["passes_s"])
        per = r["wall"] / r["nit"]
        rows.append(("each Newton iteration costs <= 2 passes over the data",
                     (f"{per:.2f} s per iteration / {pass_s:.2f} s per X'X pass = {per / pass_s:.2f} passes; "
                     f"{r['computes'] / r['nit']:.2f} Dask computations per iteration"), per / pass_s <= 2.0))
    if r.get("peak_rss_gb") is not None:
        gb = doc["sizes"]["rows"] * N_FEATURES * 8 / 1e9
        rows.append((f"driver peak memory < 3 GB with {gb:.1f} GB of data", f"{r['peak_rss_gb']:.2f} GB (VmHWM)",
                     r["peak_rss_gb"] < 3.0))
    if r.get("on_target"):
        for key in PEERS:
            p = doc["solvers"].get(key)
            if not p:
                continue
            if p.get("on_target"):
                unit = (f" ({r['wall'] / min(r['passes_s'][1:] or r['passes_s']):.1f} vs "
                        f"{p['wall'] / min(p['passes_s'][1:] or p['passes_s']):.1f} X'X passes, each timed in its own "
                        "process: the machine's load differs between the processes)")
                measured, ok = f"{r['wall']:.1f} s vs {p['wall']:.1f} s" + unit, r["wall"] < p["wall"]
            else:
                why = p.get("error") or f"missed the target (‖g‖∞ {p.get('grad', math.nan):.1e}) in {p['wall']:.1f} s"
                measured, ok = f"{r['wall']:.1f} s vs {LABELS[key]} {why}", True
            rows.append((f"ricci newton faster to the target than {LABELS[key]}", measured, ok))
    return rows


def markdown(doc, args) -> str:
    env, s = doc["environment"], doc["sizes"]
    v = env["versions"]
    gb = s["rows"] * N_FEATURES * 8 / 1e9
    written = "reused" if doc["data"]["reused"] else f"written in {doc['data']['write_s']:.0f} s"
    lines = [f"# Dask logistic regression at scale, {doc['date']}" + (" (quick)" if args.quick else ""), "",
             (f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs, "
             f"{doc['memory_gb']:.0f} GB memory; load (uptime) at start: `{doc['uptime'][0]}`, at end: "
             f"`{doc['uptime'][-1]}`"),
             (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
             f"dask {v['dask']}, distributed {v['distributed']}, dask-ml {v['dask-ml']}, dask-glm {v['dask-glm']}"),
             (f"- data: {s['rows']:,} x {N_FEATURES} float64 ({gb:.1f} GB) + labels in `{doc['data']['path']}` "
             f"({written}); Dask "
             f"blocks of {args.chunk:,} rows (memory-mapped); threaded scheduler with {args.dask_threads} "
             "threads, one BLAS thread each; each solver in its own process"),
             (f"- objective: unpenalized logistic likelihood with intercept (lam = 0, dask-ml C = inf); target "
             f"‖grad f‖∞ <= {RTOL:g} max(1, ‖grad f(0)‖∞) = {doc.get('gtol') or math.nan:.3e}; times are whole "
             "solver calls"), f"- command: `{args.command}`", ""]
    lines += ["## Targets (issue 13)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(doc)]
    if args.quick:
        lines += ["", "(quick sizes: the targets are stated for 24M rows; shown for information)"]
    lines += ["", "## Solvers", "",
              ("| solver | time | iterations | Dask computations | X'X pass (s) | time / pass | final ‖g‖∞ | on target "
              "| f | max|x − x_ricci| / max|x_ricci| | peak RSS | note |"),
              "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    ref = doc["solvers"].get("ricci-newton", {}).get("x")
    for key in ("ricci-newton", *PEERS):
        r = doc["solvers"].get(key)
        if r is None:
            continue
        if "error" in r and "f" not in r:
            lines.append(f"| {LABELS[key]} | {r['wall']:.1f} s | - | - | - | - | - | no | - | - | - | {r['error']} |")
            continue
        p = min(r["passes_s"][1:] or r["passes_s"])
        dx = (float(np.max(np.abs(np.subtract(r["x"], ref))) / np.max(np.abs(ref))) if ref and r.get("x") else None)
        note = r.get("message", "") if key == "ricci-newton" else json.dumps(r.get("settings", {}))
        lines.append(f"| {LABELS[key]} | {r['wall']:.1f} s | {r['nit'] if r.get('nit') is not None else '-'} | "
                     f"{r['computes']} | {p:.2f} | {r['wall'] / p:.1f} | {r['grad']:.2e} | "
                     f"{'yes' if r['on_target'] else '**no**'} | {r['f']:.10e} | "
                     f"{'-' if dx is None else f'{dx:.1e}'} | {r['peak_rss_gb']:.2f} GB | {note} |")
    lines += ["", ("`X'X pass`: `(X.T @ X).compute()` in the solver's own process, after one warm-up pass. dask-ml "
              "reports no iteration count. Peak RSS is the process's VmHWM: the data are memory-mapped, and "
              "mapped pages count while a block is being read."), ""]
    a = doc.get("agreement") or {}
    lines += ["## Agreement with an in-memory NumPy solve", ""]
    if "rel_diff" in a:
        lines += [(f"ricci newton on the first {a['rows']:,} rows, as a Dask array (blocks of {a['chunk']:,} rows) "
                  f"and as a NumPy array, both to ‖g‖∞ <= {a['gtol']:.2e}: max|x_dask − x_numpy| / max|x_numpy| = "
                  f"**{a['rel_diff']:.1e}**; iterations {a['dask_nit']} / {a['numpy_nit']}; ‖g‖∞ "
                  f"{a['grad_dask']:.1e} / {a['grad_numpy']:.1e}; time {a['dask_s']:.2f} s (Dask) / "
                  f"{a['numpy_s']:.2f} s (NumPy).")]
    else:
        lines.append(f"not measured: {a.get('error', 'skipped')}")
    lines += ["", "## Weak scaling on a distributed.LocalCluster", ""]
    sc = doc.get("scaling") or []
    if sc:
        lines += [(f"Worker processes with one thread each, {args.scale_rows:,} rows per worker generated and "
                  f"persisted on the workers; ricci newton with the client as scheduler. This machine has "
                  f"{env['cpu_count']} cores: with more workers than cores the workers share them (4 workers on 2 "
                  "cores do twice the work per core, so ideal weak scaling stops at the core count)."), "",
                  ("| workers | rows | X'X pass (s) | Newton iterations | solve (s) | time per iteration (s) | vs 1 worker "
                  "| on target |"), "|---:|---:|---:|---:|---:|---:|---:|---|"]
        one = next((c["per_iteration_s"] for c in sc if c.get("workers") == 1 and "per_iteration_s" in c), None)
        for c in sc:
            if "error" in c:
                lines.append(f"| {c.get('workers_asked')} | - | - | - | - | - | - | {c['error']} |")
                continue
            lines.append(f"| {c['workers']} | {c['rows']:,} | {min(c['passes_s'][1:] or c['passes_s']):.2f} | "
                         f"{c['nit']} | {c['wall']:.2f} | {c['per_iteration_s']:.2f} | "
                         f"{c['per_iteration_s'] / one if one else math.nan:.2f}x | "
                         f"{'yes' if c['on_target'] else '**no**'} |")
    else:
        lines.append("not run (--no-scale)")
    if doc.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return math.nan


def run(args, log=None) -> int:
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    env = machine(1, "one BLAS thread per Dask task (threadpoolctl in each solver process)", DISTRIBUTIONS)
    doc = {"date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
           "uptime": [uptime()], "memory_gb": memory_gb(), "notes": [],
           "sizes": {"rows": args.rows, "n": N_FEATURES, "chunk": args.chunk, "gen_rows": args.gen_rows,
                     "agree_rows": args.agree_rows, "scale_rows": args.scale_rows}}
    path, spent, reused = ensure_data(args.data_dir, args.rows, args.gen_rows, args.seed, log)
    doc["data"] = {"path": str(path), "write_s": spent, "reused": reused}
    solvers = doc["solvers"] = {}
    doc["scaling"] = []
    stem = f"dask_scale-{doc['date']}" + ("-quick" if args.quick else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    def save(final=False):  # after every child, so that a long run stopped part way leaves what it measured
        doc["uptime"][1:] = [uptime()]
        text = markdown(doc, args)
        if final:
            write_results(args.out_dir, stem, text, doc, {}, log)
        else:
            (args.out_dir / f"{stem}.md").write_text(text, encoding="utf-8")

    log("ricci newton ...")
    solvers["ricci-newton"] = spawn(args, ["--child", "ricci-newton", "--data", str(path)], args.peer_limit, log)
    gtol = solvers["ricci-newton"].get("gtol")
    doc["gtol"] = gtol
    doc["grad0"] = solvers["ricci-newton"].get("grad0")
    save()

    def peer(key):
        if key in args.skip or gtol is None:
            return
        log(f"{LABELS[key]} ...")
        r = solvers[key] = spawn(args, ["--child", key, "--data", str(path), "--gtol", repr(gtol),
                                        "--admm-iters", str(args.admm_iters)], args.peer_limit, log)
        log(f"  {LABELS[key]}: " + (r["error"] if "f" not in r else
                                    f"{r['wall']:.1f} s, |g| {r['grad']:.2e}, peak {r['peak_rss_gb']:.2f} GB"))
        save()

    peer("dask-ml-newton")  # the slow first-order peers last: a run stopped part way has the targets measured
    if "agree" not in args.skip:
        log("agreement ...")
        doc["agreement"] = spawn(args, ["--child", "agree", "--agree-rows", str(args.agree_rows)], args.peer_limit,
                                 log)
        save()
    for w in args.scale_workers:
        log(f"LocalCluster with {w} workers ...")
        r = spawn(args, ["--child", "scale", "--workers", str(w), "--scale-rows", str(args.scale_rows)],
                  args.peer_limit, log)
        r.setdefault("workers_asked", w)
        doc["scaling"].append(r)
        save()
    peer("dask-ml-lbfgs")
    peer("dask-ml-admm")
    if solvers["ricci-newton"].get("solver") and not args.quick:
        doc["notes"].append("dask-glm's lbfgs calls scipy's fmin_l_bfgs_b with its default factr = 1e7 (a relative "
                            "f-decrease test dask-glm does not expose), so it may stop before the gradient target.")
    save(final=True)
    if not args.keep_data and not reused:
        path.unlink()
        log(f"removed {path} (--keep-data keeps it)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="400k rows, 100k rows per worker, about a minute")
    p.add_argument("--rows", type=int, help="rows of the data (default 24M, quick 400k)")
    p.add_argument("--chunk", type=int, help="rows per Dask block (default 500k, quick 50k)")
    p.add_argument("--gen-rows", type=int, help="rows per generated block (default 1M, quick 100k)")
    p.add_argument("--agree-rows", type=int, help="rows of the Dask-vs-NumPy check (default 1M, quick 100k)")
    p.add_argument("--scale-rows", type=int, help="rows per worker in the weak-scaling runs (default 2M, quick 100k)")
    p.add_argument("--scale-workers", type=int, nargs="*", default=[1, 2, 4],
                   help="LocalCluster sizes (default 1 2 4; none: skip)")
    p.add_argument("--admm-iters", type=int, help="dask-ml admm iterations (default 1, quick 2: each runs L-BFGS on every block)")
    p.add_argument("--peer-limit", type=float, help="seconds per child process (default 900, quick 120)")
    p.add_argument("--skip", nargs="*", default=[], choices=[*PEERS, "agree"], help="parts to leave out")
    p.add_argument("--dask-threads", type=int, default=os.cpu_count() or 1, help="threads of Dask's scheduler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/ricci-bench"))
    p.add_argument("--keep-data", action="store_true", help="keep the generated .npy file")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    # child processes
    p.add_argument("--child", choices=["ricci-newton", *PEERS, "agree", "scale"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--gtol", type=float, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    return p


def defaults(args):
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    for key in ("rows", "chunk", "gen_rows", "agree_rows", "scale_rows", "dask_threads"):
        if getattr(args, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if any(w < 1 for w in args.scale_workers):
        raise ValueError(f"--scale-workers must be >= 1, got {args.scale_workers}")
    return args


def main(argv=None) -> int:
    def dispatch(args):
        defaults(args)
        return child_main(args) if args.child else run(args)

    return script_main("dask_scale.py", parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
