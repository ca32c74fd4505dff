"""surrogate.optim: Adam's per-layer lr scaled by fan-in, by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from surrogate.optim import adam, fan_in, lr_scales, set_lr


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(2, 4, 3), nn.Flatten(), nn.Linear(4, 8))


def test_fan_in_and_groups_by_hand():
    net = _net()
    conv, lin = net[0], net[2]
    assert fan_in(conv.weight) == 2 * 27 and fan_in(lin.weight) == 4 and fan_in(conv.bias) == 1
    groups = lr_scales(net, 27)  # the conv weight sums 54 inputs: half the lr; the rest <= 27: the lr
    assert [s for s, _ in groups] == [1.0, 0.5]
    assert groups[0][1] == [conv.bias, lin.weight, lin.bias] and groups[1][1] == [conv.weight]
    assert lr_scales(net, None) == [(1.0, list(net.parameters()))]  # off: one group, the model's order
    assert lr_scales(net, 54) == [(1.0, list(net.parameters()))]


def test_adams_first_step_moves_each_weight_by_its_scaled_lr():
    """Adam's first step is lr * g / (|g| + eps) per element (bias-corrected moments g and g^2): the
    conv weight moves by lr / 2, everything else by lr."""
    net = _net()
    opt = adam(net, 1.0, 27, torch.device("cpu"))
    set_lr(opt, 1e-2)
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 5e-3]
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.randn(5, 2, 3, 3, 3)).square().sum().backward()
    opt.step()
    steps = [(p.detach() - b).abs() for p, b in zip(net.parameters(), before, strict=True)]
    torch.testing.assert_close(steps[0], torch.full_like(steps[0], 5e-3), rtol=1e-4, atol=0)
    for s in steps[1:]:
        torch.testing.assert_close(s, torch.full_like(s, 1e-2), rtol=1e-4, atol=0)


def test_a_bad_lr_fan_in_is_named():
    from surrogate.training import TrainSpec

    assert TrainSpec(lr_fan_in=288).lr_fan_in == 288 and TrainSpec().lr_fan_in is None
    for bad in (0, -3, 2.5, True, "288"):
        with pytest.raises(ValueError, match=rf"train\.lr_fan_in={bad!r}: must be an integer >= 1 or null"):
            TrainSpec(lr_fan_in=bad)
