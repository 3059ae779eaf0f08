from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from alerts.config import RulesConfig
from alerts.model import RuleName
from alerts.texts import (
    Texts,
    format_local,
    format_percent,
    format_span,
    format_working,
    render,
    unit_name,
    window_label,
)
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog

HOUR = 3600.0
DUE = datetime(2026, 11, 24, 17, 0, tzinfo=LOCAL_TZ).timestamp()
HOSTILE = "<img src=x onerror=alert(1)> Rác thải"


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [
        (0, "dưới 1 phút làm việc", "under 1 working minute"),
        (59, "dưới 1 phút làm việc", "under 1 working minute"),
        (60, "1 phút làm việc", "1 working minute"),
        (20 * 60, "20 phút làm việc", "20 working minutes"),
        (HOUR, "1 giờ làm việc", "1 working hour"),
        (3 * HOUR + 20 * 60 + 59, "3 giờ 20 phút làm việc", "3 working hours 20 min"),
        (8 * HOUR, "1 ngày làm việc", "1 working day"),
        (11 * HOUR, "1 ngày 3 giờ làm việc", "1 working day 3 h"),
        (8 * HOUR + 60, "1 ngày 1 phút làm việc", "1 working day 1 min"),
        (16 * HOUR + 30 * 60 + 5 * 60, "2 ngày 35 phút làm việc", "2 working days 35 min"),
        (17 * HOUR + 30 * 60, "2 ngày 1 giờ làm việc", "2 working days 1 h"),
    ],
)
def test_working_time_reads_in_working_days_of_eight_hours(seconds: float, vi: str, en: str) -> None:
    assert format_working(seconds, "vi") == vi
    assert format_working(seconds, "en") == en


def test_working_day_length_follows_the_office_hours() -> None:
    assert format_working(9 * HOUR, "en", day=9 * HOUR) == "1 working day"


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [
        (30, "dưới 1 phút", "under 1 min"),
        (45 * 60, "45 phút", "45 min"),
        (9 * HOUR + 30 * 60, "9 giờ 30 phút", "9 h 30 min"),
        (2 * 86400 + 3 * HOUR + 5 * 60, "2 ngày 3 giờ", "2 d 3 h"),
    ],
)
def test_clock_spans(seconds: float, vi: str, en: str) -> None:
    assert (format_span(seconds, "vi"), format_span(seconds, "en")) == (vi, en)


@pytest.mark.parametrize(
    ("rate", "vi", "en"),
    [
        (0.72, "72%", "72%"),
        (0.796, "79,6%", "79.6%"),
        (0.8, "80%", "80%"),
        (1.3, "130%", "130%"),
        (0.0, "0%", "0%"),
    ],
)
def test_percentages_use_the_decimal_comma_in_vietnamese(rate: float, vi: str, en: str) -> None:
    assert (format_percent(rate, "vi"), format_percent(rate, "en")) == (vi, en)


def test_local_time_is_day_month_year_in_ho_chi_minh() -> None:
    assert format_local(DUE) == "24/11/2026 17:00"
    assert format_local(datetime(2026, 1, 2, 0, 5, tzinfo=LOCAL_TZ).timestamp()) == "02/01/2026 00:05"


def test_unit_name_falls_back_to_the_code(catalog: Catalog) -> None:
    assert unit_name(catalog, "P-SAI-GON", "vi") == "Phường Sài Gòn"
    assert unit_name(catalog, "P-SAI-GON", "en") == "Saigon Ward"
    assert unit_name(catalog, "P-UNKNOWN", "vi") == "P-UNKNOWN"


def test_window_labels() -> None:
    assert window_label("1d") == ("trong ngày", "today")
    assert window_label("5m") == ("trong khung 5m hiện tại", "in the current 5m window")


def item_facts(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "item_title": HOSTILE,
        "due": DUE,
        "overdue_at": DUE,
        "appointment_at": None,
        "working_seconds_late": 0.0,
        "escalation": 0,
    }
    facts.update(changes)
    return facts


