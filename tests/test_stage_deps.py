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


def module_file(name: str) -> Path | None:
    """semisup.a.b -> src/semisup/a/b.py or src/semisup/a/b/__init__.py (or the nearest parent module)."""
    parts = name.split(".")[1:]
    for k in range(len(parts), -1, -1):
        base = PACKAGE.joinpath(*parts[:k])
        for candidate in (base.with_suffix(".py") if k else None, base / "__init__.py"):
            if candidate is not None and candidate.is_file():
                return candidate
    return None


def package_of(path: Path) -> list[str]:
    """The dotted package a module file lives in (relative imports resolve against it)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return list(rel[:-1]) if path.parent != ROOT / "stages" else ["semisup"]


def imported(path: Path, registry: bool = False) -> set[Path]:
    """The package's module files that `path` imports (directly), and with `registry` the modules the method
    registry's entries name (a stage that builds methods by name imports them on demand)."""
    found = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # what runs only for type checkers is not run
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                package = package_of(path)[: len(package_of(path)) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif registry and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith("semisup."):
            names = [node.value.partition(":")[0]]  # a registry entry, "semisup.methods.sgan:SemiSupervisedGan"
        for name in names:
            if name == "semisup" or name.startswith("semisup."):
                module = module_file(name)
                if module is not None and module != path and not docstring_only(module):
                    found.add(module)
    return found


def docstring_only(module: Path) -> bool:
    """A package `__init__.py` that holds a docstring and nothing else runs no code a stage depends on."""
    body = ast.parse(module.read_text()).body
    return len(body) <= 1 and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def closure(script: Path) -> set[Path]:
    registry = "method_class" in script.read_text()  # builds methods by name: every registered one may run
    todo, seen = [script], set()
    while todo:
        for module in imported(todo.pop(), registry):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def covered(module: Path, deps: list[str]) -> bool:
    rel = module.relative_to(ROOT).as_posix()
    return any(rel == d.rstrip("/") or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_declared_dep(stage: str) -> None:
    spec = STAGES[stage].get("do", STAGES[stage])  # a foreach stage: its template
    script_name = next(word for word in spec["cmd"].split() if word.endswith(".py"))
    script = ROOT / script_name
    assert script.is_file() and script_name in spec["deps"], f"{stage}: its script is not a dep"
    missing = sorted(m.relative_to(ROOT).as_posix() for m in closure(script) if not covered(m, spec["deps"]))
    assert not missing, f"{stage} runs these modules but dvc.yaml does not list them: {missing}"


def test_the_import_walk_sees_lazy_imports_and_registered_methods() -> None:
    """`curate` imports `representative` inside a branch; the training stage finds its methods in the registry,
    and they import `augment` relative to their subpackage; the walk must find all of them."""
    assert PACKAGE / "labels" / "representative.py" in closure(ROOT / "stages" / "curate.py")
    found = closure(ROOT / "stages" / "train.py")
    assert {PACKAGE / "methods" / "sgan.py", PACKAGE / "data" / "augment.py", PACKAGE / "config.py"} <= found


def test_every_list_of_methods_in_dvc_yaml_is_the_registry() -> None:
    """dvc.yaml names the methods in six places DVC cannot generate (the training stages, evaluate's models and
    metrics, three plots) and the model registry: each must list exactly the registered methods, so a method added
    to `semisup.methods` and missed here fails this test, not a user's `dvc repro`."""
    from semisup.methods import names

    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    methods, evaluate = set(names()), STAGES["evaluate"]
    found = {
        "stages.train.foreach": set(STAGES["train"]["foreach"]),
        "stages.evaluate.deps (models/<method>.pt)": {Path(d).stem for d in evaluate["deps"]
                                                        if str(d).startswith("models/")},
        "stages.evaluate.metrics": {Path(next(iter(m))).stem for m in evaluate["metrics"]} - {"summary"},
        "artifacts": set(spec["artifacts"]),
    }
    for plot in spec["plots"]:
        if isinstance(plot, dict):
            (title, definition), = plot.items()
            if any(f"{m}." in path or f"/{m}/" in path for path in definition["y"] for m in ("baseline",)):
                found[f"plots: {title}"] = {Path(p).stem if p.startswith("plots/") else Path(p).parts[1]
                                            for p in definition["y"]}
    assert sum(k.startswith("plots") for k in found) == 3, found  # validation accuracy, validation loss, confusion
    wrong = {where: f"missing {sorted(methods - listed)}, unknown {sorted(listed - methods)}"
             for where, listed in found.items() if listed != methods}
    assert not wrong, f"dvc.yaml's lists of methods differ from src/semisup/methods/__init__.py: {wrong}"
