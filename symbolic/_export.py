"""Code export: a standalone Python module computing an expression and its derivatives (no ricci import).

``rs.export(f, wrt=[x], order=2, name="f")`` returns the module's text. It holds the generated kernel (the
same code ``rs.compile`` runs), a function ``f(**arrays)`` that binds the inputs as the compiled function
does and returns a dict of outputs (``value``, ``d_x``, ``d2_x`` ...), and a ``__main__`` that draws random
data of random sizes and checks each derivative against central finite differences of the one below it, as
matrixcalculus.org's export does, but for any order. The binding and the check are not rewritten for the
export: the source of :mod:`._binding` and :mod:`._fdcheck` (standalone by design) is embedded as it is.
The module runs on NumPy, and on CuPy or any array-API library when array-api-compat is installed.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import numbers
import sys

from . import _binding, _dask_sparse, _fdcheck
from ._calculus import derivative_table, resolve_variable, variables
from ._codegen import CompiledFunction
from ._dims import plain_shape, plain_ties, shape_str
from ._names import identifier
from ._nodes import Expr
from ._printing import index_notation, to_str

EMBEDDED = (_dask_sparse, _binding, _fdcheck)  # in order: a later module may use an earlier one's names


@functools.cache  # the embedded modules' source does not change while ricci runs
def standalone_source(modules=EMBEDDED) -> tuple[str, str]:
    """(imports, definitions): the source of ``modules`` without their docstrings, their imports gathered
    (the standard library's first, with ``sys`` for the module's ``__main__``) and deduplicated, and their
    imports of each other dropped (the names are defined alongside)."""
    imports: list[str] = ["import sys"]
    bodies: list[str] = []
    embedded = {m.__name__.rsplit(".", 1)[1] for m in modules}
    for module in modules:
        text = inspect.getsource(module)
        tree = ast.parse(text)
        lines = text.splitlines()
        body = list(tree.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        while body and _is_import(body[0]):
            node = body.pop(0)
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.module not in embedded:
                    raise RuntimeError(f"{module.__name__} imports .{node.module}, which is not embedded")
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            segment = "\n".join(lines[node.lineno - 1:node.end_lineno])
            if segment not in imports:
                imports.append(segment)
        if any(_is_import(node) for node in body):
            raise RuntimeError(f"{module.__name__}: imports must come before the definitions to be embedded")
        start = min([body[0].lineno] + [d.lineno for d in getattr(body[0], "decorator_list", [])])
        where = module.__name__.split(".", 1)[1].replace(".", "/")  # symbolic/_binding
        bodies.append(f"# ---- from {where}.py ----\n" + "\n".join(lines[start - 1:]).rstrip() + "\n")
    stdlib = sorted(i for i in imports if _top_module(i) in sys.stdlib_module_names)
    others = [i for i in imports if i not in stdlib]
    return "\n".join(stdlib) + "\n\n" + "\n".join(others), "\n\n".join(bodies)


def _top_module(statement: str) -> str:
    node = ast.parse(statement).body[0]
    if isinstance(node, ast.Try):
        node = node.body[0]
    return (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]


def _is_import(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    return isinstance(node, ast.Try) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body)


def export(exprs, wrt=None, order: int = 1, name: str = "f") -> str:
    """The text of a standalone module computing ``exprs`` and their derivatives (see the module docstring).

    ``exprs``: one expression, differentiated w.r.t. ``wrt`` (variables or names; default: all of them) up
    to ``order``; or a list of expressions, exported as they are (outputs ``out0``, ``out1``, ...).
    """
    name = identifier(name, "export: name", keywords=False)
    if name.startswith("_") or name in _module_names():
        raise ValueError(f"export: the name {name!r} is taken by the module's own definitions; choose another "
                         f"(names starting with '_' are reserved)")
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 0:
        raise ValueError(f"export: order must be a non-negative int, got {order!r}")
    if isinstance(exprs, Expr):
        f = exprs
        several = wrt if isinstance(wrt, (list, tuple)) else [wrt]
        vs = variables(f) if wrt is None else [resolve_variable(f, v, "export") for v in several]
        rows = derivative_table(f, vs, int(order))
    else:
        items = list(exprs) if isinstance(exprs, (list, tuple)) else []
        if not items or not all(isinstance(e, Expr) for e in items):
            raise TypeError("export: expected an expression or a non-empty list of expressions")
        rows = [(f"out{k}", e, None, None, 0) for k, e in enumerate(items)]
    fn = CompiledFunction([r[1] for r in rows], single=False, name="_kernel")
    var_shapes = {v.name: plain_shape(v.shape) for v in fn.variables}
    consts = "".join(f"\n    {_array_code(c)}," for c in fn.constants)
    outputs = [r[0] for r in rows]
    checks = [(r[0], r[2], r[3], r[4]) for r in rows if r[2] is not None]
    doc_lines = []
    for out, e, *_ in rows:
        text = to_str(e) if e.ndim <= 2 else index_notation(e, out)
        doc_lines.append(_docstring_text(f"    {out} {shape_str(e.shape)}: {text}"))
    args = ", ".join(var_shapes)
    imports, definitions = standalone_source()
    return f'''"""Generated by ricci (https://pypi.org/project/ricci): {name} and its derivatives.

Outputs (shape; expression):
{chr(10).join(doc_lines)}

Call {name}({", ".join(f"{v}=..." for v in var_shapes)}) with arrays (NumPy; CuPy or other array-API arrays when array-api-compat is
installed); it returns a dict of the outputs above. Run this file to check the derivatives against finite
differences on random data.
"""

{imports}

VARIABLES = {var_shapes!r}  # name -> shape: sizes, dimension names, or tuples of them (their product)
TIES = {plain_ties(fn.ties)!r}  # dimensions that must be equal
DIMENSIONS = {list(fn.dim_names)!r}
OUTPUTS = {outputs!r}
DERIVATIVES = {checks!r}  # (output, the output it differentiates, variable, order)
PARAMETERS = {fn.parameters!r}  # the kernel's positional parameters
CONSTANTS = ({consts}
)


{definitions}

_BINDING = Binding({name!r}, VARIABLES, PARAMETERS, TIES, CONSTANTS)


{fn.source}

def {name}(**arrays):
    """{", ".join(outputs)} for the arrays {args} given by keyword (and sizes, ``n=5``, of dimensions no
    shape determines), as a dict; see the module docstring."""
    return dict(zip(OUTPUTS, _kernel(*_BINDING.arguments(arrays))))


if __name__ == "__main__":
    result = finite_difference_check({name}, VARIABLES, DERIVATIVES, ties=TIES, dimensions=DIMENSIONS)
    print(result)
    sys.exit(0 if result.passed else 1)
'''


def _array_code(c) -> str:
    """A float64 NumPy array as code of the exported module (which imports NumPy as ``np``): its entries as
    nested lists, infinities and NaN (which have no literal) as ``np.inf`` and ``np.nan``. An integer array
    (the positions of take and scatter_add) stays int64."""
    dtype = "np.int64" if c.dtype.kind in "iu" else "np.float64"
    if c.size == 0:
        return f"np.zeros({c.shape!r}, dtype={dtype})"

    def code(x) -> str:
        if isinstance(x, list):
            return "[" + ", ".join(code(item) for item in x) + "]"
        return repr(x) if math.isfinite(x) else "np.nan" if math.isnan(x) else "np.inf" if x > 0 else "-np.inf"

    return f"np.asarray({code(c.tolist())}, dtype={dtype})"


def _docstring_text(text: str) -> str:
    """``text`` safe inside the module's docstring: backslashes and quotes escaped (a label or a function's
    name cannot close the docstring or start an escape sequence)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


@functools.cache
def _module_names() -> frozenset:
    """The top-level names of the exported module other than the function (which must not shadow them)."""
    imports, definitions = standalone_source()
    names = {"VARIABLES", "TIES", "DIMENSIONS", "OUTPUTS", "DERIVATIVES", "PARAMETERS", "CONSTANTS"}
    for node in ast.walk(ast.parse(imports + "\n" + definitions)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in ast.parse(definitions).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names)
