"""The matrix language: parsing, printing (round trip, textbook forms, index notation), LaTeX."""

import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import ricci.symbolic as rs

SHAPES = dict(A=("n", "n"), B=("n", "n"), M=("m", "n"), x="n", y="n", z="m", c=(), d=())
A, B, M = rs.Matrix("A", "n", "n"), rs.Matrix("B", "n", "n"), rs.Matrix("M", "m", "n")
x, y, z = rs.Vector("x", "n"), rs.Vector("y", "n"), rs.Vector("z", "m")
c, d = rs.Scalar("c"), rs.Scalar("d")

EXAMPLES = [
    "0.5*x'*A*x", "A*exp(x)", "(y.*v)'*x", "norm1(A*x-y)", "norm2(A*x-y)^2",
    "sum(log(exp(-y.*(X*w)) + vector(1)))", "tr(A*X'*B*X*C)", "log(det(inv(X)))", "x'*A*x + b'*x + c",
    "sum(tanh(W*x + b))", "norm2(X - U*V')^2",
]
EXAMPLE_SHAPES = {"x'*A*x + b'*x + c": dict(b="n"), "sum(tanh(W*x + b))": dict(b="m")}


def _values(e, rng):
    sizes = {}
    vals = {}
    for v in rs.variables(e):
        shape = tuple(sizes.setdefault(str(s), int(rng.integers(2, 5))) if not isinstance(s, int) else s for s in v.shape)
        if v.ndim == 2 and v.shape[0] == v.shape[1]:
            vals[v.name] = rng.normal(size=shape) * 0.3 + 2 * np.eye(shape[0])  # invertible, positive det
        else:
            vals[v.name] = rng.normal(size=shape)
    return vals


@pytest.mark.parametrize("text", EXAMPLES)
def test_examples_parse_and_differentiate(text, rng, check_derivatives):
    e = rs.parse(text, **EXAMPLE_SHAPES.get(text, {}))
    assert e.ndim == (1 if text == "A*exp(x)" else 0)
    vals = _values(e, rng)
    if text.startswith("norm1"):
        vals["y"] = vals["y"] + 10.0  # stay away from the kinks of |.|
    for v in rs.variables(e):
        check_derivatives(e, v, vals, order=2)


def test_dimensions_are_inferred_through_the_expression():
    e = rs.parse("A*x - y")
    (Av, xv, yv) = sorted(rs.variables(e), key=lambda v: v.name)
    assert Av.shape[0] == yv.shape[0] and Av.shape[1] == xv.shape[0]
    e = rs.parse("A*x - y", A=(3, 4))
    assert {v.name: v.shape for v in rs.variables(e)} == {"A": (3, 4), "x": (4,), "y": (3,)}
    e = rs.parse("sum(exp(x) + vector(2))", x=5)
    assert rs.compile(e)(x=np.zeros(5)) == pytest.approx(15.0)
    e = rs.parse("x'*eye*x", x=3)
    assert rs.compile(e)(x=np.ones(3)) == pytest.approx(3.0)


def test_language_operators(rng):
    vals = dict(A=rng.normal(size=(3, 3)) + 3 * np.eye(3), x=rng.normal(size=3), y=rng.normal(size=3), c=0.7)
    a, xv, yv, cv = vals["A"], vals["x"], vals["y"], vals["c"]
    cases = {
        "x*y'": np.outer(xv, yv), "x'*y": xv @ yv, "x'*A": xv @ a, "A'": a.T, "A^2": a @ a, "A^-1": np.linalg.inv(a),
        "x.^2": xv**2, "x./(y.*y + 1)": xv / (yv * yv + 1), "A.*A": a * a, "c^2*x": cv**2 * xv, "x/c": xv / cv,
        "-x + +y": -xv + yv, "diag(x)*A*diag(y)": np.diag(xv) @ a @ np.diag(yv), "diag(A)": np.diag(a),
        "matrix(1)*x + y": np.ones((3, 3)) @ xv + yv, "inv(A)*x": np.linalg.solve(a, xv), "logdet(A)": np.linalg.slogdet(a)[1],
        "det(A)": np.linalg.det(a), "tr(A)": np.trace(a), "sum(A)": a.sum(), "norm1(x)": np.abs(xv).sum(),
        "2e-1*x": 0.2 * xv, "sqrt(x.*x)": np.abs(xv), "relu(x)": np.maximum(xv, 0), "sign(x)": np.sign(xv),
    }
    for text, want in cases.items():
        e = rs.parse(text, A=(3, 3), x=3, y=3, c=())
        fn = rs.compile(e)
        got = fn(**{v.name: vals[v.name] for v in fn.variables})
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=text)


