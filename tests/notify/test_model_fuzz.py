"""Hostile messages on gov.alerts: every one is an alert event the dispatcher takes, or a
ValueError the notifier dead-letters — never an exception that would stop it."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.model import AlertEventType
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from notify.dispatch import Dispatcher
from notify.model import parse_event
from notify.routes import load_routes
from runtime.settings import load_settings
from tests.notify.conftest import MONDAY_9, alert, event
from tests.support.hypothesis_profile import fuzz
from tests.support.strategies import json_scalars, json_values

VALID = event(AlertEventType.OPENED, alert("NV-1")).to_json()


def mutations() -> st.SearchStrategy[dict[str, Any]]:
    """The valid event with one alert field (or a top-level field) replaced by any JSON value."""
    value = json_values(json_scalars(text_size=20), max_leaves=6)
    alert_field = st.sampled_from(sorted(VALID["alert"]))
    top_field = st.sampled_from(sorted(VALID))
    in_alert = st.tuples(alert_field, value).map(
        lambda kv: {**VALID, "alert": {**VALID["alert"], kv[0]: kv[1]}}
    )
    on_top = st.tuples(top_field, value).map(lambda kv: {**VALID, kv[0]: kv[1]})
    return in_alert | on_top


@pytest.fixture(scope="module")
def dispatcher(catalog: Catalog, calendar: WorkCalendar) -> Dispatcher:
    return Dispatcher(load_routes(load_settings({}).routes_file), catalog=catalog, calendar=calendar)


@fuzz(300)
@given(mutations())
def test_a_mutated_alert_event_is_taken_or_refused_with_a_value_error(
    dispatcher: Dispatcher, message: dict[str, Any]
) -> None:
    try:
        parsed = parse_event(orjson.dumps(message))
    except ValueError:
        return
    dispatcher.on_event(parsed, MONDAY_9)
    dispatcher.due(MONDAY_9 + 3600)


@fuzz(200)
@given(st.binary(max_size=200) | json_values(json_scalars(text_size=20), max_leaves=8).map(orjson.dumps))
def test_any_bytes_are_an_event_or_a_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_event(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"incident": "1"}, "not an alert event: alert.incident = '1' has the wrong type"),
        ({"updated_at": True}, "not an alert event: alert.updated_at = 'True' has the wrong type"),
        ({"audience": [1]}, "not an alert event: alert.audience must be a list of texts"),
        (
            {"explanations": [{"kind": "shout", "by": "x", "text": "t", "at": 1.0}]},
            "not an alert event: alert.explanations has an entry that is not a request or answer",
        ),
    ],
)
def test_wrong_types_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_event(orjson.dumps({**VALID, "alert": {**VALID["alert"], **change}}))
    assert str(caught.value) == message


def test_no_value_is_refused() -> None:
    with pytest.raises(ValueError, match="message has no value; expected an alert event"):
        parse_event(None)
