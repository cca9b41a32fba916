"""Tests for coxmt.data: reading survival tables, the demo data set and the TCGA loader."""

from __future__ import annotations

import bz2
import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coxmt.data import SurvivalTable, load_demo, load_survival_table, load_tcga

TCGA_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga").resolve()


@pytest.fixture
def cohort() -> pd.DataFrame:
    """30 patients, 40% events, 4 genes, clinical and bookkeeping columns."""
    rng = np.random.default_rng(0)
    n = 30
    return pd.DataFrame(
        {
            "case_id": [f"P{i:02d}" for i in range(n)],
            "time": np.round(rng.uniform(1, 100, n), 2),
            "event": (np.arange(n) % 5 < 2).astype(int),
            "age": rng.integers(30, 80, n),
            "is_female": rng.integers(0, 2, n),
            "fold": np.arange(n) % 5,
            "oncotree_code": ["IDC"] * n,
            "TP53_rnaseq": rng.normal(size=n),
            "EGFR_rnaseq": rng.normal(size=n),
            "MYC_cnv": rng.integers(-2, 3, n),
            "KRAS_mut": rng.integers(0, 2, n),
        }
    )


def _write(frame: pd.DataFrame, path: Path, **kwargs: object) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


GENES = ["TP53_rnaseq", "EGFR_rnaseq", "MYC_cnv", "KRAS_mut"]


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "sep"),
    [
        pytest.param("c.csv", ",", id="csv"),
        pytest.param("c.tsv", "\t", id="tsv-by-extension"),
        pytest.param("c.txt", "\t", id="txt-tab-sniffed"),
        pytest.param("c.csv", ";", id="semicolon-sniffed"),
        pytest.param("c.txt", "|", id="pipe-sniffed"),
        pytest.param("c.csv.gz", ",", id="gzip"),
        pytest.param("c.tsv.gz", "\t", id="tsv-gzip"),
        pytest.param("c.csv.bz2", ",", id="bz2"),
        pytest.param("c.csv.xz", ",", id="xz"),
        pytest.param("c.csv.zip", ",", id="zip"),
    ],
)
def test_reads_text_formats(tmp_path: Path, cohort: pd.DataFrame, name: str, sep: str) -> None:
    path = _write(cohort, tmp_path / name, sep=sep)
    t = load_survival_table(path, id_col="case_id")
    assert isinstance(t, SurvivalTable)
    assert len(t) == 30
    assert t.feature_names == GENES
    assert list(t.X.columns) == GENES
    assert list(t.X.index) == list(cohort["case_id"])
    np.testing.assert_allclose(t.X["TP53_rnaseq"].to_numpy(), cohort["TP53_rnaseq"].to_numpy())
    np.testing.assert_array_equal(t.event, cohort["event"].to_numpy() == 1)
    np.testing.assert_allclose(t.time, cohort["time"].to_numpy())
    assert list(t.clinical.columns) == ["age", "is_female", "fold", "oncotree_code"]


def test_sniffing_respects_quoted_fields(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": [1.0, 2.0, 3.0],
            "event": [1, 0, 1],
            "slide_ids": ["a.svs;b.svs", "c.svs", "d.svs;e.svs;f.svs"],
            "note": ["x, y", "z", "w, v, u"],
            "G1": [0.1, 0.2, 0.3],
        }
    )
    t = load_survival_table(_write(frame, tmp_path / "q.csv"))
    assert t.feature_names == ["G1"]
    assert list(t.clinical.columns) == ["slide_ids", "note"]


@pytest.mark.parametrize("ids_as_index", [False, True], ids=["id-column", "id-index"])
def test_reads_parquet(tmp_path: Path, cohort: pd.DataFrame, ids_as_index: bool) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "c.parquet"
    (cohort.set_index("case_id") if ids_as_index else cohort).to_parquet(path)
    t = load_survival_table(path, id_col="case_id", feature_cols="_rnaseq")
    assert t.feature_names == ["TP53_rnaseq", "EGFR_rnaseq"]
    assert t.ids.tolist() == cohort["case_id"].tolist()


