"""Report stage logic: closed months → per-unit report revisions (``gov.reports``).

:class:`ReportProcessor` is the pure core. The unit stage's ``period`` window records are
the counters of a report month (exact under redelivery, see :mod:`stream.metrics`); a
month is *closed* for the nodes of a transitions partition once the stream time every
item partition has passed there (the unit stage's expiry horizon) is past the month's end
plus ``GOVPULSE_WINDOW_GRACE``. Then every node of that partition gets revision 1 of its
report; any later change of a closed month's record (an event up to
``GOVPULSE_REPORT_GRACE`` late, or a later one counted in ``late_events``) makes the next
revision, and so does a change of the month before it (the carried-over and late-open
chains). A report is rebuilt from its record and the previous month's report, and a new
revision is made only when its content differs from the stored one: after a crash, work
redone rebuilds the same content and adds nothing.

The shell sends :attr:`ReportBatchResult.reports` to ``gov.reports`` (awaited), then
writes the reports table, then the metrics table, so a crash in between redoes the batch
and rebuilds the same reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import orjson

from domain.reports import (
    DEFAULT_ANCHOR,
    Period,
    PeriodKind,
    Report,
    aggregate,
    closed_months,
    month_chain,
    month_figures,
    month_of,
    report_key,
)
from domain.sketch import Sketch
from stream.metrics import MetricsStore, parse_record_key

log = logging.getLogger(__name__)

PERIOD_WINDOW = "period"
#: After a restart, closed months this far back are checked against the reports table.
LOOKBACK_MONTHS = 13


@dataclass(slots=True)
class ReportBatchResult:
    #: transitions partition → reports-table writes (key ``UNIT|PERIOD`` → report JSON).
    writes: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    #: the new revisions, in the order they were made.
    reports: list[Report] = field(default_factory=list)


class ReportProcessor:
    """Makes report revisions for the nodes of the transitions partitions a worker owns.

    Args:
        load: stored bytes of a report by key (the reports table), or None.
        grace: a month closes this long (stream time) after it ends.
        anchor: the report month's anchor (``GOVPULSE_REPORTING_PERIOD``).
    """

    def __init__(
        self,
        *,
        load: Callable[[bytes], bytes | None],
        grace: float,
        anchor: tuple[int, int, int] = DEFAULT_ANCHOR,
    ) -> None:
        self._load = load
        self.grace = grace
        self.anchor = anchor
        #: Per transitions partition: the horizon up to which closed months were handled.
        self._closed_until: dict[int, float] = {}
        self._pending: dict[str, Report] = {}

    def reset(self) -> None:
        """Forget what was handled (after a rebalance the tables are the truth)."""
        self._closed_until.clear()

    def stored(self, unit: str, period: str) -> Report | None:
        """The latest revision of a report (made in this batch, or from the table)."""
        key = report_key(unit, period)
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        raw = self._load(key.encode())
        return Report.from_json(orjson.loads(raw)) if raw else None

    def process(
        self,
        store: MetricsStore,
        *,
        changed: Iterable[str],
        horizons: Mapping[int, float | None],
        nodes_of: Callable[[int], Iterable[str]],
        partition_of: Callable[[str], int | None],
        now: float,
    ) -> ReportBatchResult:
        """Make the revisions a unit-stage batch calls for.

        Args:
            store: the unit stage's window records (after the batch was applied).
            changed: keys of the window records the batch changed.
            horizons: per owned transitions partition, the stream time every item
                partition has passed there (None until all have reported).
            nodes_of: the nodes keyed to a transitions partition.
            partition_of: the transitions partition of a node (None: not owned).
            now: the worker's clock, the revisions' as-of.
        """
        result = ReportBatchResult()
        self._pending = {}
        todo: dict[tuple[str, Period], int] = {}
        for key in changed:
            try:
                node, window, start = parse_record_key(key)
            except ValueError:
                continue
            if window != PERIOD_WINDOW:
                continue
            partition = partition_of(node)
            horizon = horizons.get(partition) if partition is not None else None
            month = month_of(start, self.anchor)
            if partition is not None and horizon is not None and self._is_closed(month, horizon):
                todo[(node, month)] = partition
        for partition, horizon in sorted(horizons.items()):
            if horizon is None:
                continue
            after = self._closed_until.get(partition)
            if after is None:
                # First look since start or rebalance: check the closed months the table
                # may lack (a crash between the close and the table write).
                after = horizon - self.grace - LOOKBACK_MONTHS * 31 * 86400.0
            if horizon - self.grace <= after:
                continue
            months = closed_months(after, horizon - self.grace, self.anchor)
            self._closed_until[partition] = horizon - self.grace
            for month in months:
                for node in nodes_of(partition):
                    todo[(node, month)] = partition
        for (node, month), partition in sorted(todo.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            self._rebuild(store, node, month, partition, now, result, horizons)
        # A quarter or year whose last month has closed is written too, added up from its
        # months' latest revisions, with its own revision number.
        parents: dict[tuple[str, Period], int] = {}
        for report in list(result.reports):
            partition = partition_of(report.unit)
            horizon = horizons.get(partition) if partition is not None else None
            if partition is None or horizon is None:
                continue
            month = Period.parse(report.period)
            for kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
                parent = month.parent(kind)
                if self._is_closed(parent.months()[-1], horizon):
                    parents[(report.unit, parent)] = partition
        for (node, parent), partition in sorted(parents.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            self._aggregate(node, parent, partition, now, result)
        self._pending = {}
        return result

    def _aggregate(
        self, node: str, parent: Period, partition: int, now: float, result: ReportBatchResult
    ) -> None:
        months = [r for m in parent.months() if (r := self.stored(node, m.key)) is not None]
        total = aggregate(parent, months)
        if total is None:
            return
        old = self.stored(node, parent.key)
        if old is not None and old.content() == total.content():
            return
        report = replace(total, revision=old.revision + 1 if old is not None else 1, as_of=now)
        self._pending[report.key] = report
        result.reports.append(report)
        result.writes.setdefault(partition, {})[report.key.encode()] = orjson.dumps(report.to_json())

    def _is_closed(self, month: Period, horizon: float) -> bool:
        return month.bounds(self.anchor)[1] + self.grace <= horizon

    def _rebuild(
        self,
        store: MetricsStore,
        node: str,
        month: Period,
        partition: int,
        now: float,
        result: ReportBatchResult,
        horizons: Mapping[int, float | None],
    ) -> None:
        # A change to a month's open or late-open figures changes the chains of the closed
        # months after it: follow them until nothing changes.
        while True:
            old = self.stored(node, month.key)
            report = self._build(store, node, month, now, old)
            if report is None:
                return
            if old is not None and old.content() == report.content():
                return
            revision = old.revision + 1 if old is not None else 1
            report = Report(
                report.unit,
                report.period,
                report.start,
                report.end,
                revision,
                now,
                report.figures,
                report.counts,
                report.work,
                report.late_events,
            )
            self._pending[report.key] = report
            result.reports.append(report)
            result.writes.setdefault(partition, {})[report.key.encode()] = orjson.dumps(report.to_json())
            if revision > 1:
                log.info(
                    "report unit=%s period=%s revised to revision %d (late events or an earlier month)",
                    node,
                    month.key,
                    revision,
                )
            chained = old is None or (
                (old.figures.open_at_end, old.figures.late_open)
                != (report.figures.open_at_end, report.figures.late_open)
            )
            following = month.next()
            horizon = horizons.get(partition)
            if not chained or horizon is None or not self._is_closed(following, horizon):
                return
            if old is None and self.stored(node, following.key) is None:
                return  # the next month is closed too: its own turn will build it
            month = following

    def _build(
        self, store: MetricsStore, node: str, month: Period, now: float, old: Report | None
    ) -> Report | None:
        """The month's report from its record and the previous month's report (None: the
        node never had anything to report up to this month)."""
        start, end = month.bounds(self.anchor)
        record = store.record(node, PERIOD_WINDOW, start)
        previous = self.stored(node, month.previous().key)
        if record is None and previous is None and old is None:
            return None
        counts = {k: v for k, v in record.counts.items() if v} if record else {}
        work = record.work if record else Sketch()
        figures = month_figures(counts, work, month_chain(previous))
        return Report(
            node,
            month.key,
            start,
            end,
            1,
            now,
            figures,
            counts,
            Sketch.from_json(work.to_json()),
            record.late_events if record else 0,
        )
