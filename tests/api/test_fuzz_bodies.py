"""Fuzzed request bodies against a running API (hypothesis): every answer is a 202 or a
clear 4xx problem, never a 500, and nothing refused reaches the broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.keys import ApiKey
from api.open311 import RequestRefused, request_event
from domain.catalog import Catalog
from domain.events import event_from_dict, format_instant
from domain.sla import SlaPolicy
from runtime import services
from runtime.settings import load_settings
from tests.support.apitools import ApiNode, create_key, start_api
from tests.support.stack import Stack
from tests.support.strategies import json_scalars, json_values

SETTINGS = load_settings({})
CATALOG = Catalog.from_file(SETTINGS.units_file)
SLA = SlaPolicy.from_file(SETTINGS.sla_file)

VALUES = json_values(json_scalars(text_size=12), max_leaves=10)
EVENTISH = st.fixed_dictionaries(
    {
        "event_id": st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
        "item_id": st.sampled_from(["PA-1", "NV-1", "PA-2"]),
        "type": st.sampled_from(["received", "resolved", "extended", "paused", "bogus"]),
        "occurred_at": st.sampled_from(
            [format_instant(time.time() - 3600), "2026-11-26", "", "2099-12-31T23:59:59Z"]
        ),
    },
    optional={"unit": st.sampled_from(["P-SAI-GON", "NOPE", ""]) | VALUES, "sla": VALUES, "title": VALUES},
)
VALID = st.builds(
    lambda n, item: orjson.dumps(
        {
            "event_id": f"v{n}",
            "item_id": item,
            "type": "resolved",
            "occurred_at": format_instant(time.time() - 60),
        }
    ),
    st.integers(0, 10**9),
    st.sampled_from(["PA-1", "NV-1", "PA-2"]),
)
BODIES = (
    VALID
    | st.binary(max_size=300)
    | VALUES.map(orjson.dumps)
    | st.lists(EVENTISH | VALUES, min_size=1, max_size=6).map(orjson.dumps)
    | EVENTISH.map(orjson.dumps)
)


@pytest.fixture(scope="module")
def fuzz_api(
    broker: services.Service, redis_server: services.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiNode, str, Stack]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    stack = Stack(
        broker_port=broker.port, redis_url=f"redis://127.0.0.1:{redis_server.port}/4", workdir=workdir
    )
    node = start_api(stack.env, workdir / "logs")
    secret = create_key(stack.settings, "fuzz", rate=100_000.0)
    yield node, secret, stack
    node.stop()


@pytest.mark.integration
def test_any_body_gets_202_or_a_problem_never_a_server_error(fuzz_api: tuple[ApiNode, str, Stack]) -> None:
    node, secret, stack = fuzz_api
    accepted: set[str] = set()
    with httpx.Client(
        base_url=node.base, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    ) as client:

        @given(body=BODIES)
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def post(body: bytes) -> None:
            response = client.post(
                "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code in (202, 409, 422), (response.status_code, response.text)
            if response.status_code == 202:
                accepted.update(
                    r["event_id"] for r in response.json()["results"] if r["status"] == "accepted"
                )
                return
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert problem["status"] == response.status_code and problem["detail"]
            assert all(e["reason"] for e in problem.get("errors", []))

        post()
    on_broker = {
        r.json()["event_id"] for r in stack.read(stack.topics.feedback) + stack.read(stack.topics.tasks)
    }
    assert accepted, "no generated batch was valid: the strategies no longer reach the broker"
    assert on_broker == accepted  # exactly what was answered accepted, nothing refused


KEY = ApiKey(name="k", key_hash="h")
FORMS = st.dictionaries(
    st.sampled_from(["service_code", "jurisdiction_id", "description", "lat", "long", "address_string", "x"]),
    st.text(max_size=30) | st.sampled_from(["moi-truong", "P-SAI-GON", "y-te"]),
    max_size=7,
)


@given(form=FORMS)
def test_any_open311_form_becomes_a_valid_event_or_a_refusal(form: dict[str, str]) -> None:
    try:
        event: dict[str, Any] = request_event(
            form, key=KEY, catalog=CATALOG, sla=SLA, now=1_800_000_000.0, ids=("PA-311-F", "open311:f")
        )
    except RequestRefused as exc:
        assert exc.reason
        return
    parsed = event_from_dict(event)  # the worker's contract accepts it
    assert (parsed.unit, parsed.category) == (form["jurisdiction_id"].strip(), form["service_code"].strip())
