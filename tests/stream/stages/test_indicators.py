"""The indicator stage as timelines of messages: reports, redeliveries, corrections, ticks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.config import IndicatorRule, RulesConfig
from alerts.model import RuleName, Signal
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.windows import window_specs
from runtime.settings import load_settings
from stream.metrics import MetricsStore, WindowRecord
from stream.stages.indicators import (
    REPORT,
    TICK,
    DerivedReporter,
    IndicatorProcessor,
    IndicatorRecord,
    record_key,
)
from stream.stages.items import Message
from stream.transitions import Entry
from tests.support.strategies import json_scalars, json_values

DATA = Path(__file__).resolve().parents[3] / "domain" / "data"
DISB = [0.03, 0.06, 0.10, 0.15, 0.21, 0.30, 0.38, 0.46, 0.55, 0.66, 0.80, 1.0]


@pytest.fixture(scope="module")
def units() -> Catalog:
    return Catalog.from_file(DATA / "units.json")


@pytest.fixture(scope="module")
def catalog(units: Catalog) -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", units)


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(DATA / "calendar.toml")


class Stage:
    """A processor over a dict table, applying its writes like the agent does."""

    def __init__(self, catalog: IndicatorCatalog, calendar: WorkCalendar, **options: Any) -> None:
        self.table: dict[bytes, bytes] = {}
        self.signals: list[Signal] = []
        self.dead: list[str] = []
        self.offset = 0
        self.processor = IndicatorProcessor(
            catalog=catalog, calendar=calendar, load=self.table.get, keys=lambda: list(self.table), **options
        )

    def send(self, *values: bytes, now: float, partition: int = 0, offset: int | None = None) -> Any:
        messages = []
        for value in values:
            if offset is None:
                self.offset += 1
            messages.append(
                Message(REPORT, "gov.indicators", partition, offset or self.offset, b"P-BAN-CO", value)
            )
        return self.apply(messages, now)

    def tick(self, now: float, partition: int = 0) -> Any:
        return self.apply([Message(TICK, "ticks", partition, 0, None, b"")], now)

    def apply(self, messages: list[Message], now: float) -> Any:
        result = self.processor.process(messages, now=now)
        for writes in result.writes.values():
            for key, value in writes.items():
                assert value is not None
                self.table[key] = value
        self.signals += result.signals
        self.dead += [letter.reason for letter in result.dead_letters]
        return result

    def record(self, key: str) -> IndicatorRecord:
        return IndicatorRecord.decode(self.table[key.encode()])

    def restart(self) -> None:
        self.processor.reset()


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def disbursed(month: int, factor: float, *, event_id: str | None = None, as_of: str | None = None) -> bytes:
    """The ward's disbursement report on the 1st of ``month`` at ``factor`` × plan (target 150)."""
    return orjson.dumps(
        {
            "event_id": event_id or f"d-{month}-{factor}",
            "indicator": "DT-GIAI-NGAN-PHUONG",
            "unit": "P-BAN-CO",
            "period": "2026",
            "value": 150 * DISB[month - 2] * factor,
            "as_of": as_of or f"2026-{month:02d}-01T00:00:00+07:00",
            "note": "<img src=x onerror=alert(1)>",
        }
    )


KEY = record_key("DT-GIAI-NGAN-PHUONG", "P-BAN-CO", "2026")


def test_a_report_is_stored_with_its_status_and_board_row(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar)

    result = stage.send(disbursed(4, 1.0), now=local("2026-04-01T10:00"))

    record = stage.record(KEY)
    assert [r.value for r in record.reports] == [pytest.approx(15.0)]
    assert record.verdict is not None and record.verdict.status == "green"
    assert (
        result.rows[KEY]["status"] == "green" and result.rows[KEY]["note"] == "<img src=x onerror=alert(1)>"
    )
    assert record.history[0]["to"] == "green" and record.history[0]["formula"] == 1


def test_duplicates_and_redeliveries_change_nothing(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar)
    stage.send(disbursed(4, 1.0), now=local("2026-04-01T10:00"))
    before = stage.table[KEY.encode()]

    same_id = stage.send(disbursed(4, 0.5, event_id="d-4-1.0"), now=local("2026-04-01T10:00"))
    stage.restart()
    redelivered = stage.send(disbursed(4, 0.2, event_id="other"), now=local("2026-04-01T10:00"), offset=1)

    assert (same_id.applied, same_id.duplicates) == (0, 1)
    assert (redelivered.applied, redelivered.duplicates) == (0, 1)
    assert [r.value for r in stage.record(KEY).reports] == [pytest.approx(15.0)]
    assert IndicatorRecord.decode(before).reports == stage.record(KEY).reports


