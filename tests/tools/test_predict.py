"""`python -m semisup predict`: predictions CSV, Kaggle submission, contact sheet, unreadable photos, wrong model files.

A freshly initialised ResNet18 at 32 px is saved with `artifacts.save_model` (no training: the numbers only have to be
well-formed and repeatable) and run for real on a few of the shared photos, through DALI on the CPU.
"""
from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semisup.tools import predict
from semisup.__main__ import main
from semisup.artifacts import load_model, save_model
from semisup.parameters import params_from_dict
from semisup.data.images import ImageCheck
from semisup.data.labeled_loader import iterate_labeled
from semisup.errors import Terminated
from semisup.models import Classifier
from semisup.tools.predict import LeastConfident, Prediction, kaggle_rows, predict_paths

CPU = torch.device("cpu")
PICKED = ("cat.1.jpg", "cat.2.jpg", "dog.1.jpg", "dog.2.jpg")


# --------------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, "baseline", params_from_dict({"image_size": 32}), {"best_epoch": 0}, Classifier().state_dict())
    return path


@pytest.fixture(scope="module")
def photos(originals: Path, tmp_path_factory) -> Path:
    """Four real photos of varied sizes, named as a labelled folder (cat_1.jpg ...) so the evaluation loader reads it."""
    folder = tmp_path_factory.mktemp("photos")
    for name in PICKED:
        label, number, _ = name.split(".")
        (folder / f"{label}_{number}.jpg").write_bytes((originals / name).read_bytes())
    return folder


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8").splitlines()))


