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

Two extensions serve evaluation in stages (``Objective`` computes f, its gradient and Hessian-vector
products at one point sharing X @ w and sigmoid(...), see ``_objective``): ``precomputed`` names
subexpressions whose values the function takes as inputs (parameters ``pre_0``, ``pre_1``, ...) instead of
computing them, so the schedule stops there; and a compiled derivative accepts, and ignores, the variables
of the expressions it was derived from (``_origin``), and those that only a precomputed input reads.
"""

from __future__ import annotations

import builtins
import keyword
import numbers
import re
import sys
import time
import unicodedata
from functools import cached_property

from . import _functions as F
from ._binding import Binding
from ._dims import DimensionError, Ties, dim_symbol, merge_all, plain_shape, plain_ties, shape_str
from ._emit import EmitContext, emit, reads
from ._lower import (
    CUBE_POSITIONS_HELPER,
    DIAGONAL_HELPER,
    GRAM_BLOCKS_HELPER,
    GRAM_VECTOR_HELPER,
    PRODUCTS_ONLY_HELPER,
    SYMMETRIC_PAIRS_HELPER,
)
from ._names import comment, identifier
from ._nodes import Add, Const, Contract, Delta, Expr, Fill, Var, topological
from ._origin import origin_variables


# The names the kernel makes for itself: its first parameters, dimension sizes, constants, precomputed inputs
# (``pre_0``), temporaries
# (``t3``, and ``t3_0``, ``t3_max`` inside one node's code), and helper functions (``_sigmoid``, which the
# kernel reads as globals). A variable's name of one of these forms would overwrite or shadow an internal
# value, so such a variable is renamed (``xp`` -> ``v_xp``); every other variable keeps its name.
_INTERNAL = re.compile(r"(?:xp|dtype|device|dim_\w*|const_\d+|pre_\d+|t\d+(?:_\w*)?|_\w*)\Z")


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

    ``variables``: the variables the call needs; ``precomputed``: name -> subexpression, the values the call
    takes by those names instead of computing them (only those the outputs reach); ``ignored``: the names
    the call accepts and ignores (variables of the expressions the outputs were derived from, and variables
    and precomputed inputs that no output reaches); ``detach``: a result that is an input or a view of one
    (x, x[1:3], A' for an input A) is returned as a copy (``rs.compile``: the caller's arrays are never handed
    back to be mutated through; internal kernels, whose results solvers and operators only read, skip it).
    """

    def __init__(self, exprs, *, single: bool, name: str = "kernel", sizes: dict | None = None, extra=(),
                 precomputed: dict | None = None, substitute: dict | None = None, detach: bool = False):
        self.outputs = tuple(exprs)
        self.detach = detach
        self.single = single
        self.name = name
        given = dict(precomputed or {})
        self._stops = frozenset(given.values())
        # product -> an equal product computed in its place (``_point``: with a precomputed partial product)
        self._substitute = dict(substitute or {})
        reached = set(topological(self.outputs, self._reads))
        self.precomputed = {k: e for k, e in given.items() if e in reached}
        self.variables = _collect_variables(self.outputs, extra, self._reads)
        self.ties: Ties = merge_all(e.ties for e in topological(self.outputs))
        self._hints = dict(sizes or {})
        self._consts: list = []
        start = time.perf_counter()
        self.source = self._generate()
        known = {v.name for v in self.variables} | set(self.precomputed) | set(self.dim_names)
        below = {v for e in self.precomputed.values() for v in e.variables}  # read only through an input
        accepted = {v.name: v for v in origin_variables(self.outputs) | below if v.name not in known}
        self.ignored = frozenset(set(accepted) | (set(given) - known))
        # the sizes that no variable read fixes (m in 2*delta[i,k]*(V'V)[j,l], the Hessian w.r.t. U) are read
        # off the ignored variables where they are given (U of shape (m, k))
        fixed = {d for v in self.variables for d in plain_shape(v.shape) if isinstance(d, str)}
        self._sizes_from = {}
        for key, v in accepted.items():
            axes = [(k, d) for k, d in enumerate(plain_shape(v.shape))
                    if isinstance(d, str) and d in self.dim_names and d not in fixed]
            if axes:
                self._sizes_from[key] = (v.ndim, axes)
        namespace: dict = {}
        exec(builtins.compile(self.source, f"<ricci:{name}>", "exec"), namespace)
        self._kernel = namespace[name]
        self.compile_seconds = time.perf_counter() - start

    def _reads(self, node) -> tuple:
        """The operands the kernel computes before ``node``: none for a precomputed input."""
        return () if node in self._stops else _operands(self._substitute.get(node, node))

    # ---------------------------------------------------------------------------------------------------
    def _generate(self) -> str:
        nodes = topological(self.outputs, self._reads)
        names: dict = _parameter_names(self.variables)
        inputs = list(self.precomputed.values())
        for k, e in enumerate(inputs):
            names[e] = f"pre_{k}"  # no variable has a name of this form (see _INTERNAL)
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
            for c in self._reads(node):
                last_use[c] = k
                uses[c] = uses.get(c, 0) + 1
        ctx = EmitContext(names, dim_code, shape_code, self._hints)
        # c * (product used only here): the factor goes onto the product's smallest operand, and the product
        # is computed under the scaled node's name
        for node in nodes:
            if (isinstance(node, Add) and len(node.terms) == 1 and isinstance(node.terms[0], Contract)
                    and node not in self._stops):
                t = node.terms[0]
                if uses.get(t) == 1 and t not in self.outputs and t not in self._stops:
                    ctx.scales[t] = node
                    if t in self._substitute:
                        ctx.scales[self._substitute[t]] = node
        counter = 0
        for node in nodes:
            if node not in names and node not in ctx.scales:
                names[node] = f"t{counter}"  # no variable has a name of this form (see _INTERNAL)
                counter += 1
        for product, scaled in ctx.scales.items():
            names[product] = names[scaled]
        outputs = set(self.outputs)
        blocks: list[list[str]] = []  # the lines of each node
        shared: dict = {}  # an intermediate that later products read (``Lowering.memo``) -> its last block
        for k, node in enumerate(nodes):
            target = names[node]
            if node in self._stops:
                continue  # an input
            ctx.reused.clear()
            block = emit(self._substitute.get(node, node), target, ctx)
            shared.update(dict.fromkeys(ctx.reused, len(blocks)))
            dead = [names[c] for c in dict.fromkeys(self._reads(node))
                    if last_use.get(c) == k and c not in outputs and not isinstance(c, Var) and c not in self._stops
                    and names[c] != target]
            _delete(block, dead)
            blocks.append(block)
        _keep_alive(blocks, shared)
        body = [line for block in blocks for line in block]
        self._consts = ctx.constants
        ret = ", ".join(names[e] for e in self.outputs)
        body.append(f"return {ret}" + ("," if not self.single and len(self.outputs) == 1 else ""))
        params = ["xp", "dtype", "device"] + [dim_param[s] for s in symbols] + [names[v] for v in self.variables]
        params += [names[e] for e in inputs]
        params += [ctx.constant_name(k) for k in range(len(ctx.constants))]
        header = []
        lowering_helpers = {"_diagonal": DIAGONAL_HELPER, "_symmetric_pairs": SYMMETRIC_PAIRS_HELPER,
                            "_cube_positions": CUBE_POSITIONS_HELPER, "_gram_vector": GRAM_VECTOR_HELPER,
                            "_products_only": PRODUCTS_ONLY_HELPER, "_gram_blocks": GRAM_BLOCKS_HELPER}
        for h in sorted(ctx.helpers, key=str):
            header.append(lowering_helpers[h] if h in lowering_helpers else F.HELPERS[h][1])
        sig = f"def {self.name}({', '.join(params)}):"
        renamed = [f"{names[v]} is {comment(v.name)}" for v in self.variables if names[v] != v.name]
        if renamed:
            body.insert(0, "# variables renamed here: " + ", ".join(renamed))
        if inputs:
            body.insert(0, "# precomputed inputs: " + ", ".join(f"{names[e]} is {comment(k)}"
                                                              for k, e in self.precomputed.items()))
        return "\n".join(header + [sig] + ["    " + line for line in body]) + "\n"

    # ---------------------------------------------------------------------------------------------------
    def __call__(self, **arrays):
        """The outputs for the variables given by keyword (and sizes of dimensions no shape determines).

        The inputs are converted and their dimensions bound by :class:`._binding.Binding`: one array library,
        dtype and device for all (see the class docstring), every shape and dimension tie checked. Names in
        ``ignored`` are accepted and not read.
        """
        if self.ignored and not self.ignored.isdisjoint(arrays):
            dropped = {k: v for k, v in arrays.items() if k in self.ignored}
            arrays = {k: v for k, v in arrays.items() if k not in self.ignored}
            for name, (ndim, axes) in self._sizes_from.items():
                shape = getattr(dropped.get(name), "shape", None)
                if shape is not None and len(shape) == ndim:
                    for k, d in axes:
                        arrays.setdefault(d, int(shape[k]))
        args = _reused(self._last, arrays)
        if args is None:
            args = self._binding.arguments(arrays)
            self._last = _LastCall(arrays, args, self._positions)
        result = self._kernel(*args)
        if self.detach:
            inputs = [a for a in arrays.values() if hasattr(a, "shape")]
            result = _detached(result, inputs) if self.single else tuple(_detached(r, inputs) for r in result)
        return result if self.single else tuple(result)


    # The last call's binding, reused while the inputs are those arrays again, or arrays of the same type,
    # dtype and shape that it passed on unconverted (a solver's new x; an Objective's data, the same objects
    # every call): binding them again would give the same namespace, dtype, device, sizes and conversions.
    # One immutable record, replaced whole, so threads sharing the function read a consistent one.
    _last = None

    @cached_property
    def _positions(self) -> dict:
        return {key: k for k, (kind, key) in enumerate(self.parameters) if kind == "variable"}

    @property
    def constants(self) -> tuple:
        """The constant arrays the kernel reads (read-only NumPy float64 arrays), in the order of its
        ``constant`` parameters; a call passes them converted to the inputs' library, dtype and device."""
        return tuple(self._consts)

    @property
    def parameters(self) -> tuple:
        """The kernel's positional parameters in order, each a pair (kind, key): ``("namespace", None)``,
        ``("dtype", None)``, ``("device", None)``, then ``("dimension", name)`` for each of ``dim_names``,
        ``("variable", name)`` for each of ``variables`` and then for each ``precomputed`` input (by its
        name there), ``("constant", k)`` for each of ``constants``. ``kernel(*args)`` with the arguments in
        this order computes the outputs (what ``rs.export`` relies on instead of the text of the signature)."""
        return (
            (("namespace", None), ("dtype", None), ("device", None))
            + tuple(("dimension", s) for s in self.dim_names)
            + tuple(("variable", v.name) for v in self.variables)
            + tuple(("variable", k) for k in self.precomputed)
            + tuple(("constant", k) for k in range(len(self._consts)))
        )

    @cached_property
    def _binding(self) -> Binding:
        shapes = {v.name: plain_shape(v.shape) for v in self.variables}
        shapes.update({k: plain_shape(e.shape) for k, e in self.precomputed.items()})
        return Binding(self.name, shapes, self.parameters, plain_ties(self.ties), self.constants,
                       mismatch=DimensionError)

    def __repr__(self):
        outs = ", ".join(f"{shape_str(e.shape)}" for e in self.outputs)
        args = ", ".join(f"{v.name}{shape_str(v.shape)}" for v in self.variables)
        return f"<ricci compiled {self.name}({args}) -> {outs}; see .source>"


