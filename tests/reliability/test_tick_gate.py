"""How far a partition's deadline ticks may fire when its two input topics progress unevenly.

Found by tests/reliability/test_soak.py: a due-soon tick at 06:09 reached an item before
its 05:39 ``paused`` event (feedback) was processed, so the pause was clamped to 06:09 and
the item went overdue 30 minutes early. Tasks are sparse: a worker that takes over a
partition reads its whole ``gov.tasks`` backlog in one fetch, far ahead in event time of
the ``gov.feedback`` backlog, and the gate lets ticks follow the newest event time seen
on *either* topic.
"""

from __future__ import annotations

from domain.events import parse_instant
from stream.deadlines import Gate
from stream.sources import Source
from stream.stages.items import FEEDBACK, TASKS

FEEDBACK_2, TASKS_2 = Source(FEEDBACK, 2), Source(TASKS, 2)
DAY = parse_instant("2026-12-05T00:00:00+07:00")
NOW = DAY + 7 * 86400  # the clock is far ahead: only the input holds ticks back


def test_a_source_read_ahead_does_not_let_ticks_overtake_the_other_sources_backlog() -> None:
    gate = Gate()
    gate.observe(FEEDBACK_2, 18_400, DAY + 5 * 3600)  # feedback processed up to 05:00 …
    gate.observe(TASKS_2, 240, DAY + 6 * 86400)  # … the sparse tasks topic up to day 6

    # Feedback still has a backlog (a 05:39 pause among it); tasks have one too.
    limit = gate.limit(NOW, {FEEDBACK_2: 20_000, TASKS_2: 260})

    assert limit < DAY + 5 * 3600 + 1


def test_a_caught_up_source_does_not_hold_ticks_back() -> None:
    gate = Gate()
    gate.observe(FEEDBACK_2, 18_400, DAY + 5 * 3600)
    gate.observe(TASKS_2, 259, DAY + 3600)  # every task processed; the last at 01:00

    limit = gate.limit(NOW, {FEEDBACK_2: 20_000, TASKS_2: 260})

    assert DAY + 5 * 3600 - 1 < limit < DAY + 5 * 3600 + 1


def test_the_watermark_follows_the_slowest_source_with_a_backlog() -> None:
    gate = Gate()
    gate.observe(FEEDBACK_2, 18_400, DAY + 5 * 3600)
    gate.observe(TASKS_2, 240, DAY + 6 * 86400)

    assert gate.watermark(NOW, {FEEDBACK_2: 20_000, TASKS_2: 260}) == DAY + 5 * 3600
    assert gate.watermark(NOW, {FEEDBACK_2: 18_401, TASKS_2: 260}) == DAY + 6 * 86400
    assert gate.watermark(NOW, {FEEDBACK_2: 18_401, TASKS_2: 241}) == NOW


def test_a_source_with_a_backlog_and_nothing_processed_since_the_start_holds_everything() -> None:
    gate = Gate(processed={TASKS_2: 100})  # committed offset, no event seen yet
    gate.observe(FEEDBACK_2, 18_400, DAY + 5 * 3600)

    assert gate.limit(NOW, {FEEDBACK_2: 18_401, TASKS_2: 120}) < 0
    assert gate.watermark(NOW, {FEEDBACK_2: 18_401, TASKS_2: 120}) == 0.0
    assert gate.limit(NOW, {FEEDBACK_2: 18_401, TASKS_2: None}) < 0  # backlog unknown yet
