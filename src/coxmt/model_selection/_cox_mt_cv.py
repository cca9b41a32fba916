"""The recommended model: Cox-MT tuned by inner CV, seed-ensembled and calibrated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils.validation import check_is_fitted

from coxmt._random import derive_seed, draw_seed
from coxmt.baseline import BreslowBaseline
from coxmt.estimators import CoxMT
from coxmt.io import jsonable, prefixed
from coxmt.model_selection._calibration import fit_risk_scale
from coxmt.model_selection._ensemble import (
    BaselineRiskModel,
    SeedEnsemble,
    export_nested,
    export_unfitted,
    fit_estimators,
    import_nested,
    import_unfitted,
    require_random_state,
)
from coxmt.model_selection._meta import inner_folds, take_rows
from coxmt.model_selection._search import (
    best_setting,
    grid_state,
    restore_search_state,
    search_grid,
    search_state,
)

__all__ = ["DEFAULT_GRID", "CoxMTCV"]

#: The settings :class:`CoxMTCV` tries by default: two learning rates, and the
#: consistency weight ``w`` at 0 (a supervised network with input noise and an EMA
#: teacher, so the model can fall back when unlabeled rows do not help) or 1.
DEFAULT_GRID: dict[str, list[float]] = {
    "learning_rate": [1e-3, 1e-2],
    "consistency_weight": [0.0, 1.0],
}


class CoxMTCV(BaselineRiskModel):
    """Cox-MT with its tuning, seed ensemble and risk calibration built in.

    The model to start with. ``fit``

    1. splits the labeled patients into ``cv`` inner folds (stratified on the event)
       and fits every setting of ``param_grid`` on each, every fit with all the
       unlabeled patients (validation patients are never unlabeled data);
    2. keeps the setting with the best mean inner Harrell's C; with a ``fallback``
       (e.g. ridge Cox, ``PenalizedCox()``), the fallback is fitted and scored on
       the same inner folds and replaces the networks when its mean inner C is
       higher (step 3 then fits it once);
    3. fits ``n_members`` copies of it with different seeds on all the training
       patients (the mean of their log-risks is the risk; all the networks of
       steps 1 and 3 train in stacked runs, :func:`~coxmt.model_selection.fit_many`);
    4. with ``calibrate=True``, rescales the risk by the factor that maximises the
       Cox partial likelihood of the inner out-of-fold risks of the chosen setting
       (:func:`~coxmt.model_selection.fit_risk_scale`; for ``n_members > 1`` each
       inner fold gets the same seed ensemble), which repairs the over-confident
       survival curves of networks trained to convergence without changing the
       ranking;
    5. fits the Breslow baseline hazard on the rescaled training risks.

    Preprocess RNA-seq first, fitted on the training patients, e.g. with
    ``make_survival_pipeline(make_rnaseq_preprocessor(k=1000), CoxMTCV())``
    (what ``coxmt fit --model coxmt-cv`` does).

    Parameters
    ----------
    estimator : estimator or None, default None
        The network to tune; ``None`` means :class:`~coxmt.CoxMT` with its
        defaults. Any coxmt Cox network works (e.g. :class:`~coxmt.CoxNnet` with a
        grid of its own parameters).
    param_grid : dict of str -> list, list of such dicts, or None, default None
        Settings to try (every combination); ``None`` means :data:`DEFAULT_GRID`
        (learning rate 1e-3 or 1e-2, consistency weight 0 or 1: four settings).
    cv : int or cross-validation splitter, default 3
        Inner folds, or a splitter whose ``split(X, event)`` yields
        ``(train, validation)`` positions.
    n_members : int, default 1
        Networks in the seed ensemble of the chosen setting.
    fallback : estimator or None, default None
        A candidate of another kind scored on the same inner folds, typically
        :class:`~coxmt.estimators.linear.PenalizedCox` (ridge Cox with its own
        internal choice of penalty), which on some cohorts ranks patients better
        than any network setting. Needs a ``random_state`` parameter (it gets the
        first member's seed). ``None``: networks only.
    calibrate : bool, default True
        Rescale the risk on the inner out-of-fold risks (step 4).
    random_state : int or None, default None
        Seed of the inner folds and of every network.

    Attributes
    ----------
    best_params_ : dict
        The chosen setting (``{}`` when the fallback was chosen).
    best_score_ : float
        Its mean inner-validation Harrell's C.
    chose_fallback_ : bool
        Whether the fallback beat every network setting.
    cv_results_ : pandas.DataFrame
        One row per setting: ``estimator`` (class name), ``params``, ``mean_c_index``,
        ``sd_c_index``; the fallback, if any, is the last row.
    ensemble_ : SeedEnsemble
        The chosen setting's ``n_members`` networks fitted on all the training
        patients (one fitted fallback when it was chosen).
    scale_ : float
        The calibration factor (1.0 with ``calibrate=False``).
    oof_risk_ : ndarray of shape (n_samples,)
        Inner out-of-fold risks of the chosen setting, before scaling.
    baseline_ : BreslowBaseline
        Breslow baseline of the rescaled risk on the training patients.
    unique_times_ : ndarray
        Training event times.
    n_splits_ : int
        Inner folds used.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    InnerCVSearch : the search alone, for any estimator and grid.
    SeedEnsemble, CalibratedRisk : the ensemble and the calibration as wrappers.

    Notes
    -----
    Cost: ``len(grid) * cv`` inner fits on ``(cv - 1) / cv`` of the patients, plus
    ``n_members`` refits, plus ``(n_members - 1) * cv`` inner fits when calibrating
    an ensemble. With the defaults that is 12 inner fits and one refit.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.model_selection import CoxMTCV
    >>> rng = np.random.default_rng(0)
    >>> X, U = rng.normal(size=(120, 5)), rng.normal(size=(60, 5))
    >>> y = (rng.random(120) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> model = CoxMTCV(CoxMT(max_epochs=20), random_state=0).fit(X, y, X_unlabeled=U)
    >>> sorted(model.best_params_), len(model.cv_results_), bool(model.scale_ > 0)
    (['consistency_weight', 'learning_rate'], 4, True)
    >>> model.predict_survival_function(X[:2], times=[1.0, 2.0]).shape
    (2, 2)
    """

    def __init__(
        self,
        estimator: Any = None,
        param_grid: Mapping[str, Sequence[Any]]
        | Sequence[Mapping[str, Sequence[Any]]]
        | None = None,
        cv: Any = 3,
        n_members: int = 1,
        fallback: Any = None,
        calibrate: bool = True,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.n_members = n_members
        self.fallback = fallback
        self.calibrate = calibrate
        self.random_state = random_state

    def _base_estimator(self) -> Any:
        est = CoxMT() if self.estimator is None else self.estimator
        require_random_state(
            est,
            "CoxMTCV seeds its networks through it (give a coxmt Cox network, e.g. CoxMT or "
            "CoxNnet)",
        )
        return est

    def _fallback(self, seed: int) -> Any:
        """The unfitted fallback seeded with ``seed``, or None."""
        if self.fallback is None:
            return None
        require_random_state(
            self.fallback, "CoxMTCV seeds it through it (e.g. fallback=PenalizedCox())", "fallback "
        )
        return clone(self.fallback).set_params(random_state=seed)

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> CoxMTCV:
        """Tune, fit the ensemble, calibrate and fit the baseline hazard.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Labeled patients (preprocessed).
        y : structured array, DataFrame (event, time) or pair (event, time)
            Their outcomes.
        X_unlabeled : array-like, DataFrame or Unlabeled, optional
            Patients without outcome (same features), given whole to every fit.

        Returns
        -------
        CoxMTCV
            ``self``, fitted.
        """
        n = int(self.n_members)
        if n < 1:
            raise ValueError(f"n_members must be >= 1, got {self.n_members}")
        grid = list(ParameterGrid(DEFAULT_GRID if self.param_grid is None else self.param_grid))
        if not grid:
            raise ValueError("param_grid is empty; give at least one candidate value")
        X_unlabeled, _, event, time = self._fit_inputs(X, y, X_unlabeled)
        base = draw_seed(self.random_state)
        folds = inner_folds(self.cv, base, event, X)
        seeds = [derive_seed(derive_seed(base, 2), k) for k in range(n)]
        first = clone(self._base_estimator()).set_params(random_state=seeds[0])
        fallback = self._fallback(seeds[0])
        rows, risks = search_grid(first, grid, X, event, time, folds, X_unlabeled)
        for row in rows:
            row["estimator"] = type(first).__name__
        best = best_setting(rows)
        chosen, params = clone(first).set_params(**grid[best]), dict(grid[best])
        if fallback is not None:
            fb_rows, fb_risks = search_grid(fallback, [{}], X, event, time, folds, X_unlabeled)
            rows.append({**fb_rows[0], "estimator": type(fallback).__name__})
            risks.append(fb_risks[0])
            fb_c, net_c = fb_rows[0]["mean_c_index"], rows[best]["mean_c_index"]
            if np.isfinite(fb_c) and not fb_c <= net_c:  # also when no network scored
                best, chosen, params, n, seeds = len(rows) - 1, fallback, {}, 1, seeds[:1]
        self.chose_fallback_ = chosen is fallback

        # the refit members, and (calibrating an ensemble) the other members on each inner fold
        extra = [(k, j) for k in range(1, n) for j in range(len(folds))] if self.calibrate else []
        models = [clone(chosen).set_params(random_state=seeds[k]) for k, _ in extra]
        models += [clone(chosen).set_params(random_state=s) for s in seeds]
        train_rows = [folds[j][0] for _, j in extra] + [np.arange(len(event))] * n
        fitted = fit_estimators(models, X, event, time, train_rows, X_unlabeled)

        oof = np.full(len(event), np.nan)
        for j, (_, va) in enumerate(folds):
            fold_risks = [risks[best][j]]
            fold_risks += [
                np.asarray(m.predict(take_rows(X, va)), dtype=np.float64)
                for m, (_, jj) in zip(fitted, extra, strict=False)
                if jj == j
            ]
            oof[va] = np.mean(fold_risks, axis=0)
        columns = ["estimator", "params", "mean_c_index", "sd_c_index"]
        self.cv_results_ = pd.DataFrame(rows)[columns]
        self.best_params_ = params
        self.best_score_ = float(rows[best]["mean_c_index"])
        self.n_splits_ = len(folds)
        self.oof_risk_ = oof
        if self.calibrate:
            if np.isnan(oof).any():
                raise ValueError(
                    "the inner folds leave some training patients without an out-of-fold risk; "
                    "give a cv whose validation parts cover every patient (e.g. an int)"
                )
            self.scale_ = fit_risk_scale(event, time, oof)
        else:
            self.scale_ = 1.0
        members = fitted[len(extra) :]
        ensemble = SeedEnsemble(chosen, n_members=n, random_state=seeds)
        self.ensemble_ = ensemble._finish_fit(members, X, event, time)
        self.n_features_in_ = int(np.shape(X)[1])
        self.baseline_ = BreslowBaseline().fit(self._risk(X), event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def _risk(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        return self.scale_ * self.ensemble_._risk(X)

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "baseline_")
        arrays, inner = export_nested(self.ensemble_, "ensemble")
        arrays.update({f"baseline.{k}": v for k, v in self.baseline_.to_state().items()})
        arrays["oof_risk"] = self.oof_risk_
        params = {
            "param_grid": grid_state(self.param_grid),
            "cv": jsonable(self.cv) if isinstance(self.cv, int) else None,
            "n_members": int(self.n_members),
            "calibrate": bool(self.calibrate),
            "random_state": jsonable(self.random_state),
        }
        config = {
            "params": params,
            # the network, when the ensemble holds the fallback instead (else a member is it)
            "estimator": export_unfitted(self._base_estimator()) if self.chose_fallback_ else None,
            "fallback": None if self.fallback is None else export_unfitted(self.fallback),
            "chose_fallback": bool(self.chose_fallback_),
            "ensemble": inner,
            "scale": float(self.scale_),
            **search_state(self),
        }
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> CoxMTCV:
        ensemble = import_nested(arrays, config["ensemble"], "ensemble")
        params = dict(config["params"])
        if params.get("cv") is None:
            params["cv"] = int(config["n_splits"])
        chose_fallback = bool(config.get("chose_fallback", False))
        if config.get("estimator") is not None:
            network = import_unfitted(config["estimator"], "network")
        else:
            network = clone(ensemble.estimators_[0])
        saved = config.get("fallback")
        fallback = None if saved is None else import_unfitted(saved, "fallback")
        est = cls(network, fallback=fallback, **params)
        est.chose_fallback_ = chose_fallback
        est.ensemble_ = ensemble
        est.n_features_in_ = int(getattr(ensemble.estimators_[0], "n_features_in_", 0))
        est.scale_ = float(config["scale"])
        restore_search_state(est, config)
        est.oof_risk_ = np.asarray(arrays["oof_risk"], dtype=np.float64)
        est.baseline_ = BreslowBaseline.from_state(prefixed(arrays, "baseline"))
        est.unique_times_ = est.baseline_.unique_times_
        return est
