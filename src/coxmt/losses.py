"""Cox partial likelihood and Mean-Teacher consistency losses.

Pure functions of tensors: no state, device-agnostic, O(N log N) (one sort and
cumulative sums; no N x N risk-set matrix), numerically stable for large risks,
finite and differentiable when a batch has no events or a single sample.

Conventions
-----------
``risk`` is the log-hazard ratio predicted by a model (higher = higher risk).
``event`` is 1/True where death was observed, 0/False where censored.
The risk set at time ``t`` holds every sample with ``time >= t``.
Tied event times are handled with Efron's (default; as lifelines) or Breslow's
(as scikit-survival's ``CoxPHSurvivalAnalysis``) approximation.

The sort and the tie structure depend only on ``(event, time)``. A training loop
that sees the same samples at every step computes them once with
:func:`prepare_risk_sets` and calls :func:`neg_partial_log_likelihood_prepared`,
which also evaluates several independent samples (e.g. the training folds of
several models) in one call.

Implementation: the loss and its gradient are accumulated in float64 with one
cumulative sum over the samples in descending time (risk sets) and one over the
distinct times (gradient), ``dL/dr_i = exp(r_i) * sum_{events j: t_j <= t_i}
w_ij / den_j - event_i``. On CPU, when the risks span less than 600 nats (60 for
float32 risks, whose exponentials are then taken in float32), the sums run on
``exp(r - max(r))``; otherwise (and on accelerators) they run in log space
(``logcumsumexp``), which never overflows. On CPU the sort packs each time and
its position into one integer key sorted by numpy (several times faster than a
comparison argsort).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from coxmt._validation import check_tensor_target

__all__ = [
    "RiskSets",
    "consistency_loss",
    "neg_partial_log_likelihood",
    "neg_partial_log_likelihood_prepared",
    "prepare_risk_sets",
    "stack_risk_sets",
]

Ties = Literal["efron", "breslow"]
Reduction = Literal["mean", "sum"]

# exp(-600) ~ 1e-261 is far from float64 underflow (1e-308), exp(-60) ~ 1e-26 from
# float32's (1e-38): within these spreads the shifted sums lose nothing
_FAST_SPREAD = 600.0
_FAST_SPREAD_F32 = 60.0


@dataclass(frozen=True)
class RiskSets:
    """Time order and tie structure of ``K`` independent samples of survival data.

    Built by :func:`prepare_risk_sets` (one sample) or :func:`stack_risk_sets`
    (several); treat the fields as read-only internals. Row ``k`` lists one
    sample's positions in *descending* time order, so that every risk set is a
    prefix and the risk-set sums are one cumulative sum. Positions refer to the
    flattened risk tensor the loss is evaluated on; shorter rows are padded at the
    end (``valid`` False, group 0).

    Attributes
    ----------
    index : torch.Tensor of int64, shape (K, L)
        Position in ``risk.reshape(-1)`` of the ``j``-th latest sample.
    valid : torch.Tensor of bool, shape (K, L)
    group : torch.Tensor of int64, shape (K, L)
        Distinct-time group of each position, numbered 1..G_k by increasing time.
    group_last : torch.Tensor of int64, shape (K, G + 1)
        Last position of each group: the risk set of group ``g`` is
        ``index[k, :group_last[k, g] + 1]``.
    event_pos, event_group, event_row : torch.Tensor of int64, shape (E,)
        For every event: its flat position in the (K, L) layout, its flat group
        ``k * (G + 1) + g`` and its row ``k``.
    rank_frac : torch.Tensor of float64, shape (E,)
        Efron weight ``l / d`` of each event (its rank among the ``d`` tied events).
    n_events : torch.Tensor of float64, shape (K,)
    numel : int
        Number of elements of the risk tensor the positions refer to.
    tied_events : bool
        Whether any two events share a time (else Efron equals Breslow).
    padded : bool
    """

    index: torch.Tensor
    valid: torch.Tensor
    group: torch.Tensor
    group_last: torch.Tensor
    event_pos: torch.Tensor
    event_group: torch.Tensor
    event_row: torch.Tensor
    rank_frac: torch.Tensor
    n_events: torch.Tensor
    numel: int
    tied_events: bool
    padded: bool
    group_flat: torch.Tensor = field(init=False, repr=False)
    last_flat: torch.Tensor = field(init=False, repr=False)
    out_index: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # flat indices: 1-D index_select / index_add_ are much faster than gather/scatter
        K, L = self.index.shape
        G = self.group_last.shape[1]
        if K == 1:
            object.__setattr__(self, "group_flat", self.group.reshape(-1))
            object.__setattr__(self, "last_flat", self.group_last.reshape(-1))
        else:
            rows = torch.arange(K, device=self.index.device).unsqueeze(1)
            object.__setattr__(self, "group_flat", (self.group + rows * G).reshape(-1))
            object.__setattr__(self, "last_flat", (self.group_last + rows * L).reshape(-1))
        out = torch.where(self.valid, self.index, self.numel) if self.padded else self.index
        object.__setattr__(self, "out_index", out.reshape(-1))

    @property
    def n_rows(self) -> int:
        """Number of independent samples ``K``."""
        return int(self.index.shape[0])

    def to(self, device: torch.device | str) -> RiskSets:
        """The same risk sets on another device."""
        names = (
            "index",
            "valid",
            "group",
            "group_last",
            "event_pos",
            "event_group",
            "event_row",
            "rank_frac",
            "n_events",
        )
        fields = {name: getattr(self, name).to(device) for name in names}
        return RiskSets(
            **fields, numel=self.numel, tied_events=self.tied_events, padded=self.padded
        )


def _argsort_desc_fast(time: torch.Tensor) -> torch.Tensor | None:
    """Descending argsort of non-negative CPU times by one numpy sort of packed keys.

    The float64 bit pattern of a non-negative number orders like the number; its
    top ``63 - b`` bits (complemented, for descending order) and the position
    (``b`` bits) are packed into one int64 and sorted with numpy's vectorised
    sort, several times faster than a comparison argsort. Distinct times that
    share the truncated key may come out of order: callers check the result and
    use :func:`_argsort_desc_exact` then. None when the size does not fit.
    """
    n = int(time.shape[0])
    shift = max(1, (n - 1).bit_length())
    if time.device.type != "cpu" or n < 2 or shift > 40:
        return None
    t = np.ascontiguousarray(time.detach().to(torch.float64).numpy())
    key = np.right_shift(t.view(np.int64), shift)  # (a -0.0 sorts first: caught by the check)
    np.invert(key, out=key)
    np.left_shift(key, shift, out=key)
    key |= np.arange(n, dtype=np.int64)
    key.sort()
    key &= (1 << shift) - 1
    return torch.from_numpy(key)


def _argsort_desc_exact(time: torch.Tensor) -> torch.Tensor:
    return torch.argsort(time, descending=True, stable=True)


def _prepare_row(event: torch.Tensor, time: torch.Tensor) -> dict[str, Any]:
    """Descending order, groups, last group positions and Efron ranks of one sample."""
    device = event.device
    n = int(time.shape[0])
    order = _argsort_desc_fast(time)
    t = time.index_select(0, order) if order is not None else None
    if order is None or t is None or (n > 1 and not bool((t[1:] <= t[:-1]).all())):
        order = _argsort_desc_exact(time).to(device)
        t = time.index_select(0, order)
    ev = event.index_select(0, order)
    new_group = torch.ones(n, dtype=torch.bool, device=device)
    if n > 1:
        torch.ne(t[1:], t[:-1], out=new_group[1:])
    group = torch.cumsum(new_group, 0, dtype=torch.int32)  # 1..G by decreasing time
    n_groups = int(group[-1]) if n else 0
    group.neg_().add_(n_groups + 1)  # 1..G by increasing time
    is_last = torch.ones(n, dtype=torch.bool, device=device)
    if n > 1:
        is_last[:-1] = new_group[1:]
    last = torch.cat(
        [
            torch.zeros(1, dtype=torch.int64, device=device),
            torch.nonzero(is_last).reshape(-1).flip(0),
        ]
    )
    pos = torch.nonzero(ev).reshape(-1)
    n_ev = int(pos.shape[0])
    event_group = group.index_select(0, pos)
    # Efron: rank of each event among the tied events of its group (events of a
    # group are contiguous in ``pos``)
    first = torch.ones(n_ev, dtype=torch.bool, device=device)
    if n_ev > 1:
        torch.ne(event_group[1:], event_group[:-1], out=first[1:])
    seg = torch.cumsum(first, 0) - 1
    seg_start = torch.nonzero(first).reshape(-1)
    seg_size = torch.diff(seg_start, append=torch.tensor([n_ev], device=device))
    rank = torch.arange(n_ev, device=device) - seg_start.index_select(0, seg)
    d = seg_size.index_select(0, seg)
    return {
        "order": order,
        "group": group,
        "last": last,
        "event_pos": pos,
        "event_group": event_group,
        "rank_frac": rank.to(torch.float64) / d.clamp_min(1),
        "n_events": float(n_ev),
        "tied": bool(seg_size.max() > 1) if n_ev else False,
        "n": n,
    }


def _risk_sets_from_rows(rows: Sequence[dict[str, Any]], stride: int) -> RiskSets:
    K = len(rows)
    device = rows[0]["order"].device
    L = max(r["n"] for r in rows)
    G = max(r["last"].shape[0] for r in rows)
    if K == 1:
        r = rows[0]
        return RiskSets(
            index=r["order"].reshape(1, -1),
            valid=torch.ones(1, L, dtype=torch.bool, device=device),
            group=r["group"].reshape(1, -1),
            group_last=r["last"].reshape(1, -1),
            event_pos=r["event_pos"],
            event_group=r["event_group"],
            event_row=torch.zeros_like(r["event_pos"]),
            rank_frac=r["rank_frac"],
            n_events=torch.tensor([r["n_events"]], dtype=torch.float64, device=device),
            numel=stride,
            tied_events=r["tied"],
            padded=False,
        )
    index = torch.zeros(K, L, dtype=torch.int64, device=device)
    valid = torch.zeros(K, L, dtype=torch.bool, device=device)
    group = torch.zeros(K, L, dtype=torch.int64, device=device)
    last = torch.zeros(K, G, dtype=torch.int64, device=device)
    ev_pos, ev_group, ev_row = [], [], []
    for k, r in enumerate(rows):
        n = r["n"]
        index[k, :n] = r["order"] + k * stride
        valid[k, :n] = True
        group[k, :n] = r["group"]
        last[k, : r["last"].shape[0]] = r["last"]
        ev_pos.append(r["event_pos"] + k * L)
        ev_group.append(r["event_group"] + k * G)
        ev_row.append(torch.full_like(r["event_pos"], k))
    return RiskSets(
        index=index,
        valid=valid,
        group=group,
        group_last=last,
        event_pos=torch.cat(ev_pos),
        event_group=torch.cat(ev_group),
        event_row=torch.cat(ev_row),
        rank_frac=torch.cat([r["rank_frac"] for r in rows]),
        n_events=torch.tensor([r["n_events"] for r in rows], dtype=torch.float64, device=device),
        numel=K * stride,
        tied_events=any(r["tied"] for r in rows),
        padded=any(r["n"] != L for r in rows),
    )


def _as_event_time(event: Any, time: Any, validate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if validate:
        ref = torch.as_tensor(time)
        dummy = torch.zeros(ref.reshape(-1).shape[0], dtype=torch.float64, device=ref.device)
        _, event_t, time_t = check_tensor_target(dummy, event, time)
        return event_t, time_t
    time_t = torch.as_tensor(time).reshape(-1)
    return torch.as_tensor(event, device=time_t.device).reshape(-1).to(torch.bool), time_t


def prepare_risk_sets(event: Any, time: Any, *, validate: bool = True) -> RiskSets:
    """Sort ``(event, time)`` once and record the risk sets and ties.

    Parameters
    ----------
    event : torch.Tensor or array-like of shape (n,)
        Event indicator (bool or 0/1).
    time : torch.Tensor or array-like of shape (n,)
        Follow-up times (>= 0).
    validate : bool, default True
        Check the inputs (0/1 events, finite non-negative times).

    Returns
    -------
    RiskSets
        One row (``K = 1``) for a risk tensor of shape (n,).

    Examples
    --------
    >>> import torch
    >>> rs = prepare_risk_sets(torch.tensor([1, 0, 1, 1]), torch.tensor([2.0, 3.0, 2.0, 5.0]))
    >>> risk = torch.tensor([0.5, -0.2, 1.0, 0.0])
    >>> round(float(neg_partial_log_likelihood_prepared(risk, rs)[0]), 4)
    0.5697
    """
    event_t, time_t = _as_event_time(event, time, validate)
    row = _prepare_row(event_t, time_t)
    return _risk_sets_from_rows([row], stride=row["n"])


def stack_risk_sets(
    events: Sequence[Any], times: Sequence[Any], stride: int, *, validate: bool = True
) -> RiskSets:
    """Risk sets of ``K`` samples for a risk tensor of shape (K, stride).

    Row ``k`` refers to ``risk[k, :n_k]`` where ``n_k = len(events[k])``.

    Examples
    --------
    >>> import torch
    >>> rs = stack_risk_sets([[1, 0, 1], [1, 1]], [[1.0, 2.0, 3.0], [2.0, 1.0]], stride=3)
    >>> risk = torch.tensor([[0.1, 0.2, 0.3], [0.5, -0.5, 0.0]])
    >>> losses = neg_partial_log_likelihood_prepared(risk, rs)
    >>> alone = neg_partial_log_likelihood(risk[1, :2], torch.tensor([1, 1]), torch.tensor([2.0, 1.0]))
    >>> bool(torch.allclose(losses[1], alone))
    True
    """
    if len(events) == 0 or len(events) != len(times):
        raise ValueError("stack_risk_sets needs one event and one time array per sample (>= 1)")
    rows = []
    for e, t in zip(events, times, strict=True):
        event_t, time_t = _as_event_time(e, t, validate)
        if time_t.shape[0] > stride:
            raise ValueError(f"stride {stride} is shorter than a sample ({time_t.shape[0]} rows)")
        rows.append(_prepare_row(event_t, time_t))
    return _risk_sets_from_rows(rows, stride)


def _per_sample(per_group: torch.Tensor, rs: RiskSets) -> torch.Tensor:
    """Value of each sample's group: (K, G) -> (K, L)."""
    return per_group.reshape(-1).index_select(0, rs.group_flat).view(rs.index.shape)


