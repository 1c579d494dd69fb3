"""Large and sparse data: svmlight files as CSR (round trip, malformed lines), lazy Dask loading of .npy,
.csv and .parquet parts (the requested blocks, no compute at load), and logistic / softmax regression on
sparse and Dask X against the NumPy answer; ``ricci solve --data ... --chunks`` through the command.

Oracles: the matrix that was written (round trips), NumPy's solve of the same problem (solutions), a Dask
callback counting computations (laziness).
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.problems import _cli, _svmlight
from ricci.solvers import minimize


def _write(folder, name, text):
    path = folder / name
    path.write_bytes(text.encode("utf-8"))  # as written: no newline translation
    return path


def _sparse_matrix(rng, m, n, density):
    X = sp.random(m, n, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = rng.standard_normal(X.nnz) * 10.0 ** rng.integers(-300, 300, X.nnz)  # the whole float64 range
    return X


# ------------------------------------------------------------------------------------------------------------
# svmlight <-> CSR
# ------------------------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 60), density=st.floats(0.0, 0.5), seed=st.integers(0, 2**16),
       zero_based=st.booleans(), integer_labels=st.booleans(), block=st.sampled_from([64, 1 << 25]))
def test_svmlight_round_trip_is_exact_and_sparse(m, n, density, seed, zero_based, integer_labels, block):
    rng = np.random.default_rng(seed)
    X = _sparse_matrix(rng, m, n, density)
    y = rng.integers(-3, 4, m).astype(float) if integer_labels else rng.standard_normal(m)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.svm")
        problems.save_svmlight(path, X, y, zero_based=zero_based, comment="written by the round-trip test")
        got = _svmlight.read_svmlight(path, n_features=n, zero_based=zero_based, block_bytes=block)
    assert sp.issparse(got.X) and got.X.format == "csr" and got.X.shape == (m, n)
    assert got.X.nnz == X.nnz  # nonzeros only: never a dense matrix
    assert (got.X != X).nnz == 0  # bit-exact values (the shortest repr reads back as the same float64)
    np.testing.assert_array_equal(got.y, y)
    assert got.zero_based is zero_based or X.nnz == 0


def test_svmlight_from_dense_array_and_load_detects_the_base(tmp_path):
    X = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.25]])
    problems.save_svmlight(tmp_path / "d.svm", X, np.array([1, 0]), zero_based=True)
    assert (tmp_path / "d.svm").read_text() == "1 1:1.5\n0 0:2.0 2:-3.25\n"
    ds = problems.load(tmp_path / "d.svm")
    assert sp.issparse(ds.X) and ds.notes["zero_based"] is True
    np.testing.assert_array_equal(ds.X.toarray(), X)
    assert ds.feature_names == ("feature 0", "feature 1", "feature 2")


def test_svmlight_blanks_comments_and_line_endings(tmp_path):
    """Tabs, CRLF, a byte-order mark, comments after values and comment-only lines."""
    text = "\ufeff# a header\r\n1\t1:2 \t 3:4  # x:y\r\n\r\n   # only a comment\n-1 2:5e-1\n0\n"
    X, y = problems.load(_write(tmp_path, "w.svm", text))
    np.testing.assert_array_equal(X.toarray(), [[2, 0, 4], [0, 0.5, 0], [0, 0, 0]])
    np.testing.assert_array_equal(y, [1, -1, 0])


@pytest.mark.parametrize("line, match", [
    ("1 2:x", r"line 4, feature 2: 'x' is not a number"),
    ("abc 1:1", r"line 4: the line must start with a numeric label, got 'abc'"),
    ("1:1 2:2", r"line 4: the line must start with a numeric label, got '1:1'"),
    ("1 1:2:3", r"line 4: expected index:value, got '1:2:3'"),
    ("1 2", r"line 4: expected index:value, got '2'"),
    ("1 a:2", r"line 4: feature index 'a' is not a non-negative integer"),
    ("1 -2:2", r"line 4: feature index '-2' is not a non-negative integer"),
    ("1 :2", r"line 4: feature index '' is not"),
    ("1 2:", r"line 4, feature 2: '' is not a number"),
    ("1 3:1 2:1", r"line 4: feature indices must increase, got 2 after 3"),
    ("1 2:1 2:1", r"line 4: feature indices must increase, got 2 after 2"),
    ("1 2:inf", r"line 4, feature 2: 'inf' \(NaN or infinite"),
    ("nan 2:1", r"line 4: label 'nan' is not finite"),
    ("1 qid:x 2:1", r"line 4: query id 'x' is not"),
    ("1 1234567890123456789:1", r"line 4: feature index of 19 digits is too large"),
    ("1 2:" + "1" * 70, r"line 4: a number of 70 characters"),
])
@pytest.mark.parametrize("block", [16, 1 << 25], ids=["small-blocks", "one-block"])
def test_malformed_svmlight_line_is_named(tmp_path, line, match, block):
    path = _write(tmp_path, "bad.svm", f"# comment\n1 1:1 3:2\n\n{line}\n0 1:3\n")
    with pytest.raises(ValueError, match=match) as info:
        _svmlight.read_svmlight(path, block_bytes=block)
    assert str(info.value).startswith(f"{path}, line 4")
    with pytest.raises(ValueError, match=match):  # the same through load
        problems.load(path)


def test_the_first_malformed_token_is_reported(tmp_path):
    """Several kinds of problem in one file: the earliest line is named, whatever the kind."""
    path = _write(tmp_path, "two.svm", "1 1:1\n1 3:1 2:1\n1 1:x\n")
    with pytest.raises(ValueError, match=r"line 2: feature indices must increase"):
        problems.load(path)


def test_svmlight_base_and_width(tmp_path):
    path = _write(tmp_path, "b.svm", "1 1:1\n0 3:2\n")
    X, _ = problems.load(path, n_features=10)
    assert X.shape == (2, 10) and X[1, 2] == 2
    X, _ = problems.load(path, zero_based=True)
    assert X.shape == (2, 4) and X[1, 3] == 2
    with pytest.raises(ValueError, match=r"n_features=2, but the file has feature index 3"):
        problems.load(path, n_features=2)
    with pytest.raises(ValueError, match=r"feature index 0 in a file read as 1-based"):
        problems.load(_write(tmp_path, "z.svm", "1 0:1\n"), zero_based=False)
    with pytest.raises(ValueError, match="the file is empty"):
        problems.load(_write(tmp_path, "e.svm", "# nothing\n\n"))


def test_save_svmlight_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match=r"y must be a vector of 2 labels"):
        problems.save_svmlight(tmp_path / "a.svm", np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        problems.save_svmlight(tmp_path / "a.svm", np.array([[np.nan]]), np.ones(1))
    with pytest.raises(TypeError, match="complex"):
        problems.save_svmlight(tmp_path / "a.svm", np.eye(2) * 1j, np.ones(2))
    with pytest.raises(ValueError, match="one line"):
        problems.save_svmlight(tmp_path / "a.svm", np.eye(2), np.ones(2), comment="a\nb")


def test_svmlight_query_ids_round_trip_and_are_kept_out_of_X(tmp_path):
    X = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    problems.save_svmlight(tmp_path / "q.svm", X, np.array([1, 0]), query_ids=np.array([7, 8]))
    assert (tmp_path / "q.svm").read_text().splitlines()[0] == "1 qid:7 1:1.0"
    with pytest.warns(UserWarning, match="query ids"):
        ds = problems.load(tmp_path / "q.svm")
    assert (ds.X != X).nnz == 0
    np.testing.assert_array_equal(ds.notes["query_ids"], [7, 8])


# ------------------------------------------------------------------------------------------------------------
# Lazy loading into Dask
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def da():
    return pytest.importorskip("dask.array")


def _table(rng, m=103, n=4):
    A = rng.standard_normal((m, n + 1))
    A[:, -1] = (A[:, :n] @ rng.standard_normal(n) + 0.3 * rng.standard_normal(m) > 0)
    return A


def _blocks(sizes, chunks):
    """The row blocks of parts of ``sizes`` rows cut into ``chunks`` rows each (a block never spans parts)."""
    return tuple(b for s in sizes for b in [chunks] * (s // chunks) + ([s % chunks] if s % chunks else []))


@pytest.mark.parametrize("chunks", [1, 20, 103, 500])
def test_npy_is_memory_mapped_into_the_requested_blocks(tmp_path, rng, da, computes, chunks):
    A = _table(rng)
    np.save(tmp_path / "a.npy", A)
    with computes() as count:
        ds = problems.load(tmp_path / "a.npy", chunks=chunks, task="classification")
        assert count.n == 0  # nothing read or computed at load
    assert ds.lazy and isinstance(ds.X, da.Array) and isinstance(ds.y, da.Array)
    assert ds.X.chunks == (_blocks([103], min(chunks, 103)), (4,)) and ds.y.chunks[0] == ds.X.chunks[0]
    assert f"Dask blocks of {min(chunks, 103)} rows" in repr(ds)
    np.testing.assert_array_equal(ds.X.compute(), A[:, :4])
    np.testing.assert_array_equal(ds.y.compute(), A[:, 4])


def test_npy_graph_holds_the_file_name_not_the_data(tmp_path, rng, da):
    """Blocks open the memory map when they run: the graph pickles small (worker processes get a name)."""
    import pickle

    A = rng.standard_normal((20_000, 10))  # 1.6 MB
    np.save(tmp_path / "big.npy", A)
    X = problems.load(tmp_path / "big.npy", label=None, chunks=5000).X
    assert len(pickle.dumps(dict(X.__dask_graph__()))) < 20_000
    np.testing.assert_array_equal(X[4990:5010].compute(), A[4990:5010])


@pytest.mark.parametrize("kind", ["npy", "csv", "parquet"])
@pytest.mark.parametrize("as_directory", [False, True], ids=["glob", "directory"])
def test_parts_are_concatenated_lazily(tmp_path, rng, da, computes, kind, as_directory):
    if kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
    A = _table(rng)
    sizes = [40, 40, 23]
    bounds = np.cumsum([0] + sizes)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part = A[lo:hi]
        if kind == "npy":
            np.save(folder / f"part-{i}.npy", part)
        elif kind == "csv":
            lines = ["a,b,c,d,label"] + [",".join(repr(float(v)) for v in row) for row in part]
            _write(folder, f"part-{i}.csv", "\n".join(lines) + "\n")
        else:
            pq.write_table(pa.table({c: part[:, j] for j, c in enumerate(["a", "b", "c", "d", "label"])}),
                           folder / f"part-{i}.parquet")
    source = folder if as_directory else folder / f"part-*.{kind}"
    label = -1 if kind == "npy" else "label"
    with computes() as count:
        ds = problems.load(source, label=label, chunks=16)
        assert count.n == 0
    assert ds.X.chunks == (_blocks(sizes, 16), (4,)) and ds.notes["parts"] == 3
    if kind != "npy":
        assert tuple(ds.feature_names) == ("a", "b", "c", "d") and ds.label_name == "label"
    np.testing.assert_array_equal(ds.X.compute(), A[:, :4])
    np.testing.assert_array_equal(ds.y.compute(), A[:, 4])
    whole = problems.load(source, label=label)  # chunks=None: one block per part
    assert whole.X.chunks[0] == tuple(sizes)


def test_malformed_csv_part_is_reported_when_computed(tmp_path, da):
    """A CSV part is parsed in its task: its error names the file and line (ricci's CSV reader's message)."""
    folder = tmp_path / "p"
    folder.mkdir()
    _write(folder, "a.csv", "1,2,0\n3,4,1\n")
    _write(folder, "b.csv", "5,6,0\n7,x,1\n")
    ds = problems.load(folder, chunks=1)
    with pytest.raises(ValueError, match=r"b\.csv, line 2, column 'column 1': 'x' is not a number"):
        ds.X.compute()


def test_lazy_loading_errors(tmp_path, rng, da, monkeypatch):
    folder = tmp_path / "p"
    folder.mkdir()
    np.save(folder / "a.npy", np.ones((3, 3)))
    _write(folder, "b.csv", "1,2,3\n")
    with pytest.raises(ValueError, match=r"the parts mix formats \(csv, npy\)"):
        problems.load(folder)
    with pytest.raises(FileNotFoundError, match="no data files match"):
        problems.load(tmp_path / "nothing-*.npy")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="chunks must be a number of rows per block"):
            problems.load(folder / "a.npy", chunks=bad)
    np.savez(tmp_path / "z.npz", X=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\.npz archives cannot be read by blocks of rows"):
        problems.load(tmp_path / "z.npz", chunks=2)
    np.save(tmp_path / "v.npy", np.ones(5))
    with pytest.raises(ValueError, match=r"must be 2-D"):
        problems.load(tmp_path / "v.npy", chunks=2)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as where pyarrow is not installed
    _write(tmp_path, "t.parquet", "not parquet")
    with pytest.raises(ImportError, match="pip install pyarrow"):
        problems.load(tmp_path / "t.parquet", chunks=2)


def test_parts_of_different_widths_are_refused(tmp_path, da):
    folder = tmp_path / "p"
    folder.mkdir()
    np.save(folder / "a.npy", np.ones((3, 3)))
    np.save(folder / "b.npy", np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"b\.npy: 4 columns, but .*a\.npy has 3"):
        problems.load(folder)


def test_svmlight_parts_stack_into_one_csr(tmp_path, rng):
    """Sparse parts load as Dask blocks of CSR rows (blocks of ``chunks`` rows within each part; one block per
    part without chunks), which compute to one CSR matrix; the base is decided over all parts (index 0 in one
    part makes every part 0-based)."""
    X = _sparse_matrix(rng, 30, 12, 0.3)
    y = rng.integers(0, 2, 30)
    folder = tmp_path / "s"
    folder.mkdir()
    for i, (lo, hi) in enumerate([(0, 10), (10, 25), (25, 30)]):
        problems.save_svmlight(folder / f"p{i}.svm", X[lo:hi], y[lo:hi])
    ds = problems.load(folder / "p*.svm", chunks=4)
    assert ds.lazy and ds.X.shape == (30, 12) and ds.X.chunks[0] == (4, 4, 2, 4, 4, 4, 3, 4, 1)
    assert (ds.X.compute() != X).nnz == 0 and ds.notes["zero_based"] is False
    np.testing.assert_array_equal(ds.y.compute(), y)
    _write(folder, "p3.svm", "1 0:5\n")
    ds = problems.load(folder)
    assert ds.notes["zero_based"] is True and ds.X.chunks == ((10, 15, 5, 1), (13,))
    Xc = ds.X.compute()
    assert sp.issparse(Xc) and Xc[30, 0] == 5 and (Xc[:30, 1:] != X).nnz == 0


def test_core_imports_no_dask():
    code = "import ricci, ricci.problems, ricci.symbolic, ricci.solvers, sys; print([m for m in sys.modules if " \
           "m.split('.')[0] in ('dask', 'distributed', 'pyarrow')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------------------------
# Logistic and softmax regression on sparse and Dask X
# ------------------------------------------------------------------------------------------------------------


def _classification(rng, m=240, n=12, density=0.3, k=2):
    X = _sparse_matrix(rng, m, n, density)
    X.data = rng.standard_normal(X.nnz)
    labels = np.argmax(X @ rng.standard_normal((n, k)) + 0.5 * rng.standard_normal((m, k)), axis=1)
    return X, labels.astype(float)


@pytest.mark.parametrize("method", ["newton", "trust-exact", "trust-ncg"])
def test_logistic_regression_on_sparse_and_dask_x_gives_the_numpy_solution(rng, da, dask_synchronous, method):
    Xs, y = _classification(rng, m=120)
    reference = problems.logistic_regression(Xs.toarray(), y, lam=0.1).solve(method, tol=1e-10)
    assert reference.success
    kinds = [(Xs, y), (sp.csr_matrix(Xs), y)]
    if method != "trust-ncg":  # Dask's trust-ncg computes once per CG step: slow, and covered for softmax below
        kinds.append((da.from_array(Xs.toarray(), chunks=(60, 12)), da.from_array(y, chunks=60)))
    for X, labels in kinds:
        p = problems.logistic_regression(X, labels, lam=0.1)
        result = p.solve(method, tol=1e-10)
        assert result.success
        np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)


def test_logistic_regression_from_loaded_files(tmp_path, rng, da, dask_synchronous, computes):
    """svmlight -> CSR and .npy -> Dask blocks, straight into the problem; Dask data stays lazy until then."""
    Xs, y = _classification(rng, m=120)
    problems.save_svmlight(tmp_path / "d.svm", Xs, y)
    np.save(tmp_path / "d.npy", np.column_stack([Xs.toarray(), y]))
    reference = problems.logistic_regression(Xs.toarray(), y, lam=0.1).solve("newton", tol=1e-10)
    X, labels = problems.load(tmp_path / "d.svm", n_features=12)
    assert sp.issparse(X)
    np.testing.assert_allclose(problems.logistic_regression(X, labels, lam=0.1).solve("newton", tol=1e-10).x,
                               reference.x, rtol=0, atol=1e-8)
    with computes() as count:
        X, labels = problems.load(tmp_path / "d.npy", chunks=60)
        assert count.n == 0
    p = problems.logistic_regression(X, labels, lam=0.1)
    assert p.data["X"].chunks[0] == (60, 60)  # the chunking is kept (no rechunk to one block)
    np.testing.assert_allclose(p.solve("newton", tol=1e-10).x, reference.x, rtol=0, atol=1e-8)


def test_softmax_regression_on_sparse_and_dask_x_gives_the_numpy_solution(rng, da, dask_synchronous):
    """First order (L-BFGS) through the problem, and second order through exact Hessian-vector products."""
    Xs, labels = _classification(rng, m=120, n=8, k=3)
    reference = problems.softmax_regression(Xs.toarray(), labels, lam=0.1, intercept=False).solve("newton",
                                                                                                  tol=1e-11)
    for X, y in [(Xs, labels), (da.from_array(Xs.toarray(), chunks=(60, 8)), da.from_array(labels, chunks=60))]:
        p = problems.softmax_regression(X, y, lam=0.1, intercept=False)
        if sp.issparse(X):  # (Dask's L-BFGS takes 5 s here: several computations per iteration, issue 13 item 1)
            result = p.solve("lbfgs", tol=1e-10)
            np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)
        obj = p.objective
        result = minimize(obj.fun, p.x0, jac=obj.jac, hessp=obj.hessp, method="trust-ncg", tol=1e-10)
        assert result.success
        np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", ["sparse", "dask"])
def test_softmax_newton_on_sparse_and_dask_x(rng, da, dask_synchronous, kind):
    """The softmax Hessian's blocks X' diag(p_j p_l) X are products with X (``_lower.gram_blocks``): Newton on
    CSR and on Dask X (two blockings) reaches the NumPy solution, and the Hessian operator equals NumPy's.
    (Once: xp.take of X's column pairs failed on both kinds.)"""
    Xs, labels = _classification(rng, m=60, k=3)
    dense = problems.softmax_regression(Xs.toarray(), labels, lam=0.1, intercept=False)
    reference = dense.solve("newton", tol=1e-10)
    assert reference.success
    blockings = [Xs] if kind == "sparse" else [da.from_array(Xs.toarray(), chunks=(c, 12)) for c in (7, 60)]
    x = rng.standard_normal(dense.x0.shape)
    for X in blockings:
        p = problems.softmax_regression(X, labels, lam=0.1, intercept=False)
        np.testing.assert_allclose(p.objective.hess_operator(x).to_dense(), dense.objective.hess(x), rtol=0,
                                   atol=1e-10)
    result = p.solve("newton", tol=1e-10)  # on the last (Dask: one block of rows; the tests below: several)
    assert result.success
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)


