"""Tests for coxmt.metrics: cross-checks against scikit-survival and lifelines, properties, errors."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coxmt._validation import make_target
from coxmt.metrics import (
    BootstrapResult,
    ConcordanceResult,
    bootstrap_ci,
    brier_score,
    concordance_index,
    concordance_index_details,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
    kaplan_meier,
)

sksurv_metrics = pytest.importorskip("sksurv.metrics", reason="cross-checks need scikit-survival")
lifelines_utils = pytest.importorskip("lifelines.utils", reason="cross-checks need lifelines")

REFERENCES = Path(__file__).parent / "reference" / "metrics_references.json"


# --------------------------------------------------------------------------- data
def _cohort(n: int, seed: int, *, time_ties: bool, risk_ties: str, censoring: float = 0.4):
    """Random (event, time, risk) with optional month-like tied times and tied risks."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = rng.exponential(np.exp(-risk)) * 30
    if time_ties:
        time = np.ceil(time)
    event = rng.random(n) > censoring
    if risk_ties == "exact":
        risk = np.round(risk * 2) / 2
    elif risk_ties == "near":  # differences at and around tied_tol = 1e-8
        risk = np.round(risk, 1) + rng.choice([0.0, 5e-9, 1e-8, 2e-8], size=n)
    elif risk_ties == "float32":
        risk = (np.round(risk, 2) + rng.choice([0.0, 1e-8], size=n)).astype(np.float32)
    return event, time, risk


COHORTS = [
    pytest.param(dict(n=50, seed=0, time_ties=False, risk_ties="none"), id="continuous"),
    pytest.param(dict(n=300, seed=1, time_ties=True, risk_ties="none"), id="tied-times"),
    pytest.param(dict(n=300, seed=2, time_ties=False, risk_ties="exact"), id="tied-risks"),
    pytest.param(dict(n=400, seed=3, time_ties=True, risk_ties="exact"), id="tied-both"),
    pytest.param(dict(n=400, seed=4, time_ties=True, risk_ties="near"), id="near-ties-at-tol"),
    pytest.param(dict(n=200, seed=5, time_ties=True, risk_ties="float32"), id="float32-risk"),
    pytest.param(
        dict(n=200, seed=6, time_ties=True, risk_ties="exact", censoring=0.9), id="heavy-censoring"
    ),
    pytest.param(
        dict(n=100, seed=7, time_ties=True, risk_ties="exact", censoring=0.0), id="no-censoring"
    ),
    pytest.param(dict(n=5000, seed=8, time_ties=True, risk_ties="near"), id="n5000"),
]


@pytest.fixture(params=COHORTS)
def cohort(request):
    return _cohort(**request.param)


@pytest.fixture
def split():
    """Training and test outcomes with tied times, the training follow-up being the longest."""
    rng = np.random.default_rng(11)
    n_train, n_test = 300, 200
    time = np.ceil(rng.exponential(20, n_train + n_test))
    event = rng.random(n_train + n_test) < 0.6
    time[:n_test] = np.minimum(time[:n_test], time[n_test:].max() - 1)
    risk = -np.log(time[:n_test]) + rng.normal(size=n_test)
    risk = np.round(risk, 1)
    y_test = make_target(event[:n_test], time[:n_test])
    y_train = make_target(event[n_test:], time[n_test:])
    return y_train, y_test, risk


def _naive_cindex(event, time, risk, tol=1e-8):
    """O(n^2) Harrell's C straight from the definition (scikit-survival's conventions)."""
    conc = disc = tied = tied_time = 0
    for i in np.flatnonzero(event):
        for j in range(len(time)):
            if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                diff = risk[i] - risk[j]
                tied += abs(diff) <= tol
                conc += diff > tol
                disc += diff < -tol
                tied_time += time[i] == time[j]
    return (conc + 0.5 * tied) / (conc + disc + tied), conc, disc, tied, tied_time


# --------------------------------------------------------------------------- Harrell
def test_harrell_matches_sksurv(cohort):
    event, time, risk = cohort
    expected = sksurv_metrics.concordance_index_censored(event, time, risk)
    got = concordance_index_details(event, time, risk)
    assert isinstance(got, ConcordanceResult)
    assert got[1:] == tuple(int(v) for v in expected[1:])
    assert abs(got.cindex - expected[0]) <= 1e-12
    assert concordance_index(event, time, risk) == got.cindex


