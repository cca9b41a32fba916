"""Streaming unlabeled cohorts: sources, alignment by name, shuffling, memory, training."""

from __future__ import annotations

import pickle
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from coxmt.data.streaming import (
    ArraySource,
    ChunkedSource,
    UnlabeledSource,
    default_chunk_rows,
    is_unlabeled_source,
    open_unlabeled,
)

N, P = 300, 6
NAMES = [f"G{j}" for j in range(P)]


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """float32 rows whose first column is the row number (to check coverage)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, P)).astype(np.float32)
    X[:, 0] = np.arange(N)
    return X


def _write(kind: str, X: np.ndarray, folder: Path) -> Any:
    frame = pd.DataFrame(X, columns=NAMES)
    if kind == "array":
        return X
    if kind == "dataframe":
        return frame
    if kind == "npy":
        np.save(folder / "x.npy", X)
        return folder / "x.npy"
    if kind == "memmap":
        mm = np.lib.format.open_memmap(folder / "m.npy", mode="w+", dtype=np.float32, shape=X.shape)
        mm[:] = X
        mm.flush()
        return np.load(folder / "m.npy", mmap_mode="r")
    if kind in ("h5", "h5-dataset"):
        h5py = pytest.importorskip("h5py")
        with h5py.File(folder / "x.h5", "w") as fh:
            ds = fh.create_dataset("X", data=X, chunks=(37, P))
            fh.create_dataset("feature_names", data=np.asarray(NAMES, dtype="S"))
            del ds
        if kind == "h5":
            return folder / "x.h5"
        return h5py.File(folder / "x.h5", "r")["X"]
    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        group = zarr.open_group(str(folder / "x.zarr"), mode="w")
        arr = group.create_array("X", shape=X.shape, dtype="f4", chunks=(50, P))
        arr[:] = X
        arr.attrs["feature_names"] = NAMES
        return folder / "x.zarr"
    if kind in ("parquet", "parquet-folder"):
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        frame.insert(0, "patient", [f"U{i}" for i in range(len(frame))])  # ignored (text)
        if kind == "parquet":
            pq.write_table(pa.Table.from_pandas(frame), folder / "x.parquet", row_group_size=70)
            return folder / "x.parquet"
        sub = folder / "parts"
        sub.mkdir()
        for k, start in enumerate(range(0, len(frame), 120)):
            table = pa.Table.from_pandas(frame.iloc[start : start + 120], preserve_index=False)
            pq.write_table(table, sub / f"part-{k}.parquet", row_group_size=50)
        return sub
    if kind in ("h5ad", "h5ad-sparse"):
        anndata = pytest.importorskip("anndata")
        import scipy.sparse as sp

        data = sp.csr_matrix(X) if kind == "h5ad-sparse" else X
        anndata.AnnData(X=data, var=pd.DataFrame(index=NAMES)).write_h5ad(folder / "x.h5ad")
        return folder / "x.h5ad"
    raise AssertionError(kind)


KINDS = ["array", "dataframe", "npy", "memmap", "h5", "h5-dataset", "zarr", "parquet",
         "parquet-folder", "h5ad", "h5ad-sparse"]  # fmt: skip
NAMED = {
    "dataframe",
    "h5",
    "h5-dataset",
    "zarr",
    "parquet",
    "parquet-folder",
    "h5ad",
    "h5ad-sparse",
}


@pytest.mark.parametrize("kind", [pytest.param(k, id=k) for k in KINDS])
def test_every_source_round_trips_rows(kind: str, rows: np.ndarray, tmp_path: Path) -> None:
    raw = _write(kind, rows, tmp_path)
    assert is_unlabeled_source(raw) == (kind not in ("array", "dataframe"))
    src = open_unlabeled(raw, chunk_rows=64)
    assert isinstance(src, UnlabeledSource)
    assert (src.n_rows, src.n_features) == (N, P)
    assert src.feature_names == (NAMES if kind in NAMED else None)
    np.testing.assert_array_equal(src.to_numpy(), rows)
    np.testing.assert_array_equal(src.read_rows(10, 20), rows[10:20])
    # one pass yields every row exactly once, in shuffled order, in batches of 32
    batches = list(src.iter_batches(32, np.random.default_rng(1)))
    seen = np.concatenate(batches)
    assert all(len(b) == 32 for b in batches[:-1]) and len(batches[-1]) == N % 32
    assert sorted(seen[:, 0].tolist()) == list(range(N))
    assert not np.array_equal(seen[:, 0], np.arange(N))
    # pickled sources reopen their file
    again = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(again.read_rows(0, 5), rows[:5])
    src.close()


@pytest.mark.parametrize("kind", [pytest.param(k, id=k) for k in KINDS if k != "array"])
def test_batches_depend_only_on_rows_chunking_and_rng(
    kind: str, rows: np.ndarray, tmp_path: Path
) -> None:
    """A file gives the same batches as an in-memory pool of the same rows."""
    pool = ArraySource(rows)
    src = open_unlabeled(_write(kind, rows, tmp_path), chunk_rows=40)
    for a, b in zip(
        src.iter_batches(25, np.random.default_rng(7), passes=2),
        open_unlabeled(pool, chunk_rows=40).iter_batches(25, np.random.default_rng(7), passes=2),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_alignment_by_name(rows: np.ndarray, tmp_path: Path) -> None:
    path = _write("h5", rows, tmp_path)
    src = open_unlabeled(path, feature_names=["G4", "G0", "G2"])
    assert src.feature_names == ["G4", "G0", "G2"] and src.n_features == 3
    np.testing.assert_array_equal(src.to_numpy(), rows[:, [4, 0, 2]])
    with pytest.raises(ValueError, match=r"missing 2 feature\(s\) the model needs: TP53, MYC"):
        open_unlabeled(path, feature_names=["G1", "TP53", "MYC"])
    dup = pd.DataFrame(rows[:, :3], columns=["A", "B", "A"])
    with pytest.raises(ValueError, match=r"duplicated feature names \['A'\]"):
        open_unlabeled(dup, feature_names=["A", "B"])
    assert open_unlabeled(dup, feature_names=["B"]).n_features == 1  # unused duplicates are fine
    # sources without names: the names label the stored columns, so their count must match
    unnamed = open_unlabeled(rows, feature_names=NAMES)
    assert unnamed.select(["G5", "G1"]).read_rows(0, 1).tolist() == [rows[0, [5, 1]].tolist()]
    with pytest.raises(ValueError, match="6 unnamed columns but 2 feature names"):
        open_unlabeled(rows, feature_names=["a", "b"])


def test_transform_applied_per_chunk_with_feature_names(rows: np.ndarray, tmp_path: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame(rows, columns=NAMES)
    scaler = StandardScaler().fit(frame.iloc[:100])  # fitted on a DataFrame: needs names
    src = open_unlabeled(_write("parquet", rows, tmp_path), chunk_rows=64)
    seen: list[int] = []

    def transform(chunk: pd.DataFrame) -> np.ndarray:
        assert list(chunk.columns) == NAMES
        seen.append(len(chunk))
        return scaler.transform(chunk)

    scaled = src.with_transform(transform)
    assert scaled.n_features == P and scaled.feature_names is None
    expected = scaler.transform(frame).astype(np.float32)
    np.testing.assert_allclose(scaled.to_numpy(), expected, rtol=1e-6)
    seen.clear()
    batches = list(scaled.iter_batches(50, np.random.default_rng(0)))
    assert sorted(seen) == sorted([64] * (N // 64) + [N % 64])
    assert sum(len(b) for b in batches) == N
    # a transform returning a DataFrame names the output columns
    first_two = src.with_transform(lambda c: c.iloc[:, :2] * 2)
    assert first_two.feature_names == ["G0", "G1"] and first_two.n_features == 2


def test_bad_values_and_arguments(rows: np.ndarray) -> None:
    bad = rows.copy()
    bad[[5, 250], 2] = np.nan
    src = open_unlabeled(bad, chunk_rows=64)
    with pytest.raises(ValueError, match=r"missing or infinite values in rows \[250\]"):
        src.read_rows(200, 300)
    with pytest.raises(ValueError, match=r"rows \[(5|250)\]"):
        list(src.iter_batches(10, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="batch_rows must be >= 1"):
        next(src.iter_batches(0, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="must be 2-D"):
        open_unlabeled(np.zeros(5))
    with pytest.raises(ValueError, match="must hold numbers"):
        open_unlabeled(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="cannot stream unlabeled rows from a set"):
        open_unlabeled({1, 2})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_unlabeled("no/such/file.h5")
    with pytest.raises(ValueError, match="cannot stream"):
        open_unlabeled(Path(__file__))


def test_reader_errors_reach_the_consumer_and_threads_stop(rows: np.ndarray) -> None:
    class Failing(ArraySource):
        def _read(self, start: int, stop: int, columns: Any) -> np.ndarray:
            if start >= 128:
                raise OSError("disk went away")
            return super()._read(start, stop, columns)

    before = threading.active_count()
    with pytest.raises(OSError, match="disk went away"):
        list(Failing(rows, chunk_rows=64).iter_batches(16, np.random.default_rng(0)))
    # abandoning an endless stream stops its reader thread
    stream = ArraySource(rows, chunk_rows=32).iter_batches(8, np.random.default_rng(0), passes=None)
    for _ in range(100):
        next(stream)
    stream.close()
    assert threading.active_count() == before


def test_endless_stream_reshuffles_each_pass(rows: np.ndarray) -> None:
    stream = ArraySource(rows, chunk_rows=64).iter_batches(N, np.random.default_rng(3), passes=None)
    first, second = next(stream), next(stream)
    assert sorted(first[:, 0]) == sorted(second[:, 0]) and not np.array_equal(first, second)
    assert list(ArraySource(rows[:0]).iter_batches(4, np.random.default_rng(0), passes=None)) == []


def test_memory_stays_bounded_while_streaming_a_file(tmp_path: Path) -> None:
    """Streaming a 20 MB file holds a few chunks at a time, not the file."""
    h5py = pytest.importorskip("h5py")
    n, p = 100_000, 50
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as fh:
        ds = fh.create_dataset("X", shape=(n, p), dtype="f4", chunks=(1024, p))
        for start in range(0, n, 10_000):
            ds[start : start + 10_000] = np.full((10_000, p), 1.0, np.float32)
    file_bytes = n * p * 4
    src = open_unlabeled(path, chunk_rows=1024)
    tracemalloc.start()
    try:
        total = 0
        for batch in src.iter_batches(256, np.random.default_rng(0)):
            total += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        src.close()
    assert total == n
    chunk_bytes = 1024 * p * 4
    assert peak < 10 * chunk_bytes < file_bytes / 8, (peak, file_bytes)


def test_default_chunk_rows_and_repr() -> None:
    assert default_chunk_rows(1) == 65536 and default_chunk_rows(4000) == 1024
    src = open_unlabeled(np.zeros((3, 2)))
    assert isinstance(src, ChunkedSource) and "n_rows=3" in repr(src)


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def labeled() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    X = rng.normal(size=(120, P))
    t = rng.exponential(np.exp(-(0.9 * X[:, 1] - 0.5 * X[:, 2])))
    c = rng.exponential(1.5, size=120)
    y = np.empty(120, dtype=[("event", bool), ("time", np.float64)])
    y["event"], y["time"] = t <= c, np.minimum(t, c)
    return pd.DataFrame(X, columns=NAMES), y


def _fit(X_unlabeled: Any, labeled: Any, **params: Any) -> Any:
    from coxmt import CoxMT

    X, y = labeled
    params = {"max_epochs": 12, "unlabeled_batch_size": 48, "random_state": 3, **params}
    return CoxMT(**params).fit(X, y, X_unlabeled=X_unlabeled)


@pytest.mark.parametrize(
    "kind", [pytest.param(k, id=k) for k in ("h5", "parquet", "zarr", "h5ad", "npy", "memmap")]
)
@pytest.mark.parametrize("batch_size", [pytest.param(None, id="full"), pytest.param(50, id="mini")])
def test_streamed_fit_equals_in_memory_pool(
    kind: str, batch_size: int | None, rows: np.ndarray, labeled: Any, tmp_path: Path
) -> None:
    """Same rows, same seed: a file streamed from disk gives the model of the in-memory pool."""
    pool = _fit(rows, labeled, batch_size=batch_size)
    streamed = _fit(_write(kind, rows, tmp_path), labeled, batch_size=batch_size)
    X = labeled[0]
    np.testing.assert_array_equal(pool.predict(X), streamed.predict(X))
    pd.testing.assert_frame_equal(pool.history_, streamed.history_)
    assert pool.history_["loss_consistency"].iloc[-1] > 0


def test_columns_are_matched_by_name(rows: np.ndarray, labeled: Any, tmp_path: Path) -> None:
    shuffled = pd.DataFrame(rows, columns=NAMES).iloc[:, ::-1].assign(extra=1.0)
    a = _fit(rows, labeled)
    b = _fit(shuffled, labeled)
    np.testing.assert_array_equal(a.predict(labeled[0]), b.predict(labeled[0]))
    path = _write("h5", rows, tmp_path)
    X, y = labeled
    with pytest.raises(ValueError, match=r"missing 1 feature.*TP53"):
        _fit(path, (X.rename(columns={"G3": "TP53"}), y))
    with pytest.raises(ValueError, match="X_unlabeled has 6 features but X has 5"):
        _fit(rows, (X.to_numpy()[:, :5], y))


def test_sources_without_streaming_are_loaded(
    rows: np.ndarray, labeled: Any, tmp_path: Path
) -> None:
    """unlabeled_batch_size=None: a file is read into memory and used like an array."""
    from coxmt import CoxNnet

    path = _write("parquet", rows, tmp_path)
    a = _fit(rows, labeled, unlabeled_batch_size=None)
    b = _fit(path, labeled, unlabeled_batch_size=None)
    np.testing.assert_array_equal(a.predict(labeled[0]), b.predict(labeled[0]))
    # supervised models check the columns but never read the rows
    X, y = labeled
    plain = CoxNnet(max_epochs=5, random_state=0).fit(X, y)
    ignored = CoxNnet(max_epochs=5, random_state=0).fit(X, y, X_unlabeled=path)
    np.testing.assert_array_equal(plain.predict(X), ignored.predict(X))


def test_each_step_takes_the_next_batch_from_a_custom_source(labeled: Any) -> None:
    class Counting:
        """A minimal UnlabeledSource (not a ChunkedSource)."""

        n_rows, n_features, feature_names = 40, P, None

        def __init__(self) -> None:
            self.batches = 0

        def iter_batches(self, batch_rows: int, rng: Any, transform: Any = None) -> Any:
            for start in range(0, self.n_rows, batch_rows):
                self.batches += 1
                yield rng.normal(size=(min(batch_rows, self.n_rows - start), P)).astype(np.float32)

    src = Counting()
    assert isinstance(src, UnlabeledSource)
    model = _fit(src, labeled, unlabeled_batch_size=16, max_epochs=7)
    assert src.batches == 7 and model.n_epochs_ == 7


def test_fitted_preprocessing_is_applied_per_chunk(
    rows: np.ndarray, labeled: Any, tmp_path: Path
) -> None:
    """What a pipeline does: fit the scaler on X, stream X_unlabeled through its transform."""
    from sklearn.preprocessing import StandardScaler

    X, y = labeled
    raw = pd.DataFrame(rows * 3.0 + 1.0, columns=NAMES)
    scaler = StandardScaler().fit(X.astype(np.float32))
    path = _write("h5", raw.to_numpy(np.float32), tmp_path)
    streamed = open_unlabeled(path, feature_names=NAMES).with_transform(scaler.transform)
    a = _fit(streamed, (scaler.transform(X.astype(np.float32)), y))
    b = _fit(scaler.transform(raw.astype(np.float32)), (scaler.transform(X.astype(np.float32)), y))
    Xs = scaler.transform(X.astype(np.float32))
    np.testing.assert_array_equal(a.predict(Xs), b.predict(Xs))


def test_parameter_checks_and_model_files(rows: np.ndarray, labeled: Any, tmp_path: Path) -> None:
    from sklearn.base import clone

    from coxmt import CoxMT

    with pytest.raises(ValueError, match="unlabeled_batch_size must be None"):
        _fit(rows, labeled, unlabeled_batch_size=0)
    model = _fit(rows, labeled)
    assert clone(model).get_params()["unlabeled_batch_size"] == 48
    again = CoxMT.load(model.save(tmp_path / "model"))
    assert again.unlabeled_batch_size == 48
    np.testing.assert_array_equal(again.predict(labeled[0]), model.predict(labeled[0]))
