"""Values kept in tables must not carry orjson's output-buffer capacity with them."""

from __future__ import annotations

import tracemalloc

import orjson

from stream.encoding import dumps_kept

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
