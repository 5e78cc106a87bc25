"""The study's bookkeeping: seeds parsed with clear errors, results read back from their files alone, the table's
figures (means, spreads, gains paired by seed and their t-intervals) computed from them, the curve plot drawn."""
import json
import shutil
import statistics

import pytest

from semisup.errors import ConfigError
from semisup.evaluation.study_run import result_path, run_study, seed_range
from semisup.evaluation.study_tables import load_results, plot_curves, render


def test_seeds_are_ranges_or_lists_and_anything_else_is_named():
    assert seed_range("0-5") == [0, 1, 2, 3, 4, 5] and seed_range("1,3,7-8") == [1, 3, 7, 8]
    for bad in ("x", "", "-1", "3-"):
        with pytest.raises(ConfigError, match="--seeds: .* use e.g. 0-5"):
            seed_range(bad)


def fake(arm, seed, accuracy, curve=((10, 0.5), (20, 0.6))):
    result = {"arm": arm, "seed": seed, "profile": "study", "data_source": "../shared/data/x.zip",
              "data_sha256": "ab" * 32, "image_size": 32, "strategy": "random", "labeled": 100, "val_images": 1000,
              "test_images": 1000, "test_accuracy": accuracy, "steps": 200, "train_seconds": 60.0,
              "machine": "x86_64, 2 threads", "curve": [list(c) for c in curve]}
    if arm == "simclr":
        result["pretrain"] = {"steps": 6000, "seconds": 4000.0}
    return result


@pytest.fixture
def results(tmp_path):
    base = [0.60, 0.55, 0.58]
    simclr = [0.66, 0.63, 0.62]
    for seed, (b, s) in enumerate(zip(base, simclr)):
        for arm, acc in (("baseline", b), ("simclr", s)):
            result_path(tmp_path, arm, seed).write_text(json.dumps(fake(arm, seed, acc)))
    return tmp_path


def test_the_table_pairs_each_arm_with_the_baseline_by_seed(results):
    loaded = load_results(results)
    assert sorted(loaded) == ["baseline", "simclr"] and sorted(loaded["simclr"]) == [0, 1, 2]
    table = render(loaded, [results])
    diffs = [6.0, 8.0, 4.0]
    half = 4.303 * statistics.stdev(diffs) / 3 ** 0.5  # t(0.975, 2)
    assert f"+6.0 [{6 - half:+.1f}, {6 + half:+.1f}] over 3 seeds" in table
    assert "| baseline | 200 | 3 (0,1,2) | 57.7 ± 2.5% | 60.0 55.0 58.0 | reference |" in table
    assert "(+6000 pretraining, shared)" in table and "SimCLR pretraining, once per encoder: 6000 steps 4000 s (" in table
    assert "x.zip" in table and "32 px, 100 random labelled photos" in table


def test_one_seed_is_called_one_draw(tmp_path):
    for arm, acc in (("baseline", 0.5), ("simclr", 0.6)):
        result_path(tmp_path, arm, 0).write_text(json.dumps(fake(arm, 0, acc)))
    assert "+10.0 (one draw: no interval)" in render(load_results(tmp_path), [tmp_path])


def test_an_empty_folder_and_an_unknown_arm_give_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no study results"):
        load_results(tmp_path)
    with pytest.raises(ConfigError, match="--arms: mixmatch not registered"):
        run_study([0], ["mixmatch"], tmp_path, "study")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="--out .*a-file: cannot hold the results .* give a folder"):
        run_study([0], ["baseline"], tmp_path / "a-file", "study")