def test_parquet_without_pyarrow_says_how_to_install(
    tmp_path: Path, cohort: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install coxmt\[parquet\]"):
        load_survival_table(path)


def test_h5ad_without_anndata_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.h5ad"
    path.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(ImportError, match=r"pip install coxmt\[h5ad\]"):
        load_survival_table(path)


def test_reads_h5ad(tmp_path: Path, cohort: pd.DataFrame) -> None:
    anndata = pytest.importorskip("anndata")
    obs = cohort[["time", "event", "age"]].copy()
    obs["event"] = obs["event"].astype("category")  # as AnnData often stores labels
    obs.index = pd.Index(cohort["case_id"].to_numpy(), name=None)
    expr = cohort[["TP53_rnaseq", "EGFR_rnaseq"]].to_numpy(dtype=np.float32)
    var = pd.DataFrame(index=pd.Index(["TP53", "EGFR"]))
    path = tmp_path / "c.h5ad"
    anndata.AnnData(X=expr, obs=obs, var=var).write_h5ad(path)
    t = load_survival_table(path)
    assert t.feature_names == ["TP53", "EGFR"]
    assert t.ids.tolist() == cohort["case_id"].tolist()
    assert list(t.clinical.columns) == ["age"]
    np.testing.assert_allclose(t.X["EGFR"].to_numpy(), expr[:, 1])


# ---------------------------------------------------------------------- feature_cols


@pytest.mark.parametrize(
    ("feature_cols", "expected"),
    [
        pytest.param(None, GENES, id="auto"),
        pytest.param(["EGFR_rnaseq", "MYC_cnv"], ["EGFR_rnaseq", "MYC_cnv"], id="list"),
        pytest.param(r"_(rnaseq|cnv)$", ["TP53_rnaseq", "EGFR_rnaseq", "MYC_cnv"], id="regex"),
        pytest.param("_rnaseq", ["TP53_rnaseq", "EGFR_rnaseq"], id="suffix"),
        pytest.param("mut", ["KRAS_mut"], id="bare-suffix"),
    ],
)
def test_feature_cols(
    tmp_path: Path, cohort: pd.DataFrame, feature_cols: object, expected: list[str]
) -> None:
    path = _write(cohort, tmp_path / "c.csv")
    t = load_survival_table(path, id_col="case_id", feature_cols=feature_cols)  # type: ignore[arg-type]
    assert t.feature_names == expected
    assert t.X.dtypes.eq(np.float64).all()
    assert not set(expected) & set(t.clinical.columns)
    assert {"time", "event", "case_id"}.isdisjoint(t.clinical.columns)


def test_auto_features_without_id_col_skips_numeric_id(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "patient_id": [10, 11, 12],
            "Unnamed: 0": [0, 1, 2],
            "time": [1.0, 2.0, 3.0],
            "event": [1, 0, 1],
            "tumor_stage": [1, 2, 3],
            "ESR1": [1.0, 2.0, 3.0],
            "ERBB2": [3.0, 1.0, 2.0],
        }
    )
    t = load_survival_table(_write(frame, tmp_path / "c.csv"))
    assert t.feature_names == ["ESR1", "ERBB2"]
    assert list(t.X.index) == [0, 1, 2]


