"""Exploratory, after arm (e2): do the unlabeled rows carry usable information, and does
any Mean Teacher setting use it?

Not part of the registered plan (PLAN.md); run after arm (e2) to guide the next
changes, and reported as exploration only. On the arm (e2) table
(``out/positive_control_brca_e2.csv.gz``), with the arm's design at a smaller scale
(5-fold x ``--repeats`` CV with seed 7326, fresh splits; 10% of each training fold
labeled, stratified on the event; preprocessing ``make_rnaseq_preprocessor(k=1000)``
fitted on the whole training fold, which is unsupervised), every model sees the same
labeled patients:

- ``ridge Cox``: PenalizedCox on the labeled rows;
- ``PCA(labeled+unlabeled) + ridge Cox``: the 10 leading principal components fitted on
  the labeled *and* unlabeled training rows, then ridge Cox on the labeled rows' scores
  (the simplest semi-supervised use of unlabeled rows: they shape the representation);
- ``PCA(labeled) + ridge Cox``: the same with the components fitted on labeled rows only;
- ``Cox-nnet`` and ``Cox-MT`` at their defaults, and Cox-MT with larger input noise
  (sigma 0.5, 1.0) or a larger consistency weight (w 10), the unlabeled rows given to
  Cox-MT.

Run from the repository root (after ``positive_control.py --group-effect 2 --pc-effect 2
--out out/positive_control_brca_e2.csv.gz``)::

    python benchmarks/experiments/plan/explore_positive_control.py --repeats 2

Writes ``benchmarks/results/plan/explore_positive_control.{csv,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from coxmt import CoxMT, CoxNnet  # noqa: E402
from coxmt._atomic import atomic_write_text  # noqa: E402
from coxmt._validation import make_target  # noqa: E402
from coxmt.estimators.linear import PenalizedCox  # noqa: E402
from coxmt.experiments import make_splits  # noqa: E402
from coxmt.metrics import concordance_index  # noqa: E402
from coxmt.preprocessing import make_rnaseq_preprocessor  # noqa: E402

TABLE = ROOT / "out" / "positive_control_brca_e2.csv.gz"
OUT = ROOT / "benchmarks" / "results" / "plan"
SEED = 7326


def pca_ridge(Z_fit: np.ndarray, Z_lab: np.ndarray, y: Any, Z_test: np.ndarray) -> np.ndarray:
    pca = PCA(n_components=10, random_state=SEED).fit(Z_fit)
    model = PenalizedCox(random_state=SEED).fit(pca.transform(Z_lab), y)
    return model.predict(pca.transform(Z_test))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--fraction", type=float, default=0.1)
    args = p.parse_args()
    if not TABLE.is_file():
        raise SystemExit(f"{TABLE} is missing; make it with positive_control.py (see --help)")
    frame = pd.read_csv(TABLE)
    genes = [c for c in frame.columns if c.endswith("_rnaseq")]
    X = frame[genes]
    event = frame["event"].to_numpy(bool)
    time = frame["time_months"].to_numpy(float)
    rows = []
    splits = make_splits(event, n_splits=5, n_repeats=args.repeats, random_state=SEED)
    for split in splits:
        tr, te = np.asarray(split.train), np.asarray(split.test)
        pre = make_rnaseq_preprocessor(k=1000)
        Z_tr = np.asarray(pre.fit_transform(X.iloc[tr]), dtype=np.float32)
        Z_te = np.asarray(pre.transform(X.iloc[te]), dtype=np.float32)
        lab, unl = train_test_split(
            np.arange(len(tr)),
            train_size=args.fraction,
            stratify=event[tr],
            random_state=SEED + split.repeat * 10 + split.fold,
        )
        y_lab = make_target(event[tr][lab], time[tr][lab])
        Z_lab, Z_unl = Z_tr[lab], Z_tr[unl]
        seed = SEED + split.repeat * 10 + split.fold
        risks = {
            "ridge Cox": PenalizedCox(random_state=seed).fit(Z_lab, y_lab).predict(Z_te),
            "PCA(labeled+unlabeled) + ridge Cox": pca_ridge(Z_tr, Z_lab, y_lab, Z_te),
            "PCA(labeled) + ridge Cox": pca_ridge(Z_lab, Z_lab, y_lab, Z_te),
            "Cox-nnet": CoxNnet(random_state=seed).fit(Z_lab, y_lab).predict(Z_te),
        }
        for label, params in {
            "Cox-MT": {},
            "Cox-MT sigma 0.5": {"noise_std": 0.5},
            "Cox-MT sigma 1.0": {"noise_std": 1.0},
            "Cox-MT w 10": {"consistency_weight": 10.0},
        }.items():
            model = CoxMT(random_state=seed, **params).fit(Z_lab, y_lab, X_unlabeled=Z_unl)
            risks[label] = model.predict(Z_te)
        for label, risk in risks.items():
            c = concordance_index(event[te], time[te], np.asarray(risk, dtype=np.float64))
            rows.append({"model": label, "repeat": split.repeat, "fold": split.fold, "c_index": c})
        print(f"repeat {split.repeat} fold {split.fold} done", flush=True)
    res = pd.DataFrame(rows)
    res.to_csv(OUT / "explore_positive_control.csv", index=False)
    ref = res[res["model"] == "ridge Cox"].set_index(["repeat", "fold"])["c_index"]
    lines = [
        "# Exploration after arm (e2): do the unlabeled rows carry usable information?",
        "",
        f"Not registered; `python benchmarks/experiments/plan/explore_positive_control.py "
        f"--repeats {args.repeats}` (5-fold x {args.repeats}, seed {SEED}, "
        f"{args.fraction:.0%} labels). Paired differences against ridge Cox on the labeled "
        "rows; p from the corrected resampled t-test (n_test/n_train = 1/4).",
        "",
        "| model | mean C | Δ vs ridge Cox | p (corrected t) |",
        "|---|---|---|---|",
    ]
    for model, g in res.groupby("model", sort=False):
        d = g.set_index(["repeat", "fold"])["c_index"] - ref
        j = len(d)
        se = np.sqrt((1 / j + 0.25) * d.var(ddof=1)) if j > 1 else np.nan
        pval = 2 * stats.t.sf(abs(d.mean() / se), j - 1) if se and se > 0 else np.nan
        lines.append(
            f"| {model} | {g['c_index'].mean():.3f} | {d.mean():+.3f} | "
            + ("—" if not np.isfinite(pval) else f"{pval:.2g}")
            + " |"
        )
    atomic_write_text(OUT / "explore_positive_control.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
