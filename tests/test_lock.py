"""dvc.lock records the code that produced the committed outputs, so `dvc status` is clean on a fresh clone.

Commit 64225c4 changed `config.py` without updating the lock: every stage then showed as changed and `dvc repro`
re-ran them all. This check needs no DVC run: it hashes every code dependency (a file or folder git tracks) the way
DVC does (the md5 of a file's bytes; for a folder, the md5 of its sorted JSON listing of relpath/md5 entries, files
matched by `.dvcignore` left out) and compares it, each stage's command, dependency list and params with dvc.lock.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIX = ("If the committed outputs were produced by this same code (a comment, a docstring), run `dvc commit` to record "
       "it; otherwise run `dvc repro`; then commit dvc.lock with the code.")


@functools.cache
def ignore_spec(root: Path):
    import pathspec  # DVC's own dependency: it reads .dvcignore with the same gitignore rules

    lines = (root / ".dvcignore").read_text().splitlines() if (root / ".dvcignore").is_file() else []
    return pathspec.PathSpec.from_lines("gitignore", lines)


def dvc_md5(path: Path, root: Path = ROOT) -> str:
    """The md5 DVC records for a file or folder dependency (`hash: md5`, DVC 3)."""
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    spec = ignore_spec(root)
    entries = [{"md5": hashlib.md5(f.read_bytes()).hexdigest(), "relpath": f.relative_to(path).as_posix()}
               for f in path.rglob("*") if f.is_file() and not spec.match_file(f.relative_to(root).as_posix())]
    listing = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True)
    return hashlib.md5(listing.encode()).hexdigest() + ".dir"


def dotted(values: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        values = values[part]
    return values


def interpolate(value: Any, context: dict[str, Any]) -> Any:
    """`${key}`, `${item.encoder}`, `${data.source}` filled in, as DVC's templating does for these simple forms."""
    if isinstance(value, str):
        return re.sub(r"\$\{\s*([^}\s]+)\s*\}", lambda m: str(dotted(context, m.group(1))), value)
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if isinstance(value, dict):
        return {interpolate(k, context): interpolate(v, context) for k, v in value.items()}
    return value


def expected_stages(root: Path) -> dict[str, dict[str, Any]]:
    """dvc.yaml's stages with `foreach` expanded (`train@gan`) and every `${...}` filled in from params.yaml."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    stages = {}
    for name, spec in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in spec:
            for key, item in spec["foreach"].items():
                stages[f"{name}@{key}"] = interpolate(spec["do"], {**params, "key": key, "item": item})
        else:
            stages[name] = interpolate(spec, params)
    return stages


def tracked(root: Path) -> set[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True)
    return {p for p in done.stdout.split("\0") if p}


def lock_problems(root: Path = ROOT) -> list[str]:
    """Every way dvc.lock disagrees with the tree's code, dvc.yaml and params.yaml (empty: it matches)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    stages, files = expected_stages(root), tracked(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    problems = [f"{name}: in dvc.lock but not in dvc.yaml (a stale entry: delete it)" for name in sorted(set(lock) - set(stages))]
    problems += [f"{name}: in dvc.yaml but never run (no entry in dvc.lock)" for name in sorted(set(stages) - set(lock))]
    for name in sorted(set(stages) & set(lock)):
        spec, entry = stages[name], lock[name]
        if spec["cmd"] != entry["cmd"]:
            problems.append(f"{name}: command {spec['cmd']!r} in dvc.yaml, {entry['cmd']!r} in dvc.lock")
        recorded = {d["path"]: d for d in entry.get("deps", [])}
        declared = [d.split("#")[0].strip() for d in spec.get("deps", [])]
        for path in sorted(set(declared) ^ set(recorded)):
            problems.append(f"{name}: dependency {path} is {'new in dvc.yaml' if path in declared else 'gone from dvc.yaml'}")
        for path in sorted(set(declared) & set(recorded)):
            code = path in files or any(f.startswith(path.rstrip("/") + "/") for f in files)
            if not code:  # a DVC output or the data source: DVC checks those against its cache, not git
                continue
            dep = recorded[path]
            now = dvc_md5(root / path, root) if (root / path).exists() else "absent"
            if dep.get("hash") != "md5" or dep.get("md5") != now:
                problems.append(f"{name}: {path} has md5 {now} in the tree, {dep.get('md5')} in dvc.lock")
        for key in spec.get("params", []):
            locked = entry.get("params", {}).get("params.yaml", {})
            if key not in locked or locked[key] != dotted(params, key):
                problems.append(f"{name}: param {key} is {dotted(params, key)!r} in params.yaml, "
                                f"{locked.get(key, 'absent')!r} in dvc.lock")
    return problems


def report(problems: list[str]) -> str:
    return "dvc.lock does not match the tree:\n  " + "\n  ".join(problems) + "\n" + FIX


def test_dvc_lock_matches_the_code_dvc_yaml_and_params() -> None:
    problems = lock_problems()
    assert not problems, report(problems)


def test_the_hash_is_the_one_dvc_computes(tmp_path) -> None:
    """The check's md5 of a file and of a folder (with a bytecode cache in it, which .dvcignore leaves out) equals
    what DVC itself records."""
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / ".dvcignore").write_text((ROOT / ".dvcignore").read_text())
    code = tmp_path / "code"
    (code / "sub" / "__pycache__").mkdir(parents=True)
    (code / "a.py").write_text("print('a')\n")
    (code / "sub" / "b.py").write_bytes(b"b = 1\r\n")
    (code / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"\0bytecode")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo\n    deps: [code, code/a.py]\n")
    subprocess.run(["dvc", "commit", "-f", "-q"], cwd=tmp_path, check=True, capture_output=True)
    recorded = {d["path"]: d["md5"] for d in yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]["s"]["deps"]}
    assert recorded == {"code": dvc_md5(code, tmp_path), "code/a.py": dvc_md5(code / "a.py", tmp_path)}


def test_a_changed_code_file_is_named_with_the_fix(tmp_path) -> None:
    """What the developer sees after editing a dependency without rerunning: the stage, the file, and the fix."""
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "step.py").write_text("print(1)\n")
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: python step.py\n    deps: [step.py]\n    params: [seed]\n")
    subprocess.run(["dvc", "commit", "-f", "-q"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    assert lock_problems(tmp_path) == []
    (tmp_path / "step.py").write_text("print(2)\n")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    problems = lock_problems(tmp_path)
    assert len(problems) == 2 and problems[0].startswith("s: step.py has md5 ") and "param seed is 1" in problems[1]
    assert "run `dvc commit`" in report(problems) and "`dvc repro`" in report(problems)
