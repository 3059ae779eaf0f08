"""The packaged unit and indicator catalogs, loaded once for the indicator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog

DATA = Path(__file__).resolve().parents[3] / "domain" / "data"


@pytest.fixture(scope="session")
def units() -> Catalog:
    return Catalog.from_file(DATA / "units.json")


@pytest.fixture(scope="session")
def indicators(units: Catalog) -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", units)


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(DATA / "calendar.toml")
