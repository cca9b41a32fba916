"""The bag estimators' shared base: Mean Teacher rules, hyperparameters, saved files."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

import coxmt
from coxmt.estimators import multimodal
from coxmt.estimators._bag_base import _BagCoxEstimator
from coxmt.estimators.multimodal import MultimodalCoxMT, MultimodalCoxNnet
from coxmt.estimators.wsi import WSICoxMT, WSICoxNnet
from coxmt.training.loop import Trainer
from coxmt.training.mean_teacher import MeanTeacherObjective, consistency_rows
from coxmt.training.objectives import CoxObjective

REFERENCE = Path(__file__).parent / "reference" / "bag_models"
TINY_WSI = dict(model_dim=8, attention_dim=4, hidden_dim=4, max_tokens=6, max_epochs=3)
TINY_MM = dict(n_rna_tokens=3, model_dim=8, n_heads=2, hidden_dim=4, max_tokens=6, max_epochs=3)


@pytest.fixture(scope="module")
def cohort() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    n, n_unl = 24, 6
    bags = [rng.normal(size=(int(rng.integers(2, 12)), 5)) for _ in range(n + n_unl)]
    X = rng.normal(size=(n + n_unl, 9))
    event = rng.random(n) < 0.5
    event[:2] = True
    event[2:4] = False
    time = rng.exponential(1.0, n)
    return {
        "bags": bags[:n],
        "bags_unlabeled": bags[n:],
        "X": X[:n],
        "X_unlabeled": X[n:],
        "y": (event, time),
        "event": event,
    }


def _fit(model: _BagCoxEstimator, data: dict[str, Any], unlabeled: bool = True) -> Any:
    if isinstance(model, WSICoxMT | WSICoxNnet):
        unl = {"bags_unlabeled": data["bags_unlabeled"]} if unlabeled else {}
        return model.fit(data["bags"], data["y"], **unl)
    unl = (
        {"X_rna_unlabeled": data["X_unlabeled"], "bags_unlabeled": data["bags_unlabeled"]}
        if unlabeled
        else {}
    )
    return model.fit(data["X"], data["bags"], data["y"], **unl)


def _predict(model: Any, data: dict[str, Any]) -> np.ndarray:
    if isinstance(model, WSICoxMT | WSICoxNnet):
        return model.predict(data["bags"])
    return model.predict(data["X"], data["bags"])


# -- the shared Mean Teacher rules -------------------------------------------------------------
@pytest.mark.parametrize(
    ("mean_teacher", "supervised", "params"),
    [
        pytest.param(WSICoxMT, WSICoxNnet, TINY_WSI, id="wsi"),
        pytest.param(MultimodalCoxMT, MultimodalCoxNnet, TINY_MM, id="multimodal"),
    ],
)
@pytest.mark.parametrize(
    "batch_size", [pytest.param(8, id="mini-batch"), pytest.param(None, id="full")]
)
def test_mean_teacher_without_consistency_is_the_supervised_cox_model(
    cohort: dict[str, Any], mean_teacher: type, supervised: type, params: dict, batch_size: Any
) -> None:
    """consistency_weight=0 and no noise: L = L_s, so the student follows the Cox model exactly.

    Without unlabeled patients (which would take their own token and dropout draws)
    the two fits see the same random stream.
    """
    common = dict(params, batch_size=batch_size, random_state=3)
    mt = _fit(
        mean_teacher(**common, consistency_weight=0.0, noise_std=0.0, predict_with="student"),
        cohort,
        unlabeled=False,
    )
    sup = _fit(supervised(**common), cohort, unlabeled=False)
    assert mt.history_["consistency_weight"].eq(0.0).all()
    assert mt.history_["loss_consistency"].eq(0.0).all()
    np.testing.assert_allclose(mt.history_["loss_supervised"], sup.history_["loss"], rtol=1e-6)
    np.testing.assert_allclose(mt.history_["loss"], sup.history_["loss"], rtol=1e-6)
    np.testing.assert_allclose(_predict(mt, cohort), _predict(sup, cohort), rtol=1e-5, atol=1e-7)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Records the objective of each fit and every training forward pass (network, patient rows)."""
    record: dict[str, list] = {"objectives": [], "calls": []}
    forwards, objective = _BagCoxEstimator._forwards, _BagCoxEstimator._objective

    def recording_forwards(self: Any, *args: Any) -> Any:
        train_fwd, eval_fwd = forwards(self, *args)

        def train(net: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
            record["calls"].append((net, rows.cpu().numpy().copy()))
            return train_fwd(net, rows)

        return train, eval_fwd

    def recording_objective(self: Any, *args: Any) -> Any:
        obj = objective(self, *args)
        record["objectives"].append(obj)
        return obj

    monkeypatch.setattr(_BagCoxEstimator, "_forwards", recording_forwards)
    monkeypatch.setattr(_BagCoxEstimator, "_objective", recording_objective)
    return record


@pytest.mark.parametrize(
    "consistency_on",
    [
        pytest.param("censored+unlabeled", id="censored+unlabeled"),
        pytest.param("unlabeled", id="unlabeled"),
        pytest.param("all", id="all"),
    ],
)
def test_teacher_sees_the_consistency_rows(
    cohort: dict[str, Any], recorded: dict[str, list], consistency_on: str
) -> None:
    model = WSICoxMT(
        **TINY_WSI, batch_size=8, rampup_epochs=0, consistency_on=consistency_on, random_state=0
    )
    _fit(model, cohort)
    (objective,) = recorded["objectives"]
    assert isinstance(objective, MeanTeacherObjective)
    calls = recorded["calls"]
    n_lab, n_steps, i = len(cohort["bags"]), 0, 0
    while i < len(calls):
        net, rows = calls[i]
        assert net is objective.student
        lab = rows[rows < n_lab]
        assert np.array_equal(rows[: len(lab)], lab)  # labeled rows first, then unlabeled
        expected = rows[
            consistency_rows(cohort["event"][lab], len(rows) - len(lab), consistency_on)
        ]
        assert len(expected) > 0
        teacher, teacher_rows = calls[i + 1]
        assert teacher is objective.teacher
        np.testing.assert_array_equal(teacher_rows, expected)
        n_steps, i = n_steps + 1, i + 2
    assert n_steps == 3 * int(np.ceil(n_lab / 8))  # every step of every epoch


def test_supervised_bag_models_train_on_the_cox_objective(
    cohort: dict[str, Any], recorded: dict[str, list]
) -> None:
    _fit(WSICoxNnet(**TINY_WSI, batch_size=None, random_state=0), cohort)
    (objective,) = recorded["objectives"]
    assert isinstance(objective, CoxObjective)
    assert [len(rows) for _, rows in recorded["calls"]] == [len(cohort["bags"])] * 3  # no unlabeled


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param({"ema_decay": 1.0}, r"ema_decay must be in \[0, 1\)", id="ema_decay"),
        pytest.param({"consistency_on": "censored"}, "consistency_on must be one of", id="set"),
        pytest.param({"rampup_epochs": -1}, "rampup_epochs must be a number >= 0", id="rampup"),
    ],
)
def test_mean_teacher_settings_are_checked_by_the_shared_rules(
    cohort: dict[str, Any], setting: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _fit(MultimodalCoxMT(**TINY_MM, **setting), cohort)


# -- hyperparameters -----------------------------------------------------------------------------
_TRAINING = [
    "max_tokens", "standardize_features", "learning_rate", "weight_decay", "max_epochs",
    "batch_size", "early_stopping", "validation_fraction", "n_iter_no_change", "ties",
]  # fmt: skip
_MT = ["noise_std", "ema_decay", "consistency_weight", "rampup_epochs", "consistency_on",
       "predict_with"]  # fmt: skip
_RUNTIME = ["random_state", "device", "verbose"]
_WSI_NET = ["model_dim", "attention_dim", "hidden_dim", "dropout"]
_MM_NET = [
    "n_rna_tokens",
    "gene_groups",
    "model_dim",
    "n_heads",
    "hidden_dim",
    "dropout",
    "pooling",
    "fusion",
    "modality_dropout",
    "auxiliary_weight",
    "fusion_selection",
]


@pytest.mark.parametrize(
    ("cls", "names"),
    [
        pytest.param(WSICoxMT, _WSI_NET + _TRAINING + _MT + _RUNTIME, id="WSICoxMT"),
        pytest.param(WSICoxNnet, _WSI_NET + _TRAINING + _RUNTIME, id="WSICoxNnet"),
        pytest.param(MultimodalCoxMT, _MM_NET + _TRAINING + _MT + _RUNTIME, id="MultimodalCoxMT"),
        pytest.param(MultimodalCoxNnet, _MM_NET + _TRAINING + _RUNTIME, id="MultimodalCoxNnet"),
    ],
)
def test_hyperparameters_keep_their_order_and_follow_sklearn(cls: type, names: list[str]) -> None:
    assert list(inspect.signature(cls).parameters) == names
    model = cls(*range(len(names)))  # positional arguments land where they always did
    assert [getattr(model, n) for n in names] == list(range(len(names)))
    assert sorted(model.get_params()) == sorted(names)
    default = cls()
    copy = clone(default).set_params(max_epochs=7)
    assert copy.max_epochs == 7 and default.max_epochs == 50
    assert repr(cls(max_epochs=7)) == f"{cls.__name__}(max_epochs=7)"
    assert default != cls()  # estimators compare by identity, as scikit-learn's


# -- model files saved before the slide estimators were split ----------------------------------
@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    record = json.loads((REFERENCE / "predictions.json").read_text())
    bags = [None if b is None else np.asarray(b) for b in record["bags"]]
    return {**record, "bags": bags, "X": pd.DataFrame(record["X_rna"])}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("WSICoxMT", id="WSICoxMT"),
        pytest.param("WSICoxNnet", id="WSICoxNnet"),
        pytest.param("MultimodalCoxMT", id="MultimodalCoxMT"),
        pytest.param("MultimodalCoxNnet", id="MultimodalCoxNnet"),
    ],
)
def test_saved_models_of_earlier_versions_load_and_predict_the_same(
    reference: dict[str, Any], name: str
) -> None:
    model = coxmt.load_model(REFERENCE / name)
    assert type(model).__name__ == name
    assert type(model).load(REFERENCE / name).get_params() == model.get_params()
    np.testing.assert_allclose(
        _predict(model, reference), reference["predictions"][name], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("MultimodalCoxMT", id="MultimodalCoxMT"),
        pytest.param("MultimodalCoxNnet", id="MultimodalCoxNnet"),
    ],
)
def test_multimodal_models_saved_before_fusion_options_keep_the_old_network(name: str) -> None:
    config = json.loads((REFERENCE / name / "config.json").read_text())
    assert "fusion" not in config["params"]  # the file predates the options
    model = coxmt.load_model(REFERENCE / name)
    assert (model.fusion, model.modality_dropout, model.auxiliary_weight) == ("concat", 0.0, 0.0)
    assert model.fusion_selection == "none" and model.fusion_choice_ == "joint"
    net = model.module_
    assert net.rna_head is None and net.rna_aux is None and net.modality_dropout == 0.0


