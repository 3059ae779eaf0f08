"""Fixtures of the reliability tests: a Redis of their own (to kill and restart), web node
processes, and the rule that soak tests only run when asked for (``make soak``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime import services
from tests.support.board_client import WebNodes


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `make test` runs every test; soak runs take many minutes and only belong to
    # `make soak` (`pytest -m soak`).
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run it with `make soak` (pytest -m soak)")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)


class KillableRedis:
    """A Redis server without persistence that tests SIGKILL and restart on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = services.free_port()
        self.service = services.start_redis(self.port, log_dir=log_dir)
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL: the board and the feed are gone with it."""
        self.service.kill()

    def restart(self) -> None:
        """Start an empty Redis on the same port."""
        self.service.kill()
        self.restarts += 1
        self.service = services.start_redis(self.port, log_dir=self.log_dir / f"restart{self.restarts}")

    def stop(self) -> None:
        self.service.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[KillableRedis]:
    server = KillableRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def make_web_nodes(tmp_path: Path) -> Iterator[Callable[..., WebNodes]]:
    """Builds :class:`WebNodes` for a Redis (and broker); stops their processes after the test."""
    started: list[WebNodes] = []

    def make(redis_url: str, *, broker: str | None = None) -> WebNodes:
        nodes = WebNodes(redis_url=redis_url, workdir=tmp_path / "web", broker=broker)
        started.append(nodes)
        return nodes

    yield make
    for nodes in started:
        nodes.stop()