def test_problem_builders_check_lazy_labels(da):
    X = da.ones((6, 2), chunks=3)
    with pytest.raises(ValueError, match="single class"):
        problems.logistic_regression(X, da.zeros(6, chunks=3))
    with pytest.raises(ValueError, match=r"labels in \{0, 1\} or \{-1, \+1\}"):
        problems.logistic_regression(X, da.arange(6, chunks=3).astype(float))
    with pytest.raises(ValueError, match="class labels must be integers"):
        problems.softmax_regression(X, da.from_array(np.array([0, 1, 2, 0, 1, 2.5]), chunks=3))
    with pytest.raises(ValueError, match="one-hot"):
        problems.softmax_regression(X, da.from_array(np.full((6, 3), 0.5), chunks=3))
    onehot = problems.softmax_regression(X, da.from_array(np.eye(3)[[0, 1, 2, 0, 1, 2]], chunks=3)).data["Y"]
    assert isinstance(onehot, da.Array)  # stays lazy
    with pytest.raises(TypeError, match="complex"):
        problems.logistic_regression(X.astype(complex), da.from_array(np.array([0.0, 1.0] * 3), chunks=3))
    with pytest.raises(ValueError, match=r"NaN or infinite .*stored entries"):
        problems.logistic_regression(sp.csr_array(np.array([[np.nan, 1.0], [0.0, 1.0]])), np.array([0, 1]))


