"""Every bad input gets a clear error: through the Python API and through the command line.

One section per kind of bad input. Each API case asserts a ValueError (or warning)
whose message names the problem and, where there is one, the fix; each CLI case
runs ``coxmt`` with typer's CliRunner and asserts exit code 2, the same kind of
message on one ``error:`` line, and no traceback.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coxmt import CoxMT, CoxNnet, PenalizedCox
from coxmt._validation import check_aligned_ids, check_survival_target, make_target
from coxmt.cli import app
from coxmt.data import load_survival_table
from coxmt.experiments import cross_validate
from coxmt.io import FORMAT_VERSION, load_model, save_model
from coxmt.pipeline import SurvivalPipeline
from coxmt.predict import predict_table
from coxmt.preprocessing import Log2Transform, TopVarianceGenes, make_rnaseq_preprocessor

N, GENES = 60, [f"g{j}" for j in range(6)]
HAS_H5PY = importlib.util.find_spec("h5py") is not None
HAS_SLIDE_READER = any(importlib.util.find_spec(m) for m in ("openslide", "tiffslide"))
needs_h5py = pytest.mark.skipif(
    not HAS_H5PY, reason="the wsi extra is not installed (h5py): pip install 'coxmt[wsi]'"
)


# ------------------------------------------------------------------------------ helpers
def make_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """case_id, time, event (~60% deaths) and six positive expression columns g0..g5."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(GENES))) + 6.0
    time = rng.exponential(np.exp(-(X[:, 0] - 6.0))) * 10.0
    frame = pd.DataFrame(X, columns=GENES)
    frame.insert(0, "case_id", [f"P{i:03d}" for i in range(n)])
    frame.insert(1, "time", np.round(time, 4) + 0.01)
    frame.insert(2, "event", (rng.random(n) < 0.6).astype(int))
    return frame


def write(frame: pd.DataFrame, path: Path, sep: str = ",") -> Path:
    frame.to_csv(path, index=False, sep=sep)
    return path


def cli(*args: Any, env: dict[str, str] | None = None) -> Any:
    # a wide terminal keeps each message on one line
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "3000", **(env or {})})


def assert_cli_error(res: Any, *patterns: str, code: int = 2) -> None:
    out = res.output
    assert res.exit_code == code, f"exit code {res.exit_code}:\n{out}\n{res.exception!r}"
    assert "Traceback" not in out, out
    assert "error:" in out, out
    for pattern in patterns:
        assert re.search(pattern, out, flags=re.S), f"{pattern!r} not in:\n{out}"


def fit_args(data: Path, out: Path, *extra: Any) -> list[Any]:
    return ["fit", "--data", data, "--id-col", "case_id", "--features", "^g", "--epochs", 2,
            "--no-verbose", "--out", out, *extra]  # fmt: skip


