"""The RNA-seq preprocessing pipeline: building it and reading the transform it chose."""

from __future__ import annotations

import numbers
from typing import Any

from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from coxmt.preprocessing._genes import TopVarianceGenes
from coxmt.preprocessing._scaling import Clip, StandardScaler
from coxmt.preprocessing._transform import TRANSFORMS, ExpressionTransform, Log2Transform

_IMPUTE_STRATEGIES = ("median", "mean")


def make_rnaseq_preprocessor(
    k: int | None = 4000,
    log: bool | None = None,
    scale: bool = True,
    impute: str | None = None,
    drop_constant: bool = True,
    transform: str = "auto",
    clip: float | None = 5.0,
    verbose: bool = False,
) -> Pipeline:
    """RNA-seq preprocessing: transform -> top-``k`` variance genes -> [impute] -> [z-score -> clip].

    By default the transform is chosen from the training data (:class:`ExpressionTransform`
    with ``transform="auto"``: log2 for counts/TPM, arcsinh for heavy-tailed normalised
    values such as z-scores, nothing for log-scale data), the genes are ranked by
    variance on that stabilised scale, and the standardised values are clipped to
    ``+-clip``. Every step is fitted on the training data only.

    Parameters
    ----------
    k : int or None, default 4000
        Genes kept by variance (``None`` keeps all).
    log : bool or None, default None
        The earlier spelling: ``True`` adds a ``"log2"`` step (:class:`Log2Transform`)
        instead of the ``"transform"`` step, ``False`` adds no transform step (as
        ``transform="none"``). Give ``log`` or ``transform``, not both.
    scale : bool, default True
        Standardise each kept gene (mean 0, variance 1 on the training data).
    impute : {None, "median", "mean"}, default None
        Fill missing values (NaN) of the kept genes with their training median or
        mean (scikit-learn's :class:`~sklearn.impute.SimpleImputer`, saved with the
        model). ``None`` leaves NaN in place, and the models then refuse them.
    drop_constant : bool, default True
        Drop genes that are constant (or entirely missing) on the training data,
        noted in the ``top_variance`` step's ``note_``.
    transform : {"auto", "log2", "arcsinh", "none"}, default "auto"
        See :class:`ExpressionTransform`; ``"none"`` adds no step.
    clip : float or None, default 5.0
        After standardisation, clip the values to ``[-clip, clip]`` (a ``"clip"``
        step, :class:`Clip`); ``None`` does not clip. Ignored when ``scale=False``.
    verbose : bool, default False
        Print the transform chosen when fitting.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps named ``"transform"`` (or ``"log2"``), ``"top_variance"``,
        ``"impute"``, ``"scale"`` and ``"clip"`` (those enabled).

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=2)
    >>> [name for name, _ in pre.steps]
    ['transform', 'top_variance', 'scale', 'clip']
    >>> counts = np.array([[0.0, 1.0, 300.0], [3.0, 1.0, 700.0], [5.0, 2.0, 90.0]])
    >>> pre.fit(counts).named_steps["transform"].transform_
    'log2'
    >>> [name for name, _ in make_rnaseq_preprocessor(k=2, log=True, clip=None).steps]
    ['log2', 'top_variance', 'scale']
    >>> pre = make_rnaseq_preprocessor(k=None, scale=False, impute="median", transform="none")
    >>> pre.fit_transform(np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, 9.0]])).tolist()
    [[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]]
    """
    if impute is not None and impute not in _IMPUTE_STRATEGIES:
        raise ValueError(f"impute must be None, 'median' or 'mean', got {impute!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {list(TRANSFORMS)}, got {transform!r}")
    if log is not None and transform != "auto":
        raise ValueError(
            f"log={log!r} and transform={transform!r} both choose the transform; "
            "give transform only (log=True is transform='log2', log=False is 'none')"
        )
    if clip is not None and (
        not isinstance(clip, numbers.Real) or isinstance(clip, bool) or not clip > 0
    ):
        raise ValueError(f"clip must be a number > 0 or None (no clipping), got {clip!r}")
    steps: list[tuple[str, Any]] = []
    if log:
        steps.append(("log2", Log2Transform()))
    elif log is None and transform != "none":
        steps.append(("transform", ExpressionTransform(method=transform, verbose=verbose)))
    steps.append(("top_variance", TopVarianceGenes(k=k, drop_constant=drop_constant)))
    if impute is not None:
        # after the selection (variances ignore NaN), so only the kept genes are imputed;
        # keep_empty_features keeps the column count fixed if a gene is empty in a fold
        steps.append(("impute", SimpleImputer(strategy=impute, keep_empty_features=True)))
    if scale:
        steps.append(("scale", StandardScaler()))
        if clip is not None:
            steps.append(("clip", Clip(limit=float(clip))))
    return Pipeline(steps)


def chosen_transform(pipeline: Pipeline) -> str | None:
    """The note of the fitted pipeline's transform step (``None`` when it has none).

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=None).fit(np.array([[1.0, -40.0], [0.5, 900.0]]))
    >>> chosen_transform(pre).split(":")[0]
    'transform arcsinh'
    """
    for _, step in pipeline.steps:
        if isinstance(step, ExpressionTransform):
            check_is_fitted(step, "transform_")
            return step.note_
        if isinstance(step, Log2Transform):
            return "transform log2: chosen explicitly"
    return None
