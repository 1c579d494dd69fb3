"""Matrix factorization at 600 x 500, rank 8, 90% missing (issue "Derivatives as structured operators").

Two measurements, in one process, one BLAS thread:

1. The Newton step through the structure against a dense Cholesky of the same Hessian: the Hessian
   operator (block diagonal U and V blocks coupled by a sparse block, ``Objective.hess_operator``) solved
   with a shift through its Schur complement onto V, by conjugate gradients to a relative residual of 1e-10
   (the solver Newton uses) and by the exact Schur factorization, against ``numpy.linalg.cholesky`` of the
   dense Hessian plus the same shift and two triangular solves; each solve's residual in the dense Hessian.
2. Every method on the problem for a few iterations, with the peak of traced allocations (tracemalloc sees
   NumPy's buffers) against the Jacobian's nonzeros (8 bytes each): the target is "none allocates more than a
   few times the Jacobian's nonzeros; the whole solve fits in 2 GB".

    python benchmarks/factorization_scale.py [--m 600 --n 500 --rank 8 --missing 0.9 --maxiter 5]

Writes a markdown table to stdout (and to --out when given).
"""
from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402

from ricci import problems  # noqa: E402
from ricci.solvers import NotPositiveDefinite  # noqa: E402
from ricci.solvers._newton_step import NEWTON_RTOL  # noqa: E402

METHODS = ("newton", "trust-exact", "trust-ncg", "trust-krylov", "dogleg", "lbfgs", "lm", "gauss-newton")


def build(m, n, rank, missing, seed=0):
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) / np.sqrt(rank)
    mask = (rng.random((m, n)) >= missing).astype(float)
    return problems.matrix_factorization(T, rank, mask=mask, lam=1e-3, seed=seed)


def newton_step(problem):
    """The Newton step at the start, structured (the exact Schur factorization, and the solver Newton uses:
    ``solver(shift, rtol=NEWTON_RTOL)``, conjugate gradients on the Schur complement) against a dense Cholesky
    of the same Hessian plus the same shift; accuracy as the relative residual in the dense Hessian."""
    obj = problem.objective
    x = problem.start()
    g = obj.jac(x)
    t = time.perf_counter()
    op = obj.hess_operator(x)
    t_operator = time.perf_counter() - t
    shift = 1e-3 * op.norm_estimate() / np.sqrt(op.shape[0])
    while True:  # the smallest shift of Algorithm 3.3's kind that makes it positive definite, for every solve
        try:
            t = time.perf_counter()
            exact = op.factorize(shift).solve(g)
            t_exact = time.perf_counter() - t
            break
        except NotPositiveDefinite:
            shift *= 4.0
    t = time.perf_counter()
    solver = op.solver(shift, rtol=NEWTON_RTOL)
    step = solver.solve(g)
    t_structured = time.perf_counter() - t
    t = time.perf_counter()
    H = obj.hess(x)
    t_dense_hessian = time.perf_counter() - t
    t = time.perf_counter()
    L = np.linalg.cholesky(H + shift * np.eye(H.shape[0]))
    dense = scipy.linalg.cho_solve((L, True), g, check_finite=False)
    t_dense = time.perf_counter() - t
    del L

    def residual(p):
        return float(np.linalg.norm(H @ p + shift * p - g) / np.linalg.norm(g))

    return {"n": H.shape[0], "shift": shift, "operator_s": t_operator, "structured_s": t_structured,
            "exact_s": t_exact, "dense_hessian_s": t_dense_hessian, "dense_cholesky_s": t_dense,
            "ratio": t_dense / t_structured, "ratio_exact": t_dense / t_exact,
            "agree": float(np.abs(step - dense).max() / np.abs(dense).max()), "residual": residual(step),
            "residual_exact": residual(exact), "residual_dense": residual(dense),
            "operator_mb": op.nbytes / 2**20, "dense_mb": H.nbytes / 2**20, "method": solver.method}


def method_memory(problem, method, maxiter):
    jac_nnz = problem.residual.jac_operator(problem.start())
    nnz_bytes = sum(getattr(b, "nbytes", 0) for b in [jac_nnz])
    tracemalloc.start()
    t = time.perf_counter()
    try:
        options = {"max_nfev": maxiter + 1} if method in ("lm", "gauss-newton") else {"maxiter": maxiter}
        res = problem.solve(method, **options)
        status = f"f = {float(getattr(res, 'fun', np.nan) if np.ndim(res.fun) == 0 else 2 * res.cost):.4g}"
    except MemoryError as exc:
        status = f"MemoryError: {exc}"
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"method": method, "peak_mb": peak / 2**20, "jac_mb": nnz_bytes / 2**20, "seconds": elapsed,
            "status": status}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=600)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--missing", type=float, default=0.9)
    ap.add_argument("--maxiter", type=int, default=5)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    problem = build(args.m, args.n, args.rank, args.missing)
    lines = [f"# Matrix factorization {args.m} x {args.n}, rank {args.rank}, {args.missing:.0%} missing",
             "", f"- {problem.description}", "- one BLAS thread; wall-clock seconds", ""]
    step = newton_step(problem)
    lines += ["## Newton step: structure vs dense Cholesky (same Hessian, same shift)", "",
              (f"Structured: `solver(shift, rtol={NEWTON_RTOL:g})` (what Newton, dogleg, trust-exact and LM/GN use) "
               "and the exact Schur factorization; residual = ||(H + shift I) p - g|| / ||g|| in the dense H."), "",
              ("| unknowns | operator build (s) | structured solve (s) | path | residual | exact Schur (s) | residual "
               "| dense H (s) | dense Cholesky+solve (s) | residual | dense / structured | dense / exact Schur "
               "| max rel. difference | operator MB | dense MB |"), "|" + "---:|" * 15,
              (f"| {step['n']} | {step['operator_s']:.2f} | {step['structured_s']:.3f} | {step['method']} | "
               f"{step['residual']:.1e} | {step['exact_s']:.2f} | {step['residual_exact']:.1e} | "
               f"{step['dense_hessian_s']:.2f} | {step['dense_cholesky_s']:.2f} | {step['residual_dense']:.1e} | "
               f"{step['ratio']:.1f} | {step['ratio_exact']:.1f} | {step['agree']:.1e} | {step['operator_mb']:.0f} | "
               f"{step['dense_mb']:.0f} |"), ""]
    lines += [f"## Every method, {args.maxiter} iterations: peak traced allocation", "",
              "| method | peak MB | Jacobian operator MB | peak / Jacobian | seconds | result |",
              "|---|---:|---:|---:|---:|---|"]
    for method in args.methods.split(","):
        r = method_memory(problem, method, args.maxiter)
        lines.append(f"| {method} | {r['peak_mb']:.0f} | {r['jac_mb']:.1f} | {r['peak_mb'] / r['jac_mb']:.1f} | "
                     f"{r['seconds']:.1f} | {r['status']} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