def cv_args(data: Path, *extra: Any) -> list[Any]:
    return ["cv", "--data", data, "--id-col", "case_id", "--features", "^g", "--epochs", 2,
            "--models", "coxnnet", "--repeats", 1, "--no-progress", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    """A saved CoxNnet pipeline (top-variance genes + scaling) fitted on ``frame``."""
    X = frame.set_index("case_id")[GENES]
    y = make_target(frame["event"], frame["time"])
    pipe = SurvivalPipeline(
        [*make_rnaseq_preprocessor(k=None).steps, ("model", CoxNnet(max_epochs=3, random_state=0))]
    ).fit(X, y)
    return save_model(pipe, tmp_path_factory.mktemp("model") / "model")


def _edit(frame: pd.DataFrame, column: str, row: int, value: Any) -> pd.DataFrame:
    out = frame.copy()
    if not isinstance(value, float | int) or isinstance(value, bool):
        out[column] = out[column].astype(object)
    out.loc[row, column] = value
    return out


# ------------------------------------------------------------------------------ times
@pytest.mark.parametrize(
    ("value", "api_message", "cli_message"),
    [
        pytest.param(-3.0, r"time contains negative values at rows \[4\].*>= 0",
                     r"time contains negative values at rows \[4\]", id="negative"),
        pytest.param(np.nan, r"time contains NaN values at rows \[4\].*drop",
                     r"1 rows have no 'time' or 'event' value: rows \[4\] \(IDs \['P004'\]\).*dropna",
                     id="nan"),
        pytest.param(np.inf, r"time contains infinite values at rows \[4\]",
                     r"time contains infinite values at rows \[4\]", id="infinite"),
        pytest.param("12 months", r"time contains non-numeric values at rows \[4\].*'12 months'",
                     r"time column 'time' is not numeric: '12 months' at rows \[4\] "
                     r"\(IDs \['P004'\]\).*Convert", id="non-numeric"),
    ],
)  # fmt: skip
def test_bad_times(frame, tmp_path, value, api_message, cli_message) -> None:
    bad = _edit(frame, "time", 4, value)
    with pytest.raises(ValueError, match=api_message):
        CoxNnet(max_epochs=1).fit(bad[GENES], (bad["event"], bad["time"]))
    res = cli(*fit_args(write(bad, tmp_path / "t.csv"), tmp_path / "m"))
    assert_cli_error(res, cli_message)
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------ events
@pytest.mark.parametrize("value", [2, -1, "yes"], ids=["two", "minus-one", "text"])
def test_event_values_other_than_0_1(frame, tmp_path, value) -> None:
    bad = _edit(frame, "event", 7, value)
    pattern = r"event contains (values other than 0/1/True/False|non-numeric values) at rows \[7\]"
    with pytest.raises(ValueError, match=pattern + r".*1 = death observed, 0 = censored"):
        check_survival_target((bad["event"], bad["time"]))
    res = cli(*fit_args(write(bad, tmp_path / "e.csv"), tmp_path / "m"))
    assert_cli_error(
        res, r"event column 'event' must hold 0/1 \(or True/False\); found .* at rows \[7\]",
        r"1 = death observed, 0 = censored",
    )  # fmt: skip


def test_censorship_column_passed_as_events(frame, tmp_path) -> None:
    cens = frame.rename(columns={"event": "censorship"})
    cens["censorship"] = 1 - cens["censorship"]
    y = cens[["censorship", "time"]]
    with pytest.raises(
        ValueError, match=r"'censorship' looks like a censoring indicator.*1 - censorship"
    ):
        check_survival_target(y)
    path = write(cens, tmp_path / "c.csv")
    with pytest.raises(
        ValueError, match=r"looks like a censoring indicator.*event_means='censored'"
    ):
        load_survival_table(path, event_col="censorship")
    res = cli(*fit_args(path, tmp_path / "m", "--event-col", "censorship"))
    assert_cli_error(res, r"looks like a censoring indicator.*--event-means 'censored'")
    # with the right convention it works
    ok = cli(
        *fit_args(path, tmp_path / "m", "--event-col", "censorship", "--event-means", "censored")
    )
    assert ok.exit_code == 0, ok.output


def test_implausible_event_rate_warns(frame, tmp_path) -> None:
    """A censoring flag under another name (1 = censored): 95% 'events' is implausible."""
    flipped = frame.rename(columns={"event": "status"})
    flipped["status"] = 1
    flipped.loc[:2, "status"] = 0
    path = write(flipped, tmp_path / "s.csv")
    with pytest.warns(
        UserWarning, match=r"95% of the 60 patients have an observed event.*event_means='censored'"
    ):
        load_survival_table(path, event_col="status", id_col="case_id")
    res = cli(*fit_args(path, tmp_path / "m", "--event-col", "status"))
    assert res.exit_code == 0, res.output
    assert re.search(r"warning: 95% of the 60 patients.*--event-means 'censored'", res.output)
    assert "Traceback" not in res.output


def test_all_censored(frame, tmp_path) -> None:
    bad = frame.assign(event=0)
    with pytest.raises(ValueError, match=r"all samples are censored.*1 = death observed"):
        CoxNnet(max_epochs=1).fit(bad[GENES], (bad["event"], bad["time"]))
    assert_cli_error(
        cli(*fit_args(write(bad, tmp_path / "c.csv"), tmp_path / "m")),
        r"all samples are censored \(no event observed\).*convention",
    )
    assert_cli_error(cli(*cv_args(tmp_path / "c.csv")), r"all samples are censored")


def test_zero_events_in_a_training_fold(frame, tmp_path) -> None:
    X = frame.set_index("case_id")[GENES]
    y = make_target(frame["event"], frame["time"])
    events = np.flatnonzero(y["event"])
    test = np.union1d(events, [0, 1])  # every death in the test fold: its training set has none
    splits = [(np.setdiff1d(np.arange(N), test), test), (test, np.setdiff1d(np.arange(N), test))]
    with pytest.raises(
        ValueError, match=r"training set of repeat 0 fold 0 has no event.*fewer folds"
    ):
        cross_validate({"m": CoxNnet(max_epochs=1)}, X, y, splits=splits, verbose=False)
    one = frame.assign(event=0)
    one.loc[5, "event"] = 1
    res = cli(*cv_args(write(one, tmp_path / "one.csv"), "--folds", 3))
    assert_cli_error(
        res, r"the training set of repeat 0 fold \d has no event", r"at least 2 deaths"
    )


def test_too_many_folds_for_the_events(frame, tmp_path) -> None:
    res = cli(*cv_args(write(frame, tmp_path / "f.csv"), "--folds", 45))
    assert_cli_error(res, r"cannot make 45 folds from 36 deaths.*use --folds 36 or fewer")


# ------------------------------------------------------------------------------ samples and IDs
def test_fewer_than_two_samples(frame, tmp_path) -> None:
    one = frame.iloc[:1]
    with pytest.raises(ValueError, match=r"need at least 2 samples, got 1"):
        CoxNnet(max_epochs=1).fit(one[GENES], (one["event"].to_numpy() * 0 + 1, one["time"]))
    assert_cli_error(
        cli(*fit_args(write(one.assign(event=1), tmp_path / "one.csv"), tmp_path / "m")),
        r"need at least 2 samples, got 1",
    )


def test_duplicate_patient_ids(frame, tmp_path) -> None:
    bad = frame.copy()
    bad.loc[9, "case_id"] = "P003"
    path = write(bad, tmp_path / "d.csv")
    pattern = r"id column 'case_id' has 1 duplicated IDs \['P003'\] at rows \[3, 9\]"
    with pytest.raises(ValueError, match=pattern):
        load_survival_table(path, id_col="case_id")
    with pytest.raises(ValueError, match=r"patient IDs must be unique; duplicated: \['P003'\]"):
        cross_validate({"m": CoxNnet(max_epochs=1)}, frame[GENES], make_target(frame.event, frame.time),
                       ids=bad["case_id"], verbose=False)  # fmt: skip
    assert_cli_error(cli(*fit_args(path, tmp_path / "m")), pattern, "drop or merge")


def test_x_and_y_of_different_lengths(frame) -> None:
    with pytest.raises(ValueError, match=r"X has 60 rows but the survival target has 59 samples"):
        CoxNnet(max_epochs=1).fit(frame[GENES], (frame.event[:59], frame.time[:59]))
    with pytest.raises(ValueError, match=r"X has 60 rows but the survival target has 59 samples"):
        cross_validate({"m": CoxNnet(max_epochs=1)}, frame[GENES],
                       (frame.event[:59], frame.time[:59]), verbose=False)  # fmt: skip
    # on the command line X and y come from one table and cannot differ in length


def _x_y_with_ids(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    X = frame.set_index("case_id")[GENES]
    y = frame.set_index("case_id")[["event", "time"]]
    return X, y


def test_x_and_y_with_different_id_sets(frame) -> None:
    X, y = _x_y_with_ids(frame)
    other = y.rename(index={"P001": "Q001", "P002": "Q002"})
    pattern = (
        r"IDs only in X: \['P001', 'P002'\]; IDs only in y: \['Q001', 'Q002'\].*y.loc\[X.index\]"
    )
    with pytest.raises(ValueError, match=pattern):
        check_aligned_ids(X, other)
    with pytest.raises(ValueError, match=pattern):
        cross_validate({"m": CoxNnet(max_epochs=1)}, X, other, verbose=False)
    # the same patients in another order are realigned, never silently mismatched
    shuffled = y.iloc[::-1]
    pd.testing.assert_frame_equal(check_aligned_ids(X, shuffled), y)
    pair = (shuffled["event"], shuffled["time"])
    aligned = check_aligned_ids(X, pair)
    assert isinstance(aligned, tuple) and aligned[1].index.equals(X.index)
    # without IDs on both sides nothing can be compared: returned as is
    assert check_aligned_ids(X.to_numpy(), other) is other
    assert check_aligned_ids(X, make_target(frame.event, frame.time)) is not None


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        pytest.param("bags", r"y = y\.loc\[bags\.index\]", id="identifier"),
        pytest.param("X_rna / bags", r"y = y\.loc\[ids\] with ids the patient IDs of", id="phrase"),
    ],
)
def test_aligned_ids_message_names_the_callers_input(frame, name: str, fix: str) -> None:
    X, y = _x_y_with_ids(frame)
    start = re.escape(f"{name} and y hold different patients: IDs only in {name}: ['P001']")
    with pytest.raises(ValueError, match=f"^{start}.*{fix}"):
        check_aligned_ids(X, y.rename(index={"P001": "Q001"}), name=name)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: CoxNnet(max_epochs=1), id="CoxNnet"),
        pytest.param(lambda: PenalizedCox(alpha=1.0), id="PenalizedCox"),
    ],
)
def test_estimator_refuses_x_and_y_with_different_ids(frame, make) -> None:
    X, y = _x_y_with_ids(frame)
    with pytest.raises(ValueError, match="IDs only in X"):
        make().fit(X, y.rename(index={"P001": "Q001"}))
    # the same patients in another order are realigned, not mismatched
    shuffled = y.iloc[::-1]
    a = CoxNnet(max_epochs=2, random_state=0).fit(X, y).predict(X)
    b = CoxNnet(max_epochs=2, random_state=0).fit(X, shuffled).predict(X)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ features