@pytest.mark.parametrize("text,message", [
    ("x'*A*", "expected a number, a name or '\\(', found the end of the input"),
    ("foo(x)", "unknown function 'foo'; known functions: abs, arccos"),
    ("x*y", "cannot multiply a column vector \\(x\\) by a column vector \\(y\\)"),
    ("A*x + y'", "a column vector \\(A\\*x\\) and a row vector \\(y'\\)"),
    ("(x", "expected '\\)'"),
    ("x $ y", "unexpected character '\\$'"),
    ("x^2", "'\\^' needs a scalar or a square matrix"),
    ("x .^ y", "exponent must be a constant"),
    ("tr(x)", "tr needs a square matrix"),
    ("sum", "sum is a function"),
    ("sum(x, y)", "sum takes 1 argument"),
    ("", "expected an expression"),
])
def test_parse_errors_point_at_the_input(text, message):
    with pytest.raises(rs.ParseError, match=message) as info:
        rs.parse(text)
    assert str(info.value).splitlines()[2].strip() == "^"  # the message, the text, the caret (then any notes)


def test_dimension_conflicts_name_both_sizes_and_sources():
    with pytest.raises(rs.ParseError, match=r"dimension conflict in '\+': 3 \(from 'A'\) does not match 5 \(from 'y'\)"):
        rs.parse("A*x + y", A=(3, 4), y=5)
    with pytest.raises(rs.ParseError, match="dimension conflict"):
        rs.parse("x'*y", x=2, y=3)


def test_variables_and_names():
    e = rs.parse("x'*A*x + c")
    assert sorted(v.name for v in rs.variables(e)) == ["A", "c", "x"]
    assert rs.grad(e, "x") is rs.grad(e, [v for v in rs.variables(e) if v.name == "x"][0])
    with pytest.raises(TypeError):
        rs.parse(3)
    with pytest.raises(ValueError, match="axes"):
        rs.parse("x", x=(2, 2, 2))


# --- printing ------------------------------------------------------------------------------------------------


def test_textbook_forms():
    assert str(rs.hessian(x @ A @ x, x)) == "A + A'"
    Xd, w, yy, lam = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m"), rs.Scalar("lam")
    f = rs.sum(rs.softplus(-yy * (Xd @ w))) + lam / 2 * (w @ w)
    assert str(rs.grad(f, w)) == "lam*w - X'*(y.*sigmoid(-(y.*(X*w))))"
    assert str(rs.hessian(f, w)) == "lam*eye + X'*diag((vector(1) - sigmoid(-(y.*(X*w)))).*y.*y.*sigmoid(-(y.*(X*w))))*X"
    assert str(rs.grad(rs.log(rs.det(A)), A)) == "inv(A)'"
    assert str(rs.grad(rs.trace(A @ M.T @ M), M)) in ("M*A + M*A'", "M*A' + M*A")


def test_index_notation_for_higher_order_results():
    T, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    H = rs.hessian(rs.norm2(T - U @ V.T) ** 2, U)
    assert str(H) == "T[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]"
    assert rs.index_notation(H, "H") == "H[i,j,k,l] = 2*δ[i,k]*(V'*V)[j,l]"
    D3 = rs.derivative(rs.sum(rs.tanh(M @ x)), x, 3)
    assert "[i,j,k]" in rs.index_notation(D3, "D")


def has_fresh_dimension(e) -> bool:
    """True when parsing had to invent a dimension (a constant whose size no operand fixes)."""
    from ricci.symbolic._nodes import topological

    return any(str(s) not in ("n", "m") for node in topological([e]) for dim in node.shape
               if not isinstance(dim, int) for s in dim.free_symbols)