def cli(*args: object) -> int:
    """`python -m semisup ...` in this process: the exit code (0 when it returns)."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code)
    return 0


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------------ predictions


def test_predict_paths_rows_sum_to_one_repeatable_and_match_evaluation(model_file, photos):
    model, meta = load_model(model_file, CPU)
    first = list(predict_paths(model, meta, [photos], "cpu", batch_size=3))
    assert [p.file for p in first] == [f"{photos}/{n}" for n in ("cat_1.jpg", "cat_2.jpg", "dog_1.jpg", "dog_2.jpg")]
    for p in first:
        assert p.classes == ("cat", "dog") and sum(p.probabilities) == pytest.approx(1.0, abs=1e-9)
        assert p.predicted == p.classes[max(range(2), key=p.probabilities.__getitem__)]
    again = list(predict_paths(model, meta, [photos], "cpu", batch_size=3))
    assert [(p.file, p.probabilities) for p in again] == [(p.file, p.probabilities) for p in first]

    # the same preprocessing as evaluation: the labelled-folder loader + the model give the same probabilities
    with torch.no_grad():
        expected = torch.cat([model(x).softmax(1) for x, _ in iterate_labeled(photos, 32, 4, CPU)])
    assert torch.tensor([p.probabilities for p in first]) == pytest.approx(expected.double(), abs=1e-5)

    # a single photo given by itself is named as given
    single = photos / "dog_2.jpg"
    (one,) = predict_paths(model, meta, [single], "cpu")
    assert one.file == str(single) and one.probabilities == pytest.approx(first[-1].probabilities, abs=1e-5)


def test_cli_writes_csv_and_sheet(model_file, photos, tmp_path, capsys):
    out, sheet = tmp_path / "pred.csv", tmp_path / "sheet.png"
    assert cli("predict", model_file, photos, "--out", out, "--device", "cpu", "--sheet", sheet, "--sheet-count", 3) == 0
    rows = read_csv(out)
    assert rows[0] == ["file", "predicted", "p_cat", "p_dog"]
    assert len(rows) == 5 and all(len(r) == 4 for r in rows)
    for _, predicted, p_cat, p_dog in rows[1:]:
        assert float(p_cat) + float(p_dog) == pytest.approx(1.0, abs=1e-9)
        assert predicted == ("dog" if float(p_dog) > float(p_cat) else "cat")
    assert read_csv(tmp_path / "pred.skipped.csv") == [["file", "reason"]]
    with Image.open(sheet) as img:
        assert img.format == "PNG" and img.width > 100
    assert "wrote" in capsys.readouterr().out
    second = tmp_path / "again.csv"
    assert cli("predict", model_file, photos, "--out", second, "--device", "cpu", "--batch-size", 1) == 0
    assert _close(read_csv(second)[1:], rows[1:])  # batch size 1: the same rows


def _close(a: list[list[str]], b: list[list[str]]) -> bool:
    return all(x[:2] == y[:2] and abs(float(x[3]) - float(y[3])) < 1e-5 for x, y in zip(a, b)) and len(a) == len(b)


def test_least_confident_first():
    sheet = LeastConfident(2)
    for name, p_dog in (("a", 0.9), ("b", 0.55), ("c", 0.2), ("d", 0.45), ("e", 0.55)):
        sheet.add(Prediction(name, "dog" if p_dog > 0.5 else "cat", (1 - p_dog, p_dog)))
    assert [p.file for p in sheet.ordered()] == ["b", "d"]  # confidence .55 three times: the earliest two, in order


# --------------------------------------------------------------------------------------------------- unreadable photos


def test_corrupt_photos_are_listed_and_skipped(model_file, photos, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = (photos / "cat_1.jpg").read_bytes()
    (folder / "a.jpg").write_bytes(good)
    (folder / "b_truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "c_empty.jpg").write_bytes(b"")
    (folder / "d.jpg").write_bytes((photos / "dog_1.jpg").read_bytes())
    (folder / "notes.txt").write_text("not a photo")
    out = tmp_path / "pred.csv"
    assert cli("predict", model_file, folder, "--out", out, "--device", "cpu") == 0
    assert [r[0] for r in read_csv(out)[1:]] == [f"{folder}/a.jpg", f"{folder}/d.jpg"]
    skipped = dict(read_csv(tmp_path / "pred.skipped.csv")[1:])
    assert set(skipped) == {f"{folder}/b_truncated.jpg", f"{folder}/c_empty.jpg", f"{folder}/notes.txt"}
    assert "corrupt" in skipped[f"{folder}/b_truncated.jpg"] and skipped[f"{folder}/c_empty.jpg"] == "empty file"
    assert skipped[f"{folder}/notes.txt"] == "ignored: not a photo (only .jpg, .jpeg and .png are read)"
    err = capsys.readouterr().err
    assert f"skipped {folder}/c_empty.jpg: empty file" in err


def test_a_broken_symlink_is_listed_not_dropped(model_file, photos, tmp_path):
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((photos / "cat_1.jpg").read_bytes())
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted-original.jpg")
    out = tmp_path / "pred.csv"
    assert cli("predict", model_file, folder, "--out", out, "--device", "cpu") == 0
    assert [r[0] for r in read_csv(out)[1:]] == [f"{folder}/a.jpg"]
    assert [r[0] for r in read_csv(tmp_path / "pred.skipped.csv")[1:]] == [f"{folder}/gone.jpg"]


@pytest.mark.parametrize("flag", ["--out", "--sheet", "--kaggle"])
def test_an_output_that_names_a_folder_stops_before_predicting(model_file, photos, tmp_path, capsys, flag):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    args = ["--out", tmp_path / "p.csv"] if flag != "--out" else []
    assert cli("predict", model_file, photos, flag, folder, *args, "--device", "cpu") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {flag}: {folder} is a folder; name a file (e.g. {folder / 'predictions.csv'})"
    assert list(folder.iterdir()) == []


def test_a_photo_dali_cannot_decode_is_skipped_not_fatal(model_file, photos, tmp_path, monkeypatch):
    """Should Pillow accept a file DALI cannot decode, only that photo is lost: its batch is redone photo by photo."""
    folder = tmp_path / "dali"
    folder.mkdir()
    for name in ("a.jpg", "c.jpg"):
        (folder / name).write_bytes((photos / "cat_2.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG" * 20)
    model, meta = load_model(model_file, CPU)
    monkeypatch.setattr(predict.walk, "inspect_image", lambda data: ImageCheck("sha"))
    skipped = []
    rows = list(predict_paths(model, meta, [folder], "cpu", batch_size=3, on_skip=skipped.append))
    assert [p.file for p in rows] == [f"{folder}/a.jpg", f"{folder}/c.jpg"]
    assert rows[0].probabilities == pytest.approx(rows[1].probabilities)
    assert [s.file for s in skipped] == [f"{folder}/b.jpg"] and "DALI cannot decode" in skipped[0].reason


# ------------------------------------------------------------------------------------------------------------ Kaggle


@pytest.fixture()
def kaggle_zip(photos, tmp_path) -> Path:
    """Kaggle's nested layout: outer zip with test1.zip (test1/N.jpg) and sampleSubmission.csv in a shuffled order."""
    images = sorted(photos.iterdir())
    test1 = zip_of({f"test1/{i}.jpg": path.read_bytes() for i, path in enumerate(images, start=1)})
    sample = b"id,label\n3,0\n1,0\n4,0\n2,0\n"
    path = tmp_path / "dogs-vs-cats.zip"
    path.write_bytes(zip_of({"test1.zip": test1, "sampleSubmission.csv": sample}))
    return path


