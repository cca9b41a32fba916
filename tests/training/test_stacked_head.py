"""The fused tanh + dropout + output node of the stacked engine equals the composed operations."""

from __future__ import annotations

import pytest
import torch

from coxmt.training.stacked import StackedMLP, _TanhHead, forward_rest


@pytest.mark.parametrize(
    "with_mask", [pytest.param(True, id="dropout"), pytest.param(False, id="none")]
)
def test_tanh_head_matches_composed_ops(with_mask: bool) -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 7, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2, 1, 5, dtype=torch.float64, generator=g, requires_grad=True)
    mask = (torch.rand(2, 7, 5, generator=g, dtype=torch.float64) < 0.8).double() / 0.8
    m = mask if with_mask else None
    risk = _TanhHead.apply(a, m, w)
    h = torch.tanh(a) * (mask if with_mask else 1.0)
    ref = torch.bmm(h, w.transpose(1, 2))[..., 0]
    torch.testing.assert_close(risk, ref)
    up = torch.randn(2, 7, dtype=torch.float64, generator=g)
    ga, gw = torch.autograd.grad((risk * up).sum(), (a, w))
    ra, rw = torch.autograd.grad((ref * up).sum(), (a, w))
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gw, rw)
    assert torch.autograd.gradcheck(lambda a_, w_: _TanhHead.apply(a_, m, w_), (a, w))


def test_forward_rest_uses_the_fused_node_for_one_tanh_layer() -> None:
    params = StackedMLP([torch.randn(1, 3, 4), torch.randn(1, 1, 3)], [torch.randn(1, 3)])
    first = torch.randn(1, 6, 3, requires_grad=True)
    risk = forward_rest(params, first, "tanh", [None])
    assert type(risk.grad_fn).__name__ == "_TanhHeadBackward"
    torch.testing.assert_close(
        risk, (torch.tanh(first) @ params.weights[-1].transpose(1, 2))[..., 0]
    )
