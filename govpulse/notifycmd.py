"""``govpulse notify``: run a notifier, or check a routes file."""

from __future__ import annotations

import argparse

from runtime.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="only validate GOVPULSE_ROUTES_FILE and print its routes and receivers",
    )


def handle(settings: Settings, args: argparse.Namespace) -> int:
    from notify.routes import all_routes, load_routes

    routes = load_routes(settings.routes_file)
    if args.check:
        print(f"routes file {settings.routes_file}: ok")
        for route in all_routes(routes.route):
            print(
                f"  {route.path}: receiver={route.receiver} group_by={','.join(route.group_by)} "
                f"group_wait={route.group_wait:g}s group_interval={route.group_interval:g}s "
                f"repeat_interval={route.repeat_interval:g}s active_hours={route.active_hours}"
                + (" continue" if route.continue_ else "")
            )
        for receiver in routes.receivers.values():
            print(f"  receiver {receiver.name}: {receiver.kind}")
        return 0
    import asyncio

    from notify import app
    from runtime import logs
    from runtime.topics import create_topics

    logs.configure(settings.log_level)
    asyncio.run(create_topics(settings))
    app.run(settings)
    return 0
