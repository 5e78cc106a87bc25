"""Stage `train_gan`: the same ResNet18 as the discriminator of a semi-supervised GAN that also sees unlabelled photos.

    python stages/train_gan.py          # writes models/gan.pt, dvclive/gan/ and generated grids in plots/generated/
"""
from pathlib import Path

from semisup.artifacts import save_model
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.loaders import UnlabeledStream
from semisup.runs import DATA, labeled_data, setup
from semisup.training import train_gan


def main() -> None:
    params = load_params()
    device, checkpoint, live = setup(params, "gan")
    data = labeled_data(params, device)
    unlabeled = UnlabeledStream(DATA / "unlabeled", params.image_size, params.gan.batch_size, device,
                                seed=params.seed, num_threads=params.loader.num_threads, augment=params.train.augment,
                                max_batches=params.gan.max_steps_per_epoch)
    steps = len(unlabeled)
    print(f"gan on {device}: {data.x_labeled.shape[0]} labelled, {len(unlabeled.files)} unlabelled "
          f"({steps} steps of {params.gan.batch_size} per epoch), {data.x_val.shape[0]} validation, {params.image_size} px")
    result = train_gan(params, data, unlabeled.epoch, steps, device, checkpoint, live, Path("plots/generated"))
    live.end()
    save_model(Path("models/gan.pt"), "gan", params, result.summary(), result.classifier_state, result.generator_state)
    checkpoint.remove()
    print(f"gan: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/{result.epochs_run} "
          f"({result.steps} steps)")


if __name__ == "__main__":
    run_stage(main)
