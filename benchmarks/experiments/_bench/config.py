"""Experiment configuration files: reading, checking, quick (toy-size) overrides, models.

A configuration is one JSON file::

    {
      "name": "a_baselines",               # results folder name
      "title": "...", "description": "...",
      "random_state": 0, "n_jobs": 2,
      "parts": [ {"name": "...", "kind": "cv" | "sweep" | "unlabeled_pool" |
                  "label_fraction" | "external" | "site_cv" | "pan_cancer_pool", ...}, ... ]
    }

Every part may hold a ``"quick"`` object whose keys replace the part's keys in
``--quick`` mode (toy data, two folds, two epochs), used by the smoke tests.
Model specifications::

    {"label": "Cox-MT", "model": "coxmt", "params": {...},
     "n_repeats": 2,                       # optional: fewer repeats for this model
     "search": {"param": [v1, v2]}, "inner_cv": 3,   # optional: nested CV
     "unlabeled": "permuted"}                        # optional: arm (f)'s control
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from _bench.permute import PermutedUnlabeled
from coxmt.experiments import get_model
from coxmt.model_selection import InnerCVSearch

__all__ = ["KINDS", "build_model", "load_config", "quick_model_params"]

KINDS = (
    "cv",
    "sweep",
    "unlabeled_pool",
    "label_fraction",
    "external",
    "site_cv",
    "pan_cancer_pool",
)
_TOP = {"name", "title", "description", "random_state", "n_jobs", "parts", "claim"}
_MODEL_KEYS = {"label", "model", "params", "n_repeats", "search", "inner_cv", "unlabeled"}
QUICK_EPOCHS = 2


def _tuples(params: dict[str, Any]) -> dict[str, Any]:
    """JSON lists -> tuples for hidden_layer_sizes (sklearn estimators expect tuples)."""
    out = dict(params)
    if isinstance(out.get("hidden_layer_sizes"), list):
        out["hidden_layer_sizes"] = tuple(int(h) for h in out["hidden_layer_sizes"])
    return out


def quick_model_params(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """Shrink a model to toy size (``--quick``): few epochs, trees, alphas."""
    p = dict(params)
    key = model.lower()
    if key in ("coxmt", "coxnnet", "deepsurv"):
        p["max_epochs"] = QUICK_EPOCHS
        if p.get("rampup_epochs"):
            p["rampup_epochs"] = 1
        if p.get("early_stopping"):
            p["n_iter_no_change"] = 1
    elif key in ("coxmt-cv", "coxnnet-cv"):
        p["estimator__max_epochs"] = QUICK_EPOCHS
        p["cv"] = 2
        p["n_members"] = min(int(p.get("n_members", 1)), 2)
    elif key == "rsf":
        p["n_estimators"] = 5
    elif key in ("coxph", "coxnet"):
        p["n_alphas"] = 4
        p["cv"] = 2
    return p


def build_model(spec: dict[str, Any], *, quick: bool = False) -> Any:
    """An unfitted estimator from a model specification (see the module docstring)."""
    params = _tuples(dict(spec.get("params", {})))
    if quick:
        params = quick_model_params(spec["model"], params)
    est = get_model(spec["model"], **params)
    if spec.get("search"):
        grid = {
            k: [tuple(v) if isinstance(v, list) else v for v in vals]
            for k, vals in spec["search"].items()
        }
        est = InnerCVSearch(est, grid, cv=2 if quick else int(spec.get("inner_cv", 3)))
    if spec.get("unlabeled", "as given") == "permuted":  # arm (f): structure destroyed
        est = PermutedUnlabeled(est)
    elif spec.get("unlabeled", "as given") != "as given":
        raise ValueError(
            f"model {spec.get('label')!r}: 'unlabeled' must be 'as given' or 'permuted', "
            f"got {spec['unlabeled']!r}"
        )
    return est


def _check_model(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or "label" not in spec or "model" not in spec:
        raise ValueError(f"{where}: a model needs 'label' and 'model', got {spec!r}")
    extra = set(spec) - _MODEL_KEYS
    if extra:
        raise ValueError(
            f"{where}: unknown model keys {sorted(extra)}; allowed {sorted(_MODEL_KEYS)}"
        )
    build_model(spec)  # raises ValueError for unknown models / hyperparameters


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict) or part.get("kind") not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {KINDS}, got {part!r:.200}")
    if "name" not in part:
        raise ValueError(f"{where}: a part needs a 'name' (its results sub-folder)")
    models = part.get("models", [])
    labels = [m.get("label") for m in models if isinstance(m, dict)]
    if len(labels) != len(set(labels)):
        raise ValueError(f"{where}: model labels must be unique, got {labels}")
    for i, m in enumerate(models):
        _check_model(m, f"{where} model {i}")
    if part["kind"] == "sweep":
        _check_model(part.get("base"), f"{where} base")
        if not isinstance(part.get("params"), dict) or not part["params"]:
            raise ValueError(f"{where}: a sweep needs 'params': {{name: [values]}}")
    if part["kind"] == "pan_cancer_pool" and not isinstance(part.get("pools"), dict):
        raise ValueError(f"{where}: a pan-cancer pool needs 'pools': {{cohort: [other cohorts]}}")
    if part["kind"] == "external" and not part.get("pairs"):
        raise ValueError(f"{where}: external validation needs 'pairs': [[train, test], ...]")
    ref = part.get("reference")
    if (
        ref is not None
        and part["kind"] != "sweep"
        and ref not in labels
        and not any(ref.startswith(lbl) for lbl in labels)
    ):
        raise ValueError(f"{where}: reference {ref!r} is not a model label ({labels})")


QUICK_MAX_MODELS = 4


def _shrink(part: dict[str, Any]) -> None:
    """Toy-size version of a part: its "quick" keys, 2 folds, 1 repeat, one cohort, few models."""
    part.update(part.pop("quick", {}))
    part["n_splits"] = 2
    part["n_repeats"] = 1
    if "cohorts" in part:
        part["cohorts"] = part["cohorts"][:1]
    models = part.get("models", [])
    if len(models) > QUICK_MAX_MODELS:
        ref = part.get("reference")
        keep = [m for m in models if m["label"] == ref][:1]
        keep += [m for m in models if m not in keep][: QUICK_MAX_MODELS - len(keep)]
        part["models"] = keep


def load_config(path: str | Path, *, quick: bool = False) -> dict[str, Any]:
    """Read and check a configuration; in quick mode apply every part's ``"quick"`` keys."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{str(path)!r} must hold a JSON object")
    extra = set(cfg) - _TOP
    if extra:
        raise ValueError(f"{str(path)!r}: unknown top-level keys {sorted(extra)}")
    for key in ("name", "parts"):
        if key not in cfg:
            raise ValueError(f"{str(path)!r}: missing {key!r}")
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("random_state", 0)
    cfg.setdefault("n_jobs", 2)
    names = [p.get("name") for p in cfg["parts"]]
    if len(names) != len(set(names)):
        raise ValueError(f"{str(path)!r}: part names must be unique, got {names}")
    for i, part in enumerate(cfg["parts"]):
        _check_part(part, f"{path.name} part {i}")
        if quick:
            _shrink(part)
        else:
            part.pop("quick", None)
    cfg["quick"] = quick
    cfg["config_path"] = str(path)
    return cfg
