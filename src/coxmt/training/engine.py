"""The stacked backend: full-batch training of one or many Cox MLPs (Cox-nnet or Cox-MT).

This is the ``"stacked"`` backend (:mod:`coxmt.training.backends`) behind
:class:`~coxmt.CoxNnet` / :class:`~coxmt.CoxMT` with full-batch training and behind
:func:`coxmt.fit_many`. It runs the same method as :class:`~coxmt.training.Trainer`
with :class:`~coxmt.training.MeanTeacherObjective` (the rules of
:mod:`coxmt.training.mean_teacher`: consistency rows, EMA coefficient, ramp-up,
noise level), organised for speed:

- the data lives on the device once, in the matmul dtype; every model's rows are
  packed as ``(K, rows, features)`` and each layer is one batched matmul
  (:mod:`coxmt.training.packing`, :mod:`coxmt.training.stacked`);
- the Cox loss uses risk sets prepared once (:func:`coxmt.losses.prepare_risk_sets`);
- input noise is drawn after the first layer when that layer is narrow
  (:mod:`coxmt.training.noise`; same distribution of values and gradients);
- the teacher's first-layer pre-activations on the training rows are the
  exponential moving average of the student's (the layer is linear in its
  weights and the teacher's weights are the EMA of the student's), so the
  teacher costs no pass over the genes;
- logs stay tensors until the epoch ends; a fused Adam updates the stacks
  (:mod:`coxmt.training.adam`).

Every model draws its random numbers from its own generators
(:mod:`coxmt.training.seeding`: initialisation on CPU, dropout and noise on the
device) in a fixed order, so a model trained in a stack of ``K`` gets the same
draws as trained alone: results agree up to float rounding of the matmuls. With
no noise and no dropout the loss trajectory equals the general loop's to float
tolerance (tests/training/test_backend_equivalence.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from coxmt.losses import neg_partial_log_likelihood_prepared
from coxmt.training.adam import StackedAdam
from coxmt.training.mean_teacher import consistency_weight_at, ema_alpha
from coxmt.training.monitor import Patience, divergence_error, validation_scores
from coxmt.training.noise import FirstLayer, HiddenNoise, NoiseRng, RowSpace
from coxmt.training.packing import ModelData, ModelSpec, PreparedStack, take_rows
from coxmt.training.seeding import init_generator, stream_generator
from coxmt.training.stacked import StackedMLP, dropout_masks, forward_rest
from coxmt.training.threads import auto_threads, epoch_flops

__all__ = ["EngineResult", "ModelData", "ModelSpec", "train_stacked"]


@dataclass
class EngineResult:
    """Per model: the predicting network's weights, epoch logs, epochs run, best epoch."""

    params: list[StackedMLP]
    history: list[list[dict[str, float]]]
    n_epochs: list[int]
    best_epoch: list[int | None]


def _student_first(
    st: PreparedStack, params: StackedMLP, rng: NoiseRng, noise: HiddenNoise | None
) -> tuple[torch.Tensor, torch.Tensor]:
    w, b = params.weights[0], params.biases[0] if params.biases else None
    clean: list[torch.Tensor] = []
    if st.mode == "input":
        e = torch.empty(st.x.shape, dtype=w.dtype, device=w.device)
        rng.normal_rows(e, st.counts, st.noise_on)
        xs = torch.addcmul(st.x.to(w.dtype), st.std.view(-1, 1, 1), e).to(st.x.dtype)
        return FirstLayer.apply(w, b, xs, None, clean), clean[0]
    return FirstLayer.apply(w, b, st.x, noise, clean), clean[0]


def _masks(
    st: PreparedStack,
    rng: NoiseRng,
    bufs: list[torch.Tensor],
    counts: Sequence[int],
    on: Sequence[bool],
) -> list[torch.Tensor | None]:
    if not any(st.drop_on):
        return [None] * len(bufs)
    off = [k for k, o in enumerate(on) if not o]
    for b in bufs:  # masks are built in place: reset the rows of models that draw none
        rng.uniform_rows(b, counts, on)
        for k in off:
            b[k].zero_()
    return [dropout_masks(b, st.keep) for b in bufs]


