"""Saved slide and multimodal models for tests/test_bag_estimators.py (files stay loadable).

Fits a tiny model of each bag estimator class, saves it under ``bag_models/<class>/``
and writes the inputs and the predictions to ``bag_models/predictions.json``. The
committed files were made with coxmt at commit 35f93c1, before the slide estimators
were split into ``estimators/_bag_base.py`` / ``_bag_params.py``; they stand for the
model files users already have. Run from the repository root:

    python tests/reference/make_bag_model_references.py

Packages used: coxmt only (and its dependencies: torch, safetensors).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import coxmt
from coxmt.estimators.multimodal import MultimodalCoxMT, MultimodalCoxNnet
from coxmt.estimators.wsi import WSICoxMT, WSICoxNnet

OUT = Path(__file__).with_name("bag_models")


def main() -> None:
    rng = np.random.default_rng(3)
    n = 12
    bags = [np.round(rng.normal(size=(4, 5)), 3) for _ in range(n - 1)] + [None]
    X = pd.DataFrame(np.round(rng.normal(size=(n, 6)), 3), columns=[f"g{i}" for i in range(6)])
    y = (rng.random(n) < 0.6, np.round(rng.exponential(1.0, n), 3))
    y[0][:2] = True
    wsi = dict(model_dim=4, attention_dim=4, hidden_dim=4, max_epochs=2, random_state=0)
    mm = dict(model_dim=4, n_heads=2, hidden_dim=4, max_epochs=2, random_state=0)
    models = {
        "WSICoxMT": (WSICoxMT(**wsi), (bags,)),
        "WSICoxNnet": (WSICoxNnet(**wsi), (bags,)),
        "MultimodalCoxMT": (
            MultimodalCoxMT(gene_groups={"a": ["g0", "g1"], "b": ["g2", "g5"]}, **mm),
            (X, bags),
        ),
        "MultimodalCoxNnet": (MultimodalCoxNnet(n_rna_tokens=3, **mm), (X, bags)),
    }
    predictions = {}
    for name, (model, inputs) in models.items():
        model.fit(*inputs, y)
        model.save(OUT / name)
        predictions[name] = model.predict(*inputs).tolist()
    record = {
        "coxmt_version": coxmt.__version__,
        "bags": [None if b is None else b.tolist() for b in bags],
        "X_rna": X.to_dict(orient="list"),
        "predictions": predictions,
    }
    (OUT / "predictions.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
