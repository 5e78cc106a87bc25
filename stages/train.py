"""Stage `train@<method>`: one registered method (`semisup.methods`) trained by the one loop (`semisup.training.loop.fit`).

    python stages/train.py gan          # writes models/gan.pt and dvclive/gan/ (the GAN's grids under its images)
    torchrun --standalone --nproc_per_node=8 stages/train.py gan   # 8 ranks, each its own shard of the unlabelled set

The labelled set and the validation set are decoded once onto the device; a method that learns from unlabelled
photos gets this rank's shard of them as a stream of batches.
"""
import sys
from pathlib import Path

from semisup.cli import run_stage
from semisup.parameters import load_params
from semisup.errors import ConfigError
from semisup.methods import method_class, names
from semisup.training.contract import Unlabeled
from semisup.training.runs import finish, labeled_data, setup, unlabeled_stream
from semisup.training.loop import fit


def main() -> None:
    if len(sys.argv) != 2:
        raise ConfigError(f"usage: python stages/train.py METHOD, with METHOD one of {', '.join(names())}")
    cls = method_class(sys.argv[1])
    params = load_params()
    exe, checkpoint, live = setup(params, cls.name)
    data = labeled_data(params, exe.device, augment=cls.augmented_labels, calibrate_on_unlabeled=cls.uses_unlabeled)
    unlabeled = None
    if cls.uses_unlabeled:
        stream = unlabeled_stream(params, exe, *cls.stream_shape(params))
        unlabeled = Unlabeled(stream.epoch, len(stream))
    method = cls(params, exe, data, unlabeled, samples_dir=Path(f"dvclive/{cls.name}/plots/images/generated"))
    if exe.ranks.is_main:
        print(method.describe(data, params, exe))
    result = fit(method, data, params, exe, checkpoint, live)
    finish(cls.name, params, exe, live, checkpoint, result)


if __name__ == "__main__":
    run_stage(main)
