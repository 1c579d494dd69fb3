"""The operator family of ricci.solvers against dense references.

Every operator is built together with its dense matrix (numpy), from hypothesis-drawn sizes and seeds, and
checked for products (vectors and matrices, both directions), the diagonal, the dense and transposed forms,
the Frobenius norm (exact, or a bound within the stated factor), and shifted solves against
numpy.linalg.solve. Then the structure: which solve each structure takes, NotPositiveDefinite on indefinite
input, folding of identities into shifts, sparse Gram matrices staying sparse, memory, errors, scipy
LinearOperators, Dask data, and the same dense comparisons on CuPy (GPU class).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import (
    BlockDiagonalOperator,
    BlockOperator,
    DenseOperator,
    DiagonalOperator,
    GramOperator,
    KroneckerOperator,
    MatvecOperator,
    NotPositiveDefinite,
    Operator,
    ScaledIdentity,
    SparseOperator,
    SumOperator,
    _op_block,
    as_operator,
)
from ricci.solvers._op_block import block_diagonal_form
from scipy.sparse.linalg import aslinearoperator


@pytest.fixture(autouse=True)
def _structured_paths_at_any_size(monkeypatch):
    """The operators here are small; BlockOperator factorizes those densely (DENSE_BELOW) and densifies those
    whose dense form is small (DENSE_BYTES), so the structured paths are tested with both cutoffs at 0
    (test_small_block_operators_factorize_densely and test_small_block_operators_take_the_dense_route check
    the cutoffs)."""
    monkeypatch.setattr(_op_block, "DENSE_BELOW", 0)
    monkeypatch.setattr(_op_block, "DENSE_BYTES", 0)
    monkeypatch.setattr(_op_block, "SPARSE_FILL", 1.0)


def test_small_block_operators_factorize_densely(monkeypatch):
    monkeypatch.setattr(_op_block, "DENSE_BELOW", 512)
    monkeypatch.setattr(_op_block, "DENSE_BYTES", 4 << 20)
    rng = np.random.default_rng(0)
    C = rng.standard_normal((6, 6))
    A = DiagonalOperator(np.full(4, 3.0))
    B = rng.standard_normal((4, 6)) * 0.1
    op = BlockOperator([[A, B], [B.T, C @ C.T + 6 * np.eye(6)]])
    fact = op.factorize(0.5)
    assert fact.method == "cholesky"
    b = rng.standard_normal(10)
    np.testing.assert_allclose(fact.solve(b), np.linalg.solve(op.to_dense() + 0.5 * np.eye(10), b), rtol=1e-10)

@settings(max_examples=10, deadline=None)
@given(m=st.integers(1, 9), n1=st.integers(1, 6), n2=st.integers(1, 6), seed=st.integers(0, 2**16),
       small=st.booleans())
def test_small_block_operators_take_the_dense_route(m, n1, n2, seed, small):
    """Both sides of DENSE_BYTES: a block Jacobian whose dense form fits densifies once (products through the
    cached array, a dense Gram, a dense Cholesky, ``dense_form`` gives the array); above it the Gram keeps the
    block structure. Every result equals the dense reference on either side."""
    with pytest.MonkeyPatch.context() as mp:  # hypothesis runs many examples in one fixture scope
        _dense_route_example(mp, m, n1, n2, seed, small)


def _dense_route_example(mp, m, n1, n2, seed, small):
    from ricci.solvers._user_operators import dense_form

    rng = np.random.default_rng(seed)
    A1, A2 = rng.standard_normal((m, n1)), rng.standard_normal((m, n2))
    d = rng.uniform(0.5, 2.0, n2)
    J = BlockOperator([[DenseOperator(A1), SparseOperator(sp.csr_array(A2))], [None, DiagonalOperator(d)]])
    dense = np.block([[A1, A2], [np.zeros((n2, n1)), np.diag(d)]])
    total = (m + n2) * (n1 + n2) * 8
    mp.setattr(_op_block, "DENSE_BYTES", total if small else total - 1)
    assert J.small is small
    V, U = rng.standard_normal((n1 + n2, 3)), rng.standard_normal((m + n2, 2))
    np.testing.assert_allclose(J.matvec(V), dense @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J.rmatvec(U), dense.T @ U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J.to_dense(), dense, rtol=0, atol=0)
    w = rng.uniform(0.1, 3.0, m + n2)
    G = J.gram(w)
    assert isinstance(G, DenseOperator if small else BlockOperator)
    reference = dense.T @ (w[:, None] * dense)
    np.testing.assert_allclose(G.to_dense(), reference, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G.diagonal(), np.diag(reference), rtol=1e-12, atol=1e-12)
    assert (dense_form(J) is not None) is small
    if small:
        assert dense_form(J) is J.dense_array() and J.to_dense() is J.dense_array()  # assembled once
    P = A1.T @ A1
    H = BlockOperator([[DenseOperator(P), SparseOperator(sp.csr_array(A1.T @ A2))],
                       [SparseOperator(sp.csr_array(A2.T @ A1)), DiagonalOperator(d)]], True)
    H_dense = np.block([[P, A1.T @ A2], [A2.T @ A1, np.diag(d)]])
    mp.setattr(_op_block, "DENSE_BYTES", H_dense.nbytes if small else H_dense.nbytes - 1)
    shift = float(np.linalg.norm(H_dense, 2)) + 0.25  # positive definite whatever the draw
    b = rng.standard_normal(n1 + n2)
    fact = H.factorize(shift)
    assert (fact.method == "cholesky") is small  # the structured side eliminates the diagonal block (Schur)
    np.testing.assert_allclose(fact.solve(b), np.linalg.solve(H_dense + shift * np.eye(n1 + n2), b),
                               rtol=1e-9, atol=1e-10)


SOLVE_RTOL = 1e-10


# ---- building operators with their dense references -------------------------------------------------------
@dataclass
class Case:
    op: Operator
    dense: np.ndarray  # the reference, always NumPy
    norm: str = "exact"  # "exact", or "bound": an upper bound at most `factor` times the Frobenius norm
    factor: float = 1.0
    solvable: bool = False  # symmetric positive definite, so shifted solves exist for shifts >= 0


def _spd(rng, n, floor=0.5):
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (Q * rng.uniform(floor, 3.0, n)) @ Q.T


def _sparse(rng, m, n, density=0.4):
    return sp.random_array((m, n), density=density, rng=rng, format="csr")


def _sparse_spd(rng, n):
    R = _sparse(rng, n, n, 0.3)
    return (R @ R.T + sp.identity(n) * 0.5).tocsr()


def dense_spd(rng, n, m, to_xp):
    A = _spd(rng, n)
    return Case(DenseOperator(to_xp(A)), A, solvable=True)


def dense_rectangular(rng, n, m, to_xp):
    A = rng.standard_normal((m, n))
    return Case(DenseOperator(to_xp(A)), A)


def scaled_identity(rng, n, m, to_xp):
    c = float(rng.uniform(0.5, 2.0))
    return Case(ScaledIdentity(n, c, like=to_xp(np.zeros(1))), c * np.eye(n), solvable=True)


def diagonal(rng, n, m, to_xp):
    d = rng.uniform(0.5, 2.0, n)
    return Case(DiagonalOperator(to_xp(d)), np.diag(d), solvable=True)


def _gram_case(A, d, shift, to_xp=None, dense=None):
    m, n = A.shape
    weights = np.ones(m) if d is None else d
    if dense is None:
        dense = dense_of(A)
    G = dense.T @ (weights[:, None] * dense) + shift * np.eye(n)
    arg = A if to_xp is None else to_xp(A)
    op = GramOperator(arg, None if d is None else (d if to_xp is None else to_xp(d)), shift)
    return Case(op, G, "bound", math.sqrt(2 * min(m, n)), solvable=True)


def dense_of(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def gram_wide(rng, n, m, to_xp):  # fewer rows than columns: the Woodbury branch
    A = rng.standard_normal((max(1, n // 2), n))
    return _gram_case(A, rng.uniform(0.5, 2.0, A.shape[0]), float(rng.uniform(0.5, 2.0)), to_xp)


def gram_tall(rng, n, m, to_xp):  # more rows than columns: the Gram (Cholesky) branch
    A = rng.standard_normal((n + m, n))
    return _gram_case(A, rng.uniform(0.5, 2.0, n + m), 0.0, to_xp)


def gram_signed(rng, n, m, to_xp):  # weights of both signs, kept positive definite by the shift
    A = rng.standard_normal((m, n))
    d = rng.uniform(-1.0, 1.0, m)
    shift = float(np.abs(d).max() * np.linalg.norm(A, 2) ** 2 + 0.5)
    case = _gram_case(A, d, shift, to_xp)
    case.factor = 2.0 * math.sqrt(2 * min(m, n)) * (1 + np.abs(d).max() * np.linalg.norm(A) ** 2 / shift)
    return case


def gram_sparse_wide(rng, n, m, to_xp):
    return _gram_case(_sparse(rng, max(1, n // 2), n), None, 0.7)


def gram_sparse_tall(rng, n, m, to_xp):
    return _gram_case(_sparse(rng, n + m, n), rng.uniform(0.5, 2.0, n + m), 0.1)


def kronecker_spd(rng, n, m, to_xp):
    A, B = _spd(rng, 1 + n % 4), _spd(rng, 1 + m % 5)
    return Case(KroneckerOperator(to_xp(A), to_xp(B)), np.kron(A, B), solvable=True)


def kronecker_rectangular(rng, n, m, to_xp):
    A, B = rng.standard_normal((1 + n % 3, 1 + m % 4)), rng.standard_normal((1 + m % 3, 1 + n % 4))
    return Case(KroneckerOperator(to_xp(A), to_xp(B)), np.kron(A, B))


def block_diagonal_spd(rng, n, m, to_xp):
    blocks = np.stack([_spd(rng, 1 + m % 4) for _ in range(1 + n % 5)])
    return Case(BlockDiagonalOperator(to_xp(blocks)), _block_diag(blocks), solvable=True)


def block_diagonal_rectangular(rng, n, m, to_xp):
    blocks = rng.standard_normal((1 + n % 4, 1 + m % 3, 1 + n % 3))
    return Case(BlockDiagonalOperator(to_xp(blocks)), _block_diag(blocks))


def _block_diag(blocks):
    b, p, q = blocks.shape
    out = np.zeros((b * p, b * q))
    for j in range(b):
        out[j * p:(j + 1) * p, j * q:(j + 1) * q] = blocks[j]
    return out


def sparse_spd(rng, n, m, to_xp):
    A = _sparse_spd(rng, n)
    return Case(SparseOperator(A), A.toarray(), solvable=True)


def sparse_rectangular(rng, n, m, to_xp):
    A = _sparse(rng, m, n)
    return Case(SparseOperator(A), A.toarray())


def sum_identity_gram(rng, n, m, to_xp):
    gram = gram_wide(rng, n, m, to_xp)
    lam = float(rng.uniform(0.1, 1.0))
    op = SumOperator([ScaledIdentity(n, lam, like=to_xp(np.zeros(1))), gram.op])
    return Case(op, gram.dense + lam * np.eye(n), "bound", 2 * gram.factor, solvable=True)


def sum_diagonal_gram(rng, n, m, to_xp):
    gram = gram_tall(rng, n, m, to_xp) if m % 2 else gram_wide(rng, n, m, to_xp)
    d = rng.uniform(0.1, 1.0, n)
    op = SumOperator([DiagonalOperator(to_xp(d)), gram.op])
    return Case(op, gram.dense + np.diag(d), "bound", 2 * gram.factor, solvable=True)


def sum_dense_fallback(rng, n, m, to_xp):
    A, K1, K2 = _spd(rng, n * 2), _spd(rng, 2), _spd(rng, n)
    op = SumOperator([DenseOperator(to_xp(A)), KroneckerOperator(to_xp(K1), to_xp(K2))])
    return Case(op, A + np.kron(K1, K2), "bound", 2.0, solvable=True)


def block_schur_top(rng, n, m, to_xp):
    """[[D, B], [B', C]]: diagonal (1,1) block eliminated, C - B' D^-1 B kept positive definite."""
    p, q = n, 1 + m % 4
    d = rng.uniform(1.0, 2.0, p)
    B = rng.standard_normal((p, q))
    C = B.T @ (B / d[:, None]) + _spd(rng, q)
    dense = np.block([[np.diag(d), B], [B.T, C]])
    op = BlockOperator([[DiagonalOperator(to_xp(d)), to_xp(B)], [to_xp(B.T.copy()), to_xp(C)]])
    return Case(op, dense, solvable=True)


def block_schur_bottom(rng, n, m, to_xp):
    """[[C, B'], [B, blockdiag]]: the cheap block sits in the (2,2) corner."""
    blocks = np.stack([_spd(rng, 2) for _ in range(1 + n % 4)])
    Dinv = np.linalg.inv(_block_diag(blocks))
    q = 1 + m % 4
    B = rng.standard_normal((blocks.shape[0] * 2, q))
    C = B.T @ Dinv @ B + _spd(rng, q)
    dense = np.block([[C, B.T], [B, _block_diag(blocks)]])
    op = BlockOperator([[to_xp(C), to_xp(B.T.copy())], [to_xp(B), BlockDiagonalOperator(to_xp(blocks))]])
    return Case(op, dense, solvable=True)


def block_three_by_three(rng, n, m, to_xp):
    """Blocks 0 and 2 cheap (scaled identity, Kronecker) and uncoupled; the middle one dense."""
    p, r = 1 + n % 3, 1 + m % 3
    K1, K2 = _spd(rng, p), _spd(rng, 2)
    q = 1 + m % 3
    B0, B2 = 0.3 * rng.standard_normal((r, q)), 0.3 * rng.standard_normal((2 * p, q))
    C = _spd(rng, q) + B0.T @ B0 / 2.0 + B2.T @ np.linalg.solve(np.kron(K1, K2), B2) + np.eye(q)
    zero = np.zeros((r, 2 * p))
    dense = np.block([[2.0 * np.eye(r), B0, zero], [B0.T, C, B2.T], [zero.T, B2, np.kron(K1, K2)]])
    like = to_xp(np.zeros(1))
    op = BlockOperator([[ScaledIdentity(r, 2.0, like=like), to_xp(B0), None],
                        [to_xp(B0.T.copy()), to_xp(C), to_xp(B2.T.copy())],
                        [None, to_xp(B2), KroneckerOperator(to_xp(K1), to_xp(K2))]])
    return Case(op, dense, solvable=True)


def block_sparse_gram(rng, n, m, to_xp):
    """J' J for J = [J_1, J_2] with sparse blocks: sparse LDL' of the assembled matrix after a shift."""
    J1, J2 = _sparse(rng, n + m, n), _sparse(rng, n + m, 1 + m % 4)
    J = sp.hstack([J1, J2]).toarray()
    op = BlockOperator([[J1, J2]]).gram() + ScaledIdentity(J.shape[1], 0.5)
    return Case(op, J.T @ J + 0.5 * np.eye(J.shape[1]), "bound", 4 * math.sqrt(2 * J.shape[1]), solvable=True)


def block_rectangular(rng, n, m, to_xp):
    A, B = rng.standard_normal((m, n)), rng.standard_normal((m, 2))
    C = rng.standard_normal((3, n))
    dense = np.block([[A, B], [C, np.zeros((3, 2))]])
    return Case(BlockOperator([[to_xp(A), to_xp(B)], [to_xp(C), None]]), dense)


BUILDERS = [dense_spd, dense_rectangular, scaled_identity, diagonal, gram_wide, gram_tall, gram_signed,
            gram_sparse_wide, gram_sparse_tall, kronecker_spd, kronecker_rectangular, block_diagonal_spd,
            block_diagonal_rectangular, sparse_spd, sparse_rectangular, sum_identity_gram, sum_diagonal_gram,
            sum_dense_fallback, block_schur_top, block_schur_bottom, block_three_by_three, block_sparse_gram,
            block_rectangular]
HOST_ONLY = {gram_sparse_wide, gram_sparse_tall, sparse_spd, sparse_rectangular, block_sparse_gram}
DEVICE_BUILDERS = [b for b in BUILDERS if b not in HOST_ONLY]

sizes = st.integers(min_value=1, max_value=9)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _numpy(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _assert_close(actual, expected, rtol=1e-12, what=""):
    actual = _numpy(actual)
    assert actual.shape == expected.shape, what
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale * 10, err_msg=what)


def check_against_dense(case: Case, rng, xp_asarray=np.asarray):
    """Products, diagonal, dense and transposed forms and the norm of ``case.op`` against ``case.dense``."""
    op, D = case.op, case.dense
    m, n = D.shape
    assert op.shape == (m, n)
    v, V = rng.standard_normal(n), rng.standard_normal((n, 3))
    u, U = rng.standard_normal(m), rng.standard_normal((m, 2))
    _assert_close(op.matvec(xp_asarray(v)), D @ v, what="matvec")
    _assert_close(op @ xp_asarray(v), D @ v, what="@")
    _assert_close(op.matvec(xp_asarray(V)), D @ V, what="matmat")
    _assert_close(op.rmatvec(xp_asarray(u)), D.T @ u, what="rmatvec")
    _assert_close(op.rmatvec(xp_asarray(U)), D.T @ U, what="rmatmat")
    _assert_close(xp_asarray(u) @ op, u @ D, what="u @ op")
    _assert_close(xp_asarray(U.T.copy()) @ op, U.T @ D, what="U @ op")
    _assert_close(op.diagonal(), np.diagonal(D).copy(), what="diagonal")
    _assert_close(op.to_dense(), D, what="to_dense")
    _assert_close(op.T.to_dense(), D.T, what="T")
    _assert_close(op.T.matvec(xp_asarray(u)), D.T @ u, what="T.matvec")
    true, estimate = np.linalg.norm(D), op.norm_estimate()
    if case.norm == "exact":
        assert estimate == pytest.approx(true, rel=1e-12, abs=1e-300)
    else:
        assert true * (1 - 1e-12) <= estimate <= case.factor * true + 1e-12


def check_solves(case: Case, rng, xp_asarray=np.asarray):
    op, D = case.op, case.dense
    n = D.shape[0]
    for shift in (0.0, float(rng.uniform(0.1, 2.0))):
        b, B = rng.standard_normal(n), rng.standard_normal((n, 3))
        expected = np.linalg.solve(D + shift * np.eye(n), np.column_stack([b, B]))
        factorization = op.factorize(shift)
        assert factorization.shift == shift
        x, X = _numpy(factorization.solve(xp_asarray(b))), _numpy(op.solve(xp_asarray(B), shift=shift))
        assert x.shape == (n,) and X.shape == (n, 3)
        error = np.linalg.norm(np.column_stack([x, X]) - expected) / np.linalg.norm(expected)
        assert error <= SOLVE_RTOL, (factorization.method, error)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
@settings(max_examples=10)
@given(n=sizes, m=sizes, seed=seeds)
def test_operator_matches_its_dense_form(builder, n, m, seed):
    rng = np.random.default_rng(seed)
    case = builder(rng, n, m, np.asarray)
    check_against_dense(case, rng)
    if case.solvable:
        assert case.op.symmetric
        check_solves(case, rng)
    elif case.op.shape[0] != case.op.shape[1] or not case.op.symmetric:
        with pytest.raises(TypeError, match="factorize needs a (square|symmetric)"):
            case.op.factorize(1.0)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
@settings(max_examples=4)
@given(n=sizes, m=sizes, seed=seeds, c=st.floats(-3.0, 3.0).filter(lambda c: abs(c) > 1e-3))
def test_scaled_and_summed_operators_match_dense(builder, n, m, seed, c):
    rng = np.random.default_rng(seed)
    case = builder(rng, n, m, np.asarray)
    scaled = c * case.op
    _assert_close(scaled.to_dense(), c * case.dense, what="c * op")
    _assert_close((case.op / c).matvec(np.ones(case.dense.shape[1])), case.dense.sum(axis=1) / c, what="op / c")
    _assert_close((case.op + case.op).matvec(np.ones(case.dense.shape[1])), 2 * case.dense.sum(axis=1))
    _assert_close((case.op - scaled).to_dense(), (1 - c) * case.dense, what="op - c op")
    if case.solvable and c > 0:
        check_solves(Case(scaled, c * case.dense, solvable=True), rng)


# ---- which solve each structure takes ---------------------------------------------------------------------
@settings(max_examples=15)
@given(n=st.integers(2, 12), seed=seeds)
def test_gram_takes_woodbury_when_wide_and_the_gram_otherwise(n, seed):
    rng = np.random.default_rng(seed)
    A, d = rng.standard_normal((n // 2, n)), rng.uniform(0.5, 2.0, n // 2)
    G = A.T @ (d[:, None] * A)
    wide = GramOperator(A, d)
    assert wide.factorize(0.5).method == "woodbury"
    assert GramOperator(A, d, 0.3).factorize(-0.1).method == "woodbury"  # the operator's own shift counts
    with pytest.raises(NotPositiveDefinite):  # shift 0.3 - 1.0 < 0 on a rank-deficient Gram: indefinite
        GramOperator(A, d, 0.3).factorize(-1.0)
    b = rng.standard_normal(n)
    _assert_close(wide.solve(b, 0.5), np.linalg.solve(G + 0.5 * np.eye(n), b), 1e-11)
    tall = GramOperator(A.T.copy(), None)
    assert tall.factorize(0.5).method == "gram-cholesky"
    signed = GramOperator(A, -d)  # negative weights: Woodbury does not apply; -G + s I is indefinite
    assert signed.diagonal() == pytest.approx(-np.diag(G))
    with pytest.raises(NotPositiveDefinite, match="not positive definite"):
        signed.factorize(0.5 * float(np.linalg.eigvalsh(G).max()))


def test_gram_caches_the_formed_matrices(rng):
    A = rng.standard_normal((30, 8))
    op = GramOperator(A, rng.uniform(0.5, 1.0, 30))
    G = op.gram_matrix()
    assert op.gram_matrix() is G and op.nbytes >= A.nbytes + G.nbytes
    op.factorize(1.0), op.factorize(2.0)
    assert op.gram_matrix() is G


@settings(max_examples=15)
@given(n=st.integers(2, 10), seed=seeds, lam=st.floats(0.01, 10.0))
def test_sum_folds_identities_into_the_shift(n, seed, lam):
    rng = np.random.default_rng(seed)
    A, d = rng.standard_normal((n // 2, n)), rng.uniform(0.5, 2.0, n // 2)
    gram = GramOperator(A, d)
    total = SumOperator([ScaledIdentity(n, lam / 2), gram, ScaledIdentity(n, lam / 2)])
    folded = total.factorize(0.25)
    assert folded.method == gram.factorize(0.25 + lam).method == "woodbury"
    assert folded.shift == 0.25
    b = rng.standard_normal(n)
    _assert_close(folded.solve(b), gram.solve(b, 0.25 + lam), 1e-11)
    assert total.cheaply_invertible is False
    with_diagonal = SumOperator([DiagonalOperator(rng.uniform(0.5, 1.0, n)), gram, ScaledIdentity(n, lam)])
    assert with_diagonal.factorize(0.0).method == "woodbury"  # the diagonal goes into Woodbury's Δ
    tall = SumOperator([DiagonalOperator(np.full(n, lam)), GramOperator(rng.standard_normal((2 * n, n)))])
    assert tall.factorize(0.0).method == "gram-cholesky"


def test_structured_sums_and_multiples_keep_their_type(rng):
    n = 6
    A = rng.standard_normal((4, n))
    d = rng.uniform(0.5, 1.0, 4)
    eye = ScaledIdentity(n, 2.0)
    assert isinstance(3.0 * eye, ScaledIdentity) and (3.0 * eye).c == 6.0
    assert isinstance(eye + eye, ScaledIdentity) and (eye + eye).c == 4.0
    diag = DiagonalOperator(np.arange(1.0, n + 1))
    assert isinstance(diag + eye, DiagonalOperator) and isinstance(eye + diag, DiagonalOperator)
    assert isinstance(-diag, DiagonalOperator)
    gram = GramOperator(A, d, 0.5)
    scaled = 2.0 * gram
    assert isinstance(scaled, GramOperator) and np.array_equal(scaled.d, 2.0 * d) and scaled.shift == 1.0
    shifted = gram + eye
    assert isinstance(shifted, GramOperator) and shifted.shift == 2.5
    _assert_close(shifted.to_dense(), gram.to_dense() + 2.0 * np.eye(n))
    assert isinstance(2.0 * KroneckerOperator(np.eye(2), np.eye(3)), KroneckerOperator)
    assert isinstance(2.0 * BlockDiagonalOperator(np.ones((2, 3, 3))), BlockDiagonalOperator)
    assert isinstance(DenseOperator(np.eye(n)) + DenseOperator(np.eye(n)), DenseOperator)
    assert isinstance(SparseOperator(sp.eye(n)) + SparseOperator(sp.eye(n)), SparseOperator)
    mixed = diag + gram
    assert isinstance(mixed, SumOperator) and len((mixed + eye).terms) == 3
    assert isinstance(DenseOperator(np.eye(n)) + np.eye(n), DenseOperator)
    assert isinstance(np.eye(n) + DenseOperator(np.eye(n)), DenseOperator)  # NumPy defers to the operator
    assert isinstance(np.float64(2.0) * gram, GramOperator)
    _assert_close(sum([diag, eye, gram]).to_dense(), diag.to_dense() + eye.to_dense() + gram.to_dense())


def test_schur_eliminates_the_cheap_block_in_either_corner(rng):
    top = block_schur_top(rng, 5, 2, np.asarray)
    bottom = block_schur_bottom(rng, 5, 2, np.asarray)
    three = block_three_by_three(rng, 4, 4, np.asarray)
    for case in (top, bottom, three):
        assert case.op.symmetric
        assert case.op.factorize(0.0).method == "schur"
    pure = BlockOperator([[DiagonalOperator(np.ones(3)), None], [None, ScaledIdentity(2, 3.0)]])
    assert pure.factorize(0.0).method == "block-diagonal"
    _assert_close(pure.solve(np.array([1.0, 2, 3, 3, 6])), np.array([1.0, 2, 3, 1, 2]))
    dense_only = BlockOperator([[_spd(rng, 2), np.ones((2, 1))], [np.ones((1, 2)), _spd(rng, 1) + 5]])
    assert dense_only.factorize(0.0).method == "dense-fallback"
    assert block_sparse_gram(rng, 5, 3, np.asarray).op.factorize(0.0).method in ("sparse-ldl", "schur")
    not_symmetric = BlockOperator([[np.eye(2), np.ones((2, 1))], [2 * np.ones((1, 2)), np.eye(1)]])
    assert not not_symmetric.symmetric
    with pytest.raises(TypeError, match="symmetric"):
        not_symmetric.factorize()


def _factorization_jacobian(rng, users, items, rank, observed):
    """The Jacobian [J_U, J_V] of the residuals U_i . V_j - M_ij over the observed entries (i, j)."""
    mask = rng.random((users, items)) < observed
    mask[np.arange(users), rng.integers(items, size=users)] = True  # every user and item observed once
    mask[rng.integers(users, size=items), np.arange(items)] = True
    I, J = np.nonzero(mask)
    U, V = rng.standard_normal((users, rank)), rng.standard_normal((items, rank))
    rows = np.repeat(np.arange(I.size), rank)
    JU = sp.csr_array((V[J].ravel(), (rows, (I[:, None] * rank + np.arange(rank)).ravel())), (I.size, users * rank))
    JV = sp.csr_array((U[I].ravel(), (rows, (J[:, None] * rank + np.arange(rank)).ravel())), (I.size, items * rank))
    return JU, JV


@settings(max_examples=10)
@given(users=st.integers(2, 12), items=st.integers(2, 9), rank=st.integers(1, 3), seed=seeds)
def test_factorization_normal_equations_go_through_a_sparse_schur_complement(users, items, rank, seed):
    rng = np.random.default_rng(seed)
    JU, JV = _factorization_jacobian(rng, users, items, rank, 0.4)
    normal = BlockOperator([[JU, JV]]).gram()
    assert block_diagonal_form(normal.blocks[0][0]).blocks.shape == (users, rank, rank)  # J_U'J_U
    lam = float(rng.uniform(0.01, 1.0))
    factorization = (normal + ScaledIdentity(normal.shape[0], lam)).factorize(0.0)
    assert factorization.method == "schur"
    J = sp.hstack([JU, JV]).toarray()
    b = rng.standard_normal(J.shape[1])
    expected = np.linalg.solve(J.T @ J + lam * np.eye(J.shape[1]), b)
    assert np.linalg.norm(factorization.solve(b) - expected) <= SOLVE_RTOL * np.linalg.norm(expected)


def test_block_diagonal_patterns_are_found_only_where_they_are(rng):
    blocks = np.stack([_spd(rng, 3) for _ in range(5)])
    found = block_diagonal_form(SparseOperator(sp.csr_array(_block_diag(blocks))))
    assert np.array_equal(found.blocks, blocks)
    assert block_diagonal_form(SparseOperator(sp.identity(7, format="csr"))).blocks.shape == (7, 1, 1)
    coupled = _block_diag(blocks)
    coupled[0, -1] = coupled[-1, 0] = 0.1
    assert block_diagonal_form(SparseOperator(sp.csr_array(coupled))) is None
    assert block_diagonal_form(DenseOperator(_block_diag(blocks))) is None  # dense data: no pattern search
    assert block_diagonal_form(SparseOperator(sp.csr_array(_spd(rng, 6)))) is None  # one block is no pattern
    random = _sparse_spd(rng, 150)
    assert block_diagonal_form(SparseOperator(random)) is None
    assert BlockOperator([[SparseOperator(random), None], [None, SparseOperator(random)]]).factorize(
        0.0).method == "sparse-ldl"


# ---- positive definiteness ----------------------------------------------------------------------------------
def _indefinite(rng, n, smallest):
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    values = rng.uniform(0.5, 2.0, n)
    values[rng.integers(n)] = smallest
    return (Q * values) @ Q.T


INDEFINITE = {
    "dense": lambda rng, M: (DenseOperator(M), M),
    "sparse": lambda rng, M: (SparseOperator(sp.csr_array(M)), M),
    "diagonal": lambda rng, M: (DiagonalOperator(np.diag(M).copy()), np.diag(np.diag(M))),
    "block_diagonal": lambda rng, M: (BlockDiagonalOperator(np.stack([np.eye(len(M)), M])), _block_diag(
        np.stack([np.eye(len(M)), M]))),
    "kronecker": lambda rng, M: (KroneckerOperator(M, _spd(rng, 2)), None),
    "gram_signed": lambda rng, M: (GramOperator(np.linalg.cholesky(_spd(rng, len(M))).T,
                                                 np.array([-1.0] + [1.0] * (len(M) - 1)), 0.0), None),
    "schur": lambda rng, M: (BlockOperator([[DiagonalOperator(np.ones(len(M))), np.eye(len(M)) * 2.0],
                                            [np.eye(len(M)) * 2.0, M]]), None),
    "sum": lambda rng, M: (SumOperator([DenseOperator(M), KroneckerOperator(np.eye(1), np.zeros((len(M),) * 2))]),
                           M),
}


@pytest.mark.parametrize("kind", sorted(INDEFINITE))
@settings(max_examples=10)
@given(n=st.integers(1, 7), seed=seeds, smallest=st.floats(-3.0, -0.05))
def test_indefinite_operators_raise_and_large_shifts_succeed(kind, n, seed, smallest):
    rng = np.random.default_rng(seed)
    M = _indefinite(rng, n, smallest)
    if kind == "diagonal":
        M = np.diag(np.where(np.arange(n) == 0, smallest, rng.uniform(0.5, 2.0, n)))
    op, dense = INDEFINITE[kind](rng, M)
    dense = op.to_dense() if dense is None else dense
    lowest = float(np.linalg.eigvalsh(dense).min())
    assert lowest < 0
    with pytest.raises(NotPositiveDefinite, match="not positive definite"):
        op.factorize(0.0)
    with pytest.raises(NotPositiveDefinite):
        op.solve(np.ones(op.shape[0]), shift=-lowest * 0.5)
    shift = -lowest + 1.0
    b = rng.standard_normal(op.shape[0])
    expected = np.linalg.solve(dense + shift * np.eye(len(dense)), b)
    assert np.linalg.norm(op.solve(b, shift) - expected) <= SOLVE_RTOL * np.linalg.norm(expected)


def test_not_positive_definite_names_the_failing_block():
    blocks = np.stack([np.eye(2), np.eye(2), -np.eye(2)])
    with pytest.raises(NotPositiveDefinite, match="block 2 "):
        BlockDiagonalOperator(blocks).factorize()
    with pytest.raises(NotPositiveDefinite, match="smallest diagonal entry is -1"):
        ScaledIdentity(3, 1.0).factorize(-2.0)
    block = BlockOperator([[DiagonalOperator(-np.ones(2)), None], [None, np.eye(1)]])
    with pytest.raises(NotPositiveDefinite, match="diagonal block 0"):
        block.factorize()
    assert issubclass(NotPositiveDefinite, ArithmeticError)


# ---- sparse, memory, wrappers ------------------------------------------------------------------------------
def test_sparse_gram_stays_sparse(rng):
    A = _sparse(rng, 40, 25, 0.1)
    gram = SparseOperator(A).gram(rng.uniform(0.5, 1.0, 40))
    assert isinstance(gram, GramOperator) and gram.kind == "sparse"
    assert sp.issparse(gram.gram_matrix())
    assert gram.factorize(0.1).method == "gram-sparse-ldl"
    wide = GramOperator(_sparse(rng, 10, 25, 0.2), None, 0.0)
    assert wide.factorize(1.0).method == "woodbury"
    J = BlockOperator([[_sparse(rng, 30, 6), _sparse(rng, 30, 5)]])
    JtJ = J.gram()
    assert all(b.kind == "sparse" for b in (JtJ.blocks[0][0], JtJ.blocks[1][1]))
    assert JtJ.factorize(0.5).method == "sparse-ldl"


def test_structured_forms_hold_far_less_than_the_dense_matrix(rng):
    dense_bytes = lambda op: op.shape[0] * op.shape[1] * 8
    kron = KroneckerOperator(_spd(rng, 30), _spd(rng, 40))
    blocks = BlockDiagonalOperator(np.stack([_spd(rng, 5) for _ in range(200)]))
    gram = GramOperator(rng.standard_normal((20, 1000)), rng.uniform(0.5, 1.0, 20), 1.0)
    gram.factorize(0.0)  # Woodbury caches only the 20 x 20 product
    sparse = SparseOperator(_sparse(rng, 1000, 1000, 0.002))
    for op, fraction in ((kron, 0.01), (blocks, 0.01), (gram, 0.05), (sparse, 0.01),
                         (DiagonalOperator(np.ones(1000)), 0.01), (ScaledIdentity(1000), 0.0)):
        assert op.nbytes <= fraction * dense_bytes(op), op
    assert SumOperator([kron, ScaledIdentity(1200)]).nbytes == kron.nbytes


# ---- cases that once failed --------------------------------------------------------------------------------
def test_kronecker_nbytes_counts_its_cached_eigendecompositions(rng):
    kron = KroneckerOperator(_spd(rng, 3), _spd(rng, 4))
    before = kron.nbytes
    kron.factorize(0.0)
    assert kron.nbytes == before + 8 * (3 + 9 + 4 + 16)


def test_symmetry_detection_accepts_rounding_of_assembled_hessians(rng):
    A = rng.standard_normal((40, 6))
    H = A.T @ (A * 1.7)  # the two triangles come from different rounding
    assert DenseOperator(H).symmetric and DenseOperator(H + 1e-3 * np.triu(np.ones((6, 6)))).symmetric is False


def test_scipy_linear_operator_is_matvec_only(rng):
    A = rng.standard_normal((7, 5))
    op = as_operator(aslinearoperator(A))
    assert isinstance(op, MatvecOperator) and op.shape == (7, 5)
    _assert_close(op.matvec(np.ones(5)), A.sum(axis=1))
    _assert_close(op.rmatvec(np.ones(7)), A.sum(axis=0))
    _assert_close(op.to_dense(), A)  # built from 5 products
    _assert_close(op.T.to_dense(), A.T)
    _assert_close((2.0 * op).to_dense(), 2.0 * A)
    assert op.norm_estimate() == pytest.approx(np.linalg.norm(A))  # exact for n <= 32
    square = MatvecOperator((5, 5), lambda v: A.T @ (A @ v), symmetric=True)
    with pytest.raises(TypeError, match="cannot be factorized"):
        square.factorize(1.0)
    with pytest.raises(TypeError, match="cannot be factorized"):
        square.solve(np.ones(5))
    with pytest.raises(TypeError, match="no diagonal"):
        square.diagonal()
    _assert_close(square.rmatvec(np.ones(5)), A.T @ A @ np.ones(5))
    one_way = MatvecOperator((7, 5), lambda v: A @ v)
    with pytest.raises(TypeError, match="rmatvec"):
        one_way.rmatvec(np.ones(7))
    with pytest.raises(ValueError, match="returned shape"):
        MatvecOperator((6, 5), lambda v: A @ v).matvec(np.ones(5))


@settings(max_examples=10)
@given(m=st.integers(33, 60), n=st.integers(33, 60), seed=seeds)
def test_matvec_norm_estimate_is_within_a_factor_of_one_and_a_half(m, n, seed):
    A = np.random.default_rng(seed).standard_normal((m, n))
    estimate = MatvecOperator((m, n), lambda v: A @ v, matmat=lambda V: A @ V).norm_estimate()
    assert np.linalg.norm(A) / 1.5 <= estimate <= 1.5 * np.linalg.norm(A)


def test_as_operator_dispatches_and_refuses(rng):
    A = rng.standard_normal((3, 3))
    dense = as_operator(A)
    assert isinstance(dense, DenseOperator) and as_operator(dense) is dense
    assert isinstance(as_operator(sp.csr_matrix(A)), SparseOperator)
    assert isinstance(as_operator(sp.coo_array(A)), SparseOperator)
    for bad in ([[1.0, 2.0]], np.ones(3), "A", 3.0, None):
        with pytest.raises(TypeError, match="as_operator: expected"):
            as_operator(bad)


# ---- validation --------------------------------------------------------------------------------------------
def test_bad_shapes_and_types_are_named(rng):
    with pytest.raises(ValueError, match=r"GramOperator: d must have shape \(5,\) matching A's 5 rows, got \(4,\)"):
        GramOperator(np.ones((5, 3)), np.ones(4))
    with pytest.raises(ValueError, match="DenseOperator: A must be 2-D; got shape"):
        DenseOperator(np.ones(3))
    with pytest.raises(TypeError, match="real numbers"):
        DenseOperator(np.ones((2, 2), dtype=complex))
    with pytest.raises(ValueError, match="blocks must be 3-D"):
        BlockDiagonalOperator(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"v must have shape \(3,\) or \(3, k\); got \(4,\)"):
        DenseOperator(np.eye(3)).matvec(np.ones(4))
    with pytest.raises(ValueError, match=r"u must have shape \(2,\)"):
        DenseOperator(np.ones((2, 3))).rmatvec(np.ones(3))
    with pytest.raises(ValueError, match="shapes differ"):
        SumOperator([np.eye(2), np.eye(3)])
    with pytest.raises(ValueError, match="shapes differ"):
        DiagonalOperator(np.ones(2)) + ScaledIdentity(3)
    with pytest.raises(ValueError, match=r"block row 0, block \(0, 1\) has 3 rows but block \(0, 0\) has 2"):
        BlockOperator([[np.eye(2), np.ones((3, 1))], [np.ones((1, 2)), np.eye(1)]])
    with pytest.raises(ValueError, match="only None blocks"):
        BlockOperator([[np.eye(2), None], [None, None]])
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        ScaledIdentity(-1)
    with pytest.raises(ValueError, match=r"d must have shape \(4,\) matching A.s 4 rows, got \(3,\)"):
        DenseOperator(np.ones((4, 2))).gram(np.ones(3))
    with pytest.raises(TypeError, match="square"):
        DenseOperator(np.ones((2, 3))).factorize()
    with pytest.raises(TypeError, match="symmetric"):
        DenseOperator(np.triu(np.ones((3, 3)))).factorize()
    with pytest.raises(TypeError, match="real number"):
        DenseOperator(np.eye(2)).factorize("1")
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        DenseOperator(np.eye(2)).factorize().solve(np.ones(3))
    with pytest.raises(TypeError, match="products of two operators"):
        DenseOperator(np.eye(2)) @ DenseOperator(np.eye(2))
    with pytest.raises(TypeError, match="must be a scipy.sparse"):
        SparseOperator(np.eye(2))
    with pytest.raises(TypeError, match="must be callable"):
        MatvecOperator((2, 2), "A @ v")


def test_integer_input_becomes_float64_and_float32_is_kept():
    assert DenseOperator(np.eye(3, dtype=int)).dtype == np.float64
    op = DenseOperator(np.eye(3, dtype=np.float32))
    assert op.dtype == np.float32 and op.factorize(1.0).solve(np.ones(3, dtype=np.float32)).dtype == np.float32


# ---- Dask ------------------------------------------------------------------------------------------------
def test_dask_gram_matches_numpy_with_one_compute_per_product(rng):
    da = pytest.importorskip("dask.array")
    from dask.callbacks import Callback

    class Computes(Callback):
        count = 0

        def _start(self, dsk):
            Computes.count += 1

    X, d = rng.standard_normal((60, 7)), rng.uniform(0.5, 2.0, 60)
    lazy = GramOperator(da.from_array(X, chunks=(15, 7)), d, 0.5)
    eager = GramOperator(X, d, 0.5)
    v = rng.standard_normal(7)
    with Computes():
        product = lazy.matvec(v)
        assert Computes.count == 1
        _assert_close(product, eager.matvec(v), 1e-12)
        _assert_close(lazy.to_dense(), eager.to_dense(), 1e-12)
        assert Computes.count == 2
        _assert_close(lazy.solve(v, 1.0), eager.solve(v, 1.0), 1e-12)
        _assert_close(lazy.solve(v, 2.0), eager.solve(v, 2.0), 1e-12)
        assert Computes.count == 2  # the Gram was reduced once and cached
    assert isinstance(product, np.ndarray) and lazy.xp is eager.xp
    assert lazy.norm_estimate() == pytest.approx(eager.norm_estimate())


# ---- CuPy --------------------------------------------------------------------------------------------------
def _cupy():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except (ImportError, RuntimeError):  # no CuPy, or a CUDA runtime error without a driver
        return None


@pytest.mark.gpu
@pytest.mark.skipif(_cupy() is None, reason="needs CuPy and a CUDA device")
class TestOnCupy:
    """The dense comparisons of the operators that run on a device, with CuPy arrays in and out."""

    @pytest.mark.parametrize("builder", DEVICE_BUILDERS, ids=lambda b: b.__name__)
    @settings(max_examples=4)
    @given(n=sizes, m=sizes, seed=seeds)
    def test_operator_matches_its_dense_form_on_cupy(self, builder, n, m, seed):
        cp = _cupy()
        rng = np.random.default_rng(seed)
        case = builder(rng, n, m, cp.asarray)
        assert case.op.xp.__name__.endswith("cupy")
        check_against_dense(case, rng, cp.asarray)
        assert isinstance(case.op.matvec(cp.ones(case.op.shape[1])), cp.ndarray)
        if case.solvable:
            check_solves(case, rng, cp.asarray)

    def test_factorization_solve_stays_on_the_device(self, rng):
        cp = _cupy()
        A = rng.standard_normal((50, 200))
        op = SumOperator([ScaledIdentity(200, 1e-2, like=cp.zeros(1)), GramOperator(cp.asarray(A))])
        b = rng.standard_normal(200)
        x = op.solve(cp.asarray(b))
        assert isinstance(x, cp.ndarray) and op.factorize(0.0).method == "woodbury"
        expected = np.linalg.solve(A.T @ A + 1e-2 * np.eye(200), b)
        assert np.linalg.norm(x.get() - expected) <= 1e-8 * np.linalg.norm(expected)
        with pytest.raises(NotPositiveDefinite):
            DenseOperator(cp.asarray(-np.eye(3))).factorize()
        with pytest.raises(TypeError, match="library"):
            DenseOperator(cp.eye(3)).matvec(np.ones(3))


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 6), p=st.integers(1, 4), n=st.integers(1, 12), density=st.floats(0.05, 0.9),
       seed=st.integers(0, 2**16), shift=st.sampled_from([0.0, 0.5]))
def test_block_rows_schur_correction_equals_the_dense_product(b, p, n, density, seed, shift):
    """C' (D + sI)^-1 C block row by block row (the factorization's Schur complement) equals the dense product."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((b, p, p))
    blocks = G @ np.swapaxes(G, 1, 2) + p * np.eye(p)
    C = sp.random_array((b * p, n), density=density, rng=rng, format="csr")
    got = _op_block._block_rows_correction(blocks, shift, C, batch_entries=7)  # several flushes
    D = np.zeros((b * p, b * p))
    for t in range(b):
        D[t * p:(t + 1) * p, t * p:(t + 1) * p] = blocks[t] + shift * np.eye(p)
    Cd = C.toarray()
    np.testing.assert_allclose(got, Cd.T @ np.linalg.solve(D, Cd), rtol=1e-10, atol=1e-12)


def test_factorization_like_block_operator_takes_the_block_row_schur_path():
    rng = np.random.default_rng(5)
    b, p, nv = 30, 3, 20
    G = rng.standard_normal((b, p, p))
    A = BlockDiagonalOperator(G @ np.swapaxes(G, 1, 2) + np.eye(p))
    H = rng.standard_normal((nv * p, nv * p))
    C = sp.random_array((b * p, nv * p), density=0.2, rng=rng, format="csr")
    op = BlockOperator([[A, SparseOperator(C)], [SparseOperator(C.T.tocsr()), H @ H.T + 50 * np.eye(nv * p)]])
    fact = op.factorize(0.25)
    assert fact.method == "schur"
    rhs = rng.standard_normal(op.shape[0])
    np.testing.assert_allclose(fact.solve(rhs), np.linalg.solve(op.to_dense() + 0.25 * np.eye(op.shape[0]), rhs),
                               rtol=1e-9)


# ---- Schur complements onto a block-diagonal rest (_op_schur): exact blocks and iterative solves ----------------
def _schur_case(rng, b, p, nb, q, density, e_first=True, negative=0.0):
    """A block operator [[B, C], [C', A]] (or [[A, C'], [C, B]]) with B (b blocks p x p) and A (nb blocks q x q)
    symmetric positive definite block diagonals and C sparse, and its dense matrix."""
    G = rng.standard_normal((b, p, p))
    B = G @ np.swapaxes(G, 1, 2) + p * np.eye(p)
    C = sp.random_array((b * p, nb * q), density=density, rng=rng, format="csr")
    Cd = C.toarray()
    coupled = float(np.linalg.eigvalsh(Cd.T @ np.linalg.solve(_block_diag(B), Cd)).max())  # A above it: M > 0
    H = rng.standard_normal((nb, q, q))
    A = H @ np.swapaxes(H, 1, 2) + (q + coupled + negative) * np.eye(q)
    Bop, Aop, Cop, Ctop = (BlockDiagonalOperator(B), BlockDiagonalOperator(A), SparseOperator(C),
                           SparseOperator(C.T.tocsr()))
    grid = [[Bop, Cop], [Ctop, Aop]] if e_first else [[Aop, Ctop], [Cop, Bop]]
    op = BlockOperator(grid, True)
    return op, op.to_dense(), B, A, C


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 7), p=st.integers(1, 4), nb=st.integers(1, 6), q=st.integers(1, 4),
       density=st.floats(0.05, 1.0), seed=seeds, shift=st.sampled_from([0.0, 0.3]))
def test_block_schur_complement_and_its_diagonal_blocks_equal_the_dense_ones(b, p, nb, q, density, seed, shift):
    from ricci.solvers._op_schur import (
        BlockCoupling,
        block_inverses,
        dense_schur_complement,
        full_coupling,
        inverse_factors,
        schur_complement,
        schur_diagonal_blocks,
    )

    rng = np.random.default_rng(seed)
    _, _, B, A, C = _schur_case(rng, b, p, nb, q, density)
    coupling = BlockCoupling.of(C, p, q)
    assert np.all(np.diff(coupling.rows) >= 0) and coupling.values.shape[1:] == (p, q)
    import ricci.solvers._op_schur as schur_module
    from ricci.solvers import _op_pattern

    with pytest.MonkeyPatch.context() as patch:  # the blocks found by sorting their keys: the same form
        patch.setattr(_op_pattern, "MARK_LIMIT", 0)
        _op_pattern.clear()  # else the layout of C's pattern comes from the cache
        sorted_form = BlockCoupling.of(C, p, q)
    for name in ("values", "rows", "cols", "starts"):
        np.testing.assert_array_equal(getattr(sorted_form, name), getattr(coupling, name))
    inverse = block_inverses(B, shift, "B")
    Cd = C.toarray()
    u, v = rng.standard_normal(b * p), rng.standard_normal(nb * q)
    np.testing.assert_allclose(coupling.matvec(v), Cd @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(coupling.rmatvec(u), Cd.T @ u, rtol=1e-12, atol=1e-12)
    expected = (_block_diag(A) + shift * np.eye(nb * q)
                - Cd.T @ np.linalg.solve(_block_diag(B) + shift * np.eye(b * p), Cd))
    for route in (0.0, 2.0):  # by one GEMM on the dense coupling (every density), blockwise (none)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(schur_module, "DENSE_COUPLING", route)
            np.testing.assert_allclose(schur_complement(coupling, inverse, A, None, shift), expected, rtol=1e-10,
                                       atol=1e-10)
            np.testing.assert_allclose(schur_complement(coupling, inverse, np.zeros_like(A), _block_diag(A),
                                                        shift), expected, rtol=1e-10, atol=1e-10)
    # a full coupling skips the block form: Y = L^-1 C, S = A + sI - Y'Y, exactly symmetric
    S = dense_schur_complement(Cd, None, A, None, shift, factors=inverse_factors(B, shift, "B"))
    np.testing.assert_allclose(S, expected, rtol=1e-10, atol=1e-10)
    assert np.array_equal(S, S.T)
    assert full_coupling(C) == (C.nnz > schur_module.DENSE_COUPLING * Cd.size)
    diagonal = schur_diagonal_blocks(coupling, inverse, A, shift)
    np.testing.assert_allclose(diagonal, np.stack([expected[j * q:(j + 1) * q, j * q:(j + 1) * q]
                                                   for j in range(nb)]), rtol=1e-10, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(2, 9), p=st.integers(1, 4), nb=st.integers(1, 6), q=st.integers(1, 4),
       density=st.floats(0.05, 0.8), seed=seeds, shift=st.sampled_from([0.0, 0.7]), e_first=st.booleans())
def test_iterative_schur_solves_like_the_dense_matrix(b, p, nb, q, density, seed, shift, e_first):
    with _iterative_schur_at_any_size():
        _check_iterative_schur(b, p, nb, q, density, seed, shift, e_first)


@contextlib.contextmanager
def _iterative_schur_at_any_size():
    """The iterative Schur route for operators of any size (hypothesis reuses a test's function-scoped
    fixtures across examples, so the patch is a context inside the test)."""
    from ricci.solvers import _op_schur

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_op_schur, "ITERATIVE_ABOVE", 0)
        yield


def _check_iterative_schur(b, p, nb, q, density, seed, shift, e_first):
    rng = np.random.default_rng(seed)
    if b * p <= nb * q:  # the larger block diagonal is the one eliminated
        b = nb * q // p + 1
    op, dense, *_ = _schur_case(rng, b, p, nb, q, density, e_first)
    solver = op.solver(shift, rtol=1e-12)
    assert solver.method == "iterative-schur"
    assert op.solver(shift).method == "schur"  # rtol None: the exact factorization
    rhs = rng.standard_normal((op.shape[0], 2))
    expected = np.linalg.solve(dense + shift * np.eye(op.shape[0]), rhs)
    for got in (solver.solve(rhs), np.stack([solver.solve(rhs[:, 0]), solver.solve(rhs[:, 1])], axis=1),
                op.solver(shift).solve(rhs)):
        assert np.linalg.norm(got - expected) <= 1e-8 * np.linalg.norm(expected)


def test_iterative_schur_reports_indefinite_input(monkeypatch):
    from ricci.solvers import _op_schur

    monkeypatch.setattr(_op_schur, "ITERATIVE_ABOVE", 0)
    # S = [[a - c^2, -c^2], [-c^2, a - c^2]] has positive diagonal but the eigenvalue a - 2 c^2 < 0
    c = math.sqrt(0.7)
    op = BlockOperator([[BlockDiagonalOperator(np.ones((2, 1, 1))), sp.csr_array([[c, c], [0.0, 0.0]])],
                        [sp.csr_array([[c, 0.0], [c, 0.0]]), DiagonalOperator(np.ones(2))]], True)
    assert float(np.linalg.eigvalsh(op.to_dense()).min()) < 0
    rng = np.random.default_rng(3)
    with pytest.raises(NotPositiveDefinite, match="curvature"):
        op.solver(0.0, rtol=1e-10).solve(rng.standard_normal(4))
    with pytest.raises(NotPositiveDefinite):  # the exact route agrees
        op.factorize(0.0)
    shift = 1.0
    x = op.solver(shift, rtol=1e-12).solve(np.arange(4.0))
    np.testing.assert_allclose(x, np.linalg.solve(op.to_dense() + shift * np.eye(4), np.arange(4.0)), rtol=1e-9)
    # an indefinite diagonal block of S (a principal submatrix) is found before any solve
    rng = np.random.default_rng(4)
    indefinite, *_ = _schur_case(rng, 8, 2, 3, 2, 0.5, negative=-1000.0)
    with pytest.raises(NotPositiveDefinite, match="eliminated block diagonal"):  # the rest's 3 blocks (8 / 3 >=
        indefinite.solver(0.0, rtol=1e-10)  # ITERATIVE_FEWER_BLOCKS_RATIO) are eliminated on the iterative route
    from ricci.solvers import _op_block

    default_ratio = _op_block.ITERATIVE_FEWER_BLOCKS_RATIO
    monkeypatch.setattr(_op_block, "ITERATIVE_FEWER_BLOCKS_RATIO", math.inf)  # the 8 blocks eliminated
    with pytest.raises(NotPositiveDefinite, match="diagonal blocks of its Schur complement"):
        indefinite.solver(0.0, rtol=1e-10)
    with pytest.raises(NotPositiveDefinite, match="eliminated block"):
        indefinite.solver(-50.0, rtol=1e-10)
    monkeypatch.setattr(_op_block, "ITERATIVE_FEWER_BLOCKS_RATIO", default_ratio)  # 4 blocks against 3, below
    balanced, *_ = _schur_case(np.random.default_rng(4), 4, 2, 3, 2, 0.5, negative=-1000.0)
    with pytest.raises(NotPositiveDefinite, match="diagonal blocks of its Schur complement"):  # the ratio: the
        balanced.solver(0.0, rtol=1e-10)  # larger side (4 blocks) is eliminated, as on the exact route
    with pytest.raises(ValueError, match="rtol"):
        indefinite.solver(0.0, rtol=2.0)


@settings(max_examples=10, deadline=None)
@given(users=st.integers(3, 12), items=st.integers(2, 9), rank=st.integers(1, 3), seed=seeds)
def test_levenberg_marquardt_normal_equations_keep_the_block_structure(users, items, rank, seed):
    """J = [[J_U, J_V], [c I, 0], [0, c I]] scaled by columns: (J S)'(J S) + mu I is solved through the Schur
    complement onto V (J_U'J_U + D recognised block diagonal), exactly and iteratively, never densely."""
    with _iterative_schur_at_any_size():
        _check_levenberg_marquardt_normal_equations(users, items, rank, seed)


def _check_levenberg_marquardt_normal_equations(users, items, rank, seed):
    from ricci.solvers._jacobian import scaled_gram

    rng = np.random.default_rng(seed)
    JU, JV = _factorization_jacobian(rng, max(users, items + 1), items, rank, 0.4)
    nu, nv = JU.shape[1], JV.shape[1]
    J = BlockOperator([[SparseOperator(JU), SparseOperator(JV)], [ScaledIdentity(nu, 0.1), None],
                       [None, ScaledIdentity(nv, 0.1)]])
    s = rng.uniform(0.5, 2.0, nu + nv)
    G = scaled_gram(J, s)
    assert block_diagonal_form(G.blocks[0][0]).blocks.shape == (nu // rank, rank, rank)
    Jd = J.to_dense() * s[None, :]
    mu = float(rng.uniform(0.01, 1.0))
    rhs = rng.standard_normal(nu + nv)
    expected = np.linalg.solve(Jd.T @ Jd + mu * np.eye(nu + nv), rhs)
    for solver in (G.factorize(mu), G.solver(mu, rtol=1e-12)):
        assert solver.method in ("schur", "iterative-schur")
        assert np.linalg.norm(solver.solve(rhs) - expected) <= 1e-8 * np.linalg.norm(expected)
    assert G.solver(mu, rtol=1e-12).method == "iterative-schur"


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 2**16), shift=st.floats(1e-3, 10.0),
       sparse_j=st.booleans())
def test_congruence_operator_solves_like_the_dense_matrix(m, n, seed, shift, sparse_j):
    """J' H J against NumPy: products, diagonal, dense form, and shifted solves -- Woodbury through an m x m
    system where J has fewer rows than columns and H is positive definite, the dense Cholesky otherwise."""
    from ricci.solvers import CongruenceOperator

    rng = np.random.default_rng(seed)
    J = rng.standard_normal((m, n))
    A = rng.standard_normal((m, m))
    H = A @ A.T + 0.1 * np.eye(m)
    J_op = SparseOperator(sp.csr_array(J)) if sparse_j else DenseOperator(J)
    op = CongruenceOperator(J_op, DenseOperator(H, symmetric=True))
    G = J.T @ H @ J
    V = rng.standard_normal((n, 2))
    np.testing.assert_allclose(op.matvec(V), G @ V, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(op.to_dense(), G, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(op.diagonal(), np.diag(G), rtol=1e-10, atol=1e-10)
    fact = op.factorize(shift)
    assert fact.method == ("woodbury" if m < n else "dense-cholesky")
    b = rng.standard_normal((n, 3))
    reference = np.linalg.solve(G + shift * np.eye(n), b)
    np.testing.assert_allclose(fact.solve(b), reference, rtol=1e-7, atol=1e-9 * np.abs(reference).max())
    again = op.factorize(2 * shift)  # the cached L and L'JJ'L serve every shift
    np.testing.assert_allclose(again.solve(b[:, 0]), np.linalg.solve(G + 2 * shift * np.eye(n), b[:, 0]),
                               rtol=1e-7, atol=1e-9 * np.abs(reference).max())


def test_congruence_operator_without_a_definite_inner_matrix_falls_back_or_refuses(rng):
    """An indefinite H has no Cholesky factor: the dense J' H J + shift I is factorized instead (definite for a
    large shift, NotPositiveDefinite for a small one); a zero shift never takes Woodbury."""
    from ricci.solvers import CongruenceOperator

    m, n = 3, 6
    J = rng.standard_normal((m, n))
    H = np.diag([2.0, -1.0, 0.5])
    op = CongruenceOperator(DenseOperator(J), DenseOperator(H, symmetric=True))
    G = J.T @ H @ J
    big = float(np.abs(np.linalg.eigvalsh(G)).max()) + 1.0
    fact = op.factorize(big)
    assert fact.method == "dense-cholesky"
    b = rng.standard_normal(n)
    np.testing.assert_allclose(fact.solve(b), np.linalg.solve(G + big * np.eye(n), b), rtol=1e-9)
    with pytest.raises(NotPositiveDefinite):
        op.factorize(1e-6)
    definite = CongruenceOperator(DenseOperator(J), DenseOperator(np.eye(m), symmetric=True))
    with pytest.raises(NotPositiveDefinite):  # J'J of a wide J is singular
        definite.factorize(0.0)


@settings(max_examples=10, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), density=st.floats(0.1, 0.9), seed=st.integers(0, 2**16))
def test_sparse_transpose_is_a_view_and_adopt_keeps_the_arrays(m, n, density, seed):
    """SparseOperator.T reads the same arrays as CSC (no copy) and computes as the dense transpose; adopt keeps a
    canonical CSR as it is and converts anything else; a block operator counts a shared coupling once."""
    from ricci.solvers._op_compose import host_sparse

    rng = np.random.default_rng(seed)
    C = sp.random_array((m, n), density=density, format="csr", rng=rng) + sp.csr_array(
        (np.ones(1), ([0], [0])), shape=(m, n))
    C.sum_duplicates()
    op = SparseOperator(C, False)
    view = op.T
    assert view.A.format == "csc" and np.shares_memory(view.A.data, op.A.data)
    dense = C.toarray()
    V, U = rng.standard_normal((m, 2)), rng.standard_normal((n, 3))
    np.testing.assert_allclose(view.matvec(V), dense.T @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(view.rmatvec(U), dense @ U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(view.to_dense(), dense.T, rtol=0, atol=0)
    assert host_sparse(view).format == "csr"
    np.testing.assert_allclose(host_sparse(view).toarray(), dense.T, rtol=0, atol=0)
    assert view.T.A.format == "csr" and np.shares_memory(view.T.A.data, op.A.data)
    adopted = SparseOperator.adopt(C, False)
    assert adopted.A is C
    coo = SparseOperator.adopt(C.tocoo())
    assert coo.A.format == "csr" and not np.shares_memory(coo.A.data, C.data)
    blocks = BlockOperator([[DiagonalOperator(np.full(m, 3.0)), op], [view, DiagonalOperator(np.full(n, 2.0))]],
                           True)
    assert blocks.nbytes == op.nbytes + 8 * (m + n)
    full = np.block([[3.0 * np.eye(m), dense], [dense.T, 2.0 * np.eye(n)]])
    shift = float(np.linalg.norm(full, 2)) + 0.5
    b = rng.standard_normal(m + n)
    np.testing.assert_allclose(blocks.solve(b, shift=shift), np.linalg.solve(full + shift * np.eye(m + n), b),
                               rtol=1e-9, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(2, 9), p=st.integers(1, 4), nb=st.integers(1, 6), q=st.integers(1, 4),
       density=st.floats(0.05, 0.8), seed=seeds, shift=st.sampled_from([0.0, 0.7]), e_first=st.booleans())
def test_block_jacobi_schur_preconditioner_is_the_block_elimination_with_s_approximated(b, p, nb, q, density,
                                                                                        seed, shift, e_first):
    """Where the iterative Schur route applies, preconditioner(shift) is M^-1 for M = L diag(B + sI, S_hat) L'
    (S_hat the block diagonal of the Schur complement), formed here densely; it is symmetric positive definite;
    elsewhere it is the exact factorization."""
    with _iterative_schur_at_any_size():
        rng = np.random.default_rng(seed)
        if b * p <= nb * q:
            b = nb * q // p + 1
        op, dense, B, A, C = _schur_case(rng, b, p, nb, q, density, e_first)
        fact = op.preconditioner(shift)
        assert fact.method == "block-jacobi-schur"
        n_e, n = b * p, op.shape[0]
        Bd, Cd = _block_diag(B) + shift * np.eye(n_e), C.toarray()
        S = _block_diag(A) + shift * np.eye(nb * q) - Cd.T @ np.linalg.solve(Bd, Cd)
        S_hat = np.zeros_like(S)
        for j in range(nb):
            S_hat[j * q:(j + 1) * q, j * q:(j + 1) * q] = S[j * q:(j + 1) * q, j * q:(j + 1) * q]
        L = np.block([[np.eye(n_e), np.zeros((n_e, nb * q))], [Cd.T @ np.linalg.inv(Bd), np.eye(nb * q)]])
        M = L @ np.block([[Bd, np.zeros((n_e, nb * q))], [np.zeros((nb * q, n_e)), S_hat]]) @ L.T
        if not e_first:  # the operator's order is (A, B): M's rows and columns in that order
            order = np.r_[n_e:n, :n_e]
            M = M[np.ix_(order, order)]
        inverse = fact.solve(np.eye(n))
        np.testing.assert_allclose(inverse, np.linalg.inv(M), rtol=1e-8, atol=1e-10 * np.abs(inverse).max())
        np.testing.assert_allclose(inverse, inverse.T, rtol=1e-9, atol=1e-12 * np.abs(inverse).max())
        assert np.linalg.eigvalsh((inverse + inverse.T) / 2).min() > 0
    exact = op.preconditioner(shift)  # without the iterative route (n below ITERATIVE_ABOVE): exact
    assert exact.method != "block-jacobi-schur"
    rhs = rng.standard_normal(n)
    np.testing.assert_allclose(exact.solve(rhs), np.linalg.solve(dense + shift * np.eye(n), rhs), rtol=1e-8,
                               atol=1e-10)


@pytest.mark.parametrize("p", [3, 40])  # numpy.linalg.solve on small blocks, scipy's triangular solves above
def test_block_diagonal_solves_on_either_side_of_small_blocks(p):
    from ricci.solvers._op_structured import SMALL_BLOCKS

    assert (p <= SMALL_BLOCKS) != (p > SMALL_BLOCKS)
    rng = np.random.default_rng(p)
    G = rng.standard_normal((4, p, p))
    blocks = G @ np.swapaxes(G, 1, 2) + p * np.eye(p)
    op = BlockDiagonalOperator(blocks)
    b = rng.standard_normal((4 * p, 2))
    for shift in (0.0, 0.5):
        np.testing.assert_allclose((op.to_dense() + shift * np.eye(4 * p)) @ op.solve(b, shift=shift), b,
                                   rtol=1e-10, atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(seed=seeds, weighted=st.booleans(), sparse_left=st.booleans(), columns=st.integers(1, 3))
def test_weighted_product_operator_products_equal_the_dense_ones(seed, weighted, sparse_left, columns):
    """L' diag(w) R (an off-diagonal block of a block operator's Gram) gives L' w R v and R' w L u through CSR
    copies of L' and R' where both factors are sparse, through the factors' own products otherwise."""
    import scipy.sparse as sp
    from ricci.solvers import DenseOperator, SparseOperator
    from ricci.solvers._op_block import WeightedProductOperator

    rng = np.random.default_rng(seed)
    L = rng.standard_normal((30, 6)) * (rng.random((30, 6)) < 0.4)
    R = rng.standard_normal((30, 4)) * (rng.random((30, 4)) < 0.4)
    w = rng.random(30) if weighted else None
    left = SparseOperator(sp.csr_array(L)) if sparse_left else DenseOperator(L)
    op = WeightedProductOperator(left, w, SparseOperator(sp.csr_array(R)))
    dense = L.T @ ((np.ones(30) if w is None else w)[:, None] * R)
    V, U = rng.standard_normal((4, columns)), rng.standard_normal((6, columns))
    for _ in range(3):  # through the factors, then (from the third product) through CSR copies
        np.testing.assert_allclose(op.matvec(V), dense @ V, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(U), dense.T @ U, atol=1e-12)
    np.testing.assert_allclose(op.matvec(V[:, 0]), dense @ V[:, 0], atol=1e-12)
    np.testing.assert_allclose(op.T.matvec(U[:, 0]), dense.T @ U[:, 0], atol=1e-12)
    np.testing.assert_allclose(op.to_dense(), dense, atol=1e-12)
    assert (op._cache.get("csr") is not None) == sparse_left
