"""
A cross-validated comparison with a report
==========================================

Compare Cox-MT, Cox-nnet and a ridge-penalised linear Cox model on identical repeated
cross-validation splits, with the preprocessing fitted inside every training fold,
then test the paired differences and write the HTML report that ``coxmt report``
writes.
"""

# %%
# Identical splits, preprocessing inside the folds
# ------------------------------------------------
# :func:`coxmt.experiments.cross_validate` fits every model on the same repeated,
# event-stratified K-fold splits, clones the ``preprocessing`` in each fold and fits it
# on that fold's training patients only, and derives every model seed from
# ``random_state``, so that the results do not depend on the order of execution. This
# run is kept small (3 folds x 2 repeats, 50 epochs) so that the page builds in seconds;
# a real comparison uses more repeats (see :doc:`/guide/comparing`).
import tempfile
from pathlib import Path

from coxmt import CoxMT, CoxNnet, PenalizedCox
from coxmt.data import load_demo
from coxmt.experiments import cross_validate, paired_comparison, summarize
from coxmt.preprocessing import make_rnaseq_preprocessor

table = load_demo()
models = {
    "Cox-MT": CoxMT(max_epochs=50),
    "Cox-nnet": CoxNnet(max_epochs=50),
    "CoxPH (ridge)": PenalizedCox(n_alphas=10, cv=3),
}
workdir = tempfile.TemporaryDirectory()  # removed at the end of the page
out = Path(workdir.name) / "brca_cv"
results = cross_validate(
    models,
    table.X,
    table.y,
    n_splits=3,
    n_repeats=2,
    random_state=0,
    preprocessing=make_rnaseq_preprocessor(k=None),
    results_dir=out,  # results.csv, predictions.csv, config.json
    verbose=False,
)
print(results[["model", "repeat", "fold", "c_index", "uno_c", "ibs", "n_test"]].round(3))

# %%
# Summaries
# ---------
# Mean, standard deviation and a t-interval per model and metric. The interval treats
# the folds as independent, which they are not (they share training patients), so it is
# too narrow: use it to describe, not to compare.
print(summarize(results, ["c_index", "uno_c", "ibs"]).round(3).to_string(index=False))

# %%
# Paired tests
# ------------
# :func:`coxmt.experiments.paired_comparison` pairs the models on each repeat and fold
# and tests the differences to a reference model with the Wilcoxon signed-rank test
# and with the corrected resampled t-test of Nadeau and Bengio, which inflates the
# variance for the overlap of the training sets. With six pairs neither test can see a
# difference of a few hundredths; the page :doc:`/guide/comparing` explains how to size
# a comparison.
cmp = paired_comparison(results, reference="Cox-MT", metric="c_index")
print(cmp[["model", "n_pairs", "mean_diff", "sd_diff", "wilcoxon_p", "corrected_p"]].round(3))

# %%
# A plot of the per-fold C-indexes.
from coxmt.reporting import plot_cindex_boxplot

fig = plot_cindex_boxplot(results, "c_index")

# %%
# The report
# ----------
# :func:`coxmt.reporting.build_report` (``coxmt report FOLDER`` on the command line)
# writes a self-contained ``report.html``, a ``report.md`` and the figures: the run's
# configuration, the results table, the paired tests, box plots and Kaplan-Meier curves
# of the predicted risk groups.
from coxmt.reporting import build_report

html = build_report(out, title="GSE7390: Cox-MT vs Cox-nnet vs ridge Cox")
print(sorted(p.name for p in out.iterdir()))
print(f"{html.name}: {html.stat().st_size / 1e3:.0f} kB")

# %%
# The Kaplan-Meier curves of the high- and low-risk halves (median split of each test
# fold's risks, pooled over the folds of the first repeat), as drawn in the report.
import pandas as pd

from coxmt.reporting import plot_km_risk_groups

predictions = pd.read_csv(out / "predictions.csv")
fig = plot_km_risk_groups(predictions, "Cox-MT", repeat=0, xlabel="days")

# %%
# The folder can be reopened later: :func:`coxmt.experiments.load_results` reads it, and
# running the same ``cross_validate`` call with the same ``results_dir`` resumes an
# interrupted run instead of starting again.
workdir.cleanup()
