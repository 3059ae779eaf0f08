"""Alert titles and texts in Vietnamese and English, generated from data.

Only trusted values go into titles and texts: unit names from the catalog, item ids
(validated by the event contract), instants, durations and numbers. Citizen text (an
item's title or note) never does; the rules put it in ``facts`` (``item_title``) and the
board shows it as plain text.

Instants are shown in local time as ``dd/mm/yyyy HH:MM`` (:func:`domain.calendar.format_local`);
lateness is working time, with one working day = the calendar's office hours per day (8 h
with the default sessions); rates are percentages (decimal comma in Vietnamese).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from alerts.config import RulesConfig
from alerts.model import RuleName
from domain.calendar import WorkCalendar, format_local
from domain.catalog import Catalog

Lang = Literal["vi", "en"]


@dataclass(frozen=True, slots=True)
class Texts:
    """Title (one line) and text (one or two sentences) in both languages."""

    title_vi: str
    title_en: str
    text_vi: str
    text_en: str


def render(
    rule: RuleName,
    *,
    unit: str,
    item_id: str | None,
    escalation: int,
    facts: Mapping[str, Any],
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> Texts:
    """Titles and texts of an alert of ``rule`` about ``unit`` (and ``item_id``).

    ``escalation`` is the applied ladder step (it picks the label in the title); numbers
    come from ``facts`` as the rules fill them.

    Raises:
        ValueError: unknown rule.
    """
    vi, en = unit_name(catalog, unit, "vi"), unit_name(catalog, unit, "en")
    day = calendar.office_hours.seconds_per_day
    if rule == RuleName.ITEM_DUE_SOON:
        due = format_local(facts["due"])
        return Texts(
            f"Sắp đến hạn: {item_id} – {vi}",
            f"Due soon: {item_id} – {en}",
            f"Hạn xử lý {due}.",
            f"Due {due}.",
        )
    if rule == RuleName.ITEM_OVERDUE:
        step = config.step(escalation)
        head_vi, head_en = "Quá hạn", "Overdue"
        if step is not None:
            head_vi = f"Quá hạn – cấp {escalation} ({step.label_vi})"
            head_en = f"Overdue – level {escalation} ({step.label_en})"
        due = format_local(facts["due"])
        late = float(facts.get("working_seconds_late") or 0.0)
        if late < 60:
            text_vi, text_en = f"Hạn xử lý {due}; vừa quá hạn.", f"Due {due}; just overdue."
        else:
            text_vi = f"Hạn xử lý {due}; quá hạn {format_working(late, 'vi', day=day)}."
            text_en = f"Due {due}; overdue by {format_working(late, 'en', day=day)}."
        if facts.get("appointment_at") is not None:
            appointment = format_local(facts["appointment_at"])
            text_vi += f" Hẹn lại {appointment}."
            text_en += f" New appointment {appointment}."
        title_vi, title_en = f"{head_vi}: {item_id} – {vi}", f"{head_en}: {item_id} – {en}"
        return Texts(title_vi, title_en, text_vi, text_en)
    if rule == RuleName.UNIT_ON_TIME_RATE:
        when_vi, when_en = window_label(facts["window"])
        counts = f"{facts['resolved_on_time']}/{facts['resolved']}"
        rate, below = facts["rate"], facts["below"]
        return Texts(
            f"Tỷ lệ đúng hạn thấp: {vi}",
            f"Low on-time rate: {en}",
            f"{format_percent(rate, 'vi')} việc xử lý đúng hạn {when_vi} ({counts}); "
            f"ngưỡng {format_percent(below, 'vi')}.",
            f"{format_percent(rate, 'en')} of items resolved on time {when_en} ({counts}); "
            f"threshold {format_percent(below, 'en')}.",
        )
    if rule == RuleName.UNIT_OVERDUE_COUNT:
        count, above = facts["overdue"], facts["above"]
        return Texts(
            f"Nhiều việc quá hạn: {vi}",
            f"Many overdue items: {en}",
            f"{count} việc đang quá hạn (ngưỡng {above}).",
            f"{count} items overdue now (threshold {above}).",
        )
    if rule == RuleName.UNIT_QUEUE_DEPTH:
        count, above = facts["open"], facts["above"]
        text_vi = f"{count} việc đang mở (ngưỡng {above})."
        text_en = f"{count} items open now (threshold {above})."
        if facts.get("oldest_open_at") is not None:
            oldest = format_local(facts["oldest_open_at"])
            text_vi += f" Việc cũ nhất tiếp nhận lúc {oldest}."
            text_en += f" Oldest received {oldest}."
        return Texts(f"Tồn đọng lớn: {vi}", f"Large backlog: {en}", text_vi, text_en)
    if rule == RuleName.UNIT_P90_LATENCY:
        when_vi, when_en = window_label(facts["window"])
        used, above, resolved = facts["p90_sla_used"], facts["sla_share_above"], facts["resolved"]
        span_vi = span_en = ""
        if facts.get("p90_latency") is not None:
            span_vi = f", tức {format_span(facts['p90_latency'], 'vi')}"
            span_en = f", i.e. {format_span(facts['p90_latency'], 'en')}"
        return Texts(
            f"Thời gian xử lý vượt thời hạn: {vi}",
            f"Handling time over SLA: {en}",
            f"P90 {when_vi}: dùng {format_percent(used, 'vi')} thời hạn{span_vi} "
            f"({resolved} việc đã xử lý); ngưỡng {format_percent(above, 'vi')}.",
            f"p90 {when_en}: {format_percent(used, 'en')} of the allowed time{span_en} "
            f"({resolved} items resolved); threshold {format_percent(above, 'en')}.",
        )
    if rule == RuleName.UNIT_SURGE:
        when_vi, when_en = window_label(facts["window"])
        received, baseline = facts["received"], facts["baseline"]
        if baseline:
            ratio = received / baseline
            usual = format_number(baseline, "vi")
            more_vi = f"gấp {format_number(ratio, 'vi')} lần mức thường ({usual})"
            more_en = f"{format_number(ratio, 'en')}× the usual {format_number(baseline, 'en')}"
        else:
            more_vi, more_en = "mức thường là 0", "the usual is 0"
        return Texts(
            f"Tiếp nhận tăng đột biến: {vi}",
            f"Surge in received items: {en}",
            f"{received} việc tiếp nhận {when_vi}, {more_vi}.",
            f"{received} items received {when_en}, {more_en}.",
        )
    if rule in (RuleName.INDICATOR_AT_RISK, RuleName.INDICATOR_STALE, RuleName.INDICATOR_EXPLANATION):
        return _indicator_texts(rule, vi, en, facts)
    raise ValueError(f"unknown rule {rule!r}")


def _indicator_texts(rule: RuleName, vi: str, en: str, facts: Mapping[str, Any]) -> Texts:
    """Texts of indicator alerts. Names and measures come from the indicator catalog
    (configuration, not citizen text); numbers from the verdict's inputs."""
    name_vi, name_en = str(facts.get("name_vi", facts.get("indicator", ""))), str(facts.get("name_en", ""))
    name_en = name_en or name_vi
    measure, period = str(facts.get("measure", "")), str(facts.get("period", ""))

    def number(key: str, lang: Lang) -> str:
        value = facts.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "–"
        return f"{format_thousands(float(value), lang)} {measure}".strip()

    if rule == RuleName.INDICATOR_EXPLANATION:
        answered = bool(facts.get("answered"))
        return Texts(
            f"{'Đã giải trình' if answered else 'Yêu cầu giải trình'} chỉ số: {name_vi} – {vi}",
            f"Indicator {'explained' if answered else 'explanation requested'}: {name_en} – {en}",
            f"Kỳ {period}, chỉ tiêu {number('target', 'vi')}."
            + ("" if answered else " Đơn vị trả lời trên hệ thống."),
            f"Period {period}, target {number('target', 'en')}."
            + ("" if answered else " The unit answers in the system."),
        )
    if rule == RuleName.INDICATOR_STALE:
        when = format_local(facts["as_of"]) if isinstance(facts.get("as_of"), int | float) else "–"
        return Texts(
            f"Chỉ số chưa cập nhật: {name_vi} – {vi}",
            f"Indicator not updated: {name_en} – {en}",
            f"Báo cáo gần nhất của kỳ {period}: {when}.",
            f"Last report for {period}: {when}.",
        )
    if facts.get("recovered"):
        return Texts(
            f"Chỉ số hết nguy cơ: {name_vi} – {vi}",
            f"Indicator recovered: {name_en} – {en}",
            f"Kỳ {period}: dự báo {number('projected', 'vi')}, chỉ tiêu {number('target', 'vi')}.",
            f"{period}: projected {number('projected', 'en')}, target {number('target', 'en')}.",
        )
    gap = facts.get("gap")
    gap_vi = gap_en = ""
    if isinstance(gap, int | float) and not isinstance(gap, bool):
        gap_vi = f" (thiếu {format_percent(-gap, 'vi')})" if gap < 0 else ""
        gap_en = f" ({format_percent(-gap, 'en')} short)" if gap < 0 else ""
    text_vi = (
        f"Kỳ {period}: hiện đạt {number('current', 'vi')}, dự báo {number('projected', 'vi')}"
        f"{gap_vi}, chỉ tiêu {number('target', 'vi')}."
    )
    text_en = (
        f"{period}: now {number('current', 'en')}, projected {number('projected', 'en')}"
        f"{gap_en}, target {number('target', 'en')}."
    )
    days = facts.get("days_left")
    if isinstance(days, int) and not isinstance(days, bool):
        rate = facts.get("run_rate")
        if isinstance(rate, int | float) and not isinstance(rate, bool):
            # A ratio's run-rate counts cases handled as required, not percentage points.
            rate_vi = number("run_rate", "vi")
            rate_en = number("run_rate", "en")
            if facts.get("kind") == "ratio":
                rate_vi = f"{format_thousands(float(rate), 'vi')} trường hợp đạt"
                rate_en = f"{format_thousands(float(rate), 'en')} qualifying cases"
            text_vi += f" Cần {rate_vi} mỗi ngày làm việc trong {days} ngày còn lại."
            text_en += f" Needs {rate_en} per working day for the {days} left."
        else:
            text_vi += f" Còn {days} ngày làm việc."
            text_en += f" {days} working days left."
    return Texts(
        f"Chỉ số có nguy cơ không đạt: {name_vi} – {vi}",
        f"Indicator at risk: {name_en} – {en}",
        text_vi,
        text_en,
    )


