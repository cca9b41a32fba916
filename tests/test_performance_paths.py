"""Fast training paths: exact hidden-space noise, prepared Cox loss, stacked (batched) training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import StratifiedKFold

import coxmt.losses as losses_mod
from coxmt import CoxMT, CoxNnet, fit_many
from coxmt.losses import (
    neg_partial_log_likelihood,
    neg_partial_log_likelihood_prepared,
    prepare_risk_sets,
    stack_risk_sets,
)
from coxmt.training.engine import ModelData, ModelSpec, train_stacked
from coxmt.training.noise import (
    FirstLayer,
    HiddenNoise,
    NoiseRng,
    RowSpace,
    noise_space,
    psd_factor,
)

from .conftest import make_survival_data

REPO = Path(__file__).resolve().parents[1]


# -- hidden-space noise: formulas --------------------------------------------------------
@pytest.mark.parametrize("rank", [pytest.param(None, id="full-rank"), pytest.param(2, id="rank-2")])
def test_row_space_factor_reproduces_gram(rank: int | None) -> None:
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 5, 12, generator=g, dtype=torch.float64)
    if rank is not None:  # singular W W^T: Cholesky fails, the QR basis takes over
        W = torch.randn(2, 5, rank, generator=g, dtype=torch.float64) @ torch.randn(
            2, rank, 12, generator=g, dtype=torch.float64
        )
    space = RowSpace(W)
    assert (space.basis is None) == (rank is None)
    torch.testing.assert_close(space.lower @ space.lower.transpose(1, 2), W @ W.transpose(1, 2))
    # Q has orthonormal columns and spans the row space of W: W Q Q^T = W
    eye = space.project(space.expand(torch.eye(5, dtype=torch.float64).expand(2, 5, 5)))
    torch.testing.assert_close(eye, torch.eye(5, dtype=torch.float64).expand(2, 5, 5))
    torch.testing.assert_close(space.expand(space.project(W)), W)


def test_psd_factor_handles_singular_matrices() -> None:
    a = torch.randn(3, 6, 2, dtype=torch.float64)
    gram = a @ a.transpose(1, 2)  # rank 2 of 6
    c = psd_factor(gram)
    torch.testing.assert_close(c @ c.transpose(1, 2), gram)


def test_noise_space_rule() -> None:
    assert noise_space(128, 1000) == "hidden"
    assert noise_space(600, 1000) == "input"


# -- hidden-space noise: distribution (statistical, fixed seeds, generous tolerance) ----
N_REP, N_ROWS, H, D, STD = 3000, 4, 3, 9, 0.7


@pytest.fixture(scope="module")
def noise_problem() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    W = torch.randn(1, H, D, generator=g, dtype=torch.float64)
    return {
        "W": W,
        "b": torch.randn(1, H, generator=g, dtype=torch.float64),
        "X": torch.randn(1, N_ROWS, D, generator=g, dtype=torch.float64),
        "C": torch.randn(N_ROWS, H, generator=g, dtype=torch.float64),
    }


def _input_space(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    W = p["W"].expand(N_REP, H, D).clone().requires_grad_(True)
    E = torch.randn(N_REP, N_ROWS, D, generator=g, dtype=torch.float64)
    A = torch.baddbmm(p["b"].unsqueeze(1), p["X"] + STD * E, W.transpose(1, 2))
    (torch.tanh(A) * p["C"]).sum().backward()
    assert W.grad is not None
    return A.detach(), W.grad


def _hidden_space(p: dict[str, torch.Tensor], fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
    W = p["W"].expand(N_REP, H, D).clone().requires_grad_(True)
    rng = NoiseRng(
        [torch.Generator().manual_seed(100 + k) for k in range(N_REP)], torch.device("cpu")
    )
    buffer = None
    x = p["X"].expand(N_REP, N_ROWS, D)
    if fused:
        buffer = torch.zeros(N_REP, N_ROWS + 2 * H, D, dtype=torch.float64)
        buffer[:, :N_ROWS] = p["X"]
        x = buffer[:, :N_ROWS]
    noise = HiddenNoise(
        torch.full((N_REP,), STD, dtype=torch.float64),
        [True] * N_REP,
        rng,
        [N_ROWS] * N_REP,
        buffer,
    )
    clean: list[torch.Tensor] = []
    A = FirstLayer.apply(W, p["b"].expand(N_REP, H), x, noise, clean)
    (torch.tanh(A) * p["C"]).sum().backward()
    assert W.grad is not None
    torch.testing.assert_close(
        clean[0], torch.baddbmm(p["b"].unsqueeze(1), x, W.detach().transpose(1, 2))
    )
    return A.detach(), W.grad


def _assert_same_distribution(a: torch.Tensor, b: torch.Tensor) -> None:
    a, b = a.reshape(N_REP, -1), b.reshape(N_REP, -1)
    se = torch.sqrt((a.var(0) + b.var(0)) / N_REP)
    assert torch.all((a.mean(0) - b.mean(0)).abs() < 5 * se + 1e-12)
    ratio = b.var(0) / a.var(0)
    assert torch.all((ratio > 0.85) & (ratio < 1.18)), ratio
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    scale = torch.sqrt(torch.outer(a.var(0), a.var(0)))
    assert torch.all((cov_a - cov_b).abs() < 0.12 * scale + 1e-12)


@pytest.mark.parametrize(
    "fused", [pytest.param(False, id="basis"), pytest.param(True, id="fused-buffer")]
)
def test_hidden_noise_matches_input_noise_in_distribution(noise_problem: dict, fused: bool) -> None:
    """Pre-activations and weight gradients have the law of input-space noise."""
    a_in, g_in = _input_space(noise_problem)
    a_hid, g_hid = _hidden_space(noise_problem, fused)
    # theory: each row ~ N(X W^T + b, s^2 W W^T), rows independent
    W, X, b = noise_problem["W"][0], noise_problem["X"][0], noise_problem["b"][0]
    mean = X @ W.T + b
    cov = STD**2 * W @ W.T
    for a in (a_in, a_hid):
        se = torch.sqrt(torch.diagonal(cov) / N_REP)
        assert torch.all((a.mean(0) - mean).abs() < 5 * se)
        emp = torch.cov(a[:, 1, :].T)
        assert torch.allclose(emp, cov, atol=0.12 * float(cov.abs().max()))
    _assert_same_distribution(a_in, a_hid)
    _assert_same_distribution(g_in, g_hid)


# -- prepared Cox loss -------------------------------------------------------------------
def _loss_case(
    n: int, seed: int, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    risk = torch.tensor(rng.normal(size=n) * scale, requires_grad=True)
    time = torch.tensor(rng.integers(0, 12, size=n).astype(float))
    event = torch.tensor(rng.random(n) < 0.5)
    return risk, event, time


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fast_and_log_space_paths_agree(ties: str, monkeypatch: pytest.MonkeyPatch) -> None:
    risk, event, time = _loss_case(80, 0, scale=3.0)
    fast = neg_partial_log_likelihood(risk, event, time, ties=ties)  # type: ignore[arg-type]
    (g_fast,) = torch.autograd.grad(fast, risk)
    monkeypatch.setattr(losses_mod, "_FAST_SPREAD", -1.0)  # force logcumsumexp
    slow = neg_partial_log_likelihood(risk, event, time, ties=ties)  # type: ignore[arg-type]
    (g_slow,) = torch.autograd.grad(slow, risk)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-10, atol=1e-12)


def test_float32_risks_match_float64_reference() -> None:
    risk, event, time = _loss_case(2000, 8, scale=2.0)
    r32 = risk.detach().float().requires_grad_(True)
    loss32 = neg_partial_log_likelihood(r32, event, time)
    (g32,) = torch.autograd.grad(loss32, r32)
    r64 = r32.detach().double().requires_grad_(True)
    loss64 = neg_partial_log_likelihood(r64, event, time)
    (g64,) = torch.autograd.grad(loss64, r64)
    assert loss32.dtype == torch.float32 and g32.dtype == torch.float32
    assert float(loss32.detach()) == pytest.approx(float(loss64.detach()), rel=1e-6)
    torch.testing.assert_close(g32.double(), g64, rtol=1e-5, atol=1e-8)


def test_stacked_risk_sets_equal_separate_losses() -> None:
    cases = [_loss_case(n, seed) for n, seed in ((30, 1), (17, 2), (30, 3))]
    stride = 30
    risk = torch.zeros(3, stride, dtype=torch.float64)
    for k, (r, _, _) in enumerate(cases):
        risk[k, : r.shape[0]] = r.detach()
    risk.requires_grad_(True)
    rs = stack_risk_sets([c[1] for c in cases], [c[2] for c in cases], stride)
    stacked = neg_partial_log_likelihood_prepared(risk, rs)
    (grad,) = torch.autograd.grad(stacked.sum(), risk)
    for k, (r, e, t) in enumerate(cases):
        alone = neg_partial_log_likelihood(r, e, t)
        (g_alone,) = torch.autograd.grad(alone, r)
        torch.testing.assert_close(stacked[k], alone)
        torch.testing.assert_close(grad[k, : r.shape[0]], g_alone)
        assert torch.all(grad[k, r.shape[0] :] == 0)


def test_prepared_equals_unprepared_and_rejects_wrong_size() -> None:
    risk, event, time = _loss_case(50, 4)
    rs = prepare_risk_sets(event, time)
    torch.testing.assert_close(
        neg_partial_log_likelihood_prepared(risk, rs)[0],
        neg_partial_log_likelihood(risk, event, time),
    )
    with pytest.raises(ValueError, match="prepared for 50"):
        neg_partial_log_likelihood_prepared(risk[:10], rs)


def test_sort_key_collisions_fall_back_to_exact_order() -> None:
    # times that differ only in the last bits share their truncated sort key
    n = 4096
    rng = np.random.default_rng(5)
    time = torch.tensor(1.0 + rng.permutation(n) * 1e-15)
    event = torch.tensor(rng.random(n) < 0.5)
    order = losses_mod._argsort_desc_fast(time)
    assert order is not None and not torch.all(time[order][1:] <= time[order][:-1])  # collisions
    rs = prepare_risk_sets(event, time)
    assert torch.all(time[rs.index[0]][1:] <= time[rs.index[0]][:-1])  # exact fallback used
    risk = torch.tensor(rng.normal(size=n))
    ref = torch.argsort(time, stable=True)
    assert float(neg_partial_log_likelihood(risk, event, time)) == pytest.approx(
        float(neg_partial_log_likelihood(risk[ref], event[ref], time[ref])), rel=1e-12
    )


@pytest.mark.filterwarnings("ignore:Ties in `time` detected:UserWarning")
def test_matches_torchsurv_at_scale() -> None:
    torchsurv_loss = pytest.importorskip("torchsurv.loss.cox")
    rng = np.random.default_rng(6)
    n = 20_000
    risk = torch.tensor(rng.normal(size=n), dtype=torch.float32)
    time = torch.tensor(np.round(rng.exponential(30, size=n), 1) + 0.1, dtype=torch.float32)
    event = torch.tensor(rng.random(n) < 0.3)
    for ties in ("efron", "breslow"):
        ref = torchsurv_loss.neg_partial_log_likelihood(
            risk.double(), event, time.double(), ties_method=ties, reduction="sum"
        )
        ours = neg_partial_log_likelihood(
            risk.double(), event, time.double(), ties=ties, reduction="sum"
        )  # type: ignore[arg-type]
        assert float(ours) == pytest.approx(float(ref), rel=1e-6)


# -- stacked training == one by one --------------------------------------------------------
@pytest.fixture(scope="module")
def cv_data() -> dict:
    X, event, time, _ = make_survival_data(n=160, p=24, seed=3)
    folds = [tr for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(X, event)]
    Xu = np.random.default_rng(0).normal(size=(30, 24))
    return {"X": X, "y": (event, time), "folds": folds, "Xu": Xu}


def _make(cls: type, k: int, **kw: object) -> object:
    return cls(hidden_layer_sizes=(13,), max_epochs=40, random_state=k, learning_rate=1e-2, **kw)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        pytest.param(CoxNnet, {}, id="coxnnet"),
        pytest.param(CoxMT, {"noise_std": 0.3}, id="coxmt-hidden-noise"),
        pytest.param(
            CoxMT, {"early_stopping": True, "n_iter_no_change": 4}, id="coxmt-early-stopping"
        ),
    ],
)
def test_fit_many_equals_one_by_one(cls: type, kw: dict, cv_data: dict) -> None:
    X, (event, time), folds, Xu = cv_data["X"], cv_data["y"], cv_data["folds"], cv_data["Xu"]
    ests = [_make(cls, k, **kw) for k in range(len(folds))]
    ests[-1].set_params(learning_rate=3e-3, dropout=0.0)  # per-model hyperparameters
    fit_many(ests, X, (event, time), folds, X_unlabeled=Xu)
    for k, est in enumerate(ests):
        alone = _make(cls, k, **kw).set_params(**est.get_params())
        alone.fit(X[folds[k]], (event[folds[k]], time[folds[k]]), X_unlabeled=Xu)
        np.testing.assert_allclose(est.predict(X), alone.predict(X), rtol=1e-4, atol=1e-5)
        assert est.n_epochs_ == alone.n_epochs_ and est.best_epoch_ == alone.best_epoch_
        assert list(est.history_.columns) == list(alone.history_.columns)


def test_fit_many_falls_back_for_mini_batches(cv_data: dict) -> None:
    X, y, folds = cv_data["X"], cv_data["y"], cv_data["folds"]
    ests = fit_many([_make(CoxNnet, 0, batch_size=32), _make(CoxNnet, 1)], X, y, folds[:2])
    assert all(e.n_epochs_ == 40 for e in ests)
    assert [e.backend_ for e in ests] == ["loop", "stacked"]
    with pytest.raises(ValueError, match="train_rows"):
        fit_many([_make(CoxNnet, 0)], X, y, folds[:2])


def test_engine_modes_train(cv_data: dict) -> None:
    """Linear model, input-space noise (wide first layer), bf16 matmuls."""
    X, (event, time) = cv_data["X"], cv_data["y"]
    x = torch.as_tensor(X, dtype=torch.float32)
    data = ModelData(labeled=np.arange(len(event)), event=event, time=time)
    spec = ModelSpec(seed=0, max_epochs=5, mean_teacher=True, noise_std=0.2, learning_rate=1e-2)
    for hidden, dtype in (((), torch.float32), ((20,), torch.float32), ((4,), torch.bfloat16)):
        res = train_stacked(x, [spec], [data], hidden=hidden, mm_dtype=dtype)
        assert res.n_epochs[0] == 5 and np.isfinite(res.history[0][-1]["loss"])


def test_precision_and_threads_options(cv_data: dict) -> None:
    X, y = cv_data["X"], cv_data["y"]
    before = torch.get_num_threads()
    model = CoxMT(max_epochs=5, random_state=0, precision="bf16", n_threads=1, device="cpu").fit(
        X, y
    )
    assert torch.get_num_threads() == before
    assert np.isfinite(model.predict(X)).all()
    with pytest.raises(ValueError, match="precision must be one of"):
        CoxNnet(max_epochs=2, precision="fp8").fit(X, y)
    with pytest.raises(ValueError, match="n_threads must be None or >= 1"):
        CoxNnet(max_epochs=2, n_threads=0).fit(X, y)


def test_diverging_training_raises(cv_data: dict) -> None:
    X, y = cv_data["X"], cv_data["y"]
    with pytest.raises(FloatingPointError, match="training loss became"):
        CoxNnet(max_epochs=5, learning_rate=1e30, random_state=0).fit(X * 1e30, y)


def test_gpu_check_dry_run(tmp_path: Path, tcga_dir: Path) -> None:
    env = {
        **os.environ,
        "OUT": str(tmp_path),
        "OMP_NUM_THREADS": "1",
        "COXMT_TCGA_DIR": str(tcga_dir),
    }
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["mode"] == "dry-run" and report["sections"]


# -- GPU ---------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_gpu_fit_matches_cpu_quality(precision: str, cv_data: dict) -> None:
    X, y = cv_data["X"], cv_data["y"]
    cpu = CoxMT(max_epochs=40, random_state=0, device="cpu").fit(X, y)
    gpu = CoxMT(max_epochs=40, random_state=0, device="cuda", precision=precision).fit(X, y)
    assert abs(cpu.score(X, y) - gpu.score(X, y)) < 0.05


@pytest.mark.gpu
def test_gpu_loss_matches_cpu() -> None:
    risk, event, time = _loss_case(5000, 7)
    cpu = neg_partial_log_likelihood(risk.detach(), event, time)
    gpu = neg_partial_log_likelihood(risk.detach().cuda(), event.cuda(), time.cuda())
    assert float(gpu) == pytest.approx(float(cpu), rel=1e-9)


def test_fit_many_aligns_y_and_features_like_fit(cv_data: dict) -> None:
    """fit_many validates through the estimators' own fit checks: a y DataFrame in
    another order is aligned to X by index; feature names are recorded."""
    X_arr, (event, time), folds = cv_data["X"], cv_data["y"], cv_data["folds"]
    ids = [f"p{i}" for i in range(len(X_arr))]
    X = pd.DataFrame(X_arr, index=ids, columns=[f"g{j}" for j in range(X_arr.shape[1])])
    y = pd.DataFrame({"event": event, "time": time}, index=ids)
    shuffled = y.iloc[np.random.default_rng(0).permutation(len(y))]
    a = fit_many([_make(CoxNnet, 0)], X, y, folds[:1])[0]
    b = fit_many([_make(CoxNnet, 0)], X, shuffled, folds[:1])[0]
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert list(b.feature_names_in_) == list(X.columns) and b.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="different patients"):
        fit_many([_make(CoxNnet, 0)], X, shuffled.rename(index={"p0": "zz"}), folds[:1])
