"""The web node against hostile clients: tokens, scopes, origins, command floods.

Real web node in-process (its log records are captured with ``caplog``), real websocket
clients, and for commands a real broker whose ``gov.commands`` topic is read back.
Every refusal must be exact (close code and reason, or error frame), leak nothing of
other units, and be logged without the token.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from runtime import services
from runtime.board import BoardStore
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics
from tests.support.webtools import (
    SECRET,
    UNIT_A,
    UNIT_B,
    WebNode,
    alert_change,
    open_client,
    queue_change,
    quiet,
    recv,
    recv_data,
    running_node,
    token,
    unit_change,
    web_environ,
)
from web import protocol
from web.auth import AUDIENCE, mint_token, signing_key

pytestmark = pytest.mark.integration


def claims(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "scope": "leader",
        "sub": "mallory",
        "aud": AUDIENCE,
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def signed(payload: dict[str, Any], *, algorithm: str = "HS256", key: bytes | str | None = None) -> str:
    with warnings.catch_warnings():  # PyJWT warns about short keys for HS512
        warnings.simplefilter("ignore")
        return jwt.encode(payload, signing_key(SECRET) if key is None else key, algorithm=algorithm)


def unsigned(alg: str) -> str:
    """A token with ``alg: none`` (or a variant) and no signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims())}."


# (token factory, close reason suffix, logged reason)
REFUSED: dict[str, tuple[Callable[[], str], str, str]] = {
    "wrong signature": (
        lambda: mint_token(
            "another-secret-of-some-length",
            scope="leader",
            ttl_seconds=60,
            subject="mallory",
            now=time.time(),
        ),
        "signature",
        "bad signature",
    ),
    "raw secret as key": (lambda: signed(claims(), key=SECRET * 2), "signature", "bad signature"),
    "expired": (lambda: token("leader", ttl=60, now=time.time() - 120), "expired", "expired "),
    "malformed": (lambda: "not.a.jwt", "invalid", "malformed token"),
    "garbage": (lambda: "garbage", "invalid", "malformed token"),
    "alg none": (lambda: unsigned("none"), "invalid", "invalid token (InvalidAlgorithmError)"),
    "alg None": (lambda: unsigned("None"), "invalid", "invalid token (InvalidAlgorithmError)"),
    "alg HS512": (
        lambda: signed(claims(), algorithm="HS512"),
        "invalid",
        "invalid token (InvalidAlgorithmError)",
    ),
    "wrong audience": (lambda: signed(claims(aud="another-service")), "invalid", "wrong audience"),
    "no expiry": (lambda: signed(claims(exp=None)), "invalid", "missing claim 'exp'"),
    "unknown unit": (
        lambda: mint_token(
            SECRET, scope="unit:P-NOWHERE", ttl_seconds=60, subject="mallory", now=time.time()
        ),
        "scope",
        "scope 'unit:P-NOWHERE': unit P-NOWHERE is not in the unit catalog",
    ),
    "unknown scope": (
        lambda: signed(claims(scope="admin")),
        "scope",
        "scope 'admin' must be 'wall', 'leader' or 'unit:<CODE>'",
    ),
}


def metric(node: WebNode, line_start: str) -> float:
    with urllib.request.urlopen(f"{node.base}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> tuple[list[Any], int | None, str | None]:
    """Frames received before the server closed, and the close code and reason."""
    frames: list[Any] = []
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), timeout))
    except Exception:  # ConnectionClosed, or a timeout when it never closes
        pass
    return frames, ws.close_code, ws.close_reason


def assert_no_token_in(text: str, secret_token: str) -> None:
    assert secret_token not in text
    for segment in secret_token.split("."):
        if len(segment) >= 8:
            assert segment not in text, f"a token segment was logged: {segment[:12]}…"