@functools.lru_cache(maxsize=None)
def language(kind, depth):
    """Random expressions built only from what the language can write."""
    leaves = {
        "scalar": st.sampled_from([c, d, rs.const(2), rs.const(0.5)]),
        "vector": st.sampled_from([x, y]),
        "matrix": st.sampled_from([A, B, rs.eye("n")]),
    }[kind]
    if depth == 0:
        return leaves
    sub = lambda k: language(k, depth - 1)  # noqa: E731
    fn = st.sampled_from([rs.exp, rs.tanh, rs.sigmoid, rs.log, rs.sin, rs.abs, rs.softplus])
    opts = {
        "scalar": [st.builds(lambda a, b: a @ b, sub("vector"), sub("vector")), st.builds(rs.trace, sub("matrix")),
                   st.builds(rs.sum, sub("vector")), st.builds(lambda a, b: a * b, sub("scalar"), sub("scalar")),
                   st.builds(lambda a, b: a - b, sub("scalar"), sub("scalar")), st.builds(rs.det, sub("matrix")),
                   st.builds(lambda a, m, b: a @ m @ b, sub("vector"), sub("matrix"), sub("vector")),
                   st.builds(lambda f, a: f(a), fn, sub("scalar")), st.builds(rs.norm2, sub("vector"))],
        "vector": [st.builds(lambda m, v: m @ v, sub("matrix"), sub("vector")),
                   st.builds(lambda a, b: a + b, sub("vector"), sub("vector")),
                   st.builds(lambda a, b: a * b, sub("vector"), sub("vector")),
                   st.builds(lambda s, v: s * v, sub("scalar"), sub("vector")),
                   st.builds(lambda f, a: f(a), fn, sub("vector")), st.builds(rs.diag, sub("matrix")),
                   st.builds(lambda v, m: v @ m, sub("vector"), sub("matrix"))],
        "matrix": [st.builds(lambda a, b: a @ b, sub("matrix"), sub("matrix")),
                   st.builds(lambda a, b: a - b, sub("matrix"), sub("matrix")),
                   st.builds(rs.outer, sub("vector"), sub("vector")), st.builds(rs.diag, sub("vector")),
                   st.builds(lambda a: a.T, sub("matrix")), st.builds(rs.inv, sub("matrix")),
                   st.builds(lambda a, b: a * b, sub("matrix"), sub("matrix")),
                   st.builds(lambda f, a: f(a), fn, sub("matrix"))],
    }[kind]
    return st.one_of([leaves] + opts)


@given(e=st.sampled_from(["scalar", "vector", "matrix"]).flatmap(lambda k: language(k, 3)))
def test_round_trip_parse_of_str(e):
    if type(e).__name__ == "Fill" and e.ndim:
        return  # vector(c) alone has no size to read back
    text = str(e)
    back = rs.parse(text, **SHAPES)
    if back is not e and has_fresh_dimension(back):
        return  # vector(c), matrix(c) and eye take their size from context, which a product may not give
    assert back is e, f"{text!r} parsed back as {str(back)!r}"


@given(e=language("scalar", 2).filter(lambda e: x in e.variables))
def test_round_trip_of_derivatives(e):
    for g in (rs.grad(e, x), rs.hessian(e, x)):
        text = str(g)
        if "[" in text:
            continue  # index notation is for reading, not parsing
        back = rs.parse(text, **SHAPES)
        assert back is g or has_fresh_dimension(back), text


# --- LaTeX -------------------------------------------------------------------------------------------------


def test_latex_snapshots():
    Xd, w, yy = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    assert rs.latex(rs.hessian(x @ A @ x, x)) == r"A + A^\top"
    assert rs.latex(rs.grad(rs.logdet(A), A)) == r"\left(A^{-1}\right)^\top"
    assert rs.latex(rs.hessian(rs.sum(rs.exp(Xd @ w)), w)) == r"X^\top \operatorname{diag}\left(\exp\left(X w\right)\right) X"
    assert rs.latex(x * y) == r"x \odot y"
    assert rs.latex(rs.outer(x, y)) == r"x y^\top"
    U, V, T = rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k"), rs.Matrix("T", "m", "n")
    assert rs.latex(rs.hessian(rs.norm2(T - U @ V.T) ** 2, U)) == r"2 \delta_{ik} \left(V^\top V\right)_{jl}"
    assert rs.latex(rs.Scalar("lam") / 2 * (w @ w)) == r"\frac{1}{2} \mathrm{lam} w^\top w"


