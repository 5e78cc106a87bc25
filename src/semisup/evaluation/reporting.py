"""What `evaluate` writes. The metrics files `dvc metrics diff` and `dvc exp show` compare hold numbers only (a string
there reads "diff not supported" and widens every table); what a figure was measured on (data source and its hash,
size, profile, strategy, seed, recipe) goes to `metrics/provenance.json`. Training seconds, which vary with the
machine's load, stay out of every tracked file (`training.timing`: beside each model). Accuracies and gains share one
unit: fractions of the test set."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..artifacts import CLASSES
from ..scoring import Evaluation, absurd_loss
from ..files import atomic_path, write_text


def method_metrics(meta: dict[str, Any], test: Evaluation) -> dict[str, Any]:
    """The numbers of one trained model on the test set (read once) and of its training."""
    train = meta["train"]
    return {
        "test_accuracy": round(test.accuracy, 6),
        "test_loss": round(test.loss, 6),
        "test_loss_absurd": int(absurd_loss(test.loss, len(test.confusion))),  # 1: see evaluation.absurd_loss
        "test_images": test.count,
        "val_accuracy": round(train["val_accuracy"], 6),
        "best_epoch": train["best_epoch"],
        "epochs_run": train["epochs_run"],
        "steps": train.get("steps", train["epochs_run"]),  # optimiser steps: the budget runs are compared at
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_confusion(path: Path, labels: list[int], predictions: list[int]) -> None:
    """One row per test image (actual, predicted): DVC's `confusion` plot template counts them."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("actual", "predicted"))
        for y, p in zip(labels, predictions):
            writer.writerow((CLASSES[y], CLASSES[p]))
