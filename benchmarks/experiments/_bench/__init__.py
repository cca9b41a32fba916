"""Support code of the TCGA experiment suite (``benchmarks/experiments``).

- :mod:`_bench.meta`: meta-estimators used by the experiments (nested-CV search that
  handles unlabeled rows, label subsampling).
- :mod:`_bench.data`: cohorts, TCGA site codes, gene alignment, toy data, the
  non-medical survival data sets.
- :mod:`_bench.config`: reading and checking experiment configuration files.
- :mod:`_bench.kinds`: the experiment kinds (plain CV, unlabeled pool, label
  fraction, external validation, site-held-out CV).
- :mod:`_bench.merge`: merging sub-runs into one results folder and its report.
- :mod:`_bench.summary`: ``SUMMARY.md`` over all experiments.
"""

__all__: list[str] = []
