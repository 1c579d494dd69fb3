"""Malformed data files into every loader format of ``ricci.problems.load`` (CSV, .npy, .npz, svmlight, and a
file without a known extension): random bytes, valid files cut short, forged .npy headers with huge shapes
and exotic dtypes, huge svmlight indices, archives whose members are not arrays.

Each property: ``load`` returns a Dataset of finite float64 features, or raises a ValueError or TypeError of
one line that names the file; never EOFError, BadZipFile, csv.Error, MemoryError, AttributeError, ...
(issue "Reliability and security", items 8 and 12).
"""

import io
import itertools
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems

FUZZ = settings.get_profile("ricci-fuzz")

EXTENSIONS = [".csv", ".tsv", ".txt", ".npy", ".npz", ".svm", ".libsvm", ""]
_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_loaders")


def _write(workdir, ext, content: bytes):
    path = workdir / f"f{next(_counter)}{ext}"
    path.write_bytes(content)
    return path


def check_load(path, **kwargs):
    """The property every loader must have, for any file."""
    try:
        ds = problems.load(path, **kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert str(path) in message, f"the error does not name the file: {message}"
        return None
    X = ds.X
    if str(path).endswith((".svm", ".libsvm")) or hasattr(X, "nnz"):  # svmlight: scipy.sparse CSR, never dense
        assert X.format == "csr" and X.dtype == np.float64 and X.ndim == 2 and np.isfinite(X.data).all()
    else:
        assert isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2 and np.isfinite(X).all()
    assert X.shape[0] > 0 and X.shape[1] > 0
    if ds.y is not None:
        assert ds.y.shape == (X.shape[0],) and np.isfinite(ds.y).all()
    return ds


# --- random bytes --------------------------------------------------------------------------------------------
@settings(FUZZ)
@given(ext=st.sampled_from(EXTENSIONS), content=st.binary(max_size=300), label=st.sampled_from([-1, None, 0]))
def test_random_bytes(workdir, ext, content, label):
    if ext in (".svm", ".libsvm") and label == 0:
        label = -1
    check_load(_write(workdir, ext, content), label=label)


NUMERIC_TOKENS = st.sampled_from(["1", "-2.5", "0", "1e308", "1e999", "nan", "inf", "-inf", "", " ", "abc", "NA",
                                  "?", "1,5", '"3"', '"a,b"', '"', "\x00", "٣", "²", "0x10", "1_0", "#", "a:b",
                                  "1:2", "qid:3", "99999999999:1", "0:0", "+1", "1e-320"])


@settings(FUZZ)
@given(ext=st.sampled_from([".csv", ".tsv", ".txt", ".svm", ""]),
       rows=st.lists(st.lists(NUMERIC_TOKENS, max_size=6), min_size=0, max_size=6),
       sep=st.sampled_from([",", ";", "\t", " ", ":"]), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_text_files_of_numbers_and_near_numbers(workdir, ext, rows, sep, newline):
    text = newline.join(sep.join(r) for r in rows)
    check_load(_write(workdir, ext, text.encode("utf-8")))


@settings(FUZZ, max_examples=20)
@given(length=st.sampled_from([131_072, 131_073, 200_000]), where=st.integers(0, 2))
def test_csv_fields_longer_than_the_csv_limit(workdir, length, where):
    cells = ["1", "2", "0"]
    cells[where] = "1" * length
    check_load(_write(workdir, ".csv", ("a,b,c\n1,2,0\n" + ",".join(cells) + "\n").encode()))


# --- valid files cut short -------------------------------------------------------------------------------------
def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npz_bytes(compressed: bool, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _valid_file(kind, arr):
    labels = (np.arange(arr.shape[0]) % 2).astype(float)
    if kind == ".npy":
        return _npy_bytes(arr)
    if kind == ".npz":
        return _npz_bytes(False, X=arr, y=labels)
    if kind == ".npzc":
        return _npz_bytes(True, X=arr, y=labels)
    if kind == ".csv":
        return "\n".join(",".join(repr(float(v)) for v in row) for row in arr).encode()
    lines = [f"{int(lab)} " + " ".join(f"{j + 1}:{float(v)!r}" for j, v in enumerate(row))
             for lab, row in zip(labels, arr)]
    return "\n".join(lines).encode()


ARRAYS = st.tuples(st.integers(1, 5), st.integers(2, 4), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).standard_normal((t[0], t[1])))


@settings(FUZZ)
@given(kind=st.sampled_from([".npy", ".npz", ".npzc", ".csv", ".svm"]), arr=ARRAYS, cut=st.floats(0, 1))
def test_truncated_valid_files(workdir, kind, arr, cut):
    content = _valid_file(kind, arr)
    ext = ".npz" if kind == ".npzc" else kind
    assert check_load(_write(workdir, ext, content)) is not None  # the whole file loads
    check_load(_write(workdir, ext, content[: int(cut * len(content))]))


@settings(FUZZ)
@given(kind=st.sampled_from([".npy", ".npz", ".npzc"]), arr=ARRAYS, data=st.data())
def test_bytes_flipped_in_valid_numpy_files(workdir, kind, arr, data):
    content = bytearray(_valid_file(kind, arr))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(content) - 1))
        content[i] = data.draw(st.integers(0, 255))
    check_load(_write(workdir, ".npz" if kind == ".npzc" else kind, bytes(content)))


