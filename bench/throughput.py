"""Throughput: one generated workload, four consumers, same broker, same run.

The workload (fixed seed) is produced once to ``gov.feedback``/``gov.tasks`` of a
throwaway Tansu broker, then consumed from the beginning, one after the other, by:

a. ``raw``: aiokafka ``getmany`` + ``orjson.loads`` of every value (the ceiling);
b. ``floor``: a Faust agent that only counts raw-bytes events, read in batches with
   ``stream.take_events(GOVPULSE_BATCH_SIZE, within=GOVPULSE_BATCH_WINDOW)`` like
   govpulse's agents (Faust's floor for govpulse's reading style);
   ``floor_per_event`` (full profile): the same, one event at a time (``async for``);
   ``floor_chunked``: the same agent reading with the chunked delivery govpulse's own
   agents use (:func:`stream.transport.deliver_in_chunks`: one Faust message per run of
   up to ``CHUNK_RECORDS`` records of a partition) — the floor for (d) as it now reads,
   reported beside the issue's b (``pipeline_over_floor_chunked``);
c. ``naive``: the tutorial way: per-event iteration, Faust's JSON value serializer,
   ``table[f"{unit}|{type}|{hour}"] += 1`` per event (one changelog write per event);
d. ``pipeline``: ``govpulse worker`` with the real settings (validation, item table,
   counters, alerts, publishing to a real Redis).

b and c run with govpulse's Faust settings (read from a constructed
:class:`stream.app.Pipeline`), the ``govkafka`` transport and the configured event loop
(uvloop). Each consumer is its own process; the window runs from "ready to consume"
(assignment and table recovery done) to the last input event processed — for the
pipeline, to the moment the worker goes idle after committing the last input offset, so
the stages behind the item stage (counters, alerts, the publisher) are done too — and
CPU is the consumer process's ``utime + stime`` over that window (plus the broker's,
for context).

Run directly as ``python -m bench.throughput consume VARIANT SPEC.json`` for one consumer
(that is how the benchmark starts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import (
    RECOVERED,
    REPO_DIR,
    BenchError,
    CpuSampler,
    Deployment,
    LogWatch,
    OffsetReader,
    Section,
    child_pid,
    load_average,
    produce,
    run_info,
    topic_partitions,
    wait_until,
)
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.events import format_instant, parse_instant
from domain.sla import SlaPolicy
from govpulse.simulator.model import (
    TASK,
    Message,
    Traffic,
    TrafficConfig,
    catalog_document,
    expand_catalog,
    load_weights,
)
from runtime.board import WORKERS_KEY
from runtime.topics import Topics, create_topics

log = logging.getLogger(__name__)

SEED = 2026
#: A Tuesday; fixed so that the workload does not depend on the day it runs.
START = parse_instant("2026-12-01T00:00:00+07:00")
VARIANTS = ("raw", "floor", "floor_chunked", "floor_per_event", "naive")
#: govpulse's Faust settings that the comparison apps copy (stream.app.Pipeline._create_app).
MIRRORED_CONF = (
    "topic_partitions",
    "topic_replication_factor",
    "topic_disable_leader",
    "topic_allow_declare",
    "table_standby_replicas",
    "web_enabled",
    "consumer_auto_offset_reset",
    "broker_session_timeout",
    "broker_rebalance_timeout",
    "broker_heartbeat_interval",
    "broker_request_timeout",
    "broker_commit_interval",
    "broker_max_poll_records",
    "consumer_max_fetch_size",
    "stream_buffer_maxsize",
    "producer_linger",
    "producer_max_batch_size",
    "producer_acks",
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload of one profile."""

    items_per_day: float
    days: float
    tasks_per_day: float
    units: int
    per_event_floor: bool
    #: each consumer runs this many times, interleaved; its figure is its best run
    rounds: int = 2


SIZES = {
    "quick": Sizes(items_per_day=25_000, days=1.2, tasks_per_day=40, units=250, per_event_floor=False),
    "full": Sizes(items_per_day=25_000, days=5.0, tasks_per_day=40, units=250, per_event_floor=True),
}


