"""svmlight / LIBSVM text files to and from ``scipy.sparse`` CSR matrices, parsed with NumPy on whole blocks.

The format (Joachims, "Making large-scale SVM learning practical", 1999; the format of the LIBSVM data sets,
Chang & Lin, 2011): one sample per line,

    <label> [qid:<q>] <index>:<value> <index>:<value> ...      # a comment

with strictly increasing indices (1-based, or 0-based: detected when an index 0 appears), omitted entries 0,
and ``#`` starting a comment that runs to the end of the line. A file becomes a CSR matrix X (nonzeros only,
never a dense array), the labels y, and the query ids where the file has them.

The parser never loops over entries in Python. The file is read in blocks of whole lines (32 MiB by default,
which bounds the parser's own memory at a small multiple of that), and on each block's bytes as one uint8
array: comments are blanked by a running count of ``#`` per line, tokens are the runs of non-blank bytes,
the first token of a line is its label, every other token has exactly one ``:``. Feature indices are read
from their ASCII digits by place value (digit * 10^k summed per token with ``np.add.reduceat``) and values by
NumPy's string-to-float cast of a fixed-width byte array (the grammar of Python's ``float``). A malformed
token is a ValueError naming the file and its line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

BLOCK_BYTES = 1 << 25
"""Bytes of whole lines parsed at a time (a line longer than this is read whole)."""

MAX_VALUE_CHARS = 64
"""The longest number text accepted (17 significant digits, sign and exponent need 24)."""

_MAX_INDEX_DIGITS = 18  # 10^18 - 1 < 2^63: an index of up to 18 digits fits int64
_BLANK, _NEWLINE, _COLON = 32, 10, 58
_COMMENT = re.compile(rb"#[^\n]*")
_BLANKS = bytes.maketrans(b"\t\v\f", b"   ")


@dataclass(frozen=True)
class SvmlightData:
    """What :func:`read_svmlight` found: the CSR matrix X (rows = samples), the labels y, whether the indices
    were read as 0-based, the query id of each row (None when no line has one) and the largest raw index."""

    X: object
    y: np.ndarray
    zero_based: bool
    query_ids: np.ndarray | None
    max_index: int


@dataclass(frozen=True)
class _Block:
    """One block's rows: labels, the number of entries per row, the raw (file) indices and values, and the
    query id per row (-1 where a line has none)."""

    labels: np.ndarray
    counts: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    qids: np.ndarray


def read_svmlight(path, n_features=None, zero_based="auto", *, block_bytes: int = BLOCK_BYTES) -> SvmlightData:
    """Read the svmlight file ``path`` into a ``scipy.sparse.csr_array`` (float64) and its labels.

    n_features: the number of columns (None: the largest index + 1, less the base); zero_based: True, False
    or "auto" (0-based when an index 0 appears). Raises ValueError naming the line of the first malformed
    token of a block (a label that is not a number, a token without ``index:value``, an index that is not
    ASCII digits, a value that is not a finite number, indices that do not increase).
    """
    import scipy.sparse as sp

    path = os.fspath(path)
    if not (zero_based == "auto" or zero_based is True or zero_based is False):
        raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")
    if n_features is not None and (isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer))
                                   or n_features < 1):
        raise ValueError(f"n_features must be an integer >= 1 or None, got {n_features!r}")
    blocks = [_parse_block(path, buf, first_line) for buf, first_line in _line_blocks(path, block_bytes)]
    labels = np.concatenate([b.labels for b in blocks]) if blocks else np.empty(0)
    if labels.size == 0:
        raise ValueError(f"{path}: the file is empty (no sample lines)")
    indices = np.concatenate([b.indices for b in blocks])
    values = np.concatenate([b.values for b in blocks])
    counts = np.concatenate([b.counts for b in blocks])
    qids = np.concatenate([b.qids for b in blocks])
    min_index = int(indices.min()) if indices.size else None
    max_index = int(indices.max()) if indices.size else -1
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
    big = max(width, indices.size) >= 2**31 - 1
    index_dtype = np.int64 if big else np.int32
    indptr = np.zeros(labels.size + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    X = sp.csr_array((values, (indices - offset).astype(index_dtype), indptr), shape=(labels.size, width))
    X.has_sorted_indices = True  # strictly increasing per line, checked
    return SvmlightData(X, labels, zb, qids if (qids >= 0).any() else None, max_index)


def _line_blocks(path, block_bytes):
    """(bytes of whole lines, number of the first line) for consecutive blocks of the file."""
    with open(path, "rb") as fh:
        carry, line_no, first = b"", 1, True
        while True:
            chunk = fh.read(block_bytes)
            if first:
                chunk = chunk.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
                first = False
            data = carry + chunk
            if not chunk:
                if data:
                    yield data, line_no
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no line ends in it yet: read on
                carry = data
                continue
            yield data[:cut], line_no
            line_no += data.count(b"\n", 0, cut)
            carry = data[cut:]


# ----------------------------------------------------------------------------------------------------------
# Reading by blocks of rows (lazy loading: ``_chunked.svmlight_table``)
# ----------------------------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_NOT_CONTENT = np.zeros(256, dtype=bool)
_NOT_CONTENT[[_BLANK, _NEWLINE, 9, 11, 12, 13]] = True  # blank, newline, tab, vertical tab, form feed, CR


@dataclass(frozen=True)
class RowLayout:
    """Where the blocks of rows of an svmlight file lie, from one streaming pass (:func:`scan_rows`):
    ``blocks`` holds (first byte, end byte, number of the block's first line, sample rows) per block, so that
    each block can be read and parsed on its own; with ``parsed`` the pass also parsed every line (the
    file is valid) and ``min_index``/``max_index`` (-1 without entries), ``nnz`` and ``query_ids`` (whether
    a line has ``qid:``) are known, else they are None."""

    blocks: tuple
    rows: int
    parsed: bool
    min_index: int | None = None
    max_index: int | None = None
    nnz: int | None = None
    query_ids: bool | None = None


def scan_rows(path, rows_per_block: int | None, *, parse: bool = True, block_bytes: int = BLOCK_BYTES) -> RowLayout:
    """One pass over the svmlight file ``path``, ``block_bytes`` of whole lines at a time: the byte offset
    of the start of every ``rows_per_block``-th sample line (None: one block for the file) and the number of
    sample lines (lines with a label, not blank and not only a comment) between them; with ``parse`` each
    piece is also parsed (``_parse_block``: a malformed line is a ValueError naming its line) for the
    smallest and largest feature index and the number of entries, which the width of X and the base of its
    indices need. Memory: the pass holds one piece of ``block_bytes`` and the block offsets."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        position = len(_BOM) if fh.read(len(_BOM)) == _BOM else 0
    cuts, seen = [(0, 1)], 0  # (byte, line number) where each block starts; the first at the file's start
    low, high, nnz, qids = None, -1, 0, False
    for data, first_line in _line_blocks(path, block_bytes):
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            raise ValueError(f"{path}: lines end in a bare carriage return (CR, old Mac OS); reading by blocks of "
                             "rows needs newline (LF or CRLF) line ends: convert the file, or load it without chunks")
        b = np.frombuffer(data, dtype=np.uint8)
        starts = np.concatenate(([0], np.flatnonzero(b == _NEWLINE) + 1))
        starts = starts[starts < b.size]
        ends = np.concatenate((starts[1:], [b.size]))
        content = np.flatnonzero(~_NOT_CONTENT[b])
        first = np.searchsorted(content, starts)  # the first non-blank byte at or after each line start
        found = first < content.size
        at = content[np.minimum(first, max(content.size - 1, 0))] if content.size else np.zeros_like(starts)
        sample = found & (at < ends) & (b[at] != ord("#")) if content.size else np.zeros(starts.size, bool)
        lines = np.flatnonzero(sample)
        if rows_per_block is not None:
            take = lines[(seen + np.arange(lines.size)) % rows_per_block == 0]
            cuts.extend((position + int(starts[k]), first_line + int(k)) for k in take)
        seen += int(lines.size)
        if parse:
            block = _parse_block(path, data, first_line)
            if block.labels.size != lines.size:  # pragma: no cover - the two readings of a line agree
                raise ValueError(f"{path}: found {block.labels.size} samples near line {first_line}, expected "
                                 f"{lines.size}")
            if block.indices.size:
                low = int(block.indices.min()) if low is None else min(low, int(block.indices.min()))
                high = max(high, int(block.indices.max()))
            nnz += int(block.indices.size)
            qids = qids or bool((block.qids >= 0).any())
        position += len(data)
    if seen == 0:
        raise ValueError(f"{path}: the file is empty (no sample lines)")
    if rows_per_block is not None and len(cuts) > 1:
        cuts = cuts[1:]  # the first sample line starts the first block; the bytes before it are blanks
        cuts[0] = (0, 1)  # ... read with it (a byte-order mark, comments)
    size = os.path.getsize(path)
    bounds = [c[0] for c in cuts] + [size]
    counts = [rows_per_block] * (len(cuts) - 1) if rows_per_block is not None else []
    counts.append(seen - sum(counts))
    blocks = tuple((bounds[k], bounds[k + 1], cuts[k][1], counts[k]) for k in range(len(cuts)))
    if not parse:
        return RowLayout(blocks, seen, False)
    return RowLayout(blocks, seen, True, low, high, nnz, qids)


def read_rows(path, start: int, stop: int, first_line: int, rows: int, width: int, zero_based: bool):
    """The rows of the svmlight file ``path`` in bytes [start, stop) (a block of :func:`scan_rows`) as a
    ``scipy.sparse.csr_array`` of shape (rows, width) and their labels; run inside a Dask task. A block that
    no longer holds ``rows`` samples, or an index outside the width, is a ValueError naming the file."""
    import scipy.sparse as sp

    with open(path, "rb") as fh:
        fh.seek(max(start - 1, 0))
        before = fh.read(1) if start > 0 else b"\n"
        data = fh.read(stop - start)
        after = fh.read(1)
    if before != b"\n" or len(data) != stop - start or (after and not data.endswith(b"\n")):
        raise ValueError(f"{path}: bytes {start} to {stop} no longer hold whole lines (the file changed since it "
                         "was loaded?)")
    if start == 0:
        data = data.removeprefix(_BOM)
    block = _parse_block(path, data, first_line)
    if block.labels.size != rows:
        raise ValueError(f"{path}: read {block.labels.size} rows from line {first_line} on, expected {rows} (the "
                         "file changed since it was loaded?)")
    indices = block.indices - (0 if zero_based else 1)
    if indices.size and (indices.min() < 0 or indices.max() >= width):
        bad = int(block.indices.min() if indices.min() < 0 else block.indices.max())
        raise ValueError(f"{path}: feature index {bad} near line {first_line} lies outside the {width} "
                         f"{'0' if zero_based else '1'}-based features the file was loaded with (it changed "
                         "since it was loaded?)")
    index_dtype = np.int32 if max(width, indices.size) < 2**31 - 1 else np.int64
    indptr = np.zeros(rows + 1, dtype=index_dtype)
    np.cumsum(block.counts, out=indptr[1:])
    X = sp.csr_array((block.values, indices.astype(index_dtype), indptr), shape=(rows, width))
    X.has_sorted_indices = True  # strictly increasing per line, checked by the parser
    return X, block.labels


def _parse_block(path, data: bytes, first_line: int) -> _Block:
    if b"#" in data:  # comments run to the end of their line (the newline stays: line numbers do not move)
        data = _COMMENT.sub(b"", data)
    if b"\r" in data:  # CRLF and (old Mac) CR line ends are newlines
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.translate(_BLANKS)  # tab, vertical tab and form feed are blanks
    b = np.frombuffer(data, dtype=np.uint8)
    blank = (b == _BLANK) | (b == _NEWLINE)
    filled = ~blank
    if not filled.any():  # blank lines and comments only
        return _Block(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))
    starts = np.flatnonzero(filled & np.concatenate(([True], blank[:-1])))
    ends = np.flatnonzero(filled & np.concatenate((blank[1:], [True]))) + 1
    del blank, filled
    token_line = np.searchsorted(np.flatnonzero(b == _NEWLINE), starts)  # newlines before the token
    is_label = np.concatenate(([True], token_line[1:] != token_line[:-1]))
    colon_at = np.flatnonzero(b == _COLON)
    n_colons = np.bincount(np.searchsorted(starts, colon_at, side="right") - 1, minlength=starts.size)

    def where(k):  # the line number of token k in the file
        return first_line + int(token_line[k])

    def text(k, stop=None):
        return data[starts[k]:ends[k] if stop is None else stop].decode("utf-8", "replace")

    problems = []
    bad_label = np.flatnonzero(is_label & (n_colons > 0))
    if bad_label.size:
        k = bad_label[0]
        problems.append((k, f"the line must start with a numeric label, got {text(k)!r}"))
    bad_pair = np.flatnonzero(~is_label & (n_colons != 1))
    if bad_pair.size:
        k = bad_pair[0]
        problems.append((k, f"expected index:value, got {text(k)!r}"))
    _raise_first(path, problems, where)

    feature = np.flatnonzero(~is_label)  # colon_at: exactly one per feature token, none in labels, in order
    key_start, key_end = starts[feature], colon_at
    key_len = key_end - key_start
    is_qid = (key_len == 3)
    if is_qid.any():
        q = key_start[is_qid]
        is_qid[is_qid] = (b[q] == ord("q")) & (b[q + 1] == ord("i")) & (b[q + 2] == ord("d"))
    entry, qid_tokens = feature[~is_qid], feature[is_qid]
    entry_key_start, entry_key_end = key_start[~is_qid], key_end[~is_qid]

    problems = []  # every check below that can run: the earliest problem is reported, whatever its kind
    indices = _digits_value(b, entry_key_start, entry_key_end, entry, problems, "feature index")
    qid_values = _digits_value(b, key_start[is_qid] + 4, ends[qid_tokens], qid_tokens, problems, "query id")
    values = _numbers(data, colon_at[~is_qid] + 1, ends[entry], entry, problems,
                      lambda k: f", feature {text(k).split(':', 1)[0]}: {text(k).split(':', 1)[1]!r} is not a number")
    label_tokens = np.flatnonzero(is_label)
    labels = _numbers(data, starts[label_tokens], ends[label_tokens], label_tokens, problems,
                      lambda k: f"the line must start with a numeric label, got {text(k)!r}")
    if labels is not None:
        bad = np.flatnonzero(~np.isfinite(labels))
        if bad.size:
            k = label_tokens[bad[0]]
            problems.append((k, f"label {text(k)!r} is not finite"))
    if values is not None:
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            k = entry[bad[0]]
            key, value = text(k).split(":", 1)
            problems.append((k, f", feature {key}: {value!r} (NaN or infinite values are not allowed)"))
    row_of_token = np.cumsum(is_label) - 1
    entry_rows = row_of_token[entry]
    if indices is not None:
        same_row = entry_rows[1:] == entry_rows[:-1]
        bad = np.flatnonzero(same_row & (indices[1:] <= indices[:-1]))
        if bad.size:
            k = entry[bad[0] + 1]
            increase = f"feature indices must increase, got {indices[bad[0] + 1]} after {indices[bad[0]]}"
            problems.append((k, increase))
    _raise_first(path, problems, where)
    counts = np.bincount(entry_rows, minlength=label_tokens.size)
    qids = np.full(label_tokens.size, -1, dtype=np.int64)
    qids[row_of_token[qid_tokens]] = qid_values
    return _Block(labels, counts, indices, values, qids)


