"""Saving and loading fitted models: safetensors + JSON, never pickle.

A saved model is a directory::

    model_dir/
      config.json          format version, class, hyperparameters, architecture,
                           feature names, preprocessing configuration, checksums
      weights.safetensors  network weights, Breslow baseline, preprocessing arrays

Loading parses JSON and reads raw tensors only, so a model file received from
someone else cannot run code on your machine. The weights file's SHA-256 is
checked: a tampered or truncated file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from sklearn.pipeline import Pipeline

from coxmt._atomic import atomic_path

__all__ = ["FORMAT_VERSION", "atomic_write_text", "load_model", "save_model"]

FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "weights.safetensors"


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.RandomState):
        return None
    return value


def _estimator_classes() -> dict[str, type]:
    from coxmt import estimators

    return {name: getattr(estimators, name) for name in estimators.__all__}


def _split_pipeline(model: Any) -> tuple[Any, Pipeline | None]:
    if isinstance(model, Pipeline):
        if len(model.steps) < 2:
            return model.steps[-1][1], None
        return model.steps[-1][1], Pipeline(model.steps[:-1])
    return model, None


def save_model(model: Any, path: str | Path) -> Path:
    """Save a fitted coxmt estimator, or a Pipeline of coxmt preprocessing + estimator.

    The directory is written next to its final place and renamed into it, so an
    interrupted save never leaves a half-written model (an existing model at
    ``path`` is replaced only once the new one is complete).

    Parameters
    ----------
    model : CoxNnet, CoxMT or sklearn.pipeline.Pipeline
        A fitted estimator (or pipeline ending in one).
    path : str or Path
        Target directory.

    Returns
    -------
    Path
        The model directory.
    """
    estimator, pre = _split_pipeline(model)
    if not hasattr(estimator, "_export_state"):
        raise ValueError(
            f"cannot save a {type(estimator).__name__}; save_model supports coxmt estimators "
            "(optionally at the end of a Pipeline of coxmt preprocessing steps)"
        )
    arrays, config = estimator._export_state()
    arrays = {f"model.{k}": np.ascontiguousarray(v) for k, v in arrays.items()}
    from coxmt import __version__

    full: dict[str, Any] = {
        "format": "coxmt-model",
        "format_version": FORMAT_VERSION,
        "coxmt_version": __version__,
        "class": type(estimator).__name__,
        **config,
    }
    if pre is not None:
        from coxmt.preprocessing import pipeline_to_state

        pre_arrays, pre_config = pipeline_to_state(pre)
        arrays.update(
            {f"preprocessing.{k}": np.ascontiguousarray(v) for k, v in pre_arrays.items()}
        )
        full["preprocessing"] = pre_config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        save_file(arrays, str(tmp / _WEIGHTS))
        full["checksums"] = {_WEIGHTS: _sha256(tmp / _WEIGHTS)}
        (tmp / _CONFIG).write_text(json.dumps(full, indent=2), encoding="utf-8")
        # mkdtemp makes a private (0700) folder; a saved model is meant to be shared
        for f in (tmp / _WEIGHTS, tmp / _CONFIG):
            os.chmod(f, 0o644)
            _fsync(f)  # on disk before the rename makes the model visible
        os.chmod(tmp, 0o755)
        backup = None
        if path.is_file():
            raise ValueError(f"{path} is a file, not a model directory; choose another path")
        if path.exists():
            if not (path / _CONFIG).exists() and any(path.iterdir()):
                raise ValueError(
                    f"{path} exists and is not a coxmt model directory; choose another path"
                )
            backup = path.with_name(f".{path.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(path, backup)
        try:
            os.replace(tmp, path)
        except BaseException:
            # interrupted between the two renames: put the previous model back
            if backup is not None and not path.exists():
                os.replace(backup, path)
            raise
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_model_config(path: str | Path) -> dict[str, Any]:
    """Read and check a model directory's ``config.json``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if not path.is_dir():
        raise ValueError(f"{path} is a file; a coxmt model is a directory holding {_CONFIG}")
    cfg_path = path / _CONFIG
    if not cfg_path.exists():
        raise ValueError(
            f"{path} is incomplete: {_CONFIG} is missing; re-save the model with coxmt"
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{cfg_path} is corrupted (not valid JSON: {exc}); re-save the model"
        ) from None
    if not isinstance(config, dict) or config.get("format") != "coxmt-model":
        raise ValueError(f"{cfg_path} is not a coxmt model configuration")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved in model format version {version} (coxmt "
            f"{config.get('coxmt_version', '?')}); this coxmt reads format <= {FORMAT_VERSION}. "
            "Upgrade coxmt (pip install -U coxmt)"
        )
    return config


