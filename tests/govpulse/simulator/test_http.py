"""``govpulse simulate --via http``: the whole pipeline driven through the HTTP API.

The integration test runs the simulator's command against a real API process, a real
worker, broker and Redis, and compares the board's gauges with the oracle's truth. The
unit tests drive :class:`HttpSender` against a real (tiny) HTTP server of canned answers.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from domain.errors import ServiceError
from domain.events import format_instant
from govpulse.simulator import command
from govpulse.simulator.http import HttpSender
from govpulse.simulator.oracle import Truth
from runtime.board import UNITS_KEY
from tests.support.apitools import create_key, start_api
from tests.support.harness import START, exact_env
from tests.support.stack import Stack, wait_for


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.integration
def test_simulate_via_http_drives_the_pipeline_to_the_board(
    broker: Any, redis_url: str, tmp_path: Path
) -> None:
    days = 0.3
    end = START + days * 86400
    stack = Stack(broker_port=broker.port, redis_url=redis_url, workdir=tmp_path, env=exact_env(end))
    worker = stack.start_worker()
    api = start_api(stack.env, tmp_path / "logs")
    try:
        key = create_key(stack.settings, "simulator")
        truth_path = tmp_path / "truth.json"
        args = parse(
            "--via", "http", "--api-url", api.base, "--api-key", key, "--days", str(days),
            "--start", format_instant(START), "--rate", "600", "--no-pace", "--invalid-rate", "0.01",
            "--truth", str(truth_path),
        )  # fmt: skip
        assert asyncio.run(command.run(stack.settings, args)) == 0
        truth = Truth.load(truth_path)
        expected = {node: g["open"] for node, g in truth.gauges.items() if g["open"]}
        assert sum(expected.values()) > 20

        client = redis.Redis.from_url(redis_url)

        def board_open() -> dict[str, int] | None:
            found = {}
            for code, raw in client.hgetall(UNITS_KEY).items():
                opened = orjson.loads(raw).get("gauges", {}).get("open", 0)
                if opened:
                    found[code.decode()] = opened
            return found if found == expected else None

        try:
            wait_for(board_open, timeout=90, what="the board's open gauges to equal the truth")
        finally:
            client.close()
        records = stack.read(stack.topics.feedback) + stack.read(stack.topics.tasks)
        assert {r.header("govpulse.api_key") for r in records} == {"simulator"}
        malformed = sum(n for name, n in truth.rejected_by.items() if name == "InvalidEvent")
        assert len(records) == truth.events - malformed  # the API refused exactly the malformed ones
    finally:
        api.stop()
        stack.stop()
        print(stack.log(worker, 20) if worker.running else "")


# -- the sender against canned answers -----------------------------------------------------


class Canned:
    """A real HTTP server on a free port answering the queued responses in order."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = answers
        self.bodies: list[Any] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                canned.bodies.append(orjson.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status, headers, body = canned.answers.pop(0)
                payload = orjson.dumps(body)
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slept() -> Iterator[list[float]]:
    yield []


def run_sender(canned: Canned, values: list[bytes], slept: list[float]) -> HttpSender:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> HttpSender:
        async with httpx.AsyncClient(base_url=canned.url) as client:
            sender = HttpSender(client, sleep=sleep)
            await sender.send(values)
            return sender

    try:
        return asyncio.run(main())
    finally:
        canned.close()


def test_refused_events_are_dropped_and_the_rest_resent(slept: list[float]) -> None:
    canned = Canned(
        [
            (422, {}, {"errors": [{"index": 1, "reason": "x"}]}),
            (202, {}, {"accepted": 2, "duplicates": 0, "results": []}),
        ]
    )
    sender = run_sender(canned, [b'{"a":0}', b'{"a":1}', b'{"a":2}'], slept)

    assert canned.bodies == [[{"a": 0}, {"a": 1}, {"a": 2}], [{"a": 0}, {"a": 2}]]
    assert (sender.accepted, sender.rejected, sender.requests) == (2, 1, 2)


def test_429_503_and_in_flight_wait_for_retry_after_and_resend_the_same(slept: list[float]) -> None:
    canned = Canned(
        [
            (429, {"Retry-After": "2"}, {"detail": "slow down"}),
            (503, {"Retry-After": "5"}, {"detail": "broker"}),
            (409, {"Retry-After": "1"}, {"type": "urn:govpulse:problem:in-flight"}),
            (202, {}, {"accepted": 0, "duplicates": 1, "results": []}),
        ]
    )
    sender = run_sender(canned, [b'{"a":0}'], slept)

    assert slept == [2.0, 5.0, 1.0]
    assert canned.bodies == [{"a": 0}] * 4
    assert (sender.accepted, sender.duplicates) == (0, 1)


def test_a_reused_event_id_or_a_bad_key_stops_the_run(slept: list[float]) -> None:
    with pytest.raises(ServiceError, match="reused event ids"):
        run_sender(
            Canned([(409, {}, {"type": "urn:govpulse:problem:conflict", "detail": "d"})]), [b"{}"], slept
        )
    with pytest.raises(
        ServiceError, match="the API answered 401: unknown key; check --api-url and --api-key"
    ):
        run_sender(Canned([(401, {}, {"detail": "unknown key"})]), [b"{}"], slept)


def test_via_http_needs_a_key() -> None:
    assert command._check(parse("--via", "http")) == (
        "--via http needs --api-key (create one with `govpulse apikey create --name simulator`)"
    )
    time.sleep(0)
