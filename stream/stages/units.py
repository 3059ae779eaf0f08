"""Unit stage logic: counter entries and gauges per roll-up node → window records, board, signals.

:class:`UnitProcessor` is the pure core of the units agent. It applies
:class:`~stream.transitions.NodeBatch` messages to the :class:`~stream.metrics.MetricsStore`
(exactly once per record, see :mod:`stream.metrics`), keeps each node's latest gauges per
item partition, expires old windows on ticks, evaluates the unit alert rules, and renders
the board's view of a node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.config import RulesConfig
from alerts.model import Signal, UnitStatus, WindowStats
from alerts.rules import unit_signals
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.events import format_instant
from domain.windows import WindowSpec
from stream.metrics import (
    Gauges,
    MetricsStore,
    baseline,
    current_windows,
    decode_gauges,
    encode_gauges,
    sparkline,
)
from stream.transitions import NodeBatch, PartitionGauges, Progress, Tick

log = logging.getLogger(__name__)

#: Active unit signals are re-sent this often (clock seconds) so facts stay fresh.
SIGNAL_REFRESH = 300.0
#: Expired windows are looked for at most this often (seconds of stream time).
EXPIRY_INTERVAL = 60.0


class Pacer:
    """When to run a periodic job: at most every ``interval`` seconds, and at most a
    ``budget`` share of the time (a run that took ``t`` waits at least ``t / budget``).

    Times are the caller's monotonic clock.
    """

    def __init__(self, interval: float, *, budget: float) -> None:
        if interval < 0 or not 0 < budget <= 1:
            raise ValueError(f"interval {interval} must be >= 0 and budget {budget} in (0, 1]")
        self.interval = interval
        self.budget = budget
        self.next_at = float("-inf")

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def ran(self, started: float, finished: float) -> None:
        """Record a run; the next one is due ``max(interval, cost / budget)`` after its start."""
        self.next_at = started + max(self.interval, (finished - started) / self.budget)


@dataclass(slots=True)
class UnitBatchResult:
    metrics_writes: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)
    gauge_writes: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    dirty_nodes: set[str] = field(default_factory=set)
    signals: list[Signal] = field(default_factory=list)
    ticks: int = 0


class UnitProcessor:
    """Counters, gauges and unit rules of the nodes one worker owns.

    Args:
        catalog: the unit hierarchy (node names, kinds).
        rules: unit rule thresholds and colours.
        calendar: for texts that speak in working time.
        specs: window kinds.
        grace: late-event grace period.
        load_metrics: stored bytes of a window record by key.
        load_gauges: stored bytes of a node's gauges by node code.
        metric_keys: the keys stored in the window-record table (for expiry on ticks).
        partitions: item partitions whose progress gates expiry.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        rules: RulesConfig,
        calendar: WorkCalendar,
        specs: Sequence[WindowSpec],
        grace: float,
        load_metrics: Callable[[bytes], bytes | None],
        load_gauges: Callable[[bytes], bytes | None],
        metric_keys: Callable[[], Iterable[bytes]] = tuple,
        partitions: int = 1,
    ) -> None:
        self.catalog = catalog
        self.rules = rules
        self.calendar = calendar
        self._load_metrics = load_metrics
        self._load_gauges = load_gauges
        self._metric_keys = metric_keys
        self.partitions = partitions
        self._node_partition: dict[str, int] = {}
        self.store = self._new_store(specs, grace)
        self._gauges: dict[str, dict[int, PartitionGauges]] = {}
        self._last_signal: dict[str, tuple[bool, str, float]] = {}
        #: Per transitions partition: the stream time at which windows are next expired.
        self._next_expiry: dict[int, float] = {}
        #: Per transitions partition: each item partition's progress reported in it.
        self._progress: dict[int, dict[int, float]] = {}
        self._seeded = False

    def _new_store(self, specs: Sequence[WindowSpec], grace: float) -> MetricsStore:
        return MetricsStore(
            specs,
            grace=grace,
            load=lambda key: self._load_metrics(key.encode()),
            partition_of=self._node_partition.get,
        )

    def reset(self) -> None:
        """Forget cached state (after a rebalance the tables are the truth)."""
        expired_before = self.store.expired_before
        self.store = self._new_store(self.store.specs, self.store.grace)
        self.store.expired_before = expired_before
        self._gauges.clear()
        self._last_signal.clear()
        self._next_expiry.clear()
        self._seeded = False

    # -- batches -----------------------------------------------------------------------

    def process(
        self, inputs: Sequence[tuple[int, NodeBatch | Tick | Progress]], *, now: float
    ) -> UnitBatchResult:
        """Apply a batch of transitions-topic messages (partition, message)."""
        result = UnitBatchResult()
        gauge_dirty: dict[str, int] = {}
        ticked: set[int] = set()
        for partition, message in inputs:
            if isinstance(message, Tick):
                result.ticks += 1
                ticked.add(partition)
                continue
            if isinstance(message, Progress):
                progress = self._progress.setdefault(partition, {})
                for source, at in message.watermarks.items():
                    if at > progress.get(source, 0.0):
                        progress[source] = at
                continue
            node = message.node
            if node not in self.catalog:
                log.warning("transitions for unknown node=%s (catalog changed?) skipped", node)
                continue
            self._node_partition[node] = partition
            for entry in message.entries:
                self.store.apply(node, entry)
            if message.gauges:
                parts = self.gauges_of(node)
                for gauges in message.gauges:
                    parts[gauges.partition] = gauges
                gauge_dirty[node] = partition
            result.dirty_nodes.add(node)
        for key, raw in self.store.flush().items():
            node = key.split("|", 1)[0]
            partition = self._node_partition[node]
            result.metrics_writes.setdefault(partition, {})[key.encode()] = raw
        for node, partition in gauge_dirty.items():
            result.gauge_writes.setdefault(partition, {})[node.encode()] = encode_gauges(self._gauges[node])
        # Retention is measured in stream time, behind the slowest item partition, so a
        # replay of last month expires last month's windows as it goes, and a lagging
        # partition never finds the window it still adds to gone. Progress is taken per
        # transitions partition: it was sent after the entries it covers, into the same
        # partition, so a partition still reading its backlog is not expired ahead of it.
        for partition in sorted(ticked):
            horizon = self.expiry_horizon(partition)
            log.debug(
                "unit tick partition=%d: expiry horizon=%s next expiry=%s",
                partition,
                horizon,
                self._next_expiry.get(partition),
            )
            if horizon is not None and horizon >= self._next_expiry.get(partition, 0.0):
                self._next_expiry[partition] = horizon + EXPIRY_INTERVAL
                self._expire(result, partition, horizon)
        return result

    def expiry_horizon(self, partition: int) -> float | None:
        """Stream time every item partition has passed, as reported in transitions
        partition ``partition`` (None until all have reported there)."""
        progress = self._progress.get(partition, {})
        if len(progress) < self.partitions:
            return None
        return min(progress.values())

    def _expire(self, result: UnitBatchResult, partition: int, horizon: float) -> None:
        """Delete ``partition``'s window records older than their retention (tombstones
        in the changelog)."""
        if not self._seeded:  # records restored from the changelog, not read since
            self.store.seed(key.decode() for key in list(self._metric_keys()))
            self._seeded = True
        expired = self.store.expire(partition, horizon)
        if not expired:
            return
        writes = result.metrics_writes.setdefault(partition, {})
        for key in expired:
            writes[key.encode()] = None
        self.store.forget(expired)
        log.info(
            "expired %d window records of partition %d older than their retention (stream time %s)",
            len(expired),
            partition,
            format_instant(horizon),
        )

    def own(self, node: str, partition: int) -> None:
        """Record that ``node`` lives in ``partition`` (from the key partitioner)."""
        self._node_partition[node] = partition

    # -- reads -------------------------------------------------------------------------

    def gauges_of(self, node: str) -> dict[int, PartitionGauges]:
        parts = self._gauges.get(node)
        if parts is None:
            raw = self._load_gauges(node.encode())
            parts = self._gauges[node] = decode_gauges(raw) if raw else {}
        return parts

    def gauges(self, node: str) -> Gauges:
        return Gauges.merge(self.gauges_of(node).values())

    def board(self, node: str, *, now: float) -> dict[str, Any]:
        """The node as the board shows it (JSON-ready)."""
        unit = self.catalog.get(node)
        gauges = self.gauges(node)
        windows = current_windows(self.store, node, now, gauges)
        day = windows.get("1d") or next(iter(windows.values()))
        return {
            "code": unit.code,
            "name_vi": unit.name_vi,
            "name_en": unit.name_en,
            "kind": unit.kind,
            "parent": unit.parent,
            "at": self.store.horizon or None,
            "gauges": gauges.to_json(),
            "windows": windows,
            "colour": self.rules.colour(day["on_time_rate"], day["late_rate"]),
            "spark": sparkline(self.store, node, now),
        }

    def status(self, node: str, *, now: float) -> UnitStatus:
        """Input of the unit alert rules for ``node`` at ``now``."""
        gauges = self.gauges(node)
        windows: dict[str, WindowStats] = {}
        for spec in self.store.specs:
            start = spec.start(now)
            record = self.store.record(node, spec.name, start)
            windows[spec.name] = WindowStats(
                window=spec.name,
                start=start,
                received=record.count("received") if record else 0,
                resolved=record.count("resolved") if record else 0,
                resolved_on_time=record.count("resolved_on_time") if record else 0,
                resolved_late=record.count("resolved_late") if record else 0,
                became_overdue=record.count("became_overdue") if record else 0,
                p90_latency=record.latency.quantile(0.9) if record else None,
                p90_sla_used=record.sla_used.quantile(0.9) if record else None,
            )
        surge_window = self.rules.surge.window
        return UnitStatus(
            unit=node,
            at=now,
            open=gauges.open,
            overdue=gauges.overdue,
            due_soon=gauges.due_soon,
            oldest_open_at=gauges.oldest_open_at,
            windows=windows,
            baseline_received=(
                baseline(self.store, node, surge_window, now) if surge_window in windows else None
            ),
        )

    def evaluate(self, nodes: Iterable[str], *, now: float) -> list[Signal]:
        """Unit rule signals for ``nodes`` that changed (or are due for a refresh)."""
        out: list[Signal] = []
        for node in nodes:
            for signal in unit_signals(self.status(node, now=now), self.rules, self.catalog, self.calendar):
                last = self._last_signal.get(signal.fingerprint)
                state = (signal.active, signal.severity.value)
                if (
                    last is not None
                    and (last[0], last[1]) == state
                    and (not signal.active or now - last[2] < SIGNAL_REFRESH)
                ):
                    continue
                if last is None and not signal.active:
                    # Nothing was ever active here in this process: still tell the alert
                    # stage once, in case an alert was left firing before a restart.
                    self._last_signal[signal.fingerprint] = (*state, now)
                    out.append(signal)
                    continue
                self._last_signal[signal.fingerprint] = (*state, now)
                out.append(signal)
        return out
