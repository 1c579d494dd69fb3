"""The ``ricci`` command: ``ricci solve`` (the main job) and ``ricci problems``.

Subcommands register themselves on the shared subparsers through ``register(subparsers)`` functions: ``solve``
and ``problems`` here, ``diff`` in ``_cli_diff``, ``bench`` in ``_bench`` (which runs the benchmarks of a source
checkout). Each subcommand sets ``func(args) -> exit status``. User errors print one line
``ricci: error: ...`` on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np

from ._bench import register as register_bench
from ._cli_diff import register as register_diff
from ._defaults import default_method
from ._problem import ALL_METHODS, method_for

DEFAULT_METHODS = ("newton", "trust-exact", "lbfgs")
"""What ``ricci solve`` compares without --method or --compare: Newton, a trust region, the quasi-Newton baseline."""


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), pointing at --help."""

    def error(self, message):
        raise CLIError(f"{message} (see `{self.prog} --help`)")


SOLVE_EPILOG = """examples:
  ricci solve logistic-regression                 the main job: Newton, trust-region and L-BFGS on the
                                                  embedded breast-cancer data, compared in one table
  ricci solve logistic-regression --param lam=1e-3 --plot conv.png --json runs.json
  ricci solve logistic-regression --data my.csv --label target
  ricci solve logistic-regression --data rcv1.svm     svmlight data: a sparse matrix, never dense
  ricci solve logistic-regression --data "parts/*.npy" --chunks 100000
                                                  data larger than memory: Dask blocks of 100000 rows
  ricci solve rosenbrock --compare newton,trust-ncg,lm
  ricci solve extended-rosenbrock --param n=100 --method trust-krylov --tol 1e-10
  ricci solve --expr "sum(log(1+exp(-y.*(X*w)))) + 0.5*lam*w'*w" \\
              --data X=X.npy --data y=y.npy --param lam=0.01 --wrt w
  ricci solve --expr "-sum(y.*(X*w)) + 0.5*w'*w" --data X=X.npy --data y=y.npy --wrt w
                                                  an expression may start with '-' (--expr=-... works too)
  ricci solve --expr "w'*S*w - mu'*w" --data S=S.npy --data mu=mu.npy --wrt w \
              --subject-to "w >= 0" --subject-to "sum(w) == 1"
                                                  constraints: bounds go to tron, others to auglag
  ricci solve hs71                                a Hock-Schittkowski problem, solved by auglag
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ricci", description="Exact second-order optimization from symbolic tensor calculus.",
                     epilog="run `ricci solve logistic-regression` for the main job; `ricci COMMAND --help` for more",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    register_solve(sub)
    register_problems(sub)
    register_diff(sub)
    register_bench(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] == "bench":  # every argument is the benchmark's, "--" included (argparse drops it)
            args = argparse.Namespace(func=parser_bench_func(parser), arguments=argv[1:])
        else:
            args = parser.parse_args(_expr_values_joined(argv))
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except CLIError as exc:
        _fail(str(exc))
    except BrokenPipeError:  # `ricci problems | head`: the reader left; not an error
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except (ValueError, TypeError, OSError, ImportError, ArithmeticError) as exc:
        _fail(f"{exc}" if str(exc) else type(exc).__name__)
    except MemoryError:
        _fail("out of memory (a data file or a --param asks for more than this machine has)")
    except RecursionError:
        _fail("an input is nested too deeply to process")
    except KeyboardInterrupt:
        print("ricci: interrupted", file=sys.stderr)
        return 130
    return 2


def parser_bench_func(parser):
    """The function ``ricci bench`` registered on ``parser``."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["bench"].get_default("func")


