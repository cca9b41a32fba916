"""Shared machinery of coxmt's scikit-learn compatible Cox network estimators."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from coxmt._device import resolve_device
from coxmt._random import draw_seed
from coxmt._validation import (
    check_aligned_ids,
    check_layer_sizes,
    check_survival_target,
    unwrap_unlabeled,
)
from coxmt.baseline import BreslowBaseline
from coxmt.data.streaming import (
    ChunkedSource,
    is_unlabeled_source,
    open_unlabeled,
    stream_batches,
)
from coxmt.estimators._mixins import (
    SavedModelMixin,
    TabularSurvivalMixin,
    align_features,
    estimator_from_params,
    network_state,
    restore_network_state,
)
from coxmt.io import load_module_state, saved_device
from coxmt.nn.mlp import CoxMLP, check_architecture
from coxmt.training.backends import BACKENDS, resolve_backend
from coxmt.training.callbacks import Callback, EarlyStopping, ProgressBar
from coxmt.training.engine import EngineResult, ModelData, ModelSpec, train_stacked
from coxmt.training.loop import Trainer, TrainingData
from coxmt.training.objectives import Objective
from coxmt.training.seeding import batch_rng, init_mlp, training_stream, unlabeled_rng
from coxmt.training.supervision import check_supervised_on, split_supervised
from coxmt.training.threads import fixed_threads

__all__ = [
    "PRECISIONS",
    "BaseCoxNetwork",
    "FitData",
    "FitPlan",
    "align_features",
    "compute_settings",
    "resolve_device",
]

PREDICT_CHUNK_ROWS = 65_536
PRECISIONS = ("fp32", "tf32", "bf16")


@contextmanager
def compute_settings(
    device: torch.device, precision: str = "fp32", n_threads: int | None = None
) -> Iterator[None]:
    """Temporarily apply a matmul precision and a CPU thread count, then restore them.

    ``"tf32"`` lets CUDA matmuls use TensorFloat-32 (no effect on CPU); ``"bf16"``
    is applied by the callers (bfloat16 matmul inputs). ``n_threads`` sets
    ``torch.set_num_threads`` for the duration (process-wide: do not fit models
    in several Python threads with different ``n_threads`` at once).
    """
    old_precision = torch.get_float32_matmul_precision()
    try:
        if precision == "tf32" and device.type == "cuda":
            torch.set_float32_matmul_precision("high")
        with fixed_threads(n_threads):
            yield
    finally:
        if precision == "tf32" and device.type == "cuda":
            torch.set_float32_matmul_precision(old_precision)


def validation_split(
    event: np.ndarray, early_stopping: bool, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and early-stopping validation rows, stratified on events (no hold-out without it)."""
    tr_idx = np.arange(len(event))
    val_idx = np.array([], dtype=np.int64)
    if early_stopping:
        if event.sum() < 4:
            raise ValueError(
                f"early_stopping needs at least 4 events to hold some out for validation, "
                f"got {int(event.sum())}; set early_stopping=False"
            )
        tr_idx, val_idx = train_test_split(
            tr_idx, test_size=validation_fraction, stratify=event, random_state=seed
        )
        tr_idx, val_idx = np.sort(tr_idx), np.sort(val_idx)
    return tr_idx, val_idx


def build_trainer(est: Any, objective: Any, optimizer: Any, seed: int) -> Trainer:
    """The :class:`Trainer` an estimator's hyperparameters describe.

    Uses ``max_epochs``, ``batch_size``, ``early_stopping`` (on the validation
    C-index, patience ``n_iter_no_change``) and ``verbose`` (a progress bar).
    """
    callbacks: list[Callback] = []
    if est.early_stopping:
        callbacks.append(EarlyStopping("val_c_index", patience=est.n_iter_no_change))
    if est.verbose:
        callbacks.append(ProgressBar(desc=type(est).__name__))
    return Trainer(
        objective,
        optimizer,
        max_epochs=est.max_epochs,
        batch_size=est.batch_size,
        callbacks=callbacks,
        rng=batch_rng(seed),
    )


@dataclass
class FitData:
    """Validated inputs of a fit (see :meth:`BaseCoxNetwork._check_fit_data`).

    ``X_unlabeled`` holds in-memory unlabeled rows; ``unlabeled_stream`` a source
    streamed in mini-batches instead (at most one of them is set).
    """

    X: np.ndarray
    event: np.ndarray
    time: np.ndarray
    X_unlabeled: np.ndarray | None = None
    unlabeled_stream: Any = None


