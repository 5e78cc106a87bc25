"""The one training loop (`fit`) on tiny tensors: resume after an interruption, grids kept, the divergence guard,
checkpoints, the resume fingerprint, validation. Every method's contract (determinism, exact resume, the NaN guard)
is in test_methods.py."""
import math
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from dvclive import Live

from semisup.parameters import params_from_dict
from semisup.errors import PipelineError
from semisup.training.execution import Execution
from semisup.training.contract import Unlabeled, LabeledData
from semisup.methods.baseline import Baseline
from semisup.methods.sgan import SemiSupervisedGan
from semisup.training.loop import check_finite, fit
from semisup.training.checkpoint import Checkpoint

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


CPU = Execution(torch.device("cpu"))


def run_gan(tmp: Path, params, batches, key="k"):
    live = Live(dir=str(tmp / "live"), dvcyaml=False, save_dvc_exp=False)
    ckpt = Checkpoint(tmp / "ckpt.pt", key)
    data = tiny_data()
    gan = SemiSupervisedGan(params, CPU, data, Unlabeled(batches, 2), samples_dir=tmp / "samples")
    return fit(gan, data, params, CPU, ckpt, live), ckpt


def run_baseline(tmp: Path, params, data: LabeledData | None = None):
    live = Live(dir=str(tmp / "live"), dvcyaml=False, save_dvc_exp=False)
    data = data or tiny_data()
    return fit(Baseline(params, CPU, data), data, params, CPU, Checkpoint(tmp / "b.pt", "k"), live)


def same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_the_loop_keeps_the_best_validated_round_and_logs_curves_at_the_optimiser_step(tmp_path):
    a = run_baseline(tmp_path, tiny_params())
    assert a.epochs_run == 3 and 1 <= a.best_epoch <= 3 and a.steps == 3
    assert a.val_accuracy == max(row["val_accuracy"] for row in a.history)
    curve = (tmp_path / "live" / "plots" / "metrics" / "val_accuracy.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in curve] == ["step", "1", "2", "3"]  # x = steps taken
    gan, _ = run_gan(tmp_path / "gan", tiny_params(), unlabeled_batches())
    curve = (tmp_path / "gan" / "live" / "plots" / "metrics" / "val_accuracy.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in curve] == ["step", "2", "4"]  # two rounds of two steps: one axis for all


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
    assert same_state(full.states["generator"], resumed.states["generator"])
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
    assert state["round"] == 1
    assert all(torch.isfinite(v).all() for v in state["method"]["classifier"].values() if v.is_floating_point())


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
    from semisup.training.checkpoint import fingerprint, stage_params

    root = Path(__file__).resolve().parents[2]
    labeled = tmp_path / "labeled.csv"
    labeled.write_text("file\n")
    assert "model" in stage_params("train@gan", root / "dvc.yaml") and "gan" in stage_params("train@gan", root / "dvc.yaml")
    assert "fixmatch" not in stage_params("train@gan", root / "dvc.yaml")
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

    result = run_baseline(tmp_path, improved_params(), replace(tiny_data(), augmented=augmented))
    assert len(calls) == 4 and result.steps == 4
    assert [r["epoch"] for r in result.history] == [2, 4] and result.best_epoch in (2, 4)


def test_validate_recomputes_batchnorm_statistics_on_the_calibration_images():
    from semisup.models import Classifier
    from semisup.training.loop import validate

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


# ----------------------------------------------------------------------------------------------------- BatchNorm


def test_calibration_batches_weigh_every_image_alike():
    from semisup.training.loop import calibration_batches

    sizes = [len(b) for b in calibration_batches(torch.zeros(1024, 1), 250)]
    assert sum(sizes) == 1024 and max(sizes) <= 250 and max(sizes) - min(sizes) <= 1  # not 4 x 250 + 24
    assert [len(b) for b in calibration_batches(torch.zeros(7, 1), 250)] == [7]


HOLD = """
import os, sys
from pathlib import Path
from semisup.cli import run_stage
from semisup.training.checkpoint import Checkpoint

def main():
    Checkpoint(Path(sys.argv[1]), "k").hold()
    print("holding", flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), 9)
    if sys.argv[2] == "fail":
        raise RuntimeError("a crash")
    sys.stdin.read()  # until the test stops it

run_stage(main)
"""


def hold_in_child(path: Path, how: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path), how], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "holding\n"
    return child


def test_the_lock_file_goes_with_the_run_however_it_ends(tmp_path):
    """A clean end, a crash, SIGTERM: the process survives long enough to remove `<checkpoint>.lock`."""
    path = tmp_path / "baseline.pt"
    first = Checkpoint(path, "k")
    first.hold()
    assert (tmp_path / "baseline.pt.lock").is_file()
    first.remove()
    assert list(tmp_path.iterdir()) == []
    crashed = hold_in_child(path, "fail")
    crashed.communicate(timeout=60)
    assert crashed.returncode == 1 and list(tmp_path.iterdir()) == []
    stopped = hold_in_child(path, "wait")
    stopped.send_signal(signal.SIGTERM)
    _, err = stopped.communicate(timeout=60)
    assert stopped.returncode == 143 and "terminated (SIGTERM)" in err and list(tmp_path.iterdir()) == []


def test_a_lock_left_by_a_killed_run_is_taken_over_in_one_line(tmp_path, capsys):
    path = tmp_path / "baseline.pt"
    killed = hold_in_child(path, "kill")
    killed.communicate(timeout=60)
    assert killed.returncode == -9 and (tmp_path / "baseline.pt.lock").is_file()
    checkpoint = Checkpoint(path, "k")
    checkpoint.hold()
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{re.escape(str(tmp_path))}/baseline.pt.lock: left by pid {killed.pid} \(`.*`, started .*\), "
                        r"which ended without removing it; taken over", out), out
    checkpoint.release()
    assert list(tmp_path.iterdir()) == []
