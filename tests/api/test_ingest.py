"""Admission of POST bodies (api.ingest): the domain's reasons, whole-batch refusal, scopes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.ingest import MAX_BATCH, Admitted, admit, scope_refusals, units_needed
from api.keys import ApiKey
from domain.catalog import Catalog
from domain.errors import InvalidEvent
from domain.events import format_instant, parse_event
from domain.items import ItemKind
from runtime.settings import load_settings
from tests.support.strategies import json_scalars, json_values

SETTINGS = load_settings({})
CATALOG = Catalog.from_file(SETTINGS.units_file)
NOW = 1_800_000_000.0
AT = format_instant(NOW - 60)


def body(value: Any) -> bytes:
    return orjson.dumps(value)


def ev(item_id: str = "PA-1", event_id: str = "e1", kind: str = "received", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event_id": event_id, "item_id": item_id, "type": kind, "occurred_at": AT}
    if kind in ("received", "assigned", "transferred"):
        out["unit"] = "P-SAI-GON"
    out.update(extra)
    return out


def run(raw: bytes, **options: Any) -> Any:
    return admit(raw, catalog=CATALOG, now=NOW, max_event_bytes=65536, max_future_skew=86400.0, **options)


def dead_letter_reason(value: Any) -> str:
    """What the worker's parser says about one element."""
    try:
        parse_event(orjson.dumps(value))
    except InvalidEvent as exc:
        return exc.reason
    raise AssertionError("valid")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not valid JSON (UTF-8): unexpected end of data: line 1 column 2 (char 1)"),
        (b"[]", "the batch is empty; send one event object or an array of 1 to 1000"),
        (b'"x"', "expected an event object or an array of events, got a string"),
        (b"null", "expected an event object or an array of events, got null"),
        (
            body([ev(event_id=f"e{i}", item_id=f"PA-{i}") for i in range(MAX_BATCH + 1)]),
            "the batch has 1001 events, over the limit of 1000; split it",
        ),
    ],
)
def test_a_malformed_body_is_refused_as_a_whole(raw: bytes, reason: str) -> None:
    admission = run(raw)

    assert admission.admitted == ()
    assert [(r.index, r.reason) for r in admission.refusals] == [(None, reason)]


@pytest.mark.parametrize(
    "element",
    [
        {"item_id": "PA-1", "type": "received", "occurred_at": AT, "unit": "P-SAI-GON"},
        ev(kind="closed"),
        ev(occurred_at="2026-11-26 09:30"),
        ev(unit=None),
        ev(priority="high"),
        ev(kind="extended"),
        ev(sla={"days": 3}),
        ev(item_id="bad id"),
        ev(title="x" * 1001),
        [1, 2],
        "text",
    ],
)
def test_each_invalid_event_gets_the_dead_letter_reason(element: Any) -> None:
    admission = run(body([ev(event_id="ok", item_id="PA-OK"), element]))

    assert admission.admitted == ()
    assert [(r.index, r.reason) for r in admission.refusals] == [(1, dead_letter_reason(element))]


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        (
            ev(unit="P-NOWHERE"),
            "'received' for item PA-1: unknown unit 'P-NOWHERE' (not in the unit catalog)",
        ),
        (
            ev(kind="transferred", unit="X-1"),
            "'transferred' on item PA-1: unknown unit 'X-1' (not in the unit catalog)",
        ),
        (
            ev(occurred_at=format_instant(NOW + 86400 + 7200)),
            "occurred_at is 26.0 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)",
        ),
    ],
)
def test_the_checks_the_worker_makes_before_the_item_have_the_same_words(element: Any, reason: str) -> None:
    admission = run(body(element))

    assert [(r.index, r.event_id, r.reason) for r in admission.refusals] == [(0, "e1", reason)]


def test_an_event_id_twice_in_one_batch_is_refused() -> None:
    admission = run(body([ev(), ev(item_id="PA-2")]))

    assert [(r.index, r.reason) for r in admission.refusals] == [
        (1, "event_id 'e1' appears twice in the batch (also at index 0); send each event once")
    ]


def test_an_oversized_element_is_refused_with_the_worker_limit() -> None:
    admission = admit(
        body([ev(note="n" * 3000)]), catalog=CATALOG, now=NOW, max_event_bytes=2048, max_future_skew=86400.0
    )

    assert admission.refusals[0].reason.endswith("over the 2048-byte limit (GOVPULSE_MAX_EVENT_BYTES)")


def test_valid_events_keep_their_content_and_route_by_kind() -> None:
    task = ev(item_id="NV-7", event_id="t1", custom={"kept": True})
    admission = run(body([ev(), task]))

    assert admission.refusals == ()
    assert [(a.index, a.event.item_id, a.kind) for a in admission.admitted] == [
        (0, "PA-1", ItemKind.FEEDBACK),
        (1, "NV-7", ItemKind.TASK),
    ]
    assert orjson.loads(admission.admitted[1].value) == task  # unknown fields travel as sent
    assert run(body(task), kind=ItemKind.FEEDBACK).admitted[0].kind is ItemKind.FEEDBACK


def test_the_digest_ignores_key_order_but_not_content() -> None:
    one = run(b'{"event_id":"e1","item_id":"PA-1","type":"resolved","occurred_at":"%s"}' % AT.encode())
    same = run(b'{"occurred_at":"%s","type":"resolved","item_id":"PA-1","event_id":"e1"}' % AT.encode())
    other = run(body(ev(kind="resolved", note="x")))

    assert one.admitted[0].digest == same.admitted[0].digest != other.admitted[0].digest


