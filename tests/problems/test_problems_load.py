"""problems.load on good and broken CSV, .npy/.npz and svmlight files (written to tmp_path)."""
import numpy as np
import pytest
import scipy.sparse as sp
from ricci import problems


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_label_by_name_and_index(tmp_path):
    path = _write(tmp_path, "d.csv", "a,target,b\n1,0,2\n3,1,4.5\n# a comment\n\n5,1,6e-1\n")
    X, y = problems.load(path, label="target")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [5, 0.6]])
    np.testing.assert_array_equal(y, [0, 1, 1])
    ds = problems.load(path, label=1)
    assert ds.feature_names == ("a", "b") and ds.label_name == "target"
    ds = problems.load(path)  # default: the last column
    assert ds.label_name == "b" and ds.X.shape == (3, 2)


def test_csv_without_header_and_other_delimiters(tmp_path):
    X, y = problems.load(_write(tmp_path, "d.csv", "1,2,0\n3,4,1\n"))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])
    X, y = problems.load(_write(tmp_path, "d.tsv", "1\t2\t0\n3\t4\t1\n"), label=0)
    np.testing.assert_array_equal(X, [[2, 0], [4, 1]])
    X, y = problems.load(_write(tmp_path, "w.txt", "1 2 0\n3  4 1\n"), label=None)
    assert X.shape == (2, 3) and y is None


def test_csv_text_labels_are_coded(tmp_path):
    ds = problems.load(_write(tmp_path, "d.csv", "x,diagnosis\n1,M\n2,B\n3,M\n"), label="diagnosis",
                       task="classification")
    assert ds.classes == ("B", "M")
    np.testing.assert_array_equal(ds.y, [1, 0, 1])


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b,c\n1,2,3\n4,5\n", {}, r"line 3: 2 fields, expected 3.*ragged"),
    ("a,b,c\n1,2,3\n4,abc,6\n", {}, r"line 3, column 'b': 'abc' is not a number"),
    ("a,b,c\n1,,3\n", {}, r"line 2, column 'b': missing value"),
    ("a,b,c\n1,nan,3\n", {}, r"column 'b': 'nan' \(NaN"),
    ("a,b,c\n1,2,inf\n", {"label": 0}, r"column 'c'.*infinite"),
    ("a,b,c\n1,2,0\n3,4,0\n", {"task": "classification"}, r"single class"),
    ("a,b,c\n1,2,0.5\n3,4,1\n", {"task": "classification"}, r"integers"),
    ("a,b,c\n1,2,0\n", {"label": "d"}, r"no column named 'd'"),
    ("1,2,0\n", {"label": "c"}, r"no header row"),
    ("a,b,c\n1,2,0\n", {"label": 5}, r"out of range"),
    ("", {}, r"empty"),
    ("a,b\n", {}, r"no data rows"),
])
def test_broken_csv(tmp_path, text, kwargs, match):
    with pytest.raises(ValueError, match=match):
        problems.load(_write(tmp_path, "bad.csv", text), **kwargs)


def test_npy_and_npz(tmp_path):
    arr = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "a.npy", arr)
    X, y = problems.load(tmp_path / "a.npy")
    np.testing.assert_array_equal(X, arr[:, :2])
    np.testing.assert_array_equal(y, arr[:, 2])
    X, y = problems.load(tmp_path / "a.npy", label=None)
    assert y is None and X.shape == (4, 3)
    np.savez(tmp_path / "b.npz", X=arr, y=np.array([0, 1, 0, 1]))
    X, y = problems.load(tmp_path / "b.npz")
    assert X.shape == (4, 3) and list(y) == [0, 1, 0, 1]
    np.savez(tmp_path / "c.npz", feats=arr, target=np.ones(4))
    X, y = problems.load(tmp_path / "c.npz", label="target")
    assert X.shape == (4, 3) and y.sum() == 4


@pytest.mark.parametrize("make, match", [
    (lambda p: np.save(p / "x.npy", np.array([1.0, np.nan]).reshape(1, 2)), "NaN"),
    (lambda p: np.save(p / "x.npy", np.ones(3)), "2-D"),
    (lambda p: np.save(p / "x.npy", np.array([["a", "b"]])), "numeric"),
    (lambda p: np.savez(p / "x.npz", X=np.ones((3, 2)), y=np.ones(2)), "3 labels"),
    (lambda p: np.savez(p / "x.npz", a=np.ones((3, 2)), b=np.ones((3, 2))), "none named 'y'"),
])
def test_broken_numpy_files(tmp_path, make, match):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match=match):
        problems.load(path)