@dataclass
class FitPlan:
    """How one model is trained (see :meth:`BaseCoxNetwork._plan_fit`).

    ``train`` and ``val`` index the labeled rows the plan was made for;
    ``stack_key`` is equal for models that the stacked backend can train together.
    """

    seed: int
    train: np.ndarray
    val: np.ndarray
    backend: str
    spec: ModelSpec
    device: torch.device
    hidden: tuple[int, ...]
    precision: str
    n_threads: int | None
    mm_dtype: torch.dtype
    stack_key: tuple[Any, ...]


class BaseCoxNetwork(TabularSurvivalMixin, SavedModelMixin, BaseEstimator):
    """Base class: validation, the training backends, prediction, survival functions.

    Subclasses implement :meth:`_build_objective` (what the ``"loop"`` backend
    optimises), :meth:`_engine_spec` (the same settings for the ``"stacked"``
    backend) and :meth:`_default_hidden` (the default architecture).

    A fit runs in three steps, which :func:`coxmt.fit_many` shares:
    :meth:`_check_fit_data` validates the inputs and sets ``n_features_in_`` /
    ``feature_names_in_``; :meth:`_plan_fit` picks the seed, the early-stopping
    split and the backend (:func:`coxmt.training.backends.resolve_backend`); the
    backend trains, and :meth:`_finish_fit` stores the fitted state.
    """

    _save_name = "BaseCoxNetwork"
    _semi_supervised = False  # whether fit uses X_unlabeled

    # -- subclass hooks -------------------------------------------------------------
    def _default_hidden(self, n_features: int) -> tuple[int, ...]:
        raise NotImplementedError

    def _build_objective(self, module: CoxMLP) -> Objective:
        raise NotImplementedError

    def _predictor(self, objective: Objective) -> torch.nn.Module:
        return next(iter(objective.eval_modules().values()))

    def _engine_spec(self, seed: int) -> ModelSpec:
        """Settings of the ``"stacked"`` backend (:func:`~coxmt.training.engine.train_stacked`)."""
        raise NotImplementedError

    def _mm_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self._precision() == "bf16" else torch.float32

    # -- helpers ----------------------------------------------------------------------
    def _hidden_sizes(self, n_features: int) -> tuple[int, ...]:
        if self.hidden_layer_sizes is None:
            return self._default_hidden(n_features)
        return check_layer_sizes(self.hidden_layer_sizes)

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
        check_architecture((), self.activation, self.dropout)
        precision = self._precision()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        n_threads = getattr(self, "n_threads", None)
        if n_threads is not None and int(n_threads) < 1:
            raise ValueError(f"n_threads must be None or >= 1, got {n_threads}")
        if self._backend() not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self._backend()!r}")
        check_supervised_on(self._supervised_on())
        if self._supervised_on() != "all" and getattr(self, "unlabeled_batch_size", None):
            raise ValueError(
                f"supervised_on={self._supervised_on()!r} turns the censored patients into "
                "unlabeled rows, which unlabeled_batch_size cannot stream (it streams "
                "X_unlabeled only); set unlabeled_batch_size=None or supervised_on='all'"
            )

    def _supervised_on(self) -> str:
        """Which labeled patients enter the Cox loss ("all" for estimators without the parameter)."""
        return str(getattr(self, "supervised_on", "all"))

    def _backend(self) -> str:
        """The requested backend ("auto" for estimators without the parameter)."""
        return str(getattr(self, "backend", "auto"))

    def _prepare_unlabeled(self, X_unlabeled: Any) -> tuple[np.ndarray | None, Any]:
        """``(in-memory unlabeled rows, None)`` or ``(None, source streamed in mini-batches)``.

        Arrays and DataFrames stay in memory unless ``unlabeled_batch_size`` is set;
        out-of-core inputs (paths, memory maps, h5py/zarr/AnnData/pyarrow objects,
        :class:`~coxmt.data.streaming.UnlabeledSource`) are opened as sources. Source
        columns are matched to the training features by name.
        """
        if X_unlabeled is None:
            return None, None
        batch = getattr(self, "unlabeled_batch_size", None)
        if batch is None and not is_unlabeled_source(X_unlabeled):
            return self._prepare_X(X_unlabeled, name="X_unlabeled"), None
        src = X_unlabeled
        if not hasattr(src, "iter_batches") or isinstance(src, ChunkedSource):
            src = open_unlabeled(src)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and src.feature_names is not None:
            if list(src.feature_names) != list(names):
                if not isinstance(src, ChunkedSource):
                    raise ValueError(
                        "X_unlabeled's feature names differ from the training columns; "
                        "give the unlabeled rows the same features in the same order"
                    )
                src = src.select(list(names))
        elif int(src.n_features) != self.n_features_in_:
            raise ValueError(
                f"X_unlabeled has {src.n_features} features but X has {self.n_features_in_}; "
                "give the unlabeled patients the same features (store gene names with the "
                "data to match them by name)"
            )
        if not self._semi_supervised or int(src.n_rows) == 0:
            return None, None
        if batch is None:  # keep every unlabeled row in memory, as for arrays
            if isinstance(src, ChunkedSource):
                return src.to_numpy(), None
            rows = list(src.iter_batches(int(src.n_rows), np.random.default_rng(0)))
            return np.concatenate(rows), None
        return None, src

    def _seed(self) -> int:
        return draw_seed(self.random_state)

    # -- the steps of a fit (shared with coxmt.fit_many) --------------------------------
    def _check_fit_data(self, X: Any, y: Any, X_unlabeled: Any = None) -> FitData:
        """Validate the inputs of a fit; sets ``n_features_in_`` and ``feature_names_in_``.

        Checks the hyperparameters, aligns a ``y`` DataFrame to ``X``'s index
        (:func:`~coxmt._validation.check_aligned_ids`), checks the features, the
        survival target and the unlabeled rows (matched to the features by name,
        kept in memory or opened as a stream, see :meth:`_prepare_unlabeled`).
        """
        X_unlabeled = unwrap_unlabeled(X_unlabeled, self)
        self._check_params()
        y = check_aligned_ids(X, y)
        Xa = self._prepare_X(X, fit=True)
        event, time = check_survival_target(y, n_samples=Xa.shape[0], min_samples=2)
        Xu, stream = self._prepare_unlabeled(X_unlabeled)
        check_architecture(self._hidden_sizes(Xa.shape[1]), self.activation, self.dropout)
        return FitData(Xa, event, time, Xu, stream)

    def _backend_for(self, n_labeled: int) -> str:
        """The backend that trains on ``n_labeled`` labeled rows (before the validation split).

        Decided before any random draw, so that :func:`coxmt.fit_many` can hand
        models on the ``"loop"`` backend to their own ``fit`` unchanged.
        """
        n_train = int(n_labeled)
        if self.early_stopping:  # rows left by the validation split (train_test_split's rule)
            n_train -= math.ceil(float(self.validation_fraction) * n_train)
        return resolve_backend(
            self._backend(),
            batch_size=self.batch_size,
            n_train=n_train,
            unlabeled_batch_size=getattr(self, "unlabeled_batch_size", None),
        )

    def _plan_fit(self, event: np.ndarray) -> FitPlan:
        """Seed, early-stopping split, backend and device of a fit on labeled rows with ``event``."""
        device = resolve_device(self.device)
        backend = self._backend_for(len(event))
        seed = self._seed()
        tr_idx, val_idx = self._validation_split(event, seed)
        hidden = self._hidden_sizes(int(self.n_features_in_))
        precision = self._precision()
        n_threads = getattr(self, "n_threads", None)
        key = (type(self), hidden, self.activation, self.ties, str(device), precision, n_threads)
        return FitPlan(
            seed=seed,
            train=tr_idx,
            val=val_idx,
            backend=backend,
            spec=self._engine_spec(seed),
            device=device,
            hidden=hidden,
            precision=precision,
            n_threads=n_threads,
            mm_dtype=self._mm_dtype(),
            stack_key=key,
        )

    def _finish_fit(
        self,
        plan: FitPlan,
        X: np.ndarray,
        event: np.ndarray,
        time: np.ndarray,
        result: EngineResult | None = None,
        k: int = 0,
    ) -> None:
        """Fitted state after training on ``(X, event, time)``.

        ``result`` is the stacked backend's output (model ``k`` of it); without it
        the ``"loop"`` backend has already set ``module_`` and the history.
        """
        self.device_ = plan.device
        self.backend_ = plan.backend
        if result is not None:
            self.module_ = result.params[k].to_module(0, self.activation, self.dropout)
            self.history_ = pd.DataFrame(result.history[k])
            self.n_epochs_ = result.n_epochs[k]
            self.best_epoch_ = result.best_epoch[k]
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_

    # -- public API -------------------------------------------------------------------
    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> BaseCoxNetwork:
        """Fit the network.

        The backend follows ``backend``: with ``"auto"``, full-batch training
        (``batch_size`` None or at least the training rows) with every unlabeled
        row in memory (``unlabeled_batch_size`` None) runs on the ``"stacked"``
        engine, anything else on the ``"loop"`` backend
        (:mod:`coxmt.training.backends`); ``backend_`` records the one used.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features of the labeled patients (e.g. preprocessed gene expression).
        y : structured array, DataFrame (event, time) or pair (event, time)
            Outcomes; event 1/True = death observed, 0/False = censored. A DataFrame
            whose index holds ``X``'s index values is aligned to ``X`` by index.
        X_unlabeled : array-like, DataFrame or out-of-core source, optional
            Patients without outcome (same features as ``X``, matched by name when
            both have names). Used by semi-supervised models; ignored by supervised
            ones. Besides arrays, accepts anything
            :func:`coxmt.data.streaming.open_unlabeled` opens: a ``.h5``, ``.h5ad``
            (backed), ``.zarr``, ``.parquet`` or ``.npy`` path, an ``np.memmap``, an
            h5py dataset, zarr array, AnnData or pyarrow dataset; these are read in
            chunks, and streamed in mini-batches when the model has
            ``unlabeled_batch_size`` set (else loaded into memory).

        Returns
        -------
        self
        """
        data = self._check_fit_data(X, y, X_unlabeled)
        plan = self._plan_fit(data.event)
        with compute_settings(plan.device, plan.precision, plan.n_threads):
            result = None
            if plan.backend == "stacked":
                result = self._fit_stacked(plan, data)
            else:
                self._fit_loop(plan, data)
        self._finish_fit(plan, data.X, data.event, data.time, result)
        return self

    def _precision(self) -> str:
        """The matmul precision in use ("fp32" for estimators without the parameter)."""
        return str(getattr(self, "precision", "fp32"))

    def _validation_split(self, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Training and early-stopping validation rows (stratified on events)."""
        return validation_split(event, self.early_stopping, self.validation_fraction, seed)

    def _progress(self) -> Any:
        if not self.verbose:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=int(self.max_epochs), desc=type(self).__name__, leave=False)

    def _fit_stacked(self, plan: FitPlan, data: FitData) -> EngineResult:
        """The ``"stacked"`` backend: :func:`coxmt.training.engine.train_stacked` on one model."""
        dev = plan.device
        Xa, Xu = data.X, data.X_unlabeled
        x = Xa if Xu is None or not plan.spec.mean_teacher else np.concatenate([Xa, Xu])
        x_t = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=dev)
        tr, val = plan.train, plan.val
        model_data = ModelData(
            labeled=tr,
            event=data.event[tr],
            time=data.time[tr],
            unlabeled=np.arange(Xa.shape[0], x.shape[0], dtype=np.int64),
            val=val,
            event_val=data.event[val],
            time_val=data.time[val],
        )
        bar = self._progress()
        try:
            return train_stacked(
                x_t,
                [plan.spec],
                [model_data],
                hidden=plan.hidden,
                activation=self.activation,
                ties=self.ties,
                mm_dtype=plan.mm_dtype,
                on_epoch=None if bar is None else (lambda e: bar.update(1)),
            )
        finally:
            if bar is not None:
                bar.close()

    def _fit_loop(self, plan: FitPlan, data: FitData) -> None:
        """The ``"loop"`` backend: :class:`~coxmt.training.Trainer` (mini-batches, streams).

        Same initial weights as the stacked backend; noise and dropout come from the
        model's training stream (:mod:`coxmt.training.seeding`). A streamed unlabeled
        source yields shuffled mini-batches of ``unlabeled_batch_size`` rows, one per step.
        """
        dev = plan.device
        Xa, event, time = data.X, data.event, data.time
        tr_idx, val_idx = plan.train, plan.val

        def to_t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)

        # the rows of the supervised loss; censored rows moved out of it are unlabeled
        # rows of a Mean Teacher (before X_unlabeled), as in the stacked engine
        kept, moved = split_supervised(event[tr_idx], self._supervised_on())
        sup_idx = tr_idx[kept]
        Xu = data.X_unlabeled
        if len(moved) and self._semi_supervised:
            parts = [Xa[tr_idx[moved]]] + ([] if Xu is None else [Xu])
            Xu = np.concatenate(parts)
        tdata = TrainingData(
            x=to_t(Xa[sup_idx]),
            event=torch.as_tensor(event[sup_idx], device=dev),
            time=torch.as_tensor(time[sup_idx], dtype=torch.float64, device=dev),
            x_unlabeled=None if Xu is None else to_t(Xu),
        )
        if len(val_idx):
            tdata.x_val = to_t(Xa[val_idx])
            tdata.event_val = event[val_idx]
            tdata.time_val = time[val_idx]
        batches = None
        if data.unlabeled_stream is not None:
            size = int(self.unlabeled_batch_size)
            batches = stream_batches(data.unlabeled_stream, size, unlabeled_rng(plan.seed))
            tdata.unlabeled_stream = (to_t(b) for b in batches)

        with training_stream(plan.seed, dev):
            module = init_mlp(
                Xa.shape[1], plan.hidden, self.activation, self.dropout, plan.seed, dev
            )
            objective = self._build_objective(module)
            optimizer = torch.optim.Adam(
                objective.trainable().parameters(),
                lr=self.learning_rate,
                weight_decay=self.weight_decay,
                fused=dev.type in ("cpu", "cuda"),
            )
            trainer = build_trainer(self, objective, optimizer, plan.seed)
            try:
                trainer.fit(tdata)
            finally:
                if batches is not None:
                    batches.close()  # stops the prefetching thread
        predictor = self._predictor(objective)
        predictor.eval()
        self.module_ = predictor  # type: ignore[assignment]
        self.history_ = pd.DataFrame(trainer.history)
        self.n_epochs_ = len(trainer.history)
        self.best_epoch_ = trainer.best_epoch

    @torch.no_grad()
    def _risk(self, Xa: np.ndarray) -> np.ndarray:
        module = self.module_
        module.eval()
        dev = next(module.parameters()).device
        precision = self._precision()
        autocast = precision == "bf16" and dev.type in ("cpu", "cuda")
        out = []
        with compute_settings(dev, precision, getattr(self, "n_threads", None)):
            for start in range(0, Xa.shape[0], PREDICT_CHUNK_ROWS):
                chunk = torch.as_tensor(
                    np.ascontiguousarray(Xa[start : start + PREDICT_CHUNK_ROWS]),
                    dtype=torch.float32,
                    device=dev,
                )
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                    risk = module(chunk)
                out.append(risk.double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores (log-hazard ratios); higher = higher risk = shorter survival.

        DataFrame columns are aligned to the training features by name.
        """
        check_is_fitted(self, "module_")
        return self._risk(self._prepare_X(X))

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "module_")
        arrays, config = network_state(self, self.module_)
        config.update(
            self._feature_config(),
            hidden_layer_sizes=list(self._hidden_sizes(self.n_features_in_)),
        )
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        params = config["params"]
        est = estimator_from_params(cls, params)
        n = int(config["n_features_in"])
        module = CoxMLP(
            n,
            config["hidden_layer_sizes"],
            est.activation,
            est.dropout,
        )
        load_module_state(module, arrays)
        est.device_ = saved_device(params)
        est.module_ = module.to(est.device_).eval()
        est._restore_features(config)
        restore_network_state(est, arrays, config)
        est.backend_ = str(config.get("backend") or est._saved_backend())
        return est

    def _saved_backend(self) -> str:
        """The backend of a file saved before ``backend_`` was (the training rows are unknown).

        The requested backend; for ``"auto"``, the stacked engine unless the parameters
        ask for mini-batches or streamed unlabeled rows.
        """
        if self._backend() != "auto":
            return self._backend()
        streamed = getattr(self, "unlabeled_batch_size", None) is not None
        return "loop" if self.batch_size is not None or streamed else "stacked"

    def _default_width(self, n_features: int) -> int:
        return max(1, math.ceil(math.sqrt(n_features)))
