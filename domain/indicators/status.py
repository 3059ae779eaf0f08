"""An indicator's colour — red, orange, green or grey — with the reason and the inputs.

:func:`evaluate` is pure: the assignment, its period, its reports, the previous verdict
and ``now`` in; a :class:`Verdict` out, whose ``inputs`` hold every number the verdict
used and whose ``formula`` is :data:`FORMULA_VERSION` (stored with each status change so
a change of formula is visible in history). docs/indicators.md states the rules.

In order:

1. **grey** ``no_report`` — nothing reported yet (stale, raising ``indicator_stale``, once
   ``stale_after`` cadences of the period have passed without a report);
2. after the period's end: **green** ``met`` or **red** ``ended_below`` on the last value;
3. **grey** ``too_early`` — under ``min_elapsed`` of the period has elapsed;
4. **grey** ``stale`` — the last report is older than ``stale_after`` cadences;
5. **grey** ``too_few_reports`` — fewer than ``min_reports`` reports although that many
   cadences have passed (a unit that lags); before that, pace alone judges;
6. otherwise, on the worse and the better of the two projections (pace, trend), as a gap
   to the target (a share of it; positive = better than target):
   **green** when the worse one meets the target, **red** when even the better one
   misses by more than ``margin``, **orange** between. Hysteresis: red is left only once
   the better projection misses by less than ``exit_margin``; green is left only once
   the worse one misses by more than ``green_exit``; any change waits ``min_dwell`` after
   the previous one, except a miss larger than ``large_miss``, which is red at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.indicators.catalog import Assignment
from domain.indicators.periods import Period
from domain.indicators.projection import Projection, WorkingDays, project, run_rate
from domain.indicators.reports import Report

#: Version of the rules above; bump it when they change (it is stored with every change).
FORMULA_VERSION = 1
#: Gaps within this of zero count as on target (float noise of shares and fits).
EPSILON = 1e-9


class Colour(StrEnum):
    RED = "red"
    ORANGE = "orange"
    GREEN = "green"
    GREY = "grey"


#: Board order: red first, then orange, green, grey.
ORDER = {Colour.RED: 0, Colour.ORANGE: 1, Colour.GREEN: 2, Colour.GREY: 3}

#: The reasons, in both languages (``{…}`` filled from the inputs).
REASONS: Mapping[str, tuple[str, str]] = {
    "no_report": ("Chưa có báo cáo trong kỳ.", "No report in this period yet."),
    "met": ("Kỳ đã kết thúc: đạt chỉ tiêu.", "The period has ended: target met."),
    "ended_below": ("Kỳ đã kết thúc: không đạt chỉ tiêu.", "The period has ended below target."),
    "too_early": (
        "Mới qua {elapsed_pct}% thời gian của kỳ: chưa đủ để đánh giá.",
        "Only {elapsed_pct}% of the period has elapsed: too early to judge.",
    ),
    "stale": (
        "Báo cáo gần nhất đã quá {stale_days} ngày: chưa cập nhật.",
        "The last report is over {stale_days} days old: not updated.",
    ),
    "too_few_reports": (
        "Mới có {reports} báo cáo, cần ít nhất {min_reports} để tính xu hướng.",
        "Only {reports} reports; at least {min_reports} are needed for a trend.",
    ),
    "on_track": (
        "Cả hai dự báo đều đạt chỉ tiêu (thấp nhất {worse_value}).",
        "Both projections meet the target (lowest {worse_value}).",
    ),
    "at_risk": (
        "Cả hai dự báo đều thiếu hơn {margin_pct}% so với chỉ tiêu (tốt nhất {better_value}).",
        "Even the better projection misses the target by over {margin_pct}% ({better_value}).",
    ),
    "large_miss": (
        "Dự báo thiếu hơn {large_pct}% so với chỉ tiêu: chuyển đỏ ngay.",
        "The projection misses the target by over {large_pct}%: red at once.",
    ),
    "progressing": (
        "Đang thực hiện: dự báo từ {worse_value} đến {better_value}, chỉ tiêu {target}.",
        "In progress: projected {worse_value} to {better_value}, target {target}.",
    ),
    "still_at_risk": (
        "Vẫn đỏ cho đến khi dự báo thiếu dưới {exit_pct}% (hiện {better_value}).",
        "Stays red until the miss is under {exit_pct}% (now {better_value}).",
    ),
    "still_on_track": (
        "Vẫn xanh trong ngưỡng dao động {green_exit_pct}% (dự báo thấp nhất {worse_value}).",
        "Stays green within the {green_exit_pct}% band (lowest projection {worse_value}).",
    ),
    "dwell": (
        "Giữ màu hiện tại thêm một thời gian tối thiểu trước khi đổi sang {candidate}.",
        "Kept for the minimum dwell before changing to {candidate}.",
    ),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The status of one assignment at ``at``, why, and since when."""

    status: Colour
    reason: str
    since: float
    at: float
    inputs: Mapping[str, Any] = field(default_factory=dict)
    stale: bool = False
    formula: int = FORMULA_VERSION

    def why(self, lang: str) -> str:
        """The reason as a sentence in ``lang`` (``vi`` or ``en``)."""
        vi, en = REASONS[self.reason]
        template = vi if lang == "vi" else en
        try:
            return template.format(**self.inputs.get("text", {}))
        except (KeyError, IndexError, ValueError):
            return template

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "since": self.since,
            "at": self.at,
            "inputs": dict(self.inputs),
            "stale": self.stale,
            "formula": self.formula,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            status=Colour(data["status"]),
            reason=str(data["reason"]),
            since=float(data["since"]),
            at=float(data["at"]),
            inputs=dict(data.get("inputs") or {}),
            stale=bool(data.get("stale", False)),
            formula=int(data.get("formula", FORMULA_VERSION)),
        )


