"""Data larger than memory: a .npy file, or a directory or glob of .npy/.csv/.parquet parts, as Dask arrays.

Nothing is computed or parsed when the data is loaded: each source becomes a ``dask.array`` whose blocks
read their rows when a computation asks for them, so that ``problems.load(...)`` returns at once and a solve
makes the only passes over the data. What is read at load time is metadata: a .npy header, a CSV part's
first line and its number of lines, a Parquet file's footer. Parts are concatenated along the rows in sorted
file-name order.

Rules, one per format (``chunks`` is the number of rows per block; None: one block per part):

* .npy: memory-mapped (``np.load(mmap_mode="r")``, opened inside each block's task, so the graph holds the
  file name rather than the data and works with worker processes) and cut into blocks of ``chunks`` rows
  (within each part: a block never spans two files, so a part's last block may be shorter);
* .csv/.tsv/.txt: one task per part parses it (NumPy's ``loadtxt``; on failure ricci's CSV reader, for a
  message naming the line), cut into blocks of ``chunks`` rows; numeric labels only (text labels need the
  whole column: load such files without ``chunks``);
* .parquet: one task per part reads it with pyarrow (which must be installed: ``pip install pyarrow``); the
  columns must be numeric, checked against the schema at load;
* svmlight: blocks of ``chunks`` rows that are ``scipy.sparse`` CSR matrices (nonzeros only), each parsed from
  its own byte range of the file; one streaming pass at load finds the byte offsets of the blocks, the rows
  in each, and (parsing the lines, unless ``n_features`` and ``zero_based`` are given) the width and the base
  of the indices. ricci's compiled code takes such arrays through products (``ricci.symbolic``: blocks of
  sparse rows);
* .npz: compressed archives cannot be read by rows; save the arrays as .npy parts.

Validation that needs the values (finite numbers, integer class labels) happens where they are computed:
in the solve, or in the problem builder (``logistic_regression`` checks the label values in one small
computation). A part whose width differs from the first part's is a ValueError at load.
"""
from __future__ import annotations

import glob
import math
import os
import re

import numpy as np

from . import _svmlight

LAZY_FORMATS = ("npy", "csv", "parquet", "svmlight")
_EXTENSIONS = {".npy": "npy", ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
               ".svm": "svmlight", ".svmlight": "svmlight", ".libsvm": "svmlight", ".npz": "npz"}
_GLOB = re.compile(r"[*?\[]")


def is_parts(path: str) -> bool:
    """True for a directory, or a pattern with ``*``, ``?`` or ``[`` that names no existing file."""
    return os.path.isdir(path) or (not os.path.exists(path) and bool(_GLOB.search(path)))


def parts_of(path: str) -> list:
    """The data files a directory holds (those with a known extension) or a glob pattern matches, sorted."""
    if os.path.isdir(path):
        names = sorted(os.path.join(path, n) for n in os.listdir(path))
        files = [n for n in names if os.path.isfile(n) and os.path.splitext(n)[1].lower() in _EXTENSIONS]
        if not files:
            raise ValueError(f"{path}: the directory holds no data files (.npy, .csv, .parquet, .svm parts)")
        return files
    files = sorted(n for n in glob.glob(path) if os.path.isfile(n))
    if not files:
        raise FileNotFoundError(f"no data files match {path}")
    return files


def part_format(files: list, format: str | None) -> str:
    """The one format of all parts (from ``format`` or their extensions)."""
    if format is not None:
        kinds = {format}
    else:
        kinds = {_EXTENSIONS.get(os.path.splitext(f)[1].lower()) for f in files}
    if None in kinds:
        bad = next(f for f in files if os.path.splitext(f)[1].lower() not in _EXTENSIONS)
        raise ValueError(f"{bad}: unknown data file extension; pass format= (one of {', '.join(LAZY_FORMATS)})")
    if len(kinds) > 1:
        raise ValueError(f"the parts mix formats ({', '.join(sorted(kinds))}); give parts of one format")
    kind = kinds.pop()
    if kind == "npz":
        raise ValueError(f"{files[0]}: .npz archives cannot be read by blocks of rows (they are zip files); save "
                         "the arrays as .npy parts (one .npy per part, or one big .npy), which are memory-mapped")
    if kind not in LAZY_FORMATS:
        raise ValueError(f"format {kind!r} cannot be loaded by blocks; lazy loading reads {', '.join(LAZY_FORMATS)}")
    return kind


