"""Site-held-out validation for TCGA cohorts: test patients come from unseen hospitals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedGroupKFold

from coxmt._random import derive_seed, draw_seed
from coxmt._validation import check_survival_target

__all__ = ["SiteHeldOutKFold", "site_codes"]


def site_codes(ids: Any) -> np.ndarray:
    """Tissue-source-site codes (``XX`` in ``TCGA-XX-YYYY``) of TCGA barcodes.

    The tissue-source site is the hospital or collection centre that sent the
    sample; batch effects follow it, so holding whole sites out of training
    estimates how a model transfers to a new centre.

    Parameters
    ----------
    ids : sequence of str
        TCGA case or sample barcodes.

    Returns
    -------
    numpy.ndarray of object
        One two-character code per ID.

    Examples
    --------
    >>> from coxmt.model_selection import site_codes
    >>> site_codes(["TCGA-A2-A0CM", "TCGA-BH-A18V"]).tolist()
    ['A2', 'BH']
    """
    out = []
    for i in ids:
        parts = str(i).split("-")
        if len(parts) < 3 or parts[0].upper() != "TCGA":
            raise ValueError(
                f"patient ID {i!r} is not a TCGA barcode (TCGA-XX-YYYY); site-held-out "
                "validation needs TCGA case IDs (or pass groups= explicitly)"
            )
        out.append(parts[1])
    return np.asarray(out, dtype=object)


def _event(y: Any, n: int) -> np.ndarray:
    if y is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(y)
    if arr.ndim == 1 and arr.dtype.names is None and arr.dtype.kind in "biu" and len(arr) == n:
        return arr.astype(bool)  # an event indicator (what InnerCVSearch passes)
    event, _ = check_survival_target(y, n_samples=n, require_events=False)
    return event


class SiteHeldOutKFold(BaseCrossValidator):
    """Grouped K-fold by TCGA tissue-source site, stratified on the event indicator.

    Every site's patients fall in the same fold, so test patients come from sites
    never seen in training. The groups are the site codes of ``X.index`` (TCGA
    barcodes, see :func:`site_codes`) unless ``groups`` is given. A drop-in
    scikit-learn splitter: it works as ``cv=`` of ``cross_validate``,
    ``GridSearchCV`` or :class:`~coxmt.model_selection.InnerCVSearch`.

    Parameters
    ----------
    n_splits : int, default 5
        Folds per repeat (at most the number of sites).
    n_repeats : int, default 1
        Repeats with different assignments of sites to folds; ``split`` yields
        ``n_splits * n_repeats`` pairs, repeat by repeat.
    random_state : int or None, default None
        Seed; repeat ``r`` shuffles with ``derive_seed(random_state, 11, r)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from coxmt.model_selection import SiteHeldOutKFold, site_codes
    >>> ids = [f"TCGA-S{i % 6}-{i:04d}" for i in range(60)]
    >>> X = pd.DataFrame(np.zeros((60, 2)), index=ids)
    >>> event = np.arange(60) % 3 == 0
    >>> cv = SiteHeldOutKFold(3, random_state=0)
    >>> folds = list(cv.split(X, event))
    >>> len(folds), all(not set(site_codes(X.index[tr])) & set(site_codes(X.index[te]))
    ...                 for tr, te in folds)
    (3, True)
    """

    def __init__(self, n_splits: int = 5, *, n_repeats: int = 1, random_state: int | None = None):
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of (train, test) pairs ``split`` yields."""
        return int(self.n_splits) * int(self.n_repeats)

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield sorted ``(train, test)`` row positions; no site is on both sides.

        Parameters
        ----------
        X : DataFrame indexed by TCGA barcodes, or array-like with ``groups``
        y : survival target or event indicator, optional
            Folds are stratified on the event when given.
        groups : array-like of shape (n_samples,), optional
            Site (or any group) labels; default ``site_codes(X.index)``.
        """
        if int(self.n_splits) < 2:
            raise ValueError(f"n_splits must be >= 2, got {self.n_splits}")
        if int(self.n_repeats) < 1:
            raise ValueError(f"n_repeats must be >= 1, got {self.n_repeats}")
        if groups is None:
            if not isinstance(X, pd.DataFrame):
                raise ValueError(
                    "SiteHeldOutKFold needs the sites: pass X as a DataFrame indexed by TCGA "
                    "barcodes, or groups=site labels"
                )
            groups = site_codes(X.index)
        groups = np.asarray(groups)
        n = len(groups)
        n_sites = len(np.unique(groups))
        if n_sites < int(self.n_splits):
            raise ValueError(
                f"only {n_sites} sites for n_splits={self.n_splits}; lower n_splits to at most "
                f"{n_sites}"
            )
        event = _event(y, n)
        seed = draw_seed(self.random_state)
        for r in range(int(self.n_repeats)):
            cv = StratifiedGroupKFold(
                int(self.n_splits), shuffle=True, random_state=derive_seed(seed, 11, r)
            )
            for tr, te in cv.split(np.zeros((n, 1)), event, groups):
                yield np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)
