"""``govpulse token``: mint a board token for a person or a screen, or revoke one.

People sign what they do: leader and unit tokens need ``--subject`` (the person's name as
the thread and the acknowledgement show it, e.g. ``"Nguyễn Văn A"``); a wall token defaults
to ``"Màn hình phòng điều hành"``. The token is printed on stdout, its id and expiry on stderr (keep
them to revoke it later). ``--revoke TOKEN`` (or ``--revoke-id JTI --until EPOCH``) puts the
token's id on the revoked list in Redis until it expires: the web nodes then refuse it when
a page connects and close the sessions already open with it within
``GOVPULSE_WS_REVOCATION_CHECK`` (docs/operations.md "Kiosk walls").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from domain.errors import ConfigError
from runtime.settings import Settings, require_secret

WALL_SUBJECT = "Màn hình phòng điều hành"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``govpulse token``."""
    parser.add_argument("--scope", help="wall | leader | unit:<CODE>")
    parser.add_argument("--ttl", default="8h", help="lifetime, e.g. 8h (default) or 30d for a wall")
    parser.add_argument(
        "--subject",
        "--sub",
        dest="subject",
        help='who holds it, shown on the board and recorded on commands (e.g. "Nguyễn Văn A"); '
        "required for leader and unit tokens",
    )
    parser.add_argument("--revoke", metavar="TOKEN", help="revoke this token instead of minting one")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Mint (or revoke) a token; the result on stdout, its id and expiry on stderr."""
    from domain.catalog import Catalog
    from domain.durations import parse_duration
    from web.auth import mint_token, parse_scope, read_token_id, verify_token

    secret = require_secret(settings)
    now = time.time()
    if args.revoke:
        token_id, expires_at = read_token_id(secret, args.revoke)
        revoked = asyncio.run(_revoke(settings, token_id, expires_at, now))
        print(
            f"revoked token {token_id}" if revoked else f"token {token_id} has expired already; nothing to do"
        )
        return 0
    if not args.scope:
        raise ConfigError("give --scope (wall | leader | unit:<CODE>), or --revoke TOKEN")
    catalog = Catalog.from_file(settings.units_file)
    scope = parse_scope(args.scope, unit_exists=catalog.__contains__)
    subject = args.subject
    if not subject:
        if scope.kind != "wall":
            raise ConfigError(f'a {scope.text} token needs --subject "<the person\'s name>"')
        subject = WALL_SUBJECT
    token = mint_token(
        secret,
        scope=scope.text,
        ttl_seconds=parse_duration(args.ttl, name="--ttl"),
        subject=subject,
        now=now,
        unit_exists=catalog.__contains__,
    )
    claims = verify_token(secret, token, now=now)
    print(token)
    print(
        f"token id {claims.token_id}, {claims.scope.text} for {claims.subject!r}, expires "
        f"{time.strftime('%d/%m/%Y %H:%M UTC', time.gmtime(claims.expires_at))}",
        file=sys.stderr,
    )
    return 0


async def _revoke(settings: Settings, token_id: str, expires_at: float, now: float) -> bool:
    import redis.asyncio as aioredis

    from runtime.revocations import Revocations

    client = aioredis.Redis.from_url(settings.redis_target, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await Revocations(client).revoke(token_id, expires_at=expires_at, now=now)
    finally:
        await client.aclose()
