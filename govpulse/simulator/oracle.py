"""The ground truth: a sequential reference execution of the item state machine.

Independent of Kafka, batching, watermarks and recovery: messages are fed in order
through :func:`domain.events.parse_event` and :func:`domain.items.apply_event`, and at
the end :func:`domain.items.apply_tick` brings every item to the ``as_of`` instant. Every
:class:`~domain.items.Transition` then adds one, for each ``(unit, counter)`` of its
``counts``, at key ``(node, window, window start)`` for every node of the unit's lineage
and every configured window. The worker's counters must equal these, whatever happened
on the way (redelivery, crashes, rebalances).

:class:`Truth` is the result; :meth:`Truth.to_json` gives::

    {"as_of": 1764900000.0, "windows": ["5m", "1h", "1d", "period"],
     "counters": {"P-BEN-THANH|1d|1764090000": {"received": 3, "opened": 3}, ...},
     "latency": {"<same key>": [seconds, ...]}, "sla_used": {"<same key>": [share, ...]},
     "totals": {"HCM": {"received": 9000, ...}},
     "breaches": ["PA-2026-000123", ...], "escalations": {"PA-2026-000123": 2},
     "rejected": 3, "rejected_by": {"InvalidEvent": 2, "InvalidTransition": 1},
     "events": 41234, "applied": 41231, "duplicates": 0}

A key's window start is integer epoch seconds (windows align to local midnight, so
starts are whole seconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from alerts.config import RulesConfig
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.errors import InvalidEvent, InvalidTransition
from domain.events import Event, format_instant, parse_event
from domain.items import (
    DeadlinePolicy,
    Item,
    ItemKind,
    ItemPolicy,
    Kind,
    Transition,
    apply_event,
    apply_tick,
)
from domain.reports import DEFAULT_ANCHOR, Period, Report, build_month_reports, split_counters
from domain.sketch import Sketch
from domain.sla import SlaPolicy
from domain.windows import WindowSpec, window_specs
from govpulse.simulator.model import Message
from runtime.settings import Settings


def truth_key(node: str, window: str, start: float) -> str:
    """The key of one counter cell: ``"<node>|<window>|<start epoch seconds>"``."""
    whole = int(start)
    return f"{node}|{window}|{whole if whole == start else repr(start)}"


def split_key(key: str) -> tuple[str, str, float]:
    """Inverse of :func:`truth_key`."""
    node, window, start = key.rsplit("|", 2)
    return node, window, float(start)


@dataclass(frozen=True, slots=True)
class Truth:
    """What the counters, breaches and escalations must be after a run.

    Attributes:
        as_of: the instant every item was ticked to (epoch seconds).
        windows: window names counted.
        counters: ``truth_key(node, window, start)`` → counter → count.
        latency: same keys → resolution latencies (seconds, pauses excluded).
        sla_used: same keys → share of the unit's period used at resolution.
        totals: node → counter → count over the whole run (no windows).
        breaches: items that became overdue at least once (sorted).
        escalations: item → highest escalation step reached.
        rejected: messages rejected (invalid, or impossible for the item's state).
        rejected_by: rejected messages by error class name.
        events: messages fed.
        applied: messages applied (not rejected, not duplicates).
        duplicates: messages ignored as repeated event ids.
        gauges: node → ``{"open", "overdue", "due_soon"}`` as of ``as_of`` (items open
            or paused; overdue; due soon and not yet overdue), rolled up the lineage.
    """

    as_of: float
    windows: tuple[str, ...]
    counters: Mapping[str, Mapping[str, int]]
    latency: Mapping[str, Sequence[float]] = field(default_factory=dict)
    sla_used: Mapping[str, Sequence[float]] = field(default_factory=dict)
    totals: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    breaches: tuple[str, ...] = ()
    escalations: Mapping[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejected_by: Mapping[str, int] = field(default_factory=dict)
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    gauges: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: Report-month keys → handling times in working days of the items resolved there.
    work_days: Mapping[str, Sequence[float]] = field(default_factory=dict)

    def counter(self, node: str, window: str, start: float, name: str) -> int:
        """One cell of the counters (0 when absent)."""
        return self.counters.get(truth_key(node, window, start), {}).get(name, 0)

    def to_json(self) -> dict[str, Any]:
        """The truth as plain JSON types (see the module docstring)."""
        return {
            "as_of": self.as_of,
            "windows": list(self.windows),
            "counters": {key: dict(value) for key, value in self.counters.items()},
            "latency": {key: list(value) for key, value in self.latency.items()},
            "sla_used": {key: list(value) for key, value in self.sla_used.items()},
            "totals": {key: dict(value) for key, value in self.totals.items()},
            "breaches": list(self.breaches),
            "escalations": dict(self.escalations),
            "rejected": self.rejected,
            "rejected_by": dict(self.rejected_by),
            "events": self.events,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "gauges": {key: dict(value) for key, value in self.gauges.items()},
            "work_days": {key: list(value) for key, value in self.work_days.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Truth:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: ``data`` is not a truth document.
        """
        try:
            return cls(
                as_of=float(data["as_of"]),
                windows=tuple(data.get("windows", ())),
                counters={k: {c: int(n) for c, n in v.items()} for k, v in data["counters"].items()},
                latency={k: [float(x) for x in v] for k, v in data.get("latency", {}).items()},
                sla_used={k: [float(x) for x in v] for k, v in data.get("sla_used", {}).items()},
                totals={k: {c: int(n) for c, n in v.items()} for k, v in data.get("totals", {}).items()},
                breaches=tuple(data.get("breaches", ())),
                escalations={k: int(v) for k, v in data.get("escalations", {}).items()},
                rejected=int(data.get("rejected", 0)),
                rejected_by={k: int(v) for k, v in data.get("rejected_by", {}).items()},
                events=int(data.get("events", 0)),
                applied=int(data.get("applied", 0)),
                duplicates=int(data.get("duplicates", 0)),
                gauges={k: {c: int(n) for c, n in v.items()} for k, v in data.get("gauges", {}).items()},
                work_days={k: [float(x) for x in v] for k, v in data.get("work_days", {}).items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a truth document: {exc!r}") from None

    def save(self, path: Path) -> None:
        """Write the truth as JSON."""
        path.write_bytes(orjson.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> Truth:
        """Read a truth written by :meth:`save`."""
        return cls.from_json(orjson.loads(path.read_bytes()))

    def summary(self, catalog: Catalog | None = None, *, limit: int | None = None) -> str:
        """Per-unit totals as a text table, the root first, then the least on-time units.

        Args:
            catalog: adds unit names when given.
            limit: show at most this many units besides the root.
        """
        header = (
            f"{'unit':<30} {'received':>8} {'resolved':>8} {'on time':>7} {'late':>5} "
            f"{'overdue':>7} {'in':>5} {'out':>5} {'reopen':>6} {'cancel':>6} {'on-time':>7}"
        )
        lines = [
            f"ground truth as of {format_instant(self.as_of)}: {self.events} events, "
            f"{self.applied} applied, {self.rejected} rejected, {self.duplicates} duplicates; "
            f"{len(self.breaches)} items breached, {len(self.escalations)} escalated",
            header,
            "-" * len(header),
        ]
        root = catalog.root if catalog is not None else None

        def rate(counts: Mapping[str, int]) -> float:
            done = counts.get("resolved", 0)
            return counts.get("resolved_on_time", 0) / done if done else 1.0

        nodes = [node for node in self.totals if node != root]
        nodes.sort(key=lambda node: (rate(self.totals[node]), node))
        if limit is not None:
            nodes = nodes[:limit]
        if root is not None and root in self.totals:
            nodes.insert(0, root)
        for node in nodes:
            counts = self.totals[node]
            label = node
            if catalog is not None and node in catalog:
                label = f"{node} {catalog.get(node).name_vi}"
            done = counts.get("resolved", 0)
            share = f"{100 * rate(counts):.1f}%" if done else "-"
            lines.append(
                f"{label[:30]:<30} {counts.get('received', 0):>8} {done:>8} "
                f"{counts.get('resolved_on_time', 0):>7} {counts.get('resolved_late', 0):>5} "
                f"{counts.get('became_overdue', 0):>7} {counts.get('transferred_in', 0):>5} "
                f"{counts.get('transferred_out', 0):>5} {counts.get('reopened', 0):>6} "
                f"{counts.get('cancelled', 0):>6} {share:>7}"
            )
        return "\n".join(lines)


class Oracle:
    """Feeds messages through the state machine in order and counts every transition.

    Args:
        policy: the same item policy the worker uses (calendar, SLA, catalog, deadlines).
        windows: the counter windows (:func:`domain.windows.window_specs`).
        max_bytes: messages larger than this are rejected, as the worker does.
    """

    def __init__(self, policy: ItemPolicy, windows: Sequence[WindowSpec], *, max_bytes: int = 65536) -> None:
        self.policy = policy
        self.windows = tuple(windows)
        self.max_bytes = max_bytes
        self.items: dict[str, Item] = {}
        self._counters: dict[tuple[str, str, float], dict[str, int]] = {}
        self._latency: dict[tuple[str, str, float], list[float]] = {}
        self._sla_used: dict[tuple[str, str, float], list[float]] = {}
        self._work_days: dict[tuple[str, str, float], list[float]] = {}
        self._totals: dict[str, dict[str, int]] = {}
        self._breaches: set[str] = set()
        self._escalations: dict[str, int] = {}
        self._rejected_by: dict[str, int] = {}
        self.events = 0
        self.applied = 0
        self.duplicates = 0
        self._finished = False

    @classmethod
    def from_settings(cls, settings: Settings, *, deadlines: DeadlinePolicy | None = None) -> Oracle:
        """An oracle configured like the worker (catalog, SLA, calendar, windows, limits)."""
        return cls(
            item_policy(settings, deadlines=deadlines),
            counter_windows(settings),
            max_bytes=settings.max_event_bytes,
        )

    @property
    def rejected(self) -> int:
        return sum(self._rejected_by.values())

    def feed(self, value: bytes, *, kind: ItemKind = ItemKind.FEEDBACK) -> list[Transition]:
        """Apply one raw message of ``gov.feedback`` (``ItemKind.FEEDBACK``) or ``gov.tasks``.

        Returns the transitions it caused; a rejected message causes none.
        """
        try:
            event = parse_event(value, max_bytes=self.max_bytes)
        except InvalidEvent:
            self.events += 1
            self._reject("InvalidEvent")
            return []
        return self.feed_event(event, kind=kind)

    def feed_event(self, event: Event, *, kind: ItemKind = ItemKind.FEEDBACK) -> list[Transition]:
        """Apply one already-parsed event; see :meth:`feed`."""
        if self._finished:
            raise RuntimeError("the oracle is finished; build a new one to feed more events")
        self.events += 1
        try:
            outcome = apply_event(self.items.get(event.item_id), event, self.policy, kind=kind)
        except InvalidTransition:
            self._reject("InvalidTransition")
            return []
        if outcome.duplicate:
            self.duplicates += 1
            return []
        self.applied += 1
        if outcome.item is not None:
            self.items[event.item_id] = outcome.item
        for transition in outcome.transitions:
            self._count(transition)
        return outcome.transitions

    def feed_message(self, message: Message) -> list[Transition]:
        """Apply a simulator message by its bytes, exactly as the worker would see it."""
        return self.feed(message.value, kind=message.kind)

    def finish(self, as_of: float) -> Truth:
        """Tick every item to ``as_of`` and return the truth. Call once."""
        if not self._finished:
            self._finished = True
            for item_id in list(self.items):
                outcome = apply_tick(self.items[item_id], as_of, self.policy)
                for transition in outcome.transitions:
                    self._count(transition)
                if outcome.item is None:
                    del self.items[item_id]
        return Truth(
            as_of=as_of,
            windows=tuple(spec.name for spec in self.windows),
            counters={truth_key(*key): dict(value) for key, value in self._counters.items()},
            latency={truth_key(*key): list(value) for key, value in self._latency.items()},
            sla_used={truth_key(*key): list(value) for key, value in self._sla_used.items()},
            totals={node: dict(value) for node, value in self._totals.items()},
            breaches=tuple(sorted(self._breaches)),
            escalations=dict(sorted(self._escalations.items())),
            rejected=self.rejected,
            rejected_by=dict(self._rejected_by),
            events=self.events,
            applied=self.applied,
            duplicates=self.duplicates,
            gauges=self._gauges(),
            work_days={truth_key(*key): list(value) for key, value in self._work_days.items()},
        )

    def _gauges(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item in self.items.values():
            if not item.is_open:
                continue
            overdue = item.overdue_at is not None
            for node in self.policy.catalog.lineage(item.unit):
                counts = out.setdefault(node, {"open": 0, "overdue": 0, "due_soon": 0})
                counts["open"] += 1
                counts["overdue"] += overdue
                counts["due_soon"] += item.due_soon and not overdue
        return out

    def _period_window(self, name: str) -> bool:
        return any(spec.name == name and spec.size is None for spec in self.windows)

    def _reject(self, reason: str) -> None:
        self._rejected_by[reason] = self._rejected_by.get(reason, 0) + 1

    def _count(self, transition: Transition) -> None:
        kind = transition.kind
        if kind is Kind.OVERDUE:
            self._breaches.add(transition.item_id)
        elif kind is Kind.ESCALATED:
            level = self._escalations.get(transition.item_id, 0)
            self._escalations[transition.item_id] = max(level, transition.escalation)
        if not transition.counts and transition.latency is None and transition.sla_used is None:
            return
        starts = [(spec.name, spec.start(transition.at)) for spec in self.windows]
        lineage = self.policy.catalog.lineage
        periods = [(name, start) for name, start in starts if self._period_window(name)]
        for unit, counter in transition.counts:
            for node in lineage(unit):
                total = self._totals.setdefault(node, {})
                total[counter] = total.get(counter, 0) + 1
                for name, start in starts:
                    cell = self._counters.setdefault((node, name, start), {})
                    cell[counter] = cell.get(counter, 0) + 1
                # Report splits: report months only (domain.reports.split_counters).
                for split in split_counters(counter, transition.dims, own=node == unit):
                    for name, start in periods:
                        cell = self._counters[(node, name, start)]
                        cell[split] = cell.get(split, 0) + 1
        for samples, value in (
            (self._latency, transition.latency),
            (self._sla_used, transition.sla_used),
        ):
            if value is None:
                continue
            for node in lineage(transition.unit):
                for name, start in starts:
                    samples.setdefault((node, name, start), []).append(value)
        if transition.working_days is not None:
            for node in lineage(transition.unit):
                for name, start in periods:
                    self._work_days.setdefault((node, name, start), []).append(transition.working_days)


def counter_windows(settings: Settings) -> tuple[WindowSpec, ...]:
    """The configured counter windows (``GOVPULSE_WINDOWS`` and friends)."""
    return window_specs(settings.windows, settings.window_retention, period_anchor=settings.reporting_period)


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    """Deadline timing as the worker uses it: due-soon and escalation from the rules file
    (``GOVPULSE_RULES_FILE``), closed-item retention and de-duplication depth from settings.

    Raises:
        ConfigError: the rules file is invalid.
    """
    rules = RulesConfig.from_file(settings.rules_file)
    return rules.deadline_policy(purge_after=settings.closed_item_retention, dedup_ids=settings.dedup_ids)


def item_policy(settings: Settings, *, deadlines: DeadlinePolicy | None = None) -> ItemPolicy:
    """The item policy from settings: calendar, SLA and unit catalog files.

    Args:
        deadlines: due-soon and escalation timing; default :func:`deadline_policy`.
    """
    return ItemPolicy(
        calendar=WorkCalendar.from_file(settings.calendar_file),
        sla=SlaPolicy.from_file(settings.sla_file),
        catalog=Catalog.from_file(settings.units_file),
        deadlines=deadlines if deadlines is not None else deadline_policy(settings),
    )


def run_oracle(
    messages: Iterable[Message],
    policy: ItemPolicy,
    windows: Sequence[WindowSpec],
    *,
    as_of: float,
    max_bytes: int = 65536,
) -> Truth:
    """Feed ``messages`` in order and return the truth as of ``as_of``."""
    oracle = Oracle(policy, windows, max_bytes=max_bytes)
    for message in messages:
        oracle.feed_message(message)
    return oracle.finish(as_of)


def truth_reports(
    truth: Truth,
    units: Iterable[str],
    months: Sequence[Period],
    *,
    anchor: tuple[int, int, int] = DEFAULT_ANCHOR,
) -> dict[str, Report]:
    """The month reports the worker must make (key ``UNIT|MONTH``), from the truth's
    ``period`` window counters and handling times in working days (exact samples, put in
    sketches like the worker's). Needs ``period`` among the counted windows."""
    counters: dict[tuple[str, float], Mapping[str, int]] = {}
    work: dict[tuple[str, float], Sketch] = {}
    for key, counts in truth.counters.items():
        node, window, start = split_key(key)
        if window == "period":
            counters[(node, start)] = counts
    for key, samples in truth.work_days.items():
        node, window, start = split_key(key)
        sketch = work[(node, start)] = Sketch()
        for value in samples:
            sketch.add(value)
    return build_month_reports(counters, work, units=units, months=months, anchor=anchor)