def load_model(path: str | Path) -> Any:
    """Load a model saved by :func:`save_model` (no code is executed: JSON + safetensors).

    Only ``config.json`` (parsed as JSON) and ``weights.safetensors`` (raw tensors,
    checked against the SHA-256 recorded in ``config.json``) are read; any other
    file in the directory, such as a pickle, is ignored.

    Returns the estimator, or a Pipeline when preprocessing was saved with it.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        An incomplete, corrupted or tampered directory, a newer format version, or
        an unknown model class.
    """
    path = Path(path)
    config = read_model_config(path)
    weights = path / _WEIGHTS
    if not weights.exists():
        raise ValueError(f"{path} is incomplete: {_WEIGHTS} is missing; re-save the model")
    checksums = config.get("checksums")
    expected = checksums.get(_WEIGHTS) if isinstance(checksums, dict) else None
    if expected is None or _sha256(weights) != expected:
        raise ValueError(
            f"{weights} does not match the checksum recorded in {_CONFIG}: the file was "
            "modified or truncated. Refusing to load it; obtain the model again"
        )
    try:
        arrays = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights} is corrupted ({exc}); obtain the model again") from None
    classes = _estimator_classes()
    name = config.get("class")
    if name not in classes:
        raise ValueError(f"{path} holds an unknown model class {name!r}; known: {sorted(classes)}")
    model_arrays = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        cls: Any = classes[name]
        estimator = cls._from_state(model_arrays, config)
        if "preprocessing" not in config:
            return estimator
        from coxmt.preprocessing import pipeline_from_state

        pre_arrays = {
            k[len("preprocessing.") :]: v
            for k, v in arrays.items()
            if k.startswith("preprocessing.")
        }
        pre = pipeline_from_state(pre_arrays, config["preprocessing"])
    except KeyError as exc:
        raise ValueError(
            f"{path} is incomplete or corrupted: the entry {exc.args[0]!r} is missing from "
            f"{_CONFIG} or {_WEIGHTS}; re-save the model with coxmt"
        ) from None
    except (TypeError, IndexError, AttributeError) as exc:
        raise ValueError(
            f"{path} is corrupted: its {_CONFIG} does not describe a valid {name} "
            f"({type(exc).__name__}: {exc}); re-save the model with coxmt"
        ) from None
    from coxmt.pipeline import SurvivalPipeline

    return SurvivalPipeline([*pre.steps, ("model", estimator)])


def export_network_state(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """State of a fitted :class:`~coxmt.estimators._base.BaseCoxNetwork` for saving."""
    arrays = {f"module.{k}": v.detach().cpu().numpy() for k, v in est.module_.state_dict().items()}
    arrays.update({f"baseline.{k}": v for k, v in est.baseline_.to_state().items()})
    params = {k: _jsonable(v) for k, v in est.get_params(deep=False).items()}
    names = getattr(est, "feature_names_in_", None)
    config = {
        "params": params,
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "hidden_layer_sizes": list(est._hidden_sizes(est.n_features_in_)),
        "n_epochs": int(est.n_epochs_),
        "history": json.loads(est.history_.to_json(orient="records")),
    }
    return arrays, config


def import_network_state(cls: type, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """Rebuild a fitted network estimator from :func:`export_network_state` output."""
    from coxmt.baseline import BreslowBaseline
    from coxmt.estimators._base import resolve_device
    from coxmt.nn.mlp import CoxMLP

    params = dict(config["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    try:
        est = cls(**params)
    except TypeError as exc:
        raise ValueError(f"model configuration does not fit {cls.__name__}: {exc}") from None
    n = int(config["n_features_in"])
    module = CoxMLP(
        n,
        config["hidden_layer_sizes"],
        params.get("activation", "tanh"),
        params.get("dropout", 0.0),
    )
    state = {
        k[len("module.") :]: torch.from_numpy(v.copy())
        for k, v in arrays.items()
        if k.startswith("module.")
    }
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"model weights do not match the saved architecture: {exc}") from None
    try:
        device = resolve_device(params.get("device", "auto"))
    except ValueError:
        device = torch.device("cpu")
    module.to(device).eval()
    est.module_ = module
    est.device_ = device
    est.n_features_in_ = n
    if config.get("feature_names_in") is not None:
        est.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
    est.baseline_ = BreslowBaseline.from_state(
        {k[len("baseline.") :]: v for k, v in arrays.items() if k.startswith("baseline.")}
    )
    est.unique_times_ = est.baseline_.unique_times_
    est.n_epochs_ = int(config.get("n_epochs", 0))
    est.best_epoch_ = None
    est.history_ = pd.DataFrame(config.get("history", []))
    return est
