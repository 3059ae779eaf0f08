"""Indicator stage logic: reports and ticks → records, status changes, alert signals, board rows.

:class:`IndicatorProcessor` is the pure core of the indicators agent, which reads
``gov.indicators`` (keyed by unit code) and the stage's own tick topic, co-partitioned.
For each report it validates (:func:`domain.indicators.reports.parse_report`; invalid ones
become dead letters with the reason), finds the record ``CODE|UNIT|PERIOD`` of the
``indicators`` table, and applies it exactly once:

* a message at or below the record's mark (the highest offset of its partition applied
  to it) is a redelivery and changes nothing; a report whose ``event_id`` the record
  already holds is a duplicate and changes nothing;
* a report with the same ``as_of`` as a kept one replaces it (a correction); the others
  are kept in ``as_of`` order.

Then the record's status is evaluated (:func:`domain.indicators.status.evaluate`) at the
stream time of the report — its ``as_of`` if later than the last evaluation — so that
replaying the topic gives the same statuses. Ticks re-evaluate every record of their
partition at the clock's ``now``, so statuses follow time without reports (a yearly
indicator leaves grey, a report goes stale, a period ends). Each status change is kept
in the record's history with its inputs and the formula version, and becomes alert
signals: ``indicator_at_risk`` when it turns red (resolved — "recovered" — when it
leaves red) and ``indicator_stale`` while the last report is older than its cadence
allows. :func:`derived_reports` turns the unit stage's counters into reports of the
catalog's derived indicators.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.config import RulesConfig
from alerts.model import RuleName, Signal, fingerprint
from domain.calendar import WorkCalendar, format_instant, local_midnight
from domain.encoding import dumps_kept
from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import Period, parse_period, period_of
from domain.indicators.projection import WorkingDays
from domain.indicators.reports import InvalidReport, Report, check_report_skew, parse_report
from domain.indicators.rows import indicator_row, row_key, sort_rows
from domain.indicators.status import Colour, Verdict, evaluate
from stream.metrics import WindowRecord
from stream.stages.items import DeadLetter, Message

log = logging.getLogger(__name__)

REPORT, TICK = "i", "n"
#: Reports kept per record (a daily derived indicator has ≤ 366 a year).
MAX_REPORTS = 400
#: Event ids remembered per record for de-duplication.
MAX_IDS = 64
#: Status changes kept per record.
MAX_HISTORY = 50
SEPARATOR = "|"
#: A tick re-sends a record's board row (fresh days left, run-rate) at most this often
#: (clock seconds) when its status did not change.
ROW_REFRESH = 3600.0


def record_key(code: str, unit: str, period: str) -> str:
    """Table key of a record: ``CODE|UNIT|PERIOD`` (the key of its board row too)."""
    return row_key(code, unit, period)


def subject(code: str, unit: str, period: str) -> str:
    """Alert subject of a record (``fingerprint`` characters only): ``CODE/UNIT/PERIOD``."""
    return f"{code}/{unit}/{period}"


@dataclass(slots=True)
class IndicatorRecord:
    """One indicator of one unit in one period: its reports, status and history."""

    partition: int
    reports: list[Report] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    mark: int = -1
    verdict: Verdict | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> bytes:
        return dumps_kept(
            {
                "p": self.partition,
                "r": [r.to_json() for r in self.reports],
                "i": self.ids,
                "m": self.mark,
                "v": self.verdict.to_json() if self.verdict else None,
                "h": self.history,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> IndicatorRecord:
        data = orjson.loads(raw)
        return cls(
            partition=int(data["p"]),
            reports=[Report.from_json(r) for r in data["r"]],
            ids=list(data["i"]),
            mark=int(data["m"]),
            verdict=Verdict.from_json(data["v"]) if data.get("v") else None,
            history=list(data.get("h", [])),
        )


@dataclass(slots=True)
class IndicatorBatchResult:
    writes: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Board rows that changed, by record key.
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0


class IndicatorProcessor:
    """Indicator records of the partitions one worker owns.

    Args:
        catalog: indicators, targets and the unit catalog.
        calendar: the working calendar (days left, run-rates).
        rules: whether the indicator alert rules are enabled (the rules file).
        load: stored bytes of a record by key.
        keys: every key stored in the table (to find a partition's records on a tick).
        max_event_bytes: larger reports are dead-lettered.
        max_future_skew: reports dated (``as_of``) further ahead of ``now`` are
            dead-lettered: a verdict evaluated in the future would hold back every tick.
        partition_of: the ``gov.indicators`` partition of a unit code (its key). With it,
            a tick also finds the assignments of its partition that have no report in
            their current period although ``stale_after`` cadences have passed, and
            records them (grey, stale, ``indicator_stale``). None: only records that have
            reports are ticked.
    """

    def __init__(
        self,
        *,
        catalog: IndicatorCatalog,
        calendar: WorkCalendar,
        load: Callable[[bytes], bytes | None],
        keys: Callable[[], Iterable[bytes]] = tuple,
        rules: RulesConfig | None = None,
        max_event_bytes: int = 65536,
        max_future_skew: float = 86400.0,
        partition_of: Callable[[str], int | None] | None = None,
    ) -> None:
        self.catalog = catalog
        self._reported_by_partition: dict[int, list[Assignment]] = {}
        if partition_of is not None:
            for assignment in catalog.assignments():
                partition = partition_of(assignment.unit)
                if assignment.indicator.source == "reported" and partition is not None:
                    self._reported_by_partition.setdefault(partition, []).append(assignment)
        self.max_future_skew = max_future_skew
        rules = rules or RulesConfig()
        self.rules = rules
        self.enabled = {
            RuleName.INDICATOR_AT_RISK: rules.indicator_at_risk.enabled,
            RuleName.INDICATOR_STALE: rules.indicator_stale.enabled,
        }
        self.days = WorkingDays(calendar)
        self.load = load
        self.keys = keys
        self.max_event_bytes = max_event_bytes
        self._cache: dict[str, IndicatorRecord] = {}
        self._row_at: dict[str, float] = {}
        self._by_partition: dict[int, set[str]] | None = None

    def reset(self) -> None:
        """Forget cached records (after a rebalance the table is the truth)."""
        self._cache.clear()
        self._row_at.clear()
        self._by_partition = None

    # -- records -------------------------------------------------------------------------

    def record(self, key: str) -> IndicatorRecord | None:
        cached = self._cache.get(key)
        if cached is None:
            raw = self.load(key.encode())
            if raw is None:
                return None
            try:
                cached = IndicatorRecord.decode(raw)
            except (ValueError, KeyError, TypeError):
                log.error("unreadable indicator record key=%s; treating it as absent", key, exc_info=True)
                return None
            self._cache[key] = cached
        return cached

    def _partition_keys(self, partition: int) -> set[str]:
        if self._by_partition is None:
            self._by_partition = {}
            for raw in list(self.keys()):
                key = raw.decode()
                record = self.record(key)
                if record is not None:
                    self._by_partition.setdefault(record.partition, set()).add(key)
        return self._by_partition.setdefault(partition, set())

    # -- batches -------------------------------------------------------------------------

    def process(self, messages: Sequence[Message], *, now: float) -> IndicatorBatchResult:
        """Apply reports (``i``) and ticks (``n``) in order."""
        result = IndicatorBatchResult()
        dirty: dict[str, IndicatorRecord] = {}
        for message in messages:
            if message.kind == TICK:
                for key in sorted(self._partition_keys(message.partition)):
                    record = self.record(key)
                    if record is not None and self._evaluate(key, record, now, result):
                        dirty[key] = record
                for key, record in self._missing(message.partition, now, result):
                    dirty[key] = record
                continue
            try:
                report, period = parse_report(
                    message.value or b"", self.catalog, max_bytes=self.max_event_bytes
                )
                check_report_skew(report, now=now, limit=self.max_future_skew)
            except InvalidReport as exc:
                result.dead_letters.append(DeadLetter(message, exc.reason, stage="indicators"))
                log.info("rejected topic=%s offset=%d: %s", message.topic, message.offset, exc.reason)
                continue
            key = record_key(report.indicator, report.unit, report.period)
            record = self.record(key)
            if record is None:
                record = self._cache[key] = IndicatorRecord(partition=message.partition)
                self._partition_keys(message.partition).add(key)
            if message.offset <= record.mark and message.partition == record.partition:
                result.duplicates += 1  # redelivered after a crash: already applied
                continue
            record.mark = message.offset
            record.partition = message.partition
            dirty[key] = record
            if report.event_id in record.ids:
                result.duplicates += 1
                continue
            record.ids = [*record.ids, report.event_id][-MAX_IDS:]
            kept = [r for r in record.reports if r.as_of != report.as_of]
            kept.append(report)
            kept.sort(key=lambda r: r.as_of)
            record.reports = kept[-MAX_REPORTS:]
            result.applied += 1
            # Stream time, so a replay evaluates exactly as the first run did.
            at = max(report.as_of, record.verdict.at if record.verdict else report.as_of)
            self._evaluate(key, record, min(at, period.end + 86400.0 * 92), result, period=period, force=True)
        for key, record in dirty.items():
            result.writes.setdefault(record.partition, {})[key.encode()] = record.encode()
        return result

    def _missing(
        self, partition: int, now: float, result: IndicatorBatchResult
    ) -> list[tuple[str, IndicatorRecord]]:
        """Records for the assignments of ``partition`` without a report in their current
        period although ``stale_after`` cadences of it have passed (each once)."""
        out: list[tuple[str, IndicatorRecord]] = []
        periods: dict[str, Period] = {}
        for assignment in self._reported_by_partition.get(partition, ()):
            indicator = assignment.indicator
            period = periods.get(indicator.period)
            if period is None:
                period = periods[indicator.period] = period_of(now, indicator.period)
            if now - period.start <= indicator.thresholds.stale_after * indicator.cadence_seconds:
                continue
            key = record_key(indicator.code, assignment.unit, period.label)
            if key in self._partition_keys(partition) or self.record(key) is not None:
                continue
            record = self._cache[key] = IndicatorRecord(partition=partition)
            self._partition_keys(partition).add(key)
            self._evaluate(key, record, now, result, period=period)
            out.append((key, record))
        return out

    def _evaluate(
        self,
        key: str,
        record: IndicatorRecord,
        at: float,
        result: IndicatorBatchResult,
        *,
        period: Period | None = None,
        force: bool = False,
    ) -> bool:
        """Re-evaluate ``record`` at ``at``; return whether it changed."""
        code, unit, label = key.split(SEPARATOR)
        assignment = self.catalog.assignment(code, unit)
        if assignment is None:  # the catalog changed since the record was written
            return False
        if record.verdict is not None and at < record.verdict.at:
            return False
        period = period or parse_period(label, assignment.indicator.period)
        previous = record.verdict
        verdict = evaluate(assignment, period, record.reports, now=at, previous=previous, days=self.days)
        changed = previous is None or (verdict.status, verdict.reason, verdict.stale) != (
            previous.status,
            previous.reason,
            previous.stale,
        )
        if not changed and not force:
            # Time alone moved the numbers (elapsed share, days left), not the verdict:
            # nothing to write (a tick would otherwise rewrite every record); the board
            # row is refreshed now and then.
            if at - self._row_at.get(key, float("-inf")) >= ROW_REFRESH:
                self._row_at[key] = at
                result.rows[key] = indicator_row(
                    assignment, period, record.reports, verdict, record.history, now=at
                )
            return False
        record.verdict = verdict
        if previous is None or previous.status != verdict.status:
            entry = {
                "at": at,
                "from": previous.status.value if previous else None,
                "to": verdict.status.value,
                "reason": verdict.reason,
                "formula": verdict.formula,
                "inputs": {k: v for k, v in verdict.inputs.items() if k != "text"},
            }
            record.history = [*record.history, entry][-MAX_HISTORY:]
        result.signals += self._signals(assignment, label, previous, verdict, force=force)
        self._row_at[key] = at
        result.rows[key] = indicator_row(
            assignment, period, record.reports, record.verdict, record.history, now=at
        )
        return True

    def _signals(
        self, assignment: Assignment, label: str, previous: Verdict | None, verdict: Verdict, *, force: bool
    ) -> list[Signal]:
        out: list[Signal] = []
        code, unit = assignment.indicator.code, assignment.unit
        facts = signal_facts(assignment, label, verdict)
        was_red = previous is not None and previous.status == Colour.RED
        is_red = verdict.status == Colour.RED
        if is_red and (not was_red or force):
            out.append(self._signal(RuleName.INDICATOR_AT_RISK, True, assignment, label, verdict, facts))
        elif was_red and not is_red:
            recovered = {**facts, "recovered": True}
            out.append(self._signal(RuleName.INDICATOR_AT_RISK, False, assignment, label, verdict, recovered))
        was_stale = previous is not None and previous.stale
        if verdict.stale != was_stale:
            out.append(
                self._signal(RuleName.INDICATOR_STALE, verdict.stale, assignment, label, verdict, facts)
            )
        out = [signal for signal in out if self.enabled[signal.rule]]
        if out:
            log.debug("indicator=%s unit=%s period=%s status=%s", code, unit, label, verdict.status.value)
        return out

    def _signal(
        self,
        rule: RuleName,
        active: bool,
        assignment: Assignment,
        label: str,
        verdict: Verdict,
        facts: dict[str, Any],
    ) -> Signal:
        return Signal(
            fingerprint=fingerprint(rule, subject(assignment.indicator.code, assignment.unit, label)),
            rule=rule,
            active=active,
            at=verdict.at,
            unit=assignment.owner,
            item_id=None,
            severity=self.rules.severity_of(rule),
            facts=facts,
        )

    # -- reads ---------------------------------------------------------------------------

    def stored_rows(self, *, now: float) -> dict[str, dict[str, Any]]:
        """The board row of every record in the table (after a rebalance, or when Redis
        lost the board), with its stored verdict."""
        out: dict[str, dict[str, Any]] = {}
        for raw in list(self.keys()):
            key = raw.decode()
            code, unit, label = key.split(SEPARATOR)
            assignment = self.catalog.assignment(code, unit)
            record = self.record(key)
            if assignment is None or record is None:
                continue
            period = parse_period(label, assignment.indicator.period)
            out[key] = indicator_row(
                assignment, period, record.reports, record.verdict, record.history, now=now
            )
        return out

    def rows(self, *, now: float, units: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Board rows of every assignment (of ``units``) for the current period at ``now``:
        the stored verdict, or a fresh evaluation, or grey ``no_report``. Sorted red first,
        then orange, green and grey; within a colour by gap (worst first)."""
        wanted = None if units is None else set(units)
        out: list[dict[str, Any]] = []
        for assignment in self.catalog.assignments():
            if wanted is not None and assignment.owner not in wanted and assignment.unit not in wanted:
                continue
            period = period_of(now, assignment.indicator.period)
            key = record_key(assignment.indicator.code, assignment.unit, period.label)
            record = self.record(key) or IndicatorRecord(partition=-1)
            if record.verdict is None or record.verdict.at < now:
                record = IndicatorRecord(
                    record.partition, record.reports, record.ids, record.mark, record.verdict
                )
                record.verdict = evaluate(
                    assignment, period, record.reports, now=now, previous=record.verdict, days=self.days
                )
            out.append(
                indicator_row(assignment, period, record.reports, record.verdict, record.history, now=now)
            )
        return sort_rows(out)


def signal_facts(assignment: Assignment, label: str, verdict: Verdict) -> dict[str, Any]:
    """What an indicator alert says: the numbers of :data:`docs/events.md` facts."""
    indicator, inputs = assignment.indicator, verdict.inputs
    return {
        "indicator": indicator.code,
        "indicator_unit": assignment.unit,
        "period": label,
        "name_vi": indicator.name_vi,
        "name_en": indicator.name_en,
        "measure": indicator.measure,
        "kind": indicator.kind,
        "status": verdict.status.value,
        "reason": verdict.reason,
        "current": inputs.get("current"),
        "projected": inputs.get("projected"),
        "target": assignment.target,
        "gap": inputs.get("gap"),
        "run_rate": inputs.get("run_rate"),
        "days_left": inputs.get("days_left"),
        "as_of": inputs.get("as_of"),
        "formula": verdict.formula,
    }


# -- derived indicators -----------------------------------------------------------------------


#: Counters (numerator, denominator) of each derived on-time rate, summed over days.
ON_TIME_COUNTERS: Mapping[str, tuple[str, str]] = {
    "on_time_rate": ("resolved_on_time", "resolved"),
    "feedback_on_time_rate": ("resolved_on_time_feedback", "resolved_feedback"),
    "task_on_time_rate": ("resolved_on_time_task", "resolved_task"),
}


class DerivedReporter:
    """Reports of the catalog's derived indicators from the unit stage's daily counters.

    ``day_counts(node, day_start)`` returns the window record of the local day starting
    at ``day_start`` (None when that window is not kept). For each derived indicator of a
    node the values of its current period are summed over the days so far and sent as a
    report dated at the start of today: the first of the day is a new report, later ones
    are corrections of the same ``as_of`` (they replace it). A value is sent only when it
    changed since this process last sent it.

    * ``on_time_rate``: resolved on time ÷ resolved (QĐ 766), feedback and tasks together,
      as numerator/denominator; ``feedback_on_time_rate`` and ``task_on_time_rate`` the
      same for one kind of item;
    * ``handling_days``: the mean handling time of the items resolved, in working days
      (the sum of their working-day durations ÷ their number);
    * ``overdue_at_end``: items overdue now; the last report of the period's last day
      stands as the count at the period's end.
    """

    def __init__(
        self,
        catalog: IndicatorCatalog,
        *,
        day_counts: Callable[[str, float], WindowRecord | None],
    ) -> None:
        self.catalog = catalog
        self.day_counts = day_counts
        self._by_unit: dict[str, list[Assignment]] = {}
        for assignment in catalog.assignments():
            if assignment.indicator.source == "derived":
                self._by_unit.setdefault(assignment.unit, []).append(assignment)
        self._sent: dict[str, str] = {}

    def reports(self, node: str, now: float, *, overdue_now: int) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` messages for ``gov.indicators`` whose value changed."""
        out: list[tuple[bytes, bytes]] = []
        today = local_midnight(now)
        for assignment in self._by_unit.get(node, ()):
            indicator = assignment.indicator
            period = period_of(now, indicator.period)
            counts: dict[str, int] = {}
            working_days, working_samples = 0.0, 0
            day = period.start
            while day < now:
                found = self.day_counts(node, day)
                if found is not None:
                    for name, value in found.counts.items():
                        counts[name] = counts.get(name, 0) + value
                    working_days += found.working_days
                    working_samples += found.working_samples
                day = local_midnight(day + 36 * 3600.0)
            body: dict[str, Any] = {
                "indicator": indicator.code,
                "unit": node,
                "period": period.label,
                "as_of": format_instant(max(today, period.start)),
                "reported_by": "govpulse",
            }
            rate = ON_TIME_COUNTERS.get(indicator.derived or "")
            if rate is not None:
                on_time, handled = rate
                resolved = counts.get(handled, 0)
                if resolved == 0:
                    continue
                body |= {"numerator": counts.get(on_time, 0), "denominator": resolved}
            elif indicator.derived == "handling_days":
                if working_samples == 0:
                    continue
                body["value"] = round(working_days / working_samples, 3)
            else:
                body["value"] = overdue_now
            slot = record_key(indicator.code, node, period.label)
            signature = (
                f"{body['as_of']}:{body.get('value')}:{body.get('numerator')}:{body.get('denominator')}"
            )
            if self._sent.get(slot) == signature:
                continue
            self._sent[slot] = signature
            body["event_id"] = f"derived:{indicator.code}:{node}:{period.label}:{int(now * 1000)}"
            out.append((node.encode(), orjson.dumps(body)))
        return out
