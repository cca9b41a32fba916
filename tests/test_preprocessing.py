"""Tests for coxmt.preprocessing: transformers, pipelines and state round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler as SkStandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from coxmt.preprocessing import (
    Clip,
    ExpressionTransform,
    Log2Transform,
    StandardScaler,
    TopVarianceGenes,
    choose_transform,
    chosen_transform,
    expression_statistics,
    make_rnaseq_preprocessor,
    pipeline_from_state,
    pipeline_to_state,
)


@pytest.fixture
def counts() -> pd.DataFrame:
    """Non-negative count-like expression: 40 patients x 8 genes, gene G3 constant."""
    rng = np.random.default_rng(0)
    data = rng.poisson(lam=np.linspace(1, 50, 8), size=(40, 8)).astype(float)
    data[:, 3] = 7.0
    return pd.DataFrame(
        data, columns=[f"G{i}" for i in range(8)], index=[f"P{i}" for i in range(40)]
    )


@parametrize_with_checks(
    [Log2Transform(), TopVarianceGenes(k=3), StandardScaler(), ExpressionTransform(), Clip()]
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


# ---------------------------------------------------------------------- Log2Transform


def test_log2_values_and_dataframe(counts: pd.DataFrame) -> None:
    out = Log2Transform().fit_transform(counts)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(counts.index) and out.columns.equals(counts.columns)
    np.testing.assert_allclose(out.to_numpy(), np.log2(counts.to_numpy() + 1.0))
    arr = Log2Transform(pseudocount=0.5).fit_transform(counts.to_numpy())
    assert isinstance(arr, np.ndarray)
    np.testing.assert_allclose(arr, np.log2(counts.to_numpy() + 0.5))


def test_log2_keeps_nan() -> None:
    out = Log2Transform().fit_transform(np.array([[np.nan, 1.0], [3.0, np.nan]]))
    np.testing.assert_array_equal(np.isnan(out), [[True, False], [False, True]])


def test_log2_refuses_zscores() -> None:
    z = pd.DataFrame({"TP53": [-1.5, 0.2, 1.3], "EGFR": [0.1, 0.4, 2.0], "MYC": [-3.0, 0.0, 3.0]})
    with pytest.raises(
        ValueError,
        match=r"2 columns .*\['TP53', 'MYC'\]\. The data look already log-transformed or "
        r"z-scored \(z-scores are negative\): drop this step",
    ):
        Log2Transform().fit(z)


def test_log2_refuses_negative_at_transform(counts: pd.DataFrame) -> None:
    lt = Log2Transform().fit(counts)
    bad = counts.copy()
    bad.iloc[0, 5] = -4.0
    with pytest.raises(ValueError, match=r"1 columns .*\['G5'\]"):
        lt.transform(bad)


@pytest.mark.parametrize("pseudocount", [-1.0, float("nan"), "1", True])
def test_log2_bad_pseudocount(counts: pd.DataFrame, pseudocount: Any) -> None:
    with pytest.raises(ValueError, match="pseudocount must be a finite number >= 0"):
        Log2Transform(pseudocount=pseudocount).fit(counts)


# ------------------------------------------------------------------- TopVarianceGenes


def test_top_variance_selects_highest_in_column_order(counts: pd.DataFrame) -> None:
    sel = TopVarianceGenes(k=3).fit(counts)
    expected = np.sort(np.argsort(-counts.var(ddof=0).to_numpy(), kind="stable")[:3])
    np.testing.assert_array_equal(sel.get_support(indices=True), expected)
    out = sel.transform(counts)
    assert list(out.columns) == [f"G{i}" for i in expected]
    assert out.index.equals(counts.index)
    assert sel.k_ == 3 and sel.note_ == ""
    assert sel.dropped_constant_.tolist() == ["G3"]
    np.testing.assert_allclose(sel.variances_, counts.var(ddof=0).to_numpy())


def test_top_variance_ties_broken_by_column_order() -> None:
    X = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])  # all four tie
    assert TopVarianceGenes(k=2).fit(X).get_support(indices=True).tolist() == [0, 1]
    assert TopVarianceGenes(k=3).fit(X[:, ::-1]).get_support(indices=True).tolist() == [0, 1, 2]


def test_top_variance_constant_only_when_needed(counts: pd.DataFrame) -> None:
    sel = TopVarianceGenes(k=8).fit(counts)
    assert sel.support_.all() and sel.dropped_constant_.tolist() == []
    assert sel.constant_mask_.tolist() == [c == "G3" for c in counts.columns]
    assert "G3" not in TopVarianceGenes(k=7).fit(counts).get_feature_names_out()


def test_top_variance_k_larger_than_features_is_noted_not_warned(counts: pd.DataFrame) -> None:
    sel = TopVarianceGenes(k=4000).fit(counts)  # warnings are errors in this suite
    assert sel.k_ == 8
    assert sel.note_ == "k=4000 is larger than the 8 input columns; all columns were kept"
    assert TopVarianceGenes(k=None).fit(counts).k_ == 8


def test_top_variance_nan_columns() -> None:
    X = np.array([[np.nan, 1.0, 5.0], [np.nan, 3.0, np.nan], [np.nan, 2.0, 6.0]])
    sel = TopVarianceGenes(k=2).fit(X)
    assert np.isnan(sel.variances_[0]) and sel.constant_mask_[0]
    assert sel.get_support(indices=True).tolist() == [1, 2]
    assert sel.dropped_constant_.tolist() == ["x0"]


@pytest.mark.parametrize("k", [0, -3, 2.5, "10", True])
def test_top_variance_bad_k(counts: pd.DataFrame, k: Any) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer or None"):
        TopVarianceGenes(k=k).fit(counts)


def test_selection_uses_training_data_only(counts: pd.DataFrame) -> None:
    train, test = counts.iloc[:30], counts.iloc[30:].copy()
    sel = TopVarianceGenes(k=2).fit(train)
    test["G0"] = test["G0"] * 1000  # huge test variance must not change the selection
    assert list(sel.transform(test).columns) == list(sel.get_feature_names_out())
    assert "G0" not in sel.get_feature_names_out()


def test_column_mismatch_is_refused(counts: pd.DataFrame) -> None:
    sel = TopVarianceGenes(k=2).fit(counts)
    with pytest.raises(ValueError, match="feature names"):
        sel.transform(counts[counts.columns[::-1]])
    with (
        pytest.warns(UserWarning, match="does not have valid feature names"),
        pytest.raises(ValueError, match="8 features"),
    ):
        sel.transform(counts.iloc[:, :5].to_numpy())


# ---------------------------------------------------------------------- StandardScaler


def test_standard_scaler_matches_sklearn_and_handles_constants(counts: pd.DataFrame) -> None:
    ours = StandardScaler().fit(counts)
    ref = SkStandardScaler().fit(counts)
    out = ours.transform(counts)
    assert isinstance(out, pd.DataFrame) and out.columns.equals(counts.columns)
    np.testing.assert_allclose(out.to_numpy(), ref.transform(counts))
    assert ours.scale_[3] == 1.0
    np.testing.assert_array_equal(out["G3"].to_numpy(), 0.0)
    back = ours.inverse_transform(out)
    np.testing.assert_allclose(back.to_numpy(), counts.to_numpy())


# ----------------------------------------------------------------- pipelines & sklearn


def test_make_rnaseq_preprocessor(counts: pd.DataFrame) -> None:
    pre = make_rnaseq_preprocessor(k=4, log=True)
    assert [n for n, _ in pre.steps] == ["log2", "top_variance", "scale", "clip"]
    out = pre.fit_transform(counts)
    assert isinstance(out, pd.DataFrame) and out.shape == (40, 4)
    np.testing.assert_allclose(out.mean().to_numpy(), 0.0, atol=1e-12)
    assert [n for n, _ in make_rnaseq_preprocessor(log=False, scale=False).steps] == [
        "top_variance"
    ]


def test_set_output_pandas_for_arrays(counts: pd.DataFrame) -> None:
    pre = make_rnaseq_preprocessor(k=3, log=True).set_output(transform="pandas")
    out = pre.fit_transform(counts.to_numpy())
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(pre.get_feature_names_out())
    assert all(c.startswith("x") for c in out.columns)


def test_clone_and_params() -> None:
    pre = make_rnaseq_preprocessor(k=10, log=True)
    pre.set_params(top_variance__k=5, log2__pseudocount=0.5)
    cloned = clone(pre)
    assert cloned.get_params()["top_variance__k"] == 5
    assert cloned.get_params()["log2__pseudocount"] == 0.5
    assert cloned.named_steps["top_variance"] is not pre.named_steps["top_variance"]


def test_grid_search_over_k(counts: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    y = np.log1p(counts["G7"].to_numpy()) + rng.normal(scale=0.1, size=len(counts))
    pipe = make_pipeline(Log2Transform(), TopVarianceGenes(), StandardScaler(), Ridge())
    grid = GridSearchCV(
        pipe, {"topvariancegenes__k": [1, 4, 8]}, cv=KFold(3, shuffle=True, random_state=0)
    )
    grid.fit(counts, y)
    assert grid.best_params_["topvariancegenes__k"] in (1, 4, 8)
    assert grid.predict(counts).shape == (40,)


# ------------------------------------------------------------------------ state I/O


def _round_trip(
    arrays: dict[str, np.ndarray], config: dict[str, Any], tmp_path: Path
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Save through safetensors + JSON exactly as a model file would, and load back."""
    loaded: dict[str, np.ndarray] = {}
    if arrays:
        save_file(arrays, str(tmp_path / "state.safetensors"))
        loaded = load_file(str(tmp_path / "state.safetensors"))
    return loaded, json.loads(json.dumps(config))


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param(Log2Transform(pseudocount=0.25), id="log2"),
        pytest.param(TopVarianceGenes(k=5), id="topvar"),
        pytest.param(TopVarianceGenes(k=np.int64(50)), id="topvar-numpy-k"),  # type: ignore[arg-type]
        pytest.param(StandardScaler(), id="scaler"),
        pytest.param(StandardScaler(with_mean=False), id="scaler-no-mean"),
    ],
)
@pytest.mark.parametrize("as_frame", [True, False], ids=["frame", "array"])
def test_transformer_state_round_trip(
    estimator: Any, as_frame: bool, counts: pd.DataFrame, tmp_path: Path
) -> None:
    X = counts if as_frame else counts.to_numpy()
    fitted = clone(estimator).fit(X)
    arrays, config = fitted.to_state()
    restored = type(fitted).from_state(*_round_trip(arrays, config, tmp_path))
    new = counts.iloc[:7] * 1.5 if as_frame else counts.to_numpy()[:7] * 1.5
    a, b = fitted.transform(new), restored.transform(new)
    assert type(a) is type(b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(fitted.get_feature_names_out(), restored.get_feature_names_out())
    assert restored.get_params() == fitted.get_params()


def test_scaler_state_with_nan_counts(tmp_path: Path) -> None:
    X = np.array([[1.0, np.nan], [2.0, 4.0], [4.0, 5.0]])
    fitted = StandardScaler().fit(X)
    assert np.ndim(fitted.n_samples_seen_) == 1
    arrays, config = fitted.to_state()
    restored = StandardScaler.from_state(*_round_trip(arrays, config, tmp_path))
    np.testing.assert_array_equal(restored.n_samples_seen_, fitted.n_samples_seen_)
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))


