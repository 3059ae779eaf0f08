"""``govpulse replay FILE.jsonl``: send recorded events to the input topics.

Each non-blank line is one event (the format ``govpulse simulate --out`` writes, or a
dump of the topics). Lines are validated with :func:`domain.events.parse_event`; valid
lines are sent with their original bytes unchanged (unknown fields included), keyed by
``item_id``, to ``gov.tasks`` for ``NV-…`` items and ``gov.feedback`` otherwise (or to
``--topic``). Invalid lines are not sent; the summary lists the first of them with the
reason. Exit codes: 0 done, 1 the broker failed, 2 the file cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from tqdm import tqdm

from domain.errors import GovpulseError, InvalidEvent, ServiceError
from domain.events import parse_event
from govpulse.simulator.runner import kind_of, start_producer, topic_for
from runtime.settings import Settings
from runtime.topics import Topics, create_topics

log = logging.getLogger(__name__)

#: Rejected lines listed in the summary.
SHOW_REJECTED = 10
_IN_FLIGHT = 2000


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did: counts, and the first rejected lines with their reasons."""

    sent: int = 0
    rejected: int = 0
    blank: int = 0
    first_rejected: list[tuple[int, str]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"sent {self.sent}, rejected {self.rejected}"]
        for number, reason in self.first_rejected:
            lines.append(f"  line {number}: {reason}")
        if self.rejected > len(self.first_rejected):
            lines.append(f"  … and {self.rejected - len(self.first_rejected)} more")
        return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``govpulse replay`` to ``parser``."""
    parser.add_argument("file", type=Path, help="JSONL file, one event per line")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="events per second (default: as fast as the broker takes them)",
    )
    parser.add_argument(
        "--topic",
        default=None,
        help="send every event to this topic (full name, no prefix added) instead of "
        "gov.feedback / gov.tasks by item id",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``govpulse replay``; return the exit code."""
    path: Path = args.file
    rate: float | None = args.rate
    if rate is not None and rate <= 0:
        print("govpulse replay: error: --rate must be > 0 events per second", file=sys.stderr)
        return 2
    try:
        total = _count_lines(path)
    except OSError as exc:
        print(f"govpulse replay: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        summary = await replay(
            path,
            settings,
            rate=rate,
            topic=args.topic,
            total=total,
            ensure_topics=args.topic is None,
        )
    except GovpulseError as exc:
        print(f"govpulse replay: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"govpulse replay: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0


async def replay(
    path: Path,
    settings: Settings,
    *,
    rate: float | None = None,
    topic: str | None = None,
    total: int | None = None,
    ensure_topics: bool = True,
) -> ReplaySummary:
    """Validate and send the lines of ``path``; see the module docstring.

    Args:
        rate: events per second at most (``None``: no limit).
        topic: one topic for every event instead of the input topics.
        total: number of lines, for the progress bar.
        ensure_topics: create missing govpulse topics first.

    Raises:
        ServiceError: the broker is unreachable or refuses the messages.
        OSError: the file cannot be read.
    """
    topics = Topics.for_settings(settings)
    summary = ReplaySummary()
    producer = await start_producer(settings)
    if ensure_topics:
        try:
            await create_topics(settings, timeout=10.0)
        except BaseException:
            await producer.stop()
            raise
    pending: list[asyncio.Future[Any]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def settle() -> None:
        if pending:
            try:
                await asyncio.gather(*pending)
            except KafkaError as exc:
                raise ServiceError(
                    f"broker {settings.broker_bootstrap} refused messages: {exc}; check "
                    f"GOVPULSE_BROKER_URL and the topic names"
                ) from None
            pending.clear()

    try:
        with path.open("rb") as handle, tqdm(total=total, unit="line", desc=path.name) as bar:
            for number, line in enumerate(handle, start=1):
                bar.update(1)
                value = line.rstrip(b"\r\n")
                if not value.strip():
                    summary.blank += 1
                    continue
                try:
                    event = parse_event(value, max_bytes=settings.max_event_bytes)
                except InvalidEvent as exc:
                    summary.rejected += 1
                    if len(summary.first_rejected) < SHOW_REJECTED:
                        summary.first_rejected.append((number, exc.reason))
                    log.debug("line %d rejected: %s", number, exc.reason)
                    continue
                if rate is not None:
                    wait = began + summary.sent / rate - loop.time()
                    if wait > 0:
                        await settle()
                        await asyncio.sleep(wait)
                target = topic or topic_for(kind_of(event.item_id), topics)
                pending.append(await producer.send(target, value, key=event.item_id.encode()))
                summary.sent += 1
                if len(pending) >= _IN_FLIGHT:
                    await settle()
        await settle()
    finally:
        await producer.stop()
    log.info("replayed %s: sent %d, rejected %d", path, summary.sent, summary.rejected)
    return summary


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
