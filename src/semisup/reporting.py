"""Metrics files that `dvc metrics diff` compares: every figure names its data source, size, strategy and seed."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .artifacts import CLASSES
from .evaluation import Evaluation


def method_metrics(meta: dict[str, Any], test: Evaluation) -> dict[str, Any]:
    train = meta["train"]
    return {
        "test_accuracy": round(test.accuracy, 6),
        "test_loss": round(test.loss, 6),
        "test_images": test.count,
        "val_accuracy": round(train["val_accuracy"], 6),
        "best_epoch": train["best_epoch"],
        "epochs_run": train["epochs_run"],
        "train_seconds": round(train["train_seconds"], 2),
        "images_per_second": round(train["images_per_second"], 1),
        "profile": meta["params"]["profile"],
        "strategy": meta["strategy"],
        "seed": meta["seed"],
        "data_source": meta["data_source"],
        "image_size": meta["image_size"],
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_confusion(path: Path, labels: list[int], predictions: list[int]) -> None:
    """One row per test image (actual, predicted): DVC's `confusion` plot template counts them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("actual", "predicted"))
        for y, p in zip(labels, predictions):
            writer.writerow((CLASSES[y], CLASSES[p]))
