"""Site-held-out splits of TCGA cohorts and gene alignment across cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score

from coxmt import PenalizedCox
from coxmt.model_selection import SiteHeldOutKFold, align_genes, derive_seed, site_codes

from .conftest import tcga_like


def test_no_site_on_both_sides_and_every_patient_tested_once_per_repeat() -> None:
    X, y = tcga_like(n=90)
    cv = SiteHeldOutKFold(3, n_repeats=2, random_state=0)
    folds = list(cv.split(X, y))
    sites = site_codes(X.index)
    assert len(folds) == cv.get_n_splits() == 6
    for tr, te in folds:
        assert not set(sites[tr]) & set(sites[te])
        assert len(tr) + len(te) == 90
    for r in range(2):
        tested = np.concatenate([te for _, te in folds[3 * r : 3 * r + 3]])
        assert np.array_equal(np.sort(tested), np.arange(90))


def test_same_folds_as_the_documented_seeding() -> None:
    """Repeat r = StratifiedGroupKFold(shuffle, derive_seed(random_state, 11, r)) (results stay reproducible)."""
    X, y = tcga_like(n=90)
    got = list(SiteHeldOutKFold(3, n_repeats=2, random_state=7).split(X, y["event"]))
    want = []
    for r in range(2):
        cv = StratifiedGroupKFold(3, shuffle=True, random_state=derive_seed(7, 11, r))
        want += list(cv.split(np.zeros((90, 1)), y["event"], site_codes(X.index)))
    for (a_tr, a_te), (b_tr, b_te) in zip(got, want, strict=True):
        assert np.array_equal(a_tr, np.sort(b_tr)) and np.array_equal(a_te, np.sort(b_te))


def test_works_as_cv_of_sklearn() -> None:
    X, y = tcga_like(n=90)
    scores = cross_val_score(PenalizedCox(alpha=0.1), X, y, cv=SiteHeldOutKFold(3, random_state=0))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize(
    ("X", "groups", "match"),
    [
        pytest.param(np.zeros((12, 2)), None, "pass X as a DataFrame", id="array-no-groups"),
        pytest.param(
            pd.DataFrame(np.zeros((12, 2)), index=[f"P{i}" for i in range(12)]),
            None,
            "not a TCGA barcode",
            id="not-tcga",
        ),
        pytest.param(np.zeros((12, 2)), np.arange(12) % 2, "only 2 sites", id="few-sites"),
    ],
)
def test_errors_are_named(X: object, groups: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        list(SiteHeldOutKFold(3).split(X, None, groups))


def test_site_codes() -> None:
    assert site_codes(["TCGA-A2-A0CM", "tcga-BH-A18V-01A"]).tolist() == ["A2", "BH"]


def test_align_genes_by_symbol() -> None:
    a = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["A_rnaseq", "B_rnaseq", "C_rnaseq"])
    b = pd.DataFrame([[4.0, 5.0]], columns=["C_rnaseq", "A"])
    xa, xb, n = align_genes(a, b)
    assert n == 2 and list(xa.columns) == ["A", "C"] == list(xb.columns)
    assert xa.to_numpy().tolist() == [[1.0, 3.0]] and xb.to_numpy().tolist() == [[5.0, 4.0]]


@pytest.mark.parametrize(
    ("b", "match"),
    [
        pytest.param(pd.DataFrame([[1.0]], columns=["Z_rnaseq"]), "share no gene", id="disjoint"),
        pytest.param(
            pd.DataFrame([[1.0, 2.0]], columns=["A_rnaseq", "A"]), "duplicated gene", id="dup"
        ),
    ],
)
def test_align_genes_errors(b: pd.DataFrame, match: str) -> None:
    a = pd.DataFrame([[1.0]], columns=["A_rnaseq"])
    with pytest.raises(ValueError, match=match):
        align_genes(a, b)