# -- fusion options ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(MultimodalCoxMT, id="MultimodalCoxMT"),
        pytest.param(MultimodalCoxNnet, id="MultimodalCoxNnet"),
    ],
)
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"fusion": "concat", "modality_dropout": 0.5}, id="concat-dropout"),
        pytest.param({"fusion": "late"}, id="late"),
        pytest.param({"fusion": "late", "modality_dropout": 0.5}, id="late-dropout"),
        pytest.param({"auxiliary_weight": 1.0}, id="auxiliary"),
        pytest.param({"auxiliary_weight": 0.5, "modality_dropout": 0.25}, id="auxiliary-dropout"),
    ],
)
def test_fusion_options_train_predict_save_and_load(
    cohort: dict[str, Any], cls: type, options: dict[str, Any], tmp_path: Path
) -> None:
    model = _fit(cls(**TINY_MM, **options, random_state=0), cohort)
    risk = _predict(model, cohort)
    assert risk.shape == (24,) and np.isfinite(risk).all() and np.ptp(risk) > 0
    assert (model.module_.rna_head is not None) == (options.get("fusion") == "late")
    auxiliary = options.get("auxiliary_weight", 0.0) > 0
    assert (model.module_.rna_aux is not None) == auxiliary
    assert ("loss_auxiliary" in model.history_) == auxiliary
    if auxiliary:
        assert np.isfinite(model.history_["loss_auxiliary"]).all()
        assert not hasattr(model, "_auxiliary_risks")  # no tensors left on the estimator
    loaded = coxmt.load_model(model.save(tmp_path / "m"))
    assert {k: loaded.get_params()[k] for k in options} == options
    np.testing.assert_allclose(_predict(loaded, cohort), risk, rtol=1e-5, atol=1e-6)


