"""The Objective / LeastSquares bridge: flat packing, exact derivatives, caching, errors, solver use."""

import array_api_strict as xs
import numpy as np
import pytest
import scipy.optimize

import ricci.symbolic as rs
from ricci.solvers import least_squares, minimize

X = rs.Matrix("X", "m", "n")
y = rs.Vector("y", "m")
w = rs.Vector("w", "n")
b = rs.Scalar("b")
lam = rs.Scalar("lam")
LOSS = rs.sum(rs.softplus(-y * (X @ w + b))) + lam / 2 * (w @ w)


@pytest.fixture
def logistic(rng):
    Xa = rng.normal(size=(80, 4))
    ya = np.sign(Xa @ rng.normal(size=4) + 0.3 * rng.normal(size=80))
    return dict(X=Xa, y=ya, lam=0.1)


def fd_grad(fun, x, h=1e-6):
    return np.array([(fun(x + h * e) - fun(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def test_packing_and_derivatives_against_finite_differences(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    assert obj.size == 5 and obj.shapes == [(4,), ()]
    x = rng.normal(size=5)
    np.testing.assert_allclose(obj.jac(x), fd_grad(obj.fun, x), rtol=1e-6, atol=1e-6)
    H = obj.hess(x)
    np.testing.assert_allclose(H, np.array([fd_grad(lambda z: obj.jac(z)[i], x) for i in range(5)]), rtol=1e-5, atol=1e-6)
    p = rng.normal(size=5)
    np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-12)
    f, g = obj.fun_and_jac(x)
    assert f == obj.fun(x) and np.array_equal(g, obj.jac(x))
    parts = obj.unpack(x)
    assert parts["w"].shape == (4,) and parts["b"].shape == ()
    np.testing.assert_array_equal(obj.pack(parts), x)
    np.testing.assert_array_equal(obj.pack([parts["w"], parts["b"]]), x)


def test_matrix_variables_pack_row_major(rng):
    T = rs.Matrix("T", "m", "n")
    U = rs.Matrix("U", "m", "k")
    V = rs.Matrix("V", "n", "k")
    Ta = rng.normal(size=(5, 4))
    obj = rs.Objective(rs.norm2(T - U @ V.T) ** 2, wrt=[U, V], data=dict(T=Ta), sizes={"k": 2})
    assert obj.shapes == [(5, 2), (4, 2)] and obj.size == 18
    x = rng.normal(size=18)
    Ua, Va = x[:10].reshape(5, 2), x[10:].reshape(4, 2)
    assert obj.fun(x) == pytest.approx(np.sum((Ta - Ua @ Va.T) ** 2))
    np.testing.assert_allclose(obj.jac(x), fd_grad(obj.fun, x), rtol=1e-6, atol=1e-6)
    H = obj.hess(x)
    assert H.shape == (18, 18)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    np.testing.assert_allclose(H[:10, :10], 2 * np.kron(np.eye(5), Va.T @ Va), atol=1e-12)


def test_values_at_one_point_are_cached(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    calls = []
    for name in ("_f", "_fg", "_h"):
        fn = getattr(obj, name)
        original = fn._kernel
        fn._kernel = lambda *a, _o=original, _n=name: calls.append(_n) or _o(*a)
    x = rng.normal(size=5)
    obj.fun_and_jac(x)
    obj.fun(x)
    obj.jac(x.copy())  # same point, another array
    obj.hess(x)
    obj.hess(x)
    assert calls == ["_fg", "_h"]
    obj.fun(x + 1)
    assert calls[-1] == "_f"


def test_objective_drives_ricci_and_scipy_solvers_to_the_same_optimum(logistic):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    x0 = np.zeros(obj.size)
    ref = scipy.optimize.minimize(obj.fun, x0, jac=obj.jac, hess=obj.hess, method="trust-exact", options={"gtol": 1e-10})
    for method in ("newton", "trust-exact", "trust-ncg", "trust-krylov", "lbfgs"):
        res = minimize(obj, x0, method=method, options={"gtol": 1e-7})
        assert res.success, (method, res.message)
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-7)
    res = scipy.optimize.minimize(obj.fun, x0, jac=obj.jac, hess=obj.hess, method=__import__("ricci.solvers", fromlist=["newton"]).newton)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-5, atol=1e-6)


def test_least_squares_bridge(rng):
    T = rs.Matrix("T", "m", "n")
    U = rs.Matrix("U", "m", "k")
    V = rs.Matrix("V", "n", "k")
    Ta = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 5))
    ls = rs.LeastSquares(T - U @ V.T, [U, V], dict(T=Ta), sizes={"k": 2})
    x = rng.normal(size=ls.size)
    J = ls.jac(x)
    assert J.shape == (30, ls.size) and ls.fun(x).shape == (30,)
    fd = np.array([(ls.fun(x + 1e-6 * e) - ls.fun(x - 1e-6 * e)) / 2e-6 for e in np.eye(ls.size)]).T
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7)
    res = least_squares(ls, x, method="lm")
    assert res.success and res.cost < 1e-20
    o = ls.objective()
    np.testing.assert_allclose(o.jac(x), J.T @ ls.fun(x), rtol=1e-12)


