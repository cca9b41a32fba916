"""The built-in demo data set: a public breast-cancer gene-expression survival cohort."""

from __future__ import annotations

from importlib import resources

from coxmt.data._tables import SurvivalTable, load_survival_table

__all__ = ["load_demo"]

_DEMO_FILE = "gse7390_breast.csv.gz"


def load_demo() -> SurvivalTable:
    """Load the built-in demo cohort: 198 breast-cancer patients, 76 genes (GEO GSE7390).

    Microarray expression (Affymetrix HG-U133A, log2 scale) of the 76 probe sets of
    the Wang et al. (2005) prognostic signature for the 198 node-negative,
    untreated breast-cancer patients of the TRANSBIG validation cohort
    (Desmedt et al., 2007; GEO accession GSE7390). The endpoint is time to
    distant metastasis in days; 51 patients (26%) had an event.

    - ``X``: 76 columns named by Affymetrix probe set (e.g. ``"205034_at"``).
    - ``y``: ``event`` (distant metastasis observed) and ``time`` (days).
    - ``clinical``: ``age`` (years), ``size`` (tumour size, cm), ``grade``
      (text; 2 missing) and ``er`` (oestrogen-receptor status).
    - ``ids``: ``patient_001`` ... ``patient_198`` (row order of the source table,
      not GEO sample accessions).

    The data ship with coxmt (``coxmt/data/_builtin/``, 124 kB) and need no
    download. Source: NCBI GEO series GSE7390 (NCBI places no restrictions on
    the use or distribution of GEO data); the 76-probe subset is the one
    distributed as ``breast_cancer_GSE7390-metastasis`` by several survival
    packages. Provenance, licence and the build recipe are in
    ``coxmt/data/_builtin/README.md``.

    Please cite: Desmedt C. et al. (2007) Strong time dependence of the 76-gene
    prognostic signature for node-negative breast cancer patients in the TRANSBIG
    multicenter independent validation series. Clin Cancer Res 13(11):3207-3214.
    doi:10.1158/1078-0432.CCR-06-2765. And: Wang Y. et al. (2005) Gene-expression
    profiles to predict distant metastasis of lymph-node-negative primary breast
    cancer. Lancet 365(9460):671-679.

    Returns
    -------
    SurvivalTable
        198 patients, 51 events, 76 features, 4 clinical columns.

    Examples
    --------
    >>> t = load_demo()
    >>> len(t), t.n_events, t.X.shape[1]
    (198, 51, 76)
    >>> list(t.clinical.columns)
    ['age', 'size', 'grade', 'er']
    """
    ref = resources.files("coxmt.data").joinpath("_builtin", _DEMO_FILE)
    with resources.as_file(ref) as path:
        table = load_survival_table(
            path, "time_days", "event", feature_cols=r"_at$", id_col="patient_id", sep=","
        )
    table.source = "GSE7390 (TRANSBIG breast cancer, 76-gene signature)"
    table.time_unit = "days"
    return table
