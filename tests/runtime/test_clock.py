"""The clocks: wall, accelerated (shared origin and speed), fixed and manual."""

from __future__ import annotations

import time

import pytest

from runtime.clock import AcceleratedClock, Clock, FixedClock, ManualClock, WallClock

START = 1_764_115_200.0  # 2025-11-26T07:00:00+07:00
ORIGIN = 1_800_000_000.0


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The machine's time, moved by the test: ``real_time[0] = …``."""
    now = [ORIGIN]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_wall_clock_reads_the_machine_time_at_speed_one(real_time: list[float]) -> None:
    clock = WallClock()

    assert (clock.now(), clock.speed, repr(clock)) == (ORIGIN, 1.0, "WallClock()")


@pytest.mark.parametrize(
    ("real_elapsed", "speed", "clock_elapsed"),
    [(0.0, 60.0, 0.0), (1.0, 60.0, 60.0), (30.0, 120.0, 3600.0), (0.5, 1.0, 0.5), (-2.0, 10.0, -20.0)],
)
def test_accelerated_clock_runs_speed_times_faster_from_its_origin(
    real_time: list[float], real_elapsed: float, speed: float, clock_elapsed: float
) -> None:
    clock = AcceleratedClock(start=START, origin=ORIGIN, speed=speed)
    real_time[0] = ORIGIN + real_elapsed

    assert clock.now() == START + clock_elapsed
    assert clock.speed == speed


def test_two_processes_with_the_same_origin_read_the_same_instant(real_time: list[float]) -> None:
    worker = AcceleratedClock(start=START, origin=ORIGIN, speed=60.0)
    web = AcceleratedClock(start=START, origin=ORIGIN, speed=60.0)
    real_time[0] = ORIGIN + 12.25

    assert worker.now() == web.now() == START + 735.0


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_accelerated_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError, match=rf"^speed must be > 0, got {speed}$"):
        AcceleratedClock(start=START, origin=ORIGIN, speed=speed)


def test_accelerated_clock_repr_names_start_origin_and_speed() -> None:
    assert repr(AcceleratedClock(start=1.0, origin=2.0, speed=3.0)) == (
        "AcceleratedClock(start=1.0, origin=2.0, speed=3.0)"
    )


def test_fixed_clock_always_reads_the_same_instant(real_time: list[float]) -> None:
    clock = FixedClock(START)
    first = clock.now()
    real_time[0] += 3600

    assert (first, clock.now(), clock.speed, repr(clock)) == (START, START, 0.0, f"FixedClock({START})")


def test_manual_clock_moves_only_by_hand() -> None:
    clock = ManualClock(START)

    assert clock.now() == START
    assert clock.advance(90.5) == START + 90.5
    assert clock.now() == START + 90.5
    clock.set(START - 10)  # backwards too
    assert (clock.now(), clock.speed, repr(clock)) == (START - 10, 1.0, f"ManualClock({START - 10})")
    assert ManualClock().now() == 0.0


@pytest.mark.parametrize(
    "clock",
    [WallClock(), AcceleratedClock(start=START, origin=ORIGIN, speed=2.0), FixedClock(START), ManualClock()],
    ids=repr,
)
def test_every_clock_is_a_clock(clock: Clock) -> None:
    assert isinstance(clock.now(), float)
    assert isinstance(clock.speed, float)
