#!/usr/bin/env python
"""Exact second-order methods (ricci) against quasi-Newton, scipy, scikit-learn and a JAX-Hessian Newton.

One run times every method on every case, so ratios are fair (see benchmarks/README.md):

    problems   logistic regression (embedded breast-cancer data; synthetic m = 10,000, n = 100 and 500,
               well conditioned (cond(X) = 10) and badly (cond(X) = 1000)), softmax regression (10 classes),
               matrix factorization with missing entries, a small MLP regression, the More-Garbow-Hillstrom set
    methods    ricci newton, trust-exact, trust-ncg, lbfgs, and lm / gauss-newton on sums of squares;
               scipy BFGS, L-BFGS-B, Newton-CG, trust-exact fed with ricci's derivatives;
               scikit-learn LogisticRegression (newton-cholesky, lbfgs) at the same objective (C = 1/lam);
               ricci's newton driven by JAX autodiff f, gradient and Hessian (jit, float64), so that only the
               source of the derivatives differs from "ricci newton"

    python benchmarks/solvers.py --quick    # small sizes, one repetition, under 2 minutes on 2 cores
    python benchmarks/solvers.py            # full sizes, 3 repetitions, under 30 minutes on 2 cores
    ricci bench [--quick]                   # the same, from an editable install of this checkout

Results: benchmarks/results/solvers-<date>[-quick].md and .json, and PNGs beside them (convergence per
family, the Dolan-More performance profile over the More-Garbow-Hillstrom set). The pieces: _harness.py
(cases, timed runs, the machine), peers.py (the methods), report.py (targets, tables, plots).
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

from _harness import (
    FAMILIES,
    cases,
    configure_threads,
    gpu_name,
    limit_native_threads,
    machine,
    run_case,
)
from peers import METHOD_KEYS, METHODS, load_peers
from report import (
    as_json,
    markdown,
    performance_profile,
    plot_family,
    plot_profile,
    results_stem,
    script_main,
    write_run,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DISTRIBUTIONS = ("ricci", "numpy", "scipy", "sympy", "scikit-learn", "jax", "jaxlib", "matplotlib", "cupy-cuda12x")

EPILOG = """examples:
  python benchmarks/solvers.py --quick    small sizes, one repetition (under 2 minutes on 2 cores)
  python benchmarks/solvers.py            full sizes, 3 repetitions (under 30 minutes on 2 cores)
  python benchmarks/solvers.py --families logistic mgh --repeat 5
  python benchmarks/solvers.py --backend cupy    ricci's methods on the GPU (CuPy), data problems only
  ricci bench --quick                     the same, from an editable install of this checkout
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/solvers.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    p.add_argument("--repeat", type=int, default=None, help="repetitions per method and case (default 3, quick 1)")
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES), help="which families to run")
    p.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                   help="only cases whose label contains one of these texts (e.g. breast rosenbrock)")
    p.add_argument("--methods", nargs="+", choices=METHOD_KEYS, default=None, help="which methods (default all)")
    p.add_argument("--skip", nargs="+", choices=("jax", "sklearn"), default=[], help="leave out a peer library")
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"), help="array library (cupy: GPU)")
    p.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="folder for the results (default %(default)s)")
    return p


def run(args, log=None) -> int:
    """Run the benchmark for parsed arguments; write markdown, JSON and PNGs; return an exit status."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    configure_threads(args.threads)
    families = [f for f in args.families if not (args.backend != "numpy" and f == "mgh")]
    peers, notes = load_peers(args)
    _limiter, thread_note = limit_native_threads(args.threads)  # the limit holds while _limiter lives
    env = {**machine(args.threads, thread_note, DISTRIBUTIONS), "backend": args.backend,
           "gpu": gpu_name(args.backend)}
    todo = cases(args.quick, families)
    if args.only:
        todo = [c for c in todo if any(t.lower() in c.label.lower() for t in args.only)]
        if not todo:
            raise ValueError(f"--only {' '.join(args.only)} matches no case")
    methods = [m for m in METHODS if args.methods is None or m.key in args.methods]
    started = time.perf_counter()
    results = []
    for case in todo:
        log(f"{case.label}")
        results.append(run_case(case, methods, peers, args, log))
    mgh = performance_profile(results) if any(r.case.family == "mgh" for r in results) else None
    plots = [(fam, partial(plot_family, results, fam)) for fam in FAMILIES if any(r.case.family == fam for r in results)]
    if mgh and len(mgh["profile"]["rho"]) > 1:
        plots.append(("mgh-profile", partial(plot_profile, mgh)))
    stem = results_stem("solvers", args.quick, f"-{args.backend}" if args.backend != "numpy" else "")
    return write_run(args.out_dir, stem, args.no_plots, plots,
                     lambda paths: (markdown(results, env, args, mgh, paths, notes),
                                    as_json(results, env, args, mgh, notes)),
                     started, notes, log)


def main(argv=None) -> int:
    return script_main("solvers.py", parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