@pytest.mark.parametrize(
    ("value", "api_message", "cli_message"),
    [
        pytest.param(np.nan, r"X contains NaN values at rows \[5\] in 1 column\(s\) \['g2'\].*impute='median'",
                     r"missing values in 1 feature column\(s\) \['g2'\] for 1 patient\(s\) "
                     r"\(IDs/rows \['P005'\]\); pass --impute median", id="nan"),
        pytest.param(np.inf, r"X contains infinite values at rows \[5\]",
                     r"feature column\(s\) \['g2'\] hold infinite values at rows \[5\] "
                     r"\(IDs \['P005'\]\)", id="infinite"),
        pytest.param("high", r"X has non-numeric columns: 'g2'",
                     r"feature columns \['g2'\] are not numeric \(e.g. \['high'\] in 'g2' at rows \[5\]\)",
                     id="string"),
    ],
)  # fmt: skip
def test_bad_feature_values(frame, tmp_path, value, api_message, cli_message) -> None:
    bad = _edit(frame, "g2", 5, value)
    with pytest.raises(ValueError, match=api_message):
        CoxNnet(max_epochs=1).fit(bad[GENES], (bad["event"], bad["time"]))
    path = write(bad, tmp_path / "x.csv")
    assert_cli_error(cli(*fit_args(path, tmp_path / "m")), cli_message)
    assert_cli_error(cli(*cv_args(path, "--folds", 3)), cli_message)


