"""Reading the user's data: CSV, NumPy .npy/.npz and LIBSVM/svmlight text files, with clear errors.

``load(path)`` returns a :class:`Dataset` (features X, labels y, names), which unpacks as ``X, y = load(...)``.
Every problem in the file is reported with the file, the line (or key) and the column, e.g.
``data.csv, line 7, column 'texture': 'abc' is not a number``.

The svmlight format (Joachims, "Making large-scale SVM learning practical", 1999; the format of the LIBSVM
data sets): one sample per line, ``<label> [qid:<q>] <index>:<value> ...`` with increasing indices, 1-based
(or 0-based: detected when an index 0 appears), omitted entries 0, and ``#`` starting a comment.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field

import numpy as np

FORMATS = ("csv", "npy", "npz", "svmlight")
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".npy": "npy", ".npz": "npz",
               ".svm": "svmlight", ".svmlight": "svmlight", ".libsvm": "svmlight"}
_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features X (m x n float64), labels y (length m float64, or None), and where they came from.

    ``classes`` names the label values when the file held text labels (they are coded 0, 1, ... in sorted
    order). Iterating gives (X, y), so ``X, y = load(path)`` works.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: tuple = ()
    label_name: str | None = None
    classes: tuple = ()
    source: str = ""
    notes: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.X, self.y))

    @property
    def shape(self):
        return self.X.shape

    def __repr__(self):
        lab = f", label {self.label_name!r}" if self.label_name is not None else (", no labels" if self.y is None else "")
        return f"<ricci Dataset {self.X.shape[0]} x {self.X.shape[1]}{lab} from {self.source}>"


def load(path, label=-1, *, format: str | None = None, header: bool | None = None, delimiter: str | None = None,
         task: str | None = None, n_features: int | None = None, zero_based="auto") -> Dataset:
    """Read features and labels from a file.

    path: a .csv/.tsv/.txt (delimited text), .npy, .npz or .svm/.svmlight/.libsvm file (or give ``format``).
    label: which column holds the labels: an index (negative counts from the end; default -1, the last),
        a column name (CSV with a header; for .npz the key of the label array), or None for no labels.
        svmlight files always carry the label first.
    header: CSV only; None detects it (a first row with a non-numeric cell is a header).
    delimiter: CSV only; None detects ',', ';', tab or whitespace from the first line.
    task: "classification" checks that the labels are integers (or text) with at least two classes;
        "regression" or None checks only that they are finite numbers.
    n_features, zero_based: svmlight only (number of columns; whether indices start at 0, "auto" detects).
    """
    path = os.fspath(path)
    fmt = _format(path, format)
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task must be 'classification', 'regression' or None, got {task!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such data file: {path}")
    if fmt == "csv":
        ds = _load_csv(path, label, header, delimiter)
    elif fmt == "npy":
        ds = _load_npy(path, label)
    elif fmt == "npz":
        ds = _load_npz(path, label)
    else:
        if label != -1:
            raise ValueError("svmlight files carry the label first on each line; do not pass label=")
        ds = _load_svmlight(path, n_features, zero_based)
    if ds.X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    if ds.X.shape[1] == 0:
        raise ValueError(f"{path}: no feature columns (only the label)")
    if task == "classification":
        _check_classes(path, ds)
    return ds


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
        rows = [(no, [c.strip() for c in cells])
                for (no, _), cells in zip(lines, csv.reader(io.StringIO("\n".join(ln for _, ln in lines)),
                                                              delimiter=delimiter))]
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
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{path}: {what} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: {what} contains NaN or infinite values (first at index {where})")
    return arr


def _split_columns(path, arr, label, what) -> Dataset:
    if arr.ndim != 2:
        raise ValueError(f"{path}: {what} must be a 2-D array (rows = samples), got shape {arr.shape}")
    if label is None:
        return Dataset(arr, None, tuple(f"column {j}" for j in range(arr.shape[1])), None, (), path)
    if isinstance(label, str):
        raise TypeError(f"{path}: a .npy array has no column names; give the label column as an index")
    width = arr.shape[1]
    col = _label_column(path, label, (), False, width)
    keep = [j for j in range(width) if j != col]
    return Dataset(arr[:, keep], arr[:, col].copy(), tuple(f"column {j}" for j in keep), f"column {col}", (), path)


def _load_npy(path, label) -> Dataset:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a NumPy .npy array without pickled objects ({exc})") from None
    return _split_columns(path, _numeric(path, "the array", arr), label, "the array")


def _load_npz(path, label) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise ValueError(f"{path}: not a NumPy .npz archive without pickled objects ({exc})") from None
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
    x_key = "X" if "X" in rest else (rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise ValueError(f"{path}: cannot tell which array holds the features among {', '.join(rest)}; name it 'X'")
    X = _numeric(path, f"array {x_key!r}", arrays[x_key])
    y = _numeric(path, f"array {y_key!r}", arrays[y_key])
    if X.ndim != 2:
        raise ValueError(f"{path}: array {x_key!r} must be 2-D (rows = samples), got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: array {y_key!r} must be a vector of {X.shape[0]} labels (one per row of "
                         f"{x_key!r}), got shape {y.shape}")
    return Dataset(X, y, tuple(f"column {j}" for j in range(X.shape[1])), y_key, (), path)


# ----------------------------------------------------------------------------------------------------------
# svmlight / LIBSVM
# ----------------------------------------------------------------------------------------------------------


def _load_svmlight(path, n_features, zero_based) -> Dataset:
    if zero_based not in ("auto", True, False):
        raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")
    text = _read_text(path)
    labels, rows = [], []
    max_index, min_index = -1, None
    for no, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        tokens = body.split()
        y = _parse_float(tokens[0])
        if y is None or ":" in tokens[0]:
            raise ValueError(f"{path}, line {no}: the line must start with a numeric label, got {tokens[0]!r}")
        if not math.isfinite(y):
            raise ValueError(f"{path}, line {no}: label {tokens[0]!r} is not finite")
        entries = {}
        last = -1
        for tok in tokens[1:]:
            key, sep, val = tok.partition(":")
            if not sep:
                raise ValueError(f"{path}, line {no}: expected index:value, got {tok!r}")
            if key == "qid":
                continue
            if not key.isdigit():
                raise ValueError(f"{path}, line {no}: feature index {key!r} is not a non-negative integer")
            idx = int(key)
            v = _parse_float(val)
            if v is None:
                raise ValueError(f"{path}, line {no}, feature {idx}: {val!r} is not a number")
            if not math.isfinite(v):
                raise ValueError(f"{path}, line {no}, feature {idx}: {val!r} (NaN or infinite values are not allowed)")
            if idx <= last:
                raise ValueError(f"{path}, line {no}: feature indices must increase, got {idx} after {last}")
            last = idx
            entries[idx] = v
            max_index = max(max_index, idx)
            min_index = idx if min_index is None else min(min_index, idx)
        labels.append(y)
        rows.append(entries)
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    zb = (min_index == 0) if zero_based == "auto" else bool(zero_based)
    if not zb and min_index == 0:
        raise ValueError(f"{path}: feature index 0 in a file read as 1-based (zero_based=False)")
    offset = 0 if zb else 1
    width = max_index + 1 - offset if max_index >= 0 else 0
    if n_features is not None:
        if n_features < width:
            raise ValueError(f"{path}: n_features={n_features}, but the file has feature index {max_index} "
                             f"({width} features)")
        width = int(n_features)
    X = np.zeros((len(rows), width))
    for r, entries in enumerate(rows):
        for idx, v in entries.items():
            X[r, idx - offset] = v
    names = tuple(f"feature {j + offset}" for j in range(width))
    return Dataset(X, np.array(labels), names, "label", (), path, {"zero_based": zb})
