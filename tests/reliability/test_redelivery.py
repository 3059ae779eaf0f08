"""Redelivery at the alert stage, without Kafka: what a worker that took over a partition
sees when the dead owner had processed signals but not committed their offsets.

Found by tests/reliability/test_workers.py (an item that became overdue once opened two
overdue incidents after a SIGKILL); this is the same sequence, deterministic.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alerts.config import RulesConfig
from alerts.model import Alert, Severity, Signal
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from stream.stages.alerts import SIGNAL, AlertProcessor
from stream.stages.items import Message

DATA = Path(str(resources.files("domain").joinpath("data")))
FINGERPRINT = "item_overdue:PA-2026-000023"
AT = 1796105941.3


def processor(table: dict[bytes, bytes]) -> AlertProcessor:
    return AlertProcessor(
        rules=RulesConfig.from_file(Path(str(resources.files("alerts").joinpath("data", "rules.toml")))),
        catalog=Catalog.from_file(DATA / "units.json"),
        calendar=WorkCalendar.from_file(DATA / "calendar.toml"),
        load=table.get,
    )


def signal(offset: int, *, active: bool, at: float) -> Message:
    value = Signal(
        fingerprint=FINGERPRINT,
        rule="item_overdue",
        active=active,
        at=at,
        unit="P-PHU-LOI",
        item_id="PA-2026-000023",
        severity=Severity.WARNING,
        facts={"due": AT - 60.0, "working_seconds_late": 60.0},  # what the item rules always send
    ).encode()
    return Message(SIGNAL, "signals", 3, offset, FINGERPRINT.encode(), value)


def apply(alerts: AlertProcessor, table: dict[bytes, bytes], messages: list[Message]) -> list[str]:
    """Process a batch like the agent does (writes land in the table); return event types."""
    result = alerts.process(messages, now=AT + 86400)
    for writes in result.writes.values():
        for key, value in writes.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return [event.type.value for event in result.events]


def test_redelivered_signals_after_resolution_do_not_open_another_incident() -> None:
    table: dict[bytes, bytes] = {}
    batch = [signal(348, active=True, at=AT), signal(364, active=False, at=AT + 4752)]
    first = apply(processor(table), table, batch)
    # The worker dies before committing offsets 348 and 364; the one that takes over the
    # partition recovers the alert table (incident 1, resolved) and gets both again.
    again = apply(processor(table), table, batch)

    assert first == ["opened", "resolved"]
    assert again == []
    assert Alert.decode(table[FINGERPRINT.encode()]).incident == 1


def test_signals_sent_twice_by_a_redelivered_item_batch_do_not_open_another_incident() -> None:
    # The item stage sends a batch's signals before writing the item table; a worker that
    # dies in between makes the next owner send them again, at new offsets.
    table: dict[bytes, bytes] = {}
    alerts = processor(table)
    first = apply(alerts, table, [signal(492, active=True, at=AT), signal(493, active=False, at=AT + 10306)])
    again = apply(alerts, table, [signal(702, active=True, at=AT), signal(703, active=False, at=AT + 10306)])

    assert first == ["opened", "resolved"]
    assert again == []
    assert Alert.decode(table[FINGERPRINT.encode()]).incident == 1
