"""Classic survival baselines behind coxmt's estimator interface.

Thin scikit-learn compatible wrappers so that the usual rivals of Cox-MT can be
cross-validated, tuned and evaluated exactly like :class:`~coxmt.CoxNnet`:

- :class:`RandomSurvivalForest`: scikit-survival's random survival forest.
- :class:`CoxnetSksurv`: scikit-survival's elastic-net Cox model (glmnet algorithm).
- :class:`DeepSurv`: pycox's ``CoxPH`` with its default MLP (ReLU, batch norm, dropout).

They need optional packages, imported when a model is fitted::

    pip install coxmt[baselines]

All follow the coxmt conventions: ``fit(X, y, X_unlabeled=None)`` (``X_unlabeled``
is ignored), ``predict`` returns a risk score (higher = higher risk), ``score`` is
Harrell's C, ``predict_survival_function(X, times=None)`` returns an array of
shape (n_samples, n_times) (``times=None``: the training event times
``unique_times_``), and DataFrame columns are aligned by name. All three save with
:func:`coxmt.io.save_model` without pickle: the forest's trees, the Coxnet
coefficients and the DeepSurv weights as arrays, their settings as JSON (loading
a DeepSurv or a forest needs the same optional packages).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from coxmt._forest_state import forest_from_state, forest_to_state
from coxmt._optional import require
from coxmt._random import draw_seed as _seed
from coxmt._validation import (
    check_layer_sizes,
    make_target,
)
from coxmt.baseline import BreslowBaseline
from coxmt.estimators._base import resolve_device
from coxmt.estimators._mixins import (
    LabeledFitMixin,
    estimator_from_params,
    network_state,
    restore_network_state,
)
from coxmt.io import jsonable, load_module_state, prefixed, register_model_class, saved_device
from coxmt.training.seeding import init_stream, training_stream

__all__ = ["CoxnetSksurv", "DeepSurv", "RandomSurvivalForest"]


def _require(module: str, package: str, model: str) -> Any:
    """Import an optional dependency or say how to install it."""
    return require(module, purpose=model, extra="baselines", package=package)


def _step_lookup(
    grid: np.ndarray, values: np.ndarray, times: np.ndarray, before: float
) -> np.ndarray:
    """Right-continuous step functions ``values`` (n, len(grid)) evaluated at ``times``."""
    idx = np.searchsorted(grid, times, side="right") - 1
    out = values[:, np.clip(idx, 0, None)]
    out[:, idx < 0] = before
    return out


def _check_times(times: Any) -> np.ndarray:
    tt = np.asarray(times, dtype=np.float64).reshape(-1)
    if not np.isfinite(tt).all():
        raise ValueError("times must be finite")
    return tt


class _WrappedSurvivalEstimator(LabeledFitMixin, BaseEstimator):
    """Common fit/predict plumbing; subclasses implement ``_fit`` and ``_risk``."""

    def _fit(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        raise NotImplementedError

    def _risk(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores, higher = higher risk = shorter survival."""
        check_is_fitted(self, "n_features_in_")
        return self._risk(self._prepare_X(X))


class _CoxTypeEstimator(_WrappedSurvivalEstimator):
    """Survival functions of Cox-type models from the Breslow baseline hazard."""

    baseline_: BreslowBaseline