def check_chunks(chunks):
    """``chunks`` as a number of rows per block (an int >= 1), or None."""
    if chunks is None:
        return None
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"chunks must be a number of rows per block (an integer >= 1) or None, got {chunks!r}")
    return int(chunks)


def require_dask(what: str):
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(f"{what} needs Dask: pip install \"ricci[dask]\" (or dask[array])") from None
    return da


# ----------------------------------------------------------------------------------------------------------
# the whole table, split into features and labels
# ----------------------------------------------------------------------------------------------------------


def split_label(table, names: tuple, label, path: str, label_column):
    """(X, y, feature names, label name) of a lazy table whose columns are ``names``; ``label_column`` is
    _load._label_column (it checks an index or a name)."""
    if label is None:
        return table, None, names, None
    col = label_column(path, label, names, isinstance(label, str), len(names))
    keep = [j for j in range(len(names)) if j != col]
    if not keep:
        raise ValueError(f"{path}: no feature columns (only the label)")
    return table[:, keep], table[:, col], tuple(names[j] for j in keep), names[col]


def rows_blocks(array, chunks):
    """A part's ``array`` cut into blocks of ``chunks`` rows (all columns in each block; the part's last block
    may be shorter: blocks never span two parts, so each reads one file)."""
    return array if chunks is None else array.rechunk({0: chunks, 1: -1})


# ----------------------------------------------------------------------------------------------------------
# .npy: memory-mapped
# ----------------------------------------------------------------------------------------------------------


class NpyRows:
    """The 2-D array of a .npy file, read by slices through a memory map opened at each read: what
    ``dask.array.from_array`` needs (shape, dtype, ndim, ``__getitem__``), and it pickles as the file name."""

    def __init__(self, path: str, shape: tuple):
        self.path, self.shape, self.dtype, self.ndim = path, tuple(shape), np.dtype(np.float64), len(shape)

    def __getitem__(self, index):
        mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return np.array(mm[index], dtype=np.float64)

    def __repr__(self):
        return f"NpyRows({self.path!r}, shape={self.shape})"


def npy_header(path: str, what_error, ndims=(2,)) -> tuple:
    """(shape, dtype) of the .npy file ``path``, checked against its size, without reading the data."""
    fmt = np.lib.format
    with open(path, "rb") as fp:
        try:
            version = fmt.read_magic(fp)
            read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
            shape, _fortran, dtype = read(fp)
        except (ValueError, SyntaxError, TypeError, EOFError) as exc:
            raise what_error(f"{path}: not a NumPy .npy array ({' '.join(str(exc).split())})") from None
        size = os.fstat(fp.fileno()).st_size - fp.tell()
    if dtype.hasobject:
        raise what_error(f"{path}: holds pickled Python objects (dtype {dtype}); ricci reads numeric arrays only")
    if dtype.kind == "c":
        raise TypeError(f"{path}: holds complex numbers (dtype {dtype}); ricci needs real data")
    if dtype.kind not in "biuf":
        raise what_error(f"{path}: the array must be numeric, got dtype {dtype}")
    if len(shape) not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise what_error(f"{path}: the array must be {want} (rows = samples), got shape {shape}")
    if math.prod(shape) * dtype.itemsize > size:
        raise what_error(f"{path}: declares an array of shape {shape} and dtype {dtype}, but the file holds less "
                         "data: it is truncated or corrupt")
    return tuple(int(s) for s in shape), dtype


def npy_array(da, path, chunks, what_error, ndims=(2,)):
    """The .npy file ``path`` as a Dask array of blocks of ``chunks`` rows (None: one block), memory-mapped."""
    from dask.base import tokenize

    shape, dtype = npy_header(path, what_error, ndims)
    rows = max(chunks if chunks is not None else shape[0], 1)
    stat = os.stat(path)
    name = "ricci-npy-" + tokenize(os.path.abspath(path), stat.st_size, stat.st_mtime_ns, shape, dtype.str, rows)
    return da.from_array(NpyRows(path, shape), chunks=(rows,) + shape[1:], meta=np.empty((0,) * len(shape)),
                         asarray=False, fancy=False, name=name)


