"""The experiments report on a fixture of `dvc exp show` rows, checked against hand-computed figures."""
from pathlib import Path

import pytest

from semisup.evaluation.report import paired_interval, runs_from_exp_show, summarize, write_report


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
    assert real.group == ("/data/dogs-vs-cats-mini.zip", 32, "paper", "random", 100, "published") and real.seeds == [0, 1, 2]
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
    assert "dogs-vs-cats-mini.zip | 32 px | paper | published | random, 100 | 3 (0,1,2)" in text
    assert "+5.0 [-2.5, +12.5]" in text and "one draw" in text and "83.2%" in text
    assert (tmp_path / "report.png").stat().st_size > 0


def arm_row(name, seed, base, gan, fix, recipe_gan, steps_gan=150, source="/data/128px.zip"):
    r = row(name, seed, base, gan, source=source)
    r.update({"metrics/fixmatch.json:test_accuracy": fix, "metrics/gan.json:recipe": recipe_gan,
              "metrics/gan.json:steps": float(steps_gan), "metrics/baseline.json:recipe": "published",
              "metrics/baseline.json:steps": 200.0, "metrics/fixmatch.json:recipe": "ema=0.99",
              "metrics/fixmatch.json:steps": 150.0})
    return r


def test_ablation_pairs_each_arm_with_the_faithful_gan_by_seed():
    from semisup.evaluation.report import ablation, render_ablation

    rows = [arm_row(f"p{s}", s, 0.50, g, 0.60 + s / 100, "published") for s, g in enumerate((0.55, 0.52, 0.58))]
    rows += [arm_row(f"i{s}", s, 0.50, g, 0.60 + s / 100, "ema=0.99, passes=joint") for s, g in enumerate((0.60, 0.60, 0.70))]
    rows += [arm_row("x0", 0, 0.50, 0.40, 0.6, "published", steps_gan=999)]  # another budget: not the reference
    arms = {(a.method, a.recipe, a.steps): a for a in ablation(runs_from_exp_show(rows))}
    improved = arms[("gan", "ema=0.99, passes=joint", 150)]
    # differences 5, 8, 12: mean 25/3, s = 3.512, half-width 4.303 * s / sqrt(3)
    diffs = [5.0, 8.0, 12.0]
    mean = sum(diffs) / 3
    s = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5
    assert (improved.difference.mean, improved.difference.high - improved.difference.mean) == pytest.approx((mean, 4.303 * s / 3 ** 0.5))
    # the baseline ran once per seed although three experiments restored it: it counts once per seed
    baseline = arms[("baseline", "published", 200)]
    assert sorted(baseline.accuracy) == [0, 1, 2] and baseline.difference.mean == pytest.approx(50 - (55 + 52 + 58) / 3)
    assert arms[("fixmatch", "ema=0.99", 150)].shared_seeds == 3
    assert arms[("gan", "published", 999)].difference is None  # one seed, and its own budget
    text = render_ablation(ablation(runs_from_exp_show(rows)))
    assert "| 128px.zip | 32 px | random, 100 | gan | published | 150 | 3 (0,1,2) | 55.0 ± 3.0% | reference |" in text


def test_recipe_label_lists_what_changed_from_the_published_recipe():
    from dataclasses import asdict

    from semisup.parameters import default_params, params_from_dict
    from semisup.provenance import recipe_label

    paper = asdict(params_from_dict({"gan": {"epochs": 3, "max_steps_per_epoch": 5}}))
    assert recipe_label(paper, "gan", default_params().gan) == "published"  # budgets are not recipe changes
    raw = {"model": {"stem": "small"}, "train": {"augment": True, "ema": 0.99},
           "gan": {"generator_loss": "feature_matching", "lr": 0.0005}}
    changed = asdict(params_from_dict(raw))
    assert recipe_label(changed, "gan", default_params().gan) == "stem=small, augment, ema=0.99, generator_loss=feature_matching, lr=0.0005"
    assert recipe_label(asdict(params_from_dict({"train": {"recalibrate_bn": 512}})), "gan", default_params().gan) == "recalibrate_bn=512"
    assert recipe_label(changed, "baseline", default_params().baseline) == "stem=small, augment, ema=0.99"


