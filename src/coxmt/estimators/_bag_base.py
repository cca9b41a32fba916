"""The shared base of the bag estimators (slides, slides + RNA-seq).

A fit or predict call turns its inputs into a :class:`_Cohort` (the patients'
bags and optional RNA rows); training runs through
:class:`coxmt.training.Trainer` with patient *indices* as its data, the forward
pass gathering each step's token subsets from the cohort. Training uses
mini-batches of patients (``batch_size``, event-balanced so that every batch
holds deaths, as :func:`coxmt.training.loop.event_balanced_batches`); the Cox
partial likelihood of a step is therefore over the risk set *within the batch*,
the usual approximation for networks that cannot see the whole cohort in one
pass. ``batch_size=None`` trains on all patients at once.

Supervised models train on the Cox objective; Mean Teacher models
(``_semi_supervised = True``) on the shared Mean Teacher objective, the student
and the teacher each seeing their own token subsets and input noise. Both end
with the Breslow baseline. Subclasses supply the network and the public
``fit``/``predict`` signatures.

Bags are lists (one entry per patient), so a patient's ID comes from the index of
a pandas input: ``bags`` given as a Series indexed by patient ID, or an ``X_rna``
DataFrame. A ``y`` DataFrame indexed by patient ID is then realigned to that order
(or refused when the IDs differ); otherwise ``y`` is read by position.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from coxmt._device import resolve_device
from coxmt._random import draw_seed
from coxmt._validation import check_aligned_ids, check_survival_target
from coxmt.baseline import BreslowBaseline
from coxmt.estimators._base import build_trainer, validation_split
from coxmt.estimators._mixins import (
    SavedModelMixin,
    estimator_from_params,
    network_state,
    restore_network_state,
)
from coxmt.io import load_module_state, saved_device
from coxmt.metrics import concordance_index
from coxmt.nn.bags import BagStore, select_tokens
from coxmt.training.loop import TrainingData
from coxmt.training.mean_teacher import MeanTeacherObjective, check_mean_teacher_params
from coxmt.training.objectives import CoxObjective, Forward, ForwardModule, Objective
from coxmt.training.seeding import init_stream, training_stream

__all__: list[str] = []

_LOG = logging.getLogger("coxmt")
_SCALING_PATIENTS = 2000  # patients sampled to estimate the patch-feature scaling


class _Cohort:
    """Inputs of the patients of one fit or predict call: bags and optional RNA rows."""

    def __init__(self, bags: BagStore, rna: np.ndarray | None = None) -> None:
        self.bags = bags
        self.rna = rna  # float32 (n, p); an all-NaN row = RNA missing

    def __len__(self) -> int:
        return len(self.bags)

    def concat(self, other: _Cohort | None) -> _Cohort:
        if other is None:
            return self
        rna = None
        if self.rna is not None and other.rna is not None:
            rna = np.concatenate([self.rna, other.rna], axis=0)
        return _Cohort(BagStore.concatenate([self.bags, other.bags]), rna)

    def batch(
        self,
        rows: np.ndarray,
        max_tokens: int | None,
        rng: np.random.Generator | None,
        device: torch.device,
    ) -> dict[str, Any]:
        tokens, mask, picked = self.bags.gather(rows, max_tokens, rng)
        out: dict[str, Any] = {
            "tokens": torch.from_numpy(tokens).to(device),
            "mask": torch.from_numpy(mask).to(device),
            "picked": picked,
        }
        if self.rna is not None:
            out["rna"] = torch.from_numpy(self.rna[rows]).to(device)
        return out


class _BagCoxEstimator(SavedModelMixin, BaseEstimator):
    """Shared fitting, prediction and saving of the bag-based Cox estimators.

    Subclasses combine the hyperparameter groups of
    :mod:`coxmt.estimators._bag_params` and define :meth:`_build_network`,
    :meth:`_forward`, and the public ``fit``/``predict`` signatures.
    """

    _semi_supervised = False  # whether fit uses unlabeled patients (Mean Teacher)

    # -- subclass hooks -------------------------------------------------------------
    def _build_network(self) -> nn.Module:
        raise NotImplementedError

    def _forward(
        self, net: nn.Module, inputs: dict[str, Any], noise_std: float, return_attention: bool
    ) -> Any:
        raise NotImplementedError

    def _network_from_config(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> nn.Module:
        raise NotImplementedError

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def _restore_extra(self, config: dict[str, Any]) -> None:
        return None

    def _attention_record(self, maps: Any, b: int, k: int) -> dict[str, Any]:
        return {"patch_scores": maps[b, :k].double().cpu().numpy()}

    def _held_out_split(self, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Training rows and held-out labeled rows (early stopping's, if any)."""
        return validation_split(event, self.early_stopping, self.validation_fraction, seed)

    def _after_training(
        self, cohort: _Cohort, event: np.ndarray, time: np.ndarray, held_out: np.ndarray
    ) -> None:
        """Called once the network is trained, before the Breslow baseline is fitted."""
        return None

    # -- checks and helpers -----------------------------------------------------------
    def _check_params(self) -> None:
        checks = [
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (int(self.max_epochs) >= 1, f"max_epochs must be >= 1, got {self.max_epochs}"),
            (
                self.batch_size is None or int(self.batch_size) >= 2,
                f"batch_size must be None (all patients) or >= 2, got {self.batch_size}",
            ),
            (
                self.ties in ("efron", "breslow"),
                f"ties must be 'efron' or 'breslow', got {self.ties!r}",
            ),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (
                self.max_tokens is None or int(self.max_tokens) >= 1,
                f"max_tokens must be None (all patches) or >= 1, got {self.max_tokens}",
            ),
            (int(self.model_dim) >= 1, f"model_dim must be >= 1, got {self.model_dim}"),
            (
                not self.early_stopping or 0.0 < self.validation_fraction < 1.0,
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        if self._semi_supervised:
            check_mean_teacher_params(**self._mean_teacher_settings())

    def _seed(self) -> int:
        return draw_seed(self.random_state)

    def _report(self, message: str) -> None:
        _LOG.info(message)
        if self.verbose:
            print(f"{type(self).__name__}: {message}", file=sys.stderr)

    def _bag_store(self, bags: Any, name: str, n: int | None = None) -> BagStore:
        if bags is None and n is not None:
            bags = [None] * n
        return BagStore(bags, n_features=getattr(self, "n_patch_features_", None), name=name)

    @staticmethod
    def _check_target(y: Any, n: int, what: str, *inputs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Event and time of the ``n`` patients of ``inputs``, in their order.

        The patients are identified by the index of the first of ``inputs`` that is a
        pandas Series or DataFrame without a default integer index (a Series of bags,
        an ``X_rna`` DataFrame); a ``y`` DataFrame indexed by patient ID is then put in
        that order, or refused when the IDs differ
        (:func:`~coxmt._validation.check_aligned_ids`). Inputs without IDs (lists,
        arrays) pair ``y`` with the patients by position.
        """
        indexes = [
            pd.Index(a.index)
            for a in inputs
            if isinstance(a, pd.Series | pd.DataFrame) and not isinstance(a.index, pd.RangeIndex)
        ]
        if any(not ix.equals(indexes[0]) for ix in indexes[1:]):
            raise ValueError(
                f"the inputs of {what} list different patients or the same patients in "
                "different orders (their indexes differ); give them in one patient order"
            )
        if indexes:
            y = check_aligned_ids(pd.DataFrame(index=indexes[0]), y, name=what)
        event, time = check_survival_target(y, min_samples=2)
        if len(time) != n:
            raise ValueError(
                f"{what} has {n} patients but y has {len(time)} samples; pass one (event, time) "
                "per patient, in the same order"
            )
        return event, time

    def _set_feature_scaling(
        self, net: nn.Module, cohort: _Cohort, rows: np.ndarray, seed: int
    ) -> None:
        """Per-dimension mean and standard deviation of the training patches (eval subsets)."""
        if not self.standardize_features:
            return
        rows = rows[~cohort.bags.missing[rows]]
        if len(rows) > _SCALING_PATIENTS:
            rows = np.sort(
                np.random.default_rng(seed).choice(rows, _SCALING_PATIENTS, replace=False)
            )
        d = int(cohort.bags.n_features or 0)
        s1, s2, count = np.zeros(d), np.zeros(d), 0
        for r in rows:
            f = cohort.bags.features(
                int(r), select_tokens(int(cohort.bags.n_patches[r]), self.max_tokens)
            )
            f64 = f.astype(np.float64)
            s1 += f64.sum(0)
            s2 += (f64**2).sum(0)
            count += f.shape[0]
        if count == 0:
            return
        mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
        std[std < 1e-6] = 1.0
        net.input.set_scaling(mean, std)  # type: ignore[union-attr,operator]

    # -- forward passes -----------------------------------------------------------------
    def _forwards(
        self, cohort: _Cohort, token_rng: np.random.Generator, device: torch.device
    ) -> tuple[Forward, Forward]:
        """Training and evaluation forward passes mapping patient indices to risks.

        The training forward draws a fresh random token subset for each call (so the
        student and the teacher see independent subsets) and has the network add
        Gaussian noise ``noise_std`` to the standardised inputs; the evaluation
        forward uses the deterministic subsets, no noise, in chunks of patients.
        """
        noise = float(getattr(self, "noise_std", 0.0))
        chunk = int(self.batch_size or 64)

        def train_fwd(net: nn.Module, rows: torch.Tensor) -> torch.Tensor:
            inputs = cohort.batch(rows.cpu().numpy(), self.max_tokens, token_rng, device)
            return self._forward(net, inputs, noise, False)

        def eval_fwd(net: nn.Module, rows: torch.Tensor) -> torch.Tensor:
            idx = rows.cpu().numpy()
            out = []
            for s in range(0, len(idx), chunk):
                inputs = cohort.batch(idx[s : s + chunk], self.max_tokens, None, device)
                out.append(self._forward(net, inputs, 0.0, False))
            return torch.cat(out) if out else torch.zeros(0, device=device)

        return train_fwd, eval_fwd

    # -- fitting ------------------------------------------------------------------------
    def _fit(
        self, cohort: _Cohort, event: np.ndarray, time: np.ndarray, unlabeled: _Cohort | None
    ) -> Any:
        n_lab = len(cohort)
        n_unl = 0 if unlabeled is None else len(unlabeled)
        everyone = cohort.concat(unlabeled)
        self.n_patients_ = n_lab
        self.n_unlabeled_ = n_unl
        self._count_missing(everyone, n_lab)
        self.device_ = resolve_device(self.device)
        dev = self.device_
        seed = self._seed()

        tr_idx, val_idx = self._held_out_split(event, seed)
        unl_idx = np.arange(n_lab, n_lab + n_unl)

        def idx_t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.int64, device=dev)

        data = TrainingData(
            x=idx_t(tr_idx),
            event=torch.as_tensor(event[tr_idx], device=dev),
            time=torch.as_tensor(time[tr_idx], dtype=torch.float64, device=dev),
            x_unlabeled=idx_t(unl_idx) if n_unl else None,
        )
        if self.early_stopping and len(val_idx):
            data.x_val = idx_t(val_idx)
            data.event_val = event[val_idx]
            data.time_val = time[val_idx]

        with init_stream(seed):  # initial weights: drawn on CPU, the same on every device
            net = self._build_network()
        self._set_feature_scaling(net, everyone, np.concatenate([tr_idx, unl_idx]), seed)
        net = net.to(dev)
        with training_stream(seed, dev):  # dropout and input noise
            train_fwd, eval_fwd = self._forwards(everyone, np.random.default_rng([seed, 1]), dev)
            objective = self._objective(net, train_fwd, eval_fwd)
            optimizer = torch.optim.Adam(
                objective.trainable().parameters(),
                lr=self.learning_rate,
                weight_decay=self.weight_decay,
            )
            trainer = build_trainer(self, objective, optimizer, seed)
            trainer.fit(data)
        predictor = next(iter(objective.eval_modules().values()))
        assert isinstance(predictor, ForwardModule)
        self.module_ = predictor.net.eval()
        self.history_ = pd.DataFrame(trainer.history)
        self.n_epochs_ = len(trainer.history)
        self.best_epoch_ = trainer.best_epoch
        self._after_training(cohort, event, time, val_idx)
        risk = self._predict_cohort(cohort)[0]
        self.baseline_ = BreslowBaseline().fit(risk, event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def _objective(self, net: nn.Module, train_fwd: Forward, eval_fwd: Forward) -> Objective:
        """The shared Cox or Mean Teacher objective, with the bag forward passes."""
        if not self._semi_supervised:
            return CoxObjective(net, forward=train_fwd, eval_forward=eval_fwd, ties=self.ties)
        return MeanTeacherObjective(
            net,
            forward=train_fwd,
            eval_forward=eval_fwd,
            ties=self.ties,
            **self._mean_teacher_settings(),
        )

    def _count_missing(self, everyone: _Cohort, n_lab: int) -> None:
        miss = everyone.bags.missing
        self.n_missing_wsi_ = int(miss.sum())
        msg = f"{self.n_missing_wsi_} of {len(miss)} patients have no slide"
        if self.n_missing_wsi_:
            msg += (
                f" ({int(miss[:n_lab].sum())} labeled, {int(miss[n_lab:].sum())} unlabeled); "
                "they get the learned 'missing slide' token"
            )
        self._report(msg)

    # -- prediction -----------------------------------------------------------------------
    @torch.no_grad()
    def _predict_cohort(
        self, cohort: _Cohort, *, return_attention: bool = False, all_patches: bool = False
    ) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
        check_is_fitted(self, "module_")
        net = self.module_
        net.eval()
        dev = next(net.parameters()).device
        chunk = 1 if all_patches else int(self.batch_size or 64)
        max_tokens = None if all_patches else self.max_tokens
        risks: list[np.ndarray] = []
        records: list[dict[str, Any]] = []
        n = len(cohort)
        for s in range(0, n, chunk):
            rows = np.arange(s, min(n, s + chunk))
            inputs = cohort.batch(rows, max_tokens, None, dev)
            out = self._forward(net, inputs, 0.0, return_attention)
            risk, maps = out if return_attention else (out, None)
            risks.append(risk.double().cpu().numpy())
            if return_attention:
                for b, r in enumerate(rows):
                    picked = inputs["picked"][b]
                    rec: dict[str, Any] = {"patch_index": picked}
                    rec["slide_index"] = cohort.bags.slide_index(int(r))[picked]
                    coords = cohort.bags.coords(int(r))
                    rec["coords"] = None if coords is None else coords[picked]
                    rec.update(self._attention_record(maps, b, len(picked)))
                    records.append(rec)
        risk_all = np.concatenate(risks) if risks else np.zeros(0)
        return risk_all, (records if return_attention else None)

    # -- what the public methods of the subclasses share ---------------------------------------
    def _predict(self, cohort: _Cohort, return_attention: bool) -> Any:
        check_is_fitted(self, "module_")
        risk, att = self._predict_cohort(cohort, return_attention=return_attention)
        return (risk, att) if return_attention else risk

    def _attention(self, cohort: _Cohort, all_patches: bool) -> list[dict[str, Any]]:
        check_is_fitted(self, "module_")
        _, att = self._predict_cohort(cohort, return_attention=True, all_patches=all_patches)
        return att or []

    def _cumulative_hazard(self, cohort: _Cohort, times: Any) -> np.ndarray:
        check_is_fitted(self, "baseline_")
        return self.baseline_.cumulative_hazard(self._predict_cohort(cohort)[0], times)

    def _survival(self, cohort: _Cohort, times: Any) -> np.ndarray:
        check_is_fitted(self, "baseline_")
        return self.baseline_.survival(self._predict_cohort(cohort)[0], times)

    def _score(self, cohort: _Cohort, y: Any, what: str) -> float:
        event, time = check_survival_target(y, require_events=False)
        if len(time) != len(cohort):
            raise ValueError(f"{what} has {len(cohort)} patients but y has {len(time)} samples")
        return float(concordance_index(event, time, self._predict_cohort(cohort)[0]))

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "module_")
        arrays, config = network_state(self, self.module_)
        config.update(
            n_patch_features=int(self.n_patch_features_),
            n_patients=int(self.n_patients_),
            n_unlabeled=int(self.n_unlabeled_),
            n_missing_wsi=int(self.n_missing_wsi_),
            **self._extra_config(),
        )
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        params = dict(config["params"])
        est = estimator_from_params(cls, params)
        est.n_patch_features_ = int(config["n_patch_features"])
        est._restore_extra(config)
        net = est._network_from_config(config, arrays)
        load_module_state(net, arrays)
        device = saved_device(params)
        est.module_ = net.to(device).eval()
        est.device_ = device
        restore_network_state(est, arrays, config)
        est.n_patients_ = int(config.get("n_patients", 0))
        est.n_unlabeled_ = int(config.get("n_unlabeled", 0))
        est.n_missing_wsi_ = int(config.get("n_missing_wsi", 0))
        return est
