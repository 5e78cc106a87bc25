"""The package's folders follow the pipeline and imports run one way (docs/architecture.md): a folder imports the
shared top-level modules and the folders before it, never one after it, so the layers cannot grow into a cycle; and
no modules of the package import each other in a circle, type-only and lazy imports included."""
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


# Import circles inside the package, read from every import a module names: at module level, inside functions
# (the lazy ones) and under TYPE_CHECKING (a type-only import still ties the two modules together).
KNOWN_CIRCLES: list[set[str]] = []  # none: a circle found here is new


def module_path(name: str) -> Path | None:
    """semisup.a.b -> src/semisup/a/b.py or src/semisup/a/b/__init__.py; None outside the package."""
    parts = name.split(".")
    if parts[0] != "semisup":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[Path]:
    """The package's module files that `path` imports anywhere in its code (`from .x import y` names x, or the
    module x.y where y is one)."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            names = [f"{base}.{a.name}" if module_path(f"{base}.{a.name}") else base for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {m for m in map(module_path, names) if m is not None and m != path}
    return found


def circles(graph: dict[Path, set[Path]]) -> list[set[Path]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    found: list[set[Path]] = []

    def visit(v: Path) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_but_the_known_one() -> None:
    graph = {m: imported_modules(m) for m in MODULES}
    found = [{p.relative_to(PACKAGE).as_posix() for p in c} for c in circles(graph)]
    new = sorted(sorted(c) for c in found if c not in KNOWN_CIRCLES)
    assert not new, f"modules that import each other (move what both need to a module both import): {new}"


def test_the_circle_check_sees_type_only_and_lazy_imports(tmp_path: Path) -> None:
    a, b, c = (PACKAGE / "evaluation" / n for n in ("report.py", "report_plots.py", "report_rows.py"))
    assert b in imported_modules(a) and c in imported_modules(b)  # module level, and relative
    assert PACKAGE / "evaluation" / "ladder.py" in imported_modules(a)  # inside a function
    assert PACKAGE / "training" / "contract.py" in imported_modules(PACKAGE / "methods" / "__init__.py")  # TYPE_CHECKING
    assert circles({a: {b}, b: {c}, c: {a}, tmp_path: {a}}) == [{a, b, c}]
