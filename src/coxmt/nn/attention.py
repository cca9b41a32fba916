"""Attention networks for slides and slides + RNA-seq: attention-MIL and cross-attention Cox models.

Conventions
-----------
``tokens`` are padded bags of patch features, shape (batch, length, n_features);
``mask`` is the key-padding mask, ``True`` at padded positions (PyTorch's
convention). A row whose mask is all ``True`` is a patient without slides: the
networks put a learned "missing" token in its first position, so attention never
runs over an empty sequence and every output is finite. Likewise a row of
``NaN`` in the RNA input marks a patient without RNA-seq. Every network ends in a
bias-free linear layer giving the risk (log-hazard ratio; higher = higher risk).

Patch features are standardised inside the networks (buffers ``feature_mean``
and ``feature_scale``, set from the training bags and saved with the weights);
Gaussian input noise for Mean Teacher is added after standardisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "AttentionMILCox",
    "CrossAttentionCox",
    "GatedAttentionPool",
    "GeneTokenizer",
    "fill_missing",
    "masked_mean",
    "masked_softmax",
]

FUSIONS = ("concat", "late")


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis ignoring positions where ``mask`` is True.

    A row with every position masked gets all-zero weights (never NaN).

    Examples
    --------
    >>> import torch
    >>> masked_softmax(torch.zeros(2, 3), torch.tensor([[False, False, True], [True] * 3]))
    tensor([[0.5000, 0.5000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    if mask is None:
        return torch.softmax(logits, dim=-1)
    empty = mask.all(dim=-1, keepdim=True)
    filled = logits.masked_fill(mask | empty, float("-inf"))
    filled = torch.where(empty, torch.zeros_like(logits), filled)
    weights = torch.softmax(filled, dim=-1)
    return weights.masked_fill(mask, 0.0)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` (batch, length, dim) over unmasked positions (zeros for an empty row).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(x, torch.tensor([[False, False, True]]))
    tensor([[2.]])
    """
    if mask is None:
        return x.mean(dim=1)
    keep = (~mask).to(x.dtype).unsqueeze(-1)
    return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


def fill_missing(
    tokens: torch.Tensor, mask: torch.Tensor | None, missing_token: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put ``missing_token`` in the first position of every all-padded row and unmask it.

    Parameters
    ----------
    tokens : torch.Tensor of shape (batch, length, dim), length >= 1
    mask : torch.Tensor of bool, shape (batch, length), or None (nothing padded)
    missing_token : torch.Tensor of shape (dim,)

    Returns
    -------
    tokens, mask
        With at least one unmasked position per row.

    Examples
    --------
    >>> import torch
    >>> t, m = fill_missing(torch.zeros(1, 2, 3), torch.ones(1, 2, dtype=torch.bool), torch.ones(3))
    >>> t[0, 0].tolist(), m.tolist()
    ([1.0, 1.0, 1.0], [[False, True]])
    """
    b, length, _ = tokens.shape
    if length < 1:
        raise ValueError("token sequences must have at least one position (pad to length >= 1)")
    if mask is None:
        return tokens, torch.zeros(b, length, dtype=torch.bool, device=tokens.device)
    empty = mask.all(dim=1)
    first = torch.zeros_like(mask)
    first[:, 0] = True
    slot = empty.unsqueeze(1) & first
    tokens = torch.where(slot.unsqueeze(-1), missing_token.to(tokens.dtype), tokens)
    return tokens, mask & ~slot


class GatedAttentionPool(nn.Module):
    """Gated attention pooling of Ilse, Tomczak & Welling (2018).

    ``a_k = softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k)))`` over the unmasked
    tokens; the output is ``sum_k a_k h_k``.

    Parameters
    ----------
    dim : int
        Token dimension.
    attention_dim : int
        Width of the attention network (``V``, ``U``).

    Examples
    --------
    >>> import torch
    >>> pool = GatedAttentionPool(8, 4)
    >>> z, a = pool(torch.randn(2, 5, 8), torch.zeros(2, 5, dtype=torch.bool))
    >>> z.shape, a.shape
    (torch.Size([2, 8]), torch.Size([2, 5]))
    """

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.V = nn.Linear(dim, attention_dim)
        self.U = nn.Linear(dim, attention_dim)
        self.w = nn.Linear(attention_dim, 1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled tokens (batch, dim) and attention weights (batch, length)."""
        logits = self.w(torch.tanh(self.V(x)) * torch.sigmoid(self.U(x))).squeeze(-1)
        a = masked_softmax(logits, mask)
        return torch.einsum("bl,bld->bd", a, x), a