def npy_table(da, files, chunks, what_error):
    arrays = [npy_array(da, path, chunks, what_error) for path in files]
    width = arrays[0].shape[1]
    for path, a in zip(files, arrays):
        if a.shape[1] != width:
            raise what_error(f"{path}: {a.shape[1]} columns, but {files[0]} has {width}; parts must have the same "
                             "columns")
    table = arrays[0] if len(arrays) == 1 else da.concatenate(arrays, axis=0)
    return table, tuple(f"column {j}" for j in range(width))


# ----------------------------------------------------------------------------------------------------------
# CSV parts: one parse per part
# ----------------------------------------------------------------------------------------------------------

_COMMENT_OR_BLANK = re.compile(rb"^[ \t\r\f\v]*(?:#[^\n]*)?$", re.MULTILINE)


def csv_layout(path: str, header, delimiter):
    """(header, delimiter, cell texts of the first line, number of data lines) of a CSV part, from its
    first line and a count of its lines (comments and blank lines left out), read by blocks of whole lines
    without parsing numbers."""
    lines, first = 0, None
    for block, _ in _svmlight._line_blocks(path, _svmlight.BLOCK_BYTES):
        ends = block.count(b"\n")
        whole = block.endswith(b"\n")
        lines += ends + (0 if whole else 1) - len(_COMMENT_OR_BLANK.findall(block)) + (1 if whole else 0)
        if first is None:
            first = next((ln for ln in block.split(b"\n", 64)[:64] if ln.strip() and not ln.lstrip().startswith(b"#")),
                         None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    first = first.decode("utf-8", "replace").strip()
    if delimiter is None:
        delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    cells = [c.strip() for c in (first.split(delimiter) if delimiter is not None else first.split())]
    if header is None:
        header = any(_not_number(c) for c in cells)
    return bool(header), delimiter, cells, lines - (1 if header else 0)


def _not_number(text):
    try:
        float(text)
    except ValueError:
        return text.lower() not in ("", "na", "nan", "n/a", "null", "none", "?")
    return False


def read_csv_part(path, header, delimiter, rows, width, load_csv):
    """The numbers of a CSV part as an (rows, width) float64 array (run inside a Dask task)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(path, delimiter=delimiter, skiprows=1 if header else 0, comments="#", ndmin=2,
                               dtype=np.float64, encoding="utf-8-sig")
        ok = table.shape == (rows, width) and np.isfinite(table).all()
    except (ValueError, UserWarning):
        ok = False
    if not ok:  # the exact message (line, column) from ricci's reader
        ds = load_csv(path, None, header, delimiter)
        table = ds.X
        if table.shape[1] != width:
            raise ValueError(f"{path}: {table.shape[1]} columns, expected {width} as in the first part")
        if ds.classes:
            raise ValueError(f"{path}: text values in a chunked CSV; lazy loading reads numbers only")
    if table.shape != (rows, width):
        raise ValueError(f"{path}: read {table.shape[0]} rows of {table.shape[1]} numbers, expected {rows} x {width} "
                         "(the file changed since it was loaded?)")
    return table


def csv_table(da, files, chunks, header, delimiter, what_error, load_csv):
    import dask

    arrays, names = [], None
    for path in files:
        part_header, part_delimiter, cells, rows = csv_layout(path, header, delimiter)
        if names is None:
            names = tuple(cells) if part_header else tuple(f"column {j}" for j in range(len(cells)))
            header, delimiter = part_header, part_delimiter
        elif len(cells) != len(names):
            raise what_error(f"{path}: {len(cells)} columns, but {files[0]} has {len(names)}; parts must have the "
                             "same columns")
        if rows <= 0:
            raise what_error(f"{path}: no data rows")
        task = dask.delayed(read_csv_part, pure=True)(path, header, delimiter, rows, len(names), load_csv)
        part = da.from_delayed(task, shape=(rows, len(names)), dtype=np.float64, meta=np.empty((0, 0)))
        arrays.append(rows_blocks(part, chunks))
    return (arrays[0] if len(arrays) == 1 else da.concatenate(arrays, axis=0)), names


# ----------------------------------------------------------------------------------------------------------
# Parquet parts (pyarrow)
# ----------------------------------------------------------------------------------------------------------


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading .parquet files needs pyarrow: pip install pyarrow") from None
    return pq


def read_parquet_part(path, names, rows):
    """The columns ``names`` of a Parquet part as an (rows, len(names)) float64 array (inside a Dask task)."""
    pq = _pyarrow_parquet()
    table = pq.read_table(path, columns=list(names))
    out = np.empty((table.num_rows, len(names)))
    for j, column in enumerate(table.columns):
        if column.null_count:
            raise ValueError(f"{path}: column {names[j]!r} has {column.null_count} missing values")
        out[:, j] = column.to_numpy()
    if out.shape[0] != rows:
        raise ValueError(f"{path}: read {out.shape[0]} rows, expected {rows} (the file changed since it was loaded?)")
    return out


def parquet_table(da, files, chunks, what_error):
    import dask

    pq = _pyarrow_parquet()
    import pyarrow as pa

    arrays, names = [], None
    for path in files:
        try:
            meta = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise what_error(f"{path}: not a Parquet file ({' '.join(str(exc).split())})") from None
        schema = meta.schema_arrow
        cols = tuple(schema.names)
        for field in schema:
            t = field.type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
                raise what_error(f"{path}: column {field.name!r} has type {t}; ricci reads numeric columns only")
        if names is None:
            names = cols
        elif cols != names:
            raise what_error(f"{path}: columns {', '.join(cols)} differ from {files[0]}'s ({', '.join(names)})")
        rows = meta.metadata.num_rows
        if rows == 0:
            raise what_error(f"{path}: no data rows")
        task = dask.delayed(read_parquet_part, pure=True)(path, names, rows)
        part = da.from_delayed(task, shape=(rows, len(names)), dtype=np.float64, meta=np.empty((0, 0)))
        arrays.append(rows_blocks(part, chunks))
    return (arrays[0] if len(arrays) == 1 else da.concatenate(arrays, axis=0)), names


# ----------------------------------------------------------------------------------------------------------
# svmlight files and parts: blocks of rows, each a CSR matrix
# ----------------------------------------------------------------------------------------------------------


def svmlight_table(da, files, chunks, n_features, zero_based):
    """(X, y, zero-based, layouts) of svmlight parts read lazily: X a Dask array whose blocks of ``chunks``
    rows (None: one block per part; blocks never span two parts) are ``scipy.sparse.csr_array`` matrices, y
    the Dask vector of their labels with the same blocks. Each block reads and parses its own byte range of
    its file when computed (X and y of one block come from one parse). At load, one streaming pass per part
    (``_svmlight.scan_rows``) finds where the blocks start and how many rows each holds, and, unless both
    ``n_features`` and a base (``zero_based`` True or False) are given, parses the lines for the width and
    the base (1-based unless an index 0 appears in some part), which also checks every line."""
    import dask
    import scipy.sparse as sp
    from dask.base import tokenize

    known = n_features is not None and zero_based in (True, False)
    layouts = [_svmlight.scan_rows(f, chunks, parse=not known) for f in files]
    if known:
        zb, width = bool(zero_based), int(n_features)
    else:
        lows = [(f, lay.min_index) for f, lay in zip(files, layouts) if lay.min_index is not None]
        uses_zero = [f for f, low in lows if low == 0]
        zb = bool(uses_zero) if zero_based == "auto" else bool(zero_based)
        if not zb and uses_zero:
            raise ValueError(f"{uses_zero[0]}: feature index 0 in a file read as 1-based (zero_based=False)")
        width = max(max(lay.max_index for lay in layouts) + (1 if zb else 0), 0)
        if n_features is not None:
            if n_features < width:
                raise ValueError(f"{files[0]}{'...' if len(files) > 1 else ''}: n_features={n_features}, but the "
                                 f"data have {width} features")
            width = int(n_features)
    meta = sp.csr_array((0, width), dtype=np.float64)
    X_parts, y_parts = [], []
    for path, layout in zip(files, layouts):
        path = os.path.abspath(path)
        stat = os.stat(path)
        for start, stop, first_line, rows in layout.blocks:
            key = "ricci-svmlight-" + tokenize(path, stat.st_size, stat.st_mtime_ns, start, stop, width, zb)
            task = dask.delayed(_svmlight.read_rows, nout=2)(path, start, stop, first_line, rows, width, zb,
                                                             dask_key_name=key)
            X_parts.append(da.from_delayed(task[0], shape=(rows, width), dtype=np.float64, meta=meta))
            y_parts.append(da.from_delayed(task[1], shape=(rows,), dtype=np.float64, meta=np.empty(0)))
    X = X_parts[0] if len(X_parts) == 1 else da.concatenate(X_parts, axis=0)
    y = y_parts[0] if len(y_parts) == 1 else da.concatenate(y_parts, axis=0)
    return X, y, zb, layouts
