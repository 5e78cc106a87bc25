"""Every registered method through the same contract (built the same way, deterministic, resumed exactly after an
interruption, stopped by the NaN guard), then what is particular to each: the GAN's pass schemes and BatchNorm
statistics, FixMatch's labelled draws and weight decay."""
import math
from pathlib import Path

import pytest
import torch
from dvclive import Live

from semisup.parameters import params_from_dict
from semisup.errors import ConfigError, PipelineError
from semisup.training.execution import Execution
from semisup.methods import method_class, names, semi_supervised
from semisup.training.contract import Method, Unlabeled, LabeledData
from semisup.methods.sgan import SemiSupervisedGan
from semisup.training.loop import fit
from semisup.training.checkpoint import Checkpoint

SIZE = 32
CPU = Execution(torch.device("cpu"))


# A test-sized budget for any section, by the names budgets go by (`provenance.BUDGET_KEYS` and the batch sizes), so a
# new method's section is small here without a line of its own: three rounds of at most two steps of four images.
TINY = {"epochs": 3, "steps_per_epoch": 2, "checkpoint_every": 1, "eval_every": 1, "grid_every": 1, "batch_size": 4,
        "labeled_batch": 4, "mu": 1, "generator_width": 8}


def tiny_sections() -> dict[str, dict]:
    """Every method's (and the pretraining's) section at the tiny budget: the keys of TINY that it has."""
    from dataclasses import fields

    from semisup.methods import sections

    return {name: {f.name: TINY[f.name] for f in fields(cls) if f.name in TINY} for name, cls in sections().items()}


def tiny_params(**gan):
    sections = tiny_sections()
    return params_from_dict({
        "image_size": SIZE, **sections,
        "gan": {**sections["gan"], **gan},
        "train": {"ema": 0.9, "schedule": "cosine", "warmup_steps": 1},  # the improved switches: all state resumes
    })


def tiny_data() -> LabeledData:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 3, SIZE, SIZE, generator=g), torch.tensor([0, 1] * 3)
    return LabeledData(x, y, torch.rand(4, 3, SIZE, SIZE, generator=g), torch.tensor([0, 1, 0, 1]),
                       augmented=lambda: (x.flip(-1), y))


def unlabeled() -> Unlabeled:
    pool = torch.rand(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    return Unlabeled(lambda round_: (pool[s:s + 4] for s in (0, 4)), 2)


@pytest.fixture(scope="module", autouse=True)
def pretrained(tmp_path_factory):
    """A SimCLR-pretrained encoder for `simclr` and `simclr_fixmatch` to start from: the pretraining method run by the same loop."""
    from semisup.artifacts import save_model
    from semisup.methods.simclr import Simclr, SimclrFixMatch, SimclrPretraining

    where = tmp_path_factory.mktemp("pretrain")
    params = tiny_params()
    method = SimclrPretraining(params, CPU, None, unlabeled())
    result = fit(method, None, params, CPU, Checkpoint(where / "ckpt.pt", "k"), None)
    assert result.steps == 6 and [r["step"] for r in result.history] == [2, 4, 6]  # a row per round, no validation
    assert all(math.isfinite(r["contrastive_loss"]) for r in result.history)
    save_model(where / "pretrain.pt", "pretrain", params, result.summary(), result.classifier_state)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Simclr, "pretrained", where / "pretrain.pt")
        patch.setattr(SimclrFixMatch, "pretrained", where / "pretrain.pt")
        yield where / "pretrain.pt"


def build(name: str, tmp: Path) -> Method:
    """A method exactly as `stages/train.py` builds it."""
    cls = method_class(name)
    return cls(tiny_params(), CPU, tiny_data(), unlabeled() if cls.uses_unlabeled else None, samples_dir=tmp / "samples")


def interrupted(method: Method, at: int, poison: bool = False) -> Method:
    """The method with its round `at` broken: interrupted (Ctrl-C) or fed NaN images."""
    batches = method.batches

    def broken(round_: int):
        for batch in batches(round_):
            if round_ == at and not poison:
                raise KeyboardInterrupt
            yield tuple(torch.full_like(t, math.nan) if poison and round_ == at and t.is_floating_point() else t
                        for t in batch)
    method.batches = broken
    return method


