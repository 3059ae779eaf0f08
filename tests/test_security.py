"""Security properties outside the websocket: secrets, and citizen text in alerts.

* No secret has a default in production: every command that signs or verifies board
  tokens refuses to start without ``GOVPULSE_SECRET`` (exit code 2, one line naming the
  variable, nothing started), the public dev secret is refused there too, and no command
  prints the secret. Only the ``dev`` profile falls back to the dev secret.
* Citizen text (an item's title) never reaches an alert's titles or texts, even when it
  holds markup: it is carried, verbatim, only in ``facts.item_title`` (rendered as text
  by the pages; tests/web/test_pages.py checks the browser side).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest

from alerts.config import RulesConfig
from alerts.model import AlertEvent
from domain.errors import ConfigError
from domain.events import format_instant, parse_instant
from govpulse.simulator.oracle import item_policy
from runtime.services import free_port
from runtime.settings import DEV_SECRET, load_settings, require_secret
from stream.gauges import GaugeIndex
from stream.stages.alerts import SIGNAL, AlertProcessor
from stream.stages.items import FEEDBACK, TICKS, ItemProcessor, Message, encode_tick
from web.auth import AUDIENCE, signing_key, verify_token

SECRET = "production-secret-0123456789abcdef"
MISSING = (
    "GOVPULSE_SECRET is missing, and has no default outside GOVPULSE_PROFILE=dev; "
    "set it to a long random value (e.g. `openssl rand -hex 32`)"
)


def govpulse(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI with only ``env`` as GOVPULSE_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOVPULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "govpulse.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def unreachable(tmp_path: Path) -> dict[str, str]:
    """Settings pointing at closed ports: a command that starts anything fails loudly."""
    return {
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{free_port()}",
        "GOVPULSE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "GOVPULSE_WEB_PORT": str(free_port()),
        "GOVPULSE_DATA_DIR": str(tmp_path / "data"),
    }


# -- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("web",), ("token", "--scope", "wall"), ("dev", "--no-simulator")],
    ids=["web", "token", "dev"],
)
def test_production_without_a_secret_refuses_to_start(args: tuple[str, ...], tmp_path: Path) -> None:
    started = time.monotonic()
    result = govpulse(*args, env={"GOVPULSE_PROFILE": "production", **unreachable(tmp_path)})

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"govpulse {args[0]}: {MISSING}\n"
    assert time.monotonic() - started < 30
    assert not (tmp_path / "data" / "logs").exists()  # `dev` started no service


@pytest.mark.parametrize("secret", ["", "   ", "short-secret"])
def test_production_refuses_an_empty_or_short_secret(secret: str) -> None:
    env = {"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": secret}

    if secret.strip():
        with pytest.raises(ConfigError, match=r"^GOVPULSE_SECRET is shorter than 16 characters"):
            load_settings(env)
    else:
        with pytest.raises(ConfigError, match=r"^GOVPULSE_SECRET is missing"):
            require_secret(load_settings(env))


def test_production_refuses_the_public_dev_secret() -> None:
    """The dev secret is in the source code: accepting it in production is a default."""
    with pytest.raises(ConfigError, match=r"^GOVPULSE_SECRET is the public development secret"):
        load_settings({"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": DEV_SECRET})


def test_only_the_dev_profile_falls_back_to_the_dev_secret() -> None:
    assert require_secret(load_settings({})) == DEV_SECRET
    assert require_secret(load_settings({"GOVPULSE_PROFILE": "dev"})) == DEV_SECRET
    assert load_settings({"GOVPULSE_PROFILE": "production"}).secret == ""
    assert (
        require_secret(load_settings({"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET})) == SECRET
    )


def test_a_production_token_is_signed_with_the_configured_secret_only(tmp_path: Path) -> None:
    result = govpulse(
        "token",
        "--scope",
        "leader",
        "--ttl",
        "5m",
        env={"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET},
    )
    token = result.stdout.strip()

    assert (result.returncode, result.stderr) == (0, "")
    claims = verify_token(SECRET, token, now=time.time())
    assert (claims.scope.text, claims.subject) == ("leader", "operator")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, signing_key(DEV_SECRET), algorithms=["HS256"], audience=AUDIENCE)


def test_no_command_prints_the_secret() -> None:
    result = govpulse("settings", env={"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET})

    assert result.returncode == 0
    assert "GOVPULSE_SECRET=(set)\n" in result.stdout
    assert SECRET not in result.stdout + result.stderr


# -- citizen text never in alert titles or texts -------------------------------------------

HOSTILE_TITLES = [
    "<img src=x onerror=alert(1)> Rác thải",
    "<script>alert('xss')</script>Ngập nước đường Lê Văn Sỹ",
    "</title><h1>QUÁ HẠN</h1><!--",
    "Phản ánh &lt;b&gt;lấn chiếm&lt;/b&gt; &amp; tiếng ồn",
    "{{7*7}} ${jndi:ldap://x/a} %s%n javascript:alert(1)",
    "\u202eLỗi đèn\u200b chiếu sáng\u0000 \"quoted\" 'single'",
]


def hostile_item_alerts(title: str) -> list[AlertEvent]:
    """An item with ``title`` received, then due soon, overdue and escalated by deadline
    ticks, through the item and alert stages; every alert event produced."""
    settings = load_settings({})
    policy = item_policy(settings)
    rules = RulesConfig.from_file(settings.rules_file)
    items: dict[bytes, bytes] = {}
    alerts: dict[bytes, bytes] = {}
    processor = ItemProcessor(
        policy,
        rules,
        load=items.get,
        gauges=GaugeIndex(policy.catalog),
        max_event_bytes=settings.max_event_bytes,
        max_future_skew=settings.max_future_skew,
    )
    alerting = AlertProcessor(rules=rules, catalog=policy.catalog, calendar=policy.calendar, load=alerts.get)
    received = parse_instant("2026-12-01T09:00:00+07:00")
    event = {
        "event_id": "e1",
        "item_id": "PA-2026-000777",
        "type": "received",
        "occurred_at": format_instant(received),
        "unit": "P-BEN-THANH",
        "category": "moi-truong",
        "title": title,
        "note": title,
        "channel": title[:64],
        "assigned_by": title,
    }
    message = Message(FEEDBACK, "gov.feedback", 0, 0, b"PA-2026-000777", orjson.dumps(event))
    now = received
    produced: list[AlertEvent] = []
    for offset in range(1, 8):
        result = processor.process([message], now=now)
        assert result.dead_letters == []
        for writes in result.writes.values():
            items.update({k: v for k, v in writes.items() if v is not None})
        signals = [
            Message(SIGNAL, "gov.signals", 0, i, s.fingerprint.encode(), s.encode())
            for i, s in enumerate(result.signals)
        ]
        outcome = alerting.process(signals, now=now)
        assert outcome.dead_letters == []
        for writes in outcome.writes.values():
            alerts.update({k: v for k, v in writes.items() if v is not None})
        produced += outcome.events
        ((_, _, at),) = result.schedule
        if at is None:
            break
        now = at
        message = Message(
            TICKS, "gov.item-ticks", 0, offset, b"PA-2026-000777", encode_tick("PA-2026-000777", at)
        )
    return produced


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_alert_titles_and_texts_never_contain_the_item_title(title: str) -> None:
    events = hostile_item_alerts(title)

    kinds = {(e.alert.rule, e.type.value) for e in events}
    assert {
        ("item_due_soon", "opened"),
        ("item_overdue", "opened"),
        ("item_overdue", "escalated"),
    } <= kinds
    markup = [part for part in ("<", ">", "&", "{{", "${", "\u202e") if part in title]
    for event in events:
        alert = event.alert
        for text in (alert.title_vi, alert.title_en, alert.text_vi, alert.text_en):
            assert title not in text and title[:12] not in text, text
            assert not [part for part in markup if part in text], text
        assert alert.facts["item_title"] == title[:300]  # kept verbatim, as data
        board: dict[str, Any] = alert.to_board()
        assert [key for key, value in board.items() if isinstance(value, str) and title[:12] in value] == []