def _expr_values_joined(argv: list) -> list:
    """``ricci solve --expr -sum(x)``: argparse would take the expression for an option (it starts with '-');
    the token after ``--expr`` is always its value, so it is passed as ``--expr=-sum(x)``."""
    if not argv or argv[0] != "solve":
        return argv
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--expr" and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] != "--":
            out.append(f"--expr={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _fail(message: str):
    first = " ".join(str(message).split())
    print(f"ricci: error: {first}", file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------------------------------------
# ricci problems
# ----------------------------------------------------------------------------------------------------------


def register_problems(sub):
    p = sub.add_parser("problems", help="list the problem registry",
                       description="List the registered problems (name, family, unknowns, known minimum).",
                       epilog="examples:\n  ricci problems\n  ricci problems --family mgh",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", help="only this family (mgh, logistic, softmax, factorization, mlp)")
    p.set_defaults(func=cmd_problems)


def cmd_problems(args) -> int:
    from . import _problem

    names = _problem.names(args.family)
    print(f"{'name':<30} {'family':<14} {'n':>4} {'known f*':>12}  description")
    for name in names:
        e = _problem.entry(name)
        p = _problem.get(name)
        known = f"{p.minimum:.6g}" if p.minimum is not None else "-"
        print(f"{name:<30} {e.family:<14} {p.n:>4} {known:>12}  {p.description}")
    print(f"\n{len(names)} problems; `ricci solve NAME` solves one (see `ricci solve --help`)")
    return 0


# ----------------------------------------------------------------------------------------------------------
# ricci solve
# ----------------------------------------------------------------------------------------------------------


def register_solve(sub):
    p = sub.add_parser("solve", help="solve a problem with several methods and compare them",
                       description="Solve a registered problem (or your own expression) with exact derivatives "
                                   "and compare methods: iterations, objective, gradient norm, evaluations, time.",
                       epilog=SOLVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="a registered problem (`ricci problems` lists them)")
    p.add_argument("--expr", help="your objective in the matrix language, e.g. \"sum(log(1+exp(-y.*(X*w))))\" "
                   "(one starting with '-' is fine: --expr \"-sum(x)\" or --expr=-sum(x))")
    p.add_argument("--wrt", action="append", default=[], metavar="VAR",
                   help="with --expr: the variable(s) to optimize (repeat or comma-separate)")
    p.add_argument("--data", action="append", default=[], metavar="FILE | NAME=FILE",
                   help="a data file for the problem (CSV, .npy, .npz, svmlight); with --expr: NAME=FILE per array")
    p.add_argument("--label", default="-1", help="label column of --data FILE: an index or a name (default: last)")
    p.add_argument("--chunks", type=int, metavar="N",
                   help="read --data lazily into Dask by blocks of N rows (.npy memory-mapped, .csv and .parquet; "
                        "FILE may be a directory or a glob of parts, e.g. 'parts/*.npy'; svmlight as blocks of sparse "
                        "CSR rows). Needs dask (pip install \"ricci[dask]\")")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a problem parameter (e.g. lam=1e-3, n=100, hidden=8,4); with --expr: a scalar")
    p.add_argument("--subject-to", action="append", default=[], metavar="CONSTRAINT", dest="subject_to",
                   help="with --expr: a constraint in the matrix language, e.g. \"x >= 0\", \"sum(x) == 1\", "
                        "\"0 <= x <= 1\", \"A*x <= b\" (repeatable); bounds on the unknowns go to tron, others "
                        "to auglag")
    p.add_argument("--method", help=f"one method: {', '.join(ALL_METHODS)}, varpro (factorization)")
    p.add_argument("--compare", help="methods to compare, comma-separated, or 'all' (default: the family's default "
                   f"method, then {','.join(DEFAULT_METHODS)})")
    p.add_argument("--tol", type=float, default=1e-8,
                   help="stop at |grad f|_inf <= TOL, a finite number > 0, for every method (lm and gauss-newton "
                        "included; default 1e-8)")
    p.add_argument("--maxiter", type=int, help="iteration limit per method (function evaluations for lm)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"), help="array library (cupy: GPU)")
    p.add_argument("--plot", metavar="FILE.png", help="write convergence plots (needs matplotlib)")
    p.add_argument("--json", metavar="FILE", help="write the runs and their traces as JSON")
    p.add_argument("--progress", default="auto", choices=("auto", "always", "never"),
                   help="live progress on stderr (auto: on a terminal, for solves longer than a second)")
    p.set_defaults(func=cmd_solve)


def cmd_solve(args) -> int:
    from . import _compare, _passes

    if args.name and args.expr:
        raise CLIError("give a problem NAME or --expr, not both")
    if not args.name and not args.expr:
        raise CLIError("give a problem NAME (see `ricci problems`) or --expr")
    if args.tol is not None and not (math.isfinite(args.tol) and args.tol > 0):
        raise CLIError(f"--tol must be a finite number > 0, got {args.tol}")
    if args.maxiter is not None and args.maxiter < 1:
        raise CLIError(f"--maxiter must be >= 1, got {args.maxiter}")
    if args.chunks is not None and args.chunks < 1:
        raise CLIError(f"--chunks must be a number of rows >= 1, got {args.chunks}")
    if args.chunks is not None and not args.data:
        raise CLIError("--chunks reads --data by blocks; give --data FILE (or a directory or glob of parts)")
    if args.plot:
        from ._plot import require_matplotlib

        require_matplotlib()  # fail before solving
    start = time.perf_counter()
    problem = _expr_problem(args) if args.expr else _registry_problem(args)
    build = time.perf_counter() - start
    if args.backend != "numpy":
        problem = problem.on(args.backend)
    methods = _methods(args, problem)

    print(f"ricci solve {problem.name}: {problem.description}")
    print(f"  f = {_clip(str(problem.expression), 100)}")
    stop = "the KKT residual" if problem.is_constrained else "|grad f|_inf"
    print(f"  {problem.n} unknowns; exact gradient and Hessian derived and compiled in {build:.2f} s; "
          f"stop at {stop} <= {args.tol:g}" + (f", at most {args.maxiter} iterations" if args.maxiter else ""))
    if problem.is_constrained:
        print(f"  subject to {_constraints_summary(problem)}")
    if problem.minimum is not None:
        print(f"  known minimum f* = {problem.minimum:.10g} ({problem.source})")
    print()
    with _passes.progress(args.progress, problem) as progress:  # Dask data: lines with each iteration's passes
        runs = [_compare.run_method(problem, m, tol=args.tol, maxiter=args.maxiter, progress=progress) for m in methods]
    print(_compare.table(runs))
    kkt = {}
    if problem.is_constrained:
        text, kkt = _constrained_report(problem, runs)
        print()
        print(text)
    reference, label = _compare.reference_minimum(problem, runs)
    if len(runs) > 1:
        fastest = min(runs, key=lambda r: r.wall)
        print(f"\nreference f* = {reference:.14e} ({label}); fastest: {fastest.method}")
    if args.plot:
        from ._plot import plot_runs

        plot_runs(runs, reference, label, f"ricci solve {problem.name}: {problem.description}", args.plot)
        print(f"plot written to {args.plot}")
    if args.json:
        doc = {"problem": problem.name, "description": problem.description, "source": problem.source,
               "n": problem.n, "known_minimum": problem.minimum, "reference_minimum": reference,
               "reference": label, "tol": args.tol, "maxiter": args.maxiter, "backend": args.backend,
               "runs": [{**r.as_dict(), **kkt.get(r.method, {})} for r in runs]}
        if problem.is_constrained:
            doc["subject_to"] = _constraints_summary(problem)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, default=_json_default)
        print(f"runs written to {args.json}")
    return 0


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


def _clip(text, width):
    return text if len(text) <= width else text[: width - 3] + "..."


def _methods(args, problem):
    if args.method and args.compare:
        raise CLIError("give --method or --compare, not both")
    if args.method:
        methods = [args.method]
    elif args.compare and args.compare.strip() == "all":
        methods = list(problem.methods)
    elif args.compare:
        methods = [m.strip() for m in args.compare.split(",") if m.strip()]
        if not methods:
            raise CLIError("--compare needs at least one method")
    elif problem.is_constrained:  # tron with bounds only, auglag otherwise
        methods = list(problem.methods[:1])
    else:  # the family's default (problems/_defaults.py), then the baselines
        methods = list(dict.fromkeys((default_method(problem), *DEFAULT_METHODS)))
    out = []
    for m in methods:
        try:
            key = method_for(problem, m).name
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        if key not in out:
            out.append(key)
    return out


_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE)