def train(method: Method, tmp: Path, key: str = "k"):
    live = Live(dir=str(tmp / "live"), dvcyaml=False, save_dvc_exp=False)
    return fit(method, tiny_data(), tiny_params(), CPU, Checkpoint(tmp / "ckpt.pt", key), live)


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_registry_lists_the_baseline_first_and_names_a_missing_method():
    assert names()[0] == "baseline" and set(semi_supervised()) == set(names()) - {"baseline"}
    for name in names():
        assert method_class(name).name == name and hasattr(tiny_params(), name)  # a config section per method
    with pytest.raises(ConfigError, match="method 'mixmatch' is not registered; use one of baseline, gan"):
        method_class("mixmatch")


@pytest.mark.parametrize("name", names())
def test_every_method_is_deterministic_and_resumes_exactly(name, tmp_path):
    method = build(name, tmp_path / "a")
    a = train(method, tmp_path / "a")
    b = train(build(name, tmp_path / "b"), tmp_path / "b")
    assert same_state(a.classifier_state, b.classifier_state) and a.steps == b.steps == method.rounds.total_steps
    logged = set(a.history[0]) - {"epoch", "step", "val_accuracy", "val_loss"}  # the method's own losses
    assert logged and all(math.isfinite(a.history[-1][k]) for k in logged)
    assert method.judged() is method.kept()[0] and a.classifier_state.keys() == method.judged().state_dict().keys()
    assert list(a.states) == list(method.kept_names) and len(method.kept()) == len(method.kept_names)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted(build(name, tmp_path / "c"), at=2), tmp_path / "c")
    assert (tmp_path / "c" / "ckpt.pt").is_file()  # round 1 was saved
    c = train(build(name, tmp_path / "c"), tmp_path / "c")
    assert same_state(a.classifier_state, c.classifier_state)  # weights, optimiser, schedule, EMA and RNG resumed
    assert [r["step"] for r in c.history] == [r["step"] for r in a.history]


@pytest.mark.parametrize("name", names())
def test_every_method_stops_on_nan_and_writes_no_model(name, tmp_path):
    with pytest.raises(PipelineError, match=r"^epoch 2: .* is NaN or infinite: training diverged"):
        train(interrupted(build(name, tmp_path), at=2, poison=True), tmp_path)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["round"] == 1


def test_pass_schemes_agree_in_eval_mode_and_differ_in_train_mode():
    from semisup.models import Classifier
    from semisup.methods.sgan import classifier_passes

    torch.manual_seed(0)
    model = Classifier().eval()
    x = [torch.rand(3, 3, SIZE, SIZE) for _ in range(3)]
    outs = {s: classifier_passes(model, *x, s) for s in ("separate", "joint", "real_joint")}
    for scheme in ("joint", "real_joint"):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outs["separate"], outs[scheme]))
    model.train()  # BatchNorm now normalises each pass with its own statistics
    sep, joint = classifier_passes(model, *x, "separate"), classifier_passes(model, *x, "joint")
    assert [t.shape[0] for t in joint] == [3, 3, 3] and not torch.allclose(sep[0], joint[0])


def test_labeled_indices_are_distinct_when_the_set_is_large_enough():
    from semisup.methods.fixmatch import labeled_indices

    g = torch.Generator().manual_seed(0)
    assert len(set(labeled_indices(10, 6, g).tolist())) == 6
    assert labeled_indices(3, 8, g).shape == (8,) and labeled_indices(3, 8, g).max() < 3


def test_running_stats_frozen_normalises_with_the_batch_but_keeps_the_running_estimates():
    from semisup.methods.sgan import running_stats_frozen

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
    from semisup.methods.sgan import classifier_passes

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


@pytest.mark.parametrize("passes, updating", [("separate", [6, 4, 4, 4]), ("real_joint", [10])])
def test_which_passes_move_the_running_statistics(passes, updating):
    """`separate`: the labelled and unlabelled passes and two passes over generated images (the classifier's and
    the generator's through it) fold into BatchNorm's running statistics, half of them generated; `real_joint`:
    only the real images'."""
    params = tiny_params(passes=passes)
    gan = SemiSupervisedGan(params, CPU, tiny_data(), unlabeled())
    seen = []
    gan.classifier.net.bn1.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].shape[0]) if m.training and m.momentum != 0 else None)
    data = tiny_data()
    gan.step((data.x_labeled, data.y_labeled, torch.rand(4, 3, SIZE, SIZE)))
    assert seen == updating


