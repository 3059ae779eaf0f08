"""``govpulse indicators``: the indicator set as a table (or JSON), worst first."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from domain.catalog import Catalog
from domain.errors import ServiceError
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.rows import complete_rows
from domain.indicators.status import Colour
from runtime.board import INDICATORS_KEY
from runtime.settings import Settings

COLUMNS = (
    ("status", "STATUS"),
    ("code", "INDICATOR"),
    ("unit", "UNIT"),
    ("period", "PERIOD"),
    ("current", "CURRENT"),
    ("projected", "PROJECTED"),
    ("target", "TARGET"),
    ("gap", "GAP"),
    ("run_rate", "NEEDS/DAY"),
    ("reason", "WHY"),
)


async def load_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """The stored indicator rows (``board:indicators``) by key.

    Raises:
        ServiceError: Redis is unreachable.
    """
    client = aioredis.Redis.from_url(settings.redis_target, socket_timeout=5)
    try:
        raw = await client.hgetall(INDICATORS_KEY)
    except (OSError, aioredis.RedisError) as exc:
        raise ServiceError(
            f"Redis {settings.redis_target} unreachable: {exc}; check GOVPULSE_REDIS_URL"
        ) from None
    finally:
        await client.aclose()
    out: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        try:
            out[key.decode() if isinstance(key, bytes) else key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
    return out


def select(
    catalog: IndicatorCatalog,
    stored: Mapping[str, Mapping[str, Any]],
    *,
    now: float,
    unit: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    """Rows of every assignment (``unit``: the ones it answers for), of ``status`` only."""
    rows = complete_rows(catalog, stored, now=now, owners=None if unit is None else [unit])
    return [row for row in rows if status is None or row["status"] == status]


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    def cell(name: str, row: Mapping[str, Any]) -> str:
        inputs = row.get("inputs") or {}
        value = row.get(name, inputs.get(name))
        if name in ("current", "projected", "run_rate"):
            value = inputs.get(name)
        if value is None:
            return "-"
        if name == "gap":
            return f"{value * 100:+.1f}%"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    cells = [[header for _, header in COLUMNS]]
    cells += [[cell(name, row) for name, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


async def print_indicators(settings: Settings, *, unit: str | None, status: str | None, as_json: bool) -> int:
    """Print the indicator set, red first; errors go to stderr (exit 1)."""
    units = Catalog.from_file(settings.units_file)
    catalog = IndicatorCatalog.from_file(settings.indicators_file, units)
    if unit is not None and unit not in units:
        print(f"unknown unit {unit!r}: not in the unit catalog (GOVPULSE_UNITS_FILE)", file=sys.stderr)
        return 1
    if status is not None and status not in {c.value for c in Colour}:
        print(f"unknown status {status!r}: use red, orange, green or grey", file=sys.stderr)
        return 1
    stored = await load_rows(settings)
    rows = select(catalog, stored, now=settings.clock.build().now(), unit=unit, status=status)
    if as_json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    elif not rows:
        print("no indicators match", file=sys.stderr)
        return 1
    else:
        print(format_table(rows))
    return 0
