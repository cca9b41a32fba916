"""Shared machinery of coxmt's scikit-learn compatible Cox network estimators."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from coxmt._validation import check_features, check_survival_target
from coxmt.baseline import BreslowBaseline
from coxmt.nn.mlp import CoxMLP
from coxmt.training.callbacks import Callback, EarlyStopping, ProgressBar
from coxmt.training.loop import Trainer, TrainingData
from coxmt.training.objectives import Objective

__all__ = ["BaseCoxNetwork", "align_features", "resolve_device"]

PREDICT_CHUNK_ROWS = 65_536


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA device is available; use 'cpu'")
    return dev


def align_features(
    X: Any, feature_names: Sequence[str] | None, *, name: str = "X", fill_missing: float | None = None
) -> Any:
    """Reorder DataFrame columns to ``feature_names`` (by name).

    Missing columns raise a ValueError listing them (or are filled with
    ``fill_missing`` when given); extra columns are ignored.
    """
    if feature_names is None or not isinstance(X, pd.DataFrame):
        return X
    names = list(feature_names)
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


class BaseCoxNetwork(BaseEstimator):  # type: ignore[misc]
    """Base class: validation, the training loop, prediction, survival functions.

    Subclasses implement :meth:`_build_objective` (what is optimised) and
    :meth:`_default_hidden` (the default architecture).
    """

    _save_name = "BaseCoxNetwork"

    # -- subclass hooks -------------------------------------------------------------
    def _default_hidden(self, n_features: int) -> tuple[int, ...]:
        raise NotImplementedError

    def _build_objective(self, module: CoxMLP) -> Objective:
        raise NotImplementedError

    def _predictor(self, objective: Objective) -> torch.nn.Module:
        return next(iter(objective.eval_modules().values()))

    # -- helpers ----------------------------------------------------------------------
    def _hidden_sizes(self, n_features: int) -> tuple[int, ...]:
        if self.hidden_layer_sizes is None:
            return self._default_hidden(n_features)
        if isinstance(self.hidden_layer_sizes, int):
            return (int(self.hidden_layer_sizes),)
        return tuple(int(h) for h in self.hidden_layer_sizes)

    def _check_params(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if int(self.max_epochs) < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.batch_size is not None and int(self.batch_size) < 2:
            raise ValueError(f"batch_size must be None (full batch) or >= 2, got {self.batch_size}")
        if self.ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', got {self.ties!r}")
        if self.early_stopping and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )

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
        X = align_features(X, None if names is None else list(names), name=name)
        return check_features(X, name=name, n_features=self.n_features_in_)

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.default_rng().integers(2**31 - 1))
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(2**31 - 1))
        return int(self.random_state)

    # -- public API -------------------------------------------------------------------
    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> BaseCoxNetwork:
        """Fit the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features of the labeled patients (e.g. preprocessed gene expression).
        y : structured array, DataFrame (event, time) or pair (event, time)
            Outcomes; event 1/True = death observed, 0/False = censored.
        X_unlabeled : array-like or DataFrame of shape (n_unlabeled, n_features), optional
            Patients without outcome. Used by semi-supervised models; ignored by
            supervised ones (with the same columns as ``X``).

        Returns
        -------
        self
        """
        self._check_params()
        Xa = self._prepare_X(X, fit=True)
        event, time = check_survival_target(y, n_samples=Xa.shape[0], min_samples=2)
        Xu = None
        if X_unlabeled is not None:
            Xu = self._prepare_X(X_unlabeled, name="X_unlabeled")
        self.device_ = resolve_device(self.device)
        seed = self._seed()
        dtype = torch.float32
        dev = self.device_

        tr_idx = np.arange(len(time))
        val_idx = np.array([], dtype=np.int64)
        if self.early_stopping:
            if event.sum() < 4:
                raise ValueError(
                    f"early_stopping needs at least 4 events to hold some out for validation, "
                    f"got {int(event.sum())}; set early_stopping=False"
                )
            tr_idx, val_idx = train_test_split(
                tr_idx, test_size=self.validation_fraction, stratify=event, random_state=seed
            )
            tr_idx, val_idx = np.sort(tr_idx), np.sort(val_idx)

        def to_t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

        data = TrainingData(
            x=to_t(Xa[tr_idx]),
            event=torch.as_tensor(event[tr_idx], device=dev),
            time=torch.as_tensor(time[tr_idx], dtype=torch.float64, device=dev),
            x_unlabeled=None if Xu is None else to_t(Xu),
        )
        if len(val_idx):
            data.x_val = to_t(Xa[val_idx])
            data.event_val = event[val_idx]
            data.time_val = time[val_idx]

        devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            module = CoxMLP(
                Xa.shape[1], self._hidden_sizes(Xa.shape[1]), self.activation, self.dropout
            ).to(dev)
            objective = self._build_objective(module)
            optimizer = torch.optim.Adam(
                objective.trainable().parameters(),
                lr=self.learning_rate,
                weight_decay=self.weight_decay,
            )
            callbacks: list[Callback] = []
            if self.early_stopping:
                callbacks.append(EarlyStopping("val_c_index", patience=self.n_iter_no_change))
            if self.verbose:
                callbacks.append(ProgressBar(desc=type(self).__name__))
            trainer = Trainer(
                objective,
                optimizer,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                callbacks=callbacks,
                rng=np.random.default_rng(seed),
            )
            trainer.fit(data)
        predictor = self._predictor(objective)
        predictor.eval()
        self.module_ = predictor
        self.history_ = pd.DataFrame(trainer.history)
        self.n_epochs_ = len(trainer.history)
        self.best_epoch_ = trainer.best_epoch
        self.baseline_ = BreslowBaseline().fit(self._risk(Xa), event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    @torch.no_grad()
    def _risk(self, Xa: np.ndarray) -> np.ndarray:
        module = self.module_
        module.eval()
        dev = next(module.parameters()).device
        out = []
        for start in range(0, Xa.shape[0], PREDICT_CHUNK_ROWS):
            chunk = torch.as_tensor(
                np.ascontiguousarray(Xa[start : start + PREDICT_CHUNK_ROWS]),
                dtype=torch.float32,
                device=dev,
            )
            out.append(module(chunk).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores (log-hazard ratios); higher = higher risk = shorter survival.

        DataFrame columns are aligned to the training features by name.
        """
        check_is_fitted(self, "module_")
        return self._risk(self._prepare_X(X))

    def score(self, X: Any, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X, y)``."""
        from coxmt.metrics import concordance_index

        event, time = check_survival_target(y, require_events=False)
        return float(concordance_index(event, time, self.predict(X)))

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard from the Breslow baseline, shape (n_samples, n_times).

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.cumulative_hazard(self.predict(X), times)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times), non-increasing in time.

        ``times=None`` evaluates at the training event times ``unique_times_``.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.survival(self.predict(X), times)

    def save(self, path: str | Path) -> Path:
        """Save the fitted model to a directory (safetensors + JSON; no pickle)."""
        from coxmt.io import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Load a model saved with :meth:`save`; refuses other model classes."""
        from coxmt.io import load_model

        obj = load_model(path)
        if not isinstance(obj, cls):
            raise ValueError(
                f"{path} holds a {type(obj).__name__}, not a {cls.__name__}; "
                f"load it with coxmt.load_model or {type(obj).__name__}.load"
            )
        return obj

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from coxmt.io import export_network_state

        check_is_fitted(self, "module_")
        return export_network_state(self)

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        from coxmt.io import import_network_state

        return import_network_state(cls, arrays, config)

    def _default_width(self, n_features: int) -> int:
        return max(1, math.ceil(math.sqrt(n_features)))