def _parse_number(text: str):
    """An int or a float written in ASCII digits (1, -3, 1e-3, .5, inf, nan), else None. A plain scan of
    the text: nothing is evaluated, and no input can make it recurse."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return None


def _parse_value(text: str):
    """A --param value: a number, a bool, None, a tuple of numbers (8,4 or (8, 4) or [8, 4]), else the
    string (a name such as tanh)."""
    stripped = text.strip()
    low = stripped.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    number = _parse_number(stripped)
    if number is not None:
        return number
    inner = stripped[1:-1] if len(stripped) >= 2 and stripped[0] + stripped[-1] in ("()", "[]") else stripped
    if "," in inner or inner is not stripped:
        parts = [p.strip() for p in inner.split(",")]
        if parts and parts[-1] == "":  # a trailing comma, as in (8,)
            parts.pop()
        numbers = [_parse_number(p) for p in parts]
        if numbers and all(v is not None for v in numbers):
            return tuple(numbers)
    return text


def _key_values(items, what):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CLIError(f"{what} expects NAME=VALUE, got {item!r}")
        if key in out:
            raise CLIError(f"{what} {key} is given twice")
        out[key] = value
    return out


def _constraints_summary(problem) -> str:
    """One line: how many constraint values of which kind, and how many unknowns are bounded."""
    parts = []
    for c in problem.constraints:
        equalities = int(np.count_nonzero(c.is_equality))
        kind = "linear" if c.is_linear else "nonlinear"
        counts = [f"{equalities} equalit{'y' if equalities == 1 else 'ies'}"] if equalities else []
        if c.m - equalities:
            counts.append(f"{c.m - equalities} inequalit{'y' if c.m - equalities == 1 else 'ies'}")
        parts.append(f"{' and '.join(counts)} ({kind}: {_clip(_constraint_text(c), 60)})")
    if problem.bounds is not None:
        lo, hi = problem.bounds
        bounded = int(np.count_nonzero(np.isfinite(lo) | np.isfinite(hi)))
        parts.append(f"bounds on {bounded} of {problem.n} unknowns")
    return "; ".join(parts)


def _constraint_text(c) -> str:
    lo, hi = (f"{a[0]:g}" if a.size and np.all(a == a[0]) else "lo" for a in (c.lo, c.hi))
    if lo == hi and np.all(c.lo == c.hi):
        return f"{c.expr} == {lo}"
    if np.all(np.isinf(c.lo)):
        return f"{c.expr} <= {hi}"
    if np.all(np.isinf(c.hi)):
        return f"{c.expr} >= {lo}"
    return f"{lo} <= {c.expr} <= {hi}"


def _constrained_report(problem, runs) -> tuple[str, dict]:
    """Per run: the constraint violation (constraints and bounds), the KKT residuals with multipliers
    estimated at the returned point (problems/_kkt.py, the same for every method), and a summary of those
    multipliers: how many constraint values and bounds are active, and the largest |multiplier|. Returns the
    table and, per method, the figures for --json."""
    from ._kkt import estimate_multipliers, kkt_residuals

    head = (f"{'method':<13} {'violation':>10} {'stationarity':>12} {'complement.':>11} {'sign':>9}  "
            "multipliers (active of total, largest |y|)")
    lines, figures = [head, "-" * len(head)], {}
    for r in runs:
        x = np.asarray(_host(r.result.x), dtype=np.float64)
        ys, z = estimate_multipliers(problem, x)
        kkt = kkt_residuals(problem, x, ys, z)
        violation = max([c.violation(x) for c in problem.constraints], default=0.0)
        if problem.bounds is not None:
            lo, hi = problem.bounds
            violation = max(violation, float(np.max(np.maximum(np.maximum(lo - x, x - hi), 0.0), initial=0.0)))
        blocks = [f"c{k + 1}: {np.count_nonzero(y)}/{y.size}" for k, y in enumerate(ys)]
        if z is not None:
            blocks.append(f"bounds: {np.count_nonzero(z)}/{z.size}")
        every = [np.abs(y) for y in ys] + ([np.abs(z)] if z is not None else [])
        largest = max((float(a.max()) for a in every if a.size), default=0.0)
        lines.append(f"{r.method:<13} {violation:>10.2e} {kkt.stationarity:>12.2e} {kkt.complementarity:>11.2e} "
                     f"{kkt.sign:>9.2e}  {', '.join(blocks)}; largest {largest:.3g}")
        figures[r.method] = {"constr_violation": violation, "kkt_stationarity": kkt.stationarity,
                             "kkt_complementarity": kkt.complementarity, "kkt_sign": kkt.sign}
    lines.append("(KKT residuals with least-squares multipliers at the returned point; violation: max over the "
                 "constraints and bounds; |grad|_inf above is of f alone, not 0 where constraints are active)")
    return "\n".join(lines), figures


def _host(a):
    get = getattr(a, "get", None)  # CuPy
    return get() if callable(get) and not isinstance(a, np.ndarray) else a


def _registry_problem(args):
    from . import _models, _problem
    from ._load import load

    entry = _problem.entry(args.name)
    if args.subject_to:
        raise CLIError("--subject-to is for --expr; a registered problem carries its own constraints")
    params = {k: _parse_value(v) for k, v in _key_values(args.param, "--param").items()}
    if args.wrt:
        raise CLIError("--wrt is for --expr; a registered problem knows its variables")
    if not args.data:
        return _problem.get(args.name, **params)
    if len(args.data) > 1:
        raise CLIError("a registered problem takes one --data FILE")
    label = _parse_label(args.label)
    family = entry.family
    path = args.data[0]
    builders = {"logistic": _models.logistic_regression, "softmax": _models.softmax_regression,
                "mlp": _models.mlp}
    if family == "factorization":
        if args.chunks is not None:
            raise CLIError(f"{args.name} holds its matrix in memory; --chunks does not apply")
        ds = load(path, label=None)
        T = ds.X.toarray() if hasattr(ds.X, "toarray") else ds.X  # svmlight: the factorization reads every entry
        rank = params.pop("rank", 2)
        mask = ~np.isnan(T) if np.isnan(T).any() else None
        return _models.matrix_factorization(T, rank, mask=mask, **params)
    if family not in builders:
        raise CLIError(f"problem {args.name!r} ({family}) takes no data file; --data works with "
                       "logistic-regression, softmax-regression, mlp and matrix-factorization")
    if family == "mlp" and args.chunks is not None:
        raise CLIError(f"{args.name} holds its data in memory; --chunks works with logistic-regression and "
                       "softmax-regression")
    ds = load(path, label=label, task="classification" if family in ("logistic", "softmax") else None,
              chunks=args.chunks)
    allowed = set(_problem_params(builders[family])) - {"X", "Y", "y", "name", "source", "description"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise CLIError(f"with --data, {args.name} accepts --param {', '.join(sorted(allowed))}; got {', '.join(unknown)}")
    return builders[family](ds.X, ds.y, **params)


def _problem_params(fn):
    import inspect

    return list(inspect.signature(fn).parameters)


def _parse_label(text):
    try:
        return int(text)
    except ValueError:
        return None if text.lower() == "none" else text


def _read_array(name, path, chunks=None):
    """The array in the file ``path`` for --data NAME=FILE: NumPy; a sparse CSR matrix for svmlight (a
    vector of one column dense); a Dask array with --chunks or for parts (nothing computed here)."""
    from ._chunked import is_parts
    from ._load import load, read_npy

    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy" and chunks is not None and os.path.isfile(path):  # a vector too: memory-mapped blocks
        from ._chunked import npy_array, require_dask

        return npy_array(require_dask("--chunks"), path, chunks, ValueError, ndims=(1, 2))
    if chunks is not None or is_parts(path):
        arr = load(path, label=None, chunks=chunks).X
        return _one_column(arr)
    if ext == ".npy":
        if not os.path.exists(path):
            raise CLIError(f"--data {name}: no such file {path}")
        if os.path.isdir(path):
            raise CLIError(f"--data {name}: {path} is a directory, not a .npy file")
        try:
            arr = read_npy(path)
        except ValueError as exc:
            raise CLIError(f"--data {name}: {exc}") from None
    else:
        arr = _one_column(load(path, label=None).X)
        if hasattr(arr, "nnz"):  # svmlight: kept sparse (the values were checked by the reader)
            return arr
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise CLIError(f"--data {name}: {path} holds complex numbers (dtype {arr.dtype}); expected real numbers")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CLIError(f"--data {name}: {path} holds {arr.dtype} values, expected numbers")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise CLIError(f"--data {name}: {path} holds NaN or infinite values")
    return arr


def _one_column(arr):
    """A matrix of one column as a vector (a sparse one made dense); others as they are."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr.toarray()[:, 0] if hasattr(arr, "toarray") else arr[:, 0]
    return arr