UNIT_FACTS: dict[str, dict[str, Any]] = {
    RuleName.UNIT_ON_TIME_RATE: {
        "window": "1d",
        "resolved": 25,
        "resolved_on_time": 18,
        "rate": 0.72,
        "below": 0.8,
    },
    RuleName.UNIT_OVERDUE_COUNT: {"overdue": 12, "above": 10},
    RuleName.UNIT_QUEUE_DEPTH: {"open": 320, "above": 300, "oldest_open_at": DUE - 86400.0},
    RuleName.UNIT_P90_LATENCY: {
        "window": "1d",
        "p90_sla_used": 1.3,
        "p90_latency": 2 * 86400 + 3 * HOUR,
        "resolved": 14,
        "sla_share_above": 1.0,
    },
    RuleName.UNIT_SURGE: {"window": "1h", "received": 45, "baseline": 14.0625, "factor": 2.0},
    RuleName.INDICATOR_AT_RISK: {
        "name_vi": "Thu ngân sách",
        "name_en": "Budget revenue",
        "measure": "tỷ đồng",
        "period": "2026",
        "current": 61.5,
        "projected": 96.25,
        "target": 120.0,
        "gap": -0.198,
        "run_rate": 0.4,
        "days_left": 146,
    },
    RuleName.INDICATOR_STALE: {
        "name_vi": "Thu ngân sách",
        "name_en": "Budget revenue",
        "period": "2026",
        "as_of": DUE,
    },
}


