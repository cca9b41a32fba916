"""Behaviour shared by coxmt's estimators: feature handling, scoring, survival functions, files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from coxmt._validation import check_features, check_survival_target
from coxmt.io import RegisteredModel, load_model, save_model
from coxmt.metrics import concordance_index

__all__ = ["SavedModelMixin", "TabularSurvivalMixin", "align_features"]


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
            shown = ", ".join(missing[:20])
            more = f" ... ({len(missing)} in all)" if len(missing) > 20 else ""
            raise ValueError(
                f"{name} is missing {len(missing)} feature(s) the model was fitted on: "
                f"{shown}{more}. Provide these columns (or fill them explicitly, e.g. "
                "`coxmt predict --fill-missing 0`)"
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