@register_model_class
class RandomSurvivalForest(_WrappedSurvivalEstimator):
    """Random survival forest (scikit-survival's ``RandomSurvivalForest``).

    Risk = the forest's ``predict`` (the sum of the ensemble cumulative hazard over
    the training times: higher = higher risk). Survival and cumulative hazard come
    from the forest's own step functions (no proportional-hazards assumption).

    Parameters
    ----------
    n_estimators : int, default 100
    max_depth : int or None, default None
    min_samples_split : int, default 6
    min_samples_leaf : int, default 3
    max_features : int, float, str or None, default "sqrt"
    bootstrap : bool, default True
    max_samples : int, float or None, default None
    n_jobs : int or None, default None
    random_state : int or None, default None

    Attributes
    ----------
    estimator_ : sksurv.ensemble.RandomSurvivalForest
    unique_times_ : ndarray
        Training event times.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.baselines import RandomSurvivalForest
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4))
    >>> y = (rng.random(80) < 0.7, rng.exponential(np.exp(-X[:, 0])))
    >>> rsf = RandomSurvivalForest(n_estimators=20, random_state=0).fit(X, y)
    >>> rsf.predict_survival_function(X[:3], times=[0.5, 1.0]).shape
    (3, 2)
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_split: int = 6,
        min_samples_leaf: int = 3,
        max_features: Any = "sqrt",
        bootstrap: bool = True,
        max_samples: Any = None,
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.max_samples = max_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        ensemble = _require("sksurv.ensemble", "scikit-survival", "RandomSurvivalForest")
        forest = ensemble.RandomSurvivalForest(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            bootstrap=self.bootstrap,
            max_samples=self.max_samples,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            low_memory=False,
        )
        forest.fit(X, make_target(event, time))
        self.estimator_ = forest
        self.unique_times_ = np.asarray(
            forest.unique_times_[forest.is_event_time_], dtype=np.float64
        )

    def _risk(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def _curves(self, X: Any, times: Any, kind: str) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        Xa = self._prepare_X(X)
        grid = np.asarray(self.estimator_.unique_times_, dtype=np.float64)
        tt = self.unique_times_ if times is None else _check_times(times)
        if kind == "survival":
            values = self.estimator_.predict_survival_function(Xa, return_array=True)
            return np.clip(
                _step_lookup(grid, np.asarray(values, dtype=np.float64), tt, 1.0), 0.0, 1.0
            )
        values = self.estimator_.predict_cumulative_hazard_function(Xa, return_array=True)
        return _step_lookup(grid, np.asarray(values, dtype=np.float64), tt, 0.0)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times), non-increasing in time."""
        return self._curves(X, times, "survival")

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Ensemble cumulative hazard, shape (n_samples, n_times)."""
        return self._curves(X, times, "hazard")

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "estimator_")
        arrays, config = forest_to_state(self.estimator_)
        params = {k: v if isinstance(v, int | float | str | type(None)) else None
                  for k, v in self.get_params(deep=False).items()}  # fmt: skip
        config.update(params=params, **self._feature_config())
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        est = cls(**config["params"])
        forest_params = {k: v for k, v in config["params"].items() if k != "n_jobs"}
        est.estimator_ = forest_from_state(arrays, config, forest_params)
        est._restore_features(config)
        forest = est.estimator_
        est.unique_times_ = np.asarray(forest.unique_times_[forest.is_event_time_], dtype=float)
        return est


@register_model_class
class CoxnetSksurv(_CoxTypeEstimator):
    """Elastic-net Cox model fitted by scikit-survival's ``CoxnetSurvivalAnalysis``.

    Fits the single penalty ``alpha`` with scikit-survival's (glmnet) scaling,
    ``-(1/n) log PL(b) + alpha * (l1_ratio ||b||_1 + (1 - l1_ratio)/2 ||b||^2)``,
    Breslow ties. Survival functions use the Breslow baseline of the training risks.
    :class:`~coxmt.estimators.linear.PenalizedCox` solves the same model without the
    extra dependency (its ``alpha`` is this one times ``n / n_events``).

    Parameters
    ----------
    alpha : float, default 0.05
    l1_ratio : float, default 0.5
    penalty_factor : array-like or None, default None
    normalize : bool, default False
        Features are used as given (standardise beforehand, e.g. in a Pipeline).
    tol : float, default 1e-7
    max_iter : int, default 100000

    Attributes
    ----------
    estimator_ : sksurv.linear_model.CoxnetSurvivalAnalysis
        The fitted scikit-survival model (not restored by :func:`coxmt.io.load_model`,
        which restores the coefficients it predicts with).
    coef_ : ndarray of shape (n_features,)
    offset_ : float
        Subtracted from ``X @ coef_`` (scikit-survival's offset); risk = ``X @ coef_ - offset_``.
    baseline_ : BreslowBaseline
    unique_times_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.baselines import CoxnetSksurv
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4))
    >>> y = (rng.random(80) < 0.7, rng.exponential(np.exp(-X[:, 0])))
    >>> model = CoxnetSksurv(alpha=0.01).fit(X, y)
    >>> model.predict(X).shape
    (80,)
    """

    def __init__(
        self,
        alpha: float = 0.05,
        l1_ratio: float = 0.5,
        penalty_factor: Sequence[float] | None = None,
        normalize: bool = False,
        tol: float = 1e-7,
        max_iter: int = 100000,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.penalty_factor = penalty_factor
        self.normalize = normalize
        self.tol = tol
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        lm = _require("sksurv.linear_model", "scikit-survival", "CoxnetSksurv")
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        model = lm.CoxnetSurvivalAnalysis(
            alphas=[float(self.alpha)],
            l1_ratio=self.l1_ratio,
            penalty_factor=self.penalty_factor,
            normalize=self.normalize,
            tol=self.tol,
            max_iter=self.max_iter,
            fit_baseline_model=False,
        )
        model.fit(X, make_target(event, time))
        self.estimator_ = model
        self.coef_ = np.asarray(model.coef_[:, 0], dtype=np.float64)
        self.offset_ = float(np.asarray(model.offset_).reshape(-1)[0])
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_

    def _risk(self, X: np.ndarray) -> np.ndarray:
        return np.dot(np.asarray(X, dtype=np.float64), self.coef_) - self.offset_

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "coef_")
        arrays = {f"baseline.{k}": v for k, v in self.baseline_.to_state().items()}
        arrays["coef"] = self.coef_
        params = {
            k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else jsonable(v)
            for k, v in self.get_params(deep=False).items()
        }
        return arrays, {"params": params, "offset": self.offset_, **self._feature_config()}

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        est = estimator_from_params(cls, dict(config["params"]))
        est._restore_features(config)
        est.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        est.offset_ = float(config["offset"])
        est.baseline_ = BreslowBaseline.from_state(prefixed(arrays, "baseline"))
        est.unique_times_ = est.baseline_.unique_times_
        return est


class _EarlyStopping:
    """torchtuples callback: stop when the validation loss stalls, keep the best weights in memory.

    Implements torchtuples' callback hooks without deriving from its ``Callback``
    (an optional package), at module level so that a fitted DeepSurv, whose pycox
    model keeps its callbacks, pickles.
    """

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best = np.inf
        self.best_epoch = 0
        self.epoch = 0
        self.state: dict[str, Any] | None = None
        self.model: Any = None

    def give_model(self, model: Any) -> None:
        self.model = model

    def on_fit_start(self) -> None:
        return None

    def on_epoch_start(self) -> None:
        return None

    def on_batch_start(self) -> None:
        return None

    def before_step(self) -> None:
        return None

    def on_batch_end(self) -> None:
        return None

    def on_epoch_end(self) -> bool:
        score = float(self.model.val_metrics.scores["loss"]["score"][-1])
        self.epoch += 1
        if score < self.best:
            self.best, self.best_epoch = score, self.epoch
            self.state = copy.deepcopy(self.model.net.state_dict())
        return self.epoch - self.best_epoch >= self.patience

    def on_fit_end(self) -> None:
        if self.state is not None:
            self.model.net.load_state_dict(self.state)
            self.state = None  # the weights now live in the network


class _CoxLoss(torch.nn.Module):
    """pycox's Cox loss, returning 0 (not NaN) for a batch without events.

    A module-level class holding pycox's loss function, so a fitted DeepSurv pickles.
    """

    def __init__(self, pycox_loss: Any) -> None:
        super().__init__()
        self.pycox_loss = pycox_loss

    def forward(
        self, log_h: torch.Tensor, durations: torch.Tensor, events: torch.Tensor
    ) -> torch.Tensor:
        if not bool(events.sum()):
            return log_h.sum() * 0.0
        return self.pycox_loss(log_h, durations, events)


@register_model_class
class DeepSurv(_CoxTypeEstimator):
    """DeepSurv (Katzman et al. 2018) as implemented by pycox's ``CoxPH``.

    An MLP with ReLU, batch normalisation and dropout after each hidden layer
    (pycox's ``MLPVanilla``) and a bias-free linear output, trained on pycox's Cox
    partial-likelihood loss (risk sets within each mini-batch) with Adam.
    Survival functions use the Breslow baseline of the training risks.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (32, 32)
    dropout : float, default 0.1
    batch_norm : bool, default True
    learning_rate : float, default 1e-3
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    batch_size : int or None, default 256
        None = full batch. A size that would leave a last batch of one sample
        (which batch norm cannot train on) is reduced by the fewest samples that avoid it.
    max_epochs : int, default 100
    early_stopping : bool, default True
        Hold out ``validation_fraction`` (stratified on the event), stop when the
        validation loss has not improved for ``n_iter_no_change`` epochs and keep
        the best weights.
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 10
    random_state : int or None, default None
    device : str, default "auto"
    verbose : bool, default False

    Attributes
    ----------
    model_ : pycox.models.CoxPH
    history_ : pandas.DataFrame
        Per-epoch training (and validation) loss.
    n_epochs_ : int
    baseline_ : BreslowBaseline
    unique_times_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.baselines import DeepSurv
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4))
    >>> y = (rng.random(120) < 0.7, rng.exponential(np.exp(-X[:, 0])))
    >>> model = DeepSurv(max_epochs=5, random_state=0, device="cpu").fit(X, y)
    >>> model.predict(X).shape
    (120,)
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (32, 32),
        dropout: float = 0.1,
        batch_norm: bool = True,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int | None = 256,
        max_epochs: int = 100,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 10,
        random_state: Any = None,
        device: str = "auto",
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if int(self.max_epochs) < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.batch_size is not None and int(self.batch_size) < 2:
            raise ValueError(f"batch_size must be None (full batch) or >= 2, got {self.batch_size}")
        if self.early_stopping and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )

    @staticmethod
    def _batch_size(n: int, requested: int | None) -> int:
        bs = n if requested is None else min(int(requested), n)
        while bs > 2 and n % bs == 1:
            bs -= 1
        return bs

    def _fit(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        _require("torchtuples", "torchtuples", "DeepSurv")
        _require("pycox.models", "pycox", "DeepSurv")
        seed = _seed(self.random_state)
        self.device_ = resolve_device(self.device)
        tr = np.arange(len(time))
        val = np.array([], dtype=np.int64)
        if self.early_stopping:
            if event.sum() < 4:
                raise ValueError(
                    f"early_stopping needs at least 4 events to hold some out for validation, "
                    f"got {int(event.sum())}; set early_stopping=False"
                )
            tr, val = train_test_split(
                tr, test_size=self.validation_fraction, stratify=event, random_state=seed
            )
        x32 = X.astype(np.float32)

        def target(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return time[idx].astype(np.float32), event[idx].astype(np.float32)

        with init_stream(seed):  # initial weights, drawn on CPU (coxmt.training.seeding)
            net = self._network(X.shape[1])
        model = self._pycox_model(net)
        callbacks = []
        val_data = None
        if self.early_stopping:
            callbacks.append(_EarlyStopping(int(self.n_iter_no_change)))
            val_data = (x32[val], target(val))
        with training_stream(seed, self.device_):  # dropout and mini-batch order
            log = model.fit(
                x32[tr],
                target(tr),
                batch_size=self._batch_size(len(tr), self.batch_size),
                epochs=int(self.max_epochs),
                callbacks=callbacks,
                verbose=bool(self.verbose),
                val_data=val_data,
            )
        model.net.eval()
        self.model_ = model
        self.history_ = pd.DataFrame(log.to_pandas()).reset_index(drop=True)
        self.n_epochs_ = len(self.history_)
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_

    def _network(self, n_features: int) -> torch.nn.Module:
        """pycox's ``MLPVanilla`` of the hyperparameters (weights from the global generator)."""
        tt = _require("torchtuples", "torchtuples", "DeepSurv")
        net: torch.nn.Module = tt.practical.MLPVanilla(
            n_features,
            list(check_layer_sizes(self.hidden_layer_sizes)),
            1,
            batch_norm=bool(self.batch_norm),
            dropout=float(self.dropout) if self.dropout > 0 else None,
            output_bias=False,
        )
        return net

    def _pycox_model(self, net: torch.nn.Module) -> Any:
        """pycox's ``CoxPH`` around ``net`` on ``device_``, with Adam and the Cox loss."""
        tt = _require("torchtuples", "torchtuples", "DeepSurv")
        pycox_models = _require("pycox.models", "pycox", "DeepSurv")
        pycox_loss = _require("pycox.models.loss", "pycox", "DeepSurv")
        return pycox_models.CoxPH(
            net,
            tt.optim.Adam(lr=self.learning_rate, weight_decay=self.weight_decay),
            device=self.device_,
            loss=_CoxLoss(pycox_loss.cox_ph_loss),
        )

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "model_")
        arrays, config = network_state(self, self.model_.net)
        config.update(self._feature_config())
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        params = config["params"]
        est = estimator_from_params(cls, params)
        est._restore_features(config)
        est.device_ = saved_device(params)
        net = est._network(est.n_features_in_)
        load_module_state(net, arrays)
        est.model_ = est._pycox_model(net)
        est.model_.net.eval()
        restore_network_state(est, arrays, config)
        return est

    def _risk(self, X: np.ndarray) -> np.ndarray:
        out = self.model_.predict(X.astype(np.float32), batch_size=8192, numpy=True)
        return np.asarray(out, dtype=np.float64).reshape(-1)