def test_arms_are_named_relative_to_the_improved_profile():
    from semisup.evaluation.report import arm_name, improved_recipes

    improved = improved_recipes(Path(__file__).resolve().parents[2] / "conf")
    gan = improved["gan"]
    assert "generator_loss=feature_matching" in gan and "recalibrate_bn=1024" in gan
    assert arm_name(gan, gan) == "improved" and arm_name("published", gan) == "published"
    assert arm_name(gan.replace(", generator_loss=feature_matching", ""), gan) == "improved − generator_loss=feature_matching"
    assert arm_name(gan.replace("augment, ", ""), gan) == "improved − augment"
    assert arm_name(gan.replace("passes=real_joint", "passes=joint"), gan) == "improved passes=joint instead of real_joint"
    assert arm_name("stem=small, " + gan, gan) == "improved + stem=small"
    assert arm_name("lr=0.1", gan) == "lr=0.1"  # too far from improved to name by difference
    assert arm_name("ema=0.9", None) == "ema=0.9"


def params_row(name, seed, base, gan, lr=0.002):
    """A run since the metrics files hold numbers only: what it was measured on comes from its params columns."""
    r = {"Experiment": name, "rev": name[:7], "typ": "branch_commit",
         "metrics/baseline.json:test_accuracy": base, "metrics/gan.json:test_accuracy": gan,
         "params.yaml:seed": seed, "params.yaml:image_size": 64, "params.yaml:profile": "improved",
         "params.yaml:data.source": "/data/128px.zip", "params.yaml:labeled.strategy": "random",
         "gan.lr": lr, "params.yaml:train.ema": 0.99, "train.augment": "False", "gan.batch_size": 64.0}
    # as exp_show gives them: prefixed only where a metric shares the name, booleans as strings, numbers as floats
    return r


def test_numbers_only_runs_are_grouped_by_their_params():
    from semisup.evaluation.report import params_of

    assert params_of(params_row("a", 0, 0.5, 0.6))["labeled"] == {"strategy": "random"}
    runs = runs_from_exp_show([params_row("a", 0, 0.50, 0.55), params_row("b", 1, 0.52, 0.60),
                               params_row("c", 0, 0.50, 0.70, lr=0.0005)])
    summaries = summarize(runs)
    assert [s.runs for s in summaries] == [2, 1]  # another GAN lr is another recipe: never pooled
    assert summaries[0].group == ("/data/128px.zip", 64, "improved", "random", 100, "ema=0.99")
    assert summaries[1].group[-1] == "ema=0.99, lr=0.0005" and runs[0].seed == 0 and runs[1].seed == 1


def test_a_labelled_size_sweep_gets_its_table_and_plot(tmp_path):
    """Runs that differ only in `labeled.size` are separate groups, and together a curve of accuracy against labels."""
    rows = []
    for size, (base, gan) in ((50, (0.50, 0.52)), (100, (0.55, 0.60)), (200, (0.62, 0.64))):
        for seed in (0, 1):
            r = row(f"n{size}s{seed}", seed, base + seed / 100, gan + seed / 100)
            r["params.yaml:labeled.size"] = size
            rows.append(r)
    runs = runs_from_exp_show(rows)
    assert sorted({r.group[4] for r in runs}) == [50, 100, 200]
    text = write_report(runs, tmp_path / "report.md", tmp_path / "report.png")
    assert "### How many labels?" in text
    assert "| dogs-vs-cats-mini.zip | 32 px | paper | random | 200 | 2 | 62.5 ± 0.7% | 64.5 ± 0.7% |" in text
    assert (tmp_path / "report-labels.png").read_bytes()[:4] == b"\x89PNG"
    assert "report-labels.png" in (tmp_path / "report.md").read_text()


def test_report_outside_a_git_repository_is_one_line(tmp_path, monkeypatch, capsys):
    """It printed `dvc.scm.CloneError` and a traceback."""
    from semisup.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # never the repository around a temp folder
    with pytest.raises(SystemExit) as info:
        main(["report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: semisup report: {tmp_path.resolve()} is not a git repository with commits (")
    assert err[0].endswith("run it in the project's clone, where DVC keeps the experiments")