@pytest.mark.parametrize("as_frame", [True, False], ids=["frame", "array"])
@pytest.mark.parametrize(
    "pipeline",
    [
        pytest.param(make_rnaseq_preprocessor(k=5, log=True), id="full"),
        pytest.param(make_rnaseq_preprocessor(k=None, scale=False), id="select-only"),
        pytest.param(make_rnaseq_preprocessor(k=5, clip=1.0), id="auto-clip"),
        pytest.param(make_rnaseq_preprocessor(k=5, transform="arcsinh"), id="arcsinh"),
        pytest.param(
            Pipeline([("t", TopVarianceGenes(k=3)), ("skip", "passthrough"), ("s", SkStandardScaler())]),
            id="sklearn-scaler-passthrough",
        ),
        pytest.param(
            make_rnaseq_preprocessor(k=4, log=True).set_output(transform="pandas"), id="set-output"
        ),
    ],
)  # fmt: skip
def test_pipeline_state_round_trip(
    pipeline: Pipeline, as_frame: bool, counts: pd.DataFrame, tmp_path: Path
) -> None:
    X = counts if as_frame else counts.to_numpy()
    fitted = clone(pipeline).fit(X)
    arrays, config = pipeline_to_state(fitted)
    restored = pipeline_from_state(*_round_trip(arrays, config, tmp_path))
    assert [n for n, _ in restored.steps] == [n for n, _ in fitted.steps]
    new = X[5:12] * 2.0
    a, b = fitted.transform(new), restored.transform(new)
    assert type(a) is type(b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(fitted.get_feature_names_out(), restored.get_feature_names_out())


def test_state_errors(counts: pd.DataFrame) -> None:
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="cannot save a PCA step without pickle"):
        pipeline_to_state(make_pipeline(PCA(2)).fit(counts))
    with pytest.raises(TypeError, match="must be a sklearn Pipeline"):
        pipeline_to_state(TopVarianceGenes().fit(counts))
    arrays, config = pipeline_to_state(make_rnaseq_preprocessor(k=2).fit(counts))
    with pytest.raises(ValueError, match="unknown preprocessing state format"):
        pipeline_from_state(arrays, {**config, "format": "other/9"})
    bad_steps = [{**config["steps"][0], "class": "PCA"}]
    with pytest.raises(ValueError, match="unknown preprocessing step class 'PCA'"):
        pipeline_from_state(arrays, {**config, "steps": bad_steps})
    lt_arrays, lt_config = Log2Transform().fit(counts).to_state()
    with pytest.raises(ValueError, match="saved from 'Log2Transform', not 'TopVarianceGenes'"):
        TopVarianceGenes.from_state(lt_arrays, lt_config)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TopVarianceGenes().to_state()


