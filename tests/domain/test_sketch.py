"""The latency sketch: 1% relative error, mergeable, compact, and exact to encode."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import orjson
import pytest
from ddsketch import DDSketch

from domain.sketch import MIN_VALUE, RELATIVE_ACCURACY, Sketch

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
N = 10_000


def uniform(rng: random.Random) -> list[float]:
    return [rng.uniform(MINUTE, 2 * HOUR) for _ in range(N)]


def lognormal(rng: random.Random) -> list[float]:
    return [rng.lognormvariate(8.0, 1.5) for _ in range(N)]


def bimodal(rng: random.Random) -> list[float]:
    # Most items handled in minutes, the rest after days: the p90 falls in the second mode.
    return [
        rng.gauss(10 * MINUTE, MINUTE) if rng.random() < 0.7 else rng.gauss(5 * DAY, HOUR) for _ in range(N)
    ]


def constant(rng: random.Random) -> list[float]:
    return [HOUR] * 1000


def seconds_to_months(rng: random.Random) -> list[float]:
    return [math.exp(rng.uniform(0.0, math.log(90 * DAY))) for _ in range(N)]


DISTRIBUTIONS: dict[str, Callable[[random.Random], list[float]]] = {
    "uniform": uniform,
    "lognormal": lognormal,
    "bimodal": bimodal,
    "constant": constant,
    "seconds_to_months": seconds_to_months,
}


def values_of(name: str, seed: int = 7) -> list[float]:
    return DISTRIBUTIONS[name](random.Random(seed))


def sketch_of(values: list[float]) -> Sketch:
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    return sketch


def exact_quantile(values: list[float], q: float) -> float:
    """The lower quantile: the value at rank ``floor(q * (n - 1))`` of the sorted values."""
    return sorted(values)[math.floor(q * (len(values) - 1))]


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99, 0.0, 1.0])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_quantile_is_within_one_percent_of_the_exact_value(name: str, q: float) -> None:
    values = values_of(name)
    exact = exact_quantile(values, q)
    estimate = sketch_of(values).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact


@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("name", ["lognormal", "bimodal", "seconds_to_months"])
def test_quantile_equals_the_ddsketch_library_to_the_bin(name: str, q: float) -> None:
    values = values_of(name, seed=11)
    library = DDSketch(RELATIVE_ACCURACY)
    for value in values:
        library.add(value)
    assert sketch_of(values).quantile(q) == library.get_quantile_value(q)


@pytest.mark.parametrize(
    ("left", "right"),
    [("lognormal", "bimodal"), ("uniform", "seconds_to_months"), ("constant", "constant")],
)
def test_merge_equals_the_sketch_of_the_union(left: str, right: str) -> None:
    first, second = values_of(left, seed=1), values_of(right, seed=2) + [0.0] * 50
    merged = sketch_of(first)
    merged.merge(sketch_of(second))
    union = sketch_of(first + second)
    assert merged == union
    assert (merged.count, merged.zeros) == (union.count, union.zeros) == (len(first) + len(second), 50)
    for q in (0.5, 0.9, 0.99):
        assert merged.quantile(q) == union.quantile(q)


def test_merge_with_an_empty_sketch_changes_nothing_and_leaves_the_other_intact() -> None:
    values = values_of("lognormal")
    sketch, empty = sketch_of(values), Sketch()
    sketch.merge(empty)
    assert sketch == sketch_of(values) and sketch.count == N
    empty.merge(sketch)
    assert empty == sketch and empty.count == N
    assert sketch.count == N  # merging from it did not move its values


@pytest.mark.parametrize(
    "values",
    [[], [0.0, 0.0], [-5.0, 1.0, 1.0, 100.0], values_of("seconds_to_months")],
    ids=["empty", "zeros_only", "mixed", "seconds_to_months"],
)
def test_encode_decode_roundtrip_is_exact(values: list[float]) -> None:
    sketch = sketch_of(values)
    decoded = Sketch.from_json(orjson.loads(orjson.dumps(sketch.to_json())))
    assert decoded == sketch
    assert (decoded.count, decoded.zeros, decoded.bins) == (sketch.count, sketch.zeros, sketch.bins)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert decoded.quantile(q) == sketch.quantile(q)


def test_encoding_is_zeros_then_ascending_bin_count_pairs() -> None:
    # Bin keys of the ddsketch LogarithmicMapping at 1%: 1.0 -> 0, 100.0 -> 231.
    assert sketch_of([100.0, 0.0, 1.0, 1.0]).to_json() == [1, 0, 2, 231, 1]


def test_encoding_of_ten_thousand_lognormal_latencies_is_about_three_kilobytes() -> None:
    # Measured: 2,992 bytes (452 occupied bins, a few bytes per bin).
    encoded = orjson.dumps(sketch_of(values_of("lognormal")).to_json())
    assert len(encoded) <= 3_200


def test_encoded_size_follows_the_spread_of_values_not_their_count() -> None:
    # Ten times the values (the tails reach a little further): measured 3,042 -> 4,040 bytes.
    rng = random.Random(3)
    ten_thousand = [rng.lognormvariate(8.0, 1.5) for _ in range(N)]
    hundred_thousand = ten_thousand + [rng.lognormvariate(8.0, 1.5) for _ in range(9 * N)]
    small = len(orjson.dumps(sketch_of(ten_thousand).to_json()))
    large = len(orjson.dumps(sketch_of(hundred_thousand).to_json()))
    assert large <= 1.5 * small
    assert large <= 4_500


@pytest.mark.parametrize("q", [0.0, 0.5, 0.99, 1.0])
def test_empty_sketch_has_no_quantiles(q: float) -> None:
    assert Sketch().quantile(q) is None


@pytest.mark.parametrize("data", [None, []])
def test_decoding_nothing_gives_an_empty_sketch(data: list[int] | None) -> None:
    sketch = Sketch.from_json(data)
    assert (sketch.count, sketch.zeros, sketch.bins) == (0, 0, {})
    assert sketch == Sketch()
    assert sketch.to_json() == [0]
    assert repr(sketch) == "Sketch(count=0, p50=None)"


@pytest.mark.parametrize("value", [-1.0, -1e9, float("nan"), 0.0, MIN_VALUE / 2, 0.000999])
def test_negative_nan_and_tiny_values_count_as_zero(value: float) -> None:
    sketch = Sketch()
    sketch.add(value)
    assert (sketch.count, sketch.zeros, sketch.bins) == (1, 1, {})
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(1.0) == 0.0


def test_min_value_itself_is_binned_not_zero() -> None:
    sketch = Sketch()
    sketch.add(MIN_VALUE)
    assert (sketch.count, sketch.zeros, len(sketch.bins)) == (1, 0, 1)
    estimate = sketch.quantile(0.5)
    assert estimate is not None and abs(estimate - MIN_VALUE) <= RELATIVE_ACCURACY * MIN_VALUE


@pytest.mark.parametrize(
    ("q", "expected_zero"),
    [(0.0, True), (0.29, True), (0.3, True), (0.31, False), (1.0, False)],
)
def test_zeros_rank_below_every_binned_value(q: float, expected_zero: bool) -> None:
    # 30 zeros then 70 values of 100: ranks 0..29 are zero (rank = floor(q * 99)).
    sketch = sketch_of([0.0] * 30 + [100.0] * 70)
    estimate = sketch.quantile(q)
    assert estimate is not None
    if expected_zero:
        assert estimate == 0.0
    else:
        assert abs(estimate - 100.0) <= RELATIVE_ACCURACY * 100.0


def test_sketches_compare_by_content_only() -> None:
    assert sketch_of([1.0, 2.0]) == sketch_of([2.0, 1.0])
    assert sketch_of([1.0, 2.0]) != sketch_of([1.0, 3.0])
    assert sketch_of([0.0]) != Sketch()
    assert Sketch() != [0]


@pytest.mark.parametrize(
    ("values", "mean"),
    [([], None), ([0.0, 0.0], 0.0), ([10.0, 20.0, 30.0], 20.0), ([3600.0] * 5 + [0.0] * 5, 1800.0)],
)
def test_mean_is_within_one_percent(values: list[float], mean: float | None) -> None:
    sketch = Sketch()
    for value in values:
        sketch.add(value)

    result = sketch.mean()

    assert result == (None if mean is None else pytest.approx(mean, rel=0.01))
