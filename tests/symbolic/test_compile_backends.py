"""Compiled functions: shared work, lowering, backends (NumPy, array-api-strict, CuPy), dtypes, stability, errors."""

import re
import warnings

import array_api_strict as xs
import numpy as np
import pytest

import ricci.symbolic as rs
from test_derivatives import CASES, data

Xd = rs.Matrix("X", "m", "n")
y = rs.Vector("y", "m")
w = rs.Vector("w", "n")
lam = rs.Scalar("lam")
LOGISTIC = rs.sum(rs.softplus(-y * (Xd @ w))) + lam / 2 * (w @ w)


def logistic_data(rng, m=60, n=7, dtype=np.float64):
    return dict(
        X=rng.normal(size=(m, n)).astype(dtype), y=np.sign(rng.normal(size=m)).astype(dtype),
        w=rng.normal(size=n).astype(dtype), lam=1e-2,
    )


def logistic_reference(X, y, w, lam):
    z = -y * (X @ w)
    s = 1 / (1 + np.exp(-z))
    f = np.sum(np.logaddexp(0, z)) + lam / 2 * w @ w
    g = X.T @ (-y * s) + lam * w
    H = X.T @ ((s * (1 - s))[:, None] * X) + lam * np.eye(len(w))
    return f, g, H


def kernel_source(fn):
    return fn.source[fn.source.index("def kernel"):]


def test_compiled_logistic_matches_hand_written(rng):
    vals = logistic_data(rng)
    fn = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w)])
    for got, want in zip(fn(**vals), logistic_reference(**vals)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_shared_subexpressions_are_computed_once():
    fn = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w)])
    src = kernel_source(fn)
    assert len(re.findall(r"= X @ ", src)) == 1, src  # the forward product X w (however scaled): once
    assert src.count("_sigmoid(xp,") == 1, src
    assert src.count("_softplus(xp,") == 1, src


def test_contractions_are_lowered_to_blas_calls_without_loops():
    fn = rs.compile([rs.hessian(LOGISTIC, w), rs.hessian(rs.norm2(Xd - rs.Matrix("U", "m", "k") @ rs.Matrix("V", "n", "k").T) ** 2, rs.Matrix("U", "m", "k"))])
    src = kernel_source(fn)
    assert "for " not in src and "while " not in src and "einsum" not in src
    assert ".T @ " in src or "@ X" in src
    assert fn.source.startswith("def ") and "xp." in src


def test_repr_and_source_are_readable():
    fn = rs.compile(LOGISTIC, name="logistic_loss")
    assert "logistic_loss" in repr(fn) and "X(m, n)" in repr(fn)
    assert "def logistic_loss(xp, dtype, device, dim_m, dim_n" in fn.source


def test_single_expression_returns_an_array_list_returns_a_tuple(rng):
    vals = logistic_data(rng)
    f = rs.compile(LOGISTIC)(**vals)
    assert isinstance(f, (np.ndarray, np.generic)) and np.ndim(f) == 0
    out = rs.compile([LOGISTIC])(**vals)
    assert isinstance(out, tuple) and len(out) == 1


def to_strict(values):
    return {k: xs.asarray(v) if isinstance(v, np.ndarray) else v for k, v in values.items()}


@pytest.mark.parametrize("name,f,wrt", CASES, ids=[c[0] for c in CASES])
def test_every_case_runs_on_array_api_strict(name, f, wrt, rng):
    """The generated code uses only the standard namespace: array-api-strict rejects anything else."""
    values = data(rng)
    exprs = [f] + [rs.grad(f, v) for v in wrt] + [rs.hessian(f, wrt[0])]
    fn = rs.compile(exprs)
    needed = {v.name for v in fn.variables}
    values = {k: v for k, v in values.items() if k in needed}
    ref = fn(**values)
    got = fn(**to_strict(values))
    for r, g in zip(ref, got):
        assert isinstance(g, xs._array_object.Array if hasattr(xs, "_array_object") else type(g))
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-12, atol=1e-12)


def test_logistic_on_array_api_strict(rng):
    vals = logistic_data(rng)
    fn = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w), rs.hvp(LOGISTIC, w, rs.Vector("v", "n"))])
    v = rng.normal(size=vals["w"].shape)
    got = fn(**to_strict(vals), v=xs.asarray(v))
    ref = logistic_reference(**vals)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got[3]), ref[2] @ v, rtol=1e-12)


def test_constants_move_to_the_inputs_namespace(rng):
    C = rng.normal(size=(3, 3))
    x = rs.Vector("x", 3)
    f = x @ rs.const(C, "C") @ x
    fn = rs.compile([f, rs.hessian(f, x)])
    xv = rng.normal(size=3)
    fv, H = fn(x=xs.asarray(xv))
    np.testing.assert_allclose(np.asarray(H), C + C.T)
    np.testing.assert_allclose(float(fv), xv @ C @ xv)


