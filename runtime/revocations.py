"""Revoked board tokens, in Redis: the CLI writes them, the web node checks them.

One key per revoked token id (``jti``), ``board:revoked:<jti>``, that expires with the token
itself (a revoked token that has expired anyway needs no entry), so the set never grows
past the tokens still alive. The web node checks it when a page authenticates, and every
``GOVPULSE_WS_REVOCATION_CHECK`` for the tokens of its open sessions (one ``MGET``), which
it then closes with 4401 (``web/revocation_watch.py``, docs/operations.md "Kiosk walls").
"""

from __future__ import annotations

import math
from collections.abc import Collection

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.errors import ServiceError

KEY_PREFIX = "board:revoked:"


class RevocationUnavailable(ServiceError):
    """Redis did not answer a revocation read or write."""


class Revocations:
    """The revoked token ids.

    Args:
        client: a ``redis.asyncio.Redis`` (the board store's client will do).
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def revoke(self, token_id: str, *, expires_at: float, now: float) -> bool:
        """Revoke ``token_id`` until the token expires. False when it has expired already.

        Raises:
            RevocationUnavailable: Redis is down.
        """
        if expires_at <= now:
            return False
        try:
            await self.client.set(KEY_PREFIX + token_id, b"1", exat=math.ceil(expires_at) + 1)
        except RedisError as exc:
            raise RevocationUnavailable(f"cannot revoke the token: Redis failed ({exc})") from exc
        return True

    async def revoked(self, token_id: str) -> bool:
        """Whether ``token_id`` was revoked.

        Raises:
            RevocationUnavailable: Redis is down.
        """
        try:
            return bool(await self.client.exists(KEY_PREFIX + token_id))
        except RedisError as exc:
            raise RevocationUnavailable(f"cannot check revoked tokens: Redis failed ({exc})") from exc

    async def revoked_among(self, token_ids: Collection[str]) -> set[str]:
        """The ids in ``token_ids`` that were revoked (one round trip, whatever their number).

        Raises:
            RevocationUnavailable: Redis is down.
        """
        if not token_ids:
            return set()
        ids = list(token_ids)
        try:
            found = await self.client.mget([KEY_PREFIX + token_id for token_id in ids])
        except RedisError as exc:
            raise RevocationUnavailable(f"cannot check revoked tokens: Redis failed ({exc})") from exc
        return {token_id for token_id, value in zip(ids, found, strict=True) if value is not None}
