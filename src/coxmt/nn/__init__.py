"""Torch modules used by coxmt's estimators."""

from coxmt.nn.attention import AttentionMILCox, CrossAttentionCox, GatedAttentionPool, GeneTokenizer
from coxmt.nn.bags import BagStore, collate_bags, select_tokens, write_attention_h5
from coxmt.nn.mlp import ACTIVATIONS, CoxMLP

__all__ = [
    "ACTIVATIONS",
    "AttentionMILCox",
    "BagStore",
    "CoxMLP",
    "CrossAttentionCox",
    "GatedAttentionPool",
    "GeneTokenizer",
    "collate_bags",
    "select_tokens",
    "write_attention_h5",
]
