"""The notifier end to end: alert events on gov.alerts, a real notifier process, real receivers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis

from alerts.model import AlertEventType, Severity
from runtime import services
from runtime.services import Service
from tests.notify.conftest import WARD2, alert, event, start_notifier
from tests.support.receivers import WebhookReceiver, new_secret
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration


def routes_file(tmp_path: Path, url: str, secrets: list[str], *, extra: str = "") -> Path:
    path = tmp_path / "routes.toml"
    quoted = ", ".join(f'"{s}"' for s in secrets)
    path.write_text(
        f"""
[route]
receiver = "hook"
group_by = ["unit"]
group_wait = "300ms"
group_interval = "1s"
repeat_interval = "1h"
active_hours = "always"
{extra}

[receivers.hook]
type = "webhook"
url = "{url}"
secrets = [{quoted}]
retry_initial = "100ms"
retry_max = "500ms"
give_up_after = "5m"
""",
        encoding="utf-8",
    )
    return path


def env_for(stack: Stack, routes: Path) -> dict[str, str]:
    return {
        **stack.env,
        "GOVPULSE_ROUTES_FILE": str(routes),
        "GOVPULSE_NOTIFY_LEASE": "2s",
        "GOVPULSE_CLOCK": "wall",
    }


def send(stack: Stack, *events: object) -> None:
    stack.produce((stack.topics.alerts, e.fingerprint.encode(), e.encode()) for e in events)  # type: ignore[attr-defined]


def test_alert_on_gov_alerts_reaches_a_signed_webhook_with_the_notification_id(
    stack: Stack, tmp_path: Path, notifiers: list[Service]
) -> None:
    old, new = new_secret(), new_secret()
    receiver = WebhookReceiver([new])
    try:
        routes = routes_file(tmp_path, receiver.url, [old, new])
        notifiers.append(start_notifier(env_for(stack, routes), tmp_path))
        now = time.time()
        opened = event(AlertEventType.OPENED, alert("NV-1", at=now, severity=Severity.CRITICAL))
        send(stack, opened)
        got = receiver.wait(1, timeout=30)
        assert got, stack.log(notifiers[0])
        first = got[0]
        assert first.id.startswith("ntf_")
        assert first.signatures == 2  # signed with both secrets during the rotation
        assert first.body["type"] == "alert.firing"
        assert [a["fingerprint"] for a in first.body["data"]["alerts"]] == ["item_overdue:NV-1"]
        assert receiver.rejected == []
        resolved = event(AlertEventType.RESOLVED, opened.alert, at=now + 1)
        send(stack, resolved)
        got = receiver.wait(2, timeout=30)
        assert [r.body["type"] for r in got] == ["alert.firing", "alert.resolved"]
        assert got[1].body["data"]["resolved"] == ["item_overdue:NV-1#1"]
        assert max(receiver.ids().values()) == 1
    finally:
        receiver.close()


def burst_routes(tmp_path: Path, url: str, secret: str) -> Path:
    path = routes_file(tmp_path, url, [secret])
    path.write_text(path.read_text().replace('group_by = ["unit"]', 'group_by = ["..."]'), encoding="utf-8")
    return path


def firing_fingerprints(receiver: WebhookReceiver) -> set[str]:
    return {a["fingerprint"] for r in receiver.wait(0, timeout=0) for a in r.body["data"]["alerts"]}


def test_a_notifier_killed_mid_burst_leaves_its_successor_to_send_the_rest_with_the_same_ids(
    stack: Stack, tmp_path: Path, notifiers: list[Service]
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    receiver.delay = 0.03
    total = 150
    try:
        env = env_for(stack, burst_routes(tmp_path, receiver.url, secret))
        notifiers.append(start_notifier(env, tmp_path, "first"))
        now = time.time()
        send(stack, *(event(AlertEventType.OPENED, alert(f"NV-{i}", at=now)) for i in range(total)))
        receiver.wait(40, timeout=60)
        notifiers[0].kill()
        before = receiver.ids()
        assert len(before) < total, "the burst ended before the kill; slow the receiver down"
        notifiers.append(start_notifier(env, tmp_path, "second"))
        wait_for(lambda: len(firing_fingerprints(receiver)) >= total, timeout=90, what="every alert notified")
        time.sleep(2)  # anything sent twice would arrive now
        counts = receiver.ids()
        assert firing_fingerprints(receiver) == {f"item_overdue:NV-{i}" for i in range(total)}
        doubled = [ident for ident, n in counts.items() if n > 1]
        # only the notification in flight at the kill may come twice — under the same id
        assert len(doubled) <= 1, doubled
        assert len(counts) == total
    finally:
        receiver.close()


def test_a_receiver_down_for_a_while_gets_everything_in_order_once_back(
    stack: Stack, tmp_path: Path, notifiers: list[Service], redis_url: str
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    receiver.answer = 503
    total = 20
    try:
        notifiers.append(
            start_notifier(env_for(stack, burst_routes(tmp_path, receiver.url, secret)), tmp_path)
        )
        now = time.time()
        send(stack, *(event(AlertEventType.OPENED, alert(f"NV-{i}", at=now)) for i in range(total)))
        client = redis.Redis.from_url(redis_url)
        wait_for(lambda: client.xlen("notify:outbox:hook") >= total, timeout=30, what="notifications queued")
        time.sleep(3)  # down for a while: several retries of the first notification
        assert receiver.ids() == {}
        receiver.answer = 200
        got = receiver.wait(total, timeout=60)
        rows: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange("notify:outbox:hook")  # type: ignore[assignment]
        queued = [orjson.loads(fields[b"n"])["id"] for _, fields in rows]
        assert [r.id for r in got] == queued  # everything, once, in the order it was queued
        head = orjson.loads(rows[0][1][b"n"])["alerts"][0]["fingerprint"]  # retried through the outage
        inbox = client.hgetall(f"notify:inbox:{head}")
        (record,) = [orjson.loads(v) for v in inbox.values()]
        assert record["status"] == "delivered" and record["attempts"] > 2 and record["channel"] == "webhook"
        client.close()
    finally:
        receiver.close()


def test_a_gone_webhook_is_dead_lettered_and_shows_a_receiver_failing_alert(
    stack: Stack, tmp_path: Path, notifiers: list[Service], redis_url: str
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    receiver.answer = 410
    try:
        notifiers.append(
            start_notifier(env_for(stack, routes_file(tmp_path, receiver.url, [secret])), tmp_path)
        )
        send(stack, event(AlertEventType.OPENED, alert("NV-1", at=time.time())))
        dead = wait_for(
            lambda: stack.read(stack.settings.topic("gov.notify.deadletter")),
            timeout=30,
            what="a dead letter",
        )
        record = dead[0].json()
        assert record["receiver"] == "hook" and record["reason"] == "HTTP 410 Gone (endpoint gone)"
        assert record["attempts"] == 1
        client = redis.Redis.from_url(redis_url)
        board = wait_for(lambda: client.hget("board:alerts", "notify_receiver_failing:hook"), timeout=10)
        assert isinstance(board, bytes)
        failing = orjson.loads(board)
        assert (failing["state"], failing["severity"], failing["title_en"]) == (
            "firing",
            "critical",
            "Receiver hook failing",
        )
        (inbox,) = [orjson.loads(v) for v in client.hgetall("notify:inbox:item_overdue:NV-1").values()]
        assert (inbox["status"], inbox["detail"]) == ("failed", "HTTP 410 Gone (endpoint gone)")
        client.close()
    finally:
        receiver.close()


def test_an_ack_cancels_a_page_still_waiting_for_its_receiver(
    stack: Stack, tmp_path: Path, notifiers: list[Service], redis_url: str
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    receiver.answer = 503
    try:
        notifiers.append(
            start_notifier(env_for(stack, routes_file(tmp_path, receiver.url, [secret])), tmp_path)
        )
        base = alert("NV-1", at=time.time())
        send(stack, event(AlertEventType.OPENED, base))
        client = redis.Redis.from_url(redis_url)
        wait_for(lambda: client.xlen("notify:outbox:hook") >= 1, timeout=30, what="the page queued")
        send(stack, event(AlertEventType.ACKNOWLEDGED, base, at=time.time()))

        def cancelled() -> dict[str, object] | None:
            records = [orjson.loads(v) for v in client.hgetall("notify:inbox:item_overdue:NV-1").values()]
            return next((r for r in records if r["status"] == "cancelled"), None)

        wait_for(cancelled, timeout=20, what="the page cancelled")
        receiver.answer = 200
        time.sleep(2)
        assert receiver.ids() == {}  # never paged after the ack
        client.close()
    finally:
        receiver.close()


def test_a_malformed_routes_file_stops_the_notifier_at_start_with_the_line(
    tmp_path: Path, stack: Stack
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        '[route]\nreceiver = "hook"\ngroup_wait = "soon"\n[receivers.hook]\ntype = "webhook"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "govpulse.cli", "notify"],
        env={**os.environ, **stack.env, "GOVPULSE_ROUTES_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"govpulse notify: routes file {path}: line 4: [receivers.hook] url: is missing; "
        'write url = "https://gateway.example/hooks/govpulse"'
    )


def test_two_notifiers_share_the_work_and_tell_each_transition_once(
    stack: Stack, tmp_path: Path, notifiers: list[Service]
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    total = 120
    try:
        env = env_for(stack, burst_routes(tmp_path, receiver.url, secret))
        notifiers.append(start_notifier(env, tmp_path, "one"))
        notifiers.append(start_notifier(env, tmp_path, "two"))
        wait_for(
            lambda: all("notifier assigned partitions" in s.log_path.read_text() for s in notifiers),
            timeout=30,
            what="both notifiers in the group",
        )
        now = time.time()
        opened = [event(AlertEventType.OPENED, alert(f"NV-{i}", at=now)) for i in range(total)]
        send(stack, *opened)
        wait_for(lambda: len(firing_fingerprints(receiver)) >= total, timeout=60, what="every alert notified")
        send(stack, *(event(AlertEventType.RESOLVED, e.alert, at=now + 1) for e in opened))
        wait_for(lambda: len(receiver.ids()) >= 2 * total, timeout=60, what="every resolution notified")
        time.sleep(1.5)
        counts = receiver.ids()
        assert len(counts) == 2 * total and max(counts.values()) == 1
        kinds = [r.body["type"] for r in receiver.received]
        assert kinds.count("alert.firing") == kinds.count("alert.resolved") == total
        logs = [s.log_path.read_text() for s in notifiers]
        assert all("notification ntf_" in text for text in logs)  # both took part
    finally:
        receiver.close()


def test_after_the_last_retry_the_notification_is_dead_lettered_and_the_board_says_so_until_it_recovers(
    stack: Stack, tmp_path: Path, notifiers: list[Service], redis_url: str
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    receiver.answer = 503
    try:
        path = routes_file(tmp_path, receiver.url, [secret])
        path.write_text(
            path.read_text().replace('give_up_after = "5m"', 'give_up_after = "1s"'), encoding="utf-8"
        )
        notifiers.append(start_notifier(env_for(stack, path), tmp_path))
        send(stack, event(AlertEventType.OPENED, alert("NV-1", at=time.time())))
        dead = wait_for(
            lambda: stack.read(stack.settings.topic("gov.notify.deadletter")),
            timeout=30,
            what="a dead letter",
        )
        record = dead[0].json()
        assert (record["receiver"], record["reason"]) == ("hook", "HTTP 503 Service Unavailable")
        assert record["attempts"] >= 3  # 100 ms doubling to 500 ms with jitter, within 1 s
        assert record["notification"]["alerts"][0]["fingerprint"] == "item_overdue:NV-1"
        client = redis.Redis.from_url(redis_url)

        def failing_state() -> str | None:
            raw = client.hget("board:alerts", "notify_receiver_failing:hook")
            return None if raw is None else str(orjson.loads(raw)["state"])

        assert wait_for(failing_state, timeout=10) == "firing"
        receiver.answer = 200
        send(stack, event(AlertEventType.OPENED, alert("NV-2", at=time.time(), unit=WARD2)))
        receiver.wait(1, timeout=30)
        wait_for(
            lambda: failing_state() == "resolved", timeout=10, what="the receiver-failing alert resolved"
        )
        client.close()
    finally:
        receiver.close()


def test_the_notifier_outlives_a_redis_outage_and_sends_what_came_meanwhile(
    stack: Stack, tmp_path: Path, notifiers: list[Service]
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    port = services.free_port()
    own = services.start_redis(port, log_dir=tmp_path / "redis")
    try:
        env = {
            **env_for(stack, routes_file(tmp_path, receiver.url, [secret])),
            "GOVPULSE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        }
        notifiers.append(start_notifier(env, tmp_path))
        send(stack, event(AlertEventType.OPENED, alert("NV-1", at=time.time())))
        assert receiver.wait(1, timeout=30), stack.log(notifiers[0])
        own.kill()
        send(stack, event(AlertEventType.OPENED, alert("NV-2", at=time.time(), unit=WARD2)))
        time.sleep(3)
        assert notifiers[0].running, stack.log(notifiers[0])
        own = services.start_redis(port, log_dir=tmp_path / "redis")  # back, and empty
        wait_for(
            lambda: "item_overdue:NV-2" in firing_fingerprints(receiver),
            timeout=30,
            what="NV-2 after the outage",
        )
        assert notifiers[0].running
        assert "Redis unavailable" in notifiers[0].log_path.read_text()
    finally:
        own.stop()
        receiver.close()
