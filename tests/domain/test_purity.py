"""domain/ is pure: importing all of it pulls in no broker, Redis, websocket or HTTP client.

The import-time twin of tests/alerts/test_purity.py, run in a fresh interpreter so that
nothing imported by other tests hides a dependency. ``socket`` and ``subprocess`` are not
checked here: the standard library loads ``socket`` on its own (``holidays`` →
``importlib.metadata`` → ``email.utils``); tests/test_layers.py forbids our own modules to
import either.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"domain.{path.stem}" for path in (ROOT / "domain").glob("*.py") if path.stem != "__init__")
FORBIDDEN = ("faust", "aiokafka", "kafka", "redis", "websockets", "mode", "aiohttp")

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({forbidden!r}))
print(",".join(loaded))
"""


def test_every_domain_module_imports_without_io_libraries() -> None:
    assert {
        "domain.calendar",
        "domain.catalog",
        "domain.durations",
        "domain.encoding",
        "domain.errors",
        "domain.events",
        "domain.ids",
        "domain.items",
        "domain.sketch",
        "domain.sla",
        "domain.windows",
    } <= set(MODULES)
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(forbidden=FORBIDDEN), "domain", *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing domain/ loaded I/O libraries: {result.stdout.strip()}"
