"""The token bucket (domain.rates): tokens over injected time, costs, Retry-After."""

from __future__ import annotations

import pytest

from domain.rates import TokenBucket
from web import protocol


@pytest.mark.parametrize(
    ("takes", "expected"),
    [
        # (instant, cost) with rate 2/s and burst 4
        ([(0.0, 4.0), (0.0, 1.0)], [True, False]),
        ([(0.0, 3.0), (0.0, 2.0), (0.5, 2.0)], [True, False, True]),
        ([(0.0, 5.0)], [False]),  # more than the burst never passes
        ([(0.0, 4.0), (100.0, 4.0), (100.0, 1.0)], [True, True, False]),  # refill stops at the burst
    ],
)
def test_take_with_a_cost(takes: list[tuple[float, float]], expected: list[bool]) -> None:
    bucket = TokenBucket(rate=2.0, burst=4, now=0.0)

    assert [bucket.take(at, cost) for at, cost in takes] == expected


@pytest.mark.parametrize(
    ("rate", "burst", "spent", "cost", "seconds"),
    [
        (2.0, 4, 4, 1.0, 1),  # half a second, rounded up to whole seconds
        (0.1, 1, 1, 1.0, 10),
        (200.0, 200, 200, 1.0, 1),  # never 0: "Retry-After: 0" would invite a busy loop
        (1.0, 4, 4, 9.0, 4),  # a cost over the burst waits for a full bucket
    ],
)
def test_retry_after_is_the_whole_seconds_until_the_cost_is_available(
    rate: float, burst: int, spent: int, cost: float, seconds: int
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    assert bucket.take(0.0, float(spent))

    assert bucket.retry_after(0.0, cost) == seconds


def test_the_web_protocol_still_exports_the_same_class() -> None:
    assert protocol.TokenBucket is TokenBucket