def test_float32_in_float32_out(rng):
    vals = logistic_data(rng, dtype=np.float32)
    outs = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w)])(**vals)
    assert all(o.dtype == np.float32 for o in outs)
    ref = logistic_reference(**{k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in vals.items()})
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)


def test_mixed_float32_and_float64_gives_float64(rng):
    vals = logistic_data(rng)
    vals["X"] = vals["X"].astype(np.float32)
    assert rs.compile(LOGISTIC)(**vals).dtype == np.float64


def test_integer_labels_are_converted(rng):
    vals = logistic_data(rng)
    vals["y"] = vals["y"].astype(np.int64)
    f = rs.compile(LOGISTIC)(**vals)
    assert f.dtype == np.float64
    np.testing.assert_allclose(f, logistic_reference(**{**vals, "y": vals["y"].astype(float)})[0])


@pytest.mark.parametrize("margin", [1000.0, -1000.0])
def test_logistic_is_stable_for_huge_margins(margin):
    """softplus, sigmoid and sigmoid' stay finite and warning-free (warnings are errors in this suite)."""
    X = np.full((4, 1), margin)
    vals = dict(X=X, y=np.array([1.0, -1.0, 1.0, -1.0]), w=np.array([1.0]), lam=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, g, H = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w)])(**vals)
    assert np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))
    np.testing.assert_allclose(f, 2 * abs(margin), rtol=1e-12)  # two points misclassified by |margin|
    np.testing.assert_allclose(H, 0.0, atol=1e-300)


# --- errors ------------------------------------------------------------------------------------------------


def test_missing_and_unknown_variables_are_named(rng):
    fn = rs.compile(LOGISTIC)
    vals = logistic_data(rng)
    with pytest.raises(ValueError, match=r"missing w \(n,\)"):
        fn(**{k: v for k, v in vals.items() if k != "w"})
    with pytest.raises(ValueError, match=r"unknown bogus"):
        fn(**vals, bogus=1.0)


def test_wrong_shapes_name_the_variable_and_the_bound_sizes(rng):
    fn = rs.compile(LOGISTIC)
    vals = logistic_data(rng, m=60, n=7)
    with pytest.raises(ValueError, match=r"w: expected shape \(n,\) = \(7,\) \(n = 7 from X\), got \(5,\)"):
        fn(**{**vals, "w": np.zeros(5)})
    with pytest.raises(ValueError, match=r"y: expected a 1-D array of shape \(m,\), got shape \(60, 1\)"):
        fn(**{**vals, "y": np.zeros((60, 1))})
    A = rs.Matrix("A", 3, 3)
    with pytest.raises(ValueError, match=r"A: expected shape \(3, 3\) = \(3, 3\), got \(3, 4\)"):
        rs.compile(rs.trace(A))(A=np.zeros((3, 4)))


def test_tied_dimensions_are_checked_at_call_time():
    A = rs.Matrix("A", "m", "n")
    x = rs.Vector("x", "k")
    fn = rs.compile(rs.sum(A @ x))  # ties n = k
    assert fn(A=np.ones((2, 3)), x=np.ones(3)) == 6
    with pytest.raises(ValueError, match="dimension mismatch.*k = 4.*n = 3"):
        fn(A=np.ones((2, 3)), x=np.ones(4))


def test_mixed_array_libraries_are_refused(rng):
    vals = logistic_data(rng)
    with pytest.raises(TypeError, match="one library"):
        rs.compile(LOGISTIC)(**{**vals, "X": xs.asarray(vals["X"])})


def test_complex_and_bad_values_are_refused():
    x = rs.Vector("x", 2)
    fn = rs.compile(x @ x)
    with pytest.raises(TypeError, match="complex"):
        fn(x=np.ones(2, dtype=complex))
    with pytest.raises(TypeError, match="x: expected"):
        fn(x=True)


def test_compile_argument_errors():
    with pytest.raises(TypeError, match="item 0"):
        rs.compile([1.0])
    with pytest.raises(ValueError, match="non-empty"):
        rs.compile([])
    with pytest.raises(ValueError, match="two variables are named 'x'"):
        rs.compile([rs.Vector("x", 2) @ rs.Vector("x", 2), rs.Scalar("x")])
    with pytest.raises(ValueError, match="positive int"):
        rs.compile(LOGISTIC, sizes={"m": 0})


def test_size_hints_change_the_contraction_order_not_the_result(rng):
    A = rs.Matrix("A", "m", "n")
    B = rs.Matrix("B", "n", "p")
    v = rs.Vector("v", "p")
    e = A @ B @ v
    a, b, vv = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    for sizes in [None, {"m": 10, "n": 10, "p": 10000}, {"m": 100000, "n": 10, "p": 10}]:
        fn = rs.compile(e, sizes=sizes)
        np.testing.assert_allclose(fn(A=a, B=b, v=vv), a @ b @ vv)
    assert rs.compile(e).source.count("@") == 2


