"""Time one inner-CV grid of arm (a) on BRCA: one model at a time vs ``fit_many``.

On one outer training fold of BRCA (stratified 5-fold, seed 0: not a plan split),
preprocessed as the plan says, times (1) one default fit of Cox-nnet and of Cox-MT,
(2) the 24-setting grids of plan.json over 3 inner folds (72 models each) trained
together by ``coxmt.model_selection.fit_many``. No model is scored: only seconds.

Run from the repository root (one thread)::

    OMP_NUM_THREADS=1 python benchmarks/experiments/plan/time_grid.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import ParameterGrid, StratifiedKFold

from coxmt import CoxMT, CoxNnet
from coxmt.model_selection import fit_many
from coxmt.preprocessing import make_rnaseq_preprocessor

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "data" / "tcga" / "tcga_brca.csv.gz"


def main() -> None:
    torch.set_num_threads(1)
    plan = json.loads((HERE / "plan.json").read_text())
    frame = pd.read_csv(DATA)
    genes = [c for c in frame.columns if c.endswith("_rnaseq")]
    event = frame["event"].to_numpy().astype(bool)
    y = (event, frame["time_months"].to_numpy())
    train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(frame, event))
    X = np.asarray(make_rnaseq_preprocessor(k=1000).fit_transform(frame[genes].iloc[train]))
    y_tr = (y[0][train], y[1][train])
    inner = [tr for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y_tr[0])]
    out = {"n_train": len(train), "n_inner_train": int(np.mean([len(i) for i in inner]))}
    for name, cls in (("Cox-nnet", CoxNnet), ("Cox-MT", CoxMT)):
        t0 = time.perf_counter()
        cls(random_state=0).fit(X, y_tr)
        out[f"{name} one default fit (s)"] = round(time.perf_counter() - t0, 2)
        grid = {k: v for k, v in plan["grids"][name].items() if isinstance(v, list)}
        models, rows = [], []
        for i, params in enumerate(ParameterGrid(grid)):
            for j, rows_j in enumerate(inner):
                models.append(cls(random_state=100 * i + j, **params))
                rows.append(rows_j)
        t0 = time.perf_counter()
        fit_many(models, X, y_tr, rows)
        out[f"{name} grid: {len(models)} inner fits with fit_many (s)"] = round(
            time.perf_counter() - t0, 2
        )
        out[f"{name} grid: backends"] = sorted({m.backend_ for m in models})
    print(json.dumps(out, indent=1))
    (HERE / "time_grid.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
