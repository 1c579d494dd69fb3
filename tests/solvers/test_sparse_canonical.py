"""Sparse data are made canonical once (sorted indices, no duplicates), and nothing per iterate copies,
sorts or squares them again; the user's matrix is never changed."""
import numpy as np
import scipy.sparse as sp
from ricci import problems
from ricci import symbolic as rs
from ricci.solvers import GramOperator
from ricci.solvers._op_elementary import as_csr
from ricci.solvers._op_gram import _sparse_squares


def _unsorted(rng, m=12, n=9):
    dense = np.where(rng.random((m, n)) < 0.4, rng.standard_normal((m, n)), 0.0)
    csr = sp.csr_matrix(dense)
    for r in range(m):  # reverse each row's column order: valid CSR, unsorted indices
        lo, hi = csr.indptr[r], csr.indptr[r + 1]
        csr.indices[lo:hi] = csr.indices[lo:hi][::-1].copy()
        csr.data[lo:hi] = csr.data[lo:hi][::-1].copy()
    csr.has_sorted_indices = False
    return dense, csr


def test_as_csr_keeps_a_canonical_array_and_copies_the_rest(rng):
    dense, unsorted = _unsorted(rng)
    indices_before = unsorted.indices.copy()
    made = as_csr(unsorted, "test")
    assert made is not unsorted and made.has_canonical_format
    np.testing.assert_array_equal(unsorted.indices, indices_before)  # the user's matrix is untouched
    np.testing.assert_allclose(made.toarray(), dense)
    assert as_csr(made, "test") is made  # canonical already: no copy per operator


def test_binding_makes_sparse_data_canonical_once(rng):
    dense, unsorted = _unsorted(rng)
    indices_before = unsorted.indices.copy()
    y = (rng.random(dense.shape[0]) < 0.5).astype(float)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": unsorted, "y": y, "lam": 0.5})
    reference = rs.Objective(f, wrt, {"X": dense, "y": y, "lam": 0.5})
    assert obj.data["X"].has_canonical_format
    np.testing.assert_array_equal(unsorted.indices, indices_before)
    x = rng.standard_normal(dense.shape[1])
    np.testing.assert_allclose(obj.jac(x), reference.jac(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(obj.hess_operator(x).diagonal(), np.diag(reference.hess(x)), rtol=1e-12)


def test_squares_are_kept_for_the_life_of_the_matrix(rng):
    dense, unsorted = _unsorted(rng)
    A = as_csr(unsorted, "test")
    first = _sparse_squares(A)
    assert _sparse_squares(A) is first
    np.testing.assert_allclose(first.toarray(), dense ** 2)
    d = rng.random(dense.shape[0])
    G = GramOperator(A, d, 0.5)
    np.testing.assert_allclose(G.diagonal(), (dense ** 2).T @ d + 0.5, rtol=1e-12)


def test_duplicates_are_summed_before_squaring():
    A = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 2))
    assert not A.has_canonical_format
    np.testing.assert_allclose(_sparse_squares(A).toarray(), np.array([[0.0, 9.0], [9.0, 0.0]]))
