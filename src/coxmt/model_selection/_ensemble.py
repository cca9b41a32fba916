"""Seed ensembles: copies of one estimator that differ only in their random seed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from coxmt._random import derive_seed, draw_seed
from coxmt._validation import make_target
from coxmt.baseline import BreslowBaseline
from coxmt.estimators._base import BaseCoxNetwork
from coxmt.estimators._mixins import SavedModelMixin
from coxmt.io import jsonable, model_class, prefixed
from coxmt.model_selection._fit_many import fit_many
from coxmt.model_selection._meta import (
    DelegatingSurvivalEstimator,
    fit_with_unlabeled,
    take_rows,
)

__all__ = ["SeedEnsemble"]


def fit_estimators(
    estimators: Sequence[Any],
    X: Any,
    event: np.ndarray,
    time: np.ndarray,
    train_rows: Sequence[np.ndarray],
    X_unlabeled: Any = None,
) -> list[Any]:
    """Fit each estimator on its rows of ``(X, (event, time))``, all unlabeled rows to each.

    Cox networks, and seed ensembles of Cox networks, go through
    :func:`~coxmt.model_selection.fit_many` (every network of every estimator in one
    stacked run where their backend allows it); other estimators are fitted one by one.
    """
    ests = list(estimators)
    if ests and all(isinstance(e, BaseCoxNetwork) for e in ests):
        return fit_many(
            ests, X, make_target(event, time), list(train_rows), X_unlabeled=X_unlabeled
        )
    if ests and all(
        isinstance(e, SeedEnsemble) and isinstance(e.estimator, BaseCoxNetwork) for e in ests
    ):
        members = [e._new_members() for e in ests]
        flat = [m for ms in members for m in ms]
        flat_rows = [r for ms, r in zip(members, train_rows, strict=True) for _ in ms]
        fit_many(flat, X, make_target(event, time), flat_rows, X_unlabeled=X_unlabeled)
        for e, ms, r in zip(ests, members, train_rows, strict=True):
            e._finish_fit(ms, take_rows(X, r), event[r], time[r])
        return ests
    for est, rows in zip(ests, train_rows, strict=True):
        fit_with_unlabeled(
            est, take_rows(X, rows), make_target(event[rows], time[rows]), X_unlabeled
        )
    return ests


def export_nested(estimator: Any, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A fitted inner estimator's arrays (under ``prefix.``) and configuration (with its class)."""
    if not hasattr(estimator, "_export_state"):
        raise ValueError(
            f"cannot save a {type(estimator).__name__} inside a meta-estimator; only coxmt "
            "estimators with a saved-model format can be saved"
        )
    arrays, config = estimator._export_state()
    config = {"class": type(estimator).__name__, "module": type(estimator).__module__, **config}
    return {f"{prefix}.{k}": v for k, v in arrays.items()}, config


def import_nested(arrays: dict[str, np.ndarray], config: dict[str, Any], prefix: str) -> Any:
    """Rebuild an inner estimator saved by :func:`export_nested`."""
    cls = model_class(config["class"], config, f"the saved model's {prefix}")
    return cls._from_state(prefixed(arrays, prefix), config)


def export_unfitted(estimator: Any) -> dict[str, Any]:
    """An unfitted inner estimator as its class, module and constructor parameters."""
    cls = type(estimator)
    params = jsonable(estimator.get_params(deep=False))
    return {"class": cls.__name__, "module": cls.__module__, "params": params}


def import_unfitted(config: dict[str, Any], what: str) -> Any:
    """Rebuild an unfitted estimator saved by :func:`export_unfitted`."""
    cls = model_class(config["class"], config, f"the saved model's {what}")
    # JSON stores tuples (e.g. hidden_layer_sizes) as lists
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()})


def require_random_state(estimator: Any, why: str, role: str = "") -> None:
    """Refuse an estimator without a ``random_state`` parameter (seeds go through it)."""
    if "random_state" not in estimator.get_params(deep=False):
        raise ValueError(f"{role}{type(estimator).__name__} has no random_state parameter; {why}")


