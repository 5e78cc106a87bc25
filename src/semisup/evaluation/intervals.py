"""The intervals every table uses: a paired t-interval over seeds, and a paired bootstrap over seeds and test photos.

The t-interval treats each seed's test accuracy as exact, but a 1,000-photo test set has a standard error of about
1.5 points of its own. The bootstrap resamples the seeds and the test photos together (the same photos for both arms
of a pair), so its interval also covers the luck of which photos were drawn for the test.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% Student t quantiles t(0.975, df) for df = 1..30; beyond that the normal 1.96 is within 2%.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
RESAMPLES = 4000
BOOTSTRAP_SEED = 0  # the same interval on every machine for the same files


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


def paired_interval(differences: Sequence[float]) -> Interval | None:
    """Mean of per-seed differences ± t(0.975, n-1) · s / sqrt(n); None below two seeds."""
    n = len(differences)
    if n < 2:
        return None
    mean = statistics.fmean(differences)
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    half = t * statistics.stdev(differences) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def paired_bootstrap(correct_a: Sequence[Sequence[bool]], correct_b: Sequence[Sequence[bool]],
                     resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Interval | None:
    """The gain of arm a over arm b in points, with a 95% percentile interval from resampling seeds and test photos
    together: `correct_x[s][i]` says whether seed s's model of arm x got test photo i right (the same photos in the
    same order for every seed and both arms). Each resample draws seeds with replacement and photos with
    replacement, and takes the mean over the drawn seeds of the accuracy difference on the drawn photos."""
    import numpy as np

    a, b = np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] < 2 or a.shape[1] == 0:
        return None
    seeds, photos = a.shape
    diff = a - b  # per seed and photo: -1, 0 or 1
    rng = np.random.default_rng(seed)
    picked_seeds = rng.integers(0, seeds, size=(resamples, seeds))
    picked_photos = rng.integers(0, photos, size=(resamples, photos))
    # per resample: sum over drawn seeds of diff[seed] summed over the drawn photos, via photo counts per resample
    counts = np.zeros((resamples, photos))
    np.add.at(counts, (np.repeat(np.arange(resamples), photos), picked_photos.ravel()), 1.0)
    per_seed = counts @ diff.T  # [resamples, seeds]: each seed's summed difference on that resample's photos
    gains = np.take_along_axis(per_seed, picked_seeds, axis=1).mean(axis=1) / photos
    low, high = np.percentile(gains, [2.5, 97.5])
    return Interval(100 * float(diff.mean()), 100 * float(low), 100 * float(high))