@pytest.mark.parametrize(
    ("feature_cols", "message"),
    [
        pytest.param("_protein", r"feature_cols='_protein' \(suffix\) matches no column", id="suffix"),
        pytest.param(r"^ENSG\d+", r"\(regular expression\) matches no column", id="regex"),
        pytest.param(r"_rnaseq(", r"not a valid regular expression", id="bad-regex"),
        pytest.param(["TP53_rnaseq", "TP35_rnaseq"], r"feature column 'TP35_rnaseq' not found.*'TP53_rnaseq'", id="missing"),
        pytest.param(["oncotree_code"], r"not numeric.*'IDC'", id="non-numeric"),
        pytest.param(["time", "TP53_rnaseq"], r"includes the time/event/id columns \['time'\]", id="reserved"),
        pytest.param(["MYC_cnv", "MYC_cnv"], r"more than once: \['MYC_cnv'\]", id="duplicate"),
    ],
)  # fmt: skip
def test_feature_cols_errors(
    tmp_path: Path, cohort: pd.DataFrame, feature_cols: object, message: str
) -> None:
    path = _write(cohort, tmp_path / "c.csv")
    with pytest.raises(ValueError, match=message):
        load_survival_table(path, id_col="case_id", feature_cols=feature_cols)  # type: ignore[arg-type]


def test_empty_feature_list_loads_outcomes_only(tmp_path: Path, cohort: pd.DataFrame) -> None:
    t = load_survival_table(_write(cohort, tmp_path / "c.csv"), id_col="case_id", feature_cols=[])
    assert t.X.shape == (len(cohort), 0) and len(t.y) == len(cohort)
    assert "TP53_rnaseq" in t.clinical.columns


def test_no_numeric_features(tmp_path: Path) -> None:
    frame = pd.DataFrame({"time": [1.0, 2.0], "event": [1, 0], "age": [50, 60], "site": ["a", "b"]})
    with pytest.raises(ValueError, match=r"no numeric feature columns found.*feature_cols="):
        load_survival_table(_write(frame, tmp_path / "c.csv"))


# ------------------------------------------------------------------- event convention


def test_censorship_column_is_flipped(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.rename(columns={"event": "censorship"})
    frame["censorship"] = 1 - frame["censorship"]
    path = _write(frame, tmp_path / "c.csv")
    t = load_survival_table(path, event_col="censorship", event_means="censored", id_col="case_id")
    np.testing.assert_array_equal(t.event, cohort["event"].to_numpy() == 1)
    assert "censorship" not in t.clinical.columns


def test_censor_named_column_with_event_convention_raises(
    tmp_path: Path, cohort: pd.DataFrame
) -> None:
    path = _write(cohort.rename(columns={"event": "censorship"}), tmp_path / "c.csv")
    with pytest.raises(
        ValueError, match=r"looks like a censoring indicator.*event_means='censored'"
    ):
        load_survival_table(path, event_col="censorship")


def test_bad_event_means(tmp_path: Path, cohort: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="event_means must be 'event'"):
        load_survival_table(tmp_path / "c.csv", event_means="dead")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_means", "hint"),
    [
        pytest.param("event", "pass event_means='censored'", id="event"),
        pytest.param("censored", "pass event_means='event'", id="censored"),
    ],
)
def test_implausible_event_rate_warns(
    tmp_path: Path, cohort: pd.DataFrame, event_means: str, hint: str
) -> None:
    frame = cohort.copy()
    frame["status"] = 1 if event_means == "event" else 0
    path = _write(frame.drop(columns="event"), tmp_path / "c.csv")
    with pytest.warns(
        UserWarning, match=rf"100% of the 30 patients have an observed event.*{hint}"
    ):
        t = load_survival_table(path, event_col="status", event_means=event_means)  # type: ignore[arg-type]
    assert t.event.all()


def test_plausible_event_rate_and_small_tables_do_not_warn(tmp_path: Path) -> None:
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": [1, 1, 1], "G": [1.0, 2.0, 3.0]})
    t = load_survival_table(_write(frame, tmp_path / "c.csv"))  # warnings are errors here
    assert t.n_events == 3


def test_boolean_and_float_events(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"time": [1.0, 2.0, 3.0], "e1": [True, False, True], "e2": [1.0, 0.0, 0.0], "G": [1, 2, 3]}
    )
    path = _write(frame, tmp_path / "c.csv")
    assert load_survival_table(path, event_col="e1", feature_cols=["G"]).event.tolist() == [
        True,
        False,
        True,
    ]
    assert load_survival_table(path, event_col="e2", feature_cols=["G"]).n_events == 1