def test_kaggle_submission_in_sample_order(model_file, kaggle_zip, tmp_path):
    out, sub, prob = tmp_path / "pred.csv", tmp_path / "sub.csv", tmp_path / "prob.csv"
    assert cli("predict", model_file, kaggle_zip, "--out", out, "--device", "cpu", "--kaggle", sub) == 0
    p_dog = {int(r[0].rsplit("/", 1)[-1].split(".")[0]): float(r[3]) for r in read_csv(out)[1:]}
    assert [r[0] for r in read_csv(out)[1:]] == [f"{kaggle_zip}/test1.zip/test1/{i}.jpg" for i in (1, 2, 3, 4)]
    rows = read_csv(sub)
    assert rows[0] == ["id", "label"] and [r[0] for r in rows[1:]] == ["3", "1", "4", "2"]
    assert all(r[1] == ("1" if p_dog[int(r[0])] > 0.5 else "0") for r in rows[1:])
    assert cli("predict", model_file, kaggle_zip, "--out", out, "--device", "cpu", "--kaggle", prob,
               "--kaggle-format", "probability") == 0
    rows = read_csv(prob)
    assert [r[0] for r in rows[1:]] == ["3", "1", "4", "2"]
    assert all(float(r[1]) == pytest.approx(p_dog[int(r[0])], abs=1e-6) for r in rows[1:])


def test_kaggle_missing_ids_name_how_many_and_which(model_file, kaggle_zip, tmp_path, capsys):
    sample = tmp_path / "sample.csv"
    sample.write_text("id,label\n1,0\n2,0\n3,0\n4,0\n17,0\n23,0\n")
    sub = tmp_path / "sub.csv"
    code = cli("predict", model_file, kaggle_zip, "--out", tmp_path / "p.csv", "--device", "cpu",
               "--kaggle", sub, "--sample-submission", sample)
    err = capsys.readouterr().err
    assert code == 2 and not sub.exists()
    assert "error: 2 of the 6 ids" in err and "17, 23" in err


def test_kaggle_rows_formats():
    assert kaggle_rows({1: 0.7, 2: 0.2}, [2, 1]) == [(2, "0"), (1, "1")]
    assert kaggle_rows({1: 0.7, 2: 0.2}, [2, 1], "probability") == [(2, "0.200000"), (1, "0.700000")]
    with pytest.raises(predict.PipelineError, match=r"1 of the 3 ids .*: 5 \(empty file\)"):
        kaggle_rows({1: 0.7, 2: 0.2}, [1, 2, 5], skipped={5: "empty file"})


# ------------------------------------------------------------------------------------------------- wrong model files


