"""Semi-supervised GAN losses of Salimans et al. 2016 ("Improved Techniques for Training GANs", §5).

The classifier has K real-class logits l(x). With Z(x) = sum_k exp(l_k(x)) it defines D(x) = Z / (Z + 1), the
probability that x is real; so log D = logZ - softplus(logZ) and log(1 - D) = -softplus(logZ), with
logZ = logsumexp(l). The same functions serve images and the two-rings demo: they only see logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def log_z(logits: torch.Tensor) -> torch.Tensor:
    """log Z(x) = log sum_k exp(l_k(x)), per example."""
    return torch.logsumexp(logits, dim=1)


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the K real classes on labelled data."""
    return F.cross_entropy(logits, labels)


def unsupervised_real_loss(logits_real: torch.Tensor) -> torch.Tensor:
    """-E log D(x) on unlabelled real images: softplus(logZ) - logZ."""
    lz = log_z(logits_real)
    return (F.softplus(lz) - lz).mean()


def unsupervised_fake_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """-E log(1 - D(G(z))) on generated images: softplus(logZ)."""
    return F.softplus(log_z(logits_fake)).mean()


def discriminator_loss(
    logits_labeled: torch.Tensor,
    labels: torch.Tensor,
    logits_unlabeled: torch.Tensor,
    logits_fake: torch.Tensor,
    unsupervised_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The classifier's loss: the supervised term (weight 1) plus `unsupervised_weight` times each unsupervised term
    (real and fake). The published code and Salimans et al.'s own weigh each unsupervised term 0.5
    (`loss_unl = 0.5 * (real + fake)`); `parts` holds the unweighted terms."""
    parts = {
        "supervised": supervised_loss(logits_labeled, labels),
        "real": unsupervised_real_loss(logits_unlabeled),
        "fake": unsupervised_fake_loss(logits_fake),
    }
    return parts["supervised"] + unsupervised_weight * (parts["real"] + parts["fake"]), parts


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating "look real" loss for the generator: -E log D(G(z)) = softplus(logZ) - logZ."""
    return unsupervised_real_loss(logits_fake)


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """Salimans et al. §3.1: squared distance between mean intermediate features of real and generated batches."""
    return (features_real.mean(dim=0) - features_fake.mean(dim=0)).pow(2).mean()


def pseudo_labels(logits_weak: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch (Sohn et al. 2020): the weak view's predicted class and whether its confidence reaches `threshold`.
    No gradient flows through the pseudo-label."""
    confidence, labels = logits_weak.detach().softmax(dim=1).max(dim=1)
    return labels, (confidence >= threshold).float()


def fixmatch_unlabeled_loss(logits_strong: torch.Tensor, logits_weak: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the strong view against the weak view's confident pseudo-labels, averaged over the whole
    unlabelled batch (masked examples count as zero, as in the paper); also returns the mask rate."""
    labels, mask = pseudo_labels(logits_weak, threshold)
    loss = (F.cross_entropy(logits_strong, labels, reduction="none") * mask).mean()
    return loss, mask.mean()


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent: each view's positive is the other view of its image, its negatives the other 2(N-1)
    views of the batch; cosine similarities over `temperature`, cross-entropy over each row (self excluded)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = (z @ z.T / temperature).float()
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positives)
