"""Post-hoc calibration of the risk scale on inner out-of-fold risks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from coxmt._validation import check_survival_target
from coxmt.baseline import BreslowBaseline
from coxmt.io import jsonable, prefixed
from coxmt.losses import Ties, neg_partial_log_likelihood
from coxmt.model_selection._ensemble import (
    BaselineRiskModel,
    export_nested,
    fit_estimators,
    import_nested,
)
from coxmt.model_selection._meta import inner_folds, take_rows

__all__ = ["CalibratedRisk", "fit_risk_scale"]

_LOG_SCALE_BOUNDS = (-10.0, 5.0)  # scale factor in [4.5e-5, 148]


def fit_risk_scale(event: Any, time: Any, risk: Any, *, ties: Ties = "efron") -> float:
    """The factor ``a > 0`` maximising the Cox partial likelihood of ``a * risk``.

    A one-covariate Cox model without intercept on ``risk`` (its coefficient,
    restricted to ``[4.5e-5, 148]`` so that the ranking is kept).

    Parameters
    ----------
    event, time : array-like of shape (n_samples,)
        Outcomes.
    risk : array-like of shape (n_samples,)
        Risk scores (log-hazard scale), e.g. out-of-fold predictions.
    ties : {"efron", "breslow"}, default "efron"
        Tie handling of the partial likelihood (Efron matches lifelines).

    Returns
    -------
    float
        The scale factor.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(size=400)
    >>> t = rng.exponential(np.exp(-0.5 * r))  # true coefficient 0.5 on r
    >>> round(fit_risk_scale(np.ones(400, bool), t, 4 * r), 2)  # over-confident by 4x
    0.12
    """
    ev, t = check_survival_target((event, time), min_samples=2)
    r = np.asarray(risk, dtype=np.float64).reshape(-1)
    if r.shape[0] != t.shape[0] or not np.isfinite(r).all():
        raise ValueError(
            f"risk must hold {t.shape[0]} finite values (one per patient); got {r.shape[0]}"
            + ("" if np.isfinite(r).all() else " with NaN or infinite values")
        )
    r_t = torch.as_tensor(r - r.mean())
    ev_t, t_t = torch.as_tensor(ev), torch.as_tensor(t)

    def nll(log_a: float) -> float:
        loss = neg_partial_log_likelihood(
            float(np.exp(log_a)) * r_t, ev_t, t_t, ties=ties, reduction="sum", validate=False
        )
        return float(loss)

    res = minimize_scalar(nll, bounds=_LOG_SCALE_BOUNDS, method="bounded", options={"xatol": 1e-10})
    return float(np.exp(res.x))


class CalibratedRisk(BaselineRiskModel):
    """Rescale ``estimator``'s risk by a factor fitted on inner out-of-fold risks.

    Networks trained to convergence on the partial likelihood produce risk scales
    that are too wide for new patients (over-confident survival curves, a poor
    integrated Brier score). ``fit`` splits the training patients into ``cv``
    inner folds, predicts each fold with the estimator fitted on the others,
    fits a one-covariate Cox model ``a * risk`` to these out-of-fold risks
    (:func:`fit_risk_scale`), refits ``estimator`` on all the training patients,
    and fits the Breslow baseline on ``a * risk``. ``predict`` returns ``a * risk``:
    ``a > 0``, so the ranking (Harrell's C) is that of ``estimator``; only the
    survival functions change. The inner fits and the refit of a Cox network (or all
    the members of all of them, for a :class:`~coxmt.model_selection.SeedEnsemble` of
    Cox networks) train in one stacked run (:func:`~coxmt.model_selection.fit_many`). Every inner fit and the
    refit receive all the unlabeled patients; validation patients are never
    unlabeled data.

    Parameters
    ----------
    estimator : estimator
        Unfitted survival estimator (e.g. :class:`~coxmt.CoxNnet`, a
        :class:`~coxmt.model_selection.SeedEnsemble`).
    cv : int or cross-validation splitter, default 5
        Inner folds, stratified on the event indicator, or a splitter whose
        ``split(X, event)`` yields ``(train, validation)`` positions.
    random_state : int or None, default None
        Seed of the inner folds.

    Attributes
    ----------
    estimator_ : estimator
        ``estimator`` fitted on all the training patients.
    scale_ : float
        The factor ``a``.
    oof_risk_ : ndarray of shape (n_samples,)
        Out-of-fold risks of the training patients (before scaling).
    baseline_ : BreslowBaseline
        Breslow baseline of ``a * risk`` on the training patients.
    unique_times_ : ndarray
        Training event times.
    n_splits_ : int
        Number of inner folds used.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxNnet
    >>> from coxmt.model_selection import CalibratedRisk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> y = (rng.random(100) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> cal = CalibratedRisk(CoxNnet(max_epochs=20, random_state=0), cv=3, random_state=0)
    >>> cal = cal.fit(X, y)
    >>> bool(cal.scale_ > 0), bool(np.allclose(cal.predict(X), cal.scale_ * cal.estimator_.predict(X)))
    (True, True)
    """

    def __init__(self, estimator: Any, cv: Any = 5, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> CalibratedRisk:
        """Fit the inner models, the scale factor, the refit and the baseline.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : structured array, DataFrame (event, time) or pair (event, time)
        X_unlabeled : array-like, DataFrame or Unlabeled, optional
            Patients without outcome, given whole to every inner fit and the refit.

        Returns
        -------
        self
        """
        X_unlabeled, _, event, time = self._fit_inputs(X, y, X_unlabeled)
        folds = inner_folds(self.cv, self.random_state, event, X)
        rows = [tr for tr, _ in folds] + [np.arange(len(event))]
        models = [clone(self.estimator) for _ in rows]
        models = fit_estimators(models, X, event, time, rows, X_unlabeled)
        oof = np.full(len(event), np.nan)
        for model, (_, va) in zip(models, folds, strict=False):
            oof[va] = np.asarray(model.predict(take_rows(X, va)), dtype=np.float64)
        if np.isnan(oof).any():
            raise ValueError(
                "the inner folds leave some training patients without an out-of-fold risk; "
                "give a cv whose validation parts cover every patient (e.g. an int)"
            )
        self.oof_risk_ = oof
        self.scale_ = fit_risk_scale(event, time, oof)
        self.estimator_ = models[-1]
        self.n_splits_ = len(folds)
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def _risk(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.scale_ * np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "baseline_")
        arrays, inner = export_nested(self.estimator_, "estimator")
        arrays.update({f"baseline.{k}": v for k, v in self.baseline_.to_state().items()})
        arrays["oof_risk"] = self.oof_risk_
        params = {"cv": jsonable(self.cv) if isinstance(self.cv, int) else None}
        params["random_state"] = jsonable(self.random_state)
        config = {
            "params": params,
            "estimator": inner,
            "scale": float(self.scale_),
            "n_splits": int(self.n_splits_),
        }
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> CalibratedRisk:
        inner = import_nested(arrays, config["estimator"], "estimator")
        params = dict(config["params"])
        if params.get("cv") is None:
            params["cv"] = int(config["n_splits"])
        est = cls(clone(inner), **params)
        est.estimator_ = inner
        est.scale_ = float(config["scale"])
        est.n_splits_ = int(config["n_splits"])
        est.oof_risk_ = np.asarray(arrays["oof_risk"], dtype=np.float64)
        est.baseline_ = BreslowBaseline.from_state(prefixed(arrays, "baseline"))
        est.unique_times_ = est.baseline_.unique_times_
        return est