def test_cookbook_derivatives_print_in_textbook_form():
    Am, Bm, Xm = (rs.Matrix(n, "n", "n") for n in "ABX")
    a, b = rs.Vector("a", "n"), rs.Vector("b", "n")
    assert str(rs.grad(rs.trace(Am @ Xm @ Bm), Xm)) == "A'*B'"
    assert str(rs.grad(rs.det(Xm), Xm)) == "det(X)*inv(X)'"
    assert str(rs.grad(rs.trace(Xm.T @ Xm), Xm)) == "2*X"
    assert str(rs.grad(a @ Xm @ b, Xm)) == "a*b'"
    assert str(rs.hessian(rs.sum(rs.exp(Am @ x)), x)) == "A'*diag(exp(A*x))*A"
    text = str(rs.grad(a @ rs.inv(Xm) @ b, Xm))
    assert rs.parse(text, X=("n", "n"), a="n", b="n") is rs.grad(a @ rs.inv(Xm) @ b, Xm)
    assert rs.latex(rs.grad(rs.trace(Am @ Xm @ Bm), Xm)) == r"A^\top B^\top"


# --- every node type the language writes comes back from its text --------------------------------------------

P, Q = rs.Matrix("P", "p", "q"), rs.Matrix("Q", "q", "q")
NODE_SHAPES = dict(SHAPES, P=("p", "q"), Q=("q", "q"))
ROWS = np.array([2, 0, 0, 1])  # an index array: the language reads it by its name, passed by keyword
NODE_SHAPES["rows"] = ROWS
ROUND_TRIPS = [
    ("Var", A),
    ("Fill", rs.full((), 2.5)),
    ("Delta", rs.eye("n") + A),  # eye takes its size from the sum
    ("Contract", x @ A.T @ y * c),
    ("Add", A - 2 * B.T),
    ("Elementwise", rs.softplus(A @ x) ** 2),
    ("Inverse", rs.inv(A @ B)),
    ("Det", rs.det(A)),
    ("LogDet", rs.logdet(A.T @ A)),
    ("Reshape", rs.kron(A, P.T @ P)),
    ("Reshape", rs.kron(x, rs.exp(y))),
    ("Reshape", rs.reshape(M, (M.shape[0] * M.shape[1],))),
    ("Reshape", rs.reshape(x, ("p", "q"))),
    ("LogSumExp", rs.logsumexp(M @ x)),
    ("Concat", rs.concat([x, rs.exp(y)])),
    ("Slice", rs.exp(rs.Matrix("C", 4, 5)[:, ::2] @ rs.Vector("v", 5)[1:4])[1:3]),  # parsed with C=(4, 5), v=5
    ("Take", rs.take(M, ROWS, name="rows")),
    ("ScatterAdd", rs.scatter_add(rs.exp(rs.take(M, ROWS, name="rows")), ROWS, "m", name="rows")),
]


@pytest.mark.parametrize("kind, e", ROUND_TRIPS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(ROUND_TRIPS)])
def test_str_parses_back_to_the_same_node_for_every_node_type(kind, e):
    top = e if kind != "Delta" else e.terms[0] if type(e.terms[0]).__name__ == "Delta" else e.terms[1]
    assert type(top).__name__ == kind
    text = str(e)
    assert " = " not in text, f"no matrix form: {text}"  # index notation (T[i,j] = ...) is not parsed
    assert rs.parse(text, **NODE_SHAPES, C=(4, 5), v=5) is e, text


def test_round_trip_cases_cover_every_node_type_but_constants():
    from ricci.symbolic._nodes import NODE_TYPES

    covered = {kind for kind, _ in ROUND_TRIPS}
    assert {t.__name__ for t in NODE_TYPES} - covered == {"Const"}


def test_a_constant_array_prints_its_label_which_the_language_reads_as_a_name():
    C = rs.const(np.arange(4.0).reshape(2, 2), name="C")
    assert str(C) == "C" and str(C @ rs.Vector("v", 2)) == "C*v"
    assert type(rs.parse(str(C), C=(2, 2))).__name__ == "Var"  # arrays have no literal in the language


def test_what_has_no_matrix_form_prints_in_index_notation_with_named_parts():
    U, V = rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    J = rs.jacobian(rs.kron(U, V), U)
    assert str(J) == "T[i,j,k,l] = reshape(T1, m*n, k**2, m, k)[i,j,k,l], where T1[i,j,k,l,p,q] = δ[k,q]*δ[i,p]*V[j,l]"
    Z = rs.Matrix("Z", "m", "k")
    assert str(rs.logsumexp(Z, axis=0)) == "T[i] = logsumexp_a(Z[a,i])"


