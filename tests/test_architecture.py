"""The package structure, checked by walking the imports (``grimp``) and the syntax trees.

Rules (``docs/architecture.md``):
- No import cycle between packages: each ``bot`` sub-package, each top-level ``bot`` module,
  ``handlers`` and ``storage`` is a unit, and the units' import graph is acyclic. The app
  factory (``bot/__init__.py``) and the CLI registry (``bot/cli.py``) wire everything together
  and are left out.
- Only ``bot.wechat`` imports ``wechatpy`` or ``bot.wechat`` among the ``bot`` packages and
  modules: the domain records events, and the adapter subscribes.
- No first-party import sits inside a function (a hidden cycle), except in the app factory and
  the CLI registry; third-party lazy loads (onnxruntime in ``bot/face``) are allowed.
- The benchmarks (``bench``) and what they share with the tests (``tests/kit``) import nothing
  of ``tests`` but ``tests.kit``; the product (``bot``, ``handlers``, ``storage``) imports
  neither ``tests`` nor ``bench``.
- No test module is imported by another module: what several tests share lives in a module
  that is not a ``test_*.py`` (``*_support.py``, ``*_steps.py``...), and shared fixtures are
  pytest plugins registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("bot", "handlers", "storage")
COMPOSITION_ROOTS = {"bot", "bot.cli"}
ADAPTER = "bot.wechat"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """The import graph of our three packages (plus the third-party ones they import)."""
    return grimp.build_graph(*FIRST_PARTY, include_external_packages=True, cache_dir=None)


def _unit(module: str) -> str | None:
    """The unit a module belongs to, or None for the composition roots."""
    if module in COMPOSITION_ROOTS:
        return None
    parts = module.split(".")
    if parts[0] != "bot":
        return parts[0]
    return ".".join(parts[:2])


def _unit_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        source = _unit(module)
        if source is None or module.split(".")[0] not in FIRST_PARTY:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = _unit(imported) if imported.split(".")[0] in FIRST_PARTY else None
            if target is not None and target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the unit graph, as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_cycle_between_packages(graph: grimp.ImportGraph) -> None:
    cycle = _find_cycle(_unit_edges(graph))
    assert cycle is None, " -> ".join(cycle or ())


def test_the_cycle_finder_finds_cycles() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None


@pytest.mark.parametrize("imported", [ADAPTER, "wechatpy"])
def test_only_the_adapter_imports_wechat(graph: grimp.ImportGraph, imported: str) -> None:
    offenders = sorted(
        f"{row['importer']} -> {row['imported']}"
        for row in graph.find_matching_direct_imports(
            import_expression=f"bot.** -> {imported}" + ("" if imported == "wechatpy" else ".**")
        )
        if not row["importer"].startswith(ADAPTER + ".")
        and row["importer"] != ADAPTER
        and row["importer"] not in COMPOSITION_ROOTS
    )
    assert offenders == []


def test_domain_packages_import_no_handlers(graph: grimp.ImportGraph) -> None:
    offenders = graph.find_matching_direct_imports(import_expression="bot.** -> handlers.**")
    assert [row for row in offenders if row["importer"] not in COMPOSITION_ROOTS] == []


def _imported(node: ast.AST, members: bool = False) -> Iterator[tuple[int, str]]:
    """``(line, name)`` of every absolute import under ``node``; with ``members``, also
    ``module.name`` for each name a ``from`` import takes (it may be a module)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
            yield inner.lineno, inner.module
            if members:
                yield from ((inner.lineno, f"{inner.module}.{a.name}") for a in inner.names)
        elif isinstance(inner, ast.Import):
            yield from ((inner.lineno, alias.name) for alias in inner.names)


def _imports_in(node: ast.AST, path: Path, roots: set[str] | tuple[str, ...]) -> list[str]:
    """Every absolute import under ``node`` whose top-level package is one of ``roots``."""
    return [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for line, name in _imported(node)
        if name.split(".")[0] in roots
    ]


def _function_level_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += _imports_in(node, path, FIRST_PARTY)
    return found


def test_no_first_party_import_inside_a_function() -> None:
    allowed = {ROOT / "bot" / "__init__.py", ROOT / "bot" / "cli.py"}
    offenders = [
        line
        for package in FIRST_PARTY
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in allowed and "migrations" not in path.parts
        for line in _function_level_imports(path)
    ]
    assert offenders == []


def test_registry_imports_the_face_engine_at_module_level(graph: grimp.ImportGraph) -> None:
    imported = graph.find_modules_directly_imported_by("bot.identity.registry")
    assert any(module.startswith("bot.face") for module in imported)


@pytest.mark.parametrize(
    ("importers", "forbidden"),
    [(("bench", "tests/kit"), {"tests"}), (FIRST_PARTY, {"bench", "tests"})],
)
def test_benchmarks_need_no_tests_and_the_product_neither(
    importers: tuple[str, ...], forbidden: set[str]
) -> None:
    offenders = [
        line
        for package in importers
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in _imports_in(ast.parse(path.read_text(), filename=str(path)), path, forbidden)
        if package in FIRST_PARTY or not line.split()[-1].startswith("tests.kit")
    ]
    assert offenders == []


def _test_modules_imported(source: str, label: str) -> list[str]:
    """``label:line module`` for each import of a ``tests`` module named ``test_*``."""
    return [
        f"{label}:{line} {name}"
        for line, name in _imported(ast.parse(source, filename=label), members=True)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]


def test_no_test_module_imports_another() -> None:
    offenders = [
        line
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line in _test_modules_imported(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert offenders == []


def test_the_test_import_finder_finds_them() -> None:
    source = (
        "from tests.handlers.test_ops import x\nfrom tests.handlers import test_ops\n"
        "import tests.bot.test_config\nfrom tests.handlers import browser_support\n"
    )
    found = _test_modules_imported(source, "probe.py")
    assert found == [
        "probe.py:1 tests.handlers.test_ops",
        "probe.py:2 tests.handlers.test_ops",
        "probe.py:3 tests.bot.test_config",
    ]