def _detached(out, inputs):
    """``out``, or a copy of it where it may share memory with one of the ``inputs`` (NumPy's, CuPy's, ...
    ``may_share_memory`` of the library the array belongs to; libraries without one have immutable arrays)."""
    library = sys.modules.get(type(out).__module__.partition(".")[0])
    shares = getattr(library, "may_share_memory", None)
    if shares is None or not any(type(a) is type(out) and shares(out, a) for a in inputs):
        return out
    return out.copy()


class _LastCall:
    """One call's inputs and the kernel arguments the binding made of them."""

    __slots__ = ("args", "given", "positions")

    def __init__(self, arrays, args, positions):
        self.args = tuple(args)
        self.positions = positions
        self.given = {k: (v, args[positions[k]] if k in positions else None) for k, v in arrays.items()}


def _reused(last, arrays):
    """The arguments of ``last`` (a :class:`_LastCall`) with the arrays of this call in place, or None where
    binding could come out otherwise: another set of names, an input converted last time that is not the
    very same number, or an array of another type, dtype, shape or device."""
    if last is None or len(arrays) != len(last.given):
        return None
    args = None
    for k, v in arrays.items():
        before = last.given.get(k)
        if before is None:
            return None
        v0, passed = before
        if v is v0 and (passed is v0 or isinstance(v, (int, float))):
            continue
        if (passed is v0 and type(v) is type(v0) and getattr(v, "shape", None) == v0.shape and v.dtype == v0.dtype
                and getattr(v, "device", None) == getattr(v0, "device", None)):
            if args is None:
                args = list(last.args)
            args[last.positions[k]] = v
            continue
        if type(v) is type(v0) and type(v) in (int, float) and v == v0:
            continue  # the same number: the same converted value (sizes passed by keyword as well)
        return None
    return last.args if args is None else args


