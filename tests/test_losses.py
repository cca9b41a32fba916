"""Cox partial likelihood and consistency loss: cross-checks and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coxmt.losses import consistency_loss, neg_partial_log_likelihood

REFS = json.loads((Path(__file__).parent / "reference" / "loss_references.json").read_text())


def _tensors(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    X, beta = np.asarray(case["X"]), np.asarray(case["beta"])
    risk = torch.tensor(X @ beta, dtype=torch.float64)
    return risk, torch.tensor(case["event"]), torch.tensor(case["time"], dtype=torch.float64)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in REFS["cases"]])
def test_efron_matches_lifelines(case: dict) -> None:
    risk, event, time = _tensors(case)
    ours = neg_partial_log_likelihood(risk, event, time, ties="efron", reduction="sum")
    assert float(ours) == pytest.approx(case["lifelines_efron_nll_sum"], abs=1e-6, rel=1e-9)
    assert float(ours) == pytest.approx(case["sksurv_efron_nll_sum"], abs=1e-6, rel=1e-9)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in REFS["cases"]])
def test_breslow_matches_sksurv(case: dict) -> None:
    risk, event, time = _tensors(case)
    ours = neg_partial_log_likelihood(risk, event, time, ties="breslow", reduction="sum")
    assert float(ours) == pytest.approx(case["sksurv_breslow_nll_sum"], abs=1e-6, rel=1e-9)


def test_live_cross_check_against_lifelines_and_sksurv() -> None:
    """The stored references still agree with the installed packages."""
    pytest.importorskip("sksurv")
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "reference"))
    import make_loss_references as ref

    case = REFS["cases"][1]
    X, beta = np.asarray(case["X"]), np.asarray(case["beta"])
    t, e = np.asarray(case["time"]), np.asarray(case["event"])
    assert ref.lifelines_efron(X, t, e, beta) == pytest.approx(
        case["lifelines_efron_nll_sum"], rel=1e-10
    )
    assert ref.sksurv_nll(X, t, e, beta, "breslow") == pytest.approx(
        case["sksurv_breslow_nll_sum"], rel=1e-10
    )


@pytest.mark.filterwarnings("ignore:Ties in `time` detected:UserWarning")
def test_matches_torchsurv() -> None:
    torchsurv_loss = pytest.importorskip("torchsurv.loss.cox")
    rng = np.random.default_rng(5)
    n = 300
    risk = torch.tensor(rng.normal(size=n), dtype=torch.float64)
    time = torch.tensor(rng.integers(1, 30, size=n), dtype=torch.float64)
    event = torch.tensor(rng.random(n) < 0.5)
    for ties in ("efron", "breslow"):
        # torchsurv's "mean" divides by the number of distinct event times; compare sums.
        # torchsurv computes in float32, hence the relative tolerance.
        ref = torchsurv_loss.neg_partial_log_likelihood(
            risk, event, time, ties_method=ties, reduction="sum"
        )
        ours = neg_partial_log_likelihood(risk, event, time, ties=ties, reduction="sum")
        assert float(ours) == pytest.approx(float(ref), rel=1e-6)


def test_no_ties_efron_equals_breslow() -> None:
    rng = np.random.default_rng(1)
    risk = torch.tensor(rng.normal(size=50))
    time = torch.tensor(rng.permutation(50).astype(float) + 1)
    event = torch.tensor(rng.random(50) < 0.5)
    a = neg_partial_log_likelihood(risk, event, time, ties="efron")
    b = neg_partial_log_likelihood(risk, event, time, ties="breslow")
    assert float(a) == pytest.approx(float(b), abs=1e-12)


def test_mean_is_sum_over_events() -> None:
    rng = np.random.default_rng(2)
    risk = torch.tensor(rng.normal(size=30))
    time = torch.tensor(rng.integers(1, 5, size=30).astype(float))
    event = torch.tensor(rng.random(30) < 0.5)
    s = neg_partial_log_likelihood(risk, event, time, reduction="sum")
    m = neg_partial_log_likelihood(risk, event, time, reduction="mean")
    assert float(m) == pytest.approx(float(s) / int(event.sum()))


def test_shift_invariance_and_large_risks() -> None:
    rng = np.random.default_rng(3)
    risk = torch.tensor(rng.normal(size=40), dtype=torch.float64)
    time = torch.tensor(rng.integers(1, 6, size=40).astype(float))
    event = torch.tensor(rng.random(40) < 0.6)
    base = neg_partial_log_likelihood(risk, event, time)
    shifted = neg_partial_log_likelihood(risk + 1e4, event, time)
    assert float(shifted) == pytest.approx(float(base), abs=1e-8)
    big = neg_partial_log_likelihood(risk * 1e3, event, time)
    assert torch.isfinite(big)


@pytest.mark.parametrize(
    ("event", "time"),
    [
        pytest.param([0, 0, 0], [1.0, 2.0, 3.0], id="no-events"),
        pytest.param([1], [2.0], id="one-sample-event"),
        pytest.param([0], [2.0], id="one-sample-censored"),
        pytest.param([], [], id="empty"),
    ],
)
def test_degenerate_batches_are_finite_with_zero_gradient(event: list, time: list) -> None:
    risk = torch.zeros(len(time), dtype=torch.float64, requires_grad=True)
    loss = neg_partial_log_likelihood(
        risk, torch.tensor(event, dtype=torch.bool), torch.tensor(time)
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert float(loss.detach()) == 0.0
    assert risk.grad is not None and torch.all(risk.grad == 0)


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    risk = torch.tensor(rng.normal(size=12), dtype=torch.float64, requires_grad=True)
    time = torch.tensor([1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5], dtype=torch.float64)
    event = torch.tensor([1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1], dtype=torch.bool)
    for ties in ("efron", "breslow"):
        assert torch.autograd.gradcheck(
            lambda r, ties=ties: neg_partial_log_likelihood(r, event, time, ties=ties), (risk,)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"event": [1, 2, 0]}, "event contains values other than 0/1", id="bad-event"),
        pytest.param(
            {"time": [1.0, -1.0, 2.0]}, "time contains negative, NaN or infinite", id="neg-time"
        ),
        pytest.param(
            {"time": [1.0, float("nan"), 2.0]}, "time contains negative, NaN", id="nan-time"
        ),
        pytest.param({"time": [1.0, 2.0]}, "same length", id="length"),
    ],
)
def test_bad_input_messages(kwargs: dict, message: str) -> None:
    args = {"event": [1, 0, 1], "time": [1.0, 2.0, 3.0], **kwargs}
    with pytest.raises(ValueError, match=message):
        neg_partial_log_likelihood(
            torch.zeros(3), torch.tensor(args["event"]), torch.tensor(args["time"])
        )


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="ties must be"):
        neg_partial_log_likelihood(
            torch.zeros(2), torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), ties="exact"
        )  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"risk must be a torch\.Tensor"):
        neg_partial_log_likelihood(np.zeros(2), torch.tensor([1, 0]), torch.tensor([1.0, 2.0]))  # type: ignore[arg-type]


def test_keeps_device_and_dtype() -> None:
    risk = torch.zeros(3, dtype=torch.float32)
    out = neg_partial_log_likelihood(risk, [1, 0, 1], [1.0, 2.0, 3.0])
    assert out.dtype == torch.float32 and out.device == risk.device


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.0, 50.0),
    ties=st.sampled_from(["efron", "breslow"]),
)
def test_property_finite_loss_and_gradient(n: int, seed: int, scale: float, ties: str) -> None:
    rng = np.random.default_rng(seed)
    risk = torch.tensor(rng.normal(size=n) * scale, requires_grad=True)
    time = torch.tensor(rng.integers(0, 4, size=n).astype(float))
    event = torch.tensor(rng.random(n) < 0.5)
    loss = neg_partial_log_likelihood(risk, event, time, ties=ties)  # type: ignore[arg-type]
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) >= -1e-9
    assert risk.grad is not None and torch.isfinite(risk.grad).all()


def test_consistency_loss() -> None:
    s = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    assert consistency_loss(s, t).item() == pytest.approx((0 + 4 + 9) / 3)
    assert consistency_loss(s, t, torch.tensor([False, True, False])).item() == pytest.approx(4.0)
    empty = consistency_loss(s, t, torch.zeros(3, dtype=torch.bool))
    empty.backward()
    assert float(empty.detach()) == 0.0
    assert t.grad is None  # the teacher is a constant target
    with pytest.raises(ValueError, match="differ in length"):
        consistency_loss(s, torch.zeros(2))
