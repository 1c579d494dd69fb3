"""Compilation: one or several expressions into one Python function over the array-API namespace of its inputs.

The expressions' DAG is scheduled once (children before parents), so a subexpression shared by f, its
gradient and its Hessian (``X @ w``) is computed once. Every node becomes one or a few lines of readable
code (the emission rule of its node type, ``_emit``) in a kernel
``def kernel(xp, dtype, device, <dims>, <variables>, <constants>)`` (``CompiledFunction.parameters`` lists
them); temporaries are deleted after their last use. Names cannot clash: every name a user gives is an
identifier in Python's (NFKC) normal form, checked where it enters (``_names``); a constant's label reaches
the code only in a comment; the kernel's own names (``xp``, ``dim_n``, ``const_0``, ``t3``, ``t3_0``,
``_sigmoid``) are of forms that a variable keeps only renamed (``v_xp``, see ``_parameter_names``).
The kernel uses only the standard namespace ``xp`` (from array-api-compat), so the same compiled function
runs on NumPy, CuPy and array-api-strict arrays. The wrapper (``_binding``) validates and converts the
inputs, binds the symbolic dimensions from their shapes, and checks every dimension tie.
"""

from __future__ import annotations

import builtins
import keyword
import numbers
import re
import time
import unicodedata
from functools import cached_property

from . import _functions as F
from ._binding import Binding
from ._dims import DimensionError, Ties, dim_symbol, merge_all, plain_shape, plain_ties, shape_str
from ._emit import EmitContext, emit
from ._lower import DIAGONAL_HELPER
from ._names import comment, identifier
from ._nodes import Add, Contract, Expr, Fill, Var, topological


# The names the kernel makes for itself: its first parameters, dimension sizes, constants, temporaries
# (``t3``, and ``t3_0``, ``t3_max`` inside one node's code), and helper functions (``_sigmoid``, which the
# kernel reads as globals). A variable's name of one of these forms would overwrite or shadow an internal
# value, so such a variable is renamed (``xp`` -> ``v_xp``); every other variable keeps its name.
_INTERNAL = re.compile(r"(?:xp|dtype|device|dim_\w*|const_\d+|t\d+(?:_\w*)?|_\w*)\Z")


def _kept(name: str) -> bool:
    """Whether a variable keeps its name in the kernel: an identifier in Python's (NFKC) normal form that
    is not a keyword and not of a form the kernel uses for its own names."""
    return (name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name
            and not _INTERNAL.match(name))


def _parameter_names(variables) -> dict:
    """Variable -> its name in the kernel: the variable's own name where :func:`_kept` allows, otherwise
    ``v_<name>`` (``v<k>`` where that is no identifier either), made distinct from every other name."""
    names = {v: v.name for v in variables if _kept(v.name)}
    taken = set(names.values())
    for k, v in enumerate(variables):
        if v not in names:
            base = f"v_{v.name}" if _kept(f"v_{v.name}") else f"v{k}"
            name, j = base, 1
            while name in taken:
                name, j = f"{base}_{j}", j + 1
            names[v] = name
            taken.add(name)
    return names