def test_harrell_matches_lifelines_with_exact_ties(cohort):
    event, time, risk = cohort
    expected = lifelines_utils.concordance_index(time, -risk.astype(np.float64), event)
    assert abs(concordance_index(event, time, risk, tied_tol=0) - expected) <= 1e-12


@pytest.mark.parametrize("tol", [pytest.param(0.0, id="tol0"), pytest.param(0.3, id="tol0.3")])
def test_harrell_tied_tol_matches_naive(tol):
    event, time, risk = _cohort(120, 3, time_ties=True, risk_ties="exact")
    got = concordance_index_details(event, time, risk, tied_tol=tol)
    expected = _naive_cindex(event, time, risk, tol)
    assert got[1:] == expected[1:]
    assert abs(got.cindex - expected[0]) <= 1e-12


def test_harrell_matches_torchsurv():
    torch = pytest.importorskip("torch")
    cindex_mod = pytest.importorskip("torchsurv.metrics.cindex", reason="needs torchsurv")
    # torchsurv compares risks in float32: use risks that float32 represents exactly
    event, time, risk = _cohort(100, 3, time_ties=True, risk_ties="exact")
    expected = cindex_mod.ConcordanceIndex()(
        torch.as_tensor(risk), torch.as_tensor(event), torch.as_tensor(time)
    )
    assert abs(concordance_index(event, time, risk) - float(expected)) <= 1e-12


def test_harrell_accepts_lists_and_column_risk():
    c = concordance_index([1, 0, 1, 1], [1, 2, 3, 4], [[4.0], [3.0], [2.0], [1.0]])
    assert c == 1.0


def test_harrell_docs_example_counts():
    res = concordance_index_details([1, 1, 0, 1], [1.0, 2.0, 2.0, 4.0], [3.0, 2.0, 2.0, 0.5])
    assert res == ConcordanceResult(0.9, 4, 0, 1, 1)


@pytest.mark.parametrize("n_values", [1, 2, 3, 4, 5, 17, 64, 1000])
def test_prefix_counts_matches_brute_force(n_values):
    from coxmt.metrics import _prefix_counts

    rng = np.random.default_rng(n_values)
    values = rng.integers(0, n_values, 500)
    x = rng.integers(0, 501, 200)
    q = rng.integers(0, n_values + 1, 200)
    expected = [(values[:xx] < qq).sum() for xx, qq in zip(x, q, strict=True)]
    np.testing.assert_array_equal(_prefix_counts(values, n_values, x, q), expected)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def survival_samples(draw, max_n=40):
    n = draw(st.integers(2, max_n))
    time = draw(arrays(np.float64, n, elements=st.integers(0, 8).map(float)))
    event = draw(arrays(np.bool_, n))
    risk = draw(arrays(np.float64, n, elements=st.one_of(st.integers(-5, 5).map(float), finite)))
    return event, time, risk


def _has_pairs(event, time):
    return any(
        event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j]))
        for i in range(len(time))
        for j in range(len(time))
    )


@settings(max_examples=100, deadline=None)
@given(survival_samples())
def test_property_matches_naive_and_lies_in_unit_interval(sample):
    event, time, risk = sample
    if not _has_pairs(event, time):
        with pytest.raises(ValueError, match="no comparable pairs"):
            concordance_index(event, time, risk)
        return
    res = concordance_index_details(event, time, risk)
    expected = _naive_cindex(event, time, risk)
    assert res[1:] == expected[1:]
    assert 0.0 <= res.cindex <= 1.0


@settings(max_examples=60, deadline=None)
@given(survival_samples())
def test_property_negated_risk_gives_one_minus_c(sample):
    event, time, risk = sample
    if not _has_pairs(event, time):
        return
    # concordant and discordant pairs swap; tied pairs stay (holds with ties too)
    assert (
        abs(concordance_index(event, time, -risk) - (1 - concordance_index(event, time, risk)))
        < 1e-12
    )


