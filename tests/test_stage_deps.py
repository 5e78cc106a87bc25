"""Every module a stage runs is one of its declared deps in dvc.yaml, so a change there re-runs the stage.

The hand-kept lists had drifted (`prepare` imported `curated_list.py` without listing it; no stage listed `config.py`).
Imports are read from the source (module level and inside functions, where the lazy ones are), followed through the
package, and compared with each stage's `deps:` (a listed folder covers everything under it).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "semisup"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def imported(path: Path) -> set[Path]:
    """The package's module files that `path` imports (directly)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y, inside the package
                names = [f"semisup.{base}"] if base else [f"semisup.{a.name}" for a in node.names]
            elif base == "semisup":
                names = [f"semisup.{a.name}" for a in node.names]
            else:
                names = [base]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if not name.startswith("semisup."):
                continue
            parts = name.split(".")[1:]
            for k in range(len(parts), 0, -1):
                candidate = PACKAGE.joinpath(*parts[:k]).with_suffix(".py")
                if candidate.is_file():
                    found.add(candidate)
                    break
    return found


def closure(script: Path) -> set[Path]:
    todo, seen = [script], set()
    while todo:
        for module in imported(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def covered(module: Path, deps: list[str]) -> bool:
    rel = module.relative_to(ROOT).as_posix()
    return any(rel == d.rstrip("/") or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_declared_dep(stage: str) -> None:
    spec = STAGES[stage]
    script = ROOT / spec["cmd"].split()[-1]
    assert script.is_file() and spec["cmd"].split()[-1] in spec["deps"], f"{stage}: its script is not a dep"
    missing = sorted(m.relative_to(ROOT).as_posix() for m in closure(script) if not covered(m, spec["deps"]))
    assert not missing, f"{stage} runs these modules but dvc.yaml does not list them: {missing}"


def test_the_import_walk_sees_lazy_imports() -> None:
    """`curate` imports `representative` inside a branch; the walk must find it."""
    assert PACKAGE / "representative.py" in closure(ROOT / "stages" / "curate.py")
