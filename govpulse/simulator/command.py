"""``govpulse simulate``: generate realistic traffic, produce it (or write JSONL), and the truth.

Examples::

    govpulse simulate                        # live, paced by the configured clock, forever
    govpulse simulate --days 2 --no-pace --truth t.json
    govpulse simulate --days 7 --out week.jsonl --truth week-truth.json --invalid-rate 0.001
    govpulse simulate --indicators           # this year's indicator reports: past ones at once, then paced
    govpulse simulate --indicators --out year.jsonl --truth indicators-truth.json

Pacing and ``--speed``: messages wait until the clock reaches their event time. When the
stack shares an accelerated clock (``GOVPULSE_CLOCK=accelerated`` with
``GOVPULSE_CLOCK_ORIGIN`` set, as ``govpulse dev`` does), the simulator follows it and
``--speed`` is ignored, because every process must agree on the time. Otherwise
``--speed N`` paces by a clock of its own that starts at ``--start`` (default: now) and
runs N times faster than real time; the worker then needs the same clock settings to
see the events as current.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson

from domain.calendar import WorkCalendar, local_date
from domain.catalog import Catalog
from domain.errors import GovpulseError
from domain.events import format_instant
from domain.indicators.catalog import IndicatorCatalog
from domain.items import ItemPolicy
from domain.sla import SlaPolicy
from govpulse.simulator import http
from govpulse.simulator.indicators import simulate_year
from govpulse.simulator.model import (
    Traffic,
    TrafficConfig,
    catalog_document,
    expand_catalog,
    load_weights,
)
from govpulse.simulator.oracle import Oracle, counter_windows, deadline_policy
from govpulse.simulator.runner import produce, start_producer, write_jsonl
from runtime.clock import AcceleratedClock, Clock
from runtime.settings import Settings
from runtime.topics import Topics

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``govpulse simulate`` to ``parser``."""
    parser.add_argument(
        "--seed", type=int, default=2026, help="random seed (default 2026); same seed, same traffic"
    )
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        help="simulated days to generate (default: forever when producing live)",
    )
    parser.add_argument(
        "--start",
        type=_instant,
        default=None,
        help="first instant, RFC 3339 with offset, e.g. 2026-11-26T00:00:00+07:00 (default: the clock's now)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=3000.0,
        help="feedback items per working day, whole city (default 3000; off days get about a third)",
    )
    parser.add_argument(
        "--task-rate",
        type=float,
        default=25.0,
        help="leadership tasks per working day (default 25)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="pace by a clock of our own running SPEED times real time; ignored when the stack "
        "shares an accelerated clock (GOVPULSE_CLOCK=accelerated with GOVPULSE_CLOCK_ORIGIN)",
    )
    parser.add_argument("--no-pace", action="store_true", help="send as fast as possible")
    parser.add_argument(
        "--out", type=Path, default=None, help="write JSONL to this file instead of producing"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="write the oracle's ground truth (JSON); needs --days",
    )
    parser.add_argument(
        "--print-truth",
        action="store_true",
        help="print per-unit totals of the truth; needs --days",
    )
    parser.add_argument(
        "--invalid-rate",
        type=float,
        default=0.0,
        help="probability per message of adding an invalid one (bad JSON, missing field, "
        "impossible transition) to demonstrate dead-lettering (default 0)",
    )
    parser.add_argument(
        "--hostile-rate",
        type=float,
        default=0.002,
        help="share of titles with hostile markup such as <script> (default 0.002)",
    )
    parser.add_argument(
        "--via",
        choices=("kafka", "http"),
        default="kafka",
        help="kafka: produce to the topics (default); http: POST batches to the HTTP API "
        "(`govpulse api`), with --api-key",
    )
    parser.add_argument(
        "--api-url",
        default=None,
        help="with --via http: the API's base URL (default http://GOVPULSE_API_HOST:GOVPULSE_API_PORT)",
    )
    parser.add_argument(
        "--api-key", default=None, help="with --via http: an API key (`govpulse apikey create`)"
    )
    parser.add_argument(
        "--units",
        type=int,
        default=0,
        help="benchmarks: pad the catalog with synthetic wards up to this many units "
        "(give the worker the same catalog, see --write-units)",
    )
    parser.add_argument(
        "--indicators",
        action="store_true",
        help="simulate the indicator reports of the clock's year for the indicator catalog "
        "(GOVPULSE_INDICATORS_FILE) instead of feedback and tasks: reports due before the "
        "clock's now are sent at once, the rest when the clock reaches them; --truth writes "
        "which indicators end below target",
    )
    parser.add_argument(
        "--write-units",
        type=Path,
        default=None,
        help="write the (padded) catalog JSON here, for GOVPULSE_UNITS_FILE",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``govpulse simulate``.

    Returns:
        The exit code: 0 done, 1 the broker failed, 2 a usage or configuration error.
    """
    if getattr(args, "indicators", False):
        return await run_indicators(settings, args)
    problem = _check(args)
    if problem:
        print(f"govpulse simulate: error: {problem}", file=sys.stderr)
        return 2
    try:
        traffic = build_traffic(settings, args)
    except GovpulseError as exc:
        print(f"govpulse simulate: error: {exc}", file=sys.stderr)
        return 2
    if args.write_units is not None:
        args.write_units.write_bytes(
            orjson.dumps(catalog_document(traffic.catalog, traffic.weights), option=orjson.OPT_INDENT_2)
        )
        log.info("wrote the catalog (%d units) to %s", len(traffic.catalog), args.write_units)

    clock = pacing_clock(settings, speed=args.speed, start=args.start)
    start = args.start if args.start is not None else clock.now()
    until = start + args.days * 86400.0 if args.days is not None else None
    messages = traffic.messages(start, until=until)
    log.info(
        "simulating from %s %s: %.0f items and %.0f tasks per working day, seed %d, %d slow units",
        format_instant(start),
        f"for {args.days:g} days" if args.days is not None else "forever",
        traffic.config.items_per_day,
        traffic.config.tasks_per_day,
        traffic.config.seed,
        len(traffic.slow_units),
    )

    oracle: Oracle | None = None
    if args.truth is not None or args.print_truth:
        # The traffic's own catalog: it may be padded with synthetic units (--units).
        policy = ItemPolicy(
            calendar=traffic.calendar,
            sla=traffic.sla,
            catalog=traffic.catalog,
            deadlines=deadline_policy(settings),
        )
        oracle = Oracle(policy, counter_windows(settings), max_bytes=settings.max_event_bytes)
    observe = oracle.feed_message if oracle is not None else None

    try:
        if args.out is not None:
            write_jsonl(messages, args.out, observe=observe)
        elif args.via == "http":
            await http.post(
                messages,
                url=args.api_url or f"http://{settings.api.host}:{settings.api.port}",
                key=args.api_key,
                clock=clock,
                pace=not args.no_pace,
                observe=observe,
            )
        else:
            await produce(messages, settings, clock=clock, pace=not args.no_pace, observe=observe)
    except GovpulseError as exc:
        print(f"govpulse simulate: error: {exc}", file=sys.stderr)
        return 1

    if oracle is not None and until is not None:
        truth = oracle.finish(until)
        if args.truth is not None:
            truth.save(args.truth)
            log.info(
                "wrote the ground truth to %s (%d events, %d rejected, %d breaches)",
                args.truth,
                truth.events,
                truth.rejected,
                len(truth.breaches),
            )
        if args.print_truth:
            print(truth.summary(traffic.catalog))
    return 0


def build_traffic(settings: Settings, args: argparse.Namespace) -> Traffic:
    """The traffic model from settings (catalog, SLA, calendar files) and options.

    Raises:
        ConfigError: a data file or an option is invalid.
    """
    catalog = Catalog.from_file(settings.units_file)
    weights = load_weights(settings.units_file)
    if args.units and args.units > len(catalog):
        catalog, weights = expand_catalog(catalog, weights, units=args.units)
    config = TrafficConfig(
        seed=args.seed,
        items_per_day=args.rate,
        tasks_per_day=args.task_rate,
        hostile_rate=args.hostile_rate,
        invalid_rate=args.invalid_rate,
    )
    return Traffic(
        catalog,
        SlaPolicy.from_file(settings.sla_file),
        WorkCalendar.from_file(settings.calendar_file),
        config=config,
        weights=weights,
    )


def pacing_clock(settings: Settings, *, speed: float | None, start: float | None) -> Clock:
    """The clock to pace by: the shared one, else one of ``--speed``, else the configured one."""
    configured = settings.clock
    shared = configured.kind == "accelerated" and configured.origin is not None
    if speed is not None and shared:
        log.warning(
            "--speed %g ignored: the stack shares an accelerated clock (GOVPULSE_CLOCK_SPEED=%g)",
            speed,
            configured.speed,
        )
    if speed is not None and not shared:
        origin = time.time()
        return AcceleratedClock(start=start if start is not None else origin, origin=origin, speed=speed)
    return configured.build()


async def run_indicators(settings: Settings, args: argparse.Namespace) -> int:
    """``govpulse simulate --indicators``: a year of indicator reports (see
    :mod:`govpulse.simulator.indicators`), to ``gov.indicators`` or ``--out``."""
    try:
        catalog = IndicatorCatalog.from_file(settings.indicators_file, Catalog.from_file(settings.units_file))
    except GovpulseError as exc:
        print(f"govpulse simulate: error: {exc}", file=sys.stderr)
        return 2
    clock = pacing_clock(settings, speed=args.speed, start=args.start)
    year = local_date(args.start if args.start is not None else clock.now()).year
    reports, truth = simulate_year(catalog, year=year, seed=args.seed)
    log.info("simulating %d indicator reports of %d, seed %d", len(reports), year, args.seed)
    if args.truth is not None:
        args.truth.write_bytes(orjson.dumps(truth.to_json(), option=orjson.OPT_INDENT_2))
        log.info("wrote the indicators' truth to %s", args.truth)
    if args.out is not None:
        args.out.write_bytes(b"".join(report.value + b"\n" for report in reports))
        log.info("wrote %d indicator reports to %s", len(reports), args.out)
        return 0
    topic = Topics.for_settings(settings).indicators
    try:
        producer = await start_producer(settings)
    except GovpulseError as exc:
        print(f"govpulse simulate: error: {exc}", file=sys.stderr)
        return 1
    try:
        for report in reports:
            while not args.no_pace and (wait := (report.sent_at - clock.now()) / max(clock.speed, 1e-9)) > 0:
                await producer.flush()
                await asyncio.sleep(min(wait, 1.0))
            await producer.send(topic, report.value, key=report.key)
        await producer.flush()
    finally:
        await producer.stop()
    return 0


def _check(args: argparse.Namespace) -> str | None:
    if args.days is not None and args.days <= 0:
        return "--days must be > 0"
    if (args.truth is not None or args.print_truth) and args.days is None:
        return "--truth and --print-truth need a bounded run: add --days N"
    if args.out is not None and args.days is None:
        return "--out needs a bounded run: add --days N"
    if args.via == "http" and not args.api_key:
        return "--via http needs --api-key (create one with `govpulse apikey create --name simulator`)"
    if args.via == "http" and args.out is not None:
        return "--out writes a file; leave out --via http"
    if args.speed is not None and args.speed <= 0:
        return "--speed must be > 0"
    if args.rate < 0 or args.task_rate < 0:
        return "--rate and --task-rate must be >= 0"
    for option, value in (
        ("--invalid-rate", args.invalid_rate),
        ("--hostile-rate", args.hostile_rate),
    ):
        if not 0.0 <= value <= 1.0:
            return f"{option} {value:g} must be between 0 and 1 (a share of messages)"
    return None


def _instant(text: str) -> float:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 instant, e.g. 2026-11-26T00:00:00+07:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +07:00")
    return value.timestamp()
