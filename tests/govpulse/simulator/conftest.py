"""Fixtures of the simulator tests: the packaged data files and a policy like the worker's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.items import ItemPolicy
from domain.sla import SlaPolicy
from domain.windows import WindowSpec
from govpulse.simulator.model import Traffic, TrafficConfig, load_weights
from govpulse.simulator.oracle import counter_windows, item_policy
from runtime.settings import Settings, load_settings
from tests.support.topics import read_topics


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The 1022 reporting period is opt-in; the oracle tests cover it too.
    return load_settings({"GOVPULSE_WINDOWS": "5m,1h,1d,period"})


@pytest.fixture(scope="session")
def policy(settings: Settings) -> ItemPolicy:
    return item_policy(settings)


@pytest.fixture(scope="session")
def windows(settings: Settings) -> tuple[WindowSpec, ...]:
    return counter_windows(settings)


@pytest.fixture(scope="session")
def catalog(policy: ItemPolicy) -> Catalog:
    return policy.catalog


@pytest.fixture(scope="session")
def calendar(policy: ItemPolicy) -> WorkCalendar:
    return policy.calendar


@pytest.fixture(scope="session")
def sla(policy: ItemPolicy) -> SlaPolicy:
    return policy.sla


@pytest.fixture(scope="session")
def make_traffic(settings: Settings, policy: ItemPolicy) -> Callable[..., Traffic]:
    """Build a traffic model over the packaged catalog with config overrides."""
    weights = load_weights(settings.units_file)

    def make(**overrides: Any) -> Traffic:
        return Traffic(
            policy.catalog,
            policy.sla,
            policy.calendar,
            config=TrafficConfig(**overrides),
            weights=weights,
        )

    return make


Consume = Callable[[str, list[str]], Awaitable[dict[str, list[tuple[bytes, bytes]]]]]


@pytest.fixture(scope="session")
def consume() -> Consume:
    """Read topics back: ``await consume(bootstrap, [topic, ...])`` → topic → [(key, value)]."""
    return read_topics
