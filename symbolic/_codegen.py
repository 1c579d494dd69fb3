"""Compilation: one or several expressions into one Python function over the array-API namespace of its inputs.

The expressions' DAG is scheduled once (children before parents), so a subexpression shared by f, its
gradient and its Hessian (``X @ w``) is computed once. Every node becomes one or a few lines of readable
code in a kernel ``def kernel(xp, dtype, device, <dims>, <variables>)``; temporaries are deleted after their
last use. The kernel uses only the standard namespace ``xp`` (from array-api-compat), so the same compiled
function runs on NumPy, CuPy and array-api-strict arrays. The wrapper validates and converts the inputs,
binds the symbolic dimensions from their shapes, and checks every dimension tie.
"""

from __future__ import annotations

import builtins
import keyword
import numbers
import time

import array_api_compat
import numpy as np

from . import _functions as F
from ._dims import Ties, bind_dimensions, dim_symbol, merge_all, shape_str
from ._emit import EmitContext, emit
from ._lower import DIAGONAL_HELPER
from ._nodes import Add, Contract, Expr, Fill, Var, topological


def _safe(name: str) -> str:
    return name if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_") else f"v_{name}"


class CompiledFunction:
    """A compiled set of expressions: call with the variables by keyword; ``.source`` is the generated code.

    Returns one array for a single expression, a tuple for a list or tuple of expressions. dtype and device
    follow the inputs (float64 unless the floating inputs are all float32); integer inputs are converted.
    """

    def __init__(self, exprs, *, single: bool, name: str = "kernel", sizes: dict | None = None, extra=()):
        self.outputs = tuple(exprs)
        self.single = single
        self.name = name
        self.variables = _collect_variables(self.outputs, extra)
        self.ties: Ties = merge_all(e.ties for e in topological(self.outputs))
        self._hints = dict(sizes or {})
        self._consts: list = []
        self._const_cache: dict = {}
        self._bind_cache: dict = {}
        start = time.perf_counter()
        self.source = self._generate()
        namespace: dict = {}
        exec(builtins.compile(self.source, f"<ricci:{name}>", "exec"), namespace)
        self._kernel = namespace[name]
        self.compile_seconds = time.perf_counter() - start

    # ---------------------------------------------------------------------------------------------------
    def _generate(self) -> str:
        nodes = _schedule(self.outputs)
        names: dict = {}
        for v in self.variables:
            names[v] = _safe(v.name)
        symbols = sorted({str(s) for n in nodes for d in n.shape if not isinstance(d, int) for s in d.free_symbols})
        self.dim_names = symbols
        dim_param = {s: f"dim_{s}" for s in symbols}

        def dim_code(d) -> str:
            if isinstance(d, int):
                return str(d)
            code = str(d)
            for s in sorted(symbols, key=len, reverse=True):
                code = _replace_symbol(code, s, dim_param[s])
            return code

        def shape_code(shape) -> str:
            parts = [dim_code(d) for d in shape]
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

        last_use: dict = {}
        uses: dict = {}
        for k, node in enumerate(nodes):
            for c in _operands(node):
                last_use[c] = k
                uses[c] = uses.get(c, 0) + 1
        ctx = EmitContext(names, dim_code, shape_code, self._hints)
        # c * (product used only here): the factor goes onto the product's smallest operand, and the product
        # is computed under the scaled node's name
        for node in nodes:
            if isinstance(node, Add) and len(node.terms) == 1 and isinstance(node.terms[0], Contract):
                t = node.terms[0]
                if uses.get(t) == 1 and t not in self.outputs:
                    ctx.scales[t] = node
        taken = set(names.values())
        counter = 0
        for node in nodes:
            if node not in names and node not in ctx.scales:
                while f"t{counter}" in taken:
                    counter += 1
                names[node] = f"t{counter}"
                counter += 1
        for product, scaled in ctx.scales.items():
            names[product] = names[scaled]
        outputs = set(self.outputs)
        body: list[str] = []
        for k, node in enumerate(nodes):
            target = names[node]
            body.extend(emit(node, target, ctx))
            dead = [names[c] for c in dict.fromkeys(_operands(node))
                    if last_use.get(c) == k and c not in outputs and not isinstance(c, Var) and names[c] != target]
            if dead and body and body[-1].startswith("del "):
                body[-1] += ", " + ", ".join(dead)  # one del for the product's intermediates and dead operands
            elif dead:
                body.append("del " + ", ".join(dead))
        self._consts = ctx.constants
        ret = ", ".join(names[e] for e in self.outputs)
        body.append(f"return {ret}" + ("," if not self.single and len(self.outputs) == 1 else ""))
        params = ["xp", "dtype", "device"] + [dim_param[s] for s in symbols] + [names[v] for v in self.variables]
        params += [ctx.constant_name(k) for k in range(len(ctx.constants))]
        header = []
        for h in sorted(ctx.helpers, key=str):
            header.append(DIAGONAL_HELPER if h == "_diagonal" else F.HELPERS[h][1])
        sig = f"def {self.name}({', '.join(params)}):"
        return "\n".join(header + [sig] + ["    " + line for line in body]) + "\n"

    # ---------------------------------------------------------------------------------------------------
    def __call__(self, **arrays):
        expected = {v.name: v for v in self.variables}
        given_dims = {k: arrays.pop(k) for k in list(arrays) if k not in expected and k in self.dim_names}
        for k, v in given_dims.items():
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{self.name}: the size {k} must be a non-negative int, got {v!r}")
        missing = [n for n in expected if n not in arrays]
        unknown = [n for n in arrays if n not in expected]
        if missing or unknown:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(f"{n} {shape_str(expected[n].shape)}" for n in missing))
            if unknown:
                parts.append("unknown " + ", ".join(unknown))
            raise ValueError(
                f"{self.name}: {'; '.join(parts)}; expected the variables "
                + ", ".join(f"{v.name} {shape_str(v.shape)}" for v in self.variables)
            )
        xp, dtype, device = _namespace(arrays, self.name)
        values = {}
        for name, v in expected.items():
            values[name] = _convert(xp, arrays[name], dtype, device, name)
        key = tuple(tuple(a.shape) for a in values.values()) + tuple(sorted(given_dims.items()))
        sizes = self._bind_cache.get(key)
        if sizes is None:  # binding depends only on the shapes: validate once per shape signature
            sizes = self._bind(values, given_dims)
            if len(self._bind_cache) < 64:
                self._bind_cache[key] = sizes
        dims = [self._size(s, sizes) for s in self.dim_names]
        consts = [self._const(xp, k, dtype, device) for k in range(len(self._consts))]
        result = self._kernel(xp, dtype, device, *dims, *[values[v.name] for v in self.variables], *consts)
        return result if self.single else tuple(result)

    def _bind(self, values: dict, given: dict) -> dict:
        sizes: dict = {k: int(v) for k, v in given.items()}
        source: dict = {k: "a keyword" for k in given}
        items = [(v.name, v.shape, tuple(int(n) for n in values[v.name].shape))
                 for v in sorted(self.variables, key=lambda v: -v.ndim)]
        bind_dimensions(
            items, sizes, source, self.ties,
            on_rank=lambda name, shape, got: ValueError(
                f"{name}: expected a {len(shape)}-D array of shape {shape_str(shape)}, got shape {got}"),
            on_size=lambda name, shape, expected, where, got: ValueError(
                f"{name}: expected shape {shape_str(shape)} = {shape_str(expected)}"
                + (f" ({where})" if where else "") + f", got {got}"),
        )
        self.ties.check_sizes(sizes, lambda d: f" (from {source[str(d)]})" if str(d) in source else "")
        return sizes

    def _size(self, s: str, sizes: dict) -> int:
        if s not in sizes:
            raise ValueError(f"{self.name}: dimension {s} is not determined by the shapes of the inputs; "
                             f"pass it as {s}=<int>")
        return sizes[s]

    def _const(self, xp, k, dtype, device):
        key = (id(xp), str(dtype), str(device), k)
        hit = self._const_cache.get(key)
        if hit is None:
            hit = self._const_cache[key] = xp.asarray(self._consts[k], dtype=dtype, device=device)
        return hit

    def __repr__(self):
        outs = ", ".join(f"{shape_str(e.shape)}" for e in self.outputs)
        args = ", ".join(f"{v.name}{shape_str(v.shape)}" for v in self.variables)
        return f"<ricci compiled {self.name}({args}) -> {outs}; see .source>"


