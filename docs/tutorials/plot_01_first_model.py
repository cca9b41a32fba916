"""
A first model on the built-in cohort
====================================

Fit Cox-MT on the built-in breast-cancer cohort, predict risk scores and survival
curves for held-out patients, measure Harrell's C, Uno's C and the integrated Brier
score, and plot the curves. Then save the model and load it back.
"""

# %%
# The data
# --------
# :func:`coxmt.data.load_demo` returns the TRANSBIG breast-cancer series (GEO GSE7390):
# 198 patients, the expression of the 76 genes of a prognostic signature, and time to
# distant metastasis in days. ``y`` is a structured array with the fields ``event``
# (True = the event was observed, False = censored) and ``time``.
import numpy as np
from sklearn.model_selection import train_test_split

from coxmt.data import load_demo

table = load_demo()
print(table)
X, y = table.X, table.y
print(y[:4])
print(f"{y['event'].mean():.0%} of the patients had an observed event")

# %%
# Hold out a test set, stratified on the event so that both parts have events.
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y["event"], random_state=0
)

# %%
# A model with its preprocessing
# ------------------------------
# :func:`coxmt.preprocessing.make_rnaseq_preprocessor` chooses a variance-stabilising
# transform from the values (here the data are already on a log scale, so it applies
# none), keeps the ``k`` most variable genes (``None`` keeps all 76), z-scores them and
# clips them to +-5. Its steps and the estimator form one
# :class:`~coxmt.pipeline.SurvivalPipeline` (a scikit-learn ``Pipeline`` that also passes
# ``X_unlabeled`` through the preprocessing), so the preprocessing is fitted on the
# training patients only and saved with the model.
from coxmt import CoxMT
from coxmt.pipeline import SurvivalPipeline
from coxmt.preprocessing import make_rnaseq_preprocessor

preprocessing = make_rnaseq_preprocessor(k=None)
model = SurvivalPipeline([*preprocessing.steps, ("model", CoxMT(max_epochs=100, random_state=0))])
model.fit(X_train, y_train)
print(model.named_steps["transform"].note_)

# %%
# Risk scores and concordance
# ---------------------------
# ``predict`` returns a risk score: higher means a higher hazard, so a shorter expected
# survival. ``score`` is Harrell's C on the given patients. Uno's C weights the pairs by
# the inverse probability of censoring estimated on the *training* outcomes, and is
# truncated at a time below the longest training follow-up.
from coxmt.metrics import concordance_index, concordance_index_ipcw

risk = model.predict(X_test)
harrell = concordance_index(y_test["event"], y_test["time"], risk)
tau = np.quantile(y_train["time"], 0.9)
uno = concordance_index_ipcw(y_train, y_test, risk, tau=tau)
print(f"Harrell's C {harrell:.3f} (score() gives {model.score(X_test, y_test):.3f})")
print(f"Uno's C     {uno:.3f}")

# %%
# Survival curves and the integrated Brier score
# ----------------------------------------------
# ``predict_survival_function`` combines the risk with the Breslow baseline hazard of the
# training patients. The integrated Brier score compares these probabilities with what
# happened (censoring handled by inverse probability weights); lower is better, and a
# model that predicts the Kaplan-Meier curve for everybody is the yardstick.
from coxmt.metrics import integrated_brier_score, kaplan_meier

times = np.linspace(np.quantile(y_test["time"], 0.1), np.quantile(y_test["time"], 0.8), 50)
surv = model.predict_survival_function(X_test, times=times)
print(surv.shape)  # (patients, times)
ibs = integrated_brier_score(y_train, y_test, surv, times)
km_times, km_surv = kaplan_meier(y_train["event"], y_train["time"])
km_at = np.interp(times, km_times, km_surv)
ibs_km = integrated_brier_score(y_train, y_test, np.tile(km_at, (len(y_test), 1)), times)
print(f"IBS {ibs:.3f}; Kaplan-Meier for everybody: {ibs_km:.3f}")

# %%
# A plot: the predicted curves of the test patients with the lowest, median and
# highest risk, next to the Kaplan-Meier curve of the training patients.
import matplotlib.pyplot as plt

order = np.argsort(risk)
grid = np.linspace(0, times[-1], 200)
curves = model.predict_survival_function(X_test.iloc[order[[0, len(order) // 2, -1]]], times=grid)
fig, ax = plt.subplots(figsize=(6, 4))
for label, curve in zip(("lowest risk", "median risk", "highest risk"), curves, strict=True):
    ax.plot(grid / 365.25, curve, label=label)
ax.step(
    km_times / 365.25, km_surv, where="post", color="grey", ls="--", label="Kaplan-Meier (training)"
)
ax.set_xlim(0, times[-1] / 365.25)
ax.set_xlabel("years")
ax.set_ylabel("probability free of distant metastasis")
ax.legend()
fig.tight_layout()

# %%
# Save and load
# -------------
# Models are saved as a folder of safetensors weights and a JSON configuration (never a
# pickle), preprocessing included; the loaded model predicts the same risks.
import tempfile
from pathlib import Path

from coxmt.io import load_model, save_model

with tempfile.TemporaryDirectory() as tmp:
    path = save_model(model, Path(tmp) / "brca_coxmt")
    print(sorted(p.name for p in Path(path).iterdir()))
    again = load_model(path)
    print(np.allclose(again.predict(X_test), risk))
