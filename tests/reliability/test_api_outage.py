"""Outages under HTTP ingest. The broker: the API answers 503 (with Retry-After) while it
is away, recovers by itself, and every event it answered 202 is on the broker. Redis
restarted empty: the API keys come back from a running node's copy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from runtime import services
from runtime.topics import create_topics
from tests.reliability.conftest import KillableRedis
from tests.support.apitools import create_key, received, start_api
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_broker_outage_answers_503_and_loses_nothing_answered_202(redis_url: str, tmp_path: Path) -> None:
    port = services.free_port()
    broker = services.start_tansu(port, log_dir=tmp_path / "broker")
    stack = Stack(broker_port=port, redis_url=redis_url, workdir=tmp_path / "stack")
    api = start_api({**stack.env, "GOVPULSE_API_SEND_TIMEOUT": "2s"}, tmp_path / "logs")
    secret = create_key(stack.settings, "portal-1022")
    answered: list[tuple[float, int, list[str]]] = []  # (when sent, status, item ids)
    stop = threading.Event()

    def post_forever() -> None:
        with httpx.Client(
            base_url=api.base, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as client:
            batch = 0
            while not stop.is_set():
                ids = [f"PA-{batch}-{i}" for i in range(10)]
                body = [received(item, f"e-{item}", at="2026-11-26T09:30:00+07:00") for item in ids]
                sent = time.monotonic()
                response = client.post("/api/v1/events", json=body)
                answered.append((sent, response.status_code, ids))
                if response.status_code == 503:
                    assert response.headers["retry-after"] == "5"
                    assert "send the same request again" in response.json()["detail"]
                    # A client would wait Retry-After; the test keeps the same batch for the retry
                    # after the restart below.
                    continue
                assert response.status_code == 202, response.text
                # Refused events were released: the retry produces them ("accepted").
                assert {r["status"] for r in response.json()["results"]} == {"accepted"}
                batch += 1
                time.sleep(0.05)

    poster = threading.Thread(target=post_forever, daemon=True)
    try:
        poster.start()
        time.sleep(2)
        before = {r.key.decode() for r in stack.read(stack.topics.feedback)}
        accepted_before = {i for _, status, ids in list(answered) if status == 202 for i in ids}
        assert accepted_before and accepted_before <= before

        broker.kill()
        # Requests sent from now on can only be acknowledged by the restarted broker (the
        # in-memory one took what it had acknowledged before with it).
        killed_at = time.monotonic()
        deadline = time.monotonic() + 20
        while not any(status == 503 for _, status, _ in answered):
            assert time.monotonic() < deadline, "no 503 within 20 s of the broker's death"
            time.sleep(0.2)
        time.sleep(3)  # a few more refused attempts

        broker = services.start_tansu(port, log_dir=tmp_path / "broker-restarted")
        asyncio.run(create_topics(stack.settings))  # the in-memory broker came back empty
        deadline = time.monotonic() + 60
        while not any(when > killed_at and status == 202 for when, status, _ in answered):
            assert time.monotonic() < deadline, f"no 202 within 60 s of the restart:\n{api.log()}"
            time.sleep(0.2)
        time.sleep(2)
    finally:
        stop.set()
        poster.join(30)
        api.stop()

    refused = [ids for when, status, ids in answered if status == 503]
    after = {i for when, status, ids in answered if when > killed_at and status == 202 for i in ids}
    on_broker = {r.key.decode() for r in stack.read(stack.topics.feedback)}
    broker.stop()

    assert refused, "the outage was never answered 503"
    assert after, "nothing was accepted after the restart"
    assert after <= on_broker, sorted(after - on_broker)[:10]
    # The batch refused during the outage was retried and accepted (released, not "duplicate").
    assert set(refused[-1]) <= after


def test_keys_survive_a_redis_restart_while_an_api_node_runs(
    broker: services.Service, own_redis: KillableRedis, tmp_path: Path
) -> None:
    stack = Stack(broker_port=broker.port, redis_url=own_redis.url, workdir=tmp_path / "stack")
    api = start_api(stack.env, tmp_path / "logs")
    secret = create_key(stack.settings, "portal-1022")
    revoked = create_key(stack.settings, "old-portal")
    try:
        with httpx.Client(
            base_url=api.base, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as client:
            assert client.get("/api/v1/items/PA-1").status_code == 404  # the key works
            subprocess.run(
                [sys.executable, "-m", "govpulse.cli", "apikey", "revoke", "--name", "old-portal"],
                env={**stack.env, "PATH": "/usr/bin:/bin"},
                check=True,
                capture_output=True,
            )
            time.sleep(6)  # the node's copy follows the revocation

            own_redis.restart()  # empty: no keys, no board

            deadline = time.monotonic() + 30
            while (status := client.get("/api/v1/items/PA-1").status_code) != 404:
                assert status in (401, 503), status
                assert time.monotonic() < deadline, f"the key was not restored within 30 s:\n{api.log()}"
                time.sleep(0.5)
            old = client.get("/api/v1/items/PA-1", headers={"Authorization": f"Bearer {revoked}"})
    finally:
        api.stop()

    assert old.status_code == 401  # a revoked key is not brought back
    assert "restored 1 keys from this node's copy" in api.log(200)