MONOTONE = [
    pytest.param(lambda r: r**3 + 5 * r, id="cubic"),
    pytest.param(lambda r: np.exp(r / 1000.0), id="exp"),
    pytest.param(lambda r: 2.0 * r - 7.0, id="affine"),
    pytest.param(lambda r: np.unique(r, return_inverse=True)[1].astype(float), id="dense-rank"),
]


@pytest.mark.parametrize("transform", MONOTONE)
@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.bool_, n),
            arrays(np.float64, n, elements=st.integers(0, 8).map(float)),
            arrays(np.float64, n, elements=st.integers(-1000, 1000).map(float)),
        )
    )
)
def test_property_invariant_under_monotone_transform(transform, sample):
    event, time, risk = sample
    if not _has_pairs(event, time):
        return
    # integer risks: every transform keeps differences of distinct values above tied_tol
    assert concordance_index(event, time, transform(risk)) == concordance_index(event, time, risk)


# --------------------------------------------------------------------------- stored references
def _reference_cases():
    return json.loads(REFERENCES.read_text())["cases"]


@pytest.fixture(params=[pytest.param(i, id=f"case{i}") for i in range(3)])
def reference_case(request):
    case = _reference_cases()[request.param]
    y_train = make_target(case["train_event"], case["train_time"])
    y_test = make_target(case["test_event"], case["test_time"])
    return case, y_train, y_test


def test_stored_references(reference_case):
    case, y_train, y_test = reference_case
    risk, times, surv = np.array(case["risk"]), case["times"], np.array(case["survival"])
    harrell = concordance_index_details(y_test["event"], y_test["time"], risk)
    assert harrell[1:] == tuple(case["harrell"][1:])
    assert harrell.cindex == pytest.approx(case["harrell"][0], abs=1e-12)
    lifelines_c = concordance_index(y_test["event"], y_test["time"], risk, tied_tol=0)
    assert lifelines_c == pytest.approx(case["lifelines_cindex"], abs=1e-12)
    assert concordance_index_ipcw(y_train, y_test, risk) == pytest.approx(case["uno"], abs=1e-10)
    uno_tau = concordance_index_ipcw(y_train, y_test, risk, tau=case["tau"])
    assert uno_tau == pytest.approx(case["uno_tau"], abs=1e-10)
    np.testing.assert_allclose(
        brier_score(y_train, y_test, surv, times)[1], case["brier"], atol=1e-10
    )
    assert integrated_brier_score(y_train, y_test, surv, times) == pytest.approx(
        case["ibs"], abs=1e-10
    )
    auc, mean_auc = cumulative_dynamic_auc(y_train, y_test, risk, times)
    np.testing.assert_allclose(auc, case["auc"], atol=1e-10)
    assert mean_auc == pytest.approx(case["mean_auc"], abs=1e-10)
    km_t, km_s = kaplan_meier(y_test["event"], y_test["time"])
    np.testing.assert_allclose(km_t, case["km_times"])
    np.testing.assert_allclose(km_s, case["km_survival"], atol=1e-12)


# --------------------------------------------------------------------------- Uno, Brier, AUC
@pytest.mark.parametrize("tau", [pytest.param(None, id="no-tau"), pytest.param(25.0, id="tau25")])
def test_uno_matches_sksurv(split, tau):
    y_train, y_test, risk = split
    expected = sksurv_metrics.concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0]
    assert abs(concordance_index_ipcw(y_train, y_test, risk, tau=tau) - expected) <= 1e-12


def test_uno_equals_harrell_without_training_censoring(split):
    _, y_test, risk = split
    y_train = make_target(np.ones(50, dtype=bool), np.linspace(1, y_test["time"].max(), 50))
    harrell = concordance_index(y_test["event"], y_test["time"], risk)
    assert abs(concordance_index_ipcw(y_train, y_test, risk) - harrell) <= 1e-12


def test_uno_accepts_dataframes_and_pairs(split):
    y_train, y_test, risk = split
    expected = concordance_index_ipcw(y_train, y_test, risk)
    df_train = pd.DataFrame({"time": y_train["time"], "event": y_train["event"].astype(int)})
    got = concordance_index_ipcw(df_train, (y_test["event"], y_test["time"]), risk)
    assert got == expected


@pytest.fixture
def survival_matrix(split):
    y_train, y_test, risk = split
    times = np.array([3.0, 8.0, 15.0, 30.0])
    surv = np.exp(-np.outer(np.exp(risk - risk.mean()), times) / 25.0)
    return y_train, y_test, surv, times


