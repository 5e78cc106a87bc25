"""What travels to a lent GPU: files packed into parts that each fit one call, the shell that puts them back together
there, and the check that a plan's calls fit the lending rules (`tools.lease`) before any is sent.

The parts have the layout `../shared/tools/device-carry.sh` gives (pieces `<name>.part.NN` of at most 56 MiB in
folders of at most 56 MiB), so either tool's parts are joined by the same line."""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PipelineError
from . import lease

DEVICE_HAS = ("numpy", "pyyaml", "PyYAML", "packaging", "typing_extensions", "six", "wheel", "torch", "torchvision")


@dataclass
class Call:
    """One device call: what it carries, its command and timeout, the seconds of device time it is expected to take,
    and whether it works until a deadline near its timeout (a training call), so that the lease must hold even when
    it runs that long."""

    what: str
    carry: list[str]
    command: str
    timeout_s: int
    expected_s: int
    to_deadline: bool = False
    notes: list[str] = field(default_factory=list)


def tree_bytes(root: Path) -> int:
    """Bytes of what a device call sends: tracked files and untracked files git does not ignore."""
    return sum((root / n).stat().st_size for n in tree_files(root) if (root / n).is_file())


def tree_files(root: Path) -> list[str]:
    """The working tree as a device call sends it (tracked, and untracked but not ignored), relative to `root`."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, check=True,
                           capture_output=True).stdout.decode().split("\0")
    return [n for n in names if n]


def download_wheels(requirement: str, into: Path) -> list[Path]:
    """The requirement's wheels for the device (CPython 3.12, x86-64), less what its image already has."""
    into.mkdir(parents=True, exist_ok=True)
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux1_x86_64", "any"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(into), requirement]
    for p in platforms:
        cmd[5:5] = ["--platform", p]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"pip could not download {requirement} for the device: "
                            f"{(done.stderr.strip().splitlines() or ['no message'])[-1]}; rerun with --no-dali")
    for wheel in into.glob("*.whl"):
        if wheel.name.split("-")[0].lower() in {n.lower() for n in DEVICE_HAS}:
            wheel.unlink()
    return sorted(into.glob("*.whl"))


def pack(files: list[Path], parts_dir: Path, prefix: str, part_limit: int | None = None) -> list[Path]:
    """Files into folders `<prefix>1`, `<prefix>2`, ... of at most `part_limit` bytes each, the largest first;
    a file over the limit is split into `<name>.part.NN` pieces that `rejoin_command` puts back together."""
    part_limit = lease.PART_LIMIT if part_limit is None else part_limit
    pieces: list[tuple[str, bytes | Path, int]] = []
    for f in files:
        size = f.stat().st_size
        if size <= part_limit:
            pieces.append((f.name, f, size))
            continue
        with f.open("rb") as fh:
            for k in range(math.ceil(size / part_limit)):
                chunk = fh.read(part_limit)
                pieces.append((f"{f.name}.part.{k:02d}", chunk, len(chunk)))
    parts: list[tuple[Path, int]] = []
    for name, content, size in sorted(pieces, key=lambda p: -p[2]):
        fits = next((i for i, (_, used) in enumerate(parts) if used + size <= part_limit), None)
        if fits is None:
            parts.append((parts_dir / f"{prefix}{len(parts) + 1}", 0))
            fits = len(parts) - 1
        folder, used = parts[fits]
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, folder / name)
        else:
            (folder / name).write_bytes(content)
        parts[fits] = (folder, used + size)
    return [folder for folder, _ in parts]


def rejoin_command(where: str) -> str:
    """Shell: in `where`, put files split by `pack` back together (and drop their pieces)."""
    return (f"cd {where} && for w in $(ls *.part.00 2>/dev/null); do cat \"${{w%.part.00}}\".part.* > "
            f"\"${{w%.part.00}}\" && rm \"${{w%.part.00}}\".part.*; done && cd - >/dev/null")


def join_command(where: str) -> str:
    """Shell: rejoin the pieces in `where`, then install every wheel there into /root/site (no index, no deps)."""
    return (f"{rejoin_command(where)} && python3 -m pip install -q --no-index --no-deps --no-compile "
            f"--target /root/site {where}/*.whl")


def copy_command(part: str, work: str) -> str:
    """Shell: a carried part's files into the device's work folder (kept while the machine stays warm)."""
    return f"mkdir -p {work} && cp {part}/* {work}/ && ls {work}"


def carried_bytes(root: Path, call: Call) -> int:
    return sum(f.stat().st_size for c in call.carry for f in (root / c).rglob("*") if f.is_file())


def check_calls(root: Path, calls: list[Call], parts_root: Path | None = None) -> dict[str, int]:
    """Bytes each call sends (`root`'s working tree + what it carries, from `parts_root`, default `root`), after
    checking each against the rules: what travels, the command's length and its timeout. One line naming the call
    for the first that does not fit."""
    tree = tree_bytes(root)
    sizes = {"working_tree": tree}
    for k, call in enumerate(calls, 1):
        carried = carried_bytes(parts_root or root, call)
        sizes[f"call {k} ({', '.join(call.carry) or 'nothing carried'})"] = tree + carried
        if tree + carried > lease.CALL_LIMIT:
            raise PipelineError(f"{call.what}: {(tree + carried) / lease.MIB:.1f} MiB would travel (working tree "
                                f"{tree / lease.MIB:.1f} MiB), over the {lease.CALL_LIMIT / lease.MIB:.1f} MiB a device "
                                "call takes")
        if len(call.command) > lease.COMMAND_CHARS:
            raise PipelineError(f"{call.what}: the command is {len(call.command)} characters, over "
                                f"{lease.COMMAND_CHARS:,}")
        if not 0 < call.timeout_s <= lease.CALL_S:
            raise PipelineError(f"{call.what}: timeout_s {call.timeout_s} is outside 1..{lease.CALL_S}")
    return sizes


def device_seconds(calls: list[Call]) -> tuple[int, int]:
    """(expected, bound) device time of calls made back to back on one machine: a start, each call, an idle gap
    between calls; the bound counts each call that works to a deadline at its full timeout (plus its transfers)."""
    overhead = lease.START_S + lease.GAP_S * max(len(calls) - 1, 0)
    return (overhead + sum(c.expected_s for c in calls),
            overhead + sum(lease.CARRY_CALL_S + c.timeout_s if c.to_deadline else c.expected_s for c in calls))
