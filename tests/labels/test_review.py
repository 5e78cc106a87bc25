"""`python -m semisup.labels.review`: contact sheets, the click-to-pick page, and merging choices into the curated list."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from semisup.labels.curated_list import CuratedItem, read_curated, write_curated
from semisup.errors import PipelineError
from semisup.labels.review import apply_choices, balance_warnings, main, make_sheets, read_choices, sheet_of

REPO = Path(__file__).resolve().parents[2]
MINI_ZIP = REPO.parent / "shared" / "data" / "dogs-vs-cats-mini.zip"
CAT_IDS = (0, 1, 2, 3, 10)  # 10 sorts before 2 as text: sheets must use numeric Kaggle id order
DOG_IDS = (0, 1, 2)


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def kaggle_zip(tmp_path: Path) -> Path:
    """A tiny `dogs-vs-cats.zip`: train.zip inside, holding train/cat.N.jpg and train/dog.N.jpg."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as train:
        for n in CAT_IDS:
            train.writestr(f"train/cat.{n}.jpg", _jpeg((200, 20 * n, 0)))
        for n in DOG_IDS:
            train.writestr(f"train/dog.{n}.jpg", _jpeg((0, 60 * n, 200)))
    path = tmp_path / "dogs-vs-cats.zip"
    with zipfile.ZipFile(path, "w") as outer:
        outer.writestr("train.zip", inner.getvalue())
        outer.writestr("sampleSubmission.csv", "id,label\n1,0\n")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- sheets


