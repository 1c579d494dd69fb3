"""Every operation over the closed node set is a table with a rule per node type; the modules form no cycle."""

import ast
import dataclasses
from pathlib import Path

import pytest

import ricci.symbolic as rs
from ricci.symbolic import _bounds, _differentiate, _emit, _printing, _simplify
from ricci.symbolic._nodes import NODE_TYPES, Expr

SYMBOLIC = Path(_simplify.__file__).resolve().parent


def _singledispatch_has(table, node_type) -> bool:
    return table.dispatch(node_type) is not table.registry[object]


TABLES = {
    "simplify": lambda t: t in _simplify.RULES,
    "differentiate": lambda t: _singledispatch_has(_differentiate._rule, t),
    "emit": lambda t: _singledispatch_has(_emit.emit, t),
    "bounds": lambda t: _singledispatch_has(_bounds.interval, t),
    "matrix notation": lambda t: t in _printing.MATRIX_RULES,
    "index notation": lambda t: t in _printing.INDEX_RULES,
    "tree repr": lambda t: t in _printing.TREE_RULES,
}


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize("node_type", NODE_TYPES, ids=lambda t: t.__name__)
def test_every_node_type_has_a_rule_in_every_table(table, node_type):
    assert TABLES[table](node_type), f"{node_type.__name__} has no rule in the {table} table"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Unknown(Expr):
    """A node type no table knows: each table must refuse it rather than fall back silently."""


def _unknown():
    return Unknown(shape=(), ties=rs.Var.make("u", ()).ties, var_set=frozenset(), skey=b"unknown")


@pytest.mark.parametrize("call", [
    lambda e: _simplify.normalize(e),
    lambda e: _differentiate._rule(e, rs.Scalar("u"), {}),
    lambda e: _emit.emit(e, "t", None),
    lambda e: _bounds.interval(e),
    lambda e: _printing.Printer(_printing.TextStyle()).matrix(e),
    lambda e: _printing.Printer(_printing.TextStyle()).indexed(e, [], set()),
    lambda e: _printing.tree_repr(e),
], ids=["simplify", "differentiate", "emit", "bounds", "matrix notation", "index notation", "tree repr"])
def test_a_node_type_without_a_rule_raises(call):
    with pytest.raises((NotImplementedError, TypeError), match="Unknown"):
        call(_unknown())


def test_nodes_are_frozen_and_carry_no_attached_caches():
    x, A = rs.Vector("x", "n"), rs.Matrix("A", "n", "n")
    e = rs.sigmoid(A @ x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.shape = (1,)
    str(e), repr(e), rs.compile(rs.hessian(rs.sum(e), x))  # printing, bounds, codegen, differentiation
    fields = {f.name for f in dataclasses.fields(e)}
    assert set(vars(e)) == fields, f"attributes set outside the dataclass fields: {set(vars(e)) - fields}"


def _imports(path: Path) -> set:
    """The ricci.symbolic modules a module imports, at any level (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_symbolic_modules_import_each_other_without_a_cycle():
    graph = {p.stem: _imports(p) for p in SYMBOLIC.glob("*.py") if p.stem != "__init__"}
    state: dict = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", "import cycle: " + " -> ".join(path + [module])
        state[module] = "active"
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_the_printer_builds_no_node():
    """Printing only reads: rendering a derivative adds nothing to the intern table."""
    from ricci.symbolic import _nodes

    T, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    H = rs.hessian(rs.norm2(T - U @ V.T) ** 2, U)
    K = rs.jacobian(rs.kron(U, V), U)
    before = len(_nodes._TABLE)
    for e in (H, K):
        str(e), rs.latex(e), repr(e), rs.index_notation(e)
    assert len(_nodes._TABLE) == before


def test_gathers_and_scatters_print_and_lower_without_building_nodes():
    """Take and ScatterAdd: printing reads only, and code generation asks only which operands a product's code
    reads (``_emit.reads``, which leaves out the selectors it applies as gathers and scatters)."""
    import numpy as np

    from ricci.symbolic import _emit, _nodes

    U, V = rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    rows, cols = np.array([0, 2, 1]), np.array([1, 1, 0])
    r = rs.sum(rs.take(U, rows) * rs.take(V, cols), axis=1)
    f = r @ r
    exprs = [rs.jacobian(r, U), rs.hessian(f, U), rs.jacobian(rs.grad(f, U), V)]
    before = len(_nodes._TABLE)
    for e in exprs:
        str(e), rs.latex(e), repr(e), rs.index_notation(e)
        for node in _nodes.topological([e]):
            assert set(map(id, _emit.reads(node))) <= set(map(id, node.children()))
    assert len(_nodes._TABLE) == before