def test_impute_option_fills_missing_values_and_is_saved(frame, tmp_path) -> None:
    bad = frame.copy()
    bad.loc[[5, 11], "g2"] = np.nan
    bad.loc[20, "g4"] = np.nan
    path = write(bad, tmp_path / "x.csv")
    res = cli(*fit_args(path, tmp_path / "m", "--impute", "median"))
    assert res.exit_code == 0, res.output
    model = load_model(tmp_path / "m")
    assert [name for name, _ in model.steps] == [
        "transform",
        "top_variance",
        "impute",
        "scale",
        "clip",
        "model",
    ]
    imputer = model.named_steps["impute"]
    np.testing.assert_allclose(imputer.statistics_, bad[GENES].median().to_numpy())
    # prediction imputes the same way, from the saved training medians
    pred = cli("predict", "--model", tmp_path / "m", "--data", path, "--out", tmp_path / "r.csv")
    assert pred.exit_code == 0, pred.output
    filled = bad.fillna(bad[GENES].median())
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "r.csv")["risk"], model.predict(filled.set_index("case_id")[GENES])
    )
    assert_cli_error(cli(*fit_args(path, tmp_path / "m2", "--impute", "mode")),
                     r"--impute must be 'median' or 'mean', got 'mode'")  # fmt: skip
    with pytest.raises(ValueError, match="impute must be None, 'median' or 'mean'"):
        make_rnaseq_preprocessor(impute="zero")


