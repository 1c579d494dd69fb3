"""Derivatives checked against central finite differences along random directions, on NumPy.

For an output D_k (the k-th derivative of F w.r.t. a variable x, shape F.shape + x.shape * k) and the output
D_{k-1} it differentiates, a random direction v gives two estimates of the directional derivative of
D_{k-1}: the exact one, D_k contracted with v over its last x.ndim axes, and the central difference

    (D_{k-1}(x + h v) - D_{k-1}(x - h v)) / (2 h),    h = step * max(1, max|x|),

whose error is O(h^2) from truncation plus O(eps / h) from rounding (about 1e-10 relative for the default
step 1e-6). The error of one comparison is max_i |exact_i - fd_i| / (atol / rtol + |fd_i|): a relative
error, with entries below atol / rtol measured against that floor; it is at most rtol exactly when
numpy.isclose(exact, fd, rtol, atol) holds everywhere. A derivative of the wrong shape has error inf.

The module is standalone (the standard library and NumPy; the names it takes from ``._binding`` are
defined next to it when ``rs.export`` embeds both in an exported module), so ``rs.check_derivatives``,
``ricci diff --check`` and the exported module's self-check are one implementation.
"""

import dataclasses

import numpy as np

from ._binding import dimension_names, dimension_value


@dataclasses.dataclass(frozen=True)
class DerivativeCheck:
    """The outcome of a finite-difference check of derivatives (see the module docstring for the error).

    ``errors``: (order, variable name) -> the worst error over the directions tried; ``passed``: every
    error at most ``rtol``; ``sizes``: the dimension sizes used; ``str()`` is a short report.
    """

    errors: dict
    rtol: float
    atol: float
    sizes: dict

    @property
    def passed(self) -> bool:
        return all(e <= self.rtol for e in self.errors.values())

    @property
    def worst(self) -> float:
        """The largest error (0.0 when nothing was compared)."""
        return max(self.errors.values(), default=0.0)

    def __str__(self):
        lines = ["sizes: " + (", ".join(f"{k} = {v}" for k, v in sorted(self.sizes.items())) or "none")]
        for (order, var), err in self.errors.items():
            label = "derivative" if order == 1 else f"derivative of order {order}"
            lines.append(f"  {label} w.r.t. {var}: relative error {err:.1e}")
        verdict = "OK" if self.passed else "MISMATCH"
        lines.append(f"{verdict} (worst relative error {self.worst:.1e}, tolerance {self.rtol:.0e})")
        return "\n".join(lines)


def random_inputs(variables, ties=(), dimensions=(), sizes=None, seed=0):
    """Random values for ``variables`` (name -> plain shape) and random sizes (2 to 5) for their
    dimension names and the names in ``dimensions`` that ``sizes`` leaves open, the ``ties`` respected.

    Entries are uniform in [0.5, 1.5] / (the largest axis), positive so that log and sqrt are defined; a
    square matrix gets the identity added, which makes it well conditioned (its eigenvalues lie near
    [1, 2.5]), so inv, det and logdet are defined too. Returns (values, sizes).
    """
    rng = np.random.default_rng(seed)
    sizes = dict(sizes or {})
    names = []
    for shape in variables.values():
        for d in shape:
            names.extend(dimension_names(d))
    names.extend(dimensions)
    dims_seen = [d for shape in variables.values() for d in shape] + [d for tie in ties for d in tie]
    in_products = [n for d in dims_seen if isinstance(d, (tuple, list)) for n in dimension_names(d)]
    order = list(dict.fromkeys(in_products + names))  # names in products and sums first: m*p fixes q = m*p

    def propagate():
        changed = True
        while changed:
            changed = False
            for tie in ties:
                known = [v for v in (dimension_value(d, sizes) for d in tie) if v is not None]
                for d in tie:
                    if known and isinstance(d, str) and d not in sizes:
                        sizes[d], changed = known[0], True

    propagate()
    for name in order:
        if name not in sizes:
            sizes[name] = int(rng.integers(2, 6))
            propagate()
    values = {}
    for name, shape in variables.items():
        dims = [dimension_value(d, sizes) for d in shape]
        a = rng.uniform(0.5, 1.5, size=dims) / (max(dims) if dims and max(dims) > 0 else 1)
        if len(dims) == 2 and dims[0] == dims[1]:
            a = a + np.eye(dims[0])
        values[name] = np.asarray(a, dtype=float)
    return values, sizes


def relative_error(exact, fd, rtol, atol):
    """max_i |exact_i - fd_i| / (atol / rtol + |fd_i|) (0.0 for empty arrays)."""
    exact, fd = np.asarray(exact, dtype=float), np.asarray(fd, dtype=float)
    if exact.shape != fd.shape:
        return float("inf")
    if exact.size == 0:
        return 0.0
    return float(np.max(np.abs(exact - fd) / (atol / rtol + np.abs(fd))))


def finite_difference_check(evaluate, variables, derivatives, *, ties=(), dimensions=(), values=None,
                            sizes=None, seed=0, directions=2, rtol=1e-5, atol=1e-6, step=1e-6):
    """Check derivatives against central finite differences of the outputs they differentiate.

    ``evaluate(**arrays)`` returns a mapping output name -> array; ``variables``: name -> plain shape of
    its inputs; ``derivatives``: rows (output, lower output, variable, order), the output being the
    derivative of the lower one w.r.t. the variable. ``values`` fixes inputs (the others are drawn by
    :func:`random_inputs` with ``ties``, ``dimensions`` and ``sizes``); sizes of ``dimensions`` that no
    variable's shape contains are passed to ``evaluate`` by keyword. Each variable is perturbed along
    ``directions`` random directions; two evaluations per direction serve every order. Returns a
    :class:`DerivativeCheck`.
    """
    rng = np.random.default_rng(seed)
    values = {k: np.asarray(v, dtype=float) for k, v in (values or {}).items()}
    missing = {k: s for k, s in variables.items() if k not in values}
    drawn, sizes = random_inputs(missing, ties, dimensions, sizes, rng)
    values.update(drawn)
    in_shapes = {n for shape in variables.values() for d in shape for n in dimension_names(d)}
    extra = {d: sizes[d] for d in dimensions if d not in in_shapes and d in sizes}
    base = evaluate(**values, **extra)
    errors = {}
    for var in dict.fromkeys(row[2] for row in derivatives):
        rows = [row for row in derivatives if row[2] == var]
        x0 = values[var]
        h = step * max(1.0, float(np.max(np.abs(x0)))) if x0.size else step
        for _ in range(directions):
            v = rng.normal(size=x0.shape)
            plus = evaluate(**{**values, var: x0 + h * v}, **extra)
            minus = evaluate(**{**values, var: x0 - h * v}, **extra)
            for out, lower, _, order in rows:
                fd = (np.asarray(plus[lower], dtype=float) - np.asarray(minus[lower], dtype=float)) / (2 * h)
                exact = np.asarray(base[out], dtype=float)
                if exact.shape != fd.shape + x0.shape:
                    err = float("inf")
                else:
                    err = relative_error(np.tensordot(exact, v, axes=v.ndim) if v.ndim else exact * v, fd, rtol, atol)
                key = (order, var)
                errors[key] = err if np.isnan(err) else max(errors.get(key, 0.0), err)  # NaN stays NaN
    return DerivativeCheck(errors, rtol, atol, dict(sizes))
