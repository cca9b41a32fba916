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
    Log2Transform,
    StandardScaler,
    TopVarianceGenes,
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


@parametrize_with_checks([Log2Transform(), TopVarianceGenes(k=3), StandardScaler()])
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
    assert [n for n, _ in pre.steps] == ["log2", "top_variance", "scale"]
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
