"""Adam over stacked parameters: one optimiser step for ``K`` models at once."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from coxmt.training.packing import ModelSpec
from coxmt.training.stacked import StackedMLP

__all__ = ["StackedAdam"]


class StackedAdam:
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
