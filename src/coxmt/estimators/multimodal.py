"""Multimodal Cox models: RNA-seq and whole-slide images in mutual cross-attention.

Each patient is an RNA-seq vector (a row of ``X_rna``) and a bag of patch
features (an entry of ``bags``, see :mod:`coxmt.nn.bags`). The RNA vector is cut
into ``n_rna_tokens`` gene groups, each embedded by its own small layer; the bag
gives at most ``max_tokens`` patch tokens. RNA tokens query the patch tokens and
patch tokens query the RNA tokens (:class:`coxmt.nn.attention.CrossAttentionCox`),
the pooled results are concatenated and mapped to a risk.

Fusion options
--------------
Three mechanisms meant to keep a weak or noisy modality from dragging the fused
risk below the better modality, all off by default (the network of earlier
versions, which saved models without these parameters load as):
``fusion="late"`` adds one Cox head per modality whose risks are summed with the
joint head's; ``modality_dropout`` hides one modality of a random fraction of
the patients in training, so that each modality learns to predict alone;
``auxiliary_weight`` adds the Cox losses of per-modality auxiliary heads (used
in training only) to the objective. On the semi-synthetic slide benchmark
(``benchmarks/semisynthetic_wsi.py``), where RNA-seq is the weaker modality,
none of them lifted the fused model to the slides-only model's level on
validation splits; see ``benchmarks/results/semisynthetic_wsi.md``.

``fusion_selection="validation"`` (with ``auxiliary_weight > 0``) makes the
auxiliary heads single-modality predictors (each reads its own modality's tokens,
pooled before the cross-attention) and, after training, predicts with whichever
of the joint, RNA-only and slides-only heads has the best Harrell's C on labeled
training patients held out from training (``fusion_choice_``). The fused model is
then not much worse than its better modality by construction, up to the noise of
the held-out C-index and the training rows it costs; ``"validation-refit"`` gives
those rows back by training again on all labeled patients once the head is chosen.
On the semi-synthetic benchmark it lifted the fused model from 0.08 below to 0.01-0.05
above the slides-only model (5-fold CV, BRCA and LUAD); the default stays "none".

Gene-to-token mapping
---------------------
By default the RNA columns, in their order, are split into ``n_rna_tokens``
contiguous chunks; with ``gene_groups`` every gene group becomes one token
(see :mod:`coxmt.estimators._gene_tokens`). The mapping (``gene_index_``,
``token_names_``) is saved with the model.

Missing modalities
------------------
A patient without slides (bag None or zero patches) or without RNA-seq (a row of
``X_rna`` that is entirely NaN) still gets a finite risk: the absent modality is
replaced by a learned "missing" token. Such patients are counted in
``n_missing_wsi_`` / ``n_missing_rna_`` (and reported with ``verbose``), never
dropped. A row with only *some* NaN genes is refused (impute it first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from coxmt._validation import check_features, format_rows, unwrap_unlabeled
from coxmt.estimators._bag_base import _BagCoxEstimator, _Cohort
from coxmt.estimators._bag_params import (
    _BAG_TRAINING_DOC,
    _MEAN_TEACHER_DOC,
    _MULTIMODAL_LEGACY_PARAMS,
    _MULTIMODAL_NETWORK_DOC,
    _RUNTIME_DOC,
    _BagTrainingParams,
    _MeanTeacherParams,
    _MultimodalNetworkParams,
    _RuntimeParams,
)
from coxmt.estimators._base import validation_split
from coxmt.estimators._gene_tokens import gene_tokens, read_gene_groups
from coxmt.estimators._mixins import align_features
from coxmt.metrics import concordance_index
from coxmt.nn.attention import FUSIONS, CrossAttentionCox
from coxmt.nn.bags import BagStore
from coxmt.training.objectives import Batch, Forward, Objective, cox_loss

__all__ = ["MultimodalCoxMT", "MultimodalCoxNnet", "read_gene_groups"]

FUSION_SELECTIONS = ("none", "validation", "validation-refit")
_PREDICTORS = ("joint", "wsi", "rna")  # candidates of fusion_selection="validation"; ties: first


class _AuxiliaryCoxLoss:
    """An objective plus ``weight`` times the mean Cox loss of the per-modality auxiliary heads.

    The training forward of the bag estimators leaves each call's auxiliary risks in
    ``risks`` (keyed by the network's id); the student's, on the labeled rows, enter
    the loss. Everything else (Mean Teacher rules, predictors) is the wrapped
    objective's.
    """

    def __init__(
        self, objective: Objective, risks: dict[int, dict[str, torch.Tensor]], weight: float,
        ties: str,
    ) -> None:  # fmt: skip
        self.objective = objective
        self.risks = risks
        self.weight = weight
        self.ties = ties

    def trainable(self) -> nn.Module:
        return self.objective.trainable()

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        loss, logs = self.objective.compute_loss(batch, epoch)
        aux = self.risks.pop(id(self.trainable()))
        self.risks.clear()
        n_lab = batch.x.shape[0]
        extra = torch.stack([cox_loss(r[:n_lab], batch, self.ties) for r in aux.values()]).mean()
        loss = loss + self.weight * extra
        return loss, {**logs, "loss": loss.detach(), "loss_auxiliary": extra.detach()}

    def after_step(self, step: int) -> None:
        self.objective.after_step(step)

    def eval_modules(self) -> dict[str, nn.Module]:
        return self.objective.eval_modules()


class _MultimodalEstimator(_BagCoxEstimator):
    """RNA + slides: input checks, gene mapping, the cross-attention network."""

    # -- RNA input ------------------------------------------------------------------------
    def _prepare_rna(self, X: Any, name: str, *, fit: bool = False) -> np.ndarray:
        if fit:
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            arr = check_features(X, name=name, allow_nan=True)
            self.n_features_in_ = arr.shape[1]
        else:
            check_is_fitted(self, "n_features_in_")  # set first thing in fit
            names = getattr(self, "feature_names_in_", None)
            X = align_features(X, None if names is None else list(names), name=name)
            arr = check_features(X, name=name, allow_nan=True, n_features=self.n_features_in_)
        nan = np.isnan(arr)
        partial = np.flatnonzero(nan.any(axis=1) & ~nan.all(axis=1))
        if partial.size:
            raise ValueError(
                f"{name} has NaN in some but not all genes at rows {format_rows(partial)}; impute "
                "those values (e.g. 0 after scaling), or set the whole row to NaN to mark the "
                "patient's RNA-seq as missing"
            )
        return arr.astype(np.float32)

    def _gene_mapping(self) -> None:
        tokens = gene_tokens(
            int(self.n_features_in_),
            getattr(self, "feature_names_in_", None),
            int(self.n_rna_tokens),
            self.gene_groups,
        )
        self.gene_index_ = tokens.index
        self.token_names_ = tokens.names
        self.n_genes_unmatched_ = tokens.n_genes_unmatched
        self.empty_gene_groups_ = tokens.empty_groups
        if self.gene_groups is not None:
            self._report(
                f"{len(tokens.names)} gene-group tokens; {tokens.n_genes_unmatched} listed genes "
                f"not in X_rna; {len(self.empty_gene_groups_)} empty groups dropped"
            )

    # -- hooks ------------------------------------------------------------------------------
    def _build_network(self) -> nn.Module:
        return CrossAttentionCox(
            self.gene_index_,
            int(self.n_features_in_),
            int(self.n_patch_features_),
            model_dim=int(self.model_dim),
            n_heads=int(self.n_heads),
            hidden_dim=int(self.hidden_dim),
            dropout=float(self.dropout),
            pooling=self.pooling,
            fusion=self.fusion,
            modality_dropout=float(self.modality_dropout),
            auxiliary_heads=float(self.auxiliary_weight) > 0,
            # the candidates of the selection are single-modality predictors
            auxiliary_inputs="fused" if self.fusion_selection == "none" else "single",
        )

    def _forward(
        self, net: nn.Module, inputs: dict[str, Any], noise_std: float, return_attention: bool
    ) -> Any:
        choice = getattr(self, "fusion_choice_", "joint")
        if not net.training and choice != "joint":  # a per-modality head was selected
            maps = None
            if return_attention:
                maps = self._net_call(net, inputs, noise_std, return_attention=True)[1]
            risk = self._net_call(net, inputs, noise_std, return_auxiliary=True)[1][choice]
            return (risk, maps) if return_attention else risk
        auxiliary = net.training and getattr(net, "rna_aux", None) is not None
        out = net(
            inputs["rna"],
            inputs["tokens"],
            inputs["mask"],
            rna_noise_std=noise_std,
            wsi_noise_std=noise_std,
            return_attention=return_attention,
            return_auxiliary=auxiliary and not return_attention,
        )
        if auxiliary and not return_attention:
            risk, aux = out
            self._auxiliary_risks[id(net)] = aux  # read by _AuxiliaryCoxLoss in this step
            return risk
        return out

    @staticmethod
    def _net_call(net: nn.Module, inputs: dict[str, Any], noise_std: float, **kw: bool) -> Any:
        return net(
            inputs["rna"],
            inputs["tokens"],
            inputs["mask"],
            rna_noise_std=noise_std,
            wsi_noise_std=noise_std,
            **kw,
        )

    def _held_out_split(self, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.fusion_selection == "none" or self.early_stopping or hasattr(self, "_refit_choice"):
            return super()._held_out_split(event, seed)
        if event.sum() < 4:
            raise ValueError(
                "fusion_selection='validation' needs at least 4 events to hold some out, got "
                f"{int(event.sum())}; set fusion_selection='none'"
            )
        return validation_split(event, True, self.validation_fraction, seed)

    @torch.no_grad()
    def _after_training(
        self, cohort: _Cohort, event: np.ndarray, time: np.ndarray, held_out: np.ndarray
    ) -> None:
        """Choose the predictor (``fusion_choice_``) on the held-out labeled patients."""
        self.fusion_choice_ = "joint"
        self.fusion_validation_c_index_: dict[str, float] = {}
        if hasattr(self, "_refit_choice"):
            self.fusion_choice_, self.fusion_validation_c_index_ = self._refit_choice
            return
        if self.fusion_selection == "none":
            return
        net = self.module_
        dev = next(net.parameters()).device
        chunk = int(self.batch_size or 64)
        risks: dict[str, list[np.ndarray]] = {p: [] for p in _PREDICTORS}
        for s in range(0, len(held_out), chunk):
            inputs = cohort.batch(held_out[s : s + chunk], self.max_tokens, None, dev)
            joint, aux = self._net_call(net, inputs, 0.0, return_auxiliary=True)
            for name, r in {"joint": joint, **aux}.items():
                risks[name].append(r.double().cpu().numpy())
        scores = {
            p: float(concordance_index(event[held_out], time[held_out], np.concatenate(r)))
            for p, r in risks.items()
        }
        self.fusion_validation_c_index_ = scores
        self.fusion_choice_ = max(_PREDICTORS, key=lambda p: (scores[p], -_PREDICTORS.index(p)))
        self._report(
            f"held-out C-index ({len(held_out)} patients): "
            + ", ".join(f"{p} {c:.3f}" for p, c in scores.items())
            + f"; predicting with the {self.fusion_choice_} head"
        )

    def _objective(self, net: nn.Module, train_fwd: Forward, eval_fwd: Forward) -> Objective:
        objective = super()._objective(net, train_fwd, eval_fwd)
        if float(self.auxiliary_weight) == 0:
            return objective
        self._auxiliary_risks: dict[int, dict[str, torch.Tensor]] = {}
        return _AuxiliaryCoxLoss(
            objective, self._auxiliary_risks, float(self.auxiliary_weight), self.ties
        )

    def _attention_record(self, maps: Any, b: int, k: int) -> dict[str, Any]:
        rna_valid = (~maps["rna_mask"][b]).double().cpu().numpy()
        a_rw = maps["rna_to_wsi"][b, :, :k].double().cpu().numpy() * rna_valid[:, None]
        # the slides-only head predicts: its own attention pooling ranks the patches
        key = "wsi_pool_scores" if getattr(self, "fusion_choice_", "joint") == "wsi" else None
        return {
            "patch_scores": maps[key or "patch_scores"][b, :k].double().cpu().numpy(),
            "rna_to_wsi": a_rw,
            "wsi_to_rna": maps["wsi_to_rna"][b, :k, :].double().cpu().numpy(),
            "rna_missing": bool(maps["rna_missing"][b]),
            "wsi_missing": k == 0,
        }

    def _count_missing(self, everyone: _Cohort, n_lab: int) -> None:
        miss_w = everyone.bags.missing
        assert everyone.rna is not None
        miss_r = np.isnan(everyone.rna).all(axis=1)
        self.n_missing_wsi_ = int(miss_w.sum())
        self.n_missing_rna_ = int(miss_r.sum())
        self.n_missing_both_ = int((miss_w & miss_r).sum())
        n = len(miss_w)
        self._report(
            f"{n} patients ({n_lab} labeled): {self.n_missing_wsi_} without slides "
            f"({int(miss_w[:n_lab].sum())} labeled), {self.n_missing_rna_} without RNA-seq "
            f"({int(miss_r[:n_lab].sum())} labeled), {self.n_missing_both_} without both; "
            "absent modalities get learned 'missing' tokens"
        )

    def _cohort(self, X_rna: Any, bags: Any, name: str = "") -> _Cohort:
        rna_name, bag_name = f"X_rna{name}", f"bags{name}"
        if X_rna is None and bags is None:
            raise ValueError(f"give {rna_name} and/or {bag_name}")
        store = None if bags is None else self._bag_store(bags, bag_name)
        if X_rna is None:
            assert store is not None
            rna = np.full((len(store), int(self.n_features_in_)), np.nan, dtype=np.float32)
        else:
            rna = self._prepare_rna(X_rna, rna_name)
        if store is None:
            store = self._bag_store(None, bag_name, n=rna.shape[0])
        return self._paired(rna, store, name)

    @staticmethod
    def _paired(rna: np.ndarray, store: BagStore, name: str = "") -> _Cohort:
        if len(store) != rna.shape[0]:
            raise ValueError(
                f"X_rna{name} has {rna.shape[0]} rows but bags{name} has {len(store)} entries; "
                "pass one bag per row of X_rna, in the same order (None when a patient has no slide)"
            )
        return _Cohort(store, rna)

    # -- saving -------------------------------------------------------------------------------
    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        # models saved before ``fusion`` / ``modality_dropout`` existed used the old network
        params = {**_MULTIMODAL_LEGACY_PARAMS, **config["params"]}
        return super()._from_state(arrays, {**config, "params": params})

    def _extra_config(self) -> dict[str, Any]:
        names = getattr(self, "feature_names_in_", None)
        return {
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
            "token_names": list(self.token_names_),
            "n_missing_rna": int(self.n_missing_rna_),
            "n_missing_both": int(self.n_missing_both_),
            "n_genes_unmatched": int(self.n_genes_unmatched_),
            "empty_gene_groups": list(self.empty_gene_groups_),
            "fusion_choice": str(self.fusion_choice_),
            "fusion_validation_c_index": dict(self.fusion_validation_c_index_),
        }

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, config = super()._export_state()
        groups = config["params"].get("gene_groups")
        if groups is not None and not isinstance(groups, str):
            if isinstance(groups, os.PathLike):
                config["params"]["gene_groups"] = os.fspath(groups)
            else:
                config["params"]["gene_groups"] = read_gene_groups(groups)
        return arrays, config

    def _restore_extra(self, config: dict[str, Any]) -> None:
        self.n_features_in_ = int(config["n_features_in"])
        if config.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
        self.token_names_ = list(config["token_names"])
        self.n_missing_rna_ = int(config.get("n_missing_rna", 0))
        self.n_missing_both_ = int(config.get("n_missing_both", 0))
        self.n_genes_unmatched_ = int(config.get("n_genes_unmatched", 0))
        self.empty_gene_groups_ = list(config.get("empty_gene_groups", []))
        self.fusion_choice_ = str(config.get("fusion_choice", "joint"))  # older models: joint
        self.fusion_validation_c_index_ = {
            str(k): float(v) for k, v in config.get("fusion_validation_c_index", {}).items()
        }

    def _network_from_config(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> nn.Module:
        key = "module.tokenizer.gene_index"
        if key not in arrays:
            raise ValueError("the saved model has no gene-to-token mapping (tokenizer.gene_index)")
        self.gene_index_ = np.asarray(arrays[key], dtype=np.int64)
        return self._build_network()

    # -- public API ---------------------------------------------------------------------------
    def fit(
        self,
        X_rna: Any,
        bags: Any,
        y: Any,
        X_rna_unlabeled: Any = None,
        bags_unlabeled: Any = None,
    ) -> Any:
        """Fit the network.

        Parameters
        ----------
        X_rna : array-like or DataFrame of shape (n_patients, n_genes)
            Preprocessed RNA-seq (e.g. log-transformed and scaled); a row of NaN
            marks a patient without RNA-seq.
        bags : list, one entry per patient
            Patch-feature arrays, feature-file paths, lists of those, or None.
        y : structured array, DataFrame (event, time) or pair (event, time)
        X_rna_unlabeled, bags_unlabeled : optional
            Patients without outcome (Mean Teacher only; ignored by supervised
            models). Either may be None when the other is given: the absent
            modality is then missing for every unlabeled patient.

        Returns
        -------
        self
        """
        X_rna_unlabeled = unwrap_unlabeled(X_rna_unlabeled, self, name="X_rna_unlabeled")
        bags_unlabeled = unwrap_unlabeled(bags_unlabeled, self, name="bags_unlabeled")
        self._check_params()
        if int(self.model_dim) % int(self.n_heads):
            raise ValueError(
                f"model_dim ({self.model_dim}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.pooling not in ("mean", "attention"):
            raise ValueError(f"pooling must be 'mean' or 'attention', got {self.pooling!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not float(self.auxiliary_weight) >= 0:
            raise ValueError(f"auxiliary_weight must be >= 0, got {self.auxiliary_weight}")
        if self.fusion_selection not in FUSION_SELECTIONS:
            raise ValueError(
                f"fusion_selection must be one of {FUSION_SELECTIONS}, got {self.fusion_selection!r}"
            )
        if self.fusion_selection != "none" and not float(self.auxiliary_weight) > 0:
            raise ValueError(
                "fusion_selection='validation' chooses among the joint and the per-modality "
                "auxiliary heads, which need auxiliary_weight > 0 (e.g. 0.5)"
            )
        if not 0.0 <= float(self.modality_dropout) < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")
        if int(self.n_rna_tokens) < 1:
            raise ValueError(f"n_rna_tokens must be >= 1, got {self.n_rna_tokens}")
        for attr in ("n_patch_features_", "fusion_choice_"):  # the joint head while training
            self.__dict__.pop(attr, None)
        rna = self._prepare_rna(X_rna, "X_rna", fit=True)
        if bags is None:
            raise ValueError(
                "bags is required for fitting (use None entries for patients without slides)"
            )
        cohort = self._paired(rna, self._bag_store(bags, "bags"))
        store = cohort.bags
        if store.n_features is None:
            raise ValueError(
                "no patient in bags has a slide; the multimodal model needs patch features"
            )
        if np.isnan(rna).all():
            raise ValueError("every row of X_rna is NaN; the multimodal model needs RNA-seq")
        event, time = self._check_target(y, len(store), "X_rna / bags", X_rna, bags)
        self.n_patch_features_ = int(store.n_features)
        self._gene_mapping()
        unl = None
        if self._semi_supervised and (X_rna_unlabeled is not None or bags_unlabeled is not None):
            unl = self._cohort(X_rna_unlabeled, bags_unlabeled, "_unlabeled")
        try:
            self._fit(cohort, event, time, unl)
            if self.fusion_selection == "validation-refit" and not self.early_stopping:
                self._refit_choice = (self.fusion_choice_, self.fusion_validation_c_index_)
                self.__dict__.pop("fusion_choice_")
                self._fit(cohort, event, time, unl)
            return self
        finally:
            self.__dict__.pop("_refit_choice", None)
            self.__dict__.pop("_auxiliary_risks", None)

    def predict(self, X_rna: Any, bags: Any, return_attention: bool = False) -> Any:
        """Risk scores (higher = higher risk = shorter survival).

        ``X_rna=None`` or ``bags=None`` predicts with that modality missing for all
        patients. With ``return_attention=True`` returns ``(risk, attention)``
        (see :meth:`attention`).
        """
        return self._predict(self._cohort(X_rna, bags), return_attention)

    def attention(
        self, X_rna: Any, bags: Any, *, all_patches: bool = False
    ) -> list[dict[str, Any]]:
        """Per-patient attention maps, averaged over heads.

        Each dict holds ``patch_index``, ``slide_index`` and ``coords`` (as
        :meth:`WSICoxMT.attention <coxmt.estimators.wsi.WSICoxMT.attention>`),
        ``rna_to_wsi`` (n_tokens, n_patches): how each RNA token attends to the
        patches (rows of absent RNA tokens are 0), ``wsi_to_rna`` (n_patches,
        n_tokens), ``patch_scores`` (n_patches,): the RNA->WSI attention of each
        patch averaged over the RNA tokens (when the slides-only head predicts,
        ``fusion_choice_ == "wsi"``, the weights of that head's attention pooling
        instead), and ``rna_missing`` / ``wsi_missing``.
        Token names are in ``token_names_``. ``all_patches=True`` uses every
        patch instead of the ``max_tokens`` subset (for heatmaps).
        """
        return self._attention(self._cohort(X_rna, bags), all_patches)

    def score(self, X_rna: Any, bags: Any, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X_rna, bags, y)``."""
        return self._score(self._cohort(X_rna, bags), y, "X_rna / bags")

    def predict_cumulative_hazard(self, X_rna: Any, bags: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard (n_patients, n_times) from the Breslow baseline."""
        return self._cumulative_hazard(self._cohort(X_rna, bags), times)

    def predict_survival_function(self, X_rna: Any, bags: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities (n_patients, n_times), non-increasing in time.

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        return self._survival(self._cohort(X_rna, bags), times)


_MM_ATTRIBUTES_DOC = """
    Attributes
    ----------
    module_ : torch.nn.Module
        The predicting network (:class:`coxmt.nn.attention.CrossAttentionCox`).
    gene_index_ : ndarray of int, shape (n_tokens, max_group_size)
        RNA column indices of each token (-1 = padding).
    token_names_ : list of str
    n_features_in_, n_patch_features_ : int
        RNA columns and patch-feature dimension.
    n_missing_wsi_, n_missing_rna_, n_missing_both_ : int
        Patients (labeled + unlabeled) at fit time without slides / RNA-seq / both.
    fusion_choice_ : {"joint", "rna", "wsi"}
        The head that predicts: "joint" unless ``fusion_selection`` picked a
        single-modality head.
    fusion_validation_c_index_ : dict
        Held-out C-index of each candidate head (empty without ``fusion_selection``).
    baseline_ : BreslowBaseline
    history_ : pandas.DataFrame"""


@dataclass(repr=False, eq=False)
class MultimodalCoxMT(
    _RuntimeParams,
    _MeanTeacherParams,
    _BagTrainingParams,
    _MultimodalNetworkParams,
    _MultimodalEstimator,
):
    __doc__ = f"""Multimodal Cox-MT: RNA-seq + slides in cross-attention, trained with Mean Teacher.

    The student sees Gaussian noise (``noise_std``) on the RNA input and on the
    standardised patch features, dropout, and a random subset of at most
    ``max_tokens`` patches; the EMA teacher sees independent noise and an
    independent subset. Loss ``L_s + w(t) L_u`` as in :class:`coxmt.CoxMT`.
    The supervised counterpart is :class:`MultimodalCoxNnet`.

    Parameters
    ----------{_MULTIMODAL_NETWORK_DOC}{_BAG_TRAINING_DOC}{_MEAN_TEACHER_DOC}{_RUNTIME_DOC}
{_MM_ATTRIBUTES_DOC}

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.multimodal import MultimodalCoxMT
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 12))
    >>> X[0] = np.nan  # patient 0 has no RNA-seq
    >>> bags = [rng.normal(size=(8, 6)) for _ in range(39)] + [None]  # patient 39: no slide
    >>> y = (rng.random(40) < 0.7, rng.exponential(1.0, 40))
    >>> model = MultimodalCoxMT(n_rna_tokens=4, model_dim=8, n_heads=2, hidden_dim=4,
    ...                         max_epochs=2, batch_size=16, random_state=0).fit(X, bags, y)
    >>> model.n_missing_rna_, model.n_missing_wsi_, bool(np.isfinite(model.predict(X, bags)).all())
    (1, 1, True)
    """


@dataclass(repr=False, eq=False)
class MultimodalCoxNnet(
    _RuntimeParams, _BagTrainingParams, _MultimodalNetworkParams, _MultimodalEstimator
):
    __doc__ = f"""Supervised multimodal Cox network (the counterpart of :class:`MultimodalCoxMT`).

    Same network, token sampling and training loop, trained on the Cox partial
    likelihood alone (no teacher, no consistency loss, no input noise; dropout
    and random token subsets only). Unlabeled patients are ignored.

    Parameters
    ----------{_MULTIMODAL_NETWORK_DOC}{_BAG_TRAINING_DOC}{_RUNTIME_DOC}
{_MM_ATTRIBUTES_DOC}

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.multimodal import MultimodalCoxNnet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 12))
    >>> bags = [rng.normal(size=(8, 6)) for _ in range(30)]
    >>> y = (rng.random(30) < 0.7, rng.exponential(1.0, 30))
    >>> model = MultimodalCoxNnet(n_rna_tokens=4, model_dim=8, n_heads=2, max_epochs=2,
    ...                           random_state=0).fit(X, bags, y)
    >>> model.gene_index_.shape
    (4, 3)
    """
