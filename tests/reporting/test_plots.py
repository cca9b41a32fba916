"""coxmt.reporting.plots: risk groups, log-rank, Kaplan-Meier, box plots, scaling curves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test
from matplotlib.figure import Figure

from coxmt.reporting import plots
from coxmt.reporting._style import PALETTE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one(predictions: pd.DataFrame, model: str = "Cox-MT") -> pd.DataFrame:
    return predictions[predictions["model"] == model]


def test_median_split_is_made_within_each_test_fold(predictions: pd.DataFrame) -> None:
    grouped = plots.median_risk_groups(predictions)
    assert set(grouped["repeat"]) == {0}  # default: first repeat, every patient once
    assert len(grouped) == len(predictions[predictions["repeat"] == 0])
    for _, fold in grouped.groupby(["model", "fold"]):
        high = fold.loc[fold["risk_group"] == "high", "risk"]
        low = fold.loc[fold["risk_group"] == "low", "risk"]
        assert len(high) == len(fold) // 2
        assert high.min() > low.max()


@pytest.mark.parametrize(
    ("repeat", "repeats"),
    [pytest.param(1, {1}, id="int"), pytest.param("all", {0, 1}, id="all")],
)
def test_repeat_selection(predictions: pd.DataFrame, repeat: int | str, repeats: set[int]) -> None:
    grouped = plots.median_risk_groups(predictions, repeat=repeat)  # type: ignore[arg-type]
    assert set(grouped["repeat"]) == repeats


def test_unknown_repeat_is_named(predictions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"no rows for repeat 5 \(repeats: \[0, 1\]\)"):
        plots.median_risk_groups(predictions, repeat=5)


def test_non_finite_risk_is_rejected(predictions: pd.DataFrame) -> None:
    bad = _one(predictions).copy()
    bad.iloc[3, bad.columns.get_loc("risk")] = np.nan
    with pytest.raises(ValueError, match=r"non-finite risk value\(s\) at rows \[3\]"):
        plots.median_risk_groups(bad)


def test_logrank_matches_lifelines(predictions: pd.DataFrame) -> None:
    pred = _one(predictions)
    pred = pred[pred["repeat"] == 0]
    med = pred.groupby("fold")["risk"].transform("median")
    hi, lo = pred[pred["risk"] > med], pred[pred["risk"] <= med]
    expected = logrank_test(hi["time"], lo["time"], hi["event"], lo["event"]).p_value
    assert plots.logrank_risk_groups(pred) == pytest.approx(expected, rel=1e-12)


def test_logrank_needs_one_model(predictions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="several models"):
        plots.logrank_risk_groups(predictions)


def test_km_figure_has_curves_and_numbers_at_risk(
    predictions: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "km.png"
    fig = plots.plot_km_risk_groups(predictions, "Cox-MT", path=out)
    assert isinstance(fig, Figure)
    ax, table = fig.axes
    assert out.read_bytes()[:8] == PNG_MAGIC
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("Low risk (n = 45") and legend[1].startswith("High risk (n = 45")
    assert any(t.get_text().startswith("log-rank p") for t in ax.texts)
    # numbers at risk at time 0 are the group sizes
    counts_at_zero = [t.get_text() for t in table.texts if t.get_position()[0] == 0.0]
    assert counts_at_zero == ["45", "45"]


def test_km_without_at_risk_table(predictions: pd.DataFrame) -> None:
    fig = plots.plot_km_risk_groups(_one(predictions), at_risk=False, confidence_bands=False)
    assert len(fig.axes) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({}, "several models", id="needs-model"),
        pytest.param({"model": "RSF"}, r"'RSF' is not in the predictions", id="unknown-model"),
    ],
)
def test_km_errors(predictions: pd.DataFrame, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plots.plot_km_risk_groups(predictions, **kwargs)


def test_boxplot_one_box_and_all_points_per_model(results: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_cindex_boxplot(results, path=tmp_path / "box.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Cox-MT", "Cox-nnet", "CoxPH"]
    assert len(ax.patches) == 3
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == len(results)
    assert (tmp_path / "box.png").read_bytes()[:8] == PNG_MAGIC


def test_boxplot_grouped_by_cohort(results: pd.DataFrame) -> None:
    frame = pd.concat([results.assign(cohort="BRCA"), results.assign(cohort="LUAD")])
    fig = plots.plot_cindex_boxplot(frame, "ibs", group="cohort")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["BRCA", "LUAD"]
    assert len(ax.patches) == 6
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Cox-MT", "Cox-nnet", "CoxPH"]
    assert "lower is better" in ax.get_ylabel()


def test_boxplot_names_missing_column(results: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"lacks the columns \['td_auc'\]"):
        plots.plot_cindex_boxplot(results, "td_auc")


def _scaling_frame(results: pd.DataFrame, settings: list[object]) -> pd.DataFrame:
    frames = [
        results.assign(setting=s, c_index=results["c_index"] + i * 0.01)
        for i, s in enumerate(settings)
    ]
    return pd.concat(frames, ignore_index=True)


def test_scaling_curves_plot_means_per_model(results: pd.DataFrame) -> None:
    frame = _scaling_frame(results, [10, 100, 1000])
    fig = plots.plot_scaling_curves(frame, metric=["c_index", "ibs"])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"  # auto: three orders of magnitude
    lines = [ln for ln in ax.get_lines() if ln.get_label() == "Cox-MT"]
    assert len(lines) == 1
    expected = frame[frame["model"] == "Cox-MT"].groupby("setting")["c_index"].mean()
    np.testing.assert_allclose(lines[0].get_ydata(), expected.to_numpy())
    assert lines[0].get_color() == PALETTE[0]
    assert len(fig.axes) == 2


def test_scaling_curves_categorical_setting_and_facets(results: pd.DataFrame) -> None:
    frame = _scaling_frame(results, ["no MT", "MT"])
    frame = pd.concat([frame.assign(cohort="BRCA"), frame.assign(cohort="LUAD")])
    fig = plots.plot_scaling_curves(frame, facet="cohort", xlabel="variant")
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title(loc="left") == "BRCA"
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["no MT", "MT"]
    with pytest.raises(ValueError, match="logx=True needs numeric values"):
        plots.plot_scaling_curves(frame, logx=True)


def test_scaling_curves_log_axis_needs_positive_values(results: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="logx=True needs positive values"):
        plots.plot_scaling_curves(_scaling_frame(results, [0, 10]), logx=True)


def test_figures_do_not_touch_pyplot(predictions: pd.DataFrame, results: pd.DataFrame) -> None:
    plots.plot_km_risk_groups(_one(predictions))
    plots.plot_cindex_boxplot(results)
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


@pytest.mark.parametrize(
    ("p", "text"),
    [
        pytest.param(0.5, "p = 0.50", id="large"),
        pytest.param(0.0123, "p = 0.012", id="small"),
        pytest.param(1e-12, "p < 0.0001", id="tiny"),
        pytest.param(float("nan"), "p = n/a", id="nan"),
    ],
)
def test_p_value_text(p: float, text: str) -> None:
    assert plots.p_equals(p) == text