def _raise_first(path, problems, where):
    """The problem on the earliest token, as ``path, line N: message``."""
    if problems:
        k, message = min(problems, key=lambda p: p[0])
        raise ValueError(f"{path}, line {where(k)}{message if message.startswith(',') else ': ' + message}")


_POWERS = 10 ** np.arange(_MAX_INDEX_DIGITS, dtype=np.int64)


def _digits_value(b, start, stop, tokens, problems, what):
    """The non-negative integers written in ASCII digits in b[start:stop] per token, by place value; None,
    with (token, message) appended to ``problems``, where one is not."""
    length = stop - start
    if length.size == 0:
        return np.empty(0, dtype=np.int64)
    expected = "a non-negative integer (ASCII digits 0-9)"
    found = len(problems)
    bad = np.flatnonzero(length == 0)
    if bad.size:
        problems.append((tokens[bad[0]], f"{what} '' is not {expected}"))
    offsets = np.cumsum(length) - length
    pos = np.arange(int(length.sum())) - np.repeat(offsets, length) + np.repeat(start, length)
    digit = b[pos].astype(np.int64) - ord("0")
    not_digit = np.concatenate(([0], np.cumsum((digit < 0) | (digit > 9))))
    bad = np.flatnonzero(not_digit[offsets + length] - not_digit[offsets] > 0)
    if bad.size:
        key = bytes(b[start[bad[0]]:stop[bad[0]]]).decode("utf-8", "replace")
        problems.append((tokens[bad[0]], f"{what} {key!r} is not {expected}"))
    bad = np.flatnonzero(length > _MAX_INDEX_DIGITS)
    if bad.size:
        too_large = f"{what} of {length[bad[0]]} digits is too large (at most {_MAX_INDEX_DIGITS})"
        problems.append((tokens[bad[0]], too_large))
    if len(problems) > found:
        return None
    place = np.repeat(stop, length) - 1 - pos
    return np.add.reduceat(digit * _POWERS[place], offsets)


