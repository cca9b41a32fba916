"""Saving a fitted preprocessing Pipeline without pickle: ``(arrays, config)`` and back."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler as _SkStandardScaler
from sklearn.utils.validation import check_is_fitted

from coxmt.preprocessing._common import _base_config, _rebuild
from coxmt.preprocessing._genes import TopVarianceGenes
from coxmt.preprocessing._scaling import (
    _SKLEARN_SCALER,
    Clip,
    StandardScaler,
    _scaler_from_state,
    _scaler_to_state,
)
from coxmt.preprocessing._transform import ExpressionTransform, Log2Transform

_STATE_FORMAT = "coxmt.preprocessing/1"


def _step_to_state(step: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return {}, {"class": "passthrough"}
    if isinstance(
        step, Log2Transform | TopVarianceGenes | StandardScaler | ExpressionTransform | Clip
    ):
        return step.to_state()
    if type(step) is _SkStandardScaler:
        return _scaler_to_state(step)
    if type(step) is SimpleImputer:
        return _imputer_to_state(step)
    raise TypeError(
        f"cannot save a {type(step).__name__} step without pickle; supported steps are "
        "ExpressionTransform, Log2Transform, TopVarianceGenes, StandardScaler (coxmt or "
        "scikit-learn), Clip, "
        "SimpleImputer (numeric) and 'passthrough'"
    )


_SKLEARN_IMPUTER = "sklearn.impute.SimpleImputer"


def _imputer_to_state(est: SimpleImputer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    check_is_fitted(est, "statistics_")
    params = est.get_params(deep=False)
    problems = []
    if params["add_indicator"]:
        problems.append("add_indicator=True")
    if not (isinstance(params["missing_values"], float) and np.isnan(params["missing_values"])):
        problems.append(f"missing_values={params['missing_values']!r} (only NaN)")
    if not isinstance(params["strategy"], str):
        problems.append("a callable strategy")
    if params["fill_value"] is not None and not isinstance(params["fill_value"], numbers.Real):
        problems.append(f"fill_value={params['fill_value']!r} (only numbers)")
    stats = np.asarray(est.statistics_)
    if stats.dtype.kind not in "biuf":
        problems.append("non-numeric data")
    if problems:
        raise TypeError(
            f"cannot save this SimpleImputer without pickle: {', '.join(problems)} is not "
            "supported; use a numeric SimpleImputer(strategy='median' or 'mean')"
        )
    config = _base_config(est)
    config["class"] = _SKLEARN_IMPUTER
    config["params"]["missing_values"] = None  # NaN, which JSON cannot hold
    config["fit_dtype"] = str(np.dtype(est._fit_dtype))
    config["fill_dtype"] = str(np.dtype(est._fill_dtype))
    return {"statistics": stats.astype(np.float64)}, config


def _imputer_from_state(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> SimpleImputer:
    params = dict(config["params"])
    params["missing_values"] = np.nan
    est = _rebuild(SimpleImputer, config, params, check_class=False)
    est.statistics_ = np.asarray(arrays["statistics"], dtype=np.float64).copy()
    est._fit_dtype = np.dtype(config["fit_dtype"])
    est._fill_dtype = np.dtype(config["fill_dtype"])
    est.indicator_ = None
    if est.statistics_.shape != (est.n_features_in_,):
        raise ValueError(
            f"inconsistent SimpleImputer state: statistics must have shape "
            f"({est.n_features_in_},), got {est.statistics_.shape}"
        )
    return est


_STEP_CLASSES: dict[str, Any] = {
    "ExpressionTransform": ExpressionTransform,
    "Clip": Clip,
    "Log2Transform": Log2Transform,
    "TopVarianceGenes": TopVarianceGenes,
    "StandardScaler": StandardScaler,
}


def pipeline_to_state(pipeline: Pipeline) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fitted Pipeline of coxmt transformers as ``(arrays, config)`` for safetensors + JSON.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; steps must be :class:`ExpressionTransform`, :class:`Log2Transform`,
        :class:`TopVarianceGenes`, :class:`Clip`,
        :class:`StandardScaler` (coxmt's or scikit-learn's), a numeric scikit-learn
        :class:`~sklearn.impute.SimpleImputer` or ``"passthrough"``.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Keys ``"<step index>.<step name>.<array>"``.
    config : dict
        JSON-serialisable description of the steps.

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=2).fit(np.arange(12.0).reshape(4, 3) ** 2)
    >>> arrays, config = pipeline_to_state(pre)
    >>> sorted(arrays)[:2]
    ['1.top_variance.constant', '1.top_variance.support']
    >>> restored = pipeline_from_state(arrays, config)
    >>> bool(np.allclose(restored.transform(np.ones((1, 3))), pre.transform(np.ones((1, 3)))))
    True
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline must be a sklearn Pipeline, got {type(pipeline).__name__}")
    arrays: dict[str, np.ndarray] = {}
    steps = []
    for i, (name, step) in enumerate(pipeline.steps):
        if "." in name:
            raise ValueError(f"step name {name!r} contains '.'; rename the step")
        step_arrays, step_config = _step_to_state(step)
        for key, value in step_arrays.items():
            arrays[f"{i}.{name}.{key}"] = value
        steps.append({"name": name, **step_config})
    return arrays, {"format": _STATE_FORMAT, "steps": steps}


def pipeline_from_state(arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Pipeline:
    """Rebuild a fitted Pipeline from :func:`pipeline_to_state` output.

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=1).fit(np.array([[1.0, 2.0], [3.0, 2.0]]))
    >>> pipeline_from_state(*pipeline_to_state(pre)).transform(np.array([[2.0, 0.0]]))
    array([[0.]])
    """
    if config.get("format") != _STATE_FORMAT:
        raise ValueError(
            f"unknown preprocessing state format {config.get('format')!r}; expected "
            f"{_STATE_FORMAT!r} (saved by coxmt.preprocessing.pipeline_to_state)"
        )
    steps: list[tuple[str, Any]] = []
    for i, step_config in enumerate(config["steps"]):
        name = step_config["name"]
        cls_name = step_config["class"]
        if cls_name == "passthrough":
            steps.append((name, "passthrough"))
            continue
        if cls_name not in _STEP_CLASSES and cls_name not in (_SKLEARN_SCALER, _SKLEARN_IMPUTER):
            raise ValueError(
                f"unknown preprocessing step class {cls_name!r} in step {name!r}; "
                f"known: {sorted([*_STEP_CLASSES, _SKLEARN_SCALER, _SKLEARN_IMPUTER])}"
            )
        prefix = f"{i}.{name}."
        step_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if cls_name == _SKLEARN_IMPUTER:
            steps.append((name, _imputer_from_state(step_arrays, step_config)))
        elif cls_name == _SKLEARN_SCALER:
            steps.append((name, _scaler_from_state(_SkStandardScaler, step_arrays, step_config)))
        else:
            steps.append((name, _STEP_CLASSES[cls_name].from_state(step_arrays, step_config)))
    return Pipeline(steps)
