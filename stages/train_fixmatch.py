"""Stage `train_fixmatch`: the same ResNet18, labelled set and unlabelled photos, trained with FixMatch.

    python stages/train_fixmatch.py     # writes models/fixmatch.pt and dvclive/fixmatch/
    torchrun --standalone --nproc_per_node=8 stages/train_fixmatch.py
"""
from pathlib import Path

from semisup.artifacts import save_model
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.execution import leave_ranks
from semisup.fixmatch import train_fixmatch
from semisup.runs import labeled_data, setup, unlabeled_stream


def main() -> None:
    params = load_params()
    cfg = params.fixmatch
    exe, checkpoint, live = setup(params, "fixmatch")
    data = labeled_data(params, exe.device, augment=True, calibrate_on_unlabeled=True)  # labelled: the weak view
    weak = unlabeled_stream(params, exe, cfg.mu * cfg.labeled_batch, True, cfg.steps_per_epoch)
    steps = len(weak)
    if exe.ranks.is_main:
        print(f"fixmatch on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled "
              f"({cfg.labeled_batch} per step), {len(weak.files)} unlabelled ({steps} steps of "
              f"{cfg.mu * cfg.labeled_batch} per rank and epoch), {data.x_val.shape[0]} validation, {params.image_size} px")
    result = train_fixmatch(params, data, weak.epoch, steps, exe.device, checkpoint, live, exe)
    if exe.ranks.is_main:
        live.end()
        save_model(Path("models/fixmatch.pt"), "fixmatch", params, result.summary(), result.classifier_state)
        checkpoint.remove()
        print(f"fixmatch: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/"
              f"{result.epochs_run} ({result.steps} steps)")
    leave_ranks()


if __name__ == "__main__":
    run_stage(main)
