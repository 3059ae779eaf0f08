"""Fixtures of the web tests: a board store on the session Redis and a running web node."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.board import BoardStore
from tests.support.webtools import WebNode, running_node, web_environ


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[BoardStore]:
    board = BoardStore.from_url(redis_url, feed_maxlen=100_000)
    yield board
    await board.close()


@pytest.fixture
async def node(redis_url: str) -> AsyncIterator[WebNode]:
    async with running_node(web_environ(redis_url)) as running:
        yield running