# ------------------------------------------------------------------------------------------------------------
# The command
# ------------------------------------------------------------------------------------------------------------


def test_cli_solves_svmlight_and_chunked_npy_data(tmp_path, rng, da, dask_synchronous, capsys):
    Xs, y = _classification(rng, m=120)
    problems.save_svmlight(tmp_path / "d.svm", Xs, y)
    parts = tmp_path / "parts"
    parts.mkdir()
    table = np.column_stack([Xs.toarray(), y])
    np.save(parts / "a.npy", table[:70])
    np.save(parts / "b.npy", table[70:])
    reference = problems.logistic_regression(Xs.toarray(), y, lam=1e-2).solve("newton", tol=1e-10)
    for data in (str(tmp_path / "d.svm"), str(parts / "*.npy")):
        js = tmp_path / "runs.json"
        status = _cli.main(["solve", "logistic-regression", "--data", data, "--chunks", "50", "--method", "newton",
                            "--tol", "1e-10", "--json", str(js), "--progress", "never"])
        assert status == 0
        run = json.loads(js.read_text())["runs"][0]
        assert run["success"] and abs(run["fun"] - reference.fun) <= 1e-10 * abs(reference.fun)
    out = capsys.readouterr().out
    assert "newton" in out and "converged" in out


def test_cli_chunks_errors(tmp_path, capsys):
    np.save(tmp_path / "d.npy", np.ones((4, 3)))
    for argv, match in [
        (["solve", "logistic-regression", "--chunks", "0", "--data", str(tmp_path / "d.npy")], "--chunks must be"),
        (["solve", "logistic-regression", "--chunks", "10"], "--chunks reads --data by blocks"),
        (["solve", "matrix-factorization", "--data", str(tmp_path / "d.npy"), "--chunks", "2"],
         "--chunks does not apply"),
    ]:
        with pytest.raises(SystemExit) as info:
            _cli.main(argv)
        assert info.value.code == 2
        assert match in capsys.readouterr().err


