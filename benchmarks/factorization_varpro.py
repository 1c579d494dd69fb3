"""Variable projection against the full-space methods on matrix factorization (issue 11, item 2).

For each case (the registry's ``matrix-factorization`` generator: a seeded low-rank matrix with noise 0.01 and
a fraction of entries missing, lam = 1e-3) and each of ``--starts`` random starts (start 0 is the problem's x0,
start s > 0 is Gaussian with the x0's scale from seed s), every method minimizes the same
f(U, V) = 1/2 sum_observed (U V' - T)^2 + lam/2 (|U|^2 + |V|^2) to the target

    |grad f|_inf <= 1e-7 max(1, |grad f(x0)|_inf)

and the table reports, per method: the median wall time over the starts that reached the target, how many
reached it, and the success rate (the fraction of starts ending within 1e-6 (relative) of the best f any
method found on that case). Methods: ``varpro`` (problems/_varpro.py: V eliminated, LM on U), ricci ``lm`` and
``lbfgs`` (``Problem.solve``), and scipy's L-BFGS-B on ``objective.fun_and_jac`` (pgtol = the target, ftol 0).
One BLAS thread (set before NumPy loads); the timings are from one shared machine, so compare them within a
run.

    python benchmarks/factorization_varpro.py [--starts 20] [--cases small,large] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics
import time

import numpy as np
import scipy.optimize
from ricci import problems
from ricci.problems import varpro

CASES = {
    "small": {"m": 100, "n": 80, "rank": 5, "missing": 0.3},
    "large": {"m": 600, "n": 500, "rank": 8, "missing": 0.9},
}
METHODS = ("varpro", "lm", "lbfgs", "scipy L-BFGS-B")
MAXITER = 20000  # quasi-Newton iterations; least squares: residual evaluations (--max-nfev)


def starts(p, count):
    scale = float(np.std(p.x0))
    yield np.array(p.x0)
    for s in range(1, count):
        yield scale * np.random.default_rng(s).standard_normal(p.n)


def run(p, method, x0, tol, max_nfev):
    obj = p.objective
    t = time.perf_counter()
    if method == "varpro":
        res = varpro(p, x0, tol=tol, maxiter=max_nfev)
    elif method == "lm":
        res = p.solve("lm", x0=x0, tol=tol, max_nfev=max_nfev)
    elif method == "lbfgs":
        res = p.solve("lbfgs", x0=x0, tol=tol, maxiter=MAXITER)
    else:
        res = scipy.optimize.minimize(obj.fun_and_jac, x0, jac=True, method="L-BFGS-B",
                                      options={"gtol": tol, "ftol": 0.0, "maxiter": MAXITER, "maxfun": 2 * MAXITER})
    wall = time.perf_counter() - t
    x = np.asarray(res.x)
    f, g = obj.fun_and_jac(x)
    return {"wall": wall, "f": float(f), "g": float(np.max(np.abs(np.asarray(g))))}


def measure(name, params, count, max_nfev, methods, log):
    p = problems.get("matrix-factorization", **params)
    rows = {m: [] for m in methods}
    for k, x0 in enumerate(starts(p, count)):
        tol = 1e-7 * max(1.0, float(np.max(np.abs(np.asarray(p.objective.jac(x0))))))
        for m in methods:
            r = run(p, m, x0, tol, max_nfev)
            r["reached"] = r["g"] <= tol
            rows[m].append(r)
            log(f"{name} start {k:2d} {m:15s} {r['wall']:8.3f} s  f = {r['f']:.10g}  |g| = {r['g']:.2e}"
                f"{'' if r['reached'] else '  (target not reached)'}")
    best = min(r["f"] for rs in rows.values() for r in rs)
    out = []
    for m in methods:
        rs = rows[m]
        reached = [r["wall"] for r in rs if r["reached"]]
        at_best = sum(r["f"] <= best + 1e-6 * max(1.0, abs(best)) for r in rs)
        out.append((m, statistics.median(reached) if reached else float("nan"), len(reached), at_best / len(rs),
                    statistics.median(r["wall"] for r in rs)))
    return p, best, out


def table(name, p, best, out, count):
    lines = [f"### {name}: {p.description}", "",
             f"best f found: {best:.10g}; {count} starts; target |g|_inf <= 1e-7 max(1, |g(x0)|_inf)", "",
             "| method | median time to target [s] | reached target | success rate (f = best) | median wall, all [s] |",
             "|---|---:|---:|---:|---:|"]
    for m, t, reached, rate, wall in out:
        lines.append(f"| {m} | {t:.3f} | {reached}/{count} | {100 * rate:.0f}% | {wall:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--cases", default="small,large", help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--max-nfev", type=int, default=500, help="residual evaluations for varpro and lm")
    ap.add_argument("--out", help="write the markdown tables here too")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        ap.error(f"unknown method(s) {unknown}; valid: {', '.join(METHODS)}")
    command = f"python benchmarks/factorization_varpro.py --starts {args.starts} --cases {args.cases}"
    parts = ["# Variable projection on matrix factorization", "",
             f"{time.strftime('%Y-%m-%d')}, one BLAS thread, `{command}`", ""]
    for name in (c.strip() for c in args.cases.split(",")):
        if name not in CASES:
            ap.error(f"unknown case {name!r}; valid: {', '.join(CASES)}")
        p, best, out = measure(name, CASES[name], args.starts, args.max_nfev, methods,
                               lambda s: print(s, flush=True))
        parts += [table(name, p, best, out, args.starts), ""]
    text = "\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