def _operands(node) -> tuple:
    """The children whose values the node's code reads (constant terms of a sum are written as literals)."""
    if isinstance(node, Add):
        return tuple(t for t in node.terms if not isinstance(t, Fill))
    return node.children()


def _schedule(outputs) -> list:
    """Nodes to compute, children before parents, each once."""
    return topological(outputs, _operands)




def _replace_symbol(code: str, name: str, replacement: str) -> str:
    import re

    return re.sub(rf"\b{re.escape(name)}\b", replacement, code)


def _collect_variables(outputs, extra=()) -> list:
    found, names = [], {}
    for node in list(extra) + topological(outputs):
        if isinstance(node, Var):
            if node.name in names and names[node.name] is not node:
                raise ValueError(
                    f"compile: two variables are named {node.name!r}, with shapes {shape_str(names[node.name].shape)}"
                    f" and {shape_str(node.shape)}; rename one"
                )
            if node.name not in names:
                names[node.name] = node
                found.append(node)
    return found


def _namespace(arrays: dict, who: str):
    arrs = [a for a in arrays.values() if not isinstance(a, (numbers.Number, list, tuple))]
    if arrs:
        try:
            xp = array_api_compat.array_namespace(*arrs)
        except TypeError as exc:
            kinds = sorted({type(a).__name__ for a in arrs})
            raise TypeError(f"{who}: the inputs must be arrays of one library (got {', '.join(kinds)}): {exc}") from None
        floats = []
        for a in arrs:
            if xp.isdtype(a.dtype, "complex floating"):
                raise TypeError(f"{who}: complex arrays are not supported (got dtype {a.dtype})")
            if xp.isdtype(a.dtype, "real floating"):
                floats.append(a.dtype)
        dtype = xp.result_type(*floats) if floats else xp.float64
        device = array_api_compat.device(arrs[0])
    else:
        xp = array_api_compat.array_namespace(np.zeros(0))
        dtype, device = xp.float64, None
    return xp, dtype, device