class _PatchInput(nn.Module):
    """Standardise patch features (saved buffers) and add training noise."""

    feature_mean: torch.Tensor
    feature_scale: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))

    def set_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=self.feature_mean.dtype))
        self.feature_scale.copy_(torch.as_tensor(scale, dtype=self.feature_scale.dtype))

    def forward(self, tokens: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
        x = (tokens - self.feature_mean) / self.feature_scale
        if noise_std > 0:
            x = x + noise_std * torch.randn_like(x)
        return x


def _cox_head(in_dim: int, hidden_dim: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    if hidden_dim > 0:
        layers += [nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
        d = hidden_dim
    layers.append(nn.Linear(d, 1, bias=False))
    return nn.Sequential(*layers)


class AttentionMILCox(nn.Module):
    """Attention-MIL Cox network: patch tokens -> gated attention pooling -> risk.

    Parameters
    ----------
    n_features : int
        Patch-feature dimension.
    model_dim : int, default 256
        Width of the patch embedding (a linear projection + ReLU).
    attention_dim : int, default 128
        Width of the gated attention network.
    hidden_dim : int, default 64
        Hidden layer of the Cox head (0 = linear head).
    dropout : float, default 0.25

    Examples
    --------
    >>> import torch
    >>> net = AttentionMILCox(6, model_dim=8, attention_dim=4, hidden_dim=4).eval()
    >>> tokens = torch.randn(2, 3, 6)
    >>> mask = torch.tensor([[False, False, True], [True, True, True]])
    >>> risk, attention = net(tokens, mask, return_attention=True)
    >>> risk.shape, bool(torch.isfinite(risk).all()), attention[0, 2].item()
    (torch.Size([2]), True, 0.0)
    """

    def __init__(
        self,
        n_features: int,
        *,
        model_dim: int = 256,
        attention_dim: int = 128,
        hidden_dim: int = 64,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.input = _PatchInput(n_features)
        self.embed = nn.Sequential(nn.Linear(n_features, model_dim), nn.ReLU(), nn.Dropout(dropout))
        self.missing_token = nn.Parameter(0.02 * torch.randn(model_dim))
        self.pool = GatedAttentionPool(model_dim, attention_dim)
        self.head = _cox_head(model_dim, hidden_dim, dropout)

    def forward(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        noise_std: float = 0.0,
        return_attention: bool = False,
    ) -> Any:
        """Risk (batch,) and, with ``return_attention``, patch attention (batch, length)."""
        h = self.embed(self.input(tokens, noise_std))
        h, mask = fill_missing(h, mask, self.missing_token)
        z, a = self.pool(h, mask)
        risk = self.head(z).squeeze(-1)
        return (risk, a) if return_attention else risk


class GeneTokenizer(nn.Module):
    """RNA-seq vector -> one token per gene group, each group with its own embedding.

    Token ``g`` is ``ELU(x[genes_g] @ W_g + b_g)`` (a small self-normalising
    layer per group), computed for all groups at once with the groups padded to
    the largest.

    Parameters
    ----------
    gene_index : array-like of int, shape (n_tokens, max_group_size)
        Column indices of each group's genes, padded with -1. Stored as a buffer
        (it is saved with the weights).
    n_genes : int
        Number of RNA input columns.
    dim : int
        Token dimension.
    dropout : float, default 0.0

    Examples
    --------
    >>> import torch
    >>> tok = GeneTokenizer([[0, 1], [2, -1]], n_genes=3, dim=4)
    >>> tok(torch.randn(5, 3)).shape
    torch.Size([5, 2, 4])
    """

    gene_index: torch.Tensor

    def __init__(self, gene_index: Any, n_genes: int, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        idx = torch.as_tensor(np.asarray(gene_index, dtype=np.int64))
        if idx.ndim != 2 or idx.shape[0] < 1:
            raise ValueError(
                f"gene_index must be a 2-D (n_tokens, max_group_size) array, got {tuple(idx.shape)}"
            )
        if int(idx.max()) >= n_genes or int(idx.min()) < -1:
            raise ValueError(
                f"gene_index holds columns outside [0, {n_genes}) (and -1 for padding)"
            )
        sizes = (idx >= 0).sum(dim=1)
        if bool((sizes == 0).any()):
            raise ValueError("every gene group needs at least one gene")
        self.n_genes = int(n_genes)
        self.register_buffer("gene_index", idx)
        g, m = idx.shape
        bound = (1.0 / sizes.to(torch.float32).sqrt()).view(g, 1, 1)
        self.weight = nn.Parameter((torch.rand(g, m, dim) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(g, dim) * 2 - 1) * bound.view(g, 1))
        self.act = nn.ELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens of shape (batch, n_tokens, dim)."""
        padded = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        idx = torch.where(self.gene_index >= 0, self.gene_index, self.n_genes)
        groups = padded[:, idx]  # (batch, n_tokens, max_group_size)
        h = torch.einsum("bgm,gmd->bgd", groups, self.weight) + self.bias
        return self.dropout(self.act(h))


class CrossAttentionCox(nn.Module):
    """Multimodal Cox network: RNA tokens and patch tokens in mutual cross-attention.

    RNA -> ``n_tokens`` group tokens (:class:`GeneTokenizer`); patches -> a
    linear projection to ``model_dim``. Two multi-head attention units (PyTorch
    ``MultiheadAttention``, ``batch_first``, with key-padding masks): RNA tokens
    query the patch tokens, patch tokens query the RNA tokens. Each unit adds
    its output to its query tokens through a learned scalar gate that starts at
    zero (a ReZero residual, Bachlechner et al. 2020): training starts from two
    independent encoders and lets each cross-modal path join as far as it helps,
    which on small cohorts overfits less than a layer-normed residual. Each
    modality is pooled over its valid tokens (gated attention, as in
    attention-MIL, or the mean), the two are concatenated and a small MLP ends
    in a bias-free linear risk output.

    With ``fusion="late"`` each pooled modality also has its own Cox head and
    the risk is the sum of the joint head's and the two modality heads' risks
    (an additive Cox model over the modalities plus an interaction term), so
    that a modality whose signal is strong is not diluted by a concatenation
    dominated by the other. ``modality_dropout`` hides, during training only,
    one modality of a random fraction of the patients (RNA or slides with equal
    probability, never the only one present) behind its learned "missing"
    token: the network then has to predict from either modality alone, the way
    an auxiliary per-modality loss would train it, without changing the loss.

    Parameters
    ----------
    gene_index : array-like of int, shape (n_tokens, max_group_size)
        See :class:`GeneTokenizer`.
    n_genes, n_features : int
        RNA input columns and patch-feature dimension.
    model_dim : int, default 256
    n_heads : int, default 4
    hidden_dim : int, default 64
        Hidden layer of the Cox head (0 = linear head).
    dropout : float, default 0.25
    pooling : {"attention", "mean"}, default "attention"
    fusion : {"concat", "late"}, default "concat"
        "concat": one head on the concatenated pooled modalities; "late": plus one
        Cox head per modality, the three risks summed.
    modality_dropout : float, default 0.0
        Training-time probability that a patient's RNA or slides (one of the two,
        at random) are replaced by the "missing" token; 0 disables it.
    auxiliary_heads : bool, default False
        Add one Cox head per pooled modality (``rna_aux``, ``wsi_aux``) whose risks
        are returned with ``return_auxiliary=True`` for auxiliary losses; they do
        not enter the predicted risk.
    auxiliary_inputs : {"fused", "single"}, default "fused"
        What the auxiliary heads read: "fused", each modality pooled after the
        cross-attention (so it carries some of the other modality); "single", each
        modality's own tokens pooled before the cross-attention (same pooling
        modules, no new weights), so that ``rna_aux`` and ``wsi_aux`` are true
        RNA-only and slides-only predictors.

    Examples
    --------
    >>> import torch
    >>> net = CrossAttentionCox([[0], [1]], 2, 3, model_dim=8, n_heads=2, hidden_dim=4,
    ...                         fusion="late", modality_dropout=0.5).eval()
    >>> rna = torch.tensor([[0.5, -1.0], [float("nan"), float("nan")]])
    >>> risk = net(rna, torch.randn(2, 4, 3), torch.ones(2, 4, dtype=torch.bool))
    >>> bool(torch.isfinite(risk).all())
    True
    """

    def __init__(
        self,
        gene_index: Any,
        n_genes: int,
        n_features: int,
        *,
        model_dim: int = 256,
        n_heads: int = 4,
        hidden_dim: int = 64,
        dropout: float = 0.25,
        pooling: str = "attention",
        fusion: str = "concat",
        modality_dropout: float = 0.0,
        auxiliary_heads: bool = False,
        auxiliary_inputs: str = "fused",
    ) -> None:
        super().__init__()
        if auxiliary_inputs not in ("fused", "single"):
            raise ValueError(
                f"auxiliary_inputs must be 'fused' or 'single', got {auxiliary_inputs!r}"
            )
        self.auxiliary_inputs = auxiliary_inputs
        if model_dim % n_heads:
            raise ValueError(f"model_dim ({model_dim}) must be divisible by n_heads ({n_heads})")
        if pooling not in ("mean", "attention"):
            raise ValueError(f"pooling must be 'mean' or 'attention', got {pooling!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.pooling = pooling
        self.fusion = fusion
        self.modality_dropout = float(modality_dropout)
        self.tokenizer = GeneTokenizer(gene_index, n_genes, model_dim, dropout)
        self.input = _PatchInput(n_features)
        self.wsi_embed = nn.Sequential(
            nn.Linear(n_features, model_dim), nn.ReLU(), nn.Dropout(dropout)
        )
        self.missing_rna = nn.Parameter(0.02 * torch.randn(model_dim))
        self.missing_wsi = nn.Parameter(0.02 * torch.randn(model_dim))
        self.rna_queries_wsi = nn.MultiheadAttention(
            model_dim, n_heads, dropout=dropout, batch_first=True
        )
        self.wsi_queries_rna = nn.MultiheadAttention(
            model_dim, n_heads, dropout=dropout, batch_first=True
        )
        # gated residuals (ReZero): each unit starts silent and joins as it helps
        self.rna_gate = nn.Parameter(torch.zeros(1))
        self.wsi_gate = nn.Parameter(torch.zeros(1))
        self.rna_pool: GatedAttentionPool | None = None
        self.wsi_pool: GatedAttentionPool | None = None
        if pooling == "attention":
            self.rna_pool = GatedAttentionPool(model_dim, max(1, model_dim // 2))
            self.wsi_pool = GatedAttentionPool(model_dim, max(1, model_dim // 2))
        self.head = _cox_head(2 * model_dim, hidden_dim, dropout)
        self.rna_head: nn.Sequential | None = None
        self.wsi_head: nn.Sequential | None = None
        if fusion == "late":
            self.rna_head = _cox_head(model_dim, hidden_dim, dropout)
            self.wsi_head = _cox_head(model_dim, hidden_dim, dropout)
        self.rna_aux: nn.Sequential | None = None
        self.wsi_aux: nn.Sequential | None = None
        if auxiliary_heads:
            self.rna_aux = _cox_head(model_dim, hidden_dim, dropout)
            self.wsi_aux = _cox_head(model_dim, hidden_dim, dropout)

    def _drop_modalities(
        self, rna_missing: torch.Tensor, mask: torch.Tensor | None, batch: int, length: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training only: hide one present modality of a random ``modality_dropout`` of rows."""
        if not self.training or self.modality_dropout == 0.0:
            return rna_missing, mask
        dev = rna_missing.device
        if mask is None:
            mask = torch.zeros(batch, length, dtype=torch.bool, device=dev)
        wsi_missing = mask.all(dim=1)
        both = ~rna_missing & ~wsi_missing
        drop = both & (torch.rand(batch, device=dev) < self.modality_dropout)
        pick_rna = torch.rand(batch, device=dev) < 0.5
        mask = mask | (drop & ~pick_rna).unsqueeze(1)
        return rna_missing | (drop & pick_rna), mask

    def _pool(
        self, x: torch.Tensor, mask: torch.Tensor, pool: GatedAttentionPool | None
    ) -> torch.Tensor:
        if pool is None:
            return masked_mean(x, mask)
        return pool(x, mask)[0]

    def forward(
        self,
        rna: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        rna_noise_std: float = 0.0,
        wsi_noise_std: float = 0.0,
        return_attention: bool = False,
        return_auxiliary: bool = False,
    ) -> Any:
        """Risk (batch,); with ``return_attention`` also a dict of attention maps.

        With ``return_auxiliary`` (and ``auxiliary_heads``) the risk comes with a dict
        ``{"rna": ..., "wsi": ...}`` of the per-modality auxiliary risks instead.

        The dict holds ``rna_to_wsi`` (batch, n_tokens, length) and ``wsi_to_rna``
        (batch, length, n_tokens), both averaged over heads, ``patch_scores``
        (batch, length): the RNA->WSI attention of each patch averaged over the
        valid RNA tokens, ``wsi_pool_scores`` (batch, length): the weights with which
        the patch tokens alone (before the cross-attention) are pooled, and the masks
        ``rna_mask`` / ``wsi_mask`` used.
        """
        rna_missing = torch.isnan(rna).all(dim=1)
        rna_missing, mask = self._drop_modalities(
            rna_missing, mask, tokens.shape[0], tokens.shape[1]
        )
        x = torch.nan_to_num(rna, nan=0.0)
        if rna_noise_std > 0:
            x = x + rna_noise_std * torch.randn_like(x)
        r = self.tokenizer(x)
        n_tok = r.shape[1]
        r_mask = rna_missing.unsqueeze(1).expand(-1, n_tok).clone()
        r, r_mask = fill_missing(r, r_mask, self.missing_rna)

        w = self.wsi_embed(self.input(tokens, wsi_noise_std))
        w, w_mask = fill_missing(w, mask, self.missing_wsi)

        r_ctx, a_rw = self.rna_queries_wsi(
            r,
            w,
            w,
            key_padding_mask=w_mask,
            need_weights=return_attention,
            average_attn_weights=True,
        )
        w_ctx, a_wr = self.wsi_queries_rna(
            w,
            r,
            r,
            key_padding_mask=r_mask,
            need_weights=return_attention,
            average_attn_weights=True,
        )
        r_out = r + self.rna_gate * r_ctx
        w_out = w + self.wsi_gate * w_ctx
        z_r = self._pool(r_out, r_mask, self.rna_pool)
        z_w = self._pool(w_out, w_mask, self.wsi_pool)
        risk = self.head(torch.cat([z_r, z_w], dim=1)).squeeze(-1)
        if self.rna_head is not None and self.wsi_head is not None:
            risk = risk + self.rna_head(z_r).squeeze(-1) + self.wsi_head(z_w).squeeze(-1)
        if return_auxiliary:
            if self.rna_aux is None or self.wsi_aux is None:
                raise ValueError("return_auxiliary needs a network built with auxiliary_heads=True")
            if self.auxiliary_inputs == "single":
                z_r = self._pool(r, r_mask, self.rna_pool)
                z_w = self._pool(w, w_mask, self.wsi_pool)
            return risk, {
                "rna": self.rna_aux(z_r).squeeze(-1),
                "wsi": self.wsi_aux(z_w).squeeze(-1),
            }
        if not return_attention:
            return risk
        valid_r = (~r_mask).to(a_rw.dtype).unsqueeze(-1)
        patch_scores = (a_rw * valid_r).sum(dim=1) / valid_r.sum(dim=1).clamp_min(1.0)
        if self.wsi_pool is not None:  # the slides-only pooling (what ``wsi_aux`` reads)
            wsi_only = self.wsi_pool(w, w_mask)[1]
        else:
            valid_w = (~w_mask).to(w.dtype)
            wsi_only = valid_w / valid_w.sum(dim=1, keepdim=True).clamp_min(1.0)
        maps = {
            "wsi_pool_scores": wsi_only,
            "rna_to_wsi": a_rw,
            "wsi_to_rna": a_wr,
            "patch_scores": patch_scores,
            "rna_mask": r_mask,
            "rna_missing": rna_missing,
            "wsi_mask": w_mask,
        }
        return risk, maps
