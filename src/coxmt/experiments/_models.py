"""Model registry: short names (as used by ``coxmt cv --models``) -> estimators."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MODEL_NAMES", "display_name", "get_model", "grid_models", "parse_param_grid"]


class _New:
    """A default hyperparameter that is an estimator: a fresh instance for every model built."""

    def __init__(self, module: str, cls: str) -> None:
        self.module, self.cls = module, cls

    def __call__(self) -> Any:
        return getattr(importlib.import_module(self.module), self.cls)()


# short name -> (module, class, display name, default hyperparameters)
_REGISTRY: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "coxmt": ("coxmt.estimators", "CoxMT", "Cox-MT", {}),
    "coxmt-cv": (
        "coxmt.model_selection",
        "CoxMTCV",
        "Cox-MT CV",
        {"estimator": _New("coxmt.estimators", "CoxMT")},
    ),
    "coxmt-cv-ridge": (
        "coxmt.model_selection",
        "CoxMTCV",
        "Cox-MT CV + ridge",
        {
            "estimator": _New("coxmt.estimators", "CoxMT"),
            "fallback": _New("coxmt.estimators.linear", "PenalizedCox"),
        },
    ),
    "coxnnet-cv": (
        "coxmt.model_selection",
        "CoxMTCV",
        "Cox-nnet CV",
        {
            "estimator": _New("coxmt.estimators", "CoxNnet"),
            "param_grid": {"learning_rate": [1e-3, 1e-2], "dropout": [0.2, 0.5]},
        },
    ),
    "coxnnet": ("coxmt.estimators", "CoxNnet", "Cox-nnet", {}),
    "coxph": ("coxmt.estimators.linear", "PenalizedCox", "CoxPH", {}),
    "coxnet": ("coxmt.estimators.linear", "PenalizedCox", "Coxnet", {"l1_ratio": 0.5}),
    "rsf": ("coxmt.estimators.baselines", "RandomSurvivalForest", "RSF", {}),
    "deepsurv": ("coxmt.estimators.baselines", "DeepSurv", "DeepSurv", {}),
}
_ALIASES = {
    "coxmtcv": "coxmt-cv",
    "cox-mt-cv": "coxmt-cv",
    "recommended": "coxmt-cv",
    "coxnnetcv": "coxnnet-cv",
    "cox-nnet-cv": "coxnnet-cv",
    "cox-mt": "coxmt",
    "cox_mt": "coxmt",
    "cox-nnet": "coxnnet",
    "cox_nnet": "coxnnet",
    "cox": "coxph",
    "cph": "coxph",
    "cox-ph": "coxph",
    "random_survival_forest": "rsf",
    "random-survival-forest": "rsf",
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _key(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)} "
            "(or pass 'package.module:ClassName' for your own estimator)"
        )
    return key


def display_name(name: str) -> str:
    """The name used in result tables (``"coxmt"`` -> ``"Cox-MT"``).

    Examples
    --------
    >>> display_name("coxnnet"), display_name("Cox-MT")
    ('Cox-nnet', 'Cox-MT')
    """
    if ":" in str(name):
        return str(name).rsplit(":", 1)[1]
    return _REGISTRY[_key(name)][2]


def get_model(name: str, **params: Any) -> Any:
    """Build an unfitted estimator from its short name.

    Parameters
    ----------
    name : str
        ``"coxmt"`` (:class:`coxmt.CoxMT`), ``"coxmt-cv"`` (the recommended model,
        :class:`coxmt.model_selection.CoxMTCV` around a default Cox-MT),
        ``"coxmt-cv-ridge"`` (the same with ridge Cox as a fallback candidate scored
        on the same inner folds),
        ``"coxnnet-cv"`` (the same recipe around Cox-nnet, tuning learning rate and
        dropout), ``"coxnnet"`` (:class:`coxmt.CoxNnet`),
        ``"coxph"`` (penalised linear Cox, ``PenalizedCox`` with its defaults),
        ``"coxnet"`` (the same with ``l1_ratio=0.5``, elastic net), ``"rsf"`` (random
        survival forest), ``"deepsurv"`` (from ``coxmt.estimators.baselines``), or
        ``"package.module:ClassName"`` for any importable estimator class.
    **params
        Hyperparameters passed to the constructor.

    Returns
    -------
    estimator

    Raises
    ------
    ValueError
        Unknown name, unknown hyperparameter, or a baseline whose dependencies are
        not installed (with the ``pip install`` line to fix it).

    Examples
    --------
    >>> get_model("coxmt", max_epochs=50).max_epochs
    50
    >>> type(get_model("Cox-nnet")).__name__
    'CoxNnet'
    """
    if ":" in str(name):
        module_name, cls_name = str(name).rsplit(":", 1)
        label, defaults = name, dict[str, Any]()
    else:
        module_name, cls_name, label, defaults = _REGISTRY[_key(name)]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if getattr(exc, "name", None) == module_name and module_name.startswith("coxmt."):
            hint = f"{module_name} is not part of this coxmt version; upgrade coxmt"
        elif module_name.startswith("coxmt."):
            hint = "this baseline needs the baselines extra: pip install coxmt[baselines]"
        else:
            hint = f"check that {module_name!r} is installed and importable"
        raise ValueError(f"model {label!r} is not available ({exc}); {hint}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ValueError(
            f"model {label!r} is not available: {module_name} has no {cls_name!r}; "
            "upgrade coxmt or choose another model"
        )
    defaults = {k: v() if isinstance(v, _New) else copy.deepcopy(v) for k, v in defaults.items()}
    own = {k: v for k, v in params.items() if "__" not in k}
    nested = {k: v for k, v in params.items() if "__" in k}  # e.g. estimator__max_epochs
    try:
        return cls(**{**defaults, **own}).set_params(**nested)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad hyperparameters for model {label!r}: {exc}") from None


def _parse_value(text: str) -> Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if re.fullmatch(r"\d+(x\d+)+", low):
        return tuple(int(v) for v in low.split("x"))
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_param_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``["key=v1,v2", ...]`` into a parameter grid.

    Values are read as int, float, true/false, none, ``64x32`` (a tuple of ints,
    e.g. for ``hidden_layer_sizes``) or else kept as strings.

    Examples
    --------
    >>> parse_param_grid(["consistency_weight=0.1,1", "hidden_layer_sizes=64x32"])
    {'consistency_weight': [0.1, 1], 'hidden_layer_sizes': [(64, 32)]}
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = str(spec).partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(
                f"bad grid entry {spec!r}; write NAME=VALUE1,VALUE2 (e.g. consistency_weight=0.1,1,3)"
            )
        if key in grid:
            raise ValueError(f"grid parameter {key!r} is given twice; list all its values once")
        grid[key] = [_parse_value(v) for v in values.split(",") if v.strip()]
    return grid


def grid_models(name: str, grid: Mapping[str, Sequence[Any]], **fixed: Any) -> dict[str, Any]:
    """One estimator per combination of ``grid`` values, named ``"Cox-MT(k=v, ...)"``.

    Examples
    --------
    >>> sorted(grid_models("coxmt", {"ema_decay": [0.9, 0.99]}, max_epochs=5))
    ['Cox-MT(ema_decay=0.9)', 'Cox-MT(ema_decay=0.99)']
    """
    from sklearn.model_selection import ParameterGrid

    base = display_name(name)
    models: dict[str, Any] = {}
    for combo in ParameterGrid({k: list(v) for k, v in grid.items()}):
        label = ", ".join(
            f"{k}={combo[k]!r}" if isinstance(combo[k], str) else f"{k}={combo[k]}" for k in grid
        )
        models[f"{base}({label})" if label else base] = get_model(name, **{**fixed, **combo})
    return models
