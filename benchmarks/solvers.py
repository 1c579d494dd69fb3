#!/usr/bin/env python
"""Exact second-order methods (ricci) against quasi-Newton, scipy, scikit-learn and a JAX-Hessian Newton.

The logic lives in the installed package, ``ricci.problems._bench``, so that ``ricci bench`` runs it from
anywhere; this script is the same benchmark from a checkout (see benchmarks/README.md):

    python benchmarks/solvers.py --quick    # small sizes, one repetition, under 2 minutes on 2 cores
    python benchmarks/solvers.py            # full sizes, 3 repetitions, under 30 minutes on 2 cores
    ricci bench [--quick]                   # the same

Results: benchmarks/results/solvers-<date>[-quick].md and .json, and PNGs beside them (convergence per
family, the Dolan-More performance profile over the More-Garbow-Hillstrom set).
"""
import sys

from ricci.problems._bench import main

if __name__ == "__main__":
    sys.exit(main())
