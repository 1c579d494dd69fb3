"""Gathers and scatters: rs.take and rs.scatter_add against NumPy, their derivatives against finite differences,
the selector identities of the simplifier (structurally, with ``is``), the compiled forms that never build a
selector, printing and parsing, and the errors."""

import array_api_strict as xs
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ricci.symbolic as rs
from ricci.symbolic._nodes import ScatterAdd, Take, is_selector, topological


def scatter_reference(G, idx, size, axis):
    """numpy.add.at: the definition of the segment sum."""
    shape = list(G.shape)
    shape[axis] = size
    out = np.zeros(shape)
    np.add.at(out, (slice(None),) * axis + (idx,), G)
    return out


def tensor(name, shape):
    return rs.Tensor(name, *shape) if len(shape) > 2 else {1: rs.Vector, 2: rs.Matrix}[len(shape)](name, *shape)


# --- values against NumPy ----------------------------------------------------------------------------------------

SHAPES = [(5,), (4, 3), (3, 4, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_take_and_scatter_add_match_numpy_on_every_axis_with_repeats(shape, rng):
    for axis in range(len(shape)):
        idx = np.array([shape[axis] - 1, 0, 1, 1, 0, shape[axis] - 1])  # repeated positions, one left out
        A = tensor("A", shape)
        a = rng.normal(size=shape)
        np.testing.assert_array_equal(rs.compile(rs.take(A, idx, axis))(A=a), np.take(a, idx, axis))
        gshape = shape[:axis] + (len(idx),) + shape[axis + 1:]
        G, g = tensor("G", gshape), rng.normal(size=gshape)
        got = rs.compile(rs.scatter_add(G, idx, shape[axis], axis))(G=g)
        np.testing.assert_allclose(got, scatter_reference(g, idx, shape[axis], axis), rtol=1e-14, atol=1e-14)


@settings(max_examples=30)
@given(data=st.data(), shape=st.sampled_from(SHAPES))
def test_hypothesis_indices_give_numpy_values_and_the_adjoint_identity(data, shape):
    """<scatter_add(G), A> = <G, take(A)>: scatter-add is the adjoint of the gather, for any positions."""
    axis = data.draw(st.integers(0, len(shape) - 1))
    size = shape[axis]
    idx = np.array(data.draw(st.lists(st.integers(0, size - 1), min_size=0, max_size=9)), dtype=np.int64)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    A = tensor("A", shape)
    gshape = shape[:axis] + (len(idx),) + shape[axis + 1:]
    G = tensor("G", gshape)
    a, g = rng.normal(size=shape), rng.normal(size=gshape)
    taken, scattered = rs.compile([rs.take(A, idx, axis), rs.scatter_add(G, idx, size, axis)])(A=a, G=g)
    np.testing.assert_array_equal(taken, np.take(a, idx, axis))
    np.testing.assert_allclose(scattered, scatter_reference(g, idx, size, axis), rtol=1e-13, atol=1e-13)
    assert np.sum(scattered * a) == pytest.approx(np.sum(g * taken), rel=1e-12, abs=1e-12)


def test_symbolic_sizes_are_checked_when_bound(rng):
    U = rs.Matrix("U", "m", "r")
    fn = rs.compile(rs.take(U, [0, 4]))
    np.testing.assert_array_equal(fn(U=np.arange(10.0).reshape(5, 2)), [[0, 1], [8, 9]])
    with pytest.raises(IndexError, match="position 4, beyond an axis of size 3"):
        fn(U=np.ones((3, 2)))
    fn = rs.compile(rs.scatter_add(rs.Vector("g", 2), [0, 4], "n"))
    with pytest.raises(IndexError, match="position 4, beyond an axis of size 2"):
        fn(g=np.ones(2), n=2)
    np.testing.assert_array_equal(fn(g=np.array([1.0, 2.0]), n=6), [1, 0, 0, 0, 2, 0])


# --- derivatives against finite differences ------------------------------------------------------------------------

U, V, A = rs.Matrix("U", "m", "r"), rs.Matrix("V", "n", "r"), rs.Matrix("A", "m", "n")
x, w = rs.Vector("x", "n"), rs.Vector("w", 6)
ROWS, COLS = np.array([0, 2, 2, 1, 3, 0]), np.array([1, 1, 0, 2, 2, 0])
Ut, Vt = rs.take(U, ROWS, name="rows"), rs.take(V, COLS, name="cols")
t = rs.Vector("t", 6)
R_OBS = rs.sum(Ut * Vt, axis=1) - t
FACTORIZATION = rs.sum(R_OBS * R_OBS) / 2

DERIVATIVE_CASES = [
    ("factorization", FACTORIZATION, [U, V]),
    ("take of a product", rs.sum(rs.sin(rs.take(A @ x, ROWS))), [A, x]),
    ("take along columns", rs.sum(rs.exp(rs.take(A, COLS, 1)) * rs.take(A, COLS, 1)), [A]),
    ("scatter of a nonlinear vector", rs.sum(rs.tanh(rs.scatter_add(rs.exp(w), ROWS, "m")) ** 2), [w]),
    ("scatter of gathered rows", rs.sum(rs.scatter_add(rs.sigmoid(Ut), COLS, "n", 0) ** 2), [U]),
    ("3-tensor", rs.sum(rs.take(rs.Tensor("T", "m", "n", 2), ROWS, 0) ** 3), [rs.Tensor("T", "m", "n", 2)]),
]


@pytest.mark.parametrize("name, f, wrt", DERIVATIVE_CASES, ids=[c[0] for c in DERIVATIVE_CASES])
def test_first_and_second_derivatives_against_finite_differences(name, f, wrt, check_derivatives, rng):
    values = {"U": rng.normal(size=(4, 2)), "V": rng.normal(size=(3, 2)), "t": rng.normal(size=6),
              "A": rng.normal(size=(4, 3)), "x": rng.normal(size=3), "w": 0.3 * rng.normal(size=6),
              "T": rng.normal(size=(4, 3, 2))}
    for v in wrt:
        check_derivatives(f, v, values, order=2)


@settings(max_examples=8)
@given(rows=st.lists(st.integers(0, 3), min_size=1, max_size=7), seed=st.integers(0, 2**16))
def test_hypothesis_positions_factorization_derivatives(rows, seed, session_checker):
    idx = np.array(rows)
    cols = (3 * idx + 1) % 3
    r = rs.sum(rs.take(U, idx) * rs.take(V, cols), axis=1) - rs.Vector("s", len(idx))
    f = rs.sum(rs.exp(r / 4))
    rng = np.random.default_rng(seed)
    values = {"U": rng.normal(size=(4, 2)), "V": rng.normal(size=(3, 2)), "s": rng.normal(size=len(idx))}
    session_checker(f, U, values, order=2)
    session_checker(f, V, values, order=2)


# --- the simplifier's identities, structurally -----------------------------------------------------------------------

K = len(ROWS)
S = rs.take(rs.eye("m"), ROWS, name="rows")  # the selector S[k, i] = [rows[k] = i]
G = rs.Matrix("G", K, "r")


def test_the_derivative_of_a_gather_is_a_selector_times_the_identity():
    assert rs.jacobian(Ut, U) is rs.einsum("ki,jl->kjil", S, rs.eye("r"))
    assert rs.jacobian(rs.take(x, COLS), x) is rs.take(rs.eye("n"), COLS)
    assert is_selector(S)


def test_selector_products_become_gathers_and_scatters():
    assert rs.einsum("ki,ij->kj", S, U) is Ut  # sum_i S[k, i] U[i, j] = U[rows[k], j]
    assert rs.einsum("ki,kj->ij", S, G) is rs.scatter_add(G, ROWS, "m", name="rows")  # sum_k S[k, i] G[k, j]
    assert rs.sum(S, axis=1) is rs.ones(K)  # each row holds one 1
    assert rs.sum(S, axis=0) is rs.scatter_add(rs.ones(K), ROWS, "m", name="rows")  # the counts
    W = rs.Tensor("W", K, "r", "r")
    blocks = rs.scatter_add(W, ROWS, "m", name="rows")
    assert rs.einsum("ki,kl,kjp->ijlp", S, S, W) is rs.einsum("il,ijp->ijlp", rs.eye("m"), blocks)
    assert rs.einsum("ki,ki,kj->ij", S, S, G) is rs.scatter_add(G, ROWS, "m", name="rows")  # 0/1 entries


def test_gathers_distribute_and_trivial_ones_vanish():
    B = rs.Matrix("B", "m", "r")
    assert rs.take(U + 2 * B, ROWS) is rs.take(U, ROWS) + 2 * rs.take(B, ROWS)
    assert rs.take(rs.eye("m"), ROWS, 1, name="rows") is S.T
    assert rs.take(rs.ones("m", "r"), ROWS) is rs.ones(K, "r")
    assert rs.take(rs.Vector("y", 4), np.arange(4)) is rs.Vector("y", 4)
    assert rs.scatter_add(rs.Vector("y", 4), np.arange(4), 4) is rs.Vector("y", 4)
    assert rs.scatter_add(rs.zeros(K, "r"), ROWS, "m") is rs.zeros("m", "r")
    Gs = rs.Matrix("H", K, "r")
    assert rs.scatter_add(G + Gs, ROWS, "m") is rs.scatter_add(G, ROWS, "m") + rs.scatter_add(Gs, ROWS, "m")


def test_factorization_derivatives_carry_their_structure():
    """Jacobian S[k, i] take(V)[k, j] (r nonzeros per row); gradient a scatter-add; Hessian in U
    delta[i, i'] scatter_add(take(V) take(V)')[i, j, j'] (block diagonal); coupling block a product of the
    two selectors (one r x r block per observed entry)."""
    assert rs.jacobian(R_OBS, U) is rs.einsum("ki,kj->kij", S, Vt)
    g = rs.grad(FACTORIZATION, U)
    assert isinstance(g, ScatterAdd) or isinstance(g.terms[0], ScatterAdd)
    VV = rs.einsum("kj,kl->kjl", Vt, Vt)
    blocks = rs.scatter_add(VV, ROWS, "m", name="rows")
    assert rs.hessian(FACTORIZATION, U) is rs.einsum("il,ijp->ijlp", rs.eye("m"), blocks)
    coupling = rs.jacobian(g, V)
    selectors = {id(n) for n in topological([coupling]) if is_selector(n)}
    assert len(selectors) == 2  # S_rows and S_cols, applied by one segment sum over (rows[k], cols[k])


def test_a_hessian_vector_product_stays_a_scatter_of_gathered_rows():
    """delta[i, i'] scatter_add(V~ V~')[i, j, j'] dU[i', j'] = scatter_add(V~[k, j] (V~[k, :] take(dU)[k, :])):
    the direction is gathered into the scatter, so the product costs k x r, not k x r x r."""
    dU = rs.Matrix("dU", "m", "r")
    inner = rs.einsum("kj,kl,kl->kj", Vt, Vt, rs.take(dU, ROWS, name="rows"))
    assert rs.hvp(FACTORIZATION, U, dU) is rs.scatter_add(inner, ROWS, "m", name="rows")


def test_compiled_derivatives_form_no_selector_and_no_identity_for_it(rng):
    fn = rs.compile([rs.grad(FACTORIZATION, U), rs.hessian(FACTORIZATION, U), rs.jacobian(rs.grad(FACTORIZATION, U), V),
                     rs.jacobian(R_OBS, U)], sizes={"m": 4, "n": 3})
    assert "== xp.reshape(xp.arange" not in fn.source.split("def kernel")[1]  # no dense 0/1 selector
    assert "_segment_sum(" in fn.source and "_spread_rows(" in fn.source
    u, v, tv = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=6)
    g, H, C, J = fn(U=u, V=v, t=tv)
    r = np.sum(u[ROWS] * v[COLS], axis=1) - tv
    Jref = np.zeros((6, 4, 2))
    Jref[np.arange(6), ROWS] = v[COLS]
    np.testing.assert_allclose(J, Jref, rtol=1e-14)
    np.testing.assert_allclose(g, np.einsum("k,kij->ij", r, Jref), rtol=1e-13)
    np.testing.assert_allclose(H, np.einsum("kab,kcd->abcd", Jref, Jref), rtol=1e-13, atol=1e-14)
    JV = np.zeros((6, 3, 2))
    JV[np.arange(6), COLS] = u[ROWS]
    Cref = np.einsum("kab,kcd->abcd", Jref, JV)
    for k in range(6):
        Cref[ROWS[k], :, COLS[k], :] += r[k] * np.eye(2)
    np.testing.assert_allclose(C, Cref, rtol=1e-13, atol=1e-14)


def test_a_selector_that_must_be_whole_is_compared_not_built_from_an_identity(rng):
    """S1[k, i] S2[l, i]: the two positions lists meet on a summed i, which no scatter expresses; the
    0/1 matrices are formed directly from the positions (never eye(n))."""
    S2 = rs.take(rs.eye("m"), [1, 3, 0], name="other")
    e = rs.einsum("ki,li->kl", S, S2)
    fn = rs.compile(e, sizes={"m": 4})
    assert "xp.eye" not in fn.source
    expected = (ROWS[:, None] == np.array([1, 3, 0])[None, :]).astype(float)
    np.testing.assert_array_equal(fn(m=4), expected)
    np.testing.assert_array_equal(rs.compile(S)(m=4), np.eye(4)[ROWS])


def test_the_generic_array_api_path_on_array_api_strict(rng):
    fn = rs.compile([rs.grad(FACTORIZATION, U), rs.jacobian(rs.grad(FACTORIZATION, U), V), rs.jacobian(R_OBS, V)])
    values = {"U": rng.normal(size=(4, 2)), "V": rng.normal(size=(3, 2)), "t": rng.normal(size=6)}
    ref = fn(**values)
    got = fn(**{k: xs.asarray(v) for k, v in values.items()})
    for g, r in zip(got, ref):
        assert not isinstance(g, np.ndarray)
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-13, atol=1e-14)


