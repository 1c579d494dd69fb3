"""Block nodes: concatenation (``rs.concat``, ``rs.stack``) and slicing (``e[a:b]``, ``e[:, a:b]``, ``e[i]``).

Values against NumPy (vectors, matrices, 3-tensors, symbolic sizes, hypothesis-drawn subscripts and layouts),
first and second derivatives against finite differences, the simplification identities structurally (``is``),
derivatives that stay small (no dense selector), printing and parsing, the errors, and residual blocks in
``rs.LeastSquares``.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ricci.symbolic as rs
from ricci.symbolic import _nodes
from ricci.symbolic._nodes import Concat, Delta, Reshape, Slice, topological

x, y = rs.Vector("x", 6), rs.Vector("y", 6)
A, B = rs.Matrix("A", 4, 6), rs.Matrix("B", 3, 6)
T = rs.Tensor("T", 3, 4, 5)
a, b = rs.Vector("a", "m"), rs.Vector("b", "n")
c, d = rs.Scalar("c"), rs.Scalar("d")
SHAPES = dict(x=6, y=6, A=(4, 6), B=(3, 6), a="m", b="n", c=(), d=())


def value(e, **arrays):
    return np.asarray(rs.compile(e)(**arrays))


# -- values against NumPy ------------------------------------------------------------------------------------------

SUBSCRIPTS = [  # (variable, key): every form of basic indexing the subscript takes
    (x, 2), (x, -1), (x, slice(1, 5)), (x, slice(None, None, 2)), (x, slice(1, None, 3)), (x, slice(-3, None)),
    (x, slice(None, -1)), (x, slice(2, 2)), (A, 1), (A, (1, 2)), (A, (slice(None), slice(1, 3))),
    (A, (slice(1, 3), -2)), (A, (Ellipsis, 0)), (A, (slice(None, None, 2), slice(5, 0, 1))),
    (T, (1, slice(None), slice(1, 4))), (T, (Ellipsis, 2)), (T, (slice(0, 3, 2), 3)), (T, (2, 1, 0)),
]


@pytest.mark.parametrize("var, key", SUBSCRIPTS, ids=[f"{v.name}[{k}]" for v, k in SUBSCRIPTS])
def test_subscripts_match_numpy(var, key, rng):
    arr = rng.standard_normal(var.shape)
    if arr[key].size == 0:
        assert var[key] is rs.zeros(*arr[key].shape)  # an empty slice is the zero fill of its shape
    else:
        np.testing.assert_array_equal(value(var[key], **{var.name: arr}), arr[key])


@st.composite
def subscripts(draw, shape):
    """A key of NumPy basic indexing (ints, negative ints, slices with steps) for an array of ``shape``."""
    items = []
    for size in shape[:draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "whole"]))
        if kind == "int":
            items.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            bound = st.one_of(st.none(), st.integers(-size, size))
            items.append(slice(draw(bound), draw(bound), draw(st.one_of(st.none(), st.integers(1, 3)))))
        else:
            items.append(slice(None))
    return tuple(items)


SHAPES_DRAWN = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@settings(max_examples=40)
@given(data=st.data(), shape=SHAPES_DRAWN)
def test_drawn_subscripts_and_subscripts_of_subscripts_match_numpy(data, shape):
    X = rs.Tensor("X", shape)
    arr = np.random.default_rng(len(shape)).standard_normal(shape)
    first = data.draw(subscripts(shape))
    e, expected = X[first], arr[first]
    if expected.ndim:
        second = data.draw(subscripts(expected.shape))
        e, expected = e[second], expected[second]
    if expected.size == 0:
        assert e is rs.zeros(*expected.shape)  # an empty slice is the zero fill of its shape
    else:
        np.testing.assert_array_equal(value(e, X=arr), expected)
    if isinstance(e, Slice):
        assert not isinstance(e.arg, Slice), "slices of slices compose into one"


@settings(max_examples=40)
@given(data=st.data(), ndim=st.integers(1, 3), parts=st.integers(1, 4))
def test_drawn_concatenations_and_stacks_match_numpy(data, ndim, parts):
    shape = data.draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))
    axis = data.draw(st.integers(-ndim, ndim - 1))
    rng = np.random.default_rng(parts)
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=parts, max_size=parts))
    arrays, exprs = {}, []
    for k, size in enumerate(sizes):
        part_shape = list(shape)
        part_shape[axis] = size
        arrays[f"P{k}"] = rng.standard_normal(part_shape)
        exprs.append(rs.Tensor(f"P{k}", part_shape))
    np.testing.assert_array_equal(value(rs.concat(exprs, axis=axis), **arrays),
                                  np.concatenate(list(arrays.values()), axis=axis))
    same = {f"P{k}": rng.standard_normal(shape) for k in range(parts)}
    stack_axis = data.draw(st.integers(-ndim - 1, ndim))
    stacked = rs.stack([rs.Tensor(k, shape) for k in same], axis=stack_axis)
    np.testing.assert_array_equal(value(stacked, **same), np.stack(list(same.values()), axis=stack_axis))


def test_concatenations_of_symbolic_sizes_add_the_sizes_and_bind_them(rng):
    e = rs.concat([a, rs.exp(b)])
    assert e.shape == (a.shape[0] + b.shape[0],) and str(e.shape[0]) == "m + n"
    av, bv = rng.standard_normal(2), rng.standard_normal(3)
    np.testing.assert_allclose(value(e, a=av, b=bv), np.r_[av, np.exp(bv)])
    z = rs.Vector("z", "k")
    fn = rs.compile(z - rs.concat([a, b]))  # k is tied to m + n
    np.testing.assert_allclose(fn(z=np.ones(5), a=av, b=bv), 1 - np.r_[av, bv])
    with pytest.raises(rs.DimensionError, match="k = 4"):
        fn(z=np.ones(4), a=av, b=bv)
    M, N = rs.Matrix("M", "m", "p"), rs.Matrix("N", "n", "p")
    rows = rs.concat([M, N])
    assert rows.shape[1] is M.shape[1] and rs.concat([M.T, N.T], axis=1) is rows.T


# -- derivatives against finite differences ------------------------------------------------------------------------

W = rs.Matrix("W", 2, 6)
DERIVATIVE_CASES = [
    ("slices of x", rs.sum((x[1:] - x[:-1]) ** 4) + x[0] * x[5], x),
    ("concat of x", rs.sum(rs.exp(rs.concat([x[0:2], A @ x]) / 4)), x),
    ("stack of entries", rs.norm2(rs.stack([x[0] * x[1], rs.sin(x[2]), x[3] ** 3])) ** 2, x),
    ("strided", rs.sum(rs.tanh(x[::2]) * x[1::2]), x),
    ("matrix rows and columns", rs.sum(rs.softplus(rs.concat([A[1:3, :], W], axis=0) @ x)) + rs.trace(A[:, 0:4]), A),
    ("hconcat", rs.norm2(rs.concat([A[:, 1:], A[:, :1] ** 2], axis=1)) ** 2, A),
    ("tensor", rs.sum(rs.tanh(T[1, :, 1:4]) * T[2, :, 0:3]) + rs.sum(rs.concat([T, T ** 2], axis=2) ** 2), T),
    ("symbolic sizes", rs.sum(rs.softplus(rs.concat([a, b * b]))) + rs.concat([a, b]) @ rs.concat([a, b]), b),
]


@pytest.mark.parametrize("name, f, wrt", DERIVATIVE_CASES, ids=[case[0] for case in DERIVATIVE_CASES])
def test_first_and_second_derivatives_match_finite_differences(name, f, wrt, check_derivatives, rng):
    values = {"x": rng.uniform(0.5, 1.5, 6), "A": rng.uniform(-1, 1, (4, 6)), "W": rng.uniform(-1, 1, (2, 6)),
              "T": rng.uniform(-1, 1, (3, 4, 5)), "a": rng.uniform(-1, 1, 3), "b": rng.uniform(-1, 1, 2)}
    check_derivatives(f, wrt, values, order=2)


@settings(max_examples=15)
@given(data=st.data())
def test_derivatives_of_drawn_slices_match_finite_differences(data, session_checker):
    X = rs.Matrix("X", 4, 5)
    key = data.draw(subscripts((4, 5)))
    part = X[key]
    if any(s == 0 for s in part.shape):
        return
    f = rs.sum(rs.sin(part) * part) + rs.sum(rs.concat([rs.sum(part) * rs.ones(2), X[0]]) ** 2)
    session_checker(f, X, {"X": np.random.default_rng(3).uniform(-1, 1, (4, 5))}, order=2)


# -- simplification: the identities, structurally ------------------------------------------------------------------


def test_slices_that_select_everything_are_the_expression_and_slices_compose():
    assert x[:] is x and x[0:6] is x and A[:, :] is A and A[...] is A and T[:, ...] is T
    assert x[1:5][1:3] is x[2:4] and x[::2][1] is x[2] and x[1::2][::2] is x[1::4]
    assert A[1:3, :][:, 2] is A[1:3, 2] and A[1][2:4][0] is A[1, 2]
    assert x[3:3] is rs.zeros(0) and rs.full(("n", 4), 2.0)[:, 1:3] is rs.full(("n", 2), 2.0)


def test_slices_of_concatenations_fall_into_their_parts():
    u, v = rs.Vector("u", 2), rs.Vector("v", 3)
    uv = rs.concat([u, v])
    assert uv[2:5] is v and uv[0:2] is u and uv[1] is u[1] and uv[3] is v[1]
    assert uv[1:4] is rs.concat([u[1:], v[:2]]) and uv[::2] is rs.concat([u[0:1], v[0:3:2]])
    M = rs.concat([A, B])
    assert M[4:7, 1:3] is B[:, 1:3] and M[:, 2] is rs.concat([A[:, 2], B[:, 2]])


def test_concatenations_of_adjacent_slices_fills_and_single_parts_simplify():
    assert rs.concat([x[0:2], x[2:6]]) is x and rs.concat([x[0:2], x[2:4]]) is x[0:4]
    assert rs.concat([x[0:5:2], x[6:6]]) is x[0:5:2] and rs.concat([A[0:1], A[1:4]]) is A
    assert rs.stack([x[0], x[1], x[2]]) is x[0:3] and rs.stack([A[1], A[2]]) is A[1:3]
    assert rs.concat([rs.zeros(2), rs.zeros(3)]) is rs.zeros(5) and rs.concat([x]) is x
    assert rs.concat([rs.concat([x, y]), x]) is rs.concat([x, y, x])


def test_blocks_move_through_products_sums_and_transposes():
    assert (A @ x)[1:3] is A[1:3, :] @ x and A.T[:, 2] is A[2, :] and (A @ x)[0] is A[0] @ x
    assert rs.concat([A.T, B.T], axis=1).T is rs.concat([A, B])
    assert rs.sum(rs.concat([a, b])) is rs.sum(a) + rs.sum(b)
    assert rs.concat([a, b]) @ rs.concat([a, rs.exp(b)]) is a @ a + b @ rs.exp(b)  # symbolic blocks match
    assert 2 * rs.concat([x, a]) - rs.concat([y, a]) is rs.concat([2 * x - y, a])


def test_slices_of_the_identity_are_blocks_of_zeros_and_identities():
    I5 = rs.eye(5)
    assert I5[1:3, 1:3] is rs.eye(2) and I5[2, 2] is rs.const(1) and I5[2, 3] is rs.const(0)
    assert I5[1:3, :] is rs.concat([rs.zeros(2, 1), rs.eye(2), rs.zeros(2, 2)], axis=1)
    assert I5[3] is rs.concat([rs.zeros(3), rs.ones(1), rs.zeros(1)])
    assert rs.jacobian(x[1:4], x) is rs.eye(6)[1:4, :]
    assert rs.jacobian(rs.concat([a, b]), b) is rs.concat([rs.zeros("m", "n"), rs.eye("n")])


def test_derivatives_of_shifted_slices_are_shifted_copies_not_dense_selectors(rng):
    n = 3000
    z, v = rs.Vector("z", n), rs.Vector("v", n)
    u = z[1:] - z[:-1]
    f = rs.sum(u ** 4)
    g, hv = rs.grad(f, z), rs.hvp(f, z, v)
    assert g is 4 * rs.concat([rs.zeros(1), u ** 3]) - 4 * rs.concat([u ** 3, rs.zeros(1)])
    for e in (g, hv):
        assert not any(isinstance(node, Delta) for node in topological([e]))
    fn = rs.compile([g, hv])
    assert "eye" not in fn.source
    zv, vv = rng.standard_normal(n), rng.standard_normal(n)
    gv, hvv = fn(z=zv, v=vv)
    du = np.diff(zv)
    expected_g = 4 * np.r_[0, du ** 3] - 4 * np.r_[du ** 3, 0]
    w = 12 * du ** 2 * np.diff(vv)
    np.testing.assert_allclose(gv, expected_g, rtol=1e-12)
    np.testing.assert_allclose(hvv, np.r_[0, w] - np.r_[w, 0], rtol=1e-12, atol=1e-12)


# -- printing and parsing ------------------------------------------------------------------------------------------

PRINTED = [
    (x[2:5], "x[2:5]"), (x[2], "x[2]"), (A[:, 1:3], "A[:, 1:3]"), (A[1, :], "A[1, :]"), (x[::2], "x[0:5:2]"),
    (rs.concat([x, a]), "concat(x, a)"), (rs.concat([A, B]), "concat(A, B)"),
    (rs.concat([A, A], axis=1), "hconcat(A, A)"), (rs.stack([c, d]), "stack(c, d)"),
    (rs.stack([x, y]), "stack(x, y)"), (rs.concat([rs.zeros(2), x]), "concat(vector(0, 2), x)"),
    (rs.exp(x)[1:3], "exp(x)[1:3]"), ((2 * x - 1)[1:3], "2*x[1:3] - vector(1)"),
    (rs.exp(A)[1:3, 2], "exp(A)[1:3, 2]"),
    (rs.eye(4)[1:3, :], "hconcat(matrix(0, 2, 1), eye, matrix(0, 2, 1))"),
    (rs.concat([a, b, rs.zeros("m")]), "concat(a, b, vector(0, m))"),
]


@pytest.mark.parametrize("e, text", PRINTED, ids=[t for _, t in PRINTED])
def test_blocks_print_in_the_language_and_parse_back(e, text):
    assert str(e) == text
    assert rs.parse(text, **SHAPES) is e


ROUND_TRIPS = [
    rs.grad(rs.sum((x[1:] - x[:-1]) ** 4), x), rs.hessian(rs.sum(rs.exp(rs.concat([x[0:2], A @ x]))), x),
    rs.jacobian(rs.concat([b, rs.exp(b), a]), a), rs.stack([x[0], 1.5, c]), rs.grad(rs.norm2(A[1:3, ::2]) ** 2, A),
    rs.jacobian(rs.concat([a, rs.zeros("m"), b * b]), b), rs.concat([x, x * x])[3:9],
]


@pytest.mark.parametrize("e", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_derivatives_with_blocks_print_and_parse_back_to_the_same_node(e):
    text = str(e)
    assert " = " not in text, text
    assert rs.parse(text, **SHAPES) is e, text


def test_the_language_reads_subscripts_and_blocks():
    assert rs.parse("x[-1]", x=6) is x[5] and rs.parse("x[:-1]", x=6) is x[0:5] and rs.parse("x[1:]", x=6) is x[1:]
    assert rs.parse("A[:, 1:3]'*x[0:4]", A=(4, 6), x=6) is A[:, 1:3].T @ x[0:4]
    assert rs.parse("A[1, :]'*x", A=(4, 6), x=6) is A[1] @ x  # a matrix's row is a (column) vector
    assert rs.parse("stack(c, 2*d)") is rs.stack([c, 2 * d])
    assert rs.parse("concat(a, b)'*concat(b, a)", a="m", b="n").shape == ()
    assert rs.parse("vector(3, 4)") is rs.full((4,), 3) and rs.parse("matrix(0, m, n + 1)").shape[1] == b.shape[0] + 1
    assert rs.parse("hconcat(A, eye)", A=(4, 6)).shape == (4, 10)  # eye takes its size from the rows


def test_index_notation_and_latex_of_blocks():
    assert rs.index_notation(x[1:4]) == "T[i] = x[i+1]" and rs.index_notation(x[1::2]) == "T[i] = x[2*i+1]"
    assert rs.index_notation(A[2]) == "T[i] = A[2,i]"
    assert str(T[1:3]) == "T[i,j,k] = T[i+1,j,k]"  # the variable is called T too
    U = rs.Tensor("U", 2, 4, 5)
    assert str(rs.concat([T, U])).startswith("T[i,j,k] = concat(T, U; axis 0)[i,j,k]")
    assert rs.latex(x[1:3]) == "x[1:3]" and rs.latex(rs.concat([x, y])) == r"\operatorname{concat}\left(x, y\right)"


def test_printing_blocks_builds_no_node():
    exprs = [rs.hessian(rs.sum(rs.exp(rs.concat([x[0:2], A @ x]))), x), rs.concat([T, T]), T[1:3, 0], x[::2]]
    before = len(_nodes._TABLE)
    for e in exprs:
        str(e), repr(e), rs.latex(e), rs.index_notation(e)
    assert len(_nodes._TABLE) == before


# -- errors --------------------------------------------------------------------------------------------------------

ERRORS = [
    (lambda: x[6], ValueError, r"x\[6\] for an expression of shape \(6,\): index 6 is out of range for axis 0"),
    (lambda: x[1:9], ValueError, r"the bound 9 lies outside axis 0 of size 6"),
    (lambda: x[::-1], ValueError, "the step must be a positive int, got -1"),
    (lambda: a[1:3], ValueError, r"a\[1:3\] for an expression of shape \(m,\): axis 0 has symbolic size m"),
    (lambda: A[1, 2, 3], ValueError, r"too many indices \(3\) for 2 axes"),
    (lambda: T[..., 1, ...], ValueError, "at most one '...'"),
    (lambda: x[1.5], TypeError, "expected ints, slices with int bounds"),
    (lambda: x[np.array([1, 2])], TypeError, "rs.take"),
    (lambda: x[None], TypeError, "new axes"),
    (lambda: x[1:2.5], TypeError, "slice bounds and steps must be ints"),
    (lambda: c[0], ValueError, r"too many indices \(1\) for 0 axes"),
    (lambda: list(x), TypeError, "not iterable"),
    (lambda: rs.concat([]), ValueError, "at least one expression"),
    (lambda: rs.concat(x), TypeError, "expected a list of expressions, got Var"),
    (lambda: rs.concat([x, A]), ValueError, r"same number of axes, got shapes \(6,\), \(4, 6\)"),
    (lambda: rs.concat([c, d]), ValueError, "part 0 is a scalar.*rs.stack"),
    (lambda: rs.concat([A, B], axis=2), ValueError, r"axis 2 is out of range for parts of shape \(4, 6\)"),
    (lambda: rs.concat([A, B], axis=1), rs.DimensionError, r"shapes \(4, 6\), \(3, 6\) do not agree off axis 1"),
    (lambda: rs.concat([A, B], axis=1.0), TypeError, "axis must be an int"),
    (lambda: rs.stack([x, rs.Vector("w", 5)]), rs.DimensionError, "must have one shape"),
    (lambda: rs.stack([x, y], axis=2), ValueError, "axis 2 is out of range for a result with 2 axes"),
    (lambda: rs.LeastSquares([], x), ValueError, "at least one expression"),
]


@pytest.mark.parametrize("build, error, message", ERRORS, ids=[m[:30] for _, _, m in ERRORS])
def test_bad_subscripts_axes_and_shapes_are_refused_with_clear_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


PARSE_ERRORS = [
    ("x[1.5]", {"x": 6}, "a subscript takes integers"), ("c[1]", {}, "is a scalar: it has no entries"),
    ("A[1]", {}, "a matrix takes 2 subscripts"), ("concat(c, d)", {}, r"stack\(a, b\) joins scalars"),
    ("hconcat(x, y)", {}, "hconcat joins matrices"), ("concat(x, A)", {}, "needs parts of one kind"),
    ("x[1:3", {"x": 6}, "',' or ']' in the subscript"), ("x[9]", {"x": 6}, "index 9 is out of range"),
    ("x[2:4]", {}, "symbolic size n"), ("stack(A, B)", {}, "stack joins scalars or vectors"),
    ("x[]", {"x": 6}, "expected an integer or a range"), ("vector(0, 1, 2)", {}, "vector takes a constant"),
    ("concat(A, B)", {"A": (2, 3), "B": (2, 4)}, "dimension conflict"),
]


@pytest.mark.parametrize("text, shapes, message", PARSE_ERRORS, ids=[t for t, _, _ in PARSE_ERRORS])
def test_the_language_refuses_bad_blocks_with_a_parse_error(text, shapes, message):
    with pytest.raises(rs.ParseError, match=message):
        rs.parse(text, **shapes)


# -- residual blocks -----------------------------------------------------------------------------------------------


def test_least_squares_with_residual_blocks_is_the_stacked_residual_and_jacobian(rng):
    U, V, Tm = rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k"), rs.Matrix("T", "m", "n")
    lam = 0.3
    data = {"T": rng.standard_normal((5, 4))}
    blocks = [U @ V.T - Tm, math.sqrt(lam) * U, math.sqrt(lam) * V, rs.sum(U) - 1]
    ls = rs.LeastSquares(blocks, [U, V], data, sizes={"k": 2})
    xv = rng.standard_normal(ls.size)
    Uv, Vv = xv[:10].reshape(5, 2), xv[10:].reshape(4, 2)

    def residual(Uv, Vv):
        return np.concatenate([(Uv @ Vv.T - data["T"]).ravel(), math.sqrt(lam) * Uv.ravel(),
                               math.sqrt(lam) * Vv.ravel(), [Uv.sum() - 1]])

    r = np.asarray(ls.fun(xv))
    np.testing.assert_allclose(r, residual(Uv, Vv), rtol=1e-13)
    J = np.asarray(ls.jac(xv))
    assert J.shape == (20 + 10 + 8 + 1, 18)
    h = 1e-6
    for k in range(ls.size):  # column by column: the exact Jacobian against central differences
        e = np.zeros(ls.size)
        e[k] = h
        fd = (residual(*_split(xv + e)) - residual(*_split(xv - e))) / (2 * h)
        np.testing.assert_allclose(J[:, k], fd, rtol=1e-7, atol=1e-8)
    obj = ls.objective()
    assert obj.fun(xv) == pytest.approx(0.5 * r @ r, rel=1e-13)
    np.testing.assert_allclose(obj.jac(xv), J.T @ r, rtol=1e-11, atol=1e-12)


def _split(xv):
    return xv[:10].reshape(5, 2), xv[10:].reshape(4, 2)


def test_least_squares_blocks_of_symbolic_sizes_give_a_sum_of_block_objectives():
    ls = rs.LeastSquares([a - 1, rs.exp(b), c * a], [a, b, c], sizes={"m": 3, "n": 2})
    assert ls.expr is rs.concat([a - 1, rs.exp(b), c * a]) and ls.residual_size == 8
    f = ls.objective().expr
    assert not any(isinstance(node, Concat) for node in topological([f]))  # the norm splits into the blocks'


def test_strided_selectors_are_built_from_positions_not_from_an_identity():
    z = rs.Vector("z", 7)
    for e, expected in [(rs.jacobian(z[1::3], z), np.eye(7)[1::3]), (rs.eye(7)[:, ::2], np.eye(7)[:, ::2]),
                        (rs.eye(7)[1::2, 1], np.eye(7)[1::2, 1])]:
        fn = rs.compile(e, variables=[z])
        assert "eye" not in fn.source
        np.testing.assert_array_equal(fn(z=np.zeros(7)), expected)


def test_blocks_run_on_array_api_strict(rng):
    import array_api_strict as xs

    f = rs.sum(rs.exp(rs.concat([x[0:2], A @ x])) * rs.stack([x[5]] * 6))
    fn = rs.compile([f, rs.grad(f, x), rs.jacobian(x[::2], x)])
    xv, Av = rng.standard_normal(6), rng.standard_normal((4, 6))
    strict = fn(x=xs.asarray(xv), A=xs.asarray(Av))
    plain = fn(x=xv, A=Av)
    for s, p in zip(strict, plain):
        np.testing.assert_allclose(np.asarray(s), p, rtol=1e-13)


# -- cases that once failed -------------------------------------------------------------------------------------


def test_the_hessian_of_a_function_of_entries_is_outer_products_of_unit_vectors():
    """Before: splitting every product along a concatenated output index made the Hessian of a function of
    x[0], ..., x[3] a concatenation of 1 x 1 products (and the MGH problems' code 2.5 times as long), and the
    stacked parts' derivatives kept reshape(T, 1, 4, 4)[0, :, :]."""
    z = rs.Vector("z", 4)
    r = rs.stack([10 * (z[1] - z[0] ** 2), 1 - z[0], z[2] * z[3], rs.sin(z[3])])
    H = rs.hessian(r @ r, z)
    nodes = topological([H])
    assert len(nodes) < 40 and not any(isinstance(n, Reshape) for n in nodes)
    assert " = " not in str(H)  # matrix notation: sums of c*e_i*e_j'


def test_stacked_entries_join_into_one_slice_where_they_step_evenly():
    assert rs.stack([x[0], x[3]]) is x[0:4:3] and rs.stack([x[3], x[1]]) is rs.concat([x[3:4], x[1:2]])


def test_interleaved_residuals_have_hessians_without_merged_tensors(check_derivatives, rng):
    """Before: sum r r'' for r = reshape(stack([u, v], axis=1), (n,)) formed an n x n x n tensor (the block
    structure hidden behind the reshape); now the Hessian is a sum of products of strided selectors."""
    z = rs.Vector("z", 8)
    odd, even = z[0::2], z[1::2]
    r = rs.reshape(rs.stack([10 * (even - odd ** 2), 1 - odd], axis=1), (8,))
    H = rs.hessian(r @ r, z)
    assert max(node.ndim for node in topological([H])) <= 2
    assert rs.parse(str(H), z=8) is H  # strided selectors print as eye(8)[0:7:2, :]
    check_derivatives(r @ r, z, {"z": rng.uniform(-1, 1, 8)}, order=2)
