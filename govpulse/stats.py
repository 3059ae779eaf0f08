"""``govpulse stats``: the board's current counters as a readable table (or JSON)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from domain.errors import ServiceError
from runtime.board import UNITS_KEY
from runtime.settings import Settings

COLUMNS = (
    ("unit", "UNIT"),
    ("received", "RECV"),
    ("resolved", "RESOLVED"),
    ("resolved_on_time", "ON-TIME"),
    ("resolved_late", "LATE"),
    ("became_overdue", "OVERDUE+"),
    ("transferred_in", "IN"),
    ("transferred_out", "OUT"),
    ("reopened", "REOPEN"),
    ("on_time_rate", "ON-TIME%"),
    ("p90", "P90"),
    ("open", "OPEN"),
    ("overdue", "OVERDUE"),
    ("colour", "COLOUR"),
)


async def load_units(settings: Settings) -> dict[str, dict[str, Any]]:
    """All unit boards published in Redis, by code.

    Raises:
        ServiceError: Redis is unreachable.
    """
    client = aioredis.Redis.from_url(settings.redis_target, socket_timeout=5)
    try:
        raw = await client.hgetall(UNITS_KEY)
    except (OSError, aioredis.RedisError) as exc:
        raise ServiceError(
            f"Redis {settings.redis_target} unreachable: {exc}; check GOVPULSE_REDIS_URL"
        ) from None
    finally:
        await client.aclose()
    return {
        (key.decode() if isinstance(key, bytes) else key): orjson.loads(value) for key, value in raw.items()
    }


def rows(units: Mapping[str, Mapping[str, Any]], window: str) -> list[dict[str, Any]]:
    """One row per unit for ``window`` (plain values)."""
    out = []
    for code in sorted(units):
        board = units[code]
        stats = board.get("windows", {}).get(window)
        if stats is None:
            continue
        gauges = board.get("gauges", {})
        p90 = (stats.get("latency") or {}).get("p90")
        out.append(
            {
                "unit": code,
                **{name: stats.get(name, 0) for name, _ in COLUMNS[1:9]},
                "on_time_rate": stats.get("on_time_rate"),
                "p90": p90,
                "open": gauges.get("open", 0),
                "overdue": gauges.get("overdue", 0),
                "colour": board.get("colour", ""),
            }
        )
    return out


def format_table(table: list[dict[str, Any]]) -> str:
    def cell(name: str, value: Any) -> str:
        if value is None:
            return "-"
        if name == "on_time_rate":
            return f"{value * 100:.1f}"
        if name == "p90":
            return f"{value / 3600:.1f}h"
        return str(value)

    cells = [[header for _, header in COLUMNS]]
    cells += [[cell(name, row[name]) for name, _ in COLUMNS] for row in table]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            value.ljust(width) if i == 0 else value.rjust(width)
            for i, (value, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    )


async def print_stats(settings: Settings, *, unit: str | None, window: str, as_json: bool) -> int:
    """Print the counters of ``window`` for one or all units; errors go to stderr (exit 1)."""
    if window not in settings.windows:
        configured = ", ".join(settings.windows)
        print(f"unknown window {window!r}: configured windows are {configured}", file=sys.stderr)
        return 1
    units = await load_units(settings)
    if unit is not None:
        if unit not in units:
            print(f"no counters for unit {unit!r} on the board (is the worker running?)", file=sys.stderr)
            return 1
        units = {unit: units[unit]}
    table = rows(units, window)
    if as_json:
        print(orjson.dumps(table, option=orjson.OPT_INDENT_2).decode())
    elif not table:
        print(f"no counters for window {window!r} yet (is the worker running?)", file=sys.stderr)
        return 1
    else:
        print(format_table(table))
    return 0
