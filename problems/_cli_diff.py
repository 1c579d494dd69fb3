"""``ricci diff``: differentiate an expression written in the matrix language, from the command line.

Built on the public ``ricci.symbolic`` API only (parse, derivative, hvp, printing, export, check_derivatives).
"""

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
    import ricci.symbolic as rs

    try:
        f = rs.parse(args.expr, **_shapes(args.shape))
    except rs.ParseError as exc:
        raise ValueError(f"cannot parse the expression: {exc.message} at column {exc.position + 1} "
                         f"of {args.expr!r}") from None
    if args.order is not None and args.order < 1:
        raise ValueError(f"--order must be at least 1, got {args.order}")
    order = 2 if args.hessian else (args.order or 1)
    names = [v.name for v in rs.variables(f)]
    for name in args.wrt or []:
        if name not in names:
            raise ValueError(f"--wrt {name}: the expression has no variable named {name!r} "
                             f"(its variables: {', '.join(names) or 'none'})")
    wrt = [rs.variable(f, name) for name in args.wrt] if args.wrt else rs.variables(f)
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
        print(rs.export(f, wrt=wrt, order=order, name="f"), end="")
        return 0
    print(f"f = {show(f)}" if f.ndim <= 2 else rs.index_notation(f, "f", latex=args.latex))
    for v in wrt:
        if args.hvp:
            direction = rs.Tensor(_fresh_name(f, "v"), *v.shape)
            label = f"H_{v.name} {direction.name}"
            print(f"{label} = {show_named(rs.hvp(f, v, direction), 'Hv')}")
            continue
        e = f
        for k in range(1, order + 1):
            e = rs.derivative(e, v)
            label = f"df/d{v.name}" if k == 1 else f"d{k}f/d{v.name}{k}"
            print(f"{label} = {show_named(e, 'D')}" if e.ndim <= 2 else f"{label}: {show_named(e, 'D')}")
    if args.check:
        result = rs.check_derivatives(f, wrt=wrt, order=2 if args.hvp else order)
        print("finite-difference check on random data:")
        print(result)
        return 0 if result.passed else 1
    return 0


def _shape(e) -> str:
    return "(" + ", ".join(str(d) for d in e.shape) + ")"


def _fresh_name(f, base: str) -> str:
    """``base``, or ``base1``, ``base2``, ... : the first that names no variable of ``f``."""
    import ricci.symbolic as rs

    taken = {v.name for v in rs.variables(f)}
    name = base
    k = 1
    while name in taken:
        name = f"{base}{k}"
        k += 1
    return name
