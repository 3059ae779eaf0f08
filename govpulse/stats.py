"""``govpulse stats``: the board's current counters as a readable table (or JSON).

The HEALTH column is the unit's status as its wall tile shows it (:func:`alerts.health.unit_health`:
act / watch / ok / none, from its active alerts and the day's rates, whatever ``--window``
asks for), and WHY lists the reasons that set it (``alert.critical=2``, ``rate.red=60`` …).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from alerts.health import unit_health
from domain.errors import ServiceError
from runtime.board import ALERTS_KEY, UNITS_KEY
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
    ("health", "HEALTH"),
    ("reasons", "WHY"),
)


async def load_board(settings: Settings) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """All unit boards published in Redis by code, and the board's alert records by unit.

    Raises:
        ServiceError: Redis is unreachable.
    """
    client = aioredis.Redis.from_url(settings.redis_target, socket_timeout=5)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hgetall(UNITS_KEY)
            pipe.hgetall(ALERTS_KEY)
            raw_units, raw_alerts = await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        raise ServiceError(
            f"Redis {settings.redis_target} unreachable: {exc}; check GOVPULSE_REDIS_URL"
        ) from None
    finally:
        await client.aclose()
    units = {
        (key.decode() if isinstance(key, bytes) else key): orjson.loads(value)
        for key, value in raw_units.items()
    }
    alerts: dict[str, list[dict[str, Any]]] = {}
    for value in raw_alerts.values():
        alert = orjson.loads(value)
        if isinstance(alert, dict) and isinstance(alert.get("unit"), str):
            alerts.setdefault(alert["unit"], []).append(alert)
    return units, alerts


def rows(
    units: Mapping[str, Mapping[str, Any]],
    window: str,
    alerts: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """One row per unit for ``window`` (plain values), with the unit's health from its
    panel and its alert records in ``alerts`` (by unit)."""
    out = []
    for code in sorted(units):
        board = units[code]
        windows = board.get("windows")
        stats = windows.get(window) if isinstance(windows, Mapping) else None
        if not isinstance(stats, Mapping):
            continue
        gauges = board.get("gauges")
        gauges = gauges if isinstance(gauges, Mapping) else {}
        p90 = (stats.get("latency") or {}).get("p90")
        health = unit_health(board, (alerts or {}).get(code, ()))
        out.append(
            {
                "unit": code,
                **{name: stats.get(name, 0) for name, _ in COLUMNS[1:9]},
                "on_time_rate": stats.get("on_time_rate"),
                "p90": p90,
                "open": gauges.get("open", 0),
                "overdue": gauges.get("overdue", 0),
                "health": health.status,
                "reasons": dict(health.reasons),
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
        if name == "reasons":
            return ",".join(f"{code}={count}" for code, count in value.items()) or "-"
        return str(value)

    cells = [[header for _, header in COLUMNS]]
    cells += [[cell(name, row[name]) for name, _ in COLUMNS] for row in table]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            value.ljust(width) if i in (0, len(COLUMNS) - 1) else value.rjust(width)
            for i, (value, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    )


async def print_stats(settings: Settings, *, unit: str | None, window: str, as_json: bool) -> int:
    """Print the counters of ``window`` for one or all units; errors go to stderr (exit 1)."""
    if window not in settings.windows:
        configured = ", ".join(settings.windows)
        print(f"unknown window {window!r}: configured windows are {configured}", file=sys.stderr)
        return 1
    units, alerts = await load_board(settings)
    if unit is not None:
        if unit not in units:
            print(f"no counters for unit {unit!r} on the board (is the worker running?)", file=sys.stderr)
            return 1
        units = {unit: units[unit]}
    table = rows(units, window, alerts)
    if as_json:
        print(orjson.dumps(table, option=orjson.OPT_INDENT_2).decode())
    elif not table:
        print(f"no counters for window {window!r} yet (is the worker running?)", file=sys.stderr)
        return 1
    else:
        print(format_table(table))
    return 0
