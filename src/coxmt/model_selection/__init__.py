"""Model selection for semi-supervised survival models.

Above the estimators and below the experiments: the recommended model
(:class:`CoxMTCV`: Cox-MT tuned by inner CV, seed-ensembled, calibrated), fitting many models at once
(:func:`fit_many`), nested hyperparameter search that
keeps unlabeled patients whole (:class:`InnerCVSearch`), the wrapper that makes
scikit-learn's own searches do the same (:class:`Unlabeled`), label-scarcity
training (:class:`LabelFraction`), seed ensembles (:class:`SeedEnsemble`), post-hoc
calibration of the risk scale (:class:`CalibratedRisk`), site-held-out splits for TCGA cohorts
(:class:`SiteHeldOutKFold`, :func:`site_codes`), and gene alignment across
cohorts (:func:`align_genes`).

Unlabeled patients in scikit-learn's ``GridSearchCV``: wrap them, and every fold's
fit receives all of them::

    GridSearchCV(CoxMT(), grid).fit(X, y, X_unlabeled=Unlabeled(U))

A plain array is refused there with an error (scikit-learn would cut it by the
folds when it has as many rows as ``X`` and pass it whole otherwise).
"""

from coxmt._random import derive_seed
from coxmt._validation import Unlabeled
from coxmt.model_selection._calibration import CalibratedRisk, fit_risk_scale
from coxmt.model_selection._cox_mt_cv import DEFAULT_GRID, CoxMTCV
from coxmt.model_selection._ensemble import SeedEnsemble
from coxmt.model_selection._fit_many import fit_many
from coxmt.model_selection._genes import align_genes, gene_symbol
from coxmt.model_selection._label_fraction import LabelFraction
from coxmt.model_selection._meta import accepts_unlabeled, chosen_setting, is_semi_supervised
from coxmt.model_selection._search import InnerCVSearch
from coxmt.model_selection._sites import SiteHeldOutKFold, site_codes

__all__ = [
    "DEFAULT_GRID",
    "CalibratedRisk",
    "CoxMTCV",
    "InnerCVSearch",
    "LabelFraction",
    "SeedEnsemble",
    "SiteHeldOutKFold",
    "Unlabeled",
    "accepts_unlabeled",
    "align_genes",
    "chosen_setting",
    "derive_seed",
    "fit_many",
    "fit_risk_scale",
    "gene_symbol",
    "is_semi_supervised",
    "site_codes",
]
