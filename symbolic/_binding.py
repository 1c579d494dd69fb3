"""Binding arrays to compiled code: the array library, dtype and device of the inputs, their conversion, and
the sizes of the symbolic dimensions read off their shapes.

The compiled function, ``Objective``/``LeastSquares`` and the module that ``rs.export`` writes all bind their
inputs here. The module is standalone on purpose: it imports only the standard library, NumPy, and
array-api-compat when that is installed (and ``_dask_sparse``, standalone too and embedded with it), so that ``rs.export`` embeds its source in the exported module
(which must not import ricci) and there is one implementation, not a copy in a string.

Rules, in order:

* namespace: the array-API namespace of the array inputs (array-api-compat's ``array_namespace``); NumPy
  when no input is an array (Python numbers, lists); arrays of two libraries are refused, except Dask with
  NumPy (the Dask namespace computes, NumPy arrays join it as single chunks) and ``scipy.sparse`` matrices or
  arrays with NumPy (they are converted to ``scipy.sparse.csr_array``, whose ``@`` and ``*`` are the array
  API's, and may only enter products: ``X @ w``, ``X' v``, ``X' diag(s) X``, checked where an objective is
  built, see :func:`sparse_uses`); a Dask array of ``scipy.sparse`` blocks is held as ``_dask_sparse.SparseRows``
  (products block by block) and counts as Dask;
* dtype: the result type of the real floating arrays among the inputs (float32 stays float32 only when every
  floating input is float32), float64 when there are none; device: that of the first array;
* conversion: numbers and lists become arrays of that dtype on that device; arrays of another dtype are cast
  (integer labels become floats); complex values and ``bool`` scalars are refused; data for an objective must
  be finite;
* dimensions: a dimension is plain data here (``_dims.plain_shape`` converts ricci's): an ``int``, a name
  (``str``), a tuple standing for the product of its items (the Kronecker product's ``m*p`` is
  ``("m", "p")``), or a list standing for their sum (a concatenation's ``m + n`` is ``["m", "n"]``). Arrays
  of higher order are bound first (data matrices fix the sizes, vectors are checked against them); a name
  tied to a bound dimension takes its size; every tie is then checked. ``ties`` is a tuple of classes, each a
  tuple of dimensions that must be equal.
"""

import numbers
import sys
import threading
from collections import OrderedDict

import numpy as np

try:
    import array_api_compat
except ImportError:  # the exported module without array-api-compat: NumPy arrays only
    array_api_compat = None

from ._dask_sparse import SparseRows, computable, has_sparse_blocks, wrap

# -- dimensions ----------------------------------------------------------------------------------------------


def dimension_value(d, sizes):
    """The integer value of the plain dimension ``d`` under ``sizes`` (name -> int); None while a name in it
    is unbound."""
    if isinstance(d, str):
        return sizes.get(d)
    if isinstance(d, (tuple, list)):  # a product, or (a list) a sum
        value = 1 if isinstance(d, tuple) else 0
        for item in d:
            v = dimension_value(item, sizes)
            if v is None:
                return None
            value = value * v if isinstance(d, tuple) else value + v
        return value
    return int(d)


def dimension_names(d):
    """The names in the plain dimension ``d``, in order."""
    if isinstance(d, str):
        return [d]
    if isinstance(d, (tuple, list)):
        return [n for item in d for n in dimension_names(item)]
    return []


def dimension_text(d):
    """``d`` as written: ``3``, ``n``, ``m*p``, ``m + n``."""
    if isinstance(d, tuple):
        return "*".join(f"({dimension_text(f)})" if isinstance(f, list) else dimension_text(f) for f in d)
    if isinstance(d, list):
        return " + ".join(dimension_text(term) for term in d)
    return str(d)


