"""LabelFraction: same kept labels for supervised and semi-supervised models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from coxmt import CoxMT, CoxNnet
from coxmt.model_selection import LabelFraction, derive_seed, is_semi_supervised

from .conftest import tcga_like


def test_semi_vs_supervised_keep_the_same_labels() -> None:
    X, y = tcga_like(n=100)
    semi = LabelFraction(CoxMT(max_epochs=2), 0.25, random_state=5).fit(X, y)
    sup = LabelFraction(CoxNnet(max_epochs=2), 0.25, random_state=5).fit(X, y)
    assert semi.n_labeled_ == sup.n_labeled_ == 25
    assert semi.n_unlabeled_ == 100 - semi.n_labeled_
    assert sup.n_unlabeled_ == 0
    assert semi.predict(X).shape == (100,) and np.isfinite(semi.predict(X)).all()
    assert semi.predict_survival_function(X).shape[0] == 100


def test_unlabeled_given_to_fit_comes_after_the_dropped_rows(recorder: Any) -> None:
    X, y = tcga_like(n=40)
    m = LabelFraction(recorder(), 0.5, random_state=0).fit(X, y, X_unlabeled=X.iloc[:7])
    assert m.n_labeled_ == 20 and m.n_unlabeled_ == 20 + 7
    assert recorder.calls == [(20, 27)]
    m = LabelFraction(recorder(), 0.5, unlabeled_dropped=False, random_state=0).fit(X, y)
    assert m.n_unlabeled_ == 0


def test_keeps_at_least_two_events() -> None:
    event = np.zeros(50, dtype=bool)
    event[:3] = True
    kept = LabelFraction.kept_rows(event, 0.1, derive_seed(0, 1))
    assert event[kept].sum() >= 2
    assert np.array_equal(kept, LabelFraction.kept_rows(event, 0.1, derive_seed(0, 1)))


def test_y_in_another_order_keeps_the_same_patients(recorder: Any) -> None:
    X, y = tcga_like(n=40)
    y_frame = pd.DataFrame(y, index=X.index)
    a = LabelFraction(recorder(), 0.5, random_state=1).fit(X, y_frame)
    b = LabelFraction(recorder(), 0.5, random_state=1).fit(X, y_frame.iloc[::-1])
    assert a.score(X, y_frame) == b.score(X, y_frame.iloc[::-1]) > 0.5


@pytest.mark.parametrize("fraction", [pytest.param(0.0, id="zero"), pytest.param(1.5, id="big")])
def test_bad_fraction_is_named(fraction: float, recorder: Any) -> None:
    X, y = tcga_like(n=20)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        LabelFraction(recorder(), fraction).fit(X, y)


def test_is_semi_supervised_looks_through_wrappers() -> None:
    assert is_semi_supervised(CoxMT()) and not is_semi_supervised(CoxNnet())
    assert is_semi_supervised(LabelFraction(CoxMT()))
    assert not is_semi_supervised(LabelFraction(CoxNnet()))