# --- forged .npy headers -----------------------------------------------------------------------------------
def _npy_with_header(header: str, data: bytes = b"", version: int = 1) -> bytes:
    size_bytes = 2 if version == 1 else 4
    pad = -(len(header) + 1 + 6 + 2 + size_bytes) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY" + bytes([version, 0]) + len(text).to_bytes(size_bytes, "little") + text + data


DESCRS = st.sampled_from(["<f8", ">f8", "<f4", "<f2", "<i8", "|u1", "|b1", "<c16", "<c8", "|O", "<U5", "|S3", "|V0",
                          "|V8", "<M8[s]", "<m8[s]", "[('a', '<f8')]", "<f16", "foo", "", "<f8 "])
SHAPES = st.one_of(st.lists(st.integers(0, 2**62), max_size=3).map(tuple),
                   st.sampled_from(["(100000000000, 100000)", "(-1, 2)", "(2.5,)", "'x'", "(2, 3", "()", "None"]))


@settings(FUZZ)
@given(descr=DESCRS, shape=SHAPES, fortran=st.sampled_from(["False", "True", "0", "'no'"]),
       data=st.binary(max_size=64), version=st.sampled_from([1, 2]),
       ext=st.sampled_from([".npy", ".npz"]))
def test_forged_npy_headers(workdir, descr, shape, fortran, data, version, ext):
    descr_text = descr if descr.startswith("[") else repr(descr)
    header = f"{{'descr': {descr_text}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    content = _npy_with_header(header, data, version)
    if ext == ".npz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("X.npy", content)
        content = buf.getvalue()
    check_load(_write(workdir, ext, content))


# --- archives with wrong members ---------------------------------------------------------------------------
MEMBER_NAMES = st.sampled_from(["X.npy", "y.npy", "X", "y", "a.npy", "dir/", "dir/X.npy", "../X.npy", "X.txt", ""])
MEMBER_CONTENTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([_npy_bytes(np.ones((3, 2))), _npy_bytes(np.ones(3)), _npy_bytes(np.ones((2, 2)) + 1j),
                     _npy_bytes(np.array(["a", "b"])), _npy_bytes(np.ones((0, 2))), _npy_bytes(np.float64(1.0)),
                     _npz_bytes(False, X=np.ones((2, 2)))]),
)


@settings(FUZZ)
@given(members=st.lists(st.tuples(MEMBER_NAMES, MEMBER_CONTENTS), max_size=4),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
       label=st.sampled_from([-1, None, "y", "X", "z", 0]))
def test_archives_with_wrong_members(workdir, members, compression, label):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, content in dict(members).items():  # one member per name (zipfile warns on duplicates)
            if name:
                z.writestr(name, content)
    check_load(_write(workdir, ".npz", buf.getvalue()), label=label)


def test_zip_member_that_lies_about_its_size(workdir):
    """A member whose directory entry claims 1 TiB after decompression: refused from the header, unread."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("X.npy", _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2**37,), }"))
    check_load(_write(workdir, ".npz", buf.getvalue()))


def test_zip_member_with_an_empty_name(workdir):
    """Found by the long profile (a flipped byte): a member whose name is empty made zipfile's is_dir() raise
    IndexError from inside the loader."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo(""), b"\x93NUMPY")
    path = _write(workdir, ".npz", buf.getvalue())
    with pytest.raises(ValueError, match="member with an empty name"):
        problems.load(path)
    check_load(path)


# --- svmlight indices and values -------------------------------------------------------------------------------
@settings(FUZZ)
@given(lines=st.lists(st.tuples(st.sampled_from(["1", "-1", "0", "+1", "2.5", "x", "nan", ""]),
                                st.lists(st.tuples(st.one_of(st.integers(0, 10**15).map(str),
                                                             st.sampled_from(["", "-1", "qid", "٣", "²", "1.5", "0x1"])),
                                                   NUMERIC_TOKENS), max_size=4)), max_size=5),
       n_features=st.one_of(st.none(), st.integers(-2, 10), st.sampled_from([10**12, 2.5, True])),
       zero_based=st.sampled_from(["auto", True, False, "yes", None]))
def test_svmlight_indices_values_and_options(workdir, lines, n_features, zero_based):
    text = "\n".join(label + "".join(f" {k}:{v}" for k, v in pairs) for label, pairs in lines)
    path = _write(workdir, ".svm", text.encode())
    valid_n = n_features is None or (type(n_features) is int and n_features >= 1)
    valid_zero_based = zero_based is True or zero_based is False or zero_based == "auto"
    valid_options = valid_n and valid_zero_based
    if valid_options:
        check_load(path, n_features=n_features, zero_based=zero_based)
    else:  # an option out of range is named, whatever the file holds
        with pytest.raises(ValueError, match="n_features must be|zero_based must be"):
            problems.load(path, n_features=n_features, zero_based=zero_based)


@pytest.mark.parametrize("index", ["99999999999", "9" * 30, str(2**63), str(2**64 + 1)])
def test_svmlight_huge_index_is_a_value_error(workdir, index):
    path = _write(workdir, ".svm", f"1 {index}:1\n0 1:2\n".encode())
    # svmlight loads sparse: the width is refused where the solver's vector over it would not fit
    with pytest.raises(ValueError, match=r"a vector over its \d+ feature columns .* would need |feature index of "
                                         r"\d+ digits is too large"):
        problems.load(path)
