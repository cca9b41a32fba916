"""summarize / paired_comparison / corrected_resampled_ttest against hand computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coxmt.experiments import corrected_resampled_ttest, paired_comparison, summarize


@pytest.fixture
def results() -> pd.DataFrame:
    """3 models x 2 repeats x 5 folds with known per-fold scores."""
    rng = np.random.default_rng(0)
    keys = [(r, k) for r in range(2) for k in range(5)]
    rows = []
    base = rng.uniform(0.55, 0.7, size=len(keys))
    for name, shift in (("Cox-MT", 0.03), ("Cox-nnet", 0.0), ("CoxPH", -0.05)):
        noise = rng.normal(0, 0.01, size=len(keys))
        for (r, k), b, e in zip(keys, base, noise, strict=True):
            rows.append({"model": name, "repeat": r, "fold": k, "c_index": b + shift + e,
                         "ibs": 0.2 - shift, "n_train": 96 + k % 2, "n_test": 24 - k % 2})  # fmt: skip
    return pd.DataFrame(rows)


def test_summarize_matches_hand_computation(results):
    out = summarize(results, ["c_index", "ibs"])
    assert out[["model", "metric"]].values.tolist() == [
        ["Cox-MT", "c_index"], ["Cox-MT", "ibs"], ["Cox-nnet", "c_index"], ["Cox-nnet", "ibs"],
        ["CoxPH", "c_index"], ["CoxPH", "ibs"],
    ]  # fmt: skip
    v = results.loc[results["model"] == "Cox-nnet", "c_index"].to_numpy()
    row = out[(out["model"] == "Cox-nnet") & (out["metric"] == "c_index")].iloc[0]
    mean, sd = v.mean(), math.sqrt(((v - v.mean()) ** 2).sum() / (len(v) - 1))
    half = stats.t.ppf(0.975, len(v) - 1) * sd / math.sqrt(len(v))
    assert row["n"] == 10
    assert row["mean"] == pytest.approx(mean) and row["sd"] == pytest.approx(sd)
    assert row["ci_low"] == pytest.approx(mean - half) and row["ci_high"] == pytest.approx(
        mean + half
    )


def test_summarize_skips_nan_and_single_values():
    res = pd.DataFrame({"model": ["A", "A", "B"], "c_index": [0.6, np.nan, 0.7]})
    out = summarize(res).set_index("model")
    assert out.loc["A", "n"] == 1 and out.loc["A", "mean"] == 0.6 and np.isnan(out.loc["A", "sd"])
    with pytest.raises(ValueError, match=r"lacks the columns \['uno_c'\]"):
        summarize(res, "uno_c")


def test_corrected_ttest_hand_computation():
    d = np.array([0.02, 0.03, 0.01, 0.04, 0.0, 0.02, 0.05, 0.01, 0.03, 0.02])
    n_train = np.array([96, 97] * 5)
    n_test = np.array([24, 23] * 5)
    # Nadeau & Bengio (2003): t = mean / sqrt((1/J + n2/n1) * s^2), df = J - 1
    J = 10
    mean = sum(d) / J
    s2 = sum((x - mean) ** 2 for x in d) / (J - 1)
    rho = (5 * 24 / 96 + 5 * 23 / 97) / J
    t_hand = mean / math.sqrt((1 / J + rho) * s2)
    p_hand = 2 * stats.t.sf(abs(t_hand), J - 1)
    t, p = corrected_resampled_ttest(d, n_train, n_test)
    assert t == pytest.approx(t_hand, rel=1e-12) and p == pytest.approx(p_hand, rel=1e-12)
    # the correction makes the test more conservative than the naive paired t-test
    naive = stats.ttest_1samp(d, 0.0)
    assert abs(t) < abs(naive.statistic) and p > naive.pvalue


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        pytest.param([0.01], (np.nan, np.nan), id="one-fold"),
        pytest.param([0.0, 0.0, 0.0], (0.0, 1.0), id="all-zero"),
        pytest.param([0.02, 0.02, 0.02], (np.inf, 0.0), id="constant"),
    ],
)
def test_corrected_ttest_edge_cases(d, expected):
    t, p = corrected_resampled_ttest(d, 80, 20)
    np.testing.assert_equal((t, p), expected)


def test_paired_comparison_against_scipy(results):
    out = paired_comparison(results, reference="Cox-MT", n_bootstrap=2000).set_index("model")
    assert list(out.index) == ["Cox-nnet", "CoxPH"]
    ref = results[results["model"] == "Cox-MT"].set_index(["repeat", "fold"])
    for name in ("Cox-nnet", "CoxPH"):
        other = results[results["model"] == name].set_index(["repeat", "fold"])
        d = (ref["c_index"] - other.loc[ref.index, "c_index"]).to_numpy()
        row = out.loc[name]
        w = stats.wilcoxon(d)
        assert row["wilcoxon_stat"] == w.statistic and row["wilcoxon_p"] == w.pvalue
        t, p = corrected_resampled_ttest(d, ref["n_train"], ref["n_test"])
        assert row["corrected_t"] == t and row["corrected_p"] == p
        assert row["mean_diff"] == pytest.approx(d.mean())
        assert row["n_pairs"] == 10
        assert row["ci_low"] < d.mean() < row["ci_high"]
    assert out.loc["CoxPH", "mean_diff"] > out.loc["Cox-nnet", "mean_diff"] > 0


def test_paired_comparison_drops_nan_pairs_and_is_seeded(results):
    res = results.copy()
    res.loc[(res["model"] == "Cox-nnet") & (res["fold"] == 0), "c_index"] = np.nan
    a = paired_comparison(res, n_bootstrap=500, random_state=1)
    b = paired_comparison(res, n_bootstrap=500, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.set_index("model").loc["Cox-nnet", "n_pairs"] == 8


def test_paired_comparison_unknown_reference(results):
    with pytest.raises(ValueError, match=r"reference model 'SSL' is not in the results"):
        paired_comparison(results, reference="SSL")