def _teacher_forward(
    st: PreparedStack,
    teacher: StackedMLP,
    at: torch.Tensor | None,
    rng: NoiseRng,
    bufs: list[torch.Tensor],
    t_on: Sequence[bool],
    activation: str,
) -> torch.Tensor:
    """Teacher risk on the consistency rows: its own input noise and dropout (train mode)."""
    noisy = [a and b for a, b in zip(t_on, st.noise_on, strict=True)]
    dev = teacher.weights[0].device
    if at is None:  # input-space noise: the teacher's own pass over the genes
        e = torch.empty(st.x_teacher.shape, dtype=torch.float32, device=dev)
        rng.normal_rows(e, st.t_counts, noisy)
        xt = torch.addcmul(st.x_teacher.float(), st.std.view(-1, 1, 1), e)
        at = torch.bmm(xt, teacher.weights[0].transpose(1, 2))
        if teacher.biases:
            at = at + teacher.biases[0].unsqueeze(1)
    elif st.mode == "hidden" and any(noisy):
        y = rng.buffer("teacher hidden noise", at.shape, at.dtype)
        rng.normal_rows(y, st.t_counts, noisy)
        at = torch.addcmul(at, st.std.view(-1, 1, 1), RowSpace(teacher.weights[0]).sample(y))
    masks = _masks(
        st, rng, bufs, st.t_counts, [a and b for a, b in zip(t_on, st.drop_on, strict=True)]
    )
    return forward_rest(teacher, at, activation, masks)


def train_stacked(
    x: torch.Tensor,
    specs: Sequence[ModelSpec],
    data: Sequence[ModelData],
    *,
    hidden: Sequence[int],
    activation: str = "tanh",
    ties: str = "efron",
    mm_dtype: torch.dtype = torch.float32,
    model_names: Sequence[str] | None = None,
    check_every: int | None = None,
    on_epoch: Callable[[int], None] | None = None,
) -> EngineResult:
    """Train ``K = len(specs)`` models full-batch on rows of the shared matrix ``x``.

    On CPU, unless the user fixed the thread count, training runs on the number of
    threads that :func:`coxmt.training.threads.auto_threads` picks for the size of
    the problem (the caller's setting is restored afterwards).

    Parameters
    ----------
    x : torch.Tensor of shape (n, d)
        Features of every row any model uses, float32 on the training device.
    specs, data : sequences of :class:`ModelSpec` / :class:`ModelData`
        One per model. All specs must agree on ``mean_teacher``.
    hidden : sequence of int
        Hidden widths (shared by the models); empty = linear Cox model.
    activation, ties : str
    mm_dtype : torch.dtype
        dtype of the first layer's matmuls (float32, or bfloat16 for ``precision="bf16"``).
    model_names : sequence of str, optional
        Names used in error messages.
    check_every : int, optional
        Epochs between finiteness checks of the loss (each one synchronises a GPU);
        default 10 (every epoch when validation rows are given). The error names the
        first non-finite epoch either way.
    on_epoch : callable, optional
        Called with the epoch number after every epoch (progress bars).

    Returns
    -------
    EngineResult
    """
    rows = max(
        (
            len(d.labeled) + (len(d.unlabeled) if s.mean_teacher else 0)
            for s, d in zip(specs, data, strict=True)
        ),
        default=0,
    )
    flops = epoch_flops(rows, x.shape[1], hidden[0] if hidden else 1, len(specs))
    with auto_threads(flops, x.device):
        return _train(
            x,
            specs,
            data,
            hidden=hidden,
            activation=activation,
            ties=ties,
            mm_dtype=mm_dtype,
            model_names=model_names,
            check_every=check_every,
            on_epoch=on_epoch,
        )


