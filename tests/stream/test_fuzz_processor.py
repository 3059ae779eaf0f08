"""ItemProcessor under hostile input: bad messages are dead-lettered and change nothing.

A fixed simulator workload (ten days of feedback and tasks over the packaged city
catalog) is processed alone once, as the reference. Hypothesis then interleaves hostile
messages (random bytes, corrupted fields, impossible transitions, wrong keys, events from
the future, tombstones, oversized payloads, malformed deadline ticks) and splits the mix
into batches of a drawn size. The processor must never raise, must dead-letter exactly
the hostile messages (each with a reason), must treat exact redeliveries as duplicates,
and must end with the same counters, latency samples, alert signals, item table, gauges,
board queue and deadline schedule as the reference.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import RulesConfig
from domain.events import EventType, format_instant, parse_instant
from domain.items import ItemPolicy, decode_item
from govpulse.simulator.model import TASK, Traffic, TrafficConfig
from govpulse.simulator.oracle import Oracle, item_policy
from runtime.settings import load_settings
from stream.gauges import GaugeIndex
from stream.outputs import DEAD_LETTER_MAX_KEY, DEAD_LETTER_MAX_VALUE, key_partition
from stream.stages.items import FEEDBACK, TASKS, TICKS, ItemProcessor, Message, encode_tick
from tests.domain.test_events_fuzz import STRING_FIELDS
from tests.stream.test_exactness import EXACT_ENV, counters, diff
from tests.support.hypothesis_profile import fuzz
from tests.support.stack import Record, Stack, wait_for

START = parse_instant("2026-12-01T00:00:00+07:00")  # a Tuesday
NOW = START + 10 * 86400
PARTITIONS = 4
TOPICS = {FEEDBACK: "gov.feedback", TASKS: "gov.tasks", TICKS: "gov.item-ticks"}
SETTINGS = load_settings({})
MAX_BYTES = SETTINGS.max_event_bytes


@cache
def policy() -> ItemPolicy:
    return item_policy(SETTINGS)


@cache
def rules() -> RulesConfig:
    return RulesConfig.from_file(SETTINGS.rules_file)


@dataclass(frozen=True, slots=True)
class Input:
    """A message before offsets are assigned; ``reason`` is the expected dead-letter reason
    prefix of a hostile message ("" = any non-empty reason), None for valid ones."""

    source: str
    key: bytes | None
    value: bytes | None
    partition: int
    reason: str | None = None
    duplicate: bool = False


def partition_of(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


@cache
def workload() -> tuple[Input, ...]:
    """Ten days of valid traffic, as the worker would read it from the two input topics."""
    traffic = Traffic(
        policy().catalog,
        policy().sla,
        policy().calendar,
        config=TrafficConfig(
            seed=41,
            items_per_day=25,
            tasks_per_day=5,
            hostile_rate=0.05,
            reopen_share=0.15,
            extension_share=0.15,
            pause_share=0.1,
            cancel_share=0.05,
        ),
    )
    return tuple(
        Input(TASKS if m.kind == TASK else FEEDBACK, m.key, m.value, partition_of(m.key))
        for m in traffic.messages(START, until=NOW)
    )


def with_offsets(inputs: Sequence[Input]) -> list[Message]:
    next_offset: Counter[tuple[str, int]] = Counter()
    out = []
    for i in inputs:
        offset = next_offset[(i.source, i.partition)]
        next_offset[(i.source, i.partition)] += 1
        out.append(Message(i.source, TOPICS[i.source], i.partition, offset, i.key, i.value))
    return out


@dataclass
class Run:
    """Everything a run produced that must not depend on hostile input or batching."""

    counts: Counter[tuple[str, str, float]] = field(default_factory=Counter)
    derived: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    samples: Counter[tuple[str, float | None, float | None, float]] = field(default_factory=Counter)
    signals: list[bytes] = field(default_factory=list)
    table: dict[bytes, bytes] = field(default_factory=dict)
    queue: dict[tuple[str, str], Any] = field(default_factory=dict)
    schedule: dict[tuple[int, bytes], float | None] = field(default_factory=dict)
    gauges: dict[tuple[int, str], Any] = field(default_factory=dict)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    duplicates: int = 0
    seen: int = 0

    def comparable(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "derived": self.derived,
            "samples": self.samples,
            "signals": self.signals,
            "items": {k: decode_item(v) for k, v in self.table.items()},
            # A removal and an absent entry are the same board state.
            "queue": {k: v for k, v in self.queue.items() if v is not None},
            "schedule": self.schedule,
            "gauges": self.gauges,
        }


def run(messages: Sequence[Message], batch: int) -> Run:
    """Process ``messages`` in batches of ``batch`` like the items agent (table writes between)."""
    out = Run()
    gauges = GaugeIndex(policy().catalog)
    processor = ItemProcessor(
        policy(),
        rules(),
        load=out.table.get,
        gauges=gauges,
        max_event_bytes=MAX_BYTES,
        max_future_skew=SETTINGS.max_future_skew,
    )
    for start in range(0, len(messages), batch):
        result = processor.process(messages[start : start + batch], now=NOW)
        out.seen += len(result.events)
        out.duplicates += result.duplicates
        out.dead += [(letter.message, letter.reason) for letter in result.dead_letters]
        out.signals += [signal.encode() for signal in result.signals]
        for node_batch in result.node_batches:
            for entry in node_batch.entries:
                for at, counter in entry.counts:
                    out.counts[(node_batch.node, counter, at)] += 1
                for at, counter, once in entry.derived:
                    out.derived[f"{node_batch.node}|{once}|{counter}"] = (
                        node_batch.node,
                        counter,
                        at,
                    )
                if entry.latency is not None:
                    out.samples[(node_batch.node, entry.latency, entry.sla_used, entry.sample_at)] += 1
        for writes in result.writes.values():
            for key, value in writes.items():
                if value is None:
                    out.table.pop(key, None)
                else:
                    out.table[key] = value
        for change in result.queue:
            out.queue[(change.unit, change.item_id)] = change.summary
        for partition, item_id, deadline in result.schedule:
            out.schedule[(partition, item_id)] = deadline
    for partition in range(PARTITIONS):
        for node in gauges.nodes(partition):
            out.gauges[(partition, node)] = gauges.snapshot(partition, node)
    return out


@cache
def reference() -> Run:
    return run(with_offsets(workload()), batch=10**9)


def test_the_reference_workload_is_clean_and_rich() -> None:
    ref = reference()

    assert (ref.dead, ref.duplicates, ref.seen) == ([], 0, len(workload()))
    kinds = {counter for _, counter, _ in ref.counts}
    assert {
        "received",
        "resolved_on_time",
        "resolved_late",
        "transferred_in",
        "reopened",
        "cancelled",
    } <= kinds
    assert ref.derived and ref.samples and ref.signals and ref.gauges


# -- hostile messages -----------------------------------------------------------------

WARD = "P-BEN-THANH"
FUTURE = format_instant(NOW + SETTINGS.max_future_skew + 3600)
PAST = format_instant(START + 3600)
NASTY = (
    b"",
    b"\x00",
    b"null",
    b"[]",
    b'"received"',
    b"{",
    b"\xff\xfe{}",
    b"\xef\xbb\xbf{}",
    b"[" * 10_000 + b"]" * 10_000,
    b'{"event_id":NaN}',
    b'{"a":Infinity}',
    b'{"event_id":"e","item_id":"PA-1","type":"received","occurred_at":"\\ud800"}',
    b'{"event_id":"e","item_id":"PA-1","type":"received","occurred_at":"\xed\xa0\x80"}',
    b'{"event_id":"e","event_id":1,"item_id":"PA-1","type":"received"}',
)
# JSON integers as producers can send them (orjson, like most encoders, stops at 64 bits).
JSON_INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
WRONG_VALUES = st.one_of(
    JSON_INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(JSON_INTS, max_size=3),
    st.dictionaries(st.text(max_size=5), JSON_INTS, max_size=3),
)


def real_event(index: int) -> dict[str, Any]:
    value = workload()[index].value
    assert value is not None
    data: dict[str, Any] = orjson.loads(value)
    return data


def hostile_at(data: st.DataObject, valid: Sequence[Input]) -> tuple[int, Input]:
    """One hostile message and the position (0..len(valid)) where it is inserted."""
    n = len(valid)
    anywhere = st.integers(0, n)
    kind = data.draw(
        st.sampled_from(
            [
                "bytes",
                "nasty",
                "wrong_type",
                "missing",
                "orphan",
                "unknown_unit",
                "again",
                "wrong_key",
                "future",
                "tombstone",
                "oversize",
                "bad_extension",
                "tick",
                "moved",
                "duplicate",
            ]
        ),
        label="kind",
    )
    index = data.draw(st.integers(0, n - 1), label="real message")
    source = valid[index].source
    if kind == "bytes":
        raw = data.draw(st.binary(max_size=300).filter(lambda b: not b.strip().startswith(b"{")))
        return data.draw(anywhere), Input(source, None, raw, data.draw(st.integers(0, 3)), "")
    if kind == "nasty":
        raw = data.draw(st.sampled_from(NASTY))
        return data.draw(anywhere), Input(source, b"PA-1", raw, 0, "")
    if kind in ("wrong_type", "missing"):
        event = real_event(index)
        name = data.draw(st.sampled_from(STRING_FIELDS[:4] if kind == "missing" else STRING_FIELDS))
        if kind == "missing":
            del event[name]
            reason = f"missing required field '{name}'"
        else:
            event[name] = data.draw(WRONG_VALUES)
            reason = f"field '{name}' must be a string, got "
        i = valid[index]
        return data.draw(anywhere), Input(i.source, i.key, orjson.dumps(event), i.partition, reason)
    if kind == "orphan":
        item = f"ZZ-{data.draw(st.integers(0, 99))}"
        type_ = data.draw(st.sampled_from([t for t in EventType if t is not EventType.RECEIVED]))
        event = {
            "event_id": f"h-{item}-{type_}",
            "item_id": item,
            "type": type_.value,
            "occurred_at": PAST,
            "unit": WARD,
            "due_at": FUTURE,
        }
        reason = f"'{type_.value}' for unknown item {item}: the first event of an item must be "
        reason += "'received'"
        return data.draw(anywhere), Input(
            FEEDBACK, item.encode(), orjson.dumps(event), partition_of(item.encode()), reason
        )
    if kind == "unknown_unit":
        item = data.draw(st.sampled_from([f"ZZ-{n}" for n in range(5)] + [real_event(index)["item_id"]]))
        event = {
            "event_id": f"h-unit-{item}",
            "item_id": item,
            "type": "received",
            "occurred_at": PAST,
            "unit": "P-ATLANTIS",
        }
        key = item.encode()
        return data.draw(anywhere), Input(
            FEEDBACK, key, orjson.dumps(event), partition_of(key), "'received' "
        )
    if kind in ("again", "bad_extension"):
        # Valid JSON for a real item, impossible in any state once the item exists.
        received = [
            i for i, m in enumerate(valid) if orjson.loads(m.value or b"{}").get("type") == "received"
        ]
        first = data.draw(st.sampled_from(received))
        real = real_event(first)
        item = real["item_id"]
        if kind == "again":
            event = {**real, "event_id": f"h-again-{item}"}
            reason = f"'received' on item {item}: the item was already received"
        else:
            event = {
                "event_id": f"h-ext-{item}",
                "item_id": item,
                "type": "extended",
                "occurred_at": real["occurred_at"],
                "due_at": format_instant(parse_instant(real["occurred_at"]) - 3600),
            }
            reason = f"'extended' on item {item}: "
        i = valid[first]
        return data.draw(st.integers(first + 1, n)), Input(
            i.source, i.key, orjson.dumps(event), i.partition, reason
        )
    if kind == "wrong_key":
        i = valid[index]
        return data.draw(anywhere), Input(i.source, b"PA-NOT-THIS-ONE", i.value, i.partition, "message key ")
    if kind == "future":
        event = {**real_event(index), "event_id": "h-future", "occurred_at": FUTURE}
        i = valid[index]
        return data.draw(anywhere), Input(
            i.source, i.key, orjson.dumps(event), i.partition, "occurred_at is "
        )
    if kind == "moved":
        # Before the item exists: an orphan; after: the item lives on another partition.
        i = valid[index]
        event = {**real_event(index), "event_id": "h-moved", "type": "progress"}
        other = (i.partition + data.draw(st.integers(1, PARTITIONS - 1))) % PARTITIONS
        return data.draw(anywhere), Input(i.source, i.key, orjson.dumps(event), other, "")
    if kind == "tombstone":
        i = valid[index]
        return data.draw(anywhere), Input(
            i.source, i.key, None, i.partition, "message has no value (tombstone)"
        )
    if kind == "oversize":
        event = {
            **real_event(index),
            "title": "x" * data.draw(st.integers(MAX_BYTES, 3 * MAX_BYTES)),
        }
        i = valid[index]
        return data.draw(anywhere), Input(i.source, i.key, orjson.dumps(event), i.partition, "payload is ")
    if kind == "tick":
        item = real_event(index)["item_id"]
        raw = data.draw(
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    orjson.dumps({"item_id": item}),
                    orjson.dumps({"at": 1.0}),
                    orjson.dumps({"item_id": item, "at": None}),
                    orjson.dumps({"item_id": item, "at": "soon"}),
                    orjson.dumps({"item_id": item, "at": [1]}),
                    orjson.dumps({"item_id": item, "at": "nan"}),
                    orjson.dumps({"item_id": item, "at": "inf"}),
                    orjson.dumps({"item_id": item, "at": "-Infinity"}),
                ]
            )
        )
        key = item.encode()
        return data.draw(anywhere), Input(
            TICKS, key, raw, partition_of(key), "not a deadline tick written by govpulse"
        )
    # An exact redelivery of a valid message after the original: a duplicate, not a dead letter.
    i = valid[index]
    return data.draw(st.integers(index + 1, n)), Input(
        i.source, i.key, i.value, i.partition, None, duplicate=True
    )


def mix(valid: Sequence[Input], hostile: list[tuple[int, Input]]) -> list[Input]:
    at: dict[int, list[Input]] = {}
    for position, message in hostile:
        at.setdefault(position, []).append(message)
    out: list[Input] = []
    for position in range(len(valid) + 1):
        out += at.get(position, [])
        if position < len(valid):
            out.append(valid[position])
    return out


@fuzz(40, shrink=False)
@given(st.data())
def test_hostile_messages_are_dead_lettered_and_change_nothing(data: st.DataObject) -> None:
    valid = workload()
    hostile = [hostile_at(data, valid) for _ in range(data.draw(st.integers(1, 25), label="hostile count"))]
    batch = data.draw(st.sampled_from([1, 13, 200, 10**9]), label="batch size")
    mixed = mix(valid, hostile)
    messages = with_offsets(mixed)

    result = run(messages, batch)

    expected_dead = [(m, i.reason) for m, i in zip(messages, mixed, strict=True) if i.reason is not None]
    assert [m for m, _ in result.dead] == [m for m, _ in expected_dead]
    for (message, reason), (_, prefix) in zip(result.dead, expected_dead, strict=True):
        assert reason.strip() and reason.startswith(prefix or ""), (message, reason, prefix)
    assert result.duplicates == sum(i.duplicate for i in mixed)
    assert result.seen == len(messages)
    assert result.comparable() == reference().comparable()


@pytest.mark.parametrize("batch", [1, 97, 10**9])
def test_batching_does_not_change_the_outcome(batch: int) -> None:
    assert run(with_offsets(workload()), batch).comparable() == reference().comparable()


@pytest.mark.parametrize("size", [10 * 1024 * 1024, MAX_BYTES + 1])
def test_an_oversized_message_is_dead_lettered_before_parsing(size: int) -> None:
    valid = workload()
    raw = b'{"event_id":"' + b"x" * size + b'"}'
    mixed = mix(valid, [(len(valid) // 2, Input(FEEDBACK, b"PA-1", raw, 0, "payload is "))])

    result = run(with_offsets(mixed), 500)

    assert [reason for _, reason in result.dead] == [
        f"payload is {len(raw)} bytes, over the {MAX_BYTES}-byte limit (GOVPULSE_MAX_EVENT_BYTES)"
    ]
    assert result.comparable() == reference().comparable()


def test_an_unexpected_error_is_dead_lettered_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the state machine for one message must not lose the rest of the batch."""
    from domain.items import apply_event

    original: Callable[..., Any] = apply_event
    poison = b"h-poison"

    def exploding(item: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
        if event.event_id == poison.decode():
            raise RuntimeError("injected bug")
        return original(item, event, *args, **kwargs)

    monkeypatch.setattr("stream.stages.items.apply_event", exploding)
    valid = workload()
    event = {**real_event(0), "event_id": poison.decode(), "item_id": "ZZ-POISON"}
    mixed = mix(valid, [(5, Input(FEEDBACK, b"ZZ-POISON", orjson.dumps(event), 0, ""))])

    result = run(with_offsets(mixed), 200)

    assert [reason for _, reason in result.dead] == ["internal error: RuntimeError('injected bug')"]
    assert result.comparable() == reference().comparable()


def open_item() -> tuple[str, float]:
    """An item still open at the end of the workload, and its next deadline."""
    for (_, key), at in sorted(reference().schedule.items()):
        if at is not None and decode_item(reference().table[key]).is_open:
            return key.decode(), at
    raise AssertionError("no open item with a deadline in the workload")


def test_ticks_written_by_govpulse_are_not_dead_lettered() -> None:
    """The tick strategy above only draws malformed ticks: well-formed ones apply."""
    item, at = open_item()
    key = item.encode()
    tick = Input(TICKS, key, encode_tick(item, at), partition_of(key))

    result = run(with_offsets([*workload(), tick]), 10**9)

    assert result.dead == []
    assert result.comparable()["items"][key] != reference().comparable()["items"][key]


@pytest.mark.parametrize("at", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_a_tick_with_a_non_finite_instant_is_dead_lettered_and_fires_nothing(at: str) -> None:
    """float("nan") parses, and every deadline comparison with NaN is false: such a tick
    used to fire every due-soon, overdue and escalation step of the item at once."""
    valid = workload()
    item, _ = open_item()
    key = item.encode()
    tick = Input(TICKS, key, orjson.dumps({"item_id": item, "at": at}), partition_of(key), "")

    result = run(with_offsets(mix(valid, [(len(valid), tick)])), 10**9)

    assert [reason for _, reason in result.dead] == ["not a deadline tick written by govpulse"]
    assert result.comparable() == reference().comparable()


@pytest.mark.parametrize("source", [FEEDBACK, TICKS])
def test_a_message_for_a_known_item_on_another_partition_is_dead_lettered(source: str) -> None:
    """A producer with another partitioner (librdkafka's default is CRC32, not murmur2)
    puts an item's later events on another partition. Applying them there updated the
    gauges of the wrong partition: a KeyError escaped ``process`` and stopped the worker,
    again at every restart."""
    valid = workload()
    first = real_event(0)
    key = first["item_id"].encode()
    other = (partition_of(key) + 1) % PARTITIONS
    value = (
        encode_tick(first["item_id"], NOW)
        if source == TICKS
        else orjson.dumps({**first, "event_id": "h-moved", "type": "progress"})
    )
    moved = Input(source, key, value, other, f"item {first['item_id']} belongs to partition ")

    result = run(with_offsets(mix(valid, [(1, moved)])), 10**9)

    assert [reason for _, reason in result.dead] == [
        f"item {first['item_id']} belongs to partition {partition_of(key)}, not {other}: "
        "producers must key events by item_id with Kafka's default (murmur2) partitioner"
    ]
    assert result.comparable() == reference().comparable()


# -- the same on a real worker -------------------------------------------------------------


def produce(stack: Stack, messages: Sequence[tuple[str, bytes | None, bytes | None, int | None]]) -> None:
    """Send (topic, key, value, partition) in order; requests up to 12 MB (the default
    limit of aiokafka's producer is 1 MB; the embedded broker accepts more)."""

    async def run_producer() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=stack.settings.broker_bootstrap,
            max_request_size=12 * 1024 * 1024,
            linger_ms=5,
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value, key=key, partition=partition)
                for topic, key, value, partition in messages
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run_producer())