def test_svmlight(tmp_path):
    path = _write(tmp_path, "d.svm", "# header comment\n+1 1:0.5 3:2\n-1 qid:3 2:1.5 # trailing\n1 1:1e-1\n")
    with pytest.warns(UserWarning, match=r"d\.svm: the query ids \(qid:\) of 1 samples are ignored"):
        ds = problems.load(path, task="classification")
    assert sp.issparse(ds.X) and ds.X.format == "csr" and ds.X.nnz == 4
    np.testing.assert_array_equal(ds.X.toarray(), [[0.5, 0, 2], [0, 1.5, 0], [0.1, 0, 0]])
    np.testing.assert_array_equal(ds.y, [1, -1, 1])
    np.testing.assert_array_equal(ds.notes["query_ids"], [-1, 3, -1])
    assert ds.notes["zero_based"] is False
    X, _ = problems.load(_write(tmp_path, "z.libsvm", "0 0:1 2:3\n1 1:2\n"), n_features=5)
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 3, 0, 0], [0, 2, 0, 0, 0]])
    X, _ = problems.load(_write(tmp_path, "noext", "1 1:2\n0 2:3\n"))  # detected from the content
    assert X.shape == (2, 2)


@pytest.mark.parametrize("text, match", [
    ("1 1:a\n", r"line 1, feature 1: 'a' is not a number"),
    ("x 1:2\n", r"line 1: the line must start with a numeric label"),
    ("1 3:1 2:1\n", r"indices must increase"),
    ("1 1-2\n", r"expected index:value"),
    ("1 1:nan\n", r"NaN"),
    ("1 1:1\n1 2:1\n", r"single class"),
])
def test_broken_svmlight(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        problems.load(_write(tmp_path, "bad.svm", text), task="classification")


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data file"):
        problems.load(tmp_path / "nope.csv")
    path = _write(tmp_path, "d.csv", "1,0\n2,1\n")
    with pytest.raises(ValueError, match="format must be one of"):
        problems.load(path, format="xlsx")
    with pytest.raises(ValueError, match="task"):
        problems.load(path, task="ranking")
    with pytest.raises(TypeError, match="label must be"):
        problems.load(path, label=1.5)


def test_loaded_data_feeds_a_problem(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] + 0.3 * rng.standard_normal(30) > 0).astype(int)
    lines = ["f1,f2,f3,label"] + [",".join(f"{v:.17g}" for v in row) + f",{t}" for row, t in zip(X, y)]
    X2, y2 = problems.load(_write(tmp_path, "d.csv", "\n".join(lines)), label="label")
    np.testing.assert_array_equal(X2, X)
    p = problems.logistic_regression(X2, y2, lam=0.1)
    assert p.solve("newton").success


# --- cases that once failed (issue "Reliability and security", items 8, 12, 13) ---------------------------
def _npy_with_header(path, header: str):
    """A .npy file of format 1.0 with the given header dictionary text and no data."""
    text = header + " " * (-(len(header) + 11) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1"))
    return path


def _zip(path, members: dict):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("name, make, match", [
    # empty .npy/.npz: EOFError "No data left in file"
    ("e.npy", lambda p: p.write_bytes(b""), r"e\.npy: the file is not a NumPy \.npy array"),
    ("e.npz", lambda p: p.write_bytes(b""), r"e\.npz: not a NumPy \.npz archive"),
    # a broken zip: zipfile.BadZipFile
    ("b.npz", lambda p: p.write_bytes(b"PK\x03\x04garbage"), r"b\.npz: not a NumPy \.npz archive"),
    # an .npz member that is not an array: AttributeError "'bytes' object has no attribute 'dtype'"
    ("m.npz", lambda p: _zip(p, {"X.npy": b"hello"}), r"m\.npz: member 'X\.npy' is not a NumPy \.npy array"),
    # a header declaring a huge shape: MemoryError "Unable to allocate 71.1 PiB"
    ("h.npy", lambda p: _npy_with_header(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, "
                                           "100000), }"), r"h\.npy: .*71\.1 PiB.*truncated or corrupt"),
    # a truncated file
    ("t.npy", lambda p: p.write_bytes(_npy_bytes(np.ones((4, 3)))[:-5]), r"t\.npy: .*truncated"),
    # pickled objects are never read
    ("o.npy", lambda p: np.save(p, np.array([{}, 1], dtype=object), allow_pickle=True), r"pickled"),
    # an .npz holding only the labels said "among ; name it 'X'"
    ("y.npz", lambda p: np.savez(p, y=np.ones(3)), r"only the labels 'y'; store the features .* 'X'"),
])
def test_malformed_numpy_files_are_one_line_value_errors(tmp_path, name, make, match):
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError, match=match) as info:
        problems.load(path)
    assert "\n" not in str(info.value)