class BaselineRiskModel(DelegatingSurvivalEstimator, SavedModelMixin):
    """A risk model whose survival functions come from its own Breslow ``baseline_``."""

    def _risk(self, X: Any) -> np.ndarray:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores on the log-hazard scale (higher = higher risk)."""
        check_is_fitted(self, "baseline_")
        return self._risk(X)

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard from the Breslow baseline, shape (n_samples, n_times).

        ``times=None`` evaluates at the training event times.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.cumulative_hazard(self._risk(X), times)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times), non-increasing in time.

        ``times=None`` evaluates at the training event times.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.survival(self._risk(X), times)


class SeedEnsemble(BaselineRiskModel):
    """Mean risk of ``n_members`` copies of ``estimator`` that differ only in ``random_state``.

    Averaging networks trained from different initialisations (and dropout draws)
    reduces the variance of the risk and shrinks over-confident risk scales.
    Cox networks (:class:`~coxmt.CoxNnet`, :class:`~coxmt.CoxMT`) train in one
    batched run through :func:`~coxmt.model_selection.fit_many` where their
    backend allows it; other estimators are fitted one by one. Every member
    receives all the unlabeled patients.

    Parameters
    ----------
    estimator : estimator
        Unfitted survival estimator with a ``random_state`` parameter.
    n_members : int, default 5
        Number of members.
    random_state : int, sequence of int, or None, default None
        An int (or None: a fresh draw) from which member ``k``'s seed is derived
        (:func:`~coxmt.model_selection.derive_seed` ``(random_state, k)``), or a
        sequence of ``n_members`` seeds used as given.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    random_states_ : list of int
        The members' seeds.
    baseline_ : BreslowBaseline
        Breslow baseline hazard of the ensemble risk on the training patients.
    unique_times_ : ndarray
        Training event times (where the survival functions jump).

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxNnet
    >>> from coxmt.model_selection import SeedEnsemble
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4))
    >>> y = (rng.random(80) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> ens = SeedEnsemble(CoxNnet(max_epochs=10), n_members=3, random_state=0).fit(X, y)
    >>> risks = np.stack([m.predict(X) for m in ens.estimators_])
    >>> bool(np.allclose(ens.predict(X), risks.mean(axis=0)))
    True
    """

    def __init__(
        self, estimator: Any, n_members: int = 5, random_state: int | Sequence[int] | None = None
    ) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state

    def _seeds(self) -> list[int]:
        n = int(self.n_members)
        if n < 1:
            raise ValueError(f"n_members must be >= 1, got {self.n_members}")
        rs = self.random_state
        if isinstance(rs, Sequence) and not isinstance(rs, str):
            if len(rs) != n:
                raise ValueError(
                    f"random_state gives {len(rs)} seeds for {n} members; give one seed per "
                    "member or a single int"
                )
            return [int(s) for s in rs]
        base = draw_seed(rs)
        return [derive_seed(base, k) for k in range(n)]

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> SeedEnsemble:
        """Fit the members (each with all of ``X_unlabeled``) and the ensemble's baseline.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Labeled patients.
        y : structured array, DataFrame (event, time) or pair (event, time)
            Their outcomes (matched by patient ID when ``X`` and ``y`` have them).
        X_unlabeled : array-like, DataFrame or Unlabeled, optional
            Patients without outcome, given whole to every member.

        Returns
        -------
        SeedEnsemble
            ``self``, fitted.
        """
        X_unlabeled, _, event, time = self._fit_inputs(X, y, X_unlabeled)
        members = self._new_members()
        rows = [np.arange(len(event))] * len(members)
        members = fit_estimators(members, X, event, time, rows, X_unlabeled)
        return self._finish_fit(members, X, event, time)

    def _new_members(self) -> list[Any]:
        """Unfitted copies of ``estimator``, one per seed."""
        seeds = self._seeds()
        require_random_state(self.estimator, "a seed ensemble needs one")
        return [clone(self.estimator).set_params(random_state=s) for s in seeds]

    def _finish_fit(
        self, members: list[Any], X: Any, event: np.ndarray, time: np.ndarray
    ) -> SeedEnsemble:
        """Keep the fitted ``members`` and fit the baseline on the training rows ``X``."""
        self.estimators_ = members
        self.random_states_ = [int(m.get_params()["random_state"]) for m in members]
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def _risk(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        risks = [np.asarray(m.predict(X), dtype=np.float64) for m in self.estimators_]
        return np.mean(risks, axis=0)

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "baseline_")
        arrays = {f"baseline.{k}": v for k, v in self.baseline_.to_state().items()}
        members = []
        for k, m in enumerate(self.estimators_):
            a, c = export_nested(m, f"member{k}")
            arrays.update(a)
            members.append(c)
        params = {"n_members": int(self.n_members), "random_state": jsonable(self.random_state)}
        return arrays, {"params": params, "members": members, "random_states": self.random_states_}

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> SeedEnsemble:
        members = [import_nested(arrays, c, f"member{k}") for k, c in enumerate(config["members"])]
        params = dict(config["params"])
        est = cls(clone(members[0]), **params)
        est.estimators_ = members
        est.random_states_ = [int(s) for s in config["random_states"]]
        est.baseline_ = BreslowBaseline.from_state(prefixed(arrays, "baseline"))
        est.unique_times_ = est.baseline_.unique_times_
        return est
