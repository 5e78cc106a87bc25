"""`semisup.data.sources`: every form of a Kaggle download yields the same photos (names and bytes); `parse_name`."""
from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import photo_bytes, zip_bytes
from semisup.data import sources
from semisup.errors import PipelineError
from semisup.data.sources import Identity, Refused, iter_entries, parse_name, train_zip_siblings


def photos(source: Path) -> dict[str, str]:
    """Kaggle photo (`train/cat.0.jpg`, `test1/12.jpg`) -> sha256 of its bytes, for every photo `iter_entries` yields."""
    out: dict[str, str] = {}
    for entry in iter_entries(source):
        if parse_name(entry.name) is None:
            continue
        short = "/".join(entry.name.split("/")[-2:])
        assert short not in out, f"{short} yielded twice"
        out[short] = hashlib.sha256(entry.read()).hexdigest()
    return out


def expected_photos(*members: dict[str, bytes]) -> dict[str, str]:
    return {
        name: hashlib.sha256(data).hexdigest()
        for group in members for name, data in group.items() if parse_name(name) is not None
    }


def extract_inner_zips(outer: Path, dest: Path) -> Path:
    """The outer download unpacked once: a folder holding train.zip, test1.zip (and sampleSubmission.csv)."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(outer) as archive:
        archive.extractall(dest)
    return dest


def extract_all(outer: Path, dest: Path) -> Path:
    """Fully unpacked: dest/train/cat.0.jpg, ..., dest/test1/1.jpg (the inner zips extracted, then removed)."""
    extract_inner_zips(outer, dest)
    for inner in ("train.zip", "test1.zip"):
        with zipfile.ZipFile(dest / inner) as archive:
            archive.extractall(dest)
        (dest / inner).unlink()
    return dest


# --------------------------------------------------------------------------------------------------------- parse_name


@pytest.mark.parametrize("name, expected", [
    ("train/cat.123.jpg", Identity("cat", 123)),
    ("train/dog.0.jpg", Identity("dog", 0)),
    ("dogs-vs-cats.zip/train.zip/train/dog.9999.jpg", Identity("dog", 9999)),
    ("cat.7.jpg", Identity("cat", 7)),  # a flat folder of labelled photos
    ("train/CAT.5.JPG", Identity("cat", 5)),  # label lower-cased
    ("train/Dog.5.jpeg", Identity("dog", 5)),
    ("pool/cat_42.jpg", Identity("cat", 42)),  # the pipeline's own pool names
    ("train/dog.3.png", Identity("dog", 3)),
    ("train/cat.007.jpg", Identity("cat", 7)),
    ("test1/678.jpg", Identity(None, 678)),
    ("dogs-vs-cats.zip/test1.zip/test1/1.jpg", Identity(None, 1)),
    ("test/12.jpeg", Identity(None, 12)),
    ("TEST1/12.JPG", Identity(None, 12)),
])
def test_parse_name_recognises_kaggle_names(name, expected):
    assert parse_name(name) == expected


@pytest.mark.parametrize("name", [
    "678.jpg",  # a bare number outside test1: label unknown
    "train/678.jpg",
    "sampleSubmission.csv",
    "notes.txt",
    "train/notes.txt",
    "__MACOSX/train/._cat.1.jpg",  # macOS resource fork
    "__MACOSX/._cat.1.jpg",
    "train/cat.jpg",
    "train/cat.-1.jpg",
    "train/cat.1.jpg.txt",
    "train/cat.1.gif",
    "train/cow.1.jpg",
    "train/cat.1.2.jpg",
    "train/kitten.1.jpg",
    "train/cat.1.jpg/",
    "test1/1a.jpg",
    "",
])
def test_parse_name_rejects_other_names(name):
    assert parse_name(name) is None


def test_parse_name_uses_the_file_name_only():
    assert parse_name("cats/dog.1.jpg") == Identity("dog", 1)  # the folder does not set the label
    assert parse_name("dog.1.jpg/cat.2.jpg") == Identity("cat", 2)


# ------------------------------------------------------------------------------------------------ the forms of a source


@pytest.fixture(scope="module")
def download(make_kaggle_zip):
    # extra members: a non-photo file and a resource fork in train.zip, which every form must yield too
    return make_kaggle_zip(per_class=5, test1=6, train_extra={"train/notes.txt": b"hello", "__MACOSX/train/._cat.1.jpg": b"\x00\x05"})


def test_outer_zip_yields_every_member_with_its_logical_name(download):
    names = [entry.name for entry in iter_entries(download.path)]
    assert len(names) == len(set(names))
    assert set(names) == download.logical_names()


def test_outer_zip_bytes_match_the_members(download):
    files = download.files()
    for entry in iter_entries(download.path):
        assert entry.read() == files[entry.name], entry.name


def test_entries_can_be_read_twice_while_walking(download):
    for entry in iter_entries(download.path):
        assert entry.read() == entry.read()


def test_every_form_yields_the_same_photos(download, tmp_path):
    expected = expected_photos(download.train, download.test1)
    assert len(expected) == 2 * 5 + 6

    zips = extract_inner_zips(download.path, tmp_path / "zips")
    folder = extract_all(download.path, tmp_path / "folder")
    forms = {
        "outer zip (nested zips)": download.path,
        "train.zip with test1.zip beside it": zips / "train.zip",
        "folder holding the two zips": zips,
        "extracted folder": folder,
    }
    for form, source in forms.items():
        assert photos(source) == expected, form


def test_folder_forms_yield_every_file(download, tmp_path):
    folder = extract_all(download.path, tmp_path / "folder")
    names = {entry.name for entry in iter_entries(folder)}
    assert names == set(download.train) | set(download.test1) | {"sampleSubmission.csv"}

    zips = extract_inner_zips(download.path, tmp_path / "zips")
    names = {entry.name for entry in iter_entries(zips)}
    assert names == {f"train.zip/{n}" for n in download.train} | {f"test1.zip/{n}" for n in download.test1} | {"sampleSubmission.csv"}


def test_train_zip_brings_test1_zip_only_when_it_is_beside_it(download, tmp_path):
    zips = extract_inner_zips(download.path, tmp_path / "zips")
    assert train_zip_siblings(zips / "train.zip") == [zips / "train.zip", zips / "test1.zip"]
    assert train_zip_siblings(zips / "test1.zip") == [zips / "test1.zip"]

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "train.zip").write_bytes((zips / "train.zip").read_bytes())
    assert train_zip_siblings(alone / "train.zip") == [alone / "train.zip"]
    assert photos(alone / "train.zip") == expected_photos(download.train)

    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / "labelled.zip").write_bytes((zips / "train.zip").read_bytes())
    (renamed / "test1.zip").write_bytes((zips / "test1.zip").read_bytes())
    assert not any(e.name.startswith("test1.zip") for e in iter_entries(renamed / "labelled.zip"))


@pytest.mark.parametrize("outer, inner", [
    (zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED),
    (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED),
    (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED),
])
def test_compressed_zips_yield_the_same_photos(make_kaggle_zip, outer, inner):
    download = make_kaggle_zip(per_class=4, test1=3, compression=outer, inner_compression=inner)
    assert photos(download.path) == expected_photos(download.train, download.test1)
    assert {e.name for e in iter_entries(download.path)} == download.logical_names()


def test_zip_nested_deeper(make_kaggle_zip, tmp_path):
    """A download re-zipped by someone: wrapper.zip/download/dogs-vs-cats.zip/train.zip/train/cat.0.jpg."""
    download = make_kaggle_zip(per_class=3, test1=2, inner_compression=zipfile.ZIP_DEFLATED)
    wrapper = tmp_path / "wrapper.zip"
    wrapper.write_bytes(zip_bytes({"download/dogs-vs-cats.zip": download.path.read_bytes()}, zipfile.ZIP_DEFLATED))
    names = {e.name for e in iter_entries(wrapper)}
    assert names == {f"wrapper.zip/download/{n}" for n in download.logical_names()}
    assert photos(wrapper) == expected_photos(download.train, download.test1)


def test_single_image_as_source(tmp_path):
    image = tmp_path / "cat.1.jpg"
    image.write_bytes(photo_bytes("single"))
    entries = list(iter_entries(image))
    assert [e.name for e in entries] == ["cat.1.jpg"]
    assert entries[0].read() == image.read_bytes()


def test_broken_zips_are_yielded_as_files_not_skipped(tmp_path):
    """A corrupt zip is accounted for (it becomes "not an image" in the manifest), at the top and inside a folder."""
    folder = tmp_path / "download"
    folder.mkdir()
    (folder / "train.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    (folder / "cat.1.jpg").write_bytes(photo_bytes("ok"))
    assert sorted(e.name for e in iter_entries(folder)) == ["cat.1.jpg", "train.zip"]
    assert [e.name for e in iter_entries(folder / "train.zip")] == ["train.zip"]

    outer = tmp_path / "outer.zip"
    outer.write_bytes(zip_bytes({"test1.zip": b"garbage", "train.zip": zip_bytes({"train/cat.0.jpg": b"x"})}))
    entries = {e.name: e.read() for e in iter_entries(outer)}
    assert entries == {"outer.zip/test1.zip": b"garbage", "outer.zip/train.zip/train/cat.0.jpg": b"x"}


def test_directories_are_not_entries(tmp_path):
    outer = tmp_path / "with-dirs.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("train/", b"")
        archive.writestr("train/cat.0.jpg", b"data")
        archive.writestr("empty/", b"")
    assert [e.name for e in iter_entries(outer)] == ["with-dirs.zip/train/cat.0.jpg"]


def test_missing_source_names_the_kaggle_command(tmp_path):
    with pytest.raises(PipelineError) as info:
        list(iter_entries(tmp_path / "nothing.zip"))
    message = str(info.value)
    assert message.startswith("data.source: ")
    assert "kaggle competitions download -c dogs-vs-cats -p data/raw" in message


def test_walk_is_deterministic(download):
    first = [(e.name, hashlib.sha256(e.read()).hexdigest()) for e in iter_entries(download.path)]
    second = [(e.name, hashlib.sha256(e.read()).hexdigest()) for e in iter_entries(download.path)]
    assert first == second


def test_stored_inner_zip_is_not_reread_from_the_start(tmp_path, monkeypatch):
    # 150 members of ~2 KB stored in reverse name order, so the sorted walk always goes backwards in the archive
    members = {f"train/cat.{i:03d}.jpg": photo_bytes(("rewind", i), (32, 32)) for i in reversed(range(150))}
    outer = tmp_path / "dogs-vs-cats.zip"
    outer.write_bytes(zip_bytes({"train.zip": zip_bytes(members)}))

    read_bytes = 0
    original = zipfile.ZipExtFile.read

    def counting_read(self, n=-1):
        nonlocal read_bytes
        data = original(self, n)
        read_bytes += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    assert len(photos(outer)) == 150
    size = outer.stat().st_size
    # linear: a constant few passes (central directory, headers), not one re-read per member (75x before the fix)
    assert read_bytes <= 8 * size, f"read {read_bytes / size:.0f}x the archive's size through zip streams"


# ------------------------------------------------------------------------------------------------- the real mini zip


@pytest.mark.slow
def test_mini_zip_every_form_yields_the_same_photos(mini_zip, tmp_path):
    nested = photos(mini_zip)
    assert len(nested) == 4000
    assert sum(parse_name(n).label is None for n in nested) == 2000
    assert {parse_name(n).kaggle_id for n in nested if parse_name(n).label == "cat"} == set(range(1000))
    assert {parse_name(n).kaggle_id for n in nested if parse_name(n).label is None} == set(range(1, 2001))

    try:
        zips = extract_inner_zips(mini_zip, tmp_path / "zips")
        assert photos(zips / "train.zip") == nested, "train.zip with test1.zip beside it"
        assert photos(zips) == nested, "a folder holding the two zips"
        folder = extract_all(mini_zip, tmp_path / "folder")
        assert photos(folder) == nested, "an extracted folder"
    finally:  # 4,000 files and 64 MB: not left for pytest's own clean-up of old temporary folders
        shutil.rmtree(tmp_path / "zips", ignore_errors=True)
        shutil.rmtree(tmp_path / "folder", ignore_errors=True)


# ------------------------------------------------------------------------------------------------------ fingerprint


def test_fingerprint_follows_the_content_not_the_path(tmp_path: Path) -> None:
    from semisup.data.sources import fingerprint_source

    archive = tmp_path / "dogs-vs-cats.zip"
    archive.write_bytes(b"first download")
    first = fingerprint_source(archive)
    assert first["sha256"] == hashlib.sha256(b"first download").hexdigest() and first["bytes"] == 14
    archive.write_bytes(b"a finished download")  # same path, new content
    assert fingerprint_source(archive)["sha256"] != first["sha256"]
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "cat.1.jpg").write_bytes(b"a")
    one = fingerprint_source(folder)
    (folder / "cat.1.jpg").rename(folder / "dog.1.jpg")  # same bytes, another label
    assert fingerprint_source(folder)["sha256"] != one["sha256"] and one["files"] == 1
    assert fingerprint_source("synthetic") == {"source": "synthetic"}
    with pytest.raises(PipelineError, match="data.source: .* does not exist"):
        fingerprint_source(tmp_path / "missing.zip")


# ------------------------------------------------------------------------------------------- zip bombs, huge members

BOMB = 64 << 20  # 64 MiB of zeros: deflates to about 64 KiB (1000:1), a small stand-in for the 2 GiB member


def bomb_zip(path: Path, name: str = "train/cat.7.jpg", inner: bool = False) -> Path:
    """A zip with one ordinary photo and a member of zeros (in an inner zip when `inner`)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train/cat.1.jpg", photo_bytes("ok"))
        if inner:
            archive.writestr("bomb.zip", bytes(BOMB))  # deflated: it would be spooled whole to disk to be opened
        else:
            archive.writestr(name, bytes(BOMB))
    return path


