"""Hyperparameters of the slide and multimodal estimators, declared once per group.

Each group is a dataclass whose generated ``__init__`` only stores the values,
as scikit-learn requires (``repr=False, eq=False`` keep scikit-learn's repr and
identity equality); an estimator, itself such a dataclass, combines the groups
it takes. Dataclass fields follow the reverse of the method resolution order, so
an estimator lists its groups last-first: ``class E(_RuntimeParams, _MeanTeacherParams,
_BagTrainingParams, _NetworkParams, Base)`` takes the network parameters first
and ``random_state, device, verbose`` last. Each group's numpydoc fragment sits
beside it, for the estimators' docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__: list[str] = []


@dataclass(repr=False, eq=False)
class _WSINetworkParams:
    model_dim: int = 256
    attention_dim: int = 128
    hidden_dim: int = 64
    dropout: float = 0.25


_WSI_NETWORK_DOC = """
    model_dim : int, default 256
        Width of the patch embedding (linear projection of the patch features + ReLU).
    attention_dim : int, default 128
        Width of the gated attention network.
    hidden_dim : int, default 64
        Hidden layer of the Cox head (0 = linear head).
    dropout : float, default 0.25"""


@dataclass(repr=False, eq=False)
class _MultimodalNetworkParams:
    n_rna_tokens: int = 32
    gene_groups: Any = None
    model_dim: int = 256
    n_heads: int = 4
    hidden_dim: int = 64
    dropout: float = 0.25
    pooling: str = "attention"
    fusion: str = "concat"
    modality_dropout: float = 0.0
    auxiliary_weight: float = 0.0
    fusion_selection: str = "none"


# what a saved multimodal model without these parameters was trained and built with
_MULTIMODAL_LEGACY_PARAMS: dict[str, Any] = {
    "fusion": "concat",
    "modality_dropout": 0.0,
    "auxiliary_weight": 0.0,
    "fusion_selection": "none",
}


_MULTIMODAL_NETWORK_DOC = """
    n_rna_tokens : int, default 32
        RNA tokens with the default mapping (equal contiguous chunks of the columns);
        ignored when ``gene_groups`` is given (one token per group).
    gene_groups : str, path, DataFrame, dict or None, default None
        Gene signatures (columns ``group``, ``gene``) defining the RNA tokens; see
        the module documentation. Needs ``X_rna`` as a DataFrame.
    model_dim : int, default 256
        Token dimension of both modalities.
    n_heads : int, default 4
        Heads of each multi-head attention unit (``model_dim`` must be divisible by it).
    hidden_dim : int, default 64
        Hidden layer of the Cox head (0 = linear head).
    dropout : float, default 0.25
        In the embeddings, the attention units and the head.
    pooling : {"attention", "mean"}, default "attention"
        Pooling of each modality's tokens: gated attention (Ilse et al., 2018) or the
        mean over valid tokens. Attention suits slides whose prognostic signal sits
        in a minority of patches.
    fusion : {"concat", "late"}, default "concat"
        "concat": one Cox head on the concatenated pooled modalities; "late": plus a
        Cox head per modality, the risks summed, so that the stronger modality's
        signal reaches the risk directly. Models saved before this parameter existed
        load as "concat".
    modality_dropout : float, default 0.0
        Training-time probability that one of a patient's two modalities (at random)
        is hidden behind its learned "missing" token, so that each modality learns
        to predict alone; 0 disables it (and is what older saved models used).
    auxiliary_weight : float, default 0.0
        Weight of the auxiliary per-modality Cox losses: each modality's pooled
        embedding gets its own Cox head (used in training only), and the mean of
        their partial likelihoods on the labeled patients, times this weight, is
        added to the training loss, so that neither modality's encoder is left
        untrained when the other fits the outcome first; 0 disables them.
    fusion_selection : {"none", "validation", "validation-refit"}, default "none"
        "none": predict with the joint head. "validation": the auxiliary heads (needs
        ``auxiliary_weight > 0``) read each modality's own tokens only, and after
        training the predictor is picked among the joint, the RNA-only and the
        slides-only head by Harrell's C on held-out labeled training patients
        (the early-stopping split with ``early_stopping``, else a stratified
        ``validation_fraction`` of the labeled patients, then not trained on); the
        choice is ``fusion_choice_``, saved with the model. "validation-refit": the
        same choice, then the network is trained again on all labeled patients
        (without ``early_stopping``; twice the fitting time) and predicts with the
        chosen head. Models saved before this parameter existed load as "none"."""


@dataclass(repr=False, eq=False)
class _BagTrainingParams:
    max_tokens: int | None = 128
    standardize_features: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 50
    batch_size: int | None = 64
    early_stopping: bool = False
    validation_fraction: float = 0.2
    n_iter_no_change: int = 10
    ties: str = "efron"


_BAG_TRAINING_DOC = """
    max_tokens : int or None, default 128
        Patches per patient: a random subset redrawn at every training step, the
        ``max_tokens`` evenly spaced patches at evaluation (None = all patches).
    standardize_features : bool, default True
        Standardise patch features with the training patches' mean and standard
        deviation (saved with the model). RNA-seq (multimodal models) is used as
        given: scale it first.
    learning_rate : float, default 1e-3
    weight_decay : float, default 1e-4
    max_epochs : int, default 50
    batch_size : int or None, default 64
        Patients per step in event-balanced mini-batches; the Cox loss is over the
        batch's risk set. None = all patients in every step.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the labeled patients and keep the
        weights with the best validation C-index.
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 10
    ties : {"efron", "breslow"}, default "efron\""""


@dataclass(repr=False, eq=False)
class _MeanTeacherParams:
    noise_std: float = 0.1
    ema_decay: float = 0.99
    consistency_weight: float = 1.0
    rampup_epochs: int = 10
    consistency_on: str = "censored+unlabeled"
    predict_with: str = "teacher"

    _semi_supervised = True  # the bag estimators train on unlabeled patients too

    def _mean_teacher_settings(self) -> dict[str, Any]:
        """Keywords of ``MeanTeacherObjective`` and ``check_mean_teacher_params``."""
        return {f.name: getattr(self, f.name) for f in fields(_MeanTeacherParams)}


_MEAN_TEACHER_DOC = """
    noise_std : float, default 0.1
    ema_decay : float, default 0.99
    consistency_weight : float, default 1.0
    rampup_epochs : int, default 10
    consistency_on : {"censored+unlabeled", "unlabeled", "all"}, default "censored+unlabeled"
    predict_with : {"teacher", "student"}, default "teacher\""""


@dataclass(repr=False, eq=False)
class _RuntimeParams:
    random_state: int | None = None
    device: str = "auto"
    verbose: bool = False


_RUNTIME_DOC = """
    random_state : int or None, default None
        Seeds weights, token subsets, noise and batches (reproducible on CPU).
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    verbose : bool, default False
        Progress bar and summary lines (patients without slides or RNA-seq)."""
