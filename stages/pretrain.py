"""Stage `pretrain`: the ResNet18 learns from the unlabelled photos alone (SimCLR), before any label is used.

    python stages/pretrain.py     # writes models/pretrain.pt (the encoder) and dvclive/pretrain/ (the loss curve)

It reads every photo of the pool and of Kaggle's test1 without its label, and neither `seed` nor the labelled set:
one run serves every seed and labelled-set strategy (DVC's run cache restores it), and `train@simclr` fine-tunes it.
"""
from semisup.cli import run_stage
from semisup.parameters import load_params
from semisup.training.contract import Unlabeled
from semisup.methods.simclr import SimclrPretraining
from semisup.training.runs import DATA, finish, setup, unlabeled_stream
from semisup.training.loop import fit


def main() -> None:
    params = load_params()
    exe, checkpoint, live = setup(params, "pretrain", stage="pretrain", labeled=False)
    stream = unlabeled_stream(params, exe, *SimclrPretraining.stream_shape(params),
                              folders=(DATA / "pool", DATA / "test1"), seed=params.pretrain.seed)
    method = SimclrPretraining(params, exe, None, Unlabeled(stream.epoch, len(stream)))
    if exe.ranks.is_main:
        print(method.describe(None, params, exe) + f" ({len(stream.files)} photos)")
    finish("pretrain", params, exe, live, checkpoint, fit(method, None, params, exe, checkpoint, live))


if __name__ == "__main__":
    run_stage(main)