# --------------------------------------------------------------------------- errors


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.csv' is empty \(0 bytes\)"):
        load_survival_table(path)


def test_blank_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv.gz"
    path.write_bytes(gzip.compress(b"\n"))
    with pytest.raises(ValueError, match="is empty"):
        load_survival_table(path)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("time,event,G\n")
    with pytest.raises(ValueError, match="has a header but no rows"):
        load_survival_table(path)


_ROWS = "".join(f"{t:.6f},{t > 0.5:d},{t * 3:.6f}\n" for t in np.random.default_rng(1).random(3000))
_GZIP = gzip.compress(("time,event,G\n" + _ROWS).encode())
_TRUNCATED_GZIP = _GZIP[: len(_GZIP) // 2]


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        pytest.param("bad.csv.gz", b"this is not gzip at all\n", id="not-gzip"),
        pytest.param("cut.csv.gz", _TRUNCATED_GZIP, id="truncated-gzip"),
        pytest.param("bad.csv.bz2", b"BZh9 garbage", id="not-bz2"),
        pytest.param("bad.csv.xz", b"\xfd7zXZ\x00garbage", id="not-xz"),
        pytest.param("bad.csv.zip", b"PK\x03\x04garbage", id="not-zip"),
    ],
)  # fmt: skip
def test_corrupt_compressed_file(tmp_path: Path, name: str, payload: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=rf"could not read .*{name}'.*corrupt"):
        load_survival_table(path)


def test_zip_with_several_tables(tmp_path: Path) -> None:
    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", "time,event\n1,0\n")
        zf.writestr("b.csv", "time,event\n1,0\n")
    with pytest.raises(ValueError, match="holds 2 files"):
        load_survival_table(path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(ValueError, match=r"could not read .*bad\.parquet'"):
        load_survival_table(path)


def test_wrong_delimiter(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = _write(cohort, tmp_path / "c.csv", sep=";")
    with pytest.raises(
        ValueError, match=r"read as a single column .* looks like ';'.*Pass sep=';'"
    ):
        load_survival_table(path, sep=",")


def test_missing_file(tmp_path: Path, cohort: pd.DataFrame) -> None:
    _write(cohort, tmp_path / "cohort.csv")
    with pytest.raises(FileNotFoundError, match=r"does not exist\. Did you mean .*cohort\.csv"):
        load_survival_table(tmp_path / "cohrt.csv")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        load_survival_table(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"time_col": "OS_time"}, r"time column 'OS_time' not found.*Did you mean 'time'", id="time"),
        pytest.param({"time_col": "months"}, r"time column 'months' not found.*Did you mean 'time_months'", id="time-substring"),
        pytest.param({"event_col": "evnt"}, r"event column 'evnt' not found.*Did you mean 'event'.*event_col='event'", id="event"),
        pytest.param({"id_col": "caseid"}, r"id column 'caseid' not found.*'case_id'", id="id"),
        pytest.param({"event_col": "vital"}, r"the table has columns \[.*'event'", id="lists-columns"),
    ],
)  # fmt: skip
def test_missing_columns(
    tmp_path: Path, cohort: pd.DataFrame, kwargs: dict[str, str], message: str
) -> None:
    frame = cohort.copy()
    if kwargs.get("time_col") == "months":
        frame = frame.rename(columns={"time": "time_months"})
    path = _write(frame, tmp_path / "c.csv")
    with pytest.raises(ValueError, match=message):
        load_survival_table(path, **kwargs)  # type: ignore[arg-type]