def _event_group_sum(values: torch.Tensor, rs: RiskSets) -> torch.Tensor:
    """Per-group sums of per-event values (E,) -> (K, G)."""
    K, G = rs.group_last.shape
    out = torch.zeros(K * G, dtype=values.dtype, device=values.device)
    return out.index_add_(0, rs.event_group, values).view(K, G)


def _event_group_logsumexp(values: torch.Tensor, rs: RiskSets) -> torch.Tensor:
    """Per-group log-sum-exp of per-event values (E,) -> (K, G); -inf for groups without events."""
    K, G = rs.group_last.shape
    gmax = torch.full((K * G,), float("-inf"), dtype=values.dtype, device=values.device)
    gmax = gmax.scatter_reduce(0, rs.event_group, values, reduce="amax", include_self=True)
    gmax = torch.where(torch.isfinite(gmax), gmax, torch.zeros_like(gmax))
    shifted = torch.exp(values - gmax.index_select(0, rs.event_group))
    s = torch.zeros(K * G, dtype=values.dtype, device=values.device).index_add_(
        0, rs.event_group, shifted
    )
    return (torch.log(s) + gmax).view(K, G)


def _row_sums(values: torch.Tensor, rs: RiskSets) -> torch.Tensor:
    out = torch.zeros(rs.n_rows, dtype=values.dtype, device=values.device)
    return out.index_add_(0, rs.event_row, values)