def shape_text(shape):
    """A shape as written in messages: ``(n,)``, ``(m, n)``, ``()``."""
    inner = ", ".join(dimension_text(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_size(label, value):
    """``value`` as a size (a non-negative int, not a bool), or a ValueError naming ``label``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < 0:
        raise ValueError(f"{label} must be a non-negative int, got {value!r}")
    return int(value)


RANK_MESSAGE = "{name}: expected a {ndim}-D array of shape {shape}, got shape {got}"
SIZE_MESSAGE = "{name}: expected shape {shape} = {expected}{where}, got {got}"
TIE_MESSAGE = "dimension mismatch: these dimensions must be equal, but {parts}"


def bind_shapes(items, sizes, source, ties=(), *, rank_message=RANK_MESSAGE, size_message=SIZE_MESSAGE,
                mismatch=ValueError, who=""):
    """Bind the dimension names from array shapes and check every axis and every tie.

    ``items`` are (name, declared plain shape, actual shape); arrays of higher order are bound first.
    ``sizes`` (name -> int) and ``source`` (name -> where the size came from) are filled in place. A wrong
    number of axes or a wrong size raises ValueError(``rank_message`` or ``size_message``, formatted with
    who, name, ndim, shape, expected, where, got); two tied dimensions of different sizes raise
    ``mismatch``, naming each size and its source.
    """
    for name, declared, got in sorted(items, key=lambda item: -len(item[1])):
        got = tuple(int(s) for s in got)
        declared = tuple(declared)
        if len(got) != len(declared):
            raise ValueError(rank_message.format(who=who, name=name, ndim=len(declared),
                                                 shape=shape_text(declared), got=got))
        for d, g in zip(declared, got):
            if isinstance(d, str) and d not in sizes:
                sizes[d] = g
                source[d] = name
            want = dimension_value(d, sizes)  # None: a product not bound yet, checked through the ties
            if want is not None and want != g:
                involved = {n for x in declared for n in dimension_names(x)}
                where = ", ".join(f"{k} = {sizes[k]} from {source[k]}" for k in sorted(source) if k in involved)
                expected = tuple(x if dimension_value(x, sizes) is None else dimension_value(x, sizes)
                                 for x in declared)
                raise ValueError(size_message.format(
                    who=who, name=name, ndim=len(declared), shape=shape_text(declared),
                    expected=shape_text(expected), where=f" ({where})" if where else "", got=got))
    changed = True
    while changed:  # a name tied to a bound dimension (or to an integer) takes its size
        changed = False
        for tie in ties:
            known = [v for v in (dimension_value(d, sizes) for d in tie) if v is not None]
            for d in tie:
                if known and isinstance(d, str) and d not in sizes:
                    sizes[d], source[d], changed = known[0], "a tie", True
    for tie in ties:
        values = {dimension_text(d): dimension_value(d, sizes) for d in tie}
        values = {k: v for k, v in values.items() if v is not None}
        if len(set(values.values())) > 1:
            parts = ", ".join(f"{k} = {v}" + (f" (from {source[k]})" if k in source else "")
                              for k, v in sorted(values.items()))
            raise mismatch(TIE_MESSAGE.format(parts=parts))
    return sizes


# -- arrays ----------------------------------------------------------------------------------------------------


def is_array(value):
    """True for an array of some library (NumPy, CuPy, ...); False for numbers (NumPy scalars included)."""
    return (hasattr(value, "shape") and hasattr(value, "dtype")
            and not isinstance(value, (numbers.Number, np.generic)))


_DTYPE_KINDS = {}  # (namespace, dtype, kind) -> bool: a handful of entries, asked on every call


def _isdtype(xp, dtype, kind):
    try:
        key = (id(xp), dtype, kind)
        hit = _DTYPE_KINDS.get(key)
    except TypeError:  # an unhashable dtype object: ask every time
        key, hit = None, None
    if hit is None:
        if hasattr(xp, "isdtype"):
            hit = bool(xp.isdtype(dtype, kind))
        else:
            hit = bool(np.issubdtype(dtype, {"real floating": np.floating, "complex floating": np.complexfloating,
                                             "numeric": np.number, "bool": np.bool_}[kind]))
        if key is not None:
            _DTYPE_KINDS[key] = hit
    return hit


def is_sparse(value):
    """True for a ``scipy.sparse`` matrix or array (recognised by its type, without importing scipy)."""
    return _of_library(value, _SPARSE_TYPES, "scipy.sparse", "tocsr")


def is_dask(value):
    """True for a Dask array (recognised by its type, without importing dask), also one of sparse row blocks
    (``_dask_sparse.SparseRows``)."""
    return _of_library(value, _DASK_TYPES, "dask.array", "compute") or isinstance(value, SparseRows)


def _of_library(value, cache: dict, module: str, method: str) -> bool:
    """Whether ``type(value)`` comes from ``module`` and has ``method`` (memoized per type in ``cache``)."""
    kind = type(value)
    hit = cache.get(kind)
    if hit is None:
        hit = cache[kind] = kind.__module__.startswith(module) and hasattr(kind, method)
    return hit


_SPARSE_TYPES: dict = {}
_DASK_TYPES: dict = {}


def _numpy_namespace():
    return np if array_api_compat is None else array_api_compat.array_namespace(np.zeros(0))


def is_dask_namespace(xp):
    """True for the array-API namespace of Dask arrays."""
    return getattr(xp, "__name__", "").endswith("dask.array")


def host_namespace(xp):
    """The namespace in which a solver holds its vector when the data's arrays are of namespace ``xp``: NumPy
    for Dask data (the driver holds x, the cluster the data), ``xp`` itself otherwise."""
    return _numpy_namespace() if is_dask_namespace(xp) else xp


def infer_namespace(values, who, like=None):
    """(xp, dtype, device) for the inputs ``values`` (see the module docstring); ``like`` (an array) stands in
    when none of them is an array."""
    arrays = [v for v in values if is_array(v)]
    if not arrays and like is not None:
        arrays = [like]
    if not arrays:
        xp = _numpy_namespace()
        return xp, xp.float64, None
    sparse = [a for a in arrays if is_sparse(a)]
    dense = [a for a in arrays if not is_sparse(a)] if sparse else arrays
    if not dense:
        xp, device = _numpy_namespace(), None
    elif array_api_compat is None:
        if any(not isinstance(a, np.ndarray) for a in dense):
            raise TypeError(f"{who}: got {', '.join(_kinds(dense))}; without array-api-compat installed only NumPy "
                            "arrays can be used (pip install array-api-compat)")
        xp, device = np, None
    else:
        try:
            xp = array_api_compat.array_namespace(*dense)
        except TypeError as exc:
            xp = _dask_with_numpy(dense)
            if xp is None:
                kinds = _kinds(dense)
                if len(kinds) > 1:
                    raise TypeError(f"{who}: expected arrays of one library, got a mix of {', '.join(kinds)} "
                                    f"({exc})") from None
                raise TypeError(f"{who}: {kinds[0]} is not an array type of a supported library (NumPy, CuPy, "
                                f"Dask, scipy.sparse or another array-API library): {exc}") from None
        first = next((a for a in dense if is_dask(a)), dense[0])
        device = "cpu" if has_sparse_blocks(first) else array_api_compat.device(first)  # sparse blocks: the host
    if sparse and (xp is not np and getattr(xp, "__name__", "") != "array_api_compat.numpy"):
        raise TypeError(f"{who}: scipy.sparse data can be used with NumPy arrays only, got it together with "
                        f"{', '.join(_kinds(dense))}; convert the sparse data to a dense array of that library")
    floats = [a.dtype for a in arrays if _isdtype(xp, a.dtype, "real floating")]
    dtype = xp.result_type(*floats) if floats else xp.float64
    return xp, dtype, device


def _dask_with_numpy(arrays):
    """The Dask namespace for a mix of Dask and NumPy arrays (None for any other mix)."""
    lazy = [a for a in arrays if is_dask(a)]
    if not lazy or any(not is_dask(a) and not isinstance(a, np.ndarray) for a in arrays):
        return None
    try:
        return array_api_compat.array_namespace(*lazy)
    except TypeError:  # Dask arrays of CuPy chunks mixed with NumPy
        return None


def adopt(xp, value):
    """``value`` in the Dask namespace ``xp`` (a NumPy array becomes one chunk); other values unchanged."""
    if isinstance(value, np.ndarray) and is_dask_namespace(xp):
        return xp.asarray(value)
    return value


def materialize(outputs, *, dense=True, lazy_tail=0):
    """Concrete arrays for a kernel's ``outputs``: Dask arrays computed, all in one ``dask.compute`` (so one
    pass over the data per evaluation), and with ``dense`` sparse results (a Jacobian that is the data
    matrix itself) made dense NumPy arrays. The last ``lazy_tail`` outputs (a kernel's exported
    intermediates, X @ w or sigmoid(...) of length m) are returned as they are: a Dask one stays lazy, to be
    computed inside the pass of a later kernel that reads it, instead of m values gathered on the driver."""
    outputs = list(outputs)
    if lazy_tail:
        head = materialize(outputs[:len(outputs) - lazy_tail], dense=dense)
        tail = [o if is_dask(o) else materialize([o], dense=dense)[0] for o in outputs[len(outputs) - lazy_tail:]]
        return head + tail
    lazy = [k for k, o in enumerate(outputs) if is_dask(o)]
    if lazy:
        dask = sys.modules["dask"]  # loaded, since a Dask array exists (this module imports no third library)
        parts = [computable(outputs[k]) for k in lazy]  # sparse row blocks: stacked into one CSR matrix
        for k, value, (_, finish) in zip(lazy, dask.compute(*(p[0] for p in parts)), parts):
            outputs[k] = value if finish is None else finish(value)
    if dense:
        outputs = [o.toarray() if is_sparse(o) else o for o in outputs]
    return outputs


def _kinds(arrays):
    return sorted({f"{type(a).__module__.split('.')[0]}.{type(a).__name__}" for a in arrays})


def convert(xp, value, dtype, device, label, *, finite=False, expected=None):
    """``value`` as an array of namespace ``xp`` with ``dtype`` (numbers and lists are put on ``device``).

    ``None``, strings, values that are not numbers (a list holding ``None``), complex values and ``bool``
    scalars are a TypeError, and with ``finite`` NaN or infinite entries a ValueError, each naming ``label``
    and, for the TypeError, what was ``expected`` (by default a real number or array).
    """
    if is_sparse(value):
        return _sparse(value, dtype, label, finite)
    if isinstance(value, SparseRows):
        return value if value.dtype == dtype else SparseRows(wrap(value.blocks, dtype, label, False).blocks,
                                                             value.transposed)
    if is_dask(value) and has_sparse_blocks(value):  # read through products, block by block
        return wrap(value, dtype, label, finite)
    if not finite and is_array(value) and value.dtype == dtype:
        return value  # already right (``dtype`` is a real floating type): the common case, kept cheap
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{label}: expected {expected or 'a number or an array'}, got bool")
    expected = expected or "a real number or array"
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{label}: expected {expected}, got {_described(value)}")
    try:
        if is_array(value):
            array = value
        elif device is None:
            array = xp.asarray(value)
        else:
            array = xp.asarray(value, device=device)
        complex_ = _isdtype(xp, array.dtype, "complex floating")
        if not complex_ and not (_isdtype(xp, array.dtype, "numeric") or _isdtype(xp, array.dtype, "bool")):
            raise TypeError(f"entries of dtype {array.dtype}")
        if not complex_ and array.dtype != dtype:
            array = xp.astype(array, dtype) if hasattr(xp, "astype") else array.astype(dtype)
    except (TypeError, ValueError, AttributeError) as exc:
        raise TypeError(f"{label}: expected {expected}, got {_described(value)} ({exc})") from None
    if complex_:
        raise TypeError(f"{label}: complex arrays are not supported (got dtype {array.dtype})")
    if finite and is_dask(array):
        # no pass over the data here: each block is checked when a computation first reads it, the same
        # ValueError; later passes (a solver's every iteration) skip blocks already found finite
        return array.map_blocks(_finite_block, label, array.name, dtype=array.dtype, meta=array._meta)
    if finite and not bool(xp.all(xp.isfinite(array))):
        raise ValueError(f"{label} contains NaN or infinite values")
    return array


class _FiniteBlocks:
    """The keys (Dask array name, block index) of the data blocks found finite, at most ``kept`` of them, the
    least recently met dropped first: Dask arrays are immutable and their names determined by their contents'
    tokens, so a block checked once needs no second check (a pass of a solver's iteration would otherwise read
    every block once more just for the check), and a long-lived process that builds many arrays keeps only
    the recent ones. Dask may run the checks in threads: a lock guards the order."""

    def __init__(self, kept: int = 1 << 16):
        self.kept, self._keys, self._lock = kept, OrderedDict(), threading.Lock()

    def __contains__(self, key) -> bool:
        with self._lock:
            if key not in self._keys:
                return False
            self._keys.move_to_end(key)
            return True

    def add(self, key) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.kept:
                self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        with self._lock:
            return iter(list(self._keys))


_FINITE_BLOCKS = _FiniteBlocks()


def _finite_block(block, label, name=None, block_id=None):
    """A block of lazy data, checked finite as a computation first reads it (:func:`convert`)."""
    key = None if name is None or block_id is None else (name, block_id)
    if key is not None and key in _FINITE_BLOCKS:
        return block
    if not np.all(np.isfinite(block)):
        raise ValueError(f"{label} contains NaN or infinite values")
    if key is not None:
        _FINITE_BLOCKS.add(key)
    return block


def _sparse(value, dtype, label, finite):
    """A scipy.sparse matrix or array as a ``csr_array`` of ``dtype`` (``*`` element-wise, ``@`` the product,
    as for arrays; a ``csr_matrix``'s ``*`` would be a matrix product)."""
    scipy_sparse = sys.modules["scipy.sparse"]  # loaded, since a sparse value exists
    if np.issubdtype(value.dtype, np.complexfloating):
        raise TypeError(f"{label}: complex arrays are not supported (got dtype {value.dtype})")
    if not (np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.bool_)):
        raise TypeError(f"{label}: expected a real number or array, got sparse entries of dtype {value.dtype}")
    if len(value.shape) != 2:
        raise ValueError(f"{label}: expected a 2-D sparse matrix, got shape {tuple(value.shape)}")
    if isinstance(value, scipy_sparse.csr_array) and value.dtype == dtype:
        array = value
    else:
        array = scipy_sparse.csr_array(value, dtype=dtype)
    if not array.has_canonical_format:  # sorted, no duplicates: made once here, not by each operator built on it
        array = array.copy()  # a conversion may share the caller's index arrays, which sorting would reorder
        array.sum_duplicates()
    if finite and not bool(np.all(np.isfinite(array.data))):
        raise ValueError(f"{label} contains NaN or infinite values")
    return array


def _described(value):
    """A value as named in a message: ``None``, ``str 'abc'``, ``list``."""
    if value is None:
        return "None"
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
    return type(value).__name__


# -- the kernel's arguments ----------------------------------------------------------------------------------


class Binding:
    """The arguments of a compiled kernel from the arrays of one call.

    ``variables``: name -> plain shape, the inputs; ``parameters``: the kernel's positional parameters in
    order, each a pair (kind, key) with kind one of ``namespace``, ``dtype``, ``device``, ``dimension`` (key:
    its name), ``variable`` (key: its name), ``constant`` (key: its index in ``constants``); ``ties``: the
    dimension ties to check; ``constants``: NumPy arrays, converted once per namespace, dtype and device
    (integer arrays, the positions of take and scatter_add, to int64).
    Binding depends only on the shapes, so it is done once per shape signature (the last 64 are kept).
    """

    def __init__(self, who, variables, parameters, ties=(), constants=(), mismatch=ValueError):
        self.who = who
        self.variables = dict(variables)
        self.parameters = tuple(parameters)
        self.ties = tuple(ties)
        self.constants = tuple(constants)
        self.mismatch = mismatch
        self.dimensions = {key for kind, key in self.parameters if kind == "dimension"}
        self.expected = {n: "a number" if s == () else f"an array of shape {shape_text(s)}"
                         for n, s in self.variables.items()}  # for the message when a value is no array
        self.cache = {}
        self._converted = {}

    def arguments(self, arrays):
        """The kernel's positional arguments for the keyword arguments ``arrays`` of one call: the variables,
        and sizes of dimensions their shapes leave open (``n=5``)."""
        arrays = dict(arrays)
        given = {k: arrays.pop(k) for k in list(arrays) if k not in self.variables and k in self.dimensions}
        for k, v in given.items():
            given[k] = check_size(f"{self.who}: the size {k}", v)
        missing = [n for n in self.variables if n not in arrays]
        unknown = [n for n in arrays if n not in self.variables]
        if missing or unknown:
            parts = (["missing " + ", ".join(f"{n} {shape_text(self.variables[n])}" for n in missing)] if missing
                     else []) + (["unknown " + ", ".join(unknown)] if unknown else [])
            raise ValueError(f"{self.who}: {'; '.join(parts)}; expected the variables "
                             + ", ".join(f"{n} {shape_text(s)}" for n, s in self.variables.items()))
        xp, dtype, device = infer_namespace(arrays.values(), self.who)
        values = {n: convert(xp, arrays[n], dtype, device, n, expected=self.expected[n]) for n in self.variables}
        if is_dask_namespace(xp):
            values = {n: adopt(xp, v) for n, v in values.items()}
        key = tuple(tuple(a.shape) for a in values.values()) + tuple(sorted(given.items()))
        sizes = self.cache.get(key)
        if sizes is None:
            sizes = bind_shapes([(n, s, values[n].shape) for n, s in self.variables.items()], dict(given),
                                dict.fromkeys(given, "a keyword"), self.ties, mismatch=self.mismatch, who=self.who)
            if len(self.cache) < 64:
                self.cache[key] = sizes
        args = []
        for kind, key in self.parameters:
            if kind == "namespace":
                args.append(xp)
            elif kind == "dtype":
                args.append(dtype)
            elif kind == "device":
                args.append(device)
            elif kind == "variable":
                args.append(values[key])
            elif kind == "dimension":
                if key not in sizes:
                    raise ValueError(f"{self.who}: dimension {key} is not determined by the shapes of the "
                                     f"inputs; pass it as {key}=<int>")
                args.append(sizes[key])
            elif kind == "constant":
                args.append(self._constant(xp, key, dtype, device))
            else:
                raise ValueError(f"{self.who}: unknown kind of kernel parameter {kind!r}")
        return args

    def _constant(self, xp, k, dtype, device):
        key = (id(xp), str(dtype), str(device), k)
        hit = self._converted.get(key)
        if hit is None:
            c = self.constants[k]
            if c.dtype.kind in "iu":  # integer positions (take, scatter_add) stay integers
                dtype = xp.int64
            hit = xp.asarray(c, dtype=dtype) if device is None else xp.asarray(c, dtype=dtype, device=device)
            self._converted[key] = hit
        return hit