# -- choosing the predicting head on held-out training patients ---------------------------------
@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(MultimodalCoxMT, id="MultimodalCoxMT"),
        pytest.param(MultimodalCoxNnet, id="MultimodalCoxNnet"),
    ],
)
@pytest.mark.parametrize(
    "early_stopping", [pytest.param(False, id="own-split"), pytest.param(True, id="es-split")]
)
def test_fusion_selection_scores_held_out_training_rows_only(
    cohort: dict[str, Any], cls: type, early_stopping: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    fit, c_index = Trainer.fit, multimodal.concordance_index

    def spy_fit(self: Trainer, data: Any) -> Trainer:
        trained.append(data.x.cpu().numpy())
        return fit(self, data)

    def spy_c(event: Any, time: Any, risk: Any) -> float:
        scored.append(np.asarray(time))
        return c_index(event, time, risk)

    monkeypatch.setattr(Trainer, "fit", spy_fit)
    monkeypatch.setattr(multimodal, "concordance_index", spy_c)
    model = _fit(
        cls(**TINY_MM, auxiliary_weight=0.5, fusion_selection="validation",
            early_stopping=early_stopping, n_iter_no_change=2, random_state=0),
        cohort,
    )  # fmt: skip
    time = cohort["y"][1]
    (train_rows,) = trained
    held_out = np.setdiff1d(np.arange(24), train_rows)
    assert len(held_out) == 5 and len(train_rows) == 19  # 20% of the 24 labeled patients
    assert len(scored) == 3  # one C-index per candidate head, all on the held-out rows
    for t in scored:
        np.testing.assert_array_equal(t, time[held_out])
    scores = model.fusion_validation_c_index_
    assert sorted(scores) == ["joint", "rna", "wsi"]
    assert scores[model.fusion_choice_] == max(scores.values())
    assert model.n_patients_ == 24  # held-out patients stay counted (and in the baseline)


def test_without_fusion_selection_every_labeled_row_trains(
    cohort: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[int] = []
    fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda t, d: trained.append(len(d.x)) or fit(t, d))
    model = _fit(MultimodalCoxNnet(**TINY_MM, auxiliary_weight=0.5, random_state=0), cohort)
    assert trained == [24]
    assert model.fusion_choice_ == "joint" and model.fusion_validation_c_index_ == {}
    assert model.module_.auxiliary_inputs == "fused"  # the auxiliary heads as before


def test_validation_refit_chooses_then_trains_on_every_labeled_row(
    cohort: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[int] = []
    fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda t, d: trained.append(len(d.x)) or fit(t, d))
    params = dict(TINY_MM, auxiliary_weight=0.5, random_state=0)
    chosen = _fit(MultimodalCoxNnet(**params, fusion_selection="validation"), cohort)
    refit = _fit(MultimodalCoxNnet(**params, fusion_selection="validation-refit"), cohort)
    assert trained == [19, 19, 24]  # the same held-out choice, then all 24 patients
    assert refit.fusion_choice_ == chosen.fusion_choice_
    assert refit.fusion_validation_c_index_ == chosen.fusion_validation_c_index_
    assert refit.module_.auxiliary_inputs == "single"
    assert not hasattr(refit, "_refit_choice")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"fusion_selection": "gate"}, "fusion_selection must be one of", id="name"),
        pytest.param({"fusion_selection": "validation"}, "need auxiliary_weight > 0", id="aux"),
    ],
)
def test_fusion_selection_is_checked(
    cohort: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _fit(MultimodalCoxNnet(**TINY_MM, **kwargs), cohort)


@pytest.mark.parametrize(
    "choice", [pytest.param("joint", id="joint"), pytest.param("wsi", id="wsi"),
               pytest.param("rna", id="rna")]
)  # fmt: skip
def test_fusion_choice_predicts_with_that_head_and_is_saved(
    cohort: dict[str, Any], choice: str, tmp_path: Path
) -> None:
    model = _fit(
        MultimodalCoxNnet(**TINY_MM, auxiliary_weight=0.5, fusion_selection="validation",
                          random_state=0),
        cohort,
    )  # fmt: skip
    model.fusion_choice_ = choice
    risk, attention = model.predict(cohort["X"], cohort["bags"], return_attention=True)
    np.testing.assert_array_equal(model.predict(cohort["X"], cohort["bags"]), risk)
    assert len(attention) == 24 and "patch_scores" in attention[0]
    with torch.no_grad():
        inputs = cohort_inputs(model, cohort)
        joint, aux = model.module_(inputs["rna"], inputs["tokens"], inputs["mask"],
                                   return_auxiliary=True)  # fmt: skip
        maps = model.module_(inputs["rna"], inputs["tokens"], inputs["mask"],
                             return_attention=True)[1]  # fmt: skip
    heads = {"joint": joint, **aux}
    np.testing.assert_allclose(risk, heads[choice].double().numpy(), rtol=1e-5, atol=1e-6)
    # the patch ranking shown is that of the head that predicts
    shown = maps["wsi_pool_scores" if choice == "wsi" else "patch_scores"]
    for b in (0, 5):
        k = len(attention[b]["patch_index"])
        np.testing.assert_allclose(attention[b]["patch_scores"], shown[b, :k].double().numpy(),
                                   rtol=1e-5, atol=1e-7)  # fmt: skip
    assert not torch.allclose(maps["wsi_pool_scores"], maps["patch_scores"])
    loaded = coxmt.load_model(model.save(tmp_path / "m"))
    assert loaded.fusion_choice_ == choice
    assert loaded.fusion_validation_c_index_ == model.fusion_validation_c_index_
    np.testing.assert_array_equal(loaded.predict(cohort["X"], cohort["bags"]), risk)


def cohort_inputs(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The evaluation inputs of all of ``data``'s patients in one batch."""
    cohort = model._cohort(data["X"], data["bags"])
    return cohort.batch(np.arange(len(cohort)), model.max_tokens, None, torch.device("cpu"))