def test_a_correction_for_the_same_as_of_replaces_the_value(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar)
    stage.send(disbursed(3, 1.0), disbursed(4, 1.0), now=local("2026-04-01T10:00"))

    stage.send(disbursed(4, 0.5, event_id="fix-1"), now=local("2026-04-02T10:00"))

    assert [r.value for r in stage.record(KEY).reports] == [pytest.approx(9.0), pytest.approx(7.5)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"indicator": "XX-1"}, "indicator 'XX-1' is not in the indicator catalog"),
        ({"unit": "P-NOWHERE"}, "unit 'P-NOWHERE' is not in the unit catalog"),
        ({"period": "2026-Q2"}, "period '2026-Q2' is a quarter"),
        ({"value": -1}, "value -1 is negative"),
        ({"indicator": "TTHC-DUNG-HAN", "value": None, "numerator": 0, "denominator": 0}, "denominator is 0"),
        (
            {"indicator": "TTHC-DUNG-HAN", "value": None, "numerator": -3, "denominator": 4},
            "field 'numerator' = -3",
        ),
        ({"value": "NaN"}, "field 'value' is not a number"),
        (
            {"as_of": "2026-06-01T00:00:00+07:00"},
            "as_of is 1454.0 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)",
        ),
    ],
)
def test_bad_reports_are_dead_lettered_with_their_reason(
    catalog: IndicatorCatalog, calendar: WorkCalendar, change: dict[str, Any], reason: str
) -> None:
    stage = Stage(catalog, calendar)
    body = {**orjson.loads(disbursed(4, 1.0)), **change}

    result = stage.send(
        orjson.dumps({k: v for k, v in body.items() if v is not None}), now=local("2026-04-01T10:00")
    )

    assert result.writes == {} and len(stage.dead) == 1 and stage.dead[0].startswith(reason)
    assert result.dead_letters[0].stage == "indicators"


def test_turning_red_raises_at_risk_and_recovering_resolves_it(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar)
    stage.send(disbursed(3, 0.8), disbursed(4, 0.8), disbursed(5, 0.8), now=local("2026-05-01T10:00"))
    at_risk = [s for s in stage.signals if s.rule == RuleName.INDICATOR_AT_RISK]

    assert stage.record(KEY).verdict.status == "red"  # type: ignore[union-attr]
    assert at_risk[-1].active and at_risk[-1].unit == "P-BAN-CO"
    assert at_risk[-1].fingerprint == "indicator_at_risk:DT-GIAI-NGAN-PHUONG/P-BAN-CO/2026"
    facts = at_risk[-1].facts
    assert facts["target"] == 150 and facts["days_left"] > 100 and facts["run_rate"] > 0
    assert facts["gap"] < -0.1

    # Catching up over the dwell (7 days) and past the exit margin.
    stage.send(disbursed(6, 1.0), disbursed(7, 1.0), now=local("2026-07-01T10:00"))

    last = [s for s in stage.signals if s.rule == RuleName.INDICATOR_AT_RISK][-1]
    assert not last.active and last.facts["recovered"] is True
    assert stage.record(KEY).verdict.status in ("green", "orange")  # type: ignore[union-attr]


def test_time_passing_without_reports_makes_it_stale_then_red_at_period_end(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar)
    stage.send(disbursed(3, 1.0), disbursed(4, 1.0), disbursed(5, 1.0), now=local("2026-05-01T10:00"))
    assert stage.record(KEY).verdict.status == "green"  # type: ignore[union-attr]

    quiet = stage.tick(local("2026-05-20T10:00"))
    stale = stage.tick(local("2026-07-05T10:00"))
    ended = stage.tick(local("2027-01-01T00:30"))

    assert quiet.writes == {}  # nothing changed: nothing written
    assert stale.rows[KEY]["status"] == "grey" and stale.rows[KEY]["stale"] is True
    stale_signals = [s for s in stage.signals if s.rule == RuleName.INDICATOR_STALE]
    assert [s.active for s in stale_signals] == [True, False]
    assert ended.rows[KEY]["status"] == "red" and ended.rows[KEY]["reason"] == "ended_below"
    assert [h["to"] for h in stage.record(KEY).history] == ["green", "grey", "red"]


def test_disabled_rules_send_no_signals(catalog: IndicatorCatalog, calendar: WorkCalendar) -> None:
    rules = RulesConfig(indicator_at_risk=IndicatorRule(enabled=False))
    stage = Stage(catalog, calendar, rules=rules)

    stage.send(disbursed(3, 0.5), disbursed(4, 0.5), now=local("2026-04-01T10:00"))

    assert stage.record(KEY).verdict.status == "red" and stage.signals == []  # type: ignore[union-attr]