def _convert(xp, value, dtype, device, name):
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a number or an array, got bool")
    try:
        if isinstance(value, (numbers.Number, list, tuple)):
            return xp.asarray(value, dtype=dtype, device=device)
        if value.dtype != dtype:
            return xp.astype(value, dtype)
        return value
    except (TypeError, ValueError, AttributeError) as exc:
        raise TypeError(f"{name}: expected a real number or array, got {type(value).__name__} ({exc})") from None


def compile(exprs, *, name: str = "kernel", sizes: dict | None = None, variables=()) -> CompiledFunction:  # noqa: A001
    """Compile an expression, or a list/tuple of expressions, into one function.

    ``sizes`` optionally gives typical sizes of symbolic dimensions (``{"m": 10000, "n": 100}``) for
    choosing contraction orders; otherwise every symbolic dimension is assumed to be about 1000.
    ``variables`` lists further variables the function accepts (and checks) though the expressions may not
    read them, e.g. all of f's variables for its Hessian, which may not depend on the data.
    """
    single = isinstance(exprs, Expr)
    items = [exprs] if single else list(exprs)
    if not items:
        raise ValueError("compile: expected an expression or a non-empty list of expressions")
    for k, e in enumerate(items):
        if not isinstance(e, Expr):
            raise TypeError(f"compile: item {k} is a {type(e).__name__}, expected an expression")
    if not name.isidentifier():
        raise ValueError(f"compile: name must be an identifier, got {name!r}")
    if sizes is not None:
        for k, v in sizes.items():
            if not isinstance(v, numbers.Integral) or v <= 0:
                raise ValueError(f"compile: sizes[{k!r}] must be a positive int, got {v!r}")
            dim_symbol(k)
    extra = []
    for v in variables:
        from ._nodes import Var

        if not isinstance(v, Var):
            raise TypeError(f"compile: variables must be variables (rs.Vector(...)), got {type(v).__name__}")
        extra.append(v)
    return CompiledFunction(items, single=single, name=name, sizes=sizes, extra=extra)
