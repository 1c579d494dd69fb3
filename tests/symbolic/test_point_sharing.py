"""One evaluation point: f, the gradient, the Hessian and Hessian-vector products at one x share their
intermediates (issue 10, item 4); parameters are rebound without differentiating or compiling again; a
compiled derivative accepts its origin's variables (item 8) and takes precomputed subexpressions.

The oracle for sharing is a data matrix that counts the matrix products it takes part in: at one point, X @ w
is formed once however many products with the Hessian follow, and each product costs two products with X.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ricci.symbolic as rs

X = rs.Matrix("X", "m", "n")
y = rs.Vector("y", "m")
w = rs.Vector("w", "n")
b = rs.Scalar("b")
lam = rs.Scalar("lam")
LOSS = rs.sum(rs.softplus(-y * (X @ w + b))) + lam / 2 * (w @ w)


class Counted(np.ndarray):
    """A NumPy array that counts the matrix products (``@``) it, or an array made from it, takes part in."""

    products = 0

    def __matmul__(self, other):
        Counted.products += 1
        return np.matmul(np.asarray(self), np.asarray(other))

    def __rmatmul__(self, other):
        Counted.products += 1
        return np.matmul(np.asarray(other), np.asarray(self))


def counted(a) -> Counted:
    Counted.products = 0
    return np.asarray(a, dtype=np.float64).view(Counted)


@pytest.fixture
def logistic(rng):
    Xa = rng.normal(size=(60, 5))
    ya = np.sign(Xa @ rng.normal(size=5) + 0.3 * rng.normal(size=60))
    return dict(X=Xa, y=ya, lam=0.1)


def fd_hessp(obj, x, p, h=1e-6):
    """(g(x + h p) - g(x - h p)) / 2h: the Hessian-vector product by central differences of the gradient."""
    return (obj.jac(x + h * p) - obj.jac(x - h * p)) / (2 * h)


# ------------------------------------------------------------------------------------------------------------
# Hessian-vector products from the point's intermediates


def test_hessp_equals_the_hessian_times_p_and_finite_differences(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    x = rng.normal(size=obj.size)
    H = obj.hess(x)
    for _ in range(3):  # several products at one point, each from the cached curvature
        p = rng.normal(size=obj.size)
        np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(obj.hessp(x, p), fd_hessp(obj, x, p), rtol=1e-6, atol=1e-6)


def test_hessp_at_a_new_point_before_anything_else(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    fresh = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    x, p = rng.normal(size=obj.size), rng.normal(size=obj.size)
    np.testing.assert_allclose(obj.hessp(x, p), fresh.hess(x) @ p, rtol=1e-12, atol=1e-12)
    x2 = x + 0.5
    np.testing.assert_allclose(obj.hessp(x2, p), fresh.hess(x2) @ p, rtol=1e-12, atol=1e-12)  # no stale values
    assert obj.fun(x2) == pytest.approx(fresh.fun(x2), rel=1e-14)


@settings(max_examples=15, deadline=None)
@given(m=st.integers(3, 9), n=st.integers(2, 5), k=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_factorization_and_softmax_hessp_against_dense_hessians(m, n, k, seed):
    rng = np.random.default_rng(seed)
    T, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    fact = rs.Objective(rs.norm2(T - U @ V.T) ** 2, wrt=[U, V], data=dict(T=rng.normal(size=(m, n))),
                        sizes={"k": k})
    Xs, Ys, W, c = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Matrix("W", "n", "k"), rs.Vector("c", "k")
    Z = Xs @ W + rs.outer(rs.ones("m"), c)
    soft_f = rs.sum(rs.logsumexp(Z, axis=1)) - rs.sum(Ys * Z) + lam / 2 * rs.sum(W * W)
    labels = np.eye(k + 1)[rng.integers(0, k + 1, size=m)]
    soft = rs.Objective(soft_f, wrt=[W, c], data=dict(X=rng.normal(size=(m, n)), Y=labels, lam=0.5))
    for obj in (fact, soft):
        x = rng.normal(size=obj.size)
        obj.fun_and_jac(x)
        H = obj.hess(x)
        for _ in range(2):
            p = rng.normal(size=obj.size)
            np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------------------------
# What runs once per point


def _count_kernels(obj) -> list:
    """Record every kernel call of the objective's plan as (the goals it computes, what the point held)."""
    calls = []
    plan, make = obj._plan, obj._plan.kernel

    def kernel(start, goals):
        stage = make(start, goals)
        fn = stage.kernel
        if not getattr(fn, "_counted", False):
            original = fn._kernel

            def counting(*args, _original=original, _key=(start, goals)):
                calls.append(_key)
                return _original(*args)

            fn._kernel, fn._counted = counting, True
        return stage

    plan.kernel = kernel
    return calls