def test_replaying_the_topic_gives_the_same_records(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    reports = [disbursed(m, f) for m, f in ((3, 0.9), (4, 0.85), (5, 0.8), (6, 0.95), (7, 1.1))]
    first, replay = Stage(catalog, calendar), Stage(catalog, calendar)
    for index, value in enumerate(reports):
        first.send(value, now=local(f"2026-0{index + 3}-01T10:00"))
    replay.send(*reports, now=local("2026-12-01T10:00"))  # all at once, months later

    assert first.table == replay.table


def test_rows_cover_every_assignment_red_first(catalog: IndicatorCatalog, calendar: WorkCalendar) -> None:
    stage = Stage(catalog, calendar)
    stage.send(disbursed(3, 0.5), disbursed(4, 0.5), now=local("2026-04-01T10:00"))

    rows = stage.processor.rows(now=local("2026-04-02T10:00"), units=["P-BAN-CO"])

    assert rows[0]["key"] == KEY and rows[0]["status"] == "red"
    assert {row["owner"] for row in rows} == {"P-BAN-CO"}
    assert len(rows) == len(catalog.of_unit("P-BAN-CO"))
    assert rows[-1]["status"] == "grey"


def day_record(feedback: tuple[int, int], tasks: tuple[int, int], working_days: float) -> WindowRecord:
    """A day's counters: (on time, late) feedback and tasks, their working days in all."""
    (f_on_time, f_late), (t_on_time, t_late) = feedback, tasks
    resolved = f_on_time + f_late + t_on_time + t_late
    return WindowRecord(
        counts={
            "resolved": resolved,
            "resolved_on_time": f_on_time + t_on_time,
            "resolved_late": f_late + t_late,
            "resolved_feedback": f_on_time + f_late,
            "resolved_on_time_feedback": f_on_time,
            "resolved_task": t_on_time + t_late,
            "resolved_on_time_task": t_on_time,
        },
        working_days=working_days,
        working_samples=resolved,
    )


def test_derived_reports_equal_the_counters(catalog: IndicatorCatalog, calendar: WorkCalendar) -> None:
    days = {
        local("2026-04-01T00:00"): day_record((8, 2), (3, 3), 16 * 2.0),
        local("2026-04-02T00:00"): day_record((9, 1), (4, 0), 14 * 1.0),
    }
    reporter = DerivedReporter(catalog, day_counts=lambda node, start: days.get(start))

    sent = reporter.reports("P-BAN-CO", local("2026-04-02T15:00"), overdue_now=4)
    again = reporter.reports("P-BAN-CO", local("2026-04-02T15:01"), overdue_now=4)

    bodies = {orjson.loads(value)["indicator"]: orjson.loads(value) for _, value in sent}
    ratios = {code: (body.get("numerator"), body.get("denominator")) for code, body in bodies.items()}
    assert ratios["SO-1022-DUNG-HAN"] == (17, 20)  # feedback only
    assert ratios["SO-1022-DUNG-HAN-QUY"] == (17, 20)
    assert ratios["NV-DUNG-HAN"] == (7, 10)  # tasks only
    assert ratios["NV-DUNG-HAN-QUY"] == (7, 10)
    assert bodies["SO-1022-DUNG-HAN-QUY"]["period"] == bodies["NV-DUNG-HAN-QUY"]["period"] == "2026-Q2"
    assert bodies["SO-1022-THOI-GIAN"]["value"] == round((32 + 14) / 30, 3)  # working days
    assert bodies["SO-1022-QUA-HAN"]["value"] == 4
    assert all(key == b"P-BAN-CO" for key, _ in sent)
    assert again == []  # unchanged values are not sent again

    # And the stage accepts them as reports of the same day.
    stage = Stage(catalog, calendar)
    stage.send(*[value for _, value in sent], now=local("2026-04-02T15:00"))
    assert stage.dead == []
    assert stage.record(record_key("SO-1022-DUNG-HAN", "P-BAN-CO", "2026-04")).reports[0].value == 85.0
    assert stage.record(record_key("NV-DUNG-HAN", "P-BAN-CO", "2026-04")).reports[0].value == 70.0


@pytest.mark.parametrize(
    ("feedback", "tasks", "sent"),
    [
        ((5, 0), (0, 0), {"SO-1022-DUNG-HAN"}),
        ((0, 0), (1, 1), {"NV-DUNG-HAN"}),
        ((0, 0), (0, 0), set()),
    ],
    ids=["feedback-only", "tasks-only", "nothing-resolved"],
)
def test_an_on_time_rate_is_reported_only_once_its_kind_has_resolutions(
    catalog: IndicatorCatalog, feedback: tuple[int, int], tasks: tuple[int, int], sent: set[str]
) -> None:
    record = day_record(feedback, tasks, 1.0)
    reporter = DerivedReporter(catalog, day_counts=lambda node, start: record)
    bodies = [
        orjson.loads(v) for _, v in reporter.reports("P-BAN-CO", local("2026-04-02T15:00"), overdue_now=0)
    ]
    monthly_rates = {b["indicator"] for b in bodies if "numerator" in b and b["period"] == "2026-04"}
    assert monthly_rates == sent


REPORT_FIELDS = st.sampled_from(
    ["event_id", "indicator", "unit", "period", "value", "numerator", "denominator", "as_of", "note"]
)
VALID_REPORT = orjson.loads(disbursed(4, 1.0))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40)
        | st.dictionaries(
            REPORT_FIELDS, json_values(json_scalars(text_size=10), max_leaves=3), max_size=9
        ).map(lambda d: orjson.dumps({**VALID_REPORT, **d})),
        max_size=6,
    )
)
def test_fuzzed_messages_are_applied_or_dead_lettered_never_raised(
    catalog: IndicatorCatalog, calendar: WorkCalendar, values: list[bytes]
) -> None:
    stage = Stage(catalog, calendar)

    result = stage.send(*values, now=local("2026-05-01T10:00")) if values else None

    if result is not None:
        assert result.applied + result.duplicates + len(result.dead_letters) == len(values)
        assert all(letter.reason for letter in result.dead_letters)


