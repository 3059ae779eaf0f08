"""``reports``: building a quarter's report for every unit, serving its XLSX, and the
storage a unit-period costs.

A quarter of simulated traffic (work modes and assignees on) goes through the oracle; its
``period`` window records are what the worker's unit stage holds at the quarter's end.
Then:

* **build**: the report stage (:class:`stream.stages.reports.ReportProcessor`) closes the
  quarter's three months for every unit of the catalog, and the web node's document of
  the quarter (:func:`web.reports.report_document`) adds them up, ranks and classifies;
  baseline in the same run: decoding the same window records (what any read of them costs);
* **serve**: a real web node on a real Redis answers ``/reports/export.xlsx?period=Q``
  (and, as the baseline, ``/reports/data.json`` for the same quarter), sequentially;
* **storage**: bytes per unit-month of a report on ``gov.reports`` (JSON), of its Redis
  hash field (``MEMORY USAGE`` of the month's hash per unit) and of the period window
  record (with the splits by category, work mode and assignee).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench.common import Section, load_average, percentile, run_info
from domain.classification import Classification
from domain.reports import Period, PeriodKind, Report
from govpulse.simulator.model import Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle, split_key
from runtime import services
from runtime.reports import ReportStore
from runtime.settings import load_settings
from stream.metrics import MetricsStore, WindowRecord, record_key
from stream.stages.reports import ReportProcessor
from web.auth import Scope, mint_token
from web.reports import report_document

log = logging.getLogger("bench.reports")

QUARTER = Period.parse("2026-Q4")
SECRET = "bench-secret-0123456789abcdef"


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    started, load_before = time.monotonic(), load_average()
    items_per_day = (400 if profile == "quick" else 3000) * scale
    requests = 10 if profile == "quick" else 40
    settings = load_settings({"GOVPULSE_WINDOWS": "period", "GOVPULSE_WINDOW_RETENTION": "period=400d"})
    oracle = Oracle.from_settings(settings)
    start, end = QUARTER.bounds()
    traffic = Traffic(
        oracle.policy.catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(seed=2026, items_per_day=items_per_day, tasks_per_day=10, work_modes=True),
    )
    t = time.monotonic()
    for message in traffic.messages(start, until=end):
        oracle.feed_message(message)
    truth = oracle.finish(end)
    log.info("oracle: %d events over a quarter in %.1f s", truth.events, time.monotonic() - t)

    records: dict[str, bytes] = {}
    for key, counts in truth.counters.items():
        node, window, at = split_key(key)
        record = WindowRecord(counts=dict(counts))
        for value in truth.work_days.get(key, ()):
            record.work.add(value)
        records[record_key(node, window, at)] = record.encode()
    units = [unit.code for unit in oracle.policy.catalog]

    # -- build ---------------------------------------------------------------------------
    def build() -> tuple[float, float, dict[str, bytes], dict[str, Any]]:
        store = MetricsStore(oracle.windows, grace=600.0, load=records.get)
        table: dict[bytes, bytes] = {}
        processor = ReportProcessor(load=table.get, grace=600.0)
        t0 = time.perf_counter()
        result = processor.process(
            store,
            changed=(),
            horizons={0: end + 3600.0},
            nodes_of=lambda partition: units,
            partition_of=lambda node: 0,
            now=end + 3600.0,
        )
        stage = time.perf_counter() - t0
        table.update(result.writes.get(0, {}))
        data: dict[str, dict[str, Report]] = {}
        for raw in table.values():
            report = Report.from_json(orjson.loads(raw))
            data.setdefault(report.period, {})[report.unit] = report
        t1 = time.perf_counter()
        document = report_document(
            QUARTER,
            data,
            catalog=oracle.policy.catalog,
            classification=Classification.from_file(settings.classification_file),
            scope=Scope("leader"),
        )
        return stage, time.perf_counter() - t1, {k.decode(): v for k, v in table.items()}, document

    builds = [build() for _ in range(3)]
    stage_s = min(b[0] for b in builds)
    document_s = min(b[1] for b in builds)
    written = builds[0][2]  # the quarter's months, and the quarter and the year they close
    reports = {k: v for k, v in written.items() if Period.parse(k.rsplit("|", 1)[1]).kind is PeriodKind.MONTH}
    t0 = time.perf_counter()
    for raw in records.values():
        WindowRecord.decode(raw)
    decode_s = time.perf_counter() - t0

    # -- serve and store ---------------------------------------------------------------
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as workdir:
        redis = services.start_redis(services.free_port(), log_dir=Path(workdir))
        try:
            serve, storage_redis = asyncio.run(_serve(redis.port, reports, requests))
        finally:
            redis.stop()

    month_records = [raw for key, raw in records.items() if key.split("|")[1] == "period"]
    data: dict[str, Any] = {
        "events": truth.events,
        "units": len(units),
        "unit_months": len(reports),
        "reports_written": len(written),
        "build": {
            "report_stage_ms": round(stage_s * 1000, 1),
            "report_stage_us_per_report": round(stage_s / max(1, len(written)) * 1e6, 1),
            "quarter_document_ms": round(document_s * 1000, 1),
            "baseline_decode_records_ms": round(decode_s * 1000, 1),
            "stage_over_decode": round(stage_s / decode_s, 2) if decode_s else None,
        },
        "serve": serve,
        "storage": {
            "topic_bytes_per_unit_month": round(statistics.mean(len(v) for v in reports.values())),
            "topic_bytes_per_unit_month_max": max(len(v) for v in reports.values()),
            "redis_bytes_per_unit_month": storage_redis,
            "window_record_bytes_per_unit_month": round(statistics.mean(len(r) for r in month_records)),
            "window_record_bytes_per_unit_month_max": max(len(r) for r in month_records),
        },
    }
    build_info = data["build"]
    print(
        f"quarter of {truth.events:,} events, {len(units)} units: report stage "
        f"{build_info['report_stage_ms']} ms for {len(written)} reports ({len(reports)} unit-months, "
        f"the quarter and the year), quarter document "
        f"{build_info['quarter_document_ms']} ms; XLSX p50 {serve['xlsx_ms']['p50']} ms "
        f"({serve['xlsx_bytes']:,} B) vs JSON p50 {serve['json_ms']['p50']} ms; storage per unit-month: "
        f"topic {data['storage']['topic_bytes_per_unit_month']} B, Redis {storage_redis} B, "
        f"window record {data['storage']['window_record_bytes_per_unit_month']} B",
        flush=True,
    )
    return [Section("reports", data, run_info(profile, started=started, load_before=load_before))]


async def _serve(port: int, reports: dict[str, bytes], requests: int) -> tuple[dict[str, Any], int]:
    from web.server import serve

    url = f"redis://127.0.0.1:{port}/0"
    store = ReportStore.from_url(url)
    await store.put(Report.from_json(orjson.loads(raw)) for raw in reports.values())
    await store.mark_ready()
    months = await store.months()
    usage = 0
    for month in months:
        usage += int(await store.client.memory_usage(f"reports:month:{month}") or 0)
    await store.close()
    web_port = services.free_port()
    settings = load_settings(
        {
            "GOVPULSE_REDIS_URL": url,
            "GOVPULSE_WEB_PORT": str(web_port),
            "GOVPULSE_SECRET": SECRET,
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{services.free_port()}",
        }
    )
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready))
    await asyncio.wait_for(ready.wait(), 15)
    token = mint_token(SECRET, scope="leader", ttl_seconds=3600, subject="bench", now=time.time())

    def fetch(path: str) -> tuple[float, int]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{web_port}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            assert response.status == 200
        return (time.perf_counter() - t0) * 1000, len(body)

    try:
        out: dict[str, Any] = {}
        for kind, path in (("json", "/reports/data.json"), ("xlsx", "/reports/export.xlsx")):
            timings, size = [], 0
            for _ in range(requests):
                ms, size = await asyncio.to_thread(fetch, f"{path}?period={QUARTER.key}")
                timings.append(ms)
            ordered = sorted(timings)
            out[f"{kind}_ms"] = {
                "p50": round(percentile(ordered, 0.5), 1),
                "p99": round(percentile(ordered, 0.99), 1),
                "n": len(ordered),
            }
            out[f"{kind}_bytes"] = size
        out["xlsx_over_json_p50"] = round(out["xlsx_ms"]["p50"] / out["json_ms"]["p50"], 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return out, round(usage / max(1, len(reports)))