def test_brier_and_ibs_match_sksurv(survival_matrix):
    y_train, y_test, surv, times = survival_matrix
    t_ref, bs_ref = sksurv_metrics.brier_score(y_train, y_test, surv, times)
    t_got, bs_got = brier_score(y_train, y_test, surv, times)
    np.testing.assert_array_equal(t_got, t_ref)
    np.testing.assert_allclose(bs_got, bs_ref, atol=1e-12)
    ibs_ref = sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times)
    assert abs(integrated_brier_score(y_train, y_test, surv, times) - ibs_ref) <= 1e-12


def test_brier_sorts_times_with_their_columns(survival_matrix):
    y_train, y_test, surv, times = survival_matrix
    perm = np.array([2, 0, 3, 1])
    t_got, bs_got = brier_score(y_train, y_test, surv[:, perm], times[perm])
    np.testing.assert_array_equal(t_got, times)
    np.testing.assert_allclose(bs_got, brier_score(y_train, y_test, surv, times)[1], atol=1e-15)


def test_brier_single_time_accepts_1d_survival(survival_matrix):
    y_train, y_test, surv, times = survival_matrix
    _, bs = brier_score(y_train, y_test, surv[:, 1], times[1])
    assert bs == pytest.approx(brier_score(y_train, y_test, surv, times)[1][1], abs=1e-15)


@pytest.mark.parametrize(
    "two_d", [pytest.param(False, id="1d-risk"), pytest.param(True, id="2d-risk")]
)
def test_cumulative_dynamic_auc_matches_sksurv(split, two_d):
    y_train, y_test, risk = split
    times = np.array([3.0, 8.0, 15.0, 30.0])
    est = np.column_stack([risk, np.round(risk), risk**2, -risk]) if two_d else risk
    auc_ref, mean_ref = sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, est, times)
    auc, mean = cumulative_dynamic_auc(y_train, y_test, est, times)
    np.testing.assert_allclose(auc, auc_ref, atol=1e-12)
    assert abs(mean - mean_ref) <= 1e-12


def test_unused_test_times_beyond_training_follow_up_are_accepted(split):
    # scikit-survival refuses any test time beyond the training follow-up, even when the
    # censoring weight of that patient is never used; coxmt only needs G where it is used.
    y_train, y_test, risk = split
    y_test = y_test.copy()
    y_test["time"][:3] = y_train["time"].max() + 5
    times = np.array([3.0, 8.0, 15.0])
    surv = np.exp(-np.outer(np.exp(risk), times) / 25.0)
    with pytest.raises(ValueError, match="smaller than largest observed time point"):
        sksurv_metrics.brier_score(y_train, y_test, surv, times)
    # patients alive after max(times) count the same whatever their follow-up beyond it
    y_clipped = y_test.copy()
    y_clipped["time"][:3] = times.max() + 1
    ref = sksurv_metrics.brier_score(y_train, y_clipped, surv, times)[1]
    np.testing.assert_allclose(brier_score(y_train, y_test, surv, times)[1], ref, atol=1e-12)
    auc_ref = sksurv_metrics.cumulative_dynamic_auc(y_train, y_clipped, risk, times)
    auc = cumulative_dynamic_auc(y_train, y_test, risk, times)
    np.testing.assert_allclose(auc[0], auc_ref[0], atol=1e-12)


# --------------------------------------------------------------------------- Kaplan-Meier
@pytest.mark.parametrize(
    "censoring", [pytest.param(0.0, id="no-censoring"), pytest.param(0.5, id="half-censored")]
)
def test_kaplan_meier_matches_lifelines(censoring):
    from lifelines import KaplanMeierFitter

    event, time, _ = _cohort(300, 21, time_ties=True, risk_ties="none", censoring=censoring)
    t, s = kaplan_meier(event, time)
    np.testing.assert_array_equal(t, np.unique(time))
    expected = KaplanMeierFitter().fit(time, event).survival_function_at_times(t).to_numpy()
    np.testing.assert_allclose(s, expected, atol=1e-12)
    assert np.all(np.diff(s) <= 0)