def _train(
    x: torch.Tensor,
    specs: Sequence[ModelSpec],
    data: Sequence[ModelData],
    *,
    hidden: Sequence[int],
    activation: str = "tanh",
    ties: str = "efron",
    mm_dtype: torch.dtype = torch.float32,
    model_names: Sequence[str] | None = None,
    check_every: int | None = None,
    on_epoch: Callable[[int], None] | None = None,
) -> EngineResult:
    """The training of :func:`train_stacked` (on the threads it chose)."""
    K = len(specs)
    if len({s.mean_teacher for s in specs}) != 1:
        raise ValueError("train_stacked trains either only Cox-MT or only Cox-nnet models at once")
    dev = x.device
    st = PreparedStack(x, specs, data, hidden, mm_dtype)
    # weights are initialised on CPU (identical on every device); dropout and noise
    # come from a second, independent stream on the training device
    init_gens = [init_generator(s.seed) for s in specs]
    gens = [stream_generator(s.seed, dev) for s in specs]
    rng = NoiseRng(gens, dev)
    student = StackedMLP.init(x.shape[1], hidden, init_gens, torch.device("cpu"))
    student = StackedMLP([w.to(dev) for w in student.weights], [b.to(dev) for b in student.biases])
    student.requires_grad_(True)
    teacher = student.detached_clone() if st.mt else None
    opt = StackedAdam(student, specs)
    P = st.x.shape[1]
    s_bufs = [torch.zeros(K, P, h, device=dev) for h in hidden]
    t_bufs = [torch.zeros(K, st.t_idx.shape[1], h, device=dev) for h in hidden] if st.mt else []
    cache: torch.Tensor | None = None
    val_cache: torch.Tensor | None = None
    max_epochs = [int(s.max_epochs) for s in specs]
    n_epochs = max(max_epochs)
    names = list(model_names) if model_names is not None else [f"model {k}" for k in range(K)]
    check_every = check_every or 10
    # per-epoch schedules, computed once (no host-to-device copies inside the loop)
    w_host = np.array(
        [
            [consistency_weight_at(e, s.consistency_weight, s.rampup_epochs) for s in specs]
            for e in range(n_epochs)
        ]
    )
    t_on_host = (w_host > 0) & (np.asarray(st.t_counts) > 0)[None, :]
    # one optimiser step per epoch: the EMA coefficient after the step of epoch e
    alpha = np.array([[ema_alpha(e, s.ema_decay) for s in specs] for e in range(n_epochs)])
    w_sched = torch.as_tensor(w_host * t_on_host, dtype=torch.float32, device=dev)
    lerp_sched = torch.as_tensor(
        1.0 - alpha, dtype=torch.float32, device=dev
    )  # teacher EMA weights
    t_on_lists = [[bool(v) for v in row] for row in t_on_host]
    # the EMA weights as float32, as lerp_ applies them
    lerp_host = (1.0 - alpha).astype(np.float32)[:, 0].astype(float) if n_epochs else alpha
    same_decay = len({s.ema_decay for s in specs}) == 1
    t_tensors = teacher.tensors() if teacher is not None else []
    s_tensors = [t.detach() for t in student.tensors()]
    w_log = torch.as_tensor(w_host, dtype=torch.float32, device=dev)  # logged weights
    zeros_k = torch.zeros(K, device=dev)
    inv_t_counts = torch.as_tensor(
        1.0 / np.maximum(st.t_counts, 1), dtype=torch.float32, device=dev
    )

    # the hidden-space noise of the student's first layer (its buffers live across epochs)
    noise = (
        HiddenNoise(st.std, st.noise_on, rng, st.counts, st.buffer) if st.mode == "hidden" else None
    )
    logs: list[torch.Tensor] = []
    active = [True] * K
    history: list[list[dict[str, float]]] = [[] for _ in range(K)]
    patience = [Patience(s.patience if s.patience is not None else 1) for s in specs]
    snapshots: list[tuple[StackedMLP, StackedMLP | None] | None] = [None] * K
    final: list[StackedMLP | None] = [None] * K
    checked = 0
    epoch = -1
    for epoch in range(n_epochs):
        # -- student ------------------------------------------------------------------
        a1, clean = _student_first(st, student, rng, noise)
        risk = forward_rest(student, a1, activation, _masks(st, rng, s_bufs, st.counts, st.drop_on))
        sup = neg_partial_log_likelihood_prepared(risk, st.risk_sets, ties=ties)  # type: ignore[arg-type]
        cons = zeros_k
        w_now = w_sched[epoch]
        t_on = t_on_lists[epoch]
        if teacher is not None and any(t_on):
            with torch.no_grad():
                if st.mode != "input":  # teacher pre-activations = EMA of the student's
                    if cache is None:
                        cache = clean.clone()
                    else:
                        cache.lerp_(clean, lerp_sched[epoch - 1].view(-1, 1, 1))
                    at = cache if st.t_identity else take_rows(cache, st.t_idx)
                else:
                    at = None
                risk_t = _teacher_forward(st, teacher, at, rng, t_bufs, t_on, activation)
            rs_t = risk if st.t_identity else take_rows(risk.unsqueeze(-1), st.t_idx)[..., 0]
            cons = (((rs_t - risk_t) ** 2) * st.t_valid).sum(1) * inv_t_counts
        loss_k = sup + w_now * cons if st.mt else sup
        opt.zero_grad()
        loss_k.sum().backward()
        opt.step()
        if teacher is not None:
            with torch.no_grad():
                if same_decay:  # one fused update of every tensor
                    torch._foreach_lerp_(t_tensors, s_tensors, float(lerp_host[epoch]))
                else:
                    wgt = lerp_sched[epoch]
                    for t, s in zip(t_tensors, s_tensors, strict=True):
                        t.lerp_(s, wgt.view(-1, *([1] * (t.dim() - 1))))
        # -- logs, validation, early stopping -------------------------------------------
        if st.mt:
            logs.append(torch.stack([loss_k.detach(), sup.detach(), cons.detach(), w_log[epoch]]).T)
        else:
            logs.append(loss_k.detach().unsqueeze(1))
        if (epoch + 1) % check_every == 0 or epoch + 1 >= n_epochs or st.val:
            _check_finite(logs, active, names, K, start=checked)
            checked = len(logs)
        val_c: list[dict[str, float]] = [{} for _ in range(K)]
        if st.val:
            val_c, val_cache = _validate(
                st, student, teacher, specs, data, activation, val_cache, lerp_sched[epoch]
            )
        for k in range(K):
            if not active[k]:
                continue
            entry = {"_epoch": epoch, **val_c[k]}
            history[k].append(entry)
            spec = specs[k]
            if spec.patience is not None:
                verdict = patience[k].update(val_c[k].get("val_c_index"), epoch)
                if verdict == "improved":
                    snapshots[k] = (student.model(k), teacher.model(k) if teacher else None)
                elif verdict == "stop":
                    active[k] = False
            if epoch + 1 >= max_epochs[k]:
                active[k] = False
            if not active[k]:
                final[k] = _predictor(student, teacher, spec, k, snapshots[k])
        if on_epoch is not None:
            on_epoch(epoch)
        if not any(active):
            break
    _check_finite(logs, [True] * K, names, K, upto=[len(h) for h in history])
    table = torch.stack(logs).cpu().tolist() if logs else []
    keys = (
        ["loss", "loss_supervised", "loss_consistency", "consistency_weight"] if st.mt else ["loss"]
    )
    out_hist: list[list[dict[str, float]]] = []
    for k in range(K):
        rows = []
        for entry in history[k]:
            e = int(entry["_epoch"])
            row = dict(zip(keys, table[e][k], strict=True))
            row.update({kk: v for kk, v in entry.items() if kk != "_epoch"})
            row["epoch"] = float(e)
            rows.append(row)
        out_hist.append(rows)
    params = [
        f if f is not None else _predictor(student, teacher, specs[k], k, snapshots[k])
        for k, f in enumerate(final)
    ]
    best_epoch = [
        p.best_epoch if s.patience is not None else None
        for p, s in zip(patience, specs, strict=True)
    ]
    return EngineResult(params, out_hist, [len(h) for h in history], best_epoch)


