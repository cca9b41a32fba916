"""A pan-cancer unlabeled pool: other cohorts' expression rows as unlabeled data.

PLAN.md arm (d): for a cohort, the RNA rows of the other cohorts (no outcomes) are
the unlabeled data of Cox-MT. Genes are aligned by symbol
(:func:`coxmt.model_selection.align_genes`) to those common to the cohort and every
pool cohort; each pool cohort is preprocessed on itself
(``make_rnaseq_preprocessor(k=None, transform="auto", clip=5.0)``, no outcomes), once;
the labeled rows go through the training fold's preprocessing as usual, and the
pool rows take the genes that preprocessing kept (:class:`WithUnlabeledPool`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from _bench.data import Cohort
from coxmt.model_selection import align_genes
from coxmt.model_selection._meta import DelegatingSurvivalEstimator
from coxmt.preprocessing import chosen_transform, make_rnaseq_preprocessor

__all__ = ["PanCancerPool", "WithUnlabeledPool", "build_pool"]


class WithUnlabeledPool(DelegatingSurvivalEstimator):
    """Fit ``estimator`` with a fixed, already-preprocessed pool as ``X_unlabeled``.

    ``fit`` gets the training fold after the fold's preprocessing (a DataFrame whose
    columns are gene symbols); the pool rows are restricted to those columns, in
    that order, and passed as ``X_unlabeled``. Test patients are never in the pool
    (it holds other cohorts).

    Parameters
    ----------
    estimator : estimator
        A semi-supervised model (or a search around one); cloned at ``fit``.
    pool : numpy.ndarray of shape (n_pool, n_genes)
        The pool's preprocessed values.
    pool_genes : tuple of str
        The pool's column names (gene symbols).

    Examples
    --------
    >>> from coxmt import CoxMT
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["A", "B", "C"])
    >>> y = (rng.random(40) < 0.6, rng.exponential(np.exp(-X["A"].to_numpy())))
    >>> m = WithUnlabeledPool(CoxMT(max_epochs=3, random_state=0), rng.normal(size=(9, 4)),
    ...                       ("C", "A", "B", "D")).fit(X, y)
    >>> m.n_unlabeled_, m.predict(X).shape
    (9, (40,))
    """

    def __init__(self, estimator: Any, pool: np.ndarray, pool_genes: Sequence[str]) -> None:
        self.estimator = estimator
        self.pool = pool
        self.pool_genes = pool_genes

    def fit(self, X: pd.DataFrame, y: Any) -> WithUnlabeledPool:
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                "WithUnlabeledPool needs the training rows as a DataFrame with gene columns "
                "(to take the same genes from the pool)"
            )
        pos = pd.Index(list(self.pool_genes)).get_indexer(list(X.columns))
        if (pos < 0).any():
            missing = [c for c, p in zip(X.columns, pos, strict=True) if p < 0][:5]
            raise ValueError(
                f"the unlabeled pool lacks the genes {missing}; align the cohort's genes "
                "with the pool's (coxmt.model_selection.align_genes) before cross-validation"
            )
        Xu = pd.DataFrame(np.asarray(self.pool)[:, pos], columns=X.columns)
        self.estimator_ = clone(self.estimator).fit(X, y, X_unlabeled=Xu)
        self.n_unlabeled_ = int(Xu.shape[0])
        return self


class PanCancerPool:
    """The labeled cohort on the common genes and its preprocessed pool.

    ``X``: the cohort's expression on the genes common to it and every pool cohort
    (columns = gene symbols); ``pool``/``genes``: the pool rows (pool cohorts
    stacked in the given order) preprocessed cohort by cohort; ``info``: sizes and
    the transform chosen for each pool cohort.
    """

    def __init__(
        self, X: pd.DataFrame, pool: np.ndarray, genes: tuple[str, ...], info: dict[str, Any]
    ) -> None:
        self.X = X
        self.pool = pool
        self.genes = genes
        self.info = info


def build_pool(cohort: Cohort, others: Sequence[Cohort], *, clip: float = 5.0) -> PanCancerPool:
    """Align ``cohort`` and the pool cohorts ``others`` and preprocess each pool cohort on itself."""
    if not others:
        raise ValueError(f"the pool of {cohort.name!r} names no other cohort")
    X = cohort.X
    aligned = []
    for other in others:
        if other.name == cohort.name:
            raise ValueError(f"cohort {cohort.name!r} cannot be in its own unlabeled pool")
        both = X.index.intersection(other.X.index)
        if len(both):
            raise ValueError(f"patients {list(both[:5])} are in {cohort.name} and {other.name}")
        X, Xo, _ = align_genes(X, other.X)
        aligned.append(Xo)
    genes = list(X.columns)
    parts, transforms = [], {}
    for other, Xo in zip(others, aligned, strict=True):
        pre = make_rnaseq_preprocessor(k=None, transform="auto", clip=clip)
        out = pre.fit_transform(Xo.loc[:, genes])  # a DataFrame: constant genes dropped
        transforms[other.name] = chosen_transform(pre)
        parts.append(out)
    kept = [g for g in genes if all(g in p.columns for p in parts)]  # constant genes dropped
    pool = np.concatenate([p.loc[:, kept].to_numpy(np.float32) for p in parts])
    info = {
        "cohort": cohort.name,
        "pool_cohorts": [o.name for o in others],
        "pool_rows": {o.name: len(o.y) for o in others},
        "genes_common": len(kept),
        "pool_transform": transforms,
    }
    return PanCancerPool(X.loc[:, kept], pool, tuple(kept), info)
