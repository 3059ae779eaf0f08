"""``govpulse simulate --via http``: send the simulated messages through the HTTP API.

Batches of up to ``batch`` events go to ``POST /api/v1/events``, one request at a time
(the order of an item's events is kept, as on a Kafka partition). Refusals are handled
as an integrator should: a 422 lists the invalid events, which are counted as rejected
(the worker would have dead-lettered them) and the rest of the batch is sent again; 429,
503 and a 409 "in flight" wait for ``Retry-After`` and send the same request again (a
retry creates nothing new: the API is idempotent by ``event_id``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from domain.errors import ServiceError
from govpulse.simulator.model import Message
from runtime.clock import Clock

log = logging.getLogger(__name__)

#: Attempts of one request before giving up (429/503/409 in flight, connection errors).
MAX_ATTEMPTS = 30


@dataclass(frozen=True, slots=True)
class PostReport:
    """What a run through the API did."""

    sent: int
    accepted: int
    duplicates: int
    rejected: int
    requests: int
    seconds: float


class HttpSender:
    """Posts batches to the API and handles its answers.

    Args:
        client: an ``httpx.AsyncClient`` with the API's base URL and the key header.
        sleep: injected for tests.
    """

    def __init__(
        self, client: httpx.AsyncClient, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.client = client
        self.sleep = sleep
        self.accepted = self.duplicates = self.rejected = self.requests = 0

    async def send(self, values: list[bytes]) -> None:
        """Send ``values`` (event JSON bytes) in one request, dropping refused ones."""
        pending = values
        for _ in range(MAX_ATTEMPTS):
            if not pending:
                return
            body = pending[0] if len(pending) == 1 else b"[" + b",".join(pending) + b"]"
            try:
                response = await self.client.post(
                    "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as exc:
                log.warning("API unreachable (%s); retrying in 1 s", exc)
                await self.sleep(1.0)
                continue
            self.requests += 1
            status = response.status_code
            if status == 202:
                answer = response.json()
                self.accepted += int(answer["accepted"])
                self.duplicates += int(answer["duplicates"])
                return
            if status == 422:
                errors = response.json().get("errors") or []
                refused = {e["index"] for e in errors if e.get("index") is not None}
                for error in errors[:3]:
                    log.debug("refused: %s", error.get("reason"))
                if not refused:  # the body as a whole (only one event in it)
                    self.rejected += len(pending)
                    return
                self.rejected += len(refused)
                pending = [value for index, value in enumerate(pending) if index not in refused]
                continue
            if status in (409, 429, 503):
                problem = _json(response)
                if status == 409 and problem.get("type", "").endswith(":conflict"):
                    raise ServiceError(f"the API refused reused event ids: {problem.get('detail')}")
                wait = float(response.headers.get("retry-after", "1"))
                log.info("API answered %d (%s); retrying in %g s", status, problem.get("detail"), wait)
                await self.sleep(wait)
                continue
            raise ServiceError(
                f"the API answered {status}: {_json(response).get('detail') or response.text[:200]}; "
                f"check --api-url and --api-key"
            )
        raise ServiceError(f"the API did not accept a batch after {MAX_ATTEMPTS} attempts")


async def post(
    messages: Iterable[Message],
    *,
    url: str,
    key: str,
    clock: Clock | None = None,
    pace: bool = True,
    batch: int = 100,
    observe: Callable[[Message], Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> PostReport:
    """Send ``messages`` through the API at ``url`` with API key ``key``.

    Args:
        messages: in ``occurred_at`` order.
        clock: the clock to pace by (required when ``pace``): a batch goes once its
            last message is due, and a message waits until it is due.
        batch: most events per request (the API allows 1,000).

    Raises:
        ServiceError: the API refused the key or kept failing.
    """
    if pace and clock is None:
        raise ValueError("pacing needs a clock")
    began = time.monotonic()
    sent = 0
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=60.0
    ) as client:
        sender = HttpSender(client, sleep=sleep)
        values: list[bytes] = []
        for message in messages:
            if pace and values:
                assert clock is not None
                if message.occurred_at > clock.now():
                    await sender.send(values)
                    values = []
            if pace:
                assert clock is not None
                while (wait := (message.occurred_at - clock.now()) / max(clock.speed, 1e-9)) > 0:
                    await sleep(min(wait, 1.0))
            value = message.value
            if _is_json(value):
                values.append(value)
            else:  # alone, so that it does not spoil the batch's JSON
                await sender.send(values)
                values = []
                await sender.send([value])
            sent += 1
            if observe is not None:
                observe(message)
            if len(values) >= batch:
                await sender.send(values)
                values = []
        await sender.send(values)
    seconds = time.monotonic() - began
    log.info(
        "done: sent %d messages through the API in %d requests (%.1fs): %d accepted, %d duplicates, "
        "%d rejected",
        sent,
        sender.requests,
        seconds,
        sender.accepted,
        sender.duplicates,
        sender.rejected,
    )
    return PostReport(sent, sender.accepted, sender.duplicates, sender.rejected, sender.requests, seconds)


def _is_json(value: bytes) -> bool:
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return True


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        decoded = response.json()
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}
