"""``govpulse report``: a closed period's report from ``gov.reports``, as XLSX, CSV or JSON.

Reads the topic itself (the durable record), so it works without Redis and without a web
node; the document and the files are the ones the web node serves (web.reports,
web.exports). The operator running it sees every unit (leader scope).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from domain.catalog import Catalog
from domain.classification import Classification
from domain.errors import ConfigError, InvalidPeriod
from domain.reports import Period
from runtime.reports import by_month, read_reports
from runtime.settings import Settings
from runtime.topics import Topics
from web.auth import Scope
from web.exports import csv_bytes, xlsx_bytes
from web.reports import months_needed, report_document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--period", required=True, help="2026-11 (a 1022 month), 2026-Q4 (a quarter) or 2026 (a year)"
    )
    parser.add_argument("--format", choices=("xlsx", "csv", "json"), default="json", help="output format")
    parser.add_argument("--unit", help="only this unit and the units under it")
    parser.add_argument(
        "--output", "-o", help="file to write (default: bao-cao-<period>.<format>; json: standard output)"
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        period = Period.parse(args.period)
    except InvalidPeriod as exc:
        raise ConfigError(f"--period: {exc}") from None
    catalog = Catalog.from_file(settings.units_file)
    if args.unit and args.unit not in catalog:
        raise ConfigError(f"--unit {args.unit!r} is not in the unit catalog; check the code")
    reports = await read_reports(settings.broker_bootstrap, Topics.for_settings(settings).reports)
    data = by_month(reports)
    available = sorted(data)
    if not any(m.key in data for m in period.months()):
        latest = ", ".join(available[-6:]) or "none yet"
        raise ConfigError(f"no reports for period {period.key}; the latest closed months are {latest}")
    wanted = {month: data.get(month, {}) for month in months_needed(period)}
    document = report_document(
        period,
        wanted,
        catalog=catalog,
        classification=Classification.from_file(settings.classification_file),
        scope=Scope("leader"),
        unit=args.unit,
        available=available,
    )
    if args.format == "json":
        body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    elif args.format == "xlsx":
        body = xlsx_bytes(document)
    else:
        body = csv_bytes(document)
    output = args.output or (None if args.format == "json" else f"bao-cao-{period.key}.{args.format}")
    if output is None or output == "-":
        sys.stdout.buffer.write(body + (b"\n" if args.format == "json" else b""))
    else:
        Path(output).write_bytes(body)
        print(f"report {period.key}: {len(document['rows'])} units written to {output}")
    return 0
