"""Stage `train_baseline`: ResNet18 from scratch on the labelled images alone (the published supervised baseline).

    python stages/train_baseline.py     # writes models/baseline.pt and dvclive/baseline/
    torchrun --standalone --nproc_per_node=2 stages/train_baseline.py   # the labelled batch split over 2 ranks
"""
from pathlib import Path

from semisup.artifacts import save_model
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.execution import leave_ranks
from semisup.runs import labeled_data, setup
from semisup.training import train_baseline


def main() -> None:
    params = load_params()
    exe, checkpoint, live = setup(params, "baseline")
    data = labeled_data(params, exe.device)
    if exe.ranks.is_main:
        print(f"baseline on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled, "
              f"{data.x_val.shape[0]} validation images, {params.image_size} px")
    result = train_baseline(params, data, exe.device, checkpoint, live, exe)
    if exe.ranks.is_main:
        live.end()
        save_model(Path("models/baseline.pt"), "baseline", params, result.summary(), result.classifier_state)
        checkpoint.remove()
        print(f"baseline: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/"
              f"{result.epochs_run} ({result.steps} steps)")
    leave_ranks()


if __name__ == "__main__":
    run_stage(main)