# ------------------------------------------------ ExpressionTransform ("auto") and Clip


def _counts(rng: np.random.Generator) -> np.ndarray:
    """Negative-binomial read counts, 60 patients x 30 genes of different depths."""
    means = np.geomspace(5, 5000, 30)
    return rng.negative_binomial(2, 2 / (2 + means), size=(60, 30)).astype(float)


def _zscores(rng: np.random.Generator) -> np.ndarray:
    """Per-gene z-scores of log-normal expression: heavy right tail, max |x| in the tens."""
    raw = rng.lognormal(0.0, 2.0, size=(200, 30))
    return (raw - raw.mean(axis=0)) / raw.std(axis=0)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(_counts, "log2", id="counts"),
        pytest.param(lambda r: _counts(r) / _counts(r).sum(1, keepdims=True) * 1e6 + 0.5,
                     "log2", id="tpm"),
        pytest.param(_zscores, "arcsinh", id="heavy-zscores"),
        pytest.param(lambda r: np.log2(_counts(r) + 1.0), "none", id="log2-counts"),
        pytest.param(lambda r: r.normal(6.0, 2.0, size=(60, 30)) - 8.0, "none",
                     id="log-scale-with-negatives"),
        pytest.param(lambda r: r.normal(size=(60, 30)), "none", id="gaussian-zscores"),
    ],
)  # fmt: skip
def test_auto_detects_the_scale(make: Any, expected: str) -> None:
    X = make(np.random.default_rng(0))
    step = ExpressionTransform().fit(X)
    assert step.transform_ == expected
    assert step.note_.startswith(f"transform {expected}: ")
    assert choose_transform(step.stats_)[0] == expected
    functions = {"log2": lambda x: np.log2(x + 1.0), "arcsinh": np.arcsinh, "none": lambda x: x}
    np.testing.assert_allclose(step.transform(X), functions[expected](X))


