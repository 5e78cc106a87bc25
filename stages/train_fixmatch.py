"""Stage `train_fixmatch`: the same ResNet18, labelled set and unlabelled photos, trained with FixMatch.

    python stages/train_fixmatch.py     # writes models/fixmatch.pt and dvclive/fixmatch/
    torchrun --standalone --nproc_per_node=8 stages/train_fixmatch.py
"""
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.fixmatch import train_fixmatch
from semisup.runs import finish, labeled_data, setup, unlabeled_stream


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
    finish("fixmatch", params, exe, live, checkpoint, result)


if __name__ == "__main__":
    run_stage(main)
