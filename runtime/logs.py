"""Logging set-up, done once by each entry point (never by library modules)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Log to stderr at ``level``; quiet the chattiest third-party loggers."""
    logging.basicConfig(
        level=level.upper(),
        format=FORMAT,
        stream=stream or sys.stderr,
        force=True,
    )
    for noisy in ("aiokafka", "kafka", "faust.transport", "mode", "websockets.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