def format_thousands(value: float, lang: Lang) -> str:
    """A number with thousands grouped and at most one decimal: ``1.250,5`` / ``1,250.5``."""
    text = f"{value:,.1f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if lang == "vi":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


# -- formatting --------------------------------------------------------------------------------


def unit_name(catalog: Catalog, code: str, lang: Lang) -> str:
    """The unit's name from the catalog, or its code if the catalog does not know it."""
    if code not in catalog:
        return code
    unit = catalog.get(code)
    return unit.name_vi if lang == "vi" else unit.name_en


def format_working(seconds: float, lang: Lang, *, day: float = 8 * 3600.0) -> str:
    """Working time, two largest parts: ``1 ngày 3 giờ làm việc`` / ``1 working day 3 h``.

    Args:
        seconds: working seconds.
        lang: ``vi`` or ``en``.
        day: working seconds in one working day.
    """
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, max(1, round(day / 60)))
    hours, minutes = divmod(rest, 60)
    counts = (days, hours, minutes)
    if lang == "vi":
        names = ("ngày", "giờ", "phút")
        parts = [f"{n} {name}" for n, name in zip(counts, names, strict=True) if n]
        return (" ".join(parts[:2]) if parts else "dưới 1 phút") + " làm việc"
    units = (("day", "d"), ("hour", "h"), ("minute", "min"))
    named = [(n, word, short) for n, (word, short) in zip(counts, units, strict=True) if n]
    if not named:
        return "under 1 working minute"
    count, word, _ = named[0]
    text = f"{count} working {word}{'s' * (count != 1)}"
    if len(named) > 1:
        text += f" {named[1][0]} {named[1][2]}"
    return text