def test_the_curves_are_drawn(results, tmp_path):
    plot_curves(load_results(results), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_another_profile_on_the_same_data_is_paired_with_its_own_baseline(results, tmp_path_factory):
    paper = tmp_path_factory.mktemp("study_paper")
    for seed, (b, g) in enumerate(((0.50, 0.52), (0.52, 0.51), (0.54, 0.56))):
        for arm, acc in (("baseline", b), ("gan", g)):
            result_path(paper, arm, seed).write_text(json.dumps({**fake(arm, seed, acc), "profile": "paper"}))
    loaded = load_results(results, paper)
    assert sorted(loaded) == ["baseline", "baseline (paper)", "gan (paper)", "simclr"]
    rows = [line for line in render(loaded, [results]).splitlines() if line.startswith("| ")][2:]
    assert [r.split(" | ")[0] for r in rows] == ["| baseline", "| simclr", "| baseline (paper)", "| gan (paper)"]
    assert rows[2].endswith("| reference |") and "+1.0 [" in rows[3]  # gan (paper) minus baseline (paper)


@pytest.mark.parametrize("text", ["{not json", '{"arm": "baseline"}', "[1, 2]", json.dumps({**fake("baseline", 0, 0.5), "seed": "x"})])
def test_a_damaged_result_file_is_named_in_one_line(tmp_path, text):
    result_path(tmp_path, "baseline", 0).write_text(text)
    with pytest.raises(ConfigError, match=r"baseline-seed0.json: (not a study result|seed|expected a mapping)") as refused:
        load_results(tmp_path)
    assert "\n" not in str(refused.value)  # one line, naming the file and the key


def test_results_on_other_data_are_refused_rather_than_mixed(results, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    result_path(other, "baseline", 0).write_text(json.dumps({**fake("baseline", 0, 0.5), "image_size": 64}))
    with pytest.raises(ConfigError, match=r"measured on other data .* \(image_size differ\)"):
        load_results(results, other)


def test_the_report_carries_every_committed_study(results, tmp_path_factory):
    from semisup.evaluation.study_tables import study_sections

    root = tmp_path_factory.mktemp("clone") / "metrics" / "study"
    root.mkdir(parents=True)
    shutil.copytree(results, root / "study", ignore=shutil.ignore_patterns("*.png"))
    (root / "study.png").write_bytes(b"\x89PNG")
    text = study_sections(root)
    assert "| simclr | 200 (+6000 pretraining, shared) |" in text
    assert "![Validation accuracy per step, study](study/study.png)" in text
    assert study_sections(root / "nowhere") == ""
    demo = root / "demo"  # a stand-in study sorts before `study` by name, but the photos come first
    demo.mkdir()
    for seed in range(3):
        result = {**fake("baseline", seed, 0.7), "data_source": "synthetic", "data_sha256": "synthetic-0",
                  "synthetic": {"clutter": False, "per_class": 1000, "unlabeled": 1000, "size": 64}}
        result_path(demo, "baseline", seed).write_text(json.dumps(result))
    text = study_sections(root)
    assert text.index("x.zip") < text.index("the plain stand-in")


def test_studies_that_differ_only_in_labels_give_a_labels_curve(results, tmp_path_factory):
    from semisup.evaluation.study_tables import study_sections

    root = tmp_path_factory.mktemp("labels") / "metrics" / "study"
    shutil.copytree(results, root / "study")
    more = root / "study-labeled.size=200"
    more.mkdir()
    for seed, (b, s) in enumerate(((0.64, 0.70), (0.66, 0.70), (0.65, 0.71))):
        for arm, acc in (("baseline", b), ("simclr", s)):
            result_path(more, arm, seed).write_text(json.dumps({**fake(arm, seed, acc), "labeled": 200}))
    for seed in range(3):  # an arm measured at one size only is no curve: not a column
        result_path(root / "study", "gan", seed).write_text(json.dumps(fake("gan", seed, 0.6)))
    text = study_sections(root)
    assert "| labelled photos | baseline | simclr |" in text
    assert "| 200 | 65.0 ± 1.0% (n=3) | 70.3 ± 0.6% (n=3) |" in text
    assert (root / "labels.png").read_bytes()[:4] == b"\x89PNG"


def test_each_variant_s_arms_stay_together_and_each_encoder_s_pretraining_is_counted_once(results, tmp_path_factory):
    """A longer pretraining is a variant with its own baseline and encoder: its rows follow one another (not
    interleaved with another profile's), and the seconds line names both encoders by their steps."""
    longer, paper = tmp_path_factory.mktemp("longer"), tmp_path_factory.mktemp("paper")
    for seed in range(3):
        for arm, acc in (("baseline", 0.57), ("simclr", 0.68)):
            result = {**fake(arm, seed, acc), "overrides": ["pretrain.epochs=80"]}
            if arm == "simclr":
                result["pretrain"] = {"steps": 8000, "seconds": 3500.0}
            result_path(longer, arm, seed).write_text(json.dumps(result))
        result_path(paper, "baseline", seed).write_text(json.dumps({**fake("baseline", seed, 0.5), "profile": "paper"}))
    table = render(load_results(results, paper, longer), [results, paper, longer])
    rows = [line.split(" | ")[0][2:] for line in table.splitlines() if line.startswith("| ")][2:]
    assert rows == ["baseline", "simclr", "baseline (paper)", "baseline (study pretrain.epochs=80)",
                    "simclr (study pretrain.epochs=80)"]
    assert "+11.0 [+11.0, +11.0] over 3 seeds" in table  # paired with its own baseline, not the plain one
    assert ("SimCLR pretraining, once per encoder: 6000 steps 4000 s, 8000 steps 3500 s (study pretrain.epochs=80)"
            in table)
    assert f"results in `{results.as_posix()}/`, `{paper.as_posix()}/`, `{longer.as_posix()}/`." in table


def test_a_variant_swept_over_labels_is_one_curve(results, tmp_path_factory):
    """The labelled size is not part of a variant's name, so the same recipe at 100 and 200 labels is one column."""
    from semisup.evaluation.study_tables import study_sections

    root = tmp_path_factory.mktemp("variant-labels") / "metrics" / "study"
    shutil.copytree(results, root / "study")
    for folder, labels, acc in (("study-pretrain.epochs=80", 100, 0.68), ("study-pretrain.epochs=80-labeled.size=200",
                                                                        200, 0.70)):
        (root / folder).mkdir()
        overrides = ["pretrain.epochs=80"] + ([f"labeled.size={labels}"] if labels != 100 else [])
        for seed in range(2):
            result = {**fake("simclr", seed, acc), "labeled": labels, "overrides": overrides}
            result_path(root / folder, "simclr", seed).write_text(json.dumps(result))
    text = study_sections(root)
    assert "| labelled photos | simclr (study pretrain.epochs=80) |" in text
    assert "| 200 | 70.0 ± 0.0% (n=2) |" in text
    assert (root / "labels.png").read_bytes()[:4] == b"\x89PNG"


def test_a_recipe_variant_of_one_arm_is_named_and_paired_with_the_plain_baseline(results, tmp_path_factory):
    variant = tmp_path_factory.mktemp("variant")
    for seed, acc in enumerate((0.70, 0.64, 0.60)):
        result = {**fake("simclr", seed, acc), "overrides": ["simclr.lr=0.003"]}
        result_path(variant, "simclr", seed).write_text(json.dumps(result))
    loaded = load_results(results, variant)
    assert sorted(loaded) == ["baseline", "simclr", "simclr (study simclr.lr=0.003)"]
    row = next(r for r in render(loaded, [results]).splitlines() if r.startswith("| simclr (study"))
    assert "+7.0 [" in row  # 70-60, 64-55, 60-58 against the plain baseline


def test_the_stand_in_is_named_by_its_settings_so_plain_and_busy_studies_stay_apart():
    """The stand-in has no archive to hash: its identity is a hash of `data.synthetic.*`, so a plain-stand-in study
    and a busy one are two data sets (never one table), and the table says which stand-in it was."""
    from dataclasses import replace

    from semisup.parameters import default_params
    from semisup.evaluation.study_run import data_identity
    from semisup.evaluation.study_tables import data_text

    plain = default_params()
    plain = replace(plain, data=replace(plain.data, source="synthetic",
                                        synthetic=replace(plain.data.synthetic, clutter=False)))
    busy = replace(plain, data=replace(plain.data, synthetic=replace(plain.data.synthetic, clutter=True)))
    assert data_identity(plain, {"source": "synthetic"}) != data_identity(busy, {"source": "synthetic"})
    assert data_identity(plain, {"source": "synthetic"}) == data_identity(plain, {"source": "synthetic"})
    assert data_identity(plain, {"sha256": "cd" * 32}) == "cd" * 32  # an archive is named by its content
    archive = replace(plain, data=replace(plain.data, source="x.zip"))
    assert data_identity(archive, {}) == "unknown"

    result = {"data_source": "synthetic", "synthetic": {"clutter": False, "per_class": 1000, "unlabeled": 1000,
                                                        "size": 64}}
    assert data_text(result).startswith("the plain stand-in (`synthetic`: generated pictures, not photos; 1000 per")
    assert "busy" in data_text({**result, "synthetic": {**result["synthetic"], "clutter": True}})
    assert data_text({"data_source": "../x.zip", "data_sha256": "ab" * 32}) == "`x.zip` (SHA-256 abababababab…)"


def test_a_result_names_the_cpu_its_seconds_were_measured_on(tmp_path):
    from semisup.evaluation.study_run import machine

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert machine(2, cpuinfo).startswith("AMD EPYC 7B13, ") and machine(2, cpuinfo).endswith(", 2 threads")
    assert machine(4, tmp_path / "absent").endswith("4 threads")  # no /proc (macOS): the architecture alone


def test_a_study_refuses_params_set_by_hand_rather_than_dropping_them(tmp_path, monkeypatch):
    """`semisup params profile=smoke data.val_size=30`, then `semisup study run`: one line naming the key and --set."""
    from pathlib import Path

    from semisup.evaluation.study import refuse_hand_edits
    from semisup.params import compose

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").symlink_to(root / "conf")
    compose(tmp_path / "params.yaml", tmp_path / "conf", ["profile=smoke", "seed=3"])
    refuse_hand_edits(tmp_path / "params.yaml", "smoke")  # the profile and a seed: nothing dropped
    compose(tmp_path / "params.yaml", tmp_path / "conf", ["profile=smoke", "data.val_size=30"])
    with pytest.raises(ConfigError, match=r"differs from profile 'smoke' in data.val_size=30: .*--set data.val_size=30"):
        refuse_hand_edits(tmp_path / "params.yaml", "smoke")