def test_float32_inputs_keep_integer_positions_and_float32_values(rng):
    fn = rs.compile([Ut, rs.grad(FACTORIZATION, U)])
    u, v, tv = (rng.normal(size=s).astype(np.float32) for s in ((4, 2), (3, 2), 6))
    taken, g = fn(U=u, V=v, t=tv)
    assert taken.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_array_equal(taken, u[ROWS])


def test_export_embeds_integer_positions(rng):
    ns = {}
    exec(compile(rs.export(FACTORIZATION, wrt=[U], order=2, name="mf"), "exported", "exec"), ns)
    u, v, tv = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=6)
    out = ns["mf"](U=u, V=v, t=tv)
    np.testing.assert_allclose(out["d2_U"], rs.compile(rs.hessian(FACTORIZATION, U))(V=v, m=4), rtol=1e-14)


# --- printing and the language -------------------------------------------------------------------------------------


def test_printing_in_matrix_and_index_notation():
    assert str(Ut) == "take(U, rows)"
    assert str(rs.take(A, COLS, 1, name="cols")) == "take(A, cols, 1)"
    assert str(rs.scatter_add(G, ROWS, "m", name="rows")) == "scatter_add(G, rows, m)"
    assert str(rs.jacobian(R_OBS, U)) == "T[i,j,k] = δ[rows[i],j]*V[cols[i],k]"
    assert str(rs.hessian(FACTORIZATION, U)) == \
        "T[i,j,k,l] = δ[i,k]*scatter_add(T1, rows, m)[i,j,l], where T1[i,j,k] = V[cols[i],j]*V[cols[i],k]"
    assert rs.latex(Ut) == r"\operatorname{take}\left(U, \mathrm{rows}\right)"
    assert repr(rs.scatter_add(Ut, ROWS, "m", name="rows")) == \
        "ScatterAdd[rows -> m, axis=0](Take[rows, axis=0](Var(U, mxr)))"


