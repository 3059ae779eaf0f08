"""Deadlines across worker restarts, on a real broker and Redis.

An item's deadline passes while no worker runs. The restarted worker rebuilds its deadline
index from the recovered item table and fires the overdue alert as soon as it is ready,
without any new event; restarting once more does not fire it again.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from domain.events import format_instant
from runtime.services import Service
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

WARD = "P-BEN-THANH"
ITEM = "NV-2026-0777"
FP = f"item_overdue:{ITEM}"
PROMPT = 5.0  # seconds after the worker is ready within which the overdue alert must be out
RECOVERED = re.compile(r"partitions \[([\d, ]*)\] recovered: rebuilt deadline index for (\d+) items")


def rebuilt(stack: Stack, worker: Service) -> list[int]:
    """The item counts of the worker's "rebuilt deadline index for N items" lines, in order."""
    return [int(m.group(2)) for m in RECOVERED.finditer(worker.log_path.read_text(errors="replace"))]


def wait_ready(stack: Stack, worker: Service, *, timeout: float = 45.0) -> float:
    """Wait until the worker owns every partition and logged its rebuild; return when (monotonic)."""

    def ready() -> bool:
        assert worker.running, stack.log(worker)
        return any(
            m.group(1).replace(" ", "") == "0,1,2,3"
            for m in RECOVERED.finditer(worker.log_path.read_text(errors="replace"))
        )

    wait_for(ready, timeout=timeout, interval=0.1, what=f"{worker.name} to recover its partitions")
    return time.monotonic()


def overdue_events(stack: Stack) -> list[dict[str, Any]]:
    return [
        data
        for record in stack.read(stack.topics.alerts, timeout=2)
        if (data := record.json())["fingerprint"] == FP
    ]


def test_deadline_passed_while_stopped_fires_once_promptly_after_restart(stack: Stack) -> None:
    first = stack.start_worker()
    wait_ready(stack, first)
    received = time.time()
    due = received + 12.0
    stack.produce_events(
        [
            {
                "event_id": "nv-777-1",
                "item_id": ITEM,
                "type": "received",
                "occurred_at": format_instant(received - 60),
                "unit": WARD,
                "due_at": format_instant(due),
                "title": "Báo cáo rà soát",
            }
        ]
    )
    wait_for(lambda: ITEM.encode() in stack.table("items"), timeout=20, what="the item in the item table")
    first.stop(timeout=10)
    stopped = time.time()
    assert stopped < due - 1, (
        f"the first worker needed {stopped - received:.1f}s to stop; it must be gone by the deadline"
    )
    time.sleep(max(0.0, due + 1.0 - time.time()))  # the deadline passes while no worker runs

    second = stack.start_worker()
    ready_at = wait_ready(stack, second)

    def opened_at() -> float | None:
        return time.monotonic() if any(e["type"] == "opened" for e in overdue_events(stack)) else None

    seen = wait_for(opened_at, timeout=30, interval=0.1, what="the overdue alert after the restart")
    print(f"overdue alert {seen - ready_at:.2f}s after the restarted worker was ready")

    assert rebuilt(stack, first)[0] == 0  # it started with nothing to rebuild
    assert rebuilt(stack, second)[-1] == 1, stack.log(second)
    # The item table came back through the bulk restore, not Faust's record-by-record replay.
    assert re.search(r"table items: restored [1-9]\d* changelog records", second.log_path.read_text()), (
        stack.log(second)
    )
    assert seen - ready_at < PROMPT, f"overdue alert {seen - ready_at:.2f}s after the worker was ready"
    [opened] = overdue_events(stack)
    assert opened["type"] == "opened"
    assert opened["alert"]["opened_at"] == pytest.approx(due, abs=0.01)  # at the deadline, not the restart

    second.stop(timeout=10)
    third = stack.start_worker()
    wait_ready(stack, third)
    time.sleep(3.0)  # many timer periods: a duplicate would be out by now

    assert rebuilt(stack, third)[-1] == 1, stack.log(third)
    assert [e["type"] for e in overdue_events(stack)] == ["opened"]
    assert third.running, stack.log(third)
