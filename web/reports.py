"""The reports view: which months a request needs, and the report document it gets.

Sans-I/O: :func:`parse_request` reads a path and query, :func:`months_needed` says which
months to read from Redis, :func:`report_document` turns them into the JSON the
``/reports`` page renders and the exports write (web.exports). Scope: wall and leader see
every unit; a unit token sees its own unit and the units under it (docs/reports.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from domain.catalog import Catalog
from domain.classification import Classification, rank
from domain.errors import InvalidPeriod
from domain.reports import FORMULAS, Figures, Period, PeriodKind, Report, aggregate, split_figures
from web.auth import Scope
from web.errors import ReportRequestError

#: Periods shown in the trend.
TREND = 12
#: Sheet and level names of unit kinds (one sheet per level in the XLSX).
LEVELS: Mapping[str, tuple[str, str]] = {
    "city": ("Thành phố", "City"),
    "department": ("Sở, ban, ngành", "Departments"),
    "district": ("Quận, huyện", "Districts"),
    "ward": ("Phường", "Wards"),
    "commune": ("Xã", "Communes"),
    "special_zone": ("Đặc khu", "Special zones"),
    "center": ("Trung tâm", "Centres"),
}
FORMATS = ("xlsx", "csv", "json")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What a ``/reports/…`` request asks for."""

    period: Period | None
    unit: str | None = None


def parse_request(query: str, *, catalog: Catalog) -> ReportRequest:
    """Read ``period=2026-11`` (optional: the latest closed month) and ``unit=CODE`` (optional).

    Raises:
        ReportRequestError: 400 for a malformed period, an unknown unit or a repeated key.
    """
    values = parse_qs(query, keep_blank_values=True, max_num_fields=10)
    for key, found in values.items():
        if len(found) > 1:
            raise ReportRequestError(400, f"{key[:20]!r} is given {len(found)} times; give it once")
    period: Period | None = None
    text = values.get("period", [""])[0]
    if text:
        try:
            period = Period.parse(text)
        except InvalidPeriod as exc:
            raise ReportRequestError(400, str(exc)) from None
    unit = values.get("unit", [""])[0] or None
    if unit is not None and unit not in catalog:
        raise ReportRequestError(404, f"unit {unit[:40]!r} is not in the unit catalog; check the code")
    return ReportRequest(period, unit)


def check_scope(scope: Scope, unit: str | None, catalog: Catalog) -> None:
    """Refuse a unit outside the token's scope.

    Raises:
        ReportRequestError: 403 naming the scope.
    """
    if unit is None or scope.reads_all:
        return
    if scope.unit is None or scope.unit not in catalog.lineage(unit):
        raise ReportRequestError(
            403, f"unit {unit} is outside this token's scope ({scope.text}); ask for a token of that unit"
        )


def visible_units(scope: Scope, catalog: Catalog, unit: str | None = None) -> list[str]:
    """Units a scope sees, narrowed to ``unit`` and the units under it when given."""
    top = unit or (scope.unit if not scope.reads_all else None)
    if top is None:
        return [u.code for u in catalog]
    return [top, *catalog.descendants(top)]


def months_needed(period: Period) -> list[str]:
    """Months to read for ``period``: its own, the previous period's (rank change), and
    those of the trend (the last :data:`TREND` periods of its kind)."""
    out: list[str] = []
    current = period
    for _ in range(TREND):
        out += [m.key for m in current.months()]
        current = current.previous()
    return sorted(set(out))


def default_period(months: Sequence[str]) -> Period | None:
    """The latest closed month, if any."""
    return Period.parse(max(months)) if months else None


def period_reports(period: Period, data: Mapping[str, Mapping[str, Report]]) -> dict[str, Report]:
    """unit → the period's report (a quarter or year added up from its months)."""
    units = {unit for month in period.months() for unit in data.get(month.key, {})}
    out: dict[str, Report] = {}
    for unit in units:
        months = [data[m.key][unit] for m in period.months() if unit in data.get(m.key, {})]
        report = aggregate(period, months)
        if report is not None:
            out[unit] = report
    return out


def report_document(
    period: Period,
    data: Mapping[str, Mapping[str, Report]],
    *,
    catalog: Catalog,
    classification: Classification,
    scope: Scope,
    unit: str | None = None,
    available: Sequence[str] = (),
) -> dict[str, Any]:
    """The report of ``period`` as the page shows it and the exports write it.

    Rankings are over every unit of the same level (kind); a unit token sees its own
    rows with their ranks. Classification is given for quarters (and years).
    """
    reports = period_reports(period, data)
    previous = period_reports(period.previous(), data)
    ranks: dict[str, dict[str, Any]] = {}
    by_kind: dict[str, dict[str, Figures]] = {}
    for code, found in reports.items():
        by_kind.setdefault(catalog.get(code).kind, {})[code] = found.figures
    for kind, level in by_kind.items():
        before = {c: r.figures for c, r in previous.items() if catalog.get(c).kind == kind}
        for ranking in rank(level, min_volume=classification.min_volume, previous=before):
            ranks[ranking.unit] = ranking.to_json()
    classify = period.kind is not PeriodKind.MONTH
    rows = []
    for code in visible_units(scope, catalog, unit):
        info = catalog.get(code)
        report = reports.get(code)
        figures = report.figures if report else Figures()
        row: dict[str, Any] = {
            "unit": code,
            "name_vi": info.name_vi,
            "name_en": info.name_en,
            "kind": info.kind,
            "parent": info.parent,
            "revision": report.revision if report else None,
            "as_of": report.as_of if report else None,
            "late_events": report.late_events if report else 0,
            "figures": figures.to_json(),
            "rank": ranks.get(code, {}).get("rank"),
            "previous_rank": ranks.get(code, {}).get("previous_rank"),
            "change": ranks.get(code, {}).get("change"),
            "classification": classification.place(figures).to_json() if classify else None,
            "splits": _splits(report, scope),
        }
        rows.append(row)
    start, end = period.bounds()
    trend_periods: list[Period] = []
    current = period
    for _ in range(TREND):
        trend_periods.append(current)
        current = current.previous()
    trend_periods.reverse()
    trend_units = [row["unit"] for row in rows][:1] if not scope.reads_all or unit else [catalog.root]
    by_period = [period_reports(p, data) for p in trend_periods]
    trend = {
        "periods": [p.key for p in trend_periods],
        "units": {
            code: [(r.figures.on_time_rate if (r := found.get(code)) else None) for found in by_period]
            for code in trend_units
        },
    }
    return {
        "period": period.key,
        "kind": period.kind.value,
        "start": start,
        "end": end,
        "scope": scope.text,
        "available": list(available),
        "formulas": {name: {"vi": f.vi, "en": f.en} for name, f in FORMULAS.items()},
        "min_volume": classification.min_volume,
        "rows": rows,
        "trend": trend,
    }


def _splits(report: Report | None, scope: Scope) -> dict[str, dict[str, dict[str, Any]]]:
    """Flow figures by work mode and category; by assignee only for leaders and the
    unit's own scope, never on the wall."""
    if report is None:
        return {}
    out = {
        kind: {label: figures.to_json() for label, figures in cells.items()}
        for kind, cells in split_figures(report.counts).items()
    }
    if scope.kind == "wall":
        out.pop("assignee", None)
    return out
