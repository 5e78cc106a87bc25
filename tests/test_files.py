"""Outputs are replaced in one step, never written in place or through a link, and failures leave nothing behind."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from semisup import files
from semisup.errors import PipelineError
from semisup.files import atomic_path, atomic_paths, check_writable, write_text


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


# ---------------------------------------------------------------------------- full disks, sets of outputs, leftovers

TORCH_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 1576000 vs 1575896"


def statvfs_full_while_temporaries_exist(folder: Path):
    """os.statvfs for a disk the temporaries filled: no room while one exists, plenty once it is removed."""
    real = os.statvfs

    def fake(path):
        stats = real(path)
        if any(p.name.startswith(".") and ".tmp" in p.name for p in folder.iterdir()):
            return os.statvfs_result((stats.f_bsize, stats.f_frsize, stats.f_blocks, 0, 0, *stats[5:]))
        return stats

    return fake


def test_torch_writer_running_out_of_disk_is_one_line(tmp_path: Path, monkeypatch) -> None:
    """torch.save says `unexpected pos`, not ENOSPC; the disk is asked before the temporary frees its space."""
    target = tmp_path / "baseline.pt"
    target.write_bytes(b"old model")
    monkeypatch.setattr(files.os, "statvfs", statvfs_full_while_temporaries_exist(tmp_path))
    with pytest.raises(PipelineError) as info:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 1000)
            raise RuntimeError(TORCH_FULL)
    assert str(info.value) == (f"{target}: the disk is full; free some space and rerun (the previous baseline.pt, "
                               "if any, is unchanged)")
    assert target.read_bytes() == b"old model" and [p.name for p in tmp_path.iterdir()] == ["baseline.pt"]


def test_a_writer_error_with_room_left_is_not_called_a_full_disk(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with atomic_path(tmp_path / "m.pt") as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError(TORCH_FULL)
    assert list(tmp_path.iterdir()) == []


def test_a_set_of_outputs_is_all_new_or_all_old(tmp_path: Path) -> None:
    """p.csv fits, p.skipped.csv does not: neither is replaced (a fresh p.csv beside a stale p.skipped.csv lies)."""
    out, skipped = tmp_path / "p.csv", tmp_path / "p.skipped.csv"
    out.write_text("old rows")
    skipped.write_text("old skips")
    with pytest.raises(PipelineError) as info:
        with atomic_paths() as stage:
            stage(out).write_text("new rows")
            stage(skipped).write_text("new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(info.value) == (f"{out}, {skipped}: the disk is full; free some space and rerun (none of them was "
                               "written; the previous ones, if any, are unchanged)")
    assert out.read_text() == "old rows" and skipped.read_text() == "old skips"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.skipped.csv"]
    with atomic_paths() as stage:
        stage(out).write_text("new rows")
        stage(skipped).write_text("new skips")
    assert out.read_text() == "new rows" and skipped.read_text() == "new skips"


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_temporaries_of_killed_runs_are_removed_at_the_next_start_in_one_line(tmp_path: Path, capsys) -> None:
    models, checkpoints = tmp_path / "models", tmp_path / "checkpoints"
    models.mkdir()
    checkpoints.mkdir()
    pid = dead_pid()
    stale = [checkpoints / f".baseline.{pid}.tmp.pt", models / f".baseline.{pid}.tmp.pt"]
    alive = [models / f".gan.{os.getppid()}.tmp.pt", models / f".gan.{os.getpid()}.tmp.pt"]  # runs still writing
    for path in stale + alive:
        path.write_bytes(b"half a model")
    check_writable(models, checkpoints)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in alive)
    err = capsys.readouterr().err.strip()
    assert err == f"removed 2 temporary files left by an interrupted run: {stale[1]}, {stale[0]}"
    check_writable(models, checkpoints)
    assert capsys.readouterr().err == ""


WRITE_UNTIL_STOPPED = """
import sys, time
from pathlib import Path
from semisup.cli import run_stage
from semisup.files import atomic_path

def main():
    with atomic_path(Path(sys.argv[1])) as tmp:
        tmp.write_text("half")
        print("writing", flush=True)
        time.sleep(60)

run_stage(main)
"""


def test_sigterm_unwinds_removes_the_temporary_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    child = subprocess.Popen([sys.executable, "-c", WRITE_UNTIL_STOPPED, str(target)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"  # the temporary exists now
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143
    assert err.strip() == "terminated (SIGTERM); rerun the same command to resume from the last checkpoint"
    assert list(tmp_path.iterdir()) == []
