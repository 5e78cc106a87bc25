"""The real training loops on tiny tensors: determinism, resume after an interruption, the divergence guard."""
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from dvclive import Live

from semisup.config import params_from_dict
from semisup.errors import PipelineError
from semisup.training import Checkpoint, LabeledData, check_finite, train_baseline, train_gan

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
    shutil.rmtree(tmp_path / "cut" / "samples")  # `dvc repro` deletes a stage's outputs before rerunning it
    resumed, ckpt = run_gan(tmp_path / "cut", params, unlabeled_batches())
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert same_state(full.classifier_state, resumed.classifier_state)
    assert same_state(full.generator_state, resumed.generator_state)
    assert (tmp_path / "cut" / "samples" / "epoch_002.png").is_file()
    assert (tmp_path / "cut" / "samples" / "epoch_001.png").read_bytes() == \
        (tmp_path / "full" / "samples" / "epoch_001.png").read_bytes()  # drawn before the interruption, restored
    ckpt.remove()
    assert not ckpt.kept.exists()


def test_changed_params_start_fresh(tmp_path):
    params = tiny_params()
    with pytest.raises(KeyboardInterrupt):
        run_gan(tmp_path, params, unlabeled_batches(interrupt_epoch=2), key="old")
    result, _ = run_gan(tmp_path, replace(params, seed=1), unlabeled_batches(), key="new")
    assert result.epochs_run == 2  # both epochs ran again, nothing was resumed


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(PipelineError, match=r"^epoch 2: .*loss.* is NaN or infinite: training diverged and no model "
                                            r"was written; .*ckpt.pt keeps the state saved before this epoch, but "
                                            r"rerunning with the same params resumes from it and diverges again"):
        run_gan(tmp_path, tiny_params(), unlabeled_batches(poison_epoch=2))
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["classifier"].values() if v.is_floating_point())


def test_divergence_in_the_first_epoch_says_that_nothing_was_kept(tmp_path):
    with pytest.raises(PipelineError, match=r"^epoch 1: .* no checkpoint was kept\. Lower the learning rate"):
        run_gan(tmp_path, tiny_params(), unlabeled_batches(poison_epoch=1))
    assert not (tmp_path / "ckpt.pt").exists()


def test_exploding_losses_are_named_and_nan_validation_stops(tmp_path, capsys):
    ckpt = Checkpoint(tmp_path / "c.pt", "k")
    check_finite({"supervised_loss": 3.2e8, "real_loss": 0.1}, 4, ckpt)
    out = capsys.readouterr().out
    assert "warning: epoch 4: supervised_loss=3.2e+08 exploded" in out and "real_loss" not in out
    with pytest.raises(PipelineError, match="^epoch 5: val_loss is NaN or infinite"):
        check_finite({"val_loss": math.nan}, 5, ckpt)


# ---------------------------------------------------------------------------------------------------- checkpoints