def _expr_problem(args):
    import ricci.symbolic as rs

    from ._problem import Problem

    if not hasattr(rs, "parse"):
        raise CLIError("--expr needs ricci.symbolic.parse (the matrix-language parser), not in this installation")
    data = {}
    for item in args.data:
        key, sep, path = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise CLIError(f"with --expr, --data expects NAME=FILE (e.g. X=X.npy), got {item!r}")
        data[key.strip()] = _read_array(key.strip(), path.strip(), args.chunks)
    for key, text in _key_values(args.param, "--param").items():
        value = _parse_value(text)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CLIError(f"--param {key}: expected a finite number, got {text!r}")
        if key in data:
            raise CLIError(f"{key} is given both as --data and as --param")
        data[key] = float(value)
    wrt_names = [w.strip() for item in args.wrt for w in item.split(",") if w.strip()]
    if not wrt_names:
        raise CLIError("--expr needs --wrt VAR: the variable(s) to optimize")
    shapes = {k: tuple(int(s) for s in np.shape(v)) for k, v in data.items()}
    try:
        f = rs.parse(args.expr, **shapes)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise CLIError(f"--expr: {exc}") from None
    if isinstance(f, rs.ParsedConstraint):
        raise CLIError(f"--expr is the objective, not a constraint ({args.expr!r}); give constraints with "
                       "--subject-to")
    by_name = {v.name: v for v in rs.variables(f)}
    missing = [w for w in wrt_names if w not in by_name]
    if missing:
        raise CLIError(f"--wrt {', '.join(missing)}: not a variable of the expression (its variables: "
                       f"{', '.join(sorted(by_name))})")
    if getattr(f, "ndim", 0) != 0:
        raise CLIError(f"--expr must be a scalar objective, got an expression of shape {tuple(f.shape)}")
    wrt = [by_name[w] for w in wrt_names]
    parsed = [_subject_to(rs, text, wrt, data, shapes) for text in args.subject_to]
    in_constraints = {v.name for p in parsed for v in rs.variables(p.expression)}
    # data only the constraints read is theirs; data nothing reads goes to the Objective, which names it
    obj = rs.Objective(f, wrt, {k: v for k, v in data.items() if k in by_name or k not in in_constraints})
    constraints = []
    for p in parsed:
        names = {v.name for v in rs.variables(p.expression)}
        try:
            constraints.append(rs.Constraint(p, wrt, {k: v for k, v in data.items() if k in names}))
        except (ValueError, TypeError) as exc:
            raise CLIError(f"--subject-to {p.text!r}: {exc}") from None
    try:
        bounds, general = rs.split_bounds(constraints, obj.size)
    except ValueError as exc:
        raise CLIError(f"--subject-to: {exc}") from None
    return Problem(name="expr", objective=obj, x0=np.zeros(obj.size), description=_clip(args.expr, 80),
                   source="--expr", family="expr", data=data, constraints=general, bounds=bounds)


def _subject_to(rs, text, wrt, data, shapes):
    """One --subject-to constraint, parsed (an ``rs.ParsedConstraint``) with the data's shapes and the unknowns'
    shapes in the objective, so that its sizes agree with the objective's; its names must be unknowns or data."""
    declared = {**shapes, **{v.name: tuple(d if isinstance(d, int) else str(d) for d in v.shape) for v in wrt}}
    try:
        parsed = rs.parse(text, **declared)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--subject-to {text!r}: {exc}") from None
    if not isinstance(parsed, rs.ParsedConstraint):
        raise CLIError(f"--subject-to {text!r}: expected a comparison <=, >= or == (as in \"x >= 0\" or "
                       f"\"sum(x) == 1\")")
    names = {v.name for v in rs.variables(parsed.expression)}
    unknown = sorted(names - {v.name for v in wrt} - set(data))
    if unknown:
        raise CLIError(f"--subject-to {text!r}: {', '.join(unknown)} is neither an unknown (--wrt "
                       f"{', '.join(v.name for v in wrt)}) nor --data/--param")
    if not names & {v.name for v in wrt}:
        raise CLIError(f"--subject-to {text!r}: it involves none of the unknowns ({', '.join(v.name for v in wrt)})")
    return parsed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
