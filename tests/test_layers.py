"""The floors: imports flow one way, and the pure floors touch no I/O library.

Every ``.py`` file of the seven packages is parsed with :mod:`ast`; every ``import`` and
``from … import`` counts, wherever it stands (module level, inside a function, under
``if TYPE_CHECKING:``). Relative imports are resolved against the file's package.

=========  ==========================================================================
floor      may import (besides itself)
=========  ==========================================================================
domain     nothing of ours, and no I/O library
alerts     domain, and no I/O library
runtime    domain
stream     domain, alerts, runtime (never web)
web        domain, alerts, runtime (never stream)
notify     domain, alerts, runtime (never stream or web)
api        domain, alerts, runtime (never stream or web)
govpulse   everything above; imported by nobody
=========  ==========================================================================

``tests/`` and ``bench/`` are not packages of the product: they may import any floor,
and no package may import them. No two modules may import each other, directly or
through others (a circle). ``tests/domain/test_purity.py`` and
``tests/alerts/test_purity.py`` check the same purity at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "alerts", "runtime", "stream", "web", "notify", "api", "govpulse")
NOT_PACKAGES = ("tests", "bench")  # ours, but no package may import them
ALLOWED: Mapping[str, frozenset[str]] = {
    "domain": frozenset(),
    "alerts": frozenset({"domain"}),
    "runtime": frozenset({"domain"}),
    "stream": frozenset({"domain", "alerts", "runtime"}),
    "web": frozenset({"domain", "alerts", "runtime"}),
    "notify": frozenset({"domain", "alerts", "runtime"}),
    "api": frozenset({"domain", "alerts", "runtime"}),
    "govpulse": frozenset({"domain", "alerts", "runtime", "stream", "web", "notify", "api"}),
}
RULES: Mapping[str, str] = {
    "domain": "domain/ is the bottom floor and imports nothing of ours",
    "alerts": "alerts/ stands on domain/ only",
    "runtime": "runtime/ stands on domain/ only",
    "stream": "stream/ stands on domain/, alerts/, runtime/ only (stream and web never import each other)",
    "web": "web/ stands on domain/, alerts/, runtime/ only (stream and web never import each other)",
    "notify": "notify/ stands on domain/, alerts/, runtime/ only (a floor-2 process package)",
    "api": "api/ stands on domain/, alerts/, runtime/ only (a floor-2 process package, like stream and web)",
    "govpulse": "govpulse/ is the top floor: it may import every floor, but not tests/ or bench/",
}
IMPORTED_BY_NOBODY = "govpulse/ is the top floor (CLI, dev runner, simulator) and imported by nobody"
PURE = ("domain", "alerts")
IO_LIBRARIES = frozenset(
    {"faust", "aiokafka", "kafka", "redis", "websockets", "mode", "aiohttp", "socket", "subprocess"}
)


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module name, where it is imported, and by which module."""

    file: str  # relative to the root, e.g. "stream/app.py"
    line: int
    importer: str  # dotted module name of the file, e.g. "stream.app"
    module: str  # dotted name as resolved, e.g. "web.protocol"

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def where(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def source_files(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every import in ``path``, at any depth; ``from pkg import mod`` resolves to
    ``pkg.mod`` when ``mod`` is a module of ours."""
    file = path.relative_to(root).as_posix()
    importer = module_name(root, path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=file)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, importer, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                ours = module.split(".")[0] in PACKAGES + NOT_PACKAGES
                yield Import(
                    file, node.lineno, importer, candidate if ours and is_module(root, candidate) else module
                )


def all_imports(root: Path) -> list[Import]:
    return [found for path in source_files(root) for found in imports_of(root, path)]


def floor_violations(imports: list[Import]) -> list[str]:
    problems = []
    for found in imports:
        floor = found.importer.split(".")[0]
        if found.top == floor or found.top not in PACKAGES + NOT_PACKAGES:
            continue
        if found.top == "govpulse":
            problems.append(f"{found.where()}: {IMPORTED_BY_NOBODY}")
        elif found.top in NOT_PACKAGES or found.top not in ALLOWED[floor]:
            problems.append(f"{found.where()}: {RULES[floor]}")
    return sorted(problems)


def io_violations(imports: list[Import]) -> list[str]:
    return [
        f"{found.where()}: {found.importer.split('.')[0]}/ is pure logic and imports no I/O library "
        f"({', '.join(sorted(IO_LIBRARIES))})"
        for found in imports
        if found.importer.split(".")[0] in PURE and found.top in IO_LIBRARIES
    ]


def circles(imports: list[Import]) -> list[str]:
    """Each group of modules that import each other (strongly connected components of
    the module graph, Tarjan), with the imports that close the circle."""
    edges: dict[str, dict[str, Import]] = {}
    for found in imports:
        if found.top in PACKAGES and found.module != found.importer:
            edges.setdefault(found.importer, {}).setdefault(found.module, found)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    problems = []
    for group in groups:
        inside = [
            found.where()
            for importer in group
            for target, found in sorted(edges.get(importer, {}).items())
            if target in group
        ]
        problems.append(f"circle between {', '.join(group)}: {'; '.join(inside)}")
    return problems


# -- the repository ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports(ROOT)


def test_every_package_is_parsed(imports: list[Import]) -> None:
    importers = {found.importer for found in imports}
    assert {"domain.events", "alerts.rules", "runtime.board", "stream.app", "web.server", "govpulse.cli"} <= (
        importers
    )
    assert {found.module for found in imports if found.importer == "stream.app"} >= {
        "runtime.topics",
        "stream.stages.items",
    }


def test_each_package_imports_only_the_floors_below_it(imports: list[Import]) -> None:
    problems = floor_violations(imports)
    assert problems == [], "\n".join(problems)


def test_domain_and_alerts_import_no_io_library(imports: list[Import]) -> None:
    problems = io_violations(imports)
    assert problems == [], "\n".join(problems)


def test_no_circle_between_modules(imports: list[Import]) -> None:
    problems = circles(imports)
    assert problems == [], "\n".join(problems)


# -- the checker itself, on a tree that breaks every rule ----------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for package in PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)


def test_the_checker_names_file_import_and_rule(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "domain/model.py": "import redis\n\ndef later():\n    from alerts import rules\n",
            "alerts/rules.py": "from domain import model\n",
            "stream/app.py": "from . import sink\nfrom web.protocol import encode\n",
            "stream/sink.py": "from .app import run\n",
            "web/protocol.py": "def f():\n    import govpulse.cli\n",
            "govpulse/cli.py": "from tests.support import stack\n",
        },
    )
    found = all_imports(tmp_path)

    assert floor_violations(found) == [
        "domain/model.py:4 imports alerts.rules: domain/ is the bottom floor and imports nothing of ours",
        "govpulse/cli.py:1 imports tests.support: govpulse/ is the top floor: it may import every floor, "
        "but not tests/ or bench/",
        "stream/app.py:2 imports web.protocol: stream/ stands on domain/, alerts/, runtime/ only "
        "(stream and web never import each other)",
        "web/protocol.py:2 imports govpulse.cli: govpulse/ is the top floor (CLI, dev runner, "
        "simulator) and imported by nobody",
    ]
    assert io_violations(found) == [
        "domain/model.py:1 imports redis: domain/ is pure logic and imports no I/O library "
        "(aiohttp, aiokafka, faust, kafka, mode, redis, socket, subprocess, websockets)"
    ]
    assert circles(found) == [
        "circle between alerts.rules, domain.model: "
        "alerts/rules.py:1 imports domain.model; domain/model.py:4 imports alerts.rules",
        "circle between stream.app, stream.sink: "
        "stream/app.py:1 imports stream.sink; stream/sink.py:1 imports stream.app",
    ]