def _dimension_code(d, param: dict) -> str:
    """Python code for the size of dimension ``d`` (an int, or a sympy expression in dimension symbols, see
    ``_dims.as_dim``), each symbol read from its parameter ``param[name]``. Built from the expression's
    structure, never from its text."""
    if isinstance(d, int) or d.is_Integer:
        return str(int(d))
    if d.is_Symbol:
        return param[d.name]
    if d.is_Add:
        return "(" + " + ".join(_dimension_code(a, param) for a in d.args) + ")"
    if d.is_Mul:
        return " * ".join(_dimension_code(a, param) for a in d.args)
    if d.is_Pow and d.exp.is_Integer and d.exp > 0:
        base = _dimension_code(d.base, param)
        return " * ".join([base if d.base.is_Symbol or d.base.is_Integer else f"({base})"] * int(d.exp))
    raise ValueError(f"compile: dimension {d} is not built from dimension names and integers by +, * and "
                     "positive integer powers")


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
        start = time.perf_counter()
        self.source = self._generate()
        namespace: dict = {}
        exec(builtins.compile(self.source, f"<ricci:{name}>", "exec"), namespace)
        self._kernel = namespace[name]
        self.compile_seconds = time.perf_counter() - start

    # ---------------------------------------------------------------------------------------------------
    def _generate(self) -> str:
        nodes = _schedule(self.outputs)
        names: dict = _parameter_names(self.variables)
        symbols = sorted({s.name for n in nodes for d in n.shape if not isinstance(d, int) for s in d.free_symbols})
        self.dim_names = symbols
        dim_param = {s: "dim_" + identifier(s, "compile: a dimension name") for s in symbols}

        def dim_code(d) -> str:
            return _dimension_code(d, dim_param)

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
        counter = 0
        for node in nodes:
            if node not in names and node not in ctx.scales:
                names[node] = f"t{counter}"  # no variable has a name of this form (see _INTERNAL)
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
        renamed = [f"{names[v]} is {comment(v.name)}" for v in self.variables if names[v] != v.name]
        if renamed:
            body.insert(0, "# variables renamed here: " + ", ".join(renamed))
        return "\n".join(header + [sig] + ["    " + line for line in body]) + "\n"

    # ---------------------------------------------------------------------------------------------------
    def __call__(self, **arrays):
        """The outputs for the variables given by keyword (and sizes of dimensions no shape determines).

        The inputs are converted and their dimensions bound by :class:`._binding.Binding`: one array library,
        dtype and device for all (see the class docstring), every shape and dimension tie checked.
        """
        result = self._kernel(*self._binding.arguments(arrays))
        return result if self.single else tuple(result)

    @property
    def constants(self) -> tuple:
        """The constant arrays the kernel reads (read-only NumPy float64 arrays), in the order of its
        ``constant`` parameters; a call passes them converted to the inputs' library, dtype and device."""
        return tuple(self._consts)

    @property
    def parameters(self) -> tuple:
        """The kernel's positional parameters in order, each a pair (kind, key): ``("namespace", None)``,
        ``("dtype", None)``, ``("device", None)``, then ``("dimension", name)`` for each of ``dim_names``,
        ``("variable", name)`` for each of ``variables``, ``("constant", k)`` for each of ``constants``.
        ``kernel(*args)`` with the arguments in this order computes the outputs (what ``rs.export`` relies
        on instead of the text of the signature)."""
        return (
            (("namespace", None), ("dtype", None), ("device", None))
            + tuple(("dimension", s) for s in self.dim_names)
            + tuple(("variable", v.name) for v in self.variables)
            + tuple(("constant", k) for k in range(len(self._consts)))
        )

    @cached_property
    def _binding(self) -> Binding:
        return Binding(self.name, {v.name: plain_shape(v.shape) for v in self.variables}, self.parameters,
                       plain_ties(self.ties), self.constants, mismatch=DimensionError)

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


def compile(exprs, *, name: str = "kernel", sizes: dict | None = None, variables=()) -> CompiledFunction:  # noqa: A001
    """Compile an expression, or a list/tuple of expressions, into one function.

    ``sizes`` optionally gives typical sizes of symbolic dimensions (``{"m": 10000, "n": 100}``) for
    choosing contraction orders; otherwise every symbolic dimension is assumed to be about 1000.
    ``variables`` lists further variables the function accepts (and checks) though the expressions may not
    read them, e.g. all of f's variables for its Hessian, which may not depend on the data.
    """
    single = isinstance(exprs, Expr)
    try:
        items = [exprs] if single else list(exprs)
    except TypeError:
        raise TypeError(f"compile: expected an expression or a list of expressions, got {type(exprs).__name__}") from None
    if not items:
        raise ValueError("compile: expected an expression or a non-empty list of expressions")
    for k, e in enumerate(items):
        if not isinstance(e, Expr):
            raise TypeError(f"compile: item {k} is a {type(e).__name__}, expected an expression")
    name = identifier(name, "compile: name", keywords=False)
    if name.startswith("_"):
        raise ValueError(f"compile: name must not start with '_' (reserved for the kernel's helpers), got {name!r}")
    if sizes is not None:
        if not isinstance(sizes, dict):
            raise TypeError(f"compile: sizes must be a dict such as {{'m': 10000}}, got {type(sizes).__name__}")
        checked = {}
        for k, v in sizes.items():
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"compile: sizes[{k!r}] must be a positive int, got {v!r}")
            checked[dim_symbol(k, "compile: sizes").name] = v
        sizes = checked
    extra = []
    for v in variables:
        if not isinstance(v, Var):
            raise TypeError(f"compile: variables must be variables (rs.Vector(...)), got {type(v).__name__}")
        extra.append(v)
    return CompiledFunction(items, single=single, name=name, sizes=sizes, extra=extra)