@dataclass(frozen=True, slots=True)
class Window:
    """One consumer's measurement."""

    variant: str
    events: int
    start: float
    end: float
    cpu: float
    broker_cpu: float
    extra: dict[str, Any]

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "eps": round(self.eps),
            "cpu_seconds": round(self.cpu, 3),
            "cpu_us_per_event": round(self.cpu / self.events * 1e6, 2),
            "broker_cpu_seconds": round(self.broker_cpu, 3),
            **self.extra,
        }


# -- workload ----------------------------------------------------------------------------


def generate(deployment: Deployment, sizes: Sizes) -> tuple[list[Message], dict[str, Any]]:
    """The fixed-seed workload over a catalog padded to ``sizes.units`` units.

    Writes the padded catalog to the work directory and points ``GOVPULSE_UNITS_FILE``
    of the deployment at it (the worker must know every unit).
    """
    settings = deployment.settings()
    catalog = Catalog.from_file(settings.units_file)
    padded, weights = expand_catalog(catalog, load_weights(settings.units_file), units=sizes.units)
    units_file = deployment.workdir / "units.json"
    units_file.write_bytes(orjson.dumps(catalog_document(padded, weights)))
    deployment.env["GOVPULSE_UNITS_FILE"] = str(units_file)
    traffic = Traffic(
        padded,
        SlaPolicy.from_file(settings.sla_file),
        WorkCalendar.from_file(settings.calendar_file),
        config=TrafficConfig(seed=SEED, items_per_day=sizes.items_per_day, tasks_per_day=sizes.tasks_per_day),
        weights=weights,
    )
    end = START + sizes.days * 86400
    began = time.perf_counter()
    messages = list(traffic.messages(START, until=end))
    encoded = sum(len(m.value) for m in messages)  # encoding is part of generating
    generate_seconds = time.perf_counter() - began
    described = {
        "seed": SEED,
        "start": format_instant(START),
        "end": format_instant(end),
        "events": len(messages),
        "items": len({m.item_id for m in messages}),
        "units": len({m.event.unit for m in messages if m.event is not None and m.event.unit}),
        "catalog_units": len(padded),
        "bytes": encoded,
        # The simulator's own speed (generating and encoding the workload, this process).
        "generate_seconds": round(generate_seconds, 2),
        "generate_eps": round(len(messages) / generate_seconds) if generate_seconds > 0 else None,
    }
    return messages, described


# -- the consumers (run in their own processes) -------------------------------------------