def test_kaplan_meier_all_censored_is_one():
    t, s = kaplan_meier([0, 0, 0], [1.0, 2.0, 2.0])
    assert t.tolist() == [1.0, 2.0] and s.tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- real cohort
@pytest.mark.shared_data
def test_tcga_luad_cross_checks(tcga_dir):
    path = tcga_dir / "tcga_luad.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found; the TCGA-LUAD cohort is needed for this cross-check")
    df = pd.read_csv(path, usecols=["time_months", "event", "age"]).dropna()
    event, time = df["event"].to_numpy().astype(bool), df["time_months"].to_numpy()
    risk = df["age"].to_numpy(dtype=float)  # integer ages: many tied risks
    expected = sksurv_metrics.concordance_index_censored(event, time, risk)
    got = concordance_index_details(event, time, risk)
    assert got[1:] == tuple(int(v) for v in expected[1:]) and abs(got[0] - expected[0]) <= 1e-12
    lifelines_c = lifelines_utils.concordance_index(time, -risk, event)
    assert abs(concordance_index(event, time, risk, tied_tol=0) - lifelines_c) <= 1e-12

    rng = np.random.default_rng(0)
    test = rng.random(len(df)) < 0.3
    y_train, y_test = make_target(event[~test], time[~test]), make_target(event[test], time[test])
    tau = float(np.quantile(time[test], 0.9))
    uno_ref = sksurv_metrics.concordance_index_ipcw(y_train, y_test, risk[test], tau=tau)[0]
    assert abs(concordance_index_ipcw(y_train, y_test, risk[test], tau=tau) - uno_ref) <= 1e-12
    times = np.quantile(time[test][event[test]], [0.2, 0.4, 0.6, 0.8])
    t_km, s_km = kaplan_meier(event[~test], time[~test])
    base = s_km[np.searchsorted(t_km, times, side="right") - 1]
    surv = base[None, :] ** np.exp((risk[test, None] - risk.mean()) / 10)
    bs_ref = sksurv_metrics.brier_score(y_train, y_test, surv, times)[1]
    np.testing.assert_allclose(brier_score(y_train, y_test, surv, times)[1], bs_ref, atol=1e-12)
    ibs_ref = sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times)
    assert abs(integrated_brier_score(y_train, y_test, surv, times) - ibs_ref) <= 1e-12


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_is_reproducible_and_brackets_estimate():
    event, time, risk = _cohort(300, 31, time_ties=True, risk_ties="exact")
    res = bootstrap_ci(concordance_index, event, time, risk, n_bootstrap=200, random_state=0)
    assert isinstance(res, BootstrapResult)
    assert res.estimate == concordance_index(event, time, risk)
    assert res.low < res.estimate < res.high and res.n_valid == 200
    again = bootstrap_ci(concordance_index, event, time, risk, n_bootstrap=200, random_state=0)
    assert again == res


def test_bootstrap_ci_resamples_structured_targets_and_dataframes(split):
    y_train, y_test, risk = split
    metric = partial(concordance_index_ipcw, y_train, tau=25.0)
    res = bootstrap_ci(metric, y_test, risk, n_bootstrap=30, confidence=0.9, random_state=1)
    assert res.low <= res.estimate <= res.high
    df = pd.DataFrame({"event": y_test["event"], "time": y_test["time"]})
    res_df = bootstrap_ci(metric, df, risk, n_bootstrap=30, confidence=0.9, random_state=1)
    assert res_df == res


