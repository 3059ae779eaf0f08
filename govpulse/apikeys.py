"""``govpulse apikey``: create, list and revoke API keys (stored hashed in Redis).

Examples::

    govpulse apikey create --name portal-1022 --rate 200/s
    govpulse apikey create --name ward-ben-thanh --units P-BEN-THANH
    govpulse apikey list
    govpulse apikey revoke --name portal-1022

The key itself is printed once, by ``create``; only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import sys
import time

from api.errors import ApiKeyError
from api.keys import ApiKey, check_name, hash_secret, new_secret, parse_rate, parse_units
from api.store import ApiStore
from domain.catalog import Catalog
from runtime.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the actions of ``govpulse apikey`` to ``parser``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who holds it, e.g. portal-1022 (unique)")
    create.add_argument(
        "--units",
        action="append",
        default=[],
        help="unit codes the key may write for and read (comma-separated or repeated; "
        "a unit covers its descendants); default: every unit",
    )
    create.add_argument(
        "--rate",
        default=None,
        help="requests per second per API process, e.g. 200/s (default GOVPULSE_API_DEFAULT_RATE)",
    )
    actions.add_parser("list", help="list keys (names, units, rates; never the keys)")
    revoke = actions.add_parser("revoke", help="revoke a key by name (stops working within 5 s)")
    revoke.add_argument("--name", required=True)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``govpulse apikey``; exit code 0, or 1 when there is no such key to revoke."""
    catalog = Catalog.from_file(settings.units_file)
    store = ApiStore.from_url(settings.redis_target, catalog)
    try:
        if args.action == "create":
            key_secret = new_secret()
            key = ApiKey(
                name=check_name(args.name),
                key_hash=hash_secret(key_secret),
                units=parse_units(args.units, catalog),
                rate=parse_rate(args.rate) if args.rate else settings.api.default_rate,
                created_at=time.time(),
            )
            await store.add_key(key)
            print(key_secret)
            print(
                f"key {key.name!r} created: units {key.scope_text()}, {key.rate:g} requests/s. "
                f"It is shown only now; store it safely.",
                file=sys.stderr,
            )
            return 0
        if args.action == "list":
            for key in await store.keys():
                print(f"{key.name}\t{key.scope_text()}\t{key.rate:g}/s")
            return 0
        if not await store.revoke(check_name(args.name)):
            print(f"govpulse apikey: no key named {args.name!r} (`govpulse apikey list`)", file=sys.stderr)
            return 1
        print(f"key {args.name!r} revoked", file=sys.stderr)
        return 0
    except ApiKeyError as exc:
        print(f"govpulse apikey: error: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
