"""The indicator stage in a real worker on a real broker and Redis: reports in, records,
board rows, at-risk alerts and dead letters out; exact after a SIGKILL mid-stream."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import format_instant
from domain.indicators.catalog import IndicatorCatalog
from runtime.board import INDICATORS_KEY
from stream.stages.indicators import REPORT as REPORT_KIND
from stream.stages.indicators import IndicatorProcessor, IndicatorRecord
from stream.stages.items import Message
from tests.support.stack import Record, Stack, wait_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
DISB = [0.03, 0.06, 0.10, 0.15, 0.21, 0.30, 0.38, 0.46, 0.55, 0.66, 0.80, 1.0]
YEAR = datetime.now(LOCAL_TZ).year


def report(unit: str, month: int, factor: float, *, event_id: str | None = None, **extra: Any) -> bytes:
    body = {
        "event_id": event_id or f"{unit}-{month}-{factor}",
        "indicator": "DT-GIAI-NGAN-PHUONG",
        "unit": unit,
        "period": str(YEAR),
        "value": round(150 * DISB[month - 2] * factor, 3),
        "as_of": f"{YEAR}-{month:02d}-01T00:00:00+07:00",
        "reported_by": "can-bo-1",
        "note": "<b>chậm</b>",
        **extra,
    }
    return orjson.dumps(body)


def records(stack: Stack) -> dict[str, IndicatorRecord]:
    return {key.decode(): IndicatorRecord.decode(value) for key, value in stack.table("indicators").items()}


def test_reports_become_records_rows_alerts_and_dead_letters(stack: Stack, redis_url: str) -> None:
    month = min(datetime.now(LOCAL_TZ).month, 12)
    months = [m for m in range(2, month + 1)][-4:]
    good = [report("P-BAN-CO", m, 0.5) for m in months]  # half the plan: red
    good.append(report("P-BAN-CO", months[-1], 0.5))  # the same report twice: a duplicate
    bad = [
        report("P-NOWHERE", months[-1], 1.0, event_id="bad-unit"),
        report("P-BAN-CO", months[-1], 1.0, event_id="bad-period", period=f"{YEAR}-Q1"),
        orjson.dumps(
            {
                "event_id": "zero",
                "indicator": "TTHC-DUNG-HAN",
                "unit": "P-BAN-CO",
                "period": str(YEAR),
                "numerator": 0,
                "denominator": 0,
                "as_of": f"{YEAR}-{months[-1]:02d}-01T00:00:00+07:00",
            }
        ),
        b"{nope",
    ]
    stack.produce([(stack.topics.indicators, b"P-BAN-CO", value) for value in [*good, *bad]])
    worker = stack.start_worker()

    def dead_letters() -> list[Record] | None:
        found = stack.read(stack.topics.deadletter)
        return found if len(found) >= 4 else None

    letters = wait_for(dead_letters, timeout=60, what="dead letters")
    reasons = sorted(letter.header("govpulse.reason") or "" for letter in letters)
    assert [letter.header("govpulse.stage") for letter in letters] == ["indicators"] * 4
    assert any(r.startswith("unit 'P-NOWHERE' is not in the unit catalog") for r in reasons)
    assert any(r.startswith(f"period '{YEAR}-Q1' is a quarter") for r in reasons)
    assert any(r.startswith("denominator is 0") for r in reasons)
    assert any(r.startswith("not JSON") for r in reasons)

    key = f"DT-GIAI-NGAN-PHUONG|P-BAN-CO|{YEAR}"

    def the_record() -> dict[str, IndicatorRecord] | None:
        found = records(stack)
        return found if key in found else None

    stored = wait_for(the_record, timeout=30, what="the record")
    assert len(stored[key].reports) == len(months)
    verdict = stored[key].verdict
    assert verdict is not None and verdict.status == "red"

    def at_risk() -> dict[str, Any] | None:
        for record in stack.read(stack.topics.alerts, timeout=2):
            data: dict[str, Any] = record.json()
            if data["fingerprint"] == f"indicator_at_risk:DT-GIAI-NGAN-PHUONG/P-BAN-CO/{YEAR}":
                return data
        return None

    alert = wait_for(at_risk, timeout=30, what="the indicator_at_risk alert")["alert"]
    assert alert["unit"] == "P-BAN-CO" and alert["facts"]["target"] == 150
    assert alert["title_en"].startswith("Indicator at risk: Public investment disbursed by the ward")

    client = redis.Redis.from_url(redis_url)

    def board_row() -> bytes | None:
        found = client.hget(INDICATORS_KEY, key)
        return found if isinstance(found, bytes) else None

    row = wait_for(board_row, timeout=15, what="the board row")
    assert orjson.loads(row)["status"] == "red" and orjson.loads(row)["note"] == "<b>chậm</b>"
    assert worker.running, stack.log(worker)


def test_records_are_exact_after_a_sigkill_mid_stream(stack: Stack) -> None:
    wards = [u.code for u in Catalog.from_file(DATA / "units.json") if u.kind == "ward"]
    month = min(datetime.now(LOCAL_TZ).month, 12)
    values = [
        report(ward, m, 0.6 + 0.01 * (i % 40), event_id=f"{ward}-{m}")
        for m in range(2, month + 1)
        for i, ward in enumerate(wards)
    ]
    # Corrections of the same as_of, and exact duplicates.
    values += [report(ward, month, 0.99, event_id=f"fix-{ward}") for ward in wards[:10]]
    values += values[:20]
    messages = [(stack.topics.indicators, orjson.loads(value)["unit"].encode(), value) for value in values]
    stack.produce(messages)
    victim = stack.start_worker()
    wait_for(lambda: len(records(stack)) >= 5, timeout=60, what="the first records")
    victim.kill()
    committed = sum(stack.committed([stack.topics.indicators]).values())
    # The topic also carries the worker's own derived reports: compare with all it holds.
    held = len(stack.read(stack.topics.indicators, timeout=5))
    assert committed < held, "the kill came after the victim finished its input"
    stack.start_worker()

    # The expected records: a pure replay of the same messages, in partition order.
    units = Catalog.from_file(DATA / "units.json")
    catalog = IndicatorCatalog.from_file(DATA / "indicators.toml", units)
    calendar = WorkCalendar.from_file(DATA / "calendar.toml")
    table: dict[bytes, bytes] = {}
    processor = IndicatorProcessor(catalog=catalog, calendar=calendar, load=table.get)
    # The worker also reports derived indicators from its counters (overdue_at_end is 0 for
    # every unit it ticks), each process anew: they are not what this test replays.
    derived = {code for code, indicator in catalog.indicators.items() if indicator.source == "derived"}
    read = [
        r
        for r in stack.read(stack.topics.indicators)
        if orjson.loads(r.value or b"{}").get("indicator") not in derived
    ]
    for record in sorted(read, key=lambda r: (r.partition, r.offset)):
        result = processor.process(
            [Message(REPORT_KIND, record.topic, record.partition, record.offset, record.key, record.value)],
            now=time.time(),
        )
        for writes in result.writes.values():
            table.update({k: v for k, v in writes.items() if v is not None})
    expected = {k.decode(): IndicatorRecord.decode(v) for k, v in table.items()}

    def settled() -> dict[str, IndicatorRecord] | None:
        got = records(stack)
        # Ticks also record assignments nobody reported on (grey, stale): no reports there.
        same = set(expected) <= set(got) and all(
            got[k].reports == expected[k].reports and got[k].ids == expected[k].ids for k in expected
        )
        same = same and all(
            not got[k].reports for k in set(got) - set(expected) if k.split("|")[0] not in derived
        )
        return got if same else None

    wait_for(settled, timeout=90, interval=1.0, what="records equal to the replay")


def test_derived_indicators_split_feedback_from_tasks_and_count_working_days(stack: Stack) -> None:
    now = time.time()
    today = datetime.fromtimestamp(now, LOCAL_TZ)
    # Yesterday 09:00 (office hours) when that is still this month, else 50 minutes ago.
    yesterday = today.replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    t0 = yesterday.timestamp() if yesterday.month == today.month else now - 50 * 60
    unit = "P-BAN-CO"

    def event(event_id: str, item_id: str, type_: str, at: float, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "item_id": item_id,
            "type": type_,
            "occurred_at": format_instant(at),
            **fields,
        }

    stack.produce_events(
        [
            event("f1", "PA-1", "received", t0, unit=unit, category="moi-truong"),  # on time
            event("f2", "PA-2", "received", t0, unit=unit, category="moi-truong"),  # on time
            event("t1", "NV-1", "received", t0, unit=unit, category="nhiem-vu"),  # on time
            event(
                "t2", "NV-2", "received", t0, unit=unit, category="nhiem-vu", due_at=format_instant(t0 + 60)
            ),
            event("f3", "PA-1", "resolved", t0 + 600),
            event("f4", "PA-2", "resolved", t0 + 1200),
            event("t3", "NV-1", "resolved", t0 + 900),
            event("t4", "NV-2", "resolved", t0 + 1500),  # after its deadline: late
        ]
    )
    worker = stack.start_worker()
    month = datetime.fromtimestamp(now, LOCAL_TZ).strftime("%Y-%m")

    def derived() -> dict[str, IndicatorRecord] | None:
        found = records(stack)
        wanted = [
            f"{code}|{unit}|{month}" for code in ("SO-1022-DUNG-HAN", "NV-DUNG-HAN", "SO-1022-THOI-GIAN")
        ]
        return found if all(key in found and found[key].reports for key in wanted) else None

    found = wait_for(derived, timeout=60, what="the derived indicator records")
    feedback = found[f"SO-1022-DUNG-HAN|{unit}|{month}"].reports[-1]
    tasks = found[f"NV-DUNG-HAN|{unit}|{month}"].reports[-1]
    assert (feedback.numerator, feedback.denominator) == (2, 2)
    assert (tasks.numerator, tasks.denominator) == (1, 2)
    calendar = WorkCalendar.from_file(DATA / "calendar.toml")
    day = calendar.office_hours.seconds_per_day
    handled = [calendar.working_seconds_between(t0, t0 + s) / day for s in (600, 1200, 900, 1500)]
    handling = found[f"SO-1022-THOI-GIAN|{unit}|{month}"].reports[-1]
    assert handling.value == pytest.approx(sum(handled) / 4, abs=0.001)  # working days, not clock
    assert worker.running, stack.log(worker)
