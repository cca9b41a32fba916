"""Whole-slide-image Cox models: attention-MIL Cox-MT and its supervised counterpart.

Both estimators take ``bags``, a list with one entry per patient (see
:mod:`coxmt.nn.bags`): an ``(n_patches, n_features)`` array of patch features,
a CLAM/TRIDENT feature-file path, a list of those (several slides), or None when
the patient has no slide. The network (:class:`coxmt.nn.attention.AttentionMILCox`)
embeds at most ``max_tokens`` patches per patient, pools them with gated
attention (Ilse et al., 2018) and ends in a bias-free Cox output. Fitting,
prediction and saving are shared with the multimodal models
(:mod:`coxmt.estimators._bag_base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from coxmt._validation import unwrap_unlabeled
from coxmt.estimators._bag_base import _BagCoxEstimator, _Cohort
from coxmt.estimators._bag_params import (
    _BAG_TRAINING_DOC,
    _MEAN_TEACHER_DOC,
    _RUNTIME_DOC,
    _WSI_NETWORK_DOC,
    _BagTrainingParams,
    _MeanTeacherParams,
    _RuntimeParams,
    _WSINetworkParams,
)
from coxmt.nn.attention import AttentionMILCox

__all__ = ["WSICoxMT", "WSICoxNnet"]


class _WSIEstimator(_BagCoxEstimator):
    """Slides only: fit/predict signatures and the attention-MIL network."""

    def _build_network(self) -> nn.Module:
        return AttentionMILCox(
            int(self.n_patch_features_),
            model_dim=int(self.model_dim),
            attention_dim=int(self.attention_dim),
            hidden_dim=int(self.hidden_dim),
            dropout=float(self.dropout),
        )

    def _network_from_config(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> nn.Module:
        return self._build_network()

    def _forward(
        self, net: nn.Module, inputs: dict[str, Any], noise_std: float, return_attention: bool
    ) -> Any:
        return net(
            inputs["tokens"], inputs["mask"], noise_std=noise_std, return_attention=return_attention
        )

    def _cohort(self, bags: Any, name: str = "bags") -> _Cohort:
        return _Cohort(self._bag_store(bags, name))

    def fit(self, bags: Any, y: Any, bags_unlabeled: Any = None) -> Any:
        """Fit the network.

        Parameters
        ----------
        bags : list or pandas Series, one entry per patient
            Patch-feature arrays ``(n_patches, n_features)``, feature-file paths,
            lists of those (several slides), or None (no slide). A Series' index
            holds the patient IDs.
        y : structured array, DataFrame (event, time) or pair (event, time)
            Outcomes; event 1/True = death observed, 0/False = censored. When
            ``bags`` is a Series indexed by patient ID, a ``y`` DataFrame indexed by
            the same IDs is aligned to it by index (different IDs are refused).
        bags_unlabeled : list, optional
            Bags of patients without outcome (used by the Mean Teacher
            consistency loss; ignored by supervised models).

        Returns
        -------
        self
        """
        bags_unlabeled = unwrap_unlabeled(bags_unlabeled, self, name="bags_unlabeled")
        self._check_params()
        if hasattr(self, "n_patch_features_"):
            delattr(self, "n_patch_features_")
        store = self._bag_store(bags, "bags")
        event, time = self._check_target(y, len(store), "bags", bags)
        if store.n_features is None:
            raise ValueError("no patient in bags has a slide; a slide model needs patch features")
        self.n_patch_features_ = int(store.n_features)
        unl = None
        if bags_unlabeled is not None and self._semi_supervised:
            unl = self._cohort(bags_unlabeled, "bags_unlabeled")
        return self._fit(_Cohort(store), event, time, unl)

    def predict(self, bags: Any, return_attention: bool = False) -> Any:
        """Risk scores (higher = higher risk = shorter survival).

        With ``return_attention=True`` returns ``(risk, attention)``, where
        ``attention`` holds one dict per patient (see :meth:`attention`).
        """
        return self._predict(self._cohort(bags), return_attention)

    def attention(self, bags: Any, *, all_patches: bool = False) -> list[dict[str, Any]]:
        """Per-patient attention over patches.

        Each dict holds ``patch_index`` (positions in the patient's concatenated
        bag), ``slide_index`` (which of the patient's slides), ``coords`` (level-0
        coordinates when the bag came from feature files, else None) and
        ``patch_scores`` (gated-attention weights, summing to 1 over the patches).
        By default the patches are the deterministic ``max_tokens`` subset used by
        :meth:`predict`; ``all_patches=True`` scores every patch (for heatmaps).
        """
        return self._attention(self._cohort(bags), all_patches)

    def score(self, bags: Any, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(bags, y)``."""
        return self._score(self._cohort(bags), y, "bags")

    def predict_cumulative_hazard(self, bags: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard (n_patients, n_times) from the Breslow baseline.

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        return self._cumulative_hazard(self._cohort(bags), times)

    def predict_survival_function(self, bags: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities (n_patients, n_times), non-increasing in time."""
        return self._survival(self._cohort(bags), times)


_WSI_ATTRIBUTES_DOC = """
    Attributes
    ----------
    module_ : torch.nn.Module
        The predicting network (:class:`coxmt.nn.attention.AttentionMILCox`).
    n_patch_features_ : int
    n_missing_wsi_ : int
        Patients (labeled + unlabeled) without any patch at fit time.
    baseline_ : BreslowBaseline
    history_ : pandas.DataFrame
        Per-epoch losses."""


@dataclass(repr=False, eq=False)
class WSICoxMT(
    _RuntimeParams, _MeanTeacherParams, _BagTrainingParams, _WSINetworkParams, _WSIEstimator
):
    __doc__ = f"""Slide-level Cox-MT: attention-MIL Cox network trained with Mean Teacher.

    A student network sees each patient's patches with Gaussian feature noise
    (``noise_std``, after standardisation), dropout and a random subset of at most
    ``max_tokens`` patches; the teacher (the exponential moving average of the
    student, ``alpha_t = min(1 - 1/(step + 1), ema_decay)``) sees an independent
    subset and noise. The loss is ``L_s + w(t) L_u``: the Cox partial likelihood
    of the labeled patients of the batch plus the mean squared student-teacher
    risk difference on the consistency set (``consistency_on``), ``w(t)``
    ramping up to ``consistency_weight`` as ``exp(-5 (1 - t)^2)``. Patients
    without a slide get a learned "missing" token (counted in ``n_missing_wsi_``).
    The supervised counterpart (Cox-nnet style) is :class:`WSICoxNnet`.

    Parameters
    ----------{_WSI_NETWORK_DOC}{_BAG_TRAINING_DOC}{_MEAN_TEACHER_DOC}{_RUNTIME_DOC}
{_WSI_ATTRIBUTES_DOC}

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.wsi import WSICoxMT
    >>> rng = np.random.default_rng(0)
    >>> bags = [rng.normal(size=(int(rng.integers(5, 20)), 8)) for _ in range(40)]
    >>> y = (rng.random(40) < 0.7, rng.exponential(1.0, 40))
    >>> model = WSICoxMT(model_dim=8, attention_dim=4, hidden_dim=4, max_epochs=2,
    ...                  batch_size=16, random_state=0).fit(bags, y)
    >>> model.predict(bags[:3]).shape
    (3,)
    """


@dataclass(repr=False, eq=False)
class WSICoxNnet(_RuntimeParams, _BagTrainingParams, _WSINetworkParams, _WSIEstimator):
    __doc__ = f"""Supervised attention-MIL Cox network (the slide-level Cox-nnet counterpart).

    Same network, token sampling and training loop as :class:`WSICoxMT`, trained
    on the Cox partial likelihood alone (no teacher, no consistency loss, no
    input noise; dropout and random token subsets only). Unlabeled bags are ignored.

    Parameters
    ----------{_WSI_NETWORK_DOC}{_BAG_TRAINING_DOC}{_RUNTIME_DOC}
{_WSI_ATTRIBUTES_DOC}

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.wsi import WSICoxNnet
    >>> rng = np.random.default_rng(0)
    >>> bags = [rng.normal(size=(10, 8)) for _ in range(30)] + [None]
    >>> y = (rng.random(31) < 0.7, rng.exponential(1.0, 31))
    >>> model = WSICoxNnet(model_dim=8, attention_dim=4, max_epochs=2, random_state=0).fit(bags, y)
    >>> model.n_missing_wsi_
    1
    """
