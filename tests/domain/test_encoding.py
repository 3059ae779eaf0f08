"""Values kept in tables must not carry orjson's output-buffer capacity with them."""

from __future__ import annotations

import tracemalloc

import orjson

from domain.encoding import dumps_kept

VALUE = {"item_id": "PA-2026-000001", "unit": "P-BEN-THANH", "due": 1796105941.3, "seq": 3}


def allocated_per_value(make: object) -> float:
    assert callable(make)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(dict(VALUE, n=i)) for i in range(2000)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == 2000
    return (after - before) / len(kept)


def test_kept_values_are_allocated_at_their_own_size() -> None:
    size = len(orjson.dumps(VALUE)) + 10
    # bytes header (33) + the JSON + the list slot; nothing like a 1–4 KiB buffer.
    assert allocated_per_value(dumps_kept) < size + 64


def test_kept_values_are_the_same_json() -> None:
    assert dumps_kept(VALUE) == orjson.dumps(VALUE)
    assert dumps_kept(VALUE, option=orjson.OPT_SORT_KEYS) == orjson.dumps(VALUE, option=orjson.OPT_SORT_KEYS)


def test_publisher_keeps_pending_queue_entries_at_their_own_size() -> None:
    """After a restart the publisher holds every open item's queue entry until Redis has
    them: with orjson's buffers that was 4 KiB per item (10 KB per item measured)."""
    from runtime.board import BoardStore
    from stream.publish import Publisher

    publisher = Publisher(BoardStore.__new__(BoardStore), worker_id="w")  # never flushed here

    def queue(value: dict[str, object]) -> int:
        publisher.queue("P-BEN-THANH", str(value["n"]), value)
        return 0

    per_value = allocated_per_value(queue)
    assert publisher.backlog == 2000
    # the pending dict's entry, its key tuple, the Change and the JSON bytes
    assert per_value < len(orjson.dumps(VALUE)) + 400
