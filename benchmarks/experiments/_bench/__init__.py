"""Support code of the TCGA experiment suite (``benchmarks/experiments``).

- :mod:`_bench.data`: cohorts, toy data, the non-medical survival data sets.
- :mod:`_bench.config`: reading and checking experiment configuration files.
- :mod:`_bench.kinds`: the experiment kinds (plain CV, unlabeled pool, label
  fraction, external validation, site-held-out CV).
- :mod:`_bench.merge`: merging sub-runs into one results folder and its report.
- :mod:`_bench.summary`: ``SUMMARY.md`` over all experiments.

The nested search, label subsampling, site-held-out splits and gene alignment come
from :mod:`coxmt.model_selection`.
"""

__all__: list[str] = []
