"""Exploratory, after arm (e2): can real BRCA expression give a positive control whose
unlabeled rows carry information the labeled rows lack?

Not part of the registered plan; a search for a third control (PLAN.md, note after arm
(e2)) that would pass the validity check *before* any network is compared. Candidates
plant a linear log-hazard on mid-ranked principal components of all 956 BRCA patients
(``make_rnaseq_preprocessor(k=None)`` then PCA; components a..b summed, standardised,
times ``beta``), since directions of low variance are where many unlabeled rows should
help to find the signal. Outcomes from ``positive_control.py``'s generator (Weibull
shape 1.5, 60% censored, seed 7324). Validity check per candidate, on 5-fold x ``repeats`` CV (seed
7326) with ``fraction`` of each training fold labeled: ridge Cox on the labeled rows'
scores on 20 principal components fitted on the labeled + unlabeled training rows,
against the same with components fitted on the labeled rows only. No network is fitted.

Run from the repository root::

    python benchmarks/experiments/plan/explore_control_candidates.py

Writes ``benchmarks/results/plan/explore_control_candidates.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from coxmt._atomic import atomic_write_text  # noqa: E402
from coxmt._validation import make_target  # noqa: E402
from coxmt.estimators.linear import PenalizedCox  # noqa: E402
from coxmt.experiments import make_splits  # noqa: E402
from coxmt.metrics import concordance_index  # noqa: E402
from coxmt.preprocessing import make_rnaseq_preprocessor  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from positive_control import planted_outcomes  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "tcga" / "tcga_brca.csv.gz"
OUT = ROOT / "benchmarks" / "results" / "plan" / "explore_control_candidates.md"
SEED, CV_SEED, N_PCS = 7324, 7326, 20
# (first component, last component, beta, labeled fraction, repeats)
CANDIDATES = [
    (3, 3, 1.0, 0.10, 1),
    (8, 8, 1.0, 0.10, 1),
    (15, 15, 1.0, 0.10, 1),
    (6, 10, 1.0, 0.10, 1),
    (4, 12, 1.0, 0.10, 1),
    (4, 12, 1.0, 0.05, 2),
]


def main() -> None:
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is missing (the shared TCGA data)")
    frame = pd.read_csv(DATA)
    genes = [c for c in frame.columns if c.endswith("_rnaseq")]
    X = frame[genes]
    Z = np.asarray(make_rnaseq_preprocessor(k=None).fit_transform(X))
    S = PCA(n_components=N_PCS, random_state=SEED).fit_transform(Z)
    S /= S.std(axis=0)
    lines = [
        "# Exploration: candidate third positive controls and their validity check",
        "",
        "Not registered; `python benchmarks/experiments/plan/explore_control_candidates.py`. "
        "Mean Harrell's C over the outer folds; the last column is the paired difference "
        "PCA(labeled+unlabeled) - PCA(labeled) (the validity check: positive and clear "
        "means the unlabeled rows help to find the signal).",
        "",
        "| planted on PCs | beta | oracle C | labeled | folds | ridge Cox | "
        "PCA(lab+unl) + ridge | PCA(lab) + ridge | check: mean Δ (min, max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a, b, beta, fraction, repeats in CANDIDATES:
        v = S[:, a - 1 : b].sum(axis=1)
        eta = beta * v / v.std()
        event_time, censor_time = planted_outcomes(eta, SEED)
        event, time = event_time <= censor_time, np.minimum(event_time, censor_time) + 1e-3
        oracle = concordance_index(event, time, eta)
        scores: dict[str, list[float]] = {"ridge": [], "all": [], "lab": []}
        for split in make_splits(event, n_splits=5, n_repeats=repeats, random_state=CV_SEED):
            tr, te = np.asarray(split.train), np.asarray(split.test)
            pre = make_rnaseq_preprocessor(k=1000)
            Z_tr = np.asarray(pre.fit_transform(X.iloc[tr]))
            Z_te = np.asarray(pre.transform(X.iloc[te]))
            lab, _ = train_test_split(
                np.arange(len(tr)),
                train_size=fraction,
                stratify=event[tr],
                random_state=CV_SEED + 10 * split.repeat + split.fold,
            )
            y = make_target(event[tr][lab], time[tr][lab])

            def pca_ridge(Z_fit: np.ndarray, y=y, lab=lab, Z_tr=Z_tr, Z_te=Z_te) -> np.ndarray:
                pca = PCA(n_components=N_PCS, random_state=0).fit(Z_fit)
                model = PenalizedCox(random_state=0).fit(pca.transform(Z_tr[lab]), y)
                return model.predict(pca.transform(Z_te))

            risks = {
                "ridge": PenalizedCox(random_state=0).fit(Z_tr[lab], y).predict(Z_te),
                "all": pca_ridge(Z_tr),
                "lab": pca_ridge(Z_tr[lab]),
            }
            for key, risk in risks.items():
                scores[key].append(concordance_index(event[te], time[te], risk))
        d = np.array(scores["all"]) - np.array(scores["lab"])
        pcs = f"{a}" if a == b else f"{a}-{b}"
        lines.append(
            f"| {pcs} | {beta:g} | {oracle:.3f} | {fraction:.0%} | 5x{repeats} | "
            f"{np.mean(scores['ridge']):.3f} | {np.mean(scores['all']):.3f} | "
            f"{np.mean(scores['lab']):.3f} | {d.mean():+.3f} ({d.min():+.3f}, {d.max():+.3f}) |"
        )
        print(lines[-1], flush=True)
    atomic_write_text(OUT, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