@pytest.mark.parametrize(
    ("rule", "item_id", "escalation", "facts", "expected"),
    [
        (
            RuleName.ITEM_DUE_SOON,
            "PA-2026-000123",
            0,
            item_facts(overdue_at=None),
            Texts(
                "Sắp đến hạn: PA-2026-000123 – Phường Bến Thành",
                "Due soon: PA-2026-000123 – Ben Thanh Ward",
                "Hạn xử lý 24/11/2026 17:00.",
                "Due 24/11/2026 17:00.",
            ),
        ),
        (
            RuleName.ITEM_OVERDUE,
            "PA-2026-000123",
            0,
            item_facts(),
            Texts(
                "Quá hạn: PA-2026-000123 – Phường Bến Thành",
                "Overdue: PA-2026-000123 – Ben Thanh Ward",
                "Hạn xử lý 24/11/2026 17:00; vừa quá hạn.",
                "Due 24/11/2026 17:00; just overdue.",
            ),
        ),
        (
            RuleName.ITEM_OVERDUE,
            "PA-2026-000123",
            1,
            item_facts(working_seconds_late=4 * HOUR),
            Texts(
                "Quá hạn – cấp 1 (Trưởng đơn vị): PA-2026-000123 – Phường Bến Thành",
                "Overdue – level 1 (Unit head): PA-2026-000123 – Ben Thanh Ward",
                "Hạn xử lý 24/11/2026 17:00; quá hạn 4 giờ làm việc.",
                "Due 24/11/2026 17:00; overdue by 4 working hours.",
            ),
        ),
        (
            RuleName.ITEM_OVERDUE,
            "PA-2026-000123",
            3,
            item_facts(working_seconds_late=28 * HOUR + 15 * 60, appointment_at=DUE + 6 * 86400),
            Texts(
                "Quá hạn – cấp 3 (Lãnh đạo Thành phố): PA-2026-000123 – Phường Bến Thành",
                "Overdue – level 3 (City leadership): PA-2026-000123 – Ben Thanh Ward",
                "Hạn xử lý 24/11/2026 17:00; quá hạn 3 ngày 4 giờ làm việc. Hẹn lại 30/11/2026 17:00.",
                "Due 24/11/2026 17:00; overdue by 3 working days 4 h. New appointment 30/11/2026 17:00.",
            ),
        ),
        (
            RuleName.UNIT_ON_TIME_RATE,
            None,
            0,
            UNIT_FACTS[RuleName.UNIT_ON_TIME_RATE],
            Texts(
                "Tỷ lệ đúng hạn thấp: Phường Bến Thành",
                "Low on-time rate: Ben Thanh Ward",
                "72% việc xử lý đúng hạn trong ngày (18/25); ngưỡng 80%.",
                "72% of items resolved on time today (18/25); threshold 80%.",
            ),
        ),
        (
            RuleName.UNIT_OVERDUE_COUNT,
            None,
            0,
            UNIT_FACTS[RuleName.UNIT_OVERDUE_COUNT],
            Texts(
                "Nhiều việc quá hạn: Phường Bến Thành",
                "Many overdue items: Ben Thanh Ward",
                "12 việc đang quá hạn (ngưỡng 10).",
                "12 items overdue now (threshold 10).",
            ),
        ),
        (
            RuleName.UNIT_QUEUE_DEPTH,
            None,
            0,
            UNIT_FACTS[RuleName.UNIT_QUEUE_DEPTH],
            Texts(
                "Tồn đọng lớn: Phường Bến Thành",
                "Large backlog: Ben Thanh Ward",
                "320 việc đang mở (ngưỡng 300). Việc cũ nhất tiếp nhận lúc 23/11/2026 17:00.",
                "320 items open now (threshold 300). Oldest received 23/11/2026 17:00.",
            ),
        ),
        (
            RuleName.UNIT_P90_LATENCY,
            None,
            0,
            UNIT_FACTS[RuleName.UNIT_P90_LATENCY],
            Texts(
                "Thời gian xử lý vượt thời hạn: Phường Bến Thành",
                "Handling time over SLA: Ben Thanh Ward",
                "P90 trong ngày: dùng 130% thời hạn, tức 2 ngày 3 giờ (14 việc đã xử lý); ngưỡng 100%.",
                "p90 today: 130% of the allowed time, i.e. 2 d 3 h (14 items resolved); threshold 100%.",
            ),
        ),
        (
            RuleName.UNIT_SURGE,
            None,
            0,
            UNIT_FACTS[RuleName.UNIT_SURGE],
            Texts(
                "Tiếp nhận tăng đột biến: Phường Bến Thành",
                "Surge in received items: Ben Thanh Ward",
                "45 việc tiếp nhận trong giờ hiện tại, gấp 3,2 lần mức thường (14,1).",
                "45 items received this hour, 3.2× the usual 14.1.",
            ),
        ),
        (
            RuleName.UNIT_SURGE,
            None,
            0,
            {**UNIT_FACTS[RuleName.UNIT_SURGE], "baseline": 0.0},
            Texts(
                "Tiếp nhận tăng đột biến: Phường Bến Thành",
                "Surge in received items: Ben Thanh Ward",
                "45 việc tiếp nhận trong giờ hiện tại, mức thường là 0.",
                "45 items received this hour, the usual is 0.",
            ),
        ),
        (
            RuleName.INDICATOR_AT_RISK,
            None,
            0,
            UNIT_FACTS[RuleName.INDICATOR_AT_RISK],
            Texts(
                "Chỉ số có nguy cơ không đạt: Thu ngân sách – Phường Bến Thành",
                "Indicator at risk: Budget revenue – Ben Thanh Ward",
                "Kỳ 2026: hiện đạt 61,5 tỷ đồng, dự báo 96,2 tỷ đồng (thiếu 19,8%), chỉ tiêu 120 tỷ đồng."
                " Cần 0,4 tỷ đồng mỗi ngày làm việc trong 146 ngày còn lại.",
                "2026: now 61.5 tỷ đồng, projected 96.2 tỷ đồng (19.8% short), target 120 tỷ đồng."
                " Needs 0.4 tỷ đồng per working day for the 146 left.",
            ),
        ),
        (
            RuleName.INDICATOR_AT_RISK,
            None,
            0,
            {**UNIT_FACTS[RuleName.INDICATOR_AT_RISK], "recovered": True, "projected": 121000.0},
            Texts(
                "Chỉ số hết nguy cơ: Thu ngân sách – Phường Bến Thành",
                "Indicator recovered: Budget revenue – Ben Thanh Ward",
                "Kỳ 2026: dự báo 121.000 tỷ đồng, chỉ tiêu 120 tỷ đồng.",
                "2026: projected 121,000 tỷ đồng, target 120 tỷ đồng.",
            ),
        ),
    ],
)
def test_render_each_rule(
    rule: str,
    item_id: str | None,
    escalation: int,
    facts: dict[str, Any],
    expected: Texts,
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> None:
    texts = render(
        rule,
        unit="P-BEN-THANH",
        item_id=item_id,
        escalation=escalation,
        facts=facts,
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    assert texts == expected


@pytest.mark.parametrize("rule", list(RuleName))
def test_citizen_text_never_reaches_titles_or_texts(
    rule: str, config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    facts = {**item_facts(), **UNIT_FACTS.get(rule, {}), "note": HOSTILE, "title": HOSTILE}
    texts = render(
        rule,
        unit="P-BEN-THANH",
        item_id="PA-1",
        escalation=1,
        facts=facts,
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    for value in (texts.title_vi, texts.title_en, texts.text_vi, texts.text_en):
        assert "Rác" not in value and "<" not in value


def test_render_rejects_an_unknown_rule(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    with pytest.raises(ValueError, match="unknown rule 'item_lost'"):
        render(
            "item_lost",
            unit="Q1",
            item_id=None,
            escalation=0,
            facts={},
            config=config,
            catalog=catalog,
            calendar=calendar,
        )


def test_a_ratio_indicators_run_rate_counts_cases(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    facts = {**UNIT_FACTS[RuleName.INDICATOR_AT_RISK], "measure": "%", "kind": "ratio", "run_rate": 7.14}
    texts = render(
        RuleName.INDICATOR_AT_RISK,
        unit="P-BEN-THANH",
        item_id=None,
        escalation=0,
        facts=facts,
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    assert texts.text_en.endswith("Needs 7.1 qualifying cases per working day for the 146 left.")
    assert texts.text_vi.endswith("Cần 7,1 trường hợp đạt mỗi ngày làm việc trong 146 ngày còn lại.")
