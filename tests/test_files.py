"""Outputs are replaced in one step, never written in place or through a link, and failures leave nothing behind."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from semisup.errors import PipelineError
from semisup.files import atomic_path, check_writable, write_text


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "metrics.json"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_a_hard_link_into_a_cache_is_replaced_not_written_through(tmp_path: Path) -> None:
    """DVC's `cache.type` hardlink/symlink: writing in place would change the cached copy of an older output."""
    cache = tmp_path / "cache" / "ab" / "cdef"
    cache.parent.mkdir(parents=True)
    cache.write_text("committed model")
    hard, soft = tmp_path / "model.pt", tmp_path / "model2.pt"
    os.link(cache, hard)
    soft.symlink_to(cache)
    write_text(hard, "new model")
    write_text(soft, "newer model")
    assert cache.read_text() == "committed model"
    assert hard.read_text() == "new model" and not soft.is_symlink() and soft.read_text() == "newer model"


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "labeled.csv"
    target.write_text("old")
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError("interrupted")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["labeled.csv"]


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(PipelineError, match=r"checkpoint.pt: the disk is full; free some space and rerun"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_suffix_is_kept_for_writers_that_pick_a_format_from_it(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "grid.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "grid.png").read_bytes() == b"png"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_found_before_any_work(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    models.chmod(0o555)
    try:
        with pytest.raises(PipelineError, match="models: cannot write there .* Nothing was trained"):
            check_writable(tmp_path / "checkpoints", models)
    finally:
        models.chmod(0o755)


def test_a_file_where_a_folder_should_be_is_found_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "models").write_text("not a folder")
    with pytest.raises(PipelineError, match="models: cannot write there"):
        check_writable(tmp_path / "models")
    check_writable(tmp_path / "new" / "folder")
    assert (tmp_path / "new" / "folder").is_dir() and list((tmp_path / "new" / "folder").iterdir()) == []
