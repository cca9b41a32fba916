"""Splits: repeated stratified K-fold, saving/loading, MCAT/PORPOISE files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coxmt.experiments import (
    Split,
    cross_validate,
    derive_seed,
    load_splits,
    make_splits,
    save_splits,
    splits_to_frame,
)
from coxmt.experiments._splits import check_training_events


def test_make_splits_partition_and_stratify(cohort):
    _, y = cohort
    splits = make_splits(y["event"], n_splits=5, n_repeats=3, random_state=0)
    assert [(s.repeat, s.fold) for s in splits] == [(r, k) for r in range(3) for k in range(5)]
    rate = y["event"].mean()
    for r in range(3):
        folds = [s for s in splits if s.repeat == r]
        tests = np.concatenate([s.test for s in folds])
        assert np.array_equal(np.sort(tests), np.arange(len(y)))  # each row tested once
        for s in folds:
            assert np.intersect1d(s.train, s.test).size == 0
            assert len(s.train) + len(s.test) == len(y)
            assert abs(y["event"][s.test].mean() - rate) < 0.05  # stratified on the event


def test_make_splits_deterministic_and_repeats_independent(cohort):
    _, y = cohort
    a = make_splits(y["event"], n_splits=4, n_repeats=2, random_state=7)
    b = make_splits(y["event"], n_splits=4, n_repeats=3, random_state=7)
    assert a == b[:8]  # adding repeats keeps the earlier ones
    assert not np.array_equal(a[0].test, a[4].test)  # repeats shuffle differently
    c = make_splits(y["event"], n_splits=4, n_repeats=2, random_state=8)
    assert a != c


def test_derive_seed():
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    assert len({derive_seed(0, r, k) for r in range(5) for k in range(5)}) == 25
    assert 0 <= derive_seed(123, 4) < 2**31 - 1
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(-1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"n_splits": 1}, "n_splits must be >= 2", id="one-fold"),
        pytest.param({"n_repeats": 0}, "n_repeats must be >= 1", id="no-repeat"),
        pytest.param({"n_splits": 200}, "cannot make 200 folds from 120", id="too-many-folds"),
    ],
)
def test_make_splits_bad_arguments(cohort, kwargs, match):
    _, y = cohort
    with pytest.raises(ValueError, match=match):
        make_splits(y["event"], **kwargs)


def test_save_load_roundtrip(tmp_path, cohort):
    X, y = cohort
    splits = make_splits(y["event"], n_splits=3, n_repeats=2)
    path = save_splits(splits, tmp_path / "splits.csv", ids=X.index)
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["repeat", "fold", "row", "id", "set"]
    assert set(frame["set"]) == {"train", "test"}
    assert (frame["id"] == X.index.to_numpy()[frame["row"]]).all()
    assert load_splits(path) == splits
    assert load_splits(tmp_path) == splits  # a folder holding splits.csv


def test_splits_to_frame_without_ids():
    frame = splits_to_frame([Split(0, 0, np.array([0, 2]), np.array([1]))])
    assert frame["id"].tolist() == [0, 2, 1]


def _write_mcat(
    folder: Path, ids: list[str], n_folds: int = 3, extra: tuple[str, ...] = ()
) -> None:
    """MCAT/PORPOISE layout: unnamed index, ragged train/val columns padded with empty cells."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_folds):
        val = [i for j, i in enumerate(ids) if j % n_folds == k]
        train = [i for j, i in enumerate(ids) if j % n_folds != k] + list(extra)
        n = max(len(train), len(val))
        frame = pd.DataFrame(
            {"train": train + [np.nan] * (n - len(train)), "val": val + [np.nan] * (n - len(val))}
        )
        frame.to_csv(folder / f"splits_{k}.csv")


