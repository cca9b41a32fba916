"""RNA tokens of the multimodal models: which RNA-seq columns each token embeds.

By default the RNA columns, in their order, are split into ``n_rna_tokens``
contiguous chunks of (almost) equal size (``numpy.array_split``). With
``gene_groups`` (a CSV/TSV file or DataFrame with columns ``group`` and
``gene``, or a dict ``{group: [genes]}``), every group becomes one token,
in order of first appearance; a gene matches an RNA column of the same name or
named ``<gene>_rnaseq``. Genes without a column are counted in
``n_genes_unmatched_``; groups left without any gene are dropped (listed in
``empty_gene_groups_``). The mapping (``gene_index_``, ``token_names_``) is
saved with the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GeneTokens", "gene_tokens", "read_gene_groups"]

_RNA_SUFFIXES = ("_rnaseq",)


def read_gene_groups(gene_groups: Any) -> dict[str, list[str]]:
    """Gene groups as an ordered ``{group: [genes]}`` dict.

    Parameters
    ----------
    gene_groups : str, path, DataFrame or mapping
        A CSV/TSV file or DataFrame with columns ``group`` and ``gene`` (one row per
        gene and group; case-insensitive column names), or a mapping.

    Returns
    -------
    dict
        Groups in order of first appearance, genes in file order (duplicates removed).

    Examples
    --------
    >>> import pandas as pd
    >>> read_gene_groups(pd.DataFrame({"group": ["a", "b", "a"], "gene": ["X", "Y", "Z"]}))
    {'a': ['X', 'Z'], 'b': ['Y']}
    """
    if isinstance(gene_groups, Mapping):
        return {str(k): list(dict.fromkeys(str(g) for g in v)) for k, v in gene_groups.items()}
    if isinstance(gene_groups, str | os.PathLike):
        path = os.fspath(gene_groups)
        if not os.path.isfile(path):
            raise ValueError(f"gene_groups file {path!r} does not exist")
        sep = "\t" if path.lower().endswith((".tsv", ".tsv.gz", ".txt")) else ","
        frame = pd.read_csv(path, sep=sep)
    elif isinstance(gene_groups, pd.DataFrame):
        frame = gene_groups
    else:
        raise ValueError(
            "gene_groups must be None, a CSV/TSV path or DataFrame with columns 'group' and "
            f"'gene', or a dict {{group: [genes]}}; got {type(gene_groups).__name__}"
        )
    cols = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in ("group", "gene") if c not in cols]
    if missing:
        raise ValueError(
            f"gene_groups needs the columns 'group' and 'gene' (one row per gene); missing "
            f"{missing}, found {[str(c) for c in frame.columns]}"
        )
    sub = frame[[cols["group"], cols["gene"]]].dropna()
    out: dict[str, list[str]] = {}
    for g, gene in zip(sub.iloc[:, 0].astype(str), sub.iloc[:, 1].astype(str), strict=True):
        genes = out.setdefault(g, [])
        if gene not in genes:
            genes.append(gene)
    if not out:
        raise ValueError("gene_groups holds no (group, gene) rows")
    return out


def _pad_index(groups: list[list[int]]) -> np.ndarray:
    width = max(len(g) for g in groups)
    out = np.full((len(groups), width), -1, dtype=np.int64)
    for i, g in enumerate(groups):
        out[i, : len(g)] = g
    return out


@dataclass(frozen=True)
class GeneTokens:
    """The RNA columns of each token (``index``, -1 = padding) and what the mapping dropped."""

    index: np.ndarray  # (n_tokens, max_group_size) int64
    names: list[str]
    n_genes_unmatched: int
    empty_groups: list[str]


def gene_tokens(
    n_features: int, feature_names: Sequence[Any] | None, n_rna_tokens: int, gene_groups: Any
) -> GeneTokens:
    """Map RNA-seq columns to tokens: ``n_rna_tokens`` equal chunks, or one token per gene group.

    Examples
    --------
    >>> gene_tokens(5, None, 2, None).index.tolist()
    [[0, 1, 2], [3, 4, -1]]
    >>> t = gene_tokens(3, ["A_rnaseq", "B", "C"], 0, {"x": ["A", "C", "Q"], "y": ["Q"]})
    >>> t.index.tolist(), t.names, t.n_genes_unmatched, t.empty_groups
    ([[0, 2]], ['x'], 2, ['y'])
    """
    if gene_groups is None:
        k = min(int(n_rna_tokens), int(n_features))
        chunks = [c.tolist() for c in np.array_split(np.arange(int(n_features)), k)]
        return GeneTokens(_pad_index(chunks), [f"chunk_{i}" for i in range(k)], 0, [])
    if feature_names is None:
        raise ValueError(
            "gene_groups matches genes by column name: pass X_rna as a DataFrame whose "
            "columns are the gene names"
        )
    lookup: dict[str, int] = {}
    for j, c in enumerate(feature_names):
        lookup.setdefault(str(c), j)
    for j, c in enumerate(feature_names):
        for suffix in _RNA_SUFFIXES:
            if str(c).endswith(suffix):
                lookup.setdefault(str(c)[: -len(suffix)], j)
    chunks, names, empty, unmatched = [], [], [], 0
    for group, genes in read_gene_groups(gene_groups).items():
        cols = list(dict.fromkeys(lookup[g] for g in genes if g in lookup))
        unmatched += sum(g not in lookup for g in genes)
        if cols:
            chunks.append(cols)
            names.append(group)
        else:
            empty.append(group)
    if not chunks:
        raise ValueError(
            "no gene of gene_groups matches a column of X_rna (columns look like "
            f"{[str(n) for n in feature_names[:3]]}); check the gene names"
        )
    return GeneTokens(_pad_index(chunks), names, unmatched, empty)
