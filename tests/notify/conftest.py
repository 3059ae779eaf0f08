"""Fixtures of the notifier tests: alert events built like the alert stage builds them,
the packaged catalog and calendar, and notifier processes on a test stack."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from alerts.model import Alert, AlertEvent, AlertEventType, Explanation, RuleName, Severity, State
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from runtime import services
from runtime.services import Service

ROOT = Path(__file__).resolve().parents[2]
#: Wards of the packaged catalog, and the city.
WARD = "P-SAI-GON"
WARD2 = "P-TAN-DINH"
CITY = "HCM"
#: Monday 2 March 2026, 09:00 in Ho Chi Minh City (UTC+7): office hours.
MONDAY_9 = 1772416800.0


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.from_file(ROOT / "domain" / "data" / "units.json")


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(ROOT / "domain" / "data" / "calendar.toml")


def alert(
    subject: str = "NV-1",
    *,
    rule: RuleName = RuleName.ITEM_OVERDUE,
    unit: str = WARD,
    severity: Severity = Severity.WARNING,
    state: State = State.FIRING,
    at: float = MONDAY_9,
    escalation: int = 0,
    incident: int = 1,
    audience: tuple[str, ...] = ("wall", "leaders", f"unit:{WARD}"),
    **changes: Any,
) -> Alert:
    texts = {
        "title_vi": f"Quá hạn: {subject}",
        "title_en": f"Overdue: {subject}",
        "text_vi": "Hồ sơ đã quá hạn xử lý.",
        "text_en": "The item is past its deadline.",
        **changes,
    }
    return Alert(
        fingerprint=f"{rule}:{subject}",
        rule=rule,
        severity=severity,
        state=state,
        unit=unit,
        item_id=subject if rule.startswith("item_") else None,
        opened_at=at,
        updated_at=at,
        resolved_at=at if state is State.RESOLVED else None,
        escalation=escalation,
        audience=audience,
        incident=incident,
        **texts,
    )


def event(kind: AlertEventType, base: Alert, at: float | None = None, **changes: Any) -> AlertEvent:
    """The event ``kind`` with ``base`` changed as that event changes it."""
    when = base.updated_at if at is None else at
    changed = replace(base, updated_at=when, **changes)
    if kind is AlertEventType.RESOLVED:
        changed = replace(changed, state=State.RESOLVED, resolved_at=when)
    elif kind is AlertEventType.ACKNOWLEDGED:
        changed = replace(changed, state=State.ACKNOWLEDGED, acked_at=when, acked_by="lanh-dao")
    elif kind is AlertEventType.EXPLANATION_REQUESTED:
        changed = replace(
            changed, explanations=(*changed.explanations, Explanation("request", "lanh-dao", "Vì sao?", when))
        )
    elif kind is AlertEventType.EXPLAINED:
        changed = replace(
            changed,
            explanations=(*changed.explanations, Explanation("answer", "don-vi", "<b>Thiếu người</b>", when)),
        )
    return AlertEvent(changed.fingerprint, kind, when, changed)


def start_notifier(env: dict[str, str], workdir: Path, name: str = "notify0") -> Service:
    log_path = workdir / f"{name}.log"
    argv = [sys.executable, "-m", "govpulse.cli", "notify"]
    process = services.spawn(argv, log_path, {**os.environ, **env, "PYTHONUNBUFFERED": "1"})
    return Service(name, 0, process, log_path, argv)


@pytest.fixture
def notifiers() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop(timeout=10)