# -- scopes --------------------------------------------------------------------------------


def admitted(*elements: dict[str, Any]) -> tuple[Admitted, ...]:
    return run(body(list(elements))).admitted


WARD_KEY = ApiKey(name="ward", key_hash="h", units=frozenset({"P-SAI-GON"}))


def test_units_needed_are_items_no_earlier_event_of_the_batch_placed() -> None:
    events = admitted(
        ev("PA-1", "a"), ev("PA-1", "b", "accepted"), ev("PA-2", "c", "resolved"), ev("PA-2", "d", "paused")
    )

    assert units_needed(events) == ["PA-2"]


@pytest.mark.parametrize(
    ("events", "units", "reasons"),
    [
        ([ev("PA-1", "a"), ev("PA-1", "b", "resolved")], {}, []),
        (
            [ev("PA-1", "a", unit="P-BEN-THANH")],
            {},
            ["key 'ward' may not write for unit P-BEN-THANH (it covers P-SAI-GON)"],
        ),
        ([ev("PA-2", "a", "resolved")], {"PA-2": "P-SAI-GON"}, []),
        (
            [ev("PA-2", "a", "resolved")],
            {"PA-2": "P-BEN-THANH"},
            ["item PA-2 is at unit P-BEN-THANH, which key 'ward' does not cover (P-SAI-GON)"],
        ),
        (
            [ev("PA-2", "a", "resolved")],
            {"PA-2": None},
            [
                "item PA-2 is not open at a unit key 'ward' covers (P-SAI-GON); a key limited to units "
                "writes only for items at those units"
            ],
        ),
        (  # handing an item away is allowed; writing for it afterwards is not
            [
                ev("PA-1", "a"),
                ev("PA-1", "b", "transferred", unit="P-BEN-THANH"),
                ev("PA-1", "c", "resolved"),
            ],
            {},
            [
                "key 'ward' may not write for unit P-BEN-THANH (it covers P-SAI-GON)",
                "item PA-1 is at unit P-BEN-THANH, which key 'ward' does not cover (P-SAI-GON)",
            ],
        ),
    ],
)
def test_a_key_limited_to_units_writes_only_for_them(
    events: list[dict[str, Any]], units: dict[str, str | None], reasons: list[str]
) -> None:
    refused = scope_refusals(admitted(*events), WARD_KEY, CATALOG, units)

    assert [r.reason for r in refused] == reasons


def test_an_unscoped_key_writes_for_every_unit() -> None:
    key = ApiKey(name="all", key_hash="h")

    assert (
        scope_refusals(admitted(ev(unit="P-BEN-THANH"), ev("PA-9", "x", "resolved")), key, CATALOG, {}) == []
    )


# -- fuzzing -------------------------------------------------------------------------------

ELEMENTS = json_values(json_scalars(text_size=20), max_leaves=12)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.text(max_size=10) | st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "item_id": st.sampled_from(["PA-1", "NV-1", "", "a b"]) | st.text(max_size=10),
        "type": st.sampled_from(["received", "resolved", "extended", "x"]),
        "occurred_at": st.sampled_from([AT, "2026-11-26", "", format_instant(NOW + 10**6)]),
        "unit": st.sampled_from(["P-SAI-GON", "NOPE", ""]) | st.none(),
        "sla": ELEMENTS,
        "due_at": st.sampled_from([AT, "x"]) | st.none(),
    },
)


@given(st.binary(max_size=200) | st.lists(FIELDS | ELEMENTS, max_size=5).map(body) | FIELDS.map(body))
def test_any_body_is_admitted_or_refused_with_reasons_never_an_exception(raw: bytes) -> None:
    admission = run(raw)

    assert bool(admission.admitted) != bool(admission.refusals)  # one or the other, never both
    for refusal in admission.refusals:
        assert refusal.reason
    for entry in admission.admitted:
        assert parse_event(entry.value).event_id == entry.event.event_id  # the worker agrees


# -- reservations and the 202 body -----------------------------------------------------------


def test_reservations_sort_a_batch_into_fresh_events_and_refusals() -> None:
    from api.ingest import sort_reservations

    events = admitted(ev("PA-1", "a"), ev("PA-2", "b"), ev("PA-3", "c"), ev("PA-4", "d"))
    batch = sort_reservations(events, ["new", "duplicate", "conflict", "in_flight"])

    assert [e.event.event_id for e in batch.fresh] == ["a"]
    assert [(r.index, r.reason) for r in batch.conflicts] == [
        (
            2,
            "event_id 'c' was already accepted for item PA-3 with different content; "
            "never reuse an event_id for a new fact",
        )
    ]
    assert [(r.index, r.reason) for r in batch.in_flight] == [
        (3, "event_id 'd' is being produced by another request right now")
    ]


def test_the_202_body_has_a_result_per_event_in_order() -> None:
    from api.ingest import results

    events = admitted(ev("PA-1", "a"), ev("PA-2", "b"))

    assert results(events, {1: ("gov.feedback", 3, 42)}) == {
        "accepted": 1,
        "duplicates": 1,
        "results": [
            {
                "index": 0,
                "event_id": "a",
                "item_id": "PA-1",
                "status": "duplicate",
                "topic": None,
                "partition": None,
                "offset": None,
            },
            {
                "index": 1,
                "event_id": "b",
                "item_id": "PA-2",
                "status": "accepted",
                "topic": "gov.feedback",
                "partition": 3,
                "offset": 42,
            },
        ],
    }
