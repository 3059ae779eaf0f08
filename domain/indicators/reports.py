"""One reported indicator value (a message of ``gov.indicators``), parsed and validated.

:func:`parse_report` is the one entry point for every producer: the worker's stage, the
replay command and any HTTP endpoint call it on the raw bytes and get a :class:`Report`
or an :class:`InvalidReport` whose ``reason`` says what to fix (the dead-letter reason).
The contract is in docs/events.md ("gov.indicators").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from domain.errors import Rejected
from domain.events import check_instant
from domain.ids import check_id
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.periods import Period, parse_period

#: Longest note kept (characters); the note is staff text, shown as text only.
MAX_NOTE = 1000
#: A report dated this long after its period ended is refused (late corrections allowed).
LATE_LIMIT = 92 * 86400.0
FIELDS = frozenset(
    {
        "event_id",
        "indicator",
        "unit",
        "period",
        "value",
        "numerator",
        "denominator",
        "as_of",
        "reported_by",
        "note",
    }
)


class InvalidReport(Rejected):
    """The message is not a valid indicator report; :attr:`reason` says why."""


@dataclass(frozen=True, slots=True)
class Report:
    """A validated report: the value (a percentage for ratios) as of an instant."""

    event_id: str
    indicator: str
    unit: str
    period: str
    value: float
    as_of: float
    numerator: float | None = None
    denominator: float | None = None
    reported_by: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "indicator": self.indicator,
            "unit": self.unit,
            "period": self.period,
            "value": self.value,
            "as_of": self.as_of,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "reported_by": self.reported_by,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        fields: dict[str, Any] = {key: data.get(key) for key in _STORED}
        return cls(**fields)


_STORED = (
    "event_id",
    "indicator",
    "unit",
    "period",
    "value",
    "as_of",
    "numerator",
    "denominator",
    "reported_by",
    "note",
)


def parse_report(raw: bytes, catalog: IndicatorCatalog, *, max_bytes: int = 65536) -> tuple[Report, Period]:
    """Parse and validate one ``gov.indicators`` message.

    Returns:
        the report and its period.

    Raises:
        InvalidReport: not JSON, a wrong or missing field, an unknown indicator or unit, a
            unit without a target for that indicator, a period of the wrong kind or one the
            ``as_of`` instant is not in, a zero denominator, a value that is not a finite
            number, or a negative count. The reason names the field and the fix.
    """
    if len(raw) > max_bytes:
        raise InvalidReport(f"message is {len(raw)} bytes, more than {max_bytes}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidReport(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidReport('not a JSON object; send {"event_id": …, "indicator": …, …}')
    return report_from_dict(data, catalog)


def check_report_skew(report: Report, *, now: float, limit: float) -> None:
    """Refuse a report dated (``as_of``) more than ``limit`` seconds after ``now``.

    The worker and the HTTP API apply it after :func:`parse_report` (a verdict evaluated
    in the future would hold back every tick), so both refuse with the same reason.

    Raises:
        InvalidReport: ``as_of`` is beyond ``GOVPULSE_MAX_FUTURE_SKEW``.
    """
    if report.as_of > now + limit:
        raise InvalidReport(
            f"as_of is {(report.as_of - now) / 3600:.1f} h ahead of the clock "
            "(limit GOVPULSE_MAX_FUTURE_SKEW)"
        )


def report_from_dict(data: Mapping[str, Any], catalog: IndicatorCatalog) -> tuple[Report, Period]:
    """Validate an already-decoded report object (see :func:`parse_report`)."""
    unknown = sorted(str(k) for k in set(data) - FIELDS)
    if unknown:
        raise InvalidReport(f"field {unknown[0][:40]!r} is unknown; the fields are {sorted(FIELDS)}")
    try:
        event_id = check_id(_text(data, "event_id"), field="event_id")
    except ValueError as exc:
        raise InvalidReport(str(exc)) from None
    code = _text(data, "indicator")
    if code not in catalog:
        raise InvalidReport(f"indicator {code[:40]!r} is not in the indicator catalog")
    indicator = catalog.get(code)
    unit = _text(data, "unit")
    if unit not in catalog.units:
        raise InvalidReport(f"unit {unit[:60]!r} is not in the unit catalog")
    if catalog.assignment(code, unit) is None:
        raise InvalidReport(
            f"unit {unit} has no target for indicator {code}; report only assigned indicators"
        )
    try:
        period = parse_period(_text(data, "period"), indicator.period)
        as_of = check_instant(_text(data, "as_of"), "as_of")
    except ValueError as exc:
        raise InvalidReport(str(exc)) from None
    if as_of < period.start:
        raise InvalidReport(
            f"as_of is before period {period.label} starts; use the period the value belongs to"
        )
    if as_of > period.end + LATE_LIMIT:
        raise InvalidReport(
            f"as_of is more than 92 days after period {period.label} ended; "
            "use the period the value belongs to"
        )
    numerator = denominator = None
    if indicator.kind == "ratio":
        if data.get("value") is not None:
            raise InvalidReport(f"indicator {code} is a ratio: send numerator and denominator, not value")
        numerator, denominator = _count(data, "numerator"), _count(data, "denominator")
        if denominator == 0:
            raise InvalidReport("denominator is 0; a ratio needs at least one counted case")
        if numerator > denominator:
            raise InvalidReport(f"numerator {numerator:g} is larger than denominator {denominator:g}")
        value = 100.0 * numerator / denominator
    else:
        if data.get("numerator") is not None or data.get("denominator") is not None:
            raise InvalidReport(
                f"indicator {code} is a {indicator.kind}: send value, not numerator/denominator"
            )
        value = _finite(data, "value")
        if indicator.kind == "cumulative" and value < 0:
            raise InvalidReport(f"value {value:g} is negative; a cumulative total cannot be")
    reported_by = data.get("reported_by")
    if reported_by is not None:
        try:
            reported_by = check_id(_text(data, "reported_by"), field="reported_by")
        except ValueError as exc:
            raise InvalidReport(str(exc)) from None
    note = data.get("note")
    if note is not None:
        note = _text(data, "note")[:MAX_NOTE]
    report = Report(
        event_id=event_id,
        indicator=code,
        unit=unit,
        period=period.label,
        value=value,
        as_of=as_of,
        numerator=numerator,
        denominator=denominator,
        reported_by=reported_by,
        note=note,
    )
    return report, period


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise InvalidReport(f"field '{name}' is missing")
    if not isinstance(value, str):
        raise InvalidReport(f"field '{name}' is not a string")
    return value


def _finite(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if value is None:
        raise InvalidReport(f"field '{name}' is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReport(f"field '{name}' is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidReport(f"field '{name}' is not a finite number (NaN or infinite)")
    return number


def _count(data: Mapping[str, Any], name: str) -> float:
    number = _finite(data, name)
    if number < 0:
        raise InvalidReport(f"field '{name}' = {number:g} is negative; a count cannot be")
    if number != int(number):
        raise InvalidReport(f"field '{name}' = {number:g} is not a whole count")
    return number
