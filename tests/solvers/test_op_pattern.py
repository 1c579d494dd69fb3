"""Layouts read off a sparse pattern are made once per pattern (``solvers/_op_pattern.py``): a matrix with the
same nonzeros and new values reuses them, another pattern gets its own, and what they build equals the dense
matrix, duplicates and unsorted entries included."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import BlockDiagonalOperator, SparseOperator, _op_pattern
from ricci.solvers._op_block import block_diagonal_form
from ricci.solvers._op_schur import BlockCoupling


@pytest.fixture(autouse=True)
def _fresh_cache():
    _op_pattern.clear()
    yield
    _op_pattern.clear()


def _with_duplicates(matrix, rng):
    """The same matrix as a CSR whose stored entries are split in two (every entry stored twice, the halves
    summing to it) and whose rows are in reversed column order: unsorted, not summed."""
    coo = sp.coo_array(matrix)
    split = rng.random(coo.nnz)
    rows = np.concatenate([coo.row, coo.row])
    cols = np.concatenate([coo.col, coo.col])
    data = np.concatenate([coo.data * split, coo.data * (1 - split)])
    order = np.lexsort((-cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.searchsorted(rows, np.arange(matrix.shape[0] + 1))
    out = sp.csr_array((data, cols, indptr), shape=matrix.shape)
    out.has_sorted_indices = False
    out.has_canonical_format = False
    return out


def _dense_of(coupling: BlockCoupling):
    b = coupling.starts.size - 1
    out = np.zeros((b * coupling.p, coupling.n))
    for value, r, c in zip(coupling.values, coupling.rows, coupling.cols):
        out[r * coupling.p:(r + 1) * coupling.p, c * coupling.q:(c + 1) * coupling.q] += value
    return out


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 6), p=st.integers(1, 4), nb=st.integers(1, 5), q=st.integers(1, 4),
       density=st.floats(0.05, 1.0), seed=st.integers(0, 2**32 - 1), duplicates=st.booleans())
def test_block_coupling_of_any_csr_equals_the_matrix_and_reuses_its_layout(b, p, nb, q, density, seed, duplicates):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((b * p, nb * q)) < density, rng.standard_normal((b * p, nb * q)), 0.0)
    C = _with_duplicates(sp.csr_array(dense), rng) if duplicates else sp.csr_array(dense)
    first = BlockCoupling.of(C, p, q)
    np.testing.assert_allclose(_dense_of(first), dense, atol=1e-14)
    np.testing.assert_allclose(first.matvec(np.ones(nb * q)), dense.sum(axis=1), atol=1e-12)
    # new values on the same pattern: the layout is reused (the same index arrays), the values are the new ones
    again = sp.csr_array((2.0 * C.data + 1.0, C.indices.copy(), C.indptr.copy()), shape=C.shape)
    second = BlockCoupling.of(again, p, q)
    assert second.rows is first.rows and second.by_column is first.by_column
    np.testing.assert_allclose(_dense_of(second), again.toarray(), atol=1e-13)


def test_a_changed_pattern_gets_its_own_layout(rng):
    dense = np.where(rng.random((8, 6)) < 0.5, rng.standard_normal((8, 6)), 0.0)
    first = BlockCoupling.of(sp.csr_array(dense), 2, 3)
    dense[0, :] = 0.0  # fewer nonzeros
    dense[7, 5] = 3.0
    other = BlockCoupling.of(sp.csr_array(dense), 2, 3)
    assert other.rows is not first.rows
    np.testing.assert_allclose(_dense_of(other), dense)
    moved = np.zeros_like(dense)  # as many nonzeros in other places: told apart by value, not by count
    moved[np.nonzero(dense)[0], (np.nonzero(dense)[1] + 1) % 6] = 1.0
    if np.count_nonzero(moved) == np.count_nonzero(dense):
        np.testing.assert_allclose(_dense_of(BlockCoupling.of(sp.csr_array(moved), 2, 3)), moved)


def test_the_cache_keeps_at_most_kept_layouts(rng):
    for k in range(_op_pattern.KEPT + 5):
        dense = np.zeros((4, 4))
        dense[k % 4, (k // 4) % 4] = 1.0 + k
        dense[3, 3] = 2.0
        BlockCoupling.of(sp.csr_array(dense), 2, 2)
        assert len(_op_pattern._layouts) <= _op_pattern.KEPT


@settings(max_examples=20, deadline=None)
@given(count=st.integers(2, 6), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), duplicates=st.booleans())
def test_block_diagonal_form_of_duplicated_entries_and_again_with_new_values(count, k, seed, duplicates):
    rng = np.random.default_rng(seed)
    blocks = rng.standard_normal((count, k, k))
    blocks = blocks + np.swapaxes(blocks, 1, 2)
    dense = sp.block_diag(list(blocks)).toarray()
    matrix = _with_duplicates(sp.csr_array(dense), rng) if duplicates else sp.csr_array(dense)
    found = block_diagonal_form(SparseOperator(matrix, symmetric=True))
    assert isinstance(found, BlockDiagonalOperator)
    np.testing.assert_allclose(found.to_dense(), dense, atol=1e-13)
    scaled = sp.csr_array((3.0 * matrix.data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)
    np.testing.assert_allclose(block_diagonal_form(SparseOperator(scaled, symmetric=True)).to_dense(), 3.0 * dense,
                               atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 60), count=st.integers(0, 70), seed=st.integers(0, 2**32 - 1))
def test_all_distinct_by_marking_and_by_sorting(size, count, seed):
    """Positions in [0, size) are told apart on a grid (small sizes) or by sorting (above MARK_LIMIT): both
    agree with a set."""
    flat = np.random.default_rng(seed).integers(0, size, count)
    expected = len(set(flat.tolist())) == count
    assert _op_pattern.all_distinct(flat, size) == expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_op_pattern, "MARK_LIMIT", 0)
        assert _op_pattern.all_distinct(flat, size) == expected
    assert _op_pattern.all_distinct(np.arange(size), size)
