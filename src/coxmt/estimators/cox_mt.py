"""Cox-MT: a Cox neural network trained with the Mean Teacher method."""

from __future__ import annotations

from collections.abc import Sequence

from coxmt.estimators._base import BaseCoxNetwork
from coxmt.nn.mlp import CoxMLP
from coxmt.training.engine import ModelSpec
from coxmt.training.mean_teacher import (
    MeanTeacherObjective,
    check_mean_teacher_params,
    mean_teacher_params,
)
from coxmt.training.objectives import Objective

__all__ = ["CoxMT"]


class CoxMT(BaseCoxNetwork):
    """Cox-MT: semi-supervised Cox network (student/teacher Mean Teacher).

    The student sees inputs with Gaussian noise (``noise_std``) and dropout and is
    trained on ``L = L_s + w(t) * L_u``: ``L_s`` is the Cox negative partial
    log-likelihood of the labeled patients, ``L_u`` the mean squared difference
    between student and teacher risks on the consistency set (by default the
    censored and the unlabeled patients), ``w(t)`` ramps up to
    ``consistency_weight`` as ``exp(-5 (1 - t)^2)``. The teacher (same
    architecture, independent input noise) is the exponential moving average of the
    student, ``alpha_t = min(1 - 1/(step + 1), ema_decay)``, and predicts by default.

    Full-batch training (``batch_size=None``) runs by default on the ``"stacked"``
    backend (:mod:`coxmt.training.engine`; see ``backend``): when the first hidden layer is at most half as
    wide as the input, the Gaussian input noise is drawn after that layer with the
    same distribution of values and gradients (:mod:`coxmt.training.noise`), and
    the teacher's first-layer pre-activations are the moving average of the
    student's. :func:`coxmt.fit_many` trains several models (folds,
    seeds, settings) in one batched pass.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or None, default None
        None = two tanh layers, ``(2 * ceil(sqrt(p)), ceil(sqrt(p)))``.
    dropout : float, default 0.2
    activation : str, default "tanh"
    learning_rate : float, default 1e-3
    weight_decay : float, default 1e-4
    max_epochs : int, default 200
    batch_size : int or None, default None
        None = full batch (unlabeled rows join every step).
    early_stopping : bool, default False
        Monitor the validation C-index of the predicting network (see ``predict_with``).
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 20
    ties : {"efron", "breslow"}, default "efron"
    noise_std : float, default 0.1
        Standard deviation of the Gaussian input noise (paper: sigma).
    ema_decay : float, default 0.99
        Teacher EMA coefficient (paper: alpha, 0.9-0.999).
    consistency_weight : float, default 1.0
        Weight ``w`` of the consistency loss (paper: 0.1-3).
    rampup_epochs : int, default 30
        Epochs over which ``w`` ramps up.
    consistency_on : {"censored+unlabeled", "unlabeled", "all"}, default "censored+unlabeled"
        Which patients enter ``L_u``.
    predict_with : {"teacher", "student"}, default "teacher"
    unlabeled_batch_size : int or None, default None
        None = every unlabeled patient joins every step (held in memory). An
        integer streams the unlabeled patients instead: each step uses the labeled
        batch (the full labeled set by default, so the Cox loss keeps its exact
        risk sets) plus the next shuffled mini-batch of this many unlabeled rows,
        read in chunks with prefetching (:mod:`coxmt.data.streaming`), so
        ``X_unlabeled`` may be a file far larger than memory (``.h5``, ``.h5ad``,
        ``.zarr``, ``.parquet``, ``.npy``). Arrays and files holding the same rows
        give identical models.
    random_state : int or None, default None
    device : str, default "auto"
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Matmul precision in fit and predict (see :class:`~coxmt.CoxNnet`).
    n_threads : int or None, default None
        CPU threads for fit and predict; None: full-batch training picks them
        by the rule of :mod:`coxmt.training.threads`, prediction keeps torch's setting.
    verbose : bool, default False
        Show a progress bar.
    backend : {"auto", "stacked", "loop"}, default "auto"
        Training backend (:mod:`coxmt.training.backends`). ``"stacked"``: the fast
        full-batch engine (:mod:`coxmt.training.engine`); ``"loop"``: the general
        :class:`~coxmt.training.Trainer` (mini-batches, streamed unlabeled rows).
        ``"auto"`` picks ``"stacked"`` when training is full-batch (``batch_size``
        None or at least the number of training rows) and ``unlabeled_batch_size``
        is None, else ``"loop"``. Asking for ``"stacked"`` where it cannot run
        raises a ValueError. Both start from the same weights
        for a given ``random_state``; the fitted ``backend_`` says which one ran.
    supervised_on : {"all", "events"}, default "all"
        Which labeled patients enter ``L_s`` (:mod:`coxmt.training.supervision`).
        ``"all"``: every labeled patient, the censored ones through the risk sets.
        ``"events"``: the paper-literal reading ("only uncensored samples contribute
        to L_s"): the partial likelihood over the uncensored patients only; the
        censored patients leave the risk sets and are treated like unlabeled
        patients, so they enter ``L_u`` wherever unlabeled patients do (with every
        ``consistency_on``). Cannot be combined with ``unlabeled_batch_size``. The
        Breslow baseline fitted after training uses every labeled patient.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 5))
    >>> y = (rng.random(80) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> model = CoxMT(max_epochs=50, random_state=0).fit(X, y, X_unlabeled=X[:20])
    >>> round(model.score(X, y), 2) > 0.5
    True
    """

    _save_name = "CoxMT"
    _semi_supervised = True

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] | None = None,
        dropout: float = 0.2,
        activation: str = "tanh",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        max_epochs: int = 200,
        batch_size: int | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 20,
        ties: str = "efron",
        noise_std: float = 0.1,
        ema_decay: float = 0.99,
        consistency_weight: float = 1.0,
        rampup_epochs: int = 30,
        consistency_on: str = "censored+unlabeled",
        predict_with: str = "teacher",
        unlabeled_batch_size: int | None = None,
        random_state: int | None = None,
        device: str = "auto",
        precision: str = "fp32",
        n_threads: int | None = None,
        verbose: bool = False,
        backend: str = "auto",
        supervised_on: str = "all",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.activation = activation
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.ties = ties
        self.noise_std = noise_std
        self.ema_decay = ema_decay
        self.consistency_weight = consistency_weight
        self.rampup_epochs = rampup_epochs
        self.consistency_on = consistency_on
        self.predict_with = predict_with
        self.unlabeled_batch_size = unlabeled_batch_size
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.n_threads = n_threads
        self.verbose = verbose
        self.backend = backend
        self.supervised_on = supervised_on

    def _check_params(self) -> None:
        super()._check_params()
        check_mean_teacher_params(**mean_teacher_params(self))
        if self.unlabeled_batch_size is not None and int(self.unlabeled_batch_size) < 1:
            raise ValueError(
                f"unlabeled_batch_size must be None (all unlabeled rows at every step) or "
                f">= 1, got {self.unlabeled_batch_size}"
            )

    def _default_hidden(self, n_features: int) -> tuple[int, ...]:
        w = self._default_width(n_features)
        return (2 * w, w)

    def _build_objective(self, module: CoxMLP) -> Objective:
        return MeanTeacherObjective(
            module,
            noise_std=self.noise_std,
            ema_decay=self.ema_decay,
            consistency_weight=self.consistency_weight,
            rampup_epochs=self.rampup_epochs,
            consistency_on=self.consistency_on,
            ties=self.ties,
            predict_with=self.predict_with,
        )

    def _engine_spec(self, seed: int) -> ModelSpec:
        return ModelSpec(
            seed=seed,
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            dropout=float(self.dropout),
            max_epochs=int(self.max_epochs),
            patience=int(self.n_iter_no_change) if self.early_stopping else None,
            mean_teacher=True,
            noise_std=float(self.noise_std),
            ema_decay=float(self.ema_decay),
            consistency_weight=float(self.consistency_weight),
            rampup_epochs=int(self.rampup_epochs),
            consistency_on=self.consistency_on,
            predict_with=self.predict_with,
            supervised_on=self.supervised_on,
        )