@pytest.mark.parametrize("e", [
    Ut, rs.take(A, COLS, 1, name="cols"), rs.scatter_add(rs.exp(Ut), ROWS, "m", name="rows"),
    rs.take(x, COLS, name="cols") + 1, rs.scatter_add(rs.take(A, COLS, 1, name="cols").T, COLS, "n", 0, name="cols"),
    rs.grad(FACTORIZATION, U),
], ids=str)
def test_what_prints_parses_back_given_the_index_arrays_by_name(e):
    shapes = dict(U=("m", "r"), V=("n", "r"), A=("m", "n"), x="n", t=6, rows=ROWS, cols=COLS)
    assert rs.parse(str(e), **shapes) is e


def test_default_labels_and_the_label_as_the_parse_name():
    e = rs.take(U, ROWS)
    label = e.index.label
    assert label.startswith("idx_") and str(e) == f"take(U, {label})"
    assert rs.parse(str(e), U=("m", "r"), **{label: ROWS}) is e
    assert rs.take(U, ROWS) is e and rs.take(U, ROWS.tolist()) is e  # equal positions are one node
    assert rs.take(U, ROWS, name="rows") is not e  # a label is part of the node


@pytest.mark.parametrize("text, match", [
    ("take(U, r)", "index array declared by keyword"),
    ("take(U, rows, 2)", "axis of take is 0 .rows. or 1"),
    ("rows + 1", "rows is an index array"),
    ("take(x, rows, 1)", "axis 1 needs a matrix"),
    ("scatter_add(U, rows)", "scatter_add takes 3 or 4 arguments"),
    ("take(c, rows)", "needs a vector or a matrix"),
    ("scatter_add(U, rows, m)", "dimension conflict"),
])
def test_language_errors(text, match):
    with pytest.raises(rs.ParseError, match=match):
        rs.parse(text, U=("m", 2), x="n", c=(), rows=ROWS)


