"""Code export: a standalone Python module computing an expression and its derivatives (no ricci import).

``rs.export(f, wrt=[x], order=2, name="f")`` returns the module's text. It holds the generated kernel (the
same code ``rs.compile`` runs), a function ``f(**arrays)`` that checks the inputs' shapes, binds the
dimensions and returns a dict of outputs (``value``, ``d_x``, ``d2_x`` ...), and a ``__main__`` that draws
random data of random sizes and checks each derivative against central finite differences of the one
below it, as matrixcalculus.org's export does, but for any order. The module runs on NumPy, and on CuPy or
any array-API library when array-api-compat is installed.
"""

from __future__ import annotations

import numbers

from ._calculus import _resolve, variables
from ._codegen import CompiledFunction
from ._differentiate import derivative_once
from ._dims import shape_str
from ._nodes import Expr
from ._printing import index_notation, to_str

# The finite-difference self-check, shared by the exported module (as source text) and `ricci diff --check`.
CHECK_SOURCE = '''
def _random_inputs(variables, seed):
    """Random sizes (2 to 5) for the symbolic dimensions, random arrays: positive entries, and square
    matrices made well conditioned, so that log, sqrt, inv and det are defined."""
    rng = np.random.default_rng(seed)
    sizes = {}
    values = {}
    for name, shape in variables.items():
        dims = []
        for d in shape:
            if isinstance(d, int):
                dims.append(d)
            else:
                if d not in sizes:
                    sizes[d] = int(rng.integers(2, 6))
                dims.append(sizes[d])
        a = rng.uniform(0.5, 1.5, size=dims) / (max(dims) if dims else 1)
        if len(dims) == 2 and dims[0] == dims[1]:
            a = a + np.eye(dims[0])
        values[name] = a
    return values, sizes


def _finite_difference_check(fun, variables, derivatives, seed=0, h=1e-6, verbose=True):
    """For each (output, lower output, variable): the directional derivative of the lower output, by
    central differences, against the output contracted with the direction. Returns the worst relative
    error."""
    values, sizes = _random_inputs(variables, seed)
    rng = np.random.default_rng(seed + 1)
    base = fun(**values)
    worst = 0.0
    if verbose:
        print("random sizes: " + (", ".join(f"{k} = {v}" for k, v in sorted(sizes.items())) or "none"))
    for out, lower, var in derivatives:
        x0 = np.asarray(values[var], dtype=float)
        v = rng.normal(size=x0.shape)
        plus = fun(**{**values, var: x0 + h * v})[lower]
        minus = fun(**{**values, var: x0 - h * v})[lower]
        fd = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
        exact = np.tensordot(np.asarray(base[out]), v, axes=v.ndim) if v.ndim else np.asarray(base[out]) * v
        err = float(np.max(np.abs(fd - exact)) / max(1.0, float(np.max(np.abs(exact))) if exact.size else 1.0))
        worst = max(worst, err)
        if verbose:
            print(f"  {out:<16} vs finite differences of {lower:<14}: relative error {err:.1e}")
    return worst
'''


def _output_name(order: int, var: str) -> str:
    return "value" if order == 0 else (f"d_{var}" if order == 1 else f"d{order}_{var}")


def derivative_table(f: Expr, wrt, order: int):
    """[(output name, expression, lower output name, variable name)] for f and its derivatives."""
    rows = [("value", f, None, None)]
    for v in wrt:
        prev, prev_name = f, "value"
        for k in range(1, order + 1):
            d = derivative_once(prev, v)
            name = _output_name(k, v.name)
            rows.append((name, d, prev_name, v.name))
            prev, prev_name = d, name
    return rows