def test_bootstrap_ci_skips_failed_resamples_and_warns():
    # one event among 12 patients: most resamples lose it and have no comparable pair
    event = np.zeros(12, dtype=bool)
    event[0] = True
    time, risk = np.arange(1.0, 13.0), np.linspace(1, 0, 12)
    with pytest.warns(UserWarning, match=r"bootstrap resamples were skipped"):
        res = bootstrap_ci(concordance_index, event, time, risk, n_bootstrap=100, random_state=0)
    assert 0 < res.n_valid < 90


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("event", "time", "risk", "message"),
    [
        pytest.param(
            [0, 0, 0],
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0],
            "no comparable pairs.*all samples are censored",
            id="all-censored",
        ),
        pytest.param(
            [0, 1],
            [1.0, 2.0],
            [1.0, 2.0],
            "every observed event happens at the largest time",
            id="event-at-max",
        ),
        pytest.param([1, 1], [2.0, 2.0], [1.0, 2.0], "no comparable pairs", id="tied-events-only"),
        pytest.param([1], [1.0], [1.0], "need at least 2 samples", id="one-sample"),
        pytest.param(
            [1, 0, 1],
            [1.0, 2.0, 3.0],
            [1.0, 2.0],
            "risk has 2 rows but the survival target has 3",
            id="length",
        ),
        pytest.param(
            [1, 0, 1],
            [1.0, 2.0, 3.0],
            [1.0, np.nan, 2.0],
            re.escape("NaN or infinite values at rows [1]"),
            id="nan-risk",
        ),
        pytest.param(
            [1, 0, 1], [1.0, 2.0, 3.0], [[1.0, 2.0]] * 3, "risk must be 1-D", id="2d-risk"
        ),
        pytest.param(
            [1, 0, 1], [1.0, 2.0, 3.0], ["a", "b", "c"], "risk must be numeric", id="string-risk"
        ),
        pytest.param(
            [1, 0, 1],
            [1.0, -2.0, 3.0],
            [1.0, 2.0, 3.0],
            re.escape("negative values at rows [1]"),
            id="negative-time",
        ),
    ],
)
def test_concordance_errors(event, time, risk, message):
    with pytest.raises(ValueError, match=message):
        concordance_index(event, time, risk)


def test_concordance_rejects_negative_tol():
    with pytest.raises(ValueError, match="tied_tol must be a finite number >= 0"):
        concordance_index([1, 0], [1.0, 2.0], [1.0, 2.0], tied_tol=-1)


def test_uno_errors(split):
    y_train, y_test, risk = split
    late = y_test.copy()
    late["time"][5] = y_train["time"].max() + 10
    late["event"][5] = True
    with pytest.raises(
        ValueError,
        match=r"test event times at rows \[5\] exceed the longest follow-up in y_train.*Pass tau <=",
    ):
        concordance_index_ipcw(y_train, late, risk)
    # tau below the late event removes it
    assert 0 < concordance_index_ipcw(y_train, late, risk, tau=float(y_train["time"].max()))
    for bad_tau in (-1.0, np.inf, "soon"):
        with pytest.raises(ValueError, match="tau must be a positive finite time"):
            concordance_index_ipcw(y_train, y_test, risk, tau=bad_tau)
    with pytest.raises(ValueError, match=r"no comparable pairs.*before tau=0\.5"):
        concordance_index_ipcw(y_train, y_test, risk, tau=0.5)
    censored = make_target(np.zeros(len(risk), dtype=bool), y_test["time"])
    with pytest.raises(ValueError, match="all samples are censored"):
        concordance_index_ipcw(y_train, censored, risk)


def test_uno_error_when_censoring_distribution_reaches_zero():
    y_train = make_target([1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0])  # last training time censored
    y_test = make_target([1, 0, 1], [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match=r"censoring survival function .* is zero .* rows \[2\]"):
        concordance_index_ipcw(y_train, y_test, [3.0, 2.0, 1.0])


@pytest.mark.parametrize(
    ("times", "surv_cols", "message"),
    [
        pytest.param(
            [0.5, 8.0],
            2,
            re.escape("times at positions [0] (values [0.5]) lie outside the follow-up of y_test"),
            id="before-first",
        ),
        pytest.param([3.0, 1e4], 2, "lie outside the follow-up of y_test", id="after-last"),
        pytest.param([3.0, 3.0], 2, re.escape("duplicated values [3.0]"), id="duplicates"),
        pytest.param([3.0, np.nan], 2, "NaN or infinite", id="nan-time"),
        pytest.param([3.0, 8.0], 3, "survival has 3 columns but 2 time points", id="columns"),
        pytest.param([], 2, "non-empty 1-D array", id="empty"),
    ],
)
def test_brier_errors(split, times, surv_cols, message):
    y_train, y_test, _ = split
    surv = np.full((len(y_test), surv_cols), 0.5)
    with pytest.raises(ValueError, match=message):
        brier_score(y_train, y_test, surv, times)


def test_brier_times_beyond_training_follow_up(split):
    y_train, y_test, _ = split
    short_train = make_target(y_train["event"], np.minimum(y_train["time"], 10.0))
    short_train["event"][short_train["time"] == 10.0] = True  # G stays positive at 10
    with pytest.raises(
        ValueError, match=r"times at positions \[1\] exceed the longest follow-up in y_train \(10\)"
    ):
        brier_score(short_train, y_test, np.full((len(y_test), 2), 0.5), [5.0, 20.0])


def test_brier_rejects_nan_survival(survival_matrix):
    y_train, y_test, surv, times = survival_matrix
    surv = surv.copy()
    surv[[4, 9], 1] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("survival contains NaN or infinite values at rows [4, 9]")
    ):
        brier_score(y_train, y_test, surv, times)


