"""Behaviour shared by coxmt's estimators: feature handling, scoring, survival functions, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted

from coxmt._validation import (
    check_aligned_ids,
    check_features,
    check_survival_target,
    unwrap_unlabeled,
)
from coxmt.baseline import BreslowBaseline
from coxmt.data._tables import missing_features_error
from coxmt.io import (
    RegisteredModel,
    jsonable,
    load_model,
    module_arrays,
    prefixed,
    save_model,
)
from coxmt.metrics import concordance_index

__all__ = [
    "LabeledFitMixin",
    "SavedModelMixin",
    "TabularSurvivalMixin",
    "align_features",
    "estimator_from_params",
    "network_state",
    "restore_network_state",
]


def align_features(
    X: Any, feature_names: Any, *, name: str = "X", fill_missing: float | None = None
) -> Any:
    """Reorder DataFrame columns to ``feature_names`` (by name).

    Missing columns raise a ValueError listing them (or are filled with
    ``fill_missing`` when given); extra columns are ignored.
    """
    if feature_names is None or not isinstance(X, pd.DataFrame):
        return X
    names = [str(n) for n in feature_names]
    cols = [str(c) for c in X.columns]
    present = set(cols)
    missing = [c for c in names if c not in present]
    if missing:
        if fill_missing is None:
            raise missing_features_error(
                name,
                missing,
                "Provide these columns (or fill them explicitly, e.g. "
                "`coxmt predict --fill-missing 0`)",
            )
        X = X.copy()
        for c in missing:
            X[c] = fill_missing
    X = X.copy()
    X.columns = [str(c) for c in X.columns]
    return X.loc[:, names]


class TabularSurvivalMixin:
    """Feature checking and alignment by name, Harrell's C, Breslow survival functions.

    Needs ``predict(X)`` and, for the survival functions, a fitted ``baseline_``
    (:class:`~coxmt.baseline.BreslowBaseline`).
    """

    n_features_in_: int

    def predict(self, X: Any) -> np.ndarray:  # pragma: no cover - provided by the estimator
        raise NotImplementedError

    def _prepare_X(self, X: Any, *, name: str = "X", fit: bool = False) -> np.ndarray:
        if fit:
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            arr = check_features(X, name=name)
            self.n_features_in_ = arr.shape[1]
            return arr
        names = getattr(self, "feature_names_in_", None)
        X = align_features(X, names, name=name)
        return check_features(X, name=name, n_features=self.n_features_in_)

    def _feature_config(self) -> dict[str, Any]:
        """``n_features_in`` and ``feature_names_in`` as a saved model stores them."""
        names = getattr(self, "feature_names_in_", None)
        return {
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
        }

    def _restore_features(self, config: dict[str, Any]) -> None:
        """Set ``n_features_in_`` (and ``feature_names_in_``) from :meth:`_feature_config`."""
        self.n_features_in_ = int(config["n_features_in"])
        if config.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)

    def score(self, X: Any, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X, y)``."""
        event, time = check_survival_target(y, require_events=False)
        return float(concordance_index(event, time, self.predict(X)))

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard from the Breslow baseline, shape (n_samples, n_times).

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.cumulative_hazard(self.predict(X), times)  # type: ignore[attr-defined]

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times), non-increasing in time.

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.survival(self.predict(X), times)  # type: ignore[attr-defined]


class LabeledFitMixin(TabularSurvivalMixin):
    """``fit`` of the supervised models that ignore unlabeled patients.

    Validates the inputs (``y`` aligned to ``X`` by patient ID, features, survival
    target) and hands the arrays to the model's ``_fit(X, event, time)``.
    """

    def _check_params(self) -> None:
        """Check the hyperparameters before any data (none by default)."""

    def _fit(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        raise NotImplementedError  # pragma: no cover - provided by the estimator

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> Any:
        """Fit on labeled patients (``X_unlabeled`` is accepted for API symmetry and ignored).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : structured array, DataFrame (event, time) or pair (event, time)
            A DataFrame whose index holds ``X``'s index values is aligned to ``X``.
        X_unlabeled : ignored

        Returns
        -------
        self
        """
        unwrap_unlabeled(X_unlabeled, self)  # ignored, but refused where sklearn may cut it
        self._check_params()
        y = check_aligned_ids(X, y)
        Xa = self._prepare_X(X, fit=True)
        event, time = check_survival_target(y, n_samples=Xa.shape[0], min_samples=2)
        self._fit(Xa, event, time)
        return self


class SavedModelMixin(RegisteredModel):
    """``save`` / ``load`` through :mod:`coxmt.io` (safetensors + JSON; never pickle).

    Subclasses register themselves with :func:`coxmt.io.register_model_class`.
    """

    def save(self, path: str | Path) -> Path:
        """Save the fitted model to a directory (safetensors + JSON; no pickle)."""
        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Load a model saved with :meth:`save`; refuses other model classes."""
        obj = load_model(path)
        if not isinstance(obj, cls):
            raise ValueError(
                f"{path} holds a {type(obj).__name__}, not a {cls.__name__}; "
                "load it with coxmt.load_model"
            )
        return obj


def estimator_from_params(cls: type, params: dict[str, Any]) -> Any:
    """``cls(**params)`` for a saved model, or a ValueError saying the file does not fit ``cls``.

    ``hidden_layer_sizes``, saved as a JSON list, comes back as a tuple.
    """
    params = dict(params)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"model configuration does not fit {cls.__name__}: {exc}") from None


def network_state(
    est: Any, module: torch.nn.Module
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What every network estimator saves: weights, Breslow baseline, parameters, training log.

    Arrays: the ``module``'s state and ``baseline.*``; configuration: ``params``,
    ``n_epochs``, ``history`` and ``backend`` (the fitted ``backend_``, when set).
    :func:`restore_network_state` reads them back.
    """
    arrays = module_arrays(module)
    arrays.update({f"baseline.{k}": v for k, v in est.baseline_.to_state().items()})
    config = {
        "params": {k: jsonable(v) for k, v in est.get_params(deep=False).items()},
        "n_epochs": int(est.n_epochs_),
        "history": json.loads(est.history_.to_json(orient="records")),
    }
    if getattr(est, "backend_", None) is not None:
        config["backend"] = str(est.backend_)
    return arrays, config


def restore_network_state(est: Any, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> None:
    """Set the fitted attributes :func:`network_state` saved (all but the network itself)."""
    est.baseline_ = BreslowBaseline.from_state(prefixed(arrays, "baseline"))
    est.unique_times_ = est.baseline_.unique_times_
    est.n_epochs_ = int(config.get("n_epochs", 0))
    est.best_epoch_ = None
    est.history_ = pd.DataFrame(config.get("history", []))
