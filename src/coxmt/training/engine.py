"""Full-batch training of one or many Cox MLPs (Cox-nnet or Cox-MT) as stacked tensors.

This is the fast path behind :class:`~coxmt.CoxNnet` / :class:`~coxmt.CoxMT`
with ``batch_size=None`` and behind :func:`coxmt.training.fit_many`. It runs the
same method as :class:`~coxmt.training.Trainer` with
:class:`~coxmt.training.MeanTeacherObjective`, organised for speed:

- the data lives on the device once, in the matmul dtype; every model's rows are
  packed as ``(K, rows, features)`` and each layer is one batched matmul;
- the Cox loss uses risk sets prepared once (:func:`coxmt.losses.prepare_risk_sets`);
- input noise is drawn after the first layer when that layer is narrow
  (:mod:`coxmt.training.noise`; same distribution of values and gradients);
- the teacher's first-layer pre-activations on the training rows are the
  exponential moving average of the student's (the layer is linear in its
  weights and the teacher's weights are the EMA of the student's), so the
  teacher costs no pass over the genes;
- logs stay tensors until the epoch ends; a fused Adam updates the stacks.

Every model draws its random numbers (initialisation, dropout, noise) from its
own generator in a fixed order, so a model trained in a stack of ``K`` gets the
same draws as trained alone: results agree up to float rounding of the matmuls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from coxmt.losses import neg_partial_log_likelihood_prepared, stack_risk_sets
from coxmt.training.mean_teacher import sigmoid_rampup
from coxmt.training.noise import FirstLayer, HiddenNoise, NoiseRng, RowSpace, noise_space
from coxmt.training.stacked import StackedMLP, dropout_masks, forward_rest

__all__ = ["EngineResult", "ModelData", "ModelSpec", "train_stacked"]


@dataclass
class ModelSpec:
    """Training settings of one model (see :class:`~coxmt.CoxMT` for their meaning)."""

    seed: int
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.0
    max_epochs: int = 200
    patience: int | None = None  # early stopping on the validation rows when set
    mean_teacher: bool = False
    noise_std: float = 0.0
    ema_decay: float = 0.99
    consistency_weight: float = 1.0
    rampup_epochs: int = 30
    consistency_on: str = "censored+unlabeled"
    predict_with: str = "teacher"


@dataclass
class ModelData:
    """Rows of one model in the shared feature matrix, with their outcomes."""

    labeled: np.ndarray
    event: np.ndarray
    time: np.ndarray
    unlabeled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    event_val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    time_val: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class EngineResult:
    """Per model: the predicting network's weights, epoch logs, epochs run, best epoch."""

    params: list[StackedMLP]
    history: list[list[dict[str, float]]]
    n_epochs: list[int]
    best_epoch: list[int | None]


