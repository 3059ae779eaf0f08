"""``bench/results/latest.md``: the headline figures of ``latest.json`` as one table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Row = tuple[str, str, str, str]  # figure, value, target, verdict


def _get(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _verdict(value: Any, ok: Callable[[float], bool]) -> str:
    if not isinstance(value, int | float):
        return "–"
    return "met" if ok(float(value)) else "**missed**"


def _below(limit: float) -> Callable[[float], bool]:
    return lambda value: value < limit


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}{unit}"
    return str(value)


def rows(doc: Mapping[str, Any]) -> list[Row]:
    """The table rows for every section present in ``doc``."""
    out: list[Row] = []
    if "throughput" in doc:
        t = doc["throughput"]
        consumers = t.get("consumers", {})
        for key, label in (
            ("raw", "a. raw aiokafka + orjson (ceiling)"),
            ("floor", "b. empty Faust agent, batches (floor)"),
            ("floor_per_event", "b'. empty Faust agent, per event"),
            ("floor_chunked", "b''. empty Faust agent, chunked delivery like d"),
            ("naive", "c. naive Faust counters"),
            ("pipeline", "d. govpulse worker (full pipeline)"),
        ):
            if key in consumers:
                c = consumers[key]
                out.append(
                    (
                        f"throughput {label}",
                        f"{_fmt(c.get('eps'))} ev/s, {_fmt(c.get('cpu_us_per_event'), ' µs', 1)} CPU/event",
                        "",
                        "",
                    )
                )
        ratios = t.get("ratios", {})
        out.append(("throughput d/a", _fmt(ratios.get("pipeline_over_raw"), digits=3), "", ""))
        value = ratios.get("pipeline_over_floor")
        out.append(("throughput d/b", _fmt(value, digits=3), "≥ 0.5", _verdict(value, lambda v: v >= 0.5)))
        value = ratios.get("pipeline_over_naive")
        out.append(("throughput d/c", _fmt(value, digits=3), "≥ 1.2", _verdict(value, lambda v: v >= 1.2)))
        value = ratios.get("pipeline_over_floor_chunked")
        if value is not None:
            out.append(("throughput d/b''", _fmt(value, digits=3), "", ""))
    if "alert_latency_ms" in doc:
        for kind, target in (("event", 250.0), ("deadline", 1250.0)):
            lat = _get(doc, f"alert_latency_ms.{kind}") or {}
            out.append(
                (
                    f"alert latency, {kind}-driven (n={_fmt(lat.get('count'))})",
                    f"p50 {_fmt(lat.get('p50'), ' ms')}, p99 {_fmt(lat.get('p99'), ' ms')}, "
                    f"max {_fmt(lat.get('max'), ' ms')}",
                    f"p99 < {target:,.0f} ms",
                    _verdict(lat.get("p99"), _below(target)),
                )
            )
    if "fanout" in doc:
        for value in doc["fanout"].values():
            if not isinstance(value, Mapping) or "p50_ms" not in value:
                continue
            if "roles" in value:
                clients = _fmt(value.get("clients"))
                label = f"fan-out, city ({clients} clients: walls, leaders, unit pages), 1 web process"
            else:
                label = f"fan-out, {_fmt(value.get('clients'))} wall clients, 1 web process"
            if value.get("batch") is False:
                label += ", clients without batch frames"
            if value.get("deflate") is False:
                label += ", without compression"
            per_connection = value.get("memory_per_connection_bytes")
            measured = (
                f"p50 {_fmt(value.get('p50_ms'), ' ms', 1)}, p99 {_fmt(value.get('p99_ms'), ' ms', 1)}, "
                f"web CPU {_fmt(value.get('cpu_pct'), ' %')}, "
                f"delivered {_fmt(value.get('delivered_share'), '', 3)} "
                f"({_fmt(value.get('deliveries_per_s'), '/s')}), "
                f"{_fmt(per_connection / 1024 if per_connection else None, ' KB', 1)} per connection"
            )
            goal, verdict = "", ""
            if value.get("clients") == 10_000 and value.get("deflate", True) and "slow_clients" not in value:
                goal = "p99 < 250 ms, delivered 1, ≤ 30 KB per connection"
                met = (
                    (value.get("p99_ms") or 1e9) < 250
                    and value.get("delivered_share") == 1
                    and (per_connection or 1e9) <= 30 * 1024
                )
                verdict = "met" if met else "**missed**"
            slow = value.get("slow_clients")
            without = value.get("without_slow_clients")
            if isinstance(slow, Mapping):
                label += f" + {_fmt(slow.get('clients'))} slow (normal clients' figures)"
            if isinstance(without, Mapping):
                measured += (
                    f"; without slow clients: p50 {_fmt(without.get('p50_ms'), ' ms', 1)}, "
                    f"p99 {_fmt(without.get('p99_ms'), ' ms', 1)}"
                )
            out.append((label, measured, goal, verdict))
    if "api" in doc:
        eps = _get(doc, "api.batch.events_per_s")
        p99 = _get(doc, "api.paced.p99_ms")
        out.append(
            (
                f"HTTP ingest, batches of 100, one API process (kafka direct: "
                f"{_fmt(_get(doc, 'api.kafka_direct.events_per_s'))} ev/s)",
                f"{_fmt(eps)} ev/s",
                "≥ 5,000 ev/s",
                _verdict(eps, lambda v: v >= 5000),
            )
        )
        out.append(
            (
                "HTTP ingest p99 at half that rate "
                f"({_fmt(_get(doc, 'api.paced.target_events_per_s'))} ev/s)",
                _fmt(p99, " ms", 1),
                "< 100 ms",
                _verdict(p99, _below(100)),
            )
        )
        out.append(
            (
                "HTTP ingest, single-event requests",
                f"{_fmt(_get(doc, 'api.single.requests_per_s'))} req/s",
                "",
                "",
            )
        )
    if "memory" in doc:
        value = _get(doc, "memory.bytes_per_open_item")
        recovered = _get(doc, "memory.after_recovery.bytes_per_open_item")
        items = _get(doc, "memory.items")
        out.append(
            (
                f"memory per open item, steady state ({_fmt(items)} items)",
                _fmt(value, " B"),
                "≤ 905 B",
                _verdict(value, lambda v: v <= 905),
            )
        )
        out.append(
            (
                f"memory per open item after a restart ({_fmt(items)} items)",
                _fmt(recovered, " B"),
                "≤ 1,024 B",
                _verdict(recovered, lambda v: v <= 1024),
            )
        )
    if "recovery" in doc:
        value = _get(doc, "recovery.seconds_per_million_items")
        out.append(
            (
                f"recovery after a restart ({_fmt(_get(doc, 'recovery.items'))} items: ready in "
                f"{_fmt(_get(doc, 'recovery.seconds'), ' s', 1)}, table restore "
                f"{_fmt(_get(doc, 'recovery.restore_seconds'), ' s', 1)})",
                _fmt(value, " s per million items", 1),
                "≤ 30 s per million",
                _verdict(value, lambda v: v <= 30),
            )
        )
    if "indicators" in doc:
        lead = _get(doc, "indicators.median_lead_days_yearly")
        below = _get(doc, "indicators.yearly_below")
        out.append(
            (
                f"indicators: median lead of first red before the period end ({_fmt(below)} yearly "
                "indicators ending below target)",
                _fmt(lead, " days", 1),
                "≥ 60 days",
                _verdict(lead, lambda v: v >= 60),
            )
        )
        share = _get(doc, "indicators.false_red_share")
        reds = _get(doc, "indicators.reds")
        out.append(
            (
                f"indicators: reds that end up met ({_fmt(reds)} reds)",
                _fmt(share * 100 if isinstance(share, int | float) else None, " %", 1),
                "≤ 15 %",
                _verdict(share, lambda v: v <= 0.15),
            )
        )
        ms = _get(doc, "indicators.full_reevaluation_ms")
        out.append(
            (
                f"indicators: full re-evaluation, {_fmt(_get(doc, 'indicators.assignments'))} assignments, "
                f"one core (cold {_fmt(_get(doc, 'indicators.full_reevaluation_cold_ms'), ' ms', 1)}; "
                f"JSON baseline {_fmt(_get(doc, 'indicators.baseline_json_ms'), ' ms', 1)})",
                _fmt(ms, " ms", 1),
                "< 200 ms",
                _verdict(ms, lambda v: v < 200),
            )
        )
    if "notify" in doc:
        lat = _get(doc, "notify.latency_ms") or {}
        out.append(
            (
                f"notify: alert to webhook received (n={_fmt(lat.get('count'))}, group_wait 0)",
                f"p50 {_fmt(lat.get('p50'), ' ms')}, p99 {_fmt(lat.get('p99'), ' ms')}",
                "p99 < 500 ms",
                _verdict(lat.get("p99"), _below(500.0)),
            )
        )
        told = _get(doc, "notify.burst.messages_first_minute") or {}
        worst = max(told.values()) if told else None
        out.append(
            (
                f"notify: burst of {_fmt(_get(doc, 'notify.burst.alerts'))} overdue alerts in one unit, "
                "messages per receiver in the first minute",
                ", ".join(f"{name} {count}" for name, count in sorted(told.items())),
                "≤ 3",
                _verdict(worst, lambda v: v <= 3),
            )
        )
        out.append(
            (
                "notify: throughput to one receiver (in order) / sequential signed posts",
                f"{_fmt(_get(doc, 'notify.throughput.per_second'), '/s')} / "
                f"{_fmt(_get(doc, 'notify.throughput.baseline_sequential_posts_per_second'), '/s')} "
                f"= {_fmt(_get(doc, 'notify.throughput.ratio_to_baseline'), '', 3)}",
                "",
                "",
            )
        )
    if "reports" in doc:
        out.append(
            (
                f"reports: a quarter for {_fmt(_get(doc, 'reports.units'))} units "
                f"({_fmt(_get(doc, 'reports.unit_months'))} unit-months)",
                f"report stage {_fmt(_get(doc, 'reports.build.report_stage_ms'), ' ms', 1)}, "
                f"quarter document "
                f"{_fmt(_get(doc, 'reports.build.quarter_document_ms'), ' ms', 1)}; XLSX p50 "
                f"{_fmt(_get(doc, 'reports.serve.xlsx_ms.p50'), ' ms', 1)} (JSON p50 "
                f"{_fmt(_get(doc, 'reports.serve.json_ms.p50'), ' ms', 1)}); per unit-month: topic "
                f"{_fmt(_get(doc, 'reports.storage.topic_bytes_per_unit_month'), ' B')}, Redis "
                f"{_fmt(_get(doc, 'reports.storage.redis_bytes_per_unit_month'), ' B')}",
                "",
                "",
            )
        )
    return out


def markdown(doc: Mapping[str, Any], *, profile: str) -> str:
    """The Markdown summary of ``doc`` (a merged ``latest.json``)."""
    lines = [
        "# govpulse benchmarks — latest results",
        "",
        "Generated by `python -m bench`; the numbers and their conditions are in `latest.json`, "
        "what they mean in `bench/README.md`.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(doc)]
    lines += [
        "",
        "| section | profile | when (UTC) | commit | load average before → after |",
        "|---|---|---|---|---|",
    ]
    for name, value in doc.items():
        if isinstance(value, Mapping) and isinstance(value.get("run"), Mapping):
            run = value["run"]
            commit = (run.get("commit") or "?")[:10] + (" (dirty)" if run.get("dirty") else "")
            scale = f" ×{run['scale']}" if "scale" in run else ""
            lines.append(
                f"| {name} | {run.get('profile')}{scale} | {run.get('timestamp')} | {commit} | "
                f"{run.get('loadavg_before')} → {run.get('loadavg_after')} |"
            )
    machine = doc.get("machine") or {}
    lines += [
        "",
        f"Machine: {machine.get('cores')} cores, {machine.get('cpu_model')}, Python {machine.get('python')}. "
        f"Profile of the last run: {profile}.",
        "",
    ]
    return "\n".join(lines)
