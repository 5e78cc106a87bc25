"""The package's folders follow the pipeline and imports run one way (docs/architecture.md): a folder imports the
shared top-level modules and the folders before it, never one after it, so the layers cannot grow into a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "semisup"
ORDER = ["data", "labels", "training", "methods", "evaluation", "tools"]  # each may import those before it
ALLOWED = {
    "": {""},  # the shared top-level modules import only each other
    "data": {"", "data"},
    "labels": {"", "data", "labels"},
    "training": {"", "data", "training"},  # the method contract is `training/contract.py`: the loop needs no method
    "methods": {"", "data", "training", "methods"},
    "evaluation": {"", "data", "labels", "training", "methods", "evaluation"},
    "tools": {"", *ORDER},
}


# Top-level modules that stand after the methods: reading params.yaml builds each registered method's own section
# from the class in its module (`parameters.py`), so they may import the registry; nothing below them imports them.
EDGE = {"parameters.py": {"", "methods"}, "params.py": {""}}


def layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def imported_layers(path: Path) -> set[tuple[str, int]]:
    """(layer, line) of every package import this module runs (what only type checkers read is left out)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
            targets = [name] + ([f"{name}.{a.name}" for a in node.names] if not node.module else [])
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for target in targets:
            parts = target.split(".")
            if parts[0] != "semisup" or len(parts) < 2:
                continue
            found.add((parts[1] if (PACKAGE / parts[1]).is_dir() else "", node.lineno))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_run_one_way(module: Path) -> None:
    wrong = sorted((f"semisup.{target or '(top)'}", line) for target, line in imported_layers(module)
                   if target not in EDGE.get(module.relative_to(PACKAGE).as_posix(), ALLOWED[layer(module)]))
    assert not wrong, f"{module.relative_to(PACKAGE)} ({layer(module) or 'top'}) imports a later layer: {wrong}"


def test_nothing_before_the_methods_imports_the_params_reader() -> None:
    """`semisup.parameters` imports the registry: a module of a layer the methods build on importing it would close
    a circle (the shared modules, data, labels, training and the methods take `Params` from `semisup.config`)."""
    early = {"", "data", "labels", "training", "methods"}
    importers = [m.relative_to(PACKAGE).as_posix() for m in MODULES if layer(m) in early and m.name not in EDGE
                 and any(n.module and n.module.endswith("parameters") for n in ast.walk(ast.parse(m.read_text()))
                         if isinstance(n, ast.ImportFrom))]
    assert not importers, importers


def test_every_module_lives_in_a_known_layer() -> None:
    assert {layer(m) for m in MODULES} == set(ALLOWED)