def _numbers(data, start, stop, tokens, problems, message):
    """float64 values of the texts data[start:stop], cast by NumPy from a fixed-width byte array; None, with
    (token, ``message(token)``) appended to ``problems``, where a text is not a number."""
    if start.size == 0:
        return np.empty(0)
    length = stop - start
    found = len(problems)
    bad = np.flatnonzero(length == 0)
    if bad.size:
        problems.append((tokens[bad[0]], message(tokens[bad[0]])))
    bad = np.flatnonzero(length > MAX_VALUE_CHARS)
    if bad.size:
        head = data[start[bad[0]]:start[bad[0]] + 20]
        problems.append((tokens[bad[0]], f"a number of {length[bad[0]]} characters (at most {MAX_VALUE_CHARS}): {head!r}..."))
    if len(problems) > found:
        return None
    width = int(length.max())
    buf = np.frombuffer(data + bytes(width), dtype=np.uint8)
    chars = np.lib.stride_tricks.sliding_window_view(buf, width)[start]  # a copy: one row per text
    chars[np.arange(width) >= length[:, None]] = 0  # what follows the text (NUL pads an S string)
    texts = chars.view(f"S{width}").ravel()
    try:
        return texts.astype(np.float64)
    except ValueError:
        first = _first_not_a_number(texts)
        problems.append((tokens[first], message(tokens[first])))
        return None


