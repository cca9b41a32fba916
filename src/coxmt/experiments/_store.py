"""The results directory of a cross-validation run: configuration, parts, final tables.

Layout (every file written atomically: temporary file + ``os.replace``)::

    results_dir/
      config.json      full run configuration and its hash
      splits.csv       repeat, fold, row, id, set
      results.csv      one row per model x repeat x fold
      predictions.csv  one row per model x repeat x fold x test patient
      parts/           one JSON file per finished (model, repeat, fold)

A restart with the same configuration hash loads finished parts instead of
recomputing them; a different configuration in the same folder is refused.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import re
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coxmt._atomic import atomic_write_text

__all__ = [
    "RESULT_COLUMNS",
    "ResultsStore",
    "config_hash",
    "describe",
    "fingerprint",
    "load_results",
    "strip_no_effect",
]

RESULT_COLUMNS = [
    "model",
    "repeat",
    "fold",
    "c_index",
    "uno_c",
    "ibs",
    "fit_seconds",
    "n_train",
    "n_test",
    "n_events_train",
    "n_events_test",
    "n_unlabeled",
    "notes",
    "chosen",
]
PREDICTION_COLUMNS = ["model", "repeat", "fold", "row", "id", "time", "event", "risk"]
# result columns added after runs had been written: the value a part written before has
ADDED_RESULT_COLUMNS = {"chosen": ""}
TEXT_COLUMNS = ("notes", "chosen")


def text_columns_as_str(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text result columns as strings (empty text reads back as NaN)."""
    for c in TEXT_COLUMNS:
        if c in frame.columns:
            frame[c] = frame[c].fillna("").astype(str)
    return frame


