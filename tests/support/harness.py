"""What the reliability tests share: workloads with their truth, and checks against it.

A :class:`Workload` is fixed-seed simulator traffic plus what an independent sequential
execution (:class:`~govpulse.simulator.oracle.Oracle`) says must come of it: every
counter cell, and how many times each item became overdue (= how many overdue alert
incidents it must open). The checks read what the deployment produced — the changelogs
and ``gov.alerts`` on the broker, the board in Redis — and return a list of differences
(empty: exact), so tests can poll them and print the first differences on failure.
"""

from __future__ import annotations

import copy
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from alerts.model import Alert
from domain.catalog import Catalog
from domain.events import format_instant, parse_instant
from domain.items import COUNTERS, Kind, apply_tick, decode_item, item_summary
from govpulse.simulator.model import TASK, Message, Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle, Truth, counter_windows
from runtime.board import ALERTS_KEY, FEED_KEY, QUEUE_PREFIX, UNITS_KEY
from runtime.services import Service
from runtime.settings import Settings
from stream.gauges import queue_view
from stream.metrics import WindowRecord
from tests.support.stack import Stack

START = parse_instant("2026-12-01T00:00:00+07:00")  # a Tuesday, local midnight

# One in three feedback items is urgent (hours-long SLA), so a two-day run has about a
# hundred breaches to alert on instead of a dozen.
URGENT_SHARE = 0.3

_RECOVERED = re.compile(r"partitions \[([\d, ]*)\] recovered: rebuilt deadline index for (\d+) items")


def exact_env(end: float) -> dict[str, str]:
    """Worker settings for exact comparisons: the clock pinned at ``end`` (deadline ticks
    then fire as event time passes them), and every window kept for the comparison."""
    return {
        "GOVPULSE_CLOCK": "fixed",
        "GOVPULSE_CLOCK_START": format_instant(end),
        "GOVPULSE_WINDOW_RETENTION": "5m=400d,1h=400d,1d=400d,period=400d",
    }