def _first_not_a_number(texts) -> int:
    """The position of the first text NumPy cannot cast to float64 (by halving: O(n) casts in all)."""
    lo, hi = 0, texts.size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            texts[lo:mid].astype(np.float64)
        except ValueError:
            hi = mid
        else:
            lo = mid
    return lo


# ----------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------


def save_svmlight(path, X, y, *, zero_based: bool = False, query_ids=None, comment: str | None = None,
                  block_rows: int = 100_000) -> None:
    """Write the rows of X (a dense 2-D array or a ``scipy.sparse`` matrix) with labels y to ``path`` in the
    svmlight format, nonzeros only, indices 1-based (or 0-based with ``zero_based=True``), values in the
    shortest text that reads back as the same float64 (so :func:`read_svmlight` returns X exactly); integer
    labels are written without a decimal point. query_ids: optional non-negative integers, one per row,
    written as ``qid:<q>``; comment: a first line ``# comment`` (one line of text)."""
    import scipy.sparse as sp

    if not isinstance(zero_based, (bool, np.bool_)):
        raise TypeError(f"zero_based must be True or False, got {zero_based!r}")
    if sp.issparse(X):
        X = sp.csr_array(X, dtype=np.float64) if X.dtype.kind != "c" else X
    else:
        X = np.asarray(X)
    if X.dtype.kind == "c":
        raise TypeError("X holds complex numbers; the svmlight format holds real values")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be a numeric array or sparse matrix, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows = samples), got shape {X.shape}")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold numbers (the labels), got dtype {y.dtype}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must be a vector of {X.shape[0]} labels (one per row of X), got shape {y.shape}")
    y = y.astype(np.float64)
    values = X.data if sp.issparse(X) else X
    if not (np.isfinite(values).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite: the svmlight format has no NaN or infinite values")
    if query_ids is not None:
        query_ids = np.asarray(query_ids)
        if query_ids.shape != y.shape or query_ids.dtype.kind not in "iu" or (query_ids < 0).any():
            raise ValueError(f"query_ids must be {X.shape[0]} non-negative integers (one per row), got "
                             f"{query_ids.dtype} of shape {query_ids.shape}")
    if comment is not None and ("\n" in comment or "\r" in comment):
        raise ValueError("comment must be one line of text")
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        if comment is not None:
            fh.write(f"# {comment}\n")
        for lo in range(0, X.shape[0], block_rows):
            hi = min(lo + block_rows, X.shape[0])
            rows = sp.csr_array(X[lo:hi], dtype=np.float64)
            rows.eliminate_zeros()
            rows.sort_indices()
            qid = None if query_ids is None else query_ids[lo:hi]
            fh.write(_lines(rows, y[lo:hi], 0 if zero_based else 1, qid))


def _lines(rows, y, offset, qid) -> str:
    """The svmlight text of the CSR rows: label [qid:q] index:value ... per row, newline-terminated. Values
    are written by ``float.__repr__`` (the shortest text that reads back as the same float64), mapped over
    the entries in C; Python loops over rows only."""
    integral = (y == np.round(y)) & (np.abs(y) < 2.0**53)
    labels = [str(int(v)) if whole else repr(v) for v, whole in zip(y.tolist(), integral.tolist())]
    if qid is not None:
        labels = [f"{label} qid:{q}" for label, q in zip(labels, qid.tolist())]
    pairs = list(map(":".join, zip(map(str, (rows.indices.astype(np.int64) + offset).tolist()),
                                   map(repr, rows.data.tolist()))))
    bounds = rows.indptr.tolist()
    return "".join(" ".join([label, *pairs[lo:hi]]) + "\n" for label, lo, hi in zip(labels, bounds, bounds[1:]))
