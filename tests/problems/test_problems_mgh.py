"""The More-Garbow-Hillstrom residuals against a second, hand-written NumPy reading of the paper; the known
minima against the objective; exact Jacobians against finite differences of the reference."""
import math

import numpy as np
import pytest
from ricci import problems

MGH = problems.names("mgh")


@pytest.fixture(scope="module")
def built():
    return {name: problems.get(name) for name in MGH}


def test_the_whole_test_set_is_registered(mgh_reference):
    assert len(MGH) == 35  # the issue asks for at least 20
    assert set(MGH) == set(mgh_reference.REFERENCE)
    numbers = sorted(int(problems.get(n).source.rsplit(" ", 1)[1]) for n in MGH)
    assert numbers == list(range(1, 36))


def _points(p, rng):
    x0 = np.array(p.x0)
    yield x0
    # a nearby point off the standard start (relative and absolute perturbation, signs kept)
    yield x0 + 0.05 * np.abs(x0) * rng.standard_normal(x0.shape) + 0.02 * rng.random(x0.shape)


@pytest.mark.parametrize("name", MGH)
def test_residual_matches_numpy_reference(name, built, rng, mgh_reference):
    p = built[name]
    assert p.family == "mgh" and p.residual_weight == 1.0 and p.is_least_squares
    for x in _points(p, rng):
        r = np.asarray(p.residual.fun(x))
        ref = mgh_reference.residual(name, x)
        np.testing.assert_allclose(r, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))
        # the paper's f = sum f_i^2, without a factor 1/2
        assert p.objective.fun(x) == pytest.approx(float(ref @ ref), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", MGH)
def test_jacobian_matches_finite_differences_of_reference(name, built, rng, mgh_reference):
    p = built[name]
    x = next(_points(p, rng))
    J = np.asarray(p.residual.jac(x))
    v = rng.standard_normal(x.shape)
    h = 1e-6 * max(1.0, np.linalg.norm(x)) / np.linalg.norm(v)
    residual = mgh_reference.residual
    fd = (residual(name, x + h * v) - residual(name, x - h * v)) / (2 * h)
    rounding = 10 * np.finfo(float).eps * np.abs(residual(name, x)).max() / h  # cancellation in the difference
    np.testing.assert_allclose(J @ v, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(J @ v).max()) + rounding)


@pytest.mark.parametrize("name", [n for n in MGH if problems.get(n).minimizer is not None])
def test_known_minimizer_attains_known_minimum(name, built):
    p = built[name]
    f = p.objective.fun(p.minimizer)
    assert f == pytest.approx(p.minimum, rel=1e-6, abs=1e-9)


def test_records_are_frozen(built):
    p = built["rosenbrock"]
    with pytest.raises(AttributeError):
        p.x0 = np.zeros(2)
    with pytest.raises(ValueError):
        p.x0[0] = 3.0  # read-only array
    assert repr(p).startswith("<ricci Problem 'rosenbrock'")
    assert p.n == 2 and set(p.methods) >= {"newton", "lm"}


@pytest.mark.parametrize("name, params", [("extended-rosenbrock", {"n": 20}), ("watson", {"n": 9}),
                                          ("penalty-1", {"n": 10}), ("chebyquad", {"n": 8}),
                                          ("linear-full-rank", {"n": 3, "m": 7})])
def test_variable_dimension(name, params, rng, mgh_reference):
    p = problems.get(name, **params)
    assert p.params["n"] == params["n"] and p.n == params["n"]
    x = np.array(p.x0) + 0.01 * rng.standard_normal(p.n)
    extra = {"m": params["m"]} if "m" in params else {}
    ref = np.array(mgh_reference.REFERENCE[name](list(x), **extra))
    np.testing.assert_allclose(np.asarray(p.residual.fun(x)), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, params, error", [
    ("extended-rosenbrock", {"n": 3}, ValueError),
    ("extended-powell", {"n": 6}, ValueError),
    ("watson", {"n": 40}, ValueError),
    ("linear-full-rank", {"n": 5, "m": 4}, ValueError),
    ("gulf", {"m": 100}, ValueError),
    ("rosenbrock", {"n": 3}, TypeError),
    ("penalty-1", {"n": 2.5}, TypeError),
])
def test_bad_parameters(name, params, error):
    with pytest.raises(error, match=r"n|m|parameter"):
        problems.get(name, **params)


