"""Stage `train_fixmatch`: the same ResNet18, labelled set and unlabelled photos, trained with FixMatch.

    python stages/train_fixmatch.py     # writes models/fixmatch.pt and dvclive/fixmatch/
"""
from pathlib import Path

from semisup.artifacts import save_model
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.fixmatch import train_fixmatch
from semisup.loaders import UnlabeledStream
from semisup.runs import DATA, labeled_data, setup


def main() -> None:
    params = load_params()
    cfg = params.fixmatch
    device, checkpoint, live = setup(params, "fixmatch")
    data = labeled_data(params, device, augment=True)  # the labelled batch is always the weak view
    weak = UnlabeledStream(DATA / "unlabeled", params.image_size, cfg.mu * cfg.labeled_batch, device,
                           seed=params.seed, num_threads=params.loader.num_threads, augment=True,
                           max_batches=cfg.steps_per_epoch)
    steps = len(weak)
    print(f"fixmatch on {device}: {data.x_labeled.shape[0]} labelled ({cfg.labeled_batch} per step), "
          f"{len(weak.files)} unlabelled ({steps} steps of {cfg.mu * cfg.labeled_batch} per epoch), "
          f"{data.x_val.shape[0]} validation, {params.image_size} px")
    result = train_fixmatch(params, data, weak.epoch, steps, device, checkpoint, live)
    live.end()
    save_model(Path("models/fixmatch.pt"), "fixmatch", params, result.summary(), result.classifier_state)
    checkpoint.remove()
    print(f"fixmatch: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/"
          f"{result.epochs_run} ({result.steps} steps)")


if __name__ == "__main__":
    run_stage(main)
