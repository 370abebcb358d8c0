"""The import structure the project promises (read from the source, not from a run):
the vocabulary at the bottom, the reference and the adapters on it only, no import
cycle between modules, and no project import hidden inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("conformance", "reference", "adapters", "reports")
VOCAB = "conformance.vocab"


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """The project modules an import statement names (a ``from X import name`` that
    is a submodule names the submodule)."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
    return [t for t in targets if t.split(".")[0] in PACKAGES]


def _imports(module: str, source: str | None = None) -> tuple[set[str], list[tuple[int, str]]]:
    """(project modules imported at module level, (line, module) of those imported in a
    function) of a module (its file, or ``source`` in its place)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    top: set[str] = set()
    nested: list[tuple[int, str]] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, child, is_package):
                    if in_function:
                        nested.append((child.lineno, target))
                    else:
                        top.add(target)
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if not (isinstance(child, ast.If) and _type_checking(child)):
                visit(child, inner)
    visit(tree, False)
    return top, nested


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


GRAPH = {m: _imports(m) for m in MODULES}


def _within(target: str, *allowed: str) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def test_the_vocabulary_imports_no_other_part_of_the_project():
    bad = {m: sorted(t for t in top if not _within(t, VOCAB, "conformance"))
           for m, (top, _) in GRAPH.items() if _within(m, VOCAB)}
    assert not {m: t for m, t in bad.items() if t}
    assert (ROOT / "conformance" / "__init__.py").read_text().count("import") == 1      # its docstring only


@pytest.mark.parametrize("layer", ["reference", "adapters"])
def test_the_reference_and_the_adapters_stand_on_the_vocabulary_only(layer):
    bad = {m: sorted(t for t in top if not _within(t, layer, VOCAB, "conformance"))
           for m, (top, _) in GRAPH.items() if _within(m, layer)}
    assert not {m: t for m, t in bad.items() if t}
    if layer == "adapters":
        assert not [m for m, (top, _) in GRAPH.items() if _within(m, "adapters") and
                    any(_within(t, "reference") for t in top)]


def test_reports_use_no_framework_folder_of_the_adapters():
    bad = {m: sorted(t for t in top if _within(t, *(f"adapters.{f}" for f in ("numpy", "torch", "jax", "tensorflow"))))
           for m, (top, _) in GRAPH.items() if _within(m, "reports")}
    assert not {m: t for m, t in bad.items() if t}


def test_no_project_module_is_imported_inside_a_function():
    nested = {m: found for m, (_, found) in GRAPH.items() if found}
    assert not nested


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in edges:
        if v not in index:
            connect(v)
    return found


def test_there_is_no_import_cycle_between_modules():
    edges = {m: {t for t in top if t in MODULES and t != m and not m.startswith(t + ".")}
             for m, (top, _) in GRAPH.items()}
    assert not cycles(edges)


def test_the_structure_tests_would_see_a_cycle_and_a_nested_import():
    """Guards the tests above: they read real imports and would catch what they forbid."""
    assert GRAPH["conformance.engine"][0] >= {"conformance.cells", "conformance.check"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    top, nested = _imports("conformance.cli")
    assert "conformance.commands.run" in top and not nested
    planted = "from . import engine\n\ndef f():\n    from .vocab import catalog\n    import torch\n"
    assert _imports("conformance.cli", planted) == ({"conformance.engine"}, [(4, "conformance.vocab.catalog")])