# --- errors at the public entry points -------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda: rs.take(U, np.array([0.0, 1.0])), TypeError, "integer array, got dtype float64"),
    (lambda: rs.take(U, np.array([True, False])), TypeError, "flatnonzero"),
    (lambda: rs.take(U, np.array([[0, 1]])), ValueError, "1-D array, got shape"),
    (lambda: rs.take(U, [-1]), ValueError, "non-negative"),
    (lambda: rs.take(rs.Matrix("B", 3, 2), [3]), ValueError, "index 3 is out of range for axis 0 of size 3"),
    (lambda: rs.take(U, [0], axis=2), ValueError, "axis 2 is out of range"),
    (lambda: rs.take(U, [0], axis=1.0), TypeError, "axis must be an int"),
    (lambda: rs.take(rs.Scalar("c"), [0]), ValueError, "got a scalar"),
    (lambda: rs.take(U, U), TypeError, "got an expression"),
    (lambda: rs.take(U, [0], name="not ok"), ValueError, "name"),
    (lambda: rs.scatter_add(G, [0, 1], "m"), ValueError, "2 positions for axis 0 of length 6"),
    (lambda: rs.scatter_add(rs.Vector("g", 2), [0, 5], 5), ValueError, "index 5 is out of range for a result axis of size 5"),
    (lambda: rs.scatter_add(rs.Vector("g", 2), [0, 1], "bad name"), ValueError, "dimension"),
    (lambda: rs.scatter_add(rs.einsum("i,i->i", rs.Vector("g", "k"), rs.Vector("h", 3)), [0, 1], 4), ValueError,
     "scatter_add"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nodes_are_the_gather_and_scatter_types():
    assert isinstance(Ut, Take) and Ut.shape == (K, rs.Matrix("U", "m", "r").shape[1])
    assert isinstance(rs.scatter_add(G, ROWS, "m"), ScatterAdd)


def test_check_derivatives_draws_sizes_that_hold_every_gathered_position():
    """A symbolic axis that a take reads from (or a scatter_add writes to) is drawn at least as long as its
    index's largest position + 1, so the check runs instead of failing with an IndexError."""
    idx = np.array([0, 7, 3])
    x = rs.Vector("x", "n")
    report = rs.check_derivatives(rs.sum(rs.take(x, idx) ** 2), [x])
    assert report.passed and report.sizes["n"] >= 8
    y = rs.Vector("y", 3)
    report = rs.check_derivatives(rs.sum(rs.exp(rs.scatter_add(y, idx, "m"))), [y])
    assert report.passed and report.sizes["m"] >= 8
