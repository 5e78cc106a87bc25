"""The real training loops on tiny tensors: determinism, resume after an interruption, the divergence guard."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from dvclive import Live

from semisup.config import params_from_dict
from semisup.errors import PipelineError
from semisup.training import Checkpoint, LabeledData, train_baseline, train_gan

SIZE = 32


def tiny_params(**gan):
    return params_from_dict({
        "image_size": SIZE,
        "baseline": {"epochs": 3, "checkpoint_every": 1},
        "gan": {"epochs": 2, "batch_size": 4, "generator_width": 8, "grid_every": 1, **gan},
    })


def tiny_data() -> LabeledData:
    g = torch.Generator().manual_seed(0)
    return LabeledData(torch.rand(6, 3, SIZE, SIZE, generator=g), torch.tensor([0, 1] * 3),
                       torch.rand(4, 3, SIZE, SIZE, generator=g), torch.tensor([0, 1, 0, 1]))


def unlabeled_batches(poison_epoch: int = 0, interrupt_epoch: int = 0):
    pool = torch.rand(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))

    def batches(epoch: int):
        if epoch == interrupt_epoch:
            raise KeyboardInterrupt
        for start in (0, 4):
            x = pool[start:start + 4]
            yield torch.full_like(x, float("nan")) if epoch == poison_epoch else x
    return batches


def run_gan(tmp: Path, params, batches, key="k"):
    live = Live(dir=str(tmp / "live"), dvcyaml=False, save_dvc_exp=False)
    ckpt = Checkpoint(tmp / "ckpt.pt", key)
    return train_gan(params, tiny_data(), batches, 2, torch.device("cpu"), ckpt, live, tmp / "samples"), ckpt


def same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_baseline_is_deterministic_and_keeps_the_best_epoch(tmp_path):
    params = tiny_params()
    results = []
    for run in ("a", "b"):
        live = Live(dir=str(tmp_path / run), dvcyaml=False, save_dvc_exp=False)
        results.append(train_baseline(params, tiny_data(), torch.device("cpu"), Checkpoint(tmp_path / f"{run}.pt", "k"), live))
    a, b = results
    assert same_state(a.classifier_state, b.classifier_state)
    assert a.epochs_run == 3 and 1 <= a.best_epoch <= 3
    assert a.val_accuracy == max(row["val_accuracy"] for row in a.history)
    assert (tmp_path / "a" / "plots" / "metrics" / "val_accuracy.tsv").is_file()


def test_gan_resumes_after_an_interrupted_epoch(tmp_path):
    params = tiny_params()
    full, _ = run_gan(tmp_path / "full", params, unlabeled_batches())
    with pytest.raises(KeyboardInterrupt):
        run_gan(tmp_path / "cut", params, unlabeled_batches(interrupt_epoch=2))
    assert (tmp_path / "cut" / "ckpt.pt").is_file()  # epoch 1 was saved
    resumed, _ = run_gan(tmp_path / "cut", params, unlabeled_batches())
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert same_state(full.classifier_state, resumed.classifier_state)
    assert same_state(full.generator_state, resumed.generator_state)
    assert (tmp_path / "cut" / "samples" / "epoch_002.png").is_file()


def test_changed_params_start_fresh(tmp_path):
    params = tiny_params()
    with pytest.raises(KeyboardInterrupt):
        run_gan(tmp_path, params, unlabeled_batches(interrupt_epoch=2), key="old")
    result, _ = run_gan(tmp_path, replace(params, seed=1), unlabeled_batches(), key="new")
    assert result.epochs_run == 2  # both epochs ran again, nothing was resumed


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(PipelineError, match="NaN or infinite.*epoch 1"):
        run_gan(tmp_path, tiny_params(), unlabeled_batches(poison_epoch=2))
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["classifier"].values() if v.is_floating_point())