class Planted:
    """A pickle that would create a file when unpickled: what a crafted checkpoint or model file does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_crafted_checkpoint_is_refused_without_running_and_moved_aside(tmp_path, capsys):
    marker = tmp_path / "ran"
    torch.save({"key": "k", "epoch": 1, "payload": Planted(marker)}, tmp_path / "c.pt")
    assert Checkpoint(tmp_path / "c.pt", "k").load(torch.device("cpu")) is None
    assert not marker.exists()
    out = capsys.readouterr().out
    assert "c.pt: holds objects other than tensors and plain values; moved aside to c.pt.unreadable-" in out
    assert not (tmp_path / "c.pt").exists() and len(list(tmp_path.glob("c.pt.unreadable-*"))) == 1


def test_a_truncated_checkpoint_gives_one_line_and_training_starts_fresh(tmp_path, capsys):
    params = tiny_params()
    with pytest.raises(KeyboardInterrupt):
        run_gan(tmp_path, params, unlabeled_batches(interrupt_epoch=2))
    blob = (tmp_path / "ckpt.pt").read_bytes()
    (tmp_path / "ckpt.pt").write_bytes(blob[: len(blob) // 2])  # a power cut mid-copy
    result, _ = run_gan(tmp_path, params, unlabeled_batches())
    assert result.epochs_run == 2 and "resuming" not in capsys.readouterr().out
    assert len(list(tmp_path.glob("ckpt.pt.unreadable-*"))) == 1


def test_a_second_run_of_the_same_method_stops_naming_the_first(tmp_path):
    first = Checkpoint(tmp_path / "gan.pt", "k")
    first.hold()
    with pytest.raises(PipelineError, match=r"gan.pt: pid \d+ \(`.*`, started .*\) is training this method"):
        Checkpoint(tmp_path / "gan.pt", "k").hold()
    Checkpoint(tmp_path / "baseline.pt", "k").hold()  # another method is another lock
    Checkpoint(tmp_path / "gan.pt", "k", writer=False).hold()  # other ranks of the same run never lock
    first.remove()  # the run ended: the next one may start
    Checkpoint(tmp_path / "gan.pt", "k").hold()


def test_the_resume_fingerprint_covers_every_param_the_stage_declares(tmp_path):
    from semisup.training import fingerprint, stage_params

    root = Path(__file__).resolve().parents[1]
    labeled = tmp_path / "labeled.csv"
    labeled.write_text("file\n")
    assert "model" in stage_params("train_gan", root / "dvc.yaml")
    params = tiny_params()

    def key(p, method="gan"):
        return fingerprint(p, method, labeled, root / "dvc.yaml")

    small = replace(params, model=replace(params.model, stem="small"))
    assert key(small) != key(params)  # was left out: a changed stem after an interrupt crashed every rerun
    assert key(small, "baseline") != key(params, "baseline")
    other = replace(params, fixmatch=replace(params.fixmatch, mu=3))
    assert key(other) == key(params) and key(other, "fixmatch") != key(params, "fixmatch")
    # without a dvc.yaml (a library user), every param counts
    assert fingerprint(other, "gan", labeled, tmp_path / "none.yaml") != fingerprint(params, "gan", labeled,
                                                                                       tmp_path / "none.yaml")


IMPROVED = {"train": {"ema": 0.9, "schedule": "cosine", "warmup_steps": 1}}  # small stem: test_models (16x the cost)


def improved_params(**gan):
    raw = {
        "image_size": SIZE,
        "baseline": {"epochs": 4, "checkpoint_every": 1, "eval_every": 2},
        "gan": {"epochs": 2, "batch_size": 4, "generator_width": 8, "grid_every": 1,
                "generator_loss": "feature_matching", "passes": "joint", **gan},
        "fixmatch": {"epochs": 2, "steps_per_epoch": 2, "labeled_batch": 4, "mu": 1, "threshold": 0.5},
        **IMPROVED,
    }
    return params_from_dict(raw)


def test_pass_schemes_agree_in_eval_mode_and_differ_in_train_mode():
    from semisup.models import Classifier
    from semisup.training import classifier_passes

    torch.manual_seed(0)
    model = Classifier().eval()
    x = [torch.rand(3, 3, SIZE, SIZE) for _ in range(3)]
    outs = {s: classifier_passes(model, *x, s) for s in ("separate", "joint", "real_joint")}
    for scheme in ("joint", "real_joint"):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outs["separate"], outs[scheme]))
    model.train()  # BatchNorm now normalises each pass with its own statistics
    sep, joint = classifier_passes(model, *x, "separate"), classifier_passes(model, *x, "joint")
    assert [t.shape[0] for t in joint] == [3, 3, 3] and not torch.allclose(sep[0], joint[0])


def test_improved_gan_runs_and_resumes_exactly(tmp_path):
    params = improved_params()
    full, _ = run_gan(tmp_path / "full", params, unlabeled_batches())
    assert full.steps == 4 and all(math.isfinite(r["generator_loss"]) for r in full.history)
    with pytest.raises(KeyboardInterrupt):
        run_gan(tmp_path / "cut", params, unlabeled_batches(interrupt_epoch=2))
    resumed, _ = run_gan(tmp_path / "cut", params, unlabeled_batches())
    assert same_state(full.classifier_state, resumed.classifier_state)  # EMA, schedule and RNG state all resumed


def test_baseline_uses_augmented_batches_and_validates_every_n_steps(tmp_path):
    calls = []

    def augmented():
        calls.append(1)
        data = tiny_data()
        return data.x_labeled.flip(-1), data.y_labeled

    data = replace(tiny_data(), augmented=augmented)
    live = Live(dir=str(tmp_path / "live"), dvcyaml=False, save_dvc_exp=False)
    result = train_baseline(improved_params(), data, torch.device("cpu"), Checkpoint(tmp_path / "b.pt", "k"), live)
    assert len(calls) == 4 and result.steps == 4
    assert [r["epoch"] for r in result.history] == [2, 4] and result.best_epoch in (2, 4)


def test_fixmatch_runs_deterministically_and_resumes(tmp_path):
    from semisup.fixmatch import train_fixmatch

    params = improved_params()

    def run(where, batches):
        live = Live(dir=str(where / "live"), dvcyaml=False, save_dvc_exp=False)
        data = replace(tiny_data(), augmented=lambda: (tiny_data().x_labeled, tiny_data().y_labeled))
        return train_fixmatch(params, data, batches, 2, torch.device("cpu"), Checkpoint(where / "f.pt", "k"), live)

    a = run(tmp_path / "a", unlabeled_batches())
    b = run(tmp_path / "b", unlabeled_batches())
    assert same_state(a.classifier_state, b.classifier_state) and a.steps == 4
    assert {"supervised_loss", "unlabeled_loss", "mask_rate"} <= set(a.history[0])
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "c", unlabeled_batches(interrupt_epoch=2))
    c = run(tmp_path / "c", unlabeled_batches())
    assert same_state(a.classifier_state, c.classifier_state)


def test_labeled_indices_are_distinct_when_the_set_is_large_enough():
    from semisup.fixmatch import labeled_indices

    g = torch.Generator().manual_seed(0)
    assert len(set(labeled_indices(10, 6, g).tolist())) == 6
    assert labeled_indices(3, 8, g).shape == (8,) and labeled_indices(3, 8, g).max() < 3


def test_running_stats_frozen_normalises_with_the_batch_but_keeps_the_running_estimates():
    from semisup.training import running_stats_frozen

    bn = torch.nn.BatchNorm2d(3).train()
    x = torch.rand(4, 3, 5, 5) * 7 + 2
    before = bn.running_mean.clone(), bn.running_var.clone()
    with running_stats_frozen(bn):
        frozen_out = bn(x)
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert bn.momentum == 0.1  # restored
    assert torch.allclose(frozen_out, bn(x), atol=1e-6)  # the same batch normalisation either way
    assert not torch.equal(bn.running_mean, before[0])  # outside the context the estimates move again


def test_real_joint_leaves_running_statistics_to_real_images():
    from semisup.models import Classifier
    from semisup.training import classifier_passes

    torch.manual_seed(0)
    x_l, x_u = torch.rand(3, 3, SIZE, SIZE), torch.rand(3, 3, SIZE, SIZE)
    fake = torch.rand(3, 3, SIZE, SIZE) * 10  # statistics far from the real images'
    a, b = Classifier().train(), Classifier().train()
    b.load_state_dict(a.state_dict())
    classifier_passes(a, x_l, x_u, fake, "real_joint")
    b(torch.cat([x_l, x_u]))  # the real pass alone
    assert torch.allclose(a.net.bn1.running_mean, b.net.bn1.running_mean)
    c = Classifier().train()
    c.load_state_dict(b.state_dict())
    classifier_passes(c, x_l, x_u, fake, "joint")
    assert not torch.allclose(c.net.bn1.running_mean, a.net.bn1.running_mean)  # joint folds the fakes in


def test_validate_recomputes_batchnorm_statistics_on_the_calibration_images():
    from semisup.models import Classifier
    from semisup.training import validate

    torch.manual_seed(0)
    model = Classifier().eval()
    model.net.bn1.running_mean.fill_(100.0)  # stale statistics, as after fast-moving weights
    calibration = torch.rand(8, 3, SIZE, SIZE)
    data = replace(tiny_data(), x_calibration=calibration)
    params = params_from_dict({"image_size": SIZE, "train": {"recalibrate_bn": 8}, "loader": {"eval_batch_size": 4}})
    validate(model, data, params, amp=False)
    with torch.no_grad():
        expected = model.net.conv1(calibration).mean(dim=(0, 2, 3))  # two equal batches: the mean of batch means
    assert torch.allclose(model.net.bn1.running_mean, expected, atol=1e-5) and not model.training
    off = params_from_dict({"image_size": SIZE})
    model.net.bn1.running_mean.fill_(100.0)
    validate(model, data, off, amp=False)
    assert model.net.bn1.running_mean[0].item() == 100.0  # published: the running estimates as they are


# ------------------------------------------------------------------------------------------- BatchNorm and FixMatch


def test_calibration_batches_weigh_every_image_alike():
    from semisup.training import calibration_batches

    sizes = [len(b) for b in calibration_batches(torch.zeros(1024, 1), 250)]
    assert sum(sizes) == 1024 and max(sizes) <= 250 and max(sizes) - min(sizes) <= 1  # not 4 x 250 + 24
    assert [len(b) for b in calibration_batches(torch.zeros(7, 1), 250)] == [7]


@pytest.mark.parametrize("passes, updating", [("separate", [6, 4, 4, 4]), ("real_joint", [10])])
def test_which_passes_move_the_running_statistics(passes, updating):
    """`separate`: the labelled and unlabelled passes and two passes over generated images (the classifier's and
    the generator's through it) fold into BatchNorm's running statistics, half of them generated; `real_joint`:
    only the real images'."""
    from semisup.execution import Execution
    from semisup.training import GanStep

    params = tiny_params(passes=passes)
    gan = GanStep(params, Execution(torch.device("cpu")), total_steps=10)
    seen = []
    gan.classifier.net.bn1.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].shape[0]) if m.training and m.momentum != 0 else None)
    data = tiny_data()
    gan.step(data.x_labeled, data.y_labeled, torch.rand(4, 3, SIZE, SIZE))
    assert seen == updating


def test_fixmatch_decays_kernels_only():
    from semisup.fixmatch import decay_groups
    from semisup.models import Classifier

    model = Classifier()
    kernels, others = decay_groups(model, 5e-4)
    assert kernels["weight_decay"] == 5e-4 and others["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in kernels["params"]) and all(p.ndim == 1 for p in others["params"])
    bn = model.net.bn1
    assert any(p is bn.weight for p in others["params"]) and any(p is model.net.fc.bias for p in others["params"])
    assert len(kernels["params"]) + len(others["params"]) == len(list(model.parameters()))