@dataclass(frozen=True)
class Workload:
    """Fixed-seed traffic and its truth.

    Attributes:
        messages: in event-time order, as producers send them.
        truth: the oracle's counters and breaches as of ``end``.
        overdue: item id -> times it became overdue (overdue alert incidents it opens).
        end: the instant the truth is taken at (the workers' fixed clock).
    """

    messages: tuple[Message, ...]
    truth: Truth
    overdue: Mapping[str, int]
    end: float

    def parts(self, count: int) -> list[Sequence[Message]]:
        """The messages cut into ``count`` consecutive, nearly equal parts."""
        size = -(-len(self.messages) // count)
        return [self.messages[i : i + size] for i in range(0, len(self.messages), size)]


def workload(settings: Settings, *, seed: int, days: float, items_per_day: float) -> Workload:
    """Simulator traffic from :data:`START` for ``days`` and the oracle's truth at its end.

    ``days`` should not be whole: the board shows the windows that contain the clock's
    instant, and one that just started would be empty.
    """
    end = START + days * 86400
    oracle = Oracle.from_settings(settings)
    traffic = Traffic(
        oracle.policy.catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(
            seed=seed, items_per_day=items_per_day, tasks_per_day=40, urgent_share=URGENT_SHARE
        ),
    )
    messages = tuple(traffic.messages(START, until=end))
    overdue: Counter[str] = Counter()
    for message in messages:
        overdue.update(t.item_id for t in oracle.feed_message(message) if t.kind is Kind.OVERDUE)
    # finish() ticks every item to the end; do the same on copies to see which breach then.
    for item in copy.deepcopy(oracle.items).values():
        outcome = apply_tick(item, end, oracle.policy)
        overdue.update(t.item_id for t in outcome.transitions if t.kind is Kind.OVERDUE)
    truth = oracle.finish(end)
    root = oracle.policy.catalog.root
    assert sum(overdue.values()) == truth.totals.get(root, {}).get("became_overdue", 0)
    assert set(overdue) == set(truth.breaches)
    return Workload(messages, truth, dict(overdue), end)


def produce(stack: Stack, messages: Sequence[Message]) -> int:
    """Send simulator messages to the stack's input topics, in order."""
    t = stack.topics
    return stack.produce((t.tasks if m.kind == TASK else t.feedback, m.key, m.value) for m in messages)


# -- counters ------------------------------------------------------------------------------


def counters(stack: Stack) -> dict[str, dict[str, int]]:
    """Non-zero counters of every metrics table cell, from its changelog."""
    out = {}
    for key, raw in stack.table("metrics").items():
        counts = {name: n for name, n in WindowRecord.decode(raw).counts.items() if n}
        if counts:
            out[key.decode()] = counts
    return out


def counter_problems(truth: Truth, actual: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Cells where the metrics table differs from the truth."""
    problems = []
    for key in sorted(set(truth.counters) | set(actual)):
        expected = {k: v for k, v in truth.counters.get(key, {}).items() if v}
        got = dict(actual.get(key, {}))
        if expected != got:
            problems.append(f"{key}: expected {expected}, got {got}")
    return problems


# -- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueAlerts:
    """Opened ``item_overdue`` alerts on ``gov.alerts``.

    Attributes:
        incidents: item id -> distinct (fingerprint, incident, opened_at) opened for it. A
            redelivered ``opened`` repeats all three; a resolved alert purged after its
            retention opens its next breach as incident 1 again, at another instant.
        opened: every ``opened`` record, duplicates included (at-least-once delivery).
    """

    incidents: Mapping[str, frozenset[tuple[str, int, float]]]
    opened: int


def overdue_alerts(stack: Stack) -> OverdueAlerts:
    incidents: dict[str, set[tuple[str, int, float]]] = {}
    opened = 0
    for record in stack.read(stack.topics.alerts):
        data: dict[str, Any] = record.json()
        alert = data["alert"]
        if alert["rule"] == "item_overdue" and data["type"] == "opened":
            opened += 1
            incident = (alert["fingerprint"], alert["incident"], alert["opened_at"])
            incidents.setdefault(alert["item_id"], set()).add(incident)
    return OverdueAlerts({k: frozenset(v) for k, v in incidents.items()}, opened)


def alert_problems(load: Workload, found: OverdueAlerts) -> list[str]:
    """Items whose overdue alert incidents (after dedup) differ from their breaches."""
    problems = []
    for item_id in sorted(set(load.overdue) | set(found.incidents)):
        expected = load.overdue.get(item_id, 0)
        got = sorted(found.incidents.get(item_id, ()))
        if len(got) != expected or len({fp for fp, _, _ in got}) > 1:
            problems.append(f"{item_id}: became overdue {expected}x, opened incidents {got}")
    return problems


# -- worker logs ---------------------------------------------------------------------------


def recoveries(worker: Service) -> list[tuple[tuple[int, ...], int]]:
    """Each "partitions [...] recovered: rebuilt deadline index for N items" line of a worker
    log, as (partitions, N)."""
    text = worker.log_path.read_text(errors="replace")
    out = []
    for match in _RECOVERED.finditer(text):
        partitions = tuple(int(p) for p in match.group(1).split(",") if p.strip())
        out.append((partitions, int(match.group(2))))
    return out


# -- the board -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Everything the board hashes hold, decoded."""

    units: Mapping[str, dict[str, Any]]
    alerts: Mapping[str, dict[str, Any]]
    queues: Mapping[str, Mapping[str, dict[str, Any]]]
    feed_last: str

    @classmethod
    def read(cls, url: str) -> Board:
        client: Any = redis.Redis.from_url(url, socket_timeout=5)
        try:
            units = {k.decode(): orjson.loads(v) for k, v in client.hgetall(UNITS_KEY).items()}
            alerts = {k.decode(): orjson.loads(v) for k, v in client.hgetall(ALERTS_KEY).items()}
            queues: dict[str, dict[str, dict[str, Any]]] = {}
            for key in client.scan_iter(match=QUEUE_PREFIX + "*", count=1000):
                entries = {k.decode(): orjson.loads(v) for k, v in client.hgetall(key).items()}
                if entries:
                    queues[key.decode().removeprefix(QUEUE_PREFIX)] = entries
            last = client.xrevrange(FEED_KEY, "+", "-", count=1)
        finally:
            client.close()
        return cls(units, alerts, queues, last[0][0].decode() if last else "0-0")


@dataclass(frozen=True)
class WorkerState:
    """What the workers hold, rebuilt from the changelogs: the board it implies."""

    queues: Mapping[str, Mapping[str, dict[str, Any]]]
    gauges: Mapping[str, dict[str, Any]]
    alerts: Mapping[str, dict[str, Any]]

    @classmethod
    def read(cls, stack: Stack, catalog: Catalog) -> WorkerState:
        queues: dict[str, dict[str, dict[str, Any]]] = {}
        gauges: dict[str, dict[str, Any]] = {
            code: {"open": 0, "overdue": 0, "due_soon": 0, "oldest_open_at": None} for code in catalog.units
        }
        for raw in stack.table("items").values():
            item = decode_item(raw)
            if item.is_open:
                # Through JSON, as the board stores it.
                queues.setdefault(item.unit, {})[item.item_id] = orjson.loads(
                    orjson.dumps(item_summary(item))
                )
            view = queue_view(item)
            if view is None:
                continue
            for node in catalog.lineage(view.unit):
                gauge = gauges[node]
                gauge["open"] += 1
                gauge["overdue"] += view.overdue
                gauge["due_soon"] += view.due_soon
                if gauge["oldest_open_at"] is None or view.received_at < gauge["oldest_open_at"]:
                    gauge["oldest_open_at"] = view.received_at
        alerts = {}
        for key, raw in stack.table("alerts").items():
            alert = Alert.decode(raw)
            if alert.active:
                alerts[key.decode()] = orjson.loads(orjson.dumps(alert.to_board(catalog)))
        return cls(queues, gauges, alerts)


def board_problems(
    board: Board, state: WorkerState, load: Workload, settings: Settings, catalog: Catalog
) -> list[str]:
    """Where the board differs from the truth: unit counters of the windows containing the
    clock's instant (oracle), gauges, alerts and queues (what the workers hold)."""
    problems = []
    missing_units = sorted(set(catalog.units) - set(board.units))
    if missing_units:
        problems.append(f"board:units lacks {len(missing_units)} units, e.g. {missing_units[:5]}")
    specs = counter_windows(settings)
    for code, unit in sorted(board.units.items()):
        for spec in specs:
            window = unit["windows"][spec.name]
            start = spec.start(load.end)
            expected = {name: load.truth.counter(code, spec.name, start, name) for name in COUNTERS}
            got = {name: window[name] for name in COUNTERS}
            if window["start"] != start or got != expected:
                delta = {n: (expected[n], got[n]) for n in COUNTERS if expected[n] != got[n]}
                problems.append(f"unit {code} window {spec.name}@{window['start']}: (truth, board) {delta}")
        if unit["gauges"] != state.gauges[code]:
            problems.append(f"unit {code} gauges: workers {state.gauges[code]}, board {unit['gauges']}")
    for fp in sorted(set(state.alerts) | set(board.alerts)):
        if state.alerts.get(fp) != board.alerts.get(fp):
            problems.append(
                f"alert {fp}: workers {_short(state.alerts.get(fp))}, board {_short(board.alerts.get(fp))}"
            )
    for unit_code in sorted(set(state.queues) | set(board.queues)):
        held, shown = state.queues.get(unit_code, {}), board.queues.get(unit_code, {})
        if held != shown:
            missing = sorted(set(held) - set(shown))
            extra = sorted(set(shown) - set(held))
            stale = sorted(k for k in set(held) & set(shown) if held[k] != shown[k])
            problems.append(
                f"queue {unit_code}: missing {missing[:5]}, extra {extra[:5]}, differing {stale[:5]}"
            )
    return problems


def _short(value: Mapping[str, Any] | None) -> str:
    if value is None:
        return "absent"
    return f"{value.get('state')}/{value.get('severity')}/esc{value.get('escalation')}"


def trace(stack: Stack, items: set[str], *, limit: int = 60) -> str:
    """What the internal topics and ``gov.alerts`` say about ``items`` (failure messages)."""
    lines = []
    for topic in (stack.topics.item_ticks, stack.topics.signals, stack.topics.alerts):
        for record in sorted(stack.read(topic), key=lambda r: (r.partition, r.offset)):
            data = record.json()
            item = data.get("item_id") or data.get("alert", {}).get("item_id")
            if item in items:
                if "alert" in data:
                    alert = data["alert"]
                    data = {
                        "type": data["type"],
                        "at": data["at"],
                        "incident": alert["incident"],
                        "state": alert["state"],
                        "opened_at": alert["opened_at"],
                    }
                else:
                    data.pop("facts", None)
                lines.append(f"{topic.rsplit('.', 1)[-1]}@{record.partition}:{record.offset} {data}"[:300])
    return "\n".join(lines[:limit])


def dump(stack: Stack, directory: Path) -> Path:
    """Write every topic of the stack (inputs, internal, changelogs) as JSON lines for a
    post-mortem; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [
        *stack.topics.all(),
        *(stack.changelog(t) for t in ("items", "metrics", "gauges", "alerts")),
    ]
    for name in names:
        with (directory / f"{name}.jsonl").open("wb") as out:
            for r in sorted(stack.read(name, timeout=30), key=lambda r: (r.partition, r.offset)):
                out.write(
                    orjson.dumps(
                        {
                            "p": r.partition,
                            "o": r.offset,
                            "k": (r.key or b"").decode(errors="replace"),
                            "v": (r.value or b"").decode(errors="replace"),
                            "h": {k: v.decode(errors="replace") for k, v in r.headers},
                        }
                    )
                    + b"\n"
                )
    return directory


def settle(
    check: Callable[[], list[str]], *, timeout: float, stable_for: float, interval: float
) -> list[str]:
    """Poll ``check`` until it finds no differences; give up after ``timeout`` seconds, or
    once the same differences persisted ``stable_for`` seconds (nothing is moving).
    Returns the last differences found."""
    deadline = time.monotonic() + timeout
    last: list[str] | None = None
    since = time.monotonic()
    while True:
        found = check()
        if not found:
            return found
        now = time.monotonic()
        if found != last:
            last, since = found, now
        if now > deadline or now - since > stable_for:
            return found
        time.sleep(interval)


def board_differences(stack: Stack, redis_url: str, catalog: Catalog, load: Workload) -> list[str]:
    """How the board in Redis differs from what the workers hold and the oracle expects."""
    board = Board.read(redis_url)
    return board_problems(board, WorkerState.read(stack, catalog), load, stack.settings, catalog)