def test_the_softmax_gradient_prints_without_unit_factors():
    W, Xd, Y = rs.Matrix("W", "n", "k"), rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k")
    f = rs.sum(rs.logsumexp(Xd @ W, axis=1)) - rs.sum(Y * (Xd @ W))
    text = str(rs.grad(f, W))
    assert text == "T[i,j] = exp((X*W)[a,j] - logsumexp_b((X*W)[a,b]))*X[a,i] - (X'*Y)[i,j]"
    assert "*1" not in text and "1*" not in text
    assert r"\operatorname{lse}_{b}" in rs.latex(rs.grad(f, W))


def test_kron_and_reshape_in_the_language():
    assert rs.parse("kron(A, P)", A=("n", "n"), P=("p", "q")) is rs.kron(A, P)
    assert rs.parse("kron(x, y)", x="n", y="m") is rs.kron(x, rs.Vector("y", "m"))
    e = rs.parse("reshape(x, m, n)", x=("k",))
    assert e.shape == (M.shape[0], M.shape[1]) and e.ties.same(rs.Vector("x", "k").shape[0], e.shape[0] * e.shape[1])
    assert rs.latex(rs.kron(A, P)) == r"A \otimes P"
    with pytest.raises(rs.ParseError, match="kron needs two vectors or two matrices"):
        rs.parse("kron(A, x)")
    with pytest.raises(rs.ParseError, match="expected a dimension"):
        rs.parse("reshape(A, x - 1)")  # sums of dimensions are dimensions (m + n, a concatenation's size)
    with pytest.raises(rs.ParseError, match="reshape takes an expression and one or two dimensions"):
        rs.parse("reshape(A)")


def test_reshape_and_matrix_power_in_python(rng):
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3\) \(6 entries\) to \(4,\)"):
        rs.reshape(rs.Matrix("G", 2, 3), (4,))
    G = rs.Matrix("G", 2, 3)
    g = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(rs.compile(rs.reshape(G, (3, 2)))(G=g), g.reshape(3, 2))
    Xs = rs.Matrix("X", "n", "n")
    a = rng.normal(size=(3, 3))
    fn = rs.compile([rs.matrix_power(Xs, 3), rs.matrix_power(Xs, 0), rs.matrix_power(Xs, -2)])
    p3, p0, pm2 = fn(X=a)
    np.testing.assert_allclose(p3, np.linalg.matrix_power(a, 3))
    np.testing.assert_allclose(p0, np.eye(3))
    np.testing.assert_allclose(pm2, np.linalg.matrix_power(a, -2), rtol=1e-10)
    assert rs.parse("X^3", X=("n", "n")) is rs.matrix_power(Xs, 3)
    assert str(rs.grad(rs.trace(rs.matrix_power(Xs, 3)), Xs)) == "3*X'*X'"
    with pytest.raises(TypeError, match="exponent must be an int"):
        rs.matrix_power(Xs, 1.5)
    with pytest.raises(ValueError, match="square"):
        rs.matrix_power(rs.Matrix("R", 2, 3), 2)


def test_a_symbolic_matrix_exponent_is_refused_with_the_reason():
    with pytest.raises(rs.ParseError, match="A\\^k with a symbolic k is not a product of a known number of factors"):
        rs.parse("tr(X^k)")


# --- cases that once failed ------------------------------------------------------------------------------------


def test_matrix_powers_are_built_by_repeated_squaring_and_bounded():
    import time

    Xs = rs.Matrix("X", "n", "n")
    product = Xs
    for k in range(2, 14):
        product = product @ Xs
        assert rs.matrix_power(Xs, k) is product  # the same node as the product of k factors
    assert rs.matrix_power(Xs, -3) is rs.matrix_power(rs.inv(Xs), 3)
    start = time.perf_counter()
    assert len(rs.parse("X^64", X=("n", "n")).operands) == 64  # before: A^200 took 5.5 s, A^1000 over a minute
    assert time.perf_counter() - start < 1.0
    for text in ("X^65", "X^-65", "X^1e20", "(X*X)^40", "(X^8)^9"):  # before: A^1e20 never finished
        with pytest.raises(rs.ParseError, match="too large; ricci builds A\\^k as a product"):
            rs.parse(text, X=("n", "n"))
    with pytest.raises(ValueError, match="allows at most 64"):
        rs.matrix_power(Xs, 2**20)


