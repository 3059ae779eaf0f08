"""The API's security against a real node: keys never leak (logs, bodies, Redis), hostile
text stays data, and a key's scope holds for every route."""

from __future__ import annotations

import pytest
import redis

from tests.support.apitools import UNIT_A, UNIT_B, create_key, received, start_api
from tests.support.stack import Stack
from tests.support.webtools import queue_change

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("x")</script>\u202e\x00 Ph\u01b0\u1eddng'


def test_keys_never_appear_in_logs_bodies_or_redis_even_at_debug(stack: Stack) -> None:
    api = start_api({**stack.env, "GOVPULSE_LOG_LEVEL": "debug"}, stack.workdir / "logs")
    secret = create_key(stack.settings, "portal-1022")
    guessed = secret[:-4] + "AAAA"
    try:
        with api.client() as client:
            bodies = [
                client.post(
                    "/api/v1/events",
                    json=received("PA-1", "e1"),
                    headers={"Authorization": f"Bearer {secret}"},
                ),
                client.get("/api/v1/items/PA-1", headers={"X-API-Key": guessed}),
                client.get("/open311/v2/requests/PA-1.json", params={"api_key": secret}),
                client.post("/open311/v2/requests.json", data={"api_key": guessed, "service_code": "y-te"}),
            ]
    finally:
        api.stop()
    client_redis = redis.Redis.from_url(stack.settings.redis_target)
    dump = b"".join(
        key + b"".join(client_redis.hgetall(key).values()) if client_redis.type(key) == b"hash" else key
        for key in client_redis.keys("api:*")
    )
    client_redis.close()

    assert [r.status_code for r in bodies] == [202, 401, 200, 401]
    for text in (api.log(10_000), *(r.text for r in bodies), dump.decode(errors="replace")):
        assert secret not in text and guessed not in text


def test_hostile_text_is_kept_verbatim_as_json_data(stack: Stack) -> None:
    api = start_api(stack.env, stack.workdir / "logs")
    secret = create_key(stack.settings, "portal-1022")
    try:
        with api.client(secret) as client:
            sent = client.post("/api/v1/events", json=received("PA-1", "e1", title=HOSTILE, note=HOSTILE))
            refused = client.post("/api/v1/events", json={**received("PA-2", "e2"), "type": HOSTILE})
            reflected = client.get("/api/v1/items/" + "%3Cscript%3E")
    finally:
        api.stop()

    assert sent.status_code == 202
    (record,) = stack.read(stack.topics.feedback)
    assert (record.json()["title"], record.json()["note"]) == (HOSTILE, HOSTILE)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert reflected.status_code == 404 and reflected.headers["content-type"] == "application/problem+json"
    for response in (refused, reflected):
        assert "text/html" not in response.headers["content-type"]


def test_a_unit_key_sees_nothing_of_other_units_on_any_route(stack: Stack) -> None:
    import asyncio

    from runtime.board import BoardStore

    async def publish() -> None:
        board = BoardStore.from_url(stack.settings.redis_target)
        await board.publish([queue_change("PA-B", UNIT_B)])
        await board.close()

    asyncio.run(publish())
    api = start_api(stack.env, stack.workdir / "logs")
    ward = create_key(stack.settings, "ward", units=[UNIT_A])
    try:
        with api.client(ward) as client:
            item = client.get("/api/v1/items/PA-B")
            stats = client.get(f"/api/v1/units/{UNIT_B}/stats")
            request = client.get("/open311/v2/requests/PA-B.json")
            write = client.post("/api/v1/events", json=received("PA-B2", "x", unit=UNIT_B))
    finally:
        api.stop()

    assert [item.status_code, stats.status_code, request.status_code, write.status_code] == [
        404,
        403,
        404,
        403,
    ]
    assert "P-BEN-THANH" not in item.text and "P-BEN-THANH" not in request.text
    assert stack.read(stack.topics.feedback) == []
