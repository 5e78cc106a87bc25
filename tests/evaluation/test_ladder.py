"""The budget ladder's table and figure from result files alone: rungs per method and budget, paired with the folder's
baseline by seed, with the t-interval and the bootstrap over seeds and test photos."""
import json

import pytest

from semisup.evaluation.ladder import correct, ladder_sections, render_ladder, rungs
from semisup.evaluation.study_run import result_path
from semisup.evaluation.study_tables import load_results, study_sections


def result(arm, seed, right, budget=None, images=0):
    """A result whose model got the first `right` of 100 test photos right (labels alternate)."""
    labels = [i % 2 for i in range(100)]
    probabilities = [(0.9 if y else 0.1) if i < right else (0.2 if y else 0.8) for i, y in enumerate(labels)]
    return {"arm": arm, "seed": seed, "profile": "study", "data_source": "../shared/data/x.zip",
            "data_sha256": "ab" * 32, "image_size": 32, "strategy": "random", "labeled": 100, "val_images": 100,
            "test_images": 100, "test_accuracy": right / 100, "steps": 200, "train_seconds": 120.0,
            "machine": "AMD EPYC 7B13, x86_64, 2 threads", "curve": [[10, 0.5]], "budget": budget,
            "unlabeled_images": images, "unlabeled_pool": 25600, "test_labels": labels,
            "test_probabilities": probabilities}


@pytest.fixture
def ladder(tmp_path):
    folder = tmp_path / "study" / "study-ladder"
    folder.mkdir(parents=True)
    for seed, base in enumerate((55, 57, 56)):
        result_path(folder, "baseline", seed).write_text(json.dumps(result("baseline", seed, base)))
        for budget, gain in ((12800, 1), (64000, 6)):
            label = f"gan@{budget}"
            result_path(folder, label, seed).write_text(json.dumps(result("gan", seed, base + gain + seed % 2, budget, budget)))
    return folder


def test_each_budget_is_a_rung_paired_with_the_baseline(ladder):
    rows = rungs(load_results(ladder))
    assert [(r.method, r.images) for r in rows] == [("baseline", 0), ("gan", 12800), ("gan", 64000)]
    top = rows[-1]
    assert top.passes == pytest.approx(2.5) and top.minutes == pytest.approx(2.0)
    assert top.gain.mean == pytest.approx((6 + 7 + 6) / 3)
    assert top.boot.mean == pytest.approx(top.gain.mean) and top.boot.low < top.gain.mean < top.boot.high
    table = render_ladder(load_results(ladder), ladder)
    assert "| gan | 64,000 | 2.50 | 3 (0,1,2) |" in table and "AMD EPYC 7B13" in table


def test_correctness_comes_from_the_stored_probabilities():
    r = result("gan", 0, 70)
    assert sum(correct(r)) == 70
    assert correct({**r, "test_probabilities": None}) is None


def test_the_report_draws_the_ladder_and_keeps_it_out_of_the_study_tables(ladder):
    root = ladder.parent
    assert "gan@64000" not in study_sections(root)  # a ladder is not a study folder
    text = ladder_sections(root)
    assert "study-ladder" in text and "ladder.png" in text
    from PIL import Image

    pixels = Image.open(root / "ladder.png").convert("L").getextrema()
    assert pixels[0] < pixels[1]  # not a blank frame
