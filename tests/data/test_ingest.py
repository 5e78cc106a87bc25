"""`semisup.data.ingest`: every input file accounted for in the manifest, clean balanced splits, deterministic output.

Most tests share one `prepare` run on a small generated Kaggle-shaped zip full of awkward files; the real mini zip and
the folder of original photos are used when they are beside the project (skipped otherwise).
"""
from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from PIL import Image

from conftest import encode, photo_bytes, photo_image
from semisup.errors import PipelineError
from semisup.data.ingest import SPLITS, Record, assign_splits, prepare, read_manifest, scan, summarize, write_manifest
from semisup.data.sources import iter_entries, parse_name

PER_CLASS = 10  # valid cat.0..9 and dog.0..9
VAL, TEST = 4, 4
RESERVED = {("cat", 0), ("cat", 3), ("dog", 1), ("dog", 12)}  # cat.3 has a duplicate (cat.13); dog.12 is a PNG
TOP = "dogs-vs-cats.zip"


def truncated_jpeg() -> bytes:
    data = photo_bytes("truncated", (64, 64))
    return data[: len(data) // 2]


def awkward_members() -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """Extra members of train.zip, test1.zip and the outer zip, on top of the valid photos."""
    train = {
        "train/cat.10.jpg": truncated_jpeg(),
        "train/dog.10.jpg": b"",
        "train/cat.11.jpg": b"this is not a photo\n",
        "train/dog.11.jpg": photo_bytes("gray", mode="L"),  # grayscale: kept as it is
        "train/cat.12.jpg": photo_bytes("cmyk", mode="CMYK"),  # converted
        "train/dog.12.jpg": photo_bytes("png", fmt="PNG"),  # a PNG named .jpg: converted
        "train/cat.13.jpg": photo_bytes("cat.3"),  # exact duplicate of train/cat.3.jpg
        "train/dog.13.jpg": photo_bytes("cat.5"),  # the same photo as train/cat.5.jpg under the other label
        "train/dog.14.jpg": encode(Image.new("RGB", (4, 4), (9, 9, 9)), "JPEG"),  # too small
        "train/cat.2.png": photo_bytes("another cat 2"),  # same Kaggle name as cat.2.jpg, different pixels
        "train/notes.txt": b"my notes\n",
        "__MACOSX/train/._cat.1.jpg": b"\x00\x05\x16\x07",
    }
    test1 = {
        "test1/10.jpg": photo_bytes("dog.4"),  # a duplicate between test1 and train
        "test1/7.jpg": photo_bytes("test1.2"),  # a duplicate inside test1
        "test1/8.jpg": encode(photo_image("rgba").convert("RGBA"), "PNG"),  # converted
        "test1/9.jpg": photo_bytes("cmyk-unlabelled", mode="CMYK"),
    }
    outer = {"__MACOSX/._train.zip": b"\x00\x05\x16\x07"}
    return train, test1, outer


@pytest.fixture(scope="module")
def awkward(make_kaggle_zip):
    train, test1, outer = awkward_members()
    return make_kaggle_zip(per_class=PER_CLASS, test1=6, train_extra=train, test1_extra=test1, outer_extra=outer, name=TOP)


@pytest.fixture(scope="module")
def prepared(awkward, tmp_path_factory):
    data = tmp_path_factory.mktemp("prepared") / "data"
    records = prepare(awkward.path, data, VAL, TEST, split_seed=0, reserved=RESERVED)
    return data, records


def by_name(records: list[Record]) -> dict[str, Record]:
    return {rec.source_name: rec for rec in records}


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------- the awkward zip


def test_manifest_has_exactly_one_row_per_input_file(awkward, prepared):
    data, records = prepared
    names = [rec.source_name for rec in records]
    assert len(names) == len(set(names))
    assert set(names) == awkward.logical_names()
    assert read_manifest(data / "manifest.csv") == records


def test_manifest_records_the_bytes_of_each_file(awkward, prepared):
    _, records = prepared
    files = awkward.files()
    for rec in records:
        assert rec.sha256 == hashlib.sha256(files[rec.source_name]).hexdigest(), rec.source_name


def test_every_excluded_file_has_a_reason(prepared):
    _, records = prepared
    for rec in records:
        assert rec.split in SPLITS + ("excluded",), rec
        if rec.split == "excluded":
            assert rec.reason and not rec.output, rec
        else:
            assert rec.output and rec.pixel_sha256, rec


@pytest.mark.parametrize("member, reason", [
    ("train.zip/train/cat.10.jpg", "truncated"),
    ("train.zip/train/dog.10.jpg", "empty file"),
    ("train.zip/train/cat.11.jpg", "not a readable image"),
    ("train.zip/train/dog.14.jpg", "too small (4x4 px)"),
    ("train.zip/train/dog.13.jpg", "same pixels under both labels"),
    ("train.zip/train/cat.5.jpg", "same pixels under both labels"),
    ("train.zip/train/cat.2.png", "same Kaggle name as"),
    ("train.zip/train/notes.txt", "not a Kaggle photo name"),
    ("train.zip/__MACOSX/train/._cat.1.jpg", "not a Kaggle photo name"),
    ("__MACOSX/._train.zip", "not a Kaggle photo name"),
    ("sampleSubmission.csv", "not a Kaggle photo name"),
    ("test1.zip/test1/10.jpg", f"duplicate of {TOP}/train.zip/train/dog.4.jpg"),
])
def test_exclusion_reasons(prepared, member, reason):
    _, records = prepared
    rec = by_name(records)[f"{TOP}/{member}"]
    assert rec.split == "excluded"
    assert reason in rec.reason, rec.reason


def test_exact_duplicates_keep_one_copy(prepared):
    _, records = prepared
    rows = by_name(records)
    # reserved (curated) cat.3 is kept over its copy cat.13, although cat.13 sorts first
    assert rows[f"{TOP}/train.zip/train/cat.3.jpg"].split == "pool"
    assert rows[f"{TOP}/train.zip/train/cat.13.jpg"].reason == f"duplicate of {TOP}/train.zip/train/cat.3.jpg"
    kept = [rows[f"{TOP}/test1.zip/test1/{n}.jpg"] for n in (2, 7)]
    assert sorted(r.split for r in kept) == ["excluded", "test1"]


def test_duplicates_never_straddle_two_splits(prepared):
    _, records = prepared
    splits_of: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        if rec.pixel_sha256 and rec.split != "excluded":
            splits_of[rec.pixel_sha256].add(rec.split)
    kept = Counter(rec.pixel_sha256 for rec in records if rec.split != "excluded")
    assert max(kept.values()) == 1  # one kept file per picture
    assert all(len(s) == 1 for s in splits_of.values())


def test_val_and_test_are_balanced_and_disjoint_from_the_pool(prepared):
    _, records = prepared
    keys = {split: [rec.key for rec in records if rec.split == split] for split in ("val", "test", "pool")}
    for split, size in (("val", VAL), ("test", TEST)):
        assert Counter(label for label, _ in keys[split]) == {"cat": size // 2, "dog": size // 2}, split
    assert not set(keys["val"]) & set(keys["test"])
    assert not (set(keys["val"]) | set(keys["test"])) & set(keys["pool"])
    assert all(len(v) == len(set(v)) for v in keys.values())


def test_reserved_keys_stay_in_the_pool(prepared):
    _, records = prepared
    split_of = {rec.key: rec.split for rec in records if rec.label and rec.split != "excluded"}
    for key in RESERVED:
        assert split_of[key] == "pool", key


def test_output_folders_hold_exactly_the_kept_files(prepared):
    data, records = prepared
    on_disk = {p.relative_to(data).as_posix() for split in SPLITS for p in (data / split).iterdir()}
    assert on_disk == {rec.output for rec in records if rec.output}
    for rec in records:
        if rec.output:
            assert rec.output.startswith(rec.split + "/")
    assert summarize(records) == dict(sorted(Counter(rec.split for rec in records).items()))


def test_labelled_outputs_are_named_by_label_and_id(prepared):
    _, records = prepared
    for rec in records:
        if rec.split in ("val", "test", "pool"):
            assert rec.output == f"{rec.split}/{rec.label}_{rec.kaggle_id}.jpg"


def test_unlabelled_output_names_carry_no_label(prepared):
    data, records = prepared
    test1 = [rec for rec in records if rec.split == "test1"]
    assert len(test1) == 6 + 4 - 2  # 1..6 valid, 7..10 extra (7 and 10 duplicates)
    for path in (data / "test1").iterdir():
        assert "cat" not in path.name and "dog" not in path.name
        assert parse_name(f"test1/{path.name}") is None or parse_name(f"test1/{path.name}").label is None
    assert all(not rec.label for rec in test1)


def test_kept_files_are_the_input_bytes_unless_converted(awkward, prepared):
    data, records = prepared
    files = awkward.files()
    converted = {rec.source_name.split("/", 1)[1] for rec in records if rec.output and rec.reason}
    assert converted == {"train.zip/train/cat.12.jpg", "train.zip/train/dog.12.jpg", "test1.zip/test1/8.jpg", "test1.zip/test1/9.jpg"}
    for rec in records:
        if not rec.output:
            continue
        written = (data / rec.output).read_bytes()
        if rec.reason:
            with Image.open(io.BytesIO(written)) as img:
                img.load()
                assert (img.format, img.mode) == ("JPEG", "RGB")
                assert img.size == (rec.width, rec.height)
        else:
            assert written == files[rec.source_name]


def test_grayscale_is_kept_as_it_is(prepared):
    data, records = prepared
    rec = by_name(records)[f"{TOP}/train.zip/train/dog.11.jpg"]
    assert rec.split != "excluded" and rec.reason == ""
    with Image.open(data / rec.output) as img:
        assert img.mode == "L"


def test_prepare_is_deterministic(awkward, prepared, tmp_path):
    data, _ = prepared
    again = tmp_path / "again"
    prepare(awkward.path, again, VAL, TEST, split_seed=0, reserved=RESERVED)
    first, second = tree_digest(data), tree_digest(again)
    assert "manifest.csv" in first
    assert first == second


def test_prepare_twice_into_the_same_folder_replaces_the_splits(awkward, tmp_path):
    data = tmp_path / "data"
    prepare(awkward.path, data, VAL, TEST, split_seed=0, reserved=set())
    (data / "val" / "stale.jpg").write_bytes(b"old")
    records = prepare(awkward.path, data, VAL, TEST, split_seed=1, reserved=set())
    assert not (data / "val" / "stale.jpg").exists()
    on_disk = {p.relative_to(data).as_posix() for split in SPLITS for p in (data / split).iterdir()}
    assert on_disk == {rec.output for rec in records if rec.output}


def test_too_large_val_test_names_the_keys(awkward, tmp_path):
    with pytest.raises(PipelineError) as info:
        prepare(awkward.path, tmp_path / "data", 16, 4, split_seed=0, reserved=RESERVED)
    message = str(info.value)
    assert message.startswith("data.val_size + data.test_size: 16 + 4")
    assert "data.val_size" in message


def test_empty_source_stops(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineError, match="holds no files"):
        prepare(tmp_path / "empty", tmp_path / "data", 2, 2, 0, set())


# ----------------------------------------------------------------------------- assign_splits on records alone (fast)


def fake_records(per_class: int, unlabelled: int = 0) -> list[Record]:
    recs = [
        Record(f"train/{label}.{i}.jpg", f"s-{label}{i}", f"p-{label}{i}", label, str(i), 40, 40)
        for label in ("cat", "dog") for i in range(per_class)
    ]
    recs += [Record(f"test1/{i}.jpg", f"s-u{i}", f"p-u{i}", "", str(i), 40, 40) for i in range(1, unlabelled + 1)]
    return recs


def test_split_depends_on_the_split_seed_only():
    records = fake_records(30, 5)
    a = assign_splits(records, 10, 10, split_seed=0, reserved=set())
    assert a == assign_splits(list(reversed(records)), 10, 10, split_seed=0, reserved=set())[::-1]  # not the input order
    b = assign_splits(records, 10, 10, split_seed=1, reserved=set())
    assert {r.key for r in a if r.split == "val"} != {r.key for r in b if r.split == "val"}


def test_reserved_keys_change_nothing_else_when_absent():
    records = fake_records(20)
    a = assign_splits(records, 6, 6, 0, reserved=set())
    b = assign_splits(records, 6, 6, 0, reserved={("cat", 999)})
    assert a == b


def test_duplicate_between_val_candidates_and_test1_keeps_the_labelled_copy():
    records = fake_records(10, 2)
    records[-1] = Record("test1/2.jpg", "x", records[0].pixel_sha256, "", "2", 40, 40)  # same picture as cat.0
    out = assign_splits(records, 4, 4, 0, set())
    assert out[0].split in ("val", "test", "pool")
    assert out[-1].split == "excluded" and out[-1].reason == "duplicate of train/cat.0.jpg"


def test_too_few_photos_of_one_class_names_the_class():
    records = [r for r in fake_records(10) if not (r.label == "dog" and int(r.kaggle_id) >= 5)]
    with pytest.raises(PipelineError, match=r"need 8 usable dog photos outside the curated list, but the source has 5"):
        assign_splits(records, 8, 8, 0, set())


def test_reserved_photos_do_not_count_for_val_test():
    records = fake_records(6)
    reserved = {("cat", i) for i in range(3)}
    with pytest.raises(PipelineError, match="usable cat photos"):
        assign_splits(records, 4, 4, 0, reserved)
    assign_splits(records, 2, 2, 0, reserved)


def test_manifest_round_trip(tmp_path):
    records = assign_splits(fake_records(4, 2), 2, 2, 0, set())
    records.append(Record("notes, with a comma.txt", "s", split="excluded", reason='not a "photo"'))
    write_manifest(records, tmp_path / "manifest.csv")
    assert read_manifest(tmp_path / "manifest.csv") == records


# ------------------------------------------------------------------------------------------------------ real photos


@pytest.fixture(scope="module")
def mini_prepared(mini_zip, tmp_path_factory):
    data = tmp_path_factory.mktemp("mini") / "data"
    yield data, prepare(mini_zip, data, 200, 200, split_seed=0, reserved=set())
    shutil.rmtree(data)  # 4,000 files: not left for pytest's own clean-up of old temporary folders


@pytest.mark.slow
def test_mini_zip_is_fully_accounted_for(mini_zip, mini_prepared):
    data, records = mini_prepared
    assert len(records) == 4001
    photos = [rec for rec in records if parse_name(rec.source_name) is not None]
    assert len(photos) == 4000
    others = [rec for rec in records if parse_name(rec.source_name) is None]
    assert [rec.source_name for rec in others] == [f"{mini_zip.name}/sampleSubmission.csv"]
    assert others[0].split == "excluded"
    for split in ("val", "test"):
        assert Counter(rec.label for rec in records if rec.split == split) == {"cat": 100, "dog": 100}
        assert len(list((data / split).iterdir())) == 200
    val = {rec.key for rec in records if rec.split == "val"}
    test = {rec.key for rec in records if rec.split == "test"}
    pool = {rec.key for rec in records if rec.split == "pool"}
    assert not val & test and not (val | test) & pool
    assert len(pool) + len(val) + len(test) == sum(1 for rec in records if rec.label and rec.split != "excluded")
    assert all(rec.reason for rec in records if rec.split == "excluded")
    assert read_manifest(data / "manifest.csv") == records


def test_originals_folder_all_accounted_for(originals, tmp_path):
    data = tmp_path / "data"
    records = prepare(originals, data, 20, 20, split_seed=0, reserved=set())
    names = sorted(p.name for p in originals.iterdir() if p.is_file())
    assert len(names) == 100
    assert sorted(rec.source_name for rec in records) == names
    assert all(rec.split != "excluded" or rec.reason for rec in records)
    kept = [rec for rec in records if rec.split != "excluded"]
    assert {rec.split for rec in kept} <= {"val", "test", "pool"}  # no test1 in this source
    assert list((data / "test1").iterdir()) == []
    for split in ("val", "test"):
        assert Counter(rec.label for rec in records if rec.split == split) == {"cat": 10, "dog": 10}
    assert any(rec.width != rec.height for rec in kept)  # real, non-square photos
    for rec in kept:
        assert (data / rec.output).is_file()


def test_scan_accepts_an_explicit_worker_count(awkward):
    records = scan(iter_entries(awkward.path), workers=1)
    assert len(records) == len(awkward.logical_names())


def test_a_source_without_kaggle_names_says_so_and_still_writes_the_manifest(tmp_path, make_photo):
    source = tmp_path / "holiday"
    source.mkdir()
    (source / "test1").mkdir()
    for i, name in enumerate(["IMG_001.jpg", "IMG_002.jpg", "test1/7.jpg"]):
        (source / name).write_bytes(make_photo(f"holiday-{i}"))
    with pytest.raises(PipelineError) as info:
        prepare(source, tmp_path / "data", 2, 2, 0, set())
    message = str(info.value)
    assert "no photo named like Kaggle's `train/cat.N.jpg`" in message and "(2 excluded, 1 unlabelled)" in message
    assert "lower the sizes" not in message and message.endswith(f"{tmp_path / 'data' / 'manifest.csv'}")
    rows = read_manifest(tmp_path / "data" / "manifest.csv")
    assert sorted(r.source_name for r in rows) == ["IMG_001.jpg", "IMG_002.jpg", "test1/7.jpg"]
    assert all(r.reason for r in rows if r.split == "excluded") and sum(r.split == "excluded" for r in rows) == 2


def test_an_unreadable_file_is_excluded_with_its_reason(tmp_path, make_photo):
    source = tmp_path / "train"
    source.mkdir()
    for i in range(4):
        (source / f"cat.{i}.jpg").write_bytes(make_photo(f"c{i}"))
        (source / f"dog.{i}.jpg").write_bytes(make_photo(f"d{i}"))
    (source / "dog.9.jpg").symlink_to(tmp_path / "moved-away.jpg")  # a broken link: once dropped without a word
    records = prepare(source, tmp_path / "data", 2, 2, 0, set())
    gone = [r for r in records if r.source_name.endswith("dog.9.jpg")]
    assert len(gone) == 1 and gone[0].split == "excluded" and gone[0].reason.startswith("cannot be read (")


def test_a_zip_bomb_member_is_excluded_with_its_reason_not_unpacked(tmp_path, make_photo):
    """A 64 MiB member of zeros deflated to 64 KiB: once read whole into memory (a 2 GiB one peaked at 5.2 GB)."""
    source = tmp_path / "train.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(4):
            archive.writestr(f"train/cat.{i}.jpg", make_photo(f"c{i}"))
            archive.writestr(f"train/dog.{i}.jpg", make_photo(f"d{i}"))
        archive.writestr("train/dog.9.jpg", bytes(64 << 20))
    records = prepare(source, tmp_path / "data", 2, 2, 0, set())
    (bomb,) = [r for r in records if r.source_name.endswith("dog.9.jpg")]
    assert bomb.split == "excluded" and bomb.reason.startswith("refused: 63.7 KiB that unpack to 64.0 MiB (over 100:1, a zip bomb?)"), bomb