def test_sheets_write_pngs_choices_and_a_self_contained_page(kaggle_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "review"
    pages = make_sheets(kaggle_zip, "cat", out, count=5, per_sheet=3, thumb=32)

    assert [p.name for p in pages] == ["sheet_cat_01.png", "sheet_cat_02.png"]
    for page in pages:
        with Image.open(page) as img:
            assert img.format == "PNG" and img.width > 2 * 32
    rows = _rows(out / "choices_cat.csv")
    assert list(rows[0]) == ["kaggle_name", "label", "pick", "setting", "note"]
    assert [r["kaggle_name"] for r in rows] == [f"cat.{n}.jpg" for n in CAT_IDS]
    assert all(r["label"] == "cat" and not r["pick"] and not r["setting"] and not r["note"] for r in rows)

    page = (out / "index.html").read_text(encoding="utf-8")
    for n in CAT_IDS:
        assert f'data-name="cat.{n}.jpg"' in page
    assert page.count("data:image/jpeg;base64,") == len(CAT_IDS)
    assert "http://" not in page and "https://" not in page  # works offline, no frameworks fetched
    assert "new Blob(" in page and "kaggle_name,label,setting,note" in page
    assert "dog." not in page


def test_sheets_start_at_first_id_and_stop_after_count(kaggle_zip: Path, tmp_path: Path) -> None:
    make_sheets(kaggle_zip, "cat", tmp_path, first=2, count=2, per_sheet=10, thumb=32)
    assert [r["kaggle_name"] for r in _rows(tmp_path / "choices_cat.csv")] == ["cat.2.jpg", "cat.3.jpg"]


def test_sheets_show_already_curated_images_as_picked(kaggle_zip: Path, tmp_path: Path) -> None:
    curated = tmp_path / "curated.csv"
    write_curated(curated, [CuratedItem("cat.1.jpg", "cat", "outdoor", "tabby on a lawn")])
    make_sheets(kaggle_zip, "cat", tmp_path / "out", count=3, thumb=32, curated=curated)

    rows = {r["kaggle_name"]: r for r in _rows(tmp_path / "out" / "choices_cat.csv")}
    assert (rows["cat.1.jpg"]["pick"], rows["cat.1.jpg"]["setting"], rows["cat.1.jpg"]["note"]) == ("y", "outdoor", "tabby on a lawn")
    assert rows["cat.0.jpg"]["pick"] == ""
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert '<figure data-name="cat.1.jpg" data-label="cat" class="picked">' in page
    assert 'value="outdoor" checked' in page and 'value="tabby on a lawn"' in page


def test_sheets_stop_clearly_without_photos_of_the_class(kaggle_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no dog photos with id >= 50"):
        make_sheets(kaggle_zip, "dog", tmp_path, first=50)
    with pytest.raises(PipelineError, match="--source"):
        make_sheets(tmp_path / "missing.zip", "cat", tmp_path)


# ---------------------------------------------------------------- apply


def test_apply_round_trip_from_choices_to_the_curated_file(kaggle_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "review"
    make_sheets(kaggle_zip, "cat", out, count=5, thumb=32)
    choices = out / "choices_cat.csv"
    rows = _rows(choices)
    rows[0].update(pick="y", setting="indoor", note="red square, full frame")
    rows[2].update(pick="X", setting="out", note="")
    with choices.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    curated = tmp_path / "data" / "curation" / "curated.csv"

    items, warnings = apply_choices([choices], curated, size=4)

    assert read_curated(curated) == [
        CuratedItem("cat.0.jpg", "cat", "indoor", "red square, full frame"),
        CuratedItem("cat.2.jpg", "cat", "outdoor", ""),
    ]
    assert len(items) == 2
    assert warnings == ["dog: 0 curated, labeled.size 4 needs 2"]


def test_apply_merges_web_downloads_updates_rows_and_drops_on_n(tmp_path: Path) -> None:
    curated = tmp_path / "curated.csv"
    write_curated(curated, [CuratedItem("dog.7.jpg", "dog", "indoor", "old note"),
                            CuratedItem("cat.3.jpg", "cat", "indoor", "keep me"),
                            CuratedItem("cat.9.jpg", "cat", "outdoor", "drop me")])
    download = _write(tmp_path / "picks_dog.csv",
                      'kaggle_name,label,setting,note\ndog.7.jpg,dog,outdoor,"new note, with a comma"\n'
                      "dog.12.jpg,dog,indoor,puppy on a rug\n")
    choices = _write(tmp_path / "choices_cat.csv",
                     "kaggle_name,label,pick,setting,note\ncat.9.jpg,cat,n,,\ncat.3.jpg,cat,,,\n")

    items, _ = apply_choices([download, choices], curated)

    assert read_curated(curated) == items == [  # written sorted by label, then numeric id
        CuratedItem("cat.3.jpg", "cat", "indoor", "keep me"),  # a blank pick leaves a curated row alone
        CuratedItem("dog.7.jpg", "dog", "outdoor", "new note, with a comma"),
        CuratedItem("dog.12.jpg", "dog", "indoor", "puppy on a rug"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cat.4.jpg,cat,y,,", r":3: cat\.4\.jpg is picked, so its setting must be indoor or outdoor"),
        ("cat.4.jpg,cat,y,garden,", r":3: .*setting must be indoor or outdoor \(got 'garden'\)"),
        ("cat.4.jpg,cat,maybe,indoor,", r":3: pick 'maybe' is not understood"),
        ("kitty.jpg,cat,y,indoor,", r":3: 'kitty\.jpg' is not a Kaggle labelled name"),
        ("dog.4.jpg,cat,y,indoor,", r":3: label 'cat' does not match the file name 'dog\.4\.jpg'"),
        ("cat.1.jpg,cat,y,indoor,", r":3: 'cat\.1\.jpg' is listed twice \(first on line 2\)"),
        ("cat.4.jpg,cat,y,indoor,a,b", r":3: expected 5 comma-separated fields"),
    ],
)
def test_bad_choices_lines_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    choices = _write(tmp_path / "choices_cat.csv", f"kaggle_name,label,pick,setting,note\ncat.1.jpg,cat,,,\n{line}\n")
    with pytest.raises(PipelineError, match=message) as info:
        read_choices(choices)
    assert str(info.value).startswith(f"{choices}:3:")


def test_an_unknown_header_is_reported_with_both_accepted_formats(tmp_path: Path) -> None:
    choices = _write(tmp_path / "picks.csv", "name,label,chosen\n")
    with pytest.raises(PipelineError, match=r":1: the header must be kaggle_name,label,pick,setting,note"):
        read_choices(choices)


def test_balance_warnings_for_class_size_and_settings() -> None:
    items = [CuratedItem(f"cat.{n}.jpg", "cat", "indoor" if n < 3 else "outdoor") for n in range(4)]
    items += [CuratedItem(f"dog.{n}.jpg", "dog", "indoor" if n % 2 else "outdoor") for n in range(4)]
    assert balance_warnings(items, 8) == ["cat: indoor 3 vs outdoor 1 is unbalanced"]
    assert balance_warnings(items[1:4] + items[4:7], 6) == []  # an odd class may differ by one
    assert balance_warnings(items, 10)[0] == "cat: 4 curated, labeled.size 10 needs 5"


def test_main_prints_one_error_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    choices = _write(tmp_path / "choices_dog.csv", "kaggle_name,label,pick,setting,note\ndog.1.jpg,dog,yes,,\n")
    curated = tmp_path / "curated.csv"
    with pytest.raises(SystemExit) as info:
        main(["apply", "--choices", str(choices), "--curated", str(curated)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {choices}:2: dog.1.jpg is picked") and err.count("\n") == 1
    assert not curated.exists()


def test_main_apply_reports_counts_and_balance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    choices = _write(tmp_path / "choices_dog.csv", "kaggle_name,label,pick,setting,note\ndog.1.jpg,dog,1,i,\ndog.2.jpg,dog,y,indoor,\n")
    main(["apply", "--choices", str(choices), "--curated", str(tmp_path / "curated.csv"), "--size", "4"])
    captured = capsys.readouterr()
    assert "cat: 0 (indoor 0, outdoor 0)" in captured.out and "dog: 2 (indoor 2, outdoor 0)" in captured.out
    assert "warning: dog: indoor 2 vs outdoor 0 is unbalanced" in captured.err


# ---------------------------------------------------------------- sheet of the curated list


def test_sheet_of_renders_the_curated_photos_and_names_missing_ones(kaggle_zip: Path, tmp_path: Path) -> None:
    curated = tmp_path / "curated.csv"
    write_curated(curated, [CuratedItem("cat.10.jpg", "cat", "indoor"), CuratedItem("cat.2.jpg", "cat", "outdoor"),
                            CuratedItem("dog.1.jpg", "dog", "indoor")])
    out = tmp_path / "docs" / "curated_cats.png"
    assert sheet_of(curated, kaggle_zip, "cat", out, thumb=32, max_kb=50) == 2
    assert out.stat().st_size <= 50_000 and Image.open(out).format == "PNG"

    write_curated(curated, [CuratedItem("cat.77.jpg", "cat", "indoor")])
    with pytest.raises(PipelineError, match=r"lacks 1 curated cat photos \(e\.g\. cat\.77\.jpg\)"):
        sheet_of(curated, kaggle_zip, "cat", out)


# ---------------------------------------------------------------- the real photos


@pytest.mark.skipif(not MINI_ZIP.is_file(), reason=f"real test data not found at {MINI_ZIP} (see ../shared/data/README.md)")
def test_sheets_from_the_real_mini_download(tmp_path: Path) -> None:
    pages = make_sheets(MINI_ZIP, "dog", tmp_path, first=998, count=5, per_sheet=4, thumb=64)
    assert len(pages) == 1  # only dog.998 and dog.999 exist from id 998 up
    assert [r["kaggle_name"] for r in _rows(tmp_path / "choices_dog.csv")] == ["dog.998.jpg", "dog.999.jpg"]
    with Image.open(pages[0]) as img:
        assert img.size[0] >= 2 * 64


def test_the_committed_curated_list_is_complete_and_within_the_mini_set() -> None:
    items = read_curated(REPO / "data" / "curation" / "curated.csv")
    assert sum(i.label == "cat" for i in items) == 50 and sum(i.label == "dog" for i in items) == 50
    assert all(i.note for i in items)
    assert max(i.kaggle_id for i in items) < 1000  # the mini set holds ids 0..999, so the same list works on the mini, 128-px and full downloads
