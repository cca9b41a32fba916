"""Statistics over cross-validation results: summaries and paired model comparisons.

Folds of repeated K-fold share training patients, so their scores are not
independent. Two consequences, written into the outputs' docs:

* the t-interval of :func:`summarize` treats the ``n_splits * n_repeats`` scores
  as independent and is therefore optimistic (too narrow);
* :func:`paired_comparison` reports, next to the Wilcoxon signed-rank test, the
  corrected resampled t-test of Nadeau & Bengio (2003), whose variance term
  ``(1/J + n_test/n_train)`` accounts for the overlap of training sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["corrected_resampled_ttest", "paired_comparison", "summarize"]

_KEYS = ["repeat", "fold"]


def _check_results(results: Any, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(results, pd.DataFrame):
        raise TypeError(
            f"results must be the DataFrame returned by cross_validate, got {type(results).__name__}"
        )
    missing = [c for c in columns if c not in results.columns]
    if missing:
        raise ValueError(
            f"results lacks the columns {missing} (it has {list(results.columns)}); pass the "
            "table returned by cross_validate or read from results.csv"
        )
    return results


def summarize(
    results: pd.DataFrame, metric: str | Sequence[str] = "c_index", *, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean, standard deviation and t-interval of a metric per model.

    The confidence interval is ``mean +/- t_{(1+confidence)/2, n-1} * sd / sqrt(n)``
    over the ``n`` folds x repeats with a finite value. Cross-validation folds are
    not independent (they share training patients), so this interval is
    optimistic (too narrow); use :func:`paired_comparison` to compare models.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`coxmt.experiments.cross_validate` (or ``results.csv``).
    metric : str or list of str, default "c_index"
        Column(s) to summarise, e.g. ``["c_index", "uno_c", "ibs"]``.
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per model (x metric), in order of appearance: ``model, metric, n,
        mean, sd, ci_low, ci_high``. NaN scores are left out of ``n``.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"model": ["A"] * 3, "repeat": 0, "fold": [0, 1, 2],
    ...                     "c_index": [0.6, 0.7, 0.8]})
    >>> row = summarize(res).iloc[0]
    >>> int(row["n"]), [round(float(row[k]), 3) for k in ("mean", "sd", "ci_low")]
    (3, [0.7, 0.1, 0.452])
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    _check_results(results, ["model", *metrics])
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rows = []
    for name in pd.unique(results["model"]):
        sub = results[results["model"] == name]
        for m in metrics:
            v = pd.to_numeric(sub[m], errors="coerce").to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            k = v.size
            mean = float(v.mean()) if k else np.nan
            sd = float(v.std(ddof=1)) if k > 1 else np.nan
            half = (
                float(stats.t.ppf((1 + confidence) / 2, k - 1) * sd / np.sqrt(k))
                if k > 1
                else np.nan
            )
            rows.append(
                {
                    "model": name,
                    "metric": m,
                    "n": k,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                }
            )
    return pd.DataFrame(rows, columns=["model", "metric", "n", "mean", "sd", "ci_low", "ci_high"])


def corrected_resampled_ttest(differences: Any, n_train: Any, n_test: Any) -> tuple[float, float]:
    """Corrected resampled t-test (Nadeau & Bengio, 2003) on paired score differences.

    With ``J`` differences ``d_j`` (one per fold x repeat), sample variance ``s^2``
    and ``rho = mean(n_test / n_train)`` over the folds::

        t = mean(d) / sqrt((1 / J + rho) * s^2),   df = J - 1,

    two-sided ``p = 2 * P(T_{J-1} > |t|)``. The ``rho`` term inflates the variance
    for the overlap between training sets that the plain paired t-test ignores
    (Bouckaert & Frank, 2004, for repeated K-fold).

    Parameters
    ----------
    differences : array-like of shape (J,)
    n_train, n_test : int or array-like of shape (J,)
        Training and test set sizes of each fold.

    Returns
    -------
    t : float
    p : float
        NaN when ``J < 2``. With zero variance: ``p = 1`` if the mean difference is
        0, else ``t = +/-inf`` and ``p = 0``.

    Examples
    --------
    >>> t, p = corrected_resampled_ttest([0.02, 0.03, 0.01, 0.04, 0.0], 80, 20)
    >>> round(t, 4), round(p, 4)
    (1.8856, 0.1324)
    """
    d = np.asarray(differences, dtype=np.float64).ravel()
    j = d.size
    if j < 2:
        return np.nan, np.nan
    n_tr = np.broadcast_to(np.asarray(n_train, dtype=np.float64), d.shape)
    n_te = np.broadcast_to(np.asarray(n_test, dtype=np.float64), d.shape)
    if (n_tr <= 0).any() or (n_te <= 0).any():
        raise ValueError("n_train and n_test must be positive")
    rho = float(np.mean(n_te / n_tr))
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return 0.0, 1.0
        return float(np.sign(mean) * np.inf), 0.0
    t = mean / np.sqrt((1.0 / j + rho) * var)
    p = float(2.0 * stats.t.sf(abs(t), j - 1))
    return float(t), p


def _wilcoxon(d: np.ndarray) -> tuple[float, float]:
    if d.size < 1:
        return np.nan, np.nan
    if not np.any(d != 0):
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.wilcoxon(d)
    return float(res.statistic), float(res.pvalue)


def _bootstrap_mean_ci(
    d: np.ndarray, n_bootstrap: int, confidence: float, rng: np.random.Generator
) -> tuple[float, float]:
    if d.size < 2:
        return np.nan, np.nan
    idx = rng.integers(0, d.size, size=(n_bootstrap, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_comparison(
    results: pd.DataFrame,
    reference: str = "Cox-MT",
    metric: str = "c_index",
    *,
    n_bootstrap: int = 10_000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Compare a reference model with every other model on the same folds.

    For each other model, the per-fold differences ``d = reference - model`` (paired
    on ``repeat, fold``; folds where either score is NaN are left out) are tested
    with:

    * the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, two-sided);
    * the corrected resampled t-test of Nadeau & Bengio (2003)
      (:func:`corrected_resampled_ttest`, with the fold sizes ``n_train``/``n_test``);
    * a percentile bootstrap CI of the mean difference (resampling folds; like the
      t-interval of :func:`summarize` it ignores the dependence between folds).

    A positive ``mean_diff`` means the reference scores higher: better for
    ``c_index``/``uno_c``, worse for ``ibs`` (lower is better).

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`coxmt.experiments.cross_validate`.
    reference : str, default "Cox-MT"
    metric : str, default "c_index"
    n_bootstrap : int, default 10000
    confidence : float, default 0.95
    random_state : int or None, default 0
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per other model: ``model, reference, metric, n_pairs,
        mean_reference, mean_model, mean_diff, sd_diff, ci_low, ci_high,
        wilcoxon_stat, wilcoxon_p, corrected_t, corrected_p``.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({
    ...     "model": ["Cox-MT"] * 4 + ["Cox-nnet"] * 4, "repeat": 0, "fold": [0, 1, 2, 3] * 2,
    ...     "c_index": [0.70, 0.72, 0.69, 0.75, 0.66, 0.70, 0.68, 0.70],
    ...     "n_train": 75, "n_test": 25})
    >>> out = paired_comparison(res)
    >>> out.loc[0, "model"], round(float(out.loc[0, "mean_diff"]), 4), float(out.loc[0, "wilcoxon_p"])
    ('Cox-nnet', 0.03, 0.125)
    """
    _check_results(results, ["model", *_KEYS, metric, "n_train", "n_test"])
    models = list(pd.unique(results["model"]))
    if reference not in models:
        raise ValueError(
            f"reference model {reference!r} is not in the results (models: {models}); "
            "pass reference= one of them"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(random_state)
    ref = results[results["model"] == reference].set_index(_KEYS)
    if ref.index.has_duplicates:
        raise ValueError(f"model {reference!r} has several rows for the same repeat and fold")
    rows = []
    for name in models:
        if name == reference:
            continue
        other = results[results["model"] == name].set_index(_KEYS)
        joined = ref[[metric, "n_train", "n_test"]].join(
            other[[metric]], how="inner", lsuffix="_ref", rsuffix="_other"
        )
        a = pd.to_numeric(joined[f"{metric}_ref"], errors="coerce").to_numpy(dtype=np.float64)
        b = pd.to_numeric(joined[f"{metric}_other"], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        d = a[ok] - b[ok]
        n_tr = joined["n_train"].to_numpy(dtype=np.float64)[ok]
        n_te = joined["n_test"].to_numpy(dtype=np.float64)[ok]
        t, p_t = corrected_resampled_ttest(d, n_tr, n_te) if d.size else (np.nan, np.nan)
        w, p_w = _wilcoxon(d)
        lo, hi = _bootstrap_mean_ci(d, int(n_bootstrap), confidence, rng)
        rows.append(
            {
                "model": name,
                "reference": reference,
                "metric": metric,
                "n_pairs": int(d.size),
                "mean_reference": float(a[ok].mean()) if d.size else np.nan,
                "mean_model": float(b[ok].mean()) if d.size else np.nan,
                "mean_diff": float(d.mean()) if d.size else np.nan,
                "sd_diff": float(d.std(ddof=1)) if d.size > 1 else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "wilcoxon_stat": w,
                "wilcoxon_p": p_w,
                "corrected_t": t,
                "corrected_p": p_t,
            }
        )
    columns = [
        "model",
        "reference",
        "metric",
        "n_pairs",
        "mean_reference",
        "mean_model",
        "mean_diff",
        "sd_diff",
        "ci_low",
        "ci_high",
        "wilcoxon_stat",
        "wilcoxon_p",
        "corrected_t",
        "corrected_p",
    ]
    return pd.DataFrame(rows, columns=columns)
