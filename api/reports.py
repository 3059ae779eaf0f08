"""Admission of a ``POST /api/v1/indicators`` body: the pure part of reporting indicators.

The body is one report object or an array of 1..:data:`api.ingest.MAX_BATCH` of them
(docs/events.md, "gov.indicators"). Each element goes through the domain's own parser
(:func:`domain.indicators.reports.parse_report`, on the bytes that will be produced) and
the worker's future-skew check (:func:`domain.indicators.reports.check_report_skew`), so
every reason is word for word the reason the dead-letter topic would give.

Like events, a batch is admitted whole or not at all; a report is keyed (and scoped) by
its ``unit``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from api.ingest import MAX_BATCH, Refusal, Reservation
from api.keys import ApiKey
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.reports import InvalidReport, Report, check_report_skew, parse_report


@dataclass(frozen=True, slots=True)
class AdmittedReport:
    """One valid report, ready to produce.

    Args:
        index: position in the body.
        report: the parsed report.
        value: the message value: the element as sent, JSON-encoded.
        digest: hex SHA-256 of the element with sorted keys, to tell a retry from a reused
            ``event_id``.
    """

    index: int
    report: Report
    value: bytes
    digest: str

    @property
    def event_id(self) -> str:
        return self.report.event_id

    @property
    def unit(self) -> str:
        return self.report.unit


@dataclass(frozen=True, slots=True)
class ReportAdmission:
    """The outcome of reading a body: admitted reports, or refusals (never both)."""

    admitted: tuple[AdmittedReport, ...] = ()
    refusals: tuple[Refusal, ...] = ()


def admit_reports(
    raw: bytes,
    *,
    catalog: IndicatorCatalog,
    now: float,
    max_event_bytes: int,
    max_future_skew: float,
) -> ReportAdmission:
    """Validate a request body of indicator reports.

    Args:
        raw: the body (UTF-8 JSON).
        catalog: the indicator catalog (indicators, units and their targets).
        now: the clock, for the future-skew check.
        max_event_bytes: ``GOVPULSE_MAX_EVENT_BYTES``, applied to each element.
        max_future_skew: ``GOVPULSE_MAX_FUTURE_SKEW`` in seconds.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ReportAdmission(refusals=(Refusal(None, f"not valid JSON (UTF-8): {exc}"),))
    found = _elements(data)
    if isinstance(found, Refusal):
        return ReportAdmission(refusals=(found,))
    admitted: list[AdmittedReport] = []
    refusals: list[Refusal] = []
    seen: dict[str, int] = {}
    for index, element in enumerate(found):
        event_id = _event_id(element)
        value = orjson.dumps(element)
        try:
            report, _period = parse_report(value, catalog, max_bytes=max_event_bytes)
            check_report_skew(report, now=now, limit=max_future_skew)
        except InvalidReport as exc:
            refusals.append(Refusal(index, exc.reason, event_id))
            continue
        if report.event_id in seen:
            refusals.append(
                Refusal(
                    index,
                    f"event_id {report.event_id!r} appears twice in the batch (also at index "
                    f"{seen[report.event_id]}); send each report once",
                    report.event_id,
                )
            )
            continue
        seen[report.event_id] = index
        digest = hashlib.sha256(orjson.dumps(element, option=orjson.OPT_SORT_KEYS)).hexdigest()
        admitted.append(AdmittedReport(index, report, value, digest))
    if refusals:
        return ReportAdmission(refusals=tuple(refusals))
    return ReportAdmission(admitted=tuple(admitted))


def report_scope_refusals(admitted: Sequence[AdmittedReport], key: ApiKey, catalog: Catalog) -> list[Refusal]:
    """Reports ``key`` may not send: for a unit outside its units."""
    if not key.units:
        return []
    return [
        Refusal(
            entry.index,
            f"key {key.name!r} may not report for unit {entry.unit} (it covers {key.scope_text()})",
            entry.event_id,
        )
        for entry in admitted
        if not key.covers(entry.unit, catalog)
    ]


@dataclass(frozen=True, slots=True)
class SortedReports:
    """A batch sorted by its reservations (as :class:`api.ingest.Sorted`)."""

    fresh: tuple[AdmittedReport, ...]
    conflicts: tuple[Refusal, ...]
    in_flight: tuple[Refusal, ...]


def sort_report_reservations(
    admitted: Sequence[AdmittedReport], codes: Sequence[Reservation]
) -> SortedReports:
    """Split a batch by the store's answer for each report (same order)."""
    fresh: list[AdmittedReport] = []
    conflicts: list[Refusal] = []
    in_flight: list[Refusal] = []
    for entry, code in zip(admitted, codes, strict=True):
        if code == "new":
            fresh.append(entry)
        elif code == "conflict":
            conflicts.append(
                Refusal(
                    entry.index,
                    f"event_id {entry.event_id!r} was already accepted for unit {entry.unit} with "
                    f"different content; never reuse an event_id for a new report",
                    entry.event_id,
                )
            )
        elif code == "in_flight":
            in_flight.append(
                Refusal(
                    entry.index,
                    f"event_id {entry.event_id!r} is being produced by another request right now",
                    entry.event_id,
                )
            )
    return SortedReports(tuple(fresh), tuple(conflicts), tuple(in_flight))


def report_results(
    admitted: Sequence[AdmittedReport], placed: Mapping[int, tuple[str, int, int]]
) -> dict[str, Any]:
    """The 202 body: a result per report, in order.

    Args:
        placed: ``(topic, partition, offset)`` by index, for the reports produced now;
            every other report was a duplicate.
    """
    out = []
    for entry in admitted:
        spot = placed.get(entry.index)
        report = entry.report
        out.append(
            {
                "index": entry.index,
                "event_id": report.event_id,
                "indicator": report.indicator,
                "unit": report.unit,
                "period": report.period,
                "status": "accepted" if spot is not None else "duplicate",
                "topic": spot[0] if spot is not None else None,
                "partition": spot[1] if spot is not None else None,
                "offset": spot[2] if spot is not None else None,
            }
        )
    return {"accepted": len(placed), "duplicates": len(admitted) - len(placed), "results": out}


def _elements(data: Any) -> list[Any] | Refusal:
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            return Refusal(None, "the batch is empty; send one report object or an array of 1 to 1000")
        if len(data) > MAX_BATCH:
            return Refusal(
                None, f"the batch has {len(data)} reports, over the limit of {MAX_BATCH}; split it"
            )
        return data
    kind = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(data), "null" if data is None else type(data).__name__
    )
    return Refusal(None, f"expected a report object or an array of reports, got {kind}")


def _event_id(element: Any) -> str | None:
    if isinstance(element, dict):
        value = element.get("event_id")
        if isinstance(value, str):
            return value[:128]
    return None
