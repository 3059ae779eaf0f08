"""Windows older than their retention are removed — while running and after a restart."""

from __future__ import annotations

import time

import pytest

from domain.events import format_instant, parse_instant
from domain.windows import window_specs
from govpulse.simulator.model import TASK, Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle
from stream.metrics import parse_record_key
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

START = parse_instant("2026-12-02T06:00:00+07:00")
RETENTION = {"5m": 1800.0, "1h": 7200.0, "1d": 10 * 86400.0}


def produce_hours(stack: Stack, start: float, hours: float, seed: int, *, prefix: bytes = b"PA-") -> float:
    oracle = Oracle.from_settings(stack.settings)
    traffic = Traffic(
        oracle.policy.catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(seed=seed, items_per_day=6000, tasks_per_day=0),
    )
    messages = list(traffic.messages(start, until=start + hours * 3600))
    t = stack.topics

    def renamed(raw: bytes) -> bytes:  # a second run must not reuse the first run's item ids
        return raw.replace(b"PA-", prefix).replace(b"NV-", b"NV" + prefix)

    stack.produce(
        (t.tasks if m.kind == TASK else t.feedback, renamed(m.key), renamed(m.value)) for m in messages
    )
    return max(m.occurred_at for m in messages)


def expired_keys(stack: Stack, horizon: float) -> list[str]:
    # The default windows include the report month (kept 400 days).
    retention = {**RETENTION, "period": 400 * 86400.0}
    specs = {spec.name: spec for spec in window_specs(["5m", "1h", "1d", "period"], retention)}
    out = []
    for key in stack.table("metrics"):
        _, window, start = parse_record_key(key.decode())
        if specs[window].end(start) + specs[window].retention < horizon:
            out.append(key.decode())
    return out


def test_windows_past_retention_are_deleted_and_stay_deleted_after_restart(stack: Stack) -> None:
    stack.env.update(
        {
            "GOVPULSE_CLOCK": "fixed",
            # The clock stands at the end of the first traffic: windows expire behind it.
            "GOVPULSE_CLOCK_START": format_instant(START + 10 * 3600),
            "GOVPULSE_WINDOW_RETENTION": "5m=30m,1h=2h,1d=10d",
        }
    )
    newest = produce_hours(stack, START, 10, seed=3)
    worker = stack.start_worker()

    # The 5-minute windows of the first hours must disappear as stream time moves on.
    def removed() -> bool:
        keys = stack.table("metrics")
        stale = expired_keys(stack, newest - 120)
        return any(k.split(b"|")[1] == b"5m" for k in keys) and not stale

    try:
        wait_for(removed, timeout=60, interval=1.0, what="expired windows to be removed")
    except AssertionError:
        stale = expired_keys(stack, newest - 120)
        pytest.fail(f"{len(stale)} windows past retention remain, e.g. {sorted(stale)[:8]}; newest={newest}")
    tombstones = [r for r in stack.read(stack.changelog("metrics")) if r.value is None]
    assert tombstones, "expiry must write tombstones so restarts do not bring windows back"
    five_minute = [k for k in stack.table("metrics") if k.split(b"|")[1] == b"5m"]
    nodes = {k.split(b"|")[0] for k in five_minute}
    # Bounded: at most retention/size (+ the current and a grace window) per node.
    assert len(five_minute) <= len(nodes) * (1800 // 300 + 4)

    worker.stop()
    # Time passes while the worker is down: it restarts with the clock five hours on.
    restarted = stack.start_worker(
        "restarted", env={"GOVPULSE_CLOCK_START": format_instant(START + 15 * 3600)}
    )
    time.sleep(8)  # recovered from the changelog: the tombstoned windows stay gone
    assert not expired_keys(stack, newest - 120)
    later = produce_hours(stack, START + 14 * 3600, 1, seed=4, prefix=b"PB-")
    wait_for(
        lambda: (
            not expired_keys(stack, later - 120)
            and any(parse_record_key(k.decode())[2] >= START + 14 * 3600 for k in stack.table("metrics"))
        ),
        timeout=90,
        interval=1.0,
        what="windows to expire after the restart",
    )
    assert restarted.running, stack.log(restarted)
