"""The house keeps its shape: layers and seams (import-linter), no import cycles, small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO_DIR

PACKAGES = ("classification", "ml", "classifier_site")
MAX_MODULE_LINES = 300


def test_import_linter_contracts_are_kept():
    """Layers, the one queueing seam, TensorFlow off the web side, a framework-free ml (.importlinter)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO_DIR / ".importlinter")], cwd=REPO_DIR,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), imports inside functions included."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    known = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def edges(module: str) -> list[str]:
        # A module importing its own package's __init__ is how Python imports submodules, not a cycle.
        return sorted(m for m in graph.find_modules_directly_imported_by(module)
                      if m in known and not module.startswith(m + "."))

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_project_modules():
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    """The check above can fail: two modules importing each other inside functions are found."""
    graph = grimp.ImportGraph()
    for module in ("ml.a", "ml.b", "ml.c"):
        graph.add_module(module)
    graph.add_import(importer="ml.a", imported="ml.b")
    graph.add_import(importer="ml.b", imported="ml.a")
    graph.add_import(importer="ml.c", imported="ml.a")
    assert _cycles(graph) == [["ml.a", "ml.b"]]


def test_no_module_is_longer_than_a_screenful_or_three():
    long = {
        str(path.relative_to(REPO_DIR)): lines
        for package in ("classification", "ml")
        for path in (REPO_DIR / package).rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_every_room_says_what_it_owns_and_may_import():
    rooms = [path for path in (REPO_DIR / "classification").iterdir()
             if path.is_dir() and (path / "__init__.py").is_file() and path.name not in ("migrations", "management")]
    assert len(rooms) >= 9
    for room in rooms:
        docstring = (room / "__init__.py").read_text()
        assert docstring.startswith('"""'), room.name
        assert "Owns:" in docstring and "May import:" in docstring, room.name
