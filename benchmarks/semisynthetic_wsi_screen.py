"""Screen of multimodal fusion designs on validation splits inside the BRCA training folds.

Each task takes an outer training fold of ``semisynthetic_wsi.py`` (5-fold CV, the
same splits), splits it 80/20 (stratified on events, seed = fold), fits a model on
the 80% and prints Harrell's C on the 20%. The outer test folds are never touched,
so the design chosen here can be reported on them. Cox-nnet only (the cheaper model).

    python benchmarks/semisynthetic_wsi_screen.py --folds 0 1 2 --variants old wsi refit
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semisynthetic_wsi as bench

VARIANTS: dict[str, dict[str, Any] | None] = {
    "old": {"fusion": "concat", "modality_dropout": 0.25, "auxiliary_weight": 0.0},
    "validation": {"fusion": "concat", "modality_dropout": 0.25, "auxiliary_weight": 1.0,
                   "fusion_selection": "validation"},
    "validation-md0": {"fusion": "concat", "modality_dropout": 0.0, "auxiliary_weight": 1.0,
                       "fusion_selection": "validation"},
    "refit": {"fusion": "concat", "modality_dropout": 0.25, "auxiliary_weight": 1.0,
              "fusion_selection": "validation-refit"},
    "wsi": None,  # the slides-only model
}  # fmt: skip
_CFG: dict[str, Any] = {}


def task(args: tuple[int, str]) -> dict[str, Any]:
    import torch
    from sklearn.model_selection import train_test_split

    from coxmt.experiments import make_splits
    from coxmt.metrics import concordance_index

    torch.set_num_threads(1)
    fold, name = args
    d = bench._DATA["brca"]
    outer = make_splits(d["event"], n_splits=5, n_repeats=1, random_state=0)[fold].train
    tr, va = train_test_split(outer, test_size=0.2, stratify=d["event"][outer], random_state=fold)
    cfg = copy.deepcopy(_CFG)
    variant = VARIANTS[name]
    fit_args: tuple[Any, ...]
    val_args: tuple[Any, ...]
    if variant is None:
        model = bench.make_model("WSI", "Cox-nnet", cfg, seed=fold)
        fit_args, val_args = ([d["bags"][i] for i in tr],), ([d["bags"][i] for i in va],)
    else:
        cfg["models"]["multimodal"] = {**variant, "n_heads": 4, "n_rna_tokens": 32}
        model = bench.make_model("RNA+WSI", "Cox-nnet", cfg, seed=fold)
        X = bench._scale_rna(d["X"], tr, float(cfg["rna"]["clip"]))
        fit_args = (X.iloc[tr], [d["bags"][i] for i in tr])
        val_args = (X.iloc[va], [d["bags"][i] for i in va])
    t0 = time.perf_counter()
    model.fit(*fit_args, (d["event"][tr], d["time"][tr]))
    risk = model.predict(*val_args)
    out = {
        "fold": fold,
        "variant": name,
        "c_val": round(float(concordance_index(d["event"][va], d["time"][va], risk)), 3),
        "fit_s": round(time.perf_counter() - t0, 1),
        "choice": getattr(model, "fusion_choice_", None),
        "held_out_c": getattr(model, "fusion_validation_c_index_", None),
    }
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    _CFG.update(json.loads(bench.DEFAULT_CONFIG.read_text()))
    bench._DATA["brca"] = bench.load_cohort("brca", _CFG)
    tasks = [(f, v) for f in args.folds for v in args.variants]
    with mp.get_context("fork").Pool(args.n_jobs) as pool:
        pool.map(task, tasks, chunksize=1)


if __name__ == "__main__":
    main()
