"""Admission of indicator reports: the reasons are the worker's dead-letter reasons, word for word."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.ingest import Refusal
from api.keys import ApiKey
from api.reports import admit_reports, report_results, report_scope_refusals, sort_report_reservations
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.reports import FIELDS
from stream.stages.indicators import REPORT, IndicatorProcessor
from stream.stages.items import Message
from tests.support.strategies import json_scalars, json_values

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=LOCAL_TZ).timestamp()
SKEW = 86400.0


@pytest.fixture(scope="module")
def units() -> Catalog:
    return Catalog.from_file(DATA / "units.json")


@pytest.fixture(scope="module")
def catalog(units: Catalog) -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", units)


def report(event_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "indicator": "DT-GIAI-NGAN-PHUONG",
        "unit": "P-BAN-CO",
        "period": "2026",
        "value": 42.5,
        "as_of": "2026-06-01T00:00:00+07:00",
        **extra,
    }


def admit(body: Any, catalog: IndicatorCatalog) -> Any:
    return admit_reports(
        orjson.dumps(body), catalog=catalog, now=NOW, max_event_bytes=65536, max_future_skew=SKEW
    )


def dead_letter_reason(element: Any, catalog: IndicatorCatalog) -> str:
    """What the worker's indicator stage says of the same message."""
    processor = IndicatorProcessor(
        catalog=catalog,
        calendar=WorkCalendar.from_file(DATA / "calendar.toml"),
        load=lambda key: None,
        max_future_skew=SKEW,
    )
    message = Message(REPORT, "gov.indicators", 0, 1, b"P-BAN-CO", orjson.dumps(element))
    letters = processor.process([message], now=NOW).dead_letters
    assert len(letters) == 1
    return letters[0].reason


@pytest.mark.parametrize(
    "element",
    [
        report(unit="P-NOWHERE"),
        report(indicator="NO-SUCH"),
        report(period="2026-Q1"),
        report(as_of="2026-06-01T00:00:00"),
        report(as_of="2026-08-01T00:00:00+07:00"),  # beyond GOVPULSE_MAX_FUTURE_SKEW
        report(colour="red"),
        report(value=None),
        report(value="12"),
        {**report(), "indicator": "TTHC-DUNG-HAN", "value": None, "numerator": 3, "denominator": 0},
        {**report(), "indicator": "TTHC-DUNG-HAN", "value": None, "numerator": 5, "denominator": 4},
        report(event_id="bad id"),
        [1, 2],
        "text",
    ],
)
def test_invalid_reports_are_refused_with_the_worker_s_dead_letter_reason(
    element: Any, catalog: IndicatorCatalog
) -> None:
    admission = admit([report("ok"), element], catalog)

    assert admission.admitted == ()
    assert admission.refusals == (
        Refusal(
            1,
            dead_letter_reason(element, catalog),
            element.get("event_id") if isinstance(element, dict) else None,
        ),
    )


