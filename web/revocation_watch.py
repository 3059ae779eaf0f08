"""Close open sessions whose token was revoked (``govpulse token --revoke``).

The web node already refuses a revoked token when a page connects; this watch also cuts the
sessions that were open before. Every ``GOVPULSE_WS_REVOCATION_CHECK`` it looks up the token
ids of this node's open sessions on the revoked list in Redis (one ``MGET`` for all of them,
see :mod:`runtime.revocations`) and closes each session holding a revoked token with 4401
``unauthorized: revoked``: the page forgets the token and says how to get a new one. Other
sessions, including other screens with other tokens, stay.

Polling rather than a pub/sub channel: the revoked list in Redis stays the only truth (a
node that was restarted, or missed a message, still finds every revocation), and a node
with many sessions costs one round trip per interval. When Redis does not answer, sessions
stay as they are (the board is marked stale anyway) and the check resumes with Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from runtime.revocations import Revocations, RevocationUnavailable
from web import protocol
from web.metrics import WebMetrics

log = logging.getLogger(__name__)

REVOKED_REASON = "unauthorized: revoked"


class Closable(Protocol):
    """The part of a websocket connection the watch uses."""

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class RevocationWatch:
    """The open sessions of one node by token id, and the task that cuts revoked ones.

    Args:
        revocations: the revoked list.
        interval: seconds between checks; 0 or less never starts the task.
        metrics: the node's metrics (sessions cut, checks Redis did not answer).
    """

    def __init__(self, revocations: Revocations, *, interval: float, metrics: WebMetrics) -> None:
        self.revocations = revocations
        self.interval = interval
        self.metrics = metrics
        self._open: dict[str, dict[Closable, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def add(self, token_id: str, connection: Closable, ident: int) -> None:
        """Watch ``connection`` (session ``ident``), authenticated with ``token_id``."""
        self._open.setdefault(token_id, {})[connection] = ident

    def discard(self, token_id: str, connection: Closable) -> None:
        """Stop watching ``connection`` (it closed)."""
        held = self._open.get(token_id)
        if held is None:
            return
        held.pop(connection, None)
        if not held:
            del self._open[token_id]

    @property
    def watched(self) -> int:
        """How many sessions are watched."""
        return sum(len(held) for held in self._open.values())

    async def check(self) -> int:
        """Close every watched session whose token is revoked; how many were closed.

        Raises:
            RevocationUnavailable: Redis is down (nothing is closed).
        """
        revoked = await self.revocations.revoked_among(list(self._open))
        closing: list[tuple[Closable, int, str]] = []
        for token_id in revoked:
            for connection, ident in self._open.pop(token_id, {}).items():
                closing.append((connection, ident, token_id))
        for _, ident, token_id in closing:
            log.info("session #%d: token %s was revoked; closing 4401", ident, token_id)
        self.metrics.revoked_sessions.inc(len(closing))
        await asyncio.gather(
            *(connection.close(protocol.CLOSE_UNAUTHORIZED, REVOKED_REASON) for connection, _, _ in closing),
            return_exceptions=True,
        )
        return len(closing)

    async def start(self) -> None:
        """Start checking every ``interval`` seconds (nothing when the interval is 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="revocation-watch")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self._open:
                continue
            try:
                await self.check()
            except RevocationUnavailable as exc:
                self.metrics.revocation_check_failures.inc()
                if not self._failing:
                    log.warning("cannot check open sessions for revoked tokens; keeping them (%s)", exc)
                self._failing = True
            except Exception:
                log.error("revocation check failed; trying again", exc_info=True)
            else:
                if self._failing:
                    log.info("checking open sessions for revoked tokens again")
                self._failing = False