def test_cli_expr_takes_sparse_and_chunked_data(tmp_path, rng, da, dask_synchronous):
    """--expr with X from svmlight (kept sparse) and from a .npy read by --chunks, y a memory-mapped vector:
    the same minimum as the NumPy objective."""
    import ricci.symbolic as rs

    Xs, labels = _classification(rng, m=90)
    y = 2 * labels - 1
    problems.save_svmlight(tmp_path / "X.svm", Xs, labels)
    np.save(tmp_path / "X.npy", Xs.toarray())
    np.save(tmp_path / "y.npy", y)
    expr = "sum(log(1+exp(-y.*(X*w)))) + 0.5*lam*w'*w"
    f = rs.parse(expr, X=Xs.shape, y=y.shape, lam=())
    reference = minimize(rs.Objective(f, "w", {"X": Xs.toarray(), "y": y, "lam": 0.1}), np.zeros(12),
                         method="newton", tol=1e-11)
    for X_file, extra in [("X.svm", []), ("X.npy", ["--chunks", "30"])]:
        js = tmp_path / "runs.json"
        status = _cli.main(["solve", "--expr", expr, "--data", f"X={tmp_path / X_file}", "--data",
                            f"y={tmp_path / 'y.npy'}", "--param", "lam=0.1", "--wrt", "w", "--method", "newton",
                            "--tol", "1e-10", "--json", str(js), "--progress", "never", *extra])
        assert status == 0
        run = json.loads(js.read_text())["runs"][0]
        assert run["success"] and abs(run["fun"] - reference.fun) <= 1e-10 * abs(reference.fun)


def test_cli_progress_shows_the_data_passes_of_each_iteration(tmp_path, rng, da, dask_synchronous, capsys):
    """--progress always on Dask data: one line per iteration, each with the Dask computations it cost
    (Newton: at most two, f with g and then the Hessian's arrays)."""
    Xs, y = _classification(rng, m=80)
    np.save(tmp_path / "d.npy", np.column_stack([Xs.toarray(), y]))
    status = _cli.main(["solve", "logistic-regression", "--data", str(tmp_path / "d.npy"), "--chunks", "40",
                        "--method", "newton", "--tol", "1e-10", "--progress", "always"])
    assert status == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " iter " in line]
    passes = [int(line.split()[-3]) for line in lines]
    assert lines and all(line.rstrip().endswith(("data pass", "data passes")) for line in lines)
    assert all(1 <= n <= 2 for n in passes[1:]), lines  # the first line also counts the start's evaluation