def test_data_on_array_api_strict_keeps_x_there(logistic, rng):
    data = {k: xs.asarray(v) if isinstance(v, np.ndarray) else v for k, v in logistic.items()}
    obj = rs.Objective(LOSS, wrt=[w, b], data=data)
    x = xs.asarray(rng.normal(size=5))
    g = obj.jac(x)
    H = obj.hess(x)
    assert type(g) is type(x) and type(H) is type(x)
    ref = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    np.testing.assert_allclose(np.asarray(H), ref.hess(np.asarray(x)), rtol=1e-12)


def test_errors_name_the_array(logistic):
    with pytest.raises(ValueError, match=r"missing data for y \(m,\)"):
        rs.Objective(LOSS, wrt=[w, b], data={k: v for k, v in logistic.items() if k != "y"})
    with pytest.raises(ValueError, match=r"data 'y' must have shape \(m,\) = \(80,\)"):
        rs.Objective(LOSS, wrt=[w, b], data={**logistic, "y": np.ones(7)})
    with pytest.raises(ValueError, match="'Z', which the expression does not use"):
        rs.Objective(LOSS, wrt=[w, b], data={**logistic, "Z": 1.0})
    with pytest.raises(ValueError, match="NaN"):
        rs.Objective(LOSS, wrt=[w, b], data={**logistic, "X": np.full((80, 4), np.nan)})
    with pytest.raises(ValueError, match="scalar"):
        rs.Objective(X @ w, wrt=w, data=dict(X=np.ones((2, 2))))
    with pytest.raises(ValueError, match="cannot also be data"):
        rs.Objective(LOSS, wrt=[w, b], data={**logistic, "w": np.ones(4)})
    with pytest.raises(ValueError, match="sizes=.*'k'"):
        rs.Objective(rs.norm2(rs.Matrix("T", "m", "n") - rs.Matrix("U", "m", "k") @ rs.Matrix("V", "n", "k").T) ** 2,
                     wrt=["U", "V"], data=dict(T=np.ones((3, 3))))
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    with pytest.raises(ValueError, match="flat vector of length 5"):
        obj.fun(np.zeros(4))
    with pytest.raises(ValueError, match="no variable named 'q'"):
        rs.Objective(LOSS, wrt="q", data=logistic)


@pytest.mark.gpu
def test_objective_on_cupy(logistic, rng, cupy):
    data = {k: cupy.asarray(v) if isinstance(v, np.ndarray) else v for k, v in logistic.items()}
    obj = rs.Objective(LOSS, wrt=[w, b], data=data)
    res = minimize(obj, cupy.zeros(obj.size), method="newton")
    assert isinstance(res.x, cupy.ndarray) and res.success
    ref = minimize(rs.Objective(LOSS, wrt=[w, b], data=logistic), np.zeros(5), method="newton")
    np.testing.assert_allclose(cupy.asnumpy(res.x), ref.x, rtol=1e-6)


def test_with_data_like_and_weighted_least_squares(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    strict = obj.with_data({k: xs.asarray(v) if isinstance(v, np.ndarray) else v for k, v in logistic.items()})
    x = rng.normal(size=5)
    np.testing.assert_allclose(np.asarray(strict.jac(xs.asarray(x))), obj.jac(x), rtol=1e-12)
    z = rs.Vector("z", 3)
    free = rs.Objective(rs.sum(rs.exp(z)), wrt=z, like=xs.asarray(np.zeros(1)))
    assert type(free.jac(xs.asarray(np.zeros(3)))) is type(xs.asarray(np.zeros(1)))
    ls = rs.LeastSquares(rs.exp(z) - 1.0, wrt=z)
    assert ls.objective(weight=1).fun(np.ones(3)) == pytest.approx(2 * ls.objective().fun(np.ones(3)))
    res = least_squares(ls, np.ones(3), method="lm")
    assert res.success and res.nit >= 1


def test_a_list_or_tuple_is_the_point_it_stands_for():
    """fun/jac/hess of a Python sequence return values (the per-point cache compares the sequence as a vector),
    the same as for the array; a ragged sequence is refused by the evaluation's own check."""
    x = rs.Vector("x", 3)
    obj = rs.Objective(rs.sum(x * x), wrt=x, data={})
    assert obj.fun([0.0, 1.0, 0.0]) == 1.0
    assert obj.fun((1, 1, 1)) == 3.0
    np.testing.assert_array_equal(obj.jac([1, 2, 3]), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(obj.hess([1, 2, 3]), 2 * np.eye(3))
    with pytest.raises(ValueError):
        obj.fun([1.0, [2.0, 3.0], 4.0])