def test_statistics_of_heavy_tails() -> None:
    stats = expression_statistics(_zscores(np.random.default_rng(1)))
    assert stats["fraction_negative"] > 0.5 and stats["max_abs"] > 10
    assert stats["median_skewness"] > 1 and stats["fraction_integer"] == 0.0
    assert stats["top_variance_concentration"] > 0.5  # a handful of patients carry the variance
    tamed = expression_statistics(np.arcsinh(_zscores(np.random.default_rng(1))))
    assert tamed["top_variance_concentration"] < stats["top_variance_concentration"]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        pytest.param("log2", np.log2(np.array([[3.0, 0.0]]) + 1.0), id="log2"),
        pytest.param("arcsinh", np.arcsinh(np.array([[3.0, 0.0]])), id="arcsinh"),
        pytest.param("none", np.array([[3.0, 0.0]]), id="none"),
    ],
)
def test_explicit_transform(method: str, expected: np.ndarray) -> None:
    X = np.random.default_rng(0).normal(5.0, 1.0, size=(10, 2))  # auto would say "none"
    step = ExpressionTransform(method=method).fit(X)
    assert step.transform_ == method and step.note_ == f"transform {method}: chosen explicitly"
    np.testing.assert_allclose(step.transform(np.array([[3.0, 0.0]])), expected)


