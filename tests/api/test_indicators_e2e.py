"""``POST /api/v1/indicators`` against a real ``govpulse api``, broker, Redis and worker:
reports land on the indicators topic keyed by unit, once, within the key's units, and
become indicator records and board rows."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import orjson
import pytest
import redis
from aiokafka.partitioner import DefaultPartitioner

from domain.calendar import LOCAL_TZ, format_instant
from runtime.board import INDICATORS_KEY
from stream.stages.indicators import IndicatorRecord
from tests.support.apitools import ApiNode, create_key
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
YEAR = datetime.now(LOCAL_TZ).year


def report(event_id: str, *, unit: str = "P-BAN-CO", value: float = 10.0, **extra: Any) -> dict[str, Any]:
    start = datetime(YEAR, 1, 1, tzinfo=LOCAL_TZ).timestamp()
    return {
        "event_id": event_id,
        "indicator": "DT-GIAI-NGAN-PHUONG",
        "unit": unit,
        "period": str(YEAR),
        "value": value,
        "as_of": format_instant(max(start + 60, time.time() - 60)),
        "reported_by": "can-bo-1",
        **extra,
    }


def test_reports_are_produced_once_keyed_by_unit_with_the_key_header(stack: Stack, api: ApiNode) -> None:
    secret = create_key(stack.settings, "so-ke-hoach")
    batch = [report("r1"), report("r2", unit="P-SAI-GON")]
    with api.client(secret) as client:
        first = client.post("/api/v1/indicators", json=batch)
        retry = client.post("/api/v1/indicators", json=batch)
        reused = client.post("/api/v1/indicators", json=report("r1", value=99.0))

    assert first.status_code == 202, first.text
    assert [(r["event_id"], r["unit"], r["status"]) for r in first.json()["results"]] == [
        ("r1", "P-BAN-CO", "accepted"),
        ("r2", "P-SAI-GON", "accepted"),
    ]
    assert retry.status_code == 202
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (0, 2)
    assert reused.status_code == 409
    assert reused.json()["errors"][0]["reason"] == (
        "event_id 'r1' was already accepted for unit P-BAN-CO with different content; never reuse "
        "an event_id for a new report"
    )
    found = {r.key: r for r in stack.read(stack.topics.indicators)}
    assert set(found) == {b"P-BAN-CO", b"P-SAI-GON"}
    for result in first.json()["results"]:
        record = found[result["unit"].encode()]
        assert (record.topic, record.partition, record.offset) == (
            result["topic"],
            result["partition"],
            result["offset"],
        )
        assert record.partition == DefaultPartitioner()(record.key, list(range(4)), list(range(4)))
        assert record.header("govpulse.api_key") == "so-ke-hoach"
        assert record.header("govpulse.source") == "api"
        assert record.json() == batch[result["index"]]


def test_a_key_limited_to_a_unit_reports_only_for_it_and_invalid_reports_get_dead_letter_reasons(
    stack: Stack, api: ApiNode
) -> None:
    ward = create_key(stack.settings, "ward-ban-co", units=["P-BAN-CO"])
    with api.client(ward) as client:
        other = client.post("/api/v1/indicators", json=[report("r1"), report("r2", unit="P-SAI-GON")])
        invalid = client.post(
            "/api/v1/indicators",
            json=[
                report("r3", period=f"{YEAR}-Q1"),
                report("r4", as_of=format_instant(time.time() + 3 * 86400)),
            ],
        )

    assert other.status_code == 403
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["errors"] == [
        {
            "index": 1,
            "event_id": "r2",
            "reason": "key 'ward-ban-co' may not report for unit P-SAI-GON (it covers P-BAN-CO)",
        }
    ]
    assert invalid.status_code == 422
    problem = invalid.json()
    assert (problem["type"], problem["title"], problem["detail"]) == (
        "urn:govpulse:problem:invalid-reports",
        "The indicator reports are not valid",
        "2 reports are invalid; nothing was accepted (fix them and send the batch again)",
    )
    reasons = [e["reason"] for e in problem["errors"]]
    assert reasons[0].startswith(f"period '{YEAR}-Q1' is a quarter")
    assert reasons[1].endswith("h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)")
    assert stack.read(stack.topics.indicators, timeout=1) == []


def test_a_report_posted_through_the_api_becomes_an_indicator_record_and_board_row(
    stack: Stack, api: ApiNode, redis_url: str
) -> None:
    secret = create_key(stack.settings, "so-ke-hoach")
    worker = stack.start_worker()
    with api.client(secret) as client:
        response = client.post("/api/v1/indicators", json=report("api-r1", value=12.5, note="<b>qua API</b>"))
    assert response.status_code == 202, response.text

    key = f"DT-GIAI-NGAN-PHUONG|P-BAN-CO|{YEAR}"

    def the_record() -> IndicatorRecord | None:
        raw = stack.table("indicators").get(key.encode())
        return None if raw is None else IndicatorRecord.decode(raw)

    record = wait_for(the_record, timeout=60, what="the indicator record")
    assert [(r.event_id, r.value, r.reported_by) for r in record.reports] == [("api-r1", 12.5, "can-bo-1")]

    client = redis.Redis.from_url(redis_url)

    def board_row() -> bytes | None:
        found = client.hget(INDICATORS_KEY, key)
        return found if isinstance(found, bytes) else None

    row = orjson.loads(wait_for(board_row, timeout=30, what="the board row"))
    assert (row["unit"], row["note"]) == ("P-BAN-CO", "<b>qua API</b>")
    assert stack.read(stack.topics.deadletter, timeout=1) == []
    assert worker.running, stack.log(worker)
