"""JSON encoding for values kept in memory for long (table records, caches).

``orjson.dumps`` returns a bytes object whose allocation keeps the capacity of its
output buffer: 1 KiB (orjson 3.10/3.11) or 4 KiB (3.12+) however short the JSON is.
That is harmless for a message sent and dropped, but the item table holds one value
per open item, and measured 10 KB per item with orjson 3.13 instead of a few hundred
bytes. :func:`dumps_kept` copies the output into an exactly sized bytes object.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps_kept(value: Any, *, option: int | None = None) -> bytes:
    """``orjson.dumps(value)`` in an exactly sized bytes object, for values kept long."""
    return bytes(memoryview(orjson.dumps(value, option=option)))