def test_load_mcat_folder_and_files(tmp_path, cohort):
    X, _ = cohort
    ids = list(X.index)
    _write_mcat(tmp_path / "mcat", ids, extra=("TCGA-NOT-IN-DATA",))
    splits = load_splits(tmp_path / "mcat", ids=X.index)
    assert [(s.repeat, s.fold) for s in splits] == [(0, 0), (0, 1), (0, 2)]
    for k, s in enumerate(splits):
        assert s.test.tolist() == [j for j in range(len(ids)) if j % 3 == k]
        assert len(s.train) == len(ids) - len(s.test)  # unknown ID skipped
    files = [tmp_path / "mcat" / f"splits_{k}.csv" for k in (2, 0, 1)]
    assert load_splits(files, ids=X.index) == splits  # ordered by the number in the name


def test_load_mcat_errors(tmp_path, cohort):
    X, _ = cohort
    _write_mcat(tmp_path / "mcat", list(X.index))
    with pytest.raises(ValueError, match="pass the data's patient IDs"):
        load_splits(tmp_path / "mcat")
    with pytest.raises(ValueError, match="matches the data's IDs"):
        load_splits(tmp_path / "mcat", ids=[f"X{i}" for i in range(len(X))])
    with pytest.raises(FileNotFoundError, match="splits not found"):
        load_splits(tmp_path / "missing")
    bad = tmp_path / "bad" / "splits_0.csv"
    bad.parent.mkdir()
    pd.DataFrame({"a": ["P000"], "b": ["P001"]}).to_csv(bad)
    with pytest.raises(ValueError, match="needs columns 'train' and 'val'"):
        load_splits(bad, ids=X.index)


def test_cross_validate_accepts_mcat_splits(tmp_path, cohort, models):
    X, y = cohort
    _write_mcat(tmp_path / "mcat", list(X.index))
    res = cross_validate(
        {"Cox-nnet": models["Cox-nnet"]}, X, y, splits=tmp_path / "mcat", verbose=False,
        results_dir=tmp_path / "out",
    )  # fmt: skip
    assert res[["repeat", "fold"]].values.tolist() == [[0, 0], [0, 1], [0, 2]]
    assert (res["n_test"] == 40).all()
    saved = pd.read_csv(tmp_path / "out" / "splits.csv")
    assert saved.loc[saved["set"] == "test", "id"].str.startswith("P").all()


def test_zero_event_training_fold_is_named(cohort, models):
    X, y = cohort
    event = np.zeros(len(y), dtype=bool)
    event[5] = True
    y2 = y.copy()
    y2["event"] = event
    splits = make_splits(event, n_splits=3, n_repeats=1)
    bad_fold = next(s.fold for s in splits if 5 in s.test)
    with pytest.raises(ValueError, match=rf"repeat 0 fold {bad_fold} has no event.*fewer folds"):
        check_training_events(splits, event)
    with pytest.raises(ValueError, match=rf"repeat 0 fold {bad_fold} has no event.*fewer folds"):
        cross_validate(models, X, y2, n_splits=3, n_repeats=1, verbose=False)


def test_saved_splits_are_checked_against_ids(tmp_path, cohort):
    X, y = cohort
    splits = make_splits(y["event"], n_splits=3, n_repeats=1)
    save_splits(splits, tmp_path / "splits.csv", ids=X.index)
    assert load_splits(tmp_path / "splits.csv", ids=X.index) == splits
    with pytest.raises(ValueError, match="made for other data or another row order"):
        load_splits(tmp_path / "splits.csv", ids=X.index[::-1])


def test_cross_validate_reuses_splits_of_a_results_folder(tmp_path, cohort):
    from .conftest import SupervisedModel

    X, y = cohort
    first = cross_validate({"m": SupervisedModel()}, X, y, n_splits=4, n_repeats=2,
                           random_state=5, results_dir=tmp_path / "a", verbose=False)  # fmt: skip
    again = cross_validate({"m": SupervisedModel()}, X, y, splits=tmp_path / "a", verbose=False)
    cols = ["repeat", "fold", "c_index", "n_test"]
    pd.testing.assert_frame_equal(first[cols], again[cols])
