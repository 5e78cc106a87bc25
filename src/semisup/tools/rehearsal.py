"""A device plan's calls run here, on the CPU, as the lent machine would run them: each command in a copy of the
working tree (what a call sends) with only the paths it carries added, `$OUT` empty at its start and checked against
what may come back, the work folder kept between calls (a warm machine), `python3` this interpreter, and DALI, DVC,
DVCLive and Hydra unimportable (the device has PyTorch alone). `gpu-check dry-run --plan article` and CI run it."""
from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any

from . import lease
from .carry import Call, tree_files

BLOCKED = ("nvidia.dali", "dvc", "dvclive", "hydra", "omegaconf")
NAME_OK = re.compile(r"^[A-Za-z0-9._-]+$")


def device_copy(root: Path, into: Path) -> Path:
    """The working tree as a device call receives it (tracked, and untracked but not ignored, files)."""
    for name in tree_files(root):
        src = root / name
        if src.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, into / name)
    return into


def only_pytorch(into: Path) -> Path:
    """A site folder whose sitecustomize makes the packages the device lacks unimportable."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "sitecustomize.py").write_text(textwrap.dedent(f'''
        import importlib.abc, sys
        BLOCKED = {BLOCKED!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ModuleNotFoundError(f"No module named {{name!r}} (not on the device)")
        sys.meta_path.insert(0, Block())
    '''))
    return into


def returned(out: Path) -> tuple[list[str], list[str]]:
    """(files that would come back from $OUT, why others would not): the device tool's limits on what returns."""
    files, refused = [], []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out)
        if len(rel.parts) > 3 or not all(NAME_OK.match(part) for part in rel.parts):
            refused.append(f"{rel} (too deep or an odd name)")
        elif path.stat().st_size > lease.RETURN_FILE_BYTES:
            refused.append(f"{rel} (over {lease.RETURN_FILE_BYTES // lease.MIB} MiB)")
        else:
            files.append(rel.as_posix())
    if len(files) > lease.RETURN_FILES:
        refused += [f"{f} (over {lease.RETURN_FILES} files)" for f in files[lease.RETURN_FILES:]]
        files = files[:lease.RETURN_FILES]
    return files, refused


def execute(calls: list[Call], parts_root: Path, device_root: Path, scratch: Path,
            limit_s: int | None = None) -> list[dict[str, Any]]:
    """Each call in turn: its carried paths copied from `parts_root` into `device_root` (earlier ones stay, as
    ignored outputs stay on the device), its command run there with a fresh $OUT, under its timeout (or `limit_s`:
    a tiny plan's timeouts are budgeted for a GPU, and a loaded CPU takes longer for the same decisions)."""
    shim = scratch / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a link would leave the venv
    (shim / "python3").chmod(0o755)
    site = only_pytorch(scratch / "site")
    # One thread per process: on a small shared CPU, PyTorch's second thread spins while another process holds the
    # core (a GAN step at 32 px took 4-5 CPU seconds with two threads under load, 1 s with one).
    env = {**os.environ, "PATH": f"{shim}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PYTHONPATH": str(site),
           "OMP_NUM_THREADS": "1"}
    results = []
    for k, call in enumerate(calls, 1):
        for path in call.carry:
            shutil.rmtree(device_root / path, ignore_errors=True)
            shutil.copytree(parts_root / path, device_root / path)
        out = scratch / f"out-{k}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        began = time.perf_counter()
        code, output = run_call(call, device_root, {**env, "OUT": str(out)}, limit_s)
        files, refused = returned(out)
        results.append({"call": k, "what": call.what, "returncode": code, "out": out, "files": files,
                        "refused": refused, "seconds": round(time.perf_counter() - began, 1), "output": output[-4000:]})
        if code != 0:
            break
    return results


def run_call(call: Call, cwd: Path, env: dict[str, str], limit_s: int | None = None) -> tuple[int, str]:
    """(exit status, output) of one command; at its timeout (or `limit_s`) the command and everything it started
    end, as on the device (a worker left holding the output would otherwise keep the call waiting)."""
    limit = limit_s or call.timeout_s
    proc = subprocess.Popen(["bash", "-c", call.command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=limit)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return 124, f"{output}\nstopped at its timeout, {limit} s"


def stand_in_zip(path: Path, curated: Path, extra_per_class: int, unlabeled: int, size: int) -> Path:
    """A Kaggle-shaped download (train.zip and test1.zip inside) holding every curated photo's name and a few
    others, drawn by `data.synthetic`: what the article plan expects of the 128-px set, in a few hundred KB."""
    from ..data.synthetic import jpeg_bytes, render_image
    from ..labels.curated_list import read_curated

    listed = {(i.label, i.kaggle_id) for i in read_curated(curated)}
    extra = {(label, n) for label in ("cat", "dog") for n in range(10_000, 10_000 + extra_per_class)}
    train = {f"train/{label}.{n}.jpg": jpeg_bytes(render_image(0, 1, int(label == "dog"), n, size))
             for label, n in sorted(listed | extra)}
    test1 = {f"test1/{n}.jpg": jpeg_bytes(render_image(0, 2, n % 2, n, size)) for n in range(1, unlabeled + 1)}

    def zipped(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
            for name, data in members.items():
                z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
        return buffer.getvalue()

    path.write_bytes(zipped({"train.zip": zipped(train), "test1.zip": zipped(test1)}))
    return path


def rehearse_article(root: Path, scratch: Path) -> tuple[list[Call], list[dict[str, Any]], dict[str, Any]]:
    """The article plan's calls with the tiny budget: a stand-in set packed in three parts like the 128-px set,
    the same commands with a work folder in `scratch` for /root/w, run one after the other. Returns the calls,
    what each did, and the plan."""
    from . import article

    for old in ("device", "root-w", "staged"):  # a rehearsal starts as bare as a fresh machine
        shutil.rmtree(scratch / old, ignore_errors=True)
    scratch.mkdir(parents=True, exist_ok=True)
    source = stand_in_zip(scratch / article.SOURCE.name, root / "data" / "curation" / "curated.csv",
                          extra_per_class=20, unlabeled=20, size=32)
    budget, part_limit = article.tiny_for(source.stat().st_size)
    staged = scratch / "staged"
    calls, _, plan = article.build(root, source, budget, work=str(scratch / "root-w"), part_limit=part_limit,
                                   parts_root=staged)
    device_root = device_copy(root, scratch / "device")
    return calls, execute(calls, staged, device_root, scratch, lease.CALL_S), plan
