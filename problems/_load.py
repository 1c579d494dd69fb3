"""Reading the user's data: CSV, NumPy .npy/.npz and LIBSVM/svmlight text files, with clear errors.

``load(path)`` returns a :class:`Dataset` (features X, labels y, names), which unpacks as ``X, y = load(...)``.
X is a float64 NumPy array, except that svmlight files give a ``scipy.sparse.csr_array`` (never dense: see
``_svmlight``), and that ``load(..., chunks=N)``, a directory or a glob pattern give Dask arrays read lazily
by blocks of N rows (see ``_chunked``: .npy memory-mapped, .csv and .parquet parts, nothing computed at load;
svmlight files as blocks of CSR rows, located by one streaming pass at load).
Every problem in the file is reported with the file, the line (or key) and the column, e.g.
``data.csv, line 7, column 'texture': 'abc' is not a number``.

Malformed files (empty, truncated, not the format their name says, a header declaring more data than the file
holds, a feature index that would need more memory than the machine has) are a ValueError of one line that
names the file and what is wrong; complex data is a TypeError (ricci minimizes real functions).

The svmlight format (Joachims, "Making large-scale SVM learning practical", 1999; the format of the LIBSVM
data sets): one sample per line, ``<label> [qid:<q>] <index>:<value> ...`` with increasing indices, 1-based
(or 0-based: detected when an index 0 appears), omitted entries 0, and ``#`` starting a comment.
"""
from __future__ import annotations

import csv
import io
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _chunked, _svmlight

FORMATS = ("csv", "npy", "npz", "svmlight", "parquet")
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".npy": "npy", ".npz": "npz",
               ".svm": "svmlight", ".svmlight": "svmlight", ".libsvm": "svmlight", ".parquet": "parquet",
               ".pq": "parquet"}