@pytest.mark.integration
def test_a_worker_dead_letters_hostile_input_and_counts_exactly_the_valid_part(
    stack: Stack,
) -> None:
    """Hostile messages (garbage, a 10 MB payload, a 2 MB key, a 2 MB command, bad UTF-8,
    deep nesting, NaN, wrong types, orphans, unknown unit, future dates, wrong key, a
    second 'received', another partition than the item's) interleaved with two days of
    valid traffic: the worker stays up, each hostile message is on gov.deadletter with its
    original bytes (the first 512 KiB and a SHA-256 when larger) and a reason, and the
    counters equal the oracle of the valid messages alone."""
    start = parse_instant("2026-12-01T00:00:00+07:00")
    end = start + 2 * 86400
    stack.env.update({**EXACT_ENV, "GOVPULSE_CLOCK_START": format_instant(end)})
    oracle = Oracle.from_settings(stack.settings)
    traffic = Traffic(
        oracle.policy.catalog,
        oracle.policy.sla,
        oracle.policy.calendar,
        config=TrafficConfig(seed=17, items_per_day=150, tasks_per_day=10, hostile_rate=0.05),
    )
    valid = list(traffic.messages(start, until=end))
    for message in valid:
        oracle.feed_message(message)
    truth = oracle.finish(end)
    t = stack.topics
    partitions = stack.settings.partitions
    first = valid[0].event
    assert first is not None
    real = orjson.loads(valid[0].value)
    item = real["item_id"]
    home = key_partition(item, partitions)
    past = format_instant(start + 60)
    big = b'{"event_id":"x"' + b"x" * (10 * 1024 * 1024) + b'"}'
    # (topic, key, value, partition) and the expected start of the dead-letter reason
    cases: list[tuple[tuple[str, bytes | None, bytes | None, int | None], str]] = [
        ((t.feedback, b"PA-1", b"\x00\xff garbage", None), "not valid JSON (UTF-8): "),
        (
            (t.feedback, b"PA-1", big, None),
            f"payload is {len(big)} bytes, over the 65536-byte limit (GOVPULSE_MAX_EVENT_BYTES)",
        ),
        ((t.tasks, b"NV-1", orjson.dumps({**real, "title": "t" * 100_000}), None), "payload is "),
        ((t.feedback, item.encode(), None, None), "message has no value (tombstone)"),
        (
            (t.feedback, b"PA-1", b'{"event_id":"e","item_id":"PA-1","type":"\xed\xa0\x80"}', None),
            "not valid JSON (UTF-8): ",
        ),
        ((t.feedback, b"PA-1", b"[" * 10_000 + b"]" * 10_000, None), "not valid JSON (UTF-8): "),
        (
            (t.feedback, b"PA-1", b'{"event_id":NaN,"item_id":Infinity}', None),
            "not valid JSON (UTF-8): ",
        ),
        (
            (
                t.feedback,
                item.encode(),
                orjson.dumps({**real, "event_id": "h-type", "occurred_at": 1e20}),
                None,
            ),
            "field 'occurred_at' must be a string, got a number",
        ),
        (
            (
                t.feedback,
                b"ZZ-1",
                orjson.dumps({"event_id": "h-o", "item_id": "ZZ-1", "type": "resolved", "occurred_at": past}),
                None,
            ),
            "'resolved' for unknown item ZZ-1: the first event of an item must be 'received'",
        ),
        (
            (
                t.feedback,
                b"ZZ-2",
                orjson.dumps(
                    {
                        "event_id": "h-u",
                        "item_id": "ZZ-2",
                        "type": "received",
                        "occurred_at": past,
                        "unit": "P-ATLANTIS",
                    }
                ),
                None,
            ),
            "'received' for item ZZ-2: unknown unit 'P-ATLANTIS' (not in the unit catalog)",
        ),
        (
            (
                t.feedback,
                item.encode(),
                orjson.dumps({**real, "event_id": "h-f", "occurred_at": format_instant(end + 3 * 86400)}),
                None,
            ),
            "occurred_at is 72.0 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)",
        ),
        (
            (t.feedback, b"PA-NOT-THIS-ONE", valid[0].value, None),
            "message key b'PA-NOT-THIS-ONE' differs from item_id",
        ),
        (
            (t.feedback, item.encode(), orjson.dumps({**real, "event_id": "h-again"}), None),
            f"'received' on item {item}: the item was already received",
        ),
        # Another partition than the item's: rejected whether or not the item was seen yet.
        (
            (
                t.feedback,
                item.encode(),
                orjson.dumps({**real, "event_id": "h-moved", "type": "progress"}),
                (home + 1) % partitions,
            ),
            "",
        ),
        (
            (t.tasks, b"K" * (2 * 1024 * 1024), orjson.dumps({**real, "event_id": "h-key"}), None),
            "message key b'KKKK",
        ),
        # The alerts stage dead-letters through the same path.
        (
            (t.commands, b"fp", b"c" * (2 * 1024 * 1024), None),
            "command is 2097152 bytes, over the limit",
        ),
    ]
    hostile = [message for message, _ in cases]
    rng = random.Random(5)
    order: list[tuple[str, bytes | None, bytes | None, int | None]] = [
        (t.tasks if m.kind == TASK else t.feedback, m.key, m.value, None) for m in valid
    ]
    for bad in hostile:
        # After the first valid message: the hostile copies of its item come after it.
        order.insert(rng.randint(1, len(order)), bad)
    produce(stack, order)
    worker = stack.start_worker()

    def all_dead() -> list[Record] | None:
        records = stack.read(t.deadletter)
        return records if len(records) >= len(hostile) else None

    try:
        letters = wait_for(all_dead, timeout=60, what=f"{len(hostile)} dead letters")
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- worker log ---\n{stack.log(worker, lines=80)}")

    def kept(key: bytes | None, value: bytes | None) -> tuple[bytes, bytes, str | None, str | None]:
        """What the dead letter of (key, value) holds: both, or the start of oversized ones."""
        if len(value or b"") <= DEAD_LETTER_MAX_VALUE and len(key or b"") <= DEAD_LETTER_MAX_KEY:
            return key or b"", value or b"", None, None
        return (
            (key or b"")[:DEAD_LETTER_MAX_KEY],
            (value or b"")[:DEAD_LETTER_MAX_VALUE],
            f"value={len(value or b'')} key={len(key or b'')}",
            hashlib.sha256(value or b"").hexdigest(),
        )

    got = sorted(
        (*kept(r.key, r.value)[:2], r.header("govpulse.truncated"), r.header("govpulse.sha256"))
        for r in letters
    )
    assert got == sorted(kept(key, value) for _, key, value, _ in hostile)
    # Keyed by source topic: a dead letter naming another topic than its message's fails.
    reasons = {(h[0], kept(h[1], h[2])[:2]): reason for h, reason in cases}
    for letter in letters:
        reason = letter.header("govpulse.reason") or ""
        topic = letter.header("govpulse.source.topic") or ""
        assert reason.strip() and reason.startswith(
            reasons[(topic, (letter.key or b"", letter.value or b""))]
        ), reason
        assert letter.header("govpulse.stage") == ("alerts" if topic == t.commands else "items")
        assert letter.header("govpulse.source.partition") is not None
        assert letter.header("govpulse.source.offset") is not None
    wait_for(
        lambda: not diff(truth.counters, counters(stack)),
        timeout=60,
        interval=1.0,
        what="counters to equal the oracle of the valid messages",
    )
    assert worker.running, stack.log(worker)
