"""Import a package's modules in a fresh interpreter and list the I/O libraries that came with them.

A fresh interpreter, so that nothing imported by other tests hides a dependency. The
packages of the pure floors (``domain/``, ``alerts/``) must load none of
:data:`IO_LIBRARIES`. ``socket`` and ``subprocess`` are not among them: the standard
library loads ``socket`` on its own (``holidays`` → ``importlib.metadata`` →
``email.utils``); tests/test_layers.py forbids our own modules to import either.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = ("faust", "aiokafka", "kafka", "redis", "websockets", "mode", "aiohttp")

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({forbidden!r}))
print(",".join(loaded))
"""


def modules(package: str) -> list[str]:
    """Every module of ``package`` (a top-level folder of the repository)."""
    return sorted(
        f"{package}.{path.stem}" for path in (ROOT / package).glob("*.py") if path.stem != "__init__"
    )


def io_libraries_loaded(package: str) -> list[str]:
    """The I/O libraries that importing ``package`` and all its modules loads."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(forbidden=IO_LIBRARIES), package, *modules(package)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]
