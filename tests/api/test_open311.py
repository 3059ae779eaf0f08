"""The Open311 GeoReport v2 mapping (api.open311): services, requests as events, status."""

from __future__ import annotations

import pytest

from api.keys import ApiKey
from api.open311 import RequestRefused, new_ids, request_event, service_request, services
from domain.catalog import Catalog
from domain.events import event_from_dict, format_instant
from domain.sla import SlaPolicy
from runtime.settings import load_settings

SETTINGS = load_settings({})
CATALOG = Catalog.from_file(SETTINGS.units_file)
SLA = SlaPolicy.from_file(SETTINGS.sla_file)
NOW = 1_800_000_000.0
KEY = ApiKey(name="portal", key_hash="h")
WARD_KEY = ApiKey(name="ward", key_hash="h", units=frozenset({"P-SAI-GON"}))


def test_services_are_the_categories_with_their_service_level() -> None:
    listed = {s["service_code"]: s for s in services(SLA)}

    assert set(listed) == set(SLA.categories)
    assert listed["moi-truong"] == {
        "service_code": "moi-truong",
        "service_name": "Môi trường",
        "description": "Environment: due in 5 working days (24 hours when urgent)",
        "metadata": False,
        "type": "realtime",
        "keywords": "environment",
        "group": "govpulse",
    }


def test_a_request_becomes_a_valid_received_event_with_the_category_sla() -> None:
    form = {
        "service_code": "giao-thong",
        "description": "Đèn giao thông hỏng",
        "jurisdiction_id": "P-BEN-THANH",
        "lat": "10.77",
        "long": "106.70",
        "email": "citizen@example.org",
        "first_name": "An",
    }
    event = request_event(form, key=KEY, catalog=CATALOG, sla=SLA, now=NOW, ids=("PA-311-X", "open311:x"))

    assert event == {
        "event_id": "open311:x",
        "item_id": "PA-311-X",
        "type": "received",
        "occurred_at": format_instant(NOW),
        "unit": "P-BEN-THANH",
        "category": "giao-thong",
        "sla": {"working_days": 7},
        "title": "Đèn giao thông hỏng",
        "channel": "open311",
        "location": {"lat": "10.77", "long": "106.70"},
    }
    assert event_from_dict(event).sla is not None  # the contract accepts it; no personal data in it


def test_a_key_for_one_unit_may_leave_out_the_jurisdiction() -> None:
    form = {"service_code": "y-te", "description": "x"}
    event = request_event(
        form, key=WARD_KEY, catalog=CATALOG, sla=SLA, now=NOW, ids=("PA-311-Y", "open311:y")
    )

    assert event["unit"] == "P-SAI-GON"


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        (
            {"description": "x", "jurisdiction_id": "P-SAI-GON"},
            "service_code is required; GET services.json lists them",
        ),
        (
            {"service_code": "pothole", "description": "x", "jurisdiction_id": "P-SAI-GON"},
            "service_code 'pothole' is not a service; GET services.json lists them",
        ),
        (
            {"service_code": "y-te", "description": "x"},
            "jurisdiction_id is required: the unit code that handles the request (e.g. P-BEN-THANH); "
            "it may be left out only by a key limited to one unit",
        ),
        (
            {"service_code": "y-te", "description": "x", "jurisdiction_id": "NOPE"},
            "jurisdiction_id 'NOPE' is not a unit code of the catalog",
        ),
        (
            {"service_code": "y-te", "description": " ", "jurisdiction_id": "P-SAI-GON"},
            "description is required (what the citizen reports)",
        ),
    ],
)
def test_requests_are_refused_with_what_to_send(form: dict[str, str], reason: str) -> None:
    with pytest.raises(RequestRefused) as caught:
        request_event(form, key=KEY, catalog=CATALOG, sla=SLA, now=NOW, ids=("PA-311-Z", "open311:z"))
    assert caught.value.reason == reason


def test_the_same_idempotency_key_gives_the_same_ids_per_api_key() -> None:
    assert new_ids(KEY, "req-1") == new_ids(KEY, "req-1") != new_ids(WARD_KEY, "req-1")
    assert new_ids(KEY, None) != new_ids(KEY, None)
    item_id, event_id = new_ids(KEY, "req-1")
    assert item_id.startswith("PA-311-") and event_id.startswith("open311:")


def test_an_open_item_reports_its_current_due_as_expected_datetime() -> None:
    entry = {
        "id": "PA-311-A",
        "unit": "P-SAI-GON",
        "category": "moi-truong",
        "title": "Rác",
        "status": "paused",
        "stage": "accepted",
        "received_at": NOW,
        "unit_since": NOW + 60,
        "due": NOW + 86400,
    }
    request = service_request("PA-311-A", entry=entry, record=None, sla=SLA, catalog=CATALOG, now=NOW)

    assert request == {
        "service_request_id": "PA-311-A",
        "status": "open",
        "status_notes": "status paused, stage accepted",
        "service_name": "Môi trường",
        "service_code": "moi-truong",
        "description": "Rác",
        "agency_responsible": CATALOG.get("P-SAI-GON").name_vi,
        "requested_datetime": format_instant(NOW),
        "updated_datetime": format_instant(NOW + 60),
        "expected_datetime": format_instant(NOW + 86400),
    }


@pytest.mark.parametrize(
    ("last", "age", "status", "notes"),
    [
        ("resolved", 5.0, "closed", "last event: resolved"),
        ("cancelled", 500.0, "closed", "last event: cancelled"),
        ("received", 5.0, "open", "accepted; not processed yet"),
        ("received", 61.0, "closed", "no longer open on the board (resolved or cancelled)"),
    ],
)
def test_an_item_off_the_board_is_reported_from_what_the_api_accepted(
    last: str, age: float, status: str, notes: str
) -> None:
    record = {
        "unit": "P-SAI-GON",
        "category": "y-te",
        "type": last,
        "at": NOW,
        "received_at": NOW - 5,
        "title": "t",
        "accepted_at": NOW,
    }
    request = service_request("PA-311-B", entry=None, record=record, sla=SLA, catalog=CATALOG, now=NOW + age)

    assert (request["status"], request["status_notes"], request["expected_datetime"]) == (status, notes, None)
    assert request["requested_datetime"] == format_instant(NOW - 5)