def test_fixmatch_decays_kernels_only():
    from semisup.methods.fixmatch import decay_groups
    from semisup.models import Classifier

    model = Classifier()
    kernels, others = decay_groups(model, 5e-4)
    assert kernels["weight_decay"] == 5e-4 and others["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in kernels["params"]) and all(p.ndim == 1 for p in others["params"])
    bn = model.net.bn1
    assert any(p is bn.weight for p in others["params"]) and any(p is model.net.fc.bias for p in others["params"])
    assert len(kernels["params"]) + len(others["params"]) == len(list(model.parameters()))


def test_simclr_starts_from_the_pretrained_encoder_and_a_fresh_final_layer(pretrained, tmp_path):
    from semisup.methods.simclr import Simclr
    from semisup.models import Classifier

    encoder = torch.load(pretrained, weights_only=True)["classifier"]
    model = build("simclr", tmp_path).model
    assert torch.equal(model.net.layer4[1].conv2.weight, encoder["net.layer4.1.conv2.weight"])
    torch.manual_seed(tiny_params().seed)
    fresh = Classifier()
    assert torch.equal(model.net.fc.weight, fresh.net.fc.weight)  # the final layer: random weights from `seed`
    assert not torch.equal(model.net.layer4[1].conv2.weight, fresh.net.layer4[1].conv2.weight)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Simclr, "pretrained", tmp_path / "none.pt")
        with pytest.raises(PipelineError, match=r"none.pt: no pretrained encoder; run `dvc repro pretrain`"):
            build("simclr", tmp_path)
    bigger = params_from_dict({"image_size": 64})
    with pytest.raises(PipelineError, match=r"pretrained at 32 px with the imagenet stem, but this run is 64 px"):
        Simclr(bigger, CPU, tiny_data())


def test_contrastive_views_differ_per_image_and_stay_in_range():
    from semisup.data.augment import contrastive_view

    x = torch.rand(8, 3, SIZE, SIZE)
    g = torch.Generator().manual_seed(0)
    a, b = contrastive_view(x, g, 0.2, 0.4, 0.2), contrastive_view(x, g, 0.2, 0.4, 0.2)
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1 and not torch.equal(a, b)
    same = contrastive_view(x, torch.Generator().manual_seed(0), 0.2, 0.4, 0.2)
    assert torch.equal(a, same)  # drawn from the generator alone: reproducible
    x = torch.rand(8, 3, SIZE, SIZE) * 0.5 + torch.arange(8).view(8, 1, 1, 1) * 0.05  # each image its own range
    plain = contrastive_view(x, g, 0.5, 0.0, 0.0)  # crops only: resampled pixels of the image itself
    for view, image in zip(plain, x):
        assert image.min() - 1e-5 <= view.min() and view.max() <= image.max() + 1e-5


@pytest.mark.parametrize("name", [n for n in names() if method_class(n).unlabeled_per_step(tiny_params()) > 0])
def test_a_budget_of_unlabelled_images_becomes_exactly_that_many_images_seen(name):
    """`semisup study run --images N`: the method's own overrides give N images seen over the validated rounds, at
    every rung; a budget that is not whole rounds of whole batches is refused in one line."""
    cls, params = method_class(name), tiny_params()
    per_step = cls.unlabeled_per_step(params)
    for images in (per_step * 20, per_step * 20 * 7):
        overrides = dict(o.split("=") for o in cls.budget_overrides(params, images, 20))
        raw = tiny_sections()
        for key, value in overrides.items():
            section, _, field = key.partition(".")
            raw[section] = {**raw[section], field: int(value)}
        budgeted = params_from_dict({"image_size": SIZE, **raw})
        cfg = getattr(budgeted, name)
        steps = cfg.epochs * (cfg.steps_per_epoch if hasattr(cfg, "steps_per_epoch") else cfg.max_steps_per_epoch)
        assert steps * cls.unlabeled_per_step(budgeted) == images
    with pytest.raises(ConfigError, match=f"--images {per_step * 20 + 1}: {name} reads {per_step} unlabelled"):
        cls.budget_overrides(params, per_step * 20 + 1, 20)


def test_a_method_without_unlabelled_images_has_no_budget_in_images():
    with pytest.raises(ConfigError, match="baseline reads no unlabelled images while it trains"):
        method_class("baseline").budget_overrides(tiny_params(), 1280, 20)
