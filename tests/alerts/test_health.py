"""Unit health: the worst of the active alerts and the day's rates, with a minimum volume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alerts.health import MIN_VOLUME, STATUSES, Health, unit_health

CASES = json.loads((Path(__file__).with_name("health_cases.json")).read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_unit_health_follows_the_shared_table(case: dict[str, Any]) -> None:
    health = unit_health(case["unit"], case["alerts"])

    assert health == Health(case["status"], tuple((code, count) for code, count in case["reasons"]))


@pytest.mark.parametrize(
    ("min_volume", "expected"),
    [(1, "act"), (5, "act"), (6, "watch")],
)
def test_minimum_volume_is_a_parameter(min_volume: int, expected: str) -> None:
    unit = {"colour": "red", "windows": {"1d": {"received": 5, "resolved": 5}}, "gauges": {}}

    assert unit_health(unit, [], min_volume=min_volume).status == expected


def test_status_names_are_not_alert_severities() -> None:
    assert set(STATUSES).isdisjoint({"critical", "warning", "info"})
    assert MIN_VOLUME == 10  # documented in the README ("Unit health")
