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
  ricci diff "x'*A*x <= 1" --hessian              a constraint: lo <= c <= hi, then c's derivatives
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
    p.add_argument("expr", help="the expression, e.g. \"x'*A*x\", or a constraint, e.g. \"x'*x <= 1\" (its "
                   "function c is differentiated)")
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
        for d in parts:  # '²' and '٣' are digits to str.isdigit but not sizes one should guess at
            if not (d.isascii() and (d.isdigit() or d.isidentifier())):
                raise ValueError(f"--shape {item!r}: each dimension is a size in ASCII digits or a name such as n; "
                                 f"got {d!r}")
        shapes[name.strip()] = tuple(int(d) if d.isdigit() else d for d in parts)
    return shapes


def run(args) -> int:
    import ricci.symbolic as rs

    shapes = _shapes(args.shape)
    try:
        f = rs.parse(args.expr, **shapes)
    except rs.ParseError as exc:
        notes = "".join(f"; {d.explain(_declaration(d.name, d.fix))}" for d in exc.defaults)
        raise ValueError(f"cannot parse the expression: {exc.message} at column {exc.position + 1} "
                         f"of {args.expr!r}{notes}") from None
    constraint = f if isinstance(f, rs.ParsedConstraint) else None
    if constraint is not None:  # a comparison: differentiate its constraint function c (named f below)
        f = constraint.expression
    if args.order is not None:
        _check_order(args.order)
    order = 2 if args.hessian else (args.order or 1)
    names = [v.name for v in rs.variables(f)]
    for name in args.wrt or []:
        if name not in names:
            raise ValueError(f"--wrt {name}: the expression has no variable named {name!r} "
                             f"(its variables: {', '.join(names) or 'none'})")
    wrt = [rs.variable(f, name) for name in args.wrt] if args.wrt else rs.variables(f)
    if (args.hessian or args.hvp or order >= 2) and f.ndim != 0:
        what = "--hvp" if args.hvp else "a Hessian"
        raise ValueError(f"{what} needs a scalar expression; this one has shape {_shape(f)}"
                         f"{_scalar_by_declaration(args.expr, shapes, f)} (or use --order 1)")
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
    if constraint is not None:
        print(f"constraint: {constraint}")
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


def _check_order(order: int) -> None:
    """--order K for 1 <= K <= the highest order rs.derivative builds (asked of it on a scalar variable,
    whose derivatives are 1 and then 0: no work), so that --order 10**20 is refused at once."""
    import ricci.symbolic as rs

    if order < 1:
        raise ValueError(f"--order must be at least 1, got {order}")
    t = rs.Scalar("t")
    try:
        rs.derivative(t, t, order)
    except ValueError as exc:
        raise ValueError(f"--order {order}: {str(exc).partition(': ')[2]}") from None


def _declaration(name: str, dims: tuple) -> str:
    """--shape NAME=DIMS for a shape as a tuple of dimensions: lam= , b=n , X=m,n ."""
    return f"--shape {name}={','.join(str(d) for d in dims)}"


def _default_kind(name: str) -> str:
    """The shape an undeclared name gets from its first letter: a-g scalars, h-z vectors, A-Z matrices."""
    return "scalar" if "a" <= name[0] <= "g" else "vector" if "h" <= name[0] <= "z" else "matrix"


def _scalar_by_declaration(text: str, shapes: dict, f) -> str:
    """Where a name without --shape has a default shape and declaring it a scalar makes the expression a
    scalar: a note naming it, the rule that gave it its shape and the --shape that declares it a scalar
    (e.g. lam, a vector by its first letter, in 0.5*lam*w'*w)."""
    import ricci.symbolic as rs

    notes = []
    for v in rs.variables(f):
        if v.name in shapes or v.ndim == 0:
            continue
        try:
            scalar = rs.parse(text, **shapes, **{v.name: ()}).ndim == 0
        except (ValueError, TypeError):
            scalar = False
        if scalar:
            notes.append(f"; {v.name} is a {_default_kind(v.name)} by its first letter (names starting with a-g "
                         f"are scalars, h-z vectors, A-Z matrices): if it is a scalar, declare it with "
                         f"{_declaration(v.name, ())}")
    return "".join(notes)


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
