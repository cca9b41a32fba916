"""Property-based tests (hypothesis) of the losses, metrics and survival functions.

- the Cox loss is finite with finite gradients for any valid input, and invariant
  to a common shift and to the order of the patients;
- Harrell's and Uno's C lie in [0, 1] and do not change under strictly increasing
  transforms of the risk;
- survival curves (Breslow baseline and every estimator's
  ``predict_survival_function``) lie in [0, 1], do not increase with time and
  do not increase with the risk;
- the Breslow baseline is the estimator of the partial likelihood: its jumps are
  ``d_j / sum_{risk set} exp(r)``, it matches lifelines' baseline at lifelines' MLE,
  and PenalizedCox(alpha=0) solves the score equation of the Breslow partial
  likelihood.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coxmt import CoxMT, CoxNnet
from coxmt.baseline import BreslowBaseline
from coxmt.estimators.linear import PenalizedCox
from coxmt.losses import neg_partial_log_likelihood
from coxmt.metrics import concordance_index, concordance_index_ipcw

from .conftest import make_survival_data

FAST = settings(max_examples=40, deadline=None, database=None)
SLOWER = settings(max_examples=15, deadline=None, database=None)


# ------------------------------------------------------------------------------ strategies
@st.composite
def survival_samples(
    draw: Any, min_n: int = 1, max_n: int = 25, min_events: int = 0, tied: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(event bool array, time float array); times with or without ties."""
    n = draw(st.integers(min_n, max_n))
    event = draw(arrays(np.bool_, n))
    if event.sum() < min_events:
        event[: min(min_events, n)] = True
    with_ties = draw(st.booleans()) if tied is None else tied
    if with_ties:  # month-resolution follow-up: many ties, including time 0
        time = draw(arrays(np.float64, n, elements=st.integers(0, 6).map(float)))
    else:
        time = np.sort(draw(arrays(np.float64, n, elements=st.floats(0.01, 100.0), unique=True)))
        time = time[draw(st.permutations(list(range(n))))]
    return event, time


def risks(n: int, low: float = -30.0, high: float = 30.0) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, n, elements=st.floats(low, high, allow_nan=False))


