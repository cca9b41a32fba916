"""``coxmt wsi fit | predict | evaluate``: slide-only and multimodal models from the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli import app as coxmt_app
from coxmt.io import load_model
from coxmt.wsi import write_features
from coxmt.wsi.heatmap import read_attention_h5
from coxmt.wsi.matching import find_feature_files, match_slides, match_table_slides

D = 8  # patch-feature dimension
GENES = [f"G{j}_rnaseq" for j in range(6)]
TINY = {
    "wsi-coxmt": ["model_dim=8", "attention_dim=4", "hidden_dim=4", "batch_size=16"],
    "wsi-coxnnet": ["model_dim=8", "attention_dim=4", "hidden_dim=4", "batch_size=16"],
    "multimodal-coxmt": ["model_dim=8", "n_heads=2", "n_rna_tokens=3", "hidden_dim=4",
                         "batch_size=16"],
    "multimodal-coxnnet": ["model_dim=8", "n_heads=2", "n_rna_tokens=3", "hidden_dim=4",
                           "batch_size=16"],
}  # fmt: skip


@dataclass
class Cohort:
    table: Path  # with a slide_ids column
    table_noslides: Path  # without it (feature files matched by ID prefix)
    unlabeled: Path
    features: Path
    ids: list[str]
    no_slide: list[str]


def _grid(n: int) -> np.ndarray:
    """``n`` patch corners on a 256 px grid inside the 2048 px test slide."""
    xy = np.stack(np.meshgrid(np.arange(8), np.arange(8)), -1).reshape(-1, 2) * 256
    return xy[:n]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """36 labeled + 6 unlabeled patients; random h5 features whose mean carries the risk."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("wsi_cohort")
    feats = root / "features"
    n, n_unl = 36, 6
    ids = [f"TCGA-AB-{i:04d}" for i in range(n + n_unl)]
    risk = rng.normal(size=n + n_unl)
    no_slide = {ids[3], ids[17]}
    slide_lists = []
    for i, pid in enumerate(ids):
        if pid in no_slide:
            slide_lists.append("")
            continue
        names = []
        for k in range(1 + (i % 5 == 0)):
            name = f"{pid}-01Z-00-DX{k + 1}.ABC{i:03d}"
            k_patches = int(rng.integers(6, 20))
            x = rng.normal(size=(k_patches, D)) + 0.8 * risk[i]
            write_features(feats / f"{name}.h5", x, _grid(k_patches), {"encoder": "random"})
            names.append(f"{name}.svs")
        if i == 5:
            names.append(f"{pid}-01Z-00-DX9.MISSING.svs")  # listed, never extracted
        slide_lists.append(";".join(names))
    t_event = rng.exponential(np.exp(-risk))
    t_cens = rng.exponential(2 * np.median(t_event), size=n + n_unl)
    frame = pd.DataFrame(
        {
            "case_id": ids,
            "time_months": np.round(np.minimum(t_event, t_cens) * 12 + 0.1, 2),
            "censorship": (t_event > t_cens).astype(int),
            "age": rng.integers(40, 80, n + n_unl),
            "slide_ids": slide_lists,
        }
    )
    for j, g in enumerate(GENES):
        frame[g] = rng.normal(size=n + n_unl) + (risk if j == 0 else 0.0)
    table = root / "clinical.csv"
    frame.iloc[:n].to_csv(table, index=False)
    table_noslides = root / "clinical_noslides.csv"
    frame.iloc[:n].drop(columns=["slide_ids"]).to_csv(table_noslides, index=False)
    unlabeled = root / "unlabeled.csv"
    frame.iloc[n:].drop(columns=["time_months", "censorship"]).to_csv(unlabeled, index=False)
    return Cohort(table, table_noslides, unlabeled, feats, ids[:n], sorted(no_slide))


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The whole ``coxmt`` tool, as users run it."""
    return coxmt_app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _labels(cohort: Cohort) -> list[str]:
    return [
        "--time-col", "time_months", "--event-col", "censorship", "--event-means", "censored",
        "--id-col", "case_id",
    ]  # fmt: skip


def _fit_args(cohort: Cohort, model: str, out: Path, table: Path | None = None) -> list[str]:
    args = [
        "wsi", "fit", "--table", str(table or cohort.table), "--features-dir",
        str(cohort.features), "--out", str(out), "--model", model, "--epochs", "2",
        "--device", "cpu", "--no-verbose", *_labels(cohort),
    ]  # fmt: skip
    for p in TINY[model]:
        args += ["--param", p]
    if model.startswith("multimodal"):
        args += ["--features", "_rnaseq$"]
    return args


@pytest.mark.parametrize(
    ("model", "table", "unlabeled"),
    [
        pytest.param("wsi-coxmt", "table", True, id="wsi-coxmt-slide-col-unlabeled"),
        pytest.param("wsi-coxnnet", "table_noslides", False, id="wsi-coxnnet-id-prefix"),
        pytest.param("multimodal-coxmt", "table", True, id="multimodal-coxmt-unlabeled"),
        pytest.param(
            "multimodal-coxnnet", "table_noslides", False, id="multimodal-coxnnet-id-prefix"
        ),
    ],
)
def test_fit_predict_evaluate(
    app: typer.Typer,
    runner: CliRunner,
    cohort: Cohort,
    tmp_path: Path,
    model: str,
    table: str,
    unlabeled: bool,
) -> None:
    table_path: Path = getattr(cohort, table)
    out = tmp_path / "model"
    args = _fit_args(cohort, model, out, table_path)
    if unlabeled:
        args += ["--unlabeled", str(cohort.unlabeled)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (out / "config.json").is_file()
    assert "34 of 36 patients matched to 42 feature file(s)" in r.output
    assert "note: 2 patient(s) have no feature file" in r.output
    if table == "table":
        assert "1 slide(s) listed in 'slide_ids' have no feature file" in r.output
        assert "slide column 'slide_ids'" in r.output
    else:
        assert "patient ID prefix" in r.output
    assert ("6 unlabeled" in r.output) == unlabeled
    assert f"fitted {model} on 36 patients" in r.output

    risks = tmp_path / "risks.csv"
    att = tmp_path / "att"
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(out), "--table", str(table_path),
            "--features-dir", str(cohort.features), "--out", str(risks), "--id-col", "case_id",
            "--times", "3,12,24", "--attention-dir", str(att),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "wrote 36 predictions" in r.output and "wrote 42 attention file(s)" in r.output
    res = pd.read_csv(risks)
    assert list(res.columns) == ["case_id", "risk", "survival_t3", "survival_t12", "survival_t24"]
    assert res["case_id"].tolist() == cohort.ids
    assert np.isfinite(res["risk"]).all()
    surv = res[["survival_t3", "survival_t12", "survival_t24"]].to_numpy()
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()
    # patients without slides are scored too (multimodal: from RNA-seq; slides: 'missing' token)
    assert set(cohort.no_slide) <= set(res["case_id"])

    files = sorted(att.glob("*_attention.h5"))
    assert len(files) == 42
    coords, scores, attrs = read_attention_h5(files[0])
    assert coords.shape == (len(scores), 2) and np.isfinite(scores).all() and (scores >= 0).all()
    assert attrs["patient"] in cohort.ids and files[0].name.startswith(attrs["slide"])

    r = runner.invoke(
        app,
        [
            "wsi", "evaluate", "--model", str(out), "--table", str(table_path),
            "--features-dir", str(cohort.features), *_labels(cohort),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    m = re.search(r"36 patients \(34 with slides\), \d+ deaths: Harrell C ([\d.]+), "
                  r"Uno C ([\d.]+), IBS ([\d.]+)", r.output)  # fmt: skip
    assert m, r.output
    c, uno, ibs = (float(v) for v in m.groups())
    assert 0 <= c <= 1 and 0 <= uno <= 1 and 0 <= ibs <= 1


def test_attention_file_draws_a_heatmap(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path, slide_path: Path
) -> None:
    out = tmp_path / "model"
    r = runner.invoke(app, _fit_args(cohort, "wsi-coxmt", out))
    assert r.exit_code == 0, r.output
    att = tmp_path / "att"
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(out), "--data", str(cohort.table), "--features-dir",
            str(cohort.features), "--out", str(tmp_path / "r.csv"), "--attention-dir", str(att),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    # --data is --table (as in `coxmt predict`); without --id-col rows are keyed by number
    assert pd.read_csv(tmp_path / "r.csv")["id"].tolist() == list(range(36))
    png = tmp_path / "map.png"
    attention = att / "TCGA-AB-0000-01Z-00-DX1.ABC000_attention.h5"
    r = runner.invoke(app, ["wsi", "heatmap", str(slide_path), str(attention), "-o", str(png)])
    assert r.exit_code == 0, r.output
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 0 and im.size[1] > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"--features-dir": "nowhere"}, r"feature folder .*nowhere.* does not exist",
                     id="missing-feature-folder"),
        pytest.param({"--features-dir": "empty"}, r"no feature files \(.h5, .pt\) in",
                     id="empty-feature-folder"),
        pytest.param({"--slide-col": "slides"}, r"--slide-col 'slides' is not a column",
                     id="bad-slide-col"),
        pytest.param({"--table": "strangers"}, r"no patient of strangers.csv matched a feature file",
                     id="no-patient-matched"),
        pytest.param({"--model": "wsi-coxnnet", "--unlabeled": "unlabeled"},
                     r"--unlabeled is used only by semi-supervised models \(wsi-coxmt\); "
                     r"wsi-coxnnet would ignore it", id="supervised-unl"),
        pytest.param({"--param": "hidden_units=4"},
                     r"--param names unknown hyperparameter\(s\) \['hidden_units'\] of WSICoxMT; "
                     r"valid names: attention_dim, batch_size", id="bad-param"),
        pytest.param({"--param": "max_epochs=3"}, r"--epochs and --param max_epochs disagree",
                     id="epochs-twice"),
        pytest.param({"--threads": "-1"}, r"--threads must be >= 0", id="negative-threads"),
        pytest.param({"--slide-col": "twice"}, r"slide '[^']+' is listed for two patients, "
                     r"'TCGA-AB-0000' and 'TCGA-AB-0001' in 'twice'", id="slide-of-two-patients"),
        pytest.param({"--features": "_rnaseq$"}, r"uses slides only", id="features-slide-only"),
        pytest.param({"--transform": "arcsinh"}, r"uses slides only", id="transform-slide-only"),
        pytest.param({"--model": "wsi-cox"}, r"unknown --model 'wsi-cox'; choose from wsi-coxmt",
                     id="unknown-model"),
    ],
)  # fmt: skip
def test_fit_errors(
    app: typer.Typer,
    runner: CliRunner,
    cohort: Cohort,
    tmp_path: Path,
    change: dict[str, str],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    strangers = pd.read_csv(cohort.table).drop(columns=["slide_ids"])
    strangers["case_id"] = [f"X-{i}" for i in range(len(strangers))]
    strangers.to_csv(tmp_path / "strangers.csv", index=False)
    twice = pd.read_csv(cohort.table)
    twice["twice"] = twice["slide_ids"]
    twice.loc[1, "twice"] = twice.loc[0, "slide_ids"]  # patient 1 lists patient 0's slide
    twice.to_csv(tmp_path / "twice.csv", index=False)
    paths = {
        "nowhere": tmp_path / "nowhere",
        "empty": tmp_path / "empty",
        "strangers": tmp_path / "strangers.csv",
        "unlabeled": cohort.unlabeled,
    }
    args = _fit_args(cohort, "wsi-coxmt", tmp_path / "model")
    if "--slide-col" in change and change["--slide-col"] == "twice":
        args[args.index("--table") + 1] = str(tmp_path / "twice.csv")
    for option, value in change.items():
        value = str(paths.get(value, value))
        if option in args and option != "--param":
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, r.output
    assert re.search(message, " ".join(r.output.split())), r.output
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("options", "method", "clip"),
    [
        pytest.param([], "auto", 5.0, id="defaults"),
        pytest.param(["--transform", "none", "--clip", "3"], "none", 3.0, id="none-clip3"),
    ],
)
def test_multimodal_rna_preprocessing_options_are_saved(
    app: typer.Typer,
    runner: CliRunner,
    cohort: Cohort,
    tmp_path: Path,
    options: list[str],
    method: str,
    clip: float,
) -> None:
    out = tmp_path / "model"
    r = runner.invoke(app, [*_fit_args(cohort, "multimodal-coxnnet", out), *options])
    assert r.exit_code == 0, r.output
    steps = {type(step).__name__: step for _, step in load_model(out).steps}
    assert (
        steps["ExpressionTransform"].method if "ExpressionTransform" in steps else "none"
    ) == method
    assert steps["Clip"].limit == clip


def test_predict_refuses_a_tabular_model(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    from coxmt import CoxNnet
    from coxmt.io import save_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    save_model(CoxNnet(max_epochs=2, random_state=0).fit(X, (rng.random(30) < 0.5, rng.random(30))),
               tmp_path / "tab")  # fmt: skip
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(tmp_path / "tab"), "--table", str(cohort.table),
            "--features-dir", str(cohort.features), "--out", str(tmp_path / "r.csv"),
        ],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "not a slide or multimodal model" in r.output
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    ("ids", "stems", "expected"),
    [
        pytest.param(["TCGA-A1-A0SB"], ["TCGA-A1-A0SB-01Z-00-DX1"], [1], id="tcga-barcode"),
        pytest.param(["P1", "P10"], ["P10_slide", "P1"], [1, 1], id="separator-boundary"),
        pytest.param(["P1"], ["P10_slide"], [0], id="no-partial-token"),
        pytest.param(["A", "A-B"], ["A-B-1", "A-2"], [1, 1], id="longest-id-wins"),
    ],
)
def test_match_by_prefix(ids: list[str], stems: list[str], expected: list[int]) -> None:
    files = {s: Path(f"{s}.h5") for s in stems}
    match = match_slides(ids, files)
    assert [0 if b is None else len(b) for b in match.bags] == expected


def test_find_feature_files_clam_layout(tmp_path: Path) -> None:
    (tmp_path / "h5_files").mkdir()
    (tmp_path / "pt_files").mkdir()
    for path in (tmp_path / "h5_files/S1.h5", tmp_path / "pt_files/S1.pt",
                 tmp_path / "pt_files/S2.pt", tmp_path / ".S3.h5.tmp"):  # fmt: skip
        path.write_bytes(b"")
    found = find_feature_files(tmp_path)
    assert {k: v.relative_to(tmp_path).as_posix() for k, v in found.items()} == {
        "S1": "h5_files/S1.h5",
        "S2": "pt_files/S2.pt",
    }


def test_clam_pt_features_without_coordinates(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    """CLAM .pt files (features only) train and score; attention needs coordinates."""
    import torch

    from coxmt.wsi import read_features

    pt_dir = tmp_path / "features" / "pt_files"
    pt_dir.mkdir(parents=True)
    for h5 in cohort.features.glob("*.h5"):
        torch.save(torch.from_numpy(read_features(h5)[0]), pt_dir / f"{h5.stem}.pt")
    args = _fit_args(cohort, "wsi-coxnnet", tmp_path / "model")
    args[args.index("--features-dir") + 1] = str(tmp_path / "features")
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "34 of 36 patients matched to 42 feature file(s)" in r.output
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(tmp_path / "model"), "--table", str(cohort.table),
            "--features-dir", str(tmp_path / "features"), "--out", str(tmp_path / "r.csv"),
            "--attention-dir", str(tmp_path / "att"),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "wrote 0 attention file(s)" in r.output
    assert "42 slide(s) without patch coordinates skipped" in r.output
    assert np.isfinite(pd.read_csv(tmp_path / "r.csv")["risk"]).all()


@pytest.fixture(scope="module")
def wsi_model_dir(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("wsi_model") / "model"
    r = runner.invoke(app, _fit_args(cohort, "wsi-coxmt", out))
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"--features-dir": "nowhere"}, r"feature folder .*nowhere.* does not exist",
                     id="missing-feature-folder"),
        pytest.param({"--attention-dir": "features"}, r"--attention-dir is the feature folder",
                     id="attention-over-features"),
        pytest.param({"--table": "strangers", "--slide-col": "none"},
                     r"a slide-only model has nothing to score", id="no-patient-matched"),
        pytest.param({"--times": "12,-1"}, r"--times must be >= 0", id="negative-time"),
        pytest.param({"--times": "12,abc"}, r"--times must be comma-separated numbers", id="bad-time"),
    ],
)  # fmt: skip
def test_predict_errors(
    app: typer.Typer,
    runner: CliRunner,
    cohort: Cohort,
    wsi_model_dir: Path,
    tmp_path: Path,
    change: dict[str, str],
    message: str,
) -> None:
    strangers = pd.read_csv(cohort.table)
    strangers["none"] = ""
    strangers.to_csv(tmp_path / "strangers.csv", index=False)
    paths = {
        "nowhere": tmp_path / "nowhere",
        "features": cohort.features,
        "strangers": tmp_path / "strangers.csv",
    }
    options = {
        "--model": str(wsi_model_dir),
        "--table": str(cohort.table),
        "--features-dir": str(cohort.features),
        "--out": str(tmp_path / "r.csv"),
        "--id-col": "case_id",
    }
    options.update({k: str(paths.get(v, v)) for k, v in change.items()})
    r = runner.invoke(app, ["wsi", "predict", *[x for kv in options.items() for x in kv]])
    assert r.exit_code == 2, r.output
    assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 1
    assert re.search(message, " ".join(r.output.split())), r.output
    assert not (tmp_path / "r.csv").exists()


def test_multimodal_partial_rna_needs_impute(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    frame = pd.read_csv(cohort.table)
    frame.loc[4, "G2_rnaseq"] = np.nan  # one value missing
    frame.loc[9, GENES] = np.nan  # no RNA-seq at all: kept as a missing modality
    table = tmp_path / "clinical.csv"
    frame.to_csv(table, index=False)
    args = _fit_args(cohort, "multimodal-coxmt", tmp_path / "model", table)
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "missing values in 1 feature column(s) ['G2_rnaseq']" in r.output
    assert "--impute median" in " ".join(r.output.split())
    r = runner.invoke(app, [*args, "--impute", "median"])
    assert r.exit_code == 0, r.output
    assert "note: 1 patient(s) have no RNA-seq values" in r.output
    from coxmt.io import load_model

    # the imputer fills single values; a patient without RNA-seq keeps the 'missing' token
    assert load_model(tmp_path / "model")[-1].n_missing_rna_ == 1
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(tmp_path / "model"), "--table", str(table),
            "--features-dir", str(cohort.features), "--out", str(tmp_path / "r.csv"),
            "--id-col", "case_id",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "note: 1 patient(s) have no RNA-seq values" in r.output
    assert np.isfinite(pd.read_csv(tmp_path / "r.csv")["risk"]).all()


def test_predict_refuses_multimodal_model_without_gene_names(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    from coxmt import MultimodalCoxMT
    from coxmt.io import save_model

    rng = np.random.default_rng(0)
    bags = [rng.normal(size=(5, D)).astype(np.float32) for _ in range(20)]
    y = (rng.random(20) < 0.6, rng.exponential(size=20))
    model = MultimodalCoxMT(n_rna_tokens=2, model_dim=8, n_heads=2, hidden_dim=4, max_epochs=1,
                            random_state=0).fit(rng.normal(size=(20, 6)), bags, y)  # fmt: skip
    save_model(model, tmp_path / "mm")
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(tmp_path / "mm"), "--table", str(cohort.table),
            "--features-dir", str(cohort.features), "--out", str(tmp_path / "r.csv"),
            "--id-col", "case_id",
        ],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "fitted on RNA-seq without column names" in r.output


def test_unlabeled_patients_in_the_training_table_are_warned_about(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    labeled = pd.read_csv(cohort.table).iloc[:2].drop(columns=["time_months", "censorship"])
    unl = pd.concat([pd.read_csv(cohort.unlabeled), labeled])
    unl.to_csv(tmp_path / "unl.csv", index=False)
    args = _fit_args(cohort, "wsi-coxmt", tmp_path / "model")
    r = runner.invoke(app, [*args, "--unlabeled", str(tmp_path / "unl.csv")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert (
        "warning: 2 unlabeled row(s) have IDs of labeled patients in the training table "
        "(TCGA-AB-0000, " in text
    )
    assert "8 unlabeled" in text


def test_predict_warns_about_times_past_the_last_death(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, wsi_model_dir: Path, tmp_path: Path
) -> None:
    r = runner.invoke(
        app,
        [
            "wsi", "predict", "--model", str(wsi_model_dir), "--table", str(cohort.table),
            "--features-dir", str(cohort.features), "--out", str(tmp_path / "r.csv"),
            "--id-col", "case_id", "--times", "1,10000", "--threads", "1",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "warning: time(s) 10000 past the last death in the training data" in text
    assert "time(s) 1 " not in text
    res = pd.read_csv(tmp_path / "r.csv")
    assert list(res.columns) == ["case_id", "risk", "survival_t1", "survival_t10000"]


@pytest.mark.parametrize(
    ("slides", "expected"),
    [
        pytest.param(["a.svs", "b.svs;a"], r"slide 'a' is listed for two patients, 'P0' and 'P1'",
                     id="two-patients"),
        pytest.param(["a.svs;a.svs", "b"], None, id="same-patient-twice-is-one-slide"),
    ],
)  # fmt: skip
def test_slide_listed_for_two_patients(
    tmp_path: Path, slides: list[str], expected: str | None
) -> None:
    for name in ("a.h5", "b.h5"):
        (tmp_path / name).write_bytes(b"")
    table = pd.DataFrame({"pid": ["P0", "P1"], "slides": slides})
    if expected is not None:
        with pytest.raises(ValueError, match=expected):
            match_table_slides(table, tmp_path, id_col="pid", slide_col="slides")
        return
    match = match_table_slides(table, tmp_path, id_col="pid", slide_col="slides")
    assert [[p.name for p in b or []] for b in match.bags] == [["a.h5"], ["b.h5"]]
    assert match.unused == 0 and match.n_slides == 2


def test_library_bags_fit_a_slide_model(cohort: Cohort) -> None:
    """The bags built from a table and a feature folder train WSICoxMT directly."""
    from coxmt import WSICoxMT

    table = pd.read_csv(cohort.table_noslides)
    match = match_table_slides(table, cohort.features, id_col="case_id")
    assert match.n_with_slides == 34 and match.n_slides == 42
    y = (table["censorship"].to_numpy() == 0, table["time_months"].to_numpy())
    model = WSICoxMT(model_dim=8, attention_dim=4, hidden_dim=4, batch_size=16, max_epochs=1,
                     device="cpu", random_state=0).fit(match.bags, y)  # fmt: skip
    risk = model.predict(match.bags)
    assert risk.shape == (36,) and np.isfinite(risk).all()


def test_multimodal_lists_text_gene_columns_left_out(
    app: typer.Typer, runner: CliRunner, cohort: Cohort, tmp_path: Path
) -> None:
    frame = pd.read_csv(cohort.table)
    frame["G5_rnaseq"] = frame["G5_rnaseq"].astype(object)
    frame.loc[7, "G5_rnaseq"] = "n.d."
    table = tmp_path / "clinical.csv"
    frame.to_csv(table, index=False)
    args = _fit_args(cohort, "multimodal-coxnnet", tmp_path / "model", table)
    args = args[: args.index("--features")]  # automatic feature selection
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert (
        "warning: 1 non-numeric column(s) were left out of the features: G5_rnaseq "
        "(G5_rnaseq holds text such as 'n.d.')" in text
    )
    assert "5 RNA-seq columns + slides" in text
