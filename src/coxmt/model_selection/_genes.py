"""Gene alignment across cohorts (external validation)."""

from __future__ import annotations

import pandas as pd

__all__ = ["align_genes", "gene_symbol"]


def gene_symbol(column: str) -> str:
    """The gene symbol of an expression column (``TP53_rnaseq`` -> ``TP53``).

    Examples
    --------
    >>> gene_symbol("TP53_rnaseq"), gene_symbol("EGFR")
    ('TP53', 'EGFR')
    """
    column = str(column)
    return column[: -len("_rnaseq")] if column.endswith("_rnaseq") else column


def align_genes(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Restrict two expression tables to their common genes, matched by symbol.

    Train a model on one cohort and test it on another: both tables must hold the
    same genes in the same order. Columns are renamed to the bare symbol
    (``TP53_rnaseq`` -> ``TP53``) and ordered as in ``train``.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Expression tables (patients x genes).

    Returns
    -------
    train, test : pandas.DataFrame
        Both tables restricted to the common genes.
    n_common : int
        How many genes they share.

    Examples
    --------
    >>> import pandas as pd
    >>> from coxmt.model_selection import align_genes
    >>> a = pd.DataFrame([[1.0, 2.0]], columns=["A_rnaseq", "B_rnaseq"])
    >>> b = pd.DataFrame([[3.0, 4.0]], columns=["B_rnaseq", "C_rnaseq"])
    >>> a2, b2, n = align_genes(a, b)
    >>> list(a2.columns), b2.to_numpy().tolist(), n
    (['B'], [[3.0]], 1)
    """
    a = train.rename(columns=gene_symbol)
    b = test.rename(columns=gene_symbol)
    for name, frame in (("training", a), ("test", b)):
        dup = frame.columns[frame.columns.duplicated()].tolist()
        if dup:
            raise ValueError(
                f"the {name} table has duplicated gene symbols {dup[:10]}; keep one column per gene"
            )
    in_test = set(b.columns)
    common = [c for c in a.columns if c in in_test]
    if not common:
        raise ValueError(
            "the training and test tables share no gene symbol; check that both hold "
            "<GENE>_rnaseq columns with the same naming"
        )
    return a.loc[:, common], b.loc[:, common], len(common)