def _delete(block: list, names) -> None:
    """Delete ``names`` at the end of a node's lines: one ``del`` for the node's intermediates and operands."""
    if not names:
        return
    if block and block[-1].startswith("del "):
        block[-1] += ", " + ", ".join(names)
    else:
        block.append("del " + ", ".join(names))


def _keep_alive(blocks: list, shared: dict) -> None:
    """An intermediate of one product that later products read (``shared``: name -> the last block reading
    it) is deleted after that block instead of its own."""
    for name, last in shared.items():
        for block in blocks[:last]:
            if block and block[-1].startswith("del "):
                kept = [n for n in block[-1][4:].split(", ") if n != name]
                if len(kept) < block[-1].count(", ") + 1:
                    if kept:
                        block[-1] = "del " + ", ".join(kept)
                    else:
                        block.pop()
                    _delete(blocks[last], [name])
                    break


def _operands(node) -> tuple:
    """The children whose values the node's code reads (constant terms of a sum are written as literals;
    ``_emit.reads``: a selector and the products applying it as a gather/scatter do not read it whole)."""
    if isinstance(node, Add):
        return tuple(t for t in node.terms if not isinstance(t, Fill))
    return reads(node)


def frontier(outputs, available, substitute=None) -> list:
    """The nodes of ``available`` that computing ``outputs`` reads when their values are given: those
    reached from ``outputs`` through nodes that are not available (in schedule order; a node of
    ``substitute`` is computed as its replacement). Leaves (variables, constants, fills, identities) are
    never worth passing in and are left out."""
    stops = {e for e in available if not isinstance(e, (Var, Const, Fill, Delta))}
    sub = substitute or {}
    return [n for n in topological(outputs, lambda n: () if n in stops else _operands(sub.get(n, n))) if n in stops]