def test_random_bytes_are_not_a_model(photos, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(range(256)) * 8)
    result = subprocess.run([sys.executable, "-m", "semisup", "predict", str(bad), str(photos), "--out",
                             str(tmp_path / "p.csv")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: not a model file"), result.stderr
    assert not (tmp_path / "p.csv").exists()


def test_a_torch_file_of_another_kind_is_not_a_model(photos, tmp_path, capsys):
    other = tmp_path / "weights.pt"
    torch.save(Classifier().state_dict(), other)
    assert cli("predict", other, photos, "--out", tmp_path / "p.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {other}: not a model file of format semisup-classifier/1")


# ------------------------------------------------------------------------------------------- warnings and the sheet


def test_a_stand_in_model_and_far_larger_photos_are_warned_about(model_file, photos, tmp_path, capsys):
    assert cli("predict", model_file, photos, "--out", tmp_path / "p.csv", "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert "was trained on the stand-in data (data.source: synthetic)" in err  # the fixture's model is
    assert "the model sees 32-px images but the photos' median short side is" in err  # originals: up to 500 px


def test_size_warning_both_ways_and_quiet_in_between():
    assert "median short side is 400 px" in predict.size_warning(64, [(500, 400), (400, 300), (600, 450)])
    assert "upscaled" in predict.size_warning(224, [(100, 80), (90, 90), (120, 100)])
    assert predict.size_warning(224, [(250, 200), (300, 240)]) is None and predict.size_warning(64, []) is None


def test_the_sheet_marks_right_and_wrong_where_the_name_gives_the_class(tmp_path, photos):
    from PIL import Image

    data = (photos / "cat_1.jpg").read_bytes()
    preds = [predict.Prediction("x/cat.1.jpg", "cat", (0.9, 0.1), data=data),
             predict.Prediction("x/dog_2.jpg", "cat", (0.6, 0.4), data=data),
             predict.Prediction("x/IMG_3.jpg", "dog", (0.3, 0.7), data=data)]
    assert [predict.true_label(p.file) for p in preds] == ["cat", "dog", None]
    predict.write_sheet(tmp_path / "sheet.png", preds, thumb=64)
    sheet = Image.open(tmp_path / "sheet.png").convert("RGB")
    pixels = {sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(sheet.height)}
    assert (0, 170, 0) in pixels and (210, 0, 0) in pixels  # one right (green frame), one wrong (red frame)


# ------------------------------------------------------------------------------- hostile inputs (issue 27)


def test_a_file_name_that_is_not_utf8_is_written_escaped_with_its_skip(model_file, photos, tmp_path):
    """`bad\\xffutf8.jpg`: a traceback at the CSV write, and p.skipped.csv lost when the photo was a skip."""
    folder = tmp_path / "odd"
    folder.mkdir()
    good = os.fsdecode(b"bad\xffutf8.jpg")
    (folder / good).write_bytes((photos / "cat_1.jpg").read_bytes())
    (folder / os.fsdecode(b"empty\xfe.jpg")).write_bytes(b"")
    out = tmp_path / "p.csv"
    done = subprocess.run([sys.executable, "-m", "semisup", "predict", str(model_file), str(folder), "--out", str(out),
                           "--device", "cpu"], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert [r[0] for r in read_csv(out)[1:]] == [f"{folder}/bad\\xffutf8.jpg"]
    assert read_csv(tmp_path / "p.skipped.csv")[1:] == [[f"{folder}/empty\\xfe.jpg", "empty file"]]
    err = done.stderr.decode()
    assert "warning: 1 file name is not valid UTF-8 and is written with \\xNN escapes in" in err
    assert f"wrote {out}: 1 photo (cat" in done.stdout.decode()


@pytest.fixture()
def old_outputs(tmp_path) -> dict[Path, str]:
    """An earlier run's outputs, which a failed run must leave exactly as they were."""
    files = {tmp_path / "p.csv": "old rows\n", tmp_path / "p.skipped.csv": "old skips\n",
             tmp_path / "sheet.png": "old sheet", tmp_path / "sub.csv": "old submission\n"}
    for path, text in files.items():
        path.write_text(text)
    return files


def left_as_they_were(old: dict[Path, str], folder: Path) -> bool:
    """Every old output unchanged, and no temporary left beside them."""
    return all(p.read_text() == text for p, text in old.items()) and not any(".tmp" in p.name for p in folder.iterdir())


@pytest.mark.parametrize("failing", ["skipped list", "sheet"])
def test_a_full_disk_on_any_output_leaves_every_old_output(model_file, photos, tmp_path, old_outputs, monkeypatch,
                                                          capsys, failing):
    """p.csv fitted, p.skipped.csv did not: a fresh p.csv sat beside a stale p.skipped.csv. The sheet did not: the
    submission was never attempted, and the message did not say so (now it names all four, none written)."""
    real = predict.cli._write_csv

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "sheet":
        monkeypatch.setattr(predict.cli, "write_png", full)
    else:
        monkeypatch.setattr(predict.cli, "_write_csv",
                            lambda path, *rest: full() if "skipped" in path.name else real(path, *rest))
    code = cli("predict", model_file, photos, "--out", tmp_path / "p.csv", "--device", "cpu",
               "--sheet", tmp_path / "sheet.png", "--kaggle", tmp_path / "sub.csv")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and left_as_they_were(old_outputs, tmp_path)
    names = ", ".join(str(tmp_path / n) for n in ("p.csv", "p.skipped.csv", "sheet.png", "sub.csv"))
    assert err == (f"error: {names}: the disk is full; free some space and rerun (none of them was written; the "
                   "previous ones, if any, are unchanged)")


def test_a_failed_sheet_or_submission_leaves_every_old_output_and_says_so(model_file, photos, kaggle_zip, tmp_path,
                                                                          old_outputs, monkeypatch, capsys):
    sample = tmp_path / "sample.csv"
    sample.write_text("id,label\n1,0\n99,0\n")
    code = cli("predict", model_file, kaggle_zip, "--out", tmp_path / "p.csv", "--device", "cpu",
               "--sheet", tmp_path / "sheet.png", "--kaggle", tmp_path / "sub.csv", "--sample-submission", sample)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    sample.unlink()
    assert code == 2 and left_as_they_were(old_outputs, tmp_path)
    assert err.startswith("error: 1 of the 2 ids of") and err.endswith(
        f"; nothing was written; {tmp_path / 'p.csv'}, {tmp_path / 'p.skipped.csv'}, {tmp_path / 'sheet.png'}, "
        f"{tmp_path / 'sub.csv'} left as they were")


def test_sigterm_during_predict_says_so_and_leaves_every_old_output(model_file, photos, tmp_path, old_outputs,
                                                                    monkeypatch, capsys):
    """It exited 143 with no message (and the temporary CSV stayed)."""
    def stopped(*args, **kwargs):
        yield from []
        raise Terminated()

    monkeypatch.setattr(predict.cli, "predict_paths", stopped)
    code = cli("predict", model_file, photos, "--out", tmp_path / "p.csv", "--device", "cpu",
               "--sheet", tmp_path / "sheet.png", "--kaggle", tmp_path / "sub.csv")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 143 and left_as_they_were(old_outputs, tmp_path)
    assert err.startswith("terminated (SIGTERM); nothing was written; ") and err.endswith(" left as they were")


def test_a_sixteen_bit_greyscale_png_is_predicted_like_its_eight_bit_copy(model_file, originals, tmp_path):
    """Pillow clipped I;16 at 255 (98% white pixels): a confident wrong row with no warning."""
    grey = np.asarray(Image.open(originals / "cat.1.jpg").convert("L"))
    folder = tmp_path / "grey"
    folder.mkdir()
    Image.fromarray(grey).save(folder / "a8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "b16.png")
    assert Image.open(folder / "b16.png").mode == "I;16"
    model, meta = load_model(model_file, CPU)
    eight, sixteen = predict_paths(model, meta, [folder], "cpu")
    assert sixteen.probabilities == pytest.approx(eight.probabilities, abs=1e-6)


def test_a_zip_bomb_member_is_skipped_naming_it(model_file, photos, tmp_path):
    bomb = tmp_path / "photos.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cat.1.jpg", (photos / "cat_1.jpg").read_bytes())
        archive.writestr("zeros.jpg", bytes(64 << 20))
    model, meta = load_model(model_file, CPU)
    skipped = []
    (row,) = predict_paths(model, meta, [bomb], "cpu", on_skip=skipped.append)
    assert row.file == f"{bomb}/cat.1.jpg"
    assert [(s.file, s.reason.split(" (")[0]) for s in skipped] == [(f"{bomb}/zeros.jpg", "refused: 63.7 KiB that unpack to 64.0 MiB")]


def test_every_ignored_file_is_named(model_file, photos, tmp_path, capsys):
    """"ignored 4 files that are not photos (e.g. a.gif)" named one of them."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "cat.1.jpg").write_bytes((photos / "cat_1.jpg").read_bytes())
    for name in ("a.gif", "b.webp", "c.txt", "d.txt"):
        (folder / name).write_bytes(b"x")
    out = tmp_path / "p.csv"
    assert cli("predict", model_file, folder, "--out", out, "--device", "cpu") == 0
    lines = capsys.readouterr().out.splitlines()
    names = ", ".join(f"{folder}/{n}" for n in ("a.gif", "b.webp", "c.txt", "d.txt"))
    assert f"ignored 4 files that are not photos: {names}; listed in {tmp_path / 'p.skipped.csv'}" in lines
    assert [r[0] for r in read_csv(tmp_path / "p.skipped.csv")[1:]] == names.split(", ")


def test_a_model_with_an_absurd_image_size_is_one_line_naming_it(model_file, photos, tmp_path, capsys):
    """image_size 10^5 made every photo a "DALI cannot decode it (std::bad_alloc)" skip, blaming the photos."""
    blob = torch.load(model_file, weights_only=True)
    bad = tmp_path / "huge.pt"
    torch.save({**blob, "image_size": 10**5}, bad)
    assert cli("predict", bad, photos, "--out", tmp_path / "p.csv", "--device", "cpu") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {bad}: image_size: 100000 is not allowed; use the side the model was trained at, from 8 "
                   "to 1024 px"] and not (tmp_path / "p.csv").exists()


def test_accuracy_and_plurals_where_the_names_give_the_class(model_file, photos, tmp_path, capsys):
    out, sheet = tmp_path / "p.csv", tmp_path / "sheet.png"
    assert cli("predict", model_file, photos / "cat_1.jpg", "--out", out, "--device", "cpu", "--sheet", sheet) == 0
    lines = capsys.readouterr().out.splitlines()
    predicted = read_csv(out)[1][1]
    assert lines[0].startswith(f"wrote {out}: 1 photo (cat ")
    assert lines[1] == f"accuracy where the file name gives the class: {int(predicted == 'cat')} of 1 photo right " \
                       f"({float(predicted == 'cat'):.1%})"
    assert lines[2] == f"wrote {sheet}: the 1 least confident photo"