_FORMAT = "coxmt-cv"
_FORMAT_VERSION = 1
_OUTPUTS = ("config.json", "splits.csv", "results.csv", "predictions.csv")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(obj: Any) -> Any:
    """A JSON-able, address-free description of ``obj`` (estimators by class + params)."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else str(obj)
    if isinstance(obj, np.generic):
        return describe(obj.item())
    if isinstance(obj, list | tuple):
        return [describe(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): describe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"ndarray": obj.shape, "sha256": hashlib.sha256(obj.tobytes()).hexdigest()[:16]}
    if isinstance(obj, type) or inspect.isroutine(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    if hasattr(obj, "get_params"):
        cls = type(obj)
        try:
            params = obj.get_params(deep=False)
        except TypeError:
            params = {}
        return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": describe(params)}
    return _ADDRESS.sub("", repr(obj))


_NO_EFFECT_PARAMS = frozenset({"verbose", "n_jobs"})

# parameters added to a class after runs that used it had started, with the value that
# gives the earlier results: at that value they stay out of the resume key, so those runs
# still resume (class path -> {parameter: value})
_ADDED_LATER: dict[str, dict[str, Any]] = {
    "coxmt.model_selection._cox_mt_cv.CoxMTCV": {"fallback": None},
}


def strip_no_effect(desc: Any) -> Any:
    """Drop parameters that do not change results from :func:`describe` output.

    Those are ``verbose`` and ``n_jobs``, and parameters added to a class later while at
    the value that reproduces the results from before they existed.
    """
    if isinstance(desc, list):
        return [strip_no_effect(v) for v in desc]
    if isinstance(desc, dict):
        if "class" in desc and isinstance(desc.get("params"), dict):
            later = _ADDED_LATER.get(str(desc["class"]), {})
            params = {
                k: strip_no_effect(v)
                for k, v in desc["params"].items()
                if k not in _NO_EFFECT_PARAMS and not (k in later and v == later[k])
            }
            return {**desc, "params": params}
        return {k: strip_no_effect(v) for k, v in desc.items()}
    return desc


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``config``."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(*arrays: Any) -> str:
    """SHA-256 over arrays / DataFrames (values, shapes and column names)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        if isinstance(a, pd.DataFrame):
            h.update(json.dumps([str(c) for c in a.columns]).encode())
            h.update(json.dumps([str(i) for i in a.index]).encode())
            a = a.to_numpy()
        elif isinstance(a, pd.Index | pd.Series):
            a = np.asarray([str(v) for v in a], dtype=object)
        arr = np.asarray(a)
        h.update(str(arr.shape).encode())
        if arr.dtype == object:
            h.update(json.dumps([str(v) for v in arr.ravel()]).encode())
        else:
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def _part_name(model: str, repeat: int, fold: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("._")[:40] or "model"
    tag = hashlib.sha1(model.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{tag}__r{repeat}_f{fold}.json"


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


class ResultsStore:
    """Reads and writes one results directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.parts = self.path / "parts"

    def open(self, config: dict[str, Any], hashed: dict[str, Any], *, overwrite: bool) -> str:
        """Create or resume the directory for ``config``; return the configuration hash.

        ``hashed`` holds the part of the configuration that determines the results.
        """
        digest = config_hash(hashed)
        cfg_path = self.path / "config.json"
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"results_dir {str(self.path)!r} is a file; pass a folder")
        if cfg_path.exists():
            try:
                old = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                old = {}
            if old.get("config_hash") != digest:
                if not overwrite:
                    before = old.get("resume_key", {})
                    changed = sorted(
                        k for k in hashed if describe(before.get(k)) != describe(hashed[k])
                    ) or ["(unreadable config.json)"]
                    raise ValueError(
                        f"{str(self.path)!r} holds a cross-validation run with a different "
                        f"configuration (differs in: {', '.join(changed)}); use a new results "
                        "folder, or overwrite=True (--overwrite) to discard the old results"
                    )
                self.clear()
        elif overwrite:
            self.clear()
        self.parts.mkdir(parents=True, exist_ok=True)
        if not cfg_path.exists():
            full = {
                "format": _FORMAT,
                "format_version": _FORMAT_VERSION,
                "config_hash": digest,
                **config,
                "resume_key": hashed,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": _machine(),
            }
            atomic_write_text(cfg_path, json.dumps(full, indent=2, default=str) + "\n")
        return digest

    def clear(self) -> None:
        """Delete the files this store writes (nothing else in the folder)."""
        for name in _OUTPUTS:
            (self.path / name).unlink(missing_ok=True)
        if self.parts.is_dir():
            for f in self.parts.iterdir():
                if f.is_file() and f.suffix in (".json", ".tmp"):
                    f.unlink()
            if not any(self.parts.iterdir()):
                shutil.rmtree(self.parts)

    def load_part(self, model: str, repeat: int, fold: int, digest: str) -> dict[str, Any] | None:
        """A finished part with this configuration hash, else None."""
        f = self.parts / _part_name(model, repeat, fold)
        if not f.is_file():
            return None
        try:
            part = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return None
        if not isinstance(part, dict) or part.get("config_hash") != digest:
            return None
        if (part.get("model"), part.get("repeat"), part.get("fold")) != (model, repeat, fold):
            return None
        return part

    def save_part(self, part: dict[str, Any], digest: str) -> None:
        """Write one finished task atomically."""
        body = {"config_hash": digest, **part}
        f = self.parts / _part_name(part["model"], part["repeat"], part["fold"])
        atomic_write_text(f, json.dumps(body, allow_nan=True))

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write ``frame`` to ``name`` (CSV) atomically (floats as shortest round-trip repr)."""
        atomic_write_text(self.path / name, frame.to_csv(index=False))


def load_results(results_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``results.csv`` and ``predictions.csv`` of a finished cross-validation run.

    Parameters
    ----------
    results_dir : path
        Folder written by :func:`coxmt.experiments.cross_validate` / ``coxmt cv``.

    Returns
    -------
    results, predictions : pandas.DataFrame

    Floats are read back exactly (``float_precision="round_trip"``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from coxmt import CoxNnet
    >>> from coxmt.experiments import cross_validate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = (rng.random(60) < 0.6, rng.exponential(size=60))
    >>> d = tempfile.mkdtemp()
    >>> res = cross_validate({"Cox-nnet": CoxNnet(max_epochs=5)}, X, y, n_splits=3,
    ...                      n_repeats=1, results_dir=d, verbose=False)
    >>> results, predictions = load_results(d)
    >>> results.shape[0], predictions.shape[0]
    (3, 60)
    """
    path = Path(results_dir)
    out = []
    for name in ("results.csv", "predictions.csv"):
        f = path / name
        if not f.is_file():
            raise FileNotFoundError(
                f"{str(f)!r} not found; the run has not finished (re-run it to resume)"
            )
        out.append(text_columns_as_str(pd.read_csv(f, float_precision="round_trip")))
    return out[0], out[1]
