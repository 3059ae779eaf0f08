"""The notifier end to end: alert events on gov.alerts, a real notifier process, real receivers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alerts.model import AlertEventType, Severity
from runtime.services import Service
from tests.notify.conftest import alert, event, start_notifier
from tests.support.receivers import WebhookReceiver, new_secret
from tests.support.stack import Stack

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
