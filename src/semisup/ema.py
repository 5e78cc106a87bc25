"""Exponential moving average of the classifier's weights and BatchNorm statistics (torch's AveragedModel).

With 100 labels the raw weights swing from step to step; the average is what validation, model selection and the
test see when `train.ema` > 0.
"""
from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """None when `decay` is 0 (off). Buffers are averaged too, so the BatchNorm running statistics match the weights."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def evaluated(model: nn.Module, ema: AveragedModel | None) -> nn.Module:
    """The network that validation, selection and the test read: the average when there is one."""
    return model if ema is None else ema.module