def test_a_future_report_is_refused_exactly_as_the_worker_dead_letters_it(catalog: IndicatorCatalog) -> None:
    admission = admit(report(as_of="2026-06-20T10:00:00+07:00"), catalog)

    assert [r.reason for r in admission.refusals] == [
        "as_of is 120.0 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)"
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "the batch is empty; send one report object or an array of 1 to 1000"),
        (
            [report(f"r{i}") for i in range(1001)],
            "the batch has 1001 reports, over the limit of 1000; split it",
        ),
        ("x", "expected a report object or an array of reports, got a string"),
        (None, "expected a report object or an array of reports, got null"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_whole(
    body: Any, reason: str, catalog: IndicatorCatalog
) -> None:
    assert admit(body, catalog).refusals == (Refusal(None, reason),)


def test_a_report_sent_twice_in_one_batch_is_refused(catalog: IndicatorCatalog) -> None:
    admission = admit([report("r1"), report("r1", value=1.0)], catalog)

    assert admission.refusals == (
        Refusal(1, "event_id 'r1' appears twice in the batch (also at index 0); send each report once", "r1"),
    )


def test_a_valid_batch_is_admitted_with_the_bytes_as_sent_and_a_content_digest(
    catalog: IndicatorCatalog,
) -> None:
    ratio = {**report("r2", unit="HCM"), "indicator": "TTHC-DUNG-HAN", "value": None}
    ratio |= {"numerator": 9, "denominator": 10}
    admission = admit([report("r1"), ratio], catalog)

    first, second = admission.admitted
    assert (first.unit, first.report.value, orjson.loads(first.value)) == ("P-BAN-CO", 42.5, report("r1"))
    assert (second.unit, second.report.value) == ("HCM", 90.0)
    reordered = dict(reversed(list(report("r1").items())))
    assert admit(reordered, catalog).admitted[0].digest == first.digest
    assert admit(report("r1", value=1.0), catalog).admitted[0].digest != first.digest


def test_a_key_limited_to_units_may_report_only_for_them_and_their_descendants(
    catalog: IndicatorCatalog, units: Catalog
) -> None:
    admitted = admit([report("r1"), report("r2", unit="P-SAI-GON")], catalog).admitted
    key = ApiKey(name="ward", key_hash="h", units=frozenset({"P-BAN-CO"}), rate=1.0, created_at=0.0)
    city = ApiKey(name="city", key_hash="h", units=frozenset({"HCM"}), rate=1.0, created_at=0.0)

    assert report_scope_refusals(admitted, key, units) == [
        Refusal(1, "key 'ward' may not report for unit P-SAI-GON (it covers P-BAN-CO)", "r2")
    ]
    assert report_scope_refusals(admitted, city, units) == []


def test_reservations_sort_into_fresh_conflicts_and_in_flight_and_results_say_which(
    catalog: IndicatorCatalog,
) -> None:
    admitted = admit([report("r1"), report("r2"), report("r3"), report("r4")], catalog).admitted

    batch = sort_report_reservations(admitted, ["new", "duplicate", "conflict", "in_flight"])

    assert [e.event_id for e in batch.fresh] == ["r1"]
    assert batch.conflicts == (
        Refusal(
            2,
            "event_id 'r3' was already accepted for unit P-BAN-CO with different content; never reuse "
            "an event_id for a new report",
            "r3",
        ),
    )
    assert batch.in_flight == (
        Refusal(3, "event_id 'r4' is being produced by another request right now", "r4"),
    )
    body = report_results(admitted[:2], {0: ("gov.indicators", 3, 7)})
    assert body["accepted"] == 1 and body["duplicates"] == 1
    assert body["results"] == [
        {
            "index": 0,
            "event_id": "r1",
            "indicator": "DT-GIAI-NGAN-PHUONG",
            "unit": "P-BAN-CO",
            "period": "2026",
            "status": "accepted",
            "topic": "gov.indicators",
            "partition": 3,
            "offset": 7,
        },
        {
            "index": 1,
            "event_id": "r2",
            "indicator": "DT-GIAI-NGAN-PHUONG",
            "unit": "P-BAN-CO",
            "period": "2026",
            "status": "duplicate",
            "topic": None,
            "partition": None,
            "offset": None,
        },
    ]


@functools.cache
def shared_catalog() -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", Catalog.from_file(DATA / "units.json"))


@settings(max_examples=200, deadline=None)
@given(
    element=st.one_of(
        json_values(json_scalars(text_size=20), max_leaves=8),
        st.builds(
            lambda name, value: {**report(), name: value},
            st.sampled_from(sorted(FIELDS)),
            json_scalars(text_size=40),
        ),
    )
)
def test_any_json_element_is_admitted_or_refused_with_the_dead_letter_reason(element: Any) -> None:
    catalog = shared_catalog()
    admission = admit([element], catalog)

    if admission.refusals:
        assert [r.reason for r in admission.refusals] == [dead_letter_reason(element, catalog)]
    else:
        assert len(admission.admitted) == 1