def test_derivative_orders_are_bounded():
    from ricci.symbolic._differentiate import MAX_ORDER

    t = rs.Scalar("t")
    assert rs.derivative(t**20, t, MAX_ORDER) is not None
    for order in (MAX_ORDER + 1, 10**23):  # before: rs.derivative(f, x, 10**23) never finished
        with pytest.raises(ValueError, match=f"up to order {MAX_ORDER}"):
            rs.derivative(t**2, t, order)
        with pytest.raises(ValueError, match=f"up to order {MAX_ORDER}"):
            rs.export(t**2, wrt=[t], order=order)


@pytest.mark.parametrize("text,message", [
    ("0/0", "division by zero in '0/0'"),  # before: ZeroDivisionError
    ("x/0", "division by zero in 'x/0'"),
    ("x/(c - c)", "division by zero"),
    ("A^1e400", "beyond the float64 range"),  # before: OverflowError
    ("1e400*x", "beyond the float64 range"),
    ("1" + "0" * 5000, "has 5001 digits"),  # before: ValueError from int()
    ("c^inf", "exponent must be a finite number"),
    ("(" * 170 + "x" + ")" * 170, "nests parentheses, function calls and exponents more than 64"),  # RecursionError
    ("exp(" * 100 + "x" + ")" * 100, "more than 64 deep"),
    ("reshape(x, 3)", "cannot reshape \\(4,\\) \\(4 entries\\) to \\(3,\\)"),  # before: a ValueError without a caret
])
def test_every_parse_error_is_a_parse_error_with_a_caret(text, message):
    with pytest.raises(rs.ParseError, match=message) as info:
        rs.parse(text, x=4, c=())
    assert str(info.value).splitlines()[2].strip() == "^"


def test_a_size_conflict_found_while_building_is_a_parse_error_and_a_dimension_error():
    with pytest.raises(rs.ParseError, match="do not match") as info:
        rs.parse("kron(x, y) + z", x=2, y=3, z=5)
    assert isinstance(info.value, rs.DimensionError) and "^" in str(info.value)
    with pytest.raises(rs.ParseError, match="axes"):
        rs.parse("x", x=(2, 2, 2))


def test_chains_and_signs_have_no_nesting_limit():
    assert rs.parse(" + ".join(["c"] * 2000), c=()) is 2000 * c
    assert rs.parse("-" * 2001 + "c", c=()) is -c
    assert rs.parse("A" + "'" * 2001, A=("n", "n")) is A.T


def test_an_error_caused_by_a_default_shape_names_it_and_the_declaration_that_fixes_it():
    with pytest.raises(rs.ParseError) as info:
        rs.parse("x/lam + 1")
    text = str(info.value)
    assert "note: lam is a column vector by default (names starting with h-z are vectors" in text
    assert "as a scalar it fits: declare it with rs.parse(..., lam=())" in text
    (default,) = info.value.defaults
    assert (default.name, default.fix) == ("lam", ())
    with pytest.raises(rs.ParseError, match=r"as a matrix it fits: declare it with rs.parse\(..., x=\('n', 'n'\)\)"):
        rs.parse("tr(x)")
    with pytest.raises(rs.ParseError) as info:  # a declared shape is no default: no note
        rs.parse("x/lam", lam="n")
    assert not info.value.defaults and "note:" not in str(info.value)


def test_the_command_line_names_a_default_shape_and_the_flag_that_declares_another(capsys):
    from ricci.problems._cli import main

    text = "sum(log(1+exp(-y.*(X*w)))) + 0.5*lam*w'*w"
    with pytest.raises(SystemExit):
        main(["diff", text, "--wrt", "w", "--hessian"])  # before: only "this one has shape (k)"
    err = capsys.readouterr().err
    assert "lam is a vector by its first letter (names starting with a-g are scalars, h-z vectors" in err
    assert "declare it with --shape lam=" in err
    assert main(["diff", text, "--wrt", "w", "--hessian", "--shape", "lam="]) == 0
    assert "lam*eye" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["diff", "x/lam"])
    assert "lam is a column vector by default" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["diff", "x'*x", "--order", "99999999999999999999999"])  # before: never finished
    assert "up to order 16" in capsys.readouterr().err
