"""The positive-control table of the plan (arm e): real BRCA expression, synthetic outcomes.

The outcome depends on structure that unlabeled rows reveal: two latent groups found
by 2-means on the top-10 principal components of all 956 BRCA patients (expression
preprocessed by ``make_rnaseq_preprocessor(k=None, transform="auto", clip=5.0)``),
true log-hazard = 1.0 x group + 0.5 x tanh(standardised PC1), Weibull event times
(shape 1.5, median about 60 months at log-hazard 0), uniform censoring whose upper
limit is set so that 60% of patients are censored. Seed 7324 (PLAN.md section 6).
The table keeps the raw expression columns, so every model preprocesses them inside
its training folds as usual.

Run from the repository root::

    python benchmarks/experiments/plan/positive_control.py

Writes ``out/positive_control_brca.csv.gz`` (``out/`` is not tracked: the table is
derived from the TCGA data, which stay outside the repository) and prints its summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from coxmt.preprocessing import make_rnaseq_preprocessor

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "tcga" / "tcga_brca.csv.gz"
OUT = ROOT / "out" / "positive_control_brca.csv.gz"
SEED = 7324
SHAPE = 1.5
MEDIAN_MONTHS = 60.0
CENSORED = 0.60


def main() -> None:
    frame = pd.read_csv(DATA)
    genes = [c for c in frame.columns if c.endswith("_rnaseq")]
    Z = np.asarray(make_rnaseq_preprocessor(k=None).fit_transform(frame[genes]))
    scores = PCA(n_components=10, random_state=SEED).fit_transform(Z)
    group = KMeans(n_clusters=2, n_init=10, random_state=SEED).fit_predict(scores)
    pc1 = scores[:, 0] / scores[:, 0].std()
    eta = 1.0 * group + 0.5 * np.tanh(pc1)
    rng = np.random.default_rng(SEED)
    # Weibull: S(t) = exp(-(t / scale)^k * exp(eta)); median at eta = 0 is MEDIAN_MONTHS
    scale = MEDIAN_MONTHS / np.log(2.0) ** (1 / SHAPE)
    event_time = scale * (-np.log(rng.random(len(eta))) / np.exp(eta)) ** (1 / SHAPE)
    u = rng.random(len(eta))
    lo, hi = 1e-3, 1e4
    for _ in range(100):  # bisection on the censoring limit: 60% censored
        mid = np.sqrt(lo * hi)
        if np.mean(u * mid < event_time) > CENSORED:
            lo = mid
        else:
            hi = mid
    censor_time = u * np.sqrt(lo * hi)
    out = pd.DataFrame(
        {
            "case_id": frame["case_id"],
            "time_months": np.minimum(event_time, censor_time).round(3) + 0.001,
            "event": (event_time <= censor_time).astype(int),
        }
    )
    out = pd.concat([out, frame[genes]], axis=1)
    OUT.parent.mkdir(exist_ok=True)
    out.to_csv(OUT, index=False)
    print(
        f"{OUT.relative_to(ROOT)}: {len(out)} patients, {int(out.event.sum())} events "
        f"({1 - out.event.mean():.0%} censored); group sizes {np.bincount(group).tolist()}"
    )


if __name__ == "__main__":
    main()