def test_the_per_point_part_runs_once_across_many_products(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    calls = _count_kernels(obj)
    x = rng.normal(size=obj.size)
    obj.fun(x)
    obj.fun_and_jac(x)  # the gradient from f's intermediates
    for _ in range(10):  # a CG loop at one x
        obj.hessp(x, rng.normal(size=obj.size))
    assert calls == [(None, ("value",)), ("value", ("gradient",)), ("gradient", ("curvature", "product"))] + \
        [("gradient", ("product",))] * 9
    product = obj._plan.kernel("gradient", ("product",))
    # the product reads the point only through precomputed values: neither w nor b is an input of it
    assert {v.name for v in product.kernel.variables}.isdisjoint({"w", "b"}) and product.inputs
    assert obj._plan.kernel("value", ("gradient",)).inputs  # the gradient starts from f's intermediates


def test_one_kernel_per_request_at_a_new_point(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    calls = _count_kernels(obj)
    x, p = rng.normal(size=obj.size), rng.normal(size=obj.size)
    H = obj.hess(x)  # f, g and H in one kernel
    assert calls == [(None, ("value", "gradient", "hessian"))]
    obj.fun(x), obj.jac(x)
    assert len(calls) == 1
    x2 = x + 0.25
    hp = obj.hessp(x2, p)  # f, g, the curvature and the product in one kernel
    assert calls[1:] == [(None, ("value", "gradient", "curvature", "product"))]
    np.testing.assert_allclose(hp, rs.Objective(LOSS, wrt=[w, b], data=logistic).hess(x2) @ p, rtol=1e-12)
    np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-12)


def test_x_enters_matrix_products_once_per_point(logistic, rng):
    data = dict(logistic, X=counted(logistic["X"]))
    obj = rs.Objective(LOSS, wrt=w, data=dict(data, b=0.2))  # b as data: lam*v + X'(s .* X v)
    x = rng.normal(size=obj.size)
    Counted.products = 0
    obj.fun_and_jac(x)
    assert Counted.products == 2  # X @ w and X' r
    for _ in range(10):
        obj.hessp(x, rng.normal(size=obj.size))
    assert Counted.products == 2 + 10 * 2  # X v and X' (s .* X v) per product; X @ w is never formed again


def test_the_intercepts_column_is_computed_once_per_point(logistic, rng):
    """With an intercept, H [v; v_b] holds v_b * X's: X's is the point's (a steady factor), v_b scales it."""
    data = dict(logistic, X=counted(logistic["X"]))
    obj = rs.Objective(LOSS, wrt=[w, b], data=data)
    x = rng.normal(size=obj.size)
    H = rs.Objective(LOSS, wrt=[w, b], data=logistic).hess(x)
    Counted.products = 0
    obj.fun_and_jac(x)
    for _ in range(10):
        p = rng.normal(size=obj.size)
        np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-12, atol=1e-12)
    assert Counted.products == 2 + 1 + 10 * 2  # f and g; X's once; X v and X'(...) per product
    obj.hess(x)
    after_hess = Counted.products
    obj.fun(x), obj.jac(x), obj.hess(x)  # all cached
    assert Counted.products == after_hess


