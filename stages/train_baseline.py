"""Stage `train_baseline`: ResNet18 from scratch on the labelled images alone (the published supervised baseline).

    python stages/train_baseline.py     # writes models/baseline.pt and dvclive/baseline/
"""
from pathlib import Path

from semisup.artifacts import save_model
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.runs import labeled_data, setup
from semisup.training import train_baseline


def main() -> None:
    params = load_params()
    device, checkpoint, live = setup(params, "baseline")
    data = labeled_data(params, device)
    print(f"baseline on {device}: {data.x_labeled.shape[0]} labelled, {data.x_val.shape[0]} validation images, "
          f"{params.image_size} px")
    result = train_baseline(params, data, device, checkpoint, live)
    live.end()
    save_model(Path("models/baseline.pt"), "baseline", params, result.summary(), result.classifier_state)
    checkpoint.remove()
    print(f"baseline: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/{result.epochs_run} "
          f"({result.steps} steps)")


if __name__ == "__main__":
    run_stage(main)
