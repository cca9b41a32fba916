"""RNA-seq preprocessing as scikit-learn transformers: transform, top-variance genes, scaling.

Expression tables arrive on many scales. :class:`ExpressionTransform` looks at the
training data (never at outcomes) and picks ``log2(x + 1)`` for counts or TPM,
``arcsinh`` for already-normalised values with heavy tails (such as per-gene
z-scores that reach the tens of thousands) and nothing for log-scale data; the
genes are then selected by variance on that stabilised scale, standardised and
clipped (:class:`Clip`), so that no patient sits tens of standard deviations out.
:func:`make_rnaseq_preprocessor` chains these steps.

Fit them on the training data only (inside a :class:`~sklearn.pipeline.Pipeline`
they are refitted on each cross-validation fold). A DataFrame in gives a
DataFrame out (same index, the kept column names); ``set_output(transform="pandas")``
works as in scikit-learn. NaN values pass through; infinite values are refused.

Fitted state can be saved without pickle: every transformer has
``to_state() -> (arrays, config)`` (a dict of numpy arrays for safetensors and a
JSON-serialisable dict) and ``from_state(arrays, config)``;
:func:`pipeline_to_state` / :func:`pipeline_from_state` do the same for a Pipeline
(which may also hold a scikit-learn :class:`~sklearn.impute.SimpleImputer`).
"""

from coxmt.preprocessing._genes import TopVarianceGenes
from coxmt.preprocessing._pipeline import chosen_transform, make_rnaseq_preprocessor
from coxmt.preprocessing._scaling import Clip, StandardScaler
from coxmt.preprocessing._state import pipeline_from_state, pipeline_to_state
from coxmt.preprocessing._transform import (
    TRANSFORMS,
    ExpressionTransform,
    Log2Transform,
    choose_transform,
    expression_statistics,
)

__all__ = [
    "TRANSFORMS",
    "Clip",
    "ExpressionTransform",
    "Log2Transform",
    "StandardScaler",
    "TopVarianceGenes",
    "choose_transform",
    "chosen_transform",
    "expression_statistics",
    "make_rnaseq_preprocessor",
    "pipeline_from_state",
    "pipeline_to_state",
]

# The public classes and functions name this package as their module, not the private file
# that defines them: saved cross-validation results key their resume check on "module.Class"
# of each preprocessing step, and pickles record the same path.
for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