def test_a_line_search_point_costs_f_only_and_the_gradient_reuses_it(logistic, rng):
    data = dict(logistic, X=counted(logistic["X"]))
    obj = rs.Objective(LOSS, wrt=[w, b], data=data)
    x = rng.normal(size=obj.size)
    obj.fun(x)
    assert Counted.products == 1  # X @ w
    obj.jac(x)
    assert Counted.products == 2  # X' r only: X @ w came with the point


# ------------------------------------------------------------------------------------------------------------
# Rebinding parameters


def test_rebinding_a_scalar_shares_derivatives_and_kernels(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    x = rng.normal(size=obj.size)
    H = obj.hess(x)
    heavier = obj.rebind(lam=2.5)
    assert heavier._plan is obj._plan and heavier.gradient is obj.gradient  # nothing differentiated or compiled
    ref = rs.Objective(LOSS, wrt=[w, b], data=dict(logistic, lam=2.5))
    np.testing.assert_allclose(heavier.hess(x), ref.hess(x), rtol=1e-13)
    np.testing.assert_allclose(heavier.hess(x) - H, np.diag([2.4] * 5 + [0.0]), atol=1e-12)
    p = rng.normal(size=obj.size)
    np.testing.assert_allclose(heavier.hessp(x, p), ref.hess(x) @ p, rtol=1e-12)
    assert heavier.fun(x) == pytest.approx(ref.fun(x), rel=1e-14)
    assert obj.data["lam"] == 0.1 and obj.fun(x) == pytest.approx(rs.Objective(LOSS, [w, b], logistic).fun(x))


def test_rebinding_refuses_unknown_names_and_new_shapes(logistic):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    with pytest.raises(ValueError, match="'q' is not data"):
        obj.rebind(q=1.0)
    with pytest.raises(ValueError, match=r"'y' must keep its shape \(60,\)"):
        obj.rebind(y=np.ones(7))
    with pytest.raises(ValueError, match="NaN"):
        obj.rebind(lam=float("nan"))
    with pytest.raises(TypeError, match="expression"):
        obj.rebind(lam=rs.Scalar("mu"))


def test_with_data_shares_the_kernels_where_sizes_agree(logistic, rng):
    obj = rs.Objective(LOSS, wrt=[w, b], data=logistic)
    same = obj.with_data(dict(logistic, X=logistic["X"] * 2))
    assert same._plan is obj._plan
    other = obj.with_data(dict(X=rng.normal(size=(9, 5)), y=np.ones(9), lam=0.1))
    assert other._plan is not obj._plan and other.gradient is obj.gradient
    x = rng.normal(size=obj.size)
    ref = rs.Objective(LOSS, wrt=[w, b], data=dict(logistic, X=logistic["X"] * 2))
    np.testing.assert_allclose(same.jac(x), ref.jac(x), rtol=1e-13)


# ------------------------------------------------------------------------------------------------------------
# compile: origin variables (item 8), precomputed inputs, the reused binding


def test_compiled_derivatives_accept_and_ignore_their_origin_variables(rng):
    T, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    dU = rs.Matrix("dU", "m", "k")
    f = rs.norm2(T - U @ V.T) ** 2
    values = dict(T=rng.normal(size=(5, 4)), U=rng.normal(size=(5, 2)), V=rng.normal(size=(4, 2)),
                  dU=rng.normal(size=(5, 2)))
    hv = rs.compile(rs.hvp(f, U, dU))  # 2*dU*V'*V: reads neither T nor U
    assert {v.name for v in hv.variables} == {"V", "dU"} and {"T", "U"} <= hv.ignored
    np.testing.assert_allclose(hv(**values), 2 * values["dU"] @ values["V"].T @ values["V"], rtol=1e-12)
    with pytest.raises(ValueError, match="unknown Q"):
        hv(**values, Q=np.ones(3))
    H = rs.compile(rs.hessian(f, U))
    assert H(**{k: v for k, v in values.items() if k != "dU"}).shape == (5, 2, 5, 2)
    G2 = rs.compile(rs.grad(rs.sum(rs.grad(f, U)), V))  # origins carry through repeated differentiation
    without_dU = {k: v for k, v in values.items() if k != "dU"}
    assert G2(**without_dU).shape == (4, 2)
    with pytest.raises(ValueError, match="unknown dU"):  # dU is no variable of what this was derived from
        G2(**values)
    with pytest.raises(ValueError, match="unknown T"):
        rs.compile(2 * V)(V=values["V"], T=values["T"])  # a plain expression knows no origin


def test_precomputed_inputs_replace_their_subexpressions(logistic, rng):
    v = rs.Vector("v", "n")
    margin = -y * (X @ w + b)
    hv = rs.hvp(LOSS, w, v)
    full = rs.compile(hv)
    split = rs.compile(hv, precomputed={"margin": margin})
    assert "w" not in {p.name for p in split.variables} and "w" in split.ignored
    values = dict(logistic, w=rng.normal(size=5), b=0.3, v=rng.normal(size=5))
    mvalue = -values["y"] * (values["X"] @ values["w"] + values["b"])
    np.testing.assert_allclose(split(**values, margin=mvalue), full(**values), rtol=1e-13)
    with pytest.raises(ValueError, match="also the name of a variable"):
        rs.compile(hv, precomputed={"y": margin})
    with pytest.raises(ValueError, match="is the variable w"):
        rs.compile(hv, precomputed={"z": w})
    with pytest.raises(TypeError, match="dict name -> expression"):
        rs.compile(hv, precomputed=[margin])


def test_the_reused_binding_reads_new_arrays_and_in_place_changes(rng):
    A, x = rs.Matrix("A", "n", "n"), rs.Vector("x", "n")
    fn = rs.compile(A @ x)
    Aa, xa = rng.normal(size=(4, 4)), rng.normal(size=4)
    np.testing.assert_allclose(fn(A=Aa, x=xa), Aa @ xa)
    x2 = rng.normal(size=4)
    np.testing.assert_allclose(fn(A=Aa, x=x2), Aa @ x2)  # a new array of the same shape
    Aa[0, 0] += 1.0
    np.testing.assert_allclose(fn(A=Aa, x=x2), Aa @ x2)  # the same array, changed in place
    ints = np.arange(4)
    np.testing.assert_allclose(fn(A=Aa, x=ints), Aa @ ints)  # converted: bound again
    ints[0] = 7
    np.testing.assert_allclose(fn(A=Aa, x=ints), Aa @ ints)  # converted copies are never reused
    np.testing.assert_allclose(fn(A=Aa[:3, :3], x=x2[:3]), Aa[:3, :3] @ x2[:3])  # new sizes
    with pytest.raises(ValueError):
        fn(A=Aa, x=np.ones(3))


@pytest.mark.parametrize("weights", ["vector", "scalar", "none"])
def test_large_gram_vector_products_stream_x_in_blocks(weights, rng):
    """X'(w .* (X v)) for a large X is one pass over X's rows in cache-sized blocks (_lower.gram_vector)."""
    v, s = rs.Vector("v", "n"), rs.Scalar("s")
    weight = {"vector": y, "scalar": s, "none": None}[weights]
    e = X.T @ (X @ v) if weight is None else X.T @ (weight * (X @ v))
    fn = rs.compile(e, sizes={"m": 8192, "n": 512})
    assert "_gram_vector" in fn.source
    Xa, ya, va = rng.normal(size=(300, 512)), rng.normal(size=300), rng.normal(size=512)  # three blocks
    values = {"X": Xa, "y": ya, "v": va, "s": 1.5}
    ref = Xa.T @ ({"vector": ya, "scalar": 1.5, "none": 1.0}[weights] * (Xa @ va))
    given = {p.name: values[p.name] for p in fn.variables}
    np.testing.assert_allclose(fn(**given), ref, rtol=1e-12)