def test_all_missing_gene_is_named(frame, tmp_path) -> None:
    bad = frame.assign(g3=np.nan)
    path = write(bad, tmp_path / "x.csv")
    pattern = r"1 feature column\(s\) have no value at all \(missing for every patient\): \['g3'\]"
    with pytest.raises(ValueError, match=pattern + r".*dropna\(axis=1, how='all'\)"):
        load_survival_table(path, id_col="case_id")
    assert_cli_error(cli(*fit_args(path, tmp_path / "m")), pattern)
    # with --impute there is nothing to fill it from: it is dropped, with a warning
    res = cli(*fit_args(path, tmp_path / "m", "--impute", "median"))
    assert res.exit_code == 0, res.output
    assert "warning: 1 feature column(s) without any value were dropped: ['g3']" in res.output
    assert "g3" not in load_model(tmp_path / "m").feature_names_in_.tolist()


def test_constant_gene_is_dropped_with_a_note(frame, tmp_path) -> None:
    const = frame.assign(g1=3.5)
    sel = TopVarianceGenes(k=None, drop_constant=True).fit(const[GENES])
    assert "g1" not in sel.get_feature_names_out()
    assert re.search(r"dropped 1 constant or empty column\(s\) \['g1'\]", sel.note_)
    with pytest.raises(ValueError, match=r"all 6 columns are constant"):
        TopVarianceGenes(drop_constant=True).fit(np.ones((5, 6)))
    res = cli(*fit_args(write(const, tmp_path / "x.csv"), tmp_path / "m"))
    assert res.exit_code == 0, res.output
    assert "note: dropped 1 constant or empty column(s) ['g1']" in res.output
    assert load_model(tmp_path / "m").named_steps[
        "top_variance"
    ].get_feature_names_out().tolist() == [g for g in GENES if g != "g1"]
    res = cli(*cv_args(tmp_path / "x.csv", "--folds", 3))
    assert res.exit_code == 0, res.output
    assert "note: 1 constant feature(s) carry no information and are dropped: g1" in res.output


def test_negative_values_to_log_transform(frame, tmp_path) -> None:
    bad = _edit(frame, "g0", 2, -4.0)
    with pytest.raises(
        ValueError, match=r"Negative values in data passed to Log2Transform.*\['g0'\].*log=False"
    ):
        Log2Transform().fit(bad[GENES])
    assert_cli_error(
        cli(*fit_args(write(bad, tmp_path / "x.csv"), tmp_path / "m", "--log2")),
        r"Negative values in data passed to Log2Transform.*\['g0'\].*already log-transformed",
    )


def test_infinite_values_in_preprocessing_are_named(frame) -> None:
    bad = _edit(frame, "g4", 8, np.inf)[GENES]
    for step in (TopVarianceGenes(k=2), make_rnaseq_preprocessor(k=None)):
        with pytest.raises(
            ValueError, match=r"infinite values in 1 column\(s\) \['g4'\] at rows \[8\]"
        ):
            step.fit(bad)


# ------------------------------------------------------------------------------ prediction
def test_predict_missing_genes(frame, model_dir, tmp_path) -> None:
    data = write(frame.drop(columns=["g1", "g4"]), tmp_path / "new.csv")
    pattern = r"is missing 2 feature\(s\) the model was fitted on: g1, g4.*--fill-missing 0"
    with pytest.raises(ValueError, match=pattern):
        predict_table(model_dir, data, tmp_path / "r.csv")
    assert_cli_error(
        cli("predict", "--model", model_dir, "--data", data, "--out", tmp_path / "r.csv"), pattern
    )
    assert not (tmp_path / "r.csv").exists()
    res = cli("predict", "--model", model_dir, "--data", data, "--out", tmp_path / "r.csv",
              "--fill-missing", 0)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "note: 2 feature(s) missing from the table were filled with 0: g1, g4" in res.output
    assert len(pd.read_csv(tmp_path / "r.csv")) == N


