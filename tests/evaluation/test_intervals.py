"""The two intervals against values computed by hand: the t-interval over seeds, the bootstrap over seeds and photos."""
import math
import statistics

import pytest

from semisup.evaluation.intervals import paired_bootstrap, paired_interval


def test_the_t_interval_by_hand():
    assert paired_interval([3.0]) is None
    diffs = [1.0, 2.0, 3.0]  # mean 2, sd 1, t(0.975, 2) = 4.303
    interval = paired_interval(diffs)
    assert interval.mean == pytest.approx(2.0)
    assert interval.high - interval.mean == pytest.approx(4.303 / math.sqrt(3))


def test_the_bootstrap_is_the_gain_when_every_photo_and_seed_agree():
    """Arm a gets photos 0..59 of 100 right on every seed, arm b 0..49: every resample of photos changes the gain,
    every resample of seeds does not; the mean is exactly 10 points."""
    a = [[i < 60 for i in range(100)]] * 4
    b = [[i < 50 for i in range(100)]] * 4
    boot = paired_bootstrap(a, b)
    assert boot.mean == pytest.approx(10.0)
    assert boot.low < 10.0 < boot.high
    # the photos that differ are 10 of 100: the resampled share of them is binomial, sd = sqrt(0.1 * 0.9 / 100)
    assert (boot.high - boot.low) / 2 == pytest.approx(196 * math.sqrt(0.09 / 100), rel=0.2)


def test_the_bootstrap_covers_the_test_photos_the_t_interval_ignores():
    """Identical per-seed gains make the t-interval zero-width; the photos still vary, and the bootstrap says so."""
    a = [[i % 10 < 6 for i in range(200)] for _ in range(3)]
    b = [[i % 10 < 5 for i in range(200)] for _ in range(3)]
    gains = [100 * (statistics.fmean(x) - statistics.fmean(y)) for x, y in zip(a, b)]
    t = paired_interval(gains)
    assert t.high - t.low == pytest.approx(0.0)
    boot = paired_bootstrap(a, b)
    assert boot.high - boot.low > 4.0


def test_the_bootstrap_is_deterministic_and_needs_two_paired_seeds():
    a = [[True, False, True, True], [False, True, True, False]]
    b = [[True, True, False, False], [False, False, True, False]]
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    assert paired_bootstrap(a[:1], b[:1]) is None
    assert paired_bootstrap(a, [row[:3] for row in b]) is None  # not the same photos
