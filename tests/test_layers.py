"""Imports point down the layers only (docs/design.md shows them):

    edges (indexer/, web/)  ->  archive (the package's public names only)
    archive/archive.py      ->  search, build, index, ingest
    search                  ->  index, ingest
    build                   ->  index, ingest
    index                   ->  ingest
    ingest                  ->  nothing above it
    errors, settings        ->  nothing in archive (every layer may use them)
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

BASE = {"archive.errors", "archive.settings"}
ALLOWED = {  # layer -> the layers it may import from (besides itself and BASE)
    "ingest": set(),
    "index": {"ingest"},
    "build": {"ingest", "index"},
    "search": {"ingest", "index"},
    "facade": {"ingest", "index", "build", "search"},
}
EDGES = ("indexer", "web")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of a module inside the archive package (None: not part of it)."""
    parts = module.split(".")
    if parts[0] != "archive":
        return None
    if module in BASE:
        return "base"
    if len(parts) == 1 or parts[1] == "archive":
        return "facade"
    return parts[1] if parts[1] in ALLOWED else "facade"


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """(absolute module name, named directly) for each import: relative imports are resolved,
    and ``from x import y`` also gives ``x.y`` (not named directly) in case y is a submodule."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, True))
            found += [(f"{target}.{alias.name}", False) for alias in node.names]
    return found


def violations(module: str, imports: list[tuple[str, bool] | str], known: set[str]) -> list[str]:
    problems = []
    own = layer_of(module)
    for item in imports:
        target, direct = (item, True) if isinstance(item, str) else item
        if target not in known:  # not a module (a name imported from one), or outside the project
            continue
        if module.split(".")[0] in EDGES:
            # `from archive import settings` takes a public name; `from archive.x import …` reaches inside.
            if target.startswith("archive.") and direct:
                problems.append(f"{module} imports {target}: the edges use only the archive package's public names")
            continue
        theirs = layer_of(target)
        if own is None or theirs is None or theirs in ("base", own) or target == "archive":
            if target == "archive" and own not in (None, "facade"):
                problems.append(f"{module} imports the archive package's face from inside a layer")
            continue
        if own == "base" or theirs not in ALLOWED.get(own, set()):
            problems.append(f"{module} ({own}) imports {target} ({theirs})")
    return problems


def project_modules() -> dict[str, Path]:
    modules = {}
    for top in ("archive", *EDGES):
        for path in (ROOT / top).rglob("*.py"):
            modules[module_name(path)] = path
    return modules


def test_imports_point_down_the_layers_only():
    modules = project_modules()
    known = set(modules)
    problems = []
    for module, path in sorted(modules.items()):
        imports = imported_modules(path.read_text(), module, path.name == "__init__.py")
        problems += violations(module, imports, known)
    assert problems == []


def test_the_check_catches_an_upward_import():
    known = set(project_modules())
    assert violations("archive.index.store", ["archive.search.results"], known) == [
        "archive.index.store (index) imports archive.search.results (search)"]
    assert violations("archive.ingest.corpus", ["archive.index.store"], known)
    assert violations("archive.build.status", ["archive.build.update"], known) == []  # same layer
    assert violations("web.pages", ["archive.search.highlight"], known) == [
        "web.pages imports archive.search.highlight: the edges use only the archive package's public names"]
    relative = imported_modules("from ..search.results import Result\n", "archive.index.store", False)
    assert ("archive.search.results", True) in relative


def test_every_layer_has_its_own_folder():
    folders = {path.name for path in (ROOT / "archive").iterdir() if path.is_dir() and not path.name.startswith("_")}
    assert folders == {"ingest", "index", "build", "search"}
    loose = {path.stem for path in (ROOT / "archive").glob("*.py")}
    assert loose == {"__init__", "archive", "errors", "settings"}
