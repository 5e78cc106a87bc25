"""The classifier EMA against hand-computed values: w_ema <- d * w_ema + (1 - d) * w, buffers included."""
import pytest
import torch
from torch import nn

from semisup.ema import evaluated, make_ema


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
    # the first update copies (torch's AveragedModel); then 0.9 * 2 + 0.1 * 3 = 2.1; 0.9 * 2.1 + 0.1 * 5 = 2.39
    assert evaluated(model, ema)[0].weight.item() == pytest.approx(2.39)
    assert evaluated(model, ema)[1].running_mean.item() == pytest.approx(2.39)
    assert model[0].weight.item() == 5.0  # the trained weights are untouched