def test_brier_rejects_risk_scores(split):
    y_train, y_test, risk = split
    with pytest.raises(ValueError, match=r"survival must hold probabilities in \[0, 1\]; rows \[0"):
        brier_score(y_train, y_test, np.column_stack([risk, risk]) - 10, [3.0, 8.0])


def test_integrated_brier_needs_two_times(survival_matrix):
    y_train, y_test, surv, times = survival_matrix
    with pytest.raises(ValueError, match="needs at least two time points"):
        integrated_brier_score(y_train, y_test, surv[:, :1], times[:1])


def test_cumulative_dynamic_auc_errors(split):
    y_train, y_test, risk = split
    with pytest.raises(ValueError, match="risk has 3 columns but 2 time points"):
        cumulative_dynamic_auc(y_train, y_test, np.ones((len(risk), 3)), [3.0, 8.0])
    y_late = make_target(np.r_[False, y_test["event"][1:]], np.r_[0.1, y_test["time"][1:]])
    y_late["event"][y_late["time"] <= 1.0] = False
    with pytest.raises(ValueError, match=r"no test patient died at or before time 0\.5"):
        cumulative_dynamic_auc(y_train, y_late, risk, [0.5])
    y_train0 = make_target([1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0])
    y_test0 = make_target([1, 0, 1, 1, 0], [1.0, 2.0, 4.0, 4.0, 5.0])
    with pytest.raises(
        ValueError, match=r"censoring survival function .* is zero .* rows \[2, 3\]"
    ):
        cumulative_dynamic_auc(y_train0, y_test0, [5.0, 4.0, 3.0, 2.0, 1.0], [4.0])


@pytest.mark.parametrize(
    ("kwargs", "arrays_", "message"),
    [
        pytest.param(dict(metric=42), ([1],), "metric must be callable", id="not-callable"),
        pytest.param({}, (), "pass at least one array", id="no-arrays"),
        pytest.param(
            {},
            ([1, 0, 1], [1.0, 2.0], [1.0, 2.0, 3.0]),
            re.escape("same number of rows, got lengths [3, 2, 3]"),
            id="lengths",
        ),
        pytest.param(
            dict(n_bootstrap=0),
            ([1, 0], [1.0, 2.0], [2.0, 1.0]),
            "n_bootstrap must be a positive integer",
            id="n-bootstrap",
        ),
        pytest.param(
            dict(confidence=1.0),
            ([1, 0], [1.0, 2.0], [2.0, 1.0]),
            "confidence must lie strictly between 0 and 1",
            id="confidence",
        ),
    ],
)
def test_bootstrap_errors(kwargs, arrays_, message):
    metric = kwargs.pop("metric", concordance_index)
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(metric, *arrays_, **kwargs)


def test_bootstrap_error_when_every_resample_fails():
    original = np.arange(20)

    def only_on_original(a):
        if not np.array_equal(a, original):
            raise ValueError("no comparable pairs")
        return 0.5

    with pytest.raises(ValueError, match="failed on all 5 bootstrap resamples"):
        bootstrap_ci(only_on_original, original, n_bootstrap=5, random_state=0)


# --------------------------------------------------------------------------- scale
@pytest.mark.slow
def test_large_cohort_matches_lifelines():
    event, time, risk = _cohort(200_000, 41, time_ties=True, risk_ties="exact")
    expected = lifelines_utils.concordance_index(time, -risk, event)
    assert abs(concordance_index(event, time, risk, tied_tol=0) - expected) <= 1e-12