def test_helical_valley_branch():
    # theta jumps by 1/2 across x1 = 0 (the paper's two branches of arctan)
    p = problems.get("helical-valley")
    left = np.asarray(p.residual.fun(np.array([-1.0, 0.5, 0.0])))
    assert left[0] == pytest.approx(-100 * (math.atan(-0.5) / (2 * math.pi) + 0.5))


def _reference_jacobian(name, x, mgh_reference, h=1e-6):
    """The Jacobian of the NumPy reference residual by central differences, column by column."""
    cols = []
    for k in range(len(x)):
        step = h * max(1.0, abs(x[k]))
        e = np.zeros(len(x))
        e[k] = step
        cols.append((mgh_reference.residual(name, x + e) - mgh_reference.residual(name, x - e)) / (2 * step))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("name", MGH)
def test_gradient_and_hessian_at_x0_match_the_reference(name, built, rng, mgh_reference):
    """f = sum r_i^2: the exact gradient is 2 J' r with J the reference's Jacobian; the exact Hessian applied to a
    direction is the central difference of the exact gradient, and it is symmetric."""
    p = built[name]
    x = np.array(p.x0)
    r, J = mgh_reference.residual(name, x), _reference_jacobian(name, x, mgh_reference)
    g = np.asarray(p.objective.jac(x))
    np.testing.assert_allclose(g, 2 * J.T @ r, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(g).max()))
    H = np.asarray(p.objective.hess(x))
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(H).max()))
    v = rng.standard_normal(x.shape)
    h = 1e-6 * max(1.0, np.linalg.norm(x)) / np.linalg.norm(v)
    fd = (np.asarray(p.objective.jac(x + h * v)) - np.asarray(p.objective.jac(x - h * v))) / (2 * h)
    rounding = 10 * np.finfo(float).eps * np.abs(g).max() / h
    np.testing.assert_allclose(H @ v, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(H @ v).max()) + rounding)


def _is_selector_or_unit(array) -> bool:
    """A 0/1 constant that only places or picks entries: a unit vector, or a matrix with exactly one 1 in every
    row or in every column (S x picks entries of x, P v places the entries of v)."""
    a = np.asarray(array)
    if not np.isin(a, (0.0, 1.0)).all():
        return False
    if a.ndim == 1:
        return a.sum() == 1
    return a.ndim == 2 and ((a.sum(axis=1) == 1).all() or (a.sum(axis=0) == 1).all())


@pytest.mark.parametrize("name", MGH)
def test_residuals_are_built_from_slices_and_blocks_without_selector_constants(name, built):
    from ricci.symbolic._nodes import Const, topological

    p = built[name]
    consts = [node for node in topological([p.residual.expr]) if isinstance(node, Const)]
    assert not [c.label for c in consts if _is_selector_or_unit(c.array)]


def test_the_placement_helpers_are_slices_and_blocks(rng):
    import ricci.symbolic as rs

    x, v = rs.Vector("x", 6), rs.Vector("v", 3)
    xv, vv = rng.standard_normal(6), rng.standard_normal(3)
    assert problems.select(6, range(0, 6, 2), x) is x[0:5:2] and problems.select(6, [3], x) is x[3:4]
    np.testing.assert_array_equal(rs.compile(problems.select(6, [1, 2, 5], x))(x=xv), xv[[1, 2, 5]])
    placed = np.zeros(6)
    placed[[4, 0, 1]] = vv
    np.testing.assert_array_equal(rs.compile(problems.place(6, [4, 0, 1], v))(v=vv), placed)
    assert problems.place(5, range(1, 4), v) is rs.concat([rs.zeros(1), v, rs.zeros(1)])
    assert problems.stack(problems.components(x, 3)) is x[0:3]
    with pytest.raises(ValueError, match="distinct"):
        problems.place(6, [1, 1, 2], v)