def test_predict_extra_genes_and_other_order(frame, model_dir, tmp_path) -> None:
    reference = write(frame, tmp_path / "ref.csv")
    shuffled = frame[["g5", "case_id", "g3", "g0", "g4", "g2", "g1"]].assign(extra_gene=1.0)
    data = write(shuffled, tmp_path / "new.csv")
    res = cli("predict", "--model", model_dir, "--data", data, "--out", tmp_path / "a.csv",
              "--id-col", "case_id")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "note: 1 column(s) not used by the model were ignored: extra_gene" in res.output
    predict_table(model_dir, reference, tmp_path / "b.csv", id_col="case_id")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_predict_nan_without_imputer_names_data_rows(frame, model_dir, tmp_path) -> None:
    bad = _edit(frame, "g2", 57, np.nan)
    data = write(bad, tmp_path / "new.csv")
    pattern = (r"missing \(NaN\) values in 1 feature column\(s\) \['g2'\] at data rows \[57\] "
               r"\(IDs \['P057'\]\).*--impute median")  # fmt: skip
    with pytest.raises(ValueError, match=pattern):  # rows count from the start of the file
        predict_table(model_dir, data, tmp_path / "r.csv", id_col="case_id", chunk_rows=10)
    res = cli("predict", "--model", model_dir, "--data", data, "--out", tmp_path / "r.csv",
              "--id-col", "case_id", "--chunk-rows", 10)  # fmt: skip
    assert_cli_error(res, pattern)


def test_predict_missing_id_column(frame, model_dir, tmp_path) -> None:
    data = write(frame, tmp_path / "new.csv")
    assert_cli_error(
        cli("predict", "--model", model_dir, "--data", data, "--out", tmp_path / "r.csv",
            "--id-col", "patient"),
        r"id column 'patient' not found; the table has columns \[.*'case_id'",
    )  # fmt: skip


# ------------------------------------------------------------------------------ files
def test_empty_file(tmp_path, model_dir) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.csv' is empty \(0 bytes\)"):
        load_survival_table(empty)
    assert_cli_error(cli(*fit_args(empty, tmp_path / "m")), r"empty\.csv' is empty \(0 bytes\)")
    assert_cli_error(
        cli("predict", "--model", model_dir, "--data", empty, "--out", tmp_path / "r.csv"),
        r"empty\.csv' is empty \(0 bytes\)",
    )
    header = tmp_path / "header.csv"
    header.write_text("case_id,time,event,g0\n")
    assert_cli_error(cli(*fit_args(header, tmp_path / "m")), r"has a header but no rows")


def test_wrong_delimiter(frame, tmp_path, model_dir) -> None:
    path = write(frame, tmp_path / "semi.csv", sep=";")
    with pytest.raises(
        ValueError, match=r"read as a single column .* looks like ';'.*Pass sep=';'"
    ):
        load_survival_table(path, sep=",")
    # detected automatically, also in a .tsv that holds no tabs and when predicting
    tsv = write(frame, tmp_path / "semi.tsv", sep=";")
    assert len(load_survival_table(tsv, id_col="case_id")) == N
    res = cli("predict", "--model", model_dir, "--data", tsv, "--out", tmp_path / "r.csv")
    assert res.exit_code == 0, res.output
    # an unknown delimiter
    colon = tmp_path / "colon.csv"
    colon.write_text(frame.to_csv(index=False).replace(",", ":"))
    pattern = r"read as a single column named 'case_id:time:event.*delimiter was not recognised"
    assert_cli_error(cli(*fit_args(colon, tmp_path / "m")), pattern)
    assert_cli_error(
        cli("predict", "--model", model_dir, "--data", colon, "--out", tmp_path / "r.csv"), pattern
    )


def test_whitespace_delimited_table_is_read(frame, tmp_path) -> None:
    path = tmp_path / "spaces.txt"
    path.write_text(frame.to_string(index=False))
    t = load_survival_table(path, id_col="case_id")
    assert len(t) == N and t.feature_names == GENES


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        pytest.param("bad.csv.gz", b"this is not gzip", id="gzip"),
        pytest.param("bad.csv.bz2", b"BZh9 not really", id="bz2"),
        pytest.param("bad.parquet", b"PAR1 broken parquet", id="parquet"),
    ],
)
def test_unreadable_compression(tmp_path, model_dir, name, payload) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    pattern = rf"could not read '.*{re.escape(name)}': the file looks corrupt, truncated"
    with pytest.raises(ValueError, match=pattern):
        load_survival_table(path)
    assert_cli_error(cli(*fit_args(path, tmp_path / "m")), pattern)
    assert_cli_error(
        cli("predict", "--model", model_dir, "--data", path, "--out", tmp_path / "r.csv"), pattern
    )


