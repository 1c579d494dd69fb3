"""Dask arrays whose blocks of rows are ``scipy.sparse`` matrices, read through products only.

``dask.array``'s own ``matmul`` calls ``numpy.matmul`` on each pair of chunks, which fails on sparse
chunks, and its element-wise operations would densify them. A Dask array X of sparse row blocks X_1, ...,
X_B (what ``problems.load("data.svm", chunks=N)`` gives) is therefore held as :class:`SparseRows`, which
implements the few operations the compiled code applies to data used only through products (the
sparse-data rule of ``_data_kinds``), each as one ``blockwise`` over the row blocks, lazily:

    X v            block b: X_b v                           (rows keep X's blocks; v NumPy or Dask)
    X' u           sum_b X_b' u_b                           (partial products, then a tree reduction)
    X' diag(s) Y   sum_b X_b' diag(s_b) Y_b                 (dense n x n per block, then the same reduction)
    diag(s) X      block b: diag(s_b) X_b                   (row weights, for the Gram just above)

so an evaluation point stays one graph and one ``dask.compute`` (``_binding.materialize``), X's blocks of
rows are kept (never rechunked into one), and each block is read once per pass. Columns are one block:
a Dask array cut across columns as well has each row block's pieces joined (``hstack``) when wrapped.
Nothing here imports Dask or SciPy at import time.
"""
import sys

import numpy as np


def has_sparse_blocks(value) -> bool:
    """True for a Dask array whose blocks are ``scipy.sparse`` matrices (its ``_meta`` says so)."""
    meta = getattr(value, "_meta", None)
    return meta is not None and type(meta).__module__.startswith("scipy.sparse")


def _csr(block, dtype, label, finite):
    """One block as a canonical ``scipy.sparse.csr_array`` of ``dtype`` (checked finite as it is read)."""
    sp = sys.modules["scipy.sparse"]
    if np.issubdtype(block.dtype, np.complexfloating):
        raise TypeError(f"{label}: complex arrays are not supported (got dtype {block.dtype})")
    out = block if isinstance(block, sp.csr_array) and block.dtype == dtype else sp.csr_array(block, dtype=dtype)
    if not out.has_canonical_format:
        out = out.copy()
        out.sum_duplicates()
    if finite and not bool(np.all(np.isfinite(out.data))):
        raise ValueError(f"{label} contains NaN or infinite values")
    return out


def wrap(value, dtype, label: str, finite: bool):
    """The Dask array ``value`` of sparse blocks as :class:`SparseRows` of ``dtype``: each block made a
    canonical CSR array (and, with ``finite``, checked) when a computation reads it, not here."""
    import scipy.sparse as sp

    if value.ndim != 2:
        raise ValueError(f"{label}: expected a 2-D Dask array of sparse blocks, got shape {tuple(value.shape)}")
    kind = np.dtype(value.dtype)
    if kind.kind == "c":
        raise TypeError(f"{label}: complex arrays are not supported (got dtype {kind})")
    if kind.kind not in "biuf":
        raise TypeError(f"{label}: expected a real number or array, got sparse blocks of dtype {kind}")
    if len(value.chunks[1]) > 1:  # each row block's pieces joined by columns (Dask's hstack of sparse chunks)
        value = value.rechunk({1: -1})
    blocks = value.map_blocks(_csr, np.dtype(dtype), label, finite, dtype=dtype,
                              meta=sp.csr_array((0, 0), dtype=dtype))
    return SparseRows(blocks)


def _dask_array():
    return sys.modules["dask.array"]  # loaded: a Dask array exists


class SparseRows:
    """A Dask array of ``scipy.sparse`` row blocks (``blocks``; ``transposed``: this is its transpose X'),
    with the products of the module docstring. Anything else (element-wise use) is a TypeError."""

    __array_ufunc__ = None  # NumPy's and Dask's operators defer to ours (v @ X, s * X)
    ndim = 2
    device = "cpu"

    def __init__(self, blocks, transposed: bool = False):
        self.blocks, self.transposed = blocks, transposed

    @property
    def shape(self):
        m, n = self.blocks.shape
        return (n, m) if self.transposed else (m, n)

    @property
    def dtype(self):
        return self.blocks.dtype

    @property
    def T(self):
        return SparseRows(self.blocks, not self.transposed)

    @property
    def row_chunks(self) -> tuple:
        """The number of rows of each block of X (of X itself, also when this is X')."""
        return self.blocks.chunks[0]

    def __array_namespace__(self, api_version=None):
        import array_api_compat

        return array_api_compat.array_namespace(self.blocks, api_version=api_version)

    def reshape(self, shape):
        if tuple(shape) != self.shape:
            raise TypeError(f"{self._name()}: a Dask array of sparse blocks cannot be reshaped to {tuple(shape)}")
        return self

    def __repr__(self):
        return (f"<SparseRows{' (transposed)' if self.transposed else ''} {self.shape[0]} x {self.shape[1]}, "
                f"row blocks {self.row_chunks}>")

    def _name(self):
        return f"SparseRows{' (transposed)' if self.transposed else ''} of shape {self.shape}"

    # -- products ------------------------------------------------------------------------------------------
    def __matmul__(self, other):
        if isinstance(other, SparseRows):
            if self.transposed and not other.transposed:
                return _gram(self.blocks, other.blocks)
            raise TypeError(f"{self._name()} @ {other._name()}: only X' Y of two sparse row-block arrays with the "
                            "same rows is formed")
        other = _operand(other, self._name())
        return _transposed_product(self.blocks, other) if self.transposed else _product(self.blocks, other)

    def __rmatmul__(self, other):
        other = _operand(other, self._name())
        if other.ndim == 1:
            return self.T @ other
        return (self.T @ other.T).T

    def __mul__(self, other):
        rows, cols = self.shape
        if getattr(other, "ndim", np.ndim(other)) == 0:
            if not hasattr(other, "dask"):
                return SparseRows(self.blocks.map_blocks(_scale, float(other), dtype=self.dtype), self.transposed)
            other = _dask_array().broadcast_to(other, (cols,))  # a lazy number: the same weight on every column
        other = _operand(other, self._name())
        shape = tuple(other.shape)
        if shape in ((rows, 1), (1, cols), (cols,)):
            on_rows = (shape == (rows, 1)) != self.transposed  # weights of X's rows (else of its columns)
            vector = other.reshape((-1,))
            return SparseRows(_weighted(self.blocks, vector, on_rows), self.transposed)
        raise TypeError(f"{self._name()} * an array of shape {shape}: a Dask array of sparse blocks is read through "
                        "products only (X @ w, X' v, X' diag(s) X)")

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0