def format_span(seconds: float, lang: Lang) -> str:
    """Clock time, two largest parts: ``2 ngày 3 giờ`` / ``2 d 3 h``; ``20 phút`` / ``20 min``."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    names = ("ngày", "giờ", "phút") if lang == "vi" else ("d", "h", "min")
    parts = [f"{n} {name}" for n, name in zip((days, hours, minutes), names, strict=True) if n]
    if not parts:
        return "dưới 1 phút" if lang == "vi" else "under 1 min"
    return " ".join(parts[:2])


def format_percent(rate: float, lang: Lang) -> str:
    """A share as a percentage with at most one decimal: ``72%``, ``79,6%`` / ``79.6%``."""
    return f"{format_number(rate * 100, lang)}%"


def format_number(value: float, lang: Lang) -> str:
    """At most one decimal, trailing zeros dropped; decimal comma in Vietnamese."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "vi" else text


def window_label(window: str) -> tuple[str, str]:
    """How a counter window reads in a sentence (Vietnamese, English)."""
    known = {
        "1d": ("trong ngày", "today"),
        "1h": ("trong giờ hiện tại", "this hour"),
        "period": ("trong kỳ báo cáo", "this reporting period"),
    }
    return known.get(window, (f"trong khung {window} hiện tại", f"in the current {window} window"))