# ------------------------------------------------------------------------------ losses
@FAST
@given(data=st.data(), ties=st.sampled_from(["efron", "breslow"]),
       reduction=st.sampled_from(["mean", "sum"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))  # fmt: skip
def test_loss_and_gradient_are_finite(data: Any, ties: str, reduction: str, dtype: Any) -> None:
    event, time = data.draw(survival_samples())
    risk_np = data.draw(risks(len(time), -500.0, 500.0))
    risk = torch.tensor(risk_np, dtype=dtype, requires_grad=True)
    loss = neg_partial_log_likelihood(
        risk, torch.from_numpy(event), torch.from_numpy(time), ties=ties, reduction=reduction
    )
    value = float(loss.detach())
    assert loss.ndim == 0 and np.isfinite(value)
    assert value >= -1e-4 * max(1.0, float(np.abs(risk_np).max()))  # a -log probability
    loss.backward()
    assert risk.grad is not None and torch.isfinite(risk.grad).all()
    if not event.any():
        assert value == 0.0 and float(risk.grad.abs().sum()) == 0.0


@FAST
@given(data=st.data(), ties=st.sampled_from(["efron", "breslow"]),
       shift=st.floats(-20.0, 20.0))  # fmt: skip
def test_loss_is_invariant_to_shift_and_order(data: Any, ties: str, shift: float) -> None:
    event, time = data.draw(survival_samples(min_n=2))
    r = data.draw(risks(len(time), -10.0, 10.0))
    perm = np.asarray(data.draw(st.permutations(list(range(len(time))))))

    def nll(rr: np.ndarray, ev: np.ndarray, tt: np.ndarray) -> float:
        return float(
            neg_partial_log_likelihood(
                torch.from_numpy(rr), torch.from_numpy(ev), torch.from_numpy(tt), ties=ties
            )
        )

    base = nll(r, event, time)
    assert nll(r + shift, event, time) == pytest.approx(base, rel=1e-9, abs=1e-9)
    assert nll(r[perm], event[perm], time[perm]) == pytest.approx(base, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------------------ metrics
MONOTONE = [
    pytest.param(lambda r: 3.0 * r + 1.0, id="affine"),
    pytest.param(lambda r: r**3, id="cube"),
    pytest.param(lambda r: np.exp(r / 4.0), id="exp"),
    pytest.param(lambda r: np.arctan(r / 10.0), id="arctan"),
]


@pytest.mark.parametrize("transform", MONOTONE)
@FAST
@given(data=st.data())
def test_c_index_in_unit_interval_and_invariant_to_monotone_transforms(
    transform: Any, data: Any
) -> None:
    event, time = data.draw(survival_samples(min_n=2, min_events=1))
    # integer risks: strictly increasing transforms keep every difference above the tie tolerance
    risk = data.draw(arrays(np.float64, len(time), elements=st.integers(-20, 20).map(float)))
    try:
        c = concordance_index(event, time, risk)
    except ValueError as exc:  # no comparable pair (e.g. every event at the largest time)
        assert "comparable" in str(exc)
        return
    assert 0.0 <= c <= 1.0
    assert concordance_index(event, time, transform(risk)) == pytest.approx(c, abs=1e-12)
    assert concordance_index(event, time, -risk) == pytest.approx(1.0 - c, abs=1e-12)


@pytest.mark.parametrize("transform", MONOTONE[:2])
@FAST
@given(data=st.data())
def test_uno_c_in_unit_interval_and_invariant_to_monotone_transforms(
    transform: Any, data: Any
) -> None:
    event, time = data.draw(survival_samples(min_n=3, min_events=1, tied=False))
    risk = data.draw(arrays(np.float64, len(time), elements=st.integers(-20, 20).map(float)))
    tau = float(np.max(time))  # censoring weights stay positive below the last follow-up
    y = (event, time)
    try:
        c = concordance_index_ipcw(y, y, risk, tau=tau)
    except ValueError as exc:
        assert "comparable" in str(exc) or "censoring survival function" in str(exc)
        return
    assert 0.0 <= c <= 1.0
    assert concordance_index_ipcw(y, y, transform(risk), tau=tau) == pytest.approx(c, abs=1e-12)


# ------------------------------------------------------------------------------ survival curves
def _check_curves(surv: np.ndarray, cumhaz: np.ndarray | None = None) -> None:
    assert np.all(np.isfinite(surv))
    assert np.all((surv >= 0.0) & (surv <= 1.0))
    assert np.all(np.diff(surv, axis=1) <= 1e-12)  # non-increasing in time
    if cumhaz is not None:
        assert np.all(cumhaz >= 0.0) and np.all(np.diff(cumhaz, axis=1) >= -1e-12)
        np.testing.assert_allclose(surv, np.exp(-cumhaz), rtol=1e-12, atol=1e-300)


@FAST
@given(data=st.data())
def test_breslow_survival_is_a_survival_function(data: Any) -> None:
    event, time = data.draw(survival_samples(min_n=2, min_events=1))
    risk = data.draw(risks(len(time), -20.0, 20.0))
    base = BreslowBaseline().fit(risk, event, time)
    new = np.sort(data.draw(risks(data.draw(st.integers(1, 6)), -25.0, 25.0)))
    grid = np.sort(data.draw(arrays(np.float64, 8, elements=st.floats(0.0, 120.0))))
    surv = base.survival(new, grid)
    _check_curves(surv, base.cumulative_hazard(new, grid))
    assert np.all(np.diff(surv, axis=0) <= 1e-12)  # higher risk, lower survival
    assert np.all(base.survival(new, [0.0 if time.min() > 0 else -1.0]) == 1.0)


@pytest.fixture(scope="module")
def fitted_estimators() -> dict[str, Any]:
    X, event, time, _ = make_survival_data(n=80, p=4, seed=3, ties=True)
    y = (event, time)
    return {
        "CoxNnet": CoxNnet(max_epochs=15, random_state=0).fit(X, y),
        "CoxMT": CoxMT(max_epochs=15, random_state=0).fit(X, y, X_unlabeled=X[:20] + 0.1),
        "PenalizedCox": PenalizedCox(alpha=0.1).fit(X, y),
    }


@pytest.mark.parametrize("name", ["CoxNnet", "CoxMT", "PenalizedCox"])
@SLOWER
@given(X=arrays(np.float64, (5, 4), elements=st.floats(-6.0, 6.0)),
       times=arrays(np.float64, 7, elements=st.floats(0.0, 10.0)))  # fmt: skip
def test_estimator_survival_functions(
    fitted_estimators: dict[str, Any], name: str, X: np.ndarray, times: np.ndarray
) -> None:
    est = fitted_estimators[name]
    grid = np.sort(times)
    surv = est.predict_survival_function(X, grid)
    assert surv.shape == (5, 7)
    _check_curves(surv, est.predict_cumulative_hazard(X, grid))
    default = est.predict_survival_function(X)  # at the training event times
    _check_curves(default)
    order = np.argsort(est.predict(X), kind="stable")
    assert np.all(np.diff(surv[order], axis=0) <= 1e-9)  # ordered by risk


# ------------------------------------------------------------------------------ Breslow vs the likelihood
def _brute_force_breslow(
    risk: np.ndarray, event: np.ndarray, time: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative baseline hazard at the distinct event times: sum of d_j / sum_{T_i >= t_j} exp(r_i)."""
    times = np.unique(time[event])
    jumps = [event[time == t].sum() / np.exp(risk[time >= t]).sum() for t in times]
    return times, np.cumsum(jumps)


@FAST
@given(data=st.data())
def test_breslow_jumps_are_deaths_over_risk_set_weight(data: Any) -> None:
    event, time = data.draw(survival_samples(min_n=1, min_events=1))
    risk = data.draw(risks(len(time), -5.0, 5.0))
    base = BreslowBaseline().fit(risk, event, time)
    times, expected = _brute_force_breslow(risk, event, time)
    np.testing.assert_array_equal(base.unique_times_, times)
    np.testing.assert_allclose(base.cumulative_hazard(np.zeros(1), times)[0], expected, rtol=1e-10)


def _score(
    coef: np.ndarray, X: np.ndarray, event: np.ndarray, time: np.ndarray, ties: str
) -> np.ndarray:
    """Gradient of the summed negative partial log-likelihood with respect to the coefficients."""
    beta = torch.tensor(coef, dtype=torch.float64, requires_grad=True)
    risk = torch.from_numpy(X) @ beta
    loss = neg_partial_log_likelihood(
        risk, torch.from_numpy(event), torch.from_numpy(time), ties=ties, reduction="sum"
    )
    loss.backward()
    assert beta.grad is not None
    return beta.grad.numpy()


@pytest.mark.parametrize("seed", [0, 1])
def test_breslow_matches_lifelines_at_the_mle(seed: int) -> None:
    """Without ties Efron = Breslow; lifelines' baseline hazard is Breslow's estimator."""
    import pandas as pd
    from lifelines import CoxPHFitter

    X, event, time, _ = make_survival_data(n=150, p=3, seed=seed)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(T=time, E=event.astype(int))
    cph = CoxPHFitter(penalizer=0.0).fit(df, duration_col="T", event_col="E")
    beta = cph.params_.to_numpy()
    # lifelines' MLE solves our partial likelihood's score equation
    assert np.abs(_score(beta, X, event, time, "breslow")).max() < 1e-5
    # and its cumulative hazard is the Breslow baseline of the risks X @ beta
    # at event times (lifelines interpolates linearly between them, a step function does not)
    grid = np.sort(time[event])[[3, 15, 30, 50, 70]]
    base = BreslowBaseline().fit(X @ beta, event, time)
    ours = base.cumulative_hazard(X[:10] @ beta, grid)
    theirs = cph.predict_cumulative_hazard(df.iloc[:10], times=grid).to_numpy().T
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # PenalizedCox without penalty finds the same coefficients and survival curves
    model = PenalizedCox(alpha=0.0).fit(X, (event, time))
    np.testing.assert_allclose(model.coef_, beta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.predict_cumulative_hazard(X[:10], grid), theirs, rtol=1e-3)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_penalized_cox_at_alpha_zero_solves_the_score_equation_with_ties(ties: str) -> None:
    X, event, time, _ = make_survival_data(n=120, p=3, seed=4, ties=True)
    model = PenalizedCox(alpha=0.0, ties=ties, tol=1e-10).fit(X, (event, time))
    score = _score(model.coef_, X, event, time, ties)
    assert np.abs(score).max() < 1e-5 * event.sum()
    # its survival functions come from the Breslow baseline of its own risks
    times, expected = _brute_force_breslow(model.predict(X), event, time)
    np.testing.assert_allclose(
        model.predict_cumulative_hazard(np.zeros((1, 3)), times)[0], expected, rtol=1e-8
    )
