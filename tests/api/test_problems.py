"""RFC 9457 problem bodies (api.problems)."""

from __future__ import annotations

from api.ingest import Refusal
from api.problems import problem


def test_a_problem_has_type_title_status_detail_and_the_refused_events() -> None:
    body = problem(
        422, "1 events are invalid", errors=[Refusal(0, "missing required field 'type'", "e1")], instance="/x"
    )

    assert body == {
        "type": "urn:govpulse:problem:invalid-events",
        "title": "The events are not valid",
        "status": 422,
        "detail": "1 events are invalid",
        "instance": "/x",
        "errors": [{"index": 0, "event_id": "e1", "reason": "missing required field 'type'"}],
    }


def test_slug_and_title_can_name_a_variant() -> None:
    body = problem(409, "d", slug="in-flight", title="Being produced")

    assert (body["type"], body["title"], "errors" in body) == (
        "urn:govpulse:problem:in-flight",
        "Being produced",
        False,
    )


def test_every_status_the_api_answers_has_its_own_type_and_title() -> None:
    from api.problems import TITLES

    assert sorted(TITLES) == [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503]
    for status, (slug, title) in TITLES.items():
        assert problem(status, "d")["type"] == f"urn:govpulse:problem:{slug}" and title