def export(exprs, wrt=None, order: int = 1, name: str = "f") -> str:
    """The text of a standalone module computing ``exprs`` and their derivatives (see the module docstring).

    ``exprs``: one expression, differentiated w.r.t. ``wrt`` (variables or names; default: all of them) up
    to ``order``; or a list of expressions, exported as they are (outputs ``out0``, ``out1``, ...).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"export: name must be an identifier, got {name!r}")
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 0:
        raise ValueError(f"export: order must be a non-negative int, got {order!r}")
    if isinstance(exprs, Expr):
        f = exprs
        vs = variables(f) if wrt is None else [_resolve(f, v, "export") for v in (wrt if isinstance(wrt, (list, tuple)) else [wrt])]
        rows = derivative_table(f, vs, int(order))
    else:
        items = list(exprs)
        if not items or not all(isinstance(e, Expr) for e in items):
            raise TypeError("export: expected an expression or a non-empty list of expressions")
        rows = [(f"out{k}", e, None, None) for k, e in enumerate(items)]
    fn = CompiledFunction([r[1] for r in rows], single=False, name="_kernel")
    kernel_source = fn.source
    var_shapes = {v.name: tuple(d if isinstance(d, int) else str(d) for d in v.shape) for v in fn.variables}
    consts = "\n".join(f"_C{k} = np.asarray({c.tolist()!r}, dtype=float)" for k, c in enumerate(fn._consts))
    outputs = [r[0] for r in rows]
    checks = [(r[0], r[2], r[3]) for r in rows if r[2] is not None]
    doc_lines = []
    for out, e, _, _ in rows:
        text = to_str(e) if e.ndim <= 2 else index_notation(e, out)
        doc_lines.append(f"    {out} {shape_str(e.shape)}: {text}")
    args = ", ".join(var_shapes)
    const_args = "".join(f", xp.asarray(_C{k}, dtype=dtype, device=device) if device is not None else xp.asarray(_C{k}, dtype=dtype)"
                         for k in range(len(fn._consts)))
    dim_args = "".join(f", sizes[{d!r}]" for d in fn.dim_names)
    return f'''"""Generated by ricci (https://pypi.org/project/ricci): {name} and its derivatives.

Outputs (shape; expression):
{chr(10).join(doc_lines)}

Call {name}({args}) with arrays (NumPy; CuPy or other array-API arrays when array-api-compat is
installed); it returns a dict of the outputs above. Run this file to check the derivatives against finite
differences on random data.
"""

import sys

import numpy as np

try:
    import array_api_compat
except ImportError:  # plain NumPy (>= 2.0) only
    array_api_compat = None

VARIABLES = {var_shapes!r}
OUTPUTS = {outputs!r}
DERIVATIVES = {checks!r}  # (output, the output it differentiates, variable)
{consts}


def _namespace(arrays):
    if array_api_compat is None:
        return np, None
    arrs = [a for a in arrays if hasattr(a, "shape")]
    xp = array_api_compat.array_namespace(*arrs) if arrs else array_api_compat.array_namespace(np.zeros(0))
    return xp, (array_api_compat.device(arrs[0]) if arrs else None)


{kernel_source}

def {name}({args}):
    """Compute {", ".join(outputs)}; see the module docstring."""
    given = dict({", ".join(f"{v}={v}" for v in var_shapes)})
    xp, device = _namespace(list(given.values()))
    floats = [a.dtype for a in given.values() if hasattr(a, "dtype") and xp.isdtype(a.dtype, "real floating")]
    dtype = xp.result_type(*floats) if floats else xp.float64
    sizes = {{}}
    arrays = {{}}
    for key, shape in VARIABLES.items():
        a = given[key]
        a = xp.asarray(a, dtype=dtype) if device is None else xp.asarray(a, dtype=dtype, device=device)
        if len(a.shape) != len(shape):
            raise ValueError(f"{{key}}: expected {{len(shape)}} axes {{shape}}, got shape {{tuple(a.shape)}}")
        for d, s in zip(shape, a.shape):
            want = d if isinstance(d, int) else sizes.setdefault(d, int(s))
            if want != int(s):
                raise ValueError(f"{{key}}: expected shape {{tuple(sizes.get(x, x) for x in shape)}} "
                                 f"(dimension {{d}} = {{want}}), got {{tuple(a.shape)}}")
        arrays[key] = a
    results = _kernel(xp, dtype, device{dim_args}, *arrays.values(){const_args})
    return dict(zip(OUTPUTS, results))
{CHECK_SOURCE}

if __name__ == "__main__":
    worst = _finite_difference_check({name}, VARIABLES, DERIVATIVES)
    print("OK" if worst < 1e-5 else "MISMATCH", f"(worst relative error {{worst:.1e}})")
    sys.exit(0 if worst < 1e-5 else 1)
'''
