"""Saving and loading fitted models: safetensors + JSON, never pickle.

A saved model is a directory::

    model_dir/
      config.json          format version, class, hyperparameters, architecture,
                           feature names, preprocessing configuration, checksums
      weights.safetensors  network weights, Breslow baseline, preprocessing arrays

Loading parses JSON and reads raw tensors only, so a model file received from
someone else cannot run code on your machine. The weights file's SHA-256 is
checked: a tampered or truncated file is refused.

The file format knows no estimator class. A saved model names its class (and the
module defining it); :func:`load_model` finds the class in a registry that model
classes join when they are defined (subclasses of :class:`RegisteredModel`, or
classes passed to :func:`register_model_class`). coxmt's own estimators are
public names of the :mod:`coxmt` package, which imports them on first use.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from sklearn.pipeline import Pipeline

import coxmt
from coxmt._atomic import atomic_write_text
from coxmt._device import resolve_device
from coxmt.pipeline import SurvivalPipeline
from coxmt.preprocessing import pipeline_from_state, pipeline_to_state

__all__ = [
    "FORMAT_VERSION",
    "RegisteredModel",
    "atomic_write_text",
    "load_model",
    "register_model_class",
    "registered_model_classes",
    "save_model",
]

FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "weights.safetensors"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_T = TypeVar("_T", bound=type)
_REGISTRY: dict[str, type] = {}


def register_model_class(cls: _T) -> _T:
    """Make ``cls`` loadable by :func:`load_model` under its class name (a class decorator).

    The class needs ``_export_state()`` and a ``_from_state(arrays, config)``
    classmethod; classes without them (mixins) and names starting with ``_``
    (private bases) are left out.
    Registering another class under a name already taken replaces it only when
    it is the same class defined again (a reloaded module); two different
    classes with one name are an error.

    Examples
    --------
    >>> @register_model_class
    ... class MyModel:
    ...     def _export_state(self): ...
    ...     @classmethod
    ...     def _from_state(cls, arrays, config): ...
    >>> registered_model_classes()["MyModel"] is MyModel
    True
    """
    name = cls.__name__
    if name.startswith("_") or not (hasattr(cls, "_export_state") and hasattr(cls, "_from_state")):
        return cls
    known = _REGISTRY.get(name)
    if known is not None and known is not cls:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if f"{known.__module__}.{known.__qualname__}" != where:
            raise ValueError(
                f"a model class named {name!r} is already registered ({known.__module__}."
                f"{known.__qualname__}); give {where} another name so saved models stay "
                "unambiguous"
            )
    _REGISTRY[name] = cls
    return cls


def registered_model_classes() -> dict[str, type]:
    """The model classes :func:`load_model` knows, by name (a copy)."""
    return dict(_REGISTRY)


class RegisteredModel:
    """Base class whose subclasses register themselves for :func:`load_model`.

    Every subclass whose name does not start with ``_`` is passed to
    :func:`register_model_class` when it is defined.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_model_class(cls)


_MODEL_PACKAGES = ("coxmt.estimators.", "coxmt.model_selection.")
"""Packages whose modules define saved model classes (imported on load when named by a file)."""


def model_class(name: Any, config: dict[str, Any], where: str | Path) -> Any:
    """The registered class a saved model (or a model saved inside one) names.

    coxmt's own classes load on first use. ``where`` names the file or the part of a
    saved model in the error for an unknown class.

    A public name of the ``coxmt`` package is imported through the facade; another
    class defined in a module of coxmt (``coxmt.estimators.baselines``, ...) through
    the module the file names. Only modules of coxmt's model packages are imported
    because a file names them (:data:`_MODEL_PACKAGES`), never another module.
    """
    module = config.get("module")
    if isinstance(name, str) and name not in _REGISTRY and name in coxmt.__all__:
        getattr(coxmt, name)  # the public facade imports the module that defines (registers) it
    if (
        name not in _REGISTRY
        and isinstance(module, str)
        and module.startswith(_MODEL_PACKAGES)
        and module not in sys.modules
    ):
        try:
            importlib.import_module(module)  # a coxmt module registers its classes on import
        except ModuleNotFoundError:
            pass  # refused below, naming the module
    if name in _REGISTRY:
        return _REGISTRY[name]
    if isinstance(module, str) and module and module not in sys.modules:
        hint = f"`import {module}` registers it, then load again"
    elif isinstance(module, str) and module:
        hint = (
            f"{module} is imported but defines no registered class of that name; re-save the model"
        )
    else:
        hint = "import the module that defines it (the class registers itself), then load again"
    raise ValueError(
        f"{where} holds an unknown model class {name!r}; known: {sorted(_REGISTRY)}. {hint}"
    )


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
    full: dict[str, Any] = {
        "format": "coxmt-model",
        "format_version": FORMAT_VERSION,
        "coxmt_version": coxmt.__version__,
        "class": type(estimator).__name__,
        "module": type(estimator).__module__,
        **config,
    }
    if pre is not None:
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
    name = config.get("class")
    cls: Any = model_class(name, config, path)
    model_arrays = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        estimator = cls._from_state(model_arrays, config)
        if "preprocessing" not in config:
            return estimator
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
    return SurvivalPipeline([*pre.steps, ("model", estimator)])


# -- helpers for the estimators' ``_export_state`` / ``_from_state`` --------------------------
def jsonable(value: Any) -> Any:
    """A hyperparameter value as JSON can store it (tuples as lists, NumPy scalars as Python).

    A ``numpy.random.RandomState`` is stored as None (it cannot be saved).

    Examples
    --------
    >>> import numpy as np
    >>> jsonable((np.int64(3), 4))
    [3, 4]
    """
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.RandomState):
        return None
    return value


def prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` named ``"<prefix>.<key>"``, as ``{key: array}``.

    Examples
    --------
    >>> prefixed({"module.w": 1, "baseline.t": 2}, "module")
    {'w': 1}
    """
    start = f"{prefix}."
    return {k[len(start) :]: v for k, v in arrays.items() if k.startswith(start)}


def module_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A torch module's state as ``{"module.<name>": array}`` (on the CPU)."""
    return {f"module.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_state(module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load the ``"module.*"`` entries of ``arrays`` into ``module``; a mismatch is a ValueError."""
    state = {k: torch.from_numpy(v.copy()) for k, v in prefixed(arrays, "module").items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"model weights do not match the saved architecture: {exc}") from None


def saved_device(params: dict[str, Any]) -> torch.device:
    """The device a loaded model runs on: its ``device`` parameter, or the CPU when that
    device is missing here (a model trained on a GPU loads on a CPU-only machine)."""
    try:
        return resolve_device(params.get("device", "auto"))
    except ValueError:
        return torch.device("cpu")
