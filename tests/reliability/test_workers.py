"""Two workers in one consumer group; one is SIGKILLed mid-stream. The survivor takes its
partitions (tables recovered from the changelogs, deadline index rebuilt) and the run
ends exactly as the oracle says: every counter, and one overdue alert incident per
breach — none lost, none duplicated."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from stream.outputs import key_partition
from tests.support.harness import (
    Workload,
    alert_problems,
    counter_problems,
    counters,
    dump,
    exact_env,
    overdue_alerts,
    produce,
    recoveries,
    trace,
    workload,
)
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

ALL = (0, 1, 2, 3)  # the stack's GOVPULSE_PARTITIONS=4


def produced(stack: Stack, load: Workload) -> Counter[tuple[str, int]]:
    """Messages of the workload per input (topic, partition)."""
    t = stack.topics
    return Counter(
        (t.tasks if m.kind == "task" else t.feedback, key_partition(m.item_id, len(ALL)))
        for m in load.messages
    )


def test_survivor_takes_over_killed_workers_partitions_and_ends_exact(stack: Stack) -> None:
    load = workload(stack.settings, seed=21, days=1.6, items_per_day=3500)
    assert len(load.messages) > 12_000 and len(load.overdue) > 50
    stack.env.update(exact_env(load.end))
    # Everything is on the broker before a worker can catch up with it: with the clock
    # pinned at the end, a caught-up partition fires every deadline up to the end, so
    # input produced later would arrive "after" its deadlines (the oracle assumes not).
    produce(stack, load.messages)
    survivor, victim = stack.start_worker("worker-a"), stack.start_worker("worker-b")

    def split() -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        mine, theirs = recoveries(survivor), recoveries(victim)
        if not mine or not theirs:
            return None
        a, b = mine[-1][0], theirs[-1][0]
        return (a, b) if a and b and sorted(a + b) == list(ALL) else None

    _, victim_partitions = wait_for(split, timeout=60, what="the two workers to share the partitions")
    wait_for(lambda: len(stack.table("items")) > 1500, timeout=60, what="processing to get going")
    victim.kill()
    # The victim died with input of its partitions not yet committed: mid-stream.
    offsets = stack.committed([stack.topics.feedback, stack.topics.tasks])
    sent = produced(stack, load)
    behind = {
        tp: (offsets[tp], n) for tp, n in sent.items() if tp[1] in victim_partitions and offsets[tp] < n
    }
    assert behind, f"the kill came after the victim finished its input: {offsets}"

    takeover = wait_for(
        lambda: next((r for r in recoveries(survivor)[1:] if r[0] == ALL), None),
        timeout=60,
        what="the survivor to recover every partition",
    )
    assert takeover[1] > 0, "the survivor rebuilt an empty deadline index"

    problems: list[str] = []

    def exact() -> bool:
        nonlocal problems
        problems = counter_problems(load.truth, counters(stack))
        return not problems

    try:
        wait_for(exact, timeout=150, interval=2.0, what="counters to equal the oracle")
    except AssertionError:
        survivor.process.send_signal(signal.SIGUSR2)  # the worker logs what each task waits on
        time.sleep(1)
        where = dump(stack, stack.workdir / "topics")
        pytest.fail(
            f"{len(problems)} counter cells differ (topics in {where}), e.g.:\n"
            + "\n".join(problems[:20])
            + "\n--- survivor log ---\n"
            + stack.log(survivor, lines=120)
        )

    alert_diff: list[str] = []

    def alerted() -> bool:
        nonlocal alert_diff
        alert_diff = alert_problems(load, overdue_alerts(stack))
        return not alert_diff

    try:
        wait_for(alerted, timeout=30, what="one overdue alert incident per breach")
    except AssertionError:
        items = {line.split(":", 1)[0] for line in alert_diff[:3]}
        dump(stack, stack.workdir / "topics")
        pytest.fail(
            f"{len(alert_diff)} items differ:\n"
            + "\n".join(alert_diff[:20])
            + "\n--- what the topics say ---\n"
            + trace(stack, items)
            + f"\nvictim {victim_partitions}; committed at kill {offsets}; now "
            + str(stack.committed([stack.topics.signals, stack.topics.transitions]))
            + "\nalerts table: "
            + str(
                {k: v[:300] for k, v in stack.table("alerts").items() if any(i.encode() in k for i in items)}
            )
        )
    assert survivor.running, stack.log(survivor)
