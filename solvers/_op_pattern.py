"""Layouts derived from a sparse matrix's pattern, made once per pattern and reused while it repeats.

An iterative solver on a structured problem meets the same sparsity pattern at every point: the Gauss-Newton
matrix J'J of a matrix factorization has new values at each iterate but the nonzeros of the observed entries
every time. What is read off the pattern alone -- where each stored entry goes in a block form, which blocks
exist, the block size of a block-diagonal pattern -- is computed on the first matrix and kept here, keyed by
what it was computed for (a name and its parameters) and checked against the matrix's ``indptr`` and
``indices`` by value (two array comparisons, a few ms at 2 million nonzeros, where the layout itself took 50).
A matrix whose pattern differs from every kept one gets a new layout; the oldest is dropped beyond
``KEPT`` layouts.

Matrices are scipy.sparse CSR arrays; their stored entries need not be sorted or summed (a layout records
whether two stored entries land on the same place, and :func:`scatter` then adds them).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

#: How many layouts are kept (each holds copies of its pattern's index arrays and its own index arrays).
KEPT = 8

_layouts: OrderedDict = OrderedDict()
_lock = threading.Lock()


def layout(kind: str, params: tuple, matrix, build):
    """The layout ``build(matrix)`` of the CSR ``matrix`` for ``(kind, params)``, from the cache when a
    matrix of the same shape and pattern was seen before."""
    key = (kind, params, tuple(matrix.shape), int(matrix.nnz))
    indptr, indices = matrix.indptr, matrix.indices
    with _lock:
        for token, (entry_key, entry_indptr, entry_indices, value) in _layouts.items():
            if (entry_key == key and np.array_equal(entry_indptr, indptr)
                    and np.array_equal(entry_indices, indices)):
                _layouts.move_to_end(token)
                return value
    value = build(matrix)
    with _lock:
        _layouts[object()] = (key, indptr.copy(), indices.copy(), value)
        while len(_layouts) > KEPT:
            _layouts.popitem(last=False)
    return value


def clear() -> None:
    """Forget every layout (tests; the cache never grows beyond KEPT layouts)."""
    with _lock:
        _layouts.clear()


def scatter(size: int, flat, data, unique: bool):
    """A flat array of ``size`` zeros with ``data`` placed at the positions ``flat``, summed where positions
    repeat (``unique`` False)."""
    if unique:
        out = np.zeros(size, dtype=data.dtype)
        out[flat] = data
        return out
    if np.iscomplexobj(data):
        return (np.bincount(flat, weights=data.real, minlength=size)
                + 1j * np.bincount(flat, weights=data.imag, minlength=size)).astype(data.dtype)
    return np.bincount(flat, weights=data, minlength=size).astype(data.dtype, copy=False)


#: Positions in [0, size) are told apart by marking them on a grid of ``size`` cells (one byte each, no sort)
#: while size is at most this, else by sorting them (:func:`all_distinct`; ``_op_schur``'s coupling layout).
MARK_LIMIT = 1 << 25


def all_distinct(flat, size: int) -> bool:
    """Whether the positions ``flat`` (in [0, size)) are pairwise distinct."""
    if flat.size > size:
        return False
    if size > MARK_LIMIT:
        return np.unique(flat).size == flat.size
    mark = np.zeros(size, dtype=bool)
    mark[flat] = True
    return int(np.count_nonzero(mark)) == flat.size
