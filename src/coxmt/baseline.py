"""Breslow baseline hazard: survival functions for any risk model.

Given the risks a Cox-type model assigns to its training patients, Breslow's
estimator gives the cumulative baseline hazard ``H0(t)``; a new patient with risk
``r`` then has cumulative hazard ``H0(t) * exp(r)`` and survival ``exp(-H0(t) exp(r))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coxmt._validation import check_survival_target

__all__ = ["BreslowBaseline"]


class BreslowBaseline:
    """Breslow estimator of the cumulative baseline hazard.

    Attributes
    ----------
    unique_times_ : ndarray
        Distinct event times (where the step function jumps).
    cum_baseline_hazard_ : ndarray
        ``H0`` at ``unique_times_`` relative to ``exp(shift_)``.
    shift_ : float
        Risk offset used for numerical stability (``max`` training risk).
        All three are set by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> b = BreslowBaseline().fit(np.zeros(4), [1, 0, 1, 1], [1.0, 2.0, 3.0, 4.0])
    >>> np.round(b.survival(np.zeros(1), [0.5, 1.0, 4.0]), 3).tolist()  # Nelson-Aalen: exp(-(1/4 + 1/2 + 1))
    [[1.0, 0.779, 0.174]]
    """

    def fit(self, risk: Any, event: Any, time: Any) -> BreslowBaseline:
        """Estimate ``H0`` from training risks and outcomes."""
        ev, t = check_survival_target((event, time))
        r = np.asarray(risk, dtype=np.float64).reshape(-1)
        if r.shape[0] != t.shape[0]:
            raise ValueError(f"risk has {r.shape[0]} values but the target has {t.shape[0]}")
        if not np.isfinite(r).all():
            raise ValueError("risk contains NaN or infinite values; the model diverged")
        self.shift_ = float(r.max())
        w = np.exp(r - self.shift_)
        order = np.argsort(t, kind="mergesort")
        t_s, ev_s, w_s = t[order], ev[order], w[order]
        uniq, first = np.unique(t_s, return_index=True)
        at_risk = np.cumsum(w_s[::-1])[::-1][first]
        deaths = np.add.reduceat(ev_s.astype(np.float64), first)
        keep = deaths > 0
        self.unique_times_ = uniq[keep]
        self.cum_baseline_hazard_ = np.cumsum(deaths[keep] / at_risk[keep])
        return self

    def _h0(self, times: Any) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "unique_times_"):
            raise RuntimeError("BreslowBaseline is not fitted; call fit first")
        tt = np.asarray(self.unique_times_ if times is None else times, dtype=np.float64).reshape(
            -1
        )
        if not np.isfinite(tt).all():
            raise ValueError("times must be finite")
        idx = np.searchsorted(self.unique_times_, tt, side="right")
        h = np.concatenate([[0.0], self.cum_baseline_hazard_])[idx]
        return tt, h

    def cumulative_hazard(self, risk: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard ``H(t | r)``, shape (n_samples, n_times)."""
        _, h0 = self._h0(times)
        r = np.asarray(risk, dtype=np.float64).reshape(-1)
        return np.exp(r - self.shift_)[:, None] * h0[None, :]

    def survival(self, risk: Any, times: Any = None) -> np.ndarray:
        """Survival probability ``S(t | r)``, shape (n_samples, n_times), non-increasing in t."""
        return np.exp(-self.cumulative_hazard(risk, times))

    def baseline_survival(self, times: Any = None) -> np.ndarray:
        """Baseline survival ``S0(t)`` for a patient with risk 0."""
        return self.survival(np.zeros(1), times)[0]

    def to_state(self) -> dict[str, np.ndarray]:
        """Arrays describing the fitted estimator (for safetensors)."""
        return {
            "unique_times": self.unique_times_,
            "cum_baseline_hazard": self.cum_baseline_hazard_,
            "shift": np.array([self.shift_]),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> BreslowBaseline:
        """Rebuild a fitted estimator from :meth:`to_state` output."""
        obj = cls()
        obj.unique_times_ = np.asarray(state["unique_times"], dtype=np.float64)
        obj.cum_baseline_hazard_ = np.asarray(state["cum_baseline_hazard"], dtype=np.float64)
        obj.shift_ = float(np.asarray(state["shift"]).reshape(-1)[0])
        return obj