def test_duplicate_ids(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[[3, 7], "case_id"] = "P01"
    frame.loc[9, "case_id"] = "P08"
    with pytest.raises(
        ValueError, match=r"2 duplicated IDs \['P01', 'P08'\] at rows \[1, 3, 7, 8, 9\]"
    ):
        load_survival_table(_write(frame, tmp_path / "c.csv"), id_col="case_id")


def test_missing_ids(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[4, "case_id"] = None
    with pytest.raises(ValueError, match=r"id column 'case_id' is empty at rows \[4\]"):
        load_survival_table(_write(frame, tmp_path / "c.csv"), id_col="case_id")


def test_non_numeric_time(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.astype({"time": object})
    frame.loc[2, "time"] = "12 months"
    frame.loc[5, "time"] = "unknown"
    with pytest.raises(
        ValueError,
        match=r"time column 'time' is not numeric: '12 months', 'unknown' at rows \[2, 5\] "
        r"\(IDs \['P02', 'P05'\]\)",
    ):
        load_survival_table(_write(frame, tmp_path / "c.csv"), id_col="case_id")


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        pytest.param({1: 2, 6: 2}, r"found 2 at rows \[1, 6\]", id="two"),
        pytest.param({0: "dead", 1: "alive"}, r"found 'alive', 'dead' at rows \[0, 1\]", id="text"),
        pytest.param({3: -1}, r"found -1 at rows \[3\]", id="negative"),
    ],
)
def test_events_not_binary(
    tmp_path: Path, cohort: pd.DataFrame, values: dict[int, object], shown: str
) -> None:
    frame = cohort.astype({"event": object})
    for row, value in values.items():
        frame.loc[row, "event"] = value
    with pytest.raises(ValueError, match=rf"event column 'event' must hold 0/1.*{shown}"):
        load_survival_table(_write(frame, tmp_path / "c.csv"))


def test_missing_time_or_event(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[4, "time"] = np.nan
    frame.loc[11, "event"] = np.nan
    with pytest.raises(
        ValueError, match=r"2 rows have no 'time' or 'event' value: rows \[4, 11\].*dropna"
    ):
        load_survival_table(_write(frame, tmp_path / "c.csv"))


def test_negative_time(tmp_path: Path, cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[6, "time"] = -3.0
    with pytest.raises(ValueError, match=r"time contains negative values at rows \[6\]"):
        load_survival_table(_write(frame, tmp_path / "c.csv"))


# ---------------------------------------------------------------------- SurvivalTable


def test_survival_table_contents(tmp_path: Path, cohort: pd.DataFrame) -> None:
    t = load_survival_table(_write(cohort, tmp_path / "c.csv"), id_col="case_id")
    assert t.y.dtype.names == ("event", "time")
    assert t.y["event"].dtype == bool
    assert t.n_events == int(cohort["event"].sum()) == 12
    assert t.ids.name == "case_id"
    assert t.clinical.index.equals(t.X.index)
    assert repr(t).startswith(
        "SurvivalTable(n_patients=30, n_events=12, n_features=4, n_clinical=4"
    )


# --------------------------------------------------------------------------- demo


def test_demo_dataset() -> None:
    t = load_demo()
    assert (len(t), t.n_events, t.X.shape[1]) == (198, 51, 76)
    assert list(t.clinical.columns) == ["age", "size", "grade", "er"]
    assert t.X.index.is_unique and t.ids[0] == "patient_001"
    assert np.isfinite(t.X.to_numpy()).all()
    assert 0.0 < t.X.to_numpy().min() and t.X.to_numpy().max() < 16.0  # log2 microarray scale
    assert (t.time > 0).all() and t.time_unit == "days"
    assert t.clinical["grade"].isna().sum() == 2
    assert "205034_at" in t.feature_names


def test_demo_file_is_small_and_documented() -> None:
    import coxmt.data

    folder = Path(coxmt.data.__file__).parent / "_builtin"
    assert (folder / "gse7390_breast.csv.gz").stat().st_size < 2_000_000
    readme = (folder / "README.md").read_text()
    assert "GSE7390" in readme and "Desmedt" in readme and "Licence" in readme


# --------------------------------------------------------------------------- TCGA


def _fake_tcga(folder: Path, cohort: pd.DataFrame, name: str = "xyz") -> Path:
    frame = cohort.rename(columns={"time": "time_months"}).drop(columns="fold")
    frame.insert(len(frame.columns), "ABL1_cnv", 0)
    return _write(frame, folder / f"tcga_{name}.csv.gz")


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [
        pytest.param(("rnaseq",), ["TP53_rnaseq", "EGFR_rnaseq"], id="rnaseq"),
        pytest.param(("mut", "rnaseq"), ["KRAS_mut", "TP53_rnaseq", "EGFR_rnaseq"], id="order"),
        pytest.param(("rnaseq", "cnv", "mut"), ["TP53_rnaseq", "EGFR_rnaseq", "MYC_cnv", "ABL1_cnv", "KRAS_mut"], id="all"),
    ],
)  # fmt: skip
def test_load_tcga_layout(
    tmp_path: Path, cohort: pd.DataFrame, modalities: tuple[str, ...], expected: list[str]
) -> None:
    _fake_tcga(tmp_path, cohort)
    t = load_tcga("TCGA_XYZ", tmp_path, modalities=modalities)
    assert t.feature_names == expected == list(t.X.columns)
    assert t.ids.name == "case_id"
    assert t.source == "tcga_xyz" and t.time_unit == "months"


def test_load_tcga_env_var(
    tmp_path: Path, cohort: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tcga(tmp_path, cohort)
    monkeypatch.setenv("COXMT_TCGA_DIR", str(tmp_path))
    assert len(load_tcga("xyz")) == 30


def test_load_tcga_missing(tmp_path: Path, cohort: pd.DataFrame) -> None:
    with pytest.raises(FileNotFoundError, match="COXMT_TCGA_DIR"):
        load_tcga("brca", tmp_path / "nowhere")
    _fake_tcga(tmp_path, cohort)
    with pytest.raises(FileNotFoundError, match=r"no file for cohort 'brca'.*\['xyz'\]"):
        load_tcga("brca", tmp_path)
    with pytest.raises(ValueError, match="modalities must be"):
        load_tcga("xyz", tmp_path, modalities=("protein",))


@pytest.mark.shared_data
@pytest.mark.skipif(not TCGA_DIR.is_dir(), reason=f"TCGA cohorts not found at {TCGA_DIR}")
def test_load_real_tcga_ucec() -> None:
    t = load_tcga("ucec", TCGA_DIR)
    assert (len(t), t.n_events, t.X.shape[1]) == (147, 26, 1577)
    assert all(c.endswith("_rnaseq") for c in t.feature_names)
    assert {"age", "is_female", "oncotree_code", "slide_ids"} <= set(t.clinical.columns)
    assert t.ids.is_unique


def test_bz2_and_sniff_large_header(tmp_path: Path) -> None:
    genes = {f"G{i}_rnaseq": np.arange(3.0) + i for i in range(2000)}
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], **genes})
    path = tmp_path / "wide.tsv.bz2"
    path.write_bytes(bz2.compress(frame.to_csv(sep="\t", index=False).encode()))
    t = load_survival_table(path)
    assert t.X.shape == (3, 2000)


def test_read_feature_table_aligns_and_checks(tmp_path) -> None:
    from coxmt.data import read_feature_table

    p = tmp_path / "unlabeled.csv"
    pd.DataFrame(
        {"id": ["a", "b", "c"], "g1": [1.0, 2.0, 3.0], "g2": [0.1, 0.2, 0.3], "x": 1}
    ).to_csv(p, index=False)
    out = read_feature_table(p, feature_names=["g2", "g1"], id_col="id")
    assert out.columns.tolist() == ["g2", "g1"] and out.index.tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"lacks 1 feature column.*g3"):
        read_feature_table(p, feature_names=["g1", "g3"])
    assert read_feature_table(p, feature_cols=r"^g\d$").columns.tolist() == ["g1", "g2"]
    pd.DataFrame({"id": ["a", "a"], "g1": [1.0, 2.0]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="duplicate IDs in 'id': a"):
        read_feature_table(p, id_col="id")
