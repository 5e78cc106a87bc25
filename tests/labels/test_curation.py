"""`semisup.labels.curation` and `semisup.labels.curated_list`: the labelled set (random or curated) and the unlabelled set."""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from conftest import photo_bytes
from semisup.labels.curated_list import COLUMNS, CuratedItem, format_curated, read_curated, write_curated
from semisup.labels.curation import (
    CLASSES,
    Candidate,
    choose_curated,
    choose_random,
    read_pool,
    unlabeled_name,
    write_labeled_sets,
)
from semisup.errors import PipelineError
from semisup.data.ingest import prepare

REPO = Path(__file__).resolve().parents[2]
POOL_PER_CLASS = 12
TEST1 = 5


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A data folder as `prepare` leaves it: pool/cat_<id>.jpg, pool/dog_<id>.jpg and test1/<hex>.jpg."""
    root = tmp_path_factory.mktemp("curation") / "data"
    (root / "pool").mkdir(parents=True)
    (root / "test1").mkdir()
    for label in CLASSES:
        for i in range(POOL_PER_CLASS):
            (root / "pool" / f"{label}_{i}.jpg").write_bytes(photo_bytes(f"pool {label} {i}", (32, 32)))
    for i in range(TEST1):
        body = photo_bytes(f"test1 {i}", (32, 32))
        (root / "test1" / f"{hashlib.sha256(body).hexdigest()[:16]}.jpg").write_bytes(body)
    return root


@pytest.fixture(scope="module")
def pool(data) -> dict[str, list[Candidate]]:
    return read_pool(data / "pool")


def curated_csv(tmp_path: Path, *rows: str, name: str = "curated.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((",".join(COLUMNS),) + rows) + "\n", encoding="utf-8")
    return path


def keys(choices) -> set[tuple[str, int]]:
    return {c.candidate.key for c in choices}


def labeled_rows(data_dir: Path) -> list[dict[str, str]]:
    with (data_dir / "labeled.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------------------------ the pool


def test_read_pool(pool):
    for label in CLASSES:
        assert [c.kaggle_id for c in pool[label]] == list(range(POOL_PER_CLASS))  # numeric order, not name order
        assert all(c.label == label and c.path.name == f"{label}_{c.kaggle_id}.jpg" for c in pool[label])
    assert pool["cat"][3].kaggle_name == "cat.3.jpg" and pool["cat"][3].key == ("cat", 3)


def test_read_pool_missing_folder(tmp_path):
    with pytest.raises(PipelineError, match="dvc repro prepare"):
        read_pool(tmp_path / "pool")


@pytest.mark.parametrize("name", ["cow_1.jpg", "cat.1.jpg", "cat_x.jpg", "1.jpg", ".DS_Store"])
def test_read_pool_rejects_foreign_files(tmp_path, name):
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "cat_0.jpg").write_bytes(b"x")
    (tmp_path / "pool" / name).write_bytes(b"x")
    with pytest.raises(PipelineError, match=name.replace(".", r"\.")):
        read_pool(tmp_path / "pool")


# --------------------------------------------------------------------------------------------------------------- random


def test_random_is_deterministic_per_seed(pool):
    assert choose_random(pool, 8, seed=3) == choose_random(pool, 8, seed=3)


def test_random_is_balanced_and_distinct(pool):
    choices = choose_random(pool, 8, seed=3)
    assert Counter(c.candidate.label for c in choices) == {"cat": 4, "dog": 4}
    assert len(keys(choices)) == 8
    assert all(c.why == "random (seed 3)" for c in choices)


def test_different_seeds_draw_different_sets(pool):
    draws = {frozenset(keys(choose_random(pool, 8, seed))) for seed in range(5)}
    assert len(draws) == 5


def test_random_can_take_the_whole_pool(pool):
    assert len(keys(choose_random(pool, 2 * POOL_PER_CLASS, 0))) == 2 * POOL_PER_CLASS


@pytest.mark.parametrize("choose", [
    lambda pool, size: choose_random(pool, size, 0),
    lambda pool, size: choose_curated(pool, size, 0, REPO / "data" / "curation" / "curated.csv", "random"),
], ids=["random", "curated"])
def test_larger_than_the_pool_names_labeled_size(pool, choose):
    with pytest.raises(PipelineError, match=r"^labeled\.size: 26 needs 13 cat photos but the pool has 12"):
        choose(pool, 2 * POOL_PER_CLASS + 2)


@pytest.mark.parametrize("size", [7, 1])
def test_odd_size_is_refused(pool, size):
    with pytest.raises(PipelineError, match="labeled.size"):
        choose_random(pool, size, 0)


@pytest.fixture(scope="module")
def prepared(make_kaggle_zip, tmp_path_factory):
    download = make_kaggle_zip(per_class=14, test1=3, size=(32, 32))
    data_dir = tmp_path_factory.mktemp("prepared") / "data"
    records = prepare(download.path, data_dir, 4, 4, split_seed=0, reserved={("cat", 1), ("dog", 2)})
    return data_dir, records


def test_random_is_disjoint_from_val_and_test(prepared):
    data_dir, records = prepared
    held_out = {rec.key for rec in records if rec.split in ("val", "test")}
    assert len(held_out) == 8
    pool = read_pool(data_dir / "pool")
    for seed in range(4):
        chosen = keys(choose_random(pool, 10, seed))
        assert not chosen & held_out
        assert chosen <= {rec.key for rec in records if rec.split == "pool"}


def test_labelled_and_unlabelled_sets_from_a_prepared_folder(prepared, tmp_path):
    data_dir, records = prepared
    pool = read_pool(data_dir / "pool")
    choices = choose_random(pool, 10, 0)
    out = tmp_path / "out"
    counts = write_labeled_sets(choices, pool, data_dir / "test1", out)
    in_pool = sum(rec.split == "pool" for rec in records)
    in_test1 = sum(rec.split == "test1" for rec in records)
    assert counts == {"labeled": 10, "unlabeled": in_pool - 10 + in_test1, "from_pool": in_pool - 10, "from_test1": in_test1}
    held_out = {sha(data_dir / rec.output) for rec in records if rec.split in ("val", "test")}
    used = {sha(p) for p in (out / "labeled").iterdir()} | {sha(p) for p in (out / "unlabeled").iterdir()}
    assert not held_out & used  # nothing of val/test leaks into training


# -------------------------------------------------------------------------------------------------------------- curated


def test_curated_picks_exactly_the_listed_photos(pool, tmp_path):
    listed = curated_csv(
        tmp_path,
        "cat.1.jpg,cat,indoor,on a sofa", "cat.5.jpg,cat,outdoor,", "cat.11.jpg,cat,indoor",
        "dog.0.jpg,dog,outdoor,in a park", "dog.7.jpg,dog,indoor,", "dog.10.jpg,dog,outdoor,on a beach",
    )
    choices = choose_curated(pool, 6, seed=0, curated_file=listed, on_missing="stop")
    assert keys(choices) == {("cat", 1), ("cat", 5), ("cat", 11), ("dog", 0), ("dog", 7), ("dog", 10)}
    why = {c.candidate.key: c.why for c in choices}
    assert why[("cat", 1)] == "curated (indoor) on a sofa"
    assert why[("cat", 5)] == "curated (outdoor)"
    # the seed does not matter when the list has exactly the photos needed
    assert keys(choose_curated(pool, 6, seed=9, curated_file=listed, on_missing="stop")) == keys(choices)


def test_curated_list_longer_than_needed_gives_a_seeded_subset(pool, tmp_path):
    listed = curated_csv(tmp_path, *[f"{label}.{i}.jpg,{label},indoor," for label in CLASSES for i in range(8)])
    everything = {(label, i) for label in CLASSES for i in range(8)}
    draws = []
    for seed in range(4):
        chosen = keys(choose_curated(pool, 6, seed, listed, "stop"))
        assert chosen <= everything
        assert Counter(label for label, _ in chosen) == {"cat": 3, "dog": 3}
        assert chosen == keys(choose_curated(pool, 6, seed, listed, "stop"))
        draws.append(frozenset(chosen))
    assert len(set(draws)) > 1


def test_missing_curated_photo_stops_and_names_it(pool, tmp_path):
    listed = curated_csv(tmp_path, "cat.1.jpg,cat,indoor,", "cat.99.jpg,cat,outdoor,gone", "dog.2.jpg,dog,indoor,", "dog.3.jpg,dog,indoor,")
    with pytest.raises(PipelineError) as info:
        choose_curated(pool, 4, seed=0, curated_file=listed, on_missing="stop")
    message = str(info.value)
    assert "cat.99.jpg" in message and str(listed) in message
    assert "labeled.on_missing=random" in message and "manifest.csv" in message


def test_missing_curated_photo_replaced_at_random_is_recorded(data, pool, tmp_path):
    listed = curated_csv(tmp_path, "cat.1.jpg,cat,indoor,", "cat.99.jpg,cat,outdoor,gone", "dog.2.jpg,dog,indoor,", "dog.3.jpg,dog,indoor,")
    choices = choose_curated(pool, 4, seed=5, curated_file=listed, on_missing="random")
    assert Counter(c.candidate.label for c in choices) == {"cat": 2, "dog": 2}
    chosen = keys(choices)
    assert {("cat", 1), ("dog", 2), ("dog", 3)} <= chosen and ("cat", 99) not in chosen
    assert choices == choose_curated(pool, 4, seed=5, curated_file=listed, on_missing="random")

    out = tmp_path / "out"
    write_labeled_sets(choices, pool, data / "test1", out)
    rows = labeled_rows(out)
    assert len(rows) == 4
    replaced = [row for row in rows if row["why"].startswith("random replacement")]
    assert len(replaced) == 1
    assert replaced[0]["why"] == "random replacement for cat.99.jpg (seed 5)"
    assert replaced[0]["label"] == "cat" and replaced[0]["kaggle_name"] != "cat.1.jpg"


def test_short_curated_list(pool, tmp_path):
    listed = curated_csv(tmp_path, "cat.1.jpg,cat,indoor,", "dog.2.jpg,dog,indoor,", "dog.3.jpg,dog,indoor,")
    with pytest.raises(PipelineError, match=r"lists 1 cat photos but labeled\.size=4 needs 2"):
        choose_curated(pool, 4, 0, listed, "stop")
    choices = choose_curated(pool, 4, 0, listed, "random")
    assert Counter(c.candidate.label for c in choices) == {"cat": 2, "dog": 2}
    assert [c.why for c in choices if c.why.startswith("random")] == ["random replacement for list too short (seed 0)"]


def test_missing_curated_file(pool, tmp_path):
    with pytest.raises(PipelineError, match=r"^labeled\.curated_file: .* does not exist"):
        choose_curated(pool, 4, 0, tmp_path / "nope.csv", "stop")


# ----------------------------------------------------------------------------------------------- the labelled folders


@pytest.fixture
def written(data, pool, tmp_path):
    choices = choose_random(pool, 8, seed=1)
    out = tmp_path / "out"
    counts = write_labeled_sets(choices, pool, data / "test1", out)
    return choices, out, counts


def test_labeled_folder_holds_the_choices(written):
    choices, out, counts = written
    assert sorted(p.name for p in (out / "labeled").iterdir()) == sorted(c.candidate.path.name for c in choices)
    for choice in choices:
        assert sha(out / "labeled" / choice.candidate.path.name) == sha(choice.candidate.path)
    rows = labeled_rows(out)
    assert [row["file"] for row in rows] == [f"labeled/{c.candidate.path.name}" for c in sorted(choices, key=lambda c: c.candidate.key)]
    assert all(row["kaggle_name"] == f"{row['label']}.{row['file'].split('_')[1]}" for row in rows)
    assert counts["labeled"] == 8


def test_unlabeled_is_pool_minus_labelled_plus_test1(data, written):
    choices, out, counts = written
    chosen = {c.candidate.path for c in choices}
    rest = [p for p in (data / "pool").iterdir() if p not in chosen]
    test1 = list((data / "test1").iterdir())
    unlabeled = list((out / "unlabeled").iterdir())
    assert sorted(sha(p) for p in unlabeled) == sorted(sha(p) for p in rest + test1)
    assert counts == {"labeled": 8, "unlabeled": 2 * POOL_PER_CLASS - 8 + TEST1, "from_pool": 2 * POOL_PER_CLASS - 8, "from_test1": TEST1}


def test_unlabeled_names_carry_no_label(written):
    _, out, _ = written
    for path in (out / "unlabeled").iterdir():
        assert "cat" not in path.name.lower() and "dog" not in path.name.lower(), path.name
        assert len(path.stem) == 16 and int(path.stem, 16) >= 0 and path.suffix == ".jpg"
    assert unlabeled_name(next((out / "labeled").iterdir())).endswith(".jpg")


def test_rewriting_replaces_the_folders(data, pool, written):
    _, out, _ = written
    (out / "labeled" / "stale.jpg").write_bytes(b"old")
    (out / "unlabeled" / "stale.jpg").write_bytes(b"old")
    choices = choose_random(pool, 4, seed=2)
    write_labeled_sets(choices, pool, data / "test1", out)
    assert len(list((out / "labeled").iterdir())) == 4
    assert not (out / "unlabeled" / "stale.jpg").exists()
    assert len(labeled_rows(out)) == 4


def test_no_test1_folder(pool, tmp_path):
    counts = write_labeled_sets(choose_random(pool, 4, 0), pool, tmp_path / "no-test1", tmp_path / "out")
    assert counts["from_test1"] == 0 and counts["unlabeled"] == 2 * POOL_PER_CLASS - 4


def test_pool_files_are_left_in_place(data, written):
    assert len(list((data / "pool").iterdir())) == 2 * POOL_PER_CLASS


# ---------------------------------------------------------------------------------------------------- the curated file


@pytest.mark.parametrize("rows, line, fragment", [
    (["cat.1.jpg,cat"], 2, "expected 4 comma-separated fields"),
    (["cat.1.jpg,cat,indoor,a,b"], 2, "expected 4 comma-separated fields"),
    (["cat.1.jpg,cat,indoor,", "cat.1.jpg,cat,outdoor,again"], 3, "listed twice (first on line 2)"),
    (["cat.1.jpg,cat,indoor,", "cat.2.jpg,dog,indoor,"], 3, "label 'dog' does not match the file name 'cat.2.jpg'"),
    (["dog.4.jpg,dog,garden,"], 2, "setting 'garden' must be one of indoor, outdoor"),
    (["dog.4.jpg,dog,Indoor,"], 2, "setting 'Indoor'"),
    (["12.jpg,cat,indoor,"], 2, "not a Kaggle labelled name"),
    (["kitten.jpg,cat,indoor,"], 2, "not a Kaggle labelled name"),
    (["# a comment", "", "cat.1.jpg,cat,indoor,", "cat.x.jpg,cat,indoor,"], 5, "not a Kaggle labelled name"),
])
def test_curated_file_errors_name_the_line(tmp_path, rows, line, fragment):
    path = curated_csv(tmp_path, *rows)
    with pytest.raises(PipelineError) as info:
        read_curated(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


@pytest.mark.parametrize("header", ["name,label,setting,note", "kaggle_name,label,setting", ""])
def test_curated_file_header_is_checked(tmp_path, header):
    path = tmp_path / "curated.csv"
    path.write_text(header + "\ncat.1.jpg,cat,indoor,\n")
    with pytest.raises(PipelineError, match=r":1: the header must be kaggle_name,label,setting,note"):
        read_curated(path)


def test_curated_file_parses_notes_comments_and_blank_lines(tmp_path):
    path = curated_csv(tmp_path, "# cats", 'cat.1.jpg,cat,indoor,"on a sofa, asleep"', "", "dog.2.jpg, dog , outdoor", "  ")
    assert read_curated(path) == [CuratedItem("cat.1.jpg", "cat", "indoor", "on a sofa, asleep"), CuratedItem("dog.2.jpg", "dog", "outdoor", "")]


def test_curated_file_round_trip(tmp_path):
    items = [CuratedItem("dog.10.jpg", "dog", "outdoor", "by a lake, wet"), CuratedItem("cat.2.jpg", "cat", "indoor", ""),
             CuratedItem("dog.9.jpg", "dog", "indoor", "")]
    path = tmp_path / "sub" / "curated.csv"
    write_curated(path, items)
    back = read_curated(path)
    assert back == sorted(items, key=lambda i: (i.label, i.kaggle_id))
    assert format_curated(back) == path.read_text()


def test_committed_curated_list():
    items = read_curated(REPO / "data" / "curation" / "curated.csv")
    assert Counter(item.label for item in items) == {"cat": 50, "dog": 50}
    assert all(item.kaggle_id < 1000 for item in items)  # all in the mini set (N = 0..999), hence in every set
    assert len({item.key for item in items}) == 100
    assert all(item.setting in ("indoor", "outdoor") for item in items)


def test_curated_note_with_a_line_break_round_trips(tmp_path):
    path = tmp_path / "curated.csv"
    write_curated(path, [CuratedItem("cat.1.jpg", "cat", "indoor", "line one\nline two")])
    assert read_curated(path)[0].note == "line one\nline two"
    path.write_text(path.read_text() + "cat.3.jpg,dog,indoor,\n")  # line 4 of the file
    with pytest.raises(PipelineError, match=r":4: label 'dog'"):
        read_curated(path)
