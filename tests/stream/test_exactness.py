"""Counters exact under at-least-once delivery: SIGKILL the worker mid-stream, restart,
compare every counter of every unit and window to the simulator's oracle."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Mapping
from typing import Any

import pytest

from domain.events import format_instant, parse_instant
from govpulse.simulator.model import TASK, Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle, Truth
from stream.metrics import Gauges, WindowRecord, decode_gauges
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

START = parse_instant("2026-12-01T00:00:00+07:00")  # a Tuesday
DAYS = 2.0
END = START + DAYS * 86400
# Keep every window for the comparison (expiry has its own test).
EXACT_ENV = {
    "GOVPULSE_CLOCK": "fixed",
    "GOVPULSE_CLOCK_START": format_instant(END),
    "GOVPULSE_WINDOW_RETENTION": "5m=400d,1h=400d,1d=400d,period=400d",
}


def generate(stack: Stack, *, seed: int, items_per_day: float) -> Truth:
    """Produce a fixed-seed workload and return the oracle's truth for it."""
    oracle = Oracle.from_settings(stack.settings)
    catalog = oracle.policy.catalog
    traffic = Traffic(
        catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(seed=seed, items_per_day=items_per_day, tasks_per_day=40),
    )
    messages = list(traffic.messages(START, until=END))
    for message in messages:
        oracle.feed_message(message)
    t = stack.topics
    stack.produce((t.tasks if m.kind == TASK else t.feedback, m.key, m.value) for m in messages)
    return oracle.finish(END)


def counters(stack: Stack) -> dict[str, dict[str, int]]:
    out = {}
    for key, raw in stack.table("metrics").items():
        counts = {name: n for name, n in WindowRecord.decode(raw).counts.items() if n}
        if counts:
            out[key.decode()] = counts
    return out


def diff(truth: Mapping[str, Mapping[str, int]], actual: Mapping[str, Mapping[str, int]]) -> list[str]:
    problems = []
    for key in sorted(set(truth) | set(actual)):
        expected = {k: v for k, v in truth.get(key, {}).items() if v}
        got = dict(actual.get(key, {}))
        if expected != got:
            problems.append(f"{key}: expected {expected}, got {got}")
    return problems


def gauges(stack: Stack) -> dict[str, dict[str, int]]:
    """Each node's gauges as the unit stage holds them (summed over item partitions)."""
    out = {}
    for key, raw in stack.table("gauges").items():
        merged = Gauges.merge(decode_gauges(raw).values())
        if merged.open:
            out[key.decode()] = {"open": merged.open, "overdue": merged.overdue, "due_soon": merged.due_soon}
    return out


def overdue_alerts(stack: Stack) -> dict[str, set[int]]:
    """Item ids with an opened overdue alert, and the incidents opened (after dedup)."""
    out: dict[str, set[int]] = {}
    for record in stack.read(stack.topics.alerts):
        data: dict[str, Any] = record.json()
        alert = data["alert"]
        if alert["rule"] == "item_overdue" and data["type"] == "opened":
            out.setdefault(alert["item_id"], set()).add(alert["incident"])
    return out


def trace(stack: Stack, items: set[str]) -> str:
    """What the topics say about ``items`` (for failure messages)."""
    lines = []
    for topic in (stack.topics.item_ticks, stack.topics.signals, stack.topics.alerts):
        for record in stack.read(topic):
            data = record.json()
            item = data.get("item_id") or data.get("alert", {}).get("item_id")
            if item in items:
                lines.append(f"{topic}@{record.partition}:{record.offset} {data}"[:300])
    return "\n".join(lines)


@pytest.mark.parametrize("seed", [7, 8])
def test_counters_equal_oracle_after_sigkill_and_restart(stack: Stack, seed: int) -> None:
    stack.env.update(EXACT_ENV)
    truth = generate(stack, seed=seed, items_per_day=2500)
    assert truth.events > 10_000 and truth.breaches

    worker = stack.start_worker()
    # Let it get well into the backlog, then kill it without warning at a random point.
    wait_for(lambda: len(stack.table("items")) > 2000, timeout=60, what="processing to start")
    time.sleep(random.Random(seed).uniform(0.2, 1.5))
    worker.kill()
    partial = counters(stack)
    assert diff(truth.counters, partial), "the kill came too late to test anything"

    restarted = stack.start_worker("worker-restarted")
    problems: list[str] = []

    def converged() -> bool:
        nonlocal problems
        problems = diff(truth.counters, counters(stack))
        return not problems

    try:
        wait_for(converged, timeout=150, interval=2.0, what="counters to equal the oracle")
    except AssertionError:
        restarted.process.send_signal(signal.SIGUSR2)  # the worker logs what each task waits on
        time.sleep(1)
        pytest.fail(
            f"{len(problems)} counter cells differ, e.g.:\n"
            + "\n".join(problems[:20])
            + "\n--- worker log ---\n"
            + stack.log(restarted, lines=120)
        )

    # The live gauges (open / overdue / due soon now) equal the oracle's final item states.
    expected_gauges = {node: dict(g) for node, g in truth.gauges.items() if g["open"]}
    wait_for(lambda: gauges(stack) == expected_gauges, timeout=30, what="gauges to equal the oracle")

    # Every breach the oracle expects produced an overdue alert, and nothing else did.
    alerts: dict[str, set[int]] = {}

    def all_alerted() -> bool:
        nonlocal alerts
        alerts = overdue_alerts(stack)
        return set(alerts) >= set(truth.breaches)

    try:
        wait_for(all_alerted, timeout=30, what="overdue alerts for every breach")
    except AssertionError:
        missing = sorted(set(truth.breaches) - set(alerts))
        pytest.fail(
            f"breaches without alert: {missing[:20]}, "
            f"alerts without breach: {sorted(set(alerts) - set(truth.breaches))[:20]}\n"
            + trace(stack, set(missing[:3]))
        )
    assert set(alerts) == set(truth.breaches)
    assert restarted.running, stack.log(restarted)


def test_latency_percentiles_within_one_percent_of_exact(stack: Stack) -> None:
    stack.env.update(EXACT_ENV)
    truth = generate(stack, seed=11, items_per_day=1500)
    stack.start_worker()
    wait_for(
        lambda: not diff(truth.counters, counters(stack)),
        timeout=120,
        interval=2.0,
        what="counters to equal the oracle",
    )
    records = {key.decode(): WindowRecord.decode(raw) for key, raw in stack.table("metrics").items()}
    checked = 0
    for key, samples in truth.latency.items():
        if len(samples) < 20:
            continue
        ordered = sorted(samples)
        sketch = records[key].latency
        assert sketch.count == len(samples)
        for q in (0.5, 0.9, 0.99):
            exact = ordered[int(q * (len(ordered) - 1))]
            assert sketch.quantile(q) == pytest.approx(exact, rel=0.0101), (key, q)
        checked += 1
    assert checked >= 5