# -- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_refused_token_closes_4401_sends_nothing_and_is_logged_without_the_token(
    node: WebNode, store: BoardStore, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    make, kind, reason = REFUSED[case]
    bad = make()
    await store.publish([unit_change(UNIT_A), alert_change("fa", UNIT_A), queue_change("PA-1", UNIT_A)])
    before = await asyncio.to_thread(metric, node, f'govpulse_web_auth_failures_total{{reason="{kind}"}}')
    caplog.set_level(logging.INFO, logger="web")

    ws = await open_client(node, bad, raw_token=True)
    frames, code, close_reason = await closed_with(ws)

    assert (frames, code, close_reason) == (
        [],
        protocol.CLOSE_UNAUTHORIZED,
        f"unauthorized: {kind}",
    )
    refusals = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(refusals) == 1
    assert (
        refusals[0].startswith("session #")
        and f": authentication failed from 127.0.0.1: {reason}" in refusals[0]
    )
    assert_no_token_in(caplog.text, bad)
    assert_no_token_in(close_reason or "", bad)
    after = await asyncio.to_thread(metric, node, f'govpulse_web_auth_failures_total{{reason="{kind}"}}')
    assert after == before + 1


async def test_the_cli_web_node_does_not_log_tokens_even_at_debug_level(
    redis_url: str, tmp_path: Any
) -> None:
    """The real entry point (logging configured by ``govpulse web``), websockets' own
    frame logging included: neither a refused nor an accepted token reaches the log."""
    environ = web_environ(redis_url, GOVPULSE_LOG_LEVEL="debug")
    log_path = tmp_path / "web.log"
    port = int(environ["GOVPULSE_WEB_PORT"])
    with open(log_path, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "govpulse.cli",
            "web",
            env={**_clean_env(), **environ},
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not services.port_open(port) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        node = WebNode(load_settings(environ), port)
        good = token("leader")
        bad = REFUSED["alg none"][0]()
        accepted = await open_client(node, good, raw_token=True)
        assert (await recv(accepted))["type"] == "snapshot"
        await accepted.send('{"type":"ack","alert":"nope","ref":"r1"}')
        await recv_data(accepted, 1)
        await accepted.close()
        refused = await open_client(node, bad, raw_token=True)
        _, code, _ = await closed_with(refused)
        assert code == protocol.CLOSE_UNAUTHORIZED
        await asyncio.sleep(0.3)
    finally:
        process.terminate()
        await process.wait()
    text = log_path.read_text()

    assert "authentication failed from 127.0.0.1: invalid token (InvalidAlgorithmError)" in text
    assert "leader (tester) view=None" in text  # the accepted session is logged too
    assert_no_token_in(text, good)
    assert_no_token_in(text, bad)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("GOVPULSE_")}


# -- scopes ----------------------------------------------------------------------------


@pytest.fixture
async def command_node(
    request: pytest.FixtureRequest, redis_url: str, broker: services.Service
) -> AsyncIterator[tuple[WebNode, str]]:
    """A web node producing commands to a real broker (topics of its own); the command
    burst is 3 unless the test passes another one (indirect parametrization)."""
    burst = getattr(request, "param", 3)
    environ = web_environ(
        redis_url,
        GOVPULSE_BROKER_URL=f"127.0.0.1:{broker.port}",
        GOVPULSE_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:8]}.",
        GOVPULSE_PARTITIONS="2",
        GOVPULSE_COMMAND_RATE="0.01",
        GOVPULSE_COMMAND_BURST=str(burst),
    )
    await create_topics(load_settings(environ))
    async with running_node(environ) as node:
        yield node, Topics.for_settings(node.settings).commands


