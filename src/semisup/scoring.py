"""Accuracy, loss and confusion on a held-out set, every image counted exactly once."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    count: int
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    probabilities: torch.Tensor  # [N, K] on the CPU


ABSURD_LOSS_FACTOR = 10  # a mean loss 10x chance's (ln K) means many confidently wrong answers


def absurd_loss(loss: float, classes: int) -> bool:
    """A held-out loss no sound network gives (e.g. 865.9 for 2 classes, where chance is 0.69): the usual cause is
    eval-mode BatchNorm statistics far from the batches the network trained on. Its accuracy is not to be trusted."""
    return not math.isfinite(loss) or loss > ABSURD_LOSS_FACTOR * math.log(classes)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, amp: bool = False) -> Evaluation:
    """Eval-mode pass in fixed chunks; restores the model's train/eval mode afterwards."""
    was_training = model.training
    model.eval()
    logits = []
    device_type = images.device.type
    for start in range(0, images.shape[0], batch_size):
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp and device_type == "cuda"):
            logits.append(model(images[start:start + batch_size]).float())
    model.train(was_training)
    logits_all = torch.cat(logits)
    predictions = logits_all.argmax(dim=1)
    k = logits_all.shape[1]
    confusion = torch.bincount(labels * k + predictions, minlength=k * k).view(k, k)
    return Evaluation(
        accuracy=(predictions == labels).float().mean().item(),
        loss=F.cross_entropy(logits_all, labels).item(),
        count=int(labels.numel()),
        confusion=confusion.tolist(),
        probabilities=logits_all.softmax(dim=1).cpu(),
    )