def _write_result(path: Path, result: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(orjson.dumps(result))
    partial.rename(path)


async def _consume_raw(spec: dict[str, Any]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=spec["bootstrap"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=spec["max_poll_records"],
        max_partition_fetch_bytes=spec["max_fetch_size"],
        fetch_max_wait_ms=spec["fetch_wait_ms"],
    )
    await consumer.start()
    try:
        tps = topic_partitions(spec["topics"], spec["partitions"])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        expected, count = spec["expected"], 0
        start = time.time()
        first: float | None = None
        loads = orjson.loads
        while count < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=spec["max_poll_records"])
            for records in batch.values():
                for record in records:
                    loads(record.value)
                count += len(records)
            if first is None and count:
                first = time.time()
        _write_result(
            Path(spec["out"]), {"start": start, "first": first, "end": time.time(), "events": count}
        )
    finally:
        await consumer.stop()


def _faust_app(variant: str, spec: dict[str, Any]) -> Any:
    """A Faust app with govpulse's settings, consuming ``spec['topics']`` as ``variant``."""
    import faust

    from runtime.settings import load_settings
    from stream.app import Pipeline

    settings = load_settings()
    # Reading the settings from a real Pipeline keeps the comparison honest when they change
    # (its broker URLs also carry the worker consumers' fetch wait, as govpulse's do).
    reference = Pipeline(settings, worker_id=f"reference-{variant}").app.conf
    app = faust.App(
        settings.app_id,
        broker=[str(url) for url in reference.broker],
        store=str(reference.store),
        datadir=str(settings.data_dir / variant),
        autodiscover=False,
        **{key: getattr(reference, key) for key in MIRRORED_CONF},
    )
    out, expected = Path(spec["out"]), int(spec["expected"])
    state: dict[str, Any] = {"count": 0, "start": None, "first": None}

    async def ready(sender: Any, *_: Any, **__: Any) -> None:
        if state["start"] is None:
            state["start"] = time.time()

    # mode types handlers as a union of callables with a required keyword `signal` that
    # mypy cannot match to any coroutine function; Faust calls it as (sender, signal=...).
    app.on_rebalance_complete.connect(ready)  # type: ignore[arg-type]

    def seen(count: int) -> None:
        if state["first"] is None:
            state["first"] = time.time()
        state["count"] += count
        if state["count"] >= expected and not out.exists():
            _write_result(
                out,
                {
                    "start": state["start"] or state["first"],
                    "first": state["first"],
                    "end": time.time(),
                    "events": state["count"],
                },
            )

    raw: Any = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    if variant == "floor":
        size, within = settings.batch_size, settings.batch_window

        async def floor(stream: Any) -> None:
            async for events in stream.take_events(size, within=within):
                seen(len(events))

        app.agent(app.topic(*spec["topics"], schema=raw), name="floor")(floor)
    elif variant == "floor_chunked":
        from stream import transport
        from stream.app import CHUNK_BUFFER, chunking

        chunk, chunks = chunking(settings.batch_size)
        within = settings.batch_window
        transport.deliver_in_chunks(app, spec["topics"], max_records=chunk)

        async def floor_chunked(stream: Any) -> None:
            async for events in stream.take_events(chunks, within=within):
                seen(sum(len(transport.message_records(event.message)) for event in events))
                transport.mark_handled(events)

        topic = app.topic(*spec["topics"], schema=raw, maxsize=CHUNK_BUFFER)
        app.agent(topic, name="floor")(floor_chunked)
    elif variant == "floor_per_event":

        async def floor_per_event(stream: Any) -> None:
            async for _value in stream:
                seen(1)

        app.agent(app.topic(*spec["topics"], schema=raw), name="floor")(floor_per_event)
    elif variant == "naive":
        counts = app.Table("naive-counts", default=int, partitions=settings.partitions)
        fromisoformat = datetime.fromisoformat

        async def naive(stream: Any) -> None:
            async for event in stream:
                hour = int(fromisoformat(event["occurred_at"]).timestamp()) // 3600 * 3600
                counts[f"{event.get('unit') or '-'}|{event['type']}|{hour}"] += 1
                seen(1)

        app.agent(app.topic(*spec["topics"], value_serializer="json"), name="naive")(naive)
    else:
        raise BenchError(f"unknown Faust variant {variant!r}")
    return app


def consume(variant: str, spec_path: Path) -> int:
    """Entry point of one consumer process (``python -m bench.throughput consume …``)."""
    from runtime import logs
    from runtime.settings import load_settings

    spec = orjson.loads(spec_path.read_bytes())
    settings = load_settings()
    logs.configure("warning")
    if settings.event_loop == "uvloop":
        import mode.loop

        mode.loop.use("uvloop")
    if variant == "raw":
        if settings.event_loop == "uvloop":
            import uvloop

            uvloop.install()
        asyncio.run(_consume_raw(spec))
        return 0
    import faust

    app = _faust_app(variant, spec)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


# -- the benchmark -----------------------------------------------------------------------


def _run_consumer(
    deployment: Deployment,
    variant: str,
    topics: Topics,
    expected: int,
    sampler: CpuSampler,
    *,
    timeout: float,
    round_: int = 1,
) -> Window:
    settings = deployment.settings()
    name = f"{variant}-r{round_}"
    spec_path = deployment.workdir / f"{name}.spec.json"
    out = deployment.workdir / f"{name}.result.json"
    spec = {
        "bootstrap": deployment.bootstrap,
        "topics": [topics.feedback, topics.tasks],
        "partitions": settings.partitions,
        "expected": expected,
        "out": str(out),
        "max_poll_records": 2000,
        "max_fetch_size": 4 * 1024 * 1024,
        "fetch_wait_ms": max(1, int(settings.fetch_wait * 1000)),
    }
    spec_path.write_bytes(orjson.dumps(spec))
    process = deployment.start(
        name,
        [sys.executable, "-m", "bench.throughput", "consume", variant, str(spec_path)],
        env={"GOVPULSE_APP_ID": f"bench-{name}"},
    )
    sampler.watch(name, process.process.pid)
    try:
        wait_until(
            lambda: out.exists() or not process.running,
            timeout=timeout,
            interval=0.05,
            what=f"{variant} to finish",
        )
        if not out.exists():
            raise BenchError(
                f"{variant} consumer exited with {process.process.returncode}; see {process.log_path}"
            )
        result = orjson.loads(out.read_bytes())
        time.sleep(0.1)  # one more CPU sample after the end
        start, end = float(result["start"]), float(result["end"])
        return Window(
            variant,
            int(result["events"]),
            start,
            end,
            sampler.between(name, start, end),
            sampler.between("broker", start, end),
            {"first_batch_after_s": round(float(result["first"]) - start, 3)},
        )
    finally:
        process.stop(timeout=15)


def _run_pipeline(
    deployment: Deployment,
    topics: Topics,
    expected: int,
    sampler: CpuSampler,
    *,
    timeout: float,
    py_spy: Path | None = None,
    round_: int = 1,
) -> Window:
    """govpulse worker from the beginning of the input; see the module docstring."""
    settings = deployment.settings()
    group = f"bench-pipeline-r{round_}" if py_spy is None else "bench-pipeline-profiled"
    process = deployment.govpulse(group, "worker", env={"GOVPULSE_APP_ID": group}, py_spy=py_spy)
    pid = process.process.pid
    try:
        if py_spy is not None:
            pid = child_pid(pid)
        sampler.watch(group, pid)
        watch = LogWatch(process.log_path)
        _, start = watch.wait_for(RECOVERED, timeout=120, process=process)
        log.info("pipeline: worker ready; consuming %d events", expected)
        input_tps = topic_partitions([topics.feedback, topics.tasks], settings.partitions)
        samples = asyncio.run(_poll_committed(deployment.bootstrap, group, input_tps, expected, timeout))
        committed, steady = _interpolate_end(samples, expected, start)
        # The window ends when the whole pipeline is done, not when the item stage has
        # committed the input: the unit stage, alerts and the publisher work on behind it.
        end = _idle_after(sampler, group, committed, timeout=120)
        beats = _worker_beats(deployment.redis_url)
        time.sleep(0.1)
        extra = {
            "window_end": (
                "the worker went idle (under 20% of a core for 1 s) after the group committed "
                "the last input offset"
            ),
            "input_committed_after_s": round(committed - start, 2),
            "eps_until_input_committed": round(expected / (committed - start)),
            "steady_input_eps": round(steady),
            "drain_seconds": round(end - committed, 2),
            "worker_heartbeat": beats,
        }
        return Window(
            "pipeline",
            expected,
            start,
            end,
            sampler.between(group, start, end),
            sampler.between("broker", start, end),
            extra,
        )
    finally:
        if py_spy is not None and pid != process.process.pid:
            # Stop the worker, not py-spy: py-spy writes its profile when its child exits.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.process.wait(30)
        process.stop(timeout=20)


async def _poll_committed(
    bootstrap: str, group: str, tps: list[TopicPartition], expected: int, timeout: float
) -> list[tuple[float, int]]:
    """``(time, committed events)`` every 0.1 s until every input event is committed."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    async with OffsetReader(bootstrap, group) as reader:
        while time.monotonic() < deadline:
            committed = sum((await reader.committed(tps)).values())
            samples.append((time.time(), committed))
            if committed >= expected:
                return samples
            await asyncio.sleep(0.1)
    raise BenchError(f"the worker did not commit all {expected} input events within {timeout:.0f}s")


def _interpolate_end(samples: list[tuple[float, int]], expected: int, start: float) -> tuple[float, float]:
    """When the last input event was processed, and the steady rate.

    Commits come every ``GOVPULSE_COMMIT_INTERVAL``: the last event was processed between
    the last commit below ``expected`` and the one reaching it; place it there at the rate
    measured between the first and that last partial commit.
    """
    steps: list[tuple[float, int]] = []
    for at, value in samples:
        if not steps or value != steps[-1][1]:
            steps.append((at, value))
    final = steps[-1]
    partial = [(at, value) for at, value in steps if 0 < value < expected]
    if len(partial) >= 2 and partial[-1][0] > partial[0][0]:
        rate = (partial[-1][1] - partial[0][1]) / (partial[-1][0] - partial[0][0])
    elif partial:
        rate = partial[-1][1] / max(1e-3, partial[-1][0] - start)
    else:
        return final[0], expected / max(1e-3, final[0] - start)
    end = min(final[0], partial[-1][0] + (expected - partial[-1][1]) / rate)
    return end, rate


def _idle_after(sampler: CpuSampler, name: str, after: float, *, timeout: float) -> float:
    """First instant after ``after`` from which ``name`` used under 20 % of a core for 1 s."""
    deadline = time.time() + timeout
    probe = after
    while time.time() < deadline:
        if time.time() < probe + 1.0:
            time.sleep(0.1)
            continue
        if sampler.between(name, probe, probe + 1.0) < 0.2:
            return probe
        probe += 0.1
    raise BenchError(f"{name} did not go idle within {timeout:.0f}s after the last input event")


def _worker_beats(redis_url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    try:
        beats = [orjson.loads(v) for v in client.hvals(WORKERS_KEY)]
    finally:
        client.close()
    return beats[0] if beats else {}


def run(profile: str, *, scale: float = 1.0, keep: bool = False, py_spy: bool = False) -> list[Section]:
    """Run the throughput benchmark; return its section."""
    sizes = SIZES[profile]
    if scale != 1.0:
        sizes = dataclasses.replace(sizes, days=sizes.days * scale)
    started, load_before = time.monotonic(), load_average()
    # With --py-spy the work directory (and the raw profile in it) is kept.
    with Deployment("throughput", keep=keep or py_spy) as deployment:
        messages, workload = generate(deployment, sizes)
        end = START + sizes.days * 86400
        # The worker's clock is pinned at the end of the workload: the same events always
        # give the same work (deadline ticks included), whatever day the benchmark runs.
        deployment.env.update({"GOVPULSE_CLOCK": "fixed", "GOVPULSE_CLOCK_START": format_instant(end)})
        settings = deployment.settings()
        topics = Topics.for_settings(settings)
        asyncio.run(create_topics(settings))
        log.info(
            "throughput: producing %d events (%d items, %d units)",
            workload["events"],
            workload["items"],
            workload["units"],
        )
        produced_at = time.monotonic()
        count = asyncio.run(
            produce(
                deployment.bootstrap,
                ((topics.tasks if m.kind == TASK else topics.feedback, m.key, m.value) for m in messages),
            )
        )
        workload["produce_seconds"] = round(time.monotonic() - produced_at, 2)
        del messages
        assert deployment.broker is not None
        windows: dict[str, Window] = {}
        timeout = max(300.0, count / 500)
        rounds: dict[str, list[Window]] = {}
        with CpuSampler() as sampler:
            sampler.watch("broker", deployment.broker.process.pid)
            variants = [
                "raw",
                "floor",
                "floor_chunked",
                *(["floor_per_event"] if sizes.per_event_floor else []),
                "naive",
            ]
            # Every consumer runs once per round, the rounds one after the other, so that a
            # slow spell of the machine (a shared VM's) hits one round of each, not one
            # consumer; each consumer's figure is its best round.
            for number in range(1, sizes.rounds + 1):
                print(f"  round {number} of {sizes.rounds}", flush=True)
                for variant in variants:
                    log.info("throughput: %s consumer (round %d)", variant, number)
                    window = _run_consumer(
                        deployment, variant, topics, count, sampler, timeout=timeout, round_=number
                    )
                    rounds.setdefault(variant, []).append(window)
                    _print_window(window)
                log.info("throughput: govpulse worker (full pipeline, round %d)", number)
                window = _run_pipeline(deployment, topics, count, sampler, timeout=timeout, round_=number)
                rounds.setdefault("pipeline", []).append(window)
                _print_window(window)
            windows = {variant: max(runs, key=lambda w: w.eps) for variant, runs in rounds.items()}
            profile_summary: dict[str, Any] | None = None
            if py_spy:
                profile_summary = _profile_pipeline(deployment, topics, count, sampler, timeout=timeout)
        data = _section_data(windows, workload, rounds)
        if profile_summary is not None:
            data["pipeline_profile"] = profile_summary
    _print_ratios(data)
    return [Section("throughput", data, run_info(profile, started=started, load_before=load_before))]


def _section_data(
    windows: dict[str, Window], workload: dict[str, Any], rounds: dict[str, list[Window]]
) -> dict[str, Any]:
    raw, floor, naive, pipeline = (windows[k] for k in ("raw", "floor", "naive", "pipeline"))
    count = min(len(runs) for runs in rounds.values())
    data: dict[str, Any] = {
        "workload": workload,
        "raw_eps": round(raw.eps),
        "faust_floor_eps": round(floor.eps),
        "naive_faust_eps": round(naive.eps),
        "pipeline_eps": round(pipeline.eps),
        "ratios": {
            "pipeline_over_raw": round(pipeline.eps / raw.eps, 3),
            "pipeline_over_floor": round(pipeline.eps / floor.eps, 3),
            "pipeline_over_naive": round(pipeline.eps / naive.eps, 3),
            "pipeline_over_floor_chunked": round(pipeline.eps / windows["floor_chunked"].eps, 3),
        },
        "targets": {"pipeline_over_floor": 0.5, "pipeline_over_naive": 1.2},
        "consumers": {
            name: {**window.to_json(), "rounds_eps": [round(w.eps) for w in rounds[name]]}
            for name, window in windows.items()
        },
        # The same ratios within each round (consumers run back to back), for the spread.
        "ratios_by_round": [
            {
                "pipeline_over_floor": round(rounds["pipeline"][i].eps / rounds["floor"][i].eps, 3),
                "pipeline_over_naive": round(rounds["pipeline"][i].eps / rounds["naive"][i].eps, 3),
                "pipeline_over_floor_chunked": round(
                    rounds["pipeline"][i].eps / rounds["floor_chunked"][i].eps, 3
                ),
            }
            for i in range(count)
        ],
    }
    data["faust_floor_chunked_eps"] = round(windows["floor_chunked"].eps)
    if "floor_per_event" in windows:
        data["faust_floor_per_event_eps"] = round(windows["floor_per_event"].eps)
    return data


def _print_window(window: Window) -> None:
    print(
        f"  {window.variant:<16} {window.eps:>9,.0f} events/s  "
        f"{window.events:,} events in {window.seconds:.2f}s  "
        f"cpu {window.cpu / window.events * 1e6:6.1f} µs/event  (broker cpu {window.broker_cpu:.1f}s)"
        + (
            f"  input committed after {window.extra['input_committed_after_s']:.2f}s, "
            f"then {window.extra['drain_seconds']:.2f}s until idle"
            if "drain_seconds" in window.extra
            else ""
        ),
        flush=True,
    )


def _print_ratios(data: dict[str, Any]) -> None:
    ratios = data["ratios"]
    print(
        f"  pipeline/raw {ratios['pipeline_over_raw']:.3f}   "
        f"pipeline/floor {ratios['pipeline_over_floor']:.3f} "
        f"(target ≥ 0.5)   pipeline/naive {ratios['pipeline_over_naive']:.3f} (target ≥ 1.2)"
        f"   pipeline/floor_chunked {ratios['pipeline_over_floor_chunked']:.3f}"
        "  (best round of each)",
        flush=True,
    )
    for number, by_round in enumerate(data["ratios_by_round"], 1):
        print(
            f"    within round {number}: pipeline/floor {by_round['pipeline_over_floor']:.3f}   "
            f"pipeline/naive {by_round['pipeline_over_naive']:.3f}   "
            f"pipeline/floor_chunked {by_round['pipeline_over_floor_chunked']:.3f}",
            flush=True,
        )


# -- profiling the pipeline ---------------------------------------------------------------

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _profile_pipeline(
    deployment: Deployment, topics: Topics, expected: int, sampler: CpuSampler, *, timeout: float
) -> dict[str, Any]:
    """Run (d) once more under py-spy (a new consumer group) and summarize where time went."""
    out = deployment.workdir / "pipeline.pyspy.txt"
    window = _run_pipeline(deployment, topics, expected, sampler, timeout=timeout, py_spy=out)
    summary = summarize_py_spy(out)
    summary["eps_under_py_spy"] = round(window.eps)
    summary["raw_profile"] = str(out)
    print(f"  py-spy profile of the pipeline (raw collapsed stacks): {out}")
    for stage, share in summary["stages"].items():
        print(f"    {share:6.1%}  {stage}")
    return summary


#: Where a sample's time belongs: the first rule whose frame is on its stack (see README).
_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("start-up (imports, table recovery)", ("_find_and_load", "Pipeline._on_recovered")),
    ("items stage: ItemProcessor (validation, state machine, counters' entries)", ("ItemProcessor.process",)),
    ("items stage: sends, table writes, indexes", ("Pipeline.handle_items",)),
    (
        "units stage: UnitProcessor (windows, gauges, rules)",
        ("UnitProcessor.process", "UnitProcessor.evaluate"),
    ),
    ("units stage: decode, sends, table writes, boards", ("Pipeline.handle_units",)),
    ("alerts stage", ("Pipeline.handle_alerts",)),
    ("board publisher (Redis)", ("Publisher._run",)),
    (
        "timers (deadline/unit/alert ticks)",
        ("Pipeline.fire_item_ticks", "Pipeline.fire_unit_ticks", "Pipeline.fire_alert_ticks"),
    ),
    ("Faust consumer thread (fetching)", ("ServiceThread._start_thread",)),
)


def summarize_py_spy(path: Path, *, top: int = 25) -> dict[str, Any]:
    """Where the sampled time went, from a py-spy ``raw`` (collapsed stacks) file: shares by
    pipeline stage, and the top frames by self and inclusive samples."""
    self_samples: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    stages: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        total += count
        self_samples[frames[-1]] = self_samples.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        stage = _stage([frame.split(" (", 1)[0] for frame in frames])
        stages[stage] = stages.get(stage, 0) + count

    def ranked(table: dict[str, int], limit: int) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "share": round(n / total, 4)}
            for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:limit]
        ]

    return {
        "samples": total,
        "stages": {stage: round(n / total, 4) for stage, n in sorted(stages.items(), key=lambda kv: -kv[1])},
        "self_top": ranked(self_samples, top),
        "inclusive_top": ranked(inclusive, top),
    }


def _stage(names: list[str]) -> str:
    for label, markers in _STAGES:
        if any(marker in names for marker in markers):
            return label
    if names and names[-1] in ("Worker.execute_from_commandline", "Pipeline.run"):
        return "event loop (uvloop's C code, or waiting)"
    if "Worker.execute_from_commandline" in names:
        return "Faust/aiokafka on the event loop (fetch drain, events, producer)"
    return "other"


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    path = path.split("site-packages/", 1)[-1].removeprefix(f"{REPO_DIR}/")
    path = re.sub(r"^.*/lib/python3\.\d+/", "", path)
    return f"{match.group('function')} ({path})"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "consume" and sys.argv[2] in VARIANTS:
        sys.exit(consume(sys.argv[2], Path(sys.argv[3])))
    print(
        "usage: python -m bench.throughput consume {raw|floor|floor_chunked|floor_per_event|naive} SPEC.json",
        file=sys.stderr,
    )
    sys.exit(2)