def test_a_zip_bomb_member_is_refused_from_its_header_and_named(tmp_path, monkeypatch):
    source = bomb_zip(tmp_path / "bomb.zip")
    read_sizes = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: read_sizes.append(n) or real_read(self, n))
    walk = iter_entries(source)  # entries are read while the walk is in their archive
    good, bomb = next(walk), next(walk)
    assert good.refused == "" and good.read() == photo_bytes("ok")
    assert bomb.name.endswith("cat.7.jpg") and bomb.refused == \
        "refused: 63.7 KiB that unpack to 64.0 MiB (over 100:1, a zip bomb?); photos barely compress"
    read_sizes.clear()
    with pytest.raises(Refused, match="zip bomb"):
        bomb.read()
    assert read_sizes == []  # not one byte of it was unpacked
    assert list(walk) == []


def test_a_deflated_inner_zip_bomb_is_not_spooled(tmp_path):
    (entry,) = [e for e in iter_entries(bomb_zip(tmp_path / "outer.zip", inner=True)) if e.name.endswith("bomb.zip")]
    assert "zip bomb" in entry.refused


def test_a_member_over_the_size_cap_is_refused_and_streams_stop_at_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FILE_MAX", 10_000)
    noise = np.random.default_rng(0).bytes(20_000)  # incompressible: the ratio is fine, the size is not
    path = tmp_path / "big.zip"
    path.write_bytes(zip_bytes({"train/cat.1.jpg": noise}))
    (entry,) = iter_entries(path)
    assert entry.refused == "refused: unpacks to 19.5 KiB, over the 9.8 KiB limit for one file"
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "cat.2.jpg").write_bytes(noise)
    (plain,) = iter_entries(tmp_path / "folder")
    assert plain.refused == entry.refused
    with pytest.raises(Refused, match="more than the 9.8 KiB limit"):
        b"".join(sources._chunks(io.BytesIO(noise), 10_000))  # a header that understates the size is stopped too
