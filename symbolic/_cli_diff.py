"""``ricci diff``: differentiate an expression written in the matrix language, from the command line."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  ricci diff "x'*A*x"                              gradient w.r.t. x and A, in matrix notation
  ricci diff "x'*A*x" --wrt x --hessian            prints A + A'
  ricci diff "sum(log(exp(-y.*(X*w)) + vector(1)))" --wrt w --hessian --check
  ricci diff "norm2(X - U*V')^2" --wrt U --hessian  index notation: H[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]
  ricci diff "log(det(X))" --order 3 --latex
  ricci diff "x'*A*x + b'*x + c" --shape b=n --hvp
  ricci diff "tr(A*X*B)" --wrt X --export > dtr.py && python dtr.py
shapes: by default a-g are scalars, h-z vectors, A-Z matrices (as on matrixcalculus.org); declare others
with --shape NAME=DIMS, e.g. --shape A=n,n --shape x=n --shape c= (a scalar); dimensions may be integers.
"""


def register(sub) -> None:
    """Add the ``diff`` subcommand to the ``ricci`` command's subparsers."""
    p = sub.add_parser(
        "diff", help="differentiate a matrix expression (matrix notation, LaTeX, code export)",
        description="Differentiate an expression in the matrix language and print the derivatives in matrix "
                    "notation (index notation where none exists), LaTeX, or a standalone Python module.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expr", help="the expression, e.g. \"x'*A*x\"")
    p.add_argument("--wrt", action="append", metavar="VAR", help="variable to differentiate by (repeatable; "
                   "default: each variable in turn)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--order", type=int, default=None, metavar="K", help="derivatives up to order K (default 1)")
    how.add_argument("--hessian", action="store_true", help="up to the second derivative")
    how.add_argument("--hvp", action="store_true", help="the Hessian-vector product H v (never forming H)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="declare a variable's shape: A=n,n  x=n  c= (repeatable)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print LaTeX")
    out.add_argument("--export", action="store_true", help="print a standalone Python module computing them")
    p.add_argument("--check", action="store_true", help="check against finite differences on random data")
    p.set_defaults(func=run)


def _shapes(items) -> dict:
    shapes = {}
    for item in items:
        name, eq, dims = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise ValueError(f"--shape expects NAME=DIMS such as A=n,n or c= ; got {item!r}")
        parts = [d.strip() for d in dims.split(",") if d.strip()]
        shapes[name.strip()] = tuple(int(d) if d.isdigit() else d for d in parts)
    return shapes


def run(args) -> int:
    import numpy as np

    import ricci.symbolic as rs

    from ._export import CHECK_SOURCE, derivative_table, export
    from ._parse import ParseError

    try:
        f = rs.parse(args.expr, **_shapes(args.shape))
    except ParseError as exc:
        raise ValueError(f"cannot parse the expression: {exc.message} at column {exc.position + 1} "
                         f"of {args.expr!r}") from None
    if args.order is not None and args.order < 1:
        raise ValueError(f"--order must be at least 1, got {args.order}")
    order = 2 if args.hessian else (args.order or 1)
    vs = rs.variables(f)
    wrt = [rs._calculus._resolve(f, name, "--wrt") for name in args.wrt] if args.wrt else vs
    if (args.hessian or args.hvp or order >= 2) and f.ndim != 0:
        what = "--hvp" if args.hvp else "a Hessian"
        raise ValueError(f"{what} needs a scalar expression; this one has shape {_shape(f)} (use --order 1)")
    show = rs.latex if args.latex else rs.to_str

    def show_named(e, name):
        if e.ndim <= 2:
            text = show(e)
            if "=" not in text:
                return text
        return rs.index_notation(e, name, latex=args.latex)

    if args.export:
        print(export(f, wrt=wrt, order=order, name="f"), end="")
        return 0
    print(f"f = {show(f)}" if f.ndim <= 2 else rs.index_notation(f, "f", latex=args.latex))
    rows = []
    for v in wrt:
        if args.hvp:
            direction = rs.Var.make(_fresh_name(f, "v"), v.shape)
            e = rs.hvp(f, v, direction)
            label = f"H_{v.name} {direction.name}"
            print(f"{label} = {show_named(e, 'Hv')}")
            rows.append((label, e))
            continue
        table = derivative_table(f, [v], order)[1:]
        for out, e, _, _ in table:
            k = int(out[1]) if out[1].isdigit() else 1
            label = f"d{'' if k == 1 else k}f/d{v.name}{'' if k == 1 else k}"
            print(f"{label} = {show_named(e, 'D')}" if e.ndim <= 2 else f"{label}: {show_named(e, 'D')}")
            rows.append((label, e))
    if args.check:
        ns: dict = {"np": np}
        exec(CHECK_SOURCE, ns)
        table = derivative_table(f, wrt, order) if not args.hvp else derivative_table(f, wrt, 2)
        fn = rs.compile([r[1] for r in table])
        variables = {var.name: tuple(d if isinstance(d, int) else str(d) for d in var.shape) for var in fn.variables}
        names = [r[0] for r in table]

        def evaluate(**values):
            return dict(zip(names, fn(**values)))

        print("finite-difference check:")
        worst = ns["_finite_difference_check"](evaluate, variables, [(r[0], r[2], r[3]) for r in table if r[2]])
        ok = worst < 1e-5
        print("OK" if ok else "MISMATCH", f"(worst relative error {worst:.1e})")
        return 0 if ok else 1
    return 0


def _shape(e) -> str:
    return "(" + ", ".join(str(d) for d in e.shape) + ")"


def _fresh_name(f, base: str) -> str:
    import ricci.symbolic as rs

    taken = {v.name for v in rs.variables(f)}
    name = base
    k = 1
    while name in taken:
        name = f"{base}{k}"
        k += 1
    return name
