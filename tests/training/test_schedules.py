"""Learning-rate factors by hand: warm-up, then constant or cosine, counted in optimiser steps."""
import math

import pytest
import torch

from semisup.training.schedules import lr_factor, make_scheduler


def test_warmup_then_cosine_by_hand():
    assert [lr_factor(s, 10, "cosine", 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 10, "cosine", 4) == pytest.approx(1.0)
    assert lr_factor(7, 10, "cosine", 4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 6)))
    assert lr_factor(10, 10, "cosine", 4) == pytest.approx(0.0)
    assert lr_factor(50, 10, "cosine", 4) == pytest.approx(0.0)  # past the end stays at 0


def test_constant_is_one_after_warmup_and_published_default_is_one_everywhere():
    assert lr_factor(0, 10, "constant", 2) == 0.5
    assert all(lr_factor(s, 10, "constant", 0) == 1.0 for s in range(20))


def test_scheduler_drives_the_optimizer():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make_scheduler(opt, 4, "cosine", 0)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 4)), 0.05, 0.1 * 0.5 * (1 + math.cos(3 * math.pi / 4))])


def test_unknown_schedule_names_the_param():
    with pytest.raises(ValueError, match="train.schedule"):
        lr_factor(0, 10, "linear", 0)


def test_fixmatch_cosine_ends_at_cos_7pi_16():
    """FixMatch's schedule (Sohn et al. 2020): lr * cos(7 pi k / 16 K), not a decay to 0."""
    assert lr_factor(0, 100, "fixmatch_cosine", 0) == 1.0
    assert lr_factor(50, 100, "fixmatch_cosine", 0) == pytest.approx(math.cos(7 * math.pi / 32))
    assert lr_factor(100, 100, "fixmatch_cosine", 0) == pytest.approx(math.cos(7 * math.pi / 16))  # 0.195
    assert lr_factor(100, 100, "cosine", 0) == pytest.approx(0.0)