async def read_topic(bootstrap: str, topic: str, *, settle: float = 1.5) -> list[dict[str, Any]]:
    """Every record of ``topic`` (reads until nothing new arrives for ``settle`` seconds)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[dict[str, Any]] = []
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < settle:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records += [orjson.loads(m.value or b"null") for m in messages]
                idle_since = time.monotonic()
        return records
    finally:
        await consumer.stop()


def mentions(frame: dict[str, Any], unit: str) -> bool:
    return unit in orjson.dumps(frame).decode()


@pytest.mark.parametrize("command_node", [100], indirect=True)
async def test_a_unit_scope_cannot_see_or_act_on_another_unit_and_each_refusal_is_logged(
    command_node: tuple[WebNode, str],
    store: BoardStore,
    broker: services.Service,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, topic = command_node
    await store.publish(
        [
            unit_change(UNIT_A),
            unit_change(UNIT_B),
            alert_change("fa", UNIT_A),
            alert_change("fb", UNIT_B),
            queue_change("PA-1", UNIT_A),
            queue_change("PB-1", UNIT_B),
        ]
    )
    caplog.set_level(logging.INFO, logger="web")
    unit_token = token(f"unit:{UNIT_A}")

    # Asking for another unit's queue at auth: an error frame, close 4403, nothing else.
    probing = await open_client(node, unit_token, raw_token=True, view=UNIT_B)
    frames, code, reason = await closed_with(probing)
    assert [orjson.loads(f) for f in frames] == [
        {
            "type": "error",
            "code": "forbidden",
            "message": f"scope unit:{UNIT_A} cannot view unit {UNIT_B}",
        }
    ]
    assert (code, reason) == (protocol.CLOSE_FORBIDDEN, "forbidden")

    ws = await open_client(node, unit_token, raw_token=True)
    snapshot = await recv(ws)
    assert not mentions(snapshot, UNIT_B) and mentions(snapshot, UNIT_A)
    await ws.send(orjson.dumps({"type": "view", "unit": UNIT_B}).decode())
    await ws.send('{"type":"ack","alert":"fb","ref":"1"}')
    await ws.send('{"type":"ack","alert":"fa","ref":"2"}')
    await ws.send('{"type":"explain","alert":"fb","text":"not mine","ref":"3"}')
    await ws.send('{"type":"explain","alert":"no-such-alert","text":"probe","ref":"4"}')
    replies = await recv_data(ws, 5)

    assert replies == [
        {
            "type": "error",
            "code": "forbidden",
            "message": f"scope unit:{UNIT_A} cannot view another unit",
        },
        {
            "type": "error",
            "code": "forbidden",
            "message": "only leaders acknowledge alerts",
            "ref": "1",
        },
        {
            "type": "error",
            "code": "forbidden",
            "message": "only leaders acknowledge alerts",
            "ref": "2",
        },
        # Another unit's alert and an unknown one get the same answer: no existence probe.
        {
            "type": "error",
            "code": "forbidden",
            "message": "a unit answers explanation requests on its own alerts only",
            "ref": "3",
        },
        {
            "type": "error",
            "code": "forbidden",
            "message": "a unit answers explanation requests on its own alerts only",
            "ref": "4",
        },
    ]
    # Nothing of unit B reaches this connection afterwards; its own changes still do.
    await store.publish(
        [unit_change(UNIT_B, overdue=9), alert_change("fb2", UNIT_B), queue_change("PB-2", UNIT_B)]
    )
    assert await quiet(ws, 0.5) == []
    (entry,) = await store.publish([queue_change("PA-2", UNIT_A)])
    (delta,) = await recv_data(ws, 1)
    assert (delta["seq"], delta["key"]) == (entry, "PA-2")
    await ws.close()

    logged = [
        r.getMessage() for r in caplog.records if r.name.startswith("web") and "refused" in r.getMessage()
    ]
    assert [line.split(": ", 1)[1] for line in logged] == [
        f"refused view={UNIT_B} for unit:{UNIT_A} (tester): forbidden",
        f"refused view={UNIT_B} for unit:{UNIT_A} (tester): forbidden",
        f"refused ack on alert='fb' for unit:{UNIT_A} (tester): forbidden",
        f"refused ack on alert='fa' for unit:{UNIT_A} (tester): forbidden",
        f"refused explain on alert='fb' for unit:{UNIT_A} (tester): forbidden",
        f"refused explain on alert='no-such-alert' for unit:{UNIT_A} (tester): forbidden",
    ]
    assert_no_token_in(caplog.text, unit_token)
    assert await read_topic(f"127.0.0.1:{broker.port}", topic) == []


# -- origins ---------------------------------------------------------------------------


FOREIGN_ORIGINS = (
    "http://evil.example",
    "null",
    "http://127.0.0.1",  # same host, another port
    "https://127.0.0.1:{port}",  # another scheme
    "http://127.0.0.1:{port}.evil.example",
    "http://localhost:{port}",
)


async def test_foreign_origins_are_refused_403_before_any_auth_and_logged(
    node: WebNode, caplog: pytest.LogCaptureFixture
) -> None:
    # One node for every origin: a node with refused handshakes takes ~1 s to stop.
    caplog.set_level(logging.INFO, logger="web")
    for origin in FOREIGN_ORIGINS:
        foreign = origin.format(port=node.port)

        with pytest.raises(InvalidStatus) as caught:
            await connect(node.ws_url, origin=foreign, open_timeout=5)  # type: ignore[arg-type]

        assert caught.value.response.status_code == 403, foreign
        assert f"refused /ws from origin {foreign!r} (GOVPULSE_ALLOWED_ORIGINS)" in caplog.text
    assert await asyncio.to_thread(metric, node, "govpulse_web_auth_failures_total") == 0.0


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "HTTP://127.0.0.1:{port}/", None])
async def test_the_configured_origin_and_clients_without_origin_are_accepted(
    node: WebNode, origin: str | None
) -> None:
    ws = await open_client(node, "wall", origin=origin.format(port=node.port) if origin else None)

    assert (await recv(ws))["type"] == "snapshot"
    await ws.close()


async def test_allowed_origins_replace_the_public_url(redis_url: str) -> None:
    environ = web_environ(
        redis_url, GOVPULSE_ALLOWED_ORIGINS="https://board.hcm.gov.vn, https://wall.hcm.gov.vn/"
    )
    async with running_node(environ) as node:
        for allowed in ("https://board.hcm.gov.vn", "https://wall.hcm.gov.vn"):
            ws = await open_client(node, "wall", origin=allowed)
            assert (await recv(ws))["type"] == "snapshot"
            await ws.close()
        with pytest.raises(InvalidStatus) as caught:
            await connect(node.ws_url, origin=node.base, open_timeout=5)  # type: ignore[arg-type]
        assert caught.value.response.status_code == 403


# -- command flood -----------------------------------------------------------------------


async def test_commands_above_the_burst_are_rate_limited_and_never_reach_gov_commands(
    command_node: tuple[WebNode, str],
    store: BoardStore,
    broker: services.Service,
) -> None:
    node, topic = command_node
    await store.publish([alert_change("fa", UNIT_A)])
    ws = await open_client(node, "leader")
    await recv(ws)

    for n in range(8):
        kind = "ack" if n % 2 == 0 else "explain"
        await ws.send(orjson.dumps({"type": kind, "alert": "fa", "text": "Vì sao?", "ref": f"r{n}"}).decode())
    replies = await recv_data(ws, 8, timeout=20)
    await ws.close()

    assert [(r["type"], r.get("code"), r["ref"]) for r in replies] == [
        ("accepted", None, "r0"),
        ("accepted", None, "r1"),
        ("accepted", None, "r2"),
        *[("error", "rate_limited", f"r{n}") for n in range(3, 8)],
    ]
    records = await read_topic(f"127.0.0.1:{broker.port}", topic)
    assert {r["command_id"]: r["type"] for r in records} == {
        replies[0]["command_id"]: "ack",
        replies[1]["command_id"]: "explain_request",
        replies[2]["command_id"]: "ack",
    }
