"""Revoking a token cuts the sessions already open with it: a real web node, a real Redis,
real websocket clients and the real ``govpulse token --revoke`` command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from runtime import services
from runtime.board import BoardStore
from runtime.revocations import Revocations
from tests.support.webtools import (
    SECRET,
    UNIT_A,
    UNIT_B,
    open_client,
    recv,
    recv_data,
    running_node,
    token,
    unit_change,
    web_environ,
)
from web.auth import verify_token

pytestmark = pytest.mark.integration


async def revoke_with_the_cli(redis_url: str, wall_token: str) -> str:
    environ = {**os.environ, "GOVPULSE_REDIS_URL": redis_url, "GOVPULSE_SECRET": SECRET}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govpulse.cli",
        "token",
        "--revoke",
        wall_token,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


def read_metrics(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def closed_with(ws: ClientConnection, timeout: float) -> tuple[int | None, str | None]:
    """Read until the server closes (within ``timeout`` seconds); return (code, reason)."""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


async def test_revoking_a_token_closes_its_open_sessions_4401_and_the_others_stay(
    redis_url: str, store: BoardStore
) -> None:
    await store.publish([unit_change(UNIT_A)])
    revoked_token, kept_token = token("wall", subject="wall A"), token("wall", subject="wall B")
    environ = web_environ(redis_url, GOVPULSE_WS_REVOCATION_CHECK="500ms")
    async with running_node(environ) as node:
        walls = [await open_client(node, revoked_token, raw_token=True) for _ in range(2)]
        other = await open_client(node, kept_token, raw_token=True)
        leader = await open_client(node, "leader")
        for ws in [*walls, other, leader]:
            assert (await recv(ws))["type"] == "snapshot"

        printed = await revoke_with_the_cli(redis_url, revoked_token)
        revoked_at = time.monotonic()
        closed = [await closed_with(ws, timeout=5) for ws in walls]
        took = time.monotonic() - revoked_at
        await store.publish([unit_change(UNIT_B, overdue=2)])
        (seen_by_other,) = await recv_data(other, 1)
        (seen_by_leader,) = await recv_data(leader, 1)
        again = await open_client(node, revoked_token, raw_token=True)
        refused = await closed_with(again, timeout=5)
        metrics = await asyncio.to_thread(read_metrics, node.base)
        await other.close()
        await leader.close()

    token_id = verify_token(SECRET, revoked_token, now=time.time()).token_id
    assert printed == f"revoked token {token_id}\n"
    assert closed == [(4401, "unauthorized: revoked")] * 2
    assert took < 5
    assert (seen_by_other["key"], seen_by_leader["key"]) == (UNIT_B, UNIT_B)
    assert refused == (4401, "unauthorized: revoked")
    assert "govpulse_web_revoked_sessions_total 2.0" in metrics


async def test_sessions_stay_open_while_redis_cannot_be_asked_and_are_cut_once_it_can(
    tmp_path: Path,
) -> None:
    redis_service = services.start_redis(services.free_port(), log_dir=tmp_path)
    url = f"redis://127.0.0.1:{redis_service.port}/0"
    wall_token = token("wall")
    try:
        async with running_node(web_environ(url, GOVPULSE_WS_REVOCATION_CHECK="200ms")) as node:
            ws = await open_client(node, wall_token, raw_token=True)
            assert (await recv(ws))["type"] == "snapshot"

            redis_service.kill()
            with pytest.raises(TimeoutError):
                await closed_with(ws, timeout=2)  # heartbeats go on; the session is kept

            redis_service = services.start_redis(redis_service.port, log_dir=tmp_path)
            claims = verify_token(SECRET, wall_token, now=time.time())
            assert claims.token_id is not None
            store = BoardStore.from_url(url)
            try:
                await Revocations(store.client).revoke(
                    claims.token_id, expires_at=claims.expires_at, now=time.time()
                )
            finally:
                await store.close()
            assert await closed_with(ws, timeout=10) == (4401, "unauthorized: revoked")
            metrics = await asyncio.to_thread(read_metrics, node.base)
        failures = re.search(r"^govpulse_web_revocation_check_failures_total (\S+)$", metrics, re.M)
        assert failures is not None and float(failures.group(1)) >= 1
    finally:
        redis_service.kill()
