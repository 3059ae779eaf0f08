"""The API's routes against a real ``govpulse api`` process, a real broker and Redis.

Each test starts the process (``api`` fixture) on the stack's topics; records are read
back from the broker, board entries are written with the real board store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from runtime.board import BoardStore, Change
from tests.support.apitools import UNIT_A, UNIT_B, ApiNode, create_key, event, received, start_api
from tests.support.stack import Stack
from tests.support.webtools import queue_change, unit_change

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def records(stack: Stack) -> list[Any]:
    return stack.read(stack.topics.feedback) + stack.read(stack.topics.tasks)


def publish(stack: Stack, *changes: Change) -> None:
    async def run() -> None:
        store = BoardStore.from_url(stack.settings.redis_target)
        try:
            await store.publish(list(changes))
        finally:
            await store.close()

    asyncio.run(run())


def test_a_batch_is_answered_202_per_event_once_on_the_broker_keyed_like_every_producer(
    stack: Stack, api: ApiNode
) -> None:
    secret = create_key(stack.settings, "portal-1022")
    batch = [received(f"PA-{i}", f"e{i}") for i in range(20)] + [received("NV-1", "t1", due_at=None)]
    with api.client(secret) as client:
        response = client.post("/api/v1/events", json=batch)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["duplicates"]) == (21, 0)
    assert [r["status"] for r in answer["results"]] == ["accepted"] * 21
    found = {r.key.decode(): r for r in records(stack)}
    assert set(found) == {e["item_id"] for e in batch}
    for result in answer["results"]:
        record = found[result["item_id"]]
        assert (record.topic, record.partition, record.offset) == (
            result["topic"],
            result["partition"],
            result["offset"],
        )
        assert record.partition == DefaultPartitioner()(record.key, list(range(4)), list(range(4)))
        assert record.header("govpulse.api_key") == "portal-1022"
        assert record.header("govpulse.source") == "api"
        assert record.json() == batch[result["index"]]
    assert found["NV-1"].topic == stack.topics.tasks
    assert found["PA-0"].topic == stack.topics.feedback


def test_a_retried_post_creates_nothing_new_and_says_so_per_event(stack: Stack, api: ApiNode) -> None:
    secret = create_key(stack.settings, "portal-1022")
    batch = [received("PA-1", "e1"), received("PA-2", "e2")]
    with api.client(secret) as client:
        first = client.post("/api/v1/events", json=batch)
        retries = [client.post("/api/v1/events", json=batch) for _ in range(3)]
        partly = client.post("/api/v1/events", json=[*batch, received("PA-3", "e3")])

    assert first.status_code == 202
    for retry in retries:
        assert retry.status_code == 202
        assert retry.json()["accepted"] == 0
        assert [(r["event_id"], r["status"], r["offset"]) for r in retry.json()["results"]] == [
            ("e1", "duplicate", None),
            ("e2", "duplicate", None),
        ]
    assert [r["status"] for r in partly.json()["results"]] == ["duplicate", "duplicate", "accepted"]
    assert sorted(r.key for r in records(stack)) == [b"PA-1", b"PA-2", b"PA-3"]
    with api.client() as client:
        metrics = client.get("/api/metrics").text
    assert 'govpulse_api_events_total{key="portal-1022",outcome="accepted"} 3.0' in metrics
    assert 'govpulse_api_events_total{key="portal-1022",outcome="duplicate"} 8.0' in metrics


def test_concurrent_identical_posts_produce_each_event_once(stack: Stack, api: ApiNode) -> None:
    import httpx

    secret = create_key(stack.settings, "portal-1022")
    batch = [received(f"PA-{i}", f"e{i}") for i in range(50)]

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=api.base, headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            return await asyncio.gather(*(client.post("/api/v1/events", json=batch) for _ in range(8)))

    responses = asyncio.run(post_all())

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.headers["retry-after"] == "1"
            assert response.json()["type"] == "urn:govpulse:problem:in-flight"
    assert sum(r.json()["accepted"] for r in responses if r.status_code == 202) == 50
    assert len(records(stack)) == 50


def test_an_event_id_reused_for_other_content_is_refused_409(stack: Stack, api: ApiNode) -> None:
    secret = create_key(stack.settings, "portal-1022")
    with api.client(secret) as client:
        client.post("/api/v1/events", json=received("PA-1", "e1", title="a"))
        response = client.post(
            "/api/v1/events", json=[received("PA-2", "e2"), received("PA-1", "e1", title="b")]
        )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [
        {
            "index": 1,
            "event_id": "e1",
            "reason": "event_id 'e1' was already accepted for item PA-1 with different content; "
            "never reuse an event_id for a new fact",
        }
    ]
    assert [r.key for r in records(stack)] == [b"PA-1"]  # PA-2 was released, not produced


def test_invalid_events_get_problem_details_with_the_dead_letter_reasons_and_nothing_is_produced(
    stack: Stack, api: ApiNode
) -> None:
    secret = create_key(stack.settings, "portal-1022")
    with api.client(secret) as client:
        response = client.post(
            "/api/v1/events",
            json=[
                received("PA-1", "e1"),
                {**received("PA-2", "e2"), "type": "closed"},
                received("PA-3", "e3", unit="X"),
            ],
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "urn:govpulse:problem:invalid-events",
        "title": "The events are not valid",
        "status": 422,
        "detail": "2 events are invalid; nothing was accepted (fix them and send the batch again)",
        "instance": "/api/v1/events",
        "errors": [
            {
                "index": 1,
                "event_id": "e2",
                "reason": "unknown type 'closed'; expected one of: received, assigned, transferred, "
                "accepted, progress, extended, paused, resumed, resolved, reopened, cancelled",
            },
            {
                "index": 2,
                "event_id": "e3",
                "reason": "'received' for item PA-3: unknown unit 'X' (not in the unit catalog)",
            },
        ],
    }
    assert records(stack) == []


def test_refusals_of_the_request_carry_a_clear_body(stack: Stack) -> None:
    api = start_api({**stack.env, "GOVPULSE_API_MAX_BODY_BYTES": "2048"}, stack.workdir / "logs")
    try:
        secret = create_key(stack.settings, "portal-1022")
        slow = create_key(stack.settings, "slow", rate=0.2)
        with api.client(secret) as client, api.client(slow) as slow_client, api.client() as anonymous:
            large = client.post("/api/v1/events", json=[received("PA-1", "e1", note="n" * 3000)])
            text = client.post("/api/v1/events", content=b"{}", headers={"Content-Type": "text/plain"})
            missing = anonymous.post("/api/v1/events", json=received("PA-1", "e1"))
            wrong = anonymous.post("/api/v1/events", json={}, headers={"X-API-Key": "gpk_nope"})
            first = slow_client.get("/api/v1/items/PA-1")
            limited = slow_client.get("/api/v1/items/PA-1")
            body = client.post("/api/v1/events", content=b"[1,", headers={"Content-Type": "application/json"})
    finally:
        api.stop()

    assert (large.status_code, large.headers["content-type"]) == (413, PROBLEM)
    assert large.json()["detail"].startswith("the body is ")
    assert large.json()["detail"].endswith(
        "over the limit of 2048 (GOVPULSE_API_MAX_BODY_BYTES); send at most 1000 events per request, "
        "or fewer larger ones"
    )
    assert (text.status_code, text.json()["detail"]) == (
        415,
        "Content-Type 'text/plain' is not JSON; send `Content-Type: application/json`",
    )
    assert (missing.status_code, missing.json()["detail"]) == (
        401,
        "send the API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)",
    )
    assert (wrong.status_code, wrong.json()["detail"]) == (
        401,
        "the API key is unknown or revoked; ask the operator for a key",
    )
    assert first.status_code == 404
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "5"
    assert limited.json()["detail"] == (
        "key 'slow' is limited to 0.2 requests per second; slow down (batch events: up to 1000 per request)"
    )
    assert (body.status_code, body.json()["errors"][0]["index"]) == (422, None)
    assert body.json()["detail"].startswith("not valid JSON (UTF-8): ")
    assert records(stack) == []


def test_a_key_limited_to_a_unit_writes_and_reads_only_there(stack: Stack, api: ApiNode) -> None:
    ward = create_key(stack.settings, "ward-sai-gon", units=[UNIT_A])
    due = time.time() + 86400
    publish(
        stack,
        queue_change("PA-THERE", UNIT_B, due=due),
        queue_change("PA-HERE", UNIT_A, due=due),
        unit_change(UNIT_A),
        unit_change(UNIT_B),
    )
    with api.client(ward) as client:
        own = client.post(
            "/api/v1/events", json=[received("PA-NEW", "e1"), event("PA-HERE", "e2", "accepted")]
        )
        other = client.post("/api/v1/events", json=received("PA-X", "e3", unit=UNIT_B))
        foreign = client.post("/api/v1/events", json=event("PA-THERE", "e4", "resolved"))
        item_here = client.get("/api/v1/items/PA-HERE")
        item_there = client.get("/api/v1/items/PA-THERE")
        stats_here = client.get(f"/api/v1/units/{UNIT_A}/stats", params={"window": "1h"})
        stats_there = client.get(f"/api/v1/units/{UNIT_B}/stats")

    assert own.status_code == 202, own.text
    assert other.status_code == 403
    assert other.json()["errors"] == [
        {
            "index": 0,
            "event_id": "e3",
            "reason": "key 'ward-sai-gon' may not write for unit P-BEN-THANH (it covers P-SAI-GON)",
        }
    ]
    assert foreign.status_code == 403
    assert foreign.json()["errors"][0]["reason"] == (  # it does not learn where the item is
        "item PA-THERE is not open at a unit key 'ward-sai-gon' covers (P-SAI-GON); "
        "a key limited to units writes only for items at those units"
    )
    assert item_here.status_code == 200
    assert (item_here.json()["id"], item_here.json()["unit"], item_here.json()["due"]) == (
        "PA-HERE",
        UNIT_A,
        due,
    )
    assert item_there.status_code == 404
    assert stats_here.status_code == 200
    stats = stats_here.json()
    assert (stats["code"], stats["window"], stats["counters"]["received"], stats["gauges"]["open"]) == (
        UNIT_A,
        "1h",
        20,
        10,
    )
    assert stats_there.status_code == 403
    assert sorted(r.key for r in records(stack)) == [b"PA-HERE", b"PA-NEW"]


def test_stats_refuse_unknown_units_and_windows(stack: Stack, api: ApiNode) -> None:
    secret = create_key(stack.settings, "portal-1022")
    with api.client(secret) as client:
        unknown = client.get("/api/v1/units/NOPE/stats")
        window = client.get(f"/api/v1/units/{UNIT_A}/stats", params={"window": "2w"})
        empty = client.get(f"/api/v1/units/{UNIT_A}/stats")

    assert (unknown.status_code, unknown.json()["detail"]) == (
        404,
        "'NOPE' is not a unit code of the catalog",
    )
    assert (window.status_code, window.json()["detail"]) == (
        422,
        "window '2w' is not counted; use one of 5m, 1h, 1d, period",
    )
    assert (empty.status_code, empty.json()["counters"], empty.json()["gauges"]) == (200, {}, {})


def test_open311_clients_create_and_follow_requests(stack: Stack, api: ApiNode) -> None:
    secret = create_key(stack.settings, "portal-1022")
    form = {"api_key": secret, "service_code": "moi-truong", "description": "Rác", "jurisdiction_id": UNIT_A}
    with api.client() as client:
        services = client.get("/open311/v2/services.json")
        created = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "r-1"})
        again = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "r-1"})
        request_id = created.json()[0]["service_request_id"]
        pending = client.get(f"/open311/v2/requests/{request_id}.json", params={"api_key": secret})
        due = time.time() + 5 * 86400
        publish(stack, queue_change(request_id, UNIT_A, due=due, category="moi-truong"))
        open_ = client.get(f"/open311/v2/requests/{request_id}.json", headers={"X-API-Key": secret})
        bad = client.post("/open311/v2/requests.json", data={**form, "service_code": "pothole"})
        unknown = client.get("/open311/v2/requests/PA-311-NONE.json", params={"api_key": secret})
        anonymous = client.post("/open311/v2/requests.json", data={"service_code": "y-te"})

    assert services.status_code == 200 and "moi-truong" in {s["service_code"] for s in services.json()}
    assert created.status_code == 200
    assert (
        created.json()
        == again.json()
        == [{"service_request_id": request_id, "service_notice": "due in 5 working days", "account_id": None}]
    )
    (record,) = records(stack)
    assert record.json()["type"] == "received" and record.json()["sla"] == {"working_days": 5}
    assert record.json()["channel"] == "open311" and record.key == request_id.encode()
    assert pending.json()[0]["status"] == "open" and pending.json()[0]["expected_datetime"] is None
    assert open_.json()[0]["status"] == "open"
    from domain.events import format_instant

    assert open_.json()[0]["expected_datetime"] == format_instant(due)
    assert (bad.status_code, bad.json()) == (
        400,
        [
            {
                "code": 400,
                "description": "service_code 'pothole' is not a service; GET services.json lists them",
            }
        ],
    )
    assert (unknown.status_code, unknown.json()[0]["code"]) == (404, 404)
    assert anonymous.status_code == 401


def test_a_revoked_key_stops_working(stack: Stack, api: ApiNode) -> None:
    import subprocess
    import sys

    secret = create_key(stack.settings, "portal-1022")
    with api.client(secret) as client:
        assert client.get("/api/v1/items/PA-1").status_code == 404
        revoked = subprocess.run(
            [sys.executable, "-m", "govpulse.cli", "apikey", "revoke", "--name", "portal-1022"],
            env={**stack.env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 10
        while client.get("/api/v1/items/PA-1").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works after 10 s"
            time.sleep(0.5)


def test_openapi_31_document_and_docs_page_are_served(stack: Stack, api: ApiNode) -> None:
    with api.client() as client:
        document = client.get("/api/openapi.json").json()
        docs = client.get("/api/docs")

    assert document["openapi"] == "3.1.0"
    assert {
        "/api/v1/events",
        "/api/v1/indicators",
        "/api/v1/items/{item_id}",
        "/api/v1/units/{code}/stats",
        "/open311/v2/services.json",
        "/open311/v2/requests.json",
        "/open311/v2/requests/{request_id}.json",
    } <= set(document["paths"])
    assert document["components"]["schemas"]["Event"]["required"] == [
        "event_id",
        "item_id",
        "type",
        "occurred_at",
    ]
    assert document["components"]["schemas"]["IndicatorReport"]["required"] == [
        "event_id",
        "indicator",
        "unit",
        "period",
        "as_of",
    ]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert orjson.loads(orjson.dumps(document))  # plain JSON


def test_unknown_routes_and_methods_are_problems_too(stack: Stack, api: ApiNode) -> None:
    with api.client() as client:
        missing = client.get("/api/v2/events")
        method = client.delete("/api/v1/events")

    assert (missing.status_code, missing.headers["content-type"], missing.json()["detail"]) == (
        404,
        PROBLEM,
        "no route GET /api/v2/events; see /api/docs",
    )
    assert (method.status_code, method.json()["type"], method.json()["detail"]) == (
        405,
        "urn:govpulse:problem:method-not-allowed",
        "DELETE is not allowed on /api/v1/events; see /api/docs",
    )