def test_transform_is_chosen_on_training_data_only() -> None:
    rng = np.random.default_rng(2)
    train, test = _zscores(rng), rng.normal(size=(20, 30))
    pre = make_rnaseq_preprocessor(k=10).fit(train)
    assert pre.named_steps["transform"].transform_ == "arcsinh"
    assert ExpressionTransform().fit(test).transform_ == "none"  # test alone would not choose it
    scale = pre.named_steps["scale"]
    support = pre.named_steps["top_variance"].support_
    expected = np.clip((np.arcsinh(test[:, support]) - scale.mean_) / scale.scale_, -5, 5)
    np.testing.assert_allclose(pre.transform(test), expected)
    np.testing.assert_allclose(scale.mean_, np.arcsinh(train[:, support]).mean(axis=0))


def test_selection_and_clipping_tame_outliers() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 6))
    X[:, 5] = rng.normal(scale=0.01, size=100)
    X[0, 5] = 5000.0  # one patient gives gene 5 the largest variance on the raw scale
    X[:, 2] *= 3.0  # gene 2 varies most across patients
    raw = TopVarianceGenes(k=1).fit(X)
    assert raw.get_feature_names_out().tolist() == ["x5"]
    pre = make_rnaseq_preprocessor(k=1, transform="arcsinh").fit(X)
    assert pre.get_feature_names_out().tolist() == ["x2"]
    out = make_rnaseq_preprocessor(k=None, transform="none").fit(X).transform(X)
    assert np.abs(out).max() == 5.0
    assert (
        make_rnaseq_preprocessor(k=None, transform="none").fit(X).named_steps["clip"].n_clipped_
        >= 1
    )
    unclipped = make_rnaseq_preprocessor(k=None, transform="none", clip=None).fit_transform(X)
    assert np.abs(unclipped).max() > 9.0


def test_choice_is_logged_and_printed(caplog: pytest.LogCaptureFixture, capsys: Any) -> None:
    X = _zscores(np.random.default_rng(4))
    with caplog.at_level("INFO", logger="coxmt.preprocessing"):
        pre = make_rnaseq_preprocessor(k=5, verbose=True).fit(X)
    assert "transform arcsinh: " in caplog.text
    assert "transform arcsinh: " in capsys.readouterr().out
    assert chosen_transform(pre) == pre.named_steps["transform"].note_
    assert chosen_transform(make_rnaseq_preprocessor(k=5, log=True).fit(np.abs(X))) == (
        "transform log2: chosen explicitly"
    )
    assert chosen_transform(make_rnaseq_preprocessor(k=5, transform="none").fit(X)) is None


def test_expression_transform_state(tmp_path: Path) -> None:
    X = pd.DataFrame(_zscores(np.random.default_rng(5)), columns=[f"G{i}" for i in range(30)])
    fitted = ExpressionTransform().fit(X)
    restored = ExpressionTransform.from_state(*_round_trip(*fitted.to_state(), tmp_path))
    assert restored.transform_ == "arcsinh" and restored.note_ == fitted.note_
    assert restored.stats_ == fitted.stats_
    pd.testing.assert_frame_equal(restored.transform(X * 3), fitted.transform(X * 3))
    arrays, config = fitted.to_state()
    with pytest.raises(ValueError, match="transform_ 'auto' is not one of"):
        ExpressionTransform.from_state(arrays, {**config, "transform_": "auto"})