class _CoxNLL(torch.autograd.Function):
    """Per-row negative partial log-likelihood with a closed-form O(N) backward."""

    @staticmethod
    def forward(
        ctx: Any, risk: torch.Tensor, rs: RiskSets, efron: bool, divisor: torch.Tensor
    ) -> torch.Tensor:
        # elementwise work in float32 for float32 risks (sums always in float64)
        cdt = torch.float64 if risk.dtype == torch.float64 else torch.float32
        r = risk.reshape(-1).index_select(0, rs.index.reshape(-1)).to(cdt)
        r = r.view(rs.index.shape)
        if rs.padded:
            r.masked_fill_(~rs.valid, float("-inf"))
        efron = efron and rs.tied_events
        use_log = risk.device.type != "cpu"
        if not use_log:
            if rs.padded:
                m = r.amax(1, keepdim=True)
                lo = r.masked_fill(~rs.valid, float("inf")).amin(1, keepdim=True)
            else:
                lo, m = torch.aminmax(r, dim=1, keepdim=True)
            limit = _FAST_SPREAD if cdt == torch.float64 else _FAST_SPREAD_F32
            use_log = not bool(((m - lo) <= limit).all())
        if use_log:
            r = r.to(torch.float64)
        r_ev = r.view(-1).index_select(0, rs.event_pos).to(torch.float64)
        if use_log:
            scan = torch.logcumsumexp(r, 1)  # log risk-set sums, prefix in descending time
            log_den = scan.view(-1).index_select(0, rs.last_flat).index_select(0, rs.event_group)
            if efron:
                log_d = _event_group_logsumexp(r_ev, rs).view(-1).index_select(0, rs.event_group)
                frac = torch.exp(log_d - log_den).clamp(max=1.0)
                log_den = log_den + torch.log1p(-rs.rank_frac * frac)
            losses = _row_sums(log_den - r_ev, rs)
            ctx.save_for_backward(r, log_den, r_ev)
        else:
            e = torch.sub(r, m).exp_()
            scan = torch.cumsum(e, 1, dtype=torch.float64)  # risk-set sums (times exp(-m))
            den = scan.view(-1).index_select(0, rs.last_flat).index_select(0, rs.event_group)
            if efron:
                e_ev = e.view(-1).index_select(0, rs.event_pos).to(torch.float64)
                d_sum = _event_group_sum(e_ev, rs).view(-1).index_select(0, rs.event_group)
                den = den - rs.rank_frac * d_sum
            m_ev = m.view(-1).index_select(0, rs.event_row).to(torch.float64)
            losses = _row_sums(torch.log(den) + m_ev - r_ev, rs)
            ctx.save_for_backward(e, den)
        ctx.rs, ctx.efron, ctx.use_log, ctx.divisor = rs, efron, use_log, divisor
        ctx.risk_shape, ctx.risk_dtype = risk.shape, risk.dtype
        return (losses / divisor).to(risk.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        rs: RiskSets = ctx.rs
        if ctx.use_log:
            r, log_den, r_ev = ctx.saved_tensors
            log_a = torch.logcumsumexp(_event_group_logsumexp(-log_den, rs), 1)
            grad = _per_sample(log_a, rs).add_(r).exp_()
            ev_term = torch.ones_like(log_den)
            if ctx.efron:
                nb = torch.log(rs.rank_frac) - log_den  # -inf for the first of each tie group
                log_b = _event_group_logsumexp(nb, rs).view(-1).index_select(0, rs.event_group)
                ev_term = ev_term + torch.exp(r_ev + log_b)
        else:
            e, den = ctx.saved_tensors
            inv = 1.0 / den
            big_a = _event_group_sum(inv, rs).cumsum(1)
            grad = _per_sample(big_a, rs).mul_(e)
            ev_term = torch.ones_like(den)
            if ctx.efron:
                b = (
                    _event_group_sum(inv * rs.rank_frac, rs)
                    .view(-1)
                    .index_select(0, rs.event_group)
                )
                ev_term = ev_term + e.view(-1).index_select(0, rs.event_pos).to(torch.float64) * b
        grad.view(-1).index_add_(0, rs.event_pos, ev_term, alpha=-1.0)
        scale = grad_out.to(torch.float64) / ctx.divisor
        if rs.n_rows == 1:
            grad.mul_(scale[0])
        else:
            grad.mul_(scale.unsqueeze(1))
        if rs.padded:
            grad.masked_fill_(~rs.valid, 0.0)
        grad = grad.to(ctx.risk_dtype).reshape(-1)
        flat = torch.empty(rs.numel + int(rs.padded), dtype=grad.dtype, device=grad.device)
        if rs.padded or rs.index.shape[1] != rs.numel:
            flat.zero_()
        flat.index_copy_(0, rs.out_index, grad)
        return flat[: rs.numel].reshape(ctx.risk_shape), None, None, None


def neg_partial_log_likelihood_prepared(
    risk: torch.Tensor,
    risk_sets: RiskSets,
    *,
    ties: Ties = "efron",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Negative Cox partial log-likelihood of each sample of ``risk_sets``.

    Parameters
    ----------
    risk : torch.Tensor
        Risk scores; ``risk.numel()`` must equal ``risk_sets.numel`` (the positions
        in ``risk_sets`` refer to ``risk.reshape(-1)``).
    risk_sets : RiskSets
        From :func:`prepare_risk_sets` or :func:`stack_risk_sets`.
    ties : {"efron", "breslow"}, default "efron"
    reduction : {"mean", "sum"}, default "mean"
        ``"mean"`` divides each sample's sum over events by its number of events.

    Returns
    -------
    torch.Tensor of shape (K,)
        One loss per sample (row of ``risk_sets``); zero with zero gradient for a
        sample without events.

    Examples
    --------
    >>> import torch
    >>> rs = prepare_risk_sets(torch.tensor([1, 0, 1]), torch.tensor([1.0, 2.0, 3.0]))
    >>> neg_partial_log_likelihood_prepared(torch.zeros(3), rs, reduction="sum").shape
    torch.Size([1])
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if risk.numel() != risk_sets.numel:
        raise ValueError(
            f"risk has {risk.numel()} elements but the risk sets were prepared for "
            f"{risk_sets.numel}; prepare them for this batch"
        )
    if reduction == "mean":
        divisor = risk_sets.n_events.clamp_min(1.0)
    else:
        divisor = torch.ones_like(risk_sets.n_events)
    if risk_sets.index.shape[1] == 0:
        return risk.sum().reshape(1).expand(risk_sets.n_rows) * 0.0
    out: torch.Tensor = _CoxNLL.apply(risk, risk_sets, ties == "efron", divisor)
    return out


def neg_partial_log_likelihood(
    risk: torch.Tensor,
    event: torch.Tensor,
    time: torch.Tensor,
    *,
    ties: Ties = "efron",
    reduction: Reduction = "mean",
    validate: bool = True,
) -> torch.Tensor:
    """Negative Cox partial log-likelihood.

    Parameters
    ----------
    risk : torch.Tensor of shape (n,) or (n, 1)
        Predicted log-hazard ratio; higher = higher risk.
    event : torch.Tensor of shape (n,)
        Event indicator (bool or 0/1): 1 = death observed, 0 = censored.
    time : torch.Tensor of shape (n,)
        Follow-up times (>= 0).
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times. Efron matches lifelines' ``CoxPHFitter``;
        Breslow matches scikit-survival's ``CoxPHSurvivalAnalysis``.
    reduction : {"mean", "sum"}, default "mean"
        ``"mean"`` divides the sum over events by the number of events.
    validate : bool, default True
        Check the inputs (lengths, 0/1 events, finite non-negative times).
        Training loops that validated once may pass False.

    Returns
    -------
    torch.Tensor
        Scalar loss. Zero (with a zero gradient) when there is no event.

    Examples
    --------
    >>> import torch
    >>> risk = torch.tensor([0.5, -0.2, 1.0, 0.0])
    >>> event = torch.tensor([1, 0, 1, 1])
    >>> time = torch.tensor([2.0, 3.0, 2.0, 5.0])
    >>> round(float(neg_partial_log_likelihood(risk, event, time)), 4)
    0.5697
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if validate:
        risk, event, time = check_tensor_target(risk, event, time)
    else:
        risk = risk.reshape(-1)
        event = event.reshape(-1).to(torch.bool)
        time = time.reshape(-1)
    if risk.shape[0] == 0:
        return risk.sum() * 0.0
    rs = prepare_risk_sets(event, time, validate=False)
    return neg_partial_log_likelihood_prepared(risk, rs, ties=ties, reduction=reduction)[0]


def consistency_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean-Teacher consistency: mean squared error between student and teacher risks.

    The teacher is treated as a constant target (its gradient is not taken).

    Parameters
    ----------
    student, teacher : torch.Tensor of shape (n,) or (n, 1)
        Risk predictions of the student and the teacher for the same samples.
    mask : torch.Tensor of bool, shape (n,), optional
        Samples that enter the loss; all when None. An empty mask gives 0.

    Returns
    -------
    torch.Tensor
        Scalar mean squared difference over the selected samples.

    Examples
    --------
    >>> import torch
    >>> float(consistency_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 2.0])))
    0.5
    """
    s = student.reshape(-1)
    t = teacher.reshape(-1).detach()
    if s.shape != t.shape:
        raise ValueError(
            f"student and teacher predictions differ in length ({s.shape[0]} vs {t.shape[0]})"
        )
    if mask is not None:
        mask = mask.reshape(-1).to(torch.bool)
        if mask.shape != s.shape:
            raise ValueError(f"mask has length {mask.shape[0]}, expected {s.shape[0]}")
        s = s[mask]
        t = t[mask]
    if s.numel() == 0:
        return student.sum() * 0.0
    return torch.mean((s - t) ** 2)