@pytest.mark.parametrize(
    ("option", "name", "pattern"),
    [
        pytest.param("--time-col", "months", r"time column 'months' not found", id="time"),
        pytest.param("--event-col", "dead", r"event column 'dead' not found", id="event"),
    ],
)
def test_missing_time_or_event_column(frame, tmp_path, option, name, pattern) -> None:
    path = write(frame, tmp_path / "c.csv")
    existing = r"the table has columns \[.*'case_id', 'time', 'event'"
    arg = "time_col" if option == "--time-col" else "event_col"
    with pytest.raises(ValueError, match=f"{pattern}; {existing}"):
        load_survival_table(path, **{arg: name})
    assert_cli_error(cli(*fit_args(path, tmp_path / "m", option, name)), pattern, existing, option)
    assert_cli_error(cli(*cv_args(path, option, name)), pattern, existing)


# ------------------------------------------------------------------------------ slides (wsi)
@pytest.fixture(scope="module")
def wsi_model() -> Any:
    from coxmt.estimators.wsi import WSICoxMT

    rng = np.random.default_rng(0)
    bags = [rng.normal(size=(int(rng.integers(3, 9)), 8)).astype(np.float32) for _ in range(30)]
    event, time = rng.random(30) < 0.6, rng.exponential(size=30)
    tiny = dict(model_dim=8, attention_dim=4, hidden_dim=4, max_tokens=16, batch_size=16)
    return WSICoxMT(**tiny, max_epochs=2, random_state=0).fit(bags, (event, time))


@needs_h5py
def test_h5_without_features(tmp_path) -> None:
    import h5py

    from coxmt.wsi import read_features

    path = tmp_path / "slide.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("coords", data=np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"has no 'features' dataset \(found: \['coords'\]\).*coxmt wsi extract"
    ):
        read_features(path)
    annotations = tmp_path / "ann.csv"
    annotations.write_text("slide_id,x,y,label\nslide,0,0,tumor\nslide,0,0,non-tumor\n")
    res = cli(
        "wsi", "train-filter", annotations, "--features-dir", tmp_path, "--out", tmp_path / "p.json"
    )
    assert_cli_error(res, r"has no 'features' dataset")


@needs_h5py
def test_h5_with_another_feature_dimension(tmp_path, wsi_model) -> None:
    from coxmt.wsi import write_features

    path = write_features(tmp_path / "other.h5", np.zeros((4, 5)), np.zeros((4, 2), dtype=int))
    with pytest.raises(
        ValueError,
        match=r"has 5-dimensional patch features but the model was fitted on 8-dimensional",
    ):
        wsi_model.predict([path])


@pytest.mark.skipif(
    not (HAS_H5PY and HAS_SLIDE_READER),
    reason="the wsi extra is not installed (openslide or tiffslide): pip install 'coxmt[wsi]'",
)
def test_file_that_is_not_a_slide(tmp_path) -> None:
    from coxmt.wsi import open_slide

    bad = tmp_path / "scan.svs"
    bad.write_text("slide_id,label\n1,tumor\n")
    with pytest.raises(ValueError, match=r"is not a readable whole-slide image"):
        open_slide(bad)
    assert_cli_error(
        cli("wsi", "segment", bad, "-o", tmp_path / "out"), r"is not a readable whole-slide image"
    )


