"""Imports point down the layers only (docs/design.md shows them):

    edges (indexer/, web/)  ->  archive (the package's public names only)
    archive/archive.py      ->  search, backends (the factory and the contract only), indexing, query, index, ingest
    search                  ->  backends.contract, query, index, ingest
    backends                ->  indexing, query, index, ingest; embedded and milvus never import each other,
                                and the contract and what they share import neither
    indexing                ->  query, index, ingest
    query                   ->  index, ingest
    index                   ->  ingest
    ingest                  ->  nothing above it
    errors, settings        ->  nothing in archive (every layer may use them)

and nothing outside a backend's package and the factory asks whether an object is of a
backend's class: the rest of the library sees a backend only through its contract.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

BASE = {"archive.errors", "archive.settings"}
ALLOWED = {  # layer -> the layers it may import from (besides itself and BASE)
    "ingest": set(),
    "index": {"ingest"},
    "query": {"ingest", "index"},
    "indexing": {"ingest", "index", "query"},
    "backends": {"ingest", "index", "query", "indexing"},
    "search": {"ingest", "index", "query", "backends"},
    "facade": {"ingest", "index", "query", "indexing", "backends", "search"},
}
# What of the backends each layer above them may import: the contract, and the facade the factory too.
BACKEND_MODULES = {"search": {"archive.backends.contract"},
                   "facade": {"archive.backends", "archive.backends.contract"}}
IMPLEMENTATIONS = ("embedded", "milvus")  # archive.backends.<name>: one package per backend
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
        if own == "backends" and theirs == "backends" and implementation(module) != implementation(target) \
                and implementation(target) is not None and not is_factory(module):
            problems.append(f"{module} imports {target}: a backend's package is its own")
            continue
        if own is None or theirs is None or theirs in ("base", own) or target == "archive":
            if target == "archive" and own not in (None, "facade"):
                problems.append(f"{module} imports the archive package's face from inside a layer")
            continue
        if own == "base" or theirs not in ALLOWED.get(own, set()):
            problems.append(f"{module} ({own}) imports {target} ({theirs})")
        elif theirs == "backends" and own in BACKEND_MODULES and target not in BACKEND_MODULES[own]:
            problems.append(f"{module} ({own}) imports {target}: only {', '.join(sorted(BACKEND_MODULES[own]))}")
    return problems


def implementation(module: str) -> str | None:
    """The backend a module of archive.backends implements (None: the contract or shared code)."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "backends" and parts[2] in IMPLEMENTATIONS else None


def is_factory(module: str) -> bool:
    return module == "archive.backends"


def backend_classes(modules: dict[str, Path]) -> set[str]:
    """The classes that the backends' own packages define."""
    return {node.name for module, path in modules.items() if implementation(module)
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}


def class_checks(source: str, classes: set[str]) -> list[str]:
    """The backend classes that ``isinstance``/``issubclass`` calls in ``source`` test for."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass"):
            named = {name.id for argument in node.args[1:] for name in ast.walk(argument) if isinstance(name, ast.Name)}
            named |= {name.attr for argument in node.args[1:] for name in ast.walk(argument)
                      if isinstance(name, ast.Attribute)}
            found += sorted(named & classes)
    return found


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


def test_nothing_outside_a_backend_asks_for_its_class():
    modules = project_modules()
    classes = backend_classes(modules)
    assert {"EmbeddedBackend", "MilvusBackend", "EmbeddedSnapshot", "MilvusSnapshot", "KeywordIndex"} <= classes
    problems = [f"{module}: isinstance of {', '.join(found)}" for module, path in sorted(modules.items())
                if not implementation(module) and not is_factory(module)
                and (found := class_checks(path.read_text(), classes))]
    assert problems == []
    assert class_checks("isinstance(index, EmbeddedBackend | MilvusBackend)\n", classes) == [
        "EmbeddedBackend", "MilvusBackend"]


def test_the_check_catches_an_upward_import():
    known = set(project_modules())
    assert violations("archive.index.catalog", ["archive.search.results"], known) == [
        "archive.index.catalog (index) imports archive.search.results (search)"]
    assert violations("archive.ingest.corpus", ["archive.backends.embedded.store"], known)
    assert violations("archive.indexing.status", ["archive.indexing.changes"], known) == []  # same layer
    assert violations("archive.search.results", ["archive.backends.embedded.store"], known) == [
        "archive.search.results (search) imports archive.backends.embedded.store: only archive.backends.contract"]
    assert violations("archive.archive", ["archive.backends.milvus.snapshot"], known)
    assert violations("archive.backends.milvus.keyword", ["archive.backends.embedded.keyword"], known) == [
        "archive.backends.milvus.keyword imports archive.backends.embedded.keyword: a backend's package is its own"]
    assert violations("archive.backends.contract", ["archive.backends.embedded.store"], known)
    assert violations("archive.backends", ["archive.backends.milvus"], known) == []  # the factory
    assert violations("archive.query.language", ["archive.backends.contract"], known)
    assert violations("web.pages", ["archive.search.highlight"], known) == [
        "web.pages imports archive.search.highlight: the edges use only the archive package's public names"]
    relative = imported_modules("from ...search.results import Result\n", "archive.backends.embedded.store", False)
    assert ("archive.search.results", True) in relative


def test_every_layer_has_its_own_folder():
    folders = {path.name for path in (ROOT / "archive").iterdir() if path.is_dir() and not path.name.startswith("_")}
    assert folders == {"ingest", "index", "query", "indexing", "backends", "search"}
    backends = {path.name for path in (ROOT / "archive" / "backends").iterdir() if path.is_dir() and not path.name.startswith("_")}
    assert backends == set(IMPLEMENTATIONS)
    loose = {path.stem for path in (ROOT / "archive").glob("*.py")}
    assert loose == {"__init__", "archive", "errors", "settings"}
