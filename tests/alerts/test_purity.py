"""alerts/ is pure: importing all of it pulls in no broker, Redis or websocket client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"alerts.{path.stem}" for path in (ROOT / "alerts").glob("*.py") if path.stem != "__init__")
FORBIDDEN = ("faust", "aiokafka", "kafka", "redis", "websockets", "mode", "aiohttp")

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({forbidden!r}))
print(",".join(loaded))
"""


def test_every_alerts_module_imports_without_io_libraries() -> None:
    assert {
        "alerts.config",
        "alerts.errors",
        "alerts.lifecycle",
        "alerts.model",
        "alerts.rules",
        "alerts.texts",
    } <= set(MODULES)
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(forbidden=FORBIDDEN), "alerts", *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