# ------------------------------------------------------------------------------ model directories
def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _set_config(path: Path, **changes: Any) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    for key, value in list(config.items()):
        if value is None and key in changes:
            del config[key]
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        pytest.param(lambda p: (p / "weights.safetensors").unlink(),
                     r"is incomplete: weights.safetensors is missing", id="incomplete"),
        pytest.param(lambda p: (p / "config.json").unlink(), r"is incomplete: config.json is missing",
                     id="no-config"),
        pytest.param(lambda p: (p / "config.json").write_text('{"format": "coxmt-model", '),
                     r"config.json is corrupted \(not valid JSON", id="corrupted-json"),
        pytest.param(lambda p: (p / "weights.safetensors").write_bytes(b"\x00" * 64),
                     r"does not match the checksum.*modified or truncated", id="corrupted-weights"),
        pytest.param(lambda p: _set_config(p, format_version=FORMAT_VERSION + 1),
                     rf"saved in model format version {FORMAT_VERSION + 1}.*Upgrade coxmt", id="newer"),
        pytest.param(lambda p: _set_config(p, **{"class": "RandomForestClassifier"}),
                     r"unknown model class 'RandomForestClassifier'; known: \[.*'CoxNnet'", id="other-class"),
        pytest.param(lambda p: _set_config(p, n_features_in=None),
                     r"is incomplete or corrupted: the entry 'n_features_in' is missing", id="missing-key"),
    ],
)  # fmt: skip
def test_damaged_model_directory(model_dir, tmp_path, frame, damage, pattern) -> None:
    broken = _copy_model(model_dir, tmp_path / "broken")
    damage(broken)
    with pytest.raises(ValueError, match=pattern):
        load_model(broken)
    data = write(frame, tmp_path / "new.csv")
    assert_cli_error(
        cli("predict", "--model", broken, "--data", data, "--out", tmp_path / "r.csv"), pattern
    )
    assert_cli_error(cli("evaluate", "--model", broken, "--data", data), pattern)
    assert not (tmp_path / "r.csv").exists()


def test_model_of_another_class(tmp_path, frame) -> None:
    model = CoxNnet(max_epochs=2, random_state=0).fit(frame[GENES], (frame.event, frame.time))
    path = save_model(model, tmp_path / "nnet")
    with pytest.raises(
        ValueError, match=r"holds a CoxNnet, not a CoxMT; load it with coxmt.load_model"
    ):
        CoxMT.load(path)
    assert_cli_error(cli("predict", "--model", tmp_path / "nothing", "--data", tmp_path / "x.csv",
                         "--out", tmp_path / "r.csv"), r"no model at")  # fmt: skip


class _CreatesFile:
    """Unpickling this calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_in_model_directory_is_never_unpickled(model_dir, tmp_path, frame) -> None:
    import hashlib

    import torch

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFile(marker))
    evil = _copy_model(model_dir, tmp_path / "evil")
    (evil / "weights.pkl").write_bytes(payload)
    (evil / "model.pkl").write_bytes(payload)
    torch.save(_CreatesFile(marker), evil / "model.pt")
    data = write(frame, tmp_path / "new.csv")
    load_model(evil).predict(frame.set_index("case_id")[GENES])  # extra files are ignored
    assert (
        cli("predict", "--model", evil, "--data", data, "--out", tmp_path / "r.csv").exit_code == 0
    )
    # a pickle in place of the weights, even with a matching checksum, is refused unread
    swapped = _copy_model(model_dir, tmp_path / "swapped")
    (swapped / "weights.safetensors").write_bytes(payload)
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_model(swapped)
    _set_config(swapped, checksums={"weights.safetensors": hashlib.sha256(payload).hexdigest()})
    with pytest.raises(ValueError, match=r"weights.safetensors is corrupted"):
        load_model(swapped)
    (swapped / "config.json").write_bytes(payload)
    with pytest.raises(ValueError, match=r"config.json is corrupted"):
        load_model(swapped)
    assert not marker.exists()


# ------------------------------------------------------------------------------ the CLI itself
def test_unexpected_errors_are_one_line_with_a_way_to_see_the_traceback(
    monkeypatch, model_dir, tmp_path, frame
) -> None:
    import coxmt.predict

    def boom(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("something deep inside")

    monkeypatch.setattr(coxmt.predict, "predict_table", boom)
    data = write(frame, tmp_path / "new.csv")
    args = ["predict", "--model", model_dir, "--data", data, "--out", tmp_path / "r.csv"]
    assert_cli_error(cli(*args), r"unexpected RuntimeError: something deep inside.*COXMT_TRACEBACK=1",
                     code=1)  # fmt: skip
    res = cli(*args, env={"COXMT_TRACEBACK": "1"})
    assert isinstance(res.exception, RuntimeError)
