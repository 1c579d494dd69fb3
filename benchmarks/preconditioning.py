"""Hessian-vector products saved by the Jacobi preconditioner of trust-ncg and trust-krylov (issue 10, item 6).

trust-ncg (Steihaug-CG) and trust-krylov (GLTR) solve each trust-region subproblem with Hessian-vector
products; with ``preconditioner="diagonal"`` they precondition those iterations with the Hessian's diagonal
(the trust region in the matching norm; see ricci/solvers/_trust_region.py). This script counts the products
with and without it, on the problems library's logistic regressions:

* ``logistic m=10000 n=500 cond=1e3`` -- the benchmark case of benchmarks/_harness.py (synthetic features
  U diag(s) V' with singular values geometric over three decades, lam = 1, an intercept), the issue's target
  case: at most a third of the 438 products trust-ncg took without preconditioning;
* features of condition 10 whose column j is multiplied by ``10^(1 - 2 j / (n - 1))`` (scales from 10 down to
  0.1, as raw, unstandardized data have them): there the Hessian's diagonal carries the ill-conditioning,
  which is what a Jacobi preconditioner can remove. (On the first case it cannot: the condition number 1e3
  there is that of U diag(s) V' with a random rotation V, so the Hessian's diagonal is nearly constant.)

* matrix factorization 600 x 500, rank 8, 90% missing (``--quick``: 120 x 100), at most 30 iterations: a
  nonconvex problem whose Hessian is block diagonal plus a sparse coupling. Its "factorization" preconditioner
  is not the exact factorization, whose Schur complement onto V would be a dense 4000 x 4000 matrix (128 MB),
  but the block elimination of U with the Schur complement's block diagonal (``BlockOperator.preconditioner``);
  the table's peak MB (tracemalloc) shows what each preconditioner holds.

Every logistic run stops at the benchmarks' target ``max_i |grad_i| <= 1e-8 max(1, |grad f(x0)|_inf)``. Products are
counted at the objective (calls of ``hessp``); the Hessian operator (``hess_operator``, asked once per
iteration for its diagonal) is counted separately, with its time in the wall time.

    python benchmarks/preconditioning.py              # the full sizes (about a minute per run on one core)
    python benchmarks/preconditioning.py --quick      # m=2000 n=100, a few seconds
    python benchmarks/preconditioning.py --out results/preconditioning.md
"""
from __future__ import annotations

import argparse
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
from ricci import problems
from ricci.solvers import minimize

RTOL = 1e-8


class CountingObjective:
    """The problem's objective with its Hessian-vector products and Hessian operators counted."""

    def __init__(self, objective):
        self.objective = objective
        self.products = 0
        self.operators = 0

    def fun(self, x):
        return self.objective.fun(x)

    def jac(self, x):
        return self.objective.jac(x)

    def fun_and_jac(self, x):
        return self.objective.fun_and_jac(x)

    def hessp(self, x, p):
        self.products += 1
        return self.objective.hessp(x, p)

    def hess_operator(self, x):
        self.operators += 1
        return self.objective.hess_operator(x)


@dataclass(frozen=True)
class Run:
    case: str
    method: str
    preconditioner: str
    products: int
    operators: int
    iterations: int
    seconds: float
    fun: float
    gradient: float
    success: bool
    peak_mb: float


def scaled_columns(problem, decades: float = 2.0):
    """The same logistic regression with column j of X multiplied by 10^(decades (1/2 - j / (n - 1)))."""
    X = np.asarray(problem.data["X"])
    scales = np.logspace(decades / 2, -decades / 2, X.shape[1])
    return problems.logistic_regression(X * scales, problem.data["y"], lam=problem.params["lam"])


def factorization(m: int, n: int, rank: int = 8, missing: float = 0.9, seed: int = 0):
    """The matrix factorization of benchmarks/factorization_scale.py (a seeded rank-``rank`` target)."""
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) / np.sqrt(rank)
    mask = (rng.random((m, n)) >= missing).astype(float)
    return problems.matrix_factorization(T, rank, mask=mask, lam=1e-3, seed=seed)


def run(case: str, problem, method: str, preconditioner: str, maxiter: int | None = None) -> Run:
    objective = CountingObjective(problem.objective)
    x0 = problem.start()
    gtol = RTOL * max(1.0, float(np.max(np.abs(problem.objective.jac(x0)))))
    options = {"gtol": gtol, "preconditioner": preconditioner}
    if maxiter is not None:
        options["maxiter"] = maxiter
    tracemalloc.start()
    t0 = time.perf_counter()
    res = minimize(objective, x0, method=method, options=options)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return Run(case, method, preconditioner, objective.products, objective.operators, res.nit, seconds,
               float(res.fun), float(np.max(np.abs(res.jac))), bool(res.success), peak)


def table(runs) -> str:
    header = ("| case | method | preconditioner | Hessian-vector products | Hessian operators | iterations | "
              "seconds | f | max abs grad | success | peak MB |")
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in runs:
        lines.append(f"| {r.case} | {r.method} | {r.preconditioner} | {r.products} | {r.operators} | "
                     f"{r.iterations} | {r.seconds:.2f} | {r.fun:.10g} | {r.gradient:.2e} | {r.success} | "
                     f"{r.peak_mb:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="m=2000 n=100 instead of m=10000 n=500")
    parser.add_argument("--methods", nargs="+", default=["trust-ncg", "trust-krylov"])
    parser.add_argument("--cases", nargs="+", default=["logistic", "factorization"],
                        choices=["logistic", "factorization"])
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    m, n = (2000, 100) if args.quick else (10000, 500)
    base = problems.get("logistic-regression-synthetic", m=m, n=n, cond=1e3, lam=1.0, seed=0)
    scaled = scaled_columns(problems.get("logistic-regression-synthetic", m=m, n=n, cond=10.0, lam=1.0, seed=0))
    cases = {}
    if "logistic" in args.cases:
        cases[f"logistic m={m} n={n} cond=1e3"] = (base, None)
        cases[f"logistic m={m} n={n} cond=10, columns scaled 10..0.1"] = (scaled, None)
    if "factorization" in args.cases:
        rows, cols = (120, 100) if args.quick else (600, 500)
        cases[f"factorization {rows} x {cols} rank 8, 90% missing"] = (factorization(rows, cols), 30)
    runs = []
    for case, (problem, maxiter) in cases.items():
        for method in args.methods:
            for preconditioner in ("none", "diagonal", "factorization"):
                if preconditioner == "factorization" and method != "trust-ncg":
                    continue
                runs.append(run(case, problem, method, preconditioner, maxiter))
                print(table(runs[-1:]).splitlines()[-1], flush=True)
    text = table(runs)
    print()
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