def computed(outputs, available=(), substitute=None) -> list:
    """The nodes a kernel for ``outputs`` computes when the nodes of ``available`` are given (leaves
    excluded; a node of ``substitute`` is computed as its replacement), children before parents."""
    stops = set(available)
    sub = substitute or {}
    return [n for n in topological(outputs, lambda n: () if n in stops else _operands(sub.get(n, n)))
            if n not in stops and not isinstance(n, (Var, Const, Fill, Delta))]


def _collect_variables(outputs, extra=(), children=None) -> list:
    found, names = [], {}
    for node in list(extra) + topological(outputs, children):
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


def compile(exprs, *, name: str = "kernel", sizes: dict | None = None, variables=(),  # noqa: A001
            precomputed: dict | None = None) -> CompiledFunction:
    """Compile an expression, or a list/tuple of expressions, into one function.

    ``sizes`` optionally gives typical sizes of symbolic dimensions (``{"m": 10000, "n": 100}``) for
    choosing contraction orders; otherwise every symbolic dimension is assumed to be about 1000.
    ``variables`` lists further variables the function accepts (and checks) though the expressions may not
    read them. A derivative made by ``rs.grad``, ``rs.hessian``, ``rs.hvp``, ... also accepts, and ignores,
    the variables of what it was derived from (``rs.compile(rs.hvp(f, U, dU))`` takes f's ``T=`` and
    ``U=``); a name that no expression knows is an error.
    ``precomputed`` maps names to subexpressions whose values the function takes by those names instead of
    computing them: ``fn = rs.compile(rs.hvp(f, w, v), precomputed={"s": s})`` with s = sigmoid(...) is
    called as ``fn(X=..., v=..., s=s_value)`` and computes only what depends on v (names the outputs do not
    reach are accepted and ignored).
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
    pre = _check_precomputed(precomputed, items, extra)
    return CompiledFunction(items, single=single, name=name, sizes=sizes, extra=extra, precomputed=pre, detach=True)


def _check_precomputed(precomputed, items, extra) -> dict:
    """``precomputed`` as a dict name -> expression, each a subexpression that is not a variable, with names
    that no variable or dimension of the expressions has; or a TypeError/ValueError naming the entry."""
    if precomputed is None:
        return {}
    if not isinstance(precomputed, dict):
        raise TypeError(f"compile: precomputed must be a dict name -> expression, got {type(precomputed).__name__}")
    nodes = topological(items)
    var_names = {n.name for n in nodes if isinstance(n, Var)} | {v.name for v in extra}
    dim_names = {s.name for n in nodes for d in n.shape if not isinstance(d, int) for s in d.free_symbols}
    out = {}
    for k, e in precomputed.items():
        if not isinstance(k, str):
            raise TypeError(f"compile: precomputed names must be strings, got {type(k).__name__} {k!r}")
        if not isinstance(e, Expr):
            raise TypeError(f"compile: precomputed[{k!r}] must be an expression, got {type(e).__name__}")
        if isinstance(e, Var):
            raise ValueError(f"compile: precomputed[{k!r}] is the variable {e.name}; a variable is an input already")
        if k in var_names or k in dim_names:
            raise ValueError(f"compile: the precomputed name {k!r} is also the name of a "
                             f"{'variable' if k in var_names else 'dimension'}; choose another")
        out[k] = e
    return out
