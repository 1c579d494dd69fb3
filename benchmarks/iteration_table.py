#!/usr/bin/env python
"""Iteration counts of ricci.solvers against scipy.optimize on the More-Garbow-Hillstrom test set.

    python benchmarks/iteration_table.py              # prints a Markdown table (about a minute on 2 cores)
    python benchmarks/iteration_table.py rosenbrock wood

Both sides get ricci's exact derivatives of ``ricci.problems`` (the MGH problems at their standard x0) and
gtol = 1e-8 (ricci: infinity norm of the gradient; scipy's trust-region methods: 2-norm, L-BFGS-B: projected
gradient infinity norm, Newton-CG: xtol = 1e-8 on the step), at most 2000 iterations. Trust-region methods
use max_trust_radius = 1e8 on Brown's badly scaled problem, whose minimizer is 1e6 away from x0. A run counts
as solved when it ends within 1e-6 (relative) of the known minimum or of another known local minimum.
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import scipy.optimize as so
from ricci import problems
from ricci.solvers import METHODS, minimize

SCIPY_NAMES = {"newton": "Newton-CG", "lbfgs": "L-BFGS-B"}  # the others have scipy's names
PAIRS = tuple((method, SCIPY_NAMES.get(method, method)) for method in METHODS)  # (ricci method, scipy method)
GTOL = 1e-8
MAXITER = 2000
SCIPY_USES_HESSIAN = ("trust-exact", "dogleg", "Newton-CG", "trust-ncg", "trust-krylov")


def options_for(problem, method: str, *, scipy_side: bool = False) -> dict:
    opts = {"maxiter": MAXITER}
    if method.lower().startswith(("trust", "dogleg")) and problem.name == "brown-badly-scaled":
        opts["max_trust_radius"] = 1e8
    opts["xtol" if scipy_side and method == "Newton-CG" else "gtol"] = GTOL
    return opts


def solved(problem, f: float) -> bool:
    """f is within 1e-6 (relative, 1e-10 absolute) of the known minimum or another known local minimum."""
    known = ([problem.minimum] if problem.minimum is not None else []) + [fm for fm, _ in problem.local_minima]
    return any(abs(f - fm) <= 1e-6 * abs(fm) + 1e-10 for fm in known)


def run_ricci(problem, method: str):
    with warnings.catch_warnings():  # overflow in exp at far trial points: the solver rejects those
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(problem.objective, np.array(problem.x0), method=method, options=options_for(problem, method))
    return res, solved(problem, float(res.fun))


def run_scipy(problem, method: str):
    obj = problem.objective
    kwargs = {"jac": obj.jac, "hess": obj.hess} if method in SCIPY_USES_HESSIAN else {"jac": obj.jac}
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # scipy warns when its iteration fails
        warnings.simplefilter("ignore")
        try:
            res = so.minimize(obj.fun, np.array(problem.x0), method=method,
                              options=options_for(problem, method, scipy_side=True), **kwargs)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            return None, f"error: {type(exc).__name__}"
    return res, solved(problem, float(res.fun))


def table(names) -> str:
    lines = ["| problem | n | " + " | ".join(f"{r} / scipy {s}" for r, s in PAIRS) + " |",
             "|---|---:|" + "---|" * len(PAIRS)]
    not_worse = total = 0
    for name in names:
        p = problems.get(name)
        cells = []
        for rm, sm in PAIRS:
            r, r_ok = run_ricci(p, rm)
            s, s_ok = run_scipy(p, sm)
            r_txt = f"{r.nit}" + ("" if r_ok else "✗")
            s_txt = (f"{s.nit}" + ("" if s_ok else "✗")) if s is not None else s_ok
            if s is not None:
                total += 1
                not_worse += r_ok and (not s_ok or r.nit <= s.nit)
            cells.append(f"{r_txt} / {s_txt}")
        lines.append(f"| {name} | {p.n} | " + " | ".join(cells) + " |")
    lines += ["", (f"ricci solved the problem with no more iterations than scipy in {not_worse} of {total} pairs "
                   f"(✗: did not reach a known minimum within {MAXITER} iterations).")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/iteration_table.py", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="PROBLEM", help="MGH problems (default: all 35)")
    args = p.parse_args(argv)
    mgh = problems.names("mgh")
    unknown = [n for n in args.names if n not in mgh]
    if unknown:
        p.error(f"not an MGH problem: {', '.join(unknown)} (`ricci problems --family mgh` lists them)")
    print(table(args.names or mgh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
