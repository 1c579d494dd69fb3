"""One evaluation point: f, its gradient, its Hessian and Hessian-vector products at one x share intermediates.

An objective's expressions are evaluated at a point in levels, each kept with the point once computed:

    value      f                                       (a line search asks only this)
    gradient   the gradient blocks                     (after the value)
    hessian    the Hessian blocks                      (after the gradient)
    curvature  what Hessian-vector products read and   (after the gradient; once per point)
               no direction changes: sigmoid(...)
    product    the Hessian-vector product blocks       (per direction: a CG loop's many products at one x)

A request at a point runs one kernel from what the point holds to what is asked (``PointPlan.kernel(start,
goals)``): hess(x) at a new point is one kernel computing f, the gradient and the Hessian, so that data that
are costly to read (Dask) are read once per request. Each kernel takes as precomputed inputs the
intermediates that the point holds and it reads (``_codegen.frontier``: X @ w from the value, the sigmoid
from the gradient), and returns, besides its results, the intermediates later levels read. So at one x,
X @ w and sigmoid(...) are computed once, and each of many Hessian-vector products costs only what depends on
the direction: for the logistic loss, lam*v + X'(s .* (X v)) is two products with X, s computed once per point.
The split of the product is that of Pearlmutter (1994), "Fast exact multiplication by the Hessian": the
R-operator's forward values at the point, here read off the expression's DAG (a node depends on the
direction or it does not). Kernels are compiled on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ._codegen import CompiledFunction, computed, frontier
from ._nodes import Contract, contract, is_selector, topological

LEVELS = ("value", "gradient", "hessian", "curvature", "product")
"""The levels in the order a point reaches them (hessian and curvature both follow the gradient)."""


def _unique(nodes) -> list:
    return list(dict.fromkeys(nodes))


@dataclass(frozen=True)
class Stage:
    """One kernel: its outputs are ``results`` (expressions; those of each goal in turn, ``parts``: (goal,
    how many)) and then ``exports`` (intermediates kept with the point for later levels); ``inputs`` are the
    intermediates the point holds that it reads, passed as precomputed values under the names ``keys``."""

    name: str
    kernel: CompiledFunction
    results: tuple
    exports: tuple
    inputs: tuple
    keys: tuple
    parts: tuple = ()

    def split(self, out) -> tuple:
        """The kernel's outputs as ({goal: its results}, {intermediate: value})."""
        results, k = {}, 0
        for goal, count in self.parts:
            results[goal] = tuple(out[k:k + count])
            k += count
        return results, dict(zip(self.exports, out[k:]))


def _stage(name, results, exports, available, sizes, parts=(), substitute=None) -> Stage:
    """The stage computing ``results`` (expressions; they may repeat: H_12 and H_21' can be one node) and
    ``exports`` from the intermediates of ``available`` that a point holds (also for ``_operator_build``)."""
    results = list(results)
    exports = list(_unique(exports))  # also a result (f = exp(u) is the intermediate the gradient reads)
    inputs = tuple(frontier(results + exports, available, substitute))
    keys = tuple(f"#{k}" for k in range(len(inputs)))  # not identifiers: no variable or dimension has them
    fn = CompiledFunction(results + exports, single=False, name=name, sizes=dict(sizes),
                          precomputed=dict(zip(keys, inputs)), substitute=substitute)
    return Stage(name, fn, tuple(results), tuple(exports), inputs, keys, tuple(parts))