_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features X (m x n float64), labels y (length m float64, or None), and where they came from.

    X is a NumPy array, a ``scipy.sparse.csr_array`` (svmlight files) or a Dask array (chunked loading; y is
    then a Dask vector with X's row blocks). ``classes`` names the label values when the file held text labels
    (they are coded 0, 1, ... in sorted order). Iterating gives (X, y), so ``X, y = load(path)`` works.
    """

    X: object
    y: object
    feature_names: Sequence = ()
    label_name: str | None = None
    classes: tuple = ()
    source: str = ""
    notes: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.X, self.y))

    @property
    def shape(self):
        return self.X.shape

    @property
    def lazy(self) -> bool:
        """True when X is a Dask array (read by blocks when computed)."""
        return _is_dask(self.X)

    def __repr__(self):
        lab = f", label {self.label_name!r}" if self.label_name is not None else (", no labels" if self.y is None else "")
        kind = (f", Dask blocks of {self.X.chunks[0][0]} rows" if self.lazy
                else f", sparse ({self.X.nnz} nonzeros)" if _is_sparse(self.X) else "")
        return f"<ricci Dataset {self.X.shape[0]} x {self.X.shape[1]}{lab}{kind} from {self.source}>"


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.") and hasattr(a, "chunks")


def _is_sparse(a) -> bool:
    return type(a).__module__.startswith("scipy.sparse")


def load(path, label=-1, *, format: str | None = None, header: bool | None = None, delimiter: str | None = None,
         task: str | None = None, n_features: int | None = None, zero_based="auto", chunks: int | None = None
         ) -> Dataset:
    """Read features and labels from a file, or lazily from a large file or many parts.

    path: a .csv/.tsv/.txt (delimited text), .npy, .npz or .svm/.svmlight/.libsvm file (or give ``format``);
        or a directory, or a glob pattern such as ``"data/part-*.npy"``, of parts of one format (.npy, .csv,
        .parquet or svmlight), concatenated along the rows in sorted name order. A .parquet file is always
        read through Dask (one block per file without ``chunks``; needs pyarrow).
    label: which column holds the labels: an index (negative counts from the end; default -1, the last),
        a column name (CSV with a header; for .npz the key of the label array), or None for no labels.
        svmlight files always carry the label first (label=None leaves it out).
    header: CSV only; None detects it (a first row with a non-numeric cell is a header).
    delimiter: CSV only; None detects ',', ';', tab or whitespace from the first line.
    task: "classification" checks that the labels are integers (or text) with at least two classes;
        "regression" or None checks only that they are finite numbers.
    n_features, zero_based: svmlight only (number of columns; whether indices start at 0, "auto" detects).
        svmlight data loads as a ``scipy.sparse.csr_array`` (nonzeros only); parts, or ``chunks``, as a
        Dask array of CSR blocks.
    chunks: rows per block. Given (or for a directory or glob of parts) X and y are Dask arrays whose blocks
        read the file(s) when computed: nothing is parsed or computed at load, and the checks of values
        (finite numbers, two classes) happen where the values are computed, in the solve or the problem
        builder. .npy files are memory-mapped; .npz cannot be read by blocks; svmlight files give blocks
        that are ``scipy.sparse.csr_array`` matrices, each parsed from its byte range of the file (one
        streaming pass at load finds the blocks, and parses the lines for the width and the base unless
        ``n_features`` and ``zero_based`` are given). Needs Dask (``pip install "ricci[dask]"``); .parquet
        needs pyarrow.
    """
    path = os.fspath(path)
    chunks = _chunked.check_chunks(chunks)
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task must be 'classification', 'regression' or None, got {task!r}")
    lazy = chunks is not None or (format or _EXTENSIONS.get(os.path.splitext(path)[1].lower())) == "parquet"
    if _chunked.is_parts(path) or (lazy and os.path.isfile(path)):  # .parquet is read through Dask only
        return _load_lazy(path, label, format, header, delimiter, task, n_features, zero_based, chunks)
    fmt = _format(path, format)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such data file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a data file")
    try:
        if fmt == "csv":
            ds = _load_csv(path, label, header, delimiter)
        elif fmt == "npy":
            ds = _load_npy(path, label)
        elif fmt == "npz":
            ds = _load_npz(path, label)
        else:
            if not (label is None or isinstance(label, int) and label == -1):
                raise ValueError("svmlight files carry the label first on each line; pass label=-1 (the default) "
                                 "or label=None to leave the labels out")
            ds = _load_svmlight(path, n_features, zero_based)
            if label is None:
                ds = Dataset(ds.X, None, ds.feature_names, None, (), ds.source, ds.notes)
    except _READ_ERRORS as exc:  # a safety net: whatever a reader raised on a malformed file, one line
        raise ValueError(f"{path}: cannot read it as {fmt} data ({type(exc).__name__}: {_one_line(exc)})") from None
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if "\n" in text and type(exc) in (ValueError, TypeError):
            raise type(exc)(_one_line(exc)) from None
        raise
    return _checked(path, ds, task)


def _checked(path, ds: Dataset, task) -> Dataset:
    if ds.X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    if ds.X.shape[1] == 0:
        raise ValueError(f"{path}: no feature columns (only the label)")
    if task == "classification" and not ds.lazy:
        _check_classes(path, ds)
    return ds


def _load_lazy(path, label, format, header, delimiter, task, n_features, zero_based, chunks) -> Dataset:
    """A file read by blocks, or parts: Dask arrays (see ``_chunked``), or one CSR matrix for svmlight."""
    files = _chunked.parts_of(path) if _chunked.is_parts(path) else [path]
    fmt = _chunked.part_format(files, format)
    try:
        da = _chunked.require_dask(f"loading {path} by blocks")
        if fmt == "svmlight":
            return _load_svmlight_blocks(da, path, files, label, task, n_features, zero_based, chunks)
        if fmt == "npy":
            table, names = _chunked.npy_table(da, files, chunks, _FileError)
        elif fmt == "csv":
            table, names = _chunked.csv_table(da, files, chunks, header, delimiter, _FileError, _load_csv)
        else:
            table, names = _chunked.parquet_table(da, files, chunks, _FileError)
        X, y, feats, label_name = _chunked.split_label(table, names, label, path, _label_column)
    except _READ_ERRORS as exc:
        raise ValueError(f"{path}: cannot read it as {fmt} data ({type(exc).__name__}: {_one_line(exc)})") from None
    notes = {"parts": len(files), "chunks": X.chunks[0], "lazy": True}
    return _checked(path, Dataset(X, y, feats, label_name, (), path, notes), task)


def _load_svmlight_blocks(da, path, files, label, task, n_features, zero_based, chunks) -> Dataset:
    """svmlight parts (or one file read by ``chunks`` rows) as a Dask array of CSR blocks and its labels."""
    if not (label is None or isinstance(label, int) and label == -1):
        raise ValueError("svmlight files carry the label first on each line; pass label=-1 (the default) "
                         "or label=None to leave the labels out")
    if n_features is not None and (isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer))
                                   or n_features < 1):
        raise ValueError(f"n_features must be an integer >= 1 or None, got {n_features!r}")
    if not (zero_based == "auto" or zero_based is True or zero_based is False):
        raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")
    X, y, zb, layouts = _chunked.svmlight_table(da, files, chunks, n_features, zero_based)
    _check_width(path, X.shape[1])
    notes = {"zero_based": zb, "parts": len(files), "chunks": X.chunks[0], "lazy": True}
    if all(lay.parsed for lay in layouts):
        notes["nnz"] = sum(lay.nnz for lay in layouts)
        if any(lay.query_ids for lay in layouts):
            warnings.warn(f"{path}: the query ids (qid:) are ignored: ricci's problems do not rank within queries "
                          "(load the file without chunks to keep them in Dataset.notes['query_ids'])",
                          QueryIdsIgnored, stacklevel=4)
    names = NumberedNames(X.shape[1], 0 if zb else 1)
    ds = Dataset(X, None if label is None else y, names, None if label is None else "label", (), path, notes)
    return _checked(path, ds, task)


def _check_width(path, width: int):
    """A ValueError when one float64 vector over the columns (the solver's x) would not fit in memory."""
    _check_memory(path, 8 * width, f"a vector over its {width} feature columns (the solver's unknowns)")


_READ_ERRORS = (EOFError, zipfile.BadZipFile, zlib.error, csv.Error, MemoryError, OverflowError, struct.error,
                NotImplementedError, UnicodeError, tokenize.TokenError)
"""What the readers of malformed files raise besides ValueError (zip, zlib, csv, struct, allocation errors)."""


def _one_line(exc) -> str:
    return " ".join(str(exc).split())


def _memory_bytes() -> int | None:
    """The machine's physical memory in bytes, where the platform says (None otherwise)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size_text(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # pragma: no cover


def _check_memory(path, nbytes: int, what: str):
    """ValueError when ``what`` would need more memory than the machine has (rather than a MemoryError, or an
    allocation that succeeds lazily and thrashes later)."""
    limit = _memory_bytes()
    if limit is not None and nbytes > limit:
        raise _FileError(f"{path}: {what} would need {_size_text(nbytes)}, more than this machine's memory "
                         f"({_size_text(limit)})")


def _format(path, format):
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        return format
    ext = os.path.splitext(path)[1].lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    try:  # no known extension: svmlight if the first data line has index:value pairs, else CSV
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                text = line.split("#", 1)[0].strip()
                if text:
                    return "svmlight" if ":" in text else "csv"
    except (OSError, UnicodeDecodeError):
        pass
    return "csv"


def _check_classes(path, ds: Dataset):
    if ds.y is None:
        raise ValueError(f"{path}: classification needs labels, but no label column was read")
    values = np.unique(ds.y)
    if len(values) < 2:
        name = ds.classes[0] if ds.classes else f"{values[0]:g}"
        raise ValueError(f"{path}: the labels have a single class ({name}); a classifier needs at least two")
    if not np.all(values == np.round(values)):
        bad = values[values != np.round(values)][0]
        raise ValueError(f"{path}: class labels must be integers, got {bad:g}")


# ----------------------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------------------


def _parse_float(text):
    try:
        v = float(text)
    except ValueError:
        return None
    return v


def _read_text(path):
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def _load_csv(path, label, header, delimiter) -> Dataset:
    text = _read_text(path)
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    if delimiter is None:
        first = lines[0][1]
        delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter is None:  # whitespace-separated
        rows = [(no, ln.split()) for no, ln in lines]
    else:
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise TypeError(f"delimiter must be a single character or None, got {delimiter!r}")
        rows = _csv_rows(path, lines, delimiter)
    first_no, first = rows[0]
    if header is None:
        header = any(_parse_float(c) is None and c.lower() not in _MISSING for c in first)
    names = tuple(first) if header else tuple(f"column {j}" for j in range(len(first)))
    body = rows[1:] if header else rows
    width = len(first)
    for no, cells in body:
        if len(cells) != width:
            raise ValueError(f"{path}, line {no}: {len(cells)} fields, expected {width} (as on line {first_no}); "
                             "ragged rows")
    label_col = _label_column(path, label, names, header, width)
    feature_cols = [j for j in range(width) if j != label_col]
    X = np.empty((len(body), len(feature_cols)))
    for r, (no, cells) in enumerate(body):
        for c, j in enumerate(feature_cols):
            X[r, c] = _cell(path, no, names[j], cells[j])
    y, classes = None, ()
    if label_col is not None:
        raw = [cells[label_col] for _, cells in body]
        nums = [_parse_float(v) for v in raw]
        if all(v is not None for v in nums):
            for (no, _), v, text in zip(body, nums, raw):
                if not math.isfinite(v):
                    raise ValueError(f"{path}, line {no}, label column {names[label_col]!r}: {text!r} is not a "
                                     "finite number")
            y = np.array(nums, dtype=float)
        else:
            for (no, _), text in zip(body, raw):
                if text.lower() in _MISSING:
                    raise ValueError(f"{path}, line {no}, label column {names[label_col]!r}: missing label")
            classes = tuple(sorted(set(raw)))
            codes = {c: k for k, c in enumerate(classes)}
            y = np.array([codes[v] for v in raw], dtype=float)
    feats = tuple(names[j] for j in feature_cols)
    return Dataset(X, y, feats, names[label_col] if label_col is not None else None, classes, path)


def _csv_rows(path, lines, delimiter):
    """The cells of each (line number, text) line, split by the csv module; its errors name the line."""
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)), delimiter=delimiter)
    rows = []
    for no, _ in lines:
        try:
            cells = next(reader)
        except StopIteration:  # a quoted field ran over the end of the text
            break
        except csv.Error as exc:
            at = lines[min(max(reader.line_num - 1, 0), len(lines) - 1)][0]
            if "field larger than field limit" in str(exc):
                raise ValueError(f"{path}, line {at}: a field longer than {csv.field_size_limit()} characters; "
                                 "not a table of numbers") from None
            raise ValueError(f"{path}, line {at}: {_one_line(exc)}") from None
        rows.append((no, [c.strip() for c in cells]))
    return rows


def _label_column(path, label, names, header, width):
    if label is None:
        return None
    if isinstance(label, str):
        if not header:
            raise ValueError(f"{path}: label={label!r} names a column, but the file has no header row; "
                             f"pass the column index instead (0 to {width - 1})")
        if label not in names:
            raise ValueError(f"{path}: no column named {label!r}; the columns are {', '.join(map(repr, names))}")
        return names.index(label)
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise TypeError(f"label must be a column index, a column name or None, got {type(label).__name__}")
    if not -width <= label < width:
        raise ValueError(f"{path}: label column {label} out of range for {width} columns")
    return int(label) % width


def _cell(path, no, name, text):
    v = _parse_float(text)
    if v is None:
        what = "missing value" if text.lower() in _MISSING else f"{text!r} is not a number"
        raise ValueError(f"{path}, line {no}, column {name!r}: {what}")
    if not math.isfinite(v):
        raise ValueError(f"{path}, line {no}, column {name!r}: {text!r} (NaN or infinite values are not allowed)")
    return v


# ----------------------------------------------------------------------------------------------------------
# NumPy
# ----------------------------------------------------------------------------------------------------------


def _numeric(path, what, arr) -> np.ndarray:
    if arr.dtype.kind == "c":
        raise TypeError(f"{path}: {what} holds complex numbers (dtype {arr.dtype}); ricci needs real data. Pass "
                        "the real part, or the real and imaginary parts as separate columns, explicitly")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{path}: {what} must be numeric, got dtype {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # a long double beyond float64: inf, reported below
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: {what} contains NaN or infinite values (first at index {where})")
    return arr


class _FileError(ValueError):
    """A ValueError whose message already names the file and what is wrong with it."""


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, IndexError,
               KeyError, struct.error, OverflowError, ValueError)
"""What zipfile raises on a broken archive or member, depending on where the damage is."""


def _read_npy_stream(path, fp, size: int, what: str) -> np.ndarray:
    """An array in the .npy format from the binary stream ``fp`` holding ``size`` bytes (a file, or a member
    of a .npz archive). The header is read and checked against ``size`` before any data is: a header that
    declares more data than there is (a truncated file, or a forged shape asking for petabytes) is a
    ValueError, not a MemoryError. Pickled (object) arrays are refused."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise _FileError(f"unsupported .npy format version {version[0]}.{version[1]} (ricci reads 1.0 and 2.0, "
                             "the versions of plain numeric arrays)")
    except (ValueError, SyntaxError, TypeError, EOFError, tokenize.TokenError) as exc:  # numpy tokenizes headers
        raise _FileError(f"{path}: {what} is not a NumPy .npy array ({_one_line(exc)})") from None
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _FileError(f"{path}: {what} is not a NumPy .npy array (its header declares the shape {shape})")
    if dtype.hasobject:
        raise _FileError(f"{path}: {what} holds pickled Python objects (dtype {dtype}); ricci reads numeric "
                         "arrays only and never unpickles data")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    available = size - fp.tell()
    if nbytes > available:
        raise _FileError(f"{path}: {what} declares an array of shape {shape} and dtype {dtype} "
                         f"({_size_text(nbytes)}), but only {_size_text(max(available, 0))} of data follow the "
                         "header: the file is truncated or corrupt")
    _check_memory(path, nbytes, f"{what}, of shape {shape} and dtype {dtype},")
    if dtype.itemsize == 0:
        raise _FileError(f"{path}: {what} has dtype {dtype}, which holds no numbers")
    arr = np.empty(count, dtype=dtype)
    buffer = memoryview(arr.view(np.uint8))
    got = 0
    while got < nbytes:
        chunk = fp.readinto(buffer[got:])
        if not chunk:
            raise _FileError(f"{path}: {what} ends after {got} of its {nbytes} bytes of data: the file is truncated")
        got += chunk
    try:
        return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    except ValueError as exc:  # e.g. an empty array declaring 2^62 x 2^62 entries: "array is too big"
        raise _FileError(f"{path}: {what} declares the shape {shape}, which NumPy cannot make ({_one_line(exc)})") from None


def read_npy(path, what: str = "the file") -> np.ndarray:
    """The array stored in the .npy file ``path`` (see :func:`_read_npy_stream` for the checks)."""
    with open(path, "rb") as fp:
        return _read_npy_stream(path, fp, os.fstat(fp.fileno()).st_size, what)


def read_npz(path) -> dict:
    """The arrays of the .npz archive ``path`` by key (member name without ".npy"), each read and checked as
    :func:`read_npy` reads a file; members that are not .npy arrays, broken zip files and compressed data that
    does not decompress are one-line ValueErrors naming the archive and the member."""
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"{path}: not a NumPy .npz archive (a zip file of .npy arrays): {_one_line(exc)}") from None
    arrays = {}
    with archive:
        for info in archive.infolist():
            member = info.filename
            if not member:  # ZipInfo.is_dir() would raise IndexError on it
                raise ValueError(f"{path}: the archive has a member with an empty name; not a NumPy .npz archive")
            if member.endswith("/"):  # a directory entry
                continue
            key = member.removesuffix(".npy")
            what = f"member {member!r}"
            try:
                with archive.open(info) as fp:
                    arrays[key] = _read_npy_stream(path, fp, info.file_size, what)
            except _FileError:
                raise
            except _ZIP_ERRORS as exc:
                raise ValueError(f"{path}: {what} cannot be read from the archive ({type(exc).__name__}: "
                                 f"{_one_line(exc)})") from None
    return arrays


def _split_columns(path, arr, label, what) -> Dataset:
    if arr.ndim != 2:
        raise ValueError(f"{path}: {what} must be a 2-D array (rows = samples), got shape {arr.shape}")
    if arr.size == 0:  # before anything is made per column: an empty array may declare 2^62 columns
        raise ValueError(f"{path}: {what} is empty (shape {arr.shape}): no data rows")
    if label is None:
        return Dataset(arr, None, tuple(f"column {j}" for j in range(arr.shape[1])), None, (), path)
    if isinstance(label, str):
        raise TypeError(f"{path}: a .npy array has no column names; give the label column as an index")
    width = arr.shape[1]
    col = _label_column(path, label, (), False, width)
    keep = [j for j in range(width) if j != col]
    return Dataset(arr[:, keep], arr[:, col].copy(), tuple(f"column {j}" for j in keep), f"column {col}", (), path)


def _load_npy(path, label) -> Dataset:
    arr = read_npy(path, "the file")
    return _split_columns(path, _numeric(path, "the array", arr), label, "the array")


def _load_npz(path, label) -> Dataset:
    arrays = read_npz(path)
    if not arrays:
        raise ValueError(f"{path}: the archive holds no arrays")
    keys = list(arrays)
    if isinstance(label, str):
        if label not in arrays:
            raise ValueError(f"{path}: no array named {label!r}; the archive holds {', '.join(keys)}")
        y_key = label
    elif label is not None and "y" in arrays:
        y_key = "y"
    else:
        y_key = None
    rest = [k for k in keys if k != y_key]
    if y_key is None:
        if len(rest) != 1:
            raise ValueError(f"{path}: several arrays ({', '.join(keys)}) and none named 'y'; pass label='KEY' "
                             "for the labels, and keep the features under 'X'")
        return _split_columns(path, _numeric(path, f"array {rest[0]!r}", arrays[rest[0]]), label, f"array {rest[0]!r}")
    if not rest:
        raise ValueError(f"{path}: the archive holds only the labels {y_key!r}; store the features beside them "
                         "under the key 'X'")
    x_key = "X" if "X" in rest else (rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise ValueError(f"{path}: cannot tell which array holds the features among {', '.join(rest)}; name it 'X'")
    X = _numeric(path, f"array {x_key!r}", arrays[x_key])
    y = _numeric(path, f"array {y_key!r}", arrays[y_key])
    if X.ndim != 2:
        raise ValueError(f"{path}: array {x_key!r} must be 2-D (rows = samples), got shape {X.shape}")
    if X.size == 0:
        raise ValueError(f"{path}: array {x_key!r} is empty (shape {X.shape}): no data rows")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: array {y_key!r} must be a vector of {X.shape[0]} labels (one per row of "
                         f"{x_key!r}), got shape {y.shape}")
    return Dataset(X, y, tuple(f"column {j}" for j in range(X.shape[1])), y_key, (), path)


# ----------------------------------------------------------------------------------------------------------
# svmlight / LIBSVM
# ----------------------------------------------------------------------------------------------------------


def _load_svmlight(path, n_features, zero_based) -> Dataset:
    """An svmlight file as a ``scipy.sparse.csr_array`` X and labels y (``_svmlight.read_svmlight``)."""
    data = _svmlight.read_svmlight(path, n_features, zero_based)
    _check_width(path, data.X.shape[1])
    offset = 0 if data.zero_based else 1
    names = NumberedNames(data.X.shape[1], offset)
    notes = {"zero_based": data.zero_based}
    if data.query_ids is not None:
        notes["query_ids"] = data.query_ids
        lines = int((data.query_ids >= 0).sum())
        warnings.warn(f"{path}: the query ids (qid:) of {lines} samples are ignored: ricci's problems do not rank "
                      "within queries; they are kept in Dataset.notes['query_ids']", QueryIdsIgnored, stacklevel=3)
    return Dataset(data.X, data.y, names, "label", (), path, notes)


class QueryIdsIgnored(UserWarning):
    """An svmlight file's ``qid:`` entries were left out of the features (they are in ``notes``)."""


@dataclass(frozen=True, eq=False)
class NumberedNames(Sequence):
    """The names "feature <first>", "feature <first + 1>", ... of ``count`` columns, made when read: an
    svmlight file of 10^8 columns needs no tuple of 10^8 strings. Equal to the tuple of the same names."""

    count: int
    first: int = 1

    def __len__(self):
        return self.count

    def __getitem__(self, j):
        if isinstance(j, slice):
            return tuple(self[k] for k in range(*j.indices(self.count)))
        if not -self.count <= j < self.count:
            raise IndexError(f"feature position {j} out of range for {self.count} features")
        return f"feature {j % self.count + self.first}"

    def __eq__(self, other):
        if isinstance(other, NumberedNames):
            return (self.count, self.first) == (other.count, other.first) or self.count == other.count == 0
        return isinstance(other, Sequence) and len(other) == self.count and tuple(self) == tuple(other)

    __hash__ = None
