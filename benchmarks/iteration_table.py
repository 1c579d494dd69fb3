"""Iteration counts of ricci.solvers against scipy.optimize on the classic problems.

Run from the repository root:  python tests/solvers/iteration_table.py  (prints a Markdown table).
Both sides get exact derivatives and gtol = 1e-8 (ricci: infinity norm of the gradient; scipy's trust-region
methods: 2-norm, L-BFGS-B: projected gradient infinity norm, Newton-CG: xtol = 1e-8 on the step). Trust-region
methods use max_trust_radius = 1e8 on Brown's badly scaled problem, whose minimizer is 1e6 away from x0.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import scipy.optimize as so

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ricci.solvers import minimize
from solvers_problems import PROBLEMS

PAIRS = (  # (ricci method, scipy method)
    ("newton", "Newton-CG"),
    ("trust-exact", "trust-exact"),
    ("trust-ncg", "trust-ncg"),
    ("trust-krylov", "trust-krylov"),
    ("dogleg", "dogleg"),
    ("lbfgs", "L-BFGS-B"),
)
GTOL = 1e-8


def options_for(problem, method, *, scipy_side=False):
    opts = {}
    if method.lower().startswith(("trust", "dogleg")) and problem.name == "brown_badly_scaled":
        opts["max_trust_radius"] = 1e8
    if scipy_side:
        if method == "Newton-CG":
            opts["xtol"] = GTOL
        else:
            opts["gtol"] = GTOL
        opts["maxiter"] = 2000
    else:
        opts["gtol"] = GTOL
    return opts


def run_ricci(problem, method):
    res = minimize(problem.fun, np.asarray(problem.x0), method=method, jac=problem.jac, hess=problem.hess,
                   options=options_for(problem, method))
    return res, problem.reached(res.x, res.fun)


def run_scipy(problem, method):
    kw = dict(jac=problem.jac)
    if method in ("trust-exact", "dogleg", "Newton-CG", "trust-ncg", "trust-krylov"):
        kw["hess"] = problem.hess
    with warnings.catch_warnings():  # scipy warns when its own iteration fails; the table reports it
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                res = so.minimize(problem.fun, np.asarray(problem.x0), method=method,
                                  options=options_for(problem, method, scipy_side=True), **kw)
            except Exception as exc:
                return None, f"error: {type(exc).__name__}"
    return res, problem.reached(res.x, res.fun)


def table() -> str:
    lines = ["| problem | " + " | ".join(f"{r} / scipy {s}" for r, s in PAIRS) + " |",
             "|---|" + "---|" * len(PAIRS)]
    not_worse = total = 0
    for p in PROBLEMS:
        cells = []
        for rm, sm in PAIRS:
            r, r_ok = run_ricci(p, rm)
            s, s_ok = run_scipy(p, sm)
            r_txt = f"{r.nit}" + ("" if r_ok else "✗")
            s_txt = (f"{s.nit}" + ("" if s_ok else "✗")) if s is not None else s_ok
            if s is not None:
                total += 1
                not_worse += (r_ok and (not s_ok or r.nit <= s.nit))
            cells.append(f"{r_txt} / {s_txt}")
        lines.append(f"| {p.name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"ricci reached the minimizer with no more iterations than scipy in {not_worse} of {total} pairs "
                 "(✗: did not reach a known minimizer to tolerance).")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