# --- GPU -----------------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cupy_in_cupy_out(rng, cupy):
    cp = cupy
    vals = logistic_data(rng)
    fn = rs.compile([LOGISTIC, rs.grad(LOGISTIC, w), rs.hessian(LOGISTIC, w)])
    got = fn(**{k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in vals.items()})
    for g, r in zip(got, logistic_reference(**vals)):
        assert isinstance(g, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(g), r, rtol=1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("name,f,wrt", CASES, ids=[c[0] for c in CASES])
def test_every_case_runs_on_cupy(name, f, wrt, rng, cupy):
    cp = cupy
    values = data(rng)
    fn = rs.compile([f] + [rs.grad(f, v) for v in wrt])
    needed = {v.name for v in fn.variables}
    values = {k: v for k, v in values.items() if k in needed}
    for r, g in zip(fn(**values), fn(**{k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in values.items()})):
        np.testing.assert_allclose(cp.asnumpy(g), r, rtol=1e-10, atol=1e-10)


def test_logistic_hessian_uses_a_symmetric_rank_k_update(rng):
    """X'*diag(s)*X with s >= 0 (interval analysis) is lowered to Z'*Z, Z = sqrt(s) .* X (BLAS syrk)."""
    fn = rs.compile(rs.hessian(LOGISTIC, w))
    src = kernel_source(fn)
    assert "xp.sqrt(" in src and re.search(r"(t\d+_\d+)\.T @ \1\b", src), src
    vals = logistic_data(rng)
    np.testing.assert_allclose(fn(**vals), logistic_reference(**vals)[2], rtol=1e-12)


def test_gram_lowering_is_refused_when_the_weights_may_be_negative(rng):
    Xd2, v = rs.Matrix("X", "m", "n"), rs.Vector("v", "m")
    H = Xd2.T @ rs.diag(rs.tanh(v)) @ Xd2
    src = kernel_source(rs.compile(H))
    assert "sqrt" not in src
    Xa, va = rng.normal(size=(6, 3)), rng.normal(size=6)
    np.testing.assert_allclose(rs.compile(H)(X=Xa, v=va), Xa.T @ np.diag(np.tanh(va)) @ Xa, rtol=1e-12)


def test_interval_bounds():
    from ricci.symbolic._bounds import bounds, nonnegative

    v = rs.Vector("v", "m")
    s = rs.sigmoid(v)
    assert bounds(s) == (0.0, 1.0) and nonnegative(1 - s) and nonnegative(s * (1 - s))
    assert nonnegative(v * v) and nonnegative(rs.exp(v) + 1) and not nonnegative(v) and not nonnegative(rs.tanh(v))
    assert nonnegative(v**2) and nonnegative(rs.sum(v * v)) and not nonnegative(rs.sum(v))


def test_constant_factors_go_onto_the_smallest_operand():
    T, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    src = kernel_source(rs.compile(rs.hessian(rs.norm2(T - U @ V.T) ** 2, U), sizes={"m": 100, "n": 100, "k": 10}))
    assert "2 * V" in src and "permute_dims" not in src, src


def test_declared_variables_are_accepted_though_unread(rng):
    H = rs.hessian(LOGISTIC, w)
    x = rs.Vector("x", "n")
    fn = rs.compile(rs.hessian(x @ rs.Matrix("A", "n", "n") @ x, x), variables=[x])
    A = rng.normal(size=(3, 3))
    np.testing.assert_allclose(fn(A=A, x=np.ones(3)), A + A.T)
    with pytest.raises(ValueError, match="x: expected shape"):
        fn(A=A, x=np.ones(4))
    with pytest.raises(TypeError, match="variables must be variables"):
        rs.compile(H, variables=["X"])


def test_repeated_calls_reuse_the_binding_but_still_check_new_shapes(rng):
    fn = rs.compile(LOGISTIC)
    vals = logistic_data(rng)
    fn(**vals)
    fn(**vals)
    assert len(fn._binding.cache) == 1
    with pytest.raises(ValueError, match="w: expected shape"):
        fn(**{**vals, "w": np.zeros(3)})


def test_logsumexp_is_stable_and_its_gradient_is_the_softmax():
    Z = rs.Matrix("Z", "m", "k")
    f = rs.sum(rs.logsumexp(Z, axis=1))
    Za = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -999.0, -1001.0]])
    fv, g, H = rs.compile([f, rs.grad(f, Z), rs.hessian(f, Z)])(Z=Za)
    shifted = Za - Za.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(fv, np.sum(Za.max(axis=1) + np.log(np.exp(shifted).sum(axis=1))))
    np.testing.assert_allclose(g, P, atol=1e-15)
    assert np.all(np.isfinite(H))
    assert str(rs.parse("logsumexp(z)", z="k")) == "logsumexp(z)"
