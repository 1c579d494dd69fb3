"""``ricci bench``: run the solver benchmark of a source checkout, ``benchmarks/solvers.py``.

The benchmark (its peers, environment capture, reports and the issue's targets) is not library code and is
not installed with ricci: it lives in the repository's benchmarks/ folder. ``ricci bench ARGS`` finds that
folder beside the source tree this package was imported from (an editable install, ``pip install -e .``,
imports ricci from the checkout) and runs ``python benchmarks/solvers.py ARGS`` with this interpreter, so
``ricci bench --help`` lists the benchmark's own options. Installed from a wheel there is no checkout: it
exits with status 2 and says how to get one.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path("benchmarks") / "solvers.py"


def benchmark_script() -> Path | None:
    """benchmarks/solvers.py of the checkout this package was imported from, or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent  # problems/ -> the repository root in a checkout
    script = root / SCRIPT
    return script if script.is_file() and (root / "pyproject.toml").is_file() else None


def register(sub) -> None:
    """Add ``ricci bench`` to the ``ricci`` command's subparsers."""
    # Every argument, --help included, belongs to benchmarks/solvers.py: a prefix character that no argument
    # starts with makes argparse read them all as the positional list it passes on.
    p = sub.add_parser("bench", help="benchmark the solvers against scipy, scikit-learn and a JAX-Hessian Newton "
                                     "(runs benchmarks/solvers.py of a source checkout)",
                       add_help=False, prefix_chars="\0")
    p.add_argument("arguments", nargs="*", help="the arguments of benchmarks/solvers.py (see ricci bench --help)")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    script = benchmark_script()
    if script is None:
        raise ValueError(
            f"ricci bench runs {SCRIPT} of a source checkout of ricci, and this installation "
            f"({Path(__file__).resolve().parent.parent}) is not one: clone the repository, `pip install -e "
            f"\".[bench]\"` in it, then run `python {SCRIPT}` (or `ricci bench`) there")
    return subprocess.call([sys.executable, str(script), *args.arguments])
