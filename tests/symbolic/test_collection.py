"""Higher order (issue 10, item 7): products that share a tensor structure are collected, equal factors inside
products are built once, and symmetric products are computed on their distinct entries.

Identities are checked structurally (`is`: equal expressions are one object); values against np.einsum of
the uncollected form and, for derivatives, against finite differences.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ricci.symbolic as rs
from ricci.symbolic._nodes import Add, Contract, topological

X = rs.Matrix("X", "m", "n")
Y = rs.Matrix("Y", "m", "n")
u = rs.Vector("u", "m")
v = rs.Vector("v", "m")
s = rs.Scalar("s")
w = rs.Vector("w", "n")
y = rs.Vector("y", "m")
lam = rs.Scalar("lam")


def gram(weights):
    """X' diag(weights) X as one product: sum_a weights[a] X[a,i] X[a,j]."""
    return rs.einsum("a,ai,aj->ij", weights, X, X)


# ------------------------------------------------------------------------------------------------------------
# a*T + b*T over summed indices -> (a+b)*T


def test_weights_on_one_structure_are_collected():
    assert 2 * gram(u) + 3 * gram(v) is gram(2 * u + 3 * v)
    assert gram(u) - gram(v) is gram(u - v)
    assert X.T @ rs.diag(u) @ X - X.T @ rs.diag(v) @ X is X.T @ rs.diag(u - v) @ X
    assert gram(u) + s * gram(v) is gram(u + s * v)  # a scalar is a weight too


def test_other_structures_stay_apart():
    mixed = gram(u) + rs.einsum("a,ai,aj->ij", v, Y, Y)
    assert isinstance(mixed, Add) and len(mixed.terms) == 2
    outer = rs.einsum("a,ai,aj->ij", u, X, Y) + rs.einsum("a,ai,aj->ij", v, Y, X)  # X'UY and Y'VX differ
    assert isinstance(outer, Add) and len(outer.terms) == 2
    assert isinstance(gram(u) + rs.outer(w, w), Add)  # no summed index: nothing to collect


def _products_over(e, var, count):
    """The products in e's DAG that hold ``var`` ``count`` times."""
    return [n for n in topological([e]) if isinstance(n, Contract) and sum(op is var for op in n.operands) == count]


def test_the_logistic_third_derivative_is_one_product_over_x_x_x():
    f = rs.sum(rs.softplus(-y * (X @ w))) + lam / 2 * (w @ w)
    T3 = rs.derivative(f, w, 3)
    assert len(_products_over(T3, X, 3)) == 1  # before: two products over X (x) X (x) X, weights apart
    assert not isinstance(T3, Add) or len(T3.terms) == 1  # one (scaled) product


@pytest.mark.parametrize("order", [3])
def test_collected_third_derivatives_match_finite_differences(order, rng, check_derivatives):
    f = rs.sum(rs.softplus(-y * (X @ w))) + lam / 2 * (w @ w)
    values = dict(X=rng.normal(size=(12, 4)), y=np.sign(rng.normal(size=12)), w=0.5 * rng.normal(size=4), lam=0.3)
    check_derivatives(f, w, values, order=order, rtol=1e-5, atol=1e-6)
    g = rs.sum(rs.log1p(rs.exp(X @ w)) ** 2)  # several weights per structure at order 3
    check_derivatives(g, w, values, order=order, rtol=1e-5, atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 5), a=st.sampled_from([0, 1, -2, 0.375]),
       b=st.sampled_from([1, -1, 3.5]), seed=st.integers(0, 2**31 - 1))
def test_collected_values_equal_the_sum_of_products(m, n, a, b, seed):
    rng = np.random.default_rng(seed)
    ua, va, Xa = rng.normal(size=m), rng.normal(size=m), rng.normal(size=(m, n))
    e = a * rs.einsum("a,ai,aj,ak->ijk", u, X, X, X) + b * rs.einsum("a,a,ai,aj,ak->ijk", u, v, X, X, X)
    assert len(_products_over(e, X, 3)) == 1
    got = rs.compile(e)(u=ua, v=va, X=Xa)
    ref = a * np.einsum("a,ai,aj,ak->ijk", ua, Xa, Xa, Xa) + b * np.einsum("a,a,ai,aj,ak->ijk", ua, va, Xa, Xa, Xa)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------------------------
# Equal factors built once; symmetric products on their distinct entries


