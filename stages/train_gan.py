"""Stage `train_gan`: the same ResNet18 as the discriminator of a semi-supervised GAN that also sees unlabelled photos.

    python stages/train_gan.py          # writes models/gan.pt, dvclive/gan/ and generated grids in plots/generated/
    torchrun --standalone --nproc_per_node=8 stages/train_gan.py   # 8 ranks, each its own shard of the unlabelled set
"""
from pathlib import Path

from semisup.cli import run_stage
from semisup.config import load_params
from semisup.runs import finish, labeled_data, setup, unlabeled_stream
from semisup.training import train_gan


def main() -> None:
    params = load_params()
    exe, checkpoint, live = setup(params, "gan")
    data = labeled_data(params, exe.device, calibrate_on_unlabeled=True)
    unlabeled = unlabeled_stream(params, exe, params.gan.batch_size, params.train.augment, params.gan.max_steps_per_epoch)
    steps = len(unlabeled)
    if exe.ranks.is_main:
        print(f"gan on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled, "
              f"{len(unlabeled.files)} unlabelled ({steps} steps of {params.gan.batch_size} per rank and epoch), "
              f"{data.x_val.shape[0]} validation, {params.image_size} px")
    result = train_gan(params, data, unlabeled.epoch, steps, exe.device, checkpoint, live, Path("plots/generated"), exe)
    finish("gan", params, exe, live, checkpoint, result)


if __name__ == "__main__":
    run_stage(main)
