"""Survival metrics: Harrell's and Uno's C, Brier score, time-dependent AUC, bootstrap CIs.

Risk scores follow one convention: higher risk = higher hazard = shorter
survival (what ``CoxNnet.predict`` returns). :func:`brier_score` and
:func:`integrated_brier_score` take survival probabilities instead. Values
match scikit-survival's ``sksurv.metrics``; the tests cross-check them against
scikit-survival and lifelines.

Tie conventions of the concordance indices:

* A pair ``(i, j)`` is comparable when ``i`` has an observed event and
  ``time[i] < time[j]``, or ``time[i] == time[j]`` and ``j`` is censored; two
  events at the same time are not comparable (as in scikit-survival and lifelines).
* Risks whose absolute difference is ``<= tied_tol`` (default ``1e-8``, as in
  scikit-survival and torchsurv) are tied and count 0.5. lifelines counts only
  exactly equal scores as tied: ``tied_tol=0`` matches it.
* lifelines' ``concordance_index`` expects predicted *survival times*: give it ``-risk``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from coxmt._validation import check_survival_target, format_rows

__all__ = [
    "BootstrapResult",
    "ConcordanceResult",
    "bootstrap_ci",
    "brier_score",
    "concordance_index",
    "concordance_index_details",
    "concordance_index_ipcw",
    "cumulative_dynamic_auc",
    "integrated_brier_score",
    "kaplan_meier",
]


class ConcordanceResult(NamedTuple):
    """Harrell's C and its pair counts, in the order of ``sksurv.metrics.concordance_index_censored``."""

    cindex: float
    concordant: int
    discordant: int
    tied_risk: int
    tied_time: int


class BootstrapResult(NamedTuple):
    """Point estimate, percentile-bootstrap interval and number of usable resamples."""

    estimate: float
    low: float
    high: float
    n_valid: int


# --------------------------------------------------------------------------- inputs
def _check_risk(risk: Any, n: int, name: str = "risk", ndim: tuple[int, ...] = (1,)) -> np.ndarray:
    arr = np.asarray(risk)
    if arr.ndim == 2 and 1 in ndim and 2 not in ndim and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.shape[0] != n:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but the survival target has {n} samples; "
            "pass one prediction per patient, in the same order"
        )
    bad = np.flatnonzero(~np.isfinite(arr).reshape(n, -1).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} contains NaN or infinite values at rows {format_rows(bad)}; "
            "check the model's predictions (a diverged fit gives NaN)"
        )
    return arr


