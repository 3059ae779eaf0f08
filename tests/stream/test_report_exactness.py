"""Reports exact under redelivery: a simulated quarter, the worker SIGKILLed mid-stream and
restarted; every month report on gov.reports and in Redis equals the oracle's, and a Redis
that lost them is refilled from the topic."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping

import orjson
import pytest
import redis

from domain.events import format_instant, parse_instant
from domain.reports import Period, PeriodKind, Report, aggregate, closed_months
from govpulse.simulator.model import TASK, Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle, truth_reports
from runtime.reports import ReportStore, read_reports, rebuild
from runtime.timeline import TimelineStore
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

START = parse_instant("2026-09-22T00:00:00+07:00")
END = parse_instant("2026-12-27T00:00:00+07:00")  # Q4 (25/09 12:00 → 25/12 12:00) is closed
ENV = {
    "GOVPULSE_CLOCK": "fixed",
    "GOVPULSE_CLOCK_START": format_instant(END),
    "GOVPULSE_WINDOWS": "1d,period",
    "GOVPULSE_WINDOW_RETENTION": "1d=400d,period=400d",
}
EXACT = ("received", "carried_over", "resolved", "on_time", "late", "late_open", "open_at_end")
EXACT += ("transferred_in", "transferred_out", "reopened", "cancelled", "became_overdue")


def figures_diff(expected: Mapping[str, Report], actual: Mapping[str, Report]) -> list[str]:
    problems = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key), actual.get(key)
        if got is None:
            assert want is not None
            if any(getattr(want.figures, name) for name in EXACT):
                problems.append(f"{key}: missing, expected {want.figures}")
            continue
        if want is None:
            problems.append(f"{key}: not expected, got {got.figures}")
            continue
        for name in EXACT:
            if getattr(want.figures, name) != getattr(got.figures, name):
                problems.append(
                    f"{key}: {name} expected {getattr(want.figures, name)}, got {getattr(got.figures, name)}"
                )
        if want.counts != got.counts:  # the splits by work mode, category and assignee too
            problems.append(f"{key}: counts differ: {set(want.counts.items()) ^ set(got.counts.items())}")
        for name in ("avg_days", "p90_days"):
            a, b = getattr(want.figures, name), getattr(got.figures, name)
            if (a is None) != (b is None) or (a is not None and b != pytest.approx(a, rel=0.011, abs=1e-6)):
                problems.append(f"{key}: {name} expected {a}, got {b}")
    return problems


def test_quarter_reports_equal_the_oracle_after_sigkill_and_redis_loss(stack: Stack) -> None:
    stack.env.update(ENV)
    oracle = Oracle.from_settings(load := stack.settings)
    traffic = Traffic(
        oracle.policy.catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(seed=16, items_per_day=60, tasks_per_day=3, work_modes=True),
    )
    messages = list(traffic.messages(START, until=END))
    for message in messages:
        oracle.feed_message(message)
    truth = oracle.finish(END)
    months = closed_months(START, END - load.window_grace)
    assert [m.key for m in months] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    expected = truth_reports(truth, oracle.policy.catalog.units, months)
    assert sum(r.figures.received for r in expected.values() if r.unit == "HCM") > 3000
    staff = {m.event.assignee for m in messages if m.event is not None and m.event.assignee}
    assert len(staff) > 100

    t = stack.topics
    stack.produce((t.tasks if m.kind == TASK else t.feedback, m.key, m.value) for m in messages)
    worker = stack.start_worker(env=ENV)
    wait_for(lambda: len(stack.table("items")) > 1500, timeout=90, what="processing to start")
    time.sleep(random.Random(16).uniform(0.2, 1.0))
    worker.kill()
    restarted = stack.start_worker("worker-restarted", env=ENV)

    problems: list[str] = []

    def converged() -> bool:
        nonlocal problems
        stored = {k.decode(): Report.from_json(orjson.loads(v)) for k, v in stack.table("reports").items()}
        months_only = {k: r for k, r in stored.items() if Period.parse(r.period).kind is PeriodKind.MONTH}
        problems = figures_diff(expected, months_only)
        return not problems

    try:
        wait_for(converged, timeout=240, interval=3.0, what="reports to equal the oracle")
    except AssertionError:
        pytest.fail(f"{len(problems)} differ:\n" + "\n".join(problems[:20]) + "\n" + stack.log(restarted, 80))

    # The topic holds the same latest revisions of the months, and the quarters and years
    # whose last month closed (Q3 and Q4 2026, the year 2026), added up from their months.
    on_topic = asyncio.run(read_reports(load.broker_bootstrap, t.reports))
    month_reports = {k: r for k, r in on_topic.items() if Period.parse(r.period).kind is PeriodKind.MONTH}
    assert not figures_diff(expected, month_reports)
    parents = {k: r for k, r in on_topic.items() if k not in month_reports}
    assert {r.period for r in parents.values()} == {"2026-Q3", "2026-Q4", "2026"}
    want_parents = {}
    for key, report in parents.items():
        period = Period.parse(report.period)
        months_of = [expected[k] for m in period.months() if (k := f"{report.unit}|{m.key}") in expected]
        total = aggregate(period, months_of)
        assert total is not None
        want_parents[key] = total
    assert not figures_diff(want_parents, parents)
    quarter = Period.parse("2026-Q4")
    city = on_topic["HCM|2026-Q4"]
    assert city.figures.received == sum(expected[f"HCM|{m.key}"].figures.received for m in quarter.months())
    assert city.figures.carried_over == expected["HCM|2026-10"].figures.carried_over

    # Redis: what the worker wrote, then a loss of every report key, refilled from the topic.
    client = redis.Redis.from_url(load.redis_target)

    async def in_redis() -> dict[str, Report]:
        store = ReportStore.from_url(load.redis_target)
        try:
            found = await store.many([m.key for m in months])
            return {r.key: r for month in found.values() for r in month.values()}
        finally:
            await store.close()

    assert not figures_diff(expected, asyncio.run(in_redis()))
    client.delete(*client.keys("reports:*"))
    assert asyncio.run(in_redis()) == {}

    async def refill() -> int:
        store = ReportStore.from_url(load.redis_target)
        try:
            count = await rebuild(store, load.broker_bootstrap, t.reports)
            assert await store.ready()
            return count
        finally:
            await store.close()

    assert asyncio.run(refill()) == len(on_topic)  # months in Redis; quarters, years on the topic
    assert not figures_diff(expected, asyncio.run(in_redis()))

    # Item timelines survived the kill too: every transition of every item, once.
    async def sequences(items: list[str]) -> dict[str, list[int]]:
        store = TimelineStore.from_url(load.redis_target, retention=3600.0)
        try:
            return {item: [e["seq"] for e in (await store.read(item))[1]] for item in items}
        finally:
            await store.close()

    sample = sorted(oracle.items)[:: max(1, len(oracle.items) // 300)]
    found = asyncio.run(sequences(sample))
    wrong = {i: found[i] for i in sample if found[i] != list(range(1, oracle.items[i].seq + 1))}
    assert not wrong, list(wrong.items())[:3]
    # No staff id in any line either worker logged.
    for worker_service in (worker, restarted):
        text = worker_service.log_path.read_text(errors="replace")
        leaked = [name for name in staff if name in text]
        assert not leaked, leaked[:3]
    assert restarted.running, stack.log(restarted)
