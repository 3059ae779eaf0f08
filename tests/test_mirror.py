"""Tests mirror the source: every module with logic has ``tests/<folder>/test_<module>.py``.

The modules below are exempt because they hold no logic of their own; tests/README.md
lists them too. A module added without its test module fails here, naming the file to
create.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "alerts", "runtime", "stream", "web", "notify", "api", "govpulse")
EXEMPT = {
    "domain/errors.py": "the error tree; every message is asserted where it is raised",
    "alerts/errors.py": "the error tree; every message is asserted where it is raised",
    "web/errors.py": "the error tree; every message is asserted where it is raised",
    "api/errors.py": "the error tree; every message is asserted where it is raised",
    "api/schemas.py": "OpenAPI declarations; tests/api/test_server.py checks every route by them",
    "runtime/logs.py": "one basicConfig call, made by the entry points",
}


def source_modules() -> list[str]:
    return sorted(
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py"
    )


def test_every_module_with_logic_has_its_test_module() -> None:
    missing = [
        f"{module}: create tests/{Path(module).parent.as_posix()}/test_{Path(module).name}"
        for module in source_modules()
        if module not in EXEMPT
        and not (ROOT / "tests" / Path(module).parent / f"test_{Path(module).name}").is_file()
    ]

    assert missing == [], "\n".join(missing)


def test_every_exemption_names_a_module_that_exists() -> None:
    assert set(EXEMPT) <= set(source_modules())
