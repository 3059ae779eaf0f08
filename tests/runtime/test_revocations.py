"""Revoked token ids in a real Redis: written until the token expires, read by the web node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runtime import services
from runtime.revocations import KEY_PREFIX, Revocations, RevocationUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_a_revoked_id_is_reported_until_the_token_expires(client: aioredis.Redis) -> None:
    now = time.time()
    revocations = Revocations(client)

    assert await revocations.revoke("wall-a", expires_at=now + 3600, now=now)

    assert await revocations.revoked("wall-a")
    assert not await revocations.revoked("wall-b")
    expire_at = await client.expiretime(KEY_PREFIX + "wall-a")
    assert now + 3600 < expire_at <= now + 3602


async def test_the_revoked_ids_among_many_are_found_in_one_call(client: aioredis.Redis) -> None:
    now = time.time()
    revocations = Revocations(client)
    await revocations.revoke("wall-c", expires_at=now + 60, now=now)
    await revocations.revoke("wall-d", expires_at=now + 60, now=now)

    assert await revocations.revoked_among(["wall-c", "leader-x", "wall-d", "wall-e"]) == {"wall-c", "wall-d"}
    assert await revocations.revoked_among([]) == set()


async def test_an_expired_token_needs_no_entry(client: aioredis.Redis) -> None:
    now = time.time()

    assert not await Revocations(client).revoke("wall-old", expires_at=now - 1, now=now)

    assert not await client.exists(KEY_PREFIX + "wall-old")


async def test_redis_down_is_a_clear_error() -> None:
    redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{services.free_port()}/0", socket_connect_timeout=1)
    try:
        with pytest.raises(RevocationUnavailable, match="cannot check revoked tokens: Redis failed"):
            await Revocations(redis).revoked("x")
        with pytest.raises(RevocationUnavailable, match="cannot check revoked tokens: Redis failed"):
            await Revocations(redis).revoked_among(["x"])
        with pytest.raises(RevocationUnavailable, match="cannot revoke the token: Redis failed"):
            await Revocations(redis).revoke("x", expires_at=time.time() + 60, now=time.time())
    finally:
        await redis.aclose()
