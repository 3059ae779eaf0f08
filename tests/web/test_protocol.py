"""The websocket protocol as pure functions: frames, scopes, resume, commands, rate limit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import Catalog, Unit
from domain.sla import CategorySla, UnitClock
from runtime.board import FeedBounds, Snapshot
from web import protocol
from web.auth import Scope
from web.errors import ProtocolError
from web.protocol import (
    AckFrame,
    AuthFrame,
    Denied,
    ExplainFrame,
    PingFrame,
    Resume,
    ResumeDecision,
    TokenBucket,
    ViewFrame,
)

WALL = Scope("wall")
LEADER = Scope("leader")
UNIT_A = Scope("unit", "P-A")

# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "frame"),
    [
        ({"type": "auth", "token": "t"}, AuthFrame("t")),
        (
            {"type": "auth", "token": "t", "resume": {"epoch": "e1", "seq": "17-3"}, "view": "P-A"},
            AuthFrame("t", Resume("e1", "17-3"), "P-A"),
        ),
        ({"type": "auth", "token": "t", "batch": True}, AuthFrame("t", batch=True)),
        ({"type": "auth", "token": "t", "batch": False}, AuthFrame("t")),
        ({"type": "ack", "alert": "item_overdue/PA-1"}, AckFrame("item_overdue/PA-1")),
        ({"type": "ack", "alert": "fp", "ref": "c1"}, AckFrame("fp", "c1")),
        ({"type": "explain", "alert": "fp", "text": "  Vì sao?  "}, ExplainFrame("fp", "Vì sao?")),
        ({"type": "view", "unit": "P-B"}, ViewFrame("P-B")),
        ({"type": "view", "unit": None}, ViewFrame(None)),
        ({"type": "ping"}, PingFrame()),
        ({"type": "ping", "extra": [1, 2]}, PingFrame()),
    ],
)
def test_parse_client_frame_accepts_every_frame_type(raw: dict[str, Any], frame: object) -> None:
    assert protocol.parse_client_frame(orjson.dumps(raw)) == frame
    assert protocol.parse_client_frame(orjson.dumps(raw).decode()) == frame


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (b"{not json", "bad_json", "frames must be JSON objects"),
        (b"[1,2]", "bad_json", "frames must be JSON objects"),
        (
            b'{"type":"dance"}',
            "unknown_type",
            "unknown frame type 'dance'; use auth, ack, explain, view, ping, "
            "push_key, push_subscribe, push_unsubscribe or inbox",
        ),
        (b'{"kind":"ack"}', "unknown_type", "unknown frame type None"),
        (b'{"type":"auth"}', "bad_frame", "auth needs a 'token' string"),
        (b'{"type":"auth","token":5}', "bad_frame", "auth needs a 'token' string"),
        (b'{"type":"auth","token":"t","resume":"x"}', "bad_frame", "auth 'resume' must be"),
        (
            b'{"type":"auth","token":"t","resume":{"epoch":"e","seq":"x"}}',
            "bad_frame",
            "auth 'resume.seq' must be a stream id",
        ),
        (
            b'{"type":"auth","token":"t","resume":{"epoch":"<e>","seq":"1-0"}}',
            "bad_frame",
            "auth 'resume.epoch'",
        ),
        (
            b'{"type":"auth","token":"t","view":"p-a"}',
            "bad_frame",
            "auth 'view' must be a unit code",
        ),
        (b'{"type":"auth","token":"t","batch":1}', "bad_frame", "auth 'batch' must be true or false"),
        (b'{"type":"ack"}', "bad_frame", "ack needs an 'alert' fingerprint string"),
        (b'{"type":"ack","alert":"a\\nb"}', "bad_frame", "ack needs an 'alert' fingerprint string"),
        (
            b'{"type":"ack","alert":"fp","ref":"has space"}',
            "bad_frame",
            "'ref' must be 1-64 characters",
        ),
        (b'{"type":"explain","alert":"fp"}', "bad_frame", "explain needs a non-empty 'text'"),
        (
            b'{"type":"explain","alert":"fp","text":"   "}',
            "bad_frame",
            "explain needs a non-empty 'text'",
        ),
        (b'{"type":"view","unit":"<script>"}', "bad_frame", "view 'unit' must be a unit code"),
    ],
)
def test_parse_client_frame_errors_name_the_problem(raw: bytes, code: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_client_frame(raw)

    assert caught.value.code == code
    assert caught.value.message.startswith(message)


def test_explain_text_is_bounded() -> None:
    ok = protocol.parse_client_frame(orjson.dumps({"type": "explain", "alert": "fp", "text": "x" * 2000}))
    assert isinstance(ok, ExplainFrame) and len(ok.text) == 2000
    with pytest.raises(ProtocolError, match="longer than 2000 characters"):
        protocol.parse_client_frame(orjson.dumps({"type": "explain", "alert": "fp", "text": "x" * 2001}))


# -- scope filter ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "view", "kind", "unit", "accepted"),
    [
        (WALL, None, "unit", "P-A", True),
        (WALL, None, "alert", "P-B", True),
        (WALL, None, "queue", "P-A", False),
        (WALL, "P-A", "queue", "P-A", True),
        (WALL, "P-A", "queue", "P-B", False),
        (LEADER, None, "unit", "HCM", True),
        (LEADER, "P-B", "queue", "P-B", True),
        (LEADER, "P-B", "queue", "P-A", False),
        (UNIT_A, "P-A", "unit", "P-A", True),
        (UNIT_A, "P-A", "alert", "P-A", True),
        (UNIT_A, "P-A", "queue", "P-A", True),
        (UNIT_A, "P-A", "unit", "P-B", False),
        (UNIT_A, "P-A", "unit", "HCM", False),
        (UNIT_A, "P-A", "alert", "P-B", False),
        (UNIT_A, "P-A", "queue", "P-B", False),
        (UNIT_A, "P-B", "queue", "P-B", False),  # a unit scope never views another queue
        (WALL, None, "other", "P-A", False),
    ],
)
def test_scope_filter(scope: Scope, view: str | None, kind: str, unit: str, accepted: bool) -> None:
    assert protocol.accepts(scope, view, kind, unit) is accepted


@pytest.mark.parametrize(
    ("scope", "unit", "allowed"),
    [
        (WALL, "P-B", True),
        (LEADER, "P-B", True),
        (WALL, None, True),
        (UNIT_A, "P-A", True),
        (UNIT_A, "P-B", False),
        (UNIT_A, None, False),
    ],
)
def test_can_view(scope: Scope, unit: str | None, allowed: bool) -> None:
    assert protocol.can_view(scope, unit) is allowed


@pytest.mark.parametrize(
    ("scope", "requested", "view"),
    [(UNIT_A, None, "P-A"), (UNIT_A, "P-B", "P-B"), (WALL, None, None), (LEADER, "P-B", "P-B")],
)
def test_default_view(scope: Scope, requested: str | None, view: str | None) -> None:
    assert protocol.default_view(scope, requested) == view


# -- resume ----------------------------------------------------------------------------

UNTRIMMED = FeedBounds(first="100-0", last="200-5", length=50, added=50)
TRIMMED = FeedBounds(first="150-0", last="200-5", length=40, added=90)
EMPTY_NEW = FeedBounds(first=None, last="0-0", length=0, added=0)
OLD_REDIS = FeedBounds(first="150-0", last="200-5", length=40, added=None)


@pytest.mark.parametrize(
    ("resume", "bounds", "decision"),
    [
        (None, UNTRIMMED, ResumeDecision(False, "no resume position")),
        (Resume("other", "150-0"), UNTRIMMED, ResumeDecision(False, "epoch changed")),
        (
            Resume("E", "300-0"),
            UNTRIMMED,
            ResumeDecision(False, "position beyond the end of the feed"),
        ),
        (Resume("E", "0-0"), UNTRIMMED, ResumeDecision(True, "feed never trimmed")),
        (Resume("E", "200-5"), UNTRIMMED, ResumeDecision(True, "feed never trimmed")),
        (Resume("E", "0-0"), EMPTY_NEW, ResumeDecision(True, "feed never trimmed")),
        (Resume("E", "150-0"), TRIMMED, ResumeDecision(True, "position retained")),
        (Resume("E", "199-0"), TRIMMED, ResumeDecision(True, "position retained")),
        (Resume("E", "149-9"), TRIMMED, ResumeDecision(False, "position trimmed from the feed")),
        (Resume("E", "0-0"), TRIMMED, ResumeDecision(False, "position trimmed from the feed")),
        (Resume("E", "150-0"), OLD_REDIS, ResumeDecision(True, "position retained")),
        (Resume("E", "100-0"), OLD_REDIS, ResumeDecision(False, "position trimmed from the feed")),
        (
            Resume("E", "200-5"),
            FeedBounds(first=None, last="200-5", length=0, added=10),
            ResumeDecision(True, "at the end of the feed"),
        ),
        (
            Resume("E", "100-0"),
            FeedBounds(first=None, last="200-5", length=0, added=10),
            ResumeDecision(False, "position trimmed from the feed"),
        ),
    ],
)
def test_decide_resume(resume: Resume | None, bounds: FeedBounds, decision: ResumeDecision) -> None:
    assert protocol.decide_resume(resume, epoch="E", bounds=bounds) == decision


@pytest.mark.parametrize(
    ("after", "bounds", "gapless"),
    [
        ("120-0", UNTRIMMED, True),
        ("160-0", TRIMMED, True),
        ("140-0", TRIMMED, False),
        ("200-5", TRIMMED, True),
    ],
)
def test_page_gapless(after: str, bounds: FeedBounds, gapless: bool) -> None:
    assert protocol.page_gapless(after, bounds) is gapless


# -- commands --------------------------------------------------------------------------

ACK = AckFrame("fp")
EXPLAIN = ExplainFrame("fp", "why?")


@pytest.mark.parametrize(
    ("scope", "frame", "alert_unit", "outcome"),
    [
        (LEADER, ACK, "P-A", "ack"),
        (LEADER, EXPLAIN, "P-A", "explain_request"),
        (LEADER, ACK, None, Denied("not_found", "alert 'fp' is not on the board")),
        (UNIT_A, EXPLAIN, "P-A", "explain_answer"),
        (
            UNIT_A,
            EXPLAIN,
            "P-B",
            Denied("forbidden", "a unit answers explanation requests on its own alerts only"),
        ),
        (
            UNIT_A,
            EXPLAIN,
            None,
            Denied("forbidden", "a unit answers explanation requests on its own alerts only"),
        ),
        (UNIT_A, ACK, "P-A", Denied("forbidden", "only leaders acknowledge alerts")),
        (WALL, ACK, "P-A", Denied("forbidden", "scope wall is read-only")),
        (WALL, EXPLAIN, "P-A", Denied("forbidden", "scope wall is read-only")),
    ],
)
def test_authorize_command(
    scope: Scope, frame: AckFrame | ExplainFrame, alert_unit: str | None, outcome: object
) -> None:
    assert protocol.authorize_command(scope, frame, alert_unit) == outcome


@pytest.mark.parametrize(
    ("scope", "frame", "outcome"),
    [
        (LEADER, EXPLAIN, "explain_request"),
        (LEADER, ACK, Denied("not_found", "alert 'fp' is not on the board")),
        (UNIT_A, EXPLAIN, Denied("forbidden", "a unit answers explanation requests on its own alerts only")),
        (WALL, EXPLAIN, Denied("forbidden", "scope wall is read-only")),
    ],
    ids=["leader-request-opens", "leader-cannot-ack-what-is-not-open", "unit-cannot-open", "wall-cannot"],
)
def test_only_a_leader_request_may_open_an_indicator_explanation_not_on_the_board(
    scope: Scope, frame: AckFrame | ExplainFrame, outcome: object
) -> None:
    # The fingerprint names an indicator whose owner is P-A, and no alert is on the board.
    assert protocol.authorize_command(scope, frame, None, opens_for="P-A") == outcome


def test_command_body_is_the_gov_commands_contract() -> None:
    body = protocol.command_body(
        command_id="abc",
        command_type="explain_request",
        alert="fp",
        text="Giải trình?",
        scope=LEADER,
        subject="lanh.dao",
        at=1_750_000_000.25,
    )

    assert orjson.loads(body) == {
        "command_id": "abc",
        "type": "explain_request",
        "alert": "fp",
        "text": "Giải trình?",
        "by": {"scope": "leader", "sub": "lanh.dao"},
        "at": "2025-06-15T22:06:40.250+07:00",
    }


@pytest.mark.parametrize(
    ("takes", "expected"),
    [
        # (instant, allowed?) with rate 2/s and burst 3
        ([0.0, 0.0, 0.0, 0.0], [True, True, True, False]),
        ([0.0, 0.0, 0.0, 0.4, 0.5], [True, True, True, False, True]),
        ([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0], [True, True, True, True, True, True, False]),
        ([5.0, 4.0], [True, True]),  # time going backwards never adds tokens
    ],
)
def test_token_bucket(takes: list[float], expected: list[bool]) -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)

    assert [bucket.take(at) for at in takes] == expected


def test_token_bucket_refuses_nonsense_parameters() -> None:
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        TokenBucket(rate=0, burst=1, now=0.0)


# -- health ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("beats", "now", "age"),
    [([], 100.0, None), ([90.0, 95.5], 100.0, 4.5), ([101.0], 100.0, 0.0)],
)
def test_worker_age(beats: list[float], now: float, age: float | None) -> None:
    assert protocol.worker_age(beats, now) == age


@pytest.mark.parametrize(
    ("redis_up", "age", "stale"),
    [
        (True, 1.0, False),
        (True, 10.0, False),
        (True, 10.5, True),
        (True, None, True),
        (False, 1.0, True),
    ],
)
def test_board_stale(redis_up: bool, age: float | None, stale: bool) -> None:
    assert protocol.board_stale(redis_up=redis_up, age=age) is stale


# -- server frames ---------------------------------------------------------------------

BODY = b'{"kind":"alert","op":"upsert","key":"fp","unit":"P-A","data":{"title":"<img src=x>"}}'


def test_delta_frame_is_the_stored_body_with_type_and_seq() -> None:
    assert orjson.loads(protocol.delta_frame("5-1", BODY)) == {
        "type": "delta",
        "seq": "5-1",
        "kind": "alert",
        "op": "upsert",
        "key": "fp",
        "unit": "P-A",
        "data": {"title": "<img src=x>"},
    }
    assert orjson.loads(protocol.delta_frame("5-1", BODY, recovered=True))["recovered"] is True


def test_snapshot_frame_embeds_the_stored_values() -> None:
    snapshot = Snapshot("E", "9-0", (b'{"code":"P-A"}', b'{"code":"P-B"}'), (), (b'{"id":"PA-1"}',))

    frame = orjson.loads(
        protocol.snapshot_frame(
            snapshot,
            scope=UNIT_A,
            view="P-A",
            clock_now=12.5,
            speed=60.0,
            heartbeat=5.0,
            reason="initial",
        )
    )

    assert frame == {
        "type": "snapshot",
        "epoch": "E",
        "seq": "9-0",
        "recovered": False,
        "reason": "initial",
        "view": "P-A",
        "scope": "unit:P-A",
        "clock": {"now": 12.5, "speed": 60.0},
        "heartbeat": 5.0,
        "units": [{"code": "P-A"}, {"code": "P-B"}],
        "alerts": [],
        "queue": [{"id": "PA-1"}],
    }


def test_heartbeat_resume_error_and_accepted_frames() -> None:
    assert orjson.loads(
        protocol.heartbeat_frame(
            ts=1.0,
            clock_now=2.0,
            speed=60.0,
            seq=None,
            stale=True,
            redis_up=False,
            age=None,
            epoch=None,
        )
    ) == {
        "type": "heartbeat",
        "ts": 1.0,
        "clock": 2.0,
        "speed": 60.0,
        "seq": "0-0",
        "epoch": None,
        "stale": True,
        "redis": "down",
        "worker_age": None,
    }
    assert orjson.loads(
        protocol.resume_frame(
            epoch="E",
            after="1-0",
            seq="9-0",
            count=3,
            scope=WALL,
            view=None,
            clock_now=2.0,
            speed=1.0,
            heartbeat=5.0,
        )
    ) == {
        "type": "resume",
        "recovered": True,
        "epoch": "E",
        "after": "1-0",
        "seq": "9-0",
        "count": 3,
        "view": None,
        "scope": "wall",
        "clock": {"now": 2.0, "speed": 1.0},
        "heartbeat": 5.0,
    }
    assert orjson.loads(protocol.error_frame("forbidden", "no", ref="c1")) == {
        "type": "error",
        "code": "forbidden",
        "message": "no",
        "ref": "c1",
    }
    assert orjson.loads(protocol.accepted_frame("abc")) == {"type": "accepted", "command_id": "abc"}


def test_batch_frame_wraps_deltas_in_order() -> None:
    first = protocol.delta_frame("1-0", b'{"kind":"unit","key":"A"}')
    second = protocol.delta_frame("1-1", b'{"kind":"unit","key":"B"}')
    frame = orjson.loads(protocol.batch_frame([first, second]))

    assert frame == {"type": "batch", "frames": [orjson.loads(first), orjson.loads(second)]}


# -- names ------------------------------------------------------------------------------


def test_names_document_carries_both_languages_of_units_and_categories() -> None:
    catalog = Catalog(
        [
            Unit("HCM", "Thành phố Hồ Chí Minh", "Ho Chi Minh City", "city", None),
            Unit("P-1", "Phường <Một>", "Ward <One>", "ward", "HCM"),
        ]
    )
    other = CategorySla("default", "Khác", "Other", 10, 48.0, UnitClock.CONTINUE)
    health = CategorySla("y-te", "Y tế", "Health", 5, 8.0, UnitClock.CONTINUE)

    document = orjson.loads(protocol.names_document(catalog, {"y-te": health}, other))

    assert document == {
        "units": {
            "HCM": {
                "name_vi": "Thành phố Hồ Chí Minh",
                "name_en": "Ho Chi Minh City",
                "kind": "city",
                "parent": None,
            },
            "P-1": {"name_vi": "Phường <Một>", "name_en": "Ward <One>", "kind": "ward", "parent": "HCM"},
        },
        "categories": {"y-te": {"name_vi": "Y tế", "name_en": "Health"}},
        "other_category": {"name_vi": "Khác", "name_en": "Other"},
    }


# -- fan-out groups -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "view", "batch", "other_scope", "other_view", "other_batch", "shared"),
    [
        (WALL, None, True, LEADER, None, True, True),
        (WALL, "P-A", True, LEADER, "P-A", True, True),
        (WALL, None, True, WALL, "P-A", True, False),
        (WALL, None, True, WALL, None, False, False),
        (UNIT_A, None, True, UNIT_A, "P-A", True, True),
        (UNIT_A, "P-A", True, Scope("unit", "P-B"), "P-B", True, False),
        (UNIT_A, "P-A", True, WALL, "P-A", True, False),
    ],
    ids=[
        "wall-and-leader",
        "same-view",
        "other-view",
        "batch-and-not",
        "unit-default-view",
        "other-unit",
        "unit-and-wall-viewing-it",
    ],
)
def test_connections_share_a_group_exactly_when_they_see_the_same_deltas_the_same_way(
    scope: Scope,
    view: str | None,
    batch: bool,
    other_scope: Scope,
    other_view: str | None,
    other_batch: bool,
    shared: bool,
) -> None:
    view = protocol.default_view(scope, view)
    other_view = protocol.default_view(other_scope, other_view)
    same = protocol.group_key(scope, view, batch=batch) == protocol.group_key(
        other_scope, other_view, batch=other_batch
    )

    assert same is shared
    # Sharing is safe: every feed entry reaches both or neither.
    for kind in ("unit", "alert", "queue"):
        for unit in ("P-A", "P-B"):
            if shared:
                assert protocol.accepts(scope, view, kind, unit) == protocol.accepts(
                    other_scope, other_view, kind, unit
                )


def deltas(count: int) -> list[bytes]:
    return [b'{"type":"delta","seq":"1-%d"}' % n for n in range(count)]


@pytest.mark.parametrize(
    ("count", "batch", "expected"),
    [
        (1, True, [b'{"type":"delta","seq":"1-0"}']),
        (2, True, [b'{"type":"batch","frames":[{"type":"delta","seq":"1-0"},{"type":"delta","seq":"1-1"}]}']),
        (2, False, [b'{"type":"delta","seq":"1-0"}', b'{"type":"delta","seq":"1-1"}']),
        (0, True, []),
    ],
    ids=["lone-delta", "batch", "unbatched", "nothing"],
)
def test_a_groups_frames_for_one_read(count: int, batch: bool, expected: list[bytes]) -> None:
    assert protocol.group_payloads(deltas(count), batch=batch) == expected


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(500, [500]), (501, [500, 1]), (1001, [500, 500, 1]), (1000, [500, 500])],
)
def test_batch_frames_are_split_at_the_batch_limit_keeping_the_order(count: int, sizes: list[int]) -> None:
    frames = protocol.group_payloads(deltas(count), batch=True)

    seqs: list[str] = []
    for frame in frames:
        data = orjson.loads(frame)
        inner = data["frames"] if data["type"] == "batch" else [data]
        seqs += [d["seq"] for d in inner]
    assert [len(orjson.loads(f).get("frames", [None])) for f in frames] == sizes
    assert seqs == [f"1-{n}" for n in range(count)]


def standing(**changes: Any) -> protocol.Standing:
    ready = {"syncing": False, "idle": True, "queued": 0, "epoch": "e1", "cursor": (5, 0), "buffered": 0}
    return protocol.Standing(**{**ready, **changes})


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({}, None),
        ({"cursor": (4, 9)}, None),  # behind the reader: everything up to it was offered
        ({"buffered": 1000}, None),
        ({"syncing": True}, "syncing"),
        ({"idle": False}, "sending"),
        ({"queued": 1}, "backlog"),
        ({"epoch": None, "cursor": None}, "epoch"),
        ({"epoch": "e0"}, "epoch"),
        ({"cursor": (5, 1)}, "ahead"),  # its snapshot holds entries the reader has not read
        ({"buffered": 1001}, "lagging"),
    ],
    ids=[
        "caught-up",
        "behind",
        "at-the-lag-limit",
        "syncing",
        "sending",
        "backlog",
        "never-synced",
        "other-epoch",
        "ahead",
        "lagging",
    ],
)
def test_a_connection_joins_its_group_only_where_the_groups_next_frame_starts(
    changes: dict[str, Any], refusal: str | None
) -> None:
    assert protocol.join_refusal(standing(**changes), epoch="e1", position=(5, 0), lag_limit=1000) == refusal


def test_only_waiting_for_the_reader_or_the_socket_is_retried_by_the_hub() -> None:
    assert {"ahead", "lagging"} == protocol.JOIN_LATER


@pytest.mark.parametrize(
    ("header", "bits"),
    [
        (None, 0),
        ("", 0),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12",
            12,
        ),
        ("permessage-deflate; server_no_context_takeover", 15),
        ("permessage-deflate; server_max_window_bits=12", 0),  # context kept: per connection
        ("permessage-deflate; server_no_context_takeover; server_max_window_bits=8", 0),
        ("permessage-deflate; server_no_context_takeover; server_max_window_bits=x", 0),
        ("x-other; a=1, permessage-deflate; server_no_context_takeover; server_max_window_bits=10", 10),
        ("x-other", 0),
        (";;;", 0),
    ],
)
def test_group_frames_are_deflated_once_only_without_context_takeover(header: str | None, bits: int) -> None:
    assert protocol.shared_deflate(header) == bits


@given(st.text(max_size=200))
def test_any_extensions_header_gives_a_window_or_nothing(header: str) -> None:
    assert protocol.shared_deflate(header) in {0, *range(9, 16)}