def _predictor(
    student: StackedMLP,
    teacher: StackedMLP | None,
    spec: ModelSpec,
    k: int,
    snapshot: tuple[StackedMLP, StackedMLP | None] | None,
) -> StackedMLP:
    use_teacher = teacher is not None and spec.predict_with == "teacher"
    if snapshot is not None:
        s, t = snapshot
        return t if use_teacher and t is not None else s
    return teacher.model(k) if use_teacher and teacher is not None else student.model(k)


def _check_finite(
    logs: list[torch.Tensor],
    active: Sequence[bool],
    names: Sequence[str],
    K: int,
    upto: Sequence[int] | None = None,
    start: int = 0,
) -> None:
    """Raise FloatingPointError at the first non-finite loss of an active model."""
    if len(logs) <= start:
        return
    last = torch.stack(logs[start:])[..., 0]  # (epochs, K) total loss
    bad = ~torch.isfinite(last)
    if not bool(bad.any()):
        return
    bad_np = bad.cpu().numpy()
    for k in range(K):
        limit = len(logs) - start if upto is None else upto[k] - start
        hits = np.flatnonzero(bad_np[:limit, k])
        if (active[k] or upto is not None) and hits.size:
            e = int(hits[0]) + start
            raise divergence_error(float(last[e - start, k]), e, names[k] if K > 1 else "")


@torch.no_grad()
def _validate(
    st: PreparedStack,
    student: StackedMLP,
    teacher: StackedMLP | None,
    specs: Sequence[ModelSpec],
    data: Sequence[ModelData],
    activation: str,
    val_cache: torch.Tensor | None,
    ema_weight: torch.Tensor,
) -> tuple[list[dict[str, float]], torch.Tensor | None]:
    """Harrell's C of the student (and the teacher) on each model's validation rows."""
    w, b = student.weights[0], student.biases[0] if student.biases else None
    a = torch.bmm(st.x_val, w.to(st.x_val.dtype).transpose(1, 2)).to(w.dtype)
    if b is not None:
        a = a + b.unsqueeze(1)
    n_hidden = len(student.biases)
    risks = {"student": forward_rest(student, a, activation, [None] * n_hidden)}
    if teacher is not None:
        if val_cache is None:
            val_cache = a.clone()
        else:
            val_cache.lerp_(a, ema_weight.view(-1, 1, 1))
        risks["teacher"] = forward_rest(teacher, val_cache, activation, [None] * n_hidden)
    arrays = {name: r.double().cpu().numpy() for name, r in risks.items()}
    out: list[dict[str, float]] = []
    for k, (spec, d) in enumerate(zip(specs, data, strict=True)):
        n = st.v_counts[k]
        if teacher is None:
            order = [("model", "student")]
        elif spec.predict_with == "student":
            order = [("student", "student"), ("teacher", "teacher")]
        else:
            order = [("teacher", "teacher"), ("student", "student")]
        scores = {label: arrays[key][k, :n] for label, key in order}
        out.append(validation_scores(d.event_val, d.time_val, scores) if n else {})
    return out, val_cache