def test_a_step_shared_by_two_products_is_computed_once(rng):
    P = rs.Matrix("P", "m", "k")
    first = rs.einsum("aj,al,ai->ijl", P, P, X)   # both start from P[a,j] P[a,l]
    second = rs.einsum("aj,al,ai->jli", P, P, Y)
    fn = rs.compile([first, second], sizes={"m": 50, "n": 4, "k": 3})
    pair_products = [line for line in fn.source.splitlines() if "xp.take(P" in line and " * " in line]
    assert len(pair_products) == 1, fn.source
    Pa, Xa, Ya = rng.normal(size=(50, 3)), rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    got = fn(P=Pa, X=Xa, Y=Ya)
    np.testing.assert_allclose(got[0], np.einsum("aj,al,ai->ijl", Pa, Pa, Xa), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.einsum("aj,al,ai->jli", Pa, Pa, Ya), rtol=1e-12)


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 6), p=st.integers(1, 4), scale=st.sampled_from([1, -1, 2.5]),
       seed=st.integers(0, 2**31 - 1))
def test_symmetric_products_against_einsum(m, n, p, scale, seed):
    rng = np.random.default_rng(seed)
    Z = rs.Matrix("Z", "m", "p")
    Xt = rs.Matrix("Xt", "n", "m")
    cases = [
        ("a,ai,aj,ak->ijk", (u, X, X, X)),        # the cube: entries i <= j <= k only
        ("ia,ja,ka->kij", (Xt, Xt, Xt)),         # the cube of a transposed layout
        ("a,ai,aj,ak->jki", (u, Z, X, X)),       # a pair (j, k): half
        ("aj,al,ai,ak->ijkl", (Z, Z, X, X)),     # two pairs: a quarter
        ("ai,aj->ij", (X, X)),                   # a matrix: left to BLAS
    ]
    values = dict(u=rng.normal(size=m), X=rng.normal(size=(m, n)), Z=rng.normal(size=(m, p)),
                  Xt=rng.normal(size=(n, m)))
    arrays = {"u": values["u"], "X": values["X"], "Z": values["Z"], "Xt": values["Xt"]}
    exprs = [scale * rs.einsum(spec, *ops) for spec, ops in cases]
    fn = rs.compile(exprs)
    got = fn(**{k: arrays[k] for k in ("u", "X", "Z", "Xt")})
    for (spec, ops), g in zip(cases, got):
        ref = scale * np.einsum(spec, *[arrays[o.name] for o in ops])
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10)


def test_the_third_derivative_kernel_computes_the_distinct_entries(rng):
    f = rs.sum(rs.softplus(-y * (X @ w))) + lam / 2 * (w @ w)
    fn = rs.compile(rs.derivative(f, w, 3), sizes={"m": 40, "n": 6})
    assert "_cube_positions" in fn.source
    Xa, ya, wa = rng.normal(size=(40, 6)), np.sign(rng.normal(size=40)), 0.3 * rng.normal(size=6)
    t = -ya * (Xa @ wa)
    sig = 1 / (1 + np.exp(-t))
    weight = -ya ** 3 * sig * (1 - sig) * (1 - 2 * sig)  # d^3/dt^3 softplus(t), times (-y)^3
    np.testing.assert_allclose(fn(X=Xa, y=ya, w=wa), np.einsum("a,ai,aj,ak->ijk", weight, Xa, Xa, Xa),
                               rtol=1e-10, atol=1e-12)


def test_the_symmetric_and_streamed_lowerings_use_only_the_array_api(rng):
    """The cube, the pairs and the streamed Gram-vector product on array-api-strict inputs."""
    xs = pytest.importorskip("array_api_strict")
    Z, d = rs.Matrix("Z", "m", "p"), rs.Vector("d", "n")
    exprs = [rs.einsum("a,ai,aj,ak->ijk", u, X, X, X), rs.einsum("aj,al,ai,ak->ijkl", Z, Z, X, X),
             X.T @ (u * (X @ d))]
    fn = rs.compile(exprs, sizes={"m": 8192, "n": 512, "p": 3})
    assert all(h in fn.source for h in ("_cube_positions", "_symmetric_pairs", "_gram_vector"))
    ua, Xa, Za, da = rng.normal(size=300), rng.normal(size=(300, 5)), rng.normal(size=(300, 3)), rng.normal(size=5)
    got = fn(u=xs.asarray(ua), X=xs.asarray(Xa), Z=xs.asarray(Za), d=xs.asarray(da))
    refs = [np.einsum("a,ai,aj,ak->ijk", ua, Xa, Xa, Xa), np.einsum("aj,al,ai,ak->ijkl", Za, Za, Xa, Xa),
            Xa.T @ (ua * (Xa @ da))]
    for g, ref in zip(got, refs):
        assert type(g).__module__.startswith("array_api_strict")
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-12, atol=1e-12)