def test_a_tick_records_assignments_never_reported_once_overdue(
    catalog: IndicatorCatalog, calendar: WorkCalendar
) -> None:
    stage = Stage(catalog, calendar, partition_of=lambda unit: 0 if unit == "P-BAN-CO" else 1)

    early = stage.tick(local("2026-02-20T10:00"))  # under two monthly cadences: nothing yet
    late = stage.tick(local("2026-03-10T10:00"))
    again = stage.tick(local("2026-03-11T10:00"))

    assert early.writes == {}
    keys = set(late.rows)
    assert KEY in keys and all(key.split("|")[1] == "P-BAN-CO" for key in keys)
    assert all(
        row["status"] == "grey" and row["reason"] == "no_report" and row["stale"]
        for row in late.rows.values()
    )
    stale = [s for s in stage.signals if s.rule == RuleName.INDICATOR_STALE]
    assert {s.fingerprint for s in stale} == {
        f"indicator_stale:{key.replace('|', '/')}" for key in keys
    } and all(s.active and s.unit == "P-BAN-CO" for s in stale)
    assert not any(k.startswith("SO-1022") for k in keys)  # derived ones are not "missing"
    assert again.writes == {}  # recorded once

    # The first report ends it.
    stage.send(disbursed(3, 1.0), now=local("2026-03-11T11:00"))
    assert [
        s.active for s in stage.signals if s.fingerprint == f"indicator_stale:{KEY.replace('|', '/')}"
    ] == [
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("retention", "first_day_counted"),
    [(None, True), ("1d=62d", False)],
    ids=["default-retention-keeps-the-quarter", "62-days-lose-its-first-days"],
)
def test_a_quarterly_derived_value_counts_the_quarters_first_day_at_its_last(
    catalog: IndicatorCatalog, retention: str | None, first_day_counted: bool
) -> None:
    settings = load_settings({"GOVPULSE_WINDOW_RETENTION": retention} if retention else {})
    store = MetricsStore(window_specs(settings.windows, settings.window_retention), grace=600.0, load={}.get)
    first, last = local("2026-07-01T10:00"), local("2026-09-30T10:00")  # Q3: 92 days
    for offset, at in enumerate((first, last)):
        counts = tuple((at, c) for c in ("resolved", "resolved_task", "resolved_on_time_task"))
        store.apply("P-BAN-CO", Entry("t0", offset, f"NV-{offset}", 2, ("resolved",), counts, event_at=at))
    store.flush()
    store.forget(store.expire(0, local("2026-09-30T23:00")))  # stream time at the quarter's end
    reporter = DerivedReporter(catalog, day_counts=lambda node, start: store.record(node, "1d", start))

    sent = reporter.reports("P-BAN-CO", local("2026-09-30T23:00"), overdue_now=0)

    quarter = next(orjson.loads(v) for _, v in sent if orjson.loads(v)["indicator"] == "NV-DUNG-HAN-QUY")
    assert quarter["denominator"] == (2 if first_day_counted else 1)