def is_sparse_rows(value) -> bool:
    return isinstance(value, SparseRows)


def computable(value):
    """(what ``dask.compute`` takes, how its result becomes the value) for an output of a kernel: for
    :class:`SparseRows` its blocks, stacked by Dask into one CSR matrix (transposed where it is X')."""
    if isinstance(value, SparseRows):
        return value.blocks, (lambda csr: csr.T) if value.transposed else None
    return value, None


def _operand(value, who):
    """A NumPy or Dask array (lists and numbers through NumPy); a sparse matrix is a TypeError."""
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("dask."):
        return value
    if hasattr(value, "tocsr") or isinstance(value, SparseRows):
        raise TypeError(f"{who}: products with {type(value).__name__} are not formed here (NumPy or Dask arrays only)")
    return np.asarray(value)


def _as_dask(v, row_chunks=None):
    """``v`` as a Dask array: with ``row_chunks`` its first axis cut as X's rows (a NumPy array, or a Dask
    array of other blocks), else its first axis one block; further axes one block each."""
    da = _dask_array()
    chunks = (row_chunks if row_chunks is not None else (v.shape[0],),) + tuple((s,) for s in v.shape[1:])
    if isinstance(v, np.ndarray):
        return da.from_array(v, chunks=chunks)
    if tuple(v.chunks) != chunks:
        v = v.rechunk(chunks)
    return v


def _meta(ndim):
    return np.empty((0,) * ndim)


def _product_block(x, v):
    return np.asarray(x @ v)


def _product(blocks, v):
    """X v: block b is X_b v (rows in X's blocks)."""
    da = _dask_array()
    if v.ndim not in (1, 2):
        raise ValueError(f"X @ v: v must be 1-D or 2-D, got shape {tuple(v.shape)}")
    out = "i" if v.ndim == 1 else "ik"
    return da.blockwise(_product_block, out, blocks, "ij", _as_dask(v), "j" if v.ndim == 1 else "jk",
                        dtype=np.result_type(blocks.dtype, v.dtype), meta=_meta(v.ndim), concatenate=True)


def _transposed_block(x, u):
    return np.asarray(x.T @ u)[None]


def _transposed_product(blocks, u):
    """X' u = sum_b X_b' u_b: one partial product per block of rows, then a sum over the blocks."""
    da = _dask_array()
    if u.ndim not in (1, 2):
        raise ValueError(f"X' @ u: u must be 1-D or 2-D, got shape {tuple(u.shape)}")
    u = _as_dask(u, blocks.chunks[0])
    parts = da.blockwise(_transposed_block, "ij" if u.ndim == 1 else "ijk", blocks, "ij", u,
                         "i" if u.ndim == 1 else "ik", adjust_chunks={"i": 1},
                         dtype=np.result_type(blocks.dtype, u.dtype), meta=_meta(u.ndim + 1))
    return parts.sum(axis=0)


def _gram_block(a, b):
    out = a.T @ b
    return (out.toarray() if hasattr(out, "toarray") else np.asarray(out))[None]


def _gram(a, b):
    """A' B = sum_b A_b' B_b for two sparse row-block arrays with the same rows (dense, per block)."""
    da = _dask_array()
    if a.chunks[0] != b.chunks[0]:
        raise ValueError(f"X' Y: the row blocks differ ({a.chunks[0]} and {b.chunks[0]})")
    parts = da.blockwise(_gram_block, "ijk", a, "ij", b, "ik", adjust_chunks={"i": 1},
                         dtype=np.result_type(a.dtype, b.dtype), meta=_meta(3))
    return parts.sum(axis=0)


def _scale(x, c):
    return x * c


def _weight_rows(x, s):
    sp = sys.modules["scipy.sparse"]
    return sp.csr_array(x.multiply(np.asarray(s)[:, None]))


def _weight_columns(x, s):
    sp = sys.modules["scipy.sparse"]
    return sp.csr_array(x.multiply(np.asarray(s)[None, :]))


def _weighted(blocks, s, on_rows: bool):
    """diag(s) X (``on_rows``) or X diag(s), block by block (sparse stays sparse)."""
    da = _dask_array()
    if on_rows:
        return da.blockwise(_weight_rows, "ij", blocks, "ij", _as_dask(s, blocks.chunks[0]), "i",
                            dtype=blocks.dtype, meta=blocks._meta)
    return da.blockwise(_weight_columns, "ij", blocks, "ij", _as_dask(s), "j", dtype=blocks.dtype, meta=blocks._meta)
