"""Gaussian input noise sampled after the first linear layer, exactly.

Cox-MT perturbs every input row ``x`` with ``s * e``, ``e ~ N(0, I_d)``. Only
the first linear layer sees the input, and

    W (x + s e) + b = (W x + b) + s W e,     W e ~ N(0, W W^T)    (h x h),

so the noisy pre-activation can be drawn as ``W x + b + s L y`` with
``y ~ N(0, I_h)`` and ``L L^T = W W^T``: ``h`` normal draws per row instead of
``d`` (genes). The gradient of the weights also sees the noise,
``dL/dW = G^T (X + s E)``. With ``Q^T = L^{-1} W`` (orthonormal rows spanning the
row space of ``W``) the noise splits into independent parts ``E = Y Q^T + E_perp``:
``Y = E Q`` is exactly the ``y`` of the forward pass and ``E_perp = E (I - Q Q^T)``
is independent of everything the forward pass computed, so

    s G^T E  =  s [ G^T Y Q^T + G^T E_perp ],   G^T E_perp  ~  C Z (I - Q Q^T),

with ``C C^T = G^T G`` (h x h) and ``Z ~ N(0, I)`` of shape (h, d). The update
therefore has exactly the distribution of input-space noise (forward values and
gradients) at the cost of ``O(h^2 d + N h^2)`` instead of ``O(N d)`` normal
draws. When ``W W^T`` is singular or badly conditioned the factor comes from a
QR decomposition of ``W^T`` (``W^T = Q R``, ``L = R^T``), which needs no
inverse; :func:`noise_space` falls back to plain input noise when the first
layer is not narrower than the input.

All functions work on stacks of ``K`` independent models (leading dimension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["RowSpace", "noise_space", "psd_factor"]

# Cholesky is used while cond(L) = max/min diag stays below this; else QR
_MAX_FACTOR_COND = 1e4


def noise_space(n_hidden: int, n_features: int) -> str:
    """Where input noise is sampled: ``"hidden"`` when ``2 * n_hidden <= n_features``.

    Examples
    --------
    >>> noise_space(128, 1000), noise_space(64, 64)
    ('hidden', 'input')
    """
    return "hidden" if 2 * int(n_hidden) <= int(n_features) else "input"


def psd_factor(gram: torch.Tensor) -> torch.Tensor:
    """A float64 factor ``C`` with ``C C^T = gram`` for a stack of PSD matrices (K, h, h).

    Cholesky where it succeeds, else the eigen-decomposition with negative
    round-off eigenvalues set to zero.

    Examples
    --------
    >>> import torch
    >>> g = torch.tensor([[[4.0, 2.0], [2.0, 2.0]]])
    >>> c = psd_factor(g)
    >>> bool(torch.allclose(c @ c.transpose(1, 2), g.double()))
    True
    """
    g = gram.to(torch.float64)
    c, info = torch.linalg.cholesky_ex(g)
    bad = info != 0
    if bool(bad.any()):
        vals, vecs = torch.linalg.eigh(g[bad])
        c = c.clone()
        c[bad] = vecs * vals.clamp_min(0.0).sqrt().unsqueeze(-2)
    return c


class RowSpace:
    """Factor of ``W W^T`` for a stack of first-layer weights ``W`` (K, h, d).

    ``lower`` (float64, K x h x h) satisfies ``lower @ lower^T = W W^T``.
    :meth:`project` computes ``A Q`` and :meth:`expand` computes ``M Q^T`` for the
    orthonormal basis ``Q`` (d x h) of the row space of ``W`` that the factor
    implies, without forming ``Q`` when the Cholesky factor is well conditioned.

    Examples
    --------
    >>> import torch
    >>> W = torch.randn(1, 3, 10, dtype=torch.float64)
    >>> rs = RowSpace(W)
    >>> bool(torch.allclose(rs.lower @ rs.lower.transpose(1, 2), W @ W.transpose(1, 2)))
    True
    >>> eye = rs.project(rs.expand(torch.eye(3, dtype=torch.float64).unsqueeze(0)))
    >>> bool(torch.allclose(eye, torch.eye(3, dtype=torch.float64)))
    True
    """

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        gram = torch.bmm(weight, weight.transpose(1, 2)).to(torch.float64)
        lower, info = torch.linalg.cholesky_ex(gram)
        diag = torch.diagonal(lower, dim1=-2, dim2=-1)
        ok = (info == 0) & (diag.amin(-1) * _MAX_FACTOR_COND > diag.amax(-1))
        self.basis: torch.Tensor | None = None
        if not bool(ok.all()):
            q, r = torch.linalg.qr(weight.transpose(1, 2).to(torch.float64))
            self.basis = q.to(weight.dtype)  # (K, d, h), orthonormal columns
            lower = r.transpose(1, 2)
        self.lower = lower

    def project(self, a: torch.Tensor) -> torch.Tensor:
        """``A Q`` for ``A`` of shape (K, m, d); float64 (K, m, h)."""
        if self.basis is not None:
            return torch.bmm(a, self.basis).to(torch.float64)
        awt = torch.bmm(a, self.weight.transpose(1, 2)).to(torch.float64)
        # A Q = A W^T L^{-T}: solve X L^T = A W^T
        return torch.linalg.solve_triangular(
            self.lower.transpose(1, 2), awt, upper=True, left=False
        )

    def expand(self, m: torch.Tensor) -> torch.Tensor:
        """``M Q^T`` for ``M`` of shape (K, m, h); (K, m, d) in the weight dtype."""
        if self.basis is not None:
            return torch.bmm(m.to(self.basis.dtype), self.basis.transpose(1, 2))
        # M Q^T = M L^{-1} W
        ml = torch.linalg.solve_triangular(self.lower, m.to(torch.float64), upper=False, left=False)
        return torch.bmm(ml.to(self.weight.dtype), self.weight)

    def sample(self, y: torch.Tensor) -> torch.Tensor:
        """Noise ``y L^T`` with the covariance ``W W^T`` per row, from ``y`` (K, n, h)."""
        return torch.bmm(y, self.lower.transpose(1, 2).to(y.dtype))


class NoiseRng:
    """Per-model random generators; model ``k`` draws only when ``active[k]``."""

    def __init__(self, generators: Sequence[torch.Generator], device: torch.device) -> None:
        self.generators = list(generators)
        self.device = device
        self._buffers: dict[str, torch.Tensor] = {}

    def buffer(self, name: str, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """A tensor to draw into, kept under ``name`` and reused while its shape and dtype
        stay the same (training allocates the same draws every step)."""
        buf = self._buffers.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype:
            buf = torch.empty(tuple(shape), dtype=dtype, device=self.device)
            self._buffers[name] = buf
        return buf

    def normal_rows(
        self, out: torch.Tensor, counts: Sequence[int], active: Sequence[bool]
    ) -> torch.Tensor:
        """Fill ``out[k, :counts[k]]`` with N(0, 1) draws for active models; zero elsewhere."""
        out.zero_()
        for k, (n, on) in enumerate(zip(counts, active, strict=True)):
            if on and n > 0:
                out[k, :n].normal_(generator=self.generators[k])
        return out

    def uniform_rows(
        self, out: torch.Tensor, counts: Sequence[int], active: Sequence[bool]
    ) -> torch.Tensor:
        """Fill ``out[k, :counts[k]]`` with U[0, 1) draws for active models (others untouched)."""
        for k, (n, on) in enumerate(zip(counts, active, strict=True)):
            if on and n > 0:
                out[k, :n].uniform_(generator=self.generators[k])
        return out


class HiddenNoise:
    """The hidden-space noise of one forward pass of a stack of first layers.

    ``buffer`` (optional, float32, shape (K, n + 2h, d)) holds the inputs in rows
    ``:n``; the forward pass writes the random matrix ``Z`` into rows ``n:n+h`` and
    the weights into rows ``n+h:``, so that one matmul ``buffer @ W^T`` yields
    ``X W^T``, ``Z W^T`` and the Gram matrix ``W W^T``, and one matmul
    ``[G^T | s C | s M] @ buffer`` yields the whole weight gradient.
    """

    def __init__(
        self,
        std: torch.Tensor,
        active: Sequence[bool],
        rng: NoiseRng,
        counts: Sequence[int],
        buffer: torch.Tensor | None = None,
    ) -> None:
        self.std = std  # (K,) float
        self.active = list(active)
        self.rng = rng
        self.counts = list(counts)
        self.buffer = buffer
        # the backward's coefficient matrix [G | s C^T | s M^T], reused across steps
        self.coef: torch.Tensor | None = None


def _cholesky_ok(gram: torch.Tensor) -> tuple[torch.Tensor, bool]:
    lower, info = torch.linalg.cholesky_ex(gram.to(torch.float64))
    diag = torch.diagonal(lower, dim1=-2, dim2=-1)
    ok = (info == 0) & (diag.amin(-1) * _MAX_FACTOR_COND > diag.amax(-1))
    return lower, bool(ok.all())


class FirstLayer(torch.autograd.Function):
    """``A = X W^T + b`` (+ exact hidden-space input noise) for a stack of models.

    Inputs: ``weight`` (K, h, d), ``bias`` (K, h) or None, ``x`` (K, n, d) constant
    (in the matmul dtype; ignored when ``noise.buffer`` holds the inputs), ``noise``
    a :class:`HiddenNoise` or None, ``clean_out`` a list that receives the
    noise-free pre-activation (no gradient). Returns the noisy pre-activation.
    """

    @staticmethod
    def forward(
        ctx: Any,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        x: torch.Tensor,
        noise: HiddenNoise | None,
        clean_out: list[torch.Tensor],
    ) -> torch.Tensor:
        K, h, _ = weight.shape
        active = noise is not None and any(noise.active)
        buf = noise.buffer if noise is not None and active else None
        ctx.mode = "plain"
        if buf is not None and noise is not None:
            n = buf.shape[1] - 2 * h
            x = buf[:, :n]
            z = buf[:, n : n + h]
            noise.rng.normal_rows(z, [h] * K, noise.active)
            buf[:, n + h :].copy_(weight.detach())
            out = torch.bmm(buf, weight.transpose(1, 2))
            clean = out[:, :n]
            if bias is not None:
                clean = clean + bias.unsqueeze(1)
            lower, ok = _cholesky_ok(out[:, n + h :])
            if ok:
                ctx.mode = "fused"
                ctx.lower, ctx.zwt = lower, out[:, n : n + h].to(torch.float64)
            else:  # ill-conditioned: exact QR basis, separate matmuls
                ctx.mode = "basis"
                ctx.space = RowSpace(weight)
                lower = ctx.space.lower
            ctx.z = z
        else:
            w_mm = weight if x.dtype == weight.dtype else weight.to(x.dtype)
            if bias is not None:
                clean = torch.baddbmm(bias.to(x.dtype).unsqueeze(1), x, w_mm.transpose(1, 2))
            else:
                clean = torch.bmm(x, w_mm.transpose(1, 2))
            clean = clean.to(weight.dtype)
            if active:
                ctx.mode = "basis"
                ctx.space = RowSpace(weight)
                lower = ctx.space.lower
        noisy = clean
        if ctx.mode != "plain" and noise is not None:
            n = clean.shape[1]
            y = noise.rng.buffer("hidden noise", (K, n, h), weight.dtype)
            noise.rng.normal_rows(y, noise.counts, noise.active)
            u = torch.bmm(y, lower.transpose(1, 2).to(y.dtype))
            noisy = torch.addcmul(clean, noise.std.view(K, 1, 1), u)
            ctx.y = y
        ctx.save_for_backward(x, weight)
        ctx.noise, ctx.has_bias = noise, bias is not None
        clean_out.append(clean.detach())
        return noisy

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, weight = ctx.saved_tensors
        g = grad.contiguous()
        grad_b = g.sum(1) if ctx.has_bias else None
        if ctx.mode == "plain":
            g_mm = g if g.dtype == x.dtype else g.to(x.dtype)
            return torch.bmm(g_mm.transpose(1, 2), x).to(weight.dtype), grad_b, None, None, None
        noise: HiddenNoise = ctx.noise
        K, h, d = weight.shape
        std = noise.std.view(K, 1, 1)
        # G^T E_perp ~ C Z (I - Q Q^T) with C C^T = G^T G
        c = psd_factor(torch.bmm(g.transpose(1, 2), g))
        gty = torch.bmm(g.transpose(1, 2), ctx.y).to(torch.float64)
        if ctx.mode == "fused":
            lower = ctx.lower
            # (G^T Y - C Z Q) with Z Q = Z W^T L^{-T}; then M = (.) L^{-1} so that M W = (.) Q^T
            czq = torch.linalg.solve_triangular(
                lower.transpose(1, 2), torch.bmm(c, ctx.zwt), upper=True, left=False
            )
            m = torch.linalg.solve_triangular(lower, gty - czq, upper=False, left=False)
            buf = noise.buffer
            assert buf is not None
            n = buf.shape[1] - 2 * h
            # [G | s C^T | s M^T] stored row-major (contiguous copies only), used transposed
            coef_t = noise.coef
            if coef_t is None or coef_t.shape != (K, n + 2 * h, h):
                coef_t = torch.empty(K, n + 2 * h, h, dtype=weight.dtype, device=weight.device)
                noise.coef = coef_t
            coef_t[:, :n] = g
            torch.mul(c.transpose(1, 2).to(weight.dtype), std, out=coef_t[:, n : n + h])
            torch.mul(m.transpose(1, 2).to(weight.dtype), std, out=coef_t[:, n + h :])
            return torch.bmm(coef_t.transpose(1, 2), buf), grad_b, None, None, None
        space: RowSpace = ctx.space
        g_mm = g if g.dtype == x.dtype else g.to(x.dtype)
        grad_w = torch.bmm(g_mm.transpose(1, 2), x).to(weight.dtype)
        z = ctx.z if getattr(ctx, "z", None) is not None else None
        if z is None:
            z = torch.empty(K, h, d, dtype=weight.dtype, device=weight.device)
            noise.rng.normal_rows(z, [h] * K, noise.active)
        cz = torch.bmm(c.to(weight.dtype), z.to(weight.dtype))
        extra = cz + space.expand(gty - space.project(cz))
        return torch.addcmul(grad_w, std, extra), grad_b, None, None, None
