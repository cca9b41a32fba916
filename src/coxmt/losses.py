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
"""

from __future__ import annotations

from typing import Literal

import torch

from coxmt._validation import check_tensor_target

__all__ = ["consistency_loss", "neg_partial_log_likelihood"]

Ties = Literal["efron", "breslow"]
Reduction = Literal["mean", "sum"]


def _group_starts(time_sorted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For times sorted ascending: group id of each position and start index of each group."""
    n = time_sorted.shape[0]
    new_group = torch.ones(n, dtype=torch.bool, device=time_sorted.device)
    if n > 1:
        new_group[1:] = time_sorted[1:] != time_sorted[:-1]
    group = torch.cumsum(new_group.to(torch.int64), 0) - 1
    starts = torch.nonzero(new_group).reshape(-1)
    return group, starts


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
    1.0219
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
    n_events = event.sum()
    if risk.shape[0] == 0 or not bool(n_events):
        return risk.sum() * 0.0

    order = torch.argsort(time, stable=True)
    r = risk[order]
    ev = event[order]
    t = time[order]
    group, starts = _group_starts(t)

    # log of the risk-set sum at each distinct time: reverse log-cum-sum-exp
    log_risk_set = torch.flip(torch.logcumsumexp(torch.flip(r, (0,)), 0), (0,))[starts]
    log_r_group = log_risk_set[group]

    ev_r = r[ev]
    ev_group = group[ev]
    if ties == "breslow":
        denom = log_r_group[ev]
    else:
        n_groups = starts.shape[0]
        evf = ev.to(r.dtype)
        d = torch.zeros(n_groups, dtype=r.dtype, device=r.device).index_add_(0, group, evf)
        # log of the sum of exp(risk) over the tied events of each group (stable per group)
        gmax = torch.full((n_groups,), float("-inf"), dtype=r.dtype, device=r.device)
        gmax = gmax.scatter_reduce(0, ev_group, ev_r.detach(), reduce="amax", include_self=True)
        gmax = torch.where(torch.isfinite(gmax), gmax, torch.zeros_like(gmax))
        tie_sum = torch.zeros(n_groups, dtype=r.dtype, device=r.device).index_add_(
            0, ev_group, torch.exp(ev_r - gmax[ev_group])
        )
        # rank l = 0..d-1 of each event inside its tie group
        cum = torch.cumsum(ev.to(torch.int64), 0)
        before_group = (cum - ev.to(torch.int64))[starts]
        rank = (cum[ev] - 1 - before_group[ev_group]).to(r.dtype)
        d_ev = d[ev_group]
        log_tie = torch.log(tie_sum[ev_group].clamp_min(torch.finfo(r.dtype).tiny)) + gmax[ev_group]
        frac = torch.exp(log_tie - log_r_group[ev]).clamp(max=1.0)
        # Efron: log(R - (l/d) D) = log R + log1p(-(l/d) D/R); (l/d) D/R <= (d-1)/d < 1
        denom = log_r_group[ev] + torch.log1p(-(rank / d_ev) * frac)
    total = (denom - ev_r).sum()
    if reduction == "mean":
        return total / n_events.to(total.dtype)
    return total


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
