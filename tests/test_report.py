"""The experiments report on a fixture of `dvc exp show` rows, checked against hand-computed figures."""
import pytest

from semisup.report import paired_interval, runs_from_exp_show, summarize, write_report


def row(name, seed, base, gan, source="/data/dogs-vs-cats-mini.zip", size=32, strategy="random", typ="branch_commit"):
    r = {"Experiment": name, "rev": name[:7], "typ": typ}
    for method, acc in (("baseline", base), ("gan", gan)):
        r[f"metrics/{method}.json:test_accuracy"] = acc
    r.update({"metrics/baseline.json:seed": float(seed), "metrics/baseline.json:data_source": source,
              "metrics/baseline.json:image_size": float(size), "metrics/baseline.json:profile": "paper",
              "metrics/baseline.json:strategy": strategy})
    return r


ROWS = [
    {"rev": "workspace", "typ": "baseline", "Experiment": None},  # the workspace: not an experiment
    row("a", 0, 0.50, 0.55), row("b", 1, 0.52, 0.60), row("c", 2, 0.54, 0.56),
    row("d", 0, 0.70, 0.71, source="synthetic"),  # another data source: its own row, never pooled
    {"Experiment": "e", "rev": "e", "typ": "branch_commit"},  # failed run: no metrics
    {**row("f", 3, 0.5, 0.5), "metrics/gan.json:test_accuracy": "!"},  # still running
]


def test_groups_means_std_and_paired_interval_by_hand():
    summaries = summarize(runs_from_exp_show(ROWS))
    assert [s.runs for s in summaries] == [3, 1]
    real = summaries[0]
    assert real.group == ("/data/dogs-vs-cats-mini.zip", 32, "paper", "random") and real.seeds == [0, 1, 2]
    assert real.accuracy["baseline"] == pytest.approx((52.0, 2.0))
    assert real.accuracy["gan"] == pytest.approx((57.0, 7 ** 0.5))
    # gains 5, 8, 2 points: mean 5, s = 3, t(0.975, 2) = 4.303, half-width 4.303 * 3 / sqrt(3)
    half = 4.303 * 3 / 3 ** 0.5
    assert (real.gain.mean, real.gain.low, real.gain.high) == pytest.approx((5.0, 5 - half, 5 + half))
    assert summaries[1].gain is None


def test_interval_needs_two_runs_and_shrinks_with_more():
    assert paired_interval([3.0]) is None
    narrow = paired_interval([1.0, 2.0, 3.0] * 4)
    wide = paired_interval([1.0, 2.0, 3.0])
    assert narrow.high - narrow.low < wide.high - wide.low


def test_report_files_name_source_and_size(tmp_path):
    text = write_report(runs_from_exp_show(ROWS), tmp_path / "report.md", tmp_path / "report.png")
    assert "dogs-vs-cats-mini.zip | 32 px | paper | random | 3 (0,1,2)" in text
    assert "+5.0 [-2.5, +12.5]" in text and "one draw" in text and "83.2%" in text
    assert (tmp_path / "report.png").stat().st_size > 0
