"""Parse and format human durations such as ``500ms``, ``10m``, ``6h``, ``3d``."""

from __future__ import annotations

import math
import re

from domain.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str, *, name: str = "duration") -> float:
    """Return the number of seconds in ``text``.

    Accepts a plain number of seconds (``"30"``, ``"0.5"``) or a sequence of
    number+unit parts (``"1h30m"``, ``"250ms"``, ``"3d"``).

    Raises:
        ConfigError: if ``text`` is not a duration; the message names ``name``.
    """
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ConfigError(f"{name} is empty; expected a duration such as '10m' or '30'")
    try:
        seconds = float(cleaned)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ConfigError(f"{name}={text!r} is negative; durations are >= 0")
        if math.isfinite(seconds):
            return seconds
        # "nan"/"inf" parse as floats but are not durations: fall through to the error below.
    position, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned):
        raise ConfigError(
            f"{name}={text!r} is not a duration; use a number of seconds or units "
            f"ms/s/m/h/d/w, e.g. '500ms', '10m', '1h30m', '3d'"
        )
    return total


def format_duration(seconds: float) -> str:
    """Format ``seconds`` compactly, e.g. ``3d4h``, ``12m``, ``45s``, ``250ms``."""
    if seconds < 1 and round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    parts: list[str] = []
    remaining = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            count, remaining = divmod(remaining, size)
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts)
