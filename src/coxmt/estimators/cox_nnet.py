"""Cox-nnet: the supervised Cox neural network baseline (Ching et al., 2018)."""

from __future__ import annotations

from collections.abc import Sequence

from coxmt.estimators._base import BaseCoxNetwork
from coxmt.nn.mlp import CoxMLP
from coxmt.training.engine import ModelSpec
from coxmt.training.objectives import CoxObjective, Objective

__all__ = ["CoxNnet"]


class CoxNnet(BaseCoxNetwork):
    """Cox-nnet: one tanh hidden layer, dropout, bias-free Cox output, L2 penalty.

    Trained on the Cox negative partial log-likelihood of the labeled patients
    only (censored patients enter through the risk sets; ``X_unlabeled`` is ignored).
    Full-batch training runs by default on the fast ``"stacked"`` backend
    (:mod:`coxmt.training.engine`; see ``backend``); :func:`coxmt.fit_many` trains several
    models (folds, seeds, settings) in one batched pass.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or None, default None
        Hidden widths; None = one layer of ``ceil(sqrt(n_features))`` units.
    dropout : float, default 0.2
    activation : str, default "tanh"
    learning_rate : float, default 1e-3
        Adam step size.
    weight_decay : float, default 1e-4
        L2 penalty on all weights (Adam's coupled weight decay).
    max_epochs : int, default 200
    batch_size : int or None, default None
        None trains on the full batch (exact Cox risk sets); an integer uses
        mini-batches that each hold events.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the patients (stratified on events) and
        keep the weights with the best validation C-index.
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 20
        Patience of early stopping, in epochs.
    ties : {"efron", "breslow"}, default "efron"
    random_state : int or None, default None
        Seed; the same seed gives the same predictions on CPU, bit for bit.
    device : str, default "auto"
        "auto" uses CUDA when available.
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Matmul precision in fit and predict: "tf32" lets CUDA matmuls use
        TensorFloat-32 (no effect on CPU); "bf16" runs the first layer's matmuls
        (the bulk of the work) with bfloat16 inputs and float32 accumulation.
    n_threads : int or None, default None
        CPU threads for fit and predict (``torch.set_num_threads``, restored
        afterwards); None: full-batch training picks them
        by the rule of :mod:`coxmt.training.threads`, prediction keeps torch's setting.
    verbose : bool, default False
        Show a progress bar.
    backend : {"auto", "stacked", "loop"}, default "auto"
        Training backend (:mod:`coxmt.training.backends`). ``"stacked"``: the fast
        full-batch engine (:mod:`coxmt.training.engine`); ``"loop"``: the general
        :class:`~coxmt.training.Trainer` (mini-batches). ``"auto"`` picks
        ``"stacked"`` when training is full-batch (``batch_size`` None or at least
        the number of training rows), else ``"loop"``. Asking for ``"stacked"``
        where it cannot run raises a ValueError. Both start from the same weights
        for a given ``random_state``; the fitted ``backend_`` says which one ran.
    supervised_on : {"all", "events"}, default "all"
        Which labeled patients enter the Cox loss (:mod:`coxmt.training.supervision`).
        ``"all"``: every labeled patient, the censored ones through the risk sets.
        ``"events"``: the partial likelihood over the uncensored patients only (the
        censored ones leave the risk sets and the training data). The Breslow
        baseline fitted after training uses every labeled patient.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxNnet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 5))
    >>> y = (rng.random(80) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> model = CoxNnet(max_epochs=50, random_state=0).fit(X, y)
    >>> model.predict(X).shape
    (80,)
    """

    _save_name = "CoxNnet"

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
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.n_threads = n_threads
        self.verbose = verbose
        self.backend = backend
        self.supervised_on = supervised_on

    def _default_hidden(self, n_features: int) -> tuple[int, ...]:
        return (self._default_width(n_features),)

    def _build_objective(self, module: CoxMLP) -> Objective:
        return CoxObjective(module, ties=self.ties)

    def _engine_spec(self, seed: int) -> ModelSpec:
        return ModelSpec(
            seed=seed,
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            dropout=float(self.dropout),
            max_epochs=int(self.max_epochs),
            patience=int(self.n_iter_no_change) if self.early_stopping else None,
            supervised_on=self.supervised_on,
        )