def gap(assignment: Assignment, value: float) -> float:
    """How far ``value`` is from the target, as a share of it; positive = better."""
    target = assignment.target
    scale = abs(target) or 1.0
    diff = value - target if assignment.indicator.higher_is_better else target - value
    return diff / scale


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if abs(value) < 1e6 else f"{value:,.0f}"


def evaluate(
    assignment: Assignment,
    period: Period,
    reports: Sequence[Report],
    *,
    now: float,
    previous: Verdict | None = None,
    days: WorkingDays | None = None,
) -> Verdict:
    """The status of ``assignment`` for ``period`` at ``now`` (see the module docstring).

    Args:
        reports: the period's reports sorted by ``as_of`` (one per ``as_of``).
        previous: the verdict in force before (None: none yet); hysteresis and dwell
            start from it.
        days: working-day counter for days left and the run-rate (None: not computed).
    """
    thresholds = assignment.indicator.thresholds
    projection = project(assignment, period, reports, now)
    inputs = _inputs(assignment, period, reports, projection, now, days)

    def verdict(status: Colour, reason: str, *, stale: bool = False) -> Verdict:
        keep = previous is not None and previous.status == status
        since = previous.since if keep and previous is not None else now
        return Verdict(status, reason, since, now, inputs, stale)

    if projection is None:
        overdue = now - period.start > thresholds.stale_after * assignment.indicator.cadence_seconds
        missing = overdue and now < period.end and assignment.indicator.source == "reported"
        return verdict(Colour.GREY, "no_report", stale=missing)
    if projection.ended:
        return (
            verdict(Colour.GREEN, "met")
            if gap(assignment, projection.current) + EPSILON >= 0
            else verdict(Colour.RED, "ended_below")
        )
    if projection.elapsed < thresholds.min_elapsed:
        return verdict(Colour.GREY, "too_early")
    if now - projection.as_of > thresholds.stale_after * assignment.indicator.cadence_seconds:
        return verdict(Colour.GREY, "stale", stale=True)
    slots = int((now - period.start) // assignment.indicator.cadence_seconds)
    if projection.trend is None and slots >= thresholds.min_reports:
        return verdict(Colour.GREY, "too_few_reports")
    gaps = [gap(assignment, v) for v in (projection.pace, projection.trend) if v is not None]
    if not gaps:
        return verdict(Colour.GREY, "too_few_reports")
    worse, better = min(gaps) + EPSILON, max(gaps) + EPSILON
    before = previous.status if previous is not None else Colour.GREY
    if better < -thresholds.large_miss:
        return verdict(Colour.RED, "large_miss")
    if before == Colour.RED and better < -thresholds.exit_margin:
        candidate, reason = Colour.RED, ("at_risk" if better < -thresholds.margin else "still_at_risk")
    elif before == Colour.GREEN and worse >= -thresholds.green_exit:
        candidate, reason = Colour.GREEN, ("on_track" if worse >= 0 else "still_on_track")
    elif worse >= 0:
        candidate, reason = Colour.GREEN, "on_track"
    elif better < -thresholds.margin:
        candidate, reason = Colour.RED, "at_risk"
    else:
        candidate, reason = Colour.ORANGE, "progressing"
    if (
        previous is not None
        and candidate != before
        and before != Colour.GREY
        and now - previous.since < thresholds.min_dwell
    ):
        held = dict(inputs)
        held["text"] = {**inputs["text"], "candidate": candidate.value}
        held["candidate"] = candidate.value
        return Verdict(before, "dwell", previous.since, now, held)
    return verdict(candidate, reason)


def _inputs(
    assignment: Assignment,
    period: Period,
    reports: Sequence[Report],
    projection: Projection | None,
    now: float,
    days: WorkingDays | None,
) -> dict[str, Any]:
    thresholds = assignment.indicator.thresholds
    inputs: dict[str, Any] = {
        "indicator": assignment.indicator.code,
        "unit": assignment.unit,
        "period": period.label,
        "target": assignment.target,
        "formula": FORMULA_VERSION,
    }
    text = {
        "target": _fmt(assignment.target),
        "elapsed_pct": f"{100 * period.elapsed(now):.0f}",
        "stale_days": f"{thresholds.stale_after * assignment.indicator.cadence_seconds / 86400:.0f}",
        "reports": str(len(reports)),
        "min_reports": str(thresholds.min_reports),
        "margin_pct": f"{100 * thresholds.margin:g}",
        "exit_pct": f"{100 * thresholds.exit_margin:g}",
        "green_exit_pct": f"{100 * thresholds.green_exit:g}",
        "large_pct": f"{100 * thresholds.large_miss:g}",
    }
    if projection is not None:
        values = [v for v in (projection.pace, projection.trend) if v is not None]
        gaps = [gap(assignment, v) for v in values]
        worse = values[gaps.index(min(gaps))] if values else None
        better = values[gaps.index(max(gaps))] if values else None
        inputs |= {
            "current": projection.current,
            "as_of": projection.as_of,
            "elapsed": round(projection.elapsed, 6),
            "expected_share": round(projection.expected_share, 6),
            "expected": projection.expected,
            "pace": projection.pace,
            "trend": projection.trend,
            "projected": better,
            "projected_low": worse,
            "gap": gap(assignment, better) if better is not None else None,
            "reports": projection.reports,
        }
        text |= {"worse_value": _fmt(worse), "better_value": _fmt(better)}
    if days is not None:
        left = days.between(now, period.end) if now < period.end else 0
        elapsed = days.between(period.start, min(now, period.end))
        inputs["days_left"] = left
        inputs["run_rate"] = run_rate(assignment, reports, days_left=left, days_elapsed=elapsed)
    inputs["text"] = text
    return inputs
