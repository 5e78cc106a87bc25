"""Held-out evaluation: an absurd loss is flagged, not reported as if it were sound."""
import math

import pytest
import torch
from torch import nn

from semisup.scoring import absurd_loss, evaluate
from semisup.evaluation.reporting import method_metrics


def test_absurd_loss_is_ten_times_chance_or_not_finite():
    assert not absurd_loss(0.69, 2) and not absurd_loss(6.9, 2)
    assert absurd_loss(865.9, 2) and absurd_loss(math.inf, 2) and absurd_loss(math.nan, 2)


class Confident(nn.Module):
    """Always 'cat' with a huge margin: what a network with collapsed BatchNorm statistics does."""

    def forward(self, x):
        return torch.tensor([[1000.0, -1000.0]]).expand(x.shape[0], 2)


@pytest.mark.parametrize("model, absurd", [(Confident(), True), (nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), False)])
def test_metrics_flag_an_absurd_test_loss(model, absurd):
    torch.manual_seed(0)
    test = evaluate(model, torch.rand(10, 3, 1, 1), torch.tensor([0, 1] * 5), batch_size=4)
    meta = {"train": {"val_accuracy": 0.5, "best_epoch": 1, "epochs_run": 1, "train_seconds": 1.0,
                      "images_per_second": 1.0}, "params": {"profile": "smoke"}, "method": "baseline",
            "strategy": "random", "seed": 0, "data_source": "synthetic", "image_size": 32}
    metrics = method_metrics(meta, test)
    assert all(isinstance(v, (int, float)) for v in metrics.values())  # numbers only: what DVC can compare
    assert metrics["test_loss_absurd"] == int(absurd) and metrics["test_accuracy"] == pytest.approx(test.accuracy, abs=1e-6)
