"""Reading survival tables and the built-in data sets.

- :func:`load_survival_table`: CSV/TSV/Parquet/h5ad (compressed or not) into a
  :class:`SurvivalTable` (features, survival target, IDs, clinical columns).
- :func:`load_demo`: the built-in public breast-cancer expression cohort (GSE7390).
- :func:`load_tcga`: TCGA cohorts in the PORPOISE/SurvPath CSV layout.
"""

from __future__ import annotations

from coxmt.data._demo import load_demo
from coxmt.data._tables import SurvivalTable, load_survival_table, load_tcga, read_feature_table

__all__ = ["SurvivalTable", "load_demo", "load_survival_table", "load_tcga", "read_feature_table"]
