"""Fixtures of the API tests: a deployment (broker topics, Redis) and a running API process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.apitools import ApiNode, start_api
from tests.support.stack import Stack


@pytest.fixture
def api(stack: Stack) -> Iterator[ApiNode]:
    """``govpulse api`` on a free port, on the stack's broker topics and Redis."""
    node = start_api({**stack.env, "GOVPULSE_API_SEND_TIMEOUT": "3s"}, stack.workdir / "logs")
    yield node
    node.stop()
