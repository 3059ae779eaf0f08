"""Revoked board tokens, in Redis: the CLI writes them, the web node checks them.

One key per revoked token id (``jti``), ``board:revoked:<jti>``, that expires with the token
itself (a revoked token that has expired anyway needs no entry), so the set never grows
past the tokens still alive. The web node checks it when a page authenticates; a page
already connected with the token keeps its session until it reconnects (docs/operations.md
"Kiosk walls").
"""

from __future__ import annotations

import math

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
