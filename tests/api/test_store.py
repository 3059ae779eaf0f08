"""The API's Redis (api.store) on a real Redis: keys, reservations, item records, board reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from api.errors import ApiKeyError
from api.ingest import Admitted, admit
from api.keys import ApiKey
from api.reports import AdmittedReport, admit_reports
from api.store import ApiStore, report_reservation_key, reservation_key
from domain.catalog import Catalog
from domain.events import format_instant
from domain.indicators.catalog import IndicatorCatalog
from runtime.board import BoardStore
from runtime.settings import load_settings
from tests.support.webtools import queue_change, unit_change

pytestmark = pytest.mark.integration

CATALOG = Catalog.from_file(load_settings({}).units_file)
INDICATORS = IndicatorCatalog.from_file(load_settings({}).indicators_file, CATALOG)
NOW = 1_800_000_000.0


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ApiStore]:
    opened = ApiStore.from_url(redis_url, CATALOG)
    yield opened
    await opened.close()


def admitted(*events: dict[str, Any]) -> tuple[Admitted, ...]:
    admission = admit(
        orjson.dumps(list(events)), catalog=CATALOG, now=NOW, max_event_bytes=65536, max_future_skew=86400
    )
    assert admission.refusals == ()
    return admission.admitted


def ev(item_id: str, event_id: str, kind: str = "received", **extra: Any) -> dict[str, Any]:
    out = {"event_id": event_id, "item_id": item_id, "type": kind, "occurred_at": format_instant(NOW)}
    if kind == "received":
        out.update(unit="P-SAI-GON", category="y-te", title="t")
    return {**out, **extra}


async def test_keys_are_added_once_found_by_hash_listed_and_revoked(store: ApiStore) -> None:
    key = ApiKey(name="portal", key_hash="ab" * 32, units=frozenset({"P-SAI-GON"}), rate=3.0)
    await store.add_key(key)
    with pytest.raises(ApiKeyError) as caught:
        await store.add_key(key)

    assert str(caught.value) == (
        "a key named 'portal' exists; revoke it first (`govpulse apikey revoke --name portal`) "
        "or choose another name"
    )
    assert await store.find_key("ab" * 32) == key
    assert await store.keys() == [key]
    assert await store.revoke("portal") is True
    assert await store.revoke("portal") is False
    assert await store.find_key("ab" * 32) is None


async def test_reservations_tell_new_duplicate_in_flight_and_conflict(store: ApiStore) -> None:
    first = admitted(ev("PA-1", "e1"), ev("PA-2", "e2"))
    assert await store.reserve(first, pending_ttl=30) == ["new", "new"]
    assert await store.reserve(first, pending_ttl=30) == ["in_flight", "in_flight"]

    await store.confirm(first[:1], ttl=3600)
    await store.release(first[1:])
    changed = admitted(ev("PA-1", "e1", note="other"))

    assert await store.reserve(first, pending_ttl=30) == ["duplicate", "new"]
    assert await store.reserve(changed, pending_ttl=30) == ["conflict"]
    assert 3500 < await store.client.ttl(reservation_key("PA-1", "e1")) <= 3600


def reports(*values: tuple[str, str, float]) -> tuple[AdmittedReport, ...]:
    body = [
        {
            "event_id": event_id,
            "indicator": "DT-GIAI-NGAN-PHUONG",
            "unit": unit,
            "period": "2027",
            "value": value,
            "as_of": format_instant(NOW),
        }
        for event_id, unit, value in values
    ]
    admission = admit_reports(
        orjson.dumps(body), catalog=INDICATORS, now=NOW, max_event_bytes=65536, max_future_skew=86400
    )
    assert admission.refusals == ()
    return admission.admitted


async def test_report_reservations_are_per_unit_and_apart_from_event_reservations(store: ApiStore) -> None:
    first = reports(("r1", "P-BAN-CO", 1.0), ("r2", "P-BAN-CO", 2.0))
    assert await store.reserve_reports(first, pending_ttl=30) == ["new", "new"]
    assert await store.reserve_reports(first, pending_ttl=30) == ["in_flight", "in_flight"]

    await store.confirm_reports(first[:1], ttl=3600)
    await store.release_reports(first[1:])

    assert await store.reserve_reports(first, pending_ttl=30) == ["duplicate", "new"]
    assert await store.reserve_reports(reports(("r1", "P-BAN-CO", 9.0)), pending_ttl=30) == ["conflict"]
    assert await store.reserve_reports(reports(("r1", "P-SAI-GON", 1.0)), pending_ttl=30) == ["new"]
    assert await store.reserve(admitted(ev("P-BAN-CO", "r1")), pending_ttl=30) == ["new"]
    assert 3500 < await store.client.ttl(report_reservation_key("P-BAN-CO", "r1")) <= 3600


async def test_settling_never_touches_a_reservation_another_request_holds(store: ApiStore) -> None:
    mine = admitted(ev("PA-1", "e1"))
    theirs = admitted(ev("PA-1", "e1", note="x"))
    await store.reserve(mine, pending_ttl=30)

    await store.confirm(theirs, ttl=3600)  # a different digest: not theirs to confirm
    await store.release(theirs)

    assert await store.reserve(mine, pending_ttl=30) == ["in_flight"]


async def test_item_records_keep_the_last_unit_and_the_receipt(store: ApiStore) -> None:
    await store.confirm(
        admitted(
            ev("PA-1", "e1"),
            ev("PA-1", "e2", "transferred", unit="P-BEN-THANH"),
            ev("PA-1", "e3", "resolved"),
        ),
        ttl=60,
        now=NOW + 1,
    )

    assert await store.item_record("PA-1") == {
        "type": "resolved",
        "at": NOW,
        "accepted_at": NOW + 1,
        "unit": "P-BEN-THANH",
        "received_at": NOW,
        "category": "y-te",
        "title": "t",
    }
    assert await store.item_units(["PA-1", "PA-NONE"], frozenset(), now=NOW + 3600) == {
        "PA-1": "P-BEN-THANH",  # closed through the API: its last unit
        "PA-NONE": None,
    }
    assert await store.item_record("PA-NONE") is None


async def test_board_reads_find_queue_entries_within_a_scope_and_unit_entries(
    store: ApiStore, redis_url: str
) -> None:
    board = BoardStore.from_url(redis_url)
    await board.publish([queue_change("PA-9", "P-BEN-THANH"), unit_change("P-SAI-GON")])
    await board.close()

    assert (await store.queue_entry("PA-9", frozenset()) or {})["unit"] == "P-BEN-THANH"
    assert await store.queue_entry("PA-9", frozenset({"P-SAI-GON"})) is None
    assert await store.queue_entry("PA-9", frozenset({CATALOG.root})) is not None  # the city covers its wards
    assert await store.item_units(["PA-9"], frozenset({"P-SAI-GON"}), now=NOW) == {"PA-9": None}
    assert (await store.unit_entry("P-SAI-GON") or {})["code"] == "P-SAI-GON"
    assert await store.unit_entry("P-BEN-THANH") is None


async def test_item_units_of_a_batch_find_each_item_at_its_own_unit(store: ApiStore, redis_url: str) -> None:
    board = BoardStore.from_url(redis_url)
    await board.publish([queue_change("PA-A", "P-SAI-GON"), queue_change("PA-B", "P-BEN-THANH")])
    await board.close()
    await store.confirm(admitted(ev("PA-C", "c1", unit="P-BEN-THANH")), ttl=60, now=NOW)
    # The API placed PA-B at P-SAI-GON, but the board (another producer moved it) knows better.
    await store.confirm(admitted(ev("PA-B", "b1", unit="P-SAI-GON")), ttl=60, now=NOW)

    found = await store.item_units(["PA-A", "PA-X", "PA-B", "PA-C"], frozenset({CATALOG.root}), now=NOW + 10)

    assert found == {"PA-A": "P-SAI-GON", "PA-X": None, "PA-B": "P-BEN-THANH", "PA-C": "P-BEN-THANH"}


async def test_a_record_stands_in_for_the_board_only_while_the_worker_may_not_have_seen_it(
    store: ApiStore,
) -> None:
    await store.confirm(admitted(ev("PA-D", "d1", unit="P-SAI-GON")), ttl=600, now=NOW)
    ward = frozenset({"P-SAI-GON"})

    assert await store.item_units(["PA-D"], ward, now=NOW + 30) == {"PA-D": "P-SAI-GON"}  # not processed yet
    # A minute on, an open item would be on the board: it is not at a unit of the scope.
    assert await store.item_units(["PA-D"], ward, now=NOW + 61) == {"PA-D": None}
