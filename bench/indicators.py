"""Indicators: how early red comes, how often it is wrong, and what a full re-evaluation costs.

No services: the indicator stage (:class:`stream.stages.indicators.IndicatorProcessor`,
the worker's own code) runs in this process over the simulated year of
:func:`govpulse.simulator.indicators.simulate_year` for the packaged catalog. Time moves
in steps (a week in the quick profile, a day in the full one); at each step the reports
sent by then are applied and a tick re-evaluates every record, as the worker's indicator
timer does. From each record's status history and the simulation's truth:

* ``median_lead_days_yearly``: for yearly indicators that end below target, the median
  number of days between the first time they turned red and the period's end (0 when
  they never turned red before it ended). Goal ≥ 60.
* ``false_red_share``: of the records that turned red before their period ended, the
  share that ended up meeting the target. Goal ≤ 15 %.
* ``full_reevaluation_ms``: one evaluation of every indicator of every unit (the
  catalog's 2,800 assignments, the board's rows) with the state of 1 July, a day later,
  median of repeats, CPU time of one core, records already decoded as the worker keeps
  them (``full_reevaluation_cold_ms``: read and decoded first). Goal < 200 ms.
  Baseline measured in the same run: encoding those rows as JSON (``orjson``), the
  least a board refresh costs.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import orjson

from bench.common import Section, load_average, run_info
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.periods import parse_period
from govpulse.simulator.indicators import IndicatorTruth, simulate_year
from runtime.settings import load_settings
from stream.stages.indicators import REPORT, TICK, IndicatorProcessor, IndicatorRecord
from stream.stages.items import Message

YEAR = 2026
STEP_DAYS = {"quick": 7, "full": 1}
REPEATS = {"quick": 5, "full": 15}
GOALS = {"median_lead_days_yearly": 60.0, "false_red_share": 0.15, "full_reevaluation_ms": 200.0}


def _local(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, tzinfo=LOCAL_TZ).timestamp()


def replay_year(
    catalog: IndicatorCatalog,
    calendar: WorkCalendar,
    *,
    step_days: float,
    seed: int = 2026,
    until: float | None = None,
) -> tuple[dict[str, IndicatorRecord], IndicatorTruth, int]:
    """Run the stage over the simulated year (to ``until``; default: 20 days after it);
    return the final records, the truth and the number of reports applied."""
    reports, truth = simulate_year(catalog, year=YEAR, seed=seed)
    table: dict[bytes, bytes] = {}
    processor = IndicatorProcessor(
        catalog=catalog, calendar=calendar, load=table.get, keys=lambda: list(table)
    )
    at, end = _local(YEAR, 1, 1), until if until is not None else _local(YEAR + 1, 1, 20)
    offset, index, applied = 0, 0, 0
    while at <= end:
        batch: list[Message] = []
        while index < len(reports) and reports[index].sent_at <= at:
            report = reports[index]
            batch.append(Message(REPORT, "gov.indicators", 0, offset, report.key, report.value))
            offset, index = offset + 1, index + 1
        batch.append(Message(TICK, "ticks", 0, 0, None, b""))
        result = processor.process(batch, now=at)
        applied += result.applied
        if result.dead_letters:
            raise RuntimeError(f"simulated reports were refused: {result.dead_letters[0].reason}")
        for writes in result.writes.values():
            table.update({key: value for key, value in writes.items() if value is not None})
        at += step_days * 86400
    records = {key.decode(): IndicatorRecord.decode(value) for key, value in table.items()}
    return records, truth, applied


def lead_and_false_reds(
    catalog: IndicatorCatalog, records: dict[str, IndicatorRecord], truth: IndicatorTruth
) -> dict[str, object]:
    """The figures of the module docstring from final records and the truth."""
    leads: dict[str, list[float]] = {"year": [], "quarter": []}
    reds = false_reds = 0
    for key, record in records.items():
        code, _unit, label = key.split("|")
        indicator = catalog.get(code)
        period = parse_period(label, indicator.period)
        first_red = next((h["at"] for h in record.history if h["to"] == "red" and h["at"] < period.end), None)
        below = truth.below(key)
        if first_red is not None:
            reds += 1
            false_reds += not below
        if below and indicator.period in leads:
            leads[indicator.period].append(0.0 if first_red is None else (period.end - first_red) / 86400)
    return {
        "records": len(records),
        "ending_below": sum(truth.below(k) for k in records),
        "median_lead_days_yearly": round(statistics.median(leads["year"]), 1) if leads["year"] else None,
        "median_lead_days_quarterly": round(statistics.median(leads["quarter"]), 1)
        if leads["quarter"]
        else None,
        "yearly_below_never_red_before_end": sum(1 for d in leads["year"] if d == 0.0),
        "yearly_below": len(leads["year"]),
        "reds": reds,
        "false_reds": false_reds,
        "false_red_share": round(false_reds / reds, 4) if reds else None,
    }


def reevaluation(processor: IndicatorProcessor, *, now: float, repeats: int) -> dict[str, object]:
    """Milliseconds for one evaluation of every assignment at ``now`` (later than every
    stored verdict, so none is reused), as the worker does it (records decoded once and
    cached) and cold (every record read and decoded first, as after a restart); and the
    JSON-encoding baseline."""
    warm, cold, baselines, rows = [], [], [], []
    for _ in range(repeats):
        processor.reset()
        started = time.process_time()
        rows = processor.rows(now=now)
        cold.append(time.process_time() - started)
        started = time.process_time()
        rows = processor.rows(now=now)
        warm.append(time.process_time() - started)
        started = time.process_time()
        orjson.dumps(rows)
        baselines.append(time.process_time() - started)
    ms, base = statistics.median(warm) * 1000, statistics.median(baselines) * 1000
    return {
        "assignments": len(rows),
        "evaluated_with_reports": sum(1 for row in rows if row["points"]),
        "full_reevaluation_ms": round(ms, 1),
        "full_reevaluation_cold_ms": round(statistics.median(cold) * 1000, 1),
        "per_assignment_us": round(ms * 1000 / max(1, len(rows)), 1),
        "baseline_json_ms": round(base, 1),
        "ratio_to_baseline": round(ms / base, 1) if base else None,
    }


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the indicators bench; return its section."""
    del keep  # nothing to keep: no processes, no files
    started, load_before = time.monotonic(), load_average()
    settings = load_settings({})
    units = Catalog.from_file(settings.units_file)
    catalog = IndicatorCatalog.from_file(settings.indicators_file, units)
    calendar = WorkCalendar.from_file(settings.calendar_file)
    step = STEP_DAYS[profile] / max(scale, 1e-3) if scale != 1.0 else STEP_DAYS[profile]
    records, truth, applied = replay_year(catalog, calendar, step_days=step)
    figures = lead_and_false_reds(catalog, records, truth)
    # The state at mid-year, re-evaluated a day later: every record is evaluated afresh.
    midyear, _, _ = replay_year(catalog, calendar, step_days=step, until=_local(YEAR, 7, 1))
    table = {key.encode(): record.encode() for key, record in midyear.items()}
    processor = IndicatorProcessor(
        catalog=catalog, calendar=calendar, load=table.get, keys=lambda: list(table)
    )
    figures |= reevaluation(processor, now=_local(YEAR, 7, 2), repeats=REPEATS[profile])
    figures |= {"reports_applied": applied, "step_days": step, "goals": GOALS}
    figures["met"] = _met(figures)
    for name in ("median_lead_days_yearly", "false_red_share", "full_reevaluation_ms", "per_assignment_us"):
        print(f"  {name}: {figures[name]}", flush=True)
    return [Section("indicators", figures, run_info(profile, started=started, load_before=load_before))]


def _met(figures: dict[str, object]) -> dict[str, bool]:
    def value(name: str) -> float:
        found = figures.get(name)
        return float(found) if isinstance(found, int | float) else float("nan")

    return {
        "median_lead_days_yearly": value("median_lead_days_yearly") >= GOALS["median_lead_days_yearly"],
        "false_red_share": value("false_red_share") <= GOALS["false_red_share"],
        "full_reevaluation_ms": value("full_reevaluation_ms") < GOALS["full_reevaluation_ms"],
    }
