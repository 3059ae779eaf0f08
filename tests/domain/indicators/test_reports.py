from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.reports import InvalidReport, check_report_skew, parse_report
from tests.support.strategies import json_scalars, json_values


def report(**changes: Any) -> bytes:
    base: dict[str, Any] = {
        "event_id": "r-1",
        "indicator": "NS-THU-PHUONG",
        "unit": "P-BAN-CO",
        "period": "2026",
        "value": 12.5,
        "as_of": "2026-03-31T17:00:00+07:00",
        "reported_by": "staff-7",
        "note": "<script>alert(1)</script>",
    }
    base.update(changes)
    return orjson.dumps({key: value for key, value in base.items() if value is not ...})


def ratio(**changes: Any) -> bytes:
    fields: dict[str, Any] = {"indicator": "TTHC-DUNG-HAN", "value": ..., "numerator": 90, "denominator": 100}
    return report(**(fields | changes))


def test_a_valid_report_keeps_its_note_as_text(indicators: IndicatorCatalog) -> None:
    parsed, period = parse_report(report(), indicators)

    assert (parsed.value, parsed.period, period.kind) == (12.5, "2026", "year")
    assert parsed.note == "<script>alert(1)</script>"


def test_a_ratio_becomes_a_percentage(indicators: IndicatorCatalog) -> None:
    parsed, _ = parse_report(ratio(numerator=45, denominator=50), indicators)

    assert (parsed.value, parsed.numerator, parsed.denominator) == (90.0, 45, 50)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not JSON: "),
        (b"[]", "not a JSON object"),
        (report(indicator="XX-NONE"), "indicator 'XX-NONE' is not in the indicator catalog"),
        (report(unit="P-NOWHERE"), "unit 'P-NOWHERE' is not in the unit catalog"),
        (report(unit="SO-Y-TE"), "unit SO-Y-TE has no target for indicator NS-THU-PHUONG"),
        (report(period="2026-Q1"), "period '2026-Q1' is a quarter, but this indicator is set per year"),
        (
            report(period="2025", as_of="2026-05-01T00:00:00+07:00"),
            "as_of is more than 92 days after period 2025",
        ),
        (report(period="2027"), "as_of is before period 2027 starts"),
        (report(as_of="2027-06-01T00:00:00+07:00"), "as_of is more than 92 days after period 2026 ended"),
        (ratio(denominator=0, numerator=0), "denominator is 0; a ratio needs at least one counted case"),
        (ratio(numerator=-1), "field 'numerator' = -1 is negative; a count cannot be"),
        (ratio(numerator=1.5), "field 'numerator' = 1.5 is not a whole count"),
        (ratio(numerator=101), "numerator 101 is larger than denominator 100"),
        (ratio(value=3), "indicator TTHC-DUNG-HAN is a ratio: send numerator and denominator"),
        (report(numerator=3), "indicator NS-THU-PHUONG is a cumulative: send value"),
        (report(value=-2), "value -2 is negative; a cumulative total cannot be"),
        (report(value="12"), "field 'value' is not a number"),
        (report(value=True), "field 'value' is not a number"),
        (report(value=...), "field 'value' is missing"),
        (b'{"event_id":"r","value":NaN}', "not JSON: "),
        (report(as_of="yesterday"), "field 'as_of' = 'yesterday' is not an RFC 3339 instant"),
        (report(event_id="bad id"), "field 'event_id' = 'bad id' has characters outside"),
        (report(extra=1), "field 'extra' is unknown"),
        (report(note=3), "field 'note' is not a string"),
    ],
)
def test_every_kind_of_bad_report_is_refused_with_its_reason(
    indicators: IndicatorCatalog, raw: bytes, reason: str
) -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_report(raw, indicators)

    assert caught.value.reason.startswith(reason)


def test_nan_written_as_a_float_is_refused(indicators: IndicatorCatalog) -> None:
    from domain.indicators.reports import report_from_dict

    with pytest.raises(InvalidReport, match="not a finite number"):
        report_from_dict({**orjson.loads(report()), "value": float("nan")}, indicators)


def test_oversized_reports_are_refused(indicators: IndicatorCatalog) -> None:
    with pytest.raises(InvalidReport, match="more than 100"):
        parse_report(report(note="x" * 200), indicators, max_bytes=100)


FIELDS = st.sampled_from(
    ["event_id", "indicator", "unit", "period", "value", "numerator", "denominator", "as_of", "note", "x"]
)


@given(
    st.dictionaries(FIELDS, json_values(json_scalars(text_size=12), max_leaves=4), max_size=10)
    | st.binary(max_size=64)
)
def test_fuzzed_reports_parse_or_are_refused_with_a_reason(indicators: IndicatorCatalog, data: Any) -> None:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    try:
        parsed, period = parse_report(raw, indicators)
    except InvalidReport as exc:
        assert exc.reason
    else:
        assert period.start <= parsed.as_of


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12),
    day=st.integers(min_value=1, max_value=28),
    month=st.integers(min_value=1, max_value=12),
)
def test_fuzzed_valid_reports_round_trip(
    indicators: IndicatorCatalog, value: float, day: int, month: int
) -> None:
    from domain.indicators.reports import Report

    parsed, _ = parse_report(
        report(value=value, as_of=f"2026-{month:02d}-{day:02d}T10:00:00+07:00"), indicators
    )

    assert Report.from_json(orjson.loads(orjson.dumps(parsed.to_json()))) == parsed


@pytest.mark.parametrize(
    ("ahead", "reason"),
    [
        (0.0, None),
        (86400.0, None),
        (86400.0 + 1800, "as_of is 24.5 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)"),
    ],
)
def test_a_report_dated_beyond_the_future_skew_is_refused(
    indicators: IndicatorCatalog, ahead: float, reason: str | None
) -> None:
    parsed, _period = parse_report(report(), indicators)

    if reason is None:
        check_report_skew(parsed, now=parsed.as_of - ahead, limit=86400.0)
    else:
        with pytest.raises(InvalidReport) as refused:
            check_report_skew(parsed, now=parsed.as_of - ahead, limit=86400.0)
        assert refused.value.reason == reason
