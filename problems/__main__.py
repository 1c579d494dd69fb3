"""``python -m ricci.problems [ARGS]``: the ``ricci`` command; with no arguments, the main job
(``ricci solve logistic-regression``: Newton, trust-region and L-BFGS on the embedded breast-cancer data)."""
import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["solve", "logistic-regression"]))
