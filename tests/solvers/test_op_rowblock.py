"""Row forms of sparse matrices whose rows each lie in one block of columns (solvers/_op_rowblock.py): the
rows they read, the Gram blocks and Schur-complement diagonal blocks they give against dense computations,
and the block operator routes that use them."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import (
    BlockOperator,
    DiagonalOperator,
    ScaledIdentity,
    SparseOperator,
    _op_pattern,
)
from ricci.solvers._op_block import block_diagonal_form
from ricci.solvers._op_rowblock import RowBlocks, distinct_pairs, schur_diagonal
from ricci.solvers._op_schur import BlockCoupling, block_inverses, schur_diagonal_blocks

seeds = st.integers(0, 2**32 - 1)


def _row_block_matrix(rng, m, count, k, *, empty=0.2, duplicates=False):
    """An (m, count k) CSR matrix whose rows each hold a random subset of one random block's k columns
    (some rows empty), with every stored entry given twice (halves that sum to it) when ``duplicates``."""
    rows, cols, vals = [], [], []
    for i in range(m):
        if rng.random() < empty:
            continue
        t = rng.integers(count)
        local = np.flatnonzero(rng.random(k) < 0.8)
        if local.size == 0:
            local = np.array([rng.integers(k)])
        rows += [i] * local.size
        cols += list(t * k + local)
        vals += list(rng.standard_normal(local.size))
    rows, cols, vals = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals)
    if duplicates:
        rows, cols, vals = np.r_[rows, rows], np.r_[cols, cols], np.r_[0.5 * vals, 0.5 * vals]
    A = sp.csr_array((vals, (rows, cols)), shape=(m, count * k))
    if duplicates:  # the constructor sums duplicates: store them again unsummed, in a shuffled order
        order = rng.permutation(rows.size)
        A = sp.csr_array(sp.coo_array((vals[order], (rows[order], cols[order])), shape=A.shape).tocsr(copy=False))
        A.has_canonical_format = False
    return A


def _dense_blocks(M, k):
    count = M.shape[0] // k
    return np.stack([M[t * k:(t + 1) * k, t * k:(t + 1) * k] for t in range(count)])


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 40), count=st.integers(2, 6), k=st.integers(1, 5), seed=seeds, duplicates=st.booleans(),
       weighted=st.booleans())
def test_row_form_reads_the_rows_and_sums_the_gram_blocks(m, count, k, seed, duplicates, weighted):
    rng = np.random.default_rng(seed)
    A = _row_block_matrix(rng, m, count, k, duplicates=duplicates)
    if A.nnz == 0:
        assert RowBlocks.of(A, k) is None
        return
    dense = A.toarray()
    form = RowBlocks.of(A, k)
    assert form.k == k and form.count == count
    np.testing.assert_array_equal(form.filled, np.abs(dense).sum(axis=1) > 0)
    rebuilt = np.zeros_like(dense)
    for i in np.flatnonzero(form.filled):
        rebuilt[i, form.block[i] * k:(form.block[i] + 1) * k] = form.values[i]
    np.testing.assert_allclose(rebuilt, dense, rtol=1e-14, atol=1e-14)
    w = rng.uniform(-1.0, 2.0, m) if weighted else None
    expected = _dense_blocks(dense.T @ (dense if w is None else w[:, None] * dense), k)
    np.testing.assert_allclose(form.gram(w), expected, rtol=1e-12, atol=1e-12)
    again = RowBlocks.of(A * 3.0, k)  # the same pattern: the cached layout, new values
    assert again.layout is form.layout
    np.testing.assert_allclose(again.values, 3.0 * form.values, rtol=1e-14)
    # the smallest block size that fits: every row inside one of its blocks
    found = RowBlocks.of(A)
    if found is not None:
        assert count * k % found.k == 0 and found.k <= k * count // 2
        for i in np.flatnonzero(found.filled):
            assert not np.any(dense[i, :found.block[i] * found.k]) and not np.any(dense[i, (found.block[i] + 1) * found.k:])
        np.testing.assert_allclose(found.gram(w), _dense_blocks(dense.T @ (dense if w is None else w[:, None] * dense),
                                                                found.k), rtol=1e-12, atol=1e-12)


def test_row_form_is_refused_where_a_row_crosses_a_block_or_nothing_is_stored():
    A = sp.csr_array(np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 3.0, 0.0]]))
    assert RowBlocks.of(A, 2) is None  # row 1 has columns 1 and 2: two blocks of 2
    assert RowBlocks.of(A, 4) is not None
    assert RowBlocks.of(A) is None  # the fitting size 4 leaves one block, which is no block structure
    assert RowBlocks.of(sp.csr_array((3, 4)), 2) is None
    assert RowBlocks.of(sp.csr_array(np.array([[1 + 1j, 0], [0, 1]])), 1) is None  # real matrices only


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 6), p=st.integers(1, 4), nb=st.integers(1, 6), q=st.integers(1, 4), density=st.floats(0.1, 1.0),
       seed=seeds, shift=st.sampled_from([0.0, 0.4]), weighted=st.booleans())
def test_schur_diagonal_from_rows_equals_the_dense_and_the_block_coupling_route(b, p, nb, q, density, seed, shift,
                                                                                weighted):
    """A factorization-shaped [L R]: one row per observed (t, j) pair, l_i in block t of L and r_i in block j
    of R. S's diagonal blocks from the rows equal the dense ones and those of the coupling's block form."""
    rng = np.random.default_rng(seed)
    pairs = np.argwhere(rng.random((b, nb)) < density)
    m = len(pairs)
    if m == 0:
        return
    rows = np.repeat(np.arange(m), p)
    L = sp.csr_array((rng.standard_normal(m * p), (rows, (pairs[:, 0:1] * p + np.arange(p)).ravel())), (m, b * p))
    rows = np.repeat(np.arange(m), q)
    R = sp.csr_array((rng.standard_normal(m * q), (rows, (pairs[:, 1:2] * q + np.arange(q)).ravel())), (m, nb * q))
    w = rng.uniform(0.1, 2.0, m) if weighted else None
    W = np.eye(m) if w is None else np.diag(w)
    Ld, Rd = L.toarray(), R.toarray()
    B = _dense_blocks(Ld.T @ W @ Ld, p) + np.eye(p)  # positive definite for any L
    A = _dense_blocks(Rd.T @ W @ Rd, q) + 2.0 * np.eye(q)
    left, right = RowBlocks.of(L, p), RowBlocks.of(R, q)
    assert distinct_pairs(left, right)
    inverse = block_inverses(B, shift, "B")
    C = Ld.T @ W @ Rd
    Bfull = np.zeros((b * p, b * p))
    for t in range(b):
        Bfull[t * p:(t + 1) * p, t * p:(t + 1) * p] = B[t]
    Afull = np.zeros((nb * q, nb * q))
    for j in range(nb):
        Afull[j * q:(j + 1) * q, j * q:(j + 1) * q] = A[j]
    S = Afull + shift * np.eye(nb * q) - C.T @ np.linalg.solve(Bfull + shift * np.eye(b * p), C)
    expected = _dense_blocks(S, q)
    found = schur_diagonal(left, w, right, inverse, A, shift)
    np.testing.assert_allclose(found, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(found, schur_diagonal_blocks(BlockCoupling.of(sp.csr_array(C), p, q), inverse, A, shift),
                               rtol=1e-10, atol=1e-10)


def test_two_rows_on_one_pair_of_blocks_are_not_distinct_pairs():
    L = RowBlocks.of(sp.csr_array(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])), 1)  # blocks 0, 0, 1
    same = RowBlocks.of(sp.csr_array(np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]])), 1)  # blocks 0, 0, 1
    other = RowBlocks.of(sp.csr_array(np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 0.0]])), 1)  # blocks 0, 1, 0
    assert not distinct_pairs(L, same)  # rows 0 and 1 both on (0, 0)
    assert distinct_pairs(L, other)  # (0, 0), (0, 1), (1, 0)


def test_gram_blocks_of_a_sum_with_diagonals_come_from_the_rows(monkeypatch):
    from ricci.solvers._op_compose import SumOperator
    from ricci.solvers._op_gram import GramOperator

    rng = np.random.default_rng(3)
    A = _row_block_matrix(rng, 60, 5, 3, empty=0.1)
    d = rng.uniform(0.5, 2.0, 60)
    diag = rng.uniform(0.1, 1.0, 15)
    op = SumOperator([GramOperator(A, d, 0.25), ScaledIdentity(15, 0.5), DiagonalOperator(diag)])
    import ricci.solvers._op_compose as compose

    def no_sparse_product(*_):
        raise AssertionError("the Gram's blocks were to come from the rows, not from the sparse product")

    monkeypatch.setattr(compose, "host_sparse", no_sparse_product)  # the pattern route would need it
    import ricci.solvers._op_block as block_module

    monkeypatch.setattr(block_module, "host_sparse", no_sparse_product)
    form = block_diagonal_form(op)
    expected = A.toarray().T @ (d[:, None] * A.toarray()) + np.diag(0.75 + diag)
    np.testing.assert_allclose(form.to_dense(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_iterative_schur_on_a_factorization_gram_takes_the_rows_and_solves_like_the_dense(weighted, monkeypatch):
    """J = [[J_U, J_V], [c I, 0], [0, c I]]: its Gram's coupling J_U' W J_V is read by rows; neither its sparse
    form nor its block form is made, and the PCG solve equals the dense one."""
    import ricci.solvers._op_block as block_module
    from ricci.solvers import _op_schur

    monkeypatch.setattr(_op_schur, "ITERATIVE_ABOVE", 0)  # the iterative route at this small size
    monkeypatch.setattr(block_module, "DENSE_BELOW", 0)
    monkeypatch.setattr(block_module, "DENSE_BYTES", 0)
    _op_pattern.clear()
    rng = np.random.default_rng(7)
    users, items, rank = 40, 30, 3
    mask = rng.random((users, items)) < 0.3
    mask[np.arange(users), rng.integers(items, size=users)] = True
    I, Jc = np.nonzero(mask)
    U, V = rng.standard_normal((users, rank)), rng.standard_normal((items, rank))
    rows = np.repeat(np.arange(I.size), rank)
    JU = sp.csr_array((V[Jc].ravel(), (rows, (I[:, None] * rank + np.arange(rank)).ravel())), (I.size, users * rank))
    JV = sp.csr_array((U[I].ravel(), (rows, (Jc[:, None] * rank + np.arange(rank)).ravel())), (I.size, items * rank))
    nu, nv = JU.shape[1], JV.shape[1]
    J = BlockOperator([[SparseOperator(JU), SparseOperator(JV)], [ScaledIdentity(nu, 0.1), None],
                       [None, ScaledIdentity(nv, 0.1)]])
    w = rng.uniform(0.5, 2.0, J.shape[0]) if weighted else None
    G = J.gram(w)
    mu = 0.3
    solver = G.solver(mu, rtol=1e-12)
    assert solver.method == "iterative-schur"
    assert not any(key[0] in ("coupling", "block coupling") for key in G._cache if isinstance(key, tuple))
    assert any(key[0] == "coupling rows" and G._cache[key] is not None for key in G._cache if isinstance(key, tuple))
    Jd = J.to_dense()
    Wd = np.eye(Jd.shape[0]) if w is None else np.diag(w)
    rhs = rng.standard_normal(nu + nv)
    expected = np.linalg.solve(Jd.T @ Wd @ Jd + mu * np.eye(nu + nv), rhs)
    assert np.linalg.norm(solver.solve(rhs) - expected) <= 1e-8 * np.linalg.norm(expected)
    pre = G.preconditioner(mu)  # the block-Jacobi elimination: its diagonal blocks from the rows as well
    assert pre.method == "block-jacobi-schur"
    assert np.all(np.isfinite(pre.solve(rhs)))


def test_the_two_coupling_blocks_of_a_gram_share_the_transposed_factors(monkeypatch):
    """L' W R and R' W L take their products through CSR copies of L' and R': one copy each, kept by the
    Jacobian's blocks, and the products still equal the dense ones."""
    import ricci.solvers._op_block as block_module
    from ricci.solvers._op_block import CSR_AFTER

    monkeypatch.setattr(block_module, "DENSE_BYTES", 0)  # the structure, not one dense array, at this size

    rng = np.random.default_rng(11)
    L, R = _row_block_matrix(rng, 50, 6, 3, empty=0.0), _row_block_matrix(rng, 50, 4, 2, empty=0.0)
    w = rng.uniform(0.5, 2.0, 50)
    G = BlockOperator([[SparseOperator(L), SparseOperator(R)]]).gram(w)
    upper, lower = G.blocks[0][1], G.blocks[1][0]
    u, v = rng.standard_normal(L.shape[1]), rng.standard_normal(R.shape[1])
    Ld, Rd = L.toarray(), R.toarray()
    for _ in range(CSR_AFTER + 1):
        np.testing.assert_allclose(upper.matvec(v), Ld.T @ (w * (Rd @ v)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lower.matvec(u), Rd.T @ (w * (Ld @ u)), rtol=1e-12, atol=1e-12)
    ours, theirs = upper._cache["csr"], lower._cache["csr"]
    assert ours[0] is theirs[2] and ours[2] is theirs[0]  # L' and R', made once
