"""One indicator of one unit as people see it: the row of the board, the CLI and the API.

The worker stores a row for every indicator record it holds (``board:indicators``, see
docs/protocol.md); an assignment nobody reported on has no record, so readers complete
the set with :func:`complete_rows`, which evaluates those from the catalog alone (grey,
"no report"). :func:`sort_rows` is the board's order: red first, then orange, green and
grey; within a colour the largest shortfall first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import Period, period_of
from domain.indicators.reports import Report
from domain.indicators.status import ORDER, Colour, Verdict, evaluate

#: Reported points a row carries for its chart.
CHART_POINTS = 24


def row_key(code: str, unit: str, period: str) -> str:
    """``CODE|UNIT|PERIOD``: the key of a row (and of the worker's record)."""
    return f"{code}|{unit}|{period}"


def indicator_row(
    assignment: Assignment,
    period: Period,
    reports: Sequence[Report],
    verdict: Verdict | None,
    history: Sequence[Mapping[str, Any]] = (),
    *,
    now: float,
) -> dict[str, Any]:
    """The row of ``assignment`` in ``period`` (JSON-ready). Staff text (``note``) is
    carried as text; pages render it with ``textContent``."""
    indicator = assignment.indicator
    inputs = dict(verdict.inputs) if verdict else {}
    inputs.pop("text", None)
    last = reports[-1] if reports else None
    return {
        "key": row_key(indicator.code, assignment.unit, period.label),
        "code": indicator.code,
        "unit": assignment.unit,
        "owner": assignment.owner,
        "period": period.label,
        "period_start": period.start,
        "period_end": period.end,
        "name_vi": indicator.name_vi,
        "name_en": indicator.name_en,
        "group": indicator.group,
        "measure": indicator.measure,
        "direction": indicator.direction,
        "kind": indicator.kind,
        "cadence": indicator.cadence,
        "source": indicator.source,
        "target": assignment.target,
        "plan": list(indicator.plan) if indicator.plan else None,
        "status": verdict.status.value if verdict else Colour.GREY.value,
        "reason": verdict.reason if verdict else "no_report",
        "why_vi": verdict.why("vi") if verdict else "Chưa có báo cáo trong kỳ.",
        "why_en": verdict.why("en") if verdict else "No report in this period yet.",
        "since": verdict.since if verdict else None,
        "stale": verdict.stale if verdict else False,
        "formula": verdict.formula if verdict else None,
        "gap": inputs.get("gap"),
        "inputs": inputs,
        "points": [[r.as_of, r.value] for r in reports[-CHART_POINTS:]],
        "note": last.note if last else None,
        "reported_by": last.reported_by if last else None,
        "history": list(history[-10:]),
        "at": now,
    }


def sort_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Red first, then orange, green, grey; within a colour the largest shortfall first."""

    def order(row: Mapping[str, Any]) -> tuple[int, float, str]:
        gap = row.get("gap")
        return (ORDER[Colour(row["status"])], gap if isinstance(gap, int | float) else 0.0, str(row["key"]))

    return sorted(rows, key=order)


def complete_rows(
    catalog: IndicatorCatalog,
    stored: Mapping[str, Mapping[str, Any]],
    *,
    now: float,
    owners: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Every assignment's row for its current period at ``now`` (of ``owners`` only, when
    given): the stored row when there is one, else the catalog's own (grey, no report)."""
    wanted = None if owners is None else set(owners)
    out: list[dict[str, Any]] = []
    for assignment in catalog.assignments():
        if wanted is not None and assignment.owner not in wanted:
            continue
        period = period_of(now, assignment.indicator.period)
        key = row_key(assignment.indicator.code, assignment.unit, period.label)
        row = stored.get(key)
        if row is None:
            verdict = evaluate(assignment, period, (), now=now)
            row = indicator_row(assignment, period, (), verdict, now=now)
        out.append(dict(row))
    return sort_rows(out)