def _npy_bytes(arr):
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_fortran_order_and_big_endian_npy_read_as_numpy_does(tmp_path):
    arr = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "f.npy", np.asfortranarray(arr))
    np.save(tmp_path / "b.npy", arr.astype(">f8"))
    np.testing.assert_array_equal(problems.load(tmp_path / "f.npy", label=None).X, arr)
    np.testing.assert_array_equal(problems.load(tmp_path / "b.npy", label=None).X, arr)
    np.savez_compressed(tmp_path / "c.npz", X=arr, y=np.array([0, 1, 0]))
    X, y = problems.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(X, arr) and np.testing.assert_array_equal(y, [0, 1, 0])


@pytest.mark.parametrize("make", [lambda p: np.save(p / "c.npy", np.ones((3, 2)) + 1j),
                                  lambda p: np.savez(p / "c.npz", X=np.ones((3, 2)) + 1j, y=np.ones(3))])
def test_complex_data_is_a_type_error(tmp_path, make):
    """Once cast to real with a ComplexWarning, dropping the imaginary part."""
    make(tmp_path)
    with pytest.raises(TypeError, match=r"complex numbers \(dtype complex128\); ricci needs real data"):
        problems.load(next(tmp_path.iterdir()))


def test_csv_field_over_the_csv_limit_names_the_line(tmp_path):
    """Once csv.Error "field larger than field limit (131072)"."""
    path = _write(tmp_path, "big.csv", "a,b\n1,2\n" + "1" * 200_000 + ",2\n")
    with pytest.raises(ValueError, match=r"big\.csv, line 3: a field longer than 131072 characters"):
        problems.load(path)


def test_svmlight_huge_index_is_refused_before_allocating(tmp_path):
    """Once MemoryError "Unable to allocate 1.46 TiB" from a two-line file (when svmlight loaded densely);
    sparse, X fits, but the solver's vector over 10^11 columns (745 GiB) would not."""
    path = _write(tmp_path, "huge.svm", "1 99999999999:1\n0 1:2\n")
    with pytest.raises(ValueError, match=r"huge\.svm: a vector over its 99999999999 feature columns .* 745 GiB"):
        problems.load(path)


@pytest.mark.parametrize("index", ["\u00b2", "\u0663", "1\u00b2"])
def test_svmlight_non_ascii_digit_index(tmp_path, index):
    """'²'.isdigit() is True but int('²') raises a bare "invalid literal for int()"; Arabic-Indic '٣' was
    silently read as 3."""
    with pytest.raises(ValueError, match=r"line 1: feature index .*ASCII digits"):
        problems.load(_write(tmp_path, "d.svm", f"1 {index}:1\n"))


def test_svmlight_n_features_is_checked(tmp_path):
    path = _write(tmp_path, "d.svm", "1 1:1\n0 2:1\n")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_features must be an integer >= 1"):
            problems.load(path, n_features=bad)


def test_directory_without_data_files(tmp_path):
    """A directory is read as parts (test_load_large.py); one without data files is a clear error."""
    (tmp_path / "notes.md").write_text("no data here")
    with pytest.raises(ValueError, match="the directory holds no data files"):
        problems.load(tmp_path)


def test_svmlight_wide_sparse_file_stays_sparse(tmp_path):
    """A feature index of 10^8 in a two-line file once had to be refused (a 1.5 GiB dense matrix of two
    nonzeros); as CSR it holds its two nonzeros."""
    X, _ = problems.load(_write(tmp_path, "s.svm", "1 100000000:1\n0 1:2\n"))
    assert sp.issparse(X) and X.shape == (2, 100_000_000) and X.nnz == 2
    assert X[0, 99_999_999] == 1 and X[1, 0] == 2


@pytest.mark.parametrize("shape", ["(0, 4611686018427387904)", "(0, 2305843009213693951)", "(0, 3)"])
def test_empty_array_declaring_many_columns(tmp_path, shape):
    """An empty .npy of shape (0, 2^62) once made a Python list of 2^62 column indices (memory without end)."""
    path = _npy_with_header(tmp_path / "e.npy", f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}")
    with pytest.raises(ValueError, match=r"e\.npy: (the array is empty|the file declares the shape)"):
        problems.load(path)
