"""svmlight files and parts read lazily into Dask arrays of CSR row blocks (``problems.load(..., chunks=N)``).

Oracles: ``read_svmlight`` of the same file (the whole matrix, exactly), the matrix that was written, the
solution of the same problem on the in-memory CSR matrix; a Dask callback counts computations.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from ricci import problems
from ricci.problems import _cli, _svmlight

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
pytestmark = pytest.mark.usefixtures("dask_synchronous")


def _matrix(rng, m, n, density=0.3):
    X = sp.random_array((m, n), density=density, format="csr", random_state=rng)
    X.data = rng.standard_normal(X.nnz)
    return X


def _blocks(X):
    """The computed blocks of a Dask array, in order."""
    return [b.compute() for b in X.to_delayed().ravel()]


@pytest.mark.parametrize("chunks", [7, 50])
@pytest.mark.parametrize("block_bytes", [64, _svmlight.BLOCK_BYTES])
def test_chunked_load_gives_csr_blocks_equal_to_the_file(tmp_path, rng, computes, chunks, block_bytes, monkeypatch):
    """Blocks of ``chunks`` rows, each a csr_array parsed from its byte range; the whole equals read_svmlight's
    matrix (comments, blank lines, CRLF line ends and a byte-order mark included); nothing computed at load.
    ``block_bytes`` 64 makes the streaming pass cut blocks across its reads."""
    monkeypatch.setattr(_svmlight, "BLOCK_BYTES", block_bytes)
    X, y = _matrix(rng, 103, 11), rng.integers(0, 2, 103)
    path = tmp_path / "d.svm"
    problems.save_svmlight(path, X, y, comment="a comment line")
    text = path.read_bytes().replace(b"\n", b"\r\n", 20)  # some CRLF line ends
    lines = text.split(b"\n")
    lines.insert(30, b"   # a comment between samples")
    lines.insert(60, b"")
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines))
    reference = _svmlight.read_svmlight(path)
    with computes() as count:
        ds = problems.load(path, chunks=chunks)
        assert count.n == 0
    expected = tuple([chunks] * (103 // chunks) + ([103 % chunks] if 103 % chunks else []))
    assert ds.lazy and ds.X.chunks == (expected, (11,)) and ds.y.chunks == (expected,)
    assert ds.notes["nnz"] == X.nnz and ds.notes["zero_based"] is False
    blocks = _blocks(ds.X)
    assert all(type(b) is sp.csr_array and b.has_canonical_format for b in blocks)
    whole = ds.X.compute()
    assert sp.issparse(whole) and (whole != reference.X).nnz == 0 and (whole != X).nnz == 0
    np.testing.assert_array_equal(ds.y.compute(), reference.y)
    start = 0
    for block, rows in zip(blocks, expected):
        assert (block != X[start:start + rows]).nnz == 0
        start += rows


def test_scan_finds_the_blocks_and_one_block_reads_its_range(tmp_path, rng):
    X, y = _matrix(rng, 20, 5), rng.integers(0, 2, 20)
    path = tmp_path / "d.svm"
    problems.save_svmlight(path, X, y, zero_based=True)
    layout = _svmlight.scan_rows(path, 6, block_bytes=40)
    assert [b[3] for b in layout.blocks] == [6, 6, 6, 2] and layout.rows == 20
    assert layout.blocks[0][0] == 0 and layout.blocks[-1][1] == path.stat().st_size
    assert [b[2] for b in layout.blocks] == [1, 7, 13, 19]  # the line each block starts on
    assert layout.nnz == X.nnz and layout.min_index >= 0 and layout.max_index <= 4
    start, stop, line, rows = layout.blocks[2]
    block, labels = _svmlight.read_rows(path, start, stop, line, rows, 5, True)
    assert (block != X[12:18]).nnz == 0 and np.array_equal(labels, y[12:18])


def test_with_width_and_base_given_the_load_only_counts_lines(tmp_path):
    """n_features and zero_based given: the pass counts lines without parsing; a malformed line is then
    found, with its line number, by the block that reads it."""
    path = tmp_path / "d.svm"
    path.write_text("1 1:1\n0 2:1\n1 1:x\n0 3:2\n")
    ds = problems.load(path, chunks=2, n_features=3, zero_based=False)
    assert ds.X.shape == (4, 3) and ds.X.chunks[0] == (2, 2) and "nnz" not in ds.notes
    np.testing.assert_array_equal(ds.X.blocks[0].compute().toarray(), [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"d\.svm, line 3, feature 1: 'x' is not a number"):
        ds.X.compute()
    with pytest.raises(ValueError, match=r"d\.svm, line 3"):  # parsed at load when the width is not given
        problems.load(path, chunks=2)


def test_a_file_changed_after_loading_is_an_error_when_read(tmp_path):
    path = tmp_path / "d.svm"
    path.write_text("1 1:1\n0 2:1\n1 1:3\n")
    ds = problems.load(path, chunks=2)
    path.write_text("1 1:1\n0 2:1 5:1\n")
    with pytest.raises(ValueError, match=r"d\.svm: .* \(the file changed since it was loaded\?\)"):
        ds.X.compute()
    path.write_text("1 1:1\n0 2:1\n1 3:3\n")  # the same bytes per line, an index beyond the width
    with pytest.raises(ValueError, match=r"feature index 3 near line 3 lies outside the 2 1-based features"):
        ds.X.compute()


def test_parts_directory_gives_blocks_per_part_and_one_base(tmp_path, rng):
    X, y = _matrix(rng, 30, 8), rng.integers(0, 3, 30).astype(float)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, (lo, hi) in enumerate([(0, 12), (12, 30)]):
        problems.save_svmlight(folder / f"p{i}.svm", X[lo:hi], y[lo:hi], zero_based=True)
    (folder / "p2.svm").write_text("2 0:4.5\n")  # uses index 0: every part is read 0-based
    ds = problems.load(folder, chunks=5)
    assert ds.X.chunks == ((5, 5, 2, 5, 5, 5, 3, 1), (8,)) and ds.notes["parts"] == 3
    whole = ds.X.compute()
    assert (whole[:30] != X).nnz == 0 and whole[30, 0] == 4.5
    np.testing.assert_array_equal(ds.y.compute(), np.append(y, 2.0))
    one_per_part = problems.load(tmp_path / "parts" / "p*.svm")
    assert one_per_part.X.chunks[0] == (12, 18, 1)
    with pytest.raises(ValueError, match="n_features=3, but the data have 8 features"):
        problems.load(folder, n_features=3)


def test_query_ids_are_ignored_with_a_warning(tmp_path):
    path = tmp_path / "q.svm"
    path.write_text("1 qid:3 1:1\n0 qid:4 2:1\n")
    with pytest.warns(problems.QueryIdsIgnored, match="query ids"):
        ds = problems.load(path, chunks=1)
    assert ds.X.shape == (2, 2)


def test_softmax_regression_from_chunked_svmlight_gives_the_csr_solution(tmp_path, rng, computes):
    X = _matrix(rng, 60, 4, 0.5)
    labels = np.argmax(X @ rng.standard_normal((4, 3)), axis=1).astype(float)
    path = tmp_path / "d.svm"
    problems.save_svmlight(path, X, labels)
    ds = problems.load(path, chunks=25)
    Y = np.eye(3)[labels.astype(int)]
    reference = problems.softmax_regression(X, Y, lam=0.5, intercept=False).solve("newton", tol=1e-10)
    lazy_Y = da.stack([ds.y == k for k in range(3)], axis=1).astype(float)
    with computes() as count:
        result = problems.softmax_regression(ds.X, lazy_Y, lam=0.5, intercept=False).solve("newton", tol=1e-10)
    assert result.success and count.n <= 2 * (result.nit + 1)
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-9)


def test_cli_solves_chunked_svmlight(tmp_path, rng, capsys):
    X = _matrix(rng, 90, 5, 0.5)
    y = (X @ np.arange(1.0, 6.0) + 0.5 * rng.standard_normal(90) > 0).astype(float)
    problems.save_svmlight(tmp_path / "f.svm", X, y)
    reference = problems.logistic_regression(X, y, lam=1e-2).solve("newton", tol=1e-10)
    js = tmp_path / "run.json"
    status = _cli.main(["solve", "logistic-regression", "--data", str(tmp_path / "f.svm"), "--chunks", "50",
                        "--method", "newton", "--tol", "1e-10", "--json", str(js), "--progress", "never"])
    assert status == 0
    run = json.loads(js.read_text())["runs"][0]
    assert run["success"] and abs(run["fun"] - reference.fun) <= 1e-9 * abs(reference.fun)
    assert "converged" in capsys.readouterr().out

