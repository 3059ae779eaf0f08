from __future__ import annotations

from datetime import datetime

import pytest

from domain.calendar import LOCAL_TZ
from domain.indicators.periods import parse_period, period_of


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


@pytest.mark.parametrize(
    ("label", "kind", "start", "end"),
    [
        ("2026", "year", "2026-01-01T00:00", "2027-01-01T00:00"),
        ("2026-Q1", "quarter", "2026-01-01T00:00", "2026-04-01T00:00"),
        ("2026-Q4", "quarter", "2026-10-01T00:00", "2027-01-01T00:00"),
        ("2026-02", "month", "2026-02-01T00:00", "2026-03-01T00:00"),
        ("2026-12", "month", "2026-12-01T00:00", "2027-01-01T00:00"),
    ],
)
def test_periods_run_from_local_midnight_to_local_midnight(
    label: str, kind: str, start: str, end: str
) -> None:
    period = parse_period(label, kind)

    assert (period.start, period.end) == (local(start), local(end))


@pytest.mark.parametrize(
    ("instant", "kind", "label"),
    [
        # 23:59:59 local on 31 March is still Q1 although it is 16:59 UTC...
        ("2026-03-31T23:59:59", "quarter", "2026-Q1"),
        # ...and 00:00 local on 1 April is Q2 although UTC still reads 31 March.
        ("2026-04-01T00:00:00", "quarter", "2026-Q2"),
        ("2026-12-31T23:59:59", "year", "2026"),
        ("2027-01-01T00:00:00", "year", "2027"),
        ("2027-01-01T00:00:00", "quarter", "2027-Q1"),
        ("2026-06-30T23:59:59", "month", "2026-06"),
        ("2026-07-01T00:00:00", "month", "2026-07"),
    ],
)
def test_period_of_follows_local_time_at_quarter_and_year_ends(instant: str, kind: str, label: str) -> None:
    assert period_of(local(instant), kind).label == label


@pytest.mark.parametrize(
    ("label", "kind", "message"),
    [
        (
            "2026-Q1",
            "year",
            "period '2026-Q1' is a quarter, but this indicator is set per year; write e.g. '2026'",
        ),
        (
            "2026",
            "month",
            "period '2026' is a year, but this indicator is set per month; write e.g. '2026-03'",
        ),
        ("2026-13", "month", "period '2026-13' is not a period label; write '2026-03' (a month)"),
        ("Q1-2026", "quarter", "period 'Q1-2026' is not a period label; write '2026-Q1' (a quarter)"),
        ("1999", "year", "period '1999' is outside the years 2000..2099"),
    ],
)
def test_wrong_period_labels_say_what_to_write(label: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_period(label, kind)

    assert str(caught.value) == message


def test_elapsed_and_month_index() -> None:
    period = parse_period("2026", "year")
    mid_march = local("2026-03-16T12:00")

    index, within = period.month_index(mid_march)

    assert index == 2 and within == pytest.approx(0.5)
    assert period.elapsed(period.start) == 0.0 and period.elapsed(period.end + 1) == 1.0