def _stream_seed(seed: int) -> int:
    """Seed of the training-time random stream, independent of the initialisation stream."""
    return int(np.random.SeedSequence([int(seed), 1]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _pack(
    x: torch.Tensor, rows: Sequence[np.ndarray], dtype: torch.dtype, extra_rows: int = 0
) -> torch.Tensor:
    """(K, max rows + extra_rows, d) copy of ``x[rows[k]]`` (zero padding); a view
    when possible (one model using every row, no extra rows)."""
    n = x.shape[0]
    if (
        len(rows) == 1
        and len(rows[0]) == n
        and np.array_equal(rows[0], np.arange(n))
        and not extra_rows
    ):
        return x.to(dtype).unsqueeze(0)
    width = max(1, max(len(r) for r in rows))
    out = torch.zeros(len(rows), width + extra_rows, x.shape[1], dtype=dtype, device=x.device)
    for k, r in enumerate(rows):
        if len(r):
            out[k, : len(r)] = x.index_select(0, torch.as_tensor(r, device=x.device)).to(dtype)
    return out


def _index_table(
    pos: Sequence[np.ndarray], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, max len) int64 positions (padding 0) and validity mask."""
    width = max(1, max(len(p) for p in pos))
    idx = torch.zeros(len(pos), width, dtype=torch.int64)
    valid = torch.zeros(len(pos), width, dtype=torch.bool)
    for k, p in enumerate(pos):
        idx[k, : len(p)] = torch.as_tensor(p, dtype=torch.int64)
        valid[k, : len(p)] = True
    return idx.to(device), valid.to(device)


def _take_rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[k, idx[k]]`` for t of shape (K, n, ...) and idx (K, m)."""
    if t.shape[0] == 1:
        return t[0].index_select(0, idx[0]).unsqueeze(0)
    return torch.gather(
        t, 1, idx.view(*idx.shape, *([1] * (t.dim() - 2))).expand(-1, -1, *t.shape[2:])
    )


class _Adam:
    """Adam (``torch.optim.Adam`` semantics: coupled L2 weight decay, bias correction)
    over stacked parameters with a learning rate and weight decay per model.

    Uses the fused Adam kernel when torch provides it (one pass over memory; one
    call per model when step sizes differ), else plain tensor operations. Not
    building a ``torch.optim`` optimiser also avoids importing ``torch._dynamo``
    (over a second at the first fit of a process).
    """

    def __init__(
        self,
        params: StackedMLP,
        specs: Sequence[ModelSpec],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = params.tensors()
        self.lr = [float(s.learning_rate) for s in specs]
        self.wd = [float(s.weight_decay) for s in specs]
        self.uniform = len(set(zip(self.lr, self.wd, strict=True))) == 1
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0
        dev = self.params[0].device
        self.fused = hasattr(torch, "_fused_adam_") and dev.type in ("cpu", "cuda")
        self.steps = [torch.zeros((), dtype=torch.float32, device=dev) for _ in self.params]
        K = len(specs)
        shape = [(-1,) + (1,) * (p.dim() - 1) for p in self.params]
        self.lr_t = [torch.tensor(self.lr, device=dev).view(sh) for sh in shape]
        self.wd_t = [torch.tensor(self.wd, device=dev).view(sh) for sh in shape]
        self.K = K

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        params = [p.detach() for p in self.params]
        if self.fused:
            for t in self.steps:
                t.add_(1.0)
            if self.uniform:
                torch._fused_adam_(
                    params,
                    grads,
                    self.exp_avg,
                    self.exp_avg_sq,
                    [],
                    self.steps,
                    lr=self.lr[0],
                    beta1=self.beta1,
                    beta2=self.beta2,
                    weight_decay=self.wd[0],
                    eps=self.eps,
                    amsgrad=False,
                    maximize=False,
                )
            else:
                for k in range(self.K):
                    torch._fused_adam_(
                        [p[k] for p in params],
                        [g[k] for g in grads],
                        [m[k] for m in self.exp_avg],
                        [v[k] for v in self.exp_avg_sq],
                        [],
                        self.steps,
                        lr=self.lr[k],
                        beta1=self.beta1,
                        beta2=self.beta2,
                        weight_decay=self.wd[k],
                        eps=self.eps,
                        amsgrad=False,
                        maximize=False,
                    )
            return
        bc1 = 1.0 - self.beta1**self.step_count
        bc2_sqrt = (1.0 - self.beta2**self.step_count) ** 0.5
        for i, (p, g, m, v) in enumerate(
            zip(params, grads, self.exp_avg, self.exp_avg_sq, strict=True)
        ):
            g = g + p * self.wd_t[i]
            m.lerp_(g, 1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.sub_(m / denom * (self.lr_t[i] / bc1))


class _Stack:
    """Everything that stays fixed during training, prepared once."""

    def __init__(
        self,
        x: torch.Tensor,
        specs: Sequence[ModelSpec],
        data: Sequence[ModelData],
        hidden: Sequence[int],
        mm_dtype: torch.dtype,
    ) -> None:
        dev = x.device
        self.K = len(specs)
        self.mt = specs[0].mean_teacher
        rows = [np.concatenate([d.labeled, d.unlabeled]) if self.mt else d.labeled for d in data]
        self.counts = [len(r) for r in rows]
        self.h1 = int(hidden[0]) if hidden else 1
        any_noise = self.mt and any(s.noise_std > 0 for s in specs)
        self.mode = noise_space(self.h1, x.shape[1]) if any_noise else "none"
        self.buffer: torch.Tensor | None = None
        if self.mode == "hidden" and mm_dtype == torch.float32:
            self.buffer = _pack(x, rows, mm_dtype, extra_rows=2 * self.h1)
            self.x = self.buffer[:, : self.buffer.shape[1] - 2 * self.h1]
        else:
            self.x = _pack(x, rows, mm_dtype)
        P = self.x.shape[1]
        self.risk_sets = stack_risk_sets(
            [torch.as_tensor(d.event, device=dev) for d in data],
            [torch.as_tensor(d.time, dtype=torch.float64, device=dev) for d in data],
            stride=P,
            validate=False,
        )
        self.hidden = list(hidden)
        self.std = torch.tensor([s.noise_std for s in specs], dtype=torch.float32, device=dev)
        self.noise_on = [s.noise_std > 0 for s in specs]
        self.keep = torch.tensor([1.0 - s.dropout for s in specs], dtype=torch.float32, device=dev)
        self.drop_on = [s.dropout > 0 for s in specs]
        # teacher rows: positions inside each model's packed rows
        self.t_counts = [0] * self.K
        if self.mt:
            pos = []
            for d, s in zip(data, specs, strict=True):
                n_lab, n_unl = len(d.labeled), len(d.unlabeled)
                if s.consistency_on == "all":
                    lab = np.arange(n_lab)
                elif s.consistency_on == "censored+unlabeled":
                    lab = np.flatnonzero(~np.asarray(d.event, dtype=bool))
                else:
                    lab = np.zeros(0, dtype=np.int64)
                pos.append(np.concatenate([lab, n_lab + np.arange(n_unl)]).astype(np.int64))
            self.t_counts = [len(p) for p in pos]
            self.t_idx, self.t_valid = _index_table(pos, dev)
            self.t_identity = self.K == 1 and self.t_counts[0] == P
            if self.mode == "input":
                self.x_teacher = self.x if self.t_identity else _take_rows(self.x, self.t_idx)
        # validation rows
        self.val = any(len(d.val) for d in data)
        if self.val:
            self.x_val = _pack(x, [d.val for d in data], mm_dtype)
            self.v_counts = [len(d.val) for d in data]


def _student_first(
    st: _Stack, params: StackedMLP, rng: NoiseRng
) -> tuple[torch.Tensor, torch.Tensor]:
    w, b = params.weights[0], params.biases[0] if params.biases else None
    clean: list[torch.Tensor] = []
    if st.mode == "input":
        e = torch.empty(st.x.shape, dtype=w.dtype, device=w.device)
        rng.normal_rows(e, st.counts, st.noise_on)
        xs = torch.addcmul(st.x.to(w.dtype), st.std.view(-1, 1, 1), e).to(st.x.dtype)
        return FirstLayer.apply(w, b, xs, None, clean), clean[0]
    noise = (
        HiddenNoise(st.std, st.noise_on, rng, st.counts, st.buffer) if st.mode == "hidden" else None
    )
    return FirstLayer.apply(w, b, st.x, noise, clean), clean[0]


def _masks(
    st: _Stack, rng: NoiseRng, bufs: list[torch.Tensor], counts: Sequence[int], on: Sequence[bool]
) -> list[torch.Tensor | None]:
    if not any(st.drop_on):
        return [None] * len(bufs)
    return [dropout_masks(rng.uniform_rows(b, counts, on), st.keep) for b in bufs]


def _teacher_forward(
    st: _Stack,
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
        y = torch.empty(at.shape, dtype=at.dtype, device=dev)
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
        default 1 on CPU, 10 on other devices.
    on_epoch : callable, optional
        Called with the epoch number after every epoch (progress bars).

    Returns
    -------
    EngineResult
    """
    K = len(specs)
    if len({s.mean_teacher for s in specs}) != 1:
        raise ValueError("train_stacked trains either only Cox-MT or only Cox-nnet models at once")
    dev = x.device
    st = _Stack(x, specs, data, hidden, mm_dtype)
    # weights are initialised on CPU (identical on every device); dropout and noise
    # come from a second, independent stream on the training device
    init_gens = [torch.Generator().manual_seed(int(s.seed)) for s in specs]
    gens = [torch.Generator(device=dev).manual_seed(_stream_seed(s.seed)) for s in specs]
    rng = NoiseRng(gens, dev)
    student = StackedMLP.init(x.shape[1], hidden, init_gens, torch.device("cpu"))
    student = StackedMLP([w.to(dev) for w in student.weights], [b.to(dev) for b in student.biases])
    student.requires_grad_(True)
    teacher = student.detached_clone() if st.mt else None
    opt = _Adam(student, specs)
    P = st.x.shape[1]
    s_bufs = [torch.zeros(K, P, h, device=dev) for h in hidden]
    t_bufs = [torch.zeros(K, st.t_idx.shape[1], h, device=dev) for h in hidden] if st.mt else []
    cache: torch.Tensor | None = None
    val_cache: torch.Tensor | None = None
    max_epochs = [int(s.max_epochs) for s in specs]
    n_epochs = max(max_epochs)
    names = list(model_names) if model_names is not None else [f"model {k}" for k in range(K)]
    check_every = check_every or (1 if dev.type == "cpu" else 10)
    # per-epoch schedules, computed once (no host-to-device copies inside the loop)
    w_host = np.array(
        [
            [s.consistency_weight * sigmoid_rampup(e, s.rampup_epochs) for s in specs]
            for e in range(n_epochs)
        ]
    )
    t_on_host = (w_host > 0) & (np.asarray(st.t_counts) > 0)[None, :]
    steps = np.arange(n_epochs, dtype=np.float64)[:, None]
    alpha = np.minimum(1.0 - 1.0 / (steps + 1.0), np.array([s.ema_decay for s in specs])[None, :])
    w_sched = torch.as_tensor(w_host * t_on_host, dtype=torch.float32, device=dev)
    lerp_sched = torch.as_tensor(
        1.0 - alpha, dtype=torch.float32, device=dev
    )  # teacher EMA weights
    inv_t_counts = torch.as_tensor(
        1.0 / np.maximum(st.t_counts, 1), dtype=torch.float32, device=dev
    )

    logs: list[torch.Tensor] = []
    active = [True] * K
    history: list[list[dict[str, float]]] = [[] for _ in range(K)]
    best = [float("-inf")] * K
    best_epoch: list[int | None] = [None] * K
    wait = [0] * K
    snapshots: list[tuple[StackedMLP, StackedMLP | None] | None] = [None] * K
    final: list[StackedMLP | None] = [None] * K
    checked = 0
    epoch = -1
    for epoch in range(n_epochs):
        # -- student ------------------------------------------------------------------
        a1, clean = _student_first(st, student, rng)
        risk = forward_rest(student, a1, activation, _masks(st, rng, s_bufs, st.counts, st.drop_on))
        sup = neg_partial_log_likelihood_prepared(risk, st.risk_sets, ties=ties)  # type: ignore[arg-type]
        cons = torch.zeros(K, device=dev)
        w_now = w_sched[epoch]
        if teacher is not None and bool(t_on_host[epoch].any()):
            t_on = [bool(v) for v in t_on_host[epoch]]
            with torch.no_grad():
                if st.mode != "input":  # teacher pre-activations = EMA of the student's
                    if cache is None:
                        cache = clean.clone()
                    else:
                        cache.lerp_(clean, lerp_sched[epoch - 1].view(-1, 1, 1))
                    at = cache if st.t_identity else _take_rows(cache, st.t_idx)
                else:
                    at = None
                risk_t = _teacher_forward(st, teacher, at, rng, t_bufs, t_on, activation)
            rs_t = risk if st.t_identity else _take_rows(risk.unsqueeze(-1), st.t_idx)[..., 0]
            cons = (((rs_t - risk_t) ** 2) * st.t_valid).sum(1) * inv_t_counts
        loss_k = sup + w_now * cons if st.mt else sup
        opt.zero_grad()
        loss_k.sum().backward()
        opt.step()
        if teacher is not None:
            with torch.no_grad():
                wgt = lerp_sched[epoch]
                for t, s in zip(teacher.tensors(), student.tensors(), strict=True):
                    t.lerp_(s.detach(), wgt.view(-1, *([1] * (t.dim() - 1))))
        # -- logs, validation, early stopping -------------------------------------------
        if st.mt:
            w_log = torch.as_tensor(w_host[epoch], dtype=torch.float32).to(dev, non_blocking=True)
            logs.append(torch.stack([loss_k.detach(), sup.detach(), cons.detach(), w_log]).T)
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
                value = val_c[k].get("val_c_index", float("nan"))
                if value == value:  # not NaN
                    if value > best[k]:
                        best[k], best_epoch[k], wait[k] = value, epoch, 0
                        snapshots[k] = (student.model(k), teacher.model(k) if teacher else None)
                    else:
                        wait[k] += 1
                        if wait[k] >= spec.patience:
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
            who = f" ({names[k]})" if K > 1 else ""
            raise FloatingPointError(
                f"training loss became {float(last[e - start, k])} at epoch {e}{who}; lower learning_rate "
                "or check the inputs for extreme values (scale the features)"
            )


@torch.no_grad()
def _validate(
    st: _Stack,
    student: StackedMLP,
    teacher: StackedMLP | None,
    specs: Sequence[ModelSpec],
    data: Sequence[ModelData],
    activation: str,
    val_cache: torch.Tensor | None,
    ema_weight: torch.Tensor,
) -> tuple[list[dict[str, float]], torch.Tensor | None]:
    """Harrell's C of the student (and the teacher) on each model's validation rows."""
    from coxmt.metrics import concordance_index

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
        row: dict[str, float] = {}
        for i, (label, key) in enumerate(order):
            try:
                c = float(concordance_index(d.event_val, d.time_val, arrays[key][k, :n]))
            except ValueError:
                c = float("nan")
            row[f"val_c_index_{label}"] = c
            if i == 0:
                row["val_c_index"] = c
        out.append(row if n else {})
    return out, val_cache
