"""Stage `train_baseline`: ResNet18 from scratch on the labelled images alone (the published supervised baseline).

    python stages/train_baseline.py     # writes models/baseline.pt and dvclive/baseline/
    torchrun --standalone --nproc_per_node=2 stages/train_baseline.py   # the labelled batch split over 2 ranks
"""
from semisup.cli import run_stage
from semisup.config import load_params
from semisup.runs import finish, labeled_data, setup
from semisup.training import train_baseline


def main() -> None:
    params = load_params()
    exe, checkpoint, live = setup(params, "baseline")
    data = labeled_data(params, exe.device)
    if exe.ranks.is_main:
        print(f"baseline on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled, "
              f"{data.x_val.shape[0]} validation images, {params.image_size} px")
    result = train_baseline(params, data, exe.device, checkpoint, live, exe)
    finish("baseline", params, exe, live, checkpoint, result)


if __name__ == "__main__":
    run_stage(main)
