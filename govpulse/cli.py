"""The ``govpulse`` command line.

Every sub-command reads its settings from ``GOVPULSE_*`` variables (``govpulse settings``
lists them); options only choose what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence

from domain.errors import GovpulseError
from govpulse import tokens
from runtime.settings import OPTIONS, Settings, load_settings, settings_markdown

DESCRIPTION = """govpulse: real-time stream processing and alerting for a city's execution-governance
system. Citizen feedback and assigned tasks flow in on Kafka; govpulse tracks every item
against its deadline, counts per unit, raises due-soon / overdue / escalation alerts the
moment they happen, and serves a live board over websockets."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``govpulse`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
        return int(args.handler(settings, args) or 0)
    except GovpulseError as exc:
        print(f"govpulse {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    from govpulse import apikeys, replay
    from govpulse import report as report_command
    from govpulse.simulator import command as simulate

    parser = argparse.ArgumentParser(
        prog="govpulse", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    dev = commands.add_parser(
        "dev",
        help="run the whole embedded stack: broker, Redis, worker, web, simulator (what `make run` starts)",
        description="Start Tansu (unless GOVPULSE_BROKER_URL is set), Redis (unless GOVPULSE_REDIS_URL "
        "is set), one worker, the web server and the simulator; print the board URLs once the first "
        "event is processed; Ctrl-C stops everything.",
    )
    dev.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    dev.add_argument("--speed", type=float, default=None, help="accelerated clock speed (default 120)")
    dev.add_argument(
        "--history-days",
        type=float,
        default=2.0,
        help="simulated days of traffic before now, replayed at start (default 2)",
    )
    dev.set_defaults(handler=_dev)

    worker = commands.add_parser(
        "worker",
        help="run a stream-processing worker (Faust)",
        description="Run one Faust worker of the consumer group GOVPULSE_APP_ID.",
    )
    worker.set_defaults(handler=_worker)

    web = commands.add_parser(
        "web",
        help="run a web node: board pages and the /ws websocket",
        description="Serve /, /leader, /unit/<code>, /ws, /healthz and /metrics.",
    )
    web.set_defaults(handler=_web)

    from govpulse import notifycmd

    notify = commands.add_parser(
        "notify",
        help="run a notifier: routes gov.alerts to webhooks, e-mail and Web Push",
        description="Consume gov.alerts in the consumer group <GOVPULSE_APP_ID>-notify and deliver "
        "notifications as GOVPULSE_ROUTES_FILE says (docs/notifications.md).",
    )
    notifycmd.add_arguments(notify)
    notify.set_defaults(handler=notifycmd.handle)

    sim = commands.add_parser(
        "simulate",
        help="produce realistic traffic (or write it to JSONL)",
        description="Generate realistic feedback and tasks over the unit catalog.",
    )
    simulate.add_arguments(sim)
    sim.set_defaults(handler=lambda s, a: asyncio.run(simulate.run(s, a)))

    rep = commands.add_parser(
        "replay",
        help="send recorded events (JSONL) to the topics",
        description="Validate each line of FILE.jsonl and send the valid ones; "
        "prints a summary of sent and rejected lines.",
    )
    replay.add_arguments(rep)
    rep.set_defaults(handler=lambda s, a: asyncio.run(replay.run(s, a)))

    report = commands.add_parser(
        "report",
        help="a closed period's report (XLSX, CSV or JSON) from gov.reports",
        description="Write the report of a closed 1022 month, quarter or year (docs/reports.md).",
    )
    report_command.add_arguments(report)
    report.set_defaults(handler=lambda s, a: asyncio.run(report_command.run(s, a)))

    token = commands.add_parser(
        "token",
        help="mint a signed board token",
        description="Mint a token for the board (signed with GOVPULSE_SECRET).",
    )
    tokens.add_arguments(token)
    token.set_defaults(handler=tokens.run)

    stats = commands.add_parser(
        "stats",
        help="print the current counters of one or all units",
        description="Read the board's unit counters from Redis and print a table.",
    )
    stats.add_argument("--unit", help="one unit code (default: all units)")
    stats.add_argument("--window", default="1d", help="window: 5m, 1h, 1d or period (default 1d)")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(handler=_stats)

    indicators = commands.add_parser(
        "indicators",
        help="print the indicator set, red first",
        description="Read the indicator rows from Redis (docs/indicators.md) and print a table.",
    )
    indicators.add_argument("--unit", help="the indicators one unit answers for (default: all)")
    indicators.add_argument("--status", help="red, orange, green or grey (default: all)")
    indicators.add_argument("--json", action="store_true", help="print JSON instead of a table")
    indicators.set_defaults(handler=_indicators)

    topics = commands.add_parser(
        "topics",
        help="create the topics (idempotent)",
        description="Create every govpulse topic with GOVPULSE_PARTITIONS partitions.",
    )
    topics.set_defaults(handler=_topics)

    silence = commands.add_parser(
        "silence",
        help="silence alerts of a unit and/or rule for a while",
        description="Send a silence command (as a leader) to every partition.",
    )
    silence.add_argument("--unit", help="unit code (default: any)")
    silence.add_argument("--rule", help="rule name, e.g. unit_surge (default: any)")
    silence.add_argument("--for", dest="duration", default="2h", help="duration (default 2h)")
    silence.add_argument("--reason", default="", help="why (shown on the board)")
    silence.add_argument("--by", default="cli", help="who silences")
    silence.set_defaults(handler=_silence)

    api = commands.add_parser(
        "api",
        help="run the HTTP ingest API (REST /api/v1, Open311, OpenAPI at /api/openapi.json)",
        description="Serve the HTTP API on GOVPULSE_API_HOST:GOVPULSE_API_PORT (docs/api.md).",
    )
    api.set_defaults(handler=_api)

    apikey = commands.add_parser(
        "apikey",
        help="create, list or revoke API keys",
        description="Manage the keys of the HTTP API (stored hashed in Redis).",
    )
    apikeys.add_arguments(apikey)
    apikey.set_defaults(handler=lambda s, a: asyncio.run(apikeys.run(s, a)))

    conf = commands.add_parser("settings", help="list the GOVPULSE_* settings and their values")
    conf.add_argument("--markdown", action="store_true", help="print the documentation table")
    conf.set_defaults(handler=_settings)
    return parser


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    from govpulse import dev

    return dev.run(
        settings, simulator=not args.no_simulator, speed=args.speed, history_days=args.history_days
    )


#: Cyclic-GC thresholds of the long-running processes. CPython's default (700 allocations
#: per young collection) makes a worker spend ~20 % of its CPU in the collector once its
#: tables hold many objects: measured on the item and unit stages over 128,000 simulated
#: events, 83 µs/event by default, 65 µs/event with these, 59 µs/event with GC off.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move everything imported so far out of the collector's sight (``gc.freeze``) and
    collect young objects less often. Reference counting still frees almost everything
    at once; only cycles wait a little longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from runtime import logs
    from runtime.topics import create_topics

    logs.configure(settings.log_level)
    asyncio.run(create_topics(settings))
    tune_gc()
    if settings.event_loop == "uvloop":
        import mode.loop

        mode.loop.use("uvloop")
    from stream.app import Pipeline

    return Pipeline(settings).run(loglevel=settings.log_level if settings.log_level != "warning" else "warn")


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from runtime import logs
    from web import server

    logs.configure(settings.log_level)
    tune_gc()
    server.run(settings)
    return 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from api import server
    from runtime import logs

    logs.configure(settings.log_level)
    tune_gc()
    server.run(settings)
    return 0


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from govpulse.stats import print_stats

    return asyncio.run(print_stats(settings, unit=args.unit, window=args.window, as_json=args.json))


def _indicators(settings: Settings, args: argparse.Namespace) -> int:
    from govpulse.indicators import print_indicators

    return asyncio.run(print_indicators(settings, unit=args.unit, status=args.status, as_json=args.json))


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from runtime.topics import create_topics

    created = asyncio.run(create_topics(settings))
    print(f"{len(created)} topics created" + (f": {', '.join(created)}" if created else " (all existed)"))
    return 0


def _silence(settings: Settings, args: argparse.Namespace) -> int:
    from alerts.model import RuleName
    from domain.durations import parse_duration
    from govpulse.commands import send_silence

    if not args.unit and not args.rule:
        print("govpulse silence: give --unit and/or --rule", file=sys.stderr)
        return 2
    rule = None
    if args.rule:
        try:
            rule = RuleName(args.rule)
        except ValueError:
            print(
                f"govpulse silence: --rule {args.rule!r} is not a rule; use one of: {', '.join(RuleName)}",
                file=sys.stderr,
            )
            return 2
    silence_id = asyncio.run(
        send_silence(
            settings,
            unit=args.unit,
            rule=rule,
            seconds=parse_duration(args.duration, name="--for"),
            reason=args.reason,
            by=args.by,
        )
    )
    print(f"silence {silence_id} sent")
    return 0


def _settings(settings: Settings, args: argparse.Namespace) -> int:

    if args.markdown:
        print(settings_markdown())
        return 0
    for option in OPTIONS:
        value = settings.environ.get(option.env, option.default)
        if option.env == "GOVPULSE_SECRET" and value:
            value = "(set)"
        print(f"{option.env}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
