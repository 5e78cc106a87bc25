"""Study result files are checked at the door: a wrong, absent, non-finite or out-of-range value is one line naming
the file, the key and what is allowed; a result whose seed or arm differs from its name is refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from semisup.errors import ConfigError
from semisup.evaluation.results import read_result

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "arm": "baseline", "seed": 0, "profile": "study", "data_source": "../shared/data/dogs-vs-cats-128px.zip",
    "data_sha256": "d851f5ae", "image_size": 32, "strategy": "random", "labeled": 100, "val_images": 4,
    "test_images": 3, "test_accuracy": 0.565, "test_loss": 1.74, "val_accuracy": 0.58, "best_step": 30, "steps": 200,
    "train_seconds": 35.9, "wall_seconds": 57.2, "git_revision": "9b2a51d", "machine": "x86_64, 2 threads",
    "params": {"model": {"stem": "small"}}, "curve": [[10, 0.558], [20, 0.577]], "overrides": ["labeled.size=50"],
}


def write(tmp_path: Path, name: str = "baseline-seed0.json", text: str | None = None, **changes) -> Path:
    result = {**GOOD, **changes}
    path = tmp_path / name
    path.write_text(text if text is not None else json.dumps(result))
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        read_result(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message[len(f"{path}: "):]


def test_a_good_result_reads_back_as_written(tmp_path):
    path = write(tmp_path)
    assert read_result(path) == GOOD
    optional = write(tmp_path, "baseline@500-seed0.json", test_probabilities=[0.1, 0.9, 1], test_labels=[0, 1, 1],
                     unlabeled_images=500, unlabeled_pool=250, budget=500)
    assert read_result(optional)["unlabeled_images"] == 500
    assert refused(write(tmp_path, budget=4000)) == "budget: 4000 is not allowed; the file is named for no budget"


def test_every_committed_result_is_accepted():
    files = sorted((REPO / "metrics" / "study").rglob("*-seed*.json"))
    assert files, "no committed study results"
    for path in files:
        assert read_result(path)["arm"] in path.name


@pytest.mark.parametrize(("changes", "expected"), [
    ({"test_accuracy": float("nan")}, "test_accuracy: nan is not allowed; use a finite number from 0 to 1"),
    ({"test_accuracy": float("inf")}, "test_accuracy: inf is not allowed; use a finite number from 0 to 1"),
    ({"test_accuracy": 1e308}, "test_accuracy: 1e+308 is not allowed; use a finite number from 0 to 1"),
    ({"test_accuracy": -5}, "test_accuracy: -5 is not allowed; use a finite number from 0 to 1"),
    ({"test_accuracy": "0.5"}, "test_accuracy: '0.5' is not a number"),
    ({"arm": 3}, "arm: 3 is not a string"),
    ({"curve": "10,0.5"}, "curve: '10,0.5' is not a list"),
    ({"curve": [[10, 0.5, 3]]}, "curve[0]: [10, 0.5, 3] is not allowed; use a list of 2 (an integer, a number)"),
    ({"curve": [[10, float("nan")]]}, "curve[0]: [10, nan] is not allowed; use [step >= 0, accuracy from 0 to 1]"),
    ({"machine": ["x86_64"]}, "machine: ['x86_64'] is not a string"),
    ({"profile": None}, "profile: None is not a string"),
    ({"steps": "200"}, "steps: '200' is not an integer"),
    ({"steps": -1}, "steps: -1 is not allowed; use an integer >= 0"),
    ({"seed": True}, "seed: True is not an integer"),
    ({"overrides": "labeled.size=50 simclr.lr=0.1"},
     "overrides: 'labeled.size=50 simclr.lr=0.1' is not a list"),
    ({"overrides": [50]}, "overrides[0]: 50 is not a string"),
    ({"train_seconds": float("inf")}, "train_seconds: inf is not allowed; use a finite number >= 0"),
    ({"test_probabilities": [0.5, 0.5]}, "test_probabilities: 2 values; use one per test photo (test_images: 3)"),
    ({"test_probabilities": [0.5, 1.5, 0.5]},
     "test_probabilities[1]: 1.5 is not allowed; use a finite probability from 0 to 1"),
    ({"unlabeled_images": -3}, "unlabeled_images: -3 is not allowed; use an integer >= 0"),
    ({"budget": "all"}, "budget: 'all' is not an integer"),
    ({"surprise": 1}, "surprise: unknown key; allowed here: "),
])
def test_a_wrong_value_is_one_line_naming_the_key(tmp_path, changes, expected):
    assert refused(write(tmp_path, **changes)).startswith(expected)


@pytest.mark.parametrize("key", ["arm", "seed", "test_accuracy", "curve", "machine"])
def test_a_missing_key_is_named(tmp_path, key):
    result = {k: v for k, v in GOOD.items() if k != key}
    assert refused(write(tmp_path, text=json.dumps(result))).startswith(f"{key}: missing; use ")


def test_a_seed_or_arm_other_than_the_name_is_refused(tmp_path):
    """Read by name, it would silently overwrite seed 3's result and lose this one."""
    assert refused(write(tmp_path, "baseline-seed0.json", seed=3)) == \
        "seed: 3 is not allowed; the file is named for seed 0"
    assert refused(write(tmp_path, "gan-seed0.json")) == "arm: 'baseline' is not allowed; the file is named for arm 'gan'"
    assert refused(write(tmp_path, "baseline@500-seed0.json", budget=400)) == \
        "budget: 400 is not allowed; the file is named for 500 images"
    assert refused(write(tmp_path, "baseline@500-seed0.json", test_probabilities=[0.1, 0.9, 1], test_labels=[0, 2, 1],
                         budget=500)) == "test_labels[1]: 2 is not allowed; use a class index, 0 or 1"
    assert refused(write(tmp_path, "baseline.json")).startswith("not named like a study result")


def test_damaged_files_are_one_line(tmp_path):
    assert refused(write(tmp_path, text="{not json")).startswith("not a study result (Expecting property name")
    assert refused(write(tmp_path, text="[1, 2]")) == "expected a mapping, got [1, 2]"
    twice = json.dumps(GOOD)[:-1] + ', "seed": 4}'
    assert refused(write(tmp_path, text=twice)).startswith("not a study result (key 'seed' is given twice)")
    path = tmp_path / "baseline-seed0.json"
    path.write_bytes(json.dumps(GOOD).encode().replace(b"random", b"rand\xffom"))
    assert refused(path).startswith("not UTF-8 text (byte 0xff at offset")
