"""Fixtures of the alerts tests: the real city calendar, a small unit catalog, the rules.

The catalog is ``tests/alerts/units.json`` (not the packaged one): two wards and a
department under the city, and a ward under a district (an older, three-level catalog).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.config import RulesConfig
from domain.calendar import WorkCalendar
from domain.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(ROOT / "domain" / "data" / "calendar.toml")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.from_file(Path(__file__).with_name("units.json"))


@pytest.fixture(scope="session")
def config() -> RulesConfig:
    return RulesConfig.from_file(ROOT / "alerts" / "data" / "rules.toml")
