"""The classifier EMA against hand-computed values: w_ema <- d * w_ema + (1 - d) * w, buffers included."""
import pytest
import torch
from torch import nn

from semisup.training.ema import evaluated, make_ema, warmed_up_decay


def test_off_when_decay_is_zero():
    model = nn.Linear(1, 1)
    assert make_ema(model, 0.0) is None and evaluated(model, None) is model


def test_average_of_weights_and_batchnorm_buffers_by_hand():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    ema = make_ema(model, 0.9)
    values = [2.0, 3.0, 5.0]
    for w in values:
        model[0].weight.data.fill_(w)
        model[1].running_mean.fill_(w)
        ema.update_parameters(model)
    # the first update copies (torch's AveragedModel); then the warmed-up decays min(0.9, (1+t)/(10+t)):
    # t=1: 2/11 * 2 + 9/11 * 3; t=2: 3/12 * that + 9/12 * 5
    expected = 3 / 12 * (2 / 11 * 2 + 9 / 11 * 3) + 9 / 12 * 5
    assert evaluated(model, ema)[0].weight.item() == pytest.approx(expected)
    assert evaluated(model, ema)[1].running_mean.item() == pytest.approx(expected)
    assert model[0].weight.item() == 5.0  # the trained weights are untouched


def test_warm_up_lets_the_initial_weights_fade():
    """Without warm-up the untrained weights were 22% of a 0.99 average after 150 steps (0.99 ** 150)."""
    model = nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(0.0)
    ema = make_ema(model, 0.99)
    ema.update_parameters(model)  # the copy of the initial weights
    model.weight.data.fill_(1.0)
    for _ in range(150):
        ema.update_parameters(model)
    assert 1 - ema.module.weight.item() < 1e-6  # the initial weights' share of the average
    assert warmed_up_decay(0.99, torch.tensor(0)).item() == pytest.approx(0.1)
    assert warmed_up_decay(0.99, torch.tensor(10_000)).item() == pytest.approx(0.99)  # the configured decay, later
