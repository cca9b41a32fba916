"""
Adding an unlabeled cohort
==========================

Cox-MT can learn from patients without an outcome: pass them as ``X_unlabeled``. This
page shows where they go in a plain fit, in scikit-learn's grid search (wrapped in
:class:`~coxmt.model_selection.Unlabeled`), in nested tuning with
:class:`~coxmt.model_selection.InnerCVSearch`, and in a cross-validated comparison.
"""

# %%
# A labeled and an unlabeled cohort
# ---------------------------------
# The built-in cohort has outcomes for every patient. To play the usual situation (an
# expression cohort of which only part has follow-up), hide the outcomes of 80 patients.
import numpy as np

from coxmt.data import load_demo

table = load_demo()
rng = np.random.default_rng(0)
hidden = rng.permutation(len(table.y))[:80]
is_labeled = np.ones(len(table.y), dtype=bool)
is_labeled[hidden] = False
X, y = table.X[is_labeled], table.y[is_labeled]
U = table.X[~is_labeled]  # expression only: no time, no event
print(f"{len(X)} labeled patients ({y['event'].sum()} events), {len(U)} unlabeled")

# %%
# A plain fit
# -----------
# The unlabeled rows enter only the consistency loss ``L_u`` (the student and the
# teacher should agree on them); the Cox loss uses the labeled patients. By default the
# censored labeled patients enter ``L_u`` too (``consistency_on="censored+unlabeled"``).
# ``backend_`` says which training engine ran (the fast full-batch one here).
from coxmt import CoxMT

model = CoxMT(max_epochs=60, random_state=0).fit(X, y, X_unlabeled=U)
print(model.backend_, "| C-index on the labeled patients:", round(model.score(X, y), 3))

# %%
# Inside scikit-learn's cross-validation: ``Unlabeled``
# -----------------------------------------------------
# scikit-learn's ``GridSearchCV`` and ``cross_validate`` cut every fit parameter that has
# as many rows as ``X`` by the folds and pass the others whole. Unlabeled patients must
# go whole to every fit, whatever their number, so coxmt refuses a plain array there;
# wrap it in :class:`~coxmt.model_selection.Unlabeled`.
from sklearn.model_selection import GridSearchCV

from coxmt.model_selection import Unlabeled

grid = {"consistency_weight": [0.3, 3.0]}
search = GridSearchCV(CoxMT(max_epochs=30, random_state=0), grid, cv=3)
search.fit(X, y, X_unlabeled=Unlabeled(U))
print(search.best_params_, round(search.best_score_, 3))

# %%
# Nested tuning: ``InnerCVSearch``
# --------------------------------
# :class:`~coxmt.model_selection.InnerCVSearch` is the grid search written for
# semi-supervised survival models: inner folds stratified on the event, the unlabeled
# patients given whole to every inner fit and to the refit, inner validation patients
# never used as unlabeled data. Used as the estimator of an outer cross-validation, it
# gives nested cross-validation: the tuning sees only each outer training fold.
from coxmt.model_selection import InnerCVSearch

inner = InnerCVSearch(CoxMT(max_epochs=30, random_state=0), grid, cv=3, random_state=0)
inner.fit(X, y, X_unlabeled=U)
print(inner.cv_results_.round(3))
print("chosen:", inner.best_params_)

# %%
# A comparison that uses the unlabeled cohort
# -------------------------------------------
# :func:`coxmt.experiments.cross_validate` passes ``X_unlabeled`` to the models whose
# ``fit`` accepts it (Cox-MT here) and never to the others (Cox-nnet), and transforms
# it with each training fold's fitted preprocessing. When ``X_unlabeled`` is a DataFrame
# indexed by patient IDs, rows of a fold's test patients are removed from it for that
# fold, so a test patient can never be seen as unlabeled data. Here tuning is nested:
# each outer fold runs its own ``InnerCVSearch``.
from coxmt import CoxNnet
from coxmt.experiments import cross_validate, paired_comparison
from coxmt.preprocessing import make_rnaseq_preprocessor

models = {
    "Cox-MT (tuned)": InnerCVSearch(CoxMT(max_epochs=30), grid, cv=2),
    "Cox-MT": CoxMT(max_epochs=30),
    "Cox-nnet": CoxNnet(max_epochs=30),
}
results = cross_validate(
    models,
    X,
    y,
    X_unlabeled=U,
    n_splits=3,
    n_repeats=1,
    preprocessing=make_rnaseq_preprocessor(k=None),
    verbose=False,
)
print(results[["model", "fold", "c_index", "ibs"]].round(3))
print(paired_comparison(results, reference="Cox-MT (tuned)")[["model", "mean_diff"]].round(3))

# %%
# Label scarcity
# --------------
# :class:`~coxmt.model_selection.LabelFraction` keeps a stratified fraction of the labels
# of each training set and hands the other patients to the model as unlabeled data (or
# drops them for a supervised model): the experiment behind the question "does Cox-MT
# help when few outcomes are known?". What the TCGA experiments found is on the page
# :doc:`/guide/findings`.
from coxmt.model_selection import LabelFraction

scarce = LabelFraction(CoxMT(max_epochs=30, random_state=0), fraction=0.25, random_state=0)
scarce.fit(X, y)
print(round(scarce.score(X, y), 3))