def _check_tol(tied_tol: float) -> float:
    tol = float(tied_tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tied_tol must be a finite number >= 0, got {tied_tol!r}")
    return tol


def _check_times(
    times: Any, test_time: np.ndarray, name: str = "times"
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sorted times, column order)``; times must lie in ``[min, max)`` of test follow-up."""
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of time points, got shape {t.shape}"
        )
    if not np.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values; pass finite time points")
    order = np.argsort(t, kind="stable")
    ts = t[order]
    dup = np.unique(ts[1:][ts[1:] == ts[:-1]])
    if dup.size:
        raise ValueError(
            f"{name} contains duplicated values {dup.tolist()}; pass each time point once"
        )
    lo, hi = float(test_time.min()), float(test_time.max())
    bad = np.flatnonzero((t < lo) | (t >= hi))
    if bad.size:
        raise ValueError(
            f"{name} at positions {format_rows(bad)} (values {t[bad][:5].tolist()}) lie outside the "
            f"follow-up of y_test, [{lo:g}, {hi:g}): after the last test time nobody is at risk, so "
            f"the metric is undefined there. Pass time points in [{lo:g}, {hi:g}), e.g. quantiles "
            "of the test event times"
        )
    return ts, order


# --------------------------------------------------------------------------- Kaplan-Meier
def _km_table(event: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unique times with numbers of events, at risk and censored (ascending times)."""
    order = np.argsort(time, kind="stable")
    ts = time[order]
    n = ts.shape[0]
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    total = np.diff(np.r_[starts, n])
    n_events = np.add.reduceat(event[order].astype(np.int64), starts)
    n_at_risk = n - np.cumsum(np.r_[0, total])[:-1]
    return ts[starts], n_events, n_at_risk, total - n_events


def _km_product(n_events: np.ndarray, n_at_risk: np.ndarray) -> np.ndarray:
    ratio = np.divide(n_events, n_at_risk, out=np.zeros(n_events.shape[0]), where=n_events != 0)
    return np.cumprod(1.0 - ratio)


def kaplan_meier(event: Any, time: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the survival function ``S(t) = P(T > t)``.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        1/True where death was observed, 0/False where censored.
    time : array-like of shape (n_samples,)
        Follow-up time.

    Returns
    -------
    times : ndarray of shape (n_unique_times,)
        Sorted unique event and censoring times.
    survival : ndarray of shape (n_unique_times,)
        Survival just after each time (right-continuous steps; 1 before ``times[0]``).

    Examples
    --------
    >>> t, s = kaplan_meier([1, 0, 1, 1], [2.0, 3.0, 3.0, 5.0])
    >>> t.tolist(), s.round(3).tolist()
    ([2.0, 3.0, 5.0], [0.75, 0.5, 0.0])
    """
    ev, t = check_survival_target((event, time), require_events=False)
    uniq, n_events, n_at_risk, _ = _km_table(ev, t)
    return uniq, _km_product(n_events, n_at_risk)


def _step_lookup(grid: np.ndarray, prob: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Value of the right-continuous step function ``(grid, prob)`` at ``t <= grid[-1]``."""
    idx = np.searchsorted(grid, t)
    exact = np.absolute(grid[idx] - t) < np.finfo(np.float64).eps
    idx[~exact] -= 1
    return prob[idx]


class _CensoringKM(NamedTuple):
    """Kaplan-Meier estimate ``G`` of the censoring distribution (events count first at ties)."""

    grid: np.ndarray
    prob: np.ndarray

    @classmethod
    def fit(cls, y_train: Any) -> _CensoringKM:
        ev, t = check_survival_target(y_train, require_events=False)
        uniq, n_events, n_at_risk, n_cens = _km_table(ev, t)
        prob = _km_product(n_cens, n_at_risk - n_events)
        return cls(np.r_[-np.inf, uniq], np.r_[1.0, prob])

    def __call__(self, t: np.ndarray, rows: np.ndarray, what: str, fix: str) -> np.ndarray:
        """``G(t)``; raises when ``t`` lies beyond the training follow-up."""
        t_max = float(self.grid[-1])
        beyond = t > t_max
        if beyond.any() and self.prob[-1] > 0:
            raise ValueError(
                f"{what} {format_rows(rows[beyond])} exceed the longest follow-up in y_train "
                f"({t_max:g}); the censoring distribution is estimated from y_train and is unknown "
                f"beyond it. {fix}"
            )
        out = np.zeros(t.shape[0])
        out[~beyond] = _step_lookup(self.grid, self.prob, t[~beyond])
        return out


# --------------------------------------------------------------------------- counting
def _threshold(u: np.ndarray, r: np.ndarray, k: np.ndarray, tol: float, strict: bool) -> np.ndarray:
    """How many sorted unique ``u`` satisfy ``r - u > tol`` (strict) or ``r - u >= -tol``, per ``r``.

    ``k`` is a first guess. The differences are evaluated in floating point
    exactly as scikit-survival does (``abs(u - r) <= tol`` means tied), so
    boundary cases agree bit for bit.
    """

    def pred(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a - b) > tol if strict else (a - b) >= -tol

    k = k.copy()
    first = True
    while True:
        m = np.flatnonzero(k < u.shape[0])
        up = m[pred(r[m], u[k[m]])]
        m = np.flatnonzero(k > 0)
        down = m[~pred(r[m], u[k[m] - 1])]
        if up.size == 0 and down.size == 0:
            return k
        if first:  # guesses far off (many distinct risks within tol): binary search them
            far = np.r_[up, down]
            if strict:
                k[far] = np.searchsorted(u, r[far] - tol, "left")
            else:
                k[far] = np.searchsorted(u, r[far] + tol, "right")
            first = False
        else:  # the binary search is off by at most a rounding error
            k[up] += 1
            k[down] -= 1


def _prefix_counts(values: np.ndarray, n_values: int, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``#{p < x[m] : values[p] < q[m]}`` for every query ``m``, in O((n + m) log n_values).

    A 4-ary wavelet matrix over ``values`` (integers in ``[0, n_values)``)
    answers all queries together, two bits per level, with vectorised numpy.
    """
    n = values.shape[0]
    idt = np.int32 if 5 * (n + 1) < 2**31 else np.int64
    stride = n + 1
    cur = values.astype(idt)
    x, q = x.astype(idt), q.astype(idt)
    s = np.zeros_like(x)
    cnt = np.zeros(x.shape[0], dtype=idt)
    # row k of c: how many of the first p values (at this level) have digit < k
    c = np.zeros((5, stride), dtype=idt)
    c[4] = np.arange(stride, dtype=idt)
    flat = c.reshape(-1)
    pos = c[4, :n]
    out = np.empty_like(cur)
    for level in range((max(int(n_values).bit_length(), 1) + 1) // 2 - 1, -1, -1):
        digit = np.bitwise_and(np.right_shift(cur, 2 * level), 3)
        for k in (1, 2, 3):
            np.cumsum(digit < k, out=c[k, 1:])
        qd = np.bitwise_and(np.right_shift(q, 2 * level), 3)
        lo = qd * stride
        ax, as_ = flat[lo + x], flat[lo + s]
        np.add(cnt, ax - as_, out=cnt)
        if level == 0:
            break
        lo += stride
        bx, bs = flat[lo + x], flat[lo + s]
        start = c[qd, n]
        x, s = start + (bx - ax), start + (bs - as_)
        i0 = digit * stride + pos  # stable partition by digit
        out[c[digit, n] + flat[i0 + stride] - flat[i0]] = cur
        cur, out = out, cur
    return cnt


def _pair_counts(
    event: np.ndarray, time: np.ndarray, risk: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per observed event ``i``: its row, comparable, concordant and tied-risk counts.

    Sorting by time with events before censored samples at equal times makes the
    patients comparable to event ``i`` exactly the positions ``>= c_i`` (later
    times, and censored samples at ``i``'s time), so every count is a 2-D
    dominance count answered by :func:`_prefix_counts`.
    """
    n = time.shape[0]
    order = np.argsort(time)
    ts = time[order]
    new = np.r_[True, ts[1:] != ts[:-1]]
    key = (np.cumsum(new) - 1) * 2 + ~event[order]
    if np.any(key[1:] < key[:-1]):  # put events before censored samples at tied times
        order = order[np.argsort(key)]
    ev, rk = event[order], risk[order]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    n_ev = np.add.reduceat(ev.astype(np.int64), starts)
    n_cens = (ends - starts) - n_ev
    pos = np.flatnonzero(ev)
    c = (ends - n_cens)[(np.cumsum(new) - 1)[pos]]
    u, v = np.unique(rk, return_inverse=True)
    v = v.reshape(-1)
    below_all = np.r_[0, np.cumsum(np.bincount(v, minlength=u.shape[0]))]
    # a risk value is tied to another sample when repeated or within tol of a neighbour
    near = np.diff(u) <= tol
    tied_value = (below_all[1:] - below_all[:-1] > 1) | np.r_[False, near] | np.r_[near, False]
    tie = np.flatnonzero(tied_value[v[pos]])  # other events have [lo, hi) = [v, v + 1)
    lo = v[pos]
    lo[tie] = _threshold(u, rk[pos[tie]], lo[tie], tol, strict=True)
    hi = _threshold(u, rk[pos[tie]], v[pos[tie]] + 1, tol, strict=False)
    queries = np.r_[lo, hi]
    below = below_all[queries] - _prefix_counts(v, u.shape[0], np.r_[c, c[tie]], queries)
    concordant = below[: pos.shape[0]]
    tied = np.zeros_like(concordant)
    tied[tie] = below[pos.shape[0] :] - concordant[tie]
    return order[pos], n - c, concordant, tied, int(np.dot(n_ev, n_cens))


_NO_PAIRS = (
    "no comparable pairs: the concordance index needs an observed event whose time is "
    "shorter than another patient's follow-up time (or equal to a censored patient's)"
)


def _no_pairs_reason(event: np.ndarray, time: np.ndarray) -> str:
    if not event.any():
        return "; all samples are censored. Check the event coding (1 = death observed)"
    return (
        f"; every observed event happens at the largest time ({time.max():g}) and no patient "
        "was censored then. Evaluate on more patients"
    )


def concordance_index_details(
    event: Any, time: Any, risk: Any, *, tied_tol: float = 1e-8
) -> ConcordanceResult:
    """Harrell's C with its pair counts, like ``sksurv.metrics.concordance_index_censored``.

    Parameters
    ----------
    event, time, risk, tied_tol
        As in :func:`concordance_index` (higher ``risk`` = shorter survival).

    Returns
    -------
    ConcordanceResult
        ``(cindex, concordant, discordant, tied_risk, tied_time)``; ``tied_time``
        counts comparable pairs of an event and a censored patient at the same time.

    Examples
    --------
    >>> concordance_index_details([1, 1, 0, 1], [1.0, 2.0, 2.0, 4.0], [3.0, 2.0, 2.0, 0.5])
    ConcordanceResult(cindex=0.9, concordant=4, discordant=0, tied_risk=1, tied_time=1)
    """
    ev, t = check_survival_target((event, time), require_events=False, min_samples=2)
    r = _check_risk(risk, t.shape[0])
    tol = _check_tol(tied_tol)
    _, comparable, conc, tied, tied_time = _pair_counts(ev, t, r, tol)
    n_pairs = int(comparable.sum())
    if n_pairs == 0:
        raise ValueError(_NO_PAIRS + _no_pairs_reason(ev, t))
    n_conc, n_tied = int(conc.sum()), int(tied.sum())
    cindex = (2 * n_conc + n_tied) / (2 * n_pairs)
    return ConcordanceResult(cindex, n_conc, n_pairs - n_conc - n_tied, n_tied, tied_time)


def concordance_index(event: Any, time: Any, risk: Any, *, tied_tol: float = 1e-8) -> float:
    """Harrell's concordance index (C-index) of a risk score, in O(n log n).

    The fraction of comparable pairs in which the patient with the higher
    ``risk`` has the shorter survival (higher risk = shorter survival).
    Identical to ``sksurv.metrics.concordance_index_censored``; the module
    docstring states the tie conventions.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        1/True where death was observed, 0/False where censored.
    time : array-like of shape (n_samples,)
        Time of death or censoring.
    risk : array-like of shape (n_samples,)
        Predicted risk score; higher = higher hazard = shorter survival. For
        predicted survival times pass ``-predicted_time``.
    tied_tol : float, default 1e-8
        Risks differing by at most ``tied_tol`` count as tied (0.5 each).
        ``tied_tol=0`` counts only exactly equal risks as tied, like lifelines.

    Returns
    -------
    float
        C in [0, 1]; 0.5 is random ordering, 1 perfect.

    Raises
    ------
    ValueError
        When there is no comparable pair (e.g. all samples censored).

    Examples
    --------
    >>> concordance_index([1, 1, 0, 1], [1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.5, 0.5])
    1.0
    >>> from lifelines.utils import concordance_index as lifelines_ci
    >>> float(lifelines_ci([1.0, 2.0, 3.0, 4.0], -np.array([3.0, 2.0, 1.5, 0.5]), [1, 1, 0, 1]))
    1.0
    """
    return concordance_index_details(event, time, risk, tied_tol=tied_tol).cindex


def concordance_index_ipcw(
    y_train: Any, y_test: Any, risk: Any, tau: float | None = None, *, tied_tol: float = 1e-8
) -> float:
    """Uno's concordance index with inverse probability of censoring weights.

    Harrell's C with each comparable pair weighted by ``1 / G(t_i)**2``, ``G``
    the Kaplan-Meier censoring distribution of ``y_train``, which removes the
    dependence on the test set's censoring. Higher ``risk`` = shorter survival.
    Matches ``sksurv.metrics.concordance_index_ipcw``.

    Parameters
    ----------
    y_train : structured array, DataFrame or (event, time)
        Training outcomes, used to estimate the censoring distribution.
    y_test : structured array, DataFrame or (event, time)
        Test outcomes for the patients scored by ``risk``.
    risk : array-like of shape (n_test,)
        Predicted risk score; higher = shorter survival.
    tau : float, optional
        Truncation time: only events before ``tau`` count. Needed when test events
        happen after the longest training follow-up; ``P(censoring > tau)`` must be > 0.
    tied_tol : float, default 1e-8
        Tolerance for tied risks (see :func:`concordance_index`).

    Returns
    -------
    float

    Examples
    --------
    >>> y = ([1, 0, 1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> round(concordance_index_ipcw(y, y, [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]), 6)
    1.0
    """
    ev, t = check_survival_target(y_test, require_events=False, min_samples=2)
    r = _check_risk(risk, t.shape[0])
    tol = _check_tol(tied_tol)
    tau_f = np.inf
    if tau is not None:
        try:
            tau_f = float(tau)
        except (TypeError, ValueError):
            tau_f = np.nan
        if not 0 < tau_f < np.inf:
            raise ValueError(f"tau must be a positive finite time, got {tau!r}")
    cens = _CensoringKM.fit(y_train)
    rows, comparable, conc, tied, _ = _pair_counts(ev, t, r, tol)
    t_ev = t[rows]
    used = t_ev < tau_f
    g = np.zeros(rows.shape[0])
    fix = f"Pass tau <= {cens.grid[-1]:g} to ignore events at or after tau."
    g[used] = cens(t_ev[used], rows[used], "test event times at rows", fix)
    if (g[used] == 0).any():
        zero = rows[used][g[used] == 0]
        raise ValueError(
            f"the censoring survival function estimated from y_train is zero at the times of test "
            f"events at rows {format_rows(zero)} (every training patient followed that long was "
            f"censored), so their weights are infinite. {fix}"
        )
    w = np.zeros(rows.shape[0])
    w[used] = np.square(1.0 / g[used])
    den = float(np.dot(w, comparable))
    if den == 0:
        if tau is None:
            raise ValueError(_NO_PAIRS + _no_pairs_reason(ev, t))
        raise ValueError(
            f"{_NO_PAIRS}, among the events before tau={tau_f:g} ({int(used.sum())} in y_test). "
            "Pass a larger tau or evaluate on more patients"
        )
    return float(np.dot(w, conc) + 0.5 * np.dot(w, tied)) / den


# --------------------------------------------------------------------------- Brier / AUC
def _check_survival_matrix(
    survival: Any, y_test: Any, times: Any, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ev, t = check_survival_target(y_test, require_events=False)
    ts, order = _check_times(times, t)
    est = np.asarray(survival)
    if est.ndim == 1 and ts.shape[0] == 1:
        est = est.reshape(-1, 1)
    est = _check_risk(est, t.shape[0], name, ndim=(2,))
    if est.shape[1] != ts.shape[0]:
        raise ValueError(
            f"{name} has {est.shape[1]} columns but {ts.shape[0]} time points were given; "
            f"column k must hold the prediction at times[k]"
        )
    bad = np.flatnonzero(((est < -1e-6) | (est > 1 + 1e-6)).any(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; rows {format_rows(bad)} do not. Pass "
            "survival probabilities (predict_survival_function), not risk scores"
        )
    return ev, t, ts, est[:, order]


def brier_score(
    y_train: Any, y_test: Any, survival: Any, times: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Time-dependent Brier score with inverse probability of censoring weights.

    At each ``t``, the mean over test patients of ``S(t|x_i)**2 / G(t_i)`` for
    deaths by ``t`` and ``(1 - S(t|x_i))**2 / G(t)`` for patients alive after
    ``t``; ``G`` is the Kaplan-Meier censoring distribution of ``y_train``.
    Lower is better. Takes survival probabilities, not risk scores. Matches
    ``sksurv.metrics.brier_score``, but test patients followed longer than
    the training set are accepted when their weight is not needed (``G`` is
    only evaluated at ``times`` and at test deaths up to ``max(times)``).

    Parameters
    ----------
    y_train : structured array, DataFrame or (event, time)
        Training outcomes, used to estimate the censoring distribution.
    y_test : structured array, DataFrame or (event, time)
        Test outcomes.
    survival : array-like of shape (n_test, n_times)
        Predicted survival probability of each test patient at each of ``times``
        (e.g. ``model.predict_survival_function(X_test, times)``).
    times : array-like of shape (n_times,)
        Distinct times in ``[min, max)`` of the test follow-up and within the
        training follow-up; unsorted times are sorted with their columns.

    Returns
    -------
    times : ndarray of shape (n_times,)
        Sorted time points.
    scores : ndarray of shape (n_times,)
        Brier score at each time point.

    Examples
    --------
    >>> y = ([1, 0, 1, 1], [1.0, 2.0, 3.0, 4.0])
    >>> t, bs = brier_score(y, y, [[0.1], [0.9], [0.8], [0.9]], [1.5])
    >>> t.tolist(), bs.round(4).tolist()
    ([1.5], [0.0175])
    """
    ev, t, ts, est = _check_survival_matrix(survival, y_test, times, "survival")
    cens = _CensoringKM.fit(y_train)
    rows = np.arange(ts.shape[0])
    fix = "Pass times no later than the training follow-up."
    g_t = cens(ts, rows, "times at positions", fix)
    need = np.flatnonzero(ev & (t <= ts[-1]))
    g_y = np.full(t.shape[0], np.inf)
    g_y[need] = cens(t[need], need, "test death times at rows", fix)
    g_t[g_t == 0] = np.inf  # scikit-survival convention: weight 0 where G = 0
    g_y[g_y == 0] = np.inf
    is_case = (t[:, None] <= ts[None, :]) & ev[:, None]
    is_control = t[:, None] > ts[None, :]
    terms = np.square(est) * is_case / g_y[:, None] + np.square(1.0 - est) * is_control / g_t
    return ts, terms.mean(axis=0)


def integrated_brier_score(y_train: Any, y_test: Any, survival: Any, times: Any) -> float:
    """Integrated Brier score: the Brier score averaged over ``[times[0], times[-1]]``.

    Trapezoidal rule over :func:`brier_score`, divided by ``times[-1] - times[0]``;
    lower is better. Takes survival probabilities, not risk scores. Matches
    ``sksurv.metrics.integrated_brier_score``.

    Parameters
    ----------
    y_train, y_test, survival, times
        As in :func:`brier_score`; at least two time points.

    Returns
    -------
    float

    Examples
    --------
    >>> y = ([1, 0, 1, 1], [1.0, 2.0, 3.0, 4.0])
    >>> surv = [[0.2, 0.1], [0.9, 0.8], [0.8, 0.7], [0.9, 0.8]]
    >>> round(integrated_brier_score(y, y, surv, [1.5, 3.5]), 4)
    0.1131
    """
    ts, scores = brier_score(y_train, y_test, survival, times)
    if ts.shape[0] < 2:
        raise ValueError(
            "integrated_brier_score needs at least two time points to integrate over; "
            "use brier_score for a single time point"
        )
    return float((np.diff(ts) * (scores[1:] + scores[:-1]) / 2.0).sum() / (ts[-1] - ts[0]))


def cumulative_dynamic_auc(
    y_train: Any, y_test: Any, risk: Any, times: Any, *, tied_tol: float = 1e-8
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic time-dependent AUC of a risk score.

    At each ``t``, the IPCW-weighted probability that a patient who died by ``t``
    (case) has a higher ``risk`` than a patient alive after ``t`` (control):
    higher risk = shorter survival. Matches ``sksurv.metrics.cumulative_dynamic_auc``.

    Parameters
    ----------
    y_train, y_test : structured array, DataFrame or (event, time)
        Training outcomes (they give the censoring distribution) and test outcomes.
    risk : array-like of shape (n_test,) or (n_test, n_times)
        Risk score, or one risk score per time point (column k for ``times[k]``).
    times : array-like of shape (n_times,)
        Distinct time points within ``[min, max)`` of the test follow-up.
    tied_tol : float, default 1e-8
        Risks differing by at most ``tied_tol`` are tied.

    Returns
    -------
    auc : ndarray of shape (n_times,)
        AUC at each sorted time point.
    mean_auc : float
        Mean AUC weighted by the test Kaplan-Meier estimate's drops over the times.

    Examples
    --------
    >>> y = ([1, 1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0, 5.0])
    >>> auc, mean = cumulative_dynamic_auc(y, y, [5.0, 4.0, 3.0, 2.0, 1.0], [1.5, 3.0])
    >>> auc.tolist(), mean
    ([1.0, 1.0], 1.0)
    """
    ev, t = check_survival_target(y_test, require_events=False)
    ts, order = _check_times(times, t)
    est = _check_risk(risk, t.shape[0], ndim=(1, 2))
    if est.ndim == 2:
        if est.shape[1] != ts.shape[0]:
            raise ValueError(
                f"risk has {est.shape[1]} columns but {ts.shape[0]} time points were given; "
                "pass a 1-D risk or one column per time point"
            )
        est = est[:, order]
    tol = _check_tol(tied_tol)
    cens = _CensoringKM.fit(y_train)
    need = np.flatnonzero(ev & (t <= ts[-1]))
    fix = "Pass times below the training follow-up."
    g = cens(t[need], need, "test death times at rows", fix)
    if (g == 0).any():
        raise ValueError(
            f"the censoring survival function estimated from y_train is zero at the death times of "
            f"test rows {format_rows(need[g == 0])}, so their weights are infinite. {fix}"
        )
    ipcw = np.zeros(t.shape[0])
    ipcw[need] = 1.0 / g
    scores = np.empty(ts.shape[0])
    for k, tk in enumerate(ts):
        col = est if est.ndim == 1 else est[:, k]
        o = np.argsort(-col, kind="stable")
        is_case = (t[o] <= tk) & ev[o]
        if not is_case.any():
            raise ValueError(
                f"no test patient died at or before time {tk:g}, so the AUC there is undefined; "
                "pass time points after the first test death"
            )
        tied = np.absolute(np.diff(np.r_[np.inf, col[o]])) <= tol
        tp = np.cumsum(is_case * ipcw[o])
        fp = np.cumsum(t[o] > tk)
        keep = np.ones(t.shape[0], dtype=bool)
        keep[np.flatnonzero(tied) - 1] = False  # keep only the last of tied risks
        tpr = np.r_[0.0, (tp / tp[-1])[keep]]
        fpr = np.r_[0.0, (fp / fp[-1])[keep]]
        scores[k] = (np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0).sum()
    if ts.shape[0] == 1:
        return scores, float(scores[0])
    uniq, n_events, n_at_risk, _ = _km_table(ev, t)
    s_t = _step_lookup(np.r_[-np.inf, uniq], np.r_[1.0, _km_product(n_events, n_at_risk)], ts)
    d = -np.diff(np.r_[1.0, s_t])
    return scores, float((scores * d).sum() / (1.0 - s_t[-1]))


# --------------------------------------------------------------------------- bootstrap
def _as_resamplable(a: Any) -> Any:
    if hasattr(a, "iloc"):
        return a
    if isinstance(a, tuple):
        return tuple(np.asarray(x) for x in a)
    return np.asarray(a)


def _take(a: Any, idx: np.ndarray) -> Any:
    if hasattr(a, "iloc"):
        return a.iloc[idx]
    if isinstance(a, tuple):
        return tuple(x[idx] for x in a)
    return a[idx]


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> BootstrapResult:
    """Percentile bootstrap confidence interval of any metric.

    Rows are resampled with replacement jointly across ``arrays`` (the same
    patients in each) and the ``(1 -/+ confidence) / 2`` percentiles of the
    recomputed metric returned. Resamples where the metric raises ``ValueError``
    or ``ZeroDivisionError`` (no event, no comparable pair) or returns NaN are
    skipped: ``n_valid`` counts the rest, and more than 10% skipped warns.

    Parameters
    ----------
    metric : callable
        ``metric(*arrays) -> float``, e.g. :func:`concordance_index`, or
        ``functools.partial(concordance_index_ipcw, y_train)`` with arrays
        ``(y_test, risk)``. For a risk score, higher = shorter survival.
    *arrays : array-like, DataFrame or (event, time) pair
        Same number of rows each.
    n_bootstrap : int, default 1000
        Number of resamples.
    confidence : float, default 0.95
        Coverage of the interval.
    random_state : int, numpy Generator or None
        Seed of the resampling.

    Returns
    -------
    BootstrapResult
        ``(estimate, low, high, n_valid)``; ``estimate`` is the metric on all rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> time = rng.exponential(size=200)
    >>> event = rng.random(200) < 0.7
    >>> res = bootstrap_ci(concordance_index, event, time, -time, n_bootstrap=50, random_state=0)
    >>> res.estimate, res.low <= res.high, res.n_valid
    (1.0, True, 50)
    """
    if not callable(metric):
        raise ValueError(f"metric must be callable, got {type(metric).__name__}")
    if not arrays:
        raise ValueError(
            "pass at least one array to resample, e.g. bootstrap_ci(metric, event, time, risk)"
        )
    if (
        isinstance(n_bootstrap, bool)
        or not isinstance(n_bootstrap, int | np.integer)
        or n_bootstrap < 1
    ):
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}")
    if not 0 < float(confidence) < 1:
        raise ValueError(
            f"confidence must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    data = [_as_resamplable(a) for a in arrays]
    lengths = [len(a[0]) if isinstance(a, tuple) else len(a) for a in data]
    if len(set(lengths)) != 1:
        raise ValueError(f"arrays must have the same number of rows, got lengths {lengths}")
    estimate = float(metric(*arrays))
    rng = np.random.default_rng(random_state)
    n = lengths[0]
    values = np.full(int(n_bootstrap), np.nan)
    for b in range(int(n_bootstrap)):
        idx = rng.integers(0, n, n)
        try:
            values[b] = metric(*(_take(a, idx) for a in data))
        except (ValueError, ZeroDivisionError):
            continue
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(
            f"the metric failed on all {n_bootstrap} bootstrap resamples (too few events or "
            "comparable pairs); a confidence interval needs more patients or events"
        )
    skipped = int(n_bootstrap) - values.size
    if skipped > 0.1 * int(n_bootstrap):
        warnings.warn(
            f"{skipped} of {n_bootstrap} bootstrap resamples were skipped because the metric "
            "could not be computed on them (too few events or comparable pairs); the interval "
            "is based on the remaining resamples and may be too narrow",
            UserWarning,
            stacklevel=2,
        )
    alpha = (1.0 - float(confidence)) / 2.0
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return BootstrapResult(estimate, float(low), float(high), int(values.size))