# saved by the previous release: make_rnaseq_preprocessor(k=2, log=True) fitted on
# [[1, 20, 3], [4, 5, 6], [7, 80, 9], [0, 2, 30]]
_OLD_CONFIG = {
    "format": "coxmt.preprocessing/1",
    "steps": [
        {
            "name": "log2",
            "class": "Log2Transform",
            "params": {"pseudocount": 1.0},
            "n_features_in": 3,
            "feature_names_in": None,
            "set_output": None,
        },
        {
            "name": "top_variance",
            "class": "TopVarianceGenes",
            "params": {"drop_constant": True, "k": 2},
            "n_features_in": 3,
            "feature_names_in": None,
            "set_output": None,
            "k_": 2,
        },
        {
            "name": "scale",
            "class": "StandardScaler",
            "params": {"copy": True, "with_mean": True, "with_std": True},
            "n_features_in": 2,
            "feature_names_in": None,
            "set_output": None,
            "n_samples_seen_scalar": True,
        },
    ],
}
_OLD_ARRAYS = {
    "1.top_variance.variances": [1.3499140921489294, 3.2905494959621544, 1.166537795168512],
    "1.top_variance.support": [True, True, False],
    "1.top_variance.constant": [False, False, False],
    "2.scale.mean": [1.5804820237218404, 3.7255231067764245],
    "2.scale.var": [1.3499140921489294, 3.2905494959621544],
    "2.scale.scale": [1.1618580344211291, 1.813987181862693],
    "2.scale.n_samples_seen": [4],
}  # fmt: skip


def test_pipeline_saved_before_auto_still_loads() -> None:
    arrays = {k: np.asarray(v) for k, v in _OLD_ARRAYS.items()}
    restored = pipeline_from_state(arrays, _OLD_CONFIG)
    assert [n for n, _ in restored.steps] == ["log2", "top_variance", "scale"]
    out = restored.transform(np.array([[2.0, 3.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.0038563033232781687, -0.9512322490639492]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"transform": "log"}, "transform must be one of", id="unknown"),
        pytest.param({"log": True, "transform": "arcsinh"}, "give transform only", id="both"),
        pytest.param({"clip": 0}, "clip must be a number > 0", id="clip"),
    ],
)
def test_preprocessor_argument_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_rnaseq_preprocessor(**kwargs)
    with pytest.raises(ValueError, match="method must be one of"):
        ExpressionTransform(method="log").fit(np.ones((3, 2)))


# ---------------------------------------------------------------------- command line


@pytest.fixture
def zscore_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(_zscores(rng)[:80, :8], columns=[f"g{j}_rnaseq" for j in range(8)])
    frame.insert(0, "time", rng.exponential(30, size=80).round(2) + 0.5)
    frame.insert(1, "event", (rng.random(80) < 0.5).astype(int))
    frame.to_csv(tmp_path / "z.csv", index=False)
    return tmp_path / "z.csv"


@pytest.mark.parametrize(
    ("extra", "note"),
    [
        pytest.param([], "note: transform arcsinh: ", id="auto"),
        pytest.param(["--transform", "none", "--clip", "0"], None, id="old-behaviour"),
    ],
)
def test_cli_fit_default_is_auto(
    zscore_table: Path, tmp_path: Path, extra: list[str], note: str | None
) -> None:
    from typer.testing import CliRunner

    from coxmt.cli import app
    from coxmt.io import load_model

    args = ["fit", "--data", str(zscore_table), "--model", "coxph", "--out", str(tmp_path / "m")]
    res = CliRunner().invoke(app, [*args, *extra])
    assert res.exit_code == 0, res.output
    steps = [name for name, _ in load_model(tmp_path / "m").steps]
    if note is None:
        assert "transform" not in res.output and steps == ["top_variance", "scale", "model"]
    else:
        assert note in res.output
        assert steps == ["transform", "top_variance", "scale", "clip", "model"]
        assert load_model(tmp_path / "m").named_steps["transform"].transform_ == "arcsinh"


def test_cli_cv_prints_the_choice(zscore_table: Path) -> None:
    from typer.testing import CliRunner

    from coxmt.cli import app

    args = [
        "cv",
        "--data",
        str(zscore_table),
        "--models",
        "coxph",
        "--folds",
        "2",
        "--repeats",
        "1",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (
        "note: transform arcsinh: " in res.output
        and "chosen inside each training fold" in res.output
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--transform", "log"], "--transform must be one of auto, log2", id="unknown"),
        pytest.param(["--log2", "--transform", "arcsinh"], "--log2 and --transform", id="both"),
        pytest.param(["--clip", "-1"], "--clip must be > 0", id="clip"),
    ],
)
def test_cli_transform_option_errors(
    zscore_table: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from coxmt.cli import app

    args = ["fit", "--data", str(zscore_table), "--model", "coxph", "--out", str(tmp_path / "m")]
    res = CliRunner().invoke(app, [*args, *extra], env={"COLUMNS": "3000"})
    assert res.exit_code == 2 and message in res.output, res.output
