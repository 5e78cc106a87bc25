"""The Salimans et al. terms against values computed by hand: D(x) = Z/(Z+1)."""
import math

import pytest
import torch

from semisup.methods import losses


def test_log_z_is_logsumexp():
    logits = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    expected = torch.tensor([math.log(2), math.log(math.e + math.e**2)])
    assert torch.allclose(losses.log_z(logits), expected)


def test_real_and_fake_terms_by_hand():
    logits = torch.zeros(3, 2)  # Z = 2, so D = 2/3
    assert losses.unsupervised_real_loss(logits).item() == pytest.approx(-math.log(2 / 3))
    assert losses.unsupervised_fake_loss(logits).item() == pytest.approx(-math.log(1 - 2 / 3))


def test_terms_stay_finite_for_extreme_logits():
    logits = torch.tensor([[200.0, 150.0], [-200.0, -300.0]])
    for term in (losses.unsupervised_real_loss, losses.unsupervised_fake_loss, losses.generator_loss):
        assert math.isfinite(term(logits).item())
    # a very confident "real" output costs nothing as real and a lot as fake
    assert losses.unsupervised_real_loss(logits[:1]).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.unsupervised_fake_loss(logits[:1]).item() == pytest.approx(200.0, rel=1e-4)


def test_supervised_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0]])
    assert losses.supervised_loss(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_discriminator_loss_weighs_each_unsupervised_term_a_half_as_published():
    """Salimans et al.'s code: loss_lab + 0.5 * (-mean logZ_unl + mean softplus logZ_unl) + 0.5 * mean softplus logZ_gen.
    With logits 0 (Z = 2): supervised log 2, real log(3/2), fake log 3, so the total is log 2 + 0.5 log(3/2) + 0.5 log 3."""
    zeros = torch.zeros(4, 2)
    y = torch.tensor([0, 1, 1, 0])
    total, parts = losses.discriminator_loss(zeros, y, zeros, zeros)
    by_hand = math.log(2) + 0.5 * math.log(3 / 2) + 0.5 * math.log(3)
    assert total.item() == pytest.approx(by_hand)
    assert parts["supervised"].item() == pytest.approx(math.log(2))
    assert parts["real"].item() == pytest.approx(math.log(3 / 2)) and parts["fake"].item() == pytest.approx(math.log(3))


def test_discriminator_loss_takes_the_unsupervised_weight():
    g = torch.Generator().manual_seed(0)
    lab, unl, fake = (torch.randn(4, 2, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 1, 0])
    for weight in (0.0, 0.5, 1.0, 2.0):
        total, parts = losses.discriminator_loss(lab, y, unl, fake, weight)
        assert set(parts) == {"supervised", "real", "fake"}
        expected = parts["supervised"] + weight * (parts["real"] + parts["fake"])
        assert total.item() == pytest.approx(expected.item())


def test_the_published_profiles_run_the_published_weight(tmp_path):
    from pathlib import Path

    import yaml

    from semisup.params import compose

    conf = Path(__file__).resolve().parents[2] / "conf"
    for profile in ("paper", "study_paper"):
        compose(tmp_path / f"{profile}.yaml", conf, [f"profile={profile}"])
        assert yaml.safe_load((tmp_path / f"{profile}.yaml").read_text())["gan"]["unsupervised_weight"] == 0.5


def test_generator_loss_wants_fakes_to_look_real():
    """-log D(G(z)): it falls as the generated images' logZ rises."""
    low, high = torch.full((2, 2), -3.0), torch.full((2, 2), 3.0)
    assert losses.generator_loss(high) < losses.generator_loss(low)
    assert losses.generator_loss(low).item() == pytest.approx(-math.log(2 * math.exp(-3) / (2 * math.exp(-3) + 1)))


def test_feature_matching_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert losses.feature_matching_loss(real, fake).item() == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2)
    assert losses.feature_matching_loss(real, real).item() == 0


def test_fixmatch_pseudo_labels_and_mask_on_a_fixed_batch():
    # softmax of (0, 3) is (0.047, 0.953); of (1, 0) is (0.731, 0.269); of (-4, 0) is (0.018, 0.982)
    weak = torch.tensor([[0.0, 3.0], [1.0, 0.0], [-4.0, 0.0]], requires_grad=True)
    labels, mask = losses.pseudo_labels(weak, 0.95)
    assert labels.tolist() == [1, 0, 1] and mask.tolist() == [1.0, 0.0, 1.0]
    strong = torch.tensor([[0.0, 0.0], [5.0, -5.0], [1.0, 0.0]], requires_grad=True)
    loss, rate = losses.fixmatch_unlabeled_loss(strong, weak, 0.95)
    # masked mean over the whole batch: (CE([0,0], 1) + 0 + CE([1,0], 1)) / 3
    expected = (math.log(2) + (math.log(math.e + 1) - 0.0)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5) and rate.item() == pytest.approx(2 / 3)
    loss.backward()
    assert weak.grad is None  # no gradient through the pseudo-labels
    assert strong.grad[1].abs().sum() == 0  # the unconfident example contributes nothing


def test_nt_xent_by_hand_and_its_direction():
    """Two images, two views each: row i's positive is its other view; by hand on unit vectors."""
    import math

    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    # each row: positive similarity 1, negatives 0 (twice): -log(e^(1/t) / (e^(1/t) + 2 e^0))
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
    assert losses.nt_xent_loss(z1, z2, t).item() == pytest.approx(expected, rel=1e-5)
    swapped = losses.nt_xent_loss(z1, z2.flip(0), t)  # views matched to the wrong image: a higher loss
    assert swapped.item() > expected
    assert losses.nt_xent_loss(3 * z1, 3 * z2, t).item() == pytest.approx(expected, rel=1e-5)  # cosine: scale-free