def steady_factors(hvp, moving) -> dict:
    """Products of the Hessian-vector product that apply the direction only along their own output indices,
    such as the intercept's v_b * sum_a X[a,i] s[a]: the product S of their operands that no direction changes
    is no larger than the product itself, so it is computed once per point and each Hessian-vector product
    costs S .* v_b, not a pass over X. Returns {product: the equal product with S in place of those operands}
    (``Contract.make``: not simplified, which would flatten S back)."""
    out = {}
    for node in topological(hvp):
        if not isinstance(node, Contract) or moving.isdisjoint(node.variables):
            continue
        if any(is_selector(op) for op in node.operands):
            continue  # applied as gathers and scatters (``_gather``)
        steady = [k for k, op in enumerate(node.operands) if moving.isdisjoint(op.variables)]
        movers = [k for k in range(len(node.operands)) if k not in steady]
        if len(steady) < 2 or any(not set(node.indices[k]) <= set(node.output) for k in movers):
            continue
        carried = {ix for k in movers for ix in node.indices[k]} | set(node.output)
        kept = tuple(dict.fromkeys(ix for k in steady for ix in node.indices[k] if ix in carried))
        S = contract([node.operands[k] for k in steady], [node.indices[k] for k in steady], kept)
        out[node] = Contract.make([S] + [node.operands[k] for k in movers],
                                  [kept] + [node.indices[k] for k in movers], node.output)
    return out


class PointPlan:
    """The levels of an objective ``f`` with its ``gradient`` and ``hessian`` blocks and the Hessian-vector
    product blocks ``hvp`` in the ``directions`` (variables); kernels for ``sizes`` (size hints)."""

    def __init__(self, f, gradient, hessian, hvp, directions, sizes, name: str = "objective"):
        self.name, self.sizes = name, dict(sizes)
        moving = frozenset(directions)
        self.substitute = steady_factors(hvp, moving)
        steady = [n for n in computed(hvp, substitute=self.substitute) if moving.isdisjoint(n.variables)]
        curvature = frontier(hvp, steady, self.substitute)  # what the product reads that no direction changes
        at_f = set(computed([f]))
        value_exports = [n for n in frontier(gradient + hessian + curvature, at_f) if n in at_f]
        at_g = set(computed(gradient, value_exports))
        gradient_exports = [n for n in frontier(hessian + curvature, at_g | set(value_exports)) if n in at_g]
        self.outputs = {"value": [f], "gradient": list(gradient), "hessian": list(hessian),
                        "curvature": [n for n in curvature if n not in set(value_exports + gradient_exports)],
                        "product": list(hvp)}
        self.exports = {"value": value_exports, "gradient": gradient_exports, "curvature": []}
        self.curvature = curvature
        self._kernels: dict = {}
        self._lock = threading.Lock()

    def kernel(self, start: str | None, goals: tuple) -> Stage:
        """The kernel computing the levels ``goals`` (in LEVELS order) at a point that holds the levels up to
        ``start`` (None, "value" or "gradient"; with "product" and no "curvature" among the goals, the point
        holds the curvature too). Compiled on first use, then kept."""
        key = (start, goals)
        stage = self._kernels.get(key)
        if stage is None:
            with self._lock:
                stage = self._kernels.get(key)
                if stage is None:
                    stage = self._kernels[key] = self._make(start, goals)
        return stage

    def _make(self, start, goals) -> Stage:
        held = {None: [], "value": ["value"], "gradient": ["value", "gradient"]}[start]
        if "product" in goals and "curvature" not in goals:
            held = held + ["curvature"]
        available = [n for level in held for n in self.exports.get(level, [])]
        if "curvature" in held:
            available += self.curvature
        results = [e for goal in goals for e in self.outputs[goal]]
        exports = [e for goal in goals for e in self.exports.get(goal, [])]
        parts = tuple((goal, len(self.outputs[goal])) for goal in goals)
        return _stage(f"{self.name}_{'_'.join(goals)}", results, exports, available, self.sizes, parts,
                      self.substitute if "product" in goals else None)

    @property
    def value_and_gradient(self) -> Stage:
        """The kernel of f and the gradient at a new point (its ``exports``: what the point then holds)."""
        return self.kernel(None, ("value", "gradient"))

    def stages(self) -> list:
        """The kernels compiled so far (for inspection: ``.kernel.source`` of each)."""
        return list(self._kernels.values())
